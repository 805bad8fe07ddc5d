// Hand-made wire bytes for the pool codec tests, built independently of pool/builders (so a builder
// bug cannot hide a matching parser bug).
#pragma once

#include <cstdint>
#include <deque>
#include <initializer_list>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "pool/message_reader.hpp"

namespace portico::pool {
// So BOOST_TEST(parse_x(…)) prints the parser's error when it fails.
template <class T>
std::ostream& boost_test_print_type(std::ostream& os, const Parsed<T>& p) {
    return p ? os << "ok" : os << "error " << sqlstate_of(p.error) << ": " << p.error.message;
}
}  // namespace portico::pool

namespace portico::pool::test {

inline std::string be32(uint32_t v) { return {char(v >> 24), char(v >> 16), char(v >> 8), char(v)}; }
inline std::string be16(uint16_t v) { return {char(v >> 8), char(v)}; }
inline std::string cstr(std::string_view s) { return std::string(s) + '\0'; }

// Parsers return views into the body they are given; a test that builds the body in a temporary
// keeps a copy alive here for the whole test program.
inline std::string_view held(std::string_view bytes) {
    static std::deque<std::string> storage;
    return storage.emplace_back(bytes);
}

// A typed message: type, length (4 + body), body.
inline std::string typed(char type, std::string_view body) {
    return std::string(1, type) + be32(uint32_t(body.size() + 4)) + std::string(body);
}
// A startup-phase packet: length (4 + body), body.
inline std::string untyped(std::string_view body) { return be32(uint32_t(body.size() + 4)) + std::string(body); }

// A copy of one framed message (views die with the reader's next call).
struct Copied {
    char type;
    std::string body;
    std::string raw;
    bool operator==(const Copied&) const = default;
};

// Drains the reader; stops at need_more or error (the last status is returned in `status`).
inline std::vector<Copied> drain(MessageReader& r, MessageReader::Status* status = nullptr) {
    std::vector<Copied> out;
    Message m;
    for (;;) {
        MessageReader::Status s = r.next(m);
        if (s != MessageReader::Status::message) {
            if (status) *status = s;
            return out;
        }
        out.push_back({m.type, std::string(m.body), std::string(m.raw)});
    }
}

// The body of the only message in `raw` (as framed by a fresh reader), for parser tests.
inline std::string body_of(std::string_view raw, Phase phase = Phase::typed) {
    MessageReader r(phase);
    r.feed(raw);
    Message m;
    if (r.next(m) != MessageReader::Status::message) return "<not a message>";
    return std::string(m.body);
}

}  // namespace portico::pool::test
