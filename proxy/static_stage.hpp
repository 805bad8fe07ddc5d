// The static stage of a request (DESIGN.md step 4): a route with `static:` answers from disk. The
// method (GET and HEAD, else 405), the request path → a file beneath the root (static_path), the
// file opened through the worker's open-file cache (static_open, open_file_cache), its .gz sibling
// when the route is `precompressed` and the client accepts gzip, then the answer planned from the
// request's conditionals and ranges (static_response); a directory named without its trailing slash
// is a 301 to the name with it (directory_location). The verdict: answer, or — for a file that
// is not there, on a route with `fallback: upstream` — let the app answer instead.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

#include "cache/headers_view.hpp"
#include "conf/schema.hpp"
#include "proxy/http_message.hpp"
#include "proxy/open_file_cache.hpp"
#include "proxy/static_path.hpp"
#include "proxy/static_response.hpp"

namespace portico::proxy {

enum class StaticVerdict : uint8_t {
    answer,    // StaticResult::answer says what to send (a file, 304, 416, or 301/403/404/405 without one)
    fallback,  // not found, and the route says `fallback: upstream`: the request goes on to the app
};

// A worker's open files and root directories. Roots are opened (O_PATH) once and, like files,
// again after the validity period, so a root that is a symlink swapped by a deploy follows it.
class StaticFiles {
public:
    static constexpr size_t kCapacity = 1024;              // open files per worker (nginx's max= is per worker too)
    static constexpr uint64_t kValidNs = 1'000'000'000;    // 1 s: how long an opening is trusted

    explicit StaticFiles(size_t capacity = kCapacity, uint64_t valid_ns = kValidNs);
    ~StaticFiles();
    StaticFiles(const StaticFiles&) = delete;
    StaticFiles& operator=(const StaticFiles&) = delete;

    // `path` beneath `route.root` (plus `suffix`, ".gz" for the sibling), from the cache or opened
    // now. Never null; its outcome says whether there is a file.
    OpenFilePtr open(const conf::RouteStatic& route, const StaticPath& path, std::string_view suffix, uint64_t now_ns,
                     OpenFileCache::Lookup& how);
    const OpenFileCache& cache() const { return files_; }

private:
    int root_fd(const std::string& root, uint64_t now_ns);

    struct Root {
        int fd = -1;
        uint64_t opened_ns = 0;
    };
    uint64_t valid_ns_;
    std::unordered_map<std::string, Root> roots_;
    OpenFileCache files_;
    std::string key_;  // reused for lookups
};

struct StaticResult {
    StaticAnswer answer;
    OpenFilePtr file;           // the representation to send; null when the answer has no file (301/403/404/405)
    bool precompressed = false;  // the .gz sibling
    // The open-file cache's answers for this request (the file, and the sibling when looked up).
    unsigned cache_hits = 0, cache_misses = 0, cache_expired = 0;
};

// `path` is the request's path without the query; `fields` every request field; `boundary` the
// multipart boundary should several ranges be asked for.
StaticVerdict static_stage(StaticFiles& files, const conf::RouteStatic& route, std::string_view pattern,
                           const MessageHead& request, std::string_view path, cache::HeaderList fields,
                           std::string_view boundary, uint64_t now_ns, StaticResult& out);

}  // namespace portico::proxy
