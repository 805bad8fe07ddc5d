// Field recognition: every field the proxy acts on, in any case, and nothing else.
#define BOOST_TEST_MODULE proxy_field_names
#include <boost/test/unit_test.hpp>

#include "proxy/field_names.hpp"

using namespace portico::proxy;

BOOST_AUTO_TEST_CASE(recognises_known_fields_case_insensitively) {
    const std::pair<const char*, FieldId> cases[] = {
        {"Host", FieldId::host},
        {"CONNECTION", FieldId::connection},
        {"keep-alive", FieldId::keep_alive},
        {"Proxy-Connection", FieldId::proxy_connection},
        {"TE", FieldId::te},
        {"Trailer", FieldId::trailer},
        {"Transfer-Encoding", FieldId::transfer_encoding},
        {"Upgrade", FieldId::upgrade},
        {"content-length", FieldId::content_length},
        {"Expect", FieldId::expect},
        {"X-Forwarded-For", FieldId::x_forwarded_for},
        {"x-forwarded-proto", FieldId::x_forwarded_proto},
        {"X-Forwarded-Host", FieldId::x_forwarded_host},
        {"X-Real-IP", FieldId::x_real_ip},
        {"x-request-id", FieldId::x_request_id},
        {"Server-Timing", FieldId::server_timing},
        {"Age", FieldId::age},
        {"authorization", FieldId::authorization},
        {"Cache-Control", FieldId::cache_control},
        {"Cache-Tag", FieldId::cache_tag},
        {"CDN-Cache-Control", FieldId::cdn_cache_control},
        {"Content-Location", FieldId::content_location},
        {"Date", FieldId::date},
        {"ETag", FieldId::etag},
        {"Expires", FieldId::expires},
        {"If-Match", FieldId::if_match},
        {"If-Modified-Since", FieldId::if_modified_since},
        {"if-none-match", FieldId::if_none_match},
        {"If-Range", FieldId::if_range},
        {"If-Unmodified-Since", FieldId::if_unmodified_since},
        {"Last-Modified", FieldId::last_modified},
        {"Location", FieldId::location},
        {"Portico-Cache-Control", FieldId::portico_cache_control},
        {"Pragma", FieldId::pragma},
        {"Range", FieldId::range},
        {"Set-Cookie", FieldId::set_cookie},
        {"Surrogate-Control", FieldId::surrogate_control},
        {"SURROGATE-KEY", FieldId::surrogate_key},
        {"Vary", FieldId::vary},
        {"Accept-Encoding", FieldId::accept_encoding},
        {"accept-ranges", FieldId::accept_ranges},
        {"Content-Encoding", FieldId::content_encoding},
        {"CONTENT-TYPE", FieldId::content_type},
        // Near misses stay ordinary fields.
        {"Hosts", FieldId::other},
        {"X-Real-IPs", FieldId::other},
        {"Transfer-Encodings", FieldId::other},
        {"Content-Types", FieldId::other},
        {"Ages", FieldId::other},
        {"Cache-Controls", FieldId::other},
        {"", FieldId::other},
        {"t", FieldId::other},
    };
    for (const auto& [name, id] : cases) {
        BOOST_TEST_CONTEXT(name) { BOOST_TEST((classify_field(name) == id)); }
    }
}

BOOST_AUTO_TEST_CASE(hop_by_hop_set) {
    BOOST_TEST(always_hop_by_hop(FieldId::connection));
    BOOST_TEST(always_hop_by_hop(FieldId::transfer_encoding));
    BOOST_TEST(always_hop_by_hop(FieldId::upgrade));
    BOOST_TEST(!always_hop_by_hop(FieldId::host));
    BOOST_TEST(!always_hop_by_hop(FieldId::content_length));
    BOOST_TEST(!always_hop_by_hop(FieldId::other));
}
