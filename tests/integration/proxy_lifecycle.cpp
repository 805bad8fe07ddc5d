// The process as operators drive it: SIGHUP reload under load (no failed request), an invalid
// file on reload (old config keeps serving, FILE:LINE:COL on stderr), SIGTERM drain with a request
// in flight, and the command line: -t, --version, --print-config.
#include <boost/test/unit_test.hpp>

#include <fmt/core.h>
#include <signal.h>

#include <atomic>
#include <mutex>
#include <regex>
#include <thread>

#include "harness.hpp"

using namespace portico::test;

namespace {

struct CliResult {
    int code = -1;
    std::string out, err;
};

CliResult run_portico(const TempDir& dir, std::vector<std::string> args,
                      std::vector<std::pair<std::string, std::string>> env = {}) {
    Process::Options o;
    o.argv = {portico_bin()};
    o.argv.insert(o.argv.end(), args.begin(), args.end());
    o.env = std::move(env);
    o.stdout_path = dir.file("cli.stdout");
    o.stderr_path = dir.file("cli.stderr");
    Process p(o);
    auto code = p.wait_exit(10s);
    CliResult r;
    r.code = code ? *code : -1;
    r.out = p.stdout_text();
    r.err = p.stderr_text();
    return r;
}

// Requests in a loop on a keep-alive connection from another thread; every one must succeed.
// A connection portico closes after a response that said `Connection: close` is reopened.
class Load {
public:
    explicit Load(Endpoint endpoint) : endpoint_(std::move(endpoint)) {
        for (int t = 0; t < 2; ++t) threads_.emplace_back([this, t] { run(t); });
    }
    ~Load() { finish(); }
    void finish() {
        stop_ = true;
        for (auto& t : threads_)
            if (t.joinable()) t.join();
    }
    int ok() const { return ok_; }
    int failed() const { return failed_; }
    std::string first_failure() {
        std::lock_guard lock(mu_);
        return first_failure_;
    }

private:
    void fail(std::string what) {
        if (failed_++ == 0) {
            std::lock_guard lock(mu_);
            first_failure_ = std::move(what);
        }
    }
    void run(int t) {
        std::optional<RawClient> c;
        int i = 0;
        while (!stop_) {
            try {
                if (!c) c.emplace(endpoint_);
                const bool post = (i++ % 3) == 2;
                std::string req = post ? make_request("POST", "/upload", {}, "reload-body")
                                       : make_request("GET", fmt::format("/echo/load-{}", t));
                if (!c->send(req, 5s)) {
                    fail(fmt::format("thread {} request {}: send failed (connection dropped)", t, i));
                    c.reset();
                    continue;
                }
                auto r = c->read_response(10s);
                if (r.status != 200 || !r.complete) {
                    fail(fmt::format("thread {} request {}: status {} error {}\n{}", t, i, r.status, r.error, r.raw_head));
                    c.reset();
                    continue;
                }
                ++ok_;
                if (r.has_token("connection", "close")) c.reset();
            } catch (const std::exception& e) {
                fail(fmt::format("thread {}: {}", t, e.what()));
                c.reset();
            }
        }
    }

    Endpoint endpoint_;
    std::atomic<bool> stop_{false};
    std::atomic<int> ok_{0}, failed_{0};
    std::mutex mu_;
    std::string first_failure_;
    std::vector<std::thread> threads_;
};

}  // namespace

BOOST_AUTO_TEST_SUITE(proxy_lifecycle)

BOOST_AUTO_TEST_CASE(reload_under_load_fails_no_request) {
    Stack s;
    PorticoSettings settings = s.portico->settings();
    Load load(s.endpoint());
    BOOST_TEST_REQUIRE(eventually([&] { return load.ok() >= 20; }, 10s), "load never got going: " << load.first_failure());
    for (int i = 0; i < 5; ++i) {
        settings.read_timeout = fmt::format("{}s", 5 + i);
        s.portico->write_config(settings);
        s.portico->reload();
        const int before = load.ok();
        BOOST_TEST_REQUIRE(eventually([&] { return load.ok() >= before + 20; }, 10s),
                           "no progress after reload " << i << ": " << load.first_failure());
    }
    load.finish();
    BOOST_TEST_MESSAGE(fmt::format("reload under load: {} ok, {} failed", load.ok(), load.failed()));
    BOOST_TEST(load.failed() == 0, load.first_failure());

    // The reloaded values are in force: read_timeout 1s now turns /slow/2500 into a 504.
    settings.read_timeout = "1s";
    s.portico->write_config(settings);
    s.portico->reload();
    auto r = http_get(s.endpoint(), "/slow/2500");
    BOOST_TEST(r.status == 504, r.describe());
    BOOST_TEST(s.portico->stop() == 0);
}

