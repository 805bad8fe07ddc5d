// pool_basics: the pool's front door against a real PostgreSQL — psql over the Unix socket and
// loopback TCP, what a client is told at login (its parameters, a BackendKeyData), SSL refused,
// protocol 3.2 negotiated down, garbage answered with a SQLSTATE and a close, unknown databases,
// max_client_conn, and every authentication method (trust, peer, md5, SCRAM) right and wrong.
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "pool_support.hpp"

using namespace portico::test;
using namespace portico::test::pool;

namespace {

bool contains(const std::string& text, std::string_view part) { return text.find(part) != std::string::npos; }

std::string be32(uint32_t v) { return {char(v >> 24), char(v >> 16), char(v >> 8), char(v)}; }

// A startup-phase packet: length word, then the body.
std::string packet(std::string_view body) { return be32(uint32_t(body.size() + 4)) + std::string(body); }

// A StartupMessage body: the version, then name/value pairs, each NUL-terminated, then a NUL.
std::string startup_body(uint32_t version, const std::vector<std::pair<std::string, std::string>>& params) {
    std::string body = be32(version);
    for (const auto& [name, value] : params) body += name + '\0' + value + '\0';
    return body + '\0';
}

// Writes `bytes` to the pool's socket, then reads until the peer closes or `stop_at` (a message
// type byte) has arrived, or 5 s pass. Returns the typed messages as (type, body) pairs; `closed`
// says whether the peer closed.
std::vector<std::pair<char, std::string>> exchange(const std::string& socket_path, const std::string& bytes,
                                                  char stop_at, bool* closed) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", socket_path.c_str());
    BOOST_REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    timeval tv{5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    BOOST_REQUIRE(::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) == ssize_t(bytes.size()));
    std::string in;
    std::vector<std::pair<char, std::string>> messages;
    *closed = false;
    for (;;) {
        char buf[4096];
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) {
            *closed = n == 0 || errno == ECONNRESET;
            break;
        }
        in.append(buf, size_t(n));
        bool stop = false;
        while (in.size() >= 5) {
            uint32_t len = uint32_t(uint8_t(in[1])) << 24 | uint32_t(uint8_t(in[2])) << 16 |
                           uint32_t(uint8_t(in[3])) << 8 | uint8_t(in[4]);
            if (in.size() < len + 1) break;
            messages.emplace_back(in[0], in.substr(5, len - 4));
            stop = stop || in[0] == stop_at;
            in.erase(0, len + 1);
        }
        if (stop) break;
    }
    ::close(fd);
    return messages;
}

// The SQLSTATE (C field) of an ErrorResponse body.
std::string error_code(const std::string& body) {
    for (size_t i = 0; i < body.size() && body[i] != 0;) {
        size_t end = body.find('\0', i + 1);
        if (body[i] == 'C') return body.substr(i + 1, end - i - 1);
        i = end + 1;
    }
    return {};
}

std::string os_user() {
    passwd* pw = getpwuid(geteuid());
    return pw ? pw->pw_name : "";
}

}  // namespace

BOOST_AUTO_TEST_SUITE(pool_basics)

BOOST_AUTO_TEST_CASE(psql_over_the_socket_and_tcp) {
    uint16_t tcp_port = free_tcp_port();
    PoolSetup setup;
    setup.listen_tcp = fmt::format("127.0.0.1:{}", tcp_port);
    PoolStack stack(setup);
    BOOST_TEST(stack.psql_ok({"SELECT 40 + 2"}) == "42");
    // The client's startup parameters reach the server, and its login is told the server's values.
    BOOST_TEST(stack.psql_ok({"SELECT current_setting('application_name'), current_database(), current_user"}) ==
               "psql|app|postgres");
    PgConn c(fmt::format("host=127.0.0.1 port={} dbname=app user=postgres application_name=over_tcp", tcp_port));
    BOOST_REQUIRE_MESSAGE(c.ok(), c.error());
    BOOST_TEST(c.value("SELECT current_setting('application_name')") == "over_tcp");
    BOOST_TEST(std::string(PQparameterStatus(c.conn, "application_name")) == "over_tcp");
    BOOST_TEST(std::string(PQparameterStatus(c.conn, "server_version")).substr(0, 2) ==
               stack.pg.psql("SHOW server_version").substr(0, 2));
    BOOST_TEST(std::string(PQparameterStatus(c.conn, "client_encoding")) == "UTF8");
    BOOST_TEST(PQbackendPID(c.conn) > 0);
    // The socket file is there with mode 0660.
    struct stat st{};
    BOOST_REQUIRE(::stat((stack.socket_dir() + "/.s.PGSQL.6432").c_str(), &st) == 0);
    BOOST_TEST((st.st_mode & 0777) == 0660u);
}

