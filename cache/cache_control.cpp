// Cache-Control and RFC 9213 targeted-field parsing into CacheControl (RFC 9111 §5.2, RFC 8941 §4.2).
#include "cache/cache_control.hpp"

#include <algorithm>
#include <cstdint>

namespace portico::cache {

namespace {

constexpr bool is_digit(char c) { return c >= '0' && c <= '9'; }
constexpr bool is_lcalpha(char c) { return c >= 'a' && c <= 'z'; }
constexpr bool is_alpha(char c) { return is_lcalpha(c) || (c >= 'A' && c <= 'Z'); }
constexpr bool is_tchar(char c) {
    if (is_alpha(c) || is_digit(c)) return true;
    switch (c) {
        case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+': case '-':
        case '.': case '^': case '_': case '`': case '|': case '~':
            return true;
        default:
            return false;
    }
}

void keep_min(std::optional<Seconds>& slot, Seconds v) { slot = slot ? std::min(*slot, v) : v; }
void keep_max(std::optional<Seconds>& slot, Seconds v) { slot = slot ? std::max(*slot, v) : v; }

// A qualified directive seen once keeps its list; a second list, or the unqualified form, makes it
// unqualified (most restrictive, RFC 9111 §4.2.1).
void note_qualified(bool& flag, std::string_view& fields, std::string_view list, bool qualified) {
    if (!qualified || list.empty() || (flag && fields.empty()) || !fields.empty()) {
        fields = {};
    } else {
        fields = list;
    }
    flag = true;
}

enum class Directive {
    unknown, max_age, s_maxage, stale_while_revalidate, stale_if_error, min_fresh, max_stale, no_cache,
    no_store, private_, public_, must_revalidate, proxy_revalidate, must_understand, no_transform, immutable,
    only_if_cached,
};

Directive identify(std::string_view name) {
    struct Entry { std::string_view name; Directive d; };
    static constexpr Entry kTable[] = {
        {"max-age", Directive::max_age},
        {"s-maxage", Directive::s_maxage},
        {"stale-while-revalidate", Directive::stale_while_revalidate},
        {"stale-if-error", Directive::stale_if_error},
        {"min-fresh", Directive::min_fresh},
        {"max-stale", Directive::max_stale},
        {"no-cache", Directive::no_cache},
        {"no-store", Directive::no_store},
        {"private", Directive::private_},
        {"public", Directive::public_},
        {"must-revalidate", Directive::must_revalidate},
        {"proxy-revalidate", Directive::proxy_revalidate},
        {"must-understand", Directive::must_understand},
        {"no-transform", Directive::no_transform},
        {"immutable", Directive::immutable},
        {"only-if-cached", Directive::only_if_cached},
    };
    for (const Entry& e : kTable)
        if (iequals(e.name, name)) return e.d;
    return Directive::unknown;
}

// One Cache-Control-syntax directive. `has_arg` distinguishes `max-stale` from `max-stale=`.
void apply_cc(CacheControl& cc, Directive d, bool has_arg, std::string_view arg, bool arg_quoted) {
    auto delta = [&] { return has_arg ? parse_delta_seconds(arg) : std::nullopt; };
    switch (d) {
        case Directive::unknown:
            break;  // extensions are ignored (§5.2.3)
        // Invalid freshness information makes the response stale (§4.2.1): count as 0.
        case Directive::max_age: keep_min(cc.max_age, delta().value_or(Seconds{0})); break;
        case Directive::s_maxage: keep_min(cc.s_maxage, delta().value_or(Seconds{0})); break;
        case Directive::stale_while_revalidate: keep_min(cc.stale_while_revalidate, delta().value_or(Seconds{0})); break;
        case Directive::stale_if_error: keep_min(cc.stale_if_error, delta().value_or(Seconds{0})); break;
        case Directive::min_fresh:
            if (auto v = delta()) keep_max(cc.min_fresh, *v);  // an invalid min-fresh asks for nothing
            break;
        case Directive::max_stale:  // §5.2.1.2: no value = any staleness; an invalid value = none
            keep_min(cc.max_stale, has_arg ? delta().value_or(Seconds{0}) : kDeltaMax);
            break;
        case Directive::no_cache:
            note_qualified(cc.no_cache, cc.no_cache_fields, arg, has_arg && arg_quoted);
            break;
        case Directive::private_:
            note_qualified(cc.private_, cc.private_fields, arg, has_arg && arg_quoted);
            break;
        // Restrictive flags count even when malformed with an argument; permissive ones do not.
        case Directive::no_store: cc.no_store = true; break;
        case Directive::must_revalidate: cc.must_revalidate = true; break;
        case Directive::proxy_revalidate: cc.proxy_revalidate = true; break;
        case Directive::no_transform: cc.no_transform = true; break;
        case Directive::only_if_cached: cc.only_if_cached = true; break;
        case Directive::public_: if (!has_arg) cc.public_ = true; break;
        case Directive::must_understand: if (!has_arg) cc.must_understand = true; break;
        case Directive::immutable: if (!has_arg) cc.immutable = true; break;
    }
}

// Splits `name[=arg]` with arg a token or a quoted-string (returned without the quotes; field-name
// lists and numbers never need \-escapes, so the raw inside is used). False when malformed.
bool split_directive(std::string_view member, std::string_view& name, bool& has_arg, std::string_view& arg,
                     bool& quoted) {
    size_t eq = member.find('=');
    name = trim_ows(member.substr(0, eq));
    has_arg = eq != std::string_view::npos;
    quoted = false;
    arg = {};
    if (name.empty()) return false;
    for (char c : name)
        if (!is_tchar(c)) return false;
    if (!has_arg) return true;
    arg = trim_ows(member.substr(eq + 1));
    if (!arg.empty() && arg.front() == '"') {
        if (arg.size() < 2 || arg.back() != '"') {
            arg = {};  // unterminated quoted string: the argument is invalid
            return true;
        }
        arg = trim_ows(arg.substr(1, arg.size() - 2));
        quoted = true;
    }
    return true;
}

// ---- RFC 8941 Dictionary, just enough for targeted fields ----

struct SfParser {
    std::string_view s;
    bool ok = true;

