// Backend message parsers: every Authentication request, ParameterStatus, BackendKeyData (3.0 and
// 3.2 keys), ReadyForQuery, Error/Notice fields, NegotiateProtocolVersion, CommandComplete,
// NotificationResponse, the COPY responses; each with malformed forms.
#define BOOST_TEST_MODULE pool_backend
#include <boost/test/unit_test.hpp>

#include "pool/backend.hpp"
#include "pool/frontend.hpp"
#include "wire_fixture.hpp"

using namespace portico::pool;
using namespace portico::pool::test;

namespace {
void expect_malformed(const ProtocolError& e) {
    BOOST_TEST((e.code == ProtocolErrc::malformed));
    BOOST_TEST(sqlstate_of(e) == "08P01");
}
}  // namespace

BOOST_AUTO_TEST_CASE(authentication_requests) {
    using Named = std::pair<AuthCode, const char*>;
    for (auto [code, name] : std::initializer_list<Named>{{AuthCode::ok, "ok"}, {AuthCode::cleartext_password, "cleartext"},
                                                          {AuthCode::kerberos_v5, "krb"}, {AuthCode::gss, "gss"},
                                                          {AuthCode::sspi, "sspi"}}) {
        BOOST_TEST_CONTEXT(name) {
            auto a = parse_authentication(held(be32(uint32_t(code))));
            BOOST_REQUIRE(a);
            BOOST_TEST((a->code == code));
            expect_malformed(parse_authentication(held(be32(uint32_t(code)) + "x")).error);
        }
    }
    auto md5 = parse_authentication(held(be32(5) + "\x01\x02\x03\x04"));
    BOOST_REQUIRE(md5);
    BOOST_TEST((md5->code == AuthCode::md5_password));
    BOOST_TEST(md5->md5_salt == "\x01\x02\x03\x04");
    expect_malformed(parse_authentication(held(be32(5) + "\x01\x02\x03")).error);
    expect_malformed(parse_authentication(held(be32(5) + "\x01\x02\x03\x04\x05")).error);

    auto sasl = parse_authentication(held(be32(10) + cstr("SCRAM-SHA-256-PLUS") + cstr("SCRAM-SHA-256") + std::string(1, '\0')));
    BOOST_REQUIRE(sasl);
    BOOST_TEST((sasl->code == AuthCode::sasl));
    BOOST_TEST(sasl->sasl_mechanisms.size() == 2u);
    BOOST_TEST(sasl->sasl_mechanisms[1] == "SCRAM-SHA-256");
    expect_malformed(parse_authentication(held(be32(10) + cstr("SCRAM-SHA-256"))).error);  // no terminator
    expect_malformed(parse_authentication(held(be32(10) + std::string(1, '\0'))).error);    // no mechanism
    expect_malformed(parse_authentication(held(be32(10) + cstr("SCRAM-SHA-256") + std::string(1, '\0') + "x")).error);

    auto cont = parse_authentication(held(be32(11) + "r=abc,s=c2FsdA==,i=4096"));
    BOOST_REQUIRE(cont);
    BOOST_TEST((cont->code == AuthCode::sasl_continue));
    BOOST_TEST(cont->data == "r=abc,s=c2FsdA==,i=4096");
    auto fin = parse_authentication(held(be32(12) + "v=xyz"));
    BOOST_REQUIRE(fin);
    BOOST_TEST((fin->code == AuthCode::sasl_final));
    BOOST_TEST(fin->data == "v=xyz");
    auto gssc = parse_authentication(held(be32(8) + "tok"));
    BOOST_REQUIRE(gssc);
    BOOST_TEST(gssc->data == "tok");

    expect_malformed(parse_authentication(held(be32(6))).error);  // SCM credentials: long gone
    expect_malformed(parse_authentication(held(be32(99))).error);
    expect_malformed(parse_authentication(held("\0\0")).error);
}

