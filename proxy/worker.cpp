// A proxy worker's loop; see worker.hpp.
#include "proxy/worker.hpp"

#include <random>

#include "core/log.hpp"

namespace portico::proxy {

namespace {
constexpr uint64_t kFlushIntervalMs = 250;

uint64_t xorshift128plus(uint64_t (&s)[2]) {
    uint64_t x = s[0];
    const uint64_t y = s[1];
    s[0] = y;
    x ^= x << 23;
    s[1] = x ^ y ^ (x >> 17) ^ (y >> 26);
    return s[1] + y;
}
}  // namespace

Worker::Worker(int index, SharedState& shared, int listen_fd, bool unix_listener)
    : index_(index),
      shared_(shared),
      listen_fd_(listen_fd),
      unix_listener_(unix_listener),
      config_view_(shared.config),
      metrics_(shared.metrics.register_thread()),
      access_log_(shared.access_log) {
    std::random_device random;
    id_state_[0] = (static_cast<uint64_t>(random()) << 32) ^ random();
    id_state_[1] = (static_cast<uint64_t>(random()) << 32) ^ random() ^ static_cast<uint64_t>(index + 1);
    if (id_state_[0] == 0 && id_state_[1] == 0) id_state_[1] = 1;
}

Worker::~Worker() { join(); }

std::string Worker::start() {
    uv_loop_init(&loop_);
    loop_.data = this;
    upstream_ = std::make_unique<UpstreamPool>(&loop_, shared_.limiter, metrics_.upstream);
    const core::ConfigPtr& config = config_view_.current();
    route_ids_ = shared_.metrics.intern_routes(config->routes);
    route_base_ = config->routes.data();
    std::string error;
    if (!upstream_->configure(config->upstream, error)) return error;
    upstream_generation_ = config_view_.generation();
    access_log_json_ = config->log.format == "json";
    access_log_enabled_ = config->log.access_log != "off";

    if (std::string error = acceptor_.open(&loop_, listen_fd_, unix_listener_, /*backlog=*/511, &Worker::on_connection, this);
        !error.empty()) {
        return error;
    }

    uv_async_init(&loop_, &control_, &Worker::on_async);
    control_.data = this;
    uv_async_init(&loop_, &wake_, &Worker::on_wake);
    wake_.data = this;
    waker_id_ = shared_.limiter.add_waker([this] { uv_async_send(&wake_); });
    uv_async_init(&loop_, &waiters_.async, &Worker::on_cache_released);
    waiters_.async.data = this;
    {
        std::lock_guard lock(waiters_.mutex);
        waiters_.closed = false;
    }
    uv_timer_init(&loop_, &flush_timer_);
    flush_timer_.data = this;
    uv_timer_start(&flush_timer_, &Worker::on_flush_timer, kFlushIntervalMs, kFlushIntervalMs);
    uv_timer_init(&loop_, &drain_timer_);
    drain_timer_.data = this;
    thread_ = std::thread([this] { run(); });
    return {};
}

void Worker::run() {
    uv_run(&loop_, UV_RUN_DEFAULT);
    access_log_.flush();
    upstream_.reset();
    uv_loop_close(&loop_);
}

void Worker::request_drain() {
    drain_requested_.store(true, std::memory_order_release);
    uv_async_send(&control_);
}

void Worker::join() {
    if (thread_.joinable()) thread_.join();
}

const core::ConfigPtr& Worker::config() {
    const core::ConfigPtr& config = config_view_.current();
    if (config_view_.generation() != upstream_generation_) {
        upstream_generation_ = config_view_.generation();
        std::string error;
        if (!upstream_->configure(config->upstream, error)) {
            core::log(core::LogLevel::error, "proxy", "worker {}: {}", index_, error);
        }
        access_log_json_ = config->log.format == "json";
        access_log_enabled_ = config->log.access_log != "off";
        route_ids_ = shared_.metrics.intern_routes(config->routes);  // off the request path: once per reload
        route_base_ = config->routes.data();
    }
    return config;
}

void Worker::make_request_id(std::string& out) {
    uint64_t a = xorshift128plus(id_state_);
    uint64_t b = xorshift128plus(id_state_);
    out.resize(32);
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 16; ++i) {
        out[i] = digits[(a >> (60 - 4 * i)) & 0xf];
        out[16 + i] = digits[(b >> (60 - 4 * i)) & 0xf];
    }
}

bool Worker::may_log_dry_run(uint64_t now_ns, uint64_t& suppressed) {
    if (dry_run_logged_ns_ != 0 && now_ns - dry_run_logged_ns_ < 1'000'000'000) {
        ++dry_run_suppressed_;
        return false;
    }
    dry_run_logged_ns_ = now_ns;
    suppressed = dry_run_suppressed_;
    dry_run_suppressed_ = 0;
    return true;
}

