// RFC 9111 rules as free functions: store decisions (§3, §3.5), freshness (§4.2.1, §4.2.2), age
// (§4.2.3), request modes (§5.2.1), lookup verdicts (§4, §4.2.4, RFC 5861). Times are injected.
#define BOOST_TEST_MODULE cache_policy
#include <boost/test/unit_test.hpp>

#include <string>
#include <string_view>

#include "cache/policy.hpp"
#include "headers_fixture.hpp"

using namespace portico::cache;
using portico::cache::test::at;
using portico::cache::test::date_at;
using portico::cache::test::fields;
using portico::cache::test::Fields;

namespace {
// Date headers relative to the test clock's origin, T0 = Sun, 06 Nov 1994 08:49:37 GMT.
RoutePolicyView route_ttl(long long ttl) {
    RoutePolicyView r;
    r.ttl = Seconds{ttl};
    return r;
}
}  // namespace

BOOST_AUTO_TEST_CASE(store_decisions) {
    const std::string_view date = date_at(0);
    const std::string_view last_modified = date_at(-864000);  // ten days earlier
    RoutePolicyView silent;                              // ttl 0: obey the upstream only
    RoutePolicyView ttl60 = route_ttl(60);
    RoutePolicyView cookies = ttl60;
    cookies.store_set_cookie = true;
    struct Case {
        const char* name;
        std::string_view method;
        int status;
        Fields request;
        Fields response;
        RoutePolicyView route;
        NotStored want;
    } cases[] = {
        {"max-age", "GET", 200, {}, fields({{"Cache-Control", "max-age=60"}}), silent, NotStored::none},
        {"HEAD is not stored", "HEAD", 200, {}, fields({{"Cache-Control", "max-age=60"}}), silent, NotStored::method},
        {"POST is not stored", "POST", 200, {}, fields({{"Cache-Control", "max-age=60"}}), silent, NotStored::method},
        {"methods are case-sensitive", "get", 200, {}, fields({{"Cache-Control", "max-age=60"}}), silent, NotStored::method},
        {"1xx is not final", "GET", 103, {}, fields({{"Cache-Control", "max-age=60"}}), silent, NotStored::status},
        {"206 is not an entry", "GET", 206, {}, fields({{"Cache-Control", "max-age=60"}}), silent, NotStored::status},
        {"304 is not an entry", "GET", 304, {}, fields({{"Cache-Control", "max-age=60"}}), silent, NotStored::status},
        {"explicit freshness makes a 500 storable", "GET", 500, {}, fields({{"Cache-Control", "max-age=5"}}), silent,
         NotStored::none},
        {"request no-store", "GET", 200, fields({{"Cache-Control", "no-store"}}), fields({{"Cache-Control", "max-age=60"}}),
         silent, NotStored::request_no_store},
        {"no-store", "GET", 200, {}, fields({{"Cache-Control", "max-age=60, no-store"}}), silent, NotStored::no_store},
        {"no-store beats route ttl", "GET", 200, {}, fields({{"Cache-Control", "no-store"}}), ttl60, NotStored::no_store},
        {"must-understand with an understood status ignores no-store", "GET", 200, {},
         fields({{"Cache-Control", "max-age=60, no-store, must-understand"}}), silent, NotStored::none},
        {"must-understand with an unknown status", "GET", 299, {},
         fields({{"Cache-Control", "max-age=60, no-store, must-understand"}}), silent, NotStored::status},
        {"private", "GET", 200, {}, fields({{"Cache-Control", "private, max-age=60"}}), silent, NotStored::private_},
        {"private beats route ttl", "GET", 200, {}, fields({{"Cache-Control", "private"}}), ttl60, NotStored::private_},
        {"qualified private stores the rest", "GET", 200, {},
         fields({{"Cache-Control", "private=\"X-User\", max-age=60"}, {"X-User", "ann"}}), silent, NotStored::none},
        {"authorization without permission", "GET", 200, fields({{"Authorization", "Bearer x"}}),
         fields({{"Cache-Control", "max-age=60"}}), silent, NotStored::authorization},
        {"authorization beats route ttl", "GET", 200, fields({{"Authorization", "Bearer x"}}), {}, ttl60,
         NotStored::authorization},
        {"authorization with public", "GET", 200, fields({{"Authorization", "Bearer x"}}),
         fields({{"Cache-Control", "public, max-age=60"}}), silent, NotStored::none},
        {"authorization with s-maxage", "GET", 200, fields({{"authorization", "Basic x"}}),
         fields({{"Cache-Control", "s-maxage=60"}}), silent, NotStored::none},
        {"authorization with must-revalidate", "GET", 200, fields({{"Authorization", "Bearer x"}}),
         fields({{"Cache-Control", "must-revalidate, max-age=60"}}), silent, NotStored::none},
        {"vary star", "GET", 200, {}, fields({{"Cache-Control", "max-age=60"}, {"Vary", "Accept, *"}}), silent,
         NotStored::vary_star},
        {"vary star beats route ttl", "GET", 200, {}, fields({{"Vary", "*"}}), ttl60, NotStored::vary_star},
        {"vary on a field is fine", "GET", 200, {}, fields({{"Cache-Control", "max-age=60"}, {"Vary", "Accept-Encoding"}}),
         silent, NotStored::none},
        {"set-cookie", "GET", 200, {}, fields({{"Cache-Control", "max-age=60"}, {"Set-Cookie", "s=1"}}), silent,
         NotStored::set_cookie},
        {"set-cookie beats route ttl", "GET", 200, {}, fields({{"Set-Cookie", "s=1"}}), ttl60, NotStored::set_cookie},
        {"set-cookie when the route allows it", "GET", 200, {}, fields({{"Set-Cookie", "s=1"}}), cookies, NotStored::none},
        {"set-cookie named by a qualified private is dropped, rest stored", "GET", 200, {},
         fields({{"Cache-Control", "max-age=60, private=\"Set-Cookie\""}, {"Set-Cookie", "s=1"}}), silent,
         NotStored::none},
        {"silent upstream, no route ttl", "GET", 200, {}, fields({{"Content-Type", "application/json"}}), silent,
         NotStored::no_freshness},
        {"silent upstream with an ETag only", "GET", 200, {}, fields({{"ETag", "\"v1\""}}), silent,
         NotStored::no_freshness},
        {"silent upstream, route ttl", "GET", 200, {}, fields({{"Content-Type", "application/json"}}), ttl60,
         NotStored::none},
        {"route ttl does not store a silent 500", "GET", 500, {}, {}, ttl60, NotStored::no_freshness},
        {"heuristic from Last-Modified", "GET", 200, {}, fields({{"Date", date}, {"Last-Modified", last_modified}}),
         silent, NotStored::none},
        {"no heuristic for 302", "GET", 302, {}, fields({{"Date", date}, {"Last-Modified", last_modified}}), silent,
         NotStored::no_freshness},
        {"max-age=0 with a validator: stored to revalidate", "GET", 200, {},
         fields({{"Cache-Control", "max-age=0"}, {"ETag", "\"v1\""}}), silent, NotStored::none},
        {"max-age=0 without a validator is useless", "GET", 200, {}, fields({{"Cache-Control", "max-age=0"}}), silent,
         NotStored::no_freshness},
        {"max-age=0 with stale-while-revalidate", "GET", 200, {},
         fields({{"Cache-Control", "max-age=0, stale-while-revalidate=30"}}), silent, NotStored::none},
        {"no-cache with a validator: store, revalidate every time", "GET", 200, {},
         fields({{"Cache-Control", "no-cache"}, {"ETag", "\"v1\""}}), silent, NotStored::none},
        {"no-cache without a validator", "GET", 200, {}, fields({{"Cache-Control", "no-cache, max-age=60"}}), silent,
         NotStored::no_freshness},
        {"invalid Expires is already stale", "GET", 200, {}, fields({{"Expires", "0"}}), silent, NotStored::no_freshness},
        {"Expires in the future", "GET", 200, {}, fields({{"Date", date}, {"Expires", date_at(3600)}}), silent,
         NotStored::none},
        {"targeted field overrides a Cache-Control no-store", "GET", 200, {},
         fields({{"Cache-Control", "no-store"}, {"Portico-Cache-Control", "max-age=60"}}), silent, NotStored::none},
        {"targeted no-store overrides Cache-Control max-age", "GET", 200, {},
         fields({{"Cache-Control", "max-age=60"}, {"CDN-Cache-Control", "no-store"}}), silent, NotStored::no_store},
    };
    for (const auto& c : cases) {
        BOOST_TEST_CONTEXT(c.name) {
            StoreDecision d = decide_store(c.method, c.status, c.request, c.response, c.route, at(0), at(0));
            BOOST_TEST(detail_token(d.reason) == detail_token(c.want));
            BOOST_TEST(d.store() == (c.want == NotStored::none));
        }
    }
}

