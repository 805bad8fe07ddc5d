// Token-bucket arithmetic with an injected clock (burst, refill, fractional rates, the clock edge
// cases) and the shared table: keys and routes kept apart, a fixed size whatever the number of
// clients, the least recently used key replaced first, and exact counts under threads.
#define BOOST_TEST_MODULE proxy_rate_limiter
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "proxy/rate_limiter.hpp"

using namespace portico::proxy;

namespace {
constexpr uint64_t kSecond = 1'000'000'000;
constexpr uint64_t kT0 = 1000 * kSecond;
}  // namespace

BOOST_AUTO_TEST_CASE(a_full_bucket_allows_the_burst_then_refuses) {
    BucketLimits limits{2, 5};  // 2/s, burst 5
    TokenBucket b = full_bucket(limits, kT0);
    for (uint64_t i = 0; i < 5; ++i) {
        BucketVerdict v = take_token(b, limits, kT0);
        BOOST_TEST(v.allowed);
        BOOST_TEST(v.remaining == 4 - i);
    }
    BucketVerdict denied = take_token(b, limits, kT0);
    BOOST_TEST(!denied.allowed);
    BOOST_TEST(denied.remaining == 0u);
    BOOST_TEST(denied.retry_after_s == 1u);  // one token back in 0.5 s: rounded up to whole seconds
    BOOST_TEST(denied.reset_s == 3u);        // 5 tokens at 2/s: 2.5 s, rounded up
}

BOOST_AUTO_TEST_CASE(refill_is_proportional_and_capped_at_burst) {
    BucketLimits limits{10, 20};
    TokenBucket b{0, kT0};
    BOOST_TEST(!take_token(b, limits, kT0).allowed);
    // 0.25 s at 10/s: 2.5 tokens → two requests, the third refused.
    uint64_t t = kT0 + kSecond / 4;
    BOOST_TEST(take_token(b, limits, t).allowed);
    BOOST_TEST(take_token(b, limits, t).allowed);
    BucketVerdict third = take_token(b, limits, t);
    BOOST_TEST(!third.allowed);
    BOOST_TEST(b.tokens == 0.5, boost::test_tools::tolerance(1e-9));
    // An hour idle fills the bucket to burst, not to 36,000.
    t += 3600 * kSecond;
    BucketVerdict after = take_token(b, limits, t);
    BOOST_TEST(after.allowed);
    BOOST_TEST(after.remaining == 19u);
    BOOST_TEST(after.reset_s == 1u);  // one token short: 0.1 s, rounded up
}

BOOST_AUTO_TEST_CASE(fractional_and_slow_rates) {
    // 0.5/s (30/m): a refused request waits 2 s for its token.
    BucketLimits half{0.5, 1};
    TokenBucket b = full_bucket(half, kT0);
    BOOST_TEST(take_token(b, half, kT0).allowed);
    BucketVerdict v = take_token(b, half, kT0);
    BOOST_TEST(!v.allowed);
    BOOST_TEST(v.retry_after_s == 2u);
    BOOST_TEST(!take_token(b, half, kT0 + kSecond).allowed);  // half a token
    BOOST_TEST(take_token(b, half, kT0 + 2 * kSecond).allowed);
    // 1/h: an hour.
    BucketLimits hourly{1.0 / 3600, 1};
    TokenBucket h = full_bucket(hourly, kT0);
    BOOST_TEST(take_token(h, hourly, kT0).allowed);
    BOOST_TEST(take_token(h, hourly, kT0).retry_after_s == 3600u);
    // Retry-After never says 0, even a nanosecond before the token is back.
    BucketLimits fast{1000, 1};
    TokenBucket f{0.999999, kT0};
    BucketVerdict almost = take_token(f, fast, kT0);
    BOOST_TEST(!almost.allowed);
    BOOST_TEST(almost.retry_after_s == 1u);
}

