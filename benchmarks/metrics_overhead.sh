#!/usr/bin/env bash
# Request-metrics overhead benchmark (issue 7: "overhead on the request path under 2%, measure
# it"): the same tree built twice, with and without the per-request metric updates
# (-DPORTICO_NO_REQUEST_METRICS=ON), both run as a keep-alive reverse proxy in front of the same
# nginx origin, alternated round by round; the overhead is the median of the per-round paired
# ratios of proxy CPU per request, on/off - 1. See benchmarks/README.md for how to read it.
#
# Usage: benchmarks/metrics_overhead.sh
# Environment (defaults in brackets):
#   PORTICO_BIN_ON  [build it]     a Release binary with request metrics (the normal build)
#   PORTICO_BIN_OFF [build it]     a Release binary built with -DPORTICO_NO_REQUEST_METRICS=ON
#                                  Unset: built from this tree into build-bench-metrics-on/-off
#                                  (cmake -G Ninja -DCMAKE_BUILD_TYPE=Release, ninja -j2 portico).
#   ROUNDS [7]  DURATION [10s]  WARMUP [3s]  CONNECTIONS [64]
#   SERVER_CORE [0]  WRK_CORE [1]  RESULTS_DIR [benchmarks/results]
#   KEEP_TMP [0]                   1: keep the temp dir (configs, logs, raw wrk output)
#   AA_TEST [0]                    1: an A/A run, the metrics-on binary in both slots: its
#                                  "overhead" is this machine's noise floor, not a cost
# Exit status: 0 when the benchmark ran (whatever the figures), 1 on a setup failure (missing
# tool, failed build, a server that does not start or dies, binaries that are not what their
# names say). Benchmarks report; they do not assert.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$here/lib/common.sh"

ROUNDS=${ROUNDS:-7}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-3s}
CONNECTIONS=${CONNECTIONS:-64}
# Pinning as in proxy_passthrough.sh: the origin and the proxy under test on SERVER_CORE, wrk
# alone on WRK_CORE. Only one of the two porticos is under load at a time; the idle one costs
# nothing.
SERVER_CORE=${SERVER_CORE:-0}
WRK_CORE=${WRK_CORE:-1}
PORTICO_BIN_ON=${PORTICO_BIN_ON:-}
PORTICO_BIN_OFF=${PORTICO_BIN_OFF:-}
RESULTS_DIR=${RESULTS_DIR:-$repo/benchmarks/results}
KEEP_TMP=${KEEP_TMP:-0}
AA_TEST=${AA_TEST:-0}
BODY_BYTES=1024
# At most two compile jobs: the reference machine has two cores and is shared.
BUILD_JOBS=2

# ---------------------------------------------------------------------------------------------
# Checks before anything starts.

for tool in nginx wrk curl taskset; do
    command -v "$tool" >/dev/null || bench_die "$tool not found (run .ci/setup-deps as root)"
done
[[ $AA_TEST == 0 || $AA_TEST == 1 ]] || bench_die "AA_TEST takes 0 or 1, got '$AA_TEST'"
((AA_TEST == 0)) || PORTICO_BIN_OFF=${PORTICO_BIN_ON:-}
if [[ -z $PORTICO_BIN_ON || -z $PORTICO_BIN_OFF ]]; then
    for tool in cmake ninja; do
        command -v "$tool" >/dev/null ||
            bench_die "$tool not found: it builds the two binaries (run .ci/setup-deps as root, or give PORTICO_BIN_ON and PORTICO_BIN_OFF)"
    done
fi
[[ -x $BENCH_PY ]] || bench_die "$BENCH_PY not found (run .ci/setup-deps as root)"
for bin in "$PORTICO_BIN_ON" "$PORTICO_BIN_OFF"; do
    [[ -z $bin || -x $bin ]] || bench_die "not an executable: $bin"
