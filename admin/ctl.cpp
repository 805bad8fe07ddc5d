// `portico ctl`; see ctl.hpp. A command line tool, so plain blocking sockets are the simple choice.
#include "admin/ctl.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <filesystem>
#include <iostream>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <fmt/format.h>

#include "admin/auth.hpp"
#include "admin/ctl_json.hpp"
#include "conf/address.hpp"
#include "conf/loader.hpp"
#include "conf/units.hpp"
#include "core/command_line.hpp"
#include "proxy/http_parser.hpp"

#ifndef PORTICO_VERSION
#define PORTICO_VERSION "unknown"
#endif

namespace portico::admin {

using nlohmann::json;
using std::chrono::milliseconds;

// ---- arguments ------------------------------------------------------------------------------

std::string ctl_usage() {
    return "usage: portico ctl [--admin HOST:PORT|unix:PATH] [--token-file F] [--json] [--timeout 30s] COMMAND\n"
           "  stats [--watch 1s]        figures: requests, per-route latency, upstream, rate limits\n"
           "  health | ready            liveness / readiness (exit 2 when not ready)\n"
           "  metrics                   Prometheus text\n"
           "  config                    the effective configuration, secrets redacted\n"
           "  cache stats | cache clear\n"
           "  cache purge --key URL | --prefix PATH | --tag TAG\n"
           "  pool | pool pause [DB] | pool resume [DB]\n"
           "  reload                    same as SIGHUP; prints the new generation or the error\n"
           "The admin address is --admin, else $PORTICO_ADMIN, else admin.listen of the configuration\n"
           "(portico --config FILE ctl …, or /etc/portico/portico.yaml), else 127.0.0.1:9901; the token\n"
           "file likewise (--token-file, $PORTICO_ADMIN_TOKEN_FILE, admin.token_file).\n";
}

std::string parse_ctl_args(const std::vector<std::string>& args, CtlOptions& o) {
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& arg = args[i];
        // "--name value" or "--name=value".
        auto take = [&](std::string_view name, std::string& value, std::string& error) -> bool {
            if (arg == name) {
                if (i + 1 >= args.size()) {
                    error = fmt::format("{} needs a value", name);
                    return true;
                }
                value = args[++i];
                return true;
            }
            if (arg.size() > name.size() && arg.compare(0, name.size(), name) == 0 && arg[name.size()] == '=') {
                value = arg.substr(name.size() + 1);
                return true;
            }
            return false;
        };
        auto duration = [](std::string_view name, const std::string& text, milliseconds& out) -> std::string {
            auto parsed = conf::parse_duration(text);
            if (!parsed) return fmt::format("{}: {}", name, parsed.error);
            if (parsed->count() <= 0) return fmt::format("{} must be more than 0", name);
            out = *parsed;
            return "";
        };
        std::string value, error;
        if (arg == "--json") {
            o.json = true;
        } else if (arg == "-h" || arg == "--help" || (arg == "help" && o.words.empty())) {
            o.help = true;
        } else if (take("--admin", value, error)) {
            if (!error.empty()) return error;
            o.admin = value;
        } else if (take("--token-file", value, error)) {
            if (!error.empty()) return error;
            o.token_file = value;
        } else if (take("--watch", value, error)) {
            if (!error.empty()) return error;
            milliseconds d{};
            if (std::string e = duration("--watch", value, d); !e.empty()) return e;
            o.watch = d;
        } else if (take("--timeout", value, error)) {
            if (!error.empty()) return error;
            if (std::string e = duration("--timeout", value, o.timeout); !e.empty()) return e;
        } else if (take("--key", value, error) || take("--prefix", value, error) || take("--tag", value, error)) {
            if (!error.empty()) return error;
            if (!o.purge_kind.empty()) return "give only one of --key, --prefix, --tag";
            std::string name = arg.substr(2);  // "key", "prefix=/x"…
            o.purge_kind = name.substr(0, name.find('='));
            o.purge_value = value;
        } else if (!arg.empty() && arg[0] == '-') {
            return fmt::format("unknown option '{}'", arg);
        } else {
            o.words.push_back(arg);
        }
    }
    return "";
}

