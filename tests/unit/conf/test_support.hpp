// Test helpers for conf/: a temp directory removed afterwards, scoped environment variables.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>

#include "conf/loader.hpp"

namespace portico::conf::test {

// A fresh directory under /tmp (mkdtemp), deleted with everything in it when the test ends.
class TempDir {
public:
    TempDir() {
        char templ[] = "/tmp/portico-conf-test.XXXXXX";
        if (mkdtemp(templ) == nullptr) throw std::runtime_error("mkdtemp failed");
        path_ = templ;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    const std::string& path() const { return path_; }
    // Writes `text` to path()/name (creating subdirectories) and returns the full path.
    std::string write(const std::string& name, const std::string& text) const {
        std::filesystem::path p = std::filesystem::path(path_) / name;
        std::filesystem::create_directories(p.parent_path());
        std::ofstream(p) << text;
        return p.string();
    }

private:
    std::string path_;
};

// Sets (or unsets, with nullopt) an environment variable for the scope, then restores it.
class ScopedEnv {
public:
    ScopedEnv(const char* name, std::optional<std::string> value) : name_(name) {
        if (const char* old = getenv(name)) old_ = old;
        if (value) setenv(name, value->c_str(), 1);
        else unsetenv(name);
    }
    ~ScopedEnv() {
        if (old_) setenv(name_, old_->c_str(), 1);
        else unsetenv(name_);
    }
    ScopedEnv(const ScopedEnv&) = delete;
    ScopedEnv& operator=(const ScopedEnv&) = delete;

private:
    const char* name_;
    std::optional<std::string> old_;
};

// The ConfigError message load_string() throws for `yaml`, or "" when it loads.
inline std::string load_error(const std::string& yaml, const std::string& name = "t.yaml",
                              const std::string& base_dir = ".") {
    try {
        load_string(yaml, name, base_dir);
    } catch (const ConfigError& e) {
        return e.what();
    }
    return "";
}

}  // namespace portico::conf::test
