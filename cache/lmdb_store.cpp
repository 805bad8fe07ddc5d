// The read side of the LMDB store: opening (and recovering from a bad file), read snapshots served
// from per-thread caches of reset transactions, and the one-lookup find.
#include "cache/lmdb_store.hpp"

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <unordered_map>

#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "cache/store.hpp"

namespace portico::cache {

// ---------------------------------------------------------------------------------------------
// lmdb:: helpers

namespace lmdb {
namespace {

uint64_t mix64(uint64_t h) {
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

// Not cryptographic: a collision only makes two URLs share a slot (each read checks the full key),
// so the worst an attacker gets is misses for the pair.
uint64_t hash64(std::string_view s, uint64_t seed) {
    uint64_t h = seed ^ (s.size() * 0x9e3779b97f4a7c15ULL);
    size_t i = 0;
    auto step = [&](uint64_t w) { h = (std::rotl(h ^ mix64(w + seed), 27) * 0x9e3779b97f4a7c15ULL) + 0x52dce729; };
    for (; i + 8 <= s.size(); i += 8) {
        uint64_t w;
        std::memcpy(&w, s.data() + i, 8);
        step(w);
    }
    if (i < s.size()) {
        uint64_t w = 0;
        std::memcpy(&w, s.data() + i, s.size() - i);
        step(w);
    }
    return mix64(h);
}

// Appends `part` whole when it fits in `max`, else its first bytes + '\x01' + 32 hex digits.
void append_part(KeyBuffer& out, std::string_view part, size_t max) {
    if (part.size() <= max) {
        if (!part.empty()) std::memcpy(out.data + out.size, part.data(), part.size());  // data() may be null
        out.size += part.size();
        return;
    }
    size_t keep = max - 33;
    std::memcpy(out.data + out.size, part.data(), keep);
    out.size += keep;
    out.data[out.size++] = '\x01';
    static constexpr char kHex[] = "0123456789abcdef";
    for (uint64_t h : {hash64(part, 0x5bd1e9955bd1e995ULL), hash64(part, 0x27d4eb2f165667c5ULL)})
        for (int shift = 60; shift >= 0; shift -= 4) out.data[out.size++] = kHex[(h >> shift) & 0xf];
}

}  // namespace

void make_stored_key(KeyBuffer& out, std::string_view primary, std::string_view variant) {
    out.size = 0;
    append_part(out, primary, kMaxStoredPrimary);
    out.data[out.size++] = '\0';
    append_part(out, variant, kMaxStoredVariant);
}

void make_stored_key(KeyBuffer& out, std::string_view object_key) {
    size_t nul = object_key.find('\0');
    if (nul == std::string_view::npos) return make_stored_key(out, object_key, {});
    make_stored_key(out, object_key.substr(0, nul), object_key.substr(nul + 1));
}

void put_be64(char* out, uint64_t v) {
    for (int i = 7; i >= 0; --i, v >>= 8) out[i] = static_cast<char>(v & 0xff);
}

uint64_t get_be64(const char* in) {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(in[i]);
    return v;
}

std::optional<uint64_t> get_meta_u64(MDB_txn* txn, MDB_dbi meta, std::string_view name) {
    MDB_val k = to_val(name), v;
    if (mdb_get(txn, meta, &k, &v) != 0 || v.mv_size != 8) return std::nullopt;
    return get_be64(static_cast<const char*>(v.mv_data));
}

int put_meta_u64(MDB_txn* txn, MDB_dbi meta, std::string_view name, uint64_t value) {
    char bytes[8];
    put_be64(bytes, value);
    MDB_val k = to_val(name), v{8, bytes};
    return mdb_put(txn, meta, &k, &v, 0);
}

std::optional<std::string> get_meta_string(MDB_txn* txn, MDB_dbi meta, std::string_view name) {
    MDB_val k = to_val(name), v;
    if (mdb_get(txn, meta, &k, &v) != 0) return std::nullopt;
    return std::string(to_view(v));
}

int put_meta_string(MDB_txn* txn, MDB_dbi meta, std::string_view name, std::string_view value) {
    MDB_val k = to_val(name), v = to_val(value);
    return mdb_put(txn, meta, &k, &v, 0);
}

uint64_t used_pages(MDB_txn* txn, const MDB_dbi* tables, size_t count) {
    uint64_t pages = 2;  // the two meta pages
    auto add = [&](MDB_dbi dbi) {
        MDB_stat st;
        if (mdb_stat(txn, dbi, &st) == 0) pages += st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages;
    };
    add(0);  // FREE_DBI: the free list's own pages
    add(1);  // MAIN_DBI: the table of named tables
    for (size_t i = 0; i < count; ++i) add(tables[i]);
    return pages;
}

uint64_t touch_below(MDB_txn* txn, MDB_dbi lru, uint64_t next_seq) {
    MDB_cursor* cursor = nullptr;
    if (mdb_cursor_open(txn, lru, &cursor) != 0) return next_seq;
    MDB_val k, v;
    uint64_t oldest = next_seq;
    if (mdb_cursor_get(cursor, &k, &v, MDB_FIRST) == 0 && k.mv_size == 8)
        oldest = get_be64(static_cast<const char*>(k.mv_data));
    mdb_cursor_close(cursor);
    // Three quarters of the way to the young end: everything but the youngest quarter is touched
    // when read. (At one half, a hot entry read only every few puts could sit just short of the
    // mark, then slip into an eviction step — 15% of the map, more after MDB_MAP_FULL — before
    // its next read; in small caches that happened.)
    return oldest + (next_seq - std::min(oldest, next_seq)) / 4 * 3;
}

std::string boot_id() {
    std::ifstream in("/proc/sys/kernel/random/boot_id");
    std::string id;
    std::getline(in, id);
    return id;
}

}  // namespace lmdb

// ---------------------------------------------------------------------------------------------
// Read transactions: a per-thread cache of reset ones, so a snapshot is mdb_txn_renew (no lock, no
// allocation: the reader slot is kept across reset under MDB_NOTLS).

namespace {

constexpr size_t kTxnsPerThread = 4;

std::atomic<uint64_t> g_next_store_id{1};
// Live stores by id, so a thread ending can hand its cached transactions back (and never touch
// those of a store already closed, which aborted them itself).
std::mutex g_stores_mutex;
std::unordered_map<uint64_t, Store*>& live_stores() {
    static std::unordered_map<uint64_t, Store*> stores;
    return stores;
}

}  // namespace

// A thread's reset read transactions, all of one store (identified by id, never by pointer, so a
// closed store's handles, which it aborted itself, are recognised and never touched).
struct ThreadTxnCache {
    uint64_t store_id = 0;
    MDB_txn* txns[kTxnsPerThread];
    size_t count = 0;
    ~ThreadTxnCache() {
        if (count > 0) Store::give_back(store_id, txns, count);
    }
};

namespace {
thread_local ThreadTxnCache t_txns;
}  // namespace

MDB_txn* Store::acquire_read_txn() const {
    ThreadTxnCache& cache = t_txns;
    while (cache.store_id == id_ && cache.count > 0) {
        MDB_txn* txn = cache.txns[--cache.count];
        if (mdb_txn_renew(txn) == 0) return txn;
        slow_release(txn);  // could not renew (environment failed): let the store dispose of it
    }
    return slow_acquire();
}

void Store::release_read_txn(MDB_txn* txn) const {
    mdb_txn_reset(txn);
    ThreadTxnCache& cache = t_txns;
    if (cache.store_id != id_ && cache.count > 0) {
        // The thread's cache belongs to another store (tests open several). If that store is gone
        // its handles were aborted at its close: forget them and adopt this store.
        std::lock_guard lock(g_stores_mutex);
        if (live_stores().count(cache.store_id) == 0) cache.count = 0;
    }
    if (cache.count == 0) cache.store_id = id_;
    if (cache.store_id == id_ && cache.count < kTxnsPerThread) {
        cache.txns[cache.count++] = txn;
        return;
    }
    slow_release(txn);
}

MDB_txn* Store::slow_acquire() const {
    std::lock_guard lock(txn_mutex_);
    while (!spare_txns_.empty()) {
        MDB_txn* txn = spare_txns_.back();
        spare_txns_.pop_back();
        if (mdb_txn_renew(txn) == 0) return txn;
        mdb_txn_abort(txn);
        std::erase(all_txns_, txn);
    }
    MDB_txn* txn = nullptr;
    if (mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn) != 0) return nullptr;  // e.g. MDB_READERS_FULL
    all_txns_.push_back(txn);
    return txn;
}

void Store::slow_release(MDB_txn* txn) const {
    std::lock_guard lock(txn_mutex_);
    // Beyond a few spares per thread, give the reader slot back.
    if (spare_txns_.size() < options_.max_readers / 4) {
        spare_txns_.push_back(txn);
        return;
    }
    mdb_txn_abort(txn);
    std::erase(all_txns_, txn);
}

void Store::give_back(uint64_t store_id, MDB_txn* const* txns, size_t count) {
    std::lock_guard lock(g_stores_mutex);
    auto it = live_stores().find(store_id);
    if (it == live_stores().end()) return;
    for (size_t i = 0; i < count; ++i) it->second->slow_release(txns[i]);
}

// ---------------------------------------------------------------------------------------------
// Snapshot

Snapshot::Snapshot(Snapshot&& other) noexcept : store_(other.store_), txn_(other.txn_) { other.txn_ = nullptr; }

Snapshot& Snapshot::operator=(Snapshot&& other) noexcept {
    if (this != &other) {
        release();
        store_ = other.store_;
        txn_ = other.txn_;
        other.txn_ = nullptr;
    }
    return *this;
}

void Snapshot::release() {
    if (txn_ != nullptr) store_->release_read_txn(txn_);
    txn_ = nullptr;
}

std::optional<std::string_view> Snapshot::get(std::string_view primary, std::string_view variant) const {
    if (txn_ == nullptr) return std::nullopt;
    lmdb::KeyBuffer key;
    lmdb::make_stored_key(key, primary, variant);
    MDB_val k = lmdb::to_val(key.view()), v;
    if (mdb_get(txn_, store_->objects_, &k, &v) != 0) return std::nullopt;
    return lmdb::to_view(v);
}

namespace {
// The value's own full key must be primary + '\0' + variant: a long key is stored hashed (and
// shares its slot with any colliding one), so this is what makes a hit a hit.
bool same_key(std::string_view object_key, std::string_view primary, std::string_view variant) {
    return object_key.size() == primary.size() + 1 + variant.size() &&
           object_key.compare(0, primary.size(), primary) == 0 && object_key[primary.size()] == '\0' &&
           object_key.compare(primary.size() + 1, variant.size(), variant) == 0;
}
}  // namespace

// Decodes straight into the caller's EntryView (copying a decoded record cost a store-forwarding
// stall per field: a good part of a lookup, measured).
bool Snapshot::decode(std::string_view value, std::string_view primary, std::string_view variant,
                      EntryView& out) const {
    if (!decode_entry(value, out) || !same_key(out.object_key, primary, variant)) return false;
    out.wants_touch = out.seq < store_->touch_below_.load(std::memory_order_relaxed);
    out.size = value.size();
    return true;
}

Lookup Snapshot::find(std::string_view primary) const {
    Lookup result;
    auto value = get(primary, {});
    if (!value) return result;
    switch (value_kind(*value)) {
        case ValueKind::entry:
            if (decode(*value, primary, {}, result.entry)) result.kind = Lookup::Kind::entry;
            break;
        case ValueKind::vary_marker:
            if (auto marker = decode_vary_marker(*value); marker && marker->primary == primary) {
                result.kind = Lookup::Kind::vary;
                result.vary_names = marker->names;
            }
            break;
        case ValueKind::unknown: break;
    }
    return result;
}

std::optional<EntryView> Snapshot::find_variant(std::string_view primary, std::string_view variant) const {
    std::optional<EntryView> result(std::in_place);
    auto value = get(primary, variant);
    if (!value || !decode(*value, primary, variant, *result)) result.reset();
    return result;
}

// ---------------------------------------------------------------------------------------------
// Store: open, recover, close

namespace {

std::string lmdb_error(std::string_view what, int rc) { return fmt::format("{}: {}", what, mdb_strerror(rc)); }

// mkdir -p; the last component gets 0700 (cached responses may be private to the service).
std::string make_directories(const std::string& path) {
    std::error_code ec;
    std::filesystem::path target(path);
    std::filesystem::path parent = target.parent_path();
    if (!parent.empty() && !std::filesystem::exists(parent, ec)) {
        std::filesystem::create_directories(parent, ec);
        if (ec) return fmt::format("cannot create {}: {}", parent.string(), ec.message());
    }
    if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST)
        return fmt::format("cannot create {}: {}", path, std::strerror(errno));
    return "";
}

}  // namespace

