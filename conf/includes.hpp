// Reading a configuration file and everything it includes into one merged tree (internal).
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "conf/env_subst.hpp"
#include "conf/tree.hpp"

namespace portico::conf::detail {

struct Document {
    Node root;                                // a map: the top file with its includes laid over it
    std::vector<std::string> files;           // every file read, top first, as named in errors
    std::map<std::string, std::string> dirs;  // file name -> directory its relative paths use
};

// `name` names the text in errors; `dir` is where its relative include: paths start. Included
// files are merged over the including file in the order written (glob matches sorted), so a
// drop-in in conf.d/ overrides the main file. Throws ConfigError.
Document read_document(std::string_view yaml, const std::string& name, const std::string& dir,
                       const EnvLookup& env);
Document read_document_file(const std::string& path, const EnvLookup& env);

// "a/b.yaml" -> "a", "b.yaml" -> ".".
std::string dir_of(const std::string& path);
// `path` relative to `dir` (kept as is when absolute or when dir is ".").
std::string join_path(const std::string& dir, const std::string& path);

}  // namespace portico::conf::detail
