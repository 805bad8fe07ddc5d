// Host name lookups off the pool loop; see resolver.hpp.
#include "pool/resolver.hpp"

#include <algorithm>
#include <netdb.h>

#include "core/log.hpp"
#include "pool/pooler.hpp"

namespace portico::pool {

struct HostResolver::Lookup {
    uv_getaddrinfo_t req{};
    HostResolver* owner = nullptr;  // nullptr once the resolver is gone: the answer is dropped
    std::string name;
};

namespace {
// getaddrinfo's own message for the code libuv translated (what libpq would print), else libuv's.
std::string lookup_error(int status) {
    int eai = 0;
    switch (status) {
        case UV_EAI_AGAIN: eai = EAI_AGAIN; break;
        case UV_EAI_FAIL: eai = EAI_FAIL; break;
        case UV_EAI_FAMILY: eai = EAI_FAMILY; break;
        case UV_EAI_MEMORY: eai = EAI_MEMORY; break;
        case UV_EAI_NODATA: eai = EAI_NODATA; break;
        case UV_EAI_NONAME: eai = EAI_NONAME; break;
        case UV_EAI_SERVICE: eai = EAI_SERVICE; break;
        case UV_EAI_ADDRFAMILY: eai = EAI_ADDRFAMILY; break;
        default: return uv_strerror(status);
    }
    return gai_strerror(eai);
}
}  // namespace

HostResolver::~HostResolver() {
    // The loop outlives the pooler only until its requests finish; their answers go nowhere.
    for (Lookup* l : in_flight_) {
        l->owner = nullptr;
        uv_cancel(reinterpret_cast<uv_req_t*>(&l->req));
    }
}

void HostResolver::resolve(const std::vector<std::string>& names, Done done) {
    auto batch = std::make_shared<Batch>();
    batch->done = std::move(done);
    batch->outstanding = 1;  // held until every name is asked, so no answer completes it early
    uint64_t now = Pooler::now_ns();
    for (const std::string& name : names) {
        Entry& e = cache_[name];
        if (!e.pending && e.expires_ns > now) {
            batch->results[name] = e.answer;
            continue;
        }
        batch->outstanding++;
        e.waiting.push_back(batch);
        if (e.pending) continue;  // someone already asked: share the answer
        auto* l = new Lookup;
        l->owner = this;
        l->name = name;
        l->req.data = l;
        addrinfo hints{};
        hints.ai_family = AF_UNSPEC;  // as libpq asks: every address of the name, v4 and v6
        hints.ai_socktype = SOCK_STREAM;
        e.pending = true;
        ++lookups;
        int rc = uv_getaddrinfo(loop_, &l->req, &HostResolver::on_resolved, name.c_str(), nullptr, &hints);
        if (rc != 0) {
            delete l;
            finished(name, HostLookup{{}, lookup_error(rc)});  // answers the batches, this one included
            continue;
        }
        in_flight_.push_back(l);
    }
    if (--batch->outstanding == 0 && batch->done) {
        Done call = std::move(batch->done);
        batch->done = nullptr;
        call(batch->results);
    }
}

void HostResolver::on_resolved(uv_getaddrinfo_t* req, int status, addrinfo* res) {
    auto* l = static_cast<Lookup*>(req->data);
    HostLookup answer;
    if (status != 0) {
        answer.error = lookup_error(status);
    } else {
        for (addrinfo* a = res; a != nullptr; a = a->ai_next) {
            char text[INET6_ADDRSTRLEN] = {};
            if (a->ai_family == AF_INET) uv_ip4_name(reinterpret_cast<sockaddr_in*>(a->ai_addr), text, sizeof text);
            else if (a->ai_family == AF_INET6) uv_ip6_name(reinterpret_cast<sockaddr_in6*>(a->ai_addr), text, sizeof text);
            else continue;
            if (std::find(answer.addresses.begin(), answer.addresses.end(), text) == answer.addresses.end())
                answer.addresses.emplace_back(text);
        }
        if (answer.addresses.empty()) answer.error = gai_strerror(EAI_NODATA);
    }
    uv_freeaddrinfo(res);
    HostResolver* owner = l->owner;
    std::string name = std::move(l->name);
    if (owner != nullptr) owner->in_flight_.erase(std::find(owner->in_flight_.begin(), owner->in_flight_.end(), l));
    delete l;
    if (owner != nullptr) owner->finished(name, std::move(answer));
}

void HostResolver::finished(const std::string& name, HostLookup answer) {
    Entry& e = cache_[name];
    if (!answer.error.empty()) {
        ++lookup_failures;
        core::log(core::LogLevel::warn, "pool", "cannot resolve host name {}: {}", name, answer.error);
    }
    e.pending = false;
    e.answer = std::move(answer);
    e.expires_ns = Pooler::now_ns() + ttl_ns_;
    std::vector<std::shared_ptr<Batch>> waiting;
    waiting.swap(e.waiting);
    const HostLookup copy = e.answer;  // a callback may resolve again and move `e`
    for (auto& batch : waiting) {
        batch->results[name] = copy;
        if (--batch->outstanding == 0 && batch->done) {
            Done call = std::move(batch->done);
            batch->done = nullptr;
            call(batch->results);
        }
    }
}

}  // namespace portico::pool
