// Primary cache key normalisation: lower-cased host, default port dropped, query sorted and filtered.
#include "cache/key.hpp"

#include <algorithm>
#include <array>
#include <fnmatch.h>
#include <vector>

#include "cache/headers_view.hpp"

namespace portico::cache {

namespace {

bool ignored(std::string_view name, const KeyOptions& options) {
    if (options.ignore_params.empty()) return false;
    // fnmatch needs a NUL-terminated name: a stack copy for the usual short names.
    char small[128];
    std::string large;
    const char* cname = small;
    if (name.size() < sizeof small) {
        std::copy(name.begin(), name.end(), small);
        small[name.size()] = '\0';
    } else {
        large.assign(name);
        cname = large.c_str();
    }
    for (const std::string& glob : options.ignore_params)
        if (fnmatch(glob.c_str(), cname, 0) == 0) return true;
    return false;
}

std::string_view param_name(std::string_view param) { return param.substr(0, param.find('=')); }

}  // namespace

TargetParts split_target(std::string_view target) {
    TargetParts parts;
    target = target.substr(0, target.find('#'));
    size_t colon = target.find("://");
    if (!target.empty() && target.front() != '/' && colon != std::string_view::npos) {
        parts.scheme = target.substr(0, colon);
        std::string_view rest = target.substr(colon + 3);
        size_t end = rest.find_first_of("/?");
        parts.authority = rest.substr(0, end);
        if (size_t at = parts.authority.rfind('@'); at != std::string_view::npos)
            parts.authority.remove_prefix(at + 1);  // userinfo is no part of the resource's identity
        target = end == std::string_view::npos ? std::string_view{} : rest.substr(end);
    }
    size_t q = target.find('?');
    parts.path = target.substr(0, q);
    if (q != std::string_view::npos) parts.query = target.substr(q + 1);
    if (parts.path.empty() && !parts.authority.empty()) parts.path = "/";
    return parts;
}

void append_authority(std::string& out, std::string_view scheme, std::string_view host) {
    // The port follows the last ':' that is not inside an IPv6 literal's brackets.
    size_t colon = host.rfind(':');
    size_t bracket = host.rfind(']');
    if (colon != std::string_view::npos && (bracket == std::string_view::npos || colon > bracket)) {
        std::string_view port = host.substr(colon + 1);
        if (port.empty() || (iequals(scheme, "http") && port == "80") || (iequals(scheme, "https") && port == "443"))
            host = host.substr(0, colon);
    }
    append_lower(out, host);
}

void append_query(std::string& out, std::string_view query, const KeyOptions& options) {
    std::array<std::string_view, 32> small;
    std::vector<std::string_view> large;
    size_t count = 0;
    for (size_t start = 0; start <= query.size();) {
        size_t amp = query.find('&', start);
        std::string_view param = query.substr(start, amp == std::string_view::npos ? std::string_view::npos : amp - start);
        if (!param.empty() && !ignored(param_name(param), options)) {
            if (large.empty() && count < small.size()) {
                small[count] = param;
            } else {
                if (large.empty()) large.assign(small.begin(), small.begin() + static_cast<std::ptrdiff_t>(count));
                large.push_back(param);
            }
            ++count;
        }
        if (amp == std::string_view::npos) break;
        start = amp + 1;
    }
    std::string_view* params = large.empty() ? small.data() : large.data();
    if (options.sort_query)
        std::stable_sort(params, params + count,
                         [](std::string_view a, std::string_view b) { return param_name(a) < param_name(b); });
    for (size_t i = 0; i < count; ++i) {
        if (i > 0) out.push_back('&');
        out.append(params[i]);
    }
}

void build_primary_key(std::string& out, std::string_view method, std::string_view scheme, std::string_view host,
                       std::string_view target, const KeyOptions& options) {
    out.clear();
    if (method != "GET" && method != "HEAD") {
        out.append(method);
        out.push_back(' ');
    }
    TargetParts parts = split_target(target);
    if (!parts.authority.empty()) {
        host = parts.authority;
        if (!parts.scheme.empty()) scheme = parts.scheme;
    }
    append_lower(out, scheme);
    out.append("://");
    append_authority(out, scheme, host);
    out.append(parts.path);
    size_t mark = out.size();
    out.push_back('?');
    append_query(out, parts.query, options);
    if (out.size() == mark + 1) out.pop_back();  // nothing left after filtering: no '?'
}

std::string primary_key(std::string_view method, std::string_view scheme, std::string_view host,
                        std::string_view target, const KeyOptions& options) {
    std::string out;
    build_primary_key(out, method, scheme, host, target, options);
    return out;
}

std::string_view key_path(std::string_view key) {
    size_t sep = key.find("://");
    if (sep == std::string_view::npos) return {};
    std::string_view rest = key.substr(sep + 3);
    size_t slash = rest.find('/');
    if (slash == std::string_view::npos) return {};
    rest = rest.substr(slash);
    return rest.substr(0, rest.find('?'));
}

bool key_has_path_prefix(std::string_view key, std::string_view prefix) {
    return key_path(key).substr(0, prefix.size()) == prefix;
}

}  // namespace portico::cache
