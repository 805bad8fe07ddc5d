// ${VAR} and ${VAR:-default} substitution in configuration values.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace portico::conf {

// Answers the value of an environment variable, or nullopt when it is unset. Injected so that
// tests do not have to touch the process environment.
using EnvLookup = std::function<std::optional<std::string>(std::string_view name)>;

// The real process environment (getenv).
EnvLookup process_env();

struct SubstResult {
    std::optional<std::string> value;
    std::string error;        // empty on success
    size_t error_offset = 0;  // where in the input the offending "${" starts
};

// Replaces every ${NAME} with the variable's value (an unset NAME is an error) and every
// ${NAME:-default} with the value, or `default` when NAME is unset or empty (as in sh).
// NAME is [A-Za-z_][A-Za-z0-9_]*. "$${" writes a literal "${"; any other '$' is kept as is, so
// passwords with a '$' need no escaping. Substituted text is not scanned again.
SubstResult substitute_env(std::string_view text, const EnvLookup& lookup);

}  // namespace portico::conf
