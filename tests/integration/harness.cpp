// The integration-test harness (see harness.hpp): POSIX processes, sockets and polling deadlines.
#include "harness.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <boost/test/unit_test.hpp>
#include <fmt/core.h>

extern char** environ;

namespace portico::test {

namespace {

[[noreturn]] void fail(const std::string& what) { throw std::runtime_error(what); }

std::string errno_text(const char* what) { return fmt::format("{}: {}", what, std::strerror(errno)); }

int remaining_ms(Clock::time_point deadline) {
    auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now()).count();
    return left < 0 ? 0 : static_cast<int>(std::min<long long>(left, 1 << 30));
}

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

int connect_endpoint(const Endpoint& endpoint) {
    int fd = -1;
    if (endpoint.unix_path.empty()) {
        fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(endpoint.port);
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
            ::close(fd);
            return -1;
        }
        int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    } else {
        fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        if (endpoint.unix_path.size() >= sizeof addr.sun_path) fail("unix socket path too long: " + endpoint.unix_path);
        std::strcpy(addr.sun_path, endpoint.unix_path.c_str());
        if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
            ::close(fd);
            return -1;
        }
    }
    return fd;
}

}  // namespace

std::string portico_bin() {
    const char* bin = std::getenv("PORTICO_BIN");
    if (!bin || !*bin) fail("PORTICO_BIN is not set (ctest sets it; or export PORTICO_BIN=build/portico)");
    if (::access(bin, X_OK) != 0) fail(fmt::format("PORTICO_BIN={} is not an executable", bin));
    return bin;
}

std::string apps_dir() {
    const char* dir = std::getenv("PORTICO_TEST_APPS");
    if (dir && *dir) return dir;
#ifdef PORTICO_TEST_APPS_DEFAULT
    return PORTICO_TEST_APPS_DEFAULT;
#else
    fail("PORTICO_TEST_APPS is not set");
#endif
}

bool eventually(const std::function<bool()>& done, Millis timeout, Millis step) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
        if (done()) return true;
        if (Clock::now() >= deadline) return false;
        std::this_thread::sleep_for(step);
    }
}

// ---------------------------------------------------------------------------------------------

TempDir::TempDir() {
    char templ[] = "/tmp/portico-it-XXXXXX";
    if (!::mkdtemp(templ)) fail(errno_text("mkdtemp"));
    path_ = templ;
}

TempDir::~TempDir() {
    const char* keep = std::getenv("PORTICO_TEST_KEEP");
    if (keep && *keep == '1') return;
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
}

void TempDir::write(std::string_view name, std::string_view content) const {
    // Write then rename, so a reader (portico on SIGHUP) never sees half a file.
    const std::string target = file(name);
    const std::string tmp = target + ".tmp";
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        out.write(content.data(), static_cast<std::streamsize>(content.size()));
        if (!out) fail("cannot write " + tmp);
    }
    if (::rename(tmp.c_str(), target.c_str()) != 0) fail(errno_text("rename"));
}

std::string read_file(const std::string& path) {
    if (path.empty()) return {};
    std::ifstream in(path, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

uint16_t free_tcp_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(fd);
        fail(errno_text("bind port 0"));
    }
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    ::close(fd);
    return ntohs(addr.sin_port);
}

bool wait_for_tcp(uint16_t port, Millis timeout) {
    return eventually(
        [&] {
            int fd = connect_endpoint(Endpoint::tcp(port));
            if (fd < 0) return false;
            ::close(fd);
            return true;
        },
        timeout, 20ms);
}

bool wait_for_unix(const std::string& path, Millis timeout) {
    return eventually(
        [&] {
            int fd = connect_endpoint(Endpoint::unix_socket(path));
            if (fd < 0) return false;
            ::close(fd);
            return true;
        },
        timeout, 20ms);
}

// ---------------------------------------------------------------------------------------------

