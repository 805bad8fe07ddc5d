// A real, throwaway PostgreSQL for the integration tests: initdb in a fresh temp dir, postgres on
// a Unix socket in that dir and on 127.0.0.1:<free port>, durability off for speed, and the
// life-cycle moves the pool tests need (fast stop, SIGKILL of the postmaster, SIGSTOP/SIGCONT,
// streaming standby + promote). RAII like the rest of the harness: the destructor stops the
// server (immediate shutdown) and removes the dir, also when an assertion failed half-way.
//
// initdb and postgres refuse to run as root. As root, every server program (initdb, postgres,
// pg_basebackup) runs as the `postgres` OS user through setpriv, which — unlike runuser, which
// forks and waits — execs in place: the Process's pid is the postmaster's, and the parent-death
// signal is set again after the uid change (the kernel clears it on a credential change), so a
// crashed test never leaves a postmaster behind. Clients (psql, pgbench, the Python scripts) run
// as the test's own user. Not root: everything runs directly.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "harness.hpp"

namespace portico::test {

using EnvVars = std::vector<std::pair<std::string, std::string>>;

// The PostgreSQL server programs' folder: $PORTICO_PG_BINDIR when set, else `pg_config --bindir`
// when it holds initdb and postgres, else the newest /usr/lib/postgresql/<N>/bin. Throws when
// none is found (run .ci/setup-deps).
const std::string& pg_bindir();
std::string pg_program(std::string_view name);  // pg_bindir() + "/" + name

// A finished command. exit_code: its exit status, 128+signal, or -1 when it was killed at the
// timeout (timed_out is then true).
struct CommandResult {
    int exit_code = -1;
    bool timed_out = false;
    std::string out;
    std::string err;
    bool ok() const { return exit_code == 0; }
    std::string describe() const;  // exit code and both outputs, for assertion messages
};

// Runs argv (argv[0] a path) with `env` added to ours, capturing stdout and stderr; a command
// still running at `timeout` is killed.
CommandResult run_command(const std::vector<std::string>& argv, const EnvVars& env = {}, Millis timeout = 60s);

// Opens one libpq connection with `conninfo` and closes it: "" on success, else libpq's error
// message (e.g. "... timeout expired", "... password authentication failed ...").
std::string pg_connect_error(const std::string& conninfo);

// SQL quoting for the statements the fixture builds: "ident" and 'literal'.
std::string pg_quote_ident(std::string_view name);
std::string pg_quote_literal(std::string_view text);

struct PgUser {
    std::string name;
    std::string password;  // "" = no password (only trust can let it in)
    bool superuser = false;
    bool md5 = false;      // store the password as md5 instead of the default scram-sha-256 verifier
};

struct PgClusterOptions {
    // pg_hba.conf method for every line (local and host, replication included):
    // trust | scram-sha-256 | md5 | password | reject. auth_local / auth_host override one side.
    std::string auth = "trust";
    std::string auth_local;
    std::string auth_host;
    std::string superuser = "postgres";
    std::string superuser_password;  // required when a method other than trust is used
    std::vector<PgUser> users;       // created when the cluster first starts
    int max_connections = 100;
    uint16_t port = 0;               // 0 = a free port on 127.0.0.1 (the socket uses the same number)
    EnvVars settings;                // more server settings, passed as -c name=value
    Millis start_timeout = 60s;      // until the server accepts connections
};

class PgCluster {
public:
    // initdb + start; waits until the server accepts connections, then creates options.users.
    explicit PgCluster(PgClusterOptions options = {});

    // A streaming standby of `primary` (which must be running): pg_basebackup -R -X stream from
    // the primary's socket, then started on its own socket dir and port; waits until it accepts
    // (read-only) connections. It inherits the primary's auth, superuser and max_connections;
    // options.port and options.settings apply, the rest of options is ignored.
    struct StandbyOf {
        const PgCluster& primary;
    };
    explicit PgCluster(StandbyOf of, PgClusterOptions options = {});

    ~PgCluster();
    PgCluster(const PgCluster&) = delete;
    PgCluster& operator=(const PgCluster&) = delete;

    // --- where it is ------------------------------------------------------------------------
    const std::string& socket_dir() const { return socket_dir_; }
    std::string socket_path() const;  // <socket_dir>/.s.PGSQL.<port>
    uint16_t port() const { return port_; }
    const std::string& data_dir() const { return data_dir_; }
    const TempDir& dir() const { return *dir_; }
    const std::string& superuser() const { return options_.superuser; }
    // The password the fixture knows for `user` (superuser_password, options.users,
    // create_user); "" when none.
    std::string password_of(std::string_view user) const;

