// Range on a stored response: single ranges, suffixes, clamping, unsatisfiable starts, and the
// forms that make a server ignore Range (syntax errors, other units, several ranges).
#define BOOST_TEST_MODULE proxy_byte_range
#include <boost/test/unit_test.hpp>

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