Process::Process(Options options) : options_(std::move(options)) {
    if (options_.argv.empty()) fail("Process: empty argv");
    // Everything the child needs is prepared before fork: only async-signal-safe calls after it.
    std::vector<std::string> env_strings;
    for (char** e = environ; *e; ++e) {
        std::string_view entry(*e);
        auto eq = entry.find('=');
        std::string_view name = entry.substr(0, eq);
        bool replaced = std::any_of(options_.env.begin(), options_.env.end(),
                                    [&](const auto& kv) { return kv.first == name; });
        if (!replaced) env_strings.emplace_back(entry);
    }
    for (const auto& [name, value] : options_.env) env_strings.push_back(name + "=" + value);
    std::vector<char*> envp;
    for (auto& s : env_strings) envp.push_back(s.data());
    envp.push_back(nullptr);
    std::vector<char*> argv;
    for (auto& s : options_.argv) argv.push_back(s.data());
    argv.push_back(nullptr);
    const char* out_path = options_.stdout_path.empty() ? "/dev/null" : options_.stdout_path.c_str();
    const char* err_path = options_.stderr_path.empty() ? "/dev/null" : options_.stderr_path.c_str();
    const char* cwd = options_.cwd.empty() ? nullptr : options_.cwd.c_str();
    const pid_t parent = ::getpid();

    pid_ = ::fork();
    if (pid_ < 0) fail(errno_text("fork"));
    if (pid_ > 0) ::setpgid(pid_, pid_);  // also in the parent: no window where the group is missing
    if (pid_ == 0) {
        ::setpgid(0, 0);  // its own group, so the destructor can also reap grandchildren
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent) ::_exit(127);  // the parent died before prctl took effect
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        ::signal(SIGPIPE, SIG_DFL);
        int in = ::open("/dev/null", O_RDONLY);
        int out = ::open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int err = ::open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (in < 0 || out < 0 || err < 0) ::_exit(126);
        ::dup2(in, 0);
        ::dup2(out, 1);
        ::dup2(err, 2);
        if (cwd && ::chdir(cwd) != 0) ::_exit(126);
        ::execve(argv[0], argv.data(), envp.data());
        const char msg[] = "exec failed\n";
        [[maybe_unused]] auto n = ::write(2, msg, sizeof msg - 1);
        ::_exit(127);
    }
}

Process::~Process() {
    if (pid_ > 0) kill_and_wait();
}

bool Process::reap(int flags) {
    if (exit_code_) return true;
    int status = 0;
    pid_t r;
    do {
        r = ::waitpid(pid_, &status, flags);
    } while (r < 0 && errno == EINTR);
    if (r == pid_) {
        exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        return true;
    }
    if (r < 0 && errno == ECHILD) {  // somebody else reaped it: treat as gone
        exit_code_ = -1;
        return true;
    }
    return false;
}

bool Process::running() { return !reap(WNOHANG); }

void Process::signal(int signo) {
    if (running()) ::kill(pid_, signo);
}

std::optional<int> Process::wait_exit(Millis timeout) {
    eventually([&] { return reap(WNOHANG); }, timeout, 5ms);
    return exit_code_;
}

int Process::kill_and_wait() {
    if (!exit_code_) {
        ::kill(pid_, SIGKILL);
        reap(0);
    }
    ::kill(-pid_, SIGKILL);  // whatever it left behind in its group (none, for portico)
    return *exit_code_;
}

bool sanitized_build(pid_t pid) {
    std::string maps = read_file(fmt::format("/proc/{}/maps", pid));
    return maps.find("libasan") != std::string::npos || maps.find("libtsan") != std::string::npos;
}

uint64_t proc_status_kib(pid_t pid, std::string_view field) {
    std::ifstream in(fmt::format("/proc/{}/status", pid));
    std::string line;
    while (std::getline(in, line)) {
        if (line.size() > field.size() && line.compare(0, field.size(), field) == 0 && line[field.size()] == ':') {
            return std::strtoull(line.c_str() + field.size() + 1, nullptr, 10);
        }
    }
    return 0;
}

// ---------------------------------------------------------------------------------------------

NotifySocket::NotifySocket(std::string path) : path_(std::move(path)) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path_.size() >= sizeof addr.sun_path) fail("notify socket path too long: " + path_);
    std::strcpy(addr.sun_path, path_.c_str());
    ::unlink(path_.c_str());
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) fail(errno_text("bind notify socket"));
}

NotifySocket::~NotifySocket() {
    ::close(fd_);
    ::unlink(path_.c_str());
}

bool NotifySocket::receive_one(Millis timeout, std::vector<std::string>& lines) {
    pollfd p{fd_, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(timeout.count()));
    if (r <= 0) return false;
    char buf[4096];
    ssize_t n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
    if (n <= 0) return false;
    std::string_view all(buf, static_cast<size_t>(n));
    while (!all.empty()) {
        auto nl = all.find('\n');
        std::string_view one = all.substr(0, nl);
        if (!one.empty()) lines.emplace_back(one);
        if (nl == std::string_view::npos) break;
        all.remove_prefix(nl + 1);
    }
    history_.insert(history_.end(), lines.begin(), lines.end());
    return true;
}

