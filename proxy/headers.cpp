// Head serialisation for both directions; see headers.hpp.
#include "proxy/headers.hpp"

#include <fmt/format.h>
#include <vector>

#include "proxy/request_checks.hpp"

namespace portico::proxy {

namespace {


std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

// The field names a message's Connection headers list (beyond close / keep-alive): collected once
// per message so that checking each field costs nothing when, as usual, there are none.
class ConnectionTokens {
public:
    explicit ConnectionTokens(const MessageHead& head) {
        for (size_t i = 0; i < head.header_count(); ++i) {
            if (head.header_id(i) != FieldId::connection) continue;
            std::string_view list = head.header_value(i);
            while (!list.empty()) {
                size_t comma = list.find(',');
                std::string_view token = trim(list.substr(0, comma));
                if (!token.empty() && !iequals(token, "close") && !iequals(token, "keep-alive")) {
                    tokens_.push_back(token);
                }
                if (comma == std::string_view::npos) break;
                list.remove_prefix(comma + 1);
            }
        }
    }
    bool contains(std::string_view name) const {
        for (auto token : tokens_) {
            if (iequals(token, name)) return true;
        }
        return false;
    }

private:
    std::vector<std::string_view> tokens_;  // empty (no allocation) for almost every message
};

void append_header(std::string& out, std::string_view name, std::string_view value) {
    out.append(name);
    out.append(": ");
    out.append(value);
    out.append("\r\n");
}

// "HTTP/1.1 200 OK": the upstream's reason phrase kept, ours when it sent none.
void append_status_line(std::string& out, const MessageHead& response) {
    out.append("HTTP/1.1 ");
    out.append(fmt::format_int(response.status).str());
    out.push_back(' ');
    std::string_view reason = response.reason();
    out.append(reason.empty() ? reason_phrase(response.status) : reason);
    out.append("\r\n");
}

void append_content_length(std::string& out, uint64_t length) {
    out.append("Content-Length: ");
    out.append(fmt::format_int(length).str());
    out.append("\r\n");
}

// "1.234" without going through floating-point formatting on every response.
void append_millis(std::string& out, double ms) {
    auto micros = static_cast<uint64_t>(ms < 0 ? 0 : ms * 1000.0 + 0.5);
    out.append(fmt::format_int(micros / 1000).str());
    char frac[4] = {'.', static_cast<char>('0' + micros % 1000 / 100), static_cast<char>('0' + micros % 100 / 10),
                    static_cast<char>('0' + micros % 10)};
    out.append(frac, 4);
}

// X-Request-ID, Portico's extra fields, framing and Connection: the fields every response to a
// client ends with, proxied or served from the cache.
void append_tail_fields(std::string& out, int status, const ClientResponseContext& context) {
    append_header(out, "X-Request-ID", context.request_id);
    out.append(context.extra_headers);
    switch (context.framing) {
        case ClientFraming::content_length:
            append_content_length(out, context.content_length);
            break;
        case ClientFraming::chunked:
            out.append("Transfer-Encoding: chunked\r\n");
            break;
        case ClientFraming::none:
            // A response with no body still states its length unless the status forbids it.
            if (status >= 200 && status != 204 && status != 304) append_content_length(out, context.content_length);
            break;
        case ClientFraming::until_close:
            break;
    }
    if (context.close) {
        out.append("Connection: close\r\n");
    } else if (context.keep_alive_1_0) {
        out.append("Connection: keep-alive\r\n");
    }
}

}  // namespace

bool is_hop_by_hop(const MessageHead& head, std::string_view name) {
    return always_hop_by_hop(classify_field(name)) || ConnectionTokens(head).contains(name);
}

void build_upstream_request(std::string& out, const MessageHead& request,
                            const UpstreamRequestContext& context) {
    std::string_view target = request.target();
    std::string_view host = request.find(FieldId::host);
    std::string_view authority, path;
    if (target.front() != '/' && target != "*" && split_absolute_form(target, authority, path)) {
        target = path;
        host = authority;  // RFC 9112 §3.2.2: the target's authority replaces Host
    }
    out.append(llhttp_method_name(static_cast<llhttp_method_t>(request.method)));
    out.push_back(' ');
    if (!target.empty() && target.front() == '?') out.push_back('/');
    out.append(target);
    out.append(" HTTP/1.1\r\n");

    std::string_view forwarded_for, forwarded_proto, forwarded_host;
    ConnectionTokens connection_tokens(request);
    for (size_t i = 0; i < request.header_count(); ++i) {
        FieldId id = request.header_id(i);
        std::string_view value = request.header_value(i);
        switch (id) {
            // Framing is ours to set, and these are rewritten below.
            case FieldId::content_length:
            case FieldId::host:
            case FieldId::expect:
            case FieldId::x_real_ip:
            case FieldId::x_request_id:
                continue;
            case FieldId::x_forwarded_for:
                forwarded_for = value;
                continue;
            case FieldId::x_forwarded_proto:
                forwarded_proto = value;
                continue;
            case FieldId::x_forwarded_host:
                forwarded_host = value;
                continue;
            case FieldId::if_none_match:
            case FieldId::if_modified_since:
            case FieldId::if_match:
            case FieldId::if_unmodified_since:
            case FieldId::if_range:
                if (context.drop_conditionals) continue;
                break;
            default:
                break;
        }
        std::string_view name = request.header_name(i);
        if (always_hop_by_hop(id) || connection_tokens.contains(name)) continue;
        append_header(out, name, value);
    }
    out.append(context.extra_headers);
    append_header(out, "Host", host.empty() ? context.default_host : trim(host));

    // The chain is passed on with the peer appended (as nginx's $proxy_add_x_forwarded_for);
    // only its rightmost entry is ours. Proto and Host are believed from trusted peers only.
    out.append("X-Forwarded-For: ");
    if (!forwarded_for.empty()) {
        out.append(trim(forwarded_for));
        out.append(", ");
    }
    out.append(context.peer_ip);
    out.append("\r\n");
    append_header(out, "X-Forwarded-Proto",
                  context.peer_trusted && !forwarded_proto.empty() ? trim(forwarded_proto) : context.proto);
    std::string_view fwd_host = context.peer_trusted && !forwarded_host.empty() ? trim(forwarded_host) : trim(host);
    if (!fwd_host.empty()) append_header(out, "X-Forwarded-Host", fwd_host);
    append_header(out, "X-Real-IP", context.client_ip);
    append_header(out, "X-Request-ID", context.request_id);

    switch (request.framing) {
        case BodyFraming::content_length:
            append_content_length(out, request.content_length);
            break;
        case BodyFraming::chunked:
            out.append("Transfer-Encoding: chunked\r\n");
            break;
        default:
            // Methods that normally carry a body get an explicit empty one, as nginx does.
            if (request.method == HTTP_POST || request.method == HTTP_PUT || request.method == HTTP_PATCH) {
                out.append("Content-Length: 0\r\n");
            }
            break;
    }
    out.append("\r\n");
}

void build_client_response(std::string& out, const MessageHead& response,
                           const ClientResponseContext& context) {
    append_status_line(out, response);
    ConnectionTokens connection_tokens(response);
    std::string_view app_timing;
    for (size_t i = 0; i < response.header_count(); ++i) {
        FieldId id = response.header_id(i);
        if (id == FieldId::content_length || id == FieldId::x_request_id || always_hop_by_hop(id) ||
            for_portico_only(id)) {
            continue;
        }
        if (id == FieldId::server_timing) {
            if (app_timing.empty()) app_timing = response.header_value(i);
            continue;
        }
        std::string_view name = response.header_name(i);
        if (connection_tokens.contains(name)) continue;
        append_header(out, name, response.header_value(i));
    }
    // Keep the app's own Server-Timing entries and add ours in front.
    out.append("Server-Timing: portico;dur=");
    append_millis(out, context.portico_ms);
    out.append(", upstream;dur=");
    append_millis(out, context.upstream_ms);
    if (!app_timing.empty()) {
        out.append(", ");
        out.append(app_timing);
    }
    out.append("\r\n");
    append_tail_fields(out, response.status, context);
    out.append("\r\n");
}

void build_cached_response_head(std::string& out, int status, std::string_view stored_fields,
                                const ClientResponseContext& context, bool omit_length) {
    out.append("HTTP/1.1 ");
    out.append(fmt::format_int(status).str());
    out.push_back(' ');
    out.append(reason_phrase(status));
    out.append("\r\n");
    out.append(stored_fields);
    out.append("Server-Timing: portico;dur=");
    append_millis(out, context.portico_ms);
    out.append("\r\n");
    ClientResponseContext tail = context;
    if (omit_length) tail.framing = ClientFraming::until_close;  // writes no framing field
    append_tail_fields(out, status, tail);
    out.append("\r\n");
}

void build_interim_response(std::string& out, const MessageHead& response) {
    append_status_line(out, response);
    ConnectionTokens connection_tokens(response);
    for (size_t i = 0; i < response.header_count(); ++i) {
        FieldId id = response.header_id(i);
        std::string_view name = response.header_name(i);
        // Portico-only fields (purge tags, targeted cache fields) are no more the client's on a 103
        // than on the final response (found by fuzz_http_response).
        if (always_hop_by_hop(id) || id == FieldId::content_length || for_portico_only(id) ||
            connection_tokens.contains(name)) {
            continue;
        }
        append_header(out, name, response.header_value(i));
    }
    out.append("\r\n");
}

void build_local_response(std::string& out, int status, std::string_view detail,
                          std::string_view request_id, bool close, std::string_view extra_headers,
                          bool head_only) {
    std::string body = fmt::format("{} {}{}{}\n", status, reason_phrase(status), detail.empty() ? "" : ": ",
                                   detail);
    build_local_answer(out, status, "text/plain; charset=utf-8", body, request_id, close, extra_headers, head_only);
}

void build_local_answer(std::string& out, int status, std::string_view content_type, std::string_view body,
                        std::string_view request_id, bool close, std::string_view extra_headers, bool head_only) {
    out.append(fmt::format("HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n", status,
                           reason_phrase(status), content_type, body.size()));
    if (!request_id.empty()) append_header(out, "X-Request-ID", request_id);
    out.append(extra_headers);
    if (close) out.append("Connection: close\r\n");
    out.append("\r\n");
    if (!head_only) out.append(body);
}

void append_json_escaped(std::string& out, std::string_view text) {
    for (char c : text) {
        if (c == '"' || c == '\\') {
            out.push_back('\\');
            out.push_back(c);
        } else if (static_cast<unsigned char>(c) < 0x20) {
            out.append(fmt::format("\\u{:04x}", static_cast<unsigned char>(c)));
        } else {
            out.push_back(c);
        }
    }
}

std::string_view reason_phrase(int status) {
    switch (status) {
        case 100: return "Continue";
        case 103: return "Early Hints";
        case 200: return "OK";
        case 201: return "Created";
        case 204: return "No Content";
        case 206: return "Partial Content";
        case 301: return "Moved Permanently";
        case 302: return "Found";
        case 304: return "Not Modified";
        case 400: return "Bad Request";
        case 401: return "Unauthorized";
        case 403: return "Forbidden";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 408: return "Request Timeout";
        case 411: return "Length Required";
        case 413: return "Content Too Large";
        case 414: return "URI Too Long";
        case 416: return "Range Not Satisfiable";
        case 417: return "Expectation Failed";
        case 429: return "Too Many Requests";
        case 431: return "Request Header Fields Too Large";
        case 500: return "Internal Server Error";
        case 501: return "Not Implemented";
        case 502: return "Bad Gateway";
        case 503: return "Service Unavailable";
        case 504: return "Gateway Timeout";
        case 505: return "HTTP Version Not Supported";
        default: return "Unknown";
    }
}

}  // namespace portico::proxy
