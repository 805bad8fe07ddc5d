// The command line of INTERFACE.md.
#define BOOST_TEST_MODULE core_command_line
#include <boost/test/unit_test.hpp>

#include <vector>

#include "core/command_line.hpp"

using portico::core::CommandLine;
using portico::core::parse_command_line;

namespace {
CommandLine parse(std::vector<const char*> args) {
    args.insert(args.begin(), "portico");
    return parse_command_line(static_cast<int>(args.size()), const_cast<char**>(args.data()));
}
}  // namespace

BOOST_AUTO_TEST_CASE(actions) {
    BOOST_TEST((parse({}).action == CommandLine::Action::run));
    BOOST_TEST(!parse({}).config_given);
    auto t = parse({"-t", "--config", "/x.yaml"});
    BOOST_TEST((t.action == CommandLine::Action::test_config));
    BOOST_TEST(t.config_path == "/x.yaml");
    BOOST_TEST(t.config_given);
    BOOST_TEST((parse({"--config=/y.yaml", "--print-config"}).action == CommandLine::Action::print_config));
    BOOST_TEST(parse({"--config=/y.yaml"}).config_path == "/y.yaml");
    BOOST_TEST((parse({"--version"}).action == CommandLine::Action::version));
    auto ctl = parse({"ctl", "--admin", "127.0.0.1:9901", "cache", "stats"});
    BOOST_TEST((ctl.action == CommandLine::Action::ctl));
    BOOST_TEST(ctl.ctl_args.size() == 4u);
}

BOOST_AUTO_TEST_CASE(errors) {
    BOOST_TEST(parse({"--config"}).error == "--config needs a file");
    BOOST_TEST(parse({"--bogus"}).error == "unknown argument '--bogus'");
}
