// The codec and the authenticator against the real client: libpq connects to a Unix socket this
// test owns, and a server thread written with pool/ alone (framer, parsers, builders, ScramServer,
// md5 check) logs it in, answers a simple query, a prepare and an execute, and takes its cancel
// request. Proves the bytes agree with libpq's, not only with our own builders.
#define BOOST_TEST_MODULE pool_libpq_client
#include <boost/test/unit_test.hpp>

#include <array>
#include <cstdlib>
#include <functional>
#include <string>
#include <thread>

#include <libpq-fe.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "pool/auth.hpp"
#include "pool/backend.hpp"
#include "pool/builders.hpp"
#include "pool/frontend.hpp"
#include "pool/message_reader.hpp"
#include "pool/scram.hpp"
#include "pool/startup.hpp"

using namespace portico::pool;

namespace {

// A Unix socket in a fresh /tmp/pool-* directory, named as libpq expects (.s.PGSQL.<port>).
struct Listener {
    std::string dir;
    int fd = -1;
    Listener() {
        char tmpl[] = "/tmp/pool-libpq-XXXXXX";
        dir = mkdtemp(tmpl);
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::string path = dir + "/.s.PGSQL.5432";
        std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
        BOOST_REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
        BOOST_REQUIRE(listen(fd, 4) == 0);
    }
    ~Listener() {
        close(fd);
        unlink((dir + "/.s.PGSQL.5432").c_str());
        rmdir(dir.c_str());
    }
};

// One accepted connection read with blocking recv and framed by MessageReader.
class Peer {
public:
    explicit Peer(int listen_fd) : fd_(accept(listen_fd, nullptr, nullptr)), reader_(Phase::startup) {}
    ~Peer() {
        if (fd_ >= 0) close(fd_);
    }
    bool ok() const { return fd_ >= 0; }
    void set_phase(Phase p) { reader_.set_phase(p); }

    // The next message, copied out; type 0 and empty body at EOF or error.
    struct Msg {
        char type = 0;
        std::string body;
        bool eof = false;
    };
    Msg read() {
        Message m;
        for (;;) {
            MessageReader::Status s = reader_.next(m);
            if (s == MessageReader::Status::message) return {m.type, std::string(m.body)};
            if (s == MessageReader::Status::error) return {0, {}, true};
            ssize_t n = recv(fd_, buf_, sizeof buf_, 0);
            if (n <= 0) return {0, {}, true};
            reader_.feed(std::string_view(buf_, size_t(n)));
        }
    }
    // No Boost.Test assertion here (the server thread only records): a failed write shows up as
    // the client's error.
    void write(const std::string& bytes) { (void)!send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL); }

private:
    int fd_;
    MessageReader reader_;
    char buf_[4096];
};

// What the server thread saw, checked by the main thread after join (Boost.Test is not
// thread-safe, so the server only records).
struct Seen {
    std::string user, database, application_name;
    std::string failure;        // first unexpected thing, or empty
    std::string query;
    std::string parse_statement, parse_query;
    std::string bind_statement, bind_param;
    bool authenticated = false;
    bool cancel_received = false;
    int32_t cancel_pid = 0;
    std::string cancel_key;
    bool terminated = false;
};

constexpr int32_t kPid = 4242;
const std::string kKey = "\x01\x02\x03\x04";

void greet(Peer& peer, Seen& seen, std::string reply_prefix) {
    // What Postgres sends after authentication.
    std::string out = std::move(reply_prefix);
    append_auth_ok(out);
    append_parameter_status(out, "server_version", "16.4");
    append_parameter_status(out, "server_encoding", "UTF8");
    append_parameter_status(out, "client_encoding", "UTF8");
    append_parameter_status(out, "standard_conforming_strings", "on");
    append_parameter_status(out, "integer_datetimes", "on");
    append_backend_key_data(out, kPid, kKey);
    append_ready_for_query(out, TransactionStatus::idle);
    peer.write(out);
    seen.authenticated = true;
}

