// Static routes against the real binary: exact bytes (1 KiB and 5 MiB, SHA-256 compared), HEAD,
// 304 by ETag and by date, single and multipart ranges, 416, every traversal vector (and symlinks
// out of the root) answered 404 without the secret, 405, 403 for an unreadable file, index files,
// the 301 for a directory named without its slash (query kept, never an open redirect),
// the .gz sibling through curl --compressed, `fallback: upstream` reaching the app, a replaced
// file served fresh after the open-file cache's validity period, keep-alive and pipelining across
// static answers, clients that hang up mid-file leaving portico healthy with its descriptors
// back, and the counters in /stats and /metrics.
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <linux/capability.h>
#include <unistd.h>

#include <filesystem>
#include <random>

#include <fmt/core.h>

#include "harness.hpp"

using namespace portico::test;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

std::string random_bytes(size_t n, unsigned seed) {
    std::mt19937_64 rng(seed);
    std::string out(n, '\0');
    for (size_t i = 0; i < n; i += 8) {
        uint64_t v = rng();
        for (size_t j = 0; j < 8 && i + j < n; ++j) out[i + j] = static_cast<char>(v >> (8 * j));
    }
    return out;
}

constexpr std::string_view kSecret = "TOP-SECRET-6e1f";

// The document root and what lies around it, made before portico starts.
struct Files {
    TempDir dir;
    std::string www = dir.file("www");
    std::string small = random_bytes(1024, 1);
    std::string big = random_bytes(5 * 1024 * 1024, 2);
    std::string text = "static text file, served from disk\n";
    std::string script;
    Files() {
        fs::create_directories(www + "/sub");
        fs::create_directories(dir.file("outside"));
        dir.write("www/small.bin", small);
        dir.write("www/big.bin", big);
        dir.write("www/hello.txt", text);
        dir.write("www/sub/index.html", "<h1>index</h1>\n");
        dir.write("secret.txt", kSecret);
        dir.write("outside/secret.txt", kSecret);
        for (int i = 0; i < 300; ++i) script += fmt::format("console.log('line {} of a script worth compressing');\n", i);
        dir.write("www/app.js", script);
        BOOST_TEST_REQUIRE(std::system(("gzip -kn9 " + www + "/app.js").c_str()) == 0);
        fs::create_symlink("../secret.txt", www + "/escape.txt");
        fs::create_symlink(dir.file("secret.txt"), www + "/absolute.txt");
        fs::create_symlink("../outside", www + "/outdir");
        fs::create_symlink("hello.txt", www + "/inside-link.txt");  // stays inside: served
    }
    std::string routes() const {
        return fmt::format(
            "  patterns:\n"
            "    \"/static/*\":\n"
            "      static: {{ root: {0}, cache_control: \"public, max-age=60\", precompressed: false }}\n"
            "    \"/gz/*\":\n"
            "      static: {{ root: {0}, precompressed: true }}\n"
            "    \"/echo/fb/*\":\n"
            "      static: {{ root: {0}, fallback: upstream }}\n",
            www);
    }
};

struct StaticStack {
    Files files;
    Stack stack;
    explicit StaticStack(std::string workers = "1")
        : stack([&](PorticoSettings& s) {
              s.routes = files.routes();
              s.workers = workers;
          }) {}
    Endpoint endpoint() const { return stack.endpoint(); }
    Portico& portico() { return *stack.portico; }
};

HttpResponse get(const Endpoint& e, const std::string& target, const Headers& headers = {}) {
    return http_request(e, make_request("GET", target, headers), 30s);
}

// The parts of a multipart/byteranges body: (Content-Range, bytes).
std::vector<std::pair<std::string, std::string>> multipart_parts(const std::string& body, const std::string& boundary) {
    std::vector<std::pair<std::string, std::string>> parts;
    std::string delimiter = "\r\n--" + boundary;
    size_t at = body.find(delimiter);
    while (at != std::string::npos) {
        size_t line_end = body.find("\r\n", at + delimiter.size());
        if (body.compare(at + delimiter.size(), 2, "--") == 0) break;  // the closing delimiter
        size_t head_end = body.find("\r\n\r\n", line_end);
        std::string head = body.substr(line_end + 2, head_end - line_end - 2);
        size_t next = body.find(delimiter, head_end + 4);
        std::string range;
        size_t cr = head.find("Content-Range: ");
        if (cr != std::string::npos) range = head.substr(cr + 15, head.find("\r\n", cr) - cr - 15);
        parts.emplace_back(range, body.substr(head_end + 4, next - head_end - 4));
        at = next;
    }
    return parts;
}

