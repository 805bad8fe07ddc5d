// The command line of INTERFACE.md, parsed into one plain struct.
#pragma once

#include <string>
#include <vector>

namespace portico::core {

struct CommandLine {
    enum class Action { run, test_config, print_config, version, help, ctl };
    Action action = Action::run;
    std::string config_path;        // empty: the default path, or the embedded config
    bool config_given = false;
    std::vector<std::string> ctl_args;
    std::string error;              // usage error, if any
};

CommandLine parse_command_line(int argc, char** argv);
std::string usage_text();

constexpr const char* kDefaultConfigPath = "/etc/portico/portico.yaml";

}  // namespace portico::core
