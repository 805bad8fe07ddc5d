// The framer: whole, coalesced and split reads (at every byte boundary), phases, zero-copy views,
// length checks before buffering, sticky errors.
#define BOOST_TEST_MODULE pool_message_reader
#include <boost/test/unit_test.hpp>

#include <random>

#include "pool/message_reader.hpp"
#include "pool/protocol.hpp"
#include "wire_fixture.hpp"

using namespace portico::pool;
using namespace portico::pool::test;
using Status = MessageReader::Status;

namespace {

// A session's first bytes: a StartupMessage, then typed messages of assorted sizes, including an
// empty-bodied one (Sync, length 4) and one larger than any single read below.
std::string startup_packet() {
    return untyped(be32(kProtocol30) + cstr("user") + cstr("app") + cstr("database") + cstr("db") + std::string(1, '\0'));
}
std::vector<std::string> typed_messages() {
    return {
        typed('Q', cstr("SELECT 1")),
        typed('P', cstr("s1") + cstr("SELECT $1") + be16(0)),
        typed('S', ""),
        typed('d', std::string(3000, 'x')),
        typed('X', ""),
    };
}

// Feeds `stream` in pieces cut at `cuts`, switching to the typed phase after the first message when
// `startup` is set; returns every message framed.
std::vector<Copied> frame_in_pieces(const std::string& stream, const std::vector<size_t>& cuts, bool startup) {
    MessageReader r(startup ? Phase::startup : Phase::typed);
    std::vector<Copied> got;
    size_t from = 0;
    auto feed = [&](size_t to) {
        // Each piece lives in its own buffer that is overwritten after use, as libuv's read buffer is.
        std::string piece = stream.substr(from, to - from);
        r.feed(piece);
        Message m;
        Status s;
        while ((s = r.next(m)) == Status::message) {
            got.push_back({m.type, std::string(m.body), std::string(m.raw)});
            if (r.phase() == Phase::startup) r.set_phase(Phase::typed);
        }
        BOOST_REQUIRE(s == Status::need_more);
        std::fill(piece.begin(), piece.end(), '\xee');
        from = to;
    };
    for (size_t cut : cuts) feed(cut);
    feed(stream.size());
    BOOST_TEST(r.pending() == 0u);
    return got;
}

std::vector<Copied> expected_session() {
    std::vector<Copied> want;
    std::string s = startup_packet();
    want.push_back({0, s.substr(4), s});
    for (const std::string& m : typed_messages()) want.push_back({m[0], m.substr(5), m});
    return want;
}

std::string session_stream() {
    std::string stream = startup_packet();
    for (const std::string& m : typed_messages()) stream += m;
    return stream;
}

}  // namespace

BOOST_AUTO_TEST_CASE(whole_message_is_a_view_of_the_input) {
    MessageReader r;
    std::string in = typed('Q', cstr("SELECT 1"));
    r.feed(in);
    Message m;
    BOOST_REQUIRE(r.next(m) == Status::message);
    BOOST_TEST(m.type == 'Q');
    BOOST_TEST(m.body == cstr("SELECT 1"));
    BOOST_TEST(m.raw == in);
    // No copy: the views point into the caller's bytes.
    BOOST_TEST(static_cast<const void*>(m.raw.data()) == static_cast<const void*>(in.data()));
    BOOST_TEST(static_cast<const void*>(m.body.data()) == static_cast<const void*>(in.data() + 5));
    BOOST_TEST((r.next(m) == Status::need_more));
    BOOST_TEST(r.pending() == 0u);
}

BOOST_AUTO_TEST_CASE(coalesced_messages_all_framed_without_copy) {
    std::string in;
    for (const std::string& m : typed_messages()) in += m;
    MessageReader r;
    r.feed(in);
    Message m;
    size_t offset = 0;
    for (const std::string& want : typed_messages()) {
        BOOST_REQUIRE(r.next(m) == Status::message);
        BOOST_TEST(m.raw == want);
        BOOST_TEST(static_cast<const void*>(m.raw.data()) == static_cast<const void*>(in.data() + offset));
        offset += want.size();
    }
    BOOST_TEST((r.next(m) == Status::need_more));
}

BOOST_AUTO_TEST_CASE(split_in_two_at_every_byte_boundary) {
    const std::string stream = session_stream();
    const std::vector<Copied> want = expected_session();
    for (size_t cut = 0; cut <= stream.size(); ++cut)
        BOOST_TEST_CONTEXT("cut at " << cut) { BOOST_TEST((frame_in_pieces(stream, {cut}, true) == want)); }
}

