// Parsers for the backend (server → client) messages the pooler must look inside: authentication
// while it logs in to a server, and the state a server reports (ReadyForQuery, ParameterStatus,
// BackendKeyData, errors, COPY). Bodies in, views out; trailing bytes are an error.
#pragma once

#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include "pool/protocol.hpp"

namespace portico::pool {

// Authentication request codes (the int32 after 'R').
enum class AuthCode : int32_t {
    ok = 0,
    kerberos_v5 = 2,
    cleartext_password = 3,
    md5_password = 5,
    gss = 7,
    gss_continue = 8,
    sspi = 9,
    sasl = 10,
    sasl_continue = 11,
    sasl_final = 12,
};

struct Authentication {
    AuthCode code = AuthCode::ok;
    std::string_view md5_salt;                     // 4 bytes, for md5_password
    std::vector<std::string_view> sasl_mechanisms;  // for sasl
    std::string_view data;                         // sasl_continue / sasl_final / gss_continue payload
};
// Known codes with their layouts; an unknown code is malformed.
Parsed<Authentication> parse_authentication(std::string_view body);

struct ParameterStatus {
    std::string_view name;
    std::string_view value;
};
Parsed<ParameterStatus> parse_parameter_status(std::string_view body);

struct BackendKeyData {
    int32_t process_id = 0;
    std::string_view secret_key;  // 4 bytes (3.0) up to kMaxCancelKey (3.2)
};
Parsed<BackendKeyData> parse_backend_key_data(std::string_view body);

// Transaction status after a command cycle.
enum class TransactionStatus : char { idle = 'I', in_transaction = 'T', failed = 'E' };
struct ReadyForQuery {
    TransactionStatus status = TransactionStatus::idle;
};
Parsed<ReadyForQuery> parse_ready_for_query(std::string_view body);

// ErrorResponse and NoticeResponse: (code byte, string) pairs, ended by a zero byte.
struct ErrorFields {
    std::vector<std::pair<char, std::string_view>> fields;  // as sent, in order

    // The field's value, or "" when absent.
    std::string_view get(char code) const;
    std::string_view severity() const { return get('S'); }   // localized
    std::string_view severity_nonlocalized() const { return get('V'); }
    std::string_view sqlstate() const { return get('C'); }
    std::string_view message() const { return get('M'); }
    std::string_view detail() const { return get('D'); }
    std::string_view hint() const { return get('H'); }
};
Parsed<ErrorFields> parse_error_fields(std::string_view body);  // ErrorResponse or NoticeResponse

struct NegotiateProtocolVersion {
    uint32_t newest_minor = 0;
    std::vector<std::string_view> unrecognized_options;
};
Parsed<NegotiateProtocolVersion> parse_negotiate_protocol_version(std::string_view body);

struct CommandComplete {
    std::string_view tag;  // "SELECT 3", "INSERT 0 1", "BEGIN"…
};
Parsed<CommandComplete> parse_command_complete(std::string_view body);

struct NotificationResponse {
    int32_t process_id = 0;
    std::string_view channel;
    std::string_view payload;
};
Parsed<NotificationResponse> parse_notification_response(std::string_view body);

// CopyInResponse ('G'), CopyOutResponse ('H'), CopyBothResponse ('W').
struct CopyResponse {
    uint8_t format = 0;                   // 0 text, 1 binary
    std::vector<int16_t> column_formats;  // one per column
};
Parsed<CopyResponse> parse_copy_response(std::string_view body);

// ParseComplete, BindComplete, CloseComplete, NoData… carry nothing: see parse_empty
// (frontend.hpp). CopyData's body is the data itself; CopyDone is empty; CopyFail's parser is in
// frontend.hpp (only a client sends it).

}  // namespace portico::pool
