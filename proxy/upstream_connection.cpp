// The upstream connection state machine; see upstream_connection.hpp.
#include "proxy/upstream_connection.hpp"

#include "core/read_buffer.hpp"
#include "proxy/upstream_pool.hpp"

namespace portico::proxy {

std::string_view describe(UpstreamError error) {
    switch (error) {
        case UpstreamError::connect_failed: return "upstream refused the connection";
        case UpstreamError::connect_timeout: return "upstream connect timed out";
        case UpstreamError::queue_timeout: return "upstream busy (max_connections reached)";
        case UpstreamError::read_timeout: return "upstream timed out";
        case UpstreamError::closed_before_head: return "upstream closed the connection before answering";
        case UpstreamError::closed_mid_body: return "upstream closed the connection mid-response";
        case UpstreamError::bad_response: return "upstream sent an invalid response";
        case UpstreamError::write_failed: return "could not send the request to the upstream";
        case UpstreamError::out_of_descriptors: return "no file descriptor left to reach the upstream";
    }
    return "upstream error";
}

UpstreamConnection::UpstreamConnection(UpstreamPool& pool, uv_loop_t* loop, bool unix_socket)
    : pool_(pool), unix_socket_(unix_socket), parser_(HTTP_RESPONSE, this) {
    if (unix_socket_) {
        uv_pipe_init(loop, &stream_.pipe, 0);
    } else {
        uv_tcp_init(loop, &stream_.tcp);
    }
    stream_.tcp.data = this;  // uv_handle_t fields overlap in both members of the union
    deadline_.init(loop, this, &UpstreamConnection::on_deadline);
    connect_req_.data = this;
    writer_.attach(reinterpret_cast<uv_stream_t*>(&stream_), this, &UpstreamConnection::on_write_drained);
}

UpstreamConnection::~UpstreamConnection() = default;

void UpstreamConnection::connect(const sockaddr* address, uint64_t timeout_ms) {
    state_ = State::connecting;
    deadline_.set(timeout_ms);
    if (unix_socket_) {
        const auto* un = reinterpret_cast<const sockaddr_un*>(address);
        uv_pipe_connect(&connect_req_, &stream_.pipe, un->sun_path, &UpstreamConnection::on_connect);
        return;
    }
    uv_tcp_nodelay(&stream_.tcp, 1);
    int rc = uv_tcp_connect(&connect_req_, &stream_.tcp, address, &UpstreamConnection::on_connect);
    if (rc < 0) {
        // Report from the loop, never from inside acquire(): the caller is mid-setup.
        deadline_.set(1);
        connect_failed_now_ = true;
        out_of_descriptors_ = rc == UV_EMFILE || rc == UV_ENFILE;
    }
}

void UpstreamConnection::on_connect(uv_connect_t* req, int status) {
    auto* self = static_cast<UpstreamConnection*>(req->data);
    if (status == UV_ECANCELED || self->state_ == State::closing) return;
    self->deadline_.clear();
    if (status < 0) {
        self->pool_.failed(self, status == UV_EMFILE || status == UV_ENFILE ? UpstreamError::out_of_descriptors
                                                                            : UpstreamError::connect_failed);
        return;
    }
    self->reading_ = true;
    uv_read_start(reinterpret_cast<uv_stream_t*>(&self->stream_), &core::thread_read_buffer,
                  &UpstreamConnection::on_read);
    self->pool_.connected(self);
}

int UpstreamConnection::write(std::string_view a, std::string_view b, std::string_view c) {
    if (awaiting_response_) note_activity();
    return writer_.write(a, b, c);
}

void UpstreamConnection::expect_response(bool head_request, uint64_t read_timeout_ms) {
    // finish() runs inside the parser's own on_message_end callback, and the next exchange may
    // start on this connection from there (a pipelined request): llhttp would mark a parser reset
    // in a callback as paused again, so while parsing the reset waits until execute() returns.
    if (parsing_) {
        reset_pending_ = true;
    } else {
        parser_.reset();
    }
    head_request_ = head_request;
    read_timeout_ms_ = read_timeout_ms;
    awaiting_response_ = true;
    start_read_timer();
}

void UpstreamConnection::start_read_timer() { deadline_.set(read_timeout_ms_); }

// Called for every read and every write of the exchange: a long upload is progress too, as with
// nginx's proxy_send_timeout. Moving a core::Deadline later is free.
void UpstreamConnection::note_activity() { deadline_.set(read_timeout_ms_); }

void UpstreamConnection::pause_reading() {
    if (paused_ || state_ == State::closing) return;
    paused_ = true;
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&stream_));
    // A client that does not read is not the upstream's fault: no read timeout meanwhile.
    deadline_.clear();
}

void UpstreamConnection::resume_reading() {
    if (!paused_ || state_ == State::closing) return;
    paused_ = false;
    uv_read_start(reinterpret_cast<uv_stream_t*>(&stream_), &core::thread_read_buffer, &UpstreamConnection::on_read);
    if (awaiting_response_) start_read_timer();
}

void UpstreamConnection::on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
    auto* self = static_cast<UpstreamConnection*>(stream->data);
    if (nread > 0) {
        self->handle_data({buf->base, static_cast<size_t>(nread)});
    } else if (nread < 0) {
        self->handle_eof(static_cast<int>(nread));
    }
}

