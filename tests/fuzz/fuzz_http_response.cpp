// Fuzz target: upstream response framing, as proxy/upstream_connection.cpp drives it — HttpParser in
// response mode fed read by read, 1xx answers skipped (101 refused), the head of a HEAD exchange
// told to carry no body, the parser paused at the message's end (bytes after it make the connection
// unusable), a read-until-close body completed by the upstream's EOF. Then what the client gets, as
// proxy/client_connection.cpp's upstream_head builds it (framing chosen from the status, the
// request method and the client's version; build_client_response / build_interim_response): it
// must parse again with the same status and the framing chosen. Whole and split feeds must agree.
//
// Input: flags, split (fuzz_support.hpp), then the bytes the upstream sends.
//   flags & 1: the request was HEAD.   flags & 2: the client speaks HTTP/1.0.
//   flags & 4: the upstream keeps the connection open after its bytes (no EOF).
#include <cstdint>
#include <cstdlib>
#include <string>

#include "proxy/headers.hpp"
#include "proxy/http_parser.hpp"
#include "tests/fuzz/fuzz_support.hpp"

namespace {

using namespace portico::proxy;

struct Exchange {
    bool head_request = false;
    bool client_1_0 = false;
};

// A head Portico wrote, parsed back as the client would (to a HEAD, no body whatever it says).
MessageHead reparse(const std::string& out, bool head_request) {
    struct Reparse : HttpParser::Sink {
        bool head_request = false;
        int heads = 0;
        MessageHead copy;
        int on_head(MessageHead& head) override {
            ++heads;
            copy = head;
            return HttpParser::kPause;
        }
        int on_body(std::string_view) override { return 0; }
        int on_message_end() override { return 0; }
    } sink;
    sink.head_request = head_request;
    HttpParser parser(HTTP_RESPONSE, &sink);
    size_t consumed = 0;
    HttpParser::Outcome outcome = parser.execute(out, consumed);
    if (outcome != HttpParser::Outcome::paused) {
        std::fprintf(stderr, "Portico's head does not parse (%s):\n%s\n", parser.error_reason(), out.c_str());
    }
    FUZZ_CHECK(outcome == HttpParser::Outcome::paused);
    FUZZ_CHECK(sink.heads == 1);
    FUZZ_CHECK(consumed == out.size());
    for (size_t i = 0; i < sink.copy.header_count(); ++i) {
        FieldId id = sink.copy.header_id(i);
        // Hop-by-hop fields are Portico's own from here on: only the framing and Connection it set.
        if (id == FieldId::connection) {
            std::string_view v = sink.copy.header_value(i);
            FUZZ_CHECK(v == "close" || v == "keep-alive");
        }
        FUZZ_CHECK(id != FieldId::keep_alive && id != FieldId::proxy_connection && id != FieldId::te &&
                   id != FieldId::trailer && id != FieldId::upgrade && !for_portico_only(id));
    }
    FUZZ_CHECK(sink.copy.count(FieldId::content_length) + sink.copy.count(FieldId::transfer_encoding) <= 1);
    return sink.copy;
}

// proxy/client_connection.cpp's upstream_head without compression and cache: the client's framing.
void check_client_head(const MessageHead& head, const Exchange& x) {
    ClientResponseContext context;
    context.request_id = "fuzz";
    ClientFraming framing;
    bool no_body = x.head_request || head.status == 204 || head.status == 304 || head.status < 200;
    bool close = false;
    if (no_body) {
        framing = ClientFraming::none;
        if (x.head_request && head.framing == BodyFraming::content_length) {
            context.framing = ClientFraming::content_length;
            context.content_length = head.content_length;
        } else if (x.head_request) {
            context.framing = ClientFraming::until_close;
        }
    } else if (head.framing == BodyFraming::content_length) {
        framing = context.framing = ClientFraming::content_length;
        context.content_length = head.content_length;
    } else if (head.framing == BodyFraming::none) {
        framing = context.framing = ClientFraming::none;
        context.content_length = 0;
    } else if (!x.client_1_0) {
        framing = context.framing = ClientFraming::chunked;
    } else {
        framing = context.framing = ClientFraming::until_close;
        close = true;
    }
    context.close = close;
    context.keep_alive_1_0 = x.client_1_0 && !close;
    std::string out;
    build_client_response(out, head, context);
    MessageHead again = reparse(out, x.head_request);
    FUZZ_CHECK(again.status == head.status);
    FUZZ_CHECK(again.version_major == 1 && again.version_minor == 1);
    switch (framing) {
        case ClientFraming::none:
            if (!x.head_request) {
                FUZZ_CHECK(again.framing == BodyFraming::none);
            } else if (head.framing == BodyFraming::content_length) {
                FUZZ_CHECK(again.content_length == head.content_length);
            }
            break;
        case ClientFraming::content_length:
            FUZZ_CHECK(again.framing == (head.content_length > 0 ? BodyFraming::content_length : BodyFraming::none));
            FUZZ_CHECK(again.content_length == head.content_length);
            break;
        case ClientFraming::chunked:
            FUZZ_CHECK(again.framing == BodyFraming::chunked);
            break;
        case ClientFraming::until_close:
            FUZZ_CHECK(again.framing == BodyFraming::until_close);
            FUZZ_CHECK(!again.keep_alive);
            break;
    }
}

class Upstream : public HttpParser::Sink {
public:
    explicit Upstream(Exchange x) : x_(x), parser_(HTTP_RESPONSE, this) {}

