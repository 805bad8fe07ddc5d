// Field recognition by length first, then one case-insensitive compare.
#include "proxy/field_names.hpp"

#include "proxy/http_message.hpp"

namespace portico::proxy {

FieldId classify_field(std::string_view n) {
    switch (n.size()) {
        case 2:
            if (iequals(n, "te")) return FieldId::te;
            break;
        case 4:
            if (iequals(n, "host")) return FieldId::host;
            break;
        case 6:
            if (iequals(n, "expect")) return FieldId::expect;
            break;
        case 7:
            if (iequals(n, "trailer")) return FieldId::trailer;
            if (iequals(n, "upgrade")) return FieldId::upgrade;
            break;
        case 9:
            if (iequals(n, "x-real-ip")) return FieldId::x_real_ip;
            break;
        case 10:
            if (iequals(n, "connection")) return FieldId::connection;
            if (iequals(n, "keep-alive")) return FieldId::keep_alive;
            break;
        case 12:
            if (iequals(n, "x-request-id")) return FieldId::x_request_id;
            break;
        case 13:
            if (iequals(n, "server-timing")) return FieldId::server_timing;
            break;
        case 14:
            if (iequals(n, "content-length")) return FieldId::content_length;
            break;
        case 15:
            if (iequals(n, "x-forwarded-for")) return FieldId::x_forwarded_for;
            break;
        case 16:
            if (iequals(n, "proxy-connection")) return FieldId::proxy_connection;
            if (iequals(n, "x-forwarded-host")) return FieldId::x_forwarded_host;
            break;
        case 17:
            if (iequals(n, "transfer-encoding")) return FieldId::transfer_encoding;
            if (iequals(n, "x-forwarded-proto")) return FieldId::x_forwarded_proto;
            break;
        default:
            break;
    }
    return FieldId::other;
}

}  // namespace portico::proxy