BOOST_AUTO_TEST_CASE(invalid_config_on_reload_keeps_the_old_one) {
    Stack s([](PorticoSettings& p) { p.read_timeout = "1s"; });
    const std::string path = s.portico->config_path();
    const std::string good = read_file(path);
    // An unknown key on a line we know: the error must point at it.
    const int bad_line = static_cast<int>(std::count(good.begin(), good.end(), '\n')) + 1;
    s.portico->write_config_text(good + "upstreams_typo: 3\n");
    s.portico->process().signal(SIGHUP);
    const std::string where = fmt::format("portico.yaml:{}:1", bad_line);
    bool reported = eventually([&] { return s.portico->stderr_text().find(where) != std::string::npos; }, 5s, 20ms);
    BOOST_TEST(reported, "stderr lacks '" << where << "':\n" << s.portico->stderr_text());
    BOOST_TEST(s.portico->process().running());
    // Still serving, with the old config (read_timeout 1s).
    BOOST_TEST(http_get(s.endpoint(), "/echo").status == 200);
    BOOST_TEST(http_get(s.endpoint(), "/slow/2000").status == 504);

    // A YAML syntax error is reported with its position too.
    s.portico->write_config_text(good + "limits: [unclosed\n");
    s.portico->process().signal(SIGHUP);
    const std::regex position(R"(portico\.yaml:\d+:\d+)");
    bool reported_syntax = eventually(
        [&] {
            auto err = s.portico->stderr_text();
            return std::distance(std::sregex_iterator(err.begin(), err.end(), position), std::sregex_iterator()) >= 2;
        },
        5s, 20ms);
    BOOST_TEST(reported_syntax, "no second FILE:LINE error on stderr:\n" << s.portico->stderr_text());
    BOOST_TEST(http_get(s.endpoint(), "/echo").status == 200);

    // A fixed file reloads normally again.
    PorticoSettings fixed = s.portico->settings();
    fixed.read_timeout = "5s";
    s.portico->write_config(fixed);
    s.portico->reload();
    BOOST_TEST(http_get(s.endpoint(), "/slow/2000").status == 200);
    BOOST_TEST(s.portico->stop() == 0);
}

BOOST_AUTO_TEST_CASE(sigterm_drains_in_flight_requests) {
    Stack s([](PorticoSettings& p) { p.drain_timeout = "5s"; });
    // An idle kept-alive connection, and one request in flight.
    RawClient idle(s.endpoint());
    BOOST_TEST_REQUIRE(idle.send(make_request("GET", "/echo/idle")));
    BOOST_TEST_REQUIRE(idle.read_response().status == 200);
    RawClient busy(s.endpoint());
    BOOST_TEST_REQUIRE(busy.send(make_request("GET", "/slow/1500")));
    BOOST_TEST_REQUIRE(eventually([&] { return s.app.count("/slow/1500") == 1; }, 5s, 20ms));

    const auto term_at = Clock::now();
    s.portico->process().signal(SIGTERM);
    BOOST_TEST(s.portico->notify().wait_for("STOPPING=1", 2s));
    // New connections are refused once the listener is closed.
    BOOST_TEST(eventually([&] { return !wait_for_tcp(s.portico->port(), 0ms); }, 2s, 20ms),
               "portico still accepts connections while draining");
    // The idle connection is closed without waiting for the drain deadline.
    BOOST_TEST(idle.wait_closed(3s), "idle keep-alive connection not closed on drain");

    auto r = busy.read_response(10s);
    BOOST_TEST(r.status == 200, r.describe());
    BOOST_TEST(r.complete);
    auto code = s.portico->process().wait_exit(10s);
    BOOST_TEST_REQUIRE(code.has_value(), "portico did not exit after draining");
    BOOST_TEST(*code == 0, s.portico->stderr_text());
    auto took = std::chrono::duration_cast<Millis>(Clock::now() - term_at);
    BOOST_TEST(took.count() < 4500, "drain took " << took.count() << " ms for a 1.5 s request");
}

BOOST_AUTO_TEST_CASE(drain_timeout_bounds_the_wait) {
    Stack s([](PorticoSettings& p) {
        p.drain_timeout = "1s";
        p.read_timeout = "30s";
    });
    RawClient busy(s.endpoint());
    BOOST_TEST_REQUIRE(busy.send(make_request("GET", "/slow/20000")));
    BOOST_TEST_REQUIRE(eventually([&] { return s.app.count("/slow/20000") == 1; }, 5s, 20ms));
    const auto term_at = Clock::now();
    s.portico->process().signal(SIGTERM);
    auto code = s.portico->process().wait_exit(8s);
    BOOST_TEST_REQUIRE(code.has_value(), "portico still running 8 s after SIGTERM with drain_timeout 1s");
    auto took = std::chrono::duration_cast<Millis>(Clock::now() - term_at);
    BOOST_TEST(*code == 0, s.portico->stderr_text());
    BOOST_TEST(took.count() < 5000);
    BOOST_TEST(busy.wait_closed(2s));
}

