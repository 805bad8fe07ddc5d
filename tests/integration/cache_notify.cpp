// Fleet-wide invalidation through Postgres (cache.notify_channel): portico LISTENs on its pool
// database; a NOTIFY portico_invalidate, '{"tag": …}' (or key, prefix) purges on every portico
// listening, when the notifying transaction commits. After the database restarts the listener
// comes back and clears what it may have missed. Real PostgreSQL, real portico, the cache app.
#define BOOST_TEST_MODULE integration_cache_notify
#include <boost/test/unit_test.hpp>

#include <fmt/core.h>
#include <libpq-fe.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include "cache_support.hpp"
#include "pg_cluster.hpp"

using namespace portico::test;
using namespace portico::test::cache;
using namespace std::chrono_literals;

namespace {

// PostgreSQL with a database `app`; each portico (one or more: the fleet) has its own cache and
// pool socket and listens on `app`.
struct NotifyStack {
    PgCluster pg;
    TempDir sockets;  // each portico's pool socket directory
    std::unique_ptr<CacheStack> a, b;

    explicit NotifyStack(bool fleet = false) {
        pg.create_database("app");
        a = make("a");
        if (fleet) b = make("b");
    }

    std::unique_ptr<CacheStack> make(const std::string& name) {
        std::string socket_dir = sockets.file("pool-" + name);
        std::filesystem::create_directories(socket_dir);
        std::string pool = fmt::format(
            "  enabled: true\n  socket_dir: {}\n  port: 6432\n  mode: transaction\n  auth: {{ type: trust }}\n"
            "  databases:\n    app: {{ conninfo: \"host={} port={} dbname=app user={}\" }}\n",
            socket_dir, pg.socket_dir(), pg.port(), pg.superuser());
        CacheSetup setup;
        setup.more = "  notify_channel: portico_invalidate\n";
        setup.tweak = [pool](PorticoSettings& s) { s.pool = pool; };
        return std::make_unique<CacheStack>(setup);
    }

