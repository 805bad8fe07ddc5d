// pool_faults: the pool when things go wrong or run long — a cancel reaching the right backend,
// query_wait_timeout and idle_transaction_timeout, PostgreSQL restarted under pgbench and paused
// past server_connect_timeout, pause/resume and a pool-size reload from the admin port, and 2,000
// client connections over a pool of 20, and a slow reader of a large result.
#include <future>
#include <thread>

#include "pool_support.hpp"

using namespace portico::test;
using namespace portico::test::pool;

namespace {
bool contains(const std::string& text, std::string_view part) { return text.find(part) != std::string::npos; }
using SteadyClock = std::chrono::steady_clock;
double seconds_since(SteadyClock::time_point t) {
    return std::chrono::duration<double>(SteadyClock::now() - t).count();
}
}  // namespace

BOOST_AUTO_TEST_SUITE(pool_faults)

BOOST_AUTO_TEST_CASE(cancel_reaches_the_backend_running_the_query) {
    PoolSetup setup;
    setup.pool_size = "2";
    PoolStack stack(setup);
    PgConn busy(stack.conninfo());
    PgConn bystander(stack.conninfo());
    BOOST_REQUIRE_MESSAGE(busy.ok(), busy.error());
    auto start = SteadyClock::now();
    BOOST_REQUIRE(PQsendQuery(busy.conn, "SELECT pg_sleep(30)") == 1);
    std::this_thread::sleep_for(300ms);
    PGcancel* cancel = PQgetCancel(busy.conn);
    char err[256];
    BOOST_REQUIRE(PQcancel(cancel, err, sizeof err) == 1);
    PQfreeCancel(cancel);
    PGresult* r = PQgetResult(busy.conn);
    const char* state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    BOOST_TEST(std::string(state ? state : "") == "57014");
    PQclear(r);
    while ((r = PQgetResult(busy.conn)) != nullptr) PQclear(r);
    BOOST_TEST(seconds_since(start) < 10.0);
    BOOST_TEST(busy.value("SELECT 'usable after the cancel'") == "usable after the cancel");
    BOOST_TEST(bystander.value("SELECT 1") == "1");
    BOOST_TEST(stack.pool_stats()["cancels"].get<int>() == 1);
    // A cancel with a made-up key changes nothing.
    BOOST_REQUIRE(PQsendQuery(busy.conn, "SELECT pg_sleep(0.5), 'finished'") == 1);
    r = PQgetResult(busy.conn);
    BOOST_TEST(PQresultStatus(r) == PGRES_TUPLES_OK);
    PQclear(r);
    while ((r = PQgetResult(busy.conn)) != nullptr) PQclear(r);
}

BOOST_AUTO_TEST_CASE(query_wait_timeout_answers_57014_and_keeps_the_client) {
    PoolSetup setup;
    setup.pool_size = "1";
    setup.query_wait_timeout = "1s";
    PoolStack stack(setup);
    PgConn holder(stack.conninfo());
    BOOST_REQUIRE_MESSAGE(holder.ok(), holder.error());
    holder.value("BEGIN");
    holder.value("SELECT 1");  // holds the only server inside its transaction
    PgConn waiter(stack.conninfo());
    BOOST_REQUIRE_MESSAGE(waiter.ok(), waiter.error());
    auto start = SteadyClock::now();
    BOOST_TEST(waiter.sqlstate_of("SELECT 2") == "57014");
    double waited = seconds_since(start);
    BOOST_TEST(waited >= 0.9);
    BOOST_TEST(waited < 5.0);
    holder.value("COMMIT");
    BOOST_TEST(waiter.value("SELECT 'served now'") == "served now");  // the same connection goes on
    BOOST_TEST(stack.pool_stats()["query_wait_timeouts"].get<int>() == 1);
}

