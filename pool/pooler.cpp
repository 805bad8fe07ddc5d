// Pools, the moves of servers between clients, and the timeouts; see pooler.hpp.
#include "pool/pooler.hpp"

#include <algorithm>
#include <chrono>
#include <ctime>

#include <fmt/format.h>
#include <libpq-fe.h>

#include "core/log.hpp"
#include "pool/auth.hpp"

namespace portico::pool {

namespace {
constexpr uint64_t kSweepMs = 100;
constexpr uint64_t kMs = 1'000'000;  // ns
// Overflow servers (max_overflow) open only for a client that has waited this long: a burst that
// the pool absorbs in a few milliseconds should not double the server count.
constexpr uint64_t kOverflowDelayNs = 250 * kMs;
// A client must finish logging in within this (PgBouncer's client_login_timeout).
constexpr uint64_t kLoginTimeoutNs = 60'000 * kMs;
// After a failed connect, the next attempt waits this long (from the sweep, not the failure).
constexpr uint64_t kConnectBackoffNs = 500 * kMs;

uint64_t ms_to_ns(conf::Duration d) { return static_cast<uint64_t>(d.count()) * kMs; }

// Time since `since`, 0 when `since` is later than `now` (set during this sweep, after `now` was read).
uint64_t elapsed(uint64_t now, uint64_t since) { return now > since ? now - since : 0; }

std::vector<std::pair<std::string, std::string>> parse_conninfo(const std::string& conninfo, std::string& error) {
    std::vector<std::pair<std::string, std::string>> out;
    char* err = nullptr;
    PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &err);
    if (options == nullptr) {
        error = err != nullptr ? err : "cannot parse conninfo";
        if (err != nullptr) PQfreemem(err);
        while (!error.empty() && error.back() == '\n') error.pop_back();
        return out;
    }
    for (PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
        if (o->val != nullptr) out.emplace_back(o->keyword, o->val);
    }
    PQconninfoFree(options);
    return out;
}

struct CancelWork {
    uv_work_t req;
    CancelHandle handle;
    Pooler* pooler = nullptr;
    uint64_t server_id = 0;
};
}  // namespace

namespace {
uint64_t read_clock() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}
thread_local uint64_t scoped_now_ns = 0;
thread_local int clock_scopes = 0;
}  // namespace

uint64_t Pooler::now_ns() { return clock_scopes > 0 ? scoped_now_ns : read_clock(); }

Pooler::ClockScope::ClockScope() {
    if (clock_scopes++ == 0) scoped_now_ns = read_clock();
}

Pooler::ClockScope::~ClockScope() { --clock_scopes; }

Pooler::Pooler(uv_loop_t* loop, std::shared_ptr<const conf::Config> config, NotifyHandlers notify)
    : loop_(loop), resolver_(loop), random_(std::random_device{}()), notify_(std::move(notify)) {
    std::string error = configure(std::move(config));
    if (!error.empty()) core::log(core::LogLevel::error, "pool", "{}", error);
    transaction_mode_ = config_->pool.mode == "transaction";
    statements_enabled_ = transaction_mode_ && config_->pool.max_prepared_statements > 0;
    uv_timer_init(loop_, &sweep_timer_);
    sweep_timer_.data = this;
    uv_timer_start(&sweep_timer_, &Pooler::on_sweep, kSweepMs, kSweepMs);
}

Pooler::~Pooler() = default;

std::string Pooler::configure(std::shared_ptr<const conf::Config> config) {
    std::string error;
    const conf::AuthConfig& auth = config->pool.auth;
    if ((auth.type == "md5" || auth.type == "scram-sha-256") && !auth.file.empty()) {
        Userlist fresh;
        if (load_userlist(auth.file, fresh, error)) userlist_ = std::move(fresh);
        else error = "pool.auth.file: " + error + " (keeping the previous userlist)";
    }
    config_ = std::move(config);
    for (auto& [key, pool] : pools_) {
        PoolSettings next = settings_for(pool->database);
        if (next.conninfo != pool->settings.conninfo) {
            next.conninfo_generation = ++conninfo_generations_[pool->database];
            core::log(core::LogLevel::info, "pool", "database {}: conninfo changed, servers retire as they come back",
                      pool->database);
        } else {
            next.conninfo_generation = pool->settings.conninfo_generation;
        }
        pool->settings = std::move(next);
        serve_waiters(*pool);
    }
    update_listeners();
    update_probes();
    return error;
}

