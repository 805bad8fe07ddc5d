// The cache's place in a request's way through the proxy (DESIGN.md step 5 and the store half of
// step 6): the process-wide cache runtime, and the small pure pieces the connection state machine
// calls — field views of a head, the stored head block, the lookup with Vary, the X-Cache and
// Cache-Status lines. The decisions themselves are RFC 9111 rules in cache/policy.hpp.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "cache/coalescer.hpp"
#include "cache/key.hpp"
#include "cache/policy.hpp"
#include "cache/store.hpp"
#include "cache/writer.hpp"
#include "conf/schema.hpp"
#include "proxy/http_message.hpp"

namespace portico::proxy {

// Keys an unsafe request invalidated whose removal the writer has not committed yet. A client that
// POSTs and then GETs the same URI must not be served the entry its POST invalidated, even if the
// GET arrives before the commit (read-your-writes); lookups treat these keys as misses. Empty in
// the common case, where a lookup pays one relaxed atomic load.
class PendingRemovals {
public:
    void add(const std::string& primary);
    void committed(const std::string& primary);
    bool contains(std::string_view primary) const;

private:
    std::atomic<uint64_t> count_{0};
    mutable std::mutex mutex_;
    std::unordered_map<std::string, uint32_t> keys_;  // key → removals in flight
};

// Everything the workers share for caching: the LMDB store, its single writer, the coalescer.
// Opened once at start; a reload that changes cache.path or cache.max_size logs that it needs a
// restart (LMDB maps are not resized under live readers).
struct CacheRuntime {
    std::unique_ptr<cache::Store> store;
    std::unique_ptr<cache::Writer> writer;  // declared after store: destroyed first
    cache::Coalescer coalescer;
    PendingRemovals pending_removals;
    std::string path;
    uint64_t max_size = 0;
    // Bytes of response bodies being copied for the store right now, across all workers. Many
    // concurrent large misses must not hold gigabytes: past kFillBudget a new piece stops that
    // copy (the response still streams to its client, it is just not stored).
    static constexpr uint64_t kFillBudget = 256ull << 20;
    std::atomic<uint64_t> filling{0};

    // The largest body that will really be stored: cache.max_object_size, but never more than an
    // eighth of the map (the writer refuses larger ones, so a "stored" promise must not exceed it).
    uint64_t object_limit(uint64_t configured) const { return std::min(configured, max_size / 8); }

    ~CacheRuntime();
};

// The copy of a response on its way into the store: the entry plus its claim on the process's
// fill budget, given back when the copy is handed to the writer or dropped.
class StoreFill {
public:
    StoreFill() = default;
    StoreFill(CacheRuntime& runtime, std::unique_ptr<cache::EntryToStore> entry, uint64_t max_object_size)
        : runtime_(&runtime), entry_(std::move(entry)), max_object_size_(max_object_size) {}
    ~StoreFill() { drop(); }
    StoreFill(StoreFill&& other) noexcept { *this = std::move(other); }
    StoreFill& operator=(StoreFill&& other) noexcept;

    explicit operator bool() const { return entry_ != nullptr; }
    // Appends a body piece; false (and the copy is dropped) past max_object_size or the budget.
    bool append(std::string_view data);
    // The finished entry for Writer::put; the budget is released (the writer bounds its own queue).
    cache::EntryToStore take();
    void drop();

private:
    CacheRuntime* runtime_ = nullptr;
    std::unique_ptr<cache::EntryToStore> entry_;
    uint64_t max_object_size_ = 0;
    uint64_t reserved_ = 0;
};

// Invalidates every variant of `primary` (RFC 9111 §4.4); lookups miss it from now on, not only
// once the writer has committed the removal.
void invalidate(CacheRuntime& runtime, std::string primary);

// nullptr (logged) when the cache is disabled or cannot be opened: the proxy then runs uncached.
std::unique_ptr<CacheRuntime> open_cache(const conf::CacheConfig& config);

// Header views of a parsed head, for the cache/ functions (which know no proxy types).
void collect_fields(const MessageHead& head, std::vector<cache::HeaderField>& out);

// The route's cache settings as cache/ wants them.
cache::RoutePolicyView route_policy(const conf::Route& route);
cache::KeyOptions key_options(const conf::CacheConfig& config);

// "Name: value\r\n" lines to keep with a stored response: everything the client would get from
// the upstream's head except framing and hop-by-hop fields, Portico-only fields, Age (computed per
// hit), the upstream's X-Request-ID and Server-Timing (they belong to the first exchange) and
// fields a qualified `private` names.
void build_stored_head(std::string& out, const MessageHead& response, const cache::CacheControl& directives);
// The same for a head given as field views (a stored head merged with a 304, RFC 9111 §4.3.4).
void build_stored_head(std::string& out, cache::HeaderList fields);

// "If-None-Match: …\r\nIf-Modified-Since: …\r\n" from a stored head's ETag / Last-Modified (RFC
// 9111 §4.3.1), appended to `out`; `scratch` is reused for the parsed fields.
void append_validators(std::string& out, std::string_view stored_head, std::vector<cache::HeaderField>& scratch);

// The primary key of a request: scheme http (Portico's listener), Host or the absolute-form
// authority, the normalised target.
void request_primary_key(std::string& out, const MessageHead& request, const cache::KeyOptions& options);

struct Found {
    std::optional<cache::EntryView> entry;
    bool varies = false;  // the resource has variants; `variant` is this request's secondary key
};
// Looks `primary` up, following a Vary marker to this request's variant (computed into `variant`).
Found find_entry(const cache::Snapshot& snapshot, std::string_view primary, cache::HeaderList request,
                 std::string& variant);

// Whether the upstream's `response` to a GET is stored: `entry` holds everything but the body when
// it is, else `detail` says why not (RFC 9211 Cache-Status detail: "no-store", "too-large"…).
struct StorePlan {
    std::unique_ptr<cache::EntryToStore> entry;
    std::string_view detail;
};
StorePlan plan_store(std::string_view method, const MessageHead& response, cache::HeaderList request,
                     cache::HeaderList response_fields, const cache::RoutePolicyView& route, cache::Instant request_time,
                     cache::Instant response_time, uint64_t max_object_size, std::string_view primary);

// An upstream 304 answering our revalidation of a stored response (RFC 9111 §4.3.4): the merged
// head block and its new facts, or nullopt when the 304 does not select the stored response.
struct Refreshed {
    std::string head;
    cache::EntryFacts facts;
};
std::optional<Refreshed> refresh_with_304(std::string_view stored_head, int stored_status,
                                          cache::HeaderList not_modified, const cache::RoutePolicyView& route,
                                          cache::Instant request_time, cache::Instant response_time);

// Wall-clock time in whole seconds, HTTP's resolution.
cache::Instant wall_now();

// What the client is told about the cache's part in its response.
enum class XCache : unsigned char { hit, miss, stale, revalidated, bypass, expired };
std::string_view x_cache_name(XCache x);

// Appends "X-Cache: …\r\nCache-Status: portico; …\r\n" (RFC 9211). `params` is the Cache-Status
// parameter list after "portico; " ("hit", "fwd=uri-miss; stored", "fwd=bypass; detail=no-store").
void append_cache_lines(std::string& out, XCache x, std::string_view params);

}  // namespace portico::proxy
