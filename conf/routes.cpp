// Route lookup on the request path: a linear scan of the pre-sorted table, no allocation.
#include "conf/routes.hpp"

namespace portico::conf {

// Pattern forms (checked at load): "*"; "/exact/path"; "/prefix/*", which matches every path
// starting with "/prefix/" — nginx-like, so "/static/*" matches "/static/" and "/static/a/b" but
// not "/static" (write "/static" as its own exact pattern for that). The path is matched as
// given: normalising it (dot segments, percent-decoding) is the caller's job.
const Route& match_route(const Config& config, std::string_view path) {
    for (const Route& r : config.routes) {
        std::string_view p = r.pattern;
        if (p == "*") return r;
        if (p.back() == '*') {
            if (path.substr(0, p.size() - 1) == p.substr(0, p.size() - 1)) return r;
        } else if (path == p) {
            return r;
        }
    }
    // Only a Config that did not come from the loader has no "*" route; answer the defaults.
    static const Route fallback = [] {
        Route r;
        r.pattern = "*";
        return r;
    }();
    return fallback;
}

}  // namespace portico::conf
