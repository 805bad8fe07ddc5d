// One client's named prepared statements in transaction mode, and the rewriting of its message
// stream that lets them live on whichever server it gets.
//
// Client → server: Parse("s1") is interned in the pool's registry (statements.hpp) and sent as
// Parse("PORTICO_n") — or not sent at all when the server already has it, the client getting a
// ParseComplete of ours; Bind and Describe of "s1" are renamed, after a Parse of our own when this
// server lacks it; Close("s1") is answered locally. SQL DEALLOCATE of a client's statement becomes
// DEALLOCATE of its server name. Unnamed statements and portals pass unchanged.
//
// Server → client: every message the client sent that the server answers is expected in order
// (Parse → ParseComplete, Describe → ParameterDescription + RowDescription/NoData, Execute → … →
// CommandComplete, Sync → ReadyForQuery…), so the answers we synthesise are put exactly where the
// server's would have been, and the answers to our own Parse/Close are taken out. After an error
// the server skips to the next Sync: so do the expectations, undoing the Parses that never ran.
//
// Result shapes: a client that described its statement (asyncpg does, and caches the columns)
// must not get rows of another shape after DDL — Postgres would refuse its Bind with `cached plan
// must not change result type`. Each statement keeps the RowDescription last seen for it; a
// client whose description differs gets that error in place of its Bind, and before a described
// statement is prepared on another server, our own Describe is checked with the client's messages
// held back until it answers.
//
// The same look at command tags tells which servers a client changed beyond its transaction (SET,
// RESET, SQL PREPARE, holdable cursors, session advisory locks): the pooler resets those before the
// next client gets them (SessionDirt).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "pool/message_reader.hpp"
#include "pool/pool_counters.hpp"
#include "pool/statements.hpp"

namespace portico::pool {

// What a client left on a server that the next client must not see; the reset that clears it.
struct SessionDirt {
    bool parameters = false;      // SET, RESET, set_config(): RESET ALL
    bool sql_statements = false;  // SQL PREPARE: DEALLOCATE ALL (the pooler's statements go too)
    bool cursors = false;         // DECLARE … WITH HOLD: CLOSE ALL
    bool advisory_locks = false;  // pg_advisory_lock(): pg_advisory_unlock_all()
    // RESET / DISCARD ALL by the client: the server went back to its own defaults, which needs no
    // undoing — asyncpg's pool sends RESET ALL on every release — but the parameters the pooler
    // applied for the client may be gone (or back, after a ROLLBACK): see Pooler::release.
    bool parameters_reset = false;

    bool any() const { return parameters || sql_statements || cursors || advisory_locks; }
    // The statements that clear it, in an order that cannot fail.
    std::vector<std::string> reset_queries() const;
};

class StatementTracker {
public:
    // What the current link gives the tracker.
    struct Link {
        StatementRegistry& registry;
        ServerStatements& server;
        SessionDirt& dirt;
        std::string& server_out;  // what the linked server gets
        PoolCounters& counters;
        size_t capacity = 0;     // pool.max_prepared_statements; 0 = statements pass unchanged
        uint64_t params_id = 0;  // the client's parameter set (part of the registry key)
    };

    // A client message (whole, or a part of a streamed one) for the linked server: appends what the
    // server must get to link.server_out, and answers due at once (nothing ahead of them) to
    // `to_client`.
    void client_message(const Link& link, const Message& m, std::string& to_client);
    // A server message: appends to `to_client` what the client must see, in order. Returns false
    // when the message itself was taken out (an answer to the pooler's own Parse, Close or Sync).
    bool server_message(const Link& link, const Message& m, std::string& to_client);

    // Nothing sent is still unanswered by the server, nothing held back.
    bool answered() const { return expected_.empty() && !skipping_ && !holding_; }
    size_t statement_count() const { return statements_.size(); }
    // The client's own statements (protocol-level names), for tests and figures.
    const StatementRef* find(std::string_view name) const;
    // A Parse[+Flush]+Sync from a client holding no server, of a text a server has accepted: the
    // name is recorded and the answer (ParseComplete) is ours — no server is taken for it, so a
    // client preparing at the start of each transaction (pgbench -M prepared, psycopg) does not
    // queue behind busy ones. False (nothing done) when a server must see it.
    bool parse_without_server(StatementRegistry& registry, uint64_t params_id, const Message& parse, PoolCounters& counters);
    // The link ended with the server gone or the client leaving: expectations go with it.
    void link_lost();

private:
    enum class Kind : uint8_t {
        parse,               // ParseComplete
        bind,                // BindComplete
        describe_statement,  // ParameterDescription, then RowDescription or NoData
        describe_portal,     // RowDescription or NoData
        execute,             // … CommandComplete, EmptyQueryResponse or PortalSuspended
        close,               // CloseComplete
        sync,                // ReadyForQuery
        query,               // … ReadyForQuery (a simple Query, a FunctionCall)
        synthetic,           // our answer, written when it reaches the front
        own_parse,           // our Parse: ParseComplete taken out
        own_close,           // our Close: CloseComplete taken out
        own_sync,            // our Sync after our Parse before a simple Query: ReadyForQuery taken out
        own_describe,        // our Describe of a statement prepared again: its shape is checked
    };
    struct Expected {
        Expected(Kind k, StatementRef s = {}) : kind(k), statement(std::move(s)) {}  // NOLINT: implicit
        Kind kind;
        StatementRef statement;   // parse/own_parse: prepared by it; bind/describe: the one used
        // parse: the client's name (undone if the Parse never ran); describe_statement and
        // own_describe: whose description it is.
        std::string client_name;
        std::string synthetic;    // synthetic: the bytes
        // A DEALLOCATE of `client_name` (query, or the execute of an unnamed Parse) to apply when
        // the server confirms it; parse: a duplicate name whose error must name the client's.
        bool deallocate = false;
        bool duplicate = false;
        bool quiet = false;       // own_parse before a simple Query: its error is not the client's
        // synthetic CloseComplete: the statement the client closed, given back if the server skips
        // the Close (an error ahead of it), with what the client had described.
        bool closing = false;
        std::string described;
        // Our Bind that must fail (a name no server has): the client gets this error instead of the
        // server's, and the server aborts and skips to the Sync exactly as for its own error.
        std::string replacement;
    };

