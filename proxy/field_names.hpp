// The header fields the proxy acts on, recognised once when a head is parsed so that every later
// lookup or hop-by-hop decision is an integer compare instead of a case-insensitive string scan.
#pragma once

#include <cstdint>
#include <string_view>

namespace portico::proxy {

enum class FieldId : uint8_t {
    other,
    host,
    connection,
    keep_alive,
    proxy_connection,
    te,
    trailer,
    transfer_encoding,
    upgrade,
    content_length,
    expect,
    x_forwarded_for,
    x_forwarded_proto,
    x_forwarded_host,
    x_real_ip,
    x_request_id,
    server_timing,
    // Fields the cache reads (on requests and responses) or strips before the client.
    age,
    authorization,
    cache_control,
    cache_tag,
    cdn_cache_control,
    content_location,
    date,
    etag,
    expires,
    if_match,
    if_modified_since,
    if_none_match,
    if_range,
    if_unmodified_since,
    last_modified,
    location,
    portico_cache_control,
    pragma,
    range,
    set_cookie,
    surrogate_control,
    surrogate_key,
    vary,
    // Fields the compression stage reads or writes.
    accept_encoding,
    accept_ranges,
    content_encoding,
    content_type,
};

// Fields meant for Portico alone (RFC 9213 targeted fields, purge tags): never sent to a client.
constexpr bool for_portico_only(FieldId id) {
    return id == FieldId::portico_cache_control || id == FieldId::cdn_cache_control ||
           id == FieldId::surrogate_control || id == FieldId::surrogate_key || id == FieldId::cache_tag;
}

FieldId classify_field(std::string_view name);

// RFC 9110 §7.6.1: fields that belong to one connection and are never forwarded (the fields a
// Connection header names are checked separately).
constexpr bool always_hop_by_hop(FieldId id) {
    switch (id) {
        case FieldId::connection:
        case FieldId::keep_alive:
        case FieldId::proxy_connection:
        case FieldId::te:
        case FieldId::trailer:
        case FieldId::transfer_encoding:
        case FieldId::upgrade:
            return true;
        default:
            return false;
    }
}

}  // namespace portico::proxy
