// Cache-Control directives (RFC 9111 §5.2) and the targeted fields that replace them for Portico
// (RFC 9213): parsed robustly into one plain struct, without allocating.
#pragma once

#include <array>
#include <optional>
#include <string_view>

#include "cache/headers_view.hpp"
#include "cache/http_date.hpp"

namespace portico::cache {

// RFC 9111 §1.2.2: a delta-seconds value too large to represent is taken as 2^31; the same value
// stands for "unlimited" where a directive has no argument (max-stale).
inline constexpr Seconds kDeltaMax{2147483648LL};

// Parses delta-seconds (1*DIGIT, clamped to kDeltaMax); nullopt for anything else ("", "-1", "1.5").
std::optional<Seconds> parse_delta_seconds(std::string_view text);

// Request and response directives in one struct (RFC 9111 §5.2.1, §5.2.2, RFC 5861, RFC 8246).
// Conflicts and duplicates resolve to the most restrictive reading (RFC 9111 §4.2.1):
//   max-age, s-maxage, stale-while-revalidate, stale-if-error, max-stale: the smallest value;
//   min-fresh: the largest; an invalid value of max-age / s-maxage / stale-* / max-stale counts as 0
//   (an invalid freshness value makes the response stale, §4.2.1); an invalid min-fresh is ignored.
// The string_views point into the parsed field values.
struct CacheControl {
    std::optional<Seconds> max_age;
    std::optional<Seconds> s_maxage;
    std::optional<Seconds> stale_while_revalidate;  // RFC 5861 §3
    std::optional<Seconds> stale_if_error;          // RFC 5861 §4
    std::optional<Seconds> min_fresh;               // request only
    std::optional<Seconds> max_stale;               // request only; kDeltaMax when given without value

    bool no_cache = false;  // in any form; see no_cache_fields
    bool no_store = false;
    bool private_ = false;  // in any form; see private_fields
    bool public_ = false;
    bool must_revalidate = false;
    bool proxy_revalidate = false;
    bool must_understand = false;
    bool no_transform = false;
    bool immutable = false;       // RFC 8246
    bool only_if_cached = false;  // request only

    // Qualified forms (`no-cache="Set-Cookie"`, `private="X-User"`, §5.2.2.4, §5.2.2.7): the raw
    // field-name list; empty means the unqualified form. When both forms appear, or two lists, the
    // directive counts as unqualified (most restrictive); so does the token form `private=X-User`,
    // which senders must not use (§5.2.2.7). Policy treats a qualified no-cache as unqualified
    // (allowed by §5.2.2.4); a qualified private keeps the named fields out of the stored entry.
    std::string_view no_cache_fields;
    std::string_view private_fields;

    bool any() const;  // at least one directive understood
};

// True when a qualified directive's field-name list names `field` (case-insensitive).
bool lists_field(std::string_view field_names, std::string_view field);

// Cache-Control syntax (RFC 9111 §5.2): comma-separated `token [ "=" ( token / quoted-string ) ]`,
// names case-insensitive, unknown directives ignored (§5.2.3), quoted delta-seconds accepted.
// Accumulates into `into`, so several field lines give the same result as one combined line.
void parse_cache_control(std::string_view value, CacheControl& into);
// All `name` field lines of `headers` (default Cache-Control).
CacheControl parse_cache_control(HeaderList headers, std::string_view name = "Cache-Control");

// A targeted field in RFC 9213 syntax: a Structured Field Dictionary (RFC 8941 §3.2). Duplicate keys:
// the last wins (RFC 8941); parameters are ignored (RFC 9213 §2.1); a directive whose value has
// the wrong type (e.g. max-age="60") is ignored; `?0` means absent. Returns false when the value is
// empty or not a valid Dictionary, in which case the whole field must be ignored (RFC 9213 §2.1).
bool parse_targeted_field(std::string_view value, CacheControl& into);

// Where the directives that govern the cache's decisions came from.
enum class DirectiveSource : unsigned char {
    none,                   // no Cache-Control and no usable targeted field
    cache_control,
    portico_cache_control,  // RFC 9213 §2: targeted at Portico
    cdn_cache_control,      // RFC 9213 §3: targeted at all CDN caches
    surrogate_control,      // Edge Architecture 1.0's field, in Cache-Control syntax
};

struct EffectiveCacheControl {
    CacheControl directives;
    DirectiveSource source = DirectiveSource::none;
    // When a targeted field was used, Cache-Control *and Expires* are ignored (RFC 9213 §2.2).
    bool targeted() const {
        return source != DirectiveSource::none && source != DirectiveSource::cache_control;
    }
};

// RFC 9213 §2.2: the first present, non-empty, valid field of Portico-Cache-Control,
// CDN-Cache-Control, Surrogate-Control replaces Cache-Control for the cache; else Cache-Control.
// (For Surrogate-Control, members with a `;device-token` target another surrogate and are ignored.)
EffectiveCacheControl effective_response_cache_control(HeaderList response);

// Fields meant for Portico only, removed from every response sent to a client (INTERFACE.md
// "Headers"): the three targeted fields and the surrogate-key tag fields.
inline constexpr std::array<std::string_view, 5> kStrippedBeforeClient{
    "Portico-Cache-Control", "CDN-Cache-Control", "Surrogate-Control", "Surrogate-Key", "Cache-Tag"};
bool strip_before_client(std::string_view field_name);

}  // namespace portico::cache
