// Metrics primitives: per-thread blocks of counters and fixed-bucket latency histograms that the
// request path writes without locks, and a Registry that sums every block when the admin port asks.
//
// Each thread (proxy worker, main loop, cache writer…) writes only its own ThreadMetrics block.
// A write is a relaxed load + store of an std::atomic<uint64_t> — on x86-64 and ARM64 a plain
// load/add/store, no lock prefix — and the admin side reads the same cells with relaxed loads, so
// ThreadSanitizer sees no race and the request path never waits. Labelled series are indexed by
// small integers (interned route patterns × status-code slots), so cardinality is bounded by
// construction: never by the raw request path.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "conf/schema.hpp"

namespace portico::core::metrics {

// ---- single-writer cells -------------------------------------------------------------------

// A monotonically increasing count, written by one thread (the block's owner) and read by any.
class Counter {
public:
    void inc(uint64_t n = 1) {
        value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }
    uint64_t value() const { return value_.load(std::memory_order_relaxed); }

private:
    std::atomic<uint64_t> value_{0};
};

// A current value (entries, bytes, generation), set by one thread and read by any.
class Gauge {
public:
    void set(uint64_t v) { value_.store(v, std::memory_order_relaxed); }
    uint64_t value() const { return value_.load(std::memory_order_relaxed); }

private:
    std::atomic<uint64_t> value_{0};
};

// ---- labels --------------------------------------------------------------------------------

// A route pattern interned by the Registry ("/api/*" → 3). Ids are never reused, so a reload that
// reorders or removes patterns keeps every series' label right.
using RouteId = uint16_t;
constexpr size_t kMaxRoutes = 128;                              // distinct patterns tracked
constexpr RouteId kOtherRoute = static_cast<RouteId>(kMaxRoutes);  // patterns beyond kMaxRoutes
constexpr size_t kRouteSlots = kMaxRoutes + 1;
constexpr std::string_view kOtherRouteLabel = "(other)";

// Status codes with a series of their own: the registered codes an app or Portico plausibly sends.
// Any other code is counted in its class ("2xx"); codes outside 100..599 in "other".
constexpr std::array<uint16_t, 51> kTrackedCodes = {
    100, 101, 103,                                                       //
    200, 201, 202, 203, 204, 205, 206, 207,                              //
    300, 301, 302, 303, 304, 307, 308,                                   //
    400, 401, 402, 403, 404, 405, 406, 407, 408, 409, 410, 411, 412, 413, 414, 415, 416, 417,
    421, 422, 425, 426, 428, 429, 431, 451,                              //
    500, 501, 502, 503, 504, 505, 507};
constexpr size_t kClassSlotBase = kTrackedCodes.size();  // slots for "1xx".."5xx"
constexpr size_t kOtherCodeSlot = kClassSlotBase + 5;    // outside 100..599
constexpr size_t kCodeSlots = kOtherCodeSlot + 1;

namespace detail {
constexpr std::array<uint8_t, 600> make_code_slots() {
    std::array<uint8_t, 600> slots{};
    for (size_t code = 0; code < slots.size(); ++code) {
        slots[code] = code < 100 ? static_cast<uint8_t>(kOtherCodeSlot)
                                 : static_cast<uint8_t>(kClassSlotBase + code / 100 - 1);
    }
    for (size_t i = 0; i < kTrackedCodes.size(); ++i) slots[kTrackedCodes[i]] = static_cast<uint8_t>(i);
    return slots;
}
inline constexpr std::array<uint8_t, 600> kCodeSlotTable = make_code_slots();
}  // namespace detail

// The slot that counts `status`: one table lookup.
constexpr size_t code_slot(int status) {
    return status >= 0 && status < 600 ? detail::kCodeSlotTable[static_cast<size_t>(status)] : kOtherCodeSlot;
}
// The `code` label of a slot: "200", "2xx" (an untracked 2xx code) or "other".
std::string_view code_label(size_t slot);
// 1..5 for the status class a slot belongs to; 0 for "other".
int code_class(size_t slot);

// ---- histograms ----------------------------------------------------------------------------

// Upper bounds (seconds) of the request-duration buckets, Prometheus's `le`; +Inf follows them.
constexpr std::array<double, 14> kDurationBounds = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                    0.1,    0.25,  0.5,    1,     2.5,   5,     10};
constexpr size_t kDurationBuckets = kDurationBounds.size() + 1;  // the last one is +Inf

