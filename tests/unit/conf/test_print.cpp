// to_yaml() and inactive_parts(): redaction, round trips, the not-yet-active list.
#define BOOST_TEST_MODULE conf_print
#include <boost/test/unit_test.hpp>

#include "conf/loader.hpp"
#include "interface_example.hpp"
#include "test_support.hpp"

using namespace portico::conf;
using namespace portico::conf::test;

namespace {

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// Every field of the two configs, compared through their printed form plus the parts printing
// does not show (resolved routes are printed as a comment, so they are compared too).
void check_same(const Config& a, const Config& b) {
    auto body = [](std::string s) {
        s = s.substr(s.find('\n'));  // the first line names the source
        return s.substr(0, s.find("# files read:"));
    };
    BOOST_TEST(body(to_yaml(a)) == body(to_yaml(b)));
    BOOST_TEST_REQUIRE(a.routes.size() == b.routes.size());
    for (size_t i = 0; i < a.routes.size(); ++i) {
        const Route &x = a.routes[i], &y = b.routes[i];
        BOOST_TEST(x.pattern == y.pattern);
        BOOST_TEST(x.timeout == y.timeout);
        BOOST_TEST(x.cache_enabled == y.cache_enabled);
        BOOST_TEST(x.cache_ttl == y.cache_ttl);
        BOOST_TEST(x.stale_while_revalidate == y.stale_while_revalidate);
        BOOST_TEST(x.stale_if_error == y.stale_if_error);
        BOOST_TEST(x.cache_store_set_cookie == y.cache_store_set_cookie);
        BOOST_TEST(x.static_files.has_value() == y.static_files.has_value());
        BOOST_TEST(x.rate_limit.has_value() == y.rate_limit.has_value());
        if (x.rate_limit && y.rate_limit) {
            BOOST_TEST(x.rate_limit->rate.per_second == y.rate_limit->rate.per_second);
            BOOST_TEST(x.rate_limit->burst == y.rate_limit->burst);
            BOOST_TEST(x.rate_limit->key == y.rate_limit->key);
        }
        BOOST_TEST(x.compression_enabled == y.compression_enabled);
        BOOST_TEST(x.compression_level == y.compression_level);
    }
    BOOST_TEST(a.workers == b.workers);
    BOOST_TEST(a.workers_auto == b.workers_auto);
    BOOST_TEST(a.listen.port == b.listen.port);
    BOOST_TEST(a.upstream.read_timeout == b.upstream.read_timeout);
    BOOST_TEST(a.limits.max_body_bytes == b.limits.max_body_bytes);
    BOOST_TEST(a.pool_present == b.pool_present);
    BOOST_TEST(a.pool.databases.size() == b.pool.databases.size());
    for (size_t i = 0; i < std::min(a.pool.databases.size(), b.pool.databases.size()); ++i) {
        BOOST_TEST(a.pool.databases[i].conninfo == b.pool.databases[i].conninfo);
        BOOST_TEST(a.pool.databases[i].pool_size == b.pool.databases[i].pool_size);
    }
}

}  // namespace

