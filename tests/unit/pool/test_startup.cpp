// Startup-phase packets: StartupMessage (3.0 and 3.2, parameters, protocol options), SSLRequest,
// GSSENCRequest, CancelRequest (4-byte and 3.2 long keys), and the malformed ones.
#define BOOST_TEST_MODULE pool_startup
#include <boost/test/unit_test.hpp>

#include "pool/startup.hpp"
#include "wire_fixture.hpp"

using namespace portico::pool;
using namespace portico::pool::test;

namespace {
std::string params(std::initializer_list<std::pair<std::string_view, std::string_view>> kv) {
    std::string out;
    for (auto [k, v] : kv) out += cstr(k) + cstr(v);
    return out + '\0';
}
}  // namespace

BOOST_AUTO_TEST_CASE(startup_message_30) {
    std::string body = be32(kProtocol30) + params({{"user", "alice"},
                                                   {"database", "app"},
                                                   {"application_name", "psql"},
                                                   {"options", "-c search_path=s1"},
                                                   {"client_encoding", "UTF8"},
                                                   {"DateStyle", "ISO"}});
    auto p = parse_startup_packet(held(body));
    BOOST_REQUIRE(p);
    BOOST_TEST((p->kind == StartupKind::startup));
    const StartupMessage& m = p->startup;
    BOOST_TEST(m.protocol == kProtocol30);
    BOOST_TEST(m.major() == 3);
    BOOST_TEST(m.minor() == 0);
    BOOST_TEST(m.user == "alice");
    BOOST_TEST(m.database == "app");
    BOOST_TEST(m.application_name == "psql");
    BOOST_TEST(m.options == "-c search_path=s1");
    BOOST_TEST(m.replication.empty());
    BOOST_TEST(m.params.size() == 6u);
    BOOST_TEST(m.params[4].name == "client_encoding");
    BOOST_TEST(m.params[4].value == "UTF8");
    BOOST_TEST(m.find("DateStyle").value() == "ISO");
    BOOST_TEST(!m.find("TimeZone").has_value());
    BOOST_TEST(m.protocol_options.empty());
}

BOOST_AUTO_TEST_CASE(database_defaults_to_user_and_last_value_wins) {
    auto p = parse_startup_packet(held(be32(kProtocol30) + params({{"user", "bob"}, {"application_name", "a"}, {"application_name", "b"}})));
    BOOST_REQUIRE(p);
    BOOST_TEST(p->startup.database == "bob");
    BOOST_TEST(p->startup.application_name == "b");
    BOOST_TEST(p->startup.find("application_name").value() == "b");
    // An empty value is a value (database "" means "same as user" in Postgres too).
    auto q = parse_startup_packet(held(be32(kProtocol30) + params({{"user", "bob"}, {"database", ""}})));
    BOOST_REQUIRE(q);
    BOOST_TEST(q->startup.database == "bob");
}

BOOST_AUTO_TEST_CASE(startup_message_32_and_protocol_options) {
    // libpq 18 asks for 3.2 and may send _pq_ options: both go back in NegotiateProtocolVersion.
    auto p = parse_startup_packet(held(be32(kProtocol32) + params({{"user", "u"}, {"_pq_.test_option", "1"}, {"replication", "database"}})));
    BOOST_REQUIRE(p);
    BOOST_TEST(p->startup.minor() == 2);
    BOOST_TEST(p->startup.protocol_options.size() == 1u);
    BOOST_TEST(p->startup.protocol_options[0] == "_pq_.test_option");
    BOOST_TEST(p->startup.replication == "database");
    // Any 3.x minor is returned for the pooler to negotiate down.
    auto q = parse_startup_packet(held(be32(protocol_version(3, 99)) + params({{"user", "u"}})));
    BOOST_REQUIRE(q);
    BOOST_TEST(q->startup.minor() == 99);
}

BOOST_AUTO_TEST_CASE(unsupported_protocol_versions) {
    for (uint32_t v : {protocol_version(2, 0), protocol_version(4, 0), protocol_version(1, 0), 1234u << 16 | 5681u}) {
        BOOST_TEST_CONTEXT("version " << (v >> 16) << "." << (v & 0xffff)) {
            auto p = parse_startup_packet(held(be32(v) + params({{"user", "u"}})));
            BOOST_REQUIRE(!p);
            BOOST_TEST((p.error.code == ProtocolErrc::unsupported_protocol));
            BOOST_TEST(sqlstate_of(p.error) == "0A000");
            BOOST_TEST(p.error.message.starts_with("unsupported frontend protocol"));
        }
    }
}

