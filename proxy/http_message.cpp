// Lookups on a parsed message head.
#include "proxy/http_message.hpp"

namespace portico::proxy {

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
        char x = a[i], y = b[i];
        if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
        if (x != y) return false;
    }
    return true;
}

std::string_view MessageHead::find(std::string_view name) const {
    for (const auto& h : headers_) {
        if (iequals(view(h.name), name)) return view(h.value);
    }
    return {};
}

bool MessageHead::has(std::string_view name) const {
    for (const auto& h : headers_) {
        if (iequals(view(h.name), name)) return true;
    }
    return false;
}

size_t MessageHead::count(std::string_view name) const {
    size_t n = 0;
    for (const auto& h : headers_) {
        if (iequals(view(h.name), name)) ++n;
    }
    return n;
}

}  // namespace portico::proxy
