// Request and response bodies through portico: Content-Length and chunked both ways,
// Expect: 100-continue, and 1 GiB each way streamed with bounded memory (back-pressure).
#include <boost/test/unit_test.hpp>

#include <fmt/core.h>

#include <thread>

#include "harness.hpp"

using namespace portico::test;
using nlohmann::json;

namespace {

constexpr uint64_t kMiB = 1024 * 1024;
constexpr uint64_t kGiB = 1024 * kMiB;
constexpr uint64_t kRssLimitKiB = 200 * 1024;  // the brief's bound for streaming 1 GiB

// Generates the i % 251 pattern in pieces without allocating per piece: `window` holds one piece
// plus a full cycle, so every phase is a substring of it.
class PatternSource {
public:
    explicit PatternSource(size_t piece) : piece_(piece), window_(pattern_bytes(0, piece + 251)) {}
    std::string_view at(uint64_t offset, size_t n) const { return std::string_view(window_).substr(offset % 251, n); }
    size_t piece() const { return piece_; }

private:
    size_t piece_;
    std::string window_;
};

// Checks a streamed body against the pattern as it arrives.
struct PatternCheck {
    uint64_t offset = 0;
    uint64_t mismatches = 0;
    uint64_t first_mismatch = UINT64_MAX;
    void operator()(std::string_view piece) {
        unsigned expect = static_cast<unsigned>(offset % 251);
        for (size_t i = 0; i < piece.size(); ++i) {
            if (static_cast<unsigned char>(piece[i]) != expect) {
                if (mismatches++ == 0) first_mismatch = offset + i;
            }
            if (++expect == 251) expect = 0;
        }
        offset += piece.size();
    }
};

void check_peak_rss(pid_t pid, uint64_t hwm_kib, const char* what) {
    if (sanitized_build(pid)) {
        BOOST_TEST_MESSAGE(fmt::format("sanitizer build: RSS bound not checked ({} peaked at {} KiB)", what, hwm_kib));
        return;
    }
    BOOST_TEST(hwm_kib < kRssLimitKiB, "portico peak RSS " << hwm_kib << " KiB while streaming a 1 GiB " << what);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(proxy_bodies)

BOOST_AUTO_TEST_CASE(content_length_upload) {
    Stack s;
    const std::string body = pattern_bytes(7, 3 * kMiB + 17);
    RawClient c(s.endpoint());
    BOOST_TEST_REQUIRE(c.send(make_request("POST", "/upload", {{"Content-Type", "application/octet-stream"}}, body)));
    auto r = c.read_response(30s);
    BOOST_TEST_REQUIRE(r.status == 200, r.describe());
    BOOST_TEST(r.json()["length"] == body.size());
    BOOST_TEST(r.json()["sha256"] == sha256_hex(body));
    // A GET may carry a body too; it must be forwarded, not left to be parsed as the next request.
    BOOST_TEST_REQUIRE(c.send(make_request("GET", "/echo", {}, "get-body")));
    auto e = c.read_response();
    BOOST_TEST_REQUIRE(e.status == 200, e.describe());
    BOOST_TEST(e.json()["body_length"] == 8);
    BOOST_TEST(e.json()["body_sha256"] == sha256_hex("get-body"));
}

BOOST_AUTO_TEST_CASE(chunked_upload_with_curl) {
    Stack s;
    const std::string body = pattern_bytes(0, 2 * kMiB + 3);
    s.dir.write("upload.bin", body);
    auto r = run_curl({"-s", "--max-time", "30", "-H", "Transfer-Encoding: chunked", "-T", s.dir.file("upload.bin"),
                       s.portico->url("/upload")});
    BOOST_TEST_REQUIRE(r.exit_code == 0, r.err);
    auto j = json::parse(r.out);
    BOOST_TEST(j["length"] == body.size());
    BOOST_TEST(j["sha256"] == sha256_hex(body));
}

BOOST_AUTO_TEST_CASE(chunked_upload_raw_then_next_request) {
    Stack s;
    std::string req = "POST /upload HTTP/1.1\r\nHost: portico.test\r\nTransfer-Encoding: chunked\r\n\r\n";
    std::string all;
    uint64_t off = 0;
    for (size_t size : {1u, 10u, 4096u, 65536u, 100000u, 3u}) {
        std::string piece = pattern_bytes(off, size);
        off += size;
        all += piece;
        req += fmt::format("{:x}\r\n", size) + piece + "\r\n";
    }
    req += "0\r\n\r\n";
    RawClient c(s.endpoint());
    BOOST_TEST_REQUIRE(c.send(req));
    auto r = c.read_response();
    BOOST_TEST_REQUIRE(r.status == 200, r.describe());
    BOOST_TEST(r.json()["length"] == all.size());
    BOOST_TEST(r.json()["sha256"] == sha256_hex(all));
    // An empty chunked body, then a plain request, on the same connection.
    BOOST_TEST_REQUIRE(c.send("POST /upload HTTP/1.1\r\nHost: portico.test\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"));
    auto empty = c.read_response();
    BOOST_TEST_REQUIRE(empty.status == 200, empty.describe());
    BOOST_TEST(empty.json()["length"] == 0);
    BOOST_TEST_REQUIRE(c.send(make_request("GET", "/bytes/5")));
    BOOST_TEST(c.read_response().body == pattern_bytes(0, 5));
}

BOOST_AUTO_TEST_CASE(chunk_extensions_and_trailers_are_accepted) {
    // RFC 9112 §7.1.1: a recipient must ignore unrecognised chunk extensions; §7.1.2 trailers.
    Stack s;
    RawClient c(s.endpoint());
    BOOST_TEST_REQUIRE(c.send("POST /upload HTTP/1.1\r\nHost: portico.test\r\nTransfer-Encoding: chunked\r\n\r\n"
                              "5;name=value\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n"));
    auto r = c.read_response();
    BOOST_TEST_REQUIRE(r.status == 200, r.describe());
    BOOST_TEST(r.json()["length"] == 11);
    BOOST_TEST(r.json()["sha256"] == sha256_hex("hello world"));
}

BOOST_AUTO_TEST_CASE(chunked_and_content_length_downloads) {
    Stack s;
    RawClient c(s.endpoint());
    BOOST_TEST_REQUIRE(c.send(make_request("GET", "/stream/1000003")));
    auto chunked = c.read_response(30s);
    BOOST_TEST_REQUIRE(chunked.status == 200, chunked.describe());
    BOOST_TEST(chunked.complete);
    BOOST_TEST(chunked.body.size() == 1000003u);
    BOOST_TEST((chunked.body == pattern_bytes(0, 1000003)));

    BOOST_TEST_REQUIRE(c.send(make_request("GET", "/bytes/2500000")));
    auto fixed = c.read_response(30s);
    BOOST_TEST_REQUIRE(fixed.status == 200, fixed.describe());
    BOOST_TEST(fixed.header("content-length").value_or("<absent>") == "2500000");
    BOOST_TEST((fixed.body == pattern_bytes(0, 2500000)));

    auto curl = run_curl({"-s", "--max-time", "30", s.portico->url("/stream/777777")});
    BOOST_TEST_REQUIRE(curl.exit_code == 0, curl.err);
    BOOST_TEST((curl.out == pattern_bytes(0, 777777)));
}

BOOST_AUTO_TEST_CASE(expect_100_continue) {
    Stack s;
    RawClient c(s.endpoint());
    BOOST_TEST_REQUIRE(c.send("POST /upload HTTP/1.1\r\nHost: portico.test\r\nContent-Length: 11\r\n"
                              "Expect: 100-continue\r\n\r\n"));
    // The body is withheld until portico says go on (curl would give up after 1 s; we wait 5).
    auto interim = c.read_response(5s);
    BOOST_TEST_REQUIRE(interim.status == 100, "expected 100 Continue, got " << interim.status << " " << interim.error
                                                                            << "\n" << interim.raw_head);
    BOOST_TEST_REQUIRE(c.send("hello world"));
    auto r = c.read_response();
    BOOST_TEST_REQUIRE(r.status == 200, r.describe());
    BOOST_TEST(r.json()["length"] == 11);

    // With curl, which sends Expect: 100-continue itself for bodies over 1 MiB.
    const std::string body = pattern_bytes(0, 2 * kMiB);
    s.dir.write("body.bin", body);
    auto curl = run_curl({"-s", "-v", "--max-time", "30", "--expect100-timeout", "10", "--data-binary",
                          "@" + s.dir.file("body.bin"), s.portico->url("/upload")});
    BOOST_TEST_REQUIRE(curl.exit_code == 0, curl.err);
    BOOST_TEST(curl.err.find("HTTP/1.1 100 Continue") != std::string::npos, curl.err);
    BOOST_TEST(json::parse(curl.out)["sha256"] == sha256_hex(body));
}

BOOST_AUTO_TEST_CASE(expect_100_with_oversized_body_gets_413_not_100) {
    Stack s([](PorticoSettings& p) { p.max_body_bytes = "1KiB"; });
    RawClient c(s.endpoint());
    BOOST_TEST_REQUIRE(c.send("POST /upload HTTP/1.1\r\nHost: portico.test\r\nContent-Length: 5000\r\n"
                              "Expect: 100-continue\r\n\r\n"));
    auto r = c.read_response(5s);
    BOOST_TEST(r.status == 413, r.describe());
    BOOST_TEST(s.app.count("/upload") == 0);
}

BOOST_AUTO_TEST_CASE(one_gib_upload_streams_with_bounded_memory) {
    Stack s([](PorticoSettings& p) {
        p.max_body_bytes = "2GiB";
        p.read_timeout = "60s";  // the app answers only after reading the whole gigabyte
    });
    const pid_t pid = s.portico->pid();
    PatternSource source(256 * 1024);
    Sha256 digest;
    RawClient c(s.endpoint());
    BOOST_TEST_REQUIRE(c.send("POST /upload HTTP/1.1\r\nHost: portico.test\r\nTransfer-Encoding: chunked\r\n"
                              "Content-Type: application/octet-stream\r\n\r\n"));
    uint64_t sent = 0, max_rss = 0;
    const std::string size_line = fmt::format("{:x}\r\n", source.piece());
    std::string frame;
    while (sent < kGiB) {
        auto piece = source.at(sent, source.piece());
        digest.update(piece);
        frame.assign(size_line);
        frame.append(piece);
        frame.append("\r\n");
        BOOST_TEST_REQUIRE(c.send(frame, 30s), "portico stopped reading the upload at " << sent << " bytes");
        sent += piece.size();
        if (sent % (64 * kMiB) == 0) max_rss = std::max(max_rss, proc_status_kib(pid, "VmRSS"));
    }
    BOOST_TEST_REQUIRE(c.send("0\r\n\r\n"));
    auto r = c.read_response(120s);
    BOOST_TEST_REQUIRE(r.status == 200, r.describe());
    BOOST_TEST(r.json()["length"] == kGiB);
    BOOST_TEST(r.json()["sha256"] == digest.hex());
    const uint64_t hwm = proc_status_kib(pid, "VmHWM");
    BOOST_TEST_MESSAGE(fmt::format("1 GiB upload: portico VmRSS max sampled {} KiB, VmHWM {} KiB", max_rss, hwm));
    check_peak_rss(pid, hwm, "upload");
}

BOOST_AUTO_TEST_CASE(one_gib_download_streams_with_bounded_memory) {
    Stack s([](PorticoSettings& p) { p.read_timeout = "60s"; });
    const pid_t pid = s.portico->pid();
    RawClient c(s.endpoint());
    BOOST_TEST_REQUIRE(c.send(make_request("GET", fmt::format("/stream/{}", kGiB))));
    PatternCheck check;
    uint64_t max_rss = 0;
    bool paused = false;
    auto r = c.read_response(180s, false, [&](std::string_view piece) {
        check(piece);
        if (check.offset % (64 * kMiB) < piece.size()) max_rss = std::max(max_rss, proc_status_kib(pid, "VmRSS"));
        if (!paused && check.offset >= 128 * kMiB) {
            // A slow reader: the app can write far faster than this, so without back-pressure
            // portico would buffer hundreds of MiB during the pause. (Load shaping, not a wait.)
            paused = true;
            std::this_thread::sleep_for(2s);
            max_rss = std::max(max_rss, proc_status_kib(pid, "VmRSS"));
        }
    });
    BOOST_TEST_REQUIRE(r.status == 200, r.describe());
    BOOST_TEST(r.complete, r.describe());
    BOOST_TEST(check.offset == kGiB);
    BOOST_TEST(check.mismatches == 0u, "first mismatch at byte " << check.first_mismatch);
    const uint64_t hwm = proc_status_kib(pid, "VmHWM");
    BOOST_TEST_MESSAGE(fmt::format("1 GiB download: portico VmRSS max sampled {} KiB, VmHWM {} KiB", max_rss, hwm));
    check_peak_rss(pid, hwm, "download");
}

BOOST_AUTO_TEST_SUITE_END()
