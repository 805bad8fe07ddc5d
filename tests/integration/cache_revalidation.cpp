// Revalidation and serving stale, against the real binary and the cache app: a stale entry with an
// ETag or Last-Modified is revalidated and a 304 refreshes the stored headers (RFC 9111 §4.3.4);
// clients' own conditional requests are answered 304 from cache (§4.3.2); stale-while-revalidate
// serves STALE while exactly one background fetch refreshes; stale-if-error serves the stored
// response when the app answers 5xx, drops the connection or is not running at all (RFC 5861).
#include "cache_support.hpp"

using namespace portico::test;
using namespace portico::test::cache;

BOOST_AUTO_TEST_SUITE(cache_revalidation)

BOOST_AUTO_TEST_CASE(etag_revalidation_refreshes_the_stored_headers) {
    CacheStack s;
    const std::string path = "/x/reval-etag";
    const std::string target = path + "?cc=" + q("max-age=1") + "&etag=v1";
    auto first = store(s, target);
    BOOST_TEST(header_serial(first) == 1);
    // From now on the app answers with a longer lifetime (the key stays the same): the 304 carries
    // it, and the stored entry must take it, with the 304's X-App-Serial.
    app_override(s.app, path, {{"cc", "max-age=60"}, {"hdr", "X-Refreshed: yes"}});
    auto r = first_non_hit(s.endpoint(), target);
    BOOST_TEST(r.status == 200, show(r));
    BOOST_TEST(xcache(r) == "REVALIDATED", show(r));
    BOOST_TEST(has(cstatus(r), "fwd=stale"), cstatus(r));
    BOOST_TEST(has(cstatus(r), "fwd-status=304"), cstatus(r));
    BOOST_TEST(r.body == first.body, "the stored body, not a new one");
    BOOST_TEST(conditionals(s.app, path) == 1);
    BOOST_TEST(not_modified(s.app, path) == 1);
    BOOST_TEST(full_answers(s.app, path) == 1);
    BOOST_TEST(last_headers(s.app, path).value("if-none-match", "") == "\"v1\"");
    // Refreshed from the 304 (RFC 9111 §3.2, §4.3.4).
    BOOST_TEST(header_serial(r) == 2, show(r));
    BOOST_TEST(r.header("cache-control").value_or("") == "max-age=60", show(r));
    BOOST_TEST(r.header("x-refreshed").value_or("") == "yes", show(r));
    BOOST_TEST(r.header("etag").value_or("") == "\"v1\"");
    check_single_fields(r);

    // The refreshed entry is fresh for 60 s now, with the new headers.
    bool hit = eventually(
        [&] {
            auto h = get(s.endpoint(), target);
            return xcache(h) == "HIT" && header_serial(h) == 2 && h.header("x-refreshed") == std::optional<std::string>("yes");
        },
        5s, 20ms);
    BOOST_TEST(hit);
    BOOST_TEST(asked(s.app, path) == 2);
    BOOST_TEST(metric(metrics_text(*s.portico), "portico_cache_requests_total{result=\"revalidated\"}") == 1);
}

BOOST_AUTO_TEST_CASE(a_304_never_replaces_what_it_must_not) {
    CacheStack s;
    const std::string path = "/x/reval-guard";
    const std::string target = path + "?cc=" + q("max-age=1") + "&etag=g1&size=5000";
    auto first = store(s, target);
    // The app's 304 says Content-Length: 0 and sets a cookie for this one client.
    app_override(s.app, path, {{"cc", "max-age=60"}, {"hdr", json::array({"Content-Length: 0", "Set-Cookie: sid=for-one-client"})}});
    auto r = first_non_hit(s.endpoint(), target);
    BOOST_TEST(r.status == 200, show(r));
    BOOST_TEST(xcache(r) == "REVALIDATED", show(r));
    // RFC 9111 §3.2: Content-Length is not updated from a 304.
    BOOST_TEST(r.header("content-length").value_or("") == "5000", show(r));
    BOOST_TEST(r.body == pattern_bytes(0, 5000));
    // A shared cache never stores Set-Cookie (DESIGN.md): the next client must not get that cookie.
    auto next = get(s.endpoint(), target);
    BOOST_TEST(xcache(next) == "HIT", show(next));
    BOOST_TEST(next.body == pattern_bytes(0, 5000), show(next));
    BOOST_TEST(!has(next.header("set-cookie").value_or(""), "sid=for-one-client"),
               "another client got the cookie a 304 carried: " << show(next));
}