BOOST_AUTO_TEST_CASE(split_in_three_at_every_pair_of_boundaries_around_headers) {
    // Every (a, b) with a near a message boundary: header bytes arriving one read at a time.
    const std::string stream = session_stream();
    const std::vector<Copied> want = expected_session();
    std::vector<size_t> boundaries{0};
    for (const Copied& c : want) boundaries.push_back(boundaries.back() + c.raw.size());
    for (size_t edge : boundaries)
        for (size_t a = edge; a <= std::min(edge + 6, stream.size()); ++a)
            for (size_t b = a; b <= std::min(a + 6, stream.size()); ++b)
                BOOST_TEST_CONTEXT("cuts " << a << ", " << b) { BOOST_TEST((frame_in_pieces(stream, {a, b}, true) == want)); }
}

BOOST_AUTO_TEST_CASE(one_byte_at_a_time) {
    const std::string stream = session_stream();
    std::vector<size_t> cuts;
    for (size_t i = 1; i < stream.size(); ++i) cuts.push_back(i);
    BOOST_TEST((frame_in_pieces(stream, cuts, true) == expected_session()));
}

BOOST_AUTO_TEST_CASE(random_read_sizes) {
    const std::string stream = session_stream();
    std::mt19937 rng(20261201);
    for (int round = 0; round < 200; ++round) {
        std::vector<size_t> cuts;
        size_t at = 0;
        for (;;) {
            at += std::uniform_int_distribution<size_t>(1, 700)(rng);
            if (at >= stream.size()) break;
            cuts.push_back(at);
        }
        BOOST_TEST((frame_in_pieces(stream, cuts, true) == expected_session()));
    }
}

BOOST_AUTO_TEST_CASE(large_message_across_many_reads) {
    std::string body(1 << 20, '\0');
    for (size_t i = 0; i < body.size(); ++i) body[i] = char(i * 31);
    std::string stream = typed('d', body) + typed('c', "");
    std::vector<size_t> cuts;
    for (size_t at = 65536; at < stream.size(); at += 65536) cuts.push_back(at);
    auto got = frame_in_pieces(stream, cuts, false);
    BOOST_REQUIRE(got.size() == 2u);
    BOOST_TEST(got[0].type == 'd');
    BOOST_TEST((got[0].body == body));
    BOOST_TEST(got[1].type == 'c');
}

BOOST_AUTO_TEST_CASE(feed_without_draining_keeps_order) {
    MessageReader r;
    std::string a = typed('Q', cstr("a")), b = typed('Q', cstr("b"));
    std::string first = a + b.substr(0, 3);  // alive until the next feed, as the contract asks
    r.feed(first);
    std::string rest = b.substr(3);
    r.feed(rest);  // the first feed was never drained: its bytes are kept, in order
    auto got = drain(r);
    BOOST_REQUIRE(got.size() == 2u);
    BOOST_TEST(got[0].raw == a);
    BOOST_TEST(got[1].raw == b);
}

BOOST_AUTO_TEST_CASE(pending_counts_a_partial_message) {
    MessageReader r;
    std::string m = typed('Q', cstr("SELECT 1"));
    r.feed(std::string_view(m).substr(0, 7));
    Message out;
    BOOST_TEST((r.next(out) == Status::need_more));
    BOOST_TEST(r.pending() == 7u);  // what a connection closed now would leave truncated
}

BOOST_AUTO_TEST_CASE(minimum_lengths) {
    {  // length 4: an empty body, legal (Sync)
        MessageReader r;
        std::string sync = typed('S', "");
        r.feed(sync);
        Message m;
        BOOST_REQUIRE(r.next(m) == Status::message);
        BOOST_TEST(m.body.empty());
    }
    for (uint32_t len : {0u, 1u, 3u, 0x80000000u, 0xffffffffu}) {
        BOOST_TEST_CONTEXT("typed length " << len) {
            MessageReader r;
            std::string in = std::string(1, 'Q') + be32(len) + "xxxxxxxx";
            r.feed(in);
            Message m;
            BOOST_REQUIRE(r.next(m) == Status::error);
            BOOST_TEST((r.error().code == ProtocolErrc::invalid_length));
            BOOST_TEST(sqlstate_of(r.error()) == "08P01");
        }
    }
    for (uint32_t len : {0u, 4u, 7u}) {
        BOOST_TEST_CONTEXT("startup length " << len) {
            MessageReader r(Phase::startup);
            std::string in = be32(len) + be32(kProtocol30);
            r.feed(in);
            Message m;
            BOOST_REQUIRE(r.next(m) == Status::error);
            BOOST_TEST((r.error().code == ProtocolErrc::invalid_length));
            BOOST_TEST(r.error().message == "invalid length of startup packet");
        }
    }
}

