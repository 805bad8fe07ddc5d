// The stored-entry encoding: round trips, and no value, however broken, read out of bounds.
#define BOOST_TEST_MODULE cache_entry_codec
#include <boost/test/unit_test.hpp>

#include <random>
#include <string>
#include <vector>

#include "cache/entry_codec.hpp"
#include "headers_fixture.hpp"

using namespace portico::cache;
using portico::cache::test::kT0;

namespace {

struct Sample {
    std::string key = std::string("https://example.com/a?b=1") + '\0' + "accept-encoding=gzip\n";
    std::string head = "Content-Type: text/html\r\nETag: \"x\"\r\nVary: Accept-Encoding\r\n";
    std::string body = std::string("body with \0 a NUL and \xff bytes", 30);
    std::vector<std::string> tags{"product-1", "list", "t"};
    std::string tag_block;
    EntryRecord record;

    Sample() {
        size_t count = encode_tag_block(tags, tag_block);
        record.seq = 0x0102030405060708ULL;
        record.facts.response_time = kT0 + Seconds{5};
        record.facts.corrected_initial_age = Seconds{7};
        record.facts.lifetime = Seconds{3600};
        record.facts.stale_while_revalidate = Seconds{-1};  // any int64 survives
        record.facts.stale_if_error = Seconds{86400};
        record.facts.no_cache = true;
        record.facts.must_revalidate = false;
        record.facts.auth_reusable = true;
        record.facts.has_validator = true;
        record.status = 203;
        record.object_key = key;
        record.head = head;
        record.tags = TagList(tag_block, count);
        record.body = body;
    }
};

std::vector<std::string> tags_of(const TagList& list) { return {list.begin(), list.end()}; }

}  // namespace

BOOST_AUTO_TEST_CASE(entry_round_trip) {
    Sample s;
    std::string value = encode_entry(s.record);
    BOOST_TEST(value.size() == encoded_entry_size(s.record));
    BOOST_TEST((value_kind(value) == ValueKind::entry));
    auto d = decode_entry(value);
    BOOST_REQUIRE(d);
    BOOST_TEST(d->seq == s.record.seq);
    BOOST_TEST(d->facts.response_time.time_since_epoch().count() == s.record.facts.response_time.time_since_epoch().count());
    BOOST_TEST(d->facts.corrected_initial_age.count() == 7);
    BOOST_TEST(d->facts.lifetime.count() == 3600);
    BOOST_TEST(d->facts.stale_while_revalidate.count() == -1);
    BOOST_TEST(d->facts.stale_if_error.count() == 86400);
    BOOST_TEST(d->facts.no_cache);
    BOOST_TEST(!d->facts.must_revalidate);
    BOOST_TEST(d->facts.auth_reusable);
    BOOST_TEST(d->facts.has_validator);
    BOOST_TEST(d->status == 203);
    BOOST_TEST(d->object_key == s.key);
    BOOST_TEST(d->primary() == "https://example.com/a?b=1");
    BOOST_TEST(d->variant() == "accept-encoding=gzip\n");
    BOOST_TEST(d->head == s.head);
    BOOST_TEST(d->body == s.body);
    BOOST_TEST(tags_of(d->tags) == s.tags, boost::test_tools::per_element());
    BOOST_TEST(d->tags.size() == 3u);
    // Views point into the value: no copy.
    BOOST_TEST((d->body.data() >= value.data() && d->body.data() + d->body.size() == value.data() + value.size()));
    BOOST_TEST(entry_seq(value).value() == s.record.seq);
    set_entry_seq(value.data(), 42);
    BOOST_TEST(decode_entry(value)->seq == 42u);
}

BOOST_AUTO_TEST_CASE(entry_without_body_tags_or_variant) {
    EntryRecord r;
    std::string key = std::string("http://h/") + '\0';
    r.object_key = key;
    std::string value = encode_entry(r);
    BOOST_TEST(value.size() == kEntryHeaderBytes + r.object_key.size());
    auto d = decode_entry(value);
    BOOST_REQUIRE(d);
    BOOST_TEST(d->body.empty());
    BOOST_TEST(d->tags.empty());
    BOOST_TEST((d->tags.begin() == d->tags.end()));
    BOOST_TEST(d->variant().empty());
    BOOST_TEST(d->primary() == "http://h/");
}

BOOST_AUTO_TEST_CASE(every_truncation_is_rejected) {
    Sample s;
    std::string value = encode_entry(s.record);
    for (size_t n = 0; n < value.size(); ++n) {
        // A heap copy of exactly n bytes, so a read past the end is caught by ASan.
        std::string cut = value.substr(0, n);
        BOOST_TEST_CONTEXT("length " << n) {
            BOOST_TEST(!decode_entry(cut));
        }
    }
    std::string longer = value + "x";
    BOOST_TEST(!decode_entry(longer));  // the lengths must add up exactly
}

