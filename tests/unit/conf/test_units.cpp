// Table-driven tests for conf's pure parsers: units, ${ENV}, suggestions, addresses, redaction.
#define BOOST_TEST_MODULE conf_units
#include <boost/test/unit_test.hpp>

#include <map>

#include "conf/address.hpp"
#include "conf/env_subst.hpp"
#include "conf/redact.hpp"
#include "conf/suggest.hpp"
#include "conf/units.hpp"

using namespace portico::conf;
using namespace std::chrono_literals;

BOOST_AUTO_TEST_CASE(durations_parse) {
    struct Row { const char* text; int64_t ms; };
    const Row rows[] = {
        {"0", 0},          {"0s", 0},          {"250ms", 250},     {"30s", 30000},
        {"5m", 300000},    {"1h", 3600000},    {"7d", 604800000},  {"1m30s", 90000},
        {"1h30m", 5400000}, {"600s", 600000},  {"1s500ms", 1500},
    };
    for (const auto& r : rows) {
        BOOST_TEST_CONTEXT(r.text) {
            auto d = parse_duration(r.text);
            BOOST_TEST_REQUIRE(d.error == "");
            BOOST_TEST(d->count() == r.ms);
        }
    }
}

BOOST_AUTO_TEST_CASE(durations_refused) {
    struct Row { const char* text; const char* message_part; };
    const Row rows[] = {
        {"", "empty value"},
        {"30", "a number needs a unit, e.g. 30s"},
        {"1.5s", "expected a duration like 250ms, 30s, 5m"},
        {"-1s", "expected a duration like 250ms, 30s, 5m"},
        {"10 s", "units: ms, s, m, h, d"},
        {"5sec", "expected a duration like 250ms, 30s, 5m"},
        {"1w", "units: ms, s, m, h, d"},
        {"s", "expected a duration"},
        {"99999999999999999999s", "expected a duration"},
        {"5000000d", "too long"},
    };
    for (const auto& r : rows) {
        BOOST_TEST_CONTEXT(r.text) {
            auto d = parse_duration(r.text);
            BOOST_TEST(!d);
            BOOST_TEST(d.error.find(r.message_part) != std::string::npos, d.error);
        }
    }
}

BOOST_AUTO_TEST_CASE(sizes_parse) {
    struct Row { const char* text; uint64_t bytes; };
    const Row rows[] = {
        {"0", 0},
        {"512", 512},
        {"512B", 512},
        {"64KiB", 64 * 1024},
        {"10MiB", 10ull * 1024 * 1024},
        {"1GiB", 1ull << 30},
        {"2TiB", 2ull << 40},
        {"64KB", 64000},
        {"10MB", 10000000},
        {"1GB", 1000000000},
        {"1TB", 1000000000000},
    };
    for (const auto& r : rows) {
        BOOST_TEST_CONTEXT(r.text) {
            auto s = parse_size(r.text);
            BOOST_TEST_REQUIRE(s.error == "");
            BOOST_TEST(*s == r.bytes);
        }
    }
}

BOOST_AUTO_TEST_CASE(sizes_refused) {
    struct Row { const char* text; const char* message_part; };
    const Row rows[] = {
        {"", "empty value"},
        {"64k", "write 64KiB for powers of 1024 or 64KB for powers of 1000"},
        {"10M", "write 10MiB"},
        {"1g", "write 1GiB"},
        {"10mb", "write 10MiB"},
        {"1.5GiB", "expected a size like 512, 64KiB, 10MiB"},
        {"-1", "expected a size"},
        {"KiB", "expected a size"},
        {"10 MiB", "units: B, KiB"},
        {"99999999999TiB", "too large"},
    };
    for (const auto& r : rows) {
        BOOST_TEST_CONTEXT(r.text) {
            auto s = parse_size(r.text);
            BOOST_TEST(!s);
            BOOST_TEST(s.error.find(r.message_part) != std::string::npos, s.error);
        }
    }
}

BOOST_AUTO_TEST_CASE(rates_parse_and_refuse) {
    struct Good { const char* text; double per_second; };
    const Good good[] = {{"100/s", 100}, {"6000/m", 100}, {"3600/h", 1}, {"86400/d", 1}, {"0.5/s", 0.5}, {"1/m", 1.0 / 60}};
    for (const auto& r : good) {
        BOOST_TEST_CONTEXT(r.text) {
            auto p = parse_rate(r.text);
            BOOST_TEST_REQUIRE(p.error == "");
            BOOST_TEST(p->per_second == r.per_second, boost::test_tools::tolerance(1e-12));
            BOOST_TEST(p->text == r.text);
        }
    }
    struct Bad { const char* text; const char* message_part; };
    const Bad bad[] = {
        {"100", "expected a rate like 100/s"}, {"/h", "expected a rate"}, {"100/x", "units: /s, /m, /h, /d"},
        {"0/s", "must be positive"},            {"1e3/s", "expected a rate"}, {"-5/s", "expected a rate"},
        {"1./s", "expected a rate"},            {"100/sec", "units"},
    };
    for (const auto& r : bad) {
        BOOST_TEST_CONTEXT(r.text) {
            auto p = parse_rate(r.text);
            BOOST_TEST(!p);
            BOOST_TEST(p.error.find(r.message_part) != std::string::npos, p.error);
        }
    }
}