BOOST_AUTO_TEST_CASE(oversize_refused_from_the_header_alone) {
    MessageReader r(Phase::typed, ReaderLimits{.max_message = 100, .max_startup = kMaxStartupPacket, .stream_above = 0, .whole_types = {}});
    // At the limit: accepted.
    std::string ok = typed('Q', std::string(96, 'a'));
    r.feed(ok);
    Message m;
    BOOST_REQUIRE(r.next(m) == Status::message);
    // One over: refused when only the five header bytes have arrived, before any body is buffered.
    std::string header = std::string(1, 'Q') + be32(101);
    r.feed(header);
    BOOST_REQUIRE(r.next(m) == Status::error);
    BOOST_TEST((r.error().code == ProtocolErrc::message_too_large));
    BOOST_TEST(sqlstate_of(r.error()) == "54000");
    BOOST_TEST(r.error().message.find("101") != std::string::npos);
    // Sticky: later bytes change nothing.
    std::string more = typed('S', "");
    r.feed(more);
    BOOST_TEST((r.next(m) == Status::error));
}

BOOST_AUTO_TEST_CASE(oversize_header_split_across_reads) {
    MessageReader r(Phase::typed, ReaderLimits{.max_message = 1000, .max_startup = kMaxStartupPacket, .stream_above = 0, .whole_types = {}});
    std::string header = std::string(1, 'D') + be32(1u << 30);
    Message m;
    for (size_t i = 0; i < header.size(); ++i) {
        std::string one = header.substr(i, 1);
        r.feed(one);
        Status s = r.next(m);
        if (i + 1 < header.size()) BOOST_TEST((s == Status::need_more));
        else BOOST_TEST((s == Status::error));
    }
    BOOST_TEST(r.pending() <= 5u);
}

BOOST_AUTO_TEST_CASE(oversize_startup_packet) {
    MessageReader r(Phase::startup);
    std::string in = be32(10001) + be32(kProtocol30);
    r.feed(in);
    Message m;
    BOOST_REQUIRE(r.next(m) == Status::error);
    // Postgres's answer to an oversize startup packet (often not a Postgres client at all): 08P01.
    BOOST_TEST((r.error().code == ProtocolErrc::invalid_length));
    BOOST_TEST(sqlstate_of(r.error()) == "08P01");
    // 10000 itself is allowed (Postgres's MAX_STARTUP_PACKET_LENGTH).
    MessageReader r2(Phase::startup);
    std::string in2 = be32(10000) + be32(kProtocol30);
    r2.feed(in2);
    BOOST_TEST((r2.next(m) == Status::need_more));
}

BOOST_AUTO_TEST_CASE(startup_phase_packets_have_no_type) {
    MessageReader r(Phase::startup);
    std::string ssl = be32(8) + be32(kSslRequestCode);
    std::string startup = startup_packet();
    std::string both = ssl + startup;
    r.feed(both);
    Message m;
    BOOST_REQUIRE(r.next(m) == Status::message);
    BOOST_TEST(m.type == 0);
    BOOST_TEST(m.body == be32(kSslRequestCode));
    BOOST_REQUIRE(r.next(m) == Status::message);
    BOOST_TEST(m.raw == startup);
}

BOOST_AUTO_TEST_CASE(peek_header) {
    BOOST_TEST(!peek_typed_header(std::string_view("D\0\0\0", 4)).has_value());
    std::string in = std::string(1, 'D') + be32(123456);
    auto h = peek_typed_header(in);
    BOOST_REQUIRE(h.has_value());
    BOOST_TEST(h->type == 'D');
    BOOST_TEST(h->length == 123456u);
    BOOST_TEST(h->total() == 123457u);
}

// ---- messages above stream_above come as parts ------------------------------------------------

