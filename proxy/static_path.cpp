// Request path → file path under a static root; see static_path.hpp.
#include "proxy/static_path.hpp"

#include <algorithm>
#include <vector>

namespace portico::proxy {

namespace {

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// Percent-decoding once (a double-encoded "%252e" stays the literal "%2e"); false on a broken
// escape or a NUL byte, which no file name holds.
bool percent_decode(std::string_view in, std::string& out) {
    out.clear();
    out.reserve(in.size());
    for (size_t i = 0; i < in.size(); ++i) {
        char c = in[i];
        if (c == '%') {
            if (i + 2 >= in.size()) return false;
            int hi = hex_value(in[i + 1]);
            int lo = hex_value(in[i + 2]);
            if (hi < 0 || lo < 0) return false;
            c = static_cast<char>(hi * 16 + lo);
            i += 2;
        }
        if (c == '\0') return false;
        out.push_back(c);
    }
    return true;
}

// The literal prefix up to its last '/': "/static/*" → "/static", "/favicon.ico" → "", "*" → "".
std::string_view route_prefix(std::string_view pattern) {
    std::string_view literal = pattern.substr(0, pattern.find('*'));
    size_t slash = literal.rfind('/');
    return slash == std::string_view::npos ? std::string_view() : literal.substr(0, slash);
}

// RFC 3986 §3.3 pchar minus '%': unreserved, sub-delims, ':' and '@' stand for themselves in a
// path segment; everything else (including '%', '\\', '?', '#', controls, bytes ≥ 0x80) is encoded.
bool segment_safe(unsigned char c) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
    return std::string_view("-._~!$&'()*+,;=:@").find(static_cast<char>(c)) != std::string_view::npos;
}

// Bytes a field value must not carry raw (controls, space, DEL, ≥ 0x80), plus '\\' when `backslash`.
bool needs_escape(unsigned char c, bool backslash) { return c <= 0x20 || c >= 0x7f || (backslash && c == '\\'); }

void append_escaped(std::string& out, unsigned char c) {
    constexpr char kHex[] = "0123456789ABCDEF";
    out.push_back('%');
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
}

}  // namespace

std::optional<StaticPath> static_path(std::string_view path, std::string_view pattern) {
    std::string_view prefix = route_prefix(pattern);
    if (path.substr(0, prefix.size()) != prefix) return std::nullopt;
    std::string_view rest = path.substr(prefix.size());
    if (!rest.empty() && rest.front() != '/') return std::nullopt;

    std::string decoded;
    if (!percent_decode(rest, decoded)) return std::nullopt;
    std::vector<std::string_view> segments;
    std::string_view text = decoded;
    bool directory = true;  // nothing yet, or ended in "/", "." or "..": a directory is meant
    for (size_t start = 0; start <= text.size();) {
        size_t end = std::min(text.find('/', start), text.size());
        std::string_view segment = text.substr(start, end - start);
        if (segment == "..") {
            if (segments.empty()) return std::nullopt;  // above the root
            segments.pop_back();
            directory = true;
        } else if (segment.empty() || segment == ".") {
            directory = true;
        } else {
            segments.push_back(segment);
            directory = false;
        }
        start = end + 1;
    }
    StaticPath out;
    out.directory = directory;
    for (size_t i = 0; i < segments.size(); ++i) {
        if (i > 0) out.relative.push_back('/');
        out.relative.append(segments[i]);
    }
    return out;
}

std::string directory_location(std::string_view pattern, std::string_view relative, std::string_view query) {
    std::string out;
    out.reserve(pattern.size() + relative.size() + query.size() + 4);
    // Segment by segment, empty ones dropped, so no "//" can appear however the parts were written.
    // The prefix is the operator's pattern, which the raw request path matched byte for byte: it is
    // kept as written (its escapes are already escapes), only bytes no field may carry encoded.
    auto each_segment = [&](std::string_view text, auto&& append) {
        for (size_t start = 0; start < text.size();) {
            size_t end = std::min(text.find('/', start), text.size());
            if (end > start) {
                out.push_back('/');
                append(text.substr(start, end - start));
            }
            start = end + 1;
        }
    };
    each_segment(route_prefix(pattern), [&](std::string_view segment) {
        for (char c : segment) {
            if (needs_escape(static_cast<unsigned char>(c), /*backslash=*/true)) {
                append_escaped(out, static_cast<unsigned char>(c));
            } else {
                out.push_back(c);
            }
        }
    });
    each_segment(relative, [&](std::string_view segment) {
        for (char c : segment) {
            if (segment_safe(static_cast<unsigned char>(c))) {
                out.push_back(c);
            } else {
                append_escaped(out, static_cast<unsigned char>(c));
            }
        }
    });
    out.push_back('/');
    if (!query.empty()) {
        out.push_back('?');
        for (char c : query) {
            if (needs_escape(static_cast<unsigned char>(c), /*backslash=*/false)) {
                append_escaped(out, static_cast<unsigned char>(c));
            } else {
                out.push_back(c);
            }
        }
    }
    return out;
}

}  // namespace portico::proxy
