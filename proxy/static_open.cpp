// Opening static files beneath their root; see static_open.hpp.
#include "proxy/static_open.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>

#include <fmt/format.h>

#include "cache/http_date.hpp"

namespace portico::proxy {

namespace {

// openat2(2) has no glibc wrapper in Debian 12's glibc 2.36.
int open_beneath(int root_fd, const std::string& relative) {
    open_how how{};
    how.flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    const char* name = relative.empty() ? "." : relative.c_str();
    long fd = syscall(SYS_openat2, root_fd, name, &how, sizeof how);
    if (fd >= 0 || errno != ENOSYS) return static_cast<int>(fd);
    // No openat2: walk the components with O_NOFOLLOW, refusing every symlink.
    int dir = fcntl(root_fd, F_DUPFD_CLOEXEC, 0);
    size_t start = 0;
    while (dir >= 0 && start < relative.size()) {
        size_t end = relative.find('/', start);
        std::string part = relative.substr(start, end == std::string::npos ? std::string::npos : end - start);
        int next = openat(dir, part.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
        int saved = errno;
        close(dir);
        errno = saved;
        dir = next;
        start = end == std::string::npos ? relative.size() : end + 1;
    }
    return dir;
}

OpenOutcome failure() { return errno == EACCES || errno == EPERM ? OpenOutcome::forbidden : OpenOutcome::not_found; }

}  // namespace

StaticFile::~StaticFile() {
    if (fd_ >= 0) close(fd_);
}

StaticFile::StaticFile(StaticFile&& other) noexcept { *this = std::move(other); }

StaticFile& StaticFile::operator=(StaticFile&& other) noexcept {
    if (this == &other) return *this;
    if (fd_ >= 0) close(fd_);
    fd_ = other.fd_;
    info_ = other.info_;
    name_ = std::move(other.name_);
    other.fd_ = -1;
    return *this;
}

OpenOutcome open_static(int root_fd, const StaticPath& path, std::string_view index, StaticFile& out) {
    out = StaticFile();
    std::string name = path.relative;
    int fd = open_beneath(root_fd, name);
    if (fd < 0) return failure();
    struct stat info {};
    if (fstat(fd, &info) != 0) {
        close(fd);
        return OpenOutcome::not_found;
    }
    if (S_ISDIR(info.st_mode) && !path.directory) {
        // Served as "docs/" its index page's relative links would resolve against the parent.
        close(fd);
        return OpenOutcome::directory;
    }
    if (S_ISDIR(info.st_mode) || (path.directory && !S_ISREG(info.st_mode))) {
        close(fd);
        if (index.empty() || !S_ISDIR(info.st_mode)) return OpenOutcome::not_found;
        name = name.empty() ? std::string(index) : name + "/" + std::string(index);
        fd = open_beneath(root_fd, name);
        if (fd < 0) return failure();
        if (fstat(fd, &info) != 0) {
            close(fd);
            return OpenOutcome::not_found;
        }
    } else if (path.directory) {
        // "file.txt/": a regular file named as a directory is no file (as the kernel says, ENOTDIR).
        close(fd);
        return OpenOutcome::not_found;
    }
    if (!S_ISREG(info.st_mode)) {  // devices, fifos, sockets: never served
        close(fd);
        return OpenOutcome::not_found;
    }
    out.fd_ = fd;
    out.info_ = info;
    out.name_ = std::move(name);
    return OpenOutcome::ok;
}

std::string file_etag(const struct stat& info) {
    return fmt::format("\"{:x}-{:x}\"", static_cast<uint64_t>(info.st_mtim.tv_sec), static_cast<uint64_t>(info.st_size));
}

std::string file_last_modified(const struct stat& info) {
    std::string out;
    cache::append_http_date(out, cache::Instant{std::chrono::seconds{info.st_mtim.tv_sec}});
    return out;
}

}  // namespace portico::proxy
