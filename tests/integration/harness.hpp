// The integration-test harness: temp dirs, child processes, readiness, the upstream FastAPI app,
// a portico instance built from YAML, a raw HTTP/1.1 client and curl — all RAII, so every process
// is stopped and every temp dir removed even when an assertion fails half-way through a test.
//
// The portico binary comes from $PORTICO_BIN and the apps folder from $PORTICO_TEST_APPS (CMake
// sets both). No fixed ports and no bare sleeps: everything waits by polling against a deadline.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace portico::test {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using Millis = std::chrono::milliseconds;

// $PORTICO_BIN (required) and $PORTICO_TEST_APPS (default: the source tree's tests/apps).
std::string portico_bin();
std::string apps_dir();

// Polls `done` every `step` until it returns true or `timeout` passes; returns the last answer.
bool eventually(const std::function<bool()>& done, Millis timeout, Millis step = 10ms);

// ---------------------------------------------------------------------------------------------
// A directory made with mkdtemp under /tmp (short, so Unix socket paths fit in sun_path) and
// removed recursively in the destructor. Set PORTICO_TEST_KEEP=1 to keep it for post-mortems.
class TempDir {
public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    const std::string& path() const { return path_; }
    std::string file(std::string_view name) const { return path_ + "/" + std::string(name); }
    void write(std::string_view name, std::string_view content) const;

private:
    std::string path_;
};

std::string read_file(const std::string& path);  // "" when missing

// Binds 127.0.0.1:0, reads the port the kernel chose, closes. (The usual small race with other
// binders is accepted; ports are never fixed.)
uint16_t free_tcp_port();

bool wait_for_tcp(uint16_t port, Millis timeout);
bool wait_for_unix(const std::string& path, Millis timeout);

// ---------------------------------------------------------------------------------------------
// A child process: fork/exec with argv and extra environment, stdout/stderr into files, killed
// (SIGKILL) and reaped on destruction; PR_SET_PDEATHSIG makes it die with the test process too.
// Spawn from the main thread: the death signal follows the thread that forked.
class Process {
public:
    struct Options {
        std::vector<std::string> argv;
        std::vector<std::pair<std::string, std::string>> env;  // added to (or replacing in) ours
        std::string stdout_path;                               // "" = /dev/null
        std::string stderr_path;                               // "" = /dev/null
        std::string cwd;                                       // "" = ours
    };

    explicit Process(Options options);
    ~Process();
    Process(const Process&) = delete;
    Process& operator=(const Process&) = delete;

    pid_t pid() const { return pid_; }
    bool running();                                // reaps if it has exited
    void signal(int signo);                        // no-op once it has exited
    std::optional<int> wait_exit(Millis timeout);  // exit code, 128+signal, or nullopt on timeout
    int kill_and_wait();                           // SIGKILL then reap; the exit status
    std::optional<int> exit_code() const { return exit_code_; }
    std::string stdout_text() const { return read_file(options_.stdout_path); }
    std::string stderr_text() const { return read_file(options_.stderr_path); }

private:
    bool reap(int flags);

    Options options_;
    pid_t pid_ = -1;
    std::optional<int> exit_code_;
};

// VmRSS / VmHWM of a process in KiB (from /proc/PID/status), 0 when unreadable.
uint64_t proc_status_kib(pid_t pid, std::string_view field);
// True for a sanitizer build of the process (it maps libasan/libtsan, or links them statically,
// which leaves the symbol in its maps too): ASan's quarantine and shadow memory make RSS
// meaningless as a bound there.
bool sanitized_build(pid_t pid);

// ---------------------------------------------------------------------------------------------
// An AF_UNIX SOCK_DGRAM socket the test binds and hands to portico as $NOTIFY_SOCKET.
class NotifySocket {
public:
    explicit NotifySocket(std::string path);
    ~NotifySocket();
    NotifySocket(const NotifySocket&) = delete;
    NotifySocket& operator=(const NotifySocket&) = delete;

