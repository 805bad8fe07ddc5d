#!/usr/bin/env bash
# Pass-through proxy benchmark: portico against nginx as a reverse proxy, both in front of the
# same fast origin (nginx serving a 1 KiB JSON file), measured in one run and printed as medians
# and portico/nginx ratios; then portico's idle RSS and its memory per idle keep-alive client
# connection, with nginx as the reference. See benchmarks/README.md for how to read the output.
#
# Usage: benchmarks/proxy_passthrough.sh
# Environment (defaults in brackets):
#   PORTICO_BIN [build/portico]    the binary under test (build it Release first)
#   ROUNDS [5]  DURATION [10s]  WARMUP [3s]  CONNECTIONS [64]  IDLE_CONNS [10000]
#   SERVER_CORE [0]  WRK_CORE [1]  RESULTS_DIR [benchmarks/results]
#   NGINX_PARITY_HEADERS [0]       1: nginx also adds the X-Forwarded-*/X-Request-ID headers
#                                  portico adds, so both proxies do the same header work
#   KEEP_TMP [0]                   1: keep the temp dir (configs, logs, raw wrk output)
# Exit status: 0 when the benchmark ran (whatever the figures), 1 on a setup failure (missing
# tool, a server that does not start or dies). Benchmarks report; they do not assert.
set -euo pipefail
shopt -s extglob

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$here/lib/common.sh"

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-3s}
CONNECTIONS=${CONNECTIONS:-64}
IDLE_CONNS=${IDLE_CONNS:-10000}
# Pinning, like for like on a 2-core machine: every server process (the origin nginx and the
# proxy under test, portico or nginx) on SERVER_CORE, the load generator alone on WRK_CORE.
# wrk must not steal cycles from the servers, and there is no third core for the origin, so
# the origin shares the proxy's core; both proxies pay the same origin cost on the same core.
# req/s therefore measures proxy + origin together; "CPU per request" and "requests per
# CPU-second" are read from the proxy's own /proc times and isolate the proxy.
SERVER_CORE=${SERVER_CORE:-0}
WRK_CORE=${WRK_CORE:-1}
PORTICO_BIN=${PORTICO_BIN:-$repo/build/portico}
RESULTS_DIR=${RESULTS_DIR:-$repo/benchmarks/results}
NGINX_PARITY_HEADERS=${NGINX_PARITY_HEADERS:-0}
KEEP_TMP=${KEEP_TMP:-0}
BODY_BYTES=1024

# ---------------------------------------------------------------------------------------------
# Checks before anything starts.

for tool in nginx wrk curl taskset cc; do
    command -v "$tool" >/dev/null || bench_die "$tool not found (run .ci/setup-deps as root)"
done
[[ -x $BENCH_PY ]] || bench_die "$BENCH_PY not found (run .ci/setup-deps as root)"
[[ -x $PORTICO_BIN ]] || bench_die "portico binary not found at $PORTICO_BIN; build it with:
  cmake -S $repo -B $repo/build -G Ninja -DCMAKE_BUILD_TYPE=Release && ninja -C $repo/build portico
or point PORTICO_BIN at a binary"
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || bench_die "ROUNDS must be a positive integer, got '$ROUNDS'"
for d in "$DURATION" "$WARMUP"; do
    [[ $d =~ ^[1-9][0-9]*[smh]?$ ]] || bench_die "durations look like 10s, 2m: got '$d'"
done
[[ $IDLE_CONNS =~ ^[1-9][0-9]*$ ]] || bench_die "IDLE_CONNS must be a positive integer"
if (($(nproc) < 2)); then
    bench_log "warning: fewer than 2 cores available; wrk shares the servers' core"
    SERVER_CORE=0 WRK_CORE=0
fi

# Like for like: the environment must not change portico's worker count or log level.
unset PORTICO_WORKERS PORTICO_LOG_LEVEL

# 10,000 client connections need 10,000 descriptors in the client and in the server; servers
# and the client inherit this shell's limit.
nofile=$(bench_raise_nofile 65536)
idle_note=""
if ((nofile < IDLE_CONNS + 256)); then
    idle_note="open-file limit $nofile: measured $((nofile - 256)) connections, not $IDLE_CONNS"
    bench_log "warning: $idle_note"
    IDLE_CONNS=$((nofile - 256))
fi

# ---------------------------------------------------------------------------------------------
# Temp dir, cleanup.

