// Planning static answers: conditionals (If-None-Match wins over If-Modified-Since), single and
// multiple ranges with the multipart/byteranges body laid out byte for byte, 416, If-Range, HEAD,
// the .gz sibling's fields, and what a 304 carries.
#define BOOST_TEST_MODULE proxy_static_response
#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

#include "proxy/static_response.hpp"

using namespace portico::proxy;
using portico::cache::HeaderField;

namespace {

constexpr std::string_view kEtag = "\"65f0a1b2-1a\"";
constexpr std::string_view kDate = "Tue, 12 Mar 2024 18:00:18 GMT";

FileFacts facts(uint64_t size = 26) {
    FileFacts f;
    f.size = size;
    f.etag = kEtag;
    f.last_modified = kDate;
    f.content_type = "text/plain";
    return f;
}

struct Req {
    std::vector<HeaderField> fields;
    bool head = false;
    StaticRequest get() const {
        StaticRequest r;
        r.head = head;
        r.fields = fields;
        for (const auto& f : fields) {
            if (f.name == "If-None-Match" || f.name == "If-Modified-Since") r.conditional = true;
            if (f.name == "Range") r.range = f.value;
            if (f.name == "If-Range") r.if_range = f.value;
        }
        return r;
    }
};

StaticAnswer plan(const Req& req, const FileFacts& file = facts(), StaticHeadSettings settings = {}) {
    if (settings.boundary.empty()) settings.boundary = "B0UNDARY";
    StaticAnswer a;
    plan_static_answer(req.get(), file, settings, a);
    return a;
}

bool has(const StaticAnswer& a, std::string_view line) {
    return a.fields.find(std::string(line) + "\r\n") != std::string::npos;
}

// The body as the client would get it, with the file's bytes taken from `content`.
std::string assemble(const StaticAnswer& a, const std::string& content) {
    std::string out;
    for (const auto& s : a.body) {
        out += s.text;
        out += content.substr(s.offset, s.length);
    }
    return out;
}

const std::string kContent = "abcdefghijklmnopqrstuvwxyz";

}  // namespace

BOOST_AUTO_TEST_CASE(plain_get_is_200_with_validators_and_the_whole_file) {
    StaticAnswer a = plan(Req{}, facts(), StaticHeadSettings{"public, max-age=60", false, {}});
    BOOST_TEST(a.status == 200);
    BOOST_TEST(a.content_length == 26u);
    BOOST_TEST(has(a, "Content-Type: text/plain"));
    BOOST_TEST(has(a, "ETag: \"65f0a1b2-1a\""));
    BOOST_TEST(has(a, std::string("Last-Modified: ") + std::string(kDate)));
    BOOST_TEST(has(a, "Cache-Control: public, max-age=60"));
    BOOST_TEST(has(a, "Accept-Ranges: bytes"));
    BOOST_TEST(!has(a, "Vary: Accept-Encoding"));
    BOOST_TEST(assemble(a, kContent) == kContent);
}

BOOST_AUTO_TEST_CASE(head_has_the_same_fields_and_no_body_and_ignores_range) {
    Req r{{{"Range", "bytes=0-3"}}, /*head=*/true};
    StaticAnswer a = plan(r);
    BOOST_TEST(a.status == 200);
    BOOST_TEST(a.content_length == 26u);
    BOOST_TEST(a.body.empty());
}

BOOST_AUTO_TEST_CASE(empty_file_has_no_body_segment) {
    StaticAnswer a = plan(Req{}, facts(0));
    BOOST_TEST(a.status == 200);
    BOOST_TEST(a.content_length == 0u);
    BOOST_TEST(a.body.empty());
}

BOOST_AUTO_TEST_CASE(conditionals) {
    struct Case {
        std::vector<HeaderField> fields;
        int status;
    };
    const Case cases[] = {
        {{{"If-None-Match", kEtag}}, 304},
        {{{"If-None-Match", "W/\"65f0a1b2-1a\""}}, 304},  // weak comparison (RFC 9110 §13.1.2)
        {{{"If-None-Match", "\"other\", \"65f0a1b2-1a\""}}, 304},
        {{{"If-None-Match", "*"}}, 304},
        {{{"If-None-Match", "\"other\""}}, 200},
        {{{"If-Modified-Since", kDate}}, 304},
        {{{"If-Modified-Since", "Wed, 13 Mar 2024 00:00:00 GMT"}}, 304},  // later than the file
        {{{"If-Modified-Since", "Mon, 11 Mar 2024 00:00:00 GMT"}}, 200},  // earlier: modified since
        {{{"If-Modified-Since", "not a date"}}, 200},
        // If-None-Match wins: a non-matching tag means 200 even when the date would say 304 …
        {{{"If-None-Match", "\"other\""}, {"If-Modified-Since", kDate}}, 200},
        // … and a matching one means 304 even when the date is old.
        {{{"If-None-Match", kEtag}, {"If-Modified-Since", "Mon, 11 Mar 2024 00:00:00 GMT"}}, 304},
    };
    for (const auto& c : cases) {
        std::string context = std::string(c.fields.front().name) + ": " + std::string(c.fields.front().value);
        BOOST_TEST_CONTEXT(context) {
            StaticAnswer a = plan(Req{c.fields});
            BOOST_TEST(a.status == c.status);
        }
    }
}

BOOST_AUTO_TEST_CASE(not_modified_carries_validators_and_caching_fields_but_no_length_or_body) {
    StaticAnswer a = plan(Req{{{"If-None-Match", kEtag}}}, facts(), StaticHeadSettings{"max-age=5", true, {}});
    BOOST_TEST(a.status == 304);
    BOOST_TEST(!a.states_length);
    BOOST_TEST(a.body.empty());
    BOOST_TEST(has(a, "ETag: \"65f0a1b2-1a\""));
    BOOST_TEST(has(a, "Cache-Control: max-age=5"));
    BOOST_TEST(has(a, "Vary: Accept-Encoding"));
    BOOST_TEST(!has(a, "Content-Type: text/plain"));
}

