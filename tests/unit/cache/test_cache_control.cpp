// Cache-Control parsing (RFC 9111 §5.2): directives, duplicates, malformed values; RFC 9213
// targeted fields and their precedence; the fields stripped before the client.
#define BOOST_TEST_MODULE cache_cache_control
#include <boost/test/unit_test.hpp>

#include <optional>
#include <string_view>

#include "cache/cache_control.hpp"
#include "headers_fixture.hpp"

using namespace portico::cache;
using portico::cache::test::fields;

namespace {
CacheControl cc(std::string_view value) {
    CacheControl out;
    parse_cache_control(value, out);
    return out;
}
long long secs(const std::optional<Seconds>& v) { return v ? v->count() : -1; }
}  // namespace

BOOST_AUTO_TEST_CASE(delta_seconds) {
    struct Case { std::string_view text; long long want; } cases[] = {
        {"0", 0}, {"60", 60}, {"007", 7}, {"2147483647", 2147483647LL}, {"2147483648", 2147483648LL},
        {"99999999999999999999999", 2147483648LL},  // saturates at 2^31 (§1.2.2)
        {"", -1}, {"-1", -1}, {"1.5", -1}, {"10s", -1}, {"+5", -1}, {" 5", -1},
    };
    for (const auto& c : cases)
        BOOST_TEST_CONTEXT("'" << c.text << "'") { BOOST_TEST(secs(parse_delta_seconds(c.text)) == c.want); }
}

BOOST_AUTO_TEST_CASE(numeric_directives_table) {
    // value → max-age, s-maxage, swr, sie, min-fresh, max-stale (-1 = absent)
    struct Case { std::string_view value; long long max_age, s_maxage, swr, sie, min_fresh, max_stale; } cases[] = {
        {"max-age=60", 60, -1, -1, -1, -1, -1},
        {"MAX-AGE=60", 60, -1, -1, -1, -1, -1},                   // names are case-insensitive
        {"max-age=\"60\"", 60, -1, -1, -1, -1, -1},               // quoted form tolerated
        {"max-age = 60", 60, -1, -1, -1, -1, -1},                 // stray whitespace tolerated
        {"max-age=60, max-age=10", 10, -1, -1, -1, -1, -1},       // duplicates: most restrictive
        {"max-age=10, max-age=60", 10, -1, -1, -1, -1, -1},
        {"max-age=abc", 0, -1, -1, -1, -1, -1},                   // invalid → stale (§4.2.1)
        {"max-age=-5", 0, -1, -1, -1, -1, -1},
        {"max-age", 0, -1, -1, -1, -1, -1},                       // missing argument → stale
        {"max-age=\"60", 0, -1, -1, -1, -1, -1},                  // unterminated quote → invalid
        {"max-age=60, max-age=bogus", 0, -1, -1, -1, -1, -1},
        {"s-maxage=30, max-age=60", 60, 30, -1, -1, -1, -1},
        {"stale-while-revalidate=30, stale-if-error=600", -1, -1, 30, 600, -1, -1},
        {"stale-while-revalidate=x", -1, -1, 0, -1, -1, -1},
        {"min-fresh=5, min-fresh=20", -1, -1, -1, -1, 20, -1},    // min-fresh: the larger asks more
        {"min-fresh=bad", -1, -1, -1, -1, -1, -1},                // invalid min-fresh is ignored
        {"max-stale", -1, -1, -1, -1, -1, kDeltaMax.count()},     // any staleness
        {"max-stale=30", -1, -1, -1, -1, -1, 30},
        {"max-stale, max-stale=30", -1, -1, -1, -1, -1, 30},
        {"max-stale=bad", -1, -1, -1, -1, -1, 0},
        {"max-age=99999999999", kDeltaMax.count(), -1, -1, -1, -1, -1},
    };
    for (const auto& c : cases) {
        BOOST_TEST_CONTEXT(c.value) {
            CacheControl d = cc(c.value);
            BOOST_TEST(secs(d.max_age) == c.max_age);
            BOOST_TEST(secs(d.s_maxage) == c.s_maxage);
            BOOST_TEST(secs(d.stale_while_revalidate) == c.swr);
            BOOST_TEST(secs(d.stale_if_error) == c.sie);
            BOOST_TEST(secs(d.min_fresh) == c.min_fresh);
            BOOST_TEST(secs(d.max_stale) == c.max_stale);
        }
    }
}

