// Primary cache key normalisation (INTERFACE.md cache.key): host case, default ports, query order,
// ignored tracking parameters; the path is kept byte for byte.
#define BOOST_TEST_MODULE cache_key
#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

#include "cache/key.hpp"

using namespace portico::cache;

namespace {
const std::vector<std::string> kDefaultIgnore{"utm_*", "fbclid", "gclid"};
KeyOptions defaults() { return KeyOptions{/*sort_query=*/true, kDefaultIgnore}; }
}  // namespace

BOOST_AUTO_TEST_CASE(key_normalisation_table) {
    struct Case {
        const char* name;
        std::string_view method, scheme, host, target;
        std::string_view want;
    } cases[] = {
        {"plain", "GET", "http", "example.com", "/a", "http://example.com/a"},
        {"HEAD shares GET's key", "HEAD", "http", "example.com", "/a", "http://example.com/a"},
        {"other methods never collide", "POST", "http", "example.com", "/a", "POST http://example.com/a"},
        {"host lower-cased", "GET", "http", "Example.COM", "/a", "http://example.com/a"},
        {"scheme lower-cased", "GET", "HTTP", "example.com", "/a", "http://example.com/a"},
        {"default http port dropped", "GET", "http", "example.com:80", "/a", "http://example.com/a"},
        {"default https port dropped", "GET", "https", "example.com:443", "/a", "https://example.com/a"},
        {"other port kept", "GET", "http", "example.com:8080", "/a", "http://example.com:8080/a"},
        {"443 kept for http", "GET", "http", "example.com:443", "/a", "http://example.com:443/a"},
        {"empty port dropped", "GET", "http", "example.com:", "/a", "http://example.com/a"},
        {"IPv6 literal", "GET", "http", "[::1]:80", "/a", "http://[::1]/a"},
        {"IPv6 literal with port", "GET", "http", "[::1]:8080", "/a", "http://[::1]:8080/a"},
        {"IPv6 literal without port", "GET", "http", "[::1]", "/a", "http://[::1]/a"},
        {"path kept exactly", "GET", "http", "h", "/A/%7Euser/./x%2Fy", "http://h/A/%7Euser/./x%2Fy"},
        {"query sorted by name", "GET", "http", "h", "/p?b=2&a=1&c=3", "http://h/p?a=1&b=2&c=3"},
        {"sort is stable for repeated names", "GET", "http", "h", "/p?b=1&a=2&a=1&b=0", "http://h/p?a=2&a=1&b=1&b=0"},
        {"tracking parameters removed", "GET", "http", "h", "/p?utm_source=x&id=5&fbclid=abc&utm_medium=y&gclid=z",
         "http://h/p?id=5"},
        {"only tracking parameters: no '?'", "GET", "http", "h", "/p?utm_source=x&fbclid=1", "http://h/p"},
        {"empty query: no '?'", "GET", "http", "h", "/p?", "http://h/p"},
        {"empty parameters dropped", "GET", "http", "h", "/p?a=1&&b=2&", "http://h/p?a=1&b=2"},
        {"parameter without value", "GET", "http", "h", "/p?flag&a=1", "http://h/p?a=1&flag"},
        {"glob matches the name, not the value", "GET", "http", "h", "/p?q=utm_x", "http://h/p?q=utm_x"},
        {"globs are case-sensitive", "GET", "http", "h", "/p?UTM_source=x", "http://h/p?UTM_source=x"},
        {"names are not decoded", "GET", "http", "h", "/p?utm%5Fsource=x", "http://h/p?utm%5Fsource=x"},
        {"fragment dropped", "GET", "http", "h", "/p?a=1#frag", "http://h/p?a=1"},
        {"absolute-form target overrides Host", "GET", "http", "ignored", "http://Other.EXAMPLE:80/x?b&a",
         "http://other.example/x?a&b"},
        {"absolute-form without path", "GET", "http", "ignored", "https://h.example", "https://h.example/"},
        {"absolute-form userinfo dropped", "GET", "http", "ignored", "http://user:pw@h/x", "http://h/x"},
    };
    std::string key;
    for (const auto& c : cases) {
        BOOST_TEST_CONTEXT(c.name) {
            build_primary_key(key, c.method, c.scheme, c.host, c.target, defaults());
            BOOST_TEST(key == c.want);
        }
    }
    BOOST_TEST(primary_key("GET", "http", "h", "/x?b=1&a=2", defaults()) == "http://h/x?a=2&b=1");
}

