// One application connection to the pool: the startup exchange (SSL refused, protocol negotiated,
// authentication), then its messages carried to whichever server the pooler links it to. In
// transaction mode it holds a server from its first message after ReadyForQuery 'I' until the next
// ReadyForQuery 'I' that ends all the work it sent; in session mode from login to goodbye.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <uv.h>

#include "core/stream_writer.hpp"
#include "pool/builders.hpp"
#include "pool/message_reader.hpp"
#include "pool/scram.hpp"
#include "pool/session_params.hpp"
#include "pool/statement_tracker.hpp"

namespace portico::pool {

class Pool;
class Pooler;
class ServerConnection;

class ClientConnection {
public:
    enum class State : uint8_t {
        startup,        // before the StartupMessage
        password,       // waiting for the md5 answer
        sasl_initial,   // waiting for SCRAM's client-first
        sasl_final,     // waiting for SCRAM's client-final
        login_wait,     // authenticated; waiting for a server to learn the parameters it reports
        ready,          // logged in (linked or not)
        closed,
    };

    ClientConnection(Pooler& pooler, uint64_t id, bool unix_socket);
    ~ClientConnection();
    ClientConnection(const ClientConnection&) = delete;
    ClientConnection& operator=(const ClientConnection&) = delete;

    // The stream to accept into (a uv_pipe_t or uv_tcp_t inside this object).
    uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(&handle_); }
    void init_handle(uv_loop_t* loop);
    void start();  // after uv_accept

    // Sends a FATAL error and closes (after the write drains).
    void fail(std::string_view sqlstate, std::string_view message, std::string_view detail = {});
    void close();

    // From the server linked to this client: bytes to pass on (flushed by flush_to_client()).
    void append_from_server(std::string_view bytes) { out_.append(bytes); }
    // A whole message from the linked server, through the statement tracker in transaction mode.
    // False when it was the answer to the pooler's own message and the client does not see it.
    bool from_server(ServerConnection& server, const Message& m);
    void flush_to_client();
    // The server reached ReadyForQuery: one expected answer fewer. True when the client's work is
    // all answered (nothing outstanding, nothing unsynced, no half-sent message).
    bool ready_for_query_arrived(char status);
    // The server answered CopyInResponse: COPY FROM STDIN started.
    void copy_in_started();
    // The pooler linked a server (now or after it was synced): send what the client queued.
    void linked(ServerConnection& server);
    void unlinked() {
        server_ = nullptr;
        tracker_.link_lost();
    }
    // Everything this client sent has been answered, our own messages included.
    bool statements_answered() const { return tracker_.answered(); }
    const StatementTracker& statements() const { return tracker_; }
    // A server is being made ready for this client (pre-ping, parameter sync): it holds it already.
    void attach(ServerConnection* server) { server_ = server; }
    // Login finished on the server that learned the parameters.
    void finish_login();
    // The server could not be had: what to tell the client.
    void server_unavailable(std::string_view sqlstate, std::string_view message, std::string_view detail);

    void pause_reading();
    void resume_reading();

    uint64_t id() const { return id_; }
    State state() const { return state_; }
    Pool* pool() const { return pool_; }
    ServerConnection* server() const { return server_; }
    const Params& wanted() const { return wanted_; }
    uint64_t params_id() const { return params_id_; }
    bool has_queued_work() const { return !pending_.empty(); }
    bool idle_between_transactions() const { return expected_ready_ == 0 && !unsynced_ && !in_part_; }
    int32_t cancel_pid() const { return cancel_pid_; }
    const std::string& cancel_key() const { return cancel_key_; }
    const std::string& user() const { return user_; }
    const std::string& database() const { return database_; }

    uint64_t connected_ns = 0;
    uint64_t wait_started_ns = 0;   // when it queued for a server (0 = not waiting)
    uint64_t last_activity_ns = 0;  // last bytes either way while linked
    uint64_t cycle_started_ns = 0;  // first message of the current command cycle
    bool waiting = false;           // in its pool's queue
    bool left = false;              // Pooler::client_leaving ran: holds nothing any more
    bool counted_in_pool = false;   // logged in: counted in its pool's clients

private:
    static void on_alloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf);
    static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
    static void on_drain(void* owner, int status);
    static void on_closed(uv_handle_t* handle);
    void handle_bytes(std::string_view bytes);
    bool handle_startup(const Message& m);
    bool handle_auth_message(const Message& m);
    bool handle_typed(const Message& m);
    void start_login();
    void authenticated();
    void forward(const Message& m);
    // Transaction mode: messages go through the statement tracker on their way to `server`.
    void forward_tracked(ServerConnection& server, const Message& m);
    void forward_pending(ServerConnection& server);
    // Queued work that needs no server (a Parse+Sync of a known statement): answered here.
    bool answer_without_server();
    StatementTracker::Link link_to(ServerConnection& server);
    void clear_pending();
    // Transaction mode: a Query or Parse that would LISTEN is replaced by one that fails with 0A000.
    bool refuse_listen(const Message& m, std::string& storage, Message& refusal);
    void count(char type);
    void after_read();
    void write_now(std::string_view bytes);

    Pooler& pooler_;
    uint64_t id_;
    bool unix_socket_;
    union {
        uv_pipe_t pipe;
        uv_tcp_t tcp;
    } handle_;
    core::StreamWriter writer_;
    MessageReader reader_;
    State state_ = State::startup;
    bool reading_ = false;
    bool closing_after_write_ = false;
    bool terminate_ = false;        // the client sent Terminate
    Pool* pool_ = nullptr;
    ServerConnection* server_ = nullptr;
    std::string user_;
    std::string database_;
    Params wanted_;
    uint64_t params_id_ = 0;  // pool_->params_id_for(wanted_)
    std::string md5_salt_;
    std::unique_ptr<ScramServer> scram_;
    int32_t cancel_pid_ = 0;
    std::string cancel_key_;
    std::string out_;       // to the client, written at the end of each read
    std::string pending_;   // to a server this client does not have yet
    StatementTracker tracker_;  // transaction mode: named statements, session state
    int expected_ready_ = 0;  // ReadyForQuery still owed for the Query/Sync/FunctionCall sent
    bool unsynced_ = false;   // extended-protocol messages sent since the last Sync
    bool in_part_ = false;    // forwarding a streamed message
    // COPY FROM STDIN through the extended protocol: Syncs sent after its Execute are not answered.
    char last_cycle_end_ = 0;      // Query or Sync: what ended the last cycle the client sent
    int syncs_since_execute_ = 0;
    bool copy_in_extended_ = false;
    bool negotiate_minor_ = false;
    std::vector<std::string> unknown_protocol_options_;
};

}  // namespace portico::pool
