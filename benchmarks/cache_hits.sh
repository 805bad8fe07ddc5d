#!/usr/bin/env bash
# Cache-hit benchmark: portico's response cache against nginx proxy_cache and Varnish, all three in
# front of the same FastAPI app (tests/apps/cache_app.py under uvicorn) answering a 1 KiB and a
# 100 KiB JSON document with Cache-Control: public, max-age=3600. Each cache is warmed and checked to
# really answer hits (X-Cache / X-Cache-Status / X-Varnish with two ids) before anything is measured,
# and the app's own request counter proves no measured request reached it. Prints medians of req/s,
# p99 and server CPU per request, the ratios portico/nginx and portico/varnish, and portico's RSS
# before and after the hit runs. See benchmarks/README.md for how to read the output.
#
# Usage: benchmarks/cache_hits.sh
# Environment (defaults in brackets):
#   PORTICO_BIN [build/portico]   the binary under test (build it Release first)
#   SERVERS ["portico nginx varnish"]   which caches to run (e.g. "nginx varnish" without portico)
#   SIZES ["1k 100k"]  ROUNDS [5]  DURATION [10s]  WARMUP [3s]  CONNECTIONS [64]
#   SERVER_CORE [0]  WRK_CORE [1]  RESULTS_DIR [benchmarks/results]  KEEP_TMP [0]
# Exit status: 0 when the benchmark ran (whatever the figures), 1 on a setup failure (missing
# tool, a server that does not start, dies, or does not answer hits). Benchmarks report; they do
# not assert.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$here/lib/common.sh"

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-3s}
CONNECTIONS=${CONNECTIONS:-64}
# Pinning as in proxy_passthrough.sh: every server process (the app and the three caches) on
# SERVER_CORE, wrk alone on WRK_CORE. Only one cache is under load at a time; the others idle.
SERVER_CORE=${SERVER_CORE:-0}
WRK_CORE=${WRK_CORE:-1}
PORTICO_BIN=${PORTICO_BIN:-$repo/build/portico}
RESULTS_DIR=${RESULTS_DIR:-$repo/benchmarks/results}
KEEP_TMP=${KEEP_TMP:-0}
SERVERS=${SERVERS:-portico nginx varnish}
SIZES=${SIZES:-1k 100k}
read -r -a servers <<<"$SERVERS"
read -r -a sizes <<<"$SIZES"

# ---------------------------------------------------------------------------------------------
# Checks before anything starts.

for tool in wrk curl taskset; do
    command -v "$tool" >/dev/null || bench_die "$tool not found (run .ci/setup-deps as root)"
done
[[ -x $BENCH_PY ]] || bench_die "$BENCH_PY not found (run .ci/setup-deps as root)"
"$BENCH_PY" -c 'import fastapi, uvicorn' 2>/dev/null ||
    bench_die "python3-fastapi / python3-uvicorn missing (run .ci/setup-deps as root)"
((${#servers[@]} > 0)) || bench_die "SERVERS is empty"
for s in "${servers[@]}"; do
    case $s in
        portico)
            [[ -x $PORTICO_BIN ]] || bench_die "portico binary not found at $PORTICO_BIN; build it with:
  cmake -S $repo -B $repo/build -G Ninja -DCMAKE_BUILD_TYPE=Release && ninja -C $repo/build portico
or point PORTICO_BIN at a binary, or leave portico out: SERVERS=\"nginx varnish\"" ;;
        nginx) command -v nginx >/dev/null || bench_die "nginx not found (run .ci/setup-deps as root)" ;;
        varnish) command -v varnishd >/dev/null || bench_die "varnishd not found (run .ci/setup-deps as root)" ;;
        *) bench_die "unknown server '$s' in SERVERS (portico, nginx, varnish)" ;;
    esac
done
for z in "${sizes[@]}"; do
    [[ $z == 1k || $z == 100k ]] || bench_die "SIZES takes 1k and/or 100k, got '$z'"
done
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || bench_die "ROUNDS must be a positive integer, got '$ROUNDS'"
for d in "$DURATION" "$WARMUP"; do
    [[ $d =~ ^[1-9][0-9]*[smh]?$ ]] || bench_die "durations look like 10s, 2m: got '$d'"
