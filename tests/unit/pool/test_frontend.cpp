// Frontend message parsers: Query, Parse, Bind (with the offsets issue 6 rewrites), Describe,
// Close, Execute, the empty ones, the three meanings of 'p', CopyFail; each with malformed forms.
#define BOOST_TEST_MODULE pool_frontend
#include <boost/test/unit_test.hpp>

#include "pool/frontend.hpp"
#include "wire_fixture.hpp"

using namespace portico::pool;
using namespace portico::pool::test;

namespace {
void expect_malformed(const ProtocolError& e) {
    BOOST_TEST((e.code == ProtocolErrc::malformed));
    BOOST_TEST(sqlstate_of(e) == "08P01");
    BOOST_TEST(!e.message.empty());
}

std::string bind_body(std::string_view portal, std::string_view stmt) {
    // two params: one binary format code for all, "42" and NULL; one result format code.
    return cstr(portal) + cstr(stmt) + be16(1) + be16(1) + be16(2) + be32(4) + be32(42) + be32(0xffffffff) + be16(1) +
           be16(1);
}
}  // namespace

BOOST_AUTO_TEST_CASE(query) {
    auto q = parse_query(held(cstr("SELECT 1; SELECT 2")));
    BOOST_REQUIRE(q);
    BOOST_TEST(q->sql == "SELECT 1; SELECT 2");
    auto empty = parse_query(held(cstr("")));
    BOOST_REQUIRE(empty);
    BOOST_TEST(empty->sql.empty());
    expect_malformed(parse_query(held("SELECT 1")).error);           // no NUL
    expect_malformed(parse_query(held(cstr("SELECT 1") + "x")).error);  // bytes after it
    expect_malformed(parse_query(held("")).error);
}

BOOST_AUTO_TEST_CASE(parse_message) {
    std::string body = cstr("stmt_1") + cstr("SELECT $1::int, $2") + be16(2) + be32(23) + be32(0);
    auto p = parse_parse(held(body));
    BOOST_REQUIRE(p);
    BOOST_TEST(p->statement == "stmt_1");
    BOOST_TEST(p->query == "SELECT $1::int, $2");
    BOOST_TEST(p->param_types.size() == 2u);
    BOOST_TEST(p->param_types[0] == 23u);
    BOOST_TEST(p->param_types[1] == 0u);
    BOOST_TEST(p->statement_offset == 0u);
    BOOST_TEST(p->after_statement == body.substr(7));
    auto unnamed = parse_parse(held(cstr("") + cstr("SELECT 1") + be16(0)));
    BOOST_REQUIRE(unnamed);
    BOOST_TEST(unnamed->statement.empty());
    BOOST_TEST(unnamed->param_types.empty());

    expect_malformed(parse_parse(held(cstr("s") + cstr("q"))).error);                       // no count
    expect_malformed(parse_parse(held(cstr("s") + cstr("q") + be16(2) + be32(23))).error);  // one OID short
    expect_malformed(parse_parse(held(cstr("s") + cstr("q") + be16(0) + "z")).error);       // trailing
    expect_malformed(parse_parse(held(cstr("s") + cstr("q") + be16(0xffff))).error);        // negative count
    expect_malformed(parse_parse(held(cstr("s") + "q")).error);
}

BOOST_AUTO_TEST_CASE(bind_message) {
    std::string body = bind_body("portal", "stmt_1");
    auto b = parse_bind(held(body));
    BOOST_REQUIRE(b);
    BOOST_TEST(b->portal == "portal");
    BOOST_TEST(b->statement == "stmt_1");
    BOOST_TEST(b->portal_offset == 0u);
    BOOST_TEST(b->statement_offset == 7u);
    BOOST_TEST(body.substr(b->statement_offset, b->statement.size()) == "stmt_1");
    BOOST_TEST(b->after_statement == body.substr(14));
    BOOST_TEST(b->param_format_count == 1);
    BOOST_TEST(b->param_count == 2);
    BOOST_TEST(b->result_format_count == 1);

    auto unnamed = parse_bind(held(cstr("") + cstr("") + be16(0) + be16(0) + be16(0)));
    BOOST_REQUIRE(unnamed);
    BOOST_TEST(unnamed->statement.empty());
    BOOST_TEST(unnamed->statement_offset == 1u);
    // Formats per parameter (as many codes as parameters) is fine; a mismatch is not.
    BOOST_TEST(parse_bind(held(cstr("") + cstr("s") + be16(2) + be16(0) + be16(1) + be16(2) + be32(0) + be32(0) + be16(0))));
    expect_malformed(parse_bind(held(cstr("") + cstr("s") + be16(2) + be16(0) + be16(1) + be16(3) + be32(0) + be32(0) + be32(0) + be16(0))).error);
}

