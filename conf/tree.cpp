// Building the origin-tracking tree from yaml-cpp nodes, and merging trees for include:.
#include "conf/tree.hpp"

#include <yaml-cpp/yaml.h>

#include <fmt/format.h>

#include "conf/loader.hpp"

namespace portico::conf::detail {
namespace {

Mark mark_of(const YAML::Node& node, const std::string& file, const Mark& fallback) {
    YAML::Mark m = node.Mark();
    if (m.is_null()) return fallback;
    return Mark{file, m.line + 1, m.column + 1};
}

void add_merged(std::vector<Entry>& entries, const Node& source, const Mark& where) {
    // YAML 1.1 merge key: keys written in the map itself win over merged ones.
    if (!source.is_map())
        throw ConfigError(where, "'<<' merges a map or a list of maps, got " + source.describe());
    for (const Entry& e : source.entries) {
        bool present = false;
        for (const Entry& mine : entries) present = present || mine.key == e.key;
        if (!present) entries.push_back(e);
    }
}

// The copy in progress: the YAML nodes being copied (outermost first) and how many were copied.
struct Copy {
    const std::string& file;
    const EnvLookup& env;
    std::vector<YAML::Node> path;
    size_t nodes = 0;
};

Node copy_node(const YAML::Node& node, const Mark& fallback, Copy& c);

}  // namespace

const Node* Node::find(std::string_view key) const {
    for (const Entry& e : entries)
        if (e.key == key) return &e.value;
    return nullptr;
}

std::string Node::describe() const {
    switch (kind) {
    case Kind::null: return "nothing (null)";
    case Kind::scalar: return fmt::format("'{}'", text);
    case Kind::map: return "a map";
    case Kind::seq: return "a list";
    }
    return "?";
}

Node from_yaml(const YAML::Node& node, const std::string& file, const Mark& fallback,
               const EnvLookup& env) {
    Copy c{file, env, {}, 0};
    return copy_node(node, fallback, c);
}

namespace {

Node copy_node(const YAML::Node& node, const Mark& fallback, Copy& c) {
    const std::string& file = c.file;
    const EnvLookup& env = c.env;
    Node out;
    out.mark = mark_of(node, file, fallback);
    // Found by fuzz_conf_loader: "a: &x [*x]" recursed until the stack ran out, so a reload of such
    // a file killed the process. yaml-cpp builds the alias as the very node that holds it.
    for (const YAML::Node& above : c.path) {
        if (above.is(node)) throw ConfigError(out.mark, "an alias (*name) refers to a node that contains it");
    }
    if (c.path.size() >= size_t(kMaxNodeDepth))
        throw ConfigError(out.mark, fmt::format("nested more than {} levels deep", kMaxNodeDepth));
    if (++c.nodes > kMaxNodes)
        throw ConfigError(out.mark, fmt::format("more than {} values once aliases are expanded", kMaxNodes));
    if (node.IsSequence() || node.IsMap()) c.path.push_back(node);
    struct Pop {
        Copy& c;
        bool pop;
        ~Pop() {
            if (pop) c.path.pop_back();
        }
    } pop{c, node.IsSequence() || node.IsMap()};
    switch (node.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
        // yaml-cpp places an empty value at the next token, often on the next line; the key's
        // position (the fallback) is where a reader looks.
        out.mark = fallback;
        return out;
    case YAML::NodeType::Scalar: {
        out.kind = Node::Kind::scalar;
        const std::string& raw = node.Scalar();
        SubstResult r = substitute_env(raw, env);
        if (!r.value) {
            Mark at = out.mark;
            // On a single line the column of "${" is exact for plain scalars; quoted ones ("!"
            // tag in yaml-cpp) start one column later, escapes aside.
            if (raw.find('\n') == std::string::npos)
                at.column += static_cast<int>(r.error_offset) + (node.Tag() == "!" ? 1 : 0);
            throw ConfigError(at, r.error);
        }
        out.text = std::move(*r.value);
        return out;
    }
    case YAML::NodeType::Sequence:
        out.kind = Node::Kind::seq;
        for (const auto& item : node) out.items.push_back(copy_node(item, out.mark, c));
        return out;
    case YAML::NodeType::Map: {
        out.kind = Node::Kind::map;
        std::vector<std::pair<Node, Mark>> merges;
        for (auto it = node.begin(); it != node.end(); ++it) {
            Mark key_mark = mark_of(it->first, file, out.mark);
            if (!it->first.IsScalar())
                throw ConfigError(key_mark, "keys must be plain names, not a list or a map");
            const std::string& key = it->first.Scalar();
            Node value = copy_node(it->second, key_mark, c);
            if (key == "<<") {
                merges.emplace_back(std::move(value), key_mark);
                continue;
            }
            for (const Entry& e : out.entries) {
                if (e.key == key)
                    throw ConfigError(key_mark, fmt::format("duplicate key '{}' (first at line {}, "
                                                            "column {})",
                                                            key, e.key_mark.line, e.key_mark.column));
            }
            out.entries.push_back(Entry{key, key_mark, std::move(value)});
        }
        for (const auto& [source, where] : merges) {
            if (source.is_seq()) {
                for (const Node& m : source.items) add_merged(out.entries, m, where);
            } else {
                add_merged(out.entries, source, where);
            }
        }
        return out;
    }
    }
    return out;
}

}  // namespace

void merge_over(Node& base, Node over) {
    if (base.is_map() && over.is_null()) return;
    if (!base.is_map() || !over.is_map()) {
        base = std::move(over);
        return;
    }
    for (Entry& e : over.entries) {
        Entry* mine = nullptr;
        for (Entry& b : base.entries)
            if (b.key == e.key) mine = &b;
        if (mine == nullptr) {
            base.entries.push_back(std::move(e));
        } else {
            mine->key_mark = e.key_mark;
            merge_over(mine->value, std::move(e.value));
        }
    }
}

}  // namespace portico::conf::detail
