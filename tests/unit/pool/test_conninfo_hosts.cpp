// Conninfo host lists rewritten with resolved addresses (conninfo_hosts.hpp), and the resolver
// that feeds them (resolver.hpp) on a real loop: localhost from /etc/hosts, a .invalid name
// (RFC 6761: never resolves), one lookup shared by concurrent askers and reused from the cache.
#define BOOST_TEST_MODULE pool_conninfo_hosts
#include <boost/test/unit_test.hpp>

#include <uv.h>

#include "pool/conninfo_hosts.hpp"
#include "pool/resolver.hpp"

using namespace portico::pool;

namespace {
// The last value of `key`, or "<absent>".
std::string value_of(const ConnParams& params, const std::string& key) {
    std::string found = "<absent>";
    for (const auto& [k, v] : params)
        if (k == key) found = v;
    return found;
}

HostLookup ok(std::vector<std::string> addresses) { return HostLookup{std::move(addresses), {}}; }
HostLookup failed(std::string error) { return HostLookup{{}, std::move(error)}; }
}  // namespace

BOOST_AUTO_TEST_CASE(host_lists_split_like_libpq) {
    BOOST_TEST(split_host_list("a") == (std::vector<std::string>{"a"}));
    BOOST_TEST(split_host_list("a,,b") == (std::vector<std::string>{"a", "", "b"}));
    BOOST_TEST(split_host_list("a,") == (std::vector<std::string>{"a", ""}));
    BOOST_TEST(split_host_list("") == (std::vector<std::string>{""}));
}

BOOST_AUTO_TEST_CASE(sockets_literals_and_defaults_need_no_lookup) {
    for (const char* h : {"", "/var/run/postgresql", "@abstract", "127.0.0.1", "::1", "fe80::1", "2001:db8::5"})
        BOOST_TEST(host_needs_no_lookup(h), h);
    for (const char* h : {"localhost", "db.example.com", "db", "127.0.0.1.nip.io", "1.2.3"})
        BOOST_TEST(!host_needs_no_lookup(h), h);
}

BOOST_AUTO_TEST_CASE(names_to_resolve_are_distinct_and_in_order) {
    ConnParams p = {{"user", "u"}, {"host", "b.example,/tmp,a.example,b.example,10.0.0.1"}, {"port", "5432"}};
    BOOST_TEST(hosts_to_resolve(p) == (std::vector<std::string>{"b.example", "a.example"}));
    // The last of a repeated keyword counts, as in PQconnectStartParams.
    ConnParams twice = {{"host", "first.example"}, {"host", "/tmp"}};
    BOOST_TEST(hosts_to_resolve(twice).empty());
}

BOOST_AUTO_TEST_CASE(nothing_to_resolve_leaves_the_params_alone) {
    // No host (libpq's default or PGHOST), a socket dir, a literal, a user-given hostaddr, or a port
    // list libpq rejects by itself ("could not match 3 port numbers to 2 hosts").
    std::vector<ConnParams> cases = {
        {{"dbname", "app"}},
        {{"host", "/var/run/postgresql"}, {"port", "5433"}},
        {{"host", "127.0.0.1"}},
        {{"host", "db.example"}, {"hostaddr", "10.1.1.1"}},
        {{"host", "a.example,b.example"}, {"port", "1,2,3"}},
    };
    for (const ConnParams& p : cases) {
        BOOST_TEST(hosts_to_resolve(p).empty());
        ResolvedParams r = with_resolved_hosts(p, {});
        BOOST_TEST(r.any_host);
        BOOST_TEST(r.dropped.empty());
        BOOST_TEST((r.params == p));
    }
}

BOOST_AUTO_TEST_CASE(one_name_becomes_host_and_hostaddr) {
    ConnParams p = {{"user", "app"}, {"host", "localhost"}, {"port", "5432"}, {"sslmode", "verify-full"}};
    ResolvedParams r = with_resolved_hosts(p, {{"localhost", ok({"127.0.0.1"})}});
    BOOST_TEST(r.any_host);
    BOOST_TEST(r.dropped.empty());
    // host stays (TLS verify-full checks the certificate against it), hostaddr is where to connect.
    BOOST_TEST(value_of(r.params, "host") == "localhost");
    BOOST_TEST(value_of(r.params, "hostaddr") == "127.0.0.1");
    BOOST_TEST(value_of(r.params, "port") == "5432");
    BOOST_TEST(value_of(r.params, "sslmode") == "verify-full");
    BOOST_TEST(value_of(r.params, "user") == "app");
}

BOOST_AUTO_TEST_CASE(every_address_of_a_name_is_its_own_entry) {
    ConnParams p = {{"host", "db.example"}, {"port", "6000"}};
    ResolvedParams r = with_resolved_hosts(p, {{"db.example", ok({"10.0.0.1", "2001:db8::1"})}});
    BOOST_TEST(value_of(r.params, "host") == "db.example,db.example");
    BOOST_TEST(value_of(r.params, "hostaddr") == "10.0.0.1,2001:db8::1");
    BOOST_TEST(value_of(r.params, "port") == "6000");  // one port still serves every entry
}

