// Shared by the Postgres fuzz targets: the codec's parsers for a message of either direction (each
// parser the pooler has, called for the type it is meant for), and the check that a byte stream the
// pooler writes frames cleanly as messages.
#pragma once

#include <string>
#include <string_view>

#include "pool/backend.hpp"
#include "pool/frontend.hpp"
#include "pool/message_reader.hpp"
#include "tests/fuzz/fuzz_support.hpp"

namespace portico::fuzz {

// A whole frontend message through the parser for its type; a parsed value is checked against the
// body it came from (views inside it, names without NULs).
inline void decode_frontend(const pool::Message& m) {
    using namespace pool;
    auto inside = [&](std::string_view v) {
        if (!v.empty()) FUZZ_CHECK(v.data() >= m.body.data() && v.data() + v.size() <= m.body.data() + m.body.size());
    };
    switch (m.type) {
        case frontend::kQuery:
            if (auto q = parse_query(m.body)) inside(q->sql);
            break;
        case frontend::kParse:
            if (auto p = parse_parse(m.body)) {
                inside(p->statement);
                inside(p->query);
                inside(p->after_statement);
                FUZZ_CHECK(p->statement.find('\0') == std::string_view::npos);
                FUZZ_CHECK(p->statement_offset + p->statement.size() <= m.body.size());
            }
            break;
        case frontend::kBind:
            if (auto b = parse_bind(m.body)) {
                inside(b->portal);
                inside(b->statement);
                inside(b->after_statement);
                FUZZ_CHECK(b->statement_offset + b->statement.size() <= m.body.size());
                FUZZ_CHECK(b->portal_offset + b->portal.size() <= m.body.size());
            }
            break;
        case frontend::kDescribe:
            if (auto d = parse_describe(m.body)) inside(d->name);
            break;
        case frontend::kClose:
            if (auto c = parse_close(m.body)) inside(c->name);
            break;
        case frontend::kExecute:
            if (auto e = parse_execute(m.body)) inside(e->portal);
            break;
        case frontend::kSync:
        case frontend::kFlush:
        case frontend::kTerminate:
        case frontend::kCopyDone:
            if (parse_empty(m.type, m.body)) FUZZ_CHECK(m.body.empty());
            break;
        case frontend::kCopyFail:
            if (auto f = parse_copy_fail(m.body)) inside(f->message);
            break;
        case frontend::kPassword:
            (void)parse_password_message(m.body);
            (void)parse_sasl_initial_response(m.body);
            (void)parse_sasl_response(m.body);
            break;
        default:
            break;
    }
}

// A whole backend message through the parser for its type.
inline void decode_backend(const pool::Message& m) {
    using namespace pool;
    switch (m.type) {
        case backend::kAuthentication:
            if (auto a = parse_authentication(m.body); a && a->code == AuthCode::md5_password) {
                FUZZ_CHECK(a->md5_salt.size() == 4);
            }
            break;
        case backend::kParameterStatus:
            (void)parse_parameter_status(m.body);
            break;
        case backend::kBackendKeyData:
            if (auto k = parse_backend_key_data(m.body)) FUZZ_CHECK(k->secret_key.size() <= kMaxCancelKey);
            break;
        case backend::kReadyForQuery:
            if (auto r = parse_ready_for_query(m.body)) {
                char s = char(r->status);
                FUZZ_CHECK(s == 'I' || s == 'T' || s == 'E');
            }
            break;
        case backend::kErrorResponse:
        case backend::kNoticeResponse:
            if (auto e = parse_error_fields(m.body)) {
                for (const auto& [code, value] : e->fields) {
                    FUZZ_CHECK(code != '\0');
                    FUZZ_CHECK(value.find('\0') == std::string_view::npos);
                }
                (void)e->sqlstate();
                (void)e->message();
            }
            break;
        case backend::kNegotiateProtocolVersion:
            (void)parse_negotiate_protocol_version(m.body);
            break;
        case backend::kCommandComplete:
            (void)parse_command_complete(m.body);
            break;
        case backend::kNotificationResponse:
            (void)parse_notification_response(m.body);
            break;
        case backend::kCopyInResponse:
        case backend::kCopyOutResponse:
        case backend::kCopyBothResponse:
            if (auto c = parse_copy_response(m.body)) FUZZ_CHECK(c->format <= 1);
            break;
        case backend::kParseComplete:
        case backend::kBindComplete:
        case backend::kCloseComplete:
        case backend::kNoData:
        case backend::kEmptyQueryResponse:
        case backend::kPortalSuspended:
            (void)parse_empty(m.type, m.body);
            break;
        default:
            break;
    }
}

// `stream` (what the pooler wrote to a server or a client) is a run of typed messages: no length
// word below 4, and, when `complete`, nothing left over after the last one.
inline void check_framing(std::string_view stream, bool complete, const char* what) {
    pool::ReaderLimits limits;
    limits.max_message = size_t(1) << 31;
    pool::MessageReader reader(pool::Phase::typed, limits);
    reader.feed(stream);
    pool::Message m;
    pool::MessageReader::Status s;
    while ((s = reader.next(m)) == pool::MessageReader::Status::message) {
    }
    if (s == pool::MessageReader::Status::error || (complete && reader.pending() != 0)) {
        std::fprintf(stderr, "%s does not frame (%s, %zu bytes left)\n", what, reader.error().message.c_str(),
                     reader.pending());
    }
    FUZZ_CHECK(s != pool::MessageReader::Status::error);
    if (complete) FUZZ_CHECK(reader.pending() == 0);
}

}  // namespace portico::fuzz
