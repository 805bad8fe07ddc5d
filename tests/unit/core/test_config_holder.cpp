// The reload hand-over: the main thread swaps the config snapshot while workers read it through
// their ConfigView on every request. Readers must only ever see whole snapshots, never go back to
// an older one, and see the last one once the swaps stop; a snapshot lives while a reader holds
// it. The TSan build runs this with the swaps and reads racing.
#define BOOST_TEST_MODULE core_config_holder
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <thread>
#include <vector>

#include "core/config_holder.hpp"

using portico::conf::Config;
using portico::core::ConfigHolder;
using portico::core::ConfigPtr;
using portico::core::ConfigView;

namespace {

// A snapshot whose fields all say which swap made it, so a torn read would show.
ConfigPtr snapshot(int n) {
    auto c = std::make_shared<Config>();
    c->workers = n;
    c->source = "swap-" + std::to_string(n);
    c->files.assign(static_cast<size_t>(n % 7) + 1, c->source);
    return c;
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_view_refreshes_only_when_the_generation_moves) {
    ConfigHolder holder(snapshot(0));
    ConfigView view(holder);
    const Config* first = view.current().get();
    BOOST_TEST(view.current().get() == first);  // no swap: the same snapshot, not a new copy
    BOOST_TEST(holder.set(snapshot(1)) == 2u);
    BOOST_TEST(view.current()->workers == 1);
    BOOST_TEST(view.generation() == 2u);
}

BOOST_AUTO_TEST_CASE(readers_see_whole_snapshots_in_order_while_the_main_thread_swaps) {
    constexpr int kSwaps = 5000;
    constexpr int kReaders = 4;
    ConfigHolder holder(snapshot(0));
    std::atomic<bool> done{false};
    std::atomic<int> torn{0}, backwards{0}, stale_at_end{0};
    std::atomic<long> reads{0};

    std::vector<std::thread> readers;
    for (int r = 0; r < kReaders; ++r) {
        readers.emplace_back([&] {
            ConfigView view(holder);
            int last = -1;
            long n = 0;
            auto check = [&](const ConfigPtr& c) {
                const std::string expected = "swap-" + std::to_string(c->workers);
                if (c->source != expected || c->files.size() != static_cast<size_t>(c->workers % 7) + 1 ||
                    c->files.front() != expected) {
                    torn.fetch_add(1);
                }
                if (c->workers < last) backwards.fetch_add(1);
                last = c->workers;
                ++n;
            };
            do {  // at least once, however soon the swaps end
                ConfigPtr held = view.current();  // a request keeps its snapshot for its whole life
                check(held);
                check(view.current());
            } while (!done.load(std::memory_order_acquire));
            if (view.current()->workers != kSwaps) stale_at_end.fetch_add(1);
            reads.fetch_add(n);
        });
    }
    for (int i = 1; i <= kSwaps; ++i) holder.set(snapshot(i));
    done.store(true, std::memory_order_release);
    for (std::thread& t : readers) t.join();

    BOOST_TEST(torn.load() == 0);
    BOOST_TEST(backwards.load() == 0);
    BOOST_TEST(stale_at_end.load() == 0);
    BOOST_TEST(holder.generation() == static_cast<uint64_t>(kSwaps) + 1);
    BOOST_TEST(reads.load() > 0);
}