BOOST_AUTO_TEST_CASE(detail_tokens_for_cache_status) {
    struct Case { NotStored reason; std::string_view token; } cases[] = {
        {NotStored::none, ""}, {NotStored::method, "method"}, {NotStored::status, "status"},
        {NotStored::request_no_store, "request-no-store"}, {NotStored::no_store, "no-store"},
        {NotStored::private_, "private"}, {NotStored::authorization, "authorization"},
        {NotStored::set_cookie, "set-cookie"}, {NotStored::vary_star, "vary-star"},
        {NotStored::no_freshness, "no-freshness"},
    };
    for (const auto& c : cases) BOOST_TEST(detail_token(c.reason) == c.token);
}

BOOST_AUTO_TEST_CASE(qualified_private_fields_are_excluded_from_storage) {
    CacheControl d;
    parse_cache_control("private=\"Set-Cookie, X-User\"", d);
    BOOST_TEST(excluded_from_storage(d, "set-cookie"));
    BOOST_TEST(excluded_from_storage(d, "X-USER"));
    BOOST_TEST(!excluded_from_storage(d, "Content-Type"));
    CacheControl unqualified;
    parse_cache_control("private", unqualified);
    BOOST_TEST(!excluded_from_storage(unqualified, "Set-Cookie"));  // the whole response is not stored
}

