// pool_servers: the server side of the pool — TLS to PostgreSQL (libpq's session carried raw),
// libpq multi-host failover to a promoted standby, conninfo host names resolved off the pool loop,
// a reloaded conninfo retiring old servers, server_lifetime recycling, idle servers terminated under
// the pool, and a hung one caught by the pre-ping.
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>

#include <thread>

#include "pool_support.hpp"

using namespace portico::test;
using namespace portico::test::pool;

namespace {

// A self-signed certificate and key in the cluster's data dir, then ssl = on (reloadable).
void enable_tls(PgCluster& pg) {
    std::string crt = pg.data_dir() + "/server.crt", key = pg.data_dir() + "/server.key";
    CommandResult r = run_command({"/usr/bin/openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                                   "-out", crt, "-subj", "/CN=localhost", "-days", "2"});
    BOOST_REQUIRE_MESSAGE(r.ok(), r.describe());
    if (geteuid() == 0) {
        passwd* pw = getpwnam("postgres");
        BOOST_REQUIRE(pw != nullptr);
        BOOST_REQUIRE(::chown(crt.c_str(), pw->pw_uid, pw->pw_gid) == 0);
        BOOST_REQUIRE(::chown(key.c_str(), pw->pw_uid, pw->pw_gid) == 0);
    }
    BOOST_REQUIRE(::chmod(key.c_str(), 0600) == 0);
    pg.psql("ALTER SYSTEM SET ssl = on");
    pg.psql("SELECT pg_reload_conf()");
    BOOST_REQUIRE(eventually([&] { return pg_connect_error(pg.tcp_conninfo() + " sslmode=require") == ""; }, 10s));
}

// Portico with a pool whose only database is `conninfo`.
std::unique_ptr<Portico> pool_portico(const TempDir& dir, const std::string& conninfo, const std::string& more = {}) {
    PorticoSettings s;
    s.upstream = "127.0.0.1:1";
    s.pool = fmt::format("  socket_dir: {}\n  port: 6432\n  mode: transaction\n  auth: {{ type: trust }}\n"
                         "  default_pool_size: 2\n  max_overflow: 0\n{}  databases:\n    app: {{ conninfo: \"{}\" }}\n",
                         dir.file("pool"), more, conninfo);
    return std::make_unique<Portico>(dir, s);
}

std::string through(const TempDir& dir, const std::string& sql) {
    PgConn c(fmt::format("host={} port=6432 dbname=app user=postgres", dir.file("pool")));
    if (!c.ok()) return "connect failed: " + c.error();
    try {
        return c.value(sql);
    } catch (const std::exception& e) {
        return std::string("error: ") + e.what();
    }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(pool_servers)

BOOST_AUTO_TEST_CASE(tls_to_postgres_is_carried_through_libpqs_session) {
    PgCluster pg;
    pg.create_database("app");
    enable_tls(pg);
    TempDir dir;
    auto portico = pool_portico(dir, pg.tcp_conninfo("app") + " sslmode=require");
    BOOST_TEST(through(dir, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()") == "t");
    // Large answers and requests cross TLS records and the reader's streamed parts.
    BOOST_TEST(through(dir, "SELECT length(repeat('x', 3000000))") == "3000000");
    BOOST_TEST(through(dir, "SELECT sum(length(r)) FROM (SELECT repeat('y', 1000) r FROM generate_series(1, 5000)) s") ==
               "5000000");
    PgConn c(fmt::format("host={} port=6432 dbname=app user=postgres", dir.file("pool")));
    std::string big(2'000'000, 'z');
    const char* params[] = {big.c_str()};
    PGresult* r = PQexecParams(c.conn, "SELECT length($1::text)", 1, nullptr, params, nullptr, nullptr, 0);
    BOOST_TEST(PQresultStatus(r) == PGRES_TUPLES_OK);
    if (PQresultStatus(r) == PGRES_TUPLES_OK) BOOST_TEST(std::string(PQgetvalue(r, 0, 0)) == "2000000");
    PQclear(r);
    json j = json::parse(portico->admin("GET", "/pool").body);
    BOOST_TEST(j["pools"][0]["server_connect_failures"].get<int>() == 0);
}

BOOST_AUTO_TEST_CASE(multi_host_conninfo_follows_a_promoted_standby) {
    PgCluster primary;
    primary.create_database("app");
    primary.psql("CREATE TABLE t (v int)", "app");
    PgCluster standby(PgCluster::StandbyOf{primary});
    TempDir dir;
    std::string both = fmt::format("host={},{} port={},{} dbname=app target_session_attrs=read-write connect_timeout=2",
                                   primary.socket_dir(), standby.socket_dir(), primary.port(), standby.port());
    auto portico = pool_portico(dir, both);
    const std::string port_sql = "SELECT setting FROM pg_settings WHERE name = 'port'";
    BOOST_TEST(through(dir, port_sql) == std::to_string(primary.port()));
    BOOST_TEST(through(dir, "INSERT INTO t VALUES (1)").empty());

    primary.kill_postmaster();
    standby.promote();
    // The pool's servers to the old primary are broken: the clients that meet them get an error
    // (as with any server loss), new servers go to the new primary.
    BOOST_TEST(eventually([&] { return through(dir, port_sql) == std::to_string(standby.port()); }, 15s, 100ms));
    BOOST_TEST(through(dir, "INSERT INTO t VALUES (2)").empty());
    BOOST_TEST(standby.psql("SELECT string_agg(v::text, ',' ORDER BY v) FROM t", "app") == "1,2");
}

BOOST_AUTO_TEST_CASE(conninfo_host_names_are_resolved_and_a_bad_one_fails_fast) {
    PgCluster pg;  // listens on 127.0.0.1 TCP as well as its socket
    pg.create_database("app");
    TempDir dir;
    PorticoSettings s;
    s.upstream = "127.0.0.1:1";
    // localhost comes from /etc/hosts; .invalid never resolves (RFC 6761). `either` lists the bad
    // name first: libpq's rule is to skip a host it cannot translate and try the next.
    s.pool = fmt::format(
        "  socket_dir: {1}\n  port: 6432\n  mode: transaction\n  auth: {{ type: trust }}\n"
        "  default_pool_size: 2\n  max_overflow: 0\n  query_wait_timeout: 20s\n  server_connect_timeout: 10s\n"
        "  databases:\n"
        "    app: {{ conninfo: \"host=localhost port={0} dbname=app\" }}\n"
        "    nowhere: {{ conninfo: \"host=no-such-host.invalid port={0} dbname=app\" }}\n"
        "    either: {{ conninfo: \"host=no-such-host.invalid,localhost port={0},{0} dbname=app "
        "target_session_attrs=read-write\" }}\n",
        pg.port(), dir.file("pool"));
    Portico portico(dir, s);
    auto on = [&](const std::string& db, const std::string& sql) {
        PgConn c(fmt::format("host={} port=6432 dbname={} user=postgres", dir.file("pool"), db));
        if (!c.ok()) return "connect failed: " + c.error();
        try {
            return c.value(sql);
        } catch (const std::exception& e) {
            return std::string("error: ") + e.what();
        }
    };
    // Over TCP to 127.0.0.1 (not the socket), and libpq still knows the host by its name.
    BOOST_TEST(on("app", "SELECT host(inet_server_addr())") == "127.0.0.1");
    BOOST_TEST(on("either", "SELECT host(inet_server_addr())") == "127.0.0.1");

    // The waiting client hears why at once (not at query_wait_timeout), in libpq's words.
    auto start = std::chrono::steady_clock::now();
    std::string bad = on("nowhere", "SELECT 1");
    auto took = std::chrono::steady_clock::now() - start;
    BOOST_TEST(bad.find("connect failed") == 0, bad);
    BOOST_TEST(bad.find("could not translate host name \"no-such-host.invalid\" to address") != std::string::npos, bad);
    BOOST_TEST(took < 5s);

    // The pool loop was never blocked and stays healthy; the answers were looked up once each.
    BOOST_TEST(portico.admin("GET", "/health").status == 200);
    BOOST_TEST(on("app", "SELECT 'still here'") == "still here");
    json j = json::parse(portico.admin("GET", "/pool").body);
    BOOST_TEST(j["dns_lookups"].get<int>() == 2, j.dump());  // localhost and the .invalid name, cached 15 s
    BOOST_TEST(j["dns_lookup_failures"].get<int>() == 1, j.dump());
}

BOOST_AUTO_TEST_CASE(reloaded_conninfo_retires_old_servers) {
    PoolSetup setup;
    setup.pool_size = "2";
    PoolStack stack(setup);
    PgConn c(stack.conninfo());
    BOOST_REQUIRE_MESSAGE(c.ok(), c.error());
    std::string old_pid = c.value("SELECT pg_backend_pid()");
    BOOST_TEST(c.value("SHOW work_mem") == "4MB");
    std::string conninfo = fmt::format("host={} port={} dbname=app options='-c work_mem=77MB'", stack.pg.socket_dir(),
                                       stack.pg.port());
    stack.reload([&](PoolSetup& s) { s.conninfo = conninfo; });
    // The same client, its next transaction: a server of the new conninfo.
    BOOST_TEST(eventually([&] { return c.value("SHOW work_mem") == "77MB"; }, 5s));
    BOOST_TEST(c.value("SELECT pg_backend_pid()") != old_pid);
    BOOST_TEST(stack.pool_stats()["server_recycles"].get<int>() >= 1);
}

BOOST_AUTO_TEST_CASE(server_lifetime_recycles_and_terminated_servers_are_dropped) {
    PoolSetup setup;
    setup.pool_size = "1";
    setup.server_lifetime = "1s";
    PoolStack stack(setup);
    PgConn c(stack.conninfo());
    BOOST_REQUIRE_MESSAGE(c.ok(), c.error());
    std::string first = c.value("SELECT pg_backend_pid()");
    BOOST_TEST(eventually([&] { return c.value("SELECT pg_backend_pid()") != first; }, 5s, 200ms));
    BOOST_TEST(stack.pool_stats()["server_recycles"].get<int>() >= 1);

    // An idle server killed under the pool (pg_terminate_backend, an admin, a failover) is dropped
    // when its FATAL arrives; the next transaction gets a live one.
    stack.reload([](PoolSetup& s) { s.server_lifetime = "30m"; });
    std::string pid = c.value("SELECT pg_backend_pid()");
    BOOST_TEST(stack.pg.psql("SELECT pg_terminate_backend(" + pid + ")") == "t");
    BOOST_TEST(eventually([&] { return stack.pool_stats()["sv_idle"].get<int>() == 0; }, 5s));
    BOOST_TEST(c.value("SELECT 'a fresh server'") == "a fresh server");
}

BOOST_AUTO_TEST_CASE(a_hung_idle_server_fails_its_preping_and_the_client_gets_another) {
    PoolSetup setup;
    setup.pool_size = "2";
    setup.server_check_delay = "100ms";
    setup.server_connect_timeout = "1s";
    PoolStack stack(setup);
    PgConn c(stack.conninfo());
    BOOST_REQUIRE_MESSAGE(c.ok(), c.error());
    std::string pid = c.value("SELECT pg_backend_pid()");
    ::kill(std::stoi(pid), SIGSTOP);  // the backend hangs; its socket stays open
    std::this_thread::sleep_for(300ms);
    auto start = std::chrono::steady_clock::now();
    BOOST_TEST(c.value("SELECT pg_backend_pid()") != pid);
    bool quick = std::chrono::steady_clock::now() - start < 5s;
    BOOST_TEST(quick);
    json p = stack.pool_stats();
    BOOST_TEST(p["server_preping_failures"].get<int>() == 1);
    BOOST_TEST(p["server_prepings"].get<int>() >= 1);
    ::kill(std::stoi(pid), SIGCONT);
}

BOOST_AUTO_TEST_SUITE_END()
