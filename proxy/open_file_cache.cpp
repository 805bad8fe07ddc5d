// The per-worker open-file cache; see open_file_cache.hpp.
#include "proxy/open_file_cache.hpp"

namespace portico::proxy {

OpenFilePtr OpenFileCache::find(const std::string& key, uint64_t now_ns, Lookup& how) {
    auto it = index_.find(key);
    if (it == index_.end()) {
        how = Lookup::miss;
        return nullptr;
    }
    Lru::iterator entry = it->second;
    if (now_ns - entry->opened_ns >= valid_ns_) {
        // Too old to trust: the path may name another file now. The descriptor stays open while a
        // response still sends from it.
        how = Lookup::expired;
        lru_.erase(entry);
        index_.erase(it);
        return nullptr;
    }
    how = Lookup::hit;
    if (entry != lru_.begin()) lru_.splice(lru_.begin(), lru_, entry);
    return entry->file;
}

void OpenFileCache::insert(const std::string& key, OpenFilePtr file, uint64_t now_ns) {
    if (capacity_ == 0) return;
    auto it = index_.find(key);
    if (it != index_.end()) {
        it->second->file = std::move(file);
        it->second->opened_ns = now_ns;
        lru_.splice(lru_.begin(), lru_, it->second);
        return;
    }
    lru_.push_front(Entry{key, std::move(file), now_ns});
    index_.emplace(key, lru_.begin());
    while (index_.size() > capacity_) {
        index_.erase(lru_.back().key);
        lru_.pop_back();
        ++evictions_;
    }
}

}  // namespace portico::proxy