void Worker::on_connection(uv_stream_t* server, int status) {
    auto* self = static_cast<Worker*>(server->data);
    if (status < 0) {
        // EMFILE/ENFILE: stop accepting for a moment (libuv would retry accept() in a tight loop).
        if (!self->acceptor_.out_of_descriptors(status))
            core::log(core::LogLevel::warn, "proxy", "worker {}: accept failed: {}", self->index_, uv_strerror(status));
        return;
    }
    if (self->draining_) return;
    const core::ConfigPtr& config = self->config();
    auto* connection = new ClientConnection(*self, self->unix_listener_);
    if (!connection->accept(server)) {
        connection->abort();  // freed in its close callback
        return;
    }
    self->connections_.push_back(connection);
    int total = self->shared_.connections.fetch_add(1, std::memory_order_relaxed) + 1;
    if (total > config->limits.max_connections) {
        // Over limits.max_connections: shed this one at once rather than slow everyone down.
        core::log(core::LogLevel::warn, "proxy", "limits.max_connections ({}) reached: closing a new connection",
                  config->limits.max_connections);
        connection->abort();
    }
}

void Worker::connection_closed(ClientConnection* connection) {
    if (connection->hook.linked()) {
        connections_.remove(connection);
        shared_.connections.fetch_sub(1, std::memory_order_relaxed);
    }
    maybe_finish();
}

void Worker::on_async(uv_async_t* async) {
    auto* self = static_cast<Worker*>(async->data);
    if (self->drain_requested_.load(std::memory_order_acquire) && !self->draining_) self->begin_drain();
}

void Worker::on_wake(uv_async_t* async) { static_cast<Worker*>(async->data)->upstream_->wake(); }

// Any thread (the cache writer's, another worker's): queue the ticket and wake our loop. Under the
// mutex, so that a worker closing its async handle cannot race a late release.
void Worker::Waiters::released(uint64_t ticket, bool retry) {
    std::lock_guard lock(mutex);
    if (closed) return;
    released_tickets.emplace_back(ticket, retry);
    uv_async_send(&async);
}

void Worker::on_cache_released(uv_async_t* async) {
    auto* self = static_cast<Worker*>(async->data);
    std::vector<std::pair<uint64_t, bool>> tickets;
    {
        std::lock_guard lock(self->waiters_.mutex);
        tickets.swap(self->waiters_.released_tickets);
    }
    for (auto [ticket, retry] : tickets) {
        auto it = self->cache_waiting_.find(ticket);
        if (it == self->cache_waiting_.end()) continue;  // it gave up or went away meanwhile
        ClientConnection* connection = it->second;
        self->cache_waiting_.erase(it);
        connection->coalesce_released(retry);
    }
}

uint64_t Worker::add_cache_waiter(ClientConnection* connection) {
    uint64_t ticket = ++last_ticket_;
    cache_waiting_.emplace(ticket, connection);
    return ticket;
}

void Worker::remove_cache_waiter(uint64_t ticket) { cache_waiting_.erase(ticket); }

void Worker::start_refresh(BackgroundRefresh::Plan plan) {
    if (draining_) return;  // the lease in `plan` ends here: waiters go upstream themselves
    auto* refresh = new BackgroundRefresh(*this, std::move(plan));
    refreshes_.push_back(refresh);
    refresh->start();
}

// Frees finished refreshes (never from inside their own upstream callbacks: this runs on the flush
// timer and at the end of a drain), or all of them when the worker stops.
void Worker::sweep_refreshes(bool cancel_all) {
    refreshes_.for_each([&](BackgroundRefresh* refresh) {
        if (!cancel_all && !refresh->finished()) return;
        refreshes_.remove(refresh);
        delete refresh;  // cancels what is still running
    });
}

void Worker::on_flush_timer(uv_timer_t* timer) {
    auto* self = static_cast<Worker*>(timer->data);
    self->access_log_.flush();
    self->sweep_refreshes(/*cancel_all=*/false);
    self->heartbeat_.fetch_add(1, std::memory_order_relaxed);
}

void Worker::begin_drain() {
    draining_ = true;
    acceptor_.close();
    connections_.for_each([](ClientConnection* c) { c->drain(); });
    upstream_->close_idle();
    auto deadline = static_cast<uint64_t>(config()->limits.drain_timeout.count());
    uv_timer_start(&drain_timer_, &Worker::on_drain_deadline, deadline, 0);
    maybe_finish();
}

void Worker::on_drain_deadline(uv_timer_t* timer) {
    auto* self = static_cast<Worker*>(timer->data);
    core::log(core::LogLevel::warn, "proxy", "worker {}: drain deadline reached, closing {} connections",
              self->index_, self->connections_.size());
    self->connections_.for_each([](ClientConnection* c) { c->abort(); });
}

void Worker::maybe_finish() {
    if (!draining_ || finished_ || !connections_.empty()) return;
    finished_ = true;
    sweep_refreshes(/*cancel_all=*/true);
    upstream_->close_idle();
    access_log_.flush();
    uv_close(reinterpret_cast<uv_handle_t*>(&control_), nullptr);
    shared_.limiter.remove_waker(waker_id_);
    uv_close(reinterpret_cast<uv_handle_t*>(&wake_), nullptr);
    {
        std::lock_guard lock(waiters_.mutex);
        waiters_.closed = true;
    }
    uv_close(reinterpret_cast<uv_handle_t*>(&waiters_.async), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&flush_timer_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&drain_timer_), nullptr);
    // Busy upstream connections were abandoned with their clients and are closing: the loop
    // ends once their close callbacks ran.
}

}  // namespace portico::proxy
