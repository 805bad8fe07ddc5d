// A pool database's readiness; see database_probe.hpp.
#include "pool/database_probe.hpp"

#include <ctime>

#include <fmt/format.h>
#include <libpq-fe.h>

namespace portico::pool {

namespace {
// As often as the upstream probe while the database is not known to answer: one that comes back
// is seen within a couple of seconds. Once it answered, less often (see the header).
constexpr uint64_t kIntervalNs = 2'000'000'000ull;
constexpr uint64_t kAnsweredIntervalNs = 10'000'000'000ull;

uint64_t monotonic_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}
}  // namespace

struct DatabaseProbe::Ping {
    uv_work_t req{};
    DatabaseProbe* owner = nullptr;  // nulled when the probe goes first
    Params params;
    PGPing result = PQPING_NO_ATTEMPT;
};

DatabaseProbe::DatabaseProbe(uv_loop_t* loop, std::string database, Params params)
    : loop_(loop), database_(std::move(database)), params_(std::move(params)) {
    bool has_dbname = false;
    for (auto& [k, v] : params_) has_dbname = has_dbname || k == "dbname";
    if (!has_dbname) params_.emplace_back("dbname", database_);
    // Bounded: /ready must not wait on a server that accepts and never answers.
    std::erase_if(params_, [](const auto& kv) { return kv.first == "connect_timeout"; });
    params_.emplace_back("connect_timeout", "2");
    params_.emplace_back("fallback_application_name", "portico-probe");
}

DatabaseProbe::~DatabaseProbe() {
    if (in_flight_ != nullptr) in_flight_->owner = nullptr;
}

void DatabaseProbe::tick(uint64_t now_ns, const Params& login) {
    if (in_flight_ != nullptr) return;
    uint64_t interval = result_ == Result::ok ? kAnsweredIntervalNs : kIntervalNs;
    if (last_start_ns_ != 0 && now_ns - last_start_ns_ < interval) return;
    last_start_ns_ = now_ns;
    auto* ping = new Ping{};
    ping->req.data = ping;
    ping->owner = this;
    ping->params = params_;
    // Not a structured binding: clang before 16 cannot capture one in the lambda (the fuzzers build with clang).
    for (const auto& replacement : login) {
        std::erase_if(ping->params, [&](const auto& kv) { return kv.first == replacement.first; });
        ping->params.push_back(replacement);
    }
    in_flight_ = ping;
    uv_queue_work(
        loop_, &ping->req,
        [](uv_work_t* req) {
            auto* p = static_cast<Ping*>(req->data);
            std::vector<const char*> keys, values;
            for (const auto& [k, v] : p->params) {
                keys.push_back(k.c_str());
                values.push_back(v.c_str());
            }
            keys.push_back(nullptr);
            values.push_back(nullptr);
            p->result = PQpingParams(keys.data(), values.data(), 0);
        },
        [](uv_work_t* req, int status) {
            auto* p = static_cast<Ping*>(req->data);
            if (p->owner != nullptr) {
                p->owner->in_flight_ = nullptr;
                p->owner->answered(status == 0 ? static_cast<int>(p->result) : static_cast<int>(PQPING_NO_ATTEMPT),
                                   monotonic_ns());
            }
            delete p;
        });
}

void DatabaseProbe::answered(int ping_result, uint64_t now_ns) {
    switch (static_cast<PGPing>(ping_result)) {
        case PQPING_OK:  // the server answered, even if only to refuse our login: it is up
            result_ = Result::ok;
            last_ok_ns_ = now_ns;
            break;
        case PQPING_REJECT:
            result_ = Result::rejected;
            break;
        case PQPING_NO_RESPONSE:
            result_ = Result::no_response;
            break;
        case PQPING_NO_ATTEMPT:
            result_ = Result::no_attempt;
            break;
    }
}

std::string DatabaseProbe::reason() const {
    switch (result_) {
        case Result::ok:
            return "";
        case Result::unknown:
            return fmt::format("pool database {}: not checked yet", database_);
        case Result::rejected:
            return fmt::format("pool database {}: the server refuses connections (starting up, shutting down or in "
                               "recovery)", database_);
        case Result::no_response:
            return fmt::format("pool database {}: no answer from its server (down, or not reachable at its conninfo)",
                               database_);
        case Result::no_attempt:
            return fmt::format("pool database {}: its conninfo cannot be tried", database_);
    }
    return "";
}

}  // namespace portico::pool
