// What the cache suites share: tests/apps/cache_app.py behind a portico with the cache on (its LMDB
// files in the test's temp dir), and small readers for X-Cache, Cache-Status, the app's counters,
// the admin port's /cache and /metrics. Header-only: each suite is its own executable.
#pragma once

#include <boost/test/unit_test.hpp>

#include <fmt/core.h>

#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "harness.hpp"

namespace portico::test::cache {

using nlohmann::json;

// The routes every cache suite gets; a suite adds patterns with CacheSetup::patterns.
inline constexpr std::string_view kRoutes =
    "  global_defaults:\n"
    "    cache: { ttl: 0s }\n"
    "  patterns:\n"
    "    \"/ttl/*\": { cache: { ttl: 60s } }\n"
    "    \"/swr/*\": { cache: { ttl: 1s, stale_while_revalidate: 30s } }\n"
    "    \"/sie/*\": { cache: { ttl: 1s, stale_if_error: 1h } }\n"
    "    \"/nocache/*\": { cache: { enabled: false } }\n";

struct CacheSetup {
    std::string max_size = "64MiB";
    std::string invalidate_on_unsafe = "true";
    std::string path;      // "" = <temp dir>/cache
    std::string more;      // more lines of the cache section, two-space indent ("  lock_timeout: 2s\n")
    std::string patterns;  // more route patterns, four-space indent
    std::string workers = "1";
    std::function<void(PorticoSettings&)> tweak;  // last word on the settings
};

inline std::string cache_section(const CacheSetup& c, const TempDir& dir) {
    return fmt::format(
        "  enabled: true\n"
        "  path: {}\n"
        "  max_size: {}\n"
        "  invalidate_on_unsafe: {}\n"
        "  key: {{ sort_query: true, ignore_params: [utm_*, fbclid, gclid] }}\n"
        "{}",
        c.path.empty() ? dir.file("cache") : c.path, c.max_size, c.invalidate_on_unsafe, c.more);
}

// The cache app on TCP and portico in front of it, cache on. Portico can be killed and started
// again over the same cache files (restart persistence).
struct CacheStack {
    explicit CacheStack(CacheSetup setup = {})
        : setup(std::move(setup)), app(dir, UpstreamApp::Transport::tcp, "app", {}, "cache_app") {
        start_portico();
    }

    PorticoSettings settings() const {
        PorticoSettings s;
        s.upstream = app.address();
        s.workers = setup.workers;
        s.cache = cache_section(setup, dir);
        s.routes = std::string(kRoutes) + setup.patterns;
        if (setup.tweak) setup.tweak(s);
        return s;
    }
    void start_portico() { portico = std::make_unique<Portico>(dir, settings()); }
    // SIGKILL (no drain, no clean close of the store), then a new portico on the same files.
    void kill_and_restart_portico() {
        portico->process().kill_and_wait();
        portico.reset();
        start_portico();
    }

    Endpoint endpoint() const { return portico->endpoint(); }

    CacheSetup setup;
    TempDir dir;
    UpstreamApp app;
    std::unique_ptr<Portico> portico;
};

// Percent-encodes a query parameter value.
inline std::string q(std::string_view v) {
    std::string out;
    for (unsigned char c : v) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~')
            out += static_cast<char>(c);
        else
            out += fmt::format("%{:02X}", c);
    }
    return out;
}

inline HttpResponse request(const Endpoint& e, std::string_view method, std::string_view target,
                            const Headers& headers = {}, std::string_view body = {}, Millis timeout = 10s) {
    return http_request(e, make_request(method, target, headers, body), timeout, method == "HEAD");
}
inline HttpResponse get(const Endpoint& e, std::string_view target, const Headers& headers = {},
                        Millis timeout = 10s) {
    return request(e, "GET", target, headers, {}, timeout);
}

inline std::string xcache(const HttpResponse& r) { return r.header("x-cache").value_or("<no X-Cache>"); }
inline std::string cstatus(const HttpResponse& r) { return r.header("cache-status").value_or("<no Cache-Status>"); }
inline bool has(std::string_view haystack, std::string_view needle) {
    return haystack.find(needle) != std::string_view::npos;
}
// Age as a number; -1 when absent or not a number.
inline long age(const HttpResponse& r) {
    auto a = r.header("age");
    if (!a || a->empty() || a->find_first_not_of("0123456789") != std::string::npos) return -1;
    return std::stol(*a);
}
// The app's request serial for the path, from the JSON body ("n"); -1 when the body is not JSON.
inline int serial(const HttpResponse& r) {
    try {
        return nlohmann::json::parse(r.body).value("n", -1);
    } catch (const std::exception&) {
        return -1;
    }
}
// The serial the app put in X-App-Serial (refreshed by a 304), -1 when absent.
inline int header_serial(const HttpResponse& r) {
    auto s = r.header("x-app-serial");
    return s ? std::atoi(s->c_str()) : -1;
}

