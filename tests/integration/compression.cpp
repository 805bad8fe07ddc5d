// Compression against the real binary and the real app (tests/apps/cache_app.py): gzip round trips
// decoded by curl --compressed and by zlib in the test, for small, large and chunked responses; the
// first compressed bytes leave while the app is still producing the body; min_size; every rule that
// leaves a response alone; q-value negotiation; Vary / Content-Length / ETag; the compressed variant
// stored in the cache and served by hits without compressing again; per-route overrides; counters.
#include "cache_support.hpp"

using namespace portico::test;
using namespace portico::test::cache;

namespace {

constexpr std::string_view kCompression =
    "  enabled: true\n"
    "  level: 5\n"
    "  min_size: 1000\n"
    "  types: [text/*, application/json]\n";

CacheSetup compression_setup(std::string patterns = {}, std::string compression = std::string(kCompression)) {
    CacheSetup setup;
    setup.patterns = std::move(patterns);
    setup.tweak = [compression](PorticoSettings& s) { s.compression = compression; };
    return setup;
}

HttpResponse get_ae(const Endpoint& e, const std::string& target, const std::string& accept_encoding) {
    Headers h;
    if (!accept_encoding.empty()) h.emplace_back("Accept-Encoding", accept_encoding);
    return get(e, target, h, 30s);
}

std::string encoding(const HttpResponse& r) { return r.header("content-encoding").value_or(""); }

// The body decoded when it is coded, as it is when not; "<not a valid stream>" for a broken one.
std::string decoded(const HttpResponse& r) {
    if (encoding(r).empty()) return r.body;
    return inflate_body(r.body).value_or("<not a valid stream>");
}

json stats(const Portico& p) {
    auto r = p.admin("GET", "/stats");
    BOOST_TEST_REQUIRE(r.status == 200, r.describe());
    return r.json()["compression"];
}

double compressed_count(const Portico& p) { return stats(p)["compressed"]["gzip"].get<double>(); }

}  // namespace

BOOST_AUTO_TEST_SUITE(compression)

BOOST_AUTO_TEST_CASE(gzip_round_trips_small_large_and_chunked) {
    CacheStack s(compression_setup());
    struct Case {
        const char* name;
        std::string target;
        std::string expected;  // the plain body ("" = fetch it without Accept-Encoding)
    } cases[] = {
        {"small JSON", "/c/small?json_size=2000", ""},
        {"large text", "/c/large?size=3000000&type=text/plain", pattern_bytes(0, 3000000)},
        {"chunked text", "/c/chunked?size=700000&type=text/plain&stream=1", pattern_bytes(0, 700000)},
        {"prose", "/c/prose?words=150000", ""},
    };
    for (auto& c : cases) {
        BOOST_TEST_CONTEXT(c.name) {
            auto plain = get_ae(s.endpoint(), c.target, "");
            BOOST_TEST_REQUIRE(plain.status == 200, show(plain));
            BOOST_TEST(encoding(plain).empty(), show(plain));
            BOOST_TEST(plain.header("vary").value_or("") == "Accept-Encoding", "a compressible type varies: " << show(plain));
            if (c.expected.empty()) c.expected = plain.body;
            BOOST_TEST(plain.body == c.expected);

            auto gz = get_ae(s.endpoint(), c.target, "gzip");
            BOOST_TEST_REQUIRE(gz.status == 200, show(gz));
            BOOST_TEST(gz.complete, show(gz));
            BOOST_TEST(encoding(gz) == "gzip", show(gz));
            BOOST_TEST(!gz.header("content-length").has_value(), "the plain length must go: " << show(gz));
            BOOST_TEST(gz.has_token("transfer-encoding", "chunked"), show(gz));
            BOOST_TEST(gz.header("vary").value_or("") == "Accept-Encoding", show(gz));
            BOOST_TEST(gz.body.size() < c.expected.size() / 2, gz.body.size() << " of " << c.expected.size());
            BOOST_TEST(decoded(gz) == c.expected, "zlib decodes the original bytes");

            // curl --compressed decodes it too (it asks for gzip itself).
            auto curl = run_curl({"-s", "--compressed", "--max-time", "30", "-o", s.dir.file("curl.out"), "-D",
                                  s.dir.file("curl.head"), s.portico->url(c.target)});
            BOOST_TEST(curl.exit_code == 0, curl.err);
            BOOST_TEST(has(read_file(s.dir.file("curl.head")), "Content-Encoding: gzip"), read_file(s.dir.file("curl.head")));
            BOOST_TEST(read_file(s.dir.file("curl.out")) == c.expected);
        }
    }
    BOOST_TEST(compressed_count(*s.portico) == 8);
}

