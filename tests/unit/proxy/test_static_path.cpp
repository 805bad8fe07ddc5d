// Request paths under a static route: the prefix removed, percent-decoding, dot segments, and
// every traversal vector — `..`, encoded `..` (%2e%2e, mixed case, half-encoded), encoded '/'
// (%2f), backslashes, NUL bytes, broken escapes — named nothing above the root; and the Location of
// a directory's 301, which keeps the query and can never name another host.
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

namespace {
// The Location of a directory's 301, as static_stage makes it: from the normalised path.
std::string location(std::string_view path, std::string_view query = "", std::string_view pattern = "/static/*") {
    auto p = static_path(path, pattern);
    if (!p) return "<none>";
    return directory_location(pattern, p->relative, query);
}
}  // namespace

BOOST_AUTO_TEST_CASE(directory_redirects_add_the_slash_and_keep_the_query) {
    BOOST_TEST(location("/static/docs") == "/static/docs/");
    BOOST_TEST(location("/static/a/b") == "/static/a/b/");
    BOOST_TEST(location("/static/docs", "v=1&x=%20y") == "/static/docs/?v=1&x=%20y");  // kept as sent
    // Normalised, as nginx's $uri is: dot segments resolved, repeated slashes merged.
    BOOST_TEST(location("/static/x/../docs") == "/static/docs/");
    BOOST_TEST(location("/static//docs") == "/static/docs/");
    BOOST_TEST(location("/static/./a//b") == "/static/a/b/");
    // Decoded names are encoded again for the field.
    BOOST_TEST(location("/static/my%20docs") == "/static/my%20docs/");
    BOOST_TEST(location("/static/caf%C3%A9") == "/static/caf%C3%A9/");
    BOOST_TEST(location("/static/a%3fb%23c%25d") == "/static/a%3Fb%23c%25d/");  // '?', '#', '%' stay in the name
    BOOST_TEST(location("/static/a%2fb") == "/static/a/b/");                     // an encoded '/' separates
    BOOST_TEST(location("/static/(v1);x=y:@!$&'*+,~") == "/static/(v1);x=y:@!$&'*+,~/");
    // Other patterns: "*" and "/*" strip nothing, an exact or deeper prefix is kept as written.
    BOOST_TEST(location("/docs", "", "*") == "/docs/");
    BOOST_TEST(location("/docs", "", "/*") == "/docs/");
    BOOST_TEST(location("/assets/v2/img", "", "/assets/v2/*") == "/assets/v2/img/");
    BOOST_TEST(location("/my%20files/img", "", "/my%20files/*") == "/my%20files/img/");
    BOOST_TEST(directory_location("/static/*", "docs", "a b\x01\x7f\xff") == "/static/docs/?a%20b%01%7F%FF");
}

BOOST_AUTO_TEST_CASE(directory_redirects_never_name_another_host) {
    // Browsers read "//host" and "/\host" (WHATWG URL) as a network path: another site.
    const char* paths[] = {
        "//evil.com",          "///evil.com",         "/%2fevil.com",   "/%2F%2Fevil.com", "/.//evil.com",
        "/x/..//evil.com",     "/%5cevil.com",        "/%5C%5Cevil.com", "/\\evil.com",     "/\\\\evil.com",
        "/%09/evil.com",       "/%2e%2e%2f/evil.com", "/./%2fevil.com", "/evil.com%2f%2f", "/%20//evil.com",
    };
    for (const char* pattern : {"*", "/*"}) {
        for (const char* p : paths) {
            BOOST_TEST_CONTEXT(pattern << " " << p) {
                std::string l = location(p, "next=//evil.com", pattern);
                if (l == "<none>") continue;
                BOOST_TEST(l.size() >= 2u);
                BOOST_TEST(l[0] == '/');
                BOOST_TEST(l[1] != '/');
                BOOST_TEST(l[1] != '\\');
                BOOST_TEST(l.find('\\') == std::string::npos);
                BOOST_TEST(l.find("//") == l.find("?next=//") + 6);  // only inside the query
            }
        }
    }
    BOOST_TEST(location("//evil.com", "", "*") == "/evil.com/");
    BOOST_TEST(location("/%5cevil.com", "", "*") == "/%5Cevil.com/");
    BOOST_TEST(location("/static//evil.com") == "/static/evil.com/");
    // A pattern written with doubled slashes does not produce them either.
    BOOST_TEST(directory_location("//x/*", "evil.com", "") == "/x/evil.com/");
}
