// Content types from a mime.types file: the system's (Debian's media-types) and a small one made
// here for the parsing rules (comments, several extensions, first line wins, case).
#define BOOST_TEST_MODULE proxy_mime_types
#include <boost/test/unit_test.hpp>

#include <cstdio>
#include <fstream>
#include <string>

#include "proxy/mime_types.hpp"

using namespace portico::proxy;

BOOST_AUTO_TEST_CASE(the_system_table) {
    const MimeTypes& t = MimeTypes::system();
    BOOST_TEST(t.size() > 500u, "is /etc/mime.types (media-types) installed?");
    BOOST_TEST(t.lookup("index.html") == "text/html");
    BOOST_TEST(t.lookup("app.css") == "text/css");
    BOOST_TEST(t.lookup("data.json") == "application/json");
    BOOST_TEST(t.lookup("logo.svg") == "image/svg+xml");
    BOOST_TEST(t.lookup("photo.JPG") == "image/jpeg");
    BOOST_TEST(t.lookup("dir/sub/logo.png") == "image/png");
    BOOST_TEST(t.lookup("font.woff2") == "font/woff2");
    BOOST_TEST(t.lookup("README") == "application/octet-stream");
    BOOST_TEST(t.lookup("archive.unknownext") == "application/octet-stream");
    BOOST_TEST(t.lookup("trailing.") == "application/octet-stream");
    BOOST_TEST(t.lookup("a.b/noext") == "application/octet-stream");  // the dot is in a directory
}

BOOST_AUTO_TEST_CASE(parsing_rules) {
    char path[] = "/tmp/mime-test-XXXXXX";
    int fd = mkstemp(path);
    BOOST_TEST_REQUIRE(fd >= 0);
    {
        std::ofstream out(path);
        out << "# a comment line\n"
               "text/x-one   one uno   # trailing comment\n"
               "\n"
               "text/x-two\ttwo\tONE\n"
               "not-a-type   nope\n"
               "application/x-empty\n";
    }
    MimeTypes t = MimeTypes::load(path);
    std::remove(path);
    BOOST_TEST(t.lookup("a.one") == "text/x-one");
    BOOST_TEST(t.lookup("a.UNO") == "text/x-one");
    BOOST_TEST(t.lookup("a.two") == "text/x-two");
    BOOST_TEST(t.lookup("a.nope") == "application/octet-stream");
    BOOST_TEST(t.size() == 3u);
    std::string error;
    MimeTypes missing = MimeTypes::load("/nonexistent/mime.types", &error);
    BOOST_TEST(missing.size() == 0u);
    BOOST_TEST(!error.empty());
    BOOST_TEST(missing.lookup("x.html") == "application/octet-stream");
}