json stats(Portico& p) {
    auto r = p.admin("GET", "/stats");
    BOOST_TEST_REQUIRE(r.status == 200, r.describe());
    return r.json();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(static_files)

BOOST_AUTO_TEST_CASE(files_are_served_byte_for_byte) {
    StaticStack s;
    auto small = get(s.endpoint(), "/static/small.bin");
    BOOST_TEST_REQUIRE(small.status == 200, small.describe());
    BOOST_TEST(small.body.size() == 1024u);
    BOOST_TEST(sha256_hex(small.body) == sha256_hex(s.files.small));
    BOOST_TEST(small.header("content-length").value_or("") == "1024");
    BOOST_TEST(small.header("content-type").value_or("") == "application/octet-stream");
    BOOST_TEST(small.header("cache-control").value_or("") == "public, max-age=60");
    BOOST_TEST(small.header("accept-ranges").value_or("") == "bytes");
    BOOST_TEST(small.header("etag").has_value());
    BOOST_TEST(small.header("last-modified").has_value());
    BOOST_TEST(small.header("x-request-id").has_value());

    auto big = get(s.endpoint(), "/static/big.bin");
    BOOST_TEST_REQUIRE(big.status == 200, big.describe());
    BOOST_TEST(big.body.size() == s.files.big.size());
    BOOST_TEST(sha256_hex(big.body) == sha256_hex(s.files.big));

    // curl agrees, and the app was never asked.
    auto curl = run_curl({"-s", "-o", s.stack.dir.file("big.out"), "-w", "%{http_code} %{size_download}",
                          s.portico().url("/static/big.bin")});
    BOOST_TEST(curl.out == fmt::format("200 {}", s.files.big.size()));
    BOOST_TEST(sha256_hex(read_file(s.stack.dir.file("big.out"))) == sha256_hex(s.files.big));
    auto text = get(s.endpoint(), "/static/hello.txt");
    BOOST_TEST(text.header("content-type").value_or("") == "text/plain");
    BOOST_TEST(text.body == s.files.text);
    BOOST_TEST(get(s.endpoint(), "/static/inside-link.txt").body == s.files.text);  // a symlink inside the root
    BOOST_TEST(s.stack.app.total() == 0);
}

BOOST_AUTO_TEST_CASE(head_has_the_get_head_and_no_body) {
    StaticStack s;
    auto full = get(s.endpoint(), "/static/big.bin");
    RawClient c(s.endpoint());
    BOOST_TEST_REQUIRE(c.send(make_request("HEAD", "/static/big.bin")));
    auto head = c.read_response(10s, /*head_request=*/true);
    BOOST_TEST_REQUIRE(head.status == 200, head.describe());
    BOOST_TEST(head.body.empty());
    BOOST_TEST(head.header("content-length").value_or("?") == full.header("content-length").value_or("-"));
    BOOST_TEST(head.header("etag").value_or("?") == full.header("etag").value_or("-"));
    // Nothing followed the head: the next answer on the connection is the next request's.
    BOOST_TEST_REQUIRE(c.send(make_request("GET", "/static/hello.txt")));
    auto next = c.read_response();
    BOOST_TEST(next.body == s.files.text);
}

BOOST_AUTO_TEST_CASE(conditional_requests_get_304) {
    StaticStack s;
    auto first = get(s.endpoint(), "/static/hello.txt");
    std::string etag = first.header("etag").value_or("");
    std::string date = first.header("last-modified").value_or("");
    BOOST_TEST_REQUIRE(!etag.empty());
    auto by_etag = get(s.endpoint(), "/static/hello.txt", {{"If-None-Match", etag}});
    BOOST_TEST(by_etag.status == 304, by_etag.describe());
    BOOST_TEST(by_etag.body.empty());
    BOOST_TEST(by_etag.header("etag").value_or("") == etag);
    BOOST_TEST(!by_etag.header("content-length").has_value());
    auto by_date = get(s.endpoint(), "/static/hello.txt", {{"If-Modified-Since", date}});
    BOOST_TEST(by_date.status == 304, by_date.describe());
    // If-None-Match wins: another tag means the file, whatever the date says.
    auto other = get(s.endpoint(), "/static/hello.txt", {{"If-None-Match", "\"nope\""}, {"If-Modified-Since", date}});
    BOOST_TEST(other.status == 200);
    BOOST_TEST(other.body == s.files.text);
    auto old = get(s.endpoint(), "/static/hello.txt", {{"If-Modified-Since", "Mon, 01 Jan 2001 00:00:00 GMT"}});
    BOOST_TEST(old.status == 200);
}

BOOST_AUTO_TEST_CASE(single_range_is_206) {
    StaticStack s;
    auto r = get(s.endpoint(), "/static/big.bin", {{"Range", "bytes=1000000-1000999"}});
    BOOST_TEST_REQUIRE(r.status == 206, r.describe());
    BOOST_TEST(r.header("content-range").value_or("") == fmt::format("bytes 1000000-1000999/{}", s.files.big.size()));
    BOOST_TEST(r.body == s.files.big.substr(1000000, 1000));
    auto suffix = get(s.endpoint(), "/static/small.bin", {{"Range", "bytes=-24"}});
    BOOST_TEST(suffix.status == 206);
    BOOST_TEST(suffix.body == s.files.small.substr(1000));
    // If-Range with another validator: the whole file.
    auto stale = get(s.endpoint(), "/static/small.bin", {{"Range", "bytes=0-9"}, {"If-Range", "\"old\""}});
    BOOST_TEST(stale.status == 200);
    BOOST_TEST(stale.body == s.files.small);
    auto fresh = get(s.endpoint(), "/static/small.bin",
                     {{"Range", "bytes=0-9"}, {"If-Range", stale.header("etag").value_or("")}});
    BOOST_TEST(fresh.status == 206);
    BOOST_TEST(fresh.body == s.files.small.substr(0, 10));
}

BOOST_AUTO_TEST_CASE(several_ranges_are_multipart_byteranges) {
    StaticStack s;
    auto r = get(s.endpoint(), "/static/big.bin", {{"Range", "bytes=0-9, 2000000-2099999, -16"}});
    BOOST_TEST_REQUIRE(r.status == 206, r.describe());
    std::string type = r.header("content-type").value_or("");
    BOOST_TEST_REQUIRE(type.rfind("multipart/byteranges; boundary=", 0) == 0, type);
    std::string boundary = type.substr(type.find('=') + 1);
    BOOST_TEST(r.header("content-length").value_or("") == std::to_string(r.body.size()));
    auto parts = multipart_parts(r.body, boundary);
    size_t n = s.files.big.size();
    BOOST_TEST_REQUIRE(parts.size() == 3u);
    BOOST_TEST(parts[0].first == fmt::format("bytes 0-9/{}", n));
    BOOST_TEST(parts[0].second == s.files.big.substr(0, 10));
    BOOST_TEST(parts[1].first == fmt::format("bytes 2000000-2099999/{}", n));
    BOOST_TEST(sha256_hex(parts[1].second) == sha256_hex(s.files.big.substr(2000000, 100000)));
    BOOST_TEST(parts[2].first == fmt::format("bytes {}-{}/{}", n - 16, n - 1, n));
    BOOST_TEST(parts[2].second == s.files.big.substr(n - 16));
    BOOST_TEST(r.body.size() >= 2 + boundary.size() + 6);
    BOOST_TEST(r.body.substr(r.body.size() - boundary.size() - 8) == "\r\n--" + boundary + "--\r\n");
}

BOOST_AUTO_TEST_CASE(unsatisfiable_range_is_416) {
    StaticStack s;
    auto r = get(s.endpoint(), "/static/small.bin", {{"Range", "bytes=5000-"}});
    BOOST_TEST(r.status == 416, r.describe());
    BOOST_TEST(r.header("content-range").value_or("") == "bytes */1024");
    BOOST_TEST(r.body.empty());
}

BOOST_AUTO_TEST_CASE(traversal_vectors_never_reach_the_secret) {
    StaticStack s;
    const char* vectors[] = {
        "/static/../secret.txt",          "/static/%2e%2e/secret.txt",   "/static/%2E%2E/secret.txt",
        "/static/.%2e/secret.txt",        "/static/..%2fsecret.txt",     "/static/%2e%2e%2fsecret.txt",
        "/static/sub/../../secret.txt",   "/static/sub/%2e%2e/%2e%2e/secret.txt", "/static/..%5csecret.txt",
        "/static/hello.txt%00.png",       "/static/%00",                 "/static/escape.txt",
        "/static/absolute.txt",           "/static/outdir/secret.txt",   "/static/outdir/",
        "/static/%2fetc%2fpasswd",        "/static//etc/passwd",         "/static/%252e%252e/secret.txt",
    };
    for (const char* target : vectors) {
        BOOST_TEST_CONTEXT(target) {
            auto r = get(s.endpoint(), target);
            BOOST_TEST(r.status == 404, r.describe());
            BOOST_TEST(r.body.find(kSecret) == std::string::npos);
            BOOST_TEST(r.body.find(s.files.www) == std::string::npos);  // no path in the answer
            BOOST_TEST(r.body.find("root:") == std::string::npos);
        }
    }
    BOOST_TEST(s.stack.app.total() == 0);
}

BOOST_AUTO_TEST_CASE(other_methods_are_405) {
    StaticStack s;
    auto r = http_request(s.endpoint(), make_request("POST", "/static/hello.txt", {}, "x=1"));
    BOOST_TEST(r.status == 405, r.describe());
    BOOST_TEST(r.header("allow").value_or("") == "GET, HEAD");
    BOOST_TEST(s.stack.app.total() == 0);
}

BOOST_AUTO_TEST_CASE(directories_serve_their_index) {
    StaticStack s;
    auto r = get(s.endpoint(), "/static/sub/");
    BOOST_TEST(r.status == 200, r.describe());
    BOOST_TEST(r.body == "<h1>index</h1>\n");
    BOOST_TEST(r.header("content-type").value_or("") == "text/html");
    BOOST_TEST(get(s.endpoint(), "/static/").status == 404);  // no index.html at the root
}

BOOST_AUTO_TEST_CASE(a_directory_without_its_slash_is_301_to_it) {
    StaticStack s;
    auto r = get(s.endpoint(), "/static/sub");
    BOOST_TEST_REQUIRE(r.status == 301, r.describe());
    BOOST_TEST(r.header("location").value_or("") == "/static/sub/");
    BOOST_TEST(!r.has_token("connection", "close"));
    BOOST_TEST(r.body.find(s.files.www) == std::string::npos);
    // The query is kept, as nginx keeps it; the path is the normalised one.
    BOOST_TEST(get(s.endpoint(), "/static/sub?page=2&q=a%20b").header("location").value_or("") ==
               "/static/sub/?page=2&q=a%20b");
    BOOST_TEST(get(s.endpoint(), "/static/x/../sub").header("location").value_or("") == "/static/sub/");
    BOOST_TEST(get(s.endpoint(), "/static//sub").header("location").value_or("") == "/static/sub/");
    // HEAD alike, with no body: the next answer on the connection is the next request's.
    RawClient c(s.endpoint());
    BOOST_TEST_REQUIRE(c.send(make_request("HEAD", "/static/sub?x=1")));
    auto head = c.read_response(10s, /*head_request=*/true);
    BOOST_TEST_REQUIRE(head.status == 301, head.describe());
    BOOST_TEST(head.header("location").value_or("") == "/static/sub/?x=1");
    BOOST_TEST(head.body.empty());
    BOOST_TEST_REQUIRE(c.send(make_request("GET", "/static/hello.txt")));
    BOOST_TEST(c.read_response().body == s.files.text);
    // Found on disk: even a fallback route answers it rather than asking the app.
    BOOST_TEST(get(s.endpoint(), "/echo/fb/sub").status == 301);
    // curl follows it to the index page.
    auto curl = run_curl({"-s", "-L", "-o", s.stack.dir.file("index.out"), "-w", "%{http_code} %{num_redirects}",
                          s.portico().url("/static/sub")});
    BOOST_TEST(curl.out == "200 1");
    BOOST_TEST(read_file(s.stack.dir.file("index.out")) == "<h1>index</h1>\n");
    BOOST_TEST(stats(s.portico())["static"]["responses"]["301"].get<int>() == 7);
    BOOST_TEST(s.stack.app.total() == 0);
}

// A route over "/*" is where "//evil.com" could become "Location: //evil.com/", which browsers
// follow to another host (as "/\\evil.com"): the Location is built from the normalised path.
BOOST_AUTO_TEST_CASE(directory_redirects_are_never_open_redirects) {
    Files files;
    fs::create_directories(files.www + "/evil.com");
    fs::create_directories(files.www + "/\\evil.com");
    Stack stack([&](PorticoSettings& st) {
        st.routes = fmt::format(
            "  patterns:\n"
            "    \"/*\":\n"
            "      static: {{ root: {0} }}\n"
            "    \"/static/*\":\n"
            "      static: {{ root: {0} }}\n",
            files.www);
    });
    struct Case {
        const char* target;
        const char* location;
    } cases[] = {
        {"//evil.com", "/evil.com/"},
        {"///evil.com", "/evil.com/"},
        {"//evil.com?next=x", "/evil.com/?next=x"},
        {"/%2fevil.com", "/evil.com/"},
        {"/%2F%2Fevil.com", "/evil.com/"},
        {"/.//evil.com", "/evil.com/"},
        {"/sub/..//evil.com", "/evil.com/"},
        {"/%5cevil.com", "/%5Cevil.com/"},
        {"/static//evil.com", "/static/evil.com/"},
        {"/static/%2f%2fevil.com", "/static/evil.com/"},
    };
    for (const Case& c : cases) {
        BOOST_TEST_CONTEXT(c.target) {
            auto r = get(stack.endpoint(), c.target);
            BOOST_TEST(r.status == 301, r.describe());
            std::string location = r.header("location").value_or("");
            BOOST_TEST(location == c.location);
            BOOST_TEST(location.rfind("//", 0) != 0);
            BOOST_TEST(location.rfind("/\\", 0) != 0);
        }
    }
    // A directory symlinked out of the root is no directory to redirect to.
    BOOST_TEST(get(stack.endpoint(), "/outdir").status == 404);
}

BOOST_AUTO_TEST_CASE(gzip_sibling_for_clients_that_accept_it) {
    StaticStack s;
    auto curl = run_curl({"-s", "--compressed", "-D", s.stack.dir.file("gz.head"), "-o", s.stack.dir.file("gz.out"),
                          s.portico().url("/gz/app.js")});
    BOOST_TEST(curl.exit_code == 0, curl.err);
    std::string head = read_file(s.stack.dir.file("gz.head"));
    BOOST_TEST(head.find("Content-Encoding: gzip") != std::string::npos, head);
    BOOST_TEST(head.find("Vary: Accept-Encoding") != std::string::npos, head);
    BOOST_TEST(read_file(s.stack.dir.file("gz.out")) == s.files.script);  // curl decoded it
    auto raw = get(s.endpoint(), "/gz/app.js", {{"Accept-Encoding", "gzip"}});
    BOOST_TEST(raw.body.size() < s.files.script.size() / 4);
    BOOST_TEST(inflate_body(raw.body).value_or("<broken>") == s.files.script);
    auto plain = get(s.endpoint(), "/gz/app.js");
    BOOST_TEST(!plain.header("content-encoding").has_value());
    // Typed as the script, not as a gzip file.
    BOOST_TEST(head.find("Content-Type: " + plain.header("content-type").value_or("?") + "\r\n") != std::string::npos, head);
    BOOST_TEST(plain.header("content-type").value_or("").find("javascript") != std::string::npos);
    BOOST_TEST(plain.body == s.files.script);
    BOOST_TEST(plain.header("etag").value_or("?") != raw.header("etag").value_or("?"));  // two representations, two tags
    auto refused = get(s.endpoint(), "/gz/app.js", {{"Accept-Encoding", "gzip;q=0, identity"}});
    BOOST_TEST(refused.body == s.files.script);
    // A route without precompressed never serves the sibling.
    BOOST_TEST(get(s.endpoint(), "/static/app.js", {{"Accept-Encoding", "gzip"}}).body == s.files.script);
}

BOOST_AUTO_TEST_CASE(fallback_upstream_sends_misses_to_the_app) {
    StaticStack s;
    auto miss = get(s.endpoint(), "/echo/fb/not-on-disk?x=1");
    BOOST_TEST_REQUIRE(miss.status == 200, miss.describe());
    BOOST_TEST(miss.json()["path"] == "/echo/fb/not-on-disk");
    BOOST_TEST(s.stack.app.count("/echo/fb/not-on-disk") == 1);
    auto hit = get(s.endpoint(), "/echo/fb/hello.txt");
    BOOST_TEST(hit.body == s.files.text);
    BOOST_TEST(s.stack.app.count("/echo/fb/hello.txt") == 0);
    // A traversal is a miss like any other: the app gets it (and answers what it answers), the
    // secret never comes from disk.
    auto climb = get(s.endpoint(), "/echo/fb/%2e%2e/secret.txt");
    BOOST_TEST(climb.body.find(kSecret) == std::string::npos);
    BOOST_TEST(stats(s.portico())["static"]["fallback"].get<int>() == 2);
}

BOOST_AUTO_TEST_CASE(a_replaced_file_is_served_fresh_after_the_validity_period) {
    StaticStack s;
    s.files.dir.write("www/swap.txt", "old version\n");
    BOOST_TEST(get(s.endpoint(), "/static/swap.txt").body == "old version\n");
    // A deploy writes the new file beside the old one and renames it over.
    s.files.dir.write("www/swap.txt.tmp", "the new version\n");
    fs::rename(s.files.dir.file("www/swap.txt.tmp"), s.files.dir.file("www/swap.txt"));
    auto replaced = Clock::now();
    std::string body;
    BOOST_TEST(eventually([&] { return (body = get(s.endpoint(), "/static/swap.txt").body) == "the new version\n"; },
                          5s, 50ms),
               body);
    // One second of validity, plus a little for the request itself.
    BOOST_TEST(std::chrono::duration_cast<Millis>(Clock::now() - replaced).count() < 1800);
    fs::remove(s.files.dir.file("www/swap.txt"));
    BOOST_TEST(eventually([&] { return get(s.endpoint(), "/static/swap.txt").status == 404; }, 5s, 50ms));
}

BOOST_AUTO_TEST_CASE(keep_alive_and_pipelining_across_static_answers) {
    StaticStack s;
    RawClient c(s.endpoint());
    std::string etag = get(s.endpoint(), "/static/hello.txt").header("etag").value_or("");
    struct Step {
        std::string request;
        int status;
        bool head = false;
    } steps[] = {
        {make_request("GET", "/static/small.bin"), 200},
        {make_request("GET", "/static/hello.txt", {{"If-None-Match", etag}}), 304},
        {make_request("GET", "/static/small.bin", {{"Range", "bytes=9999-"}}), 416},
        {make_request("GET", "/static/small.bin", {{"Range", "bytes=0-1,5-6"}}), 206},
        {make_request("GET", "/static/missing"), 404},
        {make_request("HEAD", "/static/big.bin"), 200, true},
        {make_request("GET", "/static/big.bin"), 200},
        {make_request("GET", "/echo/fb/proxied"), 200},
        {make_request("GET", "/static/hello.txt"), 200},
    };
    for (const auto& step : steps) {
        BOOST_TEST_CONTEXT(step.request.substr(0, step.request.find('\r'))) {
            BOOST_TEST_REQUIRE(c.send(step.request));
            auto r = c.read_response(30s, step.head);
            BOOST_TEST_REQUIRE(r.complete, r.describe());
            BOOST_TEST(r.status == step.status);
            BOOST_TEST(!r.has_token("connection", "close"));
        }
    }
    BOOST_TEST(!c.peer_closed_now());
    // Pipelined: three answers, in order, the big one in the middle.
    BOOST_TEST_REQUIRE(c.send(make_request("GET", "/static/hello.txt") + make_request("GET", "/static/big.bin") +
                              make_request("GET", "/static/small.bin")));
    BOOST_TEST(c.read_response(30s).body == s.files.text);
    BOOST_TEST(sha256_hex(c.read_response(30s).body) == sha256_hex(s.files.big));
    BOOST_TEST(c.read_response(30s).body == s.files.small);
}

BOOST_AUTO_TEST_CASE(clients_hanging_up_mid_file_leave_portico_healthy) {
    StaticStack s;
    std::string huge = random_bytes(32 * 1024 * 1024, 3);
    std::string mib = random_bytes(1024 * 1024, 4);
    s.files.dir.write("www/huge.bin", huge);
    s.files.dir.write("www/mib.bin", mib);
    // Opened once, so the open-file cache's descriptors are part of the baseline.
    BOOST_TEST(get(s.endpoint(), "/static/huge.bin").body.size() == huge.size());
    BOOST_TEST(get(s.endpoint(), "/static/mib.bin").body.size() == mib.size());
    auto fds = [&] { return stats(s.portico())["process"]["open_fds"].get<int>(); };
    int baseline = fds();
    for (int i = 0; i < 20; ++i) {
        const char* target = i % 2 == 0 ? "/static/huge.bin" : "/static/mib.bin";
        RawClient c(s.endpoint());
        int small = 4096;
        setsockopt(c.fd(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
        BOOST_TEST_REQUIRE(c.send(make_request("GET", target)));
        char buf[8192];
        pollfd readable{c.fd(), POLLIN, 0};
        BOOST_TEST(poll(&readable, 1, 5000) == 1);
        ssize_t n = recv(c.fd(), buf, sizeof buf, 0);  // the head and a little of the body
        BOOST_TEST(n > 0);
        c.close();  // unread bytes: the kernel answers with a reset
    }
    for (int i = 0; i < 3; ++i) {
        auto again = get(s.endpoint(), "/static/mib.bin");
        BOOST_TEST(sha256_hex(again.body) == sha256_hex(mib));
    }
    BOOST_TEST(s.portico().admin("GET", "/health").status == 200);
    // Every connection, its poll descriptor and its file reference are gone (within the validity
    // period the open-file cache still holds its own two).
    int now = 0;
    BOOST_TEST(eventually([&] { return (now = fds()) <= baseline; }, 10s, 50ms), now << " open, baseline " << baseline);
    BOOST_TEST(s.portico().process().running());
}

BOOST_AUTO_TEST_CASE(answers_are_counted) {
    StaticStack s;
    get(s.endpoint(), "/static/hello.txt");
    get(s.endpoint(), "/static/hello.txt");
    get(s.endpoint(), "/static/missing");
    get(s.endpoint(), "/static/small.bin", {{"Range", "bytes=0-0"}});
    get(s.endpoint(), "/gz/app.js", {{"Accept-Encoding", "gzip"}});
    json st = stats(s.portico())["static"];
    BOOST_TEST(st["responses"]["200"].get<int>() == 3, st.dump());
    BOOST_TEST(st["responses"]["404"].get<int>() == 1);
    BOOST_TEST(st["responses"]["206"].get<int>() == 1);
    BOOST_TEST(st["precompressed"].get<int>() == 1);
    BOOST_TEST(st["open_file_cache"]["hits"].get<int>() >= 1);
    BOOST_TEST(st["open_file_cache"]["misses"].get<int>() >= 3);
    BOOST_TEST(st["bytes_sent"].get<int>() > 0);
    std::string metrics = s.portico().admin("GET", "/metrics").body;
    BOOST_TEST(metrics.find("portico_static_responses_total{route=\"/static/*\",code=\"200\"} 2\n") != std::string::npos,
               metrics);
    BOOST_TEST(metrics.find("portico_static_open_file_cache_total{result=\"hit\"}") != std::string::npos);
    BOOST_TEST(metrics.find("portico_static_precompressed_total 1\n") != std::string::npos);
    // The access log has a line per answer, like proxied ones.
    BOOST_TEST(eventually([&] { return s.portico().access_log().find("GET /static/missing HTTP/1.1") != std::string::npos; },
                          5s));
}

// Last: as root, the process can only be refused a mode-000 file once the capabilities that
// override file permissions are gone, and dropping them from the bounding set (so the portico
// this test starts has none) cannot be undone for the rest of this process.
BOOST_AUTO_TEST_CASE(unreadable_file_is_403) {
    Files files;
    files.dir.write("www/locked.txt", "locked");
    chmod(files.dir.file("www/locked.txt").c_str(), 0);
    if (geteuid() == 0) {
        bool dropped = prctl(PR_CAPBSET_DROP, CAP_DAC_OVERRIDE, 0, 0, 0) == 0 &&
                       prctl(PR_CAPBSET_DROP, CAP_DAC_READ_SEARCH, 0, 0, 0) == 0;
        if (!dropped) {
            BOOST_TEST_MESSAGE("skipped: running as root and the permission-overriding capabilities cannot be dropped");
            return;
        }
    }
    Stack stack([&](PorticoSettings& s) { s.routes = files.routes(); });
    auto r = get(stack.endpoint(), "/echo/fb/locked.txt");  // even with fallback: it is there
    BOOST_TEST(r.status == 403, r.describe());
    BOOST_TEST(r.body.find(files.www) == std::string::npos);
    BOOST_TEST(r.body.find("locked") == std::string::npos);
    BOOST_TEST(stack.app.total() == 0);
    BOOST_TEST(get(stack.endpoint(), "/static/hello.txt").status == 200);
}

BOOST_AUTO_TEST_SUITE_END()
