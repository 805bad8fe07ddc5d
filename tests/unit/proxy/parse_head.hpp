// Test helper: one message head parsed with the proxy's own parser (the body is ignored).
#pragma once

#include <string>

#include "proxy/http_parser.hpp"

namespace portico::proxy::test {

inline MessageHead parse_head(llhttp_type_t type, const std::string& raw) {
    struct HeadOnly : HttpParser::Sink {
        MessageHead copy;
        int on_head(MessageHead& head) override {
            copy = head;
            return 0;
        }
        int on_body(std::string_view) override { return 0; }
        int on_message_end() override { return 0; }
    } sink;
    HttpParser parser(type, &sink);
    size_t consumed = 0;
    parser.execute(raw, consumed);
    return sink.copy;
}

}  // namespace portico::proxy::test
