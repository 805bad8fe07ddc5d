// The LMDB store and its writer: lookups with and without Vary, replacement, refresh, removal and
// purges with their counts, tags, persistence across reopen and kill -9, LRU touches, snapshots
// isolated from later commits, and the cost of a lookup.
#define BOOST_TEST_MODULE cache_store
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cache/lmdb_store.hpp"
#include "test_store_fixture.hpp"

using namespace portico::cache;
using namespace portico::cache::test;

namespace {

constexpr std::string_view kAE = "accept-encoding=gzip\n";
constexpr std::string_view kBR = "accept-encoding=br\n";

std::string object_key(std::string_view primary, std::string_view variant = {}) {
    std::string key(primary);
    key += '\0';
    key += variant;
    return key;
}

bool put_wait(Writer& writer, EntryToStore e) {
    std::promise<bool> stored;
    auto result = stored.get_future();
    writer.put(std::move(e), [&](bool ok) { stored.set_value(ok); });
    return result.get();
}

}  // namespace

BOOST_AUTO_TEST_CASE(open_creates_a_private_directory) {
    TempDir dir;
    std::string path = dir.sub("a/b/cache");
    auto store = open_store(path);
    struct stat st {};
    BOOST_REQUIRE(::stat(path.c_str(), &st) == 0);
    BOOST_TEST(S_ISDIR(st.st_mode));
    BOOST_TEST((st.st_mode & 0777) == 0700u);
    BOOST_TEST(store->stats().entries == 0u);
    BOOST_TEST(store->stats().map_bytes >= (64u << 20));
    BOOST_TEST((store->snapshot().find("http://h/none").kind == Lookup::Kind::none));
}

BOOST_AUTO_TEST_CASE(put_then_find_without_vary) {
    TempDir dir;
    auto store = open_store(dir.path);
    Writer writer(*store);
    BOOST_TEST(put_wait(writer, entry("http://h/a", "hello", {"t1", "t2"})));
    Snapshot snap = store->snapshot();
    BOOST_REQUIRE(snap);
    Lookup found = snap.find("http://h/a");
    BOOST_REQUIRE((found.kind == Lookup::Kind::entry));
    const EntryView& e = found.entry;
    BOOST_TEST(e.body == "hello");
    BOOST_TEST(e.status == 200);
    BOOST_TEST(e.head == "Content-Type: text/plain\r\nETag: \"v1\"\r\n");
    BOOST_TEST(e.facts.lifetime.count() == 60);
    BOOST_TEST(e.facts.stale_if_error.count() == 300);
    BOOST_TEST(e.facts.has_validator);
    BOOST_TEST((e.facts.response_time == kT0));
    BOOST_TEST((std::vector<std::string>(e.tags.begin(), e.tags.end()) == std::vector<std::string>{"t1", "t2"}));
    BOOST_TEST(e.object_key == object_key("http://h/a"));
    BOOST_TEST(!e.wants_touch);
    BOOST_TEST((snap.find("http://h/b").kind == Lookup::Kind::none));
    BOOST_TEST((snap.find("http://h/").kind == Lookup::Kind::none));
    BOOST_TEST(!snap.find_variant("http://h/a", kAE));
    StoreStats stats = store->stats();
    BOOST_TEST(stats.entries == 1u);
    BOOST_TEST(stats.bytes == e.size);
    BOOST_TEST(stats.puts == 1u);
}

