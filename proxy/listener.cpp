// Socket creation for listeners; see listener.hpp.
#include "proxy/listener.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

namespace portico::proxy {

namespace {

int open_tcp(const conf::Address& address, bool reuse_port, std::string& error) {
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    addrinfo* result = nullptr;
    std::string port = std::to_string(address.port);
    int rc = getaddrinfo(address.host.empty() ? nullptr : address.host.c_str(), port.c_str(), &hints, &result);
    if (rc != 0 || result == nullptr) {
        error = fmt::format("cannot resolve listen address {}: {}", address.text, gai_strerror(rc));
        return -1;
    }
    int fd = ::socket(result->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        error = fmt::format("cannot create socket for {}: {}", address.text, std::strerror(errno));
        freeaddrinfo(result);
        return -1;
    }
    int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    // libuv 1.44 has no flag for SO_REUSEPORT: set it here, then uv_tcp_open the socket.
    if (reuse_port) setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on);
    if (result->ai_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
    if (::bind(fd, result->ai_addr, result->ai_addrlen) != 0) {
        error = fmt::format("cannot bind {}: {}", address.text, std::strerror(errno));
        ::close(fd);
        freeaddrinfo(result);
        return -1;
    }
    freeaddrinfo(result);
    return fd;
}

int open_unix(const conf::Address& address, std::string& error) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (address.path.size() >= sizeof addr.sun_path) {
        error = fmt::format("unix socket path too long: {}", address.path);
        return -1;
    }
    std::memcpy(addr.sun_path, address.path.c_str(), address.path.size() + 1);
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        error = fmt::format("cannot create socket for {}: {}", address.text, std::strerror(errno));
        return -1;
    }
    struct stat st{};
    if (::lstat(address.path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) {
        // A socket file left by a crashed run: remove it unless something still answers on it.
        int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        bool live = probe >= 0 && ::connect(probe, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
        if (probe >= 0) ::close(probe);
        if (live) {
            error = fmt::format("cannot bind {}: another process is listening there", address.text);
            ::close(fd);
            return -1;
        }
        ::unlink(address.path.c_str());
    }
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        error = fmt::format("cannot bind {}: {}", address.text, std::strerror(errno));
        ::close(fd);
        return -1;
    }
    ::chmod(address.path.c_str(), 0660);
    return fd;
}

}  // namespace

std::vector<ListenSocket> open_listen_sockets(const conf::Address& address, int workers, std::string& error) {
    std::vector<ListenSocket> sockets;
    if (address.kind == conf::Address::Kind::unix_socket) {
        int fd = open_unix(address, error);
        if (fd < 0) return {};
        sockets.push_back({fd, true});
        for (int i = 1; i < workers; ++i) {
            int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
            if (copy < 0) {
                error = fmt::format("cannot dup listener: {}", std::strerror(errno));
                close_listen_sockets(sockets);
                return {};
            }
            sockets.push_back({copy, true});
        }
        return sockets;
    }
    // SO_REUSEPORT would let us share a port with another instance run by the same user: bind
    // once without it to be sure the address is really free.
    int probe = open_tcp(address, /*reuse_port=*/false, error);
    if (probe < 0) return {};
    ::close(probe);
    for (int i = 0; i < workers; ++i) {
        int fd = open_tcp(address, /*reuse_port=*/true, error);
        if (fd < 0) {
            close_listen_sockets(sockets);
            return {};
        }
        sockets.push_back({fd, false});
    }
    return sockets;
}

void close_listen_sockets(std::vector<ListenSocket>& sockets) {
    for (auto& s : sockets) {
        if (s.fd >= 0) ::close(s.fd);
        s.fd = -1;
    }
    sockets.clear();
}

}  // namespace portico::proxy
