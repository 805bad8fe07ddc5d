// The /stats JSON: the figures an operator looks at first, built from a metrics snapshot.
#pragma once

#include <optional>

#include <nlohmann/json.hpp>

#include "core/metrics.hpp"

namespace portico::admin {

// Milliseconds rounded to the microsecond, or null when nothing was observed.
nlohmann::json latency_ms(std::optional<double> seconds);

// {uptime_seconds, config_generation, requests{total,1xx..5xx}, routes[{route, requests, by_class,
// latency_ms{p50,p95,p99}, ratelimit_rejected, ratelimit_allowed, ratelimit_dry_run}], upstream{…},
// ratelimit{allowed, rejected, dry_run},
// compression{compressed{gzip,deflate}, skipped{reason…}, bytes_in, bytes_out, bytes_saved, ratio},
// config_reloads{ok,error}, process{…}} plus `cache` (the snapshot's cache counters merged with
// `cache_part`, the store's own figures) and `pool` only when those parts are present.
// The cache section (GET /cache and /stats): the snapshot's cache counters while the cache is
// active, with the store's own figures from `store_part` on top.
nlohmann::json build_cache_stats(const core::metrics::Snapshot& snapshot,
                                 const std::optional<nlohmann::json>& store_part);

nlohmann::json build_stats(const core::metrics::Snapshot& snapshot,
                           const std::optional<nlohmann::json>& cache_part,
                           const std::optional<nlohmann::json>& pool_part);

}  // namespace portico::admin
