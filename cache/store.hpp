// The response cache's storage, read side: one LMDB environment in `cache.path`, read through
// cheap snapshots from any thread without locks or allocation. All writes go through the single
// Writer (writer.hpp); this class never writes after open, except the clean-close mark.
//
// Thread rules:
//   - Store::snapshot(), Snapshot::find*, stats() may be called from any thread at any time.
//   - A Snapshot and every view it returned must not outlive the Store; views die with the
//     Snapshot. Keep snapshots short (one request's lookup, or one body send): a live snapshot pins
//     the pages it sees, so eviction cannot reuse them and the map can fill up.
//   - One Store per path per process (LMDB forbids opening one environment twice in a process).
//   - Destroy the Writer before the Store.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cache/entry_codec.hpp"
#include "cache/policy.hpp"

struct MDB_env;
struct MDB_txn;

namespace portico::cache {

class Store;
class Writer;

// One stored response as seen through a Snapshot; every view points into the memory map. From
// EntryRecord: facts, status, head ("Name: value\r\n"… as sent to a client; parse_head_block splits
// it), body, tags, seq, and object_key (primary + '\0' + variant: what Writer::touch takes).
struct EntryView : EntryRecord {
    // The entry sits outside the youngest quarter of the LRU order: the caller should
    // Writer::touch(object_key) (then it is young again, so a hot entry costs one touch per
    // quarter-cycle, and a hit never writes).
    bool wants_touch = false;
    uint64_t size = 0;  // bytes of the stored value (head, body, tags and bookkeeping)
};

struct Lookup {
    enum class Kind : unsigned char { none, entry, vary };
    Kind kind = Kind::none;
    EntryView entry;             // kind == entry: the response stored without Vary
    std::string_view vary_names;  // kind == vary: the stored Vary value (lower-case names, ", ")
};

// Figures for /stats and /metrics; each is a relaxed atomic read (they need not agree exactly).
struct StoreStats {
    uint64_t entries = 0;        // stored responses (Vary markers not counted)
    uint64_t bytes = 0;          // sum of their value sizes
    uint64_t map_bytes = 0;      // LMDB map size (max_size rounded up to whole pages)
    uint64_t used_bytes = 0;     // pages in use, all tables and the free list's own pages
    uint64_t puts = 0;           // puts stored
    uint64_t put_failures = 0;   // puts not stored, whatever the reason (below, or MDB_MAP_FULL)
    uint64_t too_large = 0;      //   … bigger than max_object_bytes
    uint64_t queue_full = 0;     //   … the writer's queue was over its byte bound
    uint64_t map_full = 0;       // MDB_MAP_FULL events (see Writer::on_map_full)
    uint64_t evictions = 0;      // entries evicted for space
    uint64_t purged = 0;         // entries removed by remove / purge_* / clear
    uint64_t refreshes = 0;      // entries refreshed after a 304
    uint64_t touches = 0;        // LRU moves applied
    uint64_t write_errors = 0;   // write transactions that failed for another reason (logged)
};

struct StoreOptions {
    std::string path;                    // cache.path: a directory, created 0700 if missing
    uint64_t max_size = 1ull << 30;      // cache.max_size: the LMDB map size in bytes
    unsigned max_readers = 1024;         // snapshot slots: 64 workers × several snapshots, with room
    // Warnings and errors (moved-aside files, failed writes). The proxy passes one that calls
    // core::log_line(LogLevel::warn, "cache", …); empty = stderr.
    std::function<void(std::string_view)> log;
};

class Snapshot {
public:
    Snapshot() = default;  // an empty snapshot: every find is a miss
    Snapshot(Snapshot&& other) noexcept;
    Snapshot& operator=(Snapshot&& other) noexcept;
    Snapshot(const Snapshot&) = delete;
    Snapshot& operator=(const Snapshot&) = delete;
    ~Snapshot() { release(); }

