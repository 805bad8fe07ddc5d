// conf/nginx/portico.conf and portico-proxy.conf in a real nginx: curl → nginx → portico → the
// app. The client's address reaches the app through X-Forwarded-For / X-Real-IP (portico trusts
// nginx only), nginx keeps its connection to portico alive, uploads up to limits.max_body_bytes pass.
#include <boost/test/unit_test.hpp>

#include <fstream>
#include <sstream>

#include "harness.hpp"
#include "nginx_front.hpp"

using namespace portico::test;
using nlohmann::json;

namespace {

// nginx in front of portico, which trusts only nginx's address, in front of the app.
struct NginxStack {
    TempDir dir;
    UpstreamApp app{dir};
    std::unique_ptr<Portico> portico;
    std::unique_ptr<NginxFront> nginx;

    NginxStack() {
        PorticoSettings s;
        s.upstream = app.address();
        s.trusted_proxies = "[127.0.0.1/32]";
        portico = std::make_unique<Portico>(dir, s);
        nginx = std::make_unique<NginxFront>(dir, portico->port());
    }

    HttpResponse curl(const std::vector<std::string>& extra, std::string_view target = "/echo") const {
        return nginx->curl(extra, target);
    }
};

std::string hdr(const json& echo, const std::string& name) {
    const auto& h = echo["headers"];
    return h.contains(name) ? h[name].get<std::string>() : std::string("<absent>");
}

// TCP sockets whose local port is `port`, by state (/proc/net/tcp{,6}: 01 ESTABLISHED, 06 TIME_WAIT).
int sockets_on_port(uint16_t port, const std::string& state, bool remote) {
    int n = 0;
    for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
        std::ifstream in(table);
        std::string line;
        std::getline(in, line);  // header
        while (std::getline(in, line)) {
            std::istringstream f(line);
            std::string sl, local, rem, st;
            f >> sl >> local >> rem >> st;
            const std::string& addr = remote ? rem : local;
            if (st == state && std::stoul(addr.substr(addr.find(':') + 1), nullptr, 16) == port) ++n;
        }
    }
    return n;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(deploy_nginx)

BOOST_AUTO_TEST_CASE(nginx_t_accepts_the_snippets) {
    NginxStack s;
    auto t = Process(Process::Options{
        .argv = {kNginx, "-t", "-c", s.nginx->config_path(), "-p", s.dir.path(), "-e", s.dir.file("nginx-t.log")},
        .stdout_path = s.dir.file("t.out"),
        .stderr_path = s.dir.file("t.err")});
    auto code = t.wait_exit(10s);
    BOOST_TEST(code.value_or(-1) == 0, read_file(s.dir.file("t.err")) << read_file(s.dir.file("nginx-t.log")));
}

BOOST_AUTO_TEST_CASE(the_clients_address_and_the_request_id_reach_the_app) {
    NginxStack s;
    // A forged X-Forwarded-For from the client stays in the chain but is never taken as its address.
    auto r = s.curl({"-H", "X-Forwarded-For: 203.0.113.7", "-H", "Host: app.example"});
    BOOST_TEST_REQUIRE(r.status == 200, r.body);
    json echo = json::parse(r.body);
    BOOST_TEST(hdr(echo, "x-forwarded-for") == "203.0.113.7, 127.0.0.2, 127.0.0.1");  // nginx added the client, portico nginx
    BOOST_TEST(hdr(echo, "x-real-ip") == "127.0.0.2");
    BOOST_TEST(hdr(echo, "x-forwarded-proto") == "http");
    BOOST_TEST(hdr(echo, "x-forwarded-host") == "app.example");
    BOOST_TEST(hdr(echo, "host") == "app.example");
    BOOST_TEST(hdr(echo, "connection") == "<absent>");  // hop-by-hop, and nginx sent it empty
    // nginx's $request_id is the id portico keeps, gives the app and answers with.
    std::string rid = hdr(echo, "x-request-id");
    BOOST_TEST(rid.size() == 32u, rid);
    BOOST_TEST(r.header("X-Request-ID").value_or("") == rid);
    BOOST_TEST(r.header("Server-Timing").has_value());
    // Portico's access log names the client, not nginx.
    BOOST_TEST(eventually([&] { return s.portico->access_log().find("127.0.0.2 \"GET /echo") != std::string::npos; }, 5s),
               s.portico->access_log());
}

BOOST_AUTO_TEST_CASE(nginx_reuses_its_connection_to_portico) {
    NginxStack s;
    for (int i = 0; i < 20; ++i) {
        auto r = s.curl({});  // a new client connection to nginx each time
        BOOST_TEST_REQUIRE(r.status == 200, r.body);
    }
    // One connection from nginx to portico carried all 20 (nginx serves one request at a time
    // here), and none was closed: no TIME_WAIT on either side of portico's port.
    BOOST_TEST(sockets_on_port(s.portico->port(), "01", /*remote=*/false) == 1);
    BOOST_TEST(sockets_on_port(s.portico->port(), "06", /*remote=*/false) == 0);
    BOOST_TEST(sockets_on_port(s.portico->port(), "06", /*remote=*/true) == 0);
}

BOOST_AUTO_TEST_CASE(uploads_up_to_max_body_bytes_pass_larger_ones_stop_at_nginx) {
    NginxStack s;
    std::string body = pattern_bytes(0, 5 * 1024 * 1024);  // over nginx's own 1m default
    s.dir.write("body", body);
    auto r = s.curl({"-X", "POST", "--data-binary", "@" + s.dir.file("body"), "-H", "Content-Type: application/octet-stream"});
    BOOST_TEST_REQUIRE(r.status == 200, r.body);
    json echo = json::parse(r.body);
    BOOST_TEST(echo["body_length"] == body.size());
    BOOST_TEST(echo["body_sha256"] == sha256_hex(body));

    s.dir.write("big", pattern_bytes(0, 11 * 1024 * 1024));  // over limits.max_body_bytes (10MiB)
    int before = s.app.total();
    auto big = s.curl({"-X", "POST", "--data-binary", "@" + s.dir.file("big")});
    BOOST_TEST(big.status == 413);
    BOOST_TEST(s.app.total() == before);
}

BOOST_AUTO_TEST_SUITE_END()
