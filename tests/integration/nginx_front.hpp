// A real nginx in front of a test's portico, configured with the shipped snippets
// (conf/nginx/portico.conf for the upstream block, portico-proxy.conf in the location), and curl
// through it. Shared by deploy_nginx (the snippets themselves) and e2e_stack (the whole stack).
// Header-only: each suite is its own executable.
#pragma once

#include <boost/test/unit_test.hpp>

#include <fmt/core.h>
#include <unistd.h>

#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "harness.hpp"

namespace portico::test {

inline const char* kNginx = "/usr/sbin/nginx";

inline std::string nginx_snippet_dir() { return apps_dir() + "/../../conf/nginx"; }

// portico.conf with its upstream address pointed at the test's portico.
inline std::string nginx_upstream_snippet(uint16_t portico_port) {
    std::string text = read_file(nginx_snippet_dir() + "/portico.conf");
    const std::string shipped = "server 127.0.0.1:8080;";
    auto at = text.find(shipped);
    BOOST_TEST_REQUIRE(at != std::string::npos, "portico.conf no longer names " << shipped);
    return text.replace(at, shipped.size(), fmt::format("server 127.0.0.1:{};", portico_port));
}

// nginx (one process, no master: SIGKILL at the end leaves nothing behind) on a free port of
// 127.0.0.1, proxying everything to portico. Its files live in `dir`.
class NginxFront {
public:
    NginxFront(const TempDir& dir, uint16_t portico_port) : dir_(dir), port_(free_tcp_port()) {
        dir.write("portico-upstream.conf", nginx_upstream_snippet(portico_port));
        std::string conf = fmt::format(R"(# written by the integration tests (nginx_front.hpp)
{user}
daemon off;
master_process off;
pid {d}/nginx.pid;
error_log {d}/nginx-error.log info;
events {{ worker_connections 1024; }}
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
                                       fmt::arg("port", port_), fmt::arg("snippets", nginx_snippet_dir()));
        dir.write("nginx.conf", conf);
        process_ = std::make_unique<Process>(Process::Options{
            .argv = {kNginx, "-c", config_path(), "-p", dir.path(), "-e", dir.file("nginx-error.log")},
            .stdout_path = dir.file("nginx.out"),
            .stderr_path = dir.file("nginx.err")});
        BOOST_TEST_REQUIRE(wait_for_tcp(port_, 10s), "nginx did not listen: " << error_log());
    }

    uint16_t port() const { return port_; }
    Endpoint endpoint() const { return Endpoint::tcp(port_); }
    std::string config_path() const { return dir_.file("nginx.conf"); }
    std::string error_log() const { return read_file(dir_.file("nginx-error.log")); }
    std::string url(std::string_view target) const { return fmt::format("http://127.0.0.1:{}{}", port_, target); }

    // One request through nginx with curl from 127.0.0.2 (so that the client is never a trusted
    // proxy itself); the response head and body (a 100 Continue skipped).
    HttpResponse curl(const std::vector<std::string>& extra, std::string_view target) const {
        std::vector<std::string> args = {"-s", "-i", "--max-time", "10", "--interface", "127.0.0.2"};
        args.insert(args.end(), extra.begin(), extra.end());
        args.push_back(url(target));
        auto r = run_curl(args);
        BOOST_TEST_REQUIRE(r.exit_code == 0, "curl: " << r.err);
        HttpResponse out;
        std::string text = r.out;
        while (text.rfind("HTTP/1.1 1", 0) == 0) text.erase(0, text.find("\r\n\r\n") + 4);
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

private:
    const TempDir& dir_;
    uint16_t port_;
    std::unique_ptr<Process> process_;
};

}  // namespace portico::test