BOOST_AUTO_TEST_CASE(put_with_vary_marker_then_variant) {
    TempDir dir;
    auto store = open_store(dir.path);
    Writer writer(*store);
    BOOST_TEST(put_wait(writer, entry("http://h/v", "gzipped", {"t"}, std::string(kAE), "Accept-Encoding")));
    BOOST_TEST(put_wait(writer, entry("http://h/v", "brotli", {"t"}, std::string(kBR), "accept-encoding")));
    Snapshot snap = store->snapshot();
    Lookup found = snap.find("http://h/v");
    BOOST_REQUIRE((found.kind == Lookup::Kind::vary));
    BOOST_TEST(found.vary_names == "accept-encoding");
    auto gz = snap.find_variant("http://h/v", kAE);
    auto br = snap.find_variant("http://h/v", kBR);
    BOOST_REQUIRE(gz);
    BOOST_REQUIRE(br);
    BOOST_TEST(gz->body == "gzipped");
    BOOST_TEST(br->body == "brotli");
    BOOST_TEST(gz->object_key == object_key("http://h/v", kAE));
    BOOST_TEST(!snap.find_variant("http://h/v", "accept-encoding=identity\n"));
    BOOST_TEST(store->stats().entries == 2u);  // the marker is not an entry
}

BOOST_AUTO_TEST_CASE(vary_names_normalised_and_vary_changes_drop_old_variants) {
    TempDir dir;
    auto store = open_store(dir.path);
    Writer writer(*store);
    BOOST_TEST(put_wait(writer, entry("http://h/v", "a", {}, "accept-encoding=gzip\norigin\n", "Origin, Accept-Encoding")));
    BOOST_TEST(put_wait(writer, entry("http://h/v", "b", {}, "accept-encoding=br\norigin\n", "accept-encoding,origin")));
    {
        Snapshot snap = store->snapshot();
        Lookup found = snap.find("http://h/v");
        BOOST_REQUIRE((found.kind == Lookup::Kind::vary));
        BOOST_TEST(found.vary_names == "accept-encoding, origin");
        BOOST_TEST(snap.find_variant("http://h/v", "accept-encoding=gzip\norigin\n").has_value());
        BOOST_TEST(snap.find_variant("http://h/v", "accept-encoding=br\norigin\n").has_value());
    }
    // Other Vary names: both old variants go.
    BOOST_TEST(put_wait(writer, entry("http://h/v", "c", {}, std::string(kAE), "Accept-Encoding")));
    {
        Snapshot snap = store->snapshot();
        BOOST_TEST(snap.find("http://h/v").vary_names == "accept-encoding");
        BOOST_TEST(!snap.find_variant("http://h/v", "accept-encoding=gzip\norigin\n"));
        BOOST_TEST(snap.find_variant("http://h/v", kAE)->body == "c");
        BOOST_TEST(store->stats().entries == 1u);
    }
    // No Vary any more: marker and variants go.
    BOOST_TEST(put_wait(writer, entry("http://h/v", "plain")));
    BOOST_TEST(body_of(*store, "http://h/v") == "plain");
    BOOST_TEST(!store->snapshot().find_variant("http://h/v", kAE));
    BOOST_TEST(store->stats().entries == 1u);
    // Vary again: the Vary-less entry goes.
    BOOST_TEST(put_wait(writer, entry("http://h/v", "again", {}, std::string(kBR), "Accept-Encoding")));
    BOOST_TEST((store->snapshot().find("http://h/v").kind == Lookup::Kind::vary));
    BOOST_TEST(store->stats().entries == 1u);
    // Inconsistent requests are refused.
    BOOST_TEST(!put_wait(writer, entry("http://h/w", "x", {}, std::string(kBR), "")));
    BOOST_TEST(!put_wait(writer, entry("http://h/w", "x", {}, "", "Accept-Encoding")));
    BOOST_TEST(!put_wait(writer, entry("http://h/w", "x", {}, "x\n", "*")));
    BOOST_TEST(store->stats().put_failures == 3u);
}

BOOST_AUTO_TEST_CASE(replace_keeps_one_entry) {
    TempDir dir;
    auto store = open_store(dir.path);
    Writer writer(*store);
    BOOST_TEST(put_wait(writer, entry("http://h/r", std::string(10000, 'a'))));
    BOOST_TEST(put_wait(writer, entry("http://h/r", "short")));
    BOOST_TEST(body_of(*store, "http://h/r") == "short");
    StoreStats stats = store->stats();
    BOOST_TEST(stats.entries == 1u);
    BOOST_TEST(stats.bytes == store->snapshot().find("http://h/r").entry.size);
}

