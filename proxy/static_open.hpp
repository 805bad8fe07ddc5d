// Opening a static route's file on disk (DESIGN.md step 4), contained by the kernel: openat2 with
// RESOLVE_BENEATH resolves the (already normalised, static_path.hpp) relative path beneath the
// route's root directory, so a symlink that leads out of the root — to /etc/passwd, to a parent
// directory — fails like a missing file; RESOLVE_NO_MAGICLINKS refuses /proc-style links. A
// directory serves its index file; anything but a regular file is not served. The validators a
// static answer carries (ETag, Last-Modified) come from the file's stat.
#pragma once

#include <sys/stat.h>

#include <string>
#include <string_view>

#include "proxy/static_path.hpp"

namespace portico::proxy {

enum class OpenOutcome : uint8_t {
    ok,
    not_found,  // missing, a directory without its index, not a regular file, or outside the root
    forbidden,  // there, but the process may not read it (EACCES): 403, never the path
    directory,  // a directory named without its trailing slash: 301 to the name with it, as nginx does
};

// An open file (closed on destruction) and what fstat said of it.
class StaticFile {
public:
    StaticFile() = default;
    ~StaticFile();
    StaticFile(StaticFile&& other) noexcept;
    StaticFile& operator=(StaticFile&& other) noexcept;
    StaticFile(const StaticFile&) = delete;
    StaticFile& operator=(const StaticFile&) = delete;

    int fd() const { return fd_; }
    const struct stat& info() const { return info_; }
    uint64_t size() const { return static_cast<uint64_t>(info_.st_size); }
    // The name the content type is chosen by: the relative path, or the index file's.
    const std::string& name() const { return name_; }

private:
    friend OpenOutcome open_static(int root_fd, const StaticPath& path, std::string_view index, StaticFile& out);
    int fd_ = -1;
    struct stat info_ {};
    std::string name_;
};

// Opens `path` beneath the directory `root_fd` (an O_PATH or O_DIRECTORY descriptor). A path
// written as a directory is served by its `index` file ("" = never); a directory named without the
// trailing slash is `directory`, whether or not it has an index (nginx redirects either way). On a kernel without
// openat2 (before Linux 5.6) every symlink is refused instead (O_NOFOLLOW on each component).
OpenOutcome open_static(int root_fd, const StaticPath& path, std::string_view index, StaticFile& out);

// nginx's strong ETag for a file, "<mtime in hex>-<size in hex>", quotes included.
std::string file_etag(const struct stat& info);
// Last-Modified: the file's mtime as an IMF-fixdate.
std::string file_last_modified(const struct stat& info);

}  // namespace portico::proxy