BOOST_AUTO_TEST_CASE(round_trips) {
    ScopedEnv w("PORTICO_WORKERS", std::nullopt);
    ScopedEnv l("PORTICO_LOG_LEVEL", std::nullopt);
    const std::string extra = R"(
workers: 3
listen: '[::1]:0'
upstream: {address: unix:/run/app/uvicorn.sock, read_timeout: 1500ms}
limits: {max_body_bytes: 1000000, drain_timeout: 1m30s}
cache: {notify_channel: ~, enabled: false, max_object_size: 2MiB, lock_timeout: 250ms}
routes:
  patterns:
    "*": {timeout: 20s}
    /session/*: {cache: {store_set_cookie: true, ttl: 5s}}
    /s/*: {static: {root: /srv, fallback: upstream, index: ~}, compression: {level: 2}}
    /r: {rate_limit: {rate: 0.5/s, burst: 2.5, key: "header:X-Key", dry_run: true}}
pool:
  enabled: false
  listen_tcp: 127.0.0.1:6432
  auth: {type: md5, file: /etc/portico/users}
  databases:
    "odd name": {conninfo: "host='/var/run/postgresql' dbname=app", pool_size: 4}
admin: {token_file: /etc/portico/token}
log: {access_log: "off"}
)";
    for (const std::string& yaml : {std::string(kInterfaceExample), extra, std::string(embedded_default_yaml())}) {
        auto first = load_string(yaml, "first.yaml");
        std::string printed = to_yaml(*first);
        BOOST_TEST_MESSAGE(printed);
        auto second = load_string(printed, "printed.yaml");
        check_same(*first, *second);
        // Printing is a fixed point: the reloaded config prints the same (but for the file names).
        auto strip = [](std::string s) {
            s = s.substr(s.find('\n'));
            size_t files = s.find("# files read:");
            return s.erase(files, s.find('\n', files) - files);
        };
        BOOST_TEST(strip(to_yaml(*second)) == strip(printed));
    }
}

BOOST_AUTO_TEST_CASE(every_key_is_shown_with_its_value) {
    std::string y = to_yaml(*load_default());
    for (const char* line : {"workers: auto", "listen: 127.0.0.1:8080", "keepalive: 64", "connect_timeout: 2s",
                             "read_timeout: 30s", "max_header_bytes: 16KiB", "max_body_bytes: 10MiB",
                             "drain_timeout: 30s", "min_size: 1000", "max_size: 1GiB", "notify_channel: ~",
                             "slow_request: 1s", "token_file: ~", "ttl: 0s", "# pool: not configured"}) {
        BOOST_TEST_CONTEXT(line) { BOOST_TEST(contains(y, line)); }
    }
    std::string p = to_yaml(*load_string(kInterfaceExample, "x.yaml"));
    for (const char* line : {"server_lifetime: 30m", "server_idle_timeout: 10m", "stale_if_error: 1h",
                             "ttl: 10m", "listen_tcp: ~", "# resolved routes, in match order:"}) {
        BOOST_TEST_CONTEXT(line) { BOOST_TEST(contains(p, line)); }
    }
}

BOOST_AUTO_TEST_CASE(passwords_are_redacted) {
    auto c = load_string(R"(
pool:
  databases:
    app: {conninfo: "host=db user=app password=hunter2 dbname=app"}
    uri: {conninfo: "postgresql://app:hunter2@db/app"}
admin: {token_file: /etc/portico/admin.token}
)",
                         "t.yaml");
    std::string y = to_yaml(*c);
    BOOST_TEST(!contains(y, "hunter2"));
    BOOST_TEST(contains(y, "host=db user=app password=****** dbname=app"));
    BOOST_TEST(contains(y, "postgresql://app:******@db/app"));
    BOOST_TEST(contains(y, "token_file: /etc/portico/admin.token"));  // a path, not a secret
    BOOST_TEST(c->pool.databases[0].conninfo == "host=db user=app password=hunter2 dbname=app");  // kept in Config
}

BOOST_AUTO_TEST_CASE(inactive_parts_lists_configured_parts) {
    auto has = [](const std::vector<std::string>& lines, const std::string& prefix) {
        for (const auto& l : lines)
            if (l.rfind(prefix, 0) == 0) return true;
        return false;
    };
    auto full = inactive_parts(*load_string(kInterfaceExample, "x.yaml"));
    BOOST_TEST(!has(full, "cache:"));  // the cache runs, route policies included
    BOOST_TEST(!has(full, "route cache policies:"));
    BOOST_TEST(!has(full, "pool:"));  // the pool runs
    BOOST_TEST(!has(full, "compression:"));  // compression runs
    BOOST_TEST(!has(full, "rate limiting:"));  // so does rate limiting
    BOOST_TEST(!has(full, "static routes:"));  // static routes run too
    BOOST_TEST(full.empty());
    BOOST_TEST(!has(full, "admin port:"));  // the admin port runs
    auto off = inactive_parts(*load_string("cache: {enabled: false}\ncompression: {enabled: false}\n"
                                           "pool: {enabled: false}\n",
                                           "y.yaml"));
    BOOST_TEST(!has(off, "cache:"));
    BOOST_TEST(!has(off, "compression:"));
    BOOST_TEST(!has(off, "pool:"));
    BOOST_TEST(!has(off, "rate limiting:"));
    BOOST_TEST(!has(off, "route cache policies:"));
}