// Errors that say nothing about the file's contents: moving it aside would not help.
Store::Failure Store::classify(int rc) {
    switch (rc) {
        case EACCES: case EPERM: case EROFS: case ENOSPC: case ENOMEM: case EMFILE: case ENFILE: case EDQUOT:
        case MDB_READERS_FULL: case MDB_DBS_FULL:
            return Failure::fatal;
        default:
            return Failure::corrupt;
    }
}

Store::Store(StoreOptions options)
    : options_(std::move(options)), id_(g_next_store_id.fetch_add(1, std::memory_order_relaxed)) {}

Store::OpenResult Store::open(StoreOptions options) {
    std::unique_ptr<Store> store(new Store(std::move(options)));
    if (std::string error = store->open_environment(); !error.empty()) return {nullptr, std::move(error)};
    {
        std::lock_guard lock(g_stores_mutex);
        live_stores()[store->id_] = store.get();
    }
    return {std::move(store), ""};
}

Store::~Store() { close_environment(); }

void Store::log(std::string_view message) const {
    if (options_.log) {
        options_.log(message);
        return;
    }
    std::fprintf(stderr, "portico cache: %.*s\n", static_cast<int>(message.size()), message.data());
}

// Renames `file` to `<file>.corrupt-<unix time>` after deleting older such copies of it.
void Store::move_aside(const std::string& file, std::string_view reason) const {
    namespace fs = std::filesystem;
    std::error_code ec;
    fs::path target(file);
    std::string prefix = target.filename().string() + ".corrupt-";
    fs::path dir = target.parent_path().empty() ? fs::path(".") : target.parent_path();
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        std::error_code remove_ec;
        if (it->path().filename().string().starts_with(prefix) && !it->is_directory(remove_ec))
            fs::remove(it->path(), remove_ec);
    }
    std::string aside = fmt::format("{}{}", file + ".corrupt-", static_cast<long long>(std::time(nullptr)));
    if (::rename(file.c_str(), aside.c_str()) != 0) {
        log(fmt::format("{}: {}; cannot move it aside ({}), deleting it", file, reason, std::strerror(errno)));
        fs::remove(file, ec);
        return;
    }
    log(fmt::format("{}: {}; moved aside to {} and starting with an empty cache", file, reason, aside));
}

