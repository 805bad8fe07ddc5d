// RFC 9111 rules for Portico's shared cache as free functions: whether to store a response, how
// long it is fresh, how old it is, what a request asks of the cache, and whether a stored entry may
// answer it. Time is always a parameter (an injected clock); nothing here does I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "cache/cache_control.hpp"
#include "cache/headers_view.hpp"
#include "cache/http_date.hpp"

namespace portico::cache {

// The route's cache settings, as plain values (the proxy fills it from conf::RouteCache, so cache/
// does not depend on conf/). Durations are whole seconds; convert with duration_cast (floor).
struct RoutePolicyView {
    // INTERFACE.md `cache.ttl`: 0 = obey the upstream only. Otherwise the freshness lifetime used
    // when the upstream gives no explicit one (see freshness_lifetime); it makes such responses
    // storable but never overrides no-store, private, Set-Cookie, Authorization or Vary: *.
    Seconds ttl{0};
    // Route defaults for RFC 5861 windows, used when the response carries no directive of its own.
    std::optional<Seconds> stale_while_revalidate;
    std::optional<Seconds> stale_if_error;
    // Store responses carrying Set-Cookie (DESIGN.md: "unless a route explicitly says so"). There is
    // no config key for it yet; false keeps the default.
    bool store_set_cookie = false;
};

// ---- storing (RFC 9111 §3) ----

enum class NotStored : unsigned char {
    none,              // stored
    method,            // only GET responses are stored (HEAD is answered from the stored GET)
    status,            // not final, 206/304, or not understood with must-understand (§3, §5.2.2.3)
    request_no_store,  // request Cache-Control: no-store (§5.2.1.5)
    no_store,          // response no-store (§5.2.2.5)
    private_,          // response private, unqualified (§5.2.2.7)
    authorization,     // request Authorization without public / s-maxage / must-revalidate (§3.5)
    set_cookie,        // Set-Cookie, and the route does not allow storing it
    vary_star,         // Vary: * can never be matched (§4.1)
    no_freshness,      // nothing makes it reusable: no lifetime, no route ttl, no heuristic, no validator
};

// The RFC 9211 Cache-Status `detail=` token for a reason ("no-store", "set-cookie", …); "" for none.
std::string_view detail_token(NotStored reason);


// Status codes heuristically cacheable by default (RFC 9110 §15.1; RFC 9111 §4.2.2).
bool heuristically_cacheable(int status);
// Status codes whose caching semantics Portico implements (used with must-understand, §5.2.2.3).
bool status_understood(int status);

// A field named by a qualified `private="…"` must not be stored (§5.2.2.7): the store drops it.
bool excluded_from_storage(const CacheControl& response_directives, std::string_view field_name);

// ---- freshness (RFC 9111 §4.2.1, §4.2.2) ----

enum class FreshnessSource : unsigned char { s_maxage, max_age, expires, route_ttl, heuristic, none };

struct Freshness {
    Seconds lifetime{0};
    FreshnessSource source = FreshnessSource::none;
};

// Cap on the heuristic lifetime (10% of Date - Last-Modified): one day, so a file untouched for a
// year is not served for five weeks without asking.
inline constexpr Seconds kHeuristicCap{86400};

// First match wins:
//   1. s-maxage (shared caches, §5.2.2.10)    2. max-age (§5.2.2.1)
//   3. Expires - Date (§5.3; an invalid Expires is in the past; ignored when a targeted field
//      governs, RFC 9213 §2.2; Date missing or invalid → response_time)
//   4. the route's cache.ttl when > 0: the upstream gave no explicit lifetime, and an operator's
//      ttl is a better guess than a heuristic ("cache.ttl overrides freshness where the upstream is
//      silent", issue 3)
//   5. heuristic (§4.2.2): 10% of Date - Last-Modified, capped at kHeuristicCap, only for
//      heuristically cacheable statuses or responses marked `public`
//   6. none: lifetime 0.
Freshness freshness_lifetime(const EffectiveCacheControl& cc, HeaderList response, int status, Seconds route_ttl,
                             Instant response_time);

// ---- age (RFC 9111 §4.2.3) ----

// The age of the response when it arrived: Age + response_delay (RFC 9111 §4.2.3's
// corrected_age_value). The apparent_age term (response_time - Date) is left out on purpose, as
// nginx and Varnish do: Portico sits next to the origin, whose Date is no better than our clock,
// and uvicorn sends the Date of a keep-alive connection's first response on every later one, so
// trusting it would age every entry by the connection's age and make short max-ages never fresh.
// An invalid Age is ignored; every sum saturates at kDeltaMax.
Seconds corrected_initial_age(HeaderList response, Instant request_time, Instant response_time);
// corrected_initial_age + resident time (now - response_time).
Seconds current_age(Seconds corrected_initial_age, Instant response_time, Instant now);
Seconds current_age(HeaderList response, Instant request_time, Instant response_time, Instant now);
// The Age field value (§5.1): decimal seconds, never negative, at most 2^31.
void append_age(std::string& out, Seconds age);

// ---- what is kept with a stored entry, so a lookup needs no header parsing ----

struct EntryFacts {
    Instant response_time{};
    Seconds corrected_initial_age{0};
    Seconds lifetime{0};
    Seconds stale_while_revalidate{0};  // window after expiry in which stale may be served
    Seconds stale_if_error{0};          // window after expiry in which stale may replace an error
    bool no_cache = false;              // revalidate on every use (§5.2.2.4)
    bool must_revalidate = false;       // must-revalidate, proxy-revalidate or s-maxage: never stale
    bool auth_reusable = false;         // public, s-maxage or must-revalidate: may answer Authorization
    bool has_validator = false;         // ETag or Last-Modified: a conditional request is possible
};

// Stale windows: a response's own stale-while-revalidate / stale-if-error wins over the route's.
// must-revalidate, proxy-revalidate and no-cache forbid both (§4.2.4). s-maxage implies
// proxy-revalidate (§5.2.2.10), which cancels the route's windows, but not windows the same
// response grants explicitly (the origin asked for both; CDNs read it the same way).
EntryFacts make_entry_facts(const EffectiveCacheControl& cc, HeaderList response, int status,
                            const RoutePolicyView& route, Instant request_time, Instant response_time);

struct StoreDecision {
    NotStored reason = NotStored::none;
    EntryFacts facts;  // meaningful when stored: what to keep with the entry
    bool store() const { return reason == NotStored::none; }
};

// §3 for a shared cache, with DESIGN.md's defaults, checked in this order: method, status,
// request no-store, no-store (unless must-understand with an understood status, §5.2.2.3),
// private, Authorization (§3.5), Vary: *, Set-Cookie (unless the route allows it or a qualified
// private names it, so the store drops it), then usefulness: a response is kept only if it can be
// served without a full fetch at some point (a lifetime, a stale window, or a validator to
// revalidate with) and the upstream or the route marked it cacheable (DESIGN.md: "caches only what
// the upstream marks cacheable, unless a route sets a TTL"). Qualified no-cache counts as
// unqualified (allowed by §5.2.2.4). Times are the injected clock's request-sent and
// response-received instants.
StoreDecision decide_store(std::string_view method, int status, HeaderList request, HeaderList response,
                           const RoutePolicyView& route, Instant request_time, Instant response_time);

// ---- the request side (RFC 9111 §5.2.1) ----

enum class RequestMode : unsigned char {
    bypass,          // not GET/HEAD: the cache is not involved (invalidation aside)
    normal,          // may be answered from the cache within the limits below
    revalidate,      // no-cache, max-age=0, or Pragma: no-cache without Cache-Control
    only_if_cached,  // answer from the cache or 504 (§5.2.1.7)
};

struct RequestCacheMode {
    RequestMode mode = RequestMode::normal;
    std::optional<Seconds> max_age;    // the client wants an age ≤ this
    std::optional<Seconds> min_fresh;  // … and at least this much freshness left
    std::optional<Seconds> max_stale;  // … or accepts this much staleness (kDeltaMax: any)
    bool no_store = false;             // do not store the response (§5.2.1.5)
    bool has_authorization = false;    // §3.5 governs reuse
};

// only-if-cached wins over revalidate (it keeps max-age=0 as a limit, which an entry rarely meets,
// so such a request usually gets 504). Pragma: no-cache counts only without Cache-Control
// (RFC 7234 §5.4, kept by RFC 9111 §5.4 for HTTP/1.0 clients).
RequestCacheMode classify_request(std::string_view method, HeaderList request);

// ---- can a stored entry answer this request now? ----

enum class LookupVerdict : unsigned char {
    fresh,                   // HIT
    stale_while_revalidate,  // serve it (STALE) and refresh in the background
    revalidate,              // ask upstream with If-None-Match / If-Modified-Since
    expired,                 // stale without validators: fetch unconditionally (EXPIRED)
    bypass,                  // the entry may not answer this request (Authorization, §3.5)
    gateway_timeout,         // only-if-cached, and nothing usable: 504 (§5.2.1.7)
};

// RFC 9111 §4 for one stored entry. A stale entry is served when the client's max-stale covers it
// or within the stale-while-revalidate window (for a normal request whose max-age/min-fresh limits
// do not rule it out); never with no-cache or must-revalidate.
LookupVerdict judge(const EntryFacts& entry, const RequestCacheMode& request, Instant now);

// After the upstream failed (5xx, refused, timed out): may this entry be served instead (RFC 5861
// §4)? Only within stale-if-error of expiry and when stale use is not forbidden.
bool stale_if_error_allowed(const EntryFacts& entry, Instant now);

// Staleness of an entry (0 while fresh).
Seconds staleness(const EntryFacts& entry, Instant now);

}  // namespace portico::cache
