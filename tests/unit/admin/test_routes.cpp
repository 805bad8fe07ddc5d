// The admin route table without sockets: tokens (401), unknown paths (404), wrong methods (405 +
// Allow), bad bodies (400), parts not built (501), and each endpoint's answer.
#define BOOST_TEST_MODULE admin_routes
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "admin/auth.hpp"
#include "admin/routes.hpp"
#include "fake_backend.hpp"

using nlohmann::json;
using portico::admin::Request;
using portico::admin::Response;
using portico::admin::Router;
using portico::admin::testing::FakeBackend;
using portico::admin::testing::FullBackend;

namespace {

Request get(std::string_view path, std::string_view authorization = {}) {
    Request r;
    r.method = "GET";
    r.path = path;
    r.authorization = authorization;
    return r;
}

Request post(std::string_view path, std::string_view body, std::string_view authorization = {}) {
    Request r;
    r.method = "POST";
    r.path = path;
    r.body = body;
    r.authorization = authorization;
    return r;
}

json body_of(const Response& r) { return json::parse(r.body); }

}  // namespace

// ---- tokens ---------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(constant_time_compare) {
    using portico::admin::constant_time_equals;
    BOOST_TEST(constant_time_equals("", ""));
    BOOST_TEST(constant_time_equals("s3cret", "s3cret"));
    BOOST_TEST(!constant_time_equals("s3cret", "s3creT"));
    BOOST_TEST(!constant_time_equals("s3cret", "s3cre"));
    BOOST_TEST(!constant_time_equals("s3cre", "s3cret"));
    BOOST_TEST(!constant_time_equals("", "x"));
    BOOST_TEST(!constant_time_equals(std::string_view("a\0b", 3), std::string_view("a\0c", 3)));
    BOOST_TEST(!constant_time_equals(std::string_view("ab\0", 3), "ab"));  // zero padding is not equality
}

BOOST_AUTO_TEST_CASE(bearer_header_parsing) {
    using portico::admin::bearer_matches;
    BOOST_TEST(bearer_matches("", ""));  // no token configured
    BOOST_TEST(bearer_matches("Bearer tok", "tok"));
    BOOST_TEST(bearer_matches("bearer   tok ", "tok"));
    BOOST_TEST(bearer_matches("BEARER tok", "tok"));
    BOOST_TEST(!bearer_matches("Bearertok", "tok"));
    BOOST_TEST(!bearer_matches("Basic dG9rOg==", "tok"));
    BOOST_TEST(!bearer_matches("Bearer ", "tok"));
    BOOST_TEST(!bearer_matches("", "tok"));
    BOOST_TEST(!bearer_matches("Bearer tok2", "tok"));
}

