// The compression stage: every rule that says no (and the reason it is counted under), the head
// edits (Content-Encoding, Vary, weak ETag, no Accept-Ranges), and the zlib stream: whole, flushed
// piece by piece (each flush decodable on its own so far), deflate, and nginx-style small windows.
#define BOOST_TEST_MODULE proxy_compression
#include <boost/test/unit_test.hpp>

#include <zlib.h>

#include <string>

#include "parse_head.hpp"
#include "proxy/compression.hpp"

using namespace portico;
using namespace portico::proxy;
using cache::ContentCoding;

namespace {

const std::vector<std::string> kTypes{"text/*", "application/json", "image/svg+xml"};

CompressionSettings settings(bool enabled = true, uint64_t min_size = 1000) {
    return CompressionSettings{enabled, 5, min_size, &kTypes};
}

MessageHead request(const std::string& method = "GET", const std::string& fields = "Accept-Encoding: gzip\r\n") {
    return test::parse_head(HTTP_REQUEST, method + " /x HTTP/1.1\r\nHost: h\r\n" + fields + "\r\n");
}

MessageHead response(const std::string& fields = "Content-Type: application/json\r\nContent-Length: 5000\r\n",
                     int status = 200) {
    return test::parse_head(HTTP_RESPONSE, "HTTP/1.1 " + std::to_string(status) + " X\r\n" + fields + "\r\n");
}

// Inflates gzip or zlib data (auto-detected); "<error>" when it is not a complete, valid stream
// unless `partial` allows a stream that simply has not ended yet.
std::string inflate_all(std::string_view data, bool partial = false) {
    z_stream z{};
    inflateInit2(&z, 15 + 32);
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    z.avail_in = static_cast<uInt>(data.size());
    std::string out;
    int rc = Z_OK;
    while (rc == Z_OK) {
        char buf[16384];
        z.next_out = reinterpret_cast<Bytef*>(buf);
        z.avail_out = sizeof buf;
        rc = inflate(&z, Z_NO_FLUSH);
        out.append(buf, sizeof buf - z.avail_out);
        if (rc == Z_BUF_ERROR && z.avail_in == 0) break;
    }
    inflateEnd(&z);
    if (rc == Z_STREAM_END || (partial && (rc == Z_OK || rc == Z_BUF_ERROR))) return out;
    return "<error>";
}

std::string text(size_t n) {
    std::string s;
    while (s.size() < n) s += "{\"id\": " + std::to_string(s.size() % 977) + ", \"name\": \"portico\"},\n";
    s.resize(n);
    return s;
}

}  // namespace

BOOST_AUTO_TEST_CASE(types_match_exactly_or_by_wildcard) {
    BOOST_TEST(compressible_type("application/json", kTypes));
    BOOST_TEST(compressible_type("Application/JSON; charset=utf-8", kTypes));
    BOOST_TEST(compressible_type("text/html", kTypes));
    BOOST_TEST(compressible_type(" text/plain ;charset=x", kTypes));
    BOOST_TEST(compressible_type("image/svg+xml", kTypes));
    BOOST_TEST(!compressible_type("image/png", kTypes));
    BOOST_TEST(!compressible_type("application/json-patch", kTypes));
    BOOST_TEST(!compressible_type("application/octet-stream", kTypes));
    BOOST_TEST(!compressible_type("textual/html", kTypes));
    BOOST_TEST(!compressible_type("", kTypes));
    BOOST_TEST(!compressible_type("text", kTypes));
    BOOST_TEST(compressible_type("anything/else", {"*/*"}));
}