void Pooler::update_probes() {
    if (draining_) return;
    std::vector<std::string> keys;
    for (const conf::PoolDatabase& db : config_->pool.databases) keys.push_back(db.name + '\0' + db.conninfo);
    if (keys == probe_keys_) return;
    probe_keys_ = keys;
    probes_.clear();
    for (const conf::PoolDatabase& db : config_->pool.databases) {
        PoolSettings settings = settings_for(db.name);
        DatabaseProbe::Params params = settings.conninfo_params;
        if (!settings.forced_user.empty()) add_userlist_password(params, settings.forced_user);
        probes_.push_back(std::make_unique<DatabaseProbe>(loop_, db.name, std::move(params)));
    }
    for (auto& p : probes_) p->tick(now_ns());
}

DatabaseProbe::Params Pooler::probe_login(const std::string& database) const {
    PoolSettings settings = settings_for(database);
    if (!settings.forced_user.empty()) return {};  // in the probe's conninfo already
    const Pool* busiest = nullptr;
    for (const auto& [key, pool] : pools_)
        if (pool->database == database && (busiest == nullptr || pool->counters.logins > busiest->counters.logins))
            busiest = pool.get();
    if (busiest == nullptr) return {};
    DatabaseProbe::Params login = {{"user", busiest->server_user}};
    bool conninfo_password = std::any_of(settings.conninfo_params.begin(), settings.conninfo_params.end(),
                                         [](const auto& kv) { return kv.first == "password"; });
    if (!conninfo_password) add_userlist_password(login, busiest->server_user);  // as server logins get it
    return login;
}

bool Pooler::has_working_server(const std::string& database) const {
    for (const auto& [key, pool] : pools_)
        if (pool->database == database && pool->servers - pool->connecting > 0) return true;
    return false;
}

void Pooler::add_userlist_password(std::vector<std::pair<std::string, std::string>>& params, const std::string& user) const {
    for (const auto& kv : params)
        if (kv.first == "password") return;
    // A plaintext password in the userlist logs the pool in as that user, as PgBouncer's auth_file does.
    const std::string* secret = userlist_.find(user);
    if (secret != nullptr && secret_kind(*secret) == SecretKind::plaintext) params.emplace_back("password", *secret);
}

void Pooler::update_listeners() {
    if (draining_) return;
    const conf::Config& c = *config_;
    std::vector<std::string> keys;
    bool wanted = c.cache.enabled && !c.cache.notify_channel.empty() && (notify_.message != nullptr);
    if (wanted) {
        for (const conf::PoolDatabase& db : c.pool.databases) {
            keys.push_back(db.name + '\0' + c.cache.notify_channel + '\0' + db.conninfo);
        }
    }
    if (keys == listener_keys_) return;
    listeners_.clear();  // each stops its connection
    listener_keys_ = keys;
    if (!wanted) return;
    for (const conf::PoolDatabase& db : c.pool.databases) {
        PoolSettings settings = settings_for(db.name);
        NotifyListener::Params params = settings.conninfo_params;
        if (!settings.forced_user.empty()) add_userlist_password(params, settings.forced_user);
        std::string name = db.name;
        NotifyListener::Handlers handlers;
        handlers.message = [this, name](std::string_view payload) { return notify_.message(name, payload); };
        handlers.gap = [this, name] {
            if (notify_.gap) notify_.gap(name);
        };
        listeners_.push_back(std::make_unique<NotifyListener>(loop_, resolver_, db.name, std::move(params), c.cache.notify_channel,
                                                              std::move(handlers)));
    }
    for (auto& l : listeners_) l->tick(now_ns());
}

PoolSettings Pooler::settings_for(const std::string& database) const {
    PoolSettings s;
    s.max_overflow = config_->pool.max_overflow;
    s.pool_size = config_->pool.default_pool_size;
    for (const conf::PoolDatabase& db : config_->pool.databases) {
        if (db.name != database) continue;
        s.conninfo = db.conninfo;
        if (db.pool_size > 0) s.pool_size = db.pool_size;
        std::string error;
        s.conninfo_params = parse_conninfo(db.conninfo, error);
        for (const auto& [k, v] : s.conninfo_params)
            if (k == "user") s.forced_user = v;
    }
    return s;
}