void UpstreamConnection::handle_data(std::string_view data) {
    if (state_ != State::busy || listener_ == nullptr || response_complete_) {
        // Bytes nobody asked for: the connection cannot be trusted with another request.
        if (state_ == State::idle) {
            pool_.idle_lost(this);
        } else {
            reusable_ = false;
        }
        return;
    }
    if (awaiting_response_) note_activity();
    size_t consumed = 0;
    parsing_ = true;
    HttpParser::Outcome outcome = parser_.execute(data, consumed);
    parsing_ = false;
    if (reset_pending_) {
        // A new exchange began inside a callback; this read belonged to the previous one.
        reset_pending_ = false;
        parser_.reset();
        if (consumed < data.size()) reusable_ = false;
        if (listener_ != nullptr) listener_->upstream_read_end();
        return;
    }
    if (state_ == State::closing) return;
    if (outcome == HttpParser::Outcome::error) {
        fail(response_started_ ? UpstreamError::closed_mid_body : UpstreamError::bad_response);
        return;
    }
    if (outcome == HttpParser::Outcome::paused && consumed < data.size()) reusable_ = false;
    if (listener_ != nullptr) listener_->upstream_read_end();
}

void UpstreamConnection::handle_eof(int error) {
    if (state_ == State::idle) {
        pool_.idle_lost(this);
        return;
    }
    if (state_ != State::busy) return;
    reusable_ = false;
    if (listener_ == nullptr || response_complete_) return;  // the exchange is ending anyway
    if (response_started_ && parser_.reads_until_close() && error == UV_EOF) {
        parsing_ = true;
        parser_.finish();  // completes the message: on_message_end runs
        parsing_ = false;
        reset_pending_ = false;  // the connection closes: nothing to reset for
        return;
    }
    fail(response_started_ ? UpstreamError::closed_mid_body : UpstreamError::closed_before_head);
}

void UpstreamConnection::fail(UpstreamError error) {
    deadline_.clear();
    pool_.failed(this, error);
}

int UpstreamConnection::on_head(MessageHead& head) {
    // We never ask for an upgrade (Upgrade is stripped from requests): a 101 is a broken upstream.
    if (head.status == 101) return -1;
    if (head.status >= 100 && head.status < 200) {
        interim_ = true;  // the final answer follows
        // 100 Continue answers an Expect we never forward (Portico answers it itself).
        if (head.status != 100 && listener_ != nullptr) listener_->upstream_interim(head);
        return 0;
    }
    interim_ = false;
    response_started_ = true;
    if (!head.keep_alive) reusable_ = false;
    int verdict = listener_->upstream_head(head);
    if (verdict == 0 && head_request_) verdict = 1;
    return verdict;
}

int UpstreamConnection::on_body(std::string_view data) {
    if (listener_ == nullptr) return -1;
    return listener_->upstream_body(data);
}

int UpstreamConnection::on_message_end() {
    if (interim_) {
        interim_ = false;
        return 0;
    }
    response_complete_ = true;
    awaiting_response_ = false;
    deadline_.clear();
    if (listener_ != nullptr) listener_->upstream_end();
    return HttpParser::kPause;
}

void UpstreamConnection::finish(bool reusable) {
    deadline_.clear();
    bool keep = reusable && reusable_ && response_complete_ && state_ == State::busy;
    ++requests_served_;
    response_started_ = response_complete_ = awaiting_response_ = interim_ = false;
    head_request_ = false;
    if (paused_) resume_reading();
    pool_.finished(this, keep);
}

void UpstreamConnection::abandon() {
    deadline_.clear();
    set_listener(nullptr);
    reusable_ = false;
    pool_.finished(this, /*reusable=*/false);
}

void UpstreamConnection::on_deadline(void* owner) {
    auto* self = static_cast<UpstreamConnection*>(owner);
    if (self->state_ == State::connecting) {
        self->pool_.failed(self, !self->connect_failed_now_  ? UpstreamError::connect_timeout
                                 : self->out_of_descriptors_ ? UpstreamError::out_of_descriptors
                                                             : UpstreamError::connect_failed);
        return;
    }
    if (self->state_ == State::busy) {
        self->fail(self->response_started_ ? UpstreamError::closed_mid_body : UpstreamError::read_timeout);
    }
}

void UpstreamConnection::on_write_drained(void* owner, int status) {
    auto* self = static_cast<UpstreamConnection*>(owner);
    if (self->state_ != State::busy) return;
    if (status < 0) {
        // EPIPE/ECONNRESET while sending: the upstream may still have answered (e.g. 413);
        // reading goes on and EOF reports the failure if no answer came.
        self->reusable_ = false;
        return;
    }
    if (self->awaiting_response_) self->note_activity();
    if (self->listener_ != nullptr) self->listener_->upstream_drained();
}

void UpstreamConnection::close() {
    if (state_ == State::closing) return;
    state_ = State::closing;
    pending_closes_ = 2;
    uv_close(reinterpret_cast<uv_handle_t*>(&stream_), &UpstreamConnection::on_close);
    deadline_.close(&UpstreamConnection::on_close, this);
}

void UpstreamConnection::on_close(uv_handle_t* handle) {
    auto* self = static_cast<UpstreamConnection*>(handle->data);
    if (--self->pending_closes_ > 0) return;
    self->pool_.destroyed(self);
    delete self;
}

}  // namespace portico::proxy
