// Case-insensitive field lookup and list-member splitting for HeaderList (RFC 9110 §5.3, §5.6.1).
#include "cache/headers_view.hpp"

namespace portico::cache {

namespace {
constexpr char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }
constexpr bool is_ows(char c) { return c == ' ' || c == '\t'; }
}  // namespace

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
        if (lower(a[i]) != lower(b[i])) return false;
    return true;
}

void append_lower(std::string& out, std::string_view text) {
    for (char c : text) out.push_back(lower(c));
}

std::string_view trim_ows(std::string_view text) {
    while (!text.empty() && is_ows(text.front())) text.remove_prefix(1);
    while (!text.empty() && is_ows(text.back())) text.remove_suffix(1);
    return text;
}

std::optional<std::string_view> find_first(HeaderList headers, std::string_view name) {
    for (const HeaderField& field : headers)
        if (iequals(field.name, name)) return trim_ows(field.value);
    return std::nullopt;
}

bool has_field(HeaderList headers, std::string_view name) { return find_first(headers, name).has_value(); }

std::optional<std::string_view> ListMembers::next() {
    while (!rest_.empty()) {
        // Find the comma that ends this member, stepping over quoted strings (with \-escapes) so that
        // `no-cache="a, b"` stays one member (RFC 9110 §5.6.4).
        size_t i = 0;
        bool quoted = false;
        for (; i < rest_.size(); ++i) {
            char c = rest_[i];
            if (quoted) {
                if (c == '\\' && i + 1 < rest_.size()) ++i;
                else if (c == '"') quoted = false;
            } else if (c == '"') {
                quoted = true;
            } else if (c == ',') {
                break;
            }
        }
        std::string_view member = trim_ows(rest_.substr(0, i));
        rest_.remove_prefix(i < rest_.size() ? i + 1 : i);
        if (!member.empty()) return member;  // empty elements are ignored (RFC 9110 §5.6.1.2)
    }
    return std::nullopt;
}

bool join_values(HeaderList headers, std::string_view name, std::string& out) {
    out.clear();
    bool present = false;
    for (const HeaderField& field : headers) {
        if (!iequals(field.name, name)) continue;
        present = true;
        ListMembers members(field.value);
        while (auto member = members.next()) {
            if (!out.empty()) out.append(", ");
            out.append(*member);
        }
    }
    return present;
}

}  // namespace portico::cache