Pool* Pooler::pool_for(const std::string& database, const std::string& user, std::string& error) {
    const conf::PoolDatabase* db = nullptr;
    for (const conf::PoolDatabase& d : config_->pool.databases)
        if (d.name == database) db = &d;
    if (db == nullptr) {
        error = fmt::format("database \"{}\" does not exist", database);
        return nullptr;
    }
    PoolSettings settings = settings_for(database);
    std::string server_user = settings.forced_user.empty() ? user : settings.forced_user;
    auto& slot = pools_[{database, server_user}];
    if (!slot) {
        slot = std::make_unique<Pool>(database, server_user);
        slot->paused = paused_databases_.count(database) != 0;
        settings.conninfo_generation = conninfo_generations_[database];
        slot->settings = std::move(settings);
    }
    return slot.get();
}

ClientConnection* Pooler::new_client(bool unix_socket) {
    uint64_t id = next_id_++;
    auto client = std::make_unique<ClientConnection>(*this, id, unix_socket);
    ClientConnection* raw = client.get();
    raw->init_handle(loop_);
    clients_.emplace(id, std::move(client));
    return raw;
}

void Pooler::destroy_client(ClientConnection& client) { clients_.erase(client.id()); }

void Pooler::destroy_server(ServerConnection& server) { servers_.erase(server.id()); }

// ---- servers ---------------------------------------------------------------------------------

void Pooler::open_server(Pool& pool) {
    uint64_t id = next_id_++;
    auto server = std::make_unique<ServerConnection>(*this, pool, id);
    server->conninfo_generation = pool.settings.conninfo_generation;
    std::vector<std::pair<std::string, std::string>> params = {
        {"user", pool.server_user},
        {"dbname", pool.database},
        {"fallback_application_name", "portico"},
    };
    for (const auto& kv : pool.settings.conninfo_params) params.push_back(kv);
    add_userlist_password(params, pool.server_user);
    pool.servers++;
    pool.connecting++;
    pool.counters.server_connects++;
    core::log(core::LogLevel::debug, "pool", "server {}: connecting to database {} as {} ({} of {} + {})", id,
              pool.database, pool.server_user, pool.servers, pool.settings.pool_size, pool.settings.max_overflow);
    ServerConnection* raw = server.get();
    servers_.emplace(id, std::move(server));
    std::vector<std::string> names = hosts_to_resolve(params);
    if (names.empty()) {
        raw->connect(params);  // may fail at once: then `raw` is gone
        return;
    }
    // Host names first, off the loop (libpq would block it in getaddrinfo); the server stays
    // `connecting` meanwhile, so server_connect_timeout and drains cover the lookup too. A cached
    // answer calls back at once, like a connect that starts (or fails) at once.
    resolver_.resolve(names, [this, id, params = std::move(params)](const HostResolver::Results& results) {
        auto it = servers_.find(id);
        if (it == servers_.end() || it->second->state() != ServerConnection::State::connecting) return;
        ServerConnection& server = *it->second;
        ResolvedParams resolved = with_resolved_hosts(params, results);
        if (!resolved.any_host) return server.close(resolved.dropped);  // like libpq with no host left
        server.connect(resolved.params, std::move(resolved.dropped));
    });
}

void Pooler::server_connected(ServerConnection& server) {
    Pool& pool = server.pool();
    pool.connecting--;
    core::log(core::LogLevel::debug, "pool", "server {}: connected, backend pid {}", server.id(), server.backend_pid());
    if (!pool.have_welcome) {
        pool.welcome = server.params().initial;
        pool.have_welcome = true;
    }
    pool.last_connect_error.clear();
    make_idle(server);
}

bool Pooler::must_retire(const ServerConnection& server) const {
    const Pool& pool = const_cast<ServerConnection&>(server).pool();
    if (server.retire || draining_) return true;
    if (server.conninfo_generation != pool.settings.conninfo_generation || pool.settings.conninfo.empty()) return true;
    uint64_t lifetime = ms_to_ns(config_->pool.server_lifetime);
    return lifetime > 0 && now_ns() - server.created_ns > lifetime;
}

