// pool_prepared: issue 6 — named prepared statements and session state in transaction mode, with
// the drivers that need them at their default settings (asyncpg's statement cache, SQLAlchemy's
// asyncio dialect, psycopg 3 preparing everything and pipelining), libpq's pipeline mode, pgbench
// -M prepared, SQL DEALLOCATE / DISCARD ALL against the client's own statements, a duplicate name
// (42P05), ALTER TABLE under a prepared SELECT * (at most one 0A000), SETs that never reach another
// client, Close and LRU eviction under max_prepared_statements, and a client that leaves between
// Parse and Sync. Where a test needs a client to change servers, ServerHolders lends it one.
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <numeric>
#include <random>
#include <set>
#include <thread>

#include <fmt/ranges.h>

#include "pool_support.hpp"

using namespace portico::test;
using namespace portico::test::pool;

namespace {

bool contains(const std::string& text, std::string_view part) { return text.find(part) != std::string::npos; }

// Nothing a test waits for here should take this long; past it the pooler is stuck.
constexpr Millis kAnswerTimeout = 20s;

// What one statement gave: the first column of the last row set, its column count, and the
// first error (SQLSTATE and message), or a timeout.
struct Outcome {
    bool ok = false;
    bool timed_out = false;
    std::string value;
    int columns = 0;
    std::string sqlstate;
    std::string message;
    std::string describe() const {
        if (timed_out) return "no answer within 20 s (the pooler is stuck)";
        if (ok) return fmt::format("ok: '{}' ({} columns)", value, columns);
        return fmt::format("error {}: {}", sqlstate, message);
    }
};

// Waits until libpq has a whole result (or the connection says why not); false at the deadline.
bool wait_not_busy(PGconn* c, Clock::time_point deadline) {
    while (PQisBusy(c)) {
        auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now());
        if (left.count() <= 0) return false;
        pollfd p{PQsocket(c), POLLIN, 0};
        if (::poll(&p, 1, int(left.count())) < 0 && errno != EINTR) return false;
        if (PQconsumeInput(c) == 0) return true;  // the error is in the next result
    }
    return true;
}

// A libpq connection through portico whose every call has a deadline: a stuck pooler fails the
// assertion instead of hanging the suite.
class Client {
public:
    explicit Client(const std::string& conninfo) : conn_(conninfo) {
        BOOST_REQUIRE_MESSAGE(conn_.ok(), conn_.error());
    }
    PGconn* raw() const { return conn_.conn; }

    Outcome exec(const std::string& sql) { return collect(PQsendQuery(raw(), sql.c_str())); }
    // The extended protocol with the unnamed statement.
    Outcome exec_params(const std::string& sql, const std::vector<std::string>& params = {}) {
        std::vector<const char*> p = pointers(params);
        return collect(PQsendQueryParams(raw(), sql.c_str(), int(p.size()), nullptr, p.data(), nullptr, nullptr, 0));
    }
    Outcome prepare(const std::string& name, const std::string& sql) {
        return collect(PQsendPrepare(raw(), name.c_str(), sql.c_str(), 0, nullptr));
    }
    Outcome exec_prepared(const std::string& name, const std::vector<std::string>& params = {}) {
        std::vector<const char*> p = pointers(params);
        return collect(PQsendQueryPrepared(raw(), name.c_str(), int(p.size()), p.data(), nullptr, nullptr, 0));
    }
    // A statement that must succeed: its value.
    std::string value(const std::string& sql) {
        Outcome o = exec(sql);
        BOOST_REQUIRE_MESSAGE(o.ok, sql << ": " << o.describe());
        return o.value;
    }

private:
    static std::vector<const char*> pointers(const std::vector<std::string>& params) {
        std::vector<const char*> p;
        for (const std::string& s : params) p.push_back(s.c_str());
        return p;
    }
    Outcome collect(int sent) {
        Outcome o;
        if (sent != 1) {
            o.sqlstate = "(not sent)";
            o.message = PQerrorMessage(raw());
            return o;
        }
        auto deadline = Clock::now() + kAnswerTimeout;
        bool failed = false;
        for (;;) {
            if (!wait_not_busy(raw(), deadline)) {
                o.timed_out = true;
                return o;
            }
            PGresult* r = PQgetResult(raw());
            if (r == nullptr) break;
            ExecStatusType st = PQresultStatus(r);
            if (st == PGRES_TUPLES_OK) {
                o.columns = PQnfields(r);
                o.value = PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "";
            } else if (st != PGRES_COMMAND_OK && st != PGRES_EMPTY_QUERY && !failed) {
                failed = true;
                const char* s = PQresultErrorField(r, PG_DIAG_SQLSTATE);
                o.sqlstate = s ? s : "(none)";
                o.message = PQresultErrorMessage(r);
                while (!o.message.empty() && o.message.back() == '\n') o.message.pop_back();
            }
            PQclear(r);
        }
        o.ok = !failed;
        return o;
    }

    PgConn conn_;
};

