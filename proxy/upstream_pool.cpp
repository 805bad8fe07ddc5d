// Upstream connection pool; see upstream_pool.hpp.
#include "proxy/upstream_pool.hpp"

#include <cstring>
#include <netdb.h>
#include <sys/un.h>

#include "core/log.hpp"

namespace portico::proxy {

void UpstreamLimiter::release(int max) {
    if (max <= 0) return;
    in_use_.fetch_sub(1, std::memory_order_acq_rel);
    if (waiting_.load(std::memory_order_acquire) > 0) {
        std::lock_guard lock(mutex_);
        for (auto& [id, wake] : wakers_) wake();
    }
}

UpstreamPool::UpstreamPool(uv_loop_t* loop, UpstreamLimiter& limiter, core::metrics::UpstreamCounters& counters)
    : loop_(loop), limiter_(limiter), counters_(counters) {}

UpstreamPool::~UpstreamPool() = default;

bool UpstreamPool::configure(const conf::UpstreamConfig& config, std::string& error) {
    bool address_changed = config.address.text != address_text_;
    if (address_changed) {
        sockaddr_storage resolved{};
        bool is_unix = config.address.kind == conf::Address::Kind::unix_socket;
        if (is_unix) {
            auto* un = reinterpret_cast<sockaddr_un*>(&resolved);
            if (config.address.path.size() >= sizeof un->sun_path) {
                error = "unix socket path too long: " + config.address.path;
                return false;
            }
            un->sun_family = AF_UNIX;
            std::memcpy(un->sun_path, config.address.path.c_str(), config.address.path.size() + 1);
        } else {
            addrinfo hints{};
            hints.ai_socktype = SOCK_STREAM;
            addrinfo* result = nullptr;
            std::string port = std::to_string(config.address.port);
            int rc = getaddrinfo(config.address.host.c_str(), port.c_str(), &hints, &result);
            if (rc != 0 || result == nullptr) {
                error = "cannot resolve upstream " + config.address.text + ": " + gai_strerror(rc);
                return false;
            }
            std::memcpy(&resolved, result->ai_addr, result->ai_addrlen);
            freeaddrinfo(result);
        }
        address_ = resolved;
        unix_socket_ = is_unix;
        address_text_ = config.address.text;
        // Idle connections go to the old address: let them go.
        while (UpstreamConnection* c = idle_.pop_front()) c->close();
    }
    config_ = config;
    return true;
}

void UpstreamPool::acquire(UpstreamListener* listener, bool fresh) {
    if (!limiter_.try_acquire(config_.max_connections)) {
        auto* waiter = new Waiter{this, listener, fresh, {}, {}};
        uv_timer_init(loop_, &waiter->timer);
        waiter->timer.data = waiter;
        uv_timer_start(&waiter->timer, &UpstreamPool::on_queue_timeout,
                       static_cast<uint64_t>(config_.queue_timeout.count()), 0);
        waiters_.push_back(waiter);
        limiter_.waiting_changed(+1);
        return;
    }
    start_connection(listener, fresh);
}

void UpstreamPool::start_connection(UpstreamListener* listener, bool fresh) {
    if (!fresh) {
        // Most recently used first: it is the least likely to have been closed by the app.
        if (UpstreamConnection* c = idle_.pop_back()) {
            c->state_ = UpstreamConnection::State::busy;
            c->holds_slot_ = config_.max_connections > 0;
            c->set_listener(listener);
            busy_.push_back(c);
            counters_.reuses.inc();
            listener->upstream_ready(c);
            return;
        }
    }
    counters_.connects.inc();
    auto* c = new UpstreamConnection(*this, loop_, unix_socket_);
    c->holds_slot_ = config_.max_connections > 0;
    c->set_listener(listener);
    busy_.push_back(c);
    c->connect(reinterpret_cast<const sockaddr*>(&address_), static_cast<uint64_t>(config_.connect_timeout.count()));
}

void UpstreamPool::cancel(UpstreamListener* listener) {
    waiters_.for_each([&](Waiter* w) {
        if (w->listener == listener) remove_waiter(w);
    });
    busy_.for_each([&](UpstreamConnection* c) {
        if (c->listener_ == listener && c->state() == UpstreamConnection::State::connecting) {
            c->set_listener(nullptr);  // it goes idle once connected
        }
    });
}

void UpstreamPool::remove_waiter(Waiter* waiter) {
    waiters_.remove(waiter);
    limiter_.waiting_changed(-1);
    uv_timer_stop(&waiter->timer);
    uv_close(reinterpret_cast<uv_handle_t*>(&waiter->timer),
             [](uv_handle_t* h) { delete static_cast<Waiter*>(h->data); });
}

void UpstreamPool::on_queue_timeout(uv_timer_t* timer) {
    auto* waiter = static_cast<Waiter*>(timer->data);
    UpstreamPool* pool = waiter->pool;
    UpstreamListener* listener = waiter->listener;
    pool->remove_waiter(waiter);
    pool->counters_.queue_timeouts.inc();
    listener->upstream_failed(UpstreamError::queue_timeout, /*reused_connection=*/false);
}

void UpstreamPool::serve_waiters() {
    while (!waiters_.empty()) {
        if (!limiter_.try_acquire(config_.max_connections)) return;
        Waiter* w = waiters_.front();
        UpstreamListener* listener = w->listener;
        bool fresh = w->fresh;
        remove_waiter(w);
        start_connection(listener, fresh);
    }
}

void UpstreamPool::wake() { serve_waiters(); }

void UpstreamPool::release_slot() {
    // Serve this worker's own queue first: the slot never leaves the thread.
    if (!waiters_.empty() && config_.max_connections > 0) {
        Waiter* w = waiters_.front();
        UpstreamListener* listener = w->listener;
        bool fresh = w->fresh;
        remove_waiter(w);
        start_connection(listener, fresh);
        return;
    }
    limiter_.release(config_.max_connections);
}

void UpstreamPool::connected(UpstreamConnection* c) {
    if (c->listener_ != nullptr) {
        c->state_ = UpstreamConnection::State::busy;
        c->listener_->upstream_ready(c);
        return;
    }
    // Its client went away while it was connecting: keep it for the next request.
    finished(c, /*reusable=*/true);
}

void UpstreamPool::failed(UpstreamConnection* c, UpstreamError error) {
    switch (error) {
        case UpstreamError::connect_failed: counters_.connect_failed.inc(); break;
        case UpstreamError::connect_timeout: counters_.connect_timeouts.inc(); break;
        case UpstreamError::queue_timeout: counters_.queue_timeouts.inc(); break;
        case UpstreamError::read_timeout: counters_.read_timeouts.inc(); break;
        case UpstreamError::closed_before_head:
        case UpstreamError::closed_mid_body: counters_.closed.inc(); break;
        case UpstreamError::bad_response: counters_.bad_responses.inc(); break;
        case UpstreamError::write_failed: counters_.write_failed.inc(); break;
        case UpstreamError::out_of_descriptors: counters_.connect_failed.inc(); break;
    }
    busy_.remove(c);
    if (c->holds_slot_) {
        c->holds_slot_ = false;
        release_slot();
    }
    UpstreamListener* listener = c->listener_;
    bool reused = c->reused();
    c->set_listener(nullptr);
    c->close();
    if (listener != nullptr) listener->upstream_failed(error, reused);
}

void UpstreamPool::finished(UpstreamConnection* c, bool reusable) {
    busy_.remove(c);
    c->set_listener(nullptr);
    if (reusable && !closing_ && static_cast<int>(idle_.size()) < config_.keepalive) {
        c->state_ = UpstreamConnection::State::idle;
        idle_.push_back(c);
    } else {
        c->close();
    }
    if (c->holds_slot_) {
        c->holds_slot_ = false;
        release_slot();
    }
}

void UpstreamPool::idle_lost(UpstreamConnection* c) {
    idle_.remove(c);
    c->close();
}

void UpstreamPool::destroyed(UpstreamConnection* c) {
    idle_.remove(c);
    busy_.remove(c);
}

void UpstreamPool::close_idle() {
    closing_ = true;
    while (UpstreamConnection* c = idle_.pop_front()) c->close();
}

}  // namespace portico::proxy
