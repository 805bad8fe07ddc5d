// The admin HTTP/1.1 server: listens on admin.listen (TCP or unix:) on a loop it is given — the
// main thread's — with keep-alive, bodies up to 64 KiB, and answers from the Router's table.
#pragma once

#include <cstddef>
#include <string>
#include <unordered_set>
#include <uv.h>

#include "admin/routes.hpp"
#include "conf/schema.hpp"
#include "core/acceptor.hpp"

namespace portico::admin {

// Limits of the admin port: it serves operators and scrapers, never the public.
constexpr size_t kMaxAdminBody = 64 * 1024;        // larger bodies: 413
constexpr size_t kMaxAdminHead = 16 * 1024;        // larger heads: 431
constexpr size_t kMaxAdminConnections = 64;        // beyond: accepted and closed at once
constexpr uint64_t kAdminIdleTimeoutMs = 60'000;   // keep-alive idle
constexpr uint64_t kAdminRequestTimeoutMs = 10'000;  // a whole request, from its first byte

class AdminConnection;

class Server {
public:
    Server(uv_loop_t* loop, AdminBackend& backend);
    // Closes what is still open; the memory of handles goes in their close callbacks, so the loop
    // must run once more afterwards (the process's uv_run does).
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    // Reads the token (when `token_file` is set), binds and listens. Returns "" or one line such as
    // "cannot bind 127.0.0.1:9901: Address already in use" or "cannot read token file …".
    std::string start(const conf::Address& address, const std::string& token_file);

    // On reload: re-reads the token file ("" turns the token off). On error the previous token
    // stays in force and the error is returned.
    std::string set_token_file(const std::string& token_file);

    // The bound TCP port (the kernel's choice for port 0); 0 for a Unix socket or before start.
    int port() const { return port_; }
    size_t connections() const { return connections_.size(); }

    // Stops listening and closes every connection (drain). Idempotent.
    void close();

private:
    friend class AdminConnection;
    static void on_connection(uv_stream_t* listener, int status);
    void forget(AdminConnection* connection) { connections_.erase(connection); }

    uv_loop_t* loop_;
    Router router_;
    core::Acceptor acceptor_{"admin"};  // the listening socket; pauses when descriptors run out
    bool unix_socket_ = false;
    std::string unix_path_;
    int port_ = 0;
    bool closed_ = false;
    std::unordered_set<AdminConnection*> connections_;
};

}  // namespace portico::admin
