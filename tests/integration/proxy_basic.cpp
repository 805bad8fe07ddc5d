// Basic proxying against the real binary: what the app receives (X-Forwarded-*, X-Real-IP,
// X-Request-ID, no hop-by-hop fields), what the client gets back (Server-Timing, X-Request-ID),
// HEAD, keep-alive, pipelining, Unix sockets on both sides, trusted proxies, Upgrade.
#include <boost/test/unit_test.hpp>

#include <fmt/core.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "harness.hpp"

using namespace portico::test;
using nlohmann::json;

namespace {

// The app's view of one request sent through portico on a fresh connection.
json echo_through(const Endpoint& endpoint, const Headers& headers, std::string_view target = "/echo") {
    auto r = http_request(endpoint, make_request("GET", target, headers));
    BOOST_TEST_REQUIRE(r.status == 200, r.describe());
    return r.json();
}

std::string hdr(const json& echo, const std::string& name) {
    const auto& h = echo["headers"];
    return h.contains(name) ? h[name].get<std::string>() : std::string("<absent>");
}

}  // namespace

BOOST_AUTO_TEST_SUITE(proxy_basic)

BOOST_AUTO_TEST_CASE(get_via_curl_adds_response_headers) {
    Stack s;
    auto r = run_curl({"-s", "-i", "--max-time", "10", s.portico->url("/echo?x=1&y=2")});
    BOOST_TEST_REQUIRE(r.exit_code == 0, "curl: " << r.err);
    auto head_end = r.out.find("\r\n\r\n");
    BOOST_TEST_REQUIRE(head_end != std::string::npos);
    std::string head = r.out.substr(0, head_end);
    BOOST_TEST(head.rfind("HTTP/1.1 200", 0) == 0, head);
    auto body = json::parse(r.out.substr(head_end + 4));
    BOOST_TEST(body["method"] == "GET");
    BOOST_TEST(body["path"] == "/echo");
    BOOST_TEST(body["query"] == "x=1&y=2");

    // The same on a raw connection, where header values can be inspected exactly.
    auto raw = http_get(s.endpoint(), "/echo");
    BOOST_TEST_REQUIRE(raw.status == 200);
    auto timing = raw.header("server-timing");
    BOOST_TEST_REQUIRE(timing.has_value(), raw.raw_head);
    BOOST_TEST(timing->find("portico;dur=") != std::string::npos, *timing);
    BOOST_TEST(timing->find("upstream;dur=") != std::string::npos, *timing);
    auto rid = raw.header("x-request-id");
    BOOST_TEST_REQUIRE(rid.has_value(), raw.raw_head);
    BOOST_TEST(!rid->empty());
    BOOST_TEST(s.app.count("/echo") == 2);
}

BOOST_AUTO_TEST_CASE(forwarded_headers_reach_the_app) {
    Stack s;
    auto plain = echo_through(s.endpoint(), {{"Host", "shop.example:8443"}});
    BOOST_TEST(hdr(plain, "x-forwarded-for") == "127.0.0.1");
    BOOST_TEST(hdr(plain, "x-real-ip") == "127.0.0.1");
    BOOST_TEST(hdr(plain, "x-forwarded-proto") == "http");
    BOOST_TEST(hdr(plain, "x-forwarded-host") == "shop.example:8443");

    // The peer (127.0.0.1) is trusted by default: the client IP comes from X-Forwarded-For.
    auto via = echo_through(s.endpoint(), {{"X-Forwarded-For", "203.0.113.7"}});
    BOOST_TEST(hdr(via, "x-forwarded-for") == "203.0.113.7, 127.0.0.1");
    BOOST_TEST(hdr(via, "x-real-ip") == "203.0.113.7");

    auto real_ip = echo_through(s.endpoint(), {{"X-Real-IP", "198.51.100.9"}});
    BOOST_TEST(hdr(real_ip, "x-real-ip") == "198.51.100.9");
}

BOOST_AUTO_TEST_CASE(untrusted_peer_forwarded_for_is_not_believed) {
    Stack s([](PorticoSettings& p) { p.trusted_proxies = "[]"; });
    auto via = echo_through(s.endpoint(), {{"X-Forwarded-For", "203.0.113.7"}, {"X-Real-IP", "198.51.100.9"}});
    // The chain is still passed on (with the peer appended), but the client IP is the peer.
    BOOST_TEST(hdr(via, "x-forwarded-for") == "203.0.113.7, 127.0.0.1");
    BOOST_TEST(hdr(via, "x-real-ip") == "127.0.0.1");
}

