// The response writer for file bodies: sends a planned body (static_response.hpp: text, then a
// byte range of an open file, per segment) to a client socket — text through the connection's
// StreamWriter, file bytes with sendfile(2) from the page cache straight into the socket, on the
// worker's loop thread, in bounded chunks, only while the socket takes them.
//
// Why sendfile(2) and not uv_fs_sendfile: libuv 1.44.2 (Debian 12) tries copy_file_range first,
// which a socket refuses with EINVAL, and then falls back to a pread/write loop that poll()s the
// socket while it is full (seen with strace) — a copy through user space that would block the loop
// on a slow client if run on it, and hold one of the four threadpool threads per slow client if
// not. sendfile on the non-blocking socket never waits: it takes what fits, and when nothing fits
// the sender waits for the socket to be writable (a uv_poll_t on a dup of its descriptor: libuv
// allows one watcher per descriptor number, and the stream's own watcher has the original).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>
#include <uv.h>

#include "core/stream_writer.hpp"
#include "proxy/open_file_cache.hpp"
#include "proxy/static_response.hpp"

namespace portico::proxy {

class FileSender {
public:
    // 0: every byte is handed to the kernel or to the writer's queue; < 0: a libuv error (the client
    // went away; UV_EIO: the file shrank under us, so the promised length cannot be kept).
    using DoneFn = void (*)(void* owner, int status);

    FileSender() = default;
    ~FileSender();
    FileSender(const FileSender&) = delete;
    FileSender& operator=(const FileSender&) = delete;

    void attach(uv_loop_t* loop, uv_stream_t* stream, core::StreamWriter* writer, void* owner, DoneFn done);

    // Sends `body` from `file`; may finish (and call done) before it returns.
    void start(OpenFilePtr file, std::vector<BodySegment> body);
    // The writer's queue shrank: go on if the file bytes were waiting for it (order on the wire).
    void writer_drained();
    bool active() const { return file_ != nullptr; }
    // Bytes of the current body handed over so far (text and file).
    uint64_t bytes_sent() const { return sent_; }
    uint64_t file_bytes_sent() const { return file_sent_; }

    // Stops and lets go of the file. True when a handle close was started: its callback is
    // `on_close` with handle->data = `close_data` (the owner frees its memory only after it).
    bool close(uv_close_cb on_close, void* close_data);

private:
    void pump();
    void wait_writable();
    void stop_polling();
    int write_text(std::string_view text, bool more);
    void finish(int status);
    static void on_writable(uv_poll_t* poll, int status, int events);

    uv_loop_t* loop_ = nullptr;
    uv_stream_t* stream_ = nullptr;
    int socket_fd_ = -1;
    bool tcp_ = false;  // MSG_MORE is a TCP matter
    core::StreamWriter* writer_ = nullptr;
    void* owner_ = nullptr;
    DoneFn done_ = nullptr;

    OpenFilePtr file_;
    std::vector<BodySegment> body_;
    size_t segment_ = 0;
    bool text_written_ = false;  // the current segment's text is out (or queued)
    uint64_t range_done_ = 0;    // bytes of the current segment's range sent
    bool waiting_writer_ = false;
    uint64_t sent_ = 0;
    uint64_t file_sent_ = 0;

    uv_poll_t poll_{};
    bool poll_open_ = false;
    bool polling_ = false;  // started for UV_WRITABLE
    int poll_fd_ = -1;  // the dup the poll handle watches; closed in the destructor, after the handle
};

}  // namespace portico::proxy
