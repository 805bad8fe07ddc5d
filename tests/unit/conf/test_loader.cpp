// Loader tests: FILE:LINE:COL errors, unknown keys, include:, environment overrides, defaults.
#define BOOST_TEST_MODULE conf_loader
#include <boost/test/unit_test.hpp>

#include <thread>

#include "conf/loader.hpp"
#include "interface_example.hpp"
#include "test_support.hpp"

using namespace portico::conf;
using namespace portico::conf::test;
using namespace std::chrono_literals;

namespace {
// The environment overrides must not leak in from the shell running the tests.
struct CleanEnv {
    ScopedEnv workers{"PORTICO_WORKERS", std::nullopt};
    ScopedEnv level{"PORTICO_LOG_LEVEL", std::nullopt};
};
}  // namespace

BOOST_TEST_GLOBAL_FIXTURE(CleanEnv);

BOOST_AUTO_TEST_CASE(defaults_equal_interface_md) {
    auto c = load_default();
    BOOST_TEST(c->source == "<embedded default>");
    BOOST_TEST(c->workers_auto);
    BOOST_TEST(c->workers == static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
    BOOST_TEST(c->listen.text == "127.0.0.1:8080");
    BOOST_TEST(c->listen.host == "127.0.0.1");
    BOOST_TEST(c->listen.port == 8080);
    BOOST_TEST_REQUIRE(c->trusted_proxies.size() == 2u);
    BOOST_TEST(c->trusted_proxies[0].text == "127.0.0.1/32");
    BOOST_TEST(c->trusted_proxies[1].text == "::1/128");
    BOOST_TEST(c->upstream.address.text == "127.0.0.1:8000");
    BOOST_TEST(c->upstream.keepalive == 64);
    BOOST_TEST(c->upstream.connect_timeout.count() == 2000);
    BOOST_TEST(c->upstream.read_timeout.count() == 30000);
    BOOST_TEST(c->upstream.max_connections == 0);
    BOOST_TEST(c->upstream.queue_timeout.count() == 5000);
    BOOST_TEST(c->limits.max_header_bytes == 16u * 1024);
    BOOST_TEST(c->limits.max_body_bytes == 10u * 1024 * 1024);
    BOOST_TEST(c->limits.header_timeout.count() == 10000);
    BOOST_TEST(c->limits.idle_timeout.count() == 60000);
    BOOST_TEST(c->limits.max_connections == 10000);
    BOOST_TEST(c->limits.drain_timeout.count() == 30000);
    BOOST_TEST(c->compression.enabled);
    BOOST_TEST(c->compression.level == 5);
    BOOST_TEST(c->compression.min_size == 1000u);
    BOOST_TEST(c->compression.types == (std::vector<std::string>{"text/*", "application/json", "application/javascript",
                                                                 "application/xml", "image/svg+xml"}),
               boost::test_tools::per_element());
    BOOST_TEST(c->cache.enabled);
    BOOST_TEST(c->cache.path == "/var/cache/portico");
    BOOST_TEST(c->cache.max_size == 1024ull * 1024 * 1024);
    BOOST_TEST(c->cache.invalidate_on_unsafe);
    BOOST_TEST(c->cache.key.sort_query);
    BOOST_TEST(c->cache.key.ignore_params == (std::vector<std::string>{"utm_*", "fbclid", "gclid"}),
               boost::test_tools::per_element());
    BOOST_TEST(c->cache.notify_channel == "");  // LISTEN needs pool databases, which the default has none of
    BOOST_TEST(c->patterns.empty());
    BOOST_TEST(c->global_defaults.timeout->count() == 30000);
    BOOST_TEST(c->global_defaults.cache.ttl->count() == 0);
    BOOST_TEST_REQUIRE(c->routes.size() == 1u);
    BOOST_TEST(c->routes[0].pattern == "*");
    BOOST_TEST(c->routes[0].timeout.count() == 30000);
    BOOST_TEST(!c->pool_present);
    BOOST_TEST(c->pool.enabled);
    BOOST_TEST(c->pool.socket_dir == "/run/portico");
    BOOST_TEST(c->pool.port == 6432);
    BOOST_TEST(!c->pool.listen_tcp);
    BOOST_TEST(c->pool.mode == "transaction");
    BOOST_TEST(c->pool.auth.type == "peer");
    BOOST_TEST(c->pool.max_client_conn == 1000);
    BOOST_TEST(c->pool.default_pool_size == 20);
    BOOST_TEST(c->pool.max_overflow == 10);
    BOOST_TEST(c->pool.query_wait_timeout.count() == 30000);
    BOOST_TEST(c->pool.server_connect_timeout.count() == 5000);
    BOOST_TEST(c->pool.server_idle_timeout.count() == 600000);
    BOOST_TEST(c->pool.server_lifetime.count() == 1800000);
    BOOST_TEST(c->pool.server_check_delay.count() == 30000);
    BOOST_TEST(c->pool.idle_transaction_timeout.count() == 60000);
    BOOST_TEST(c->pool.max_prepared_statements == 500);
    BOOST_TEST(c->pool.databases.empty());
    BOOST_TEST(c->admin.listen.text == "127.0.0.1:9901");
    BOOST_TEST(c->admin.token_file == "");
    BOOST_TEST(c->log.level == "info");
    BOOST_TEST(c->log.format == "text");
    BOOST_TEST(c->log.access_log == "stdout");
    BOOST_TEST(c->log.slow_request.count() == 1000);
}

BOOST_AUTO_TEST_CASE(empty_file_means_schema_defaults_which_equal_the_embedded_default) {
    // schema.hpp's defaults and the embedded YAML must not drift apart.
    auto empty = load_string("", "empty.yaml");
    auto def = load_default();
    std::string a = to_yaml(*empty), b = to_yaml(*def);
    a = a.substr(a.find('\n'));  // the first line names the source
    b = b.substr(b.find('\n'));
    a = a.substr(0, a.find("# files read:"));
    b = b.substr(0, b.find("# files read:"));
    BOOST_TEST(a == b);
}

BOOST_AUTO_TEST_CASE(interface_example_loads) {
    auto c = load_string(kInterfaceExample, "example.yaml");
    BOOST_TEST(c->pool_present);
    BOOST_TEST(c->cache.notify_channel == "portico_invalidate");
    BOOST_TEST_REQUIRE(c->patterns.size() == 4u);
    BOOST_TEST(c->patterns[0].pattern == "/static/*");  // file order kept
    BOOST_TEST(c->patterns[1].pattern == "/api/users/*");
    BOOST_TEST(c->patterns[2].pattern == "/api/*");
    BOOST_TEST(c->patterns[3].pattern == "/admin/*");
    BOOST_TEST(c->patterns[1].rate_limit->rate.per_second == 100.0);
    BOOST_TEST(c->patterns[1].rate_limit->burst == 200.0);
    BOOST_TEST(c->patterns[3].rate_limit->key == "client_ip");
    BOOST_TEST(c->patterns[0].static_files->root == "/srv/app/static");
    BOOST_TEST(c->patterns[0].static_files->cache_control == "public, max-age=86400");
    BOOST_TEST(c->patterns[0].static_files->index == "index.html");
    BOOST_TEST_REQUIRE(c->pool.databases.size() == 1u);
    BOOST_TEST(c->pool.databases[0].name == "app");
    BOOST_TEST(c->pool.databases[0].conninfo == "host=/var/run/postgresql dbname=app");
    BOOST_TEST(c->pool.databases[0].pool_size == 20);
    BOOST_TEST(c->pool.databases[0].mark.line == 63);
}

struct ErrorRow {
    const char* yaml;
    const char* expected;  // the whole what(): FILE:LINE:COL: message
};

BOOST_AUTO_TEST_CASE(errors_name_file_line_column) {
    const ErrorRow rows[] = {
        // YAML syntax error
        {"listen: 127.0.0.1:8080\nupstream:\n  address: [1,\n  keepalive: 5\n",
         "t.yaml:5:1: end of sequence flow not found"},
        {"a: 1\n  b: 2\n", "t.yaml:2:4: illegal map value"},
        // unknown keys, with and without a suggestion
        {"upstream:\n  keepalve: 64\n", "t.yaml:2:3: unknown key 'keepalve' in upstream; did you mean 'keepalive'?"},
        {"wokers: 4\n", "t.yaml:1:1: unknown key 'wokers' at the top level; did you mean 'workers'?"},
        {"frobnicate: 4\n", "t.yaml:1:1: unknown key 'frobnicate' at the top level"},
        {"cache:\n  key: {sort_qury: true}\n", "t.yaml:2:9: unknown key 'sort_qury' in cache.key; did you mean 'sort_query'?"},
        {"routes:\n  patterns:\n    /api/*:\n      cache: {tll: 5s}\n",
         "t.yaml:4:15: unknown key 'tll' in routes.patterns['/api/*'].cache; did you mean 'ttl'?"},
        // type errors name the expected form
        {"upstream:\n  keepalive: lots\n", "t.yaml:2:14: upstream.keepalive: expected a whole number 0..100000, got 'lots'"},
        {"upstream:\n  read_timeout: 30\n",
         "t.yaml:2:17: upstream.read_timeout: expected a duration like 250ms, 30s, 5m, got '30' (a number needs a unit, e.g. 30s)"},
        {"limits: {max_body_bytes: 10M}\n",
         "t.yaml:1:26: limits.max_body_bytes: expected a size like 512, 64KiB, 10MiB, 1GiB, got '10M' (write 10MiB for powers of 1024 or 10MB for powers of 1000)"},
        {"cache:\n  enabled: maybe\n", "t.yaml:2:12: cache.enabled: expected true or false, got 'maybe'"},
        {"upstream: 5\n", "t.yaml:1:11: upstream: expected a map of settings, got '5'"},
        {"compression:\n  types: text/html\n", "t.yaml:2:10: compression.types: expected a list, got 'text/html'"},
        {"- a\n- b\n", "t.yaml:1:1: expected a map of settings (key: value) at the top of the file, got a list"},
        {"a: 1\n---\nb: 2\n", "t.yaml:3:1: a configuration file holds one YAML document; use include: for more"},
        {"log:\n  level: info\n  level: debug\n", "t.yaml:3:3: duplicate key 'level' (first at line 2, column 3)"},
        // value validation
        {"workers: 0\n", "t.yaml:1:10: workers: expected auto or a whole number 1..1024, got '0'"},
        {"workers: many\n", "t.yaml:1:10: workers: expected auto or a whole number 1..1024, got 'many'"},
        {"workers: 1025\n", "t.yaml:1:10: workers: expected auto or a whole number 1..1024, got '1025'"},
        {"listen: 127.0.0.1:99999\n", "t.yaml:1:9: listen: port must be a number 0..65535, got '99999'"},
        {"upstream: {address: 'localhost:0'}\n", "t.yaml:1:21: upstream.address: port must be a number 1..65535, got '0'"},
        {"upstream: {address: ::1:8000}\n", "t.yaml:1:21: upstream.address: IPv6 addresses need brackets, as in [::1]:8080; got '::1:8000'"},
        {"trusted_proxies: [10.0.0.1/8]\n",
         "t.yaml:1:19: trusted_proxies: '10.0.0.1/8' has bits set after the /8 prefix; did you mean '10.0.0.0/8'?"},
        {"compression: {level: 10}\n", "t.yaml:1:22: compression.level: expected a whole number 1..9, got '10'"},
        {"log: {level: verbose}\n", "t.yaml:1:14: log.level: expected one of debug | info | warn | error, got 'verbose'"},
        {"log: {format: jsn}\n", "t.yaml:1:15: log.format: expected one of text | json, got 'jsn'; did you mean 'json'?"},
        {"pool: {mode: statement}\n", "t.yaml:1:14: pool.mode: expected one of transaction | session, got 'statement'"},
        {"pool:\n  auth: {type: scram-sha-256}\n",
         "t.yaml:2:16: pool.auth: type scram-sha-256 needs 'file' (a userlist of \"user\" \"secret\" lines)"},
        {"pool:\n  auth: {type: md5}\n", "t.yaml:2:16: pool.auth: type md5 needs 'file' (a userlist of \"user\" \"secret\" lines)"},
        {"pool:\n  auth: {type: ldap}\n",
         "t.yaml:2:16: pool.auth.type: expected one of trust | peer | scram-sha-256 | md5, got 'ldap'"},
        {"pool:\n  databases:\n    app: {pool_size: 5}\n", "t.yaml:3:5: pool.databases.app: 'conninfo' is required"},
        {"routes:\n  patterns:\n    api/*: {timeout: 1s}\n", "t.yaml:3:5: route pattern 'api/*' must start with '/' or be '*'"},
        {"routes:\n  patterns:\n    /a/*/b: {}\n",
         "t.yaml:3:5: route pattern '/a/*/b': '*' is only allowed at the end, as in /static/*"},
        {"routes:\n  patterns:\n    /x: {rate_limit: {rate: 1/s, key: ip}}\n",
         "t.yaml:3:39: routes.patterns['/x'].rate_limit.key: expected client_ip or header:NAME (e.g. header:X-Api-Key), got 'ip'"},
        {"routes:\n  patterns:\n    /x: {rate_limit: {burst: 5}}\n",
         "t.yaml:3:22: routes.patterns['/x'].rate_limit: 'rate' is required"},
        {"routes:\n  patterns:\n    /x: {rate_limit: {rate: 100}}\n",
         "t.yaml:3:29: routes.patterns['/x'].rate_limit.rate: expected a rate like 100/s, 6000/m, 10/h, got '100'"},
        {"routes:\n  global_defaults:\n    static: {root: srv/static}\n",
         "t.yaml:3:20: routes.global_defaults.static.root: must be an absolute path, got 'srv/static'"},
        {"routes:\n  patterns:\n    /s/*: {static: {root: /srv, fallback: app}}\n",
         "t.yaml:3:43: routes.patterns['/s/*'].static.fallback: expected one of upstream, got 'app'"},
        {"routes:\n  patterns:\n    /s/*: {compression: {level: 0}}\n",
         "t.yaml:3:33: routes.patterns['/s/*'].compression.level: expected a whole number 1..9, got '0'"},
        {"cache:\n  notify_channel: portico_invalidate\n",
         "t.yaml:2:19: cache.notify_channel: LISTEN needs a database in pool.databases"},
        {"limits: {max_header_bytes: 10MiB}\n", "t.yaml:1:28: limits.max_header_bytes: must be 1KiB..1MiB, got '10MiB'"},
        {"admin: {listen: 127.0.0.1:8080}\n", "t.yaml:1:17: admin.listen: 127.0.0.1:8080 is already the proxy's listen address"},
        {"cache: {path: cache}\n", "t.yaml:1:15: cache.path: must be an absolute path, got 'cache'"},
    };
    for (const auto& r : rows) {
        BOOST_TEST_CONTEXT(r.yaml) { BOOST_TEST(load_error(r.yaml) == r.expected); }
    }
}

BOOST_AUTO_TEST_CASE(config_error_parts) {
    try {
        load_string("upstream:\n  keepalive: -1\n", "x.yaml");
        BOOST_FAIL("expected a ConfigError");
    } catch (const ConfigError& e) {
        BOOST_TEST(e.mark().file == "x.yaml");
        BOOST_TEST(e.mark().line == 2);
        BOOST_TEST(e.mark().column == 14);
        BOOST_TEST(e.message() == "upstream.keepalive: expected a whole number 0..100000, got '-1'");
    }
}

BOOST_AUTO_TEST_CASE(env_substitution_in_values) {
    ScopedEnv port("PORTICO_TEST_PORT", "8123");
    ScopedEnv unset("PORTICO_TEST_UNSET", std::nullopt);
    auto c = load_string("listen: 127.0.0.1:${PORTICO_TEST_PORT}\n"
                         "upstream: {address: '${PORTICO_TEST_UNSET:-127.0.0.1:9000}'}\n",
                         "t.yaml");
    BOOST_TEST(c->listen.port == 8123);
    BOOST_TEST(c->listen.text == "127.0.0.1:8123");
    BOOST_TEST(c->upstream.address.port == 9000);
    // The column points at the "${" of the missing variable.
    BOOST_TEST(load_error("listen: 127.0.0.1:${PORTICO_TEST_UNSET}\n") ==
               "t.yaml:1:19: environment variable 'PORTICO_TEST_UNSET' is not set (write "
               "'${PORTICO_TEST_UNSET:-default}' to give a default)");
    // Substituted text is then validated like written text.
    ScopedEnv bad("PORTICO_TEST_PORT", "eighty");
    BOOST_TEST(load_error("listen: 127.0.0.1:${PORTICO_TEST_PORT}\n") ==
               "t.yaml:1:9: listen: port must be a number 0..65535, got 'eighty'");
}

BOOST_AUTO_TEST_CASE(portico_workers_and_log_level_override) {
    {
        ScopedEnv w("PORTICO_WORKERS", "3");
        auto c = load_string("workers: 8\n", "t.yaml");
        BOOST_TEST(c->workers == 3);
        BOOST_TEST(!c->workers_auto);
    }
    {
        ScopedEnv w("PORTICO_WORKERS", "auto");
        auto c = load_string("workers: 8\n", "t.yaml");
        BOOST_TEST(c->workers_auto);
        BOOST_TEST(c->workers == static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
    }
    {
        ScopedEnv w("PORTICO_WORKERS", "");  // set but empty counts as unset
        BOOST_TEST(load_string("workers: 8\n", "t.yaml")->workers == 8);
    }
    {
        ScopedEnv w("PORTICO_WORKERS", "0");
        BOOST_TEST(load_error("workers: 8\n") ==
                   "$PORTICO_WORKERS:1:1: PORTICO_WORKERS: expected auto or a whole number 1..1024, got '0'");
    }
    {
        ScopedEnv l("PORTICO_LOG_LEVEL", "debug");
        BOOST_TEST(load_string("log: {level: error}\n", "t.yaml")->log.level == "debug");
    }
    {
        ScopedEnv l("PORTICO_LOG_LEVEL", "loud");
        BOOST_TEST(load_error("") ==
                   "$PORTICO_LOG_LEVEL:1:1: PORTICO_LOG_LEVEL: expected one of debug | info | warn | error, got 'loud'");
    }
}

BOOST_AUTO_TEST_CASE(include_glob_merges_in_order) {
    TempDir dir;
    std::string main = dir.write("portico.yaml",
                                 "upstream: {keepalive: 1, read_timeout: 1s}\n"
                                 "compression: {types: [a/b]}\n"
                                 "include: [conf.d/*.yaml, missing.d/*.yaml]\n");
    dir.write("conf.d/20-late.yaml", "upstream: {keepalive: 20}\ncompression: {types: [x/y]}\n");
    dir.write("conf.d/10-early.yaml",
              "upstream: {keepalive: 10, connect_timeout: 3s}\ncompression: {types: [c/d, e/f]}\n"
              "include: extra/more.yaml\n");
    dir.write("conf.d/extra/more.yaml", "log: {format: json}\n");
    dir.write("conf.d/subdir.yaml/ignored.yaml", "");  // directories matched by the glob are skipped
    auto c = load_file(main);
    BOOST_TEST(c->upstream.keepalive == 20);                     // later wins for scalars
    BOOST_TEST(c->upstream.read_timeout.count() == 1000);        // maps merge: kept from the main file
    BOOST_TEST(c->upstream.connect_timeout.count() == 3000);     // ... and from 10-early
    BOOST_TEST(c->compression.types == std::vector<std::string>{"x/y"}, boost::test_tools::per_element());  // lists replaced
    BOOST_TEST(c->log.format == "json");                         // nested include, relative to conf.d/
    BOOST_TEST(c->source == main);
    BOOST_TEST(c->files == (std::vector<std::string>{main, dir.path() + "/conf.d/10-early.yaml",
                                                     dir.path() + "/conf.d/extra/more.yaml",
                                                     dir.path() + "/conf.d/20-late.yaml"}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(include_errors_name_the_included_file) {
    TempDir dir;
    std::string main = dir.write("portico.yaml", "listen: 127.0.0.1:8080\ninclude: conf.d/*.yaml\n");
    dir.write("conf.d/a.yaml", "# a comment\nupstream:\n  read_timeout: 30\n");
    BOOST_TEST(load_error("include: conf.d/*.yaml\n", "top.yaml", dir.path()) ==
               dir.path() + "/conf.d/a.yaml:3:17: upstream.read_timeout: expected a duration like 250ms, 30s, 5m, "
                            "got '30' (a number needs a unit, e.g. 30s)");
    dir.write("conf.d/a.yaml", "upstream: [1,\n");
    try {
        load_file(main);
        BOOST_FAIL("expected a ConfigError");
    } catch (const ConfigError& e) {
        BOOST_TEST(e.mark().file == dir.path() + "/conf.d/a.yaml");
        BOOST_TEST(e.mark().line == 2);
    }
    dir.write("conf.d/a.yaml", "upstream:\n  keepalve: 1\n");
    BOOST_TEST(load_error("include: conf.d/*.yaml\n", "top.yaml", dir.path()) ==
               dir.path() + "/conf.d/a.yaml:2:3: unknown key 'keepalve' in upstream; did you mean 'keepalive'?");
}

BOOST_AUTO_TEST_CASE(include_missing_file_and_cycle) {
    TempDir dir;
    std::string main = dir.write("portico.yaml", "listen: 127.0.0.1:8080\ninclude:\n  - nothere.yaml\n");
    BOOST_TEST(load_error("listen: 127.0.0.1:8080\ninclude:\n  - nothere.yaml\n", "top.yaml", dir.path()) ==
               "top.yaml:3:5: cannot read included file '" + dir.path() +
                   "/nothere.yaml': No such file or directory");
    std::string a = dir.write("a.yaml", "include: b.yaml\n");
    std::string b = dir.write("b.yaml", "log: {level: warn}\ninclude: [a.yaml]\n");
    try {
        load_file(a);
        BOOST_FAIL("expected a ConfigError");
    } catch (const ConfigError& e) {
        BOOST_TEST(std::string(e.what()) ==
                   b + ":2:11: include cycle: " + a + " -> " + b + " -> " + dir.path() + "/a.yaml");
    }
    dir.write("self.yaml", "include: self.yaml\n");
    BOOST_TEST(load_error("include: self.yaml\n", "top.yaml", dir.path()).find("include cycle") != std::string::npos);
    // The same file twice, not in a cycle, is fine.
    dir.write("common.yaml", "log: {level: warn}\n");
    auto c = load_string("include: [common.yaml, common.yaml]\n", "top.yaml", dir.path());
    BOOST_TEST(c->log.level == "warn");
    BOOST_TEST(load_error("include: {a: 1}\n").find("t.yaml:1:10: include: expected a file name") == 0u);
}

BOOST_AUTO_TEST_CASE(missing_top_file) {
    try {
        load_file("/nonexistent/portico.yaml");
        BOOST_FAIL("expected a ConfigError");
    } catch (const ConfigError& e) {
        BOOST_TEST(std::string(e.what()) ==
                   "/nonexistent/portico.yaml:1:1: cannot read configuration file: No such file or directory");
    }
}

BOOST_AUTO_TEST_CASE(values_and_additions) {
    auto c = load_string(R"(
workers: 2
listen: unix:/run/portico/http.sock
trusted_proxies: []
limits: {drain_timeout: 0}
admin: {listen: '[::1]:0', token_file: secrets/token}
log: {access_log: logs/access.log, level: warn}
pool:
  listen_tcp: 127.0.0.1:6432
  auth: {type: scram-sha-256, file: /etc/portico/userlist.txt}
  databases:
    app: {conninfo: "dbname=app"}
    reports: {conninfo: "dbname=reports", pool_size: 3}
routes:
  patterns:
    /app/*:
      static: {root: /srv/app, index: ~, precompressed: false, fallback: upstream}
      compression: {enabled: false}
      timeout: 2m
      rate_limit: {rate: 6000/m, key: 'header:X-Api-Key', dry_run: yes}
)",
                         "conf/portico.yaml", "conf");
    BOOST_TEST(c->workers == 2);
    BOOST_TEST(!c->workers_auto);
    BOOST_TEST((c->listen.kind == Address::Kind::unix_socket));
    BOOST_TEST(c->listen.path == "/run/portico/http.sock");
    BOOST_TEST(c->trusted_proxies.empty());
    BOOST_TEST(c->limits.drain_timeout.count() == 0);
    BOOST_TEST(c->admin.listen.host == "::1");
    BOOST_TEST(c->admin.listen.port == 0);
    BOOST_TEST(c->admin.token_file == "conf/secrets/token");  // relative to the file that names it
    BOOST_TEST(c->log.access_log == "conf/logs/access.log");
    BOOST_TEST(c->pool_present);
    BOOST_TEST(c->pool.listen_tcp->port == 6432);
    BOOST_TEST(c->pool.auth.file == "/etc/portico/userlist.txt");
    BOOST_TEST_REQUIRE(c->pool.databases.size() == 2u);
    BOOST_TEST(c->pool.databases[0].pool_size == 0);
    BOOST_TEST(c->pool.databases[1].name == "reports");
    BOOST_TEST(c->pool.databases[1].pool_size == 3);
    const RoutePolicy& p = c->patterns.at(0);
    BOOST_TEST(p.static_files->index == "");
    BOOST_TEST(!p.static_files->precompressed);
    BOOST_TEST(p.static_files->fallback_upstream);
    BOOST_TEST(*p.compression.enabled == false);
    BOOST_TEST(p.timeout->count() == 120000);
    BOOST_TEST(p.rate_limit->rate.per_second == 100.0);
    BOOST_TEST(p.rate_limit->burst == 100.0);  // default burst: one second's worth
    BOOST_TEST(p.rate_limit->key == "header:X-Api-Key");
    BOOST_TEST(p.rate_limit->dry_run);
}

BOOST_AUTO_TEST_CASE(empty_sections_and_merge_keys) {
    auto c = load_string("cache:\nupstream: &up {keepalive: 7}\nlog:\n", "t.yaml");
    BOOST_TEST(c->cache.enabled);
    BOOST_TEST(c->upstream.keepalive == 7);
    // YAML merge keys ("<<") work; the map's own keys win.
    auto m = load_string("routes:\n  global_defaults: &d {timeout: 5s, cache: {ttl: 1s}}\n  patterns:\n"
                         "    /a/*:\n      <<: *d\n      timeout: 9s\n",
                         "t.yaml");
    BOOST_TEST(m->patterns.at(0).timeout->count() == 9000);
    BOOST_TEST(m->patterns.at(0).cache.ttl->count() == 1000);
}

// Found by fuzz_conf_loader: an alias inside the node it names ("a: &x [*x]") recursed until the
// stack ran out (a reload of such a file would have killed the process). Aliases that expand into
// a huge or very deep tree are refused too (tests/fuzz/regressions/conf_loader/).
BOOST_AUTO_TEST_CASE(recursive_and_exploding_aliases_are_errors) {
    BOOST_TEST(load_error("a: &x [*x]\n") == "t.yaml:1:4: an alias (*name) refers to a node that contains it");
    BOOST_TEST(load_error("a: &x {b: [1, {c: *x}]}\n").find("refers to a node that contains it") != std::string::npos);
    // Ten levels of ten aliases each: 10^10 values once expanded.
    std::string laughs = "l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n";
    for (int i = 1; i <= 10; ++i) {
        laughs += "l" + std::to_string(i) + ": &l" + std::to_string(i) + " [";
        for (int j = 0; j < 10; ++j) laughs += (j ? ", *l" : "*l") + std::to_string(i - 1);
        laughs += "]\n";
    }
    BOOST_TEST(load_error(laughs).find("more than 100000 values once aliases are expanded") != std::string::npos);
    std::string deep = "a: " + std::string(100, '[') + std::string(100, ']') + "\n";
    BOOST_TEST(load_error(deep).find("nested more than 64 levels deep") != std::string::npos);
    // Sharing without a cycle is fine.
    BOOST_TEST(load_error("x: &d {timeout: 5s}\n").find("unknown key 'x'") != std::string::npos);
}

// Found by fuzz_conf_loader: yaml-cpp 0.7's LoadAll never returns on a stream like ", a" (each
// document it reads consumes nothing; memory grows until the process dies), so a typo at the start
// of a file hung portico -t and a reload. The loader reads one document and only looks for a second.
BOOST_AUTO_TEST_CASE(streams_yaml_cpp_cannot_split_into_documents_are_errors) {
    for (std::string text : {", a\n", ",-\n", "x: 1\n, y\n"}) {
        BOOST_TEST_CONTEXT(text) { BOOST_TEST(!load_error(text).empty()); }
    }
    BOOST_TEST(load_error("a: 1\n---\nb: 2\n---\nc: 3\n") ==
               "t.yaml:3:1: a configuration file holds one YAML document; use include: for more");
    BOOST_TEST(load_error("---\nworkers: 2\n...\n").empty());
}
