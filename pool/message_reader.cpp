// The framer: length words checked from the header alone, whole messages returned as views.
#include "pool/message_reader.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "pool/wire.hpp"

namespace portico::pool {

namespace {
// Past a large message the buffer's memory is handed back, so one big Bind does not pin it for the
// connection's life; below this it is kept to avoid reallocating for every split read.
constexpr size_t kKeepBufferCapacity = 64 * 1024;
// A message cut by a read boundary gets its whole length reserved at once up to this size.
constexpr size_t kReserveWhole = 1024 * 1024;
}  // namespace

std::optional<TypedHeader> peek_typed_header(std::string_view bytes) {
    if (bytes.size() < 5) return std::nullopt;
    return TypedHeader{bytes[0], wire::load_u32(bytes.data() + 1)};
}

ReaderLimits client_reader_limits() {
    ReaderLimits limits;
    limits.max_message = size_t(1) << 30;
    limits.stream_above = 256 * 1024;
    limits.whole_types = "P";
    return limits;
}

ReaderLimits server_reader_limits() {
    ReaderLimits limits;
    limits.max_message = size_t(1) << 31;
    limits.stream_above = 256 * 1024;
    limits.whole_types = "EC";
    return limits;
}

bool next_queued(std::string_view& rest, Message& m) {
    if (rest.size() < 5) return false;
    size_t total = 1 + wire::load_u32(rest.data() + 1);
    m = Message{};
    m.type = rest[0];
    if (rest.size() >= total) {
        m.raw = rest.substr(0, total);
        m.body = rest.substr(5, total - 5);
        rest.remove_prefix(total);
    } else {
        m.raw = rest;
        m.part = true;
        m.last = false;
        rest = {};
    }
    return true;
}

MessageReader::MessageReader(Phase phase, ReaderLimits limits) : phase_(phase), limits_(limits) {}

void MessageReader::feed(std::string_view bytes) {
    if (bytes.empty()) return;
    // Bytes still pending from a previous feed (the caller did not drain) move to the buffer first,
    // so their order is kept and the caller's old buffer may go.
    if (!in_.empty()) take_into_buffer(in_.size());
    in_ = bytes;
}

void MessageReader::take_into_buffer(size_t n) {
    buf_.append(in_.data(), n);
    in_.remove_prefix(n);
}

MessageReader::Status MessageReader::fail(ProtocolErrc code, std::string message) {
    failed_ = true;
    error_ = ProtocolError{code, std::move(message)};
    return Status::error;
}

size_t MessageReader::check_header(const char* header) {
    if (phase_ == Phase::typed) {
        // The length word counts itself; Postgres reads it as a signed int (pq_getmessage).
        int32_t len = int32_t(wire::load_u32(header + 1));
        if (len < 4) {
            fail(ProtocolErrc::invalid_length, fmt::format("invalid message length {} (message type 0x{:02x})", len, uint8_t(header[0])));
            return 0;
        }
        if (size_t(len) > limits_.max_message) {
            fail(ProtocolErrc::message_too_large,
                 fmt::format("message of {} bytes exceeds the limit of {} bytes (message type 0x{:02x})", len,
                             limits_.max_message, uint8_t(header[0])));
            return 0;
        }
        return size_t(len) + 1;
    }
    // A startup packet holds at least its length and a request code (ProcessStartupPacket).
    int32_t len = int32_t(wire::load_u32(header));
    if (len < 8) {
        fail(ProtocolErrc::invalid_length, "invalid length of startup packet");
        return 0;
    }
    if (size_t(len) > limits_.max_startup) {
        // Postgres's words and code (ProcessStartupPacket): often not a Postgres client at all.
        fail(ProtocolErrc::invalid_length, fmt::format("invalid length of startup packet ({} bytes; at most {})", len,
                                                       limits_.max_startup));
        return 0;
    }
    return size_t(len);
}

Message MessageReader::frame(std::string_view whole) const {
    if (phase_ == Phase::typed) return Message{whole[0], whole.substr(5), whole};
    return Message{0, whole.substr(4), whole};
}

MessageReader::Status MessageReader::first_part(std::string_view bytes, size_t total, Message& out) {
    part_type_ = bytes[0];
    part_left_ = total - bytes.size();
    out = Message{part_type_, {}, bytes, true, true, part_left_ == 0};
    return Status::message;
}

MessageReader::Status MessageReader::next_part(Message& out) {
    // Bytes moved to the buffer by a feed() before the caller drained come first, in order.
    if (buf_pos_ < buf_.size()) {
        size_t n = std::min(part_left_, buf_.size() - buf_pos_);
        part_left_ -= n;
        out = Message{part_type_, {}, std::string_view(buf_).substr(buf_pos_, n), true, false, part_left_ == 0};
        buf_pos_ += n;
        return Status::message;
    }
    if (in_.empty()) return Status::need_more;
    size_t n = std::min(part_left_, in_.size());
    part_left_ -= n;
    out = Message{part_type_, {}, in_.substr(0, n), true, false, part_left_ == 0};
    in_.remove_prefix(n);
    return Status::message;
}

MessageReader::Status MessageReader::next(Message& out) {
    if (failed_) return Status::error;
    if (part_left_ > 0) return next_part(out);
    const size_t hsize = header_size();

    if (buf_pos_ == buf_.size() && buf_pos_ != 0) {
        // Everything buffered was returned: the last view into buf_ is no longer needed.
        if (buf_.capacity() > kKeepBufferCapacity) std::string().swap(buf_);
        else buf_.clear();
        buf_pos_ = 0;
    }

    if (buf_.empty()) {
        // Fast path: frame straight from the caller's bytes.
        if (in_.size() >= hsize) {
            size_t total = check_header(in_.data());
            if (total == 0) return Status::error;
            if (streams(total, in_[0])) {
                std::string_view first = in_.substr(0, std::min(total, in_.size()));
                in_.remove_prefix(first.size());
                return first_part(first, total, out);
            }
            if (in_.size() >= total) {
                out = frame(in_.substr(0, total));
                in_.remove_prefix(total);
                return Status::message;
            }
        }
        // A partial message (its header already checked when complete): keep it.
        take_into_buffer(in_.size());
        return Status::need_more;
    }

    // A message was cut by a read boundary: complete it in buf_, taking only what it needs from in_
    // so the messages after it can still be framed without copying.
    size_t have = buf_.size() - buf_pos_;
    if (have < hsize) {
        size_t n = std::min(hsize - have, in_.size());
        take_into_buffer(n);
        have += n;
        if (have < hsize) return Status::need_more;
    }
    size_t total = check_header(buf_.data() + buf_pos_);
    if (total == 0) return Status::error;
    if (streams(total, buf_[buf_pos_])) {
        // What is buffered of it (the header and maybe some body) is the first part. The buffer may
        // hold more than this message when feed() came before the caller drained: only `total` bytes
        // are its own (found by fuzz_pg_frontend: the first part took the messages after it, and
        // part_left_ wrapped around). The view stays valid until the next call.
        size_t n = std::min(have, total);
        std::string_view first = std::string_view(buf_).substr(buf_pos_, n);
        buf_pos_ += n;
        return first_part(first, total, out);
    }
    if (have < total) {
        size_t n = std::min(total - have, in_.size());
        // One allocation for the whole message rather than growth by doubling — up to a bound: the
        // length word is only a claim, and a 5-byte header saying 1 GiB would otherwise have that
        // reserved at once, before a byte of it arrived (found by fuzz_pg_backend, whose inputs ran
        // at 100/s on such allocations). Above the bound the buffer grows with what arrives.
        buf_.reserve(buf_pos_ + (total <= kReserveWhole ? total : have + n));
        take_into_buffer(n);
        have += n;
        if (have < total) return Status::need_more;
    }
    out = frame(std::string_view(buf_).substr(buf_pos_, total));
    buf_pos_ += total;
    return Status::message;
}

}  // namespace portico::pool
