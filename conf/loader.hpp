// Loading the YAML configuration into an immutable Config snapshot, and printing it back.
#pragma once

#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "conf/schema.hpp"

namespace portico::conf {

// Every configuration problem, with the place it was found. what() is "FILE:LINE:COL: message".
class ConfigError : public std::runtime_error {
public:
    ConfigError(Mark mark, const std::string& message);
    const Mark& mark() const { return mark_; }
    const std::string& message() const { return message_; }

private:
    Mark mark_;
    std::string message_;
};

// Reads `path` and everything it includes, substitutes ${VAR} / ${VAR:-default} from the process
// environment, applies PORTICO_WORKERS / PORTICO_LOG_LEVEL, validates every key and value.
// Throws ConfigError naming FILE:LINE:COL.
std::shared_ptr<const Config> load_file(const std::string& path);

// The same from text (tests; the embedded default). `name` stands in for the file name in errors;
// includes are resolved relative to `base_dir`.
std::shared_ptr<const Config> load_string(std::string_view yaml, const std::string& name,
                                          const std::string& base_dir = ".");

// The configuration used when no file exists at the default path.
std::shared_ptr<const Config> load_default();
std::string_view embedded_default_yaml();

// The effective configuration as YAML, secrets (passwords in conninfo, token values) redacted.
std::string to_yaml(const Config& config);

// Human-readable lines for configured parts that this build does not run yet, e.g.
// "cache: parsed and validated, not active yet". `portico -t` prints them; never pretend.
std::vector<std::string> inactive_parts(const Config& config);

}  // namespace portico::conf