done
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || bench_die "ROUNDS must be a positive integer, got '$ROUNDS'"
for d in "$DURATION" "$WARMUP"; do
    [[ $d =~ ^[1-9][0-9]*[smh]?$ ]] || bench_die "durations look like 10s, 2m: got '$d'"
done
if (($(nproc) < 2)); then
    bench_log "warning: fewer than 2 cores available; wrk shares the servers' core"
    SERVER_CORE=0 WRK_CORE=0
fi

# Like for like: the environment must not change portico's worker count or log level.
unset PORTICO_WORKERS PORTICO_LOG_LEVEL
nofile=$(bench_raise_nofile 65536)

# ---------------------------------------------------------------------------------------------
# Temp dir, cleanup.

tmp=$(mktemp -d /tmp/mbench-XXXXXX)
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

# Prints the last lines of a log and fails the run.
setup_failed() {
    local what=$1 log=$2
    if [[ -s $log ]]; then
        printf -- '--- last lines of %s ---\n' "$log" >&2
        tail -n 20 "$log" >&2
    fi
    bench_die "$what"
}

# ---------------------------------------------------------------------------------------------
# The two binaries.

declare -A bin_of=([on]=$PORTICO_BIN_ON [off]=$PORTICO_BIN_OFF)

# Builds portico from this tree into build-bench-metrics-VARIANT (an up-to-date dir costs only
# ninja's check) and sets bin_of[VARIANT]. The option is always passed explicitly, so a reused
# build dir cannot keep a stale value.
build_variant() {
    local variant=$1 no_metrics=$2 dir=$repo/build-bench-metrics-$1 log=$tmp/build-$1.log
    bench_log "building the metrics-$variant binary in $dir (-DPORTICO_NO_REQUEST_METRICS=$no_metrics)"
    cmake -S "$repo" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DPORTICO_BUILD_TESTS=OFF \
        -DPORTICO_NO_REQUEST_METRICS="$no_metrics" >"$log" 2>&1 ||
        setup_failed "cmake failed for $dir" "$log"
    ninja -C "$dir" -j"$BUILD_JOBS" portico >>"$log" 2>&1 || setup_failed "ninja failed in $dir" "$log"
    bin_of[$variant]=$dir/portico
}

[[ -n ${bin_of[on]} ]] || build_variant on OFF
if ((AA_TEST)); then
    bin_of[off]=${bin_of[on]}
    bench_log "A/A run: ${bin_of[on]} in both slots; the 'overhead' measured is noise"
else
    [[ -n ${bin_of[off]} ]] || build_variant off ON
    if [[ ${bin_of[on]} -ef ${bin_of[off]} ]]; then
        bench_die "PORTICO_BIN_ON and PORTICO_BIN_OFF are the same file (AA_TEST=1 runs one binary twice on purpose)"
    fi
fi

# What the build dir says about a binary: "BUILD_TYPE NO_REQUEST_METRICS", "unknown" when the
# binary does not sit in a CMake build dir.
build_facts() {
    local cache_file type flag
    cache_file=$(dirname "$1")/CMakeCache.txt
    [[ -f $cache_file ]] || { echo "unknown unknown"; return; }
    type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$cache_file")
    flag=$(sed -n 's/^PORTICO_NO_REQUEST_METRICS:[A-Z]*=//p' "$cache_file")
    echo "${type:-unset} ${flag:-unset}"
}

# ---------------------------------------------------------------------------------------------
# Ports, content, configs: the origin and portico exactly as in proxy_passthrough.sh.

