// Token handling for the admin port; see auth.hpp.
#include "admin/auth.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace portico::admin {

bool constant_time_equals(std::string_view a, std::string_view b) {
    // Walk the longer length whatever happens, accumulating differences without branching on them.
    size_t n = a.size() > b.size() ? a.size() : b.size();
    unsigned diff = a.size() == b.size() ? 0u : 1u;
    for (size_t i = 0; i < n; ++i) {
        unsigned char ca = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
        unsigned char cb = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
        diff |= static_cast<unsigned>(ca ^ cb);
    }
    // Read through a volatile so the compiler cannot turn the loop into an early exit.
    volatile unsigned result = diff;
    return result == 0;
}

std::string read_token_file(const std::string& path, std::string& token) {
    errno = 0;
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return "cannot read token file " + path + ": " + std::strerror(errno != 0 ? errno : ENOENT);
    }
    std::ostringstream content;
    content << in.rdbuf();
    std::string text = content.str();
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ' || text.back() == '\t')) {
        text.pop_back();
    }
    if (text.empty()) return "token file " + path + " is empty";
    if (text.find_first_of(" \t\r\n") != std::string::npos) {
        return "token file " + path + " holds more than one word: the token must be a single line without spaces";
    }
    token = std::move(text);
    return "";
}

bool bearer_matches(std::string_view authorization, std::string_view token) {
    if (token.empty()) return true;
    constexpr std::string_view kScheme = "bearer";
    if (authorization.size() <= kScheme.size()) return false;
    for (size_t i = 0; i < kScheme.size(); ++i) {
        char c = authorization[i];
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        if (c != kScheme[i]) return false;
    }
    std::string_view rest = authorization.substr(kScheme.size());
    if (rest.front() != ' ' && rest.front() != '\t') return false;
    while (!rest.empty() && (rest.front() == ' ' || rest.front() == '\t')) rest.remove_prefix(1);
    while (!rest.empty() && (rest.back() == ' ' || rest.back() == '\t')) rest.remove_suffix(1);
    return constant_time_equals(rest, token);
}

}  // namespace portico::admin
