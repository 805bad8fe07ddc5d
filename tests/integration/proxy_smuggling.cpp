// Request smuggling and malformed framing (RFC 9112 §6.1, §6.3, §5.1, §5.2, §7.1): every vector
// is answered 400 (or 501 for a transfer coding portico does not implement) with
// `Connection: close`, the connection is closed, and the app never sees any part of it.
#include <boost/test/unit_test.hpp>

#include <fmt/core.h>

#include <set>

#include "harness.hpp"

using namespace portico::test;

namespace {

struct Vector {
    const char* name;
    std::string raw;
    std::set<int> statuses;
};

// Paths used by the vectors; the app must count none of them.
const std::vector<std::string> kNeverPaths = {"/smuggle", "/smuggled"};

void expect_rejected(Stack& s, const Vector& v) {
    BOOST_TEST_CONTEXT("vector '" << v.name << "'") {
        std::vector<int> before;
        for (const auto& path : kNeverPaths) before.push_back(s.app.count(path));
        RawClient c(s.endpoint());
        // One write: the head and whatever follows arrive together.
        c.send(v.raw);
        auto r = c.read_response(5s);
        BOOST_TEST(v.statuses.count(r.status) == 1u,
                   "status " << r.status << " (" << r.error << ")\n" << r.raw_head);
        if (r.status != 0) BOOST_TEST(r.has_token("connection", "close"), "no Connection: close\n" << r.raw_head);
        std::string trailing;
        BOOST_TEST(c.wait_closed(5s, &trailing), "portico kept the connection open");
        BOOST_TEST(trailing.find("HTTP/1.1") == std::string::npos, "a second response followed: " << trailing);
        // A normal request afterwards (through portico, so anything queued upstream went first).
        BOOST_TEST(http_get(s.endpoint(), "/echo/probe").status == 200);
        for (size_t i = 0; i < kNeverPaths.size(); ++i)
            BOOST_TEST(s.app.count(kNeverPaths[i]) == before[i], kNeverPaths[i] << " reached the app");
    }
}

std::string req(std::string_view head_lines, std::string_view body = {}, std::string_view path = "/smuggle") {
    return fmt::format("POST {} HTTP/1.1\r\nHost: portico.test\r\n{}\r\n{}", path, head_lines, body);
}

const std::string kSmuggled = "GET /smuggled HTTP/1.1\r\nHost: portico.test\r\n\r\n";

}  // namespace

BOOST_AUTO_TEST_SUITE(proxy_smuggling)

BOOST_AUTO_TEST_CASE(content_length_vectors) {
    Stack s;
    const std::set<int> bad{400};
    const std::vector<Vector> vectors = {
        {"CL.TE", req("Content-Length: 6\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n" + kSmuggled), bad},
        {"TE.CL", req("Transfer-Encoding: chunked\r\nContent-Length: 3\r\n", "0\r\n\r\n" + kSmuggled), bad},
        {"conflicting Content-Length", req("Content-Length: 5\r\nContent-Length: 6\r\n", "hello!" + kSmuggled), bad},
        {"Content-Length list with different values", req("Content-Length: 5, 6\r\n", "hello!" + kSmuggled), bad},
        {"signed Content-Length +", req("Content-Length: +5\r\n", "hello"), bad},
        {"signed Content-Length -", req("Content-Length: -5\r\n", "hello"), bad},
        {"non-numeric Content-Length", req("Content-Length: 5x\r\n", "hello"), bad},
        {"hex Content-Length", req("Content-Length: 0x5\r\n", "hello"), bad},
        {"empty Content-Length", req("Content-Length: \r\n", "hello"), bad},
        {"overflowing Content-Length", req("Content-Length: 99999999999999999999999\r\n", "hello"), bad},
    };
    for (const auto& v : vectors) expect_rejected(s, v);
}

BOOST_AUTO_TEST_CASE(transfer_encoding_vectors) {
    Stack s;
    const std::set<int> bad{400};
    const std::set<int> unsupported{501};
    const std::vector<Vector> vectors = {
        {"bad chunk size", req("Transfer-Encoding: chunked\r\n", "zz\r\nhello\r\n0\r\n\r\n"), bad},
        {"negative chunk size", req("Transfer-Encoding: chunked\r\n", "-1\r\nhello\r\n0\r\n\r\n"), bad},
        {"overflowing chunk size", req("Transfer-Encoding: chunked\r\n", "fffffffffffffffffffff\r\nhello\r\n"), bad},
        {"chunk data longer than its size",
         req("Transfer-Encoding: chunked\r\n", "3\r\nhello\r\n0\r\n\r\n" + kSmuggled), bad},
        {"gzip, chunked", req("Transfer-Encoding: gzip, chunked\r\n", "0\r\n\r\n"), unsupported},
        // RFC 9112 §6.3: a request whose final coding is not chunked has no knowable length -> 400.
        {"identity", req("Transfer-Encoding: identity\r\n", "hello"), bad},
        {"unknown coding", req("Transfer-Encoding: xchunked\r\n", "0\r\n\r\n"), bad},
        // RFC 9112 §6.3: chunked not last in a request -> 400 (501 tolerated: gzip is unsupported).
        {"chunked, gzip", req("Transfer-Encoding: chunked, gzip\r\n", "0\r\n\r\n"), {400, 501}},
        {"space before colon in Transfer-Encoding", req("Transfer-Encoding : chunked\r\n", "0\r\n\r\n"), bad},
    };
    for (const auto& v : vectors) expect_rejected(s, v);
}

