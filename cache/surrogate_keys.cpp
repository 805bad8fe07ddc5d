// Surrogate-Key / Cache-Tag parsing: split, validate, de-duplicate, bound.
#include "cache/surrogate_keys.hpp"

#include <algorithm>

namespace portico::cache {

bool valid_tag(std::string_view tag) {
    if (tag.empty() || tag.size() > kMaxTagBytes) return false;
    return std::all_of(tag.begin(), tag.end(), [](char c) { return c >= 0x21 && c <= 0x7e && c != ','; });
}

SurrogateKeys surrogate_keys(HeaderList response) {
    SurrogateKeys out;
    auto add = [&](std::string_view tag) {
        if (tag.empty()) return;
        if (!valid_tag(tag) || out.tags.size() >= kMaxTags) {
            if (std::find(out.tags.begin(), out.tags.end(), tag) == out.tags.end()) ++out.dropped;
            return;
        }
        if (std::find(out.tags.begin(), out.tags.end(), tag) == out.tags.end()) out.tags.push_back(tag);
    };
    auto split = [&](std::string_view value, auto is_separator) {
        size_t i = 0;
        while (i < value.size()) {
            while (i < value.size() && is_separator(value[i])) ++i;
            size_t start = i;
            while (i < value.size() && !is_separator(value[i])) ++i;
            add(value.substr(start, i - start));
        }
    };
    for (const HeaderField& field : response) {
        if (iequals(field.name, "Surrogate-Key")) {
            split(field.value, [](char c) { return c == ' ' || c == '\t'; });
        } else if (iequals(field.name, "Cache-Tag")) {
            // Comma separated; whitespace around a tag is not part of it (Cloudflare trims it too).
            size_t start = 0;
            while (start <= field.value.size()) {
                size_t comma = field.value.find(',', start);
                std::string_view piece = field.value.substr(
                    start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
                add(trim_ows(piece));
                if (comma == std::string_view::npos) break;
                start = comma + 1;
            }
        }
    }
    return out;
}

}  // namespace portico::cache
