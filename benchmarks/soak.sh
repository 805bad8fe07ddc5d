#!/usr/bin/env bash
# Soak (issue 9): one portico (2 workers: proxy + cache + compression + rate limit + pool + NOTIFY
# invalidation) in front of the demo FastAPI app and a throwaway PostgreSQL, under a bounded mixed
# workload — cache hits, misses that keep filling (and evicting from) a small cache, uploads,
# writes whose NOTIFY purges, purges through the admin port, pool transactions from pgbench, and a
# reload (SIGHUP, alternating two configs) every RELOAD_EVERY seconds. Every second it samples
# portico's RSS, open fds and threads. At the end it prints and writes the figures: requests and
# errors of each kind, and the RSS and fd slope after the warm-up (a least-squares line), which a
# leak makes grow. Outside CI: it takes SOAK_SECONDS.
#
# Usage: benchmarks/soak.sh
# Environment:
#   SOAK_SECONDS [600]        how long the load runs
#   WARMUP_SECONDS [60]       the first part, left out of the slopes (caches and pools fill)
#   RELOAD_EVERY [10]         seconds between reloads
#   PORTICO_BIN [build-release/portico]
#   RESULTS_DIR [benchmarks/results]
#   KEEP_TMP [0]              1: keep the temp dir (logs, samples) for a look afterwards
# Exit status: 0 when nothing failed (no non-2xx, socket error, failed pool transaction, failed
# purge or reload, portico alive throughout); 1 otherwise. Growth is reported, not judged: read
# the slopes against the totals.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
# shellcheck source=lib/common.sh
source "$here/lib/common.sh"

SOAK_SECONDS=${SOAK_SECONDS:-600}
WARMUP_SECONDS=${WARMUP_SECONDS:-60}
RELOAD_EVERY=${RELOAD_EVERY:-10}
PORTICO_BIN=${PORTICO_BIN:-$repo/build-release/portico}
RESULTS_DIR=${RESULTS_DIR:-$here/results}

for v in SOAK_SECONDS WARMUP_SECONDS RELOAD_EVERY; do
    [[ ${!v} =~ ^[0-9]+$ ]] || bench_die "$v must be a whole number of seconds, got '${!v}'"
done
((SOAK_SECONDS > WARMUP_SECONDS + 10)) || bench_die "SOAK_SECONDS must exceed WARMUP_SECONDS by more than 10 s"
((RELOAD_EVERY > 0)) || bench_die "RELOAD_EVERY must be at least 1"
for tool in wrk curl uvicorn; do
    [[ $tool == uvicorn ]] && { "$BENCH_PY" -c 'import uvicorn, fastapi, asyncpg' 2>/dev/null || bench_die "python3-uvicorn, -fastapi, -asyncpg missing (run .ci/setup-deps as root)"; continue; }
    command -v "$tool" >/dev/null || bench_die "$tool not found (run .ci/setup-deps as root)"
done
[[ -x $PORTICO_BIN ]] || bench_die "portico binary not found at $PORTICO_BIN; build it with:
  cmake -S $repo -B $repo/build-release -G Ninja -DCMAKE_BUILD_TYPE=Release -DPORTICO_BUILD_TESTS=OFF && ninja -C $repo/build-release portico"
bench_find_pg_bindir
bench_pg_server_user
nofile=$(bench_raise_nofile 65536)