BOOST_AUTO_TEST_CASE(last_modified_revalidation) {
    CacheStack s;
    const std::string path = "/x/reval-lm";
    const std::string target = path + "?cc=" + q("max-age=1") + "&lm=86400";
    auto first = store(s, target);
    app_override(s.app, path, {{"cc", "max-age=60"}});
    auto r = first_non_hit(s.endpoint(), target);
    BOOST_TEST(r.status == 200, show(r));
    BOOST_TEST(xcache(r) == "REVALIDATED", show(r));
    BOOST_TEST(r.body == first.body);
    BOOST_TEST(last_headers(s.app, path).value("if-modified-since", "") == first.header("last-modified").value_or("?"));
    BOOST_TEST(not_modified(s.app, path) == 1);
    BOOST_TEST(full_answers(s.app, path) == 1);
}

BOOST_AUTO_TEST_CASE(response_no_cache_is_revalidated_on_every_use) {
    CacheStack s;
    const std::string path = "/x/resp-no-cache";
    const std::string target = path + "?cc=" + q("no-cache, max-age=600") + "&etag=nc1";
    auto first = store(s, target);
    for (int i = 1; i <= 3; ++i) {
        auto r = get(s.endpoint(), target);
        BOOST_TEST(r.status == 200, show(r));
        BOOST_TEST(xcache(r) == "REVALIDATED", "use " << i << ": " << show(r));
        BOOST_TEST(r.body == first.body);
        BOOST_TEST(conditionals(s.app, path) == i);
    }
    BOOST_TEST(full_answers(s.app, path) == 1);
}

BOOST_AUTO_TEST_CASE(changed_validator_replaces_the_entry) {
    CacheStack s;
    const std::string path = "/x/reval-changed";
    const std::string target = path + "?cc=" + q("max-age=1") + "&etag=v1";
    store(s, target);
    app_override(s.app, path, {{"cc", "max-age=60"}, {"etag", "v2"}});
    auto r = first_non_hit(s.endpoint(), target);
    BOOST_TEST(r.status == 200, show(r));
    BOOST_TEST(serial(r) == 2, "the new body: " << show(r));
    BOOST_TEST(r.header("etag").value_or("") == "\"v2\"");
    BOOST_TEST(conditionals(s.app, path) == 1);
    BOOST_TEST(full_answers(s.app, path) == 2);
    bool replaced = eventually(
        [&] {
            auto h = get(s.endpoint(), target);
            return xcache(h) == "HIT" && serial(h) == 2;
        },
        5s, 20ms);
    BOOST_TEST(replaced);
}

BOOST_AUTO_TEST_CASE(client_conditionals_answered_from_cache) {
    CacheStack s;
    const std::string path = "/x/client-cond";
    const std::string target = path + "?cc=" + q("max-age=60") + "&etag=v7&lm=86400";
    auto stored = store(s, target);
    const std::string lm = stored.header("last-modified").value_or("?");

    auto inm = get(s.endpoint(), target, {{"If-None-Match", "\"v7\""}});
    BOOST_TEST(inm.status == 304, show(inm));
    BOOST_TEST(inm.body.empty());
    BOOST_TEST(inm.header("etag").value_or("") == "\"v7\"", show(inm));
    BOOST_TEST(age(inm) >= 0, show(inm));
    BOOST_TEST(xcache(inm) == "HIT", show(inm));
    check_single_fields(inm);

    auto weak = get(s.endpoint(), target, {{"If-None-Match", "\"x\", W/\"v7\""}});
    BOOST_TEST(weak.status == 304, "weak comparison for If-None-Match: " << show(weak));

    auto other = get(s.endpoint(), target, {{"If-None-Match", "\"other\""}});
    BOOST_TEST(other.status == 200, show(other));
    BOOST_TEST(xcache(other) == "HIT", show(other));
    BOOST_TEST(other.body == stored.body);

    // RFC 9110 §15.4.5: a 304 carries the fields a 200 would have had: Cache-Control, Date, ETag, Vary.
    BOOST_TEST(inm.header("cache-control").value_or("") == "max-age=60", show(inm));
    BOOST_TEST(inm.header("date").has_value(), show(inm));
    auto star = get(s.endpoint(), target, {{"If-None-Match", "*"}});
    BOOST_TEST(star.status == 304, "If-None-Match: * on a stored entry: " << show(star));
    // If-None-Match wins over If-Modified-Since (RFC 9110 §13.1.3): a non-matching tag means 200
    // even with a date that would match.
    auto both = get(s.endpoint(), target, {{"If-None-Match", "\"other\""}, {"If-Modified-Since", lm}});
    BOOST_TEST(both.status == 200, "If-Modified-Since was not ignored: " << show(both));
    BOOST_TEST(both.body == stored.body);

    auto ims = get(s.endpoint(), target, {{"If-Modified-Since", lm}});
    BOOST_TEST(ims.status == 304, show(ims));
    auto old = get(s.endpoint(), target, {{"If-Modified-Since", "Thu, 01 Jan 1998 00:00:00 GMT"}});
    BOOST_TEST(old.status == 200, show(old));
    BOOST_TEST(old.body == stored.body);

    BOOST_TEST(asked(s.app, path) == 1, "every conditional was answered by portico");
    BOOST_TEST(conditionals(s.app, path) == 0);

    // A 304 for a varying resource names its Vary.
    const std::string varying = "/x/client-cond-vary?cc=" + q("max-age=60") + "&etag=v8&vary=X-Lang";
    store(s, varying, {{"X-Lang", "en"}});
    auto v = get(s.endpoint(), varying, {{"X-Lang", "en"}, {"If-None-Match", "\"v8\""}});
    BOOST_TEST(v.status == 304, show(v));
    BOOST_TEST(v.header("vary").value_or("") == "X-Lang", show(v));
}

