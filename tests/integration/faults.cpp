// Fault injection (issue 9): real processes broken on purpose while requests flow. An upstream
// that resets the connection mid-head or mid-body, or stalls mid-body past read_timeout; an LMDB
// map far too small for the traffic; the cache's file system filling up (a small tmpfs); portico
// held to 64 file descriptors with more clients than that. Each test counts the faults it injected
// and the requests lost or mis-served (0 and 0), and prints them with --log_level=message.
//
// The upstream is a raw one (raw_upstream.hpp) serving, for GET /any/path?size=N, a body only that
// path gives (derived_body) with Cache-Control: max-age=600, so that every byte served — from the
// upstream or the cache — can be checked against the path it was asked for.
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/statvfs.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include "cache_support.hpp"
#include "raw_upstream.hpp"

using namespace portico::test;
using namespace portico::test::cache;
namespace fs = std::filesystem;

namespace {

// ---- the content upstream --------------------------------------------------------------------

enum class Fault {
    none,
    reset_in_head,   // half a status line and headers, then a TCP reset
    reset_mid_body,  // the whole head (Content-Length), half the body, then a reset
    stall_mid_body,  // the whole head, half the body, then nothing (the connection held open)
    hold,            // nothing until release() (or the test ends), then the whole response
};

const char* fault_name(Fault f) {
    switch (f) {
        case Fault::none: return "none";
        case Fault::reset_in_head: return "reset mid-headers";
        case Fault::reset_mid_body: return "reset mid-body";
        case Fault::stall_mid_body: return "stall mid-body";
        case Fault::hold: return "hold";
    }
    return "?";
}

size_t size_param(std::string_view target, size_t fallback) {
    auto at = target.find("size=");
    if (at == std::string_view::npos) return fallback;
    return static_cast<size_t>(std::stoul(std::string(target.substr(at + 5))));
}
std::string path_of(std::string_view target) { return std::string(target.substr(0, target.find('?'))); }

class ContentUpstream {
public:
    // `script(path, nth)` picks the fault for the nth (1-based) request of a path.
    using Script = std::function<Fault(const std::string& path, int nth)>;
    explicit ContentUpstream(Script script = {})
        : script_(std::move(script)), server_([this](RawConnection& c) { serve(c); }) {}

    std::string address() const { return server_.address(); }
    int asked(const std::string& path) {
        std::lock_guard lock(mutex_);
        return asked_[path];
    }
    int total() {
        std::lock_guard lock(mutex_);
        int n = 0;
        for (const auto& [p, k] : asked_) n += k;
        return n;
    }
    int holding() const { return holding_; }
    void release() { released_ = true; }

private:
    void serve(RawConnection& c) {
        std::string buf;
        for (;;) {
            if (!c.read_until(buf, "\r\n\r\n", 30s)) return;
            size_t end = buf.find("\r\n\r\n");
            std::string head = buf.substr(0, end);
            buf.erase(0, end + 4);
            size_t sp1 = head.find(' '), sp2 = head.find(' ', sp1 + 1);
            std::string target = head.substr(sp1 + 1, sp2 - sp1 - 1);
            std::string path = path_of(target);
            int nth;
            {
                std::lock_guard lock(mutex_);
                nth = ++asked_[path];
            }
            Fault fault = script_ ? script_(path, nth) : Fault::none;
            const size_t size = size_param(target, 20000);
            const std::string body = derived_body(path, size);
            const std::string response_head = fmt::format(
                "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n"
                "Cache-Control: max-age=600\r\nX-Body-Sha256: {}\r\n\r\n",
                size, sha256_hex(body));
            switch (fault) {
                case Fault::none:
                    if (!c.write(response_head + body)) return;
                    break;
                case Fault::reset_in_head:
                    c.write(response_head.substr(0, response_head.size() / 2));
                    std::this_thread::sleep_for(50ms);  // the half reaches portico first
                    c.reset();
                    return;
                case Fault::reset_mid_body:
                    c.write(response_head + body.substr(0, size / 2));
                    std::this_thread::sleep_for(50ms);
                    c.reset();
                    return;
                case Fault::stall_mid_body:
                    c.write(response_head + body.substr(0, size / 2));
                    c.hold();
                    return;
                case Fault::hold:
                    ++holding_;
                    while (!released_ && !c.stopping()) std::this_thread::sleep_for(5ms);
                    --holding_;
                    if (!c.write(response_head + body)) return;
                    break;
            }
        }
    }