std::string plan_call(const CtlOptions& o, CtlCall& call) {
    const auto& w = o.words;
    if (w.empty()) return "no command given";
    auto extra = [&](size_t allowed) -> std::string {
        if (w.size() > allowed) return fmt::format("unexpected '{}' after '{}'", w[allowed], w[allowed - 1]);
        return "";
    };
    std::string error;
    const std::string& c = w[0];
    if (c == "stats" || c == "health" || c == "ready" || c == "metrics" || c == "config") {
        call = {"GET", "/" + c, ""};
        error = extra(1);
    } else if (c == "reload") {
        call = {"POST", "/reload", ""};
        error = extra(1);
    } else if (c == "cache") {
        std::string sub = w.size() > 1 ? w[1] : "";
        if (sub == "stats") {
            call = {"GET", "/cache", ""};
        } else if (sub == "clear") {
            call = {"POST", "/cache/clear", ""};
        } else if (sub == "purge") {
            if (o.purge_kind.empty()) return "cache purge needs --key URL, --prefix PATH or --tag TAG";
            if (o.purge_value.empty()) return fmt::format("--{} needs a non-empty value", o.purge_kind);
            call = {"POST", "/cache/purge", json{{o.purge_kind, o.purge_value}}.dump()};
        } else {
            return sub.empty() ? "cache needs a subcommand: stats, purge or clear"
                               : fmt::format("unknown cache subcommand '{}' (stats, purge, clear)", sub);
        }
        error = extra(2);
    } else if (c == "pool") {
        std::string sub = w.size() > 1 ? w[1] : "";
        if (sub.empty()) {
            call = {"GET", "/pool", ""};
        } else if (sub == "pause" || sub == "resume") {
            call = {"POST", "/pool/" + sub, w.size() > 2 ? json{{"database", w[2]}}.dump() : ""};
            error = extra(3);
        } else {
            return fmt::format("unknown pool subcommand '{}' (pause, resume)", sub);
        }
    } else {
        return fmt::format("unknown command '{}'", c);
    }
    if (!error.empty()) return error;
    if (!o.purge_kind.empty() && call.path != "/cache/purge") {
        return fmt::format("--{} belongs to 'cache purge'", o.purge_kind);
    }
    if (o.watch && call.path != "/stats") return "--watch goes with 'stats' only";
    return "";
}

// ---- the client -------------------------------------------------------------------------------

namespace {

class Fd {
public:
    explicit Fd(int fd = -1) : fd_(fd) {}
    ~Fd() {
        if (fd_ >= 0) ::close(fd_);
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    int get() const { return fd_; }
    void reset(int fd) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = fd;
    }

private:
    int fd_;
};

std::string describe_timeout(milliseconds timeout) { return "no answer within " + conf::format_duration(timeout); }

// Connects `fd` to `addr` within `timeout`; returns "" or the reason.
std::string connect_with_timeout(int fd, const sockaddr* addr, socklen_t len, milliseconds timeout) {
    int flags = ::fcntl(fd, F_GETFL, 0);
    ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    if (::connect(fd, addr, len) != 0) {
        if (errno != EINPROGRESS) return std::strerror(errno);
        pollfd p{fd, POLLOUT, 0};
        int r = ::poll(&p, 1, static_cast<int>(timeout.count()));
        if (r == 0) return "timed out after " + conf::format_duration(timeout);
        if (r < 0) return std::strerror(errno);
        int so_error = 0;
        socklen_t so_len = sizeof so_error;
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &so_len);
        if (so_error != 0) return std::strerror(so_error);
    }
    ::fcntl(fd, F_SETFL, flags);
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    return "";
}

