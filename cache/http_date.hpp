// HTTP-date parsing and formatting (RFC 9110 §5.6.7), with time as a plain value (no clock here).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace portico::cache {

// Whole seconds are HTTP's resolution for dates, ages and lifetimes (RFC 9111 §1.2.2).
using Seconds = std::chrono::seconds;
using Instant = std::chrono::sys_seconds;

// Accepts the three formats a recipient must (RFC 9110 §5.6.7): IMF-fixdate
// ("Sun, 06 Nov 1994 08:49:37 GMT"), rfc850-date ("Sunday, 06-Nov-94 08:49:37 GMT") and asctime
// ("Sun Nov  6 08:49:37 1994"). Surrounding whitespace is ignored; anything else is nullopt.
// rfc850's two-digit year: 70-99 → 19xx, 00-69 → 20xx (a fixed pivot instead of the "50 years in
// the future" rule, which would need a clock; the format has been obsolete since 1996).
std::optional<Instant> parse_http_date(std::string_view text);

// Appends the IMF-fixdate form (29 bytes) of `t`.
void append_http_date(std::string& out, Instant t);

}  // namespace portico::cache
