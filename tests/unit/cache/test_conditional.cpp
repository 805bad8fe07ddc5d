// Conditional requests around a stored response: client 304s (RFC 9111 §4.3.2, RFC 9110 §13),
// revalidation requests (§4.3.1) and merging an upstream 304 into the stored head (§3.2, §4.3.4).
#define BOOST_TEST_MODULE cache_conditional
#include <boost/test/unit_test.hpp>

#include <string>

#include "cache/conditional.hpp"
#include "headers_fixture.hpp"

using namespace portico::cache;
using portico::cache::test::at;
using portico::cache::test::date_at;
using portico::cache::test::fields;
using portico::cache::test::Fields;

namespace {
std::string dump(const std::vector<HeaderField>& h) {
    std::string out;
    for (const auto& f : h) out += std::string(f.name) + ": " + std::string(f.value) + "\n";
    return out;
}
}  // namespace

BOOST_AUTO_TEST_CASE(entity_tags) {
    struct Case { std::string_view text; bool valid; bool weak; std::string_view opaque; } cases[] = {
        {"\"xyzzy\"", true, false, "\"xyzzy\""},
        {"W/\"xyzzy\"", true, true, "\"xyzzy\""},
        {"\"\"", true, false, "\"\""},
        {" \"a\" ", true, false, "\"a\""},
        {"xyzzy", false, false, ""},
        {"w/\"x\"", false, false, ""},  // W is case-sensitive
        {"\"a\"b\"", false, false, ""},
        {"\"a b\"", false, false, ""},
        {"\"", false, false, ""},
    };
    for (const auto& c : cases) {
        BOOST_TEST_CONTEXT(c.text) {
            auto tag = parse_entity_tag(c.text);
            BOOST_TEST(tag.has_value() == c.valid);
            if (tag) {
                BOOST_TEST(tag->weak == c.weak);
                BOOST_TEST(tag->opaque == c.opaque);
            }
        }
    }
    // RFC 9110 §8.8.3.2's table for weak comparison.
    BOOST_TEST(weak_match(*parse_entity_tag("W/\"1\""), *parse_entity_tag("W/\"1\"")));
    BOOST_TEST(!weak_match(*parse_entity_tag("W/\"1\""), *parse_entity_tag("W/\"2\"")));
    BOOST_TEST(weak_match(*parse_entity_tag("W/\"1\""), *parse_entity_tag("\"1\"")));
    BOOST_TEST(weak_match(*parse_entity_tag("\"1\""), *parse_entity_tag("\"1\"")));
}