void Pooler::make_idle(ServerConnection& server) {
    Pool& pool = server.pool();
    server.set_client(nullptr);
    // Idle before any close below, so server_closing does not count it as linked a second time.
    server.set_state(ServerConnection::State::idle);
    if (server.cancels_in_flight > 0) {
        // A cancel sent for the previous client may still land: it must not hit the next one's query.
        server.close("a cancel request for its previous client is still on its way");
        return;
    }
    if (must_retire(server)) {
        if (!draining_) pool.counters.server_recycles++;
        server.close("recycled");
        return;
    }
    // Overflow servers go once nobody waits for them.
    if (pool.servers > pool.settings.pool_size && pool.waiting.empty()) {
        pool.counters.server_idle_closes++;
        server.close("overflow server no longer needed");
        return;
    }
    server.last_used_ns = now_ns();
    pool.idle.push_back(&server);
    serve_waiters(pool);
}

void Pooler::serve_waiters(Pool& pool) {
    if (draining_) return;
    while (!pool.paused && !pool.waiting.empty()) {
        ServerConnection* server = take_idle(pool);
        if (server == nullptr) break;
        ClientConnection* client = pool.waiting.front();
        pool.waiting.pop_front();
        client->waiting = false;
        pool.counters.wait_us += (now_ns() - client->wait_started_ns) / 1000;
        client->wait_started_ns = 0;
        give(*server, *client);
    }
    if (pool.paused) return;
    // Right after a failed connect, new attempts wait for the sweep: a database that refuses is
    // not hammered, and a connect failing inside open_server cannot recurse back here.
    if (pool.last_connect_failure_ns != 0 && now_ns() - pool.last_connect_failure_ns < kConnectBackoffNs) return;
    // One connecting server per waiting client, up to pool_size; overflow is the sweep's call.
    int uncovered = static_cast<int>(pool.waiting.size()) - pool.connecting;
    while (uncovered-- > 0 && pool.servers < pool.settings.pool_size && !pool.settings.conninfo.empty()) open_server(pool);
}

ServerConnection* Pooler::take_idle(Pool& pool) {
    while (!pool.idle.empty()) {
        ServerConnection* server = pool.idle.back();
        pool.idle.pop_back();
        if (!must_retire(*server)) return server;
        pool.counters.server_recycles++;
        server->close("recycled");  // idle: server_closing finds it no longer listed
    }
    return nullptr;
}

void Pooler::acquire(ClientConnection& client) {
    Pool& pool = *client.pool();
    if (!draining_ && !pool.paused && pool.waiting.empty()) {
        if (ServerConnection* server = take_idle(pool)) {
            give(*server, client);
            return;
        }
    }
    client.waiting = true;
    client.wait_started_ns = now_ns();
    pool.waiting.push_back(&client);
    pool.counters.client_waits++;
    serve_waiters(pool);
}

void Pooler::give(ServerConnection& server, ClientConnection& client) {
    server.set_client(&client);
    client.attach(&server);
    uint64_t check = ms_to_ns(config_->pool.server_check_delay);
    if (check > 0 && now_ns() - server.last_used_ns > check) {
        // Idle long enough to have been cut by a firewall or a restart: prove it alive first.
        server.pool().counters.server_prepings++;
        server.run_internal({""}, ServerConnection::After::check);
        return;
    }
    continue_link(server);
}

void Pooler::continue_link(ServerConnection& server) {
    ClientConnection* client = server.client();
    // The common case: the server's last client asked for the same parameters. Nothing to compare.
    if (server.synced_params_id != 0 && server.synced_params_id == client->params_id()) return finish_link(server);
    std::string sql = sync_query(client->wanted(), server.params());
    if (!sql.empty()) {
        server.pool().counters.server_param_syncs++;
        server.synced_params_id = 0;  // unknown until the SET is answered
        server.syncing_for = client->wanted();
        server.syncing_id = client->params_id();
        server.run_internal({sql}, ServerConnection::After::link);
        return;
    }
    finish_link(server);
}

void Pooler::finish_link(ServerConnection& server) {
    Pool& pool = server.pool();
    server.synced_params_id = server.client()->params_id();
    server.set_state(ServerConnection::State::linked);
    server.linked_since_ns = now_ns();
    pool.linked++;
    server.client()->linked(server);
}

