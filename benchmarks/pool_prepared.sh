#!/usr/bin/env bash
# Prepared statements through a transaction pooler (issue 6): pgbench -S with -M prepared through
# portico's pool in transaction mode, against portico with -M simple, PgBouncer 1.18 (transaction
# mode, which cannot carry prepared statements) with -M simple, and PostgreSQL directly with -M
# prepared; 50 and 500 clients, one run on one throwaway cluster. Prints the median TPS per
# configuration, portico prepared / PgBouncer simple (issue 6's target: >= 1.3x) and portico
# prepared / direct prepared. A configuration whose pgbench fails (aborted clients: portico before
# issue 6 answers "prepared statement ... does not exist") is reported as FAILED with pgbench's
# first error, and the others still run. See benchmarks/README.md.
#
# Usage: benchmarks/pool_prepared.sh
# Environment (defaults in brackets):
#   PORTICO_BIN [build-release/portico]   the binary under test (a Release build)
#   CONFIGS ["portico-prepared portico-simple pgbouncer-simple direct-prepared"]  <target>-<protocol>
#   CLIENTS ["50 500"]  ROUNDS [3]  DURATION [15] (seconds, pgbench -T)  WARMUP [5]  SCALE [10]
#   POOL_SIZE [20]  SERVER_CORE [0] (Postgres + the pooler)  CLIENT_CORE [1] (pgbench)
#   RESULTS_DIR [benchmarks/results]  KEEP_TMP [0] (1 keeps configs, logs and pgbench output)
# Exit status: 0 when the benchmark ran (whatever the figures, failed configurations included), 1
# on a setup failure (missing tool, Postgres or PgBouncer that does not start or dies).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$here/lib/common.sh"

bench_pool_defaults  # ROUNDS DURATION WARMUP SCALE POOL_SIZE SERVER_CORE CLIENT_CORE PORTICO_BIN RESULTS_DIR KEEP_TMP
CONFIGS=${CONFIGS:-portico-prepared portico-simple pgbouncer-simple direct-prepared}
CLIENTS=${CLIENTS:-50 500}
read -r -a configs <<<"$CONFIGS"
read -r -a client_counts <<<"$CLIENTS"

# ---------------------------------------------------------------------------------------------
# Checks before anything starts.

bench_find_pg_bindir  # sets pg_bindir
for n in "$ROUNDS" "$DURATION" "$WARMUP" "$SCALE" "$POOL_SIZE" "${client_counts[@]}"; do
    [[ $n =~ ^[1-9][0-9]*$ ]] || bench_die "ROUNDS, DURATION, WARMUP, SCALE, POOL_SIZE and CLIENTS are positive integers: got '$n'"