// Holds every server of a pool of `n` in open transactions, then lends one at a time: releasing
// holder k leaves exactly the server k held idle, so whatever another client runs inside lend(k)
// runs there; the holder takes the same server back afterwards. This makes "the client changes
// servers" and "B gets the server A just used" deterministic.
class ServerHolders {
public:
    ServerHolders(const PoolStack& stack, int n) {
        for (int i = 0; i < n; ++i) {
            holders_.push_back(std::make_unique<Client>(stack.conninfo()));
            pids_.push_back(holders_.back()->value("BEGIN; SELECT pg_backend_pid()"));
        }
        std::vector<std::string> distinct = pids_;
        std::sort(distinct.begin(), distinct.end());
        BOOST_REQUIRE_MESSAGE(std::unique(distinct.begin(), distinct.end()) == distinct.end(),
                              "the holders share a server: " << fmt::format("{}", fmt::join(pids_, ",")));
    }
    int size() const { return int(pids_.size()); }
    // Ends every holder's transaction: all servers are free for the other clients again.
    void release_all() {
        for (auto& h : holders_) h->value("COMMIT");
        holders_.clear();
        pids_.clear();
    }
    const std::string& pid(int k) const { return pids_[size_t(k)]; }

    void lend(int k, const std::function<void()>& run) {
        holders_[size_t(k)]->value("COMMIT");
        run();
        std::string again = holders_[size_t(k)]->value("BEGIN; SELECT pg_backend_pid()");
        BOOST_TEST(again == pids_[size_t(k)], "holder " << k << " came back to another server (" << again << " after "
                                                        << pids_[size_t(k)] << "): the pool replaced it");
        pids_[size_t(k)] = again;
    }

private:
    std::vector<std::unique_ptr<Client>> holders_;
    std::vector<std::string> pids_;
};

// Issue 6's counters in /pool: each named one must have moved (-1 below: not reported at all).
void expect_counters_moved(const PoolStack& stack, std::initializer_list<const char*> names) {
    json p = stack.pool_stats();
    for (const char* name : names)
        BOOST_TEST(p.value(name, int64_t(-1)) > 0, "/pool " << name << " = " << p.value(name, int64_t(-1))
                                                              << " (-1: missing), expected > 0; /pool: " << p.dump());
}

// A pool in transaction mode as the issue sets it: 5 servers, room for 50 clients and more.
PoolSetup transaction_pool(std::string pool_size = "5") {
    PoolSetup setup;
    setup.pool_size = std::move(pool_size);
    setup.max_client_conn = "200";
    setup.query_wait_timeout = "60s";
    setup.cluster.max_connections = 120;
    return setup;
}

// One driver workload of tests/apps/pg_clients/prepared_check.py; asserts it ran without a single
// failed query (the JSON line carries the count, the kinds and the first messages when not).
json prepared_check(const PoolStack& stack, const std::vector<std::string>& args) {
    json j = stack.driver("prepared_check.py", args);
    BOOST_TEST(j.value("ok", false), args[0] << ": " << j.dump());
    BOOST_TEST(j.value("errors", -1) == 0, args[0] << ": " << j.value("error", std::string()));
    BOOST_TEST(j.value("queries", 0) > 0, j.dump());
    return j;
}

// --- the wire protocol by hand, on a libpq connection's socket -----------------------------------

std::string be32(uint32_t v) { return {char(v >> 24), char(v >> 16), char(v >> 8), char(v)}; }
std::string be16(uint16_t v) { return {char(v >> 8), char(v)}; }
std::string message(char type, const std::string& body) { return type + be32(uint32_t(body.size() + 4)) + body; }
std::string cstr(std::string_view s) { return std::string(s) + '\0'; }
std::string parse_msg(std::string_view name, std::string_view sql) { return message('P', cstr(name) + cstr(sql) + be16(0)); }
std::string bind_msg(std::string_view statement) {
    return message('B', cstr("") + cstr(statement) + be16(0) + be16(0) + be16(0));
}
std::string execute_msg() { return message('E', cstr("") + be32(0)); }
std::string close_statement_msg(std::string_view name) { return message('C', "S" + cstr(name)); }
std::string describe_statement_msg(std::string_view name) { return message('D', "S" + cstr(name)); }
const std::string kSync = message('S', "");
const std::string kFlush = message('H', "");

struct BackendMessage {
    char type;
    std::string body;
};

// A field of an ErrorResponse body ('C': SQLSTATE, 'M': message).
std::string error_field(const std::string& body, char field) {
    for (size_t i = 0; i < body.size() && body[i] != '\0';) {
        size_t end = body.find('\0', i + 1);
        if (end == std::string::npos) break;
        if (body[i] == field) return body.substr(i + 1, end - i - 1);
        i = end + 1;
    }
    return "";
}

// The message types in order ("1 2 D C Z"), errors with their SQLSTATE ("E:26000"), for
// assertions that read like the protocol. ParameterStatus and notices, which may come at any
// time, are left out.
std::string types_of(const std::vector<BackendMessage>& ms) {
    std::string out;
    for (const BackendMessage& m : ms) {
        if (m.type == 'S' || m.type == 'N') continue;
        if (!out.empty()) out += ' ';
        out += m.type;
        if (m.type == 'E') out += ":" + error_field(m.body, 'C');
    }
    return out;
}

// Raw frontend messages written to the socket of an idle libpq connection, and the backend's
// answers read from it. libpq stays idle meanwhile; once every answer up to ReadyForQuery has been
// read, the connection can be used through libpq again.
class RawProtocol {
public:
    explicit RawProtocol(const Client& c) : fd_(PQsocket(c.raw())) {}

