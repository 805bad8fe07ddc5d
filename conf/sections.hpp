// Turning the merged tree into Config, section by section, validating as it goes (internal).
#pragma once

#include "conf/includes.hpp"
#include "conf/schema.hpp"

namespace portico::conf::detail {

// Fills every field of Config written in `doc` (others keep schema.hpp's defaults) and checks
// each value and the cross-field rules. Leaves workers unresolved and routes unbuilt. Throws
// ConfigError.
Config decode_config(const Document& doc);

// `workers:` and PORTICO_WORKERS share one rule: "auto" or 1..1024.
constexpr int kMaxWorkers = 1024;
void decode_workers(const Node& n, std::string_view path, Config& c);

}  // namespace portico::conf::detail
