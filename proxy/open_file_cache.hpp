// The open-file cache of one worker (nginx's open_file_cache): the outcome of opening a static
// route's file — the descriptor and its stat, or "missing" / "forbidden" — kept for `valid_ns`
// after it was opened, then opened and stat'ed again, so a file replaced on disk (a deploy renames
// a new file over the old) is served from its new inode at most that long after. Bounded: beyond
// `capacity` entries the least recently used goes. A response being sent holds its entry, so an
// entry evicted or replaced mid-transfer keeps its descriptor until that response ends.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "proxy/static_open.hpp"

namespace portico::proxy {

// One opening, immutable once made (shared by the cache and the responses sending it: shared_ptr
// of a const object, as the config snapshot is).
struct OpenFile {
    OpenOutcome outcome = OpenOutcome::not_found;
    StaticFile file;             // open when outcome == ok
    std::string etag;            // file_etag()
    std::string last_modified;   // file_last_modified()
    std::string_view content_type;  // by the file's name, from MimeTypes::system() (lives forever)
};
using OpenFilePtr = std::shared_ptr<const OpenFile>;

class OpenFileCache {
public:
    enum class Lookup : uint8_t {
        hit,      // held and younger than valid_ns
        miss,     // not held
        expired,  // held, but older than valid_ns: dropped, open again (nginx's revalidation)
    };

    OpenFileCache(size_t capacity, uint64_t valid_ns) : capacity_(capacity), valid_ns_(valid_ns) {}
    OpenFileCache(const OpenFileCache&) = delete;
    OpenFileCache& operator=(const OpenFileCache&) = delete;

    // The entry for `key` when it is still valid at `now_ns`; null otherwise (`how` says why).
    OpenFilePtr find(const std::string& key, uint64_t now_ns, Lookup& how);
    // Remembers `file` as opened at `now_ns`, replacing any entry for `key`; evicts the least
    // recently used entry beyond capacity.
    void insert(const std::string& key, OpenFilePtr file, uint64_t now_ns);

    size_t size() const { return index_.size(); }
    uint64_t evictions() const { return evictions_; }

private:
    struct Entry {
        std::string key;
        OpenFilePtr file;
        uint64_t opened_ns = 0;
    };
    using Lru = std::list<Entry>;  // most recently used first

    size_t capacity_;
    uint64_t valid_ns_;
    Lru lru_;
    std::unordered_map<std::string, Lru::iterator> index_;
    uint64_t evictions_ = 0;
};

}  // namespace portico::proxy
