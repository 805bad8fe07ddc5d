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
    Node out;
    out.mark = mark_of(node, file, fallback);
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
        for (const auto& item : node) out.items.push_back(from_yaml(item, file, out.mark, env));
        return out;
    case YAML::NodeType::Map: {
        out.kind = Node::Kind::map;
        std::vector<std::pair<Node, Mark>> merges;
        for (auto it = node.begin(); it != node.end(); ++it) {
            Mark key_mark = mark_of(it->first, file, out.mark);
            if (!it->first.IsScalar())
                throw ConfigError(key_mark, "keys must be plain names, not a list or a map");
            const std::string& key = it->first.Scalar();
            Node value = from_yaml(it->second, file, key_mark, env);
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
