// See background_refresh.hpp.
#include "proxy/background_refresh.hpp"

#include <chrono>

#include "core/clock.hpp"
#include "core/log.hpp"
#include "proxy/worker.hpp"

namespace portico::proxy {

BackgroundRefresh::BackgroundRefresh(Worker& worker, Plan plan) : worker_(worker), plan_(std::move(plan)) {
    plan_.compression.types = &plan_.compression_types;
}

BackgroundRefresh::~BackgroundRefresh() { cancel(); }

void BackgroundRefresh::start() {
    waiting_ = true;
    worker_.upstream().acquire(this);
}

void BackgroundRefresh::cancel() {
    if (upstream_ != nullptr) {
        UpstreamConnection* connection = upstream_;
        upstream_ = nullptr;
        connection->abandon();
    } else if (waiting_) {
        worker_.upstream().cancel(this);
    }
    waiting_ = false;
    finish();
}

// Done either way: the lease goes (waiters look again) and the worker frees this object later,
// outside the upstream connection's callbacks.
void BackgroundRefresh::finish() {
    finished_ = true;
    fill_.drop();
    compression_.reset();
    plan_.lease.reset();
}

void BackgroundRefresh::upstream_ready(UpstreamConnection* connection) {
    waiting_ = false;
    if (finished_) {
        connection->finish(/*reusable=*/true);
        return;
    }
    upstream_ = connection;
    sent_ns_ = core::now_ns();
    upstream_->write(plan_.request);
    upstream_->expect_response(/*head_request=*/false, plan_.read_timeout_ms);
}

void BackgroundRefresh::upstream_failed(UpstreamError error, bool) {
    waiting_ = false;
    upstream_ = nullptr;
    core::log(core::LogLevel::info, "cache", "background refresh of {} failed: {} (the stale entry stays)",
              plan_.primary, describe(error));
    finish();
}

int BackgroundRefresh::upstream_head(MessageHead& head) {
    CacheRuntime* runtime = worker_.cache();
    cache::Instant now = wall_now();
    cache::Instant request_time =
        now - std::chrono::duration_cast<cache::Seconds>(std::chrono::nanoseconds(core::now_ns() - sent_ns_));
    std::vector<cache::HeaderField>& response = worker_.response_fields();
    collect_fields(head, response);
    if (head.status == 304) {
        if (plan_.lease) plan_.lease->decided();
        if (auto refreshed = refresh_with_304(plan_.stored_head, plan_.stored_status, response, plan_.route,
                                              request_time, now)) {
            worker_.metrics().cache.revalidated.inc();
            runtime->writer->refresh(plan_.primary, plan_.variant, refreshed->facts, plan_.stored_status,
                                     std::move(refreshed->head), [lease = std::move(plan_.lease)](bool) {});
        }
        return 0;
    }
    if (head.status >= 500) return 0;  // keep serving the stale entry (its stale-if-error window decides)
    compression_.begin(plan_.client_head, head, plan_.compression, worker_.metrics().compression);
    collect_fields(head, response);  // again: compression edited the head
    std::vector<cache::HeaderField>& request = worker_.request_fields();
    collect_fields(plan_.client_head, request);
    StorePlan store = plan_store("GET", head, request, response, plan_.route, request_time, now,
                                 plan_.max_object_size, plan_.primary);
    if (store.entry) {
        fill_ = StoreFill(*runtime, std::move(store.entry), plan_.max_object_size);
    } else {
        if (plan_.lease) plan_.lease->decided();
        // No longer cacheable (no-store now, Set-Cookie…): the stale copy must not be served again.
        invalidate(*runtime, plan_.primary);
        plan_.lease.reset();
    }
    return 0;
}

int BackgroundRefresh::upstream_body(std::string_view data) {
    if (compression_.active()) data = compression_.write(data);
    if (fill_ && !data.empty() && !fill_.append(data)) {
        if (plan_.lease) plan_.lease->decided();
        plan_.lease.reset();
    }
    return 0;
}

void BackgroundRefresh::upstream_end() {
    UpstreamConnection* connection = upstream_;
    upstream_ = nullptr;
    connection->finish(/*reusable=*/true);
    if (compression_.active()) {
        std::string_view rest = compression_.finish();
        if (fill_ && !rest.empty() && !fill_.append(rest)) {
            if (plan_.lease) plan_.lease->decided();
            plan_.lease.reset();
        }
    }
    if (fill_) {
        if (plan_.lease) plan_.lease->decided();
        worker_.cache()->writer->put(fill_.take(), [lease = std::move(plan_.lease)](bool) {});
    }
    finish();
}

}  // namespace portico::proxy