namespace detail {
constexpr std::array<uint64_t, kDurationBounds.size()> make_bounds_ns() {
    std::array<uint64_t, kDurationBounds.size()> ns{};
    for (size_t i = 0; i < ns.size(); ++i) ns[i] = static_cast<uint64_t>(kDurationBounds[i] * 1e9 + 0.5);
    return ns;
}
inline constexpr std::array<uint64_t, kDurationBounds.size()> kDurationBoundsNs = make_bounds_ns();
}  // namespace detail

// One single-writer histogram: per-bucket (not cumulative) counts and the sum in nanoseconds.
class Histogram {
public:
    void observe_ns(uint64_t ns) {
        size_t i = 0;
        while (i < detail::kDurationBoundsNs.size() && ns > detail::kDurationBoundsNs[i]) ++i;
        buckets_[i].inc();
        sum_ns_.inc(ns);
    }
    void observe(double seconds) { observe_ns(seconds <= 0 ? 0 : static_cast<uint64_t>(seconds * 1e9)); }

    uint64_t bucket(size_t i) const { return buckets_[i].value(); }
    uint64_t sum_ns() const { return sum_ns_.value(); }

private:
    std::array<Counter, kDurationBuckets> buckets_;
    Counter sum_ns_;
};

// A histogram's figures at one moment, possibly summed over threads.
struct HistogramSnapshot {
    std::array<uint64_t, kDurationBuckets> counts{};  // per bucket, not cumulative; last is +Inf
    uint64_t sum_ns = 0;

    void add(const Histogram& h);
    void add(const HistogramSnapshot& h);
    uint64_t count() const;
    double sum_seconds() const { return static_cast<double>(sum_ns) / 1e9; }
    // Cumulative count of observations <= kDurationBounds[i] (i == kDurationBounds.size(): all).
    uint64_t cumulative(size_t i) const;
    // The q-quantile (0 < q <= 1) in seconds, estimated as Prometheus's histogram_quantile does:
    // linear interpolation inside the bucket that holds the rank; a rank in the +Inf bucket
    // answers the highest finite bound. nullopt when nothing was observed.
    std::optional<double> quantile(double q) const;
};

// ---- per-route series ----------------------------------------------------------------------

namespace detail {
constexpr RouteId clamp_route(RouteId route) { return route < kRouteSlots ? route : kOtherRoute; }
}  // namespace detail

// Requests by route and status code: `http_requests.inc(route, 200)`.
class RouteCodeCounters {
public:
    void inc(RouteId route, int status) { cells_[detail::clamp_route(route)][code_slot(status)].inc(); }
    uint64_t value(RouteId route, size_t slot) const { return cells_[route][slot].value(); }

private:
    std::array<std::array<Counter, kCodeSlots>, kRouteSlots> cells_;
};

// A latency histogram per route: `request_duration.observe(route, seconds)`.
class RouteHistograms {
public:
    void observe(RouteId route, double seconds) { cells_[detail::clamp_route(route)].observe(seconds); }
    void observe_ns(RouteId route, uint64_t ns) { cells_[detail::clamp_route(route)].observe_ns(ns); }
    const Histogram& at(RouteId route) const { return cells_[route]; }

private:
    std::array<Histogram, kRouteSlots> cells_;
};

// One count per route: `ratelimit_rejected.inc(route)`.
class RouteCounters {
public:
    void inc(RouteId route, uint64_t n = 1) { cells_[detail::clamp_route(route)].inc(n); }
    uint64_t value(RouteId route) const { return cells_[route].value(); }

private:
    std::array<Counter, kRouteSlots> cells_;
};

// ---- the blocks ----------------------------------------------------------------------------

// One counter per upstream decision or failure (proxy/upstream_*.cpp).
struct UpstreamCounters {
    Counter connects;          // new connections opened (TCP or Unix socket)
    Counter reuses;            // requests sent on an idle keep-alive connection
    Counter connect_failed;    // refused, unreachable, no such socket
    Counter connect_timeouts;  // upstream.connect_timeout elapsed
    Counter read_timeouts;     // no response head within the route's timeout
    Counter queue_timeouts;    // upstream.max_connections reached for queue_timeout (503)
    Counter closed;            // closed or reset before or during the response
    Counter bad_responses;     // unparseable response
    Counter write_failed;      // the request could not be written
};

// Why a response went past the cache: RFC 9211 Cache-Status detail tokens (cache::detail_token)
// plus the proxy's own ("route": caching off for the route or a method the cache never answers;
// "too-large": above cache.max_object_size; "incomplete": a body that ends at connection close).
// Anything else counts as "other", the last slot.
constexpr std::array<std::string_view, 13> kBypassReasons = {
    "method",        "status",      "request-no-store", "no-store",  "private", "authorization", "set-cookie",
    "vary-star",     "no-freshness", "too-large",       "incomplete", "route",   "other"};