BOOST_AUTO_TEST_CASE(first_compressed_bytes_leave_before_the_app_has_finished) {
    CacheStack s(compression_setup());
    // The app sends its first 64 KiB piece, then waits until the test releases the gate.
    const std::string target = "/c/gated?size=400000&type=text/plain&stream=1&gate=g1";
    RawClient client(s.endpoint());
    BOOST_TEST_REQUIRE(client.send(make_request("GET", target, {{"Accept-Encoding", "gzip"}})));
    std::string compressed;
    bool released = false;
    size_t decoded_before_release = 0;
    auto r = client.read_response(20s, false, [&](std::string_view piece) {
        compressed.append(piece);
        if (released) return;
        std::string so_far = inflate_prefix(compressed);
        if (so_far.size() < 64 * 1024) return;
        // The whole first piece is out, decodable, while the app still waits at its gate.
        decoded_before_release = so_far.size();
        BOOST_TEST(so_far == pattern_bytes(0, so_far.size()));
        BOOST_TEST(gate_waiting(s.app, "g1") == 1);
        released = true;
        app_release(s.app, "g1");
    });
    BOOST_TEST(released, "the first piece never arrived compressed before the end: " << r.describe());
    BOOST_TEST(decoded_before_release >= 64u * 1024);
    BOOST_TEST(r.complete, r.describe());
    BOOST_TEST(encoding(r) == "gzip");
    auto body = inflate_body(compressed);
    BOOST_TEST_REQUIRE(body.has_value());
    BOOST_TEST(*body == pattern_bytes(0, 400000));
}

BOOST_AUTO_TEST_CASE(nothing_below_min_size) {
    CacheStack s(compression_setup());
    auto below = get_ae(s.endpoint(), "/c/min?json_size=999", "gzip");
    BOOST_TEST(below.status == 200, show(below));
    BOOST_TEST(encoding(below).empty(), show(below));
    BOOST_TEST(below.header("content-length").value_or("") == "999", show(below));
    BOOST_TEST(!below.header("vary").has_value(), show(below));
    auto at = get_ae(s.endpoint(), "/c/min?json_size=1000", "gzip");
    BOOST_TEST(encoding(at) == "gzip", show(at));
    BOOST_TEST(decoded(at).size() == 1000u);
    json c = stats(*s.portico);
    BOOST_TEST(c["skipped"]["too-small"] == 1, c.dump());
    BOOST_TEST(c["compressed"]["gzip"] == 1, c.dump());
}

BOOST_AUTO_TEST_CASE(responses_that_are_never_compressed) {
    CacheStack s(compression_setup());
    const Headers gzip = {{"Accept-Encoding", "gzip"}};
    // Already content-coded by the app: passed on untouched, never coded twice.
    auto coded = get(s.endpoint(), "/c/coded?json_size=5000&hdr=" + q("Content-Encoding: br"), gzip);
    BOOST_TEST(coded.status == 200, show(coded));
    BOOST_TEST(coded.header_count("content-encoding") == 1u, show(coded));
    BOOST_TEST(encoding(coded) == "br");
    BOOST_TEST(coded.header("content-length").value_or("") == "5000", show(coded));
    // 204 and 304.
    auto no_content = get(s.endpoint(), "/c/204?status=204", gzip);
    BOOST_TEST(no_content.status == 204, show(no_content));
    BOOST_TEST(encoding(no_content).empty(), show(no_content));
    auto not_modified = get(s.endpoint(), "/c/304?json_size=5000&etag=v1", {{"Accept-Encoding", "gzip"}, {"If-None-Match", "\"v1\""}});
    BOOST_TEST(not_modified.status == 304, show(not_modified));
    BOOST_TEST(encoding(not_modified).empty(), show(not_modified));
    BOOST_TEST(not_modified.body.empty());
    // HEAD: the plain head, with the length the GET has without compression.
    auto head = request(s.endpoint(), "HEAD", "/c/head?json_size=5000", gzip);
    BOOST_TEST(head.status == 200, show(head));
    BOOST_TEST(encoding(head).empty(), show(head));
    BOOST_TEST(head.header("content-length").value_or("") == "5000", show(head));
    // A range response (206) from the app.
    auto partial = get(s.endpoint(),
                       "/c/range?json_size=5000&status=206&hdr=" + q("Content-Range: bytes 0-4999/20000"),
                       {{"Accept-Encoding", "gzip"}, {"Range", "bytes=0-4999"}});
    BOOST_TEST(partial.status == 206, show(partial));
    BOOST_TEST(encoding(partial).empty(), show(partial));
    BOOST_TEST(partial.body.size() == 5000u);
    // Cache-Control: no-transform, on the response or on the request (RFC 9110 §7.7).
    auto keep = get(s.endpoint(), "/c/no-transform?json_size=5000&cc=" + q("no-transform"), gzip);
    BOOST_TEST(encoding(keep).empty(), show(keep));
    BOOST_TEST(keep.body.size() == 5000u);
    auto keep_req = get(s.endpoint(), "/c/no-transform-req?json_size=5000",
                        {{"Accept-Encoding", "gzip"}, {"Cache-Control", "no-transform"}});
    BOOST_TEST(encoding(keep_req).empty(), show(keep_req));
    // A type outside compression.types: no Vary either, nothing depends on Accept-Encoding.
    auto binary = get(s.endpoint(), "/c/binary?size=50000", gzip);
    BOOST_TEST(binary.header("content-type").value_or("") == "application/octet-stream");
    BOOST_TEST(encoding(binary).empty(), show(binary));
    BOOST_TEST(!binary.header("vary").has_value(), show(binary));
    BOOST_TEST(binary.body == pattern_bytes(0, 50000));

    json c = stats(*s.portico);
    BOOST_TEST(c["compressed"]["gzip"] == 0, c.dump());
    for (const char* reason : {"encoded", "status", "head", "range", "no-transform", "type"})
        BOOST_TEST(c["skipped"][reason].get<int>() >= 1, reason << ": " << c.dump());
    BOOST_TEST(c["skipped"]["no-transform"] == 2, c.dump());
}

