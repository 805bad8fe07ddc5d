// A few lines instead of libsystemd: the protocol is one datagram with newline-separated assignments.
#include "core/notify.hpp"

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <string>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

namespace portico::core {

bool sd_notify_send(std::string_view state) {
    const char* path = std::getenv("NOTIFY_SOCKET");
    if (path == nullptr || path[0] == '\0') return false;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    size_t len = std::strlen(path);
    if (len >= sizeof addr.sun_path) return false;
    std::memcpy(addr.sun_path, path, len);
    // '@' names an abstract socket (systemd's convention).
    if (addr.sun_path[0] == '@') addr.sun_path[0] = '\0';
    int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    // A reader that stops reading (a stalled service manager, a test that never drains its socket)
    // fills its queue (net.unix.max_dgram_qlen, 10 datagrams by default), and a blocking send then
    // waits for it forever — on the main loop, taking the admin port and the signals with it. Wait
    // a bounded time instead, then drop the message.
    timeval timeout{};
    timeout.tv_usec = static_cast<suseconds_t>(kNotifySendTimeout.count()) * 1000;
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    socklen_t addr_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len);
    ssize_t sent = ::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL,
                            reinterpret_cast<sockaddr*>(&addr), addr_len);
    ::close(fd);
    return sent == static_cast<ssize_t>(state.size());
}

}  // namespace portico::core
