// What the pool suites share: a real PostgreSQL (PgCluster), portico with a `pool:` section in
// front of it (its socket in the test's temp dir), and the clients that talk to it — psql, pgbench,
// libpq, and the driver scripts of tests/apps/pg_clients. Header-only: each suite is its own
// executable.
#pragma once

#include <boost/test/unit_test.hpp>

#include <fmt/core.h>
#include <libpq-fe.h>

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "harness.hpp"
#include "pg_cluster.hpp"

namespace portico::test::pool {

using nlohmann::json;

struct PoolSetup {
    std::string mode = "transaction";
    std::string auth = "{ type: trust }";
    std::string pool_size = "4";
    std::string max_overflow = "0";
    std::string max_client_conn = "100";
    std::string query_wait_timeout = "10s";
    std::string idle_transaction_timeout = "60s";
    std::string server_check_delay = "30s";
    std::string server_lifetime = "30m";
    std::string server_idle_timeout = "10m";
    std::string server_connect_timeout = "5s";
    std::string listen_tcp;  // "" = none; "127.0.0.1:0" to listen on a free port
    std::string database = "app";
    std::string conninfo;    // "" = the cluster's socket, database app, its superuser
    std::string more;        // more lines of the pool section, two-space indent
    PgClusterOptions cluster;
};

// PostgreSQL with a database `app`, then portico with its pool in front.
class PoolStack {
public:
    explicit PoolStack(PoolSetup setup = {}) : setup_(std::move(setup)), pg(setup_.cluster) {
        pg.create_database("app");
        if (setup_.conninfo.empty()) setup_.conninfo = fmt::format("host={} port={} dbname=app", pg.socket_dir(), pg.port());
        start_portico();
    }

    // The body of the pool section.
    std::string pool_yaml() const {
        std::string y = fmt::format("  socket_dir: {}\n  port: 6432\n  mode: {}\n  auth: {}\n", socket_dir(), setup_.mode, setup_.auth);
        y += fmt::format("  default_pool_size: {}\n  max_overflow: {}\n  max_client_conn: {}\n", setup_.pool_size,
                         setup_.max_overflow, setup_.max_client_conn);
        y += fmt::format("  query_wait_timeout: {}\n  idle_transaction_timeout: {}\n  server_check_delay: {}\n",
                         setup_.query_wait_timeout, setup_.idle_transaction_timeout, setup_.server_check_delay);
        y += fmt::format("  server_lifetime: {}\n  server_idle_timeout: {}\n  server_connect_timeout: {}\n",
                         setup_.server_lifetime, setup_.server_idle_timeout, setup_.server_connect_timeout);
        if (!setup_.listen_tcp.empty()) y += fmt::format("  listen_tcp: {}\n", setup_.listen_tcp);
        y += setup_.more;
        y += fmt::format("  databases:\n    {}: {{ conninfo: \"{}\" }}\n", setup_.database, setup_.conninfo);
        return y;
    }

    void start_portico() {
        PorticoSettings s;
        s.upstream = "127.0.0.1:1";  // no HTTP app in the pool suites
        s.pool = pool_yaml();
        portico = std::make_unique<Portico>(dir, s);
    }
    // Rewrites the pool section and reloads (SIGHUP).
    void reload(const std::function<void(PoolSetup&)>& change) {
        change(setup_);
        PorticoSettings s = portico->settings();
        s.pool = pool_yaml();
        portico->write_config(s);
        portico->reload();
    }

