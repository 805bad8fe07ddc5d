// The route table: which resolved Route (policy) applies to a request path.
#pragma once

#include <string_view>

#include "conf/schema.hpp"

namespace portico::conf {

// Most specific pattern wins: an exact pattern beats any wildcard; among wildcards the longest
// literal prefix wins; "*" (global_defaults) matches the rest. `path` is the request path without
// the query. Never fails: config.routes always ends with the "*" route.
const Route& match_route(const Config& config, std::string_view path);

}  // namespace portico::conf