    const std::string& path() const { return path_; }
    // Consumes datagrams until one holds `line` as one of its newline-separated assignments.
    bool wait_for(std::string_view line, Millis timeout);
    // Every assignment received so far, in order (consumed or not by wait_for).
    const std::vector<std::string>& history() const { return history_; }
    void drain();  // read whatever is queued now, without waiting
    bool seen(std::string_view line);  // drains first

private:
    bool receive_one(Millis timeout, std::vector<std::string>& lines);

    std::string path_;
    int fd_ = -1;
    std::vector<std::string> history_;
};

// ---------------------------------------------------------------------------------------------
// Where to connect: a TCP port on 127.0.0.1 or a Unix socket path.
struct Endpoint {
    uint16_t port = 0;
    std::string unix_path;
    static Endpoint tcp(uint16_t p) { return {p, {}}; }
    static Endpoint unix_socket(std::string path) { return {0, std::move(path)}; }
    std::string describe() const;
};

using Headers = std::vector<std::pair<std::string, std::string>>;

struct HttpResponse {
    std::string version;  // "HTTP/1.1"
    int status = 0;       // 0 = no status line arrived
    std::string reason;
    Headers headers;
    std::string body;
    bool complete = false;  // head and the whole framed body arrived
    std::string error;      // why not complete: "closed", "timeout", "malformed: ..."
    std::string raw_head;   // the bytes of the status line and headers, for messages

    std::optional<std::string> header(std::string_view name) const;  // first, case-insensitive
    size_t header_count(std::string_view name) const;
    bool has_token(std::string_view name, std::string_view token) const;  // e.g. Connection: close
    nlohmann::json json() const;  // throws with the body in the message when it is not JSON
    std::string describe() const;  // status, error and head, for assertion messages
};

// Builds one HTTP/1.1 request; adds Host (unless `headers` has one or host is empty) and
// Content-Length for a non-empty body (unless `headers` frames it already).
std::string make_request(std::string_view method, std::string_view target, const Headers& headers = {},
                         std::string_view body = {}, std::string_view host = "portico.test");

// A blocking-with-deadlines raw client. Leftover bytes stay buffered between read_response()
// calls, so pipelined responses can be read one after the other.
class RawClient {
public:
    explicit RawClient(const Endpoint& endpoint, Millis connect_timeout = 5s);
    ~RawClient();
    RawClient(RawClient&& other) noexcept;
    RawClient& operator=(RawClient&& other) noexcept;
    RawClient(const RawClient&) = delete;

    int fd() const { return fd_; }
    bool connected() const { return fd_ >= 0; }
    // Writes everything (MSG_NOSIGNAL); false when the peer reset or closed, or on timeout.
    bool send(std::string_view bytes, Millis timeout = 10s);
    void shutdown_write();
    void close();

    using BodySink = std::function<void(std::string_view)>;
    // Reads one response (a 1xx counts as one: call again for the final answer). `head_request`
    // means no body follows whatever the headers say. With a sink, the body goes to it instead
    // of HttpResponse::body.
    HttpResponse read_response(Millis timeout = 10s, bool head_request = false, const BodySink& sink = {});
    // Everything until the peer closes (or timeout): the buffered bytes first.
    std::string read_until_close(Millis timeout = 10s, bool* closed = nullptr);
    // True when the peer closes (EOF or reset) within timeout; any bytes before that are
    // discarded into `*discarded` when given.
    bool wait_closed(Millis timeout, std::string* discarded = nullptr);
    // True when the peer closed or reset; does not block.
    bool peer_closed_now();

private:
    // Appends at least one byte to buf_; false on EOF/reset (eof_ set) or timeout.
    bool fill(Clock::time_point deadline);

    int fd_ = -1;
    std::string buf_;
    bool eof_ = false;
    bool timed_out_ = false;
};

// One request on a fresh connection; the response to it.
HttpResponse http_request(const Endpoint& endpoint, std::string_view request, Millis timeout = 10s,
                          bool head_request = false);
HttpResponse http_get(const Endpoint& endpoint, std::string_view target, const Headers& headers = {},
                      Millis timeout = 10s);

