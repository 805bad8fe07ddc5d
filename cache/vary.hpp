// Vary (RFC 9111 §4.1): the secondary cache key of a request, with Accept-Encoding reduced to the
// one coding the response would use, so variants do not multiply per browser's header spelling.
#pragma once

#include <string>
#include <string_view>

#include "cache/accept_encoding.hpp"
#include "cache/headers_view.hpp"

namespace portico::cache {

// The Accept-Encoding part of a variant key: accept_encoding_variant (cache/accept_encoding.hpp), so
// "gzip, deflate" and "gzip" share a variant while "br" and "br, gzip" do not.
std::string_view normalise_accept_encoding(HeaderList request);
// The same for one field value (present).
std::string_view normalise_accept_encoding(std::string_view value);

// True when the response's Vary contains `*`: it can never match a later request (§4.1).
bool vary_has_star(HeaderList response);

enum class VaryResult { ok, uncacheable };

// The secondary key for `request` under the stored response's Vary: for each named field, lower-
// cased, de-duplicated and sorted, a line "name=value\n", or "name\n" when the request lacks the
// field (an absent field only matches absence, §4.1). Values: list members of all lines joined with
// ", " (whitespace and line-splitting normalised, §4.1); Accept-Encoding as normalise_accept_encoding.
// No Vary → empty key. `*` → uncacheable. `out` is cleared first (reuse it to avoid allocating).
VaryResult vary_key(HeaderList response, HeaderList request, std::string& out);

}  // namespace portico::cache
