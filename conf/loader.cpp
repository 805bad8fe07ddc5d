// Entry points: file or text -> merged tree -> Config, then environment overrides and the route table.
#include "conf/loader.hpp"

#include <cstdlib>
#include <thread>

#include <fmt/format.h>

#include "conf/decode.hpp"
#include "conf/env_subst.hpp"
#include "conf/includes.hpp"
#include "conf/route_table.hpp"
#include "conf/sections.hpp"

namespace portico::conf {

ConfigError::ConfigError(Mark mark, const std::string& message)
    : std::runtime_error(fmt::format("{}:{}:{}: {}", mark.file, mark.line, mark.column, message)),
      mark_(std::move(mark)),
      message_(message) {}

namespace {

// An override from the environment is reported as if it were a one-line file of that name.
detail::Node env_node(const char* name, std::string value) {
    detail::Node n;
    n.kind = detail::Node::Kind::scalar;
    n.text = std::move(value);
    n.mark = Mark{fmt::format("${}", name), 1, 1};
    return n;
}

std::optional<std::string> nonempty_env(const char* name) {
    const char* v = std::getenv(name);
    if (v == nullptr || *v == '\0') return std::nullopt;  // `PORTICO_WORKERS= portico` means unset
    return std::string(v);
}

std::shared_ptr<const Config> finish(detail::Document doc, const std::string& source) {
    Config c = detail::decode_config(doc);
    c.source = source;
    c.files = std::move(doc.files);

    if (auto w = nonempty_env("PORTICO_WORKERS")) {
        detail::decode_workers(env_node("PORTICO_WORKERS", *w), "PORTICO_WORKERS", c);
    }
    if (auto l = nonempty_env("PORTICO_LOG_LEVEL"))
        c.log.level = detail::to_enum(env_node("PORTICO_LOG_LEVEL", *l), "PORTICO_LOG_LEVEL",
                                      {"debug", "info", "warn", "error"});
    if (c.workers_auto)  // hardware_concurrency() may answer 0 when it cannot tell
        c.workers = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));

    c.routes = detail::resolve_routes(c);
    return std::make_shared<const Config>(std::move(c));
}

}  // namespace

std::shared_ptr<const Config> load_file(const std::string& path) {
    return finish(detail::read_document_file(path, process_env()), path);
}

std::shared_ptr<const Config> load_string(std::string_view yaml, const std::string& name,
                                          const std::string& base_dir) {
    return finish(detail::read_document(yaml, name, base_dir, process_env()), name);
}

std::shared_ptr<const Config> load_default() {
    return load_string(embedded_default_yaml(), "<embedded default>", ".");
}

}  // namespace portico::conf
