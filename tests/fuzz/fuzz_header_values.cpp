// Fuzz target: the header-value parsers the cache and the static files use, one per selector —
// Cache-Control (and the RFC 9213 targeted fields), Vary, Accept-Encoding, Range / If-Range,
// Surrogate-Key / Cache-Tag, HTTP dates and entity tags, conditional requests and 304 merging, and
// the storage / freshness / lookup rules (cache/policy.hpp) over whole header lists. Each is
// checked against what its header promises, e.g. several field lines parse as one line joined with
// ", " (RFC 9110 §5.3), a formatted date parses back to itself, ranges come sorted and in bounds.
//
// Input: flags, split (fuzz_support.hpp), then text lines ('\n'). flags % 8 selects the parser;
// `split` is a number some use (a time offset, a length). Header lists are lines "Name: value"; a
// line without ':' is a value of the selector's own field. An empty line separates two lists
// where a parser takes two (response / request, stored / 304).
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "cache/accept_encoding.hpp"
#include "cache/cache_control.hpp"
#include "cache/conditional.hpp"
#include "cache/http_date.hpp"
#include "cache/policy.hpp"
#include "cache/surrogate_keys.hpp"
#include "cache/vary.hpp"
#include "proxy/byte_range.hpp"
#include "tests/fuzz/fuzz_support.hpp"

