// Fuzz target: what a server sends the pool while a client is linked to it, as
// pool/server_connection.cpp handles it — the MessageReader with the server limits, streamed parts
// passed straight to the client, ParameterStatus recorded (ServerParams), every message through the
// StatementTracker (transaction mode) against the client's messages that went before it, and on a
// ReadyForQuery 'I' with nothing left unanswered the release: the reset queries for what the client
// left behind (SessionDirt), the parameter sync for the next client (sync_query), then the client
// continues on another server. Every whole message also goes through the codec's parser for its type.
//
// Checks: the server's messages are its bytes in order; what the client and the server get frames
// cleanly; the same input with the server's bytes cut at fuzzer-chosen points gives the same
// messages and output.
//
// Input: flags, split (fuzz_support.hpp), then records, each a tag byte and a 2-byte big-endian
// length followed by that many bytes:
//   'C' bytes from the client (typed messages; they reach the tracker as they are framed)
//   'S' bytes from the server
//   'L' the server is lost (closed mid-transaction): the client gets a fresh one (link_lost)
//   other tags: ignored, with their bytes.
//   flags & 1: session mode (no tracker)   flags & 2: pool.max_prepared_statements 2 (evictions)
//   flags & 4: small reader limits on the server side (messages over 16 bytes stream in parts)
#include <cstdint>
#include <cstdlib>
#include <string>

#include "pool/session_params.hpp"
#include "pool/statement_tracker.hpp"
#include "tests/fuzz/pg_support.hpp"

namespace {

using namespace portico::pool;

struct Options {
    bool transaction_mode = true;
    size_t capacity = 500;
    bool small_limits = false;
};

// One client and the servers it is given in turn.
class Session {
public:
    explicit Session(const Options& o) : o_(o), client_reader_(Phase::typed, client_reader_limits()) {
        ReaderLimits l = server_reader_limits();
        if (o.small_limits) l.stream_above = 16;
        server_limits_ = l;
        new_server();
        wanted_ = {{"application_name", "fuzz"}, {"datestyle", "ISO, DMY"}};
    }

    void from_client(std::string_view bytes) {
        if (closed_) return;
        client_reader_.feed(bytes);
        Message m;
        for (;;) {
            MessageReader::Status s = client_reader_.next(m);
            if (s == MessageReader::Status::need_more) return;
            if (s == MessageReader::Status::error) return close();
            if (!m.part && m.type == 'X') return close();
            if (o_.transaction_mode) {
                tracker_.client_message(link(), m, to_client_);
            } else {
                server_out_.append(m.raw);
            }
        }
    }

    // A record of server bytes comes from the server linked now: bytes after a protocol error in
    // one are never read (that connection is closed), the next record is the next server's.
    void next_server_record() { dead_ = false; }

    void from_server(std::string_view bytes) {
        if (closed_ || dead_) return;
        server_bytes_.append(bytes);
        server_reader_->feed(bytes);
        Message m;
        for (;;) {
            MessageReader::Status s = server_reader_->next(m);
            if (s == MessageReader::Status::need_more) return;
            if (s == MessageReader::Status::error) {
                FUZZ_CHECK(!server_reader_->error().message.empty());
                server_lost();  // "protocol error from the server": the connection closes
                dead_ = true;
                return;
            }
            handle(m);
            if (closed_) return;
        }
    }

    // The server connection broke: the client's pending work fails, it gets another server later.
    void server_lost() {
        check_server_framing();
        tracker_.link_lost();
        new_server();
        transcript_ += "server lost\n";
    }

    std::string transcript() const {
        return transcript_ + "--client\n" + to_client_ + "\n--server\n" + server_out_ + "\n--dirt " +
               std::to_string(dirt_.parameters) + std::to_string(dirt_.sql_statements) +
               std::to_string(dirt_.cursors) + std::to_string(dirt_.advisory_locks);
    }
    void finish_checks() {
        check_server_framing();
        portico::fuzz::check_framing(to_client_, false, "what the client gets");
        portico::fuzz::check_framing(server_out_, false, "what the server gets");
    }

private:
    StatementTracker::Link link() {
        return {registry_, *server_statements_, dirt_, server_out_, counters_, o_.capacity, 1};
    }

    void new_server() {
        server_reader_ = std::make_unique<MessageReader>(Phase::typed, server_limits_);
        server_statements_ = std::make_unique<ServerStatements>();
        params_ = ServerParams{};
        params_.initial = {{"application_name", ""}, {"datestyle", "ISO, MDY"}, {"client_encoding", "UTF8"}};
        params_.current = params_.initial;
        server_bytes_.clear();
        server_seen_.clear();
    }

