// The userlist file of `pool.auth.file`, in PgBouncer's auth_file format: one `"user" "secret"`
// per line, so an existing PgBouncer userlist works unchanged.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

namespace portico::pool {

enum class SecretKind : uint8_t { plaintext, md5, scram };
// md5: "md5" + 32 hex digits; scram: "SCRAM-SHA-256$…"; anything else is a plaintext password.
SecretKind secret_kind(std::string_view secret);

struct Userlist {
    std::unordered_map<std::string, std::string> secrets;  // user → secret as written

    // nullptr when the user is not listed.
    const std::string* find(std::string_view user) const;
};

// Format: each entry is two double-quoted strings separated by whitespace; `""` inside one is a
// literal quote; anything after the second string on its line is ignored (PgBouncer does the same,
// and pg_authid exports add columns there). Blank lines and lines starting with ';' or '#' are
// skipped. Errors are "FILE:LINE: message" in `error` (and false returned): a line that does not
// start with a quote, an unterminated string (a string cannot span lines), a missing secret, an
// empty user, a user listed twice (PgBouncer keeps the last silently; a repeated user is far more
// likely a mistake), a SCRAM verifier that does not parse.
bool parse_userlist(std::string_view text, std::string_view file_name, Userlist& out, std::string& error);

// Reads the file and parses it; an unreadable file is "FILE: cannot read: <reason>". For config
// load and reload (start-up I/O, not the request path).
bool load_userlist(const std::string& path, Userlist& out, std::string& error);

}  // namespace portico::pool