BOOST_AUTO_TEST_CASE(wrong_magic_version_or_tag_block) {
    Sample s;
    std::string value = encode_entry(s.record);
    std::string bad_magic = value;
    bad_magic[0] = 'X';
    BOOST_TEST(!decode_entry(bad_magic));
    BOOST_TEST((value_kind(bad_magic) == ValueKind::unknown));
    std::string bad_version = value;
    bad_version[4] = static_cast<char>(kEntryFormatVersion + 1);
    BOOST_TEST(!decode_entry(bad_version));
    BOOST_TEST(!entry_seq(bad_version));
    // A tag count larger than the block holds.
    std::string bad_count = value;
    bad_count[58] = 9;
    BOOST_TEST(!decode_entry(bad_count));
    // A tag length that runs past its block (into the body).
    std::string bad_tag = value;
    size_t tag_block_at = kEntryHeaderBytes + s.key.size() + s.head.size();
    bad_tag[tag_block_at] = static_cast<char>(0xff);
    BOOST_TEST(!decode_entry(bad_tag));
    // A head length beyond the value.
    std::string bad_head = value;
    bad_head[67] = 0x7f;
    BOOST_TEST(!decode_entry(bad_head));
    BOOST_TEST(!decode_entry(""));
    BOOST_TEST(!decode_entry("PtcE"));
}

BOOST_AUTO_TEST_CASE(random_and_mutated_values_never_read_out_of_bounds) {
    Sample s;
    std::string value = encode_entry(s.record);
    std::mt19937 rng(12345);
    size_t decoded = 0;
    for (int i = 0; i < 20000; ++i) {
        std::string v = value;
        int flips = 1 + static_cast<int>(rng() % 4);
        for (int f = 0; f < flips; ++f) v[rng() % v.size()] = static_cast<char>(rng());
        if (rng() % 3 == 0) v.resize(rng() % (v.size() + 1));
        if (auto d = decode_entry(v)) {
            ++decoded;
            size_t total = 0;
            for (std::string_view tag : d->tags) total += tag.size();  // iteration stays inside
            BOOST_TEST(total <= v.size());
            BOOST_TEST((d->body.data() + d->body.size() <= v.data() + v.size()));
        }
        decode_vary_marker(v);
    }
    for (int i = 0; i < 20000; ++i) {
        std::string v(rng() % 200, '\0');
        for (char& c : v) c = static_cast<char>(rng());
        if (rng() % 2) v.replace(0, std::min<size_t>(4, v.size()), "PtcE");
        decode_entry(v);
        decode_vary_marker(v);
    }
    BOOST_TEST_MESSAGE("mutated values still decodable: " << decoded);
}

BOOST_AUTO_TEST_CASE(vary_marker_round_trip) {
    std::string value = encode_vary_marker("https://h/p", "accept-encoding, origin");
    BOOST_TEST((value_kind(value) == ValueKind::vary_marker));
    BOOST_TEST(!decode_entry(value));
    auto m = decode_vary_marker(value);
    BOOST_REQUIRE(m);
    BOOST_TEST(m->primary == "https://h/p");
    BOOST_TEST(m->names == "accept-encoding, origin");
    for (size_t n = 0; n < value.size(); ++n) {
        std::string cut = value.substr(0, n);
        // Cut inside the names still decodes (shorter names), but never past the end.
        if (auto d = decode_vary_marker(cut)) BOOST_TEST((d->names.data() + d->names.size() <= cut.data() + cut.size()));
    }
    BOOST_TEST(!decode_vary_marker(encode_vary_marker("https://h/p", "")));  // names required
}

BOOST_AUTO_TEST_CASE(head_block_lines) {
    std::string block;
    append_head_line(block, "Content-Type", "text/html");
    append_head_line(block, "ETag", "\"abc\"");
    BOOST_TEST(block == "Content-Type: text/html\r\nETag: \"abc\"\r\n");

    std::vector<HeaderField> fields;
    parse_head_block(block, fields);
    BOOST_REQUIRE(fields.size() == 2u);
    BOOST_TEST(fields[0].name == "Content-Type");
    BOOST_TEST(fields[0].value == "text/html");
    BOOST_TEST(fields[1].name == "ETag");
    BOOST_TEST(fields[1].value == "\"abc\"");
    BOOST_TEST(find_first(fields, "etag").value() == "\"abc\"");

    parse_head_block("A:1\r\nno colon here\r\n: empty name\r\nB:   spaced \t\r\nC: last without CRLF", fields);
    BOOST_REQUIRE(fields.size() == 3u);
    BOOST_TEST(fields[0].name == "A");
    BOOST_TEST(fields[0].value == "1");
    BOOST_TEST(fields[1].value == "spaced");
    BOOST_TEST(fields[2].name == "C");
    BOOST_TEST(fields[2].value == "last without CRLF");

    parse_head_block("", fields);
    BOOST_TEST(fields.empty());
    parse_head_block("X-Empty:\r\n", fields);
    BOOST_REQUIRE(fields.size() == 1u);
    BOOST_TEST(fields[0].value.empty());
}