bench_temp_dir /tmp/portico-soak.XXXXXX
mapfile -t ports < <(bench_free_ports 3)
((${#ports[@]} == 3)) || bench_die "could not pick free ports"
pg_tcp_port=${ports[0]} http_port=${ports[1]} admin_port=${ports[2]}
pool_port=6432
bench_log "soak: ${SOAK_SECONDS}s (warm-up ${WARMUP_SECONDS}s), reload every ${RELOAD_EVERY}s; temp dir $tmp"
mkdir -p "$tmp/pool" "$tmp/cache" "$tmp/wrk"
chmod 777 "$tmp/pool"

# ---- PostgreSQL: the demo's tables, and pgbench's ---------------------------------------------
ncpu=$(nproc)
bench_pg_start "$pg_tcp_port" 100 "0-$((ncpu - 1))"
bench_pg_sql -c "CREATE DATABASE demo" >/dev/null
bench_pg_sql -d demo -f "$repo/conf/demo/schema.sql" >/dev/null
bench_pgbench_init 1 "0-$((ncpu - 1))"

# ---- portico: two configs that differ in what a reload may change ----------------------------
write_config() {  # FILE POOL_SIZE HELLO_TTL
    cat >"$1" <<EOF
# portico under benchmarks/soak.sh ($2 pool servers, /api/hello cached for $3).
workers: 2
listen: 127.0.0.1:$http_port
upstream: { address: "unix:$tmp/app.sock", keepalive: 16, read_timeout: 10s }
cache:
  enabled: true
  path: $tmp/cache
  max_size: 8MiB          # small: the misses keep evicting
  notify_channel: portico_invalidate
compression: { enabled: true, min_size: 1, types: [application/json] }
routes:
  patterns:
    "/api/hello": { cache: { ttl: $3 } }
    "/api/echo": { rate_limit: { rate: 100000/s, burst: 100000 } }
pool:
  enabled: true
  socket_dir: $tmp/pool
  port: $pool_port
  mode: transaction
  auth: { type: trust }
  default_pool_size: $2
  databases:
    demo: { conninfo: "host=$pg_sock port=$pg_tcp_port dbname=demo user=postgres" }
    bench: { conninfo: "host=$pg_sock port=$pg_tcp_port dbname=bench user=postgres" }
admin: { listen: 127.0.0.1:$admin_port }
log: { level: warn, access_log: off }
EOF
}
write_config "$tmp/config-a.yaml" 8 5s
write_config "$tmp/config-b.yaml" 10 7s
cp "$tmp/config-a.yaml" "$tmp/portico.yaml"
"$PORTICO_BIN" -t --config "$tmp/portico.yaml" >"$tmp/check.log" 2>&1 || bench_setup_failed "portico rejects the soak config" "$tmp/check.log"
"$PORTICO_BIN" --config "$tmp/portico.yaml" >"$tmp/portico.log" 2>&1 &
portico_pid=$!
started_pids+=("$portico_pid")
bench_wait_http "http://127.0.0.1:$admin_port/health" "$portico_pid" 15 ||
    bench_setup_failed "portico did not answer on its admin port" "$tmp/portico.log"

# ---- the demo app, reaching the database through portico's pool ------------------------------
DATABASE_URL="postgresql://postgres@/demo?host=$tmp/pool&port=$pool_port" \
    "$BENCH_PY" -m uvicorn app:app --app-dir "$repo/conf/demo" --uds "$tmp/app.sock" \
    --log-level warning --no-access-log >"$tmp/app.log" 2>&1 &
app_pid=$!
started_pids+=("$app_pid")
# Straight to the app's socket first (portico would count the 502s of an app still starting).
for ((i = 0; i < 200; i++)); do
    [[ $(curl -s -o /dev/null -m 1 -w '%{http_code}' --unix-socket "$tmp/app.sock" http://app/api/hello 2>/dev/null) == 200 ]] && break
    kill -0 "$app_pid" 2>/dev/null || bench_setup_failed "the demo app exited at start" "$tmp/app.log"
    sleep 0.1
done
bench_wait_http "http://127.0.0.1:$http_port/api/products/1" "$app_pid" 20 ||
    bench_setup_failed "the demo app did not answer through portico" "$tmp/app.log"
log_lines_before=$(wc -l <"$tmp/portico.log")

# ---- the HTTP mix ----------------------------------------------------------------------------
# Per 20 requests: 9 hits (three items, two products, /api/hello), 4 misses (a new query string
# each: stored, then evicted as the 8 MiB cache fills), 3 uploads of 16 KiB, 2 never-cached reads
# that query the database through the pool, 1 product write (UPDATE + NOTIFY: purges on commit),
# 1 gzip-compressed hit. Every answer must be 2xx.
cat >"$tmp/wrk/mix.lua" <<'EOF'
local n = 0
local upload = string.rep("x", 16384)
local hits = { "/api/items/1", "/api/items/2", "/api/items/42", "/api/products/1", "/api/products/2",
               "/api/hello", "/api/items/1", "/api/products/1", "/api/hello" }
request = function()
  n = n + 1
  local slot = n % 20
  if slot < 9 then
    return wrk.format("GET", hits[slot + 1])
  elseif slot < 13 then
    return wrk.format("GET", "/api/items/" .. ({ 1, 2, 42 })[n % 3 + 1] .. "?v=" .. n .. "-" .. math.random(1e9))
  elseif slot < 16 then
    return wrk.format("POST", "/api/echo", { ["Content-Type"] = "text/plain" }, upload)
  elseif slot < 18 then
    return wrk.format("GET", "/api/products/reads")
  elseif slot < 19 then
    return wrk.format("POST", "/api/products/" .. (n % 2 + 1) .. "/update", { ["Content-Type"] = "application/json" },
                      '{"price": ' .. (n % 1000) / 10 .. '}')
  else
    return wrk.format("GET", "/api/items/2", { ["Accept-Encoding"] = "gzip" })
  end
end
EOF
cat "$here/lib/wrk_report.lua" >>"$tmp/wrk/mix.lua"

# ---- the run ---------------------------------------------------------------------------------
wrk -t1 -c16 -d"${SOAK_SECONDS}s" --timeout 10s -s "$tmp/wrk/mix.lua" "http://127.0.0.1:$http_port" \
    >"$tmp/wrk/out.txt" 2>&1 &
wrk_pid=$!
started_pids+=("$wrk_pid")
# Pool transactions straight from pgbench, paced (-R) so they share the database with the app.
"$pg_bindir/pgbench" -n -c 4 -j 1 -R 200 -M extended -T "$SOAK_SECONDS" -h "$tmp/pool" -p "$pool_port" \
    -U postgres bench >"$tmp/pgbench.txt" 2>&1 &
pgbench_pid=$!
started_pids+=("$pgbench_pid")

purges=0 purge_failures=0 reloads=0 reload_failures=0
# RSS counts the cache's memory map (file pages, which fill up to max_size and are the kernel's to
# drop); RssAnon is the heap and stacks, where a leak shows.
echo "t rss_kib rss_anon_kib fds threads" >"$tmp/samples.txt"
start=$SECONDS
while ((SECONDS - start < SOAK_SECONDS)); do
    t=$((SECONDS - start))
    kill -0 "$portico_pid" 2>/dev/null || { bench_log "portico exited during the soak"; break; }
    echo "$t $(bench_rss_kib "$portico_pid") $(awk '/^RssAnon:/ {print $2}' /proc/"$portico_pid"/status) $(ls /proc/"$portico_pid"/fd | wc -l) $(ls /proc/"$portico_pid"/task | wc -l)" \
        >>"$tmp/samples.txt"
    # A purge a second, by prefix, tag and key in turn: each must answer 200.
    case $((t % 3)) in
        0) body='{"prefix": "/api/items/42"}' ;;  # the misses of items 1 and 2 stay: the cache fills, evicts
        1) body='{"tag": "products"}' ;;
        *) body="{\"key\": \"http://127.0.0.1:$http_port/api/hello\"}" ;;
    esac
    purges=$((purges + 1))
    code=$(curl -s -o /dev/null -m 5 -w '%{http_code}' -X POST -d "$body" "http://127.0.0.1:$admin_port/cache/purge") || true
    [[ $code == 200 ]] || { purge_failures=$((purge_failures + 1)); bench_log "purge $body answered $code"; }
    if ((t > 0 && t % RELOAD_EVERY == 0)); then
        if ((t / RELOAD_EVERY % 2)); then cp "$tmp/config-b.yaml" "$tmp/portico.yaml"; else cp "$tmp/config-a.yaml" "$tmp/portico.yaml"; fi
        kill -HUP "$portico_pid"
        reloads=$((reloads + 1))
    fi
    sleep 1
done
wait "$wrk_pid" || true
wait "$pgbench_pid" || true
portico_alive=1
kill -0 "$portico_pid" 2>/dev/null || portico_alive=0
stats=$(curl -s -m 5 "http://127.0.0.1:$admin_port/stats" || echo '{}')
echo "$stats" >"$tmp/stats.json"
reload_failures=$("$BENCH_PY" -c 'import json,sys; print(json.load(sys.stdin).get("config_reloads",{}).get("error",-1))' <<<"$stats")
reloads_ok=$("$BENCH_PY" -c 'import json,sys; print(json.load(sys.stdin).get("config_reloads",{}).get("ok",-1))' <<<"$stats")

# ---- the figures -----------------------------------------------------------------------------
mkdir -p "$RESULTS_DIR"
result_file=$RESULTS_DIR/soak-$(date +%Y%m%d-%H%M%S).txt
set +e
"$BENCH_PY" - "$tmp" "$WARMUP_SECONDS" "$SOAK_SECONDS" "$RELOAD_EVERY" "$purges" "$purge_failures" "$reloads" \
    "$reloads_ok" "$reload_failures" "$portico_alive" "$(tail -n +$((log_lines_before + 1)) "$tmp/portico.log" | grep -E ' (warn|error) ' | grep -vc ' warn \[slow\] ' || true)" "$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo '?')" \
    >"$result_file" <<'EOF'
import json, re, sys
(tmp, warmup, duration, reload_every, purges, purge_failures, reloads, reloads_ok, reload_failures, alive,
 log_problems, commit) = sys.argv[1:]
warmup, duration = int(warmup), int(duration)
rows = [list(map(int, l.split())) for l in open(f"{tmp}/samples.txt").read().splitlines()[1:] if l.strip()]
after = [r for r in rows if r[0] >= warmup]

def slope(points):  # least squares, per minute
    n = len(points)
    if n < 2: return 0.0
    mx = sum(p[0] for p in points) / n; my = sum(p[1] for p in points) / n
    sxx = sum((p[0] - mx) ** 2 for p in points)
    return 60 * sum((p[0] - mx) * (p[1] - my) for p in points) / sxx if sxx else 0.0

def median(values):
    v = sorted(values); return v[len(v) // 2] if v else 0

wrk = open(f"{tmp}/wrk/out.txt").read()
m = re.search(r"RESULT (.*)", wrk)
w = dict(kv.split("=") for kv in m.group(1).split()) if m else {}
pg = open(f"{tmp}/pgbench.txt").read()
def pg_num(pattern):
    m = re.search(pattern, pg); return int(m.group(1)) if m else -1
xacts = pg_num(r"number of transactions actually processed: (\d+)")
failed = pg_num(r"number of failed transactions: (\d+)")
if failed < 0: failed = 0 if xacts > 0 and "error" not in pg.lower() else 1
stats = json.load(open(f"{tmp}/stats.json")) if open(f"{tmp}/stats.json").read().strip() else {}
req = stats.get("requests", {})
cache = stats.get("cache", {})
errors = {
    "wrk non-2xx": int(w.get("err_status", -1)), "wrk socket errors": sum(int(w.get(k, 1)) for k in
        ("err_connect", "err_read", "err_write", "err_timeout")),
    "pgbench failed transactions": failed, "purge failures": int(purge_failures),
    "reload failures": int(reload_failures), "portico 5xx": int(req.get("5xx", -1)),
    "portico died": 0 if alive == "1" else 1,
    "portico log warn/error lines": int(log_problems),  # but [slow]: the app's own pace
}
def growth(col, name, unit, fmt):
    first = median([r[col] for r in after[:60]]); last = median([r[col] for r in after[-60:]])
    second_half = after[len(after) // 2:]
    print(f"{name:<22} first minute {first}, last minute {last}, max {max(r[col] for r in after)}, "
          f"slope {format(slope([(r[0], r[col]) for r in after]), fmt)} {unit}/min "
          f"(second half {format(slope([(r[0], r[col]) for r in second_half]), fmt)})")
print(f"# benchmarks/soak.sh, commit {commit}: {duration} s of mixed load, warm-up {warmup} s, "
      f"a reload every {reload_every} s")
print(f"http requests          {w.get('requests', '?')} ({int(w.get('requests', 0)) / max(duration, 1):.0f}/s; p50 "
      f"{int(w.get('p50_us', 0)) / 1000:.1f} ms, p99 {int(w.get('p99_us', 0)) / 1000:.1f} ms)")
print(f"pool transactions      {xacts} (pgbench, 4 clients, paced) + the app's queries")
print(f"purges                 {purges} (admin API)   reloads {reloads} sent, {reloads_ok} applied")
print(f"cache                  hits {cache.get('hits', '?')}, misses {cache.get('misses', '?')}, "
      f"evictions {cache.get('evictions', '?')}, entries at the end {cache.get('entries', '?')}")
for k, v in errors.items():
    print(f"error: {k:<28} {v}")
print("after the warm-up:")
growth(2, "  anonymous RSS (KiB)", "KiB", "+.1f")
growth(1, "  total RSS (KiB)", "KiB", "+.1f")
growth(3, "  open fds", "fds", "+.3f")
print(f"threads                {min(r[4] for r in rows)}..{max(r[4] for r in rows)}")
print(f"samples                {len(rows)} (one a second)")
sys.exit(0 if all(v == 0 for v in errors.values()) else 1)
EOF
status=$?
set -e
cp "$tmp/samples.txt" "${result_file%.txt}.samples"
cat "$result_file"
bench_log "figures in $result_file (samples: ${result_file%.txt}.samples)"
if ((status != 0)); then
    bench_log "the soak saw errors: logs in $tmp (kept)"
    KEEP_TMP=1
fi
exit "$status"
