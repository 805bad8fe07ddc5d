// Client address resolution and CIDR matching.
#include "proxy/client_ip.hpp"

#include <arpa/inet.h>
#include <cstring>

namespace portico::proxy {

namespace {
std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}
}  // namespace

std::optional<IpAddress> parse_ip(std::string_view text) {
    text = trim(text);
    if (text.size() >= 2 && text.front() == '[' && text.back() == ']') text = text.substr(1, text.size() - 2);
    if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
    char buf[INET6_ADDRSTRLEN];
    std::memcpy(buf, text.data(), text.size());
    buf[text.size()] = '\0';
    IpAddress ip;
    if (inet_pton(AF_INET, buf, ip.bytes) == 1) return ip;
    if (inet_pton(AF_INET6, buf, ip.bytes) == 1) {
        // An IPv4-mapped address (::ffff:a.b.c.d) matches IPv4 rules.
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (std::memcmp(ip.bytes, mapped, 12) == 0) {
            std::memmove(ip.bytes, ip.bytes + 12, 4);
            std::memset(ip.bytes + 4, 0, 12);
            return ip;
        }
        ip.v6 = true;
        return ip;
    }
    return std::nullopt;
}

bool cidr_contains(const conf::Cidr& cidr, const IpAddress& ip) {
    if (cidr.v6 != ip.v6) return false;
    int bits = cidr.prefix;
    for (int i = 0; bits > 0; ++i, bits -= 8) {
        unsigned char mask = bits >= 8 ? 0xff : static_cast<unsigned char>(0xff << (8 - bits));
        if ((cidr.bytes[i] & mask) != (ip.bytes[i] & mask)) return false;
    }
    return true;
}

bool is_trusted(const std::vector<conf::Cidr>& trusted, const IpAddress& ip) {
    for (const auto& c : trusted) {
        if (cidr_contains(c, ip)) return true;
    }
    return false;
}

std::string resolve_client_ip(std::string_view peer, bool peer_trusted,
                              std::string_view x_forwarded_for, std::string_view x_real_ip,
                              const std::vector<conf::Cidr>& trusted) {
    if (!peer_trusted) return std::string(peer);
    if (!x_forwarded_for.empty()) {
        std::string_view rest = x_forwarded_for;
        std::string_view last_valid;
        while (!rest.empty()) {
            size_t comma = rest.rfind(',');
            std::string_view hop = trim(comma == std::string_view::npos ? rest : rest.substr(comma + 1));
            rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(0, comma);
            auto ip = parse_ip(hop);
            if (!ip) break;  // garbage stops the walk: trust nothing left of it
            last_valid = hop;
            if (!is_trusted(trusted, *ip)) return std::string(hop);
        }
        if (!last_valid.empty()) return std::string(last_valid);
    }
    if (auto ip = parse_ip(x_real_ip)) return std::string(trim(x_real_ip));
    return std::string(peer);
}

}  // namespace portico::proxy
