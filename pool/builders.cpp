// Message builders: a type byte, a patched length word, the fields in wire order.
#include "pool/builders.hpp"

#include "pool/wire.hpp"

namespace portico::pool {

using namespace wire;

namespace {

void empty_message(std::string& out, char type) {
    out.push_back(type);
    put_u32(out, 4);
}

void auth(std::string& out, AuthCode code, std::string_view payload = {}) {
    size_t at = begin_message(out, backend::kAuthentication);
    put_i32(out, int32_t(code));
    out.append(payload);
    finish_message(out, at);
}

void error_like(std::string& out, char type, const ErrorDescription& e) {
    size_t at = begin_message(out, type);
    auto field = [&](char code, std::string_view value) {
        out.push_back(code);
        put_cstring(out, value);
    };
    field('S', e.severity);
    field('V', e.severity);
    field('C', e.sqlstate);
    field('M', e.message);
    if (!e.detail.empty()) field('D', e.detail);
    if (!e.hint.empty()) field('H', e.hint);
    out.push_back('\0');
    finish_message(out, at);
}

void target(std::string& out, char type, TargetKind kind, std::string_view name) {
    size_t at = begin_message(out, type);
    out.push_back(char(kind));
    put_cstring(out, name);
    finish_message(out, at);
}

void one_string(std::string& out, char type, std::string_view s) {
    size_t at = begin_message(out, type);
    put_cstring(out, s);
    finish_message(out, at);
}

}  // namespace

void append_auth_ok(std::string& out) { auth(out, AuthCode::ok); }
void append_auth_cleartext_password(std::string& out) { auth(out, AuthCode::cleartext_password); }
void append_auth_md5_password(std::string& out, std::string_view salt) { auth(out, AuthCode::md5_password, salt); }

void append_auth_sasl(std::string& out, std::span<const std::string_view> mechanisms) {
    size_t at = begin_message(out, backend::kAuthentication);
    put_i32(out, int32_t(AuthCode::sasl));
    for (std::string_view m : mechanisms) put_cstring(out, m);
    out.push_back('\0');
    finish_message(out, at);
}

void append_auth_sasl_continue(std::string& out, std::string_view data) { auth(out, AuthCode::sasl_continue, data); }
void append_auth_sasl_final(std::string& out, std::string_view data) { auth(out, AuthCode::sasl_final, data); }

void append_parameter_status(std::string& out, std::string_view name, std::string_view value) {
    size_t at = begin_message(out, backend::kParameterStatus);
    put_cstring(out, name);
    put_cstring(out, value);
    finish_message(out, at);
}

void append_backend_key_data(std::string& out, int32_t process_id, std::string_view secret_key) {
    size_t at = begin_message(out, backend::kBackendKeyData);
    put_i32(out, process_id);
    out.append(secret_key);
    finish_message(out, at);
}

void append_ready_for_query(std::string& out, TransactionStatus status) {
    out.push_back(backend::kReadyForQuery);
    put_u32(out, 5);
    out.push_back(char(status));
}

void append_error_response(std::string& out, const ErrorDescription& error) {
    error_like(out, backend::kErrorResponse, error);
}
void append_notice_response(std::string& out, const ErrorDescription& notice) {
    error_like(out, backend::kNoticeResponse, notice);
}
void append_protocol_error(std::string& out, const ProtocolError& error) {
    ErrorDescription e;
    e.severity = "FATAL";
    e.sqlstate = sqlstate_of(error);
    e.message = error.message;
    append_error_response(out, e);
}

void append_negotiate_protocol_version(std::string& out, uint32_t newest_minor,
                                       std::span<const std::string_view> unrecognized_options) {
    size_t at = begin_message(out, backend::kNegotiateProtocolVersion);
    put_u32(out, newest_minor);
    put_u32(out, uint32_t(unrecognized_options.size()));
    for (std::string_view o : unrecognized_options) put_cstring(out, o);
    finish_message(out, at);
}

void append_parse_complete(std::string& out) { empty_message(out, backend::kParseComplete); }
void append_bind_complete(std::string& out) { empty_message(out, backend::kBindComplete); }
void append_close_complete(std::string& out) { empty_message(out, backend::kCloseComplete); }
void append_command_complete(std::string& out, std::string_view tag) { one_string(out, backend::kCommandComplete, tag); }
void append_encryption_refused(std::string& out) { out.push_back('N'); }

void append_query(std::string& out, std::string_view sql) { one_string(out, frontend::kQuery, sql); }

void append_parse(std::string& out, std::string_view statement, std::string_view query,
                  std::span<const uint32_t> param_types) {
    size_t at = begin_message(out, frontend::kParse);
    put_cstring(out, statement);
    put_cstring(out, query);
    put_u16(out, uint16_t(param_types.size()));
    for (uint32_t oid : param_types) put_u32(out, oid);
    finish_message(out, at);
}

void append_parse_renamed(std::string& out, const Parse& parse, std::string_view statement) {
    size_t at = begin_message(out, frontend::kParse);
    put_cstring(out, statement);
    out.append(parse.after_statement);
    finish_message(out, at);
}

void append_bind_renamed(std::string& out, const Bind& bind, std::string_view statement) {
    size_t at = begin_message(out, frontend::kBind);
    put_cstring(out, bind.portal);
    put_cstring(out, statement);
    out.append(bind.after_statement);
    finish_message(out, at);
}

void append_bind(std::string& out, std::string_view portal, std::string_view statement,
                 std::span<const std::string_view> text_params) {
    size_t at = begin_message(out, frontend::kBind);
    put_cstring(out, portal);
    put_cstring(out, statement);
    put_u16(out, 0);  // no format codes: all parameters are text
    put_u16(out, uint16_t(text_params.size()));
    for (std::string_view p : text_params) {
        put_u32(out, uint32_t(p.size()));
        out.append(p);
    }
    put_u16(out, 0);  // results in text
    finish_message(out, at);
}

void append_describe(std::string& out, TargetKind kind, std::string_view name) {
    target(out, frontend::kDescribe, kind, name);
}
void append_close(std::string& out, TargetKind kind, std::string_view name) { target(out, frontend::kClose, kind, name); }

void append_execute(std::string& out, std::string_view portal, int32_t max_rows) {
    size_t at = begin_message(out, frontend::kExecute);
    put_cstring(out, portal);
    put_i32(out, max_rows);
    finish_message(out, at);
}

void append_sync(std::string& out) { empty_message(out, frontend::kSync); }
void append_flush(std::string& out) { empty_message(out, frontend::kFlush); }
void append_terminate(std::string& out) { empty_message(out, frontend::kTerminate); }
void append_password_message(std::string& out, std::string_view password) {
    one_string(out, frontend::kPassword, password);
}

void append_sasl_initial_response(std::string& out, std::string_view mechanism, std::string_view data) {
    size_t at = begin_message(out, frontend::kPassword);
    put_cstring(out, mechanism);
    put_u32(out, uint32_t(data.size()));
    out.append(data);
    finish_message(out, at);
}

void append_sasl_response(std::string& out, std::string_view data) {
    size_t at = begin_message(out, frontend::kPassword);
    out.append(data);
    finish_message(out, at);
}

void append_copy_data(std::string& out, std::string_view data) {
    size_t at = begin_message(out, frontend::kCopyData);
    out.append(data);
    finish_message(out, at);
}
void append_copy_done(std::string& out) { empty_message(out, frontend::kCopyDone); }
void append_copy_fail(std::string& out, std::string_view message) { one_string(out, frontend::kCopyFail, message); }

void append_startup_message(std::string& out, std::span<const StartupParam> params, uint32_t protocol) {
    size_t at = begin_message(out, 0);
    put_u32(out, protocol);
    for (const StartupParam& p : params) {
        put_cstring(out, p.name);
        put_cstring(out, p.value);
    }
    out.push_back('\0');
    finish_message(out, at);
}

void append_ssl_request(std::string& out) {
    put_u32(out, 8);
    put_u32(out, kSslRequestCode);
}
void append_gssenc_request(std::string& out) {
    put_u32(out, 8);
    put_u32(out, kGssEncRequestCode);
}

void append_cancel_request(std::string& out, int32_t process_id, std::string_view secret_key) {
    size_t at = begin_message(out, 0);
    put_u32(out, kCancelRequestCode);
    put_i32(out, process_id);
    out.append(secret_key);
    finish_message(out, at);
}

}  // namespace portico::pool
