// Vary (RFC 9111 §4.1): the secondary cache key of a request, with Accept-Encoding reduced to the
// one coding the response would use, so variants do not multiply per browser's header spelling.
#pragma once

#include <string>
#include <string_view>

#include "cache/headers_view.hpp"

namespace portico::cache {

// Content codings Portico may store a variant for (bit set).
enum Coding : unsigned { kCodingGzip = 1u << 0, kCodingBr = 1u << 1 };

// Reduces Accept-Encoding (RFC 9110 §12.5.3) to "br", "gzip" or "identity": the offered coding with
// the highest q-value (q=0 means "not acceptable"; `*` covers unlisted codings; `x-gzip` is gzip,
// §8.4.1.3; names case-insensitive). Ties go to br, then gzip, then identity. An absent field gives
// "identity" (RFC 9110 would allow any coding, but clients that send none — curl, health checks —
// expect plain bytes; Portico's compression stage reads it the same way). A member with an invalid
// qvalue is ignored. If nothing is acceptable, "identity" (the server's fallback, §12.5.3).
std::string_view normalise_accept_encoding(HeaderList request, unsigned offered = kCodingGzip | kCodingBr);
// The same for one field value (present).
std::string_view normalise_accept_encoding(std::string_view value, unsigned offered = kCodingGzip | kCodingBr);

// True when the response's Vary contains `*`: it can never match a later request (§4.1).
bool vary_has_star(HeaderList response);

enum class VaryResult { ok, uncacheable };

// The secondary key for `request` under the stored response's Vary: for each named field, lower-
// cased, de-duplicated and sorted, a line "name=value\n", or "name\n" when the request lacks the
// field (an absent field only matches absence, §4.1). Values: list members of all lines joined with
// ", " (whitespace and line-splitting normalised, §4.1); Accept-Encoding as normalise_accept_encoding.
// No Vary → empty key. `*` → uncacheable. `out` is cleared first (reuse it to avoid allocating).
VaryResult vary_key(HeaderList response, HeaderList request, std::string& out,
                    unsigned offered = kCodingGzip | kCodingBr);

}  // namespace portico::cache
