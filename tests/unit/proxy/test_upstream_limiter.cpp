// The cross-worker cap on concurrent upstream requests (upstream.max_connections).
#define BOOST_TEST_MODULE proxy_upstream_limiter
#include <boost/test/unit_test.hpp>

#include <thread>
#include <vector>

#include "proxy/intrusive_list.hpp"
#include "proxy/upstream_pool.hpp"

using namespace portico::proxy;

BOOST_AUTO_TEST_CASE(unlimited_when_zero) {
    UpstreamLimiter limiter;
    for (int i = 0; i < 1000; ++i) BOOST_TEST(limiter.try_acquire(0));
    BOOST_TEST(limiter.in_use() == 0);
}

BOOST_AUTO_TEST_CASE(cap_is_exact_and_release_wakes_waiters) {
    UpstreamLimiter limiter;
    int woken = 0;
    int id = limiter.add_waker([&] { ++woken; });
    BOOST_TEST(limiter.try_acquire(2));
    BOOST_TEST(limiter.try_acquire(2));
    BOOST_TEST(!limiter.try_acquire(2));
    limiter.release(2);
    BOOST_TEST(woken == 0);  // nobody waiting: no wake-ups
    limiter.waiting_changed(+1);
    limiter.release(2);
    BOOST_TEST(woken == 1);
    limiter.remove_waker(id);
    BOOST_TEST(limiter.try_acquire(2));
    limiter.release(2);
    BOOST_TEST(woken == 1);  // removed wakers are never called
}

BOOST_AUTO_TEST_CASE(cap_holds_across_threads) {
    UpstreamLimiter limiter;
    constexpr int kMax = 3;
    std::atomic<int> peak{0}, current{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < 20000; ++i) {
                if (!limiter.try_acquire(kMax)) continue;
                int now = ++current;
                int seen = peak.load();
                while (now > seen && !peak.compare_exchange_weak(seen, now)) {
                }
                --current;
                limiter.release(kMax);
            }
        });
    }
    for (auto& t : threads) t.join();
    BOOST_TEST(peak.load() <= kMax);
    BOOST_TEST(limiter.in_use() == 0);
}

namespace {
struct Item {
    int value;
    ListHook hook;
};
}  // namespace

BOOST_AUTO_TEST_CASE(intrusive_list_moves_without_allocating) {
    Item a{1, {}}, b{2, {}}, c{3, {}};
    IntrusiveList<Item, &Item::hook> list;
    list.push_back(&a);
    list.push_back(&b);
    list.push_front(&c);
    BOOST_TEST(list.size() == 3u);
    BOOST_TEST(list.front()->value == 3);
    BOOST_TEST(list.back()->value == 2);
    list.remove(&a);
    list.remove(&a);  // idempotent
    BOOST_TEST(list.size() == 2u);
    int sum = 0;
    list.for_each([&](Item* item) {
        sum += item->value;
        list.remove(item);  // removing the visited item is allowed
    });
    BOOST_TEST(sum == 5);
    BOOST_TEST(list.empty());
    BOOST_TEST(!a.hook.linked());
}
