// A few lines instead of libsystemd: the protocol is one datagram with newline-separated assignments.
#include "core/notify.hpp"

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <string>
#include <sys/socket.h>
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
    socklen_t addr_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len);
    ssize_t sent = ::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL,
                            reinterpret_cast<sockaddr*>(&addr), addr_len);
    ::close(fd);
    return sent == static_cast<ssize_t>(state.size());
}

}  // namespace portico::core
