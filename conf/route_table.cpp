// Merging route policies into resolved Routes and ordering them most specific first.
#include "conf/route_table.hpp"

#include <algorithm>
#include <tuple>

namespace portico::conf::detail {
namespace {

void apply(Route& r, const RoutePolicy& p) {
    if (p.timeout) r.timeout = *p.timeout;
    if (p.cache.enabled) r.cache_enabled = *p.cache.enabled;
    if (p.cache.ttl) r.cache_ttl = *p.cache.ttl;
    if (p.cache.stale_while_revalidate) r.stale_while_revalidate = *p.cache.stale_while_revalidate;
    if (p.cache.stale_if_error) r.stale_if_error = *p.cache.stale_if_error;
    if (p.cache.store_set_cookie) r.cache_store_set_cookie = *p.cache.store_set_cookie;
    // static and rate_limit are whole blocks: a route's block replaces the inherited one.
    if (p.static_files) r.static_files = p.static_files;
    if (p.rate_limit) r.rate_limit = p.rate_limit;
    if (p.compression.enabled) r.compression_enabled = *p.compression.enabled;
    if (p.compression.level) r.compression_level = *p.compression.level;
}

// Sort key: exact patterns (rank 0) before wildcards (1) before "*" (2); within a rank the
// longer literal first, then by text so the order never depends on the file.
std::tuple<int, size_t, const std::string&> specificity(const Route& r) {
    const std::string& p = r.pattern;
    if (p == "*") return {2, 0, p};
    if (p.back() == '*') return {1, SIZE_MAX - (p.size() - 1), p};
    return {0, SIZE_MAX - p.size(), p};
}

}  // namespace

std::vector<Route> resolve_routes(const Config& config) {
    Route base;
    base.compression_enabled = config.compression.enabled;
    base.compression_level = config.compression.level;
    apply(base, config.global_defaults);

    std::vector<Route> routes;
    Route catch_all = base;
    for (const RoutePolicy& p : config.patterns) {
        if (p.pattern == "*") {  // an explicit "*" refines the catch-all only
            apply(catch_all, p);
            continue;
        }
        Route r = base;
        apply(r, p);
        r.pattern = p.pattern;
        routes.push_back(std::move(r));
    }
    catch_all.pattern.assign(1, '*');  // not = "*": GCC 12 -O2 gives a false -Wrestrict (PR 105329)
    routes.push_back(std::move(catch_all));
    for (Route& r : routes) r.cache_enabled = r.cache_enabled && config.cache.enabled;
    std::stable_sort(routes.begin(), routes.end(),
                     [](const Route& a, const Route& b) { return specificity(a) < specificity(b); });
    return routes;
}

}  // namespace portico::conf::detail
