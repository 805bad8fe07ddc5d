// The open-file cache: hits while an opening is younger than the validity period, expiry after it
// (the next request opens again), least-recently-used eviction at capacity, and an entry evicted
// or replaced while a response still holds it staying intact for that response.
#define BOOST_TEST_MODULE proxy_open_file_cache
#include <boost/test/unit_test.hpp>

#include "proxy/open_file_cache.hpp"

using namespace portico::proxy;
using Lookup = OpenFileCache::Lookup;

namespace {

OpenFilePtr entry(std::string etag) {
    auto f = std::make_shared<OpenFile>();
    f->outcome = OpenOutcome::ok;
    f->etag = std::move(etag);
    return f;
}

constexpr uint64_t kValid = 1000;

}  // namespace

BOOST_AUTO_TEST_CASE(hit_within_the_validity_period_then_expired) {
    OpenFileCache cache(4, kValid);
    Lookup how{};
    BOOST_TEST(!cache.find("a", 0, how));
    BOOST_TEST((how == Lookup::miss));
    cache.insert("a", entry("1"), 100);
    OpenFilePtr found = cache.find("a", 100 + kValid - 1, how);
    BOOST_TEST((how == Lookup::hit));
    BOOST_TEST(found->etag == "1");
    // At exactly the validity period the opening is no longer trusted, and it is dropped.
    BOOST_TEST(!cache.find("a", 100 + kValid, how));
    BOOST_TEST((how == Lookup::expired));
    BOOST_TEST(cache.size() == 0u);
    BOOST_TEST(!cache.find("a", 100 + kValid, how));
    BOOST_TEST((how == Lookup::miss));
}

BOOST_AUTO_TEST_CASE(a_hit_does_not_extend_the_validity) {
    OpenFileCache cache(4, kValid);
    Lookup how{};
    cache.insert("a", entry("1"), 0);
    for (uint64_t t = 0; t < kValid; t += 100) BOOST_TEST(cache.find("a", t, how));
    BOOST_TEST(!cache.find("a", kValid, how));  // revalidated however hot the file is
}

BOOST_AUTO_TEST_CASE(least_recently_used_is_evicted_at_capacity) {
    OpenFileCache cache(3, kValid);
    Lookup how{};
    cache.insert("a", entry("a"), 0);
    cache.insert("b", entry("b"), 0);
    cache.insert("c", entry("c"), 0);
    BOOST_TEST(cache.find("a", 1, how));  // a is now the most recently used
    cache.insert("d", entry("d"), 2);       // b goes
    BOOST_TEST(cache.size() == 3u);
    BOOST_TEST(cache.evictions() == 1u);
    BOOST_TEST(!cache.find("b", 3, how));
    BOOST_TEST((how == Lookup::miss));
    BOOST_TEST(cache.find("a", 3, how));
    BOOST_TEST(cache.find("c", 3, how));
    BOOST_TEST(cache.find("d", 3, how));
}

BOOST_AUTO_TEST_CASE(insert_replaces_and_restarts_the_period) {
    OpenFileCache cache(2, kValid);
    Lookup how{};
    cache.insert("a", entry("old"), 0);
    cache.insert("a", entry("new"), 500);
    BOOST_TEST(cache.size() == 1u);
    OpenFilePtr found = cache.find("a", 1400, how);
    BOOST_TEST_REQUIRE(found);
    BOOST_TEST(found->etag == "new");
}

BOOST_AUTO_TEST_CASE(a_held_entry_outlives_its_eviction) {
    OpenFileCache cache(1, kValid);
    Lookup how{};
    cache.insert("a", entry("a"), 0);
    OpenFilePtr sending = cache.find("a", 1, how);
    cache.insert("b", entry("b"), 2);  // evicts a while a response still sends it
    BOOST_TEST(!cache.find("a", 3, how));
    BOOST_TEST(sending->etag == "a");
    BOOST_TEST(sending.use_count() == 1);  // the response's reference is the last one
}

BOOST_AUTO_TEST_CASE(capacity_zero_holds_nothing) {
    OpenFileCache cache(0, kValid);
    Lookup how{};
    cache.insert("a", entry("a"), 0);
    BOOST_TEST(!cache.find("a", 1, how));
    BOOST_TEST(cache.size() == 0u);
}
