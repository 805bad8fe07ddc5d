// Metrics primitives: per-thread blocks summed by the Registry (also while threads write, which
// the TSan build checks), status-code slots, histogram buckets, percentiles, route interning.
#define BOOST_TEST_MODULE core_metrics
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <thread>
#include <vector>

#include "core/metrics.hpp"

namespace metrics = portico::core::metrics;
using metrics::Registry;

BOOST_AUTO_TEST_CASE(code_slots_track_common_codes_and_fold_the_rest_by_class) {
    BOOST_TEST(metrics::code_label(metrics::code_slot(200)) == "200");
    BOOST_TEST(metrics::code_label(metrics::code_slot(404)) == "404");
    BOOST_TEST(metrics::code_label(metrics::code_slot(503)) == "503");
    BOOST_TEST(metrics::code_label(metrics::code_slot(299)) == "2xx");
    BOOST_TEST(metrics::code_label(metrics::code_slot(599)) == "5xx");
    BOOST_TEST(metrics::code_label(metrics::code_slot(42)) == "other");
    BOOST_TEST(metrics::code_label(metrics::code_slot(600)) == "other");
    BOOST_TEST(metrics::code_label(metrics::code_slot(-1)) == "other");
    BOOST_TEST(metrics::code_class(metrics::code_slot(200)) == 2);
    BOOST_TEST(metrics::code_class(metrics::code_slot(299)) == 2);
    BOOST_TEST(metrics::code_class(metrics::code_slot(451)) == 4);
    BOOST_TEST(metrics::code_class(metrics::code_slot(1000)) == 0);
    // Every slot has a distinct label.
    for (size_t a = 0; a < metrics::kCodeSlots; ++a) {
        for (size_t b = a + 1; b < metrics::kCodeSlots; ++b) BOOST_TEST(metrics::code_label(a) != metrics::code_label(b));
    }
}

BOOST_AUTO_TEST_CASE(histogram_buckets_use_le_semantics) {
    metrics::Histogram h;
    h.observe(0.0005);   // exactly on the first bound: counted in it (le)
    h.observe(0.0006);   // second bucket
    h.observe(0.0);      // first
    h.observe(-1.0);     // clock oddities count as 0
    h.observe(10.0);     // last finite bucket
    h.observe(10.001);   // +Inf
    h.observe_ns(3'000'000);  // 3ms: the 0.005 bucket
    metrics::HistogramSnapshot s;
    s.add(h);
    BOOST_TEST(s.counts[0] == 3u);
    BOOST_TEST(s.counts[1] == 1u);
    BOOST_TEST(s.counts[3] == 1u);
    BOOST_TEST(s.counts[metrics::kDurationBounds.size() - 1] == 1u);
    BOOST_TEST(s.counts[metrics::kDurationBounds.size()] == 1u);
    BOOST_TEST(s.count() == 7u);
    BOOST_TEST(s.cumulative(0) == 3u);
    BOOST_TEST(s.cumulative(metrics::kDurationBounds.size()) == 7u);
    BOOST_TEST(s.sum_seconds() == 0.0005 + 0.0006 + 10.0 + 10.001 + 0.003, boost::test_tools::tolerance(1e-9));
}