std::string open_connection(const conf::Address& address, milliseconds timeout, Fd& fd) {
    if (address.kind == conf::Address::Kind::unix_socket) {
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        if (address.path.size() >= sizeof addr.sun_path) return "the socket path is too long";
        std::memcpy(addr.sun_path, address.path.c_str(), address.path.size() + 1);
        fd.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
        if (fd.get() < 0) return std::strerror(errno);
        return connect_with_timeout(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr, timeout);
    }
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* result = nullptr;
    std::string port = std::to_string(address.port);
    int rc = ::getaddrinfo(address.host.c_str(), port.c_str(), &hints, &result);
    if (rc != 0 || result == nullptr) return fmt::format("cannot resolve {}: {}", address.host, gai_strerror(rc));
    std::string error = "no address";
    for (addrinfo* ai = result; ai != nullptr; ai = ai->ai_next) {
        fd.reset(::socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
        if (fd.get() < 0) {
            error = std::strerror(errno);
            continue;
        }
        error = connect_with_timeout(fd.get(), ai->ai_addr, ai->ai_addrlen, timeout);
        if (error.empty()) break;
    }
    ::freeaddrinfo(result);
    return error;
}

class AnswerSink final : public proxy::HttpParser::Sink {
public:
    explicit AnswerSink(HttpAnswer& answer) : answer_(answer) {}
    int on_head(proxy::MessageHead& head) override {
        answer_.status = head.status;
        answer_.content_type = std::string(head.find("content-type"));
        return 0;
    }
    int on_body(std::string_view data) override {
        answer_.body.append(data);
        return 0;
    }
    int on_message_end() override {
        done = true;
        return proxy::HttpParser::kPause;
    }
    bool done = false;

private:
    HttpAnswer& answer_;
};

}  // namespace

std::string http_call(const std::string& address_text, const CtlCall& call, const std::string& token,
                      milliseconds timeout, HttpAnswer& answer) {
    auto address = conf::parse_address(address_text);
    if (!address) return address.error;
    Fd fd;
    if (std::string error = open_connection(*address, timeout, fd); !error.empty()) return error;

    std::string host = address->kind == conf::Address::Kind::unix_socket ? "localhost" : address->text;
    std::string request = fmt::format("{} {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: portico-ctl/{}\r\nAccept: */*\r\n",
                                      call.method, call.path, host, PORTICO_VERSION);
    if (!token.empty()) request += "Authorization: Bearer " + token + "\r\n";
    if (!call.body.empty()) request += "Content-Type: application/json\r\n";
    if (call.method == "POST" || !call.body.empty()) request += fmt::format("Content-Length: {}\r\n", call.body.size());
    request += "Connection: close\r\n\r\n";
    request += call.body;

    for (size_t sent = 0; sent < request.size();) {
        ssize_t n = ::send(fd.get(), request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            return errno == EAGAIN ? describe_timeout(timeout) : std::strerror(errno);
        }
        sent += static_cast<size_t>(n);
    }

    answer = HttpAnswer{};
    AnswerSink sink(answer);
    proxy::HttpParser parser(HTTP_RESPONSE, &sink);
    char buf[16384];
    while (!sink.done) {
        ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            return errno == EAGAIN ? describe_timeout(timeout) : std::strerror(errno);
        }
        if (n == 0) {
            if (parser.finish() == proxy::HttpParser::Outcome::error || !sink.done) {
                return answer.status == 0 ? "the connection closed without an answer"
                                          : "the connection closed in the middle of the answer";
            }
            break;
        }
        size_t consumed = 0;
        if (parser.execute({buf, static_cast<size_t>(n)}, consumed) == proxy::HttpParser::Outcome::error) {
            return fmt::format("the answer is not HTTP: {}", parser.error_reason());
        }
    }
    return "";
}

// ---- rendering --------------------------------------------------------------------------------

std::string format_ms(const json& ms) {
    if (!ms.is_number()) return "-";
    double v = ms.get<double>();
    if (v < 10) return fmt::format("{:.2f}ms", v);
    if (v < 1000) return fmt::format("{:.1f}ms", v);
    return fmt::format("{:.2f}s", v / 1000);
}

