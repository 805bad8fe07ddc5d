// Prometheus text exposition; see prometheus.hpp. Family names are INTERFACE.md's.
#include "admin/prometheus.hpp"

#include <cmath>
#include <fmt/format.h>

namespace portico::admin {

namespace metrics = core::metrics;

void append_label_value(std::string& out, std::string_view value) {
    for (char c : value) {
        switch (c) {
            case '\\': out.append("\\\\"); break;
            case '"': out.append("\\\""); break;
            case '\n': out.append("\\n"); break;
            default: out.push_back(c);
        }
    }
}

std::string format_sample(double value) {
    if (std::isnan(value)) return "NaN";
    if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
    return fmt::format("{}", value);
}

namespace {

class Writer {
public:
    explicit Writer(std::string& out) : out_(out) {}

    void family(std::string_view name, std::string_view type, std::string_view help) {
        out_.append("# HELP ").append(name).append(" ").append(help).append("\n");
        out_.append("# TYPE ").append(name).append(" ").append(type).append("\n");
    }

    // name{k1="v1",k2="v2"} value — labels as (name, value) pairs; an empty list writes no braces.
    template <class Value>
    void sample(std::string_view name, std::initializer_list<std::pair<std::string_view, std::string_view>> labels,
                Value value) {
        out_.append(name);
        if (labels.size() > 0) {
            out_.push_back('{');
            bool first = true;
            for (const auto& [key, val] : labels) {
                if (!first) out_.push_back(',');
                first = false;
                out_.append(key).append("=\"");
                append_label_value(out_, val);
                out_.push_back('"');
            }
            out_.push_back('}');
        }
        out_.push_back(' ');
        if constexpr (std::is_floating_point_v<Value>) {
            out_.append(format_sample(value));
        } else {
            out_.append(fmt::format("{}", value));
        }
        out_.push_back('\n');
    }

