// conf/nginx/portico.conf and portico-proxy.conf in a real nginx: curl → nginx → portico → the
// app. The client's address reaches the app through X-Forwarded-For / X-Real-IP (portico trusts
// nginx only), nginx keeps its connection to portico alive, uploads up to limits.max_body_bytes pass.
#include <boost/test/unit_test.hpp>

#include <fmt/core.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "harness.hpp"

using namespace portico::test;
using nlohmann::json;

namespace {

const char* kNginx = "/usr/sbin/nginx";

std::string snippet_dir() { return apps_dir() + "/../../conf/nginx"; }

// portico.conf with its upstream address pointed at the test's portico.
std::string upstream_snippet(uint16_t portico_port) {
    std::string text = read_file(snippet_dir() + "/portico.conf");
    const std::string shipped = "server 127.0.0.1:8080;";
    auto at = text.find(shipped);
    BOOST_TEST_REQUIRE(at != std::string::npos, "portico.conf no longer names " << shipped);
    return text.replace(at, shipped.size(), fmt::format("server 127.0.0.1:{};", portico_port));
}

// nginx (one process, no master: SIGKILL at the end leaves nothing behind) in front of portico,
// which trusts only nginx's address, in front of the app. Clients connect from 127.0.0.2 so that
// they are not trusted proxies themselves.
struct NginxStack {
    TempDir dir;
    UpstreamApp app{dir};
    std::unique_ptr<Portico> portico;
    uint16_t port = 0;
    std::unique_ptr<Process> nginx;

    NginxStack() {
        PorticoSettings s;
        s.upstream = app.address();
        s.trusted_proxies = "[127.0.0.1/32]";
        portico = std::make_unique<Portico>(dir, s);
        port = free_tcp_port();
        dir.write("portico-upstream.conf", upstream_snippet(portico->port()));
        std::string conf = fmt::format(R"(# written by deploy_nginx
{user}
daemon off;
master_process off;
pid {d}/nginx.pid;
error_log {d}/nginx-error.log info;
events {{ worker_connections 256; }}
http {{
    access_log {d}/nginx-access.log;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    include {d}/portico-upstream.conf;
    server {{
        listen 127.0.0.1:{port};
        location / {{
            include {snippets}/portico-proxy.conf;
        }}
    }}
}}
)",
                                       fmt::arg("user", geteuid() == 0 ? "user root;" : ""), fmt::arg("d", dir.path()),
                                       fmt::arg("port", port), fmt::arg("snippets", snippet_dir()));
        dir.write("nginx.conf", conf);
        nginx = std::make_unique<Process>(Process::Options{
            .argv = {kNginx, "-c", dir.file("nginx.conf"), "-p", dir.path(), "-e", dir.file("nginx-error.log")},
            .stdout_path = dir.file("nginx.out"),
            .stderr_path = dir.file("nginx.err")});
        BOOST_TEST_REQUIRE(wait_for_tcp(port, 10s), "nginx did not listen: " << read_file(dir.file("nginx-error.log")));
    }

    std::string url(std::string_view target) const { return fmt::format("http://127.0.0.1:{}{}", port, target); }

    // One request through nginx with curl from 127.0.0.2; the response head and body.
    HttpResponse curl(const std::vector<std::string>& extra, std::string_view target = "/echo") const {
        std::vector<std::string> args = {"-s", "-i", "--max-time", "10", "--interface", "127.0.0.2"};
        args.insert(args.end(), extra.begin(), extra.end());
        args.push_back(url(target));
        auto r = run_curl(args);
        BOOST_TEST_REQUIRE(r.exit_code == 0, "curl: " << r.err);
        HttpResponse out;
        std::string text = r.out;
        while (text.rfind("HTTP/1.1 1", 0) == 0) text.erase(0, text.find("\r\n\r\n") + 4);  // 100 Continue
        auto end = text.find("\r\n\r\n");
        BOOST_TEST_REQUIRE(end != std::string::npos, text);
        std::istringstream head(text.substr(0, end));
        std::string line;
        std::getline(head, line);
        out.status = std::stoi(line.substr(line.find(' ') + 1, 3));
        while (std::getline(head, line)) {
            if (!line.empty() && line.back() == '\r') line.pop_back();
            auto colon = line.find(':');
            if (colon == std::string::npos) continue;
            out.headers.emplace_back(line.substr(0, colon), line.substr(line.find_first_not_of(' ', colon + 1)));
        }
        out.body = text.substr(end + 4);
        out.complete = true;
        return out;
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
        .argv = {kNginx, "-t", "-c", s.dir.file("nginx.conf"), "-p", s.dir.path(), "-e", s.dir.file("nginx-t.log")},
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