// For assertion messages: status, X-Cache, Cache-Status, Age and the head.
inline std::string show(const HttpResponse& r) {
    return fmt::format("X-Cache: {} | Cache-Status: {} | body {:.200}\n{}", xcache(r), cstatus(r), r.body,
                       r.describe());
}

// Fields a response served from cache must carry once at most (a stored head merged with the
// per-response ones must not repeat any), and framing that is not ambiguous.
inline void check_single_fields(const HttpResponse& r) {
    for (const char* f : {"x-cache", "cache-status", "age", "date", "content-length", "content-type", "cache-control",
                          "x-request-id", "server-timing", "etag", "transfer-encoding", "server"})
        BOOST_TEST(r.header_count(f) <= 1u, f << " repeated: " << show(r));
    BOOST_TEST(!(r.header("content-length") && r.header("transfer-encoding")), "both framings: " << show(r));
}

// ---- the app's own counters (asked directly, never through portico) ----

inline int counter(UpstreamApp& app, const char* which, const std::string& path) {
    json j = app.counts();
    return j[which].contains(path) ? j[which][path].get<int>() : 0;
}
inline int asked(UpstreamApp& app, const std::string& path) { return counter(app, "paths", path); }
inline int full_answers(UpstreamApp& app, const std::string& path) { return counter(app, "full", path); }
inline int conditionals(UpstreamApp& app, const std::string& path) { return counter(app, "conditional", path); }
inline int not_modified(UpstreamApp& app, const std::string& path) { return counter(app, "not_modified", path); }
inline json last_headers(UpstreamApp& app, const std::string& path) {
    json j = app.counts()["last_headers"];
    return j.contains(path) ? j[path] : json::object();
}

// Makes every request to `path` behave as if `params` were in its query (null: back to the query).
inline void app_override(UpstreamApp& app, const std::string& path, const json& params) {
    json body = {{"path", path}, {"params", params}};
    auto r = http_request(app.endpoint(), make_request("POST", "/_ctl/override", {{"Content-Type", "application/json"}},
                                                       body.dump(), "127.0.0.1"));
    BOOST_TEST_REQUIRE(r.status == 200, "app override: " << r.describe());
}
inline void app_release(UpstreamApp& app, const std::string& gate) {
    auto r = http_request(app.endpoint(), make_request("POST", "/_ctl/release?gate=" + gate, {}, {}, "127.0.0.1"));
    BOOST_TEST_REQUIRE(r.status == 200, "app release: " << r.describe());
}
inline int gate_waiting(UpstreamApp& app, const std::string& gate) {
    json j = app.counts()["gates_waiting"];
    return j.contains(gate) ? j[gate].get<int>() : 0;
}

// ---- the admin port ----

inline json cache_stats(const Portico& p) {
    auto r = p.admin("GET", "/cache");
    BOOST_TEST_REQUIRE(r.status == 200, "GET /cache: " << r.describe() << r.body);
    return r.json();
}
inline double stat(const Portico& p, const char* field) {
    json j = cache_stats(p);
    return j.contains(field) && j[field].is_number() ? j[field].get<double>() : -1;
}
// Waits until at least `n` responses went to the store ("stores") and no fetch is still in flight
// (the single writer commits in batches and the request path never waits for it; a fetch's lease
// is released after its commit), so the next lookup finds what was stored.
inline bool wait_stored(const Portico& p, double n, Millis timeout = 5s) {
    return eventually(
        [&] {
            json j = cache_stats(p);
            return j.value("stores", -1.0) >= n && j.value("in_flight", 0.0) == 0;
        },
        timeout, 10ms);
}