tmp=$(mktemp -d /tmp/portico-bench.XXXXXX)
# nginx workers run as 'nobody' when the master is root: they must be able to read the tree.
chmod 755 "$tmp"
started_pids=()

cleanup() {
    local status=$? i
    trap - EXIT INT TERM
    for ((i = ${#started_pids[@]} - 1; i >= 0; i--)); do
        bench_stop "${started_pids[i]}"
    done
    if [[ $KEEP_TMP == 1 ]]; then
        bench_log "kept $tmp"
    else
        rm -rf "$tmp"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Prints the last lines of a server's log and fails the run.
setup_failed() {
    local what=$1 log=$2
    if [[ -s $log ]]; then
        printf -- '--- last lines of %s ---\n' "$log" >&2
        tail -n 20 "$log" >&2
    fi
    bench_die "$what"
}

# ---------------------------------------------------------------------------------------------
# Ports, content, configs.

mapfile -t ports < <(bench_free_ports 4)
((${#ports[@]} == 4)) || bench_die "could not pick free ports"
origin_port=${ports[0]} portico_port=${ports[1]} nginx_port=${ports[2]} admin_port=${ports[3]}
bench_log "ports: origin $origin_port, portico $portico_port, nginx proxy $nginx_port; temp dir $tmp"

mkdir -p "$tmp/www" "$tmp/origin" "$tmp/nginx-proxy" "$tmp/portico" "$tmp/runs"
# Exactly BODY_BYTES of JSON: a small object padded with a filler string.
"$BENCH_PY" - "$tmp/www/1k.json" "$BODY_BYTES" <<'EOF'
import json, sys
path, size = sys.argv[1], int(sys.argv[2])
doc = {"id": 42, "name": "portico benchmark", "tags": ["proxy", "bench"], "filler": ""}
doc["filler"] = "x" * (size - len(json.dumps(doc, separators=(",", ":"))) - 1)
text = json.dumps(doc, separators=(",", ":")) + "\n"
assert len(text) == size, len(text)
open(path, "w").write(text)
EOF
chmod -R a+rX "$tmp/www"
path=/1k.json

# keepalive_requests is raised everywhere: nginx's default (1000) would make nginx, but not
# portico, close and reopen connections during the run, which is a cost of the default, not
# of proxying.
cat >"$tmp/origin/nginx.conf" <<EOF
# Origin: serves one static 1 KiB JSON file. Started by proxy_passthrough.sh.
worker_processes 1;
worker_rlimit_nofile $nofile;
error_log $tmp/origin/error.log warn;
pid $tmp/origin/nginx.pid;
events { worker_connections 1024; }
http {
    access_log off;
    types { application/json json; }
    default_type application/octet-stream;
    keepalive_timeout 300s;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$origin_port;
        root $tmp/www;
    }
}
EOF

parity_headers=""
if [[ $NGINX_PARITY_HEADERS == 1 ]]; then
    # shellcheck disable=SC2016  # nginx variables, written literally into nginx.conf
    parity_headers='
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Host $host;
            proxy_set_header X-Real-IP $remote_addr;
            proxy_set_header X-Request-ID $request_id;'
fi
cat >"$tmp/nginx-proxy/nginx.conf" <<EOF
# nginx as the reference reverse proxy: one worker, keep-alive to the origin.
worker_processes 1;
worker_rlimit_nofile $nofile;
error_log $tmp/nginx-proxy/error.log warn;
pid $tmp/nginx-proxy/nginx.pid;
events { worker_connections $((IDLE_CONNS + 1024)); }
http {
    access_log off;
    keepalive_timeout 300s;
    keepalive_requests 1000000;
    upstream origin {
        server 127.0.0.1:$origin_port;
        keepalive 64;
        keepalive_requests 1000000;
        keepalive_timeout 300s;
    }
    server {
        listen 127.0.0.1:$nginx_port;
        location / {
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";$parity_headers
        }
    }
}
EOF

cat >"$tmp/portico/portico.yaml" <<EOF
# portico under test: one worker, keep-alive to the origin, nothing but pass-through.
workers: 1
listen: 127.0.0.1:$portico_port
upstream: { address: 127.0.0.1:$origin_port, keepalive: 64 }
limits: { max_connections: 20000, idle_timeout: 5m }
cache: { enabled: false }
compression: { enabled: false }
pool: { enabled: false }
admin: { listen: 127.0.0.1:$admin_port }
log: { level: warn, access_log: off }
EOF

if ! "$PORTICO_BIN" -t --config "$tmp/portico/portico.yaml" >"$tmp/portico/check.log" 2>&1; then
    setup_failed "portico rejects the benchmark config" "$tmp/portico/check.log"
fi

cc -O2 -o "$tmp/idle_conns" "$here/lib/idle_conns.c" || bench_die "cannot compile lib/idle_conns.c"

# ---------------------------------------------------------------------------------------------
# Start the servers.

start_nginx() {  # NAME PORT; sets the global started_pid
    local name=$1 port=$2 dir=$tmp/$1
    mkdir -p "$dir/logs"
    taskset -c "$SERVER_CORE" nginx -p "$dir/" -c "$dir/nginx.conf" -e "$dir/error.log" \
        -g 'daemon off;' >"$dir/stdout.log" 2>&1 &
    started_pid=$!
    started_pids+=("$started_pid")
    bench_wait_http "http://127.0.0.1:$port$path" "$started_pid" ||
        setup_failed "$name nginx did not answer on 127.0.0.1:$port" "$dir/error.log"
}

start_nginx origin "$origin_port"
origin_pid=$started_pid
start_nginx nginx-proxy "$nginx_port"
nginx_pid=$started_pid

taskset -c "$SERVER_CORE" "$PORTICO_BIN" --config "$tmp/portico/portico.yaml" >"$tmp/portico/stdout.log" 2>&1 &
portico_pid=$!
started_pids+=("$portico_pid")
bench_wait_http "http://127.0.0.1:$portico_port$path" "$portico_pid" ||
    setup_failed "portico did not answer on 127.0.0.1:$portico_port" "$tmp/portico/stdout.log"

pid_of() { if [[ $1 == portico ]]; then echo "$portico_pid"; else echo "$nginx_pid"; fi; }
port_of() { if [[ $1 == portico ]]; then echo "$portico_port"; else echo "$nginx_port"; fi; }
alive_or_die() {
    kill -0 "$portico_pid" 2>/dev/null || setup_failed "portico exited during the run" "$tmp/portico/stdout.log"
    kill -0 "$nginx_pid" 2>/dev/null || setup_failed "nginx proxy exited during the run" "$tmp/nginx-proxy/error.log"
    kill -0 "$origin_pid" 2>/dev/null || setup_failed "origin nginx exited during the run" "$tmp/origin/error.log"
}

# ---------------------------------------------------------------------------------------------
# Facts for the summary.

facts=$tmp/facts.tsv
fact() { printf '%s\t%s\n' "$1" "$2" >>"$facts"; }
build_type=unknown
cache_file=$(dirname "$PORTICO_BIN")/CMakeCache.txt
[[ -f $cache_file ]] && build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$cache_file")
fact date "$(date '+%Y-%m-%d %H:%M:%S %Z')"
fact cpu "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)"
fact cores "$(nproc)"
fact kernel "$(uname -r)"
fact portico_bin "$PORTICO_BIN"
fact portico_version "$("$PORTICO_BIN" --version 2>/dev/null | head -n1 || echo unknown)"
fact portico_build_type "${build_type:-unset}"
fact nginx_version "$(nginx -v 2>&1 | sed 's/^nginx version: //')"
fact wrk_version "$(wrk -v 2>&1 | head -n1 | awk '{print $1, $2}')"
fact connections "$CONNECTIONS"
fact server_core "$SERVER_CORE"
fact wrk_core "$WRK_CORE"
fact body_bytes "$BODY_BYTES"
fact rounds "$ROUNDS"
fact duration "$DURATION"
fact warmup "$WARMUP"
fact idle_conns "$IDLE_CONNS"
fact nginx_parity_headers "$NGINX_PARITY_HEADERS"
fact loadavg "$(cut -d' ' -f1-3 /proc/loadavg)"
fact nofile "$nofile"
[[ $build_type == Release ]] || bench_log "warning: $PORTICO_BIN is a '$build_type' build, not Release"

# Idle RSS right after start (the readiness probe is the only request served so far).
# shellcheck disable=SC2046  # word splitting of the PID list is intended
fact portico_idle_rss_kib "$(bench_rss_kib $(bench_proc_tree "$portico_pid"))"
# shellcheck disable=SC2046
fact nginx_idle_rss_kib "$(bench_rss_kib $(bench_proc_tree "$nginx_pid"))"

# ---------------------------------------------------------------------------------------------
# Throughput and latency rounds.

clk_tck=$(getconf CLK_TCK)
runs=$tmp/runs.tsv
printf 'server\tround\trequests\tseconds\trps\tp50_us\tp99_us\tproxy_cpu_us\torigin_cpu_us\twrk_busy_pct\terrors\tcore_busy_pct\tcore_irq_pct\tcore_other_pct\tmax_us\n' >"$runs"

# Runs wrk once against SERVER; with a ROUND number, records the run in runs.tsv.
run_wrk() {
    local server=$1 round=$2 duration=$3
    local port pid out timefile url line proxy_pids origin_pids p0 p1 o0 o1 kv real user sys
    local c0_busy c0_total c0_irq c1_busy c1_total c1_irq
    local -A r=()
    port=$(port_of "$server")
    pid=$(pid_of "$server")
    url="http://127.0.0.1:$port$path"
    out="$tmp/runs/$server-$round.txt"
    timefile="$tmp/runs/$server-$round.time"
    proxy_pids=$(bench_proc_tree "$pid")
    origin_pids=$(bench_proc_tree "$origin_pid")

    # shellcheck disable=SC2086  # PID lists split on purpose
    p0=$(bench_cpu_ticks $proxy_pids)
    # shellcheck disable=SC2086
    o0=$(bench_cpu_ticks $origin_pids)
    read -r c0_busy c0_total c0_irq < <(bench_core_jiffies "$SERVER_CORE")
    local TIMEFORMAT='%R %U %S'
    if ! { time taskset -c "$WRK_CORE" wrk -t1 -c"$CONNECTIONS" -d"$duration" --latency \
        -s "$here/lib/wrk_report.lua" "$url" >"$out" 2>&1; } 2>"$timefile"; then
        setup_failed "wrk failed against $server" "$out"
    fi
    # shellcheck disable=SC2086
    p1=$(bench_cpu_ticks $proxy_pids)
    # shellcheck disable=SC2086
    o1=$(bench_cpu_ticks $origin_pids)
    read -r c1_busy c1_total c1_irq < <(bench_core_jiffies "$SERVER_CORE")
    alive_or_die
    [[ $round == warmup ]] && return 0

    line=$(grep '^RESULT ' "$out") || setup_failed "wrk printed no result against $server" "$out"
    for kv in ${line#RESULT }; do r[${kv%%=*}]=${kv#*=}; done
    ((r[requests] > 0)) || setup_failed "no request completed against $server" "$out"
    read -r real user sys <"$timefile"
    awk -v s="$server" -v rd="$round" -v n="${r[requests]}" -v dus="${r[duration_us]}" \
        -v p50="${r[p50_us]}" -v p99="${r[p99_us]}" -v maxl="${r[max_us]}" -v dp=$((p1 - p0)) -v dorig=$((o1 - o0)) \
        -v hz="$clk_tck" -v real="$real" -v user="$user" -v sys="$sys" \
        -v errs=$((r[err_connect] + r[err_read] + r[err_write] + r[err_status] + r[err_timeout])) \
        -v cbusy=$((c1_busy - c0_busy)) -v ctotal=$((c1_total - c0_total)) -v cirq=$((c1_irq - c0_irq)) \
        'BEGIN {
            secs = dus / 1e6
            # The server core: how busy it was, how much went to interrupts (loopback networking
            # in softirq, charged to no process), and how much to neither interrupts nor the
            # proxy nor the origin: other processes on the machine.
            busy = ctotal > 0 ? cbusy / ctotal * 100 : 0
            irq = ctotal > 0 ? cirq / ctotal * 100 : 0
            other = ctotal > 0 ? (cbusy - cirq - dp - dorig) / ctotal * 100 : 0
            if (other < 0) other = 0
            printf "%s\t%d\t%d\t%.3f\t%.1f\t%d\t%d\t%.2f\t%.2f\t%.1f\t%d\t%.1f\t%.1f\t%.1f\t%d\n", s, rd, n,
                secs, n / secs, p50, p99, dp / hz * 1e6 / n, dorig / hz * 1e6 / n,
                (user + sys) / real * 100, errs, busy, irq, other, maxl
        }' >>"$runs"
    tail -n1 "$runs" | awk -F'\t' '{
        printf "round %d %-8s %8.0f req/s  p50 %.3f ms  p99 %.3f ms  proxy %.1f us/req  origin %.1f us/req  wrk %.0f%%  core %.0f%% (irq %.0f%%, other %.0f%%)  errors %d\n",
            $2, $1, $5, $6 / 1000, $7 / 1000, $8, $9, $10, $12, $13, $14, $11 }' >&2
}

bench_log "warm-up: $WARMUP against each proxy"
run_wrk portico warmup "$WARMUP"
run_wrk nginx warmup "$WARMUP"

bench_log "$ROUNDS rounds of $DURATION per proxy, wrk -t1 -c$CONNECTIONS on core $WRK_CORE, servers on core $SERVER_CORE"
for ((round = 1; round <= ROUNDS; round++)); do
    # Alternate who goes first, so drift (thermal, other tenants) does not favour one side.
    if ((round % 2)); then order=(portico nginx); else order=(nginx portico); fi
    for server in "${order[@]}"; do
        run_wrk "$server" "$round" "$DURATION"
    done
done

# ---------------------------------------------------------------------------------------------
# Memory per idle keep-alive client connection.

# Waits until RSS stops moving (two reads 0.5 s apart within 1%), at most 5 s; prints it.
settled_rss_kib() {
    local pids=$1 prev now i
    # shellcheck disable=SC2086
    prev=$(bench_rss_kib $pids)
    for ((i = 0; i < 10; i++)); do
        sleep 0.5
        # shellcheck disable=SC2086
        now=$(bench_rss_kib $pids)
        if (((now > prev ? now - prev : prev - now) * 100 <= prev)); then break; fi
        prev=$now
    done
    echo "$now"
}

measure_conns() {
    local server=$1 port pid pids before after out client ok ready_line done_line note i
    port=$(port_of "$server")
    pid=$(pid_of "$server")
    pids=$(bench_proc_tree "$pid")
    out=$tmp/conns-$server.out
    before=$(settled_rss_kib "$pids")
    bench_log "opening $IDLE_CONNS idle keep-alive connections to $server"
    # The client gives up on a connection without a response after 15 s, and on the rest when
    # nothing progresses for 15 s, so it always reports; 5 minutes is only a backstop.
    taskset -c "$WRK_CORE" "$tmp/idle_conns" 127.0.0.1 "$port" "$IDLE_CONNS" "$path" 200 15 >"$out" 2>&1 &
    client=$!
    started_pids+=("$client")
    for ((i = 0; i < 3000; i++)); do
        grep -q '^READY' "$out" && break
        kill -0 "$client" 2>/dev/null || break
        sleep 0.1
    done
    ready_line=$(grep '^READY' "$out") ||
        setup_failed "the idle-connection client did not report against $server" "$out"
    alive_or_die
    after=$(settled_rss_kib "$pids")
    bench_stop "$client"
    ok=$(sed -n 's/^READY ok=\([0-9]*\).*/\1/p' "$out")
    done_line=$(grep '^DONE' "$out" || true)
    fact "${server}_rss_before_conns_kib" "$before"
    fact "${server}_rss_with_conns_kib" "$after"
    fact "${server}_conns_ok" "$ok"
    if ((ok > 0)); then
        fact "${server}_bytes_per_conn" "$(((after - before) * 1024 / ok))"
    fi
    # e.g. "failed=0 bad_status=0 timed_out=0 not_started=0, still_open=10000 closed_by_server=0"
    note="${ready_line#READY ok=+([0-9]) }"
    [[ -n $done_line ]] && note+=", ${done_line#DONE }"
    [[ -n $idle_note ]] && note+="; $idle_note"
    fact "${server}_conns_note" "$note"
    bench_log "$server: $ok idle connections ($note): RSS $before -> $after KiB"
}

measure_conns portico
measure_conns nginx

# ---------------------------------------------------------------------------------------------
# Summary.

mkdir -p "$RESULTS_DIR"
stamp=$(date +%Y%m%d-%H%M%S)
result_file=$RESULTS_DIR/proxy_passthrough-$stamp.txt
"$BENCH_PY" "$here/lib/summarize.py" "$runs" "$facts" >"$result_file" ||
    bench_die "could not summarize (raw data in $runs)"
cp "$runs" "$RESULTS_DIR/proxy_passthrough-$stamp.runs.tsv"
echo
cat "$result_file"
echo
echo "results written to $result_file (raw runs: ${result_file%.txt}.runs.tsv)"