    std::string socket_dir() const { return dir.file("pool"); }
    // libpq conninfo through portico's Unix socket.
    std::string conninfo(std::string_view user = "postgres", std::string_view db = "app",
                         std::string_view extra = {}) const {
        return fmt::format("host={} port=6432 dbname={} user={} {}", socket_dir(), db, user, extra);
    }
    EnvVars client_env(std::string_view user = "postgres", std::string_view db = "app") const {
        return {{"PGHOST", socket_dir()}, {"PGPORT", "6432"}, {"PGUSER", std::string(user)},
                {"PGDATABASE", std::string(db)}, {"PGCONNECT_TIMEOUT", "10"}};
    }
    // psql through portico: -X -q -A -t, one -c per statement (each its own transaction).
    CommandResult psql(const std::vector<std::string>& statements, std::string_view user = "postgres",
                       EnvVars env = {}) const {
        std::vector<std::string> argv = {pg_program("psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"};
        for (const std::string& s : statements) {
            argv.push_back("-c");
            argv.push_back(s);
        }
        EnvVars all = client_env(user);
        all.insert(all.end(), env.begin(), env.end());
        return run_command(argv, all, 60s);
    }
    std::string psql_ok(const std::vector<std::string>& statements, std::string_view user = "postgres") const {
        CommandResult r = psql(statements, user);
        BOOST_REQUIRE_MESSAGE(r.ok(), r.describe());
        std::string out = r.out;
        while (!out.empty() && out.back() == '\n') out.pop_back();
        return out;
    }
    // One of tests/apps/pg_clients; its JSON line.
    json driver(std::string_view script, const std::vector<std::string>& args, std::string_view user = "postgres",
                std::string_view password = {}) const {
        std::vector<std::string> argv = {"/usr/bin/python3", apps_dir() + "/pg_clients/" + std::string(script),
                                         "--host", socket_dir(), "--port", "6432", "--dbname", "app", "--user",
                                         std::string(user)};
        if (!password.empty()) {
            argv.push_back("--password");
            argv.push_back(std::string(password));
        }
        argv.insert(argv.end(), args.begin(), args.end());
        CommandResult r = run_command(argv, {}, 120s);
        BOOST_TEST_MESSAGE(script << ": " << r.out);
        json j;
        try {
            j = json::parse(r.out.substr(0, r.out.find('\n')));
        } catch (const std::exception&) {
            BOOST_FAIL(std::string(script) + " printed no JSON: " + r.describe());
        }
        BOOST_TEST(r.ok(), r.describe());
        return j;
    }
    // /pool's entry for database app (the first pool of that database).
    json pool_stats() const {
        HttpResponse r = portico->admin("GET", "/pool");
        BOOST_REQUIRE_MESSAGE(r.status == 200, r.describe());
        json all = r.json();
        for (const json& p : all["pools"])
            if (p["database"] == setup_.database) return p;
        return json::object();
    }

    const PoolSetup& setup() const { return setup_; }

private:
    PoolSetup setup_;

public:
    TempDir dir;
    PgCluster pg;
    std::unique_ptr<Portico> portico;
};

// A libpq connection that finishes itself.
struct PgConn {
    PGconn* conn = nullptr;
    explicit PgConn(const std::string& conninfo) : conn(PQconnectdb(conninfo.c_str())) {}
    ~PgConn() {
        if (conn != nullptr) PQfinish(conn);
    }
    PgConn(const PgConn&) = delete;
    PgConn& operator=(const PgConn&) = delete;
    bool ok() const { return PQstatus(conn) == CONNECTION_OK; }
    std::string error() const { return PQerrorMessage(conn); }
    // One statement: the first column of the first row ("" for none); throws on error.
    std::string value(const std::string& sql) {
        PGresult* r = PQexec(conn, sql.c_str());
        ExecStatusType st = PQresultStatus(r);
        std::string out;
        if (st == PGRES_TUPLES_OK && PQntuples(r) > 0) out = PQgetvalue(r, 0, 0);
        std::string err = PQresultErrorMessage(r);
        PQclear(r);
        if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) throw std::runtime_error(sql + ": " + err);
        return out;
    }
    // The SQLSTATE of a statement that must fail ("" when it succeeded).
    std::string sqlstate_of(const std::string& sql) {
        PGresult* r = PQexec(conn, sql.c_str());
        const char* s = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        std::string out = s ? s : "";
        PQclear(r);
        return out;
    }
};

}  // namespace portico::test::pool