std::string Store::open_environment() {
    struct stat st {};
    if (::stat(options_.path.c_str(), &st) == 0) {
        if (!S_ISDIR(st.st_mode)) move_aside(options_.path, "not a directory");
    } else if (errno != ENOENT) {
        return fmt::format("cannot use {}: {}", options_.path, std::strerror(errno));
    }
    if (std::string error = make_directories(options_.path); !error.empty()) return error;

    long page = ::sysconf(_SC_PAGESIZE);
    page_size_ = page > 0 ? static_cast<size_t>(page) : 4096;
    uint64_t wanted = std::max<uint64_t>(options_.max_size, 64 * page_size_);
    map_bytes_ = (wanted + page_size_ - 1) / page_size_ * page_size_;

    Attempt first = try_open();
    if (first.failure == Failure::none) return "";
    if (first.failure == Failure::fatal) return first.reason;
    std::string data = options_.path + "/data.mdb", lock = options_.path + "/lock.mdb";
    move_aside(data, first.reason);
    ::unlink(lock.c_str());  // holds no data; LMDB rebuilds it
    Attempt second = try_open();
    return second.failure == Failure::none ? "" : second.reason;
}

Store::Attempt Store::try_open() {
    MDB_env* env = nullptr;
    if (int rc = mdb_env_create(&env); rc != 0) return {Failure::fatal, lmdb_error("mdb_env_create", rc)};
    mdb_env_set_maxdbs(env, 8);
    mdb_env_set_maxreaders(env, options_.max_readers);
    mdb_env_set_mapsize(env, map_bytes_);
    // NOTLS: read transactions belong to snapshots, not threads. NOSYNC: commits reach the page
    // cache (so a kill -9 loses nothing committed) and the writer syncs about once a second.
    // NORDAHEAD: lookups are random; read-ahead would only evict useful pages.
    unsigned flags = MDB_NOTLS | MDB_NOSYNC | MDB_NORDAHEAD;
    if (int rc = mdb_env_open(env, options_.path.c_str(), flags, 0600); rc != 0) {
        mdb_env_close(env);
        return {classify(rc), lmdb_error("cannot open the LMDB environment", rc)};
    }
    int dead = 0;
    mdb_reader_check(env, &dead);  // reader slots of killed processes

    MDB_envinfo info{};
    MDB_stat env_stat{};
    mdb_env_info(env, &info);
    mdb_env_stat(env, &env_stat);
    page_size_ = env_stat.ms_psize;
    map_bytes_ = info.me_mapsize;  // LMDB keeps a larger map when the file already holds more
    struct stat file {};
    std::string data = options_.path + "/data.mdb";
    // A file shorter than its last used page would fault (SIGBUS) on first touch of the missing part.
    if (::stat(data.c_str(), &file) == 0 &&
        static_cast<uint64_t>(file.st_size) < (static_cast<uint64_t>(info.me_last_pgno) + 1) * page_size_) {
        mdb_env_close(env);
        return {Failure::corrupt, "the data file is truncated"};
    }

    MDB_txn* txn = nullptr;
    if (int rc = mdb_txn_begin(env, nullptr, 0, &txn); rc != 0) {
        mdb_env_close(env);
        return {classify(rc), lmdb_error("cannot begin a write transaction", rc)};
    }
    auto fail = [&](Failure failure, std::string reason) {
        mdb_txn_abort(txn);
        mdb_env_close(env);
        return Attempt{failure, std::move(reason)};
    };
    struct Table { const char* name; unsigned flags; MDB_dbi* dbi; } tables[] = {
        {"objects", MDB_CREATE, &objects_},
        {"tags", MDB_CREATE | MDB_DUPSORT, &tags_},
        {"lru", MDB_CREATE, &lru_},
        {"meta", MDB_CREATE, &meta_},
    };
    for (const Table& t : tables)
        if (int rc = mdb_dbi_open(txn, t.name, t.flags, t.dbi); rc != 0)
            return fail(classify(rc), lmdb_error(fmt::format("cannot open table {}", t.name), rc));

    auto format = lmdb::get_meta_u64(txn, meta_, "format");
    if (!format) {
        MDB_stat objects{}, main{};
        mdb_stat(txn, objects_, &objects);
        mdb_stat(txn, 1, &main);
        if (objects.ms_entries > 0 || main.ms_entries > std::size(tables))
            return fail(Failure::corrupt, "not a Portico cache (no format record)");
        lmdb::put_meta_u64(txn, meta_, "format", lmdb::kStoreFormat);
    } else if (*format != lmdb::kStoreFormat) {
        return fail(Failure::corrupt, fmt::format("cache format {}, this build reads {}", *format, lmdb::kStoreFormat));
    }
    std::string boot = lmdb::boot_id();
    auto clean = lmdb::get_meta_u64(txn, meta_, "clean");
    auto last_boot = lmdb::get_meta_string(txn, meta_, "boot_id");
    if (clean && *clean == 0 && last_boot && !last_boot->empty() && !boot.empty() && *last_boot != boot)
        return fail(Failure::corrupt, "not closed cleanly before the machine restarted (MDB_NOSYNC: it may be torn)");
    lmdb::put_meta_string(txn, meta_, "boot_id", boot);
    lmdb::put_meta_u64(txn, meta_, "clean", 0);

    uint64_t next_seq = lmdb::get_meta_u64(txn, meta_, "next_seq").value_or(1);
    counters_.entries = lmdb::get_meta_u64(txn, meta_, "entries").value_or(0);
    counters_.bytes = lmdb::get_meta_u64(txn, meta_, "bytes").value_or(0);
    touch_below_ = lmdb::touch_below(txn, lru_, next_seq);
    MDB_dbi all[] = {objects_, tags_, lru_, meta_};
    counters_.used_bytes = lmdb::used_pages(txn, all, std::size(all)) * page_size_;
    if (int rc = mdb_txn_commit(txn); rc != 0) {
        mdb_env_close(env);
        return {classify(rc), lmdb_error("cannot commit at open", rc)};
    }
    mdb_env_sync(env, 1);  // the "not clean" mark must be on disk before anything else is
    env_ = env;
    return {};
}

