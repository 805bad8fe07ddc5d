// Upstream readiness probe; see upstream_probe.hpp.
#include "proxy/upstream_probe.hpp"

#include <cstring>
#include <netdb.h>
#include <sys/un.h>

namespace portico::proxy {

// One connect attempt; owns its handle and frees itself in the close callback, so a probe may
// outlive the UpstreamProbe that started it (it then reports to nobody).
struct UpstreamProbe::Attempt {
    UpstreamProbe* owner;
    union {
        uv_tcp_t tcp;
        uv_pipe_t pipe;
    } handle;
    uv_connect_t request;
    uv_timer_t timeout;
    int closes = 0;

    void finish(int status) {
        if (owner != nullptr) owner->finished(status);
        owner = nullptr;
        if (closes > 0) return;
        closes = 2;
        auto on_close = [](uv_handle_t* h) {
            auto* self = static_cast<Attempt*>(h->data);
            if (--self->closes == 0) delete self;
        };
        uv_close(reinterpret_cast<uv_handle_t*>(&handle), on_close);
        uv_close(reinterpret_cast<uv_handle_t*>(&timeout), on_close);
    }
};

UpstreamProbe::UpstreamProbe(uv_loop_t* loop) : loop_(loop) {
    uv_timer_init(loop_, &timer_);
    timer_.data = this;
}

UpstreamProbe::~UpstreamProbe() { close(); }

void UpstreamProbe::start(const conf::Address& address, uint64_t interval_ms) {
    if (address.text != address_.text) {
        ok_ = false;
        reason_ = "upstream " + address.text + " not probed yet";
    }
    address_ = address;
    uv_timer_start(&timer_, &UpstreamProbe::on_timer, 0, interval_ms);
}

void UpstreamProbe::close() {
    if (closed_) return;
    closed_ = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_), nullptr);
}

bool UpstreamProbe::ready(std::string& reason) const {
    if (!ok_) reason = reason_;
    return ok_;
}

void UpstreamProbe::on_timer(uv_timer_t* timer) { static_cast<UpstreamProbe*>(timer->data)->probe(); }

void UpstreamProbe::probe() {
    if (in_flight_ || closed_) return;
    auto* attempt = new Attempt{};
    attempt->owner = this;
    attempt->handle.tcp.data = attempt;
    attempt->timeout.data = attempt;
    attempt->request.data = attempt;
    uv_timer_init(loop_, &attempt->timeout);
    uv_timer_start(&attempt->timeout, [](uv_timer_t* t) { static_cast<Attempt*>(t->data)->finish(UV_ETIMEDOUT); },
                   1000, 0);
    in_flight_ = true;
    auto on_connect = [](uv_connect_t* req, int status) {
        if (status == UV_ECANCELED) return;
        static_cast<Attempt*>(req->data)->finish(status);
    };
    if (address_.kind == conf::Address::Kind::unix_socket) {
        uv_pipe_init(loop_, &attempt->handle.pipe, 0);
        attempt->handle.pipe.data = attempt;
        uv_pipe_connect(&attempt->request, &attempt->handle.pipe, address_.path.c_str(), on_connect);
        return;
    }
    uv_tcp_init(loop_, &attempt->handle.tcp);
    attempt->handle.tcp.data = attempt;
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* result = nullptr;
    std::string port = std::to_string(address_.port);
    if (getaddrinfo(address_.host.c_str(), port.c_str(), &hints, &result) != 0 || result == nullptr) {
        attempt->finish(UV_EAI_NONAME);
        return;
    }
    int rc = uv_tcp_connect(&attempt->request, &attempt->handle.tcp, result->ai_addr, on_connect);
    freeaddrinfo(result);
    if (rc < 0) attempt->finish(rc);
}

void UpstreamProbe::finished(int status) {
    in_flight_ = false;
    ok_ = status == 0;
    if (!ok_) reason_ = "upstream " + address_.text + ": " + uv_strerror(status);
}

}  // namespace portico::proxy
