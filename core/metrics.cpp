// Summing per-thread metric blocks, percentile estimation, and process figures; see metrics.hpp.
#include "core/metrics.hpp"

#include <cstdio>
#include <ctime>
#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>
#include <uv.h>

namespace portico::core::metrics {

namespace {
constexpr std::array<std::string_view, kCodeSlots - kTrackedCodes.size()> kExtraCodeLabels = {
    "1xx", "2xx", "3xx", "4xx", "5xx", "other"};

// The tracked codes as text, built once.
const std::array<std::string, kTrackedCodes.size()>& tracked_code_labels() {
    static const auto labels = [] {
        std::array<std::string, kTrackedCodes.size()> out;
        for (size_t i = 0; i < kTrackedCodes.size(); ++i) out[i] = std::to_string(kTrackedCodes[i]);
        return out;
    }();
    return labels;
}
}  // namespace

std::string_view code_label(size_t slot) {
    if (slot < kTrackedCodes.size()) return tracked_code_labels()[slot];
    if (slot < kCodeSlots) return kExtraCodeLabels[slot - kTrackedCodes.size()];
    return "other";
}

int code_class(size_t slot) {
    if (slot < kTrackedCodes.size()) return kTrackedCodes[slot] / 100;
    if (slot < kOtherCodeSlot) return static_cast<int>(slot - kClassSlotBase) + 1;
    return 0;
}

// ---- histograms ----------------------------------------------------------------------------

void HistogramSnapshot::add(const Histogram& h) {
    for (size_t i = 0; i < kDurationBuckets; ++i) counts[i] += h.bucket(i);
    sum_ns += h.sum_ns();
}

void HistogramSnapshot::add(const HistogramSnapshot& h) {
    for (size_t i = 0; i < kDurationBuckets; ++i) counts[i] += h.counts[i];
    sum_ns += h.sum_ns;
}

uint64_t HistogramSnapshot::count() const {
    uint64_t n = 0;
    for (uint64_t c : counts) n += c;
    return n;
}

uint64_t HistogramSnapshot::cumulative(size_t i) const {
    uint64_t n = 0;
    for (size_t j = 0; j <= i && j < kDurationBuckets; ++j) n += counts[j];
    return n;
}

std::optional<double> HistogramSnapshot::quantile(double q) const {
    uint64_t total = count();
    if (total == 0) return std::nullopt;
    if (q < 0) q = 0;
    if (q > 1) q = 1;
    double rank = q * static_cast<double>(total);
    uint64_t below = 0;  // observations in the buckets before i
    for (size_t i = 0; i < kDurationBuckets; ++i) {
        uint64_t through = below + counts[i];
        if (counts[i] > 0 && static_cast<double>(through) >= rank) {
            // The +Inf bucket has no upper bound to interpolate towards (histogram_quantile does the same).
            if (i == kDurationBounds.size()) return kDurationBounds.back();
            double lower = i == 0 ? 0.0 : kDurationBounds[i - 1];
            double upper = kDurationBounds[i];
            double within = (rank - static_cast<double>(below)) / static_cast<double>(counts[i]);
            if (within < 0) within = 0;
            return lower + (upper - lower) * within;
        }
        below = through;
    }
    return kDurationBounds.back();  // not reached: the loop ends in the last non-empty bucket
}

// ---- totals ------------------------------------------------------------------------------

void UpstreamTotals::add(const UpstreamCounters& c) {
    connects += c.connects.value();
    reuses += c.reuses.value();
    connect_failed += c.connect_failed.value();
    connect_timeouts += c.connect_timeouts.value();
    read_timeouts += c.read_timeouts.value();
    queue_timeouts += c.queue_timeouts.value();
    closed += c.closed.value();
    bad_responses += c.bad_responses.value();
    write_failed += c.write_failed.value();
}

void CacheTotals::add(const CacheCounters& c) {
    hits += c.hits.value();
    misses += c.misses.value();
    stale += c.stale.value();
    revalidated += c.revalidated.value();
    expired += c.expired.value();
    bypass += c.bypass.value();
    for (size_t i = 0; i < bypass_by_reason.size(); ++i) bypass_by_reason[i] += c.bypass_by_reason[i].value();
    coalesced_waits += c.coalesced_waits.value();
    stores += c.stores.value();
    evictions += c.evictions.value();
    purged += c.purged.value();
    bytes_served += c.bytes_served.value();
    entries += c.entries.value();
    bytes += c.bytes.value();
}

void CompressionTotals::add(const CompressionCounters& c) {
    gzip += c.gzip.value();
    deflate += c.deflate.value();
    bytes_in += c.bytes_in.value();
    bytes_out += c.bytes_out.value();
    for (size_t i = 0; i < skipped.size(); ++i) skipped[i] += c.skipped[i].value();
}

void StaticTotals::add(const StaticCounters& c) {
    open_cache_hits += c.open_cache_hits.value();
    open_cache_misses += c.open_cache_misses.value();
    open_cache_expired += c.open_cache_expired.value();
    open_cache_entries += c.open_cache_entries.value();
    open_cache_evictions += c.open_cache_evictions.value();
    precompressed += c.precompressed.value();
    fallback += c.fallback.value();
    bytes_sent += c.bytes_sent.value();
}

std::optional<double> CacheTotals::hit_ratio() const {
    uint64_t served = hits + stale + revalidated;
    uint64_t lookups = served + misses + expired;
    if (lookups == 0) return std::nullopt;
    return static_cast<double>(served) / static_cast<double>(lookups);
}

uint64_t RouteSnapshot::requests() const {
    uint64_t n = 0;
    for (uint64_t c : codes) n += c;
    return n;
}

uint64_t RouteSnapshot::static_responses() const {
    uint64_t n = 0;
    for (uint64_t c : static_codes) n += c;
    return n;
}

uint64_t RouteSnapshot::by_class(int status_class) const {
    uint64_t n = 0;
    for (size_t slot = 0; slot < kCodeSlots; ++slot) {
        if (code_class(slot) == status_class) n += codes[slot];
    }
    return n;
}

uint64_t Snapshot::requests() const {
    uint64_t n = 0;
    for (const auto& r : routes) n += r.requests();
    return n;
}

uint64_t Snapshot::requests_by_class(int status_class) const {
    uint64_t n = 0;
    for (const auto& r : routes) n += r.by_class(status_class);
    return n;
}

uint64_t Snapshot::ratelimit_allowed() const {
    uint64_t n = 0;
    for (const auto& r : routes) n += r.ratelimit_allowed;
    return n;
}

uint64_t Snapshot::ratelimit_rejected() const {
    uint64_t n = 0;
    for (const auto& r : routes) n += r.ratelimit_rejected;
    return n;
}

uint64_t Snapshot::ratelimit_dry_run() const {
    uint64_t n = 0;
    for (const auto& r : routes) n += r.ratelimit_dry_run;
    return n;
}

// ---- process figures ---------------------------------------------------------------------

ProcessFigures read_process_figures(double start_wall, uint64_t start_mono_ns) {
    ProcessFigures p;
    if (FILE* f = std::fopen("/proc/self/statm", "r")) {
        unsigned long long size = 0, resident = 0;
        if (std::fscanf(f, "%llu %llu", &size, &resident) == 2) {
            long page = ::sysconf(_SC_PAGESIZE);
            p.resident_memory_bytes = resident * static_cast<unsigned long long>(page > 0 ? page : 4096);
        }
        std::fclose(f);
    }
    if (DIR* dir = ::opendir("/proc/self/fd")) {
        uint64_t n = 0;
        while (dirent* entry = ::readdir(dir)) {
            if (entry->d_name[0] != '.') ++n;
        }
        ::closedir(dir);
        p.open_fds = n > 0 ? n - 1 : 0;  // not counting the descriptor opendir itself holds
    }
    rusage usage{};
    if (::getrusage(RUSAGE_SELF, &usage) == 0) {
        p.cpu_seconds = static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
                        static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
    }
    p.uptime_seconds = static_cast<double>(uv_hrtime() - start_mono_ns) / 1e9;
    p.start_time_seconds = start_wall;
    return p;
}

// ---- registry ----------------------------------------------------------------------------

Registry::Registry() : start_mono_ns_(uv_hrtime()) {
    timespec now{};
    ::clock_gettime(CLOCK_REALTIME, &now);
    start_wall_ = static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) / 1e9;
}