void Store::close_environment() {
    if (env_ == nullptr) return;
    {
        std::lock_guard lock(g_stores_mutex);
        live_stores().erase(id_);
    }
    {
        std::lock_guard lock(txn_mutex_);
        for (MDB_txn* txn : all_txns_) mdb_txn_abort(txn);
        all_txns_.clear();
        spare_txns_.clear();
    }
    // Everything is written (the Writer is gone): sync, then mark the file cleanly closed.
    mdb_env_sync(env_, 1);
    MDB_txn* txn = nullptr;
    if (mdb_txn_begin(env_, nullptr, 0, &txn) == 0) {
        lmdb::put_meta_u64(txn, meta_, "clean", 1);
        if (mdb_txn_commit(txn) == 0) mdb_env_sync(env_, 1);
    }
    mdb_env_close(env_);
    env_ = nullptr;
}

Snapshot Store::snapshot() const {
    if (env_ == nullptr) return {};
    MDB_txn* txn = acquire_read_txn();
    if (txn == nullptr) return {};
    return Snapshot(this, txn);
}

StoreStats Store::stats() const {
    auto get = [](const std::atomic<uint64_t>& a) { return a.load(std::memory_order_relaxed); };
    StoreStats s;
    s.entries = get(counters_.entries);
    s.bytes = get(counters_.bytes);
    s.map_bytes = map_bytes_;
    s.used_bytes = get(counters_.used_bytes);
    s.puts = get(counters_.puts);
    s.put_failures = get(counters_.put_failures);
    s.too_large = get(counters_.too_large);
    s.queue_full = get(counters_.queue_full);
    s.map_full = get(counters_.map_full);
    s.evictions = get(counters_.evictions);
    s.purged = get(counters_.purged);
    s.refreshes = get(counters_.refreshes);
    s.touches = get(counters_.touches);
    s.write_errors = get(counters_.write_errors);
    return s;
}

}  // namespace portico::cache
