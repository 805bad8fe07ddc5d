// Per-worker upstream connections: an idle keep-alive list (most recently used first), new
// connections on demand, and — with upstream.max_connections — a cap shared by all workers with a
// bounded wait queue, so a burst cannot drown the app's few workers.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <sys/socket.h>
#include <uv.h>
#include <vector>

#include "conf/schema.hpp"
#include "core/metrics.hpp"
#include "proxy/intrusive_list.hpp"
#include "proxy/upstream_connection.hpp"

namespace portico::proxy {

// Concurrent upstream requests across all workers (upstream.max_connections).
class UpstreamLimiter {
public:
    bool try_acquire(int max) {
        if (max <= 0) return true;
        int current = in_use_.load(std::memory_order_relaxed);
        while (current < max) {
            if (in_use_.compare_exchange_weak(current, current + 1, std::memory_order_acq_rel)) return true;
        }
        return false;
    }
    void release(int max);
    // Workers with waiters are woken when a slot frees anywhere.
    int add_waker(std::function<void()> wake) {
        std::lock_guard lock(mutex_);
        wakers_.emplace_back(++last_waker_id_, std::move(wake));
        return last_waker_id_;
    }
    // Called before the worker's async handle closes: no wake may reach it afterwards.
    void remove_waker(int id) {
        std::lock_guard lock(mutex_);
        std::erase_if(wakers_, [id](const auto& w) { return w.first == id; });
    }
    void waiting_changed(int delta) { waiting_.fetch_add(delta, std::memory_order_acq_rel); }
    int in_use() const { return in_use_.load(std::memory_order_relaxed); }

private:
    std::atomic<int> in_use_{0};
    std::atomic<int> waiting_{0};
    std::mutex mutex_;
    std::vector<std::pair<int, std::function<void()>>> wakers_;
    int last_waker_id_ = 0;
};

class UpstreamPool {
public:
    UpstreamPool(uv_loop_t* loop, UpstreamLimiter& limiter, core::metrics::UpstreamCounters& counters);
    ~UpstreamPool();
    UpstreamPool(const UpstreamPool&) = delete;
    UpstreamPool& operator=(const UpstreamPool&) = delete;

    // Applies a (new) upstream section; idle connections to an old address are closed.
    // Returns false with `error` when the address cannot be resolved.
    bool configure(const conf::UpstreamConfig& config, std::string& error);

    // Asks for a connection; the answer comes through listener->upstream_ready / upstream_failed,
    // possibly before acquire returns. `fresh` skips idle connections (a retry after a reused
    // connection turned out closed).
    void acquire(UpstreamListener* listener, bool fresh = false);
    // The listener no longer wants a connection (its client went away).
    void cancel(UpstreamListener* listener);
    // A slot was freed by another worker.
    void wake();
    // Closes idle connections and refuses new work (drain).
    void close_idle();
    size_t idle_count() const { return idle_.size(); }
    size_t busy_count() const { return busy_.size(); }
    bool empty() const { return idle_.empty() && busy_.empty() && waiters_.empty(); }

    // From UpstreamConnection.
    void connected(UpstreamConnection* connection);
    void failed(UpstreamConnection* connection, UpstreamError error);
    void finished(UpstreamConnection* connection, bool reusable);
    void idle_lost(UpstreamConnection* connection);
    void destroyed(UpstreamConnection* connection);

private:
    struct Waiter {
        UpstreamPool* pool;
        UpstreamListener* listener;
        bool fresh;
        uv_timer_t timer;
        ListHook hook;
    };
    static void on_queue_timeout(uv_timer_t* timer);
    void start_connection(UpstreamListener* listener, bool fresh);
    void serve_waiters();
    void remove_waiter(Waiter* waiter);
    void release_slot();

    uv_loop_t* loop_;
    UpstreamLimiter& limiter_;
    core::metrics::UpstreamCounters& counters_;  // one counter per decision: connect, reuse, each failure
    conf::UpstreamConfig config_;
    sockaddr_storage address_{};
    bool unix_socket_ = false;
    std::string address_text_;
    bool closing_ = false;
    IntrusiveList<UpstreamConnection, &UpstreamConnection::hook> idle_;
    IntrusiveList<UpstreamConnection, &UpstreamConnection::hook> busy_;  // connecting or in use
    IntrusiveList<Waiter, &Waiter::hook> waiters_;
};

}  // namespace portico::proxy
