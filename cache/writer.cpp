// The single writer thread: batches queued operations into LMDB write transactions, keeps the tag
// and LRU tables in step with the objects, evicts from the LRU's old end before the map fills, and
// syncs about once a second (the environment is MDB_NOSYNC; see lmdb_store.cpp).
#include "cache/writer.hpp"

#include <algorithm>
#include <future>

#include <fmt/format.h>

#include "cache/entry_codec.hpp"
#include "cache/headers_view.hpp"
#include "cache/key.hpp"
#include "cache/lmdb_store.hpp"
#include "cache/surrogate_keys.hpp"

namespace portico::cache {
namespace {

using Clock = std::chrono::steady_clock;
using Kind = Writer::Kind;
using lmdb::to_val;
using lmdb::to_view;

// LMDB refuses a transaction with more than 128k dirty pages (MDB_TXN_FULL). A purge deletes at
// most this many rows per transaction (each dirties at most one leaf), then commits and goes on.
constexpr size_t kRowsPerTxn = 20000;
// Entries evicted per transaction; smaller after MDB_MAP_FULL (a delete needs pages too).
constexpr size_t kEvictChunk = 256;
constexpr size_t kEvictChunkTight = 8;

bool is_chunked(Kind kind) { return kind == Kind::purge_prefix || kind == Kind::purge_tag || kind == Kind::clear; }
bool needs_txn(Kind kind) { return kind != Kind::flush && kind != Kind::rejected; }

std::string_view kind_name(Kind kind) {
    switch (kind) {
        case Kind::put: return "put";
        case Kind::refresh: return "refresh";
        case Kind::touch: return "touch";
        case Kind::remove: return "remove";
        case Kind::purge_key: return "purge by key";
        case Kind::purge_prefix: return "purge by prefix";
        case Kind::purge_tag: return "purge by tag";
        case Kind::clear: return "clear";
        case Kind::flush: return "flush";
        case Kind::rejected: return "rejected put";
    }
    return "?";
}

// Vary names compared between responses: lower-case, de-duplicated, sorted, ", "-joined (so
// "Accept-Encoding, Origin" and "origin,accept-encoding" are the same marker).
std::string normalise_vary(std::string_view value) {
    std::vector<std::string> names;
    ListMembers members(value);
    while (auto member = members.next()) {
        names.emplace_back();
        append_lower(names.back(), *member);
    }
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
    std::string out;
    for (const std::string& name : names) {
        if (!out.empty()) out += ", ";
        out += name;
    }
    return out;
}

// Valid tags only, first occurrence kept, at most kMaxTags (surrogate_keys.hpp's bounds).
void normalise_tags(std::vector<std::string>& tags) {
    std::vector<std::string> kept;
    for (std::string& tag : tags) {
        if (kept.size() == kMaxTags) break;
        if (!valid_tag(tag) || std::find(kept.begin(), kept.end(), tag) != kept.end()) continue;
        kept.push_back(std::move(tag));
    }
    tags = std::move(kept);
}

uint64_t op_bytes(const Writer::Op& op) {
    const EntryToStore& e = op.entry;
    uint64_t n = sizeof(Writer::Op) + e.primary.size() + e.variant.size() + e.vary_names.size() + e.head.size() +
                 e.body.size() + op.arg.size();
    for (const std::string& tag : e.tags) n += tag.size();
    return n;
}

// The slot key (primary' + '\0') of a stored key: its bytes up to and including the first NUL.
std::string_view slot_of(std::string_view stored_key) {
    size_t nul = stored_key.find('\0');
    return nul == std::string_view::npos ? stored_key : stored_key.substr(0, nul + 1);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Queueing (any thread)

Writer::Writer(Store& store, WriterOptions options) : store_(store), options_(options) {
    state_.entries = store_.counters_.entries.load();
    state_.bytes = store_.counters_.bytes.load();
    MDB_txn* txn = nullptr;
    if (mdb_txn_begin(store_.env_, nullptr, MDB_RDONLY, &txn) == 0) {
        state_.next_seq = lmdb::get_meta_u64(txn, store_.meta_, "next_seq").value_or(1);
        mdb_txn_abort(txn);
    }
    committed_ = state_;
    // One batch, or one object, must fit in the room eviction keeps free (85% → 70% of the map),
    // else a small map would turn a burst into MDB_MAP_FULL, or one huge response would evict half
    // the cache and still not fit.
    max_batch_bytes_ = std::min<uint64_t>(options_.max_batch_bytes, store_.map_bytes_ / 16);
    max_object_bytes_ = std::min<uint64_t>(options_.max_object_bytes, store_.map_bytes_ / 8);
    used_bytes_ = store_.counters_.used_bytes.load();
    touch_below_ = store_.touch_below_.load();
    thread_ = std::thread([this] { run(); });
}

Writer::~Writer() { stop(); }

void Writer::enqueue(Op op) {
    std::unique_lock lock(mutex_);
    if (stopping_) {
        lock.unlock();
        if (op.stored_done) op.stored_done(false);
        if (op.count_done) op.count_done(0);
        if (op.flushed) op.flushed();
        return;
    }
    op.queued_bytes = op_bytes(op);
    if (op.kind == Kind::put && queued_bytes_ + op.queued_bytes > options_.max_queue_bytes) {
        // The writer is behind: drop the entry now rather than hold more bodies in memory. The
        // callback still runs on the writer thread, as promised.
        op.kind = Kind::rejected;
        op.queue_full = true;
        op.entry = EntryToStore{};
        op.queued_bytes = sizeof(Op);
    }
    queued_bytes_ += op.queued_bytes;
    queue_.push_back(std::move(op));
    // The writer sleeps only on an empty queue, so only the first operation needs to wake it.
    bool wake = queue_.size() == 1;
    lock.unlock();
    if (wake) wake_.notify_one();
}

void Writer::put(EntryToStore entry, StoredFn done) {
    Op op;
    op.stored_done = std::move(done);
    uint64_t size = kEntryHeaderBytes + entry.primary.size() + 1 + entry.variant.size() + entry.head.size() +
                    entry.body.size();
    for (const std::string& tag : entry.tags) size += 2 + tag.size();
    if (size > max_object_bytes_) {
        op.kind = Kind::rejected;
        op.too_large = true;
    } else {
        op.kind = Kind::put;
        op.entry = std::move(entry);
    }
    enqueue(std::move(op));
}

void Writer::refresh(std::string primary, std::string variant, EntryFacts facts, int status, std::string head,
                     StoredFn done) {
    Op op;
    op.kind = Kind::refresh;
    op.entry.primary = std::move(primary);
    op.entry.variant = std::move(variant);
    op.entry.facts = facts;
    op.entry.status = status;
    op.entry.head = std::move(head);
    op.stored_done = std::move(done);
    enqueue(std::move(op));
}

void Writer::touch(std::string_view object_key) {
    Op op;
    op.kind = Kind::touch;
    op.arg.assign(object_key);
    enqueue(std::move(op));
}

void Writer::remove(std::string primary, CountFn done) {
    Op op;
    op.kind = Kind::remove;
    op.arg = std::move(primary);
    op.count_done = std::move(done);
    enqueue(std::move(op));
}

void Writer::purge_key(std::string primary, CountFn done) {
    Op op;
    op.kind = Kind::purge_key;
    op.arg = std::move(primary);
    op.count_done = std::move(done);
    enqueue(std::move(op));
}

void Writer::purge_prefix(std::string path_prefix, CountFn done) {
    Op op;
    op.kind = Kind::purge_prefix;
    op.arg = std::move(path_prefix);
    op.count_done = std::move(done);
    enqueue(std::move(op));
}

void Writer::purge_tag(std::string tag, CountFn done) {
    Op op;
    op.kind = Kind::purge_tag;
    op.arg = std::move(tag);
    op.count_done = std::move(done);
    enqueue(std::move(op));
}

void Writer::clear(CountFn done) {
    Op op;
    op.kind = Kind::clear;
    op.count_done = std::move(done);
    enqueue(std::move(op));
}

bool Writer::on_writer_thread(std::string_view what) const {
    if (std::this_thread::get_id() != thread_id_.load()) return false;
    store_.log(fmt::format("Writer::{} called from a writer callback: not waiting (it would deadlock)", what));
    return true;
}

uint64_t Writer::wait_for_count(Kind kind, std::string arg) {
    if (on_writer_thread(kind_name(kind))) return 0;
    std::promise<uint64_t> removed;
    std::future<uint64_t> result = removed.get_future();
    Op op;
    op.kind = kind;
    op.arg = std::move(arg);
    op.count_done = [&removed](uint64_t n) { removed.set_value(n); };
    enqueue(std::move(op));
    return result.get();
}

uint64_t Writer::purge_key_wait(std::string primary) { return wait_for_count(Kind::purge_key, std::move(primary)); }
uint64_t Writer::purge_prefix_wait(std::string prefix) { return wait_for_count(Kind::purge_prefix, std::move(prefix)); }
uint64_t Writer::purge_tag_wait(std::string tag) { return wait_for_count(Kind::purge_tag, std::move(tag)); }
uint64_t Writer::clear_wait() { return wait_for_count(Kind::clear, {}); }

void Writer::flush() {
    if (on_writer_thread("flush")) return;
    std::promise<void> done;
    std::future<void> result = done.get_future();
    Op op;
    op.kind = Kind::flush;
    op.flushed = [&done] { done.set_value(); };
    enqueue(std::move(op));
    result.wait();
}

void Writer::stop() {
    if (on_writer_thread("stop")) return;
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
}

// ---------------------------------------------------------------------------------------------
// The writer thread

void Writer::run() {
    thread_id_.store(std::this_thread::get_id());
    std::unique_lock lock(mutex_);
    for (;;) {
        if (queue_.empty()) {
            if (stopping_) break;
            auto ready = [this] { return stopping_ || !queue_.empty(); };
            if (!dirty_) {
                wake_.wait(lock, ready);
            } else if (!wake_.wait_until(lock, sync_due_, ready)) {
                lock.unlock();
                sync();
                lock.lock();
            }
            continue;
        }
        // Everything queued now, up to the batch bounds, goes into one transaction.
        std::vector<Op> batch;
        uint64_t bytes = 0;
        while (!queue_.empty() && batch.size() < options_.max_batch_ops &&
               (batch.empty() || bytes + queue_.front().queued_bytes <= max_batch_bytes_)) {
            bytes += queue_.front().queued_bytes;
            batch.push_back(std::move(queue_.front()));
            queue_.pop_front();
        }
        queued_bytes_ -= bytes;
        lock.unlock();
        process(batch);
        if (dirty_ && Clock::now() >= sync_due_) sync();
        lock.lock();
    }
    lock.unlock();
    if (dirty_) sync();
}

void Writer::process(std::vector<Op>& batch) {
    batch_first_seq_ = state_.next_seq;
    // Touches first: a hot entry read while puts queued up behind its touch must be young again
    // before those puts make room by evicting from the old end. A touch rewrites the entry (its
    // LRU number lives in the value), which needs free pages, so eviction runs first — sparing the
    // entries being touched. (Touches carry no callback: moving them changes no reported order.)
    auto touches_end = std::stable_partition(batch.begin(), batch.end(), [](const Op& op) { return op.kind == Kind::touch; });
    size_t touches = static_cast<size_t>(touches_end - batch.begin());
    if (touches > 0) {
        for (size_t k = 0; k < touches; ++k) {
            lmdb::KeyBuffer key;
            lmdb::make_stored_key(key, batch[k].arg);
            spared_.emplace(key.view());
        }
        maybe_evict();
        int rc = apply_segment(batch, 0, touches);
        if (rc == MDB_MAP_FULL) {
            on_map_full(/*may_evict=*/true);
            rc = apply_segment(batch, 0, touches);
        }
        if (rc != 0) log_error("touches dropped", rc);
        spared_.clear();
    }
    // Purges that may touch the whole store run in transactions of their own (chunked); the other
    // operations between them share one.
    for (size_t i = touches; i < batch.size();) {
        if (is_chunked(batch[i].kind)) {
            run_chunked(batch[i]);
            ++i;
            continue;
        }
        size_t j = i + 1;
        while (j < batch.size() && !is_chunked(batch[j].kind)) ++j;
        run_segment(batch, i, j);
        i = j;
    }
    report(batch);
}

void Writer::run_segment(std::vector<Op>& ops, size_t from, size_t to) {
    if (std::none_of(ops.begin() + from, ops.begin() + to, [](const Op& op) { return needs_txn(op.kind); })) return;
    maybe_evict();
    int rc = apply_segment(ops, from, to);
    if (rc == 0) return;
    if (rc == MDB_MAP_FULL) {
        on_map_full(/*may_evict=*/true);
    } else {
        log_error("write transaction failed, retrying operation by operation", rc);
    }
    // A full map never fails a request nor stops the writer: retry each operation in a transaction
    // of its own, so only one that still does not fit is dropped.
    for (size_t k = from; k < to; ++k) {
        if (!needs_txn(ops[k].kind)) continue;
        maybe_evict();
        rc = apply_segment(ops, k, k + 1);
        if (rc == MDB_MAP_FULL) {
            on_map_full(/*may_evict=*/false);
            rc = apply_segment(ops, k, k + 1);
        }
        if (rc != 0) log_error(fmt::format("{} dropped", kind_name(ops[k].kind)), rc);
    }
}

// Applies ops[from, to) in one write transaction; on any error nothing of it is committed.
int Writer::apply_segment(std::vector<Op>& ops, size_t from, size_t to) {
    auto reset = [&] {
        for (size_t k = from; k < to; ++k) {
            ops[k].stored = false;
            ops[k].removed = 0;
        }
    };
    reset();
    MDB_txn* txn = nullptr;
    if (int rc = mdb_txn_begin(store_.env_, nullptr, 0, &txn); rc != 0) return rc;
    State saved = state_;
    for (size_t k = from; k < to; ++k) {
        if (int rc = apply(txn, ops[k]); rc != 0) {
            mdb_txn_abort(txn);
            state_ = saved;
            reset();
            return rc;
        }
    }
    if (int rc = commit(txn); rc != 0) {
        state_ = saved;
        reset();
        return rc;
    }
    return 0;
}

int Writer::apply(MDB_txn* txn, Op& op) {
    switch (op.kind) {
        case Kind::put: return apply_put(txn, op);
        case Kind::refresh: return apply_refresh(txn, op);
        case Kind::touch: return apply_touch(txn, op);
        case Kind::remove:
        case Kind::purge_key: {
            lmdb::KeyBuffer slot;
            lmdb::make_stored_key(slot, op.arg, {});
            return remove_slot(txn, slot.view(), &op.removed);
        }
        default: return 0;  // chunked kinds run in run_chunked; flush and rejected write nothing
    }
}

int Writer::apply_put(MDB_txn* txn, Op& op) {
    EntryToStore& e = op.entry;
    std::string names = normalise_vary(e.vary_names);
    if (names.empty() != e.variant.empty() || names.find('*') != std::string::npos) {
        store_.log(fmt::format("put of {} refused: a variant needs Vary names and Vary names a variant "
                               "(and Vary: * is never stored)", e.primary));
        return 0;
    }
    normalise_tags(e.tags);
    std::string tag_block;
    size_t tag_count = encode_tag_block(e.tags, tag_block);

    lmdb::KeyBuffer slot, key;
    lmdb::make_stored_key(slot, e.primary, {});
    lmdb::make_stored_key(key, e.primary, e.variant);
    MDB_val k = to_val(slot.view()), v;
    int rc = mdb_get(txn, store_.objects_, &k, &v);
    if (rc != 0 && rc != MDB_NOTFOUND) return rc;
    bool found = rc == 0;
    uint64_t dropped = 0;
    if (e.variant.empty()) {
        // Replaces the old entry, or, if the resource used to vary, the marker and every variant.
        if (found && (rc = remove_slot(txn, slot.view(), &dropped)) != 0) return rc;
    } else {
        auto marker = found ? decode_vary_marker(to_view(v)) : std::nullopt;
        if (marker && marker->names == names && marker->primary == e.primary) {
            bool was_entry = false;
            if ((rc = remove_object(txn, key.view(), &was_entry, nullptr)) != 0) return rc;
        } else {
            // No marker yet, a Vary-less entry, or other Vary names: the old variants answer
            // different questions, so they all go.
            if (found && (rc = remove_slot(txn, slot.view(), &dropped)) != 0) return rc;
            std::string marker_value = encode_vary_marker(e.primary, names);
            MDB_val mk = to_val(slot.view()), mv = to_val(marker_value);
            if ((rc = mdb_put(txn, store_.objects_, &mk, &mv, 0)) != 0) return rc;
        }
    }

    std::string object_key = e.primary;
    object_key += '\0';
    object_key += e.variant;
    EntryRecord record;
    record.seq = state_.next_seq;
    record.facts = e.facts;
    record.status = e.status;
    record.object_key = object_key;
    record.head = e.head;
    record.tags = TagList(tag_block, tag_count);
    record.body = e.body;
    size_t size = encoded_entry_size(record);
    if (size > max_object_bytes_) {
        op.too_large = true;
        return 0;
    }
    MDB_val ok = to_val(key.view()), ov{size, nullptr};
    if ((rc = mdb_put(txn, store_.objects_, &ok, &ov, MDB_RESERVE)) != 0) return rc;
    encode_entry(record, static_cast<char*>(ov.mv_data));  // the one copy of the body
    char seq[8];
    lmdb::put_be64(seq, record.seq);
    MDB_val lk{8, seq}, lv = to_val(key.view());
    if ((rc = mdb_put(txn, store_.lru_, &lk, &lv, 0)) != 0) return rc;
    for (std::string_view tag : record.tags) {
        MDB_val tk = to_val(tag), tv = to_val(key.view());
        rc = mdb_put(txn, store_.tags_, &tk, &tv, MDB_NODUPDATA);
        if (rc != 0 && rc != MDB_KEYEXIST) return rc;
    }
    ++state_.next_seq;
    ++state_.entries;
    state_.bytes += size;
    op.stored = true;
    return 0;
}

int Writer::apply_refresh(MDB_txn* txn, Op& op) {
    const EntryToStore& e = op.entry;
    lmdb::KeyBuffer key;
    lmdb::make_stored_key(key, e.primary, e.variant);
    MDB_val k = to_val(key.view()), v;
    int rc = mdb_get(txn, store_.objects_, &k, &v);
    if (rc == MDB_NOTFOUND) return 0;
    if (rc != 0) return rc;
    auto old = decode_entry(to_view(v));
    if (!old || old->primary() != e.primary || old->variant() != e.variant) return 0;
    // Copies: the old value's pages may be reused by the puts below.
    std::string object_key(old->object_key), tag_block(old->tags.block()), body(old->body);
    size_t tag_count = old->tags.size();
    uint64_t old_seq = old->seq, old_size = v.mv_size;

    char seq[8];
    lmdb::put_be64(seq, old_seq);
    MDB_val lk{8, seq};
    if ((rc = mdb_del(txn, store_.lru_, &lk, nullptr)) != 0 && rc != MDB_NOTFOUND) return rc;
    EntryRecord record;
    record.seq = state_.next_seq;
    record.facts = e.facts;
    record.status = e.status;
    record.object_key = object_key;
    record.head = e.head;
    record.tags = TagList(tag_block, tag_count);
    record.body = body;
    size_t size = encoded_entry_size(record);
    MDB_val ok = to_val(key.view()), ov{size, nullptr};
    if ((rc = mdb_put(txn, store_.objects_, &ok, &ov, MDB_RESERVE)) != 0) return rc;
    encode_entry(record, static_cast<char*>(ov.mv_data));
    lmdb::put_be64(seq, record.seq);
    MDB_val nk{8, seq}, nv = to_val(key.view());
    if ((rc = mdb_put(txn, store_.lru_, &nk, &nv, 0)) != 0) return rc;
    ++state_.next_seq;
    state_.bytes = state_.bytes - std::min<uint64_t>(old_size, state_.bytes) + size;
    op.stored = true;
    return 0;
}

int Writer::apply_touch(MDB_txn* txn, Op& op) {
    lmdb::KeyBuffer key;
    lmdb::make_stored_key(key, op.arg);
    MDB_val k = to_val(key.view()), v;
    int rc = mdb_get(txn, store_.objects_, &k, &v);
    if (rc == MDB_NOTFOUND) return 0;
    if (rc != 0) return rc;
    // Several workers may ask for the same entry before the first touch commits: only the first
    // one moves it (the others find it young already).
    auto seq = entry_seq(to_view(v));
    if (!seq || *seq >= touch_below_ || *seq >= batch_first_seq_) return 0;
    auto record = decode_entry(to_view(v));
    if (!record || record->object_key != op.arg) return 0;
    scratch_.assign(to_view(v));  // a copy: the new value replaces the one it is read from
    set_entry_seq(scratch_.data(), state_.next_seq);

    char old_seq[8], new_seq[8];
    lmdb::put_be64(old_seq, *seq);
    lmdb::put_be64(new_seq, state_.next_seq);
    MDB_val ok{8, old_seq};
    if ((rc = mdb_del(txn, store_.lru_, &ok, nullptr)) != 0 && rc != MDB_NOTFOUND) return rc;
    MDB_val pk = to_val(key.view()), pv = to_val(scratch_);
    if ((rc = mdb_put(txn, store_.objects_, &pk, &pv, 0)) != 0) return rc;
    MDB_val nk{8, new_seq}, nv = to_val(key.view());
    if ((rc = mdb_put(txn, store_.lru_, &nk, &nv, 0)) != 0) return rc;
    ++state_.next_seq;
    op.stored = true;
    return 0;
}

// Deletes one objects row and, for an entry, its tag and LRU rows. `rows` (if given) grows by the
// number of rows deleted.
int Writer::remove_object(MDB_txn* txn, std::string_view stored_key, bool* was_entry, size_t* rows) {
    *was_entry = false;
    MDB_val k = to_val(stored_key), v;
    int rc = mdb_get(txn, store_.objects_, &k, &v);
    if (rc == MDB_NOTFOUND) return 0;
    if (rc != 0) return rc;
    size_t deleted = 1;
    if (auto record = decode_entry(to_view(v))) {
        // Copied before any table changes, since deleting can reuse pages of this transaction.
        uint64_t seq = record->seq, size = v.mv_size;
        std::string tag_block(record->tags.block());
        TagList tags(tag_block, record->tags.size());
        for (std::string_view tag : tags) {
            MDB_val tk = to_val(tag), tv = to_val(stored_key);
            if ((rc = mdb_del(txn, store_.tags_, &tk, &tv)) != 0 && rc != MDB_NOTFOUND) return rc;
            ++deleted;
        }
        char seq_key[8];
        lmdb::put_be64(seq_key, seq);
        MDB_val lk{8, seq_key};
        if ((rc = mdb_del(txn, store_.lru_, &lk, nullptr)) != 0 && rc != MDB_NOTFOUND) return rc;
        ++deleted;
        state_.entries -= std::min<uint64_t>(1, state_.entries);
        state_.bytes -= std::min<uint64_t>(size, state_.bytes);
        *was_entry = true;
    }
    MDB_val dk = to_val(stored_key);
    if ((rc = mdb_del(txn, store_.objects_, &dk, nullptr)) != 0 && rc != MDB_NOTFOUND) return rc;
    if (rows != nullptr) *rows += deleted;
    return 0;
}

// Deletes every objects row whose key starts with `slot_key` (primary' + '\0'): the Vary-less entry
// or the Vary marker, and all variants.
int Writer::remove_slot(MDB_txn* txn, std::string_view slot_key, uint64_t* removed) {
    std::vector<std::string> keys;
    MDB_cursor* cursor = nullptr;
    int rc = mdb_cursor_open(txn, store_.objects_, &cursor);
    if (rc != 0) return rc;
    MDB_val k = to_val(slot_key), v;
    for (rc = mdb_cursor_get(cursor, &k, &v, MDB_SET_RANGE); rc == 0 && to_view(k).starts_with(slot_key);
         rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT))
        keys.emplace_back(to_view(k));
    mdb_cursor_close(cursor);
    if (rc != 0 && rc != MDB_NOTFOUND) return rc;
    for (const std::string& key : keys) {
        bool was_entry = false;
        if ((rc = remove_object(txn, key, &was_entry, nullptr)) != 0) return rc;
        *removed += was_entry;
    }
    return 0;
}

// After a variant goes (eviction, purge by tag): a marker with no variant left goes too, or markers
// of long-gone resources would pile up forever.
int Writer::drop_lonely_marker(MDB_txn* txn, std::string_view stored_key) {
    std::string_view slot = slot_of(stored_key);
    if (slot.size() == stored_key.size()) return 0;  // it was no variant
    MDB_cursor* cursor = nullptr;
    int rc = mdb_cursor_open(txn, store_.objects_, &cursor);
    if (rc != 0) return rc;
    MDB_val k = to_val(slot), v;
    bool lonely = false;
    rc = mdb_cursor_get(cursor, &k, &v, MDB_SET_RANGE);
    if (rc == 0 && to_view(k) == slot && value_kind(to_view(v)) == ValueKind::vary_marker) {
        rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT);
        lonely = rc == MDB_NOTFOUND || (rc == 0 && !to_view(k).starts_with(slot));
    }
    mdb_cursor_close(cursor);
    if (rc != 0 && rc != MDB_NOTFOUND) return rc;
    if (!lonely) return 0;
    MDB_val dk = to_val(slot);
    rc = mdb_del(txn, store_.objects_, &dk, nullptr);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

int Writer::collect_keys(MDB_txn* txn, const Op& op, std::vector<std::string>& keys) {
    MDB_cursor* cursor = nullptr;
    MDB_val k, v;
    int rc = 0;
    if (op.kind == Kind::purge_tag) {
        if (!valid_tag(op.arg)) return 0;
        if ((rc = mdb_cursor_open(txn, store_.tags_, &cursor)) != 0) return rc;
        k = to_val(op.arg);
        for (rc = mdb_cursor_get(cursor, &k, &v, MDB_SET); rc == 0; rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT_DUP))
            keys.emplace_back(to_view(v));
    } else {  // purge_prefix: a full scan is fine for an admin operation
        if ((rc = mdb_cursor_open(txn, store_.objects_, &cursor)) != 0) return rc;
        for (rc = mdb_cursor_get(cursor, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT)) {
            std::string_view value = to_view(v), primary;
            if (auto record = decode_entry(value)) {
                primary = record->primary();
            } else if (auto marker = decode_vary_marker(value)) {
                primary = marker->primary;
            } else {
                continue;
            }
            if (key_has_path_prefix(primary, op.arg)) keys.emplace_back(to_view(k));
        }
    }
    mdb_cursor_close(cursor);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

void Writer::run_chunked(Op& op) {
    MDB_txn* txn = nullptr;
    int rc = mdb_txn_begin(store_.env_, nullptr, 0, &txn);
    if (rc != 0) {
        log_error(kind_name(op.kind), rc);
        return;
    }
    State saved = state_;
    if (op.kind == Kind::clear) {
        uint64_t entries = state_.entries;
        for (MDB_dbi dbi : {store_.objects_, store_.tags_, store_.lru_})
            if (rc == 0) rc = mdb_drop(txn, dbi, /*del=*/0);
        state_.entries = 0;
        state_.bytes = 0;
        rc = rc == 0 ? commit(txn) : (mdb_txn_abort(txn), rc);
        if (rc != 0) {
            state_ = saved;
            log_error("clear", rc);
            return;
        }
        op.removed = entries;
        return;
    }
    std::vector<std::string> keys;
    if ((rc = collect_keys(txn, op, keys)) != 0) {
        mdb_txn_abort(txn);
        log_error(kind_name(op.kind), rc);
        return;
    }
    uint64_t committed = 0, pending = 0;
    size_t rows = 0;
    for (const std::string& key : keys) {
        bool was_entry = false;
        if ((rc = remove_object(txn, key, &was_entry, &rows)) != 0) break;
        if (op.kind == Kind::purge_tag && (rc = drop_lonely_marker(txn, key)) != 0) break;
        pending += was_entry;
        if (rows < kRowsPerTxn) continue;
        rc = commit(txn);
        txn = nullptr;
        if (rc != 0) break;
        committed += pending;
        pending = 0;
        rows = 0;
        saved = state_;
        if ((rc = mdb_txn_begin(store_.env_, nullptr, 0, &txn)) != 0) break;
    }
    if (rc == 0) {
        rc = commit(txn);
        txn = nullptr;
        if (rc == 0) committed += pending;
    }
    if (txn != nullptr) mdb_txn_abort(txn);
    if (rc != 0) {
        state_ = saved;
        log_error(fmt::format("{} stopped after {} entries", kind_name(op.kind), committed), rc);
    }
    op.removed = committed;
}

// ---------------------------------------------------------------------------------------------
// Commit, publish, evict, sync

int Writer::finish(MDB_txn* txn) {
    int rc = 0;
    if (state_.next_seq != committed_.next_seq && rc == 0)
        rc = lmdb::put_meta_u64(txn, store_.meta_, "next_seq", state_.next_seq);
    if (state_.entries != committed_.entries && rc == 0)
        rc = lmdb::put_meta_u64(txn, store_.meta_, "entries", state_.entries);
    if (state_.bytes != committed_.bytes && rc == 0) rc = lmdb::put_meta_u64(txn, store_.meta_, "bytes", state_.bytes);
    return rc;
}

int Writer::commit(MDB_txn* txn) {
    if (int rc = finish(txn); rc != 0) {
        mdb_txn_abort(txn);
        return rc;
    }
    MDB_dbi tables[] = {store_.objects_, store_.tags_, store_.lru_, store_.meta_};
    uint64_t used = lmdb::used_pages(txn, tables, std::size(tables)) * store_.page_size_;
    uint64_t below = lmdb::touch_below(txn, store_.lru_, state_.next_seq);
    if (int rc = mdb_txn_commit(txn); rc != 0) return rc;
    committed_ = state_;
    used_bytes_ = used;
    touch_below_ = below;
    store_.counters_.entries.store(state_.entries, std::memory_order_relaxed);
    store_.counters_.bytes.store(state_.bytes, std::memory_order_relaxed);
    store_.counters_.used_bytes.store(used, std::memory_order_relaxed);
    store_.touch_below_.store(below, std::memory_order_relaxed);
    if (!dirty_) {
        dirty_ = true;
        sync_due_ = Clock::now() + options_.sync_interval;
    }
    return 0;
}

void Writer::maybe_evict() {
    if (static_cast<double>(used_bytes_) > options_.evict_above * static_cast<double>(store_.map_bytes_))
        evict(options_.evict_to);
}

// Evicts from the LRU's old end, a chunk per transaction (each committed, so the freed pages can
// serve the next transaction), until the pages in use fall to `down_to` of the map.
void Writer::evict(double down_to) {
    uint64_t total = 0;
    evict_until(down_to, total);
    // LMDB reuses a page only two commits after the one that freed it (the previous snapshot must
    // stay intact), and a transaction that fails commits nothing: one small commit now makes the
    // evicted pages available to the very next batch.
    if (total > 0) advance();
}

// MDB_MAP_FULL: either the live data outgrew the room eviction keeps (a burst, or free pages too
// scattered for a large body, which needs contiguous ones), and evicting more helps; or old
// snapshots pin the free pages (a reader holding one for long), and evicting frees nothing usable.
// The two are hard to tell apart, so the harder eviction is a step (10% of the map, never below
// evict_hard_to) taken once per batch, not a cascade that would empty the cache behind a reader.
void Writer::on_map_full(bool may_evict) {
    store_.counters_.map_full.fetch_add(1, std::memory_order_relaxed);
    double map = static_cast<double>(store_.map_bytes_);
    double used = static_cast<double>(used_bytes_) / map;
    double target = std::max(options_.evict_hard_to, std::min(options_.evict_to, used - 0.10));
    if (may_evict && used > target) evict(target);
    advance();  // pages freed by the last commit become usable either way
}

void Writer::advance() {
    MDB_txn* txn = nullptr;
    int rc = mdb_txn_begin(store_.env_, nullptr, 0, &txn);
    if (rc == 0) {
        rc = lmdb::put_meta_u64(txn, store_.meta_, "next_seq", state_.next_seq);
        rc = rc == 0 ? commit(txn) : (mdb_txn_abort(txn), rc);
    }
    if (rc != 0) log_error("commit after eviction", rc);
}

void Writer::evict_until(double down_to, uint64_t& total) {
    size_t chunk = kEvictChunk;
    const double target = down_to * static_cast<double>(store_.map_bytes_);
    MDB_dbi tables[] = {store_.objects_, store_.tags_, store_.lru_, store_.meta_};
    for (;;) {
        MDB_txn* txn = nullptr;
        int rc = mdb_txn_begin(store_.env_, nullptr, 0, &txn);
        if (rc != 0) return log_error("eviction", rc);
        used_bytes_ = lmdb::used_pages(txn, tables, std::size(tables)) * store_.page_size_;
        if (static_cast<double>(used_bytes_) <= target) {
            mdb_txn_abort(txn);
            return;
        }
        std::vector<std::pair<std::string, std::string>> oldest;  // (lru key, stored key)
        MDB_cursor* cursor = nullptr;
        if ((rc = mdb_cursor_open(txn, store_.lru_, &cursor)) == 0) {
            MDB_val k, v;
            for (rc = mdb_cursor_get(cursor, &k, &v, MDB_FIRST); rc == 0 && oldest.size() < chunk;
                 rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT))
                oldest.emplace_back(to_view(k), to_view(v));
            mdb_cursor_close(cursor);
            if (rc == MDB_NOTFOUND || rc == 0) rc = 0;
        }
        if (rc != 0 || oldest.empty()) {
            mdb_txn_abort(txn);
            if (rc != 0) log_error("eviction", rc);
            return;  // nothing left to evict: the rest is markers, meta and the free list
        }
        State saved = state_;
        uint64_t evicted = 0;
        bool reached = false;
        size_t rows_removed = 0;
        for (const auto& [lru_key, stored_key] : oldest) {
            if (spared_.count(stored_key) > 0) continue;  // about to be touched: young in a moment
            ++rows_removed;
            bool was_entry = false;
            if ((rc = remove_object(txn, stored_key, &was_entry, nullptr)) != 0) break;
            // The row itself, in case it pointed at nothing (remove_object deletes it otherwise).
            MDB_val lk = to_val(lru_key);
            if ((rc = mdb_del(txn, store_.lru_, &lk, nullptr)) != 0 && rc != MDB_NOTFOUND) break;
            if ((rc = drop_lonely_marker(txn, stored_key)) != 0) break;
            rc = 0;
            evicted += was_entry;
            // mdb_stat sees this transaction's deletes: stop as soon as the target is met.
            uint64_t used = lmdb::used_pages(txn, tables, std::size(tables)) * store_.page_size_;
            if ((reached = static_cast<double>(used) <= target)) break;
        }
        rc = rc == 0 ? commit(txn) : (mdb_txn_abort(txn), rc);
        if (rc != 0) {
            state_ = saved;
            if (rc == MDB_MAP_FULL && chunk > kEvictChunkTight) {
                chunk = kEvictChunkTight;
                continue;
            }
            return log_error("eviction", rc);
        }
        store_.counters_.evictions.fetch_add(evicted, std::memory_order_relaxed);
        total += evicted;
        if (reached) return;
        if (rows_removed == 0) return;  // only spared entries left at the old end
    }
}

void Writer::sync() {
    if (int rc = mdb_env_sync(store_.env_, /*force=*/1); rc != 0) log_error("sync", rc);
    dirty_ = false;
}

void Writer::report(std::vector<Op>& batch) {
    auto& c = store_.counters_;
    for (Op& op : batch) {
        switch (op.kind) {
            case Kind::put:
            case Kind::rejected:
                (op.stored ? c.puts : c.put_failures).fetch_add(1, std::memory_order_relaxed);
                if (op.too_large) c.too_large.fetch_add(1, std::memory_order_relaxed);
                if (op.queue_full) c.queue_full.fetch_add(1, std::memory_order_relaxed);
                break;
            case Kind::refresh:
                if (op.stored) c.refreshes.fetch_add(1, std::memory_order_relaxed);
                break;
            case Kind::touch:
                if (op.stored) c.touches.fetch_add(1, std::memory_order_relaxed);
                break;
            case Kind::remove:
            case Kind::purge_key:
            case Kind::purge_prefix:
            case Kind::purge_tag:
            case Kind::clear:
                c.purged.fetch_add(op.removed, std::memory_order_relaxed);
                break;
            case Kind::flush: break;
        }
    }
    // Callbacks last, after every counter of the batch is published.
    for (Op& op : batch) {
        try {
            if (op.stored_done) op.stored_done(op.stored);
            if (op.count_done) op.count_done(op.removed);
            if (op.flushed) op.flushed();
        } catch (const std::exception& e) {
            store_.log(fmt::format("a {} callback threw: {}", kind_name(op.kind), e.what()));
        } catch (...) {
            store_.log(fmt::format("a {} callback threw", kind_name(op.kind)));
        }
    }
}

void Writer::log_error(std::string_view what, int rc) {
    // A full map is counted as map_full / put_failures; anything else is a write error.
    if (rc != MDB_MAP_FULL) store_.counters_.write_errors.fetch_add(1, std::memory_order_relaxed);
    // At most one line a second: a failing environment would otherwise log every batch.
    auto now = Clock::now();
    if (now - last_error_log_ < std::chrono::seconds(1)) return;
    last_error_log_ = now;
    store_.log(fmt::format("{}: {}", what, mdb_strerror(rc)));
}

}  // namespace portico::cache
