// Statements transaction pooling cannot carry. LISTEN registers the *server* for notifications: in
// transaction mode the next transaction may run elsewhere and the notifications would be lost, or
// delivered to another client. PgBouncer lets it through silently; Portico answers with an error
// the app can act on (use session mode for listeners).
#pragma once

#include <string>
#include <string_view>

namespace portico::pool {

// True when any statement of `sql` (a simple Query may hold several, split at top-level ';')
// starts with the keyword LISTEN. Comments, quoted strings, quoted identifiers and dollar quotes
// are skipped, so "SELECT 'LISTEN x'" or "-- LISTEN" do not count.
bool starts_a_listen(std::string_view sql);

// The statement sent in place of a refused one: it fails on the server with SQLSTATE 0A000 and
// `message`, so the error reaches the client in stream order, and inside a transaction block
// aborts it exactly as a real error would.
std::string refusal_statement(std::string_view message, std::string_view hint);

}  // namespace portico::pool
