// Size-bounded storage: a small map evicts from the LRU's old end while touched entries stay, and
// a map that cannot be freed (a pinned snapshot) drops puts without ever stopping the writer.
#define BOOST_TEST_MODULE cache_store_eviction
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <string>

#include "test_store_fixture.hpp"

using namespace portico::cache;
using namespace portico::cache::test;

namespace {
constexpr uint64_t kMap = 1 << 20;
const std::string kBody(20 * 1024, 'e');

bool present(const Store& store, const std::string& primary) {
    return store.snapshot().find(primary).kind == Lookup::Kind::entry;
}
}  // namespace

BOOST_AUTO_TEST_CASE(a_small_map_evicts_untouched_old_entries_and_keeps_a_touched_one) {
    TempDir dir;
    auto store = open_store(dir.path, kMap);
    Writer writer(*store);
    std::atomic<int> failures{0};
    auto count = [&](bool ok) { failures += !ok; };
    writer.put(entry("http://h/hot", kBody, {"hot"}), count);
    for (int i = 0; i < 9; ++i) writer.put(entry("http://h/cold/" + std::to_string(i), kBody, {"cold"}), count);
    writer.flush();
    uint64_t max_entries = 0;
    for (int i = 0; i < 200; ++i) {
        writer.put(entry("http://h/e/" + std::to_string(i), kBody, {"t" + std::to_string(i % 5)}), count);
        if (i % 5 != 4) continue;
        // What a worker does on each hit of the hot entry.
        writer.flush();
        Snapshot snap = store->snapshot();
        Lookup hot = snap.find("http://h/hot");
        if (hot.kind != Lookup::Kind::entry) {
            StoreStats st = store->stats();
            BOOST_TEST_MESSAGE("at " << i << " entries " << st.entries << " evictions " << st.evictions << " map_full "
                                     << st.map_full << " used " << st.used_bytes << " touches " << st.touches);
        }
        BOOST_REQUIRE((hot.kind == Lookup::Kind::entry));
        if (hot.entry.wants_touch) writer.touch(hot.entry.object_key);
        max_entries = std::max(max_entries, store->stats().entries);
    }
    writer.flush();
    StoreStats stats = store->stats();
    BOOST_TEST_MESSAGE("entries " << stats.entries << " (max " << max_entries << "), evictions " << stats.evictions
                                  << ", touches " << stats.touches << ", used " << stats.used_bytes << " of "
                                  << stats.map_bytes << ", map_full " << stats.map_full);
    BOOST_TEST(failures == 0);
    BOOST_TEST(stats.put_failures == 0u);
    BOOST_TEST(stats.puts == 210u);
    BOOST_TEST(stats.evictions > 100u);
    BOOST_TEST(stats.entries + stats.evictions == 210u);
    BOOST_TEST(max_entries < 50u);  // 1 MiB holds about 40 entries of 20 KiB
    BOOST_TEST(stats.used_bytes <= stats.map_bytes);
    BOOST_TEST(stats.touches > 0u);
    BOOST_TEST(present(*store, "http://h/hot"));
    for (int i = 0; i < 9; ++i) BOOST_TEST(!present(*store, "http://h/cold/" + std::to_string(i)));
    BOOST_TEST(present(*store, "http://h/e/199"));
    BOOST_TEST(!present(*store, "http://h/e/0"));
    // Evicted entries left no tag rows behind: purging counts only what is there.
    uint64_t left = stats.entries;
    uint64_t purged = writer.purge_tag_wait("hot");
    for (int t = 0; t < 5; ++t) purged += writer.purge_tag_wait("t" + std::to_string(t));
    BOOST_TEST(purged == left);
    BOOST_TEST(store->stats().entries == 0u);
}

BOOST_AUTO_TEST_CASE(evicting_the_last_variant_drops_its_marker) {
    TempDir dir;
    auto store = open_store(dir.path, kMap);
    Writer writer(*store);
    writer.put(entry("http://h/v", kBody, {}, "accept-encoding=gzip\n", "Accept-Encoding"));
    for (int i = 0; i < 100; ++i) writer.put(entry("http://h/e/" + std::to_string(i), kBody));
    writer.flush();
    BOOST_TEST((store->snapshot().find("http://h/v").kind == Lookup::Kind::none));
}

BOOST_AUTO_TEST_CASE(a_map_that_cannot_be_freed_drops_puts_and_the_writer_goes_on) {
    TempDir dir;
    LogLines logs;
    auto store = open_store(dir.path, kMap, logs.sink());
    Writer writer(*store);
    for (int i = 0; i < 20; ++i) writer.put(entry("http://h/a/" + std::to_string(i), kBody));
    writer.flush();
    // A snapshot held for a long time pins every page it sees: evicting frees nothing reusable.
    Snapshot pin = store->snapshot();
    std::atomic<int> stored{0}, dropped{0};
    for (int i = 0; i < 100; ++i)
        writer.put(entry("http://h/b/" + std::to_string(i), kBody), [&](bool ok) { (ok ? stored : dropped)++; });
    writer.flush();
    StoreStats stats = store->stats();
    BOOST_TEST_MESSAGE("while pinned: stored " << stored << ", dropped " << dropped << ", map_full " << stats.map_full
                                               << ", evictions " << stats.evictions);
    BOOST_TEST(dropped > 0);
    BOOST_TEST(stats.map_full > 0u);
    BOOST_TEST(stats.put_failures == static_cast<uint64_t>(dropped.load()));
    BOOST_TEST(pin.find("http://h/a/0").entry.body.size() == kBody.size());  // the pinned view is intact
    pin.release();
    std::atomic<int> after{0};
    for (int i = 0; i < 50; ++i)
        writer.put(entry("http://h/c/" + std::to_string(i), kBody), [&](bool ok) { after += ok; });
    writer.flush();
    BOOST_TEST(after == 50);
    for (auto& line : logs.lines) BOOST_TEST_MESSAGE("log: " << line);
    BOOST_TEST(present(*store, "http://h/c/49"));
}
