// Access log formatting and batching; see access_log.hpp.
#include "proxy/access_log.hpp"

#include <cerrno>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include "core/log.hpp"

namespace portico::proxy {

AccessLogSink::File::~File() {
    if (owned && fd >= 0) ::close(fd);
}

std::string AccessLogSink::open(const std::string& target) {
    auto file = std::make_shared<File>();
    if (target == "off" || target.empty()) {
        file->fd = -1;
    } else if (target == "stdout") {
        file->fd = STDOUT_FILENO;
    } else if (target == "stderr") {
        file->fd = STDERR_FILENO;
    } else {
        int fd = ::open(target.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
        if (fd < 0) return fmt::format("cannot open access log {}: {}", target, std::strerror(errno));
        file->fd = fd;
        file->owned = true;
    }
    std::lock_guard lock(mutex_);
    file_ = std::move(file);
    target_ = target;
    return {};
}

std::string AccessLogSink::reopen() {
    std::string target;
    {
        std::lock_guard lock(mutex_);
        target = target_;
    }
    return open(target);
}

void AccessLogSink::write(std::string_view data) {
    std::shared_ptr<File> file;
    {
        std::lock_guard lock(mutex_);
        file = file_;
    }
    if (!file || file->fd < 0) return;
    while (!data.empty()) {
        ssize_t n = ::write(file->fd, data.data(), data.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            return;  // a full disk must not stop the proxy
        }
        data.remove_prefix(static_cast<size_t>(n));
    }
}

void AccessLogBuffer::append(const AccessRecord& r, bool json) {
    timespec now{};
    clock_gettime(CLOCK_REALTIME, &now);
    if (now.tv_sec != cached_second_) {
        tm parts{};
        gmtime_r(&now.tv_sec, &parts);
        char text[32];
        size_t n = strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &parts);
        cached_time_.assign(text, n);
        cached_second_ = now.tv_sec;
    }
    int millis = static_cast<int>(now.tv_nsec / 1000000);
    if (json) {
        buffer_ += "{\"ts\":\"";
        buffer_ += cached_time_;
        fmt::format_to(std::back_inserter(buffer_), ".{:03d}Z\",\"client\":\"", millis);
        core::append_json_escaped(buffer_, r.client_ip);
        buffer_ += "\",\"request\":\"";
        core::append_json_escaped(buffer_, r.request_line);
        fmt::format_to(std::back_inserter(buffer_), "\",\"status\":{},\"bytes\":{},\"duration_ms\":{:.3f}",
                       r.status, r.bytes_sent, r.duration_ms);
        if (r.upstream_ms >= 0) fmt::format_to(std::back_inserter(buffer_), ",\"upstream_ms\":{:.3f}", r.upstream_ms);
        buffer_ += ",\"request_id\":\"";
        core::append_json_escaped(buffer_, r.request_id);
        buffer_ += "\",\"route\":\"";
        core::append_json_escaped(buffer_, r.route);
        buffer_ += "\"}\n";
    } else {
        buffer_ += cached_time_;
        fmt::format_to(std::back_inserter(buffer_), ".{:03d}Z {} \"", millis, r.client_ip);
        // The request line is client-controlled: escape it so a line can never be forged.
        core::append_json_escaped(buffer_, r.request_line);
        fmt::format_to(std::back_inserter(buffer_), "\" {} {} {:.3f}ms", r.status, r.bytes_sent, r.duration_ms);
        if (r.upstream_ms >= 0) fmt::format_to(std::back_inserter(buffer_), " upstream={:.3f}ms", r.upstream_ms);
        buffer_ += " rid=";
        buffer_ += r.request_id;
        buffer_ += " route=";
        buffer_ += r.route;
        buffer_ += '\n';
    }
    if (buffer_.size() >= 32 * 1024) flush();
}

void AccessLogBuffer::flush() {
    if (buffer_.empty()) return;
    sink_.write(buffer_);
    buffer_.clear();
}

}  // namespace portico::proxy
