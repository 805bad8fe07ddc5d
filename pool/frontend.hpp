// Parsers for the frontend (client → server) messages the pooler must look inside. Each takes the
// body (Message::body, after the length word) and returns views into it; trailing bytes after the
// last field are an error (08P01), as Postgres's pq_getmsgend makes them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "pool/protocol.hpp"

namespace portico::pool {

struct Query {
    std::string_view sql;
};
Parsed<Query> parse_query(std::string_view body);

// Offsets are from the start of the body; `after_statement` is everything that follows the
// statement name's NUL, so a renamed copy is prefix + new name + after_statement (issue 6).
struct Parse {
    std::string_view statement;  // "" is the unnamed statement
    std::string_view query;
    std::vector<uint32_t> param_types;  // OIDs; 0 = unspecified
    size_t statement_offset = 0;
    std::string_view after_statement;
};
Parsed<Parse> parse_parse(std::string_view body);

struct Bind {
    std::string_view portal;     // "" is the unnamed portal
    std::string_view statement;  // "" is the unnamed statement
    size_t portal_offset = 0;
    size_t statement_offset = 0;
    std::string_view after_statement;  // format codes, parameters, result formats: copied unchanged
    uint16_t param_format_count = 0;
    uint16_t param_count = 0;
    uint16_t result_format_count = 0;
};
// Walks the whole layout (every parameter length) so a malformed Bind is refused here rather than
// forwarded to a server connection it would break.
Parsed<Bind> parse_bind(std::string_view body);

// Describe and Close name a prepared statement ('S') or a portal ('P').
enum class TargetKind : char { statement = 'S', portal = 'P' };
struct Target {
    TargetKind kind = TargetKind::statement;
    std::string_view name;
    size_t name_offset = 1;
};
Parsed<Target> parse_describe(std::string_view body);
Parsed<Target> parse_close(std::string_view body);

struct Execute {
    std::string_view portal;
    int32_t max_rows = 0;  // 0 = no limit
};
Parsed<Execute> parse_execute(std::string_view body);

// Sync, Flush, Terminate, CopyDone (and the backend's ParseComplete, BindComplete, CloseComplete,
// NoData…): the body must be empty.
Parsed<Empty> parse_empty(char type, std::string_view body);

// 'p' means one of three things, known only from the authentication request the client answers.
struct PasswordMessage {
    std::string_view password;  // cleartext, or "md5" + 32 hex digits
};
Parsed<PasswordMessage> parse_password_message(std::string_view body);

struct SaslInitialResponse {
    std::string_view mechanism;
    std::string_view data;  // the client-first message
    bool has_data = false;  // length -1 means none was sent
};
Parsed<SaslInitialResponse> parse_sasl_initial_response(std::string_view body);

struct SaslResponse {
    std::string_view data;  // the whole body
};
Parsed<SaslResponse> parse_sasl_response(std::string_view body);

struct CopyFail {
    std::string_view message;
};
Parsed<CopyFail> parse_copy_fail(std::string_view body);

}  // namespace portico::pool
