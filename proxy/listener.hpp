// Listening sockets, opened by the main thread before workers start so that a bind failure is a
// clear start-up error: one SO_REUSEPORT socket per worker for TCP (the kernel spreads
// connections), one shared socket for `unix:` (each worker gets a dup).
#pragma once

#include <string>
#include <vector>

#include "conf/schema.hpp"

namespace portico::proxy {

struct ListenSocket {
    int fd = -1;
    bool unix_socket = false;
};

// Returns the sockets (one per worker) or fills `error` ("cannot bind 127.0.0.1:8080: Address in use").
std::vector<ListenSocket> open_listen_sockets(const conf::Address& address, int workers, std::string& error);
void close_listen_sockets(std::vector<ListenSocket>& sockets);

}  // namespace portico::proxy
