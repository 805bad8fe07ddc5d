// Conditional requests around a stored response: answering a client's own If-None-Match /
// If-Modified-Since with 304 (RFC 9111 §4.3.2), building a revalidation request (§4.3.1), and folding
// an upstream 304 into the stored head (§3.2, §4.3.4).
#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include "cache/headers_view.hpp"
#include "cache/http_date.hpp"

namespace portico::cache {

// An entity-tag (RFC 9110 §8.8.3): `"xyz"` or `W/"xyz"`. opaque keeps the quotes.
struct EntityTag {
    std::string_view opaque;
    bool weak = false;
};
std::optional<EntityTag> parse_entity_tag(std::string_view text);
// Weak comparison (RFC 9110 §8.8.3.2): opaque-tags equal, weakness ignored.
bool weak_match(const EntityTag& a, const EntityTag& b);

// True when the client's conditional GET/HEAD is satisfied by the stored response, i.e. the answer
// is 304 from the cache (§4.3.2, RFC 9110 §13.1.2, §13.1.3, §13.2.2):
//   If-None-Match present: `*` matches any stored response; otherwise any listed tag matching the
//     stored ETag by weak comparison. If-Modified-Since is then not looked at.
//   Otherwise If-Modified-Since (a valid HTTP-date): not modified when the stored Last-Modified
//     (or, without one, its Date, or else `received`) is not later. Invalid dates are ignored.
// The caller asks only for a request it would answer from this entry (fresh or allowed stale).
bool client_conditional_matches(HeaderList request, HeaderList stored, std::optional<Instant> received = {});

// The validators for a conditional request to the upstream (§4.3.1): views into `stored`, empty
// when the stored response has no ETag / Last-Modified.
struct RevalidationHeaders {
    std::string_view if_none_match;      // the stored ETag
    std::string_view if_modified_since;  // the stored Last-Modified
    bool any() const { return !if_none_match.empty() || !if_modified_since.empty(); }
};
RevalidationHeaders build_revalidation_headers(HeaderList stored);

// Does the upstream's 304 describe this stored response (§4.3.4)? A validator it carries must
// match the stored one (ETag by weak comparison, Last-Modified exactly); without validators, yes.
bool revalidation_selects(HeaderList stored, HeaderList not_modified);

// The stored head updated by a 304 (§3.2, §4.3.4): every field the 304 carries replaces all stored
// lines of that name, except fields the stored body depends on or that were processed on the way in
// (Content-Length, Content-Encoding, Content-Range, Transfer-Encoding, Vary), hop-by-hop fields
// (RFC 9110 §7.6.1, incl. those the 304's Connection names), Set-Cookie (it belongs to the one
// client whose request caused the 304, never to the shared entry) and fields a qualified private
// names. Age is never carried over from the old head: it comes from the 304 or not at all, since the
// entry's age restarts from this exchange. A stored weak ETag stays weak when the 304 sends the same
// tag strong: the stored body is a transformation (Portico's compression) of the origin's, and a
// transformed representation's validator must be weak (RFC 9110 §8.8.1, §7.7). The result views
// point into both inputs.
std::vector<HeaderField> merge_304(HeaderList stored, HeaderList not_modified);

// The stored fields a 304 generated from the cache carries (RFC 9110 §15.4.5): Cache-Control,
// Content-Location, Date, ETag, Expires, Vary, and Last-Modified when there is no ETag. The caller
// adds Age and its own fields.
std::vector<HeaderField> fields_for_304(HeaderList stored);

}  // namespace portico::cache
