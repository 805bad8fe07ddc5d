// Token buckets and the shared table; see rate_limiter.hpp.
#include "proxy/rate_limiter.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>

namespace portico::proxy {

namespace {

uint64_t seconds_up(double s) { return s <= 0 ? 0 : static_cast<uint64_t>(std::ceil(s - 1e-9)); }

// MurmurHash64A's mixing, seeded per process: keys are client addresses and header values, which
// a client chooses, so the slot they land in must not be predictable.
uint64_t mix(uint64_t h, std::string_view data) {
    constexpr uint64_t m = 0xc6a4a7935bd1e995ull;
    constexpr int r = 47;
    h ^= data.size() * m;
    size_t i = 0;
    for (; i + 8 <= data.size(); i += 8) {
        uint64_t k;
        std::memcpy(&k, data.data() + i, 8);
        k *= m;
        k ^= k >> r;
        k *= m;
        h ^= k;
        h *= m;
    }
    uint64_t tail = 0;
    for (size_t j = 0; i + j < data.size(); ++j) tail |= uint64_t{static_cast<unsigned char>(data[i + j])} << (8 * j);
    if (i < data.size()) {
        h ^= tail;
        h *= m;
    }
    h ^= h >> r;
    h *= m;
    h ^= h >> r;
    return h;
}

}  // namespace

TokenBucket full_bucket(const BucketLimits& limits, uint64_t now_ns) { return TokenBucket{limits.burst, now_ns}; }

BucketVerdict take_token(TokenBucket& bucket, const BucketLimits& limits, uint64_t now_ns) {
    if (now_ns > bucket.updated_ns) {
        double elapsed = static_cast<double>(now_ns - bucket.updated_ns) / 1e9;
        bucket.tokens = std::min(limits.burst, bucket.tokens + elapsed * limits.rate);
        bucket.updated_ns = now_ns;
    }
    // A reload may have lowered the burst below what the bucket holds.
    bucket.tokens = std::min(bucket.tokens, limits.burst);
    BucketVerdict v;
    if (bucket.tokens >= 1.0) {
        bucket.tokens -= 1.0;
        v.allowed = true;
    } else {
        v.retry_after_s = std::max<uint64_t>(1, seconds_up((1.0 - bucket.tokens) / limits.rate));
    }
    v.remaining = static_cast<uint64_t>(std::floor(bucket.tokens + 1e-9));
    v.reset_s = seconds_up((limits.burst - bucket.tokens) / limits.rate);
    return v;
}

RateLimiter::RateLimiter(size_t capacity)
    : sets_(std::max<size_t>(kShards, capacity / kWays / kShards * kShards)), shards_(new Shard[kShards]) {
    std::random_device random;
    seed_ = (static_cast<uint64_t>(random()) << 32) ^ random();
}

RateLimiter::~RateLimiter() = default;

void RateLimiter::Free::operator()(Slot* p) const { std::free(p); }

RateLimiter::Slot* RateLimiter::table() {
    // calloc of a large block maps fresh zero pages: memory becomes resident only as keys arrive,
    // and a process with no limited route never pays for the table at all.
    std::call_once(allocated_, [this] { slots_.reset(static_cast<Slot*>(std::calloc(sets_ * kWays, sizeof(Slot)))); });
    return slots_.get();
}

uint64_t RateLimiter::hash(std::string_view route, KeyKind kind, std::string_view key) const {
    uint64_t h = mix(seed_, route);
    h = mix(h ^ (0x9e3779b97f4a7c15ull + static_cast<uint64_t>(kind)), key);
    return h == 0 ? 1 : h;  // 0 marks a free slot
}

BucketVerdict RateLimiter::take(std::string_view route, KeyKind kind, std::string_view key,
                                const BucketLimits& limits, uint64_t now_ns) {
    Slot* slots = table();
    if (slots == nullptr) return BucketVerdict{true, 0, 0, 0};  // no memory for the table: fail open
    uint64_t h = hash(route, kind, key);
    size_t set = static_cast<size_t>(h % sets_);
    // Sets are dealt to shards round-robin, so neighbouring sets do not share a lock.
    std::lock_guard lock(shards_[set % kShards].mutex);
    Slot* ways = slots + set * kWays;
    Slot* victim = &ways[0];
    for (size_t i = 0; i < kWays; ++i) {
        Slot& s = ways[i];
        if (s.key == h) return take_token(s.bucket, limits, now_ns);
        // Replace a free slot, else the least recently used bucket: the one most likely refilled
        // (an idle client's full bucket carries no information) and least likely to be back soon.
        if (victim->key != 0 && (s.key == 0 || s.bucket.updated_ns < victim->bucket.updated_ns)) victim = &s;
    }
    victim->key = h;
    victim->bucket = full_bucket(limits, now_ns);
    return take_token(victim->bucket, limits, now_ns);
}

size_t RateLimiter::tracked() {
    Slot* slots = table();
    if (slots == nullptr) return 0;
    size_t n = 0;
    for (size_t shard = 0; shard < kShards; ++shard) {
        std::lock_guard lock(shards_[shard].mutex);
        for (size_t set = shard; set < sets_; set += kShards) {
            for (size_t i = 0; i < kWays; ++i) n += slots[set * kWays + i].key != 0;
        }
    }
    return n;
}

}  // namespace portico::proxy
