// Host lists of a conninfo, rewritten with resolved addresses; see conninfo_hosts.hpp.
#include "pool/conninfo_hosts.hpp"

#include <algorithm>
#include <arpa/inet.h>

#include <fmt/format.h>

namespace portico::pool {

namespace {
// The value of the last `key` in params (PQconnectStartParams lets a later pair win), or nullptr.
const std::string* find_last(const ConnParams& params, std::string_view key) {
    const std::string* found = nullptr;
    for (const auto& [k, v] : params)
        if (k == key) found = &v;
    return found;
}

std::string join(const std::vector<std::string>& items) {
    std::string out;
    for (size_t i = 0; i < items.size(); ++i) {
        if (i > 0) out += ',';
        out += items[i];
    }
    return out;
}

// The host list and its port list, or false when libpq would refuse the pair by itself (it checks
// the counts before any lookup) or there is nothing to resolve.
bool host_and_port_lists(const ConnParams& params, std::vector<std::string>& hosts, std::vector<std::string>& ports) {
    const std::string* host = find_last(params, "host");
    const std::string* hostaddr = find_last(params, "hostaddr");
    if (host == nullptr || host->empty()) return false;
    if (hostaddr != nullptr && !hostaddr->empty()) return false;  // the user chose the addresses
    hosts = split_host_list(*host);
    const std::string* port = find_last(params, "port");
    ports = port != nullptr && !port->empty() ? split_host_list(*port) : std::vector<std::string>{};
    return ports.size() <= 1 || ports.size() == hosts.size();
}
}  // namespace

std::vector<std::string> split_host_list(std::string_view list) {
    // libpq's parse_comma_separated_list: no quoting or escapes, every comma separates.
    std::vector<std::string> items;
    size_t start = 0;
    for (;;) {
        size_t comma = list.find(',', start);
        items.emplace_back(list.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
        if (comma == std::string_view::npos) break;
        start = comma + 1;
    }
    return items;
}

bool host_needs_no_lookup(std::string_view host) {
    if (host.empty() || host.front() == '/' || host.front() == '@') return true;  // libpq's is_unixsock_path
    std::string text(host);
    unsigned char buf[sizeof(in6_addr)];
    return inet_pton(AF_INET, text.c_str(), buf) == 1 || inet_pton(AF_INET6, text.c_str(), buf) == 1;
}

std::vector<std::string> hosts_to_resolve(const ConnParams& params) {
    std::vector<std::string> hosts, ports, names;
    if (!host_and_port_lists(params, hosts, ports)) return names;
    for (const std::string& h : hosts) {
        if (!host_needs_no_lookup(h) && std::find(names.begin(), names.end(), h) == names.end()) names.push_back(h);
    }
    return names;
}

ResolvedParams with_resolved_hosts(const ConnParams& params, const std::map<std::string, HostLookup>& lookups) {
    ResolvedParams out;
    std::vector<std::string> hosts, ports;
    if (!host_and_port_lists(params, hosts, ports)) {
        out.params = params;
        return out;
    }
    bool per_host_ports = ports.size() > 1;
    std::vector<std::string> new_hosts, new_addrs, new_ports;
    bool any_lookup = false;
    for (size_t i = 0; i < hosts.size(); ++i) {
        const std::string& h = hosts[i];
        std::string port = per_host_ports ? ports[i] : std::string();
        if (host_needs_no_lookup(h)) {
            // An empty hostaddr item: libpq uses the host item as before (socket dir, literal, default).
            new_hosts.push_back(h);
            new_addrs.emplace_back();
            new_ports.push_back(port);
            continue;
        }
        any_lookup = true;
        auto it = lookups.find(h);
        if (it == lookups.end() || !it->second.error.empty() || it->second.addresses.empty()) {
            std::string why = it == lookups.end() ? "not resolved"
                              : it->second.error.empty() ? "no address" : it->second.error;
            // libpq's wording (fe-connect.c), so a client reads what it would have read from libpq.
            out.dropped += fmt::format("could not translate host name \"{}\" to address: {}\n", h, why);
            continue;
        }
        // One host entry per address: libpq tries every address of a name in turn, and with one
        // hostaddr per entry it still does, in the resolver's order.
        for (const std::string& addr : it->second.addresses) {
            new_hosts.push_back(h);
            new_addrs.push_back(addr);
            new_ports.push_back(port);
        }
    }
    if (!any_lookup) {
        out.params = params;
        return out;
    }
    if (new_hosts.empty()) {
        out.any_host = false;
        return out;
    }
    for (const auto& [k, v] : params) {
        if (k == "host" || k == "hostaddr" || (per_host_ports && k == "port")) continue;
        out.params.emplace_back(k, v);
    }
    out.params.emplace_back("host", join(new_hosts));
    out.params.emplace_back("hostaddr", join(new_addrs));
    if (per_host_ports) out.params.emplace_back("port", join(new_ports));
    return out;
}

}  // namespace portico::pool