done
if (($(nproc) < 2)); then
    bench_log "warning: fewer than 2 cores available; wrk shares the servers' core"
    SERVER_CORE=0 WRK_CORE=0
fi
unset PORTICO_WORKERS PORTICO_LOG_LEVEL
nofile=$(bench_raise_nofile 65536)

# ---------------------------------------------------------------------------------------------
# Temp dir, cleanup.

tmp=$(mktemp -d /tmp/portico-bench-cache.XXXXXX)
chmod 755 "$tmp"  # nginx workers and varnish's child run as unprivileged users
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

setup_failed() {
    local what=$1 log=$2
    if [[ -s $log ]]; then
        printf -- '--- last lines of %s ---\n' "$log" >&2
        tail -n 20 "$log" >&2
    fi
    bench_die "$what"
}

# ---------------------------------------------------------------------------------------------
# Ports, paths, configs.

mapfile -t ports < <(bench_free_ports 5)
((${#ports[@]} == 5)) || bench_die "could not pick free ports"
app_port=${ports[0]} portico_port=${ports[1]} nginx_port=${ports[2]} varnish_port=${ports[3]} admin_port=${ports[4]}
bench_log "ports: app $app_port, portico $portico_port, nginx $nginx_port, varnish $varnish_port; temp dir $tmp"
mkdir -p "$tmp/app" "$tmp/portico" "$tmp/nginx/cache" "$tmp/varnish" "$tmp/runs"
chmod 777 "$tmp/nginx/cache"

# The documents, chosen by the query (cache_app.py): a constant JSON body of exactly N bytes,
# cacheable by all three for an hour.
declare -A path_of=(
    [1k]="/hit/1k?json_size=1024&cc=public%2C%20max-age%3D3600"
    [100k]="/hit/100k?json_size=102400&cc=public%2C%20max-age%3D3600"
)
declare -A bytes_of=([1k]=1024 [100k]=102400)
declare -A app_path_of=([1k]=/hit/1k [100k]=/hit/100k)

cat >"$tmp/nginx/nginx.conf" <<EOF
# nginx proxy_cache: one worker, honouring the app's Cache-Control (proxy_cache_valid only for a
# silent upstream), cache lock on, the hit status in X-Cache-Status. Started by cache_hits.sh.
worker_processes 1;
worker_rlimit_nofile $nofile;
error_log $tmp/nginx/error.log warn;
pid $tmp/nginx/nginx.pid;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_timeout 300s;
    keepalive_requests 1000000;
    proxy_cache_path $tmp/nginx/cache levels=1:2 keys_zone=bench:10m max_size=1g inactive=1h use_temp_path=off;
    upstream app {
        server 127.0.0.1:$app_port;
        keepalive 16;
    }
    server {
        listen 127.0.0.1:$nginx_port;
        location / {
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_cache bench;
            proxy_cache_valid 200 10m;
            proxy_cache_lock on;
            add_header X-Cache-Status \$upstream_cache_status always;
        }
    }
}
EOF

cat >"$tmp/portico/portico.yaml" <<EOF
# portico under test: one worker, the cache on (LMDB in the temp dir), nothing else.
workers: 1
listen: 127.0.0.1:$portico_port
upstream: { address: 127.0.0.1:$app_port, keepalive: 16 }
limits: { max_connections: 20000, idle_timeout: 5m }
cache: { enabled: true, path: $tmp/portico/cache, max_size: 1GiB }
compression: { enabled: false }
pool: { enabled: false }
admin: { listen: 127.0.0.1:$admin_port }
log: { level: warn, access_log: off }
EOF

# ---------------------------------------------------------------------------------------------
# Start the app and the caches.

taskset -c "$SERVER_CORE" "$BENCH_PY" -m uvicorn cache_app:app --app-dir "$repo/tests/apps" \
    --host 127.0.0.1 --port "$app_port" --log-level warning --no-access-log >"$tmp/app/app.log" 2>&1 &
app_pid=$!
started_pids+=("$app_pid")
bench_wait_http "http://127.0.0.1:$app_port/count" "$app_pid" 30 ||
    setup_failed "the app did not answer on 127.0.0.1:$app_port" "$tmp/app/app.log"

declare -A pid_of port_of log_of
port_of=([portico]=$portico_port [nginx]=$nginx_port [varnish]=$varnish_port)
log_of=([portico]=$tmp/portico/stdout.log [nginx]=$tmp/nginx/error.log [varnish]=$tmp/varnish/stdout.log)

for server in "${servers[@]}"; do
    case $server in
        portico)
            if ! "$PORTICO_BIN" -t --config "$tmp/portico/portico.yaml" >"$tmp/portico/check.log" 2>&1; then
                setup_failed "portico rejects the benchmark config" "$tmp/portico/check.log"
            fi
            taskset -c "$SERVER_CORE" "$PORTICO_BIN" --config "$tmp/portico/portico.yaml" \
                >"$tmp/portico/stdout.log" 2>&1 &
            ;;
        nginx)
            taskset -c "$SERVER_CORE" nginx -p "$tmp/nginx/" -c "$tmp/nginx/nginx.conf" -e "$tmp/nginx/error.log" \
                -g 'daemon off;' >"$tmp/nginx/stdout.log" 2>&1 &
            ;;
        varnish)
            # The default (built-in) VCL with the app as backend; malloc storage; no CLI port.
            taskset -c "$SERVER_CORE" varnishd -F -a "127.0.0.1:$varnish_port" -b "127.0.0.1:$app_port" \
                -s malloc,256m -n "$tmp/varnish/work" -T none >"$tmp/varnish/stdout.log" 2>&1 &
            ;;
    esac
    pid_of[$server]=$!
    started_pids+=("${pid_of[$server]}")
    bench_wait_http "http://127.0.0.1:${port_of[$server]}/count" "${pid_of[$server]}" 30 ||
        setup_failed "$server did not answer on 127.0.0.1:${port_of[$server]}" "${log_of[$server]}"