std::string format_uptime(double seconds) {
    auto total = static_cast<uint64_t>(seconds < 0 ? 0 : seconds);
    uint64_t d = total / 86400, h = total / 3600 % 24, m = total / 60 % 60, s = total % 60;
    if (d > 0) return fmt::format("{}d {:02}h {:02}m", d, h, m);
    if (h > 0) return fmt::format("{}h {:02}m {:02}s", h, m, s);
    if (m > 0) return fmt::format("{}m {:02}s", m, s);
    return fmt::format("{}s", s);
}

std::string format_bytes(double bytes) {
    static const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    size_t u = 0;
    while (bytes >= 1024 && u + 1 < std::size(units)) {
        bytes /= 1024;
        ++u;
    }
    return u == 0 ? fmt::format("{:.0f} B", bytes) : fmt::format("{:.1f} {}", bytes, units[u]);
}

namespace {

// Columns padded to their widest cell; by default the first left-aligned, the rest (numbers) right.
class Table {
public:
    explicit Table(std::vector<std::string> headers, std::vector<bool> right = {}) : headers_(std::move(headers)) {
        if (right.empty()) {
            right_.assign(headers_.size(), true);
            if (!right_.empty()) right_[0] = false;
        } else {
            right_ = std::move(right);
        }
    }
    void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
    std::string render(const std::string& indent = "") const {
        std::vector<size_t> width(headers_.size(), 0);
        auto measure = [&](const std::vector<std::string>& row) {
            for (size_t i = 0; i < row.size() && i < width.size(); ++i) width[i] = std::max(width[i], row[i].size());
        };
        measure(headers_);
        for (const auto& row : rows_) measure(row);
        std::string out;
        auto line = [&](const std::vector<std::string>& row) {
            std::string text = indent;
            for (size_t i = 0; i < width.size(); ++i) {
                std::string cell = i < row.size() ? row[i] : "";
                std::string pad(width[i] - std::min(width[i], cell.size()), ' ');
                if (i > 0) text += "  ";
                text += right_[i] ? pad + cell : cell + pad;
            }
            while (!text.empty() && text.back() == ' ') text.pop_back();
            out += text + "\n";
        };
        line(headers_);
        for (const auto& row : rows_) line(row);
        return out;
    }

private:
    std::vector<std::string> headers_;
    std::vector<bool> right_;
    std::vector<std::vector<std::string>> rows_;
};

std::string scalar_text(const json& v) {
    if (v.is_string()) return v.get<std::string>();
    if (v.is_null()) return "-";
    if (v.is_number_float()) {
        double d = v.get<double>();
        return fmt::format("{}", d);
    }
    return v.dump();
}

std::string number(const json& object, const char* key) {
    if (!object.is_object() || !object.contains(key)) return "-";
    return scalar_text(object[key]);
}

bool is_table(const json& v) {
    if (!v.is_array() || v.empty()) return false;
    for (const auto& e : v) {
        if (!e.is_object()) return false;
    }
    return true;
}

std::string render_table(const json& rows, const std::string& indent) {
    std::vector<std::string> keys;
    for (const auto& row : rows) {
        for (auto it = row.begin(); it != row.end(); ++it) {
            if (std::find(keys.begin(), keys.end(), it.key()) == keys.end()) keys.push_back(it.key());
        }
    }
    std::vector<std::string> headers;
    std::vector<bool> right;  // columns holding only numbers line up on the right
    for (const auto& k : keys) {
        std::string h = k;
        for (auto& c : h) c = static_cast<char>(c == '_' ? ' ' : std::toupper(static_cast<unsigned char>(c)));
        headers.push_back(h);
        bool numeric = true;
        for (const auto& row : rows) numeric = numeric && (!row.contains(k) || row[k].is_number());
        right.push_back(numeric);
    }
    Table table(headers, right);
    for (const auto& row : rows) {
        std::vector<std::string> cells;
        for (const auto& k : keys) {
            if (!row.contains(k)) {
                cells.emplace_back("");
            } else {
                const json& v = row[k];
                cells.push_back(v.is_structured() ? v.dump() : scalar_text(v));
            }
        }
        table.add(std::move(cells));
    }
    return table.render(indent);
}

void render_value(const json& v, const std::string& indent, std::string& out) {
    if (v.is_object()) {
        size_t width = 0;
        for (auto it = v.begin(); it != v.end(); ++it) {
            if (!it.value().is_structured() || (it.value().is_array() && !is_table(it.value()))) {
                width = std::max(width, it.key().size());
            }
        }
        for (auto it = v.begin(); it != v.end(); ++it) {
            const json& e = it.value();
            if (e.is_object() || is_table(e)) {
                out += indent + it.key() + ":\n";
                render_value(e, indent + "  ", out);
            } else if (e.is_array()) {
                std::string items;
                for (const auto& item : e) items += (items.empty() ? "" : ", ") + scalar_text(item);
                out += fmt::format("{}{:<{}}  {}\n", indent, it.key(), width, items);
            } else {
                out += fmt::format("{}{:<{}}  {}\n", indent, it.key(), width, scalar_text(e));
            }
        }
    } else if (is_table(v)) {
        out += render_table(v, indent);
    } else if (v.is_array()) {
        for (const auto& item : v) out += indent + scalar_text(item) + "\n";
    } else {
        out += indent + scalar_text(v) + "\n";
    }
}

}  // namespace

