// The whole admin port of INTERFACE.md against a running portico with its cache AND its pool
// active (a real PostgreSQL), behind a token file: every endpoint and every `portico ctl` command
// (tables and --json), with figures that move by exactly what real traffic did — N proxied
// requests, one cache hit, purges that remove exactly their entries, libpq and psql transactions,
// pause/resume, reloads good and bad — and /metrics read by the Prometheus project's own parser.
#define BOOST_TEST_MODULE integration_admin_full
#include <boost/test/unit_test.hpp>

#include <fmt/core.h>

#include <cmath>
#include <csignal>
#include <future>
#include <netinet/in.h>
#include <regex>
#include <set>
#include <sys/socket.h>
#include <unistd.h>

#include "admin_support.hpp"
#include "pool_support.hpp"

using namespace portico::test;
using namespace portico::test::admin;
using portico::test::cache::has;
using portico::test::cache::metric;
using portico::test::pool::PgConn;

BOOST_TEST_GLOBAL_FIXTURE(SharedPg);

namespace {

// /stats' entry for a route pattern ({} when it has none).
json route_entry(const json& stats, std::string_view pattern) {
    for (const json& r : stats["routes"])
        if (r["route"] == pattern) return r;
    return json::object();
}

// Sends `request` (HEAD included) to the admin port with the given Authorization ("" = none).
HttpResponse admin_with(const FullStack& s, std::string_view method, std::string_view path, std::string_view body,
                        const std::string& authorization) {
    Headers h;
    if (!authorization.empty()) h.emplace_back("Authorization", authorization);
    if (!body.empty()) h.emplace_back("Content-Type", "application/json");
    return http_request(s.portico->admin_endpoint(), make_request(method, path, h, body, "127.0.0.1"), 10s,
                        method == "HEAD");
}

std::string error_of(const HttpResponse& r) {
    json j = json::parse(r.body, nullptr, false);
    return j.is_object() ? j.value("error", "") : "";
}

bool ready_soon(const FullStack& s) {
    return eventually([&] { return s.call("GET", "/ready").status == 200; }, 10s, 50ms);
}

// The size of a simple-protocol Query message carrying `sql`: 'Q', its length, the text, a NUL.
double query_message_bytes(std::string_view sql) { return 1 + 4 + static_cast<double>(sql.size()) + 1; }

// psql through portico's pool in its own thread; the future holds its result.
std::future<CommandResult> psql_async(const FullStack& s, const std::string& sql) {
    EnvVars env = s.pool_env();
    return std::async(std::launch::async, [env, sql] {
        return run_command({pg_program("psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql}, env, 30s);
    });
}

// The commands of INTERFACE.md, each with the arguments that make it succeed on FullStack.
const std::vector<std::vector<std::string>>& every_command() {
    static const std::vector<std::vector<std::string>> commands = {
        {"stats"},
        {"health"},
        {"ready"},
        {"metrics"},
        {"config"},
        {"cache", "stats"},
        {"cache", "purge", "--key", "http://portico.test/ttl/none"},
        {"cache", "purge", "--prefix", "/ttl/none/"},
        {"cache", "purge", "--tag", "none"},
        {"cache", "clear"},
        {"pool"},
        {"pool", "pause"},
        {"pool", "resume"},
        {"pool", "pause", "app"},
        {"pool", "resume", "app"},
        {"reload"},
    };
    return commands;
}

std::string joined(const std::vector<std::string>& words) {
    std::string out;
    for (const auto& w : words) out += (out.empty() ? "" : " ") + w;
    return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(admin_full)

// N proxied requests on two workers, through two raw paths of one pattern: +N exactly in /stats,
// /metrics and `ctl stats`, under the pattern and never under a raw path; admin calls not counted.
BOOST_AUTO_TEST_CASE(n_requests_count_exactly_n_everywhere_under_the_route_pattern) {
    FullStack s;
    json before = s.get_json("/stats");
    double total0 = before["requests"]["total"].get<double>();
    double ok0 = before["requests"]["2xx"].get<double>();
    double notfound0 = before["requests"]["4xx"].get<double>();
    BOOST_TEST(route_entry(before, "/api/items/*").value("requests", 0) == 0);

    const int kOk = 6;  // three each on /api/items/1 and /api/items/2, each on its own connection
    for (int i = 0; i < kOk; ++i) {
        auto r = cache::get(s.endpoint(), fmt::format("/api/items/{}", 1 + i % 2));
        BOOST_TEST_REQUIRE(r.status == 200, r.describe());
    }
    BOOST_TEST_REQUIRE(cache::get(s.endpoint(), "/api/items/3?status=404").status == 404);
    const int kN = kOk + 1;

    BOOST_TEST(s.figure_reaching("/stats", "/requests/total", total0 + kN) == total0 + kN);
    json stats = s.get_json("/stats");
    BOOST_TEST(stats["requests"]["2xx"].get<double>() == ok0 + kOk);
    BOOST_TEST(stats["requests"]["4xx"].get<double>() == notfound0 + 1);
    json route = route_entry(stats, "/api/items/*");
    BOOST_TEST(route.value("requests", 0) == kN, stats.dump());
    BOOST_TEST(route["by_class"].value("2xx", 0) == kOk);
    BOOST_TEST(route["by_class"].value("4xx", 0) == 1);
    json latency = route["latency_ms"];
    BOOST_TEST_REQUIRE((latency["p50"].is_number() && latency["p95"].is_number() && latency["p99"].is_number()),
                       latency.dump());
    BOOST_TEST(latency["p50"].get<double>() <= latency["p95"].get<double>());
    BOOST_TEST(latency["p95"].get<double>() <= latency["p99"].get<double>());
    for (const json& r : stats["routes"]) BOOST_TEST(!has(r["route"].get<std::string>(), "/api/items/1"), r.dump());

    std::string m = s.metrics();
    BOOST_TEST(metric(m, R"(portico_http_requests_total{route="/api/items/*",code="200"})") == kOk, m.substr(0, 3000));
    BOOST_TEST(metric(m, R"(portico_http_requests_total{route="/api/items/*",code="404"})") == 1);
    BOOST_TEST(metric(m, R"(portico_http_request_duration_seconds_count{route="/api/items/*"})") == kN);
    BOOST_TEST(metric(m, R"(portico_http_request_duration_seconds_bucket{route="/api/items/*",le="+Inf"})") == kN);
    BOOST_TEST(!has(m, "route=\"/api/items/1\""));
    BOOST_TEST(!has(m, "route=\"/api/items/2\""));

    json viactl = s.ctl_json({"stats"});
    BOOST_TEST(viactl["requests"]["total"].get<double>() == total0 + kN);
    BOOST_TEST(route_entry(viactl, "/api/items/*").value("requests", 0) == kN);

    // The table: one row for the pattern, its count in the REQUESTS column.
    std::string table = s.ctl_text({"stats"});
    BOOST_TEST(has(table, "ROUTE"), table);
    BOOST_TEST(std::regex_search(table, std::regex(R"(\n/api/items/\*\s+7\s+6\s+0\s+1\s+0\s)")), table);
    BOOST_TEST(has(table, fmt::format("requests {}", total0 + kN)), table);

    // All the admin calls above were not proxied requests.
    BOOST_TEST(s.figure("/stats", "/requests/total") == total0 + kN);
}

// One hit raises hits by exactly one (and a miss misses); purges by tag, key and prefix remove
// exactly their entries (the others still HIT); clear removes the rest. /cache, /stats, /metrics.
BOOST_AUTO_TEST_CASE(a_hit_counts_one_and_each_purge_removes_exactly_its_entries) {
    FullStack s;
    s.store_tagged("/ttl/tag/a", "grp:1 all");
    s.store_tagged("/ttl/tag/b", "grp:1 all");
    s.store_tagged("/ttl/tag/c", "grp:2 all");
    s.store_tagged("/ttl/key/1");
    s.store_tagged("/ttl/key/2");
    s.store_tagged("/ttl/pre/x/1");
    s.store_tagged("/ttl/pre/x/2");
    s.store_tagged("/ttl/pre/y/1");
    BOOST_TEST(s.figure("/cache", "/entries") == 8);

    double hits = s.figure("/cache", "/hits");
    double misses = s.figure("/cache", "/misses");
    BOOST_TEST(s.xcache("/ttl/tag/c") == "HIT");
    BOOST_TEST(s.figure_reaching("/cache", "/hits", hits + 1) == hits + 1);
    BOOST_TEST(s.figure("/cache", "/misses") == misses);
    BOOST_TEST(s.figure("/stats", "/cache/hits") == hits + 1);
    std::string m = s.metrics();
    BOOST_TEST(metric(m, R"(portico_cache_requests_total{result="hit"})") == hits + 1);
    BOOST_TEST(metric(m, R"(portico_cache_requests_total{result="miss"})") == misses);
    BOOST_TEST(metric(m, "portico_cache_entries") == 8);
    json ratio = s.get_json("/cache")["hit_ratio"];
    BOOST_TEST_REQUIRE(ratio.is_number());
    BOOST_TEST(std::abs(ratio.get<double>() - (hits + 1) / (hits + 1 + misses)) < 1e-3, ratio.dump());

    BOOST_TEST(s.xcache("/ttl/fresh") == "MISS");
    BOOST_TEST(s.figure_reaching("/cache", "/misses", misses + 1) == misses + 1);
    BOOST_TEST(s.figure("/cache", "/hits") == hits + 1);
    BOOST_TEST_REQUIRE(s.wait_stored(9));
    BOOST_TEST(s.figure("/cache", "/entries") == 9);

    // By tag: the two grp:1 entries, nothing else.
    HttpResponse r = s.call("POST", "/cache/purge", R"({"tag":"grp:1"})");
    BOOST_TEST_REQUIRE(r.status == 200, r.describe() << r.body);
    BOOST_TEST(r.json()["purged"] == 2, r.body);
    BOOST_TEST(s.figure("/cache", "/entries") == 7);
    BOOST_TEST(s.xcache("/ttl/tag/c") == "HIT");
    BOOST_TEST(s.xcache("/ttl/key/1") == "HIT");
    BOOST_TEST(s.xcache("/ttl/tag/a") == "MISS");
    BOOST_TEST(s.xcache("/ttl/tag/b") == "MISS");
    BOOST_TEST(s.call("POST", "/cache/purge", R"({"tag":"no-such-tag"})").json()["purged"] == 0);
    BOOST_TEST_REQUIRE(s.wait_stored(11));  // the two MISSes above were stored again

    // By key: the absolute URL of one entry (its Host, as the proxy keys it).
    r = s.call("POST", "/cache/purge", R"({"key":"http://portico.test/ttl/key/1"})");
    BOOST_TEST(r.json()["purged"] == 1, r.body);
    BOOST_TEST(s.xcache("/ttl/key/2") == "HIT");
    BOOST_TEST(s.xcache("/ttl/key/1") == "MISS");

    // By prefix: the two under /ttl/pre/x/, not /ttl/pre/y/1.
    r = s.call("POST", "/cache/purge", R"({"prefix":"/ttl/pre/x/"})");
    BOOST_TEST(r.json()["purged"] == 2, r.body);
    BOOST_TEST(s.xcache("/ttl/pre/y/1") == "HIT");
    BOOST_TEST(s.xcache("/ttl/pre/x/1") == "MISS");
    BOOST_TEST(s.xcache("/ttl/pre/x/2") == "MISS");

    // Counted as purged: 2 + 1 + 2.
    BOOST_TEST(s.figure("/cache", "/purged") == 5);
    BOOST_TEST(metric(s.metrics(), "portico_cache_purged_total") == 5);

    // Clear: everything that is left, then nothing.
    BOOST_TEST_REQUIRE(s.wait_stored(14));
    double entries = s.figure("/cache", "/entries");
    BOOST_TEST(entries == 9);
    r = s.call("POST", "/cache/clear");
    BOOST_TEST_REQUIRE(r.status == 200, r.describe() << r.body);
    BOOST_TEST(r.json()["purged"] == entries, r.body);
    BOOST_TEST(s.figure("/cache", "/entries") == 0);
    BOOST_TEST(metric(s.metrics(), "portico_cache_entries") == 0);
    for (const char* path : {"/ttl/tag/c", "/ttl/key/2", "/ttl/pre/y/1", "/ttl/fresh"})
        BOOST_TEST(s.xcache(path) == "MISS", path);
    BOOST_TEST_REQUIRE(s.wait_stored(18));  // those four, stored again
    BOOST_TEST(s.call("POST", "/cache/clear").json()["purged"] == 4);
    BOOST_TEST(s.call("POST", "/cache/clear").json()["purged"] == 0);
}

// The same purges through `portico ctl cache …`, in tables and in JSON.
BOOST_AUTO_TEST_CASE(ctl_cache_commands_in_both_forms) {
    FullStack s;
    s.store_tagged("/ttl/c/a", "grp:1");
    s.store_tagged("/ttl/c/b", "grp:2");
    s.store_tagged("/ttl/c/k");
    s.store_tagged("/ttl/c/p/1");
    s.store_tagged("/ttl/c/p/2");
    s.store_tagged("/ttl/c/q/1");

    json st = s.ctl_json({"cache", "stats"});
    BOOST_TEST(st.value("entries", -1) == 6, st.dump());
    BOOST_TEST(st.value("hits", -1) == 6, st.dump());  // store_tagged checks each with one HIT
    BOOST_TEST(st.value("path", "") == s.dir.file("cache"));
    std::string text = s.ctl_text({"cache", "stats"});
    BOOST_TEST(std::regex_search(text, std::regex(R"((^|\n)entries\s+6\n)")), text);
    BOOST_TEST(std::regex_search(text, std::regex(R"((^|\n)hits\s+6\n)")), text);

    BOOST_TEST(s.ctl_text({"cache", "purge", "--tag", "grp:1"}) == "purged  1\n");
    BOOST_TEST(s.xcache("/ttl/c/b") == "HIT");
    BOOST_TEST(s.xcache("/ttl/c/a") == "MISS");
    BOOST_TEST(s.ctl_json({"cache", "purge", "--key", "http://portico.test/ttl/c/k"}) == json({{"purged", 1}}));
    BOOST_TEST(s.xcache("/ttl/c/k") == "MISS");
    BOOST_TEST(s.ctl_text({"cache", "purge", "--prefix=/ttl/c/p/"}) == "purged  2\n");
    BOOST_TEST(s.xcache("/ttl/c/q/1") == "HIT");
    BOOST_TEST(s.xcache("/ttl/c/p/1") == "MISS");
    BOOST_TEST(s.ctl_json({"cache", "purge", "--tag", "nothing-tagged-so"}) == json({{"purged", 0}}));

    BOOST_TEST_REQUIRE(s.wait_stored(9));  // the three MISSes above, stored again
    BOOST_TEST(s.ctl_json({"cache", "clear"}) == json({{"purged", 5}}));  // b, q/1 and the three stored again
    BOOST_TEST(s.ctl_text({"cache", "clear"}) == "purged  0\n");
    BOOST_TEST(s.ctl_json({"cache", "stats"}).value("entries", -1) == 0);

    // Mistakes: a usage error (1) before any call, a refused key (400: 1) with the server's reason.
    CommandResult none = s.ctl({"cache", "purge"});
    BOOST_TEST(none.exit_code == 1, none.describe());
    BOOST_TEST(has(none.err, "cache purge needs --key URL, --prefix PATH or --tag TAG"), none.err);
    CommandResult relative = s.ctl({"cache", "purge", "--key", "/ttl/c/b"});
    BOOST_TEST(relative.exit_code == 1, relative.describe());
    BOOST_TEST(has(relative.err, "absolute URL"), relative.err);
    BOOST_TEST(has(relative.err, "(400)"), relative.err);
}

// libpq and psql transactions through the pool move /pool, /metrics and `ctl pool` by what they
// did: transactions, command cycles, bytes from clients, clients and servers active.
BOOST_AUTO_TEST_CASE(pool_figures_follow_real_transactions) {
    FullStack s;
    // Before any client: no pool yet, the database already known reachable.
    BOOST_TEST(eventually([&] { return s.get_json("/pool")["databases"][0]["reachable"] == true; }, 10s));
    BOOST_TEST(s.get_json("/pool")["pools"].empty());
    {
        PgConn a(s.pool_conninfo());
        PgConn b(s.pool_conninfo());
        BOOST_TEST_REQUIRE(a.ok(), a.error());
        BOOST_TEST_REQUIRE(b.ok(), b.error());
        BOOST_TEST(s.figure_reaching("/pool", "/clients", 2) == 2);
        json p0 = s.pool_entry();
        BOOST_TEST_REQUIRE(!p0.empty(), s.get_json("/pool").dump());
        BOOST_TEST(p0.value("cl_active", -1) == 2, p0.dump());
        BOOST_TEST(p0.value("cl_waiting", -1) == 0, p0.dump());

        const int kSimple = 5;
        double received = 0;
        for (int i = 0; i < kSimple; ++i) {
            BOOST_TEST(a.value("SELECT 1") == "1");
            received += query_message_bytes("SELECT 1");
        }
        // One transaction of three command cycles, held open on b: b holds a server meanwhile.
        BOOST_TEST(b.value("BEGIN") == "");
        BOOST_TEST(b.value("SELECT 2") == "2");
        received += query_message_bytes("BEGIN") + query_message_bytes("SELECT 2");
        json held = s.pool_entry();
        BOOST_TEST(held.value("sv_active", -1) == 1, held.dump());
        BOOST_TEST(held.value("cl_active", -1) == 2, held.dump());
        BOOST_TEST(b.value("COMMIT") == "");
        received += query_message_bytes("COMMIT");

        json p1 = s.pool_entry();
        BOOST_TEST(p1.value("total_xact_count", 0.0) - p0.value("total_xact_count", 0.0) == kSimple + 1, p1.dump());
        BOOST_TEST(p1.value("total_query_count", 0.0) - p0.value("total_query_count", 0.0) == kSimple + 3, p1.dump());
        BOOST_TEST(p1.value("total_received", 0.0) - p0.value("total_received", 0.0) == received, p1.dump());
        // Every cycle ends with at least a ReadyForQuery (6 bytes) sent back.
        BOOST_TEST(p1.value("total_sent", 0.0) - p0.value("total_sent", 0.0) >= 6 * (kSimple + 3), p1.dump());
        BOOST_TEST(p1.value("total_xact_time", 0.0) > p0.value("total_xact_time", 0.0));
        BOOST_TEST(eventually([&] { return s.pool_entry().value("sv_active", -1) == 0; }, 5s));
        BOOST_TEST(s.pool_entry().value("sv_idle", 0) + s.pool_entry().value("sv_used", 0) >= 1);

        // The same figures in /metrics and through ctl.
        std::string m = s.metrics();
        std::string labels = fmt::format(R"({{database="app",user="{}"}})", s.pg.superuser());
        BOOST_TEST(metric(m, "portico_pool_transactions_total" + labels) == p1["total_xact_count"].get<double>(),
                   m.substr(m.find("portico_pool_"), 2000));
        BOOST_TEST(metric(m, "portico_pool_queries_total" + labels) == p1["total_query_count"].get<double>());
        BOOST_TEST(metric(m, "portico_pool_received_bytes_total" + labels) == p1["total_received"].get<double>());
        BOOST_TEST(metric(m, "portico_pool_clients_active" + labels) == 2);
        BOOST_TEST(metric(m, "portico_pool_client_connections") == 2);

        json viactl = s.ctl_json({"pool"});
        json entry;
        for (const json& p : viactl["pools"])
            if (p["database"] == "app") entry = p;
        BOOST_TEST(entry.value("total_xact_count", -1.0) == p1["total_xact_count"].get<double>(), viactl.dump());
        BOOST_TEST(entry.value("cl_active", -1) == 2);
        // The tables: SHOW POOLS (cl_active 2, cl_waiting 0, sv_active 0) and SHOW STATS (6, 8).
        std::string table = s.ctl_text({"pool"});
        std::string user = s.pg.superuser();
        BOOST_TEST(has(table, "CL ACTIVE  CL WAITING  SV ACTIVE"), table);
        BOOST_TEST(std::regex_search(table, std::regex("\napp +" + user + " +no +2 +0 +0 ")), table);
        BOOST_TEST(has(table, "XACTS  QUERIES  RECEIVED"), table);
        BOOST_TEST(std::regex_search(table, std::regex("\napp +" + user + " +6 +8 +107 B ")), table);
        BOOST_TEST(std::regex_search(table, std::regex("\napp +no +yes\n")), table);
    }
    // The two clients left.
    BOOST_TEST(eventually([&] { return s.pool_entry().value("cl_active", -1) == 0; }, 5s), s.pool_entry().dump());

    // psql: three statements, each its own transaction (at least: psql may add its own).
    double xacts = s.pool_entry().value("total_xact_count", 0.0);
    CommandResult r = run_command({pg_program("psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c",
                                   "CREATE TABLE IF NOT EXISTS admin_full_pool(x int)", "-c",
                                   "INSERT INTO admin_full_pool VALUES (1), (2)", "-c",
                                   "SELECT count(*) >= 2 FROM admin_full_pool"},
                                  s.pool_env(), 30s);
    BOOST_TEST_REQUIRE(r.ok(), r.describe());
    BOOST_TEST(has(r.out, "t"), r.out);
    BOOST_TEST(s.pool_entry().value("total_xact_count", 0.0) >= xacts + 3);
    BOOST_TEST(s.pool_entry().value("logins", 0.0) == 3);  // a, b and psql
}

// Pause holds a client's query (queued: cl_waiting 1) until resume, by endpoint and by ctl, for
// one database and for all; an unknown database is refused.
BOOST_AUTO_TEST_CASE(pool_pause_and_resume_by_endpoint_and_ctl) {
    FullStack s;
    {
        PgConn warm(s.pool_conninfo());
        BOOST_TEST_REQUIRE(warm.ok(), warm.error());
        BOOST_TEST(warm.value("SELECT 1") == "1");
    }
    auto waiting = [&] { return s.pool_entry().value("cl_waiting", -1); };
    auto paused = [&] {
        json p = s.get_json("/pool");
        return p["databases"][0].value("paused", false) && s.pool_entry().value("paused", false);
    };

    HttpResponse r = s.call("POST", "/pool/pause", R"({"database":"app"})");
    BOOST_TEST_REQUIRE(r.status == 200, r.describe() << r.body);
    BOOST_TEST(r.json() == json::parse(R"({"paused":["app"]})"), r.body);
    BOOST_TEST(paused());
    auto held = psql_async(s, "SELECT 'after resume'");
    BOOST_TEST(eventually([&] { return waiting() == 1; }, 10s), s.pool_entry().dump());
    r = s.call("POST", "/pool/resume");  // no body: every database
    BOOST_TEST(r.json() == json::parse(R"({"resumed":["app"]})"), r.body);
    CommandResult done = held.get();
    BOOST_TEST(done.ok(), done.describe());
    BOOST_TEST(has(done.out, "after resume"), done.out);
    BOOST_TEST(!paused());
    BOOST_TEST(waiting() == 0);

    // ctl, table form and JSON.
    BOOST_TEST(s.ctl_text({"pool", "pause", "app"}) == "paused  app\n");
    BOOST_TEST(paused());
    json viactl = s.ctl_json({"pool"});
    BOOST_TEST(viactl["databases"][0].value("paused", false), viactl.dump());
    held = psql_async(s, "SELECT 'after ctl resume'");
    BOOST_TEST(eventually([&] { return waiting() == 1; }, 10s), s.pool_entry().dump());
    BOOST_TEST(s.ctl_json({"pool", "resume", "app"}) == json::parse(R"({"resumed":["app"]})"));
    done = held.get();
    BOOST_TEST(has(done.out, "after ctl resume"), done.describe());
    BOOST_TEST(s.ctl_json({"pool", "pause"}) == json::parse(R"({"paused":["app"]})"));
    BOOST_TEST(paused());
    BOOST_TEST(s.ctl_text({"pool", "resume"}) == "resumed  app\n");
    BOOST_TEST(!paused());

    // A database the pool does not have: 404, and ctl says so with exit 2.
    r = s.call("POST", "/pool/pause", R"({"database":"nope"})");
    BOOST_TEST(r.status == 404, r.describe());
    BOOST_TEST(has(error_of(r), "no database \"nope\""), r.body);
    CommandResult nope = s.ctl({"pool", "resume", "nope"});
    BOOST_TEST(nope.exit_code == 2, nope.describe());
    BOOST_TEST(has(nope.err, "no database \"nope\" in pool.databases (404)"), nope.err);
    BOOST_TEST(!paused());
}

// With admin.token_file, every endpoint answers 401 (with WWW-Authenticate) without the token or
// with a wrong one, and does nothing; with it, its answer. ctl: a clear error and exit 2. The
// file is read again on reload (a rotated token).
BOOST_AUTO_TEST_CASE(every_endpoint_and_command_needs_the_token) {
    FullStack s;
    BOOST_TEST_REQUIRE(ready_soon(s));
    struct Call {
        std::string method, path, body;
        int status;
    };
    const std::vector<Call> calls = {
        {"GET", "/health", "", 200},
        {"GET", "/ready", "", 200},
        {"GET", "/stats", "", 200},
        {"GET", "/metrics", "", 200},
        {"GET", "/cache", "", 200},
        {"POST", "/cache/purge", R"({"tag":"none"})", 200},
        {"POST", "/cache/clear", "", 200},
        {"GET", "/pool", "", 200},
        {"POST", "/pool/pause", R"({"database":"app"})", 200},
        {"POST", "/pool/resume", R"({"database":"app"})", 200},
        {"GET", "/config", "", 200},
        {"POST", "/reload", "", 200},
        {"HEAD", "/stats", "", 200},
        {"GET", "/no-such-endpoint", "", 404},
    };
    const std::string good = fmt::format("Bearer {}", kToken);
    const std::vector<std::string> refused = {
        "", "Bearer wrong", fmt::format("Bearer {}x", kToken), fmt::format("Bearer {}", std::string(kToken).substr(1)),
        fmt::format("Basic {}", kToken), std::string(kToken), "Bearer"};
    for (const Call& c : calls) {
        for (const std::string& auth : refused) {
            HttpResponse r = admin_with(s, c.method, c.path, c.body, auth);
            BOOST_TEST(r.status == 401, c.method << " " << c.path << " with '" << auth << "': " << r.describe());
            BOOST_TEST(r.header("www-authenticate").value_or("") == "Bearer realm=\"portico\"", r.describe());
        }
        HttpResponse r = admin_with(s, c.method, c.path, c.body, good);
        BOOST_TEST(r.status == c.status, c.method << " " << c.path << ": " << r.describe() << r.body);
        // The scheme is case-insensitive (RFC 9110 §11.1).
        r = admin_with(s, c.method, c.path, c.body, fmt::format("bearer {}", kToken));
        BOOST_TEST(r.status == c.status, c.method << " " << c.path << " (bearer): " << r.describe());
    }
    // The refused calls did nothing: only the two accepted POST /reload reloaded; nothing is paused.
    BOOST_TEST(s.figure("/stats", "/config_generation") == 3);
    BOOST_TEST(!s.pool_entry().value("paused", false));
    std::string body401 = admin_with(s, "GET", "/stats", "", "").body;
    BOOST_TEST(has(body401, "Authorization: Bearer"), body401);
    BOOST_TEST(!has(body401, "requests"), body401);

    for (const auto& command : every_command()) {
        CommandResult with = s.ctl(command);
        BOOST_TEST(with.exit_code == 0, joined(command) << ": " << with.describe());
        CommandResult without = s.ctl(command, FullStack::Token::none);
        BOOST_TEST(without.exit_code == 2, joined(command) << ": " << without.describe());
        BOOST_TEST(has(without.err, "needs a token (401): pass --token-file FILE"), without.err);
        BOOST_TEST(without.out.empty(), without.out);
        CommandResult wrong = s.ctl(command, FullStack::Token::wrong);
        BOOST_TEST(wrong.exit_code == 2, joined(command) << ": " << wrong.describe());
        BOOST_TEST(has(wrong.err, "refused the token (401) from " + s.dir.file("wrong.token")), wrong.err);
    }
    CommandResult missing = run_command({portico_bin(), "ctl", "--admin", s.admin_address(), "--token-file",
                                         s.dir.file("missing.token"), "health"});
    BOOST_TEST(missing.exit_code == 1, missing.describe());
    BOOST_TEST(has(missing.err, "cannot read token file " + s.dir.file("missing.token")), missing.err);

    // A rotated token: the file is read again on reload.
    s.dir.write("admin.token", "rotated-token\n");
    BOOST_TEST(s.call("POST", "/reload").status == 200);
    BOOST_TEST(admin_with(s, "GET", "/health", "", good).status == 401);
    BOOST_TEST(admin_with(s, "GET", "/health", "", "Bearer rotated-token").status == 200);
}

// Bodies that are not JSON, not an object, or carry unknown fields: 400 with the reason, and
// nothing done. Unknown paths 404; a known path with another method 405 with Allow.
BOOST_AUTO_TEST_CASE(bad_bodies_unknown_paths_and_wrong_methods) {
    FullStack s;
    for (const char* path : {"/cache/purge", "/cache/clear", "/pool/pause", "/pool/resume", "/reload"}) {
        HttpResponse r = s.call("POST", path, R"({"tag": )");
        BOOST_TEST(r.status == 400, path << ": " << r.describe());
        BOOST_TEST(error_of(r).rfind("invalid JSON: parse error", 0) == 0u, path << ": " << r.body);
        r = s.call("POST", path, R"({"colour":"red"})");
        BOOST_TEST(r.status == 400, path << ": " << r.describe());
        BOOST_TEST(has(error_of(r), "unknown field 'colour'"), path << ": " << r.body);
        r = s.call("POST", path, "[1, 2]");
        BOOST_TEST(r.status == 400, path << ": " << r.describe());
        BOOST_TEST(error_of(r) == "the body must be a JSON object", path << ": " << r.body);
    }
    struct Bad {
        std::string path, body, reason;
    };
    for (const Bad& b : std::vector<Bad>{
             {"/cache/purge", "{}", "give exactly one of"},
             {"/cache/purge", R"({"tag":"a","key":"http://portico.test/a"})", "give exactly one of"},
             {"/cache/purge", R"({"tag":7})", "'tag' must be a non-empty string"},
             {"/cache/purge", R"({"tag":""})", "'tag' must be a non-empty string"},
             {"/cache/purge", R"({"prefix":"ttl/"})", "'prefix' must be a path starting with '/'"},
             {"/cache/purge", R"({"key":"/ttl/a"})", "key must be an absolute URL"},
             {"/pool/pause", R"({"database":""})", "'database' must be a non-empty string"},
             {"/pool/resume", R"({"database":3})", "'database' must be a non-empty string"},
             {"/reload", R"({"force":true})", "this call takes no fields"},
         }) {
        HttpResponse r = s.call("POST", b.path, b.body);
        BOOST_TEST(r.status == 400, b.path << " " << b.body << ": " << r.describe());
        BOOST_TEST(has(error_of(r), b.reason), b.path << " " << b.body << ": " << r.body);
    }
    // None of it did anything.
    std::string m = s.metrics();
    BOOST_TEST(metric(m, R"(portico_config_reloads_total{result="ok"})") == 0);
    BOOST_TEST(metric(m, R"(portico_config_reloads_total{result="error"})") == 0);
    BOOST_TEST(metric(m, "portico_cache_purged_total") == 0);
    BOOST_TEST(!s.get_json("/pool")["databases"][0].value("paused", true));

    for (auto [method, path] : std::vector<std::pair<std::string, std::string>>{
             {"GET", "/nope"}, {"POST", "/nope"}, {"GET", "/stats/extra"}, {"GET", "/"}, {"GET", "/cache/"}}) {
        HttpResponse r = s.call(method, path);
        BOOST_TEST(r.status == 404, method << " " << path << ": " << r.describe());
        BOOST_TEST(error_of(r) == "no such endpoint: " + path, r.body);
    }
    struct Wrong {
        std::string method, path, allow;
    };
    for (const Wrong& w : std::vector<Wrong>{{"POST", "/stats", "GET, HEAD"},
                                             {"DELETE", "/health", "GET, HEAD"},
                                             {"GET", "/reload", "POST"},
                                             {"PUT", "/cache/purge", "POST"},
                                             {"GET", "/pool/pause", "POST"},
                                             {"POST", "/metrics", "GET, HEAD"}}) {
        HttpResponse r = s.call(w.method, w.path);
        BOOST_TEST(r.status == 405, w.method << " " << w.path << ": " << r.describe());
        BOOST_TEST(r.header("allow").value_or("") == w.allow, w.method << " " << w.path << ": " << r.describe());
        BOOST_TEST(has(error_of(r), "is not allowed on " + w.path), r.body);
    }
    HttpResponse head = admin_with(s, "HEAD", "/stats", "", fmt::format("Bearer {}", kToken));
    BOOST_TEST(head.status == 200, head.describe());
    BOOST_TEST(head.body.empty());
    BOOST_TEST(head.header("content-type").value_or("").rfind("application/json", 0) == 0u, head.describe());

    // ctl's usage errors: exit 1, the reason, before any call.
    for (const auto& [args, reason] : std::vector<std::pair<std::vector<std::string>, std::string>>{
             {{"frobnicate"}, "unknown command 'frobnicate'"},
             {{"cache"}, "cache needs a subcommand"},
             {{"pool", "pause", "app", "extra"}, "unexpected 'extra'"},
             {{"stats", "--watch", "0s"}, "--watch must be more than 0"},
             {{"health", "--watch", "1s"}, "--watch goes with 'stats' only"},
             {{"stats", "--bogus"}, "unknown option '--bogus'"}}) {
        CommandResult r = s.ctl(args);
        BOOST_TEST(r.exit_code == 1, joined(args) << ": " << r.describe());
        BOOST_TEST(has(r.err, reason), joined(args) << ": " << r.err);
    }
}

// POST /reload, `ctl reload` and SIGHUP share one path: the new generation or FILE:LINE:COL, and
// portico_config_reloads_total{result="ok"|"error"} counts each.
BOOST_AUTO_TEST_CASE(reloads_good_and_bad_move_the_reload_counters) {
    FullStack s;
    auto reloads = [&](const char* result) {
        return metric(s.metrics(), fmt::format(R"(portico_config_reloads_total{{result="{}"}})", result));
    };
    BOOST_TEST(reloads("ok") == 0);
    BOOST_TEST(reloads("error") == 0);

    HttpResponse r = s.call("POST", "/reload");
    BOOST_TEST_REQUIRE(r.status == 200, r.describe() << r.body);
    BOOST_TEST(r.json() == json({{"result", "ok"}, {"generation", 2}}), r.body);
    BOOST_TEST(reloads("ok") == 1);
    BOOST_TEST(reloads("error") == 0);
    BOOST_TEST(metric(s.metrics(), "portico_config_generation") == 2);

    std::string good = read_file(s.portico->config_path());
    std::string broken = good;
    broken.replace(broken.find("upstream:"), 9, "upstream:\n  keepalve: 3");
    s.portico->write_config_text(broken);
    r = s.call("POST", "/reload");
    BOOST_TEST(r.status == 422, r.describe());
    std::string error = error_of(r);
    BOOST_TEST(std::regex_search(error, std::regex("^" + s.portico->config_path() + R"(:\d+:\d+: )")), error);
    BOOST_TEST(has(error, "did you mean 'keepalive'"), error);
    BOOST_TEST(r.json()["generation"] == 2, r.body);
    BOOST_TEST(reloads("ok") == 1);
    BOOST_TEST(reloads("error") == 1);
    // The old configuration keeps serving: proxy, cache and pool.
    BOOST_TEST(cache::get(s.endpoint(), "/api/items/1").status == 200);
    PgConn c(s.pool_conninfo());
    BOOST_TEST_REQUIRE(c.ok(), c.error());
    BOOST_TEST(c.value("SELECT 41 + 1") == "42");

    CommandResult bad = s.ctl({"reload"});
    BOOST_TEST(bad.exit_code == 1, bad.describe());
    BOOST_TEST(has(bad.err, "reload failed, configuration generation 2 keeps serving: " + s.portico->config_path() + ":"),
               bad.err);
    bad = s.ctl({"reload", "--json"});
    BOOST_TEST(bad.exit_code == 1, bad.describe());
    json bad_json = json::parse(bad.out, nullptr, false);
    BOOST_TEST(bad_json.value("result", "") == "error", bad.out);
    BOOST_TEST(bad_json.value("generation", 0) == 2, bad.out);
    BOOST_TEST(reloads("error") == 3);

    s.portico->write_config_text(good);
    BOOST_TEST(s.ctl_text({"reload"}) == "reloaded: configuration generation 3\n");
    BOOST_TEST(s.ctl_json({"reload"}) == json({{"result", "ok"}, {"generation", 4}}));
    s.portico->notify().drain();  // the reloads above queued their RELOADING=1 / READY=1
    s.portico->reload();          // SIGHUP: the same path, the same counter
    BOOST_TEST(reloads("ok") == 4);
    BOOST_TEST(reloads("error") == 3);
    json stats = s.get_json("/stats");
    BOOST_TEST(stats["config_generation"] == 5);
    BOOST_TEST(stats["config_reloads"] == json({{"ok", 4}, {"error", 3}}));
    BOOST_TEST(has(s.ctl_text({"stats"}), "config generation 5   reloads ok 4 / failed 3"));
}

// The read-only commands in both forms, with traffic through every part.
BOOST_AUTO_TEST_CASE(ctl_read_commands_in_both_forms) {
    FullStack s;
    BOOST_TEST_REQUIRE(cache::get(s.endpoint(), "/api/items/9").status == 200);
    s.store_tagged("/ttl/ctl/1", "ctl");
    {
        PgConn c(s.pool_conninfo());
        BOOST_TEST_REQUIRE(c.ok(), c.error());
        BOOST_TEST(c.value("SELECT 1") == "1");
    }
    BOOST_TEST_REQUIRE(ready_soon(s));

    BOOST_TEST(s.ctl_text({"health"}) == "ok\n");
    BOOST_TEST(s.ctl_json({"health"}) == json({{"status", "ok"}}));
    BOOST_TEST(s.ctl_text({"ready"}) == "ready\n");
    BOOST_TEST(s.ctl_json({"ready"}) == json({{"status", "ready"}}));

    std::string stats = s.ctl_text({"stats"});
    for (const char* want : {"uptime ", "config generation 1", "ROUTE", "/api/items/*", "/ttl/*", "upstream    connects",
                             "\ncache\n", "\npool  transaction mode", "process     rss"})
        BOOST_TEST(has(stats, want), want << " missing from:\n" << stats);
    json sj = s.ctl_json({"stats"});
    BOOST_TEST(sj["cache"].value("hits", -1) == 1, sj.dump());
    BOOST_TEST(sj["pool"]["pools"][0].value("total_xact_count", -1) == 1, sj.dump());
    BOOST_TEST(sj["process"].value("open_fds", 0) > 0);

    std::string metrics = s.ctl_text({"metrics"});
    BOOST_TEST(has(metrics, "# TYPE portico_http_requests_total counter\n"));
    BOOST_TEST(has(metrics, "portico_pool_transactions_total{database=\"app\""));
    BOOST_TEST(has(metrics, "portico_cache_requests_total{result=\"hit\"} 1\n"));
    json mj = s.ctl_json({"metrics"});
    BOOST_TEST(mj["portico_http_requests_total"]["type"] == "counter", mj.dump().substr(0, 500));
    BOOST_TEST(mj["portico_http_requests_total"]["samples"][0] ==
                   json::parse(R"({"name":"portico_http_requests_total","labels":{"route":"/api/items/*","code":"200"},"value":1})"),
               mj["portico_http_requests_total"].dump());
    BOOST_TEST(mj["portico_pool_transactions_total"]["samples"][0]["value"] == 1, mj["portico_pool_transactions_total"].dump());
    BOOST_TEST(mj["portico_http_request_duration_seconds"]["type"] == "histogram");
    BOOST_TEST(mj.size() > 60u);

    std::string config = s.ctl_text({"config"});
    BOOST_TEST(has(config, "pool:"), config);
    BOOST_TEST(has(config, "cache:"), config);
    BOOST_TEST(has(config, s.dir.file("admin.token")), config);
    BOOST_TEST(!has(config, kConninfoSecret), config);
    json cj = s.ctl_json({"config"});
    BOOST_TEST(cj["workers"] == 2, cj.dump());
    BOOST_TEST(cj["admin"]["token_file"] == s.dir.file("admin.token"), cj.dump());
    BOOST_TEST(cj["cache"]["enabled"] == true, cj.dump());
    BOOST_TEST(cj["pool"]["databases"]["app"].contains("conninfo"), cj.dump());
    BOOST_TEST(cj["routes"]["patterns"].contains("/api/items/*"), cj.dump());
    BOOST_TEST(!has(cj.dump(), kConninfoSecret));
    HttpResponse r = s.call("GET", "/config");
    BOOST_TEST(r.status == 200);
    BOOST_TEST(!has(r.body, kConninfoSecret), r.body);
}

// `ctl stats --watch 1s` redraws like top: the first screen, then a later one showing the
// requests sent after the first; Ctrl-C (SIGINT) ends it with exit 0.
BOOST_AUTO_TEST_CASE(ctl_stats_watch_refreshes_with_live_figures) {
    FullStack s;
    Process watch(Process::Options{
        .argv = {portico_bin(), "ctl", "--admin", s.admin_address(), "--token-file", s.token_file, "stats", "--watch",
                 "1s"},
        .stdout_path = s.dir.file("watch.out"),
        .stderr_path = s.dir.file("watch.err")});
    const std::string kClear = "\x1b[H\x1b[2J";
    auto screens = [&] {
        std::string out = read_file(s.dir.file("watch.out"));
        std::vector<std::string> all;
        size_t at = 0;
        while ((at = out.find(kClear, at)) != std::string::npos) {
            size_t next = out.find(kClear, at + kClear.size());
            all.push_back(out.substr(at, next == std::string::npos ? std::string::npos : next - at));
            at += kClear.size();
        }
        return all;
    };
    BOOST_TEST_REQUIRE(eventually([&] { return !screens().empty(); }, 5s), read_file(s.dir.file("watch.err")));
    std::string first = screens().front();
    BOOST_TEST(has(first, "requests 0 "), first);
    for (int i = 0; i < 3; ++i) BOOST_TEST(cache::get(s.endpoint(), "/api/items/watched").status == 200);
    // A later screen shows the three requests (about a second later).
    bool refreshed = eventually(
        [&] {
            auto all = screens();
            return all.size() >= 2 && has(all.back(), "requests 3 ") && has(all.back(), "/api/items/*");
        },
        5s, 50ms);
    BOOST_TEST(refreshed, read_file(s.dir.file("watch.out")));
    BOOST_TEST(eventually([&] { return screens().size() >= 3; }, 5s), "a third screen");
    BOOST_TEST(watch.running());
    watch.signal(SIGINT);
    BOOST_TEST(watch.wait_exit(5s).value_or(-1) == 0, read_file(s.dir.file("watch.err")));
}

// No admin port there: one clear line on stderr and exit 2, for every command; a port that
// accepts but never answers: the same after --timeout.
BOOST_AUTO_TEST_CASE(ctl_reports_an_unreachable_admin_port) {
    std::string nobody = fmt::format("127.0.0.1:{}", free_tcp_port());
    for (const auto& command : every_command()) {
        std::vector<std::string> argv = {portico_bin(), "ctl", "--admin", nobody};
        argv.insert(argv.end(), command.begin(), command.end());
        CommandResult r = run_command(argv, {}, 30s);
        BOOST_TEST(r.exit_code == 2, joined(command) << ": " << r.describe());
        BOOST_TEST(r.err == "portico ctl: cannot reach the admin port at " + nobody + ": Connection refused\n",
                   joined(command) << ": " << r.err);
        BOOST_TEST(r.out.empty());
    }
    TempDir dir;
    CommandResult unix = run_command({portico_bin(), "ctl", "--admin", "unix:" + dir.file("admin.sock"), "health"});
    BOOST_TEST(unix.exit_code == 2, unix.describe());
    BOOST_TEST(has(unix.err, "cannot reach the admin port at unix:" + dir.file("admin.sock") + ": No such file"),
               unix.err);

    // Listening, never accepting, never answering.
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    BOOST_TEST_REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    BOOST_TEST_REQUIRE(::listen(fd, 8) == 0);
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    std::string silent = fmt::format("127.0.0.1:{}", ntohs(addr.sin_port));
    auto started = Clock::now();
    CommandResult hung = run_command({portico_bin(), "ctl", "--admin", silent, "--timeout", "300ms", "stats"}, {}, 10s);
    auto took = Clock::now() - started;
    ::close(fd);
    BOOST_TEST(hung.exit_code == 2, hung.describe());
    BOOST_TEST(has(hung.err, "cannot reach the admin port at " + silent + ": "), hung.err);
    BOOST_TEST(has(hung.err, "300ms"), hung.err);
    BOOST_TEST(took < 5s);

    CommandResult bad = run_command({portico_bin(), "ctl", "--admin", "not an address", "health"});
    BOOST_TEST(bad.exit_code == 1, bad.describe());
    BOOST_TEST(has(bad.err, "admin address 'not an address'"), bad.err);
}

// /ready answers for the pool's databases before any client used them: one that nobody answers
// for makes it 503 with the database named (ctl ready: exit 2); pointed at a live server by a
// reload, it is ready again.
BOOST_AUTO_TEST_CASE(ready_names_a_pool_database_nobody_answers_for) {
    uint16_t nobody = free_tcp_port();
    FullStack s(fmt::format("host=127.0.0.1 port={} dbname=app user=postgres", nobody));
    HttpResponse r;
    BOOST_TEST(eventually(
                   [&] {
                       r = s.call("GET", "/ready");
                       return r.status == 503 && has(r.body, "no answer");
                   },
                   10s, 50ms),
               r.describe() << r.body);
    BOOST_TEST(r.json().value("reason", "").rfind("pool database app: no answer from its server", 0) == 0u, r.body);
    BOOST_TEST(s.get_json("/pool")["databases"][0]["reachable"] == false);
    BOOST_TEST(s.call("GET", "/health").status == 200);  // alive, not ready
    CommandResult ready = s.ctl({"ready"});
    BOOST_TEST(ready.exit_code == 2, ready.describe());
    BOOST_TEST(ready.out.rfind("not ready: pool database app: no answer", 0) == 0u, ready.out);

    std::string yaml = read_file(s.portico->config_path());
    std::string from = fmt::format("host=127.0.0.1 port={} ", nobody);
    yaml.replace(yaml.find(from), from.size(), fmt::format("host={} port={} ", s.pg.socket_dir(), s.pg.port()));
    s.portico->write_config_text(yaml);
    BOOST_TEST(s.call("POST", "/reload").status == 200);
    BOOST_TEST(eventually([&] { return s.call("GET", "/ready").status == 200; }, 10s, 50ms),
               s.call("GET", "/ready").body);
    BOOST_TEST(s.get_json("/pool")["databases"][0]["reachable"] == true);
    BOOST_TEST(s.get_json("/pool")["pools"].empty());  // no client yet: the probe alone said so
}

// /metrics through python3-prometheus-client with every part active: it parses; each part's
// families are there with their types; the route label is the pattern; the figures are the
// traffic's (N requests, one hit, one 429, K transactions, one good and one bad reload).
BOOST_AUTO_TEST_CASE(metrics_parse_with_every_part_and_follow_the_traffic) {
    FullStack s;
    for (int i = 1; i <= 4; ++i) BOOST_TEST(cache::get(s.endpoint(), fmt::format("/api/items/{}", i)).status == 200);
    s.store_tagged("/ttl/m/1", "m");  // one MISS, one HIT
    BOOST_TEST(cache::get(s.endpoint(), "/limited/a").status == 200);
    BOOST_TEST(cache::get(s.endpoint(), "/limited/b").status == 429);
    {
        PgConn c(s.pool_conninfo());
        BOOST_TEST_REQUIRE(c.ok(), c.error());
        for (int i = 0; i < 3; ++i) BOOST_TEST(c.value("SELECT 1") == "1");
    }
    BOOST_TEST(s.call("POST", "/reload").status == 200);
    std::string good = read_file(s.portico->config_path());
    s.portico->write_config_text(good + "\nnot_a_key: 1\n");
    BOOST_TEST(s.call("POST", "/reload").status == 422);
    s.portico->write_config_text(good);
    BOOST_TEST(s.figure_reaching("/stats", "/requests/total", 8) == 8);

    HttpResponse r = s.call("GET", "/metrics");
    BOOST_TEST(r.header("content-type").value_or("") == "text/plain; version=0.0.4; charset=utf-8", r.describe());
    json parsed = parse_exposition(s.dir, r.body);
    const json& families = parsed["families"];
    BOOST_TEST(families.size() > 60u, families.dump());
    for (const auto& [name, type] : std::vector<std::pair<std::string, std::string>>{
             {"portico_build_info", "gauge"},
             {"portico_http_requests", "counter"},
             {"portico_http_request_duration_seconds", "histogram"},
             {"portico_ratelimit_rejected", "counter"},
             {"portico_ratelimit_allowed", "counter"},
             {"portico_compression_responses", "counter"},
             {"portico_static_responses", "counter"},
             {"portico_upstream_connects", "counter"},
             {"portico_upstream_errors", "counter"},
             {"portico_upstream_timeouts", "counter"},
             {"portico_cache_requests", "counter"},
             {"portico_cache_entries", "gauge"},
             {"portico_cache_bytes", "gauge"},
             {"portico_cache_evictions", "counter"},
             {"portico_cache_coalesced_waits", "counter"},
             {"portico_pool_transactions", "counter"},
             {"portico_pool_queries", "counter"},
             {"portico_pool_clients_active", "gauge"},
             {"portico_pool_servers_idle", "gauge"},
             {"portico_pool_received_bytes", "counter"},
             {"portico_config_reloads", "counter"},
             {"portico_config_generation", "gauge"},
             {"portico_process_resident_memory_bytes", "gauge"},
             {"portico_process_open_fds", "gauge"},
             {"portico_process_uptime_seconds", "gauge"}}) {
        BOOST_TEST(families.value(name, "<missing>") == type, name);
    }

    // The route label is the configured pattern: four raw paths, one series.
    BOOST_TEST(sample_value(parsed, "portico_http_requests_total", {{"route", "/api/items/*"}, {"code", "200"}}) == 4);
    BOOST_TEST(sample_value(parsed, "portico_http_request_duration_seconds_count", {{"route", "/api/items/*"}}) == 4);
    BOOST_TEST(sample_value(parsed, "portico_http_request_duration_seconds_bucket",
                            {{"route", "/api/items/*"}, {"le", "+Inf"}}) == 4);
    std::set<std::string> routes;
    for (const json& sample : parsed["samples"])
        if (sample[1].contains("route")) routes.insert(sample[1]["route"].get<std::string>());
    BOOST_TEST((routes == std::set<std::string>{"/api/items/*", "/ttl/*", "/limited/*"}), json(routes).dump());

    BOOST_TEST(sample_value(parsed, "portico_http_requests_total", {{"route", "/limited/*"}, {"code", "429"}}) == 1);
    BOOST_TEST(sample_value(parsed, "portico_ratelimit_rejected_total", {{"route", "/limited/*"}}) == 1);
    BOOST_TEST(sample_value(parsed, "portico_cache_requests_total", {{"result", "hit"}}) == 1);
    BOOST_TEST(sample_value(parsed, "portico_cache_requests_total", {{"result", "miss"}}) == 1);
    BOOST_TEST(sample_value(parsed, "portico_cache_entries") == 1);
    BOOST_TEST(sample_value(parsed, "portico_pool_transactions_total", {{"database", "app"}}) == 3);
    BOOST_TEST(sample_value(parsed, "portico_config_reloads_total", {{"result", "ok"}}) == 1);
    BOOST_TEST(sample_value(parsed, "portico_config_reloads_total", {{"result", "error"}}) == 1);
    BOOST_TEST(sample_value(parsed, "portico_config_generation") == 2);
    BOOST_TEST(sample_value(parsed, "portico_process_open_fds") > 0);
    BOOST_TEST(sample_value(parsed, "portico_process_resident_memory_bytes") > 1e6);
}

BOOST_AUTO_TEST_SUITE_END()