BOOST_AUTO_TEST_CASE(freshness_lifetime_precedence) {
    const std::string_view date = date_at(0);
    struct Case {
        const char* name;
        Fields response;
        int status;
        long long route_ttl;
        long long lifetime;
        FreshnessSource source;
    } cases[] = {
        {"s-maxage beats max-age", fields({{"Cache-Control", "max-age=60, s-maxage=30"}}), 200, 0, 30,
         FreshnessSource::s_maxage},
        {"max-age beats Expires", fields({{"Cache-Control", "max-age=60"}, {"Date", date}, {"Expires", date_at(3600)}}),
         200, 0, 60, FreshnessSource::max_age},
        {"Expires - Date", fields({{"Date", date}, {"Expires", date_at(3600)}}), 200, 0, 3600, FreshnessSource::expires},
        {"Expires without Date uses the response time", fields({{"Expires", date_at(3600)}}), 200, 0, 3500,
         FreshnessSource::expires},
        {"Expires before Date", fields({{"Date", date}, {"Expires", date_at(-60)}}), 200, 0, 0, FreshnessSource::expires},
        {"Expires: 0", fields({{"Expires", "0"}}), 200, 600, 0, FreshnessSource::expires},
        {"first Expires line wins",
         fields({{"Date", date}, {"Expires", date_at(100)}, {"Expires", date_at(5000)}}), 200, 0, 100,
         FreshnessSource::expires},
        {"invalid max-age is stale", fields({{"Cache-Control", "max-age=soon"}}), 200, 600, 0, FreshnessSource::max_age},
        {"max-age=0 is explicit: route ttl does not apply", fields({{"Cache-Control", "max-age=0"}}), 200, 600, 0,
         FreshnessSource::max_age},
        {"route ttl when silent", fields({{"Cache-Control", "public"}}), 200, 600, 600, FreshnessSource::route_ttl},
        {"route ttl beats the heuristic", fields({{"Date", date}, {"Last-Modified", date_at(-864000)}}), 200, 600, 600,
         FreshnessSource::route_ttl},
        {"route ttl with no-cache still gives a lifetime", fields({{"Cache-Control", "no-cache"}}), 200, 600, 600,
         FreshnessSource::route_ttl},
        {"route ttl not for a silent 500", fields({}), 500, 600, 0, FreshnessSource::none},
        {"route ttl for a public 500", fields({{"Cache-Control", "public"}}), 500, 600, 600, FreshnessSource::route_ttl},
        {"route ttl for a silent 404", fields({}), 404, 600, 600, FreshnessSource::route_ttl},
        {"heuristic 10%", fields({{"Date", date}, {"Last-Modified", date_at(-432000)}}), 200, 0, 43200,
         FreshnessSource::heuristic},
        {"heuristic capped at one day", fields({{"Date", date}, {"Last-Modified", date_at(-8640000)}}), 200, 0, 86400,
         FreshnessSource::heuristic},
        {"heuristic without Date uses the response time", fields({{"Last-Modified", date_at(-900)}}), 200, 0, 100,
         FreshnessSource::heuristic},
        {"no heuristic for 302", fields({{"Date", date}, {"Last-Modified", date_at(-432000)}}), 302, 0, 0,
         FreshnessSource::none},
        {"heuristic for a public 302", fields({{"Cache-Control", "public"}, {"Date", date}, {"Last-Modified", date_at(-1000)}}),
         302, 0, 100, FreshnessSource::heuristic},
        {"Last-Modified after Date", fields({{"Date", date}, {"Last-Modified", date_at(10)}}), 200, 0, 0,
         FreshnessSource::none},
        {"invalid Last-Modified", fields({{"Date", date}, {"Last-Modified", "yesterday"}}), 200, 0, 0,
         FreshnessSource::none},
        {"nothing at all", fields({}), 200, 0, 0, FreshnessSource::none},
        {"targeted max-age beats Cache-Control",
         fields({{"Cache-Control", "max-age=5"}, {"Portico-Cache-Control", "max-age=500"}}), 200, 0, 500,
         FreshnessSource::max_age},
        {"targeted field: Expires is ignored (RFC 9213 §2.2)",
         fields({{"CDN-Cache-Control", "public"}, {"Date", date}, {"Expires", date_at(3600)}}), 200, 0, 0,
         FreshnessSource::none},
        {"targeted field: route ttl applies when it is silent",
         fields({{"CDN-Cache-Control", "public"}, {"Cache-Control", "max-age=5"}}), 200, 90, 90,
         FreshnessSource::route_ttl},
    };
    for (const auto& c : cases) {
        BOOST_TEST_CONTEXT(c.name) {
            EffectiveCacheControl cc = effective_response_cache_control(c.response);
            // The response arrived 100 s after its Date (only used when a Date is missing).
            Freshness f = freshness_lifetime(cc, c.response, c.status, Seconds{c.route_ttl}, at(100));
            BOOST_TEST(f.lifetime.count() == c.lifetime);
            BOOST_TEST(static_cast<int>(f.source) == static_cast<int>(c.source));
        }
    }
}

