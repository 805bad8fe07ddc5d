// See byte_range.hpp.
#include "proxy/byte_range.hpp"

#include <algorithm>
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

namespace {

enum class Spec { range, unsatisfiable, invalid };

// One byte-range-spec or suffix-range (§14.1.2), clamped to `length`.
Spec parse_spec(std::string_view spec, uint64_t length, ByteRange& out) {
    size_t dash = spec.find('-');
    if (dash == std::string_view::npos) return Spec::invalid;
    std::string_view first_text = trim(spec.substr(0, dash));
    std::string_view last_text = trim(spec.substr(dash + 1));
    if (first_text.empty()) {
        // suffix-range "-N": the last N bytes.
        auto suffix = parse_digits(last_text);
        if (!suffix) return Spec::invalid;
        if (*suffix == 0 || length == 0) return Spec::unsatisfiable;
        out.first = *suffix >= length ? 0 : length - *suffix;
        out.last = length - 1;
        return Spec::range;
    }
    auto first = parse_digits(first_text);
    if (!first) return Spec::invalid;
    std::optional<uint64_t> last;
    if (!last_text.empty()) {
        last = parse_digits(last_text);
        if (!last || *last < *first) return Spec::invalid;
    }
    if (*first >= length) return Spec::unsatisfiable;
    out.first = *first;
    out.last = last && *last < length ? *last : length - 1;
    return Spec::range;
}

}  // namespace

RangeAnswer parse_ranges(std::string_view range, uint64_t length, std::vector<ByteRange>& out) {
    out.clear();
    range = trim(range);
    size_t eq = range.find('=');
    if (eq == std::string_view::npos || !ieq(trim(range.substr(0, eq)), "bytes")) return RangeAnswer::full;
    std::string_view list = range.substr(eq + 1);
    size_t specs = 0;
    while (true) {
        size_t comma = list.find(',');
        std::string_view spec = trim(list.substr(0, comma));
        if (!spec.empty()) {  // empty list elements are allowed (§5.6.1)
            if (++specs > kMaxRangeSpecs) return RangeAnswer::full;
            ByteRange r;
            switch (parse_spec(spec, length, r)) {
                case Spec::invalid:
                    out.clear();
                    return RangeAnswer::full;
                case Spec::unsatisfiable:
                    break;
                case Spec::range:
                    out.push_back(r);
                    break;
            }
        }
        if (comma == std::string_view::npos) break;
        list.remove_prefix(comma + 1);
    }
    if (specs == 0) return RangeAnswer::full;
    if (out.empty()) return RangeAnswer::unsatisfiable;
    std::sort(out.begin(), out.end(), [](const ByteRange& a, const ByteRange& b) { return a.first < b.first; });
    size_t kept = 0;
    for (size_t i = 1; i < out.size(); ++i) {
        if (out[i].first <= out[kept].last + 1) {
            out[kept].last = std::max(out[kept].last, out[i].last);
        } else {
            out[++kept] = out[i];
        }
    }
    out.resize(kept + 1);
    if (out.size() > kMaxRanges) {
        out.clear();
        return RangeAnswer::full;
    }
    return RangeAnswer::partial;
}

RangeAnswer choose_range(std::string_view range, uint64_t length, ByteRange& out) {
    // The cache serves one range: a list of several gets the whole body.
    size_t eq = range.find('=');
    if (eq != std::string_view::npos && range.find(',', eq) != std::string_view::npos) return RangeAnswer::full;
    std::vector<ByteRange> ranges;
    RangeAnswer answer = parse_ranges(range, length, ranges);
    if (answer == RangeAnswer::partial) out = ranges.front();
    return answer;
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
