// core::Acceptor: a listening socket that, on EMFILE/ENFILE, closes its handle (ending libuv's
// accept loop, which would retry at once), keeps the socket open through a duplicate, and listens
// again after kPauseMs — connections made meanwhile wait in the backlog and are accepted then.
#define BOOST_TEST_MODULE core_acceptor
#include <boost/test/unit_test.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vector>

#include "core/acceptor.hpp"

using portico::core::Acceptor;

namespace {

int bound_socket(uint16_t& port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    BOOST_REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    port = ntohs(addr.sin_port);
    return fd;
}

int connect_to(uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    BOOST_REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);  // the backlog takes it
    return fd;
}

struct Fixture {
    uv_loop_t loop{};
    Acceptor acceptor{"test"};
    int accepted = 0;
    int errors_left_to_inject = 0;  // the next connections are reported as EMFILE instead
    std::vector<uv_tcp_t*> clients;
    uint64_t paused_at = 0, first_after_pause = 0;

    Fixture() { uv_loop_init(&loop); }
    ~Fixture() {
        acceptor.close();
        for (auto* c : clients) uv_close(reinterpret_cast<uv_handle_t*>(c), [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_loop_close(&loop);
    }

    static void on_connection(uv_stream_t* server, int status) {
        auto* self = static_cast<Fixture*>(server->data);
        if (self->errors_left_to_inject > 0) {
            // Reported as an accept() that failed with EMFILE. (libuv did accept this one: it goes
            // with the closed handle, where a real EMFILE would have left it queued.)
            --self->errors_left_to_inject;
            status = UV_EMFILE;
        }
        if (status < 0) {
            BOOST_TEST(self->acceptor.out_of_descriptors(status));
            BOOST_TEST(!self->acceptor.accepting());
            self->paused_at = uv_now(&self->loop);
            return;
        }
        auto* client = new uv_tcp_t;
        uv_tcp_init(&self->loop, client);
        BOOST_REQUIRE(uv_accept(server, reinterpret_cast<uv_stream_t*>(client)) == 0);
        self->clients.push_back(client);
        if (++self->accepted == 1 && self->paused_at != 0) self->first_after_pause = uv_now(&self->loop);
    }

    void run_until(int wanted, uint64_t timeout_ms) {
        uv_update_time(&loop);
        uint64_t until = uv_now(&loop) + timeout_ms;
        while (accepted < wanted && uv_now(&loop) < until) uv_run(&loop, UV_RUN_ONCE);
    }
};

}  // namespace

BOOST_FIXTURE_TEST_CASE(pauses_on_emfile_and_accepts_the_queued_connections_after, Fixture) {
    uint16_t port = 0;
    int fd = bound_socket(port);
    BOOST_REQUIRE(acceptor.open(&loop, fd, /*unix_socket=*/false, 16, &Fixture::on_connection, this).empty());
    BOOST_TEST(acceptor.accepting());
    errors_left_to_inject = 1;
    std::vector<int> peers;
    for (int i = 0; i < 3; ++i) peers.push_back(connect_to(port));
    // A keep-alive timer so that the loop has something to wait on while paused.
    uv_timer_t tick;
    uv_timer_init(&loop, &tick);
    uv_timer_start(&tick, [](uv_timer_t*) {}, 10, 10);
    run_until(2, 5000);
    BOOST_TEST(accepted == 2);  // the two others, taken after the pause
    BOOST_TEST(acceptor.pauses() == 1u);
    BOOST_TEST(acceptor.accepting());
    BOOST_TEST(first_after_pause - paused_at >= Acceptor::kPauseMs - 5);  // really paused, not spinning
    // And it goes on accepting.
    peers.push_back(connect_to(port));
    run_until(3, 5000);
    BOOST_TEST(accepted == 3);
    uv_close(reinterpret_cast<uv_handle_t*>(&tick), nullptr);
    uv_run(&loop, UV_RUN_NOWAIT);  // the close completes while `tick` is still in scope (ASan: use after scope)
    for (int p : peers) ::close(p);
}

BOOST_FIXTURE_TEST_CASE(other_failures_are_the_callers_and_close_during_a_pause_is_clean, Fixture) {
    uint16_t port = 0;
    int fd = bound_socket(port);
    BOOST_REQUIRE(acceptor.open(&loop, fd, /*unix_socket=*/false, 16, &Fixture::on_connection, this).empty());
    BOOST_TEST(!acceptor.out_of_descriptors(UV_ECONNABORTED));
    BOOST_TEST(acceptor.accepting());
    BOOST_TEST(acceptor.out_of_descriptors(UV_ENFILE));
    BOOST_TEST(!acceptor.accepting());
    acceptor.close();  // the pause timer and the duplicate go too: the loop ends
    BOOST_TEST(uv_run(&loop, UV_RUN_DEFAULT) == 0);
    // The port is free again: nothing holds the socket.
    int again = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(again, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    BOOST_TEST(::bind(again, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    BOOST_TEST(::listen(again, 1) == 0);
    ::close(again);
}
