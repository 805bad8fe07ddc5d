// The pool thread: like PgBouncer, one event loop for every client and server connection of the
// pool. It listens on <socket_dir>/.s.PGSQL.<port> (and pool.listen_tcp); the main thread talks to
// it only through this class: reload, drain, and the admin API's questions, each run on the pool
// loop and answered back.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>
#include <uv.h>

#include "core/acceptor.hpp"
#include "conf/schema.hpp"

namespace portico::pool {

class Pooler;

class PoolService {
public:
    explicit PoolService(std::shared_ptr<const conf::Config> config);
    ~PoolService();
    PoolService(const PoolService&) = delete;
    PoolService& operator=(const PoolService&) = delete;

    // What to do with cache invalidation messages (cache.notify_channel); before start().
    void set_notify_handlers(std::function<bool(const std::string& database, std::string_view payload)> message,
                             std::function<void(const std::string& database)> gap) {
        notify_message_ = std::move(message);
        notify_gap_ = std::move(gap);
    }
    // Binds the listeners, then starts the thread. "" or why it could not (the socket in use…).
    std::string start();
    // The Unix socket path it listens on.
    const std::string& socket_path() const { return socket_path_; }

    // Thread-safe. Applies pool sizes, timeouts, the userlist and conninfo changes; settings that
    // need a restart (socket_dir, port, listen_tcp, mode) are logged and kept.
    void reload(std::shared_ptr<const conf::Config> config);
    // Thread-safe: stop listening, let linked clients finish their transaction (up to `timeout`),
    // then close everything; join() returns after that.
    void request_drain(std::chrono::milliseconds timeout);
    void join();

    // The admin API's questions, answered on the pool loop (nullopt-like empty json on timeout).
    nlohmann::json stats();
    std::string metrics();
    std::string readiness();  // "" when ready
    // {"paused": [names]} / {"resumed": [...]}; an unknown database gives an empty list.
    nlohmann::json pause(const std::string& database, bool paused);

private:
    // Runs `fn` on the pool loop and waits for it (up to 5 s; false on timeout or a stopped loop).
    bool call(std::function<void()> fn);
    static void on_async(uv_async_t* async);
    static void on_connection(uv_stream_t* server, int status);
    static void on_drain_check(uv_timer_t* timer);
    void accept_one(uv_stream_t* server, bool unix_socket);
    void stop_listening();
    std::string bind_unix();
    std::string bind_tcp();
    void run();

    std::shared_ptr<const conf::Config> config_;
    uv_loop_t loop_{};
    // The listening sockets; they pause when descriptors run out (core/acceptor.hpp).
    core::Acceptor unix_acceptor_{"pool"};
    core::Acceptor tcp_acceptor_{"pool"};
    bool unix_listening_ = false;  // the socket file exists: stop_listening() removes it
    uv_async_t async_{};
    uv_timer_t drain_timer_{};
    std::string socket_path_;
    std::unique_ptr<Pooler> pooler_;
    std::function<bool(const std::string&, std::string_view)> notify_message_;
    std::function<void(const std::string&)> notify_gap_;
    std::thread thread_;

    std::mutex mutex_;  // guards the fields below, written by other threads
    std::vector<std::function<void()>> calls_;
    std::shared_ptr<const conf::Config> pending_config_;
    bool drain_requested_ = false;
    std::chrono::milliseconds drain_timeout_{0};
    bool loop_done_ = false;

    bool draining_ = false;  // pool thread only
    uint64_t drain_deadline_ns_ = 0;
};

}  // namespace portico::pool
