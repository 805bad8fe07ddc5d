// `portico ctl`: a small blocking HTTP client for the admin port, with human-readable tables by
// default and the raw JSON with --json. Exit codes are INTERFACE.md's: 0 ok, 1 usage or config
// error (including a reload refused for a config error), 2 runtime failure (unreachable, 401,
// not ready, a part not built…).
#pragma once

#include <chrono>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace portico::admin {

constexpr const char* kDefaultAdminAddress = "127.0.0.1:9901";

struct CtlOptions {
    std::string admin;       // --admin HOST:PORT | unix:/path (empty: PORTICO_ADMIN, the config, the default)
    std::string token_file;  // --token-file F (empty: PORTICO_ADMIN_TOKEN_FILE, the config's admin.token_file)
    bool json = false;       // --json
    std::optional<std::chrono::milliseconds> watch;  // stats --watch 1s
    std::chrono::milliseconds timeout{30000};         // --timeout 30s: connect and whole answer
    bool help = false;
    std::vector<std::string> words;  // the command: {"cache", "purge"}, {"pool", "pause", "app"}…
    // cache purge
    std::string purge_kind;  // "key" | "prefix" | "tag"
    std::string purge_value;
};

// Options may come before or after the command words. Returns "" or a usage error.
std::string parse_ctl_args(const std::vector<std::string>& args, CtlOptions& options);

// The admin call a command makes.
struct CtlCall {
    std::string method;
    std::string path;
    std::string body;  // JSON, empty for none
};
// Returns "" or a usage error ("unknown command 'x'").
std::string plan_call(const CtlOptions& options, CtlCall& call);

std::string ctl_usage();

// ---- the client -------------------------------------------------------------------------------

struct HttpAnswer {
    int status = 0;
    std::string content_type;
    std::string body;
};

// One request on a fresh connection to `address` ("HOST:PORT" or "unix:/path"). Returns "" or why
// it failed ("Connection refused", "timed out after 30s", "the answer was not HTTP: …").
std::string http_call(const std::string& address, const CtlCall& call, const std::string& token,
                      std::chrono::milliseconds timeout, HttpAnswer& answer);

// ---- rendering --------------------------------------------------------------------------------

// A duration given in milliseconds as people read it: "0.42ms", "12.3ms", "1.50s", "-" for null.
std::string format_ms(const nlohmann::json& ms);
// Seconds as "3d 04h 05m", "2h 03m 04s", "42s".
std::string format_uptime(double seconds);
// Bytes as "512 B", "12.3 MiB".
std::string format_bytes(double bytes);
// /stats as the tables `portico ctl stats` prints.
std::string render_stats(const nlohmann::json& stats);
// /pool as `portico ctl pool` prints it: PgBouncer's SHOW POOLS and SHOW STATS columns, the
// databases and the invalidation listeners; every other figure is in --json.
std::string render_pool(const nlohmann::json& pool);
// Any JSON answer as aligned "key  value" lines; arrays of objects as tables.
std::string render_generic(const nlohmann::json& value);

// ---- entry point ------------------------------------------------------------------------------

// `config_path`: the file given with `portico --config FILE ctl …` (empty: /etc/portico/portico.yaml
// when it exists), read for admin.listen and admin.token_file when no flag or variable names them.
int run_ctl(const std::vector<std::string>& args, const std::string& config_path, std::ostream& out,
            std::ostream& err);
int run_ctl(const std::vector<std::string>& args, const std::string& config_path);

}  // namespace portico::admin