    // False when no read transaction could be started (reader table full, environment failed).
    explicit operator bool() const { return txn_ != nullptr; }

    // One B-tree lookup under primary + '\0': the response when it has no Vary, the Vary names when
    // it has (then compute cache::vary_key with {"Vary", vary_names} as the response's fields and
    // call find_variant), or none.
    Lookup find(std::string_view primary) const;
    std::optional<EntryView> find_variant(std::string_view primary, std::string_view variant) const;

    // Ends the snapshot early (its views die); the destructor does the same.
    void release();

private:
    friend class Store;
    Snapshot(const Store* store, MDB_txn* txn) : store_(store), txn_(txn) {}
    std::optional<std::string_view> get(std::string_view primary, std::string_view variant) const;
    bool decode(std::string_view value, std::string_view primary, std::string_view variant, EntryView& out) const;

    const Store* store_ = nullptr;
    MDB_txn* txn_ = nullptr;
};

class Store {
public:
    struct OpenResult {
        std::unique_ptr<Store> store;  // null when even an empty store could not be opened
        std::string error;
    };
    // Creates the directory if missing. A regular file at the path, an environment LMDB rejects, a
    // file of another format, or one not closed cleanly before a reboot (MDB_NOSYNC: it may be torn)
    // is moved aside to `<name>.corrupt-<unix time>` (older such copies are deleted, so repeated
    // failures cannot fill the disk), logged, and an empty store is opened. Fails only when that
    // is impossible too (permissions, disk): the proxy then runs without a cache.
    static OpenResult open(StoreOptions options);
    ~Store();
    Store(const Store&) = delete;
    Store& operator=(const Store&) = delete;

    // Lock-free and allocation-free after a thread's first snapshot (read transactions are reset
    // and renewed from a small per-thread cache; MDB_NOTLS lets them move between threads).
    Snapshot snapshot() const;

    StoreStats stats() const;
    const std::string& path() const { return options_.path; }
    void log(std::string_view message) const;

private:
    friend class Snapshot;
    friend class Writer;
    friend struct ThreadTxnCache;

    enum class Failure : unsigned char { none, corrupt, fatal };
    struct Attempt {
        Failure failure = Failure::none;
        std::string reason;
    };

    explicit Store(StoreOptions options);
    std::string open_environment();  // "" or the reason
    Attempt try_open();
    static Failure classify(int lmdb_rc);
    void move_aside(const std::string& file, std::string_view reason) const;
    void close_environment();
    MDB_txn* acquire_read_txn() const;
    void release_read_txn(MDB_txn* txn) const;
    MDB_txn* slow_acquire() const;
    void slow_release(MDB_txn* txn) const;
    // A thread ending hands its cached (reset) transactions back, if their store is still open.
    static void give_back(uint64_t store_id, MDB_txn* const* txns, size_t count);

    StoreOptions options_;
    uint64_t id_;  // never reused, so a thread's cached read transactions are matched to their Store
    MDB_env* env_ = nullptr;
    unsigned objects_ = 0, tags_ = 0, lru_ = 0, meta_ = 0;  // MDB_dbi handles
    uint64_t map_bytes_ = 0;
    size_t page_size_ = 4096;

    // Read transactions not in any thread's cache, and every one ever made (aborted at close).
    mutable std::mutex txn_mutex_;
    mutable std::vector<MDB_txn*> spare_txns_;
    mutable std::vector<MDB_txn*> all_txns_;

    // Entries with a smaller sequence number are outside the LRU's youngest quarter (published by
    // the writer).
    std::atomic<uint64_t> touch_below_{0};

    struct Counters {
        std::atomic<uint64_t> entries{0}, bytes{0}, used_bytes{0}, puts{0}, put_failures{0}, too_large{0},
            queue_full{0}, map_full{0}, evictions{0}, purged{0}, refreshes{0}, touches{0},
            write_errors{0};
    };
    mutable Counters counters_;
};

}  // namespace portico::cache
