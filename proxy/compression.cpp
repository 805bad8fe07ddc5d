// The compression stage; see compression.hpp.
#include "proxy/compression.hpp"

#include <zlib.h>

#include <algorithm>

#include "cache/cache_control.hpp"
#include "cache/headers_view.hpp"
#include "proxy/http_parser.hpp"

namespace portico::proxy {

namespace {

bool says_no_transform(const MessageHead& head) {
    for (size_t i = 0; i < head.header_count(); ++i) {
        if (head.header_id(i) != FieldId::cache_control) continue;
        cache::CacheControl cc;
        cache::parse_cache_control(head.header_value(i), cc);
        if (cc.no_transform) return true;
    }
    return false;
}

// Content-Encoding other than identity (RFC 9110 §8.4): the body is coded already.
bool content_coded(const MessageHead& head) {
    for (size_t i = 0; i < head.header_count(); ++i) {
        if (head.header_id(i) != FieldId::content_encoding) continue;
        cache::ListMembers members(head.header_value(i));
        while (auto coding = members.next()) {
            if (!cache::iequals(*coding, "identity")) return true;
        }
    }
    return false;
}

cache::AcceptEncoding accept_encoding(const MessageHead& request) {
    cache::AcceptEncoding accept;
    for (size_t i = 0; i < request.header_count(); ++i) {
        if (request.header_id(i) != FieldId::accept_encoding) continue;
        cache::AcceptEncoding line = cache::parse_accept_encoding(request.header_value(i));
        if (!accept.present) {
            accept = line;
            continue;
        }
        // Several lines are one list (RFC 9110 §5.3): the highest weight per coding.
        accept.gzip = std::max(accept.gzip, line.gzip);
        accept.deflate = std::max(accept.deflate, line.deflate);
        accept.br = std::max(accept.br, line.br);
        accept.identity = std::max(accept.identity, line.identity);
        accept.star = std::max(accept.star, line.star);
    }
    return accept;
}

// Vary already names Accept-Encoding, or is `*`.
bool varies_on_accept_encoding(const MessageHead& head) {
    for (size_t i = 0; i < head.header_count(); ++i) {
        if (head.header_id(i) != FieldId::vary) continue;
        cache::ListMembers members(head.header_value(i));
        while (auto name = members.next()) {
            if (*name == "*" || cache::iequals(*name, "Accept-Encoding")) return true;
        }
    }
    return false;
}

}  // namespace

bool compressible_type(std::string_view content_type, const std::vector<std::string>& types) {
    std::string_view media = cache::trim_ows(content_type.substr(0, content_type.find(';')));
    size_t slash = media.find('/');
    if (slash == std::string_view::npos || slash == 0) return false;
    for (const std::string& pattern : types) {
        std::string_view p = pattern;
        if (p == "*/*") return true;
        if (p.size() > 2 && p.substr(p.size() - 2) == "/*") {
            if (cache::iequals(p.substr(0, p.size() - 1), media.substr(0, slash + 1))) return true;
        } else if (cache::iequals(p, media)) {
            return true;
        }
    }
    return false;
}

CompressionPlan plan_compression(const MessageHead& request, const MessageHead& response,
                                 const CompressionSettings& settings) {
    CompressionPlan plan;
    auto no = [&](CompressionSkip why) {
        plan.skip = why;
        return plan;
    };
    if (!settings.enabled) return no(CompressionSkip::off);
    int status = response.status;
    if (status == 206) return no(CompressionSkip::range);
    if (status < 200 || status == 204 || status == 304) return no(CompressionSkip::status);
    if (content_coded(response)) return no(CompressionSkip::encoded);
    if (says_no_transform(response) || says_no_transform(request)) return no(CompressionSkip::no_transform);
    if (settings.types == nullptr || !compressible_type(response.find(FieldId::content_type), *settings.types)) {
        return no(CompressionSkip::type);
    }
    // A known length below min_size, or no body at all; chunked and until-close bodies count as large.
    if (response.framing == BodyFraming::none ||
        (response.framing == BodyFraming::content_length && response.content_length < settings.min_size)) {
        return no(CompressionSkip::too_small);
    }
    plan.vary = true;
    if (request.method == HTTP_HEAD) return no(CompressionSkip::head);
    plan.coding = cache::choose_compression(accept_encoding(request));
    if (!plan.compress()) return no(CompressionSkip::not_accepted);
    return plan;
}

void apply_compression_fields(MessageHead& response, const CompressionPlan& plan) {
    if (plan.compress()) {
        for (size_t i = response.header_count(); i-- > 0;) {
            FieldId id = response.header_id(i);
            if (id == FieldId::accept_ranges) {
                response.remove_header(i);
            } else if (id == FieldId::etag) {
                std::string_view tag = cache::trim_ows(response.header_value(i));
                if (!tag.empty() && tag.front() == '"') response.set_header_value(i, "W/" + std::string(tag));
            }
        }
        response.add_header("Content-Encoding", cache::coding_name(plan.coding));
    }
    if (plan.vary && !varies_on_accept_encoding(response)) response.add_header("Vary", "Accept-Encoding");
}

// ---- zlib ------------------------------------------------------------------------------------

namespace {

// Deflate streams of this thread (a worker) that finished a response, kept for the next one of
// the same shape: deflateReset instead of deflateInit2/deflateEnd saves a response the malloc and
// free of ~260 KiB of zlib state and the page faults of getting it back from the kernel. At most
// kMaxIdleStreams per thread stay allocated.
constexpr size_t kMaxIdleStreams = 4;
struct IdleStream {
    int bits;
    int mem_level;
    std::unique_ptr<z_stream> stream;
};
struct IdleStreams {
    std::vector<IdleStream> streams;
    ~IdleStreams() {
        for (IdleStream& s : streams) deflateEnd(s.stream.get());
    }
};
thread_local IdleStreams t_idle;

}  // namespace

Deflater::Deflater(cache::ContentCoding coding, int level, uint64_t size_hint) {
    // nginx's sizing: halve the window (and the hash) while the whole body fits in half of it.
    int window_bits = 15;
    int mem_level = 8;
    if (size_hint > 0) {
        while (window_bits > 9 && size_hint < (uint64_t{1} << (window_bits - 1)) - 262) {
            --window_bits;
            if (mem_level > 1) --mem_level;
        }
    }
    bits_ = coding == cache::ContentCoding::gzip ? window_bits + 16 : window_bits;
    mem_level_ = mem_level;
    level = std::clamp(level, 1, 9);
    for (size_t i = t_idle.streams.size(); i-- > 0;) {
        IdleStream& idle = t_idle.streams[i];
        if (idle.bits != bits_ || idle.mem_level != mem_level_) continue;
        stream_ = std::move(idle.stream);
        t_idle.streams.erase(t_idle.streams.begin() + static_cast<std::ptrdiff_t>(i));
        ok_ = deflateReset(stream_.get()) == Z_OK && deflateParams(stream_.get(), level, Z_DEFAULT_STRATEGY) == Z_OK;
        if (!ok_) deflateEnd(stream_.get());
        return;
    }
    stream_ = std::make_unique<z_stream>();
    *stream_ = z_stream{};
    ok_ = deflateInit2(stream_.get(), level, Z_DEFLATED, bits_, mem_level_, Z_DEFAULT_STRATEGY) == Z_OK;
}

Deflater::~Deflater() {
    if (!ok_) return;
    if (t_idle.streams.size() < kMaxIdleStreams) {
        t_idle.streams.push_back(IdleStream{bits_, mem_level_, std::move(stream_)});
        return;
    }
    deflateEnd(stream_.get());
}

void Deflater::run(std::string_view in, int flush, std::string& out) {
    if (!ok_) return;
    z_stream& z = *stream_;
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    z.avail_in = static_cast<uInt>(in.size());
    // Room for a well-compressing piece at once; the loop grows it for one that is not.
    size_t room = std::max<size_t>(in.size() / 4 + 64, 4096);
    for (;;) {
        size_t before = out.size();
        out.resize(before + room);
        z.next_out = reinterpret_cast<Bytef*>(out.data() + before);
        z.avail_out = static_cast<uInt>(room);
        int rc = deflate(&z, flush);
        out.resize(before + room - z.avail_out);
        if (rc == Z_STREAM_ERROR) {
            ok_ = false;
            return;
        }
        if (rc == Z_STREAM_END) return;
        // Done when all input is taken and zlib left output room unused (nothing more pending).
        if (z.avail_in == 0 && z.avail_out > 0) return;
        room = std::max<size_t>(room * 2, 16384);
    }
}

uint64_t Deflater::total_in() const { return stream_->total_in; }
uint64_t Deflater::total_out() const { return stream_->total_out; }

// ---- the stage -------------------------------------------------------------------------------

bool CompressionStage::begin(const MessageHead& request, MessageHead& response, const CompressionSettings& settings,
                             core::metrics::CompressionCounters& counters) {
    counters_ = &counters;
    plan_ = plan_compression(request, response, settings);
    level_ = settings.level;
    size_hint_ = response.framing == BodyFraming::content_length ? response.content_length : 0;
    apply_compression_fields(response, plan_);
    if (!plan_.compress()) counters.skipped[static_cast<size_t>(plan_.skip)].inc();
    return plan_.compress();
}

Deflater& CompressionStage::deflater() {
    if (!deflater_) deflater_ = std::make_unique<Deflater>(plan_.coding, level_, size_hint_);
    return *deflater_;
}

std::string_view CompressionStage::write(std::string_view data) {
    out_.clear();
    if (data.empty()) return {};
    deflater().run(data, Z_NO_FLUSH, out_);
    unflushed_ = true;
    return out_;
}

std::string_view CompressionStage::flush() {
    out_.clear();
    if (!unflushed_) return {};
    unflushed_ = false;
    deflater().run({}, Z_SYNC_FLUSH, out_);
    return out_;
}

std::string_view CompressionStage::finish() {
    out_.clear();
    Deflater& d = deflater();
    d.run({}, Z_FINISH, out_);
    unflushed_ = false;
    if (counters_ != nullptr) {
        (plan_.coding == cache::ContentCoding::gzip ? counters_->gzip : counters_->deflate).inc();
        counters_->bytes_in.inc(d.total_in());
        counters_->bytes_out.inc(d.total_out());
    }
    return out_;
}

void CompressionStage::reset() {
    plan_ = {};
    deflater_.reset();
    unflushed_ = false;
    // A large response's buffer is not kept by an idle connection.
    if (out_.capacity() > 64 * 1024) std::string().swap(out_);
    out_.clear();
}

}  // namespace portico::proxy
