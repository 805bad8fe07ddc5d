// StreamWriter over a real socket pair: order is kept, queued bytes are counted, and the drain
// callback fires once the kernel took everything.
#define BOOST_TEST_MODULE core_stream_writer
#include <boost/test/unit_test.hpp>

#include <string>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "core/stream_writer.hpp"

using portico::core::StreamWriter;

namespace {
struct Fixture {
    uv_loop_t loop;
    uv_pipe_t pipe;
    int fds[2];
    Fixture() {
        uv_loop_init(&loop);
        BOOST_REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
        int small = 4096;
        setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
        uv_pipe_init(&loop, &pipe, 0);
        BOOST_REQUIRE(uv_pipe_open(&pipe, fds[0]) == 0);
    }
    ~Fixture() {
        uv_close(reinterpret_cast<uv_handle_t*>(&pipe), nullptr);
        uv_run(&loop, UV_RUN_DEFAULT);
        BOOST_TEST(uv_loop_close(&loop) == 0);  // no handle leaked
        close(fds[1]);
    }
    std::string read_all_available(size_t want) {
        std::string got;
        char buf[65536];
        while (got.size() < want) {
            uv_run(&loop, UV_RUN_NOWAIT);
            ssize_t n = recv(fds[1], buf, sizeof buf, MSG_DONTWAIT);
            if (n > 0) got.append(buf, static_cast<size_t>(n));
        }
        return got;
    }
};
}  // namespace

BOOST_AUTO_TEST_CASE(small_writes_go_straight_through) {
    Fixture f;
    StreamWriter w;
    int drains = 0;
    w.attach(reinterpret_cast<uv_stream_t*>(&f.pipe), &drains, [](void* p, int) { ++*static_cast<int*>(p); });
    BOOST_TEST(w.write("hello ", "wor", "ld") == 0);
    BOOST_TEST(w.idle());
    BOOST_TEST(f.read_all_available(11) == "hello world");
    BOOST_TEST(drains == 0);  // nothing was queued, so nothing drained
}

BOOST_AUTO_TEST_CASE(large_writes_queue_keep_order_and_drain) {
    Fixture f;
    StreamWriter w;
    int drains = 0;
    w.attach(reinterpret_cast<uv_stream_t*>(&f.pipe), &drains, [](void* p, int) { ++*static_cast<int*>(p); });
    std::string a(1 << 20, 'a'), b(1 << 20, 'b');
    BOOST_TEST(w.write(a) == 0);
    BOOST_TEST(w.queued() > 0u);  // the peer is not reading: the kernel cannot take 1 MiB
    BOOST_TEST(w.write("|", b) == 0);
    std::string got = f.read_all_available(a.size() + 1 + b.size());
    BOOST_TEST(got == a + "|" + b);
    uv_run(&f.loop, UV_RUN_NOWAIT);
    BOOST_TEST(w.idle());
    BOOST_TEST(drains >= 1);
}
