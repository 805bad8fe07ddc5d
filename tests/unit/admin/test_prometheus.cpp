// Prometheus text exposition 0.0.4: the exact text for a small snapshot, label escaping, and the
// cache families appearing only while the cache is active.
#define BOOST_TEST_MODULE admin_prometheus
#include <boost/test/unit_test.hpp>

#include <sstream>

#include "admin/prometheus.hpp"

namespace metrics = portico::core::metrics;
using portico::admin::render_prometheus;

namespace {

metrics::Snapshot small_snapshot() {
    metrics::Snapshot s;
    metrics::RouteSnapshot odd;
    odd.pattern = "/a\"b\\c\nd";
    odd.codes[metrics::code_slot(200)] = 3;
    odd.codes[metrics::code_slot(299)] = 1;
    odd.duration.counts[0] = 2;
    odd.duration.counts[3] = 1;
    odd.duration.counts[metrics::kDurationBounds.size()] = 1;
    odd.duration.sum_ns = 11'004'000'000;
    odd.ratelimit_rejected = 2;
    odd.ratelimit_allowed = 9;
    metrics::RouteSnapshot rest;  // nothing counted: no series
    rest.pattern = "*";
    rest.id = 1;
    s.routes = {odd, rest};
    s.upstream.connects = 5;
    s.upstream.reuses = 7;
    s.upstream.read_timeouts = 1;
    s.config_reloads_ok = 1;
    s.config_generation = 2;
    s.process.resident_memory_bytes = 1048576;
    s.process.open_fds = 12;
    s.process.cpu_seconds = 0.5;
    s.process.start_time_seconds = 1700000000;
    s.process.uptime_seconds = 42.5;
    s.compression.gzip = 6;
    s.compression.skipped[metrics::kCompressionSkipReasons.size() - 1] = 2;  // too-small
    s.compression.bytes_in = 1000;
    s.compression.bytes_out = 250;
    return s;
}

}  // namespace

BOOST_AUTO_TEST_CASE(label_values_are_escaped) {
    std::string out;
    portico::admin::append_label_value(out, "a\\b\"c\nd/e*");
    BOOST_TEST(out == "a\\\\b\\\"c\\nd/e*");
}

BOOST_AUTO_TEST_CASE(sample_values) {
    BOOST_TEST(portico::admin::format_sample(1.0) == "1");
    BOOST_TEST(portico::admin::format_sample(0.0025) == "0.0025");
    BOOST_TEST(portico::admin::format_sample(1.0 / 0.0) == "+Inf");
    BOOST_TEST(portico::admin::format_sample(-1.0 / 0.0) == "-Inf");
    BOOST_TEST(portico::admin::format_sample(0.0 / 0.0) == "NaN");
}

