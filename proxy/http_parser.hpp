// A thin wrapper over llhttp: fills a MessageHead, hands body bytes and message ends to a sink,
// and turns llhttp's errno into one typed outcome. The same code parses client requests and
// upstream responses (and is what the fuzzers drive).
#pragma once

#include <cstddef>
#include <string_view>

#include <llhttp.h>

#include "proxy/http_message.hpp"

namespace portico::proxy {

class HttpParser {
public:
    static constexpr int kPause = HPE_PAUSED;

    class Sink {
    public:
        virtual ~Sink() = default;
        // The head is complete: return 0 to go on, 1 when the message has no body whatever its
        // headers say (the response to HEAD; 1xx, 204 and 304 responses have none anyway, and
        // their head says framing none), kPause to stop here, -1 to fail.
        virtual int on_head(MessageHead& head) = 0;
        // A piece of decoded body (chunk framing removed). Return 0, or -1 to fail.
        virtual int on_body(std::string_view data) = 0;
        // The whole message has arrived. Return 0 to parse on, or kPause to stop after it.
        virtual int on_message_end() = 0;
    };

    enum class Outcome { ok, paused, error };

    HttpParser(llhttp_type_t type, Sink* sink);
    HttpParser(const HttpParser&) = delete;
    HttpParser& operator=(const HttpParser&) = delete;

    // Parses `data`; `consumed` tells how far it got (all of it unless paused or failed).
    Outcome execute(std::string_view data, size_t& consumed);
    // The peer closed: completes a read-until-close body, or reports a truncated message.
    Outcome finish();
    void resume() { llhttp_resume(&parser_); }
    // Starts over (a fresh connection reuses the object).
    void reset();

    MessageHead& head() { return head_; }
    llhttp_errno_t error() const { return static_cast<llhttp_errno_t>(llhttp_get_errno(&parser_)); }
    const char* error_reason() const { return llhttp_get_error_reason(&parser_); }
    // True between the first byte of a message and its end.
    bool in_message() const { return in_message_; }
    // The message's body ends only when the peer closes (responses without length).
    bool reads_until_close() const { return head_.framing == BodyFraming::until_close; }

private:
    static int on_message_begin(llhttp_t* p);
    static int on_url(llhttp_t* p, const char* at, size_t len);
    static int on_status(llhttp_t* p, const char* at, size_t len);
    static int on_header_field(llhttp_t* p, const char* at, size_t len);
    static int on_header_value(llhttp_t* p, const char* at, size_t len);
    static int on_header_field_complete(llhttp_t* p);
    static int on_header_value_complete(llhttp_t* p);
    static int on_headers_complete(llhttp_t* p);
    static int on_body_cb(llhttp_t* p, const char* at, size_t len);
    static int on_message_complete(llhttp_t* p);
    static const llhttp_settings_t* settings();

    llhttp_t parser_;
    Sink* sink_;
    MessageHead head_;
    bool in_field_ = false;  // the next field piece continues the current header name
    bool in_value_ = false;  // the next value piece continues the current header value
    bool in_message_ = false;
    const char* chunk_begin_ = nullptr;  // start of the bytes given to the current execute()

    // obs-fold detection (RFC 9112 §5.2): the head's bytes between the spans llhttp reports (line
    // ends, colons, whitespace) are scanned for a line starting with SP or HTAB, across reads.
    void head_span(const char* at, size_t len);
    void scan_separator(const char* from, const char* to);
    uint64_t chunk_offset_ = 0;  // stream offset of chunk_begin_
    uint64_t fed_ = 0;         // bytes consumed by execute() so far
    bool in_head_ = false;     // between a message's first byte and its headers' end
    bool sep_active_ = false;  // a span of this head was seen: scanning from sep_from_
    uint64_t sep_from_ = 0;    // stream offset where the unscanned separator bytes start
    bool sep_last_lf_ = false; // the last head byte scanned was LF
};

}  // namespace portico::proxy