    Script script_;
    std::mutex mutex_;
    std::map<std::string, int> asked_;
    std::atomic<int> holding_{0};
    std::atomic<bool> released_{false};
    RawUpstream server_;  // last: its threads stop before the members they use go
};

// The answer is the path's own body, whole.
bool served_right(const HttpResponse& r, const std::string& target) {
    return r.status == 200 && r.complete && r.body == derived_body(path_of(target), size_param(target, 20000));
}

PorticoSettings with_cache(const std::string& upstream, const TempDir& dir, CacheSetup setup = {}) {
    PorticoSettings p;
    p.upstream = upstream;
    p.workers = setup.workers;
    p.cache = cache_section(setup, dir);
    p.routes = std::string(kRoutes);
    if (setup.tweak) setup.tweak(p);
    return p;
}

// CPU seconds (user + system) a process has used, from /proc/PID/stat.
double cpu_seconds(pid_t pid) {
    std::string stat = read_file(fmt::format("/proc/{}/stat", pid));
    auto close_paren = stat.rfind(')');
    if (close_paren == std::string::npos) return -1;
    std::istringstream rest(stat.substr(close_paren + 2));
    std::string field;
    unsigned long long utime = 0, stime = 0;
    for (int i = 3; i <= 15 && rest >> field; ++i) {
        if (i == 14) utime = std::stoull(field);
        if (i == 15) stime = std::stoull(field);
    }
    return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

size_t open_fds(pid_t pid) {
    std::error_code ec;
    size_t n = 0;
    for (auto it = fs::directory_iterator(fmt::format("/proc/{}/fd", pid), ec); !ec && it != fs::directory_iterator();
         it.increment(ec))
        ++n;
    return n;
}

// A tmpfs mounted for one test, unmounted (lazily) at the end.
class TmpfsMount {
public:
    TmpfsMount(std::string path, std::string_view size) : path_(std::move(path)) {
        fs::create_directories(path_);
        std::string options = fmt::format("size={},mode=0700", size);
        if (::mount("tmpfs", path_.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, options.c_str()) == 0) {
            mounted_ = true;
        } else {
            error_ = std::strerror(errno);
        }
    }
    ~TmpfsMount() {
        if (mounted_) ::umount2(path_.c_str(), MNT_DETACH);
    }
    TmpfsMount(const TmpfsMount&) = delete;
    TmpfsMount& operator=(const TmpfsMount&) = delete;
    bool mounted() const { return mounted_; }
    const std::string& error() const { return error_; }

private:
    std::string path_;
    bool mounted_ = false;
    std::string error_;
};

// Fills the file system holding `path` with one file until a write fails (ENOSPC).
uint64_t fill_up(const std::string& file) {
    std::ofstream out(file, std::ios::binary);
    const std::string block(64 * 1024, 'f');
    uint64_t written = 0;
    while (out.write(block.data(), static_cast<std::streamsize>(block.size()))) {
        out.flush();
        if (!out) break;
        written += block.size();
    }
    // The last partial block: byte by byte into whatever room is left.
    out.clear();
    while (out.put('f') && out.flush()) ++written;
    return written;
}

uint64_t free_bytes(const std::string& path) {
    struct statvfs v {};
    if (::statvfs(path.c_str(), &v) != 0) return 0;
    return static_cast<uint64_t>(v.f_bavail) * v.f_frsize;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(faults)

// Resets mid-head and mid-body, and a stall mid-body past read_timeout: the client gets a 502/504
// or a response cut short (never one that looks whole), nothing of it is cached, and the next
// request on a fresh connection is served whole — from the upstream, then from the cache.
BOOST_AUTO_TEST_CASE(upstream_resets_and_stalls_mid_response) {
    const std::vector<Fault> kinds = {Fault::reset_in_head, Fault::reset_mid_body, Fault::stall_mid_body};
    // Each path's first request meets its fault; later ones are served.
    ContentUpstream upstream([](const std::string& path, int nth) {
        if (nth > 1) return Fault::none;
        if (path.find("/reset-head/") == 0) return Fault::reset_in_head;
        if (path.find("/reset-body/") == 0) return Fault::reset_mid_body;
        if (path.find("/stall-body/") == 0) return Fault::stall_mid_body;
        return Fault::none;
    });
    TempDir dir;
    Portico portico(dir, with_cache(upstream.address(), dir, {.tweak = [](PorticoSettings& p) { p.read_timeout = "1s"; }}));
    const auto started = Clock::now();
    int injected = 0, lost = 0, misserved = 0;
    for (Fault kind : kinds) {
        const std::string prefix = kind == Fault::reset_in_head ? "/reset-head/" : kind == Fault::reset_mid_body ? "/reset-body/" : "/stall-body/";
        for (size_t size : {2000u, 300000u}) {  // a body in one segment, and one in many
            const std::string target = fmt::format("{}{}?size={}", prefix, size, size);
            BOOST_TEST_CONTEXT(fault_name(kind) << ", " << size << " bytes") {
                ++injected;
                auto broken = get(portico.endpoint(), target, {}, 10s);
                // A GET that failed before any of its answer reached the client, on a reused
                // upstream connection, is retried once on a fresh one (RFC 9110 §9.2.2): then the
                // client gets the whole right answer from the second attempt.
                const bool retried = upstream.asked(path_of(target)) == 2;
                const bool looks_whole = broken.status == 200 && broken.complete;
                std::string what;
                if (looks_whole && retried && served_right(broken, target)) {
                    what = "200 whole, from portico's retry on a fresh connection";
                } else if (looks_whole) {
                    ++misserved;
                    BOOST_TEST(false, "a broken upstream response reached the client as a whole one: " << show(broken));
                } else if (broken.status != 200) {
                    what = std::to_string(broken.status);
                    BOOST_TEST((broken.status == 502 || broken.status == 504), show(broken));
                } else {
                    what = fmt::format("200 cut at {} of {} bytes, connection closed", broken.body.size(), size);
                    BOOST_TEST(broken.error == "closed", "cut short but not closed: " << broken.error);
                    BOOST_TEST(broken.body.size() < size);
                    BOOST_TEST(broken.body == derived_body(path_of(target), size).substr(0, broken.body.size()),
                               "the part that arrived is not the upstream's");
                }
                BOOST_TEST_MESSAGE(fmt::format("{} ({} bytes): client got {}", fault_name(kind), size, what));
                // Nothing stored from the broken answer: the next request goes upstream (a MISS)
                // and is whole — unless the retry's whole answer was stored.
                BOOST_TEST(eventually([&] { return cache_stats(portico).value("in_flight", 0) == 0; }, 5s));
                const double stores = cache_stats(portico).value("stores", 0.0);
                auto next = get(portico.endpoint(), target, {}, 10s);
                if (!served_right(next, target)) ++lost;
                BOOST_TEST(served_right(next, target), show(next));
                if (!retried) {
                    BOOST_TEST(xcache(next) == "MISS", "served from a cache entry of the broken response: " << show(next));
                    BOOST_TEST(upstream.asked(path_of(target)) == 2);
                    BOOST_TEST(wait_stored(portico, stores + 1, 5s));
                }
                auto hit = get(portico.endpoint(), target, {}, 10s);
                if (!served_right(hit, target)) ++misserved;
                BOOST_TEST(served_right(hit, target), show(hit));
                BOOST_TEST(xcache(hit) == "HIT", show(hit));
            }
        }
    }
    BOOST_TEST(portico.process().running());
    BOOST_TEST_MESSAGE(fmt::format("upstream faults: {} injected, {} requests lost, {} mis-served, {} ms", injected, lost,
                                   misserved, std::chrono::duration_cast<Millis>(Clock::now() - started).count()));
    BOOST_TEST(lost == 0);
    BOOST_TEST(misserved == 0);
    BOOST_TEST(portico.stop() == 0);
}

// A 1 MiB map under eight clients storing 100 KB responses (a burst is far more than the map
// holds): every answer is 200 with the path's own bytes; the cache evicts, and what it could not
// write it counts instead of failing a request.
BOOST_AUTO_TEST_CASE(lmdb_map_full_under_load) {
    ContentUpstream upstream;
    TempDir dir;
    Portico portico(dir, with_cache(upstream.address(), dir, {.max_size = "1MiB", .workers = "2"}));
    const auto started = Clock::now();
    const int clients = 8, per_client = 40;
    std::atomic<int> ok{0}, wrong{0}, failed{0}, hits{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < clients; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < per_client; ++i) {
                // Mostly new paths (puts), some read again (hits while the map churns).
                int n = i % 4 == 3 ? t * per_client + i - 3 : t * per_client + i;
                std::string target = fmt::format("/full/{}?size={}", n, 100000 + n);
                try {
                    auto r = get(portico.endpoint(), target, {}, 20s);
                    if (served_right(r, target)) {
                        ++ok;
                        if (xcache(r) == "HIT") ++hits;
                    } else if (r.status == 200) {
                        ++wrong;
                    } else {
                        ++failed;
                    }
                } catch (const std::exception&) {
                    ++failed;
                }
            }
        });
    }
    for (auto& t : threads) t.join();
    BOOST_TEST(eventually([&] { return cache_stats(portico).value("in_flight", 0) == 0; }, 5s));
    json st = cache_stats(portico);
    BOOST_TEST_MESSAGE(fmt::format("map full: {} requests, {} ok ({} hits), {} mis-served, {} failed; /cache {} in {} ms",
                                   clients * per_client, ok.load(), hits.load(), wrong.load(), failed.load(), st.dump(),
                                   std::chrono::duration_cast<Millis>(Clock::now() - started).count()));
    BOOST_TEST(ok == clients * per_client);
    BOOST_TEST(wrong == 0);
    BOOST_TEST(failed == 0);
    // The pressure showed: entries evicted, and writes the map refused (or puts dropped) counted.
    BOOST_TEST(st.value("evictions", 0) > 0, st.dump());
    BOOST_TEST(st.value("used_bytes", 0.0) <= st.value("max_size", 0.0), st.dump());
    BOOST_TEST(portico.process().running());
    // Every entry still in the cache is whole and the path's own.
    int checked = 0;
    for (int n = 0; n < clients * per_client; ++n) {
        std::string target = fmt::format("/full/{}?size={}", n, 100000 + n);
        auto r = get(portico.endpoint(), target, {{"Cache-Control", "only-if-cached"}});
        if (r.status == 504) continue;
        ++checked;
        BOOST_TEST(served_right(r, target), "a damaged entry: " << show(r));
    }
    BOOST_TEST_MESSAGE(fmt::format("map full: {} entries read back whole", checked));
    BOOST_TEST(checked > 0);
    // And it keeps storing.
    auto fresh = get(portico.endpoint(), "/full/after?size=5000");
    BOOST_TEST(served_right(fresh, "/full/after?size=5000"));
    BOOST_TEST(eventually([&] { return xcache(get(portico.endpoint(), "/full/after?size=5000")) == "HIT"; }, 5s, 50ms));
    BOOST_TEST(portico.stop() == 0);
}

