// The YAML document as a small tree whose every node remembers FILE:LINE:COL (internal to conf/).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "conf/env_subst.hpp"
#include "conf/schema.hpp"

namespace YAML {
class Node;
}

namespace portico::conf::detail {

// yaml-cpp's Mark has no file name and includes merge several files into one document, so the
// loader works on this copy, where each node carries its own origin.
struct Entry;
struct Node {
    enum class Kind { null, scalar, map, seq };
    Kind kind = Kind::null;
    std::string text;            // scalar, after ${ENV} substitution
    std::vector<Entry> entries;  // map, in file order
    std::vector<Node> items;     // seq
    Mark mark;

    bool is_null() const { return kind == Kind::null; }
    bool is_scalar() const { return kind == Kind::scalar; }
    bool is_map() const { return kind == Kind::map; }
    bool is_seq() const { return kind == Kind::seq; }
    const Node* find(std::string_view key) const;
    std::string describe() const;  // "a list", "'abc'", … for "got …" in messages
};

struct Entry {
    std::string key;
    Mark key_mark;
    Node value;
};

// Aliases copy what they name, so a small text can stand for a huge tree ("billion laughs") or
// an endless one (an alias inside the node it names): a copy is refused past these bounds, far
// above any real configuration.
inline constexpr int kMaxNodeDepth = 64;
inline constexpr size_t kMaxNodes = 100000;

// Copies a parsed YAML node, substituting ${VAR} in scalars and resolving "<<" merge keys.
// Throws ConfigError for duplicate keys, non-scalar keys, unset variables, an alias inside the
// node it names, and trees deeper than kMaxNodeDepth or larger than kMaxNodes.
Node from_yaml(const YAML::Node& node, const std::string& file, const Mark& fallback,
               const EnvLookup& env);

// Lays `over` on top of `base`: maps merge key by key (recursively), anything else replaces,
// except that an empty (null) value does not wipe a map (an empty `cache:` section adds nothing).
void merge_over(Node& base, Node over);

}  // namespace portico::conf::detail