    void skip_sp() { while (!s.empty() && s.front() == ' ') s.remove_prefix(1); }
    void skip_ows() { while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1); }

    std::string_view key() {  // key = ( lcalpha / "*" ) *( lcalpha / DIGIT / "_" / "-" / "." / "*" )
        if (s.empty() || !(is_lcalpha(s.front()) || s.front() == '*')) return fail();
        size_t n = 1;
        while (n < s.size() && (is_lcalpha(s[n]) || is_digit(s[n]) || s[n] == '_' || s[n] == '-' || s[n] == '.' ||
                                s[n] == '*'))
            ++n;
        std::string_view k = s.substr(0, n);
        s.remove_prefix(n);
        return k;
    }
    std::string_view fail() {
        ok = false;
        return {};
    }

    enum class Type { boolean, integer, decimal, string, token, bytes };
    struct Item {
        Type type = Type::boolean;
        bool boolean = true;
        int64_t integer = 0;
        std::string_view text;  // string (inside the quotes), token or bytes
    };

    Item bare_item() {
        Item item;
        if (s.empty()) return fail(), item;
        char c = s.front();
        if (c == '-' || is_digit(c)) {  // RFC 8941 §4.2.4
            bool neg = c == '-';
            if (neg) s.remove_prefix(1);
            size_t n = 0;
            int64_t v = 0;
            while (n < s.size() && is_digit(s[n]) && n < 15) v = v * 10 + (s[n++] - '0');
            if (n == 0) return fail(), item;
            s.remove_prefix(n);
            if (!s.empty() && s.front() == '.') {  // a decimal: valid, but never a delta-seconds
                s.remove_prefix(1);
                size_t f = 0;
                while (f < s.size() && is_digit(s[f]) && f < 3) ++f;
                if (f == 0) return fail(), item;
                s.remove_prefix(f);
                item.type = Type::decimal;
                return item;
            }
            if (!s.empty() && is_digit(s.front())) return fail(), item;  // more than 15 digits
            item.type = Type::integer;
            item.integer = neg ? -v : v;
            return item;
        }
        if (c == '"') {  // RFC 8941 §4.2.5
            size_t i = 1;
            for (; i < s.size(); ++i) {
                char d = s[i];
                if (d == '\\') {
                    if (i + 1 >= s.size() || (s[i + 1] != '"' && s[i + 1] != '\\')) return fail(), item;
                    ++i;
                } else if (d == '"') {
                    break;
                } else if (d < 0x20 || d > 0x7e) {
                    return fail(), item;
                }
            }
            if (i >= s.size()) return fail(), item;
            item.type = Type::string;
            item.text = s.substr(1, i - 1);
            s.remove_prefix(i + 1);
            return item;
        }
        if (is_alpha(c) || c == '*') {  // token, RFC 8941 §4.2.6
            size_t n = 1;
            while (n < s.size() && (is_tchar(s[n]) || s[n] == ':' || s[n] == '/')) ++n;
            item.type = Type::token;
            item.text = s.substr(0, n);
            s.remove_prefix(n);
            return item;
        }
        if (c == ':') {  // byte sequence, RFC 8941 §4.2.7
            size_t end = s.find(':', 1);
            if (end == std::string_view::npos) return fail(), item;
            item.type = Type::bytes;
            item.text = s.substr(1, end - 1);
            s.remove_prefix(end + 1);
            return item;
        }
        if (c == '?' && s.size() >= 2 && (s[1] == '0' || s[1] == '1')) {  // RFC 8941 §4.2.8
            item.type = Type::boolean;
            item.boolean = s[1] == '1';
            s.remove_prefix(2);
            return item;
        }
        return fail(), item;
    }

