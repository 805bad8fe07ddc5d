// pool_modes: what transaction and session pooling promise, with real clients — servers shared by
// many clients, a client killed mid-transaction or mid-result never hands a dirty server on,
// session state reset between session clients, startup parameters that do not leak, pgbench in
// each protocol mode, asyncpg, psycopg 3 (pipeline mode, COPY), SQLAlchemy, libpq's pipeline mode,
// LISTEN/NOTIFY in session mode, and LISTEN refused with 0A000 in transaction mode.
#include <sys/socket.h>

#include <thread>

#include "pool_support.hpp"

using namespace portico::test;
using namespace portico::test::pool;

namespace {

bool contains(const std::string& text, std::string_view part) { return text.find(part) != std::string::npos; }

// pgbench through portico: its output, asserted to have run without failed transactions.
std::string pgbench(const PoolStack& stack, const std::vector<std::string>& args) {
    std::vector<std::string> argv = {pg_program("pgbench")};
    argv.insert(argv.end(), args.begin(), args.end());
    CommandResult r = run_command(argv, stack.client_env(), 120s);
    BOOST_TEST_MESSAGE("pgbench " << args.back() << ": " << r.out);
    BOOST_TEST(r.ok(), r.describe());
    BOOST_TEST(contains(r.out, "number of failed transactions: 0"), r.describe());
    return r.out;
}

void init_pgbench(PoolStack& stack) {
    CommandResult r = run_command({pg_program("pgbench"), "-i", "-q", "-s", "1"}, stack.pg.client_env("app"), 120s);
    BOOST_REQUIRE_MESSAGE(r.ok(), r.describe());
}

// Closes the socket under libpq without a Terminate message: what a killed process looks like.
void kill_socket(PgConn& c) { ::shutdown(PQsocket(c.conn), SHUT_RDWR); }

}  // namespace

BOOST_AUTO_TEST_SUITE(pool_modes)

BOOST_AUTO_TEST_CASE(transaction_mode_shares_a_few_servers_among_many_clients) {
    PoolSetup setup;
    setup.pool_size = "3";
    PoolStack stack(setup);
    json r = stack.driver("asyncpg_check.py", {"--statement-cache-size", "0", "--connections", "12", "--queries", "40"});
    BOOST_TEST(r.value("ok", false));
    BOOST_TEST(r["backend_pids"].size() <= 3u, r.dump());
    json p = stack.pool_stats();
    BOOST_TEST(p["server_connects"].get<int>() <= 3);
    BOOST_TEST(p["total_xact_count"].get<int>() > 12 * 40);
    BOOST_TEST(p["cl_active"].get<int>() == 0);
}

BOOST_AUTO_TEST_CASE(client_killed_mid_transaction_leaves_a_clean_server) {
    PoolSetup setup;
    setup.pool_size = "1";
    PoolStack stack(setup);
    stack.pg.psql("CREATE TABLE app_rows (x int)", "app");
    std::string pid;
    {
        PgConn a(stack.conninfo());
        BOOST_REQUIRE_MESSAGE(a.ok(), a.error());
        pid = a.value("SELECT pg_backend_pid()");
        a.value("BEGIN");
        a.value("INSERT INTO app_rows VALUES (1)");
        BOOST_TEST(!a.value("SELECT txid_current_if_assigned()").empty());
        a.value("SELECT pg_advisory_xact_lock(42)");
        kill_socket(a);
    }
    PgConn b(stack.conninfo());
    BOOST_REQUIRE_MESSAGE(b.ok(), b.error());
    BOOST_TEST(b.value("SELECT pg_backend_pid()") == pid);  // the same server, rolled back
    BOOST_TEST(b.value("SELECT txid_current_if_assigned()").empty());
    BOOST_TEST(b.value("SELECT count(*) FROM app_rows") == "0");
    BOOST_TEST(b.value("SELECT pg_try_advisory_xact_lock(42)") == "t");
    BOOST_TEST(stack.pool_stats()["server_resets"].get<int>() >= 1);
}

