// Vary secondary keys and Accept-Encoding normalisation (RFC 9111 §4.1, RFC 9110 §12.5.3).
#include "cache/vary.hpp"

#include <algorithm>
#include <array>
#include <vector>

namespace portico::cache {

namespace {

// qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ), RFC 9110 §12.4.2; in thousandths.
int parse_qvalue(std::string_view text) {
    if (text.empty() || (text[0] != '0' && text[0] != '1')) return -1;
    int whole = text[0] - '0';
    if (text.size() == 1) return whole * 1000;
    if (text[1] != '.' || text.size() > 5) return -1;
    int frac = 0, scale = 100;
    for (size_t i = 2; i < text.size(); ++i, scale /= 10) {
        if (text[i] < '0' || text[i] > '9') return -1;
        frac += (text[i] - '0') * scale;
    }
    if (whole == 1 && frac != 0) return -1;
    return whole * 1000 + frac;
}

struct Weights {
    int gzip = -1, br = -1, identity = -1, star = -1;  // -1: not mentioned
    bool any_member = false;
};

void weigh(Weights& w, std::string_view member) {
    size_t semi = member.find(';');
    std::string_view coding = trim_ows(member.substr(0, semi));
    int q = 1000;
    while (semi != std::string_view::npos) {  // weight = OWS ";" OWS "q=" qvalue (other params ignored)
        std::string_view rest = member.substr(semi + 1);
        size_t next = rest.find(';');
        std::string_view param = trim_ows(rest.substr(0, next));
        if (param.size() >= 2 && (param[0] == 'q' || param[0] == 'Q') && param[1] == '=') {
            q = parse_qvalue(param.substr(2));
            if (q < 0) return;  // invalid weight: ignore the member
        }
        semi = next == std::string_view::npos ? next : semi + 1 + next;
    }
    w.any_member = true;
    if (iequals(coding, "gzip") || iequals(coding, "x-gzip")) w.gzip = std::max(w.gzip, q);
    else if (iequals(coding, "br")) w.br = std::max(w.br, q);
    else if (iequals(coding, "identity")) w.identity = std::max(w.identity, q);
    else if (coding == "*") w.star = std::max(w.star, q);
}

std::string_view choose(const Weights& w, unsigned offered) {
    // Unlisted codings take `*`'s weight; identity is acceptable unless excluded (RFC 9110 §12.5.3).
    auto resolve = [&](int q, int fallback) { return q >= 0 ? q : (w.star >= 0 ? w.star : fallback); };
    int br = (offered & kCodingBr) ? resolve(w.br, 0) : 0;
    int gzip = (offered & kCodingGzip) ? resolve(w.gzip, 0) : 0;
    int identity = resolve(w.identity, 1);
    if (br > 0 && br >= gzip && br >= identity) return "br";
    if (gzip > 0 && gzip >= identity) return "gzip";
    return "identity";
}

}  // namespace

std::string_view normalise_accept_encoding(std::string_view value, unsigned offered) {
    Weights w;
    ListMembers members(value);
    while (auto member = members.next()) weigh(w, *member);
    return choose(w, offered);
}

std::string_view normalise_accept_encoding(HeaderList request, unsigned offered) {
    Weights w;
    bool present = false;
    for (const HeaderField& field : request) {
        if (!iequals(field.name, "Accept-Encoding")) continue;
        present = true;
        ListMembers members(field.value);
        while (auto member = members.next()) weigh(w, *member);
    }
    return present ? choose(w, offered) : std::string_view("identity");
}

bool vary_has_star(HeaderList response) {
    bool star = false;
    for_each_member(response, "Vary", [&](std::string_view member) {
        star = member == "*";
        return !star;
    });
    return star;
}

VaryResult vary_key(HeaderList response, HeaderList request, std::string& out, unsigned offered) {
    out.clear();
    // Names on the stack for the usual handful; a vector only for an unusually long Vary.
    std::array<std::string_view, 16> small;
    std::vector<std::string_view> large;
    size_t count = 0;
    bool star = false;
    auto less = [](std::string_view a, std::string_view b) {
        return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
            auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; };
            return lower(x) < lower(y);
        });
    };
    for_each_member(response, "Vary", [&](std::string_view name) {
        if (name == "*") {
            star = true;
            return false;
        }
        std::string_view* begin = large.empty() ? small.data() : large.data();
        for (size_t i = 0; i < count; ++i)
            if (iequals(begin[i], name)) return true;  // duplicates name one field
        if (large.empty() && count < small.size()) {
            small[count++] = name;
        } else {
            if (large.empty()) large.assign(small.begin(), small.begin() + static_cast<std::ptrdiff_t>(count));
            large.push_back(name);
            ++count;
        }
        return true;
    });
    if (star) return VaryResult::uncacheable;
    std::string_view* names = large.empty() ? small.data() : large.data();
    std::sort(names, names + count, less);
    for (size_t i = 0; i < count; ++i) {
        append_lower(out, names[i]);
        if (iequals(names[i], "Accept-Encoding")) {
            out.push_back('=');
            out.append(normalise_accept_encoding(request, offered));
        } else {
            bool present = false;
            bool first = true;
            for (const HeaderField& field : request) {
                if (!iequals(field.name, names[i])) continue;
                if (!present) out.push_back('=');
                present = true;
                ListMembers members(field.value);
                while (auto member = members.next()) {
                    if (!first) out.append(", ");
                    out.append(*member);
                    first = false;
                }
            }
        }
        out.push_back('\n');
    }
    return VaryResult::ok;
}

}  // namespace portico::cache