ThreadMetrics& Registry::register_thread() {
    auto block = std::make_unique<ThreadMetrics>();
    ThreadMetrics& ref = *block;
    std::lock_guard lock(mutex_);
    blocks_.push_back(std::move(block));
    return ref;
}

RouteId Registry::intern_route(std::string_view pattern) {
    std::lock_guard lock(mutex_);
    for (size_t i = 0; i < routes_.size(); ++i) {
        if (routes_[i] == pattern) return static_cast<RouteId>(i);
    }
    if (routes_.size() >= kMaxRoutes) return kOtherRoute;
    routes_.emplace_back(pattern);
    return static_cast<RouteId>(routes_.size() - 1);
}

std::vector<RouteId> Registry::intern_routes(const std::vector<conf::Route>& routes) {
    std::vector<RouteId> ids;
    ids.reserve(routes.size());
    for (const auto& route : routes) ids.push_back(intern_route(route.pattern));
    return ids;
}

Snapshot Registry::snapshot() const {
    Snapshot s;
    {
        std::lock_guard lock(mutex_);
        s.routes.resize(routes_.size());
        for (size_t i = 0; i < routes_.size(); ++i) {
            s.routes[i].pattern = routes_[i];
            s.routes[i].id = static_cast<RouteId>(i);
        }
        RouteSnapshot other;
        other.pattern = std::string(kOtherRouteLabel);
        other.id = kOtherRoute;
        for (const auto& block : blocks_) {
            auto add_route = [&](RouteSnapshot& r) {
                for (size_t slot = 0; slot < kCodeSlots; ++slot) {
                    r.codes[slot] += block->http_requests.value(r.id, slot);
                    r.static_codes[slot] += block->static_responses.value(r.id, slot);
                }
                r.duration.add(block->request_duration.at(r.id));
                r.ratelimit_allowed += block->ratelimit_allowed.value(r.id);
                r.ratelimit_rejected += block->ratelimit_rejected.value(r.id);
                r.ratelimit_dry_run += block->ratelimit_dry_run.value(r.id);
            };
            for (auto& r : s.routes) add_route(r);
            add_route(other);
            s.upstream.add(block->upstream);
            s.cache.add(block->cache);
            s.compression.add(block->compression);
            s.static_files.add(block->static_files);
        }
        // "(other)" appears only once something was counted there.
        if (other.requests() > 0 || other.duration.count() > 0 || other.ratelimit_rejected > 0 ||
            other.ratelimit_dry_run > 0 || other.ratelimit_allowed > 0) {
            s.routes.push_back(std::move(other));
        }
        s.threads = blocks_.size();
    }
    s.cache_active = cache_active_.load(std::memory_order_relaxed);
    s.config_reloads_ok = process_.config_reloads_ok.value();
    s.config_reloads_error = process_.config_reloads_error.value();
    s.config_generation = process_.config_generation.value();
    s.process = read_process_figures(start_wall_, start_mono_ns_);
    return s;
}

}  // namespace portico::core::metrics
