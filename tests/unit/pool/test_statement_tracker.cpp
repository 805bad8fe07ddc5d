// statement_tracker: renaming a client's statements, preparing them on whichever server it gets,
// answering for the server where it was not asked (in order), and the error path to Sync.
#define BOOST_TEST_MODULE pool_statement_tracker
#include <boost/test/unit_test.hpp>

#include <string>
#include <utility>
#include <vector>

#include "pool/backend.hpp"
#include "pool/builders.hpp"
#include "pool/frontend.hpp"
#include "pool/message_reader.hpp"
#include "pool/statement_tracker.hpp"

using namespace portico::pool;

namespace {

struct Server {
    ServerStatements statements;
    SessionDirt dirt;
};

// The messages in `bytes`, as (type, body).
std::vector<std::pair<char, std::string>> split(const std::string& bytes) {
    std::vector<std::pair<char, std::string>> out;
    MessageReader reader;
    reader.feed(bytes);
    Message m;
    while (reader.next(m) == MessageReader::Status::message) out.emplace_back(m.type, std::string(m.body));
    return out;
}

std::string types(const std::string& bytes) {
    std::string t;
    for (auto& [type, body] : split(bytes)) t += type;
    return t;
}

struct Fixture {
    StatementRegistry registry;
    PoolCounters counters;
    Server a, b;
    size_t capacity = 100;
    std::string wire;  // what the server got (from send(), or released by receive())

