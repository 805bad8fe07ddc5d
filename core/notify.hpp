// systemd's notify protocol: a datagram to $NOTIFY_SOCKET (READY=1, RELOADING=1, STOPPING=1, STATUS=…).
#pragma once

#include <string_view>

namespace portico::core {

// Sends `state` when $NOTIFY_SOCKET is set; returns false when unset or the send failed.
bool sd_notify_send(std::string_view state);

}  // namespace portico::core
