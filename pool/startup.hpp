// The untyped packets a client may send before its StartupMessage: StartupMessage itself,
// SSLRequest, GSSENCRequest and CancelRequest (protocol-message-formats).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "pool/protocol.hpp"

namespace portico::pool {

struct StartupParam {
    std::string_view name;
    std::string_view value;
};

struct StartupMessage {
    uint32_t protocol = kProtocol30;
    std::vector<StartupParam> params;  // as sent, in order (duplicates kept)
    // The parameters the pooler acts on (the last one wins when repeated, as in Postgres).
    std::string_view user;              // never empty: a packet without it is refused (28000)
    std::string_view database;          // defaults to `user`, as in Postgres
    std::string_view application_name;
    std::string_view options;           // command-line options for the backend ("-c x=y")
    std::string_view replication;       // non-empty for a replication connection
    // Names starting with "_pq_." are protocol options, not GUCs: unless the pooler implements them
    // it lists them in NegotiateProtocolVersion (Postgres 18 does the same).
    std::vector<std::string_view> protocol_options;

    uint16_t major() const { return protocol_major(protocol); }
    uint16_t minor() const { return protocol_minor(protocol); }
    // The value of the last parameter called `name`, if any.
    std::optional<std::string_view> find(std::string_view name) const;
};

struct CancelRequest {
    int32_t process_id = 0;
    std::string_view secret_key;  // 4 bytes in protocol 3.0; up to kMaxCancelKey in 3.2
};

enum class StartupKind : uint8_t { startup, ssl_request, gssenc_request, cancel_request };

struct StartupPacket {
    StartupKind kind = StartupKind::startup;
    StartupMessage startup;  // for kind == startup
    CancelRequest cancel;    // for kind == cancel_request
};

// PostgreSQL 17's sslnegotiation=direct starts with a TLS ClientHello (record type 0x16) instead of
// SSLRequest. Any valid first packet starts with 0 (the high byte of a length ≤ 10000), so the
// reader would call this oversize; checking the first byte first lets the pooler close quietly
// (as Postgres without TLS does) instead of writing an ErrorResponse into a TLS handshake.
inline bool is_direct_tls_handshake(std::string_view first_bytes) {
    return !first_bytes.empty() && first_bytes[0] == '\x16';
}

// Interprets a startup-phase packet's body (after its length word). A StartupMessage must be
// major version 3 (else unsupported_protocol, 0A000); its minor version is returned as sent, for
// the pooler to answer with NegotiateProtocolVersion when it is above what it speaks. Layout
// errors are 08P01, a missing user 28000, each with Postgres's message.
Parsed<StartupPacket> parse_startup_packet(std::string_view body);

}  // namespace portico::pool
