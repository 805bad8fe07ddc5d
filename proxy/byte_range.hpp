// Range requests answered from a complete stored representation (RFC 9110 §14): one byte range
// per answer; a request for several ranges gets the whole representation (a server may ignore
// Range, §14.2), which is simpler and safer than multipart/byteranges for the cache's clients.
#pragma once

#include <cstdint>
#include <string_view>

namespace portico::proxy {

struct ByteRange {
    uint64_t first = 0;
    uint64_t last = 0;  // inclusive
    uint64_t size() const { return last - first + 1; }
};

enum class RangeAnswer {
    full,            // no usable Range: 200 with the whole body
    partial,         // 206 with `range`
    unsatisfiable,   // 416 with Content-Range: bytes */length
};

// `range` is the request's Range value (empty when absent) for a representation of `length`
// bytes. Only the "bytes" unit is understood (others: full); syntax errors: full (§14.2).
RangeAnswer choose_range(std::string_view range, uint64_t length, ByteRange& out);

// If-Range (§13.1.5): the Range applies only when the validator matches the stored one — an
// entity-tag by strong comparison (a weak stored or given tag never matches), or an HTTP-date
// equal to a strong Last-Modified (taken here as: exactly equal to the stored Last-Modified).
bool if_range_allows(std::string_view if_range, std::string_view stored_etag, std::string_view stored_last_modified);

}  // namespace portico::proxy