    void send(const std::string& bytes) {
        size_t done = 0;
        auto deadline = Clock::now() + kAnswerTimeout;
        while (done < bytes.size()) {
            ssize_t n = ::send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
            if (n > 0) {
                done += size_t(n);
                continue;
            }
            BOOST_REQUIRE_MESSAGE(n < 0 && (errno == EAGAIN || errno == EINTR) && Clock::now() < deadline,
                                  "send to portico failed: " << std::strerror(errno));
            pollfd p{fd_, POLLOUT, 0};
            ::poll(&p, 1, 100);
        }
    }
    // Messages up to and including the first of type `until`; fewer when the deadline passes or
    // the peer closes (then the last "message" has type '!').
    std::vector<BackendMessage> read_until(char until, Millis timeout = kAnswerTimeout) {
        std::vector<BackendMessage> out;
        auto deadline = Clock::now() + timeout;
        for (;;) {
            while (in_.size() >= 5) {
                uint32_t len = uint32_t(uint8_t(in_[1])) << 24 | uint32_t(uint8_t(in_[2])) << 16 |
                               uint32_t(uint8_t(in_[3])) << 8 | uint8_t(in_[4]);
                if (in_.size() < len + 1) break;
                out.push_back({in_[0], in_.substr(5, len - 4)});
                in_.erase(0, len + 1);
                if (out.back().type == until) return out;
            }
            auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now());
            if (left.count() <= 0) return out;
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, int(left.count())) <= 0) continue;
            char buf[8192];
            ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
                out.push_back({'!', "closed"});
                return out;
            }
            if (n > 0) in_.append(buf, size_t(n));
        }
    }
    // Sends `bytes` (ending in Sync) and reads through the ReadyForQuery.
    std::string exchange(const std::string& bytes) {
        send(bytes);
        return types_of(last_ = read_until('Z'));
    }
    const std::vector<BackendMessage>& last() const { return last_; }
    // The first DataRow's first column of the last exchange.
    std::string first_value() const {
        for (const BackendMessage& m : last_) {
            if (m.type != 'D' || m.body.size() < 6) continue;
            uint32_t len = uint32_t(uint8_t(m.body[2])) << 24 | uint32_t(uint8_t(m.body[3])) << 16 |
                           uint32_t(uint8_t(m.body[4])) << 8 | uint8_t(m.body[5]);
            return m.body.substr(6, len);
        }
        return "";
    }
    std::string first_error_message() const {
        for (const BackendMessage& m : last_)
            if (m.type == 'E') return error_field(m.body, 'C') + " " + error_field(m.body, 'M');
        return "";
    }

private:
    int fd_;
    std::string in_;
    std::vector<BackendMessage> last_;
};

// Closes the socket under libpq without a Terminate message: what a killed process looks like.
void kill_socket(const Client& c) { ::shutdown(PQsocket(c.raw()), SHUT_RDWR); }

// pgbench through portico with -c 50 -j 2 -t `per_client`: no aborted client, every transaction
// processed, exit 0.
void pgbench_all_processed(const PoolStack& stack, const std::vector<std::string>& args, int per_client) {
    std::vector<std::string> argv = {pg_program("pgbench"), "-n", "-c", "50", "-j", "2", "-t", std::to_string(per_client)};
    argv.insert(argv.end(), args.begin(), args.end());
    std::string what = fmt::format("pgbench {}", fmt::join(args, " "));
    CommandResult r = run_command(argv, stack.client_env(), 90s);
    BOOST_TEST_MESSAGE(what << ": " << r.out);
    std::string processed = fmt::format("number of transactions actually processed: {0}/{0}", 50 * per_client);
    BOOST_TEST(r.ok(), what << ": " << r.describe());
    BOOST_TEST(contains(r.out, processed), what << ": expected '" << processed << "': " << r.describe());
    BOOST_TEST(contains(r.out, "number of failed transactions: 0"), what << ": " << r.describe());
    BOOST_TEST(!contains(r.err, "aborted"), what << ": " << r.describe());
}

}  // namespace

BOOST_AUTO_TEST_SUITE(pool_prepared)

// 1. asyncpg with its default statement cache: 50 connections, 40 checked queries each. Through
// PgBouncer 1.18, 3,651 of 4,000 such queries failed with "__asyncpg_stmt_N__ does not exist".
BOOST_AUTO_TEST_CASE(asyncpg_default_statement_cache_with_50_connections) {
    PoolStack stack(transaction_pool());
    json j = prepared_check(stack, {"asyncpg", "--connections", "50", "--queries", "40"});
    BOOST_TEST(j["backend_pids"].size() <= 5u, j.dump());
    expect_counters_moved(stack, {"statements_prepared"});
}

// 2. SQLAlchemy 1.4's asyncio extension with the asyncpg dialect, default settings: 50 sessions.
BOOST_AUTO_TEST_CASE(sqlalchemy_asyncio_asyncpg_with_50_sessions) {
    PoolStack stack(transaction_pool());
    json j = prepared_check(stack, {"sqlalchemy-async", "--connections", "50", "--queries", "40"});
    BOOST_TEST(j["backend_pids"].size() <= 5u, j.dump());
    expect_counters_moved(stack, {"statements_prepared"});
}

