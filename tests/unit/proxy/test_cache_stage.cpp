// The proxy's cache stage pieces: what a stored head keeps, the store/bypass plan with its
// Cache-Status detail, the 304 merge, the lookup through a Vary marker, and the fill budget.
#define BOOST_TEST_MODULE proxy_cache_stage
#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "cache/entry_codec.hpp"
#include "proxy/cache_stage.hpp"
#include "proxy/http_parser.hpp"
#include "parse_head.hpp"

using namespace portico;
using namespace portico::proxy;

namespace {

MessageHead parse(llhttp_type_t type, const std::string& raw) { return test::parse_head(type, raw); }

std::vector<cache::HeaderField> fields_of(const MessageHead& head) {
    std::vector<cache::HeaderField> out;
    collect_fields(head, out);
    return out;
}

bool contains(const std::string& haystack, const std::string& needle) { return haystack.find(needle) != std::string::npos; }

const cache::Instant kNow{cache::Seconds{1'800'000'000}};

struct TempCache {
    std::string dir;
    std::unique_ptr<CacheRuntime> runtime;
    TempCache() {
        char pattern[] = "/tmp/cache-stage-XXXXXX";
        dir = mkdtemp(pattern);
        conf::CacheConfig config;
        config.path = dir + "/cache";
        config.max_size = 8ull << 20;
        runtime = open_cache(config);
    }
    ~TempCache() {
        runtime.reset();
        std::filesystem::remove_all(dir);
    }
};

}  // namespace

BOOST_AUTO_TEST_CASE(stored_head_keeps_what_every_client_may_see) {
    MessageHead response = parse(HTTP_RESPONSE,
                                 "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n"
                                 "Connection: keep-alive, X-Hop\r\nX-Hop: 1\r\nAge: 5\r\nSurrogate-Key: a b\r\n"
                                 "Cache-Tag: c\r\nServer-Timing: app;dur=3\r\nX-Request-ID: r1\r\n"
                                 "Cache-Control: max-age=60, private=\"X-User\"\r\nX-User: alice\r\nETag: \"e\"\r\n\r\nok");
    auto fields = fields_of(response);
    std::string block;
    build_stored_head(block, response, cache::effective_response_cache_control(fields).directives);
    BOOST_TEST(contains(block, "Content-Type: text/plain\r\n"));
    BOOST_TEST(contains(block, "ETag: \"e\"\r\n"));
    BOOST_TEST(contains(block, "Cache-Control: max-age=60"));
    for (const char* gone : {"Content-Length", "Connection", "X-Hop", "Age", "Surrogate-Key", "Cache-Tag",
                             "Server-Timing", "X-Request-ID", "X-User"}) {
        BOOST_TEST_CONTEXT(gone) { BOOST_TEST(!contains(block, std::string(gone) + ":"), block); }
    }
}

BOOST_AUTO_TEST_CASE(targeted_fields_are_kept_out_of_the_stored_head) {
    MessageHead response = parse(HTTP_RESPONSE,
                                 "HTTP/1.1 200 OK\r\nCDN-Cache-Control: max-age=9\r\nPortico-Cache-Control: max-age=5\r\n"
                                 "Surrogate-Control: max-age=3\r\nCache-Control: max-age=1\r\nContent-Length: 0\r\n\r\n");
    auto fields = fields_of(response);
    std::string block;
    build_stored_head(block, response, cache::effective_response_cache_control(fields).directives);
    BOOST_TEST(block == "Cache-Control: max-age=1\r\n");
}

BOOST_AUTO_TEST_CASE(plan_says_why_a_response_is_not_stored) {
    MessageHead request = parse(HTTP_REQUEST, "GET /a HTTP/1.1\r\nHost: h\r\n\r\n");
    auto request_fields = fields_of(request);
    cache::RoutePolicyView route;
    auto plan_for = [&](const std::string& raw, uint64_t max_object = 1 << 20) {
        MessageHead response = parse(HTTP_RESPONSE, raw);
        return plan_store("GET", response, request_fields, fields_of(response), route, kNow, kNow, max_object,
                          "http://h/a");
    };
    StorePlan stored = plan_for("HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nSurrogate-Key: t1 t2\r\n"
                                "Vary: Accept-Encoding\r\nContent-Length: 2\r\n\r\nok");
    BOOST_TEST_REQUIRE(static_cast<bool>(stored.entry));
    BOOST_TEST(stored.entry->primary == "http://h/a");
    BOOST_TEST(stored.entry->vary_names == "Accept-Encoding");
    BOOST_TEST(!stored.entry->variant.empty());
    BOOST_TEST(stored.entry->tags.size() == 2u);
    BOOST_TEST(stored.entry->facts.lifetime.count() == 60);

    BOOST_TEST(plan_for("HTTP/1.1 200 OK\r\nCache-Control: no-store\r\nContent-Length: 2\r\n\r\nok").detail == "no-store");
    BOOST_TEST(plan_for("HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nSet-Cookie: s=1\r\nContent-Length: 2\r\n\r\nok")
                   .detail == "set-cookie");
    BOOST_TEST(plan_for("HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\n\r\nok").detail == "incomplete");
    BOOST_TEST(plan_for("HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nContent-Length: 2000\r\n\r\n", 1000).detail ==
               "too-large");
    route.store_set_cookie = true;
    BOOST_TEST(static_cast<bool>(
        plan_for("HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nSet-Cookie: s=1\r\nContent-Length: 2\r\n\r\nok").entry));
}

BOOST_AUTO_TEST_CASE(a_matching_304_refreshes_the_stored_head) {
    std::string stored = "Content-Type: text/plain\r\nETag: \"v1\"\r\nCache-Control: max-age=1\r\nX-Old: 1\r\n";
    MessageHead not_modified =
        parse(HTTP_RESPONSE, "HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nCache-Control: max-age=120\r\nX-New: 2\r\n\r\n");
    auto refreshed = refresh_with_304(stored, 200, fields_of(not_modified), {}, kNow, kNow);
    BOOST_TEST_REQUIRE(refreshed.has_value());
    BOOST_TEST(contains(refreshed->head, "Cache-Control: max-age=120\r\n"));
    BOOST_TEST(!contains(refreshed->head, "max-age=1\r\n"));
    BOOST_TEST(contains(refreshed->head, "X-Old: 1\r\n"));
    BOOST_TEST(contains(refreshed->head, "X-New: 2\r\n"));
    BOOST_TEST(refreshed->facts.lifetime.count() == 120);
    MessageHead other = parse(HTTP_RESPONSE, "HTTP/1.1 304 Not Modified\r\nETag: \"v2\"\r\n\r\n");
    BOOST_TEST(!refresh_with_304(stored, 200, fields_of(other), {}, kNow, kNow).has_value());
}

BOOST_AUTO_TEST_CASE(lookup_follows_the_vary_marker) {
    TempCache c;
    BOOST_TEST_REQUIRE(c.runtime != nullptr);
    MessageHead gzip = parse(HTTP_REQUEST, "GET /v HTTP/1.1\r\nHost: h\r\nAccept-Encoding: gzip, deflate\r\n\r\n");
    MessageHead plain = parse(HTTP_REQUEST, "GET /v HTTP/1.1\r\nHost: h\r\n\r\n");
    MessageHead response =
        parse(HTTP_RESPONSE, "HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nVary: Accept-Encoding\r\nContent-Length: 2\r\n\r\n");
    std::string primary;
    request_primary_key(primary, gzip, key_options(conf::CacheConfig{}));
    BOOST_TEST(primary == "http://h/v");
    StorePlan plan = plan_store("GET", response, fields_of(gzip), fields_of(response), {}, kNow, kNow, 1 << 20, primary);
    BOOST_TEST_REQUIRE(static_cast<bool>(plan.entry));
    plan.entry->body = "gz";
    c.runtime->writer->put(std::move(*plan.entry));
    c.runtime->writer->flush();

    std::string variant;
    cache::Snapshot snapshot = c.runtime->store->snapshot();
    Found found = find_entry(snapshot, primary, fields_of(gzip), variant);
    BOOST_TEST(found.varies);
    BOOST_TEST_REQUIRE(found.entry.has_value());
    BOOST_TEST(found.entry->body == "gz");
    MessageHead gzip_only = parse(HTTP_REQUEST, "GET /v HTTP/1.1\r\nHost: h\r\nAccept-Encoding: gzip\r\n\r\n");
    BOOST_TEST(find_entry(snapshot, primary, fields_of(gzip_only), variant).entry.has_value());  // same variant
    Found other = find_entry(snapshot, primary, fields_of(plain), variant);
    BOOST_TEST(other.varies);
    BOOST_TEST(!other.entry.has_value());
}

BOOST_AUTO_TEST_CASE(fill_respects_the_object_limit_and_gives_its_budget_back) {
    TempCache c;
    BOOST_TEST_REQUIRE(c.runtime != nullptr);
    {
        StoreFill fill(*c.runtime, std::make_unique<cache::EntryToStore>(), 10);
        BOOST_TEST(fill.append("12345"));
        BOOST_TEST(c.runtime->filling.load() == 5u);
        BOOST_TEST(!fill.append("1234567"));  // 12 > 10: dropped
        BOOST_TEST(!static_cast<bool>(fill));
        BOOST_TEST(c.runtime->filling.load() == 0u);
    }
    {
        StoreFill fill(*c.runtime, std::make_unique<cache::EntryToStore>(), 100);
        fill.append("abc");
        cache::EntryToStore entry = fill.take();
        BOOST_TEST(entry.body == "abc");
        BOOST_TEST(c.runtime->filling.load() == 0u);
    }
    {
        StoreFill fill(*c.runtime, std::make_unique<cache::EntryToStore>(), 100);
        fill.append("abc");
    }  // destroyed mid-copy (client gone): budget returned
    BOOST_TEST(c.runtime->filling.load() == 0u);
}

BOOST_AUTO_TEST_CASE(cache_lines) {
    std::string out;
    append_cache_lines(out, XCache::bypass, "fwd=bypass; detail=no-store");
    BOOST_TEST(out == "X-Cache: BYPASS\r\nCache-Status: portico; fwd=bypass; detail=no-store\r\n");
}

BOOST_AUTO_TEST_CASE(an_invalidated_key_misses_before_its_removal_commits) {
    PendingRemovals pending;
    BOOST_TEST(!pending.contains("http://h/a"));
    pending.add("http://h/a");
    pending.add("http://h/a");  // two unsafe requests in flight for one key
    BOOST_TEST(pending.contains("http://h/a"));
    BOOST_TEST(!pending.contains("http://h/b"));
    pending.committed("http://h/a");
    BOOST_TEST(pending.contains("http://h/a"));  // the second removal is still queued
    pending.committed("http://h/a");
    BOOST_TEST(!pending.contains("http://h/a"));

    TempCache c;
    BOOST_TEST_REQUIRE(c.runtime != nullptr);
    invalidate(*c.runtime, "http://h/x");
    c.runtime->writer->flush();  // the writer's callback clears the key after its commit
    BOOST_TEST(!c.runtime->pending_removals.contains("http://h/x"));
}

BOOST_AUTO_TEST_CASE(validators_come_from_the_stored_head) {
    std::vector<cache::HeaderField> scratch;
    std::string out;
    append_validators(out, "ETag: \"v1\"\r\nLast-Modified: Sun, 06 Nov 1994 08:49:37 GMT\r\n", scratch);
    BOOST_TEST(out == "If-None-Match: \"v1\"\r\nIf-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n");
    out.clear();
    append_validators(out, "Content-Type: text/plain\r\n", scratch);
    BOOST_TEST(out.empty());
}
