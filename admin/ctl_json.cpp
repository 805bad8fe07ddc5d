// JSON forms of /metrics and /config for `portico ctl --json`; see ctl_json.hpp.
#include "admin/ctl_json.hpp"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <regex>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

namespace portico::admin {

using nlohmann::json;

namespace {

bool is_name_char(char c, bool first) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' || (!first && c >= '0' && c <= '9');
}

// Reads a metric or label name at `at`; "" when there is none.
std::string_view read_name(std::string_view line, size_t& at) {
    size_t start = at;
    while (at < line.size() && is_name_char(line[at], at == start)) ++at;
    return line.substr(start, at - start);
}

// The labels of a sample from just after '{' to just after '}'; false when malformed.
bool read_labels(std::string_view line, size_t& at, json& labels, std::string& error) {
    while (true) {
        while (at < line.size() && (line[at] == ' ' || line[at] == ',')) ++at;
        if (at < line.size() && line[at] == '}') {
            ++at;
            return true;
        }
        std::string_view name = read_name(line, at);
        if (name.empty() || at + 1 >= line.size() || line[at] != '=' || line[at + 1] != '"') {
            error = "a label must be name=\"value\"";
            return false;
        }
        at += 2;
        std::string value;
        while (at < line.size() && line[at] != '"') {
            if (line[at] == '\\' && at + 1 < line.size()) {
                ++at;
                value.push_back(line[at] == 'n' ? '\n' : line[at]);
            } else {
                value.push_back(line[at]);
            }
            ++at;
        }
        if (at >= line.size()) {
            error = "unterminated label value";
            return false;
        }
        ++at;  // the closing quote
        labels[std::string(name)] = std::move(value);
    }
}

// A sample value; NaN and the infinities as Prometheus spells them.
std::optional<json> read_value(std::string_view text) {
    if (text == "NaN" || text == "+Inf" || text == "-Inf") return json(std::string(text));
    std::string s(text);
    char* end = nullptr;
    errno = 0;
    double v = std::strtod(s.c_str(), &end);
    if (s.empty() || end != s.c_str() + s.size() || errno == ERANGE || !std::isfinite(v)) return std::nullopt;
    if (v == std::floor(v) && std::fabs(v) < 9.0e15) return json(static_cast<int64_t>(v));
    return json(v);
}

// The family a sample belongs to: histogram and summary samples carry a suffix.
std::string family_of(const json& families, const std::string& sample) {
    if (families.contains(sample)) return sample;
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
        std::string_view s(suffix);
        if (sample.size() > s.size() && sample.compare(sample.size() - s.size(), s.size(), s) == 0) {
            std::string base = sample.substr(0, sample.size() - s.size());
            if (families.contains(base)) return base;
        }
    }
    return sample;
}

json& family(json& families, const std::string& name) {
    if (!families.contains(name)) families[name] = {{"type", "untyped"}, {"help", ""}, {"samples", json::array()}};
    return families[name];
}

}  // namespace

std::optional<json> exposition_to_json(std::string_view text, std::string& error) {
    json families = json::object();
    size_t number = 0;
    while (!text.empty()) {
        size_t end = text.find('\n');
        std::string_view line = text.substr(0, end);
        text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
        ++number;
        if (line.empty()) continue;
        auto fail = [&](std::string_view why) {
            error = fmt::format("line {}: {}: {:.80}", number, why, line);
            return std::nullopt;
        };
        if (line[0] == '#') {
            // "# HELP name text" and "# TYPE name type"; other comments are ignored.
            for (std::string_view keyword : {"# HELP ", "# TYPE "}) {
                if (line.rfind(keyword, 0) != 0) continue;
                size_t at = keyword.size();
                std::string name(read_name(line, at));
                if (name.empty()) return fail("a comment names no metric");
                std::string_view rest = at < line.size() ? line.substr(at + 1) : std::string_view();
                family(families, name)[keyword == "# HELP " ? "help" : "type"] = std::string(rest);
            }
            continue;
        }
        size_t at = 0;
        std::string name(read_name(line, at));
        if (name.empty()) return fail("not a sample");
        json labels = json::object();
        if (at < line.size() && line[at] == '{') {
            ++at;
            std::string why;
            if (!read_labels(line, at, labels, why)) return fail(why);
        }
        if (at >= line.size() || line[at] != ' ') return fail("no value");
        std::string_view rest = line.substr(at + 1);
        std::optional<json> value = read_value(rest.substr(0, rest.find(' ')));  // a timestamp may follow
        if (!value) return fail("the value is not a number");
        family(families, family_of(families, name))["samples"].push_back(
            {{"name", name}, {"labels", std::move(labels)}, {"value", std::move(*value)}});
    }
    return families;
}

namespace {

json scalar(const YAML::Node& node) {
    const std::string& s = node.Scalar();
    if (node.Tag() == "!") return s;  // quoted: a string whatever it looks like
    static const std::regex null_re("~|null|Null|NULL|");
    static const std::regex bool_re("true|True|TRUE|false|False|FALSE");
    static const std::regex int_re("[-+]?[0-9]+");
    static const std::regex float_re(R"([-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?)");
    if (std::regex_match(s, null_re)) return nullptr;
    if (std::regex_match(s, bool_re)) return s[0] == 't' || s[0] == 'T';
    if (std::regex_match(s, int_re)) {
        errno = 0;
        long long v = std::strtoll(s.c_str(), nullptr, 10);
        if (errno != ERANGE) return v;
    }
    if (std::regex_match(s, float_re)) return std::strtod(s.c_str(), nullptr);
    return s;
}

json convert(const YAML::Node& node) {
    switch (node.Type()) {
        case YAML::NodeType::Map: {
            json out = json::object();
            for (const auto& kv : node) out[kv.first.as<std::string>()] = convert(kv.second);
            return out;
        }
        case YAML::NodeType::Sequence: {
            json out = json::array();
            for (const auto& item : node) out.push_back(convert(item));
            return out;
        }
        case YAML::NodeType::Scalar:
            return scalar(node);
        default:
            return nullptr;
    }
}

}  // namespace

std::optional<json> yaml_to_json(std::string_view text, std::string& error) {
    try {
        return convert(YAML::Load(std::string(text)));
    } catch (const std::exception& e) {
        error = e.what();
        return std::nullopt;
    }
}

}  // namespace portico::admin