BOOST_AUTO_TEST_CASE(every_rule_that_says_no) {
    struct Case {
        const char* name;
        MessageHead req;
        MessageHead resp;
        CompressionSettings s;
        CompressionSkip skip;
        bool vary;
    } cases[] = {
        {"off for the route", request(), response(), settings(false), CompressionSkip::off, false},
        {"206", request("GET", "Accept-Encoding: gzip\r\nRange: bytes=0-9\r\n"),
         response("Content-Type: text/plain\r\nContent-Range: bytes 0-9/5000\r\nContent-Length: 10\r\n", 206), settings(),
         CompressionSkip::range, false},
        {"204", request(), response("Content-Type: text/plain\r\n", 204), settings(), CompressionSkip::status, false},
        {"304", request(), response("Content-Type: text/plain\r\nETag: \"a\"\r\n", 304), settings(),
         CompressionSkip::status, false},
        {"already gzip", request(), response("Content-Type: text/plain\r\nContent-Encoding: gzip\r\nContent-Length: 5000\r\n"),
         settings(), CompressionSkip::encoded, false},
        {"already br, as a list", request(),
         response("Content-Type: text/plain\r\nContent-Encoding: identity, br\r\nContent-Length: 5000\r\n"), settings(),
         CompressionSkip::encoded, false},
        {"response no-transform", request(),
         response("Content-Type: text/plain\r\nCache-Control: public, No-Transform\r\nContent-Length: 5000\r\n"), settings(),
         CompressionSkip::no_transform, false},
        {"request no-transform", request("GET", "Accept-Encoding: gzip\r\nCache-Control: no-transform\r\n"), response(),
         settings(), CompressionSkip::no_transform, false},
        {"type not listed", request(), response("Content-Type: image/png\r\nContent-Length: 5000\r\n"), settings(),
         CompressionSkip::type, false},
        {"no type", request(), response("Content-Length: 5000\r\n"), settings(), CompressionSkip::type, false},
        {"below min_size", request(), response("Content-Type: text/plain\r\nContent-Length: 999\r\n"), settings(),
         CompressionSkip::too_small, false},
        {"empty body", request(), response("Content-Type: text/plain\r\nContent-Length: 0\r\n"), settings(true, 0),
         CompressionSkip::too_small, false},
        {"HEAD", request("HEAD"), response(), settings(), CompressionSkip::head, true},
        {"no Accept-Encoding", request("GET", ""), response(), settings(), CompressionSkip::not_accepted, true},
        {"gzip;q=0", request("GET", "Accept-Encoding: gzip;q=0, deflate;q=0\r\n"), response(), settings(),
         CompressionSkip::not_accepted, true},
        {"br only", request("GET", "Accept-Encoding: br\r\n"), response(), settings(), CompressionSkip::not_accepted, true},
    };
    for (auto& c : cases) {
        BOOST_TEST_CONTEXT(c.name) {
            CompressionPlan plan = plan_compression(c.req, c.resp, c.s);
            BOOST_TEST(!plan.compress());
            BOOST_TEST((plan.skip == c.skip));
            BOOST_TEST(plan.vary == c.vary);
        }
    }
}

BOOST_AUTO_TEST_CASE(what_is_compressed) {
    // At min_size exactly; chunked and until-close bodies (unknown length) count as large; any status with a body.
    CompressionPlan at_min = plan_compression(request(), response("Content-Type: text/css\r\nContent-Length: 1000\r\n"), settings());
    BOOST_TEST((at_min.coding == ContentCoding::gzip));
    BOOST_TEST(at_min.vary);
    BOOST_TEST(plan_compression(request(), response("Content-Type: text/css\r\nTransfer-Encoding: chunked\r\n"), settings()).compress());
    BOOST_TEST(plan_compression(request(), response("Content-Type: text/css\r\nConnection: close\r\n"), settings()).compress());
    BOOST_TEST(plan_compression(request(), response("Content-Type: text/html\r\nContent-Length: 5000\r\n", 404), settings()).compress());
    BOOST_TEST(plan_compression(request(), response("Content-Type: text/html\r\nContent-Encoding: identity\r\nContent-Length: 5000\r\n"),
                                settings()).compress());
    // deflate only when asked for by name; the q-values decide.
    BOOST_TEST((plan_compression(request("GET", "Accept-Encoding: deflate\r\n"), response(), settings()).coding ==
                ContentCoding::deflate));
    BOOST_TEST((plan_compression(request("GET", "Accept-Encoding: *\r\n"), response(), settings()).coding == ContentCoding::gzip));
    BOOST_TEST((plan_compression(request("GET", "Accept-Encoding: identity;q=0\r\nAccept-Encoding: gzip;q=0.2\r\n"), response(),
                                 settings()).coding == ContentCoding::gzip));
    // A Range the upstream ignored (200) is an ordinary response.
    BOOST_TEST(plan_compression(request("GET", "Accept-Encoding: gzip\r\nRange: bytes=0-1\r\n"), response(), settings()).compress());
}

BOOST_AUTO_TEST_CASE(head_edits) {
    MessageHead r = response(
        "Content-Type: text/plain\r\nContent-Length: 5000\r\nETag: \"v1\"\r\nAccept-Ranges: bytes\r\nVary: Cookie\r\nX-A: 1\r\n");
    CompressionPlan plan = plan_compression(request(), r, settings());
    apply_compression_fields(r, plan);
    BOOST_TEST(r.find(FieldId::content_encoding) == "gzip");
    BOOST_TEST(r.find(FieldId::etag) == "W/\"v1\"");
    BOOST_TEST(r.count(FieldId::accept_ranges) == 0u);
    BOOST_TEST(r.count(FieldId::vary) == 2u);  // Cookie, and Accept-Encoding on a line of its own
    BOOST_TEST(r.find("X-A") == "1");
    BOOST_TEST(r.find(FieldId::content_type) == "text/plain");

    // A weak ETag stays as it is; Vary already naming Accept-Encoding (or *) is not repeated.
    for (const char* vary : {"accept-encoding", "Cookie, Accept-Encoding", "*"}) {
        MessageHead w = response(std::string("Content-Type: text/plain\r\nContent-Length: 5000\r\nETag: W/\"v2\"\r\nVary: ") + vary + "\r\n");
        apply_compression_fields(w, plan_compression(request(), w, settings()));
        BOOST_TEST(w.find(FieldId::etag) == "W/\"v2\"");
        BOOST_TEST(w.count(FieldId::vary) == 1u, vary);
    }
    // Not accepted by this client: the plain body, but Vary all the same; nothing else touched.
    MessageHead plain = response("Content-Type: text/plain\r\nContent-Length: 5000\r\nETag: \"v1\"\r\nAccept-Ranges: bytes\r\n");
    apply_compression_fields(plain, plan_compression(request("GET", ""), plain, settings()));
    BOOST_TEST(plain.count(FieldId::content_encoding) == 0u);
    BOOST_TEST(plain.find(FieldId::vary) == "Accept-Encoding");
    BOOST_TEST(plain.find(FieldId::etag) == "\"v1\"");
    BOOST_TEST(plain.count(FieldId::accept_ranges) == 1u);
    // Not compressible at all: no Vary.
    MessageHead png = response("Content-Type: image/png\r\nContent-Length: 5000\r\n");
    apply_compression_fields(png, plan_compression(request(), png, settings()));
    BOOST_TEST(png.count(FieldId::vary) == 0u);
}

