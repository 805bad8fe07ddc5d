// Writes to a libuv stream without copying in the common case: uv_try_write first, and only the
// bytes the kernel did not take are copied into an owned request. Counts queued bytes so the
// owner can apply back-pressure (stop reading the other side above a high-water mark).
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <uv.h>

namespace portico::core {

class StreamWriter {
public:
    // Called from a write callback: `status` < 0 reports a failed write (the owner closes);
    // otherwise the queue shrank and `queued()` tells by how much.
    using DrainFn = void (*)(void* owner, int status);

    StreamWriter() = default;
    StreamWriter(const StreamWriter&) = delete;
    StreamWriter& operator=(const StreamWriter&) = delete;

    void attach(uv_stream_t* stream, void* owner, DrainFn on_drain) {
        stream_ = stream;
        owner_ = owner;
        on_drain_ = on_drain;
    }

    // Writes the pieces in order with one system call where possible. Returns a libuv error
    // (< 0) when the stream refused them.
    int write(std::string_view a, std::string_view b = {}, std::string_view c = {}, std::string_view d = {});

    size_t queued() const { return queued_; }
    bool idle() const { return queued_ == 0; }

private:
    struct Request {
        uv_write_t req;
        StreamWriter* writer;
        std::string data;
    };
    static void on_write(uv_write_t* req, int status);

    uv_stream_t* stream_ = nullptr;
    void* owner_ = nullptr;
    DrainFn on_drain_ = nullptr;
    size_t queued_ = 0;
};

}  // namespace portico::core
