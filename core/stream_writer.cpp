// See stream_writer.hpp: try the kernel first, copy only the remainder.
#include "core/stream_writer.hpp"

namespace portico::core {

int StreamWriter::write(std::string_view a, std::string_view b, std::string_view c, std::string_view d) {
    std::string_view parts[4] = {a, b, c, d};
    size_t total = a.size() + b.size() + c.size() + d.size();
    if (total == 0) return 0;
    size_t written = 0;
    if (queued_ == 0) {
        // Only when nothing is queued, or bytes would be reordered.
        uv_buf_t bufs[4];
        unsigned n = 0;
        for (auto part : parts) {
            if (!part.empty()) bufs[n++] = uv_buf_init(const_cast<char*>(part.data()), part.size());
        }
        int r = uv_try_write(stream_, bufs, n);
        if (r >= 0) {
            written = static_cast<size_t>(r);
        } else if (r != UV_EAGAIN) {
            return r;
        }
        if (written == total) return 0;
    }
    auto* request = new Request{};
    request->writer = this;
    request->data.reserve(total - written);
    size_t skip = written;
    for (auto part : parts) {
        if (skip >= part.size()) {
            skip -= part.size();
            continue;
        }
        request->data.append(part.substr(skip));
        skip = 0;
    }
    uv_buf_t buf = uv_buf_init(request->data.data(), request->data.size());
    int r = uv_write(&request->req, stream_, &buf, 1, &StreamWriter::on_write);
    if (r < 0) {
        delete request;
        return r;
    }
    queued_ += request->data.size();
    return 0;
}

void StreamWriter::on_write(uv_write_t* req, int status) {
    auto* request = reinterpret_cast<Request*>(req);
    StreamWriter* self = request->writer;
    self->queued_ -= request->data.size();
    delete request;
    // UV_ECANCELED arrives while the stream closes: the owner is already going away.
    if (status == UV_ECANCELED) return;
    if (self->on_drain_ != nullptr) self->on_drain_(self->owner_, status);
}

}  // namespace portico::core