    // The server's messages so far are its bytes, in order.
    void check_server_framing() {
        FUZZ_CHECK(server_seen_.size() + server_reader_->pending() == server_bytes_.size());
        FUZZ_CHECK(server_bytes_.compare(0, server_seen_.size(), server_seen_) == 0);
    }

    void close() {
        closed_ = true;
        transcript_ += "closed\n";
    }

    // ServerConnection::handle_message, linked.
    void handle(const Message& m) {
        server_seen_.append(m.raw);
        if (m.part) {
            to_client_.append(m.raw);  // passed through as it streams (append_from_server)
            if (m.first) transcript_ += "streamed message\n";  // its parts depend on the reads
            return;
        }
        transcript_ += "message ";
        transcript_.push_back(m.type);
        transcript_ += "\n";
        portico::fuzz::decode_backend(m);
        if (m.type == 'S') {
            if (auto p = parse_parameter_status(m.body)) params_.set_current(lowercase(p->name), p->value);
        }
        bool for_client = true;
        if (o_.transaction_mode) {
            for_client = tracker_.server_message(link(), m, to_client_);
        } else {
            to_client_.append(m.raw);
        }
        if (m.type == 'Z' && !m.body.empty() && for_client && m.body[0] == 'I' && o_.transaction_mode &&
            tracker_.answered()) {
            release();
        }
    }

    // Pooler::release: the server is reset for the next client and this client moves on.
    void release() {
        for (const std::string& q : dirt_.reset_queries()) transcript_ += "reset: " + q + "\n";
        std::string sync = sync_query(wanted_, params_);
        if (!sync.empty()) transcript_ += "sync: " + sync + "\n";
        params_.applied = applied_after_sync(wanted_, params_);
        dirt_ = SessionDirt{};
        // The client's next transaction runs on the other server of the pool.
        std::swap(server_statements_, spare_statements_);
        if (!server_statements_) server_statements_ = std::make_unique<ServerStatements>();
        check_server_framing();
        transcript_ += "released\n";
    }

    Options o_;
    ReaderLimits server_limits_;
    MessageReader client_reader_;
    std::unique_ptr<MessageReader> server_reader_;
    std::unique_ptr<ServerStatements> server_statements_;
    std::unique_ptr<ServerStatements> spare_statements_;
    StatementRegistry registry_;
    SessionDirt dirt_;
    PoolCounters counters_;
    StatementTracker tracker_;
    ServerParams params_;
    Params wanted_;
    std::string server_out_;
    std::string to_client_;
    std::string transcript_;
    std::string server_bytes_;
    std::string server_seen_;
    bool closed_ = false;
    bool dead_ = false;
};

std::string run(std::string_view input, const Options& o, uint8_t split, bool cut) {
    Session session(o);
    while (input.size() >= 3) {
        char tag = input[0];
        size_t n = (size_t(uint8_t(input[1])) << 8) | uint8_t(input[2]);
        input.remove_prefix(3);
        if (n > input.size()) n = input.size();
        std::string_view bytes = input.substr(0, n);
        input.remove_prefix(n);
        switch (tag) {
            case 'C':
                session.from_client(bytes);
                break;
            case 'S':
                session.next_server_record();
                if (!cut) {
                    session.from_server(bytes);
                    break;
                }
                for (size_t at = 0; size_t piece : portico::fuzz::split_points(bytes.size(), split)) {
                    session.from_server(bytes.substr(at, piece));
                    at += piece;
                }
                break;
            case 'L':
                session.server_lost();
                break;
            default:
                break;
        }
    }
    session.finish_checks();
    return session.transcript();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    portico::fuzz::Control control = portico::fuzz::take_control(data, size);
    Options o;
    o.transaction_mode = (control.flags & 1) == 0;
    o.capacity = (control.flags & 2) ? 2 : 500;
    o.small_limits = (control.flags & 4) != 0;
    std::string whole = run(control.rest, o, control.split, false);
    std::string split = run(control.rest, o, control.split, true);
    // PORTICO_FUZZ_DEBUG=1 prints what the input did: for checking that a new seed gets where meant.
    if (std::getenv("PORTICO_FUZZ_DEBUG") != nullptr) std::fprintf(stderr, "%s\n", portico::fuzz::printable(whole).c_str());
    if (whole != split) {
        std::fprintf(stderr, "whole:\n%s\n\nsplit:\n%s\n", portico::fuzz::printable(whole).c_str(),
                     portico::fuzz::printable(split).c_str());
    }
    FUZZ_CHECK(whole == split);
    return 0;
}
