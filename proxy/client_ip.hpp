// Who the client is: the peer, or — when the peer is a trusted proxy — the address it vouches for
// in X-Forwarded-For / X-Real-IP (like nginx's realip module with real_ip_recursive on).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "conf/schema.hpp"

namespace portico::proxy {

struct IpAddress {
    bool v6 = false;
    unsigned char bytes[16] = {};
};

std::optional<IpAddress> parse_ip(std::string_view text);
bool cidr_contains(const conf::Cidr& cidr, const IpAddress& ip);
bool is_trusted(const std::vector<conf::Cidr>& trusted, const IpAddress& ip);

// `peer` is the socket's address as text. Walks X-Forwarded-For from the right, skipping trusted
// hops; falls back to X-Real-IP, then the peer.
std::string resolve_client_ip(std::string_view peer, bool peer_trusted,
                              std::string_view x_forwarded_for, std::string_view x_real_ip,
                              const std::vector<conf::Cidr>& trusted);

}  // namespace portico::proxy
