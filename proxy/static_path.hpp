// Which file a request names under a static route (DESIGN.md step 4), decided before the disk is
// touched: the route's literal prefix removed, then percent-decoding, then dot-segment removal
// (RFC 3986 §5.2.4), so `..`, `%2e%2e`, `%2f` and their mixtures are resolved as path syntax and
// can never climb above the root; a NUL byte or a broken escape names nothing. Symlinks are the
// opener's to contain (openat2 RESOLVE_BENEATH, static_files.cpp).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace portico::proxy {

struct StaticPath {
    std::string relative;  // "css/app.css": no leading '/', no empty, "." or ".." segment; "" = the root
    bool directory = false;  // the request ended in '/' (or named the root): its index file is meant
};

// `path` is the request's path as received (no query), `pattern` the route's ("/static/*": the
// part before the last '/' of its literal prefix, "/static", is removed, as nginx's alias does).
// nullopt: the request names nothing that may be served (404).
std::optional<StaticPath> static_path(std::string_view path, std::string_view pattern);

// The Location of the 301 that sends a request for a directory written without its trailing slash
// to the name with it ("/static/docs" → "/static/docs/"), as nginx's static module does, so the
// index page's relative links resolve inside the directory. An absolute path, not an absolute URL:
// it is never built from a Host field, and nginx in front (proxy_redirect) need not rewrite it.
// Built from the normalised path, not the raw request — the route's literal prefix, then
// `relative`'s segments percent-encoded — so it always starts with one '/' followed by a segment
// byte, never "//" or "/\" (which browsers read as another host: an open redirect); the query
// (without '?', "" = none) is kept, as nginx keeps it, with bytes a field may not carry encoded.
std::string directory_location(std::string_view pattern, std::string_view relative, std::string_view query);

}  // namespace portico::proxy
