// Password redaction for libpq connection strings.
#include "conf/redact.hpp"

#include <cctype>

namespace portico::conf {
namespace {

constexpr std::string_view kMask = "******";

bool is_space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

bool starts_with_ci(std::string_view s, std::string_view prefix) {
    if (s.size() < prefix.size()) return false;
    for (size_t i = 0; i < prefix.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
    return true;
}

std::string redact_uri(std::string_view uri, size_t scheme_end) {
    std::string out(uri.substr(0, scheme_end));
    std::string_view rest = uri.substr(scheme_end);
    // userinfo is everything before the last '@' of the authority (up to the first '/', '?').
    size_t authority_end = rest.find_first_of("/?");
    std::string_view authority = rest.substr(0, authority_end);
    size_t at = authority.rfind('@');
    if (at != std::string_view::npos) {
        std::string_view userinfo = authority.substr(0, at);
        size_t colon = userinfo.find(':');
        if (colon != std::string_view::npos) {
            out += userinfo.substr(0, colon + 1);
            out += kMask;
            out += authority.substr(at);
        } else {
            out += authority;
        }
    } else {
        out += authority;
    }
    if (authority_end == std::string_view::npos) return out;
    std::string_view tail = rest.substr(authority_end);
    // Query parameters: ?password=x&... / &password=x
    size_t i = 0;
    while (i < tail.size()) {
        char c = tail[i];
        out += c;
        ++i;
        if ((c == '?' || c == '&') && starts_with_ci(tail.substr(i), "password=")) {
            out += tail.substr(i, 9);
            i += 9;
            while (i < tail.size() && tail[i] != '&') ++i;
            out += kMask;
        }
    }
    return out;
}

}  // namespace

std::string redact_conninfo(std::string_view conninfo) {
    for (std::string_view scheme : {"postgresql://", "postgres://"}) {
        if (starts_with_ci(conninfo, scheme)) return redact_uri(conninfo, scheme.size());
    }
    // keyword = value pairs separated by spaces; values may be single-quoted with \ escapes.
    std::string out;
    size_t i = 0;
    const size_t n = conninfo.size();
    while (i < n) {
        while (i < n && is_space(conninfo[i])) out += conninfo[i++];
        size_t key_start = i;
        while (i < n && conninfo[i] != '=' && !is_space(conninfo[i])) ++i;
        std::string_view key = conninfo.substr(key_start, i - key_start);
        out += key;
        while (i < n && is_space(conninfo[i])) out += conninfo[i++];
        if (i >= n || conninfo[i] != '=') continue;  // malformed; libpq will say so later
        out += conninfo[i++];
        while (i < n && is_space(conninfo[i])) out += conninfo[i++];
        size_t value_start = i;
        if (i < n && conninfo[i] == '\'') {
            ++i;
            while (i < n && conninfo[i] != '\'') i += (conninfo[i] == '\\' && i + 1 < n) ? 2 : 1;
            if (i < n) ++i;  // closing quote
        } else {
            while (i < n && !is_space(conninfo[i])) i += (conninfo[i] == '\\' && i + 1 < n) ? 2 : 1;
        }
        bool secret = key == "password";
        out += secret ? kMask : conninfo.substr(value_start, i - value_start);
    }
    return out;
}

}  // namespace portico::conf
