// Durations, sizes and rates as written in portico.yaml: parsing (no exceptions) and printing.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "conf/parsed.hpp"
#include "conf/schema.hpp"

namespace portico::conf {

// "250ms", "30s", "5m", "1h", "7d", compounds such as "1m30s", or a plain "0". Any other bare
// number is refused: "30" could mean seconds or milliseconds, so the unit must be written.
Parsed<Duration> parse_duration(std::string_view text);

// "512" (bytes), "512B"; binary "64KiB", "10MiB", "1GiB", "1TiB" (powers of 1024); decimal "64KB",
// "10MB", "1GB", "1TB" (powers of 1000, as SI and disk vendors mean them). "64k"/"10M" are refused
// with a hint, since nginx reads them as 1024 and others as 1000.
Parsed<uint64_t> parse_size(std::string_view text);

// "100/s", "6000/m", "10/h", "1000/d", "0.5/s"; the count must be positive.
Parsed<Rate> parse_rate(std::string_view text);

// The shortest exact spelling in one unit: 30000ms -> "30s", 90000ms -> "90s", 0 -> "0s".
std::string format_duration(Duration d);

// Binary units when exact (10485760 -> "10MiB"), otherwise plain bytes ("1000").
std::string format_size(uint64_t bytes);

}  // namespace portico::conf