bool NotifySocket::wait_for(std::string_view line, Millis timeout) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
        std::vector<std::string> lines;
        if (receive_one(Millis(remaining_ms(deadline)), lines)) {
            if (std::find(lines.begin(), lines.end(), line) != lines.end()) return true;
        } else if (Clock::now() >= deadline) {
            return false;
        }
    }
}

void NotifySocket::drain() {
    std::vector<std::string> lines;
    while (receive_one(0ms, lines)) lines.clear();
}

bool NotifySocket::seen(std::string_view line) {
    drain();
    return std::find(history_.begin(), history_.end(), line) != history_.end();
}

// ---------------------------------------------------------------------------------------------

std::string Endpoint::describe() const {
    return unix_path.empty() ? fmt::format("127.0.0.1:{}", port) : "unix:" + unix_path;
}

std::optional<std::string> HttpResponse::header(std::string_view name) const {
    for (const auto& [n, v] : headers)
        if (iequals(n, name)) return v;
    return std::nullopt;
}

size_t HttpResponse::header_count(std::string_view name) const {
    return static_cast<size_t>(
        std::count_if(headers.begin(), headers.end(), [&](const auto& kv) { return iequals(kv.first, name); }));
}

bool HttpResponse::has_token(std::string_view name, std::string_view token) const {
    for (const auto& [n, v] : headers) {
        if (!iequals(n, name)) continue;
        std::string_view rest(v);
        while (!rest.empty()) {
            auto comma = rest.find(',');
            if (iequals(trim(rest.substr(0, comma)), token)) return true;
            if (comma == std::string_view::npos) break;
            rest.remove_prefix(comma + 1);
        }
    }
    return false;
}

nlohmann::json HttpResponse::json() const {
    try {
        return nlohmann::json::parse(body);
    } catch (const std::exception& e) {
        fail(fmt::format("response body is not JSON ({}): status {} body {:.300}", e.what(), status, body));
    }
}

std::string HttpResponse::describe() const {
    return fmt::format("status {}{}{}\n{}", status, complete ? "" : " incomplete: ", error, raw_head);
}

std::string make_request(std::string_view method, std::string_view target, const Headers& headers,
                         std::string_view body, std::string_view host) {
    std::string out = fmt::format("{} {} HTTP/1.1\r\n", method, target);
    bool has_host = false, framed = false;
    for (const auto& [n, v] : headers) {
        if (iequals(n, "host")) has_host = true;
        if (iequals(n, "content-length") || iequals(n, "transfer-encoding")) framed = true;
    }
    if (!has_host && !host.empty()) out += fmt::format("Host: {}\r\n", host);
    for (const auto& [n, v] : headers) out += fmt::format("{}: {}\r\n", n, v);
    if (!body.empty() && !framed) out += fmt::format("Content-Length: {}\r\n", body.size());
    out += "\r\n";
    out += body;
    return out;
}

// ---------------------------------------------------------------------------------------------

RawClient::RawClient(const Endpoint& endpoint, Millis connect_timeout) {
    // Retried only for the listen backlog being momentarily full (EAGAIN on Unix sockets).
    eventually(
        [&] {
            fd_ = connect_endpoint(endpoint);
            return fd_ >= 0 || (errno != EAGAIN && errno != EINTR);
        },
        connect_timeout, 10ms);
    if (fd_ < 0) fail(fmt::format("cannot connect to {}: {}", endpoint.describe(), std::strerror(errno)));
    ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) | O_NONBLOCK);
}

RawClient::RawClient(RawClient&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), buf_(std::move(other.buf_)), eof_(other.eof_), timed_out_(other.timed_out_) {}

RawClient& RawClient::operator=(RawClient&& other) noexcept {
    if (this != &other) {
        close();
        fd_ = std::exchange(other.fd_, -1);
        buf_ = std::move(other.buf_);
        eof_ = other.eof_;
        timed_out_ = other.timed_out_;
    }
    return *this;
}

RawClient::~RawClient() { close(); }

void RawClient::close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
}

void RawClient::shutdown_write() {
    if (fd_ >= 0) ::shutdown(fd_, SHUT_WR);
}

