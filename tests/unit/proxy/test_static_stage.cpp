// The static stage over a real directory: 405 with Allow, 404 (and `fallback: upstream` for it
// alone), 403, traversal vectors naming nothing, index files (and a 301 for a directory named
// without its slash), the .gz sibling only when gzip is accepted (typed as the plain file; a request
// for the .gz itself typed as gzip), and the open-file cache serving a replaced file's old opening
// until the validity period ends, then the new file.
#define BOOST_TEST_MODULE proxy_static_stage
#include <boost/test/unit_test.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "parse_head.hpp"
#include "proxy/cache_stage.hpp"
#include "proxy/static_stage.hpp"

using namespace portico;
using namespace portico::proxy;
namespace fs = std::filesystem;

namespace {

constexpr uint64_t kValid = 1'000'000;

struct Tree {
    fs::path base;
    conf::RouteStatic route;
    StaticFiles files{16, kValid};
    Tree() {
        char pattern[] = "/tmp/static-stage-XXXXXX";
        base = mkdtemp(pattern);
        fs::create_directories(base / "root" / "sub");
        write("root/a.txt", "hello");
        write("root/app.css", "body{}");
        write("root/app.css.gz", "GZIPPED");
        write("root/sub/index.html", "<p>index</p>");
        write("root/locked.txt", "no");
        write("secret.txt", "secret");
        chmod((base / "root" / "locked.txt").c_str(), 0);
        route.root = (base / "root").string();
        route.cache_control = "max-age=60";
    }
    ~Tree() { fs::remove_all(base); }
    void write(const std::string& name, const std::string& text) const { std::ofstream(base / name) << text; }

    StaticVerdict run(const std::string& request, StaticResult& out, uint64_t now = 1) {
        MessageHead head = test::parse_head(HTTP_REQUEST, request);
        std::vector<cache::HeaderField> fields;
        collect_fields(head, fields);
        std::string_view path = head.target();
        path = path.substr(0, path.find('?'));
        return static_stage(files, route, "/static/*", head, path, fields, "BOUNDARY", now, out);
    }
    StaticResult get(const std::string& target, const std::string& extra = "", uint64_t now = 1) {
        StaticResult out;
        run("GET " + target + " HTTP/1.1\r\nHost: x\r\n" + extra + "\r\n", out, now);
        return out;
    }
};

bool has(const StaticResult& r, const std::string& line) { return r.answer.fields.find(line + "\r\n") != std::string::npos; }

}  // namespace

BOOST_AUTO_TEST_CASE(a_file_is_answered_with_its_type_and_size) {
    Tree t;
    StaticResult r = t.get("/static/a.txt");
    BOOST_TEST(r.answer.status == 200);
    BOOST_TEST_REQUIRE(r.file);
    BOOST_TEST(r.file->file.size() == 5u);
    BOOST_TEST(has(r, "Content-Type: text/plain"));
    BOOST_TEST(has(r, "Cache-Control: max-age=60"));
    BOOST_TEST(r.cache_misses == 1u);
    BOOST_TEST(t.get("/static/a.txt?v=2").cache_hits == 1u);  // the query names the same file
}

BOOST_AUTO_TEST_CASE(other_methods_are_405_with_allow) {
    Tree t;
    for (std::string method : {"POST", "PUT", "DELETE", "OPTIONS"}) {
        BOOST_TEST_CONTEXT(method) {
            StaticResult r;
            BOOST_TEST((t.run(method + " /static/a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", r) ==
                        StaticVerdict::answer));
            BOOST_TEST(r.answer.status == 405);
            BOOST_TEST(has(r, "Allow: GET, HEAD"));
            BOOST_TEST(!r.file);
        }
    }
    t.route.fallback_upstream = true;  // a method static routes do not serve is no miss
    StaticResult r;
    BOOST_TEST((t.run("POST /static/missing HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", r) ==
                StaticVerdict::answer));
    BOOST_TEST(r.answer.status == 405);
}

