// PgCluster (see pg_cluster.hpp): initdb, postgres, psql and pg_basebackup as child processes,
// libpq for readiness and connection checks, /proc for the postmaster's children.
#include "pg_cluster.hpp"

#include <dirent.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include <fmt/core.h>
#include <libpq-fe.h>

namespace portico::test {

namespace {

namespace fs = std::filesystem;

[[noreturn]] void fail(const std::string& what) { throw std::runtime_error(what); }

bool is_server_bindir(const std::string& dir) {
    return !dir.empty() && ::access((dir + "/initdb").c_str(), X_OK) == 0 &&
           ::access((dir + "/postgres").c_str(), X_OK) == 0;
}

std::string trim_newlines(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
    return s;
}

// The last `n` lines of a log, for failure messages.
std::string tail_lines(const std::string& text, size_t n) {
    size_t pos = text.size();
    for (size_t seen = 0; pos > 0 && seen <= n; --pos)
        if (text[pos - 1] == '\n') ++seen;
    return text.substr(pos == 0 ? 0 : pos + 1);
}

// Parent pid and state of a process from /proc/PID/stat; nullopt when it is gone. Fields are
// counted after comm's closing parenthesis (comm may hold spaces).
std::optional<std::pair<pid_t, char>> proc_parent_and_state(pid_t pid) {
    std::ifstream in(fmt::format("/proc/{}/stat", pid));
    std::string stat;
    if (!std::getline(in, stat)) return std::nullopt;
    auto close = stat.rfind(')');
    if (close == std::string::npos || close + 4 >= stat.size()) return std::nullopt;
    char state = stat[close + 2];
    pid_t ppid = static_cast<pid_t>(std::strtol(stat.c_str() + close + 4, nullptr, 10));
    return std::make_pair(ppid, state);
}

bool proc_alive(pid_t pid) {
    auto s = proc_parent_and_state(pid);
    return s && s->second != 'Z' && s->second != 'X';
}

void signal_all(const std::vector<pid_t>& pids, int signo) {
    for (pid_t p : pids) ::kill(p, signo);
}

std::string conninfo_value(std::string_view v) {
    // libpq: single quotes around a value, backslash escapes ' and \ inside.
    std::string out = "'";
    for (char c : v) {
        if (c == '\'' || c == '\\') out += '\\';
        out += c;
    }
    return out + "'";
}

}  // namespace

// ---------------------------------------------------------------------------------------------

const std::string& pg_bindir() {
    static const std::string dir = [] {
        if (const char* env = std::getenv("PORTICO_PG_BINDIR"); env && *env) {
            if (!is_server_bindir(env)) fail(fmt::format("PORTICO_PG_BINDIR={} holds no initdb and postgres", env));
            return std::string(env);
        }
        for (const char* pg_config : {"/usr/bin/pg_config", "/usr/local/bin/pg_config"}) {
            if (::access(pg_config, X_OK) != 0) continue;
            auto r = run_command({pg_config, "--bindir"}, {}, 10s);
            std::string dir = trim_newlines(r.out);
            if (r.ok() && is_server_bindir(dir)) return dir;
        }
        // Debian keeps each major version apart: take the newest that has the server programs.
        std::string best;
        int best_version = -1;
        std::error_code ec;
        for (const auto& entry : fs::directory_iterator("/usr/lib/postgresql", ec)) {
            std::string name = entry.path().filename();
            int version = std::atoi(name.c_str());
            std::string bin = entry.path().string() + "/bin";
            if (version > best_version && is_server_bindir(bin)) {
                best = bin;
                best_version = version;
            }
        }
        if (best.empty()) fail("no PostgreSQL server programs (initdb, postgres) found; run .ci/setup-deps");
        return best;
    }();
    return dir;
}

std::string pg_program(std::string_view name) { return pg_bindir() + "/" + std::string(name); }

std::string CommandResult::describe() const {
    return fmt::format("exit {}{}\n--- stdout ---\n{}\n--- stderr ---\n{}", exit_code, timed_out ? " (timed out)" : "",
                       out, err);
}

CommandResult run_command(const std::vector<std::string>& argv, const EnvVars& env, Millis timeout) {
    TempDir dir;
    CommandResult r;
    Process p({.argv = argv, .env = env, .stdout_path = dir.file("out"), .stderr_path = dir.file("err"), .cwd = {}});
    if (auto code = p.wait_exit(timeout)) {
        r.exit_code = *code;
    } else {
        p.kill_and_wait();
        r.timed_out = true;
    }
    r.out = p.stdout_text();
    r.err = p.stderr_text();
    return r;
}

std::string pg_connect_error(const std::string& conninfo) {
    PGconn* conn = PQconnectdb(conninfo.c_str());
    std::string error;
    if (!conn) {
        error = "PQconnectdb: out of memory";
    } else if (PQstatus(conn) != CONNECTION_OK) {
        error = trim_newlines(PQerrorMessage(conn));
        if (error.empty()) error = "connection failed";
    }
    PQfinish(conn);
    return error;
}

namespace {

// SQL quoting: `quote` around the text, doubled inside it.
std::string sql_quoted(std::string_view text, char quote) {
    std::string out(1, quote);
    for (char c : text) {
        if (c == quote) out += quote;
        out += c;
    }
    return out + quote;
}

}  // namespace

std::string pg_quote_ident(std::string_view name) { return sql_quoted(name, '"'); }

std::string pg_quote_literal(std::string_view text) { return sql_quoted(text, '\''); }

// ---------------------------------------------------------------------------------------------

PgCluster::PgCluster(PgClusterOptions options) : options_(std::move(options)) {
    if (options_.superuser_password.empty()) {
        for (const auto* method : {&options_.auth, &options_.auth_local, &options_.auth_host})
            if (!method->empty() && *method != "trust" && *method != "reject")
                fail(fmt::format("PgCluster: auth {} needs a superuser_password", *method));
    } else {
        passwords_.emplace_back(options_.superuser, options_.superuser_password);
    }
    prepare_dirs();
    initdb();
    spawn_and_wait();
    for (const auto& user : options_.users) create_user(user);
}

PgCluster::PgCluster(StandbyOf of, PgClusterOptions options) {
    const PgClusterOptions& p = of.primary.options_;
    options_ = p;
    options_.users.clear();  // replicated already
    options_.port = options.port;
    options_.settings = std::move(options.settings);
    options_.start_timeout = options.start_timeout;
    passwords_ = of.primary.passwords_;
    prepare_dirs();
    basebackup(of.primary);
    spawn_and_wait();
}

PgCluster::~PgCluster() {
    // Immediate shutdown (SIGQUIT): nothing needs to be kept.
    try {
        shut_down(SIGQUIT, 10s);
    } catch (...) {
        if (postmaster_) postmaster_->kill_and_wait();
    }
}

void PgCluster::prepare_dirs() {
    dir_ = std::make_unique<TempDir>();
    data_dir_ = dir_->file("data");
    socket_dir_ = dir_->file("sock");
    port_ = options_.port != 0 ? options_.port : free_tcp_port();
    if (::geteuid() == 0) {
        const passwd* pw = ::getpwnam("postgres");
        if (!pw) fail("PgCluster: running as root, but there is no 'postgres' OS user to run the server as (.ci/setup-deps installs postgresql)");
        server_user_ = std::make_pair(pw->pw_uid, pw->pw_gid);
    }
    // The server user must reach its files through our dir (mkdtemp made it 0700).
    ::chmod(dir_->path().c_str(), 0755);
    for (const auto& d : {data_dir_, socket_dir_}) {
        if (::mkdir(d.c_str(), 0700) != 0) fail(fmt::format("PgCluster: mkdir {}: {}", d, std::strerror(errno)));
    }
    give_to_server_user(data_dir_, 0700);    // postgres insists on 0700 (or 0750)
    give_to_server_user(socket_dir_, 0755);  // clients of any user may reach the socket
}

void PgCluster::give_to_server_user(const std::string& path, unsigned mode) const {
    if (server_user_ && ::chown(path.c_str(), server_user_->first, server_user_->second) != 0)
        fail(fmt::format("PgCluster: chown {}: {}", path, std::strerror(errno)));
    ::chmod(path.c_str(), mode);
}

std::vector<std::string> PgCluster::as_server_user(std::vector<std::string> argv) const {
    if (!server_user_) return argv;
    // setpriv execs in place (the pid stays the program's) and sets the death signal after the
    // uid change, which clears the one Process set.
    std::vector<std::string> out = {"/usr/bin/setpriv", fmt::format("--reuid={}", server_user_->first),
                                    fmt::format("--regid={}", server_user_->second), "--init-groups",
                                    "--pdeathsig=KILL", "--"};
    out.insert(out.end(), argv.begin(), argv.end());
    return out;
}

void PgCluster::initdb() {
    std::vector<std::string> argv = {pg_program("initdb"), "-D", data_dir_, "-U", options_.superuser, "-E", "UTF8",
                                     "--no-sync", "--no-instructions"};
    auto method = [](const std::string& m, const std::string& all) { return m.empty() ? all : m; };
    argv.push_back("--auth-local=" + method(options_.auth_local, options_.auth));
    argv.push_back("--auth-host=" + method(options_.auth_host, options_.auth));
    if (!options_.superuser_password.empty()) {
        dir_->write("pwfile", options_.superuser_password + "\n");
        give_to_server_user(dir_->file("pwfile"), 0600);
        argv.push_back("--pwfile=" + dir_->file("pwfile"));
    }
    // C.UTF-8 sorts like C but knows UTF-8 characters; fall back to C where it is not installed.
    std::string log;
    for (const char* locale : {"--locale=C.UTF-8", "--locale=C"}) {
        std::vector<std::string> a = argv;
        a.push_back(locale);
        auto r = run_command(as_server_user(a), {}, 120s);
        if (r.ok()) return;
        log += fmt::format("initdb {}: {}\n", locale, r.describe());
        // initdb removes the data dir it failed in when it created it, not one it was given.
        std::error_code ec;
        for (const auto& entry : fs::directory_iterator(data_dir_, ec)) fs::remove_all(entry.path(), ec);
    }
    fail("PgCluster: initdb failed\n" + log);
}

void PgCluster::basebackup(const PgCluster& primary) {
    if (!primary.running()) fail("PgCluster: the primary of a standby must be running");
    EnvVars env;
    if (auto pw = primary.password_of(primary.superuser()); !pw.empty()) env.emplace_back("PGPASSWORD", pw);
    // -R: standby.signal + primary_conninfo (the primary's socket and port) in postgresql.auto.conf.
    auto r = run_command(as_server_user({pg_program("pg_basebackup"), "-h", primary.socket_dir(), "-p",
                                         std::to_string(primary.port()), "-U", primary.superuser(), "-D", data_dir_,
                                         "-R", "-X", "stream", "--no-sync", "-c", "fast", "-w"}),
                         env, 120s);
    if (!r.ok()) fail("PgCluster: pg_basebackup failed: " + r.describe());
}

void PgCluster::spawn_and_wait() {
    // A port picked free may be taken by the time postgres binds it: pick again (first start only).
    const int tries = options_.port == 0 && runs_ == 0 ? 3 : 1;
    for (int attempt = 1;; ++attempt) {
        ++runs_;
        std::vector<std::string> argv = {pg_program("postgres"),
                                         "-D", data_dir_,
                                         "-p", std::to_string(port_),
                                         "-c", "unix_socket_directories=" + socket_dir_,
                                         "-c", "listen_addresses=127.0.0.1",
                                         "-c", fmt::format("max_connections={}", options_.max_connections),
                                         // Tests need no durability against a machine crash: no fsync.
                                         // synchronous_commit stays on: with fsync off a commit only
                                         // write()s its WAL into the page cache, which a SIGKILLed
                                         // postmaster keeps; off, the last ~200 ms of commits would be
                                         // lost by kill_postmaster() (options.settings may still say off).
                                         "-c", "fsync=off",
                                         "-c", "full_page_writes=off"};
        for (const auto& [name, value] : options_.settings) argv.insert(argv.end(), {"-c", name + "=" + value});
        postmaster_ = std::make_unique<Process>(Process::Options{.argv = as_server_user(argv),
                                                                 .env = {},
                                                                 .stdout_path = dir_->file("postgres.stdout"),
                                                                 .stderr_path = dir_->file(fmt::format("postgres.{}.log", runs_)),
                                                                 .cwd = dir_->path()});
        bool ready = eventually([&] { return !postmaster_->running() || ping(); }, options_.start_timeout, 20ms);
        if (ready && postmaster_->running()) return;
        std::string log = log_text();
        if (!ready) fail_with_log(fmt::format("postgres did not accept connections within {} ms", options_.start_timeout.count()));
        postmaster_.reset();
        if (attempt < tries && log.find("could not bind") != std::string::npos) {
            port_ = free_tcp_port();
            continue;
        }
        fail(fmt::format("PgCluster: postgres exited at start; its log ({}):\n{}", dir_->path(), tail_lines(log, 30)));
    }
}

bool PgCluster::ping() const {
    // PQPING_OK once the server accepts connections (whatever authentication would say);
    // PQPING_REJECT while it starts up or recovers.
    std::string info = conninfo("postgres") + " connect_timeout=2";
    return PQping(info.c_str()) == PQPING_OK;
}

void PgCluster::fail_with_log(const std::string& what) const {
    fail(fmt::format("PgCluster ({}): {}; its log:\n{}", dir_->path(), what, tail_lines(log_text(), 30)));
}

// ---------------------------------------------------------------------------------------------

std::string PgCluster::socket_path() const { return fmt::format("{}/.s.PGSQL.{}", socket_dir_, port_); }

std::string PgCluster::password_of(std::string_view user) const {
    if (user.empty()) user = options_.superuser;
    for (auto it = passwords_.rbegin(); it != passwords_.rend(); ++it)
        if (it->first == user) return it->second;
    return {};
}

std::string PgCluster::conninfo(std::string_view dbname, std::string_view user, std::string_view password) const {
    std::string out = fmt::format("host={} port={} dbname={} user={}", conninfo_value(socket_dir_), port_,
                                  conninfo_value(dbname), conninfo_value(user.empty() ? options_.superuser : user));
    if (!password.empty()) out += " password=" + conninfo_value(password);
    return out;
}

std::string PgCluster::tcp_conninfo(std::string_view dbname, std::string_view user, std::string_view password) const {
    std::string out = fmt::format("host=127.0.0.1 port={} dbname={} user={}", port_, conninfo_value(dbname),
                                  conninfo_value(user.empty() ? options_.superuser : user));
    if (!password.empty()) out += " password=" + conninfo_value(password);
    return out;
}

EnvVars PgCluster::client_env(std::string_view dbname, std::string_view user, bool tcp) const {
    std::string u(user.empty() ? options_.superuser : user);
    EnvVars env = {{"PGHOST", tcp ? "127.0.0.1" : socket_dir_},
                   {"PGPORT", std::to_string(port_)},
                   {"PGUSER", u},
                   {"PGDATABASE", std::string(dbname)},
                   {"PGCONNECT_TIMEOUT", "10"}};
    if (auto pw = password_of(u); !pw.empty()) env.emplace_back("PGPASSWORD", pw);
    return env;
}

CommandResult PgCluster::run_psql(std::string_view sql, const PsqlOptions& o) const {
    const std::string user = o.user.empty() ? options_.superuser : o.user;
    const std::string script = dir_->file(fmt::format("script.{}.sql", ++scripts_));
    dir_->write(fmt::format("script.{}.sql", scripts_), sql);
    EnvVars env = {{"PGCONNECT_TIMEOUT", "10"}, {"PGPASSWORD", o.password.value_or(password_of(user))}};
    return run_command({pg_program("psql"), "-X", "-q", "-A", "-t", "-w", "-v", "ON_ERROR_STOP=1", "-h",
                        o.tcp ? "127.0.0.1" : socket_dir_, "-p", std::to_string(port_), "-U", user, "-d", o.db,
                        "-f", script},
                       env, o.timeout);
}

std::string PgCluster::psql(std::string_view sql, std::string_view db, std::string_view user) const {
    auto r = run_psql(sql, {.db = std::string(db), .user = std::string(user)});
    if (!r.ok()) fail(fmt::format("psql failed on {} ({}):\n{}\n{}", socket_path(), sql, r.describe(), tail_lines(log_text(), 10)));
    return trim_newlines(r.out);
}

int PgCluster::client_backends(std::string_view dbname, std::string_view user) const {
    std::string sql = "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()";
    if (!dbname.empty()) sql += " AND datname = " + pg_quote_literal(dbname);
    if (!user.empty()) sql += " AND usename = " + pg_quote_literal(user);
    return std::stoi(psql(sql + ";"));
}

void PgCluster::create_user(const PgUser& user) {
    std::string sql = fmt::format("SET password_encryption = '{}';\nCREATE ROLE {} LOGIN{}", user.md5 ? "md5" : "scram-sha-256",
                                  pg_quote_ident(user.name), user.superuser ? " SUPERUSER" : "");
    if (!user.password.empty()) sql += " PASSWORD " + pg_quote_literal(user.password);
    psql(sql + ";\n");
    if (!user.password.empty()) passwords_.emplace_back(user.name, user.password);
}

void PgCluster::create_database(std::string_view name, std::string_view owner) {
    psql(fmt::format("CREATE DATABASE {} OWNER {};\n", pg_quote_ident(name),
                     pg_quote_ident(owner.empty() ? options_.superuser : owner)));
}

// ---------------------------------------------------------------------------------------------

bool PgCluster::running() const { return postmaster_ && postmaster_->running(); }

pid_t PgCluster::pid() const { return running() ? postmaster_->pid() : -1; }

std::vector<pid_t> PgCluster::child_pids() const {
    std::vector<pid_t> out;
    const pid_t parent = pid();
    if (parent < 0) return out;
    DIR* proc = ::opendir("/proc");
    if (!proc) return out;
    while (const dirent* e = ::readdir(proc)) {
        char* end = nullptr;
        long p = std::strtol(e->d_name, &end, 10);
        if (p <= 0 || *end != '\0') continue;
        auto s = proc_parent_and_state(static_cast<pid_t>(p));
        if (s && s->first == parent && s->second != 'Z') out.push_back(static_cast<pid_t>(p));
    }
    ::closedir(proc);
    return out;
}

void PgCluster::wait_gone(const std::vector<pid_t>& pids, Millis timeout) const {
    auto all_gone = [&] { return std::none_of(pids.begin(), pids.end(), proc_alive); };
    if (eventually(all_gone, timeout, 10ms)) return;
    signal_all(pids, SIGKILL);  // a child that ignores its postmaster's death (should not happen)
    eventually(all_gone, 5s, 10ms);
}

void PgCluster::shut_down(int signo, Millis timeout) {
    if (!running()) {
        postmaster_.reset();
        paused_pids_.clear();
        return;
    }
    std::vector<pid_t> children = child_pids();
    resume();
    postmaster_->signal(signo);
    if (!postmaster_->wait_exit(timeout)) {
        postmaster_->signal(SIGQUIT);  // immediate shutdown, if a fast one hangs
        if (!postmaster_->wait_exit(5s)) postmaster_->kill_and_wait();
    }
    wait_gone(children, 10s);
    postmaster_.reset();
}

void PgCluster::stop() { shut_down(SIGINT, 60s); }

void PgCluster::start() {
    if (running()) fail("PgCluster::start: already running");
    spawn_and_wait();
}

void PgCluster::restart() {
    stop();
    start();
}

void PgCluster::kill_postmaster() {
    if (!running()) fail("PgCluster::kill_postmaster: not running");
    std::vector<pid_t> children = child_pids();
    resume();
    postmaster_->kill_and_wait();
    // The children notice their postmaster's death and exit; until they have, a new postmaster
    // would refuse to start ("pre-existing shared memory block is still in use").
    wait_gone(children, 30s);
    postmaster_.reset();
    // Their pids are checked for liveness, and a pid may be reused by now: remove them.
    std::error_code ec;
    fs::remove(data_dir_ + "/postmaster.pid", ec);
    fs::remove(socket_path() + ".lock", ec);
}

void PgCluster::pause() {
    if (!running()) fail("PgCluster::pause: not running");
    if (paused()) return;
    // The postmaster first, so that it starts no child the sweep below would miss.
    postmaster_->signal(SIGSTOP);
    paused_pids_ = child_pids();
    signal_all(paused_pids_, SIGSTOP);
    paused_pids_.push_back(postmaster_->pid());
}

void PgCluster::resume() {
    if (!paused()) return;
    signal_all(paused_pids_, SIGCONT);
    paused_pids_.clear();
}

bool PgCluster::in_recovery() const { return psql("SELECT pg_is_in_recovery();") == "t"; }

void PgCluster::promote() {
    std::string done = psql("SELECT pg_promote(wait => true, wait_seconds => 60);");
    if (done != "t") fail_with_log("pg_promote answered " + done);
    if (!eventually([&] { return !in_recovery(); }, 30s, 50ms)) fail_with_log("still in recovery after pg_promote");
}

void PgCluster::set_default_read_only(bool on) {
    psql(fmt::format("ALTER SYSTEM SET default_transaction_read_only = {};\nSELECT pg_reload_conf();\n",
                     on ? "on" : "off"));
    const std::string want = on ? "on" : "off";
    if (!eventually([&] { return psql("SHOW default_transaction_read_only;") == want; }, 10s, 20ms))
        fail_with_log("default_transaction_read_only did not become " + want);
}

std::string PgCluster::log_text() const { return read_file(dir_->file(fmt::format("postgres.{}.log", runs_))); }

}  // namespace portico::test
