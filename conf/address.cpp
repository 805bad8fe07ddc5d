// Address and CIDR parsing with inet_pton; host names are checked for shape only (resolved later).
#include "conf/address.hpp"

#include <arpa/inet.h>
#include <sys/un.h>

#include <charconv>
#include <string>

#include <fmt/format.h>

namespace portico::conf {
namespace {

constexpr std::string_view kAddressHint = "expected HOST:PORT, [IPv6]:PORT or unix:/path";

bool is_ipv4(const std::string& s) {
    in_addr a{};
    return inet_pton(AF_INET, s.c_str(), &a) == 1;
}

bool is_ipv6(const std::string& s) {
    in6_addr a{};
    return inet_pton(AF_INET6, s.c_str(), &a) == 1;
}

// RFC 1123 host name shape: dot-separated labels of letters, digits and '-', not starting or
// ending with '-', each at most 63 bytes, 253 in all.
bool is_host_name(std::string_view s) {
    if (s.empty() || s.size() > 253) return false;
    size_t label = 0;
    char prev = '.';
    for (char c : s) {
        if (c == '.') {
            if (label == 0 || prev == '-') return false;
            label = 0;
        } else {
            bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-';
            if (!ok || (label == 0 && c == '-') || ++label > 63) return false;
        }
        prev = c;
    }
    return prev != '-';
}

bool all_digits_and_dots(std::string_view s) {
    for (char c : s)
        if (!((c >= '0' && c <= '9') || c == '.')) return false;
    return true;
}

}  // namespace

Parsed<Address> parse_address(std::string_view text, PortZero port_zero) {
    using P = Parsed<Address>;
    Address a;
    a.text = std::string(text);
    if (text.substr(0, 5) == "unix:") {
        std::string_view path = text.substr(5);
        if (path.empty() || path.front() != '/')
            return P::fail(fmt::format("unix socket path must be absolute, got '{}'", text));
        // sun_path holds the path and its terminating NUL.
        if (path.size() >= sizeof(sockaddr_un{}.sun_path))
            return P::fail(fmt::format("unix socket path '{}' is longer than {} bytes", path,
                                       sizeof(sockaddr_un{}.sun_path) - 1));
        a.kind = Address::Kind::unix_socket;
        a.path = std::string(path);
        return P::ok(std::move(a));
    }
    std::string_view host, port;
    if (!text.empty() && text.front() == '[') {
        size_t close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
            return P::fail(fmt::format("{}, got '{}'", kAddressHint, text));
        host = text.substr(1, close - 1);
        port = text.substr(close + 2);
        if (!is_ipv6(std::string(host)))
            return P::fail(fmt::format("'{}' is not an IPv6 address", host));
    } else {
        size_t colon = text.rfind(':');
        if (colon == std::string_view::npos)
            return P::fail(fmt::format("{}, got '{}' (the port is missing)", kAddressHint, text));
        host = text.substr(0, colon);
        port = text.substr(colon + 1);
        if (host.find(':') != std::string_view::npos)
            return P::fail(fmt::format("IPv6 addresses need brackets, as in [::1]:8080; got '{}'", text));
        if (host.empty())
            return P::fail(fmt::format("the host is missing in '{}' (write 0.0.0.0{} for every "
                                       "interface)",
                                       text, text));
        if (all_digits_and_dots(host)) {
            if (!is_ipv4(std::string(host)))
                return P::fail(fmt::format("'{}' is not an IPv4 address", host));
        } else if (!is_host_name(host)) {
            return P::fail(fmt::format("'{}' is neither an IP address nor a host name", host));
        }
    }
    unsigned value = 0;
    auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    const unsigned min_port = port_zero == PortZero::allow ? 0 : 1;
    if (port.empty() || ec != std::errc{} || ptr != port.data() + port.size() || value > 65535 ||
        value < min_port)
        return P::fail(fmt::format("port must be a number {}..65535, got '{}'", min_port, port));
    a.kind = Address::Kind::tcp;
    a.host = std::string(host);
    a.port = static_cast<uint16_t>(value);
    return P::ok(std::move(a));
}

Parsed<Cidr> parse_cidr(std::string_view text) {
    using P = Parsed<Cidr>;
    Cidr c;
    c.text = std::string(text);
    size_t slash = text.find('/');
    std::string addr(text.substr(0, slash));
    if (is_ipv4(addr)) {
        c.v6 = false;
        inet_pton(AF_INET, addr.c_str(), c.bytes);
        c.prefix = 32;
    } else if (is_ipv6(addr)) {
        c.v6 = true;
        inet_pton(AF_INET6, addr.c_str(), c.bytes);
        c.prefix = 128;
    } else {
        return P::fail(fmt::format("expected a CIDR block like 10.0.0.0/8 or ::1/128, got '{}'", text));
    }
    if (slash != std::string_view::npos) {
        std::string_view len = text.substr(slash + 1);
        int max = c.prefix, value = -1;
        auto [ptr, ec] = std::from_chars(len.data(), len.data() + len.size(), value);
        if (len.empty() || ec != std::errc{} || ptr != len.data() + len.size() || value < 0 ||
            value > max)
            return P::fail(fmt::format("prefix length must be 0..{}, got '{}'", max, text));
        c.prefix = value;
    }
    const int total_bytes = c.v6 ? 16 : 4;
    for (int bit = c.prefix; bit < total_bytes * 8; ++bit) {
        if (c.bytes[bit / 8] & (0x80 >> (bit % 8))) {
            Cidr masked = c;
            for (int b = c.prefix; b < total_bytes * 8; ++b)
                masked.bytes[b / 8] &= static_cast<uint8_t>(~(0x80 >> (b % 8)));
            char buf[INET6_ADDRSTRLEN] = {};
            inet_ntop(c.v6 ? AF_INET6 : AF_INET, masked.bytes, buf, sizeof buf);
            return P::fail(fmt::format("'{}' has bits set after the /{} prefix; did you mean '{}/{}'?",
                                       text, c.prefix, buf, c.prefix));
        }
    }
    return P::ok(std::move(c));
}

}  // namespace portico::conf
