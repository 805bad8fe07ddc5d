// Planning a static answer; see static_response.hpp.
#include "proxy/static_response.hpp"

#include <array>

#include <fmt/format.h>

#include "cache/conditional.hpp"

namespace portico::proxy {

namespace {

void line(std::string& out, std::string_view name, std::string_view value) {
    out.append(name);
    out.append(": ");
    out.append(value);
    out.append("\r\n");
}

// The validators and caching fields every answer about the file carries (a 304 included, §15.4.5).
void common_fields(std::string& out, const FileFacts& file, const StaticHeadSettings& settings) {
    line(out, "ETag", file.etag);
    line(out, "Last-Modified", file.last_modified);
    if (!settings.cache_control.empty()) line(out, "Cache-Control", settings.cache_control);
    if (settings.vary_encoding) line(out, "Vary", "Accept-Encoding");
}

void representation_fields(std::string& out, const FileFacts& file) {
    if (file.gzip) line(out, "Content-Encoding", "gzip");
    line(out, "Accept-Ranges", "bytes");
}

}  // namespace

uint64_t multipart_body(const std::vector<ByteRange>& ranges, uint64_t size, std::string_view content_type,
                        std::string_view boundary, std::vector<BodySegment>& out) {
    out.clear();
    uint64_t total = 0;
    for (const ByteRange& r : ranges) {
        BodySegment part;
        // The CRLF before each delimiter belongs to the delimiter (RFC 2046 §5.1.1).
        part.text = fmt::format("\r\n--{}\r\nContent-Type: {}\r\nContent-Range: bytes {}-{}/{}\r\n\r\n", boundary,
                                content_type, r.first, r.last, size);
        part.offset = r.first;
        part.length = r.size();
        total += part.text.size() + part.length;
        out.push_back(std::move(part));
    }
    BodySegment closing;
    closing.text = fmt::format("\r\n--{}--\r\n", boundary);
    total += closing.text.size();
    out.push_back(std::move(closing));
    return total;
}

void plan_static_answer(const StaticRequest& request, const FileFacts& file, const StaticHeadSettings& settings,
                        StaticAnswer& out) {
    out = StaticAnswer{};
    std::string& f = out.fields;
    if (request.conditional) {
        // If-None-Match wins over If-Modified-Since (RFC 9110 §13.2.2), as the cache's rule does.
        std::array<cache::HeaderField, 2> stored = {cache::HeaderField{"ETag", file.etag},
                                                    cache::HeaderField{"Last-Modified", file.last_modified}};
        if (cache::client_conditional_matches(request.fields, stored)) {
            out.status = 304;
            out.states_length = false;
            common_fields(f, file, settings);
            return;
        }
    }
    std::vector<ByteRange> ranges;
    RangeAnswer ranged = RangeAnswer::full;
    if (!request.head && !request.range.empty() &&
        if_range_allows(request.if_range, file.etag, file.last_modified)) {
        ranged = parse_ranges(request.range, file.size, ranges);
    }
    switch (ranged) {
        case RangeAnswer::unsatisfiable:
            out.status = 416;
            line(f, "Content-Range", fmt::format("bytes */{}", file.size));
            common_fields(f, file, settings);
            return;
        case RangeAnswer::partial:
            out.status = 206;
            common_fields(f, file, settings);
            representation_fields(f, file);
            if (ranges.size() == 1) {
                const ByteRange& r = ranges.front();
                line(f, "Content-Type", file.content_type);
                line(f, "Content-Range", fmt::format("bytes {}-{}/{}", r.first, r.last, file.size));
                out.content_length = r.size();
                out.body.push_back(BodySegment{{}, r.first, r.size()});
                return;
            }
            line(f, "Content-Type", fmt::format("multipart/byteranges; boundary={}", settings.boundary));
            out.content_length = multipart_body(ranges, file.size, file.content_type, settings.boundary, out.body);
            return;
        case RangeAnswer::full:
            break;
    }
    out.status = 200;
    line(f, "Content-Type", file.content_type);
    common_fields(f, file, settings);
    representation_fields(f, file);
    out.content_length = file.size;
    if (!request.head && file.size > 0) out.body.push_back(BodySegment{{}, 0, file.size});
}

}  // namespace portico::proxy