namespace {
// Feeds `in` in pieces of `step` bytes and collects what the reader returns: whole messages as
// "type:body", parts as their raw bytes appended to one string per message.
struct Collected {
    std::vector<std::string> whole;
    std::vector<std::string> streamed;  // raw bytes of each streamed message, joined
    int parts = 0;
    bool first_flags_ok = true;
};
Collected collect(const std::string& in, size_t step, size_t stream_above, std::string_view whole_types = {}) {
    MessageReader r(Phase::typed, ReaderLimits{.max_message = 1 << 20, .max_startup = kMaxStartupPacket,
                                               .stream_above = stream_above, .whole_types = whole_types});
    Collected c;
    bool inside = false;
    for (size_t at = 0; at < in.size(); at += step) {
        std::string piece = in.substr(at, step);
        r.feed(piece);
        Message m;
        while (r.next(m) == Status::message) {
            if (!m.part) {
                c.whole.push_back(std::string(1, m.type) + ":" + std::string(m.body));
                continue;
            }
            ++c.parts;
            if (m.first == inside) c.first_flags_ok = false;  // first exactly when not inside
            if (m.first) c.streamed.emplace_back();
            c.streamed.back() += std::string(m.raw);
            inside = !m.last;
        }
    }
    return c;
}
}  // namespace

// Found by fuzz_pg_frontend: fed again before it was drained, the reader buffers what is left; a
// streamed message found there took the messages after it into its first part.
BOOST_AUTO_TEST_CASE(streamed_message_buffered_by_an_undrained_feed_keeps_its_length) {
    MessageReader r(Phase::typed, ReaderLimits{.max_message = 1 << 20, .max_startup = kMaxStartupPacket,
                                               .stream_above = 16, .whole_types = {}});
    std::string big = typed('d', std::string(40, 'x')), sync = typed('S', ""), query = typed('Q', cstr("SELECT 1"));
    std::string first = big + sync + query.substr(0, 3);
    r.feed(first);
    std::string rest = query.substr(3);
    r.feed(rest);  // nothing was taken from the first feed
    Message m;
    std::string streamed;
    std::vector<std::string> whole;
    while (r.next(m) == Status::message) {
        if (m.part) {
            streamed += std::string(m.raw);
        } else {
            whole.emplace_back(m.raw);
        }
    }
    BOOST_TEST(streamed == big);
    std::vector<std::string> expected = {sync, query};
    BOOST_TEST(whole == expected, boost::test_tools::per_element());
    BOOST_TEST(r.pending() == 0u);
}

BOOST_AUTO_TEST_CASE(large_messages_stream_in_parts_split_anywhere) {
    std::string big(5000, 'x');
    for (size_t i = 0; i < big.size(); ++i) big[i] = char('a' + i % 26);
    std::string in = typed('Z', "I") + typed('d', big) + typed('C', std::string("SELECT 1\0", 9)) + typed('d', big) +
                     typed('Z', "I");
    for (size_t step : {size_t(1), size_t(3), size_t(7), size_t(100), size_t(4096), in.size()}) {
        BOOST_TEST_CONTEXT("step " << step) {
            Collected c = collect(in, step, 1000);
            BOOST_TEST(c.first_flags_ok);
            BOOST_REQUIRE(c.streamed.size() == 2u);
            BOOST_TEST(c.streamed[0] == typed('d', big));  // the raw bytes, header included, in order
            BOOST_TEST(c.streamed[1] == typed('d', big));
            std::vector<std::string> expected = {"Z:I", std::string("C:SELECT 1\0", 11), "Z:I"};
            BOOST_TEST(c.whole == expected, boost::test_tools::per_element());
            if (step == in.size()) BOOST_TEST(c.parts == 2);  // one part each when it arrived whole
        }
    }
}

BOOST_AUTO_TEST_CASE(the_threshold_is_on_the_length_word) {
    std::string body(996, 'y');  // length word 1000: whole
    Collected c = collect(typed('d', body), 10, 1000);
    BOOST_TEST(c.streamed.empty());
    BOOST_REQUIRE(c.whole.size() == 1u);
    BOOST_TEST(c.whole[0] == "d:" + body);
    Collected over = collect(typed('d', body + "y"), 10, 1000);  // 1001: parts
    BOOST_TEST(over.whole.empty());
    BOOST_TEST(over.streamed.size() == 1u);
}

BOOST_AUTO_TEST_CASE(whole_types_never_stream) {
    std::string big(5000, 'q');
    std::string in = typed('P', big) + typed('d', big);
    for (size_t step : {size_t(1), size_t(700), in.size()}) {
        Collected c = collect(in, step, 1024, "P");
        BOOST_TEST_CONTEXT("step " << step) {
            BOOST_TEST_REQUIRE(c.whole.size() == 1u);
            BOOST_TEST(c.whole[0] == "P:" + big);
            BOOST_TEST(c.streamed.size() == 1u);  // the CopyData still streams
        }
    }
}
