// Building the resolved route table from the policies as written (internal to conf/).
#pragma once

#include <vector>

#include "conf/schema.hpp"

namespace portico::conf::detail {

// One Route per pattern with, underneath its own settings, the global defaults and beneath those
// the top-level compression.enabled/level; sorted exact patterns first, then wildcards by longer
// literal prefix, ending with "*". A route caches only when cache.enabled is also on, since the
// store exists only then.
std::vector<Route> resolve_routes(const Config& config);

}  // namespace portico::conf::detail
