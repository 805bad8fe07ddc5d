// to_yaml(): the effective configuration as YAML that load_string() reads back, secrets redacted.
#include <yaml-cpp/yaml.h>

#include <fmt/format.h>

#include "conf/loader.hpp"
#include "conf/redact.hpp"
#include "conf/units.hpp"

namespace portico::conf {
namespace {

using YAML::BeginMap;
using YAML::EndMap;
using YAML::Key;
using YAML::Value;

void kv(YAML::Emitter& out, const char* key, const std::string& value) {
    out << Key << key << Value << value;
}
void kv(YAML::Emitter& out, const char* key, bool value) {
    out << Key << key << Value << (value ? "true" : "false");
}
void kv(YAML::Emitter& out, const char* key, int value) { out << Key << key << Value << value; }
void kv(YAML::Emitter& out, const char* key, Duration value) { kv(out, key, format_duration(value)); }
void size_kv(YAML::Emitter& out, const char* key, uint64_t value) { kv(out, key, format_size(value)); }
void null_or(YAML::Emitter& out, const char* key, const std::string& value) {
    out << Key << key << Value;
    if (value.empty()) out << YAML::Null;
    else out << value;
}
void list(YAML::Emitter& out, const char* key, const std::vector<std::string>& items) {
    out << Key << key << Value << YAML::Flow << YAML::BeginSeq;
    for (const auto& i : items) out << i;
    out << YAML::EndSeq;
}

void emit_static(YAML::Emitter& out, const RouteStatic& s) {
    out << Key << "static" << Value << BeginMap;
    kv(out, "root", s.root);
    kv(out, "cache_control", s.cache_control);
    kv(out, "index", s.index);
    kv(out, "precompressed", s.precompressed);
    out << Key << "fallback" << Value;
    if (s.fallback_upstream) out << "upstream";
    else out << YAML::Null;
    out << EndMap;
}

void emit_rate_limit(YAML::Emitter& out, const RouteRateLimit& r) {
    out << Key << "rate_limit" << Value << BeginMap;
    kv(out, "rate", r.rate.text);
    out << Key << "burst" << Value << r.burst;
    kv(out, "key", r.key);
    kv(out, "dry_run", r.dry_run);
    out << EndMap;
}

// Patterns are printed as written (unset fields stay unset, so they keep inheriting); the
// resolved table follows as a comment.
void emit_policy(YAML::Emitter& out, const RoutePolicy& p) {
    out << BeginMap;
    if (p.timeout) kv(out, "timeout", *p.timeout);
    const RouteCache& c = p.cache;
    if (c.enabled || c.ttl || c.stale_while_revalidate || c.stale_if_error || c.store_set_cookie) {
        out << Key << "cache" << Value << BeginMap;
        if (c.enabled) kv(out, "enabled", *c.enabled);
        if (c.ttl) kv(out, "ttl", *c.ttl);
        if (c.stale_while_revalidate) kv(out, "stale_while_revalidate", *c.stale_while_revalidate);
        if (c.stale_if_error) kv(out, "stale_if_error", *c.stale_if_error);
        if (c.store_set_cookie) kv(out, "store_set_cookie", *c.store_set_cookie);
        out << EndMap;
    }
    if (p.static_files) emit_static(out, *p.static_files);
    if (p.rate_limit) emit_rate_limit(out, *p.rate_limit);
    if (p.compression.enabled || p.compression.level) {
        out << Key << "compression" << Value << BeginMap;
        if (p.compression.enabled) kv(out, "enabled", *p.compression.enabled);
        if (p.compression.level) kv(out, "level", *p.compression.level);
        out << EndMap;
    }
    out << EndMap;
}

// global_defaults with every inheritable value filled in: what a pattern inherits.
RoutePolicy effective_global(const Config& c) {
    RoutePolicy g = c.global_defaults;
    Route defaults;
    g.timeout = g.timeout.value_or(defaults.timeout);
    g.cache.enabled = g.cache.enabled.value_or(defaults.cache_enabled);
    g.cache.ttl = g.cache.ttl.value_or(defaults.cache_ttl);
    g.cache.stale_while_revalidate = g.cache.stale_while_revalidate.value_or(defaults.stale_while_revalidate);
    g.cache.stale_if_error = g.cache.stale_if_error.value_or(defaults.stale_if_error);
    g.cache.store_set_cookie = g.cache.store_set_cookie.value_or(defaults.cache_store_set_cookie);
    g.compression.enabled = g.compression.enabled.value_or(c.compression.enabled);
    g.compression.level = g.compression.level.value_or(c.compression.level);
    return g;
}

std::string describe_route(const Route& r) {
    std::string s = fmt::format("{}: timeout {}", r.pattern, format_duration(r.timeout));
    if (r.cache_enabled)
        s += fmt::format(", cache ttl {} swr {} sie {}", format_duration(r.cache_ttl),
                         format_duration(r.stale_while_revalidate), format_duration(r.stale_if_error));
    else
        s += ", cache off";
    s += r.compression_enabled ? fmt::format(", gzip {}", r.compression_level) : ", gzip off";
    if (r.static_files)
        s += fmt::format(", static {}{}", r.static_files->root,
                         r.static_files->fallback_upstream ? " (else upstream)" : "");
    if (r.rate_limit)
        s += fmt::format(", rate {} burst {}{}", r.rate_limit->rate.text, r.rate_limit->burst,
                         r.rate_limit->dry_run ? " (dry run)" : "");
    return s;
}

}  // namespace

std::string to_yaml(const Config& c) {
    YAML::Emitter out;
    out.SetIndent(2);
    out << YAML::Comment(fmt::format("effective configuration from {}", c.source));
    out << BeginMap;
    out << Key << "workers" << Value;
    if (c.workers_auto) out << "auto" << YAML::Comment(fmt::format("{} on this machine", c.workers));
    else out << c.workers;
    kv(out, "listen", c.listen.text);
    out << Key << "trusted_proxies" << Value << YAML::Flow << YAML::BeginSeq;
    for (const Cidr& t : c.trusted_proxies) out << t.text;
    out << YAML::EndSeq;

    out << Key << "upstream" << Value << BeginMap;
    kv(out, "address", c.upstream.address.text);
    kv(out, "keepalive", c.upstream.keepalive);
    kv(out, "connect_timeout", c.upstream.connect_timeout);
    kv(out, "read_timeout", c.upstream.read_timeout);
    kv(out, "max_connections", c.upstream.max_connections);
    kv(out, "queue_timeout", c.upstream.queue_timeout);
    out << EndMap;

    out << Key << "limits" << Value << BeginMap;
    size_kv(out, "max_header_bytes", c.limits.max_header_bytes);
    size_kv(out, "max_body_bytes", c.limits.max_body_bytes);
    kv(out, "header_timeout", c.limits.header_timeout);
    kv(out, "idle_timeout", c.limits.idle_timeout);
    kv(out, "max_connections", c.limits.max_connections);
    kv(out, "drain_timeout", c.limits.drain_timeout);
    out << EndMap;

    out << Key << "compression" << Value << BeginMap;
    kv(out, "enabled", c.compression.enabled);
    kv(out, "level", c.compression.level);
    size_kv(out, "min_size", c.compression.min_size);
    list(out, "types", c.compression.types);
    out << EndMap;

    out << Key << "cache" << Value << BeginMap;
    kv(out, "enabled", c.cache.enabled);
    kv(out, "path", c.cache.path);
    size_kv(out, "max_size", c.cache.max_size);
    size_kv(out, "max_object_size", c.cache.max_object_size);
    kv(out, "lock_timeout", c.cache.lock_timeout);
    kv(out, "invalidate_on_unsafe", c.cache.invalidate_on_unsafe);
    out << Key << "key" << Value << BeginMap;
    kv(out, "sort_query", c.cache.key.sort_query);
    list(out, "ignore_params", c.cache.key.ignore_params);
    out << EndMap;
    null_or(out, "notify_channel", c.cache.notify_channel);
    out << EndMap;

    out << Key << "routes" << Value << BeginMap;
    out << Key << "global_defaults" << Value;
    emit_policy(out, effective_global(c));
    out << Key << "patterns" << Value;
    if (c.patterns.empty()) {
        out << YAML::Flow << BeginMap << EndMap;
    } else {
        out << BeginMap;
        for (const RoutePolicy& p : c.patterns) {
            out << Key << p.pattern << Value;
            emit_policy(out, p);
        }
        out << EndMap;
    }
    out << EndMap;

    if (c.pool_present) {
        const PoolConfig& p = c.pool;
        out << Key << "pool" << Value << BeginMap;
        kv(out, "enabled", p.enabled);
        kv(out, "socket_dir", p.socket_dir);
        kv(out, "port", p.port);
        null_or(out, "listen_tcp", p.listen_tcp ? p.listen_tcp->text : "");
        kv(out, "mode", p.mode);
        out << Key << "auth" << Value << BeginMap;
        kv(out, "type", p.auth.type);
        null_or(out, "file", p.auth.file);
        out << EndMap;
        kv(out, "max_client_conn", p.max_client_conn);
        kv(out, "default_pool_size", p.default_pool_size);
        kv(out, "max_overflow", p.max_overflow);
        kv(out, "query_wait_timeout", p.query_wait_timeout);
        kv(out, "server_connect_timeout", p.server_connect_timeout);
        kv(out, "server_idle_timeout", p.server_idle_timeout);
        kv(out, "server_lifetime", p.server_lifetime);
        kv(out, "server_check_delay", p.server_check_delay);
        kv(out, "idle_transaction_timeout", p.idle_transaction_timeout);
        kv(out, "max_prepared_statements", p.max_prepared_statements);
        out << Key << "databases" << Value;
        if (p.databases.empty()) {
            out << YAML::Flow << BeginMap << EndMap;
        } else {
            out << BeginMap;
            for (const PoolDatabase& db : p.databases) {
                out << Key << db.name << Value << BeginMap;
                kv(out, "conninfo", redact_conninfo(db.conninfo));
                kv(out, "pool_size", db.pool_size);
                out << EndMap;
            }
            out << EndMap;
        }
        out << EndMap;
    }

    out << Key << "admin" << Value << BeginMap;
    kv(out, "listen", c.admin.listen.text);
    null_or(out, "token_file", c.admin.token_file);  // a path, not a secret: kept
    out << EndMap;

    out << Key << "log" << Value << BeginMap;
    kv(out, "level", c.log.level);
    kv(out, "format", c.log.format);
    kv(out, "access_log", c.log.access_log);
    kv(out, "slow_request", c.log.slow_request);
    out << EndMap;
    out << EndMap;

    std::string text = out.c_str();
    text += "\n# files read:";
    for (const std::string& f : c.files) text += " " + f;
    text += "\n# resolved routes, in match order:\n";
    for (const Route& r : c.routes) text += "#   " + describe_route(r) + "\n";
    if (!c.pool_present) text += "# pool: not configured\n";
    return text;
}

}  // namespace portico::conf
