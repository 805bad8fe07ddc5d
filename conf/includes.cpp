// include: handling — files and globs relative to the including file, merged in order, no cycles.
#include "conf/includes.hpp"

#include <glob.h>
#include <sys/stat.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "conf/loader.hpp"

namespace portico::conf::detail {
namespace {

struct State {
    const EnvLookup& env;
    Document doc;
    std::vector<std::string> stack;  // canonical paths of the files being read, for cycle errors
    std::vector<std::string> stack_names;
};

std::string canonical(const std::string& path) {
    char buf[PATH_MAX];
    if (realpath(path.c_str(), buf) == nullptr) return path;
    return buf;
}

// Reads a regular file; on failure returns false with `error` set to the reason.
bool read_file(const std::string& path, std::string& out, std::string& error) {
    struct stat st {};
    if (stat(path.c_str(), &st) != 0) {
        error = std::strerror(errno);
        return false;
    }
    if (!S_ISREG(st.st_mode)) {
        error = "not a regular file";
        return false;
    }
    std::ifstream in(path, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    if (!in) {
        error = std::strerror(errno);
        return false;
    }
    out = ss.str();
    return true;
}

bool has_glob_chars(const std::string& s) { return s.find_first_of("*?[") != std::string::npos; }

Node parse(std::string_view yaml, const std::string& name, const EnvLookup& env) {
    std::vector<YAML::Node> docs;
    try {
        docs = YAML::LoadAll(std::string(yaml));
    } catch (const YAML::Exception& e) {
        // Syntax errors: yaml-cpp's mark is 0-based; what() would repeat it in its own format.
        int line = e.mark.is_null() ? 1 : e.mark.line + 1;
        int column = e.mark.is_null() ? 1 : e.mark.column + 1;
        throw ConfigError(Mark{name, line, column}, e.msg);
    }
    Mark top{name, 1, 1};
    if (docs.size() > 1) {
        YAML::Mark m = docs[1].Mark();
        Mark at = m.is_null() ? top : Mark{name, m.line + 1, m.column + 1};
        throw ConfigError(at, "a configuration file holds one YAML document; use include: for more");
    }
    if (docs.empty()) {
        Node empty;
        empty.kind = Node::Kind::map;
        empty.mark = top;
        return empty;
    }
    Node root = from_yaml(docs[0], name, top, env);
    if (root.is_null()) {
        root.kind = Node::Kind::map;
        return root;
    }
    if (!root.is_map())
        throw ConfigError(root.mark, "expected a map of settings (key: value) at the top of the "
                                     "file, got " + root.describe());
    return root;
}

Node read_text(State& st, std::string_view yaml, const std::string& name, const std::string& dir);

void include_one(State& st, const std::string& path, const Node& where, Node& into) {
    std::string canon = canonical(path);
    for (size_t i = 0; i < st.stack.size(); ++i) {
        if (st.stack[i] != canon) continue;
        std::string chain;
        for (size_t j = i; j < st.stack_names.size(); ++j) chain += st.stack_names[j] + " -> ";
        throw ConfigError(where.mark, fmt::format("include cycle: {}{}", chain, path));
    }
    std::string text, error;
    if (!read_file(path, text, error))
        throw ConfigError(where.mark, fmt::format("cannot read included file '{}': {}", path, error));
    st.stack.push_back(canon);
    st.stack_names.push_back(path);
    Node child = read_text(st, text, path, dir_of(path));
    st.stack.pop_back();
    st.stack_names.pop_back();
    merge_over(into, std::move(child));
}

void include_pattern(State& st, const Node& item, const std::string& dir, Node& into) {
    if (!item.is_scalar() || item.text.empty())
        throw ConfigError(item.mark, "include: expected a file name or glob, got " + item.describe());
    std::string pattern = join_path(dir, item.text);
    if (!has_glob_chars(item.text)) {
        include_one(st, pattern, item, into);
        return;
    }
    glob_t g{};
    int rc = glob(pattern.c_str(), GLOB_MARK, nullptr, &g);
    std::vector<std::string> matches;
    if (rc == 0) {
        for (size_t i = 0; i < g.gl_pathc; ++i) {
            std::string m = g.gl_pathv[i];
            if (!m.empty() && m.back() != '/') matches.push_back(m);  // GLOB_MARK: skip directories
        }
    }
    globfree(&g);
    // No match is fine: an empty conf.d/ is the normal case.
    if (rc != 0 && rc != GLOB_NOMATCH)
        throw ConfigError(item.mark, fmt::format("cannot expand include pattern '{}'", pattern));
    for (const std::string& m : matches) include_one(st, m, item, into);  // glob() sorts them
}

Node read_text(State& st, std::string_view yaml, const std::string& name, const std::string& dir) {
    if (st.doc.dirs.emplace(name, dir).second) st.doc.files.push_back(name);
    Node root = parse(yaml, name, st.env);
    Node includes;
    for (auto it = root.entries.begin(); it != root.entries.end(); ++it) {
        if (it->key == "include") {
            includes = std::move(it->value);
            root.entries.erase(it);
            break;
        }
    }
    if (includes.is_scalar()) {
        include_pattern(st, includes, dir, root);
    } else if (includes.is_seq()) {
        for (const Node& item : includes.items) include_pattern(st, item, dir, root);
    } else if (!includes.is_null()) {
        throw ConfigError(includes.mark, "include: expected a file name, a glob or a list of them, "
                                         "got " + includes.describe());
    }
    return root;
}

}  // namespace

std::string dir_of(const std::string& path) {
    size_t slash = path.rfind('/');
    if (slash == std::string::npos) return ".";
    if (slash == 0) return "/";
    return path.substr(0, slash);
}

std::string join_path(const std::string& dir, const std::string& path) {
    if (path.empty() || path.front() == '/' || dir == "." || dir.empty()) return path;
    if (dir.back() == '/') return dir + path;
    return dir + "/" + path;
}

Document read_document(std::string_view yaml, const std::string& name, const std::string& dir,
                       const EnvLookup& env) {
    State st{env, {}, {}, {}};
    st.doc.root = read_text(st, yaml, name, dir);
    return std::move(st.doc);
}

Document read_document_file(const std::string& path, const EnvLookup& env) {
    std::string text, error;
    if (!read_file(path, text, error))
        throw ConfigError(Mark{path, 1, 1}, fmt::format("cannot read configuration file: {}", error));
    State st{env, {}, {canonical(path)}, {path}};
    st.doc.root = read_text(st, text, path, dir_of(path));
    return std::move(st.doc);
}

}  // namespace portico::conf::detail
