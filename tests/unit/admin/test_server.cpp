// The admin Server on a real loop (in a thread, port 0 or a Unix socket in a temp dir), talked to
// over real sockets: /health, token enforcement, keep-alive and pipelining, limits, and
// `portico ctl` against it. Each test ends by asserting the loop closes with no handle left.
#define BOOST_TEST_MODULE admin_server
#include <boost/test/unit_test.hpp>

#include <arpa/inet.h>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <mutex>
#include <netinet/in.h>
#include <sstream>
#include <sys/socket.h>
#include <sys/un.h>
#include <thread>
#include <unistd.h>
#include <uv.h>

#include "admin/ctl.hpp"
#include "admin/server.hpp"
#include "conf/address.hpp"
#include "fake_backend.hpp"

using portico::admin::Server;
using portico::admin::testing::FakeBackend;

namespace {

std::filesystem::path temp_dir() {
    static int n = 0;
    auto dir = std::filesystem::temp_directory_path() /
               ("portico-admin-" + std::to_string(::getpid()) + "-" + std::to_string(++n));
    std::filesystem::create_directories(dir);
    return dir;
}

// A Server running on its own loop thread, as the main thread's loop runs it in portico.
class Running {
public:
    Running(const std::string& listen, const std::string& token_file = "") : server_(&loop_, backend) {
        uv_loop_init(&loop_);
        auto address = portico::conf::parse_address(listen, portico::conf::PortZero::allow);
        BOOST_REQUIRE_MESSAGE(address, address.error);
        start_error = server_.start(*address, token_file);
        uv_async_init(&loop_, &stop_, &Running::on_stop);
        stop_.data = this;
        if (!start_error.empty()) {
            server_.close();
            uv_close(reinterpret_cast<uv_handle_t*>(&stop_), nullptr);
            uv_run(&loop_, UV_RUN_DEFAULT);
            return;
        }
        thread_ = std::thread([this] { uv_run(&loop_, UV_RUN_DEFAULT); });
    }
    ~Running() {
        if (thread_.joinable()) {
            uv_async_send(&stop_);
            thread_.join();
        }
        BOOST_TEST(uv_loop_close(&loop_) == 0);  // every handle closed
    }
    int port() const { return server_.port(); }
    std::string address() const { return "127.0.0.1:" + std::to_string(port()); }
    // Runs `fn` on the loop thread and waits for it.
    template <class Fn>
    void on_loop(Fn fn) {
        std::promise<void> done;
        {
            std::lock_guard lock(mutex_);
            task_ = [&] {
                fn(server_);
                done.set_value();
            };
        }
        uv_async_send(&stop_);
        done.get_future().wait();
    }

    FakeBackend backend;
    std::string start_error;

private:
    static void on_stop(uv_async_t* async) {
        auto* self = static_cast<Running*>(async->data);
        std::function<void()> task;
        {
            std::lock_guard lock(self->mutex_);
            task = std::move(self->task_);
            self->task_ = nullptr;
        }
        if (task) {  // one async handle carries both tasks and the stop
            task();
            return;
        }
        self->server_.close();
        uv_close(reinterpret_cast<uv_handle_t*>(&self->stop_), nullptr);
    }