// Fetches `target` (a MISS), waits until the writer has it, and checks the store took it.
inline HttpResponse store(CacheStack& s, const std::string& target, const Headers& headers = {},
                          Millis timeout = 30s) {
    json before = cache_stats(*s.portico);
    auto r = get(s.endpoint(), target, headers, timeout);
    BOOST_TEST(r.status == 200, show(r));
    BOOST_TEST(xcache(r) == "MISS", show(r));
    BOOST_TEST(wait_stored(*s.portico, before.value("stores", 0.0) + 1, 10s),
               "never stored: " << target << "\n" << show(r));
    json after = cache_stats(*s.portico);
    BOOST_TEST(after.value("store_failures", 0) == before.value("store_failures", 0),
               "the store refused " << target << ": " << after.dump());
    return r;
}

inline std::string metrics_text(const Portico& p) {
    auto r = p.admin("GET", "/metrics");
    BOOST_TEST_REQUIRE(r.status == 200, "GET /metrics: " << r.describe());
    return r.body;
}
// The value of one sample, named exactly as it appears before the value ("name{label=\"v\"}");
// NaN when absent.
inline double metric(const std::string& text, std::string_view sample) {
    size_t at = 0;
    while ((at = text.find(sample, at)) != std::string::npos) {
        bool line_start = at == 0 || text[at - 1] == '\n';
        size_t after = at + sample.size();
        if (line_start && after < text.size() && text[after] == ' ') return std::strtod(text.c_str() + after + 1, nullptr);
        at = after;
    }
    return std::nan("");
}
// Sum of every sample whose line starts with `prefix` and contains `must_contain`.
inline double metric_sum(const std::string& text, std::string_view prefix, std::string_view must_contain = {}) {
    double sum = 0;
    size_t start = 0;
    while (start < text.size()) {
        size_t end = text.find('\n', start);
        if (end == std::string::npos) end = text.size();
        std::string_view line(text.data() + start, end - start);
        if (line.rfind(prefix, 0) == 0 && has(line, must_contain)) {
            auto sp = line.rfind(' ');
            if (sp != std::string_view::npos) sum += std::strtod(std::string(line.substr(sp + 1)).c_str(), nullptr);
        }
        start = end + 1;
    }
    return sum;
}

// POST /cache/purge with one field; the count removed (the answer's "removed", "purged" or
// "count"), -1 when the answer is not 200 or holds no count.
inline long purge(const Portico& p, std::string_view kind, std::string_view value, HttpResponse* answer = nullptr) {
    json body = {{std::string(kind), std::string(value)}};
    auto r = p.admin("POST", "/cache/purge", body.dump());
    if (answer) *answer = r;
    if (r.status != 200) return -1;
    json j = r.json();
    for (const char* k : {"removed", "purged", "count"})
        if (j.contains(k) && j[k].is_number()) return j[k].get<long>();
    return -1;
}

// ---- patterns of requests ----

// Polls `target` every `step` until the answer is not a HIT; returns that answer (status 0 and
// error "still HIT" if it never changed). Every poll that was a HIT touched nothing upstream.
inline HttpResponse first_non_hit(const Endpoint& e, const std::string& target, Millis timeout = 8s,
                                  const Headers& headers = {}, Millis step = 100ms) {
    HttpResponse last;
    bool changed = eventually(
        [&] {
            last = get(e, target, headers);
            return last.status == 0 || xcache(last) != "HIT";
        },
        timeout, step);
    if (!changed) {
        last.status = 0;
        last.error = "still HIT after the timeout";
    }
    return last;
}

// `n` clients, each on its own connection, all sending the same request at (nearly) once; the
// answers in client order. Threads only read and write sockets: no Boost.Test calls in them.
inline std::vector<HttpResponse> concurrent(const Endpoint& e, std::string_view method, const std::string& target,
                                            int n, const Headers& headers = {}, Millis timeout = 15s) {
    std::vector<HttpResponse> out(static_cast<size_t>(n));
    std::vector<std::unique_ptr<RawClient>> clients;
    for (int i = 0; i < n; ++i) clients.push_back(std::make_unique<RawClient>(e));  // connected before any sends
    std::string req = make_request(method, target, headers);
    std::vector<std::thread> threads;
    for (int i = 0; i < n; ++i) {
        threads.emplace_back([&, i] {
            auto& c = *clients[static_cast<size_t>(i)];
            if (!c.send(req, timeout)) {
                out[static_cast<size_t>(i)].error = "send failed";
                return;
            }
            out[static_cast<size_t>(i)] = c.read_response(timeout, method == "HEAD");
        });
    }
    for (auto& t : threads) t.join();
    return out;
}

}  // namespace portico::test::cache