constexpr size_t bypass_reason_slot(std::string_view reason) {
    for (size_t i = 0; i + 1 < kBypassReasons.size(); ++i) {
        if (kBypassReasons[i] == reason) return i;
    }
    return kBypassReasons.size() - 1;
}

// The response cache's decisions; the admin port exports them once the process says the cache is
// active (Registry::set_cache_active).
struct CacheCounters {
    Counter hits;             // served from the store, fresh
    Counter misses;           // not in the store: fetched from the upstream
    Counter stale;            // served stale (stale-while-revalidate / stale-if-error)
    Counter revalidated;      // a stored entry confirmed by a 304 from the upstream
    Counter expired;          // stored but expired and refetched in full
    Counter bypass;           // not cacheable (method, Authorization, no-store…)
    std::array<Counter, kBypassReasons.size()> bypass_by_reason;  // the same, by kBypassReasons slot
    Counter coalesced_waits;  // requests that waited for an in-flight fetch of the same key
    Counter stores;           // responses written to the store
    Counter evictions;        // entries removed to stay under max_size
    Counter purged;           // entries removed by purge / clear / invalidation
    Counter bytes_served;     // response bytes (head and body) answered from the store
    Gauge entries;            // set by the single cache writer thread only
    Gauge bytes;              // likewise
};

// Why a response went out uncompressed, in the order of proxy/compression.hpp's CompressionSkip:
// compression off for the route, the client does not accept gzip/deflate, a HEAD, a bodiless status
// (1xx, 204, 304), a range (206), already content-coded, Cache-Control: no-transform, a type outside
// compression.types, a length below compression.min_size.
constexpr std::array<std::string_view, 9> kCompressionSkipReasons = {
    "off", "not-accepted", "head", "status", "range", "encoded", "no-transform", "type", "too-small"};

// The compression stage's decisions (proxy/compression.cpp) and what they saved.
struct CompressionCounters {
    Counter gzip;     // responses compressed with gzip
    Counter deflate;  // with deflate (only clients that ask for it by name)
    std::array<Counter, kCompressionSkipReasons.size()> skipped;  // left alone, by reason
    Counter bytes_in;   // body bytes before compression, of the responses compressed
    Counter bytes_out;  // the same bodies compressed (bytes saved = in − out)
};

// The static stage's decisions (proxy/static_stage.cpp) beyond the answers' status codes, and the
// worker's open-file cache.
struct StaticCounters {
    Counter open_cache_hits;     // an opening reused, younger than the validity period
    Counter open_cache_misses;   // opened: never before, or evicted since
    Counter open_cache_expired;  // opened again: the earlier opening was older than the validity period
    Gauge open_cache_entries;    // openings held now by this thread's cache
    Gauge open_cache_evictions;  // least recently used openings dropped at capacity, so far
    Counter precompressed;       // answers from a .gz sibling
    Counter fallback;            // misses handed to the app (`fallback: upstream`)
    Counter bytes_sent;          // file bytes sent (sendfile)
};

// Everything one thread counts. Allocated by the Registry and never freed before it, so a worker
// keeps a plain reference: `ThreadMetrics& m = registry.register_thread();`.
struct alignas(64) ThreadMetrics {
    RouteCodeCounters http_requests;    // answered requests, by route and status code
    RouteHistograms request_duration;   // request head received → response fully written
    RouteCounters ratelimit_allowed;    // requests a route's rate_limit let through (a token taken)
    RouteCounters ratelimit_rejected;   // 429s from rate_limit
    RouteCounters ratelimit_dry_run;    // would have been rejected; `dry_run: true` let them through
    RouteCodeCounters static_responses;  // answers of the static stage, by route and status code
    StaticCounters static_files;
    UpstreamCounters upstream;
    CacheCounters cache;
    CompressionCounters compression;
};

// Figures the main thread alone writes (reload runs there, for SIGHUP and POST /reload alike).
struct ProcessCounters {
    Counter config_reloads_ok;
    Counter config_reloads_error;
    Gauge config_generation;
};

// ---- snapshots -----------------------------------------------------------------------------

struct UpstreamTotals {
    uint64_t connects = 0, reuses = 0, connect_failed = 0, connect_timeouts = 0, read_timeouts = 0,
             queue_timeouts = 0, closed = 0, bad_responses = 0, write_failed = 0;
    void add(const UpstreamCounters& c);
};