BOOST_AUTO_TEST_CASE(idle_transaction_timeout_closes_the_client_and_frees_the_server) {
    PoolSetup setup;
    setup.pool_size = "1";
    setup.idle_transaction_timeout = "1s";
    PoolStack stack(setup);
    stack.pg.psql("CREATE TABLE t (x int)", "app");
    PgConn idle(stack.conninfo());
    BOOST_REQUIRE_MESSAGE(idle.ok(), idle.error());
    idle.value("BEGIN");
    idle.value("INSERT INTO t VALUES (1)");
    PgConn next(stack.conninfo());
    auto start = SteadyClock::now();
    BOOST_TEST(next.value("SELECT count(*) FROM t") == "0");  // waits for the timeout, then a clean server
    BOOST_TEST(seconds_since(start) >= 0.9);
    BOOST_CHECK_THROW(idle.value("SELECT 1"), std::runtime_error);  // the idle client was terminated
    BOOST_TEST(stack.pool_stats()["idle_transaction_timeouts"].get<int>() == 1);
}

BOOST_AUTO_TEST_CASE(postgres_restarted_under_load) {
    PoolSetup setup;
    setup.pool_size = "4";
    PoolStack stack(setup);
    CommandResult init = run_command({pg_program("pgbench"), "-i", "-q", "-s", "1"}, stack.pg.client_env("app"), 120s);
    BOOST_REQUIRE_MESSAGE(init.ok(), init.describe());
    auto load = std::async(std::launch::async, [&] {
        return run_command({pg_program("pgbench"), "-c", "8", "-j", "2", "-T", "6", "-S"}, stack.client_env(), 60s);
    });
    std::this_thread::sleep_for(1500ms);
    stack.pg.restart();
    CommandResult r = load.get();
    BOOST_TEST_MESSAGE(r.describe());
    // In-flight work gets errors (pgbench stops its clients on them); the pool itself survives.
    bool told = contains(r.err + r.out, "server connection lost") || contains(r.err + r.out, "terminating");
    BOOST_TEST(told, r.describe());
    BOOST_TEST(eventually([&] { return stack.psql({"SELECT 1"}).ok(); }, 10s));
    CommandResult after = run_command({pg_program("pgbench"), "-c", "4", "-j", "2", "-t", "100", "-S"}, stack.client_env(), 60s);
    BOOST_TEST(after.ok(), after.describe());
    BOOST_TEST(contains(after.out, "number of failed transactions: 0"), after.describe());
}

BOOST_AUTO_TEST_CASE(paused_postgres_hits_server_connect_timeout_then_recovers) {
    PoolSetup setup;
    setup.server_connect_timeout = "1s";
    PoolStack stack(setup);
    stack.pg.pause();
    auto start = SteadyClock::now();
    CommandResult r = stack.psql({"SELECT 1"});
    BOOST_TEST(!r.ok());
    BOOST_TEST(contains(r.err, "server_connect_timeout"), r.describe());
    BOOST_TEST(seconds_since(start) < 8.0);
    stack.pg.resume();
    BOOST_TEST(eventually([&] { return stack.psql({"SELECT 1"}).ok(); }, 10s));
    json p = stack.pool_stats();
    BOOST_TEST(p["server_connect_failures"].get<int>() >= 1);
    HttpResponse ready = stack.portico->admin("GET", "/pool");
    BOOST_TEST(ready.status == 200);
}

BOOST_AUTO_TEST_CASE(pause_resume_and_reloaded_pool_size) {
    PoolSetup setup;
    setup.pool_size = "2";
    PoolStack stack(setup);
    BOOST_TEST(stack.psql_ok({"SELECT 1"}) == "1");
    HttpResponse paused = stack.portico->admin("POST", "/pool/pause", R"({"database":"app"})");
    BOOST_TEST(paused.status == 200, paused.describe());
    auto blocked = std::async(std::launch::async, [&] { return stack.psql({"SELECT 'after resume'"}); });
    BOOST_TEST((blocked.wait_for(1s) == std::future_status::timeout));  // waits while paused
    BOOST_TEST(stack.pool_stats()["cl_waiting"].get<int>() == 1);
    HttpResponse resumed = stack.portico->admin("POST", "/pool/resume", "");
    BOOST_TEST(resumed.status == 200, resumed.describe());
    CommandResult r = blocked.get();
    BOOST_TEST(r.ok(), r.describe());
    BOOST_TEST(contains(r.out, "after resume"));
    HttpResponse unknown = stack.portico->admin("POST", "/pool/pause", R"({"database":"nope"})");
    BOOST_TEST(unknown.status == 404, unknown.describe());

    stack.reload([](PoolSetup& s) { s.pool_size = "5"; });
    BOOST_TEST(stack.pool_stats()["pool_size"].get<int>() == 5);
    json j = stack.driver("asyncpg_check.py", {"--statement-cache-size", "0", "--connections", "10", "--queries", "30"});
    BOOST_TEST(j["backend_pids"].size() <= 5u);
}

