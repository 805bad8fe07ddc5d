// Fuzz target: the configuration loader (conf/loader.cpp: yaml-cpp → merged tree with include: and
// ${ENV} → validated Config → route table) from a YAML string, and the pool's userlist file
// (pool/userlist.cpp). Either a clear error (ConfigError with FILE:LINE:COL; false with a message for
// the userlist) or a result — never another exception, never a crash. A loaded Config must print
// (to_yaml) as YAML that loads again and prints the same: what `portico -t` and GET /config show is
// a configuration that means the same thing.
//
// include: reaches only a temporary directory holding a few fixture files (a valid fragment, a
// cycle, a syntax error): an input whose include could name anything outside it (a '/', "..", or a
// '$' that ${ENV} substitution could turn into either) is skipped, so a run never reads the
// machine's files (a glob like /*/* would reach /proc/kmsg, whose read blocks).
//
// Input: flags, split (fuzz_support.hpp; split unused), then the text.
//   flags & 1: the text is a userlist (auth_file) instead of a configuration.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <yaml-cpp/yaml.h>

#include "conf/loader.hpp"
#include "pool/userlist.hpp"
#include "tests/fuzz/fuzz_support.hpp"

namespace {

std::string g_dir;

void remove_fixtures() {
    std::error_code ec;
    if (!g_dir.empty()) std::filesystem::remove_all(g_dir, ec);
}

void write(const std::string& name, std::string_view text) {
    std::ofstream(g_dir + "/" + name, std::ios::binary) << text;
}

// Any scalar (key or value) anywhere in the document equal to "include" makes every scalar suspect:
// the loader only reads a top-level include:, but a merge key (<<) can bring one up from anywhere.
// An alias may refer to a node that holds it ("a: &x [*x]"): such a graph is walked once per node on
// the current path.
bool include_stays_inside(const YAML::Node& node, bool& has_include, bool& outside,
                          std::vector<YAML::Node>& path) {
    for (const YAML::Node& above : path) {
        if (above.is(node)) return !(has_include && outside);
    }
    path.push_back(node);
    switch (node.Type()) {
        case YAML::NodeType::Scalar: {
            const std::string& s = node.Scalar();
            if (s == "include") has_include = true;
            if (s.find('/') != std::string::npos || s.find("..") != std::string::npos ||
                s.find('$') != std::string::npos) {
                outside = true;
            }
            break;
        }
        case YAML::NodeType::Sequence:
            for (const auto& item : node) include_stays_inside(item, has_include, outside, path);
            break;
        case YAML::NodeType::Map:
            for (const auto& kv : node) {
                include_stays_inside(kv.first, has_include, outside, path);
                include_stays_inside(kv.second, has_include, outside, path);
            }
            break;
        default:
            break;
    }
    path.pop_back();
    return !(has_include && outside);
}

// The first document only (the loader refuses a second one before any include), read with Load:
// yaml-cpp's LoadAll never returns on some inputs (see conf/includes.cpp).
bool safe_to_load(const std::string& text) {
    YAML::Node doc;
    try {
        doc = YAML::Load(text);
    } catch (const YAML::Exception&) {
        return true;  // the loader stops at the same syntax error, before any include
    }
    bool has_include = false, outside = false;
    std::vector<YAML::Node> path;
    include_stays_inside(doc, has_include, outside, path);
    return !(has_include && outside);
}

void check_error(const portico::conf::ConfigError& e) {
    FUZZ_CHECK(e.mark().line >= 1 && e.mark().column >= 1);
    FUZZ_CHECK(!e.mark().file.empty());
    FUZZ_CHECK(!e.message().empty());
    std::string what = e.what();
    FUZZ_CHECK(what.rfind(e.mark().file + ":", 0) == 0);
}

// Without the "# …" header lines, which name the files read.
std::string body_of(std::string printed) {
    std::string out;
    size_t at = 0;
    while (at < printed.size()) {
        size_t nl = printed.find('\n', at);
        std::string line = printed.substr(at, nl == std::string::npos ? std::string::npos : nl - at + 1);
        if (line.rfind("#", 0) != 0) out += line;
        if (nl == std::string::npos) break;
        at = nl + 1;
    }
    return out;
}

void load_config(const std::string& text) {
    if (!safe_to_load(text)) return;
    std::shared_ptr<const portico::conf::Config> config;
    try {
        config = portico::conf::load_string(text, "fuzz.yaml", g_dir);
    } catch (const portico::conf::ConfigError& e) {
        check_error(e);
        return;
    }
    FUZZ_CHECK(config != nullptr);
    (void)portico::conf::inactive_parts(*config);
    std::string printed = portico::conf::to_yaml(*config);
    std::shared_ptr<const portico::conf::Config> again;
    try {
        again = portico::conf::load_string(printed, "printed.yaml", g_dir);
    } catch (const portico::conf::ConfigError& e) {
        std::fprintf(stderr, "the printed configuration does not load: %s\n%s\n", e.what(), printed.c_str());
        FUZZ_CHECK(false);
    }
    std::string reprinted = portico::conf::to_yaml(*again);
    if (body_of(reprinted) != body_of(printed)) {
        std::fprintf(stderr, "printed:\n%s\nreprinted:\n%s\n", printed.c_str(), reprinted.c_str());
    }
    FUZZ_CHECK(body_of(reprinted) == body_of(printed));
}

void load_userlist(std::string_view text) {
    portico::pool::Userlist list;
    std::string error;
    if (!portico::pool::parse_userlist(text, "userlist.txt", list, error)) {
        FUZZ_CHECK(error.rfind("userlist.txt:", 0) == 0);
        return;
    }
    for (const auto& [user, secret] : list.secrets) {
        FUZZ_CHECK(!user.empty());
        FUZZ_CHECK(list.find(user) == &secret);
        (void)portico::pool::secret_kind(secret);
    }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    char dir[] = "/tmp/portico-fuzz-conf-XXXXXX";
    if (mkdtemp(dir) == nullptr) std::abort();
    g_dir = dir;
    std::atexit(remove_fixtures);
    write("extra.yaml", "log:\n  level: debug\nlimits:\n  max_body_bytes: 1MiB\n");
    write("routes.yaml", "routes:\n  patterns:\n    /api/*: {timeout: 5s, cache: {ttl: 30s}}\n");
    write("cycle.yaml", "include: cycle.yaml\n");
    write("bad.yaml", "workers: [1, 2\n");
    write("empty.yaml", "");
    write("list.yml", "- a\n- b\n");
    // The environment a run sees, whatever the machine's: these take part in ${VAR} substitution.
    setenv("PORTICO_FUZZ_PORT", "8080", 1);
    unsetenv("PORTICO_WORKERS");
    unsetenv("PORTICO_LOG_LEVEL");
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    portico::fuzz::Control control = portico::fuzz::take_control(data, size);
    if (control.flags & 1) {
        load_userlist(control.rest);
    } else {
        load_config(std::string(control.rest));
    }
    return 0;
}
