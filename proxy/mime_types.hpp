// Content types of static files by extension, from /etc/mime.types (Debian's media-types package,
// the table the system's other servers and tools share) rather than a hand-written list.
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>

namespace portico::proxy {

class MimeTypes {
public:
    static constexpr std::string_view kSystemFile = "/etc/mime.types";
    static constexpr std::string_view kDefault = "application/octet-stream";

    // Reads a mime.types file ("type ext ext …" lines, '#' comments); a missing file leaves the table
    // empty (everything is kDefault), and `error` says why.
    static MimeTypes load(const std::string& path, std::string* error = nullptr);
    // The system's table, read once (thread-safe), logged once when missing.
    static const MimeTypes& system();

    // The type for a file name by its last extension, case-insensitive ("logo.PNG" → image/png);
    // kDefault when unknown or without one.
    std::string_view lookup(std::string_view filename) const;
    size_t size() const { return by_extension_.size(); }

private:
    std::unordered_map<std::string, std::string> by_extension_;
};

}  // namespace portico::proxy
