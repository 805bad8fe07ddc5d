// An application connection to the pool; see client_connection.hpp.
#include "pool/client_connection.hpp"

#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include "core/log.hpp"
#include "core/read_buffer.hpp"
#include "pool/auth.hpp"
#include "pool/frontend.hpp"
#include "pool/pooler.hpp"
#include "pool/server_connection.hpp"
#include "pool/startup.hpp"
#include "pool/statement_guard.hpp"
#include "pool/userlist.hpp"

namespace portico::pool {

namespace {
// Back-pressure marks: above the high mark the other side stops reading; it reads again once the
// queue is empty (server side) or below the low mark (client side).
constexpr size_t kHighWater = 1024 * 1024;
constexpr size_t kLowWater = 256 * 1024;

std::optional<std::string> peer_user_name(uv_stream_t* stream) {
    uv_os_fd_t fd;
    if (uv_fileno(reinterpret_cast<uv_handle_t*>(stream), &fd) != 0) return std::nullopt;
    ucred cred{};
    socklen_t len = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return std::nullopt;
    passwd pw{};
    passwd* result = nullptr;
    char buf[4096];
    if (getpwuid_r(cred.uid, &pw, buf, sizeof buf, &result) != 0 || result == nullptr) return std::nullopt;
    return std::string(pw.pw_name);
}
}  // namespace

ClientConnection::ClientConnection(Pooler& pooler, uint64_t id, bool unix_socket)
    : pooler_(pooler), id_(id), unix_socket_(unix_socket), reader_(Phase::startup, client_reader_limits()) {}

ClientConnection::~ClientConnection() = default;

void ClientConnection::init_handle(uv_loop_t* loop) {
    if (unix_socket_) uv_pipe_init(loop, &handle_.pipe, 0);
    else uv_tcp_init(loop, &handle_.tcp);
    handle_.pipe.data = this;
}

void ClientConnection::start() {
    connected_ns = Pooler::now_ns();
    if (!unix_socket_) uv_tcp_nodelay(&handle_.tcp, 1);
    writer_.attach(stream(), this, &ClientConnection::on_drain);
    resume_reading();
}

void ClientConnection::on_alloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf) {
    core::thread_read_buffer(handle, suggested, buf);
}

void ClientConnection::on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
    auto* self = static_cast<ClientConnection*>(stream->data);
    Pooler::ClockScope clock;
    if (nread > 0) {
        self->handle_bytes(std::string_view(buf->base, static_cast<size_t>(nread)));
    } else if (nread < 0) {
        self->close();  // EOF or reset: whatever it held goes back clean (client_leaving)
    }
}

void ClientConnection::pause_reading() {
    if (!reading_) return;
    reading_ = false;
    uv_read_stop(stream());
}

void ClientConnection::resume_reading() {
    if (reading_ || state_ == State::closed || closing_after_write_) return;
    // Still too much queued toward a server: wait for it to drain.
    if (server_ != nullptr && server_->queued() > kHighWater) return;
    if (pending_.size() > kHighWater) return;
    reading_ = true;
    uv_read_start(stream(), &ClientConnection::on_alloc, &ClientConnection::on_read);
}

void ClientConnection::handle_bytes(std::string_view bytes) {
    if (state_ == State::closed || closing_after_write_) return;
    if (state_ == State::startup && reader_.pending() == 0 && is_direct_tls_handshake(bytes)) {
        // sslnegotiation=direct: a TLS ClientHello; the pool speaks no TLS, so close as Postgres does.
        return close();
    }
    if (pool_ != nullptr) pool_->counters.bytes_from_clients += bytes.size();
    last_activity_ns = Pooler::now_ns();  // one clock read per read, not per message
    reader_.feed(bytes);
    Message m;
    for (;;) {
        MessageReader::Status status = reader_.next(m);
        if (status == MessageReader::Status::need_more) break;
        if (status == MessageReader::Status::error) {
            const ProtocolError& e = reader_.error();
            return fail(sqlstate_of(e), e.message);
        }
        bool go_on = false;
        switch (state_) {
            case State::startup:
                go_on = handle_startup(m);
                break;
            case State::password:
            case State::sasl_initial:
            case State::sasl_final:
                go_on = handle_auth_message(m);
                break;
            case State::login_wait:
            case State::ready:
                go_on = handle_typed(m);
                break;
            case State::closed:
                return;
        }
        if (!go_on) return;
    }
    after_read();
}