BOOST_AUTO_TEST_CASE(deflater_round_trips) {
    std::string body = text(300 * 1024);
    for (ContentCoding coding : {ContentCoding::gzip, ContentCoding::deflate}) {
        for (int level : {1, 6, 9}) {
            Deflater d(coding, level, 0);
            BOOST_TEST_REQUIRE(d.ok());
            std::string out;
            d.run(body, Z_NO_FLUSH, out);
            d.run({}, Z_FINISH, out);
            BOOST_TEST(inflate_all(out) == body);
            BOOST_TEST(out.size() < body.size() / 4);
            BOOST_TEST(d.total_in() == body.size());
            BOOST_TEST(d.total_out() == out.size());
            // gzip starts with its magic bytes, deflate (the zlib format) with a CMF byte of 0x78.
            if (coding == ContentCoding::gzip) {
                BOOST_TEST(static_cast<unsigned char>(out[0]) == 0x1f);
                BOOST_TEST(static_cast<unsigned char>(out[1]) == 0x8b);
            } else {
                BOOST_TEST(static_cast<unsigned char>(out[0]) == 0x78);
            }
        }
    }
    // Incompressible input grows the output buffer as needed.
    std::string noise;
    uint32_t x = 12345;
    for (int i = 0; i < 200000; ++i) noise.push_back(static_cast<char>((x = x * 1103515245 + 12345) >> 24));
    Deflater d(ContentCoding::gzip, 9, noise.size());
    std::string out;
    d.run(noise, Z_FINISH, out);
    BOOST_TEST(inflate_all(out) == noise);
    // A small known length (nginx's sizing) still round-trips.
    std::string small = text(1200);
    Deflater tiny(ContentCoding::gzip, 5, small.size());
    std::string tiny_out;
    tiny.run(small, Z_FINISH, tiny_out);
    BOOST_TEST(inflate_all(tiny_out) == small);
}

BOOST_AUTO_TEST_CASE(the_stage_streams_and_counts) {
    core::metrics::CompressionCounters counters;
    CompressionStage stage;
    MessageHead r = response("Content-Type: text/plain\r\nTransfer-Encoding: chunked\r\n");
    BOOST_TEST_REQUIRE(stage.begin(request(), r, settings(), counters));
    BOOST_TEST(stage.active());
    std::string sent;
    std::string body;
    for (int piece = 0; piece < 5; ++piece) {
        std::string data = text(3000 + piece);
        body += data;
        sent += stage.write(data);
        // Each read's end flushes: what went out so far decodes to everything written so far.
        sent += stage.flush();
        BOOST_TEST(inflate_all(sent, /*partial=*/true) == body, "piece " << piece);
    }
    BOOST_TEST(stage.flush().empty(), "nothing new: no empty block");
    sent += stage.finish();
    BOOST_TEST(inflate_all(sent) == body);
    BOOST_TEST(counters.gzip.value() == 1u);
    BOOST_TEST(counters.bytes_in.value() == body.size());
    BOOST_TEST(counters.bytes_out.value() == sent.size());
    stage.reset();
    BOOST_TEST(!stage.active());

    // A response left alone counts its reason once.
    MessageHead png = response("Content-Type: image/png\r\nContent-Length: 5000\r\n");
    BOOST_TEST(!stage.begin(request(), png, settings(), counters));
    BOOST_TEST(counters.skipped[static_cast<size_t>(CompressionSkip::type)].value() == 1u);
    BOOST_TEST(core::metrics::kCompressionSkipReasons[static_cast<size_t>(CompressionSkip::too_small)] == "too-small");
    // An empty compressed body is still a valid gzip stream.
    CompressionStage empty;
    MessageHead chunked = response("Content-Type: text/plain\r\nTransfer-Encoding: chunked\r\n");
    BOOST_TEST_REQUIRE(empty.begin(request(), chunked, settings(), counters));
    BOOST_TEST(inflate_all(std::string(empty.finish())).empty());
    BOOST_TEST(counters.gzip.value() == 2u);
}
