// Fuzz target: client request framing, as proxy/client_connection.cpp drives it — HttpParser (llhttp,
// strict) fed read by read, the head limits and check_request_head on every head, body bytes counted
// against max_body_bytes, the parser paused after each message and resumed on the pipelined rest
// (as when an exchange ends), the connection closed after a rejection or a non-keep-alive request.
// Then build_upstream_request: what goes upstream must parse again as one valid request with the
// same method and framing. The same bytes fed whole and cut at fuzzer-chosen points must give the
// same requests, bodies and verdict.
//
// Input: flags, split (fuzz_support.hpp), then the bytes the client sends.
//   flags & 1: small limits (max_header_bytes 256, max_body_bytes 64) instead of the defaults.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "conf/schema.hpp"
#include "proxy/headers.hpp"
#include "proxy/http_parser.hpp"
#include "proxy/request_checks.hpp"
#include "tests/fuzz/fuzz_support.hpp"

namespace {

using namespace portico::proxy;

struct Limits {
    uint64_t max_header_bytes;
    uint64_t max_body_bytes;
};

// proxy/client_connection.cpp's measure of a head against max_header_bytes.
uint64_t approximate_head_size(const MessageHead& head) { return head.head_bytes() + 4 * head.header_count(); }

// What goes upstream parses back as one valid request with the client's method and framing.
void check_upstream_request(const MessageHead& request) {
    UpstreamRequestContext context;
    context.client_ip = "192.0.2.1";
    context.peer_ip = "192.0.2.1";
    context.request_id = "fuzz";
    context.default_host = "127.0.0.1:8000";
    std::string out;
    build_upstream_request(out, request, context);

    struct Reparse : HttpParser::Sink {
        int heads = 0;
        MessageHead copy;
        int on_head(MessageHead& head) override {
            ++heads;
            copy = head;
            return HttpParser::kPause;  // the head alone: the body is not in `out`
        }
        int on_body(std::string_view) override { return 0; }
        int on_message_end() override { return 0; }
    } sink;
    HttpParser parser(HTTP_REQUEST, &sink);
    size_t consumed = 0;
    HttpParser::Outcome outcome = parser.execute(out, consumed);
    if (outcome == HttpParser::Outcome::error) {
        std::fprintf(stderr, "upstream request does not parse (%s):\n%s\n", parser.error_reason(), out.c_str());
    }
    FUZZ_CHECK(outcome == HttpParser::Outcome::paused);
    FUZZ_CHECK(sink.heads == 1);
    FUZZ_CHECK(consumed == out.size());
    const MessageHead& again = sink.copy;
    FUZZ_CHECK(again.method == request.method);
    FUZZ_CHECK(again.count(FieldId::host) == 1);
    FUZZ_CHECK(again.count(FieldId::content_length) + again.count(FieldId::transfer_encoding) <= 1);
    if (request.framing == BodyFraming::chunked) {
        FUZZ_CHECK(again.framing == BodyFraming::chunked);
    } else if (request.framing == BodyFraming::content_length) {
        FUZZ_CHECK(again.framing == BodyFraming::content_length);
        FUZZ_CHECK(again.content_length == request.content_length);
    } else {
        FUZZ_CHECK(again.framing == BodyFraming::none);
    }
    Rejection r = check_request_head(again, UINT64_MAX);
    if (r) std::fprintf(stderr, "upstream request refused (%.*s):\n%s\n", int(r.reason.size()), r.reason.data(), out.c_str());
    FUZZ_CHECK(!r);
}

// One client connection, reduced to its request side. The transcript records every head (method,
// target, version, framing, fields), every body byte and the verdict, to compare feeds.
class Connection : public HttpParser::Sink {
public:
    explicit Connection(Limits limits) : limits_(limits), parser_(HTTP_REQUEST, this) {}

    void read(std::string_view data) {
        if (closed_) return;
        feed(data);
        // An exchange that ended in the parser's pause: the next pipelined request follows at once
        // (finish_exchange: resume, then feed what was left).
        while (!closed_ && exchange_done_) {
            exchange_done_ = false;
            in_exchange_ = false;
            if (!keep_alive_) {
                closed_ = true;
                break;
            }
            parser_.resume();
            std::string rest = std::move(pending_);
            pending_.clear();
            feed(rest);
        }
    }

    void eof() {
        if (closed_) return;
        // Mid-request: dropped; between requests: closed. Either way nothing more is parsed.
        flush_body();
        transcript_ += parser_.in_message() ? "eof-mid-message\n" : "eof\n";
        closed_ = true;
    }

    const std::string& transcript() const { return transcript_; }
    int rejected() const { return rejected_; }
    size_t body_bytes() const { return body_bytes_; }

private:
    void feed(std::string_view data) {
        if (data.empty()) return;
        size_t consumed = 0;
        HttpParser::Outcome outcome = parser_.execute(data, consumed);
        if (closed_) return;
        FUZZ_CHECK(consumed <= data.size());
        switch (outcome) {
            case HttpParser::Outcome::ok:
                FUZZ_CHECK(consumed == data.size());
                if (!in_exchange_ && approximate_head_size(parser_.head()) > limits_.max_header_bytes) {
                    const MessageHead& head = parser_.head();
                    reject(head.header_count() == 0 && !head.target().empty() ? 414 : 431);
                }
                break;
            case HttpParser::Outcome::paused:
                FUZZ_CHECK(exchange_done_);
                pending_.append(data.substr(consumed));
                break;
            case HttpParser::Outcome::error: {
                Rejection r = reject_parse_error(parser_.error(), parser_.error_reason());
                FUZZ_CHECK(r);
                reject(r.status);
                break;
            }
        }
    }