namespace {

using namespace portico::cache;

struct Lists {
    std::vector<std::string_view> lines;  // every line of the first list, raw
    std::vector<HeaderField> first;
    std::vector<HeaderField> second;
};

Lists read_lists(std::string_view text, std::string_view default_name) {
    Lists l;
    bool in_second = false;
    while (!text.empty()) {
        size_t nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
        if (line.empty() && !in_second) {
            in_second = true;
            continue;
        }
        HeaderField f;
        size_t colon = line.find(':');
        if (colon == std::string_view::npos) {
            f = {default_name, line};
        } else {
            f = {line.substr(0, colon), trim_ows(line.substr(colon + 1))};
        }
        if (in_second) {
            l.second.push_back(f);
        } else {
            l.lines.push_back(line);
            l.first.push_back(f);
        }
    }
    return l;
}

// True when `value` ends outside a quoted string (RFC 9110 §5.6.4, backslash escapes inside
// quotes): only then does joining it with ", " to the next line add a list boundary.
bool quotes_closed(std::string_view value) {
    bool quoted = false;
    for (size_t i = 0; i < value.size(); ++i) {
        if (quoted && value[i] == '\\') {
            if (++i == value.size()) return false;
        } else if (value[i] == '"') {
            quoted = !quoted;
        }
    }
    return !quoted;
}

std::string joined(const std::vector<HeaderField>& fields, bool& comparable) {
    std::string out;
    comparable = true;
    for (size_t i = 0; i < fields.size(); ++i) {
        if (i > 0) out += ", ";
        out.append(fields[i].value);
        if (!quotes_closed(fields[i].value)) comparable = false;
    }
    return out;
}

bool same(const CacheControl& a, const CacheControl& b) {
    return a.max_age == b.max_age && a.s_maxage == b.s_maxage && a.stale_while_revalidate == b.stale_while_revalidate &&
           a.stale_if_error == b.stale_if_error && a.min_fresh == b.min_fresh && a.max_stale == b.max_stale &&
           a.no_cache == b.no_cache && a.no_store == b.no_store && a.private_ == b.private_ && a.public_ == b.public_ &&
           a.must_revalidate == b.must_revalidate && a.proxy_revalidate == b.proxy_revalidate &&
           a.must_understand == b.must_understand && a.no_transform == b.no_transform && a.immutable == b.immutable &&
           a.only_if_cached == b.only_if_cached && a.no_cache_fields == b.no_cache_fields &&
           a.private_fields == b.private_fields;
}

void check_seconds(const std::optional<Seconds>& s) {
    if (s) FUZZ_CHECK(s->count() >= 0 && *s <= kDeltaMax);
}

void cache_control(std::string_view text) {
    Lists l = read_lists(text, "Cache-Control");
    std::vector<HeaderField> fields;
    for (const HeaderField& f : l.first) fields.push_back({"Cache-Control", f.value});
    CacheControl lines;
    for (const HeaderField& f : fields) parse_cache_control(f.value, lines);
    for (const auto* s : {&lines.max_age, &lines.s_maxage, &lines.stale_while_revalidate, &lines.stale_if_error,
                          &lines.min_fresh, &lines.max_stale}) {
        check_seconds(*s);
    }
    FUZZ_CHECK(same(lines, parse_cache_control(fields)));
    bool comparable = false;
    std::string one = joined(fields, comparable);
    if (comparable) {
        CacheControl combined;
        parse_cache_control(one, combined);
        if (!same(lines, combined)) std::fprintf(stderr, "combined line: %s\n", one.c_str());
        FUZZ_CHECK(same(lines, combined));
    }
    for (const HeaderField& f : fields) {
        CacheControl targeted;
        if (parse_targeted_field(f.value, targeted)) {
            check_seconds(targeted.max_age);
            check_seconds(targeted.s_maxage);
        }
    }
    // The same lines as a whole response, with whatever names they carry.
    EffectiveCacheControl e = effective_response_cache_control(l.first);
    if (e.source == DirectiveSource::none) FUZZ_CHECK(!e.directives.any());
    for (const HeaderField& f : l.first) {
        (void)strip_before_client(f.name);
        (void)lists_field(f.value, "Set-Cookie");
    }
}

void vary(std::string_view text) {
    Lists l = read_lists(text, "Vary");
    std::string key, again;
    VaryResult r = vary_key(l.first, l.second, key);
    FUZZ_CHECK(vary_key(l.first, l.second, again) == r && again == key);
    if (vary_has_star(l.first)) FUZZ_CHECK(r == VaryResult::uncacheable);
    // The response's Vary lines joined into one: the same key.
    std::vector<HeaderField> response;
    std::vector<HeaderField> vary_lines;
    for (const HeaderField& f : l.first) (iequals(f.name, "Vary") ? vary_lines : response).push_back(f);
    bool comparable = false;
    std::string one = joined(vary_lines, comparable);
    if (comparable && !vary_lines.empty()) {
        response.push_back({"Vary", one});
        std::string combined;
        VaryResult c = vary_key(response, l.second, combined);
        FUZZ_CHECK(c == r);
        if (r == VaryResult::ok) FUZZ_CHECK(combined == key);
    }
    (void)normalise_accept_encoding(l.second);
}

void check_weights(const AcceptEncoding& a) {
    for (int w : {a.gzip, a.deflate, a.br, a.identity, a.star}) FUZZ_CHECK(w >= -1 && w <= 1000);
}

bool same(const AcceptEncoding& a, const AcceptEncoding& b) {
    return a.present == b.present && a.gzip == b.gzip && a.deflate == b.deflate && a.br == b.br &&
           a.identity == b.identity && a.star == b.star;
}

void accept_encoding(std::string_view text) {
    Lists l = read_lists(text, "Accept-Encoding");
    std::vector<HeaderField> fields;
    for (const HeaderField& f : l.first) fields.push_back({"Accept-Encoding", f.value});
    AcceptEncoding a = parse_accept_encoding(fields);
    check_weights(a);
    FUZZ_CHECK(a.present == !fields.empty());
    ContentCoding c = choose_compression(a);
    FUZZ_CHECK(c == ContentCoding::identity || c == ContentCoding::gzip || c == ContentCoding::deflate);
    if (c == ContentCoding::gzip) FUZZ_CHECK(a.gzip > 0 || (a.gzip < 0 && a.star > 0));
    if (c == ContentCoding::deflate) FUZZ_CHECK(a.deflate > 0);
    (void)choose_coding(a);
    FUZZ_CHECK(!accept_encoding_variant(a).empty());
    bool comparable = false;
    std::string one = joined(fields, comparable);
    if (comparable && !fields.empty()) {
        AcceptEncoding b = parse_accept_encoding(std::string_view(one));
        FUZZ_CHECK(same(a, b));
        FUZZ_CHECK(normalise_accept_encoding(std::string_view(one)) == normalise_accept_encoding(fields));
    }
}

void range(std::string_view text, uint8_t number) {
    using portico::proxy::ByteRange;
    using portico::proxy::RangeAnswer;
    Lists l = read_lists(text, "Range");
    std::string_view value = l.first.size() > 0 ? l.first[0].value : std::string_view();
    // Representation lengths around the edges: 0, small, the fuzzer's, huge.
    const uint64_t lengths[] = {0, 1, number, uint64_t(number) * 1000003, UINT64_MAX / 2, UINT64_MAX};
    for (uint64_t length : lengths) {
        ByteRange one;
        RangeAnswer a = portico::proxy::choose_range(value, length, one);
        if (a == RangeAnswer::partial) FUZZ_CHECK(one.first <= one.last && one.last < length);
        std::vector<ByteRange> many;
        RangeAnswer b = portico::proxy::parse_ranges(value, length, many);
        if (b == RangeAnswer::partial) {
            FUZZ_CHECK(!many.empty() && many.size() <= portico::proxy::kMaxRanges);
            for (size_t i = 0; i < many.size(); ++i) {
                FUZZ_CHECK(many[i].first <= many[i].last && many[i].last < length);
                // Sorted, and coalesced where they overlap or touch.
                if (i > 0) FUZZ_CHECK(many[i - 1].last + 1 < many[i].first);
            }
        }
        if (b == RangeAnswer::unsatisfiable) FUZZ_CHECK(a != RangeAnswer::partial);
    }
    std::string_view if_range = l.first.size() > 1 ? l.first[1].value : std::string_view();
    std::string_view etag = l.first.size() > 2 ? l.first[2].value : std::string_view();
    std::string_view last_modified = l.first.size() > 3 ? l.first[3].value : std::string_view();
    (void)portico::proxy::if_range_allows(if_range, etag, last_modified);
}

void surrogate(std::string_view text) {
    Lists l = read_lists(text, "Surrogate-Key");
    SurrogateKeys keys = surrogate_keys(l.first);
    FUZZ_CHECK(keys.tags.size() <= kMaxTags);
    for (size_t i = 0; i < keys.tags.size(); ++i) {
        FUZZ_CHECK(valid_tag(keys.tags[i]));
        for (size_t j = 0; j < i; ++j) FUZZ_CHECK(keys.tags[i] != keys.tags[j]);
    }
    for (std::string_view line : l.lines) {
        if (valid_tag(line)) {
            FUZZ_CHECK(!line.empty() && line.size() <= kMaxTagBytes && line.find(',') == std::string_view::npos);
        }
    }
}

void dates(std::string_view text) {
    Lists l = read_lists(text, "Date");
    for (const HeaderField& f : l.first) {
        if (std::optional<Instant> t = parse_http_date(f.value)) {
            std::string formatted;
            append_http_date(formatted, *t);
            FUZZ_CHECK(formatted.size() == 29);
            std::optional<Instant> back = parse_http_date(formatted);
            FUZZ_CHECK(back && *back == *t);
        }
        if (std::optional<EntityTag> tag = parse_entity_tag(f.value)) {
            FUZZ_CHECK(tag->opaque.size() >= 2 && tag->opaque.front() == '"' && tag->opaque.back() == '"');
            FUZZ_CHECK(weak_match(*tag, *tag));
        }
        (void)parse_delta_seconds(f.value);
    }
}

void conditional(std::string_view text, uint8_t number) {
    Lists l = read_lists(text, "ETag");
    Instant received{Seconds{1700000000 + int64_t(number) * 86400}};
    (void)client_conditional_matches(l.second, l.first, received);
    (void)client_conditional_matches(l.second, l.first);
    RevalidationHeaders r = build_revalidation_headers(l.first);
    (void)r.any();
    (void)revalidation_selects(l.first, l.second);
    std::vector<HeaderField> merged = merge_304(l.first, l.second);
    for (const HeaderField& f : merged) {
        // Never from the 304: Set-Cookie and the fields the stored body depends on.
        for (std::string_view kept : {"Set-Cookie", "Content-Length", "Content-Encoding", "Transfer-Encoding"}) {
            if (!iequals(f.name, kept)) continue;
            bool stored = std::any_of(l.first.begin(), l.first.end(), [&](const HeaderField& s) {
                return s.name.data() == f.name.data() && s.value.data() == f.value.data();
            });
            FUZZ_CHECK(stored);
        }
    }
    (void)fields_for_304(l.first);
}

void policy(std::string_view text, uint8_t number) {
    Lists l = read_lists(text, "Cache-Control");
    Instant request_time{Seconds{1700000000}};
    Instant response_time = request_time + Seconds{number % 4};
    RoutePolicyView route;
    if (number & 0x10) route.ttl = Seconds{60};
    if (number & 0x20) route.stale_while_revalidate = Seconds{30};
    if (number & 0x40) route.stale_if_error = Seconds{300};
    route.store_set_cookie = (number & 0x80) != 0;
    const int statuses[] = {200, 203, 204, 206, 301, 304, 404, 410, 500, 599, 299, 100};
    int status = statuses[number % std::size(statuses)];
    StoreDecision d = decide_store("GET", status, l.second, l.first, route, request_time, response_time);
    (void)detail_token(d.reason);
    EffectiveCacheControl cc = effective_response_cache_control(l.first);
    Freshness f = freshness_lifetime(cc, l.first, status, route.ttl, response_time);
    FUZZ_CHECK(f.lifetime.count() >= 0);
    Seconds age = corrected_initial_age(l.first, request_time, response_time);
    FUZZ_CHECK(age.count() >= 0 && age <= kDeltaMax);
    std::string age_text;
    append_age(age_text, age);
    FUZZ_CHECK(!age_text.empty());
    EntryFacts facts = make_entry_facts(cc, l.first, status, route, request_time, response_time);
    RequestCacheMode mode = classify_request("GET", l.second);
    for (int64_t later : {int64_t(0), int64_t(59), int64_t(3600), int64_t(86400) * 365 * 100}) {
        Instant now = response_time + Seconds{later};
        (void)judge(facts, mode, now);
        (void)stale_if_error_allowed(facts, now);
        FUZZ_CHECK(staleness(facts, now).count() >= 0);
        FUZZ_CHECK(current_age(l.first, request_time, response_time, now).count() >= 0);
    }
    for (const HeaderField& h : l.first) (void)excluded_from_storage(cc.directives, h.name);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    portico::fuzz::Control control = portico::fuzz::take_control(data, size);
    switch (control.flags % 8) {
        case 0: cache_control(control.rest); break;
        case 1: vary(control.rest); break;
        case 2: accept_encoding(control.rest); break;
        case 3: range(control.rest, control.split); break;
        case 4: surrogate(control.rest); break;
        case 5: dates(control.rest); break;
        case 6: conditional(control.rest, control.split); break;
        case 7: policy(control.rest, control.split); break;
    }
    return 0;
}
