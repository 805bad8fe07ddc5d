// portico: parse flags, load the config, start the parts. Nothing else lives here.
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "admin/ctl.hpp"
#include "conf/loader.hpp"
#include "core/command_line.hpp"
#include "core/process.hpp"

using portico::core::CommandLine;

namespace {

portico::core::ConfigPtr load(const CommandLine& cl, std::string& path) {
    path = cl.config_path;
    if (!cl.config_given) {
        std::error_code ec;
        if (std::filesystem::exists(portico::core::kDefaultConfigPath, ec)) {
            path = portico::core::kDefaultConfigPath;
        } else {
            path.clear();
            return portico::conf::load_default();
        }
    }
    return portico::conf::load_file(path);
}

}  // namespace

int main(int argc, char** argv) {
    CommandLine cl = portico::core::parse_command_line(argc, argv);
    if (!cl.error.empty()) {
        std::cerr << "portico: " << cl.error << "\n" << portico::core::usage_text();
        return 1;
    }
    switch (cl.action) {
        case CommandLine::Action::version:
            std::cout << "portico " << PORTICO_VERSION << "\n";
            return 0;
        case CommandLine::Action::help:
            std::cout << portico::core::usage_text();
            return 0;
        case CommandLine::Action::ctl:
            return portico::admin::run_ctl(cl.ctl_args, cl.config_given ? cl.config_path : std::string());
        default:
            break;
    }
    std::string path;
    portico::core::ConfigPtr config;
    try {
        config = load(cl, path);
    } catch (const portico::conf::ConfigError& e) {
        std::cerr << e.what() << "\n";
        return 1;
    } catch (const std::exception& e) {
        std::cerr << "portico: " << e.what() << "\n";
        return 1;
    }
    if (cl.action == CommandLine::Action::test_config) {
        for (const auto& line : portico::conf::inactive_parts(*config)) std::cout << "note: " << line << "\n";
        std::cout << "ok\n";
        return 0;
    }
    if (cl.action == CommandLine::Action::print_config) {
        std::cout << portico::conf::to_yaml(*config);
        return 0;
    }
    return portico::core::run_server(path, std::move(config));
}