BOOST_AUTO_TEST_CASE(check_config_ok_and_errors) {
    TempDir dir;
    PorticoSettings p;
    p.listen = fmt::format("127.0.0.1:{}", free_tcp_port());
    p.upstream = "127.0.0.1:9";
    const std::string good = p.to_yaml(dir.file("access.log"), free_tcp_port());
    dir.write("good.yaml", good);
    auto ok = run_portico(dir, {"-t", "--config", dir.file("good.yaml")});
    BOOST_TEST(ok.code == 0, ok.out << ok.err);
    BOOST_TEST((ok.out + ok.err).find("ok") != std::string::npos, ok.out << ok.err);

    const int last_line = static_cast<int>(std::count(good.begin(), good.end(), '\n'));
    struct Bad {
        const char* name;
        std::string text;
        std::string where;  // a regex for FILE:LINE:COL
    };
    const std::string no_pool = "pool:\n  enabled: false\n";
    const std::vector<Bad> bads = {
        {"unknown top-level key", good + "listne: 127.0.0.1:1\n", fmt::format(R"(bad\.yaml:{}:1\b)", last_line + 1)},
        {"unknown nested key", "workers: 1\nupstream:\n  adress: 127.0.0.1:1\n" + no_pool, R"(bad\.yaml:3:3\b)"},
        {"syntax error", good + "limits: {max_body_bytes: [\n", R"(bad\.yaml:\d+:\d+)"},
        {"bad size value", "workers: 1\nlimits:\n  max_body_bytes: 12 parsecs\n" + no_pool, R"(bad\.yaml:3:19\b)"},
        {"bad duration value", "workers: 1\nupstream:\n  read_timeout: soon\n" + no_pool, R"(bad\.yaml:3:17\b)"},
    };
    for (const auto& b : bads) {
        BOOST_TEST_CONTEXT(b.name) {
            dir.write("bad.yaml", b.text);
            auto r = run_portico(dir, {"-t", "--config", dir.file("bad.yaml")});
            BOOST_TEST(r.code == 1, r.out << r.err);
            BOOST_TEST(std::regex_search(r.out + r.err, std::regex(b.where)),
                       "expected /" << b.where << "/ in:\n" << r.out << r.err);
        }
    }
    auto missing = run_portico(dir, {"-t", "--config", dir.file("nope.yaml")});
    BOOST_TEST(missing.code == 1, missing.out << missing.err);
    BOOST_TEST((missing.out + missing.err).find("nope.yaml") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(version_and_print_config) {
    TempDir dir;
    auto v = run_portico(dir, {"--version"});
    BOOST_TEST(v.code == 0, v.err);
    BOOST_TEST(std::regex_search(v.out, std::regex(R"(\d+\.\d+\.\d+)")), "no version number in: " << v.out);

    PorticoSettings p;
    p.listen = "127.0.0.1:${PORTICO_TEST_PORT}";
    p.upstream = "127.0.0.1:${PORTICO_TEST_UP:-8123}";
    p.extra = "pool:\n  enabled: false\n  databases:\n    app: { conninfo: \"host=/tmp dbname=app password=hunter2\" }\n";
    std::string yaml = p.to_yaml(dir.file("access.log"), free_tcp_port());
    // to_yaml already wrote `pool: enabled: false`; keep only the richer block from `extra`.
    auto first_pool = yaml.find("pool:\n  enabled: false\nadmin:");
    BOOST_TEST_REQUIRE(first_pool != std::string::npos);
    yaml.erase(first_pool, std::string("pool:\n  enabled: false\n").size());
    dir.write("print.yaml", yaml);
    auto r = run_portico(dir, {"--print-config", "--config", dir.file("print.yaml")},
                         {{"PORTICO_TEST_PORT", "18999"}, {"PORTICO_WORKERS", "3"}});
    BOOST_TEST(r.code == 0, r.out << r.err);
    BOOST_TEST(r.out.find("127.0.0.1:18999") != std::string::npos, "${ENV} not substituted:\n" << r.out);
    BOOST_TEST(r.out.find("127.0.0.1:8123") != std::string::npos, "${ENV:-default} not substituted:\n" << r.out);
    BOOST_TEST(r.out.find("hunter2") == std::string::npos, "secret printed:\n" << r.out);
    BOOST_TEST(std::regex_search(r.out, std::regex(R"(workers:\s*3\b)")), "PORTICO_WORKERS ignored:\n" << r.out);
}

BOOST_AUTO_TEST_SUITE_END()
