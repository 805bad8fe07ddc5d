#!/usr/bin/env bash
# Per-route policies (issue 4) against nginx, in one run: gzip of a 100 KiB JSON response on every
# request at level 1 and level 6 (portico's compression stage vs nginx's gzip filter, both proxying
# the same origin), compressed cache hits (portico stores the gzip variant; nginx proxy_cache
# stores the plain response and its gzip filter compresses every hit), and the cost of a rate limit
# (a limited route vs an unlimited one in the same portico), and static files of 1 KiB and 1 MiB
# from disk (portico's static route vs nginx's sendfile, both with an open-file cache). Every server process on one
# core, wrk alone on the other, rounds alternating which server goes first; prints medians, the
# ratios portico/nginx and the issue's targets. See benchmarks/README.md for how to read it.
#
# Usage: benchmarks/route_policies.sh
# Environment (defaults in brackets):
#   PORTICO_BIN [build/portico]   the binary under test (build it Release first)
#   SCENARIOS ["gzip1 gzip6 gziphit ratelimit static1k static1m"]   which comparisons to run
#   ROUNDS [5]  DURATION [10s]  WARMUP [3s]  CONNECTIONS [64]
#   SERVER_CORE [0]  WRK_CORE [1]  RESULTS_DIR [benchmarks/results]  KEEP_TMP [0]
# Exit status: 0 when the benchmark ran (whatever the figures), 1 on a setup failure (missing tool,
# a server that does not start or dies, an answer that is not what the scenario needs).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$here/lib/common.sh"

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-3s}
CONNECTIONS=${CONNECTIONS:-64}
SERVER_CORE=${SERVER_CORE:-0}
WRK_CORE=${WRK_CORE:-1}
PORTICO_BIN=${PORTICO_BIN:-$repo/build/portico}
RESULTS_DIR=${RESULTS_DIR:-$repo/benchmarks/results}
KEEP_TMP=${KEEP_TMP:-0}
SCENARIOS=${SCENARIOS:-gzip1 gzip6 gziphit ratelimit static1k static1m}
read -r -a scenarios <<<"$SCENARIOS"

# Each scenario compares two servers (the second is the reference): what each is asked for, and
# the Accept-Encoding wrk sends. "unlimited" is the same portico as "portico", on a route without
# a rate limit.
declare -A servers_of=(
    [gzip1]="portico nginx" [gzip6]="portico nginx" [gziphit]="portico nginx" [ratelimit]="portico unlimited"
    [static1k]="portico nginx" [static1m]="portico nginx"
)
declare -A path_of=(
    [gzip1:portico]=/gz1/100k.json [gzip1:nginx]=/gz1/100k.json
    [gzip6:portico]=/gz6/100k.json [gzip6:nginx]=/gz6/100k.json
    [gziphit:portico]=/hit/100k.json [gziphit:nginx]=/hit/100k.json
    [ratelimit:portico]=/rl/1k.json [ratelimit:unlimited]=/free/1k.json
    [static1k:portico]=/files/1k.bin [static1k:nginx]=/files/1k.bin
    [static1m:portico]=/files/1m.bin [static1m:nginx]=/files/1m.bin
)
declare -A encoding_of=([gzip1]=gzip [gzip6]=gzip [gziphit]=gzip [ratelimit]=identity [static1k]=identity [static1m]=identity)
declare -A text_of=(
    [gzip1]="gzip level 1 of a 100 KiB JSON response, every request (no cache)"
    [gzip6]="gzip level 6 of a 100 KiB JSON response, every request (no cache)"
    [gziphit]="compressed cache hits of a 100 KiB JSON response (level 1; nginx: proxy_cache + gzip)"
    [ratelimit]="a rate-limited route (a token per request, never refused) vs an unlimited one, 1 KiB proxied"
    [static1k]="a 1 KiB static file from disk (portico: static route; nginx: sendfile on, open_file_cache)"
    [static1m]="a 1 MiB static file from disk (portico: static route; nginx: sendfile on, open_file_cache)"
)

