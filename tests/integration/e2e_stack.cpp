// The whole deployment as users run it, end to end: curl → nginx (the shipped snippets) →
// portico (cache) → the demo FastAPI app (conf/demo/app.py, uvicorn) → portico's pool (asyncpg,
// default statement cache, transaction mode) → PostgreSQL. A second "host" — its own portico and
// app on the same database — is the fleet: a write on one host purges both caches through
// NOTIFY portico_invalidate. Reloads under load through nginx lose nothing, and SIGTERM drains
// the HTTP side first, then the pool the app still needs for the requests in flight.
#include <boost/test/unit_test.hpp>

#include <fmt/core.h>

#include <csignal>
#include <filesystem>
#include <memory>
#include <regex>
#include <string>
#include <thread>

#include "harness.hpp"
#include "nginx_front.hpp"
#include "pg_cluster.hpp"
#include "pool_support.hpp"

using namespace portico::test;
using nlohmann::json;

namespace {

std::string demo_dir() { return apps_dir() + "/../../conf/demo"; }

// One host of the fleet: portico (cache, pool, NOTIFY listener) and the demo app behind it,
// whose DATABASE_URL is portico's pool socket.
struct Host {
    std::string name;
    std::string pool_dir;
    PorticoSettings settings;
    std::unique_ptr<Portico> portico;
    std::unique_ptr<Process> app;

    Endpoint endpoint() const { return portico->endpoint(); }
    std::string pool_conninfo() const { return fmt::format("host={} port=6432 dbname=demo user=postgres", pool_dir); }
};

class Fleet {
public:
    explicit Fleet(bool second_host = true) {
        pg.create_database("demo");
        pg.psql(read_file(demo_dir() + "/schema.sql"), "demo");
        start_host(a, "a");
        if (second_host) start_host(b, "b");
        nginx = std::make_unique<NginxFront>(dir, a.portico->port());
    }

    PgCluster pg;
    TempDir dir;
    Host a, b;  // nginx is in front of a; b is reached directly
    std::unique_ptr<NginxFront> nginx;

    // Through nginx, from 127.0.0.2.
    HttpResponse via_nginx(std::string_view target, const std::vector<std::string>& extra = {}) const {
        return nginx->curl(extra, target);
    }