void Pooler::internal_done(ServerConnection& server, ServerConnection::After after, bool ok) {
    Pool& pool = server.pool();
    ClientConnection* client = server.client();
    switch (after) {
        case ServerConnection::After::check:
            if (!ok) {
                pool.counters.server_preping_failures++;
                server.close("pre-ping failed");  // server_closing puts the client back in the queue
                return;
            }
            if (client == nullptr) return make_idle(server);
            return continue_link(server);
        case ServerConnection::After::link:
            if (ok) {
                // Recorded whether or not the client is still there: the server has these values now.
                ServerParams& params = server.params();
                params.applied = applied_after_sync(server.syncing_for, params);
                server.synced_params_id = server.syncing_id;
                if (pool.canonical.size() >= Pool::kMaxRemembered) pool.canonical.clear();  // re-learnt
                // Known good from now on: reported ones with the spelling the server reports back.
                for (const Param& w : server.syncing_for) {
                    const std::string* now = params.current_value(w.name);
                    pool.canonical[{w.name, w.value}] = now != nullptr ? *now : w.value;
                }
            }
            server.syncing_for.clear();
            if (client == nullptr) return make_idle(server);
            if (!ok) {
                // The client asked for a parameter value the server refuses: Postgres would refuse the
                // login the same way. The server is unchanged (the SETs ran in one implicit transaction).
                std::string message = server.internal_error();
                server.set_client(nullptr);
                client->unlinked();
                make_idle(server);
                client->fail("22023", message, "while applying the connection's startup parameters");
                return;
            }
            return finish_link(server);
        case ServerConnection::After::release:
            if (!ok) {
                server.close("reset failed: " + server.internal_error());
                return;
            }
            pool.counters.server_resets++;
            if (!transaction_mode_ || server.dirt.parameters) {
                server.params().applied.clear();  // DISCARD ALL / RESET ALL reset them
                server.synced_params_id = 0;
            }
            if (server.dirt.sql_statements) server.statements.clear();  // DEALLOCATE ALL
            server.dirt = {};
            return make_idle(server);
    }
}

void Pooler::release(ServerConnection& server) {
    Pool& pool = server.pool();
    ClientConnection* client = server.client();
    // Its reading may have been paused for this client's slow reads: the next user must be heard.
    server.resume_reading();
    if (client != nullptr && !client->statements_answered()) {
        // The statement tracker still expects answers: its picture of this server cannot be trusted.
        core::log(core::LogLevel::warn, "pool", "server {}: released with answers still expected; closing it after reset",
                  server.id());
        server.retire = true;
    }
    if (client != nullptr) client->unlinked();
    server.set_client(nullptr);
    pool.linked--;
    pool.counters.transaction_us += (now_ns() - server.linked_since_ns) / 1000;
    if (server.dirt.parameters_reset) {
        // The client's RESET took parameters back to the server's defaults: nothing to undo, and the
        // next client's are compared afresh. But a parameter the pooler applied (not reported, so
        // not followed) may be gone or, after a ROLLBACK, back: then reset it for sure.
        if (!server.params().applied.empty()) server.dirt.parameters = true;
        server.synced_params_id = 0;
        server.dirt.parameters_reset = false;
    }
    std::vector<std::string> reset;
    if (server.transaction_status() != 'I') reset.emplace_back("ROLLBACK");
    // Session mode: the next client must not see this one's temp tables, SETs, prepared statements,
    // LISTENs or advisory locks.
    if (!transaction_mode_) reset.emplace_back("DISCARD ALL");
    // Transaction mode: what the client changed beyond its transaction (SET, set_config, SQL
    // PREPARE, holdable cursors, session advisory locks) is reset the narrowest way that clears it.
    if (transaction_mode_ && server.dirt.any()) {
        for (std::string& q : server.dirt.reset_queries()) reset.push_back(std::move(q));
        pool.counters.session_resets++;
    }
    if (!reset.empty()) {
        server.run_internal(reset, ServerConnection::After::release);
    } else {
        make_idle(server);
    }
    if (draining_ && client != nullptr) client->fail("57P01", "terminating connection due to administrator command");
}