struct CurlResult {
    int exit_code = -1;
    std::string out;
    std::string err;
};
// Runs /usr/bin/curl with args (add -s yourself); a hung curl is killed at timeout (exit -1).
CurlResult run_curl(const std::vector<std::string>& args, Millis timeout = 30s);

// SHA-256 as lower-case hex, incrementally (for bodies generated on the fly).
class Sha256 {
public:
    Sha256();
    ~Sha256();
    Sha256(const Sha256&) = delete;
    Sha256& operator=(const Sha256&) = delete;
    void update(std::string_view bytes);
    std::string hex();

private:
    struct State;
    std::unique_ptr<State> state_;
};
std::string sha256_hex(std::string_view bytes);

// A gzip or zlib ("deflate") body decoded with zlib; nullopt unless it is one whole, valid stream.
std::optional<std::string> inflate_body(std::string_view data);
// As much as a stream's first bytes decode to (a response still arriving).
std::string inflate_prefix(std::string_view data);

// The deterministic body the app generates: byte i is i % 251.
std::string pattern_bytes(uint64_t offset, size_t n);
// A body that only `path` gives: the hex SHA-256 of "path:0", "path:1", … one after the other,
// cut at n bytes (cache_app's body=derived, and the fault tests' raw upstream). Two entries of
// one cache can never hold each other's bytes and still pass for right.
std::string derived_body(std::string_view path, size_t n);

// ---------------------------------------------------------------------------------------------
// tests/apps/upstream_app.py (or another module of tests/apps with the same /count and
// /count/reset endpoints, e.g. cache_app) under uvicorn, on a free TCP port or a Unix socket in `dir`.
class UpstreamApp {
public:
    enum class Transport { tcp, unix_socket };
    // `uvicorn_args` are added to uvicorn's command line (e.g. --timeout-keep-alive 1).
    explicit UpstreamApp(const TempDir& dir, Transport transport = Transport::tcp, std::string name = "app",
                         const std::vector<std::string>& uvicorn_args = {}, std::string module = "upstream_app");

    Endpoint endpoint() const;
    std::string address() const;  // as portico's YAML wants it: 127.0.0.1:N or unix:/path
    uint16_t port() const { return port_; }
    Process& process() { return *process_; }

    // Kills the app (SIGKILL: its listening socket is gone at once), and starts it again on the
    // same port or socket path, with fresh counters; start() waits until it answers /count.
    void stop();
    void start();
    bool running() { return process_ && process_->running(); }

    // The app's own counters, asked directly (not through portico).
    nlohmann::json counts();
    int count(const std::string& path);  // requests seen for that path
    int total();                          // all requests except /count*
    void reset_counts();

private:
    const TempDir& dir_;
    std::string name_;
    std::string module_;
    std::vector<std::string> uvicorn_args_;
    int runs_ = 0;
    std::string uds_path_;
    uint16_t port_ = 0;
    std::unique_ptr<Process> process_;
};

// ---------------------------------------------------------------------------------------------
// A misbehaving upstream on a free port, served by a thread of the test: for every connection it
// reads until the end of the request head, writes `reply` (possibly a partial or broken response)
// and closes. For the failures uvicorn cannot be made to produce.
class FakeUpstream {
public:
    explicit FakeUpstream(std::string reply);
    ~FakeUpstream();
    FakeUpstream(const FakeUpstream&) = delete;
    FakeUpstream& operator=(const FakeUpstream&) = delete;

    uint16_t port() const { return port_; }
    std::string address() const;
    int accepted() const;

private:
    void run();

    std::string reply_;
    int listen_fd_ = -1;
    uint16_t port_ = 0;
    struct Shared;
    std::unique_ptr<Shared> shared_;
};

