// Builders for every message the pooler writes itself: to clients (authentication, parameter
// status, its own BackendKeyData, errors, synthesised ParseComplete/CloseComplete) and to servers
// (its own Query/Parse/Close/Sync, renamed statements, cancels). Each appends one message to `out`,
// so a reply is built in one buffer and written with one write.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "pool/backend.hpp"
#include "pool/frontend.hpp"
#include "pool/protocol.hpp"
#include "pool/startup.hpp"

namespace portico::pool {

// ---- to clients (backend messages) ----

void append_auth_ok(std::string& out);
void append_auth_cleartext_password(std::string& out);
void append_auth_md5_password(std::string& out, std::string_view salt);  // 4 bytes
void append_auth_sasl(std::string& out, std::span<const std::string_view> mechanisms);
void append_auth_sasl_continue(std::string& out, std::string_view data);
void append_auth_sasl_final(std::string& out, std::string_view data);
void append_parameter_status(std::string& out, std::string_view name, std::string_view value);
void append_backend_key_data(std::string& out, int32_t process_id, std::string_view secret_key);
void append_ready_for_query(std::string& out, TransactionStatus status);

struct ErrorDescription {
    std::string_view severity = "ERROR";  // ERROR, FATAL, PANIC; WARNING, NOTICE… for notices
    std::string_view sqlstate;
    std::string_view message;
    std::string_view detail;  // optional: omitted when empty
    std::string_view hint;    // optional: omitted when empty
};
// Writes S and V (both the unlocalized severity, as a server with lc_messages=C does), C, M, and
// D / H when given.
void append_error_response(std::string& out, const ErrorDescription& error);
void append_notice_response(std::string& out, const ErrorDescription& notice);
// The error for a codec failure: FATAL with its SQLSTATE and message, then the pooler closes.
void append_protocol_error(std::string& out, const ProtocolError& error);

void append_negotiate_protocol_version(std::string& out, uint32_t newest_minor,
                                       std::span<const std::string_view> unrecognized_options);
void append_parse_complete(std::string& out);
void append_bind_complete(std::string& out);
void append_close_complete(std::string& out);
void append_command_complete(std::string& out, std::string_view tag);
// The single byte that refuses SSLRequest and GSSENCRequest (not a message: no type, no length).
void append_encryption_refused(std::string& out);

// ---- to servers (frontend messages) ----

void append_query(std::string& out, std::string_view sql);
void append_parse(std::string& out, std::string_view statement, std::string_view query,
                  std::span<const uint32_t> param_types = {});
// A Parse or Bind that names another statement: the rest of the message is copied byte for byte.
void append_parse_renamed(std::string& out, const Parse& parse, std::string_view statement);
void append_bind_renamed(std::string& out, const Bind& bind, std::string_view statement);
// A Bind with text parameters and text results, for the pooler's own statements (no NULLs).
void append_bind(std::string& out, std::string_view portal, std::string_view statement,
                 std::span<const std::string_view> text_params = {});
void append_describe(std::string& out, TargetKind kind, std::string_view name);
void append_close(std::string& out, TargetKind kind, std::string_view name);
void append_execute(std::string& out, std::string_view portal, int32_t max_rows = 0);
void append_sync(std::string& out);
void append_flush(std::string& out);
void append_terminate(std::string& out);
void append_password_message(std::string& out, std::string_view password);
void append_sasl_initial_response(std::string& out, std::string_view mechanism, std::string_view data);
void append_sasl_response(std::string& out, std::string_view data);
void append_copy_data(std::string& out, std::string_view data);
void append_copy_done(std::string& out);
void append_copy_fail(std::string& out, std::string_view message);

// Startup-phase packets (no type byte).
void append_startup_message(std::string& out, std::span<const StartupParam> params,
                            uint32_t protocol = kProtocol30);
void append_ssl_request(std::string& out);
void append_gssenc_request(std::string& out);
void append_cancel_request(std::string& out, int32_t process_id, std::string_view secret_key);

}  // namespace portico::pool
