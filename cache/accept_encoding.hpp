// Accept-Encoding negotiation (RFC 9110 §12.5.3): the one parse of the field and the choices made
// from it — the coding Portico compresses a response with, and the cache's Vary key for the field.
// Both come from the same weights, so a stored compressed variant is only ever found by requests
// that would have been given the same coding.
#pragma once

#include <cstdint>
#include <string_view>

#include "cache/headers_view.hpp"

namespace portico::cache {

enum class ContentCoding : uint8_t { identity, gzip, deflate, br };
std::string_view coding_name(ContentCoding coding);  // "identity", "gzip", "deflate", "br"

// The weights one request gives, in thousandths (q=0.5 → 500); -1 where the coding is not named.
// Names are case-insensitive and `x-gzip` is gzip (§8.4.1.3); a member whose qvalue is invalid is
// ignored; parameters other than q are ignored; the highest weight wins when a coding repeats.
struct AcceptEncoding {
    bool present = false;  // at least one Accept-Encoding line (an empty one counts)
    int gzip = -1, deflate = -1, br = -1, identity = -1, star = -1;
};
// One field value (the field is present).
AcceptEncoding parse_accept_encoding(std::string_view value);
// Every Accept-Encoding line of a request, combined (RFC 9110 §5.3); absent → present == false.
AcceptEncoding parse_accept_encoding(HeaderList request);

// The coding Portico compresses with: gzip, or deflate only when the client names it (a `*` alone
// never selects deflate), whichever weighs more (a tie goes to gzip), provided it is acceptable
// (q > 0) and weighs at least as much as identity; otherwise identity. An absent field means
// identity: RFC 9110 would allow any coding, but clients that send none (curl, health checks)
// expect plain bytes. Identity takes its own weight, else `*`'s, else the least (0.001): acceptable,
// never preferred to a coding the client lists.
ContentCoding choose_compression(const AcceptEncoding& accept);

// The best coding among br, gzip and deflate (what an origin that can produce all three would
// send), ties going to br, then gzip, then deflate, then identity; identity when nothing is
// acceptable (the server's fallback, §12.5.3).
ContentCoding choose_coding(const AcceptEncoding& accept);

// The value the cache keys Accept-Encoding variants by: coding_name(choose_coding(…)), except that
// a request preferring br also carries the coding Portico itself would compress with ("br+gzip",
// "br+deflate", plain "br" when that is identity), because the stored response is the app's br
// variant or Portico's own compression, and the two must not be served to each other's clients.
std::string_view accept_encoding_variant(const AcceptEncoding& accept);

}  // namespace portico::cache