// ---------------------------------------------------------------------------------------------
// Portico's configuration as the tests write it: every value a string, spelled as in YAML.
struct PorticoSettings {
    std::string workers = "1";
    std::string listen;    // "" = 127.0.0.1:<free port>
    std::string upstream;  // required: 127.0.0.1:N or unix:/path
    std::string keepalive = "16";
    std::string connect_timeout = "1s";
    std::string read_timeout = "5s";
    std::string max_connections = "0";
    std::string queue_timeout = "1s";
    std::string max_header_bytes = "16KiB";
    std::string max_body_bytes = "10MiB";
    std::string header_timeout = "5s";
    std::string idle_timeout = "10s";
    std::string client_max_connections;  // limits.max_connections; "" = default
    std::string drain_timeout = "5s";
    std::optional<std::string> trusted_proxies;  // e.g. "[]"; nullopt = default
    std::string log_level = "info";
    bool admin = true;  // admin.listen on a free port (never the fixed default 9901)
    std::string admin_token_file;  // admin.token_file; "" = no token
    // The body of the `cache:` section, raw YAML indented by two spaces (e.g. "  enabled: true\n
    // path: /tmp/…\n"); "" = "  enabled: false\n".
    std::string cache;
    // The body of the `compression:` section, raw YAML indented by two; "" = "  enabled: false\n".
    std::string compression;
    std::string routes;  // the body of a `routes:` section, raw YAML indented by two; "" = none
    std::string pool;    // the body of the `pool:` section, indented by two; "" = "  enabled: false\n"
    std::string extra;  // raw YAML appended at the end

    std::string to_yaml(const std::string& access_log, uint16_t admin_port) const;
};

class Portico {
public:
    // Writes <dir>/portico.yaml, spawns portico with $NOTIFY_SOCKET, waits for READY=1.
    Portico(const TempDir& dir, PorticoSettings settings, Millis ready_timeout = 10s);
    // SIGTERM (SIGKILL after 3 s) when still running; then fails the current test if portico's
    // stderr holds a sanitizer report.
    ~Portico();
    Portico(const Portico&) = delete;
    Portico& operator=(const Portico&) = delete;

    Endpoint endpoint() const;
    Endpoint admin_endpoint() const { return Endpoint::tcp(admin_port_); }
    uint16_t port() const { return port_; }
    std::string url(std::string_view target) const;  // http://127.0.0.1:N/target (TCP only)
    const std::string& config_path() const { return config_path_; }
    const PorticoSettings& settings() const { return settings_; }
    Process& process() { return *process_; }
    NotifySocket& notify() { return *notify_; }
    pid_t pid() const { return process_->pid(); }
    // One request to the admin port on a fresh connection (a JSON body gets its Content-Type).
    HttpResponse admin(std::string_view method, std::string_view path, std::string_view body = {},
                       const Headers& headers = {}) const;
    std::string stderr_text() const { return process_->stderr_text(); }
    std::string stdout_text() const { return process_->stdout_text(); }
    std::string access_log() const { return read_file(access_log_); }

    void write_config(const PorticoSettings& settings);  // the same listen/admin ports are kept
    void write_config_text(std::string_view yaml);
    // SIGHUP; waits for RELOADING=1 then READY=1. Throws on timeout.
    void reload(Millis timeout = 10s);
    // SIGTERM; waits for the exit and returns its code (throws on timeout).
    int stop(Millis timeout = 15s);

private:
    const TempDir& dir_;
    PorticoSettings settings_;
    uint16_t port_ = 0;
    uint16_t admin_port_ = 0;
    std::string unix_listen_;
    std::string config_path_;
    std::string access_log_;
    std::unique_ptr<NotifySocket> notify_;
    std::unique_ptr<Process> process_;
};

// The usual set-up: a temp dir, the app on TCP (or a Unix socket), portico in front of it.
// `tweak` edits the settings before portico starts (upstream already filled in).
struct Stack {
    explicit Stack(const std::function<void(PorticoSettings&)>& tweak = {},
                   UpstreamApp::Transport transport = UpstreamApp::Transport::tcp);
    TempDir dir;
    UpstreamApp app;
    std::unique_ptr<Portico> portico;

    Endpoint endpoint() const { return portico->endpoint(); }
};

}  // namespace portico::test
