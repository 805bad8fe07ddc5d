// Backend message layouts (protocol-message-formats), read with a bounds-checked cursor.
#include "pool/backend.hpp"

#include <fmt/format.h>

#include "pool/wire.hpp"

namespace portico::pool {

namespace {
ProtocolError bad(std::string_view what) {
    return ProtocolError{ProtocolErrc::malformed, fmt::format("invalid {} message format", what)};
}
}  // namespace

Parsed<Authentication> parse_authentication(std::string_view body) {
    using R = Parsed<Authentication>;
    wire::Cursor in(body);
    Authentication a;
    int32_t code = in.i32();
    if (!in.ok()) return R::fail(bad("authentication request"));
    a.code = AuthCode(code);
    switch (a.code) {
    case AuthCode::ok:
    case AuthCode::kerberos_v5:
    case AuthCode::cleartext_password:
    case AuthCode::gss:
    case AuthCode::sspi:
        break;
    case AuthCode::md5_password:
        a.md5_salt = in.bytes(4);
        break;
    case AuthCode::sasl:
        // Mechanism names, ended by an empty one.
        for (;;) {
            std::string_view name = in.cstring();
            if (!in.ok() || name.empty()) break;
            a.sasl_mechanisms.push_back(name);
        }
        if (a.sasl_mechanisms.empty()) return R::fail(bad("authentication request"));
        break;
    case AuthCode::gss_continue:
    case AuthCode::sasl_continue:
    case AuthCode::sasl_final:
        a.data = in.rest();
        break;
    default:
        return R::fail(ProtocolErrc::malformed, fmt::format("authentication method {} not supported", code));
    }
    if (!in.finished()) return R::fail(bad("authentication request"));
    return R::ok(std::move(a));
}

Parsed<ParameterStatus> parse_parameter_status(std::string_view body) {
    wire::Cursor in(body);
    ParameterStatus p;
    p.name = in.cstring();
    p.value = in.cstring();
    if (!in.finished()) return Parsed<ParameterStatus>::fail(bad("ParameterStatus"));
    return Parsed<ParameterStatus>::ok(p);
}

Parsed<BackendKeyData> parse_backend_key_data(std::string_view body) {
    wire::Cursor in(body);
    BackendKeyData k;
    k.process_id = in.i32();
    if (!in.ok() || in.remaining() < 4 || in.remaining() > kMaxCancelKey)
        return Parsed<BackendKeyData>::fail(bad("BackendKeyData"));
    k.secret_key = in.rest();
    return Parsed<BackendKeyData>::ok(k);
}

Parsed<ReadyForQuery> parse_ready_for_query(std::string_view body) {
    wire::Cursor in(body);
    uint8_t s = in.u8();
    if (!in.finished() || (s != 'I' && s != 'T' && s != 'E'))
        return Parsed<ReadyForQuery>::fail(bad("ReadyForQuery"));
    return Parsed<ReadyForQuery>::ok({TransactionStatus(s)});
}

std::string_view ErrorFields::get(char code) const {
    for (const auto& [c, v] : fields)
        if (c == code) return v;
    return {};
}

Parsed<ErrorFields> parse_error_fields(std::string_view body) {
    wire::Cursor in(body);
    ErrorFields e;
    for (;;) {
        uint8_t code = in.u8();
        if (!in.ok()) return Parsed<ErrorFields>::fail(bad("error/notice"));
        if (code == 0) break;
        std::string_view value = in.cstring();
        if (!in.ok()) return Parsed<ErrorFields>::fail(bad("error/notice"));
        e.fields.emplace_back(char(code), value);
    }
    if (!in.finished()) return Parsed<ErrorFields>::fail(bad("error/notice"));
    return Parsed<ErrorFields>::ok(std::move(e));
}

Parsed<NegotiateProtocolVersion> parse_negotiate_protocol_version(std::string_view body) {
    wire::Cursor in(body);
    NegotiateProtocolVersion n;
    n.newest_minor = in.u32();
    int32_t count = in.i32();
    if (!in.ok() || count < 0) return Parsed<NegotiateProtocolVersion>::fail(bad("NegotiateProtocolVersion"));
    // Each option takes at least its NUL: a count beyond the bytes left is malformed, not a reserve.
    if (size_t(count) > in.remaining()) return Parsed<NegotiateProtocolVersion>::fail(bad("NegotiateProtocolVersion"));
    for (int32_t i = 0; i < count; ++i) n.unrecognized_options.push_back(in.cstring());
    if (!in.finished()) return Parsed<NegotiateProtocolVersion>::fail(bad("NegotiateProtocolVersion"));
    return Parsed<NegotiateProtocolVersion>::ok(std::move(n));
}

Parsed<CommandComplete> parse_command_complete(std::string_view body) {
    wire::Cursor in(body);
    std::string_view tag = in.cstring();
    if (!in.finished()) return Parsed<CommandComplete>::fail(bad("CommandComplete"));
    return Parsed<CommandComplete>::ok({tag});
}

Parsed<NotificationResponse> parse_notification_response(std::string_view body) {
    wire::Cursor in(body);
    NotificationResponse n;
    n.process_id = in.i32();
    n.channel = in.cstring();
    n.payload = in.cstring();
    if (!in.finished()) return Parsed<NotificationResponse>::fail(bad("NotificationResponse"));
    return Parsed<NotificationResponse>::ok(n);
}

Parsed<CopyResponse> parse_copy_response(std::string_view body) {
    wire::Cursor in(body);
    CopyResponse c;
    c.format = in.u8();
    int16_t n = in.i16();
    if (!in.ok() || n < 0 || c.format > 1 || in.remaining() != 2 * size_t(n))
        return Parsed<CopyResponse>::fail(bad("copy response"));
    c.column_formats.reserve(size_t(n));
    for (int16_t i = 0; i < n; ++i) c.column_formats.push_back(in.i16());
    if (!in.finished()) return Parsed<CopyResponse>::fail(bad("copy response"));
    return Parsed<CopyResponse>::ok(std::move(c));
}

}  // namespace portico::pool
