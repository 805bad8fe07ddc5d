// md5 password authentication as Postgres does it, against vectors computed independently:
//   python3 -c "import hashlib; i=hashlib.md5(b'secret'+b'postgres').hexdigest();
//               print(i, 'md5'+hashlib.md5(i.encode()+bytes([1,2,3,4])).hexdigest())"
//   → 53f48b7c4b76a86ce72276c5755f217d md5bb41a296aab6baccb36ff243a562abff
//   and with salt bytes 9a 00 ff 10 → md5b86db88981800db70b858b99af347b77
// Also the base64, random and constant-time helpers SCRAM shares.
#define BOOST_TEST_MODULE pool_md5
#include <boost/test/unit_test.hpp>

#include "pool/auth.hpp"

using namespace portico::pool;

namespace {
const std::string kSalt("\x01\x02\x03\x04", 4);
const std::string kSaltWithNul("\x9a\x00\xff\x10", 4);
constexpr std::string_view kHash = "md553f48b7c4b76a86ce72276c5755f217d";  // user postgres, password secret
constexpr std::string_view kAnswer = "md5bb41a296aab6baccb36ff243a562abff";
}  // namespace

BOOST_AUTO_TEST_CASE(md5_hex_known_values) {
    BOOST_TEST(md5_hex("") == "d41d8cd98f00b204e9800998ecf8427e");
    BOOST_TEST(md5_hex("abc") == "900150983cd24fb0d6963f7d28e17f72");
    BOOST_TEST(md5_password_hash("postgres", "secret") == kHash);
}

BOOST_AUTO_TEST_CASE(expected_response_from_plaintext_and_hash) {
    BOOST_TEST(md5_expected_response("postgres", "secret", kSalt).value() == kAnswer);
    BOOST_TEST(md5_expected_response("postgres", kHash, kSalt).value() == kAnswer);
    // Uppercase hex in a userlist hash means the same hash.
    BOOST_TEST(md5_expected_response("postgres", "md553F48B7C4B76A86CE72276C5755F217D", kSalt).value() == kAnswer);
    // A salt with a zero byte is binary, not a C string.
    BOOST_TEST(md5_expected_response("postgres", "secret", kSaltWithNul).value() == "md5b86db88981800db70b858b99af347b77");
}

BOOST_AUTO_TEST_CASE(verify) {
    BOOST_TEST(verify_md5_response("postgres", "secret", kSalt, kAnswer));
    BOOST_TEST(verify_md5_response("postgres", kHash, kSalt, kAnswer));
    BOOST_TEST(!verify_md5_response("postgres", "Secret", kSalt, kAnswer));            // wrong password
    BOOST_TEST(!verify_md5_response("postgre", "secret", kSalt, kAnswer));             // the user is salted in
    BOOST_TEST(!verify_md5_response("postgres", "secret", kSaltWithNul, kAnswer));     // replay under another salt
    BOOST_TEST(!verify_md5_response("postgres", "secret", kSalt, "md5bb41a296aab6baccb36ff243a562abf"));  // short
    BOOST_TEST(!verify_md5_response("postgres", "secret", kSalt, "MD5BB41A296AAB6BACCB36FF243A562ABFF"));
    BOOST_TEST(!verify_md5_response("postgres", "secret", kSalt, ""));
    BOOST_TEST(!verify_md5_response("postgres", "", kSalt, md5_expected_response("postgres", "", kSalt).value()));
    // The hash itself is not a valid answer (pass-the-hash needs the salt round).
    BOOST_TEST(!verify_md5_response("postgres", kHash, kSalt, kHash));
}

BOOST_AUTO_TEST_CASE(scram_secret_cannot_do_md5) {
    std::string verifier =
        "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
        "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=";
    BOOST_TEST(!md5_expected_response("user", verifier, kSalt).has_value());
    BOOST_TEST(!verify_md5_response("user", verifier, kSalt, "md5bb41a296aab6baccb36ff243a562abff"));
}

BOOST_AUTO_TEST_CASE(constant_time_compare) {
    BOOST_TEST(constant_time_equal("", ""));
    BOOST_TEST(constant_time_equal("abc", "abc"));
    BOOST_TEST(!constant_time_equal("abc", "abd"));
    BOOST_TEST(!constant_time_equal("abc", "ab"));
    BOOST_TEST(!constant_time_equal("", "a"));
}

BOOST_AUTO_TEST_CASE(base64) {
    // RFC 4648 §10.
    struct Case { std::string_view raw, b64; } cases[] = {
        {"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"}, {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
    };
    for (const auto& c : cases) {
        BOOST_TEST(base64_encode(c.raw) == c.b64);
        BOOST_TEST(base64_decode(c.b64).value() == c.raw);
    }
    std::string binary("\x00\xff\x10\x80", 4);
    BOOST_TEST(base64_decode(base64_encode(binary)).value() == binary);
    for (std::string_view bad : {"Zg=", "Zg", "Z===", "Zm9v\n", " Zm9v", "Zm=v", "Zm9*", "====", "Zg==Zg=="})
        BOOST_TEST_CONTEXT("'" << bad << "'") { BOOST_TEST(!base64_decode(bad).has_value()); }
}

BOOST_AUTO_TEST_CASE(random_bytes_differ) {
    auto a = random_bytes(18), b = random_bytes(18);
    BOOST_REQUIRE(a.has_value());
    BOOST_REQUIRE(b.has_value());
    BOOST_TEST(a->size() == 18u);
    BOOST_TEST(*a != *b);
    BOOST_TEST(random_bytes(0).value().empty());
}