BOOST_AUTO_TEST_CASE(client_encoding_asked_at_login_is_applied_and_reported_canonically) {
    PoolStack stack;
    for (int i = 0; i < 2; ++i) {  // the second login is answered from what the first one learned
        PgConn c(stack.conninfo("postgres", "app", "client_encoding=latin1"));
        BOOST_REQUIRE_MESSAGE(c.ok(), c.error());
        BOOST_TEST(std::string(PQparameterStatus(c.conn, "client_encoding")) == "LATIN1");
        BOOST_TEST(c.value("SHOW client_encoding") == "LATIN1");
    }
    PgConn plain(stack.conninfo());
    BOOST_TEST(plain.value("SHOW client_encoding") == "UTF8");
}

BOOST_AUTO_TEST_CASE(ssl_is_refused_and_prefer_falls_back) {
    // libpq never asks for SSL on a Unix socket: this takes the TCP listener.
    uint16_t tcp_port = free_tcp_port();
    PoolSetup setup;
    setup.listen_tcp = fmt::format("127.0.0.1:{}", tcp_port);
    PoolStack stack(setup);
    std::string tcp = fmt::format("host=127.0.0.1 port={} dbname=app user=postgres", tcp_port);
    PgConn required(tcp + " sslmode=require");
    BOOST_TEST(!required.ok());
    BOOST_TEST(contains(required.error(), "does not support SSL"), required.error());
    PgConn preferred(tcp + " sslmode=prefer gssencmode=prefer");
    BOOST_TEST_REQUIRE(preferred.ok(), preferred.error());
    BOOST_TEST(preferred.value("SELECT 1") == "1");
}

BOOST_AUTO_TEST_CASE(protocol_3_2_is_negotiated_down_to_3_0) {
    PoolStack stack;
    std::string body = startup_body(3u << 16 | 2u, {{"user", "postgres"}, {"database", "app"}, {"_pq_.made_up", "x"}});
    bool closed = false;
    auto messages = exchange(stack.socket_dir() + "/.s.PGSQL.6432", packet(body), 'Z', &closed);
    BOOST_REQUIRE(!messages.empty());
    BOOST_TEST(messages[0].first == 'v');  // NegotiateProtocolVersion first, as Postgres sends it
    BOOST_TEST(messages[0].second.substr(0, 8) == be32(0) + be32(1));  // newest minor 0, one option
    BOOST_TEST(contains(messages[0].second, "_pq_.made_up"));
    bool saw_key = false, saw_ready = false;
    for (auto& [type, b] : messages) {
        if (type == 'K') saw_key = b.size() == 8;  // a 3.0 cancel key: pid + 4 bytes
        if (type == 'Z') saw_ready = true;
    }
    BOOST_TEST(saw_key);
    BOOST_TEST(saw_ready);
}

BOOST_AUTO_TEST_CASE(garbage_gets_a_sqlstate_and_a_close) {
    PoolStack stack;
    const std::string path = stack.socket_dir() + "/.s.PGSQL.6432";
    struct Case {
        const char* name;
        std::string bytes;
        const char* sqlstate;
    };
    std::string startup_no_user = packet(startup_body(3u << 16, {{"database", "app"}}));
    std::string good_startup = packet(startup_body(3u << 16, {{"user", "postgres"}, {"database", "app"}}));
    const Case cases[] = {
        {"an HTTP request", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "08P01"},
        {"a length below 8", be32(4) + be32(0), "08P01"},
        {"protocol 2.0", packet(startup_body(2u << 16, {{"user", "x"}})), "0A000"},
        {"no user", startup_no_user, "28000"},
        {"a typed message with length 2 after login", good_startup + "Q" + be32(2), "08P01"},
    };
    for (const Case& c : cases) {
        BOOST_TEST_CONTEXT(c.name) {
            bool closed = false;
            auto messages = exchange(path, c.bytes, 0, &closed);
            BOOST_TEST(closed);
            BOOST_REQUIRE(!messages.empty());
            BOOST_TEST(messages.back().first == 'E');
            std::string code = error_code(messages.back().second);
            BOOST_TEST(code == c.sqlstate);
        }
    }
    BOOST_TEST(stack.psql_ok({"SELECT 'still serving'"}) == "still serving");
}

BOOST_AUTO_TEST_CASE(unknown_database_and_max_client_conn) {
    PoolSetup setup;
    setup.max_client_conn = "3";
    PoolStack stack(setup);
    PgConn nope(stack.conninfo("postgres", "nope"));
    BOOST_TEST(!nope.ok());
    BOOST_TEST(contains(nope.error(), "database \"nope\" does not exist"), nope.error());
    std::vector<std::unique_ptr<PgConn>> held;
    for (int i = 0; i < 3; ++i) {
        held.push_back(std::make_unique<PgConn>(stack.conninfo()));
        BOOST_TEST_REQUIRE(held.back()->ok(), held.back()->error());
    }
    PgConn fourth(stack.conninfo());
    BOOST_TEST(!fourth.ok());
    BOOST_TEST(contains(fourth.error(), "no more connections allowed"), fourth.error());
    held.pop_back();
    BOOST_TEST(eventually([&] { return PgConn(stack.conninfo()).ok(); }, 5s));
}

