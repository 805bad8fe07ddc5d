// A server connection: libpq connects, the pool loop carries raw bytes; see server_connection.hpp.
#include "pool/server_connection.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "pool/builders.hpp"
#include "pool/client_connection.hpp"
#include "pool/pooler.hpp"

namespace portico::pool {

namespace {
constexpr size_t kReadChunk = 64 * 1024;
constexpr int kPlainReadsPerEvent = 4;  // level-triggered: the loop calls again if more is waiting

void free_poll(uv_handle_t* handle) { delete reinterpret_cast<uv_poll_t*>(handle); }

}  // namespace

ServerConnection::ServerConnection(Pooler& pooler, Pool& pool, uint64_t id)
    : pooler_(pooler), pool_(&pool), id_(id), reader_(Phase::typed, server_reader_limits()) {
    created_ns = Pooler::now_ns();  // a host name lookup before connect() counts toward the connect timeout
}

ServerConnection::~ServerConnection() {
    if (pg_ != nullptr) PQfinish(pg_);
}

void ServerConnection::connect(const std::vector<std::pair<std::string, std::string>>& params, std::string dropped) {
    dropped_hosts_ = std::move(dropped);
    std::vector<const char*> keys, values;
    for (const auto& [k, v] : params) {
        keys.push_back(k.c_str());
        values.push_back(v.c_str());
    }
    keys.push_back(nullptr);
    values.push_back(nullptr);
    pg_ = PQconnectStartParams(keys.data(), values.data(), 0);
    if (pg_ == nullptr) return fail("libpq: out of memory");
    if (PQstatus(pg_) == CONNECTION_BAD) return fail(PQerrorMessage(pg_));
    fd_ = PQsocket(pg_);
    if (fd_ < 0) return fail(PQerrorMessage(pg_));
    poll_ = new uv_poll_t{};
    if (int rc = uv_poll_init_socket(pooler_.loop(), poll_, fd_); rc != 0) {
        delete poll_;
        poll_ = nullptr;
        return fail(std::string("cannot watch the server socket: ") + uv_strerror(rc));
    }
    poll_->data = this;
    // libpq: after PQconnectStart, act as if PQconnectPoll had answered PGRES_POLLING_WRITING.
    watch(UV_WRITABLE);
}

void ServerConnection::watch(int events) {
    if (poll_ == nullptr || state_ == State::closed) return;
    if (events == events_) return;
    events_ = events;
    if (events == 0) uv_poll_stop(poll_);
    else uv_poll_start(poll_, events, &ServerConnection::on_poll);
}

void ServerConnection::continue_connect() {
    // Stop watching before libpq may close this socket and open another (the next host of a
    // multi-host conninfo): libuv must never watch a descriptor number that was reused.
    uv_poll_stop(poll_);
    events_ = 0;
    PostgresPollingStatusType status = PQconnectPoll(pg_);
    if (status == PGRES_POLLING_FAILED) return fail(PQerrorMessage(pg_));
    int fd = PQsocket(pg_);
    if (fd != fd_) {
        uv_close(reinterpret_cast<uv_handle_t*>(poll_), &free_poll);
        poll_ = new uv_poll_t{};
        fd_ = fd;
        if (int rc = uv_poll_init_socket(pooler_.loop(), poll_, fd_); rc != 0) {
            delete poll_;
            poll_ = nullptr;
            return fail(std::string("cannot watch the server socket: ") + uv_strerror(rc));
        }
        poll_->data = this;
    }
    switch (status) {
        case PGRES_POLLING_READING:
            watch(UV_READABLE);
            break;
        case PGRES_POLLING_WRITING:
            watch(UV_WRITABLE);
            break;
        case PGRES_POLLING_OK:
            connected();
            break;
        default:
            fail(PQerrorMessage(pg_));
            break;
    }
}

void ServerConnection::connected() {
    if (PQsslInUse(pg_)) {
        ssl_ = static_cast<SSL*>(PQsslStruct(pg_, "OpenSSL"));
        // The pool writes from its own buffer and may retry with a moved pointer or fewer bytes.
        if (ssl_ != nullptr) SSL_set_mode(ssl_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    }
    backend_pid_ = PQbackendPID(pg_);
    cancel_ = CancelHandle(PQgetCancel(pg_), &PQfreeCancel);
    for (std::string_view name : reported_param_names()) {
        std::string key(name);
        if (const char* value = PQparameterStatus(pg_, key.c_str())) {
            params_.initial.push_back({lowercase(name), value});
        }
    }
    params_.current = params_.initial;
    tx_status_ = 'I';
    state_ = State::idle;
    last_used_ns = Pooler::now_ns();
    watch(UV_READABLE);
    pooler_.server_connected(*this);
}

void ServerConnection::on_poll(uv_poll_t* handle, int status, int events) {
    auto* self = static_cast<ServerConnection*>(handle->data);
    if (self->state_ == State::closed) return;
    Pooler::ClockScope clock;
    if (status < 0) {
        // libuv reports EPOLLERR as UV_EBADF: read to learn what really happened (a reset, an EOF).
        if (self->state_ != State::connecting) self->readable();
        if (self->state_ != State::closed) self->fail("the connection to the server broke");
        return;
    }
    if (self->state_ == State::connecting) return self->continue_connect();
    if ((events & UV_WRITABLE) != 0) self->writable();
    if ((events & UV_READABLE) != 0 && self->state_ != State::closed) self->readable();
}

long ServerConnection::raw_read(char* buf, size_t len) {
    if (ssl_ != nullptr) {
        ERR_clear_error();
        int n = SSL_read(ssl_, buf, static_cast<int>(len));
        if (n > 0) return n;
        switch (SSL_get_error(ssl_, n)) {
            case SSL_ERROR_WANT_READ:
                return -1;
            case SSL_ERROR_WANT_WRITE:
                want_write_for_read_ = true;
                return -1;
            case SSL_ERROR_ZERO_RETURN:
                return 0;
            case SSL_ERROR_SYSCALL:
                return errno == 0 ? 0 : -2;
            default:
                return -2;
        }
    }
    for (;;) {
        ssize_t n = ::recv(fd_, buf, len, 0);
        if (n >= 0) return n;
        if (errno == EINTR) continue;
        return (errno == EAGAIN || errno == EWOULDBLOCK) ? -1 : -2;
    }
}

long ServerConnection::raw_write(const char* buf, size_t len) {
    if (ssl_ != nullptr) {
        ERR_clear_error();
        int n = SSL_write(ssl_, buf, static_cast<int>(std::min<size_t>(len, 1 << 30)));
        if (n > 0) return n;
        int e = SSL_get_error(ssl_, n);
        return (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) ? -1 : -2;
    }
    for (;;) {
        ssize_t n = ::send(fd_, buf, len, MSG_NOSIGNAL);
        if (n >= 0) return n;
        if (errno == EINTR) continue;
        return (errno == EAGAIN || errno == EWOULDBLOCK) ? -1 : -2;
    }
}

void ServerConnection::flush() {
    if (state_ == State::closed || state_ == State::connecting) return;
    while (out_pos_ < out_.size()) {
        long n = raw_write(out_.data() + out_pos_, out_.size() - out_pos_);
        if (n > 0) {
            out_pos_ += static_cast<size_t>(n);
            continue;
        }
        if (n == -1) break;
        return fail(std::string("cannot write to the server: ") + (errno ? std::strerror(errno) : "TLS error"));
    }
    if (out_pos_ == out_.size()) {
        out_.clear();
        out_pos_ = 0;
        // Back-pressure: a client that was stopped because this server could not keep up reads again.
        if (client_ != nullptr) client_->resume_reading();
    }
    watch((reading_paused_ ? 0 : UV_READABLE) | (queued() > 0 || want_write_for_read_ ? UV_WRITABLE : 0));
}

void ServerConnection::writable() {
    if (want_write_for_read_) {
        want_write_for_read_ = false;
        readable();
        if (state_ == State::closed) return;
    }
    flush();
}

void ServerConnection::pause_reading() {
    if (reading_paused_) return;
    reading_paused_ = true;
    watch(queued() > 0 || want_write_for_read_ ? UV_WRITABLE : 0);
}

void ServerConnection::resume_reading() {
    if (!reading_paused_ || state_ == State::closed) return;
    reading_paused_ = false;
    watch(UV_READABLE | (queued() > 0 || want_write_for_read_ ? UV_WRITABLE : 0));
    // TLS may hold decrypted bytes the socket will not signal again.
    if (ssl_ != nullptr && SSL_pending(ssl_) > 0) readable();
}

void ServerConnection::readable() {
    thread_local char buffer[kReadChunk];
    for (int i = 0; ssl_ != nullptr || i < kPlainReadsPerEvent; ++i) {
        if (reading_paused_ || state_ == State::closed) return;
        long n = raw_read(buffer, sizeof buffer);
        if (n > 0) {
            handle_bytes(std::string_view(buffer, static_cast<size_t>(n)));
            // A short plain read emptied the socket: another recv would only say EAGAIN (one wasted
            // system call per answer). Level-triggered polling calls again when more arrives. TLS
            // keeps reading: decrypted bytes may wait inside the session with the socket empty.
            if (ssl_ == nullptr && static_cast<size_t>(n) < sizeof buffer) return;
            continue;
        }
        if (n == -1) {
            if (want_write_for_read_) watch(events_ | UV_WRITABLE);
            return;
        }
        if (n == 0) return fail("the server closed the connection");
        return fail(std::string("cannot read from the server: ") + (errno ? std::strerror(errno) : "TLS error"));
    }
}

void ServerConnection::handle_bytes(std::string_view bytes) {
    reader_.feed(bytes);
    Message m;
    for (;;) {
        MessageReader::Status status = reader_.next(m);
        if (status == MessageReader::Status::need_more) break;
        if (status == MessageReader::Status::error) {
            return fail("protocol error from the server: " + reader_.error().message);
        }
        if (!handle_message(m)) return;
    }
    if (state_ == State::linked && client_ != nullptr) client_->flush_to_client();
    // The statement tracker may have released messages it held for a check (statement_tracker.hpp).
    if (state_ == State::linked && queued() > 0) flush();
    if (release_after_read_) {
        release_after_read_ = false;
        if (state_ == State::linked) pooler_.release(*this);
    }
}

bool ServerConnection::handle_message(const Message& m) {
    if (m.part) {
        in_part_ = !m.last;
        if (state_ == State::linked && client_ != nullptr) client_->append_from_server(m.raw);
        return true;
    }
    if (m.type == backend::kParameterStatus) {
        if (auto p = parse_parameter_status(m.body)) params_.set_current(lowercase(p->name), p->value);
        // A client's own SET, a reset, a sync: the last synced set no longer describes this server
        // (a finished sync records its set again).
        if (state_ != State::idle) synced_params_id = 0;
    }
    switch (state_) {
        case State::linked: {
            // False when the message answered the pooler's own Parse, Close or Sync.
            bool for_client = client_->from_server(*this, m);
            if (m.type == backend::kCopyInResponse) client_->copy_in_started();
            if (m.type == backend::kReadyForQuery && !m.body.empty()) {
                tx_status_ = m.body[0];
                if (for_client && client_->ready_for_query_arrived(tx_status_) && tx_status_ == 'I' && pooler_.transaction_mode()) {
                    release_after_read_ = true;
                }
            }
            return true;
        }
        case State::internal:
            if (m.type == backend::kErrorResponse && internal_error_.empty()) {
                if (auto e = parse_error_fields(m.body)) {
                    internal_error_ = std::string(e->message());
                    internal_sqlstate_ = std::string(e->sqlstate());
                    if (internal_error_.empty()) internal_error_ = "error";
                } else {
                    internal_error_ = "malformed error";
                }
            } else if (m.type == backend::kReadyForQuery && !m.body.empty()) {
                tx_status_ = m.body[0];
                if (--internal_pending_ == 0) {
                    finish_internal();
                    return state_ != State::closed;
                }
            }
            return true;
        default:
            // Idle: a FATAL (administrator shutdown, idle-session timeout) means the server is going.
            if (m.type == backend::kErrorResponse) {
                std::string why = "error from an idle server";
                if (auto e = parse_error_fields(m.body)) why = std::string(e->message());
                fail(why);
                return false;
            }
            return true;  // notices and stray notifications on an idle server are dropped
    }
}

void ServerConnection::run_internal(const std::vector<std::string>& queries, After after) {
    state_ = State::internal;
    internal_since_ns = Pooler::now_ns();
    after_ = after;
    internal_pending_ = static_cast<int>(queries.size());
    internal_error_.clear();
    internal_sqlstate_.clear();
    for (const std::string& q : queries) append_query(out_, q);
    flush();
}

void ServerConnection::finish_internal() {
    bool ok = internal_error_.empty() && !in_part_;
    pooler_.internal_done(*this, after_, ok);
}

void ServerConnection::fail(std::string reason) {
    if (state_ == State::connecting && !dropped_hosts_.empty()) reason = dropped_hosts_ + reason;
    close(reason);
}

void ServerConnection::close(std::string_view reason) {
    if (state_ == State::closed) return;
    State was = state_;
    state_ = State::closed;
    pooler_.server_closing(*this, was, std::string(reason));
    if (poll_ != nullptr) {
        uv_close(reinterpret_cast<uv_handle_t*>(poll_), &ServerConnection::on_closed);
    } else {
        pooler_.destroy_server(*this);
    }
}

void ServerConnection::on_closed(uv_handle_t* handle) {
    auto* self = static_cast<ServerConnection*>(handle->data);
    delete reinterpret_cast<uv_poll_t*>(handle);
    self->poll_ = nullptr;
    self->pooler_.destroy_server(*self);  // deletes self; PQfinish closes the socket
}

}  // namespace portico::pool
