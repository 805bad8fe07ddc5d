// SCRAM-SHA-256 server exchange and secrets, over libcrypto's PBKDF2, HMAC and SHA-256. The message
// checks follow Postgres's auth-scram.c (read_client_first_message, read_client_final_message).
#include "pool/scram.hpp"

#include <charconv>
#include <mutex>

#include <fmt/format.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "pool/auth.hpp"
#include "pool/protocol.hpp"

namespace portico::pool {

namespace {

constexpr std::string_view kVerifierPrefix = "SCRAM-SHA-256$";
constexpr size_t kRawNonceLength = 18;  // Postgres's SCRAM_RAW_NONCE_LEN

std::string sha256(std::string_view data) {
    std::string out(kScramKeyLength, '\0');
    unsigned int len = 0;
    EVP_Digest(data.data(), data.size(), reinterpret_cast<unsigned char*>(out.data()), &len, EVP_sha256(), nullptr);
    return out;
}

std::string hmac_sha256(std::string_view key, std::string_view data) {
    std::string out(kScramKeyLength, '\0');
    unsigned int len = 0;
    HMAC(EVP_sha256(), key.data(), int(key.size()), reinterpret_cast<const unsigned char*>(data.data()), data.size(),
         reinterpret_cast<unsigned char*>(out.data()), &len);
    return out;
}

// A salt for users without a secret that is the same on every try within this process, so a client
// cannot find unknown users by asking twice (Postgres's scram_mock_salt, with a per-process key in
// place of the cluster's mock_authentication_nonce).
std::string mock_salt(std::string_view user) {
    static std::once_flag once;
    static std::string key;
    std::call_once(once, [] { key = random_bytes(32).value_or(std::string(32, 'k')); });
    return sha256(key + std::string(user)).substr(0, kScramSaltLength);
}

// RFC 5802 §5.1: printable ASCII except ','.
bool valid_nonce(std::string_view nonce) {
    if (nonce.empty()) return false;
    for (char c : nonce)
        if (c < 0x21 || c > 0x7e || c == ',') return false;
    return true;
}

// Reads "x=value" up to the next ',' (or the end); `attr` 0 when the text there is not an attribute.
struct Attribute {
    char name = 0;
    std::string_view value;
};
Attribute read_attribute(std::string_view& in) {
    if (in.size() < 2 || in[1] != '=' || !((in[0] >= 'a' && in[0] <= 'z') || (in[0] >= 'A' && in[0] <= 'Z')))
        return {};
    size_t comma = in.find(',');
    Attribute a{in[0], in.substr(2, comma == std::string_view::npos ? std::string_view::npos : comma - 2)};
    in = comma == std::string_view::npos ? std::string_view() : in.substr(comma + 1);
    return a;
}

}  // namespace

bool is_scram_verifier(std::string_view secret) { return secret.starts_with(kVerifierPrefix); }

std::optional<ScramSecret> parse_scram_verifier(std::string_view verifier) {
    if (!is_scram_verifier(verifier)) return std::nullopt;
    std::string_view rest = verifier.substr(kVerifierPrefix.size());
    size_t colon = rest.find(':'), dollar = rest.find('$'), colon2 = rest.rfind(':');
    if (colon == std::string_view::npos || dollar == std::string_view::npos || colon > dollar || colon2 <= dollar)
        return std::nullopt;
    ScramSecret s;
    std::string_view iterations = rest.substr(0, colon);
    auto [end, ec] = std::from_chars(iterations.data(), iterations.data() + iterations.size(), s.iterations);
    if (ec != std::errc() || end != iterations.data() + iterations.size() || s.iterations < 1) return std::nullopt;
    auto salt = base64_decode(rest.substr(colon + 1, dollar - colon - 1));
    auto stored = base64_decode(rest.substr(dollar + 1, colon2 - dollar - 1));
    auto server = base64_decode(rest.substr(colon2 + 1));
    if (!salt || salt->empty() || !stored || !server || stored->size() != kScramKeyLength ||
        server->size() != kScramKeyLength)
        return std::nullopt;
    s.salt = std::move(*salt);
    s.stored_key = std::move(*stored);
    s.server_key = std::move(*server);
    return s;
}

std::string format_scram_verifier(const ScramSecret& s) {
    return fmt::format("SCRAM-SHA-256${}:{}${}:{}", s.iterations, base64_encode(s.salt), base64_encode(s.stored_key),
                       base64_encode(s.server_key));
}

ScramSecret scram_secret_from_password(std::string_view password, std::string_view salt, int iterations) {
    std::string salted(kScramKeyLength, '\0');
    PKCS5_PBKDF2_HMAC(password.data(), int(password.size()), reinterpret_cast<const unsigned char*>(salt.data()),
                      int(salt.size()), iterations, EVP_sha256(), int(salted.size()),
                      reinterpret_cast<unsigned char*>(salted.data()));
    ScramSecret s;
    s.iterations = iterations;
    s.salt = std::string(salt);
    s.stored_key = sha256(hmac_sha256(salted, "Client Key"));
    s.server_key = hmac_sha256(salted, "Server Key");
    return s;
}

std::optional<ScramSecret> scram_secret_from_userlist(std::string_view secret) {
    if (is_scram_verifier(secret)) return parse_scram_verifier(secret);
    if (is_md5_hash(secret) || secret.empty()) return std::nullopt;
    std::optional<std::string> salt = random_bytes(kScramSaltLength);
    if (!salt) return std::nullopt;
    return scram_secret_from_password(secret, *salt, kScramDefaultIterations);
}

std::string_view sqlstate_of(ScramFailure failure) {
    switch (failure) {
    case ScramFailure::none: return "00000";
    case ScramFailure::unsupported: return sqlstate::kFeatureNotSupported;
    case ScramFailure::wrong_password: return sqlstate::kInvalidPassword;
    case ScramFailure::internal: return "58000";  // system_error
    case ScramFailure::malformed:
    case ScramFailure::channel_binding:
    case ScramFailure::nonce_mismatch:
    case ScramFailure::out_of_order: return sqlstate::kProtocolViolation;
    }
    return sqlstate::kProtocolViolation;
}

ScramServer::ScramServer(std::optional<ScramSecret> secret, std::string_view user, Options options)
    : options_(std::move(options)) {
    if (secret && secret->stored_key.size() == kScramKeyLength && secret->server_key.size() == kScramKeyLength &&
        secret->iterations > 0 && !secret->salt.empty()) {
        secret_ = std::move(*secret);
        return;
    }
    // No usable secret: keys no proof can match (random, and the check is refused anyway).
    doomed_ = true;
    secret_.iterations = kScramDefaultIterations;
    secret_.salt = mock_salt(user);
    secret_.stored_key = random_bytes(kScramKeyLength).value_or(std::string(kScramKeyLength, '\0'));
    secret_.server_key = random_bytes(kScramKeyLength).value_or(std::string(kScramKeyLength, '\0'));
}

ScramFailure ScramServer::fail(ScramFailure failure, std::string detail) {
    state_ = State::failed;
    detail_ = std::move(detail);
    return failure;
}

ScramFailure ScramServer::client_first(std::string_view message, std::string& server_first) {
    if (state_ != State::expect_client_first)
        return fail(ScramFailure::out_of_order, "Unexpected client-first-message.");
    std::string_view in = message;
    // gs2-header: cbind-flag "," [authzid] ","
    if (in.empty()) return fail(ScramFailure::malformed, "The message is empty.");
    char flag = in[0];
    if (flag == 'p')
        return fail(ScramFailure::channel_binding,
                    "The client selected SCRAM-SHA-256-PLUS, but channel binding is not supported on this connection.");
    // 'y': the client could bind but thinks the server cannot — true here (no TLS), so accepted.
    if ((flag != 'n' && flag != 'y') || in.size() < 2 || in[1] != ',')
        return fail(ScramFailure::malformed, "Unexpected channel-binding flag.");
    in.remove_prefix(2);
    if (in.starts_with("a=")) return fail(ScramFailure::unsupported, "Client uses authorization identity, but it is not supported.");
    if (in.empty() || in[0] != ',') return fail(ScramFailure::malformed, "Unexpected attribute in client-first-message.");
    in.remove_prefix(1);
    gs2_header_ = std::string(message.substr(0, 3));
    std::string_view bare = in;

    if (in.starts_with("m=")) return fail(ScramFailure::unsupported, "Client requires an unsupported SCRAM extension.");
    // n=: Postgres ignores it (the StartupMessage named the user); it must still be there.
    Attribute user = read_attribute(in);
    if (user.name != 'n') return fail(ScramFailure::malformed, "Expected attribute \"n\".");
    Attribute nonce = read_attribute(in);
    if (nonce.name != 'r') return fail(ScramFailure::malformed, "Expected attribute \"r\".");
    if (!valid_nonce(nonce.value)) return fail(ScramFailure::malformed, "The client nonce contains invalid characters.");
    // Optional extensions after r= are ignored (RFC 5802 §5.1), but each must be an attribute.
    while (!in.empty())
        if (read_attribute(in).name == 0) return fail(ScramFailure::malformed, "Garbage found at the end of client-first-message.");
    if (message.back() == ',') return fail(ScramFailure::malformed, "Garbage found at the end of client-first-message.");

    std::string server_nonce = options_.server_nonce;
    if (server_nonce.empty()) {
        std::optional<std::string> raw = random_bytes(kRawNonceLength);
        if (!raw) return fail(ScramFailure::internal, "could not generate random nonce");
        server_nonce = base64_encode(*raw);
    }
    client_first_bare_ = std::string(bare);
    nonce_ = std::string(nonce.value) + server_nonce;
    server_first_ = fmt::format("r={},s={},i={}", nonce_, base64_encode(secret_.salt), secret_.iterations);
    server_first = server_first_;
    state_ = State::expect_client_final;
    return ScramFailure::none;
}

ScramFailure ScramServer::client_final(std::string_view message, std::string& server_final) {
    if (state_ != State::expect_client_final)
        return fail(ScramFailure::out_of_order, "Unexpected client-final-message.");
    std::string_view in = message;
    Attribute binding = read_attribute(in);
    if (binding.name != 'c') return fail(ScramFailure::malformed, "Expected attribute \"c\".");
    std::optional<std::string> header = base64_decode(binding.value);
    if (!header) return fail(ScramFailure::malformed, "Malformed channel-binding data in client-final-message.");
    // Without channel binding, c= is the gs2 header itself, with the flag the client first sent.
    if (*header != gs2_header_)
        return fail(ScramFailure::channel_binding, "Unexpected SCRAM channel-binding attribute in client-final-message.");
    Attribute nonce = read_attribute(in);
    if (nonce.name != 'r') return fail(ScramFailure::malformed, "Expected attribute \"r\".");
    if (!constant_time_equal(nonce.value, nonce_)) return fail(ScramFailure::nonce_mismatch, "Nonce does not match.");
    // Extensions may come before the proof, which is last.
    Attribute proof_attr;
    size_t proof_at = 0;
    do {
        proof_at = message.size() - in.size();
        proof_attr = read_attribute(in);
        if (proof_attr.name == 0) return fail(ScramFailure::malformed, "Expected attribute \"p\".");
    } while (proof_attr.name != 'p');
    if (!in.empty() || message.back() == ',')
        return fail(ScramFailure::malformed, "Garbage found at the end of client-final-message.");
    std::optional<std::string> proof = base64_decode(proof_attr.value);
    if (!proof || proof->size() != kScramKeyLength)
        return fail(ScramFailure::malformed, "Malformed proof in client-final-message.");

    // AuthMessage = client-first-bare "," server-first "," client-final-without-proof (RFC 5802 §3).
    std::string_view without_proof = message.substr(0, proof_at - 1);
    std::string auth_message = client_first_bare_ + "," + server_first_ + "," + std::string(without_proof);
    // ClientKey = ClientProof XOR HMAC(StoredKey, AuthMessage); the client knows the password when
    // H(ClientKey) == StoredKey.
    std::string client_key = hmac_sha256(secret_.stored_key, auth_message);
    for (size_t i = 0; i < kScramKeyLength; ++i) client_key[i] = char(client_key[i] ^ (*proof)[i]);
    bool verified = constant_time_equal(sha256(client_key), secret_.stored_key);
    if (doomed_ || !verified) return fail(ScramFailure::wrong_password, "The client's proof does not match.");
    server_final = "v=" + base64_encode(hmac_sha256(secret_.server_key, auth_message));
    state_ = State::done;
    return ScramFailure::none;
}

}  // namespace portico::pool
