// `portico ctl` without a server: argument parsing, the call each command makes, and rendering.
#define BOOST_TEST_MODULE admin_ctl
#include <boost/test/unit_test.hpp>

#include "admin/ctl.hpp"

using nlohmann::json;
using portico::admin::CtlCall;
using portico::admin::CtlOptions;
using portico::admin::parse_ctl_args;
using portico::admin::plan_call;

namespace {

// The call for a command line, or the usage error.
std::string call_for(std::vector<std::string> args, CtlCall& call, CtlOptions* options = nullptr) {
    CtlOptions o;
    if (std::string e = parse_ctl_args(args, o); !e.empty()) return e;
    if (options != nullptr) *options = o;
    return plan_call(o, call);
}

std::string call_text(std::vector<std::string> args) {
    CtlCall c;
    std::string e = call_for(std::move(args), c);
    if (!e.empty()) return "error: " + e;
    return c.method + " " + c.path + (c.body.empty() ? "" : " " + c.body);
}

}  // namespace

BOOST_AUTO_TEST_CASE(commands_map_to_admin_calls) {
    BOOST_TEST(call_text({"stats"}) == "GET /stats");
    BOOST_TEST(call_text({"health"}) == "GET /health");
    BOOST_TEST(call_text({"ready"}) == "GET /ready");
    BOOST_TEST(call_text({"metrics"}) == "GET /metrics");
    BOOST_TEST(call_text({"config"}) == "GET /config");
    BOOST_TEST(call_text({"reload"}) == "POST /reload");
    BOOST_TEST(call_text({"cache", "stats"}) == "GET /cache");
    BOOST_TEST(call_text({"cache", "clear"}) == "POST /cache/clear");
    BOOST_TEST(call_text({"cache", "purge", "--key", "http://h/a?b=1"}) == R"(POST /cache/purge {"key":"http://h/a?b=1"})");
    BOOST_TEST(call_text({"cache", "purge", "--prefix=/api/"}) == R"(POST /cache/purge {"prefix":"/api/"})");
    BOOST_TEST(call_text({"cache", "purge", "--tag", "user-7"}) == R"(POST /cache/purge {"tag":"user-7"})");
    BOOST_TEST(call_text({"pool"}) == "GET /pool");
    BOOST_TEST(call_text({"pool", "pause"}) == "POST /pool/pause");
    BOOST_TEST(call_text({"pool", "pause", "app"}) == R"(POST /pool/pause {"database":"app"})");
    BOOST_TEST(call_text({"pool", "resume", "app"}) == R"(POST /pool/resume {"database":"app"})");
}

BOOST_AUTO_TEST_CASE(options_anywhere) {
    CtlCall call;
    CtlOptions o;
    BOOST_TEST(call_for({"--admin", "127.0.0.1:9999", "stats", "--json", "--token-file=/t", "--watch", "2s"}, call, &o) ==
               "");
    BOOST_TEST(o.admin == "127.0.0.1:9999");
    BOOST_TEST(o.token_file == "/t");
    BOOST_TEST(o.json);
    BOOST_REQUIRE(o.watch.has_value());
    BOOST_TEST(o.watch->count() == 2000);
    BOOST_TEST(call_for({"--timeout", "250ms", "health"}, call, &o) == "");
    BOOST_TEST(o.timeout.count() == 250);
    BOOST_TEST(call_for({"--help"}, call, &o) == "no command given");
    parse_ctl_args({"help"}, o);
    BOOST_TEST(o.help);
}

BOOST_AUTO_TEST_CASE(usage_errors) {
    BOOST_TEST(call_text({}) == "error: no command given");
    BOOST_TEST(call_text({"stat"}) == "error: unknown command 'stat'");
    BOOST_TEST(call_text({"stats", "now"}) == "error: unexpected 'now' after 'stats'");
    BOOST_TEST(call_text({"cache"}) == "error: cache needs a subcommand: stats, purge or clear");
    BOOST_TEST(call_text({"cache", "purge"}) == "error: cache purge needs --key URL, --prefix PATH or --tag TAG");
    BOOST_TEST(call_text({"cache", "purge", "--key", "a", "--tag", "b"}) == "error: give only one of --key, --prefix, --tag");
    BOOST_TEST(call_text({"cache", "purge", "--key"}) == "error: --key needs a value");
    BOOST_TEST(call_text({"cache", "purge", "--tag="}) == "error: --tag needs a non-empty value");
    BOOST_TEST(call_text({"health", "--tag", "x"}) == "error: --tag belongs to 'cache purge'");
    BOOST_TEST(call_text({"pool", "drain"}) == "error: unknown pool subcommand 'drain' (pause, resume)");
    BOOST_TEST(call_text({"pool", "pause", "a", "b"}) == "error: unexpected 'b' after 'a'");
    BOOST_TEST(call_text({"health", "--watch", "1s"}) == "error: --watch goes with 'stats' only");
    BOOST_TEST(call_text({"stats", "--watch", "0s"}) == "error: --watch must be more than 0");
    BOOST_TEST(call_text({"stats", "--watch", "1"}).rfind("error: --watch: ", 0) == 0u);
    BOOST_TEST(call_text({"stats", "--verbose"}) == "error: unknown option '--verbose'");
}

BOOST_AUTO_TEST_CASE(number_formats) {
    using namespace portico::admin;
    BOOST_TEST(format_ms(json(nullptr)) == "-");
    BOOST_TEST(format_ms(json(0.4242)) == "0.42ms");
    BOOST_TEST(format_ms(json(1.25)) == "1.25ms");
    BOOST_TEST(format_ms(json(12.34)) == "12.3ms");
    BOOST_TEST(format_ms(json(1500.0)) == "1.50s");
    BOOST_TEST(format_uptime(42) == "42s");
    BOOST_TEST(format_uptime(125) == "2m 05s");
    BOOST_TEST(format_uptime(7384) == "2h 03m 04s");
    BOOST_TEST(format_uptime(3 * 86400 + 4 * 3600 + 5 * 60) == "3d 04h 05m");
    BOOST_TEST(format_bytes(512) == "512 B");
    BOOST_TEST(format_bytes(12.5 * 1024 * 1024) == "12.5 MiB");
}

BOOST_AUTO_TEST_CASE(stats_table) {
    json stats = {
        {"uptime_seconds", 7384.2},
        {"config_generation", 3},
        {"requests", {{"total", 120}, {"1xx", 0}, {"2xx", 100}, {"3xx", 0}, {"4xx", 15}, {"5xx", 5}}},
        {"routes",
         {{{"route", "/api/users/*"},
           {"requests", 100},
           {"by_class", {{"2xx", 90}, {"3xx", 0}, {"4xx", 5}, {"5xx", 5}}},
           {"latency_ms", {{"p50", 1.25}, {"p95", 15.0}, {"p99", 1500.0}}},
           {"ratelimit_rejected", 4}},
          {{"route", "*"},
           {"requests", 0},
           {"by_class", {{"2xx", 0}, {"3xx", 0}, {"4xx", 0}, {"5xx", 0}}},
           {"latency_ms", {{"p50", nullptr}, {"p95", nullptr}, {"p99", nullptr}}},
           {"ratelimit_rejected", 0}}}},
        {"upstream", {{"connects", 12}, {"reuses", 88}}},
        {"ratelimit", {{"rejected", 4}, {"dry_run", 0}}},
        {"config_reloads", {{"ok", 2}, {"error", 1}}},
        {"process", {{"resident_memory_bytes", 13107200}, {"open_fds", 23}, {"cpu_seconds", 1.5}}}};
    std::string text = portico::admin::render_stats(stats);
    BOOST_TEST_MESSAGE(text);
    BOOST_TEST(text.find("uptime 2h 03m 04s   config generation 3   reloads ok 2 / failed 1\n") == 0u);
    BOOST_TEST(text.find("requests 120   1xx 0   2xx 100   3xx 0   4xx 15   5xx 5\n") != std::string::npos);
    BOOST_TEST(text.find("ROUTE         REQUESTS  2XX  3XX  4XX  5XX     P50     P95    P99  429\n") != std::string::npos);
    BOOST_TEST(text.find("/api/users/*       100   90    0    5    5  1.25ms  15.0ms  1.50s    4\n") != std::string::npos);
    BOOST_TEST(text.find("*                    0    0    0    0    0       -       -      -    0\n") != std::string::npos);
    BOOST_TEST(text.find("connects 12   reuses 88   connect failed -") != std::string::npos);
    BOOST_TEST(text.find("rss 12.5 MiB   open fds 23   cpu 1.5s") != std::string::npos);
    BOOST_TEST(text.find("cache") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(generic_rendering) {
    json pool = {{"mode", "transaction"},
                 {"paused", false},
                 {"databases",
                  {{{"database", "app"}, {"user", "web"}, {"clients_active", 3}},
                   {{"database", "reports"}, {"user", "ro"}, {"clients_active", 10}}}}};
    std::string text = portico::admin::render_generic(pool);
    BOOST_TEST_MESSAGE(text);
    // nlohmann::json keeps keys sorted; numeric columns line up on the right.
    BOOST_TEST(text.find("databases:\n  CLIENTS ACTIVE  DATABASE  USER\n               3  app       web\n"
                         "              10  reports   ro\n") != std::string::npos);
    BOOST_TEST(text.find("mode    transaction\n") != std::string::npos);
    BOOST_TEST(text.find("paused  false\n") != std::string::npos);
    BOOST_TEST(portico::admin::render_generic(json{{"removed", 2}}) == "removed  2\n");
}

BOOST_AUTO_TEST_CASE(pool_tables) {
    json pool = json::parse(R"({
        "mode": "transaction", "clients": 3, "max_client_conn": 1000, "servers": 2, "login_failures": 0,
        "draining": false,
        "pools": [{"database": "app", "user": "web", "paused": false, "cl_active": 3, "cl_waiting": 1,
                   "sv_active": 2, "sv_idle": 0, "sv_used": 0, "sv_login": 0, "maxwait": 1, "maxwait_us": 250000,
                   "total_xact_count": 120, "total_query_count": 480, "total_received": 20480,
                   "total_sent": 3145728, "avg_xact_time": 2500, "avg_query_time": 420, "client_waits": 7,
                   "total_wait_time": 12000, "last_connect_error": "timeout"}],
        "databases": [{"name": "app", "paused": false, "reachable": true},
                      {"name": "reports", "paused": true, "reachable": null}],
        "notify": [{"database": "app", "channel": "portico_invalidate", "listening": true, "messages": 5,
                    "invalid": 1, "reconnects": 0}]})");
    std::string text = portico::admin::render_pool(pool);
    BOOST_TEST_MESSAGE(text);
    BOOST_TEST(text.find("pool  transaction mode   clients 3 of 1000   servers 2   login failures 0\n") == 0u);
    BOOST_TEST(text.find("DATABASE  USER  PAUSED  CL ACTIVE  CL WAITING  SV ACTIVE  SV IDLE  SV USED  SV LOGIN  MAXWAIT\n"
                         "app       web   no              3           1          2        0        0         0    1.25s\n") !=
               std::string::npos);
    BOOST_TEST(text.find("DATABASE  USER  XACTS  QUERIES  RECEIVED     SENT  AVG XACT  AVG QUERY  WAITS  WAIT TIME\n"
                         "app       web     120      480  20.0 KiB  3.0 MiB    2.50ms     0.42ms      7     12.0ms\n") !=
               std::string::npos);
    BOOST_TEST(text.find("app/web: last connect error: timeout\n") != std::string::npos);
    BOOST_TEST(text.find("DATABASE  PAUSED  REACHABLE\napp       no      yes\nreports   yes     -\n") != std::string::npos);
    BOOST_TEST(text.find("NOTIFY DATABASE  CHANNEL             LISTENING  MESSAGES  INVALID  RECONNECTS\n"
                         "app              portico_invalidate  yes               5        1           0\n") !=
               std::string::npos);
    // Before any client: no pool tables, the databases still.
    std::string empty = portico::admin::render_pool(json::parse(R"({"mode": "session", "pools": [],
        "databases": [{"name": "app", "paused": false}], "notify": []})"));
    BOOST_TEST(empty.find("CL ACTIVE") == std::string::npos, empty);
    BOOST_TEST(empty.find("app       no      -\n") != std::string::npos, empty);
}
