// The request-smuggling differential (issue 9): every vector is sent three ways — through a real
// nginx (the shipped snippets) in front of portico, straight to portico in one write, and straight
// to portico split at every line end — with a raw recording upstream behind portico that parses
// what it receives as a lenient backend would (bare LF, obs-fold, whitespace before the colon,
// Transfer-Encoding over Content-Length) and flags everything a proxy must never send.
//
// For each vector and path, either the request is refused (4xx/5xx; straight to portico also the
// connection closed) with the upstream having seen nothing of it, or the requests the upstream
// parsed are exactly one legitimate reading of what the client sent — same count, same methods,
// targets and bodies byte for byte — each answered to the client in order, never a smuggled
// request, and the connection still in step afterwards (a probe on it gets its own answer). A mix
// is allowed: the first k requests forwarded in agreement, then a refusal.
//
// Run with --log_level=message for the table of outcomes and the counts.
#include <boost/test/unit_test.hpp>

#include <fmt/core.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "nginx_front.hpp"
#include "raw_upstream.hpp"

using namespace portico::test;

namespace {

// ---- the recording upstream ------------------------------------------------------------------

struct Recorded {
    int connection = 0;
    int seq = 0;
    std::string method, target, version;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    std::vector<std::string> anomalies;  // what a proxy must never send (strict RFC 9112 reading)
};

bool is_tchar(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}
std::string_view trim_ows(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}
bool iequal(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
}

// Bytes for a message: controls as \r, \n, \xNN, the whole in quotes.
std::string printable(std::string_view bytes) {
    std::string out = "\"";
    for (char c : bytes) {
        unsigned char u = static_cast<unsigned char>(c);
        if (c == '\r') out += "\\r";
        else if (c == '\n') out += "\\n";
        else if (u < 0x20 || u >= 0x7f) out += fmt::format("\\x{:02x}", u);
        else out += c;
    }
    return out + "\"";
}

enum class Parse { need_more, ok, error };

// One line from `at` (LF, with an optional CR before it); false when no LF yet.
bool take_line(std::string_view buf, size_t& at, std::string_view& line, std::vector<std::string>& anomalies) {
    size_t lf = buf.find('\n', at);
    if (lf == std::string_view::npos) return false;
    line = buf.substr(at, lf - at);
    if (!line.empty() && line.back() == '\r') {
        line.remove_suffix(1);
    } else {
        anomalies.push_back("bare LF line end");
    }
    if (line.find('\r') != std::string_view::npos) anomalies.push_back("bare CR inside a line");
    at = lf + 1;
    return true;
}

// Parses one request from `buf` as a lenient backend would; the strict verdicts go to anomalies.
Parse parse_request(std::string_view buf, Recorded& out, size_t& consumed, std::string& error) {
    size_t at = 0;
    std::string_view line;
    auto& an = out.anomalies;
    // Request line.
    if (!take_line(buf, at, line, an)) return Parse::need_more;
    {
        size_t sp1 = line.find(' '), sp2 = line.rfind(' ');
        if (sp1 == std::string_view::npos || sp2 == sp1) {
            error = "request line " + printable(line);
            return Parse::error;
        }
        out.method = std::string(line.substr(0, sp1));
        out.target = std::string(line.substr(sp1 + 1, sp2 - sp1 - 1));
        out.version = std::string(line.substr(sp2 + 1));
        if (out.version != "HTTP/1.1") an.push_back("version " + out.version);
        if (out.target.empty() || (out.target.front() != '/' && out.target != "*"))
            an.push_back("target not in origin form: " + out.target);
        for (char c : out.target)
            if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) an.push_back("control or space in the target");
    }
    // Fields.
    for (;;) {
        if (!take_line(buf, at, line, an)) return Parse::need_more;
        if (line.empty()) break;
        if (line.front() == ' ' || line.front() == '\t') {
            an.push_back("obs-fold");
            if (out.headers.empty()) {
                error = "continuation line before any field";
                return Parse::error;
            }
            out.headers.back().second += " " + std::string(trim_ows(line));
            continue;
        }
        size_t colon = line.find(':');
        if (colon == std::string_view::npos) {
            error = "field line without a colon " + printable(line);
            return Parse::error;
        }
        std::string_view name = line.substr(0, colon);
        if (!name.empty() && (name.back() == ' ' || name.back() == '\t')) an.push_back("whitespace before the colon");
        name = trim_ows(name);
        if (name.empty() || !std::all_of(name.begin(), name.end(), is_tchar)) an.push_back("invalid field name");
        std::string_view value = trim_ows(line.substr(colon + 1));
        for (char c : value) {
            unsigned char u = static_cast<unsigned char>(c);
            if ((u < 0x20 && c != '\t') || u == 0x7f) {
                an.push_back(fmt::format("control 0x{:02x} in field {}", u, std::string(name)));
                break;
            }
        }
        out.headers.emplace_back(std::string(name), std::string(value));
    }
    // Framing (RFC 9112 §6.3, leniently: Transfer-Encoding wins over Content-Length).
    std::vector<std::string> te, cl;
    size_t hosts = 0;
    for (const auto& [n, v] : out.headers) {
        if (iequal(n, "transfer-encoding")) te.push_back(v);
        if (iequal(n, "content-length")) cl.push_back(v);
        if (iequal(n, "host")) ++hosts;
    }
    if (hosts != 1) an.push_back(fmt::format("{} Host fields", hosts));
    if (!te.empty() && !cl.empty()) an.push_back("both Transfer-Encoding and Content-Length");
    if (te.size() > 1) an.push_back("more than one Transfer-Encoding field");
    if (cl.size() > 1) an.push_back("more than one Content-Length field");
    if (!te.empty()) {
        std::string all;
        for (const auto& v : te) all += (all.empty() ? "" : ",") + v;
        std::string_view last = all;
        if (auto comma = last.rfind(','); comma != std::string_view::npos) last = last.substr(comma + 1);
        if (!iequal(trim_ows(last), "chunked")) {
            error = "Transfer-Encoding without final chunked: " + all;
            return Parse::error;
        }
        if (!iequal(trim_ows(all), "chunked")) an.push_back("Transfer-Encoding " + all);
        // Chunks.
        for (;;) {
            if (!take_line(buf, at, line, an)) return Parse::need_more;
            std::string_view size_text = line.substr(0, line.find(';'));
            if (size_text.size() != line.size()) an.push_back("chunk extension forwarded");
            size_text = trim_ows(size_text);
            if (size_text.empty() || size_text.size() > 15 ||
                !std::all_of(size_text.begin(), size_text.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); })) {
                error = "chunk size " + printable(line);
                return Parse::error;
            }
            uint64_t size = std::stoull(std::string(size_text), nullptr, 16);
            if (size == 0) break;
            if (buf.size() < at + size + 2) return Parse::need_more;
            out.body.append(buf.substr(at, size));
            at += size;
            if (buf.substr(at, 2) != "\r\n") {
                error = "no CRLF after chunk data";
                return Parse::error;
            }
            at += 2;
        }
        for (;;) {  // trailer section
            if (!take_line(buf, at, line, an)) return Parse::need_more;
            if (line.empty()) break;
            an.push_back("trailer field forwarded");
        }
    } else if (!cl.empty()) {
        for (const auto& v : cl) {
            if (v != cl.front() || v.empty() || v.size() > 18 ||
                !std::all_of(v.begin(), v.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
                error = "Content-Length " + v;
                return Parse::error;
            }
        }
        uint64_t length = std::stoull(cl.front());
        if (buf.size() < at + length) return Parse::need_more;
        out.body = std::string(buf.substr(at, length));
        at += length;
    }
    consumed = at;
    return Parse::ok;
}