BOOST_AUTO_TEST_CASE(conditional_beats_range) {
    StaticAnswer a = plan(Req{{{"If-None-Match", kEtag}, {"Range", "bytes=0-1"}}});
    BOOST_TEST(a.status == 304);
}

BOOST_AUTO_TEST_CASE(single_range_is_206_with_content_range) {
    struct Case {
        std::string_view range;
        uint64_t first, last;
    };
    const Case cases[] = {{"bytes=0-4", 0, 4}, {"bytes=20-", 20, 25}, {"bytes=-3", 23, 25}, {"bytes=24-1000", 24, 25}};
    for (const auto& c : cases) {
        BOOST_TEST_CONTEXT(c.range) {
            StaticAnswer a = plan(Req{{{"Range", c.range}}});
            BOOST_TEST(a.status == 206);
            BOOST_TEST(has(a, "Content-Range: bytes " + std::to_string(c.first) + "-" + std::to_string(c.last) + "/26"));
            BOOST_TEST(has(a, "Content-Type: text/plain"));
            BOOST_TEST(a.content_length == c.last - c.first + 1);
            BOOST_TEST(assemble(a, kContent) == kContent.substr(c.first, c.last - c.first + 1));
        }
    }
}

BOOST_AUTO_TEST_CASE(several_ranges_are_multipart_byteranges_laid_out_exactly) {
    StaticAnswer a = plan(Req{{{"Range", "bytes=0-1, 10-12, -2"}}});
    BOOST_TEST(a.status == 206);
    BOOST_TEST(has(a, "Content-Type: multipart/byteranges; boundary=B0UNDARY"));
    std::string expected =
        "\r\n--B0UNDARY\r\nContent-Type: text/plain\r\nContent-Range: bytes 0-1/26\r\n\r\nab"
        "\r\n--B0UNDARY\r\nContent-Type: text/plain\r\nContent-Range: bytes 10-12/26\r\n\r\nklm"
        "\r\n--B0UNDARY\r\nContent-Type: text/plain\r\nContent-Range: bytes 24-25/26\r\n\r\nyz"
        "\r\n--B0UNDARY--\r\n";
    BOOST_TEST(assemble(a, kContent) == expected);
    BOOST_TEST(a.content_length == expected.size());
}

BOOST_AUTO_TEST_CASE(overlapping_ranges_coalesce_into_one_part) {
    StaticAnswer a = plan(Req{{{"Range", "bytes=0-5, 3-8"}}});
    BOOST_TEST(a.status == 206);
    BOOST_TEST(has(a, "Content-Range: bytes 0-8/26"));
    BOOST_TEST(assemble(a, kContent) == "abcdefghi");
}

BOOST_AUTO_TEST_CASE(multipart_body_length_counts_every_byte) {
    std::vector<BodySegment> body;
    std::vector<ByteRange> ranges = {{0, 0}, {5, 9}};
    uint64_t n = multipart_body(ranges, 100, "image/png", "xyz", body);
    uint64_t counted = 0;
    for (const auto& s : body) counted += s.text.size() + s.length;
    BOOST_TEST(n == counted);
    BOOST_TEST(body.size() == 3u);
    BOOST_TEST(body.back().length == 0u);
    BOOST_TEST(body.back().text == "\r\n--xyz--\r\n");
}

BOOST_AUTO_TEST_CASE(unsatisfiable_is_416_with_the_size) {
    StaticAnswer a = plan(Req{{{"Range", "bytes=26-30"}}});
    BOOST_TEST(a.status == 416);
    BOOST_TEST(has(a, "Content-Range: bytes */26"));
    BOOST_TEST(a.content_length == 0u);
    BOOST_TEST(a.body.empty());
}

BOOST_AUTO_TEST_CASE(malformed_or_foreign_ranges_are_ignored) {
    for (std::string_view range : {"bytes=abc", "items=0-1", "bytes=5-1"}) {
        BOOST_TEST_CONTEXT(range) { BOOST_TEST(plan(Req{{{"Range", range}}}).status == 200); }
    }
}

BOOST_AUTO_TEST_CASE(if_range_applies_the_range_only_when_it_matches) {
    BOOST_TEST(plan(Req{{{"Range", "bytes=0-1"}, {"If-Range", kEtag}}}).status == 206);
    BOOST_TEST(plan(Req{{{"Range", "bytes=0-1"}, {"If-Range", kDate}}}).status == 206);
    BOOST_TEST(plan(Req{{{"Range", "bytes=0-1"}, {"If-Range", "\"old\""}}}).status == 200);
    BOOST_TEST(plan(Req{{{"Range", "bytes=0-1"}, {"If-Range", "W/\"65f0a1b2-1a\""}}}).status == 200);
    BOOST_TEST(plan(Req{{{"Range", "bytes=0-1"}, {"If-Range", "Mon, 11 Mar 2024 00:00:00 GMT"}}}).status == 200);
}

BOOST_AUTO_TEST_CASE(precompressed_sibling_says_gzip_and_varies) {
    FileFacts gz = facts();
    gz.gzip = true;
    StaticAnswer a = plan(Req{}, gz, StaticHeadSettings{{}, true, {}});
    BOOST_TEST(has(a, "Content-Encoding: gzip"));
    BOOST_TEST(has(a, "Vary: Accept-Encoding"));
    BOOST_TEST(has(a, "Content-Type: text/plain"));
}
