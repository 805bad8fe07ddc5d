// The client connection state machine; see client_connection.hpp. Reading order: accept → read →
// feed (llhttp) → on_head (checks, route, upstream) → body → message end → upstream callbacks →
// finish_exchange → the next pipelined request.
#include "proxy/client_connection.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>

#include "cache/conditional.hpp"
#include "cache/entry_codec.hpp"
#include "conf/routes.hpp"
#include "core/clock.hpp"
#include "core/log.hpp"
#include "core/read_buffer.hpp"
#include "proxy/client_ip.hpp"
#include "proxy/rate_limit_stage.hpp"
#include "proxy/request_checks.hpp"
#include "proxy/worker.hpp"

namespace portico::proxy {

namespace {

// Above this many queued bytes on one side, stop reading the other (back-pressure); resume below
// the low mark. 256 KiB keeps a 1 GiB transfer's memory bounded while filling loopback pipes.
constexpr size_t kHighWater = 256 * 1024;
constexpr size_t kLowWater = 64 * 1024;
// How long a closing connection keeps reading (and discarding) so that our last answer is not
// destroyed by a TCP reset (nginx's lingering close).
constexpr uint64_t kLingerMs = 2000;
constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

bool valid_request_id(std::string_view id) {
    if (id.empty() || id.size() > 200) return false;
    for (char c : id) {
        if (c <= 0x20 || c >= 0x7f) return false;
    }
    return true;
}

// The head as it was on the wire: the parsed text plus ": " and CRLF per field (the request line's
// few fixed bytes are left out). Many tiny fields count for what they cost, not only their text.
uint64_t approximate_head_size(const MessageHead& head) { return head.head_bytes() + 4 * head.header_count(); }

void chunk_size_line(char (&buf)[24], size_t size, std::string_view& out) {
    auto end = fmt::format_to(buf, "{:x}\r\n", size);
    out = std::string_view(buf, static_cast<size_t>(end - buf));
}

}  // namespace

ClientConnection::ClientConnection(Worker& worker, bool unix_socket)
    : worker_(worker), unix_socket_(unix_socket), parser_(HTTP_REQUEST, this) {
    if (unix_socket_) {
        uv_pipe_init(worker_.loop(), &stream_.pipe, 0);
    } else {
        uv_tcp_init(worker_.loop(), &stream_.tcp);
    }
    stream_.tcp.data = this;
    deadline_.init(worker_.loop(), this, &ClientConnection::on_deadline);
    shutdown_req_.data = this;
    writer_.attach(reinterpret_cast<uv_stream_t*>(&stream_), this, &ClientConnection::on_client_drained);
    file_sender_.attach(worker_.loop(), reinterpret_cast<uv_stream_t*>(&stream_), &writer_, this,
                        &ClientConnection::on_file_sent);
}

ClientConnection::~ClientConnection() = default;

bool ClientConnection::accept(uv_stream_t* server) {
    if (uv_accept(server, reinterpret_cast<uv_stream_t*>(&stream_)) != 0) return false;
    if (unix_socket_) {
        peer_ip_ = "unix";
        peer_trusted_ = true;  // only local processes can reach a Unix socket
    } else {
        uv_tcp_nodelay(&stream_.tcp, 1);
        sockaddr_storage addr{};
        int len = sizeof addr;
        char text[INET6_ADDRSTRLEN] = "unknown";
        if (uv_tcp_getpeername(&stream_.tcp, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
            if (addr.ss_family == AF_INET) {
                uv_ip4_name(reinterpret_cast<sockaddr_in*>(&addr), text, sizeof text);
            } else if (addr.ss_family == AF_INET6) {
                uv_ip6_name(reinterpret_cast<sockaddr_in6*>(&addr), text, sizeof text);
            }
        }
        peer_ip_ = text;
        auto ip = parse_ip(peer_ip_);
        peer_trusted_ = ip && is_trusted(worker_.config()->trusted_proxies, *ip);
        if (ip && !ip->v6 && peer_ip_.find(':') != std::string::npos) {
            // ::ffff:127.0.0.1 from a dual-stack socket: log the IPv4 form.
            peer_ip_ = peer_ip_.substr(peer_ip_.rfind(':') + 1);
        }
    }
    reading_ = true;
    uv_read_start(reinterpret_cast<uv_stream_t*>(&stream_), &core::thread_read_buffer, &ClientConnection::on_read);
    arm_timer(static_cast<uint64_t>(worker_.config()->limits.header_timeout.count()));
    return true;
}

void ClientConnection::set_state(State next) { state_ = next; }

void ClientConnection::arm_timer(uint64_t ms) { deadline_.set(ms); }

void ClientConnection::pause_reading(unsigned reason) {
    bool was_reading = read_paused_ == 0;
    read_paused_ |= reason;
    if (was_reading && reading_) uv_read_stop(reinterpret_cast<uv_stream_t*>(&stream_));
}

void ClientConnection::resume_reading(unsigned reason) {
    if ((read_paused_ & reason) == 0) return;
    read_paused_ &= ~reason;
    if (read_paused_ == 0 && reading_ && !closed_) {
        uv_read_start(reinterpret_cast<uv_stream_t*>(&stream_), &core::thread_read_buffer, &ClientConnection::on_read);
    }
}

// ---- reading ------------------------------------------------------------------------------

void ClientConnection::on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
    auto* self = static_cast<ClientConnection*>(stream->data);
    if (nread > 0) {
        self->handle_data({buf->base, static_cast<size_t>(nread)});
    } else if (nread < 0) {
        self->handle_eof();
    }
}

void ClientConnection::handle_data(std::string_view data) {
    if (state_ == State::closing) return;  // lingering: discard
    if (in_exchange_ && request_complete_) {
        // Pipelined: keep the bytes until this exchange is over; stop reading if they pile up.
        pending_input_.append(data);
        if (pending_input_.size() > worker_.config()->limits.max_header_bytes + core::kReadBufferSize) {
            pause_reading(kPausedByPipeline);
        }
        return;
    }
    feed(data);
}

// Parses `data`, then whatever pipelined input an exchange that ended synchronously (a cache hit,
// a local answer) left behind: a loop rather than recursion, so a client that pipelines a thousand
// cached GETs in one packet costs no stack.
void ClientConnection::feed(std::string_view data) {
    bool outer = !feeding_;
    feeding_ = true;
    feed_once(data);
    if (!outer) return;
    while (refeed_ && !closed_ && state_ != State::closing) {
        refeed_ = false;
        std::string input = std::move(pending_input_);
        pending_input_.clear();
        feed_once(input);
    }
    refeed_ = false;
    feeding_ = false;
}

void ClientConnection::feed_once(std::string_view data) {
    if (!in_exchange_ && !head_started_ && !data.empty()) {
        head_started_ = true;
        arm_timer(static_cast<uint64_t>(worker_.config()->limits.header_timeout.count()));
    }
    size_t consumed = 0;
    HttpParser::Outcome outcome = parser_.execute(data, consumed);
    if (state_ == State::closing || closed_) return;
    switch (outcome) {
        case HttpParser::Outcome::ok:
            if (!in_exchange_) check_head_limits();
            break;
        case HttpParser::Outcome::paused:
            pending_input_.append(data.substr(consumed));
            break;
        case HttpParser::Outcome::error: {
            Rejection r = reject_parse_error(parser_.error(), parser_.error_reason());
            core::log(core::LogLevel::debug, "proxy", "client {}: {} ({})", peer_ip_, r.reason,
                      parser_.error_reason());
            reject(r.status, r.reason);
            return;
        }
    }
    if (acquire_after_feed_ && state_ == State::waiting_upstream) {
        // Only now, with everything that arrived with the head parsed (and so checked), does the
        // request go upstream: a malformed body in the same packet never reaches the app.
        acquire_after_feed_ = false;
        if (route_->rate_limit && rate_limited()) return;
        if (route_->static_files && serve_static()) return;
        if (cache_.candidate && cache_lookup()) return;
        acquiring_ = true;
        worker_.upstream().acquire(this);
        acquiring_ = false;
    }
}

UpstreamRequestContext ClientConnection::upstream_context() const {
    UpstreamRequestContext context;
    context.client_ip = client_ip_;
    context.peer_ip = peer_ip_;
    context.peer_trusted = peer_trusted_;
    context.request_id = request_id_;
    context.default_host = config_->upstream.address.kind == conf::Address::Kind::tcp
                               ? std::string_view(config_->upstream.address.text)
                               : std::string_view("localhost");
    return context;
}

void ClientConnection::start_upstream() {
    set_state(State::waiting_upstream);
    worker_.upstream().acquire(this);
}

// The head is still arriving: refuse it once it is over the limit (414 while still in the target).
void ClientConnection::check_head_limits() {
    const MessageHead& head = parser_.head();
    uint64_t limit = config_ ? config_->limits.max_header_bytes : worker_.config()->limits.max_header_bytes;
    if (approximate_head_size(head) <= limit) return;
    if (head.header_count() == 0 && head.target().size() > 0) {
        reject(414, "request target too long");
    } else {
        reject(431, "request header fields too large");
    }
}

void ClientConnection::handle_eof() {
    if (state_ == State::closing) {
        abort();
        return;
    }
    reading_ = false;
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&stream_));
    if (!in_exchange_) {
        abort();  // between requests (or mid-head): nothing to answer
        return;
    }
    if (request_complete_) {
        if (state_ == State::waiting_cache) {
            // Still queued behind another request's fetch: a client that hung up leaves the queue
            // now (499, as nginx) rather than later taking the lead for an answer nobody reads.
            client_gone_ = true;
            abort();
            return;
        }
        // A half-close after a whole request: answer it, then close.
        close_after_ = true;
        return;
    }
    // The client went away mid-request: drop the exchange and its upstream connection.
    client_gone_ = true;
    abort();
}

