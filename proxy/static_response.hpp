// What a static route answers once its file is open (DESIGN.md step 4), decided from the request's
// fields and the file's stat alone, without I/O: 200, 304 (If-None-Match, else If-Modified-Since),
// 206 for one range or several (multipart/byteranges, RFC 9110 §14.6), 416, the head's fields, and
// the body as segments — text to write, then a byte range of the file to sendfile — so a multipart
// body is assembled and tested here, and the connection only writes what the plan says.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "cache/headers_view.hpp"
#include "proxy/byte_range.hpp"

namespace portico::proxy {

// The representation being served: the file, or its precompressed .gz sibling.
struct FileFacts {
    uint64_t size = 0;
    std::string_view etag;           // file_etag(): strong, quotes included
    std::string_view last_modified;  // IMF-fixdate
    std::string_view content_type;   // of the file's own name (the .gz sibling keeps it)
    bool gzip = false;               // the .gz sibling: Content-Encoding: gzip
};

struct StaticRequest {
    bool head = false;           // HEAD: the same head, no body (and Range ignored, §14.2)
    cache::HeaderList fields;    // every request field (conditionals are read from here)
    bool conditional = false;    // If-None-Match or If-Modified-Since present
    std::string_view range;      // the Range value, "" when absent
    std::string_view if_range;   // the If-Range value, "" when absent
};

// Route settings the answer carries.
struct StaticHeadSettings {
    std::string_view cache_control;  // "" = no Cache-Control line
    bool vary_encoding = false;      // precompressed variants exist: Vary: Accept-Encoding
    std::string_view boundary;       // for multipart/byteranges
};

// Text written before `length` bytes of the file from `offset` (length 0: text only).
struct BodySegment {
    std::string text;
    uint64_t offset = 0;
    uint64_t length = 0;
};

struct StaticAnswer {
    int status = 200;
    std::string fields;            // "Name: value\r\n" lines, framing and Connection left to the caller
    uint64_t content_length = 0;   // what Content-Length says (a HEAD's is the GET's)
    bool states_length = true;     // false for 304 (§15.4.5: no Content-Length)
    std::vector<BodySegment> body; // empty: nothing follows the head
};

void plan_static_answer(const StaticRequest& request, const FileFacts& file, const StaticHeadSettings& settings,
                        StaticAnswer& out);

// The body of a multipart/byteranges answer (§14.6) over `ranges` (sorted, coalesced) of a `size`
// byte file: per part a delimiter, Content-Type and Content-Range, then the bytes; the closing
// delimiter in a last text-only segment. Returns the body's length.
uint64_t multipart_body(const std::vector<ByteRange>& ranges, uint64_t size, std::string_view content_type,
                        std::string_view boundary, std::vector<BodySegment>& out);

}  // namespace portico::proxy