BOOST_AUTO_TEST_CASE(header_syntax_vectors) {
    Stack s;
    const std::set<int> bad{400};
    auto get = [](std::string_view lines) {
        return fmt::format("GET /smuggle HTTP/1.1\r\nHost: portico.test\r\n{}\r\n", lines);
    };
    const std::vector<Vector> vectors = {
        {"obs-fold", get("X-Folded: first\r\n second\r\n"), bad},
        {"obs-fold with tab", get("X-Folded: first\r\n\tsecond\r\n"), bad},
        {"bare CR in a value", get("X-Bad: a\rb\r\n"), bad},
        {"bare LF ending a header line", get("X-Bad: a\nX-Other: b\r\n"), bad},
        {"NUL in a value", get(std::string("X-Bad: a\0b\r\n", 12)), bad},
        {"space in a header name", get("Bad Header: x\r\n"), bad},
        {"space before the colon", get("X-Name : x\r\n"), bad},
        {"separator in a header name", get("X-Bad(: x\r\n"), bad},
        {"control char in a header name", get("X\x01" "Bad: x\r\n"), bad},
        {"missing Host in HTTP/1.1", "GET /smuggle HTTP/1.1\r\nX-Other: y\r\n\r\n", bad},
        {"two Host fields", get("Host: other.test\r\n"), bad},
    };
    for (const auto& v : vectors) expect_rejected(s, v);
}

BOOST_AUTO_TEST_CASE(valid_request_then_smuggled_one_on_the_same_connection) {
    Stack s;
    // Pipelined in one write: the first is answered, the second rejected, then the close.
    {
        RawClient c(s.endpoint());
        c.send(make_request("GET", "/echo/first") + req("Content-Length: 5\r\nContent-Length: 6\r\n", "hello!" + kSmuggled));
        auto first = c.read_response(5s);
        BOOST_TEST_REQUIRE(first.status == 200, first.describe());
        BOOST_TEST(first.json()["path"] == "/echo/first");
        auto second = c.read_response(5s);
        BOOST_TEST(second.status == 400, second.describe());
        BOOST_TEST(second.has_token("connection", "close"), second.raw_head);
        BOOST_TEST(c.wait_closed(5s));
    }
    // The same, with the smuggled request sent after the first response came back.
    {
        RawClient c(s.endpoint());
        BOOST_TEST_REQUIRE(c.send(make_request("GET", "/echo/first")));
        BOOST_TEST_REQUIRE(c.read_response(5s).status == 200);
        c.send(req("Content-Length: 6\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n" + kSmuggled));
        auto second = c.read_response(5s);
        BOOST_TEST(second.status == 400, second.describe());
        BOOST_TEST(c.wait_closed(5s));
    }
    BOOST_TEST(s.app.count("/echo/first") == 2);
    for (const auto& path : kNeverPaths) BOOST_TEST(s.app.count(path) == 0, path << " reached the app");
}

BOOST_AUTO_TEST_CASE(well_formed_edge_cases_are_accepted) {
    // The other side of the coin: legal but unusual framing must not be rejected.
    Stack s;
    auto ok = [&](const char* name, const std::string& raw, uint64_t body_length) {
        BOOST_TEST_CONTEXT(name) {
            auto r = http_request(s.endpoint(), raw);
            BOOST_TEST_REQUIRE(r.status == 200, r.describe());
            BOOST_TEST(r.json()["body_length"] == body_length);
        }
    };
    ok("upper-case chunk size", req("Transfer-Encoding: chunked\r\n", "A\r\n0123456789\r\n0\r\n\r\n", "/echo"), 10);
    ok("Transfer-Encoding case-insensitive", req("Transfer-Encoding: Chunked\r\n", "3\r\nabc\r\n0\r\n\r\n", "/echo"), 3);
    ok("Content-Length with whitespace", req("Content-Length:   3  \r\n", "abc", "/echo"), 3);
    ok("Content-Length: 0", req("Content-Length: 0\r\n", "", "/echo"), 0);
    ok("header name with tchar symbols", req("X-A!#$%&'*+-.^_`|~1: v\r\nContent-Length: 1\r\n", "a", "/echo"), 1);
}

BOOST_AUTO_TEST_SUITE_END()
