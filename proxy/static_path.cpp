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

}  // namespace

std::optional<StaticPath> static_path(std::string_view path, std::string_view pattern) {
    // The literal prefix up to its last '/': "/static/*" → "/static", "/favicon.ico" → "", "*" → "".
    std::string_view literal = pattern.substr(0, pattern.find('*'));
    size_t slash = literal.rfind('/');
    std::string_view prefix = slash == std::string_view::npos ? std::string_view() : literal.substr(0, slash);
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

}  // namespace portico::proxy