BOOST_AUTO_TEST_CASE(accept_encoding_is_negotiated_with_q_values) {
    CacheStack s(compression_setup());
    const std::string target = "/c/negotiate?words=20000";
    const std::string plain = get_ae(s.endpoint(), target, "").body;
    BOOST_TEST_REQUIRE(plain.size() == 20000u);
    struct Case {
        const char* accept;
        const char* coding;  // "" = identity
    } cases[] = {
        {"gzip", "gzip"},
        {"GZIP", "gzip"},
        {"x-gzip", "gzip"},
        {"*", "gzip"},
        {"gzip;q=0", ""},
        {"gzip;q=0, *", ""},
        {"*;q=0", ""},
        {"identity;q=0", ""},  // nothing acceptable is named: identity is the fallback
        {"identity;q=0, gzip;q=0.1", "gzip"},
        {"identity, gzip;q=0.5", ""},  // plain bytes preferred
        {"deflate", "deflate"},        // deflate only when asked for
        {"gzip;q=0.5, deflate", "deflate"},
        {"gzip, deflate, br", "gzip"},
        {"br", ""},
        {"gzip;q=1.5", ""},  // an invalid weight drops the member
    };
    for (const auto& c : cases) {
        BOOST_TEST_CONTEXT("Accept-Encoding: " << c.accept) {
            auto r = get_ae(s.endpoint(), target, c.accept);
            BOOST_TEST(r.status == 200, show(r));
            BOOST_TEST(encoding(r) == c.coding, show(r));
            BOOST_TEST(decoded(r) == plain);
            BOOST_TEST(r.header("vary").value_or("") == "Accept-Encoding");
        }
    }
    json st = stats(*s.portico);
    BOOST_TEST(st["compressed"]["deflate"] == 2, st.dump());
    BOOST_TEST(st["compressed"]["gzip"] == 6, st.dump());
}

