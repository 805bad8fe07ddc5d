// Fuzz target: what a client sends the pool, as pool/client_connection.cpp handles it — the
// MessageReader with the client limits (startup phase, then typed), a direct-TLS ClientHello closed
// quietly, SSLRequest/GSSENCRequest refused, CancelRequest, StartupMessage (parse_startup_packet,
// wanted_params, NegotiateProtocolVersion), the login (md5, SCRAM-SHA-256 with ScramServer, trust),
// then typed messages: streamed parts, Terminate, LISTEN refused in transaction mode
// (starts_a_listen, refusal_statement), and the StatementTracker's rewriting of the stream for the
// linked server — or, with no server yet, the queue walked by next_queued and a Parse+Sync answered
// without a server (parse_without_server). Every whole message also goes through the codec's
// parser for its type.
//
// Checks: the messages returned are exactly the input bytes in order (framing); what the pooler
// writes to the server and to the client frames cleanly; the same bytes fed whole and cut at
// fuzzer-chosen points give the same messages and the same output.
//
// Input: flags, split (fuzz_support.hpp), then the client's bytes.
//   flags & 3: auth 0 trust, 1 md5, 2 scram-sha-256, 3 md5 (a SCRAM verifier on file switches to SCRAM)
//   flags & 4: small reader limits (messages over 16 bytes stream in parts, at most 4096 bytes)
//   flags & 8: pool.max_prepared_statements 0 (statements pass unchanged)
//   flags & 16: session mode (no tracker: messages pass raw)
//   flags & 32: no server until the input ends (queued; a Parse+Sync may be answered without one;
//               whole and cut feeds are not compared, see the end)
//   flags & 64: the reader is fed the next read before it was drained (allowed by its contract)
#include <cstdint>
#include <cstdlib>
#include <map>
#include <optional>
#include <string>

#include "pool/auth.hpp"
#include "pool/builders.hpp"
#include "pool/scram.hpp"
#include "pool/session_params.hpp"
#include "pool/startup.hpp"
#include "pool/statement_guard.hpp"
#include "pool/statement_tracker.hpp"
#include "pool/userlist.hpp"
#include "tests/fuzz/pg_support.hpp"

namespace {

using namespace portico::pool;

constexpr std::string_view kMd5Salt = "\x01\x02\x03\x04";

struct Fixture {
    std::map<std::string, std::string, std::less<>> userlist;
    Fixture() {
        userlist["alice"] = md5_password_hash("alice", "secret");
        userlist["bob"] = format_scram_verifier(scram_secret_from_password("secret", "0123456789abcdef", 4096));
        userlist["carol"] = "secret";
    }
    const std::string* find(std::string_view user) const {
        auto it = userlist.find(user);
        return it == userlist.end() ? nullptr : &it->second;
    }
};

const Fixture& fixture() {
    static const Fixture f;
    return f;
}

struct Options {
    int auth = 0;
    bool small_limits = false;
    size_t capacity = 500;
    bool transaction_mode = true;
    bool queued = false;
    bool undrained = false;
};

class Client {
public:
    explicit Client(const Options& o)
        : o_(o), reader_(Phase::startup, limits(o)), link_{registry_, server_, dirt_, server_out_, counters_, o.capacity, 1} {
        // A statement some earlier client prepared and a server accepted: a Parse+Sync of its text
        // may be answered without a server.
        std::string body;
        body.append("SELECT 1");
        body.push_back('\0');
        body.append(2, '\0');
        registry_.intern(1, body)->validated = true;
    }

    static ReaderLimits limits(const Options& o) {
        ReaderLimits l = client_reader_limits();
        if (o.small_limits) {
            l.max_message = 4096;
            l.stream_above = 16;
        }
        return l;
    }

    // One read (ClientConnection::handle_bytes). `drain_at_most` < SIZE_MAX leaves messages in the
    // reader for the next feed().
    void read(std::string_view bytes, size_t drain_at_most) {
        if (closed_) return;
        if (state_ == State::startup && reader_.pending() == 0 && is_direct_tls_handshake(bytes)) {
            return close();  // as Postgres without TLS does
        }
        reader_.feed(bytes);
        drain(drain_at_most);
        if (!closed_) after_read();
    }

