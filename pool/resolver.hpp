// Host name lookups for the pool loop: uv_getaddrinfo on libuv's thread pool, so a slow or dead
// DNS server delays only the connections that need that name, never the loop (libpq's own lookup
// inside PQconnectPoll blocks). Concurrent lookups of one name share a request, and an answer —
// success or failure — is kept for a short time (kTtl) so a pool opening 20 servers does one lookup.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <uv.h>

#include "pool/conninfo_hosts.hpp"

namespace portico::pool {

class HostResolver {
public:
    using Results = std::map<std::string, HostLookup>;
    using Done = std::function<void(const Results&)>;

    // How long an answer is reused. Re-resolving for every new server connection would follow a
    // DNS change at once but cost a thread-pool round trip per connect; PgBouncer keeps answers for
    // dns_max_ttl (default 15 s) and failures for dns_nxdomain_ttl (15 s), and so do we: a failover
    // that moves a name is followed within 15 s, and a pool that cannot resolve its host does not
    // send a lookup per retry. (getaddrinfo does not tell us the record's own TTL.)
    static constexpr uint64_t kTtlNs = 15'000'000'000ull;

    explicit HostResolver(uv_loop_t* loop, uint64_t ttl_ns = kTtlNs) : loop_(loop), ttl_ns_(ttl_ns) {}
    ~HostResolver();
    HostResolver(const HostResolver&) = delete;
    HostResolver& operator=(const HostResolver&) = delete;

    // Calls `done` once every name has an answer: at once (before returning) when all are fresh in
    // the cache, else from the loop. A caller that may be gone by then checks for itself (by id).
    void resolve(const std::vector<std::string>& names, Done done);

    uint64_t lookups = 0;        // getaddrinfo requests started
    uint64_t lookup_failures = 0;

private:
    struct Lookup;  // one uv_getaddrinfo request in flight
    struct Batch {
        size_t outstanding = 0;
        Results results;
        Done done;
    };
    struct Entry {
        HostLookup answer;
        uint64_t expires_ns = 0;
        bool pending = false;
        std::vector<std::shared_ptr<Batch>> waiting;
    };
    static void on_resolved(uv_getaddrinfo_t* req, int status, addrinfo* res);
    void finished(const std::string& name, HostLookup answer);

    uv_loop_t* loop_;
    uint64_t ttl_ns_;
    std::map<std::string, Entry> cache_;
    std::vector<Lookup*> in_flight_;
};

}  // namespace portico::pool