BOOST_AUTO_TEST_CASE(age_calculation_rfc9111_4_2_3) {
    struct Case {
        const char* name;
        Fields response;
        long long request_time, response_time, now;
        long long initial, current;
    } cases[] = {
        // corrected_age_value = 100 + 2 → 102; +50 resident.
        {"Age plus delay", fields({{"Age", "100"}, {"Date", date_at(90)}}), 98, 100, 150, 102, 152},
        // An old Date (uvicorn repeats a keep-alive connection's first Date) does not age the entry.
        {"Date is not an age", fields({{"Date", date_at(70)}}), 99, 100, 100, 1, 1},
        {"Date in the future (skew) gives no negative age", fields({{"Date", date_at(500)}}), 98, 100, 100, 2, 2},
        {"invalid Age is ignored", fields({{"Age", "old"}, {"Date", date_at(100)}}), 100, 100, 110, 0, 10},
        {"negative Age is ignored", fields({{"Age", "-5"}}), 100, 100, 100, 0, 0},
        {"huge Age saturates", fields({{"Age", "99999999999999"}}), 100, 100, 1000, kDeltaMax.count(), kDeltaMax.count()},
        {"clock stepped back: no negative resident time", fields({{"Date", date_at(100)}}), 100, 100, 50, 0, 0},
        {"no Date, no Age", fields({}), 95, 100, 160, 5, 65},
    };
    for (const auto& c : cases) {
        BOOST_TEST_CONTEXT(c.name) {
            Seconds initial = corrected_initial_age(c.response, at(c.request_time), at(c.response_time));
            BOOST_TEST(initial.count() == c.initial);
            BOOST_TEST(current_age(initial, at(c.response_time), at(c.now)).count() == c.current);
            BOOST_TEST(current_age(c.response, at(c.request_time), at(c.response_time), at(c.now)).count() == c.current);
        }
    }
}

