// The primary cache key (INTERFACE.md `cache.key`): one canonical URL per resource, so that host
// case, default ports, parameter order and tracking parameters do not split the cache.
#pragma once

#include <span>
#include <string>
#include <string_view>

namespace portico::cache {

// conf::CacheKeyConfig's fields as plain parameters, so cache/ does not depend on conf/ (the proxy
// builds it once per config snapshot: KeyOptions{c.sort_query, c.ignore_params}).
struct KeyOptions {
    bool sort_query = true;
    std::span<const std::string> ignore_params;  // fnmatch(3) globs on the raw (encoded) name
};

// A request-target split into its parts (RFC 9112 §3.2): origin-form "/p?q" or absolute-form
// "http://host/p?q" (then `authority` is set, and it overrides Host, RFC 9112 §3.2.2). A fragment,
// which a target should not carry, is dropped.
struct TargetParts {
    std::string_view scheme;     // absolute-form only
    std::string_view authority;  // absolute-form only
    std::string_view path;       // "/" when the absolute-form has none
    std::string_view query;      // without the '?'
};
TargetParts split_target(std::string_view target);

// Appends host lower-cased, with the port dropped when it is the scheme's default (80 for http,
// 443 for https) or empty (RFC 3986 §6.2.3).
void append_authority(std::string& out, std::string_view scheme, std::string_view host);

// Appends the query with ignored parameters removed and, with sort_query, the rest sorted by name
// (stable: repeated names keep their order, since `a=2&a=1` may mean a list). Empty parameters
// ("a=1&&b") are dropped. Nothing is decoded.
void append_query(std::string& out, std::string_view query, const KeyOptions& options);

// The key: `<scheme>://<authority><path>[?<query>]`, path byte for byte (no decoding, no case
// change), no '?' when the query ends up empty. GET and HEAD share the key (HEAD is answered from
// the stored GET); any other method is prefixed "<METHOD> " so it can never collide. `out` is
// cleared first; reuse it to avoid allocating.
void build_primary_key(std::string& out, std::string_view method, std::string_view scheme, std::string_view host,
                       std::string_view target, const KeyOptions& options);
std::string primary_key(std::string_view method, std::string_view scheme, std::string_view host,
                        std::string_view target, const KeyOptions& options);

// The path of a key (for purge by prefix): "https://h/a/b?x=1" → "/a/b".
std::string_view key_path(std::string_view key);
bool key_has_path_prefix(std::string_view key, std::string_view prefix);

}  // namespace portico::cache