    StatementTracker::Link link(Server& s, uint64_t params_id = 1) {
        return {registry, s.statements, s.dirt, wire, counters, capacity, params_id};
    }
    // Client messages (one or more, concatenated): what reaches the server and the client now.
    std::pair<std::string, std::string> send(StatementTracker& t, Server& s, const std::string& messages) {
        wire.clear();
        std::string to_client;
        MessageReader reader;
        reader.feed(messages);
        Message m;
        while (reader.next(m) == MessageReader::Status::message) t.client_message(link(s), m, to_client);
        return {wire, to_client};
    }
    // Server messages: what the client sees.
    std::string receive(StatementTracker& t, Server& s, const std::string& messages) {
        wire.clear();
        std::string to_client;
        MessageReader reader;
        reader.feed(messages);
        Message m;
        while (reader.next(m) == MessageReader::Status::message) t.server_message(link(s), m, to_client);
        return to_client;
    }
};

// One message from a builder of pool/builders.hpp.
template <typename Build>
std::string built(Build build) {
    std::string s;
    build(s);
    return s;
}
std::string parse(std::string_view name, std::string_view sql) { return built([&](auto& s) { append_parse(s, name, sql); }); }
std::string bind(std::string_view statement) { return built([&](auto& s) { append_bind(s, "", statement); }); }
std::string describe(std::string_view statement) {
    return built([&](auto& s) { append_describe(s, TargetKind::statement, statement); });
}
std::string close(std::string_view statement) {
    return built([&](auto& s) { append_close(s, TargetKind::statement, statement); });
}
std::string execute() { return built([](auto& s) { append_execute(s, ""); }); }
std::string sync_msg() { return built([](auto& s) { append_sync(s); }); }
std::string flush() { return built([](auto& s) { append_flush(s); }); }
std::string query(std::string_view sql) { return built([&](auto& s) { append_query(s, sql); }); }
std::string parse_complete() { return built([](auto& s) { append_parse_complete(s); }); }
std::string bind_complete() { return built([](auto& s) { append_bind_complete(s); }); }
std::string close_complete() { return built([](auto& s) { append_close_complete(s); }); }
std::string command_complete(std::string_view tag) { return built([&](auto& s) { append_command_complete(s, tag); }); }
std::string ready(TransactionStatus status = TransactionStatus::idle) {
    return built([&](auto& s) { append_ready_for_query(s, status); });
}
std::string error(std::string_view sqlstate, std::string_view message) {
    return built([&](auto& s) { append_error_response(s, {"ERROR", sqlstate, message, {}, {}}); });
}

// A RowDescription with `columns` int4 columns named c0, c1…
std::string row_description(int columns) {
    std::string body;
    body.push_back(char(0));
    body.push_back(char(columns));
    for (int i = 0; i < columns; ++i) {
        body += "c" + std::to_string(i);
        body.push_back('\0');
        body.append(4, '\0');                      // table OID
        body.append(2, '\0');                      // attribute number
        body += std::string("\0\0\0\x17", 4);  // int4
        body += std::string("\0\x04", 2);         // size
        body.append(4, '\xff');                    // typmod -1
        body.append(2, '\0');                      // format
    }
    std::string out = "T";
    uint32_t len = uint32_t(body.size() + 4);
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(char((len >> shift) & 0xff));
    return out + body;
}
std::string parameter_description() { return std::string("t\0\0\0\x06\0\0", 7); }

// The statement name a server-bound Parse, Bind or Describe carries.
std::string named(const std::pair<char, std::string>& m) {
    const std::string& body = m.second;
    if (m.first == 'P') return body.substr(0, body.find('\0'));
    if (m.first == 'B') {
        size_t portal_end = body.find('\0');
        return body.substr(portal_end + 1, body.find('\0', portal_end + 1) - portal_end - 1);
    }
    return body.substr(1, body.find('\0', 1) - 1);  // Describe / Close: kind byte, name
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(tracker, Fixture)

BOOST_AUTO_TEST_CASE(a_named_parse_is_renamed_and_its_uses_follow) {
    StatementTracker t;
    auto [to_server, to_client] = send(t, a, parse("s1", "SELECT 1") + bind("s1") + execute() + sync_msg());
    auto m = split(to_server);
    BOOST_TEST_REQUIRE(m.size() == 4u);
    BOOST_TEST(named(m[0]) == "PORTICO_1");
    BOOST_TEST(named(m[1]) == "PORTICO_1");
    BOOST_TEST(to_client.empty());
    BOOST_TEST(counters.statements_prepared == 1u);
    BOOST_TEST(a.statements.has(1));
    std::string seen = receive(t, a, parse_complete() + bind_complete() + command_complete("SELECT 1") + ready());
    BOOST_TEST(types(seen) == "12CZ");
    BOOST_TEST(t.answered());
}

BOOST_AUTO_TEST_CASE(a_parse_the_server_already_has_is_answered_here) {
    StatementTracker first, second;
    send(first, a, parse("s1", "SELECT 1") + sync_msg());
    receive(first, a, parse_complete() + ready());
    // Another client, the same text: nothing goes to the server, the answer comes at once.
    auto [to_server, to_client] = send(second, a, parse("mine", "SELECT 1") + flush());
    BOOST_TEST(types(to_server) == "H");
    BOOST_TEST(types(to_client) == "1");
    BOOST_TEST(counters.statements_reused == 1u);
}

BOOST_AUTO_TEST_CASE(a_synthesised_answer_waits_for_the_answers_ahead_of_it) {
    StatementTracker first, second;
    send(first, a, parse("s1", "SELECT 1") + sync_msg());
    receive(first, a, parse_complete() + ready());
    // Bind of the unnamed statement first, then a Parse the server has: ParseComplete must come
    // after the server's BindComplete.
    auto [to_server, to_client] = send(second, a, parse("", "SELECT 2") + bind("") + parse("x", "SELECT 1") + sync_msg());
    BOOST_TEST(types(to_server) == "PBS");
    BOOST_TEST(to_client.empty());
    BOOST_TEST(types(receive(second, a, parse_complete())) == "1");
    BOOST_TEST(types(receive(second, a, bind_complete())) == "21");  // ours right after the server's
    BOOST_TEST(types(receive(second, a, ready())) == "Z");
    BOOST_TEST(second.answered());
}

BOOST_AUTO_TEST_CASE(another_server_gets_the_statement_prepared_first) {
    StatementTracker t;
    send(t, a, parse("s1", "SELECT 1") + sync_msg());
    receive(t, a, parse_complete() + ready());
    auto [to_server, to_client] = send(t, b, bind("s1") + execute() + sync_msg());
    auto m = split(to_server);
    BOOST_TEST_REQUIRE(m.size() == 4u);
    BOOST_TEST(m[0].first == 'P');
    BOOST_TEST(named(m[0]) == "PORTICO_1");
    BOOST_TEST(m[0].second.find("SELECT 1") != std::string::npos);
    BOOST_TEST(named(m[1]) == "PORTICO_1");
    BOOST_TEST(counters.statements_reprepared == 1u);
    // Our ParseComplete is taken out; the client sees what it asked for.
    std::string seen = receive(t, b, parse_complete() + bind_complete() + command_complete("SELECT 1") + ready());
    BOOST_TEST(types(seen) == "2CZ");
    // Describe on a third server prepares too.
    Server c;
    auto [to_c, none] = send(t, c, describe("s1") + sync_msg());
    BOOST_TEST(types(to_c) == "PDS");
}

BOOST_AUTO_TEST_CASE(the_least_recently_used_is_closed_on_the_server) {
    capacity = 2;
    StatementTracker t;
    send(t, a, parse("s1", "SELECT 1") + parse("s2", "SELECT 2") + sync_msg());
    receive(t, a, parse_complete() + parse_complete() + ready());
    auto [to_server, to_client] = send(t, a, parse("s3", "SELECT 3") + sync_msg());
    auto m = split(to_server);
    BOOST_TEST_REQUIRE(m.size() == 3u);
    BOOST_TEST(m[0].first == 'C');
    BOOST_TEST(named(m[0]) == "PORTICO_1");
    BOOST_TEST(counters.statements_evicted == 1u);
    BOOST_TEST(types(receive(t, a, close_complete() + parse_complete() + ready())) == "1Z");
    // s1 was evicted: using it prepares it again (evicting s2 now).
    auto [again, none] = send(t, a, bind("s1") + sync_msg());
    BOOST_TEST(types(again) == "CPBS");
    BOOST_TEST(types(receive(t, a, close_complete() + parse_complete() + bind_complete() + ready())) == "2Z");
}

BOOST_AUTO_TEST_CASE(close_is_answered_here_and_the_name_is_gone) {
    StatementTracker t;
    send(t, a, parse("s1", "SELECT 1") + sync_msg());
    receive(t, a, parse_complete() + ready());
    auto [to_server, to_client] = send(t, a, close("s1") + sync_msg());
    BOOST_TEST(types(to_server) == "S");
    BOOST_TEST(types(to_client) == "3");
    BOOST_TEST(t.find("s1") == nullptr);
    BOOST_TEST(a.statements.has(1));  // kept for other clients
    receive(t, a, ready());
    // Binding it now reaches the server under the client's own name: the server answers 26000.
    auto [bind_out, none] = send(t, a, bind("s1") + sync_msg());
    BOOST_TEST(named(split(bind_out)[0]) == "s1");
}

BOOST_AUTO_TEST_CASE(sql_deallocate_acts_on_the_clients_statement) {
    StatementTracker t;
    send(t, a, parse("s1", "SELECT 1") + sync_msg());
    receive(t, a, parse_complete() + ready());
    auto [to_server, to_client] = send(t, a, query("DEALLOCATE s1"));
    auto m = split(to_server);
    BOOST_TEST_REQUIRE(m.size() == 1u);
    BOOST_TEST(m[0].second.find("DEALLOCATE \"PORTICO_1\"") != std::string::npos);
    receive(t, a, command_complete("DEALLOCATE") + ready());
    BOOST_TEST(t.find("s1") == nullptr);
    BOOST_TEST(!a.statements.has(1));
    BOOST_TEST(counters.statements_deallocated == 1u);
}

BOOST_AUTO_TEST_CASE(sql_deallocate_on_a_server_without_it_prepares_it_first) {
    StatementTracker t;
    send(t, a, parse("s1", "SELECT 1") + sync_msg());
    receive(t, a, parse_complete() + ready());
    auto [to_server, to_client] = send(t, b, query("deallocate s1"));
    BOOST_TEST(types(to_server) == "PSQ");
    // Our Parse, our Sync: taken out. The client sees its command's answer only.
    BOOST_TEST(types(receive(t, b, parse_complete() + ready() + command_complete("DEALLOCATE") + ready())) == "CZ");
    BOOST_TEST(t.find("s1") == nullptr);
}

BOOST_AUTO_TEST_CASE(deallocate_in_an_unnamed_parse_psycopg_style) {
    StatementTracker t;
    send(t, a, parse("_pg3_0", "SELECT 1") + sync_msg());
    receive(t, a, parse_complete() + ready());
    auto [to_server, to_client] = send(t, a, parse("", "DEALLOCATE _pg3_0") + bind("") + execute() + sync_msg());
    auto m = split(to_server);
    BOOST_TEST_REQUIRE(m.size() == 4u);
    BOOST_TEST(m[0].second.find("DEALLOCATE \"PORTICO_1\"") != std::string::npos);
    receive(t, a, parse_complete() + bind_complete() + command_complete("DEALLOCATE") + ready());
    BOOST_TEST(t.find("_pg3_0") == nullptr);
}

BOOST_AUTO_TEST_CASE(deallocate_all_and_discard_all_forget_everything) {
    for (const char* tag : {"DEALLOCATE ALL", "DISCARD ALL"}) {
        StatementTracker t;
        Server s;
        send(t, s, parse("s1", "SELECT 1") + sync_msg());
        receive(t, s, parse_complete() + ready());
        send(t, s, query(tag));
        receive(t, s, command_complete(tag) + ready());
        BOOST_TEST(t.statement_count() == 0u);
        BOOST_TEST(s.statements.size() == 0u);
        // DISCARD ALL left nothing to undo; only what the pooler applied may be gone.
        BOOST_TEST(!s.dirt.any());
        BOOST_TEST(s.dirt.parameters_reset == (std::string(tag) == "DISCARD ALL"));
    }
}

BOOST_AUTO_TEST_CASE(an_error_skips_to_sync_and_undoes_the_parses_that_never_ran) {
    StatementTracker t;
    send(t, a, parse("bad", "SELEC 1") + parse("s2", "SELECT 2") + bind("s2") + execute() + sync_msg());
    BOOST_TEST(t.find("bad") != nullptr);
    std::string seen = receive(t, a, error("42601", "syntax error"));
    BOOST_TEST(types(seen) == "E");
    BOOST_TEST(t.find("bad") == nullptr);
    BOOST_TEST(t.find("s2") == nullptr);
    BOOST_TEST(a.statements.size() == 0u);
    BOOST_TEST(types(receive(t, a, ready())) == "Z");
    BOOST_TEST(t.answered());
}

BOOST_AUTO_TEST_CASE(an_error_before_the_sync_is_sent_skips_what_follows) {
    StatementTracker t;
    send(t, a, parse("s1", "SELECT 1") + sync_msg());
    receive(t, a, parse_complete() + ready());
    send(t, a, parse("bad", "SELEC") + flush());
    BOOST_TEST(types(receive(t, a, error("42601", "syntax error"))) == "E");
    BOOST_TEST(!t.answered());  // the server skips until the client's Sync
    // Meanwhile the client's Bind reaches the server as sent (ignored there), no answer owed.
    auto [to_server, to_client] = send(t, a, bind("s1") + execute() + sync_msg());
    BOOST_TEST(named(split(to_server)[0]) == "s1");
    BOOST_TEST(types(receive(t, a, ready())) == "Z");
    BOOST_TEST(t.answered());
}

BOOST_AUTO_TEST_CASE(a_reused_parse_skipped_by_an_error_is_undone) {
    StatementTracker first, t;
    send(first, a, parse("s1", "SELECT 1") + sync_msg());
    receive(first, a, parse_complete() + ready());
    send(t, a, parse("", "SELEC") + parse("mine", "SELECT 1") + sync_msg());
    BOOST_TEST(t.find("mine") != nullptr);
    BOOST_TEST(types(receive(t, a, error("42601", "syntax error") + ready())) == "EZ");  // no ParseComplete
    BOOST_TEST(t.find("mine") == nullptr);
    BOOST_TEST(a.statements.has(1));  // the first client's
}

BOOST_AUTO_TEST_CASE(a_stale_plan_renames_the_statement_everywhere) {
    StatementTracker t;
    send(t, a, parse("s1", "SELECT * FROM t") + sync_msg());
    receive(t, a, parse_complete() + ready());
    send(t, a, bind("s1") + execute() + sync_msg());
    std::string seen = receive(t, a, error("0A000", "cached plan must not change result type") + ready());
    BOOST_TEST(types(seen) == "EZ");
    BOOST_TEST(counters.statements_invalidated == 1u);
    const StatementRef* s1 = t.find("s1");
    BOOST_TEST_REQUIRE(s1 != nullptr);
    BOOST_TEST((*s1)->server_name != "PORTICO_1");
    // The next use prepares the new name on this server.
    auto [to_server, none] = send(t, a, bind("s1") + execute() + sync_msg());
    BOOST_TEST(types(to_server) == "PBES");
    BOOST_TEST(named(split(to_server)[0]) == (*s1)->server_name);
}

BOOST_AUTO_TEST_CASE(a_duplicate_name_fails_like_postgres_in_the_clients_words) {
    StatementTracker t;
    send(t, a, parse("s1", "SELECT 1") + sync_msg());
    receive(t, a, parse_complete() + ready());
    auto [to_server, none] = send(t, a, parse("s1", "SELECT 2") + sync_msg());
    BOOST_TEST(named(split(to_server)[0]) == "PORTICO_1");  // the server refuses: it has that name
    std::string seen = receive(t, a, error("42P05", "prepared statement \"PORTICO_1\" already exists") + ready());
    auto m = split(seen);
    BOOST_TEST_REQUIRE(m.size() == 2u);
    BOOST_TEST(m[0].second.find("prepared statement \"s1\" already exists") != std::string::npos);
    BOOST_TEST(m[0].second.find("PORTICO") == std::string::npos);
    BOOST_TEST(t.find("s1") != nullptr);  // the first one stays
}

BOOST_AUTO_TEST_CASE(a_bind_streamed_in_parts_is_renamed_from_its_first_bytes) {
    StatementTracker t;
    send(t, a, parse("s1", "SELECT $1::text") + sync_msg());
    receive(t, a, parse_complete() + ready());
    std::string big(300 * 1024, 'x');
    std::string whole_bind;
    std::string_view params[] = {big};
    append_bind(whole_bind, "", "s1", params);
    // Parts as the reader gives them: the header and a few bytes first (the names not complete).
    std::string to_client;
    wire.clear();
    std::vector<std::string> parts = {whole_bind.substr(0, 7), whole_bind.substr(7, 1000), whole_bind.substr(1007)};
    for (size_t i = 0; i < parts.size(); ++i) {
        Message m;
        m.type = 'B';
        m.raw = parts[i];
        m.part = true;
        m.first = i == 0;
        m.last = i + 1 == parts.size();
        t.client_message(link(a), m, to_client);
    }
    auto m = split(wire);
    BOOST_TEST_REQUIRE(m.size() == 1u);  // one well-formed message, its length word adjusted
    BOOST_TEST(named(m[0]) == "PORTICO_1");
    BOOST_TEST(m[0].second.size() == whole_bind.size() - 5 - 2 + std::string("PORTICO_1").size());
}

BOOST_AUTO_TEST_CASE(session_state_left_on_a_server_is_noted) {
    StatementTracker t;
    send(t, a, query("SET search_path = x"));
    receive(t, a, command_complete("SET") + ready());
    BOOST_TEST(a.dirt.parameters);
    send(t, b, query("SELECT set_config('statement_timeout', '1ms', false)"));
    BOOST_TEST(b.dirt.parameters);
    Server c;
    send(t, c, query("PREPARE p AS SELECT 1"));
    receive(t, c, command_complete("PREPARE") + ready());
    BOOST_TEST(c.dirt.sql_statements);
    Server d;
    send(t, d, query("SELECT 1"));
    receive(t, d, command_complete("SELECT 1") + ready());
    BOOST_TEST(!d.dirt.any());
    // asyncpg's reset on release takes a server back to its defaults: nothing to undo.
    Server e;
    send(t, e, query("SELECT pg_advisory_unlock_all();\nCLOSE ALL;\nUNLISTEN *;\nRESET ALL;"));
    receive(t, e, command_complete("SELECT 1") + command_complete("CLOSE CURSOR ALL") + command_complete("UNLISTEN") +
                      command_complete("RESET") + ready());
    BOOST_TEST(!e.dirt.any());
    BOOST_TEST(e.dirt.parameters_reset);
    // A SET before it still counts.
    Server f;
    send(t, f, query("SET work_mem = '1GB'; RESET ALL"));
    receive(t, f, command_complete("SET") + command_complete("RESET") + ready());
    BOOST_TEST(f.dirt.parameters);
    SessionDirt all{true, true, true, true, false};
    auto q = all.reset_queries();
    BOOST_TEST_REQUIRE(q.size() == 4u);
    BOOST_TEST(q.back().find("RESET ROLE") != std::string::npos);  // RESET ALL alone keeps a SET ROLE
    BOOST_TEST(q.back().find("SET SESSION AUTHORIZATION DEFAULT") != std::string::npos);
    BOOST_TEST(q.back().find("RESET ALL") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(unnamed_statements_and_portals_pass_unchanged) {
    StatementTracker t;
    std::string batch = parse("", "SELECT 1") + bind("") + describe("") + execute() + sync_msg();
    auto [to_server, to_client] = send(t, a, batch);
    BOOST_TEST(to_server == batch);
    BOOST_TEST(a.statements.size() == 0u);
}

BOOST_AUTO_TEST_CASE(disabled_statements_pass_names_through) {
    capacity = 0;
    StatementTracker t;
    std::string batch = parse("s1", "SELECT 1") + bind("s1") + close("s1") + sync_msg();
    auto [to_server, to_client] = send(t, a, batch);
    BOOST_TEST(to_server == batch);
    BOOST_TEST(types(receive(t, a, parse_complete() + bind_complete() + close_complete() + ready())) == "123Z");
}

BOOST_AUTO_TEST_CASE(a_validated_parse_needs_no_server) {
    StatementTracker first, second, third;
    std::string p = parse("P_0", "BEGIN");
    MessageReader reader;
    reader.feed(p);
    Message m;
    BOOST_TEST_REQUIRE(bool(reader.next(m) == MessageReader::Status::message));
    // Unknown text: a server must see it.
    BOOST_TEST(!second.parse_without_server(registry, 1, m, counters));
    send(first, a, p + sync_msg());
    BOOST_TEST(!second.parse_without_server(registry, 1, m, counters));  // sent, not yet accepted
    receive(first, a, parse_complete() + ready());
    BOOST_TEST(second.parse_without_server(registry, 1, m, counters));
    BOOST_TEST(second.find("P_0") != nullptr);
    BOOST_TEST(!second.parse_without_server(registry, 1, m, counters));  // a duplicate: the server says so
    BOOST_TEST(!third.parse_without_server(registry, 2, m, counters));   // other parameters: another key
}

// asyncpg's way: Parse + Describe, then Bind/Execute/Sync with the columns it was told.
BOOST_AUTO_TEST_CASE(a_described_statement_is_checked_before_it_runs_elsewhere) {
    StatementTracker t;
    send(t, a, parse("s1", "SELECT * FROM t") + describe("s1") + sync_msg());
    receive(t, a, parse_complete() + parameter_description() + row_description(1) + ready());
    // On server b: our Parse and Describe go first; the client's Bind waits for the answer.
    auto [to_b, none] = send(t, b, bind("s1") + execute() + sync_msg());
    BOOST_TEST(types(to_b) == "PDH");
    BOOST_TEST(!t.answered());
    std::string seen = receive(t, b, parse_complete() + parameter_description() + row_description(1));
    BOOST_TEST(seen.empty());     // all ours
    BOOST_TEST(types(wire) == "BES");  // the same columns: the held messages go
    BOOST_TEST(types(receive(t, b, bind_complete() + command_complete("SELECT 1") + ready())) == "2CZ");
    BOOST_TEST(t.answered());
}

BOOST_AUTO_TEST_CASE(changed_columns_fail_the_bind_like_postgres_once_per_client_statement) {
    StatementTracker t, fresh;
    send(t, a, parse("s1", "SELECT * FROM t") + describe("s1") + sync_msg());
    receive(t, a, parse_complete() + parameter_description() + row_description(1) + ready());
    // ALTER TABLE t ADD COLUMN: server b prepares it with two columns.
    send(t, b, bind("s1") + execute() + sync_msg());
    std::string seen = receive(t, b, parse_complete() + parameter_description() + row_description(2));
    BOOST_TEST(seen.empty());
    // A Bind that fails goes first: the server refuses it, aborts and skips the client's Bind and
    // Execute up to the Sync, as for its own error.
    auto held = split(wire);
    BOOST_TEST_REQUIRE(held.size() == 4u);
    BOOST_TEST(named(held[0]) == "PORTICO_STALE");
    BOOST_TEST(types(wire) == "BBES");
    std::string not_found = error("26000", "prepared statement \"PORTICO_STALE\" does not exist");
    auto m = split(receive(t, b, not_found + ready(TransactionStatus::idle)));
    BOOST_TEST_REQUIRE(m.size() == 2u);
    BOOST_TEST(m[0].first == 'E');
    BOOST_TEST(m[0].second.find("cached plan must not change result type") != std::string::npos);
    BOOST_TEST(m[0].second.find("RevalidateCachedQuery") != std::string::npos);  // how asyncpg knows it
    BOOST_TEST(m[0].second.find("PORTICO") == std::string::npos);
    BOOST_TEST(m[1].first == 'Z');
    BOOST_TEST(counters.statements_stale == 1u);
    BOOST_TEST(counters.statements_invalidated == 1u);  // a new name for the new columns
    BOOST_TEST(t.answered());
    // The client's statement stays stale (as in Postgres) until it prepares again: refused at once.
    auto [again, answer] = send(t, b, bind("s1") + execute() + sync_msg());
    BOOST_TEST(types(again) == "BES");
    BOOST_TEST(named(split(again)[0]) == "PORTICO_STALE");
    BOOST_TEST(answer.empty());
    BOOST_TEST(types(receive(t, b, not_found + ready())) == "EZ");
    // Another client preparing the text now sees two columns and runs anywhere.
    auto [prepared, none] = send(fresh, b, parse("s9", "SELECT * FROM t") + describe("s9") + sync_msg());
    BOOST_TEST(types(prepared) == "PDS");  // under the new name, which no server has yet
    receive(fresh, b, parse_complete() + parameter_description() + row_description(2) + ready());
    BOOST_TEST(fresh.answered());
    auto [run, nothing] = send(fresh, b, bind("s9") + execute() + sync_msg());
    BOOST_TEST(nothing.empty());
    BOOST_TEST(types(run).find('B') != std::string::npos);
}

BOOST_AUTO_TEST_CASE(pipelined_deallocates_each_remove_their_own_statement) {
    StatementTracker t;
    send(t, a, parse("_pg3_0", "SELECT 1") + parse("_pg3_1", "SELECT 2") + sync_msg());
    receive(t, a, parse_complete() + parse_complete() + ready());
    send(t, a, parse("", "DEALLOCATE _pg3_0") + bind("") + execute() + parse("", "DEALLOCATE _pg3_1") + bind("") +
                   execute() + sync_msg());
    std::string one = parse_complete() + bind_complete() + command_complete("DEALLOCATE");
    receive(t, a, one + one + ready());
    BOOST_TEST(t.find("_pg3_0") == nullptr);
    BOOST_TEST(t.find("_pg3_1") == nullptr);
    BOOST_TEST(a.statements.size() == 0u);  // the server has neither any more: neither is listed
}

BOOST_AUTO_TEST_CASE(a_close_skipped_by_an_error_gives_the_statement_back) {
    StatementTracker t;
    send(t, a, parse("s1", "SELECT 1") + sync_msg());
    receive(t, a, parse_complete() + ready());
    const StatementRef original = *t.find("s1");
    send(t, a, parse("", "SELEC") + close("s1") + parse("s1", "SELECT 2") + sync_msg());
    BOOST_TEST(types(receive(t, a, error("42601", "syntax error") + ready())) == "EZ");
    const StatementRef* s1 = t.find("s1");
    BOOST_TEST_REQUIRE(s1 != nullptr);
    BOOST_TEST(*s1 == original);  // as in Postgres: neither the Close nor the Parse ran
}

BOOST_AUTO_TEST_CASE(copy_in_through_execute_owes_one_ready_for_query) {
    StatementTracker t;
    std::string copy_in = std::string("G\0\0\0\x07\0\0\0", 8);  // CopyInResponse, text, no columns
    send(t, a, parse("", "COPY t FROM STDIN") + bind("") + execute() + sync_msg());
    receive(t, a, parse_complete() + bind_complete() + copy_in);
    std::string data;
    append_copy_data(data, "1\n");
    std::string done;
    append_copy_done(done);
    send(t, a, data + done + sync_msg());
    // The first Sync reached the server in copy-in mode and was ignored: one ReadyForQuery ends it.
    BOOST_TEST(types(receive(t, a, command_complete("COPY 1") + ready(TransactionStatus::in_transaction))) == "CZ");
    BOOST_TEST(t.answered());
    send(t, a, parse("s1", "SELECT 1") + sync_msg());
    BOOST_TEST(types(receive(t, a, parse_complete() + ready())) == "1Z");
}

BOOST_AUTO_TEST_CASE(session_effects_follow_the_statement_to_every_server) {
    StatementTracker t;
    send(t, a, parse("lock", "SELECT pg_advisory_lock($1)") + sync_msg());
    receive(t, a, parse_complete() + ready());
    BOOST_TEST(!b.dirt.any());
    send(t, b, bind("lock") + execute() + sync_msg());
    BOOST_TEST(b.dirt.advisory_locks);
}

BOOST_AUTO_TEST_CASE(an_error_in_one_batch_leaves_the_next_batchs_check_waiting) {
    StatementTracker t;
    send(t, a, parse("s1", "SELECT 1") + describe("s1") + parse("s2", "SELECT 2") + describe("s2") + sync_msg());
    receive(t, a, parse_complete() + parameter_description() + row_description(1) + parse_complete() +
                      parameter_description() + row_description(1) + ready());
    auto [first, none] = send(t, b, bind("s1") + execute() + sync_msg() + bind("s2") + execute() + sync_msg());
    BOOST_TEST(types(first) == "PDH");
    // s1 checks out: batch 1 goes, with s2's own Parse and Describe; batch 2 still waits.
    BOOST_TEST(receive(t, b, parse_complete() + parameter_description() + row_description(1)).empty());
    BOOST_TEST(types(wire) == "BESPDH");
    // Batch 1 fails at its Execute: the client sees that, then its ReadyForQuery — nothing of batch 2.
    std::string seen = receive(t, b, bind_complete() + error("22012", "division by zero") + ready());
    BOOST_TEST(types(seen) == "2EZ");
    BOOST_TEST(wire.empty());
    // s2's check answers: batch 2 goes now.
    BOOST_TEST(receive(t, b, parse_complete() + parameter_description() + row_description(1)).empty());
    BOOST_TEST(types(wire) == "BES");
    BOOST_TEST(types(receive(t, b, bind_complete() + command_complete("SELECT 1") + ready())) == "2CZ");
    BOOST_TEST(t.answered());
}

BOOST_AUTO_TEST_CASE(a_failed_check_lets_the_server_skip_only_up_to_the_clients_sync) {
    StatementTracker t;
    send(t, a, parse("s1", "SELECT * FROM t") + describe("s1") + sync_msg());
    receive(t, a, parse_complete() + parameter_description() + row_description(1) + ready());
    send(t, b, bind("s1") + execute() + sync_msg() + query("SELECT 42"));
    receive(t, b, parse_complete() + parameter_description() + row_description(2));
    BOOST_TEST(types(wire) == "BBESQ");  // our failing Bind, the held batch, then what came after
    std::string seen = receive(t, b, error("26000", "no such statement") + ready() + command_complete("SELECT 1") + ready());
    BOOST_TEST(types(seen) == "EZCZ");
    BOOST_TEST(t.answered());
}

BOOST_AUTO_TEST_SUITE_END()
