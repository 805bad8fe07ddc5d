// llhttp callbacks → MessageHead and sink calls. llhttp runs strict (no lenient flags): it already
// rejects Content-Length with Transfer-Encoding, duplicate Content-Length, bad chunk sizes and
// invalid header tokens; proxy/request_checks.cpp adds what the proxy needs on top.
#include "proxy/http_parser.hpp"

#include <algorithm>

namespace portico::proxy {

namespace {
HttpParser* self(llhttp_t* p) { return static_cast<HttpParser*>(p->data); }
}  // namespace

const llhttp_settings_t* HttpParser::settings() {
    static const llhttp_settings_t s = [] {
        llhttp_settings_t v;
        llhttp_settings_init(&v);
        v.on_message_begin = &HttpParser::on_message_begin;
        v.on_url = &HttpParser::on_url;
        v.on_status = &HttpParser::on_status;
        v.on_header_field = &HttpParser::on_header_field;
        v.on_header_value = &HttpParser::on_header_value;
        v.on_header_field_complete = &HttpParser::on_header_field_complete;
        v.on_header_value_complete = &HttpParser::on_header_value_complete;
        v.on_headers_complete = &HttpParser::on_headers_complete;
        v.on_body = &HttpParser::on_body_cb;
        v.on_message_complete = &HttpParser::on_message_complete;
        return v;
    }();
    return &s;
}

HttpParser::HttpParser(llhttp_type_t type, Sink* sink) : sink_(sink) {
    llhttp_init(&parser_, type, settings());
    parser_.data = this;
}

void HttpParser::reset() {
    llhttp_reset(&parser_);
    parser_.data = this;
    head_.clear();
    in_field_ = in_value_ = in_message_ = false;
    in_head_ = sep_active_ = sep_last_lf_ = false;
}

HttpParser::Outcome HttpParser::execute(std::string_view data, size_t& consumed) {
    chunk_begin_ = data.data();
    chunk_offset_ = fed_;
    llhttp_errno_t err = llhttp_execute(&parser_, data.data(), data.size());
    if (err == HPE_OK) {
        consumed = data.size();
        // The head goes on in the next read: scan this one's tail now, its bytes will be gone.
        if (in_head_ && sep_active_) {
            uint64_t from = std::max(sep_from_, chunk_offset_);
            scan_separator(data.data() + (from - chunk_offset_), data.data() + data.size());
            sep_from_ = chunk_offset_ + data.size();
        }
        fed_ += consumed;
        return Outcome::ok;
    }
    const char* pos = llhttp_get_error_pos(&parser_);
    consumed = pos != nullptr && pos >= data.data() ? static_cast<size_t>(pos - data.data()) : 0;
    fed_ += consumed;  // a paused parser is fed the rest again, from here
    if (err == HPE_PAUSED) return Outcome::paused;
    return Outcome::error;
}

HttpParser::Outcome HttpParser::finish() {
    llhttp_errno_t err = llhttp_finish(&parser_);
    if (err == HPE_OK) return Outcome::ok;
    if (err == HPE_PAUSED) return Outcome::paused;
    return Outcome::error;
}

int HttpParser::on_message_begin(llhttp_t* p) {
    HttpParser* s = self(p);
    s->head_.clear();
    s->in_field_ = s->in_value_ = false;
    s->in_message_ = true;
    s->in_head_ = true;
    s->sep_active_ = s->sep_last_lf_ = false;
    return 0;
}

void HttpParser::scan_separator(const char* from, const char* to) {
    for (const char* c = from; c < to; ++c) {
        if (sep_last_lf_ && (*c == ' ' || *c == '\t')) head_.obs_fold = true;
        sep_last_lf_ = *c == '\n';
    }
}

// Every span of the head (target, reason, field names and values) comes through here: the bytes
// since the previous span are separators, scanned for a fold. llhttp itself hands a folded value
// over as pieces and an empty value's fold ("Name:\r\n value") as one piece, so the spans alone
// cannot tell. A fold line arriving in a read of its own, or folding an empty value, was once
// accepted (found by the smuggling differential, which splits requests at line ends).
void HttpParser::head_span(const char* at, size_t len) {
    const uint64_t start = chunk_offset_ + static_cast<uint64_t>(at - chunk_begin_);
    if (sep_active_ && sep_from_ < start) {
        uint64_t from = std::max(sep_from_, chunk_offset_);
        scan_separator(chunk_begin_ + (from - chunk_offset_), at);
    }
    if (len > 0) {
        if (sep_last_lf_ && (at[0] == ' ' || at[0] == '\t')) head_.obs_fold = true;
        sep_last_lf_ = false;
    }
    sep_active_ = true;
    sep_from_ = start + len;
}

int HttpParser::on_url(llhttp_t* p, const char* at, size_t len) {
    self(p)->head_span(at, len);
    self(p)->head_.append_target({at, len});
    return 0;
}

int HttpParser::on_status(llhttp_t* p, const char* at, size_t len) {
    self(p)->head_span(at, len);
    self(p)->head_.append_reason({at, len});
    return 0;
}

int HttpParser::on_header_field(llhttp_t* p, const char* at, size_t len) {
    HttpParser* s = self(p);
    s->head_span(at, len);
    s->head_.append_header_name({at, len}, s->in_field_);
    s->in_field_ = true;
    return 0;
}

int HttpParser::on_header_value(llhttp_t* p, const char* at, size_t len) {
    HttpParser* s = self(p);
    s->head_span(at, len);  // a fold (RFC 9112 §5.2) is refused by request_checks
    s->head_.append_header_value({at, len}, s->in_value_);
    s->in_value_ = true;
    return 0;
}

int HttpParser::on_header_field_complete(llhttp_t* p) {
    HttpParser* s = self(p);
    s->head_.classify_last_header();
    // A field with an empty value never calls on_header_value: give it an empty value now.
    s->head_.append_header_value({}, /*continuation=*/false);
    s->in_field_ = false;
    return 0;
}

int HttpParser::on_header_value_complete(llhttp_t* p) {
    self(p)->in_value_ = false;
    return 0;
}

int HttpParser::on_headers_complete(llhttp_t* p) {
    HttpParser* s = self(p);
    s->in_head_ = false;
    MessageHead& h = s->head_;
    // RFC 9110 §15: a status outside 100..599 is invalid (RFC 9112 §4: three digits). llhttp 8.1
    // takes "HTTP/1.1  OK" for status 0 and any number up to 999; such a response is refused
    // (found by fuzz_http_response: status 0 went to the client as "HTTP/1.1 0 Unknown").
    if (p->type == HTTP_RESPONSE && (p->status_code < 100 || p->status_code > 599)) return -1;
    h.method = p->method;
    h.status = p->status_code;
    h.version_major = p->http_major;
    h.version_minor = p->http_minor;
    h.upgrade = p->upgrade != 0;
    // Portico does not tunnel upgrades: the Upgrade header is stripped (hop-by-hop) and the
    // request proxied as plain HTTP, so llhttp must not switch this connection to a raw tunnel.
    if (p->type == HTTP_REQUEST && p->method != HTTP_CONNECT) p->upgrade = 0;
    h.keep_alive = llhttp_should_keep_alive(p) != 0;
    if (p->flags & F_CHUNKED) {
        h.framing = BodyFraming::chunked;
    } else if (p->flags & F_CONTENT_LENGTH) {
        h.content_length = p->content_length;
        h.framing = p->content_length > 0 ? BodyFraming::content_length : BodyFraming::none;
    } else if (p->type == HTTP_RESPONSE && llhttp_message_needs_eof(p)) {
        h.framing = BodyFraming::until_close;
    } else {
        h.framing = BodyFraming::none;
    }
    // RFC 9112 §6.3: a 1xx, 204 or 304 response ends at its head whatever its fields say (a 304 may
    // carry the representation's Content-Length, RFC 9110 §8.6). llhttp 8.1 skips the body only
    // without Content-Length and chunked; with them it would wait for body bytes that never come
    // (or take the next response as this one's body): the head says so, and llhttp is told to skip.
    bool bodiless = p->type == HTTP_RESPONSE && (p->status_code / 100 == 1 || p->status_code == 204 ||
                                                 p->status_code == 304);
    if (bodiless) h.framing = BodyFraming::none;
    int verdict = s->sink_->on_head(h);
    if (verdict == 1) h.framing = BodyFraming::none;
    if (verdict == 0 && bodiless) verdict = 1;
    return verdict;
}

int HttpParser::on_body_cb(llhttp_t* p, const char* at, size_t len) {
    return self(p)->sink_->on_body({at, len});
}

int HttpParser::on_message_complete(llhttp_t* p) {
    HttpParser* s = self(p);
    s->in_message_ = false;
    return s->sink_->on_message_end();
}

}  // namespace portico::proxy