done
((${#configs[@]} > 0)) || bench_die "CONFIGS is empty"
declare -A wanted=()
for c in "${configs[@]}"; do
    [[ $c =~ ^(direct|pgbouncer|portico)-(simple|extended|prepared)$ ]] ||
        bench_die "configurations look like portico-prepared, pgbouncer-simple, direct-prepared: got '$c'"
    wanted[${c%-*}]=1
done
[[ -z ${wanted[pgbouncer]:-} ]] || command -v pgbouncer >/dev/null || bench_die "pgbouncer not found (run .ci/setup-deps as root)"
max_clients=0
for n in "${client_counts[@]}"; do ((n > max_clients)) && max_clients=$n; done
bench_pool_preflight "$max_clients"  # taskset, python, cores, environment, open files; sets as_pg

# ---------------------------------------------------------------------------------------------
# Postgres and the poolers.

bench_temp_dir /tmp/portico-bench-prepared.XXXXXX  # sets tmp and started_pids; cleans up on exit
mapfile -t ports < <(bench_free_ports 5)
((${#ports[@]} == 5)) || bench_die "could not pick free ports"
bouncer_port=${ports[1]} portico_port=${ports[2]} http_port=${ports[3]} admin_port=${ports[4]}
mkdir -p "$tmp/runs"
bench_log "temp dir $tmp"
pg_max_connections=$((max_clients + POOL_SIZE * 2 + 20))
bench_pg_start "${ports[0]}" "$pg_max_connections" "$SERVER_CORE"  # sets pg_sock, pg_port, pg_pid
bench_pgbench_init "$SCALE" "$CLIENT_CORE"

declare -A host_of port_of pid_of log_of
host_of[direct]=$pg_sock port_of[direct]=$pg_port pid_of[direct]=$pg_pid log_of[direct]=$tmp/pg/postgres.log
available=(direct)
portico_note=""
if [[ -n ${wanted[pgbouncer]:-} ]]; then
    bench_pgbouncer_start pool_prepared.sh "$bouncer_port" "$POOL_SIZE" $((max_clients + 100)) "$SERVER_CORE"
    pid_of[pgbouncer]=$bouncer_pid
    host_of[pgbouncer]=$tmp/pgbouncer port_of[pgbouncer]=$bouncer_port log_of[pgbouncer]=$tmp/pgbouncer/pgbouncer.log
    available+=(pgbouncer)
fi
if [[ -n ${wanted[portico]:-} ]]; then
    # max_prepared_statements at portico's default (500).
    if bench_portico_pool_start pool_prepared.sh "$PORTICO_BIN" "$portico_port" "$http_port" "$admin_port" \
        "$POOL_SIZE" $((max_clients + 100)) "$SERVER_CORE" ""; then
        pid_of[portico]=$portico_pid
        host_of[portico]=$tmp/portico port_of[portico]=$portico_port log_of[portico]=$tmp/portico/stdout.log
        available+=(portico)
    fi
fi
active=()
for c in "${configs[@]}"; do
    [[ " ${available[*]} " == *" ${c%-*} "* ]] && active+=("$c")
done
((${#active[@]} > 0)) || bench_die "no configuration can run (portico: $portico_note)"
bench_log "configurations: ${active[*]}"

alive_or_die() { bench_alive_or_die "${available[@]}"; }

# ---------------------------------------------------------------------------------------------
# Facts for the summary.

facts=$tmp/facts.tsv
fact() { printf '%s\t%s\n' "$1" "$2" >>"$facts"; }
with_portico=0
[[ -n ${pid_of[portico]:-} ]] && with_portico=1
bench_pool_facts "$facts" "$with_portico" "$PORTICO_BIN"
[[ -n $portico_note ]] && fact portico_note "$portico_note"
fact configs "${active[*]}"
fact clients "${client_counts[*]}"

# ---------------------------------------------------------------------------------------------
# Runs.

clk_tck=$(getconf CLK_TCK)
runs=$tmp/runs.tsv
printf 'config\tclients\tround\ttps\tlatency_ms\ttransactions\tfailed\taborted\tpgbench_exit\tpooler_cpu_us_per_txn\tfirst_error\n' >"$runs"

# pgbench -S against CONFIG with CLIENTS for DURATION s; a row in runs.tsv unless ROUND is warmup.
# A pgbench that fails (aborted clients) is recorded with its exit status and first error, not
# fatal: that is a result. Usage: run_pgbench CONFIG CLIENTS ROUND DURATION
run_pgbench() {
    local config=$1 clients=$2 round=$3 duration=$4 target=${1%-*} protocol=${1##*-}
    local out=$tmp/runs/$config-$clients-$round.txt t0 t1 status=0
    local -a pooler_pids=()
    [[ $target == direct ]] || pooler_pids=("${pid_of[$target]}")
    t0=$(bench_cpu_ticks "${pooler_pids[@]}")
    # A stuck pooler must not hang the benchmark: pgbench gets its duration plus a minute.
    taskset -c "$CLIENT_CORE" timeout $((duration + 60)) "$pg_bindir/pgbench" -n -S -M "$protocol" -j1 \
        -c "$clients" -T "$duration" -h "${host_of[$target]}" -p "${port_of[$target]}" -U postgres bench \
        >"$out" 2>&1 || status=$?
    t1=$(bench_cpu_ticks "${pooler_pids[@]}")
    alive_or_die
    [[ $round == warmup ]] && return 0
    awk -v k="$config" -v c="$clients" -v r="$round" -v st="$status" -v dp=$((t1 - t0)) -v hz="$clk_tck" '
        /^tps = / { tps = $3 }
        /^latency average = / { lat = $4 }
        /^number of transactions actually processed: / { split($6, a, "/"); n = a[1] }
        /^number of failed transactions: / { failed = $5 }
        /aborted/ && /client/ { aborted++ }
        /^initial connection time = / { conn = $5 }
        /error:/ && first == "" { first = $0; sub(/^.*error: */, "", first); gsub(/\t/, " ", first) }
        END {
            # 500 connects on a loaded core can outlast a short -T: a run without a transaction
            # measured nothing.
            if (n + 0 == 0 && first == "") first = "no transaction processed (initial connection time " conn " ms)"
            cpu = (k ~ /^direct/ || n == 0) ? "" : sprintf("%.1f", dp / hz * 1e6 / n)
            printf "%s\t%d\t%s\t%.1f\t%.3f\t%d\t%d\t%d\t%d\t%s\t%s\n", k, c, r, tps + 0, lat + 0, n + 0, failed + 0,
                aborted + 0, st, cpu, substr(first, 1, 160)
        }' "$out" >>"$runs"
    tail -n1 "$runs" | awk -F'\t' '{
        printf "round %s %-17s -c%-4s %9.1f tps  latency %.2f ms  pooler %s us/txn  exit %s%s\n", $3, $1, $2, $4, $5,
            ($10 == "" ? "-" : $10), $9, ($9 != 0 || $6 == 0 ? "  FAILED: " $11 : "") }' >&2
}

bench_log "warm-up: ${WARMUP}s of -S -M simple at 50 clients per target"
for target in "${available[@]}"; do run_pgbench "$target-simple" 50 warmup "$WARMUP"; done

n=${#active[@]}
for clients in "${client_counts[@]}"; do
    bench_log "-c$clients: $ROUNDS rounds of ${DURATION}s per configuration, pgbench -j1 on core $CLIENT_CORE, servers on core $SERVER_CORE"
    for ((round = 1; round <= ROUNDS; round++)); do
        # Rotate who goes first, so drift favours no configuration.
        for ((k = 0; k < n; k++)); do
            run_pgbench "${active[(round - 1 + k) % n]}" "$clients" "$round" "$DURATION"
        done
    done
done
fact loadavg_after "$(cut -d' ' -f1-3 /proc/loadavg)"
counters=$tmp/portico-pool.json
if [[ -n ${pid_of[portico]:-} ]]; then
    curl -s -m 5 "http://127.0.0.1:$admin_port/pool" >"$counters" 2>/dev/null || true
fi

# ---------------------------------------------------------------------------------------------
# Summary.

mkdir -p "$RESULTS_DIR"
stamp=$(date +%Y%m%d-%H%M%S)
result_file=$RESULTS_DIR/pool_prepared-$stamp.txt
"$BENCH_PY" - "$runs" "$facts" "$counters" >"$result_file" <<'EOF' || bench_die "could not summarize (raw data in $runs)"
import csv, json, statistics, sys

runs_path, facts_path, counters_path = sys.argv[1:4]
facts = dict(line.rstrip("\n").split("\t", 1) for line in open(facts_path) if "\t" in line)
rows = list(csv.DictReader(open(runs_path), delimiter="\t"))
configs = facts.get("configs", "").split()
clients = [int(c) for c in facts.get("clients", "").split()]


def runs(config, c):
    return [r for r in rows if r["config"] == config and int(r["clients"]) == c]


def ok(r):
    return r["pgbench_exit"] == "0" and r["aborted"] == "0" and r["failed"] == "0" and int(r["transactions"]) > 0


def med(config, c, field):
    vals = [float(r[field]) for r in runs(config, c) if ok(r) and r[field] != ""]
    return statistics.median(vals) if vals else None


def fmt(v, spec="{:,.0f}"):
    return "-" if v is None else spec.format(v)


def ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


print("pool_prepared: pgbench -S, prepared statements through a transaction pooler (issue 6)")
print(f"{facts.get('date', '')}  {facts.get('cpu', '')}, {facts.get('cores', '?')} cores")
print(f"{facts.get('postgres_version', '')}; {facts.get('pgbouncer_version', 'no pgbouncer')}"
      + (f"; portico {facts['portico_version']} ({facts.get('portico_build_type', '?')})" if "portico_version" in facts else ""))
print(f"scale {facts.get('scale')}, pool size {facts.get('pool_size')} (transaction mode, both poolers), "
      f"{facts.get('rounds')} rounds of {facts.get('duration')} s per configuration (medians of the runs that "
      f"completed), pgbench -j1 on core {facts.get('client_core')}, Postgres + pooler on core "
      f"{facts.get('server_core')}; load average before {facts.get('loadavg')}, after {facts.get('loadavg_after')}")
if "portico_note" in facts:
    print(f"portico: {facts['portico_note']}")
print()

head = f"{'configuration':<20}" + "".join(f"{'-c' + str(c) + ' tps':>14}{'lat ms':>9}{'µs/txn':>9}" for c in clients)
print(head)
print("-" * len(head))
for config in configs:
    line = f"{config:<20}"
    for c in clients:
        line += f"{fmt(med(config, c, 'tps')):>14}{fmt(med(config, c, 'latency_ms'), '{:.2f}'):>9}"
        line += f"{fmt(med(config, c, 'pooler_cpu_us_per_txn'), '{:.1f}'):>9}"
    print(line)
print()

failures = [r for r in rows if not ok(r)]
for config in configs:
    for c in clients:
        bad = [r for r in runs(config, c) if not ok(r)]
        if bad:
            r = bad[0]
            print(f"FAILED {config} -c{c}: {len(bad)} of {len(runs(config, c))} runs (pgbench exit {r['pgbench_exit']}, "
                  f"{r['aborted']} aborted-client lines, {r['failed']} failed transactions): {r['first_error'] or '?'}")
if failures:
    print()

for c in clients:
    pp = med("portico-prepared", c, "tps")
    for other, label, goal in (("pgbouncer-simple", "PgBouncer simple", 1.3), ("direct-prepared", "direct prepared", None),
                               ("portico-simple", "portico simple", None)):
        if other not in configs or "portico-prepared" not in configs:
            continue
        r = ratio(pp, med(other, c, "tps"))
        if r is None:
            why = "portico-prepared did not complete a run" if pp is None else f"{other} did not complete a run"
            print(f"-c{c}: portico prepared / {label}: - ({why})")
            continue
        verdict = "" if goal is None else f" (target >= {goal}: {'met' if r >= goal else 'MISSED'})"
        print(f"-c{c}: portico prepared / {label}: {r:.2f}x{verdict}")
print()

try:
    pools = json.load(open(counters_path)).get("pools", [])
except (OSError, ValueError):
    pools = []
names = ["statements_prepared", "statements_reprepared", "statements_evicted", "statements_closed_locally",
         "statements_deallocated", "session_resets", "server_connects", "total_xact_count"]
for p in pools:
    if p.get("database") == "bench":
        print("portico /pool after the runs: " + ", ".join(f"{k} {p[k]}" if k in p else f"{k} (not reported)" for k in names))
        print()

print("per run:")
print(f"{'configuration':<20}{'clients':>8}{'round':>6}{'tps':>11}{'lat ms':>9}{'txns':>9}{'failed':>7}{'aborted':>8}"
      f"{'exit':>5}{'µs/txn':>8}  first error")
for r in rows:
    print(f"{r['config']:<20}{r['clients']:>8}{r['round']:>6}{float(r['tps']):>11.1f}{float(r['latency_ms']):>9.2f}"
          f"{int(r['transactions']):>9}{int(r['failed']):>7}{int(r['aborted']):>8}{r['pgbench_exit']:>5}"
          f"{(r['pooler_cpu_us_per_txn'] or '-'):>8}  {r['first_error']}")
EOF
cp "$runs" "$RESULTS_DIR/pool_prepared-$stamp.runs.tsv"
echo
cat "$result_file"
echo
echo "results written to $result_file (raw runs: ${result_file%.txt}.runs.tsv)"