// ---- the request --------------------------------------------------------------------------

int ClientConnection::on_head(MessageHead& head) {
    config_ = worker_.config();
    const conf::Config& config = *config_;
    in_exchange_ = true;
    started_ns_ = core::now_ns();
    method_ = head.method;
    request_framing_ = head.framing;
    request_line_.assign(llhttp_method_name(static_cast<llhttp_method_t>(head.method)));
    request_line_ += ' ';
    request_line_ += head.target();
    request_line_ += head.version_minor == 0 ? " HTTP/1.0" : " HTTP/1.1";

    std::string_view incoming_id = head.find(FieldId::x_request_id);
    if (valid_request_id(incoming_id)) {
        request_id_.assign(incoming_id);
    } else {
        worker_.make_request_id(request_id_);
    }

    if (approximate_head_size(head) > config.limits.max_header_bytes) {
        if (head.target().size() > config.limits.max_header_bytes) {
            reject(414, "request target too long");
        } else {
            reject(431, "request header fields too large");
        }
        return HttpParser::kPause;
    }
    if (Rejection r = check_request_head(head, config.limits.max_body_bytes)) {
        reject(r.status, r.reason);
        return HttpParser::kPause;
    }

    std::string_view target = head.target();
    std::string_view path = target;
    std::string_view authority;
    if (!target.empty() && target.front() != '/' && target != "*") split_absolute_form(target, authority, path);
    path = path.substr(0, path.find('?'));
    request_path_ = path;
    route_ = &conf::match_route(config, path);
    route_id_ = worker_.route_id(route_);

    client_ip_ = resolve_client_ip(peer_ip_, peer_trusted_, head.find(FieldId::x_forwarded_for), head.find(FieldId::x_real_ip),
                                   config.trusted_proxies);
    close_after_ = !head.keep_alive || worker_.draining();
    head_started_ = false;
    set_state(State::waiting_upstream);
    // No client-side timer while the exchange runs: the upstream side owns the timeouts.
    arm_timer(0);

    if (head.version_minor >= 1 && iequals(head.find(FieldId::expect), "100-continue") &&
        head.framing != BodyFraming::none) {
        writer_.write(kContinue);
    }

    if (cache_on()) {
        cache_.announce = true;
        // GET and HEAD without a body, on a route that caches, are looked up (HEAD is answered from
        // the stored GET).
        cache_.candidate = route_->cache_enabled && (head.method == HTTP_GET || head.method == HTTP_HEAD) &&
                           head.framing == BodyFraming::none;
    }
    acquire_after_feed_ = true;  // see the end of feed()
    return 0;
}