BOOST_AUTO_TEST_CASE(two_thousand_clients_over_a_pool_of_twenty) {
    PoolSetup setup;
    setup.pool_size = "20";
    setup.max_client_conn = "2500";
    // 15 s (PgBouncer's default) rather than 5 s: on a loaded machine Postgres may take over 5 s to
    // fork the first 20 backends while 2,000 logins arrive, and a connect that times out with no
    // server left fails the waiting clients at once (paused_postgres_… tests that on purpose).
    setup.server_connect_timeout = "15s";
    PoolStack stack(setup);
    json j = stack.driver("asyncpg_check.py",
                          {"--statement-cache-size", "0", "--connections", "2000", "--queries", "3", "--connect-timeout", "60"});
    BOOST_TEST(j.value("ok", false));
    BOOST_TEST(j["backend_pids"].size() <= 20u);
    json p = stack.pool_stats();
    BOOST_TEST(p["server_connects"].get<int>() <= 20);
    BOOST_TEST(stack.pg.psql("SELECT count(*) < 25 FROM pg_stat_activity WHERE datname = 'app'") == "t");
}

BOOST_AUTO_TEST_CASE(a_slow_reader_of_a_large_result_holds_portico_memory_bounded) {
    PoolStack stack;
    PgConn c(stack.conninfo());
    BOOST_REQUIRE_MESSAGE(c.ok(), c.error());
    // About 300 MB of rows, read one row at a time only after a pause: portico must stop reading the
    // server while the client does not read, not buffer the result.
    BOOST_REQUIRE(PQsendQuery(c.conn, "SELECT g, repeat('x', 1000) FROM generate_series(1, 300000) g") == 1);
    BOOST_REQUIRE(PQsetSingleRowMode(c.conn) == 1);
    std::this_thread::sleep_for(2s);
    uint64_t rss_kib = proc_status_kib(stack.portico->pid(), "VmRSS");
    BOOST_TEST_MESSAGE("portico RSS while the client stalls: " << rss_kib << " KiB");
    if (!sanitized_build(stack.portico->pid())) {
        BOOST_TEST(rss_kib < 64u * 1024, "portico RSS while the client stalls: " << rss_kib << " KiB");
    }
    long rows = 0;
    while (PGresult* r = PQgetResult(c.conn)) {
        if (PQresultStatus(r) == PGRES_SINGLE_TUPLE) ++rows;
        PQclear(r);
    }
    BOOST_TEST(rows == 300000);
    BOOST_TEST(c.value("SELECT 'next'") == "next");
}

BOOST_AUTO_TEST_CASE(a_conninfo_that_fails_at_once_is_retried_calmly) {
    PoolSetup setup;
    setup.pool_size = "2";
    setup.query_wait_timeout = "2s";
    PoolStack stack(setup);
    PgConn holder(stack.conninfo());
    holder.value("BEGIN");
    holder.value("SELECT 1");  // one server linked, so the pool is never empty of servers
    // libpq fails this at once (no such socket): a connect that fails inside the pooler's own call.
    stack.reload([&](PoolSetup& s) { s.conninfo = "host=" + stack.dir.file("nowhere") + " port=1 dbname=app"; });
    PgConn waiter(stack.conninfo());
    BOOST_TEST(!waiter.sqlstate_of("SELECT 1").empty());  // an error after at most query_wait_timeout
    BOOST_TEST(stack.portico->process().running());
    json p = stack.pool_stats();
    // Retried from the sweep with a back-off, not in a tight loop (a few per second at most).
    BOOST_TEST(p["server_connect_failures"].get<int>() < 20, p.dump());
    holder.value("COMMIT");
}

BOOST_AUTO_TEST_SUITE_END()