// 3. psycopg 3 preparing every query (the same _pg3_N names on all 50 connections), then with a
// tiny cache (psycopg DEALLOCATEs what it evicts), then pipelines with a failing middle segment.
BOOST_AUTO_TEST_CASE(psycopg_prepare_threshold_0_and_pipeline_mode) {
    PoolStack stack(transaction_pool());
    json j = prepared_check(stack, {"psycopg", "--prepare-threshold", "0", "--connections", "50", "--queries", "40"});
    BOOST_TEST(j["backend_pids"].size() <= 5u, j.dump());
    prepared_check(stack, {"psycopg", "--prepare-threshold", "0", "--prepared-max", "3", "--connections", "10",
                           "--queries", "30"});
    prepared_check(stack, {"psycopg-pipeline", "--prepare-threshold", "0", "--connections", "20", "--rounds", "10"});
    expect_counters_moved(stack, {"statements_prepared", "statements_deallocated"});
}

// 4. libpq's pipeline mode with named statements: prepared once, executed in later pipelines on
// the other server, three Syncs per pipeline with a division by zero in the middle segment.
BOOST_AUTO_TEST_CASE(libpq_pipeline_with_named_statements_across_servers) {
    PoolStack stack(transaction_pool("2"));
    ServerHolders holders(stack, 2);
    Client c(stack.conninfo());
    BOOST_REQUIRE(PQenterPipelineMode(c.raw()) == 1);
    std::set<std::string> pids_seen;
    for (int round = 0; round < 6; ++round) {
        int k = round % 2;
        holders.lend(k, [&] {
            PGconn* pc = c.raw();
            std::vector<std::string> expected;
            int syncs = 0;
            if (round == 0) {
                BOOST_REQUIRE(PQsendPrepare(pc, "p_add", "SELECT $1::int + 1", 0, nullptr) == 1);
                BOOST_REQUIRE(PQsendPrepare(pc, "p_div", "SELECT 10 / $1::int", 0, nullptr) == 1);
                BOOST_REQUIRE(PQsendPrepare(pc, "p_pid", "SELECT pg_backend_pid()", 0, nullptr) == 1);
                BOOST_REQUIRE(PQpipelineSync(pc) == 1);
                expected = {"prepared", "prepared", "prepared"};
                ++syncs;
            }
            auto send = [&](const char* name, std::vector<std::string> params) {
                std::vector<const char*> p;
                for (const std::string& s : params) p.push_back(s.c_str());
                BOOST_REQUIRE(PQsendQueryPrepared(pc, name, int(p.size()), p.data(), nullptr, nullptr, 0) == 1);
            };
            send("p_pid", {});
            send("p_add", {std::to_string(round)});
            BOOST_REQUIRE(PQpipelineSync(pc) == 1);
            send("p_div", {"0"});
            send("p_add", {"100"});
            BOOST_REQUIRE(PQpipelineSync(pc) == 1);
            send("p_div", {"5"});
            send("p_add", {std::to_string(2 * round)});
            BOOST_REQUIRE(PQpipelineSync(pc) == 1);
            syncs += 3;
            for (std::string e : {std::string("(pid)"), std::to_string(round + 1), std::string("error 22012"),
                                  std::string("aborted"), std::string("2"), std::to_string(2 * round + 1)})
                expected.push_back(e);

            std::vector<std::string> seen;
            std::string errors;
            auto deadline = Clock::now() + kAnswerTimeout;
            while (syncs > 0) {
                if (!wait_not_busy(pc, deadline)) {
                    seen.push_back("(no answer within 20 s)");
                    break;
                }
                PGresult* r = PQgetResult(pc);
                if (r == nullptr) continue;  // the end of one query's results
                switch (PQresultStatus(r)) {
                    case PGRES_TUPLES_OK: seen.push_back(PQgetvalue(r, 0, 0)); break;
                    case PGRES_COMMAND_OK: seen.push_back("prepared"); break;
                    case PGRES_FATAL_ERROR: {
                        const char* s = PQresultErrorField(r, PG_DIAG_SQLSTATE);
                        seen.push_back(std::string("error ") + (s ? s : "?"));
                        errors += PQresultErrorMessage(r);
                        break;
                    }
                    case PGRES_PIPELINE_ABORTED: seen.push_back("aborted"); break;
                    case PGRES_PIPELINE_SYNC: --syncs; break;
                    default: seen.push_back(PQresStatus(PQresultStatus(r)));
                }
                PQclear(r);
            }
            size_t pid_at = round == 0 ? 3 : 0;
            if (seen.size() > pid_at) {
                pids_seen.insert(seen[pid_at]);
                BOOST_TEST(seen[pid_at] == holders.pid(k), "round " << round << " ran on " << seen[pid_at]
                                                                     << ", not on the lent server " << holders.pid(k));
                expected[pid_at] = seen[pid_at];
            }
            BOOST_TEST(fmt::format("{}", fmt::join(seen, " | ")) == fmt::format("{}", fmt::join(expected, " | ")),
                       "round " << round << "; errors: " << errors);
        });
    }
    BOOST_TEST(pids_seen.size() == 2u);
    holders.release_all();
    BOOST_REQUIRE(PQexitPipelineMode(c.raw()) == 1);
    BOOST_TEST(c.value("SELECT 'after the pipelines'") == "after the pipelines");
    expect_counters_moved(stack, {"statements_prepared"});
}

