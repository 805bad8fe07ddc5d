// Test helpers for cache/ unit tests: header lists from initializer lists, instants from seconds.
#pragma once

#include <deque>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "cache/headers_view.hpp"
#include "cache/http_date.hpp"

namespace portico::cache::test {

using Fields = std::vector<HeaderField>;

inline Fields fields(std::initializer_list<HeaderField> list) { return Fields(list); }

// 1994-11-06T08:49:37Z, RFC 9110's example date, as the injected clock's origin.
inline constexpr Instant kT0{Seconds{784111777}};
inline Instant at(long long seconds_after_t0) { return kT0 + Seconds{seconds_after_t0}; }

// The IMF-fixdate text of at(s). HeaderField holds views, so the text is kept alive for the whole
// test program (a temporary std::string would dangle inside a table of fields).
inline std::string_view date_at(long long seconds_after_t0) {
    static std::deque<std::string> texts;
    texts.emplace_back();
    append_http_date(texts.back(), at(seconds_after_t0));
    return texts.back();
}

}  // namespace portico::cache::test
