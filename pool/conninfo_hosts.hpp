// A conninfo's host names resolved before libpq sees them. libpq looks a `host=db.example.com` up
// with a blocking getaddrinfo inside PQconnectPoll, which would stall the whole pool loop for as
// long as DNS takes; so the pooler resolves the names first (resolver.hpp, on libuv's thread pool)
// and hands libpq the addresses as `hostaddr`, keeping `host` for TLS verify-full, the passfile and
// libpq's messages. These are the pure halves of that: which names need a lookup, and the libpq
// keywords once they are known.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace portico::pool {

using ConnParams = std::vector<std::pair<std::string, std::string>>;  // libpq keyword/value pairs

// A name's lookup: its addresses in the resolver's order (numeric, deduplicated), or an error.
struct HostLookup {
    std::vector<std::string> addresses;
    std::string error;  // "" on success
};

// libpq's comma-separated per-host lists ("a,,b" is three items, "" is one empty item).
std::vector<std::string> split_host_list(std::string_view list);

// Whether libpq would connect to this `host` item without a name lookup: an empty item (libpq's
// default), a Unix socket directory ("/…", or "@…" for an abstract socket) or an IPv4/IPv6 literal.
bool host_needs_no_lookup(std::string_view host);

// The distinct host names in `params` that need a lookup, in order; none when the conninfo gives
// `hostaddr` itself (the user chose the addresses) or names no host. The last value of a repeated
// keyword counts, as in PQconnectStartParams.
std::vector<std::string> hosts_to_resolve(const ConnParams& params);

struct ResolvedParams {
    ConnParams params;       // for PQconnectStartParams
    std::string dropped;     // libpq-style errors of the hosts left out ("" when none), one a line
    bool any_host = true;    // false: every host failed to resolve (`dropped` says why); do not connect
};

// `params` with each named host replaced by one host entry per resolved address and a parallel
// `hostaddr` list (empty items for hosts that need no lookup, so libpq uses them as before); a
// per-host `port` list is expanded alongside. A host whose lookup failed is left out, as libpq
// skips a host it cannot translate and tries the next; its error is kept in `dropped`. Params that
// libpq would reject anyway (a port count matching neither 1 nor the hosts) pass unchanged, so its
// own error reaches the client before any lookup could matter. `lookups` must hold every name
// hosts_to_resolve returned.
ResolvedParams with_resolved_hosts(const ConnParams& params, const std::map<std::string, HostLookup>& lookups);

}  // namespace portico::pool