    void parameters() {  // *( ";" *SP key [ "=" bare-item ] ), parsed to be skipped
        while (ok && !s.empty() && s.front() == ';') {
            s.remove_prefix(1);
            skip_sp();
            key();
            if (ok && !s.empty() && s.front() == '=') {
                s.remove_prefix(1);
                bare_item();
            }
        }
    }
};

void apply_targeted(CacheControl& cc, Directive d, const SfParser::Item& item) {
    using Type = SfParser::Type;
    auto set_delta = [&](std::optional<Seconds>& slot) {  // last wins (RFC 8941 §3.2)
        if (item.type == Type::integer && item.integer >= 0)
            slot = std::min(Seconds{item.integer}, kDeltaMax);
    };
    bool flag = item.type == Type::boolean && item.boolean;
    bool is_false = item.type == Type::boolean && !item.boolean;
    switch (d) {
        case Directive::unknown: break;
        case Directive::max_age: set_delta(cc.max_age); break;
        case Directive::s_maxage: set_delta(cc.s_maxage); break;
        case Directive::stale_while_revalidate: set_delta(cc.stale_while_revalidate); break;
        case Directive::stale_if_error: set_delta(cc.stale_if_error); break;
        case Directive::min_fresh: set_delta(cc.min_fresh); break;
        case Directive::max_stale:
            if (flag) cc.max_stale = kDeltaMax;
            else set_delta(cc.max_stale);
            break;
        case Directive::no_cache:
        case Directive::private_: {
            bool& f = d == Directive::no_cache ? cc.no_cache : cc.private_;
            std::string_view& fields = d == Directive::no_cache ? cc.no_cache_fields : cc.private_fields;
            if (item.type == Type::string) {
                f = true;
                fields = trim_ows(item.text);
            } else if (flag) {
                f = true;
                fields = {};
            } else if (is_false) {
                f = false;
                fields = {};
            }
            break;
        }
        case Directive::no_store: if (flag || is_false) cc.no_store = flag; break;
        case Directive::public_: if (flag || is_false) cc.public_ = flag; break;
        case Directive::must_revalidate: if (flag || is_false) cc.must_revalidate = flag; break;
        case Directive::proxy_revalidate: if (flag || is_false) cc.proxy_revalidate = flag; break;
        case Directive::must_understand: if (flag || is_false) cc.must_understand = flag; break;
        case Directive::no_transform: if (flag || is_false) cc.no_transform = flag; break;
        case Directive::immutable: if (flag || is_false) cc.immutable = flag; break;
        case Directive::only_if_cached: if (flag || is_false) cc.only_if_cached = flag; break;
    }
}

bool parse_targeted_line(std::string_view value, CacheControl& into) {
    SfParser p{trim_ows(value)};
    if (p.s.empty()) return false;
    while (true) {
        std::string_view k = p.key();
        if (!p.ok) return false;
        SfParser::Item item;  // a bare key is Boolean true
        if (!p.s.empty() && p.s.front() == '=') {
            p.s.remove_prefix(1);
            if (!p.s.empty() && p.s.front() == '(') return false;  // inner lists: no cache directive uses one
            item = p.bare_item();
        }
        p.parameters();
        if (!p.ok) return false;
        apply_targeted(into, identify(k), item);
        p.skip_ows();
        if (p.s.empty()) return true;
        if (p.s.front() != ',') return false;
        p.s.remove_prefix(1);
        p.skip_ows();
        if (p.s.empty()) return false;  // trailing comma
    }
}

// Surrogate-Control (Edge Architecture 1.0): Cache-Control syntax, but a member may end in
// `;device-token`, which targets another surrogate: skip those.
void parse_surrogate_control(std::string_view value, CacheControl& into) {
    ListMembers members(value);
    while (auto member = members.next()) {
        std::string_view name, arg;
        bool has_arg = false, quoted = false;
        bool in_quotes = false;
        bool targeted = false;
        for (char c : *member) {
            if (c == '"') in_quotes = !in_quotes;
            else if (c == ';' && !in_quotes) targeted = true;
        }
        if (targeted) continue;
        if (split_directive(*member, name, has_arg, arg, quoted))
            apply_cc(into, identify(name), has_arg, arg, quoted);
    }
}

}  // namespace