BOOST_AUTO_TEST_CASE(client_conditionals_answered_from_the_cache) {
    const std::string_view date = date_at(0);
    const std::string_view lm = date_at(-3600);
    Fields with_etag = fields({{"ETag", "W/\"v2\""}, {"Last-Modified", lm}, {"Date", date}});
    Fields lm_only = fields({{"Last-Modified", lm}, {"Date", date}});
    Fields date_only = fields({{"Date", date}});
    Fields bare = fields({{"Content-Type", "text/plain"}});
    struct Case { const char* name; Fields request; const Fields* stored; bool want; } cases[] = {
        {"matching tag", fields({{"If-None-Match", "W/\"v2\""}}), &with_etag, true},
        {"weak comparison: strong request tag matches weak stored one", fields({{"If-None-Match", "\"v2\""}}), &with_etag,
         true},
        {"one of a list", fields({{"If-None-Match", "\"v1\", W/\"v2\", \"v3\""}}), &with_etag, true},
        {"list over two lines", fields({{"If-None-Match", "\"v1\""}, {"If-None-Match", "\"v2\""}}), &with_etag, true},
        {"no match", fields({{"If-None-Match", "\"v1\", \"v3\""}}), &with_etag, false},
        {"star", fields({{"If-None-Match", "*"}}), &with_etag, true},
        {"star without a stored ETag", fields({{"If-None-Match", "*"}}), &bare, true},
        {"tag against no stored ETag", fields({{"If-None-Match", "\"v2\""}}), &lm_only, false},
        {"If-None-Match wins over a satisfied If-Modified-Since",
         fields({{"If-None-Match", "\"v1\""}, {"If-Modified-Since", date}}), &with_etag, false},
        {"If-Modified-Since equal to Last-Modified", fields({{"If-Modified-Since", lm}}), &lm_only, true},
        {"If-Modified-Since later", fields({{"If-Modified-Since", date}}), &lm_only, true},
        {"If-Modified-Since earlier", fields({{"If-Modified-Since", date_at(-7200)}}), &lm_only, false},
        {"If-Modified-Since invalid is ignored", fields({{"If-Modified-Since", "yesterday"}}), &lm_only, false},
        {"If-Modified-Since in the obsolete asctime form", fields({{"If-Modified-Since", "Sun Nov  6 08:49:37 1994"}}),
         &lm_only, true},
        {"If-Modified-Since against Date when no Last-Modified", fields({{"If-Modified-Since", date}}), &date_only, true},
        {"If-Modified-Since against an earlier Date", fields({{"If-Modified-Since", date_at(-1)}}), &date_only, false},
        {"no conditionals", fields({}), &with_etag, false},
    };
    for (const auto& c : cases)
        BOOST_TEST_CONTEXT(c.name) { BOOST_TEST(client_conditional_matches(c.request, *c.stored) == c.want); }
    // Neither Last-Modified nor Date: the time the response was received.
    BOOST_TEST(client_conditional_matches(fields({{"If-Modified-Since", date}}), bare, at(0)));
    BOOST_TEST(!client_conditional_matches(fields({{"If-Modified-Since", date}}), bare, at(1)));
    BOOST_TEST(!client_conditional_matches(fields({{"If-Modified-Since", date}}), bare));
}

BOOST_AUTO_TEST_CASE(revalidation_request_headers) {
    const std::string_view lm = date_at(-3600);
    RevalidationHeaders both = build_revalidation_headers(fields({{"ETag", "\"abc\""}, {"Last-Modified", lm}}));
    BOOST_TEST(both.if_none_match == "\"abc\"");
    BOOST_TEST(both.if_modified_since == lm);
    RevalidationHeaders etag = build_revalidation_headers(fields({{"etag", "W/\"abc\""}}));
    BOOST_TEST(etag.if_none_match == "W/\"abc\"");
    BOOST_TEST(etag.if_modified_since.empty());
    RevalidationHeaders none = build_revalidation_headers(fields({{"ETag", "abc"}, {"Last-Modified", "never"}}));
    BOOST_TEST(!none.any());
}

BOOST_AUTO_TEST_CASE(which_stored_response_a_304_selects) {
    Fields stored = fields({{"ETag", "\"v1\""}, {"Last-Modified", date_at(-10)}});
    BOOST_TEST(revalidation_selects(stored, fields({{"ETag", "\"v1\""}})));
    BOOST_TEST(revalidation_selects(stored, fields({{"ETag", "W/\"v1\""}})));
    BOOST_TEST(!revalidation_selects(stored, fields({{"ETag", "\"v2\""}})));
    BOOST_TEST(revalidation_selects(stored, fields({{"Last-Modified", date_at(-10)}})));
    BOOST_TEST(!revalidation_selects(stored, fields({{"Last-Modified", date_at(-5)}})));
    BOOST_TEST(revalidation_selects(stored, fields({{"Date", date_at(0)}})));
    BOOST_TEST(!revalidation_selects(fields({{"Last-Modified", date_at(-10)}}), fields({{"ETag", "\"v1\""}})));
}

