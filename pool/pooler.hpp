// The pooler: pools per (database, server user), each with its idle servers, its queue of clients
// waiting for one, its limits and its figures; the moves between them (acquire, link, release,
// reset, recycle); cancel routing; the timeouts swept a few times a second. Everything here runs
// on the pool thread's loop.
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>
#include <uv.h>

#include "conf/schema.hpp"
#include "pool/client_connection.hpp"
#include "pool/database_probe.hpp"
#include "pool/notify_listener.hpp"
#include "pool/pool_counters.hpp"
#include "pool/resolver.hpp"
#include "pool/server_connection.hpp"
#include "pool/statements.hpp"
#include "pool/userlist.hpp"

namespace portico::pool {

// A pool's share of the configuration, resolved from pool.* and its database entry.
struct PoolSettings {
    std::string conninfo;
    // The conninfo's own keywords (PQconninfoParse), applied over the pool's defaults.
    std::vector<std::pair<std::string, std::string>> conninfo_params;
    std::string forced_user;  // the conninfo's user, if it names one: every client shares it
    int pool_size = 20;
    int max_overflow = 10;
    uint64_t conninfo_generation = 0;
};

class Pool {
public:
    Pool(std::string database, std::string server_user) : database(std::move(database)), server_user(std::move(server_user)) {}

    const std::string database;
    const std::string server_user;
    PoolSettings settings;
    PoolCounters counters;
    std::vector<ServerConnection*> idle;       // most recently used last (taken first: warm caches)
    std::deque<ClientConnection*> waiting;     // first come, first served
    int servers = 0;                           // every server of this pool, connecting included
    int connecting = 0;
    int linked = 0;
    int clients = 0;                           // logged-in clients
    bool paused = false;
    // The parameters a new server reports: what a client gets at login (its own values override).
    Params welcome;
    bool have_welcome = false;
    // Parameter values clients asked for that a server took, with the canonical spelling of reported
    // ones ("utf-8" → "UTF8"): a login asking only for known values needs no server.
    std::map<std::pair<std::string, std::string>, std::string> canonical;
    // Each distinct set of wanted parameters gets an id, so a server that was last synced for the same
    // set (and saw no ParameterStatus since) is handed over without comparing anything.
    // Ids are never reused: a map cleared at its bound (clients with unique application_names) only
    // costs servers a comparison, never a wrong match.
    std::map<std::string, uint64_t> params_ids;
    uint64_t next_params_id = 1;
    uint64_t params_id_for(const Params& wanted) {
        std::string key;
        for (const Param& p : wanted) key.append(p.name).append(1, '\0').append(p.value).append(1, '\0');
        if (params_ids.size() >= kMaxRemembered) params_ids.clear();
        auto [it, added] = params_ids.emplace(std::move(key), next_params_id);
        if (added) ++next_params_id;
        return it->second;
    }
    static constexpr size_t kMaxRemembered = 10000;  // params_ids, canonical
    // Named prepared statements of this pool's clients, shared by text (statements.hpp).
    StatementRegistry statements;
    uint64_t last_connect_failure_ns = 0;
    std::string last_connect_error;

    int max_servers() const { return settings.pool_size + settings.max_overflow; }
};

// What the process does with the cache's invalidation messages (cache.notify_channel), called on
// the pool thread: `message` purges (false when the payload names nothing purgeable), `gap` clears
// after a listener lost its connection and may have missed some.
struct NotifyHandlers {
    std::function<bool(const std::string& database, std::string_view payload)> message;
    std::function<void(const std::string& database)> gap;
};

class Pooler {
public:
    Pooler(uv_loop_t* loop, std::shared_ptr<const conf::Config> config, NotifyHandlers notify = {});
    ~Pooler();

    // Applies a (re)loaded configuration: sizes, timeouts, userlist; a changed conninfo retires
    // that database's servers as they come back. Returns "" or the userlist's error (then the old
    // userlist stays).
    std::string configure(std::shared_ptr<const conf::Config> config);
    const conf::PoolConfig& config() const { return config_->pool; }
    bool transaction_mode() const { return transaction_mode_; }
    // Transaction mode with pool.max_prepared_statements > 0: clients' statements are renamed and
    // carried across servers (statement_tracker.hpp); 0 passes them through unchanged.
    // Whether statements are carried is fixed at start (like the mode); the bound follows reloads.
    size_t statement_capacity() const {
        return statements_enabled_ ? std::max<size_t>(1, static_cast<size_t>(config_->pool.max_prepared_statements)) : 0;
    }
    const Userlist& userlist() const { return userlist_; }
    uv_loop_t* loop() const { return loop_; }

    // A new client connection (accepted by the listener).
    ClientConnection* new_client(bool unix_socket);
    int client_count() const { return static_cast<int>(clients_.size()); }

    // The pool for a database and user; nullptr and `error` for an unknown database.
    Pool* pool_for(const std::string& database, const std::string& user, std::string& error);

