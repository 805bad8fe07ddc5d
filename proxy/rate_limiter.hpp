// Rate limiting (DESIGN.md step 3): a token bucket per (route, client) with `rate` and `burst`,
// the arithmetic as a pure function with the clock passed in, and the one table all workers share
// (a client may land on any worker). The table is fixed in size and set-associative: a key hashes to
// one set of a few slots, found or replaced there, so a request costs O(1) under one of many shard
// locks and a million distinct clients can never grow it — the least recently used key of the set
// is replaced (its bucket has most likely refilled: forgetting it costs nothing).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string_view>

namespace portico::proxy {

// ---- the token bucket (pure) ----------------------------------------------------------------

struct BucketLimits {
    double rate = 1;   // tokens per second, > 0
    double burst = 1;  // capacity, >= 1
};

struct TokenBucket {
    double tokens = 0;
    uint64_t updated_ns = 0;  // when `tokens` was last brought up to date
};

struct BucketVerdict {
    bool allowed = false;
    uint64_t remaining = 0;     // whole tokens left after this request
    uint64_t reset_s = 0;       // seconds until the bucket is full again (RateLimit-Reset)
    uint64_t retry_after_s = 0; // when denied: seconds until one token is back (Retry-After), >= 1
};

// A new bucket: full.
TokenBucket full_bucket(const BucketLimits& limits, uint64_t now_ns);

// Refills `bucket` for the time since it was last updated (never above burst; a clock that reads
// earlier than the last update — two threads' readings racing — refills nothing and does not move
// the bucket back), then takes one token if there is one.
BucketVerdict take_token(TokenBucket& bucket, const BucketLimits& limits, uint64_t now_ns);

// ---- the shared table -----------------------------------------------------------------------

class RateLimiter {
public:
    // `capacity` buckets in all (rounded down to whole sets). 2^18 buckets of 24 bytes take 6 MiB, allocated
    // (zeroed lazily by the kernel) on the first limited request.
    static constexpr size_t kDefaultCapacity = size_t{1} << 18;
    static constexpr size_t kWays = 8;     // slots per set: the most a lookup compares
    static constexpr size_t kShards = 64;  // locks

    explicit RateLimiter(size_t capacity = kDefaultCapacity);
    ~RateLimiter();
    RateLimiter(const RateLimiter&) = delete;
    RateLimiter& operator=(const RateLimiter&) = delete;

    // What a key is: a header value never shares a bucket with a client address of the same text.
    enum class KeyKind : uint8_t { client_ip, header };

    // One request of `key` on route `route` (the pattern: buckets survive a reload that keeps it).
    BucketVerdict take(std::string_view route, KeyKind kind, std::string_view key, const BucketLimits& limits,
                       uint64_t now_ns);

    size_t capacity() const { return sets_ * kWays; }
    // Buckets holding a key now (walks the table: for tests and the admin port, not per request).
    size_t tracked();

private:
    struct Slot {
        uint64_t key = 0;  // 0: free
        TokenBucket bucket;
    };
    static_assert(sizeof(TokenBucket) == 16, "a slot is 24 bytes: the table's size in the README depends on it");
    struct alignas(64) Shard {
        std::mutex mutex;
    };
    Slot* table();
    uint64_t hash(std::string_view route, KeyKind kind, std::string_view key) const;

    size_t sets_;
    uint64_t seed_;
    std::once_flag allocated_;
    struct Free {
        void operator()(Slot* p) const;
    };
    std::unique_ptr<Slot, Free> slots_;
    std::unique_ptr<Shard[]> shards_;
};

}  // namespace portico::proxy
