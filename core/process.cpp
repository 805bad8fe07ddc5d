// Process orchestration; see process.hpp.
#include "core/process.hpp"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <sys/resource.h>
#include <unistd.h>
#include <ctime>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include <uv.h>

#include "admin/routes.hpp"
#include "admin/server.hpp"
#include "conf/loader.hpp"
#include "core/clock.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "core/notify.hpp"
#include "cache/key.hpp"
#include "pool/pool_service.hpp"
#include "proxy/cache_stage.hpp"
#include "proxy/listener.hpp"
#include "proxy/upstream_probe.hpp"
#include "proxy/worker.hpp"

namespace portico::core {

namespace {

class Process final : public admin::AdminBackend {
public:
    Process(std::string config_path, ConfigPtr initial)
        : config_path_(std::move(config_path)), holder_(initial), shared_(holder_, metrics_) {}

    int run();

private:
    static void on_signal(uv_signal_t* handle, int signum);
    static void on_watchdog(uv_timer_t* timer);
    void start_watchdog();
    admin::ReloadResult reload() override;
    void drain();
    // admin::AdminBackend
    metrics::Snapshot snapshot() override;
    admin::PartAnswer cache_stats() override;
    admin::PartAnswer cache_purge(const admin::PurgeTarget& target) override;
    admin::PartAnswer cache_clear() override;
    // The cache key an absolute URL names, as the proxy would build it; nullopt when not absolute.
    std::optional<std::string> purge_key_of(const std::string& url);
    // A cache.notify_channel payload (the JSON of POST /cache/purge): false when it names nothing.
    bool purge_from_notify(const std::string& database, std::string_view payload);
    std::string config_yaml() override { return conf::to_yaml(*holder_.get()); }
    bool ready(std::string& reason) override;
    admin::PartAnswer pool() override;
    admin::PartAnswer pool_pause(const std::optional<std::string>& database) override;
    admin::PartAnswer pool_resume(const std::optional<std::string>& database) override;
    void append_metrics(std::string& out) override {
        if (pool_) out += pool_->metrics();
    }
    bool draining() override { return draining_; }
    void apply_logging(const conf::Config& config);
    void notify_ready();
    void stop_pool() {
        if (!pool_) return;
        pool_->request_drain(std::chrono::milliseconds(0));
        pool_->join();
        pool_.reset();
    }