BOOST_AUTO_TEST_CASE(client_killed_mid_result_gets_its_server_closed) {
    PoolSetup setup;
    setup.pool_size = "1";
    PoolStack stack(setup);
    std::string first_pid;
    {
        PgConn a(stack.conninfo());
        BOOST_REQUIRE_MESSAGE(a.ok(), a.error());
        first_pid = a.value("SELECT pg_backend_pid()");
        BOOST_REQUIRE(PQsendQuery(a.conn, "SELECT g, repeat('x', 500) FROM generate_series(1, 2000000) g") == 1);
        std::this_thread::sleep_for(200ms);  // let rows flow
        kill_socket(a);
    }
    PgConn b(stack.conninfo());
    BOOST_REQUIRE_MESSAGE(b.ok(), b.error());
    BOOST_TEST(b.value("SELECT 1") == "1");
    BOOST_TEST(b.value("SELECT pg_backend_pid()") != first_pid);
    BOOST_TEST(stack.pool_stats()["server_dirty_closes"].get<int>() == 1);
}

BOOST_AUTO_TEST_CASE(session_mode_resets_state_between_clients) {
    PoolSetup setup;
    setup.mode = "session";
    setup.pool_size = "1";
    PoolStack stack(setup);
    std::string pid;
    {
        PgConn a(stack.conninfo());
        BOOST_REQUIRE_MESSAGE(a.ok(), a.error());
        pid = a.value("SELECT pg_backend_pid()");
        a.value("CREATE TEMP TABLE scratch (x int)");
        a.value("SET statement_timeout = 4321");
        a.value("PREPARE p AS SELECT 1");
        a.value("LISTEN somewhere");
        a.value("SELECT pg_advisory_lock(7)");
        a.value("BEGIN");  // and leaves inside a transaction
    }
    PgConn b(stack.conninfo());
    BOOST_REQUIRE_MESSAGE(b.ok(), b.error());
    BOOST_TEST(b.value("SELECT pg_backend_pid()") == pid);
    BOOST_TEST(b.value("SELECT to_regclass('pg_temp.scratch') IS NULL") == "t");
    BOOST_TEST(b.value("SHOW statement_timeout") == "0");
    BOOST_TEST(b.value("SELECT count(*) FROM pg_prepared_statements") == "0");
    BOOST_TEST(b.value("SELECT count(*) FROM pg_listening_channels()") == "0");
    BOOST_TEST(b.value("SELECT pg_try_advisory_lock(7)") == "t");
    BOOST_TEST(b.value("SELECT txid_current_if_assigned()").empty());
}

BOOST_AUTO_TEST_CASE(startup_parameters_do_not_leak_between_clients) {
    PoolSetup setup;
    setup.pool_size = "1";
    PoolStack stack(setup);
    PgConn a(stack.conninfo("postgres", "app", "application_name=alpha options='-c statement_timeout=4321'"));
    BOOST_REQUIRE_MESSAGE(a.ok(), a.error());
    BOOST_TEST(a.value("SHOW statement_timeout") == "4321ms");
    BOOST_TEST(a.value("SHOW application_name") == "alpha");
    PgConn b(stack.conninfo());
    BOOST_REQUIRE_MESSAGE(b.ok(), b.error());
    BOOST_TEST(b.value("SHOW statement_timeout") == "0");
    BOOST_TEST(b.value("SHOW application_name") != "alpha");
    BOOST_TEST(a.value("SHOW statement_timeout") == "4321ms");  // and back for a
    BOOST_TEST(a.value("SELECT current_setting('application_name')") == "alpha");
    PgConn bad(stack.conninfo("postgres", "app", "options='-c statement_timeout=soon'"));
    BOOST_TEST(!bad.ok());
    BOOST_TEST(contains(bad.error(), "statement_timeout"), bad.error());
}

BOOST_AUTO_TEST_CASE(pgbench_in_every_protocol_mode) {
    {
        PoolSetup setup;
        setup.pool_size = "2";
        PoolStack stack(setup);
        init_pgbench(stack);
        pgbench(stack, {"-c", "8", "-j", "2", "-t", "200", "-M", "simple"});
        pgbench(stack, {"-c", "8", "-j", "2", "-t", "200", "-S", "-M", "extended"});
        BOOST_TEST(stack.pool_stats()["server_connects"].get<int>() <= 2);
    }
    PoolSetup setup;
    setup.mode = "session";
    setup.pool_size = "8";
    PoolStack stack(setup);
    init_pgbench(stack);
    pgbench(stack, {"-c", "8", "-j", "2", "-t", "200", "-M", "prepared"});
}