void Pooler::client_leaving(ClientConnection& client) {
    if (client.left) return;
    client.left = true;
    Pool* pool = client.pool();
    if (client.waiting && pool != nullptr) {
        pool->waiting.erase(std::remove(pool->waiting.begin(), pool->waiting.end(), &client), pool->waiting.end());
        client.waiting = false;
    }
    if (client.cancel_pid() != 0) cancel_keys_.erase(client.cancel_pid());
    if (client.counted_in_pool && pool != nullptr) pool->clients--;
    ServerConnection* server = client.server();
    if (server == nullptr) return;
    // Held messages or answers still owed to the statement tracker: the server is mid-work.
    bool answered = client.statements_answered();
    client.unlinked();
    if (server->state() == ServerConnection::State::internal) {
        // Pre-ping or parameter sync under way: it finishes and then goes back to the pool.
        server->set_client(nullptr);
        return;
    }
    if (server->state() != ServerConnection::State::linked) return;
    if (answered && client.idle_between_transactions() && server->at_message_boundary() && server->queued() == 0) {
        server->set_client(&client);  // release() detaches it again
        release(*server);
        return;
    }
    // It left in the middle of a result or of a request: nothing can make this server clean for
    // the next client short of closing it.
    server->pool().counters.server_dirty_closes++;
    server->set_client(nullptr);
    server->close("client left in the middle of its work");
}

void Pooler::server_closing(ServerConnection& server, ServerConnection::State was, const std::string& reason) {
    Pool& pool = server.pool();
    pool.servers--;
    ClientConnection* client = server.client();
    server.set_client(nullptr);
    switch (was) {
        case ServerConnection::State::connecting:
            pool.connecting--;
            pool.counters.server_connect_failures++;
            pool.last_connect_failure_ns = now_ns();
            pool.last_connect_error = reason;
            while (!pool.last_connect_error.empty() && pool.last_connect_error.back() == '\n') pool.last_connect_error.pop_back();
            core::log(core::LogLevel::warn, "pool", "database {} user {}: cannot connect: {}", pool.database,
                      pool.server_user, pool.last_connect_error);
            // Nobody else can serve the queue: tell it now rather than at query_wait_timeout.
            if (pool.servers == 0) fail_waiters(pool, pool.last_connect_error);
            break;
        case ServerConnection::State::idle:
            pool.idle.erase(std::remove(pool.idle.begin(), pool.idle.end(), &server), pool.idle.end());
            break;
        case ServerConnection::State::linked:
            pool.linked--;
            if (client != nullptr) {
                pool.counters.server_broken++;
                client->unlinked();
                client->fail("08006", "server connection lost", reason);
            }
            break;
        case ServerConnection::State::internal:
            if (client != nullptr) {
                // Its pre-ping or parameter sync failed with the server: queue for another one.
                client->unlinked();
                acquire(*client);
            }
            break;
        case ServerConnection::State::closed:
            break;
    }
    if (was != ServerConnection::State::connecting && was != ServerConnection::State::idle) {
        core::log(core::LogLevel::info, "pool", "database {} user {}: server closed: {}", pool.database, pool.server_user, reason);
    }
    // A slot freed: waiters may get a new server — but never straight from a failed connect (the
    // sweep retries after kConnectBackoffNs), or a connect that fails at once would recurse.
    if (was != ServerConnection::State::connecting) serve_waiters(pool);
}

void Pooler::fail_waiters(Pool& pool, const std::string& reason) {
    std::deque<ClientConnection*> waiting;
    waiting.swap(pool.waiting);
    for (ClientConnection* client : waiting) {
        client->waiting = false;
        pool.counters.wait_us += (now_ns() - client->wait_started_ns) / 1000;
        client->server_unavailable("08006", fmt::format("cannot connect to database \"{}\"", pool.database), reason);
    }
}

// ---- cancel ----------------------------------------------------------------------------------

void Pooler::register_cancel(ClientConnection& client, int32_t& pid, std::string& key) {
    do {
        pid = next_cancel_pid_;
        next_cancel_pid_ = next_cancel_pid_ == INT32_MAX ? 1 : next_cancel_pid_ + 1;
    } while (cancel_keys_.count(pid) != 0);
    uint64_t r = random_();
    key.assign(reinterpret_cast<const char*>(&r), 4);
    cancel_keys_[pid] = &client;
}