BOOST_AUTO_TEST_CASE(token_file_reading) {
    auto dir = std::filesystem::temp_directory_path() / ("portico-token-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    auto write = [&](const std::string& name, const std::string& text) {
        std::ofstream(dir / name) << text;
        return (dir / name).string();
    };
    std::string token;
    BOOST_TEST(portico::admin::read_token_file(write("ok", "abc123\n"), token) == "");
    BOOST_TEST(token == "abc123");
    BOOST_TEST(portico::admin::read_token_file(write("crlf", "abc\r\n"), token) == "");
    BOOST_TEST(token == "abc");
    std::string error = portico::admin::read_token_file(write("empty", "\n"), token);
    BOOST_TEST(error.find("is empty") != std::string::npos);
    error = portico::admin::read_token_file(write("two", "a b\n"), token);
    BOOST_TEST(error.find("single line") != std::string::npos);
    error = portico::admin::read_token_file((dir / "missing").string(), token);
    BOOST_TEST(error.find("cannot read token file") != std::string::npos);
    BOOST_TEST(error.find("No such file") != std::string::npos);
    std::filesystem::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(every_call_needs_the_token_when_one_is_set) {
    FakeBackend backend;
    Router router(backend);
    BOOST_TEST(router.handle(get("/health")).status == 200);  // no token configured: open
    router.set_token("s3cret");
    for (std::string_view path : {"/health", "/stats", "/nope"}) {
        Response missing = router.handle(get(path));
        BOOST_TEST(missing.status == 401);
        BOOST_TEST(missing.extra_headers.find("WWW-Authenticate: Bearer") != std::string::npos);
        BOOST_TEST(router.handle(get(path, "Bearer wrong")).status == 401);
    }
    BOOST_TEST(body_of(router.handle(get("/health"))).at("error").get<std::string>().find("Bearer") !=
               std::string::npos);
    BOOST_TEST(router.handle(post("/reload", "", "Bearer nope")).status == 401);
    BOOST_TEST(backend.reloads == 0);  // refused before any action
    BOOST_TEST(router.handle(get("/health", "Bearer s3cret")).status == 200);
    BOOST_TEST(router.handle(get("/nope", "Bearer s3cret")).status == 404);
}

// ---- table ----------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(unknown_paths_and_wrong_methods) {
    FakeBackend backend;
    Router router(backend);
    Response nf = router.handle(get("/stats/"));
    BOOST_TEST(nf.status == 404);
    BOOST_TEST(body_of(nf)["error"] == "no such endpoint: /stats/");

    Response wrong = router.handle(post("/health", ""));
    BOOST_TEST(wrong.status == 405);
    BOOST_TEST(wrong.extra_headers == "Allow: GET, HEAD\r\n");
    Response get_reload = router.handle(get("/reload"));
    BOOST_TEST(get_reload.status == 405);
    BOOST_TEST(get_reload.extra_headers == "Allow: POST\r\n");
    BOOST_TEST(backend.reloads == 0);

    Request head = get("/health");
    head.method = "HEAD";
    BOOST_TEST(router.handle(head).status == 200);
    Request del = get("/cache");
    del.method = "DELETE";
    BOOST_TEST(router.handle(del).status == 405);
}

BOOST_AUTO_TEST_CASE(every_interface_endpoint_is_in_the_table) {
    std::vector<std::string> rows;
    for (const auto& e : Router::endpoints()) rows.push_back(std::string(e.method) + " " + std::string(e.path));
    for (const char* want : {"GET /health", "GET /ready", "GET /stats", "GET /metrics", "GET /cache",
                             "POST /cache/purge", "POST /cache/clear", "GET /pool", "POST /pool/pause",
                             "POST /pool/resume", "GET /config", "POST /reload"}) {
        BOOST_TEST_INFO(want);
        BOOST_TEST((std::find(rows.begin(), rows.end(), want) != rows.end()));
    }
}

BOOST_AUTO_TEST_CASE(bodies_are_checked) {
    FullBackend backend;
    Router router(backend);
    Response bad = router.handle(post("/cache/purge", "{\"key\": "));
    BOOST_TEST(bad.status == 400);
    BOOST_TEST(body_of(bad)["error"].get<std::string>().rfind("invalid JSON: parse error", 0) == 0u);
    Response unknown = router.handle(post("/cache/purge", R"({"url": "/x"})"));
    BOOST_TEST(unknown.status == 400);
    BOOST_TEST(body_of(unknown)["error"] == "unknown field 'url' (expected key, prefix, tag)");
    BOOST_TEST(router.handle(post("/cache/purge", "[1]")).status == 400);
    BOOST_TEST(router.handle(post("/cache/purge", "{}")).status == 400);
    BOOST_TEST(router.handle(post("/cache/purge", R"({"key": "/a", "tag": "t"})")).status == 400);
    BOOST_TEST(router.handle(post("/cache/purge", R"({"tag": 3})")).status == 400);
    BOOST_TEST(router.handle(post("/cache/purge", R"({"prefix": "api"})")).status == 400);
    BOOST_TEST(!backend.purged.has_value());

    Response ok = router.handle(post("/cache/purge", R"({"tag": "user-7"})"));
    BOOST_TEST(ok.status == 200);
    BOOST_TEST(body_of(ok)["removed"] == 2);
    BOOST_REQUIRE(backend.purged.has_value());
    BOOST_TEST((backend.purged->kind == portico::admin::PurgeTarget::Kind::tag));
    BOOST_TEST(backend.purged->value == "user-7");

    Response reload_field = router.handle(post("/reload", R"({"force": true})"));
    BOOST_TEST(reload_field.status == 400);
    BOOST_TEST(body_of(reload_field)["error"] == "unknown field 'force': this call takes no fields");
    BOOST_TEST(router.handle(post("/reload", "{}")).status == 200);
    BOOST_TEST(router.handle(post("/reload", " \n")).status == 200);

    BOOST_TEST(router.handle(post("/pool/pause", R"({"database": "app"})")).status == 200);
    BOOST_TEST(backend.paused == "app");
    BOOST_TEST(router.handle(post("/pool/pause", "")).status == 200);
    BOOST_TEST(backend.paused == "*");
    BOOST_TEST(router.handle(post("/pool/pause", R"({"database": ""})")).status == 400);
    BOOST_TEST(router.handle(post("/pool/pause", R"({"db": "app"})")).status == 400);
}

