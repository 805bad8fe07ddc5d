// A raw-socket upstream served by threads of the test: one thread accepts, one thread per
// connection runs the test's handler with blocking reads and writes under deadlines. For what
// uvicorn cannot do: record the exact bytes and message boundaries it received (the smuggling
// differential), or break a response on purpose at a chosen byte (a reset, a stall) for the fault
// tests. Header-only: each suite is its own executable.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/core.h>

#include <atomic>
#include <functional>
#include <list>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>

#include "harness.hpp"

namespace portico::test {

class RawUpstream;

// One accepted connection, as the handler sees it.
class RawConnection {
public:
    RawConnection(int fd, int index, const std::atomic<bool>& stop) : fd_(fd), index_(index), stop_(stop) {}
    int fd() const { return fd_; }
    int index() const { return index_; }  // 0, 1, 2… in accept order
    bool stopping() const { return stop_.load(); }

    // Appends what arrives within `timeout` (at least one byte) to `buf`; false on EOF, an error,
    // the timeout, or the upstream being destroyed.
    bool read_more(std::string& buf, Millis timeout = 5s) {
        const auto deadline = Clock::now() + timeout;
        while (!stop_) {
            pollfd p{fd_, POLLIN, 0};
            auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now()).count();
            if (left <= 0) return false;
            int rc = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 50)));
            if (rc <= 0) continue;
            char chunk[16384];
            ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
            if (n <= 0) return false;
            buf.append(chunk, static_cast<size_t>(n));
            return true;
        }
        return false;
    }
    // Reads until `buf` holds `marker` (true) or read_more fails (false).
    bool read_until(std::string& buf, std::string_view marker, Millis timeout = 5s) {
        const auto deadline = Clock::now() + timeout;
        while (buf.find(marker) == std::string::npos) {
            auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now());
            if (left.count() <= 0 || !read_more(buf, left)) return false;
        }
        return true;
    }
    bool write(std::string_view bytes) {
        while (!bytes.empty()) {
            ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
            if (n <= 0) return false;
            bytes.remove_prefix(static_cast<size_t>(n));
        }
        return true;
    }
    // A TCP reset instead of a FIN: SO_LINGER with a zero timeout, then close (the upstream thread
    // closes the descriptor; this only arms the reset and shuts the socket down).
    void reset() {
        linger l{1, 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
        reset_ = true;
    }
    bool wants_reset() const { return reset_; }
    // Holds the connection open, reading and discarding, until the peer closes or the upstream
    // is destroyed (a stall that never ends on its own).
    void hold() {
        std::string sink;
        while (!stop_) {
            if (!read_more(sink, 100ms)) {
                pollfd p{fd_, POLLIN, 0};
                if (::poll(&p, 1, 0) > 0) {
                    char c;
                    if (::recv(fd_, &c, 1, MSG_PEEK) <= 0) return;  // closed by the peer
                }
            }
            sink.clear();
        }
    }

private:
    int fd_;
    int index_;
    const std::atomic<bool>& stop_;
    bool reset_ = false;
};

class RawUpstream {
public:
    using Handler = std::function<void(RawConnection&)>;

    explicit RawUpstream(Handler handler) : handler_(std::move(handler)) {
        listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int one = 1;
        ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(listen_fd_, 128) != 0)
            throw std::runtime_error("raw upstream: bind/listen failed");
        socklen_t len = sizeof addr;
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
        port_ = ntohs(addr.sin_port);
        acceptor_ = std::thread([this] { accept_loop(); });
    }
    ~RawUpstream() {
        stop_ = true;
        acceptor_.join();
        {
            std::lock_guard lock(mutex_);
            for (auto& c : connections_)
                if (c.fd >= 0) ::shutdown(c.fd, SHUT_RDWR);  // wakes blocked handlers
        }
        for (auto& c : connections_) c.thread.join();
        ::close(listen_fd_);
    }
    RawUpstream(const RawUpstream&) = delete;
    RawUpstream& operator=(const RawUpstream&) = delete;

    uint16_t port() const { return port_; }
    std::string address() const { return fmt::format("127.0.0.1:{}", port_); }
    int accepted() const { return accepted_; }

private:
    struct Live {
        int fd = -1;  // -1 once the handler's thread closed it (guarded by mutex_)
        std::thread thread;
    };

    void accept_loop() {
        while (!stop_) {
            pollfd p{listen_fd_, POLLIN, 0};
            if (::poll(&p, 1, 50) <= 0) continue;
            int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
            if (fd < 0) continue;
            int index = accepted_++;
            std::lock_guard lock(mutex_);
            Live& live = connections_.emplace_back();
            live.fd = fd;
            live.thread = std::thread([this, &live, fd, index] {
                RawConnection c(fd, index, stop_);
                try {
                    handler_(c);
                } catch (...) {
                    // A handler never takes the test process down; the test sees the effects.
                }
                std::lock_guard done(mutex_);
                if (!c.wants_reset()) ::shutdown(fd, SHUT_WR);
                ::close(fd);
                live.fd = -1;
            });
        }
    }

    Handler handler_;
    int listen_fd_ = -1;
    uint16_t port_ = 0;
    std::atomic<bool> stop_{false};
    std::atomic<int> accepted_{0};
    std::thread acceptor_;
    std::mutex mutex_;
    std::list<Live> connections_;
};

}  // namespace portico::test
