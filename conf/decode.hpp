// Typed reading of tree nodes with FILE:LINE:COL errors that name the key and the expected form.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "conf/address.hpp"
#include "conf/schema.hpp"
#include "conf/tree.hpp"

namespace portico::conf::detail {

[[noreturn]] void fail(const Mark& mark, const std::string& message);

// `node` must be a map (null counts as an empty one) whose keys are all in `allowed`; otherwise
// throws, with a "did you mean" for a near miss. `section` names it in messages ("upstream").
void expect_keys(const Node& node, std::string_view section,
                 std::initializer_list<std::string_view> allowed);

// Calls f(value) when `key` is present in the map `node`.
template <class F>
void with(const Node& node, std::string_view key, F&& f) {
    if (const Node* v = node.find(key)) f(*v);
}

// Each takes the dotted key path used in the message, e.g. "upstream.keepalive".
bool to_bool(const Node& n, std::string_view path);
int to_int(const Node& n, std::string_view path, int min, int max);
double to_number(const Node& n, std::string_view path, double min, double max);
Duration to_duration(const Node& n, std::string_view path, Duration min = Duration{0});
uint64_t to_size(const Node& n, std::string_view path, uint64_t min = 0,
                 uint64_t max = UINT64_MAX);
Rate to_rate(const Node& n, std::string_view path);
std::string to_string(const Node& n, std::string_view path);  // any scalar, not null
std::string to_nonempty_string(const Node& n, std::string_view path);
std::optional<std::string> to_optional_string(const Node& n, std::string_view path);  // null = none
std::string to_enum(const Node& n, std::string_view path,
                    std::initializer_list<std::string_view> choices);
std::vector<std::string> to_string_list(const Node& n, std::string_view path);  // null = empty
Address to_address(const Node& n, std::string_view path, PortZero port_zero);
std::string to_absolute_path(const Node& n, std::string_view path);

}  // namespace portico::conf::detail