    void reject(int status) {
        FUZZ_CHECK(status == 400 || status == 413 || status == 414 || status == 431 || status == 501 ||
                   status == 505);
        rejected_ = status;
        // The status may differ with the cut (a head over the limit is caught while it arrives, or
        // whole by on_head): that a request was refused, and where, may not.
        transcript_ += "rejected\n";
        closed_ = true;
    }

    int on_head(MessageHead& head) override {
        FUZZ_CHECK(!in_exchange_);
        in_exchange_ = true;
        if (approximate_head_size(head) > limits_.max_header_bytes) {
            reject(head.target().size() > limits_.max_header_bytes ? 414 : 431);
            return HttpParser::kPause;
        }
        if (Rejection r = check_request_head(head, limits_.max_body_bytes)) {
            reject(r.status);
            return HttpParser::kPause;
        }
        framing_ = head.framing;
        content_length_ = head.content_length;
        keep_alive_ = head.keep_alive;
        message_body_ = 0;
        transcript_ += "head " + std::to_string(head.method) + " " + std::string(head.target()) + " " +
                       std::to_string(head.version_major) + "." + std::to_string(head.version_minor) + " framing " +
                       std::to_string(int(head.framing)) + " " + std::to_string(head.content_length) +
                       (head.keep_alive ? " keep-alive" : " close") + "\n";
        for (size_t i = 0; i < head.header_count(); ++i) {
            transcript_ += std::string(head.header_name(i)) + ": " + std::string(head.header_value(i)) + "\n";
        }
        check_upstream_request(head);
        return 0;
    }

    int on_body(std::string_view data) override {
        FUZZ_CHECK(in_exchange_ && !closed_);
        FUZZ_CHECK(framing_ == BodyFraming::content_length || framing_ == BodyFraming::chunked);
        body_bytes_ += data.size();
        message_body_ += data.size();
        if (message_body_ > limits_.max_body_bytes) {
            reject(413);
            return -1;
        }
        if (framing_ == BodyFraming::content_length) FUZZ_CHECK(message_body_ <= content_length_);
        body_.append(data);
        return 0;
    }

    int on_message_end() override {
        FUZZ_CHECK(in_exchange_);
        if (framing_ == BodyFraming::content_length) FUZZ_CHECK(message_body_ == content_length_);
        if (framing_ == BodyFraming::none) FUZZ_CHECK(message_body_ == 0);
        flush_body();
        transcript_ += "end\n";
        exchange_done_ = true;
        return HttpParser::kPause;  // the next pipelined request waits for this exchange
    }

    // A message's body as one line, however it was cut into on_body calls; a body cut short by a
    // rejection is not recorded (how much of it came before the verdict depends on the reads).
    void flush_body() {
        if (body_.empty()) return;
        transcript_ += "body " + std::to_string(body_.size()) + ": " + body_ + "\n";
        body_.clear();
    }

    Limits limits_;
    HttpParser parser_;
    std::string body_;
    std::string pending_;
    std::string transcript_;
    bool in_exchange_ = false;
    bool exchange_done_ = false;
    bool keep_alive_ = true;
    bool closed_ = false;
    int rejected_ = 0;
    BodyFraming framing_ = BodyFraming::none;
    uint64_t content_length_ = 0;
    uint64_t message_body_ = 0;
    size_t body_bytes_ = 0;
};

// Body bytes follow a transcript line "body " up to "\n": a transcript's body text may hold anything,
// so feeds are compared on whole transcripts, which both build the same way.
std::string run(std::string_view input, Limits limits, const std::vector<size_t>& pieces) {
    Connection c(limits);
    size_t at = 0;
    for (size_t n : pieces) {
        c.read(input.substr(at, n));
        at += n;
    }
    c.eof();
    FUZZ_CHECK(c.body_bytes() <= input.size());
    if (c.rejected() != 0) FUZZ_CHECK(c.rejected() >= 400 && c.rejected() < 600);
    return c.transcript();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    portico::fuzz::Control control = portico::fuzz::take_control(data, size);
    Limits limits{portico::conf::LimitsConfig{}.max_header_bytes, portico::conf::LimitsConfig{}.max_body_bytes};
    if (control.flags & 1) limits = {256, 64};

    std::string whole = run(control.rest, limits, {control.rest.size()});
    std::string split = run(control.rest, limits, portico::fuzz::split_points(control.rest.size(), control.split));
    // PORTICO_FUZZ_DEBUG=1 prints what the input did: for checking that a new seed gets where meant.
    if (std::getenv("PORTICO_FUZZ_DEBUG") != nullptr) std::fprintf(stderr, "%s\n", portico::fuzz::printable(whole).c_str());
    if (whole != split) {
        std::fprintf(stderr, "whole:\n%s\nsplit:\n%s\n", whole.c_str(), split.c_str());
    }
    FUZZ_CHECK(whole == split);
    return 0;
}