BOOST_AUTO_TEST_CASE(bind_malformed) {
    std::string good = bind_body("", "s");
    // Every truncation of a good Bind is refused (each cuts some field short).
    for (size_t n = 0; n < good.size(); ++n)
        BOOST_TEST_CONTEXT("truncated to " << n) { expect_malformed(parse_bind(held(good.substr(0, n))).error); }
    expect_malformed(parse_bind(held(good + "x")).error);
    // A parameter length that runs past the end, and one below -1.
    expect_malformed(parse_bind(held(cstr("") + cstr("s") + be16(0) + be16(1) + be32(100) + "abc" + be16(0))).error);
    expect_malformed(parse_bind(held(cstr("") + cstr("s") + be16(0) + be16(1) + be32(uint32_t(-2)) + be16(0))).error);
    expect_malformed(parse_bind(held(cstr("") + cstr("s") + be16(0xffff))).error);
}

BOOST_AUTO_TEST_CASE(describe_and_close) {
    auto d = parse_describe(held(std::string("S") + cstr("stmt")));
    BOOST_REQUIRE(d);
    BOOST_TEST((d->kind == TargetKind::statement));
    BOOST_TEST(d->name == "stmt");
    BOOST_TEST(d->name_offset == 1u);
    auto dp = parse_describe(held(std::string("P") + cstr("")));
    BOOST_REQUIRE(dp);
    BOOST_TEST((dp->kind == TargetKind::portal));
    BOOST_TEST(dp->name.empty());
    auto c = parse_close(held(std::string("S") + cstr("stmt")));
    BOOST_REQUIRE(c);
    BOOST_TEST((c->kind == TargetKind::statement));
    auto cp = parse_close(held(std::string("P") + cstr("p1")));
    BOOST_REQUIRE(cp);
    BOOST_TEST((cp->kind == TargetKind::portal));
    BOOST_TEST(cp->name == "p1");

    expect_malformed(parse_describe(held(std::string("X") + cstr("stmt"))).error);
    expect_malformed(parse_close(held(std::string("s") + cstr("stmt"))).error);
    expect_malformed(parse_describe(held("S")).error);
    expect_malformed(parse_close(held("")).error);
    expect_malformed(parse_close(held(std::string("S") + cstr("a") + "b")).error);
}

BOOST_AUTO_TEST_CASE(execute) {
    auto e = parse_execute(held(cstr("portal") + be32(100)));
    BOOST_REQUIRE(e);
    BOOST_TEST(e->portal == "portal");
    BOOST_TEST(e->max_rows == 100);
    auto all = parse_execute(held(cstr("") + be32(0)));
    BOOST_REQUIRE(all);
    BOOST_TEST(all->max_rows == 0);
    expect_malformed(parse_execute(held(cstr("") + be16(0))).error);
    expect_malformed(parse_execute(held(cstr("") + be32(0) + "x")).error);
}

BOOST_AUTO_TEST_CASE(sync_flush_terminate_copydone) {
    for (char t : {'S', 'H', 'X', 'c'}) {
        BOOST_TEST(parse_empty(t, held("")));
        expect_malformed(parse_empty(t, held("x")).error);
    }
}

BOOST_AUTO_TEST_CASE(password_family) {
    auto pw = parse_password_message(held(cstr("md5bb41a296aab6baccb36ff243a562abff")));
    BOOST_REQUIRE(pw);
    BOOST_TEST(pw->password == "md5bb41a296aab6baccb36ff243a562abff");
    expect_malformed(parse_password_message(held("secret")).error);
    expect_malformed(parse_password_message(held(cstr("a") + "b")).error);

    std::string first = "n,,n=,r=abcdef";
    auto init = parse_sasl_initial_response(held(cstr("SCRAM-SHA-256") + be32(uint32_t(first.size())) + first));
    BOOST_REQUIRE(init);
    BOOST_TEST(init->mechanism == "SCRAM-SHA-256");
    BOOST_TEST(init->has_data);
    BOOST_TEST(init->data == first);
    auto none = parse_sasl_initial_response(held(cstr("SCRAM-SHA-256") + be32(0xffffffff)));
    BOOST_REQUIRE(none);
    BOOST_TEST(!none->has_data);
    expect_malformed(parse_sasl_initial_response(held(cstr("SCRAM-SHA-256") + be32(100) + first)).error);
    expect_malformed(parse_sasl_initial_response(held(cstr("SCRAM-SHA-256") + be32(2) + first)).error);
    expect_malformed(parse_sasl_initial_response(held(cstr("SCRAM-SHA-256") + be32(uint32_t(-5)))).error);
    expect_malformed(parse_sasl_initial_response(held("SCRAM")).error);

    auto resp = parse_sasl_response(held("c=biws,r=abc,p=xyz"));
    BOOST_REQUIRE(resp);
    BOOST_TEST(resp->data == "c=biws,r=abc,p=xyz");
}

BOOST_AUTO_TEST_CASE(copy_fail) {
    auto f = parse_copy_fail(held(cstr("client gave up")));
    BOOST_REQUIRE(f);
    BOOST_TEST(f->message == "client gave up");
    expect_malformed(parse_copy_fail(held("no nul")).error);
}