void ClientConnection::send_request_bytes(std::string_view data) {
    if (data.empty()) return;
    std::string_view frame_head, frame_tail;
    char size_line[24];
    if (request_framing_ == BodyFraming::chunked) {
        chunk_size_line(size_line, data.size(), frame_head);
        frame_tail = "\r\n";
    }
    if (upstream_ != nullptr) {
        upstream_->write(frame_head, data, frame_tail);
        if (upstream_->queued_bytes() > kHighWater) pause_reading(kPausedByBackPressure);
        return;
    }
    body_backlog_.append(frame_head);
    body_backlog_.append(data);
    body_backlog_.append(frame_tail);
    if (body_backlog_.size() > kHighWater) pause_reading(kPausedByBackPressure);
}

int ClientConnection::on_body(std::string_view data) {
    request_body_bytes_ += data.size();
    if (request_body_bytes_ > config_->limits.max_body_bytes) {
        reject(413, "request body too large");
        return -1;
    }
    if (response_started_ && upstream_ == nullptr) return 0;  // answered early: discard the rest
    send_request_bytes(data);
    return 0;
}

int ClientConnection::on_message_end() {
    request_complete_ = true;
    if (request_framing_ == BodyFraming::chunked && !(response_started_ && upstream_ == nullptr)) {
        // Our re-encoding ends the chunked body; trailers are not forwarded.
        if (upstream_ != nullptr) {
            upstream_->write("0\r\n\r\n");
        } else {
            body_backlog_.append("0\r\n\r\n");
        }
    }
    return HttpParser::kPause;  // the next pipelined request waits for this exchange
}