    void read(std::string_view data) {
        if (done_) {
            // Complete or failed: what follows is never parsed; after a complete response it makes
            // the connection unfit for reuse.
            if (complete_ && !data.empty()) trailing_ = true;
            return;
        }
        size_t consumed = 0;
        HttpParser::Outcome outcome = parser_.execute(data, consumed);
        FUZZ_CHECK(consumed <= data.size());
        if (outcome == HttpParser::Outcome::error) {
            transcript_ += response_started_ ? "failed mid-body\n" : "bad response\n";
            done_ = true;
            return;
        }
        if (outcome == HttpParser::Outcome::paused) {
            FUZZ_CHECK(complete_);
            // Bytes past the response: the connection is not reused; they are never read.
            if (consumed < data.size()) trailing_ = true;
            done_ = true;
            return;
        }
        FUZZ_CHECK(consumed == data.size());
    }

    void eof() {
        if (done_) return;
        done_ = true;
        if (response_started_ && parser_.reads_until_close()) {
            parser_.finish();
            FUZZ_CHECK(complete_);
            return;
        }
        transcript_ += response_started_ ? "closed mid-body\n" : "closed before head\n";
    }

    // The body as one line however it was cut into on_body calls, then how the exchange ended.
    std::string transcript() const {
        return transcript_ + (body_.empty() ? "" : "body " + std::to_string(body_.size()) + ": " + body_ + "\n") +
               (trailing_ ? "trailing bytes: not reusable\n" : "");
    }
    size_t body_bytes() const { return body_bytes_; }

private:
    int on_head(MessageHead& head) override {
        FUZZ_CHECK(!response_started_);
        FUZZ_CHECK(head.status >= 100 && head.status <= 599);
        transcript_ += "head " + std::to_string(head.status) + " " + std::string(head.reason()) + " " +
                       std::to_string(head.version_major) + "." + std::to_string(head.version_minor) + " framing " +
                       std::to_string(int(head.framing)) + " " + std::to_string(head.content_length) + "\n";
        for (size_t i = 0; i < head.header_count(); ++i) {
            transcript_ += std::string(head.header_name(i)) + ": " + std::string(head.header_value(i)) + "\n";
        }
        if (head.status == 101) return -1;  // never asked for: a broken upstream
        if (head.status >= 100 && head.status < 200) {
            interim_ = true;
            if (head.status != 100 && !x_.client_1_0) {
                std::string out;
                build_interim_response(out, head);
                MessageHead again = reparse(out, false);
                FUZZ_CHECK(again.status == head.status);
            }
            return 0;
        }
        interim_ = false;
        response_started_ = true;
        framing_ = head.framing;
        content_length_ = head.content_length;
        check_client_head(head, x_);
        if (x_.head_request) {
            framing_ = BodyFraming::none;
            return 1;
        }
        // RFC 9112 §6.3: these never have a body, whatever the fields say.
        if (head.status == 204 || head.status == 304) FUZZ_CHECK(framing_ == BodyFraming::none);
        return 0;
    }

    int on_body(std::string_view data) override {
        FUZZ_CHECK(response_started_ && !interim_);
        FUZZ_CHECK(framing_ != BodyFraming::none);
        body_bytes_ += data.size();
        message_body_ += data.size();
        if (framing_ == BodyFraming::content_length) FUZZ_CHECK(message_body_ <= content_length_);
        body_.append(data);
        return 0;
    }

    int on_message_end() override {
        if (interim_) {
            interim_ = false;
            transcript_ += "interim end\n";
            return 0;
        }
        FUZZ_CHECK(response_started_ && !complete_);
        if (framing_ == BodyFraming::content_length) FUZZ_CHECK(message_body_ == content_length_);
        if (framing_ == BodyFraming::none) FUZZ_CHECK(message_body_ == 0);
        complete_ = true;
        flush_body();
        transcript_ += "end\n";
        return HttpParser::kPause;
    }

    void flush_body() {
        if (body_.empty()) return;
        transcript_ += "body " + std::to_string(body_.size()) + ": " + body_ + "\n";
        body_.clear();
    }

    Exchange x_;
    HttpParser parser_;
    std::string body_;
    std::string transcript_;
    bool interim_ = false;
    bool response_started_ = false;
    bool complete_ = false;
    bool done_ = false;
    bool trailing_ = false;
    BodyFraming framing_ = BodyFraming::none;
    uint64_t content_length_ = 0;
    uint64_t message_body_ = 0;
    size_t body_bytes_ = 0;
};

std::string run(std::string_view input, Exchange x, bool eof, const std::vector<size_t>& pieces) {
    Upstream u(x);
    size_t at = 0;
    for (size_t n : pieces) {
        u.read(input.substr(at, n));
        at += n;
    }
    if (eof) u.eof();
    FUZZ_CHECK(u.body_bytes() <= input.size());
    return u.transcript();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    portico::fuzz::Control control = portico::fuzz::take_control(data, size);
    Exchange x{(control.flags & 1) != 0, (control.flags & 2) != 0};
    bool eof = (control.flags & 4) == 0;
    std::string whole = run(control.rest, x, eof, {control.rest.size()});
    std::string split = run(control.rest, x, eof, portico::fuzz::split_points(control.rest.size(), control.split));
    // PORTICO_FUZZ_DEBUG=1 prints what the input did: for checking that a new seed gets where meant.
    if (std::getenv("PORTICO_FUZZ_DEBUG") != nullptr) std::fprintf(stderr, "%s\n", portico::fuzz::printable(whole).c_str());
    if (whole != split) std::fprintf(stderr, "whole:\n%s\nsplit:\n%s\n", whole.c_str(), split.c_str());
    FUZZ_CHECK(whole == split);
    return 0;
}
