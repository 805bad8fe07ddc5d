// Parsing and printing of durations, sizes and rates (see units.hpp for the accepted spellings).
#include "conf/units.hpp"

#include <charconv>
#include <limits>

#include <fmt/format.h>

namespace portico::conf {
namespace {

constexpr std::string_view kDurationHint = "expected a duration like 250ms, 30s, 5m";
constexpr std::string_view kSizeHint = "expected a size like 512, 64KiB, 10MiB, 1GiB";
constexpr std::string_view kRateHint = "expected a rate like 100/s, 6000/m, 10/h";

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Reads the leading decimal digits of `s` into `out`; returns how many characters were used
// (0 when there is no digit or the number does not fit in 64 bits).
size_t read_uint(std::string_view s, uint64_t& out) {
    size_t n = 0;
    while (n < s.size() && is_digit(s[n])) ++n;
    if (n == 0) return 0;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + n, out);
    if (ec != std::errc{} || ptr != s.data() + n) return 0;
    return n;
}

bool mul_overflows(uint64_t a, uint64_t b) {
    return b != 0 && a > std::numeric_limits<uint64_t>::max() / b;
}

struct UnitFactor {
    std::string_view suffix;
    uint64_t factor;
};

// Longest suffixes first where one is a prefix of another ("ms" before "m").
constexpr UnitFactor kDurationUnits[] = {
    {"ms", 1}, {"s", 1000}, {"m", 60'000}, {"h", 3'600'000}, {"d", 86'400'000},
};

constexpr UnitFactor kSizeUnits[] = {
    {"KiB", 1ull << 10}, {"MiB", 1ull << 20}, {"GiB", 1ull << 30}, {"TiB", 1ull << 40},
    {"KB", 1'000}, {"MB", 1'000'000}, {"GB", 1'000'000'000}, {"TB", 1'000'000'000'000},
    {"B", 1}, {"", 1},
};

}  // namespace

Parsed<Duration> parse_duration(std::string_view text) {
    using P = Parsed<Duration>;
    if (text == "0") return P::ok(Duration{0});
    if (text.empty()) return P::fail(fmt::format("{}, got an empty value", kDurationHint));
    // Durations are capped well below the int64 range so that adding them to a clock never wraps.
    constexpr uint64_t kMaxMs = 100ull * 365 * 86'400'000;  // 100 years
    uint64_t total = 0;
    std::string_view rest = text;
    while (!rest.empty()) {
        uint64_t n = 0;
        size_t used = read_uint(rest, n);
        if (used == 0) return P::fail(fmt::format("{}, got '{}'", kDurationHint, text));
        rest.remove_prefix(used);
        const UnitFactor* unit = nullptr;
        for (const auto& u : kDurationUnits) {
            if (rest.substr(0, u.suffix.size()) == u.suffix) {
                unit = &u;
                break;
            }
        }
        if (unit == nullptr) {
            if (rest.empty())  // the common mistake: "30" where "30s" was meant
                return P::fail(fmt::format("{}, got '{}' (a number needs a unit, e.g. {}s)",
                                           kDurationHint, text, text));
            return P::fail(fmt::format("{}, got '{}' (units: ms, s, m, h, d)", kDurationHint, text));
        }
        rest.remove_prefix(unit->suffix.size());
        if (mul_overflows(n, unit->factor) || n * unit->factor > kMaxMs - total)
            return P::fail(fmt::format("duration '{}' is too long (at most 100 years)", text));
        total += n * unit->factor;
    }
    return P::ok(Duration{static_cast<Duration::rep>(total)});
}

Parsed<uint64_t> parse_size(std::string_view text) {
    using P = Parsed<uint64_t>;
    uint64_t n = 0;
    size_t used = read_uint(text, n);
    if (used == 0) {
        if (text.empty()) return P::fail(fmt::format("{}, got an empty value", kSizeHint));
        return P::fail(fmt::format("{}, got '{}'", kSizeHint, text));
    }
    std::string_view suffix = text.substr(used);
    for (const auto& u : kSizeUnits) {
        if (suffix != u.suffix) continue;
        if (mul_overflows(n, u.factor)) return P::fail(fmt::format("size '{}' is too large", text));
        return P::ok(n * u.factor);
    }
    // nginx reads "64k" as 1024 bytes, others as 1000: refuse the ambiguity and say how to write it.
    static constexpr std::string_view kAmbiguous[][3] = {
        {"k", "KiB", "KB"}, {"K", "KiB", "KB"}, {"kb", "KiB", "KB"}, {"kB", "KiB", "KB"},
        {"kib", "KiB", "KB"}, {"m", "MiB", "MB"}, {"M", "MiB", "MB"}, {"mb", "MiB", "MB"},
        {"mib", "MiB", "MB"}, {"g", "GiB", "GB"}, {"G", "GiB", "GB"}, {"gb", "GiB", "GB"},
        {"gib", "GiB", "GB"},
    };
    for (const auto& a : kAmbiguous) {
        if (suffix == a[0])
            return P::fail(fmt::format("{}, got '{}' (write {}{} for powers of 1024 or {}{} for "
                                       "powers of 1000)",
                                       kSizeHint, text, n, a[1], n, a[2]));
    }
    return P::fail(fmt::format("{}, got '{}' (units: B, KiB, MiB, GiB, TiB, KB, MB, GB, TB)",
                               kSizeHint, text));
}

Parsed<Rate> parse_rate(std::string_view text) {
    using P = Parsed<Rate>;
    size_t slash = text.find('/');
    if (slash == std::string_view::npos || slash == 0)
        return P::fail(fmt::format("{}, got '{}'", kRateHint, text));
    std::string_view count = text.substr(0, slash);
    std::string_view unit = text.substr(slash + 1);
    // Digits with at most one decimal point: no signs, exponents or hex, which from_chars would take.
    size_t dots = 0;
    for (char c : count) {
        if (c == '.') ++dots;
        else if (!is_digit(c)) return P::fail(fmt::format("{}, got '{}'", kRateHint, text));
    }
    if (dots > 1 || count.front() == '.' || count.back() == '.')
        return P::fail(fmt::format("{}, got '{}'", kRateHint, text));
    double n = 0;
    auto [ptr, ec] = std::from_chars(count.data(), count.data() + count.size(), n);
    if (ec != std::errc{} || ptr != count.data() + count.size())
        return P::fail(fmt::format("{}, got '{}'", kRateHint, text));
    double seconds = 0;
    if (unit == "s") seconds = 1;
    else if (unit == "m") seconds = 60;
    else if (unit == "h") seconds = 3600;
    else if (unit == "d") seconds = 86400;
    else return P::fail(fmt::format("{}, got '{}' (units: /s, /m, /h, /d)", kRateHint, text));
    if (!(n > 0)) return P::fail(fmt::format("rate '{}' must be positive", text));
    return P::ok(Rate{n / seconds, std::string(text)});
}

std::string format_duration(Duration d) {
    auto ms = d.count();
    if (ms == 0) return "0s";
    static constexpr UnitFactor kLargestFirst[] = {
        {"d", 86'400'000}, {"h", 3'600'000}, {"m", 60'000}, {"s", 1000}, {"ms", 1}};
    for (const auto& u : kLargestFirst) {
        if (ms % static_cast<Duration::rep>(u.factor) == 0)
            return fmt::format("{}{}", ms / static_cast<Duration::rep>(u.factor), u.suffix);
    }
    return fmt::format("{}ms", ms);  // unreachable: factor 1 always divides
}

std::string format_size(uint64_t bytes) {
    if (bytes == 0) return "0";
    static constexpr UnitFactor kLargestFirst[] = {
        {"TiB", 1ull << 40}, {"GiB", 1ull << 30}, {"MiB", 1ull << 20}, {"KiB", 1ull << 10}};
    for (const auto& u : kLargestFirst) {
        if (bytes % u.factor == 0) return fmt::format("{}{}", bytes / u.factor, u.suffix);
    }
    return fmt::format("{}", bytes);
}

}  // namespace portico::conf
