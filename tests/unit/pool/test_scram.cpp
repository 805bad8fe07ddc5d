// SCRAM-SHA-256 server: secrets and verifiers, RFC 7677's test vector, full exchanges against a
// client written here with libcrypto (for a plaintext secret and for a verifier), and failures.
#define BOOST_TEST_MODULE pool_scram
#include <boost/test/unit_test.hpp>

#include <map>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "pool/auth.hpp"
#include "pool/scram.hpp"

using namespace portico::pool;

namespace {

// RFC 7677 §3.
constexpr std::string_view kClientFirst = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
constexpr std::string_view kServerNonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
constexpr std::string_view kServerFirst =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
constexpr std::string_view kClientFinal =
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
constexpr std::string_view kServerFinal = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";
// The same secret as Postgres stores it (computed with Python's hashlib.pbkdf2_hmac and hmac).
constexpr std::string_view kPencilVerifier =
    "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
    "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=";

std::string b64(std::string_view s) { return base64_encode(s); }
std::string unb64(std::string_view s) { return base64_decode(s).value(); }

std::string hmac(std::string_view key, std::string_view data) {
    unsigned char out[32];
    unsigned int len = 0;
    HMAC(EVP_sha256(), key.data(), int(key.size()), reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
    return std::string(reinterpret_cast<char*>(out), len);
}
std::string sha(std::string_view data) {
    unsigned char out[32];
    unsigned int len = 0;
    EVP_Digest(data.data(), data.size(), out, &len, EVP_sha256(), nullptr);
    return std::string(reinterpret_cast<char*>(out), len);
}

// A SCRAM client, as libpq's fe-auth-scram.c computes it.
struct Client {
    explicit Client(std::string pw) : password(std::move(pw)) {}
    std::string password;
    std::string gs2 = "n,,";
    std::string nonce = "fyko+d2lbbFgONRv9qkxdawL";
    std::string first_bare() const { return "n=,r=" + nonce; }
    std::string first() const { return gs2 + first_bare(); }
    std::string salted;  // kept to check the server's signature
    std::string auth_message;

    // client-final for `server_first`, with the channel-binding and nonce fields given (defaults:
    // the right ones).
    std::string final_for(std::string_view server_first, std::string cbind = {}, std::string nonce_override = {}) {
        std::map<char, std::string> attrs;
        size_t start = 0;
        while (start < server_first.size()) {
            size_t comma = server_first.find(',', start);
            if (comma == std::string_view::npos) comma = server_first.size();
            attrs[server_first[start]] = std::string(server_first.substr(start + 2, comma - start - 2));
            start = comma + 1;
        }
        std::string salt = unb64(attrs['s']);
        int iterations = std::stoi(attrs['i']);
        salted.assign(32, '\0');
        PKCS5_PBKDF2_HMAC(password.data(), int(password.size()), reinterpret_cast<const unsigned char*>(salt.data()),
                          int(salt.size()), iterations, EVP_sha256(), 32, reinterpret_cast<unsigned char*>(salted.data()));
        std::string without_proof =
            "c=" + (cbind.empty() ? b64(gs2) : cbind) + ",r=" + (nonce_override.empty() ? attrs['r'] : nonce_override);
        auth_message = first_bare() + "," + std::string(server_first) + "," + without_proof;
        std::string client_key = hmac(salted, "Client Key");
        std::string signature = hmac(sha(client_key), auth_message);
        std::string proof(32, '\0');
        for (size_t i = 0; i < 32; ++i) proof[i] = char(client_key[i] ^ signature[i]);
        return without_proof + ",p=" + b64(proof);
    }
    std::string expected_server_final() const { return "v=" + b64(hmac(hmac(salted, "Server Key"), auth_message)); }
};

ScramSecret pencil() { return scram_secret_from_password("pencil", unb64("W22ZaJ0SNY7soEsUEjb6gQ=="), 4096); }

}  // namespace

BOOST_AUTO_TEST_CASE(secret_from_password_matches_a_postgres_verifier) {
    ScramSecret s = pencil();
    BOOST_TEST(format_scram_verifier(s) == kPencilVerifier);
    auto parsed = parse_scram_verifier(kPencilVerifier);
    BOOST_REQUIRE(parsed.has_value());
    BOOST_TEST(parsed->iterations == 4096);
    BOOST_TEST(parsed->salt == s.salt);
    BOOST_TEST(parsed->stored_key == s.stored_key);
    BOOST_TEST(parsed->server_key == s.server_key);
}

BOOST_AUTO_TEST_CASE(malformed_verifiers) {
    std::string v(kPencilVerifier);
    for (std::string bad : {std::string("SCRAM-SHA-256$"), std::string("SCRAM-SHA-256$4096:abc"),
                            std::string("SCRAM-SHA-256$0:W22ZaJ0SNY7soEsUEjb6gQ==$") + v.substr(v.find('$', 15) + 1),
                            std::string("SCRAM-SHA-256$x:W22ZaJ0SNY7soEsUEjb6gQ==$") + v.substr(v.find('$', 15) + 1),
                            v.substr(0, v.size() - 4),          // server key cut
                            v + "A",                            // not base64 any more
                            std::string("SCRAM-SHA-256$4096:W22Z$QUJD:QUJD"),  // 3-byte keys
                            std::string("SCRAM-SHA-1$4096:a$b:c")}) {
        BOOST_TEST_CONTEXT(bad) { BOOST_TEST(!parse_scram_verifier(bad).has_value()); }
    }
}

BOOST_AUTO_TEST_CASE(rfc7677_test_vector) {
    ScramServer server(pencil(), "user", ScramServer::Options{std::string(kServerNonce)});
    std::string server_first, server_final;
    BOOST_REQUIRE((server.client_first(kClientFirst, server_first) == ScramFailure::none));
    BOOST_TEST(server_first == kServerFirst);
    BOOST_TEST((server.state() == ScramServer::State::expect_client_final));
    BOOST_REQUIRE((server.client_final(kClientFinal, server_final) == ScramFailure::none));
    BOOST_TEST(server_final == kServerFinal);
    BOOST_TEST((server.state() == ScramServer::State::done));
}

BOOST_AUTO_TEST_CASE(rfc7677_vector_from_the_verifier) {
    ScramServer server(parse_scram_verifier(kPencilVerifier), "user", ScramServer::Options{std::string(kServerNonce)});
    std::string server_first, server_final;
    BOOST_REQUIRE((server.client_first(kClientFirst, server_first) == ScramFailure::none));
    BOOST_REQUIRE((server.client_final(kClientFinal, server_final) == ScramFailure::none));
    BOOST_TEST(server_final == kServerFinal);
}

BOOST_AUTO_TEST_CASE(full_exchange_with_a_plaintext_secret) {
    auto secret = scram_secret_from_userlist("correct horse");
    BOOST_REQUIRE(secret.has_value());
    BOOST_TEST(secret->iterations == kScramDefaultIterations);
    BOOST_TEST(secret->salt.size() == kScramSaltLength);
    ScramServer server(secret, "alice");
    Client client{"correct horse"};
    std::string server_first, server_final;
    BOOST_REQUIRE((server.client_first(client.first(), server_first) == ScramFailure::none));
    // Server nonce: the client's, then 18 random bytes in base64.
    BOOST_TEST(server_first.starts_with("r=" + client.nonce));
    BOOST_TEST(server_first.find(",s=" + b64(secret->salt) + ",i=4096") != std::string::npos);
    BOOST_REQUIRE((server.client_final(client.final_for(server_first), server_final) == ScramFailure::none));
    BOOST_TEST(server_final == client.expected_server_final());
}

BOOST_AUTO_TEST_CASE(full_exchange_with_a_verifier_and_y_flag) {
    // A client that supports channel binding but sees no TLS sends "y,,": accepted (no TLS here).
    ScramServer server(parse_scram_verifier(kPencilVerifier), "user");
    Client client{"pencil"};
    client.gs2 = "y,,";
    std::string server_first, server_final;
    BOOST_REQUIRE((server.client_first(client.first(), server_first) == ScramFailure::none));
    BOOST_REQUIRE((server.client_final(client.final_for(server_first), server_final) == ScramFailure::none));
    BOOST_TEST(server_final == client.expected_server_final());
}

BOOST_AUTO_TEST_CASE(two_exchanges_get_different_nonces) {
    std::string a, b;
    ScramServer s1(pencil(), "user"), s2(pencil(), "user");
    Client client{"pencil"};
    BOOST_REQUIRE((s1.client_first(client.first(), a) == ScramFailure::none));
    BOOST_REQUIRE((s2.client_first(client.first(), b) == ScramFailure::none));
    BOOST_TEST(a != b);
}

BOOST_AUTO_TEST_CASE(wrong_password) {
    ScramServer server(pencil(), "user");
    Client client{"pencil!"};
    std::string server_first, server_final;
    BOOST_REQUIRE((server.client_first(client.first(), server_first) == ScramFailure::none));
    ScramFailure f = server.client_final(client.final_for(server_first), server_final);
    BOOST_TEST((f == ScramFailure::wrong_password));
    BOOST_TEST(sqlstate_of(f) == "28P01");
    BOOST_TEST(server_final.empty());
    BOOST_TEST((server.state() == ScramServer::State::failed));
}

BOOST_AUTO_TEST_CASE(unknown_user_looks_like_a_wrong_password) {
    // No secret: the exchange runs to the proof and fails there; the mock salt is stable per user.
    Client client{"anything"};
    std::string first1, first2, other, final_msg;
    ScramServer a(std::nullopt, "ghost"), b(std::nullopt, "ghost"), c(std::nullopt, "phantom");
    BOOST_REQUIRE((a.client_first(client.first(), first1) == ScramFailure::none));
    BOOST_REQUIRE((b.client_first(client.first(), first2) == ScramFailure::none));
    BOOST_REQUIRE((c.client_first(client.first(), other) == ScramFailure::none));
    auto salt_of = [](const std::string& s) { return s.substr(s.find(",s=")); };
    BOOST_TEST(salt_of(first1) == salt_of(first2));
    BOOST_TEST(salt_of(first1) != salt_of(other));
    BOOST_TEST((a.client_final(client.final_for(first1), final_msg) == ScramFailure::wrong_password));
    // An md5 secret cannot do SCRAM: same outcome.
    BOOST_TEST(!scram_secret_from_userlist("md553f48b7c4b76a86ce72276c5755f217d").has_value());
    BOOST_TEST(!scram_secret_from_userlist("").has_value());
}

BOOST_AUTO_TEST_CASE(nonce_mismatch) {
    ScramServer server(pencil(), "user");
    Client client{"pencil"};
    std::string server_first, server_final;
    BOOST_REQUIRE((server.client_first(client.first(), server_first) == ScramFailure::none));
    // The right proof over a tampered nonce: refused for the nonce, before the proof.
    ScramFailure f = server.client_final(client.final_for(server_first, {}, client.nonce + "forged"), server_final);
    BOOST_TEST((f == ScramFailure::nonce_mismatch));
    BOOST_TEST(sqlstate_of(f) == "08P01");
    BOOST_TEST(server.failure_detail() == "Nonce does not match.");
}

BOOST_AUTO_TEST_CASE(channel_binding_mismatch) {
    // c= must echo the gs2 header first sent ("n,," → "biws"); "y,," after "n,," is refused.
    ScramServer server(pencil(), "user");
    Client client{"pencil"};
    std::string server_first, server_final;
    BOOST_REQUIRE((server.client_first(client.first(), server_first) == ScramFailure::none));
    BOOST_TEST((server.client_final(client.final_for(server_first, b64("y,,")), server_final) ==
                ScramFailure::channel_binding));
}

BOOST_AUTO_TEST_CASE(malformed_client_first) {
    struct Case { const char* name; std::string_view message; ScramFailure want; } cases[] = {
        {"empty", "", ScramFailure::malformed},
        {"channel binding requested", "p=tls-server-end-point,,n=,r=abc", ScramFailure::channel_binding},
        {"unknown flag", "x,,n=,r=abc", ScramFailure::malformed},
        {"no comma after flag", "nn=,r=abc", ScramFailure::malformed},
        {"authzid", "n,a=admin,n=,r=abc", ScramFailure::unsupported},
        {"mandatory extension", "n,,m=ext,n=,r=abc", ScramFailure::unsupported},
        {"no user attribute", "n,,r=abc", ScramFailure::malformed},
        {"no nonce", "n,,n=", ScramFailure::malformed},
        {"empty nonce", "n,,n=,r=", ScramFailure::malformed},
        {"nonce with a control byte", "n,,n=,r=ab\x01" "c", ScramFailure::malformed},
        {"garbage after", "n,,n=,r=abc,!!", ScramFailure::malformed},
        {"trailing comma", "n,,n=,r=abc,", ScramFailure::malformed},
        {"not scram", "hello", ScramFailure::malformed},
    };
    for (const auto& c : cases)
        BOOST_TEST_CONTEXT(c.name) {
            ScramServer server(pencil(), "user");
            std::string out;
            BOOST_TEST((server.client_first(c.message, out) == c.want));
            BOOST_TEST((server.state() == ScramServer::State::failed));
            BOOST_TEST(!server.failure_detail().empty());
        }
    // An optional extension after the nonce is ignored.
    ScramServer server(pencil(), "user");
    std::string out;
    BOOST_TEST((server.client_first("n,,n=user,r=abc,x=ext", out) == ScramFailure::none));
}

BOOST_AUTO_TEST_CASE(malformed_client_final) {
    Client client{"pencil"};
    auto run = [&](auto make_final) {
        ScramServer server(pencil(), "user");
        std::string first, final_msg;
        BOOST_REQUIRE((server.client_first(client.first(), first) == ScramFailure::none));
        return server.client_final(make_final(first), final_msg);
    };
    auto good = [&](const std::string& first) { return client.final_for(first); };
    BOOST_TEST((run(good) == ScramFailure::none));
    auto proof_cut = [&](const std::string& first) {
        std::string f = client.final_for(first);
        return f.substr(0, f.size() - 4);
    };
    BOOST_TEST((run(proof_cut) == ScramFailure::malformed));
    auto short_proof = [&](const std::string& first) {
        std::string f = client.final_for(first);
        return f.substr(0, f.find(",p=")) + ",p=" + b64("short");
    };
    BOOST_TEST((run(short_proof) == ScramFailure::malformed));
    auto no_proof = [&](const std::string& first) {
        std::string f = client.final_for(first);
        return f.substr(0, f.find(",p="));
    };
    BOOST_TEST((run(no_proof) == ScramFailure::malformed));
    auto trailing = [&](const std::string& first) { return client.final_for(first) + ",x=1"; };
    BOOST_TEST((run(trailing) == ScramFailure::malformed));
    auto no_cbind = [&](const std::string& first) {
        std::string f = client.final_for(first);
        return f.substr(f.find(",r=") + 1);
    };
    BOOST_TEST((run(no_cbind) == ScramFailure::malformed));
    auto bad_b64 = [&](const std::string&) { return std::string("c=b!ws,r=x,p=y"); };
    BOOST_TEST((run(bad_b64) == ScramFailure::malformed));
    auto empty = [&](const std::string&) { return std::string(); };
    BOOST_TEST((run(empty) == ScramFailure::malformed));
}

BOOST_AUTO_TEST_CASE(out_of_order) {
    ScramServer server(pencil(), "user");
    std::string out;
    BOOST_TEST((server.client_final(kClientFinal, out) == ScramFailure::out_of_order));
    ScramServer again(pencil(), "user", ScramServer::Options{std::string(kServerNonce)});
    BOOST_REQUIRE((again.client_first(kClientFirst, out) == ScramFailure::none));
    BOOST_TEST((again.client_first(kClientFirst, out) == ScramFailure::out_of_order));
    // After a failure nothing more is accepted.
    BOOST_TEST((again.client_final(kClientFinal, out) == ScramFailure::out_of_order));
}

BOOST_AUTO_TEST_CASE(failure_sqlstates) {
    BOOST_TEST(sqlstate_of(ScramFailure::malformed) == "08P01");
    BOOST_TEST(sqlstate_of(ScramFailure::channel_binding) == "08P01");
    BOOST_TEST(sqlstate_of(ScramFailure::nonce_mismatch) == "08P01");
    BOOST_TEST(sqlstate_of(ScramFailure::unsupported) == "0A000");
    BOOST_TEST(sqlstate_of(ScramFailure::wrong_password) == "28P01");
}