// The cache on an 8 MiB tmpfs that another file fills up: requests keep being answered right
// (the cache passing them through), portico does not crash; once the space is freed it stores
// again, and after a SIGKILL and a restart every entry it serves is whole. Skipped where mount(2) is not
// permitted (unprivileged CI).
BOOST_AUTO_TEST_CASE(disk_full_on_the_cache_path) {
    TempDir dir;
    TmpfsMount mount(dir.file("fs"), "8m");
    if (!mount.mounted()) {
        BOOST_TEST_MESSAGE("skipped: cannot mount a tmpfs here (" << mount.error() << ")");
        return;
    }
    ContentUpstream upstream;
    CacheSetup setup;
    setup.path = dir.file("fs/cache");
    setup.max_size = "64MiB";  // more than the file system has: the disk fills before the map
    const auto started = Clock::now();
    auto portico = std::make_unique<Portico>(dir, with_cache(upstream.address(), dir, setup));
    std::vector<std::string> targets;
    for (int i = 0; i < 5; ++i) {
        std::string target = fmt::format("/disk/before-{}?size=50000", i);
        targets.push_back(target);
        auto r = get(portico->endpoint(), target);
        BOOST_TEST_REQUIRE(served_right(r, target), show(r));
    }
    BOOST_TEST_REQUIRE(wait_stored(*portico, 5));
    const uint64_t filled = fill_up(dir.file("fs/filler"));
    BOOST_TEST_MESSAGE(fmt::format("disk full: filler of {} bytes, {} bytes left", filled, free_bytes(dir.file("fs"))));
    json before = cache_stats(*portico);

    // Full: new responses (which the cache cannot write) and the stored ones, all served right.
    int requests = 0, lost = 0, misserved = 0, said_stored = 0;
    for (int round = 0; round < 3; ++round) {
        for (int i = 0; i < 10; ++i) {
            std::string target = fmt::format("/disk/full-{}?size={}", i, 100000 + i);
            if (round == 0) targets.push_back(target);
            auto r = get(portico->endpoint(), target, {}, 15s);
            said_stored += has(cstatus(r), "stored");
            ++requests;
            if (r.status != 200) ++lost;
            else if (!served_right(r, target)) ++misserved;
        }
        for (int i = 0; i < 5; ++i) {
            auto r = get(portico->endpoint(), targets[static_cast<size_t>(i)], {}, 15s);
            ++requests;
            if (r.status != 200) ++lost;
            else if (!served_right(r, targets[static_cast<size_t>(i)])) ++misserved;
        }
        BOOST_TEST_REQUIRE(portico->process().running(), "portico died with its disk full");
    }
    BOOST_TEST(eventually([&] { return cache_stats(*portico).value("in_flight", 0) == 0; }, 5s));
    json full = cache_stats(*portico);
    // (Cache-Status is sent before the writer tries: "stored" there means handed to the store.)
    BOOST_TEST_MESSAGE(fmt::format("disk full: {} requests, {} lost, {} mis-served, {} announced 'stored'; /cache before {} after {}",
                                   requests, lost, misserved, said_stored, before.dump(), full.dump()));
    BOOST_TEST(lost == 0);
    BOOST_TEST(misserved == 0);
    BOOST_TEST(full.value("store_failures", 0) + full.value("write_errors", 0) > before.value("store_failures", 0) + before.value("write_errors", 0),
               "the failed writes were not counted: " << full.dump());

    // Space freed: the same portico stores again, without a restart.
    fs::remove(dir.file("fs/filler"));
    const std::string freed = "/disk/freed?size=50000";
    targets.push_back(freed);
    auto first_after = get(portico->endpoint(), freed);
    BOOST_TEST(served_right(first_after, freed), show(first_after));
    BOOST_TEST(eventually([&] { return xcache(get(portico->endpoint(), freed)) == "HIT"; }, 5s, 50ms),
               "not storing again once the space is back: " << cache_stats(*portico).dump());
    // Then killed (no clean close of the store) and started again on the files.
    portico->process().kill_and_wait();
    portico.reset();
    portico = std::make_unique<Portico>(dir, with_cache(upstream.address(), dir, setup));
    int whole = 0;
    for (const auto& target : targets) {
        auto r = get(portico->endpoint(), target, {{"Cache-Control", "only-if-cached"}});
        if (r.status == 504) continue;
        ++whole;
        BOOST_TEST(served_right(r, target), "a damaged entry after the disk filled: " << show(r));
    }
    BOOST_TEST_MESSAGE(fmt::format("disk full: after a restart {} of {} entries served from the cache, all whole", whole,
                                   targets.size()));
    BOOST_TEST(whole >= 6, "the entries stored before the disk filled, or after it was freed, were lost");
    const std::string after = "/disk/after?size=50000";
    auto r = get(portico->endpoint(), after);
    BOOST_TEST(served_right(r, after), show(r));
    BOOST_TEST(eventually([&] { return xcache(get(portico->endpoint(), after)) == "HIT"; }, 5s, 50ms), "no longer storing");
    BOOST_TEST(portico->stop() == 0);
    BOOST_TEST_MESSAGE(fmt::format("disk full: {} ms", std::chrono::duration_cast<Millis>(Clock::now() - started).count()));
}