BOOST_AUTO_TEST_CASE(percentiles_interpolate_within_the_bucket) {
    metrics::HistogramSnapshot s;
    BOOST_TEST(!s.quantile(0.5).has_value());  // nothing observed
    // 100 observations in (0.01, 0.025]: p50 is halfway through that bucket.
    s.counts[5] = 100;
    BOOST_TEST(*s.quantile(0.5) == 0.0175, boost::test_tools::tolerance(1e-12));
    BOOST_TEST(*s.quantile(1.0) == 0.025, boost::test_tools::tolerance(1e-12));
    // 90 fast (<= 0.5ms) and 10 slow in (1s, 2.5s]: p50 low, p95 in the slow bucket.
    metrics::HistogramSnapshot t;
    t.counts[0] = 90;
    t.counts[11] = 10;
    BOOST_TEST(*t.quantile(0.5) == 0.0005 * 50.0 / 90.0, boost::test_tools::tolerance(1e-12));
    BOOST_TEST(*t.quantile(0.95) == 1.0 + 1.5 * 0.5, boost::test_tools::tolerance(1e-12));
    BOOST_TEST(*t.quantile(0.99) == 1.0 + 1.5 * 0.9, boost::test_tools::tolerance(1e-12));
    // A rank in +Inf answers the highest finite bound.
    metrics::HistogramSnapshot u;
    u.counts[metrics::kDurationBounds.size()] = 5;
    BOOST_TEST(*u.quantile(0.99) == 10.0);
    // Empty buckets before the rank are skipped, not interpolated into.
    metrics::HistogramSnapshot v;
    v.counts[2] = 1;
    v.counts[9] = 1;
    BOOST_TEST(*v.quantile(0.5) == 0.0025, boost::test_tools::tolerance(1e-12));
    BOOST_TEST(*v.quantile(0.99) == 0.25 + 0.25 * 0.98, boost::test_tools::tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(routes_are_interned_stably_and_bounded) {
    Registry registry;
    BOOST_TEST(registry.intern_route("/api/*") == 0);
    BOOST_TEST(registry.intern_route("*") == 1);
    BOOST_TEST(registry.intern_route("/api/*") == 0);
    std::vector<portico::conf::Route> routes(2);
    routes[0].pattern = "/static/*";
    routes[1].pattern = "*";
    auto ids = registry.intern_routes(routes);
    BOOST_TEST(ids.size() == 2u);
    BOOST_TEST(ids[0] == 2);
    BOOST_TEST(ids[1] == 1);
    for (size_t i = 3; i < metrics::kMaxRoutes; ++i) registry.intern_route("/r" + std::to_string(i));
    BOOST_TEST(registry.intern_route("/one-too-many") == metrics::kOtherRoute);
    BOOST_TEST(registry.intern_route("/r5") == 5);

    auto& block = registry.register_thread();
    block.http_requests.inc(metrics::kOtherRoute, 200);
    block.http_requests.inc(9999, 200);  // out of range: clamped into "(other)"
    auto snap = registry.snapshot();
    BOOST_TEST(snap.routes.size() == metrics::kMaxRoutes + 1);
    BOOST_TEST(snap.routes.back().pattern == "(other)");
    BOOST_TEST(snap.routes.back().requests() == 2u);
}

BOOST_AUTO_TEST_CASE(counters_from_several_threads_are_summed_while_they_write) {
    Registry registry;
    metrics::RouteId api = registry.intern_route("/api/*");
    metrics::RouteId rest = registry.intern_route("*");
    constexpr int kThreads = 4;
    constexpr int kRequests = 20000;
    std::atomic<bool> go{false};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            metrics::ThreadMetrics& m = registry.register_thread();
            while (!go.load()) std::this_thread::yield();
            for (int i = 0; i < kRequests; ++i) {
                m.http_requests.inc(i % 2 == 0 ? api : rest, i % 10 == 0 ? 503 : 200);
                m.request_duration.observe(api, 0.002);
                m.upstream.reuses.inc();
                if (t == 0) m.ratelimit_rejected.inc(api);
            }
            m.upstream.connects.inc(static_cast<uint64_t>(t + 1));
        });
    }
    go = true;
    // The admin side reads while workers write (TSan checks this is race-free); figures only grow.
    uint64_t last = 0;
    for (int i = 0; i < 50; ++i) {
        auto s = registry.snapshot();
        BOOST_TEST(s.requests() >= last);
        last = s.requests();
    }
    for (auto& th : threads) th.join();
    registry.process().config_reloads_ok.inc();
    registry.process().config_generation.set(2);

    auto s = registry.snapshot();
    BOOST_TEST(s.threads == static_cast<size_t>(kThreads));
    BOOST_TEST(s.requests() == static_cast<uint64_t>(kThreads * kRequests));
    BOOST_TEST(s.routes[api].requests() == static_cast<uint64_t>(kThreads * kRequests / 2));
    BOOST_TEST(s.requests_by_class(5) == static_cast<uint64_t>(kThreads * kRequests / 10));
    BOOST_TEST(s.routes[api].codes[metrics::code_slot(503)] == static_cast<uint64_t>(kThreads * kRequests / 10));
    BOOST_TEST(s.routes[api].duration.count() == static_cast<uint64_t>(kThreads * kRequests));
    BOOST_TEST(s.routes[api].duration.counts[2] == static_cast<uint64_t>(kThreads * kRequests));  // (1ms, 2.5ms]
    BOOST_TEST(s.routes[rest].duration.count() == 0u);
    BOOST_TEST(s.upstream.reuses == static_cast<uint64_t>(kThreads * kRequests));
    BOOST_TEST(s.upstream.connects == 1u + 2u + 3u + 4u);
    BOOST_TEST(s.ratelimit_rejected() == static_cast<uint64_t>(kRequests));
    BOOST_TEST(s.config_reloads_ok == 1u);
    BOOST_TEST(s.config_generation == 2u);
    BOOST_TEST(!s.cache_active);
    registry.set_cache_active(true);
    BOOST_TEST(registry.snapshot().cache_active);
}

BOOST_AUTO_TEST_CASE(cache_hit_ratio_counts_answers_from_the_store) {
    metrics::CacheTotals c;
    BOOST_TEST(!c.hit_ratio().has_value());
    c.hits = 6;
    c.stale = 1;
    c.revalidated = 1;
    c.misses = 2;
    BOOST_TEST(*c.hit_ratio() == 0.8, boost::test_tools::tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(process_figures_come_from_proc) {
    Registry registry;
    auto s = registry.snapshot();
    BOOST_TEST(s.process.resident_memory_bytes > 0u);
    BOOST_TEST(s.process.open_fds >= 3u);  // stdin, stdout, stderr at least
    BOOST_TEST(s.process.uptime_seconds >= 0.0);
    BOOST_TEST(s.process.start_time_seconds > 1.6e9);
}
