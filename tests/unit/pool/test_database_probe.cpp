// The pool's readiness probe against a port nobody listens on, and against a fake server that
// answers the startup with an error: a refused login (28P01) still means the server is up, "the
// database system is starting up" (57P03) does not. The ping runs on libuv's thread pool.
#define BOOST_TEST_MODULE pool_database_probe
#include <boost/test/unit_test.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <thread>

#include <uv.h>

#include "pool/database_probe.hpp"

using portico::pool::DatabaseProbe;

namespace {

// A listening socket on 127.0.0.1; `port` is the kernel's choice.
struct Listener {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    uint16_t port = 0;
    Listener() {
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        BOOST_REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
        BOOST_REQUIRE(::listen(fd, 8) == 0);
        socklen_t len = sizeof addr;
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
        port = ntohs(addr.sin_port);
    }
    ~Listener() {
        if (fd >= 0) ::close(fd);
    }
};

// Accepts one connection, reads the startup packet (into *startup), answers
// ErrorResponse(sqlstate), closes.
void answer_with_error(int listen_fd, std::string sqlstate, std::string* startup = nullptr) {
    int c = ::accept(listen_fd, nullptr, nullptr);
    if (c < 0) return;
    char buf[1024];
    ssize_t n = ::recv(c, buf, sizeof buf, 0);
    if (startup != nullptr && n > 0) startup->assign(buf, static_cast<size_t>(n));
    std::string fields = std::string("SFATAL") + '\0' + "VFATAL" + '\0' + "C" + sqlstate + '\0' + "Mrefused" + '\0' + '\0';
    uint32_t len = htonl(static_cast<uint32_t>(4 + fields.size()));
    std::string message = "E" + std::string(reinterpret_cast<const char*>(&len), 4) + fields;
    (void)::send(c, message.data(), message.size(), MSG_NOSIGNAL);
    ::close(c);
}

DatabaseProbe::Params params_for(uint16_t port) {
    // No TLS or GSS negotiation first: the fake server speaks only the startup packet.
    return {{"host", "127.0.0.1"}, {"port", std::to_string(port)}, {"user", "probe"}, {"sslmode", "disable"},
            {"gssencmode", "disable"}};
}

// One ping: tick, then run the loop until the thread pool's answer is back.
DatabaseProbe::Result ping(DatabaseProbe& probe) {
    probe.tick(/*now_ns=*/1);
    uv_run(uv_default_loop(), UV_RUN_DEFAULT);
    return probe.result();
}

}  // namespace

BOOST_AUTO_TEST_CASE(nobody_listening_is_no_response_with_the_database_named) {
    uint16_t port;
    {
        Listener gone;
        port = gone.port;
    }
    DatabaseProbe probe(uv_default_loop(), "app", params_for(port));
    BOOST_TEST(probe.reason() == "pool database app: not checked yet");
    BOOST_TEST((ping(probe) == DatabaseProbe::Result::no_response));
    BOOST_TEST(probe.reason() ==
               "pool database app: no answer from its server (down, or not reachable at its conninfo)");
    BOOST_TEST(probe.last_ok_ns() == 0u);
}

BOOST_AUTO_TEST_CASE(a_refused_login_still_means_the_server_is_up) {
    Listener l;
    std::thread server([&] { answer_with_error(l.fd, "28P01"); });
    DatabaseProbe probe(uv_default_loop(), "app", params_for(l.port));
    BOOST_TEST((ping(probe) == DatabaseProbe::Result::ok));
    server.join();
    BOOST_TEST(probe.reason() == "");
    BOOST_TEST(probe.last_ok_ns() > 0u);
}

BOOST_AUTO_TEST_CASE(a_server_starting_up_rejects) {
    Listener l;
    std::thread server([&] { answer_with_error(l.fd, "57P03"); });
    DatabaseProbe probe(uv_default_loop(), "app", params_for(l.port));
    BOOST_TEST((ping(probe) == DatabaseProbe::Result::rejected));
    server.join();
    BOOST_TEST(probe.reason().rfind("pool database app: the server refuses connections", 0) == 0u, probe.reason());
}

BOOST_AUTO_TEST_CASE(a_probe_gone_before_its_answer_drops_it) {
    Listener l;  // accepts (backlog) and never answers: the ping waits for connect_timeout
    {
        DatabaseProbe probe(uv_default_loop(), "app", params_for(l.port));
        probe.tick(1);
    }
    uv_run(uv_default_loop(), UV_RUN_DEFAULT);  // the answer arrives for nobody, and is freed
    BOOST_TEST(uv_loop_alive(uv_default_loop()) == 0);
}

// The pooler's login replaces the conninfo's user for a ping; an answered probe pings again only
// after 10 s, an unanswered one after 2 s.
BOOST_AUTO_TEST_CASE(login_override_and_the_pace_of_pings) {
    Listener l;
    std::string startup;
    std::thread server([&] { answer_with_error(l.fd, "28P01", &startup); });
    DatabaseProbe probe(uv_default_loop(), "app", params_for(l.port));
    probe.tick(1'000'000'000, {{"user", "app_role"}});
    uv_run(uv_default_loop(), UV_RUN_DEFAULT);
    server.join();
    BOOST_TEST((probe.result() == DatabaseProbe::Result::ok));
    BOOST_TEST(startup.find(std::string("user") + '\0' + "app_role" + '\0') != std::string::npos);
    BOOST_TEST(startup.find(std::string("user") + '\0' + "probe" + '\0') == std::string::npos);

    probe.tick(1'000'000'000 + 9'000'000'000ull);  // answered 9 s ago: not yet
    BOOST_TEST(uv_loop_alive(uv_default_loop()) == 0);
    ::close(l.fd);  // the next ping finds nobody
    l.fd = -1;
    probe.tick(1'000'000'000 + 10'000'000'000ull);
    BOOST_TEST(uv_loop_alive(uv_default_loop()) != 0);
    uv_run(uv_default_loop(), UV_RUN_DEFAULT);
    BOOST_TEST((probe.result() == DatabaseProbe::Result::no_response));
    probe.tick(1'000'000'000 + 12'000'000'000ull);  // unanswered: again after 2 s
    BOOST_TEST(uv_loop_alive(uv_default_loop()) != 0);
    uv_run(uv_default_loop(), UV_RUN_DEFAULT);
}
