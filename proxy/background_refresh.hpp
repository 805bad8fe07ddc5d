// Stale-while-revalidate (RFC 5861 §3): the client got the stale entry at once; this fetch, owned by
// the worker rather than by any client connection, refreshes it — with the stored validators, so
// an unchanged resource costs the app a 304. It holds the key's coalescing lease, so one refresh
// runs per key across all workers, and requests that find the entry too stale wait for it.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "cache/coalescer.hpp"
#include "cache/policy.hpp"
#include "proxy/cache_stage.hpp"
#include "proxy/compression.hpp"
#include "proxy/http_message.hpp"
#include "proxy/intrusive_list.hpp"
#include "proxy/upstream_connection.hpp"

namespace portico::proxy {

class Worker;

class BackgroundRefresh final : private UpstreamListener {
public:
    struct Plan {
        std::string request;       // the upstream request head, validators included
        MessageHead client_head;   // the request that found the entry stale (Vary, Authorization…)
        std::string primary;
        std::string variant;
        std::string stored_head;   // for merging a 304
        int stored_status = 200;
        cache::RoutePolicyView route;
        uint64_t max_object_size = 0;
        uint64_t read_timeout_ms = 0;
        cache::LeasePtr lease;
        // The route's compression, so the refreshed entry is the variant a client fetch stores.
        CompressionSettings compression;
        std::vector<std::string> compression_types;  // compression.types points here
    };

    BackgroundRefresh(Worker& worker, Plan plan);
    ~BackgroundRefresh() override;
    BackgroundRefresh(const BackgroundRefresh&) = delete;
    BackgroundRefresh& operator=(const BackgroundRefresh&) = delete;

    void start();
    // Stops at once (the worker drains): the upstream connection is dropped, the lease released.
    void cancel();
    bool finished() const { return finished_; }

    ListHook hook;  // in the worker's list of refreshes

private:
    void upstream_ready(UpstreamConnection* connection) override;
    void upstream_failed(UpstreamError error, bool reused_connection) override;
    int upstream_head(MessageHead& head) override;
    int upstream_body(std::string_view data) override;
    void upstream_end() override;
    void upstream_drained() override {}
    void upstream_read_end() override {}
    void upstream_interim(const MessageHead&) override {}
    void finish();

    Worker& worker_;
    Plan plan_;
    UpstreamConnection* upstream_ = nullptr;
    bool waiting_ = false;  // queued in the upstream pool
    bool finished_ = false;
    uint64_t sent_ns_ = 0;
    StoreFill fill_;
    CompressionStage compression_;
};

}  // namespace portico::proxy