BOOST_AUTO_TEST_CASE(vary_content_length_etag_and_http_1_0) {
    CacheStack s(compression_setup());
    const std::string target = "/c/fields?json_size=8000&etag=v7&vary=Cookie&hdr=" + q("Accept-Ranges: bytes");
    auto r = get_ae(s.endpoint(), target, "gzip");
    BOOST_TEST(encoding(r) == "gzip", show(r));
    BOOST_TEST(r.header("etag").value_or("") == "W/\"v7\"", "a strong ETag is weakened: " << show(r));
    BOOST_TEST(!r.header("accept-ranges").has_value(), show(r));
    BOOST_TEST(!r.header("content-length").has_value(), show(r));
    std::string vary;
    for (const auto& [name, value] : r.headers)
        if (name == "Vary" || name == "vary") vary += value + ";";
    BOOST_TEST(vary == "Cookie;Accept-Encoding;", show(r));
    // The weak tag still validates: the app compares weakly, Portico passes the 304 on.
    auto again = get(s.endpoint(), target, {{"Accept-Encoding", "gzip"}, {"If-None-Match", "W/\"v7\""}});
    BOOST_TEST(again.status == 304, show(again));
    // Uncompressed, the ETag stays strong and the length stays.
    auto plain = get_ae(s.endpoint(), target, "");
    BOOST_TEST(plain.header("etag").value_or("") == "\"v7\"", show(plain));
    BOOST_TEST(plain.header("content-length").value_or("") == "8000", show(plain));
    BOOST_TEST(plain.header("accept-ranges").value_or("") == "bytes", show(plain));

    // An HTTP/1.0 client cannot take chunks: the compressed body ends with the connection.
    RawClient old(s.endpoint());
    BOOST_TEST_REQUIRE(old.send("GET " + target + " HTTP/1.0\r\nHost: portico.test\r\nAccept-Encoding: gzip\r\n\r\n"));
    auto r10 = old.read_response(10s);
    BOOST_TEST(r10.complete, r10.describe());
    BOOST_TEST(encoding(r10) == "gzip", show(r10));
    BOOST_TEST(!r10.header("transfer-encoding").has_value(), show(r10));
    BOOST_TEST(!r10.header("content-length").has_value(), show(r10));
    BOOST_TEST(decoded(r10) == plain.body);
}

BOOST_AUTO_TEST_CASE(the_cache_stores_the_compressed_variant_and_hits_never_compress) {
    CacheStack s(compression_setup());
    const std::string path = "/x/stored";
    const std::string target = path + "?json_size=50000&etag=e1&" + "cc=" + q("max-age=60");
    auto miss = store(s, target, {{"Accept-Encoding", "gzip"}});
    BOOST_TEST(encoding(miss) == "gzip", show(miss));
    BOOST_TEST(compressed_count(*s.portico) == 1);
    const std::string plain = decoded(miss);
    BOOST_TEST_REQUIRE(plain.size() == 50000u);

    for (const char* ae : {"gzip", "gzip, deflate", "deflate;q=0.5, gzip"}) {
        auto hit = get_ae(s.endpoint(), target, ae);
        BOOST_TEST(xcache(hit) == "HIT", ae << ": " << show(hit));
        BOOST_TEST(encoding(hit) == "gzip", show(hit));
        BOOST_TEST(hit.body == miss.body, "the stored compressed bytes, as first sent");
        BOOST_TEST(hit.header("content-length").value_or("") == std::to_string(miss.body.size()), show(hit));
        BOOST_TEST(hit.header("etag").value_or("") == "W/\"e1\"", show(hit));
        BOOST_TEST(hit.header("vary").value_or("") == "Accept-Encoding", show(hit));
        check_single_fields(hit);
    }
    BOOST_TEST(compressed_count(*s.portico) == 1, "a hit compressed again");
    BOOST_TEST(asked(s.app, path) == 1);

    // Clients without gzip are another variant: plain bytes, fetched once, then hits too.
    auto plain_miss = store(s, target);
    BOOST_TEST(encoding(plain_miss).empty(), show(plain_miss));
    BOOST_TEST(plain_miss.body == plain);
    auto plain_hit = get_ae(s.endpoint(), target, "");
    BOOST_TEST(xcache(plain_hit) == "HIT", show(plain_hit));
    BOOST_TEST(encoding(plain_hit).empty(), show(plain_hit));
    BOOST_TEST(plain_hit.body == plain);
    BOOST_TEST(plain_hit.header("etag").value_or("") == "\"e1\"", show(plain_hit));
    // deflate is its own variant as well.
    auto deflate_miss = store(s, target, {{"Accept-Encoding", "deflate"}});
    BOOST_TEST(encoding(deflate_miss) == "deflate", show(deflate_miss));
    BOOST_TEST(decoded(deflate_miss) == plain);
    auto deflate_hit = get_ae(s.endpoint(), target, "deflate");
    BOOST_TEST(xcache(deflate_hit) == "HIT", show(deflate_hit));
    BOOST_TEST(encoding(deflate_hit) == "deflate");
    BOOST_TEST(asked(s.app, path) == 3);
    // The gzip variant is still there, and HEAD is answered from it.
    auto head = request(s.endpoint(), "HEAD", target, {{"Accept-Encoding", "gzip"}});
    BOOST_TEST(xcache(head) == "HIT", show(head));
    BOOST_TEST(encoding(head) == "gzip");
    BOOST_TEST(compressed_count(*s.portico) == 1);
    json c = stats(*s.portico);
    BOOST_TEST(c["compressed"]["deflate"] == 1, c.dump());
}