BOOST_AUTO_TEST_CASE(age_field_formatting) {
    struct Case { long long seconds; std::string_view text; } cases[] = {
        {0, "0"}, {152, "152"}, {-5, "0"}, {kDeltaMax.count() + 10, "2147483648"},
    };
    for (const auto& c : cases) {
        std::string out = "Age: ";
        append_age(out, Seconds{c.seconds});
        BOOST_TEST(out == "Age: " + std::string(c.text));
    }
}

BOOST_AUTO_TEST_CASE(entry_facts_and_stale_windows) {
    RoutePolicyView route;
    route.stale_while_revalidate = Seconds{10};
    route.stale_if_error = Seconds{3600};
    RoutePolicyView none;
    struct Case {
        const char* name;
        std::string_view cache_control;
        const RoutePolicyView* route;
        long long swr, sie;
        bool must_revalidate, auth_reusable;
    } cases[] = {
        {"response directives", "max-age=60, stale-while-revalidate=30, stale-if-error=600", &none, 30, 600, false, false},
        {"route windows when the response is silent", "max-age=60", &route, 10, 3600, false, false},
        {"the response's own windows win", "max-age=60, stale-while-revalidate=30, stale-if-error=5", &route, 30, 5, false,
         false},
        {"must-revalidate forbids stale", "max-age=60, must-revalidate, stale-while-revalidate=30", &route, 0, 0, true,
         true},
        {"proxy-revalidate forbids stale", "max-age=60, proxy-revalidate, stale-if-error=30", &route, 0, 0, true, false},
        {"no-cache forbids stale", "no-cache, stale-while-revalidate=30", &route, 0, 0, false, false},
        {"s-maxage cancels route windows", "s-maxage=60", &route, 0, 0, true, true},
        {"s-maxage keeps its own windows", "s-maxage=60, stale-while-revalidate=30", &route, 30, 0, true, true},
        {"public may answer Authorization", "public, max-age=60", &none, 0, 0, false, true},
    };
    for (const auto& c : cases) {
        BOOST_TEST_CONTEXT(c.name) {
            Fields response = fields({{"Cache-Control", c.cache_control}, {"ETag", "\"a\""}});
            EntryFacts f = make_entry_facts(effective_response_cache_control(response), response, 200, *c.route, at(0),
                                            at(0));
            BOOST_TEST(f.stale_while_revalidate.count() == c.swr);
            BOOST_TEST(f.stale_if_error.count() == c.sie);
            BOOST_TEST(f.must_revalidate == c.must_revalidate);
            BOOST_TEST(f.auth_reusable == c.auth_reusable);
            BOOST_TEST(f.has_validator);
        }
    }
    Fields bare = fields({{"Cache-Control", "max-age=60"}, {"Last-Modified", "garbage"}});
    BOOST_TEST(!make_entry_facts(effective_response_cache_control(bare), bare, 200, none, at(0), at(0)).has_validator);
}

BOOST_AUTO_TEST_CASE(store_decision_carries_the_entry_facts) {
    Fields response = fields({{"Cache-Control", "max-age=60"}, {"Age", "5"}, {"Date", date_at(0)}});
    StoreDecision d = decide_store("GET", 200, {}, response, RoutePolicyView{}, at(0), at(2));
    BOOST_TEST_REQUIRE(d.store());
    BOOST_TEST(d.facts.lifetime.count() == 60);
    BOOST_TEST(d.facts.corrected_initial_age.count() == 7);  // Age 5 + 2 s response delay
    BOOST_TEST((d.facts.response_time == at(2)));
}

