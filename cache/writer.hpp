// The single LMDB writer (DESIGN.md "cache writer"): workers and the admin thread queue puts,
// touches and purges; one thread commits whatever is queued in batches, so no request ever waits
// on a commit. It also keeps the store under its size bound (LRU eviction) and syncs to disk about
// once a second (the environment is MDB_NOSYNC).
//
// Thread rules:
//   - Every method may be called from any thread. The non-blocking ones only take the queue lock.
//   - Callbacks (`done`) run on the writer thread, after the commit that made their effect visible
//     (so a waiter woken by one finds the entry in a new snapshot), in queue order. They must be
//     quick and must not block: post to the owner's loop (uv_async_send) and return. They may queue
//     more non-blocking operations; a blocking call (flush, *_wait, stop) from a callback returns at
//     once without waiting (it would deadlock), and logs.
//   - After stop() (or during destruction) new operations are refused: done(false) / done(0) run on
//     the calling thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_set>
#include <vector>

#include "cache/policy.hpp"
#include "cache/store.hpp"

namespace portico::cache {

struct EntryToStore {
    std::string primary;     // cache::build_primary_key
    std::string variant;     // cache::vary_key for this request; empty when the response has no Vary
    std::string vary_names;  // the response's Vary field value (normalised here); empty = no Vary
    EntryFacts facts;
    int status = 200;
    std::string head;  // "Name: value\r\n"… exactly as sent to a client (no Age, Date of serving, X-Cache)
    std::string body;
    std::vector<std::string> tags;  // purge tags; invalid ones (cache::valid_tag) are dropped
};

struct WriterOptions {
    // A larger entry is refused (done(false)); also capped at 1/8 of the map.
    uint64_t max_object_bytes = 64ull << 20;
    size_t max_batch_ops = 512;              // per write transaction (bounds its dirty pages)
    uint64_t max_batch_bytes = 64ull << 20;  // bodies per write transaction; at most 1/16 of the map
    uint64_t max_queue_bytes = 256ull << 20;  // beyond this, puts are dropped (done(false)), not queued
    std::chrono::milliseconds sync_interval{1000};
    double evict_above = 0.85;    // of the map: start evicting before a batch …
    double evict_to = 0.70;       // … down to this
    double evict_hard_to = 0.50;  // after MDB_MAP_FULL, a step (10% of the map) harder, never below this
};

class Writer {
public:
    using StoredFn = std::function<void(bool stored)>;
    using CountFn = std::function<void(uint64_t removed)>;

    // `store` must outlive the Writer.
    explicit Writer(Store& store, WriterOptions options = {});
    ~Writer();  // stop()
    Writer(const Writer&) = delete;
    Writer& operator=(const Writer&) = delete;

    // Stores the entry, replacing any under the same primary + variant (with its tag and LRU rows).
    // A Vary change drops the other variants: no Vary now but variants before, or the reverse, or
    // other Vary names. done(false): too large, queue full, map still full after eviction, or a
    // variant without Vary names (or the reverse).
    void put(EntryToStore entry, StoredFn done = {});
    // After an upstream 304: new facts, status and head; the stored body and tags are kept, and the
    // entry becomes young. done(false) if it is gone.
    void refresh(std::string primary, std::string variant, EntryFacts facts, int status, std::string head,
                 StoredFn done = {});
    // Moves the entry to the young end of the LRU (EntryView::wants_touch said so). Skipped if the
    // entry already moved or is gone.
    void touch(std::string_view object_key);
    // Every variant and the Vary marker of `primary` (invalidation after unsafe methods).
    void remove(std::string primary, CountFn done = {});

    // Admin purges; `done` gets the number of entries removed.
    void purge_key(std::string primary, CountFn done);
    void purge_prefix(std::string path_prefix, CountFn done);  // cache::key_has_path_prefix on every key
    void purge_tag(std::string tag, CountFn done);
    void clear(CountFn done);
    // The same, waiting for the commit (for the admin thread).
    uint64_t purge_key_wait(std::string primary);
    uint64_t purge_prefix_wait(std::string path_prefix);
    uint64_t purge_tag_wait(std::string tag);
    uint64_t clear_wait();

    // Returns when everything queued before the call is committed and its callbacks have run.
    void flush();
    // Drains the queue, syncs, joins. Idempotent.
    void stop();

    // Operation kinds, public only so writer.cpp's helpers can name them.
    enum class Kind : unsigned char {
        put, refresh, touch, remove, purge_key, purge_prefix, purge_tag, clear, flush, rejected
    };
    struct Op {
        Kind kind = Kind::flush;
        EntryToStore entry;  // put, refresh (primary, variant, facts, status, head)
        std::string arg;     // touch: object key; remove, purge_key: primary; purge_prefix: prefix; tag
        StoredFn stored_done;
        CountFn count_done;
        std::function<void()> flushed;
        // Outcome, reported after the commit.
        bool stored = false;
        uint64_t removed = 0;
        bool too_large = false, queue_full = false;
        uint64_t queued_bytes = 0;
    };

private:
    struct State {  // what a write transaction changes besides the tables; restored on abort
        uint64_t next_seq = 1, entries = 0, bytes = 0;
    };

    void enqueue(Op op);
    uint64_t wait_for_count(Kind kind, std::string arg);
    bool on_writer_thread(std::string_view what) const;
    void run();
    void process(std::vector<Op>& batch);
    void run_segment(std::vector<Op>& ops, size_t from, size_t to);
    int apply_segment(std::vector<Op>& ops, size_t from, size_t to);
    void run_chunked(Op& op);
    int apply(MDB_txn* txn, Op& op);
    int apply_put(MDB_txn* txn, Op& op);
    int apply_refresh(MDB_txn* txn, Op& op);
    int apply_touch(MDB_txn* txn, Op& op);
    int remove_object(MDB_txn* txn, std::string_view stored_key, bool* was_entry, size_t* rows);
    int remove_slot(MDB_txn* txn, std::string_view slot_key, uint64_t* removed);
    int drop_lonely_marker(MDB_txn* txn, std::string_view stored_key);
    int collect_keys(MDB_txn* txn, const Op& op, std::vector<std::string>& keys);
    int finish(MDB_txn* txn);  // meta rows, just before commit
    int commit(MDB_txn* txn);  // finish + commit + publish the figures; the txn is gone either way
    void maybe_evict();
    void evict(double down_to);
    void evict_until(double down_to, uint64_t& total);
    void on_map_full(bool may_evict);
    void advance();  // a small commit, so pages freed by the previous one can be reused
    void sync();
    void report(std::vector<Op>& batch);
    void log_error(std::string_view what, int rc);

    Store& store_;
    WriterOptions options_;
    uint64_t max_batch_bytes_ = 0;   // options bounded by the map size (see the constructor)
    uint64_t max_object_bytes_ = 0;

    std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<Op> queue_;
    uint64_t queued_bytes_ = 0;
    bool stopping_ = false;
    bool stopped_ = false;
    std::thread thread_;
    std::atomic<std::thread::id> thread_id_{};

    // Writer thread only.
    State state_;
    State committed_;  // as of the last commit (meta rows are rewritten only when changed)
    uint64_t batch_first_seq_ = 0;  // entries stamped in this batch are young: touches skip them
    uint64_t used_bytes_ = 0;
    uint64_t touch_below_ = 0;
    bool dirty_ = false;
    std::chrono::steady_clock::time_point sync_due_;
    std::chrono::steady_clock::time_point last_error_log_;
    std::string scratch_;
    std::unordered_set<std::string> spared_;  // stored keys of this batch's touches: not evicted
};

}  // namespace portico::cache
