// Startup-phase packets, checked the way Postgres's ProcessStartupPacket checks them.
#include "pool/startup.hpp"

#include <fmt/format.h>

#include "pool/wire.hpp"

namespace portico::pool {

std::optional<std::string_view> StartupMessage::find(std::string_view name) const {
    for (auto it = params.rbegin(); it != params.rend(); ++it)
        if (it->name == name) return it->value;
    return std::nullopt;
}

namespace {

using Result = Parsed<StartupPacket>;

Result parse_cancel(wire::Cursor& in) {
    StartupPacket p;
    p.kind = StartupKind::cancel_request;
    p.cancel.process_id = in.i32();
    // 4 bytes under 3.0; 3.2 lets the server choose up to 256 (the client echoes BackendKeyData).
    if (!in.ok() || in.remaining() < 4 || in.remaining() > kMaxCancelKey)
        return Result::fail(ProtocolErrc::malformed, "invalid length of cancel request packet");
    p.cancel.secret_key = in.rest();
    return Result::ok(std::move(p));
}

Result parse_startup(uint32_t version, wire::Cursor& in) {
    if (protocol_major(version) != 3)
        return Result::fail(ProtocolErrc::unsupported_protocol,
                            fmt::format("unsupported frontend protocol {}.{}: server supports 3.0",
                                        protocol_major(version), protocol_minor(version)));
    StartupPacket p;
    StartupMessage& m = p.startup;
    m.protocol = version;
    // name\0value\0 … \0: the packet must end with the empty name that terminates the list.
    for (;;) {
        std::string_view name = in.cstring();
        if (!in.ok())
            return Result::fail(ProtocolErrc::malformed,
                                "invalid startup packet layout: expected terminator as last byte");
        if (name.empty()) break;
        std::string_view value = in.cstring();
        if (!in.ok())
            return Result::fail(ProtocolErrc::malformed,
                                "invalid startup packet layout: expected terminator as last byte");
        m.params.push_back({name, value});
        if (name == "user") m.user = value;
        else if (name == "database") m.database = value;
        else if (name == "application_name") m.application_name = value;
        else if (name == "options") m.options = value;
        else if (name == "replication") m.replication = value;
        else if (name.starts_with("_pq_.")) m.protocol_options.push_back(name);
    }
    if (!in.at_end())
        return Result::fail(ProtocolErrc::malformed, "invalid startup packet layout: expected terminator as last byte");
    if (m.user.empty())
        return Result::fail(ProtocolErrc::missing_user, "no PostgreSQL user name specified in startup packet");
    if (m.database.empty()) m.database = m.user;
    return Result::ok(std::move(p));
}

}  // namespace

Parsed<StartupPacket> parse_startup_packet(std::string_view body) {
    wire::Cursor in(body);
    uint32_t code = in.u32();
    if (!in.ok()) return Result::fail(ProtocolErrc::invalid_length, "invalid length of startup packet");
    if (code == kSslRequestCode || code == kGssEncRequestCode) {
        // Exactly the code: anything after it is not a request libpq or any driver sends.
        if (!in.at_end()) return Result::fail(ProtocolErrc::malformed, "invalid length of startup packet");
        StartupPacket p;
        p.kind = code == kSslRequestCode ? StartupKind::ssl_request : StartupKind::gssenc_request;
        return Result::ok(std::move(p));
    }
    if (code == kCancelRequestCode) return parse_cancel(in);
    return parse_startup(code, in);
}

}  // namespace portico::pool