BOOST_AUTO_TEST_CASE(refresh_rewrites_head_and_facts_and_keeps_body) {
    TempDir dir;
    auto store = open_store(dir.path);
    Writer writer(*store);
    BOOST_TEST(put_wait(writer, entry("http://h/r", "the body", {"tag"}, std::string(kAE), "Accept-Encoding")));
    EntryFacts facts = sample_facts();
    facts.response_time = kT0 + Seconds{100};
    facts.lifetime = Seconds{120};
    std::promise<bool> refreshed;
    writer.refresh("http://h/r", std::string(kAE), facts, 200, "ETag: \"v2\"\r\n", [&](bool ok) { refreshed.set_value(ok); });
    BOOST_TEST(refreshed.get_future().get());
    auto e = store->snapshot().find_variant("http://h/r", kAE);
    BOOST_REQUIRE(e);
    BOOST_TEST(e->body == "the body");
    BOOST_TEST(e->head == "ETag: \"v2\"\r\n");
    BOOST_TEST(e->facts.lifetime.count() == 120);
    BOOST_TEST((e->facts.response_time == kT0 + Seconds{100}));
    BOOST_TEST((std::vector<std::string>(e->tags.begin(), e->tags.end()) == std::vector<std::string>{"tag"}));
    BOOST_TEST(store->stats().bytes == e->size);
    BOOST_TEST(store->stats().refreshes == 1u);
    // The tag still finds it.
    BOOST_TEST(writer.purge_tag_wait("tag") == 1u);

    std::promise<bool> missing;
    writer.refresh("http://h/gone", "", facts, 200, "", [&](bool ok) { missing.set_value(ok); });
    BOOST_TEST(!missing.get_future().get());
}

BOOST_AUTO_TEST_CASE(remove_and_purges_count_entries) {
    TempDir dir;
    auto store = open_store(dir.path);
    Writer writer(*store);
    std::string long_path = "http://h/a/" + std::string(1000, 'x');
    for (auto e : {entry("http://h/a/1", "1", {"red"}), entry("http://h/a/2", "2", {"red", "blue"}),
                   entry("http://h/b/1", "3", {"blue"}), entry(long_path, "4", {"red"}),
                   entry("http://h/a/v", "5", {"blue"}, std::string(kAE), "Accept-Encoding"),
                   entry("http://h/a/v", "6", {}, std::string(kBR), "Accept-Encoding"),
                   entry("http://h/c", "7")})
        writer.put(std::move(e));
    writer.flush();
    BOOST_TEST(store->stats().entries == 7u);

    std::promise<uint64_t> removed;
    writer.remove("http://h/a/v", [&](uint64_t n) { removed.set_value(n); });
    BOOST_TEST(removed.get_future().get() == 2u);
    BOOST_TEST((store->snapshot().find("http://h/a/v").kind == Lookup::Kind::none));
    BOOST_TEST(writer.purge_key_wait("http://h/c") == 1u);
    BOOST_TEST(writer.purge_key_wait("http://h/c") == 0u);
    BOOST_TEST(writer.purge_prefix_wait("/a/") == 3u);  // a/1, a/2 and the long one
    BOOST_TEST(body_of(*store, "http://h/b/1") == "3");
    BOOST_TEST(writer.purge_tag_wait("blue") == 1u);
    BOOST_TEST(writer.purge_tag_wait("red") == 0u);
    BOOST_TEST(store->stats().entries == 0u);
    BOOST_TEST(store->stats().bytes == 0u);
    BOOST_TEST(store->stats().purged == 7u);

    for (int i = 0; i < 5; ++i) writer.put(entry("http://h/" + std::to_string(i), "x"));
    std::promise<uint64_t> cleared;
    writer.clear([&](uint64_t n) { cleared.set_value(n); });
    BOOST_TEST(cleared.get_future().get() == 5u);
    BOOST_TEST(store->stats().entries == 0u);
    BOOST_TEST(body_of(*store, "http://h/1") == "<none>");
    BOOST_TEST(writer.purge_tag_wait("not a valid tag") == 0u);
}