BOOST_AUTO_TEST_CASE(drivers_in_transaction_mode) {
    PoolSetup setup;
    setup.pool_size = "3";
    PoolStack stack(setup);
    stack.driver("asyncpg_check.py", {"--statement-cache-size", "0", "--connections", "4"});
    stack.driver("psycopg_check.py", {"--prepare-threshold", "none", "--connections", "4", "--copy"});
    stack.driver("sqlalchemy_check.py", {"--threads", "6", "--pool-size", "4"});
}

BOOST_AUTO_TEST_CASE(drivers_with_their_defaults_in_session_mode) {
    PoolSetup setup;
    setup.mode = "session";
    setup.pool_size = "6";
    PoolStack stack(setup);
    stack.driver("asyncpg_check.py", {"--connections", "4", "--explicit-prepare"});
    stack.driver("psycopg_check.py", {"--connections", "4", "--copy"});
}

BOOST_AUTO_TEST_CASE(libpq_pipeline_mode_with_an_error_in_the_middle) {
    PoolSetup setup;
    setup.pool_size = "1";
    PoolStack stack(setup);
    PgConn c(stack.conninfo());
    BOOST_REQUIRE_MESSAGE(c.ok(), c.error());
    PgConn other(stack.conninfo());  // shares the single server between c's pipelines
    BOOST_REQUIRE(PQenterPipelineMode(c.conn) == 1);
    const char* one[] = {"1"};
    BOOST_REQUIRE(PQsendQueryParams(c.conn, "SELECT $1::int + 1", 1, nullptr, one, nullptr, nullptr, 0) == 1);
    BOOST_REQUIRE(PQpipelineSync(c.conn) == 1);
    BOOST_REQUIRE(PQsendQueryParams(c.conn, "SELECT 1/0", 0, nullptr, nullptr, nullptr, nullptr, 0) == 1);
    BOOST_REQUIRE(PQsendQueryParams(c.conn, "SELECT 'skipped'", 0, nullptr, nullptr, nullptr, nullptr, 0) == 1);
    BOOST_REQUIRE(PQpipelineSync(c.conn) == 1);
    BOOST_REQUIRE(PQsendQueryParams(c.conn, "SELECT 'after'", 0, nullptr, nullptr, nullptr, nullptr, 0) == 1);
    BOOST_REQUIRE(PQpipelineSync(c.conn) == 1);
    std::vector<std::string> seen;
    int syncs = 0;
    while (syncs < 3) {
        PGresult* r = PQgetResult(c.conn);
        if (r == nullptr) continue;  // end of one query's results
        switch (PQresultStatus(r)) {
            case PGRES_TUPLES_OK:
                seen.push_back(PQgetvalue(r, 0, 0));
                break;
            case PGRES_FATAL_ERROR:
                seen.push_back(std::string("error ") + PQresultErrorField(r, PG_DIAG_SQLSTATE));
                break;
            case PGRES_PIPELINE_ABORTED:
                seen.push_back("aborted");
                break;
            case PGRES_PIPELINE_SYNC:
                ++syncs;
                break;
            default:
                seen.push_back(PQresStatus(PQresultStatus(r)));
        }
        PQclear(r);
    }
    std::vector<std::string> expected = {"2", "error 22012", "aborted", "after"};
    BOOST_TEST(seen == expected, boost::test_tools::per_element());
    BOOST_REQUIRE(PQexitPipelineMode(c.conn) == 1);
    BOOST_TEST(other.value("SELECT 'the server came back'") == "the server came back");
}

