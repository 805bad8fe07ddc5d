// sd_notify over a datagram socket the test owns, as systemd would provide it.
#define BOOST_TEST_MODULE core_notify
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/notify.hpp"

namespace {

// The datagram socket systemd would own, bound in a temp dir; $NOTIFY_SOCKET unset and
// everything removed on the way out, also when an assertion fails.
struct NotifyReader {
    char dir[sizeof "/tmp/portico-notify-XXXXXX"] = "/tmp/portico-notify-XXXXXX";
    std::string path;
    int fd = -1;

    NotifyReader() {
        BOOST_REQUIRE(mkdtemp(dir) != nullptr);
        path = std::string(dir) + "/notify.sock";
        fd = socket(AF_UNIX, SOCK_DGRAM, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::strcpy(addr.sun_path, path.c_str());
        BOOST_REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    }
    ~NotifyReader() {
        unsetenv("NOTIFY_SOCKET");
        close(fd);
        unlink(path.c_str());
        rmdir(dir);
    }
};

}  // namespace

BOOST_AUTO_TEST_CASE(sends_state_to_notify_socket) {
    NotifyReader reader;
    const std::string& path = reader.path;
    int fd = reader.fd;

    unsetenv("NOTIFY_SOCKET");
    BOOST_TEST(!portico::core::sd_notify_send("READY=1"));
    setenv("NOTIFY_SOCKET", path.c_str(), 1);
    BOOST_TEST(portico::core::sd_notify_send("READY=1\nSTATUS=up"));
    char buf[256];
    ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    BOOST_TEST(std::string(buf, n > 0 ? static_cast<size_t>(n) : 0) == "READY=1\nSTATUS=up");
}

// A reader that never reads: once its queue is full, a send gives up after kNotifySendTimeout
// instead of blocking the caller (the main loop) until the reader drains it.
BOOST_AUTO_TEST_CASE(a_full_reader_queue_drops_the_message_instead_of_blocking) {
    NotifyReader reader;
    const std::string& path = reader.path;
    int fd = reader.fd;
    setenv("NOTIFY_SOCKET", path.c_str(), 1);

    int sent = 0;
    bool dropped = false;
    auto started = std::chrono::steady_clock::now();
    for (int i = 0; i < 1000 && !dropped; ++i) {
        if (portico::core::sd_notify_send("WATCHDOG=1")) ++sent;
        else dropped = true;
    }
    auto took = std::chrono::steady_clock::now() - started;
    BOOST_TEST(dropped);
    BOOST_TEST(sent >= 1);
    BOOST_TEST(took < std::chrono::seconds(2));
    // The queued ones are intact, and once drained, sends go through again.
    char buf[64];
    int received = 0;
    while (recv(fd, buf, sizeof buf, MSG_DONTWAIT) > 0) ++received;
    BOOST_TEST(received == sent);
    BOOST_TEST(portico::core::sd_notify_send("READY=1"));
}