BOOST_AUTO_TEST_CASE(tags_of_replaced_entries_do_not_linger) {
    TempDir dir;
    auto store = open_store(dir.path);
    Writer writer(*store);
    BOOST_TEST(put_wait(writer, entry("http://h/x", "old", {"t1", "shared"})));
    BOOST_TEST(put_wait(writer, entry("http://h/x", "new", {"t2", "shared", "t2", "bad tag"})));
    BOOST_TEST(writer.purge_tag_wait("t1") == 0u);
    BOOST_TEST(body_of(*store, "http://h/x") == "new");
    auto tags = store->snapshot().find("http://h/x").entry.tags;
    BOOST_TEST((std::vector<std::string>(tags.begin(), tags.end()) == std::vector<std::string>{"t2", "shared"}));
    BOOST_TEST(writer.purge_tag_wait("shared") == 1u);
    BOOST_TEST(writer.purge_tag_wait("t2") == 0u);
}

BOOST_AUTO_TEST_CASE(long_keys_are_hashed_and_checked) {
    TempDir dir;
    auto store = open_store(dir.path);
    Writer writer(*store);
    std::string base = "http://h/" + std::string(3000, 'p');
    std::string variant(1000, 'v');
    BOOST_TEST(put_wait(writer, entry(base + "1", "one")));
    BOOST_TEST(put_wait(writer, entry(base + "2", "two")));
    BOOST_TEST(put_wait(writer, entry(base + "3", "three", {"t"}, variant + "\n", "X-Long")));
    BOOST_TEST(put_wait(writer, entry(base + "3", "four", {"t"}, variant + "!\n", "X-Long")));
    BOOST_TEST(body_of(*store, base + "1") == "one");
    BOOST_TEST(body_of(*store, base + "2") == "two");
    Snapshot snap = store->snapshot();
    BOOST_TEST(snap.find_variant(base + "3", variant + "\n")->body == "three");
    BOOST_TEST(snap.find_variant(base + "3", variant + "!\n")->body == "four");
    BOOST_TEST(!snap.find_variant(base + "3", variant + "?\n"));
    BOOST_TEST(body_of(*store, base) == "<none>");
    lmdb::KeyBuffer key;
    lmdb::make_stored_key(key, base + "3", variant);
    BOOST_TEST(key.size <= lmdb::kMaxStoredKey);
}

BOOST_AUTO_TEST_CASE(entries_survive_reopen) {
    TempDir dir;
    {
        auto store = open_store(dir.path);
        Writer writer(*store);
        BOOST_TEST(put_wait(writer, entry("http://h/p", "persisted", {"t"})));
        BOOST_TEST(put_wait(writer, entry("http://h/q", "too")));
    }
    LogLines logs;
    auto store = open_store(dir.path, 64ull << 20, logs.sink());
    BOOST_TEST(body_of(*store, "http://h/p") == "persisted");
    BOOST_TEST(store->stats().entries == 2u);
    BOOST_TEST(logs.lines.empty());
    Writer writer(*store);
    BOOST_TEST(put_wait(writer, entry("http://h/r", "after")));  // sequence numbers go on
    BOOST_TEST(writer.purge_tag_wait("t") == 1u);
    BOOST_TEST(store->stats().entries == 2u);
}

