// RFC 9111 shared-cache rules: storability, freshness, age, request modes and lookup verdicts.
#include "cache/policy.hpp"

#include <algorithm>
#include <charconv>

#include "cache/vary.hpp"

namespace portico::cache {

namespace {

Seconds saturate(Seconds v) { return std::clamp(v, Seconds{0}, kDeltaMax); }

std::optional<Instant> date_field(HeaderList headers, std::string_view name) {
    auto value = find_first(headers, name);
    if (!value) return std::nullopt;
    return parse_http_date(*value);
}

bool has_validator(HeaderList response) {
    return has_field(response, "ETag") || date_field(response, "Last-Modified").has_value();
}

}  // namespace

std::string_view detail_token(NotStored reason) {
    switch (reason) {
        case NotStored::none: return "";
        case NotStored::method: return "method";
        case NotStored::status: return "status";
        case NotStored::request_no_store: return "request-no-store";
        case NotStored::no_store: return "no-store";
        case NotStored::private_: return "private";
        case NotStored::authorization: return "authorization";
        case NotStored::set_cookie: return "set-cookie";
        case NotStored::vary_star: return "vary-star";
        case NotStored::no_freshness: return "no-freshness";
    }
    return "";
}

bool heuristically_cacheable(int status) {
    switch (status) {
        case 200: case 203: case 204: case 206: case 300: case 301: case 308:
        case 404: case 405: case 410: case 414: case 501:
            return true;
        default:
            return false;
    }
}

bool status_understood(int status) {
    if (heuristically_cacheable(status) && status != 206) return true;  // 206 needs range assembly
    switch (status) {
        case 302: case 303: case 307: case 400: case 403: case 451: case 500: case 502: case 503: case 504:
            return true;
        default:
            return false;
    }
}

bool excluded_from_storage(const CacheControl& d, std::string_view field_name) {
    return d.private_ && !d.private_fields.empty() && lists_field(d.private_fields, field_name);
}

Freshness freshness_lifetime(const EffectiveCacheControl& cc, HeaderList response, int status, Seconds route_ttl,
                             Instant response_time) {
    const CacheControl& d = cc.directives;
    if (d.s_maxage) return {*d.s_maxage, FreshnessSource::s_maxage};
    if (d.max_age) return {*d.max_age, FreshnessSource::max_age};
    Instant date = date_field(response, "Date").value_or(response_time);
    if (!cc.targeted()) {  // a targeted field replaces Expires too (RFC 9213 §2.2)
        if (auto expires_text = find_first(response, "Expires")) {
            // §5.3: an invalid date, notably "0", means "already expired". With several Expires
            // lines the first is used (§4.2.1).
            auto expires = parse_http_date(*expires_text);
            if (!expires || *expires <= date) return {Seconds{0}, FreshnessSource::expires};
            return {saturate(*expires - date), FreshnessSource::expires};
        }
    }
    // Route ttl and heuristics both apply only to statuses cacheable without explicit freshness: an
    // operator's ttl is not meant to keep a 500 around (nginx's proxy_cache_valid likewise).
    bool heuristic_ok = heuristically_cacheable(status) || d.public_;
    if (route_ttl > Seconds{0} && heuristic_ok) return {saturate(route_ttl), FreshnessSource::route_ttl};
    if (heuristic_ok) {
        if (auto last_modified = date_field(response, "Last-Modified"); last_modified && *last_modified < date)
            return {std::min((date - *last_modified) / 10, kHeuristicCap), FreshnessSource::heuristic};
    }
    return {Seconds{0}, FreshnessSource::none};
}

Seconds corrected_initial_age(HeaderList response, Instant request_time, Instant response_time) {
    Seconds age_value{0};
    if (auto age_text = find_first(response, "Age"))  // an invalid Age is ignored
        age_value = parse_delta_seconds(*age_text).value_or(Seconds{0});
    Seconds response_delay = saturate(response_time - request_time);
    return saturate(age_value + response_delay);  // no apparent_age: see policy.hpp
}

Seconds current_age(Seconds corrected_initial_age, Instant response_time, Instant now) {
    Seconds resident_time = saturate(now - response_time);
    return saturate(saturate(corrected_initial_age) + resident_time);
}

Seconds current_age(HeaderList response, Instant request_time, Instant response_time, Instant now) {
    return current_age(corrected_initial_age(response, request_time, response_time), response_time, now);
}

void append_age(std::string& out, Seconds age) {
    char buf[24];
    auto result = std::to_chars(buf, buf + sizeof buf, saturate(age).count());
    out.append(buf, result.ptr);
}

EntryFacts make_entry_facts(const EffectiveCacheControl& cc, HeaderList response, int status,
                            const RoutePolicyView& route, Instant request_time, Instant response_time) {
    const CacheControl& d = cc.directives;
    EntryFacts facts;
    facts.response_time = response_time;
    facts.corrected_initial_age = corrected_initial_age(response, request_time, response_time);
    facts.lifetime = freshness_lifetime(cc, response, status, route.ttl, response_time).lifetime;
    facts.no_cache = d.no_cache;
    facts.must_revalidate = d.must_revalidate || d.proxy_revalidate || d.s_maxage.has_value();
    facts.auth_reusable = d.public_ || d.s_maxage.has_value() || d.must_revalidate;
    facts.has_validator = has_validator(response);
    // §4.2.4: no stale responses against must-revalidate, proxy-revalidate or no-cache.
    bool forbidden = d.must_revalidate || d.proxy_revalidate || d.no_cache;
    auto window = [&](const std::optional<Seconds>& own, const std::optional<Seconds>& from_route) {
        if (forbidden) return Seconds{0};
        if (own) return *own;
        if (d.s_maxage) return Seconds{0};  // s-maxage's implied proxy-revalidate beats route config
        return saturate(from_route.value_or(Seconds{0}));
    };
    facts.stale_while_revalidate = window(d.stale_while_revalidate, route.stale_while_revalidate);
    facts.stale_if_error = window(d.stale_if_error, route.stale_if_error);
    return facts;
}

StoreDecision decide_store(std::string_view method, int status, HeaderList request, HeaderList response,
                           const RoutePolicyView& route, Instant request_time, Instant response_time) {
    StoreDecision out;
    auto refuse = [&](NotStored reason) {
        out.reason = reason;
        return out;
    };
    // Method names are case-sensitive (RFC 9110 §9.1). HEAD responses have no content to keep.
    if (method != "GET") return refuse(NotStored::method);
    // §3: a final status; 206 and 304 are not entries of their own (ranges are cut from full
    // responses, 304s update entries, §4.3.4).
    if (status < 200 || status > 599 || status == 206 || status == 304) return refuse(NotStored::status);
    if (parse_cache_control(request).no_store) return refuse(NotStored::request_no_store);

    EffectiveCacheControl cc = effective_response_cache_control(response);
    const CacheControl& d = cc.directives;
    if (d.must_understand) {
        // §5.2.2.3: only a cache that understands the status may store; it then ignores no-store.
        if (!status_understood(status)) return refuse(NotStored::status);
    } else if (d.no_store) {
        return refuse(NotStored::no_store);
    }
    if (d.private_ && d.private_fields.empty()) return refuse(NotStored::private_);
    if (has_field(request, "Authorization") && !(d.public_ || d.s_maxage || d.must_revalidate))
        return refuse(NotStored::authorization);
    if (vary_has_star(response)) return refuse(NotStored::vary_star);
    if (has_field(response, "Set-Cookie") && !route.store_set_cookie && !excluded_from_storage(d, "Set-Cookie"))
        return refuse(NotStored::set_cookie);

    Freshness freshness = freshness_lifetime(cc, response, status, route.ttl, response_time);
    out.facts = make_entry_facts(cc, response, status, route, request_time, response_time);
    const EntryFacts& f = out.facts;
    bool marked = freshness.source != FreshnessSource::none || d.no_cache || d.public_;
    bool servable_without_full_fetch = f.has_validator || (!f.no_cache && (f.lifetime > Seconds{0} ||
                                                                           f.stale_while_revalidate > Seconds{0} ||
                                                                           f.stale_if_error > Seconds{0}));
    if (!marked || !servable_without_full_fetch) return refuse(NotStored::no_freshness);
    return out;
}

RequestCacheMode classify_request(std::string_view method, HeaderList request) {
    RequestCacheMode out;
    out.has_authorization = has_field(request, "Authorization");
    if (method != "GET" && method != "HEAD") {
        out.mode = RequestMode::bypass;
        return out;
    }
    CacheControl cc = parse_cache_control(request);
    out.max_age = cc.max_age;
    out.min_fresh = cc.min_fresh;
    out.max_stale = cc.max_stale;
    out.no_store = cc.no_store;
    bool revalidate = cc.no_cache || (cc.max_age && *cc.max_age == Seconds{0});
    if (!revalidate && !has_field(request, "Cache-Control")) {
        for_each_member(request, "Pragma", [&](std::string_view member) {
            if (iequals(member, "no-cache")) revalidate = true;
            return !revalidate;
        });
    }
    if (cc.only_if_cached) {
        out.mode = RequestMode::only_if_cached;
        if (revalidate) out.max_age = Seconds{0};
    } else if (revalidate) {
        out.mode = RequestMode::revalidate;
    }
    return out;
}

Seconds staleness(const EntryFacts& entry, Instant now) {
    Seconds age = current_age(entry.corrected_initial_age, entry.response_time, now);
    return age > entry.lifetime ? age - entry.lifetime : Seconds{0};
}

LookupVerdict judge(const EntryFacts& entry, const RequestCacheMode& request, Instant now) {
    if (request.mode == RequestMode::bypass) return LookupVerdict::bypass;
    bool only_if_cached = request.mode == RequestMode::only_if_cached;
    // §3.5 read on the way out: a request with credentials only gets a shared response that the
    // origin declared shareable with them.
    if (request.has_authorization && !entry.auth_reusable)
        return only_if_cached ? LookupVerdict::gateway_timeout : LookupVerdict::bypass;

    Seconds age = current_age(entry.corrected_initial_age, entry.response_time, now);
    bool fresh = !entry.no_cache && age < entry.lifetime;  // §4.2: fresh while lifetime > age
    bool within_max_age = !request.max_age || age <= *request.max_age;
    bool enough_left = !request.min_fresh || (fresh && entry.lifetime - age >= *request.min_fresh);
    if (request.mode != RequestMode::revalidate && fresh && within_max_age && enough_left)
        return LookupVerdict::fresh;

    if (request.mode != RequestMode::revalidate && !entry.no_cache && !fresh && within_max_age) {
        Seconds stale = age - entry.lifetime;
        // The client accepts staleness (§5.2.1.2) unless the origin forbids it (§4.2.4).
        if (request.max_stale && !entry.must_revalidate && stale <= *request.max_stale)
            return LookupVerdict::stale_while_revalidate;
        // The origin or the route grants a window (RFC 5861 §3), unless the client wants freshness left.
        if (!request.min_fresh && entry.stale_while_revalidate > Seconds{0} && stale <= entry.stale_while_revalidate)
            return LookupVerdict::stale_while_revalidate;
    }
    if (only_if_cached) return LookupVerdict::gateway_timeout;
    return entry.has_validator ? LookupVerdict::revalidate : LookupVerdict::expired;
}

bool stale_if_error_allowed(const EntryFacts& entry, Instant now) {
    if (entry.no_cache) return false;
    Seconds age = current_age(entry.corrected_initial_age, entry.response_time, now);
    if (age < entry.lifetime) return true;  // still fresh: not even stale
    return entry.stale_if_error > Seconds{0} && age - entry.lifetime <= entry.stale_if_error;
}

}  // namespace portico::cache
