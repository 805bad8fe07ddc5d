// The running process: binds listeners, starts the workers, and runs the main loop that handles
// signals (SIGHUP reload, SIGTERM/SIGINT drain, SIGUSR1 log reopen) and systemd notification.
#pragma once

#include <string>

#include "core/config_holder.hpp"

namespace portico::core {

// Runs until drained. `config_path` empty: the embedded default is used and reload re-reads it.
// Returns the process exit code (0 after a clean drain, 2 on a runtime failure such as bind).
int run_server(const std::string& config_path, ConfigPtr initial);

}  // namespace portico::core