// 5. pgbench -M prepared (TPC-B-like and select-only) and -M extended, 50 clients over 5 servers:
// through PgBouncer 1.18 48–50 of 50 clients aborted (P_0 already exists / does not exist).
BOOST_AUTO_TEST_CASE(pgbench_prepared_with_50_clients) {
    PoolSetup setup = transaction_pool();
    // Before issue 6, clients aborted inside a transaction hold their servers: short timeouts
    // free them, so that a failing run ends in seconds rather than at the command's timeout.
    setup.query_wait_timeout = "10s";
    setup.idle_transaction_timeout = "3s";
    PoolStack stack(setup);
    CommandResult init = run_command({pg_program("pgbench"), "-i", "-q", "-s", "1"}, stack.pg.client_env("app"), 120s);
    BOOST_REQUIRE_MESSAGE(init.ok(), init.describe());
    pgbench_all_processed(stack, {"-M", "simple", "-S"}, 40);  // the control: no named statements
    pgbench_all_processed(stack, {"-M", "extended", "-S"}, 40);
    pgbench_all_processed(stack, {"-M", "prepared", "-S"}, 100);
    pgbench_all_processed(stack, {"-M", "prepared"}, 20);
    expect_counters_moved(stack, {"statements_prepared"});
}

// 6. SQL DEALLOCATE name / DEALLOCATE ALL / DISCARD ALL act on the client's own statements, on
// whichever server they run; binding a deallocated name fails with 26000; the name can be
// prepared again.
BOOST_AUTO_TEST_CASE(deallocate_and_discard_all_then_prepare_again) {
    PoolStack stack(transaction_pool("2"));
    ServerHolders holders(stack, 2);
    Client c(stack.conninfo());
    auto gone = [&](const std::string& name, const std::string& after) {
        Outcome o = c.exec_prepared(name, {"2"});
        BOOST_TEST(o.sqlstate == "26000", name << " after " << after << ": " << o.describe());
        BOOST_TEST(contains(o.message, "does not exist"), o.describe());
    };
    auto gives = [&](const std::string& name, const std::string& expected, const std::string& when) {
        Outcome o = c.exec_prepared(name, {"2"});
        BOOST_TEST((o.ok && o.value == expected), name << " " << when << ": " << o.describe() << ", expected " << expected);
    };
    holders.lend(0, [&] {
        Outcome o = c.prepare("s1", "SELECT $1::int * 10");
        BOOST_TEST(o.ok, "prepare s1: " << o.describe());
        BOOST_TEST(c.prepare("s2", "SELECT $1::int * 20").ok);
        gives("s1", "20", "once prepared");
    });
    holders.lend(1, [&] {
        Outcome o = c.exec("DEALLOCATE s1");
        BOOST_TEST(o.ok, "DEALLOCATE s1: " << o.describe());
        gone("s1", "DEALLOCATE s1 (on the other server)");
        gives("s2", "40", "beside a deallocated s1");
        BOOST_TEST(c.exec("DEALLOCATE nosuch").sqlstate == "26000");
    });
    holders.lend(0, [&] {
        gone("s1", "DEALLOCATE s1, back on the server that prepared it");
        BOOST_TEST(c.prepare("s1", "SELECT $1::int * 11").ok);
        gives("s1", "22", "prepared again with another text");
    });
    holders.lend(1, [&] {
        Outcome o = c.exec("DEALLOCATE ALL");
        BOOST_TEST(o.ok, "DEALLOCATE ALL: " << o.describe());
        gone("s1", "DEALLOCATE ALL");
        gone("s2", "DEALLOCATE ALL");
    });
    holders.lend(0, [&] {
        gone("s2", "DEALLOCATE ALL, on the other server");
        BOOST_TEST(c.prepare("s1", "SELECT $1::int * 12").ok);
        BOOST_TEST(c.prepare("s2", "SELECT $1::int * 13").ok);
        gives("s1", "24", "after DEALLOCATE ALL and prepare");
        Outcome o = c.exec("deallocate prepare \"s2\"");
        BOOST_TEST(o.ok, "deallocate prepare \"s2\": " << o.describe());
        gone("s2", "deallocate prepare \"s2\"");
    });
    holders.lend(1, [&] {
        Outcome o = c.exec("DISCARD ALL");
        BOOST_TEST(o.ok, "DISCARD ALL: " << o.describe());
        gone("s1", "DISCARD ALL");
    });
    holders.lend(0, [&] {
        gone("s1", "DISCARD ALL, on the other server");
        BOOST_TEST(c.prepare("s1", "SELECT $1::int * 14").ok);
        gives("s1", "28", "after DISCARD ALL and prepare");
    });
    // Another client's statements were never touched by c's DEALLOCATE ALL / DISCARD ALL.
    Client d(stack.conninfo());
    holders.lend(0, [&] { BOOST_TEST(d.prepare("s1", "SELECT $1::int * 15").ok); });
    holders.lend(1, [&] {
        BOOST_TEST(c.exec("DEALLOCATE ALL").ok);
        Outcome o = d.exec_prepared("s1", {"2"});
        BOOST_TEST(o.value == "30", "d's s1 after c's DEALLOCATE ALL: " << o.describe());
    });
    expect_counters_moved(stack, {"statements_deallocated"});
}

