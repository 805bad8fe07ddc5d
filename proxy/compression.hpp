// The compression stage (DESIGN.md step 6, on the way back to the client): whether a response is
// compressed — pure rules with one reason per "no" — the head edits that go with it
// (Content-Encoding, Vary: Accept-Encoding, a weak ETag, no Accept-Ranges), and the streaming zlib
// compressor that turns the body's pieces into compressed pieces as they arrive.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cache/accept_encoding.hpp"
#include "core/metrics.hpp"
#include "proxy/http_message.hpp"

typedef struct z_stream_s z_stream;

namespace portico::proxy {

// Why a response is not compressed; the order of core::metrics::kCompressionSkipReasons.
enum class CompressionSkip : uint8_t { off, not_accepted, head, status, range, encoded, no_transform, type, too_small };

// A route's view of the compression config: `enabled` and `level` are the route's (conf resolves
// compression.enabled/level ← global_defaults ← the pattern), `min_size` and `types` global.
struct CompressionSettings {
    bool enabled = true;
    int level = 5;
    uint64_t min_size = 1000;
    const std::vector<std::string>* types = nullptr;  // "text/*", "application/json", …
};

struct CompressionPlan {
    cache::ContentCoding coding = cache::ContentCoding::identity;  // gzip or deflate: compress
    CompressionSkip skip = CompressionSkip::off;  // why not, when coding is identity
    // The response's form depends on Accept-Encoding (it is compressible, whether or not this
    // client takes it): Vary says so, and the cache keeps one variant per coding.
    bool vary = false;
    bool compress() const { return coding != cache::ContentCoding::identity; }
};

// The rules, in order: off for the route; a 206 or a bodiless status (1xx, 204, 304) is never
// compressed; nor a response already content-coded, or one whose request or response says
// Cache-Control: no-transform (RFC 9110 §7.7); the type must match compression.types; a known
// length must be ≥ min_size (an unknown one, chunked or until close, counts as large). Then the
// request: a HEAD gets the plain head; Accept-Encoding must accept gzip (or name deflate) —
// cache::choose_compression. `vary` is set once the response itself qualifies.
CompressionPlan plan_compression(const MessageHead& request, const MessageHead& response,
                                 const CompressionSettings& settings);

// Whether a Content-Type value ("text/html; charset=utf-8") matches one of `types`: exact media
// types, `type/*`, or `*/*`, case-insensitively, parameters ignored.
bool compressible_type(std::string_view content_type, const std::vector<std::string>& types);

// Edits the response head for `plan`: Content-Encoding when compressing, with a strong ETag made
// weak (RFC 9110 §8.8.1: the compressed bytes are not the origin's) and Accept-Ranges removed
// (ranges of the compressed body are not offered); Vary: Accept-Encoding whenever plan.vary, unless
// Vary already names it or is `*`. The content length is the connection's to drop (framing).
void apply_compression_fields(MessageHead& response, const CompressionPlan& plan);

// A zlib deflate stream: gzip (RFC 1952) or HTTP's "deflate", the zlib format (RFC 1950; RFC 9110
// §8.4.1.2). Sized like nginx's gzip filter: a small known length gets a smaller window and hash,
// so many concurrent small responses do not cost 256 KiB each. A finished stream is kept by its
// thread for the next Deflater of the same window and hash size (deflateReset; at most four).
class Deflater {
public:
    Deflater(cache::ContentCoding coding, int level, uint64_t size_hint);
    ~Deflater();
    Deflater(const Deflater&) = delete;
    Deflater& operator=(const Deflater&) = delete;

    bool ok() const { return ok_; }
    // Compresses `in`, appending output to `out`; `flush` is Z_NO_FLUSH, Z_SYNC_FLUSH or Z_FINISH.
    void run(std::string_view in, int flush, std::string& out);
    uint64_t total_in() const;
    uint64_t total_out() const;

private:
    std::unique_ptr<z_stream> stream_;
    int bits_ = 15;
    int mem_level_ = 8;
    bool ok_ = false;
};

// The stage for one exchange: decides at the response head, then compresses the body as it
// streams. The compressed bytes of each upstream read leave at the end of that read (a sync
// flush), so a slow or endless response reaches the client as it is produced.
class CompressionStage {
public:
    // At the response head: plans, edits the head, counts a "no" by its reason. True when the body
    // will be compressed.
    bool begin(const MessageHead& request, MessageHead& response, const CompressionSettings& settings,
               core::metrics::CompressionCounters& counters);
    bool active() const { return plan_.compress(); }
    // Body bytes in; the compressed bytes ready now (often none: zlib keeps them until a flush).
    // Each returned view is valid until the next call.
    std::string_view write(std::string_view data);
    // The end of one upstream read: what is compressed so far (Z_SYNC_FLUSH), if anything new.
    std::string_view flush();
    // The end of the body: the rest and the trailer; counts the response and its bytes.
    std::string_view finish();
    // Drops the exchange (its deflate stream memory goes back at once).
    void reset();

private:
    Deflater& deflater();

    CompressionPlan plan_;
    uint64_t size_hint_ = 0;
    int level_ = 5;
    std::unique_ptr<Deflater> deflater_;  // made at the first body byte
    std::string out_;
    bool unflushed_ = false;  // input written since the last flush
    core::metrics::CompressionCounters* counters_ = nullptr;
};

}  // namespace portico::proxy
