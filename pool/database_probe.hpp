// Readiness of a pool database for GET /ready, as proxy/upstream_probe does for the app: while the
// database has no working server connection, a PQping every 2 s says whether its server answers.
// Without it a pool nobody has used yet looks ready however dead its database is: the pool only
// learns of a failure when a client asks for a server.
//
// PQping blocks (connect, startup, the server's first answer), so it runs on libuv's thread pool,
// with connect_timeout=2; the answer comes back on the pool loop. Every 2 s until a ping is
// answered, then every 10 s: a ping that cannot log in (a role that does not exist, with trust or
// peer authentication) leaves a line in PostgreSQL's log, so the pooler pings as the role its
// servers use (see Pooler::sweep) and not more often than readiness needs.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <uv.h>

namespace portico::pool {

class DatabaseProbe {
public:
    using Params = std::vector<std::pair<std::string, std::string>>;
    enum class Result : uint8_t { unknown, ok, rejected, no_response, no_attempt };

    // `params`: libpq keywords (the database's conninfo; dbname added when it has none).
    DatabaseProbe(uv_loop_t* loop, std::string database, Params params);
    ~DatabaseProbe();  // a ping in flight finishes on the thread pool; its answer is dropped
    DatabaseProbe(const DatabaseProbe&) = delete;
    DatabaseProbe& operator=(const DatabaseProbe&) = delete;

    // From the pooler's sweep, while the database has no working server: pings when none is in
    // flight and the last one started 2 s ago (10 s after an answered one) or more. `login`
    // (user, password) replaces the conninfo's keywords of the same names for this ping.
    void tick(uint64_t now_ns, const Params& login = {});

    const std::string& database() const { return database_; }
    Result result() const { return result_; }
    uint64_t last_ok_ns() const { return last_ok_ns_; }
    // Why the database is not reachable, for /ready; "" after a good ping.
    std::string reason() const;

private:
    struct Ping;
    void answered(int ping_result, uint64_t now_ns);

    uv_loop_t* loop_;
    std::string database_;
    Params params_;
    Ping* in_flight_ = nullptr;  // owned by the thread pool's callbacks
    uint64_t last_start_ns_ = 0;
    uint64_t last_ok_ns_ = 0;
    Result result_ = Result::unknown;
};

}  // namespace portico::pool
