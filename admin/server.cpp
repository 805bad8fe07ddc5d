// The admin server and its connections; see server.hpp. One connection state machine:
// reading (requests answered as they complete, in order) → closing (our last bytes written,
// half-closed, discarding input until the peer closes) → closed (handles closing, memory freed
// in the last close callback).
#include "admin/server.hpp"

#include <unistd.h>

#include <fmt/format.h>

#include "admin/auth.hpp"
#include "core/log.hpp"
#include "core/read_buffer.hpp"
#include "core/stream_writer.hpp"
#include "proxy/headers.hpp"
#include "proxy/http_parser.hpp"
#include "proxy/listener.hpp"

namespace portico::admin {

namespace {

constexpr uint64_t kLingerMs = 2000;       // how long a closing connection waits for the peer's FIN
constexpr size_t kHighWater = 1 << 20;     // queued response bytes above which reading stops

std::string_view status_text(int status) {
    std::string_view text = proxy::reason_phrase(status);
    if (text == "Unknown" && status == 422) return "Unprocessable Content";
    return text;
}

}  // namespace

class AdminConnection final : public proxy::HttpParser::Sink {
public:
    AdminConnection(Server& server, bool unix_socket) : server_(server), unix_socket_(unix_socket) {}
    AdminConnection(const AdminConnection&) = delete;
    AdminConnection& operator=(const AdminConnection&) = delete;

    // Accepts from `listener`; on failure the connection closes itself.
    void accept(uv_stream_t* listener);
    // Idempotent; memory goes in the last close callback.
    void close();

private:
    enum class State { reading, closing, closed };

    uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(&stream_); }
    uv_handle_t* stream_handle() { return reinterpret_cast<uv_handle_t*>(&stream_); }

    // libuv boundary: trampolines turn callbacks into one typed call each.
    static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
    static void on_timer(uv_timer_t* timer);
    static void on_drained(void* self, int status);
    static void on_shutdown(uv_shutdown_t* req, int status);
    static void on_closed(uv_handle_t* handle);

    void handle_data(std::string_view data);
    void handle_eof();
    void handle_timeout();
    void handle_drained(int status);

    // HttpParser::Sink
    int on_head(proxy::MessageHead& head) override;
    int on_body(std::string_view data) override;
    int on_message_end() override;

    void answer();
    void write_response(const Response& response, bool head_only, bool close);
    void reject(int status, std::string_view message);  // answers and closes
    void start_closing();
    void linger();
    void arm_timer(uint64_t ms) { uv_timer_start(&timer_, &AdminConnection::on_timer, ms, 0); }
    void resume_reading();

    Server& server_;
    bool unix_socket_;
    State state_ = State::reading;
    union {
        uv_tcp_t tcp;
        uv_pipe_t pipe;
    } stream_;
    uv_timer_t timer_;
    uv_shutdown_t shutdown_req_;
    int open_handles_ = 0;
    bool reading_ = false;
    bool request_deadline_ = false;  // the timer counts a request's deadline, not idleness
    proxy::HttpParser parser_{HTTP_REQUEST, this};
    core::StreamWriter writer_;
    std::string body_;
    int pending_error_ = 0;  // status decided inside a parser callback (413, 400)
    bool request_ready_ = false;
    std::string out_;
};

// ---- lifecycle ------------------------------------------------------------------------------

void AdminConnection::accept(uv_stream_t* listener) {
    uv_loop_t* loop = listener->loop;
    if (unix_socket_) {
        uv_pipe_init(loop, &stream_.pipe, 0);
    } else {
        uv_tcp_init(loop, &stream_.tcp);
    }
    stream_handle()->data = this;
    uv_timer_init(loop, &timer_);
    timer_.data = this;
    open_handles_ = 2;
    if (uv_accept(listener, stream()) != 0) {
        close();
        return;
    }
    if (!unix_socket_) uv_tcp_nodelay(&stream_.tcp, 1);
    writer_.attach(stream(), this, &AdminConnection::on_drained);
    if (server_.connections_.size() >= kMaxAdminConnections) {
        core::log(core::LogLevel::warn, "admin", "more than {} admin connections: closing a new one",
                  kMaxAdminConnections);
        close();
        return;
    }
    server_.connections_.insert(this);
    arm_timer(kAdminIdleTimeoutMs);
    resume_reading();
}

void AdminConnection::close() {
    if (state_ == State::closed) return;
    state_ = State::closed;
    server_.forget(this);  // harmless when never registered
    uv_timer_stop(&timer_);
    uv_close(stream_handle(), &AdminConnection::on_closed);
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_), &AdminConnection::on_closed);
}

void AdminConnection::on_closed(uv_handle_t* handle) {
    auto* self = static_cast<AdminConnection*>(handle->data);
    if (--self->open_handles_ == 0) delete self;
}

