// sd_notify over a datagram socket the test owns, as systemd would provide it.
#define BOOST_TEST_MODULE core_notify
#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <cstring>
#include <string>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/notify.hpp"

BOOST_AUTO_TEST_CASE(sends_state_to_notify_socket) {
    char dir[] = "/tmp/portico-notify-XXXXXX";
    BOOST_REQUIRE(mkdtemp(dir) != nullptr);
    std::string path = std::string(dir) + "/notify.sock";
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strcpy(addr.sun_path, path.c_str());
    BOOST_REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);

    unsetenv("NOTIFY_SOCKET");
    BOOST_TEST(!portico::core::sd_notify_send("READY=1"));
    setenv("NOTIFY_SOCKET", path.c_str(), 1);
    BOOST_TEST(portico::core::sd_notify_send("READY=1\nSTATUS=up"));
    char buf[256];
    ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    BOOST_TEST(std::string(buf, n > 0 ? static_cast<size_t>(n) : 0) == "READY=1\nSTATUS=up");
    unsetenv("NOTIFY_SOCKET");
    close(fd);
    unlink(path.c_str());
    rmdir(dir);
}
