// Range requests answered from a complete representation (RFC 9110 §14). The cache answers one
// byte range (several get the whole stored body: a server may ignore Range, §14.2); static files
// answer several too, as multipart/byteranges (§14.6).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

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

// Every range of a "bytes=" Range value for a representation of `length` bytes (§14.1.2): the
// satisfiable ones clamped to the length, sorted and coalesced where they overlap or touch (a
// server may coalesce, §14.2), into `out`. A syntax error anywhere, another unit, more than
// kMaxRangeSpecs specs, or more than kMaxRanges ranges left after coalescing: full (Range ignored,
// §14.2 — many small ranges are a known denial of service). None satisfiable: unsatisfiable.
constexpr size_t kMaxRangeSpecs = 100;
constexpr size_t kMaxRanges = 16;
RangeAnswer parse_ranges(std::string_view range, uint64_t length, std::vector<ByteRange>& out);

// If-Range (§13.1.5): the Range applies only when the validator matches the stored one — an
// entity-tag by strong comparison (a weak stored or given tag never matches), or an HTTP-date
// equal to a strong Last-Modified (taken here as: exactly equal to the stored Last-Modified).
bool if_range_allows(std::string_view if_range, std::string_view stored_etag, std::string_view stored_last_modified);

}  // namespace portico::proxy
