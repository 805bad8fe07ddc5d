// The response cache against the real binary, the basics of RFC 9111 for a shared cache: a miss
// then a hit the app never sees, Age, expiry by max-age and s-maxage, what is never stored (and the
// Cache-Status detail saying why), request directives (no-cache, only-if-cached), targeted fields
// (RFC 9213), route ttl, Vary with Accept-Encoding normalisation, the cache key's normalisation,
// HEAD and Range answered from a stored GET, and the admin port's counters.
#include "cache_support.hpp"

using namespace portico::test;
using namespace portico::test::cache;

namespace {

const std::string kMaxAge60 = "cc=" + q("max-age=60");

// A response that must not be stored: twice to the app, never a HIT, with the reason in detail=.
void check_not_stored(CacheStack& s, const std::string& path, const std::string& query, const std::string& detail,
                      const Headers& headers = {}) {
    const std::string target = path + "?" + query;
    for (int i = 1; i <= 2; ++i) {
        auto r = get(s.endpoint(), target, headers);
        BOOST_TEST(r.status == 200, show(r));
        BOOST_TEST(xcache(r) == "BYPASS", detail << " (request " << i << "): " << show(r));
        BOOST_TEST(has(cstatus(r), "fwd=bypass"), detail << ": " << cstatus(r));
        BOOST_TEST(has(cstatus(r), "detail=" + detail), detail << ": " << cstatus(r));
        BOOST_TEST(!has(cstatus(r), "stored"), detail << ": " << cstatus(r));
        BOOST_TEST(serial(r) == i, detail << ": " << show(r));
    }
    BOOST_TEST(asked(s.app, path) == 2, detail);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(cache_basics)

BOOST_AUTO_TEST_CASE(miss_then_hit_the_app_never_sees) {
    CacheStack s;
    const std::string target = "/x/miss-hit?" + kMaxAge60;
    auto miss = store(s, target);
    BOOST_TEST(has(cstatus(miss), "portico"), cstatus(miss));
    BOOST_TEST(has(cstatus(miss), "fwd=uri-miss"), cstatus(miss));
    BOOST_TEST(has(cstatus(miss), "stored"), cstatus(miss));
    BOOST_TEST(serial(miss) == 1);

    for (int i = 0; i < 3; ++i) {
        auto hit = get(s.endpoint(), target);
        BOOST_TEST(hit.status == 200, show(hit));
        BOOST_TEST(xcache(hit) == "HIT", show(hit));
        BOOST_TEST(cstatus(hit).rfind("portico; hit", 0) == 0u, cstatus(hit));
        BOOST_TEST(age(hit) >= 0, "Age on every response served from cache: " << show(hit));
        BOOST_TEST(hit.body == miss.body);
        BOOST_TEST(hit.header("content-type").value_or("-") == miss.header("content-type").value_or("+"));
        BOOST_TEST(hit.header("cache-control").value_or("-") == miss.header("cache-control").value_or("+"));
        // The stored Date is the origin's, not regenerated per hit.
        BOOST_TEST(hit.header("date").value_or("-") == miss.header("date").value_or("+"), show(hit));
        check_single_fields(hit);
    }
    BOOST_TEST(asked(s.app, "/x/miss-hit") == 1);
    // Per-response fields are made for each hit, not replayed from the stored one.
    auto h1 = get(s.endpoint(), target), h2 = get(s.endpoint(), target);
    BOOST_TEST(h1.header("x-request-id").value_or("1") != h2.header("x-request-id").value_or("2"));
    BOOST_TEST(h1.header("x-request-id").value_or("1") != miss.header("x-request-id").value_or("2"));
    BOOST_TEST(!has(h1.header("server-timing").value_or(""), "upstream;"), "a hit reports an upstream time: " << show(h1));
}

BOOST_AUTO_TEST_CASE(age_grows_while_stored) {
    CacheStack s;
    const std::string target = "/x/age?cc=" + q("max-age=600");
    store(s, target);
    long first = age(get(s.endpoint(), target));
    BOOST_TEST(first >= 0);
    long last = first;
    bool grew = eventually(
        [&] {
            auto r = get(s.endpoint(), target);
            long a = age(r);
            BOOST_TEST(a >= last, "Age went backwards: " << show(r));
            last = a;
            return a >= first + 2;
        },
        6s, 200ms);
    BOOST_TEST(grew, "Age stayed at " << last);
    BOOST_TEST(asked(s.app, "/x/age") == 1);
}

BOOST_AUTO_TEST_CASE(upstream_age_counts) {
    CacheStack s;
    // The app says the response is already 100 s old (it came through another cache).
    const std::string target = "/x/upstream-age?cc=" + q("max-age=600") + "&hdr=" + q("Age: 100");
    store(s, target);
    auto hit = get(s.endpoint(), target);
    BOOST_TEST(xcache(hit) == "HIT", show(hit));
    BOOST_TEST(age(hit) >= 100, "RFC 9111 §4.2.3: the corrected initial age includes Age: " << show(hit));
    BOOST_TEST(hit.header_count("age") == 1u, show(hit));
    // The client's own limits (RFC 9111 §5.2.1): max-age below the entry's age, min-fresh above its
    // remaining lifetime: not answered from the cache.
    auto limited = get(s.endpoint(), target, {{"Cache-Control", "max-age=50"}});
    BOOST_TEST(limited.status == 200);
    BOOST_TEST(xcache(limited) != "HIT", "request max-age=50, Age >= 100: " << show(limited));
    BOOST_TEST(asked(s.app, "/x/upstream-age") == 2);
    BOOST_TEST(wait_stored(*s.portico, stat(*s.portico, "stores")));
    auto fresh_enough = get(s.endpoint(), target, {{"Cache-Control", "min-fresh=1000"}});
    BOOST_TEST(xcache(fresh_enough) != "HIT", "request min-fresh=1000, 500 s left: " << show(fresh_enough));
    BOOST_TEST(asked(s.app, "/x/upstream-age") == 3);
    // Older than its lifetime on arrival: never served as fresh.
    const std::string old = "/x/upstream-too-old?cc=" + q("max-age=50") + "&hdr=" + q("Age: 100");
    for (int i = 0; i < 2; ++i) BOOST_TEST(xcache(get(s.endpoint(), old)) != "HIT");
    BOOST_TEST(asked(s.app, "/x/upstream-too-old") == 2);
}

BOOST_AUTO_TEST_CASE(max_age_expiry_fetches_again) {
    CacheStack s;
    const std::string target = "/x/expire?cc=" + q("max-age=2");
    store(s, target);
    auto after = first_non_hit(s.endpoint(), target);
    BOOST_TEST(after.status == 200, show(after));
    // Stale and no validator: fetched unconditionally (X-Cache: EXPIRED), then stored again.
    BOOST_TEST(xcache(after) == "EXPIRED", show(after));
    BOOST_TEST(has(cstatus(after), "fwd=stale"), cstatus(after));
    BOOST_TEST(serial(after) == 2, show(after));
    BOOST_TEST(conditionals(s.app, "/x/expire") == 0);
    BOOST_TEST(wait_stored(*s.portico, 2));
    auto again = get(s.endpoint(), target);
    BOOST_TEST(xcache(again) == "HIT", show(again));
    BOOST_TEST(serial(again) == 2);
}

BOOST_AUTO_TEST_CASE(s_maxage_wins_over_max_age) {
    CacheStack s;
    // max-age=0 alone would never be served without revalidation; s-maxage governs shared caches.
    const std::string longer = "/x/smax-long?cc=" + q("max-age=0, s-maxage=60");
    store(s, longer);
    auto hit = get(s.endpoint(), longer);
    BOOST_TEST(xcache(hit) == "HIT", show(hit));
    BOOST_TEST(asked(s.app, "/x/smax-long") == 1);

    // And the other way: max-age=600 but s-maxage=1: expires for portico after a second.
    const std::string shorter = "/x/smax-short?cc=" + q("max-age=600, s-maxage=1");
    store(s, shorter);
    auto after = first_non_hit(s.endpoint(), shorter);
    BOOST_TEST(after.status == 200, show(after));
    BOOST_TEST(serial(after) == 2, show(after));
}

BOOST_AUTO_TEST_CASE(expires_and_the_last_modified_heuristic_give_freshness) {
    CacheStack s;
    // Expires without Cache-Control (RFC 9111 §5.3).
    store(s, "/x/expires?expires=600");
    BOOST_TEST(xcache(get(s.endpoint(), "/x/expires?expires=600")) == "HIT");
    BOOST_TEST(asked(s.app, "/x/expires") == 1);
    // An Expires in the past, or an invalid one ("0"), is already stale: never a HIT.
    for (const char* q : {"expires=-60", "expires_raw=0"}) {
        const std::string path = fmt::format("/x/expired-{}", q[7] == '_' ? "raw" : "past");
        for (int i = 0; i < 2; ++i) BOOST_TEST(xcache(get(s.endpoint(), path + "?" + q)) != "HIT", path);
        BOOST_TEST(asked(s.app, path) == 2, path);
    }
    // max-age wins over Expires.
    store(s, "/x/expires-vs-max-age?expires=-60&cc=" + q("max-age=600"));
    BOOST_TEST(xcache(get(s.endpoint(), "/x/expires-vs-max-age?expires=-60&cc=" + q("max-age=600"))) == "HIT");
    // Last-Modified ten days ago, nothing else: a heuristic lifetime (10% of the age, §4.2.2).
    store(s, "/x/heuristic?lm=864000");
    auto h = get(s.endpoint(), "/x/heuristic?lm=864000");
    BOOST_TEST(xcache(h) == "HIT", show(h));
    BOOST_TEST(asked(s.app, "/x/heuristic") == 1);
}

BOOST_AUTO_TEST_CASE(directives_and_fields_are_read_as_http_says) {
    CacheStack s;
    // Directive names are case-insensitive (RFC 9111 §5.2).
    store(s, "/x/upper?cc=" + q("MAX-AGE=60"));
    BOOST_TEST(xcache(get(s.endpoint(), "/x/upper?cc=" + q("MAX-AGE=60"))) == "HIT");
    // Two Cache-Control lines are one list (RFC 9110 §5.3): max-age=60 on one, private on the other.
    check_not_stored(s, "/x/two-lines", "cc=" + q("max-age=60") + "&hdr=" + q("Cache-Control: private"), "private");
    check_not_stored(s, "/x/two-lines-nostore", "cc=" + q("max-age=60") + "&hdr=" + q("Cache-Control: no-store"),
                     "no-store");
    // Two Vary lines are one list too: X-A and X-B both select the variant.
    const std::string two_vary = "/x/two-vary?" + kMaxAge60 + "&vary=X-A&hdr=" + q("Vary: X-B");
    store(s, two_vary, {{"X-A", "1"}, {"X-B", "1"}});
    BOOST_TEST(xcache(get(s.endpoint(), two_vary, {{"X-A", "1"}, {"X-B", "1"}})) == "HIT");
    auto other_b = get(s.endpoint(), two_vary, {{"X-A", "1"}, {"X-B", "2"}});
    BOOST_TEST(xcache(other_b) != "HIT", "the second Vary line was ignored: " << show(other_b));
    // Hop-by-hop fields from the app are not stored and replayed.
    const std::string hop = "/x/hop?" + kMaxAge60 + "&hdr=" + q("Keep-Alive: timeout=5") + "&hdr=" + q("Connection: X-Hop") +
                            "&hdr=" + q("X-Hop: secret");
    store(s, hop);
    auto h = get(s.endpoint(), hop);
    BOOST_TEST(xcache(h) == "HIT", show(h));
    BOOST_TEST(!h.header("keep-alive").has_value(), show(h));
    BOOST_TEST(!h.header("x-hop").has_value(), "a field named by Connection was replayed: " << show(h));
}

BOOST_AUTO_TEST_CASE(status_codes_other_than_200) {
    CacheStack s;
    // Explicit freshness makes any final status storable; 404 and 301 are common cases.
    for (const char* status : {"404", "301", "410"}) {
        const std::string path = fmt::format("/x/status-{}", status);
        const std::string target = path + "?" + kMaxAge60 + "&status=" + status + (std::string(status) == "301" ? "&hdr=" + q("Location: /elsewhere") : "");
        double before = stat(*s.portico, "stores");
        auto first = get(s.endpoint(), target);
        BOOST_TEST(first.status == std::atoi(status), show(first));
        BOOST_TEST(wait_stored(*s.portico, before + 1), status);
        auto again = get(s.endpoint(), target);
        BOOST_TEST(again.status == std::atoi(status), show(again));
        BOOST_TEST(xcache(again) == "HIT", status << ": " << show(again));
        BOOST_TEST(asked(s.app, path) == 1, status);
    }
    // A 206 from the upstream is never stored as the resource (RFC 9111 §3: not a full response here).
    const std::string partial = "/x/status-206?" + kMaxAge60 + "&status=206&size=100&hdr=" + q("Content-Range: bytes 0-99/1000");
    for (int i = 0; i < 2; ++i) BOOST_TEST(xcache(get(s.endpoint(), partial)) != "HIT");
    BOOST_TEST(asked(s.app, "/x/status-206") == 2);
    // Nor is a 5xx without explicit freshness.
    for (int i = 0; i < 2; ++i) BOOST_TEST(get(s.endpoint(), "/ttl/status-503?status=503").status == 503);
    BOOST_TEST(asked(s.app, "/ttl/status-503") == 2, "a 503 was stored under the route's ttl");
}

BOOST_AUTO_TEST_CASE(request_no_store_is_not_stored) {
    CacheStack s;
    const std::string target = "/x/req-no-store?" + kMaxAge60;
    auto r = get(s.endpoint(), target, {{"Cache-Control", "no-store"}});
    BOOST_TEST(r.status == 200, show(r));
    BOOST_TEST(xcache(r) == "BYPASS", show(r));
    BOOST_TEST(has(cstatus(r), "detail=request-no-store"), cstatus(r));
    auto next = get(s.endpoint(), target);
    BOOST_TEST(xcache(next) == "MISS", "the no-store request's response was stored: " << show(next));
    BOOST_TEST(asked(s.app, "/x/req-no-store") == 2);
}

BOOST_AUTO_TEST_CASE(responses_never_stored_say_why) {
    CacheStack s;
    check_not_stored(s, "/x/no-store", "cc=" + q("no-store, max-age=60"), "no-store");
    check_not_stored(s, "/x/private", "cc=" + q("private, max-age=60"), "private");
    check_not_stored(s, "/x/cookie", kMaxAge60 + "&cookie=" + q("session=abc; Path=/"), "set-cookie");
    check_not_stored(s, "/x/vary-star", kMaxAge60 + "&vary=*", "vary-star");
    check_not_stored(s, "/x/auth", kMaxAge60, "authorization", {{"Authorization", "Bearer t0ken"}});
    // Nothing that makes it reusable: no lifetime, no validator, no route ttl.
    check_not_stored(s, "/x/silent", "version=1", "no-freshness");
    // The Set-Cookie still reaches the client.
    auto r = get(s.endpoint(), "/x/cookie2?" + kMaxAge60 + "&cookie=" + q("a=b"));
    BOOST_TEST(r.header("set-cookie").value_or("") == "a=b", show(r));

    auto m = metrics_text(*s.portico);
    BOOST_TEST(metric(m, "portico_cache_requests_total{result=\"bypass\"}") >= 12, m);
    BOOST_TEST(metric(m, "portico_cache_requests_total{result=\"hit\"}") == 0, m);
}

BOOST_AUTO_TEST_CASE(qualified_private_drops_only_the_named_field) {
    CacheStack s;
    // private="Set-Cookie" (RFC 9111 §5.2.2.7): the response may be stored without that field.
    const std::string target = "/x/private-field?cc=" + q("max-age=60, private=\"Set-Cookie\"") + "&cookie=" + q("id=1");
    auto first = store(s, target);
    BOOST_TEST(first.header("set-cookie").value_or("") == "id=1", "the first client still gets it: " << show(first));
    auto hit = get(s.endpoint(), target);
    BOOST_TEST(xcache(hit) == "HIT", show(hit));
    BOOST_TEST(!hit.header("set-cookie").has_value(), "another client got the first one's cookie: " << show(hit));
    BOOST_TEST(asked(s.app, "/x/private-field") == 1);
}

BOOST_AUTO_TEST_CASE(authorization_needs_an_explicit_permission) {
    CacheStack s;
    const Headers auth = {{"Authorization", "Bearer t0ken"}};
    // public allows storing a response to an authenticated request (RFC 9111 §3.5) …
    const std::string pub = "/x/auth-public?cc=" + q("public, max-age=60");
    store(s, pub, auth);
    auto hit = get(s.endpoint(), pub, auth);
    BOOST_TEST(xcache(hit) == "HIT", show(hit));
    BOOST_TEST(asked(s.app, "/x/auth-public") == 1);

    for (const char* cc : {"s-maxage=60", "max-age=60, must-revalidate"}) {
        const std::string path = fmt::format("/x/auth-{}", cc[0]);
        const std::string t = path + "?cc=" + q(cc);
        store(s, t, auth);
        BOOST_TEST(xcache(get(s.endpoint(), t, auth)) == "HIT", cc);
        BOOST_TEST(asked(s.app, path) == 1, cc);
    }

    // … a response stored for anonymous requests, without public/s-maxage/must-revalidate, does not
    // answer a request with Authorization: that one goes to the app.
    const std::string anon = "/x/auth-anon?" + kMaxAge60;
    store(s, anon);
    auto with_auth = get(s.endpoint(), anon, auth);
    BOOST_TEST(with_auth.status == 200);
    BOOST_TEST(xcache(with_auth) != "HIT", show(with_auth));
    BOOST_TEST(asked(s.app, "/x/auth-anon") == 2);
    auto without = get(s.endpoint(), anon);
    BOOST_TEST(xcache(without) == "HIT", show(without));
    BOOST_TEST(serial(without) == 1, show(without));
}

BOOST_AUTO_TEST_CASE(request_no_cache_revalidates) {
    CacheStack s;
    const std::string target = "/x/req-no-cache?" + kMaxAge60 + "&etag=v1";
    store(s, target);
    for (const Headers& h : {Headers{{"Cache-Control", "no-cache"}}, Headers{{"Cache-Control", "max-age=0"}},
                             Headers{{"Pragma", "no-cache"}}}) {
        int before = conditionals(s.app, "/x/req-no-cache");
        auto r = get(s.endpoint(), target, h);
        BOOST_TEST(r.status == 200, show(r));
        BOOST_TEST(xcache(r) == "REVALIDATED", h[0].first << ": " << h[0].second << " → " << show(r));
        BOOST_TEST(has(cstatus(r), "fwd-status=304"), cstatus(r));
        BOOST_TEST(serial(r) == 1, "the stored body, revalidated: " << show(r));
        BOOST_TEST(conditionals(s.app, "/x/req-no-cache") == before + 1, h[0].second);
        BOOST_TEST(last_headers(s.app, "/x/req-no-cache").value("if-none-match", "") == "\"v1\"");
    }
    BOOST_TEST(full_answers(s.app, "/x/req-no-cache") == 1);

    // Without a validator, no-cache means a full fetch.
    const std::string plain = "/x/req-no-cache-plain?" + kMaxAge60;
    store(s, plain);
    auto r = get(s.endpoint(), plain, {{"Cache-Control", "no-cache"}});
    BOOST_TEST(r.status == 200);
    BOOST_TEST(serial(r) == 2, show(r));
    BOOST_TEST(xcache(r) != "HIT", show(r));
}

BOOST_AUTO_TEST_CASE(only_if_cached_is_504_on_a_miss) {
    CacheStack s;
    const std::string target = "/x/oic?" + kMaxAge60;
    auto miss = get(s.endpoint(), target, {{"Cache-Control", "only-if-cached"}});
    BOOST_TEST(miss.status == 504, show(miss));
    BOOST_TEST(asked(s.app, "/x/oic") == 0);
    store(s, target);
    auto hit = get(s.endpoint(), target, {{"Cache-Control", "only-if-cached"}});
    BOOST_TEST(hit.status == 200, show(hit));
    BOOST_TEST(xcache(hit) == "HIT", show(hit));
    BOOST_TEST(asked(s.app, "/x/oic") == 1);
}

BOOST_AUTO_TEST_CASE(targeted_fields_take_precedence_and_are_stripped) {
    CacheStack s;
    struct Case {
        std::string path, query;
        bool stored;
    };
    const std::vector<Case> cases = {
        {"/x/t-portico", "cc=no-store&pcc=" + q("max-age=60"), true},
        {"/x/t-cdn-nostore", "cc=" + q("max-age=60") + "&cdn=no-store", false},
        {"/x/t-cdn", "cc=no-store&cdn=" + q("max-age=60"), true},
        {"/x/t-portico-over-cdn", "pcc=" + q("max-age=60") + "&cdn=no-store", true},
        {"/x/t-cdn-over-surrogate", "cdn=" + q("max-age=60") + "&sc=no-store", true},
        {"/x/t-portico-nostore", "pcc=no-store&cdn=" + q("max-age=60") + "&cc=" + q("max-age=60"), false},
        {"/x/t-surrogate", "cc=no-store&sc=" + q("max-age=60"), true},
    };
    for (const auto& c : cases) {
        const std::string target = c.path + "?" + c.query;
        double stores = stat(*s.portico, "stores");
        auto first = get(s.endpoint(), target);
        BOOST_TEST(first.status == 200, c.path << ": " << show(first));
        for (const char* field : {"portico-cache-control", "cdn-cache-control", "surrogate-control"})
            BOOST_TEST(!first.header(field).has_value(), c.path << ": " << field << " reached the client\n" << show(first));
        if (c.stored) {
            BOOST_TEST(xcache(first) == "MISS", c.path << ": " << show(first));
            BOOST_TEST(wait_stored(*s.portico, stores + 1), c.path);
            auto hit = get(s.endpoint(), target);
            BOOST_TEST(xcache(hit) == "HIT", c.path << ": " << show(hit));
            BOOST_TEST(asked(s.app, c.path) == 1, c.path);
            // Cache-Control goes to the client as the app wrote it.
            BOOST_TEST(get(s.endpoint(), target).header("cache-control").value_or("") == first.header("cache-control").value_or(""), c.path);
        } else {
            BOOST_TEST(xcache(first) == "BYPASS", c.path << ": " << show(first));
            BOOST_TEST(has(cstatus(first), "detail=no-store"), c.path << ": " << cstatus(first));
            auto second = get(s.endpoint(), target);
            BOOST_TEST(xcache(second) != "HIT", c.path << ": " << show(second));
            BOOST_TEST(asked(s.app, c.path) == 2, c.path);
        }
    }
}

BOOST_AUTO_TEST_CASE(route_ttl_applies_when_the_upstream_is_silent) {
    CacheStack s;
    // "/ttl/*": ttl 60s. No Cache-Control at all: stored for the route's ttl.
    store(s, "/ttl/silent?version=1");
    auto hit = get(s.endpoint(), "/ttl/silent?version=1");
    BOOST_TEST(xcache(hit) == "HIT", show(hit));
    BOOST_TEST(asked(s.app, "/ttl/silent") == 1);

    // An explicit lifetime from the upstream wins over the route's ttl.
    store(s, "/ttl/explicit?cc=" + q("max-age=1"));
    auto after = first_non_hit(s.endpoint(), "/ttl/explicit?cc=" + q("max-age=1"));
    BOOST_TEST(after.status == 200, show(after));
    BOOST_TEST(serial(after) == 2, show(after));

    // The ttl never overrides what forbids storing.
    check_not_stored(s, "/ttl/no-store", "cc=no-store", "no-store");
    check_not_stored(s, "/ttl/cookie", "cookie=" + q("a=b"), "set-cookie");

    // Outside the route (global ttl 0s) the same silent response is not stored.
    check_not_stored(s, "/x/silent-elsewhere", "version=1", "no-freshness");

    // A route with the cache disabled never stores, whatever the upstream says.
    for (int i = 0; i < 2; ++i) {
        auto r = get(s.endpoint(), "/nocache/a?" + kMaxAge60);
        BOOST_TEST(r.status == 200);
        BOOST_TEST(xcache(r) != "HIT", show(r));
    }
    BOOST_TEST(asked(s.app, "/nocache/a") == 2);
}

BOOST_AUTO_TEST_CASE(vary_accept_encoding_is_normalised) {
    CacheStack s;
    const std::string path = "/x/vary-ae";
    const std::string target = path + "?" + kMaxAge60 + "&vary=Accept-Encoding";
    auto gzip = store(s, target, {{"Accept-Encoding", "gzip"}});
    BOOST_TEST(serial(gzip) == 1);
    // "gzip, deflate" offers gzip as the best coding too: the same variant.
    auto same = get(s.endpoint(), target, {{"Accept-Encoding", "gzip, deflate"}});
    BOOST_TEST(xcache(same) == "HIT", show(same));
    BOOST_TEST(serial(same) == 1);
    auto spaced = get(s.endpoint(), target, {{"Accept-Encoding", "br;q=0,x-gzip;q=0.8"}});
    BOOST_TEST(xcache(spaced) == "HIT", show(spaced));
    // br is another variant.
    auto br = store(s, target, {{"Accept-Encoding", "br"}});
    BOOST_TEST(serial(br) == 2);
    auto br_again = get(s.endpoint(), target, {{"Accept-Encoding", "br"}});
    BOOST_TEST(xcache(br_again) == "HIT", show(br_again));
    BOOST_TEST(serial(br_again) == 2);
    // So is none at all (identity); and the gzip variant is still there.
    auto none = store(s, target);
    BOOST_TEST(serial(none) == 3);
    auto gzip_again = get(s.endpoint(), target, {{"Accept-Encoding", "gzip"}});
    BOOST_TEST(xcache(gzip_again) == "HIT", show(gzip_again));
    BOOST_TEST(serial(gzip_again) == 1);
    BOOST_TEST(asked(s.app, path) == 3);
    BOOST_TEST(gzip_again.header("vary").value_or("") == "Accept-Encoding");
    // Preferring deflate (which Portico would compress with) is a variant of its own.
    auto deflate = store(s, target, {{"Accept-Encoding", "deflate,gzip;q=0.8"}});
    BOOST_TEST(serial(deflate) == 4);
}

BOOST_AUTO_TEST_CASE(vary_on_other_fields_keeps_variants_apart) {
    CacheStack s;
    const std::string path = "/x/vary-lang";
    const std::string target = path + "?" + kMaxAge60 + "&vary=X-Lang";
    BOOST_TEST(serial(store(s, target, {{"X-Lang", "en"}})) == 1);
    BOOST_TEST(serial(store(s, target, {{"X-Lang", "fr"}})) == 2);
    auto en = get(s.endpoint(), target, {{"X-Lang", "en"}});
    auto fr = get(s.endpoint(), target, {{"X-Lang", "fr"}});
    BOOST_TEST(xcache(en) == "HIT", show(en));
    BOOST_TEST(xcache(fr) == "HIT", show(fr));
    BOOST_TEST(serial(en) == 1);
    BOOST_TEST(serial(fr) == 2);
    BOOST_TEST(asked(s.app, path) == 2);
}

BOOST_AUTO_TEST_CASE(cache_key_is_normalised) {
    CacheStack s;
    const std::string path = "/x/key";
    store(s, path + "?a=1&b=2&" + kMaxAge60);
    struct Same {
        std::string target;
        Headers headers;
    };
    const std::vector<Same> same = {
        {path + "?b=2&" + kMaxAge60 + "&a=1", {}},                                    // order
        {path + "?utm_source=news&a=1&b=2&utm_medium=mail&" + kMaxAge60, {}},         // utm_*
        {path + "?a=1&fbclid=XYZ&b=2&gclid=1&" + kMaxAge60, {}},                      // fbclid, gclid
        {path + "?a=1&b=2&" + kMaxAge60, {{"Host", "PORTICO.Test"}}},                 // host case
        {path + "?a=1&b=2&" + kMaxAge60, {{"Host", "portico.test:80"}}},              // default port
    };
    for (const auto& v : same) {
        auto r = get(s.endpoint(), v.target, v.headers);
        BOOST_TEST(xcache(r) == "HIT", v.target << ": " << show(r));
    }
    BOOST_TEST(asked(s.app, path) == 1);
    // What does identify a resource still does.
    auto other_value = get(s.endpoint(), path + "?a=2&b=2&" + kMaxAge60);
    BOOST_TEST(xcache(other_value) == "MISS", show(other_value));
    auto other_host = get(s.endpoint(), path + "?a=1&b=2&" + kMaxAge60, {{"Host", "other.test"}});
    BOOST_TEST(xcache(other_host) == "MISS", show(other_host));
    BOOST_TEST(asked(s.app, path) == 3);

    // No query at all, an empty one, and only ignored parameters: one key.
    store(s, "/ttl/bare");
    for (const char* t : {"/ttl/bare?", "/ttl/bare?utm_source=x", "/ttl/bare?&"}) {
        auto r = get(s.endpoint(), t);
        BOOST_TEST(xcache(r) == "HIT", t << ": " << show(r));
    }
    BOOST_TEST(asked(s.app, "/ttl/bare") == 1);
}

BOOST_AUTO_TEST_CASE(absolute_form_cannot_poison_another_host) {
    CacheStack s;
    // absolute-form names victim.test while Host says attacker.test: the key and the Host the app
    // sees must agree (RFC 9112 §3.2.2: the proxy replaces Host with the target's authority), or
    // a response made for one host would be stored under the other.
    const std::string path = "/x/poison";
    auto first = http_request(s.endpoint(), make_request("GET", "http://victim.test" + path + "?" + kMaxAge60,
                                                         {{"Host", "attacker.test"}}));
    BOOST_TEST(first.status == 200, show(first));
    BOOST_TEST(last_headers(s.app, path).value("host", "") == "victim.test", last_headers(s.app, path).dump());
    BOOST_TEST(wait_stored(*s.portico, 1));
    auto victim = get(s.endpoint(), path + "?" + kMaxAge60, {{"Host", "victim.test"}});
    BOOST_TEST(xcache(victim) == "HIT", show(victim));
    auto attacker = get(s.endpoint(), path + "?" + kMaxAge60, {{"Host", "attacker.test"}});
    BOOST_TEST(xcache(attacker) == "MISS", show(attacker));
    BOOST_TEST(last_headers(s.app, path).value("host", "") == "attacker.test");
}

BOOST_AUTO_TEST_CASE(head_is_answered_from_the_stored_get) {
    CacheStack s;
    const std::string target = "/x/head?" + kMaxAge60 + "&size=5000";
    auto full = store(s, target);
    BOOST_TEST(full.body.size() == 5000u);
    auto head = request(s.endpoint(), "HEAD", target);
    BOOST_TEST(head.status == 200, show(head));
    BOOST_TEST(xcache(head) == "HIT", show(head));
    BOOST_TEST(head.body.empty());
    BOOST_TEST(head.header("content-length").value_or("") == "5000", show(head));
    BOOST_TEST(age(head) >= 0, show(head));
    check_single_fields(head);
    BOOST_TEST(asked(s.app, "/x/head") == 1);
    // The connection stays usable: no body bytes were sent after the HEAD answer.
    RawClient c(s.endpoint());
    BOOST_TEST_REQUIRE(c.send(make_request("HEAD", target) + make_request("GET", target)));
    auto h = c.read_response(10s, /*head_request=*/true);
    auto g = c.read_response(10s);
    BOOST_TEST(h.status == 200, show(h));
    BOOST_TEST(g.status == 200, show(g));
    BOOST_TEST(g.body == full.body);
}

BOOST_AUTO_TEST_CASE(range_on_a_stored_response_is_206_from_cache) {
    CacheStack s;
    const std::string target = "/x/range?" + kMaxAge60 + "&size=10000";
    store(s, target);
    auto part = get(s.endpoint(), target, {{"Range", "bytes=100-199"}});
    BOOST_TEST(part.status == 206, show(part));
    BOOST_TEST(part.header("content-range").value_or("") == "bytes 100-199/10000", show(part));
    BOOST_TEST(part.body == pattern_bytes(100, 100));
    BOOST_TEST(xcache(part) == "HIT", show(part));
    check_single_fields(part);
    auto suffix = get(s.endpoint(), target, {{"Range", "bytes=-50"}});
    BOOST_TEST(suffix.status == 206, show(suffix));
    BOOST_TEST(suffix.header("content-range").value_or("") == "bytes 9950-9999/10000", show(suffix));
    BOOST_TEST(suffix.body == pattern_bytes(9950, 50));
    auto open = get(s.endpoint(), target, {{"Range", "bytes=9000-"}});
    BOOST_TEST(open.status == 206, show(open));
    BOOST_TEST(open.body == pattern_bytes(9000, 1000));
    BOOST_TEST(asked(s.app, "/x/range") == 1);
}

BOOST_AUTO_TEST_CASE(max_stale_accepts_a_stale_entry) {
    CacheStack s;
    const std::string target = "/x/max-stale?cc=" + q("max-age=1");
    auto first = store(s, target);
    // Stale now: only-if-cached no longer finds anything fresh (and asks nobody).
    BOOST_TEST_REQUIRE(eventually(
        [&] { return get(s.endpoint(), target, {{"Cache-Control", "only-if-cached"}}).status == 504; }, 8s, 50ms));
    auto r = get(s.endpoint(), target, {{"Cache-Control", "max-stale=3600"}});
    BOOST_TEST(r.status == 200, show(r));
    BOOST_TEST(xcache(r) == "STALE", show(r));
    BOOST_TEST(r.body == first.body, "the stored response, not a new fetch");
    BOOST_TEST(serial(r) == 1);
    // (Portico also refreshes the entry in the background here: allowed, not asked for.)
}

BOOST_AUTO_TEST_CASE(misses_that_must_not_poison_the_cache) {
    CacheStack s;
    // A HEAD on a miss: whatever portico does with it, a later GET gets the whole body.
    const std::string head_first = "/x/head-first?" + kMaxAge60 + "&size=5000";
    auto head = request(s.endpoint(), "HEAD", head_first);
    BOOST_TEST(head.status == 200, show(head));
    BOOST_TEST(eventually([&] { return cache_stats(*s.portico).value("in_flight", 0) == 0; }, 5s));
    for (int i = 0; i < 2; ++i) {
        auto g = get(s.endpoint(), head_first);
        BOOST_TEST(g.status == 200, show(g));
        BOOST_TEST(g.body == pattern_bytes(0, 5000), "GET after HEAD got " << g.body.size() << " bytes: " << show(g));
        wait_stored(*s.portico, 1);
    }
    // A Range request on a miss: the client gets the range or the whole; a later GET the whole.
    const std::string range_first = "/x/range-first?" + kMaxAge60 + "&size=10000";
    auto part = get(s.endpoint(), range_first, {{"Range", "bytes=0-99"}});
    BOOST_TEST((part.status == 206 || part.status == 200), show(part));
    if (part.status == 206) BOOST_TEST(part.body == pattern_bytes(0, 100));
    if (part.status == 200) BOOST_TEST(part.body == pattern_bytes(0, 10000));
    BOOST_TEST(eventually([&] { return cache_stats(*s.portico).value("in_flight", 0) == 0; }, 5s));
    for (int i = 0; i < 2; ++i) {
        auto g = get(s.endpoint(), range_first);
        BOOST_TEST(g.status == 200, show(g));
        BOOST_TEST(g.body == pattern_bytes(0, 10000), "GET after a Range miss got " << g.body.size() << " bytes");
    }
    // A conditional request on a miss, answered 304 by the app: the 304 is not the stored response.
    const std::string cond_first = "/x/cond-first?" + kMaxAge60 + "&etag=c1";
    auto cond = get(s.endpoint(), cond_first, {{"If-None-Match", "\"c1\""}});
    BOOST_TEST(cond.status == 304, show(cond));
    BOOST_TEST(eventually([&] { return cache_stats(*s.portico).value("in_flight", 0) == 0; }, 5s));
    for (int i = 0; i < 2; ++i) {
        auto g = get(s.endpoint(), cond_first);
        BOOST_TEST(g.status == 200, "a plain GET after a conditional miss: " << show(g));
        BOOST_TEST(serial(g) >= 1, show(g));
    }
}

BOOST_AUTO_TEST_CASE(pipelined_hits_wait_their_turn) {
    CacheStack s;
    const std::string hit = "/x/pipe-hit?" + kMaxAge60;
    store(s, hit);
    // A slow miss, then a hit, then a fast miss, in one write: the answers come back in order.
    RawClient c(s.endpoint());
    BOOST_TEST_REQUIRE(c.send(make_request("GET", "/x/pipe-slow?" + kMaxAge60 + "&delay=500") +
                              make_request("GET", hit) + make_request("GET", "/x/pipe-fast?" + kMaxAge60)));
    auto a = c.read_response();
    auto b = c.read_response();
    auto d = c.read_response();
    BOOST_TEST(a.status == 200, show(a));
    BOOST_TEST(b.status == 200, show(b));
    BOOST_TEST(d.status == 200, show(d));
    auto path_of = [](const HttpResponse& r) {
        try {
            return nlohmann::json::parse(r.body).value("path", std::string("?"));
        } catch (const std::exception&) {
            return std::string("<not JSON>");
        }
    };
    BOOST_TEST(path_of(a) == "/x/pipe-slow");
    BOOST_TEST(path_of(b) == "/x/pipe-hit");
    BOOST_TEST(xcache(b) == "HIT", show(b));
    BOOST_TEST(path_of(d) == "/x/pipe-fast");
}

BOOST_AUTO_TEST_CASE(admin_counts_every_decision) {
    CacheStack s;
    const std::string target = "/x/counted?" + kMaxAge60;
    store(s, target);
    get(s.endpoint(), target);
    get(s.endpoint(), target);
    get(s.endpoint(), "/x/counted-cookie?" + kMaxAge60 + "&cookie=a%3Db");
    json st = cache_stats(*s.portico);
    BOOST_TEST(st.value("hits", -1) == 2, st.dump());
    BOOST_TEST(st.value("misses", -1) == 1, st.dump());
    BOOST_TEST(st.value("bypass", -1) == 1, st.dump());
    BOOST_TEST(st.value("stores", -1) == 1, st.dump());
    BOOST_TEST(st.value("entries", -1) == 1, st.dump());
    BOOST_TEST(st.value("bytes", -1) > 0, st.dump());
    auto m = metrics_text(*s.portico);
    BOOST_TEST(metric(m, "portico_cache_requests_total{result=\"hit\"}") == 2, m);
    BOOST_TEST(metric(m, "portico_cache_requests_total{result=\"miss\"}") == 1, m);
    // Bypass by reason, in /cache and in /metrics.
    BOOST_TEST(st.contains("bypass_by_reason"), st.dump());
    if (st.contains("bypass_by_reason")) BOOST_TEST(st["bypass_by_reason"].value("set-cookie", -1) == 1, st.dump());
    BOOST_TEST(metric_sum(m, "portico_cache_bypass", "set-cookie") == 1, m);
    // /stats carries the cache section too.
    auto stats = s.portico->admin("GET", "/stats");
    BOOST_TEST(stats.json().contains("cache"), stats.body);
}

BOOST_AUTO_TEST_SUITE_END()