    uv_loop_t loop_;
    Server server_;
    uv_async_t stop_;
    std::mutex mutex_;
    std::function<void()> task_;
    std::thread thread_;
};

// A raw client: write bytes, read what comes back.
class Client {
public:
    explicit Client(int port) {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(static_cast<uint16_t>(port));
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        BOOST_REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
        timeval tv{5, 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    }
    ~Client() { ::close(fd_); }
    void send(const std::string& data) { BOOST_REQUIRE(::send(fd_, data.data(), data.size(), MSG_NOSIGNAL) == ssize_t(data.size())); }
    // Reads until `count` complete responses (by Content-Length) arrived, or EOF.
    std::string read_responses(int count) {
        std::string got;
        char buf[65536];
        while (complete(got) < count) {
            ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
            if (n <= 0) break;
            got.append(buf, static_cast<size_t>(n));
        }
        return got;
    }
    // Reads one head (through the blank line) and nothing after it.
    std::string read_head() {
        std::string got;
        char ch;
        while (got.size() < 4 || got.compare(got.size() - 4, 4, "\r\n\r\n") != 0) {
            if (::recv(fd_, &ch, 1, 0) != 1) break;
            got.push_back(ch);
        }
        return got;
    }
    // True when the server closed the connection (EOF after whatever was pending).
    bool closed_by_server() {
        char buf[4096];
        for (;;) {
            ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
            if (n == 0) return true;
            if (n < 0) return false;
        }
    }

private:
    static int complete(const std::string& data) {
        int n = 0;
        size_t pos = 0;
        for (;;) {
            size_t end = data.find("\r\n\r\n", pos);
            if (end == std::string::npos) return n;
            size_t cl = data.find("Content-Length: ", pos);
            size_t length = cl == std::string::npos || cl > end ? 0 : std::stoul(data.substr(cl + 16));
            if (data.size() < end + 4 + length) return n;
            pos = end + 4 + length;
            ++n;
        }
    }
    int fd_;
};

std::string get(const std::string& path, const std::string& extra = "") {
    return "GET " + path + " HTTP/1.1\r\nHost: x\r\n" + extra + "\r\n";
}

std::string write_token(const std::filesystem::path& dir, const std::string& token) {
    auto path = dir / "token";
    std::ofstream(path) << token << "\n";
    return path.string();
}

}  // namespace

BOOST_AUTO_TEST_CASE(health_keep_alive_and_pipelining) {
    Running r("127.0.0.1:0");
    BOOST_REQUIRE_MESSAGE(r.start_error.empty(), r.start_error);
    BOOST_REQUIRE(r.port() > 0);
    Client c(r.port());
    c.send(get("/health"));
    std::string first = c.read_responses(1);
    BOOST_TEST(first.rfind("HTTP/1.1 200 OK\r\n", 0) == 0u);
    BOOST_TEST(first.find("Content-Type: application/json\r\n") != std::string::npos);
    BOOST_TEST(first.find("Connection: close") == std::string::npos);
    BOOST_TEST(first.find("\"status\": \"ok\"") != std::string::npos);
    // Same connection: two more requests in one packet, answered in order.
    c.send(get("/ready") + get("/nope"));
    std::string two = c.read_responses(2);
    BOOST_TEST(two.rfind("HTTP/1.1 200 OK\r\n", 0) == 0u);
    BOOST_TEST(two.find("HTTP/1.1 404 Not Found\r\n") != std::string::npos);
    // HEAD: the headers of GET, no body.
    c.send("HEAD /health HTTP/1.1\r\nHost: x\r\n\r\n");
    std::string head = c.read_head();
    BOOST_TEST(head.rfind("HTTP/1.1 200 OK\r\n", 0) == 0u);
    BOOST_TEST(head.find("Content-Length: ") != std::string::npos);  // the length GET would send
    // Connection: close is honoured.
    c.send(get("/health", "Connection: close\r\n"));
    std::string last = c.read_responses(2);
    BOOST_TEST(last.find("HTTP/1.1 200 OK\r\n") != std::string::npos);
    BOOST_TEST(last.find("Connection: close\r\n") != std::string::npos);
    BOOST_TEST(c.closed_by_server());
}

BOOST_AUTO_TEST_CASE(token_is_enforced_over_the_socket) {
    auto dir = temp_dir();
    Running r("127.0.0.1:0", write_token(dir, "s3cret"));
    BOOST_REQUIRE_MESSAGE(r.start_error.empty(), r.start_error);
    Client c(r.port());
    c.send(get("/health"));
    std::string refused = c.read_responses(1);
    BOOST_TEST(refused.rfind("HTTP/1.1 401 Unauthorized\r\n", 0) == 0u);
    BOOST_TEST(refused.find("WWW-Authenticate: Bearer realm=\"portico\"\r\n") != std::string::npos);
    c.send(get("/health", "Authorization: Bearer wrong\r\n"));
    BOOST_TEST(c.read_responses(1).rfind("HTTP/1.1 401", 0) == 0u);
    c.send(get("/health", "Authorization: Bearer s3cret\r\n"));
    BOOST_TEST(c.read_responses(1).rfind("HTTP/1.1 200 OK", 0) == 0u);

    // A new token on reload replaces the old one; a broken file keeps the old one in force.
    std::string error;
    r.on_loop([&](Server& s) { error = s.set_token_file(write_token(dir, "n3w")); });
    BOOST_TEST(error == "");
    c.send(get("/health", "Authorization: Bearer s3cret\r\n"));
    BOOST_TEST(c.read_responses(1).rfind("HTTP/1.1 401", 0) == 0u);
    r.on_loop([&](Server& s) { error = s.set_token_file((dir / "missing").string()); });
    BOOST_TEST(error.find("cannot read token file") != std::string::npos);
    c.send(get("/health", "Authorization: Bearer n3w\r\n"));
    BOOST_TEST(c.read_responses(1).rfind("HTTP/1.1 200 OK", 0) == 0u);
    std::filesystem::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(start_fails_on_a_bad_token_file_or_a_taken_port) {
    auto dir = temp_dir();
    {
        std::ofstream(dir / "empty") << "\n";
        Running r("127.0.0.1:0", (dir / "empty").string());
        BOOST_TEST(r.start_error.find("is empty") != std::string::npos);
    }
    {
        Running first("127.0.0.1:0");
        BOOST_REQUIRE(first.start_error.empty());
        Running second(first.address());
        BOOST_TEST(second.start_error.find("cannot bind") != std::string::npos);
    }
    std::filesystem::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(limits_and_bad_requests) {
    Running r("127.0.0.1:0");
    BOOST_REQUIRE(r.start_error.empty());
    {
        Client c(r.port());
        c.send("POST /reload HTTP/1.1\r\nHost: x\r\nContent-Length: 70000\r\n\r\n");
        std::string answer = c.read_responses(1);
        BOOST_TEST(answer.rfind("HTTP/1.1 413 ", 0) == 0u);
        BOOST_TEST(answer.find("Connection: close\r\n") != std::string::npos);
        BOOST_TEST(c.closed_by_server());
    }
    {
        // Chunked past the limit: refused once the body grows beyond it.
        Client c(r.port());
        std::string chunk(40000, 'x');
        char size[16];
        std::snprintf(size, sizeof size, "%zx", chunk.size());
        c.send("POST /reload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + std::string(size) + "\r\n" +
               chunk + "\r\n" + size + "\r\n" + chunk + "\r\n0\r\n\r\n");
        BOOST_TEST(c.read_responses(1).rfind("HTTP/1.1 413 ", 0) == 0u);
    }
    {
        Client c(r.port());
        c.send(get("/health", "X-Big: " + std::string(20000, 'b') + "\r\n"));
        BOOST_TEST(c.read_responses(1).rfind("HTTP/1.1 431 ", 0) == 0u);
        BOOST_TEST(c.closed_by_server());
    }
    {
        Client c(r.port());
        c.send("NOT-HTTP\r\n\r\n");
        std::string answer = c.read_responses(1);
        BOOST_TEST(answer.rfind("HTTP/1.1 400 ", 0) == 0u);
        BOOST_TEST(c.closed_by_server());
    }
    {
        Client c(r.port());
        c.send("POST /cache/purge HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\n{\"key\": }");
        std::string answer = c.read_responses(1);
        BOOST_TEST(answer.rfind("HTTP/1.1 400 ", 0) == 0u);  // bad JSON is checked before "not built"
        BOOST_TEST(answer.find("invalid JSON") != std::string::npos);
        c.send("POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
        std::string wrong = c.read_responses(1);
        BOOST_TEST(wrong.rfind("HTTP/1.1 405 ", 0) == 0u);
        BOOST_TEST(wrong.find("Allow: GET, HEAD\r\n") != std::string::npos);
        // Expect: 100-continue gets its interim answer, then the real one.
        c.send("POST /reload HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n");
        BOOST_TEST(c.read_head() == "HTTP/1.1 100 Continue\r\n\r\n");
        c.send("{}");
        std::string answer2 = c.read_responses(1);
        BOOST_TEST(answer2.rfind("HTTP/1.1 200 OK\r\n", 0) == 0u);
        BOOST_TEST(answer2.find("\"generation\": 2") != std::string::npos);
    }
}

BOOST_AUTO_TEST_CASE(unix_socket_listener) {
    auto dir = temp_dir();
    std::string path = (dir / "admin.sock").string();
    {
        Running r("unix:" + path);
        BOOST_REQUIRE_MESSAGE(r.start_error.empty(), r.start_error);
        BOOST_TEST(r.port() == 0);
        int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
        BOOST_REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
        std::string req = get("/health", "Connection: close\r\n");
        BOOST_REQUIRE(::send(fd, req.data(), req.size(), 0) == ssize_t(req.size()));
        std::string got;
        char buf[4096];
        for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) got.append(buf, static_cast<size_t>(n));
        ::close(fd);
        BOOST_TEST(got.rfind("HTTP/1.1 200 OK\r\n", 0) == 0u);

        std::ostringstream out, err;
        BOOST_TEST(portico::admin::run_ctl({"--admin", "unix:" + path, "health"}, "", out, err) == 0);
        BOOST_TEST(out.str() == "ok\n");
    }
    BOOST_TEST(!std::filesystem::exists(path));  // removed on close
    std::filesystem::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(ctl_against_a_running_server) {
    auto dir = temp_dir();
    std::string token_file = write_token(dir, "s3cret");
    Running r("127.0.0.1:0", token_file);
    BOOST_REQUIRE(r.start_error.empty());
    auto ctl = [&](std::vector<std::string> args, std::string& out, std::string& err) {
        std::ostringstream o, e;
        int code = portico::admin::run_ctl(args, "", o, e);
        out = o.str();
        err = e.str();
        return code;
    };
    std::string out, err;
    BOOST_TEST(ctl({"--admin", r.address(), "--token-file", token_file, "health"}, out, err) == 0);
    BOOST_TEST(out == "ok\n");
    BOOST_TEST(ctl({"--admin", r.address(), "--token-file", token_file, "stats"}, out, err) == 0);
    BOOST_TEST(out.find("/api/*") != std::string::npos);
    BOOST_TEST(ctl({"--admin", r.address(), "--token-file", token_file, "stats", "--json"}, out, err) == 0);
    BOOST_TEST(nlohmann::json::parse(out)["routes"][0]["requests"] == 2);
    BOOST_TEST(ctl({"--admin", r.address(), "--token-file", token_file, "metrics"}, out, err) == 0);
    BOOST_TEST(out.find("# TYPE portico_http_requests_total counter\n") != std::string::npos);
    BOOST_TEST(ctl({"--admin", r.address(), "--token-file", token_file, "reload"}, out, err) == 0);
    BOOST_TEST(out == "reloaded: configuration generation 2\n");

    r.backend.reload_error = "/etc/portico.yaml:1:1: bad";  // read on the loop thread after this write
    BOOST_TEST(ctl({"--admin", r.address(), "--token-file", token_file, "reload"}, out, err) == 1);
    BOOST_TEST(err == "portico ctl: reload failed, configuration generation 2 keeps serving: /etc/portico.yaml:1:1: bad\n");

    BOOST_TEST(ctl({"--admin", r.address(), "--token-file", token_file, "cache", "stats"}, out, err) == 2);
    BOOST_TEST(err == "portico ctl: the cache is not built yet (501)\n");

    BOOST_TEST(ctl({"--admin", r.address(), "health"}, out, err) == 2);
    BOOST_TEST(err == "portico ctl: the admin port at " + r.address() + " needs a token (401): pass --token-file FILE\n");
    std::string wrong = write_token(dir, "nope");
    BOOST_TEST(ctl({"--admin", r.address(), "--token-file", wrong, "health"}, out, err) == 2);
    BOOST_TEST(err.find("refused the token (401)") != std::string::npos);

    // Nothing listens on a port we just had and closed.
    int free_port = 0;
    {
        Running gone("127.0.0.1:0");
        free_port = gone.port();
    }
    BOOST_TEST(ctl({"--admin", "127.0.0.1:" + std::to_string(free_port), "health"}, out, err) == 2);
    BOOST_TEST(err == "portico ctl: cannot reach the admin port at 127.0.0.1:" + std::to_string(free_port) +
                          ": Connection refused\n");
    BOOST_TEST(ctl({"--admin", "nowhere", "health"}, out, err) == 1);
    BOOST_TEST(ctl({"bogus"}, out, err) == 1);
    std::filesystem::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(close_drops_idle_connections) {
    Running r("127.0.0.1:0");
    BOOST_REQUIRE(r.start_error.empty());
    Client a(r.port());
    a.send(get("/health"));
    a.read_responses(1);
    size_t open = 0;
    r.on_loop([&](Server& s) { open = s.connections(); });
    BOOST_TEST(open == 1u);
    r.on_loop([&](Server& s) { s.close(); });
    BOOST_TEST(a.closed_by_server());
}
