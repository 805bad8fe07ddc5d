// What the proxy refuses before anything reaches the upstream: each rule names the status it
// answers. Request-smuggling defences live here (with llhttp's strict mode underneath).
#pragma once

#include <llhttp.h>
#include <string_view>

#include "proxy/http_message.hpp"

namespace portico::proxy {

struct Rejection {
    int status = 0;           // 0 = accepted
    std::string_view reason;  // one line for the error body and the log
    explicit operator bool() const { return status != 0; }
};

// A parse error from llhttp → the answer (400 in almost every case; 505 for versions).
Rejection reject_parse_error(llhttp_errno_t error, const char* llhttp_reason);

// Checks a complete request head. `max_body_bytes` lets a declared Content-Length be refused
// (413) before a byte of body is read.
Rejection check_request_head(const MessageHead& head, uint64_t max_body_bytes);

// The request target in origin-form. Absolute-form targets (RFC 9112 §3.2.2) are reduced to
// their path and their authority returned through `authority`.
bool split_absolute_form(std::string_view target, std::string_view& authority, std::string_view& path);

// True for methods whose repetition has the same effect (RFC 9110 §9.2.2): safe to retry.
bool is_idempotent(int method);

}  // namespace portico::proxy
