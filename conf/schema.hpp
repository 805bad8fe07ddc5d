// The configuration as plain, immutable structs: what conf/loader.cpp produces from YAML and
// every other part reads. Field names follow INTERFACE.md's keys; defaults are INTERFACE.md's.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace portico::conf {

using Duration = std::chrono::milliseconds;

// Where a value came from, kept so that later checks (and reload errors) can name FILE:LINE:COL.
struct Mark {
    std::string file;
    int line = 0;    // 1-based; 0 = built-in default
    int column = 0;  // 1-based
};

// "127.0.0.1:8080", "[::1]:8080" or "unix:/path".
struct Address {
    enum class Kind { tcp, unix_socket };
    Kind kind = Kind::tcp;
    std::string host;  // tcp: literal IP (v4 or v6 without brackets) or a name resolved at start
    uint16_t port = 0;
    std::string path;  // unix
    std::string text;  // as written, for logs and --print-config
};

// A CIDR block such as 127.0.0.1/32 or ::1/128, stored as bytes for fast matching.
struct Cidr {
    bool v6 = false;
    uint8_t bytes[16] = {};
    int prefix = 0;
    std::string text;
};

struct Rate {
    double per_second = 0;  // tokens per second
    std::string text;       // as written ("100/s", "6000/m")
};

struct UpstreamConfig {
    Address address{Address::Kind::tcp, "127.0.0.1", 8000, "", "127.0.0.1:8000"};
    int keepalive = 64;
    Duration connect_timeout{2000};
    Duration read_timeout{30000};
    int max_connections = 0;  // 0 = unlimited
    Duration queue_timeout{5000};
};

struct LimitsConfig {
    uint64_t max_header_bytes = 16 * 1024;
    uint64_t max_body_bytes = 10 * 1024 * 1024;
    Duration header_timeout{10000};
    Duration idle_timeout{60000};
    int max_connections = 10000;
    Duration drain_timeout{30000};  // addition: SIGTERM waits this long for in-flight requests
};

struct CompressionConfig {
    bool enabled = true;
    int level = 5;
    uint64_t min_size = 1000;
    std::vector<std::string> types{"text/*", "application/json", "application/javascript",
                                   "application/xml", "image/svg+xml"};
};

struct CacheKeyConfig {
    bool sort_query = true;
    std::vector<std::string> ignore_params{"utm_*", "fbclid", "gclid"};
};

struct CacheConfig {
    bool enabled = true;
    std::string path = "/var/cache/portico";
    uint64_t max_size = 1024ull * 1024 * 1024;
    bool invalidate_on_unsafe = true;
    // Additions to INTERFACE.md: a response bigger than this is streamed but not stored (so one
    // huge download cannot evict the hot set), and how long requests coalesced behind an in-flight
    // fetch of the same key wait before going upstream themselves (nginx's proxy_cache_lock_timeout).
    uint64_t max_object_size = 64ull * 1024 * 1024;
    Duration lock_timeout{5000};
    CacheKeyConfig key;
    std::string notify_channel;  // empty = off
};

// Per-route policy pieces; std::nullopt means "inherit from global_defaults / top level".
struct RouteCache {
    std::optional<bool> enabled;
    std::optional<Duration> ttl;
    std::optional<Duration> stale_while_revalidate;
    std::optional<Duration> stale_if_error;
    // Addition to INTERFACE.md: store responses that carry Set-Cookie (DESIGN.md: never, "unless a
    // route explicitly says so"). The cookie is then served to every client of that entry.
    std::optional<bool> store_set_cookie;
};

struct RouteStatic {
    std::string root;
    std::string cache_control;
    std::string index = "index.html";
    bool precompressed = true;
    bool fallback_upstream = false;  // `fallback: upstream`
};

struct RouteRateLimit {
    Rate rate;
    double burst = 0;
    std::string key = "client_ip";  // client_ip | header:NAME
    bool dry_run = false;
};

struct RouteCompression {
    std::optional<bool> enabled;
    std::optional<int> level;
};

struct RoutePolicy {
    std::string pattern;  // "*" for global_defaults; the label used in metrics
    std::optional<Duration> timeout;
    RouteCache cache;
    std::optional<RouteStatic> static_files;
    std::optional<RouteRateLimit> rate_limit;
    RouteCompression compression;
    Mark mark;
};

// The resolved policy for one route: defaults already merged under the pattern's own settings.
struct Route {
    std::string pattern;
    Duration timeout{30000};
    bool cache_enabled = true;
    Duration cache_ttl{0};
    Duration stale_while_revalidate{0};
    Duration stale_if_error{0};
    bool cache_store_set_cookie = false;
    std::optional<RouteStatic> static_files;
    std::optional<RouteRateLimit> rate_limit;
    bool compression_enabled = true;
    int compression_level = 5;
};

struct AuthConfig {
    std::string type = "peer";  // trust | peer | scram-sha-256 | md5
    std::string file;           // userlist for scram-sha-256 / md5
};

struct PoolDatabase {
    std::string name;
    std::string conninfo;  // may hold a password: redacted on print
    int pool_size = 0;     // 0 = pool.default_pool_size
    Mark mark;
};

struct PoolConfig {
    bool enabled = true;
    std::string socket_dir = "/run/portico";
    int port = 6432;
    std::optional<Address> listen_tcp;
    std::string mode = "transaction";  // transaction | session
    AuthConfig auth;
    int max_client_conn = 1000;
    int default_pool_size = 20;
    int max_overflow = 10;
    Duration query_wait_timeout{30000};
    Duration server_connect_timeout{5000};
    Duration server_idle_timeout{600000};
    Duration server_lifetime{1800000};
    Duration server_check_delay{30000};
    Duration idle_transaction_timeout{60000};
    int max_prepared_statements = 500;
    std::vector<PoolDatabase> databases;
};

struct AdminConfig {
    Address listen{Address::Kind::tcp, "127.0.0.1", 9901, "", "127.0.0.1:9901"};
    std::string token_file;  // empty = no token
};

struct LogConfig {
    std::string level = "info";   // debug | info | warn | error
    std::string format = "text";  // text | json
    std::string access_log = "stdout";  // stdout | stderr | off | a path
    Duration slow_request{1000};
};

struct Config {
    std::string source;           // the top file, or "<embedded default>"
    std::vector<std::string> files;  // every file read, in order (top file first, then includes)
    int workers = 0;              // resolved: `auto` becomes the number of cores
    bool workers_auto = true;
    Address listen{Address::Kind::tcp, "127.0.0.1", 8080, "", "127.0.0.1:8080"};
    std::vector<Cidr> trusted_proxies;  // default: 127.0.0.1/32, ::1/128
    UpstreamConfig upstream;
    LimitsConfig limits;
    CompressionConfig compression;
    CacheConfig cache;
    RoutePolicy global_defaults;           // pattern "*"
    std::vector<RoutePolicy> patterns;     // as written, in file order
    std::vector<Route> routes;             // resolved, most specific first; always ends with "*"
    PoolConfig pool;
    AdminConfig admin;
    LogConfig log;
    bool pool_present = false;   // `pool:` appeared in the file
};

}  // namespace portico::conf