BOOST_AUTO_TEST_CASE(entries_survive_kill_9) {
    TempDir dir;
    pid_t child = ::fork();
    BOOST_REQUIRE(child >= 0);
    if (child == 0) {
        // No Boost.Test in here: open, store, commit, die without closing anything.
        StoreOptions options;
        options.path = dir.path;
        options.max_size = 64ull << 20;
        auto opened = Store::open(options);
        if (!opened.store) ::_exit(2);
        Writer writer(*opened.store);
        writer.put(entry("http://h/k", "committed before the kill"));
        writer.flush();
        Snapshot leaked = opened.store->snapshot();  // a reader slot left behind too
        leaked.find("http://h/k");
        ::kill(::getpid(), SIGKILL);
        ::_exit(3);
    }
    int status = 0;
    ::waitpid(child, &status, 0);
    BOOST_TEST(WIFSIGNALED(status));
    LogLines logs;
    auto store = open_store(dir.path, 64ull << 20, logs.sink());
    BOOST_TEST(body_of(*store, "http://h/k") == "committed before the kill");
    BOOST_TEST(logs.lines.empty());  // same boot: nothing moved aside
    Writer writer(*store);
    BOOST_TEST(put_wait(writer, entry("http://h/k2", "writable")));
}

BOOST_AUTO_TEST_CASE(a_file_at_the_path_is_moved_aside) {
    TempDir dir;
    std::string path = dir.sub("cache");
    { std::ofstream(path) << "not a directory"; }
    LogLines logs;
    auto store = open_store(path, 64ull << 20, logs.sink());
    BOOST_TEST(logs.contains("not a directory"));
    bool aside = false;
    for (auto& e : std::filesystem::directory_iterator(dir.path))
        aside |= e.path().filename().string().starts_with("cache.corrupt-");
    BOOST_TEST(aside);
    Writer writer(*store);
    BOOST_TEST(put_wait(writer, entry("http://h/a", "works")));
}

BOOST_AUTO_TEST_CASE(a_garbage_data_file_is_moved_aside) {
    TempDir dir;
    {
        std::ofstream out(dir.sub("data.mdb"), std::ios::binary);
        for (int i = 0; i < 100000; ++i) out.put(static_cast<char>(i * 7919));
    }
    { std::ofstream(dir.sub("lock.mdb")) << "garbage lock"; }
    LogLines logs;
    auto store = open_store(dir.path, 64ull << 20, logs.sink());
    BOOST_TEST(logs.contains("moved aside"));
    BOOST_TEST(store->stats().entries == 0u);
    bool aside = false;
    for (auto& e : std::filesystem::directory_iterator(dir.path))
        aside |= e.path().filename().string().starts_with("data.mdb.corrupt-");
    BOOST_TEST(aside);
    Writer writer(*store);
    BOOST_TEST(put_wait(writer, entry("http://h/a", "works")));
}

BOOST_AUTO_TEST_CASE(truncated_file_other_format_or_torn_after_reboot_start_empty) {
    TempDir dir;
    auto fill = [&] {
        auto store = open_store(dir.path);
        Writer writer(*store);
        for (int i = 0; i < 50; ++i) writer.put(entry("http://h/" + std::to_string(i), std::string(20000, 'b')));
        writer.flush();
    };
    // Raw LMDB access to rewrite one meta row, as another build or an unclean reboot would leave it.
    auto set_meta = [&](std::string_view name, std::string value) {
        MDB_env* env = nullptr;
        mdb_env_create(&env);
        mdb_env_set_maxdbs(env, 8);
        mdb_env_set_mapsize(env, 64ull << 20);
        BOOST_REQUIRE(mdb_env_open(env, dir.path.c_str(), 0, 0600) == 0);
        MDB_txn* txn = nullptr;
        mdb_txn_begin(env, nullptr, 0, &txn);
        MDB_dbi meta;
        mdb_dbi_open(txn, "meta", 0, &meta);
        MDB_val k = lmdb::to_val(name), v = lmdb::to_val(value);
        mdb_put(txn, meta, &k, &v, 0);
        BOOST_REQUIRE(mdb_txn_commit(txn) == 0);
        mdb_env_close(env);
    };
    auto count_aside = [&] {
        int n = 0;
        for (auto& e : std::filesystem::directory_iterator(dir.path))
            n += e.path().filename().string().starts_with("data.mdb.corrupt-");
        return n;
    };

    fill();
    std::filesystem::resize_file(dir.sub("data.mdb"), 64 * 1024);
    {
        LogLines logs;
        auto store = open_store(dir.path, 64ull << 20, logs.sink());
        BOOST_TEST(logs.contains("truncated"));
        BOOST_TEST(store->stats().entries == 0u);
        BOOST_TEST(body_of(*store, "http://h/1") == "<none>");
    }
    BOOST_TEST(count_aside() == 1);

    fill();
    std::string other(8, '\0');
    other[7] = 99;
    set_meta("format", other);
    {
        LogLines logs;
        auto store = open_store(dir.path, 64ull << 20, logs.sink());
        BOOST_TEST(logs.contains("cache format 99"));
        BOOST_TEST(store->stats().entries == 0u);
    }
    BOOST_TEST(count_aside() == 1);  // older copies are deleted, so failures cannot fill the disk

    fill();
    set_meta("clean", std::string(8, '\0'));
    set_meta("boot_id", "a-boot-before-this-one");
    {
        LogLines logs;
        auto store = open_store(dir.path, 64ull << 20, logs.sink());
        BOOST_TEST(logs.contains("restarted"));
        BOOST_TEST(store->stats().entries == 0u);
    }
    fill();
    set_meta("clean", std::string(8, '\0'));  // same boot: a kill -9, the file is fine
    {
        LogLines logs;
        auto store = open_store(dir.path, 64ull << 20, logs.sink());
        BOOST_TEST(logs.lines.empty());
        BOOST_TEST(store->stats().entries == 50u);
    }
}

