// Client address resolution: only trusted proxies may vouch for another address.
#define BOOST_TEST_MODULE proxy_client_ip
#include <boost/test/unit_test.hpp>

#include <arpa/inet.h>

#include "proxy/client_ip.hpp"

using namespace portico::proxy;

namespace {
portico::conf::Cidr cidr(const char* ip, int prefix) {
    portico::conf::Cidr c;
    c.prefix = prefix;
    c.text = ip;
    if (inet_pton(AF_INET, ip, c.bytes) != 1) {
        c.v6 = true;
        inet_pton(AF_INET6, ip, c.bytes);
    }
    return c;
}
}  // namespace

BOOST_AUTO_TEST_CASE(cidr_matching) {
    auto net = cidr("10.1.0.0", 16);
    BOOST_TEST(cidr_contains(net, *parse_ip("10.1.200.3")));
    BOOST_TEST(!cidr_contains(net, *parse_ip("10.2.0.1")));
    BOOST_TEST(cidr_contains(cidr("::1", 128), *parse_ip("::1")));
    BOOST_TEST(!cidr_contains(cidr("::1", 128), *parse_ip("127.0.0.1")));
    BOOST_TEST(cidr_contains(cidr("127.0.0.1", 32), *parse_ip("::ffff:127.0.0.1")));
    BOOST_TEST(cidr_contains(cidr("0.0.0.0", 0), *parse_ip("8.8.8.8")));
    BOOST_TEST(!parse_ip("not-an-ip"));
    BOOST_TEST(!parse_ip(""));
}

BOOST_AUTO_TEST_CASE(resolution_walks_from_the_right_over_trusted_hops) {
    std::vector<portico::conf::Cidr> trusted = {cidr("127.0.0.1", 32), cidr("10.0.0.0", 8)};
    // Untrusted peer: its headers are ignored.
    BOOST_TEST(resolve_client_ip("8.8.8.8", false, "1.1.1.1", "2.2.2.2", trusted) == "8.8.8.8");
    // Trusted peer: the rightmost untrusted hop is the client.
    BOOST_TEST(resolve_client_ip("127.0.0.1", true, "1.1.1.1, 5.5.5.5, 10.0.0.2", "", trusted) == "5.5.5.5");
    // All hops trusted: the leftmost.
    BOOST_TEST(resolve_client_ip("127.0.0.1", true, "10.0.0.3, 10.0.0.2", "", trusted) == "10.0.0.3");
    // Garbage stops the walk.
    BOOST_TEST(resolve_client_ip("127.0.0.1", true, "1.1.1.1, junk, 10.0.0.2", "", trusted) == "10.0.0.2");
    // X-Real-IP when there is no X-Forwarded-For.
    BOOST_TEST(resolve_client_ip("127.0.0.1", true, "", "3.3.3.3", trusted) == "3.3.3.3");
    BOOST_TEST(resolve_client_ip("127.0.0.1", true, "", "bogus", trusted) == "127.0.0.1");
}
