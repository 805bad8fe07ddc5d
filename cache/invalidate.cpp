// Invalidation after unsafe methods (RFC 9111 §4.4), with RFC 3986 reference resolution.
#include "cache/invalidate.hpp"

#include <algorithm>
#include <optional>

namespace portico::cache {

namespace {

std::string origin_of(std::string_view scheme, std::string_view authority) {
    std::string out;
    append_lower(out, scheme);
    out.append("://");
    append_authority(out, scheme, authority);
    return out;
}

// Resolves `ref` against the base target; nullopt when it names another origin. Returns the
// origin-form "path[?query]".
std::optional<std::string> resolve(std::string_view ref, std::string_view scheme, std::string_view authority,
                                   const TargetParts& base) {
    ref = trim_ows(ref.substr(0, ref.find('#')));
    size_t colon = ref.find(':');
    size_t first_delim = ref.find_first_of("/?");
    bool has_scheme = colon != std::string_view::npos && colon > 0 &&
                      (first_delim == std::string_view::npos || colon < first_delim);
    std::string_view ref_scheme = scheme;
    if (has_scheme) {
        ref_scheme = ref.substr(0, colon);
        ref.remove_prefix(colon + 1);
        if (ref.substr(0, 2) != "//") return std::nullopt;  // e.g. mailto: — not ours
    }
    if (ref.substr(0, 2) == "//") {
        std::string_view rest = ref.substr(2);
        size_t end = rest.find_first_of("/?");
        std::string_view ref_authority = rest.substr(0, end);
        if (size_t at = ref_authority.rfind('@'); at != std::string_view::npos) ref_authority.remove_prefix(at + 1);
        if (origin_of(ref_scheme, ref_authority) != origin_of(scheme, authority)) return std::nullopt;
        ref = end == std::string_view::npos ? std::string_view("/") : rest.substr(end);
        if (ref.front() == '?') {
            std::string out = "/";
            out.append(ref);
            return out;
        }
    }
    size_t q = ref.find('?');
    std::string_view ref_path = ref.substr(0, q);
    std::string out;
    if (ref_path.empty()) {
        out.assign(base.path);
        if (q != std::string_view::npos) {
            out.append(ref.substr(q));
        } else if (!base.query.empty()) {
            out.push_back('?');
            out.append(base.query);
        }
        return out;
    }
    if (ref_path.front() == '/') {
        out = remove_dot_segments(ref_path);
    } else {
        std::string merged(base.path.substr(0, base.path.rfind('/') + 1));  // RFC 3986 §5.2.3
        if (merged.empty()) merged = "/";
        merged.append(ref_path);
        out = remove_dot_segments(merged);
    }
    if (q != std::string_view::npos) out.append(ref.substr(q));
    return out;
}

}  // namespace

bool is_safe_method(std::string_view method) {
    return method == "GET" || method == "HEAD" || method == "OPTIONS" || method == "TRACE";
}

std::string remove_dot_segments(std::string_view in) {
    std::string out;
    while (!in.empty()) {
        if (in.substr(0, 3) == "../") in.remove_prefix(3);
        else if (in.substr(0, 2) == "./") in.remove_prefix(2);
        else if (in.substr(0, 3) == "/./") in.remove_prefix(2);
        else if (in == "/.") in = "/";
        else if (in.substr(0, 4) == "/../" || in == "/..") {
            in = in.size() == 3 ? std::string_view("/") : in.substr(3);
            size_t last = out.rfind('/');
            out.erase(last == std::string::npos ? 0 : last);
        } else if (in == "." || in == "..") {
            in = {};
        } else {
            size_t next = in.find('/', in.front() == '/' ? 1 : 0);
            out.append(in.substr(0, next));
            in = next == std::string_view::npos ? std::string_view{} : in.substr(next);
        }
    }
    return out;
}

std::vector<std::string> invalidation_keys(std::string_view method, int status, std::string_view scheme,
                                           std::string_view host, std::string_view target, HeaderList response,
                                           const KeyOptions& options) {
    std::vector<std::string> keys;
    if (is_safe_method(method) || status < 200 || status >= 400) return keys;
    TargetParts base = split_target(target);
    if (!base.authority.empty()) {
        host = base.authority;
        if (!base.scheme.empty()) scheme = base.scheme;
    }
    auto add = [&](std::string_view origin_form) {
        std::string key;
        build_primary_key(key, "GET", scheme, host, origin_form, options);
        if (std::find(keys.begin(), keys.end(), key) == keys.end()) keys.push_back(std::move(key));
    };
    std::string base_form(base.path);
    if (!base.query.empty()) {
        base_form.push_back('?');
        base_form.append(base.query);
    }
    add(base_form);
    for (std::string_view field : {"Location", "Content-Location"}) {
        auto value = find_first(response, field);
        if (!value || value->empty()) continue;
        if (auto resolved = resolve(*value, scheme, host, base)) add(*resolved);
    }
    return keys;
}

}  // namespace portico::cache
