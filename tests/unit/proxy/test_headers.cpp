// Head building: what the upstream and the client get, and what never crosses a hop.
#define BOOST_TEST_MODULE proxy_headers
#include <boost/test/unit_test.hpp>

#include <string>

#include "proxy/headers.hpp"
#include "proxy/http_parser.hpp"
#include "parse_head.hpp"

using namespace portico::proxy;

namespace {

MessageHead parse(llhttp_type_t type, const std::string& raw) { return test::parse_head(type, raw); }

bool contains(const std::string& haystack, const std::string& needle) {
    return haystack.find(needle) != std::string::npos;
}

}  // namespace

BOOST_AUTO_TEST_CASE(upstream_request_drops_hop_by_hop_and_adds_forwarding) {
    MessageHead req = parse(HTTP_REQUEST,
                            "POST /x HTTP/1.1\r\nHost: app.example\r\nConnection: keep-alive, X-Secret\r\n"
                            "X-Secret: 1\r\nKeep-Alive: 5\r\nTE: trailers\r\nUpgrade: websocket\r\n"
                            "Proxy-Connection: x\r\nX-Forwarded-For: 6.6.6.6\r\nExpect: 100-continue\r\n"
                            "Transfer-Encoding: chunked\r\nAccept: */*\r\n\r\n");
    UpstreamRequestContext ctx;
    ctx.client_ip = "10.0.0.9";
    ctx.peer_ip = "10.0.0.9";
    ctx.peer_trusted = false;
    ctx.request_id = "rid-1";
    std::string out;
    build_upstream_request(out, req, ctx);
    BOOST_TEST(out.rfind("POST /x HTTP/1.1\r\n", 0) == 0u);
    for (const char* gone : {"Connection:", "X-Secret", "Keep-Alive", "TE:", "Upgrade", "Proxy-Connection", "Expect"}) {
        BOOST_TEST_CONTEXT(gone) { BOOST_TEST(!contains(out, gone)); }
    }
    BOOST_TEST(contains(out, "Accept: */*\r\n"));
    BOOST_TEST(contains(out, "Host: app.example\r\n"));
    BOOST_TEST(contains(out, "X-Forwarded-For: 6.6.6.6, 10.0.0.9\r\n"));
    BOOST_TEST(contains(out, "X-Forwarded-Proto: http\r\n"));
    BOOST_TEST(contains(out, "X-Forwarded-Host: app.example\r\n"));
    BOOST_TEST(contains(out, "X-Real-IP: 10.0.0.9\r\n"));
    BOOST_TEST(contains(out, "X-Request-ID: rid-1\r\n"));
    BOOST_TEST(contains(out, "Transfer-Encoding: chunked\r\n"));
    BOOST_TEST(out.substr(out.size() - 4) == "\r\n\r\n");
}

BOOST_AUTO_TEST_CASE(trusted_peer_keeps_forwarded_chain) {
    MessageHead req = parse(HTTP_REQUEST, "GET http://abs.example/p?q HTTP/1.1\r\nHost: ignored\r\n"
                                          "X-Forwarded-For: 1.2.3.4\r\nX-Forwarded-Proto: https\r\n\r\n");
    UpstreamRequestContext ctx;
    ctx.client_ip = "1.2.3.4";
    ctx.peer_ip = "127.0.0.1";
    ctx.peer_trusted = true;
    ctx.request_id = "r";
    std::string out;
    build_upstream_request(out, req, ctx);
    BOOST_TEST(out.rfind("GET /p?q HTTP/1.1\r\n", 0) == 0u);
    BOOST_TEST(contains(out, "Host: abs.example\r\n"));
    BOOST_TEST(contains(out, "X-Forwarded-For: 1.2.3.4, 127.0.0.1\r\n"));
    BOOST_TEST(contains(out, "X-Forwarded-Proto: https\r\n"));
    BOOST_TEST(contains(out, "X-Real-IP: 1.2.3.4\r\n"));
}

BOOST_AUTO_TEST_CASE(http10_request_without_host_gets_upstream_host) {
    MessageHead req = parse(HTTP_REQUEST, "GET / HTTP/1.0\r\n\r\n");
    UpstreamRequestContext ctx;
    ctx.client_ip = ctx.peer_ip = "1.1.1.1";
    ctx.request_id = "r";
    ctx.default_host = "127.0.0.1:8000";
    std::string out;
    build_upstream_request(out, req, ctx);
    BOOST_TEST(out.rfind("GET / HTTP/1.1\r\n", 0) == 0u);
    BOOST_TEST(contains(out, "Host: 127.0.0.1:8000\r\n"));
}

BOOST_AUTO_TEST_CASE(client_response_reframes_and_times) {
    MessageHead resp = parse(HTTP_RESPONSE, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n"
                                            "Transfer-Encoding: chunked\r\nServer-Timing: db;dur=2\r\n\r\n");
    ClientResponseContext ctx;
    ctx.request_id = "abc";
    ctx.portico_ms = 1.5;
    ctx.upstream_ms = 1.25;
    ctx.framing = ClientFraming::chunked;
    std::string out;
    build_client_response(out, resp, ctx);
    BOOST_TEST(out.rfind("HTTP/1.1 200 OK\r\n", 0) == 0u);
    BOOST_TEST(contains(out, "Content-Type: text/plain\r\n"));
    BOOST_TEST(!contains(out, "Connection: close"));  // the upstream's hop, not the client's
    BOOST_TEST(contains(out, "Transfer-Encoding: chunked\r\n"));
    BOOST_TEST(contains(out, "Server-Timing: portico;dur=1.500, upstream;dur=1.250, db;dur=2\r\n"));
    BOOST_TEST(contains(out, "X-Request-ID: abc\r\n"));
}

