// `portico ctl --json` for the text answers: Prometheus exposition (our own render_prometheus
// output read back, escapes, histograms, odd values, refusals) and YAML (typed plain scalars,
// quoted strings kept as strings, conf::to_yaml's output read back).
#define BOOST_TEST_MODULE admin_ctl_json
#include <boost/test/unit_test.hpp>

#include "admin/ctl_json.hpp"
#include "admin/prometheus.hpp"
#include "conf/loader.hpp"

namespace metrics = portico::core::metrics;
using nlohmann::json;
using portico::admin::exposition_to_json;
using portico::admin::yaml_to_json;

namespace {

json exposition(std::string_view text) {
    std::string error;
    auto j = exposition_to_json(text, error);
    BOOST_TEST_REQUIRE(j.has_value(), error);
    return *j;
}

std::string refusal(std::string_view text) {
    std::string error;
    auto j = exposition_to_json(text, error);
    return j ? "accepted" : error;
}

json yaml(std::string_view text) {
    std::string error;
    auto j = yaml_to_json(text, error);
    BOOST_TEST_REQUIRE(j.has_value(), error);
    return *j;
}

}  // namespace

BOOST_AUTO_TEST_CASE(families_with_types_help_and_labelled_samples) {
    json j = exposition(
        "# HELP portico_http_requests_total HTTP requests answered.\n"
        "# TYPE portico_http_requests_total counter\n"
        "portico_http_requests_total{route=\"/api/*\",code=\"200\"} 3\n"
        "portico_http_requests_total{route=\"/a\\\"b\\\\c\\nd\",code=\"404\"} 1\n"
        "\n"
        "# TYPE portico_cache_entries gauge\n"
        "portico_cache_entries 12\n"
        "# a comment that is neither HELP nor TYPE\n"
        "portico_uptime_seconds 1.5 1700000000000\n");
    BOOST_TEST(j["portico_http_requests_total"]["type"] == "counter");
    BOOST_TEST(j["portico_http_requests_total"]["help"] == "HTTP requests answered.");
    json samples = j["portico_http_requests_total"]["samples"];
    BOOST_TEST_REQUIRE(samples.size() == 2u);
    BOOST_TEST(samples[0] == json::parse(R"({"name":"portico_http_requests_total",
        "labels":{"route":"/api/*","code":"200"},"value":3})"));
    BOOST_TEST(samples[1]["labels"]["route"] == "/a\"b\\c\nd");
    BOOST_TEST(j["portico_cache_entries"]["type"] == "gauge");
    BOOST_TEST(j["portico_cache_entries"]["help"] == "");
    BOOST_TEST(j["portico_cache_entries"]["samples"][0]["value"] == 12);
    // No TYPE line: untyped, as Prometheus reads it; a timestamp after the value is dropped.
    BOOST_TEST(j["portico_uptime_seconds"]["type"] == "untyped");
    BOOST_TEST(j["portico_uptime_seconds"]["samples"][0]["value"] == 1.5);
}

BOOST_AUTO_TEST_CASE(histogram_samples_belong_to_their_family_and_odd_values_stay_readable) {
    json j = exposition(
        "# TYPE d_seconds histogram\n"
        "d_seconds_bucket{le=\"0.5\"} 1\n"
        "d_seconds_bucket{le=\"+Inf\"} 2\n"
        "d_seconds_sum 0.75\n"
        "d_seconds_count 2\n"
        "# TYPE g gauge\n"
        "g{k=\"a\"} NaN\n"
        "g{k=\"b\"} +Inf\n"
        "g{k=\"c\"} -Inf\n"
        "g{k=\"d\"} 1e-3\n");
    BOOST_TEST(j.size() == 2u, j.dump());
    BOOST_TEST(j["d_seconds"]["samples"].size() == 4u);
    BOOST_TEST(j["d_seconds"]["samples"][1]["labels"]["le"] == "+Inf");
    BOOST_TEST(j["d_seconds"]["samples"][3]["name"] == "d_seconds_count");
    BOOST_TEST(j["g"]["samples"][0]["value"] == "NaN");
    BOOST_TEST(j["g"]["samples"][1]["value"] == "+Inf");
    BOOST_TEST(j["g"]["samples"][2]["value"] == "-Inf");
    BOOST_TEST(j["g"]["samples"][3]["value"] == 0.001);
}

