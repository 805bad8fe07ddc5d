// A proxy worker: one thread, one uv loop, its own listener socket (SO_REUSEPORT), its client
// connections and its upstream pool. The main thread talks to it only through an async handle.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <uv.h>

#include <mutex>
#include <unordered_map>
#include <vector>

#include "cache/coalescer.hpp"
#include "core/acceptor.hpp"
#include "core/config_holder.hpp"
#include "core/metrics.hpp"
#include "proxy/access_log.hpp"
#include "proxy/background_refresh.hpp"
#include "proxy/client_connection.hpp"
#include "proxy/intrusive_list.hpp"
#include "proxy/rate_limiter.hpp"
#include "proxy/static_stage.hpp"
#include "proxy/upstream_pool.hpp"

namespace portico::proxy {

struct CacheRuntime;

// What all workers share; owned by the process.
struct SharedState {
    core::ConfigHolder& config;
    core::metrics::Registry& metrics;
    UpstreamLimiter limiter;
    AccessLogSink access_log;
    std::atomic<int> connections{0};  // across workers, for limits.max_connections
    struct CacheRuntime* cache = nullptr;  // null: no cache (disabled, or its store could not open)
    RateLimiter rate_limiter;  // one for all workers: a client may land on any of them; kept across reloads
    SharedState(core::ConfigHolder& holder, core::metrics::Registry& registry) : config(holder), metrics(registry) {}
};

class Worker {
public:
    // `listen_fd` is a bound socket this worker owns (its own SO_REUSEPORT socket, or a dup of
    // the shared Unix socket).
    Worker(int index, SharedState& shared, int listen_fd, bool unix_listener);
    ~Worker();
    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;

    // Starts the thread; returns once its loop is listening (or failed: error text).
    std::string start();
    // Thread-safe: stop accepting, finish in-flight requests (up to the drain deadline), exit.
    void request_drain();
    void join();

    // For connections on this worker's thread.
    uv_loop_t* loop() { return &loop_; }
    const core::ConfigPtr& config();
    UpstreamPool& upstream() { return *upstream_; }
    bool draining() const { return draining_; }
    std::string& scratch() { return scratch_; }
    void make_request_id(std::string& out);
    AccessLogBuffer& access_log() { return access_log_; }
    bool access_log_json() const { return access_log_json_; }
    bool access_log_enabled() const { return access_log_enabled_; }
    void connection_closed(ClientConnection* connection);
    int index() const { return index_; }
    // Advances every 250 ms while the worker's loop turns: the watchdog's proof of life.
    uint64_t heartbeat() const { return heartbeat_.load(std::memory_order_relaxed); }
    core::metrics::ThreadMetrics& metrics() { return metrics_; }
    CacheRuntime* cache() const { return shared_.cache; }
    RateLimiter& rate_limiter() { return shared_.rate_limiter; }
    StaticFiles& static_files() { return static_files_; }
    // Dry-run rate limits log what they would have refused, at most once a second per worker: true
    // when this one may log; `suppressed` says how many were not logged since the last line.
    bool may_log_dry_run(uint64_t now_ns, uint64_t& suppressed);
    // Field views reused by the cache stage, so a lookup does not allocate.
    std::vector<cache::HeaderField>& request_fields() { return request_fields_; }
    std::vector<cache::HeaderField>& response_fields() { return response_fields_; }

    // Request coalescing: a connection waiting for another request's fetch holds a ticket; the
    // coalescer tells this worker's sink (from any thread), which wakes the connection on this loop.
    cache::WaiterSink& cache_waiters() { return waiters_; }
    uint64_t add_cache_waiter(ClientConnection* connection);
    void remove_cache_waiter(uint64_t ticket);
    // Stale-while-revalidate: runs the refresh on this loop; the worker owns and frees it.
    void start_refresh(BackgroundRefresh::Plan plan);
    // The metrics id of a route of the snapshot config() last returned.
    core::metrics::RouteId route_id(const conf::Route* route) const {
        size_t i = static_cast<size_t>(route - route_base_);
        return i < route_ids_.size() ? route_ids_[i] : core::metrics::kOtherRoute;
    }

private:
    void run();
    void begin_drain();
    void maybe_finish();
    void sweep_refreshes(bool cancel_all);
    static void on_connection(uv_stream_t* server, int status);
    static void on_async(uv_async_t* async);
    static void on_wake(uv_async_t* async);
    static void on_cache_released(uv_async_t* async);

    class Waiters : public cache::WaiterSink {
    public:
        void released(uint64_t ticket, bool retry) override;
        uv_async_t async;
        std::mutex mutex;
        std::vector<std::pair<uint64_t, bool>> released_tickets;  // (ticket, retry)
        bool closed = true;  // until the loop runs, and again once it finishes
    };
    static void on_flush_timer(uv_timer_t* timer);
    static void on_drain_deadline(uv_timer_t* timer);

    int index_;
    SharedState& shared_;
    int listen_fd_;
    bool unix_listener_;
    uv_loop_t loop_;
    core::Acceptor acceptor_{"proxy"};  // the listening socket; pauses when descriptors run out
    uv_async_t control_;   // drain requests from the main thread
    uv_async_t wake_;      // an upstream slot was freed on another worker
    Waiters waiters_;      // coalesced requests released by another request's fetch
    std::unordered_map<uint64_t, ClientConnection*> cache_waiting_;
    uint64_t last_ticket_ = 0;
    IntrusiveList<BackgroundRefresh, &BackgroundRefresh::hook> refreshes_;
    std::vector<cache::HeaderField> request_fields_;
    std::vector<cache::HeaderField> response_fields_;
    int waker_id_ = 0;
    uv_timer_t flush_timer_;
    uv_timer_t drain_timer_;
    std::thread thread_;
    std::atomic<bool> drain_requested_{false};
    bool draining_ = false;
    bool finished_ = false;
    core::ConfigView config_view_;
    core::metrics::ThreadMetrics& metrics_;
    std::vector<core::metrics::RouteId> route_ids_;  // per entry of the current config's routes
    const conf::Route* route_base_ = nullptr;
    uint64_t upstream_generation_ = 0;
    std::unique_ptr<UpstreamPool> upstream_;
    AccessLogBuffer access_log_;
    bool access_log_json_ = false;
    bool access_log_enabled_ = true;
    std::string scratch_;
    StaticFiles static_files_;  // this worker's open files and static roots
    uint64_t dry_run_logged_ns_ = 0;
    uint64_t dry_run_suppressed_ = 0;
    uint64_t id_state_[2];
    IntrusiveList<ClientConnection, &ClientConnection::hook> connections_;
    std::string start_error_;
    std::atomic<int> started_{0};  // 0 starting, 1 listening, -1 failed
    std::atomic<uint64_t> heartbeat_{0};
};

}  // namespace portico::proxy
