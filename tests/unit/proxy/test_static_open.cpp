// Opening static files beneath a root: files, index files, and what is never served — symlinks
// leading out of the root (to a file, to a parent directory, absolute or relative), missing
// files, a file named as a directory, special files — plus the validators from stat.
#define BOOST_TEST_MODULE proxy_static_open
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "proxy/static_open.hpp"

using namespace portico::proxy;
namespace fs = std::filesystem;

namespace {

struct Tree {
    fs::path base;
    fs::path root;
    int root_fd = -1;
    Tree() {
        char pattern[] = "/tmp/static-open-XXXXXX";
        base = mkdtemp(pattern);
        root = base / "root";
        fs::create_directories(root / "sub");
        fs::create_directories(root / "noindex");
        write(root / "a.txt", "hello");
        write(root / "sub" / "index.html", "<p>index</p>");
        write(base / "secret.txt", "outside the root");
        fs::create_directories(base / "outside");
        write(base / "outside" / "x.txt", "outside too");
        fs::create_symlink("a.txt", root / "inside-link.txt");                    // stays inside: fine
        fs::create_symlink("../secret.txt", root / "escape.txt");                 // relative, out
        fs::create_symlink((base / "secret.txt").string(), root / "absolute.txt");  // absolute, out
        fs::create_symlink("../outside", root / "outdir");                        // a directory out
        fs::create_symlink("/etc", root / "etc");
        mkfifo((root / "fifo").c_str(), 0600);
        root_fd = open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    }
    ~Tree() {
        close(root_fd);
        fs::remove_all(base);
    }
    static void write(const fs::path& p, const std::string& text) { std::ofstream(p) << text; }
};

OpenOutcome open_path(const Tree& t, std::string relative, bool directory, StaticFile& f,
                      std::string_view index = "index.html") {
    return open_static(t.root_fd, StaticPath{std::move(relative), directory}, index, f);
}

}  // namespace

BOOST_AUTO_TEST_CASE(files_and_index_files) {
    Tree t;
    StaticFile f;
    BOOST_TEST_REQUIRE((open_path(t, "a.txt", false, f) == OpenOutcome::ok));
    BOOST_TEST(f.size() == 5u);
    BOOST_TEST(f.name() == "a.txt");
    char buf[8] = {};
    BOOST_TEST(pread(f.fd(), buf, sizeof buf, 0) == 5);
    BOOST_TEST(std::string(buf) == "hello");
    // A directory written with the trailing slash serves its index; so does the root.
    StaticFile d;
    BOOST_TEST_REQUIRE((open_path(t, "sub", true, d) == OpenOutcome::ok));
    BOOST_TEST(d.name() == "sub/index.html");
    BOOST_TEST(d.size() == 12u);
    StaticFile none;
    // Without the slash it is a directory to redirect to, index or not, and nothing is left open.
    BOOST_TEST((open_path(t, "sub", false, none) == OpenOutcome::directory));
    BOOST_TEST((open_path(t, "noindex", false, none) == OpenOutcome::directory));
    BOOST_TEST((open_path(t, "sub", false, none, "") == OpenOutcome::directory));
    BOOST_TEST(none.fd() == -1);
    BOOST_TEST((open_path(t, "noindex", true, none) == OpenOutcome::not_found));
    BOOST_TEST((open_path(t, "sub", true, none, "") == OpenOutcome::not_found));  // index off
    BOOST_TEST((open_path(t, "", true, none) == OpenOutcome::not_found));          // the root has none
    Tree::write(t.root / "index.html", "root index");
    BOOST_TEST_REQUIRE((open_path(t, "", true, f) == OpenOutcome::ok));
    BOOST_TEST(f.name() == "index.html");
    // A symlink that stays inside the root is followed.
    BOOST_TEST_REQUIRE((open_path(t, "inside-link.txt", false, f) == OpenOutcome::ok));
    BOOST_TEST(f.size() == 5u);
}

BOOST_AUTO_TEST_CASE(nothing_outside_the_root_and_nothing_special) {
    Tree t;
    StaticFile f;
    for (const char* p : {"escape.txt", "absolute.txt", "outdir/x.txt", "etc/passwd", "etc/hostname", "missing.txt",
                          "sub/missing", "fifo"}) {
        BOOST_TEST_CONTEXT(p) {
            BOOST_TEST((open_path(t, p, false, f) == OpenOutcome::not_found));
            BOOST_TEST(f.fd() == -1);
        }
    }
    // A file named as a directory is not that file.
    BOOST_TEST((open_path(t, "a.txt", true, f) == OpenOutcome::not_found));
    // A directory out of the root is not entered even for its index, nor redirected to.
    BOOST_TEST((open_path(t, "outdir", true, f) == OpenOutcome::not_found));
    BOOST_TEST((open_path(t, "outdir", false, f) == OpenOutcome::not_found));
}

BOOST_AUTO_TEST_CASE(validators_from_stat) {
    struct stat info {};
    info.st_mtim.tv_sec = 784111777;  // 1994-11-06T08:49:37Z
    info.st_size = 1024;
    BOOST_TEST(file_etag(info) == "\"2ebc98a1-400\"");
    BOOST_TEST(file_last_modified(info) == "Sun, 06 Nov 1994 08:49:37 GMT");
    // Moving a StaticFile moves its descriptor; the moved-from one owns nothing.
    Tree t;
    StaticFile a;
    BOOST_TEST_REQUIRE((open_path(t, "a.txt", false, a) == OpenOutcome::ok));
    int fd = a.fd();
    StaticFile b(std::move(a));
    BOOST_TEST(b.fd() == fd);
    BOOST_TEST(a.fd() == -1);
}
