// session_params: the client's wanted parameters from its StartupMessage (options included) and the
// SET/RESET that brings a server to them.
#define BOOST_TEST_MODULE pool_session_params
#include <boost/test/unit_test.hpp>

#include "pool/session_params.hpp"

using namespace portico::pool;

namespace {
StartupMessage startup(std::vector<StartupParam> params, std::string_view options = {}) {
    StartupMessage s;
    s.params = std::move(params);
    s.user = "app";
    s.database = "app";
    s.options = options;
    return s;
}
}  // namespace

BOOST_AUTO_TEST_CASE(wanted_params_skip_connection_keys_and_read_options) {
    Params out;
    std::string error;
    BOOST_REQUIRE(wanted_params(startup({{"user", "app"}, {"database", "app"}, {"DateStyle", "ISO, DMY"},
                                         {"application_name", "psql"}, {"_pq_.x", "1"}, {"options", "ignored here"}},
                                        "-c statement_timeout=5s --search-path=a,b -csearch_path=c\\ d"),
                                out, error));
    Params expected = {{"datestyle", "ISO, DMY"}, {"application_name", "psql"}, {"statement_timeout", "5s"},
                       {"search_path", "c d"}};
    BOOST_TEST(out.size() == expected.size());
    for (size_t i = 0; i < std::min(out.size(), expected.size()); ++i) {
        BOOST_TEST(out[i].name == expected[i].name);
        BOOST_TEST(out[i].value == expected[i].value);
    }
}

BOOST_AUTO_TEST_CASE(bad_options_are_refused_with_the_item) {
    Params out;
    std::string error;
    BOOST_TEST(!wanted_params(startup({}, "-c"), out, error));
    BOOST_TEST(error.find("-c needs") != std::string::npos, error);
    BOOST_TEST(!wanted_params(startup({}, "-D /tmp"), out, error));
    BOOST_TEST(error.find("\"-D\"") != std::string::npos, error);
    BOOST_TEST(!wanted_params(startup({}, "-c 1abc=x"), out, error));
    BOOST_TEST(!wanted_params(startup({{"bad;name", "x"}}), out, error));
    BOOST_TEST(!wanted_params(startup({}, "-c nothing"), out, error));
}

BOOST_AUTO_TEST_CASE(sync_query_sets_only_what_differs) {
    ServerParams server;
    server.initial = {{"application_name", "portico"}, {"client_encoding", "UTF8"}, {"timezone", "UTC"}};
    server.current = server.initial;
    // Same values (encoding compared case-insensitively, as the server canonicalises it): nothing.
    BOOST_TEST(sync_query({{"client_encoding", "utf8"}}, server) == "");
    // Encoding names as Postgres matches them: asyncpg's startup packet says 'utf-8', quotes included.
    BOOST_TEST(sync_query({{"client_encoding", "'utf-8'"}}, server) == "");
    BOOST_TEST(sync_query({{"client_encoding", "LATIN1"}}, server) == "SET client_encoding TO E'LATIN1';");
    BOOST_TEST(sync_query({{"timezone", "utc"}}, server) == "");  // canonical case only
    BOOST_TEST(sync_query({{"application_name", "Portico"}}, server) == "SET application_name TO E'Portico';");
    BOOST_TEST(sync_query({}, server) == "");
    BOOST_TEST(sync_query({{"application_name", "psql"}}, server) == "SET application_name TO E'psql';");
    // Unreported parameters are compared with what the pooler applied.
    BOOST_TEST(sync_query({{"statement_timeout", "5s"}}, server) == "SET statement_timeout TO E'5s';");
    server.applied = applied_after_sync({{"statement_timeout", "5s"}, {"application_name", "psql"}}, server);
    BOOST_REQUIRE(server.applied.size() == 1u);
    BOOST_TEST(server.applied[0].name == "statement_timeout");
    BOOST_TEST(sync_query({{"statement_timeout", "5s"}}, server) == "");
    // A client that does not want it gets it RESET; a reported one moved by a previous client goes back.
    server.set_current("application_name", "psql");
    BOOST_TEST(sync_query({}, server) == "SET application_name TO E'portico';RESET statement_timeout;");
}

BOOST_AUTO_TEST_CASE(values_are_quoted_safely) {
    BOOST_TEST(quote_literal("it's") == "E'it''s'");
    BOOST_TEST(quote_literal("a\\b") == "E'a\\\\b'");
    BOOST_TEST(quote_literal("x'; DROP TABLE t; --") == "E'x''; DROP TABLE t; --'");
}

BOOST_AUTO_TEST_CASE(canonical_names) {
    BOOST_TEST(canonical_param_name("datestyle") == "DateStyle");
    BOOST_TEST(canonical_param_name("timezone") == "TimeZone");
    BOOST_TEST(canonical_param_name("statement_timeout") == "statement_timeout");
}