BOOST_AUTO_TEST_CASE(listen_notify_in_session_mode) {
    PoolSetup setup;
    setup.mode = "session";
    PoolStack stack(setup);
    PgConn listener(stack.conninfo());
    BOOST_REQUIRE_MESSAGE(listener.ok(), listener.error());
    listener.value("LISTEN news");
    PgConn sender(stack.conninfo());
    sender.value("NOTIFY news, 'hello'");
    bool got = eventually(
        [&] {
            PQconsumeInput(listener.conn);
            PGnotify* n = PQnotifies(listener.conn);
            bool ok = n != nullptr && std::string(n->relname) == "news" && std::string(n->extra) == "hello";
            if (n != nullptr) PQfreemem(n);
            return ok;
        },
        5s);
    BOOST_TEST(got);
}

BOOST_AUTO_TEST_CASE(listen_in_transaction_mode_is_refused_clearly) {
    PoolStack stack;
    PgConn c(stack.conninfo());
    BOOST_REQUIRE_MESSAGE(c.ok(), c.error());
    BOOST_TEST(c.sqlstate_of("LISTEN news") == "0A000");
    BOOST_TEST(c.sqlstate_of("SELECT 1; listen news") == "0A000");
    PGresult* r = PQexecParams(c.conn, "LISTEN news", 0, nullptr, nullptr, nullptr, nullptr, 0);  // extended protocol
    const char* state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    BOOST_TEST(std::string(state ? state : "") == "0A000");
    BOOST_TEST(contains(PQresultErrorMessage(r), "session mode"), PQresultErrorMessage(r));
    PQclear(r);
    // Inside a transaction block it aborts the block like any error.
    c.value("BEGIN");
    BOOST_TEST(c.sqlstate_of("LISTEN news") == "0A000");
    BOOST_TEST(c.sqlstate_of("SELECT 1") == "25P02");
    c.value("ROLLBACK");
    BOOST_TEST(c.value("SELECT count(*) FROM pg_listening_channels()") == "0");
    BOOST_TEST(c.value("SELECT 'LISTEN in a string is fine'") == "LISTEN in a string is fine");
    BOOST_TEST(stack.pool_stats()["listens_refused"].get<int>() == 4);
}

BOOST_AUTO_TEST_CASE(regressions_from_review) {
    PoolSetup setup;
    setup.pool_size = "1";
    PoolStack stack(setup);
    stack.pg.psql("CREATE TABLE copied (x int)", "app");
    {
        // COPY FROM STDIN through the extended protocol: libpq's Sync after Execute is ignored by
        // the backend in copy-in mode; the server must still come back after the COPY.
        PgConn a(stack.conninfo());
        PGresult* r = PQexecParams(a.conn, "COPY copied FROM STDIN", 0, nullptr, nullptr, nullptr, nullptr, 0);
        BOOST_TEST(PQresultStatus(r) == PGRES_COPY_IN);
        PQclear(r);
        BOOST_REQUIRE(PQputCopyData(a.conn, "1\n2\n3\n", 6) == 1);
        BOOST_REQUIRE(PQputCopyEnd(a.conn, nullptr) == 1);
        while ((r = PQgetResult(a.conn)) != nullptr) {
            BOOST_TEST(PQresultStatus(r) == PGRES_COMMAND_OK);
            PQclear(r);
        }
        PgConn b(stack.conninfo());
        BOOST_TEST(b.value("SELECT count(*) FROM copied") == "3");  // the only server was released
    }
    {
        // A client that stalls on a result over the back-pressure mark pauses its server's reads;
        // the server must be heard again by the next client.
        PgConn a(stack.conninfo());
        BOOST_REQUIRE(PQsendQuery(a.conn, "SELECT repeat('x', 1000) FROM generate_series(1, 3000)") == 1);
        BOOST_REQUIRE(PQsetSingleRowMode(a.conn) == 1);
        std::this_thread::sleep_for(400ms);
        while (PGresult* r = PQgetResult(a.conn)) PQclear(r);
        PgConn b(stack.conninfo());
        BOOST_TEST(b.value("SELECT 'heard'") == "heard");
    }
    {
        // A client that leaves while its startup parameters are being set must not leave them to
        // the next client.
        for (int i = 0; i < 5; ++i) PgConn y(stack.conninfo("postgres", "app", "options='-c statement_timeout=1234'"));
        PgConn plain(stack.conninfo());
        BOOST_TEST(plain.value("SHOW statement_timeout") == "0");
    }
}

BOOST_AUTO_TEST_SUITE_END()
