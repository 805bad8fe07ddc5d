// Structured logging: one line per event on stderr (text or JSON), safe from any thread.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

namespace portico::core {

enum class LogLevel { debug = 0, info = 1, warn = 2, error = 3 };

LogLevel parse_log_level(std::string_view text);  // unknown text -> info
void log_configure(LogLevel level, bool json);
bool log_enabled(LogLevel level);

// Writes one whole line with a single write(2) so lines from several threads never interleave.
void log_line(LogLevel level, std::string_view component, std::string_view message);

template <class... Args>
void log(LogLevel level, std::string_view component, fmt::format_string<Args...> format,
         Args&&... args) {
    if (!log_enabled(level)) return;
    log_line(level, component, fmt::format(format, std::forward<Args>(args)...));
}

// JSON string escaping, shared with the access log.
void append_json_escaped(std::string& out, std::string_view text);

}  // namespace portico::core
