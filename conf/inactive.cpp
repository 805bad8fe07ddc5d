// inactive_parts(): configured parts this build parses and validates but does not run yet.
#include <algorithm>
#include <functional>

#include "conf/loader.hpp"

namespace portico::conf {

// One row per part; delete a row when its part lands, so `portico -t` never overstates.
std::vector<std::string> inactive_parts(const Config& c) {
    auto any_route = [&](const std::function<bool(const Route&)>& f) {
        return std::any_of(c.routes.begin(), c.routes.end(), f);
    };
    struct Part {
        const char* name;
        bool configured;
    };
    const Part parts[] = {
        {"static routes", any_route([](const Route& r) { return r.static_files.has_value(); })},
    };
    std::vector<std::string> lines;
    for (const Part& p : parts)
        if (p.configured) lines.push_back(std::string(p.name) + ": parsed and validated, not active yet");
    return lines;
}

}  // namespace portico::conf
