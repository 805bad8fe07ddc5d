// A small SQL scanner: statement starts and their first keyword; see statement_guard.hpp.
#include "pool/statement_guard.hpp"

#include <cctype>

#include "pool/builders.hpp"
#include "pool/frontend.hpp"
#include "pool/message_reader.hpp"

namespace portico::pool {

namespace {

bool is_word_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '$'; }

// Skips whitespace and comments from `i`; returns the new position.
size_t skip_blank(std::string_view s, size_t i) {
    while (i < s.size()) {
        char c = s[i];
        if (std::isspace(static_cast<unsigned char>(c))) {
            ++i;
        } else if (c == '-' && i + 1 < s.size() && s[i + 1] == '-') {
            while (i < s.size() && s[i] != '\n') ++i;
        } else if (c == '/' && i + 1 < s.size() && s[i + 1] == '*') {
            int depth = 0;  // Postgres nests block comments
            while (i < s.size()) {
                if (s[i] == '/' && i + 1 < s.size() && s[i + 1] == '*') {
                    ++depth;
                    i += 2;
                } else if (s[i] == '*' && i + 1 < s.size() && s[i + 1] == '/') {
                    i += 2;
                    if (--depth == 0) break;
                } else {
                    ++i;
                }
            }
        } else {
            break;
        }
    }
    return i;
}

// From a statement's start, to just after its ending ';' (or the end).
size_t skip_statement(std::string_view s, size_t i) {
    while (i < s.size()) {
        char c = s[i];
        if (c == ';') return i + 1;
        if (c == '-' && i + 1 < s.size() && s[i + 1] == '-') {
            i = skip_blank(s, i);
        } else if (c == '/' && i + 1 < s.size() && s[i + 1] == '*') {
            i = skip_blank(s, i);
        } else if (c == '\'' || c == '"') {
            // E'…' strings take backslash escapes; '' and "" are the quote itself in both.
            bool backslash = c == '\'' && i > 0 && (s[i - 1] == 'E' || s[i - 1] == 'e');
            for (++i; i < s.size(); ++i) {
                if (backslash && s[i] == '\\') {
                    ++i;
                } else if (s[i] == c) {
                    if (i + 1 < s.size() && s[i + 1] == c) ++i;
                    else break;
                }
            }
            ++i;
        } else if (c == '$' && (i == 0 || !is_word_char(s[i - 1]))) {
            size_t end = s.find('$', i + 1);
            bool tag_ok = end != std::string_view::npos;
            for (size_t k = i + 1; tag_ok && k < end; ++k) tag_ok = is_word_char(s[k]) && s[k] != '$';
            if (!tag_ok) {
                ++i;  // a parameter ($1) or a lone '$'
                continue;
            }
            std::string_view tag = s.substr(i, end - i + 1);
            if (tag.size() > 2 && std::isdigit(static_cast<unsigned char>(tag[1]))) {
                i = end;  // "$1$" is not a tag start; $1 is a parameter
                continue;
            }
            size_t close = s.find(tag, end + 1);
            i = close == std::string_view::npos ? s.size() : close + tag.size();
        } else {
            ++i;
        }
    }
    return i;
}

bool keyword_at(std::string_view s, size_t i, std::string_view word) {
    if (s.size() - i < word.size()) return false;
    for (size_t k = 0; k < word.size(); ++k) {
        char c = s[i + k];
        if ((c >= 'a' && c <= 'z' ? static_cast<char>(c - ('a' - 'A')) : c) != word[k]) return false;  // ASCII keywords
    }
    return i + word.size() == s.size() || !is_word_char(s[i + word.size()]);
}

}  // namespace

bool starts_a_listen(std::string_view sql) {
    size_t i = 0;
    while (i < sql.size()) {
        i = skip_blank(sql, i);
        if (i >= sql.size()) break;
        if (keyword_at(sql, i, "LISTEN")) return true;
        i = skip_statement(sql, i);
    }
    return false;
}

