// One client connection: the state machine that reads requests (llhttp), runs each through the
// pipeline (checks → route → upstream), and streams both bodies with back-pressure. Pipelined
// requests wait, unparsed, until the exchange before them is over.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <uv.h>

#include "conf/schema.hpp"
#include "core/config_holder.hpp"
#include "core/deadline.hpp"
#include "core/metrics.hpp"
#include "core/stream_writer.hpp"
#include "proxy/cache_stage.hpp"
#include "proxy/compression.hpp"
#include "proxy/file_sender.hpp"
#include "proxy/headers.hpp"
#include "proxy/http_parser.hpp"
#include "proxy/intrusive_list.hpp"
#include "proxy/upstream_connection.hpp"

namespace portico::proxy {

class Worker;

class ClientConnection : private HttpParser::Sink, private UpstreamListener {
public:
    enum class State {
        reading_head,      // idle keep-alive or a request head arriving (header/idle timer)
        waiting_cache,     // a GET waits (cache.lock_timeout) for another request's fetch of its key
        waiting_upstream,  // head accepted; body bytes wait (bounded) for an upstream connection
        proxying,          // an upstream connection carries the exchange
        sending_file,      // a static file's body goes out as the socket takes it (file_sender_)
        closing,           // flushing the last bytes, then lingering, then closed
    };

    ClientConnection(Worker& worker, bool unix_socket);
    ~ClientConnection() override;
    ClientConnection(const ClientConnection&) = delete;
    ClientConnection& operator=(const ClientConnection&) = delete;

    // Takes the pending connection from `server` and starts reading. false: nothing to accept.
    bool accept(uv_stream_t* server);
    // The worker is draining: idle connections close now, busy ones after their response.
    void drain();
    // Immediate close (drain deadline, fatal errors). Memory goes in the close callback.
    void abort();
    State state() const { return state_; }
    // The fetch this request waited for is over: look again. `retry`: its leader gave up undecided,
    // so this request may lead (or wait) again; otherwise a miss now goes upstream directly.
    void coalesce_released(bool retry);

    ListHook hook;  // in the worker's connection list

private:
    // HttpParser::Sink (client requests)
    int on_head(MessageHead& head) override;
    int on_body(std::string_view data) override;
    int on_message_end() override;
    // UpstreamListener
    void upstream_ready(UpstreamConnection* connection) override;
    void upstream_failed(UpstreamError error, bool reused_connection) override;
    int upstream_head(MessageHead& head) override;
    int upstream_body(std::string_view data) override;
    void upstream_end() override;
    void upstream_drained() override;
    void upstream_read_end() override;
    void upstream_interim(const MessageHead& head) override;

    static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
    static void on_deadline(void* self);
    static void on_close(uv_handle_t* handle);
    static void on_shutdown(uv_shutdown_t* req, int status);
    static void on_client_drained(void* self, int status);
    static void on_file_sent(void* self, int status);

    void handle_data(std::string_view data);
    void handle_eof();
    void feed(std::string_view data);
    void reject(int status, std::string_view detail, std::string_view extra_headers = {});
    void respond_local(int status, std::string_view detail, bool close, std::string_view extra_headers = {});
    void send_local(int status, std::string_view out, bool close);
    bool rate_limited();  // the rate-limit stage: true when answered 429
    bool serve_static();  // the static stage (client_connection_static.cpp): false when the app answers
    void file_send_timeout();
    void send_request_bytes(std::string_view data);
    void finish_exchange();
    void release_upstream();
    void reset_exchange();
    void start_closing();
    void linger();
    void set_state(State next);
    void arm_timer(uint64_t ms);
    void pause_reading(unsigned reason);
    void resume_reading(unsigned reason);
    void check_head_limits();
    void write_access_log();
    void feed_once(std::string_view data);
    void start_upstream();
    UpstreamRequestContext upstream_context() const;  // the forwarding fields of this exchange
    // The cache stage (client_connection_cache.cpp).
    bool cache_on() const;  // the process has a cache and the config enables it
    bool cache_lookup();  // true: answered from the cache, or waiting for another fetch
    bool cache_response_head(MessageHead& head, std::string& extra);  // true: not passed on
    void cache_after_unsafe(const MessageHead& head, std::string& extra);
    void cache_response_body(std::string_view data);
    void cache_response_end();
    bool cache_serve_ending();
    bool cache_serve_stale_on_failure(int status);
    void leave_coalescing();
    void start_refresh(const cache::EntryView& entry);
    void serve_stored(int status, std::string_view head, std::string_view body, const cache::EntryFacts& facts,
                      XCache x, std::string_view params);
    int send_body(std::string_view data);
    CompressionSettings compression_settings() const;
    bool send_to_client(std::string_view a, std::string_view b = {}, std::string_view c = {},
                        std::string_view d = {});

