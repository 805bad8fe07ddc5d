// Access log lines: fields in order, client-controlled text escaped so a line cannot be forged.
#define BOOST_TEST_MODULE proxy_access_log
#include <boost/test/unit_test.hpp>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "proxy/access_log.hpp"

using namespace portico::proxy;

namespace {
std::string read_file(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

struct TempLog {
    std::string path;
    TempLog() {
        char name[] = "/tmp/portico-access-XXXXXX";
        int fd = mkstemp(name);
        close(fd);
        path = name;
    }
    ~TempLog() { unlink(path.c_str()); }
};

AccessRecord sample() {
    AccessRecord r;
    r.client_ip = "10.0.0.1";
    r.request_line = "GET /a\"b\n HTTP/1.1";
    r.status = 200;
    r.bytes_sent = 17;
    r.duration_ms = 1.5;
    r.upstream_ms = 1.25;
    r.request_id = "rid";
    r.route = "/api/*";
    return r;
}
}  // namespace

BOOST_AUTO_TEST_CASE(text_lines_escape_the_request_line) {
    TempLog log;
    AccessLogSink sink;
    BOOST_TEST(sink.open(log.path).empty());
    AccessLogBuffer buffer(sink);
    buffer.append(sample(), /*json=*/false);
    BOOST_TEST(read_file(log.path).empty());  // buffered until flush
    buffer.flush();
    std::string line = read_file(log.path);
    BOOST_TEST(std::count(line.begin(), line.end(), '\n') == 1);
    BOOST_TEST(line.find(" 10.0.0.1 \"GET /a\\\"b\\n HTTP/1.1\" 200 17 1.500ms upstream=1.250ms rid=rid route=/api/*\n") !=
               std::string::npos);
}

BOOST_AUTO_TEST_CASE(json_lines_parse) {
    TempLog log;
    AccessLogSink sink;
    BOOST_TEST(sink.open(log.path).empty());
    AccessLogBuffer buffer(sink);
    AccessRecord r = sample();
    r.upstream_ms = -1;  // answered by portico itself
    buffer.append(r, /*json=*/true);
    buffer.flush();
    auto j = nlohmann::json::parse(read_file(log.path));
    BOOST_TEST(j["client"] == "10.0.0.1");
    BOOST_TEST(j["request"] == "GET /a\"b\n HTTP/1.1");
    BOOST_TEST(j["status"] == 200);
    BOOST_TEST(!j.contains("upstream_ms"));
    BOOST_TEST(j["route"] == "/api/*");
}

BOOST_AUTO_TEST_CASE(off_discards_and_bad_path_errors) {
    AccessLogSink sink;
    BOOST_TEST(sink.open("off").empty());
    sink.write("nothing\n");  // must not crash or write anywhere
    BOOST_TEST(!sink.open("/nonexistent-dir/x.log").empty());
}