// ---- the upstream side --------------------------------------------------------------------

void ClientConnection::upstream_ready(UpstreamConnection* connection) {
    upstream_ = connection;
    set_state(State::proxying);
    const MessageHead& head = parser_.head();
    std::string& out = worker_.scratch();
    out.clear();
    UpstreamRequestContext context = upstream_context();
    std::string validators;
    if (cache_.revalidating && cache_.stale) {
        // Ask with the stored entry's validators instead of the client's (RFC 9111 §4.3.1).
        append_validators(validators, cache_.stale->head, worker_.response_fields());
        context.drop_conditionals = true;
        context.extra_headers = validators;
    }
    build_upstream_request(out, head, context);
    // An idle connection is handed over within the same read as the head: no need for the clock.
    upstream_sent_ns_ = acquiring_ ? started_ns_ : core::now_ns();
    upstream_->write(out, body_backlog_);
    std::string().swap(body_backlog_);
    uint64_t read_timeout = static_cast<uint64_t>(config_->upstream.read_timeout.count());
    uint64_t route_timeout = static_cast<uint64_t>(route_->timeout.count());
    if (route_timeout > 0 && (read_timeout == 0 || route_timeout < read_timeout)) read_timeout = route_timeout;
    upstream_->expect_response(method_ == HTTP_HEAD, read_timeout);
    if (upstream_->queued_bytes() <= kHighWater) resume_reading(kPausedByBackPressure);
}

void ClientConnection::upstream_failed(UpstreamError error, bool reused_connection) {
    upstream_ = nullptr;
    if (closed_ || state_ == State::closing) return;
    bool retriable = reused_connection && error == UpstreamError::closed_before_head && !retried_ &&
                     !response_started_ && is_idempotent(method_) && request_framing_ == BodyFraming::none;
    if (retriable) {
        // The app closed an idle keep-alive connection just as we reused it (RFC 9110 §9.2.2).
        retried_ = true;
        set_state(State::waiting_upstream);
        worker_.upstream().acquire(this, /*fresh=*/true);
        return;
    }
    core::log(core::LogLevel::warn, "proxy", "{} {}: {}", request_id_, request_line_, describe(error));
    if (!response_started_ && cache_serve_stale_on_failure(
                                  error == UpstreamError::connect_timeout || error == UpstreamError::read_timeout ? 504 : 502)) {
        return;
    }
    if (response_started_) {
        // Part of the response is out: cutting the connection is the only honest signal left.
        abort();
        return;
    }
    bool close = close_after_ || !request_complete_;
    switch (error) {
        case UpstreamError::queue_timeout: {
            auto seconds = std::max<long>(1, static_cast<long>((config_->upstream.queue_timeout.count() + 999) / 1000));
            respond_local(503, describe(error), close, fmt::format("Retry-After: {}\r\n", seconds));
            return;
        }
        case UpstreamError::out_of_descriptors:
            // Overloaded, not a broken upstream: come back in a moment (RFC 9110 §15.6.4).
            respond_local(503, describe(error), close, "Retry-After: 1\r\n");
            return;
        case UpstreamError::connect_timeout:
        case UpstreamError::read_timeout:
            respond_local(504, describe(error), close);
            return;
        default:
            respond_local(502, describe(error), close);
            return;
    }
}