BOOST_AUTO_TEST_CASE(formatting_is_exact_and_round_trips) {
    struct D { int64_t ms; const char* text; };
    for (auto [ms, text] : {D{0, "0s"}, D{250, "250ms"}, D{30000, "30s"}, D{90000, "90s"}, D{300000, "5m"},
                            D{3600000, "1h"}, D{86400000, "1d"}, D{1500, "1500ms"}}) {
        BOOST_TEST(format_duration(Duration{ms}) == text);
        BOOST_TEST(parse_duration(text)->count() == ms);
    }
    struct S { uint64_t bytes; const char* text; };
    for (auto [bytes, text] : {S{0, "0"}, S{512, "512"}, S{1000, "1000"}, S{16384, "16KiB"},
                               S{10485760, "10MiB"}, S{1ull << 30, "1GiB"}, S{1536, "1536"}}) {
        BOOST_TEST(format_size(bytes) == text);
        BOOST_TEST(*parse_size(text) == bytes);
    }
    BOOST_TEST(format_size(3 * 1024) == "3KiB");
}

BOOST_AUTO_TEST_CASE(env_substitution) {
    std::map<std::string, std::string, std::less<>> vars{{"HOST", "db.local"}, {"EMPTY", ""}, {"PORT", "5432"}};
    EnvLookup lookup = [&](std::string_view name) -> std::optional<std::string> {
        auto it = vars.find(name);
        if (it == vars.end()) return std::nullopt;
        return it->second;
    };
    struct Row { const char* in; const char* out; };
    const Row rows[] = {
        {"plain", "plain"},
        {"${HOST}", "db.local"},
        {"host=${HOST} port=${PORT}", "host=db.local port=5432"},
        {"${MISSING:-fallback}", "fallback"},
        {"${EMPTY:-fallback}", "fallback"},  // sh semantics: empty counts as unset for :-
        {"${EMPTY}", ""},
        {"${HOST:-x}", "db.local"},
        {"${MISSING:-}", ""},
        {"pa$$word", "pa$$word"},  // a lone '$' is literal
        {"cost $5", "cost $5"},
        {"$${HOST}", "${HOST}"},   // escape
        {"${MISSING:-a:b/c}", "a:b/c"},
    };
    for (const auto& r : rows) {
        BOOST_TEST_CONTEXT(r.in) {
            auto s = substitute_env(r.in, lookup);
            BOOST_TEST_REQUIRE(s.error == "");
            BOOST_TEST(*s.value == r.out);
        }
    }
    struct Bad { const char* in; size_t offset; const char* message_part; };
    const Bad bad[] = {
        {"x ${MISSING} y", 2, "environment variable 'MISSING' is not set"},
        {"${HOST", 0, "unterminated"},
        {"ok ${1X}", 3, "not a variable reference"},
        {"${}", 0, "not a variable reference"},
        {"${A:-${B}}", 0, "nested"},
    };
    for (const auto& r : bad) {
        BOOST_TEST_CONTEXT(r.in) {
            auto s = substitute_env(r.in, lookup);
            BOOST_TEST(!s.value);
            BOOST_TEST(s.error_offset == r.offset);
            BOOST_TEST(s.error.find(r.message_part) != std::string::npos, s.error);
        }
    }
}

BOOST_AUTO_TEST_CASE(suggestions) {
    BOOST_TEST(edit_distance("keepalve", "keepalive") == 1u);
    BOOST_TEST(edit_distance("tll", "ttl") == 1u);  // a swap counts once
    BOOST_TEST(edit_distance("Workers", "workers") == 0u);
    BOOST_TEST(closest_match("keepalve", {"address", "keepalive", "read_timeout"}) == "keepalive");
    BOOST_TEST(closest_match("zzz", {"address", "keepalive"}) == "");
    BOOST_TEST(closest_match("lvel", {"level", "format"}) == "level");
}