bool RawClient::send(std::string_view bytes, Millis timeout) {
    const auto deadline = Clock::now() + timeout;
    while (!bytes.empty()) {
        if (fd_ < 0) return false;
        ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n > 0) {
            bytes.remove_prefix(static_cast<size_t>(n));
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            pollfd p{fd_, POLLOUT, 0};
            int left = remaining_ms(deadline);
            if (left == 0) return false;
            ::poll(&p, 1, left);
            continue;
        }
        return false;  // EPIPE, ECONNRESET…
    }
    return true;
}

bool RawClient::fill(Clock::time_point deadline) {
    if (eof_ || fd_ < 0) return false;
    char tmp[64 * 1024];
    for (;;) {
        ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
        if (n > 0) {
            buf_.append(tmp, static_cast<size_t>(n));
            return true;
        }
        if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
            eof_ = true;  // EOF or reset: either way the peer is gone
            return false;
        }
        int left = remaining_ms(deadline);
        if (left == 0) {
            timed_out_ = true;
            return false;
        }
        pollfd p{fd_, POLLIN, 0};
        ::poll(&p, 1, left);
    }
}

bool RawClient::peer_closed_now() {
    if (eof_) return true;
    fill(Clock::now());
    return eof_;
}

std::string RawClient::read_until_close(Millis timeout, bool* closed) {
    const auto deadline = Clock::now() + timeout;
    while (fill(deadline)) {
    }
    if (closed) *closed = eof_;
    return std::exchange(buf_, {});
}

bool RawClient::wait_closed(Millis timeout, std::string* discarded) {
    std::string rest = read_until_close(timeout);
    if (discarded) *discarded = std::move(rest);
    return eof_;
}

HttpResponse RawClient::read_response(Millis timeout, bool head_request, const BodySink& sink) {
    const auto deadline = Clock::now() + timeout;
    HttpResponse r;
    auto fail_with = [&](std::string why) {
        r.error = eof_ ? "closed" : (timed_out_ ? "timeout" : why);
        if (why.rfind("malformed", 0) == 0) r.error = why;
        timed_out_ = false;
        return r;
    };
    auto body_out = [&](std::string_view piece) {
        if (sink)
            sink(piece);
        else
            r.body.append(piece);
    };

    // Head.
    size_t head_end;
    while ((head_end = buf_.find("\r\n\r\n")) == std::string::npos) {
        if (!fill(deadline)) return fail_with("head");
    }
    r.raw_head = buf_.substr(0, head_end + 2);
    buf_.erase(0, head_end + 4);
    std::string_view head(r.raw_head);
    auto line_end = head.find("\r\n");
    std::string_view status_line = head.substr(0, line_end);
    head.remove_prefix(line_end + 2);
    auto sp1 = status_line.find(' ');
    if (sp1 == std::string_view::npos) return fail_with("malformed: status line " + std::string(status_line));
    r.version = std::string(status_line.substr(0, sp1));
    auto rest = status_line.substr(sp1 + 1);
    auto sp2 = rest.find(' ');
    r.status = std::atoi(std::string(rest.substr(0, sp2)).c_str());
    if (sp2 != std::string_view::npos) r.reason = std::string(rest.substr(sp2 + 1));
    while (!head.empty()) {
        auto eol = head.find("\r\n");
        std::string_view line = head.substr(0, eol);
        head.remove_prefix(eol == std::string_view::npos ? head.size() : eol + 2);
        auto colon = line.find(':');
        if (colon == std::string_view::npos) return fail_with("malformed: header line " + std::string(line));
        r.headers.emplace_back(std::string(line.substr(0, colon)), std::string(trim(line.substr(colon + 1))));
    }

    // Body (RFC 9112 §6.3).
    if (head_request || (r.status >= 100 && r.status < 200) || r.status == 204 || r.status == 304) {
        r.complete = true;
        return r;
    }
    auto te = r.header("transfer-encoding");
    auto cl = r.header("content-length");
    if (te) {
        if (!r.has_token("transfer-encoding", "chunked")) return fail_with("malformed: transfer-encoding " + *te);
        for (;;) {
            size_t eol;
            while ((eol = buf_.find("\r\n")) == std::string::npos)
                if (!fill(deadline)) return fail_with("chunk size");
            std::string size_line = buf_.substr(0, eol);
            buf_.erase(0, eol + 2);
            char* end = nullptr;
            unsigned long long size = std::strtoull(size_line.c_str(), &end, 16);
            if (end == size_line.c_str()) return fail_with("malformed: chunk size " + size_line);
            if (size == 0) {
                // Trailers, then the empty line.
                for (;;) {
                    while ((eol = buf_.find("\r\n")) == std::string::npos)
                        if (!fill(deadline)) return fail_with("trailer");
                    bool last = eol == 0;
                    buf_.erase(0, eol + 2);
                    if (last) break;
                }
                r.complete = true;
                return r;
            }
            while (size > 0) {
                if (buf_.empty() && !fill(deadline)) return fail_with("chunk data");
                size_t take = static_cast<size_t>(std::min<unsigned long long>(size, buf_.size()));
                body_out(std::string_view(buf_).substr(0, take));
                buf_.erase(0, take);
                size -= take;
            }
            while (buf_.size() < 2)
                if (!fill(deadline)) return fail_with("chunk end");
            if (buf_.compare(0, 2, "\r\n") != 0) return fail_with("malformed: no CRLF after chunk data");
            buf_.erase(0, 2);
        }
    }
    if (cl) {
        unsigned long long left = std::strtoull(cl->c_str(), nullptr, 10);
        while (left > 0) {
            if (buf_.empty() && !fill(deadline)) return fail_with("body");
            size_t take = static_cast<size_t>(std::min<unsigned long long>(left, buf_.size()));
            body_out(std::string_view(buf_).substr(0, take));
            buf_.erase(0, take);
            left -= take;
        }
        r.complete = true;
        return r;
    }
    // Close-delimited.
    for (;;) {
        if (!buf_.empty()) {
            body_out(buf_);
            buf_.clear();
        }
        if (!fill(deadline)) break;
    }
    if (!eof_) return fail_with("body");
    r.complete = true;
    return r;
}

