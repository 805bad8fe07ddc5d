// The pool thread and its listeners; see pool_service.hpp.
#include "pool/pool_service.hpp"

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <future>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <fmt/format.h>

#include "core/log.hpp"
#include "pool/builders.hpp"
#include "pool/pooler.hpp"

namespace portico::pool {

namespace {
constexpr uint64_t kDrainCheckMs = 50;
// Apps open their pools all at once at start-up (2,000 connections from a fleet of workers is
// ordinary): a short accept queue makes a Unix-socket connect fail with EAGAIN, which some drivers
// mishandle. The kernel caps this at net.core.somaxconn.
constexpr int kListenBacklog = 4096;

// True when something accepts connections on `path` (another portico or a Postgres): its socket
// must not be taken over. A stale file left by a crash refuses, and is removed.
bool someone_listens(const std::string& path) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    bool live = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    return live;
}
}  // namespace

PoolService::PoolService(std::shared_ptr<const conf::Config> config) : config_(std::move(config)) {}

PoolService::~PoolService() { join(); }

std::string PoolService::bind_unix() {
    const conf::PoolConfig& cfg = config_->pool;
    socket_path_ = fmt::format("{}/.s.PGSQL.{}", cfg.socket_dir, cfg.port);
    if (socket_path_.size() >= sizeof(sockaddr_un{}.sun_path)) {
        return fmt::format("pool socket path {} is longer than a Unix socket path may be ({} bytes)", socket_path_,
                           sizeof(sockaddr_un{}.sun_path) - 1);
    }
    struct stat st{};
    if (::stat(cfg.socket_dir.c_str(), &st) != 0) {
        // The parent of /run/portico exists on every system; make the directory itself, as systemd's
        // RuntimeDirectory= would.
        if (::mkdir(cfg.socket_dir.c_str(), 0755) != 0) {
            return fmt::format("pool.socket_dir {}: {}", cfg.socket_dir, std::strerror(errno));
        }
    } else if (!S_ISDIR(st.st_mode)) {
        return fmt::format("pool.socket_dir {} is not a directory", cfg.socket_dir);
    }
    if (::lstat(socket_path_.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) return fmt::format("{} exists and is not a socket", socket_path_);
        if (someone_listens(socket_path_)) {
            return fmt::format("{} is in use: another pool (portico, PgBouncer or PostgreSQL) listens there", socket_path_);
        }
        ::unlink(socket_path_.c_str());
    }
    // A socket of our own rather than uv_pipe_bind: libuv unlinks the path of a pipe it bound when
    // the handle closes, and the acceptor closes and reopens its handle when descriptors run out.
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return fmt::format("cannot listen on {}: {}", socket_path_, std::strerror(errno));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, socket_path_.c_str(), socket_path_.size() + 1);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        std::string error = fmt::format("cannot listen on {}: {}", socket_path_, std::strerror(errno));
        ::close(fd);
        return error;
    }
    unix_listening_ = true;
    if (::chmod(socket_path_.c_str(), 0660) != 0) {
        std::string error = fmt::format("cannot listen on {}: {}", socket_path_, std::strerror(errno));
        ::close(fd);
        return error;
    }
    std::string error = unix_acceptor_.open(&loop_, fd, /*unix_socket=*/true, kListenBacklog, &PoolService::on_connection, this);
    if (!error.empty()) return fmt::format("cannot listen on {}: {}", socket_path_, error);
    return {};
}