// 7. A second Parse of a name the client already prepared fails as PostgreSQL does (42P05), on
// the same server or another, and leaves the first statement in place; another client may use
// the same name for its own statement.
BOOST_AUTO_TEST_CASE(duplicate_prepare_fails_with_42P05) {
    PoolStack stack(transaction_pool("2"));
    ServerHolders holders(stack, 2);
    Client c(stack.conninfo());
    Client d(stack.conninfo());
    holders.lend(0, [&] {
        BOOST_TEST(c.prepare("dup", "SELECT 'first'").ok);
        Outcome again = c.prepare("dup", "SELECT 'second'");
        BOOST_TEST(again.sqlstate == "42P05", "the same name again, same server: " << again.describe());
        BOOST_TEST(contains(again.message, "already exists"), again.describe());
    });
    holders.lend(1, [&] {
        Outcome again = c.prepare("dup", "SELECT 'third'");
        BOOST_TEST(again.sqlstate == "42P05", "the same name again, another server: " << again.describe());
        Outcome o = c.exec_prepared("dup");
        BOOST_TEST(o.value == "first", "dup after two failed re-prepares: " << o.describe());
        BOOST_TEST(d.prepare("dup", "SELECT 'd''s own'").ok);
    });
    holders.lend(0, [&] {
        Outcome o = d.exec_prepared("dup");
        BOOST_TEST(o.value == "d's own", o.describe());
        o = c.exec_prepared("dup");
        BOOST_TEST(o.value == "first", o.describe());
    });
}

// 8. ALTER TABLE ADD COLUMN between executions of a prepared SELECT *: PostgreSQL fails every
// later execution with "cached plan must not change result type" (0A000); through portico the
// client sees it at most once in total, although the statement was prepared on all 4 servers.
BOOST_AUTO_TEST_CASE(alter_table_under_a_prepared_select_star_fails_at_most_once) {
    PoolStack stack(transaction_pool("4"));
    stack.pg.psql("CREATE TABLE altered (a int); INSERT INTO altered VALUES (1)", "app");
    ServerHolders holders(stack, 4);
    Client c(stack.conninfo());
    holders.lend(0, [&] { BOOST_TEST(c.prepare("star", "SELECT * FROM altered").ok); });
    for (int k = 0; k < 4; ++k) {
        holders.lend(k, [&] {
            Outcome o = c.exec_prepared("star");
            BOOST_TEST((o.ok && o.columns == 1 && o.value == "1"), "before ALTER, server " << k << ": " << o.describe());
        });
    }
    stack.pg.psql("ALTER TABLE altered ADD COLUMN b int DEFAULT 7", "app");
    int plan_errors = 0;
    std::string first_error;
    for (int i = 0; i < 12; ++i) {
        holders.lend(i % 4, [&] {
            Outcome o = c.exec_prepared("star");
            if (!o.ok && o.sqlstate == "0A000") {
                ++plan_errors;
                if (first_error.empty()) first_error = o.message;
                BOOST_TEST(contains(o.message, "cached plan must not change result type"), o.describe());
                return;
            }
            BOOST_TEST((o.ok && o.columns == 2 && o.value == "1"), "after ALTER, try " << i << ": " << o.describe());
        });
    }
    BOOST_TEST(plan_errors <= 1, plan_errors << " of 12 executions after ALTER TABLE failed with 0A000 ("
                                             << first_error << ")");
    // The next try after a failure succeeds: the last four (one per server) all did.
    holders.release_all();
    Outcome last = c.exec_prepared("star");
    BOOST_TEST((last.ok && last.columns == 2), last.describe());
}

// 8b. The same with asyncpg, which describes each statement once and trusts those columns: 50
// connections over 5 servers cache SELECT * before ALTER TABLE ADD COLUMN, then run it again.
// Postgres refuses the stale statement and asyncpg re-prepares by itself, so no query fails; a
// pooler that ran it on a server prepared after the ALTER would hand asyncpg rows of a shape it
// was not told (a ProtocolError, query after query).
BOOST_AUTO_TEST_CASE(alter_table_under_asyncpgs_cached_statements_fails_no_query) {
    PoolStack stack(transaction_pool());
    prepared_check(stack, {"asyncpg-alter", "--connections", "50", "--queries", "12"});
    expect_counters_moved(stack, {"statements_invalidated"});
}

