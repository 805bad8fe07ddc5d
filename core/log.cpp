// Structured logging to stderr; the level and format come from the config snapshot at start and reload.
#include "core/log.hpp"

#include <atomic>
#include <ctime>
#include <sys/time.h>
#include <unistd.h>

namespace portico::core {
namespace {

std::atomic<int> g_level{static_cast<int>(LogLevel::info)};
std::atomic<bool> g_json{false};

std::string_view level_name(LogLevel level) {
    switch (level) {
        case LogLevel::debug: return "debug";
        case LogLevel::info: return "info";
        case LogLevel::warn: return "warn";
        case LogLevel::error: return "error";
    }
    return "info";
}

void append_timestamp(std::string& out) {
    timeval tv{};
    gettimeofday(&tv, nullptr);
    tm parts{};
    gmtime_r(&tv.tv_sec, &parts);
    char text[40];
    size_t n = strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &parts);
    out.append(text, n);
    out += fmt::format(".{:03d}Z", static_cast<int>(tv.tv_usec / 1000));
}

void write_all(int fd, std::string_view data) {
    while (!data.empty()) {
        ssize_t n = ::write(fd, data.data(), data.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            return;  // nowhere left to report a failed log write
        }
        data.remove_prefix(static_cast<size_t>(n));
    }
}

}  // namespace

LogLevel parse_log_level(std::string_view text) {
    if (text == "debug") return LogLevel::debug;
    if (text == "warn" || text == "warning") return LogLevel::warn;
    if (text == "error") return LogLevel::error;
    return LogLevel::info;
}

void log_configure(LogLevel level, bool json) {
    g_level.store(static_cast<int>(level), std::memory_order_relaxed);
    g_json.store(json, std::memory_order_relaxed);
}

bool log_enabled(LogLevel level) {
    return static_cast<int>(level) >= g_level.load(std::memory_order_relaxed);
}

void append_json_escaped(std::string& out, std::string_view text) {
    for (char c : text) {
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default:
                if (static_cast<unsigned char>(c) < 0x20) {
                    out += fmt::format("\\u{:04x}", static_cast<int>(c));
                } else {
                    out += c;
                }
        }
    }
}

void log_line(LogLevel level, std::string_view component, std::string_view message) {
    std::string line;
    line.reserve(64 + message.size());
    if (g_json.load(std::memory_order_relaxed)) {
        line += "{\"ts\":\"";
        append_timestamp(line);
        line += "\",\"level\":\"";
        line += level_name(level);
        line += "\",\"component\":\"";
        append_json_escaped(line, component);
        line += "\",\"msg\":\"";
        append_json_escaped(line, message);
        line += "\"}\n";
    } else {
        append_timestamp(line);
        line += ' ';
        line += level_name(level);
        line += " [";
        line += component;
        line += "] ";
        line += message;
        line += '\n';
    }
    write_all(STDERR_FILENO, line);
}

}  // namespace portico::core
