// Builders: exact bytes for the small fixed messages, and every builder round-tripped through the
// framer and its parser.
#define BOOST_TEST_MODULE pool_builders
#include <boost/test/unit_test.hpp>

#include <array>

#include "pool/backend.hpp"
#include "pool/builders.hpp"
#include "pool/frontend.hpp"
#include "pool/startup.hpp"
#include "wire_fixture.hpp"

using namespace portico::pool;
using namespace portico::pool::test;

namespace {
// Frames `bytes`, which must hold exactly one message, and returns it.
Copied one(const std::string& bytes, Phase phase = Phase::typed) {
    MessageReader r(phase);
    r.feed(bytes);
    MessageReader::Status s;
    auto got = drain(r, &s);
    BOOST_REQUIRE(got.size() == 1u);
    BOOST_REQUIRE((s == MessageReader::Status::need_more));
    BOOST_REQUIRE(r.pending() == 0u);
    return got[0];
}
}  // namespace

BOOST_AUTO_TEST_CASE(fixed_bytes) {
    std::string out;
    append_ready_for_query(out, TransactionStatus::idle);
    BOOST_TEST(out == typed('Z', "I"));
    out.clear();
    append_auth_ok(out);
    BOOST_TEST(out == typed('R', be32(0)));
    out.clear();
    append_encryption_refused(out);
    BOOST_TEST(out == "N");
    out.clear();
    append_sync(out);
    append_flush(out);
    append_terminate(out);
    append_parse_complete(out);
    append_bind_complete(out);
    append_close_complete(out);
    BOOST_TEST(out == typed('S', "") + typed('H', "") + typed('X', "") + typed('1', "") + typed('2', "") + typed('3', ""));
    out.clear();
    append_ssl_request(out);
    BOOST_TEST(out == be32(8) + be32(80877103));
    out.clear();
    append_gssenc_request(out);
    BOOST_TEST(out == be32(8) + be32(80877104));
    out.clear();
    append_query(out, "SELECT 1");
    BOOST_TEST(out == typed('Q', cstr("SELECT 1")));
}

BOOST_AUTO_TEST_CASE(builders_append) {
    std::string out = "prefix";
    append_sync(out);
    BOOST_TEST(out == "prefix" + typed('S', ""));
}

