// See byte_range.hpp.
#include "proxy/byte_range.hpp"

#include <charconv>
#include <optional>

namespace portico::proxy {

namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

std::optional<uint64_t> parse_digits(std::string_view s) {
    if (s.empty() || s.size() > 19) return std::nullopt;
    uint64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
    return v;
}

bool ieq(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
        char x = a[i], y = b[i];
        if (x >= 'A' && x <= 'Z') x = static_cast<char>(x + 32);
        if (y >= 'A' && y <= 'Z') y = static_cast<char>(y + 32);
        if (x != y) return false;
    }
    return true;
}

}  // namespace

RangeAnswer choose_range(std::string_view range, uint64_t length, ByteRange& out) {
    range = trim(range);
    size_t eq = range.find('=');
    if (eq == std::string_view::npos || !ieq(trim(range.substr(0, eq)), "bytes")) return RangeAnswer::full;
    std::string_view spec = trim(range.substr(eq + 1));
    if (spec.find(',') != std::string_view::npos) return RangeAnswer::full;  // several ranges: whole body
    size_t dash = spec.find('-');
    if (dash == std::string_view::npos) return RangeAnswer::full;
    std::string_view first_text = trim(spec.substr(0, dash));
    std::string_view last_text = trim(spec.substr(dash + 1));
    if (first_text.empty()) {
        // suffix-range "-N": the last N bytes.
        auto suffix = parse_digits(last_text);
        if (!suffix) return RangeAnswer::full;
        if (*suffix == 0 || length == 0) return RangeAnswer::unsatisfiable;
        out.first = *suffix >= length ? 0 : length - *suffix;
        out.last = length - 1;
        return RangeAnswer::partial;
    }
    auto first = parse_digits(first_text);
    if (!first) return RangeAnswer::full;
    std::optional<uint64_t> last;
    if (!last_text.empty()) {
        last = parse_digits(last_text);
        if (!last || *last < *first) return RangeAnswer::full;  // invalid: ignore Range
    }
    if (*first >= length) return RangeAnswer::unsatisfiable;
    out.first = *first;
    out.last = last && *last < length ? *last : length - 1;
    return RangeAnswer::partial;
}

bool if_range_allows(std::string_view if_range, std::string_view stored_etag, std::string_view stored_last_modified) {
    if_range = trim(if_range);
    if (if_range.empty()) return true;
    if (if_range.front() == '"') {
        // Strong comparison: both strong and byte-identical.
        std::string_view etag = trim(stored_etag);
        return !etag.empty() && etag.front() == '"' && etag == if_range;
    }
    if (if_range.size() > 2 && if_range[0] == 'W' && if_range[1] == '/') return false;  // weak never matches
    return !stored_last_modified.empty() && trim(stored_last_modified) == if_range;
}

}  // namespace portico::proxy