// ---- endpoints ------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(parts_not_built_answer_501_honestly) {
    FakeBackend backend;
    Router router(backend);
    for (auto request : {get("/cache"), post("/cache/clear", ""), get("/pool"), post("/pool/pause", ""),
                         post("/pool/resume", R"({"database":"app"})"), post("/cache/purge", R"({"key":"/x"})")}) {
        Response r = router.handle(request);
        BOOST_TEST_INFO(request.path);
        BOOST_TEST(r.status == 501);
        std::string error = body_of(r)["error"];
        BOOST_TEST((error == "the cache is not built yet" || error == "the pool is not built yet"));
    }
    json stats = body_of(router.handle(get("/stats")));
    BOOST_TEST(!stats.contains("cache"));
    BOOST_TEST(!stats.contains("pool"));
    BOOST_TEST(stats["routes"][0]["route"] == "/api/*");
}

BOOST_AUTO_TEST_CASE(health_ready_reload_config_metrics) {
    FakeBackend backend;
    Router router(backend);
    BOOST_TEST(body_of(router.handle(get("/health"))) == json({{"status", "ok"}}));
    backend.is_draining = true;
    BOOST_TEST(router.handle(get("/health")).status == 503);

    BOOST_TEST(router.handle(get("/ready")).status == 200);
    backend.ready_reason = "upstream 127.0.0.1:8000: Connection refused";
    Response not_ready = router.handle(get("/ready"));
    BOOST_TEST(not_ready.status == 503);
    BOOST_TEST(body_of(not_ready)["reason"] == backend.ready_reason);

    Response reloaded = router.handle(post("/reload", ""));
    BOOST_TEST(reloaded.status == 200);
    BOOST_TEST(body_of(reloaded) == json({{"result", "ok"}, {"generation", 2}}));
    backend.reload_error = "/etc/portico/portico.yaml:3:5: unknown key 'listn' (did you mean 'listen'?)";
    Response failed = router.handle(post("/reload", ""));
    BOOST_TEST(failed.status == 422);
    BOOST_TEST(body_of(failed)["error"] == backend.reload_error);
    BOOST_TEST(body_of(failed)["generation"] == 2);

    Response config = router.handle(get("/config"));
    BOOST_TEST(config.body == "workers: 2\n");
    BOOST_TEST(config.content_type.rfind("application/yaml", 0) == 0u);

    Response metrics = router.handle(get("/metrics"));
    BOOST_TEST(metrics.content_type == "text/plain; version=0.0.4; charset=utf-8");
    BOOST_TEST(metrics.body.find("portico_http_requests_total{route=\"/api/*\",code=\"200\"} 2\n") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(cache_and_pool_when_present) {
    FullBackend backend;
    Router router(backend);
    json cache = body_of(router.handle(get("/cache")));
    BOOST_TEST(cache["entries"] == 3);
    json stats = body_of(router.handle(get("/stats")));
    BOOST_TEST(stats["cache"]["bytes"] == 300);
    BOOST_TEST(stats["pool"]["databases"].is_array());
    BOOST_TEST(body_of(router.handle(post("/cache/clear", ""))) == json({{"removed", 3}}));
}
