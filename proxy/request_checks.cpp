// Request validation rules; see request_checks.hpp.
#include "proxy/request_checks.hpp"

namespace portico::proxy {

namespace {

bool is_token_char(char c) {
    // RFC 9110 §5.6.2 tchar
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
    switch (c) {
        case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
        case '-': case '.': case '^': case '_': case '`': case '|': case '~':
            return true;
        default:
            return false;
    }
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

// Host = uri-host [ ":" port ]; we only refuse what can never be a host: controls, spaces,
// and the characters that would change a URL's meaning.
bool valid_host(std::string_view host) {
    if (host.empty()) return false;
    for (char c : host) {
        unsigned char u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u == 0x7f || c == '/' || c == '?' || c == '#' || c == '@' || c == '\\') return false;
    }
    return true;
}

}  // namespace

Rejection reject_parse_error(llhttp_errno_t error, const char* llhttp_reason) {
    switch (error) {
        case HPE_INVALID_VERSION:
            return {505, "HTTP version not supported"};
        case HPE_INVALID_METHOD:
            return {400, "invalid request method"};
        case HPE_INVALID_CHUNK_SIZE:
            return {400, "invalid chunk size"};
        case HPE_UNEXPECTED_CONTENT_LENGTH:
            return {400, "conflicting Content-Length / Transfer-Encoding"};
        case HPE_INVALID_CONTENT_LENGTH:
            return {400, "invalid Content-Length"};
        case HPE_INVALID_TRANSFER_ENCODING:
            return {400, "invalid Transfer-Encoding"};
        case HPE_INVALID_HEADER_TOKEN:
            return {400, "invalid header"};
        case HPE_INVALID_URL:
            return {400, "invalid request target"};
        default:
            return {400, "malformed request"};
    }
    (void)llhttp_reason;
}

Rejection check_request_head(const MessageHead& head, uint64_t max_body_bytes) {
    if (head.version_major == 0) return {400, "HTTP/0.9 requests are not accepted"};
    if (head.version_major != 1 || head.version_minor > 1) return {505, "HTTP version not supported"};
    if (head.obs_fold) return {400, "obsolete line folding in a header"};

    for (size_t i = 0; i < head.header_count(); ++i) {
        std::string_view name = head.header_name(i);
        if (name.empty()) return {400, "empty header name"};
        for (char c : name) {
            if (!is_token_char(c)) return {400, "invalid header name"};
        }
        for (char c : head.header_value(i)) {
            unsigned char u = static_cast<unsigned char>(c);
            // CR, LF and NUL inside a value are how headers get smuggled; obs-fold arrives as
            // CR LF + whitespace inside the value when a parser tolerates it (RFC 9112 §5.2).
            if (u == '\r' || u == '\n' || u == 0) return {400, "invalid header value"};
        }
    }

    size_t hosts = head.count(FieldId::host);
    if (hosts > 1) return {400, "more than one Host header"};
    if (head.version_minor == 1 && hosts == 0) return {400, "missing Host header"};
    if (hosts == 1 && !valid_host(trim(head.find(FieldId::host)))) return {400, "invalid Host header"};

    if (head.method == HTTP_CONNECT) return {501, "CONNECT is not supported"};

    std::string_view target = head.target();
    if (target.empty()) return {400, "empty request target"};
    // RFC 9112 §3.2: no whitespace or control in a request target. llhttp lets a tab (and bytes
    // such as DEL) through; forwarded, a backend that splits its request line on any whitespace
    // would read another target and version than portico did.
    for (char c : target) {
        unsigned char u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u == 0x7f) return {400, "invalid character in the request target"};
    }
    if (target == "*") {
        if (head.method != HTTP_OPTIONS) return {400, "asterisk-form target is only for OPTIONS"};
    } else if (target.front() != '/') {
        std::string_view authority, path;
        if (!split_absolute_form(target, authority, path)) return {400, "invalid request target"};
    }

    if (size_t codings = head.count(FieldId::transfer_encoding); codings > 0) {
        // RFC 9112 §6.3: chunked must be the final coding or the length is unknowable (400);
        // any other coding beside it is one we do not implement (§6.1: 501).
        if (codings > 1) return {400, "more than one Transfer-Encoding header"};
        std::string_view te = trim(head.find(FieldId::transfer_encoding));
        size_t comma = te.rfind(',');
        std::string_view last = trim(comma == std::string_view::npos ? te : te.substr(comma + 1));
        if (!iequals(last, "chunked")) return {400, "Transfer-Encoding without final chunked"};
        if (comma != std::string_view::npos) return {501, "unsupported Transfer-Encoding"};
    }

    if (head.framing == BodyFraming::content_length && head.content_length > max_body_bytes) {
        return {413, "request body too large"};
    }
    return {};
}

bool split_absolute_form(std::string_view target, std::string_view& authority, std::string_view& path) {
    size_t scheme_end = target.find("://");
    if (scheme_end == std::string_view::npos) return false;
    std::string_view scheme = target.substr(0, scheme_end);
    if (!iequals(scheme, "http") && !iequals(scheme, "https")) return false;
    std::string_view rest = target.substr(scheme_end + 3);
    size_t slash = rest.find_first_of("/?");
    authority = rest.substr(0, slash);
    if (authority.empty() || authority.find('@') != std::string_view::npos) return false;
    path = slash == std::string_view::npos ? std::string_view("/") : rest.substr(slash);
    return true;
}

bool is_idempotent(int method) {
    switch (method) {
        case HTTP_GET: case HTTP_HEAD: case HTTP_OPTIONS: case HTTP_PUT: case HTTP_DELETE: case HTTP_TRACE:
            return true;
        default:
            return false;
    }
}

}  // namespace portico::proxy
