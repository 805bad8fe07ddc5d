// Accept-Encoding negotiation (RFC 9110 §12.5.3): q-values, `*`, identity;q=0, the coding Portico
// compresses with, and the cache's variant value — which must agree with each other.
#define BOOST_TEST_MODULE cache_accept_encoding
#include <boost/test/unit_test.hpp>

#include <string>

#include "cache/accept_encoding.hpp"
#include "headers_fixture.hpp"

using namespace portico::cache;
using portico::cache::test::fields;
using portico::cache::test::Fields;

namespace {
std::string_view compress(std::string_view value) { return coding_name(choose_compression(parse_accept_encoding(value))); }
std::string_view best(std::string_view value) { return coding_name(choose_coding(parse_accept_encoding(value))); }
std::string_view variant(std::string_view value) { return accept_encoding_variant(parse_accept_encoding(value)); }
}  // namespace

BOOST_AUTO_TEST_CASE(weights_are_parsed) {
    AcceptEncoding w = parse_accept_encoding("gzip;q=0.5, DEFLATE, br;q=0, *;q=0.001, identity;q=1.000");
    BOOST_TEST(w.present);
    BOOST_TEST(w.gzip == 500);
    BOOST_TEST(w.deflate == 1000);
    BOOST_TEST(w.br == 0);
    BOOST_TEST(w.star == 1);
    BOOST_TEST(w.identity == 1000);
    // The highest weight wins when a coding repeats; x-gzip is gzip.
    BOOST_TEST(parse_accept_encoding("gzip;q=0.2, x-gzip;q=0.7").gzip == 700);
    // Invalid qvalues drop the member; other parameters are ignored; whitespace around ';' is OWS.
    for (std::string_view bad : {"gzip;q=abc", "gzip;q=1.5", "gzip;q=0.0001", "gzip;q=", "gzip;q=.5", "gzip;q=2"})
        BOOST_TEST_CONTEXT(bad) { BOOST_TEST(parse_accept_encoding(bad).gzip == -1); }
    BOOST_TEST(parse_accept_encoding("gzip;level=9").gzip == 1000);
    BOOST_TEST(parse_accept_encoding("gzip ; Q=0.25").gzip == 250);
    // Absent is not the same as empty.
    BOOST_TEST(!parse_accept_encoding(Fields{}).present);
    BOOST_TEST(parse_accept_encoding(fields({{"Accept-Encoding", ""}})).present);
    // Several lines are one list.
    AcceptEncoding two = parse_accept_encoding(fields({{"Accept-Encoding", "gzip;q=0.5"}, {"accept-encoding", "br"}}));
    BOOST_TEST(two.gzip == 500);
    BOOST_TEST(two.br == 1000);
}

BOOST_AUTO_TEST_CASE(the_coding_portico_compresses_with) {
    struct Case { std::string_view value; std::string_view want; } cases[] = {
        {"gzip", "gzip"},
        {"gzip, deflate, br", "gzip"},          // br is not Portico's to make; gzip wins the tie with deflate
        {"x-gzip", "gzip"},
        {"GZip", "gzip"},
        {"*", "gzip"},                           // `*` covers gzip...
        {"deflate", "deflate"},                  // ...deflate only when asked for by name
        {"deflate, gzip;q=0.5", "deflate"},
        {"deflate;q=0.5, gzip;q=0.5", "gzip"},
        {"gzip;q=0", "identity"},
        {"gzip;q=0, *", "identity"},             // the named weight wins over `*`
        {"*;q=0", "identity"},                   // nothing acceptable: identity (§12.5.3 fallback)
        {"identity;q=0", "identity"},            // gzip not named: not acceptable
        {"identity;q=0, gzip", "gzip"},
        {"identity;q=0, *", "gzip"},
        {"identity, gzip;q=0.5", "identity"},    // the client prefers plain bytes
        {"gzip;q=0.5, *;q=0", "gzip"},           // `*;q=0` excludes identity: gzip at 0.5 is the best left
        {"br", "identity"},
        {"zstd, gzip;q=0.5", "gzip"},            // unnamed identity weighs least
        {"gzip;q=0.001", "gzip"},
        {"gzip;q=abc", "identity"},
        {"", "identity"},
    };
    for (const auto& c : cases)
        BOOST_TEST_CONTEXT("'" << c.value << "'") { BOOST_TEST(compress(c.value) == c.want); }
    BOOST_TEST((choose_compression(parse_accept_encoding(Fields{})) == ContentCoding::identity));
}

BOOST_AUTO_TEST_CASE(the_best_coding_an_origin_could_send) {
    struct Case { std::string_view value; std::string_view want; } cases[] = {
        {"gzip, deflate, br", "br"},  // browsers: br preferred on a tie
        {"gzip, deflate", "gzip"},
        {"deflate", "deflate"},
        {"br;q=0.5, gzip;q=0.8", "gzip"},
        {"br;q=1.0, gzip;q=0.999", "br"},
        {"br ; q=0.9 , gzip ; q=0.9", "br"},
        {"gzip;q=0, br;q=0", "identity"},
        {"*", "br"},
        {"*;q=0.5, br;q=0", "gzip"},
        {"*;q=0", "identity"},
        {"identity;q=1, gzip;q=0.5", "identity"},
    };
    for (const auto& c : cases)
        BOOST_TEST_CONTEXT("'" << c.value << "'") { BOOST_TEST(best(c.value) == c.want); }
}

BOOST_AUTO_TEST_CASE(the_variant_value_agrees_with_the_compression_choice) {
    struct Case { std::string_view value; std::string_view want; } cases[] = {
        {"gzip", "gzip"},
        {"gzip, deflate", "gzip"},
        {"deflate,gzip;q=0.8", "deflate"},
        {"gzip, deflate, br", "br+gzip"},
        {"gzip, deflate, br, zstd", "br+gzip"},
        {"br", "br"},
        {"br, deflate", "br+deflate"},
        {"", "identity"},
        {"identity", "identity"},
    };
    for (const auto& c : cases)
        BOOST_TEST_CONTEXT("'" << c.value << "'") { BOOST_TEST(variant(c.value) == c.want); }
    // Every request sharing a variant value would get the same coding from Portico: the value
    // names Portico's choice, or it is "br" only when Portico would send identity.
    for (std::string_view v : {"gzip", "deflate", "*", "br", "br, gzip", "br;q=0.5, gzip", "identity;q=0, *",
                               "gzip;q=0", "x-gzip, br", "deflate;q=0.3, br;q=0.2", ""}) {
        BOOST_TEST_CONTEXT("'" << v << "'") {
            std::string_view key = variant(v);
            std::string_view mine = compress(v);
            if (key.substr(0, 3) == "br+") BOOST_TEST(key.substr(3) == mine);
            else if (key == "br") BOOST_TEST(mine == "identity");
            else BOOST_TEST(key == mine);
        }
    }
}
