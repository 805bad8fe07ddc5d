// systemd's notify protocol: a datagram to $NOTIFY_SOCKET (READY=1, RELOADING=1, STOPPING=1, STATUS=…).
#pragma once

#include <chrono>
#include <string_view>

namespace portico::core {

// How long a send waits for room in a reader's full queue before the message is dropped.
constexpr std::chrono::milliseconds kNotifySendTimeout{200};

// Sends `state` when $NOTIFY_SOCKET is set; returns false when unset or the send failed (also
// when the reader's queue stayed full for kNotifySendTimeout: never blocks longer than that).
bool sd_notify_send(std::string_view state);

}  // namespace portico::core