// Portico held to about 64 descriptors, storms of 140 clients at once from four threads: the ones it
// cannot take are refused cleanly (a 503, or the connection closed without a byte), no thread
// spins (CPU stays low: libuv's accept loop retries accept() at once when its reserve descriptor
// was taken by another thread — see core/acceptor.hpp), requests already in flight are served,
// and once the clients are gone everything is served again, the admin port included.
BOOST_AUTO_TEST_CASE(fd_exhaustion_refuses_cleanly_and_recovers) {
    ContentUpstream upstream([](const std::string& path, int) { return path.find("/held/") == 0 ? Fault::hold : Fault::none; });
    TempDir dir;
    PorticoSettings p;
    p.upstream = upstream.address();
    p.workers = "4";    // worker loops racing for the descriptors their accept loops free
    p.keepalive = "2";  // idle upstream connections kept per worker: 8 descriptors at most
    p.read_timeout = "20s";
    p.header_timeout = "20s";
    Portico portico(dir, p);
    const pid_t pid = portico.pid();
    const size_t baseline_fds = open_fds(pid);
    // Room for the ten requests in flight below (a client and an upstream descriptor each) and a
    // dozen more: about 64 in all.
    const rlim_t max_fds = baseline_fds + 2 * 10 + 12;
    rlimit limit{max_fds, max_fds};
    BOOST_TEST_REQUIRE(::prlimit(pid, RLIMIT_NOFILE, &limit, nullptr) == 0, std::strerror(errno));
    BOOST_TEST_MESSAGE(fmt::format("fd exhaustion: portico has {} descriptors open, limit now {}", baseline_fds, max_fds));
    const auto started = Clock::now();

    // Ten requests in flight first, each holding a client and an upstream descriptor.
    const int first = 10;
    std::vector<std::unique_ptr<RawClient>> held;
    for (int i = 0; i < first; ++i) {
        held.push_back(std::make_unique<RawClient>(portico.endpoint()));
        BOOST_TEST_REQUIRE(held.back()->send(make_request("GET", fmt::format("/held/{}?size=1000", i))));
    }
    BOOST_TEST_REQUIRE(eventually([&] { return upstream.holding() == first; }, 5s));

    // Storms: 140 clients connecting and sending from four threads at once, then hanging up.
    const int storms = 3, per_storm = 140;
    int ok = first, refused_503 = 0, closed = 0, other = 0, wrong = 0;
    std::string others;
    double worst_cpu_share = 0;
    for (int storm = 0; storm < storms; ++storm) {
        std::vector<std::unique_ptr<RawClient>> clients(per_storm);
        const double cpu_before = cpu_seconds(pid);
        const auto window_start = Clock::now();
        std::vector<std::thread> threads;
        for (int t = 0; t < 4; ++t) {
            threads.emplace_back([&, t] {
                for (int i = t; i < per_storm; i += 4) {
                    try {
                        auto c = std::make_unique<RawClient>(portico.endpoint(), 2s);
                        c->send(make_request("GET", fmt::format("/storm/{}-{}?size=1000", storm, i)), 2s);
                        clients[static_cast<size_t>(i)] = std::move(c);
                    } catch (const std::exception&) {
                        // a connect refused or timed out: counted below as no client
                    }
                }
            });
        }
        for (auto& t : threads) t.join();
        std::this_thread::sleep_for(1s);  // the window the CPU is measured over
        const double window = std::chrono::duration<double>(Clock::now() - window_start).count();
        const double cpu = cpu_seconds(pid) - cpu_before;
        worst_cpu_share = std::max(worst_cpu_share, cpu / window);
        BOOST_TEST(cpu < 0.3 * window, "storm " << storm << ": portico spins while out of descriptors: " << cpu << " s CPU in "
                                                << window << " s");
        BOOST_TEST_REQUIRE(portico.process().running());
        // What each storm client got by now (those still waiting in the backlog get nothing).
        const auto deadline = Clock::now() + 5s;
        for (int i = 0; i < per_storm; ++i) {
            auto& c = clients[static_cast<size_t>(i)];
            if (!c) {
                ++closed;
                continue;
            }
            auto left = std::max(Millis(1), std::chrono::duration_cast<Millis>(deadline - Clock::now()));
            auto r = c->read_response(std::min<Millis>(left, 20ms));  // they had the second above
            std::string target = fmt::format("/storm/{}-{}?size=1000", storm, i);
            if (r.status == 200) {
                served_right(r, target) ? ++ok : ++wrong;
            } else if (r.status == 503) {
                ++refused_503;
            } else if (r.status == 0 && (r.error == "closed" || r.error == "timeout")) {
                ++closed;  // closed without a byte, or still queued when the client gave up
            } else {
                ++other;
                if (others.size() < 400) others += fmt::format(" [{} {}]", r.status, r.error);
            }
        }
        clients.clear();  // hang up
    }
    // The requests in flight all along are served whole.
    upstream.release();
    for (int i = 0; i < first; ++i) {
        auto r = held[static_cast<size_t>(i)]->read_response(10s);
        if (!served_right(r, fmt::format("/held/{}?size=1000", i))) {
            ++wrong;
            --ok;
        }
    }
    held.clear();
    size_t pauses = 0;
    {
        std::string log = portico.stderr_text() + portico.stdout_text();
        for (size_t at = 0; (at = log.find("out of file descriptors", at)) != std::string::npos; ++at) ++pauses;
    }
    BOOST_TEST_MESSAGE(fmt::format("fd exhaustion: {} storms of {} clients (+{} in flight): {} served, {} refused 503, {} closed "
                                   "without an answer, {} other{}, {} mis-served; worst CPU {:.0f}% of a core; {} accept-pause log lines",
                                   storms, per_storm, first, ok, refused_503, closed, other, others, wrong,
                                   worst_cpu_share * 100, pauses));
    BOOST_TEST(wrong == 0);
    BOOST_TEST(other == 0, "neither served nor cleanly refused:" << others);
    BOOST_TEST(ok >= first);
    BOOST_TEST(portico.process().running());
    // Recovery. First the backlog drains: connections queued in the kernel while accepting was
    // paused are taken, their requests (sent before the clients hung up) answered to nobody, and
    // the descriptors come back.
    const auto drain_start = Clock::now();
    int upstream_seen = -1;
    BOOST_TEST(eventually(
                   [&] {
                       // Settled: the upstream saw nothing new for 300 ms, and the descriptors are back.
                       int now = upstream.total();
                       bool quiet = now == upstream_seen;
                       upstream_seen = now;
                       return quiet && open_fds(pid) <= baseline_fds + 4 * 2 + 4;
                   },
                   20s, 300ms),
               "descriptors not given back: " << open_fds(pid) << " open, " << baseline_fds << " at the start");
    const auto drained_ms = std::chrono::duration_cast<Millis>(Clock::now() - drain_start).count();
    BOOST_TEST(portico.admin("GET", "/health").status == 200, "the admin port did not recover");
    int after_ok = 0;
    std::string after_failures;
    for (int i = 0; i < 50; ++i) {
        std::string target = fmt::format("/after/{}?size=2000", i);
        auto r = get(portico.endpoint(), target);
        if (served_right(r, target)) {
            ++after_ok;
        } else if (after_failures.size() < 2000) {
            after_failures += fmt::format("\n{} after {} ms: {}", target,
                                          std::chrono::duration_cast<Millis>(Clock::now() - drain_start).count(), r.describe());
        }
    }
    BOOST_TEST(after_ok == 50, after_failures);
    BOOST_TEST_MESSAGE(fmt::format("fd exhaustion: descriptors back in {} ms, then {} of 50 requests served, {} fds open, {} ms in all",
                                   drained_ms, after_ok, open_fds(pid),
                                   std::chrono::duration_cast<Millis>(Clock::now() - started).count()));
    BOOST_TEST(portico.stop() == 0);
}

BOOST_AUTO_TEST_SUITE_END()
