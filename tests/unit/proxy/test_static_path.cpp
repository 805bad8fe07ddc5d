// Request paths under a static route: the prefix removed, percent-decoding, dot segments, and
// every traversal vector — `..`, encoded `..` (%2e%2e, mixed case, half-encoded), encoded '/'
// (%2f), backslashes, NUL bytes, broken escapes — named nothing above the root.
#define BOOST_TEST_MODULE proxy_static_path
#include <boost/test/unit_test.hpp>

#include <string>

#include "proxy/static_path.hpp"

using namespace portico::proxy;

namespace {
// "relative" or "relative/" for a directory, "<none>" for nothing servable.
std::string resolve(std::string_view path, std::string_view pattern = "/static/*") {
    auto p = static_path(path, pattern);
    if (!p) return "<none>";
    return p->relative + (p->directory ? "/" : "");
}
}  // namespace

BOOST_AUTO_TEST_CASE(prefix_and_plain_paths) {
    BOOST_TEST(resolve("/static/app.css") == "app.css");
    BOOST_TEST(resolve("/static/css/app.css") == "css/app.css");
    BOOST_TEST(resolve("/static/") == "/");
    BOOST_TEST(resolve("/static/css/") == "css/");
    BOOST_TEST(resolve("/static//css///app.css") == "css/app.css");
    BOOST_TEST(resolve("/static/./css/./app.css") == "css/app.css");
    BOOST_TEST(resolve("/static/css/../img/logo.png") == "img/logo.png");  // inside the root: fine
    BOOST_TEST(resolve("/static/css/..") == "/");
    BOOST_TEST(resolve("/static/my%20file.txt") == "my file.txt");
    BOOST_TEST(resolve("/static/caf%C3%A9.txt") == "caf\xc3\xa9.txt");
    // Other patterns: an exact path keeps its name; "*" strips nothing; a deeper prefix.
    BOOST_TEST(resolve("/favicon.ico", "/favicon.ico") == "favicon.ico");
    BOOST_TEST(resolve("/a/b.txt", "*") == "a/b.txt");
    BOOST_TEST(resolve("/assets/v2/x.js", "/assets/v2/*") == "x.js");
    BOOST_TEST(resolve("/staticfile", "/static*") == "staticfile");
    // A path outside the prefix is not this route's.
    BOOST_TEST(resolve("/other/app.css") == "<none>");
}

BOOST_AUTO_TEST_CASE(traversal_vectors_never_leave_the_root) {
    const char* vectors[] = {
        "/static/..",
        "/static/../secret",
        "/static/../../etc/passwd",
        "/static/css/../../secret",
        "/static/%2e%2e/secret",
        "/static/%2E%2E/secret",
        "/static/%2e./secret",
        "/static/.%2e/secret",
        "/static/..%2fsecret",
        "/static/..%2Fsecret",
        "/static/%2e%2e%2fsecret",
        "/static/css/%2e%2e%2f%2e%2e%2fsecret",
        "/static/./../secret",
        "/static/a/./../../secret",
        "/static/%2f..%2f..%2fetc/passwd",
        "/static/app.css%00.png",  // NUL
        "/static/%00",
        "/static/%",               // broken escapes
        "/static/%2",
        "/static/%zz",
        "/static/%2g..",
    };
    for (const char* v : vectors) BOOST_TEST_CONTEXT(v) { BOOST_TEST(resolve(v) == "<none>"); }
    // Double encoding decodes once: "%252e%252e" is a file literally named "%2e%2e".
    BOOST_TEST(resolve("/static/%252e%252e/x") == "%2e%2e/x");
    // A backslash is an ordinary byte in a Linux file name, never a separator.
    BOOST_TEST(resolve("/static/..\\secret") == "..\\secret");
    // "..." is a name, not a dot segment.
    BOOST_TEST(resolve("/static/.../x") == ".../x");
}
