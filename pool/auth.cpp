// md5 password checks and the libcrypto helpers SCRAM shares.
#include "pool/auth.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "pool/scram.hpp"

namespace portico::pool {

bool constant_time_equal(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    if (a.empty()) return true;
    return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::optional<std::string> random_bytes(size_t n) {
    std::string out(n, '\0');
    if (n != 0 && RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), int(n)) != 1) return std::nullopt;
    return out;
}

std::string base64_encode(std::string_view bytes) {
    std::string out(4 * ((bytes.size() + 2) / 3), '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(bytes.data()), int(bytes.size()));
    out.resize(size_t(n));
    return out;
}

namespace {
bool is_b64_char(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}
}  // namespace

std::optional<std::string> base64_decode(std::string_view text) {
    // EVP_DecodeBlock skips whitespace and does not report padding, so the form is checked here and
    // the padding subtracted from its output.
    if (text.size() % 4 != 0) return std::nullopt;
    size_t pad = 0;
    if (!text.empty() && text.back() == '=') pad = text.size() >= 2 && text[text.size() - 2] == '=' ? 2 : 1;
    for (size_t i = 0; i < text.size() - pad; ++i)
        if (!is_b64_char(text[i])) return std::nullopt;
    if (text.empty()) return std::string();
    std::string out(text.size() / 4 * 3, '\0');
    int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(text.data()), int(text.size()));
    if (n < 0 || size_t(n) < pad) return std::nullopt;
    out.resize(size_t(n) - pad);
    return out;
}

std::string md5_hex(std::string_view data) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(data.data(), data.size(), digest, &len, EVP_md5(), nullptr);
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    out.reserve(2 * len);
    for (unsigned int i = 0; i < len; ++i) {
        out.push_back(kHex[digest[i] >> 4]);
        out.push_back(kHex[digest[i] & 15]);
    }
    return out;
}

std::string md5_password_hash(std::string_view user, std::string_view password) {
    std::string in;
    in.reserve(password.size() + user.size());
    in.append(password).append(user);
    return "md5" + md5_hex(in);
}

bool is_md5_hash(std::string_view secret) {
    if (secret.size() != 35 || !secret.starts_with("md5")) return false;
    for (char c : secret.substr(3))
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) return false;
    return true;
}

std::optional<std::string> md5_expected_response(std::string_view user, std::string_view secret,
                                                 std::string_view salt) {
    if (is_scram_verifier(secret)) return std::nullopt;
    std::string hash;
    if (is_md5_hash(secret)) {
        hash.assign(secret.substr(3));
        // Postgres writes lowercase digits; an uppercase copy in a userlist means the same hash.
        for (char& c : hash)
            if (c >= 'A' && c <= 'F') c = char(c - 'A' + 'a');
    } else {
        hash = md5_password_hash(user, secret).substr(3);
    }
    hash.append(salt);
    return "md5" + md5_hex(hash);
}

bool verify_md5_response(std::string_view user, std::string_view secret, std::string_view salt,
                         std::string_view client_response) {
    // An empty password never authenticates (Postgres: "empty password returned by client").
    if (secret.empty() || client_response.empty()) return false;
    std::optional<std::string> expected = md5_expected_response(user, secret, salt);
    if (!expected) return false;
    return constant_time_equal(*expected, client_response);
}

}  // namespace portico::pool
