// A scripted AdminBackend for the admin tests: fixed figures, and a record of what was asked.
#pragma once

#include <optional>
#include <string>

#include "admin/routes.hpp"

namespace portico::admin::testing {

class FakeBackend : public AdminBackend {
public:
    core::metrics::Snapshot snapshot() override {
        core::metrics::Snapshot s;
        core::metrics::RouteSnapshot api;
        api.pattern = "/api/*";
        api.codes[core::metrics::code_slot(200)] = 2;
        s.routes.push_back(api);
        s.config_generation = generation;
        return s;
    }
    std::string config_yaml() override { return "workers: 2\n"; }
    bool ready(std::string& reason) override {
        reason = ready_reason;
        return ready_reason.empty();
    }
    ReloadResult reload() override {
        ++reloads;
        if (!reload_error.empty()) return {false, generation, reload_error};
        return {true, ++generation, ""};
    }
    bool draining() override { return is_draining; }

    uint64_t generation = 1;
    int reloads = 0;
    std::string reload_error;
    std::string ready_reason;
    bool is_draining = false;
};

// A backend whose cache and pool exist.
class FullBackend : public FakeBackend {
public:
    PartAnswer cache_stats() override { return PartAnswer::ok({{"entries", 3}, {"bytes", 300}}); }
    PartAnswer cache_purge(const PurgeTarget& target) override {
        purged = target;
        return PartAnswer::ok({{"removed", 2}});
    }
    PartAnswer cache_clear() override { return PartAnswer::ok({{"removed", 3}}); }
    PartAnswer pool() override { return PartAnswer::ok({{"databases", nlohmann::json::array()}}); }
    PartAnswer pool_pause(const std::optional<std::string>& database) override {
        paused = database.value_or("*");
        return PartAnswer::ok({{"paused", paused}});
    }

    std::optional<PurgeTarget> purged;
    std::string paused;
};

}  // namespace portico::admin::testing
