// A one-shot deadline on a libuv timer that is cheap to move. Connections set and clear deadlines
// several times per request (header, idle, upstream read); re-arming a uv timer each time is a
// heap update, so the timer is only re-armed when the deadline moves earlier than the time it is
// armed for, and when it fires early it re-arms itself for the rest (or does nothing if cleared).
#pragma once

#include <cstdint>
#include <uv.h>

namespace portico::core {

class Deadline {
public:
    using FireFn = void (*)(void* owner);

    void init(uv_loop_t* loop, void* owner, FireFn fire) {
        uv_timer_init(loop, &timer_);
        timer_.data = this;
        owner_ = owner;
        fire_ = fire;
    }
    // Fires `ms` from now (loop time); 0 clears.
    void set(uint64_t ms) {
        if (ms == 0) {
            clear();
            return;
        }
        deadline_ = uv_now(timer_.loop) + ms;
        if (armed_for_ == 0 || armed_for_ > deadline_) {
            uv_timer_start(&timer_, &Deadline::on_timer, ms, 0);
            armed_for_ = deadline_;
        }
    }
    void clear() { deadline_ = 0; }
    bool active() const { return deadline_ != 0; }
    // The timer handle's memory belongs to the owner: its close callback receives `owner_data`.
    void close(uv_close_cb on_close, void* owner_data) {
        timer_.data = owner_data;
        uv_close(reinterpret_cast<uv_handle_t*>(&timer_), on_close);
    }

private:
    static void on_timer(uv_timer_t* timer) {
        auto* self = static_cast<Deadline*>(timer->data);
        self->armed_for_ = 0;
        if (self->deadline_ == 0) return;
        uint64_t now = uv_now(timer->loop);
        if (now < self->deadline_) {
            uv_timer_start(timer, &Deadline::on_timer, self->deadline_ - now, 0);
            self->armed_for_ = self->deadline_;
            return;
        }
        self->deadline_ = 0;
        self->fire_(self->owner_);
    }

    uv_timer_t timer_;
    uint64_t deadline_ = 0;   // loop time in ms; 0 = none
    uint64_t armed_for_ = 0;  // the loop time the uv timer will fire at; 0 = not armed
    void* owner_ = nullptr;
    FireFn fire_ = nullptr;
};

}  // namespace portico::core