BOOST_AUTO_TEST_CASE(a_snapshot_does_not_see_later_commits) {
    TempDir dir;
    auto store = open_store(dir.path);
    Writer writer(*store);
    BOOST_TEST(put_wait(writer, entry("http://h/s", "version 1")));
    Snapshot before = store->snapshot();
    std::string_view old_body = before.find("http://h/s").entry.body;
    BOOST_TEST(put_wait(writer, entry("http://h/s", "version 2 is longer")));
    BOOST_TEST(put_wait(writer, entry("http://h/new", "new")));
    BOOST_TEST(writer.purge_key_wait("http://h/s") == 1u);
    BOOST_TEST(put_wait(writer, entry("http://h/s", "version 3")));
    // The old snapshot and its views are untouched by the commits.
    BOOST_TEST(old_body == "version 1");
    BOOST_TEST(before.find("http://h/s").entry.body == "version 1");
    BOOST_TEST((before.find("http://h/new").kind == Lookup::Kind::none));
    BOOST_TEST(body_of(*store, "http://h/s") == "version 3");
    // Moved snapshots keep working; a moved-from one is empty.
    Snapshot moved = std::move(before);
    BOOST_TEST(!before);
    BOOST_TEST(moved.find("http://h/s").entry.body == "version 1");
    moved.release();
    BOOST_TEST((moved.find("http://h/s").kind == Lookup::Kind::none));
}

BOOST_AUTO_TEST_CASE(old_entries_want_a_touch_and_a_touch_makes_them_young) {
    TempDir dir;
    auto store = open_store(dir.path);
    Writer writer(*store);
    for (int i = 0; i < 8; ++i) writer.put(entry("http://h/" + std::to_string(i), "x"));
    writer.flush();
    Snapshot snap = store->snapshot();
    // Everything outside the youngest quarter wants a touch.
    for (int i = 0; i < 6; ++i) BOOST_TEST(snap.find("http://h/" + std::to_string(i)).entry.wants_touch, i);
    BOOST_TEST(!snap.find("http://h/6").entry.wants_touch);
    BOOST_TEST(!snap.find("http://h/7").entry.wants_touch);
    std::string key(snap.find("http://h/0").entry.object_key);
    snap.release();
    writer.touch(key);
    writer.touch(key);  // a second worker's touch of the same entry is skipped
    writer.flush();
    BOOST_TEST(store->stats().touches == 1u);
    snap = store->snapshot();
    BOOST_TEST(!snap.find("http://h/0").entry.wants_touch);
    BOOST_TEST(snap.find("http://h/0").entry.body == "x");
    writer.touch(object_key("http://h/absent"));
    writer.flush();
    BOOST_TEST(store->stats().touches == 1u);
}

