// Vary secondary keys and Accept-Encoding normalisation (RFC 9111 §4.1, RFC 9110 §12.5.3).
#include "cache/vary.hpp"

#include <algorithm>
#include <array>
#include <vector>

namespace portico::cache {

std::string_view normalise_accept_encoding(std::string_view value) {
    return accept_encoding_variant(parse_accept_encoding(value));
}

std::string_view normalise_accept_encoding(HeaderList request) {
    return accept_encoding_variant(parse_accept_encoding(request));
}

bool vary_has_star(HeaderList response) {
    bool star = false;
    for_each_member(response, "Vary", [&](std::string_view member) {
        star = member == "*";
        return !star;
    });
    return star;
}

VaryResult vary_key(HeaderList response, HeaderList request, std::string& out) {
    out.clear();
    // Names on the stack for the usual handful; a vector only for an unusually long Vary.
    std::array<std::string_view, 16> small;
    std::vector<std::string_view> large;
    size_t count = 0;
    bool star = false;
    auto less = [](std::string_view a, std::string_view b) {
        return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
            auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; };
            return lower(x) < lower(y);
        });
    };
    for_each_member(response, "Vary", [&](std::string_view name) {
        if (name == "*") {
            star = true;
            return false;
        }
        std::string_view* begin = large.empty() ? small.data() : large.data();
        for (size_t i = 0; i < count; ++i)
            if (iequals(begin[i], name)) return true;  // duplicates name one field
        if (large.empty() && count < small.size()) {
            small[count++] = name;
        } else {
            if (large.empty()) large.assign(small.begin(), small.begin() + static_cast<std::ptrdiff_t>(count));
            large.push_back(name);
            ++count;
        }
        return true;
    });
    if (star) return VaryResult::uncacheable;
    std::string_view* names = large.empty() ? small.data() : large.data();
    std::sort(names, names + count, less);
    for (size_t i = 0; i < count; ++i) {
        append_lower(out, names[i]);
        if (iequals(names[i], "Accept-Encoding")) {
            out.push_back('=');
            out.append(normalise_accept_encoding(request));
        } else {
            bool present = false;
            bool first = true;
            for (const HeaderField& field : request) {
                if (!iequals(field.name, names[i])) continue;
                if (!present) out.push_back('=');
                present = true;
                ListMembers members(field.value);
                while (auto member = members.next()) {
                    if (!first) out.append(", ");
                    out.append(*member);
                    first = false;
                }
            }
        }
        out.push_back('\n');
    }
    return VaryResult::ok;
}

}  // namespace portico::cache
