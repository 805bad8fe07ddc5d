// /etc/mime.types parsing and lookups; see mime_types.hpp.
#include "proxy/mime_types.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/log.hpp"

namespace portico::proxy {

namespace {
std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}
}  // namespace

MimeTypes MimeTypes::load(const std::string& path, std::string* error) {
    MimeTypes table;
    std::ifstream in(path);
    if (!in) {
        if (error) *error = path + ": " + std::strerror(errno);
        return table;
    }
    std::string line;
    while (std::getline(in, line)) {
        line = line.substr(0, line.find('#'));
        std::istringstream words(line);
        std::string type, extension;
        if (!(words >> type) || type.find('/') == std::string::npos) continue;
        // The first line naming an extension wins, as in nginx's and Apache's readers.
        while (words >> extension) table.by_extension_.emplace(lower(extension), type);
    }
    return table;
}

const MimeTypes& MimeTypes::system() {
    static const MimeTypes table = [] {
        std::string error;
        MimeTypes t = load(std::string(kSystemFile), &error);
        if (!error.empty()) {
            core::log(core::LogLevel::warn, "static", "{} (install media-types): every file is served as {}", error,
                      kDefault);
        }
        return t;
    }();
    return table;
}

std::string_view MimeTypes::lookup(std::string_view filename) const {
    size_t slash = filename.rfind('/');
    std::string_view name = slash == std::string_view::npos ? filename : filename.substr(slash + 1);
    size_t dot = name.rfind('.');
    if (dot == std::string_view::npos || dot + 1 == name.size()) return kDefault;
    auto it = by_extension_.find(lower(name.substr(dot + 1)));
    return it == by_extension_.end() ? kDefault : std::string_view(it->second);
}

}  // namespace portico::proxy
