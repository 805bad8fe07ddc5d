// Typed value readers: every failure says which key, what was expected and what was found.
#include "conf/decode.hpp"

#include <charconv>
#include <cmath>

#include <fmt/format.h>

#include "conf/loader.hpp"
#include "conf/suggest.hpp"
#include "conf/units.hpp"

namespace portico::conf::detail {
namespace {

const Node& expect_scalar(const Node& n, std::string_view path, std::string_view expected) {
    if (!n.is_scalar()) fail(n.mark, fmt::format("{}: expected {}, got {}", path, expected, n.describe()));
    return n;
}

}  // namespace

void fail(const Mark& mark, const std::string& message) { throw ConfigError(mark, message); }

void expect_keys(const Node& node, std::string_view section,
                 std::initializer_list<std::string_view> allowed) {
    if (node.is_null()) return;
    if (!node.is_map())
        fail(node.mark, fmt::format("{}: expected a map of settings, got {}", section, node.describe()));
    for (const Entry& e : node.entries) {
        bool known = false;
        for (std::string_view a : allowed) known = known || a == e.key;
        if (known) continue;
        std::string where = section.empty() ? std::string("at the top level")
                                            : fmt::format("in {}", section);
        std::string hint = closest_match(e.key, allowed);
        if (hint.empty())
            fail(e.key_mark, fmt::format("unknown key '{}' {}", e.key, where));
        fail(e.key_mark, fmt::format("unknown key '{}' {}; did you mean '{}'?", e.key, where, hint));
    }
}

bool to_bool(const Node& n, std::string_view path) {
    // YAML 1.1 spellings, as yaml-cpp reads them, so `enabled: off` works as people expect.
    static constexpr std::string_view kTrue[] = {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON"};
    static constexpr std::string_view kFalse[] = {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF"};
    if (n.is_scalar()) {
        for (auto t : kTrue) if (n.text == t) return true;
        for (auto f : kFalse) if (n.text == f) return false;
    }
    fail(n.mark, fmt::format("{}: expected true or false, got {}", path, n.describe()));
}

int to_int(const Node& n, std::string_view path, int min, int max) {
    expect_scalar(n, path, fmt::format("a whole number {}..{}", min, max));
    long long v = 0;
    auto [ptr, ec] = std::from_chars(n.text.data(), n.text.data() + n.text.size(), v);
    if (n.text.empty() || ec != std::errc{} || ptr != n.text.data() + n.text.size() || v < min ||
        v > max)
        fail(n.mark, fmt::format("{}: expected a whole number {}..{}, got {}", path, min, max, n.describe()));
    return static_cast<int>(v);
}

double to_number(const Node& n, std::string_view path, double min, double max) {
    expect_scalar(n, path, fmt::format("a number {}..{}", min, max));
    double v = 0;
    auto [ptr, ec] = std::from_chars(n.text.data(), n.text.data() + n.text.size(), v);
    if (n.text.empty() || ec != std::errc{} || ptr != n.text.data() + n.text.size() ||
        !std::isfinite(v) || v < min || v > max)
        fail(n.mark, fmt::format("{}: expected a number {}..{}, got {}", path, min, max, n.describe()));
    return v;
}

Duration to_duration(const Node& n, std::string_view path, Duration min) {
    expect_scalar(n, path, "a duration like 250ms, 30s, 5m");
    auto d = parse_duration(n.text);
    if (!d) fail(n.mark, fmt::format("{}: {}", path, d.error));
    if (*d < min)
        fail(n.mark, fmt::format("{}: must be at least {}, got '{}'", path, format_duration(min), n.text));
    return *d;
}

uint64_t to_size(const Node& n, std::string_view path, uint64_t min, uint64_t max) {
    expect_scalar(n, path, "a size like 512, 64KiB, 10MiB, 1GiB");
    auto s = parse_size(n.text);
    if (!s) fail(n.mark, fmt::format("{}: {}", path, s.error));
    if (*s < min || *s > max)
        fail(n.mark, fmt::format("{}: must be {}..{}, got '{}'", path, format_size(min),
                                 format_size(max), n.text));
    return *s;
}

Rate to_rate(const Node& n, std::string_view path) {
    expect_scalar(n, path, "a rate like 100/s, 6000/m, 10/h");
    auto r = parse_rate(n.text);
    if (!r) fail(n.mark, fmt::format("{}: {}", path, r.error));
    return *r;
}

std::string to_string(const Node& n, std::string_view path) {
    return expect_scalar(n, path, "a string").text;
}

std::string to_nonempty_string(const Node& n, std::string_view path) {
    std::string s = to_string(n, path);
    if (s.empty()) fail(n.mark, fmt::format("{}: must not be empty", path));
    return s;
}

std::optional<std::string> to_optional_string(const Node& n, std::string_view path) {
    if (n.is_null()) return std::nullopt;
    return to_string(n, path);
}

std::string to_enum(const Node& n, std::string_view path,
                    std::initializer_list<std::string_view> choices) {
    std::string list;
    for (std::string_view c : choices) list += (list.empty() ? "" : " | ") + std::string(c);
    expect_scalar(n, path, "one of " + list);
    for (std::string_view c : choices)
        if (n.text == c) return n.text;
    std::string hint = closest_match(n.text, choices);
    fail(n.mark, fmt::format("{}: expected one of {}, got '{}'{}", path, list, n.text,
                             hint.empty() ? "" : fmt::format("; did you mean '{}'?", hint)));
}

std::vector<std::string> to_string_list(const Node& n, std::string_view path) {
    std::vector<std::string> out;
    if (n.is_null()) return out;
    if (!n.is_seq()) fail(n.mark, fmt::format("{}: expected a list, got {}", path, n.describe()));
    for (const Node& item : n.items) out.push_back(to_nonempty_string(item, path));
    return out;
}

Address to_address(const Node& n, std::string_view path, PortZero port_zero) {
    expect_scalar(n, path, "an address like 127.0.0.1:8080, [::1]:8080 or unix:/path");
    auto a = parse_address(n.text, port_zero);
    if (!a) fail(n.mark, fmt::format("{}: {}", path, a.error));
    return *a;
}

std::string to_absolute_path(const Node& n, std::string_view path) {
    std::string s = to_nonempty_string(n, path);
    if (s.front() != '/') fail(n.mark, fmt::format("{}: must be an absolute path, got '{}'", path, s));
    return s;
}

}  // namespace portico::conf::detail
