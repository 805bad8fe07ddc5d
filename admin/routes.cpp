// The admin endpoints; see routes.hpp. One handler per row of INTERFACE.md's Admin API table.
#include "admin/routes.hpp"

#include <fmt/format.h>

#include "admin/auth.hpp"
#include "admin/prometheus.hpp"
#include "admin/stats.hpp"

#ifndef PORTICO_VERSION
#define PORTICO_VERSION "unknown"
#endif

namespace portico::admin {

using nlohmann::json;

PartAnswer PartAnswer::not_built(std::string_view part) {
    return {501, json{{"error", fmt::format("the {} is not built yet", part)}}};
}

Response Response::json(int status, const nlohmann::json& body) {
    Response r;
    r.status = status;
    r.body = body.dump(2);
    r.body.push_back('\n');
    return r;
}

Response Response::error(int status, std::string_view message) {
    return json(status, nlohmann::json{{"error", message}});
}

namespace {

// Reads the parser's own message ("parse error at line 1, column 9: syntax error while parsing
// value - unexpected '}'…") through the SAX interface, so no exception is thrown for a bad body.
class ErrorCatcher final : public nlohmann::json_sax<json> {
public:
    bool null() override { return true; }
    bool boolean(bool) override { return true; }
    bool number_integer(number_integer_t) override { return true; }
    bool number_unsigned(number_unsigned_t) override { return true; }
    bool number_float(number_float_t, const string_t&) override { return true; }
    bool string(string_t&) override { return true; }
    bool binary(binary_t&) override { return true; }
    bool start_object(std::size_t) override { return true; }
    bool key(string_t&) override { return true; }
    bool end_object() override { return true; }
    bool start_array(std::size_t) override { return true; }
    bool end_array() override { return true; }
    bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) override {
        std::string what = e.what();
        // "[json.exception.parse_error.101] parse error at …": keep from "parse error".
        size_t at = what.find("parse error");
        message = at == std::string::npos ? what : what.substr(at);
        return false;
    }
    std::string message = "malformed";
};

std::string json_error(std::string_view body) {
    ErrorCatcher catcher;
    json::sax_parse(body.begin(), body.end(), &catcher);
    return catcher.message;
}

}  // namespace

std::optional<json> parse_body(std::string_view body, std::initializer_list<std::string_view> allowed,
                               std::string& error) {
    size_t first = body.find_first_not_of(" \t\r\n");
    if (first == std::string_view::npos) return json::object();
    json parsed = json::parse(body.begin(), body.end(), /*callback=*/nullptr, /*allow_exceptions=*/false);
    if (parsed.is_discarded()) {
        error = "invalid JSON: " + json_error(body);
        return std::nullopt;
    }
    if (!parsed.is_object()) {
        error = "the body must be a JSON object";
        return std::nullopt;
    }
    for (auto it = parsed.begin(); it != parsed.end(); ++it) {
        bool known = false;
        for (auto name : allowed) known = known || it.key() == name;
        if (!known) {
            std::string expected;
            for (auto name : allowed) expected += (expected.empty() ? "" : ", ") + std::string(name);
            error = expected.empty() ? fmt::format("unknown field '{}': this call takes no fields", it.key())
                                     : fmt::format("unknown field '{}' (expected {})", it.key(), expected);
            return std::nullopt;
        }
    }
    return parsed;
}

std::optional<PurgeTarget> parse_purge_target(std::string_view text, std::string& error) {
    auto body = parse_body(text, {"key", "prefix", "tag"}, error);
    if (!body) return std::nullopt;
    if (body->size() != 1) {
        error = "give exactly one of {\"key\": URL}, {\"prefix\": PATH} or {\"tag\": TAG}";
        return std::nullopt;
    }
    auto it = body->begin();
    if (!it.value().is_string() || it.value().get_ref<const std::string&>().empty()) {
        error = fmt::format("'{}' must be a non-empty string", it.key());
        return std::nullopt;
    }
    PurgeTarget target;
    target.kind = it.key() == "key" ? PurgeTarget::Kind::key
                  : it.key() == "prefix" ? PurgeTarget::Kind::prefix
                                         : PurgeTarget::Kind::tag;
    target.value = it.value().get<std::string>();
    if (target.kind == PurgeTarget::Kind::prefix && target.value.front() != '/') {
        error = "'prefix' must be a path starting with '/'";
        return std::nullopt;
    }
    return target;
}