HttpResponse http_request(const Endpoint& endpoint, std::string_view request, Millis timeout, bool head_request) {
    RawClient c(endpoint);
    if (!c.send(request, timeout)) {
        // The server may have answered and closed early (e.g. 413): still read what it said.
    }
    return c.read_response(timeout, head_request);
}

HttpResponse http_get(const Endpoint& endpoint, std::string_view target, const Headers& headers, Millis timeout) {
    return http_request(endpoint, make_request("GET", target, headers), timeout);
}

CurlResult run_curl(const std::vector<std::string>& args, Millis timeout) {
    TempDir dir;
    Process::Options o;
    o.argv = {"/usr/bin/curl"};
    o.argv.insert(o.argv.end(), args.begin(), args.end());
    o.stdout_path = dir.file("out");
    o.stderr_path = dir.file("err");
    CurlResult r;
    {
        Process p(o);
        auto code = p.wait_exit(timeout);
        r.exit_code = code ? *code : -1;
        if (!code) p.kill_and_wait();
        r.out = p.stdout_text();
        r.err = p.stderr_text();
    }
    return r;
}

// ---------------------------------------------------------------------------------------------

struct Sha256::State {
    EVP_MD_CTX* ctx = nullptr;
};

Sha256::Sha256() : state_(std::make_unique<State>()) {
    state_->ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(state_->ctx, EVP_sha256(), nullptr);
}

Sha256::~Sha256() { EVP_MD_CTX_free(state_->ctx); }

void Sha256::update(std::string_view bytes) { EVP_DigestUpdate(state_->ctx, bytes.data(), bytes.size()); }

std::string Sha256::hex() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(state_->ctx, md, &len);
    std::string out;
    for (unsigned i = 0; i < len; ++i) out += fmt::format("{:02x}", md[i]);
    return out;
}

std::string sha256_hex(std::string_view bytes) {
    Sha256 h;
    h.update(bytes);
    return h.hex();
}

std::optional<std::string> inflate_body(std::string_view data) {
    z_stream z{};
    if (inflateInit2(&z, 15 + 32) != Z_OK) return std::nullopt;  // +32: gzip or zlib, by the header
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    z.avail_in = static_cast<uInt>(data.size());
    std::string out;
    int rc = Z_OK;
    while (rc == Z_OK) {
        char buf[65536];
        z.next_out = reinterpret_cast<Bytef*>(buf);
        z.avail_out = sizeof buf;
        rc = inflate(&z, Z_NO_FLUSH);
        out.append(buf, sizeof buf - z.avail_out);
        if (rc == Z_BUF_ERROR && z.avail_in == 0 && z.avail_out > 0) break;  // input ended mid-stream
    }
    bool whole = rc == Z_STREAM_END && z.avail_in == 0;  // nothing after the trailer either
    inflateEnd(&z);
    if (!whole) return std::nullopt;
    return out;
}