BOOST_AUTO_TEST_CASE(request_classification) {
    struct Case {
        const char* name;
        std::string_view method;
        Fields request;
        RequestMode mode;
        long long max_age, min_fresh, max_stale;
        bool no_store;
    } cases[] = {
        {"plain GET", "GET", {}, RequestMode::normal, -1, -1, -1, false},
        {"HEAD", "HEAD", {}, RequestMode::normal, -1, -1, -1, false},
        {"POST", "POST", {}, RequestMode::bypass, -1, -1, -1, false},
        {"DELETE", "DELETE", fields({{"Cache-Control", "max-age=60"}}), RequestMode::bypass, -1, -1, -1, false},
        {"no-cache", "GET", fields({{"Cache-Control", "no-cache"}}), RequestMode::revalidate, -1, -1, -1, false},
        {"max-age=0", "GET", fields({{"Cache-Control", "max-age=0"}}), RequestMode::revalidate, 0, -1, -1, false},
        {"invalid max-age counts as 0", "GET", fields({{"Cache-Control", "max-age=x"}}), RequestMode::revalidate, 0, -1, -1,
         false},
        {"Pragma without Cache-Control", "GET", fields({{"Pragma", "no-cache"}}), RequestMode::revalidate, -1, -1, -1, false},
        {"Pragma among other members", "GET", fields({{"Pragma", "x-foo, No-Cache"}}), RequestMode::revalidate, -1, -1, -1,
         false},
        {"Pragma ignored with Cache-Control", "GET", fields({{"Pragma", "no-cache"}, {"Cache-Control", "max-age=5"}}),
         RequestMode::normal, 5, -1, -1, false},
        {"limits", "GET", fields({{"Cache-Control", "max-age=30, min-fresh=5, max-stale=10"}}), RequestMode::normal, 30, 5,
         10, false},
        {"max-stale without value", "GET", fields({{"Cache-Control", "max-stale"}}), RequestMode::normal, -1, -1,
         kDeltaMax.count(), false},
        {"only-if-cached", "GET", fields({{"Cache-Control", "only-if-cached"}}), RequestMode::only_if_cached, -1, -1, -1,
         false},
        {"only-if-cached with no-cache keeps max-age=0", "GET", fields({{"Cache-Control", "only-if-cached, no-cache"}}),
         RequestMode::only_if_cached, 0, -1, -1, false},
        {"no-store", "GET", fields({{"Cache-Control", "no-store"}}), RequestMode::normal, -1, -1, -1, true},
    };
    auto secs = [](const std::optional<Seconds>& v) { return v ? v->count() : -1; };
    for (const auto& c : cases) {
        BOOST_TEST_CONTEXT(c.name) {
            RequestCacheMode m = classify_request(c.method, c.request);
            BOOST_TEST(static_cast<int>(m.mode) == static_cast<int>(c.mode));
            BOOST_TEST(secs(m.max_age) == c.max_age);
            BOOST_TEST(secs(m.min_fresh) == c.min_fresh);
            BOOST_TEST(secs(m.max_stale) == c.max_stale);
            BOOST_TEST(m.no_store == c.no_store);
        }
    }
    BOOST_TEST(classify_request("GET", fields({{"Authorization", "Bearer t"}})).has_authorization);
}

namespace {
// An entry received at T0 with age 0: fresh for `lifetime` seconds.
EntryFacts entry(long long lifetime, long long swr = 0, long long sie = 0) {
    EntryFacts f;
    f.response_time = at(0);
    f.lifetime = Seconds{lifetime};
    f.stale_while_revalidate = Seconds{swr};
    f.stale_if_error = Seconds{sie};
    f.has_validator = true;
    return f;
}
RequestCacheMode request(std::initializer_list<HeaderField> headers, std::string_view method = "GET") {
    Fields h(headers);
    return classify_request(method, h);
}
}  // namespace

