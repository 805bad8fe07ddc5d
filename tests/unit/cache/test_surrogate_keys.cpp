// Purge tags from Surrogate-Key (space separated) and Cache-Tag (comma separated): split,
// de-duplicated, validated, bounded.
#define BOOST_TEST_MODULE cache_surrogate_keys
#include <boost/test/unit_test.hpp>

#include <string>

#include "cache/surrogate_keys.hpp"
#include "headers_fixture.hpp"

using namespace portico::cache;
using portico::cache::test::fields;
using portico::cache::test::Fields;

namespace {
std::string joined(const SurrogateKeys& k) {
    std::string out;
    for (auto t : k.tags) out += std::string(t) + "|";
    return out;
}
}  // namespace

BOOST_AUTO_TEST_CASE(tag_parsing_table) {
    struct Case { const char* name; Fields response; std::string_view want; size_t dropped; } cases[] = {
        {"none", fields({}), "", 0},
        {"surrogate-key spaces", fields({{"Surrogate-Key", "a b  c"}}), "a|b|c|", 0},
        {"surrogate-key tabs and edges", fields({{"surrogate-key", "\t a\tb "}}), "a|b|", 0},
        {"cache-tag commas", fields({{"Cache-Tag", "a,b , c,,"}}), "a|b|c|", 0},
        {"both fields, de-duplicated", fields({{"Surrogate-Key", "user-1 page"}, {"Cache-Tag", "page,user-2"}}),
         "user-1|page|user-2|", 0},
        {"several lines", fields({{"Surrogate-Key", "a"}, {"Surrogate-Key", "b a"}}), "a|b|", 0},
        {"case-sensitive", fields({{"Surrogate-Key", "Tag tag"}}), "Tag|tag|", 0},
        {"a comma inside a surrogate key is invalid", fields({{"Surrogate-Key", "a,b c"}}), "c|", 1},
        {"a space inside a cache-tag is invalid", fields({{"Cache-Tag", "a b,c"}}), "c|", 1},
        {"non-ASCII dropped", fields({{"Surrogate-Key", "caf\xc3\xa9 ok"}}), "ok|", 1},
    };
    for (const auto& c : cases) {
        BOOST_TEST_CONTEXT(c.name) {
            SurrogateKeys k = surrogate_keys(c.response);
            BOOST_TEST(joined(k) == c.want);
            BOOST_TEST(k.dropped == c.dropped);
        }
    }
}

BOOST_AUTO_TEST_CASE(bounds) {
    std::string many;
    for (int i = 0; i < 70; ++i) many += "t" + std::to_string(i) + " ";
    many += "t0 t1";  // duplicates of kept tags are not "dropped"
    Fields h = fields({{"Surrogate-Key", many}});
    SurrogateKeys k = surrogate_keys(h);
    BOOST_TEST(k.tags.size() == kMaxTags);
    BOOST_TEST(k.tags.front() == "t0");
    BOOST_TEST(k.tags.back() == "t63");
    BOOST_TEST(k.dropped == 6u);

    std::string longest(kMaxTagBytes, 'x');
    std::string too_long(kMaxTagBytes + 1, 'y');
    std::string value = longest + " " + too_long;
    Fields h2 = fields({{"Surrogate-Key", value}});
    SurrogateKeys k2 = surrogate_keys(h2);
    BOOST_TEST(k2.tags.size() == 1u);
    BOOST_TEST(k2.tags[0].size() == kMaxTagBytes);
    BOOST_TEST(k2.dropped == 1u);
}

BOOST_AUTO_TEST_CASE(tag_validity_for_purge_requests) {
    BOOST_TEST(valid_tag("user-42"));
    BOOST_TEST(valid_tag("a:b/c;d"));
    BOOST_TEST(!valid_tag(""));
    BOOST_TEST(!valid_tag("a b"));
    BOOST_TEST(!valid_tag("a,b"));
    BOOST_TEST(!valid_tag("a\x7f"));
    BOOST_TEST(!valid_tag(std::string(kMaxTagBytes + 1, 'a')));
}
