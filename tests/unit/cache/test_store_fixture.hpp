// Test helpers for the LMDB store and writer: a temp directory removed at the end, entries built
// from a few strings, and a log sink that keeps the lines.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "cache/store.hpp"
#include "cache/writer.hpp"
#include "headers_fixture.hpp"

namespace portico::cache::test {

struct TempDir {
    std::string path;
    TempDir() {
        char name[] = "/tmp/store-XXXXXX";
        if (::mkdtemp(name) == nullptr) throw std::runtime_error("mkdtemp failed");
        path = name;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    std::string sub(std::string_view name) const { return path + "/" + std::string(name); }
};

struct LogLines {
    std::mutex mutex;
    std::vector<std::string> lines;
    std::function<void(std::string_view)> sink() {
        return [this](std::string_view line) {
            std::lock_guard lock(mutex);
            lines.emplace_back(line);
        };
    }
    bool contains(std::string_view text) {
        std::lock_guard lock(mutex);
        for (const auto& line : lines)
            if (line.find(text) != std::string::npos) return true;
        return false;
    }
};

inline EntryFacts sample_facts() {
    EntryFacts f;
    f.response_time = kT0;
    f.corrected_initial_age = Seconds{3};
    f.lifetime = Seconds{60};
    f.stale_while_revalidate = Seconds{30};
    f.stale_if_error = Seconds{300};
    f.has_validator = true;
    return f;
}

inline EntryToStore entry(std::string primary, std::string body, std::vector<std::string> tags = {},
                          std::string variant = {}, std::string vary_names = {}) {
    EntryToStore e;
    e.primary = std::move(primary);
    e.variant = std::move(variant);
    e.vary_names = std::move(vary_names);
    e.facts = sample_facts();
    e.status = 200;
    e.head = "Content-Type: text/plain\r\nETag: \"v1\"\r\n";
    e.body = std::move(body);
    e.tags = std::move(tags);
    return e;
}

inline std::unique_ptr<Store> open_store(const std::string& path, uint64_t max_size = 64ull << 20,
                                         std::function<void(std::string_view)> log = {}) {
    StoreOptions options;
    options.path = path;
    options.max_size = max_size;
    options.log = log ? std::move(log) : [](std::string_view) {};
    auto opened = Store::open(std::move(options));
    if (!opened.store) throw std::runtime_error("open failed: " + opened.error);
    return std::move(opened.store);
}

// The body of the entry stored without Vary under `primary`, or "<none>".
inline std::string body_of(const Store& store, std::string_view primary) {
    Snapshot snap = store.snapshot();
    Lookup found = snap.find(primary);
    if (found.kind != Lookup::Kind::entry) return "<none>";
    return std::string(found.entry.body);
}

}  // namespace portico::cache::test