    std::string config_path_;
    metrics::Registry metrics_;
    ConfigHolder holder_;
    proxy::SharedState shared_;
    std::unique_ptr<proxy::CacheRuntime> cache_;  // outlives the workers (they read it)
    std::unique_ptr<pool::PoolService> pool_;     // the Postgres pool's thread, when configured
    std::unique_ptr<admin::Server> admin_;
    std::unique_ptr<proxy::UpstreamProbe> probe_;
    uv_loop_t loop_{};
    uv_signal_t sighup_{}, sigterm_{}, sigint_{}, sigusr1_{};
    uv_timer_t watchdog_{};
    bool watchdog_active_ = false;
    bool watchdog_pings_ = false;
    std::vector<uint64_t> last_heartbeats_;
    std::vector<uint64_t> last_beat_ns_;
    uint64_t last_requests_ = 0;
    uint64_t last_status_ns_ = 0;
    std::vector<std::unique_ptr<proxy::Worker>> workers_;
    bool draining_ = false;
    uint64_t drain_started_ns_ = 0;
};

void Process::apply_logging(const conf::Config& config) {
    log_configure(parse_log_level(config.log.level), config.log.format == "json");
}

void Process::notify_ready() {
    auto config = holder_.get();
    sd_notify_send(fmt::format("READY=1\nSTATUS=serving {} with {} workers, config generation {}",
                               config->listen.text, workers_.size(), holder_.generation()));
}

int Process::run() {
    ConfigPtr config = holder_.get();
    apply_logging(*config);
    for (const auto& line : conf::inactive_parts(*config)) log(LogLevel::info, "config", "{}", line);

    std::string error = shared_.access_log.open(config->log.access_log);
    if (!error.empty()) {
        log(LogLevel::error, "start", "{}", error);
        return 2;
    }
    cache_ = proxy::open_cache(config->cache);
    shared_.cache = cache_.get();
    metrics_.set_cache_active(cache_ != nullptr);
    if (config->pool_present && config->pool.enabled) {
        pool_ = std::make_unique<pool::PoolService>(config);
        pool_->set_notify_handlers(
            [this](const std::string& database, std::string_view payload) { return purge_from_notify(database, payload); },
            [this](const std::string& database) {
                if (!cache_) return;
                // Invalidations sent while nobody listened are lost: nothing cached can be trusted.
                log(LogLevel::warn, "cache", "listening to database {} again: clearing the cache (invalidations may "
                    "have been missed)", database);
                cache_->writer->clear([](uint64_t n) { log(LogLevel::info, "cache", "cleared {} entries", n); });
            });
        error = pool_->start();
        if (!error.empty()) {
            log(LogLevel::error, "start", "pool: {}", error);
            pool_.reset();
            return 2;
        }
    }
    int workers = std::max(1, config->workers);
    auto sockets = proxy::open_listen_sockets(config->listen, workers, error);
    if (sockets.empty()) {
        log(LogLevel::error, "start", "{}", error);
        stop_pool();
        return 2;
    }
    for (int i = 0; i < workers; ++i) {
        auto worker = std::make_unique<proxy::Worker>(i, shared_, sockets[static_cast<size_t>(i)].fd,
                                                      sockets[static_cast<size_t>(i)].unix_socket);
        error = worker->start();
        if (!error.empty()) {
            log(LogLevel::error, "start", "worker {}: {}", i, error);
            for (auto& w : workers_) w->request_drain();
            workers_.clear();  // joins
            stop_pool();
            return 2;
        }
        workers_.push_back(std::move(worker));
    }

    uv_loop_init(&loop_);
    loop_.data = this;
    for (auto* handle : {&sighup_, &sigterm_, &sigint_, &sigusr1_}) {
        uv_signal_init(&loop_, handle);
        handle->data = this;
    }
    uv_signal_start(&sighup_, &Process::on_signal, SIGHUP);
    uv_signal_start(&sigterm_, &Process::on_signal, SIGTERM);
    uv_signal_start(&sigint_, &Process::on_signal, SIGINT);
    uv_signal_start(&sigusr1_, &Process::on_signal, SIGUSR1);

    metrics_.process().config_generation.set(holder_.generation());
    probe_ = std::make_unique<proxy::UpstreamProbe>(&loop_);
    probe_->start(config->upstream.address);
    admin_ = std::make_unique<admin::Server>(&loop_, static_cast<admin::AdminBackend&>(*this));
    error = admin_->start(config->admin.listen, config->admin.token_file);
    if (!error.empty()) {
        log(LogLevel::error, "start", "admin port: {}", error);
        for (auto& w : workers_) w->request_drain();
        workers_.clear();
        stop_pool();
        admin_.reset();
        probe_.reset();
        for (auto* handle : {&sighup_, &sigterm_, &sigint_, &sigusr1_}) uv_close(reinterpret_cast<uv_handle_t*>(handle), nullptr);
        uv_run(&loop_, UV_RUN_DEFAULT);
        uv_loop_close(&loop_);
        return 2;
    }

    start_watchdog();
    log(LogLevel::info, "start", "portico {} listening on {} with {} workers, upstream {}, admin on {}",
        PORTICO_VERSION, config->listen.text, workers, config->upstream.address.text, config->admin.listen.text);
    notify_ready();
    uv_run(&loop_, UV_RUN_DEFAULT);

    // Draining: the workers finish their in-flight requests (up to limits.drain_timeout). The pool
    // keeps serving meanwhile — the app behind us may need the database to answer those very
    // requests, and may open a new pool connection to do so — and drains afterwards, within what
    // is left of the same drain_timeout: clients between transactions are closed at once, those
    // inside one get the rest of the time to finish it.
    for (auto& w : workers_) w->join();
    workers_.clear();
    if (pool_) {
        uint64_t spent_ns = now_ns() - drain_started_ns_;
        auto left = holder_.get()->limits.drain_timeout - std::chrono::milliseconds(spent_ns / 1'000'000);
        pool_->request_drain(std::max(left, std::chrono::milliseconds(0)));
        pool_->join();
    }
    pool_.reset();
    admin_.reset();
    probe_.reset();
    uv_run(&loop_, UV_RUN_DEFAULT);  // the admin server's and probe's close callbacks
    uv_loop_close(&loop_);
    if (config->listen.kind == conf::Address::Kind::unix_socket) ::unlink(config->listen.path.c_str());
    log(LogLevel::info, "stop", "drained, exiting");
    return 0;
}

void Process::on_signal(uv_signal_t* handle, int signum) {
    auto* self = static_cast<Process*>(handle->data);
    switch (signum) {
        case SIGHUP:
            self->reload();
            break;
        case SIGTERM:
        case SIGINT:
            self->drain();
            break;
        case SIGUSR1: {
            std::string error = self->shared_.access_log.reopen();
            if (!error.empty()) log(LogLevel::error, "log", "{}", error);
            break;
        }
        default:
            break;
    }
}

// SIGHUP and POST /reload share this path.
metrics::Snapshot Process::snapshot() {
    metrics::Snapshot s = metrics_.snapshot();
    if (cache_) {
        // The writer thread's own figures: what the store holds and what it evicted or purged.
        cache::StoreStats stats = cache_->store->stats();
        s.cache.entries = stats.entries;
        s.cache.bytes = stats.bytes;
        s.cache.evictions = stats.evictions;
        s.cache.purged = stats.purged;
        s.cache.stores = stats.puts;  // committed, not merely handed to the writer
    }
    return s;
}

bool Process::ready(std::string& reason) {
    if (!probe_ || !probe_->ready(reason)) return false;
    if (pool_) {
        reason = pool_->readiness();
        if (!reason.empty()) return false;
    }
    return true;
}

admin::PartAnswer Process::pool() {
    if (!pool_) return admin::PartAnswer::not_built("pool");
    return admin::PartAnswer::ok(pool_->stats());
}

admin::PartAnswer Process::pool_pause(const std::optional<std::string>& database) {
    if (!pool_) return admin::PartAnswer::not_built("pool");
    nlohmann::json answer = pool_->pause(database.value_or(""), true);
    if (database && answer.contains("paused") && answer["paused"].empty()) {
        return {404, {{"error", "no database \"" + *database + "\" in pool.databases"}}};
    }
    return admin::PartAnswer::ok(std::move(answer));
}

admin::PartAnswer Process::pool_resume(const std::optional<std::string>& database) {
    if (!pool_) return admin::PartAnswer::not_built("pool");
    nlohmann::json answer = pool_->pause(database.value_or(""), false);
    if (database && answer.contains("resumed") && answer["resumed"].empty()) {
        return {404, {{"error", "no database \"" + *database + "\" in pool.databases"}}};
    }
    return admin::PartAnswer::ok(std::move(answer));
}

admin::PartAnswer Process::cache_stats() {
    if (!cache_) return admin::PartAnswer::not_built("cache");
    cache::StoreStats stats = cache_->store->stats();
    nlohmann::json j;
    j["path"] = cache_->path;
    j["entries"] = stats.entries;
    j["bytes"] = stats.bytes;
    j["max_size"] = stats.map_bytes;
    j["used_bytes"] = stats.used_bytes;
    j["evictions"] = stats.evictions;
    j["purged"] = stats.purged;
    j["store_failures"] = stats.put_failures;
    j["map_full"] = stats.map_full;
    j["write_errors"] = stats.write_errors;  // failed commits other than a full map (a full disk…)
    j["in_flight"] = cache_->coalescer.in_flight();
    return admin::PartAnswer::ok(std::move(j));
}

std::optional<std::string> Process::purge_key_of(const std::string& url) {
    // Keys are built from what the proxy sees (scheme http, Host, target): normalise the URL the
    // same way, so "https://Example.com/a?b=1&a=2" finds "http://example.com/a?a=2&b=1".
    cache::TargetParts parts = cache::split_target(url);
    if (parts.authority.empty()) return std::nullopt;
    std::string origin_form(parts.path);
    if (!parts.query.empty()) origin_form.append("?").append(parts.query);
    ConfigPtr config = holder_.get();
    return cache::primary_key("GET", "http", parts.authority, origin_form, proxy::key_options(config->cache));
}

bool Process::purge_from_notify(const std::string& database, std::string_view payload) {
    std::string error;
    auto target = admin::parse_purge_target(payload, error);
    std::optional<std::string> key;
    if (target && target->kind == admin::PurgeTarget::Kind::key && !(key = purge_key_of(target->value))) {
        error = "key must be an absolute URL such as http://host/path?query";
        target.reset();
    }
    if (!target || !cache_) {
        log(LogLevel::warn, "cache", "invalidation from database {} ignored: {} (payload {:.200})", database,
            cache_ ? error : "no cache", payload);
        return false;
    }
    // On the pool thread: queued to the writer, never waited for.
    auto done = [kind = int(target->kind), value = target->value](uint64_t n) {
        log(LogLevel::debug, "cache", "invalidation ({} {}) purged {} entries", kind, value, n);
    };
    switch (target->kind) {
        case admin::PurgeTarget::Kind::key:
            cache_->writer->purge_key(std::move(*key), done);
            break;
        case admin::PurgeTarget::Kind::prefix:
            cache_->writer->purge_prefix(target->value, done);
            break;
        case admin::PurgeTarget::Kind::tag:
            cache_->writer->purge_tag(target->value, done);
            break;
    }
    return true;
}

admin::PartAnswer Process::cache_purge(const admin::PurgeTarget& target) {
    if (!cache_) return admin::PartAnswer::not_built("cache");
    uint64_t removed = 0;
    switch (target.kind) {
        case admin::PurgeTarget::Kind::key: {
            std::optional<std::string> key = purge_key_of(target.value);
            if (!key) return {400, {{"error", "key must be an absolute URL such as http://host/path?query"}}};
            removed = cache_->writer->purge_key_wait(std::move(*key));
            break;
        }
        case admin::PurgeTarget::Kind::prefix:
            removed = cache_->writer->purge_prefix_wait(target.value);
            break;
        case admin::PurgeTarget::Kind::tag:
            removed = cache_->writer->purge_tag_wait(target.value);
            break;
    }
    return admin::PartAnswer::ok({{"purged", removed}});
}

admin::PartAnswer Process::cache_clear() {
    if (!cache_) return admin::PartAnswer::not_built("cache");
    return admin::PartAnswer::ok({{"purged", cache_->writer->clear_wait()}});
}

admin::ReloadResult Process::reload() {
    admin::ReloadResult result;
    result.generation = holder_.generation();
    if (draining_) {
        result.error = "draining: reload refused";
        return result;
    }
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC, &now);
    sd_notify_send(fmt::format("RELOADING=1\nMONOTONIC_USEC={}",
                               static_cast<uint64_t>(now.tv_sec) * 1000000 + static_cast<uint64_t>(now.tv_nsec) / 1000));
    ConfigPtr next;
    try {
        next = config_path_.empty() ? conf::load_default() : conf::load_file(config_path_);
    } catch (const std::exception& e) {
        log(LogLevel::error, "reload", "reload failed, keeping generation {}: {}", holder_.generation(), e.what());
        metrics_.process().config_reloads_error.inc();
        result.error = e.what();
        notify_ready();
        return result;
    }
    ConfigPtr current = holder_.get();
    if (next->listen.text != current->listen.text) {
        log(LogLevel::warn, "reload", "listen changed ({} -> {}): needs a restart, still listening on {}",
            current->listen.text, next->listen.text, current->listen.text);
    }
    if (next->admin.listen.text != current->admin.listen.text) {
        log(LogLevel::warn, "reload", "admin.listen changed: needs a restart, admin still on {}",
            current->admin.listen.text);
    }
    if (next->workers != current->workers) {
        log(LogLevel::warn, "reload", "workers changed ({} -> {}): needs a restart", current->workers, next->workers);
    }
    if (next->log.access_log != current->log.access_log) {
        std::string error = shared_.access_log.open(next->log.access_log);
        if (!error.empty()) log(LogLevel::error, "reload", "{} (access log unchanged)", error);
    }
    if (admin_) {
        std::string error = admin_->set_token_file(next->admin.token_file);
        if (!error.empty()) log(LogLevel::error, "reload", "admin token unchanged: {}", error);
    }
    if (probe_) probe_->start(next->upstream.address);
    if (next->cache.enabled && !cache_) {
        log(LogLevel::warn, "reload", "cache enabled: needs a restart to open {}", next->cache.path);
    } else if (cache_ && (next->cache.path != cache_->path || next->cache.max_size != cache_->max_size)) {
        log(LogLevel::warn, "reload", "cache.path or cache.max_size changed: needs a restart, still using {}",
            cache_->path);
    }
    if (pool_) {
        pool_->reload(next);
    } else if (next->pool_present && next->pool.enabled) {
        log(LogLevel::warn, "reload", "pool enabled: needs a restart to listen");
    }
    apply_logging(*next);
    uint64_t generation = holder_.set(next);
    metrics_.process().config_reloads_ok.inc();
    metrics_.process().config_generation.set(generation);
    log(LogLevel::info, "reload", "configuration generation {} loaded from {}", generation, next->source);
    notify_ready();
    result.ok = true;
    result.generation = generation;
    return result;
}

void Process::drain() {
    if (draining_) return;
    draining_ = true;
    sd_notify_send("STOPPING=1");
    log(LogLevel::info, "stop", "draining: no new connections, finishing in-flight requests");
    drain_started_ns_ = now_ns();
    for (auto& w : workers_) w->request_drain();  // the pool drains once they are done (run())
    if (admin_) admin_->close();
    if (probe_) probe_->close();
    if (watchdog_active_) uv_close(reinterpret_cast<uv_handle_t*>(&watchdog_), nullptr);
    watchdog_active_ = false;
    // Closing the signal handles lets uv_run return; a second SIGTERM/SIGINT during the drain then
    // takes the default action (exit at once), as operators expect.
    for (auto* handle : {&sighup_, &sigterm_, &sigint_, &sigusr1_}) uv_close(reinterpret_cast<uv_handle_t*>(handle), nullptr);
    std::signal(SIGHUP, SIG_IGN);
}

// Under systemd with WatchdogSec=, $WATCHDOG_USEC asks for WATCHDOG=1 pings. A ping is sent
// only while every worker's loop is turning (its heartbeat moved), so a stuck worker makes
// systemd restart the service instead of being hidden by a healthy main thread. Each tick also
// refreshes STATUS= with live figures.
void Process::start_watchdog() {
    const char* usec_text = std::getenv("WATCHDOG_USEC");
    const char* pid_text = std::getenv("WATCHDOG_PID");
    uint64_t interval_ms = 5000;  // STATUS refresh when there is no watchdog
    bool pings = false;
    if (usec_text != nullptr && (pid_text == nullptr || std::strtol(pid_text, nullptr, 10) == getpid())) {
        uint64_t usec = std::strtoull(usec_text, nullptr, 10);
        if (usec > 0) {
            interval_ms = std::max<uint64_t>(1, usec / 1000 / 2);  // twice per period, as sd_watchdog_enabled advises
            pings = true;
        }
    }
    if (!pings && std::getenv("NOTIFY_SOCKET") == nullptr) return;  // nobody listens
    watchdog_pings_ = pings;
    last_status_ns_ = now_ns();
    last_heartbeats_.assign(workers_.size(), 0);
    last_beat_ns_.assign(workers_.size(), last_status_ns_);
    for (size_t i = 0; i < workers_.size(); ++i) last_heartbeats_[i] = workers_[i]->heartbeat();
    uv_timer_init(&loop_, &watchdog_);
    watchdog_.data = this;
    uv_timer_start(&watchdog_, &Process::on_watchdog, interval_ms, interval_ms);
    watchdog_active_ = true;
}

void Process::on_watchdog(uv_timer_t* timer) {
    auto* self = static_cast<Process*>(timer->data);
    // A worker is alive when its heartbeat (every 250 ms) moved within the last 2 s, whatever
    // the watchdog period is.
    uint64_t now = now_ns();
    bool alive = true;
    for (size_t i = 0; i < self->workers_.size(); ++i) {
        uint64_t beat = self->workers_[i]->heartbeat();
        if (beat != self->last_heartbeats_[i]) {
            self->last_heartbeats_[i] = beat;
            self->last_beat_ns_[i] = now;
        } else if (now - self->last_beat_ns_[i] > 2'000'000'000ull) {
            alive = false;
        }
    }
    metrics::Snapshot snapshot = self->metrics_.snapshot();
    double seconds = static_cast<double>(now - self->last_status_ns_) / 1e9;
    double rate = seconds > 0 ? static_cast<double>(snapshot.requests() - self->last_requests_) / seconds : 0;
    self->last_requests_ = snapshot.requests();
    self->last_status_ns_ = now;
    std::string status = fmt::format("STATUS=serving {:.0f} req/s, {} connections, {} requests, config generation {}",
                                     rate, self->shared_.connections.load(std::memory_order_relaxed),
                                     snapshot.requests(), self->holder_.generation());
    if (self->watchdog_pings_ && alive) {
        sd_notify_send("WATCHDOG=1\n" + status);
    } else {
        if (self->watchdog_pings_) log(LogLevel::error, "watchdog", "a worker loop is not turning: no WATCHDOG=1 ping");
        sd_notify_send(status);
    }
}

}  // namespace

int run_server(const std::string& config_path, ConfigPtr initial) {
    std::signal(SIGPIPE, SIG_IGN);
    // Every proxied request and pooled client is a descriptor (two for a pooled transaction): take
    // the hard limit, as nginx's worker_rlimit_nofile does, rather than the soft 1024 a shell hands
    // down. Under systemd LimitNOFILE= sets both.
    rlimit files{};
    if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
        files.rlim_cur = files.rlim_max;
        setrlimit(RLIMIT_NOFILE, &files);
    }
    Process process(config_path, std::move(initial));
    return process.run();
}

}  // namespace portico::core