BOOST_AUTO_TEST_CASE(addresses) {
    struct Good { const char* text; Address::Kind kind; const char* host; int port; const char* path; };
    const Good good[] = {
        {"127.0.0.1:8080", Address::Kind::tcp, "127.0.0.1", 8080, ""},
        {"[::1]:8080", Address::Kind::tcp, "::1", 8080, ""},
        {"localhost:8000", Address::Kind::tcp, "localhost", 8000, ""},
        {"app-1.internal:65535", Address::Kind::tcp, "app-1.internal", 65535, ""},
        {"0.0.0.0:1", Address::Kind::tcp, "0.0.0.0", 1, ""},
        {"unix:/run/app/uvicorn.sock", Address::Kind::unix_socket, "", 0, "/run/app/uvicorn.sock"},
    };
    for (const auto& r : good) {
        BOOST_TEST_CONTEXT(r.text) {
            auto a = parse_address(r.text);
            BOOST_TEST_REQUIRE(a.error == "");
            BOOST_TEST((a->kind == r.kind));
            BOOST_TEST(a->host == r.host);
            BOOST_TEST(a->port == r.port);
            BOOST_TEST(a->path == r.path);
            BOOST_TEST(a->text == r.text);
        }
    }
    struct Bad { const char* text; const char* message_part; };
    const Bad bad[] = {
        {"127.0.0.1", "the port is missing"},
        {"127.0.0.1:0", "port must be a number 1..65535"},
        {"127.0.0.1:65536", "port must be a number 1..65535"},
        {"127.0.0.1:http", "port must be a number"},
        {"::1:8080", "IPv6 addresses need brackets"},
        {"[::g]:80", "not an IPv6 address"},
        {"[::1]8080", "expected HOST:PORT"},
        {"300.1.1.1:80", "not an IPv4 address"},
        {":8080", "write 0.0.0.0:8080"},
        {"bad_host:80", "neither an IP address nor a host name"},
        {"unix:relative.sock", "must be absolute"},
        {"unix:", "must be absolute"},
    };
    for (const auto& r : bad) {
        BOOST_TEST_CONTEXT(r.text) {
            auto a = parse_address(r.text);
            BOOST_TEST(!a);
            BOOST_TEST(a.error.find(r.message_part) != std::string::npos, a.error);
        }
    }
    BOOST_TEST(parse_address("127.0.0.1:0", PortZero::allow)->port == 0);
    BOOST_TEST(!parse_address(std::string("unix:/") + std::string(120, 'x')));
}

BOOST_AUTO_TEST_CASE(cidrs) {
    auto v4 = parse_cidr("10.0.0.0/8");
    BOOST_TEST_REQUIRE(v4.error == "");
    BOOST_TEST(!v4->v6);
    BOOST_TEST(v4->prefix == 8);
    BOOST_TEST(v4->bytes[0] == 10);
    auto v6 = parse_cidr("::1/128");
    BOOST_TEST_REQUIRE(v6.error == "");
    BOOST_TEST(v6->v6);
    BOOST_TEST(v6->bytes[15] == 1);
    BOOST_TEST(parse_cidr("192.168.1.7")->prefix == 32);
    BOOST_TEST(parse_cidr("fd00::")->prefix == 128);
    BOOST_TEST(parse_cidr("0.0.0.0/0")->prefix == 0);
    struct Bad { const char* text; const char* message_part; };
    const Bad bad[] = {
        {"10.0.0.1/8", "did you mean '10.0.0.0/8'?"},
        {"10.0.0.0/33", "prefix length must be 0..32"},
        {"::1/129", "prefix length must be 0..128"},
        {"10.0.0.0/", "prefix length"},
        {"10.0.0.0/x", "prefix length"},
        {"example.com/8", "expected a CIDR block"},
        {"fd00::1/64", "did you mean 'fd00::/64'?"},
    };
    for (const auto& r : bad) {
        BOOST_TEST_CONTEXT(r.text) {
            auto c = parse_cidr(r.text);
            BOOST_TEST(!c);
            BOOST_TEST(c.error.find(r.message_part) != std::string::npos, c.error);
        }
    }
}

BOOST_AUTO_TEST_CASE(conninfo_redaction) {
    struct Row { const char* in; const char* out; };
    const Row rows[] = {
        {"host=/var/run/postgresql dbname=app", "host=/var/run/postgresql dbname=app"},
        {"host=db password=s3cret dbname=app", "host=db password=****** dbname=app"},
        {"password = 'a b\\'c' user=x", "password = ****** user=x"},
        {"dbname=app password=", "dbname=app password=******"},
        {"postgresql://app:s3cret@db:5432/app", "postgresql://app:******@db:5432/app"},
        {"postgres://app@db/app?sslmode=require&password=x&a=b", "postgres://app@db/app?sslmode=require&password=******&a=b"},
        {"postgresql://db/app", "postgresql://db/app"},
    };
    for (const auto& r : rows) BOOST_TEST(redact_conninfo(r.in) == r.out);
}