std::string render_generic(const json& value) {
    std::string out;
    render_value(value, "", out);
    return out;
}

std::string render_pool(const json& p) {
    std::string out = fmt::format("pool  {} mode   clients {} of {}   servers {}   login failures {}{}\n",
                                  p.value("mode", std::string("?")), number(p, "clients"), number(p, "max_client_conn"),
                                  number(p, "servers"), number(p, "login_failures"),
                                  p.value("draining", false) ? "   draining" : "");
    json pools = p.value("pools", json::array());
    auto us = [](const json& pool, const char* key) { return format_ms(json(pool.value(key, 0.0) / 1000.0)); };
    if (!pools.empty()) {
        Table show_pools({"DATABASE", "USER", "PAUSED", "CL ACTIVE", "CL WAITING", "SV ACTIVE", "SV IDLE", "SV USED",
                          "SV LOGIN", "MAXWAIT"},
                         {false, false, false, true, true, true, true, true, true, true});
        Table show_stats({"DATABASE", "USER", "XACTS", "QUERIES", "RECEIVED", "SENT", "AVG XACT", "AVG QUERY", "WAITS",
                          "WAIT TIME"},
                         {false, false, true, true, true, true, true, true, true, true});
        std::string errors;
        for (const json& x : pools) {
            std::string database = x.value("database", std::string("?")), user = x.value("user", std::string("?"));
            double maxwait_ms = x.value("maxwait", 0.0) * 1000 + x.value("maxwait_us", 0.0) / 1000;
            show_pools.add({database, user, x.value("paused", false) ? "yes" : "no", number(x, "cl_active"),
                            number(x, "cl_waiting"), number(x, "sv_active"), number(x, "sv_idle"), number(x, "sv_used"),
                            number(x, "sv_login"), format_ms(json(maxwait_ms))});
            show_stats.add({database, user, number(x, "total_xact_count"), number(x, "total_query_count"),
                            format_bytes(x.value("total_received", 0.0)), format_bytes(x.value("total_sent", 0.0)),
                            us(x, "avg_xact_time"), us(x, "avg_query_time"), number(x, "client_waits"),
                            us(x, "total_wait_time")});
            if (x.contains("last_connect_error"))
                errors += fmt::format("{}/{}: last connect error: {}\n", database, user, scalar_text(x["last_connect_error"]));
        }
        out += "\n" + show_pools.render() + "\n" + show_stats.render() + errors;
    }
    Table databases({"DATABASE", "PAUSED", "REACHABLE"}, {false, false, false});
    for (const json& d : p.value("databases", json::array())) {
        json reachable = d.value("reachable", json());
        databases.add({d.value("name", std::string("?")), d.value("paused", false) ? "yes" : "no",
                       reachable.is_boolean() ? (reachable.get<bool>() ? "yes" : "no") : "-"});
    }
    out += "\n" + databases.render();
    json notify = p.value("notify", json::array());
    if (!notify.empty()) {
        Table listeners({"NOTIFY DATABASE", "CHANNEL", "LISTENING", "MESSAGES", "INVALID", "RECONNECTS"},
                        {false, false, false, true, true, true});
        for (const json& l : notify) {
            listeners.add({l.value("database", std::string("?")), l.value("channel", std::string("?")),
                           l.value("listening", false) ? "yes" : "no", number(l, "messages"), number(l, "invalid"),
                           number(l, "reconnects")});
        }
        out += "\n" + listeners.render();
    }
    return out;
}

