// Conditional requests against a stored response: client 304s, revalidation, 304 merging.
#include "cache/conditional.hpp"

#include <initializer_list>

#include "cache/cache_control.hpp"

namespace portico::cache {

namespace {

bool any_of_names(std::string_view name, std::initializer_list<std::string_view> names) {
    for (std::string_view n : names)
        if (iequals(n, name)) return true;
    return false;
}

bool hop_by_hop(HeaderList message, std::string_view name) {
    if (any_of_names(name, {"Connection", "Keep-Alive", "Proxy-Connection", "TE", "Trailer", "Transfer-Encoding",
                            "Upgrade"}))
        return true;
    bool named = false;
    for_each_member(message, "Connection", [&](std::string_view member) {
        named = iequals(member, name);
        return !named;
    });
    return named;
}

}  // namespace

std::optional<EntityTag> parse_entity_tag(std::string_view text) {
    text = trim_ows(text);
    EntityTag tag;
    if (text.size() >= 2 && text[0] == 'W' && text[1] == '/') {
        tag.weak = true;
        text.remove_prefix(2);
    }
    if (text.size() < 2 || text.front() != '"' || text.back() != '"') return std::nullopt;
    for (size_t i = 1; i + 1 < text.size(); ++i) {  // etagc = %x21 / %x23-7E / obs-text
        auto c = static_cast<unsigned char>(text[i]);
        if (c == '"' || c < 0x21 || c == 0x7f) return std::nullopt;
    }
    tag.opaque = text;
    return tag;
}

bool weak_match(const EntityTag& a, const EntityTag& b) { return a.opaque == b.opaque; }

bool client_conditional_matches(HeaderList request, HeaderList stored, std::optional<Instant> received) {
    if (has_field(request, "If-None-Match")) {
        std::optional<EntityTag> current;
        if (auto etag = find_first(stored, "ETag")) current = parse_entity_tag(*etag);
        bool matched = false;
        for_each_member(request, "If-None-Match", [&](std::string_view member) {
            if (member == "*") matched = true;  // any current representation (RFC 9110 §13.1.2)
            else if (auto tag = parse_entity_tag(member); tag && current) matched = weak_match(*tag, *current);
            return !matched;
        });
        return matched;  // If-Modified-Since is ignored alongside If-None-Match (RFC 9110 §13.1.3)
    }
    auto ims_text = find_first(request, "If-Modified-Since");
    if (!ims_text) return false;
    auto ims = parse_http_date(*ims_text);
    if (!ims) return false;  // not a valid HTTP-date: ignored (RFC 9110 §13.1.3)
    std::optional<Instant> last;
    if (auto lm = find_first(stored, "Last-Modified")) last = parse_http_date(*lm);
    if (!last) {
        if (auto date = find_first(stored, "Date")) last = parse_http_date(*date);  // §4.3.2
    }
    if (!last) last = received;
    return last && *last <= *ims;
}

RevalidationHeaders build_revalidation_headers(HeaderList stored) {
    RevalidationHeaders out;
    if (auto etag = find_first(stored, "ETag"); etag && parse_entity_tag(*etag)) out.if_none_match = *etag;
    if (auto lm = find_first(stored, "Last-Modified"); lm && parse_http_date(*lm)) out.if_modified_since = *lm;
    return out;
}

bool revalidation_selects(HeaderList stored, HeaderList not_modified) {
    if (auto fresh_etag = find_first(not_modified, "ETag")) {
        auto fresh = parse_entity_tag(*fresh_etag);
        auto stored_etag = find_first(stored, "ETag");
        auto old = stored_etag ? parse_entity_tag(*stored_etag) : std::nullopt;
        return fresh && old && weak_match(*fresh, *old);
    }
    if (auto fresh_lm = find_first(not_modified, "Last-Modified")) {
        auto stored_lm = find_first(stored, "Last-Modified");
        auto a = parse_http_date(*fresh_lm);
        auto b = stored_lm ? parse_http_date(*stored_lm) : std::nullopt;
        return a && b && *a == *b;
    }
    return true;
}

std::vector<HeaderField> merge_304(HeaderList stored, HeaderList not_modified) {
    CacheControl fresh_cc = effective_response_cache_control(not_modified).directives;
    CacheControl old_cc = effective_response_cache_control(stored).directives;
    auto keeps_weak_etag = [&] {
        auto old_text = find_first(stored, "ETag");
        auto fresh_text = find_first(not_modified, "ETag");
        auto old = old_text ? parse_entity_tag(*old_text) : std::nullopt;
        auto fresh = fresh_text ? parse_entity_tag(*fresh_text) : std::nullopt;
        return old && fresh && old->weak && !fresh->weak && old->opaque == fresh->opaque;
    }();
    auto updates = [&](std::string_view name) {
        if (any_of_names(name, {"Content-Length", "Content-Encoding", "Content-Range", "Vary", "Set-Cookie"}))
            return false;
        if (keeps_weak_etag && iequals(name, "ETag")) return false;
        if (hop_by_hop(not_modified, name)) return false;
        auto private_names = [&](const CacheControl& cc) {
            return cc.private_ && !cc.private_fields.empty() && lists_field(cc.private_fields, name);
        };
        return !private_names(fresh_cc) && !private_names(old_cc);
    };
    auto replaced = [&](std::string_view name) {
        for (const HeaderField& f : not_modified)
            if (iequals(f.name, name) && updates(f.name)) return true;
        return false;
    };
    std::vector<HeaderField> out;
    out.reserve(stored.size() + not_modified.size());
    for (const HeaderField& f : stored)
        if (!iequals(f.name, "Age") && !replaced(f.name)) out.push_back(f);
    for (const HeaderField& f : not_modified)
        if (updates(f.name)) out.push_back(f);
    return out;
}

std::vector<HeaderField> fields_for_304(HeaderList stored) {
    bool has_etag = has_field(stored, "ETag");
    std::vector<HeaderField> out;
    for (const HeaderField& f : stored) {
        if (any_of_names(f.name, {"Cache-Control", "Content-Location", "Date", "ETag", "Expires", "Vary"}) ||
            (!has_etag && iequals(f.name, "Last-Modified")))
            out.push_back(f);
    }
    return out;
}

}  // namespace portico::cache
