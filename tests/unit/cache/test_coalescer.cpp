// Request coalescing: one leader per key, waiters told exactly once when the lease ends, leave()
// honoured, and many threads racing for one key still get exactly one leader per round.
#define BOOST_TEST_MODULE cache_coalescer
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include "cache/coalescer.hpp"

using namespace portico::cache;

namespace {
struct RecordingSink : WaiterSink {
    std::mutex mutex;
    std::vector<uint64_t> tickets;
    std::vector<bool> retries;
    void released(uint64_t ticket, bool retry) override {
        std::lock_guard lock(mutex);
        tickets.push_back(ticket);
        retries.push_back(retry);
    }
};
}  // namespace

BOOST_AUTO_TEST_CASE(first_request_leads_later_ones_wait) {
    Coalescer c;
    RecordingSink sink;
    LeasePtr lease = c.join("k", &sink, 1);
    BOOST_TEST(lease != nullptr);
    BOOST_TEST(c.join("k", &sink, 2) == nullptr);
    BOOST_TEST(c.join("k", &sink, 3) == nullptr);
    BOOST_TEST(c.join("other", &sink, 4) != nullptr);  // a different key has its own leader
    BOOST_TEST(c.waiting() == 2u);
    BOOST_TEST(sink.tickets.empty());
    lease.reset();  // the leader is done
    BOOST_TEST((sink.tickets == std::vector<uint64_t>{2, 3}));
    // The key is free again: the next request leads.
    BOOST_TEST(c.join("k", &sink, 5) != nullptr);
}

BOOST_AUTO_TEST_CASE(waiters_retry_only_when_the_leader_gave_up_undecided) {
    Coalescer c;
    RecordingSink sink;
    LeasePtr gave_up = c.join("a", &sink, 1);
    c.join("a", &sink, 2);
    gave_up.reset();  // e.g. the leader's client hung up before the response head
    LeasePtr decided = c.join("b", &sink, 3);
    c.join("b", &sink, 4);
    decided->decided();  // stored or found uncacheable
    decided.reset();
    BOOST_TEST((sink.tickets == std::vector<uint64_t>{2, 4}));
    BOOST_TEST((sink.retries == std::vector<bool>{true, false}));
}

BOOST_AUTO_TEST_CASE(lease_finishes_once_even_when_shared) {
    Coalescer c;
    RecordingSink sink;
    LeasePtr lease = c.join("k", &sink, 1);
    c.join("k", &sink, 2);
    LeasePtr copy = lease;  // e.g. captured by the writer's completion callback
    lease->finish();
    lease.reset();
    copy.reset();
    BOOST_TEST(sink.tickets.size() == 1u);
    BOOST_TEST(c.in_flight() == 0u);
}

BOOST_AUTO_TEST_CASE(a_waiter_that_left_is_not_told) {
    Coalescer c;
    RecordingSink sink;
    LeasePtr lease = c.join("k", &sink, 1);
    c.join("k", &sink, 2);
    c.join("k", &sink, 3);
    c.leave("k", &sink, 2);
    c.leave("absent", &sink, 9);  // harmless
    lease.reset();
    BOOST_TEST((sink.tickets == std::vector<uint64_t>{3}));
}

BOOST_AUTO_TEST_CASE(try_lead_never_waits) {
    Coalescer c;
    RecordingSink sink;
    LeasePtr lease = c.join("k", &sink, 1);
    BOOST_TEST(c.try_lead("k") == nullptr);
    BOOST_TEST(c.waiting() == 0u);
    lease.reset();
    BOOST_TEST(c.try_lead("k") != nullptr);
}

BOOST_AUTO_TEST_CASE(a_waiter_may_join_again_from_its_release) {
    // A released waiter re-reads the store and may find nothing (uncacheable): it then joins
    // again, from inside released(). That must not deadlock.
    Coalescer c;
    struct Rejoiner : WaiterSink {
        Coalescer* c = nullptr;
        LeasePtr got;
        void released(uint64_t, bool) override { got = c->join("k", this, 7); }
    } rejoiner;
    rejoiner.c = &c;
    LeasePtr lease = c.join("k", &rejoiner, 1);
    c.join("k", &rejoiner, 2);
    lease.reset();
    BOOST_TEST(rejoiner.got != nullptr);  // it leads the next round
}

BOOST_AUTO_TEST_CASE(threads_racing_for_one_key_get_one_leader) {
    Coalescer c;
    RecordingSink sink;
    constexpr int kThreads = 8;
    std::atomic<int> leaders{0};
    std::vector<LeasePtr> leases(kThreads);
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i) {
        threads.emplace_back([&, i] {
            leases[i] = c.join("hot", &sink, static_cast<uint64_t>(i));
            if (leases[i]) leaders.fetch_add(1);
        });
    }
    for (auto& t : threads) t.join();
    BOOST_TEST(leaders.load() == 1);
    for (auto& l : leases) l.reset();
    BOOST_TEST(sink.tickets.size() == static_cast<size_t>(kThreads - 1));
}