BOOST_AUTO_TEST_CASE(missing_files_and_traversals_are_404_or_fall_back) {
    Tree t;
    for (std::string target : {"/static/missing.txt", "/static/../secret.txt", "/static/%2e%2e/secret.txt",
                               "/static/sub%2f..%2f..%2fsecret.txt", "/static/a.txt%00.png", "/static/a.txt/",
                               "/static/%zz"}) {
        BOOST_TEST_CONTEXT(target) {
            StaticResult r = t.get(target);
            BOOST_TEST(r.answer.status == 404);
            BOOST_TEST(!r.file);
        }
    }
    t.route.fallback_upstream = true;
    StaticResult r;
    BOOST_TEST((t.run("GET /static/missing.txt HTTP/1.1\r\nHost: x\r\n\r\n", r) == StaticVerdict::fallback));
    BOOST_TEST((t.run("GET /static/%2e%2e/secret.txt HTTP/1.1\r\nHost: x\r\n\r\n", r) == StaticVerdict::fallback));
}

BOOST_AUTO_TEST_CASE(unreadable_is_403_even_with_fallback) {
    if (geteuid() == 0) return;  // root reads mode 000 files (CAP_DAC_OVERRIDE); the integration test covers it
    Tree t;
    t.route.fallback_upstream = true;
    StaticResult r;
    BOOST_TEST((t.run("GET /static/locked.txt HTTP/1.1\r\nHost: x\r\n\r\n", r) == StaticVerdict::answer));
    BOOST_TEST(r.answer.status == 403);
}

BOOST_AUTO_TEST_CASE(directories_serve_their_index) {
    Tree t;
    for (std::string target : {"/static/sub/", "/static/sub/.", "/static/x/../sub/"}) {
        BOOST_TEST_CONTEXT(target) {
            StaticResult r = t.get(target);
            BOOST_TEST(r.answer.status == 200);
            BOOST_TEST(has(r, "Content-Type: text/html"));
        }
    }
    BOOST_TEST(t.get("/static/").answer.status == 404);  // the root has no index.html
    t.route.index = "";
    BOOST_TEST(t.get("/static/sub/").answer.status == 404);
}

BOOST_AUTO_TEST_CASE(a_directory_without_its_slash_is_301_to_it) {
    Tree t;
    StaticResult r = t.get("/static/sub");
    BOOST_TEST(r.answer.status == 301);
    BOOST_TEST(has(r, "Location: /static/sub/"));
    BOOST_TEST(!r.file);
    BOOST_TEST(t.get("/static/sub?a=1&b=%2F").answer.fields == "Location: /static/sub/?a=1&b=%2F\r\n");
    BOOST_TEST(has(t.get("/static//x/../sub"), "Location: /static/sub/"));  // normalised
    // HEAD alike; the open-file cache remembers the answer like any other.
    StaticResult head;
    BOOST_TEST((t.run("HEAD /static/sub HTTP/1.1\r\nHost: x\r\n\r\n", head) == StaticVerdict::answer));
    BOOST_TEST(head.answer.status == 301);
    BOOST_TEST(head.cache_hits >= 1u);
    // Found on disk, so the app never gets it, and without an index the redirect still comes first.
    t.route.fallback_upstream = true;
    t.route.index = "";
    StaticResult fb;
    BOOST_TEST((t.run("GET /static/sub HTTP/1.1\r\nHost: x\r\n\r\n", fb) == StaticVerdict::answer));
    BOOST_TEST(fb.answer.status == 301);
    // Other methods are still 405.
    StaticResult post;
    t.run("POST /static/sub HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", post);
    BOOST_TEST(post.answer.status == 405);
}