BOOST_AUTO_TEST_CASE(options_change_the_key) {
    std::vector<std::string> none;
    KeyOptions keep_order{/*sort_query=*/false, kDefaultIgnore};
    BOOST_TEST(primary_key("GET", "http", "h", "/p?b=2&utm_x=1&a=1", keep_order) == "http://h/p?b=2&a=1");
    KeyOptions no_ignore{/*sort_query=*/true, none};
    BOOST_TEST(primary_key("GET", "http", "h", "/p?utm_x=1&a=1", no_ignore) == "http://h/p?a=1&utm_x=1");
    std::vector<std::string> globs{"session*", "[xy]"};
    KeyOptions custom{/*sort_query=*/true, globs};
    BOOST_TEST(primary_key("GET", "http", "h", "/p?x=1&sessionid=2&z=3&y=4", custom) == "http://h/p?z=3");
}

BOOST_AUTO_TEST_CASE(many_parameters_and_long_names) {
    std::string target = "/p?";
    for (int i = 49; i >= 0; --i) target += "k" + std::to_string(100 + i) + "=" + std::to_string(i) + "&";
    target += "utm_" + std::string(300, 'x') + "=1";  // a name longer than the stack buffer
    std::string key = primary_key("GET", "http", "h", target, defaults());
    BOOST_TEST(key.substr(0, 20) == "http://h/p?k100=0&k1");
    BOOST_TEST(key.find("utm_") == std::string::npos);
    BOOST_TEST(key.substr(key.size() - 7) == "k149=49");
}

BOOST_AUTO_TEST_CASE(repeated_names_keep_their_order_in_long_queries) {
    // Long enough that an unstable sort would reorder equal names.
    std::string target = "/p?", want = "http://h/p?";
    for (int i = 0; i < 40; ++i) target += "z=" + std::to_string(i) + "&a=" + std::to_string(i) + "&";
    for (int i = 0; i < 40; ++i) want += "a=" + std::to_string(i) + "&";
    for (int i = 0; i < 40; ++i) want += "z=" + std::to_string(i) + (i < 39 ? "&" : "");
    BOOST_TEST(primary_key("GET", "http", "h", target, defaults()) == want);
}

BOOST_AUTO_TEST_CASE(target_parts) {
    TargetParts p = split_target("/a/b?x=1");
    BOOST_TEST(p.path == "/a/b");
    BOOST_TEST(p.query == "x=1");
    BOOST_TEST(p.authority.empty());
    TargetParts abs = split_target("http://h:81/a?q");
    BOOST_TEST(abs.scheme == "http");
    BOOST_TEST(abs.authority == "h:81");
    BOOST_TEST(abs.path == "/a");
    BOOST_TEST(abs.query == "q");
    TargetParts odd = split_target("/redirect?to=http://x/y");  // "://" in the query is not a scheme
    BOOST_TEST(odd.path == "/redirect");
    BOOST_TEST(odd.query == "to=http://x/y");
}

BOOST_AUTO_TEST_CASE(key_paths_for_purge_by_prefix) {
    BOOST_TEST(key_path("https://h/a/b?x=1") == "/a/b");
    BOOST_TEST(key_path("http://h:8080/") == "/");
    BOOST_TEST(key_path("POST http://h/a") == "/a");
    BOOST_TEST(key_path("garbage") == "");
    BOOST_TEST(key_has_path_prefix("http://h/api/users/1", "/api/users/"));
    BOOST_TEST(key_has_path_prefix("http://h/api/users/1?x", "/api"));
    BOOST_TEST(!key_has_path_prefix("http://h/apiary", "/api/"));
    BOOST_TEST(!key_has_path_prefix("http://h/x?/api/", "/api"));  // the query is not the path
}