BOOST_AUTO_TEST_CASE(merging_a_304_into_the_stored_head) {
    Fields stored = fields({
        {"Date", "old-date"},
        {"Cache-Control", "max-age=60"},
        {"Content-Type", "application/json"},
        {"Content-Length", "1234"},
        {"Content-Encoding", "gzip"},
        {"Vary", "Accept-Encoding"},
        {"ETag", "\"v1\""},
        {"Age", "30"},
        {"X-Old", "a"},
        {"X-Multi", "1"},
        {"X-Multi", "2"},
    });
    Fields not_modified = fields({
        {"Date", "new-date"},
        {"Cache-Control", "max-age=120"},
        {"Content-Length", "0"},        // never: describes the 304, not the stored body
        {"Content-Encoding", "br"},     // never: the stored body is gzip
        {"Vary", "Cookie"},             // never: the entry is keyed by the old Vary
        {"Set-Cookie", "s=1"},          // never into a shared entry
        {"Connection", "close, X-Hop"},
        {"X-Hop", "1"},                 // named by Connection: hop-by-hop
        {"Keep-Alive", "timeout=5"},
        {"X-Multi", "3"},
        {"X-New", "b"},
    });
    std::vector<HeaderField> merged = merge_304(stored, not_modified);
    BOOST_TEST(dump(merged) ==
               "Content-Type: application/json\n"
               "Content-Length: 1234\n"
               "Content-Encoding: gzip\n"
               "Vary: Accept-Encoding\n"
               "ETag: \"v1\"\n"
               "X-Old: a\n"
               "Date: new-date\n"
               "Cache-Control: max-age=120\n"
               "X-Multi: 3\n"
               "X-New: b\n");
    // Age comes from the 304 when it has one.
    std::vector<HeaderField> aged = merge_304(stored, fields({{"Age", "4"}}));
    BOOST_TEST(dump(aged).find("Age: 4\n") != std::string::npos);
    BOOST_TEST(dump(aged).find("Age: 30") == std::string::npos);
    // A qualified private keeps a field out of the entry.
    std::vector<HeaderField> priv =
        merge_304(fields({{"Cache-Control", "max-age=5"}}),
                  fields({{"Cache-Control", "private=\"X-User\", max-age=9"}, {"X-User", "ann"}}));
    BOOST_TEST(dump(priv) == "Cache-Control: private=\"X-User\", max-age=9\n");
    // A body Portico compressed keeps its weak ETag when the origin's 304 names the strong tag.
    Fields compressed = fields({{"Content-Encoding", "gzip"}, {"ETag", "W/\"v1\""}});
    BOOST_TEST(dump(merge_304(compressed, fields({{"ETag", "\"v1\""}, {"X-N", "1"}}))) ==
               "Content-Encoding: gzip\nETag: W/\"v1\"\nX-N: 1\n");
    // Another tag, or a weak one, replaces it as usual.
    BOOST_TEST(dump(merge_304(compressed, fields({{"ETag", "\"v2\""}}))) == "Content-Encoding: gzip\nETag: \"v2\"\n");
    BOOST_TEST(dump(merge_304(compressed, fields({{"ETag", "W/\"v1\""}}))) == "Content-Encoding: gzip\nETag: W/\"v1\"\n");
}

BOOST_AUTO_TEST_CASE(fields_of_a_304_from_the_cache) {
    Fields stored = fields({{"Date", "d"}, {"Content-Type", "text/html"}, {"ETag", "\"1\""}, {"Last-Modified", "lm"},
                            {"Cache-Control", "max-age=5"}, {"Vary", "Accept-Encoding"}, {"Expires", "e"},
                            {"Content-Location", "/x"}, {"Content-Length", "10"}});
    BOOST_TEST(dump(fields_for_304(stored)) ==
               "Date: d\nETag: \"1\"\nCache-Control: max-age=5\nVary: Accept-Encoding\nExpires: e\nContent-Location: /x\n");
    // Without an ETag, Last-Modified helps the client update its own cache.
    BOOST_TEST(dump(fields_for_304(fields({{"Last-Modified", "lm"}, {"Content-Type", "x"}}))) == "Last-Modified: lm\n");
}
