// Purge tags an app attaches to a response: `Surrogate-Key: a b c` (space separated, Fastly) and
// `Cache-Tag: a,b` (comma separated, Cloudflare), both stripped before the client.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

#include "cache/headers_view.hpp"

namespace portico::cache {

// Bounds, so one response cannot bloat the tag index: at most 64 tags per response (further tags
// are dropped) and at most 256 bytes per tag (a longer tag is dropped, not cut: a cut tag could
// collide with another). Fastly's own limits are of the same order.
inline constexpr size_t kMaxTags = 64;
inline constexpr size_t kMaxTagBytes = 256;

// A tag is 1..kMaxTagBytes visible ASCII bytes (0x21-0x7E) other than ','. Tags are case-sensitive.
// Also used to check a purge request's tag.
bool valid_tag(std::string_view tag);

struct SurrogateKeys {
    std::vector<std::string_view> tags;  // views into the response's field values, first seen first
    size_t dropped = 0;                  // invalid, too long, or beyond kMaxTags
};

// Tags from every Surrogate-Key and Cache-Tag line, de-duplicated.
SurrogateKeys surrogate_keys(HeaderList response);

}  // namespace portico::cache