std::optional<Seconds> parse_delta_seconds(std::string_view text) {
    if (text.empty()) return std::nullopt;
    int64_t v = 0;
    for (char c : text) {
        if (!is_digit(c)) return std::nullopt;
        if (v < kDeltaMax.count()) v = v * 10 + (c - '0');
    }
    return Seconds{std::min<int64_t>(v, kDeltaMax.count())};
}

bool CacheControl::any() const {
    return max_age || s_maxage || stale_while_revalidate || stale_if_error || min_fresh || max_stale || no_cache ||
           no_store || private_ || public_ || must_revalidate || proxy_revalidate || must_understand ||
           no_transform || immutable || only_if_cached;
}

bool lists_field(std::string_view field_names, std::string_view field) {
    ListMembers members(field_names);
    while (auto member = members.next())
        if (iequals(*member, field)) return true;
    return false;
}

void parse_cache_control(std::string_view value, CacheControl& into) {
    ListMembers members(value);
    while (auto member = members.next()) {
        std::string_view name, arg;
        bool has_arg = false, quoted = false;
        if (split_directive(*member, name, has_arg, arg, quoted)) apply_cc(into, identify(name), has_arg, arg, quoted);
    }
}

CacheControl parse_cache_control(HeaderList headers, std::string_view name) {
    CacheControl cc;
    for (const HeaderField& field : headers)
        if (iequals(field.name, name)) parse_cache_control(field.value, cc);
    return cc;
}

bool parse_targeted_field(std::string_view value, CacheControl& into) {
    CacheControl parsed = into;
    if (!parse_targeted_line(value, parsed)) return false;
    into = parsed;
    return true;
}

EffectiveCacheControl effective_response_cache_control(HeaderList response) {
    EffectiveCacheControl out;
    // Several lines of one field form one Dictionary (RFC 8941 §4.2); if any line fails, the whole
    // field is ignored and the next one on the list is tried (RFC 9213 §2.1).
    auto try_targeted = [&](std::string_view name, DirectiveSource source) {
        CacheControl cc;
        bool present = false;
        for (const HeaderField& field : response) {
            if (!iequals(field.name, name)) continue;
            if (!parse_targeted_field(field.value, cc)) return false;
            present = true;
        }
        if (!present) return false;
        out.directives = cc;
        out.source = source;
        return true;
    };
    if (try_targeted("Portico-Cache-Control", DirectiveSource::portico_cache_control)) return out;
    if (try_targeted("CDN-Cache-Control", DirectiveSource::cdn_cache_control)) return out;

    CacheControl surrogate;
    bool surrogate_present = false;
    for (const HeaderField& field : response) {
        if (!iequals(field.name, "Surrogate-Control") || trim_ows(field.value).empty()) continue;
        parse_surrogate_control(field.value, surrogate);
        surrogate_present = true;
    }
    if (surrogate_present) {
        out.directives = surrogate;
        out.source = DirectiveSource::surrogate_control;
        return out;
    }

    if (has_field(response, "Cache-Control")) {
        out.directives = parse_cache_control(response);
        out.source = DirectiveSource::cache_control;
    }
    return out;
}

bool strip_before_client(std::string_view field_name) {
    for (std::string_view name : kStrippedBeforeClient)
        if (iequals(name, field_name)) return true;
    return false;
}

}  // namespace portico::cache
