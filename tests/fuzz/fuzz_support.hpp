// Shared by the fuzz targets: the checks that turn a wrong result into a crash libFuzzer reports,
// and the split points that cut an input into reads the way a socket might.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

// A broken invariant is a finding: print what and where, then abort so libFuzzer keeps the input.
#define FUZZ_CHECK(cond)                                                                       \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            std::fprintf(stderr, "FUZZ_CHECK failed at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
            std::abort();                                                                      \
        }                                                                                      \
    } while (0)

namespace portico::fuzz {

// Every input starts with two control bytes, so seeds stay readable after them: `flags` (each target
// says what its bits choose) and `split` (how the rest is cut into reads, see split_points).
struct Control {
    uint8_t flags = 0;
    uint8_t split = 0;
    std::string_view rest;
};

inline Control take_control(const uint8_t* data, size_t size) {
    Control c;
    if (size > 0) c.flags = data[0];
    if (size > 1) c.split = data[1];
    size_t skip = size < 2 ? size : 2;
    c.rest = std::string_view(reinterpret_cast<const char*>(data) + skip, size - skip);
    return c;
}

// The lengths of the reads `size` bytes arrive in. split 0: one byte per read (the worst case for an
// incremental parser); otherwise pieces of 1..(split & 0x3f)+1 bytes, their lengths drawn from a
// xorshift generator seeded with `split`, so the fuzzer chooses the cut among 255 patterns.
inline std::vector<size_t> split_points(size_t size, uint8_t split) {
    std::vector<size_t> pieces;
    if (split == 0) {
        pieces.assign(size, 1);
        return pieces;
    }
    uint32_t state = 0x9e3779b9u ^ (uint32_t(split) * 0x85ebca6bu);
    size_t span = size_t(split & 0x3f) + 1;
    for (size_t left = size; left > 0;) {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        size_t n = 1 + state % span;
        if (n > left) n = left;
        pieces.push_back(n);
        left -= n;
    }
    return pieces;
}

// `bytes` with everything outside printable ASCII and newline as \xNN, for a report.
inline std::string printable(std::string_view bytes) {
    std::string out;
    for (char c : bytes) {
        unsigned char u = static_cast<unsigned char>(c);
        if ((u >= 0x20 && u < 0x7f && c != '\\') || c == '\n') {
            out.push_back(c);
        } else {
            char hex[5];
            std::snprintf(hex, sizeof hex, "\\x%02x", u);
            out.append(hex);
        }
    }
    return out;
}

}  // namespace portico::fuzz