mapfile -t ports < <(bench_free_ports 5)
((${#ports[@]} == 5)) || bench_die "could not pick free ports"
origin_port=${ports[0]}
declare -A port_of=([on]=${ports[1]} [off]=${ports[2]}) admin_of=([on]=${ports[3]} [off]=${ports[4]})
bench_log "ports: origin $origin_port, portico metrics-on ${port_of[on]}, metrics-off ${port_of[off]}; temp dir $tmp"

mkdir -p "$tmp/www" "$tmp/origin" "$tmp/portico-on" "$tmp/portico-off" "$tmp/runs"
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

# keepalive_requests raised: nginx's default (1000) would reconnect during the run.
cat >"$tmp/origin/nginx.conf" <<EOF
# Origin: serves one static 1 KiB JSON file. Started by metrics_overhead.sh.
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

for variant in on off; do
    cat >"$tmp/portico-$variant/portico.yaml" <<EOF
# portico under test (metrics-$variant): one worker, keep-alive to the origin, nothing but pass-through.
workers: 1
listen: 127.0.0.1:${port_of[$variant]}
upstream: { address: 127.0.0.1:$origin_port, keepalive: 64 }
limits: { max_connections: 20000, idle_timeout: 5m }
cache: { enabled: false }
compression: { enabled: false }
pool: { enabled: false }
admin: { listen: 127.0.0.1:${admin_of[$variant]} }
log: { level: warn, access_log: off }
EOF
    if ! "${bin_of[$variant]}" -t --config "$tmp/portico-$variant/portico.yaml" >"$tmp/portico-$variant/check.log" 2>&1; then
        setup_failed "portico metrics-$variant (${bin_of[$variant]}) rejects the benchmark config" "$tmp/portico-$variant/check.log"
    fi
done

# ---------------------------------------------------------------------------------------------
# Start the servers.

taskset -c "$SERVER_CORE" nginx -p "$tmp/origin/" -c "$tmp/origin/nginx.conf" -e "$tmp/origin/error.log" \
    -g 'daemon off;' >"$tmp/origin/stdout.log" 2>&1 &
origin_pid=$!
started_pids+=("$origin_pid")
bench_wait_http "http://127.0.0.1:$origin_port$path" "$origin_pid" ||
    setup_failed "origin nginx did not answer on 127.0.0.1:$origin_port" "$tmp/origin/error.log"

declare -A pid_of
for variant in on off; do
    taskset -c "$SERVER_CORE" "${bin_of[$variant]}" --config "$tmp/portico-$variant/portico.yaml" \
        >"$tmp/portico-$variant/stdout.log" 2>&1 &
    pid_of[$variant]=$!
    started_pids+=("${pid_of[$variant]}")
    bench_wait_http "http://127.0.0.1:${port_of[$variant]}$path" "${pid_of[$variant]}" ||
        setup_failed "portico metrics-$variant did not answer on 127.0.0.1:${port_of[$variant]}" \
            "$tmp/portico-$variant/stdout.log"
done

alive_or_die() {
    local v
    for v in on off; do
        kill -0 "${pid_of[$v]}" 2>/dev/null ||
            setup_failed "portico metrics-$v exited during the run" "$tmp/portico-$v/stdout.log"
    done
    kill -0 "$origin_pid" 2>/dev/null || setup_failed "origin nginx exited during the run" "$tmp/origin/error.log"
}

# Requests counted in portico_http_requests_total (all routes and codes) on a variant's admin port.
requests_counted() {
    curl -s -m 5 "http://127.0.0.1:${admin_of[$1]}/metrics" |
        awk '/^portico_http_requests_total[{ ]/ { n += $NF } END { printf "%d\n", n }'
}

# ---------------------------------------------------------------------------------------------
# Facts for the summary.

facts=$tmp/facts.tsv
fact() { printf '%s\t%s\n' "$1" "$2" >>"$facts"; }
fact date "$(date '+%Y-%m-%d %H:%M:%S %Z')"
fact cpu "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)"
fact cores "$(nproc)"
fact kernel "$(uname -r)"
tree=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
[[ -n $(git -C "$repo" status --porcelain --untracked-files=no 2>/dev/null) ]] && tree+=" + uncommitted changes"
fact tree "$tree"
for variant in on off; do
    read -r build_type no_metrics < <(build_facts "${bin_of[$variant]}")
    fact "bin_$variant" "${bin_of[$variant]}"
    fact "version_$variant" "$("${bin_of[$variant]}" --version 2>/dev/null | head -n1 || echo unknown)"
    fact "build_type_$variant" "$build_type"
    fact "no_request_metrics_$variant" "$no_metrics"
    [[ $build_type == Release ]] || bench_log "warning: ${bin_of[$variant]} is a '$build_type' build, not Release"
done
fact nginx_version "$(nginx -v 2>&1 | sed 's/^nginx version: //')"
fact wrk_version "$(wrk -v 2>&1 | head -n1 | awk '{print $1, $2}')"
fact connections "$CONNECTIONS"
fact server_core "$SERVER_CORE"
fact wrk_core "$WRK_CORE"
fact body_bytes "$BODY_BYTES"
fact rounds "$ROUNDS"
fact duration "$DURATION"
fact warmup "$WARMUP"
fact loadavg "$(cut -d' ' -f1-3 /proc/loadavg)"
fact aa_test "$AA_TEST"
clk_tck=$(getconf CLK_TCK)
fact clk_tck "$clk_tck"
irq_in_task=$(bench_irq_in_task_time)
fact irq_in_task_time "$irq_in_task"

# ---------------------------------------------------------------------------------------------
# Rounds.

runs=$tmp/runs.tsv
printf 'variant\tround\trequests\tseconds\trps\tp50_us\tp99_us\tproxy_cpu_us\torigin_cpu_us\twrk_busy_pct\terrors\tcore_busy_pct\tcore_irq_pct\tcore_other_pct\tmax_us\tproxy_ticks\n' >"$runs"

# Runs wrk once against a VARIANT (on|off); with a ROUND number, records the run in runs.tsv.
run_wrk() {
    local variant=$1 round=$2 duration=$3
    local out timefile line p0 p1 o0 o1 kv real user sys
    local c0_busy c0_total c0_irq c1_busy c1_total c1_irq
    local -A r=()
    out="$tmp/runs/$variant-$round.txt"
    timefile="$tmp/runs/$variant-$round.time"

    # portico is one process (its threads are in /proc/PID/stat); nginx: master + worker.
    p0=$(bench_cpu_ticks "${pid_of[$variant]}")
    # shellcheck disable=SC2046  # PID list split on purpose
    o0=$(bench_cpu_ticks $(bench_proc_tree "$origin_pid"))
    read -r c0_busy c0_total c0_irq < <(bench_core_jiffies "$SERVER_CORE")
    local TIMEFORMAT='%R %U %S'
    if ! { time taskset -c "$WRK_CORE" wrk -t1 -c"$CONNECTIONS" -d"$duration" --latency \
        -s "$here/lib/wrk_report.lua" "http://127.0.0.1:${port_of[$variant]}$path" >"$out" 2>&1; } 2>"$timefile"; then
        setup_failed "wrk failed against metrics-$variant" "$out"
    fi
    p1=$(bench_cpu_ticks "${pid_of[$variant]}")
    # shellcheck disable=SC2046
    o1=$(bench_cpu_ticks $(bench_proc_tree "$origin_pid"))
    read -r c1_busy c1_total c1_irq < <(bench_core_jiffies "$SERVER_CORE")
    alive_or_die
    [[ $round == warmup ]] && return 0

    line=$(grep '^RESULT ' "$out") || setup_failed "wrk printed no result against metrics-$variant" "$out"
    for kv in ${line#RESULT }; do r[${kv%%=*}]=${kv#*=}; done
    ((r[requests] > 0)) || setup_failed "no request completed against metrics-$variant" "$out"
    read -r real user sys <"$timefile"
    awk -v s="$variant" -v rd="$round" -v n="${r[requests]}" -v dus="${r[duration_us]}" \
        -v p50="${r[p50_us]}" -v p99="${r[p99_us]}" -v maxl="${r[max_us]}" -v dp=$((p1 - p0)) -v dorig=$((o1 - o0)) \
        -v hz="$clk_tck" -v real="$real" -v user="$user" -v sys="$sys" -v irq_in_task="$irq_in_task" \
        -v errs=$((r[err_connect] + r[err_read] + r[err_write] + r[err_status] + r[err_timeout])) \
        -v cbusy=$((c1_busy - c0_busy)) -v ctotal=$((c1_total - c0_total)) -v cirq=$((c1_irq - c0_irq)) \
        'BEGIN {
            secs = dus / 1e6
            # The server core: busy, in interrupts (loopback networking, mostly softirq), and
            # taken by other processes: busy minus the proxy and the origin, minus interrupts
            # too where the kernel does not already charge them to the interrupted task (where
            # it does, as with tick-based accounting, irq + proxy + origin can exceed busy).
            busy = ctotal > 0 ? cbusy / ctotal * 100 : 0
            irq = ctotal > 0 ? cirq / ctotal * 100 : 0
            notours = irq_in_task == "yes" ? cbusy - dp - dorig : cbusy - cirq - dp - dorig
            other = ctotal > 0 ? notours / ctotal * 100 : 0
            if (other < 0) other = 0
            printf "%s\t%d\t%d\t%.3f\t%.1f\t%d\t%d\t%.3f\t%.3f\t%.1f\t%d\t%.1f\t%.1f\t%.1f\t%d\t%d\n", s, rd, n,
                secs, n / secs, p50, p99, dp / hz * 1e6 / n, dorig / hz * 1e6 / n,
                (user + sys) / real * 100, errs, busy, irq, other, maxl, dp
        }' >>"$runs"
    tail -n1 "$runs" | awk -F'\t' '{
        printf "round %d metrics-%-3s %8.0f req/s  p50 %.3f ms  p99 %.3f ms  proxy %.2f us/req  origin %.2f us/req  wrk %.0f%%  core %.0f%% (irq %.0f%%, other %.0f%%)  errors %d\n",
            $2, $1, $5, $6 / 1000, $7 / 1000, $8, $9, $10, $12, $13, $14, $11 }' >&2
}

bench_log "warm-up: $WARMUP against each binary"
run_wrk on warmup "$WARMUP"
run_wrk off warmup "$WARMUP"

# The two binaries must be what their names say: metrics-on counts the warm-up, metrics-off
# counts nothing. Swapped or mislabelled binaries would measure nothing.
counted_on=$(requests_counted on)
counted_off=$(requests_counted off)
fact requests_counted_on "$counted_on"
fact requests_counted_off "$counted_off"
bench_log "after the warm-up, portico_http_requests_total: metrics-on $counted_on, metrics-off $counted_off"
((counted_on > 0)) || bench_die "metrics-on (${bin_of[on]}) counted no request in /metrics: not a build with request metrics"
((AA_TEST || counted_off == 0)) ||
    bench_die "metrics-off (${bin_of[off]}) counted $counted_off requests: not built with -DPORTICO_NO_REQUEST_METRICS=ON"

bench_log "$ROUNDS rounds of $DURATION per binary, wrk -t1 -c$CONNECTIONS on core $WRK_CORE, servers on core $SERVER_CORE"
for ((round = 1; round <= ROUNDS; round++)); do
    # Alternate who goes first, so drift (thermal, other tenants) does not favour one side.
    if ((round % 2)); then order=(on off); else order=(off on); fi
    for variant in "${order[@]}"; do
        run_wrk "$variant" "$round" "$DURATION"
    done
done

# ---------------------------------------------------------------------------------------------
# Summary.

mkdir -p "$RESULTS_DIR"
stamp=$(date +%Y%m%d-%H%M%S)
result_file=$RESULTS_DIR/metrics_overhead-$stamp.txt
"$BENCH_PY" "$here/lib/summarize.py" --metrics "$runs" "$facts" >"$result_file" ||
    bench_die "could not summarize (raw data in $runs)"
cp "$runs" "$RESULTS_DIR/metrics_overhead-$stamp.runs.tsv"
echo
cat "$result_file"
echo
echo "results written to $result_file (raw runs: ${result_file%.txt}.runs.tsv)"
