// Monotonic time for durations and timers (nanoseconds from uv_hrtime).
#pragma once

#include <cstdint>
#include <uv.h>

namespace portico::core {

inline uint64_t now_ns() { return uv_hrtime(); }
inline double ns_to_ms(uint64_t ns) { return static_cast<double>(ns) / 1e6; }

}  // namespace portico::core
