// Which cache keys an unsafe request invalidates (RFC 9111 §4.4).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "cache/headers_view.hpp"
#include "cache/key.hpp"

namespace portico::cache {

// GET, HEAD, OPTIONS, TRACE (RFC 9110 §9.2.1). Unknown methods are unsafe.
bool is_safe_method(std::string_view method);

// RFC 3986 §5.2.4, on a path.
std::string remove_dot_segments(std::string_view path);

// After a non-error response (2xx, 3xx) to an unsafe method: the primary keys of the target URI
// (MUST, §4.4) and of the Location and Content-Location URIs (MAY, done), the latter resolved
// against the target (RFC 3986 §5.2) and kept only when their origin (scheme, host, port) is the
// target's, so one origin cannot purge another's entries (§4.4). De-duplicated, target first.
// Safe methods and error statuses invalidate nothing.
std::vector<std::string> invalidation_keys(std::string_view method, int status, std::string_view scheme,
                                           std::string_view host, std::string_view target, HeaderList response,
                                           const KeyOptions& options);

}  // namespace portico::cache
