// Readiness of the upstream for GET /ready: a connect attempt every few seconds from the main
// loop, so the admin port answers from a cached state and never waits on the app.
#pragma once

#include <string>
#include <uv.h>

#include "conf/schema.hpp"

namespace portico::proxy {

class UpstreamProbe {
public:
    explicit UpstreamProbe(uv_loop_t* loop);
    ~UpstreamProbe();
    UpstreamProbe(const UpstreamProbe&) = delete;
    UpstreamProbe& operator=(const UpstreamProbe&) = delete;

    // Starts (or retargets, on reload) probing `address` every `interval_ms`.
    void start(const conf::Address& address, uint64_t interval_ms = 2000);
    void close();
    // False with the reason until a connect has succeeded.
    bool ready(std::string& reason) const;

private:
    struct Attempt;
    static void on_timer(uv_timer_t* timer);
    void probe();
    void finished(int status);

    uv_loop_t* loop_;
    uv_timer_t timer_;
    bool closed_ = false;
    bool in_flight_ = false;
    conf::Address address_;
    bool ok_ = false;
    std::string reason_ = "upstream not probed yet";
};

}  // namespace portico::proxy
