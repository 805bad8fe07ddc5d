// Building the heads Portico writes: the request to the upstream, the response to the client,
// and Portico's own answers (errors, 100 Continue). Hop-by-hop rules (RFC 9110 §7.6.1) live here.
#pragma once

#include <string>
#include <string_view>

#include "proxy/http_message.hpp"

namespace portico::proxy {

// True for fields that belong to one connection and are never forwarded, including fields that
// the message's own Connection header names.
bool is_hop_by_hop(const MessageHead& head, std::string_view name);

struct UpstreamRequestContext {
    std::string_view client_ip;      // resolved (see client_ip.hpp)
    std::string_view peer_ip;        // the socket peer
    bool peer_trusted = false;       // peer within trusted_proxies: keep its X-Forwarded-*
    std::string_view request_id;
    std::string_view proto = "http";
    std::string_view default_host;   // Host for requests that had none (HTTP/1.0)
    // The cache revalidates with its own validators: the client's conditional fields are left out
    // and `extra_headers` ("If-None-Match: …\r\n") carries the stored entry's instead.
    bool drop_conditionals = false;
    std::string_view extra_headers;  // complete lines, each ending in CRLF
};

// Appends the request line and headers for the upstream (HTTP/1.1, keep-alive) to `out`.
void build_upstream_request(std::string& out, const MessageHead& request,
                            const UpstreamRequestContext& context);

enum class ClientFraming { none, content_length, chunked, until_close };

struct ClientResponseContext {
    std::string_view request_id;
    double portico_ms = 0;   // time in portico until the response head (Server-Timing)
    double upstream_ms = 0;  // time from sending to the upstream until its response head
    ClientFraming framing = ClientFraming::none;
    uint64_t content_length = 0;
    bool close = false;          // Connection: close
    bool keep_alive_1_0 = false; // an HTTP/1.0 client that asked for keep-alive
    std::string_view extra_headers;  // complete lines (X-Cache, Cache-Status…), each ending in CRLF
};

// Fields meant for Portico alone (targeted cache fields, purge tags) never reach the client.
void build_client_response(std::string& out, const MessageHead& response,
                           const ClientResponseContext& context);

// An informational (1xx) response from the upstream, passed on without hop-by-hop fields and
// without the fields meant for Portico alone.
void build_interim_response(std::string& out, const MessageHead& response);

// The first lines of a response served from the cache: status line, the stored field lines
// (`stored_fields`, already without hop-by-hop and Portico-only fields), then Server-Timing,
// X-Request-ID, `extra_headers` (Age, X-Cache, Cache-Status…), framing, Connection and the empty
// line. No framing field with `omit_length` (a 304 states no length).
void build_cached_response_head(std::string& out, int status, std::string_view stored_fields,
                                const ClientResponseContext& context, bool omit_length = false);

// Portico's own complete answer (error pages and the like); a small text body.
void build_local_response(std::string& out, int status, std::string_view detail,
                          std::string_view request_id, bool close,
                          std::string_view extra_headers = {}, bool head_only = false);

// The same with a body and Content-Type of the caller's (the 429's JSON).
void build_local_answer(std::string& out, int status, std::string_view content_type, std::string_view body,
                        std::string_view request_id, bool close, std::string_view extra_headers = {},
                        bool head_only = false);

// `text` as the inside of a JSON string (quotes, backslashes and control characters escaped).
void append_json_escaped(std::string& out, std::string_view text);

std::string_view reason_phrase(int status);

}  // namespace portico::proxy
