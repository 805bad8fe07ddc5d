// pg_fixture: the PgCluster fixture (pg_cluster.hpp) and the Python client scripts
// (tests/apps/pg_clients) checked straight against PostgreSQL, so that the pool suites can rely on
// both: sockets and TCP, SCRAM and md5 logins, pgbench, restart, SIGKILL and crash recovery,
// SIGSTOP timeouts, a streaming standby promoted after its primary dies, and libpq's
// target_session_attrs=read-write choosing between two servers.
#include <future>

#include <boost/test/unit_test.hpp>
#include <fmt/core.h>
#include <libpq-fe.h>

#include "pg_cluster.hpp"

using namespace portico::test;

namespace {

// The port of the server a libpq connection with this conninfo reached; 0 when it failed.
int connected_port(const std::string& conninfo) {
    PGconn* conn = PQconnectdb(conninfo.c_str());
    int port = PQstatus(conn) == CONNECTION_OK ? std::atoi(PQport(conn)) : 0;
    PQfinish(conn);
    return port;
}

bool contains(const std::string& text, std::string_view part) { return text.find(part) != std::string::npos; }

std::string pg_clients_dir() { return apps_dir() + "/pg_clients"; }

// Runs one of tests/apps/pg_clients/*.py against `pg` as `user`; args are appended.
CommandResult run_client_script(const std::string& script, const PgCluster& pg, const std::string& db,
                                const std::string& user, const std::string& password,
                                const std::vector<std::string>& args = {}, bool tcp = false) {
    std::vector<std::string> argv = {"/usr/bin/python3", pg_clients_dir() + "/" + script,
                                     "--host", tcp ? "127.0.0.1" : pg.socket_dir(),
                                     "--port", std::to_string(pg.port()),
                                     "--dbname", db, "--user", user, "--password", password};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(argv, {{"PYTHONDONTWRITEBYTECODE", "1"}}, 120s);
}

// The JSON line a script printed, asserted to say ok.
nlohmann::json expect_ok(const CommandResult& r) {
    BOOST_TEST_REQUIRE(r.ok(), r.describe());
    auto j = nlohmann::json::parse(r.out);
    BOOST_TEST_REQUIRE(j.value("ok", false), r.out);
    return j;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(pg_fixture)

BOOST_AUTO_TEST_CASE(socket_and_tcp) {
    PgCluster pg({.max_connections = 42});
    BOOST_TEST(pg.psql("SELECT 1;") == "1");
    // Over the socket inet_server_port() is NULL; over TCP it is our port.
    BOOST_TEST(pg.psql("SELECT inet_server_port() IS NULL, current_user;") == "t|postgres");
    auto tcp = pg.run_psql("SELECT inet_server_port(), inet_server_addr();", {.tcp = true});
    BOOST_TEST_REQUIRE(tcp.ok(), tcp.describe());
    BOOST_TEST(tcp.out == fmt::format("{}|127.0.0.1\n", pg.port()));
    BOOST_TEST(wait_for_unix(pg.socket_path(), 1s));
    BOOST_TEST(wait_for_tcp(pg.port(), 1s));
    BOOST_TEST(pg_connect_error(pg.conninfo()) == "");
    BOOST_TEST(pg_connect_error(pg.tcp_conninfo()) == "");
    BOOST_TEST(pg.psql("SHOW max_connections; SHOW fsync; SHOW server_encoding;") == "42\noff\nUTF8");

    pg.create_user(PgUser{.name = "alice"});
    pg.create_database("appdb", "alice");
    BOOST_TEST(pg.psql("SELECT current_user, current_database();", "appdb", "alice") == "alice|appdb");
    // Several statements run one by one (CREATE DATABASE cannot run in a transaction block).
    BOOST_TEST(pg.psql("CREATE DATABASE other; SELECT 2;") == "2");
    auto bad = pg.run_psql("SELECT * FROM no_such_table;", {});
    BOOST_TEST(!bad.ok());
    BOOST_TEST(contains(bad.err, "no_such_table"), bad.describe());
    BOOST_CHECK_THROW(pg.psql("SELECT * FROM no_such_table;"), std::runtime_error);

    auto env = pg.client_env("appdb", "alice");
    auto r = run_command({pg_program("psql"), "-X", "-A", "-t", "-c", "SELECT current_database()"}, env);
    BOOST_TEST(r.out == "appdb\n", r.describe());

    // Two idle libpq connections show as client backends (the counting psql does not).
    BOOST_TEST(pg.client_backends() == 0);
    PGconn* one = PQconnectdb(pg.conninfo("appdb", "alice").c_str());
    PGconn* two = PQconnectdb(pg.tcp_conninfo("postgres").c_str());
    BOOST_TEST(pg.client_backends() == 2);
    BOOST_TEST(pg.client_backends("appdb") == 1);
    BOOST_TEST(pg.client_backends({}, "alice") == 1);
    PQfinish(one);
    PQfinish(two);
    BOOST_TEST(eventually([&] { return pg.client_backends() == 0; }, 5s));
}

BOOST_AUTO_TEST_CASE(scram_and_md5_logins) {
    // SCRAM over TCP, md5 over the socket (which also accepts SCRAM verifiers, as Postgres does).
    PgCluster pg({.auth = "scram-sha-256",
                  .auth_local = "md5",
                  .superuser_password = "su-secret",
                  .users = {{.name = "app", .password = "app-secret"}, {.name = "old", .password = "old-secret", .md5 = true}}});
    BOOST_TEST(pg.psql("SELECT rolname, CASE WHEN rolpassword LIKE 'SCRAM-SHA-256$%' THEN 'scram' "
                       "WHEN rolpassword LIKE 'md5%' THEN 'md5' END FROM pg_authid WHERE rolname IN ('app', 'old') "
                       "ORDER BY 1;") == "app|scram\nold|md5");

    for (bool tcp : {false, true}) {
        BOOST_TEST_CONTEXT((tcp ? "tcp" : "socket")) {
            auto ok = pg.run_psql("SELECT current_user;", {.user = "app", .password = "app-secret", .tcp = tcp});
            BOOST_TEST(ok.ok(), ok.describe());
            BOOST_TEST(ok.out == "app\n");
            auto wrong = pg.run_psql("SELECT 1;", {.user = "app", .password = "wrong", .tcp = tcp});
            BOOST_TEST(!wrong.ok());
            BOOST_TEST(contains(wrong.err, "password authentication failed for user \"app\""), wrong.describe());
            auto none = pg.run_psql("SELECT 1;", {.user = "app", .password = "", .tcp = tcp});
            BOOST_TEST(!none.ok(), none.describe());
            // libpq too, as the pool will see it.
            BOOST_TEST(pg_connect_error((tcp ? pg.tcp_conninfo("postgres", "app", "app-secret")
                                             : pg.conninfo("postgres", "app", "app-secret"))) == "");
            BOOST_TEST(contains(pg_connect_error(pg.conninfo("postgres", "app", "nope")), "password authentication failed"));
        }
    }
    // An md5 verifier cannot answer SCRAM: it logs in over the socket (md5) but not over TCP.
    auto md5_socket = pg.run_psql("SELECT 1;", {.user = "old"});
    BOOST_TEST(md5_socket.ok(), md5_socket.describe());
    auto md5_tcp = pg.run_psql("SELECT 1;", {.user = "old", .tcp = true});
    BOOST_TEST(!md5_tcp.ok(), md5_tcp.describe());
}

BOOST_AUTO_TEST_CASE(pgbench_restart_and_crash_keep_data) {
    PgCluster pg;
    pg.create_database("bench");
    auto init = run_command({pg_program("pgbench"), "-i", "-s", "1", "-q"}, pg.client_env("bench"), 120s);
    BOOST_TEST_REQUIRE(init.ok(), init.describe());
    auto load = run_command({pg_program("pgbench"), "-c", "4", "-j", "1", "-t", "50", "-n"}, pg.client_env("bench"), 120s);
    BOOST_TEST_REQUIRE(load.ok(), load.describe());
    BOOST_TEST(contains(load.out, "number of transactions actually processed: 200/200"), load.out);
    const std::string count_sql = "SELECT count(*) FROM pgbench_accounts;";
    BOOST_TEST(pg.psql(count_sql, "bench") == "100000");
    pg.psql("UPDATE pgbench_branches SET bbalance = 4242 WHERE bid = 1;", "bench");

    const pid_t first = pg.pid();
    pg.restart();
    BOOST_TEST(pg.pid() != first);
    BOOST_TEST(pg.psql(count_sql, "bench") == "100000");

    pg.psql("UPDATE pgbench_branches SET bbalance = 4343 WHERE bid = 1;", "bench");
    pg.kill_postmaster();
    BOOST_TEST(!pg.running());
    BOOST_TEST(pg.pid() == -1);
    BOOST_TEST(pg_connect_error(pg.conninfo()) != "");
    pg.start();
    BOOST_TEST(contains(pg.log_text(), "automatic recovery in progress"), pg.log_text());
    BOOST_TEST(pg.psql(count_sql, "bench") == "100000");
    BOOST_TEST(pg.psql("SELECT bbalance FROM pgbench_branches WHERE bid = 1;", "bench") == "4343");
    pg.stop();
    BOOST_TEST(!pg.running());
    pg.start();
    BOOST_TEST(pg.psql(count_sql, "bench") == "100000");
}

BOOST_AUTO_TEST_CASE(pause_makes_connects_time_out) {
    PgCluster pg;
    BOOST_TEST_REQUIRE(pg.child_pids().size() >= 3u);  // checkpointer, background writer, walwriter …
    pg.pause();
    BOOST_TEST(pg.paused());
    // Over the socket and over TCP at once (each waits out libpq's shortest timeout, 2 s).
    auto t0 = Clock::now();
    auto socket_error = std::async(std::launch::async, [&] { return pg_connect_error(pg.conninfo() + " connect_timeout=2"); });
    std::string tcp_error = pg_connect_error(pg.tcp_conninfo() + " connect_timeout=2");
    for (const auto& error : {socket_error.get(), tcp_error}) BOOST_TEST(contains(error, "timeout expired"), error);
    BOOST_TEST((Clock::now() - t0 >= 1500ms));
    pg.resume();
    BOOST_TEST(!pg.paused());
    BOOST_TEST(pg_connect_error(pg.conninfo() + " connect_timeout=2") == "");
    BOOST_TEST(pg.psql("SELECT 1;") == "1");
}

BOOST_AUTO_TEST_CASE(standby_promoted_after_primary_dies) {
    PgCluster primary({.auth = "scram-sha-256", .superuser_password = "su-secret"});
    primary.psql("CREATE TABLE t (v int); INSERT INTO t VALUES (1);");
    PgCluster standby(PgCluster::StandbyOf{primary});
    BOOST_TEST(standby.in_recovery());
    BOOST_TEST(!primary.in_recovery());
    BOOST_TEST(standby.psql("SELECT count(*) FROM t;") == "1");
    primary.psql("INSERT INTO t VALUES (2);");
    BOOST_TEST(eventually([&] { return standby.psql("SELECT count(*) FROM t;") == "2"; }, 10s, 20ms));
    auto write = standby.run_psql("INSERT INTO t VALUES (3);", {});
    BOOST_TEST(!write.ok());
    BOOST_TEST(contains(write.err, "read-only transaction"), write.describe());

    // libpq's multi-host failover as the pool's conninfo will use it.
    const std::string both = fmt::format(
        "host={},{} port={},{} dbname=postgres user=postgres password=su-secret target_session_attrs=read-write "
        "connect_timeout=2",
        primary.socket_dir(), standby.socket_dir(), primary.port(), standby.port());
    BOOST_TEST(connected_port(both) == primary.port());

    primary.kill_postmaster();
    BOOST_TEST(connected_port(both) == 0);  // the standby is read-only
    standby.promote();
    BOOST_TEST(!standby.in_recovery());
    standby.psql("INSERT INTO t VALUES (3);");
    BOOST_TEST(standby.psql("SELECT string_agg(v::text, ',' ORDER BY v) FROM t;") == "1,2,3");
    BOOST_TEST(connected_port(both) == standby.port());

    // Without a standby: default_transaction_read_only makes read-write skip a server.
    primary.start();
    BOOST_TEST(connected_port(both) == primary.port());
    primary.set_default_read_only(true);
    BOOST_TEST(connected_port(both) == standby.port());
    primary.set_default_read_only(false);
    BOOST_TEST(connected_port(both) == primary.port());
}

BOOST_AUTO_TEST_CASE(client_scripts_work_directly) {
    PgCluster pg({.auth = "scram-sha-256",
                  .superuser_password = "su-secret",
                  .users = {{.name = "app", .password = "app-secret"}}});
    pg.create_database("appdb", "app");

    auto a = expect_ok(run_client_script("asyncpg_check.py", pg, "appdb", "app", "app-secret",
                                         {"--statement-cache-size", "0", "--queries", "50", "--connections", "3"}));
    BOOST_TEST(a["driver"] == "asyncpg");
    BOOST_TEST(a["connections"] == 3);
    BOOST_TEST(a["backend_pids"].size() == 3u);  // straight to Postgres: one backend per connection
    expect_ok(run_client_script("asyncpg_check.py", pg, "appdb", "app", "app-secret", {"--explicit-prepare"}, /*tcp=*/true));

    auto p = expect_ok(run_client_script("psycopg_check.py", pg, "appdb", "app", "app-secret",
                                         {"--prepare-threshold", "none", "--connections", "2", "--copy"}));
    BOOST_TEST(p["driver"] == "psycopg");
    BOOST_TEST(p["pipeline_results"].size() >= 4u);
    expect_ok(run_client_script("psycopg_check.py", pg, "appdb", "app", "app-secret", {}, /*tcp=*/true));

    auto s = expect_ok(run_client_script("sqlalchemy_check.py", pg, "appdb", "app", "app-secret", {"--threads", "4"}));
    BOOST_TEST(s["driver"] == "sqlalchemy");
    BOOST_TEST(s["threads"] == 4);

    // A failure is an exit status and a message naming the cause.
    for (const char* script : {"asyncpg_check.py", "psycopg_check.py", "sqlalchemy_check.py"}) {
        BOOST_TEST_CONTEXT(script) {
            auto bad = run_client_script(script, pg, "appdb", "app", "wrong");
            BOOST_TEST(bad.exit_code == 1, bad.describe());
            BOOST_TEST(contains(bad.err, "password authentication failed"), bad.describe());
            auto j = nlohmann::json::parse(bad.out);
            BOOST_TEST(j["ok"] == false);
        }
    }
}

BOOST_AUTO_TEST_SUITE_END()
