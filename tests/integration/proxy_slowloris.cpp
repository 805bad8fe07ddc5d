// Slowloris: 1000 connections dribbling a request head one byte at a time must neither starve a
// normal client nor live past limits.header_timeout (which bounds the whole head, not each read).
#include <boost/test/unit_test.hpp>

#include <fmt/core.h>
#include <sys/resource.h>

#include <atomic>
#include <thread>

#include "harness.hpp"

using namespace portico::test;

namespace {

constexpr int kSlowClients = 1000;

void raise_nofile(rlim_t want) {
    rlimit lim{};
    ::getrlimit(RLIMIT_NOFILE, &lim);
    if (lim.rlim_cur >= want) return;
    lim.rlim_cur = std::min(want, lim.rlim_max);
    ::setrlimit(RLIMIT_NOFILE, &lim);  // inherited by portico, which needs as many
}

}  // namespace

BOOST_AUTO_TEST_SUITE(proxy_slowloris)

BOOST_AUTO_TEST_CASE(slow_heads_do_not_starve_normal_clients) {
    raise_nofile(4096);
    Stack s([](PorticoSettings& p) {
        p.header_timeout = "3s";
        p.idle_timeout = "10s";
    });

    std::vector<RawClient> slow;
    slow.reserve(kSlowClients);
    for (int i = 0; i < kSlowClients; ++i) {
        slow.emplace_back(s.endpoint());
        slow.back().send(fmt::format("GET /echo/slowloris-{} HTTP/1.1\r\nHost: portico.test\r\nX-Slow: ", i));
    }
    const auto opened = Clock::now();
    BOOST_TEST_MESSAGE(fmt::format("{} slow connections opened", kSlowClients));

    // A normal client keeps working meanwhile, on fresh connections and on a kept-alive one.
    std::atomic<bool> stop{false};
    std::atomic<int> ok{0}, failed{0};
    std::string first_failure;
    std::thread normal([&] {
        try {
            RawClient keep(s.endpoint());
            int i = 0;
            while (!stop) {
                bool fresh = (i++ % 2) == 0;
                HttpResponse r;
                if (fresh) {
                    r = http_get(s.endpoint(), "/echo/normal", {}, 5s);
                } else {
                    keep.send(make_request("GET", "/echo/normal-ka"));
                    r = keep.read_response(5s);
                }
                if (r.status == 200) {
                    ++ok;
                    if (!fresh && r.has_token("connection", "close")) keep = RawClient(s.endpoint());
                } else {
                    if (failed++ == 0) first_failure = fmt::format("status {} error {} fresh {}", r.status, r.error, fresh);
                    if (!fresh) keep = RawClient(s.endpoint());
                }
            }
        } catch (const std::exception& e) {
            if (failed++ == 0) first_failure = e.what();
        }
    });

    // One byte per connection every 500 ms for 5 s: past the 3 s header timeout.
    std::vector<bool> gone(kSlowClients, false);
    for (int round = 0; round < 10; ++round) {
        const auto next = Clock::now() + 500ms;
        for (int i = 0; i < kSlowClients; ++i)
            if (!gone[i] && !slow[i].send("a", 100ms)) gone[i] = true;
        std::this_thread::sleep_until(next);  // the pacing of the attack itself, not a wait for a state
    }
    stop = true;
    normal.join();

    // By now every slow head is older than header_timeout: each got a 408 or was closed.
    int answered_408 = 0, closed_silently = 0, still_open = 0, other = 0;
    const auto deadline = opened + 10s;
    for (int i = 0; i < kSlowClients; ++i) {
        bool closed = false;
        auto left = std::max<Millis>(0ms, std::chrono::duration_cast<Millis>(deadline - Clock::now()));
        std::string got = slow[i].read_until_close(left, &closed);
        if (!closed)
            ++still_open;
        else if (got.rfind("HTTP/1.1 408", 0) == 0)
            ++answered_408;
        else if (got.empty())
            ++closed_silently;
        else
            ++other;
    }
    BOOST_TEST_MESSAGE(fmt::format("slow connections: {} answered 408, {} closed silently, {} other, {} still open; "
                                   "normal client: {} ok, {} failed",
                                   answered_408, closed_silently, other, still_open, ok.load(), failed.load()));
    BOOST_TEST(still_open == 0);
    BOOST_TEST(other == 0);
    BOOST_TEST(failed.load() == 0, "first failure: " << first_failure);
    BOOST_TEST(ok.load() >= 10);
    BOOST_TEST(s.app.count("/echo/slowloris-0") == 0);
    BOOST_TEST(s.portico->process().running());
    BOOST_TEST(http_get(s.endpoint(), "/echo").status == 200);
}

BOOST_AUTO_TEST_SUITE_END()