BOOST_AUTO_TEST_CASE(what_is_not_exposition_text_is_refused_with_its_line) {
    BOOST_TEST(refusal("<html>oops</html>\n") == "line 1: not a sample: <html>oops</html>");
    BOOST_TEST(refusal("a 1\nb{x=1} 2\n") == "line 2: a label must be name=\"value\": b{x=1} 2");
    BOOST_TEST(refusal("a{x=\"1} 2\n") == "line 1: unterminated label value: a{x=\"1} 2");
    BOOST_TEST(refusal("a one\n") == "line 1: the value is not a number: a one");
    BOOST_TEST(refusal("a\n") == "line 1: no value: a");
}

BOOST_AUTO_TEST_CASE(our_own_exposition_reads_back) {
    metrics::Snapshot s;
    metrics::RouteSnapshot route;
    route.pattern = "/api/items/*";
    route.codes[metrics::code_slot(200)] = 7;
    s.routes.push_back(route);
    s.config_reloads_ok = 2;
    json j = exposition(portico::admin::render_prometheus(s, "1.2.3"));
    BOOST_TEST(j["portico_build_info"]["samples"][0]["labels"]["version"] == "1.2.3");
    BOOST_TEST(j["portico_http_requests_total"]["samples"][0]["labels"]["route"] == "/api/items/*");
    BOOST_TEST(j["portico_http_requests_total"]["samples"][0]["value"] == 7);
    bool ok_seen = false;
    for (const json& sample : j["portico_config_reloads_total"]["samples"])
        ok_seen = ok_seen || (sample["labels"]["result"] == "ok" && sample["value"] == 2);
    BOOST_TEST(ok_seen, j["portico_config_reloads_total"].dump());
}

BOOST_AUTO_TEST_CASE(yaml_plain_scalars_are_typed_and_quoted_ones_stay_strings) {
    json j = yaml(
        "workers: 4\n"
        "ratio: 0.5\n"
        "on: true\n"
        "off: False\n"
        "nothing: null\n"
        "tilde: ~\n"
        "empty:\n"
        "timeout: 30s\n"
        "quoted_number: \"8080\"\n"
        "single: 'true'\n"
        "listen: 127.0.0.1:8080\n"
        "list: [1, two, \"3\"]\n"
        "map: { a: { b: -12 } }\n");
    BOOST_TEST(j["workers"] == 4);
    BOOST_TEST(j["ratio"] == 0.5);
    BOOST_TEST(j["on"] == true);
    BOOST_TEST(j["off"] == false);
    BOOST_TEST(j["nothing"].is_null());
    BOOST_TEST(j["tilde"].is_null());
    BOOST_TEST(j["empty"].is_null());
    BOOST_TEST(j["timeout"] == "30s");
    BOOST_TEST(j["quoted_number"] == "8080");
    BOOST_TEST(j["single"] == "true");
    BOOST_TEST(j["listen"] == "127.0.0.1:8080");
    BOOST_TEST(j["list"] == json::parse(R"([1, "two", "3"])"));
    BOOST_TEST(j["map"]["a"]["b"] == -12);

    std::string error;
    BOOST_TEST(!yaml_to_json("a: [1, 2\n", error).has_value());
    BOOST_TEST(!error.empty());
}

BOOST_AUTO_TEST_CASE(the_effective_config_reads_back) {
    auto config = portico::conf::load_string(
        "workers: 3\n"
        "upstream: { address: 127.0.0.1:8000 }\n"
        "routes:\n"
        "  patterns:\n"
        "    \"/api/*\": { cache: { ttl: 60s } }\n",
        "inline.yaml");
    json j = yaml(portico::conf::to_yaml(*config));
    BOOST_TEST(j["workers"] == 3, j.dump());
    BOOST_TEST(j["upstream"]["address"] == "127.0.0.1:8000");
    BOOST_TEST(j["routes"]["patterns"].contains("/api/*"), j["routes"].dump());
}
