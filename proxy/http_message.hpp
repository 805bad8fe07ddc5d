// One parsed HTTP/1.x message head (request or response). All text lives in one arena string and
// fields are offsets into it, so a head costs one allocation that is reused across requests.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/field_names.hpp"

namespace portico::proxy {

struct Span {
    uint32_t offset = 0;
    uint32_t length = 0;
};

struct HeaderSpan {
    Span name;
    Span value;
    FieldId id = FieldId::other;  // set once the name is complete
};

enum class BodyFraming {
    none,            // no body (GET without length, 204, 304, HEAD response…)
    content_length,  // exactly `content_length` bytes
    chunked,         // Transfer-Encoding: chunked
    until_close,     // response only: read until the upstream closes
};

class MessageHead {
public:
    // Request fields.
    int method = 0;  // llhttp_method_t
    // Response fields.
    int status = 0;
    // Both.
    int version_major = 1;
    int version_minor = 1;
    BodyFraming framing = BodyFraming::none;
    uint64_t content_length = 0;
    bool keep_alive = true;  // llhttp_should_keep_alive after the head
    bool upgrade = false;
    bool obs_fold = false;  // a header value was folded over two lines

    void clear() {
        arena_.clear();
        headers_.clear();
        target_ = {};
        reason_ = {};
        method = 0;
        status = 0;
        version_major = version_minor = 1;
        framing = BodyFraming::none;
        content_length = 0;
        keep_alive = true;
        upgrade = false;
        obs_fold = false;
    }
    // Give memory back when a connection goes idle (idle keep-alive connections must stay small).
    void release_memory() {
        clear();
        std::string().swap(arena_);
        std::vector<HeaderSpan>().swap(headers_);
    }

    std::string_view view(Span s) const { return std::string_view(arena_).substr(s.offset, s.length); }
    std::string_view target() const { return view(target_); }
    std::string_view reason() const { return view(reason_); }
    size_t header_count() const { return headers_.size(); }
    std::string_view header_name(size_t i) const { return view(headers_[i].name); }
    std::string_view header_value(size_t i) const { return view(headers_[i].value); }
    FieldId header_id(size_t i) const { return headers_[i].id; }

    // Lookups by recognised field: integer compares only.
    std::string_view find(FieldId id) const {
        for (const auto& h : headers_) {
            if (h.id == id) return view(h.value);
        }
        return {};
    }
    size_t count(FieldId id) const {
        size_t n = 0;
        for (const auto& h : headers_) n += h.id == id;
        return n;
    }
    // The parser calls this when a field name is complete.
    void classify_last_header() { headers_.back().id = classify_field(view(headers_.back().name)); }
    size_t head_bytes() const { return arena_.size(); }

    // First value of a header (case-insensitive name), or empty.
    std::string_view find(std::string_view name) const;
    bool has(std::string_view name) const;
    size_t count(std::string_view name) const;

    // Builder side, used by the parser (pieces may arrive split across reads).
    void append_target(std::string_view piece) { extend(target_, piece); }
    void append_reason(std::string_view piece) { extend(reason_, piece); }
    void append_header_name(std::string_view piece, bool continuation) {
        if (!continuation) headers_.push_back({Span{static_cast<uint32_t>(arena_.size()), 0}, {}});
        extend(headers_.back().name, piece);
    }
    void append_header_value(std::string_view piece, bool continuation) {
        if (!continuation) headers_.back().value = Span{static_cast<uint32_t>(arena_.size()), 0};
        extend(headers_.back().value, piece);
    }
    void set_target(std::string_view text) {
        target_ = Span{static_cast<uint32_t>(arena_.size()), 0};
        extend(target_, text);
    }
    void add_header(std::string_view name, std::string_view value) {
        headers_.push_back({});
        headers_.back().name = Span{static_cast<uint32_t>(arena_.size()), 0};
        extend(headers_.back().name, name);
        headers_.back().value = Span{static_cast<uint32_t>(arena_.size()), 0};
        extend(headers_.back().value, value);
        headers_.back().id = classify_field(name);
    }

    // Response stages that rewrite a head before it is passed on (compression): the new value is
    // appended to the arena, so views of this head taken before the edit are invalidated.
    void set_header_value(size_t i, std::string_view value) {
        headers_[i].value = Span{static_cast<uint32_t>(arena_.size()), 0};
        extend(headers_[i].value, value);
    }
    void remove_header(size_t i) { headers_.erase(headers_.begin() + static_cast<std::ptrdiff_t>(i)); }

private:
    // Pieces of one field always arrive back to back, so extending the last span is safe.
    void extend(Span& span, std::string_view piece) {
        if (span.length == 0) span.offset = static_cast<uint32_t>(arena_.size());
        arena_.append(piece);
        span.length += static_cast<uint32_t>(piece.size());
    }

    std::string arena_;
    std::vector<HeaderSpan> headers_;
    Span target_;
    Span reason_;
};

bool iequals(std::string_view a, std::string_view b);

}  // namespace portico::proxy
