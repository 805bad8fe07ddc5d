// LISTEN for the cache's invalidation messages; see notify_listener.hpp.
#include "pool/notify_listener.hpp"

#include <fmt/format.h>

#include "core/log.hpp"
#include "pool/conninfo_hosts.hpp"
#include "pool/resolver.hpp"

namespace portico::pool {

namespace {
// Between connection attempts: a database that is down is not hammered, and one that is back is
// heard again within a couple of seconds.
constexpr uint64_t kRetryNs = 2'000'000'000ull;

void free_poll(uv_handle_t* handle) { delete reinterpret_cast<uv_poll_t*>(handle); }

std::string libpq_error(PGconn* conn) {
    std::string e = conn != nullptr ? PQerrorMessage(conn) : "out of memory";
    while (!e.empty() && (e.back() == '\n' || e.back() == ' ')) e.pop_back();
    return e.empty() ? "connection lost" : e;
}
}  // namespace

NotifyListener::NotifyListener(uv_loop_t* loop, HostResolver& resolver, std::string database, Params params,
                               std::string channel, Handlers handlers)
    : loop_(loop), resolver_(resolver), database_(std::move(database)), params_(std::move(params)), channel_(std::move(channel)),
      handlers_(std::move(handlers)) {}

NotifyListener::~NotifyListener() { stop(); }

void NotifyListener::stop() {
    stopped_ = true;
    drop_connection();
}

void NotifyListener::tick(uint64_t now_ns) {
    if (stopped_ || state_ != State::idle) return;
    if (last_attempt_ns_ != 0 && now_ns - last_attempt_ns_ < kRetryNs) return;
    last_attempt_ns_ = now_ns;
    connect();
}

void NotifyListener::connect() {
    Params params = params_;
    bool has_dbname = false;
    for (const auto& [k, v] : params_) has_dbname = has_dbname || k == "dbname";
    if (!has_dbname) params.emplace_back("dbname", database_);
    params.emplace_back("fallback_application_name", "portico-notify");
    std::vector<std::string> names = hosts_to_resolve(params);
    if (names.empty()) return start_libpq(params);
    // Like the pool's servers: names resolved off the loop, libpq given the addresses.
    state_ = State::resolving;
    std::weak_ptr<bool> alive = alive_;
    resolver_.resolve(names, [this, alive, params = std::move(params)](const std::map<std::string, HostLookup>& results) {
        if (alive.expired() || stopped_ || state_ != State::resolving) return;
        ResolvedParams resolved = with_resolved_hosts(params, results);
        if (!resolved.any_host) {
            std::string why = resolved.dropped;
            while (!why.empty() && why.back() == '\n') why.pop_back();
            return fail(why);
        }
        start_libpq(resolved.params);
    });
}

void NotifyListener::start_libpq(const Params& params) {
    std::vector<const char*> keys, values;
    for (const auto& [k, v] : params) {
        keys.push_back(k.c_str());
        values.push_back(v.c_str());
    }
    keys.push_back(nullptr);
    values.push_back(nullptr);
    conn_ = PQconnectStartParams(keys.data(), values.data(), 0);
    if (conn_ == nullptr || PQstatus(conn_) == CONNECTION_BAD) return fail(libpq_error(conn_));
    PQsetnonblocking(conn_, 1);
    state_ = State::connecting;
    watch(UV_WRITABLE);  // PQconnectStart's first wait is for writability
}

void NotifyListener::watch(int events) {
    int fd = conn_ != nullptr ? PQsocket(conn_) : -1;
    if (fd < 0) return fail("no socket");
    if (poll_ == nullptr || fd != fd_) {
        // libpq moved to another host or address: a new socket needs a new watcher.
        if (poll_ != nullptr) {
            poll_->data = nullptr;
            uv_close(reinterpret_cast<uv_handle_t*>(poll_), free_poll);
        }
        poll_ = new uv_poll_t;
        uv_poll_init(loop_, poll_, fd);
        poll_->data = this;
        fd_ = fd;
    }
    uv_poll_start(poll_, events, &NotifyListener::on_poll);
}

void NotifyListener::on_poll(uv_poll_t* handle, int status, int events) {
    auto* self = static_cast<NotifyListener*>(handle->data);
    if (self == nullptr || self->conn_ == nullptr) return;
    if (status < 0) return self->fail(fmt::format("poll: {}", uv_strerror(status)));
    switch (self->state_) {
        case State::connecting:
            return self->continue_connect();
        case State::sending_listen:
        case State::listening:
            if (events & UV_WRITABLE) self->flush_output();
            if (self->conn_ != nullptr && (events & UV_READABLE)) self->readable();
            return;
        case State::idle:
        case State::resolving:
            return;
    }
}

void NotifyListener::continue_connect() {
    switch (PQconnectPoll(conn_)) {
        case PGRES_POLLING_READING:
            return watch(UV_READABLE);
        case PGRES_POLLING_WRITING:
            return watch(UV_WRITABLE);
        case PGRES_POLLING_OK:
            return send_listen();
        default:
            return fail(libpq_error(conn_));
    }
}

void NotifyListener::send_listen() {
    // The channel passed conf's identifier check: unquoted, it folds to lower case exactly as an
    // unquoted NOTIFY <channel> from the app does.
    std::string sql = "LISTEN " + channel_;
    if (PQsendQuery(conn_, sql.c_str()) == 0) return fail(libpq_error(conn_));
    state_ = State::sending_listen;
    flush_output();
}

void NotifyListener::flush_output() {
    int rc = PQflush(conn_);
    if (rc < 0) return fail(libpq_error(conn_));
    watch(rc == 1 ? (UV_READABLE | UV_WRITABLE) : UV_READABLE);
}

void NotifyListener::readable() {
    if (PQconsumeInput(conn_) == 0) return fail(libpq_error(conn_));
    while (PQisBusy(conn_) == 0) {
        PGresult* result = PQgetResult(conn_);
        if (result == nullptr) break;
        ExecStatusType st = PQresultStatus(result);
        std::string error = st == PGRES_COMMAND_OK ? "" : PQresultErrorMessage(result);
        PQclear(result);
        if (!error.empty()) return fail("LISTEN failed: " + error);
        if (state_ == State::sending_listen) {
            state_ = State::listening;
            core::log(core::LogLevel::info, "cache", "listening for invalidations on channel {} of database {}",
                      channel_, database_);
            last_error.clear();
            if (listened_before_) {
                ++reconnects;
                if (handlers_.gap) handlers_.gap();
            }
            listened_before_ = true;
        }
    }
    while (PGnotify* n = PQnotifies(conn_)) {
        ++messages;
        std::string payload = n->extra != nullptr ? n->extra : "";
        PQfreemem(n);
        if (handlers_.message && !handlers_.message(payload)) ++invalid;
        if (conn_ == nullptr) return;  // a handler stopped us
    }
}

void NotifyListener::fail(std::string why) {
    if (state_ == State::connecting || state_ == State::resolving || conn_ == nullptr) ++connect_failures;
    if (why != last_error) {
        core::log(core::LogLevel::warn, "cache", "invalidation listener for database {}: {} (retrying)", database_, why);
    }
    last_error = std::move(why);
    drop_connection();
}

void NotifyListener::drop_connection() {
    if (poll_ != nullptr) {
        poll_->data = nullptr;
        uv_close(reinterpret_cast<uv_handle_t*>(poll_), free_poll);
        poll_ = nullptr;
    }
    fd_ = -1;
    if (conn_ != nullptr) {
        PQfinish(conn_);
        conn_ = nullptr;
    }
    state_ = State::idle;
}

}  // namespace portico::pool
