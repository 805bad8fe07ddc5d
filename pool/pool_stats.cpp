// The pool's figures for the admin API: /pool JSON (PgBouncer's SHOW POOLS and SHOW STATS fields),
// Prometheus families, and readiness. Runs on the pool thread (the service hops there first).
#include <fmt/format.h>

#include "pool/pooler.hpp"

namespace portico::pool {

namespace {

// Prometheus label values: backslash, double quote and newline escaped (exposition format 0.0.4).
std::string label_value(std::string_view v) {
    std::string out;
    for (char c : v) {
        if (c == '\\' || c == '"') out.push_back('\\');
        if (c == '\n') {
            out += "\\n";
            continue;
        }
        out.push_back(c);
    }
    return out;
}

}  // namespace

nlohmann::json Pooler::stats_json() const {
    nlohmann::json out;
    out["mode"] = transaction_mode_ ? "transaction" : "session";
    out["clients"] = clients_.size();
    out["servers"] = servers_.size();
    out["max_client_conn"] = config_->pool.max_client_conn;
    out["login_failures"] = login_failures_;
    out["cancels_unmatched"] = cancels_unmatched_;
    out["dns_lookups"] = resolver_.lookups;
    out["dns_lookup_failures"] = resolver_.lookup_failures;
    out["draining"] = draining_;
    nlohmann::json pools = nlohmann::json::array();
    uint64_t now = now_ns();
    uint64_t check = static_cast<uint64_t>(config_->pool.server_check_delay.count()) * 1'000'000ull;
    for (const auto& [key, p] : pools_) {
        int used = 0;
        for (const ServerConnection* s : p->idle)
            if (check > 0 && now - s->last_used_ns > check) ++used;
        uint64_t maxwait_us = p->waiting.empty() ? 0 : (now - p->waiting.front()->wait_started_ns) / 1000;
        const PoolCounters& c = p->counters;
        nlohmann::json j;
        j["database"] = p->database;
        j["user"] = p->server_user;
        j["paused"] = p->paused;
        j["pool_size"] = p->settings.pool_size;
        j["max_overflow"] = p->settings.max_overflow;
        // SHOW POOLS
        j["cl_active"] = p->clients - static_cast<int>(p->waiting.size());
        j["cl_waiting"] = p->waiting.size();
        j["sv_active"] = p->linked;
        j["sv_idle"] = static_cast<int>(p->idle.size()) - used;
        j["sv_used"] = used;
        j["sv_login"] = p->connecting;
        j["sv_other"] = p->servers - p->linked - static_cast<int>(p->idle.size()) - p->connecting;  // resetting, pre-pinging
        j["maxwait"] = maxwait_us / 1'000'000;
        j["maxwait_us"] = maxwait_us % 1'000'000;
        // SHOW STATS (totals)
        j["total_xact_count"] = c.transactions;
        j["total_query_count"] = c.queries;
        j["total_received"] = c.bytes_from_clients;
        j["total_sent"] = c.bytes_to_clients;
        j["total_xact_time"] = c.transaction_us;
        j["total_query_time"] = c.query_us;
        j["total_wait_time"] = c.wait_us;
        j["avg_xact_time"] = c.transactions ? c.transaction_us / c.transactions : 0;
        j["avg_query_time"] = c.queries ? c.query_us / c.queries : 0;
        // Portico's decisions
        j["client_waits"] = c.client_waits;
        j["query_wait_timeouts"] = c.query_wait_timeouts;
        j["idle_transaction_timeouts"] = c.idle_transaction_timeouts;
        j["server_connects"] = c.server_connects;
        j["server_connect_failures"] = c.server_connect_failures;
        j["server_resets"] = c.server_resets;
        j["server_param_syncs"] = c.server_param_syncs;
        j["server_recycles"] = c.server_recycles;
        j["server_idle_closes"] = c.server_idle_closes;
        j["server_prepings"] = c.server_prepings;
        j["server_preping_failures"] = c.server_preping_failures;
        j["server_dirty_closes"] = c.server_dirty_closes;
        j["server_broken"] = c.server_broken;
        j["cancels"] = c.cancels;
        j["listens_refused"] = c.listens_refused;
        j["statements_prepared"] = c.statements_prepared;
        j["statements_reused"] = c.statements_reused;
        j["statements_reprepared"] = c.statements_reprepared;
        j["statements_evicted"] = c.statements_evicted;
        j["statements_closed_locally"] = c.statements_closed_locally;
        j["statements_deallocated"] = c.statements_deallocated;
        j["statements_invalidated"] = c.statements_invalidated;
        j["statements_stale"] = c.statements_stale;
        j["statements_registered"] = p->statements.size();
        j["session_resets"] = c.session_resets;
        j["logins"] = c.logins;
        if (!p->last_connect_error.empty()) j["last_connect_error"] = p->last_connect_error;
        pools.push_back(std::move(j));
    }
    out["pools"] = std::move(pools);
    nlohmann::json dbs = nlohmann::json::array();
    for (const conf::PoolDatabase& db : config_->pool.databases) {
        nlohmann::json entry = {{"name", db.name}, {"paused", paused_databases_.count(db.name) != 0}};
        // Reachable: a working server now, or the readiness probe's last ping answered; null
        // before the first ping.
        nlohmann::json reachable = nullptr;
        if (has_working_server(db.name)) reachable = true;
        for (const auto& probe : probes_) {
            if (probe->database() != db.name || reachable == true) continue;
            if (probe->result() != DatabaseProbe::Result::unknown) reachable = probe->result() == DatabaseProbe::Result::ok;
        }
        entry["reachable"] = reachable;
        dbs.push_back(std::move(entry));
    }
    out["databases"] = std::move(dbs);
    nlohmann::json notify = nlohmann::json::array();
    for (const auto& l : listeners_) {
        nlohmann::json j = {{"database", l->database()},      {"channel", l->channel()},
                            {"listening", l->listening()},    {"messages", l->messages},
                            {"invalid", l->invalid},          {"reconnects", l->reconnects},
                            {"connect_failures", l->connect_failures}};
        if (!l->last_error.empty()) j["last_error"] = l->last_error;
        notify.push_back(std::move(j));
    }
    out["notify"] = std::move(notify);
    return out;
}

void Pooler::append_metrics(std::string& out) const {
    struct Family {
        const char* name;
        const char* type;
        const char* help;
        double (*value)(const Pool&, uint64_t now);
    };
    static const Family families[] = {
        {"portico_pool_clients_active", "gauge", "Logged-in clients not waiting for a server.",
         [](const Pool& p, uint64_t) { return double(p.clients - int(p.waiting.size())); }},
        {"portico_pool_clients_waiting", "gauge", "Clients queued for a server.",
         [](const Pool& p, uint64_t) { return double(p.waiting.size()); }},
        {"portico_pool_servers_active", "gauge", "Server connections linked to a client.",
         [](const Pool& p, uint64_t) { return double(p.linked); }},
        {"portico_pool_servers_idle", "gauge", "Server connections idle in the pool.",
         [](const Pool& p, uint64_t) { return double(p.idle.size()); }},
        {"portico_pool_servers_connecting", "gauge", "Server connections being opened.",
         [](const Pool& p, uint64_t) { return double(p.connecting); }},
        {"portico_pool_max_wait_seconds", "gauge", "How long the oldest waiting client has waited.",
         [](const Pool& p, uint64_t now) {
             return p.waiting.empty() ? 0.0 : double(now - p.waiting.front()->wait_started_ns) / 1e9;
         }},
        {"portico_pool_transactions_total", "counter", "Transactions carried (ReadyForQuery idle).",
         [](const Pool& p, uint64_t) { return double(p.counters.transactions); }},
        {"portico_pool_queries_total", "counter", "Command cycles carried (every ReadyForQuery).",
         [](const Pool& p, uint64_t) { return double(p.counters.queries); }},
        {"portico_pool_query_seconds_total", "counter", "Time from a cycle's first message to its ReadyForQuery.",
         [](const Pool& p, uint64_t) { return double(p.counters.query_us) / 1e6; }},
        {"portico_pool_received_bytes_total", "counter", "Bytes received from clients.",
         [](const Pool& p, uint64_t) { return double(p.counters.bytes_from_clients); }},
        {"portico_pool_sent_bytes_total", "counter", "Bytes sent to clients.",
         [](const Pool& p, uint64_t) { return double(p.counters.bytes_to_clients); }},
        {"portico_pool_client_waits_total", "counter", "Times a client queued for a server.",
         [](const Pool& p, uint64_t) { return double(p.counters.client_waits); }},
        {"portico_pool_client_wait_seconds_total", "counter", "Time clients spent queued.",
         [](const Pool& p, uint64_t) { return double(p.counters.wait_us) / 1e6; }},
        {"portico_pool_query_wait_timeouts_total", "counter", "Clients answered 57014 after pool.query_wait_timeout.",
         [](const Pool& p, uint64_t) { return double(p.counters.query_wait_timeouts); }},
        {"portico_pool_idle_transaction_timeouts_total", "counter", "Clients closed after pool.idle_transaction_timeout.",
         [](const Pool& p, uint64_t) { return double(p.counters.idle_transaction_timeouts); }},
        {"portico_pool_server_connects_total", "counter", "Server connections attempted.",
         [](const Pool& p, uint64_t) { return double(p.counters.server_connects); }},
        {"portico_pool_server_connect_failures_total", "counter", "Server connections that failed to open.",
         [](const Pool& p, uint64_t) { return double(p.counters.server_connect_failures); }},
        {"portico_pool_server_resets_total", "counter", "ROLLBACK / DISCARD ALL run before reuse.",
         [](const Pool& p, uint64_t) { return double(p.counters.server_resets); }},
        {"portico_pool_server_param_syncs_total", "counter", "SET/RESET run to give a client its startup parameters.",
         [](const Pool& p, uint64_t) { return double(p.counters.server_param_syncs); }},
        {"portico_pool_server_recycles_total", "counter", "Servers closed for server_lifetime or a changed conninfo.",
         [](const Pool& p, uint64_t) { return double(p.counters.server_recycles); }},
        {"portico_pool_server_idle_closes_total", "counter", "Servers closed for server_idle_timeout or as unneeded overflow.",
         [](const Pool& p, uint64_t) { return double(p.counters.server_idle_closes); }},
        {"portico_pool_server_prepings_total", "counter", "Idle servers checked before reuse (server_check_delay).",
         [](const Pool& p, uint64_t) { return double(p.counters.server_prepings); }},
        {"portico_pool_server_preping_failures_total", "counter", "Pre-pings that found the server gone.",
         [](const Pool& p, uint64_t) { return double(p.counters.server_preping_failures); }},
        {"portico_pool_server_dirty_closes_total", "counter", "Servers closed because their client left mid-result.",
         [](const Pool& p, uint64_t) { return double(p.counters.server_dirty_closes); }},
        {"portico_pool_server_broken_total", "counter", "Servers lost while carrying a client's work.",
         [](const Pool& p, uint64_t) { return double(p.counters.server_broken); }},
        {"portico_pool_cancels_total", "counter", "Cancel requests forwarded to a server.",
         [](const Pool& p, uint64_t) { return double(p.counters.cancels); }},
        {"portico_pool_listens_refused_total", "counter", "LISTEN refused in transaction mode (0A000).",
         [](const Pool& p, uint64_t) { return double(p.counters.listens_refused); }},
        {"portico_pool_statements_prepared_total", "counter", "Clients' named statements prepared on a server that lacked them.",
         [](const Pool& p, uint64_t) { return double(p.counters.statements_prepared); }},
        {"portico_pool_statements_reused_total", "counter", "Clients' Parse answered by the pool: the server had the statement.",
         [](const Pool& p, uint64_t) { return double(p.counters.statements_reused); }},
        {"portico_pool_statements_reprepared_total", "counter", "Statements prepared again on another server before a Bind or Describe.",
         [](const Pool& p, uint64_t) { return double(p.counters.statements_reprepared); }},
        {"portico_pool_statements_evicted_total", "counter", "Statements closed on a server by the max_prepared_statements LRU.",
         [](const Pool& p, uint64_t) { return double(p.counters.statements_evicted); }},
        {"portico_pool_statements_closed_locally_total", "counter", "Clients' Close of a named statement answered by the pool.",
         [](const Pool& p, uint64_t) { return double(p.counters.statements_closed_locally); }},
        {"portico_pool_statements_deallocated_total", "counter", "SQL DEALLOCATE / DISCARD ALL applied to a client's own statements.",
         [](const Pool& p, uint64_t) { return double(p.counters.statements_deallocated); }},
        {"portico_pool_statements_invalidated_total", "counter", "Statements renamed after a stale plan or new result columns (DDL).",
         [](const Pool& p, uint64_t) { return double(p.counters.statements_invalidated); }},
        {"portico_pool_statements_stale_total", "counter", "Binds refused with 'cached plan must not change result type': the client's columns changed.",
         [](const Pool& p, uint64_t) { return double(p.counters.statements_stale); }},
        {"portico_pool_session_resets_total", "counter", "Servers reset before reuse because a client changed session state.",
         [](const Pool& p, uint64_t) { return double(p.counters.session_resets); }},
    };
    uint64_t now = now_ns();
    for (const Family& f : families) {
        out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", f.name, f.help, f.name, f.type);
        for (const auto& [key, p] : pools_) {
            out += fmt::format("{}{{database=\"{}\",user=\"{}\"}} {}\n", f.name, label_value(p->database),
                               label_value(p->server_user), f.value(*p, now));
        }
    }
    if (!listeners_.empty()) {
        struct NotifyFamily {
            const char* name;
            const char* type;
            const char* help;
            double (*value)(const NotifyListener&);
        };
        static const NotifyFamily notify_families[] = {
            {"portico_cache_notify_listening", "gauge", "1 while LISTEN on cache.notify_channel is established.",
             [](const NotifyListener& l) { return l.listening() ? 1.0 : 0.0; }},
            {"portico_cache_notify_messages_total", "counter", "Invalidation notifications received.",
             [](const NotifyListener& l) { return double(l.messages); }},
            {"portico_cache_notify_invalid_total", "counter", "Notifications whose payload named nothing to purge.",
             [](const NotifyListener& l) { return double(l.invalid); }},
            {"portico_cache_notify_reconnects_total", "counter", "Times LISTEN was established again after a loss (the cache was cleared).",
             [](const NotifyListener& l) { return double(l.reconnects); }},
        };
        for (const NotifyFamily& f : notify_families) {
            out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", f.name, f.help, f.name, f.type);
            for (const auto& l : listeners_) {
                out += fmt::format("{}{{database=\"{}\"}} {}\n", f.name, label_value(l->database()), f.value(*l));
            }
        }
    }
    out += fmt::format("# HELP portico_pool_client_connections Client connections to the pool, logging in included.\n"
                       "# TYPE portico_pool_client_connections gauge\nportico_pool_client_connections {}\n",
                       clients_.size());
    out += fmt::format("# HELP portico_pool_login_failures_total Client logins refused (wrong password).\n"
                       "# TYPE portico_pool_login_failures_total counter\nportico_pool_login_failures_total {}\n",
                       login_failures_);
    out += fmt::format("# HELP portico_pool_dns_lookups_total Host name lookups for server conninfos (answers are kept 15 s).\n"
                       "# TYPE portico_pool_dns_lookups_total counter\nportico_pool_dns_lookups_total {}\n"
                       "# HELP portico_pool_dns_lookup_failures_total Host name lookups that found no address.\n"
                       "# TYPE portico_pool_dns_lookup_failures_total counter\nportico_pool_dns_lookup_failures_total {}\n",
                       resolver_.lookups, resolver_.lookup_failures);
}

std::string Pooler::readiness() const {
    for (const auto& probe : probes_) {
        if (has_working_server(probe->database())) continue;
        // A server connect that failed after the last answered ping says more than the ping.
        for (const auto& [key, p] : pools_) {
            if (p->database == probe->database() && p->servers == 0 && !p->last_connect_error.empty() &&
                p->last_connect_failure_ns > probe->last_ok_ns()) {
                return fmt::format("pool database {}: {}", p->database, p->last_connect_error);
            }
        }
        if (std::string reason = probe->reason(); !reason.empty()) return reason;
    }
    return {};
}

}  // namespace portico::pool
