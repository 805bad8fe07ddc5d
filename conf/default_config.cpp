// The configuration Portico runs with when no file exists: INTERFACE.md's defaults, spelled out.
#include "conf/loader.hpp"

namespace portico::conf {

// Written out in full (rather than relying on schema.hpp's defaults) so that `--print-config`
// users and this file agree on one text; test_conf_loader checks that it equals INTERFACE.md.
// Differences from INTERFACE.md's example, on purpose: no routes.patterns (they name the
// example application's paths), no pool: section (a pool without databases has nothing to
// serve, so pool_present stays false), and no cache.notify_channel (LISTEN needs a database).
std::string_view embedded_default_yaml() {
    return R"yaml(# Portico's embedded default configuration.
workers: auto
listen: 127.0.0.1:8080
trusted_proxies: [127.0.0.1/32, ::1/128]
upstream:
  address: 127.0.0.1:8000
  keepalive: 64
  connect_timeout: 2s
  read_timeout: 30s
  max_connections: 0
  queue_timeout: 5s
limits:
  max_header_bytes: 16KiB
  max_body_bytes: 10MiB
  header_timeout: 10s
  idle_timeout: 60s
  max_connections: 10000
  drain_timeout: 30s
compression:
  enabled: true
  level: 5
  min_size: 1000
  types: [text/*, application/json, application/javascript, application/xml, image/svg+xml]
cache:
  enabled: true
  path: /var/cache/portico
  max_size: 1GiB
  max_object_size: 64MiB
  lock_timeout: 5s
  invalidate_on_unsafe: true
  key: { sort_query: true, ignore_params: [utm_*, fbclid, gclid] }
routes:
  global_defaults:
    timeout: 30s
    cache: { ttl: 0s }
admin:
  listen: 127.0.0.1:9901
  token_file: null
log:
  level: info
  format: text
  access_log: stdout
  slow_request: 1s
)yaml";
}

}  // namespace portico::conf