BOOST_AUTO_TEST_CASE(flag_directives) {
    CacheControl d = cc("public, no-store, must-revalidate, proxy-revalidate, must-understand, no-transform, "
                        "immutable, only-if-cached");
    BOOST_TEST(d.public_);
    BOOST_TEST(d.no_store);
    BOOST_TEST(d.must_revalidate);
    BOOST_TEST(d.proxy_revalidate);
    BOOST_TEST(d.must_understand);
    BOOST_TEST(d.no_transform);
    BOOST_TEST(d.immutable);
    BOOST_TEST(d.only_if_cached);
    BOOST_TEST(!d.no_cache);
    BOOST_TEST(!d.private_);

    CacheControl none = cc("");
    BOOST_TEST(!none.any());
    BOOST_TEST(!cc("x-unknown=1, ,,  , community=\"UCI\"").any());  // extensions ignored (§5.2.3)

    // Restrictive flags count even when malformed with an argument; permissive ones do not.
    BOOST_TEST(cc("no-store=1").no_store);
    BOOST_TEST(cc("must-revalidate=yes").must_revalidate);
    BOOST_TEST(!cc("public=yes").public_);
    BOOST_TEST(!cc("immutable=1").immutable);
    // A quoted comma does not split directives.
    CacheControl q = cc("x-ext=\"a, no-store\", max-age=5");
    BOOST_TEST(!q.no_store);
    BOOST_TEST(secs(q.max_age) == 5);
}

BOOST_AUTO_TEST_CASE(qualified_no_cache_and_private) {
    CacheControl a = cc("no-cache=\"Set-Cookie, X-Foo\"");
    BOOST_TEST(a.no_cache);
    BOOST_TEST(a.no_cache_fields == "Set-Cookie, X-Foo");
    BOOST_TEST(lists_field(a.no_cache_fields, "set-cookie"));
    BOOST_TEST(lists_field(a.no_cache_fields, "x-foo"));
    BOOST_TEST(!lists_field(a.no_cache_fields, "X-Bar"));

    struct Case { std::string_view value; std::string_view private_fields; bool private_; } cases[] = {
        {"private", "", true},
        {"private=\"X-User\"", "X-User", true},
        {"private=\"X-User\", private", "", true},         // unqualified wins (most restrictive)
        {"private, private=\"X-User\"", "", true},
        {"private=\"X-A\", private=\"X-B\"", "", true},    // two lists: treated as unqualified
        {"private=X-User", "", true},                      // token form: read as unqualified
        {"private=\"\"", "", true},                        // empty list: unqualified
        {"public", "", false},
    };
    for (const auto& c : cases) {
        BOOST_TEST_CONTEXT(c.value) {
            CacheControl d = cc(c.value);
            BOOST_TEST(d.private_ == c.private_);
            BOOST_TEST(d.private_fields == c.private_fields);
        }
    }
}

BOOST_AUTO_TEST_CASE(several_field_lines_combine) {
    auto h = fields({{"Cache-Control", "max-age=60"}, {"content-type", "text/plain"}, {"cache-control", "no-cache"},
                     {"CACHE-CONTROL", "max-age=30"}});
    CacheControl d = parse_cache_control(h);
    BOOST_TEST(d.no_cache);
    BOOST_TEST(secs(d.max_age) == 30);
}

BOOST_AUTO_TEST_CASE(targeted_field_syntax_is_a_structured_dictionary) {
    struct Case { std::string_view value; bool ok; long long max_age; bool no_store; bool private_; } cases[] = {
        {"max-age=60", true, 60, false, false},
        {"max-age=60, no-store", true, 60, true, false},
        {"max-age=60;foo=bar, no-store;x", true, 60, true, false},   // parameters ignored
        {"max-age=60, max-age=10", true, 10, false, false},          // last wins (RFC 8941)
        {"max-age=10, max-age=60", true, 60, false, false},
        {"max-age=\"60\"", true, -1, false, false},                  // wrong type: directive ignored
        {"max-age=-1", true, -1, false, false},
        {"max-age=1.5", true, -1, false, false},
        {"no-store=?0", true, -1, false, false},                     // ?0 = absent
        {"no-store=?1", true, -1, true, false},
        {"private=\"set-cookie\"", true, -1, false, true},
        {"x-ext=tok, max-age=5", true, 5, false, false},
        {"Max-Age=60", false, -1, false, false},                     // keys are lower-case
        {"max-age=60,", false, -1, false, false},                    // trailing comma
        {"max-age=60 no-store", false, -1, false, false},
        {"max-age=(1 2)", false, -1, false, false},
        {"", false, -1, false, false},
        {"max-age=\"60", false, -1, false, false},
    };
    for (const auto& c : cases) {
        BOOST_TEST_CONTEXT(c.value) {
            CacheControl d;
            BOOST_TEST(parse_targeted_field(c.value, d) == c.ok);
            if (c.ok) {
                BOOST_TEST(secs(d.max_age) == c.max_age);
                BOOST_TEST(d.no_store == c.no_store);
                BOOST_TEST(d.private_ == c.private_);
            }
        }
    }
    CacheControl q;
    BOOST_TEST(parse_targeted_field("private=\"set-cookie\"", q));
    BOOST_TEST(q.private_fields == "set-cookie");
}

