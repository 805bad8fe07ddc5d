// Sending file bodies with sendfile(2); see file_sender.hpp.
#include "proxy/file_sender.hpp"

#include <fcntl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace portico::proxy {

namespace {
// One sendfile call moves at most this much (nginx's sendfile_max_chunk default), and one loop
// turn at most kTurnBytes before the sender yields (waits for writability, which is immediate on a
// draining socket), so one client fetching a large file cannot starve the others on this worker.
// A call asking for more than the socket has room for costs nothing extra: it takes what fits.
constexpr size_t kChunk = 2 * 1024 * 1024;
constexpr size_t kTurnBytes = 2 * 1024 * 1024;
// Heads are held for the file bytes (MSG_MORE) only before small ranges, where the extra segment
// is a large share of the response: measured, a 1 KiB file costs 13 µs instead of 17 µs of server
// CPU with it. Above that it is a trade, measured again (2026-12-02, 256 KiB and 1 MiB, wrk -c64 on
// loopback, BBR): with the head held, the reader's CPU per response fell 15-40%, requests/s rose
// 35-75% (p50 halved) and the CPU of both cores per response fell, but the server's own CPU rose
// 10-25%. The reader's profile shows where the work went: with the head on its own, ACK handling
// (tcp_ack, __tcp_transmit_skb, wake-ups) in the reader's context clocks out part of the file and
// is charged to the reader; with it held, the sender transmits it (and does the loopback receive
// work) inside its own sendfile. (Probably the lone small PSH segment puts the reader into
// quick-ack mode; not proven.)
// Kept as nginx does it (head on its own, tcp_nopush off) while the server's CPU per request is
// the figure compared (benchmarks/route_policies.sh); for a sidecar whose reader shares the host
// (nginx in front) the held head is the better deal, should the machine's total become the measure.
constexpr uint64_t kCoalesceMax = 64 * 1024;
}  // namespace

FileSender::~FileSender() {
    if (poll_fd_ >= 0) ::close(poll_fd_);
}

void FileSender::attach(uv_loop_t* loop, uv_stream_t* stream, core::StreamWriter* writer, void* owner, DoneFn done) {
    loop_ = loop;
    writer_ = writer;
    owner_ = owner;
    done_ = done;
    stream_ = stream;  // its descriptor is read at start(): there is none before accept
}

void FileSender::start(OpenFilePtr file, std::vector<BodySegment> body) {
    if (socket_fd_ < 0) {
        uv_fileno(reinterpret_cast<uv_handle_t*>(stream_), &socket_fd_);
        tcp_ = stream_->type == UV_TCP;
    }
    file_ = std::move(file);
    body_ = std::move(body);
    segment_ = 0;
    text_written_ = false;
    range_done_ = 0;
    waiting_writer_ = false;
    sent_ = file_sent_ = 0;
    pump();
}

void FileSender::writer_drained() {
    if (!waiting_writer_ || !writer_->idle()) return;
    waiting_writer_ = false;
    pump();
}

void FileSender::pump() {
    size_t budget = kTurnBytes;
    while (segment_ < body_.size()) {
        BodySegment& segment = body_[segment_];
        if (!text_written_) {
            text_written_ = true;
            if (!segment.text.empty()) {
                if (int r = write_text(segment.text, /*more=*/segment.length > 0 && segment.length <= kCoalesceMax);
                    r < 0) {
                    finish(r);
                    return;
                }
                sent_ += segment.text.size();
            }
        }
        if (range_done_ < segment.length) {
            if (!writer_->idle()) {
                // Text still queued in the writer must reach the socket before file bytes do.
                stop_polling();
                waiting_writer_ = true;
                return;
            }
            while (range_done_ < segment.length) {
                size_t want = static_cast<size_t>(std::min<uint64_t>(segment.length - range_done_, kChunk));
                off_t offset = static_cast<off_t>(segment.offset + range_done_);
                ssize_t n = ::sendfile(socket_fd_, file_->file.fd(), &offset, want);
                if (n > 0) {
                    auto moved = static_cast<size_t>(n);
                    range_done_ += moved;
                    sent_ += moved;
                    file_sent_ += moved;
                    if (moved < want || moved >= budget) {
                        // The socket is full (or this turn's share is used): continue when writable.
                        if (range_done_ < segment.length || segment_ + 1 < body_.size()) {
                            wait_writable();
                            return;
                        }
                        break;
                    }
                    budget -= moved;
                    continue;
                }
                if (n == 0) {
                    finish(UV_EIO);  // the file is shorter than its stat said: truncated meanwhile
                    return;
                }
                if (errno == EINTR) continue;
                if (errno == EAGAIN) {
                    wait_writable();
                    return;
                }
                finish(-errno);
                return;
            }
        }
        ++segment_;
        text_written_ = false;
        range_done_ = 0;
    }
    finish(0);
}

// Text before file bytes on an idle TCP socket goes with MSG_MORE: the kernel holds it for the
// sendfile that follows, so a small file and its head leave in one segment instead of two (with
// TCP_NODELAY each write would be its own packet, and loopback pays for every one in softirq
// time). Whatever the socket does not take at once goes through the writer, in order.
int FileSender::write_text(std::string_view text, bool more) {
    if (!more || !tcp_ || !writer_->idle()) return writer_->write(text);
    ssize_t n = ::send(socket_fd_, text.data(), text.size(), MSG_MORE | MSG_NOSIGNAL);
    if (n < 0) {
        if (errno != EAGAIN && errno != EINTR) return -errno;
        n = 0;
    }
    auto done = static_cast<size_t>(n);
    return done == text.size() ? 0 : writer_->write(text.substr(done));
}

void FileSender::stop_polling() {
    if (!polling_) return;
    polling_ = false;
    uv_poll_stop(&poll_);
}

void FileSender::wait_writable() {
    if (!poll_open_) {
        if (poll_fd_ < 0) poll_fd_ = fcntl(socket_fd_, F_DUPFD_CLOEXEC, 0);
        if (poll_fd_ < 0 || uv_poll_init(loop_, &poll_, poll_fd_) != 0) {
            finish(UV_EMFILE);
            return;
        }
        poll_.data = this;
        poll_open_ = true;
    }
    // Left on between writable events of one body (stopped when it ends or waits for the writer):
    // no epoll_ctl pair per wait.
    if (polling_) return;
    if (int r = uv_poll_start(&poll_, UV_WRITABLE, &FileSender::on_writable); r < 0) {
        finish(r);
        return;
    }
    polling_ = true;
}

void FileSender::on_writable(uv_poll_t* poll, int status, int /*events*/) {
    auto* self = static_cast<FileSender*>(poll->data);
    if (!self->active()) {
        self->stop_polling();
        return;
    }
    if (status < 0) {
        self->finish(status);
        return;
    }
    self->pump();
}

void FileSender::finish(int status) {
    // Clean before telling the owner: done_ may start the next response on this sender.
    stop_polling();
    file_.reset();
    body_.clear();
    waiting_writer_ = false;
    done_(owner_, status);
}

bool FileSender::close(uv_close_cb on_close, void* close_data) {
    file_.reset();
    body_.clear();
    waiting_writer_ = false;
    if (!poll_open_) return false;
    poll_open_ = false;
    polling_ = false;
    poll_.data = close_data;
    uv_close(reinterpret_cast<uv_handle_t*>(&poll_), on_close);
    return true;
}

}  // namespace portico::proxy
