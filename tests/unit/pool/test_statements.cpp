// statements: the registry shares one server name per (parameter set, text); each server's LRU.
#define BOOST_TEST_MODULE pool_statements
#include <boost/test/unit_test.hpp>

#include "pool/statements.hpp"

using namespace portico::pool;

BOOST_AUTO_TEST_CASE(same_text_and_parameters_share_one_name) {
    StatementRegistry r;
    StatementRef a = r.intern(1, std::string("SELECT 1\0\0\0", 11));
    StatementRef b = r.intern(1, std::string("SELECT 1\0\0\0", 11));
    StatementRef other_params = r.intern(2, std::string("SELECT 1\0\0\0", 11));
    StatementRef other_text = r.intern(1, std::string("SELECT 2\0\0\0", 11));
    BOOST_TEST(a == b);
    BOOST_TEST(a->server_name == "PORTICO_" + std::to_string(a->id));
    BOOST_TEST(a->id != other_params->id);
    BOOST_TEST(a->id != other_text->id);
    BOOST_TEST(r.size() == 3u);
}

BOOST_AUTO_TEST_CASE(renew_gives_a_fresh_name_to_every_holder) {
    StatementRegistry r;
    StatementRef a = r.intern(1, "q");
    std::string old_name = a->server_name;
    r.renew(*a);
    BOOST_TEST(a->server_name != old_name);
    BOOST_TEST(r.intern(1, "q") == a);  // still the same entry for its text
}

BOOST_AUTO_TEST_CASE(unreferenced_entries_are_forgotten_past_the_bound) {
    StatementRegistry r(4);
    StatementRef held = r.intern(1, "held");
    for (int i = 0; i < 10; ++i) r.intern(1, "q" + std::to_string(i));
    BOOST_TEST(r.size() <= 5u);
    BOOST_TEST(r.intern(1, "held") == held);  // a statement a client holds is kept
}

BOOST_AUTO_TEST_CASE(lru_evicts_the_least_recently_used) {
    ServerStatements s;
    BOOST_TEST(!s.add(1, "PORTICO_1", 2).has_value());
    BOOST_TEST(!s.add(2, "PORTICO_2", 2).has_value());
    BOOST_TEST(s.touch(1));  // 2 is now the oldest
    auto evicted = s.add(3, "PORTICO_3", 2);
    BOOST_TEST_REQUIRE(evicted.has_value());
    BOOST_TEST(*evicted == "PORTICO_2");
    BOOST_TEST(s.has(1));
    BOOST_TEST(!s.has(2));
    BOOST_TEST(s.has(3));
    BOOST_TEST(!s.add(3, "PORTICO_3", 2).has_value());  // already there: only touched
    s.remove(1);
    BOOST_TEST(s.size() == 1u);
    s.clear();
    BOOST_TEST(!s.has(3));
    BOOST_TEST(!s.touch(3));
}