void Pooler::cancel(int32_t pid, std::string_view key) {
    auto it = cancel_keys_.find(pid);
    if (it == cancel_keys_.end() || !constant_time_equal(key, it->second->cancel_key())) {
        ++cancels_unmatched_;
        return;
    }
    ServerConnection* server = it->second->server();
    if (server == nullptr || server->state() != ServerConnection::State::linked || !server->cancel_handle()) return;
    server->pool().counters.cancels++;
    // PQcancel blocks (it connects and writes): run it on libuv's thread pool, never on this loop.
    auto* work = new CancelWork{};
    work->req.data = work;
    work->handle = server->cancel_handle();
    work->pooler = this;
    work->server_id = server->id();
    server->cancels_in_flight++;
    uv_queue_work(
        loop_, &work->req,
        [](uv_work_t* req) {
            auto* w = static_cast<CancelWork*>(req->data);
            char error[256];
            if (PQcancel(w->handle.get(), error, sizeof error) == 0) {
                core::log(core::LogLevel::warn, "pool", "cancel request failed: {}", error);
            }
        },
        [](uv_work_t* req, int) {
            auto* w = static_cast<CancelWork*>(req->data);
            w->pooler->cancel_done(w->server_id);
            delete w;
        });
}

void Pooler::cancel_done(uint64_t server_id) {
    auto it = servers_.find(server_id);
    if (it != servers_.end() && it->second->cancels_in_flight > 0) it->second->cancels_in_flight--;
}

// ---- pause, drain, timeouts ------------------------------------------------------------------

std::vector<std::string> Pooler::pause(const std::string& database, bool paused) {
    std::vector<std::string> affected;
    for (const conf::PoolDatabase& db : config_->pool.databases) {
        if (!database.empty() && db.name != database) continue;
        affected.push_back(db.name);
    }
    for (auto& [key, pool] : pools_) {
        if (std::find(affected.begin(), affected.end(), pool->database) == affected.end()) continue;
        pool->paused = paused;
        if (!paused) serve_waiters(*pool);
    }
    // Remembered per database, so a pool first used during the pause waits too.
    for (const std::string& name : affected) {
        if (paused) paused_databases_.insert(name);
        else paused_databases_.erase(name);
    }
    return affected;
}

void Pooler::begin_drain() {
    draining_ = true;
    listeners_.clear();
    probes_.clear();  // a ping in flight finishes (connect_timeout=2) and is dropped
    std::vector<ClientConnection*> clients;
    for (auto& [id, c] : clients_) clients.push_back(c.get());
    for (ClientConnection* c : clients) {
        // Clients between transactions go now; those with work in flight when it is answered.
        ServerConnection* s = c->server();
        bool between = s == nullptr || (s->state() == ServerConnection::State::linked && s->transaction_status() == 'I' &&
                                        c->idle_between_transactions());
        if (between) c->fail("57P01", "terminating connection due to administrator command");
    }
    std::vector<ServerConnection*> idle;
    for (auto& [id, s] : servers_)
        if (s->state() == ServerConnection::State::idle || s->state() == ServerConnection::State::connecting) idle.push_back(s.get());
    for (ServerConnection* s : idle) s->close("shutting down");
}

void Pooler::close_everything() {
    draining_ = true;
    listeners_.clear();
    probes_.clear();
    std::vector<ClientConnection*> clients;
    for (auto& [id, c] : clients_) clients.push_back(c.get());
    for (ClientConnection* c : clients) c->close();
    std::vector<ServerConnection*> servers;
    for (auto& [id, s] : servers_) servers.push_back(s.get());
    for (ServerConnection* s : servers) s->close("shutting down");
    uv_timer_stop(&sweep_timer_);
    uv_close(reinterpret_cast<uv_handle_t*>(&sweep_timer_), nullptr);
}

void Pooler::on_sweep(uv_timer_t* timer) { static_cast<Pooler*>(timer->data)->sweep(); }