BOOST_AUTO_TEST_CASE(revalidating_a_compressed_entry_keeps_it_compressed) {
    CacheStack s(compression_setup());
    const std::string path = "/x/reval";
    const std::string target = path + "?words=30000&etag=r1&cc=" + q("max-age=1");
    auto miss = store(s, target, {{"Accept-Encoding", "gzip"}});
    BOOST_TEST(encoding(miss) == "gzip");
    auto after = first_non_hit(s.endpoint(), target, 8s, {{"Accept-Encoding", "gzip"}});
    BOOST_TEST(xcache(after) == "REVALIDATED", show(after));
    BOOST_TEST(not_modified(s.app, path) == 1);
    BOOST_TEST(encoding(after) == "gzip", show(after));
    BOOST_TEST(after.body == miss.body);
    // The app's 304 names the strong tag; the stored (compressed) response keeps its weak one.
    BOOST_TEST(after.header("etag").value_or("") == "W/\"r1\"", show(after));
    BOOST_TEST(decoded(after) == decoded(miss));
    BOOST_TEST(compressed_count(*s.portico) == 1);
}

BOOST_AUTO_TEST_CASE(routes_override_enabled_and_level) {
    CacheStack s(compression_setup("    \"/off/*\": { compression: { enabled: false } }\n"
                                   "    \"/l1/*\": { compression: { level: 1 } }\n"
                                   "    \"/l9/*\": { compression: { level: 9 } }\n"));
    const std::string query = "?words=200000";
    auto off = get_ae(s.endpoint(), "/off/a" + query, "gzip");
    BOOST_TEST(encoding(off).empty(), show(off));
    BOOST_TEST(!off.header("vary").has_value(), show(off));
    auto fast = get_ae(s.endpoint(), "/l1/a" + query, "gzip");
    auto best = get_ae(s.endpoint(), "/l9/a" + query, "gzip");
    BOOST_TEST(encoding(fast) == "gzip");
    BOOST_TEST(encoding(best) == "gzip");
    BOOST_TEST(decoded(fast) == off.body);
    BOOST_TEST(decoded(best) == off.body);
    BOOST_TEST(fast.body.size() > best.body.size(), "level 1: " << fast.body.size() << ", level 9: " << best.body.size());
    BOOST_TEST(stats(*s.portico)["skipped"]["off"] == 1);

    // Off at the top, on for one route.
    CacheStack t(compression_setup("    \"/on/*\": { compression: { enabled: true } }\n",
                                   "  enabled: false\n  types: [text/*]\n"));
    BOOST_TEST(encoding(get_ae(t.endpoint(), "/c/b" + query, "gzip")).empty());
    BOOST_TEST(encoding(get_ae(t.endpoint(), "/on/b" + query, "gzip")) == "gzip");
}

BOOST_AUTO_TEST_CASE(decisions_are_counted_in_stats_and_metrics) {
    CacheStack s(compression_setup());
    for (int i = 0; i < 3; ++i) BOOST_TEST(encoding(get_ae(s.endpoint(), "/c/n?words=50000", "gzip")) == "gzip");
    get_ae(s.endpoint(), "/c/n?words=50000", "");        // not accepted
    get_ae(s.endpoint(), "/c/n?words=500", "gzip");      // too small
    get_ae(s.endpoint(), "/c/n?size=5000", "gzip");      // octet-stream
    json c = stats(*s.portico);
    BOOST_TEST(c["compressed"]["gzip"] == 3, c.dump());
    BOOST_TEST(c["skipped"]["not-accepted"] == 1, c.dump());
    BOOST_TEST(c["skipped"]["too-small"] == 1, c.dump());
    BOOST_TEST(c["skipped"]["type"] == 1, c.dump());
    BOOST_TEST(c["bytes_in"] == 150000, c.dump());
    BOOST_TEST(c["bytes_out"].get<double>() < 150000 / 2, c.dump());
    BOOST_TEST(c["bytes_saved"].get<double>() == 150000 - c["bytes_out"].get<double>());
    std::string m = metrics_text(*s.portico);
    BOOST_TEST(metric(m, "portico_compression_responses_total{coding=\"gzip\"}") == 3);
    BOOST_TEST(metric(m, "portico_compression_skipped_total{reason=\"not-accepted\"}") == 1);
    BOOST_TEST(metric(m, "portico_compression_bytes_total{direction=\"in\"}") == 150000);
    BOOST_TEST(metric(m, "portico_compression_saved_bytes_total") == c["bytes_saved"].get<double>());
}

BOOST_AUTO_TEST_SUITE_END()
