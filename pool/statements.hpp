// Named prepared statements in transaction mode: which statement text each server name stands
// for, and which of them each server connection has prepared.
//
// A client's Parse("s1", text) is interned in its pool's registry under (parameter set, text and
// parameter types): every client of the pool that prepares the same text with the same startup
// parameters shares one server-side name, PORTICO_<id>, so a server prepares it once for all of
// them. Each server keeps the ids it has prepared in an LRU list bounded by
// pool.max_prepared_statements; the least recently used is closed on the server to make room.
// Pure data: the rewriting of the message stream is StatementTracker's (statement_tracker.hpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace portico::pool {

struct PreparedStatement {
    uint64_t id = 0;
    std::string server_name;  // "PORTICO_<id>"
    // The Parse body after the statement name (query text, NUL, parameter type OIDs): a Parse of
    // server_name followed by this prepares it on another server.
    std::string body;
    std::string key;  // the registry key (parameter set id + body)
    // A server accepted this text: another client's Parse+Sync of it can be answered without one.
    bool validated = false;
    // The RowDescription (or NoData) last seen for it, raw: every server holding server_name gives
    // these columns; a different answer means DDL changed them (statement_tracker.hpp).
    std::string shape;
    // What running it leaves on a server beyond the transaction (set_config(), session advisory
    // locks): applied to whichever server each Bind runs on.
    bool sets_parameters = false;
    bool takes_advisory_locks = false;
};
using StatementRef = std::shared_ptr<PreparedStatement>;

class StatementRegistry {
public:
    // Unreferenced entries are forgotten once the registry holds more than this many.
    explicit StatementRegistry(size_t keep = 10000) : keep_(keep) {}

    // The shared statement for this text under this parameter set (Pool::params_id_for).
    StatementRef intern(uint64_t params_id, std::string_view parse_body);
    // The statement if it is registered already; nullptr otherwise.
    StatementRef find(uint64_t params_id, std::string_view parse_body) const;
    // The statement's plan went stale on a server (`cached plan must not change result type`
    // after DDL): it gets a new id and name, so every server prepares it afresh on next use and
    // no other server answers with the same error. Clients holding it follow automatically.
    void renew(PreparedStatement& statement);

    size_t size() const { return by_key_.size(); }

private:
    void forget_unreferenced();

    size_t keep_;
    uint64_t next_id_ = 1;
    std::unordered_map<std::string, StatementRef> by_key_;
};

// The statements one server connection has prepared, least recently used first.
class ServerStatements {
public:
    bool has(uint64_t id) const { return where_.count(id) != 0; }
    // Marks it used now; false when the server does not have it.
    bool touch(uint64_t id);
    // Records a statement the server is about to prepare. When that makes more than `capacity`,
    // the least recently used is dropped and its server name returned: Close it on the server.
    std::optional<std::string> add(uint64_t id, std::string_view server_name, size_t capacity);
    void remove(uint64_t id);
    void clear();
    size_t size() const { return where_.size(); }

private:
    struct Entry {
        uint64_t id;
        std::string server_name;
    };
    std::list<Entry> lru_;  // front: least recently used
    std::unordered_map<uint64_t, std::list<Entry>::iterator> where_;
};

}  // namespace portico::pool
