// Request coalescing (issue 3): while one request fetches a key from the upstream — a new key or an
// expired entry alike — later requests for the same key, on any worker, wait for it instead of
// stampeding the app. The leader holds a FetchLease; when the lease ends (the response was stored,
// found uncacheable, or the fetch failed) every waiter is told and looks the key up again.
//
// Thread-safe; nothing here knows about event loops. A waiter is a (sink, ticket) pair: the sink
// is told `released(ticket)` on whichever thread ends the lease, and must hop to its own thread.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace portico::cache {

class WaiterSink {
public:
    virtual ~WaiterSink() = default;
    // Called without any lock held; must be cheap and thread-safe (post to the owner's loop).
    // `retry`: the leader gave up before deciding (its client left, its fetch failed), so the
    // waiter should try to lead or wait again; otherwise the outcome is known (stored: look it up;
    // not cacheable: go upstream at once, in parallel with the others).
    virtual void released(uint64_t ticket, bool retry) = 0;
};

class Coalescer;

// The leader's claim on a key; ending it (destruction or finish()) releases the waiters. Shared
// so that it can travel into the cache writer's completion callback: waiters wake only once the
// stored entry is readable.
class FetchLease {
public:
    FetchLease(Coalescer& coalescer, std::string key) : coalescer_(&coalescer), key_(std::move(key)) {}
    ~FetchLease() { finish(); }
    FetchLease(const FetchLease&) = delete;
    FetchLease& operator=(const FetchLease&) = delete;
    void finish();
    // The fetch reached an outcome (the response is being stored, or is not cacheable): waiters
    // released after this need not retry.
    void decided() { retry_ = false; }
    const std::string& key() const { return key_; }

private:
    Coalescer* coalescer_;
    std::string key_;
    bool retry_ = true;
};
using LeasePtr = std::shared_ptr<FetchLease>;

class Coalescer {
public:
    // Leader: nobody fetches `key` now; the returned lease makes the caller the one who does.
    // Waiter (nullptr returned): (sink, ticket) is told when the leader's lease ends.
    LeasePtr join(std::string_view key, WaiterSink* sink, uint64_t ticket);
    // A lease for `key` only if nobody leads it (a background refresh never waits).
    LeasePtr try_lead(std::string_view key);
    // The waiter gives up (its timer ran out, its client left): it will not be told.
    void leave(std::string_view key, WaiterSink* sink, uint64_t ticket);

    size_t in_flight() const;
    size_t waiting() const;

private:
    friend class FetchLease;
    void finish(const std::string& key, bool retry);

    struct Waiter {
        WaiterSink* sink;
        uint64_t ticket;
    };
    mutable std::mutex mutex_;
    // key → the requests waiting for its leader (the entry's presence means "a leader fetches it").
    std::unordered_map<std::string, std::vector<Waiter>> flights_;
};

}  // namespace portico::cache
