// Frontend message layouts (protocol-message-formats), read with a bounds-checked cursor.
#include "pool/frontend.hpp"

#include <fmt/format.h>

#include "pool/wire.hpp"

namespace portico::pool {

namespace {

ProtocolError bad(std::string_view what) {
    return ProtocolError{ProtocolErrc::malformed, fmt::format("invalid {} message format", what)};
}

Parsed<Target> parse_target(std::string_view body, std::string_view what) {
    wire::Cursor in(body);
    uint8_t kind = in.u8();
    std::string_view name = in.cstring();
    if (!in.finished()) return Parsed<Target>::fail(bad(what));
    if (kind != 'S' && kind != 'P')
        return Parsed<Target>::fail(ProtocolErrc::malformed,
                                    fmt::format("invalid {} message subtype {}", what, int(kind)));
    return Parsed<Target>::ok(Target{TargetKind(kind), name, 1});
}

}  // namespace

Parsed<Query> parse_query(std::string_view body) {
    wire::Cursor in(body);
    std::string_view sql = in.cstring();
    if (!in.finished()) return Parsed<Query>::fail(bad("Query"));
    return Parsed<Query>::ok({sql});
}

Parsed<Parse> parse_parse(std::string_view body) {
    wire::Cursor in(body);
    Parse p;
    p.statement = in.cstring();
    size_t after = in.offset();
    p.query = in.cstring();
    int16_t n = in.i16();
    if (!in.ok() || n < 0) return Parsed<Parse>::fail(bad("Parse"));
    p.param_types.reserve(size_t(n));
    for (int16_t i = 0; i < n; ++i) p.param_types.push_back(in.u32());
    if (!in.finished()) return Parsed<Parse>::fail(bad("Parse"));
    p.statement_offset = 0;
    p.after_statement = body.substr(after);
    return Parsed<Parse>::ok(std::move(p));
}

Parsed<Bind> parse_bind(std::string_view body) {
    wire::Cursor in(body);
    Bind b;
    b.portal_offset = 0;
    b.portal = in.cstring();
    b.statement_offset = in.offset();
    b.statement = in.cstring();
    size_t after = in.offset();
    int16_t formats = in.i16();
    if (!in.ok() || formats < 0) return Parsed<Bind>::fail(bad("Bind"));
    in.bytes(2 * size_t(formats));
    int16_t params = in.i16();
    if (!in.ok() || params < 0) return Parsed<Bind>::fail(bad("Bind"));
    // Postgres: as many format codes as parameters, or one for all, or none (text).
    if (formats > 1 && formats != params)
        return Parsed<Bind>::fail(ProtocolErrc::malformed,
                                  fmt::format("bind message has {} parameter formats but {} parameters", formats, params));
    for (int16_t i = 0; i < params && in.ok(); ++i) {
        int32_t len = in.i32();
        if (len < -1) return Parsed<Bind>::fail(bad("Bind"));
        if (len > 0) in.bytes(size_t(len));
    }
    int16_t results = in.i16();
    if (!in.ok() || results < 0) return Parsed<Bind>::fail(bad("Bind"));
    in.bytes(2 * size_t(results));
    if (!in.finished()) return Parsed<Bind>::fail(bad("Bind"));
    b.after_statement = body.substr(after);
    b.param_format_count = uint16_t(formats);
    b.param_count = uint16_t(params);
    b.result_format_count = uint16_t(results);
    return Parsed<Bind>::ok(b);
}

Parsed<Target> parse_describe(std::string_view body) { return parse_target(body, "Describe"); }
Parsed<Target> parse_close(std::string_view body) { return parse_target(body, "Close"); }

Parsed<Execute> parse_execute(std::string_view body) {
    wire::Cursor in(body);
    Execute e;
    e.portal = in.cstring();
    e.max_rows = in.i32();
    if (!in.finished()) return Parsed<Execute>::fail(bad("Execute"));
    return Parsed<Execute>::ok(e);
}

Parsed<Empty> parse_empty(char type, std::string_view body) {
    if (!body.empty())
        return Parsed<Empty>::fail(ProtocolErrc::malformed,
                                   fmt::format("invalid message format: message type 0x{:02x} carries {} unexpected bytes",
                                               uint8_t(type), body.size()));
    return Parsed<Empty>::ok({});
}

Parsed<PasswordMessage> parse_password_message(std::string_view body) {
    wire::Cursor in(body);
    std::string_view password = in.cstring();
    if (!in.finished()) return Parsed<PasswordMessage>::fail(bad("password packet"));
    return Parsed<PasswordMessage>::ok({password});
}

Parsed<SaslInitialResponse> parse_sasl_initial_response(std::string_view body) {
    wire::Cursor in(body);
    SaslInitialResponse r;
    r.mechanism = in.cstring();
    int32_t len = in.i32();
    if (!in.ok() || len < -1) return Parsed<SaslInitialResponse>::fail(bad("SASLInitialResponse"));
    if (len >= 0) {
        r.data = in.bytes(size_t(len));
        r.has_data = true;
    }
    if (!in.finished()) return Parsed<SaslInitialResponse>::fail(bad("SASLInitialResponse"));
    return Parsed<SaslInitialResponse>::ok(r);
}

Parsed<SaslResponse> parse_sasl_response(std::string_view body) { return Parsed<SaslResponse>::ok({body}); }

Parsed<CopyFail> parse_copy_fail(std::string_view body) {
    wire::Cursor in(body);
    std::string_view message = in.cstring();
    if (!in.finished()) return Parsed<CopyFail>::fail(bad("CopyFail"));
    return Parsed<CopyFail>::ok({message});
}

}  // namespace portico::pool