BOOST_AUTO_TEST_CASE(md5_and_scram_from_a_userlist) {
    // The server wants SCRAM too: the pool logs in with the userlist's plaintext password.
    PgClusterOptions cluster;
    cluster.auth = "scram-sha-256";
    cluster.superuser_password = "su-secret";
    cluster.users = {{"alice", "alice-pw"}, {"bob", "bob-pw"}};
    PoolSetup setup;
    setup.cluster = cluster;
    TempDir files;
    setup.auth = fmt::format("{{ type: md5, file: {} }}", files.file("userlist.txt"));
    // Bob's line comes later: it is Postgres's own SCRAM verifier for him, read from the server.
    files.write("userlist.txt", "\"alice\" \"alice-pw\"\n\"postgres\" \"su-secret\"\n");
    PoolStack stack(setup);
    std::string bob_verifier = stack.pg.psql("SELECT rolpassword FROM pg_authid WHERE rolname = 'bob'");
    BOOST_REQUIRE(bob_verifier.rfind("SCRAM-SHA-256$", 0) == 0);
    files.write("userlist.txt", fmt::format("\"alice\" \"alice-pw\"\n\"postgres\" \"su-secret\"\n\"bob\" \"{}\"\n"
                                            "; bob's secret is Postgres's verifier: SCRAM only\n",
                                            bob_verifier));
    stack.portico->reload();

    // md5 for alice (plaintext on file), SCRAM for bob (a verifier forces SCRAM, as in Postgres).
    PgConn alice(stack.conninfo("alice", "app", "password=alice-pw"));
    BOOST_TEST_REQUIRE(alice.ok(), alice.error());
    BOOST_TEST(alice.value("SELECT current_user") == "alice");
    PgConn bob(stack.conninfo("bob", "app", "password=bob-pw"));
    // The pool checks bob's SCRAM proof against the verifier, but a verifier cannot log the pool in to
    // the server as bob: the error is the server login's, not bob's password.
    BOOST_TEST(!bob.ok());
    BOOST_TEST(contains(bob.error(), "cannot connect to database \"app\""), bob.error());
    for (const char* who : {"alice", "bob", "nobody"}) {
        BOOST_TEST_CONTEXT(who) {
            PgConn wrong(stack.conninfo(who, "app", "password=wrong"));
            BOOST_TEST(!wrong.ok());
            BOOST_TEST(contains(wrong.error(), fmt::format("password authentication failed for user \"{}\"", who)),
                       wrong.error());
        }
    }
    // libpq's own SCRAM against the pool: require_auth is libpq 16+, so check through the answer.
    PgConn scram(stack.conninfo("postgres", "app", "password=su-secret"));
    BOOST_TEST_REQUIRE(scram.ok(), scram.error());
    BOOST_TEST(scram.value("SELECT 1") == "1");
}

BOOST_AUTO_TEST_CASE(scram_method) {
    PoolSetup setup;
    TempDir files;
    files.write("userlist.txt", "\"postgres\" \"pw-for-scram\"\n");
    setup.auth = fmt::format("{{ type: scram-sha-256, file: {} }}", files.file("userlist.txt"));
    PoolStack stack(setup);
    PgConn right(stack.conninfo("postgres", "app", "password=pw-for-scram"));
    BOOST_TEST_REQUIRE(right.ok(), right.error());
    BOOST_TEST(right.value("SELECT 5") == "5");
    PgConn wrong(stack.conninfo("postgres", "app", "password=nope"));
    BOOST_TEST(!wrong.ok());
    BOOST_TEST(contains(wrong.error(), "password authentication failed for user \"postgres\""), wrong.error());
    auto stats = stack.portico->admin("GET", "/pool").json();
    BOOST_TEST(stats["login_failures"].get<int>() == 1);
}

BOOST_AUTO_TEST_CASE(peer_matches_the_os_user) {
    PoolSetup setup;
    setup.auth = "{ type: peer }";
    PoolStack stack(setup);
    std::string me = os_user();
    BOOST_REQUIRE(!me.empty());
    if (me != "postgres") stack.pg.create_user(me, "");
    PgConn mine(stack.conninfo(me));
    BOOST_TEST_REQUIRE(mine.ok(), mine.error());
    BOOST_TEST(mine.value("SELECT current_user") == me);
    std::string other = me == "postgres" ? "root" : "postgres";
    PgConn theirs(stack.conninfo(other));
    BOOST_TEST(!theirs.ok());
    BOOST_TEST(contains(theirs.error(), fmt::format("Peer authentication failed for user \"{}\"", other)), theirs.error());
}

BOOST_AUTO_TEST_SUITE_END()