struct CacheTotals {
    std::array<uint64_t, kBypassReasons.size()> bypass_by_reason{};
    uint64_t hits = 0, misses = 0, stale = 0, revalidated = 0, expired = 0, bypass = 0,
             coalesced_waits = 0, stores = 0, evictions = 0, purged = 0, entries = 0, bytes = 0,
             bytes_served = 0;
    void add(const CacheCounters& c);
    // Answers served from the store (hits, stale, revalidated) over lookups that could have been;
    // nullopt before the first lookup.
    std::optional<double> hit_ratio() const;
};

struct CompressionTotals {
    uint64_t gzip = 0, deflate = 0, bytes_in = 0, bytes_out = 0;
    std::array<uint64_t, kCompressionSkipReasons.size()> skipped{};
    void add(const CompressionCounters& c);
    uint64_t compressed() const { return gzip + deflate; }
    uint64_t bytes_saved() const { return bytes_in > bytes_out ? bytes_in - bytes_out : 0; }
};

struct StaticTotals {
    uint64_t open_cache_hits = 0, open_cache_misses = 0, open_cache_expired = 0, open_cache_entries = 0,
             open_cache_evictions = 0, precompressed = 0, fallback = 0, bytes_sent = 0;
    void add(const StaticCounters& c);
};

struct RouteSnapshot {
    std::string pattern;  // the configured pattern, or "(other)"
    RouteId id = 0;
    std::array<uint64_t, kCodeSlots> codes{};
    HistogramSnapshot duration;
    uint64_t ratelimit_allowed = 0;
    uint64_t ratelimit_rejected = 0;
    uint64_t ratelimit_dry_run = 0;
    std::array<uint64_t, kCodeSlots> static_codes{};  // answers of the static stage

    uint64_t requests() const;
    uint64_t static_responses() const;
    uint64_t by_class(int status_class) const;  // 1..5; 0 = codes outside 100..599
};

// Process figures from /proc/self and getrusage.
struct ProcessFigures {
    uint64_t resident_memory_bytes = 0;
    uint64_t open_fds = 0;
    double cpu_seconds = 0;
    double uptime_seconds = 0;
    double start_time_seconds = 0;  // Unix time
};

// `start_wall` is the Unix time the process started, `start_mono_ns` the same moment on uv_hrtime.
ProcessFigures read_process_figures(double start_wall, uint64_t start_mono_ns);

struct Snapshot {
    std::vector<RouteSnapshot> routes;  // every interned route, in interning order
    UpstreamTotals upstream;
    bool cache_active = false;
    CacheTotals cache;
    CompressionTotals compression;
    StaticTotals static_files;
    uint64_t config_reloads_ok = 0;
    uint64_t config_reloads_error = 0;
    uint64_t config_generation = 0;
    ProcessFigures process;
    size_t threads = 0;  // blocks summed

    // Sums over routes.
    uint64_t requests() const;
    uint64_t requests_by_class(int status_class) const;
    uint64_t ratelimit_allowed() const;
    uint64_t ratelimit_rejected() const;
    uint64_t ratelimit_dry_run() const;
};

// ---- the registry --------------------------------------------------------------------------

class Registry {
public:
    Registry();
    Registry(const Registry&) = delete;
    Registry& operator=(const Registry&) = delete;

    // A new block for the calling thread (call once per thread, off the request path). The block
    // lives as long as the registry, so figures of a thread that ended still count.
    ThreadMetrics& register_thread();

    // Main thread only.
    ProcessCounters& process() { return process_; }

    // The id of a route pattern (takes a lock: call at config load, not per request). The first
    // kMaxRoutes patterns get their own id; later ones share kOtherRoute.
    RouteId intern_route(std::string_view pattern);
    // One id per entry of `routes`, in the same order: index it with the matched route's position
    // in Config::routes. Recompute after each reload (a worker does so when its generation moves).
    std::vector<RouteId> intern_routes(const std::vector<conf::Route>& routes);

    // The cache part says it runs, so its counters are real figures worth exporting.
    void set_cache_active(bool active) { cache_active_.store(active, std::memory_order_relaxed); }

    // Sums every block; reads /proc/self. Safe from any thread, any time.
    Snapshot snapshot() const;

private:
    mutable std::mutex mutex_;  // guards blocks_ and routes_, never taken on the request path
    std::vector<std::unique_ptr<ThreadMetrics>> blocks_;
    std::vector<std::string> routes_;  // index = RouteId
    ProcessCounters process_;
    std::atomic<bool> cache_active_{false};
    double start_wall_;
    uint64_t start_mono_ns_;
};

}  // namespace portico::core::metrics