namespace {

Response from_part(const PartAnswer& answer) { return Response::json(answer.status, answer.body); }

// A body given where a call takes none must be empty or {}.
std::optional<Response> no_fields(const Request& request) {
    std::string error;
    if (!parse_body(request.body, {}, error)) return Response::error(400, error);
    return std::nullopt;
}

// ---- handlers ------------------------------------------------------------------------------

Response health(AdminBackend& backend, const Request&) {
    if (backend.draining()) return Response::json(503, {{"status", "draining"}});
    return Response::json(200, {{"status", "ok"}});
}

Response ready(AdminBackend& backend, const Request&) {
    std::string reason;
    if (backend.ready(reason)) return Response::json(200, {{"status", "ready"}});
    return Response::json(503, {{"status", "not ready"}, {"reason", reason}});
}

Response stats(AdminBackend& backend, const Request&) {
    core::metrics::Snapshot snapshot = backend.snapshot();
    std::optional<json> cache, pool;
    if (PartAnswer a = backend.cache_stats(); a.status == 200) cache = std::move(a.body);
    if (PartAnswer a = backend.pool(); a.status == 200) pool = std::move(a.body);
    return Response::json(200, build_stats(snapshot, cache, pool));
}

Response metrics(AdminBackend& backend, const Request&) {
    Response r;
    r.body = render_prometheus(backend.snapshot(), PORTICO_VERSION);
    backend.append_metrics(r.body);
    r.content_type = std::string(kPrometheusContentType);
    return r;
}

Response cache_get(AdminBackend& backend, const Request&) {
    PartAnswer a = backend.cache_stats();
    if (a.status != 200) return from_part(a);
    return Response::json(200, build_cache_stats(backend.snapshot(), a.body));
}

Response cache_purge(AdminBackend& backend, const Request& request) {
    std::string error;
    auto target = parse_purge_target(request.body, error);
    if (!target) return Response::error(400, error);
    return from_part(backend.cache_purge(*target));
}

Response cache_clear(AdminBackend& backend, const Request& request) {
    if (auto bad = no_fields(request)) return *bad;
    return from_part(backend.cache_clear());
}

Response pool_get(AdminBackend& backend, const Request&) { return from_part(backend.pool()); }

// {"database": NAME} or nothing.
std::optional<Response> database_of(const Request& request, std::optional<std::string>& database) {
    std::string error;
    auto body = parse_body(request.body, {"database"}, error);
    if (!body) return Response::error(400, error);
    if (body->contains("database")) {
        const json& name = (*body)["database"];
        if (!name.is_string() || name.get_ref<const std::string&>().empty()) {
            return Response::error(400, "'database' must be a non-empty string");
        }
        database = name.get<std::string>();
    }
    return std::nullopt;
}

Response pool_pause(AdminBackend& backend, const Request& request) {
    std::optional<std::string> database;
    if (auto bad = database_of(request, database)) return *bad;
    return from_part(backend.pool_pause(database));
}

Response pool_resume(AdminBackend& backend, const Request& request) {
    std::optional<std::string> database;
    if (auto bad = database_of(request, database)) return *bad;
    return from_part(backend.pool_resume(database));
}

Response config(AdminBackend& backend, const Request&) {
    Response r;
    r.body = backend.config_yaml();
    r.content_type = "application/yaml; charset=utf-8";
    return r;
}

Response reload(AdminBackend& backend, const Request& request) {
    if (auto bad = no_fields(request)) return *bad;
    ReloadResult result = backend.reload();
    if (result.ok) return Response::json(200, {{"result", "ok"}, {"generation", result.generation}});
    // 422: the request was fine, the configuration file is not; the old generation keeps serving.
    return Response::json(422, {{"result", "error"}, {"error", result.error}, {"generation", result.generation}});
}

}  // namespace

const std::vector<Router::Endpoint>& Router::endpoints() {
    static const std::vector<Endpoint> table = {
        {"GET", "/health", &health},
        {"GET", "/ready", &ready},
        {"GET", "/stats", &stats},
        {"GET", "/metrics", &metrics},
        {"GET", "/cache", &cache_get},
        {"POST", "/cache/purge", &cache_purge},
        {"POST", "/cache/clear", &cache_clear},
        {"GET", "/pool", &pool_get},
        {"POST", "/pool/pause", &pool_pause},
        {"POST", "/pool/resume", &pool_resume},
        {"GET", "/config", &config},
        {"POST", "/reload", &reload},
    };
    return table;
}

Response Router::handle(const Request& request) const {
    if (!bearer_matches(request.authorization, token_)) {
        Response r = Response::error(401, request.authorization.empty()
                                              ? "this admin port needs Authorization: Bearer <token>"
                                              : "the token is not the admin token");
        r.extra_headers = "WWW-Authenticate: Bearer realm=\"portico\"\r\n";
        return r;
    }
    std::string_view method = request.method == "HEAD" ? std::string_view("GET") : request.method;
    std::string allow;
    for (const auto& endpoint : endpoints()) {
        if (endpoint.path != request.path) continue;
        if (endpoint.method == method) return endpoint.handler(backend_, request);
        if (!allow.empty()) allow += ", ";
        allow += endpoint.method;
        if (endpoint.method == "GET") allow += ", HEAD";
    }
    if (allow.empty()) return Response::error(404, fmt::format("no such endpoint: {}", request.path));
    Response r = Response::error(405, fmt::format("{} is not allowed on {} (allowed: {})", request.method,
                                                  request.path, allow));
    r.extra_headers = "Allow: " + allow + "\r\n";
    return r;
}

}  // namespace portico::admin
