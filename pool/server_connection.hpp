// One connection to PostgreSQL. libpq opens it (non-blocking PQconnectStartParams/PQconnectPoll
// driven by the pool loop, TLS and authentication included); after that the pooler carries the raw
// protocol over the socket — or through the TLS session libpq set up (PQsslStruct) — and looks at
// just enough of the stream to know when the server is ready and what it reports.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <libpq-fe.h>
#include <uv.h>

#include "pool/backend.hpp"
#include "pool/message_reader.hpp"
#include "pool/session_params.hpp"
#include "pool/statement_tracker.hpp"
#include "pool/statements.hpp"

typedef struct ssl_st SSL;

namespace portico::pool {

class ClientConnection;
class Pool;
class Pooler;

// A PGcancel kept alive by whoever may still use it (a cancel running on libuv's thread pool).
using CancelHandle = std::shared_ptr<PGcancel>;

class ServerConnection {
public:
    enum class State : uint8_t {
        connecting,  // libpq is connecting and authenticating
        idle,        // in its pool, ready for a client
        linked,      // carrying a client's work
        internal,    // running the pooler's own queries (reset, parameter sync, pre-ping)
        closed,      // closing: waiting for its handle to close
    };
    // What to do when the pooler's own queries finish.
    enum class After : uint8_t { link, release, check };

    ServerConnection(Pooler& pooler, Pool& pool, uint64_t id);
    ~ServerConnection();
    ServerConnection(const ServerConnection&) = delete;
    ServerConnection& operator=(const ServerConnection&) = delete;

    // Starts libpq's non-blocking connect with these keyword/value pairs (host names already
    // resolved: conninfo_hosts.hpp). `dropped`: hosts left out because they did not resolve, put
    // before libpq's error if the connect fails, as libpq would list them.
    void connect(const std::vector<std::pair<std::string, std::string>>& params, std::string dropped = {});
    // Closes at once (idempotent); the object is deleted once its poll handle has closed.
    void close(std::string_view reason);

    // Queue bytes for the server; flush() writes what the socket takes and waits for writability
    // for the rest.
    void append(std::string_view bytes) { out_.append(bytes); }
    std::string& outgoing() { return out_; }  // append() for writers that build in place
    void flush();
    size_t queued() const { return out_.size() - out_pos_; }

    // Runs the pooler's own simple queries (each one Query message), swallowing their answers, then
    // continues as `after` says. An error or a closed server fails the step (Pooler decides).
    void run_internal(const std::vector<std::string>& queries, After after);

    void pause_reading();
    void resume_reading();

    uint64_t id() const { return id_; }
    State state() const { return state_; }
    void set_state(State s) { state_ = s; }
    Pool& pool() { return *pool_; }
    ClientConnection* client() const { return client_; }
    // A deferred release belongs to the client it was decided for: any change of client drops it.
    void set_client(ClientConnection* c) {
        client_ = c;
        release_after_read_ = false;
    }
    ServerParams& params() { return params_; }
    char transaction_status() const { return tx_status_; }
    int32_t backend_pid() const { return backend_pid_; }
    const CancelHandle& cancel_handle() const { return cancel_; }
    bool at_message_boundary() const { return reader_.pending() == 0 && !in_part_; }
    const std::string& internal_error() const { return internal_error_; }
    After after() const { return after_; }

    uint64_t created_ns = 0;
    uint64_t last_used_ns = 0;     // when it last went idle
    uint64_t linked_since_ns = 0;
    uint64_t internal_since_ns = 0;  // when the pooler's own queries were sent
    uint64_t conninfo_generation = 0;  // retired when the database's conninfo changes
    bool retire = false;           // close instead of returning to the pool
    // The parameter set (Pool::params_id_for) this server was last brought to; 0 = unknown (a client
    // changed a reported parameter, or a reset ran).
    uint64_t synced_params_id = 0;
    // The parameter set a SET/RESET under way is for, kept so a client leaving during it does not
    // leave the server's state unknown.
    Params syncing_for;
    uint64_t syncing_id = 0;
    int cancels_in_flight = 0;  // PQcancel calls on the thread pool that may still hit this backend
    // Transaction mode: the clients' named statements prepared here, and what its last clients
    // changed that must be reset before the next one (statement_tracker.hpp).
    ServerStatements statements;
    SessionDirt dirt;

private:
    static void on_poll(uv_poll_t* handle, int status, int events);
    static void on_closed(uv_handle_t* handle);
    void continue_connect();
    void connected();
    void watch(int events);
    void readable();
    void writable();
    void handle_bytes(std::string_view bytes);
    bool handle_message(const Message& m);  // false: stop (the connection closed or changed hands)
    void finish_internal();
    void fail(std::string reason);
    // Raw I/O over the socket or the TLS session: bytes, 0 for EOF, -1 for would-block, -2 error.
    long raw_read(char* buf, size_t len);
    long raw_write(const char* buf, size_t len);

    Pooler& pooler_;
    Pool* pool_;
    uint64_t id_;
    State state_ = State::connecting;
    PGconn* pg_ = nullptr;
    SSL* ssl_ = nullptr;
    uv_poll_t* poll_ = nullptr;  // heap: it may be replaced while libpq tries several hosts
    int fd_ = -1;
    int events_ = 0;
    bool reading_paused_ = false;
    bool want_write_for_read_ = false;  // TLS: SSL_read asked to wait for writability
    ClientConnection* client_ = nullptr;
    MessageReader reader_;
    bool in_part_ = false;       // between a streamed message's first and last parts
    std::string out_;
    size_t out_pos_ = 0;
    ServerParams params_;
    std::string dropped_hosts_;
    char tx_status_ = 'I';
    int32_t backend_pid_ = 0;
    CancelHandle cancel_;
    int internal_pending_ = 0;
    After after_ = After::release;
    std::string internal_error_;
    std::string internal_sqlstate_;
    bool release_after_read_ = false;
};

}  // namespace portico::pool