    void notify(const std::string& payload, bool in_transaction = false) {
        std::string escaped;
        for (char c : payload) escaped += c == '\'' ? std::string("''") : std::string(1, c);
        std::string sql = fmt::format("NOTIFY portico_invalidate, '{}'", escaped);
        if (in_transaction) sql = "BEGIN; " + sql + "; COMMIT";
        pg.psql(sql, "app");
    }
};

// Makes `path` cacheable for 60 s with `tags` (Surrogate-Key), stores it and checks a HIT.
void store_tagged(CacheStack& s, const std::string& path, const std::string& tags = {}) {
    json extra = {{"cc", "max-age=60"}};
    if (!tags.empty()) extra["skey"] = tags;
    app_override(s.app, path, extra);
    double before = stat(*s.portico, "stores");
    auto r = get(s.endpoint(), path);
    BOOST_TEST_REQUIRE(r.status == 200, path << ": " << show(r));
    BOOST_TEST_REQUIRE(wait_stored(*s.portico, before + 1), path << " never stored: " << show(r));
    BOOST_TEST_REQUIRE(xcache(get(s.endpoint(), path)) == "HIT", path);
}

bool is_hit(CacheStack& s, const std::string& path) { return xcache(get(s.endpoint(), path)) == "HIT"; }

// Polls until `path` is no longer a hit (the NOTIFY travels through Postgres and the writer).
bool purged_soon(CacheStack& s, const std::string& path, Millis timeout = 5s) {
    return eventually([&] { return !is_hit(s, path); }, timeout, 50ms);
}

json notify_status(const Portico& p) {
    auto r = p.admin("GET", "/pool");
    json j = json::parse(r.body, nullptr, false);
    return j.is_object() && j.contains("notify") ? j["notify"] : json::array();
}

bool wait_listening(const Portico& p, Millis timeout = 15s) {
    return eventually(
        [&] {
            json n = notify_status(p);
            return n.is_array() && !n.empty() && n[0].value("listening", false);
        },
        timeout, 100ms);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(cache_notify)

BOOST_AUTO_TEST_CASE(notify_purges_by_tag_key_and_prefix) {
    NotifyStack s;
    CacheStack& c = *s.a;
    BOOST_TEST_REQUIRE(wait_listening(*c.portico), notify_status(*c.portico).dump());
    store_tagged(c, "/ttl/user/42", "user:42 users");
    store_tagged(c, "/ttl/user/43", "user:43 users");
    store_tagged(c, "/ttl/k/1");
    store_tagged(c, "/ttl/p/a/1");
    store_tagged(c, "/ttl/p/a/2");
    store_tagged(c, "/ttl/p/b/1");

    s.notify(R"({"tag":"user:42"})");
    BOOST_TEST(purged_soon(c, "/ttl/user/42"));
    BOOST_TEST(is_hit(c, "/ttl/user/43"));  // exactly the tagged entry

    s.notify(R"({"key":"http://portico.test/ttl/k/1"})");
    BOOST_TEST(purged_soon(c, "/ttl/k/1"));

    s.notify(R"({"prefix":"/ttl/p/a/"})");
    BOOST_TEST(purged_soon(c, "/ttl/p/a/1"));
    BOOST_TEST(purged_soon(c, "/ttl/p/a/2"));
    BOOST_TEST(is_hit(c, "/ttl/p/b/1"));

    // A payload that names nothing purgeable is counted and ignored.
    s.notify("not json");
    s.notify(R"({"colour":"red"})");
    json n;
    eventually(
        [&] {
            n = notify_status(*c.portico);
            return n.is_array() && !n.empty() && n[0].value("invalid", 0) >= 2;
        },
        5s, 50ms);
    BOOST_TEST_REQUIRE((n.is_array() && !n.empty()), n.dump());
    BOOST_TEST(n[0].value("invalid", 0) == 2, n.dump());
    BOOST_TEST(n[0].value("messages", 0) == 5, n.dump());
    BOOST_TEST(is_hit(c, "/ttl/p/b/1"));
    std::string m = c.portico->admin("GET", "/metrics").body;
    BOOST_TEST(has(m, "portico_cache_notify_messages_total{database=\"app\"} 5"), m.substr(0, 400));
}

BOOST_AUTO_TEST_CASE(the_purge_waits_for_the_commit) {
    NotifyStack s;
    CacheStack& c = *s.a;
    BOOST_TEST_REQUIRE(wait_listening(*c.portico));
    store_tagged(c, "/ttl/tx/1", "order:7");
    // Inside an open transaction the NOTIFY is not delivered yet.
    PGconn* conn = PQconnectdb(
        fmt::format("host={} port={} dbname=app user={}", s.pg.socket_dir(), s.pg.port(), s.pg.superuser()).c_str());
    BOOST_TEST_REQUIRE(PQstatus(conn) == CONNECTION_OK, PQerrorMessage(conn));
    PQclear(PQexec(conn, "BEGIN"));
    PQclear(PQexec(conn, "NOTIFY portico_invalidate, '{\"tag\":\"order:7\"}'"));
    std::this_thread::sleep_for(300ms);
    BOOST_TEST(is_hit(c, "/ttl/tx/1"));
    PQclear(PQexec(conn, "COMMIT"));
    PQfinish(conn);
    BOOST_TEST(purged_soon(c, "/ttl/tx/1"));
    // A rolled-back transaction's NOTIFY never purges.
    store_tagged(c, "/ttl/tx/2", "order:8");
    s.pg.psql("BEGIN; NOTIFY portico_invalidate, '{\"tag\":\"order:8\"}'; ROLLBACK", "app");
    std::this_thread::sleep_for(300ms);
    BOOST_TEST(is_hit(c, "/ttl/tx/2"));
}

BOOST_AUTO_TEST_CASE(one_notify_purges_the_whole_fleet) {
    NotifyStack s(true);
    BOOST_TEST_REQUIRE(wait_listening(*s.a->portico));
    BOOST_TEST_REQUIRE(wait_listening(*s.b->portico));
    store_tagged(*s.a, "/ttl/fleet", "product:1");
    store_tagged(*s.b, "/ttl/fleet", "product:1");
    s.notify(R"({"tag":"product:1"})", true);
    BOOST_TEST(purged_soon(*s.a, "/ttl/fleet"));
    BOOST_TEST(purged_soon(*s.b, "/ttl/fleet"));
}

BOOST_AUTO_TEST_CASE(after_a_database_restart_it_listens_again_and_clears_what_it_missed) {
    NotifyStack s;
    CacheStack& c = *s.a;
    BOOST_TEST_REQUIRE(wait_listening(*c.portico));
    store_tagged(c, "/ttl/restart/1", "r:1");
    s.pg.stop();
    // Down: a write now would NOTIFY nobody. Entries stay served meanwhile.
    BOOST_TEST(is_hit(c, "/ttl/restart/1"));
    s.pg.start();
    BOOST_TEST_REQUIRE(wait_listening(*c.portico, 20s), notify_status(*c.portico).dump());
    // What it held may have missed invalidations: gone.
    BOOST_TEST(purged_soon(c, "/ttl/restart/1"));
    json n = notify_status(*c.portico);
    BOOST_TEST(n[0].value("reconnects", 0) == 1, n.dump());
    // And NOTIFY works again.
    store_tagged(c, "/ttl/restart/2", "r:2");
    s.notify(R"({"tag":"r:2"})");
    BOOST_TEST(purged_soon(c, "/ttl/restart/2"));
}

// With the cache, the pool and the listener all active: /metrics parses with the Prometheus
// project's own Python parser (python3-prometheus-client), every family of each part present; and
// systemd hears READY, RELOADING (with MONOTONIC_USEC) and READY again around a SIGHUP, then
// STOPPING, in that order.
BOOST_AUTO_TEST_CASE(metrics_parse_and_notify_order_with_every_part_active) {
    NotifyStack s;
    CacheStack& c = *s.a;
    BOOST_TEST_REQUIRE(wait_listening(*c.portico));
    store_tagged(c, "/ttl/m/1", "m:1");
    s.notify(R"({"tag":"m:1"})");
    BOOST_TEST(purged_soon(c, "/ttl/m/1"));

    c.dir.write("metrics.txt", c.portico->admin("GET", "/metrics").body);
    c.dir.write("parse.py",
                "import sys\n"
                "from prometheus_client.parser import text_string_to_metric_families\n"
                "names = [f.name for f in text_string_to_metric_families(open(sys.argv[1]).read())]\n"
                "print(len(names))\n"
                "for want in ('portico_http_requests', 'portico_cache_requests', 'portico_pool_transactions',\n"
                "             'portico_pool_statements_prepared', 'portico_cache_notify_messages'):\n"
                "    assert want in names, want + ' missing'\n");
    Process parser(Process::Options{.argv = {"/usr/bin/python3", c.dir.file("parse.py"), c.dir.file("metrics.txt")},
                                    .stdout_path = c.dir.file("parse.out"),
                                    .stderr_path = c.dir.file("parse.err")});
    auto code = parser.wait_exit(30s);
    BOOST_TEST(code.value_or(-1) == 0, read_file(c.dir.file("parse.err")));
    BOOST_TEST(std::atoi(read_file(c.dir.file("parse.out")).c_str()) > 40, read_file(c.dir.file("parse.out")));

    c.portico->reload();
    BOOST_TEST(c.portico->stop() == 0);
    c.portico->notify().drain();
    const std::vector<std::string>& h = c.portico->notify().history();
    auto first = [&](std::string_view line, size_t from) {
        for (size_t i = from; i < h.size(); ++i)
            if (h[i] == line) return i;
        return h.size();
    };
    size_t ready = first("READY=1", 0);
    size_t reloading = first("RELOADING=1", ready);
    size_t ready_again = first("READY=1", reloading);
    size_t stopping = first("STOPPING=1", ready_again);
    std::string all;
    for (const std::string& l : h) all += l + " | ";
    BOOST_TEST(ready < h.size(), all);
    BOOST_TEST(reloading < h.size(), all);
    BOOST_TEST(ready_again < h.size(), all);
    BOOST_TEST(stopping < h.size(), all);
    BOOST_TEST((reloading + 1 < h.size() && h[reloading + 1].rfind("MONOTONIC_USEC=", 0) == 0), all);
}

BOOST_AUTO_TEST_SUITE_END()