int ClientConnection::upstream_head(MessageHead& head) {
    upstream_head_ns_ = core::now_ns();
    cache_extra_.clear();
    // Compression first: its head edits (Content-Encoding, Vary, a weak ETag) are part of what
    // the cache stores, so a stored compressed variant is served as it was sent.
    bool compressing = compression_.begin(parser_.head(), head, compression_settings(), worker_.metrics().compression);
    if (cache_.candidate) {
        if (cache_response_head(head, cache_extra_)) return 0;  // answered from the store at the end
    } else if (cache_.announce) {
        cache_after_unsafe(head, cache_extra_);
    }
    status_ = head.status;
    response_started_ = true;
    bool client_1_1 = parser_.head().version_minor >= 1;
    bool head_request = method_ == HTTP_HEAD;
    ClientResponseContext context;
    context.request_id = request_id_;
    context.portico_ms = core::ns_to_ms(upstream_head_ns_ - started_ns_);
    context.upstream_ms = core::ns_to_ms(upstream_head_ns_ - upstream_sent_ns_);
    bool no_body = head_request || head.status == 204 || head.status == 304 || head.status < 200;
    if (no_body) {
        response_framing_ = ClientFraming::none;
        // HEAD: announce the length the GET would have had, when the upstream told it.
        if (head_request && head.framing == BodyFraming::content_length) {
            context.framing = ClientFraming::content_length;
            context.content_length = head.content_length;
        } else if (head_request) {
            context.framing = ClientFraming::until_close;  // says nothing about a length
        }
    } else if (compressing && client_1_1) {
        response_framing_ = context.framing = ClientFraming::chunked;  // the compressed length is known at the end
    } else if (compressing) {
        response_framing_ = context.framing = ClientFraming::until_close;
        close_after_ = true;
    } else if (head.framing == BodyFraming::content_length) {
        response_framing_ = context.framing = ClientFraming::content_length;
        context.content_length = head.content_length;
    } else if (head.framing == BodyFraming::none) {
        response_framing_ = ClientFraming::none;
        context.framing = ClientFraming::none;
        context.content_length = 0;
    } else if (client_1_1) {
        response_framing_ = context.framing = ClientFraming::chunked;
    } else {
        response_framing_ = context.framing = ClientFraming::until_close;
        close_after_ = true;
    }
    if (!request_complete_) close_after_ = true;  // an early answer: the rest of the body is dropped
    if (worker_.draining()) close_after_ = true;
    context.close = close_after_;
    context.keep_alive_1_0 = !client_1_1 && !close_after_;
    cache_extra_.append(policy_fields_);
    context.extra_headers = cache_extra_;
    response_head_.clear();
    build_client_response(response_head_, head, context);
    // Not written yet: the first body bytes (often in the same read) leave with it.
    return 0;
}

// RFC 9110 §15.2: a proxy forwards 1xx responses it did not ask for, except to HTTP/1.0 clients.
void ClientConnection::upstream_interim(const MessageHead& head) {
    if (closed_ || parser_.head().version_minor == 0) return;
    std::string& out = worker_.scratch();
    out.clear();
    build_interim_response(out, head);
    send_to_client(out);
}

// One upstream read is parsed. What it compressed leaves now (a streamed response streams), and
// a head whose body is not here yet (a slow or streaming response) leaves on its own.
void ClientConnection::upstream_read_end() {
    if (closed_) return;
    if (compression_.active() && response_started_ && cache_.ending == CacheExchange::Ending::proxy) {
        std::string_view compressed = compression_.flush();
        if (!compressed.empty()) {
            send_body(compressed);
            return;
        }
    }
    if (response_head_.empty()) return;
    if (send_to_client(response_head_)) response_head_.clear();
}

bool ClientConnection::send_to_client(std::string_view a, std::string_view b, std::string_view c,
                                      std::string_view d) {
    if (writer_.write(a, b, c, d) == 0) return true;
    // The client is gone (EPIPE, ECONNRESET): stop reading a response nobody will get.
    client_gone_ = true;
    abort();
    return false;
}

int ClientConnection::upstream_body(std::string_view data) {
    if (cache_.ending != CacheExchange::Ending::proxy) return 0;  // replaced by a stored answer
    if (compression_.active()) {
        std::string_view compressed = compression_.write(data);
        return compressed.empty() ? 0 : send_body(compressed);
    }
    return send_body(data);
}

