// Range on a stored response: single ranges, suffixes, clamping, unsatisfiable starts, and the
// forms that make a server ignore Range (syntax errors, other units, several ranges).
#define BOOST_TEST_MODULE proxy_byte_range
#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

#include "proxy/byte_range.hpp"

using namespace portico::proxy;

BOOST_AUTO_TEST_CASE(single_ranges) {
    ByteRange r;
    BOOST_TEST((choose_range("bytes=0-99", 1000, r) == RangeAnswer::partial));
    BOOST_TEST(r.first == 0u);
    BOOST_TEST(r.last == 99u);
    BOOST_TEST(r.size() == 100u);
    BOOST_TEST((choose_range("bytes=900-", 1000, r) == RangeAnswer::partial));
    BOOST_TEST(r.first == 900u);
    BOOST_TEST(r.last == 999u);
    BOOST_TEST((choose_range("bytes=500-5000", 1000, r) == RangeAnswer::partial));  // clamped
    BOOST_TEST(r.last == 999u);
    BOOST_TEST((choose_range(" Bytes = 1-1 ", 1000, r) == RangeAnswer::partial));
    BOOST_TEST(r.size() == 1u);
}

BOOST_AUTO_TEST_CASE(suffix_ranges) {
    ByteRange r;
    BOOST_TEST((choose_range("bytes=-100", 1000, r) == RangeAnswer::partial));
    BOOST_TEST(r.first == 900u);
    BOOST_TEST(r.last == 999u);
    BOOST_TEST((choose_range("bytes=-5000", 1000, r) == RangeAnswer::partial));  // the whole body
    BOOST_TEST(r.first == 0u);
    BOOST_TEST((choose_range("bytes=-0", 1000, r) == RangeAnswer::unsatisfiable));
}

BOOST_AUTO_TEST_CASE(unsatisfiable_starts) {
    ByteRange r;
    BOOST_TEST((choose_range("bytes=1000-", 1000, r) == RangeAnswer::unsatisfiable));
    BOOST_TEST((choose_range("bytes=0-", 0, r) == RangeAnswer::unsatisfiable));
}

BOOST_AUTO_TEST_CASE(ignored_forms_serve_the_whole_body) {
    ByteRange r;
    for (const char* v : {"", "bytes", "items=0-1", "bytes=a-b", "bytes=5-1", "bytes=0-1,5-6", "bytes=-",
                          "bytes=99999999999999999999-"}) {
        BOOST_TEST_CONTEXT(v) { BOOST_TEST((choose_range(v, 1000, r) == RangeAnswer::full)); }
    }
}

BOOST_AUTO_TEST_CASE(if_range) {
    BOOST_TEST(if_range_allows("", "\"a\"", ""));
    BOOST_TEST(if_range_allows("\"a\"", "\"a\"", ""));
    BOOST_TEST(!if_range_allows("\"a\"", "W/\"a\"", ""));  // strong comparison
    BOOST_TEST(!if_range_allows("W/\"a\"", "W/\"a\"", ""));
    BOOST_TEST(!if_range_allows("\"b\"", "\"a\"", ""));
    BOOST_TEST(if_range_allows("Sun, 06 Nov 1994 08:49:37 GMT", "", "Sun, 06 Nov 1994 08:49:37 GMT"));
    BOOST_TEST(!if_range_allows("Sun, 06 Nov 1994 08:49:38 GMT", "", "Sun, 06 Nov 1994 08:49:37 GMT"));
}

namespace {
std::string show(const std::vector<ByteRange>& rs) {
    std::string out;
    for (const auto& r : rs) out += std::to_string(r.first) + "-" + std::to_string(r.last) + ";";
    return out;
}
}  // namespace

BOOST_AUTO_TEST_CASE(several_ranges_sorted_and_coalesced) {
    std::vector<ByteRange> rs;
    struct Case { const char* value; RangeAnswer answer; const char* ranges; } cases[] = {
        {"bytes=0-99", RangeAnswer::partial, "0-99;"},
        {"bytes=0-1,5-6", RangeAnswer::partial, "0-1;5-6;"},
        {"bytes=500-599, 0-99", RangeAnswer::partial, "0-99;500-599;"},           // sorted
        {"bytes=0-99,50-149", RangeAnswer::partial, "0-149;"},                     // overlapping
        {"bytes=0-99,100-199", RangeAnswer::partial, "0-199;"},                    // adjacent
        {"bytes=0-499,100-199", RangeAnswer::partial, "0-499;"},                   // contained
        {"bytes=-100,0-9", RangeAnswer::partial, "0-9;900-999;"},                  // suffix among others
        {"bytes=-100,850-", RangeAnswer::partial, "850-999;"},
        {"bytes=0-9,2000-3000", RangeAnswer::partial, "0-9;"},                    // unsatisfiable ones dropped
        {"bytes=2000-3000,5000-", RangeAnswer::unsatisfiable, ""},                  // none satisfiable
        {"bytes=0-9,,20-29,", RangeAnswer::partial, "0-9;20-29;"},                 // empty elements allowed
        {"bytes=0-9,x", RangeAnswer::full, ""},                                    // one malformed spec: ignore all
        {"bytes=0-9,9-5", RangeAnswer::full, ""},
        {"bytes=,", RangeAnswer::full, ""},
        {"items=0-9,20-29", RangeAnswer::full, ""},
    };
    for (const auto& c : cases) {
        BOOST_TEST_CONTEXT(c.value) {
            BOOST_TEST((parse_ranges(c.value, 1000, rs) == c.answer));
            BOOST_TEST(show(rs) == c.ranges);
        }
    }
    // Many small ranges (a denial-of-service pattern): ignored once more than kMaxRanges remain.
    std::string many = "bytes=";
    for (int i = 0; i < 20; ++i) many += std::to_string(i * 10) + "-" + std::to_string(i * 10 + 1) + ",";
    BOOST_TEST((parse_ranges(many, 1000, rs) == RangeAnswer::full));
    // ...but many that coalesce into few are fine.
    std::string touching = "bytes=";
    for (int i = 0; i < 50; ++i) touching += std::to_string(i * 10) + "-" + std::to_string(i * 10 + 9) + ",";
    BOOST_TEST((parse_ranges(touching, 1000, rs) == RangeAnswer::partial));
    BOOST_TEST(show(rs) == "0-499;");
    // More specs than kMaxRangeSpecs: ignored without looking further.
    std::string endless = "bytes=";
    for (int i = 0; i < 101; ++i) endless += "0-0,";
    BOOST_TEST((parse_ranges(endless, 1000, rs) == RangeAnswer::full));
    // An empty representation has no satisfiable range.
    BOOST_TEST((parse_ranges("bytes=0-,-5", 0, rs) == RangeAnswer::unsatisfiable));
}