void ClientConnection::after_read() {
    if (state_ == State::closed) return;
    flush_to_client();
    if (state_ != State::ready) return;
    if (server_ != nullptr && server_->state() == ServerConnection::State::linked) {
        server_->flush();
        if (server_ != nullptr && server_->queued() > kHighWater) pause_reading();
        return;
    }
    if (!pending_.empty() && server_ == nullptr && !waiting) {
        if (answer_without_server()) return flush_to_client();
        pooler_.acquire(*this);
    }
    // A waiting client keeps being read (so a client that gives up leaves the queue at once, and no
    // epoll_ctl pair is spent per queued transaction) until it has queued more than the high mark.
    if (pending_.size() > kHighWater) pause_reading();
}

bool ClientConnection::handle_startup(const Message& m) {
    auto packet = parse_startup_packet(m.body);
    if (!packet) {
        fail(sqlstate_of(packet.error), packet.error.message);
        return false;
    }
    switch (packet->kind) {
        case StartupKind::ssl_request:
        case StartupKind::gssenc_request:
            append_encryption_refused(out_);
            return true;
        case StartupKind::cancel_request:
            pooler_.cancel(packet->cancel.process_id, packet->cancel.secret_key);
            close();  // Postgres answers a cancel request with nothing but the close
            return false;
        case StartupKind::startup:
            break;
    }
    const StartupMessage& s = packet->startup;
    reader_.set_phase(Phase::typed);
    if (!s.replication.empty() && s.replication != "false" && s.replication != "off" && s.replication != "0") {
        fail(sqlstate::kFeatureNotSupported, "replication connections are not supported by the Portico pool");
        return false;
    }
    user_ = std::string(s.user);
    database_ = std::string(s.database);
    std::string error;
    if (!wanted_params(s, wanted_, error)) {
        fail(sqlstate::kProtocolViolation, error);
        return false;
    }
    // A client asking for a newer minor version (libpq 18 asks for 3.2) or for protocol options
    // learns that this pool speaks 3.0 and none of them, as Postgres answers.
    if (s.minor() > 0 || !s.protocol_options.empty()) {
        append_negotiate_protocol_version(out_, 0, s.protocol_options);
    }
    start_login();
    return state_ != State::closed;
}

void ClientConnection::start_login() {
    const conf::AuthConfig& auth = pooler_.config().auth;
    const std::string* secret = pooler_.userlist().find(user_);
    if (auth.type == "trust") return authenticated();
    if (auth.type == "peer") {
        if (!unix_socket_) {
            return fail(sqlstate::kInvalidAuthorizationSpecification,
                        fmt::format("peer authentication failed for user \"{}\": only available on the Unix socket", user_));
        }
        std::optional<std::string> os_user = peer_user_name(stream());
        if (!os_user || *os_user != user_) {
            return fail(sqlstate::kInvalidAuthorizationSpecification,
                        fmt::format("Peer authentication failed for user \"{}\"", user_),
                        os_user ? fmt::format("The connecting OS user is \"{}\".", *os_user) : "");
        }
        return authenticated();
    }
    // md5 with a SCRAM verifier on file switches to SCRAM, as Postgres does.
    if (auth.type == "md5" && (secret == nullptr || secret_kind(*secret) != SecretKind::scram)) {
        auto salt = random_bytes(4);
        if (!salt) return fail("58000", "could not generate a random salt");
        md5_salt_ = *salt;
        append_auth_md5_password(out_, md5_salt_);
        state_ = State::password;
        return;
    }
    std::optional<ScramSecret> scram_secret;
    if (secret != nullptr) scram_secret = scram_secret_from_userlist(*secret);
    scram_ = std::make_unique<ScramServer>(scram_secret, user_);
    std::string_view mechanisms[] = {kScramSha256};
    append_auth_sasl(out_, mechanisms);
    state_ = State::sasl_initial;
}

