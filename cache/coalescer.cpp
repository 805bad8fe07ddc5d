// See coalescer.hpp.
#include "cache/coalescer.hpp"

#include <algorithm>

namespace portico::cache {

void FetchLease::finish() {
    if (coalescer_ == nullptr) return;
    Coalescer* c = coalescer_;
    coalescer_ = nullptr;
    c->finish(key_, retry_);
}

LeasePtr Coalescer::join(std::string_view key, WaiterSink* sink, uint64_t ticket) {
    std::lock_guard lock(mutex_);
    auto [it, inserted] = flights_.try_emplace(std::string(key));
    if (inserted) return std::make_shared<FetchLease>(*this, it->first);
    it->second.push_back({sink, ticket});
    return nullptr;
}

LeasePtr Coalescer::try_lead(std::string_view key) {
    std::lock_guard lock(mutex_);
    auto [it, inserted] = flights_.try_emplace(std::string(key));
    if (!inserted) return nullptr;
    return std::make_shared<FetchLease>(*this, it->first);
}

void Coalescer::leave(std::string_view key, WaiterSink* sink, uint64_t ticket) {
    std::lock_guard lock(mutex_);
    auto it = flights_.find(std::string(key));
    if (it == flights_.end()) return;
    std::erase_if(it->second, [&](const Waiter& w) { return w.sink == sink && w.ticket == ticket; });
}

void Coalescer::finish(const std::string& key, bool retry) {
    std::vector<Waiter> waiters;
    {
        std::lock_guard lock(mutex_);
        auto it = flights_.find(key);
        if (it == flights_.end()) return;
        waiters = std::move(it->second);
        flights_.erase(it);
    }
    // Outside the lock: a sink may post to a loop, and a woken waiter may join again at once.
    for (const Waiter& w : waiters) w.sink->released(w.ticket, retry);
}

size_t Coalescer::in_flight() const {
    std::lock_guard lock(mutex_);
    return flights_.size();
}

size_t Coalescer::waiting() const {
    std::lock_guard lock(mutex_);
    size_t n = 0;
    for (const auto& [key, waiters] : flights_) n += waiters.size();
    return n;
}

}  // namespace portico::cache