done

alive_or_die() {
    local s
    kill -0 "$app_pid" 2>/dev/null || setup_failed "the app exited during the run" "$tmp/app/app.log"
    for s in "${servers[@]}"; do
        kill -0 "${pid_of[$s]}" 2>/dev/null || setup_failed "$s exited during the run" "${log_of[$s]}"
    done
}

# The app's count of requests for a path (asked directly).
app_count() {
    curl -s -m 5 "http://127.0.0.1:$app_port/count" |
        "$BENCH_PY" -c 'import json, sys; print(json.load(sys.stdin)["paths"].get(sys.argv[1], 0))' "$1"
}
app_total() {
    curl -s -m 5 "http://127.0.0.1:$app_port/count" | "$BENCH_PY" -c 'import json, sys; print(json.load(sys.stdin)["total"])'
}

# ---------------------------------------------------------------------------------------------
# Warm every cache and check that it answers hits with the whole document.

# Prints "hit" or what the headers said instead.
hit_marker() {
    local server=$1 headers=$2
    case $server in
        portico) grep -qi '^x-cache: *HIT' "$headers" && echo hit || grep -i '^x-cache' "$headers" || echo "no X-Cache" ;;
        nginx) grep -qi '^x-cache-status: *HIT' "$headers" && echo hit || grep -i '^x-cache-status' "$headers" || echo "no X-Cache-Status" ;;
        varnish)
            # A hit carries two transaction ids: this request's and the one that fetched the object.
            grep -qiE '^x-varnish: *[0-9]+ +[0-9]+' "$headers" && echo hit || grep -i '^x-varnish' "$headers" || echo "no X-Varnish" ;;
    esac
}

for size in "${sizes[@]}"; do
    for server in "${servers[@]}"; do
        url="http://127.0.0.1:${port_of[$server]}${path_of[$size]}"
        for _ in 1 2 3; do
            code=$(curl -s -m 10 -D "$tmp/runs/warm-$server-$size.h" -o "$tmp/runs/warm-$server-$size.b" \
                -w '%{http_code}' "$url") || code=000
            [[ $code == 200 ]] || setup_failed "$server answered $code for $url" "${log_of[$server]}"
            # Give a write-behind store a moment to commit before the next look.
            [[ $(hit_marker "$server" "$tmp/runs/warm-$server-$size.h") == hit ]] && break
            sleep 0.5
        done
        marker=$(hit_marker "$server" "$tmp/runs/warm-$server-$size.h")
        [[ $marker == hit ]] || setup_failed "$server does not answer $size from its cache (after 3 requests: $marker)" \
            "$tmp/runs/warm-$server-$size.h"
        got=$(stat -c %s "$tmp/runs/warm-$server-$size.b")
        ((got == bytes_of[$size])) || bench_die "$server answered $got bytes for $size, not ${bytes_of[$size]}"
        bench_log "$server answers $size from its cache"
    done