BOOST_AUTO_TEST_CASE(gzip_sibling_only_when_accepted) {
    Tree t;
    t.route.precompressed = true;
    StaticResult gz = t.get("/static/app.css", "Accept-Encoding: br, gzip\r\n");
    BOOST_TEST(gz.precompressed);
    BOOST_TEST(gz.file->file.size() == 7u);
    BOOST_TEST(has(gz, "Content-Encoding: gzip"));
    BOOST_TEST(has(gz, "Content-Type: text/css"));
    BOOST_TEST(has(gz, "Vary: Accept-Encoding"));
    for (std::string ae : {"", "Accept-Encoding: gzip;q=0\r\n", "Accept-Encoding: identity\r\n", "Accept-Encoding: br\r\n"}) {
        BOOST_TEST_CONTEXT(ae) {
            StaticResult plain = t.get("/static/app.css", ae);
            BOOST_TEST(!plain.precompressed);
            BOOST_TEST(plain.file->file.size() == 6u);
            BOOST_TEST(!has(plain, "Content-Encoding: gzip"));
            BOOST_TEST(has(plain, "Vary: Accept-Encoding"));
        }
    }
    BOOST_TEST(t.get("/static/app.css", "Accept-Encoding: *\r\n").precompressed);
    // The .gz asked for by name is a file of its own, typed by its own name.
    StaticResult direct = t.get("/static/app.css.gz", "Accept-Encoding: gzip\r\n");
    BOOST_TEST(!direct.precompressed);
    BOOST_TEST(!has(direct, "Content-Type: text/css"));
    // No sibling: the plain file, even for gzip clients.
    BOOST_TEST(!t.get("/static/a.txt", "Accept-Encoding: gzip\r\n").precompressed);
    t.route.precompressed = false;
    BOOST_TEST(!t.get("/static/app.css", "Accept-Encoding: gzip\r\n").precompressed);
}

BOOST_AUTO_TEST_CASE(a_replaced_file_is_seen_after_the_validity_period) {
    Tree t;
    StaticResult first = t.get("/static/a.txt", "", 10);
    BOOST_TEST(first.file->file.size() == 5u);
    t.write("root/a.txt.new", "a longer body");
    fs::rename(t.base / "root" / "a.txt.new", t.base / "root" / "a.txt");
    StaticResult cached = t.get("/static/a.txt", "", 10 + kValid - 1);
    BOOST_TEST(cached.cache_hits == 1u);
    BOOST_TEST(cached.file->file.size() == 5u);  // the old opening, within the period
    StaticResult fresh = t.get("/static/a.txt", "", 10 + kValid);
    BOOST_TEST(fresh.cache_expired == 1u);
    BOOST_TEST(fresh.file->file.size() == 13u);
    BOOST_TEST(first.file->file.size() == 5u);  // the first response's opening is untouched
    // A file that appears is found once the "missing" answer expires.
    BOOST_TEST(t.get("/static/new.txt", "", 20).answer.status == 404);
    t.write("root/new.txt", "new");
    BOOST_TEST(t.get("/static/new.txt", "", 21).answer.status == 404);
    BOOST_TEST(t.get("/static/new.txt", "", 20 + kValid).answer.status == 200);
}

BOOST_AUTO_TEST_CASE(ranges_and_conditionals_reach_the_plan) {
    Tree t;
    StaticResult first = t.get("/static/a.txt");
    StaticResult r = t.get("/static/a.txt", "If-None-Match: " + first.file->etag + "\r\n");
    BOOST_TEST(r.answer.status == 304);
    r = t.get("/static/a.txt", "Range: bytes=1-2\r\n");
    BOOST_TEST(r.answer.status == 206);
    BOOST_TEST(has(r, "Content-Range: bytes 1-2/5"));
    r = t.get("/static/a.txt", "Range: bytes=0-0,2-2\r\n");
    BOOST_TEST(has(r, "Content-Type: multipart/byteranges; boundary=BOUNDARY"));
    r = t.get("/static/a.txt", "Range: bytes=9-\r\n");
    BOOST_TEST(r.answer.status == 416);
}
