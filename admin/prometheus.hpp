// Prometheus text exposition format 0.0.4 from a metrics snapshot: HELP/TYPE lines, `_total`
// counters, `_seconds` histograms with cumulative `le` buckets, `_sum` and `_count`.
#pragma once

#include <string>
#include <string_view>

#include "core/metrics.hpp"

namespace portico::admin {

constexpr std::string_view kPrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";

// Appends `value` escaped for a label value: backslash, double quote and newline.
void append_label_value(std::string& out, std::string_view value);

// A sample value as the format wants it: integers without a fraction, floats in their shortest
// exact spelling, "+Inf"/"-Inf"/"NaN".
std::string format_sample(double value);

// Every family Portico exports. Route-labelled series appear only once they have counted
// something; cache families only while the cache is active. `version` feeds portico_build_info.
std::string render_prometheus(const core::metrics::Snapshot& snapshot, std::string_view version);

}  // namespace portico::admin