BOOST_AUTO_TEST_CASE(request_id_kept_or_generated) {
    Stack s;
    {
        RawClient c(s.endpoint());
        BOOST_TEST_REQUIRE(c.send(make_request("GET", "/echo", {{"X-Request-ID", "req-abc-123"}})));
        auto r = c.read_response();
        BOOST_TEST_REQUIRE(r.status == 200);
        BOOST_TEST(hdr(r.json(), "x-request-id") == "req-abc-123");
        BOOST_TEST(r.header("x-request-id").value_or("<absent>") == "req-abc-123");
    }
    std::string first;
    for (int i = 0; i < 2; ++i) {
        auto r = http_get(s.endpoint(), "/echo");
        BOOST_TEST_REQUIRE(r.status == 200);
        std::string seen_by_app = hdr(r.json(), "x-request-id");
        BOOST_TEST(seen_by_app != "<absent>");
        BOOST_TEST(!seen_by_app.empty());
        BOOST_TEST(r.header("x-request-id").value_or("<absent>") == seen_by_app);
        if (i == 0)
            first = seen_by_app;
        else
            BOOST_TEST(seen_by_app != first, "two requests got the same generated id " << first);
    }
}

BOOST_AUTO_TEST_CASE(hop_by_hop_headers_removed) {
    Stack s;
    auto e = echo_through(s.endpoint(), {{"Connection", "keep-alive, X-Custom-Hop"},
                                         {"X-Custom-Hop", "secret"},
                                         {"Keep-Alive", "timeout=5"},
                                         {"TE", "trailers"},
                                         {"Trailer", "X-Checksum"},
                                         {"Proxy-Connection", "keep-alive"},
                                         {"X-End-To-End", "kept"}});
    for (const char* gone : {"x-custom-hop", "keep-alive", "te", "trailer", "proxy-connection", "upgrade"})
        BOOST_TEST(hdr(e, gone) == "<absent>", gone << " reached the app: " << e["headers"].dump());
    // Portico may send its own Connection to the app, but never one naming the client's fields.
    std::string conn = hdr(e, "connection");
    BOOST_TEST(conn.find("X-Custom-Hop") == std::string::npos);
    BOOST_TEST(conn.find("x-custom-hop") == std::string::npos);
    BOOST_TEST(hdr(e, "x-end-to-end") == "kept");
}