BOOST_AUTO_TEST_CASE(clock_edge_cases) {
    BucketLimits limits{1, 3};
    TokenBucket b{1, kT0 + 10 * kSecond};
    // A reading earlier than the last update (another thread's clock read raced ours): no refill,
    // and the bucket's time does not go back (else the same seconds would refill twice).
    BOOST_TEST(take_token(b, limits, kT0).allowed);
    BOOST_TEST(b.updated_ns == kT0 + 10 * kSecond);
    BOOST_TEST(!take_token(b, limits, kT0 + 10 * kSecond).allowed);
    BOOST_TEST(take_token(b, limits, kT0 + 11 * kSecond).allowed);
    // The same instant twice refills nothing.
    BOOST_TEST(!take_token(b, limits, kT0 + 11 * kSecond).allowed);
    // A burst lowered by a reload caps what the bucket holds at once.
    TokenBucket big{100, kT0};
    BucketVerdict v = take_token(big, limits, kT0);
    BOOST_TEST(v.allowed);
    BOOST_TEST(v.remaining == 2u);
    // The clock at 0 and a bucket made at 0.
    TokenBucket zero = full_bucket(limits, 0);
    BOOST_TEST(take_token(zero, limits, 0).allowed);
}

BOOST_AUTO_TEST_CASE(keys_and_routes_have_their_own_buckets) {
    RateLimiter limiter(4096);
    BucketLimits limits{0.001, 2};
    BOOST_TEST(limiter.take("/api/*", RateLimiter::KeyKind::client_ip, "10.0.0.1", limits, kT0).allowed);
    BOOST_TEST(limiter.take("/api/*", RateLimiter::KeyKind::client_ip, "10.0.0.1", limits, kT0).allowed);
    BOOST_TEST(!limiter.take("/api/*", RateLimiter::KeyKind::client_ip, "10.0.0.1", limits, kT0).allowed);
    BOOST_TEST(limiter.take("/api/*", RateLimiter::KeyKind::client_ip, "10.0.0.2", limits, kT0).allowed, "another client");
    BOOST_TEST(limiter.take("/admin/*", RateLimiter::KeyKind::client_ip, "10.0.0.1", limits, kT0).allowed, "another route");
    // Route and key are not simply concatenated: ("/a", "b/c") is not ("/ab", "/c").
    BOOST_TEST(limiter.take("/a", RateLimiter::KeyKind::client_ip, "bc", limits, kT0).allowed);
    BOOST_TEST(limiter.take("/a", RateLimiter::KeyKind::client_ip, "bc", limits, kT0).allowed);
    BOOST_TEST(limiter.take("/ab", RateLimiter::KeyKind::client_ip, "c", limits, kT0).allowed);
    // A header value equal to an address is another key.
    BOOST_TEST(limiter.take("/api/*", RateLimiter::KeyKind::header, "10.0.0.1", limits, kT0).allowed);
    BOOST_TEST(limiter.tracked() == 6u);
}

BOOST_AUTO_TEST_CASE(a_million_clients_do_not_grow_the_table) {
    RateLimiter limiter(1 << 14);
    BOOST_TEST(limiter.capacity() <= size_t{1} << 14);
    BOOST_TEST(limiter.capacity() >= size_t{1} << 13);
    BucketLimits limits{1, 1};
    // A client that keeps coming back every so often stays known while a million others pass.
    std::string hot = "203.0.113.7";
    BOOST_TEST(limiter.take("/r", RateLimiter::KeyKind::client_ip, hot, limits, kT0).allowed);
    uint64_t t = kT0;
    int hot_refused = 0;
    for (int i = 0; i < 1'000'000; ++i) {
        t += 1000;  // 1 µs apart: the whole flood takes one second
        limiter.take("/r", RateLimiter::KeyKind::client_ip, "10." + std::to_string(i >> 16) + "." + std::to_string((i >> 8) & 255) + "." +
                               std::to_string(i & 255), limits, t);
        if (i % 64 == 0) hot_refused += !limiter.take("/r", RateLimiter::KeyKind::client_ip, hot, limits, t).allowed;
    }
    BOOST_TEST(limiter.tracked() <= limiter.capacity());
    // Its bucket was remembered (recently used, never replaced): almost every try was refused.
    BOOST_TEST(hot_refused >= 15600 - 2, hot_refused);
}

BOOST_AUTO_TEST_CASE(threads_share_one_bucket_exactly) {
    RateLimiter limiter;
    BucketLimits limits{1e-6, 1000};  // no refill to speak of during the test
    std::atomic<int> allowed{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < 2000; ++i) allowed += limiter.take("/r", RateLimiter::KeyKind::header, "one client", limits, kT0).allowed;
        });
    }
    for (auto& th : threads) th.join();
    BOOST_TEST(allowed.load() == 1000);
}