// Body bytes as the client gets them (compressed or not): into the cache's copy, then framed out.
int ClientConnection::send_body(std::string_view data) {
    if (cache_.fill) cache_response_body(data);
    response_bytes_ += data.size();
    bool sent;
    if (response_framing_ == ClientFraming::chunked) {
        char size_line[24];
        std::string_view frame_head;
        chunk_size_line(size_line, data.size(), frame_head);
        sent = send_to_client(response_head_, frame_head, data, "\r\n");
    } else {
        sent = send_to_client(response_head_, data);
    }
    if (!sent) return -1;
    response_head_.clear();
    if (writer_.queued() > kHighWater && upstream_ != nullptr) upstream_->pause_reading();
    return 0;
}

void ClientConnection::upstream_end() {
    if (cache_.ending != CacheExchange::Ending::proxy) {
        UpstreamConnection* connection = upstream_;
        upstream_ = nullptr;
        connection->finish(/*reusable=*/request_complete_);
        cache_serve_ending();
        return;
    }
    if (compression_.active()) {
        std::string_view rest = compression_.finish();  // the last block and the gzip trailer
        if (!rest.empty() && send_body(rest) != 0) return;
    }
    if (!send_to_client(response_head_, response_framing_ == ClientFraming::chunked ? "0\r\n\r\n" : "")) return;
    response_head_.clear();
    UpstreamConnection* connection = upstream_;
    upstream_ = nullptr;
    // Reusable only when the upstream got the whole request and answered it whole.
    connection->finish(/*reusable=*/request_complete_);
    if (!request_complete_) {
        // Stop feeding a body nobody reads; the connection closes after the answer.
        close_after_ = true;
    }
    if (cache_.fill) cache_response_end();
    finish_exchange();
}

void ClientConnection::upstream_drained() {
    if (upstream_ != nullptr && upstream_->queued_bytes() < kLowWater) resume_reading(kPausedByBackPressure);
}

void ClientConnection::on_client_drained(void* owner, int status) {
    auto* self = static_cast<ClientConnection*>(owner);
    if (self->closed_) return;
    if (status < 0) {
        self->client_gone_ = true;
        self->abort();
        return;
    }
    if (self->upstream_ != nullptr && self->writer_.queued() < kLowWater) self->upstream_->resume_reading();
    if (self->state_ == State::sending_file) self->file_sender_.writer_drained();
    if (self->state_ == State::closing && self->writer_.idle()) self->linger();
}

// ---- ending an exchange -------------------------------------------------------------------

// Drops this exchange's claim on the upstream: its connection (mid-exchange, so never reused)
// or its place in the pool's queue.
void ClientConnection::release_upstream() {
    if (upstream_ != nullptr) {
        UpstreamConnection* connection = upstream_;
        upstream_ = nullptr;
        connection->abandon();
    } else if (in_exchange_ && state_ == State::waiting_upstream) {
        worker_.upstream().cancel(this);
    }
    leave_coalescing();
}

void ClientConnection::reject(int status, std::string_view detail, std::string_view extra_headers) {
    release_upstream();  // whatever was sent upstream for this request is abandoned with it
    if (response_started_) {
        abort();
        return;
    }
    if (!in_exchange_) {
        in_exchange_ = true;
        started_ns_ = core::now_ns();
        if (request_id_.empty()) worker_.make_request_id(request_id_);
        if (request_line_.empty()) request_line_ = "-";
        client_ip_ = peer_ip_;
    }
    respond_local(status, detail, /*close=*/true, extra_headers);
}

void ClientConnection::respond_local(int status, std::string_view detail, bool close,
                                     std::string_view extra_headers) {
    std::string& out = worker_.scratch();
    out.clear();
    build_local_response(out, status, detail, request_id_, close, extra_headers, method_ == HTTP_HEAD);
    send_local(status, out, close);
}

// Portico's own answer `out` (a whole response) goes out; the exchange ends with it.
void ClientConnection::send_local(int status, std::string_view out, bool close) {
    status_ = status;
    response_started_ = true;
    response_bytes_ += out.size();
    writer_.write(out);
    if (close) {
        close_after_ = true;
        write_access_log();
        reset_exchange();
        start_closing();
        return;
    }
    finish_exchange();
}

