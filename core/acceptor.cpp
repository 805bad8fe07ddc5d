// A listening socket that pauses instead of spinning when descriptors run out; see acceptor.hpp.
#include "core/acceptor.hpp"

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "core/log.hpp"

namespace portico::core {

namespace {
int duplicate(int fd) { return ::fcntl(fd, F_DUPFD_CLOEXEC, 0); }
}  // namespace

Acceptor::~Acceptor() {
    if (spare_fd_ >= 0) ::close(spare_fd_);
}

std::string Acceptor::open(uv_loop_t* loop, int fd, bool unix_socket, int backlog, uv_connection_cb on_connection,
                           void* data) {
    loop_ = loop;
    unix_socket_ = unix_socket;
    backlog_ = backlog;
    on_connection_ = on_connection;
    data_ = data;
    spare_fd_ = duplicate(fd);
    if (spare_fd_ < 0) {
        std::string error = fmt::format("cannot duplicate the listening socket: {}", std::strerror(errno));
        ::close(fd);
        return error;
    }
    timer_ = new uv_timer_t;
    uv_timer_init(loop_, timer_);
    timer_->data = this;
    if (int rc = listen_on(fd); rc != 0) return fmt::format("cannot listen: {}", uv_strerror(rc));
    return "";
}

int Acceptor::listen_on(int fd) {
    auto* stream = new Stream;
    int rc;
    if (unix_socket_) {
        uv_pipe_init(loop_, &stream->pipe, 0);
        rc = uv_pipe_open(&stream->pipe, fd);
    } else {
        uv_tcp_init(loop_, &stream->tcp);
        rc = uv_tcp_open(&stream->tcp, fd);
    }
    if (rc != 0) ::close(fd);  // a descriptor uv_*_open refused is still ours; one it took goes with the handle
    stream->tcp.data = data_;  // uv_handle_t fields overlap in both members of the union
    handle_ = stream;
    if (rc == 0) rc = uv_listen(reinterpret_cast<uv_stream_t*>(stream), backlog_, on_connection_);
    if (rc != 0) stop_handle();
    return rc;
}

void Acceptor::stop_handle() {
    if (handle_ == nullptr) return;
    // Inside libuv's accept loop this is what ends it: the loop stops once the handle's
    // descriptor is closed, and the memory lasts until the close callback.
    uv_close(reinterpret_cast<uv_handle_t*>(handle_), [](uv_handle_t* h) { delete reinterpret_cast<Stream*>(h); });
    handle_ = nullptr;
}

bool Acceptor::out_of_descriptors(int status) {
    if (status != UV_EMFILE && status != UV_ENFILE) return false;
    if (closed_ || handle_ == nullptr) return true;
    ++pauses_;
    stop_handle();
    uv_timer_start(timer_, &Acceptor::on_resume, kPauseMs, 0);
    uint64_t now = uv_now(loop_);
    if (last_log_ms_ == 0 || now - last_log_ms_ >= 1000) {
        rlimit files{};
        ::getrlimit(RLIMIT_NOFILE, &files);
        log(LogLevel::warn, component_,
            "out of file descriptors ({}, limit {}): not accepting connections for {} ms ({} such pauses since the last "
            "line)",
            status == UV_EMFILE ? "EMFILE" : "ENFILE", static_cast<unsigned long long>(files.rlim_cur), kPauseMs,
            pauses_ - pauses_logged_);
        last_log_ms_ = now;
        pauses_logged_ = pauses_;
    }
    return true;
}

void Acceptor::on_resume(uv_timer_t* timer) {
    auto* self = static_cast<Acceptor*>(timer->data);
    if (self->closed_ || self->handle_ != nullptr) return;
    // The duplicate becomes the listening descriptor and a new duplicate is kept aside; without a
    // free descriptor for that, stay paused (the socket stays open through the old duplicate).
    int fresh = duplicate(self->spare_fd_);
    if (fresh < 0) {
        uv_timer_start(timer, &Acceptor::on_resume, kPauseMs, 0);
        return;
    }
    int fd = self->spare_fd_;
    self->spare_fd_ = fresh;
    if (self->listen_on(fd) != 0) uv_timer_start(timer, &Acceptor::on_resume, kPauseMs, 0);
}

void Acceptor::close() {
    if (closed_) return;
    closed_ = true;
    stop_handle();
    if (timer_ != nullptr) {
        uv_close(reinterpret_cast<uv_handle_t*>(timer_), [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
        timer_ = nullptr;
    }
    if (spare_fd_ >= 0) {
        ::close(spare_fd_);
        spare_fd_ = -1;
    }
}

}  // namespace portico::core