BOOST_AUTO_TEST_CASE(too_large_entries_are_refused) {
    TempDir dir;
    auto store = open_store(dir.path);
    WriterOptions options;
    options.max_object_bytes = 1000;
    Writer writer(*store, options);
    BOOST_TEST(!put_wait(writer, entry("http://h/big", std::string(2000, 'x'))));
    BOOST_TEST(put_wait(writer, entry("http://h/small", std::string(500, 'x'))));
    StoreStats stats = store->stats();
    BOOST_TEST(stats.too_large == 1u);
    BOOST_TEST(stats.put_failures == 1u);
    BOOST_TEST(stats.puts == 1u);
    BOOST_TEST(body_of(*store, "http://h/big") == "<none>");
}

BOOST_AUTO_TEST_CASE(callbacks_run_on_the_writer_thread_and_may_not_block) {
    TempDir dir;
    LogLines logs;
    auto store = open_store(dir.path, 64ull << 20, logs.sink());
    Writer writer(*store);
    std::promise<std::thread::id> ran_on;
    writer.put(entry("http://h/a", "x"), [&](bool) {
        writer.flush();  // would deadlock: returns at once and logs
        writer.put(entry("http://h/b", "queued from a callback"));
        ran_on.set_value(std::this_thread::get_id());
    });
    BOOST_TEST((ran_on.get_future().get() != std::this_thread::get_id()));
    writer.flush();
    BOOST_TEST(logs.contains("would deadlock"));
    BOOST_TEST(body_of(*store, "http://h/b") == "queued from a callback");
    writer.stop();
    bool called = false, stored = true;
    writer.put(entry("http://h/c", "x"), [&](bool ok) { called = true; stored = ok; });
    BOOST_TEST(called);  // after stop: refused on the calling thread
    BOOST_TEST(!stored);
    BOOST_TEST(writer.clear_wait() == 0u);
}

BOOST_AUTO_TEST_CASE(lookup_cost) {
    TempDir dir;
    auto store = open_store(dir.path);
    Writer writer(*store);
    for (int i = 0; i < 1000; ++i)
        writer.put(entry("https://example.com/api/items/" + std::to_string(i) + "?page=1", std::string(2000, 'b')));
    writer.flush();
    std::vector<std::string> keys;
    for (int i = 0; i < 1000; ++i) keys.push_back("https://example.com/api/items/" + std::to_string(i) + "?page=1");

    constexpr int kRounds = 200000;
    size_t sum = 0;
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < kRounds; ++i) {
        Snapshot snap = store->snapshot();
        Lookup found = snap.find(keys[static_cast<size_t>(i) % keys.size()]);
        sum += found.entry.body.size() + static_cast<unsigned char>(found.entry.body[100]);
    }
    auto t1 = std::chrono::steady_clock::now();
    Snapshot snap = store->snapshot();
    for (int i = 0; i < kRounds; ++i) {
        Lookup found = snap.find(keys[static_cast<size_t>(i) % keys.size()]);
        sum += found.entry.body.size();
    }
    auto t2 = std::chrono::steady_clock::now();
    snap.release();
    for (int i = 0; i < kRounds; ++i) {  // one hot key: the fixed cost, with everything in cache
        Snapshot hot = store->snapshot();
        sum += hot.find(keys[7]).entry.body.size();
    }
    auto t3 = std::chrono::steady_clock::now();
    auto ns = [](auto d) { return std::chrono::duration<double, std::nano>(d).count() / kRounds; };
    BOOST_TEST_MESSAGE("per lookup, 1000 entries of 2 KB: snapshot + find + read " << ns(t1 - t0)
                       << " ns; find in a held snapshot " << ns(t2 - t1) << " ns; snapshot + find of one hot key "
                       << ns(t3 - t2) << " ns");
    BOOST_TEST(sum > 0u);
}