std::string PoolService::bind_tcp() {
    const conf::Address& a = *config_->pool.listen_tcp;
    sockaddr_storage addr{};
    int rc = uv_ip4_addr(a.host.c_str(), a.port, reinterpret_cast<sockaddr_in*>(&addr));
    if (rc != 0) rc = uv_ip6_addr(a.host.c_str(), a.port, reinterpret_cast<sockaddr_in6*>(&addr));
    if (rc != 0) return fmt::format("pool.listen_tcp {}: not an IP address", a.text);
    int fd = ::socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return fmt::format("cannot listen on {} (pool.listen_tcp): {}", a.text, std::strerror(errno));
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);  // as uv_tcp_bind does
    socklen_t addr_len = addr.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), addr_len) != 0) {
        std::string error = fmt::format("cannot listen on {} (pool.listen_tcp): {}", a.text, std::strerror(errno));
        ::close(fd);
        return error;
    }
    sockaddr_storage bound{};
    socklen_t len = sizeof bound;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len);
    std::string error = tcp_acceptor_.open(&loop_, fd, /*unix_socket=*/false, kListenBacklog, &PoolService::on_connection, this);
    if (!error.empty()) return fmt::format("cannot listen on {} (pool.listen_tcp): {}", a.text, error);
    char host[64] = {};
    if (bound.ss_family == AF_INET) uv_ip4_name(reinterpret_cast<sockaddr_in*>(&bound), host, sizeof host);
    else uv_ip6_name(reinterpret_cast<sockaddr_in6*>(&bound), host, sizeof host);
    core::log(core::LogLevel::info, "pool", "listening on {}:{} (pool.listen_tcp)", host,
              ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port));
    return {};
}

std::string PoolService::start() {
    uv_loop_init(&loop_);
    loop_.data = this;
    std::string error = bind_unix();
    if (error.empty() && config_->pool.listen_tcp) error = bind_tcp();
    uv_async_init(&loop_, &async_, &PoolService::on_async);
    async_.data = this;
    uv_timer_init(&loop_, &drain_timer_);
    drain_timer_.data = this;
    if (!error.empty()) {
        stop_listening();
        uv_close(reinterpret_cast<uv_handle_t*>(&async_), nullptr);
        uv_close(reinterpret_cast<uv_handle_t*>(&drain_timer_), nullptr);
        uv_run(&loop_, UV_RUN_DEFAULT);
        uv_loop_close(&loop_);
        return error;
    }
    pooler_ = std::make_unique<Pooler>(&loop_, config_, NotifyHandlers{notify_message_, notify_gap_});
    core::log(core::LogLevel::info, "pool", "listening on {} ({} mode, auth {}, {} database{})", socket_path_,
              config_->pool.mode, config_->pool.auth.type, config_->pool.databases.size(),
              config_->pool.databases.size() == 1 ? "" : "s");
    thread_ = std::thread([this] { run(); });
    return {};
}

void PoolService::run() {
    uv_run(&loop_, UV_RUN_DEFAULT);
    pooler_.reset();
    uv_loop_close(&loop_);
    std::vector<std::function<void()>> orphans;
    {
        std::lock_guard lock(mutex_);
        loop_done_ = true;
        orphans.swap(calls_);
    }
    for (auto& fn : orphans) fn();  // answers nobody waits for any more: run them here, harmlessly
}

void PoolService::join() {
    if (thread_.joinable()) thread_.join();
}

void PoolService::stop_listening() {
    unix_acceptor_.close();
    if (unix_listening_) {
        unix_listening_ = false;
        ::unlink(socket_path_.c_str());
    }
    tcp_acceptor_.close();
}

void PoolService::on_connection(uv_stream_t* server, int status) {
    auto* self = static_cast<PoolService*>(server->data);
    const bool unix_socket = server->type == UV_NAMED_PIPE;
    if (status < 0) {
        // EMFILE/ENFILE: stop accepting for a moment (libuv would retry accept() in a tight loop).
        core::Acceptor& acceptor = unix_socket ? self->unix_acceptor_ : self->tcp_acceptor_;
        if (!acceptor.out_of_descriptors(status)) core::log(core::LogLevel::warn, "pool", "accept: {}", uv_strerror(status));
        return;
    }
    self->accept_one(server, unix_socket);
}

void PoolService::accept_one(uv_stream_t* server, bool unix_socket) {
    ClientConnection* client = pooler_->new_client(unix_socket);
    if (uv_accept(server, client->stream()) != 0) {
        client->close();
        return;
    }
    client->start();
    if (pooler_->client_count() > config_->pool.max_client_conn) {
        client->fail(sqlstate::kTooManyConnections, "no more connections allowed (pool.max_client_conn)");
    }
}