    // Host a's pool section with `pool_size` servers (a reload may change it).
    static std::string pool_yaml(const Host& h, const PgCluster& pg, int pool_size) {
        return fmt::format(
            "  enabled: true\n  socket_dir: {}\n  port: 6432\n  mode: transaction\n  auth: {{ type: trust }}\n"
            "  default_pool_size: {}\n"
            "  databases:\n    demo: {{ conninfo: \"host={} port={} dbname=demo user={}\" }}\n",
            h.pool_dir, pool_size, pg.socket_dir(), pg.port(), pg.superuser());
    }
    static std::string routes_yaml(const std::string& hello_ttl) {
        return fmt::format("  patterns:\n    \"/api/hello\":\n      cache: {{ ttl: {} }}\n", hello_ttl);
    }

private:
    void start_host(Host& h, const std::string& name) {
        h.name = name;
        h.pool_dir = dir.file("pool-" + name);
        std::filesystem::create_directories(h.pool_dir);
        std::string app_socket = dir.file("app-" + name + ".sock");
        PorticoSettings& s = h.settings;
        s.workers = "2";
        s.upstream = "unix:" + app_socket;
        s.read_timeout = "10s";
        s.trusted_proxies = "[127.0.0.1/32]";  // nginx
        s.cache = fmt::format("  enabled: true\n  path: {}\n  max_size: 64MiB\n  notify_channel: portico_invalidate\n",
                              dir.file("cache-" + name));
        s.routes = routes_yaml("5s");
        s.pool = pool_yaml(h, pg, 5);
        h.portico = std::make_unique<Portico>(dir, s);
        h.app = std::make_unique<Process>(Process::Options{
            .argv = {"/usr/bin/python3", "-m", "uvicorn", "app:app", "--app-dir", demo_dir(), "--uds", app_socket,
                     "--log-level", "warning", "--no-access-log"},
            .env = {{"DATABASE_URL", fmt::format("postgresql://postgres@/demo?host={}&port=6432", h.pool_dir)}},
            .stdout_path = dir.file("app-" + name + ".out"),
            .stderr_path = dir.file("app-" + name + ".err")});
        BOOST_TEST_REQUIRE(wait_for_unix(app_socket, 20s), "the demo app " << name << " did not listen: " << h.app->stderr_text());
        bool up = eventually([&] { return http_get(Endpoint::unix_socket(app_socket), "/api/hello", {}, 2s).status == 200; },
                             20s, 100ms);
        BOOST_TEST_REQUIRE(up, "the demo app " << name << " did not start: " << h.app->stderr_text());
        // Portico's NOTIFY listener is up before any test relies on a purge.
        bool listening = eventually(
            [&] {
                json n = json::parse(h.portico->admin("GET", "/pool").body, nullptr, false);
                return n.is_object() && n.contains("notify") && !n["notify"].empty() &&
                       n["notify"][0].value("listening", false);
            },
            15s, 100ms);
        BOOST_TEST_REQUIRE(listening, "portico " << name << " never LISTENed: " << h.portico->admin("GET", "/pool").body);
    }
};

std::string x_cache(const HttpResponse& r) { return r.header("X-Cache").value_or("<none>"); }

json body_json(const HttpResponse& r) {
    json j = json::parse(r.body, nullptr, false);
    BOOST_TEST_REQUIRE(!j.is_discarded(), "not JSON: " << r.status << " " << r.body);
    return j;
}

// GETs `target` until the answer is not a HIT (the purge travelled: NOTIFY → Postgres → portico).
// /pool's entry for `database`.
json pool_entry(const Portico& p, const std::string& database) {
    json all = p.admin("GET", "/pool").json();
    for (const json& entry : all["pools"])
        if (entry["database"] == database) return entry;
    return json::object();
}

template <typename Get>
HttpResponse first_non_hit(Get get, Millis timeout = 10s) {
    HttpResponse last;
    eventually(
        [&] {
            last = get();
            return x_cache(last) != "HIT";
        },
        timeout, 50ms);
    return last;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(e2e_stack)

BOOST_AUTO_TEST_CASE(a_read_is_cached_and_a_write_purges_it_on_every_host) {
    Fleet f;
    auto a_get = [&](std::string_view target) { return f.via_nginx(target); };
    auto b_get = [&](std::string_view target) { return http_get(f.b.endpoint(), target); };

    // A read: the app asks the database once, then portico answers.
    HttpResponse miss = a_get("/api/products/1");
    BOOST_TEST_REQUIRE(miss.status == 200, miss.body);
    BOOST_TEST(x_cache(miss) == "MISS");
    json product = body_json(miss);
    BOOST_TEST(product["price"] == 18.5);
    bool hit = eventually([&] { return x_cache(a_get("/api/products/1")) == "HIT"; }, 5s, 50ms);
    BOOST_TEST_REQUIRE(hit);
    HttpResponse cached = a_get("/api/products/1");
    BOOST_TEST(x_cache(cached) == "HIT");
    BOOST_TEST(cached.body == miss.body);
    // The app's own counter (never cached, read through nginx and portico) did not move.
    HttpResponse reads = a_get("/api/products/reads");
    BOOST_TEST_REQUIRE(reads.status == 200, reads.body);
    BOOST_TEST(body_json(reads)["db_reads"] == product["db_reads"]);
    BOOST_TEST(x_cache(reads) != "HIT");

    // The other host caches the same product, and both cache product 2.
    BOOST_TEST(x_cache(b_get("/api/products/1")) == "MISS");
    for (auto target : {"/api/products/1", "/api/products/2"}) {
        BOOST_TEST(eventually([&] { return x_cache(b_get(target)) == "HIT"; }, 5s, 50ms), "b " << target);
        BOOST_TEST(eventually([&] { return x_cache(a_get(target)) == "HIT"; }, 5s, 50ms), "a " << target);
    }

    // A write through nginx: the app commits the UPDATE with its NOTIFY; both hosts purge.
    HttpResponse write = f.via_nginx(
        "/api/products/1/update", {"-X", "POST", "-H", "Content-Type: application/json", "-d", R"({"price": 21.5})"});
    BOOST_TEST_REQUIRE(write.status == 200, write.body);
    HttpResponse a_after = first_non_hit([&] { return a_get("/api/products/1"); });
    BOOST_TEST(x_cache(a_after) == "MISS");
    BOOST_TEST(body_json(a_after)["price"] == 21.5);
    HttpResponse b_after = first_non_hit([&] { return b_get("/api/products/1"); });
    BOOST_TEST(x_cache(b_after) == "MISS");
    BOOST_TEST(body_json(b_after)["price"] == 21.5);
    // Exactly the tagged product: product 2 is still served from both caches.
    BOOST_TEST(x_cache(a_get("/api/products/2")) == "HIT");
    BOOST_TEST(x_cache(b_get("/api/products/2")) == "HIT");

    // A write that rolls back (no such product) purges nothing. The next committed write — on
    // product 2 — is the barrier: notifications arrive in commit order, so once product 2 is
    // purged, the rolled-back one would have been seen already.
    BOOST_TEST(eventually([&] { return x_cache(a_get("/api/products/1")) == "HIT"; }, 5s, 50ms));
    HttpResponse missing = f.via_nginx(
        "/api/products/999/update", {"-X", "POST", "-H", "Content-Type: application/json", "-d", R"({"price": 1})"});
    BOOST_TEST(missing.status == 404, missing.body);
    HttpResponse barrier = f.via_nginx(
        "/api/products/2/update", {"-X", "POST", "-H", "Content-Type: application/json", "-d", R"({"name": "big kettle"})"});
    BOOST_TEST_REQUIRE(barrier.status == 200, barrier.body);
    HttpResponse p2 = first_non_hit([&] { return a_get("/api/products/2"); });
    BOOST_TEST(body_json(p2)["name"] == "big kettle");
    BOOST_TEST(x_cache(a_get("/api/products/1")) == "HIT");
}

BOOST_AUTO_TEST_CASE(reloads_during_load_through_nginx_lose_nothing) {
    Fleet f(/*second_host=*/false);
    // A mix: cached products, the route-cached hello, and a never-cached read that goes to the
    // database through the pool on every call.
    f.dir.write("mix.lua", R"(local paths = {"/api/products/1", "/api/products/reads", "/api/hello", "/api/products/2"}
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i % #paths) + 1])
end
)");
    double xacts_before = pool_entry(*f.a.portico, "demo").value("total_xact_count", 0.0);
    Process wrk(Process::Options{.argv = {"/usr/bin/wrk", "-t1", "-c16", "-d6s", "-s", f.dir.file("mix.lua"),
                                          f.nginx->url("/")},
                                 .stdout_path = f.dir.file("wrk.out"),
                                 .stderr_path = f.dir.file("wrk.err")});
    // Three reloads while wrk runs, each changing the cache routes and the pool's size.
    for (int i = 1; i <= 3; ++i) {
        std::this_thread::sleep_for(1200ms);
        PorticoSettings s = f.a.settings;
        s.routes = Fleet::routes_yaml(fmt::format("{}s", 5 + i));
        s.pool = Fleet::pool_yaml(f.a, f.pg, 5 + i % 2);
        f.a.portico->write_config(s);
        f.a.portico->reload();
    }
    auto code = wrk.wait_exit(30s);
    BOOST_TEST_REQUIRE(code.value_or(-1) == 0, wrk.stderr_text());
    std::string out = wrk.stdout_text();
    BOOST_TEST_MESSAGE("wrk through nginx with 3 reloads:\n" << out);
    std::smatch m;
    BOOST_TEST_REQUIRE(std::regex_search(out, m, std::regex(R"((\d+) requests in)")), out);
    BOOST_TEST(std::stol(m[1]) > 200, out);
    BOOST_TEST(out.find("Non-2xx") == std::string::npos, out);        // wrk prints it only when > 0
    BOOST_TEST(out.find("Socket errors") == std::string::npos, out);  // likewise
    BOOST_TEST(f.nginx->error_log().find("[error]") == std::string::npos, f.nginx->error_log());
    // The database calls went through the pool (its reload kept the same servers serving).
    json pool = pool_entry(*f.a.portico, "demo");
    double xacts_after = pool.value("total_xact_count", 0.0);
    BOOST_TEST(xacts_after > xacts_before + 50, xacts_before << " -> " << xacts_after);
    // asyncpg's release (RESET ALL, CLOSE ALL, UNLISTEN *, pg_advisory_unlock_all()) and its
    // client_encoding 'utf-8' cost no server reset and no SET per transaction.
    BOOST_TEST(pool.value("session_resets", -1) == 0, pool.dump());
    BOOST_TEST(pool.value("server_param_syncs", -1) == 0, pool.dump());
    json stats = f.a.portico->admin("GET", "/stats").json();
    BOOST_TEST_MESSAGE("stats after: " << stats.dump());
}

BOOST_AUTO_TEST_CASE(sigterm_drains_http_first_then_the_pool) {
    Fleet f(/*second_host=*/false);
    // The app's asyncpg pool is connected to portico's pool.
    BOOST_TEST_REQUIRE(f.via_nginx("/api/products/reads").status == 200);

    // A transaction through the pool, open when the stop begins.
    pool::PgConn tx(f.a.pool_conninfo());
    BOOST_TEST_REQUIRE(tx.ok(), tx.error());
    tx.value("BEGIN");
    tx.value("INSERT INTO items VALUES (10, 'before the stop')");

    // A request in flight through nginx that needs the database after the stop began.
    HttpResponse slow;
    std::thread client([&] { slow = http_get(f.nginx->endpoint(), "/api/slow?ms=1500&db=1", {}, 15s); });
    std::this_thread::sleep_for(400ms);  // it reaches the app, which sleeps before its query
    f.a.portico->process().signal(SIGTERM);
    BOOST_TEST(f.a.portico->notify().wait_for("STOPPING=1", 5s));

    // No new HTTP connections; the open transaction goes on and commits.
    BOOST_TEST(eventually([&] { return !wait_for_tcp(f.a.portico->port(), 20ms); }, 3s, 50ms));
    tx.value("INSERT INTO items VALUES (11, 'after the stop')");
    tx.value("COMMIT");

    client.join();
    BOOST_TEST(slow.status == 200, slow.describe());
    BOOST_TEST(slow.body.find("database_time") != std::string::npos, slow.body);

    auto code = f.a.portico->process().wait_exit(20s);
    BOOST_TEST(code.value_or(-1) == 0, f.a.portico->stderr_text());
    BOOST_TEST(f.pg.psql("SELECT count(*) FROM items WHERE id IN (10, 11)", "demo") == "2");
    // Once drained, the pool told its client why it closed.
    BOOST_CHECK_THROW(tx.value("SELECT 1"), std::runtime_error);
}

BOOST_AUTO_TEST_SUITE_END()