// The rate-limit stage (DESIGN.md step 3). True when the request was answered 429; otherwise
// the route's RateLimit-* fields wait in policy_fields_ for whatever answers it.
bool ClientConnection::rate_limited() {
    const conf::RouteRateLimit& policy = *route_->rate_limit;
    uint64_t now = core::now_ns();
    RateLimitDecision d = check_rate_limit(worker_.rate_limiter(), policy, route_->pattern, parser_.head(),
                                           client_ip_, now);
    auto& metrics = worker_.metrics();
    switch (d.verdict) {
        case RateLimitVerdict::allow:
            metrics.ratelimit_allowed.inc(route_id_);
            // A dry run changes nothing the client sees.
            if (!policy.dry_run) append_rate_limit_fields(policy_fields_, policy, d.bucket);
            return false;
        case RateLimitVerdict::dry_run: {
            metrics.ratelimit_dry_run.inc(route_id_);
            uint64_t suppressed = 0;
            if (worker_.may_log_dry_run(now, suppressed)) {
                core::log(core::LogLevel::warn, "ratelimit",
                          "dry run: route {} would have refused {} ({} {}/s, burst {}){}", route_->pattern, d.key,
                          policy.rate.text, policy.rate.per_second, policy.burst,
                          suppressed > 0 ? fmt::format(" and {} more since the last line", suppressed) : "");
            }
            return false;
        }
        case RateLimitVerdict::reject:
            break;
    }
    metrics.ratelimit_rejected.inc(route_id_);
    std::string fields;
    append_rate_limit_fields(fields, policy, d.bucket);
    std::string& out = worker_.scratch();
    out.clear();
    // A body still on its way is not read: the connection closes after the answer.
    bool close = close_after_ || !request_complete_;
    build_local_answer(out, 429, "application/json", rate_limit_body(route_->pattern, d.bucket), request_id_, close,
                       fields, method_ == HTTP_HEAD);
    send_local(429, out, close);
    return true;
}

// Every finished exchange passes here once: metrics, the access log line, the slow-request log.
void ClientConnection::write_access_log() {
    uint64_t now = core::now_ns();
#ifndef PORTICO_NO_REQUEST_METRICS
    auto& metrics = worker_.metrics();
    metrics.http_requests.inc(route_id_, status_);
    metrics.request_duration.observe_ns(route_id_, now - started_ns_);
#endif
    const auto& config = config_ ? config_ : worker_.config();
    auto slow = static_cast<double>(config->log.slow_request.count());
    bool access_log = worker_.access_log_enabled();
    if (!access_log && slow <= 0) return;
    double duration = core::ns_to_ms(now - started_ns_);
    AccessRecord record;
    record.client_ip = client_ip_.empty() ? std::string_view(peer_ip_) : std::string_view(client_ip_);
    record.request_line = request_line_;
    record.status = status_;
    record.bytes_sent = response_bytes_;
    record.duration_ms = duration;
    record.upstream_ms = upstream_head_ns_ != 0 ? core::ns_to_ms(upstream_head_ns_ - upstream_sent_ns_) : -1;
    record.request_id = request_id_;
    record.route = route_ != nullptr ? std::string_view(route_->pattern) : std::string_view("-");
    if (access_log) worker_.access_log().append(record, worker_.access_log_json());
    if (slow > 0 && duration >= slow) {
        core::log(core::LogLevel::warn, "slow", "{} \"{}\" {} took {:.1f}ms (upstream {:.1f}ms) rid={}",
                  record.client_ip, request_line_, status_, duration, record.upstream_ms < 0 ? 0 : record.upstream_ms,
                  request_id_);
    }
}

void ClientConnection::reset_exchange() {
    config_.reset();
    route_ = nullptr;
    route_id_ = core::metrics::kOtherRoute;
    request_path_ = {};
    request_id_.clear();
    client_ip_.clear();
    request_line_.clear();
    std::string().swap(body_backlog_);
    request_body_bytes_ = response_bytes_ = 0;
    started_ns_ = upstream_sent_ns_ = upstream_head_ns_ = 0;
    status_ = 0;
    method_ = 0;
    request_framing_ = BodyFraming::none;
    response_framing_ = ClientFraming::none;
    in_exchange_ = request_complete_ = response_started_ = retried_ = acquire_after_feed_ = false;
    leave_coalescing();
    cache_ = CacheExchange{};  // a lease still held here (an unstored response) releases its waiters
    compression_.reset();
    policy_fields_.clear();
}