BOOST_AUTO_TEST_CASE(parameter_status) {
    auto p = parse_parameter_status(held(cstr("server_version") + cstr("16.4")));
    BOOST_REQUIRE(p);
    BOOST_TEST(p->name == "server_version");
    BOOST_TEST(p->value == "16.4");
    auto empty = parse_parameter_status(held(cstr("application_name") + cstr("")));
    BOOST_REQUIRE(empty);
    BOOST_TEST(empty->value.empty());
    expect_malformed(parse_parameter_status(held(cstr("name"))).error);
    expect_malformed(parse_parameter_status(held(cstr("a") + cstr("b") + "c")).error);
}

BOOST_AUTO_TEST_CASE(backend_key_data) {
    auto k = parse_backend_key_data(held(be32(12345) + be32(0xcafef00d)));
    BOOST_REQUIRE(k);
    BOOST_TEST(k->process_id == 12345);
    BOOST_TEST(k->secret_key == be32(0xcafef00d));
    std::string long_key(32, '\x5a');  // Postgres 18 under 3.2
    auto l = parse_backend_key_data(held(be32(1) + long_key));
    BOOST_REQUIRE(l);
    BOOST_TEST(l->secret_key == long_key);
    BOOST_TEST(parse_backend_key_data(held(be32(1) + std::string(256, 'k'))));
    expect_malformed(parse_backend_key_data(held(be32(1) + std::string(257, 'k'))).error);
    expect_malformed(parse_backend_key_data(held(be32(1) + "abc")).error);
    expect_malformed(parse_backend_key_data(held(be32(1))).error);
}

BOOST_AUTO_TEST_CASE(ready_for_query) {
    for (char s : {'I', 'T', 'E'}) {
        auto r = parse_ready_for_query(held(std::string(1, s)));
        BOOST_REQUIRE(r);
        BOOST_TEST(char(r->status) == s);
    }
    expect_malformed(parse_ready_for_query(held("X")).error);
    expect_malformed(parse_ready_for_query(held("")).error);
    expect_malformed(parse_ready_for_query(held("II")).error);
}

BOOST_AUTO_TEST_CASE(error_and_notice_fields) {
    std::string body = std::string("S") + cstr("FEHLER") + "V" + cstr("ERROR") + "C" + cstr("42P01") + "M" +
                       cstr("relation \"t\" does not exist") + "D" + cstr("detail") + "H" + cstr("hint") + "P" +
                       cstr("15") + "F" + cstr("parse_relation.c") + "L" + cstr("1392") + "R" +
                       cstr("parserOpenTable") + std::string(1, '\0');
    auto e = parse_error_fields(held(body));
    BOOST_REQUIRE(e);
    BOOST_TEST(e->severity() == "FEHLER");
    BOOST_TEST(e->severity_nonlocalized() == "ERROR");
    BOOST_TEST(e->sqlstate() == "42P01");
    BOOST_TEST(e->message() == "relation \"t\" does not exist");
    BOOST_TEST(e->detail() == "detail");
    BOOST_TEST(e->hint() == "hint");
    BOOST_TEST(e->get('P') == "15");
    BOOST_TEST(e->get('W').empty());
    BOOST_TEST(e->fields.size() == 10u);
    auto none = parse_error_fields(held(std::string(1, '\0')));
    BOOST_REQUIRE(none);
    BOOST_TEST(none->fields.empty());
    expect_malformed(parse_error_fields(held("")).error);
    expect_malformed(parse_error_fields(held(std::string("M") + cstr("x"))).error);   // no terminator
    expect_malformed(parse_error_fields(held(std::string("Mabc"))).error);             // value not terminated
    expect_malformed(parse_error_fields(held(std::string("M") + cstr("x") + std::string(1, '\0') + "y")).error);
}

