// What the whole-admin-port suite shares: one PostgreSQL for the run, and per test the cache app
// behind a portico with its cache AND its pool active (two workers, so every figure is a sum) and
// an admin token file; admin calls that carry the token, `portico ctl` run as operators run it,
// and /metrics parsed by the Prometheus project's own Python parser. Header-only.
#pragma once

#include <boost/test/unit_test.hpp>

#include <fmt/core.h>

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cache_support.hpp"
#include "harness.hpp"
#include "pg_cluster.hpp"

namespace portico::test::admin {

using nlohmann::json;

inline constexpr std::string_view kToken = "admin-full-s3cret-token";
// In the pool's conninfo: /config must never show it.
inline constexpr std::string_view kConninfoSecret = "conninfo-s3cret";

// /api/items/* is hit through several raw paths (the route label must stay the pattern);
// /ttl/* is cached for a minute (the purge tests); /limited/* lets one request a minute through.
inline constexpr std::string_view kRoutes =
    "  global_defaults:\n"
    "    cache: { ttl: 0s }\n"
    "  patterns:\n"
    "    \"/api/items/*\": { cache: { enabled: false } }\n"
    "    \"/ttl/*\": { cache: { ttl: 60s } }\n"
    "    \"/limited/*\": { cache: { enabled: false }, rate_limit: { rate: 1/m, burst: 1 } }\n";

// One PostgreSQL (database `app`) for the whole run: initdb is the slow part of a stack, and every
// portico keeps its own pool counters, so tests stay independent.
class SharedPg {
public:
    SharedPg() {
        pg_ = std::make_unique<PgCluster>();
        pg_->create_database("app");
        instance_ = this;
    }
    ~SharedPg() { instance_ = nullptr; }
    static PgCluster& get() {
        BOOST_REQUIRE_MESSAGE(instance_ != nullptr, "SharedPg is not a global fixture of this suite");
        return *instance_->pg_;
    }

private:
    std::unique_ptr<PgCluster> pg_;
    static inline SharedPg* instance_ = nullptr;
};

struct FullStack {
    explicit FullStack(const std::string& pool_conninfo = {})
        : pg(SharedPg::get()), app(dir, UpstreamApp::Transport::tcp, "app", {}, "cache_app") {
        token_file = dir.file("admin.token");
        dir.write("admin.token", std::string(kToken) + "\n");
        std::filesystem::create_directories(pool_socket_dir());
        std::string conninfo = pool_conninfo.empty()
                                   ? fmt::format("host={} port={} dbname=app user={} password={}", pg.socket_dir(),
                                                 pg.port(), pg.superuser(), kConninfoSecret)
                                   : pool_conninfo;
        PorticoSettings s;
        s.workers = "2";
        s.upstream = app.address();
        s.admin_token_file = token_file;
        s.cache = fmt::format("  enabled: true\n  path: {}\n  max_size: 64MiB\n", dir.file("cache"));
        s.routes = std::string(kRoutes);
        s.pool = fmt::format(
            "  enabled: true\n  socket_dir: {}\n  port: 6432\n  mode: transaction\n  auth: {{ type: trust }}\n"
            "  default_pool_size: 4\n  databases:\n    app: {{ conninfo: \"{}\" }}\n",
            pool_socket_dir(), conninfo);
        portico = std::make_unique<Portico>(dir, s);
    }

    Endpoint endpoint() const { return portico->endpoint(); }
    std::string admin_address() const { return fmt::format("127.0.0.1:{}", portico->admin_endpoint().port); }
    std::string pool_socket_dir() const { return dir.file("pool"); }
    // libpq conninfo through portico's pool.
    std::string pool_conninfo() const {
        return fmt::format("host={} port=6432 dbname=app user={} connect_timeout=10", pool_socket_dir(), pg.superuser());
    }
    EnvVars pool_env() const {
        return {{"PGHOST", pool_socket_dir()}, {"PGPORT", "6432"}, {"PGUSER", pg.superuser()},
                {"PGDATABASE", "app"},        {"PGCONNECT_TIMEOUT", "10"}};
    }