// 9. A client's SET (search_path, statement_timeout, TimeZone; also set_config(), through the
// extended protocol, inside BEGIN/COMMIT or after another statement) never reaches another
// client of the same server. Whether the setting client keeps it is not asserted here.
BOOST_AUTO_TEST_CASE(session_settings_never_reach_another_client) {
    PoolStack stack(transaction_pool("2"));
    const std::vector<std::string> shows = {"SHOW search_path", "SHOW statement_timeout", "SHOW TimeZone"};
    auto settings_of = [&](Client& c) {
        std::string all;
        for (const std::string& s : shows) {
            Outcome o = c.exec(s);  // each in its own transaction
            all += (o.ok ? o.value : "(" + o.describe() + ")") + " | ";
        }
        return all;
    };
    struct Set {
        std::string sql;
        bool extended;  // through the extended protocol (unnamed statement)
        bool once;      // from a client of its own: with statement_timeout 1ms the setter itself may
                        // no longer run anything, and whether it keeps its SET is not decided here
    };
    const std::vector<Set> sets = {
        {"SET search_path = leaked_schema, public", false, false},
        {"SET statement_timeout = '4321ms'", false, false},
        {"SET TimeZone = 'Asia/Tokyo'", false, false},
        {"SELECT set_config('search_path', 'leaked_by_set_config', false)", true, false},
        {"SET SESSION statement_timeout = 999", true, false},
        {"BEGIN; SET search_path TO leaked_in_a_block; COMMIT", false, false},
        {"SELECT 1; set timezone to 'Pacific/Auckland'", false, false},
        {"set  Search_Path  to  leaked_mixed_case", false, false},
        {"SELECT set_config('statement_timeout', '1ms', false)", false, true},
    };
    std::string defaults;
    {
        ServerHolders holders(stack, 2);
        Client setter(stack.conninfo());
        Client checker(stack.conninfo());
        holders.lend(0, [&] { defaults = settings_of(checker); });
        holders.lend(1, [&] { BOOST_TEST(settings_of(checker) == defaults); });
        BOOST_TEST_MESSAGE("defaults: " << defaults);
        for (int round = 0; round < 3; ++round) {
            for (const Set& set : sets) {
                int k = round % 2;
                holders.lend(k, [&] {
                    std::unique_ptr<Client> own = set.once ? std::make_unique<Client>(stack.conninfo()) : nullptr;
                    Client& c = own ? *own : setter;
                    Outcome o = set.extended ? c.exec_params(set.sql) : c.exec(set.sql);
                    BOOST_TEST(o.ok, set.sql << ": " << o.describe());
                    own.reset();
                    // The checker gets the very server the setter just used.
                    std::string seen = settings_of(checker);
                    BOOST_TEST(seen == defaults, "after another client's `" << set.sql << "` on server "
                                                     << holders.pid(k) << ": " << seen << " instead of " << defaults);
                });
            }
        }
    }

    // Free-running: two setters and two checkers at once over the two servers, no holders.
    std::mutex mu;
    std::vector<std::string> leaks;
    std::vector<std::unique_ptr<Client>> clients;
    for (int i = 0; i < 4; ++i) clients.push_back(std::make_unique<Client>(stack.conninfo()));
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; ++i) {
        threads.emplace_back([&, i] {
            Client& c = *clients[size_t(i)];
            for (size_t n = 0; n < 60; ++n) {
                if (i < 2) {
                    const Set& set = sets[n % (sets.size() - 1)];  // not the 1ms one
                    Outcome o = set.extended ? c.exec_params(set.sql) : c.exec(set.sql);
                    if (!o.ok) {
                        std::lock_guard lock(mu);
                        leaks.push_back("setter: " + set.sql + ": " + o.describe());
                    }
                } else {
                    std::string seen = settings_of(c);
                    if (seen != defaults) {
                        std::lock_guard lock(mu);
                        leaks.push_back("checker saw " + seen);
                    }
                }
            }
        });
    }
    for (std::thread& t : threads) t.join();
    BOOST_TEST(leaks.empty(), leaks.size() << " leaks or failures; first: " << (leaks.empty() ? "" : leaks.front()));
    expect_counters_moved(stack, {"session_resets"});
}

// 9b. What RESET ALL does not reset: a client's SET ROLE / SET SESSION AUTHORIZATION must not be
// the next client's identity; a session advisory lock taken by a prepared statement executed on
// another server than the one that prepared it must not stay on that server.
BOOST_AUTO_TEST_CASE(identity_and_session_locks_never_reach_another_client) {
    PoolStack stack(transaction_pool("2"));
    stack.pg.psql("CREATE ROLE other_role NOLOGIN", "app");
    ServerHolders holders(stack, 2);
    Client setter(stack.conninfo());
    Client checker(stack.conninfo());
    std::string me;
    holders.lend(0, [&] { me = checker.value("SELECT current_user"); });
    BOOST_TEST_REQUIRE(!me.empty());
    for (const char* sql : {"SET ROLE other_role", "SET SESSION AUTHORIZATION other_role"}) {
        holders.lend(1, [&] {
            Outcome o = setter.exec(sql);
            BOOST_TEST(o.ok, sql << ": " << o.describe());
            std::string seen = checker.value("SELECT current_user || '/' || session_user");
            BOOST_TEST(seen == me + "/" + me, "after another client's `" << sql << "`: " << seen);
        });
    }
    holders.lend(0, [&] { BOOST_TEST(setter.prepare("lock", "SELECT pg_advisory_lock($1::bigint)").ok); });
    holders.lend(1, [&] {
        Outcome o = setter.exec_prepared("lock", {"4242"});  // prepared again on this server, run here
        BOOST_TEST(o.ok, o.describe());
    });
    // The lock's session was server 1's: from server 0 it must be free again.
    holders.lend(0, [&] {
        std::string got = checker.value("SELECT pg_try_advisory_lock(4242)::text");
        BOOST_TEST(got == "true", "the advisory lock stayed on the server after its client's transaction: " << got);
        // (the checker's own lock goes with the reset its session lock causes)
    });
    expect_counters_moved(stack, {"session_resets"});
}

