// A listening socket under libuv that survives running out of file descriptors.
//
// libuv's accept loop (uv__server_io, 1.44) meets EMFILE/ENFILE with its "emfile trick": it closes
// a reserve descriptor, accepts and drops what is queued, and opens the reserve again. When the
// reserve is gone — another thread of the process took the slot it freed, which with several
// worker loops, the cache writer and the pool happens at once under load — it reports the error
// to the connection callback and calls accept() again at once, forever: the loop's thread spins at
// 100% CPU and never gets back to its other handles, not even the connections whose closing would
// give descriptors back (found by tests/integration/faults.cpp: a worker held to 64 descriptors
// wedged, the admin port with it). The only way out of that loop is to close the listening handle.
// So on EMFILE/ENFILE the acceptor closes it — a duplicate of the socket kept aside holds the
// socket and its backlog open, so connections wait in the kernel's queue — and listens again
// from that duplicate after a short pause, as nginx does (it disables accept events for 500 ms).
#pragma once

#include <cstdint>
#include <string>

#include <uv.h>

namespace portico::core {

class Acceptor {
public:
    static constexpr uint64_t kPauseMs = 100;

    // `component` names the part in log lines ("proxy", "admin", "pool").
    explicit Acceptor(const char* component) : component_(component) {}
    ~Acceptor();  // closes the descriptors left if close() never ran
    Acceptor(const Acceptor&) = delete;
    Acceptor& operator=(const Acceptor&) = delete;

    // Listens on `fd` (a bound stream socket; it is the acceptor's from now on, whatever the
    // outcome). Connections go to `on_connection`, whose server stream has `data` set to `data`.
    // "" or why not.
    std::string open(uv_loop_t* loop, int fd, bool unix_socket, int backlog, uv_connection_cb on_connection,
                     void* data);
    // For the connection callback's failure status: EMFILE or ENFILE stops accepting for kPauseMs
    // (true, logged at most once a second); any other failure is the caller's (false).
    bool out_of_descriptors(int status);
    // Stops for good (drain, shutdown): the listening handle, the pause timer, the duplicate.
    void close();

    bool accepting() const { return handle_ != nullptr; }
    uint64_t pauses() const { return pauses_; }

private:
    union Stream {
        uv_tcp_t tcp;
        uv_pipe_t pipe;
    };
    int listen_on(int fd);  // a new handle over fd; 0 or a libuv error
    void stop_handle();
    static void on_resume(uv_timer_t* timer);

    const char* component_;
    uv_loop_t* loop_ = nullptr;
    bool unix_socket_ = false;
    int backlog_ = 0;
    uv_connection_cb on_connection_ = nullptr;
    void* data_ = nullptr;
    Stream* handle_ = nullptr;     // heap: freed in its close callback
    uv_timer_t* timer_ = nullptr;  // heap: freed in its close callback
    int spare_fd_ = -1;            // a duplicate of the socket: holds it (and its backlog) while paused
    uint64_t pauses_ = 0;
    uint64_t pauses_logged_ = 0;
    uint64_t last_log_ms_ = 0;
    bool closed_ = false;
};

}  // namespace portico::core
