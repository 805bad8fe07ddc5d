// The rate-limit stage; see rate_limit_stage.hpp.
#include "proxy/rate_limit_stage.hpp"

#include <cmath>

#include <fmt/format.h>

#include "proxy/headers.hpp"

namespace portico::proxy {

namespace {
constexpr std::string_view kHeaderKey = "header:";
}

RateLimitDecision check_rate_limit(RateLimiter& limiter, const conf::RouteRateLimit& policy, std::string_view route,
                                   const MessageHead& request, std::string_view client_ip, uint64_t now_ns) {
    RateLimitDecision d;
    RateLimiter::KeyKind kind = RateLimiter::KeyKind::client_ip;
    d.key = client_ip;
    std::string_view key_spec = policy.key;
    if (key_spec.substr(0, kHeaderKey.size()) == kHeaderKey) {
        std::string_view value = request.find(key_spec.substr(kHeaderKey.size()));
        if (!value.empty()) {
            kind = RateLimiter::KeyKind::header;
            d.key = value;
        }
    }
    d.bucket = limiter.take(route, kind, d.key, BucketLimits{policy.rate.per_second, policy.burst}, now_ns);
    if (!d.bucket.allowed) d.verdict = policy.dry_run ? RateLimitVerdict::dry_run : RateLimitVerdict::reject;
    return d;
}

void append_rate_limit_fields(std::string& out, const conf::RouteRateLimit& policy, const BucketVerdict& bucket) {
    auto limit = static_cast<uint64_t>(std::floor(policy.burst));
    out.append(fmt::format("RateLimit-Limit: {}\r\nRateLimit-Remaining: {}\r\nRateLimit-Reset: {}\r\n", limit,
                           bucket.remaining, bucket.reset_s));
    if (!bucket.allowed) out.append(fmt::format("Retry-After: {}\r\n", bucket.retry_after_s));
}

std::string rate_limit_body(std::string_view route, const BucketVerdict& bucket) {
    std::string body = "{\"error\":\"rate limited\",\"route\":\"";
    append_json_escaped(body, route);
    body.append(fmt::format("\",\"retry_after\":{}}}\n", bucket.retry_after_s));
    return body;
}

}  // namespace portico::proxy
