// Request checks that do not need the parser: absolute-form splitting and idempotency.
#define BOOST_TEST_MODULE proxy_request_checks
#include <boost/test/unit_test.hpp>

#include "proxy/request_checks.hpp"

using namespace portico::proxy;

BOOST_AUTO_TEST_CASE(absolute_form_splits_authority_and_path) {
    struct Case {
        const char* target;
        bool ok;
        const char* authority;
        const char* path;
    };
    const Case cases[] = {
        {"http://example.com/a?b", true, "example.com", "/a?b"},
        {"HTTPS://Example.com:8443", true, "Example.com:8443", "/"},
        {"http://example.com?q=1", true, "example.com", "?q=1"},
        {"http://user@example.com/", false, "", ""},
        {"ftp://example.com/", false, "", ""},
        {"http:///nohost", false, "", ""},
        {"example.com/x", false, "", ""},
    };
    for (const auto& c : cases) {
        std::string_view authority, path;
        BOOST_TEST_CONTEXT(c.target) {
            BOOST_TEST(split_absolute_form(c.target, authority, path) == c.ok);
            if (c.ok) {
                BOOST_TEST(authority == c.authority);
                BOOST_TEST(path == c.path);
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(idempotent_methods) {
    BOOST_TEST(is_idempotent(HTTP_GET));
    BOOST_TEST(is_idempotent(HTTP_HEAD));
    BOOST_TEST(is_idempotent(HTTP_PUT));
    BOOST_TEST(is_idempotent(HTTP_DELETE));
    BOOST_TEST(!is_idempotent(HTTP_POST));
    BOOST_TEST(!is_idempotent(HTTP_PATCH));
}

BOOST_AUTO_TEST_CASE(parse_errors_map_to_statuses) {
    BOOST_TEST(reject_parse_error(HPE_INVALID_CHUNK_SIZE, "").status == 400);
    BOOST_TEST(reject_parse_error(HPE_UNEXPECTED_CONTENT_LENGTH, "").status == 400);
    BOOST_TEST(reject_parse_error(HPE_INVALID_VERSION, "").status == 505);
    BOOST_TEST(reject_parse_error(HPE_INVALID_HEADER_TOKEN, "").status == 400);
}