void AdminConnection::resume_reading() {
    if (reading_ || state_ == State::closed) return;
    if (uv_read_start(stream(), &core::thread_read_buffer, &AdminConnection::on_read) == 0) reading_ = true;
}

// ---- libuv boundary -------------------------------------------------------------------------

void AdminConnection::on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
    auto* self = static_cast<AdminConnection*>(stream->data);
    if (nread > 0) {
        self->handle_data({buf->base, static_cast<size_t>(nread)});
    } else if (nread < 0) {
        self->handle_eof();  // UV_EOF or a read error: either way the peer is gone
    }
}

void AdminConnection::on_timer(uv_timer_t* timer) { static_cast<AdminConnection*>(timer->data)->handle_timeout(); }

void AdminConnection::on_drained(void* self, int status) { static_cast<AdminConnection*>(self)->handle_drained(status); }

void AdminConnection::on_shutdown(uv_shutdown_t* req, int status) {
    auto* self = static_cast<AdminConnection*>(req->data);
    if (status == UV_ECANCELED || self->state_ == State::closed) return;  // closing already
    if (status < 0) self->close();
}

// ---- states ---------------------------------------------------------------------------------

void AdminConnection::handle_data(std::string_view data) {
    if (state_ == State::closing) return;  // lingering: discard
    while (state_ == State::reading && !data.empty()) {
        size_t consumed = 0;
        proxy::HttpParser::Outcome outcome = parser_.execute(data, consumed);
        if (state_ != State::reading) return;
        if (outcome == proxy::HttpParser::Outcome::error) {
            if (pending_error_ == 413) {
                reject(413, fmt::format("the body is larger than {} bytes", kMaxAdminBody));
            } else if (pending_error_ == 431) {
                reject(431, fmt::format("the request head is larger than {} bytes", kMaxAdminHead));
            } else {
                reject(400, fmt::format("bad request: {}", parser_.error_reason()));
            }
            return;
        }
        if (outcome == proxy::HttpParser::Outcome::ok) break;
        // Paused at the end of a message: answer it, then parse what followed (pipelining).
        data.remove_prefix(consumed);
        if (request_ready_) answer();
        if (state_ != State::reading) return;
        parser_.resume();
    }
    if (state_ != State::reading) return;
    if (parser_.in_message()) {
        if (parser_.head().head_bytes() > kMaxAdminHead) {
            reject(431, fmt::format("the request head is larger than {} bytes", kMaxAdminHead));
            return;
        }
        if (!request_deadline_) {
            request_deadline_ = true;
            arm_timer(kAdminRequestTimeoutMs);
        }
    }
    // Back-pressure: a peer that sends requests without reading answers stops being read.
    if (writer_.queued() > kHighWater && reading_) {
        uv_read_stop(stream());
        reading_ = false;
    }
}

void AdminConnection::handle_eof() {
    close();
}

void AdminConnection::handle_timeout() {
    if (state_ == State::reading && parser_.in_message()) {
        reject(408, "the request did not arrive in time");
        return;
    }
    close();  // idle keep-alive, or lingering long enough
}

void AdminConnection::handle_drained(int status) {
    if (state_ == State::closed) return;
    if (status < 0) {
        close();
        return;
    }
    if (state_ == State::closing) {
        if (writer_.idle()) linger();
        return;
    }
    if (writer_.queued() <= kHighWater / 2) resume_reading();
}

// ---- parsing --------------------------------------------------------------------------------

int AdminConnection::on_head(proxy::MessageHead& head) {
    if (head.method == HTTP_CONNECT) return -1;  // never a tunnel
    if (head.head_bytes() > kMaxAdminHead) {  // a whole oversized head in one read
        pending_error_ = 431;
        return -1;
    }
    if (head.framing == proxy::BodyFraming::content_length && head.content_length > kMaxAdminBody) {
        pending_error_ = 413;
        return -1;
    }
    body_.clear();
    // RFC 9110 §10.1.1: a client that waits for 100 Continue gets it once the head is acceptable.
    if (head.version_minor >= 1 && proxy::iequals(head.find("expect"), "100-continue")) {
        writer_.write("HTTP/1.1 100 Continue\r\n\r\n");
    }
    return 0;
}

int AdminConnection::on_body(std::string_view data) {
    if (body_.size() + data.size() > kMaxAdminBody) {
        pending_error_ = 413;
        return -1;
    }
    body_.append(data);
    return 0;
}

int AdminConnection::on_message_end() {
    request_ready_ = true;
    return proxy::HttpParser::kPause;
}

// ---- answering ------------------------------------------------------------------------------