BOOST_AUTO_TEST_CASE(stale_while_revalidate_one_background_fetch) {
    CacheStack s;
    const std::string path = "/x/swr";
    const std::string target = path + "?cc=" + q("max-age=1, stale-while-revalidate=30");
    auto first = store(s, target);
    // The refresh is slow and brings a long lifetime, so every request during it sees the old one.
    app_override(s.app, path, {{"cc", "max-age=60, stale-while-revalidate=30"}, {"delay", "1500"}});
    auto stale = first_non_hit(s.endpoint(), target);
    BOOST_TEST(stale.status == 200, show(stale));
    BOOST_TEST(xcache(stale) == "STALE", show(stale));
    BOOST_TEST(serial(stale) == 1, "served the stored one: " << show(stale));
    BOOST_TEST(age(stale) >= 1, show(stale));
    check_single_fields(stale);
    // More requests while the refresh runs: still the stale one, no second fetch.
    auto during = concurrent(s.endpoint(), "GET", target, 10);
    for (const auto& r : during) {
        BOOST_TEST(r.status == 200, show(r));
        BOOST_TEST((xcache(r) == "STALE" || xcache(r) == "HIT"), show(r));
    }
    BOOST_TEST(eventually([&] { return asked(s.app, path) == 2; }, 10s, 50ms), "no background fetch");
    BOOST_TEST(eventually([&] {
        auto r = get(s.endpoint(), target);
        return xcache(r) == "HIT" && serial(r) == 2;
    }, 5s, 50ms), "the refreshed response never arrived");
    BOOST_TEST(asked(s.app, path) == 2, "exactly one background fetch");
    BOOST_TEST(metric(metrics_text(*s.portico), "portico_cache_requests_total{result=\"stale\"}") >= 1);
}

BOOST_AUTO_TEST_CASE(a_failed_background_refresh_keeps_the_entry) {
    CacheStack s;
    const std::string path = "/x/swr-fail";
    const std::string target = path + "?cc=" + q("max-age=1, stale-while-revalidate=60");
    auto first = store(s, target);
    app_override(s.app, path, {{"fail", "500"}});
    auto stale = first_non_hit(s.endpoint(), target);
    BOOST_TEST(stale.status == 200, show(stale));
    BOOST_TEST(xcache(stale) == "STALE", show(stale));
    BOOST_TEST(eventually([&] { return asked(s.app, path) >= 2; }, 5s), "no background fetch");
    BOOST_TEST(eventually([&] { return cache_stats(*s.portico).value("in_flight", 0) == 0; }, 5s));
    // The 500 did not replace the stored response: still served stale, never the error.
    for (int i = 0; i < 3; ++i) {
        auto r = get(s.endpoint(), target);
        BOOST_TEST(r.status == 200, "a failed refresh replaced the entry: " << show(r));
        BOOST_TEST(r.body == first.body);
    }
}

