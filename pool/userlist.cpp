// PgBouncer-format userlist parsing (after PgBouncer's loader.c load_auth_file, with line numbers).
#include "pool/userlist.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "pool/auth.hpp"
#include "pool/scram.hpp"

namespace portico::pool {

SecretKind secret_kind(std::string_view secret) {
    if (is_scram_verifier(secret)) return SecretKind::scram;
    if (is_md5_hash(secret)) return SecretKind::md5;
    return SecretKind::plaintext;
}

const std::string* Userlist::find(std::string_view user) const {
    auto it = secrets.find(std::string(user));
    return it == secrets.end() ? nullptr : &it->second;
}

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; }

// Reads a quoted string at line[pos] == '"'; `""` is a quote. Returns false when unterminated.
bool read_quoted(std::string_view line, size_t& pos, std::string& out) {
    out.clear();
    for (size_t i = pos + 1; i < line.size(); ++i) {
        if (line[i] != '"') {
            out.push_back(line[i]);
            continue;
        }
        if (i + 1 < line.size() && line[i + 1] == '"') {
            out.push_back('"');
            ++i;
            continue;
        }
        pos = i + 1;
        return true;
    }
    return false;
}

}  // namespace

bool parse_userlist(std::string_view text, std::string_view file_name, Userlist& out, std::string& error) {
    Userlist result;
    size_t line_no = 0;
    size_t start = 0;
    std::string user, secret;
    while (start < text.size()) {
        size_t end = text.find('\n', start);
        if (end == std::string_view::npos) end = text.size();
        std::string_view line = text.substr(start, end - start);
        start = end + 1;
        ++line_no;
        auto err = [&](std::string_view message) {
            error = fmt::format("{}:{}: {}", file_name, line_no, message);
            return false;
        };

        size_t pos = 0;
        while (pos < line.size() && is_space(line[pos])) ++pos;
        if (pos == line.size() || line[pos] == ';' || line[pos] == '#') continue;
        if (line[pos] != '"') return err("expected a quoted user name (\"user\" \"secret\")");
        if (!read_quoted(line, pos, user)) return err("unterminated quoted user name");
        if (user.empty()) return err("empty user name");
        while (pos < line.size() && is_space(line[pos])) ++pos;
        if (pos == line.size() || line[pos] != '"') return err(fmt::format("expected a quoted secret after user \"{}\"", user));
        if (!read_quoted(line, pos, secret)) return err(fmt::format("unterminated quoted secret for user \"{}\"", user));
        if (is_scram_verifier(secret) && !parse_scram_verifier(secret))
            return err(fmt::format("malformed SCRAM verifier for user \"{}\" (expected "
                                   "SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>)", user));
        if (result.secrets.contains(user)) return err(fmt::format("user \"{}\" is listed twice", user));
        result.secrets.emplace(user, secret);
    }
    out = std::move(result);
    return true;
}

bool load_userlist(const std::string& path, Userlist& out, std::string& error) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        error = fmt::format("{}: cannot read: {}", path, std::strerror(errno));
        return false;
    }
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) {
        error = fmt::format("{}: cannot read: {}", path, std::strerror(errno));
        return false;
    }
    return parse_userlist(text.str(), path, out, error);
}

}  // namespace portico::pool
