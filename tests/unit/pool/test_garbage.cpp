// Malformed input never crashes: random bytes and mutated valid messages through the framer and
// every parser (run under ASan/UBSan in the asan preset). Each parser answers a value or an error.
#define BOOST_TEST_MODULE pool_garbage
#include <boost/test/unit_test.hpp>

#include <array>
#include <random>

#include "pool/backend.hpp"
#include "pool/builders.hpp"
#include "pool/frontend.hpp"
#include "pool/startup.hpp"
#include "wire_fixture.hpp"

using namespace portico::pool;
using namespace portico::pool::test;

namespace {

// Every parser over one body; the count of successes only keeps the calls from being optimised out.
size_t parse_everything(std::string_view body) {
    size_t ok = 0;
    ok += bool(parse_startup_packet(body));
    ok += bool(parse_query(body));
    ok += bool(parse_parse(body));
    ok += bool(parse_bind(body));
    ok += bool(parse_describe(body));
    ok += bool(parse_close(body));
    ok += bool(parse_execute(body));
    ok += bool(parse_empty('S', body));
    ok += bool(parse_password_message(body));
    ok += bool(parse_sasl_initial_response(body));
    ok += bool(parse_sasl_response(body));
    ok += bool(parse_copy_fail(body));
    ok += bool(parse_authentication(body));
    ok += bool(parse_parameter_status(body));
    ok += bool(parse_backend_key_data(body));
    ok += bool(parse_ready_for_query(body));
    ok += bool(parse_error_fields(body));
    ok += bool(parse_negotiate_protocol_version(body));
    ok += bool(parse_command_complete(body));
    ok += bool(parse_notification_response(body));
    ok += bool(parse_copy_response(body));
    return ok;
}

// A sample of valid messages of every kind, as a corpus to mutate.
std::vector<std::string> corpus() {
    std::vector<std::string> out;
    std::string m;
    auto take = [&] {
        out.push_back(m);
        m.clear();
    };
    append_query(m, "SELECT 1");
    take();
    append_parse(m, "s1", "SELECT $1", std::array<uint32_t, 1>{23});
    take();
    append_bind(m, "p", "s1", std::array<std::string_view, 2>{"1", "two"});
    take();
    append_describe(m, TargetKind::statement, "s1");
    take();
    append_execute(m, "p", 5);
    take();
    append_sasl_initial_response(m, "SCRAM-SHA-256", "n,,n=,r=abc");
    take();
    append_auth_sasl(m, std::array<std::string_view, 1>{"SCRAM-SHA-256"});
    take();
    append_backend_key_data(m, 1, std::string(32, 'k'));
    take();
    ErrorDescription e;
    e.sqlstate = "42P01";
    e.message = "no";
    e.detail = "d";
    append_error_response(m, e);
    take();
    append_negotiate_protocol_version(m, 0, std::array<std::string_view, 1>{"_pq_.x"});
    take();
    std::string copy = std::string(1, '\0') + be16(2) + be16(0) + be16(1);
    m = typed('G', copy);
    take();
    m = typed('A', be32(7) + cstr("chan") + cstr("payload"));
    take();
    return out;
}

}  // namespace

BOOST_AUTO_TEST_CASE(random_bytes_through_the_framer_and_parsers) {
    std::mt19937 rng(5);
    std::uniform_int_distribution<int> byte(0, 255);
    size_t messages = 0;
    for (int round = 0; round < 300; ++round) {
        std::string stream(std::uniform_int_distribution<size_t>(1, 4000)(rng), '\0');
        for (char& c : stream) c = char(byte(rng));
        // Small lengths are likelier to frame: force some plausible headers.
        for (size_t at = 0; at + 5 < stream.size(); at += 97) {
            stream[at + 1] = stream[at + 2] = 0;
            stream[at + 3] = char(byte(rng) & 1);
        }
        for (Phase phase : {Phase::startup, Phase::typed}) {
            MessageReader r(phase, ReaderLimits{.max_message = 2048, .max_startup = 2048, .stream_above = 0, .whole_types = {}});
            r.feed(stream);
            Message m;
            while (r.next(m) == MessageReader::Status::message) {
                ++messages;
                parse_everything(m.body);
            }
        }
    }
    BOOST_TEST(messages > 0u);
}

BOOST_AUTO_TEST_CASE(every_truncation_and_byte_flip_of_valid_messages) {
    std::mt19937 rng(7);
    for (const std::string& msg : corpus()) {
        std::string body = msg.substr(5);
        for (size_t n = 0; n <= body.size(); ++n) parse_everything(std::string_view(body).substr(0, n));
        for (size_t i = 0; i < body.size(); ++i)
            for (int v : {0, 0xff, 0x7f, int(rng() & 0xff)}) {
                std::string mutated = body;
                mutated[i] = char(v);
                parse_everything(mutated);
            }
    }
    BOOST_TEST(true);
}
