// HTTP-date parsing in its three formats and formatting (RFC 9110 §5.6.7).
#define BOOST_TEST_MODULE cache_http_date
#include <boost/test/unit_test.hpp>

#include <string>

#include "cache/http_date.hpp"
#include "headers_fixture.hpp"

using namespace portico::cache;
using portico::cache::test::kT0;

BOOST_AUTO_TEST_CASE(the_three_formats_of_rfc_9110_name_the_same_instant) {
    const char* forms[] = {"Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT",
                           "Sun Nov  6 08:49:37 1994", "  Sun, 06 Nov 1994 08:49:37 GMT  "};
    for (const char* text : forms) {
        BOOST_TEST_CONTEXT(text) {
            auto t = parse_http_date(text);
            BOOST_TEST_REQUIRE(t.has_value());
            BOOST_TEST(t->time_since_epoch().count() == kT0.time_since_epoch().count());
        }
    }
}

BOOST_AUTO_TEST_CASE(invalid_dates_are_rejected) {
    const char* bad[] = {"",
                         "0",
                         "-1",
                         "Sun, 06 Nov 1994 08:49:37",      // no GMT
                         "Sun, 06 Nov 1994 08:49:37 UTC",  // only GMT
                         "Sun, 31 Feb 1994 08:49:37 GMT",  // no such day
                         "Sun, 06 Foo 1994 08:49:37 GMT",
                         "Sun, 06 Nov 1994 24:00:00 GMT",
                         "Sun, 6 Nov 1994 08:49:37 GMT",  // IMF-fixdate needs 2DIGIT day
                         "Sun, 06 Nov 1994 08:49:37 GMT trailing",
                         "Thursday, 01 Dec 1994 16:00:00 GMT"};  // rfc850 needs dashes
    for (const char* text : bad) BOOST_TEST_CONTEXT(text) { BOOST_TEST(!parse_http_date(text).has_value()); }
}

BOOST_AUTO_TEST_CASE(rfc850_two_digit_years_pivot_at_70) {
    auto y2069 = parse_http_date("Tuesday, 01-Jan-69 00:00:00 GMT");
    auto y1970 = parse_http_date("Thursday, 01-Jan-70 00:00:00 GMT");
    BOOST_TEST_REQUIRE(y2069.has_value());
    BOOST_TEST_REQUIRE(y1970.has_value());
    BOOST_TEST(y1970->time_since_epoch().count() == 0);
    BOOST_TEST(y2069->time_since_epoch().count() == 3124224000LL);
}

BOOST_AUTO_TEST_CASE(a_leap_second_is_accepted) {
    auto t = parse_http_date("Sat, 31 Dec 2016 23:59:60 GMT");
    BOOST_TEST_REQUIRE(t.has_value());
    BOOST_TEST(t->time_since_epoch().count() == 1483228799LL);
}

BOOST_AUTO_TEST_CASE(formatting_round_trips) {
    std::string out;
    append_http_date(out, kT0);
    BOOST_TEST(out == "Sun, 06 Nov 1994 08:49:37 GMT");
    out.clear();
    append_http_date(out, Instant{Seconds{0}});
    BOOST_TEST(out == "Thu, 01 Jan 1970 00:00:00 GMT");
    out.clear();
    append_http_date(out, Instant{Seconds{1709251199}});  // 2024 is a leap year
    BOOST_TEST(out == "Thu, 29 Feb 2024 23:59:59 GMT");
    BOOST_TEST(parse_http_date(out)->time_since_epoch().count() == 1709251199LL);
}