bool ClientConnection::handle_auth_message(const Message& m) {
    if (m.part || m.type != frontend::kPassword) {
        fail(sqlstate::kProtocolViolation,
             fmt::format("expected password response, got message type {}", m.type));
        return false;
    }
    auto wrong_password = [&] {
        pooler_.count_login_failure();
        fail(sqlstate::kInvalidPassword, fmt::format("password authentication failed for user \"{}\"", user_));
    };
    if (state_ == State::password) {
        auto p = parse_password_message(m.body);
        if (!p) {
            fail(sqlstate_of(p.error), p.error.message);
            return false;
        }
        const std::string* secret = pooler_.userlist().find(user_);
        if (!verify_md5_response(user_, secret ? *secret : std::string_view(), md5_salt_, p->password)) {
            wrong_password();
            return false;
        }
        authenticated();
        return state_ != State::closed;
    }
    auto scram_failed = [&](ScramFailure f) {
        if (f == ScramFailure::wrong_password) return wrong_password();
        fail(sqlstate_of(f), "SCRAM authentication failed", scram_->failure_detail());
    };
    if (state_ == State::sasl_initial) {
        auto p = parse_sasl_initial_response(m.body);
        if (!p) {
            fail(sqlstate_of(p.error), p.error.message);
            return false;
        }
        if (p->mechanism != kScramSha256) {
            fail(sqlstate::kProtocolViolation, "client selected an invalid SASL authentication mechanism");
            return false;
        }
        std::string server_first;
        if (ScramFailure f = scram_->client_first(p->data, server_first); f != ScramFailure::none) {
            scram_failed(f);
            return false;
        }
        append_auth_sasl_continue(out_, server_first);
        state_ = State::sasl_final;
        return true;
    }
    auto p = parse_sasl_response(m.body);
    if (!p) {
        fail(sqlstate_of(p.error), p.error.message);
        return false;
    }
    std::string server_final;
    if (ScramFailure f = scram_->client_final(p->data, server_final); f != ScramFailure::none) {
        scram_failed(f);
        return false;
    }
    append_auth_sasl_final(out_, server_final);
    scram_.reset();
    authenticated();
    return state_ != State::closed;
}

void ClientConnection::authenticated() {
    std::string error;
    pool_ = pooler_.pool_for(database_, user_, error);
    if (pool_ == nullptr) return fail("3D000", error);
    append_auth_ok(out_);
    params_id_ = pool_->params_id_for(wanted_);
    pool_->clients++;
    counted_in_pool = true;
    pool_->counters.logins++;
    pooler_.register_cancel(*this, cancel_pid_, cancel_key_);
    // A login needs a server only to learn what servers report, or to try parameter values no server
    // has taken yet (a bad one fails the login, as in Postgres); in session mode the client keeps
    // that server.
    bool known = pool_->have_welcome;
    for (const Param& w : wanted_) known = known && pool_->canonical.count({w.name, w.value}) != 0;
    if (known && pooler_.transaction_mode()) return finish_login();
    state_ = State::login_wait;
    flush_to_client();
    pooler_.acquire(*this);
}

void ClientConnection::finish_login() {
    for (const Param& p : pool_->welcome) {
        std::string value = p.value;
        for (const Param& w : wanted_) {
            if (w.name != p.name) continue;
            auto it = pool_->canonical.find({w.name, w.value});
            value = it != pool_->canonical.end() ? it->second : w.value;
        }
        append_parameter_status(out_, canonical_param_name(p.name), value);
    }
    append_backend_key_data(out_, cancel_pid_, cancel_key_);
    append_ready_for_query(out_, TransactionStatus::idle);
    state_ = State::ready;
    flush_to_client();
}

bool ClientConnection::handle_typed(const Message& m) {
    if (m.part) {
        if (m.first) count(m.type);
        in_part_ = !m.last;
        forward(m);
        return true;
    }
    if (m.type == frontend::kTerminate) {
        terminate_ = true;
        close();
        return false;
    }
    // A Flush with nothing outstanding asks for nothing: do not take a server for it.
    if (m.type == frontend::kFlush && idle_between_transactions() && pending_.empty() && server_ == nullptr) return true;
    count(m.type);
    if (pooler_.transaction_mode() && (m.type == frontend::kQuery || m.type == frontend::kParse)) {
        std::string storage;
        Message refusal;
        if (refuse_listen(m, storage, refusal)) {
            forward(refusal);
            return true;
        }
    }
    forward(m);
    return true;
}

