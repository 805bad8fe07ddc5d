// `portico ctl … --json` for the two answers that are not JSON on the wire: /metrics (Prometheus
// text) and /config (YAML). Scripts get one JSON document from every command.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace portico::admin {

// Prometheus text exposition 0.0.4 as {"<family>": {"type", "help", "samples": [{"name", "labels",
// "value"}]}}, families in their order of appearance. A value that JSON cannot hold (NaN, ±Inf)
// becomes the string Prometheus writes ("NaN", "+Inf", "-Inf"). nullopt and `error` ("line N:
// …") when a line is not exposition text.
std::optional<nlohmann::json> exposition_to_json(std::string_view text, std::string& error);

// A YAML document as JSON: maps, sequences, and plain scalars typed as YAML 1.2's core schema
// reads them (null, true/false, integers, floats; anything else, and every quoted scalar, a
// string). nullopt and `error` when it is not YAML.
std::optional<nlohmann::json> yaml_to_json(std::string_view text, std::string& error);

}  // namespace portico::admin
