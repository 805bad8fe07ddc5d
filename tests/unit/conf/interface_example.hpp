// INTERFACE.md's configuration example, verbatim except for include: (kept in a test of its own).
#pragma once

namespace portico::conf::test {

inline constexpr const char* kInterfaceExample = R"yaml(
workers: auto
listen: 127.0.0.1:8080              # or [::1]:8080 or unix:/run/portico/http.sock
trusted_proxies: [127.0.0.1/32, ::1/128]   # peers whose X-Forwarded-For / X-Real-IP count
upstream:
  address: 127.0.0.1:8000           # or unix:/run/app/uvicorn.sock
  keepalive: 64                     # idle upstream connections kept per worker
  connect_timeout: 2s
  read_timeout: 30s
  max_connections: 0                # 0 = unlimited; else a cap on concurrent upstream requests
  queue_timeout: 5s                 # requests beyond the cap wait this long, then 503 + Retry-After
limits:
  max_header_bytes: 16KiB
  max_body_bytes: 10MiB
  header_timeout: 10s               # whole request head must arrive in this time
  idle_timeout: 60s                 # keep-alive idle
  max_connections: 10000
compression:
  enabled: true
  level: 5
  min_size: 1000
  types: [text/*, application/json, application/javascript, application/xml, image/svg+xml]
cache:
  enabled: true
  path: /var/cache/portico
  max_size: 1GiB
  invalidate_on_unsafe: true        # RFC 9111 §4.4
  key: { sort_query: true, ignore_params: [utm_*, fbclid, gclid] }
  notify_channel: portico_invalidate   # Postgres LISTEN channel (needs pool.databases)
routes:
  global_defaults:
    timeout: 30s
    cache: { ttl: 0s }              # 0 = obey upstream Cache-Control only
  patterns:                         # most specific pattern wins; `*` matches the rest
    "/static/*":
      static: { root: /srv/app/static, cache_control: "public, max-age=86400" }
    "/api/users/*":
      cache: { ttl: 600s, stale_while_revalidate: 30s, stale_if_error: 1h }
      rate_limit: { rate: 100/s, burst: 200, key: client_ip, dry_run: false }   # key: client_ip | header:X-Api-Key
    "/api/*":
      cache: { ttl: 60s }
    "/admin/*":
      cache: { enabled: false }
      rate_limit: { rate: 10/s, burst: 20 }
pool:
  enabled: true
  socket_dir: /run/portico          # listens on <socket_dir>/.s.PGSQL.<port>
  port: 6432
  listen_tcp: null                  # optional, e.g. 127.0.0.1:6432
  mode: transaction                 # or session
  auth: { type: peer }              # trust | peer | scram-sha-256 (file: userlist) | md5
  max_client_conn: 1000
  default_pool_size: 20
  max_overflow: 10                  # extra server connections under a spike
  query_wait_timeout: 30s           # a client waiting for a server gets an error after this
  server_connect_timeout: 5s
  server_idle_timeout: 10m
  server_lifetime: 30m              # recycle
  server_check_delay: 30s           # pre-ping a server idle longer than this
  idle_transaction_timeout: 60s
  max_prepared_statements: 500
  databases:
    app: { conninfo: "host=/var/run/postgresql dbname=app", pool_size: 20 }
admin:
  listen: 127.0.0.1:9901
  token_file: null                  # when set, every admin call needs Authorization: Bearer <token>
log:
  level: info                       # debug | info | warn | error
  format: text                      # or json
  access_log: stdout                # or a path, or off
  slow_request: 1s
)yaml";

}  // namespace portico::conf::test