namespace {
// An identifier at `i` as Postgres reads it; npos when there is none.
size_t read_identifier(std::string_view s, size_t i, std::string& out) {
    out.clear();
    if (i >= s.size()) return std::string_view::npos;
    if (s[i] == '"') {
        for (++i; i < s.size(); ++i) {
            if (s[i] != '"') {
                out += s[i];
            } else if (i + 1 < s.size() && s[i + 1] == '"') {
                out += '"';
                ++i;
            } else {
                return out.empty() ? std::string_view::npos : i + 1;
            }
        }
        return std::string_view::npos;
    }
    if (!is_word_char(s[i]) || s[i] == '$' || std::isdigit(static_cast<unsigned char>(s[i]))) return std::string_view::npos;
    for (; i < s.size() && is_word_char(s[i]); ++i) out += static_cast<char>(std::tolower(static_cast<unsigned char>(s[i])));
    return i;
}

// ASCII case folding, inline: SQL keywords and the function names looked for are ASCII, and
// std::tolower (a call per byte) was the pool's largest user-space cost under pgbench -S, where
// every Query is scanned for set_config and advisory_lock.
inline char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + ('a' - 'A')) : c; }

// `needle` is ASCII lower case.
bool contains_lowercase(std::string_view haystack, std::string_view needle) {
    if (needle.empty()) return true;
    if (needle.size() > haystack.size()) return false;
    const char first = needle[0];
    const size_t last_start = haystack.size() - needle.size();
    for (size_t i = 0; i <= last_start; ++i) {
        if (ascii_lower(haystack[i]) != first) continue;
        size_t k = 1;
        while (k < needle.size() && ascii_lower(haystack[i + k]) == needle[k]) ++k;
        if (k == needle.size()) return true;
    }
    return false;
}
}  // namespace

std::optional<DeallocateCommand> parse_deallocate(std::string_view sql) {
    size_t i = skip_blank(sql, 0);
    if (!keyword_at(sql, i, "DEALLOCATE")) return std::nullopt;
    i = skip_blank(sql, i + 10);
    if (keyword_at(sql, i, "PREPARE")) i = skip_blank(sql, i + 7);
    DeallocateCommand command;
    if (keyword_at(sql, i, "ALL")) {
        command.all = true;
        i += 3;
    } else {
        i = read_identifier(sql, i, command.name);
        if (i == std::string_view::npos) return std::nullopt;
    }
    i = skip_blank(sql, i);
    if (i < sql.size() && sql[i] == ';') i = skip_blank(sql, i + 1);
    if (i != sql.size()) return std::nullopt;
    return command;
}

SessionEffects session_effects(std::string_view sql) {
    SessionEffects effects;
    effects.parameters = contains_lowercase(sql, "set_config");
    effects.advisory_locks = contains_lowercase(sql, "advisory_lock");
    return effects;
}

std::string refusal_statement(std::string_view message, std::string_view hint) {
    auto literal = [](std::string_view text) {
        std::string out = "'";
        for (char c : text) {
            if (c == '\'') out += '\'';
            out += c;
        }
        return out + "'";
    };
    // $portico$ cannot occur in the two literals' quoting, so the body is delimited safely.
    return "DO $portico$BEGIN RAISE EXCEPTION USING ERRCODE = '0A000', MESSAGE = " + literal(message) +
           ", HINT = " + literal(hint) + "; END$portico$";
}

bool replace_listen(const Message& m, std::string& storage, Message& refusal) {
    std::string_view sql;
    std::string_view statement;
    if (m.type == frontend::kQuery) {
        auto q = parse_query(m.body);
        if (!q) return false;
        sql = q->sql;
    } else if (m.type == frontend::kParse) {
        auto p = parse_parse(m.body);
        if (!p) return false;
        sql = p->query;
        statement = p->statement;
    } else {
        return false;
    }
    if (!starts_a_listen(sql)) return false;
    std::string text = refusal_statement(
        "LISTEN is not supported in transaction pooling mode: notifications would go to whichever client "
        "gets this server next",
        "Connect listeners to a pool in session mode (pool.mode: session).");
    storage.clear();
    if (m.type == frontend::kQuery) append_query(storage, text);
    else append_parse(storage, statement, text);
    refusal = m;
    refusal.raw = storage;
    refusal.body = std::string_view(storage).substr(5);
    return true;
}

}  // namespace portico::pool
