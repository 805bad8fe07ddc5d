// Field recognition by length first, then one case-insensitive compare.
#include "proxy/field_names.hpp"

#include "proxy/http_message.hpp"

namespace portico::proxy {

FieldId classify_field(std::string_view n) {
    switch (n.size()) {
        case 2:
            if (iequals(n, "te")) return FieldId::te;
            break;
        case 3:
            if (iequals(n, "age")) return FieldId::age;
            break;
        case 4:
            if (iequals(n, "host")) return FieldId::host;
            if (iequals(n, "vary")) return FieldId::vary;
            if (iequals(n, "date")) return FieldId::date;
            if (iequals(n, "etag")) return FieldId::etag;
            break;
        case 5:
            if (iequals(n, "range")) return FieldId::range;
            break;
        case 6:
            if (iequals(n, "expect")) return FieldId::expect;
            if (iequals(n, "pragma")) return FieldId::pragma;
            break;
        case 7:
            if (iequals(n, "trailer")) return FieldId::trailer;
            if (iequals(n, "upgrade")) return FieldId::upgrade;
            if (iequals(n, "expires")) return FieldId::expires;
            break;
        case 8:
            if (iequals(n, "if-range")) return FieldId::if_range;
            if (iequals(n, "if-match")) return FieldId::if_match;
            if (iequals(n, "location")) return FieldId::location;
            break;
        case 9:
            if (iequals(n, "x-real-ip")) return FieldId::x_real_ip;
            if (iequals(n, "cache-tag")) return FieldId::cache_tag;
            break;
        case 10:
            if (iequals(n, "connection")) return FieldId::connection;
            if (iequals(n, "keep-alive")) return FieldId::keep_alive;
            if (iequals(n, "set-cookie")) return FieldId::set_cookie;
            break;
        case 12:
            if (iequals(n, "x-request-id")) return FieldId::x_request_id;
            if (iequals(n, "content-type")) return FieldId::content_type;
            break;
        case 13:
            if (iequals(n, "server-timing")) return FieldId::server_timing;
            if (iequals(n, "authorization")) return FieldId::authorization;
            if (iequals(n, "cache-control")) return FieldId::cache_control;
            if (iequals(n, "if-none-match")) return FieldId::if_none_match;
            if (iequals(n, "last-modified")) return FieldId::last_modified;
            if (iequals(n, "surrogate-key")) return FieldId::surrogate_key;
            if (iequals(n, "accept-ranges")) return FieldId::accept_ranges;
            break;
        case 14:
            if (iequals(n, "content-length")) return FieldId::content_length;
            break;
        case 15:
            if (iequals(n, "x-forwarded-for")) return FieldId::x_forwarded_for;
            if (iequals(n, "accept-encoding")) return FieldId::accept_encoding;
            break;
        case 16:
            if (iequals(n, "proxy-connection")) return FieldId::proxy_connection;
            if (iequals(n, "x-forwarded-host")) return FieldId::x_forwarded_host;
            if (iequals(n, "content-location")) return FieldId::content_location;
            if (iequals(n, "content-encoding")) return FieldId::content_encoding;
            break;
        case 17:
            if (iequals(n, "transfer-encoding")) return FieldId::transfer_encoding;
            if (iequals(n, "x-forwarded-proto")) return FieldId::x_forwarded_proto;
            if (iequals(n, "if-modified-since")) return FieldId::if_modified_since;
            if (iequals(n, "cdn-cache-control")) return FieldId::cdn_cache_control;
            if (iequals(n, "surrogate-control")) return FieldId::surrogate_control;
            break;
        case 19:
            if (iequals(n, "if-unmodified-since")) return FieldId::if_unmodified_since;
            break;
        case 21:
            if (iequals(n, "portico-cache-control")) return FieldId::portico_cache_control;
            break;
        default:
            break;
    }
    return FieldId::other;
}

}  // namespace portico::proxy