    static constexpr unsigned kPausedByBackPressure = 1;  // the other side's queue is full
    static constexpr unsigned kPausedByPipeline = 2;     // pipelined bytes are piling up

    Worker& worker_;
    State state_ = State::reading_head;
    union {
        uv_tcp_t tcp;
        uv_pipe_t pipe;
    } stream_;
    bool unix_socket_;
    core::Deadline deadline_;  // header, idle and linger timeouts
    uv_shutdown_t shutdown_req_{};  // .handle stays null until linger() starts the shutdown
    int pending_closes_ = 0;
    bool closed_ = false;
    core::StreamWriter writer_;
    HttpParser parser_;
    std::string pending_input_;  // pipelined bytes read while an exchange was running
    std::string peer_ip_;
    bool peer_trusted_ = false;
    unsigned read_paused_ = 0;   // a set of kPausedBy… reasons
    bool reading_ = false;
    bool head_started_ = false;  // bytes of the next request head have arrived

    // The current exchange.
    core::ConfigPtr config_;
    const conf::Route* route_ = nullptr;
    core::metrics::RouteId route_id_ = core::metrics::kOtherRoute;  // requests refused before routing count here
    UpstreamConnection* upstream_ = nullptr;
    std::string_view request_path_;  // the target's path without the query (a view into the parsed head)
    std::string request_id_;
    std::string client_ip_;
    std::string request_line_;   // "GET /path HTTP/1.1" for the access log
    std::string body_backlog_;   // body bytes (already framed) waiting for the upstream connection
    std::string response_head_;  // held back to leave in one write with the first body bytes
    uint64_t request_body_bytes_ = 0;
    uint64_t response_bytes_ = 0;
    uint64_t started_ns_ = 0;
    uint64_t upstream_sent_ns_ = 0;
    uint64_t upstream_head_ns_ = 0;
    int status_ = 0;
    int method_ = 0;
    BodyFraming request_framing_ = BodyFraming::none;
    ClientFraming response_framing_ = ClientFraming::none;
    bool in_exchange_ = false;
    bool request_complete_ = false;
    bool response_started_ = false;
    bool close_after_ = false;
    bool retried_ = false;
    bool client_gone_ = false;
    bool acquiring_ = false;           // inside acquire(): an upstream_ready() now is synchronous
    bool acquire_after_feed_ = false;  // the head is accepted; ask for an upstream once this read is parsed
    bool feeding_ = false;             // inside feed(): a finished exchange leaves pipelined input to it
    bool refeed_ = false;              // … and asks it to parse pending_input_ next

    // The cache's part in the current exchange.
    struct StaleCopy {
        cache::EntryFacts facts;
        int status = 0;
        std::string head;
        std::string body;
    };
    struct CacheExchange {
        bool candidate = false;   // a GET/HEAD looked up in the cache
        bool announce = false;    // the cache is on: tell the client X-Cache even when bypassed
        cache::RequestCacheMode mode;
        std::string primary;
        std::string variant;
        cache::LeasePtr lease;    // this request fetches the key for everyone waiting on it
        uint64_t ticket = 0;      // nonzero while waiting for another request's fetch
        bool coalesced = false;   // waited once already: a second miss goes upstream directly
        XCache on_fetch = XCache::miss;       // MISS, EXPIRED or BYPASS for an upstream exchange
        std::string_view fwd = "uri-miss";    // Cache-Status fwd= of that exchange
        std::optional<StaleCopy> stale;       // for revalidation and stale-if-error
        bool revalidating = false;            // the stored validators went upstream
        enum class Ending : unsigned char { proxy, revalidated, stale } ending = Ending::proxy;
        int failed_status = 0;                // what the upstream answered before stale-if-error
        StoreFill fill;  // the response being stored as it streams
        cache::Instant request_time{};
    };
    CacheExchange cache_;
    std::string cache_extra_;  // X-Cache, Cache-Status, Age lines of the current response
    CompressionStage compression_;  // the compression stage's part in the current exchange
    std::string policy_fields_;     // RateLimit-* lines for the current response
    FileSender file_sender_;        // the body of a static answer
    uint64_t file_progress_ = 0;    // bytes it had sent when the send timeout was last armed
};

}  // namespace portico::proxy
