// SCRAM-SHA-256 (RFC 5802, RFC 7677), server side, as PostgreSQL does it: no channel binding (the
// pool's clients arrive over a Unix socket or loopback TCP without TLS), the user name taken from
// the StartupMessage rather than from n=, secrets as Postgres stores them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace portico::pool {

inline constexpr std::string_view kScramSha256 = "SCRAM-SHA-256";
inline constexpr int kScramDefaultIterations = 4096;  // Postgres's scram_iterations default
inline constexpr size_t kScramSaltLength = 16;        // Postgres's SCRAM_DEFAULT_SALT_LEN
inline constexpr size_t kScramKeyLength = 32;         // SHA-256

// What the server needs to check a client: pg_authid's "SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>".
struct ScramSecret {
    int iterations = 0;
    std::string salt;        // raw bytes
    std::string stored_key;  // H(ClientKey), 32 bytes
    std::string server_key;  // HMAC(SaltedPassword, "Server Key"), 32 bytes
};

bool is_scram_verifier(std::string_view secret);  // starts with "SCRAM-SHA-256$"
// nullopt unless the whole verifier is well formed (iterations ≥ 1, base64 fields, 32-byte keys).
std::optional<ScramSecret> parse_scram_verifier(std::string_view verifier);
std::string format_scram_verifier(const ScramSecret& secret);

// SaltedPassword = PBKDF2-HMAC-SHA-256(password, salt, iterations), then the two keys. The password
// is used as given: Postgres SASLpreps it first, which changes only non-ASCII passwords that are not
// in NFKC form (and a SASLprep failure makes Postgres use the raw bytes too).
ScramSecret scram_secret_from_password(std::string_view password, std::string_view salt, int iterations);

// A userlist secret as a SCRAM secret: a verifier parsed; a plaintext password derived with a fresh
// random salt (kScramDefaultIterations PBKDF2 rounds, about a millisecond: cache it per user); an md5
// hash cannot do SCRAM (nullopt, as Postgres).
std::optional<ScramSecret> scram_secret_from_userlist(std::string_view secret);

enum class ScramFailure : uint8_t {
    none,
    malformed,         // a message that is not SCRAM — 08P01 "malformed SCRAM message"
    channel_binding,   // p=… (SCRAM-SHA-256-PLUS) or a c= that does not echo the gs2 header — 08P01
    unsupported,       // an authzid (a=) or a mandatory extension (m=) — 0A000
    nonce_mismatch,    // the client-final's r= is not the combined nonce — 08P01 "invalid SCRAM response"
    wrong_password,    // the proof does not verify, or the user has no usable secret — 28P01
    out_of_order,      // a message the exchange does not expect now — 08P01
    internal,          // no random bytes — 58000-like; the pooler answers and closes
};
std::string_view sqlstate_of(ScramFailure failure);

// One exchange: client-first → server-first, client-final → server-final. Any failure is final.
class ScramServer {
public:
    enum class State : uint8_t { expect_client_first, expect_client_final, done, failed };

    struct Options {
        std::string server_nonce;  // fixed server nonce (RFC 7677's test vector); empty = random
    };

    // `secret`: the user's, or nullopt when the user is unknown or its secret cannot do SCRAM. Then
    // the exchange runs to the proof with a mock salt derived from `user` (stable per process, so
    // repeated tries look alike) and fails there with wrong_password, as Postgres does: a client
    // cannot tell an unknown user from a wrong password.
    explicit ScramServer(std::optional<ScramSecret> secret, std::string_view user = {}, Options options = {});

    // The SASLInitialResponse data. On success `server_first` is set (send it in
    // AuthenticationSASLContinue).
    ScramFailure client_first(std::string_view message, std::string& server_first);
    // The SASLResponse data. On success `server_final` is set (send it in AuthenticationSASLFinal,
    // then AuthenticationOk).
    ScramFailure client_final(std::string_view message, std::string& server_final);

    State state() const { return state_; }
    // What was wrong, for the log and an ErrorResponse's DETAIL ("Nonce does not match." …).
    const std::string& failure_detail() const { return detail_; }

private:
    ScramFailure fail(ScramFailure failure, std::string detail);

    ScramSecret secret_;
    bool doomed_ = false;
    Options options_;
    State state_ = State::expect_client_first;
    std::string gs2_header_;        // "n,," or "y,,", echoed (base64) in the client-final's c=
    std::string client_first_bare_;
    std::string server_first_;
    std::string nonce_;             // client nonce + server nonce
    std::string detail_;
};

}  // namespace portico::pool
