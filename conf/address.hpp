// Parsing listen/connect addresses and CIDR blocks as written in portico.yaml.
#pragma once

#include <string_view>

#include "conf/parsed.hpp"
#include "conf/schema.hpp"

namespace portico::conf {

enum class PortZero { refuse, allow };

// "127.0.0.1:8080", "[::1]:8080", "localhost:8000" (a name, resolved at start) or "unix:/abs/path".
// Ports are 1..65535; PortZero::allow also takes 0 for addresses Portico listens on, where it means
// "let the kernel choose" (tests bind port 0, never a fixed port).
Parsed<Address> parse_address(std::string_view text, PortZero port_zero = PortZero::refuse);

// "10.0.0.0/8", "::1/128", or a bare address (a single host: /32 or /128). Host bits set below the
// prefix are refused ("10.0.0.1/8"): they usually mean a typo in the prefix length.
Parsed<Cidr> parse_cidr(std::string_view text);

}  // namespace portico::conf
