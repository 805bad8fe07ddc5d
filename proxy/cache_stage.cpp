// See cache_stage.hpp.
#include "proxy/cache_stage.hpp"

#include <chrono>

#include "cache/conditional.hpp"
#include "cache/entry_codec.hpp"
#include "cache/surrogate_keys.hpp"
#include "cache/vary.hpp"
#include "core/log.hpp"
#include "proxy/headers.hpp"
#include "proxy/request_checks.hpp"

namespace portico::proxy {

void PendingRemovals::add(const std::string& primary) {
    std::lock_guard lock(mutex_);
    ++keys_[primary];
    count_.fetch_add(1, std::memory_order_release);
}

void PendingRemovals::committed(const std::string& primary) {
    std::lock_guard lock(mutex_);
    auto it = keys_.find(primary);
    if (it == keys_.end()) return;
    if (--it->second == 0) keys_.erase(it);
    count_.fetch_sub(1, std::memory_order_release);
}

bool PendingRemovals::contains(std::string_view primary) const {
    if (count_.load(std::memory_order_acquire) == 0) return false;
    std::lock_guard lock(mutex_);
    return keys_.find(std::string(primary)) != keys_.end();
}

void invalidate(CacheRuntime& runtime, std::string primary) {
    runtime.pending_removals.add(primary);
    std::string key = primary;
    runtime.writer->remove(std::move(primary), [&runtime, key = std::move(key)](uint64_t) {
        runtime.pending_removals.committed(key);
    });
}

CacheRuntime::~CacheRuntime() {
    if (writer) writer->stop();
}

std::unique_ptr<CacheRuntime> open_cache(const conf::CacheConfig& config) {
    if (!config.enabled) return nullptr;
    cache::StoreOptions options;
    options.path = config.path;
    options.max_size = config.max_size;
    options.log = [](std::string_view message) { core::log_line(core::LogLevel::warn, "cache", message); };
    cache::Store::OpenResult opened = cache::Store::open(std::move(options));
    if (!opened.store) {
        core::log(core::LogLevel::error, "cache", "cache disabled: cannot open {}: {}", config.path, opened.error);
        return nullptr;
    }
    auto runtime = std::make_unique<CacheRuntime>();
    runtime->store = std::move(opened.store);
    cache::WriterOptions writer_options;
    writer_options.max_object_bytes = config.max_object_size;
    runtime->writer = std::make_unique<cache::Writer>(*runtime->store, writer_options);
    runtime->path = config.path;
    runtime->max_size = config.max_size;
    auto stats = runtime->store->stats();
    core::log(core::LogLevel::info, "cache", "cache at {}: {} entries, {} bytes of {}", config.path, stats.entries,
              stats.bytes, stats.map_bytes);
    return runtime;
}

void collect_fields(const MessageHead& head, std::vector<cache::HeaderField>& out) {
    out.clear();
    for (size_t i = 0; i < head.header_count(); ++i) out.push_back({head.header_name(i), head.header_value(i)});
}

cache::RoutePolicyView route_policy(const conf::Route& route) {
    using std::chrono::duration_cast;
    cache::RoutePolicyView view;
    view.ttl = duration_cast<cache::Seconds>(route.cache_ttl);
    if (route.stale_while_revalidate.count() > 0) {
        view.stale_while_revalidate = duration_cast<cache::Seconds>(route.stale_while_revalidate);
    }
    if (route.stale_if_error.count() > 0) view.stale_if_error = duration_cast<cache::Seconds>(route.stale_if_error);
    view.store_set_cookie = route.cache_store_set_cookie;
    return view;
}

cache::KeyOptions key_options(const conf::CacheConfig& config) {
    return cache::KeyOptions{config.key.sort_query, config.key.ignore_params};
}

void build_stored_head(std::string& out, const MessageHead& response, const cache::CacheControl& directives) {
    out.clear();
    for (size_t i = 0; i < response.header_count(); ++i) {
        FieldId id = response.header_id(i);
        if (id == FieldId::content_length || id == FieldId::age || id == FieldId::x_request_id ||
            id == FieldId::server_timing || always_hop_by_hop(id) || for_portico_only(id)) {
            continue;
        }
        std::string_view name = response.header_name(i);
        if (id == FieldId::other && is_hop_by_hop(response, name)) continue;  // named by Connection
        if (cache::excluded_from_storage(directives, name)) continue;
        cache::append_head_line(out, name, response.header_value(i));
    }
}

void build_stored_head(std::string& out, cache::HeaderList fields) {
    out.clear();
    for (const cache::HeaderField& f : fields) {
        FieldId id = classify_field(f.name);
        if (id == FieldId::content_length || id == FieldId::age || always_hop_by_hop(id) || for_portico_only(id)) {
            continue;
        }
        cache::append_head_line(out, f.name, f.value);
    }
}

void append_validators(std::string& out, std::string_view stored_head, std::vector<cache::HeaderField>& scratch) {
    cache::parse_head_block(stored_head, scratch);
    cache::RevalidationHeaders r = cache::build_revalidation_headers(scratch);
    if (!r.if_none_match.empty()) out.append("If-None-Match: ").append(r.if_none_match).append("\r\n");
    if (!r.if_modified_since.empty()) out.append("If-Modified-Since: ").append(r.if_modified_since).append("\r\n");
}

void request_primary_key(std::string& out, const MessageHead& request, const cache::KeyOptions& options) {
    std::string_view host = request.find(FieldId::host);
    std::string_view method = llhttp_method_name(static_cast<llhttp_method_t>(request.method));
    cache::build_primary_key(out, method, "http", host, request.target(), options);
}

Found find_entry(const cache::Snapshot& snapshot, std::string_view primary, cache::HeaderList request,
                 std::string& variant) {
    Found found;
    variant.clear();
    cache::Lookup lookup = snapshot.find(primary);
    switch (lookup.kind) {
        case cache::Lookup::Kind::none:
            return found;
        case cache::Lookup::Kind::entry:
            found.entry = lookup.entry;
            return found;
        case cache::Lookup::Kind::vary: {
            found.varies = true;
            const cache::HeaderField vary[] = {{"Vary", lookup.vary_names}};
            if (cache::vary_key(vary, request, variant) != cache::VaryResult::ok) return found;
            found.entry = snapshot.find_variant(primary, variant);
            return found;
        }
    }
    return found;
}

StoreFill& StoreFill::operator=(StoreFill&& other) noexcept {
    if (this == &other) return *this;
    drop();
    runtime_ = other.runtime_;
    entry_ = std::move(other.entry_);
    max_object_size_ = other.max_object_size_;
    reserved_ = other.reserved_;
    other.reserved_ = 0;
    return *this;
}

bool StoreFill::append(std::string_view data) {
    if (!entry_) return false;
    uint64_t size = entry_->body.size() + data.size();
    bool within_budget =
        runtime_->filling.fetch_add(data.size(), std::memory_order_relaxed) + data.size() <= CacheRuntime::kFillBudget;
    reserved_ += data.size();
    if (size > max_object_size_ || !within_budget) {
        drop();
        return false;
    }
    entry_->body.append(data);
    return true;
}

cache::EntryToStore StoreFill::take() {
    cache::EntryToStore entry = std::move(*entry_);
    drop();
    return entry;
}

void StoreFill::drop() {
    if (reserved_ > 0) runtime_->filling.fetch_sub(reserved_, std::memory_order_relaxed);
    reserved_ = 0;
    entry_.reset();
}

StorePlan plan_store(std::string_view method, const MessageHead& response, cache::HeaderList request,
                     cache::HeaderList response_fields, const cache::RoutePolicyView& route, cache::Instant request_time,
                     cache::Instant response_time, uint64_t max_object_size, std::string_view primary) {
    StorePlan plan;
    cache::StoreDecision decision =
        cache::decide_store(method, response.status, request, response_fields, route, request_time, response_time);
    if (!decision.store()) {
        plan.detail = cache::detail_token(decision.reason);
        return plan;
    }
    if (response.framing == BodyFraming::until_close) {
        plan.detail = "incomplete";  // the end of such a body cannot be told from a cut connection
        return plan;
    }
    if (response.framing == BodyFraming::content_length && response.content_length > max_object_size) {
        plan.detail = "too-large";
        return plan;
    }
    auto entry = std::make_unique<cache::EntryToStore>();
    entry->primary = primary;
    cache::join_values(response_fields, "Vary", entry->vary_names);
    if (!entry->vary_names.empty()) cache::vary_key(response_fields, request, entry->variant);
    entry->facts = decision.facts;
    entry->status = response.status;
    build_stored_head(entry->head, response, cache::effective_response_cache_control(response_fields).directives);
    for (std::string_view tag : cache::surrogate_keys(response_fields).tags) entry->tags.emplace_back(tag);
    if (response.framing == BodyFraming::content_length) entry->body.reserve(response.content_length);
    plan.entry = std::move(entry);
    return plan;
}

std::optional<Refreshed> refresh_with_304(std::string_view stored_head, int stored_status,
                                          cache::HeaderList not_modified, const cache::RoutePolicyView& route,
                                          cache::Instant request_time, cache::Instant response_time) {
    std::vector<cache::HeaderField> stored;
    cache::parse_head_block(stored_head, stored);
    if (!cache::revalidation_selects(stored, not_modified)) return std::nullopt;
    Refreshed refreshed;
    build_stored_head(refreshed.head, cache::merge_304(stored, not_modified));
    std::vector<cache::HeaderField> merged;
    cache::parse_head_block(refreshed.head, merged);
    refreshed.facts = cache::make_entry_facts(cache::effective_response_cache_control(merged), merged, stored_status,
                                              route, request_time, response_time);
    return refreshed;
}

cache::Instant wall_now() {
    return std::chrono::time_point_cast<cache::Seconds>(std::chrono::system_clock::now());
}

std::string_view x_cache_name(XCache x) {
    switch (x) {
        case XCache::hit: return "HIT";
        case XCache::miss: return "MISS";
        case XCache::stale: return "STALE";
        case XCache::revalidated: return "REVALIDATED";
        case XCache::bypass: return "BYPASS";
        case XCache::expired: return "EXPIRED";
    }
    return "MISS";
}

void append_cache_lines(std::string& out, XCache x, std::string_view params) {
    out.append("X-Cache: ");
    out.append(x_cache_name(x));
    out.append("\r\nCache-Status: portico; ");
    out.append(params);
    out.append("\r\n");
}

}  // namespace portico::proxy
