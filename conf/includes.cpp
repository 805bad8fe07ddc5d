// include: handling — files and globs relative to the including file, merged in order, no cycles.
#include "conf/includes.hpp"

#include <glob.h>
#include <sys/stat.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>

#include <fmt/format.h>
#include <yaml-cpp/eventhandler.h>
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

// Where the second document of a stream starts (its first node), if there is one. Only events are
// looked at, and at most two documents: yaml-cpp 0.7's LoadAll never returns on some malformed
// streams (", a": each document it reads consumes nothing, and it reads them until memory runs out
// — found by fuzz_conf_loader), so the loader reads the first document with Load and only asks
// whether a second one follows.
class SecondDocument : public YAML::EventHandler {
public:
    std::optional<YAML::Mark> find(const std::string& text) {
        std::istringstream in(text);
        YAML::Parser parser(in);
        while (documents_ < 2 && parser.HandleNextDocument(*this)) {
        }
        if (documents_ < 2) return std::nullopt;
        return first_node_;
    }

    void OnDocumentStart(const YAML::Mark& mark) override {
        if (++documents_ == 2) first_node_ = mark;
    }
    void OnDocumentEnd() override {}
    void OnNull(const YAML::Mark& mark, YAML::anchor_t) override { node(mark); }
    void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override { node(mark); }
    void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t, const std::string&) override { node(mark); }
    void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
        node(mark);
    }
    void OnSequenceEnd() override {}
    void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
        node(mark);
    }
    void OnMapEnd() override {}

private:
    void node(const YAML::Mark& mark) {
        if (documents_ == 2 && !seen_node_) {
            seen_node_ = true;
            first_node_ = mark;
        }
    }

    int documents_ = 0;
    bool seen_node_ = false;
    YAML::Mark first_node_ = YAML::Mark::null_mark();
};

Node parse(std::string_view yaml, const std::string& name, const EnvLookup& env) {
    std::string text(yaml);
    YAML::Node doc;
    std::optional<YAML::Mark> second;
    try {
        doc = YAML::Load(text);
        second = SecondDocument().find(text);
    } catch (const YAML::Exception& e) {
        // Syntax errors: yaml-cpp's mark is 0-based; what() would repeat it in its own format.
        int line = e.mark.is_null() ? 1 : e.mark.line + 1;
        int column = e.mark.is_null() ? 1 : e.mark.column + 1;
        throw ConfigError(Mark{name, line, column}, e.msg);
    }
    Mark top{name, 1, 1};
    if (second) {
        Mark at = second->is_null() ? top : Mark{name, second->line + 1, second->column + 1};
        throw ConfigError(at, "a configuration file holds one YAML document; use include: for more");
    }
    Node root = from_yaml(doc, name, top, env);
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