BOOST_AUTO_TEST_CASE(exact_text_for_a_small_snapshot) {
    const std::string route = R"(route="/a\"b\\c\nd")";
    std::string bucket = "portico_http_request_duration_seconds_bucket{" + route + ",le=";
    std::string expected =
        "# HELP portico_build_info Always 1; the version label names the running build.\n"
        "# TYPE portico_build_info gauge\n"
        "portico_build_info{version=\"9.9.9\"} 1\n"
        "# HELP portico_http_requests_total HTTP requests answered, by route pattern and status code (untracked "
        "codes as 2xx etc.).\n"
        "# TYPE portico_http_requests_total counter\n"
        "portico_http_requests_total{" + route + ",code=\"200\"} 3\n"
        "portico_http_requests_total{" + route + ",code=\"2xx\"} 1\n"
        "# HELP portico_http_request_duration_seconds Time from the whole request head to the last response byte "
        "written, by route pattern.\n"
        "# TYPE portico_http_request_duration_seconds histogram\n" +
        bucket + "\"0.0005\"} 2\n" + bucket + "\"0.001\"} 2\n" + bucket + "\"0.0025\"} 2\n" + bucket +
        "\"0.005\"} 3\n" + bucket + "\"0.01\"} 3\n" + bucket + "\"0.025\"} 3\n" + bucket + "\"0.05\"} 3\n" + bucket +
        "\"0.1\"} 3\n" + bucket + "\"0.25\"} 3\n" + bucket + "\"0.5\"} 3\n" + bucket + "\"1\"} 3\n" + bucket +
        "\"2.5\"} 3\n" + bucket + "\"5\"} 3\n" + bucket + "\"10\"} 3\n" + bucket + "\"+Inf\"} 4\n" +
        "portico_http_request_duration_seconds_sum{" + route + "} 11.004\n" +
        "portico_http_request_duration_seconds_count{" + route + "} 4\n" +
        "# HELP portico_ratelimit_allowed_total Requests a route's rate limit let through.\n"
        "# TYPE portico_ratelimit_allowed_total counter\n"
        "portico_ratelimit_allowed_total{" + route + "} 9\n"
        "# HELP portico_ratelimit_rejected_total Requests answered 429 by a route's rate limit.\n"
        "# TYPE portico_ratelimit_rejected_total counter\n"
        "portico_ratelimit_rejected_total{" + route + "} 2\n"
        "# HELP portico_ratelimit_dry_run_total Requests over a dry-run rate limit: they would have been rejected, "
        "and were let through.\n"
        "# TYPE portico_ratelimit_dry_run_total counter\n"
        "# HELP portico_compression_responses_total Responses compressed by Portico, by coding.\n"
        "# TYPE portico_compression_responses_total counter\n"
        "portico_compression_responses_total{coding=\"gzip\"} 6\n"
        "portico_compression_responses_total{coding=\"deflate\"} 0\n"
        "# HELP portico_compression_skipped_total Responses sent uncompressed, by reason.\n"
        "# TYPE portico_compression_skipped_total counter\n"
        "portico_compression_skipped_total{reason=\"off\"} 0\n"
        "portico_compression_skipped_total{reason=\"not-accepted\"} 0\n"
        "portico_compression_skipped_total{reason=\"head\"} 0\n"
        "portico_compression_skipped_total{reason=\"status\"} 0\n"
        "portico_compression_skipped_total{reason=\"range\"} 0\n"
        "portico_compression_skipped_total{reason=\"encoded\"} 0\n"
        "portico_compression_skipped_total{reason=\"no-transform\"} 0\n"
        "portico_compression_skipped_total{reason=\"type\"} 0\n"
        "portico_compression_skipped_total{reason=\"too-small\"} 2\n"
        "# HELP portico_compression_bytes_total Body bytes of the compressed responses, before (in) and after (out) "
        "compression.\n"
        "# TYPE portico_compression_bytes_total counter\n"
        "portico_compression_bytes_total{direction=\"in\"} 1000\n"
        "portico_compression_bytes_total{direction=\"out\"} 250\n"
        "# HELP portico_compression_saved_bytes_total Bytes compression kept off the wire (in - out).\n"
        "# TYPE portico_compression_saved_bytes_total counter\n"
        "portico_compression_saved_bytes_total 750\n"
        "# HELP portico_static_responses_total Answers of static routes (from disk, without the app), by route "
        "pattern and status code.\n"
        "# TYPE portico_static_responses_total counter\n"
        "# HELP portico_static_open_file_cache_total Static file openings: reused (hit), opened (miss), opened "
        "again after the validity period (expired).\n"
        "# TYPE portico_static_open_file_cache_total counter\n"
        "portico_static_open_file_cache_total{result=\"hit\"} 0\n"
        "portico_static_open_file_cache_total{result=\"miss\"} 0\n"
        "portico_static_open_file_cache_total{result=\"expired\"} 0\n"
        "# HELP portico_static_open_file_cache_entries Openings held by the workers' open-file caches.\n"
        "# TYPE portico_static_open_file_cache_entries gauge\n"
        "portico_static_open_file_cache_entries 0\n"
        "# HELP portico_static_open_file_cache_evictions_total Openings dropped from a full open-file cache (least "
        "recently used first).\n"
        "# TYPE portico_static_open_file_cache_evictions_total counter\n"
        "portico_static_open_file_cache_evictions_total 0\n"
        "# HELP portico_static_precompressed_total Static answers served from a .gz sibling.\n"
        "# TYPE portico_static_precompressed_total counter\n"
        "portico_static_precompressed_total 0\n"
        "# HELP portico_static_fallback_total Static misses handed to the app (fallback: upstream).\n"
        "# TYPE portico_static_fallback_total counter\n"
        "portico_static_fallback_total 0\n"
        "# HELP portico_static_bytes_total File bytes static routes sent.\n"
        "# TYPE portico_static_bytes_total counter\n"
        "portico_static_bytes_total 0\n"
        "# HELP portico_upstream_connects_total New connections opened to the upstream.\n"
        "# TYPE portico_upstream_connects_total counter\n"
        "portico_upstream_connects_total 5\n"
        "# HELP portico_upstream_reuses_total Requests sent on an idle keep-alive upstream connection.\n"
        "# TYPE portico_upstream_reuses_total counter\n"
        "portico_upstream_reuses_total 7\n"
        "# HELP portico_upstream_errors_total Failed upstream exchanges, by kind.\n"
        "# TYPE portico_upstream_errors_total counter\n"
        "portico_upstream_errors_total{kind=\"connect_failed\"} 0\n"
        "portico_upstream_errors_total{kind=\"closed\"} 0\n"
        "portico_upstream_errors_total{kind=\"bad_response\"} 0\n"
        "portico_upstream_errors_total{kind=\"write_failed\"} 0\n"
        "# HELP portico_upstream_timeouts_total Upstream timeouts: connect (connect_timeout), read (no response "
        "head in time), queue (max_connections).\n"
        "# TYPE portico_upstream_timeouts_total counter\n"
        "portico_upstream_timeouts_total{phase=\"connect\"} 0\n"
        "portico_upstream_timeouts_total{phase=\"read\"} 1\n"
        "portico_upstream_timeouts_total{phase=\"queue\"} 0\n"
        "# HELP portico_config_reloads_total Configuration reloads (SIGHUP or POST /reload) by result.\n"
        "# TYPE portico_config_reloads_total counter\n"
        "portico_config_reloads_total{result=\"ok\"} 1\n"
        "portico_config_reloads_total{result=\"error\"} 0\n"
        "# HELP portico_config_generation Generation of the configuration in use (1 at start).\n"
        "# TYPE portico_config_generation gauge\n"
        "portico_config_generation 2\n"
        "# HELP portico_process_resident_memory_bytes Resident memory size in bytes.\n"
        "# TYPE portico_process_resident_memory_bytes gauge\n"
        "portico_process_resident_memory_bytes 1048576\n"
        "# HELP portico_process_open_fds Open file descriptors.\n"
        "# TYPE portico_process_open_fds gauge\n"
        "portico_process_open_fds 12\n"
        "# HELP portico_process_cpu_seconds_total User and system CPU time spent, in seconds.\n"
        "# TYPE portico_process_cpu_seconds_total counter\n"
        "portico_process_cpu_seconds_total 0.5\n"
        "# HELP portico_process_start_time_seconds Start time of the process since the Unix epoch, in seconds.\n"
        "# TYPE portico_process_start_time_seconds gauge\n"
        "portico_process_start_time_seconds 1700000000\n"
        "# HELP portico_process_uptime_seconds Seconds since the process started.\n"
        "# TYPE portico_process_uptime_seconds gauge\n"
        "portico_process_uptime_seconds 42.5\n";
    std::string got = render_prometheus(small_snapshot(), "9.9.9");
    BOOST_TEST(got == expected);
}