std::string render_stats(const json& s) {
    std::string out;
    json reloads = s.value("config_reloads", json::object());
    out += fmt::format("uptime {}   config generation {}   reloads ok {} / failed {}\n",
                       format_uptime(s.value("uptime_seconds", 0.0)), number(s, "config_generation"),
                       number(reloads, "ok"), number(reloads, "error"));
    json req = s.value("requests", json::object());
    out += fmt::format("requests {}   1xx {}   2xx {}   3xx {}   4xx {}   5xx {}\n\n", number(req, "total"),
                       number(req, "1xx"), number(req, "2xx"), number(req, "3xx"), number(req, "4xx"),
                       number(req, "5xx"));

    Table routes({"ROUTE", "REQUESTS", "2XX", "3XX", "4XX", "5XX", "P50", "P95", "P99", "429"});
    for (const auto& r : s.value("routes", json::array())) {
        json classes = r.value("by_class", json::object());
        json latency = r.value("latency_ms", json::object());
        routes.add({r.value("route", std::string("?")), number(r, "requests"), number(classes, "2xx"),
                    number(classes, "3xx"), number(classes, "4xx"), number(classes, "5xx"),
                    format_ms(latency.value("p50", json())), format_ms(latency.value("p95", json())),
                    format_ms(latency.value("p99", json())), number(r, "ratelimit_rejected")});
    }
    out += routes.render();

    json u = s.value("upstream", json::object());
    out += fmt::format("\nupstream    connects {}   reuses {}   connect failed {}   closed {}   bad responses {}   "
                       "write failed {}\n",
                       number(u, "connects"), number(u, "reuses"), number(u, "connect_failed"), number(u, "closed"),
                       number(u, "bad_responses"), number(u, "write_failed"));
    out += fmt::format("            timeouts: connect {}   read {}   queue {}\n", number(u, "connect_timeouts"),
                       number(u, "read_timeouts"), number(u, "queue_timeouts"));
    json rl = s.value("ratelimit", json::object());
    out += fmt::format("rate limit  allowed {}   rejected {}   over a dry-run limit {}\n", number(rl, "allowed"),
                       number(rl, "rejected"), number(rl, "dry_run"));
    if (s.contains("compression")) {
        json c = s["compression"];
        json coded = c.value("compressed", json::object());
        out += fmt::format("compression gzip {}   deflate {}   saved {}\n", number(coded, "gzip"), number(coded, "deflate"),
                           format_bytes(c.value("bytes_saved", 0.0)));
    }
    json p = s.value("process", json::object());
    out += fmt::format("process     rss {}   open fds {}   cpu {}s\n",
                       format_bytes(p.value("resident_memory_bytes", 0.0)), number(p, "open_fds"),
                       number(p, "cpu_seconds"));
    if (s.contains("cache")) {
        out += "\ncache\n";
        render_value(s["cache"], "  ", out);
    }
    if (s.contains("pool")) out += "\n" + render_pool(s["pool"]);
    return out;
}

// ---- entry point ------------------------------------------------------------------------------

