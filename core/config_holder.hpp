// The current configuration snapshot: the main thread swaps it on reload, workers read it per request.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>

#include "conf/schema.hpp"

namespace portico::core {

using ConfigPtr = std::shared_ptr<const conf::Config>;

class ConfigHolder {
public:
    explicit ConfigHolder(ConfigPtr initial) : current_(std::move(initial)) {}

    // Cheap check on the hot path: a worker compares this with the generation it holds.
    uint64_t generation() const { return generation_.load(std::memory_order_acquire); }

    ConfigPtr get() const {
        std::lock_guard lock(mutex_);
        return current_;
    }

    // Returns the new generation.
    uint64_t set(ConfigPtr next) {
        std::lock_guard lock(mutex_);
        current_ = std::move(next);
        return generation_.fetch_add(1, std::memory_order_acq_rel) + 1;
    }

private:
    mutable std::mutex mutex_;
    ConfigPtr current_;
    std::atomic<uint64_t> generation_{1};
};

// A worker's cached view of the holder: refreshes only when the generation moved.
class ConfigView {
public:
    explicit ConfigView(const ConfigHolder& holder)
        : holder_(holder), generation_(holder.generation()), config_(holder.get()) {}

    const ConfigPtr& current() {
        uint64_t g = holder_.generation();
        if (g != generation_) {
            config_ = holder_.get();
            generation_ = g;
        }
        return config_;
    }
    uint64_t generation() const { return generation_; }

private:
    const ConfigHolder& holder_;
    uint64_t generation_;
    ConfigPtr config_;
};

}  // namespace portico::core
