// A value or the reason it could not be parsed: the result type of conf's pure parsing functions.
#pragma once

#include <optional>
#include <string>
#include <utility>

namespace portico::conf {

// GCC 12 has no std::expected; this is the small subset the parsers need. Exactly one of
// `value` / `error` is meaningful: `error` is empty when `value` is set.
template <class T>
struct Parsed {
    std::optional<T> value;
    std::string error;

    static Parsed ok(T v) { return Parsed{std::move(v), {}}; }
    static Parsed fail(std::string message) { return Parsed{std::nullopt, std::move(message)}; }
    explicit operator bool() const { return value.has_value(); }
    const T& operator*() const { return *value; }
    const T* operator->() const { return &*value; }
};

}  // namespace portico::conf
