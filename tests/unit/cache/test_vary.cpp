// Vary secondary keys (RFC 9111 §4.1) and Accept-Encoding normalisation (RFC 9110 §12.5.3).
#define BOOST_TEST_MODULE cache_vary
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <string>

#include "cache/vary.hpp"
#include "headers_fixture.hpp"

using namespace portico::cache;
using portico::cache::test::fields;
using portico::cache::test::Fields;

BOOST_AUTO_TEST_CASE(accept_encoding_normalisation) {
    // The weights and choices are test_accept_encoding's; here only what the key sees.
    BOOST_TEST(normalise_accept_encoding("gzip, deflate") == "gzip");
    BOOST_TEST(normalise_accept_encoding("gzip, deflate, br") == "br+gzip");
    BOOST_TEST(normalise_accept_encoding("br") == "br");
    // Over header lists: absent means identity; several lines combine.
    BOOST_TEST(normalise_accept_encoding(Fields{}) == "identity");
    BOOST_TEST(normalise_accept_encoding(fields({{"Accept-Encoding", "gzip;q=0.5"}, {"accept-encoding", "br"}})) == "br+gzip");
    BOOST_TEST(normalise_accept_encoding(fields({{"Accept-Encoding", "gzip;q=0"}, {"accept-encoding", "br"}})) == "br");
}

BOOST_AUTO_TEST_CASE(vary_star) {
    BOOST_TEST(vary_has_star(fields({{"Vary", "*"}})));
    BOOST_TEST(vary_has_star(fields({{"Vary", "Accept"}, {"Vary", "Cookie, *"}})));
    BOOST_TEST(!vary_has_star(fields({{"Vary", "Accept-Encoding"}})));
    BOOST_TEST(!vary_has_star(fields({})));
    std::string key = "junk";
    BOOST_TEST((vary_key(fields({{"Vary", "Accept, *"}}), fields({}), key) == VaryResult::uncacheable));
}

BOOST_AUTO_TEST_CASE(vary_keys) {
    struct Case { const char* name; Fields response; Fields request; std::string_view want; } cases[] = {
        {"no Vary", fields({}), fields({{"Accept", "text/html"}}), ""},
        {"one field", fields({{"Vary", "Accept"}}), fields({{"accept", "text/html"}}), "accept=text/html\n"},
        {"absent field differs from empty", fields({{"Vary", "Accept"}}), fields({}), "accept\n"},
        {"empty field", fields({{"Vary", "Accept"}}), fields({{"Accept", ""}}), "accept=\n"},
        {"names sorted, lower-cased, de-duplicated",
         fields({{"Vary", "X-B, accept-language"}, {"vary", "X-A, x-b"}}),
         fields({{"X-A", "1"}, {"X-B", "2"}, {"Accept-Language", "en"}}), "accept-language=en\nx-a=1\nx-b=2\n"},
        {"whitespace and line splits normalised", fields({{"Vary", "Accept"}}),
         fields({{"Accept", "text/html ,  application/json"}, {"Accept", "*/*"}}),
         "accept=text/html, application/json, */*\n"},
        {"accept-encoding normalised", fields({{"Vary", "Accept-Encoding"}}),
         fields({{"Accept-Encoding", "gzip, deflate, br, zstd"}}), "accept-encoding=br+gzip\n"},
        {"absent accept-encoding is identity", fields({{"Vary", "accept-encoding"}}), fields({}),
         "accept-encoding=identity\n"},
    };
    std::string key;
    for (const auto& c : cases) {
        BOOST_TEST_CONTEXT(c.name) {
            BOOST_TEST((vary_key(c.response, c.request, key) == VaryResult::ok));
            BOOST_TEST(key == c.want);
        }
    }
    // Different spellings of one preference share a variant; a different preference does not.
    Fields vary = fields({{"Vary", "Accept-Encoding"}});
    std::string chrome, firefox, curl, old;
    vary_key(vary, fields({{"Accept-Encoding", "gzip, deflate, br, zstd"}}), chrome);
    vary_key(vary, fields({{"Accept-Encoding", "gzip, deflate, br"}}), firefox);
    vary_key(vary, fields({}), curl);
    vary_key(vary, fields({{"Accept-Encoding", "gzip"}}), old);
    BOOST_TEST(chrome == firefox);
    BOOST_TEST(chrome != curl);
    BOOST_TEST(old != chrome);
    BOOST_TEST(old != curl);
}

BOOST_AUTO_TEST_CASE(many_vary_names_spill_to_the_heap_correctly) {
    Fields response;
    std::vector<std::string> names;
    for (int i = 0; i < 40; ++i) names.push_back("X-H" + std::to_string(100 + 39 - i));  // reverse order
    for (const auto& n : names) response.push_back({"Vary", n});
    std::string key;
    BOOST_TEST((vary_key(response, fields({{"X-H100", "v"}}), key) == VaryResult::ok));
    BOOST_TEST(key.substr(0, 9) == "x-h100=v\n");
    BOOST_TEST(std::count(key.begin(), key.end(), '\n') == 40);
    BOOST_TEST(key.substr(key.size() - 7) == "x-h139\n");
}
