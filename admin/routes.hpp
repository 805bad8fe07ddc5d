// The admin API of INTERFACE.md as a table of endpoints (method, path, handler), and the interface
// through which the process hands the admin port its figures and actions (AdminBackend).
// Pure request → response: no sockets here, so every answer is unit-tested without a loop.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/metrics.hpp"

namespace portico::admin {

// ---- what the process provides ---------------------------------------------------------------

struct ReloadResult {
    bool ok = false;
    uint64_t generation = 0;  // the new generation, or the one still serving after an error
    std::string error;        // "FILE:LINE:COL: message" when !ok
};

struct PurgeTarget {
    enum class Kind { key, prefix, tag };
    Kind kind = Kind::key;
    std::string value;  // a URL (key), a path prefix, or a tag
};
// {"key": URL}, {"prefix": "/path"} or {"tag": TAG}: the body of POST /cache/purge, and the payload
// of a cache.notify_channel notification. nullopt and `error` when it is none of them.
std::optional<PurgeTarget> parse_purge_target(std::string_view body, std::string& error);

// An answer from a part that may not exist in this build: status and JSON body.
struct PartAnswer {
    int status = 200;
    nlohmann::json body;

    static PartAnswer ok(nlohmann::json body) { return {200, std::move(body)}; }
    // 501 {"error": "the <part> is not built yet"}: never fake figures for a missing part.
    static PartAnswer not_built(std::string_view part);
};

// Implemented by the process (core/process.cpp). Every call happens on the loop the admin server
// runs on (the main thread's), so an implementation may touch main-thread state directly.
class AdminBackend {
public:
    virtual ~AdminBackend() = default;

    // Registry::snapshot(), with anything the process adds.
    virtual core::metrics::Snapshot snapshot() = 0;
    // conf::to_yaml of the configuration in use (secrets redacted).
    virtual std::string config_yaml() = 0;
    // True when the upstream answers and every pool database is reachable; else the reason.
    virtual bool ready(std::string& reason) = 0;
    // The same path as SIGHUP: load, validate, swap; counts config_reloads_total itself.
    virtual ReloadResult reload() = 0;
    // True once SIGTERM/SIGINT started the drain: /health answers 503 "draining".
    virtual bool draining() { return false; }
    // Extra Prometheus families from parts that keep their own figures (the pool).
    virtual void append_metrics(std::string& out) {}

    // The cache (cache/): not built yet, so the defaults answer 501.
    virtual PartAnswer cache_stats() { return PartAnswer::not_built("cache"); }  // store figures
    virtual PartAnswer cache_purge(const PurgeTarget& target) { return PartAnswer::not_built("cache"); }
    virtual PartAnswer cache_clear() { return PartAnswer::not_built("cache"); }
    // The Postgres pool (pool/): likewise. `database` empty: every database.
    virtual PartAnswer pool() { return PartAnswer::not_built("pool"); }
    virtual PartAnswer pool_pause(const std::optional<std::string>& database) { return PartAnswer::not_built("pool"); }
    virtual PartAnswer pool_resume(const std::optional<std::string>& database) { return PartAnswer::not_built("pool"); }
};

// ---- requests and answers ----------------------------------------------------------------------

struct Request {
    std::string_view method;         // "GET", "POST", "HEAD"…
    std::string_view path;           // without the query
    std::string_view query;          // after '?', possibly empty
    std::string_view body;
    std::string_view authorization;  // the Authorization header, possibly empty
};

struct Response {
    int status = 200;
    std::string body;
    std::string content_type = "application/json";
    std::string extra_headers;  // whole "Name: value\r\n" lines (Allow, WWW-Authenticate)

    static Response json(int status, const nlohmann::json& body);
    static Response error(int status, std::string_view message);  // {"error": message}
};

// Parses a POST body as a JSON object whose keys are all in `allowed`; an empty body is {}.
// On failure returns nullopt and sets `error` ("invalid JSON: …", "unknown field 'x' …").
std::optional<nlohmann::json> parse_body(std::string_view body, std::initializer_list<std::string_view> allowed,
                                         std::string& error);

// ---- the table -----------------------------------------------------------------------------

class Router {
public:
    using Handler = Response (*)(AdminBackend& backend, const Request& request);
    struct Endpoint {
        std::string_view method;
        std::string_view path;
        Handler handler;
    };

    explicit Router(AdminBackend& backend) : backend_(backend) {}

    // "" = no token configured: every call is let in.
    void set_token(std::string token) { token_ = std::move(token); }
    bool token_required() const { return !token_.empty(); }

    // Token check (401 + WWW-Authenticate), then the endpoint; 404 for an unknown path, 405 + Allow
    // for a known path with another method. HEAD is answered as GET (the server drops the body).
    Response handle(const Request& request) const;

    static const std::vector<Endpoint>& endpoints();

private:
    AdminBackend& backend_;
    std::string token_;
};

}  // namespace portico::admin
