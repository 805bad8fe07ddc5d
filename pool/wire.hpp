// Big-endian integers and NUL-terminated strings on the wire: a bounds-checked cursor for parsing
// and appenders for building. Internal to pool/ (the message parsers and builders share it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace portico::pool::wire {

inline uint32_t load_u32(const char* p) {
    auto b = reinterpret_cast<const unsigned char*>(p);
    return uint32_t(b[0]) << 24 | uint32_t(b[1]) << 16 | uint32_t(b[2]) << 8 | uint32_t(b[3]);
}
inline uint16_t load_u16(const char* p) {
    auto b = reinterpret_cast<const unsigned char*>(p);
    return uint16_t(b[0] << 8 | b[1]);
}

// Reads a message body front to back. Every read checks the bounds; a failed read sets `bad` and
// returns an empty value, so a parser reads all fields and checks ok() once at the end.
class Cursor {
public:
    explicit Cursor(std::string_view body) : data_(body) {}

    size_t offset() const { return pos_; }
    size_t remaining() const { return data_.size() - pos_; }
    bool at_end() const { return pos_ == data_.size(); }
    bool ok() const { return !bad_; }
    // All fields read and nothing left over (Postgres's pq_getmsgend).
    bool finished() const { return !bad_ && at_end(); }

    uint8_t u8() {
        if (!need(1)) return 0;
        return uint8_t(data_[pos_++]);
    }
    int16_t i16() {
        if (!need(2)) return 0;
        uint16_t v = load_u16(data_.data() + pos_);
        pos_ += 2;
        return int16_t(v);
    }
    int32_t i32() { return int32_t(u32()); }
    uint32_t u32() {
        if (!need(4)) return 0;
        uint32_t v = load_u32(data_.data() + pos_);
        pos_ += 4;
        return v;
    }
    // A NUL-terminated string, without its terminator.
    std::string_view cstring() {
        if (bad_) return {};
        size_t end = data_.find('\0', pos_);
        if (end == std::string_view::npos) {
            bad_ = true;
            return {};
        }
        std::string_view s = data_.substr(pos_, end - pos_);
        pos_ = end + 1;
        return s;
    }
    std::string_view bytes(size_t n) {
        if (!need(n)) return {};
        std::string_view s = data_.substr(pos_, n);
        pos_ += n;
        return s;
    }
    std::string_view rest() { return bytes(remaining()); }

private:
    bool need(size_t n) {
        if (bad_ || remaining() < n) {
            bad_ = true;
            return false;
        }
        return true;
    }

    std::string_view data_;
    size_t pos_ = 0;
    bool bad_ = false;
};

inline void put_u8(std::string& out, uint8_t v) { out.push_back(char(v)); }
inline void put_u16(std::string& out, uint16_t v) {
    char b[2] = {char(v >> 8), char(v)};
    out.append(b, 2);
}
inline void put_u32(std::string& out, uint32_t v) {
    char b[4] = {char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
    out.append(b, 4);
}
inline void put_i32(std::string& out, int32_t v) { put_u32(out, uint32_t(v)); }
inline void put_i16(std::string& out, int16_t v) { put_u16(out, uint16_t(v)); }
// The string and its NUL. A NUL inside `s` would end it early on the peer's side: callers pass
// names and texts that came from the protocol or from Portico, which never hold one.
inline void put_cstring(std::string& out, std::string_view s) {
    out.append(s);
    out.push_back('\0');
}

// Opens a message: the type byte (none for startup packets, type 0) and a length placeholder.
// Returns where the length goes, for finish_message.
inline size_t begin_message(std::string& out, char type) {
    if (type != 0) out.push_back(type);
    size_t at = out.size();
    out.append(4, '\0');
    return at;
}
// Writes the length word: everything from the length word to the end of `out`.
inline void finish_message(std::string& out, size_t length_at) {
    uint32_t len = uint32_t(out.size() - length_at);
    char b[4] = {char(len >> 24), char(len >> 16), char(len >> 8), char(len)};
    std::memcpy(out.data() + length_at, b, 4);
}

}  // namespace portico::pool::wire