BOOST_AUTO_TEST_CASE(authentication_round_trips) {
    std::string out;
    append_auth_cleartext_password(out);
    append_auth_md5_password(out, "\x9a\x01\xff\x10");
    std::array<std::string_view, 2> mechs{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"};
    append_auth_sasl(out, mechs);
    append_auth_sasl_continue(out, "r=abc,s=QUJD,i=4096");
    append_auth_sasl_final(out, "v=c2ln");
    MessageReader r;
    r.feed(out);
    auto got = drain(r);
    BOOST_REQUIRE(got.size() == 5u);
    for (const Copied& c : got) BOOST_TEST(c.type == 'R');
    BOOST_TEST((parse_authentication(held(got[0].body))->code == AuthCode::cleartext_password));
    auto md5 = parse_authentication(held(got[1].body));
    BOOST_TEST((md5->code == AuthCode::md5_password));
    BOOST_TEST(md5->md5_salt == "\x9a\x01\xff\x10");
    auto sasl = parse_authentication(held(got[2].body));
    BOOST_REQUIRE(sasl);
    BOOST_TEST(sasl->sasl_mechanisms.size() == 2u);
    BOOST_TEST(sasl->sasl_mechanisms[0] == "SCRAM-SHA-256-PLUS");
    BOOST_TEST(parse_authentication(held(got[3].body))->data == "r=abc,s=QUJD,i=4096");
    BOOST_TEST((parse_authentication(held(got[4].body))->code == AuthCode::sasl_final));
    BOOST_TEST(parse_authentication(held(got[4].body))->data == "v=c2ln");
}

BOOST_AUTO_TEST_CASE(session_messages_round_trip) {
    std::string out;
    append_parameter_status(out, "TimeZone", "Europe/Paris");
    Copied ps = one(out);
    BOOST_TEST(ps.type == 'S');
    BOOST_TEST(parse_parameter_status(held(ps.body))->value == "Europe/Paris");

    for (std::string key : {be32(0x01020304), std::string(32, '\xab')}) {
        out.clear();
        append_backend_key_data(out, 31337, key);
        Copied k = one(out);
        BOOST_TEST(k.type == 'K');
        auto kd = parse_backend_key_data(held(k.body));
        BOOST_REQUIRE(kd);
        BOOST_TEST(kd->process_id == 31337);
        BOOST_TEST(kd->secret_key == key);
    }
    for (auto s : {TransactionStatus::idle, TransactionStatus::in_transaction, TransactionStatus::failed}) {
        out.clear();
        append_ready_for_query(out, s);
        BOOST_TEST((parse_ready_for_query(held(one(out).body))->status == s));
    }
    out.clear();
    append_command_complete(out, "SELECT 1");
    BOOST_TEST(parse_command_complete(held(one(out).body))->tag == "SELECT 1");
}

BOOST_AUTO_TEST_CASE(error_and_notice_round_trip) {
    std::string out;
    ErrorDescription e;
    e.severity = "FATAL";
    e.sqlstate = "28P01";
    e.message = "password authentication failed for user \"alice\"";
    append_error_response(out, e);
    Copied c = one(out);
    BOOST_TEST(c.type == 'E');
    auto f = parse_error_fields(held(c.body));
    BOOST_REQUIRE(f);
    BOOST_TEST(f->severity() == "FATAL");
    BOOST_TEST(f->severity_nonlocalized() == "FATAL");
    BOOST_TEST(f->sqlstate() == "28P01");
    BOOST_TEST(f->message() == e.message);
    BOOST_TEST(f->get('D').empty());
    BOOST_TEST(f->fields.size() == 4u);  // no D, no H when not given

    out.clear();
    ErrorDescription n;
    n.severity = "WARNING";
    n.sqlstate = "01000";
    n.message = "m";
    n.detail = "d";
    n.hint = "h";
    append_notice_response(out, n);
    Copied nc = one(out);
    BOOST_TEST(nc.type == 'N');
    auto nf = parse_error_fields(held(nc.body));
    BOOST_TEST(nf->detail() == "d");
    BOOST_TEST(nf->hint() == "h");

    out.clear();
    append_protocol_error(out, ProtocolError{ProtocolErrc::message_too_large, "too big"});
    auto pf = parse_error_fields(held(one(out).body));
    BOOST_TEST(pf->severity() == "FATAL");
    BOOST_TEST(pf->sqlstate() == "54000");
    BOOST_TEST(pf->message() == "too big");
}

BOOST_AUTO_TEST_CASE(negotiate_protocol_version_round_trip) {
    std::string out;
    std::array<std::string_view, 1> opts{"_pq_.x"};
    append_negotiate_protocol_version(out, 0, opts);
    Copied c = one(out);
    BOOST_TEST(c.type == 'v');
    auto n = parse_negotiate_protocol_version(held(c.body));
    BOOST_REQUIRE(n);
    BOOST_TEST(n->newest_minor == 0u);
    BOOST_TEST(n->unrecognized_options.size() == 1u);
    BOOST_TEST(n->unrecognized_options[0] == "_pq_.x");
    out.clear();
    append_negotiate_protocol_version(out, 2, {});
    BOOST_TEST(parse_negotiate_protocol_version(held(one(out).body))->unrecognized_options.empty());
}

BOOST_AUTO_TEST_CASE(frontend_round_trips) {
    std::string out;
    std::array<uint32_t, 2> oids{23, 25};
    append_parse(out, "s1", "SELECT $1, $2", oids);
    auto p = parse_parse(held(one(out).body));
    BOOST_REQUIRE(p);
    BOOST_TEST(p->statement == "s1");
    BOOST_TEST(p->query == "SELECT $1, $2");
    BOOST_TEST(p->param_types.size() == 2u);
    BOOST_TEST(p->param_types[1] == 25u);

    out.clear();
    std::array<std::string_view, 2> params{"42", "hello"};
    append_bind(out, "portal", "s1", params);
    auto b = parse_bind(held(one(out).body));
    BOOST_REQUIRE(b);
    BOOST_TEST(b->portal == "portal");
    BOOST_TEST(b->statement == "s1");
    BOOST_TEST(b->param_count == 2);

    out.clear();
    append_describe(out, TargetKind::portal, "portal");
    Copied d = one(out);
    BOOST_TEST(d.type == 'D');
    BOOST_TEST((parse_describe(held(d.body))->kind == TargetKind::portal));
    out.clear();
    append_close(out, TargetKind::statement, "s1");
    Copied c = one(out);
    BOOST_TEST(c.type == 'C');
    BOOST_TEST(parse_close(held(c.body))->name == "s1");
    out.clear();
    append_execute(out, "portal", 10);
    BOOST_TEST(parse_execute(held(one(out).body))->max_rows == 10);

    out.clear();
    append_password_message(out, "secret");
    BOOST_TEST(parse_password_message(held(one(out).body))->password == "secret");
    out.clear();
    append_sasl_initial_response(out, "SCRAM-SHA-256", "n,,n=,r=abc");
    auto init = parse_sasl_initial_response(held(one(out).body));
    BOOST_REQUIRE(init);
    BOOST_TEST(init->mechanism == "SCRAM-SHA-256");
    BOOST_TEST(init->data == "n,,n=,r=abc");
    out.clear();
    append_sasl_response(out, "c=biws,r=abc,p=x");
    BOOST_TEST(parse_sasl_response(held(one(out).body))->data == "c=biws,r=abc,p=x");

    out.clear();
    append_copy_data(out, std::string("a\0b", 3));
    Copied cd = one(out);
    BOOST_TEST(cd.type == 'd');
    BOOST_TEST(cd.body == std::string("a\0b", 3));
    out.clear();
    append_copy_done(out);
    BOOST_TEST(one(out).type == 'c');
    out.clear();
    append_copy_fail(out, "oops");
    BOOST_TEST(parse_copy_fail(held(one(out).body))->message == "oops");
}

BOOST_AUTO_TEST_CASE(renamed_parse_and_bind_keep_the_rest) {
    // What issue 6 does: the same Parse/Bind under the server-side name, other bytes unchanged.
    std::string body = cstr("__asyncpg_stmt_1__") + cstr("SELECT $1") + be16(1) + be32(23);
    auto p = parse_parse(held(body));
    BOOST_REQUIRE(p);
    std::string out;
    append_parse_renamed(out, *p, "P_7");
    BOOST_TEST(out == typed('P', cstr("P_7") + cstr("SELECT $1") + be16(1) + be32(23)));

    std::string bbody = cstr("") + cstr("__asyncpg_stmt_1__") + be16(1) + be16(1) + be16(1) + be32(4) + be32(7) + be16(0);
    auto b = parse_bind(held(bbody));
    BOOST_REQUIRE(b);
    out.clear();
    append_bind_renamed(out, *b, "P_7");
    auto rb = parse_bind(held(one(out).body));
    BOOST_REQUIRE(rb);
    BOOST_TEST(rb->statement == "P_7");
    BOOST_TEST(rb->portal.empty());
    BOOST_TEST(rb->after_statement == b->after_statement);
}

BOOST_AUTO_TEST_CASE(startup_packets_round_trip) {
    std::string out;
    std::array<StartupParam, 3> params{{{"user", "alice"}, {"database", "app"}, {"application_name", "x"}}};
    append_startup_message(out, params, kProtocol32);
    auto s = parse_startup_packet(held(one(out, Phase::startup).body));
    BOOST_REQUIRE(s);
    BOOST_TEST(s->startup.user == "alice");
    BOOST_TEST(s->startup.database == "app");
    BOOST_TEST(s->startup.minor() == 2);

    out.clear();
    append_ssl_request(out);
    BOOST_TEST((parse_startup_packet(held(one(out, Phase::startup).body))->kind == StartupKind::ssl_request));
    out.clear();
    append_gssenc_request(out);
    BOOST_TEST((parse_startup_packet(held(one(out, Phase::startup).body))->kind == StartupKind::gssenc_request));
    for (std::string key : {be32(0xfeedface), std::string(32, '\x11')}) {
        out.clear();
        append_cancel_request(out, 4321, key);
        auto c = parse_startup_packet(held(one(out, Phase::startup).body));
        BOOST_REQUIRE(c);
        BOOST_TEST((c->kind == StartupKind::cancel_request));
        BOOST_TEST(c->cancel.process_id == 4321);
        BOOST_TEST(c->cancel.secret_key == key);
    }
}