// After login: a simple query, a prepare (Parse+Sync), an execute (Bind/Describe/Execute/Sync),
// a cancel on a second connection, then Terminate.
void serve_session(int listen_fd, Peer& peer, Seen& seen) {
    auto fail = [&](std::string what) {
        if (seen.failure.empty()) seen.failure = std::move(what);
    };
    Peer::Msg m = peer.read();
    if (m.type != 'Q') return fail("expected Query");
    seen.query = std::string(parse_query(m.body)->sql);
    std::string out;
    append_command_complete(out, "SET");
    append_ready_for_query(out, TransactionStatus::idle);
    peer.write(out);

    m = peer.read();
    if (m.type != 'P') return fail("expected Parse");
    auto p = parse_parse(m.body);
    if (!p) return fail("Parse: " + p.error.message);
    seen.parse_statement = std::string(p->statement);
    seen.parse_query = std::string(p->query);
    m = peer.read();
    if (m.type != 'S' || !parse_empty('S', m.body)) return fail("expected Sync after Parse");
    out.clear();
    append_parse_complete(out);
    append_ready_for_query(out, TransactionStatus::idle);
    peer.write(out);

    m = peer.read();
    if (m.type != 'B') return fail("expected Bind");
    auto b = parse_bind(m.body);
    if (!b) return fail("Bind: " + b.error.message);
    seen.bind_statement = std::string(b->statement);
    // One text parameter: after the format count (0) and parameter count come length and bytes.
    std::string_view rest = b->after_statement;
    if (b->param_count == 1 && rest.size() >= 8) {
        uint32_t len = uint32_t(uint8_t(rest[4])) << 24 | uint32_t(uint8_t(rest[5])) << 16 | uint32_t(uint8_t(rest[6])) << 8 |
                       uint8_t(rest[7]);
        seen.bind_param = std::string(rest.substr(8 + 2 * b->param_format_count, len));
    }
    m = peer.read();
    if (m.type != 'D' || !parse_describe(m.body)) return fail("expected Describe");
    m = peer.read();
    if (m.type != 'E' || !parse_execute(m.body)) return fail("expected Execute");
    m = peer.read();
    if (m.type != 'S') return fail("expected Sync after Execute");
    out.clear();
    append_bind_complete(out);
    out += std::string(1, 'n') + std::string("\0\0\0\4", 4);  // NoData
    append_command_complete(out, "DO");
    append_ready_for_query(out, TransactionStatus::idle);
    peer.write(out);

    {  // PQcancel: a second connection carrying one CancelRequest.
        Peer cancel(listen_fd);
        Peer::Msg c = cancel.read();
        auto packet = parse_startup_packet(c.body);
        if (!packet || packet->kind != StartupKind::cancel_request) return fail("expected CancelRequest");
        seen.cancel_received = true;
        seen.cancel_pid = packet->cancel.process_id;
        seen.cancel_key = std::string(packet->cancel.secret_key);
    }

    m = peer.read();
    if (m.type == 'X' && parse_empty('X', m.body)) seen.terminated = true;
    else fail("expected Terminate");
}

enum class Method { scram, md5 };

void serve(int listen_fd, Method method, std::string secret, Seen& seen) {
    auto fail = [&](std::string what) {
        if (seen.failure.empty()) seen.failure = std::move(what);
    };
    Peer peer(listen_fd);
    if (!peer.ok()) return fail("accept");
    Peer::Msg m = peer.read();
    auto packet = parse_startup_packet(m.body);
    if (!packet || packet->kind != StartupKind::startup) return fail("expected StartupMessage");
    const StartupMessage& s = packet->startup;
    seen.user = std::string(s.user);
    seen.database = std::string(s.database);
    seen.application_name = std::string(s.application_name);
    peer.set_phase(Phase::typed);
    std::string user = seen.user;

    auto refuse = [&] {
        std::string out;
        ErrorDescription e;
        e.severity = "FATAL";
        e.sqlstate = sqlstate::kInvalidPassword;
        std::string text = "password authentication failed for user \"" + user + "\"";
        e.message = text;
        append_error_response(out, e);
        peer.write(out);
    };

    if (method == Method::md5) {
        std::string salt = random_bytes(4).value();
        std::string out;
        append_auth_md5_password(out, salt);
        peer.write(out);
        m = peer.read();
        auto pw = parse_password_message(m.body);
        if (m.type != 'p' || !pw) return fail("expected PasswordMessage");
        if (!verify_md5_response(user, secret, salt, pw->password)) return refuse();
        greet(peer, seen, {});
    } else {
        std::string out;
        std::array<std::string_view, 1> mechanisms{kScramSha256};
        append_auth_sasl(out, mechanisms);
        peer.write(out);
        m = peer.read();
        auto init = parse_sasl_initial_response(m.body);
        if (m.type != 'p' || !init || init->mechanism != kScramSha256) return fail("expected SASLInitialResponse");
        ScramServer scram(scram_secret_from_userlist(secret), user);
        std::string server_first, server_final;
        if (scram.client_first(init->data, server_first) != ScramFailure::none)
            return fail("client-first: " + scram.failure_detail());
        out.clear();
        append_auth_sasl_continue(out, server_first);
        peer.write(out);
        m = peer.read();
        auto resp = parse_sasl_response(m.body);
        if (m.type != 'p' || !resp) return fail("expected SASLResponse");
        ScramFailure f = scram.client_final(resp->data, server_final);
        if (f == ScramFailure::wrong_password) return refuse();
        if (f != ScramFailure::none) return fail("client-final: " + scram.failure_detail());
        out.clear();
        append_auth_sasl_final(out, server_final);
        greet(peer, seen, out);
    }
    serve_session(listen_fd, peer, seen);
}