BOOST_AUTO_TEST_CASE(multi_host_lists_stay_parallel) {
    ConnParams p = {{"host", "primary.example,/run/pg,10.0.0.9,standby.example"},
                    {"port", "5432,5433,5434,5435"},
                    {"target_session_attrs", "read-write"}};
    ResolvedParams r = with_resolved_hosts(
        p, {{"primary.example", ok({"10.0.0.1", "10.0.0.2"})}, {"standby.example", ok({"10.0.1.1"})}});
    BOOST_TEST(r.any_host);
    BOOST_TEST(value_of(r.params, "host") == "primary.example,primary.example,/run/pg,10.0.0.9,standby.example");
    // Empty items: libpq uses the host item itself (the socket dir, the literal).
    BOOST_TEST(value_of(r.params, "hostaddr") == "10.0.0.1,10.0.0.2,,,10.0.1.1");
    BOOST_TEST(value_of(r.params, "port") == "5432,5432,5433,5434,5435");
    BOOST_TEST(value_of(r.params, "target_session_attrs") == "read-write");
}

BOOST_AUTO_TEST_CASE(a_name_that_does_not_resolve_is_skipped_like_libpq_does) {
    ConnParams p = {{"host", "gone.invalid,standby.example"}, {"port", "5432,5433"}};
    ResolvedParams r = with_resolved_hosts(
        p, {{"gone.invalid", failed("Name or service not known")}, {"standby.example", ok({"10.0.1.1"})}});
    BOOST_TEST(r.any_host);
    BOOST_TEST(value_of(r.params, "host") == "standby.example");
    BOOST_TEST(value_of(r.params, "hostaddr") == "10.0.1.1");
    BOOST_TEST(value_of(r.params, "port") == "5433");
    BOOST_TEST(r.dropped == "could not translate host name \"gone.invalid\" to address: Name or service not known\n");
}

BOOST_AUTO_TEST_CASE(no_host_left_means_no_connect) {
    ConnParams p = {{"host", "a.invalid,b.invalid"}};
    ResolvedParams r = with_resolved_hosts(p, {{"a.invalid", failed("Name or service not known")},
                                               {"b.invalid", failed("Temporary failure in name resolution")}});
    BOOST_TEST(!r.any_host);
    BOOST_TEST(r.dropped == "could not translate host name \"a.invalid\" to address: Name or service not known\n"
                            "could not translate host name \"b.invalid\" to address: Temporary failure in name resolution\n");
    // A name the caller never resolved counts as a failure, not as a blocking libpq lookup.
    BOOST_TEST(!with_resolved_hosts({{"host", "x.example"}}, {}).any_host);
}

BOOST_AUTO_TEST_CASE(resolver_shares_lookups_and_keeps_answers) {
    uv_loop_t loop;
    uv_loop_init(&loop);
    {
        HostResolver resolver(&loop);
        int answers = 0;
        HostResolver::Results first, second;
        resolver.resolve({"localhost", "no-such-host.invalid"}, [&](const HostResolver::Results& r) {
            first = r;
            ++answers;
        });
        resolver.resolve({"localhost"}, [&](const HostResolver::Results& r) {
            second = r;
            ++answers;
        });
        BOOST_TEST(answers == 0);  // not before the loop runs: the lookups are on the thread pool
        uv_run(&loop, UV_RUN_DEFAULT);
        BOOST_TEST(answers == 2);
        BOOST_TEST(resolver.lookups == 2u);  // localhost asked once for both
        BOOST_TEST(first["localhost"].error.empty());
        BOOST_TEST(!first["localhost"].addresses.empty());
        BOOST_TEST(second["localhost"].addresses == first["localhost"].addresses);
        BOOST_TEST(!first["no-such-host.invalid"].error.empty());
        BOOST_TEST(first["no-such-host.invalid"].addresses.empty());
        BOOST_TEST(resolver.lookup_failures == 1u);

        // Fresh answers (failures too) come from the cache, at once.
        bool now = false;
        resolver.resolve({"localhost", "no-such-host.invalid"}, [&](const HostResolver::Results& r) {
            now = r.at("localhost").addresses == first["localhost"].addresses && !r.at("no-such-host.invalid").error.empty();
        });
        BOOST_TEST(now);
        BOOST_TEST(resolver.lookups == 2u);
    }
    {
        // A zero TTL asks again every time; a resolver destroyed with a lookup in flight drops it.
        HostResolver resolver(&loop, /*ttl_ns=*/0);
        int answers = 0;
        resolver.resolve({"localhost"}, [&](const HostResolver::Results&) { ++answers; });
        uv_run(&loop, UV_RUN_DEFAULT);
        resolver.resolve({"localhost"}, [&](const HostResolver::Results&) { ++answers; });
        uv_run(&loop, UV_RUN_DEFAULT);
        BOOST_TEST(answers == 2);
        BOOST_TEST(resolver.lookups == 2u);
    }
    {
        int answers = 0;
        {
            HostResolver resolver(&loop);
            resolver.resolve({"localhost"}, [&](const HostResolver::Results&) { ++answers; });
        }
        uv_run(&loop, UV_RUN_DEFAULT);
        BOOST_TEST(answers == 0);
    }
    BOOST_TEST(uv_loop_close(&loop) == 0);
}
