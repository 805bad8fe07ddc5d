// statement_guard: finding LISTEN at a statement start, and nowhere else.
#define BOOST_TEST_MODULE pool_statement_guard
#include <boost/test/unit_test.hpp>

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
