// A read-only view of header fields, so cache/ depends on no message type of proxy/: lookups by
// case-insensitive name and iteration over list members (RFC 9110 §5.3, §5.6.1) without allocating.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

namespace portico::cache {

struct HeaderField {
    std::string_view name;
    std::string_view value;
};

using HeaderList = std::span<const HeaderField>;

// ASCII case-insensitive comparison (field names and most tokens are case-insensitive, RFC 9110 §5.1).
bool iequals(std::string_view a, std::string_view b);
// ASCII lower-casing, appended to `out`.
void append_lower(std::string& out, std::string_view text);
// Optional whitespace (SP / HTAB, RFC 9110 §5.6.3) removed at both ends.
std::string_view trim_ows(std::string_view text);

// The first field line's value named `name`, or nullopt when absent (an empty value is present).
std::optional<std::string_view> find_first(HeaderList headers, std::string_view name);
bool has_field(HeaderList headers, std::string_view name);

// Splits one field value into list members at commas outside quoted strings (RFC 9110 §5.6.1):
// members are OWS-trimmed and empty members are skipped, as recipients must.
class ListMembers {
public:
    explicit ListMembers(std::string_view value) : rest_(value) {}
    // The next member, or nullopt at the end.
    std::optional<std::string_view> next();

private:
    std::string_view rest_;
};

// Calls fn(member) for every list member of every field line named `name`; this is the same as
// combining the lines with commas first (RFC 9110 §5.3) without building the combined string.
// fn may return false to stop early; for_each_member then returns false.
template <class Fn>
bool for_each_member(HeaderList headers, std::string_view name, Fn&& fn) {
    for (const HeaderField& field : headers) {
        if (!iequals(field.name, name)) continue;
        ListMembers members(field.value);
        while (auto member = members.next()) {
            if constexpr (std::is_same_v<decltype(fn(*member)), bool>) {
                if (!fn(*member)) return false;
            } else {
                fn(*member);
            }
        }
    }
    return true;
}

// All members of all lines named `name`, joined with ", " into `out` (cleared first), per RFC 9110
// §5.3. Returns false when no line is present (so "absent" and "empty" stay distinguishable).
bool join_values(HeaderList headers, std::string_view name, std::string& out);

}  // namespace portico::cache