BOOST_AUTO_TEST_CASE(missing_user) {
    auto p = parse_startup_packet(held(be32(kProtocol30) + params({{"database", "app"}})));
    BOOST_REQUIRE(!p);
    BOOST_TEST((p.error.code == ProtocolErrc::missing_user));
    BOOST_TEST(sqlstate_of(p.error) == "28000");
    BOOST_TEST(p.error.message == "no PostgreSQL user name specified in startup packet");
    auto q = parse_startup_packet(held(be32(kProtocol30) + params({{"user", ""}})));
    BOOST_TEST(!q);
}

BOOST_AUTO_TEST_CASE(malformed_startup_layouts) {
    struct Case { const char* name; std::string body; } cases[] = {
        {"no terminator", be32(kProtocol30) + cstr("user") + cstr("u")},
        {"name without value", be32(kProtocol30) + cstr("user") + cstr("u") + cstr("database")},
        {"value not terminated", be32(kProtocol30) + cstr("user") + "u"},
        {"bytes after the terminator", be32(kProtocol30) + params({{"user", "u"}}) + "x"},
        {"only the version", be32(kProtocol30)},
    };
    for (const auto& c : cases)
        BOOST_TEST_CONTEXT(c.name) {
            auto p = parse_startup_packet(held(c.body));
            BOOST_REQUIRE(!p);
            BOOST_TEST((p.error.code == ProtocolErrc::malformed));
            BOOST_TEST(sqlstate_of(p.error) == "08P01");
        }
    auto short_body = parse_startup_packet(held(std::string_view("\0\3", 2)));
    BOOST_TEST(!short_body);
    BOOST_TEST((short_body.error.code == ProtocolErrc::invalid_length));
}

BOOST_AUTO_TEST_CASE(ssl_and_gssenc_requests) {
    auto ssl = parse_startup_packet(held(be32(kSslRequestCode)));
    BOOST_REQUIRE(ssl);
    BOOST_TEST((ssl->kind == StartupKind::ssl_request));
    auto gss = parse_startup_packet(held(be32(kGssEncRequestCode)));
    BOOST_REQUIRE(gss);
    BOOST_TEST((gss->kind == StartupKind::gssenc_request));
    BOOST_TEST(!parse_startup_packet(held(be32(kSslRequestCode) + "x")));
    BOOST_TEST(!parse_startup_packet(held(be32(kGssEncRequestCode) + be32(0))));
}

BOOST_AUTO_TEST_CASE(cancel_requests) {
    // 3.0: a 4-byte key.
    auto c = parse_startup_packet(held(be32(kCancelRequestCode) + be32(4242) + be32(0xdeadbeef)));
    BOOST_REQUIRE(c);
    BOOST_TEST((c->kind == StartupKind::cancel_request));
    BOOST_TEST(c->cancel.process_id == 4242);
    BOOST_TEST(c->cancel.secret_key == be32(0xdeadbeef));
    // 3.2: longer keys, up to 256 bytes (Postgres 18 sends 32).
    for (size_t n : {5u, 32u, 256u}) {
        std::string key(n, 'k');
        auto l = parse_startup_packet(held(be32(kCancelRequestCode) + be32(7) + key));
        BOOST_REQUIRE(l);
        BOOST_TEST(l->cancel.secret_key == key);
    }
    for (size_t n : {0u, 3u, 257u}) {
        BOOST_TEST_CONTEXT("key of " << n) {
            auto bad = parse_startup_packet(held(be32(kCancelRequestCode) + be32(7) + std::string(n, 'k')));
            BOOST_REQUIRE(!bad);
            BOOST_TEST(bad.error.message == "invalid length of cancel request packet");
        }
    }
    BOOST_TEST(!parse_startup_packet(held(be32(kCancelRequestCode) + std::string(2, '\0'))));
}

BOOST_AUTO_TEST_CASE(truncated_startup_through_the_reader) {
    // A client that sends half its StartupMessage and closes: the reader waits, and what it holds
    // (pending) tells the pooler the packet was cut.
    std::string packet = untyped(be32(kProtocol30) + params({{"user", "u"}}));
    MessageReader r(Phase::startup);
    std::string half = packet.substr(0, packet.size() - 3);
    r.feed(half);
    Message m;
    BOOST_TEST((r.next(m) == MessageReader::Status::need_more));
    BOOST_TEST(r.pending() == half.size());
    std::string tail = packet.substr(packet.size() - 3);
    r.feed(tail);
    BOOST_REQUIRE(r.next(m) == MessageReader::Status::message);
    auto p = parse_startup_packet(held(m.body));
    BOOST_REQUIRE(p);
    BOOST_TEST(p->startup.user == "u");
}

BOOST_AUTO_TEST_CASE(direct_tls_is_recognised_from_the_first_byte) {
    BOOST_TEST(is_direct_tls_handshake(std::string_view("\x16\x03\x01\x02\x00", 5)));
    BOOST_TEST(!is_direct_tls_handshake(be32(8) + be32(kSslRequestCode)));
    BOOST_TEST(!is_direct_tls_handshake(""));
}