std::string conninfo(const Listener& l, std::string_view password) {
    return "host=" + l.dir + " port=5432 user=alice dbname=app application_name=pool-test gssencmode=disable "
           "sslmode=disable connect_timeout=10 password='" + std::string(password) + "'";
}

// The client side: log in, run the session serve_session expects, finish.
void run_client(const Listener& l, std::string_view password) {
    PGconn* conn = PQconnectdb(conninfo(l, password).c_str());
    BOOST_REQUIRE_MESSAGE(PQstatus(conn) == CONNECTION_OK, PQerrorMessage(conn));
    BOOST_TEST(std::string(PQparameterStatus(conn, "server_version")) == "16.4");
    BOOST_TEST(PQbackendPID(conn) == kPid);
    BOOST_TEST(PQprotocolVersion(conn) == 3);

    PGresult* r = PQexec(conn, "SET search_path = app");
    BOOST_TEST(PQresultStatus(r) == PGRES_COMMAND_OK);
    BOOST_TEST(std::string(PQcmdStatus(r)) == "SET");
    PQclear(r);

    r = PQprepare(conn, "stmt_1", "SELECT $1::int", 1, nullptr);
    BOOST_TEST(PQresultStatus(r) == PGRES_COMMAND_OK, PQerrorMessage(conn));
    PQclear(r);
    const char* values[] = {"42"};
    r = PQexecPrepared(conn, "stmt_1", 1, values, nullptr, nullptr, 0);
    BOOST_TEST(PQresultStatus(r) == PGRES_COMMAND_OK, PQerrorMessage(conn));
    PQclear(r);

    PGcancel* cancel = PQgetCancel(conn);
    char err[256];
    BOOST_TEST(PQcancel(cancel, err, sizeof err) == 1, err);
    PQfreeCancel(cancel);
    PQfinish(conn);
}

void check_session(const Seen& seen) {
    BOOST_TEST(seen.failure == "");
    BOOST_TEST(seen.user == "alice");
    BOOST_TEST(seen.database == "app");
    BOOST_TEST(seen.application_name == "pool-test");
    BOOST_TEST(seen.authenticated);
    BOOST_TEST(seen.query == "SET search_path = app");
    BOOST_TEST(seen.parse_statement == "stmt_1");
    BOOST_TEST(seen.parse_query == "SELECT $1::int");
    BOOST_TEST(seen.bind_statement == "stmt_1");
    BOOST_TEST(seen.bind_param == "42");
    BOOST_TEST(seen.cancel_received);
    BOOST_TEST(seen.cancel_pid == kPid);
    BOOST_TEST(seen.cancel_key == kKey);
    BOOST_TEST(seen.terminated);
}

constexpr std::string_view kVerifier =  // "pencil", RFC 7677's salt (see test_scram.cpp)
    "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
    "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=";

}  // namespace

BOOST_AUTO_TEST_CASE(scram_with_a_plaintext_secret) {
    Listener l;
    Seen seen;
    std::thread server(serve, l.fd, Method::scram, "correct horse", std::ref(seen));
    run_client(l, "correct horse");
    server.join();
    check_session(seen);
}

BOOST_AUTO_TEST_CASE(scram_with_a_verifier) {
    Listener l;
    Seen seen;
    std::thread server(serve, l.fd, Method::scram, std::string(kVerifier), std::ref(seen));
    run_client(l, "pencil");
    server.join();
    check_session(seen);
}

BOOST_AUTO_TEST_CASE(md5_with_plaintext_and_hash) {
    for (std::string secret : {std::string("secret"), md5_password_hash("alice", "secret")}) {
        Listener l;
        Seen seen;
        std::thread server(serve, l.fd, Method::md5, secret, std::ref(seen));
        run_client(l, "secret");
        server.join();
        check_session(seen);
    }
}

BOOST_AUTO_TEST_CASE(wrong_password_is_reported_like_postgres) {
    for (Method method : {Method::scram, Method::md5}) {
        Listener l;
        Seen seen;
        std::thread server(serve, l.fd, method, std::string(kVerifier), std::ref(seen));
        PGconn* conn = PQconnectdb(conninfo(l, "not pencil").c_str());
        BOOST_TEST(PQstatus(conn) == CONNECTION_BAD);
        std::string error = PQerrorMessage(conn);
        // md5 against a SCRAM verifier cannot succeed either: the same answer.
        BOOST_TEST(error.find("password authentication failed for user \"alice\"") != std::string::npos, error);
        PQfinish(conn);
        server.join();
        BOOST_TEST(seen.failure == "");
        BOOST_TEST(!seen.authenticated);
    }
}
