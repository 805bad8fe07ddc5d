// One function per YAML section: keys allowed, values typed and range-checked, cross-field rules.
#include "conf/sections.hpp"

#include <charconv>

#include <fmt/format.h>

#include "conf/address.hpp"
#include "conf/decode.hpp"

namespace portico::conf::detail {
namespace {

struct Ctx {
    const Document& doc;

    // Relative paths in a file are relative to that file, like include:.
    std::string resolve(const Node& n, const std::string& value) const {
        auto it = doc.dirs.find(n.mark.file);
        return it == doc.dirs.end() ? value : join_path(it->second, value);
    }
};

std::string key_path(std::string_view section, std::string_view key) {
    return section.empty() ? std::string(key) : fmt::format("{}.{}", section, key);
}

}  // namespace

void decode_workers(const Node& n, std::string_view path, Config& c) {
    if (n.is_scalar() && n.text == "auto") {
        c.workers_auto = true;
        return;
    }
    int v = 0;
    const char* end = n.text.data() + n.text.size();
    auto [ptr, ec] = std::from_chars(n.text.data(), end, v);
    if (!n.is_scalar() || n.text.empty() || ec != std::errc{} || ptr != end || v < 1 || v > kMaxWorkers)
        fail(n.mark, fmt::format("{}: expected auto or a whole number 1..{}, got {}", path, kMaxWorkers,
                                 n.describe()));
    c.workers_auto = false;
    c.workers = v;
}

namespace {

void decode_upstream(const Node& n, UpstreamConfig& u) {
    expect_keys(n, "upstream", {"address", "keepalive", "connect_timeout", "read_timeout",
                                "max_connections", "queue_timeout"});
    with(n, "address", [&](const Node& v) { u.address = to_address(v, "upstream.address", PortZero::refuse); });
    with(n, "keepalive", [&](const Node& v) { u.keepalive = to_int(v, "upstream.keepalive", 0, 100000); });
    with(n, "connect_timeout", [&](const Node& v) {
        u.connect_timeout = to_duration(v, "upstream.connect_timeout", Duration{1});
    });
    with(n, "read_timeout", [&](const Node& v) {
        u.read_timeout = to_duration(v, "upstream.read_timeout", Duration{1});
    });
    with(n, "max_connections", [&](const Node& v) {
        u.max_connections = to_int(v, "upstream.max_connections", 0, 1000000);
    });
    with(n, "queue_timeout", [&](const Node& v) { u.queue_timeout = to_duration(v, "upstream.queue_timeout"); });
}

void decode_limits(const Node& n, LimitsConfig& l) {
    expect_keys(n, "limits", {"max_header_bytes", "max_body_bytes", "header_timeout", "idle_timeout",
                              "max_connections", "drain_timeout"});
    // Every connection may hold a header buffer this big: below 1KiB real browsers fail, above
    // 1MiB a few thousand idle connections exhaust memory.
    with(n, "max_header_bytes", [&](const Node& v) {
        l.max_header_bytes = to_size(v, "limits.max_header_bytes", 1024, 1024 * 1024);
    });
    with(n, "max_body_bytes", [&](const Node& v) { l.max_body_bytes = to_size(v, "limits.max_body_bytes"); });
    with(n, "header_timeout", [&](const Node& v) {
        l.header_timeout = to_duration(v, "limits.header_timeout", Duration{1});
    });
    with(n, "idle_timeout", [&](const Node& v) {
        l.idle_timeout = to_duration(v, "limits.idle_timeout", Duration{1});
    });
    with(n, "max_connections", [&](const Node& v) {
        l.max_connections = to_int(v, "limits.max_connections", 1, 1000000);
    });
    with(n, "drain_timeout", [&](const Node& v) { l.drain_timeout = to_duration(v, "limits.drain_timeout"); });
}

void decode_compression(const Node& n, CompressionConfig& c) {
    expect_keys(n, "compression", {"enabled", "level", "min_size", "types"});
    with(n, "enabled", [&](const Node& v) { c.enabled = to_bool(v, "compression.enabled"); });
    with(n, "level", [&](const Node& v) { c.level = to_int(v, "compression.level", 1, 9); });
    with(n, "min_size", [&](const Node& v) { c.min_size = to_size(v, "compression.min_size"); });
    with(n, "types", [&](const Node& v) {
        c.types = to_string_list(v, "compression.types");
        for (size_t i = 0; i < c.types.size(); ++i) {
            const std::string& t = c.types[i];
            size_t slash = t.find('/');
            if (slash == std::string::npos || slash == 0 || slash + 1 == t.size())
                fail(v.items[i].mark, fmt::format("compression.types: expected a media type like "
                                                  "text/html or text/*, got '{}'", t));
        }
    });
}

void decode_cache(const Node& n, CacheConfig& c) {
    expect_keys(n, "cache", {"enabled", "path", "max_size", "max_object_size", "lock_timeout",
                                "invalidate_on_unsafe", "key", "notify_channel"});
    with(n, "enabled", [&](const Node& v) { c.enabled = to_bool(v, "cache.enabled"); });
    with(n, "path", [&](const Node& v) { c.path = to_absolute_path(v, "cache.path"); });
    with(n, "max_size", [&](const Node& v) { c.max_size = to_size(v, "cache.max_size", 1024 * 1024); });
    with(n, "max_object_size", [&](const Node& v) { c.max_object_size = to_size(v, "cache.max_object_size", 1); });
    with(n, "lock_timeout", [&](const Node& v) { c.lock_timeout = to_duration(v, "cache.lock_timeout"); });
    with(n, "invalidate_on_unsafe", [&](const Node& v) {
        c.invalidate_on_unsafe = to_bool(v, "cache.invalidate_on_unsafe");
    });
    with(n, "key", [&](const Node& k) {
        expect_keys(k, "cache.key", {"sort_query", "ignore_params"});
        with(k, "sort_query", [&](const Node& v) { c.key.sort_query = to_bool(v, "cache.key.sort_query"); });
        with(k, "ignore_params", [&](const Node& v) {
            c.key.ignore_params = to_string_list(v, "cache.key.ignore_params");
        });
    });
    with(n, "notify_channel", [&](const Node& v) {
        c.notify_channel = to_optional_string(v, "cache.notify_channel").value_or("");
        // LISTEN takes an SQL identifier; refusing anything else avoids quoting it.
        const std::string& s = c.notify_channel;
        bool ok = s.size() <= 63;
        for (size_t i = 0; i < s.size(); ++i) {
            char ch = s[i];
            bool letter = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';
            ok = ok && (letter || (i > 0 && ch >= '0' && ch <= '9'));
        }
        if (!ok)
            fail(v.mark, fmt::format("cache.notify_channel: expected a Postgres identifier (letters, "
                                     "digits, '_', at most 63), got '{}'", s));
    });
}

void check_pattern(const std::string& pattern, const Mark& mark) {
    if (pattern == "*") return;
    if (pattern.empty() || pattern.front() != '/')
        fail(mark, fmt::format("route pattern '{}' must start with '/' or be '*'", pattern));
    size_t star = pattern.find('*');
    if (star != std::string::npos && star + 1 != pattern.size())
        fail(mark, fmt::format("route pattern '{}': '*' is only allowed at the end, as in /static/*",
                               pattern));
    if (pattern.find_first_of("?# \t") != std::string::npos)
        fail(mark, fmt::format("route pattern '{}' must be a path without query, fragment or spaces",
                               pattern));
}

RoutePolicy decode_policy(const Node& n, const std::string& section,
                          const std::string& pattern) {
    RoutePolicy p;
    p.pattern = pattern;
    p.mark = n.mark;
    expect_keys(n, section, {"timeout", "cache", "static", "rate_limit", "compression"});
    with(n, "timeout", [&](const Node& v) { p.timeout = to_duration(v, key_path(section, "timeout"), Duration{1}); });
    with(n, "cache", [&](const Node& c) {
        std::string s = key_path(section, "cache");
        expect_keys(c, s, {"enabled", "ttl", "stale_while_revalidate", "stale_if_error", "store_set_cookie"});
        with(c, "enabled", [&](const Node& v) { p.cache.enabled = to_bool(v, key_path(s, "enabled")); });
        with(c, "ttl", [&](const Node& v) { p.cache.ttl = to_duration(v, key_path(s, "ttl")); });
        with(c, "stale_while_revalidate", [&](const Node& v) {
            p.cache.stale_while_revalidate = to_duration(v, key_path(s, "stale_while_revalidate"));
        });
        with(c, "stale_if_error", [&](const Node& v) {
            p.cache.stale_if_error = to_duration(v, key_path(s, "stale_if_error"));
        });
        with(c, "store_set_cookie", [&](const Node& v) {
            p.cache.store_set_cookie = to_bool(v, key_path(s, "store_set_cookie"));
        });
    });
    with(n, "static", [&](const Node& st) {
        std::string s = key_path(section, "static");
        expect_keys(st, s, {"root", "cache_control", "index", "precompressed", "fallback"});
        RouteStatic r;
        const Node* root = st.find("root");
        if (root == nullptr) fail(st.mark, fmt::format("{}: 'root' is required", s));
        r.root = to_absolute_path(*root, key_path(s, "root"));
        with(st, "cache_control", [&](const Node& v) { r.cache_control = to_string(v, key_path(s, "cache_control")); });
        with(st, "index", [&](const Node& v) {
            r.index = to_optional_string(v, key_path(s, "index")).value_or("");
            if (r.index.find('/') != std::string::npos || r.index == "." || r.index == "..")
                fail(v.mark, fmt::format("{}: expected a file name such as index.html, got '{}'",
                                         key_path(s, "index"), r.index));
        });
        with(st, "precompressed", [&](const Node& v) { r.precompressed = to_bool(v, key_path(s, "precompressed")); });
        with(st, "fallback", [&](const Node& v) {
            // Only one fallback exists; null (the default) answers 404 for a missing file.
            r.fallback_upstream = !v.is_null() && !to_enum(v, key_path(s, "fallback"), {"upstream"}).empty();
        });
        p.static_files = std::move(r);
    });
    with(n, "rate_limit", [&](const Node& rl) {
        std::string s = key_path(section, "rate_limit");
        expect_keys(rl, s, {"rate", "burst", "key", "dry_run"});
        RouteRateLimit r;
        const Node* rate = rl.find("rate");
        if (rate == nullptr) fail(rl.is_null() ? n.mark : rl.mark, fmt::format("{}: 'rate' is required", s));
        r.rate = to_rate(*rate, key_path(s, "rate"));
        // Without a burst the bucket holds one second's worth, and at least one request.
        r.burst = std::max(1.0, r.rate.per_second);
        with(rl, "burst", [&](const Node& v) { r.burst = to_number(v, key_path(s, "burst"), 1, 1e9); });
        with(rl, "key", [&](const Node& v) {
            r.key = to_nonempty_string(v, key_path(s, "key"));
            bool header = r.key.rfind("header:", 0) == 0 && r.key.size() > 7;
            bool token = true;  // RFC 9110 §5.1: field names are tokens
            for (char ch : std::string_view(r.key).substr(header ? 7 : 0))
                token = token && ch > 0x20 && ch < 0x7f && std::string_view("\"(),/:;<=>?@[\\]{}").find(ch) == std::string_view::npos;
            if (r.key != "client_ip" && !(header && token))
                fail(v.mark, fmt::format("{}: expected client_ip or header:NAME (e.g. header:X-Api-Key), "
                                         "got '{}'", key_path(s, "key"), r.key));
        });
        with(rl, "dry_run", [&](const Node& v) { r.dry_run = to_bool(v, key_path(s, "dry_run")); });
        p.rate_limit = std::move(r);
    });
    with(n, "compression", [&](const Node& c) {
        std::string s = key_path(section, "compression");
        expect_keys(c, s, {"enabled", "level"});
        with(c, "enabled", [&](const Node& v) { p.compression.enabled = to_bool(v, key_path(s, "enabled")); });
        with(c, "level", [&](const Node& v) { p.compression.level = to_int(v, key_path(s, "level"), 1, 9); });
    });
    return p;
}

void decode_routes(const Node& n, Config& c) {
    expect_keys(n, "routes", {"global_defaults", "patterns"});
    with(n, "global_defaults", [&](const Node& g) {
        c.global_defaults = decode_policy(g, "routes.global_defaults", "*");
    });
    with(n, "patterns", [&](const Node& ps) {
        if (ps.is_null()) return;
        if (!ps.is_map())
            fail(ps.mark, fmt::format("routes.patterns: expected a map of pattern: policy, got {}", ps.describe()));
        for (const Entry& e : ps.entries) {  // file order, as yaml-cpp keeps it
            check_pattern(e.key, e.key_mark);
            RoutePolicy p = decode_policy(e.value, fmt::format("routes.patterns['{}']", e.key), e.key);
            p.mark = e.key_mark;
            c.patterns.push_back(std::move(p));
        }
    });
}

void decode_pool(const Ctx& ctx, const Node& n, PoolConfig& p) {
    expect_keys(n, "pool", {"enabled", "socket_dir", "port", "listen_tcp", "mode", "auth", "max_client_conn",
                            "default_pool_size", "max_overflow", "query_wait_timeout", "server_connect_timeout",
                            "server_idle_timeout", "server_lifetime", "server_check_delay",
                            "idle_transaction_timeout", "max_prepared_statements", "databases"});
    with(n, "enabled", [&](const Node& v) { p.enabled = to_bool(v, "pool.enabled"); });
    with(n, "socket_dir", [&](const Node& v) { p.socket_dir = to_absolute_path(v, "pool.socket_dir"); });
    with(n, "port", [&](const Node& v) { p.port = to_int(v, "pool.port", 1, 65535); });
    with(n, "listen_tcp", [&](const Node& v) {
        if (v.is_null()) p.listen_tcp.reset();
        else p.listen_tcp = to_address(v, "pool.listen_tcp", PortZero::allow);
    });
    with(n, "mode", [&](const Node& v) { p.mode = to_enum(v, "pool.mode", {"transaction", "session"}); });
    with(n, "auth", [&](const Node& a) {
        expect_keys(a, "pool.auth", {"type", "file"});
        with(a, "type", [&](const Node& v) {
            p.auth.type = to_enum(v, "pool.auth.type", {"trust", "peer", "scram-sha-256", "md5"});
        });
        with(a, "file", [&](const Node& v) {
            auto f = to_optional_string(v, "pool.auth.file");
            p.auth.file = f && !f->empty() ? ctx.resolve(v, *f) : "";
        });
        if ((p.auth.type == "scram-sha-256" || p.auth.type == "md5") && p.auth.file.empty()) {
            const Node* t = a.find("type");
            fail(t ? t->mark : a.mark, fmt::format("pool.auth: type {} needs 'file' (a userlist of "
                                                   "\"user\" \"secret\" lines)", p.auth.type));
        }
    });
    with(n, "max_client_conn", [&](const Node& v) { p.max_client_conn = to_int(v, "pool.max_client_conn", 1, 1000000); });
    with(n, "default_pool_size", [&](const Node& v) { p.default_pool_size = to_int(v, "pool.default_pool_size", 1, 10000); });
    with(n, "max_overflow", [&](const Node& v) { p.max_overflow = to_int(v, "pool.max_overflow", 0, 10000); });
    // 0 turns each of these off, as in PgBouncer.
    with(n, "query_wait_timeout", [&](const Node& v) { p.query_wait_timeout = to_duration(v, "pool.query_wait_timeout"); });
    with(n, "server_connect_timeout", [&](const Node& v) {
        p.server_connect_timeout = to_duration(v, "pool.server_connect_timeout", Duration{1});
    });
    with(n, "server_idle_timeout", [&](const Node& v) { p.server_idle_timeout = to_duration(v, "pool.server_idle_timeout"); });
    with(n, "server_lifetime", [&](const Node& v) { p.server_lifetime = to_duration(v, "pool.server_lifetime"); });
    with(n, "server_check_delay", [&](const Node& v) { p.server_check_delay = to_duration(v, "pool.server_check_delay"); });
    with(n, "idle_transaction_timeout", [&](const Node& v) {
        p.idle_transaction_timeout = to_duration(v, "pool.idle_transaction_timeout");
    });
    with(n, "max_prepared_statements", [&](const Node& v) {
        p.max_prepared_statements = to_int(v, "pool.max_prepared_statements", 0, 1000000);
    });
    with(n, "databases", [&](const Node& dbs) {
        if (dbs.is_null()) return;
        if (!dbs.is_map())
            fail(dbs.mark, fmt::format("pool.databases: expected a map of name: {{conninfo, pool_size}}, got {}",
                                       dbs.describe()));
        for (const Entry& e : dbs.entries) {
            std::string s = fmt::format("pool.databases.{}", e.key);
            if (e.key.empty()) fail(e.key_mark, "pool.databases: a database name must not be empty");
            expect_keys(e.value, s, {"conninfo", "pool_size"});
            PoolDatabase db;
            db.name = e.key;
            db.mark = e.key_mark;
            const Node* ci = e.value.find("conninfo");
            if (ci == nullptr) fail(e.key_mark, fmt::format("{}: 'conninfo' is required", s));
            db.conninfo = to_nonempty_string(*ci, s + ".conninfo");
            with(e.value, "pool_size", [&](const Node& v) { db.pool_size = to_int(v, s + ".pool_size", 0, 10000); });
            p.databases.push_back(std::move(db));
        }
    });
}

void decode_admin(const Ctx& ctx, const Node& n, AdminConfig& a) {
    expect_keys(n, "admin", {"listen", "token_file"});
    with(n, "listen", [&](const Node& v) { a.listen = to_address(v, "admin.listen", PortZero::allow); });
    with(n, "token_file", [&](const Node& v) {
        auto f = to_optional_string(v, "admin.token_file");
        a.token_file = f && !f->empty() ? ctx.resolve(v, *f) : "";
    });
}

void decode_log(const Ctx& ctx, const Node& n, LogConfig& l) {
    expect_keys(n, "log", {"level", "format", "access_log", "slow_request"});
    with(n, "level", [&](const Node& v) { l.level = to_enum(v, "log.level", {"debug", "info", "warn", "error"}); });
    with(n, "format", [&](const Node& v) { l.format = to_enum(v, "log.format", {"text", "json"}); });
    with(n, "access_log", [&](const Node& v) {
        std::string s = to_nonempty_string(v, "log.access_log");
        l.access_log = (s == "stdout" || s == "stderr" || s == "off") ? s : ctx.resolve(v, s);
    });
    with(n, "slow_request", [&](const Node& v) { l.slow_request = to_duration(v, "log.slow_request"); });
}

bool same_endpoint(const Address& a, const Address& b) {
    if (a.kind != b.kind) return false;
    if (a.kind == Address::Kind::unix_socket) return a.path == b.path;
    return a.port != 0 && a.port == b.port && a.host == b.host;  // port 0 never collides
}

}  // namespace

Config decode_config(const Document& doc) {
    Ctx ctx{doc};
    const Node& root = doc.root;
    Config c;
    c.trusted_proxies = {};
    expect_keys(root, "", {"include", "workers", "listen", "trusted_proxies", "upstream", "limits",
                           "compression", "cache", "routes", "pool", "admin", "log"});
    // Defaults that are not plain values in schema.hpp.
    for (const char* t : {"127.0.0.1/32", "::1/128"}) c.trusted_proxies.push_back(*parse_cidr(t));

    with(root, "workers", [&](const Node& v) { decode_workers(v, "workers", c); });
    with(root, "listen", [&](const Node& v) { c.listen = to_address(v, "listen", PortZero::allow); });
    with(root, "trusted_proxies", [&](const Node& v) {
        c.trusted_proxies.clear();
        if (v.is_null()) return;
        if (!v.is_seq()) fail(v.mark, fmt::format("trusted_proxies: expected a list of CIDR blocks, got {}", v.describe()));
        for (const Node& item : v.items) {
            std::string s = to_nonempty_string(item, "trusted_proxies");
            auto cidr = parse_cidr(s);
            if (!cidr) fail(item.mark, "trusted_proxies: " + cidr.error);
            c.trusted_proxies.push_back(*cidr);
        }
    });
    with(root, "upstream", [&](const Node& v) { decode_upstream(v, c.upstream); });
    with(root, "limits", [&](const Node& v) { decode_limits(v, c.limits); });
    with(root, "compression", [&](const Node& v) { decode_compression(v, c.compression); });
    with(root, "cache", [&](const Node& v) { decode_cache(v, c.cache); });
    with(root, "routes", [&](const Node& v) { decode_routes(v, c); });
    with(root, "pool", [&](const Node& v) {
        c.pool_present = true;
        decode_pool(ctx, v, c.pool);
    });
    with(root, "admin", [&](const Node& v) { decode_admin(ctx, v, c.admin); });
    with(root, "log", [&](const Node& v) { decode_log(ctx, v, c.log); });

    // Cross-section rules, reported at the value that breaks them.
    if (!c.cache.notify_channel.empty() && c.cache.enabled && c.pool.databases.empty()) {
        const Node* v = root.find("cache")->find("notify_channel");
        fail(v->mark, "cache.notify_channel: LISTEN needs a database in pool.databases");
    }
    if (same_endpoint(c.admin.listen, c.listen)) {
        const Node* a = root.find("admin");
        const Node* at = a && a->find("listen") ? a->find("listen") : root.find("listen");
        fail(at ? at->mark : root.mark, fmt::format("admin.listen: {} is already the proxy's listen address",
                                                    c.admin.listen.text));
    }
    if (const Node* p = root.find("pool"); p && c.pool.listen_tcp) {
        for (const Address* other : {&c.listen, &c.admin.listen})
            if (same_endpoint(*c.pool.listen_tcp, *other))
                fail(p->find("listen_tcp")->mark,
                     fmt::format("pool.listen_tcp: {} is already used by another listener", other->text));
    }
    return c;
}

}  // namespace portico::conf::detail