std::string inflate_prefix(std::string_view data) {
    z_stream z{};
    if (inflateInit2(&z, 15 + 32) != Z_OK) return {};
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    z.avail_in = static_cast<uInt>(data.size());
    std::string out;
    int rc = Z_OK;
    while (rc == Z_OK && z.avail_in > 0) {
        char buf[65536];
        z.next_out = reinterpret_cast<Bytef*>(buf);
        z.avail_out = sizeof buf;
        rc = inflate(&z, Z_SYNC_FLUSH);
        out.append(buf, sizeof buf - z.avail_out);
    }
    inflateEnd(&z);
    return out;
}

std::string derived_body(std::string_view path, size_t n) {
    std::string out;
    out.reserve(n + 64);
    for (size_t i = 0; out.size() < n; ++i) out += sha256_hex(fmt::format("{}:{}", path, i));
    out.resize(n);
    return out;
}

std::string pattern_bytes(uint64_t offset, size_t n) {
    std::string out(n, '\0');
    unsigned v = static_cast<unsigned>(offset % 251);
    for (size_t i = 0; i < n; ++i) {
        out[i] = static_cast<char>(v);
        if (++v == 251) v = 0;
    }
    return out;
}

// ---------------------------------------------------------------------------------------------

UpstreamApp::UpstreamApp(const TempDir& dir, Transport transport, std::string name,
                         const std::vector<std::string>& uvicorn_args, std::string module)
    : dir_(dir), name_(std::move(name)), module_(std::move(module)), uvicorn_args_(uvicorn_args) {
    if (transport == Transport::unix_socket)
        uds_path_ = dir.file(name_ + ".sock");
    else
        port_ = free_tcp_port();
    start();
}

void UpstreamApp::stop() {
    if (process_) process_->kill_and_wait();
    process_.reset();
    if (!uds_path_.empty()) ::unlink(uds_path_.c_str());
}

void UpstreamApp::start() {
    stop();
    Process::Options o;
    o.argv = {"/usr/bin/python3", "-m", "uvicorn", module_ + ":app", "--app-dir", apps_dir(),
              // The app must see exactly what portico sent, not what uvicorn makes of it.
              "--no-proxy-headers", "--log-level", "warning"};
    if (!uds_path_.empty())
        o.argv.insert(o.argv.end(), {"--uds", uds_path_});
    else
        o.argv.insert(o.argv.end(), {"--host", "127.0.0.1", "--port", std::to_string(port_)});
    o.argv.insert(o.argv.end(), uvicorn_args_.begin(), uvicorn_args_.end());
    o.env = {{"PYTHONDONTWRITEBYTECODE", "1"}};
    // A restarted app writes to new files (app.2.stderr …): the first run's output stays for post-mortems.
    std::string stem = ++runs_ == 1 ? name_ : fmt::format("{}.{}", name_, runs_);
    o.stdout_path = dir_.file(stem + ".stdout");
    o.stderr_path = dir_.file(stem + ".stderr");
    process_ = std::make_unique<Process>(o);
    bool up = eventually(
        [&] {
            if (!process_->running()) return true;
            try {
                return http_get(endpoint(), "/count", {}, 2s).status == 200;
            } catch (const std::exception&) {
                return false;
            }
        },
        20s, 50ms);
    if (!process_->running() || !up)
        fail(fmt::format("upstream app did not come up on {}; stderr:\n{}", endpoint().describe(),
                         process_->stderr_text()));
}

Endpoint UpstreamApp::endpoint() const {
    return uds_path_.empty() ? Endpoint::tcp(port_) : Endpoint::unix_socket(uds_path_);
}

std::string UpstreamApp::address() const {
    return uds_path_.empty() ? fmt::format("127.0.0.1:{}", port_) : "unix:" + uds_path_;
}

nlohmann::json UpstreamApp::counts() {
    auto r = http_get(endpoint(), "/count");
    if (r.status != 200) fail(fmt::format("app /count answered {} ({})", r.status, r.error));
    return r.json();
}

int UpstreamApp::count(const std::string& path) {
    auto j = counts();
    return j["paths"].contains(path) ? j["paths"][path].get<int>() : 0;
}

int UpstreamApp::total() { return counts()["total"].get<int>(); }

void UpstreamApp::reset_counts() {
    auto r = http_get(endpoint(), "/count/reset");
    if (r.status != 200) fail(fmt::format("app /count/reset answered {}", r.status));
}

// ---------------------------------------------------------------------------------------------