CompressionSettings ClientConnection::compression_settings() const {
    return CompressionSettings{route_->compression_enabled, route_->compression_level, config_->compression.min_size,
                               &config_->compression.types};
}

void ClientConnection::finish_exchange() {
    write_access_log();
    bool close = close_after_ || !request_complete_ || worker_.draining();
    const auto& config = config_ ? config_ : worker_.config();
    auto idle_timeout = static_cast<uint64_t>(config->limits.idle_timeout.count());
    reset_exchange();
    if (close) {
        start_closing();
        return;
    }
    set_state(State::reading_head);
    // Idle keep-alive connections give their buffers back.
    if (parser_.head().head_bytes() > 4096) parser_.head().release_memory();
    arm_timer(idle_timeout);
    parser_.resume();
    resume_reading(kPausedByPipeline);
    if (!pending_input_.empty()) {
        if (feeding_) {
            refeed_ = true;  // feed() is on the stack: it parses the rest in its loop
            return;
        }
        // The next pipelined request; feed() keeps whatever follows it in pending_input_ again.
        std::string input = std::move(pending_input_);
        pending_input_.clear();
        feed(input);
    }
}

void ClientConnection::start_closing() {
    if (state_ == State::closing || closed_) return;
    set_state(State::closing);
    arm_timer(kLingerMs);
    if (writer_.idle()) linger();
}

// Our last bytes are written: half-close, then read and discard until the peer closes or the
// linger timer ends, so the kernel does not answer unread bytes with a reset that eats our answer.
void ClientConnection::linger() {
    if (closed_ || shutdown_req_.handle != nullptr) return;
    if (uv_shutdown(&shutdown_req_, reinterpret_cast<uv_stream_t*>(&stream_), &ClientConnection::on_shutdown) != 0) {
        abort();
        return;
    }
    if (reading_) resume_reading(kPausedByBackPressure | kPausedByPipeline);
}

void ClientConnection::on_shutdown(uv_shutdown_t* req, int status) {
    auto* self = static_cast<ClientConnection*>(req->data);
    if (status < 0 && !self->closed_) self->abort();
}

void ClientConnection::on_deadline(void* owner) {
    auto* self = static_cast<ClientConnection*>(owner);
    switch (self->state_) {
        case State::reading_head:
            if (self->head_started_) {
                self->reject(408, "request header timeout");
            } else {
                self->abort();  // idle keep-alive connection timed out
            }
            return;
        case State::closing:
            self->abort();
            return;
        case State::sending_file:
            self->file_send_timeout();
            return;
        case State::waiting_cache:
            // cache.lock_timeout: stop waiting for the other request's fetch and go ourselves.
            self->leave_coalescing();
            self->coalesce_released(/*retry=*/false);
            return;
        default:
            return;
    }
}

void ClientConnection::drain() {
    if (state_ == State::reading_head && !head_started_ && !in_exchange_ && pending_input_.empty()) {
        abort();
        return;
    }
    close_after_ = true;
}

void ClientConnection::abort() {
    if (closed_) return;
    closed_ = true;
    release_upstream();
    if (state_ == State::sending_file) {  // cut mid-file: count what left
        response_bytes_ += file_sender_.bytes_sent();
        worker_.metrics().static_files.bytes_sent.inc(file_sender_.file_bytes_sent());
    }
    if (in_exchange_ && status_ == 0) {
        status_ = client_gone_ ? 499 : 502;  // 499: nginx's "client closed request"
        write_access_log();
    } else if (in_exchange_ && response_started_) {
        write_access_log();
    }
    set_state(State::closing);
    pending_closes_ = file_sender_.close(&ClientConnection::on_close, this) ? 3 : 2;
    uv_close(reinterpret_cast<uv_handle_t*>(&stream_), &ClientConnection::on_close);
    deadline_.close(&ClientConnection::on_close, this);
}

void ClientConnection::on_close(uv_handle_t* handle) {
    auto* self = static_cast<ClientConnection*>(handle->data);
    if (--self->pending_closes_ > 0) return;
    self->worker_.connection_closed(self);
    delete self;
}

}  // namespace portico::proxy