bool ClientConnection::refuse_listen(const Message& m, std::string& storage, Message& refusal) {
    if (!replace_listen(m, storage, refusal)) return false;
    if (pool_ != nullptr) pool_->counters.listens_refused++;
    return true;
}

void ClientConnection::count(char type) {
    if (expected_ready_ == 0 && !unsynced_) cycle_started_ns = last_activity_ns;
    if (copy_in_extended_) {
        // The backend ignores Sync (and Flush) in copy-in mode: only CopyDone/CopyFail end it.
        if (type == frontend::kCopyDone || type == frontend::kCopyFail) copy_in_extended_ = false;
        if (type == frontend::kSync) return;
    }
    switch (type) {
        case frontend::kQuery:
        case frontend::kFunctionCall:
            ++expected_ready_;
            last_cycle_end_ = type;
            break;
        case frontend::kSync:
            ++expected_ready_;
            unsynced_ = false;
            last_cycle_end_ = type;
            ++syncs_since_execute_;
            break;
        case frontend::kExecute:
            syncs_since_execute_ = 0;
            unsynced_ = true;
            break;
        case frontend::kFlush:
        case frontend::kCopyData:
        case frontend::kCopyDone:
        case frontend::kCopyFail:
            break;
        default:  // Parse, Bind, Describe, Execute, Close: answered only up to the next Sync
            unsynced_ = true;
            break;
    }
}

void ClientConnection::clear_pending() {
    // Kept for the next queued transaction unless a big one grew it.
    if (pending_.capacity() > kLowWater) std::string().swap(pending_);
    else pending_.clear();
}

void ClientConnection::forward(const Message& m) {
    if (server_ == nullptr || server_->state() != ServerConnection::State::linked) {
        pending_.append(m.raw);  // through the tracker once a server is linked (forward_pending)
    } else if (pooler_.transaction_mode()) {
        forward_tracked(*server_, m);
    } else {
        server_->append(m.raw);
    }
}

StatementTracker::Link ClientConnection::link_to(ServerConnection& server) {
    return {pool_->statements, server.statements,          server.dirt, server.outgoing(),
            pool_->counters,   pooler_.statement_capacity(), params_id_};
}

void ClientConnection::forward_tracked(ServerConnection& server, const Message& m) {
    tracker_.client_message(link_to(server), m, out_);
}

bool ClientConnection::from_server(ServerConnection& server, const Message& m) {
    if (!pooler_.transaction_mode()) {
        out_.append(m.raw);
        return true;
    }
    return tracker_.server_message(link_to(server), m, out_);
}

bool ClientConnection::answer_without_server() {
    if (pooler_.statement_capacity() == 0 || expected_ready_ != 1 || unsynced_ || in_part_) return false;
    // Exactly a Parse, maybe Flushes, and the Sync that ends them.
    std::string_view rest = pending_;
    Message m, parse;
    bool have_parse = false;
    bool synced = false;
    while (next_queued(rest, m)) {
        if (m.part || synced) return false;
        if (m.type == frontend::kParse && !have_parse) {
            parse = m;
            have_parse = true;
        } else if (m.type == frontend::kSync && have_parse) {
            synced = true;
        } else if (m.type != frontend::kFlush) {
            return false;
        }
    }
    if (!rest.empty() || !synced) return false;
    if (!tracker_.parse_without_server(pool_->statements, params_id_, parse, pool_->counters)) return false;
    append_parse_complete(out_);
    append_ready_for_query(out_, TransactionStatus::idle);
    expected_ready_ = 0;
    cycle_started_ns = 0;
    clear_pending();
    return true;
}

void ClientConnection::forward_pending(ServerConnection& server) {
    if (!pooler_.transaction_mode()) {
        server.append(pending_);
        return;
    }
    // What was queued before this server was known: whole messages, then maybe the first bytes of
    // one still streaming in (its next parts come through forward()).
    std::string_view rest = pending_;
    Message m;
    while (next_queued(rest, m)) forward_tracked(server, m);
    if (!rest.empty()) server.append(rest);  // never: a queued message always has its header
}