BOOST_AUTO_TEST_CASE(local_response_is_complete) {
    std::string out;
    build_local_response(out, 503, "busy", "rid", /*close=*/true, "Retry-After: 1\r\n");
    BOOST_TEST(out.rfind("HTTP/1.1 503 Service Unavailable\r\n", 0) == 0u);
    BOOST_TEST(contains(out, "Retry-After: 1\r\n"));
    BOOST_TEST(contains(out, "Connection: close\r\n"));
    std::string body = "503 Service Unavailable: busy\n";
    BOOST_TEST(contains(out, "Content-Length: " + std::to_string(body.size()) + "\r\n"));
    BOOST_TEST(out.substr(out.size() - body.size()) == body);
}

BOOST_AUTO_TEST_CASE(interim_response_keeps_link_headers) {
    MessageHead resp = parse(HTTP_RESPONSE, "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n"
                                            "Connection: keep-alive\r\n\r\n");
    std::string out;
    build_interim_response(out, resp);
    BOOST_TEST(out == "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n");
}

// Found by fuzz_http_response: a 103 passed Surrogate-Key and the targeted cache fields on.
BOOST_AUTO_TEST_CASE(interim_response_strips_fields_meant_for_portico) {
    MessageHead resp = parse(HTTP_RESPONSE, "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n"
                                            "Surrogate-Key: page\r\nCache-Tag: a\r\nCDN-Cache-Control: max-age=1\r\n"
                                            "Portico-Cache-Control: max-age=2\r\nSurrogate-Control: max-age=3\r\n\r\n");
    std::string out;
    build_interim_response(out, resp);
    BOOST_TEST(out == "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n");
}

BOOST_AUTO_TEST_CASE(client_response_strips_fields_meant_for_portico) {
    MessageHead resp = parse(HTTP_RESPONSE,
                             "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nCache-Control: max-age=5\r\n"
                             "Portico-Cache-Control: max-age=60\r\nCDN-Cache-Control: max-age=30\r\n"
                             "Surrogate-Control: max-age=10\r\nSurrogate-Key: user:1 page\r\nCache-Tag: a,b\r\n"
                             "ETag: \"x\"\r\n\r\nok");
    ClientResponseContext context;
    context.request_id = "rid";
    context.framing = ClientFraming::content_length;
    context.content_length = 2;
    context.extra_headers = "X-Cache: MISS\r\n";
    std::string out;
    build_client_response(out, resp, context);
    BOOST_TEST(contains(out, "Cache-Control: max-age=5\r\n"));
    BOOST_TEST(contains(out, "ETag: \"x\"\r\n"));
    BOOST_TEST(contains(out, "X-Cache: MISS\r\n"));
    for (const char* hidden : {"Portico-Cache-Control", "CDN-Cache-Control", "Surrogate-Control", "Surrogate-Key",
                               "Cache-Tag"}) {
        BOOST_TEST_CONTEXT(hidden) { BOOST_TEST(!contains(out, hidden)); }
    }
}

BOOST_AUTO_TEST_CASE(upstream_request_can_swap_conditionals_for_the_caches_own) {
    MessageHead req = parse(HTTP_REQUEST,
                            "GET /x HTTP/1.1\r\nHost: a\r\nIf-None-Match: \"client\"\r\n"
                            "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\nAccept: */*\r\n\r\n");
    UpstreamRequestContext context;
    context.peer_ip = context.client_ip = "127.0.0.1";
    context.request_id = "rid";
    std::string kept;
    build_upstream_request(kept, req, context);
    BOOST_TEST(contains(kept, "If-None-Match: \"client\"\r\n"));

    context.drop_conditionals = true;
    context.extra_headers = "If-None-Match: \"stored\"\r\n";
    std::string swapped;
    build_upstream_request(swapped, req, context);
    BOOST_TEST(!contains(swapped, "\"client\""));
    BOOST_TEST(!contains(swapped, "If-Modified-Since"));
    BOOST_TEST(contains(swapped, "If-None-Match: \"stored\"\r\n"));
    BOOST_TEST(contains(swapped, "Accept: */*\r\n"));
}

BOOST_AUTO_TEST_CASE(cached_response_head) {
    ClientResponseContext context;
    context.request_id = "rid";
    context.framing = ClientFraming::content_length;
    context.content_length = 1024;
    context.extra_headers = "Age: 3\r\nX-Cache: HIT\r\n";
    std::string out;
    build_cached_response_head(out, 200, "Content-Type: application/json\r\nETag: \"e\"\r\n", context);
    BOOST_TEST(out.rfind("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nETag: \"e\"\r\n", 0) == 0u);
    BOOST_TEST(contains(out, "Age: 3\r\nX-Cache: HIT\r\n"));
    BOOST_TEST(contains(out, "Content-Length: 1024\r\n"));
    BOOST_TEST(contains(out, "X-Request-ID: rid\r\n"));
    BOOST_TEST(out.size() >= 4u);
    BOOST_TEST(out.substr(out.size() - 4) == "\r\n\r\n");

    std::string not_modified;
    build_cached_response_head(not_modified, 304, "ETag: \"e\"\r\n", context, /*omit_length=*/true);
    BOOST_TEST(not_modified.rfind("HTTP/1.1 304 Not Modified\r\n", 0) == 0u);
    BOOST_TEST(!contains(not_modified, "Content-Length"));
}
