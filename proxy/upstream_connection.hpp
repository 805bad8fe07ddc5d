// One connection to the upstream app (TCP or Unix socket): its own state machine, response parser
// and writer. It serves one exchange at a time and returns to its pool's idle list between them.
#pragma once

#include <cstdint>
#include <string_view>
#include <sys/socket.h>
#include <sys/un.h>
#include <uv.h>

#include "core/deadline.hpp"
#include "core/stream_writer.hpp"
#include "proxy/http_parser.hpp"
#include "proxy/intrusive_list.hpp"

namespace portico::proxy {

class UpstreamPool;
class UpstreamConnection;

enum class UpstreamError {
    connect_failed,      // refused, unreachable, no such socket → 502
    connect_timeout,     // → 504
    queue_timeout,       // upstream.max_connections reached for queue_timeout → 503
    read_timeout,        // no response (head) in time → 504
    closed_before_head,  // the upstream closed or reset before a whole response head → 502
    closed_mid_body,     // the response was cut short → the client connection is cut too
    bad_response,        // unparseable response → 502
    write_failed,        // the request could not be written → 502
    out_of_descriptors,  // no file descriptor left for the connection (EMFILE/ENFILE) → 503 + Retry-After
};

std::string_view describe(UpstreamError error);

// What an exchange (the client side) hears from its upstream connection.
class UpstreamListener {
public:
    virtual ~UpstreamListener() = default;
    virtual void upstream_ready(UpstreamConnection* connection) = 0;
    virtual void upstream_failed(UpstreamError error, bool reused_connection) = 0;
    virtual int upstream_head(MessageHead& head) = 0;  // HttpParser::Sink::on_head semantics
    virtual int upstream_body(std::string_view data) = 0;
    virtual void upstream_end() = 0;
    virtual void upstream_drained() = 0;  // the request bytes queued for the upstream went out
    // One read from the upstream has been parsed: anything held back to be coalesced goes now.
    virtual void upstream_read_end() = 0;
    // An informational response (103 Early Hints…) before the final one (RFC 9110 §15.2).
    virtual void upstream_interim(const MessageHead& head) = 0;
};

class UpstreamConnection : private HttpParser::Sink {
public:
    enum class State { connecting, idle, busy, closing };

    UpstreamConnection(UpstreamPool& pool, uv_loop_t* loop, bool unix_socket);
    ~UpstreamConnection() override;

    // Starts the connection; the pool hears back through connected()/failed().
    void connect(const sockaddr* address, uint64_t timeout_ms);

    // Writes request bytes (head and/or body pieces) in order.
    int write(std::string_view a, std::string_view b = {}, std::string_view c = {});
    size_t queued_bytes() const { return writer_.queued(); }

    // Arms the wait for the response: read_timeout between reads until the response ends.
    void expect_response(bool head_request, uint64_t read_timeout_ms);
    void pause_reading();
    void resume_reading();

    // The exchange is over: back to the pool when reusable, else closed.
    void finish(bool reusable);
    // The exchange gives up on this connection mid-way (client vanished, timeout…).
    void abandon();

    State state() const { return state_; }
    bool reused() const { return requests_served_ > 0; }
    uint64_t requests_served() const { return requests_served_; }
    void set_listener(UpstreamListener* listener) { listener_ = listener; }
    void close();

    ListHook hook;  // in the pool's idle or busy list

private:
    friend class UpstreamPool;
    int on_head(MessageHead& head) override;
    int on_body(std::string_view data) override;
    int on_message_end() override;

    static void on_connect(uv_connect_t* req, int status);
    static void on_alloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf);
    static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
    static void on_deadline(void* self);
    static void on_close(uv_handle_t* handle);
    static void on_write_drained(void* self, int status);

    void handle_data(std::string_view data);
    void handle_eof(int error);
    void fail(UpstreamError error);
    void start_read_timer();
    void note_activity();

    UpstreamPool& pool_;
    State state_ = State::connecting;
    union {
        uv_tcp_t tcp;
        uv_pipe_t pipe;
    } stream_;
    bool unix_socket_ = false;
    core::Deadline deadline_;  // connect timeout, then the read timeout of each exchange
    uv_connect_t connect_req_;
    int pending_closes_ = 0;
    core::StreamWriter writer_;
    HttpParser parser_;
    UpstreamListener* listener_ = nullptr;
    uint64_t requests_served_ = 0;
    uint64_t read_timeout_ms_ = 0;
    bool awaiting_response_ = false;
    bool head_request_ = false;
    bool response_started_ = false;
    bool response_complete_ = false;
    bool interim_ = false;      // a 1xx response that is dropped, not forwarded
    bool reusable_ = true;      // false once the upstream said close or sent stray bytes
    bool reading_ = false;
    bool paused_ = false;
    bool holds_slot_ = false;
    bool parsing_ = false;        // inside parser_.execute(): callbacks are running
    bool reset_pending_ = false;  // a new exchange started from a callback; reset after execute
    bool connect_failed_now_ = false;  // uv_tcp_connect refused synchronously  // counted in UpstreamLimiter while connecting or busy
    bool out_of_descriptors_ = false;  // … for want of a file descriptor (EMFILE/ENFILE)
};

}  // namespace portico::proxy
