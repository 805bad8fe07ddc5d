// The cache stage of the client connection (DESIGN.md steps 5 and 6): lookup, coalescing, serving
// stored responses (HIT, 304, 206, HEAD), revalidation, stale-if-error, and storing a response as
// it streams to the client. The RFC 9111 decisions are cache/policy.hpp's; this file applies them.
#include <fmt/format.h>

#include "cache/conditional.hpp"
#include "cache/entry_codec.hpp"
#include "cache/invalidate.hpp"
#include "cache/surrogate_keys.hpp"
#include "cache/vary.hpp"
#include "core/clock.hpp"
#include "core/log.hpp"
#include "proxy/byte_range.hpp"
#include "proxy/client_connection.hpp"
#include "proxy/request_checks.hpp"
#include "proxy/worker.hpp"

namespace portico::proxy {

namespace {

std::string_view method_name(int method) { return llhttp_method_name(static_cast<llhttp_method_t>(method)); }

// The coalescing key: the variant when the resource is known to vary, else the primary key.
std::string coalesce_key(std::string_view primary, std::string_view variant) {
    std::string key(primary);
    if (!variant.empty()) {
        key.push_back('\0');
        key.append(variant);
    }
    return key;
}

}  // namespace

bool ClientConnection::cache_on() const { return worker_.cache() != nullptr && config_->cache.enabled; }

// Looks the request up and answers it from the store when RFC 9111 allows; otherwise prepares the
// upstream exchange (validators, a stale copy for stale-if-error) and joins the key's coalescing.
bool ClientConnection::cache_lookup() {
    CacheRuntime& runtime = *worker_.cache();
    auto& counters = worker_.metrics().cache;
    const MessageHead& head = parser_.head();
    std::vector<cache::HeaderField>& request = worker_.request_fields();
    collect_fields(head, request);
    cache_.mode = cache::classify_request(method_name(method_), request);
    if (cache_.primary.empty()) request_primary_key(cache_.primary, head, key_options(config_->cache));
    cache::Instant now = wall_now();
    cache_.request_time = now;
    cache_.stale.reset();
    cache_.revalidating = false;
    cache_.on_fetch = XCache::miss;
    cache_.fwd = "uri-miss";

    cache::Snapshot snapshot = runtime.store->snapshot();
    Found found;
    if (!runtime.pending_removals.contains(cache_.primary)) {
        found = find_entry(snapshot, cache_.primary, request, cache_.variant);
    }
    if (found.varies) cache_.fwd = "vary-miss";
    if (found.entry) {
        const cache::EntryView& entry = *found.entry;
        switch (cache::judge(entry.facts, cache_.mode, now)) {
            case cache::LookupVerdict::fresh:
                counters.hits.inc();
                if (entry.wants_touch) runtime.writer->touch(entry.object_key);
                serve_stored(entry.status, entry.head, entry.body, entry.facts, XCache::hit, "hit");
                return true;
            case cache::LookupVerdict::stale_while_revalidate:
                counters.stale.inc();
                start_refresh(entry);
                serve_stored(entry.status, entry.head, entry.body, entry.facts, XCache::stale,
                             "hit; detail=stale-while-revalidate");
                return true;
            case cache::LookupVerdict::gateway_timeout:
                break;  // below: 504
            case cache::LookupVerdict::bypass:
                cache_.on_fetch = XCache::bypass;
                cache_.fwd = "bypass";
                return false;
            case cache::LookupVerdict::revalidate:
            case cache::LookupVerdict::expired:
                cache_.on_fetch = XCache::expired;
                cache_.fwd = "stale";
                if (entry.facts.has_validator || entry.facts.stale_if_error.count() > 0) {
                    // Kept for a 304 (the body is reused) or an upstream failure (served stale).
                    cache_.stale = StaleCopy{entry.facts, entry.status, std::string(entry.head), std::string(entry.body)};
                    cache_.revalidating = entry.facts.has_validator;
                }
                break;
        }
    }
    snapshot.release();
    if (cache_.mode.mode == cache::RequestMode::only_if_cached && !cache_.stale) {
        cache_extra_.clear();
        append_cache_lines(cache_extra_, XCache::miss, "fwd=miss; detail=only-if-cached");
        respond_local(504, "only-if-cached: not in the cache", close_after_, cache_extra_);
        return true;
    }
    if (cache_.mode.mode == cache::RequestMode::only_if_cached) {
        // Stale and not allowed: §5.2.1.7 says 504 rather than going forward.
        cache_extra_.clear();
        append_cache_lines(cache_extra_, XCache::miss, "fwd=stale; detail=only-if-cached");
        respond_local(504, "only-if-cached: the stored response is stale", close_after_, cache_extra_);
        return true;
    }
    if (cache_.mode.mode == cache::RequestMode::revalidate) cache_.fwd = "request";

    if (!cache_.coalesced) {
        std::string key = coalesce_key(cache_.primary, cache_.variant);
        uint64_t ticket = worker_.add_cache_waiter(this);
        cache_.lease = runtime.coalescer.join(key, &worker_.cache_waiters(), ticket);
        if (!cache_.lease) {
            // Another request fetches this key now: wait for it (bounded by cache.lock_timeout).
            counters.coalesced_waits.inc();
            cache_.ticket = ticket;
            set_state(State::waiting_cache);
            arm_timer(std::max<uint64_t>(1, static_cast<uint64_t>(config_->cache.lock_timeout.count())));
            return true;
        }
        worker_.remove_cache_waiter(ticket);
    }
    return false;
}

// One background fetch per key refreshes a stale-while-revalidate entry; if one runs already (here
// or on another worker), this request only serves the stale copy.
void ClientConnection::start_refresh(const cache::EntryView& entry) {
    CacheRuntime& runtime = *worker_.cache();
    cache::LeasePtr lease = runtime.coalescer.try_lead(coalesce_key(cache_.primary, cache_.variant));
    if (!lease) return;
    BackgroundRefresh::Plan plan;
    plan.lease = std::move(lease);
    plan.client_head = parser_.head();
    plan.primary = cache_.primary;
    plan.variant = cache_.variant;
    plan.stored_head.assign(entry.head);
    plan.stored_status = entry.status;
    plan.route = route_policy(*route_);
    plan.max_object_size = runtime.object_limit(config_->cache.max_object_size);
    plan.read_timeout_ms = static_cast<uint64_t>(config_->upstream.read_timeout.count());
    plan.compression = compression_settings();
    plan.compression_types = config_->compression.types;

    UpstreamRequestContext context = upstream_context();
    std::string extra;
    append_validators(extra, entry.head, worker_.response_fields());
    context.drop_conditionals = true;
    context.extra_headers = extra;
    // A HEAD that found the entry still refreshes the GET it was answered from.
    plan.client_head.method = HTTP_GET;
    build_upstream_request(plan.request, plan.client_head, context);
    worker_.start_refresh(std::move(plan));
}

void ClientConnection::leave_coalescing() {
    if (cache_.ticket == 0) return;
    if (CacheRuntime* runtime = worker_.cache()) {
        runtime->coalescer.leave(coalesce_key(cache_.primary, cache_.variant), &worker_.cache_waiters(),
                                 cache_.ticket);
    }
    worker_.remove_cache_waiter(cache_.ticket);
    cache_.ticket = 0;
}

void ClientConnection::coalesce_released(bool retry) {
    if (closed_ || state_ != State::waiting_cache) return;
    cache_.ticket = 0;
    cache_.coalesced = !retry;
    arm_timer(0);
    set_state(State::waiting_upstream);
    // The leader's entry is committed by now (or it was not cacheable): look again.
    if (cache_lookup()) return;
    start_upstream();
}

// A response from the store: 200/…, or 304 for a matching conditional, or 206/416 for a Range.
void ClientConnection::serve_stored(int status, std::string_view head, std::string_view body,
                                    const cache::EntryFacts& facts, XCache x, std::string_view params) {
    const MessageHead& request = parser_.head();
    cache::Instant now = wall_now();
    bool head_only = method_ == HTTP_HEAD;
    std::string& extra = cache_extra_;
    extra.clear();
    extra.append("Age: ");
    cache::append_age(extra, cache::current_age(facts.corrected_initial_age, facts.response_time, now));
    extra.append("\r\n");
    append_cache_lines(extra, x, params);
    extra.append(policy_fields_);

    ClientResponseContext context;
    context.request_id = request_id_;
    context.portico_ms = core::ns_to_ms(core::now_ns() - started_ns_);
    if (worker_.draining()) close_after_ = true;
    context.close = close_after_;
    context.keep_alive_1_0 = request.version_minor == 0 && !close_after_;
    context.framing = ClientFraming::content_length;

    context.extra_headers = extra;
    std::string_view send_body = body;
    int send_status = status;
    std::string& out = worker_.scratch();
    out.clear();
    bool conditional = request.count(FieldId::if_none_match) > 0 || request.count(FieldId::if_modified_since) > 0;
    bool ranged = !head_only && status == 200 && request.count(FieldId::range) > 0;
    if ((conditional && status >= 200 && status < 300) || ranged) {
        std::vector<cache::HeaderField>& stored = worker_.response_fields();
        cache::parse_head_block(head, stored);
        std::vector<cache::HeaderField>& fields = worker_.request_fields();
        collect_fields(request, fields);
        if (conditional && cache::client_conditional_matches(fields, stored, facts.response_time)) {
            // RFC 9111 §4.3.2: the client's own validator matches the stored response.
            std::string block;
            build_stored_head(block, cache::fields_for_304(stored));
            build_cached_response_head(out, 304, block, context, /*omit_length=*/true);
            status_ = 304;
            response_started_ = true;
            response_bytes_ += out.size();
            worker_.metrics().cache.bytes_served.inc(out.size());
            if (send_to_client(out)) finish_exchange();
            return;
        }
        if (ranged && if_range_allows(request.find(FieldId::if_range), cache::find_first(stored, "ETag").value_or(""),
                                      cache::find_first(stored, "Last-Modified").value_or(""))) {
            ByteRange range;
            switch (choose_range(request.find(FieldId::range), body.size(), range)) {
                case RangeAnswer::full:
                    break;
                case RangeAnswer::partial:
                    send_status = 206;
                    send_body = body.substr(range.first, range.size());
                    extra.append(fmt::format("Content-Range: bytes {}-{}/{}\r\n", range.first, range.last, body.size()));
                    break;
                case RangeAnswer::unsatisfiable:
                    send_status = 416;
                    send_body = {};
                    extra.append(fmt::format("Content-Range: bytes */{}\r\n", body.size()));
                    break;
            }
        }
    }
    context.extra_headers = extra;
    context.content_length = send_body.size();
    build_cached_response_head(out, send_status, head, context);
    status_ = send_status;
    response_started_ = true;
    if (head_only) send_body = {};
    response_bytes_ += out.size() + send_body.size();
    worker_.metrics().cache.bytes_served.inc(out.size() + send_body.size());
    if (send_to_client(out, send_body)) finish_exchange();
}

// The upstream's answer to a cacheable request. Returns true when it is not passed on: a 304 to our
// revalidation (the refreshed stored response is served once it ends), or an error replaced by
// stale-if-error. Otherwise decides whether to store it and fills in X-Cache / Cache-Status.
bool ClientConnection::cache_response_head(MessageHead& head, std::string& extra) {
    CacheRuntime& runtime = *worker_.cache();
    auto& counters = worker_.metrics().cache;
    cache::Instant now = wall_now();
    std::vector<cache::HeaderField>& response = worker_.response_fields();
    collect_fields(head, response);

    // The exchange's own duration, not the whole seconds it straddled: a 2 ms fetch at x.999 s
    // must not make every stored response one second old (RFC 9111 §4.2.3 response_delay).
    cache_.request_time = now - std::chrono::duration_cast<cache::Seconds>(
                                    std::chrono::nanoseconds(core::now_ns() - upstream_sent_ns_));
    cache::RoutePolicyView route = route_policy(*route_);

    if (head.status == 304 && cache_.revalidating && cache_.stale) {
        if (auto refreshed = refresh_with_304(cache_.stale->head, cache_.stale->status, response, route,
                                              cache_.request_time, now)) {
            // RFC 9111 §4.3.4: the stored response, with the 304's fields, is fresh again.
            cache_.stale->head = refreshed->head;
            cache_.stale->facts = refreshed->facts;
            if (cache_.lease) cache_.lease->decided();
            runtime.writer->refresh(cache_.primary, cache_.variant, refreshed->facts, cache_.stale->status,
                                    std::move(refreshed->head), [lease = std::move(cache_.lease)](bool) {});
            counters.revalidated.inc();
            cache_.ending = CacheExchange::Ending::revalidated;
            return true;
        }
    }
    if (head.status >= 500 && cache_.stale && cache::stale_if_error_allowed(cache_.stale->facts, now)) {
        cache_.ending = CacheExchange::Ending::stale;
        cache_.failed_status = head.status;
        counters.stale.inc();
        return true;
    }

    std::vector<cache::HeaderField>& request = worker_.request_fields();
    collect_fields(parser_.head(), request);
    StorePlan plan = plan_store(method_name(method_), head, request, response, route, cache_.request_time, now,
                                runtime.object_limit(config_->cache.max_object_size), cache_.primary);
    if (plan.entry) {
        cache_.fill = StoreFill(runtime, std::move(plan.entry), runtime.object_limit(config_->cache.max_object_size));
        (cache_.on_fetch == XCache::expired ? counters.expired : counters.misses).inc();
        append_cache_lines(extra, cache_.on_fetch, fmt::format("fwd={}; stored", cache_.fwd));
    } else {
        // Not stored: waiting requests need not wait for the body (they go upstream themselves).
        if (cache_.lease) cache_.lease->decided();
        cache_.lease.reset();
        counters.bypass.inc();
        counters.bypass_by_reason[core::metrics::bypass_reason_slot(plan.detail)].inc();
        append_cache_lines(extra, XCache::bypass, fmt::format("fwd=bypass; detail={}", plan.detail));
    }
    return false;
}

// Unsafe methods invalidate what they may have changed (RFC 9111 §4.4); other bypassed requests
// only say so.
void ClientConnection::cache_after_unsafe(const MessageHead& head, std::string& extra) {
    // GET/HEAD here had caching turned off for their route (or carried a body); others are methods
    // the cache never answers.
    bool route = method_ == HTTP_GET || method_ == HTTP_HEAD;
    auto& counters = worker_.metrics().cache;
    counters.bypass.inc();
    counters.bypass_by_reason[core::metrics::bypass_reason_slot(route ? "route" : "method")].inc();
    append_cache_lines(extra, XCache::bypass, route ? "fwd=bypass; detail=route" : "fwd=bypass; detail=method");
    if (cache::is_safe_method(method_name(method_)) || !config_->cache.invalidate_on_unsafe) return;
    if (head.status < 200 || head.status >= 400) return;
    std::vector<cache::HeaderField>& response = worker_.response_fields();
    collect_fields(head, response);
    const MessageHead& request = parser_.head();
    std::vector<std::string> keys =
        cache::invalidation_keys(method_name(method_), head.status, "http", request.find(FieldId::host),
                                 request.target(), response, key_options(config_->cache));
    for (std::string& key : keys) invalidate(*worker_.cache(), std::move(key));
}

void ClientConnection::cache_response_body(std::string_view data) {
    if (!cache_.fill.append(data)) {
        // Past cache.max_object_size, or too much is being copied at once: keep streaming, stop
        // storing, and let the waiters go upstream themselves.
        if (cache_.lease) cache_.lease->decided();
        cache_.lease.reset();
    }
}

// The whole response went to the client; the copy goes to the writer. Waiters wake after its
// commit (the lease travels into the callback), so they find the entry when they look again.
void ClientConnection::cache_response_end() {
    CacheRuntime& runtime = *worker_.cache();
    if (cache_.lease) cache_.lease->decided();  // waiters find the entry once it is committed
    runtime.writer->put(cache_.fill.take(), [lease = std::move(cache_.lease)](bool) {});
}

bool ClientConnection::cache_serve_ending() {
    if (!cache_.stale) return false;
    StaleCopy copy = std::move(*cache_.stale);
    cache_.stale.reset();
    if (cache_.ending == CacheExchange::Ending::revalidated) {
        serve_stored(copy.status, copy.head, copy.body, copy.facts, XCache::revalidated, "fwd=stale; fwd-status=304");
    } else {
        serve_stored(copy.status, copy.head, copy.body, copy.facts, XCache::stale,
                     fmt::format("fwd=stale; fwd-status={}; detail=stale-if-error", cache_.failed_status));
    }
    return true;
}

// The upstream failed before answering (refused, reset, timed out): stale-if-error may answer.
bool ClientConnection::cache_serve_stale_on_failure(int status) {
    if (!cache_.stale || !cache::stale_if_error_allowed(cache_.stale->facts, wall_now())) return false;
    worker_.metrics().cache.stale.inc();
    cache_.ending = CacheExchange::Ending::stale;
    cache_.failed_status = status;
    cache_serve_ending();
    return true;
}

}  // namespace portico::proxy