namespace {

volatile std::sig_atomic_t g_interrupted = 0;  // set by SIGINT during --watch

void on_interrupt(int) { g_interrupted = 1; }

struct Target {
    std::string address;
    std::string token;
    std::string token_file;
};

// Where to call and with which token; "" or a usage/config error.
std::string resolve_target(const CtlOptions& o, const std::string& config_path, Target& t) {
    t.address = o.admin;
    t.token_file = o.token_file;
    if (t.address.empty()) {
        if (const char* env = std::getenv("PORTICO_ADMIN"); env != nullptr) t.address = env;
    }
    if (t.token_file.empty()) {
        if (const char* env = std::getenv("PORTICO_ADMIN_TOKEN_FILE"); env != nullptr) t.token_file = env;
    }
    if (t.address.empty() || t.token_file.empty()) {
        std::string path = config_path;
        bool explicit_path = !path.empty();
        std::error_code ec;
        if (!explicit_path && std::filesystem::exists(core::kDefaultConfigPath, ec)) path = core::kDefaultConfigPath;
        if (!path.empty()) {
            try {
                auto config = conf::load_file(path);
                if (t.address.empty()) t.address = config->admin.listen.text;
                if (t.token_file.empty()) t.token_file = config->admin.token_file;
            } catch (const std::exception& e) {
                // A broken default file must not stop ctl from reaching a running portico.
                if (explicit_path) return e.what();
            }
        }
    }
    if (t.address.empty()) t.address = kDefaultAdminAddress;
    if (auto parsed = conf::parse_address(t.address); !parsed) {
        return fmt::format("admin address '{}': {}", t.address, parsed.error);
    }
    if (!t.token_file.empty()) {
        if (std::string error = read_token_file(t.token_file, t.token); !error.empty()) return error;
    }
    return "";
}

std::optional<json> body_json(const HttpAnswer& a) {
    if (a.content_type.rfind("application/json", 0) != 0) return std::nullopt;
    json j = json::parse(a.body, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return std::nullopt;
    return j;
}

// Exit code for an answer's status.
int exit_code(int status) {
    if (status >= 200 && status < 300) return 0;
    if (status == 400 || status == 422) return 1;  // what we sent, or the config file, is wrong
    return 2;
}

int present(const CtlOptions& o, const CtlCall& call, const Target& t, const HttpAnswer& a, std::ostream& out,
            std::ostream& err) {
    if (a.status == 401) {
        if (t.token.empty()) {
            err << "portico ctl: the admin port at " << t.address << " needs a token (401): pass --token-file FILE\n";
        } else {
            err << "portico ctl: the admin port at " << t.address << " refused the token (401) from "
                << t.token_file << "\n";
        }
        return 2;
    }
    auto j = body_json(a);
    if (o.json) {
        // /metrics and /config answer text: converted, so that every command prints JSON.
        if (!j && a.status == 200 && (call.path == "/metrics" || call.path == "/config")) {
            std::string error;
            j = call.path == "/metrics" ? exposition_to_json(a.body, error) : yaml_to_json(a.body, error);
            if (!j) {
                err << "portico ctl: the answer of " << call.method << " " << call.path << " is not "
                    << (call.path == "/metrics" ? "Prometheus text" : "YAML") << ": " << error << "\n";
                return 2;
            }
        }
        out << (j ? j->dump(2) + "\n" : a.body);
        return exit_code(a.status);
    }
    if (a.status >= 300) {
        if (call.path == "/ready" && j) {
            out << "not ready: " << j->value("reason", std::string("?")) << "\n";
            return 2;
        }
        if (call.path == "/health" && j) {
            out << j->value("status", std::string("not ok")) << "\n";
            return 2;
        }
        if (call.path == "/reload" && j && a.status == 422) {
            err << "portico ctl: reload failed, configuration generation " << j->value("generation", 0)
                << " keeps serving: " << j->value("error", std::string("?")) << "\n";
            return 1;
        }
        std::string message = j && j->contains("error") ? scalar_text((*j)["error"]) : a.body;
        while (!message.empty() && message.back() == '\n') message.pop_back();
        err << "portico ctl: " << message << " (" << a.status << ")\n";
        return exit_code(a.status);
    }
    if (!j) {  // metrics, config: text as it came
        out << a.body;
        return 0;
    }
    if (call.path == "/stats") {
        out << render_stats(*j);
    } else if (call.path == "/health" || call.path == "/ready") {
        out << j->value("status", std::string("ok")) << "\n";
    } else if (call.path == "/reload") {
        out << "reloaded: configuration generation " << j->value("generation", 0) << "\n";
    } else if (call.path == "/pool") {
        out << render_pool(*j);
    } else {
        out << render_generic(*j);
    }
    return 0;
}

int watch_stats(const CtlOptions& o, const CtlCall& call, const Target& t, std::ostream& out, std::ostream& err) {
    struct sigaction action {};
    struct sigaction previous {};
    action.sa_handler = &on_interrupt;
    sigemptyset(&action.sa_mask);
    action.sa_flags = 0;  // no SA_RESTART: Ctrl-C wakes the sleep at once
    ::sigaction(SIGINT, &action, &previous);
    g_interrupted = 0;
    int code = 0;
    while (g_interrupted == 0) {
        HttpAnswer a;
        std::string error = http_call(t.address, call, t.token, o.timeout, a);
        std::time_t now = std::time(nullptr);
        char clock[16];
        std::strftime(clock, sizeof clock, "%H:%M:%S", std::localtime(&now));
        std::string screen = "\x1b[H\x1b[2J";  // home, clear: top's way of refreshing
        screen += fmt::format("portico {} — every {}, Ctrl-C to stop — {}\n\n", t.address,
                              conf::format_duration(*o.watch), clock);
        if (!error.empty()) {
            screen += fmt::format("cannot reach the admin port: {}\n", error);
        } else if (a.status == 401) {
            code = present(o, call, t, a, out, err);
            break;
        } else if (auto j = body_json(a); j && a.status == 200) {
            screen += o.json ? j->dump(2) + "\n" : render_stats(*j);
        } else {
            screen += fmt::format("the admin port answered {}: {}\n", a.status, a.body);
        }
        out << screen << std::flush;
        auto deadline = std::chrono::steady_clock::now() + *o.watch;
        while (g_interrupted == 0 && std::chrono::steady_clock::now() < deadline) {
            auto left = std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
            timespec ts{0, static_cast<long>(std::min<int64_t>(left.count(), 100)) * 1000000L};
            ::nanosleep(&ts, nullptr);
        }
    }
    ::sigaction(SIGINT, &previous, nullptr);
    return code;
}

}  // namespace

int run_ctl(const std::vector<std::string>& args, const std::string& config_path, std::ostream& out,
            std::ostream& err) {
    CtlOptions o;
    if (std::string error = parse_ctl_args(args, o); !error.empty()) {
        err << "portico ctl: " << error << "\n" << ctl_usage();
        return 1;
    }
    if (o.help) {
        out << ctl_usage();
        return 0;
    }
    CtlCall call;
    if (std::string error = plan_call(o, call); !error.empty()) {
        err << "portico ctl: " << error << "\n" << ctl_usage();
        return 1;
    }
    Target target;
    if (std::string error = resolve_target(o, config_path, target); !error.empty()) {
        err << "portico ctl: " << error << "\n";
        return 1;
    }
    if (o.watch) return watch_stats(o, call, target, out, err);
    HttpAnswer answer;
    if (std::string error = http_call(target.address, call, target.token, o.timeout, answer); !error.empty()) {
        err << "portico ctl: cannot reach the admin port at " << target.address << ": " << error << "\n";
        return 2;
    }
    return present(o, call, target, answer, out, err);
}

int run_ctl(const std::vector<std::string>& args, const std::string& config_path) {
    return run_ctl(args, config_path, std::cout, std::cerr);
}

}  // namespace portico::admin
