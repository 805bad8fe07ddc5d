// Invalidation after unsafe methods (RFC 9111 §4.4): the target, Location and Content-Location
// on the same origin; reference resolution per RFC 3986 §5.2.
#define BOOST_TEST_MODULE cache_invalidate
#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

#include "cache/invalidate.hpp"
#include "headers_fixture.hpp"

using namespace portico::cache;
using portico::cache::test::fields;
using portico::cache::test::Fields;

namespace {
const std::vector<std::string> kIgnore{"utm_*"};
KeyOptions options() { return KeyOptions{/*sort_query=*/true, kIgnore}; }
std::string joined(const std::vector<std::string>& keys) {
    std::string out;
    for (const auto& k : keys) out += k + "\n";
    return out;
}
}  // namespace

BOOST_AUTO_TEST_CASE(safe_methods) {
    for (std::string_view m : {"GET", "HEAD", "OPTIONS", "TRACE"}) BOOST_TEST_CONTEXT(m) { BOOST_TEST(is_safe_method(m)); }
    for (std::string_view m : {"POST", "PUT", "PATCH", "DELETE", "PURGE", "get"})
        BOOST_TEST_CONTEXT(m) { BOOST_TEST(!is_safe_method(m)); }
}

BOOST_AUTO_TEST_CASE(dot_segments_rfc3986_5_2_4) {
    struct Case { std::string_view in, out; } cases[] = {
        {"/a/b/c/./../../g", "/a/g"}, {"mid/content=5/../6", "mid/6"}, {"/a/b/../../../x", "/x"},
        {"/a/./b/", "/a/b/"},         {"/a/..", "/"},                  {"/a/.", "/a/"},
        {"/", "/"},                   {"/a//b", "/a//b"},
    };
    for (const auto& c : cases) BOOST_TEST_CONTEXT(c.in) { BOOST_TEST(remove_dot_segments(c.in) == c.out); }
}

BOOST_AUTO_TEST_CASE(invalidation_targets) {
    struct Case {
        const char* name;
        std::string_view method;
        int status;
        std::string_view target;
        Fields response;
        std::string_view want;
    } cases[] = {
        {"GET invalidates nothing", "GET", 200, "/a", fields({}), ""},
        {"POST: the target", "POST", 201, "/items?utm_x=1&b=2&a=1", fields({}), "http://h.example/items?a=1&b=2\n"},
        {"error statuses invalidate nothing", "POST", 500, "/items", fields({}), ""},
        {"4xx neither", "DELETE", 404, "/items/1", fields({}), ""},
        {"3xx does", "PUT", 303, "/items/1", fields({}), "http://h.example/items/1\n"},
        {"unknown method is unsafe", "PURGE", 200, "/x", fields({}), "http://h.example/x\n"},
        {"absolute-path Location", "POST", 201, "/items", fields({{"Location", "/items/7"}}),
         "http://h.example/items\nhttp://h.example/items/7\n"},
        {"relative Location", "POST", 201, "/items/new", fields({{"Location", "7"}}),
         "http://h.example/items/new\nhttp://h.example/items/7\n"},
        {"dot segments resolved", "POST", 201, "/a/b/c", fields({{"Location", "../d/./e"}}),
         "http://h.example/a/b/c\nhttp://h.example/a/d/e\n"},
        {"query-only reference", "POST", 200, "/list?page=2", fields({{"Content-Location", "?page=1"}}),
         "http://h.example/list?page=2\nhttp://h.example/list?page=1\n"},
        {"same origin absolute, host case and default port", "PUT", 200, "/x",
         fields({{"Content-Location", "HTTP://H.Example:80/y"}}), "http://h.example/x\nhttp://h.example/y\n"},
        {"other host refused", "POST", 201, "/x", fields({{"Location", "http://evil.example/y"}}), "http://h.example/x\n"},
        {"other port refused", "POST", 201, "/x", fields({{"Location", "http://h.example:8080/y"}}), "http://h.example/x\n"},
        {"other scheme refused", "POST", 201, "/x", fields({{"Location", "https://h.example/y"}}), "http://h.example/x\n"},
        {"network-path reference", "POST", 201, "/x", fields({{"Location", "//h.example/z"}}),
         "http://h.example/x\nhttp://h.example/z\n"},
        {"network-path to another host", "POST", 201, "/x", fields({{"Location", "//other/z"}}), "http://h.example/x\n"},
        {"non-http URI ignored", "POST", 201, "/x", fields({{"Location", "mailto:a@h.example"}}), "http://h.example/x\n"},
        {"duplicates once", "PUT", 200, "/x", fields({{"Location", "/x"}, {"Content-Location", "/x#frag"}}),
         "http://h.example/x\n"},
        {"both fields", "PUT", 200, "/x", fields({{"Location", "/a"}, {"Content-Location", "/b"}}),
         "http://h.example/x\nhttp://h.example/a\nhttp://h.example/b\n"},
        {"absolute-form target", "DELETE", 204, "http://H.example/x", fields({{"Location", "/y"}}),
         "http://h.example/x\nhttp://h.example/y\n"},
    };
    for (const auto& c : cases) {
        BOOST_TEST_CONTEXT(c.name) {
            auto keys = invalidation_keys(c.method, c.status, "http", "h.example", c.target, c.response, options());
            BOOST_TEST(joined(keys) == c.want);
        }
    }
}