    void end() {
        if (!closed_) drain(SIZE_MAX);
        if (closed_) return;
        after_read();
        if (o_.queued && state_ == State::ready && !pending_.empty()) {
            // The server arrives: what was queued goes through the tracker (forward_pending).
            linked_ = true;
            std::string_view rest = pending_;
            Message m;
            while (next_queued(rest, m)) forward(m);
            FUZZ_CHECK(rest.empty());
            pending_.clear();
        }
    }

    std::string transcript() const {
        return messages_ + "\n--server\n" + server_out_ + "\n--client\n" + to_client_ + "\n--startup\n" + startup_out_ +
               "\n--end " + end_;
    }
    const std::string& raw_seen() const { return raw_seen_; }
    size_t reader_pending() const { return reader_.pending(); }
    // The input ended inside a startup-phase packet whose first byte is not 0: its length is above
    // 10000 whatever follows, so it is refused the moment its header is complete. Counted as closed
    // now, as a read starting with that byte is (a TLS ClientHello, 0x16, is closed at once).
    void input_ends_in(std::string_view rest) {
        if (!closed_ && state_ == State::startup && !rest.empty() && rest[0] != 0) close();
    }
    bool closed() const { return closed_; }
    const std::string& server_out() const { return server_out_; }
    const std::string& to_client() const { return to_client_; }

private:
    enum class State { startup, password, sasl_initial, sasl_final, ready };

    void drain(size_t at_most) {
        Message m;
        for (size_t n = 0; n < at_most && !closed_; ++n) {
            MessageReader::Status status = reader_.next(m);
            if (status == MessageReader::Status::need_more) return;
            if (status == MessageReader::Status::error) {
                FUZZ_CHECK(!reader_.error().message.empty());
                (void)sqlstate_of(reader_.error());
                return close();  // after the ErrorResponse
            }
            record(m);
            switch (state_) {
                case State::startup: startup(m); break;
                case State::password:
                case State::sasl_initial:
                case State::sasl_final: auth(m); break;
                case State::ready: typed(m); break;
            }
        }
    }

    // Framing: the messages are the input, byte for byte, in order. A streamed message is recorded
    // by its type and length: where its parts are cut depends on the reads.
    void record(const Message& m) {
        raw_seen_.append(m.raw);
        if (m.part) {
            in_part_ = !m.last;
            if (m.first) {
                FUZZ_CHECK(m.raw.size() >= 5);
                part_total_ = size_t(1) + ((uint8_t(m.raw[1]) << 24) | (uint8_t(m.raw[2]) << 16) |
                                           (uint8_t(m.raw[3]) << 8) | uint8_t(m.raw[4]));
                part_seen_ = 0;
                messages_ += "streamed message ";
                messages_.push_back(m.type);
                messages_ += " of " + std::to_string(part_total_) + " bytes\n";
            }
            part_seen_ += m.raw.size();
            FUZZ_CHECK(part_seen_ <= part_total_);
            if (m.last) FUZZ_CHECK(part_seen_ == part_total_);
            return;
        }
        FUZZ_CHECK(m.raw.size() >= (m.type == 0 ? 4u : 5u));
        FUZZ_CHECK(m.raw.data() + m.raw.size() == m.body.data() + m.body.size());
        messages_ += "message ";
        if (m.type != 0) messages_.push_back(m.type);
        messages_ += " ";
        messages_.append(m.raw);
        messages_ += "\n";
        if (m.type != 0) portico::fuzz::decode_frontend(m);
    }

    // The reason is not recorded: a ClientHello after an SSLRequest is closed quietly when it
    // starts a read, and refused as an oversize startup packet when it follows in the same read.
    void close() {
        closed_ = true;
        end_ = "closed";
    }

