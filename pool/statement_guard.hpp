// Statements transaction pooling must look at. LISTEN registers the *server* for notifications: in
// transaction mode the next transaction may run elsewhere and the notifications would be lost, or
// delivered to another client. PgBouncer lets it through silently; Portico answers with an error
// the app can act on (use session mode for listeners). DEALLOCATE names the client's own prepared
// statements, which live on servers under other names (statement_tracker.hpp). set_config() and
// session advisory locks change the server for whoever gets it next (a reset before reuse).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace portico::pool {

struct Message;  // message_reader.hpp

// True when any statement of `sql` (a simple Query may hold several, split at top-level ';')
// starts with the keyword LISTEN. Comments, quoted strings, quoted identifiers and dollar quotes
// are skipped, so "SELECT 'LISTEN x'" or "-- LISTEN" do not count.
bool starts_a_listen(std::string_view sql);

// The statement sent in place of a refused one: it fails on the server with SQLSTATE 0A000 and
// `message`, so the error reaches the client in stream order, and inside a transaction block
// aborts it exactly as a real error would.
std::string refusal_statement(std::string_view message, std::string_view hint);

// In transaction mode, a client's whole Query or Parse `m` that starts a LISTEN is replaced: `refusal`
// becomes the same kind of message (a Parse keeps its statement name) running the refusal
// statement, its bytes kept in `storage`, and the result is true. False for anything else,
// malformed messages included (the server answers those), with both untouched.
bool replace_listen(const Message& m, std::string& storage, Message& refusal);

// `DEALLOCATE [PREPARE] name` or `DEALLOCATE [PREPARE] ALL` as the only statement of `sql` (blanks,
// comments and one ';' around it allowed). The name as Postgres reads it: an unquoted identifier
// lowercased, a quoted one exact ("" is a quote).
struct DeallocateCommand {
    bool all = false;
    std::string name;
};
std::optional<DeallocateCommand> parse_deallocate(std::string_view sql);

// What a statement may leave on the server beyond its transaction that no command tag reveals:
// set_config(…, false) changes parameters like SET; pg_advisory_lock and friends (not the _xact_
// ones) hold locks for the session. A plain substring test: a false positive costs one reset.
struct SessionEffects {
    bool parameters = false;
    bool advisory_locks = false;
};
SessionEffects session_effects(std::string_view sql);

}  // namespace portico::pool
