// Authentication primitives shared by md5 and SCRAM: hashing, base64, random bytes and
// constant-time comparison over OpenSSL's libcrypto (which libpq already links), and the md5
// password check as Postgres does it.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace portico::pool {

// Equal length and equal bytes, in time that depends only on the lengths (CRYPTO_memcmp): a client
// must not learn how many leading bytes of its answer were right.
bool constant_time_equal(std::string_view a, std::string_view b);

// `n` bytes from OpenSSL's CSPRNG; nullopt only if it cannot seed (then refuse the login).
std::optional<std::string> random_bytes(size_t n);

std::string base64_encode(std::string_view bytes);
// Strict RFC 4648 base64 with padding (what SCRAM and Postgres verifiers use): no whitespace, a
// length that is a multiple of 4, '=' only at the end. nullopt otherwise.
std::optional<std::string> base64_decode(std::string_view text);

std::string md5_hex(std::string_view data);  // 32 lowercase hex digits

// What pg_authid stores for an md5 password: "md5" + md5_hex(password + user).
std::string md5_password_hash(std::string_view user, std::string_view password);
// True for "md5" followed by 32 lowercase or uppercase hex digits.
bool is_md5_hash(std::string_view secret);

// The answer a client must send to AuthenticationMD5Password(salt): "md5" + md5_hex(md5_hex(password
// + user) + salt). `secret` is the userlist entry: plaintext or an md5 hash (which is all the
// server needs). nullopt for a SCRAM verifier, from which no md5 answer can be computed (Postgres
// then fails the login the same way).
std::optional<std::string> md5_expected_response(std::string_view user, std::string_view secret,
                                                 std::string_view salt);

// The md5 check: false when the secret cannot do md5, is empty, or the answer differs (compared
// in constant time). The pooler then answers 28P01 "password authentication failed for user …".
bool verify_md5_response(std::string_view user, std::string_view secret, std::string_view salt,
                         std::string_view client_response);

}  // namespace portico::pool
