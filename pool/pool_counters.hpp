// The figures one pool (database, user) keeps: PgBouncer's SHOW POOLS / SHOW STATS fields plus every
// decision the pooler makes (waits, connects, resets, recycles, pre-ping failures, cancels,
// timeouts). Plain integers: only the pool thread writes them; the admin API reads a copy taken on
// that thread.
#pragma once

#include <cstdint>

namespace portico::pool {

struct PoolCounters {
    // Work carried.
    uint64_t transactions = 0;     // ReadyForQuery 'I' reached by a client's work
    uint64_t queries = 0;          // ReadyForQuery of any status: command cycles
    uint64_t transaction_us = 0;   // time servers spent linked to a client (transaction mode)
    uint64_t query_us = 0;         // from a cycle's first message to its ReadyForQuery
    uint64_t bytes_from_clients = 0;
    uint64_t bytes_to_clients = 0;
    // Waiting for a server.
    uint64_t client_waits = 0;     // times a client had to queue
    uint64_t wait_us = 0;          // total time clients queued
    uint64_t query_wait_timeouts = 0;
    uint64_t idle_transaction_timeouts = 0;
    // Servers.
    uint64_t server_connects = 0;
    uint64_t server_connect_failures = 0;
    uint64_t server_resets = 0;    // ROLLBACK / DISCARD ALL before reuse
    uint64_t server_param_syncs = 0;  // SET/RESET to give a client its startup parameters
    uint64_t server_recycles = 0;  // closed for server_lifetime or a changed conninfo
    uint64_t server_idle_closes = 0;
    uint64_t server_prepings = 0;
    uint64_t server_preping_failures = 0;
    uint64_t server_dirty_closes = 0;  // closed because a client left it mid-result
    uint64_t server_broken = 0;    // closed by the server or the network while in use
    uint64_t cancels = 0;          // cancel requests forwarded
    uint64_t listens_refused = 0;  // LISTEN in transaction mode, answered 0A000
    // Named prepared statements in transaction mode (statement_tracker.hpp).
    uint64_t statements_prepared = 0;     // a client's Parse sent to a server that lacked it
    uint64_t statements_reused = 0;       // a client's Parse answered by us: the server had it
    uint64_t statements_reprepared = 0;   // our own Parse before a Bind/Describe on another server
    uint64_t statements_evicted = 0;      // closed on a server by its max_prepared_statements LRU
    uint64_t statements_closed_locally = 0;  // a client's Close answered by us
    uint64_t statements_deallocated = 0;  // SQL DEALLOCATE name/ALL, DISCARD ALL on a client's own
    uint64_t statements_invalidated = 0;  // renamed: stale-plan error, or new columns seen after DDL
    uint64_t statements_stale = 0;        // a Bind refused as Postgres would: the client's columns changed
    uint64_t session_resets = 0;          // a server reset for SET/set_config/PREPARE/cursor/lock state
    // Clients.
    uint64_t logins = 0;
    uint64_t login_failures = 0;
};

}  // namespace portico::pool