BOOST_AUTO_TEST_CASE(negotiate_protocol_version) {
    auto n = parse_negotiate_protocol_version(held(be32(0) + be32(2) + cstr("_pq_.a") + cstr("_pq_.b")));
    BOOST_REQUIRE(n);
    BOOST_TEST(n->newest_minor == 0u);
    BOOST_TEST(n->unrecognized_options.size() == 2u);
    BOOST_TEST(n->unrecognized_options[1] == "_pq_.b");
    auto none = parse_negotiate_protocol_version(held(be32(2) + be32(0)));
    BOOST_REQUIRE(none);
    BOOST_TEST(none->newest_minor == 2u);
    expect_malformed(parse_negotiate_protocol_version(held(be32(0) + be32(2) + cstr("_pq_.a"))).error);
    expect_malformed(parse_negotiate_protocol_version(held(be32(0) + be32(0x7fffffff))).error);
    expect_malformed(parse_negotiate_protocol_version(held(be32(0) + be32(0xffffffff))).error);
    expect_malformed(parse_negotiate_protocol_version(held(be32(0))).error);
}

BOOST_AUTO_TEST_CASE(command_complete) {
    auto c = parse_command_complete(held(cstr("INSERT 0 1")));
    BOOST_REQUIRE(c);
    BOOST_TEST(c->tag == "INSERT 0 1");
    expect_malformed(parse_command_complete(held("SELECT 1")).error);
}

BOOST_AUTO_TEST_CASE(parse_bind_close_complete_and_no_data) {
    for (char t : {'1', '2', '3', 'n', 's', 'I'}) {
        BOOST_TEST(parse_empty(t, held("")));
        expect_malformed(parse_empty(t, held(std::string(1, '\0'))).error);
    }
}

BOOST_AUTO_TEST_CASE(notification_response) {
    auto n = parse_notification_response(held(be32(777) + cstr("portico_invalidate") + cstr("/api/users/1")));
    BOOST_REQUIRE(n);
    BOOST_TEST(n->process_id == 777);
    BOOST_TEST(n->channel == "portico_invalidate");
    BOOST_TEST(n->payload == "/api/users/1");
    expect_malformed(parse_notification_response(held(be32(777) + cstr("chan"))).error);
    expect_malformed(parse_notification_response(held(be32(1) + cstr("c") + cstr("p") + "x")).error);
}

BOOST_AUTO_TEST_CASE(copy_responses) {
    auto text = parse_copy_response(held(std::string(1, '\0') + be16(3) + be16(0) + be16(0) + be16(0)));
    BOOST_REQUIRE(text);
    BOOST_TEST(text->format == 0);
    BOOST_TEST(text->column_formats.size() == 3u);
    auto bin = parse_copy_response(held(std::string(1, '\1') + be16(1) + be16(1)));
    BOOST_REQUIRE(bin);
    BOOST_TEST(bin->format == 1);
    BOOST_TEST(bin->column_formats[0] == 1);
    auto zero = parse_copy_response(held(std::string(1, '\0') + be16(0)));
    BOOST_REQUIRE(zero);
    expect_malformed(parse_copy_response(held(std::string(1, '\0') + be16(2) + be16(0))).error);
    expect_malformed(parse_copy_response(held(std::string(1, '\2') + be16(0))).error);
    expect_malformed(parse_copy_response(held(std::string(1, '\0') + be16(0xffff))).error);
    expect_malformed(parse_copy_response(held("")).error);
}

BOOST_AUTO_TEST_CASE(backend_messages_framed_from_one_read) {
    // A server's whole login answer in one read, as Postgres writes it.
    std::string in = typed('R', be32(0)) + typed('S', cstr("server_version") + cstr("16.4")) +
                     typed('S', cstr("client_encoding") + cstr("UTF8")) + typed('K', be32(99) + be32(1234)) +
                     typed('Z', "I");
    MessageReader r;
    r.feed(in);
    auto got = drain(r);
    BOOST_REQUIRE(got.size() == 5u);
    BOOST_TEST((parse_authentication(held(got[0].body))->code == AuthCode::ok));
    BOOST_TEST(parse_parameter_status(held(got[2].body))->value == "UTF8");
    BOOST_TEST(parse_backend_key_data(held(got[3].body))->process_id == 99);
    BOOST_TEST((parse_ready_for_query(held(got[4].body))->status == TransactionStatus::idle));
}