void Pooler::sweep() {
    const conf::PoolConfig& cfg = config_->pool;
    uint64_t now = now_ns();
    for (auto& l : listeners_) l->tick(now);
    if (!draining_) {
        for (auto& p : probes_)
            if (!has_working_server(p->database())) p->tick(now, probe_login(p->database()));
    }
    uint64_t wait_limit = ms_to_ns(cfg.query_wait_timeout);
    uint64_t idle_limit = ms_to_ns(cfg.server_idle_timeout);
    uint64_t connect_limit = ms_to_ns(cfg.server_connect_timeout);
    uint64_t idle_tx_limit = ms_to_ns(cfg.idle_transaction_timeout);

    for (auto& [key, pool] : pools_) {
        while (wait_limit > 0 && !pool->waiting.empty() && elapsed(now, pool->waiting.front()->wait_started_ns) > wait_limit) {
            ClientConnection* client = pool->waiting.front();
            pool->waiting.pop_front();
            client->waiting = false;
            pool->counters.wait_us += elapsed(now, client->wait_started_ns) / 1000;
            pool->counters.query_wait_timeouts++;
            client->server_unavailable(
                "57014", "canceling statement due to pool.query_wait_timeout",
                fmt::format("No server connection to database \"{}\" became free within {} ms.", pool->database,
                            cfg.query_wait_timeout.count()));
        }
        if (!pool->paused && !draining_ && !pool->waiting.empty()) serve_waiters(*pool);  // connect retries
        if (!pool->paused && !draining_ && !pool->waiting.empty() &&
            elapsed(now, pool->waiting.front()->wait_started_ns) > kOverflowDelayNs && pool->connecting == 0 &&
            pool->servers < pool->max_servers() && !pool->settings.conninfo.empty()) {
            open_server(*pool);
        }
        std::vector<ServerConnection*> idle = pool->idle;
        for (ServerConnection* s : idle) {
            if (must_retire(*s)) {
                if (!draining_) pool->counters.server_recycles++;
                s->close("recycled");
            } else if (idle_limit > 0 && elapsed(now, s->last_used_ns) > idle_limit) {
                pool->counters.server_idle_closes++;
                s->close("server_idle_timeout");
            }
        }
    }
    // A connect, or the pooler's own query (pre-ping, reset, parameter sync), that the server does
    // not answer within server_connect_timeout: the server is gone or hung. A client waiting on it
    // goes back to the queue (server_closing).
    std::vector<ServerConnection*> late, hung;
    for (auto& [id, s] : servers_) {
        if (connect_limit == 0) break;
        if (s->state() == ServerConnection::State::connecting && elapsed(now, s->created_ns) > connect_limit) {
            late.push_back(s.get());
        } else if (s->state() == ServerConnection::State::internal && elapsed(now, s->internal_since_ns) > connect_limit) {
            hung.push_back(s.get());
        }
    }
    for (ServerConnection* s : late) {
        s->close(fmt::format("timeout after {} ms (pool.server_connect_timeout)", cfg.server_connect_timeout.count()));
    }
    for (ServerConnection* s : hung) {
        if (s->after() == ServerConnection::After::check) s->pool().counters.server_preping_failures++;
        s->close(fmt::format("no answer to the pooler's own query within {} ms (pool.server_connect_timeout)",
                             cfg.server_connect_timeout.count()));
    }
    std::vector<ClientConnection*> expired, idle_in_tx;
    for (auto& [id, c] : clients_) {
        ClientConnection::State st = c->state();
        if (st != ClientConnection::State::ready && st != ClientConnection::State::login_wait &&
            st != ClientConnection::State::closed && elapsed(now, c->connected_ns) > kLoginTimeoutNs) {
            expired.push_back(c.get());
        }
        ServerConnection* s = c->server();
        if (idle_tx_limit > 0 && s != nullptr && s->state() == ServerConnection::State::linked &&
            s->transaction_status() != 'I' && c->idle_between_transactions() && elapsed(now, c->last_activity_ns) > idle_tx_limit) {
            idle_in_tx.push_back(c.get());
        }
    }
    for (ClientConnection* c : expired) c->fail("08P01", "login timeout");
    for (ClientConnection* c : idle_in_tx) {
        c->server()->pool().counters.idle_transaction_timeouts++;
        c->fail("25P03", "terminating connection due to idle-in-transaction timeout",
                fmt::format("The transaction stayed idle longer than {} ms (pool.idle_transaction_timeout).",
                            cfg.idle_transaction_timeout.count()));
    }
}

}  // namespace portico::pool