BOOST_AUTO_TEST_CASE(lookup_verdicts) {
    EntryFacts plain = entry(60);
    EntryFacts no_validator = entry(60);
    no_validator.has_validator = false;
    EntryFacts swr = entry(60, 30);
    EntryFacts no_cache = entry(60, 30);
    no_cache.no_cache = true;
    EntryFacts must_revalidate = entry(60);
    must_revalidate.must_revalidate = true;
    EntryFacts aged = entry(60);
    aged.corrected_initial_age = Seconds{50};  // arrived already 50 s old
    EntryFacts shared = entry(60);
    shared.auth_reusable = true;
    using V = LookupVerdict;
    struct Case {
        const char* name;
        const EntryFacts* entry;
        RequestCacheMode request;
        long long now;
        V want;
    } cases[] = {
        {"fresh", &plain, request({}), 59, V::fresh},
        {"stale at exactly the lifetime", &plain, request({}), 60, V::revalidate},
        {"stale with validator", &plain, request({}), 61, V::revalidate},
        {"stale without validator", &no_validator, request({}), 61, V::expired},
        {"Age counts", &aged, request({}), 10, V::revalidate},
        {"client no-cache on a fresh entry", &plain, request({{"Cache-Control", "no-cache"}}), 1, V::revalidate},
        {"client max-age=0", &plain, request({{"Cache-Control", "max-age=0"}}), 1, V::revalidate},
        {"client Pragma", &plain, request({{"Pragma", "no-cache"}}), 1, V::revalidate},
        {"client max-age satisfied", &plain, request({{"Cache-Control", "max-age=30"}}), 30, V::fresh},
        {"client max-age exceeded though fresh", &plain, request({{"Cache-Control", "max-age=30"}}), 31, V::revalidate},
        {"client min-fresh satisfied", &plain, request({{"Cache-Control", "min-fresh=10"}}), 50, V::fresh},
        {"client min-fresh not satisfied", &plain, request({{"Cache-Control", "min-fresh=10"}}), 51, V::revalidate},
        {"client max-stale covers staleness", &plain, request({{"Cache-Control", "max-stale=10"}}), 70,
         V::stale_while_revalidate},
        {"client max-stale too short", &plain, request({{"Cache-Control", "max-stale=10"}}), 71, V::revalidate},
        {"client max-stale unbounded", &plain, request({{"Cache-Control", "max-stale"}}), 100000,
         V::stale_while_revalidate},
        {"max-stale against must-revalidate", &must_revalidate, request({{"Cache-Control", "max-stale"}}), 61,
         V::revalidate},
        {"swr window", &swr, request({}), 90, V::stale_while_revalidate},
        {"swr window over", &swr, request({}), 91, V::revalidate},
        {"swr, but the client wants min-fresh", &swr, request({{"Cache-Control", "min-fresh=1"}}), 70, V::revalidate},
        {"swr within the client's max-age", &swr, request({{"Cache-Control", "max-age=80"}}), 70,
         V::stale_while_revalidate},
        {"swr beyond the client's max-age", &swr, request({{"Cache-Control", "max-age=65"}}), 70, V::revalidate},
        {"swr, but the client revalidates", &swr, request({{"Cache-Control", "no-cache"}}), 70, V::revalidate},
        {"no-cache entry is never served unvalidated", &no_cache, request({}), 1, V::revalidate},
        {"no-cache entry, even with max-stale", &no_cache, request({{"Cache-Control", "max-stale"}}), 61, V::revalidate},
        {"only-if-cached hit", &plain, request({{"Cache-Control", "only-if-cached"}}), 10, V::fresh},
        {"only-if-cached miss", &plain, request({{"Cache-Control", "only-if-cached"}}), 61, V::gateway_timeout},
        {"only-if-cached with max-stale", &plain, request({{"Cache-Control", "only-if-cached, max-stale"}}), 61,
         V::stale_while_revalidate},
        {"only-if-cached with no-cache", &plain, request({{"Cache-Control", "only-if-cached, no-cache"}}), 10,
         V::gateway_timeout},
        {"only-if-cached on a no-cache entry", &no_cache, request({{"Cache-Control", "only-if-cached"}}), 1,
         V::gateway_timeout},
        {"Authorization on a non-shareable entry", &plain, request({{"Authorization", "Bearer t"}}), 1, V::bypass},
        {"Authorization on a shareable entry", &shared, request({{"Authorization", "Bearer t"}}), 1, V::fresh},
        {"unsafe method", &plain, request({}, "POST"), 1, V::bypass},
    };
    for (const auto& c : cases) {
        BOOST_TEST_CONTEXT(c.name) {
            BOOST_TEST(static_cast<int>(judge(*c.entry, c.request, at(c.now))) == static_cast<int>(c.want));
        }
    }
}

BOOST_AUTO_TEST_CASE(stale_if_error) {
    EntryFacts sie = entry(60, 0, 600);
    EntryFacts none = entry(60);
    EntryFacts no_cache = entry(60, 0, 600);
    no_cache.no_cache = true;
    struct Case { const char* name; const EntryFacts* entry; long long now; bool want; } cases[] = {
        {"fresh entries may always stand in", &none, 30, true},
        {"stale, no window", &none, 61, false},
        {"stale at the boundary, no window", &none, 60, false},
        {"within the window", &sie, 660, true},
        {"past the window", &sie, 661, false},
        {"no-cache never", &no_cache, 30, false},
    };
    for (const auto& c : cases)
        BOOST_TEST_CONTEXT(c.name) { BOOST_TEST(stale_if_error_allowed(*c.entry, at(c.now)) == c.want); }
    BOOST_TEST(staleness(sie, at(30)).count() == 0);
    BOOST_TEST(staleness(sie, at(100)).count() == 40);
}