void AdminConnection::answer() {
    request_ready_ = false;
    const proxy::MessageHead& head = parser_.head();
    std::string_view target = head.target();
    std::string_view path = target, query;
    if (size_t q = target.find('?'); q != std::string_view::npos) {
        path = target.substr(0, q);
        query = target.substr(q + 1);
    }
    Request request;
    request.method = llhttp_method_name(static_cast<llhttp_method_t>(head.method));
    request.path = path;
    request.query = query;
    request.body = body_;
    request.authorization = head.find("authorization");
    Response response = server_.router_.handle(request);
    bool close = !head.keep_alive || server_.closed_;
    write_response(response, /*head_only=*/head.method == HTTP_HEAD, close);
    if (state_ == State::closed) return;
    body_.clear();
    if (close) {
        start_closing();
        return;
    }
    request_deadline_ = false;
    arm_timer(kAdminIdleTimeoutMs);
}

void AdminConnection::write_response(const Response& response, bool head_only, bool close) {
    out_.clear();
    out_.append(fmt::format("HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\n",
                            response.status, status_text(response.status), response.content_type,
                            response.body.size()));
    out_.append(response.extra_headers);
    if (close) out_.append("Connection: close\r\n");
    out_.append("\r\n");
    int r = writer_.write(out_, head_only ? std::string_view() : std::string_view(response.body));
    if (r < 0) this->close();
}

void AdminConnection::reject(int status, std::string_view message) {
    Response response = Response::error(status, message);
    write_response(response, /*head_only=*/false, /*close=*/true);
    if (state_ == State::closed) return;
    start_closing();
}

void AdminConnection::start_closing() {
    if (state_ != State::reading) return;
    state_ = State::closing;
    arm_timer(kLingerMs);
    if (writer_.idle()) linger();
}

// Our last bytes are written: half-close, then read and discard until the peer closes or the
// linger timer ends, so unread request bytes do not make the kernel answer with a reset that
// destroys the response (RFC 9112 §9.6).
void AdminConnection::linger() {
    shutdown_req_.data = this;
    if (uv_shutdown(&shutdown_req_, stream(), &AdminConnection::on_shutdown) != 0) {
        close();
        return;
    }
    resume_reading();
}

// ---- server ---------------------------------------------------------------------------------

Server::Server(uv_loop_t* loop, AdminBackend& backend) : loop_(loop), router_(backend) {}

Server::~Server() { close(); }

std::string Server::start(const conf::Address& address, const std::string& token_file) {
    if (std::string error = set_token_file(token_file); !error.empty()) return error;
    std::string error;
    auto sockets = proxy::open_listen_sockets(address, /*workers=*/1, error);
    if (sockets.empty()) return error;
    int fd = sockets.front().fd;
    unix_socket_ = sockets.front().unix_socket;
    if (unix_socket_) unix_path_ = address.path;
    if (!unix_socket_) {
        sockaddr_storage addr{};
        socklen_t len = sizeof addr;
        if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
            port_ = addr.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port)
                                               : ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
        }
    }
    if (std::string failed = acceptor_.open(loop_, fd, unix_socket_, /*backlog=*/128, &Server::on_connection, this);
        !failed.empty()) {
        close();
        return fmt::format("cannot listen on {}: {}", address.text, failed);
    }
    std::string where = address.text;
    if (!unix_socket_ && address.port == 0) {  // say which port the kernel chose
        where = address.host.find(':') != std::string::npos ? fmt::format("[{}]:{}", address.host, port_)
                                                            : fmt::format("{}:{}", address.host, port_);
    }
    core::log(core::LogLevel::info, "admin", "admin port listening on {}{}", where,
              router_.token_required() ? " (token required)" : "");
    return "";
}

std::string Server::set_token_file(const std::string& token_file) {
    if (token_file.empty()) {
        router_.set_token("");
        return "";
    }
    std::string token;
    std::string error = read_token_file(token_file, token);
    if (!error.empty()) return error;
    router_.set_token(std::move(token));
    return "";
}

void Server::on_connection(uv_stream_t* listener, int status) {
    auto* self = static_cast<Server*>(listener->data);
    if (status < 0) {
        // EMFILE/ENFILE: stop accepting for a moment (libuv would retry accept() in a tight loop).
        if (!self->acceptor_.out_of_descriptors(status))
            core::log(core::LogLevel::warn, "admin", "accept failed: {}", uv_strerror(status));
        return;
    }
    if (self->closed_) return;
    auto* connection = new AdminConnection(*self, self->unix_socket_);
    connection->accept(listener);  // registers itself, or closes and frees itself
}

void Server::close() {
    if (closed_) return;
    closed_ = true;
    acceptor_.close();
    if (unix_socket_ && !unix_path_.empty()) ::unlink(unix_path_.c_str());
    // Each close() removes the connection from the set.
    while (!connections_.empty()) (*connections_.begin())->close();
}

}  // namespace portico::admin