    // libpq key=value conninfo over the Unix socket: "host=<socket_dir> port=<port> dbname=<db>
    // user=<user>" (+ " password=<password>" when one is given). user "" = the superuser.
    std::string conninfo(std::string_view dbname = "postgres", std::string_view user = {},
                         std::string_view password = {}) const;
    // The same over TCP: host=127.0.0.1.
    std::string tcp_conninfo(std::string_view dbname = "postgres", std::string_view user = {},
                             std::string_view password = {}) const;
    // PGHOST, PGPORT, PGUSER, PGDATABASE (and PGPASSWORD when the user's password is known) for
    // client programs such as pgbench: run_command({pg_program("pgbench"), …}, pg.client_env()).
    EnvVars client_env(std::string_view dbname = "postgres", std::string_view user = {}, bool tcp = false) const;

    // --- SQL through psql ---------------------------------------------------------------------
    struct PsqlOptions {
        std::string db = "postgres";
        std::string user;                     // "" = the superuser
        std::optional<std::string> password;  // nullopt = password_of(user)
        bool tcp = false;                     // 127.0.0.1:<port> instead of the socket
        Millis timeout = 60s;
    };
    // Runs `sql` as a psql script (-f: statements one by one in autocommit, ON_ERROR_STOP;
    // -X -q -A -t: unaligned rows, columns separated by '|', no headers). Never throws.
    CommandResult run_psql(std::string_view sql, const PsqlOptions& options) const;
    // The same over the socket; stdout without its trailing newlines. Throws with psql's stderr
    // when psql fails.
    std::string psql(std::string_view sql, std::string_view db = "postgres", std::string_view user = {}) const;

    // Client backends connected now (pg_stat_activity, the asking psql excluded), optionally of
    // one database and/or user: how many server connections a pool holds open.
    int client_backends(std::string_view dbname = {}, std::string_view user = {}) const;

    void create_user(const PgUser& user);
    void create_user(std::string_view name, std::string_view password) { create_user(PgUser{std::string(name), std::string(password)}); }
    void create_database(std::string_view name, std::string_view owner = {});  // owner "" = the superuser

    // --- life cycle ---------------------------------------------------------------------------
    void start();    // starts the stopped (or killed) server and waits until it accepts connections
    void stop();     // fast shutdown (SIGINT), waits for the postmaster to exit
    void restart();  // stop() + start(): same data dir, socket and port
    // SIGKILL to the postmaster; waits until its children have gone and removes the stale
    // postmaster.pid and socket lock, so that start() runs crash recovery and comes up.
    void kill_postmaster();
    // SIGSTOP to the postmaster and all its children (backends, checkpointer …): connections are
    // accepted by the kernel but never answered, queries in flight hang. resume() sends SIGCONT.
    void pause();
    void resume();
    bool paused() const { return !paused_pids_.empty(); }
    bool running() const;
    pid_t pid() const;  // the postmaster's, -1 when stopped
    std::vector<pid_t> child_pids() const;  // the postmaster's children now

    // --- roles in a failover ------------------------------------------------------------------
    bool in_recovery() const;  // SELECT pg_is_in_recovery()
    // A standby becomes a primary: pg_promote(wait => true), then waits until it takes writes.
    void promote();
    // ALTER SYSTEM SET default_transaction_read_only + reload; waits until new sessions see it.
    // libpq's target_session_attrs=read-write then skips this server (it reports the setting at
    // connection start), without a standby.
    void set_default_read_only(bool on);

    // postgres's stderr (its log) of the current or last run; earlier runs are kept beside it as
    // postgres.<N>.log.
    std::string log_text() const;

private:
    void prepare_dirs();
    void initdb();
    void basebackup(const PgCluster& primary);
    void spawn_and_wait();
    bool ping() const;
    std::vector<std::string> as_server_user(std::vector<std::string> argv) const;
    void give_to_server_user(const std::string& path, unsigned mode) const;
    void wait_gone(const std::vector<pid_t>& pids, Millis timeout) const;
    void shut_down(int signo, Millis timeout);
    [[noreturn]] void fail_with_log(const std::string& what) const;

    PgClusterOptions options_;
    std::unique_ptr<TempDir> dir_;  // declared first: removed after the server is gone
    std::string data_dir_;
    std::string socket_dir_;
    uint16_t port_ = 0;
    std::optional<std::pair<uid_t, gid_t>> server_user_;  // set when we are root
    std::vector<std::pair<std::string, std::string>> passwords_;
    std::unique_ptr<Process> postmaster_;
    std::vector<pid_t> paused_pids_;
    int runs_ = 0;
    mutable int scripts_ = 0;
};

}  // namespace portico::test