    void startup(const Message& m) {
        auto packet = parse_startup_packet(m.body);
        if (!packet) {
            (void)sqlstate_of(packet.error);
            return close();
        }
        switch (packet->kind) {
            case StartupKind::ssl_request:
            case StartupKind::gssenc_request:
                append_encryption_refused(startup_out_);
                return;
            case StartupKind::cancel_request:
                FUZZ_CHECK(packet->cancel.secret_key.size() <= kMaxCancelKey);
                return close();
            case StartupKind::startup:
                break;
        }
        const StartupMessage& s = packet->startup;
        FUZZ_CHECK(!s.user.empty());
        FUZZ_CHECK(s.major() == 3);
        reader_.set_phase(Phase::typed);
        if (!s.replication.empty() && s.replication != "false" && s.replication != "off" && s.replication != "0") {
            return close();
        }
        user_ = std::string(s.user);
        Params wanted;
        std::string error;
        if (!wanted_params(s, wanted, error)) {
            FUZZ_CHECK(!error.empty());
            return close();
        }
        for (const Param& p : wanted) {
            FUZZ_CHECK(is_valid_param_name(p.name));
            (void)quote_literal(p.value);
            (void)canonical_param_name(p.name);
        }
        // What a fresh server would be told to give this client.
        ServerParams server;
        server.initial = {{"datestyle", "ISO, MDY"}, {"application_name", ""}};
        server.current = server.initial;
        (void)sync_query(wanted, server);
        (void)applied_after_sync(wanted, server);
        if (s.minor() > 0 || !s.protocol_options.empty()) {
            append_negotiate_protocol_version(to_client_, 0, s.protocol_options);
        }
        start_login();
    }

    void start_login() {
        const std::string* secret = fixture().find(user_);
        if (o_.auth == 0) return authenticated();
        bool md5 = o_.auth == 1 || o_.auth == 3;
        if (md5 && (secret == nullptr || secret_kind(*secret) != SecretKind::scram)) {
            append_auth_md5_password(to_client_, kMd5Salt);
            state_ = State::password;
            return;
        }
        std::optional<ScramSecret> scram_secret;
        if (secret != nullptr) scram_secret = scram_secret_from_userlist(*secret);
        ScramServer::Options options;
        options.server_nonce = "fuzz-server-nonce";  // fixed: the same input, the same answer
        scram_.emplace(scram_secret, user_, options);
        std::string_view mechanisms[] = {kScramSha256};
        append_auth_sasl(to_client_, mechanisms);
        state_ = State::sasl_initial;
    }

    void auth(const Message& m) {
        if (m.part || m.type != frontend::kPassword) return close();
        if (state_ == State::password) {
            auto p = parse_password_message(m.body);
            if (!p) return close();
            const std::string* secret = fixture().find(user_);
            if (!verify_md5_response(user_, secret ? *secret : std::string_view(), kMd5Salt, p->password)) {
                return close();
            }
            return authenticated();
        }
        if (state_ == State::sasl_initial) {
            auto p = parse_sasl_initial_response(m.body);
            if (!p) return close();
            if (p->mechanism != kScramSha256) return close();
            std::string server_first;
            if (ScramFailure f = scram_->client_first(p->data, server_first); f != ScramFailure::none) {
                (void)sqlstate_of(f);
                return close();
            }
            FUZZ_CHECK(!server_first.empty());
            append_auth_sasl_continue(to_client_, server_first);
            state_ = State::sasl_final;
            return;
        }
        auto p = parse_sasl_response(m.body);
        if (!p) return close();
        std::string server_final;
        if (ScramFailure f = scram_->client_final(p->data, server_final); f != ScramFailure::none) {
            return close();
        }
        append_auth_sasl_final(to_client_, server_final);
        scram_.reset();
        authenticated();
    }

    void authenticated() {
        append_auth_ok(to_client_);
        append_backend_key_data(to_client_, 4242, "\x00\x00\x10\x92");
        append_ready_for_query(to_client_, TransactionStatus::idle);
        state_ = State::ready;
        linked_ = !o_.queued;
    }

    // ClientConnection::handle_typed.
    void typed(const Message& m) {
        if (m.part) {
            forward(m);
            return;
        }
        if (m.type == frontend::kTerminate) return close();
        scan_sql(m);
        if (o_.transaction_mode && (m.type == frontend::kQuery || m.type == frontend::kParse)) {
            std::string storage;
            Message refusal;
            if (replace_listen(m, storage, refusal)) {
                forward(refusal);
                return;
            }
        }
        forward(m);
    }

    // The SQL scanners the statement tracker runs for linked servers, on every statement, so they
    // are fuzzed while a client is queued too.
    static void scan_sql(const Message& m) {
        std::string_view sql;
        if (m.type == frontend::kQuery) {
            if (auto q = parse_query(m.body)) sql = q->sql;
        } else if (m.type == frontend::kParse) {
            if (auto p = parse_parse(m.body)) sql = p->query;
        }
        (void)parse_deallocate(sql);
        (void)session_effects(sql);
    }

    void forward(const Message& m) {
        if (!linked_) {
            pending_.append(m.raw);
        } else if (o_.transaction_mode) {
            tracker_.client_message(link_, m, to_client_);
        } else {
            server_out_.append(m.raw);
        }
    }