void PoolService::on_async(uv_async_t* async) {
    auto* self = static_cast<PoolService*>(async->data);
    std::vector<std::function<void()>> calls;
    std::shared_ptr<const conf::Config> next;
    bool drain = false;
    std::chrono::milliseconds timeout{0};
    {
        std::lock_guard lock(self->mutex_);
        calls.swap(self->calls_);
        next = std::move(self->pending_config_);
        drain = self->drain_requested_ && !self->draining_;
        timeout = self->drain_timeout_;
    }
    if (next) {
        const conf::PoolConfig& a = self->config_->pool;
        const conf::PoolConfig& b = next->pool;
        if (a.socket_dir != b.socket_dir || a.port != b.port || a.mode != b.mode ||
            (a.listen_tcp ? a.listen_tcp->text : "") != (b.listen_tcp ? b.listen_tcp->text : "")) {
            core::log(core::LogLevel::warn, "reload",
                      "pool.socket_dir, pool.port, pool.listen_tcp or pool.mode changed: needs a restart, still on {}",
                      self->socket_path_);
        }
        std::string error = self->pooler_->configure(next);
        if (!error.empty()) core::log(core::LogLevel::error, "reload", "{}", error);
        self->config_ = std::move(next);
    }
    for (auto& fn : calls) fn();
    if (drain) {
        self->draining_ = true;
        self->stop_listening();
        self->pooler_->begin_drain();
        self->drain_deadline_ns_ = Pooler::now_ns() + static_cast<uint64_t>(timeout.count()) * 1'000'000ull;
        uv_timer_start(&self->drain_timer_, &PoolService::on_drain_check, 0, kDrainCheckMs);
    }
}

void PoolService::on_drain_check(uv_timer_t* timer) {
    auto* self = static_cast<PoolService*>(timer->data);
    if (!self->pooler_->drained() && Pooler::now_ns() < self->drain_deadline_ns_) return;
    // Done, or out of time: whatever is left is closed, and the loop ends once its handles have.
    // From here no other thread may touch async_ (it is being closed).
    {
        std::lock_guard lock(self->mutex_);
        self->loop_done_ = true;
    }
    self->pooler_->close_everything();
    uv_close(reinterpret_cast<uv_handle_t*>(&self->drain_timer_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&self->async_), nullptr);
}

void PoolService::reload(std::shared_ptr<const conf::Config> config) {
    {
        std::lock_guard lock(mutex_);
        if (loop_done_) return;
        pending_config_ = std::move(config);
        uv_async_send(&async_);  // under the lock: the pool thread cannot close async_ meanwhile
    }
}

void PoolService::request_drain(std::chrono::milliseconds timeout) {
    {
        std::lock_guard lock(mutex_);
        if (loop_done_ || !thread_.joinable()) return;
        drain_requested_ = true;
        drain_timeout_ = timeout;
        uv_async_send(&async_);
    }
}

bool PoolService::call(std::function<void()> fn) {
    auto done = std::make_shared<std::promise<void>>();
    std::future<void> answered = done->get_future();
    {
        std::lock_guard lock(mutex_);
        if (loop_done_ || !thread_.joinable()) return false;
        calls_.push_back([fn = std::move(fn), done, this] {
            if (!loop_done_) fn();
            done->set_value();
        });
        uv_async_send(&async_);
    }
    return answered.wait_for(std::chrono::seconds(5)) == std::future_status::ready;
}

nlohmann::json PoolService::stats() {
    auto out = std::make_shared<nlohmann::json>();
    if (!call([this, out] { *out = pooler_->stats_json(); })) return {{"error", "the pool thread did not answer"}};
    return *out;
}

std::string PoolService::metrics() {
    auto out = std::make_shared<std::string>();
    if (!call([this, out] { pooler_->append_metrics(*out); })) return {};
    return *out;
}

std::string PoolService::readiness() {
    auto out = std::make_shared<std::string>();
    if (!call([this, out] { *out = pooler_->readiness(); })) return "the pool thread did not answer";
    return *out;
}

nlohmann::json PoolService::pause(const std::string& database, bool paused) {
    auto out = std::make_shared<std::vector<std::string>>();
    if (!call([this, out, database, paused] { *out = pooler_->pause(database, paused); })) {
        return {{"error", "the pool thread did not answer"}};
    }
    return {{paused ? "paused" : "resumed", *out}};
}

}  // namespace portico::pool
