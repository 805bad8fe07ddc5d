#!/usr/bin/env bash
# The demo: installs what is missing (Debian 12, as root), builds portico (Release, in build/),
# starts a throwaway PostgreSQL, the demo FastAPI app on a Unix socket, portico in front of both
# (HTTP proxy + cache for the app, the Postgres pool for the database) and nginx in front of
# portico (the shipped conf/nginx snippets) — the stack as it is deployed —, shows a few requests,
# the headers portico adds and a query through the pool, then stays up until Ctrl-C and shuts
# everything down cleanly.
#
# Usage: conf/demo/run.sh
# Environment:
#   DEMO_PORT [8080]           nginx's port on 127.0.0.1: where the requests go
#   PORTICO_PORT [8081]        portico's HTTP port on 127.0.0.1 (nginx's upstream)
#   PORTICO_ADMIN_PORT [9901]  admin port on 127.0.0.1
#   DEMO_ONESHOT [0]           1: show the sample requests and exit 0 (also when stdin is not a
#                              terminal), for scripts and CI
#   PORTICO_BUILD_DIR [build-release]  where to configure and build portico (Release; tests use build/)
#   PORTICO_BIN                use this binary instead of building one
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
PY=/usr/bin/python3  # Debian's python3-fastapi / python3-uvicorn import only under this one
front_port=${DEMO_PORT:-8080}
port=${PORTICO_PORT:-8081}
admin_port=${PORTICO_ADMIN_PORT:-9901}
oneshot=${DEMO_ONESHOT:-0}
[[ -t 0 ]] || oneshot=1

bold="" cyan="" plain=""
if [[ -t 1 ]]; then bold=$'\033[1m' cyan=$'\033[36m' plain=$'\033[0m'; fi
say() { printf '%s==> %s%s\n' "$bold" "$*" "$plain"; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }

valid_port() { [[ $1 =~ ^[0-9]{1,5}$ ]] && (($1 > 0 && $1 < 65536)); }
valid_port "$front_port" || die "DEMO_PORT must be a port number, got '$front_port'"
valid_port "$port" || die "PORTICO_PORT must be a port number, got '$port'"
valid_port "$admin_port" || die "PORTICO_ADMIN_PORT must be a port number, got '$admin_port'"

# 1. Packages (idempotent: prints nothing when everything is installed).
"$here/../../.ci/setup-deps"

# Something already listening there would make portico fail to bind: say so up front.
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
port_busy "$front_port" && die "port $front_port on 127.0.0.1 is busy; pick another with DEMO_PORT=NNNN $0"
port_busy "$port" && die "port $port on 127.0.0.1 is busy; pick another with PORTICO_PORT=NNNN $0"
port_busy "$admin_port" &&
    die "admin port $admin_port on 127.0.0.1 is busy; pick another with PORTICO_ADMIN_PORT=NNNN $0"

# 2. Runtime dir and cleanup: portico first (it drains on SIGTERM), then the app.
DEMO_DIR=$(mktemp -d /tmp/portico-demo.XXXXXX)
chmod 755 "$DEMO_DIR"  # PostgreSQL runs as its own user and keeps its data and socket in here
export DEMO_DIR
app_pid="" portico_pid="" nginx_pid="" pg_started=0
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
# initdb and postgres refuse to run as root: as root they run as the postgres user.
as_pg() { if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }

stop() {  # PID: SIGTERM, up to 10 s to exit, then SIGKILL
    local pid=$1 i
    [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    local status=$?
    trap - EXIT INT TERM HUP
    if [[ -n $portico_pid$app_pid ]]; then say "stopping nginx, portico, the app and PostgreSQL"; fi
    stop "$nginx_pid"
    stop "$portico_pid"
    stop "$app_pid"
    if ((pg_started)); then as_pg "$pg_bin/pg_ctl" -D "$DEMO_DIR/pg" -m fast -w stop >/dev/null 2>&1 || true; fi
    rm -rf "$DEMO_DIR"
    exit "$status"
}
trap cleanup EXIT
# Ctrl-C is how a running demo is meant to end (status 0); before that it is an interruption.
serving=0
on_interrupt() {
    echo
    if ((serving)); then exit 0; else exit 130; fi
}
trap on_interrupt INT TERM HUP  # HUP: the terminal closed

# Shows the end of a log and fails.
fail_with_log() {
    if [[ -s $2 ]]; then
        printf -- '--- last lines of %s ---\n' "$2" >&2
        tail -n 30 "$2" >&2
    fi
    die "$1"
}

# 3. Build (incremental: quick when nothing changed).
if [[ -n ${PORTICO_BIN:-} ]]; then
    portico=$PORTICO_BIN
    [[ -x $portico ]] || die "PORTICO_BIN=$portico is not an executable"
else
    build_dir=${PORTICO_BUILD_DIR:-$repo/build-release}
    portico=$build_dir/portico
    say "building portico (Release) in $build_dir"
    cmake -S "$repo" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DPORTICO_BUILD_TESTS=OFF >"$DEMO_DIR/build.log" 2>&1 ||
        fail_with_log "cmake failed" "$DEMO_DIR/build.log"
    ninja -C "$build_dir" portico >>"$DEMO_DIR/build.log" 2>&1 ||
        fail_with_log "building portico failed" "$DEMO_DIR/build.log"
fi

# 4. A throwaway PostgreSQL: data and socket in the runtime dir, no TCP port, gone at exit.
say "starting a throwaway PostgreSQL in $DEMO_DIR/pg"
[[ -x $pg_bin/initdb ]] || die "PostgreSQL's initdb not found under /usr/lib/postgresql"
mkdir -m 700 "$DEMO_DIR/pg"
if [[ $(id -u) == 0 ]]; then chown postgres: "$DEMO_DIR/pg"; fi
as_pg "$pg_bin/initdb" -D "$DEMO_DIR/pg" -E UTF8 --locale=C.UTF-8 -A trust -U postgres >"$DEMO_DIR/initdb.log" 2>&1 ||
    fail_with_log "initdb failed" "$DEMO_DIR/initdb.log"
as_pg "$pg_bin/pg_ctl" -D "$DEMO_DIR/pg" -w -l "$DEMO_DIR/pg/postgres.log" \
    -o "-k $DEMO_DIR/pg -c listen_addresses='' -p 5432 -c fsync=off" start >/dev/null 2>&1 ||
    fail_with_log "PostgreSQL did not start" "$DEMO_DIR/pg/postgres.log"
pg_started=1
"$pg_bin/psql" -X -q -h "$DEMO_DIR/pg" -U postgres -d postgres -c "CREATE DATABASE demo" >/dev/null ||
    die "cannot create the demo database"
"$pg_bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$DEMO_DIR/pg" -U postgres -d demo -f "$here/schema.sql" >/dev/null ||
    die "cannot create the demo tables ($here/schema.sql)"

# 5. The app, on a Unix socket in the runtime dir.
say "starting the demo app (uvicorn) on unix:$DEMO_DIR/app.sock"
# The app reaches PostgreSQL through portico's pool (asyncpg, default statement cache).
DATABASE_URL="postgresql://postgres@/demo?host=$DEMO_DIR/pool&port=6432" \
    "$PY" -m uvicorn app:app --app-dir "$here" --uds "$DEMO_DIR/app.sock" \
    --log-level warning --no-access-log >"$DEMO_DIR/app.log" 2>&1 &
app_pid=$!

# Polls a curl command (its arguments) until it gets a 200, for at most 15 s, while PID lives.
wait_200() {
    local pid=$1 i
    shift
    for ((i = 0; i < 150; i++)); do
        kill -0 "$pid" 2>/dev/null || return 1
        [[ $(curl -s -o /dev/null -m 1 -w '%{http_code}' "$@" 2>/dev/null) == 200 ]] && return 0
        sleep 0.1
    done
    return 1
}
wait_200 "$app_pid" --unix-socket "$DEMO_DIR/app.sock" http://app/api/hello ||
    fail_with_log "the demo app did not start" "$DEMO_DIR/app.log"

# 6. Portico in front.
export PORTICO_LISTEN=127.0.0.1:$port PORTICO_ADMIN_LISTEN=127.0.0.1:$admin_port
"$portico" -t --config "$here/portico.yaml" >"$DEMO_DIR/check.log" 2>&1 ||
    fail_with_log "portico rejects $here/portico.yaml" "$DEMO_DIR/check.log"
say "starting portico on http://127.0.0.1:$port (config $here/portico.yaml)"
"$portico" --config "$here/portico.yaml" >"$DEMO_DIR/portico.log" 2>&1 &
portico_pid=$!
wait_200 "$portico_pid" "http://127.0.0.1:$port/api/hello" ||
    fail_with_log "portico did not answer on http://127.0.0.1:$port" "$DEMO_DIR/portico.log"

# 7. nginx in front, with the shipped snippets: conf/nginx/portico.conf (the upstream block, its
# address pointed at this portico) and portico-proxy.conf (proxy_pass and the forwarded headers).
say "starting nginx on http://127.0.0.1:$front_port (conf/nginx/portico.conf, portico-proxy.conf)"
mkdir "$DEMO_DIR/nginx"
sed "s/server 127\.0\.0\.1:8080;/server 127.0.0.1:$port;/" "$repo/conf/nginx/portico.conf" >"$DEMO_DIR/nginx/portico.conf"
nginx_user=""
if [[ $(id -u) == 0 ]]; then nginx_user="user root;"; fi  # one process, running as the demo's user
cat >"$DEMO_DIR/nginx/nginx.conf" <<EOF
$nginx_user
daemon off;
master_process off;
pid $DEMO_DIR/nginx/nginx.pid;
error_log $DEMO_DIR/nginx/error.log;
events { worker_connections 1024; }
http {
    access_log $DEMO_DIR/nginx/access.log;
    client_body_temp_path $DEMO_DIR/nginx/body;
    proxy_temp_path $DEMO_DIR/nginx/proxy;
    fastcgi_temp_path $DEMO_DIR/nginx/fastcgi;
    uwsgi_temp_path $DEMO_DIR/nginx/uwsgi;
    scgi_temp_path $DEMO_DIR/nginx/scgi;
    include $DEMO_DIR/nginx/portico.conf;
    server {
        listen 127.0.0.1:$front_port;
        location / {
            include $repo/conf/nginx/portico-proxy.conf;
        }
    }
}
EOF
/usr/sbin/nginx -c "$DEMO_DIR/nginx/nginx.conf" -p "$DEMO_DIR/nginx" -e "$DEMO_DIR/nginx/error.log" \
    >"$DEMO_DIR/nginx/stdout.log" 2>&1 &
nginx_pid=$!
base=http://127.0.0.1:$front_port
wait_200 "$nginx_pid" "$base/api/hello" || fail_with_log "nginx did not answer on $base" "$DEMO_DIR/nginx/error.log"

# 8. Sample requests, through nginx.
show() {  # prints the command as one would type it, then runs it
    local arg shown=""
    for arg in "$@"; do
        if [[ $arg =~ ^[A-Za-z0-9_./:=@%+,-]+$ ]]; then shown+=" $arg"; else shown+=" '$arg'"; fi
    done
    printf '\n%s$%s%s\n' "$cyan" "$shown" "$plain"
    "$@"
    echo
}
say "nginx → portico → the app are up; sample requests through nginx:"
show curl -sS -i "$base/api/hello"
show curl -sS -i -H 'X-Request-ID: demo-42' "$base/api/items/42"
show curl -sS -o /dev/null -D - "$base/api/items/42"  # the same again: answered from the cache (HIT)
show curl -sS -i -X POST -H 'Content-Type: application/json' -d '{"name":"widget","qty":3}' "$base/api/echo"
show curl -sS -o /dev/null -D - "$base/api/slow?ms=300"
show curl -sS "$base/api/headers"

# What portico added, read from one more response.
headers=$(curl -sS -o /dev/null -D - "$base/api/hello" | tr -d '\r')
echo
say "headers portico adds to responses:"
for name in X-Request-ID Server-Timing X-Cache Cache-Status; do
    line=$(grep -i "^$name:" <<<"$headers" || true)
    if [[ -n $line ]]; then
        printf '  %-15s %s\n' "$name:" "${line#*: }"
    else
        printf '  %-15s %s\n' "$name:" "(absent: this build does not add it yet)"
    fi
done

echo
say "the app's products come from PostgreSQL through portico's pool; a write purges the cache via NOTIFY"
show curl -sS -D - "$base/api/products/1"      # MISS: the app read the database (db_reads)
show curl -sS -D - "$base/api/products/1"      # HIT: db_reads unchanged
show curl -sS "$base/api/products/reads"        # never cached: how often the app read a product
show curl -sS -X POST -H 'Content-Type: application/json' -d '{"price": 21.0}' "$base/api/products/1/update"
sleep 0.3                                      # the NOTIFY travels through PostgreSQL
show curl -sS -D - "$base/api/products/1"      # MISS again: the new price, one more db_read

echo
say "the Postgres pool: psql through portico's socket (transaction pooling)"
show "$pg_bin/psql" -X -P pager=off -h "$DEMO_DIR/pool" -p 6432 -U postgres -d demo \
    -c "SELECT id, name, pg_backend_pid() AS server FROM items ORDER BY id"
show curl -sS "http://127.0.0.1:$admin_port/pool"

cat <<EOF

Try it yourself:
  curl -i $base/api/hello
  curl -i $base/api/items/1          # twice: X-Cache MISS, then HIT with Age
  curl -i $base/api/items/7          # 404 from the app, passed through
  curl -i "$base/api/slow?ms=1200"   # Server-Timing shows the upstream time
  curl -i -X POST -d 'hello' $base/api/echo
  curl -s $base/api/headers           # what the app received (X-Forwarded-*, X-Request-ID)
  curl -i $base/api/products/2       # from PostgreSQL via the pool, then cached (Surrogate-Key product:2)
  curl -X POST -d '{"name":"big kettle"}' -H 'Content-Type: application/json' $base/api/products/2/update
                                     # commits with NOTIFY portico_invalidate: the next GET is a MISS
  curl -s http://127.0.0.1:$admin_port/cache          # hits, misses, entries
  curl -s -X POST -d '{"prefix":"/api/items"}' http://127.0.0.1:$admin_port/cache/purge
  curl -s http://127.0.0.1:$admin_port/stats
  psql -h $DEMO_DIR/pool -p 6432 -U postgres demo     # the pool: DATABASE_URL=postgresql://postgres@/demo?host=$DEMO_DIR/pool&port=6432
  pgbench -h $DEMO_DIR/pool -p 6432 -U postgres -i demo && pgbench -h $DEMO_DIR/pool -p 6432 -U postgres -c 20 -T 5 -S demo
  curl -s http://127.0.0.1:$admin_port/pool           # clients, servers, waits, transactions
EOF

if [[ $oneshot == 1 ]]; then
    echo
    say "portico's log for these requests:"
    cat "$DEMO_DIR/portico.log"
    exit 0
fi

echo
say "portico's log follows; Ctrl-C stops portico and the app"
serving=1
# tail exits by itself if portico dies (--pid), so the demo never hangs on a dead proxy.
tail -n +1 -f --pid="$portico_pid" "$DEMO_DIR/portico.log" || true
if ! kill -0 "$portico_pid" 2>/dev/null; then
    wait "$portico_pid" && status=0 || status=$?
    portico_pid=""
    die "portico exited (status $status)"
fi
