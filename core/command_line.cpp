// Command-line parsing; see command_line.hpp.
#include "core/command_line.hpp"

#include <string_view>

namespace portico::core {

CommandLine parse_command_line(int argc, char** argv) {
    CommandLine cl;
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (arg == "ctl") {
            cl.action = CommandLine::Action::ctl;
            for (int j = i + 1; j < argc; ++j) cl.ctl_args.emplace_back(argv[j]);
            return cl;
        }
        if (arg == "-c" || arg == "--config") {
            if (i + 1 >= argc) {
                cl.error = std::string(arg) + " needs a file";
                return cl;
            }
            cl.config_path = argv[++i];
            cl.config_given = true;
        } else if (arg.rfind("--config=", 0) == 0) {
            cl.config_path = std::string(arg.substr(9));
            cl.config_given = true;
        } else if (arg == "-t" || arg == "--test") {
            cl.action = CommandLine::Action::test_config;
        } else if (arg == "--print-config") {
            cl.action = CommandLine::Action::print_config;
        } else if (arg == "--version" || arg == "-v") {
            cl.action = CommandLine::Action::version;
        } else if (arg == "-h" || arg == "--help") {
            cl.action = CommandLine::Action::help;
        } else {
            cl.error = "unknown argument '" + std::string(arg) + "'";
            return cl;
        }
    }
    return cl;
}

std::string usage_text() {
    return "usage: portico [--config FILE]          run (default /etc/portico/portico.yaml, else built-in defaults)\n"
           "       portico -t [--config FILE]       check the configuration and exit\n"
           "       portico --print-config [--config FILE]   print the effective configuration\n"
           "       portico --version\n"
           "       portico ctl [--admin HOST:PORT] [--token-file F] COMMAND\n";
}

}  // namespace portico::core