BOOST_AUTO_TEST_CASE(cache_families_only_while_the_cache_is_active) {
    metrics::Snapshot s = small_snapshot();
    BOOST_TEST(render_prometheus(s, "x").find("portico_cache_") == std::string::npos);
    s.cache_active = true;
    s.cache.hits = 9;
    s.cache.entries = 4;
    std::string text = render_prometheus(s, "x");
    BOOST_TEST(text.find("portico_cache_requests_total{result=\"hit\"} 9\n") != std::string::npos);
    BOOST_TEST(text.find("portico_cache_entries 4\n") != std::string::npos);
    BOOST_TEST(text.find("# TYPE portico_cache_bytes gauge\n") != std::string::npos);
}

// Every line is a comment or `name{labels} value`, every family has HELP then TYPE once, and every
// sample belongs to the family declared last (the format's grouping rule).
BOOST_AUTO_TEST_CASE(text_is_well_formed) {
    metrics::Snapshot s = small_snapshot();
    s.cache_active = true;
    std::istringstream in(render_prometheus(s, "1.0"));
    std::string line, family;
    std::vector<std::string> families;
    while (std::getline(in, line)) {
        BOOST_REQUIRE(!line.empty());
        if (line.rfind("# HELP ", 0) == 0) {
            family = line.substr(7, line.find(' ', 7) - 7);
            BOOST_TEST((std::find(families.begin(), families.end(), family) == families.end()));
            families.push_back(family);
            continue;
        }
        if (line.rfind("# TYPE ", 0) == 0) {
            BOOST_TEST(line.substr(7, family.size()) == family);
            continue;
        }
        BOOST_TEST_INFO(line);
        BOOST_TEST(line.rfind(family, 0) == 0u);
        size_t space = line.rfind(' ');
        BOOST_REQUIRE(space != std::string::npos);
        std::string value = line.substr(space + 1);
        BOOST_TEST((value == "+Inf" || value.find_first_not_of("0123456789.e+-") == std::string::npos));
    }
    BOOST_TEST(families.size() > 15u);
}