BOOST_AUTO_TEST_CASE(stale_while_revalidate_from_the_route) {
    CacheStack s;
    // "/swr/*": ttl 1s, stale_while_revalidate 30s; the app says nothing about caching.
    const std::string path = "/swr/a";
    store(s, path);
    auto stale = first_non_hit(s.endpoint(), path);
    BOOST_TEST(stale.status == 200, show(stale));
    BOOST_TEST(xcache(stale) == "STALE", show(stale));
    BOOST_TEST(serial(stale) == 1);
    BOOST_TEST(eventually([&] { return asked(s.app, path) == 2; }, 10s, 50ms), "no background fetch");
}

BOOST_AUTO_TEST_CASE(stale_if_error_on_5xx_and_dropped_connections) {
    CacheStack s;
    for (const char* how : {"500", "close"}) {
        const std::string path = fmt::format("/x/sie-{}", how);
        const std::string target = path + "?cc=" + q("max-age=1, stale-if-error=3600");
        auto first = store(s, target);
        app_override(s.app, path, {{"fail", how}});
        auto r = first_non_hit(s.endpoint(), target);
        BOOST_TEST(r.status == 200, how << ": " << show(r));
        BOOST_TEST(xcache(r) == "STALE", how << ": " << show(r));
        BOOST_TEST(r.body == first.body, how);
        BOOST_TEST(asked(s.app, path) >= 2, how << ": the upstream was asked");
    }
    // Without stale-if-error the error reaches the client.
    const std::string path = "/x/sie-none";
    const std::string target = path + "?cc=" + q("max-age=1");
    store(s, target);
    app_override(s.app, path, {{"fail", "500"}});
    auto r = first_non_hit(s.endpoint(), target);
    BOOST_TEST(r.status == 500, show(r));
    // must-revalidate forbids it even with stale-if-error (RFC 9111 §4.2.4, RFC 5861 §4).
    const std::string strict = "/x/sie-must";
    store(s, strict + "?cc=" + q("max-age=1, must-revalidate, stale-if-error=3600"));
    app_override(s.app, strict, {{"fail", "500"}});
    auto m = first_non_hit(s.endpoint(), strict + "?cc=" + q("max-age=1, must-revalidate, stale-if-error=3600"));
    BOOST_TEST(m.status >= 500, show(m));
}

BOOST_AUTO_TEST_CASE(stale_if_error_on_an_upstream_timeout) {
    CacheSetup setup;
    setup.tweak = [](PorticoSettings& p) { p.read_timeout = "1s"; };
    CacheStack s(setup);
    const std::string path = "/x/sie-timeout";
    const std::string target = path + "?cc=" + q("max-age=1, stale-if-error=3600");
    auto first = store(s, target);
    app_override(s.app, path, {{"delay", "4000"}});  // longer than read_timeout
    auto r = first_non_hit(s.endpoint(), target);
    BOOST_TEST(r.status == 200, show(r));
    BOOST_TEST(xcache(r) == "STALE", show(r));
    BOOST_TEST(r.body == first.body);
}

BOOST_AUTO_TEST_CASE(stale_if_error_with_the_app_stopped) {
    CacheStack s;
    // From the response's directive, and from the route ("/sie/*": ttl 1s, stale_if_error 1h).
    const std::string own = "/x/sie-down?cc=" + q("max-age=1, stale-if-error=3600");
    const std::string route = "/sie/down";
    auto own_first = store(s, own);
    auto route_first = store(s, route);
    s.app.stop();
    auto r = first_non_hit(s.endpoint(), own);
    BOOST_TEST(r.status == 200, show(r));
    BOOST_TEST(xcache(r) == "STALE", show(r));
    BOOST_TEST(r.body == own_first.body);
    auto rr = first_non_hit(s.endpoint(), route);
    BOOST_TEST(rr.status == 200, show(rr));
    BOOST_TEST(xcache(rr) == "STALE", show(rr));
    BOOST_TEST(rr.body == route_first.body);
    // Something never stored gets the error.
    auto none = get(s.endpoint(), "/x/never-stored?cc=" + q("max-age=60"));
    BOOST_TEST(none.status == 502, show(none));
    // Back up: the next request fetches a fresh copy.
    s.app.start();  // with fresh counters
    bool fresh = eventually(
        [&] {
            auto f = get(s.endpoint(), own);
            return f.status == 200 && xcache(f) != "STALE" && asked(s.app, "/x/sie-down") >= 1;
        },
        10s, 100ms);
    BOOST_TEST(fresh);
}

BOOST_AUTO_TEST_SUITE_END()