# ---------------------------------------------------------------------------------------------
# Checks before anything starts.

for tool in wrk curl taskset nginx; do
    command -v "$tool" >/dev/null || bench_die "$tool not found (run .ci/setup-deps as root)"
done
[[ -x $BENCH_PY ]] || bench_die "$BENCH_PY not found (run .ci/setup-deps as root)"
[[ -x $PORTICO_BIN ]] || bench_die "portico binary not found at $PORTICO_BIN; build it with:
  cmake -S $repo -B $repo/build-release -G Ninja -DCMAKE_BUILD_TYPE=Release && ninja -C $repo/build-release portico"
((${#scenarios[@]} > 0)) || bench_die "SCENARIOS is empty"
for sc in "${scenarios[@]}"; do
    [[ -n ${servers_of[$sc]:-} ]] || bench_die "unknown scenario '$sc' (${!servers_of[*]})"
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

bench_temp_dir /tmp/portico-bench-policies.XXXXXX

# ---------------------------------------------------------------------------------------------
# The documents, the configs.

mapfile -t ports < <(bench_free_ports 4)
((${#ports[@]} == 4)) || bench_die "could not pick free ports"
origin_port=${ports[0]} portico_port=${ports[1]} nginx_port=${ports[2]} admin_port=${ports[3]}
bench_log "ports: origin $origin_port, portico $portico_port, nginx $nginx_port; temp dir $tmp"
mkdir -p "$tmp/origin/www" "$tmp/portico" "$tmp/nginx/cache" "$tmp/runs"
chmod 777 "$tmp/nginx/cache"

# A 100 KiB JSON document that compresses like real API output (records with varied ids, names,
# numbers and dates), not a run of one repeated byte; the same bytes under every path.
"$BENCH_PY" - "$tmp/origin/www/100k.json" <<'EOF'
import json, random, sys
rnd = random.Random(42)
words = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar "
         "papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu").split()
records, size = [], 2
while size < 102400:
    r = {"id": rnd.randrange(10**9), "name": " ".join(rnd.choice(words).title() for _ in range(2)),
         "email": f"{rnd.choice(words)}.{rnd.choice(words)}{rnd.randrange(1000)}@example.com",
         "score": round(rnd.random() * 1000, 3), "active": rnd.random() < 0.5,
         "tags": rnd.sample(words, 3), "created": f"2026-{rnd.randrange(1, 13):02d}-{rnd.randrange(1, 29):02d}T"
         f"{rnd.randrange(24):02d}:{rnd.randrange(60):02d}:{rnd.randrange(60):02d}Z"}
    records.append(r)
    size = len(json.dumps(records, separators=(",", ":")))
text = json.dumps(records[:-1], separators=(",", ":"))
text = text[:-1] + " " * (102400 - len(text)) + "]"
open(sys.argv[1], "w").write(text)
EOF
for d in gz1 gz6 hit; do
    mkdir -p "$tmp/origin/www/$d"
    cp "$tmp/origin/www/100k.json" "$tmp/origin/www/$d/100k.json"
done
# The 1 KiB JSON of proxy_passthrough.sh, for the rate-limit comparison.
"$BENCH_PY" -c 'import json, sys; d = {"id": 1, "items": list(range(10))}; s = json.dumps(d); s += " " * (1023 - len(s)); open(sys.argv[1], "w").write(s + "\n")' \
    "$tmp/origin/www/1k.json"
for d in rl free; do
    mkdir -p "$tmp/origin/www/$d"
    cp "$tmp/origin/www/1k.json" "$tmp/origin/www/$d/1k.json"
done
doc_bytes=$(stat -c %s "$tmp/origin/www/100k.json")
# The static files, served from disk by both servers (no origin involved).
mkdir -p "$tmp/static/files"
head -c 1024 /dev/urandom >"$tmp/static/files/1k.bin"
head -c $((1024 * 1024)) /dev/urandom >"$tmp/static/files/1m.bin"

cat >"$tmp/origin/nginx.conf" <<EOF
# The origin: nginx serving the documents, no compression, cacheable for an hour.
worker_processes 1;
worker_rlimit_nofile $nofile;
error_log $tmp/origin/error.log warn;
pid $tmp/origin/nginx.pid;
events { worker_connections 4096; }
http {
    access_log $tmp/origin/access.log;
    keepalive_timeout 300s;
    keepalive_requests 1000000;
    default_type application/json;
    types { application/json json; }
    server {
        listen 127.0.0.1:$origin_port;
        root $tmp/origin/www;
        location / { expires 1h; }
    }
}
EOF

cat >"$tmp/nginx/nginx.conf" <<EOF
# nginx under comparison: one worker; its gzip filter on proxied responses (gzip_proxied any),
# and proxy_cache for /hit/ (the plain response is stored; gzip runs on every hit).
worker_processes 1;
worker_rlimit_nofile $nofile;
error_log $tmp/nginx/error.log warn;
pid $tmp/nginx/nginx.pid;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_timeout 300s;
    keepalive_requests 1000000;
    gzip on;
    gzip_types application/json;
    gzip_proxied any;
    gzip_min_length 1000;
    gzip_vary on;
    sendfile on;
    open_file_cache max=1000 inactive=20s;
    open_file_cache_valid 1s;
    default_type application/octet-stream;
    proxy_cache_path $tmp/nginx/cache levels=1:2 keys_zone=bench:10m max_size=1g inactive=1h use_temp_path=off;
    upstream origin {
        server 127.0.0.1:$origin_port;
        keepalive 16;
    }
    server {
        listen 127.0.0.1:$nginx_port;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        location /gz1/ { gzip_comp_level 1; proxy_pass http://origin; }
        location /gz6/ { gzip_comp_level 6; proxy_pass http://origin; }
        location /hit/ {
            gzip_comp_level 1;
            proxy_pass http://origin;
            proxy_cache bench;
            proxy_cache_valid 200 1h;
            proxy_cache_lock on;
            add_header X-Cache-Status \$upstream_cache_status always;
        }
        location /files/ { root $tmp/static; }
        location / { proxy_pass http://origin; }
    }
}
EOF

cat >"$tmp/portico/portico.yaml" <<EOF
# portico under test: one worker; compression per route; the cache only for /hit/.
workers: 1
listen: 127.0.0.1:$portico_port
upstream: { address: 127.0.0.1:$origin_port, keepalive: 16 }
limits: { max_connections: 20000, idle_timeout: 5m }
cache: { enabled: true, path: $tmp/portico/cache, max_size: 1GiB }
compression: { enabled: true, level: 1, min_size: 1000, types: [application/json] }
pool: { enabled: false }
admin: { listen: 127.0.0.1:$admin_port }
log: { level: warn, access_log: off }
routes:
  global_defaults:
    cache: { enabled: false }
  patterns:
    "/gz1/*": { compression: { level: 1 } }
    "/gz6/*": { compression: { level: 6 } }
    "/hit/*": { compression: { level: 1 }, cache: { enabled: true } }
    # never refuses (the bucket refills faster than any load here), but takes a token per request
    "/rl/*": { compression: { enabled: false }, rate_limit: { rate: 10000000/s, burst: 10000000 } }
    "/free/*": { compression: { enabled: false } }
    "/files/*": { static: { root: $tmp/static/files, precompressed: false } }
EOF

# ---------------------------------------------------------------------------------------------
# Start the servers.

taskset -c "$SERVER_CORE" nginx -p "$tmp/origin/" -c "$tmp/origin/nginx.conf" -e "$tmp/origin/error.log" \
    -g 'daemon off;' >"$tmp/origin/stdout.log" 2>&1 &
origin_pid=$!
started_pids+=("$origin_pid")
bench_wait_http "http://127.0.0.1:$origin_port/100k.json" "$origin_pid" 30 ||
    bench_setup_failed "the origin did not answer on 127.0.0.1:$origin_port" "$tmp/origin/error.log"

"$PORTICO_BIN" -t --config "$tmp/portico/portico.yaml" >"$tmp/portico/check.log" 2>&1 ||
    bench_setup_failed "portico rejects the benchmark config" "$tmp/portico/check.log"
taskset -c "$SERVER_CORE" "$PORTICO_BIN" --config "$tmp/portico/portico.yaml" >"$tmp/portico/stdout.log" 2>&1 &
declare -A pid_of port_of log_of
pid_of[portico]=$!
started_pids+=("${pid_of[portico]}")
taskset -c "$SERVER_CORE" nginx -p "$tmp/nginx/" -c "$tmp/nginx/nginx.conf" -e "$tmp/nginx/error.log" \
    -g 'daemon off;' >"$tmp/nginx/stdout.log" 2>&1 &
pid_of[nginx]=$!
started_pids+=("${pid_of[nginx]}")
pid_of[unlimited]=${pid_of[portico]}
port_of=([portico]=$portico_port [nginx]=$nginx_port [unlimited]=$portico_port)
log_of=([portico]=$tmp/portico/stdout.log [nginx]=$tmp/nginx/error.log [unlimited]=$tmp/portico/stdout.log)
servers=(portico nginx)
for s in "${servers[@]}"; do
    bench_wait_http "http://127.0.0.1:${port_of[$s]}/100k.json" "${pid_of[$s]}" 30 ||
        bench_setup_failed "$s did not answer on 127.0.0.1:${port_of[$s]}" "${log_of[$s]}"
done

alive_or_die() {
    local s
    kill -0 "$origin_pid" 2>/dev/null || bench_setup_failed "the origin exited during the run" "$tmp/origin/error.log"
    for s in "${servers[@]}"; do
        kill -0 "${pid_of[$s]}" 2>/dev/null || bench_setup_failed "$s exited during the run" "${log_of[$s]}"
    done
}
origin_requests() { wc -l <"$tmp/origin/access.log"; }

# ---------------------------------------------------------------------------------------------
# Every server answers every scenario as it must before anything is measured: gzip, the original
# bytes once decoded, and for the hit scenario a cache hit.

decodes_to_original() {
    "$BENCH_PY" -c 'import gzip, sys; sys.exit(0 if gzip.decompress(open(sys.argv[1], "rb").read()) == open(sys.argv[2], "rb").read() else 1)' \
        "$1" "$tmp/origin/www/100k.json"
}
for sc in "${scenarios[@]}"; do
    for s in ${servers_of[$sc]}; do
        url="http://127.0.0.1:${port_of[$s]}${path_of[$sc:$s]}"
        h="$tmp/runs/check-$sc-$s.h" b="$tmp/runs/check-$sc-$s.b"
        for _ in 1 2 3 4 5; do
            code=$(curl -s -m 10 -H "Accept-Encoding: ${encoding_of[$sc]}" -D "$h" -o "$b" -w '%{http_code}' "$url") ||
                code=000
            [[ $code == 200 ]] || bench_setup_failed "$s answered $code for $url" "${log_of[$s]}"
            [[ $sc != gziphit ]] && break
            grep -qiE '^x-cache(-status)?: *HIT' "$h" && break
            sleep 0.5  # the write-behind store commits in a moment
        done
        case $sc in
            gzip*)
                grep -qi '^content-encoding: *gzip' "$h" || bench_die "$s did not gzip $url: $(tr -d '\r' <"$h" | tr '\n' ' ')"
                decodes_to_original "$b" || bench_die "$s: the gzip body of $url does not decode to the document"
                ;;
            static*)
                cmp -s "$b" "$tmp/static/files/${path_of[$sc:$s]##*/}" || bench_die "$s: $url is not the file on disk"
                ;;
            ratelimit)
                cmp -s "$b" "$tmp/origin/www/1k.json" || bench_die "$s: $url is not the 1 KiB document"
                if [[ $s == portico ]]; then
                    grep -qi '^ratelimit-limit:' "$h" || bench_die "portico: $url carries no RateLimit-Limit"
                else
                    grep -qi '^ratelimit-limit:' "$h" && bench_die "portico: $url is limited, it should not be"
                fi
                ;;
        esac
        if [[ $sc == gziphit ]]; then
            grep -qiE '^x-cache(-status)?: *HIT' "$h" || bench_die "$s does not answer $url from its cache"
        fi
        bench_log "$sc: $s answers as it should ($(stat -c %s "$b") bytes)"
    done
done

# ---------------------------------------------------------------------------------------------
# Facts for the summary.

facts=$tmp/facts.tsv
fact() { printf '%s\t%s\n' "$1" "$2" >>"$facts"; }
build_type=unknown
cache_file=$(dirname "$PORTICO_BIN")/CMakeCache.txt
[[ -f $cache_file ]] && build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$cache_file")
[[ $build_type == Release ]] || bench_log "warning: $PORTICO_BIN is a '$build_type' build, not Release"
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
fact rounds "$ROUNDS"
fact duration "$DURATION"
fact warmup "$WARMUP"
fact doc_bytes "$doc_bytes"
fact scenarios "${scenarios[*]}"
for sc in "${scenarios[@]}"; do fact "text_$sc" "${text_of[$sc]}"; done
fact loadavg "$(cut -d' ' -f1-3 /proc/loadavg)"

# ---------------------------------------------------------------------------------------------
# Rounds.

clk_tck=$(getconf CLK_TCK)
irq_in_task=$(bench_irq_in_task_time)
fact irq_in_task_time "$irq_in_task"
runs=$tmp/runs.tsv
printf 'scenario\tserver\tround\trequests\tseconds\trps\tp50_us\tp99_us\tserver_cpu_us\torigin_requests\twrk_busy_pct\terrors\tcore_busy_pct\tcore_irq_pct\tcore_other_pct\tmax_us\tbytes_per_req\n' >"$runs"

run_wrk() {
    local sc=$1 server=$2 round=$3 duration=$4
    local url out timefile line pids p0 p1 o0 o1 origin_ticks0 origin_ticks1 kv real user sys
    local c0_busy c0_total c0_irq c1_busy c1_total c1_irq
    local -A r=()
    url="http://127.0.0.1:${port_of[$server]}${path_of[$sc:$server]}"
    out="$tmp/runs/$sc-$server-$round.txt"
    timefile="$tmp/runs/$sc-$server-$round.time"
    pids=$(bench_proc_tree "${pid_of[$server]}")

    o0=$(origin_requests)
    # shellcheck disable=SC2086  # PID lists split on purpose
    p0=$(bench_cpu_ticks $pids)
    # shellcheck disable=SC2046
    origin_ticks0=$(bench_cpu_ticks $(bench_proc_tree "$origin_pid"))
    read -r c0_busy c0_total c0_irq < <(bench_core_jiffies "$SERVER_CORE")
    local TIMEFORMAT='%R %U %S'
    if ! { time taskset -c "$WRK_CORE" wrk -t1 -c"$CONNECTIONS" -d"$duration" --latency -H "Accept-Encoding: ${encoding_of[$sc]}" \
        -s "$here/lib/wrk_report.lua" "$url" >"$out" 2>&1; } 2>"$timefile"; then
        bench_setup_failed "wrk failed against $server" "$out"
    fi
    # shellcheck disable=SC2086
    p1=$(bench_cpu_ticks $pids)
    # shellcheck disable=SC2046
    origin_ticks1=$(bench_cpu_ticks $(bench_proc_tree "$origin_pid"))
    read -r c1_busy c1_total c1_irq < <(bench_core_jiffies "$SERVER_CORE")
    o1=$(origin_requests)
    alive_or_die
    [[ $round == warmup ]] && return 0

    line=$(grep '^RESULT ' "$out") || bench_setup_failed "wrk printed no result against $server" "$out"
    for kv in ${line#RESULT }; do r[${kv%%=*}]=${kv#*=}; done
    ((r[requests] > 0)) || bench_setup_failed "no request completed against $server" "$out"
    read -r real user sys <"$timefile"
    awk -v sc="$sc" -v s="$server" -v rd="$round" -v n="${r[requests]}" -v dus="${r[duration_us]}" \
        -v p50="${r[p50_us]}" -v p99="${r[p99_us]}" -v maxl="${r[max_us]}" -v dp=$((p1 - p0)) \
        -v dorigin=$((origin_ticks1 - origin_ticks0)) -v oreq=$((o1 - o0)) -v bytes="${r[bytes]}" \
        -v hz="$clk_tck" -v real="$real" -v user="$user" -v sys="$sys" -v irq_in_task="$irq_in_task" \
        -v errs=$((r[err_connect] + r[err_read] + r[err_write] + r[err_status] + r[err_timeout])) \
        -v cbusy=$((c1_busy - c0_busy)) -v ctotal=$((c1_total - c0_total)) -v cirq=$((c1_irq - c0_irq)) \
        'BEGIN {
            secs = dus / 1e6
            busy = ctotal > 0 ? cbusy / ctotal * 100 : 0
            irq = ctotal > 0 ? cirq / ctotal * 100 : 0
            notours = irq_in_task == "yes" ? cbusy - dp - dorigin : cbusy - cirq - dp - dorigin
            other = ctotal > 0 ? notours / ctotal * 100 : 0
            if (other < 0) other = 0
            printf "%s\t%s\t%d\t%d\t%.3f\t%.1f\t%d\t%d\t%.2f\t%d\t%.1f\t%d\t%.1f\t%.1f\t%.1f\t%d\t%.0f\n", sc, s, rd, n,
                secs, n / secs, p50, p99, dp / hz * 1e6 / n, oreq, (user + sys) / real * 100, errs,
                busy, irq, other, maxl, bytes / n
        }' >>"$runs"
    tail -n1 "$runs" | awk -F'\t' '{
        printf "round %d %-8s %-8s %8.0f req/s  p50 %.3f ms  p99 %.3f ms  server %.1f us/req  origin requests %d  wrk %.0f%%  core %.0f%% (irq %.0f%%, other %.0f%%)  errors %d\n",
            $3, $1, $2, $6, $7 / 1000, $8 / 1000, $9, $10, $11, $13, $14, $15, $12 }' >&2
}

for sc in "${scenarios[@]}"; do
    read -r -a pair <<<"${servers_of[$sc]}"
    bench_log "$sc: warm-up of $WARMUP against each server"
    for server in "${pair[@]}"; do run_wrk "$sc" "$server" warmup "$WARMUP"; done
    bench_log "$sc: $ROUNDS rounds of $DURATION per server, wrk -t1 -c$CONNECTIONS on core $WRK_CORE, servers on core $SERVER_CORE"
    for ((round = 1; round <= ROUNDS; round++)); do
        # Alternate who goes first, so drift (thermal, other tenants) does not favour one server.
        if ((round % 2)); then order=("${pair[0]}" "${pair[1]}"); else order=("${pair[1]}" "${pair[0]}"); fi
        for server in "${order[@]}"; do run_wrk "$sc" "$server" "$round" "$DURATION"; done
    done
done

stats=$(curl -s -m 5 "http://127.0.0.1:$admin_port/stats" | "$BENCH_PY" -c 'import json, sys; print(json.dumps(json.load(sys.stdin)["compression"]))' || true)
fact portico_compression_stats "${stats:-unavailable}"

# ---------------------------------------------------------------------------------------------
# Summary.

mkdir -p "$RESULTS_DIR"
stamp=$(date +%Y%m%d-%H%M%S)
result_file=$RESULTS_DIR/route_policies-$stamp.txt
"$BENCH_PY" "$here/lib/summarize.py" --policies "$runs" "$facts" >"$result_file" ||
    bench_die "could not summarize (raw data in $runs)"
cp "$runs" "$RESULTS_DIR/route_policies-$stamp.runs.tsv"
echo
cat "$result_file"
echo
echo "results written to $result_file (raw runs: ${result_file%.txt}.runs.tsv)"
