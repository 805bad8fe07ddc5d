// One read buffer per thread for every libuv stream on that thread's loop: a read callback consumes
// (or copies) its bytes before the loop reads again, so idle connections hold no buffer at all.
#pragma once

#include <cstddef>
#include <uv.h>

namespace portico::core {

constexpr size_t kReadBufferSize = 64 * 1024;

inline void thread_read_buffer(uv_handle_t*, size_t, uv_buf_t* buf) {
    thread_local char storage[kReadBufferSize];
    buf->base = storage;
    buf->len = sizeof storage;
}

}  // namespace portico::core
