// statement_guard: finding LISTEN at a statement start, and nowhere else.
#define BOOST_TEST_MODULE pool_statement_guard
#include <boost/test/unit_test.hpp>

#include "pool/builders.hpp"
#include "pool/frontend.hpp"
#include "pool/message_reader.hpp"
#include "pool/statement_guard.hpp"

using namespace portico::pool;

BOOST_AUTO_TEST_CASE(listen_at_any_statement_start) {
    for (const char* sql : {"LISTEN ch", "listen ch", "  \n\tListen \"Ch\"", "-- first\nLISTEN ch",
                            "/* a /* nested */ comment */ LISTEN ch", "SELECT 1; LISTEN ch", "SELECT ';'; LISTEN ch",
                            "SELECT $$;$$; listen ch", "SELECT $tag$ ; $$ ; $tag$;LISTEN ch", "SELECT E'\\';'; LISTEN x"}) {
        BOOST_TEST_CONTEXT(sql) { BOOST_TEST(starts_a_listen(sql)); }
    }
}

BOOST_AUTO_TEST_CASE(not_a_listen) {
    for (const char* sql : {"SELECT 'LISTEN ch'", "-- LISTEN ch\nSELECT 1", "/* LISTEN */ SELECT 1", "UNLISTEN ch",
                            "SELECT listen FROM t", "LISTENER", "NOTIFY ch", "SELECT \"LISTEN\" FROM t",
                            "SELECT $$; LISTEN x$$", "SELECT $1; SELECT 2", "", ";;", "SELECT 'it''s; LISTEN'"}) {
        BOOST_TEST_CONTEXT(sql) { BOOST_TEST(!starts_a_listen(sql)); }
    }
}

BOOST_AUTO_TEST_CASE(refusal_is_one_do_block_with_quoted_text) {
    std::string s = refusal_statement("it's refused", "use session mode");
    BOOST_TEST(s.rfind("DO $portico$", 0) == 0u);
    BOOST_TEST(s.find("'it''s refused'") != std::string::npos);
    BOOST_TEST(s.find("ERRCODE = '0A000'") != std::string::npos);
}

namespace {
// A whole typed message over `raw` (which must outlive it).
Message whole(const std::string& raw) {
    Message m;
    m.type = raw[0];
    m.raw = raw;
    m.body = std::string_view(raw).substr(5);
    return m;
}
}  // namespace

BOOST_AUTO_TEST_CASE(replace_listen_keeps_the_message_kind) {
    std::string query;
    append_query(query, "SELECT 1; LISTEN ch");
    std::string storage;
    Message refusal;
    BOOST_TEST_REQUIRE(replace_listen(whole(query), storage, refusal));
    BOOST_TEST(refusal.type == 'Q');
    BOOST_TEST(refusal.raw == storage);  // the whole new message, header included
    auto q = parse_query(refusal.body);
    BOOST_TEST_REQUIRE(bool(q));
    BOOST_TEST(q->sql == refusal_statement(
        "LISTEN is not supported in transaction pooling mode: notifications would go to whichever client "
        "gets this server next",
        "Connect listeners to a pool in session mode (pool.mode: session)."));

    std::string parse;
    append_parse(parse, "s1", "listen ch");
    BOOST_TEST_REQUIRE(replace_listen(whole(parse), storage, refusal));
    BOOST_TEST(refusal.type == 'P');
    BOOST_TEST(refusal.raw == storage);
    auto p = parse_parse(refusal.body);
    BOOST_TEST_REQUIRE(bool(p));
    BOOST_TEST(p->statement == "s1");
    BOOST_TEST(p->query.find("DO $portico$") == 0u);
}

BOOST_AUTO_TEST_CASE(replace_listen_leaves_others_alone) {
    std::string select, parse, sync, malformed = std::string("Q\0\0\0\x05", 5);
    append_query(select, "SELECT 'LISTEN ch'");
    append_parse(parse, "s1", "SELECT 1");
    append_sync(sync);
    for (const std::string* raw : {&select, &parse, &sync, &malformed}) {
        std::string storage;
        Message refusal;
        BOOST_TEST(!replace_listen(whole(*raw), storage, refusal));
        BOOST_TEST(storage.empty());
        BOOST_TEST(refusal.type == 0);
    }
}

BOOST_AUTO_TEST_CASE(deallocate_forms) {
    auto d = parse_deallocate("DEALLOCATE s1");
    BOOST_TEST_REQUIRE(d.has_value());
    BOOST_TEST(!d->all);
    BOOST_TEST(d->name == "s1");
    d = parse_deallocate("  deallocate PREPARE MyStmt ; ");
    BOOST_TEST_REQUIRE(d.has_value());
    BOOST_TEST(d->name == "mystmt");  // unquoted identifiers fold to lower case
    d = parse_deallocate("/* c */ DEALLOCATE \"My\"\"Stmt\"");
    BOOST_TEST_REQUIRE(d.has_value());
    BOOST_TEST(d->name == "My\"Stmt");
    d = parse_deallocate("DEALLOCATE ALL;");
    BOOST_TEST_REQUIRE(d.has_value());
    BOOST_TEST(d->all);
    d = parse_deallocate("DEALLOCATE prepare all");
    BOOST_TEST_REQUIRE(d.has_value());
    BOOST_TEST(d->all);
    d = parse_deallocate("DEALLOCATE _pg3_0");
    BOOST_TEST_REQUIRE(d.has_value());
    BOOST_TEST(d->name == "_pg3_0");
}

BOOST_AUTO_TEST_CASE(not_a_lone_deallocate) {
    for (const char* sql : {"DEALLOCATE", "DEALLOCATE s1; SELECT 1", "SELECT 1; DEALLOCATE s1", "DEALLOCATEs1",
                            "DEALLOCATE \"\"", "DEALLOCATE 1abc", "DEALLOCATE a b", "-- DEALLOCATE s1", "DISCARD ALL"}) {
        BOOST_TEST_CONTEXT(sql) { BOOST_TEST(!parse_deallocate(sql).has_value()); }
    }
}

BOOST_AUTO_TEST_CASE(session_effects_found_in_text) {
    BOOST_TEST(session_effects("SELECT set_config('search_path', 'x', false)").parameters);
    BOOST_TEST(session_effects("select SET_CONFIG('a.b', '1', true)").parameters);  // conservative
    BOOST_TEST(session_effects("SELECT pg_advisory_lock(1)").advisory_locks);
    BOOST_TEST(session_effects("SELECT pg_try_advisory_lock_shared(1)").advisory_locks);
    BOOST_TEST(!session_effects("SELECT pg_advisory_xact_lock(1)").advisory_locks);
    SessionEffects none = session_effects("SELECT 1");
    BOOST_TEST(!none.parameters);
    BOOST_TEST(!none.advisory_locks);
}
