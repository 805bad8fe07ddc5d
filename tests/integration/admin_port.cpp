// The admin port against the real binary: health, readiness (upstream up and down), Prometheus
// counters that follow real traffic, /stats, reload through POST /reload (ok and FILE:LINE:COL
// error, old config kept), honest 501 for parts not built yet, and the bearer token.
#include <boost/test/unit_test.hpp>

#include <fmt/core.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sys/wait.h>
#include <thread>

#include "harness.hpp"

using namespace portico::test;
using nlohmann::json;

namespace {

HttpResponse admin_call(Portico& p, std::string_view method, std::string_view path, std::string_view body = {},
                        const Headers& headers = {}) {
    Headers all = headers;
    if (!body.empty()) all.emplace_back("Content-Type", "application/json");
    return http_request(p.admin_endpoint(), make_request(method, path, all, body, "127.0.0.1"));
}

// Runs `portico ctl ARGS`; returns (exit code, stdout+stderr).
std::pair<int, std::string> run_ctl(const std::string& args) {
    const char* bin = std::getenv("PORTICO_BIN");
    BOOST_REQUIRE(bin != nullptr);
    std::string command = fmt::format("{} ctl {} 2>&1", bin, args);
    FILE* pipe = popen(command.c_str(), "r");
    BOOST_REQUIRE(pipe != nullptr);
    std::string out;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, n);
    int status = pclose(pipe);
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

// /ready reflects a probe that runs every 2 s: poll until it says what we expect.
int wait_ready_status(Portico& p, int want) {
    int got = 0;
    for (int i = 0; i < 60; ++i) {
        got = admin_call(p, "GET", "/ready").status;
        if (got == want) return got;
        std::this_thread::sleep_for(100ms);
    }
    return got;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(admin_port)

BOOST_AUTO_TEST_CASE(health_ready_metrics_stats) {
    Stack s;
    Portico& p = *s.portico;
    auto health = admin_call(p, "GET", "/health");
    BOOST_TEST(health.status == 200, health.describe());
    BOOST_TEST(health.json()["status"] == "ok");
    BOOST_TEST(wait_ready_status(p, 200) == 200);

    for (int i = 0; i < 3; ++i) BOOST_TEST(http_get(s.endpoint(), "/echo/counted").status == 200);
    BOOST_TEST(http_get(s.endpoint(), "/status/404").status == 404);

    // A request is counted when its response has been written, which the worker learns a loop
    // turn after the client may already have read it: poll for the last one.
    HttpResponse metrics;
    eventually(
        [&] {
            metrics = admin_call(p, "GET", "/metrics");
            return metrics.body.find("portico_http_request_duration_seconds_count{route=\"*\"} 4") != std::string::npos;
        },
        3s, 20ms);
    BOOST_TEST(metrics.status == 200);
    BOOST_TEST(metrics.body.find("# TYPE portico_http_requests_total counter") != std::string::npos);
    BOOST_TEST(metrics.body.find("portico_http_requests_total{route=\"*\",code=\"200\"} 3") != std::string::npos,
               metrics.body.substr(0, 2000));
    BOOST_TEST(metrics.body.find("portico_http_requests_total{route=\"*\",code=\"404\"} 1") != std::string::npos);
    BOOST_TEST(metrics.body.find("portico_http_request_duration_seconds_count{route=\"*\"} 4") != std::string::npos);

    auto stats = admin_call(p, "GET", "/stats");
    BOOST_TEST(stats.status == 200, stats.describe());
    BOOST_TEST(stats.json()["config_generation"] == 1, stats.body);
    BOOST_TEST(stats.body.find("\"requests\"") != std::string::npos, stats.body);

    // Parts that do not exist yet say so rather than inventing figures.
    BOOST_TEST(admin_call(p, "GET", "/cache").status == 501);
    BOOST_TEST(admin_call(p, "GET", "/pool").status == 501);
    BOOST_TEST(admin_call(p, "GET", "/nope").status == 404);
}

BOOST_AUTO_TEST_CASE(reload_through_the_admin_port) {
    Stack s;
    Portico& p = *s.portico;
    auto ok = admin_call(p, "POST", "/reload");
    BOOST_TEST(ok.status == 200, ok.describe());
    BOOST_TEST(ok.json()["generation"] == 2);

    // A broken file: the answer names FILE:LINE:COL and the old config keeps serving.
    std::string good = read_file(p.config_path());
    std::string broken = good;
    broken.replace(broken.find("upstream:"), 9, "upstream:\n  keepalve: 3");
    p.write_config_text(broken);
    auto bad = admin_call(p, "POST", "/reload");
    BOOST_TEST(bad.status == 422, bad.describe());
    std::string error = bad.json().value("error", "");
    BOOST_TEST(error.find(p.config_path() + ":") == 0u, error);
    BOOST_TEST(error.find("did you mean 'keepalive'") != std::string::npos, error);
    BOOST_TEST(http_get(s.endpoint(), "/echo/still-serving").status == 200);

    auto metrics = admin_call(p, "GET", "/metrics").body;
    BOOST_TEST(metrics.find("portico_config_reloads_total{result=\"ok\"} 1") != std::string::npos);
    BOOST_TEST(metrics.find("portico_config_reloads_total{result=\"error\"} 1") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(not_ready_when_the_upstream_is_down) {
    TempDir dir;
    PorticoSettings settings;
    settings.upstream = fmt::format("127.0.0.1:{}", free_tcp_port());  // nobody listens
    Portico p(dir, settings);
    BOOST_TEST(wait_ready_status(p, 503) == 503);
    auto ready = admin_call(p, "GET", "/ready");
    BOOST_TEST(ready.json().value("reason", "").find("upstream") != std::string::npos, ready.describe());
    BOOST_TEST(admin_call(p, "GET", "/health").status == 200);  // alive, just not ready
}

BOOST_AUTO_TEST_CASE(token_file_guards_every_call) {
    TempDir dir;
    std::string token_path = dir.path() + "/admin.token";
    std::ofstream(token_path) << "s3cret-token\n";
    Stack s([&](PorticoSettings& p) { p.admin_token_file = token_path; });
    Portico& p = *s.portico;
    BOOST_TEST(admin_call(p, "GET", "/health").status == 401);
    BOOST_TEST(admin_call(p, "GET", "/metrics", {}, {{"Authorization", "Bearer wrong"}}).status == 401);
    BOOST_TEST(admin_call(p, "GET", "/health", {}, {{"Authorization", "Bearer s3cret-token"}}).status == 200);
    // portico ctl with the same token file, and with none.
    auto ok = run_ctl(fmt::format("--admin 127.0.0.1:{} --token-file {} health", p.admin_endpoint().port, token_path));
    BOOST_TEST(ok.first == 0, ok.second);
    auto refused = run_ctl(fmt::format("--admin 127.0.0.1:{} health", p.admin_endpoint().port));
    BOOST_TEST(refused.first == 2, refused.second);
    BOOST_TEST(refused.second.find("401") != std::string::npos, refused.second);
}

// systemd's watchdog: with $WATCHDOG_USEC, WATCHDOG=1 pings arrive twice per period, each with a
// STATUS= line of live figures (the unit's WatchdogSec= restarts a portico whose loops stop).
BOOST_AUTO_TEST_CASE(watchdog_pings_carry_live_status) {
    setenv("WATCHDOG_USEC", "400000", 1);  // inherited by the portico the Stack spawns
    Stack s;
    unsetenv("WATCHDOG_USEC");
    BOOST_TEST(http_get(s.endpoint(), "/echo/watched").status == 200);
    BOOST_TEST(s.portico->notify().wait_for("WATCHDOG=1", 3s));
    BOOST_TEST(s.portico->notify().wait_for("WATCHDOG=1", 3s));  // and again: a periodic ping
    bool status_seen = false;
    for (const auto& line : s.portico->notify().history()) {
        if (line.rfind("STATUS=serving ", 0) == 0 && line.find("req/s") != std::string::npos) status_seen = true;
    }
    BOOST_TEST(status_seen);
}

BOOST_AUTO_TEST_SUITE_END()
