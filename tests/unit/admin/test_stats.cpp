// /stats JSON: requests by class, per-route percentiles, and the optional cache and pool sections.
#define BOOST_TEST_MODULE admin_stats
#include <boost/test/unit_test.hpp>

#include "admin/stats.hpp"

namespace metrics = portico::core::metrics;
using nlohmann::json;
using portico::admin::build_stats;

namespace {

metrics::Snapshot snapshot() {
    metrics::Snapshot s;
    metrics::RouteSnapshot api;
    api.pattern = "/api/*";
    api.codes[metrics::code_slot(200)] = 90;
    api.codes[metrics::code_slot(404)] = 5;
    api.codes[metrics::code_slot(502)] = 5;
    api.duration.counts[4] = 100;  // all in (5ms, 10ms]
    api.ratelimit_rejected = 3;
    api.ratelimit_allowed = 40;
    api.ratelimit_dry_run = 2;
    metrics::RouteSnapshot idle;
    idle.pattern = "*";
    idle.id = 1;
    s.routes = {api, idle};
    s.upstream.connects = 4;
    s.config_generation = 3;
    s.config_reloads_error = 1;
    s.process.uptime_seconds = 12.3456;
    s.process.resident_memory_bytes = 4096;
    return s;
}

}  // namespace

BOOST_AUTO_TEST_CASE(latency_is_in_milliseconds_or_null) {
    BOOST_TEST(portico::admin::latency_ms(0.0123456) == json(12.346));
    BOOST_TEST(portico::admin::latency_ms(std::nullopt).is_null());
}

BOOST_AUTO_TEST_CASE(figures_and_percentiles) {
    json j = build_stats(snapshot(), std::nullopt, std::nullopt);
    BOOST_TEST(j["uptime_seconds"] == 12.346);
    BOOST_TEST(j["config_generation"] == 3);
    BOOST_TEST(j["requests"]["total"] == 100);
    BOOST_TEST(j["requests"]["2xx"] == 90);
    BOOST_TEST(j["requests"]["4xx"] == 5);
    BOOST_TEST(j["requests"]["5xx"] == 5);
    BOOST_TEST(j["requests"]["1xx"] == 0);
    BOOST_REQUIRE(j["routes"].size() == 2u);
    const json& api = j["routes"][0];
    BOOST_TEST(api["route"] == "/api/*");
    BOOST_TEST(api["requests"] == 100);
    BOOST_TEST(api["by_class"]["5xx"] == 5);
    // Linear interpolation inside (5ms, 10ms]: p50 = 7.5ms, p95 = 9.75ms, p99 = 9.95ms.
    BOOST_TEST(api["latency_ms"]["p50"].get<double>() == 7.5, boost::test_tools::tolerance(1e-9));
    BOOST_TEST(api["latency_ms"]["p95"].get<double>() == 9.75, boost::test_tools::tolerance(1e-9));
    BOOST_TEST(api["latency_ms"]["p99"].get<double>() == 9.95, boost::test_tools::tolerance(1e-9));
    BOOST_TEST(api["ratelimit_rejected"] == 3);
    BOOST_TEST(j["routes"][1]["latency_ms"]["p50"].is_null());  // no requests yet: no made-up figure
    BOOST_TEST(j["upstream"]["connects"] == 4);
    BOOST_TEST(j["ratelimit"]["rejected"] == 3);
    BOOST_TEST(j["ratelimit"]["allowed"] == 40);
    BOOST_TEST(j["ratelimit"]["dry_run"] == 2);
    BOOST_TEST(api["ratelimit_allowed"] == 40);
    BOOST_TEST(api["ratelimit_dry_run"] == 2);
    BOOST_TEST(j["config_reloads"]["error"] == 1);
    BOOST_TEST(j["process"]["resident_memory_bytes"] == 4096);
    BOOST_TEST(!j.contains("cache"));
    BOOST_TEST(!j.contains("pool"));
    // Compression is always there; no ratio before anything was compressed.
    BOOST_TEST(j["compression"]["compressed"]["gzip"] == 0);
    BOOST_TEST(j["compression"]["ratio"].is_null());
}

BOOST_AUTO_TEST_CASE(compression_decisions_and_savings) {
    metrics::Snapshot s = snapshot();
    s.compression.gzip = 3;
    s.compression.deflate = 1;
    s.compression.skipped[0] = 5;  // off
    s.compression.skipped[1] = 7;  // not-accepted
    s.compression.bytes_in = 40000;
    s.compression.bytes_out = 10000;
    json c = build_stats(s, std::nullopt, std::nullopt)["compression"];
    BOOST_TEST(c["compressed"]["gzip"] == 3);
    BOOST_TEST(c["compressed"]["deflate"] == 1);
    BOOST_TEST(c["skipped"]["off"] == 5);
    BOOST_TEST(c["skipped"]["not-accepted"] == 7);
    BOOST_TEST(c["skipped"]["too-small"] == 0);
    BOOST_TEST(c["skipped"].size() == metrics::kCompressionSkipReasons.size());
    BOOST_TEST(c["bytes_in"] == 40000);
    BOOST_TEST(c["bytes_out"] == 10000);
    BOOST_TEST(c["bytes_saved"] == 30000);
    BOOST_TEST(c["ratio"] == 0.25);
}

BOOST_AUTO_TEST_CASE(cache_and_pool_sections_only_when_present) {
    metrics::Snapshot s = snapshot();
    s.cache_active = true;
    s.cache.hits = 3;
    s.cache.misses = 1;
    json j = build_stats(s, json{{"entries", 7}, {"max_bytes", 100}}, json{{"databases", json::array()}});
    BOOST_TEST(j["cache"]["hits"] == 3);
    BOOST_TEST(j["cache"]["hit_ratio"] == 0.75);
    BOOST_TEST(j["cache"]["entries"] == 7);  // the store's figure wins
    BOOST_TEST(j["cache"]["max_bytes"] == 100);
    BOOST_TEST(j["pool"]["databases"].is_array());

    s.cache_active = true;
    s.cache = {};
    json empty = build_stats(s, std::nullopt, std::nullopt);
    BOOST_TEST(empty["cache"]["hit_ratio"].is_null());  // no lookups yet
}
