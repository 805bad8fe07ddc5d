// Route table tests: specificity order, inheritance from global_defaults, the "*" catch-all.
#define BOOST_TEST_MODULE conf_routes
#include <boost/test/unit_test.hpp>

#include "conf/loader.hpp"
#include "conf/routes.hpp"
#include "test_support.hpp"

using namespace portico::conf;

namespace {
std::shared_ptr<const Config> load(const std::string& yaml) { return load_string(yaml, "routes.yaml"); }
}  // namespace

BOOST_AUTO_TEST_CASE(most_specific_pattern_wins) {
    auto c = load(R"(
routes:
  patterns:
    "/api/*": {timeout: 1s}
    "/api/users/*": {timeout: 2s}
    "/api/users/me": {timeout: 3s}
    "/static/*": {timeout: 4s}
    "/health": {timeout: 5s}
    "/ap*": {timeout: 6s}
)");
    std::vector<std::string> order;
    for (const Route& r : c->routes) order.push_back(r.pattern);
    // exact first, then wildcards by longer literal prefix, "*" last
    BOOST_TEST(order == (std::vector<std::string>{"/api/users/me", "/health", "/api/users/*", "/static/*", "/api/*",
                                                  "/ap*", "*"}),
               boost::test_tools::per_element());
    struct Row { const char* path; const char* pattern; };
    const Row rows[] = {
        {"/api/users/me", "/api/users/me"},   // exact beats any wildcard
        {"/api/users/me/x", "/api/users/*"},
        {"/api/users/", "/api/users/*"},
        {"/api/users", "/api/*"},             // "/api/users/*" needs the trailing slash
        {"/api/other", "/api/*"},
        {"/api/", "/api/*"},
        {"/api", "/ap*"},                     // "/api/*" does not match "/api"
        {"/apis", "/ap*"},
        {"/static/a/b/c.css", "/static/*"},
        {"/static", "*"},
        {"/health", "/health"},
        {"/health/", "*"},
        {"/healthz", "*"},
        {"/", "*"},
        {"", "*"},
    };
    for (const auto& r : rows) {
        BOOST_TEST_CONTEXT(r.path) { BOOST_TEST(match_route(*c, r.path).pattern == r.pattern); }
    }
}

BOOST_AUTO_TEST_CASE(global_defaults_are_inherited) {
    auto c = load(R"(
compression: {enabled: false, level: 3}
routes:
  global_defaults:
    timeout: 10s
    cache: {ttl: 5s, stale_if_error: 1m}
    rate_limit: {rate: 50/s, burst: 60}
  patterns:
    /api/*:
      cache: {ttl: 60s}
      compression: {enabled: true}
    /admin/*:
      cache: {enabled: false}
      rate_limit: {rate: 1/s}
      compression: {level: 9}
    /session/*:
      cache: {store_set_cookie: true}
)");
    const Route& api = match_route(*c, "/api/x");
    BOOST_TEST(api.timeout.count() == 10000);
    BOOST_TEST(api.cache_enabled);
    BOOST_TEST(api.cache_ttl.count() == 60000);
    BOOST_TEST(api.stale_if_error.count() == 60000);
    BOOST_TEST(!api.cache_store_set_cookie);  // never by default
    const Route& session = match_route(*c, "/session/x");
    BOOST_TEST(session.cache_store_set_cookie);
    BOOST_TEST(session.cache_ttl.count() == 5000);  // the rest still inherited
    BOOST_TEST(api.rate_limit->rate.text == "50/s");
    BOOST_TEST(api.compression_enabled);
    BOOST_TEST(api.compression_level == 3);  // top-level compression.level underneath
    const Route& admin = match_route(*c, "/admin/");
    BOOST_TEST(!admin.cache_enabled);
    BOOST_TEST(admin.rate_limit->rate.text == "1/s");  // the block replaces the inherited one
    BOOST_TEST(admin.rate_limit->burst == 1.0);
    BOOST_TEST(!admin.compression_enabled);
    BOOST_TEST(admin.compression_level == 9);
    const Route& rest = match_route(*c, "/other");
    BOOST_TEST(rest.pattern == "*");
    BOOST_TEST(rest.cache_ttl.count() == 5000);
    BOOST_TEST(!rest.compression_enabled);
}

BOOST_AUTO_TEST_CASE(explicit_star_refines_only_the_catch_all) {
    auto c = load(R"(
routes:
  global_defaults: {timeout: 10s, cache: {ttl: 1s}}
  patterns:
    "*": {timeout: 20s}
    /a/*: {}
)");
    BOOST_TEST_REQUIRE(c->routes.size() == 2u);
    BOOST_TEST(c->routes.back().pattern == "*");
    BOOST_TEST(c->routes.back().timeout.count() == 20000);
    BOOST_TEST(c->routes.back().cache_ttl.count() == 1000);
    BOOST_TEST(match_route(*c, "/a/b").timeout.count() == 10000);
    BOOST_TEST(c->patterns.size() == 2u);  // the policies stay as written
}

BOOST_AUTO_TEST_CASE(route_cache_needs_the_cache) {
    auto c = load("cache: {enabled: false}\nroutes:\n  patterns:\n    /a/*: {cache: {enabled: true, ttl: 9s}}\n");
    BOOST_TEST(!match_route(*c, "/a/b").cache_enabled);
    BOOST_TEST(!match_route(*c, "/").cache_enabled);
}

BOOST_AUTO_TEST_CASE(a_config_without_routes_still_answers) {
    Config empty;  // not from the loader: no table at all
    BOOST_TEST(match_route(empty, "/x").pattern == "*");
    BOOST_TEST(match_route(*load_default(), "/anything").pattern == "*");
}
