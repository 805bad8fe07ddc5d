// Building /stats; see stats.hpp.
#include "admin/stats.hpp"

#include <cmath>

namespace portico::admin {

namespace metrics = core::metrics;
using nlohmann::json;

json latency_ms(std::optional<double> seconds) {
    if (!seconds) return nullptr;
    return std::round(*seconds * 1e6) / 1e3;
}

namespace {

json by_class(const metrics::RouteSnapshot& route) {
    json j = json::object();
    for (int c = 1; c <= 5; ++c) j[std::to_string(c) + "xx"] = route.by_class(c);
    return j;
}

}  // namespace

json build_cache_stats(const metrics::Snapshot& s, const std::optional<json>& part) {
    json j = json::object();
    if (s.cache_active) {
        const auto& c = s.cache;
        j["hits"] = c.hits;
        j["misses"] = c.misses;
        j["stale"] = c.stale;
        j["revalidated"] = c.revalidated;
        j["expired"] = c.expired;
        j["bypass"] = c.bypass;
        json reasons = json::object();
        for (size_t i = 0; i < metrics::kBypassReasons.size(); ++i) {
            if (c.bypass_by_reason[i] > 0) reasons[std::string(metrics::kBypassReasons[i])] = c.bypass_by_reason[i];
        }
        j["bypass_by_reason"] = reasons;
        j["coalesced_waits"] = c.coalesced_waits;
        j["stores"] = c.stores;
        j["evictions"] = c.evictions;
        j["purged"] = c.purged;
        j["entries"] = c.entries;
        j["bytes"] = c.bytes;
        j["bytes_served"] = c.bytes_served;
        auto ratio = c.hit_ratio();
        j["hit_ratio"] = ratio ? json(std::round(*ratio * 1e4) / 1e4) : json(nullptr);
    }
    // The store's own figures (entries, bytes, size limit…) win over the counters' view of them.
    if (part && part->is_object()) {
        for (auto it = part->begin(); it != part->end(); ++it) j[it.key()] = it.value();
    }
    return j;
}

json build_compression_stats(const metrics::CompressionTotals& c) {
    json skipped = json::object();
    for (size_t i = 0; i < metrics::kCompressionSkipReasons.size(); ++i)
        skipped[std::string(metrics::kCompressionSkipReasons[i])] = c.skipped[i];
    json j = {{"compressed", {{"gzip", c.gzip}, {"deflate", c.deflate}}},
              {"skipped", std::move(skipped)},
              {"bytes_in", c.bytes_in},
              {"bytes_out", c.bytes_out},
              {"bytes_saved", c.bytes_saved()}};
    j["ratio"] = c.bytes_in > 0 ? json(std::round(static_cast<double>(c.bytes_out) / static_cast<double>(c.bytes_in) * 1e4) / 1e4)
                                : json(nullptr);
    return j;
}

namespace {

json code_map(const std::array<uint64_t, metrics::kCodeSlots>& codes) {
    json j = json::object();
    for (size_t slot = 0; slot < metrics::kCodeSlots; ++slot)
        if (codes[slot] > 0) j[std::string(metrics::code_label(slot))] = codes[slot];
    return j;
}

json build_static_stats(const metrics::Snapshot& s) {
    std::array<uint64_t, metrics::kCodeSlots> codes{};
    for (const auto& route : s.routes)
        for (size_t slot = 0; slot < metrics::kCodeSlots; ++slot) codes[slot] += route.static_codes[slot];
    const auto& t = s.static_files;
    return {{"responses", code_map(codes)},
            {"open_file_cache",
             {{"hits", t.open_cache_hits},
              {"misses", t.open_cache_misses},
              {"expired", t.open_cache_expired},
              {"entries", t.open_cache_entries},
              {"evictions", t.open_cache_evictions}}},
            {"precompressed", t.precompressed},
            {"fallback", t.fallback},
            {"bytes_sent", t.bytes_sent}};
}

}  // namespace

json build_stats(const metrics::Snapshot& s, const std::optional<json>& cache_part,
                 const std::optional<json>& pool_part) {
    json j;
    j["uptime_seconds"] = std::round(s.process.uptime_seconds * 1e3) / 1e3;
    j["config_generation"] = s.config_generation;

    json requests;
    requests["total"] = s.requests();
    for (int c = 1; c <= 5; ++c) requests[std::to_string(c) + "xx"] = s.requests_by_class(c);
    j["requests"] = requests;

    json routes = json::array();
    for (const auto& route : s.routes) {
        json r;
        r["route"] = route.pattern;
        r["requests"] = route.requests();
        r["by_class"] = by_class(route);
        r["latency_ms"] = {{"p50", latency_ms(route.duration.quantile(0.50))},
                           {"p95", latency_ms(route.duration.quantile(0.95))},
                           {"p99", latency_ms(route.duration.quantile(0.99))}};
        r["ratelimit_rejected"] = route.ratelimit_rejected;
        r["ratelimit_allowed"] = route.ratelimit_allowed;
        r["ratelimit_dry_run"] = route.ratelimit_dry_run;
        if (route.static_responses() > 0) r["static"] = code_map(route.static_codes);
        routes.push_back(std::move(r));
    }
    j["routes"] = std::move(routes);

    const auto& u = s.upstream;
    j["upstream"] = {{"connects", u.connects},
                     {"reuses", u.reuses},
                     {"connect_failed", u.connect_failed},
                     {"connect_timeouts", u.connect_timeouts},
                     {"read_timeouts", u.read_timeouts},
                     {"queue_timeouts", u.queue_timeouts},
                     {"closed", u.closed},
                     {"bad_responses", u.bad_responses},
                     {"write_failed", u.write_failed}};
    j["ratelimit"] = {
        {"allowed", s.ratelimit_allowed()}, {"rejected", s.ratelimit_rejected()}, {"dry_run", s.ratelimit_dry_run()}};
    j["compression"] = build_compression_stats(s.compression);
    j["static"] = build_static_stats(s);
    j["config_reloads"] = {{"ok", s.config_reloads_ok}, {"error", s.config_reloads_error}};
    j["process"] = {{"resident_memory_bytes", s.process.resident_memory_bytes},
                    {"open_fds", s.process.open_fds},
                    {"cpu_seconds", std::round(s.process.cpu_seconds * 1e3) / 1e3}};
    if (s.cache_active || cache_part) j["cache"] = build_cache_stats(s, cache_part);
    if (pool_part) j["pool"] = *pool_part;
    return j;
}

}  // namespace portico::admin