    // A client needs a server: link one now or queue the client.
    void acquire(ClientConnection& client);
    // The client's work is done (transaction mode) or the client left: back to the pool, reset
    // first when it must be.
    void release(ServerConnection& server);
    void client_leaving(ClientConnection& client);
    // The pooler's own queries on a server finished (ok or not).
    void internal_done(ServerConnection& server, ServerConnection::After after, bool ok);
    void server_connected(ServerConnection& server);
    // Every server close passes here once: accounting, and what its client or waiters are told.
    void server_closing(ServerConnection& server, ServerConnection::State was, const std::string& reason);
    void destroy_server(ServerConnection& server);
    void destroy_client(ClientConnection& client);

    void count_login_failure() { ++login_failures_; }

    // Cancel keys handed to clients.
    void register_cancel(ClientConnection& client, int32_t& pid, std::string& key);
    void cancel(int32_t pid, std::string_view key);
    void cancel_done(uint64_t server_id);  // a PQcancel finished (on this loop)

    // Pause/resume: new transactions wait; in-flight ones finish. "" = every database. Returns the
    // databases affected, or an empty list for an unknown name.
    std::vector<std::string> pause(const std::string& database, bool paused);

    // Stops handing out servers and closes every client with 57P01 once its work is done; returns
    // true when nothing is left.
    void begin_drain();
    bool drained() const { return clients_.empty() && servers_.empty(); }
    void close_everything();

    nlohmann::json stats_json() const;
    void append_metrics(std::string& out) const;
    // "" when every database is reachable: it has a working server, or its probe's last ping was
    // answered (and no server connect failed since); else the first database's reason.
    std::string readiness() const;

    // The monotonic clock in ns. Inside a ClockScope it is read once and every call gives that
    // time: a pooled transaction asks for the time about ten times (its read, wait, link, release,
    // the stats), all within one callback of a few µs, and each clock_gettime cost ~1.5% of the
    // pool's CPU under pgbench -S (PgBouncer likewise caches the time per loop pass).
    static uint64_t now_ns();
    // Opened by the I/O callbacks (a client's read, a server's poll); nests.
    class ClockScope {
    public:
        ClockScope();
        ~ClockScope();
        ClockScope(const ClockScope&) = delete;
        ClockScope& operator=(const ClockScope&) = delete;
    };

private:
    static void on_sweep(uv_timer_t* timer);
    void sweep();
    void open_server(Pool& pool);
    void serve_waiters(Pool& pool);
    void give(ServerConnection& server, ClientConnection& client);
    // The most recently used idle server still fit for use (retired ones are closed on the way).
    ServerConnection* take_idle(Pool& pool);
    void continue_link(ServerConnection& server);
    void finish_link(ServerConnection& server);
    void make_idle(ServerConnection& server);
    bool must_retire(const ServerConnection& server) const;
    PoolSettings settings_for(const std::string& database) const;
    void fail_waiters(Pool& pool, const std::string& reason);
    // One LISTEN connection per database while cache.notify_channel is set; rebuilt when the
    // channel or a database's conninfo changes.
    void update_listeners();
    // One readiness probe per database; rebuilt when the databases or their conninfo change.
    void update_probes();
    // True when a pool of `database` holds a server that finished connecting.
    bool has_working_server(const std::string& database) const;
    // Who the probe of `database` logs in as: the conninfo's user, else the role of that
    // database's pool with the most logins, with its userlist password; {} before any client came.
    DatabaseProbe::Params probe_login(const std::string& database) const;
    // The conninfo's password, or else `user`'s plaintext one from the userlist.
    void add_userlist_password(std::vector<std::pair<std::string, std::string>>& params, const std::string& user) const;

    uv_loop_t* loop_;
    // Conninfo host names are looked up here, off the loop, before libpq connects (resolver.hpp).
    HostResolver resolver_;
    std::shared_ptr<const conf::Config> config_;
    bool transaction_mode_ = true;
    bool statements_enabled_ = true;
    Userlist userlist_;
    std::map<std::pair<std::string, std::string>, std::unique_ptr<Pool>> pools_;
    std::unordered_map<uint64_t, std::unique_ptr<ClientConnection>> clients_;
    std::unordered_map<uint64_t, std::unique_ptr<ServerConnection>> servers_;
    std::unordered_map<int32_t, ClientConnection*> cancel_keys_;
    std::map<std::string, uint64_t> conninfo_generations_;
    std::set<std::string> paused_databases_;
    uint64_t next_id_ = 1;
    int32_t next_cancel_pid_ = 1;
    std::mt19937_64 random_;
    uv_timer_t sweep_timer_;
    bool draining_ = false;
    uint64_t login_failures_ = 0;
    NotifyHandlers notify_;
    std::vector<std::unique_ptr<NotifyListener>> listeners_;
    std::vector<std::string> listener_keys_;  // what each listener was built from (channel, conninfo)
    std::vector<std::unique_ptr<DatabaseProbe>> probes_;
    std::vector<std::string> probe_keys_;     // what each probe was built from (name, conninfo)
    uint64_t cancels_unmatched_ = 0;
};

}  // namespace portico::pool
