// The access log: one line per request (text or JSON). Each worker buffers its lines and writes
// them in batches (every 250 ms or 32 KiB) to the sink shared by all workers, so logging costs a
// memcpy on the request path rather than a syscall.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "conf/schema.hpp"

namespace portico::proxy {

// The destination file; reopened on SIGUSR1 and when log.access_log changes on reload.
class AccessLogSink {
public:
    // Returns an error message, or empty on success. "off" disables, "stdout"/"stderr" write there.
    std::string open(const std::string& target);
    std::string reopen();
    void write(std::string_view data);

private:
    struct File {
        int fd = -1;
        bool owned = false;
        ~File();
    };
    std::mutex mutex_;
    std::shared_ptr<File> file_;
    std::string target_;
};

struct AccessRecord {
    std::string_view client_ip;
    std::string_view request_line;
    int status = 0;
    uint64_t bytes_sent = 0;
    double duration_ms = 0;
    double upstream_ms = -1;  // < 0: no upstream involved
    std::string_view request_id;
    std::string_view route;
};

class AccessLogBuffer {
public:
    explicit AccessLogBuffer(AccessLogSink& sink) : sink_(sink) {}
    void append(const AccessRecord& record, bool json);
    void flush();
    bool empty() const { return buffer_.empty(); }

private:
    AccessLogSink& sink_;
    std::string buffer_;
    long cached_second_ = -1;
    std::string cached_time_;
};

}  // namespace portico::proxy
