// conf/portico.yaml, the file installed as /etc/portico/portico.yaml: it loads, it means exactly
// the embedded defaults, and its commented-out examples (uncommented) load too and name every
// key of INTERFACE.md and of the schema, with the defaults as values where a default exists.
#define BOOST_TEST_MODULE conf_shipped
#include <boost/test/unit_test.hpp>

#include <yaml-cpp/yaml.h>

#include <regex>
#include <set>

#include "conf/loader.hpp"
#include "interface_example.hpp"
#include "test_support.hpp"

using namespace portico::conf;
using namespace portico::conf::test;

namespace {

struct CleanEnv {
    ScopedEnv workers{"PORTICO_WORKERS", std::nullopt};
    ScopedEnv level{"PORTICO_LOG_LEVEL", std::nullopt};
};

std::string shipped_text() {
    std::ifstream in(PORTICO_SHIPPED_CONFIG);
    BOOST_TEST_REQUIRE(static_cast<bool>(in), "cannot read " PORTICO_SHIPPED_CONFIG);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

// The file's convention: "#key" and "#  key" (a '#' in front of a line, indentation kept) are
// settings left out; "# words" is prose. Uncommenting drops that '#'.
std::string uncommented(const std::string& text) {
    static const std::regex setting("^#([^ \n]|  )", std::regex::multiline);
    return std::regex_replace(text, setting, "$1");
}

// The body of to_yaml(): without the first line (it names the file) and the list of files read.
std::string printed_body(const Config& c) {
    std::string s = to_yaml(c);
    s = s.substr(s.find('\n'));
    return s.substr(0, s.find("# files read:"));
}

// Every key path in a YAML document ("cache.key.sort_query"); route patterns become "<pattern>".
void collect_keys(const YAML::Node& node, const std::string& prefix, std::set<std::string>& out) {
    if (!node.IsMap()) return;
    for (const auto& kv : node) {
        std::string key = prefix == "routes.patterns" ? "<pattern>" : kv.first.as<std::string>();
        std::string path = prefix.empty() ? key : prefix + "." + key;
        out.insert(path);
        collect_keys(kv.second, path, out);
    }
}
std::set<std::string> keys_of(const std::string& yaml) {
    std::set<std::string> keys;
    collect_keys(YAML::Load(yaml), "", keys);
    return keys;
}

}  // namespace

BOOST_TEST_GLOBAL_FIXTURE(CleanEnv);

BOOST_AUTO_TEST_CASE(shipped_config_means_the_embedded_defaults) {
    auto shipped = load_file(PORTICO_SHIPPED_CONFIG);
    BOOST_TEST(printed_body(*shipped) == printed_body(*load_default()));
    BOOST_TEST(shipped->routes.size() == load_default()->routes.size());
}

BOOST_AUTO_TEST_CASE(its_examples_load_and_name_every_key) {
    std::string text = uncommented(shipped_text());
    BOOST_TEST_MESSAGE(text);
    std::shared_ptr<const Config> full;
    BOOST_REQUIRE_NO_THROW(full = load_string(text, "uncommented.yaml"));
    std::set<std::string> written = keys_of(text);

    std::set<std::string> wanted = keys_of(kInterfaceExample);  // INTERFACE.md's keys
    wanted.insert("include");
    for (const std::string& k : keys_of(to_yaml(*full))) wanted.insert(k);  // every key printing shows
    for (const std::string& k : wanted) {
        BOOST_TEST_CONTEXT(k) { BOOST_TEST(written.count(k) == 1u); }
    }
}

BOOST_AUTO_TEST_CASE(its_pool_example_spells_the_pool_defaults) {
    auto full = load_string(uncommented(shipped_text()), "uncommented.yaml");
    // The same database with nothing else said: every other pool value is the schema's default.
    auto minimal = load_string(
        "pool:\n  databases:\n    app: { conninfo: \"host=/var/run/postgresql dbname=app user=app\", pool_size: 20 }\n", "minimal.yaml");
    YAML::Node a = YAML::Load(to_yaml(*full))["pool"], b = YAML::Load(to_yaml(*minimal))["pool"];
    BOOST_TEST(YAML::Dump(a) == YAML::Dump(b));
}