BOOST_AUTO_TEST_CASE(upgrade_is_stripped_and_proxied_normally) {
    Stack s;
    RawClient c(s.endpoint());
    BOOST_TEST_REQUIRE(c.send(make_request("GET", "/echo", {{"Connection", "Upgrade"},
                                                            {"Upgrade", "websocket"},
                                                            {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="},
                                                            {"Sec-WebSocket-Version", "13"}})));
    auto r = c.read_response();
    BOOST_TEST_REQUIRE(r.status == 200, r.describe());
    auto e = r.json();
    BOOST_TEST(hdr(e, "upgrade") == "<absent>");
    BOOST_TEST(hdr(e, "connection").find("pgrade") == std::string::npos);
    // The connection stays plain HTTP: another request works on it.
    BOOST_TEST_REQUIRE(c.send(make_request("GET", "/echo/after-upgrade")));
    auto again = c.read_response();
    BOOST_TEST(again.status == 200);
}

BOOST_AUTO_TEST_CASE(head_has_no_body) {
    Stack s;
    RawClient c(s.endpoint());
    BOOST_TEST_REQUIRE(c.send(make_request("HEAD", "/echo")));
    auto head = c.read_response(10s, /*head_request=*/true);
    BOOST_TEST_REQUIRE(head.status == 200, head.describe());
    auto cl = head.header("content-length");
    BOOST_TEST_REQUIRE(cl.has_value(), head.raw_head);
    BOOST_TEST(std::stoi(*cl) > 0);
    // If portico wrongly sent a body after the HEAD response, this next response would not parse.
    BOOST_TEST_REQUIRE(c.send(make_request("GET", "/bytes/10")));
    auto get = c.read_response();
    BOOST_TEST(get.status == 200, get.describe());
    BOOST_TEST(get.body == pattern_bytes(0, 10));
}

BOOST_AUTO_TEST_CASE(keep_alive_serves_many_requests_on_one_connection) {
    Stack s;
    RawClient c(s.endpoint());
    for (int i = 0; i < 5; ++i) {
        BOOST_TEST_REQUIRE(c.send(make_request("GET", fmt::format("/bytes/{}", 100 + i))));
        auto r = c.read_response();
        BOOST_TEST_REQUIRE(r.status == 200, "request " << i << ": " << r.error);
        BOOST_TEST(r.body == pattern_bytes(0, 100 + i));
        BOOST_TEST(!r.has_token("connection", "close"));
    }
    // A POST with a body, then a GET, still on the same connection.
    BOOST_TEST_REQUIRE(c.send(make_request("POST", "/upload", {}, "hello world")));
    auto up = c.read_response();
    BOOST_TEST_REQUIRE(up.status == 200);
    BOOST_TEST(up.json()["length"] == 11);
    BOOST_TEST_REQUIRE(c.send(make_request("GET", "/echo")));
    BOOST_TEST(c.read_response().status == 200);
    BOOST_TEST(!c.peer_closed_now());
}

BOOST_AUTO_TEST_CASE(pipelined_requests_answered_in_order) {
    Stack s;
    RawClient c(s.endpoint());
    std::string three = make_request("GET", "/slow/300") + make_request("POST", "/echo/two", {}, "body-two") +
                        make_request("GET", "/echo/three");
    BOOST_TEST_REQUIRE(c.send(three));
    auto r1 = c.read_response();
    auto r2 = c.read_response();
    auto r3 = c.read_response();
    BOOST_TEST_REQUIRE(r1.status == 200, r1.describe());
    BOOST_TEST_REQUIRE(r2.status == 200, r2.describe());
    BOOST_TEST_REQUIRE(r3.status == 200, r3.describe());
    BOOST_TEST(r1.json()["slept_ms"] == 300);
    BOOST_TEST(r2.json()["path"] == "/echo/two");
    BOOST_TEST(r2.json()["body_length"] == 8);
    BOOST_TEST(r3.json()["path"] == "/echo/three");
}

BOOST_AUTO_TEST_CASE(http10_without_host_is_served_and_closed) {
    Stack s;
    RawClient c(s.endpoint());
    BOOST_TEST_REQUIRE(c.send("GET /echo HTTP/1.0\r\n\r\n"));
    auto r = c.read_response();
    BOOST_TEST(r.status == 200, r.describe());
    BOOST_TEST(c.wait_closed(5s), "an HTTP/1.0 request without keep-alive must end with the connection closed");
}

BOOST_AUTO_TEST_CASE(upstream_on_unix_socket) {
    Stack s({}, UpstreamApp::Transport::unix_socket);
    auto r = run_curl({"-s", "--max-time", "10", s.portico->url("/echo/unix-upstream")});
    BOOST_TEST_REQUIRE(r.exit_code == 0, r.err);
    BOOST_TEST(json::parse(r.out)["path"] == "/echo/unix-upstream");
    // Keep-alive to a Unix-socket upstream: several requests on one client connection.
    RawClient c(s.endpoint());
    for (int i = 0; i < 3; ++i) {
        BOOST_TEST_REQUIRE(c.send(make_request("GET", "/bytes/1000")));
        BOOST_TEST(c.read_response().body == pattern_bytes(0, 1000));
    }
}

BOOST_AUTO_TEST_CASE(portico_listens_on_unix_socket) {
    TempDir dir;
    UpstreamApp app(dir);
    PorticoSettings p;
    p.upstream = app.address();
    p.listen = "unix:" + dir.file("http.sock");
    Portico portico(dir, p);
    auto r = run_curl({"-s", "--max-time", "10", "--unix-socket", dir.file("http.sock"), "http://localhost/echo/uds"});
    BOOST_TEST_REQUIRE(r.exit_code == 0, r.err);
    auto e = json::parse(r.out);
    BOOST_TEST(e["path"] == "/echo/uds");
    BOOST_TEST(hdr(e, "x-forwarded-proto") == "http");
    BOOST_TEST(portico.stop() == 0);
}

BOOST_AUTO_TEST_CASE(concurrent_clients_with_two_workers) {
    Stack s([](PorticoSettings& p) { p.workers = "2"; });
    std::atomic<int> ok{0}, bad{0};
    std::mutex mu;
    std::string first_bad;
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
        threads.emplace_back([&, t] {
            try {
                RawClient keep(s.endpoint());
                for (int i = 0; i < 40; ++i) {
                    const size_t n = 1000 + static_cast<size_t>(t * 100 + i);
                    const std::string target = fmt::format("/bytes/{}", n);
                    HttpResponse r;
                    if (i % 4 == 0) {
                        r = http_get(s.endpoint(), target);
                    } else {
                        keep.send(make_request("GET", target));
                        r = keep.read_response();
                    }
                    if (r.status == 200 && r.body == pattern_bytes(0, n)) {
                        ++ok;
                    } else {
                        std::lock_guard lock(mu);
                        if (bad++ == 0) first_bad = r.describe();
                    }
                }
            } catch (const std::exception& e) {
                std::lock_guard lock(mu);
                if (bad++ == 0) first_bad = e.what();
            }
        });
    }
    for (auto& t : threads) t.join();
    BOOST_TEST(bad.load() == 0, first_bad);
    BOOST_TEST(ok.load() == 8 * 40);
}

BOOST_AUTO_TEST_CASE(clean_stop_exits_zero) {
    Stack s;
    BOOST_TEST(http_get(s.endpoint(), "/echo").status == 200);
    BOOST_TEST(s.portico->stop() == 0, s.portico->stderr_text());
    BOOST_TEST(s.portico->notify().seen("STOPPING=1"));
}

BOOST_AUTO_TEST_SUITE_END()
