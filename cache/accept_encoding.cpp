// Accept-Encoding weights and the choices made from them; see accept_encoding.hpp.
#include "cache/accept_encoding.hpp"

#include <algorithm>

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

void weigh(AcceptEncoding& w, std::string_view member) {
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
    if (iequals(coding, "gzip") || iequals(coding, "x-gzip")) w.gzip = std::max(w.gzip, q);
    else if (iequals(coding, "deflate")) w.deflate = std::max(w.deflate, q);
    else if (iequals(coding, "br")) w.br = std::max(w.br, q);
    else if (iequals(coding, "identity")) w.identity = std::max(w.identity, q);
    else if (coding == "*") w.star = std::max(w.star, q);
}

// A coding's weight: its own, else `*`'s, else `fallback`.
int resolve(const AcceptEncoding& w, int own, int fallback) { return own >= 0 ? own : (w.star >= 0 ? w.star : fallback); }

// Identity is acceptable unless excluded by name or by `*` (RFC 9110 §12.5.3); unnamed, it weighs
// least (0.001), so "gzip;q=0.5" still chooses gzip.
int identity_weight(const AcceptEncoding& w) { return resolve(w, w.identity, 1); }

}  // namespace

std::string_view coding_name(ContentCoding coding) {
    switch (coding) {
        case ContentCoding::identity: return "identity";
        case ContentCoding::gzip: return "gzip";
        case ContentCoding::deflate: return "deflate";
        case ContentCoding::br: return "br";
    }
    return "identity";
}

AcceptEncoding parse_accept_encoding(std::string_view value) {
    AcceptEncoding w;
    w.present = true;
    ListMembers members(value);
    while (auto member = members.next()) weigh(w, *member);
    return w;
}

AcceptEncoding parse_accept_encoding(HeaderList request) {
    AcceptEncoding w;
    for (const HeaderField& field : request) {
        if (!iequals(field.name, "Accept-Encoding")) continue;
        w.present = true;
        ListMembers members(field.value);
        while (auto member = members.next()) weigh(w, *member);
    }
    return w;
}

ContentCoding choose_compression(const AcceptEncoding& w) {
    if (!w.present) return ContentCoding::identity;
    int gzip = resolve(w, w.gzip, 0);
    int deflate = std::max(w.deflate, 0);  // only when named: deflate is the legacy choice
    int identity = identity_weight(w);
    if (gzip > 0 && gzip >= deflate && gzip >= identity) return ContentCoding::gzip;
    if (deflate > 0 && deflate >= identity) return ContentCoding::deflate;
    return ContentCoding::identity;
}

ContentCoding choose_coding(const AcceptEncoding& w) {
    if (!w.present) return ContentCoding::identity;
    int br = resolve(w, w.br, 0);
    int gzip = resolve(w, w.gzip, 0);
    int deflate = std::max(w.deflate, 0);
    int identity = identity_weight(w);
    if (br > 0 && br >= gzip && br >= deflate && br >= identity) return ContentCoding::br;
    if (gzip > 0 && gzip >= deflate && gzip >= identity) return ContentCoding::gzip;
    if (deflate > 0 && deflate >= identity) return ContentCoding::deflate;
    return ContentCoding::identity;
}

std::string_view accept_encoding_variant(const AcceptEncoding& w) {
    ContentCoding best = choose_coding(w);
    if (best != ContentCoding::br) return coding_name(best);
    switch (choose_compression(w)) {
        case ContentCoding::gzip: return "br+gzip";
        case ContentCoding::deflate: return "br+deflate";
        default: return "br";
    }
}

}  // namespace portico::cache
