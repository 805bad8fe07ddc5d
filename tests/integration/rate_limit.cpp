// Rate limiting against the real binary and the real app: two client addresses through a trusted
// X-Forwarded-For give exact counts of 200s and 429s over a fixed burst, shared by two workers; the
// 429 (Retry-After, RateLimit-*, JSON) and the RateLimit-* fields of allowed answers; an untrusted
// peer's X-Forwarded-For ignored; a header as the key; dry_run counting and logging without
// refusing; refill; other routes untouched; counters in /stats and /metrics.
#include <boost/test/unit_test.hpp>

#include <fmt/core.h>

#include <map>
#include <thread>

#include "harness.hpp"

using namespace portico::test;
using nlohmann::json;

namespace {

// 1/m: nothing refills while a test runs, so the counts are exact.
constexpr std::string_view kRoutes =
    "  patterns:\n"
    "    \"/echo/limited/*\": { rate_limit: { rate: 1/m, burst: 5 } }\n"
    "    \"/echo/apikey/*\": { rate_limit: { rate: 1/m, burst: 3, key: \"header:X-Api-Key\" } }\n"
    "    \"/echo/dry/*\": { rate_limit: { rate: 1/m, burst: 2, dry_run: true } }\n"
    "    \"/echo/fast/*\": { rate_limit: { rate: 20/s, burst: 1 } }\n";

Stack limited_stack(std::string workers = "2", std::optional<std::string> trusted = std::nullopt) {
    return Stack([&](PorticoSettings& s) {
        s.workers = workers;
        s.routes = std::string(kRoutes);
        s.trusted_proxies = trusted;
    });
}

// One GET on a fresh connection.
HttpResponse get_as(const Stack& s, const std::string& target, const Headers& headers) {
    return http_request(s.endpoint(), make_request("GET", target, headers));
}

json stats(const Portico& p) {
    auto r = p.admin("GET", "/stats");
    BOOST_TEST_REQUIRE(r.status == 200, r.describe());
    return r.json();
}

json route_stats(const Portico& p, const std::string& pattern) {
    json all = stats(p)["routes"];
    for (const auto& r : all)
        if (r["route"] == pattern) return r;
    return json{{"missing", pattern}, {"routes", all}};
}

std::string metrics_text(const Portico& p) {
    auto r = p.admin("GET", "/metrics");
    BOOST_TEST_REQUIRE(r.status == 200, r.describe());
    return r.body;
}

bool has_line(const std::string& text, const std::string& line) {
    return text.find("\n" + line + "\n") != std::string::npos;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(rate_limit)

BOOST_AUTO_TEST_CASE(two_client_ips_through_a_trusted_proxy_get_exact_counts) {
    Stack s = limited_stack("2");
    std::map<std::string, std::map<int, int>> statuses;  // ip -> status -> count
    // Interleaved, each on its own connection, so both workers see both clients.
    for (int i = 0; i < 8; ++i) {
        for (const char* ip : {"10.0.0.1", "10.0.0.2"}) {
            auto r = get_as(s, "/echo/limited/x", {{"X-Forwarded-For", std::string(ip) + ", 127.0.0.1"}});
            statuses[ip][r.status]++;
            if (r.status == 200) BOOST_TEST(r.json()["headers"]["x-real-ip"] == ip);
        }
    }
    for (const char* ip : {"10.0.0.1", "10.0.0.2"}) {
        BOOST_TEST_CONTEXT(ip) {
            BOOST_TEST(statuses[ip][200] == 5);
            BOOST_TEST(statuses[ip][429] == 3);
            BOOST_TEST(statuses[ip].size() == 2u);
        }
    }
    BOOST_TEST(s.app.count("/echo/limited/x") == 10, "429s never reach the app");
    json r = route_stats(*s.portico, "/echo/limited/*");
    BOOST_TEST(r["ratelimit_allowed"] == 10, r.dump());
    BOOST_TEST(r["ratelimit_rejected"] == 6, r.dump());
    json all = stats(*s.portico)["ratelimit"];
    BOOST_TEST(all["rejected"] == 6, all.dump());
    BOOST_TEST(all["allowed"] == 10, all.dump());
    std::string m = metrics_text(*s.portico);
    BOOST_TEST(has_line(m, "portico_ratelimit_rejected_total{route=\"/echo/limited/*\"} 6"), m);
    BOOST_TEST(has_line(m, "portico_ratelimit_allowed_total{route=\"/echo/limited/*\"} 10"), m);
    BOOST_TEST(has_line(m, "portico_http_requests_total{route=\"/echo/limited/*\",code=\"429\"} 6"), m);
    // Other routes are not limited.
    for (int i = 0; i < 8; ++i) BOOST_TEST(get_as(s, "/echo/free", {{"X-Forwarded-For", "10.0.0.1"}}).status == 200);
}

BOOST_AUTO_TEST_CASE(the_answers_say_how_much_is_left) {
    Stack s = limited_stack("1");
    RawClient c(s.endpoint());
    for (int i = 0; i < 5; ++i) {
        BOOST_TEST_REQUIRE(c.send(make_request("GET", "/echo/limited/a")));
        auto r = c.read_response();
        BOOST_TEST_REQUIRE(r.status == 200, r.describe());
        BOOST_TEST(r.header("ratelimit-limit").value_or("") == "5", r.describe());
        BOOST_TEST(r.header("ratelimit-remaining").value_or("") == std::to_string(4 - i), r.describe());
        int reset = std::atoi(r.header("ratelimit-reset").value_or("-1").c_str());
        BOOST_TEST(reset >= (i + 1) * 60 - 1, "Reset: seconds until the bucket is full again: " << r.describe());
        BOOST_TEST(reset <= (i + 1) * 60);
        BOOST_TEST(!r.header("retry-after").has_value());
    }
    // The 429, on the same keep-alive connection; and the connection goes on.
    for (int i = 0; i < 2; ++i) {
        BOOST_TEST_REQUIRE(c.send(make_request("GET", "/echo/limited/a")));
        auto r = c.read_response();
        BOOST_TEST(r.status == 429, r.describe());
        BOOST_TEST(r.header("content-type").value_or("") == "application/json");
        BOOST_TEST(r.header("ratelimit-limit").value_or("") == "5");
        BOOST_TEST(r.header("ratelimit-remaining").value_or("") == "0");
        int retry = std::atoi(r.header("retry-after").value_or("0").c_str());
        BOOST_TEST(retry >= 59, r.describe());  // one token at 1/m
        BOOST_TEST(retry <= 60, r.describe());
        BOOST_TEST(!r.has_token("connection", "close"), r.describe());
        BOOST_TEST(r.header("x-request-id").has_value());
        json body = r.json();
        BOOST_TEST(body["error"] == "rate limited");
        BOOST_TEST(body["route"] == "/echo/limited/*");
        BOOST_TEST(body["retry_after"] == retry);
    }
    // HEAD gets the same head without the body.
    BOOST_TEST_REQUIRE(c.send(make_request("HEAD", "/echo/limited/a")));
    auto head = c.read_response(10s, /*head_request=*/true);
    BOOST_TEST(head.status == 429, head.describe());
    BOOST_TEST(s.app.count("/echo/limited/a") == 5);
}

BOOST_AUTO_TEST_CASE(an_untrusted_peer_cannot_choose_its_address) {
    // No trusted proxies: X-Forwarded-For is the client's own claim; every request is 127.0.0.1's.
    Stack s = limited_stack("2", "[]");
    int ok = 0, limited = 0;
    for (int i = 0; i < 16; ++i) {
        auto r = get_as(s, "/echo/limited/u", {{"X-Forwarded-For", fmt::format("10.0.1.{}", i)}});
        ok += r.status == 200;
        limited += r.status == 429;
    }
    BOOST_TEST(ok == 5);
    BOOST_TEST(limited == 11);
}

BOOST_AUTO_TEST_CASE(a_header_can_be_the_key) {
    Stack s = limited_stack("2");
    auto run = [&](const Headers& h) {
        int ok = 0;
        for (int i = 0; i < 5; ++i) ok += get_as(s, "/echo/apikey/k", h).status == 200;
        return ok;
    };
    BOOST_TEST(run({{"X-Api-Key", "alice"}}) == 3);
    BOOST_TEST(run({{"X-Api-Key", "bob"}}) == 3);
    BOOST_TEST(run({{"x-api-key", "alice"}}) == 0, "the same key, whatever the field name's case");
    // Without the header, the client's address is the key (leaving it out does not escape the limit).
    BOOST_TEST(run({}) == 3);
    BOOST_TEST(run({{"X-Forwarded-For", "10.9.9.9"}}) == 3);
    // A header value spelled like an address is not that address's bucket.
    BOOST_TEST(run({{"X-Api-Key", "127.0.0.1"}}) == 3);
    BOOST_TEST(s.app.count("/echo/apikey/k") == 15);
}

BOOST_AUTO_TEST_CASE(dry_run_counts_and_logs_but_lets_everything_through) {
    Stack s = limited_stack("1");
    for (int i = 0; i < 6; ++i) {
        auto r = get_as(s, "/echo/dry/d", {{"X-Forwarded-For", "10.0.0.9"}});
        BOOST_TEST(r.status == 200, r.describe());
        BOOST_TEST(!r.header("ratelimit-remaining").has_value(), "a dry run changes nothing the client sees");
    }
    BOOST_TEST(s.app.count("/echo/dry/d") == 6);
    json r = route_stats(*s.portico, "/echo/dry/*");
    BOOST_TEST(r["ratelimit_dry_run"] == 4, r.dump());
    BOOST_TEST(r["ratelimit_allowed"] == 2, r.dump());
    BOOST_TEST(r["ratelimit_rejected"] == 0, r.dump());
    BOOST_TEST(has_line(metrics_text(*s.portico), "portico_ratelimit_dry_run_total{route=\"/echo/dry/*\"} 4"));
    // Logged, at most once a second, naming the route and the client.
    BOOST_TEST(eventually([&] { return s.portico->stderr_text().find("dry run: route /echo/dry/* would have refused 10.0.0.9") != std::string::npos; }, 3s),
               s.portico->stderr_text());
}

BOOST_AUTO_TEST_CASE(tokens_come_back_at_the_rate) {
    Stack s = limited_stack("1");
    const Headers me = {{"X-Forwarded-For", "10.0.0.77"}};
    BOOST_TEST(get_as(s, "/echo/fast/f", me).status == 200);
    auto refused = get_as(s, "/echo/fast/f", me);
    // At 20/s a token is back within 50 ms; the first 429 may already be a 200 on a slow machine.
    if (refused.status == 429) BOOST_TEST(refused.header("retry-after").value_or("") == "1");
    bool back = eventually([&] { return get_as(s, "/echo/fast/f", me).status == 200; }, 2s, 20ms);
    BOOST_TEST(back);
    // A burst of 1 at 20/s: 30 requests as fast as one client can send them over 0.5 s get about
    // 10 through; never all of them.
    int ok = 0;
    auto start = Clock::now();
    while (Clock::now() - start < 500ms) ok += get_as(s, "/echo/fast/f", me).status == 200;
    BOOST_TEST(ok >= 5);
    BOOST_TEST(ok <= 13);
}

BOOST_AUTO_TEST_SUITE_END()