done

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
fact servers "${servers[*]}"
fact sizes "${sizes[*]}"
if [[ " ${servers[*]} " == *" portico "* ]]; then
    fact portico_bin "$PORTICO_BIN"
    fact portico_version "$("$PORTICO_BIN" --version 2>/dev/null | head -n1 || echo unknown)"
    fact portico_build_type "${build_type:-unset}"
    [[ $build_type == Release ]] || bench_log "warning: $PORTICO_BIN is a '$build_type' build, not Release"
fi
command -v nginx >/dev/null && fact nginx_version "$(nginx -v 2>&1 | sed 's/^nginx version: //')"
command -v varnishd >/dev/null && fact varnish_version "$(varnishd -V 2>&1 | head -n1 | sed -n 's/.*(\(varnish-[^ ]*\).*/\1/p')"
fact wrk_version "$(wrk -v 2>&1 | head -n1 | awk '{print $1, $2}')"
fact connections "$CONNECTIONS"
fact server_core "$SERVER_CORE"
fact wrk_core "$WRK_CORE"
fact rounds "$ROUNDS"
fact duration "$DURATION"
fact warmup "$WARMUP"
fact loadavg "$(cut -d' ' -f1-3 /proc/loadavg)"
for size in "${sizes[@]}"; do
    fact "app_requests_warm_$size" "$(app_count "${app_path_of[$size]}")"
done
for server in "${servers[@]}"; do
    # shellcheck disable=SC2046  # word splitting of the PID list is intended
    fact "${server}_rss_before_kib" "$(bench_rss_kib $(bench_proc_tree "${pid_of[$server]}"))"
done

# ---------------------------------------------------------------------------------------------
# Rounds.

clk_tck=$(getconf CLK_TCK)
# Whether the kernel charges interrupt time to the interrupted task (then it is already inside the
# servers' CPU time and must not be subtracted again for "other processes"); see lib/common.sh.
irq_in_task=$(bench_irq_in_task_time)
fact irq_in_task_time "$irq_in_task"
runs=$tmp/runs.tsv
printf 'server\tsize\tround\trequests\tseconds\trps\tp50_us\tp99_us\tserver_cpu_us\tapp_requests\twrk_busy_pct\terrors\tcore_busy_pct\tcore_irq_pct\tcore_other_pct\tmax_us\tbytes_per_req\n' >"$runs"

