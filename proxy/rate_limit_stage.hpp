// The rate-limit stage of a request (DESIGN.md step 3): which bucket a request draws from (the
// client's address as trusted_proxies resolved it, or a request header such as an API key), the
// verdict — allow, refuse (429) or, with `dry_run: true`, let through what would have been refused
// — and the RateLimit-* / Retry-After fields and JSON body that say so.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "conf/schema.hpp"
#include "proxy/http_message.hpp"
#include "proxy/rate_limiter.hpp"

namespace portico::proxy {

enum class RateLimitVerdict : uint8_t {
    allow,    // a token was taken
    reject,   // none left: 429
    dry_run,  // none left, but the route only counts and logs
};

struct RateLimitDecision {
    RateLimitVerdict verdict = RateLimitVerdict::allow;
    BucketVerdict bucket;
    std::string_view key;  // what the bucket is keyed by (for the dry-run log), a view into the request
};

// `key: client_ip` draws from the client's bucket; `key: header:NAME` from the bucket of that
// header's value, or the client's when the request has no such header (so leaving the key out
// does not escape the limit).
RateLimitDecision check_rate_limit(RateLimiter& limiter, const conf::RouteRateLimit& policy, std::string_view route,
                                   const MessageHead& request, std::string_view client_ip, uint64_t now_ns);

// RateLimit-Limit (the burst), RateLimit-Remaining, RateLimit-Reset (seconds until full), and
// Retry-After when refused; complete lines.
void append_rate_limit_fields(std::string& out, const conf::RouteRateLimit& policy, const BucketVerdict& bucket);

// The 429's body: {"error":"rate limited","route":"…","retry_after":N}.
std::string rate_limit_body(std::string_view route, const BucketVerdict& bucket);

}  // namespace portico::proxy