struct FakeUpstream::Shared {
    std::atomic<bool> stop{false};
    std::atomic<int> accepted{0};
    std::thread thread;
};

FakeUpstream::FakeUpstream(std::string reply) : reply_(std::move(reply)), shared_(std::make_unique<Shared>()) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(listen_fd_, 64) != 0)
        fail(errno_text("fake upstream bind/listen"));
    socklen_t len = sizeof addr;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    shared_->thread = std::thread([this] { run(); });
}

FakeUpstream::~FakeUpstream() {
    shared_->stop = true;
    shared_->thread.join();
    ::close(listen_fd_);
}

std::string FakeUpstream::address() const { return fmt::format("127.0.0.1:{}", port_); }

int FakeUpstream::accepted() const { return shared_->accepted; }

void FakeUpstream::run() {
    while (!shared_->stop) {
        pollfd p{listen_fd_, POLLIN, 0};
        if (::poll(&p, 1, 50) <= 0) continue;
        int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) continue;
        ++shared_->accepted;
        std::string got;
        char buf[4096];
        const auto deadline = Clock::now() + 5s;
        while (got.find("\r\n\r\n") == std::string::npos && !shared_->stop) {
            pollfd q{fd, POLLIN, 0};
            if (::poll(&q, 1, std::min(50, remaining_ms(deadline))) <= 0) {
                if (Clock::now() >= deadline) break;
                continue;
            }
            ssize_t n = ::recv(fd, buf, sizeof buf, 0);
            if (n <= 0) break;
            got.append(buf, static_cast<size_t>(n));
        }
        if (!reply_.empty()) {
            [[maybe_unused]] ssize_t n = ::send(fd, reply_.data(), reply_.size(), MSG_NOSIGNAL);
        }
        ::close(fd);
    }
}

// ---------------------------------------------------------------------------------------------

std::string PorticoSettings::to_yaml(const std::string& access_log, uint16_t admin_port) const {
    std::string y;
    y += fmt::format("# written by the integration-test harness\n");
    y += fmt::format("workers: {}\n", workers);
    y += fmt::format("listen: {}\n", listen);
    if (trusted_proxies) y += fmt::format("trusted_proxies: {}\n", *trusted_proxies);
    y += "upstream:\n";
    y += fmt::format("  address: {}\n", upstream);
    y += fmt::format("  keepalive: {}\n", keepalive);
    y += fmt::format("  connect_timeout: {}\n", connect_timeout);
    y += fmt::format("  read_timeout: {}\n", read_timeout);
    y += fmt::format("  max_connections: {}\n", max_connections);
    y += fmt::format("  queue_timeout: {}\n", queue_timeout);
    y += "limits:\n";
    y += fmt::format("  max_header_bytes: {}\n", max_header_bytes);
    y += fmt::format("  max_body_bytes: {}\n", max_body_bytes);
    y += fmt::format("  header_timeout: {}\n", header_timeout);
    y += fmt::format("  idle_timeout: {}\n", idle_timeout);
    if (!client_max_connections.empty()) y += fmt::format("  max_connections: {}\n", client_max_connections);
    y += fmt::format("  drain_timeout: {}\n", drain_timeout);
    y += "cache:\n";
    y += cache.empty() ? std::string("  enabled: false\n") : cache;
    y += "compression:\n";
    y += compression.empty() ? std::string("  enabled: false\n") : compression;
    y += "pool:\n";
    y += pool.empty() ? std::string("  enabled: false\n") : pool;
    if (admin) {
        y += fmt::format("admin:\n  listen: 127.0.0.1:{}\n", admin_port);
        if (!admin_token_file.empty()) y += fmt::format("  token_file: {}\n", admin_token_file);
    }
    y += "log:\n";
    y += fmt::format("  level: {}\n", log_level);
    y += "  format: text\n";
    y += fmt::format("  access_log: {}\n", access_log);
    y += "  slow_request: 1s\n";
    if (!routes.empty()) y += "routes:\n" + routes;
    y += extra;
    return y;
}

