// pool_faults: the pool when things go wrong or run long — a cancel reaching the right backend,
// query_wait_timeout and idle_transaction_timeout, PostgreSQL restarted and SIGKILLed under pgbench
// (no committed transaction lost) and paused past server_connect_timeout, the pool's listener
// out of file descriptors, pause/resume and a pool-size reload from the admin port, and 2,000
// client connections over a pool of 20, and a slow reader of a large result.
#include <sys/resource.h>

#include <filesystem>
#include <future>
#include <regex>
#include <sstream>
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
// pgbench's "number of transactions actually processed: N"; -1 when absent.
long processed(const CommandResult& r) {
    std::smatch m;
    std::string text = r.out + r.err;
    if (!std::regex_search(text, m, std::regex("number of transactions actually processed: ([0-9]+)"))) return -1;
    return std::stol(m[1]);
}
// CPU seconds (user + system) a process has used, from /proc/PID/stat.
double cpu_seconds(pid_t pid) {
    std::string stat = read_file(fmt::format("/proc/{}/stat", pid));
    std::istringstream rest(stat.substr(stat.rfind(')') + 2));
    std::string field;
    unsigned long long ticks = 0;
    for (int i = 3; i <= 15 && rest >> field; ++i)
        if (i == 14 || i == 15) ticks += std::stoull(field);
    return static_cast<double>(ticks) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}
size_t open_fds(pid_t pid) {
    std::error_code ec;
    size_t n = 0;
    for (auto it = std::filesystem::directory_iterator(fmt::format("/proc/{}/fd", pid), ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
        ++n;
    return n;
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

// The same with a crash: the postmaster SIGKILLed under a read-write pgbench, then started again
// (crash recovery). Every transaction pgbench saw committed before the crash is in the table
// afterwards (none lost), at most one more per client (a commit whose answer the crash ate), and
// the pool serves a new pgbench run with no failure — without a restart of portico.
BOOST_AUTO_TEST_CASE(postgres_killed_under_load) {
    PoolSetup setup;
    setup.pool_size = "4";
    PoolStack stack(setup);
    CommandResult init = run_command({pg_program("pgbench"), "-i", "-q", "-s", "1"}, stack.pg.client_env("app"), 120s);
    BOOST_REQUIRE_MESSAGE(init.ok(), init.describe());
    const auto started = SteadyClock::now();
    const int clients = 8;
    auto load = std::async(std::launch::async, [&] {
        return run_command({pg_program("pgbench"), "-c", std::to_string(clients), "-j", "2", "-T", "5"}, stack.client_env(), 60s);
    });
    // Well into the run (pgbench_history growing), the postmaster and its children die at once.
    BOOST_REQUIRE(eventually([&] { return std::stol("0" + stack.pg.psql("SELECT count(*) FROM pgbench_history", "app")) > 200; },
                             20s, 50ms));
    stack.pg.kill_postmaster();
    CommandResult r = load.get();
    const long committed = processed(r);
    stack.pg.start();
    BOOST_TEST(eventually([&] { return stack.psql({"SELECT 1"}).ok(); }, 15s, 50ms));
    const long stored = std::stol(stack.pg.psql("SELECT count(*) FROM pgbench_history", "app"));
    BOOST_TEST_MESSAGE(fmt::format("postgres SIGKILL under pgbench: {} transactions committed before the crash, {} in the table "
                                   "after recovery; pgbench said: {}",
                                   committed, stored, r.err.substr(0, 300)));
    BOOST_TEST(committed > 0, r.describe());
    BOOST_TEST(stored >= committed, "committed transactions lost: " << committed - stored);
    BOOST_TEST(stored <= committed + clients, "more rows than transactions committed and in flight");
    bool told = contains(r.err + r.out, "server connection lost") || contains(r.err + r.out, "terminating") ||
                contains(r.err + r.out, "server closed the connection");
    BOOST_TEST(told, r.describe());
    // -n: no vacuum first (pgbench's own set-up would truncate pgbench_history).
    CommandResult after = run_command({pg_program("pgbench"), "-n", "-c", "4", "-j", "2", "-t", "100"}, stack.client_env(), 60s);
    BOOST_TEST(after.ok(), after.describe());
    BOOST_TEST(contains(after.out, "number of failed transactions: 0"), after.describe());
    BOOST_TEST(processed(after) == 400, after.describe());
    BOOST_TEST(std::stol(stack.pg.psql("SELECT count(*) FROM pgbench_history", "app")) == stored + 400);
    BOOST_TEST_MESSAGE(fmt::format("postgres SIGKILL under pgbench: 1 fault, 0 committed transactions lost, 400 of 400 served after, {:.1f} s",
                                   seconds_since(started)));
}

// The pool's listener held to 64 descriptors with 150 clients logging in: those it cannot take are
// refused (an error or a closed connection, at once), it does not spin, those it took are served,
// and once they are gone new clients are served again.
BOOST_AUTO_TEST_CASE(pool_listener_survives_descriptor_exhaustion) {
    PoolSetup setup;
    setup.pool_size = "2";
    setup.max_client_conn = "1000";
    PoolStack stack(setup);
    PgConn warm(stack.conninfo());
    BOOST_REQUIRE_MESSAGE(warm.ok(), warm.error());
    BOOST_TEST(warm.value("SELECT 1") == "1");  // a server connection open before the limit
    const pid_t pid = stack.portico->pid();
    rlimit limit{64, 64};
    BOOST_TEST_REQUIRE(::prlimit(pid, RLIMIT_NOFILE, &limit, nullptr) == 0, std::strerror(errno));
    const auto started = SteadyClock::now();
    const size_t fds_before = open_fds(pid);
    std::vector<std::unique_ptr<PgConn>> clients;
    int logged_in = 0, refused = 0;
    const double cpu_before = cpu_seconds(pid);
    for (int i = 0; i < 150; ++i) {
        clients.push_back(std::make_unique<PgConn>(stack.conninfo("postgres", "app", "connect_timeout=5")));
        clients.back()->ok() ? ++logged_in : ++refused;
    }
    const double storm = seconds_since(started);
    const double cpu = cpu_seconds(pid) - cpu_before;
    BOOST_TEST_MESSAGE(fmt::format("pool fd exhaustion: {} fds open before, 150 logins: {} in, {} refused, {:.2f} s CPU in {:.2f} s",
                                   fds_before, logged_in, refused, cpu, storm));
    BOOST_TEST(refused > 0, "the limit did not bite");
    BOOST_TEST(cpu < 0.5 * storm + 0.2, "portico spins while out of descriptors");
    BOOST_TEST(stack.portico->process().running());
    int served = 0, failed_cleanly = 0;
    for (auto& c : clients) {
        if (!c->ok()) continue;
        try {
            served += c->value("SELECT 41 + 1") == "42";
        } catch (const std::exception&) {
            ++failed_cleanly;
        }
    }
    BOOST_TEST(served + failed_cleanly == logged_in);
    BOOST_TEST(served > 0);
    clients.clear();
    // Recovery: new clients log in and are served.
    BOOST_TEST(eventually([&] { return PgConn(stack.conninfo()).ok(); }, 10s, 100ms));
    int after = 0;
    for (int i = 0; i < 20; ++i) {
        PgConn c(stack.conninfo());
        if (c.ok() && c.value("SELECT 7") == "7") ++after;
    }
    BOOST_TEST(after == 20);
    BOOST_TEST_MESSAGE(fmt::format("pool fd exhaustion: {} queries served in the storm ({} failed with an error), {} of 20 after, {:.1f} s",
                                   served, failed_cleanly, after, seconds_since(started)));
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