    struct ClientStatement {
        StatementRef statement;
        std::string described;  // the RowDescription/NoData the client got for it ("" = none)
    };

    // Where messages for the server go now: held back while a shape check is under way.
    std::string& out(const Link& link) { return holding_ ? held_ : link.server_out; }
    void handle_whole(const Link& link, const Message& m, std::string& to_client);
    void handle_part(const Link& link, const Message& m, std::string& to_client);
    void parse(const Link& link, const Message& m, std::string& to_client);
    void bind(const Link& link, const Message& m, std::string& to_client);
    void describe(const Link& link, const Message& m);
    void close(const Link& link, const Message& m, std::string& to_client);
    void query(const Link& link, const Message& m);
    // A Bind streamed in parts: its names are collected from the first parts, then it is renamed.
    void finish_bind_head(const Link& link, bool last, std::string& to_client);
    // The statement a Bind names is ready to run on this server: false after answering it like a
    // stale Postgres statement (its client saw another shape), the Bind then dropped.
    bool ready_to_bind(const Link& link, const std::string& name, ClientStatement& cs, std::string& to_client);
    // Makes sure the server has `statement` prepared, sending our own Parse first if not (and our
    // Describe, holding the client's messages back, when `check_for` described it).
    void ensure_prepared(const Link& link, const StatementRef& statement, bool before_query,
                         const std::string& check_for = {});
    // Records that the server will have `statement`, closing its least recently used if full.
    void will_prepare(const Link& link, const StatementRef& statement);
    // A RowDescription/NoData for `statement`: a new shape renames it (servers prepare it afresh).
    void observe_shape(const Link& link, PreparedStatement& statement, std::string_view raw);
    // The held messages go to the server, up to the next check under way.
    void release_held(const Link& link);
    // The shape check failed: a failing Bind goes ahead of the held messages (statement_tracker.cpp).
    void fail_held(const Link& link);
    // The held messages up to `upto` go to the server.
    void send_held(const Link& link, size_t upto);
    // A Bind of a statement whose columns changed under the client: a Bind that fails on the server
    // goes in its place (the client gets Postgres's stale-plan error for it).
    void fail_bind(const Link& link, bool at_front);
    void apply_effects(const Link& link, const PreparedStatement& statement);
    void push(Expected e) { expected_.push_back(std::move(e)); }
    void answer(std::string bytes, std::string& to_client);
    void pop_front(std::string& to_client);
    void write_due(std::string& to_client);  // synthesised answers now at the front
    void server_error(const Link& link, std::string_view body, std::string_view raw, std::string& to_client);
    void undo(const Link& link, const Expected& e);
    void command_complete(const Link& link, std::string_view body);

    // Looked up by string_view: no allocation per Bind for names past the small-string size
    // (asyncpg's "__asyncpg_stmt_12__").
    struct NameHash {
        using is_transparent = void;
        size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    std::unordered_map<std::string, ClientStatement, NameHash, std::equal_to<>> statements_;  // the client's names
    std::deque<Expected> expected_;
    bool skipping_ = false;     // the server skips to the client's next Sync after an error
    bool copy_in_ = false;      // COPY FROM STDIN through Execute: the server ignores Syncs until CopyDone/CopyFail
    bool discarding_parts_ = false;  // the rest of a streamed Bind replaced by our failing one
    // Held back while our own Describe of a statement prepared again is checked.
    bool holding_ = false;
    std::string held_;
    std::deque<size_t> checkpoints_;  // offsets in held_ where another check starts
    std::deque<size_t> held_syncs_;   // offsets in held_ of the client's Syncs
    // DEALLOCATEs of client statements carried by unnamed Parses that the server accepted, in
    // order: each applied at the next Execute's DEALLOCATE CommandComplete.
    std::deque<std::string> deallocating_;
    // A Bind streamed in parts whose names have not all arrived yet.
    std::string bind_head_;
    bool collecting_bind_ = false;
    char part_type_ = 0;
};

}  // namespace portico::pool