    template <class Value>
    void single(std::string_view name, std::string_view type, std::string_view help, Value value) {
        family(name, type, help);
        sample(name, {}, value);
    }

private:
    std::string& out_;
};

// A sample per route and status code counted at least once, from one of RouteSnapshot's code arrays.
void route_code_samples(Writer& w, std::string_view name, const metrics::Snapshot& s,
                        std::array<uint64_t, metrics::kCodeSlots> metrics::RouteSnapshot::*codes) {
    for (const auto& route : s.routes) {
        const auto& counts = route.*codes;
        for (size_t slot = 0; slot < metrics::kCodeSlots; ++slot) {
            if (counts[slot] == 0) continue;
            w.sample(name, {{"route", route.pattern}, {"code", metrics::code_label(slot)}}, counts[slot]);
        }
    }
}

void render_requests(Writer& w, const metrics::Snapshot& s) {
    w.family("portico_http_requests_total", "counter",
             "HTTP requests answered, by route pattern and status code (untracked codes as 2xx etc.).");
    route_code_samples(w, "portico_http_requests_total", s, &metrics::RouteSnapshot::codes);

    w.family("portico_http_request_duration_seconds", "histogram",
             "Time from the whole request head to the last response byte written, by route pattern.");
    for (const auto& route : s.routes) {
        const auto& h = route.duration;
        uint64_t count = h.count();
        if (count == 0) continue;
        uint64_t cumulative = 0;
        for (size_t i = 0; i < metrics::kDurationBuckets; ++i) {
            cumulative += h.counts[i];
            std::string le = i < metrics::kDurationBounds.size() ? format_sample(metrics::kDurationBounds[i]) : "+Inf";
            w.sample("portico_http_request_duration_seconds_bucket", {{"route", route.pattern}, {"le", le}}, cumulative);
        }
        w.sample("portico_http_request_duration_seconds_sum", {{"route", route.pattern}}, h.sum_seconds());
        w.sample("portico_http_request_duration_seconds_count", {{"route", route.pattern}}, count);
    }
}

void render_ratelimit(Writer& w, const metrics::Snapshot& s) {
    w.family("portico_ratelimit_allowed_total", "counter", "Requests a route's rate limit let through.");
    for (const auto& route : s.routes) {
        if (route.ratelimit_allowed > 0) {
            w.sample("portico_ratelimit_allowed_total", {{"route", route.pattern}}, route.ratelimit_allowed);
        }
    }
    w.family("portico_ratelimit_rejected_total", "counter", "Requests answered 429 by a route's rate limit.");
    for (const auto& route : s.routes) {
        if (route.ratelimit_rejected > 0) {
            w.sample("portico_ratelimit_rejected_total", {{"route", route.pattern}}, route.ratelimit_rejected);
        }
    }
    w.family("portico_ratelimit_dry_run_total", "counter",
             "Requests over a dry-run rate limit: they would have been rejected, and were let through.");
    for (const auto& route : s.routes) {
        if (route.ratelimit_dry_run > 0) {
            w.sample("portico_ratelimit_dry_run_total", {{"route", route.pattern}}, route.ratelimit_dry_run);
        }
    }
}

void render_static(Writer& w, const metrics::Snapshot& s) {
    w.family("portico_static_responses_total", "counter",
             "Answers of static routes (from disk, without the app), by route pattern and status code.");
    route_code_samples(w, "portico_static_responses_total", s, &metrics::RouteSnapshot::static_codes);
    const auto& t = s.static_files;
    w.family("portico_static_open_file_cache_total", "counter",
             "Static file openings: reused (hit), opened (miss), opened again after the validity period (expired).");
    w.sample("portico_static_open_file_cache_total", {{"result", "hit"}}, t.open_cache_hits);
    w.sample("portico_static_open_file_cache_total", {{"result", "miss"}}, t.open_cache_misses);
    w.sample("portico_static_open_file_cache_total", {{"result", "expired"}}, t.open_cache_expired);
    w.single("portico_static_open_file_cache_entries", "gauge", "Openings held by the workers' open-file caches.",
             t.open_cache_entries);
    w.single("portico_static_open_file_cache_evictions_total", "counter",
             "Openings dropped from a full open-file cache (least recently used first).", t.open_cache_evictions);
    w.single("portico_static_precompressed_total", "counter", "Static answers served from a .gz sibling.",
             t.precompressed);
    w.single("portico_static_fallback_total", "counter", "Static misses handed to the app (fallback: upstream).",
             t.fallback);
    w.single("portico_static_bytes_total", "counter", "File bytes static routes sent.", t.bytes_sent);
}

void render_compression(Writer& w, const metrics::Snapshot& s) {
    const auto& c = s.compression;
    w.family("portico_compression_responses_total", "counter", "Responses compressed by Portico, by coding.");
    w.sample("portico_compression_responses_total", {{"coding", "gzip"}}, c.gzip);
    w.sample("portico_compression_responses_total", {{"coding", "deflate"}}, c.deflate);
    w.family("portico_compression_skipped_total", "counter", "Responses sent uncompressed, by reason.");
    for (size_t i = 0; i < metrics::kCompressionSkipReasons.size(); ++i) {
        w.sample("portico_compression_skipped_total", {{"reason", metrics::kCompressionSkipReasons[i]}}, c.skipped[i]);
    }
    w.family("portico_compression_bytes_total", "counter",
             "Body bytes of the compressed responses, before (in) and after (out) compression.");
    w.sample("portico_compression_bytes_total", {{"direction", "in"}}, c.bytes_in);
    w.sample("portico_compression_bytes_total", {{"direction", "out"}}, c.bytes_out);
    w.single("portico_compression_saved_bytes_total", "counter", "Bytes compression kept off the wire (in - out).",
             c.bytes_saved());
}

void render_upstream(Writer& w, const metrics::Snapshot& s) {
    const auto& u = s.upstream;
    w.single("portico_upstream_connects_total", "counter", "New connections opened to the upstream.", u.connects);
    w.single("portico_upstream_reuses_total", "counter", "Requests sent on an idle keep-alive upstream connection.",
             u.reuses);
    w.family("portico_upstream_errors_total", "counter", "Failed upstream exchanges, by kind.");
    w.sample("portico_upstream_errors_total", {{"kind", "connect_failed"}}, u.connect_failed);
    w.sample("portico_upstream_errors_total", {{"kind", "closed"}}, u.closed);
    w.sample("portico_upstream_errors_total", {{"kind", "bad_response"}}, u.bad_responses);
    w.sample("portico_upstream_errors_total", {{"kind", "write_failed"}}, u.write_failed);
    w.family("portico_upstream_timeouts_total", "counter",
             "Upstream timeouts: connect (connect_timeout), read (no response head in time), queue (max_connections).");
    w.sample("portico_upstream_timeouts_total", {{"phase", "connect"}}, u.connect_timeouts);
    w.sample("portico_upstream_timeouts_total", {{"phase", "read"}}, u.read_timeouts);
    w.sample("portico_upstream_timeouts_total", {{"phase", "queue"}}, u.queue_timeouts);
}

void render_cache(Writer& w, const metrics::Snapshot& s) {
    const auto& c = s.cache;
    w.family("portico_cache_requests_total", "counter", "Cache lookups by result.");
    w.sample("portico_cache_requests_total", {{"result", "hit"}}, c.hits);
    w.sample("portico_cache_requests_total", {{"result", "miss"}}, c.misses);
    w.sample("portico_cache_requests_total", {{"result", "stale"}}, c.stale);
    w.sample("portico_cache_requests_total", {{"result", "revalidated"}}, c.revalidated);
    w.sample("portico_cache_requests_total", {{"result", "expired"}}, c.expired);
    w.sample("portico_cache_requests_total", {{"result", "bypass"}}, c.bypass);
    w.family("portico_cache_bypass_total", "counter", "Responses not stored, by Cache-Status detail.");
    for (size_t i = 0; i < metrics::kBypassReasons.size(); ++i) {
        w.sample("portico_cache_bypass_total", {{"reason", metrics::kBypassReasons[i]}},
                 c.bypass_by_reason[i]);
    }
    w.single("portico_cache_coalesced_waits_total", "counter",
             "Requests that waited for an in-flight fetch of the same key.", c.coalesced_waits);
    w.single("portico_cache_stores_total", "counter", "Responses written to the cache.", c.stores);
    w.single("portico_cache_evictions_total", "counter", "Entries evicted to stay under cache.max_size.", c.evictions);
    w.single("portico_cache_purged_total", "counter", "Entries removed by purge, clear or invalidation.", c.purged);
    w.single("portico_cache_entries", "gauge", "Entries in the cache.", c.entries);
    w.single("portico_cache_bytes", "gauge", "Bytes stored in the cache.", c.bytes);
    w.single("portico_cache_served_bytes_total", "counter", "Response bytes answered from the cache.",
             c.bytes_served);
}

void render_process(Writer& w, const metrics::Snapshot& s) {
    w.family("portico_config_reloads_total", "counter", "Configuration reloads (SIGHUP or POST /reload) by result.");
    w.sample("portico_config_reloads_total", {{"result", "ok"}}, s.config_reloads_ok);
    w.sample("portico_config_reloads_total", {{"result", "error"}}, s.config_reloads_error);
    w.single("portico_config_generation", "gauge", "Generation of the configuration in use (1 at start).",
             s.config_generation);
    const auto& p = s.process;
    w.single("portico_process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
             p.resident_memory_bytes);
    w.single("portico_process_open_fds", "gauge", "Open file descriptors.", p.open_fds);
    w.single("portico_process_cpu_seconds_total", "counter", "User and system CPU time spent, in seconds.",
             p.cpu_seconds);
    w.single("portico_process_start_time_seconds", "gauge", "Start time of the process since the Unix epoch, in seconds.",
             p.start_time_seconds);
    w.single("portico_process_uptime_seconds", "gauge", "Seconds since the process started.", p.uptime_seconds);
}

}  // namespace

std::string render_prometheus(const metrics::Snapshot& snapshot, std::string_view version) {
    std::string out;
    out.reserve(8192);
    Writer w(out);
    w.family("portico_build_info", "gauge", "Always 1; the version label names the running build.");
    w.sample("portico_build_info", {{"version", version}}, 1);
    render_requests(w, snapshot);
    render_ratelimit(w, snapshot);
    render_compression(w, snapshot);
    render_static(w, snapshot);
    render_upstream(w, snapshot);
    if (snapshot.cache_active) render_cache(w, snapshot);
    render_process(w, snapshot);
    return out;
}

}  // namespace portico::admin
