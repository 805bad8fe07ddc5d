// The PostgreSQL v3 wire protocol: version and request codes, message type bytes, limits, and the
// error value every parser returns (a SQLSTATE the pooler can answer with, never an exception).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace portico::pool {

// A protocol version is major << 16 | minor (protocol-message-formats: StartupMessage).
constexpr uint32_t protocol_version(uint16_t major, uint16_t minor) { return uint32_t(major) << 16 | minor; }
constexpr uint16_t protocol_major(uint32_t version) { return uint16_t(version >> 16); }
constexpr uint16_t protocol_minor(uint32_t version) { return uint16_t(version & 0xffff); }
inline constexpr uint32_t kProtocol30 = protocol_version(3, 0);  // 196608
inline constexpr uint32_t kProtocol32 = protocol_version(3, 2);  // PostgreSQL 18: longer cancel keys

// Startup-phase packets carry a request code where StartupMessage carries its version.
inline constexpr uint32_t kCancelRequestCode = 80877102;  // 1234 << 16 | 5678
inline constexpr uint32_t kSslRequestCode = 80877103;     // 1234 << 16 | 5679
inline constexpr uint32_t kGssEncRequestCode = 80877104;  // 1234 << 16 | 5680

// Postgres refuses a startup packet longer than this (MAX_STARTUP_PACKET_LENGTH in pqcomm.h).
inline constexpr size_t kMaxStartupPacket = 10000;
// Cancel keys: 4 bytes in protocol 3.0; 3.2 allows up to 256 (BackendKeyData, CancelRequest).
inline constexpr size_t kMaxCancelKey = 256;
// Default cap on one typed message's length word. Postgres allows up to 1 GiB for Query, Parse, Bind
// and CopyData; a pooler that buffers whole messages cannot give every client that, so the default is
// lower and the pooler passes larger messages through by header (peek_typed_header) when it must.
inline constexpr size_t kDefaultMaxMessage = 64 * 1024 * 1024;

// Type bytes. Frontend and backend reuse letters ('D' is Describe one way, DataRow the other), so
// a message is interpreted by its direction, never by the byte alone.
namespace frontend {
inline constexpr char kBind = 'B', kClose = 'C', kCopyData = 'd', kCopyDone = 'c', kCopyFail = 'f',
                      kDescribe = 'D', kExecute = 'E', kFlush = 'H', kFunctionCall = 'F', kParse = 'P',
                      kPassword = 'p',  // also SASLInitialResponse, SASLResponse, GSSResponse
                      kQuery = 'Q', kSync = 'S', kTerminate = 'X';
}  // namespace frontend
namespace backend {
inline constexpr char kAuthentication = 'R', kBackendKeyData = 'K', kBindComplete = '2',
                      kCloseComplete = '3', kCommandComplete = 'C', kCopyBothResponse = 'W',
                      kCopyData = 'd', kCopyDone = 'c', kCopyInResponse = 'G', kCopyOutResponse = 'H',
                      kDataRow = 'D', kEmptyQueryResponse = 'I', kErrorResponse = 'E',
                      kFunctionCallResponse = 'V', kNegotiateProtocolVersion = 'v', kNoData = 'n',
                      kNoticeResponse = 'N', kNotificationResponse = 'A', kParameterDescription = 't',
                      kParameterStatus = 'S', kParseComplete = '1', kPortalSuspended = 's',
                      kReadyForQuery = 'Z', kRowDescription = 'T';
}  // namespace backend

// SQLSTATEs the codec and the authenticator hand to the pooler (Postgres errcodes.txt).
namespace sqlstate {
inline constexpr std::string_view kProtocolViolation = "08P01";
inline constexpr std::string_view kProgramLimitExceeded = "54000";
inline constexpr std::string_view kFeatureNotSupported = "0A000";
inline constexpr std::string_view kInvalidAuthorizationSpecification = "28000";
inline constexpr std::string_view kInvalidPassword = "28P01";
inline constexpr std::string_view kQueryCanceled = "57014";
inline constexpr std::string_view kTooManyConnections = "53300";
inline constexpr std::string_view kAdminShutdown = "57P01";
}  // namespace sqlstate

enum class ProtocolErrc : uint8_t {
    invalid_length,        // a length word below the minimum (4 typed, 8 startup) — 08P01
    message_too_large,     // a length word above the configured maximum — 54000
    unsupported_protocol,  // a StartupMessage whose major version is not 3 — 0A000, as Postgres
    malformed,             // the body does not have the message's layout — 08P01
    missing_user,          // a StartupMessage without "user" — 28000, as Postgres
};

// What went wrong and what to answer: the pooler sends ErrorResponse(FATAL, sqlstate(), message)
// and closes the connection.
struct ProtocolError {
    ProtocolErrc code = ProtocolErrc::malformed;
    std::string message;  // Postgres's wording where Postgres has one
};

std::string_view sqlstate_of(ProtocolErrc code);
inline std::string_view sqlstate_of(const ProtocolError& e) { return sqlstate_of(e.code); }

// GCC 12 has no std::expected: a parsed value or the error (exactly one is meaningful).
template <class T>
struct Parsed {
    std::optional<T> value;
    ProtocolError error;

    static Parsed ok(T v) { return Parsed{std::move(v), {}}; }
    static Parsed fail(ProtocolErrc code, std::string message) { return Parsed{std::nullopt, {code, std::move(message)}}; }
    static Parsed fail(ProtocolError e) { return Parsed{std::nullopt, std::move(e)}; }
    explicit operator bool() const { return value.has_value(); }
    const T& operator*() const { return *value; }
    const T* operator->() const { return &*value; }
};

// An empty struct for messages that carry nothing but their type (Sync, Flush, ParseComplete…).
struct Empty {};

}  // namespace portico::pool