    // ClientConnection::answer_without_server: exactly a Parse, maybe Flushes, and the Sync that
    // ends them, of a text a server accepted.
    void after_read() {
        if (linked_ || pending_.empty() || !o_.transaction_mode || o_.capacity == 0) return;
        std::string_view rest = pending_;
        Message m, parse;
        bool have_parse = false, synced = false;
        while (next_queued(rest, m)) {
            if (m.part || synced) return;
            if (m.type == frontend::kParse && !have_parse) {
                parse = m;
                have_parse = true;
            } else if (m.type == frontend::kSync && have_parse) {
                synced = true;
            } else if (m.type != frontend::kFlush) {
                return;
            }
        }
        if (!rest.empty() || !synced) return;
        if (!tracker_.parse_without_server(registry_, 1, parse, counters_)) return;
        append_parse_complete(to_client_);
        append_ready_for_query(to_client_, TransactionStatus::idle);
        pending_.clear();
    }

    Options o_;
    MessageReader reader_;
    State state_ = State::startup;
    std::string user_;
    std::optional<ScramServer> scram_;
    StatementRegistry registry_;
    ServerStatements server_;
    SessionDirt dirt_;
    PoolCounters counters_;
    std::string server_out_;
    StatementTracker::Link link_;
    StatementTracker tracker_;
    std::string pending_;
    bool linked_ = false;
    std::string to_client_;
    std::string startup_out_;  // refusals of SSLRequest / GSSENCRequest: single bytes, not messages
    std::string messages_;
    std::string raw_seen_;
    std::string end_ = "open";
    bool closed_ = false;
    bool in_part_ = false;
    size_t part_total_ = 0;
    size_t part_seen_ = 0;
};

std::string run(std::string_view input, const Options& o, const std::vector<size_t>& pieces, bool undrained) {
    Client c(o);
    size_t at = 0;
    uint32_t budget = 0x2545f491u;
    for (size_t n : pieces) {
        size_t drain = SIZE_MAX;
        if (undrained) {
            budget = budget * 1103515245u + 12345u;
            drain = (budget >> 16) % 3;  // 0, 1 or 2 messages taken before the next read arrives
        }
        c.read(input.substr(at, n), drain);
        at += n;
    }
    c.end();
    // Framing: what came out as messages is the input's beginning, byte for byte.
    FUZZ_CHECK(c.raw_seen().size() <= input.size());
    FUZZ_CHECK(input.substr(0, c.raw_seen().size()) == c.raw_seen());
    c.input_ends_in(input.substr(c.raw_seen().size()));
    if (!c.closed()) FUZZ_CHECK(c.raw_seen().size() + c.reader_pending() == input.size());
    portico::fuzz::check_framing(c.server_out(), false, "what the server gets");
    portico::fuzz::check_framing(c.to_client(), true, "what the client gets");
    return c.transcript();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    portico::fuzz::Control control = portico::fuzz::take_control(data, size);
    Options o;
    o.auth = control.flags & 3;
    o.small_limits = (control.flags & 4) != 0;
    o.capacity = (control.flags & 8) ? 0 : 500;
    o.transaction_mode = (control.flags & 16) == 0;
    o.queued = (control.flags & 32) != 0;
    bool undrained = (control.flags & 64) != 0;
    (void)fixture();

    std::string whole = run(control.rest, o, {control.rest.size()}, false);
    std::string split = run(control.rest, o, portico::fuzz::split_points(control.rest.size(), control.split), undrained);
    // PORTICO_FUZZ_DEBUG=1 prints what the input did: for checking that a new seed gets where meant.
    if (std::getenv("PORTICO_FUZZ_DEBUG") != nullptr) std::fprintf(stderr, "%s\n", portico::fuzz::printable(whole).c_str());
    // Queued without a server, a Parse+Sync is answered by the pooler when a read ends right after
    // it, and by a server when more arrived with it: both right, and they differ by the reads. The
    // other checks still run; only the two transcripts are not compared.
    if (o.queued) return 0;
    if (whole != split) {
        std::fprintf(stderr, "whole:\n%s\n\nsplit:\n%s\n", portico::fuzz::printable(whole).c_str(),
                     portico::fuzz::printable(split).c_str());
    }
    FUZZ_CHECK(whole == split);
    return 0;
}