Portico::Portico(const TempDir& dir, PorticoSettings settings, Millis ready_timeout)
    : dir_(dir), settings_(std::move(settings)) {
    if (settings_.upstream.empty()) fail("PorticoSettings.upstream is empty");
    if (settings_.listen.empty()) {
        port_ = free_tcp_port();
        settings_.listen = fmt::format("127.0.0.1:{}", port_);
    } else if (settings_.listen.rfind("unix:", 0) == 0) {
        unix_listen_ = settings_.listen.substr(5);
    } else {
        port_ = static_cast<uint16_t>(std::stoi(settings_.listen.substr(settings_.listen.rfind(':') + 1)));
    }
    admin_port_ = free_tcp_port();
    config_path_ = dir_.file("portico.yaml");
    access_log_ = dir_.file("access.log");
    write_config(settings_);

    notify_ = std::make_unique<NotifySocket>(dir_.file("notify.sock"));
    Process::Options o;
    o.argv = {portico_bin(), "--config", config_path_};
    o.env = {{"NOTIFY_SOCKET", notify_->path()}};
    o.stdout_path = dir_.file("portico.stdout");
    o.stderr_path = dir_.file("portico.stderr");
    process_ = std::make_unique<Process>(o);

    const auto deadline = Clock::now() + ready_timeout;
    bool ready = false;
    while (!ready && Clock::now() < deadline && process_->running())
        ready = notify_->wait_for("READY=1", std::min<Millis>(100ms, Millis(remaining_ms(deadline))));
    if (!ready) {
        bool alive = process_->running();
        bool listening = unix_listen_.empty() ? wait_for_tcp(port_, 0ms) : wait_for_unix(unix_listen_, 0ms);
        std::string why = alive ? fmt::format("no READY=1 within {} ms (listening: {}; notify history: {})",
                                              ready_timeout.count(), listening, fmt::format("{}", notify_->history().size()))
                                : fmt::format("exited with {}", process_->exit_code().value_or(-1));
        fail(fmt::format("portico did not start: {}\nconfig:\n{}\nstderr:\n{}", why, read_file(config_path_),
                         process_->stderr_text()));
    }
}

Portico::~Portico() {
    if (!process_) return;
    // A graceful stop first, so a sanitizer build gets to run its exit-time checks (leaks).
    if (process_->running()) {
        process_->signal(SIGTERM);
        if (!process_->wait_exit(3s)) process_->kill_and_wait();
    }
    // Sanitizer reports fail the test that was running, even if every assertion passed.
    std::string err = process_->stderr_text();
    for (const char* marker : {"ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                               "WARNING: ThreadSanitizer"}) {
        auto at = err.find(marker);
        if (at != std::string::npos) {
            BOOST_ERROR("portico's stderr has a sanitizer report:\n" << err.substr(at > 200 ? at - 200 : 0, 4000));
            break;
        }
    }
}

Endpoint Portico::endpoint() const {
    return unix_listen_.empty() ? Endpoint::tcp(port_) : Endpoint::unix_socket(unix_listen_);
}

HttpResponse Portico::admin(std::string_view method, std::string_view path, std::string_view body,
                            const Headers& headers) const {
    Headers all = headers;
    if (!body.empty()) all.emplace_back("Content-Type", "application/json");
    return http_request(admin_endpoint(), make_request(method, path, all, body, "127.0.0.1"));
}

std::string Portico::url(std::string_view target) const { return fmt::format("http://127.0.0.1:{}{}", port_, target); }

void Portico::write_config(const PorticoSettings& settings) {
    PorticoSettings s = settings;
    s.listen = settings_.listen;  // the listener is fixed for the life of the process
    write_config_text(s.to_yaml(access_log_, admin_port_));
}

void Portico::write_config_text(std::string_view yaml) {
    std::string name = config_path_.substr(config_path_.rfind('/') + 1);
    dir_.write(name, yaml);
}

void Portico::reload(Millis timeout) {
    notify_->drain();
    process_->signal(SIGHUP);
    if (!notify_->wait_for("RELOADING=1", timeout))
        fail("no RELOADING=1 after SIGHUP; stderr:\n" + process_->stderr_text());
    if (!notify_->wait_for("READY=1", timeout)) fail("no READY=1 after reload; stderr:\n" + process_->stderr_text());
}

int Portico::stop(Millis timeout) {
    process_->signal(SIGTERM);
    auto code = process_->wait_exit(timeout);
    if (!code) {
        process_->kill_and_wait();
        fail(fmt::format("portico did not exit within {} ms of SIGTERM; stderr:\n{}", timeout.count(),
                         process_->stderr_text()));
    }
    return *code;
}

Stack::Stack(const std::function<void(PorticoSettings&)>& tweak, UpstreamApp::Transport transport)
    : app(dir, transport) {
    PorticoSettings s;
    s.upstream = app.address();
    if (tweak) tweak(s);
    portico = std::make_unique<Portico>(dir, s);
}

}  // namespace portico::test
