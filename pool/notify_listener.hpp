// Fleet-wide cache invalidation through Postgres (cache.notify_channel): one libpq connection per
// pool database, driven by the pool loop, that runs LISTEN <channel> and hands every
// notification's payload on. The app (or a trigger) runs NOTIFY inside its transaction, so the
// purge happens when the write commits — on every portico listening to that database.
//
// A lost connection (a database restart, a failover) is retried with a back-off; notifications
// sent while nobody listened are lost, so once it listens again `gap` runs (the cache is cleared:
// nothing it holds can be trusted to be current).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <libpq-fe.h>
#include <uv.h>

namespace portico::pool {

class HostResolver;

class NotifyListener {
public:
    using Params = std::vector<std::pair<std::string, std::string>>;
    struct Handlers {
        std::function<bool(std::string_view payload)> message;  // false: not a purge it understood
        std::function<void()> gap;  // listening again after a loss
    };

    // `params`: libpq keywords (the database's conninfo, dbname…); `channel` a validated identifier.
    // Host names are looked up through `resolver` (which outlives the listener) before libpq connects.
    NotifyListener(uv_loop_t* loop, HostResolver& resolver, std::string database, Params params, std::string channel,
                   Handlers handlers);
    ~NotifyListener();
    NotifyListener(const NotifyListener&) = delete;
    NotifyListener& operator=(const NotifyListener&) = delete;

    // From the pooler's sweep: connects when not connected and the back-off has passed.
    void tick(uint64_t now_ns);
    // Drops the connection for good (shutdown, or the configuration no longer asks for it).
    void stop();

    const std::string& database() const { return database_; }
    const std::string& channel() const { return channel_; }
    bool listening() const { return state_ == State::listening; }
    uint64_t messages = 0;
    uint64_t invalid = 0;         // payloads the handler refused
    uint64_t reconnects = 0;      // LISTEN established again after a loss
    uint64_t connect_failures = 0;
    std::string last_error;

private:
    enum class State : uint8_t { idle, resolving, connecting, sending_listen, listening };
    static void on_poll(uv_poll_t* handle, int status, int events);
    void connect();
    void start_libpq(const Params& params);
    void continue_connect();
    void send_listen();
    void readable();
    void flush_output();
    void watch(int events);
    void fail(std::string why);
    void drop_connection();

    uv_loop_t* loop_;
    HostResolver& resolver_;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // a lookup's answer checks it (weak)
    std::string database_;
    Params params_;
    std::string channel_;
    Handlers handlers_;
    State state_ = State::idle;
    PGconn* conn_ = nullptr;
    uv_poll_t* poll_ = nullptr;  // heap: replaced when libpq moves to another socket
    int fd_ = -1;
    uint64_t last_attempt_ns_ = 0;
    bool listened_before_ = false;
    bool stopped_ = false;
};

}  // namespace portico::pool