run_wrk() {
    local server=$1 size=$2 round=$3 duration=$4
    local url out timefile line pids p0 p1 a0 a1 app_ticks0 app_ticks1 kv real user sys
    local c0_busy c0_total c0_irq c1_busy c1_total c1_irq
    local -A r=()
    url="http://127.0.0.1:${port_of[$server]}${path_of[$size]}"
    out="$tmp/runs/$server-$size-$round.txt"
    timefile="$tmp/runs/$server-$size-$round.time"
    pids=$(bench_proc_tree "${pid_of[$server]}")

    a0=$(app_total)
    # shellcheck disable=SC2086  # PID lists split on purpose
    p0=$(bench_cpu_ticks $pids)
    app_ticks0=$(bench_cpu_ticks "$app_pid")
    read -r c0_busy c0_total c0_irq < <(bench_core_jiffies "$SERVER_CORE")
    local TIMEFORMAT='%R %U %S'
    if ! { time taskset -c "$WRK_CORE" wrk -t1 -c"$CONNECTIONS" -d"$duration" --latency \
        -s "$here/lib/wrk_report.lua" "$url" >"$out" 2>&1; } 2>"$timefile"; then
        setup_failed "wrk failed against $server" "$out"
    fi
    # shellcheck disable=SC2086
    p1=$(bench_cpu_ticks $pids)
    app_ticks1=$(bench_cpu_ticks "$app_pid")
    read -r c1_busy c1_total c1_irq < <(bench_core_jiffies "$SERVER_CORE")
    a1=$(app_total)
    alive_or_die
    [[ $round == warmup ]] && return 0

    line=$(grep '^RESULT ' "$out") || setup_failed "wrk printed no result against $server" "$out"
    for kv in ${line#RESULT }; do r[${kv%%=*}]=${kv#*=}; done
    ((r[requests] > 0)) || setup_failed "no request completed against $server" "$out"
    read -r real user sys <"$timefile"
    awk -v s="$server" -v z="$size" -v rd="$round" -v n="${r[requests]}" -v dus="${r[duration_us]}" \
        -v p50="${r[p50_us]}" -v p99="${r[p99_us]}" -v maxl="${r[max_us]}" -v dp=$((p1 - p0)) \
        -v dapp=$((app_ticks1 - app_ticks0)) -v appreq=$((a1 - a0)) -v bytes="${r[bytes]}" \
        -v hz="$clk_tck" -v real="$real" -v user="$user" -v sys="$sys" -v irq_in_task="$irq_in_task" \
        -v errs=$((r[err_connect] + r[err_read] + r[err_write] + r[err_status] + r[err_timeout])) \
        -v cbusy=$((c1_busy - c0_busy)) -v ctotal=$((c1_total - c0_total)) -v cirq=$((c1_irq - c0_irq)) \
        'BEGIN {
            secs = dus / 1e6
            busy = ctotal > 0 ? cbusy / ctotal * 100 : 0
            irq = ctotal > 0 ? cirq / ctotal * 100 : 0
            notours = irq_in_task == "yes" ? cbusy - dp - dapp : cbusy - cirq - dp - dapp
            other = ctotal > 0 ? notours / ctotal * 100 : 0
            if (other < 0) other = 0
            printf "%s\t%s\t%d\t%d\t%.3f\t%.1f\t%d\t%d\t%.2f\t%d\t%.1f\t%d\t%.1f\t%.1f\t%.1f\t%d\t%.0f\n", s, z, rd, n,
                secs, n / secs, p50, p99, dp / hz * 1e6 / n, appreq, (user + sys) / real * 100, errs,
                busy, irq, other, maxl, bytes / n
        }' >>"$runs"
    tail -n1 "$runs" | awk -F'\t' '{
        printf "round %d %-8s %-5s %8.0f req/s  p50 %.3f ms  p99 %.3f ms  server %.1f us/req  app requests %d  wrk %.0f%%  core %.0f%% (irq %.0f%%, other %.0f%%)  errors %d\n",
            $3, $1, $2, $6, $7 / 1000, $8 / 1000, $9, $10, $11, $13, $14, $15, $12 }' >&2
}

for size in "${sizes[@]}"; do
    bench_log "$size: warm-up of $WARMUP against each cache"
    for server in "${servers[@]}"; do run_wrk "$server" "$size" warmup "$WARMUP"; done
    bench_log "$size: $ROUNDS rounds of $DURATION per cache, wrk -t1 -c$CONNECTIONS on core $WRK_CORE, servers on core $SERVER_CORE"
    n=${#servers[@]}
    for ((round = 1; round <= ROUNDS; round++)); do
        # Rotate who goes first, so drift (thermal, other tenants) does not favour one server.
        for ((k = 0; k < n; k++)); do
            run_wrk "${servers[(round - 1 + k) % n]}" "$size" "$round" "$DURATION"
        done
    done
done

for server in "${servers[@]}"; do
    # shellcheck disable=SC2046
    fact "${server}_rss_after_kib" "$(bench_rss_kib $(bench_proc_tree "${pid_of[$server]}"))"
done
if [[ " ${servers[*]} " == *" portico "* ]]; then
    stats=$(curl -s -m 5 "http://127.0.0.1:$admin_port/cache" | tr -d '\n' || true)
    fact portico_cache_stats "${stats:-unavailable}"
fi

# ---------------------------------------------------------------------------------------------
# Summary.

mkdir -p "$RESULTS_DIR"
stamp=$(date +%Y%m%d-%H%M%S)
result_file=$RESULTS_DIR/cache_hits-$stamp.txt
"$BENCH_PY" "$here/lib/summarize.py" --cache "$runs" "$facts" >"$result_file" ||
    bench_die "could not summarize (raw data in $runs)"
cp "$runs" "$RESULTS_DIR/cache_hits-$stamp.runs.tsv"
echo
cat "$result_file"
echo
echo "results written to $result_file (raw runs: ${result_file%.txt}.runs.tsv)"