BOOST_AUTO_TEST_CASE(targeted_fields_take_precedence_in_order) {
    struct Case {
        const char* name;
        portico::cache::test::Fields headers;
        DirectiveSource source;
        long long max_age;
    } cases[] = {
        {"plain cache-control", fields({{"Cache-Control", "max-age=10"}}), DirectiveSource::cache_control, 10},
        {"nothing", fields({{"Content-Type", "text/html"}}), DirectiveSource::none, -1},
        {"portico first",
         fields({{"Cache-Control", "max-age=10"}, {"Surrogate-Control", "max-age=20"}, {"CDN-Cache-Control", "max-age=30"},
                 {"Portico-Cache-Control", "max-age=40"}}),
         DirectiveSource::portico_cache_control, 40},
        {"cdn next",
         fields({{"Cache-Control", "max-age=10"}, {"Surrogate-Control", "max-age=20"}, {"CDN-Cache-Control", "max-age=30"}}),
         DirectiveSource::cdn_cache_control, 30},
        {"surrogate last",
         fields({{"Cache-Control", "max-age=10"}, {"Surrogate-Control", "max-age=20"}}),
         DirectiveSource::surrogate_control, 20},
        {"invalid portico falls back to cdn",
         fields({{"Portico-Cache-Control", "Max-Age=40"}, {"CDN-Cache-Control", "max-age=30"}}),
         DirectiveSource::cdn_cache_control, 30},
        {"empty targeted fields fall back to cache-control",
         fields({{"Portico-Cache-Control", ""}, {"CDN-Cache-Control", "  "}, {"Surrogate-Control", ""},
                 {"Cache-Control", "max-age=10"}}),
         DirectiveSource::cache_control, 10},
        {"one bad line spoils the field",
         fields({{"CDN-Cache-Control", "max-age=30"}, {"CDN-Cache-Control", "max-age=30,"}, {"Cache-Control", "max-age=10"}}),
         DirectiveSource::cache_control, 10},
        {"lines of a field combine, last wins",
         fields({{"CDN-Cache-Control", "max-age=30"}, {"CDN-Cache-Control", "max-age=50"}}),
         DirectiveSource::cdn_cache_control, 50},
        {"surrogate device-targeted members ignored",
         fields({{"Surrogate-Control", "max-age=60;edge1, max-age=20, content=\"ESI/1.0\""}}),
         DirectiveSource::surrogate_control, 20},
    };
    for (const auto& c : cases) {
        BOOST_TEST_CONTEXT(c.name) {
            EffectiveCacheControl e = effective_response_cache_control(c.headers);
            BOOST_TEST(static_cast<int>(e.source) == static_cast<int>(c.source));
            BOOST_TEST(secs(e.directives.max_age) == c.max_age);
            BOOST_TEST(e.targeted() == (c.source != DirectiveSource::cache_control && c.source != DirectiveSource::none));
        }
    }
    // A targeted field replaces Cache-Control entirely: its no-store no longer applies.
    auto h = fields({{"Cache-Control", "no-store, private"}, {"CDN-Cache-Control", "max-age=60"}});
    EffectiveCacheControl e = effective_response_cache_control(h);
    BOOST_TEST(!e.directives.no_store);
    BOOST_TEST(!e.directives.private_);
}

BOOST_AUTO_TEST_CASE(fields_stripped_before_the_client) {
    for (std::string_view name : {"Portico-Cache-Control", "cdn-cache-control", "SURROGATE-CONTROL", "Surrogate-Key",
                                  "cache-tag"})
        BOOST_TEST_CONTEXT(name) { BOOST_TEST(strip_before_client(name)); }
    for (std::string_view name : {"Cache-Control", "Age", "Vary", "Surrogate", "Cache-Tags"})
        BOOST_TEST_CONTEXT(name) { BOOST_TEST(!strip_before_client(name)); }
}