void ClientConnection::copy_in_started() {
    // COPY FROM STDIN through the extended protocol: the Sync sent right after its Execute (libpq
    // sends them together) reaches the backend in copy-in mode and is ignored, so no ReadyForQuery
    // answers it; the one after CopyDone does. Simple-protocol COPY (a Query) owes its own.
    if (last_cycle_end_ == frontend::kSync && syncs_since_execute_ > 0) {
        expected_ready_ -= syncs_since_execute_;
        if (expected_ready_ < 0) expected_ready_ = 0;
        copy_in_extended_ = true;
    }
}

bool ClientConnection::ready_for_query_arrived(char status) {
    if (expected_ready_ > 0) --expected_ready_;
    uint64_t now = Pooler::now_ns();
    last_activity_ns = now;
    if (pool_ != nullptr) {
        pool_->counters.queries++;
        if (status == 'I') pool_->counters.transactions++;
        if (cycle_started_ns != 0) pool_->counters.query_us += (now - cycle_started_ns) / 1000;
    }
    cycle_started_ns = expected_ready_ > 0 ? now : 0;
    return expected_ready_ == 0 && !unsynced_ && !in_part_ && pending_.empty();
}

void ClientConnection::linked(ServerConnection& server) {
    server_ = &server;
    last_activity_ns = Pooler::now_ns();
    if (state_ == State::login_wait) {
        finish_login();
        // Writing the login's answer may have found the client gone: then it gave the server back.
        if (state_ == State::closed || closing_after_write_ || server_ != &server) return;
    }
    if (!pending_.empty()) {
        forward_pending(server);
        clear_pending();
        flush_to_client();  // answers the tracker gave at once (a Parse the server already had)
        if (state_ == State::closed || server_ != &server) return;
        server.flush();
    } else if (pooler_.transaction_mode() && idle_between_transactions()) {
        // Linked only to learn parameters at login: the server goes straight back.
        pooler_.release(server);
    }
    resume_reading();
}

void ClientConnection::server_unavailable(std::string_view sqlstate, std::string_view message, std::string_view detail) {
    // Work queued up to a Sync can be answered like a failed statement and the connection kept;
    // anything else (a login, a half-sent extended-protocol batch) ends the connection.
    if (state_ == State::ready && expected_ready_ > 0 && !unsynced_ && !in_part_) {
        append_error_response(out_, {"ERROR", sqlstate, message, detail, {}});
        for (; expected_ready_ > 0; --expected_ready_) append_ready_for_query(out_, TransactionStatus::idle);
        clear_pending();
        cycle_started_ns = 0;
        flush_to_client();
        resume_reading();
        return;
    }
    fail(sqlstate, message, detail);
}

void ClientConnection::flush_to_client() {
    if (out_.empty() || state_ == State::closed) return;
    if (pool_ != nullptr) pool_->counters.bytes_to_clients += out_.size();
    int rc = writer_.write(out_);
    out_.clear();
    if (rc < 0) return close();
    if (writer_.queued() > kHighWater && server_ != nullptr) server_->pause_reading();
}

void ClientConnection::on_drain(void* owner, int status) {
    auto* self = static_cast<ClientConnection*>(owner);
    if (status < 0) return self->close();
    if (self->closing_after_write_ && self->writer_.idle()) return self->close();
    if (self->writer_.queued() < kLowWater && self->server_ != nullptr) self->server_->resume_reading();
}

void ClientConnection::fail(std::string_view sqlstate, std::string_view message, std::string_view detail) {
    if (state_ == State::closed || closing_after_write_) return;
    core::log(core::LogLevel::debug, "pool", "client {} ({}@{}): {} {}", id_, user_, database_, sqlstate, message);
    append_error_response(out_, {"FATAL", sqlstate, message, detail, {}});
    flush_to_client();
    if (state_ == State::closed) return;
    pause_reading();
    closing_after_write_ = true;
    // Everything it held is given back now; the socket closes once the error is written.
    pooler_.client_leaving(*this);
    if (writer_.idle()) close();
}

void ClientConnection::close() {
    if (state_ == State::closed) return;
    state_ = State::closed;
    pause_reading();
    pooler_.client_leaving(*this);
    uv_close(reinterpret_cast<uv_handle_t*>(stream()), &ClientConnection::on_closed);
}

void ClientConnection::on_closed(uv_handle_t* handle) {
    auto* self = static_cast<ClientConnection*>(handle->data);
    self->pooler_.destroy_client(*self);
}

}  // namespace portico::pool