    // ---- the admin port, with the token (or another Authorization, or none) ----
    HttpResponse call(std::string_view method, std::string_view path, std::string_view body = {}) const {
        return portico->admin(method, path, body, {{"Authorization", fmt::format("Bearer {}", kToken)}});
    }
    json get_json(std::string_view path) const {
        HttpResponse r = call("GET", path);
        BOOST_TEST_REQUIRE(r.status == 200, "GET " << path << ": " << r.describe() << r.body);
        return r.json();
    }
    std::string metrics() const {
        HttpResponse r = call("GET", "/metrics");
        BOOST_TEST_REQUIRE(r.status == 200, "GET /metrics: " << r.describe());
        return r.body;
    }
    // /pool's entry for database app ({} before any client used it).
    json pool_entry() const {
        json all = get_json("/pool");
        for (const json& p : all["pools"])
            if (p["database"] == "app") return p;
        return json::object();
    }
    // The figure at a JSON pointer of GET `path` ("/requests/total"); -1 when absent.
    double figure(std::string_view path, const std::string& pointer) const {
        json j = get_json(path);
        json::json_pointer ptr(pointer);
        return j.contains(ptr) && j[ptr].is_number() ? j[ptr].get<double>() : -1;
    }
    // Polls until the figure reaches `want` (per-worker counters are summed when asked, and a
    // response may reach the client just before its worker counts it); the last value read.
    double figure_reaching(std::string_view path, const std::string& pointer, double want, Millis timeout = 5s) const {
        double got = -1;
        eventually(
            [&] {
                got = figure(path, pointer);
                return got >= want;
            },
            timeout, 20ms);
        return got;
    }
    // Until at least `n` responses were committed to the store and no fetch is in flight.
    bool wait_stored(double n, Millis timeout = 10s) const {
        return eventually(
            [&] {
                json j = get_json("/cache");
                return j.value("stores", -1.0) >= n && j.value("in_flight", 0.0) == 0;
            },
            timeout, 10ms);
    }
    // Makes `path` cacheable with `tags` (Surrogate-Key), fetches it (MISS), waits for the store
    // and checks the next request is a HIT.
    void store_tagged(const std::string& path, const std::string& tags = {}) {
        json extra = {{"cc", "max-age=60"}};
        if (!tags.empty()) extra["skey"] = tags;
        cache::app_override(app, path, extra);
        double before = figure("/cache", "/stores");
        HttpResponse r = cache::get(endpoint(), path);
        BOOST_TEST_REQUIRE(r.status == 200, path << ": " << cache::show(r));
        BOOST_TEST_REQUIRE(cache::xcache(r) == "MISS", path << ": " << cache::show(r));
        BOOST_TEST_REQUIRE(wait_stored(before + 1), path << " never stored: " << cache::show(r));
        BOOST_TEST_REQUIRE(cache::xcache(cache::get(endpoint(), path)) == "HIT", path);
    }
    std::string xcache(const std::string& path) const { return cache::xcache(cache::get(endpoint(), path)); }

    // ---- portico ctl ----
    enum class Token { file, none, wrong };
    CommandResult ctl(const std::vector<std::string>& args, Token token = Token::file) const {
        std::vector<std::string> argv = {portico_bin(), "ctl", "--admin", admin_address()};
        if (token == Token::file) {
            argv.insert(argv.end(), {"--token-file", token_file});
        } else if (token == Token::wrong) {
            dir.write("wrong.token", "not-the-token\n");
            argv.insert(argv.end(), {"--token-file", dir.file("wrong.token")});
        }
        argv.insert(argv.end(), args.begin(), args.end());
        return run_command(argv, {}, 30s);
    }
    // `portico ctl ARGS --json`: must exit 0 and print one JSON document.
    json ctl_json(std::vector<std::string> args) const {
        std::string line;
        for (const auto& a : args) line += a + " ";
        args.push_back("--json");
        CommandResult r = ctl(args);
        BOOST_TEST_REQUIRE(r.exit_code == 0, "ctl " << line << "--json: " << r.describe());
        json j = json::parse(r.out, nullptr, /*allow_exceptions=*/false);
        BOOST_TEST_REQUIRE(!j.is_discarded(), "ctl " << line << "--json printed no JSON: " << r.out);
        return j;
    }
    // `portico ctl ARGS` in its human form: must exit 0; its output.
    std::string ctl_text(const std::vector<std::string>& args) const {
        CommandResult r = ctl(args);
        std::string line;
        for (const auto& a : args) line += a + " ";
        BOOST_TEST_REQUIRE(r.exit_code == 0, "ctl " << line << ": " << r.describe());
        return r.out;
    }

    PgCluster& pg;
    TempDir dir;
    UpstreamApp app;
    std::string token_file;
    std::unique_ptr<Portico> portico;
};

// /metrics through python3-prometheus-client's parser: {"families": {name: type}, "samples":
// [[name, {labels}, value], …]}. Fails the test when the parser refuses the text.
inline json parse_exposition(const TempDir& dir, const std::string& text) {
    dir.write("metrics.txt", text);
    dir.write("parse_metrics.py",
              "import json, math, sys\n"
              "from prometheus_client.parser import text_string_to_metric_families\n"
              "out = {'families': {}, 'samples': []}\n"
              "for f in text_string_to_metric_families(open(sys.argv[1]).read()):\n"
              "    out['families'][f.name] = f.type\n"
              "    for s in f.samples:\n"
              "        v = s.value if math.isfinite(s.value) else str(s.value)\n"
              "        out['samples'].append([s.name, s.labels, v])\n"
              "print(json.dumps(out))\n");
    CommandResult r = run_command({"/usr/bin/python3", dir.file("parse_metrics.py"), dir.file("metrics.txt")}, {}, 60s);
    BOOST_TEST_REQUIRE(r.ok(), "the Prometheus parser refused /metrics: " << r.describe());
    return json::parse(r.out);
}

// The value of the parsed sample `name` whose labels include all of `labels`; NaN when none.
inline double sample_value(const json& parsed, std::string_view name, const json& labels = json::object()) {
    for (const json& s : parsed["samples"]) {
        if (s[0] != name) continue;
        bool match = true;
        for (auto it = labels.begin(); it != labels.end(); ++it) match = match && s[1].value(it.key(), "") == it.value();
        if (match && s[2].is_number()) return s[2].get<double>();
    }
    return std::nan("");
}

}  // namespace portico::test::admin
