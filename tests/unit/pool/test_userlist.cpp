// PgBouncer-format userlist: entries, quoting, comments, secret kinds, FILE:LINE errors, the file.
#define BOOST_TEST_MODULE pool_userlist
#include <boost/test/unit_test.hpp>

#include <cstdio>
#include <fstream>
#include <unistd.h>

#include "pool/userlist.hpp"

using namespace portico::pool;

namespace {
constexpr const char* kVerifier =
    "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
    "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=";
}

BOOST_AUTO_TEST_CASE(entries_comments_and_blank_lines) {
    std::string text = std::string("; PgBouncer-style comment\n"
                                   "# hash comment\n"
                                   "\n"
                                   "   \t\n"
                                   "\"alice\" \"secret\"\n"
                                   "  \"bob\"\t\"md553f48b7c4b76a86ce72276c5755f217d\"   \n"
                                   "\"carol\" \"") +
                       kVerifier + "\"\r\n"
                                   "\"dave\" \"pw\" \"extra column\" ignored\n"
                                   "\"eve\" \"\"";  // no final newline; empty secret
    Userlist u;
    std::string error;
    BOOST_REQUIRE_MESSAGE(parse_userlist(text, "userlist.txt", u, error), error);
    BOOST_TEST(u.secrets.size() == 5u);
    BOOST_TEST(*u.find("alice") == "secret");
    BOOST_TEST(*u.find("bob") == "md553f48b7c4b76a86ce72276c5755f217d");
    BOOST_TEST(*u.find("carol") == kVerifier);
    BOOST_TEST(*u.find("dave") == "pw");
    BOOST_TEST(u.find("eve")->empty());
    BOOST_TEST(u.find("mallory") == nullptr);
    BOOST_TEST((secret_kind(*u.find("alice")) == SecretKind::plaintext));
    BOOST_TEST((secret_kind(*u.find("bob")) == SecretKind::md5));
    BOOST_TEST((secret_kind(*u.find("carol")) == SecretKind::scram));
}

BOOST_AUTO_TEST_CASE(doubled_quotes_escape_a_quote) {
    Userlist u;
    std::string error;
    BOOST_REQUIRE_MESSAGE(parse_userlist("\"we\"\"ird\" \"pa\"\"ss \"\"word\"\"\"\n", "f", u, error), error);
    BOOST_TEST(*u.find("we\"ird") == "pa\"ss \"word\"");
    // Spaces, ';' and '#' inside quotes are part of the value.
    BOOST_REQUIRE_MESSAGE(parse_userlist("\"a b\" \"x;y#z\"", "f", u, error), error);
    BOOST_TEST(*u.find("a b") == "x;y#z");
}

BOOST_AUTO_TEST_CASE(secret_kinds) {
    BOOST_TEST((secret_kind("md553f48b7c4b76a86ce72276c5755f217d") == SecretKind::md5));
    BOOST_TEST((secret_kind("MD553f48b7c4b76a86ce72276c5755f217d") == SecretKind::plaintext));
    BOOST_TEST((secret_kind("md553F48B7C4B76A86CE72276C5755F217D") == SecretKind::md5));
    BOOST_TEST((secret_kind("md5short") == SecretKind::plaintext));
    BOOST_TEST((secret_kind("md553f48b7c4b76a86ce72276c5755f217g") == SecretKind::plaintext));
    BOOST_TEST((secret_kind(kVerifier) == SecretKind::scram));
    BOOST_TEST((secret_kind("") == SecretKind::plaintext));
}

BOOST_AUTO_TEST_CASE(errors_name_file_and_line) {
    struct Case { const char* name; std::string text; std::string want; } cases[] = {
        {"unquoted user", "\"a\" \"b\"\nalice secret\n", "users.txt:2: expected a quoted user name (\"user\" \"secret\")"},
        {"unterminated user", "\n\n\"alice secret\n", "users.txt:3: unterminated quoted user name"},
        {"missing secret", "\"alice\"\n", "users.txt:1: expected a quoted secret after user \"alice\""},
        {"unquoted secret", "\"alice\" secret\n", "users.txt:1: expected a quoted secret after user \"alice\""},
        {"unterminated secret", "\"alice\" \"secret\n\"bob\" \"x\"\n", "users.txt:1: unterminated quoted secret for user \"alice\""},
        {"empty user", "; c\n\"\" \"x\"\n", "users.txt:2: empty user name"},
        {"duplicate", "\"a\" \"1\"\n\"b\" \"2\"\n\"a\" \"3\"\n", "users.txt:3: user \"a\" is listed twice"},
        {"bad verifier", "\"a\" \"SCRAM-SHA-256$4096:abc\"\n",
         "users.txt:1: malformed SCRAM verifier for user \"a\" (expected SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>)"},
    };
    for (const auto& c : cases)
        BOOST_TEST_CONTEXT(c.name) {
            Userlist u;
            u.secrets["keep"] = "me";
            std::string error;
            BOOST_TEST(!parse_userlist(c.text, "users.txt", u, error));
            BOOST_TEST(error == c.want);
            BOOST_TEST(u.secrets.size() == 1u);  // untouched on error
        }
}

BOOST_AUTO_TEST_CASE(empty_file_is_an_empty_list) {
    Userlist u;
    std::string error;
    BOOST_TEST(parse_userlist("", "f", u, error));
    BOOST_TEST(u.secrets.empty());
    BOOST_TEST(parse_userlist("; only a comment\n", "f", u, error));
}

BOOST_AUTO_TEST_CASE(load_from_a_file) {
    char path[] = "/tmp/pool-userlist-XXXXXX";
    int fd = mkstemp(path);
    BOOST_REQUIRE(fd >= 0);
    close(fd);
    {
        std::ofstream f(path);
        f << "\"alice\" \"secret\"\n\"bob\" \"x\"\n";
    }
    Userlist u;
    std::string error;
    BOOST_TEST(load_userlist(path, u, error));
    BOOST_TEST(*u.find("bob") == "x");
    {
        std::ofstream f(path);
        f << "\"alice\" \"secret\"\nbroken\n";
    }
    BOOST_TEST(!load_userlist(path, u, error));
    BOOST_TEST(error == std::string(path) + ":2: expected a quoted user name (\"user\" \"secret\")");
    std::remove(path);
    BOOST_TEST(!load_userlist(path, u, error));
    BOOST_TEST(error == std::string(path) + ": cannot read: No such file or directory");
}