// The upstream behind portico: parses every request it receives and answers it at once with a
// body that names it ("recorder-seq=N METHOD TARGET LENGTH SHA256"), keeping everything it parsed
// in arrival order.
class Recorder {
public:
    Recorder() : upstream_([this](RawConnection& c) { serve(c); }) {}

    std::string address() const { return upstream_.address(); }
    size_t count() {
        std::lock_guard lock(mutex_);
        return requests_.size();
    }
    std::vector<Recorded> since(size_t from) {
        std::lock_guard lock(mutex_);
        return {requests_.begin() + static_cast<std::ptrdiff_t>(std::min(from, requests_.size())), requests_.end()};
    }
    std::vector<std::string> errors_since(size_t from) {
        std::lock_guard lock(mutex_);
        return {errors_.begin() + static_cast<std::ptrdiff_t>(std::min(from, errors_.size())), errors_.end()};
    }
    size_t error_count() {
        std::lock_guard lock(mutex_);
        return errors_.size();
    }

private:
    void serve(RawConnection& c) {
        std::string buf;
        while (c.read_more(buf, 30s)) {
            for (;;) {
                Recorded r;
                size_t consumed = 0;
                std::string error;
                Parse p = parse_request(buf, r, consumed, error);
                if (p == Parse::need_more) break;
                if (p == Parse::error) {
                    {
                        std::lock_guard lock(mutex_);
                        errors_.push_back(fmt::format("connection {}: {} in {}", c.index(), error, printable(std::string_view(buf).substr(0, 400))));
                    }
                    c.write("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                    return;
                }
                buf.erase(0, consumed);
                r.connection = c.index();
                bool close = false;
                for (const auto& [n, v] : r.headers)
                    if (iequal(n, "connection") && v.find("close") != std::string::npos) close = true;
                std::string body;
                {
                    std::lock_guard lock(mutex_);
                    r.seq = static_cast<int>(requests_.size());
                    body = fmt::format("recorder-seq={} {} {} {} {}", r.seq, r.method, r.target, r.body.size(),
                                       sha256_hex(r.body));
                    requests_.push_back(std::move(r));
                }
                c.write(fmt::format("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n"
                                    "X-Recorder-Seq: {}\r\n{}\r\n{}",
                                    body.size(), requests_.size() - 1, close ? "Connection: close\r\n" : "", body));
                if (close) return;
            }
        }
    }

    std::mutex mutex_;
    std::vector<Recorded> requests_;
    std::vector<std::string> errors_;
    RawUpstream upstream_;  // last: its threads stop before the members they use go
};

// ---- the vectors -----------------------------------------------------------------------------

struct Request {
    std::string method, target, body;
    bool operator==(const Request&) const = default;
};
using Reading = std::vector<Request>;  // one legitimate reading of the bytes: the requests in them

struct Vector {
    std::string group;
    std::string name;
    std::string raw;
    std::vector<Reading> readings;  // empty: the only acceptable answer is a refusal
    bool http09 = false;           // a 0.9 answer (a bare body, then the close) is acceptable
    std::string expect_body;       // sent only after a 100 Continue (or 1 s without one)
};

const std::string kHost = "Host: portico.test\r\n";
const std::string kSmuggled = "GET /smuggled HTTP/1.1\r\nHost: portico.test\r\n\r\n";
const std::string kPipelined = "GET /pipelined HTTP/1.1\r\nHost: portico.test\r\n\r\n";

std::string post(std::string_view fields, std::string_view body, std::string_view target = "/smuggle") {
    return fmt::format("POST {} HTTP/1.1\r\n{}{}\r\n{}", target, kHost, fields, body);
}
std::string get(std::string_view fields, std::string_view target = "/smuggle") {
    return fmt::format("GET {} HTTP/1.1\r\n{}{}\r\n", target, kHost, fields);
}
Reading one(std::string method, std::string target, std::string body = {}) { return {{std::move(method), std::move(target), std::move(body)}}; }
Reading posted(std::string body) { return one("POST", "/smuggle", std::move(body)); }
Reading plus(Reading r, const Request& more) {
    r.push_back(more);
    return r;
}
const Request kPipelinedRequest{"GET", "/pipelined", ""};

std::vector<Vector> vectors() {
    std::vector<Vector> v;
    auto add = [&](std::string group, std::string name, std::string raw, std::vector<Reading> readings) {
        v.push_back({std::move(group), std::move(name), std::move(raw), std::move(readings)});
    };
    const std::string z = "0\r\n\r\n";
    const std::string cl_all = std::to_string(z.size() + kSmuggled.size());

    // CL.TE / TE.CL: RFC 9112 §6.1 — Transfer-Encoding wins, and the connection closes after.
    add("CL.TE", "CL.TE", post("Content-Length: 6\r\nTransfer-Encoding: chunked\r\n", z + kSmuggled), {posted("")});
    add("CL.TE", "TE.CL", post("Transfer-Encoding: chunked\r\nContent-Length: 3\r\n", "5\r\nhello\r\n" + z + kSmuggled),
        {posted("hello")});
    add("CL.TE", "CL.TE, CL covering the smuggled request",
        post("Content-Length: " + cl_all + "\r\nTransfer-Encoding: chunked\r\n", z + kSmuggled), {posted("")});

    // TE.TE: an obfuscated Transfer-Encoding beside a Content-Length that covers the smuggled
    // request. Acceptable: a refusal, or the chunked reading when the field is really chunked.
    auto te_te = [&](std::string name, std::string te_lines, bool really_chunked) {
        std::vector<Reading> r;
        if (really_chunked) r.push_back(posted(""));
        add("TE.TE", std::move(name), post("Content-Length: " + cl_all + "\r\n" + te_lines, z + kSmuggled), r);
    };
    te_te("xchunked", "Transfer-Encoding: xchunked\r\n", false);
    te_te("' chunked' (leading space)", "Transfer-Encoding:  chunked\r\n", true);
    te_te("'chunked, identity'", "Transfer-Encoding: chunked, identity\r\n", false);
    te_te("'identity, chunked'", "Transfer-Encoding: identity, chunked\r\n", true);
    te_te("tab before the value", "Transfer-Encoding:\tchunked\r\n", true);
    te_te("CHUNKED (case)", "Transfer-Encoding: CHUNKED\r\n", true);
    te_te("'chunked ' (trailing space)", "Transfer-Encoding: chunked \r\n", true);
    te_te("two Transfer-Encoding fields", "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", false);
    te_te("Transfer-Encoding: chunked + x", "Transfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n", false);
    te_te("'chunked;q=1' (parameter)", "Transfer-Encoding: chunked;q=1\r\n", false);
    te_te("quoted \"chunked\"", "Transfer-Encoding: \"chunked\"\r\n", false);
    te_te("vertical tab", "Transfer-Encoding:\x0b" "chunked\r\n", false);
    te_te("space before the colon", "Transfer-Encoding : chunked\r\n", false);
    te_te("obs-fold into the value", "Transfer-Encoding: x\r\n chunked\r\n", false);
    te_te("obs-fold carrying chunked", "Transfer-Encoding:\r\n chunked\r\n", false);
    // The same folds without a Content-Length: what llhttp frames by and what portico checks must
    // be the same field value, whichever read the fold line arrives in.
    add("TE.TE", "obs-fold carrying chunked, no Content-Length",
        post("Transfer-Encoding:\r\n chunked\r\n", "5\r\nhello\r\n0\r\n\r\n" + kPipelined), {plus(posted("hello"), kPipelinedRequest)});
    add("Content-Length", "obs-fold carrying the value, no Transfer-Encoding",
        post("Content-Length:\r\n 5\r\n", "hello" + kPipelined), {plus(posted("hello"), kPipelinedRequest)});
    te_te("bare LF before the field", "X-A: b\nTransfer-Encoding: chunked\r\n", true);
    te_te("bare CR in the value", "Transfer-Encoding: chunked\rX: y\r\n", false);
    te_te("NUL in the value", std::string("Transfer-Encoding: chunked\0\r\n", 29), false);
    // Field names a CGI-style backend maps onto the real ones: forwarded as ordinary fields, the
    // recorder (an HTTP parser) reads the Content-Length framing.
    add("TE.TE", "Transfer_Encoding (underscore)",
        post("Content-Length: " + cl_all + "\r\nTransfer_Encoding: chunked\r\n", z + kSmuggled),
        {{{"POST", "/smuggle", z + kSmuggled}}});

    // Content-Length shapes.
    auto cl_case = [&](std::string name, std::string value, std::vector<Reading> readings) {
        add("Content-Length", std::move(name), post("Content-Length: " + value + "\r\n", "hello" + kPipelined), readings);
    };
    cl_case("5 (control)", "5", {plus(posted("hello"), kPipelinedRequest)});
    cl_case("+5", "+5", {});
    cl_case("-5", "-5", {});
    cl_case("0005 (leading zeros)", "0005", {plus(posted("hello"), kPipelinedRequest)});
    cl_case("5.0", "5.0", {});
    cl_case("0x5", "0x5", {});
    cl_case("5, 5 (list of equal values)", "5, 5", {plus(posted("hello"), kPipelinedRequest)});
    cl_case("5, 6", "5, 6", {});
    cl_case("huge (2^64 + 5)", "18446744073709551621", {});
    cl_case("20 digits of 9", "99999999999999999999", {});
    cl_case("empty", "", {});
    cl_case("5 then a space and 6", "5 6", {});
    add("Content-Length", "two equal fields", post("Content-Length: 5\r\nContent-Length: 5\r\n", "hello" + kPipelined),
        {plus(posted("hello"), kPipelinedRequest)});
    add("Content-Length", "two different fields", post("Content-Length: 5\r\nContent-Length: 6\r\n", "hello!" + kSmuggled), {});
    add("Content-Length", "space before the colon", post("Content-Length : 5\r\n", "hello" + kSmuggled), {});
    add("Content-Length", "obs-fold continuing the value", post("Content-Length: 5\r\n 0\r\n", "hello" + kSmuggled), {});
    add("Content-Length", "Content_Length (underscore) on a GET",
        get("Content_Length: " + std::to_string(kPipelined.size()) + "\r\n") + kPipelined,
        {{{"GET", "/smuggle", ""}, kPipelinedRequest}});

    // Chunked bodies.
    auto chunked = [&](std::string name, std::string body, std::vector<Reading> readings) {
        add("chunked", std::move(name), post("Transfer-Encoding: chunked\r\n", body + kPipelined), readings);
    };
    const std::vector<Reading> hello{plus(posted("hello"), kPipelinedRequest)};
    chunked("plain (control)", "5\r\nhello\r\n0\r\n\r\n", hello);
    chunked("extension", "5;name=value\r\nhello\r\n0\r\n\r\n", hello);
    chunked("extension with a quoted value", "5;name=\"a;b c\"\r\nhello\r\n0\r\n\r\n", hello);
    chunked("extension without a value", "5;flag\r\nhello\r\n0\r\n\r\n", hello);
    chunked("whitespace before the extension", "5 ;name=v\r\nhello\r\n0\r\n\r\n", hello);
    chunked("bare CR inside an extension", "5;a=b\rc\r\nhello\r\n0\r\n\r\n", hello);
    chunked("bare LF inside an extension", "5;a=b\nhello\r\n0\r\n\r\n", hello);
    chunked("bare LF after the size", "5\nhello\r\n0\r\n\r\n", hello);
    chunked("leading zeros in the size", "0005\r\nhello\r\n0\r\n\r\n", hello);
    chunked("32 leading zeros", std::string(32, '0') + "5\r\nhello\r\n0\r\n\r\n", hello);
    chunked("hex overflow to 5 (2^64 + 5)", "10000000000000005\r\nhello\r\n0\r\n\r\n", {});
    chunked("size overflow", "fffffffffffffffffff\r\nhello\r\n0\r\n\r\n", {});
    chunked("0x prefix", "0x5\r\nhello\r\n0\r\n\r\n", {});
    chunked("negative size", "-5\r\nhello\r\n0\r\n\r\n", {});
    chunked("space inside the size", "5 5\r\nhello\r\n0\r\n\r\n", {});
    chunked("data longer than the size", "3\r\nhello\r\n0\r\n\r\n", {});
    chunked("no CRLF after the data", "5\r\nhello0\r\n\r\n", {});
    chunked("upper-case size", "A\r\n0123456789\r\n0\r\n\r\n", {plus(posted("0123456789"), kPipelinedRequest)});
    chunked("trailer field", "5\r\nhello\r\n0\r\nX-Trailer: v\r\n\r\n", hello);
    chunked("Content-Length in the trailer", "5\r\nhello\r\n0\r\nContent-Length: 50\r\n\r\n", hello);
    chunked("last chunk with an extension", "5\r\nhello\r\n0;ext=1\r\n\r\n", hello);
    chunked("two chunks", "3\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n", hello);

    // Field syntax.
    auto field = [&](std::string name, std::string lines) {
        add("fields", std::move(name), get(lines) + kPipelined,
            {{{"GET", "/smuggle", ""}, kPipelinedRequest}});
    };
    field("whitespace before the colon", "X-Name : x\r\n");
    field("obs-fold", "X-Folded: first\r\n second\r\n");
    field("obs-fold with a tab", "X-Folded: first\r\n\tsecond\r\n");
    field("NUL in a value", std::string("X-Bad: a\0b\r\n", 12));
    field("bare CR in a value", "X-Bad: a\rb\r\n");
    field("bare LF ending a field line", "X-Bad: a\nX-Other: b\r\n");
    field("DEL in a value", "X-Bad: a\x7f" "b\r\n");
    field("space inside a field name", "Bad Header: x\r\n");
    field("empty field name", ": x\r\n");
    field("line without a colon", "NoColonHere\r\n");
    field("8-bit bytes in a value", "X-Latin: caf\xe9\r\n");

    // Request lines and targets.
    auto line = [&](std::string name, std::string raw, std::vector<Reading> readings) {
        add("request line", std::move(name), std::move(raw), readings);
    };
    line("HTTP/0.9 (no version)", "GET /smuggle\r\n\r\n", {});
    v.back().http09 = true;
    v.back().readings = {one("GET", "/smuggle")};
    line("HTTP/1.0 with keep-alive, pipelined",
         "GET /smuggle HTTP/1.0\r\nHost: portico.test\r\nConnection: keep-alive\r\n\r\n" + kPipelined,
         {{{"GET", "/smuggle", ""}, kPipelinedRequest}, one("GET", "/smuggle")});
    line("HTTP/1.0 without Host", "GET /smuggle HTTP/1.0\r\n\r\n", {one("GET", "/smuggle")});
    line("HTTP/2.0 on an HTTP/1 connection", "GET /smuggle HTTP/2.0\r\n" + kHost + "\r\n", {});
    line("HTTP/1.10", "GET /smuggle HTTP/1.10\r\n" + kHost + "\r\n", {});
    line("lower-case version", "GET /smuggle http/1.1\r\n" + kHost + "\r\n", {});
    line("absolute-form", "GET http://portico.test/absolute HTTP/1.1\r\n" + kHost + "\r\n" + kPipelined,
         {{{"GET", "/absolute", ""}, kPipelinedRequest}});
    line("absolute-form naming another host", "GET http://other.test/absolute HTTP/1.1\r\n" + kHost + "\r\n" + kPipelined,
         {{{"GET", "/absolute", ""}, kPipelinedRequest}});
    line("absolute-form with userinfo", "GET http://user@portico.test/absolute HTTP/1.1\r\n" + kHost + "\r\n", {one("GET", "/absolute")});
    line("absolute-form with only a query", "GET http://portico.test?q=1 HTTP/1.1\r\n" + kHost + "\r\n",
         {one("GET", "/?q=1")});
    line("absolute-form, other scheme", "GET ftp://portico.test/absolute HTTP/1.1\r\n" + kHost + "\r\n", {});
    line("asterisk-form OPTIONS", "OPTIONS * HTTP/1.1\r\n" + kHost + "\r\n" + kPipelined,
         {{{"OPTIONS", "*", ""}, kPipelinedRequest}});
    line("asterisk-form GET", "GET * HTTP/1.1\r\n" + kHost + "\r\n", {});
    line("authority-form GET", "GET portico.test:80 HTTP/1.1\r\n" + kHost + "\r\n", {});
    line("space inside the target", "GET /smu ggle HTTP/1.1\r\n" + kHost + "\r\n", {});
    line("tab inside the target", "GET /smu\tggle HTTP/1.1\r\n" + kHost + "\r\n", {});
    // RFC 9112 §3: a recipient may split the request line on whitespace runs.
    line("two spaces after the method", "GET  /smuggle HTTP/1.1\r\n" + kHost + "\r\n", {one("GET", "/smuggle")});
    line("bare LF line ends throughout", "GET /smuggle HTTP/1.1\nHost: portico.test\n\n" + kPipelined,
         {{{"GET", "/smuggle", ""}, kPipelinedRequest}});
    line("CRLF before the request line", "\r\n" + get("") + kPipelined, {{{"GET", "/smuggle", ""}, kPipelinedRequest}});
    line("lower-case method", "get /smuggle HTTP/1.1\r\n" + kHost + "\r\n", {});

    // Expect and pipelining after bodies.
    add("Expect", "100-continue, body after the 100", post("Content-Length: 5\r\nExpect: 100-continue\r\n", ""), {posted("hello")});
    v.back().expect_body = "hello";
    add("Expect", "100-continue, body sent at once", post("Content-Length: 5\r\nExpect: 100-continue\r\n", "hello" + kPipelined),
        hello);
    add("Expect", "unknown expectation", post("Content-Length: 5\r\nExpect: something\r\n", "hello"), {posted("hello")});
    add("Expect", "100-continue on a GET without a body", get("Expect: 100-continue\r\n") + kPipelined,
        {{{"GET", "/smuggle", ""}, kPipelinedRequest}});
    add("pipelining", "POST (Content-Length), GET, POST (chunked) in one write",
        post("Content-Length: 5\r\n", "hello", "/first") + kPipelined + post("Transfer-Encoding: chunked\r\n", "3\r\nabc\r\n0\r\n\r\n", "/third"),
        {{{"POST", "/first", "hello"}, kPipelinedRequest, {"POST", "/third", "abc"}}});
    add("pipelining", "Content-Length: 0 POST, then a GET", post("Content-Length: 0\r\n", "") + kPipelined,
        {plus(posted(""), kPipelinedRequest)});
    add("pipelining", "GET with a body, then a GET", get("Content-Length: 5\r\n") + "hello" + kPipelined,
        {{{"GET", "/smuggle", "hello"}, kPipelinedRequest}});
    add("pipelining", "good request, then CL.TE", get("", "/first") + post("Content-Length: 6\r\nTransfer-Encoding: chunked\r\n", z + kSmuggled),
        {{{"GET", "/first", ""}, {"POST", "/smuggle", ""}}});
    add("pipelining", "chunked with a trailer, then a GET", post("Transfer-Encoding: chunked\r\n", "5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n") + kPipelined,
        hello);
    return v;
}

// ---- running a vector ------------------------------------------------------------------------

enum class Path { nginx, direct, direct_split };
const char* path_name(Path p) {
    switch (p) {
        case Path::nginx: return "nginx>portico";
        case Path::direct: return "portico";
        case Path::direct_split: return "portico (split)";
    }
    return "?";
}

std::optional<int> echo_seq(const HttpResponse& r) {
    auto s = r.header("x-recorder-seq");
    if (!s) return std::nullopt;
    return std::atoi(s->c_str());
}
bool made_by_nginx(const HttpResponse& r) { return r.body.find("<center>nginx") != std::string::npos; }

struct Outcome {
    std::string label;  // "forwarded-agreeing", "rejected-by-portico 400", …
    std::string kind;   // the label without the status, for the counts
};

struct Env {
    Recorder& recorder;
    const Endpoint portico;
    const Endpoint nginx;
    int probes = 0;
};

// Sends `bytes` in one write, or split after every LF with a short pause (each piece then lands
// in its own read on portico's side, so state carried across reads is exercised).
bool send_vector(RawClient& c, std::string_view bytes, bool split) {
    if (!split) return c.send(bytes);
    while (!bytes.empty()) {
        size_t lf = bytes.find('\n');
        size_t n = lf == std::string_view::npos ? bytes.size() : lf + 1;
        if (!c.send(bytes.substr(0, n))) return false;
        bytes.remove_prefix(n);
        std::this_thread::sleep_for(3ms);
    }
    return true;
}

Outcome run_vector(Env& env, const Vector& v, Path path) {
    Outcome out;
    const Endpoint& at = path == Path::nginx ? env.nginx : env.portico;
    const size_t before = env.recorder.count();
    const size_t errors_before = env.recorder.error_count();
    RawClient c(at);
    BOOST_TEST_REQUIRE(c.connected());
    bool sent = send_vector(c, v.raw, path == Path::direct_split);

    size_t most = 1;
    for (const auto& r : v.readings) most = std::max(most, r.size());
    // The answers in order. Straight to portico a refusal ends the connection; through nginx a
    // refusal by portico is one answer among others and nginx goes on with the next request.
    std::vector<HttpResponse> answers;
    std::string http09_text;
    bool closed = false;
    if (v.http09) {
        http09_text = c.read_until_close(3s, &closed);  // a bare body, or a regular (refusing) answer
    } else {
        if (!v.expect_body.empty()) {
            auto first = c.read_response(1500ms);
            if (first.status == 100 || first.error == "timeout") {
                if (sent) sent = c.send(v.expect_body);
            } else if (first.status != 0) {
                answers.push_back(first);
            }
        }
        while (answers.size() < most) {
            if (!answers.empty() && !echo_seq(answers.back()) && (path != Path::nginx || made_by_nginx(answers.back()))) break;
            auto r = c.read_response(3s);
            if (r.status == 100) continue;
            if (r.status == 0) {
                closed = r.error == "closed";
                break;
            }
            answers.push_back(r);
        }
    }
    // Still open? A probe on the same connection must get its own answer next: any answer before
    // it is one more than the client asked for.
    std::vector<HttpResponse> extras;
    bool probed = false;
    if (!v.http09 && !closed && !c.peer_closed_now() &&
        (answers.empty() || echo_seq(answers.back()) || (path == Path::nginx && !made_by_nginx(answers.back())))) {
        std::string target = fmt::format("/probe-{}", ++env.probes);
        if (c.send(fmt::format("GET {} HTTP/1.1\r\n{}\r\n", target, kHost))) {
            for (int i = 0; i < 4; ++i) {
                auto r = c.read_response(3s);
                if (r.status == 0 || r.status == 100) break;
                if (echo_seq(r) && r.body.find(" GET " + target + " ") != std::string::npos) {
                    probed = true;
                    break;
                }
                // An answer to a request of the vector that no reading has (nginx's lenient one):
                // counted with the others; anything else is one answer too many.
                if (!echo_seq(r)) {
                    extras.push_back(r);
                    break;
                }
                answers.push_back(r);
            }
        }
    }
    // A fresh-connection probe, so that anything the vector left queued upstream is in by now.
    {
        std::string target = fmt::format("/probe-{}", ++env.probes);
        auto r = http_get(at, target);
        BOOST_TEST(r.status == 200, "fresh probe after '" << v.name << "' via " << path_name(path) << ": " << r.describe());
    }
    std::vector<Recorded> seen;
    for (auto& r : env.recorder.since(before))
        if (r.target.rfind("/probe-", 0) != 0) seen.push_back(std::move(r));
    auto upstream_errors = env.recorder.errors_since(errors_before);

    // For messages: what each side did.
    std::string got_text, answers_text;
    Reading got;
    for (const auto& r : seen) {
        got.push_back({r.method, r.target, r.body});
        got_text += fmt::format(" [{} {} body {}]", r.method, printable(r.target), printable(r.body));
    }
    for (const auto& a : answers)
        answers_text += echo_seq(a) ? fmt::format(" [echo {}]", *echo_seq(a)) : fmt::format(" [{}{}]", a.status, made_by_nginx(a) ? " nginx" : "");
    for (const auto& a : extras) answers_text += fmt::format(" [extra {} {}]", a.status, a.body);
    if (v.http09) answers_text = " 0.9: " + printable(std::string_view(http09_text).substr(0, 120));

    BOOST_TEST_CONTEXT("vector [" << v.group << "] '" << v.name << "' via " << path_name(path) << "; upstream parsed:"
                                  << got_text << "; client got:" << answers_text) {
        // The message is built whether or not the check fails: never from an empty vector.
        BOOST_TEST(upstream_errors.empty(), "the upstream could not parse what portico sent: "
                                                << (upstream_errors.empty() ? std::string() : upstream_errors.front()));
        for (const auto& r : seen)
            BOOST_TEST(r.anomalies.empty(), "portico sent " << r.method << " " << printable(r.target) << " with: "
                                                            << (r.anomalies.empty() ? std::string() : r.anomalies.front()));
        BOOST_TEST(extras.empty(), "answers beyond the requests the client sent");
        for (const auto& r : got) BOOST_TEST(r.target != "/smuggled", "a smuggled request reached the upstream");
        // The echoes the client got are the upstream's requests, one for one, in order.
        std::vector<int> echoes;
        for (const auto& a : answers)
            if (echo_seq(a)) echoes.push_back(*echo_seq(a));
        if (v.http09 && http09_text.find("recorder-seq=") != std::string::npos)
            echoes.push_back(std::atoi(http09_text.c_str() + http09_text.find("recorder-seq=") + 13));
        BOOST_TEST(echoes.size() == seen.size(), "the client got " << echoes.size() << " upstream answers for "
                                                                   << seen.size() << " requests the upstream parsed");
        for (size_t i = 0; i < std::min(echoes.size(), seen.size()); ++i)
            BOOST_TEST(echoes[i] == seen[i].seq, "answer " << i << " belongs to another request");
        const bool agree = upstream_errors.empty() && extras.empty() && echoes.size() == seen.size() &&
                           std::none_of(seen.begin(), seen.end(), [](const Recorded& r) { return !r.anomalies.empty() || r.target == "/smuggled"; });

        // Which legitimate reading the exchange follows: each echo forwards the reading's next
        // request, each refusal skips one; the upstream parsed exactly the forwarded ones.
        const HttpResponse* refusal = nullptr;
        for (const auto& a : answers)
            if (!echo_seq(a) && !refusal) refusal = &a;
        int refusal_status = refusal ? refusal->status : 0;
        if (v.http09 && http09_text.rfind("HTTP/1.", 0) == 0) refusal_status = std::atoi(http09_text.substr(9, 3).c_str());
        bool nginx_refused = refusal ? made_by_nginx(*refusal) : http09_text.find("nginx") != std::string::npos;
        // A 0.9 answer is a bare body: portico's own refusals read "400 Bad Request: why".
        if (v.http09 && refusal_status == 0 && http09_text.size() > 4 && std::isdigit(static_cast<unsigned char>(http09_text[0])) &&
            http09_text[3] == ' ')
            refusal_status = std::atoi(http09_text.c_str());
        std::string who = path == Path::nginx && nginx_refused ? "nginx" : "portico";
        const Reading* match = nullptr;
        bool whole = false;
        for (const auto& reading : v.readings) {
            size_t k = 0, pos = 0;
            bool ok = true;
            size_t n_answers = v.http09 ? (echoes.empty() ? 0 : 1) : answers.size();
            for (size_t i = 0; i < n_answers && ok; ++i, ++pos) {
                if (pos >= reading.size()) {
                    ok = false;
                } else if (v.http09 || echo_seq(answers[i])) {
                    ok = k < got.size() && got[k] == reading[pos];
                    ++k;
                }
            }
            if (ok && k == got.size()) {
                match = &reading;
                whole = refusal == nullptr && refusal_status == 0 && pos == reading.size();
            }
        }
        if (match == nullptr && got.empty() && (refusal_status != 0 || closed)) {
            // Nothing forwarded: a refusal (or a close) is always acceptable.
        } else if (match == nullptr) {
            // Outside every reading the RFC allows. Through nginx that is nginx's own lenient
            // reading, acceptable while portico and the upstream agree on it; from portico never.
            if (path == Path::nginx) {
                BOOST_TEST(agree, "nginx's own reading was not carried through in agreement");
            } else {
                BOOST_TEST(false, "portico forwarded a reading of the bytes that the RFC does not allow");
            }
        }
        if (path != Path::nginx && refusal) {
            BOOST_TEST(refusal->status >= 400, "refused with " << refusal->describe());
            BOOST_TEST(refusal->has_token("connection", "close"), refusal->raw_head);
            BOOST_TEST(c.wait_closed(3s), "portico kept the connection open after refusing");
        }
        if (match == nullptr && !got.empty()) {
            out.kind = "forwarded-agreeing (nginx's lenient reading)";
            out.label = fmt::format("forwarded-agreeing, nginx's lenient reading ({} request{})", got.size(), got.size() == 1 ? "" : "s");
            if (refusal_status) out.label += fmt::format(", then rejected-by-{} {}", who, refusal_status);
        } else if (whole) {
            out.kind = "forwarded-agreeing";
            out.label = fmt::format("forwarded-agreeing ({} request{}{})", got.size(), got.size() == 1 ? "" : "s",
                                    probed ? ", probe in step" : "");
            if (v.http09) out.label = "forwarded-agreeing (answered as HTTP/0.9)";
        } else if (refusal_status != 0) {
            out.kind = got.empty() ? "rejected-by-" + who : "forwarded-then-rejected-by-" + who;
            out.label = got.empty() ? fmt::format("rejected-by-{} {}", who, refusal_status)
                                    : fmt::format("{} forwarded, then rejected-by-{} {}", got.size(), who, refusal_status);
            if (v.http09 && http09_text.rfind("HTTP/1.", 0) != 0) out.label += " (as an HTTP/0.9 body)";
        } else {
            out.kind = "closed-without-answer";
            out.label = fmt::format("connection closed without an answer ({} forwarded){}", got.size(), answers_text);
        }
        // The Transfer_Encoding / Content_Length vectors: say whether the field went on.
        for (const auto& r : seen)
            for (const auto& [n, value] : r.headers)
                if (n.find('_') != std::string::npos) out.label += fmt::format(" [{} passed on]", n);
    }
    return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(smuggling_differential)

BOOST_AUTO_TEST_CASE(every_vector_is_refused_or_framed_alike_by_portico_and_the_upstream) {
    Recorder recorder;
    TempDir dir;
    PorticoSettings p;
    p.upstream = recorder.address();
    p.header_timeout = "3s";
    Portico portico(dir, p);
    TempDir nginx_dir;
    NginxFront nginx(nginx_dir, portico.port());
    Env env{recorder, portico.endpoint(), nginx.endpoint()};

    const auto started = Clock::now();
    std::map<std::string, int> counts;
    std::map<std::string, std::map<std::string, int>> by_path;
    int tried = 0;
    std::string table = fmt::format("\n{:<15} {:<55} {:<16} {}\n", "group", "vector", "path", "outcome");
    for (const auto& v : vectors()) {
        std::map<Path, Outcome> outcomes;
        for (Path path : {Path::nginx, Path::direct, Path::direct_split}) {
            Outcome o = run_vector(env, v, path);
            outcomes[path] = o;
            ++tried;
            ++counts[o.kind];
            ++by_path[path_name(path)][o.kind];
            table += fmt::format("{:<15} {:<55} {:<16} {}\n", v.group, v.name, path_name(path), o.label);
        }
        BOOST_TEST_REQUIRE(portico.process().running(), "portico died on '" << v.name << "'");
        // How the bytes fall into reads must not change portico's verdict.
        BOOST_TEST(outcomes[Path::direct].label == outcomes[Path::direct_split].label,
                   "'" << v.name << "': " << outcomes[Path::direct].label << " in one write, "
                       << outcomes[Path::direct_split].label << " split at line ends");
    }
    BOOST_TEST_MESSAGE(table);
    std::string summary = fmt::format("{} vectors x 3 paths = {} sends in {} ms:", vectors().size(), tried,
                                      std::chrono::duration_cast<Millis>(Clock::now() - started).count());
    for (const auto& [kind, n] : counts) summary += fmt::format(" {} {};", kind, n);
    for (const auto& [path, kinds] : by_path) {
        summary += fmt::format("\n  {}:", path);
        for (const auto& [kind, n] : kinds) summary += fmt::format(" {} {};", kind, n);
    }
    BOOST_TEST_MESSAGE(summary);
    BOOST_TEST(counts.count("closed-without-answer") == 0u);
    BOOST_TEST(portico.stop() == 0);
}

BOOST_AUTO_TEST_SUITE_END()
