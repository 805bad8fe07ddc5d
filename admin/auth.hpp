// The admin token: read from admin.token_file, checked against `Authorization: Bearer <token>` in
// constant time so the answer's timing says nothing about how much of a guess was right.
#pragma once

#include <string>
#include <string_view>

namespace portico::admin {

// True when a and b are equal; the time taken depends only on the lengths, never on where they
// first differ.
bool constant_time_equals(std::string_view a, std::string_view b);

// Reads the token: the file's content without trailing whitespace (the newline editors add).
// Returns an error text ("cannot read token file /x: Permission denied", "token file /x is
// empty") or "" with `token` set.
std::string read_token_file(const std::string& path, std::string& token);

// Whether an Authorization header value carries `token` ("Bearer <token>", the scheme
// case-insensitive, RFC 6750 §2.1). An empty `token` means no token is configured: always true.
bool bearer_matches(std::string_view authorization, std::string_view token);

}  // namespace portico::admin