// 10. Close of a statement (the protocol message) is answered for the client and the name is
// gone; with max_prepared_statements 3 the pool evicts statements from servers, yet 10
// statements executed in random order on changing servers always give their own results;
// asyncpg with a 4-statement cache Closes statements all the time.
BOOST_AUTO_TEST_CASE(close_and_eviction_under_max_prepared_statements_3) {
    PoolSetup setup = transaction_pool("2");
    setup.more = "  max_prepared_statements: 3\n";
    PoolStack stack(setup);
    {
        ServerHolders holders(stack, 2);
        Client c(stack.conninfo());
        for (int k = 0; k < 10; ++k)
            holders.lend(k % 2, [&] {
                Outcome o = c.prepare(fmt::format("s{}", k), fmt::format("SELECT $1::int + {}", k));
                BOOST_TEST(o.ok, "prepare s" << k << ": " << o.describe());
            });
        std::mt19937 rng(6);
        std::vector<int> order(10);
        for (int round = 0; round < 5; ++round) {
            std::iota(order.begin(), order.end(), 0);
            std::shuffle(order.begin(), order.end(), rng);
            for (int k : order) {
                int param = round * 100 + k;
                holders.lend(int(rng() % 2), [&] {
                    Outcome o = c.exec_prepared(fmt::format("s{}", k), {std::to_string(param)});
                    BOOST_TEST((o.ok && o.value == std::to_string(param + k)),
                               "s" << k << "(" << param << "), round " << round << ": " << o.describe());
                });
            }
        }

        // Close by protocol message (libpq 15 has no PQclosePrepared), across servers.
        RawProtocol raw(c);
        auto expect = [&](const std::string& bytes, const std::string& expected, const char* what) {
            std::string got = raw.exchange(bytes);
            BOOST_TEST(got == expected, what << ": got '" << got << "', expected '" << expected << "' "
                                             << raw.first_error_message());
        };
        holders.lend(0, [&] { expect(parse_msg("cs", "SELECT 41 + 1") + kSync, "1 Z", "Parse cs"); });
        holders.lend(1, [&] {
            expect(bind_msg("cs") + execute_msg() + kSync, "2 D C Z", "Bind cs on the other server");
            BOOST_TEST(raw.first_value() == "42");
            expect(close_statement_msg("cs") + kSync, "3 Z", "Close cs");
            expect(close_statement_msg("never_prepared") + kSync, "3 Z", "Close of an unknown name (as PostgreSQL)");
            expect(describe_statement_msg("cs") + kSync, "E:26000 Z", "Describe cs after its Close");
        });
        holders.lend(0, [&] {
            // Server 0 may still have "cs" prepared; for the client it is gone.
            expect(bind_msg("cs") + execute_msg() + kSync, "E:26000 Z", "Bind cs after its Close, first server");
            expect(parse_msg("cs", "SELECT 43") + bind_msg("cs") + execute_msg() + kSync, "1 2 D C Z",
                   "Parse cs again with another text");
            BOOST_TEST(raw.first_value() == "43");
        });
        holders.release_all();
        BOOST_TEST(c.value("SELECT 'libpq again'") == "libpq again");
    }
    prepared_check(stack, {"asyncpg-small-cache", "--statement-cache-size", "4", "--connections", "20", "--queries", "48"});
    expect_counters_moved(stack, {"statements_prepared", "statements_evicted", "statements_closed_locally"});
}

// 11. A client that leaves between Parse and Sync (after a Flush, in the middle of an Execute,
// after an error that skips to Sync, or in the middle of a message) leaves the only server
// usable: the next client prepares the same name, runs it, and is not inside a transaction.
BOOST_AUTO_TEST_CASE(client_leaving_between_parse_and_sync_does_not_break_the_next) {
    PoolStack stack(transaction_pool("1"));
    struct Case {
        const char* what;
        std::string sql;     // Parsed as statement "x<case>"
        bool execute;        // Bind + Execute after the Parse
        char wait_for;       // a message to read before leaving, 0 = leave at once
        bool begin = false;  // BEGIN first (a transaction open)
        bool half = false;   // only the first 9 bytes of the Parse
    };
    const std::vector<Case> cases = {
        {"Parse + Flush, ParseComplete read", "SELECT 1", false, '1'},
        {"Parse + Bind + Execute of a sleep + Flush", "SELECT pg_sleep(0.3)", true, 0},
        {"an error waiting for Sync", "SELECT 1/0", true, 'E'},
        {"BEGIN then Parse + Flush", "SELECT 1", false, '1', /*begin=*/true},
        {"half a Parse message", "SELECT 'never complete'", false, 0, false, /*half=*/true},
    };
    for (size_t i = 0; i < cases.size(); ++i) {
        const Case& k = cases[i];
        // A name per case: the next client's own statement of the same name must not collide
        // with what the leaving client left on the server.
        std::string name = fmt::format("x{}", i);
        {
            Client leaving(stack.conninfo());
            if (k.begin) leaving.value("BEGIN");
            RawProtocol raw(leaving);
            std::string bytes = parse_msg(name, k.sql);
            if (k.half) bytes.resize(9);
            if (k.execute) bytes += bind_msg(name) + execute_msg();
            if (!k.half) bytes += kFlush;
            raw.send(bytes);
            if (k.wait_for != 0) {
                std::vector<BackendMessage> got = raw.read_until(k.wait_for);
                BOOST_TEST((!got.empty() && got.back().type == k.wait_for), k.what << ": got '" << types_of(got) << "'");
            }
            kill_socket(leaving);
        }
        Client next(stack.conninfo());
        Outcome o = next.prepare(name, "SELECT 'the next client'");
        BOOST_TEST(o.ok, "after a client left (" << k.what << "): prepare " << name << ": " << o.describe());
        o = next.exec_prepared(name);
        BOOST_TEST(o.value == "the next client", k.what << ": " << o.describe());
        o = next.exec("SELECT txid_current_if_assigned()");
        BOOST_TEST((o.ok && o.value.empty()), k.what << ": a transaction left open: " << o.describe());
        o = next.exec_params("SELECT $1::int * 2", {"21"});
        BOOST_TEST(o.value == "42", k.what << ": " << o.describe());
    }
}

BOOST_AUTO_TEST_SUITE_END()
