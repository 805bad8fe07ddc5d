#!/usr/bin/env bash
# Pool benchmark (issue 5): pgbench straight to PostgreSQL, through PgBouncer (transaction mode,
# pool of 20) and through portico's pool (the same), in one run on one throwaway cluster: select-only
# and TPC-B-like at 50 and 500 clients, and select-only with the extended protocol at 50. Prints the
# median TPS per target and case, the ratios portico/PgBouncer and portico/direct, and the issue's
# reference figures beside them. See benchmarks/README.md for how to read the output.
#
# Usage: benchmarks/pool_pgbench.sh
# Environment (defaults in brackets):
#   PORTICO_BIN [build-release/portico]   the binary under test (a Release build)
#   TARGETS ["direct pgbouncer portico"]  which to run
#   CASES ["select-50 select-500 tpcb-50 tpcb-500 extended-50"]   <kind>-<clients>, kind one of
#       select (pgbench -S), tpcb (the built-in TPC-B-like script), extended (-S -M extended)
#   ROUNDS [3]  DURATION [15] (seconds, pgbench -T)  WARMUP [5]  SCALE [10]  POOL_SIZE [20]
#   SERVER_CORE [0] (Postgres + the pooler)  CLIENT_CORE [1] (pgbench)
#   RESULTS_DIR [benchmarks/results]  KEEP_TMP [0] (1 keeps configs, logs and pgbench output)
# When portico does not answer on its pool socket within a few seconds (a build without the pool
# runtime), it prints "portico: pool not available in this build" and goes on with the others.
# Exit status: 0 when the benchmark ran (whatever the figures), 1 on a setup failure (missing tool,
# Postgres or PgBouncer that does not start or dies). Benchmarks report; they do not assert.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$here/lib/common.sh"

bench_pool_defaults  # ROUNDS DURATION WARMUP SCALE POOL_SIZE SERVER_CORE CLIENT_CORE PORTICO_BIN RESULTS_DIR KEEP_TMP
TARGETS=${TARGETS:-direct pgbouncer portico}
CASES=${CASES:-select-50 select-500 tpcb-50 tpcb-500 extended-50}
read -r -a targets <<<"$TARGETS"
read -r -a cases <<<"$CASES"

# ---------------------------------------------------------------------------------------------
# Checks before anything starts.

bench_find_pg_bindir  # sets pg_bindir
for n in "$ROUNDS" "$DURATION" "$WARMUP" "$SCALE" "$POOL_SIZE"; do
    [[ $n =~ ^[1-9][0-9]*$ ]] || bench_die "ROUNDS, DURATION, WARMUP, SCALE and POOL_SIZE are positive integers (seconds for the durations): got '$n'"
done
((${#targets[@]} > 0)) || bench_die "TARGETS is empty"
for t in "${targets[@]}"; do
    case $t in
        direct) ;;
        pgbouncer) command -v pgbouncer >/dev/null || bench_die "pgbouncer not found (run .ci/setup-deps as root)" ;;
        portico) ;;  # a missing binary or pool is reported and skipped below
        *) bench_die "unknown target '$t' in TARGETS (direct, pgbouncer, portico)" ;;
    esac
done
max_clients=0
for c in "${cases[@]}"; do
    [[ $c =~ ^(select|tpcb|extended)-([1-9][0-9]*)$ ]] || bench_die "cases look like select-50, tpcb-500, extended-50: got '$c'"
    ((BASH_REMATCH[2] > max_clients)) && max_clients=${BASH_REMATCH[2]}
done
bench_pool_preflight "$max_clients"  # taskset, python, cores, environment, open files; sets as_pg

# ---------------------------------------------------------------------------------------------
# Temp dir, cleanup.

bench_temp_dir /tmp/portico-bench-pool.XXXXXX  # sets tmp and started_pids; cleans up on exit

mapfile -t ports < <(bench_free_ports 5)
((${#ports[@]} == 5)) || bench_die "could not pick free ports"
pg_port=${ports[0]} bouncer_port=${ports[1]} portico_port=${ports[2]} http_port=${ports[3]} admin_port=${ports[4]}
mkdir -p "$tmp/runs"
bench_log "temp dir $tmp; Postgres on $tmp/pg/sock port $pg_port, PgBouncer $tmp/pgbouncer port $bouncer_port, portico $tmp/portico port $portico_port"

# ---------------------------------------------------------------------------------------------
# PostgreSQL: a fresh cluster, scale SCALE. Connections for every direct client plus the pools and
# psql.

pg_max_connections=$((max_clients + POOL_SIZE * 2 + 20))
bench_pg_start "$pg_port" "$pg_max_connections" "$SERVER_CORE"  # sets pg_sock, pg_pid
pg_sql() { bench_pg_sql "$@"; }
bench_pgbench_init "$SCALE" "$CLIENT_CORE"

# ---------------------------------------------------------------------------------------------
# The poolers.

declare -A host_of port_of pid_of log_of
host_of[direct]=$pg_sock port_of[direct]=$pg_port pid_of[direct]=$pg_pid log_of[direct]=$tmp/pg/postgres.log

active=()
portico_note=""
for target in "${targets[@]}"; do
    case $target in
        direct) active+=(direct) ;;
        pgbouncer)
            # Transaction pooling with the same pool as portico; Unix socket only (no listen_addr).
            bench_pgbouncer_start pool_pgbench.sh "$bouncer_port" "$POOL_SIZE" $((max_clients + 100)) "$SERVER_CORE"
            pid_of[pgbouncer]=$bouncer_pid
            host_of[pgbouncer]=$tmp/pgbouncer port_of[pgbouncer]=$bouncer_port log_of[pgbouncer]=$tmp/pgbouncer/pgbouncer.log
            active+=(pgbouncer)
            ;;
        portico)
            bench_portico_pool_start pool_pgbench.sh "$PORTICO_BIN" "$portico_port" "$http_port" "$admin_port" \
                "$POOL_SIZE" $((max_clients + 100)) "$SERVER_CORE" "" || continue
            pid_of[portico]=$portico_pid
            host_of[portico]=$tmp/portico port_of[portico]=$portico_port log_of[portico]=$tmp/portico/stdout.log
            active+=(portico)
            ;;
    esac
done
bench_log "targets: ${active[*]}"

alive_or_die() { bench_alive_or_die "${active[@]}"; }

# ---------------------------------------------------------------------------------------------
# Facts for the summary.

facts=$tmp/facts.tsv
fact() { printf '%s\t%s\n' "$1" "$2" >>"$facts"; }
with_portico=0
[[ " ${active[*]} " == *" portico "* ]] && with_portico=1
bench_pool_facts "$facts" "$with_portico" "$PORTICO_BIN"
[[ -n $portico_note ]] && fact portico_note "$portico_note"
fact targets "${active[*]}"
fact max_connections "$pg_max_connections"

# ---------------------------------------------------------------------------------------------
# Runs.

clk_tck=$(getconf CLK_TCK)
# Whether interrupt time is also charged to the interrupted task (see lib/common.sh): decides
# what "other processes" on the server core is.
irq_in_task=$(bench_irq_in_task_time)
fact irq_in_task_time "$irq_in_task"
runs=$tmp/runs.tsv
printf 'case\ttarget\tround\tclients\ttps\tlatency_ms\tconnect_ms\ttransactions\tfailed\tpooler_cpu_us_per_txn\tpg_cpu_us_per_txn\tcore_busy_pct\tcore_other_pct\n' >"$runs"

# CPU ticks of Postgres as a whole: the postmaster's own and its reaped children's (cutime,
# cstime: the backends of 500 direct clients exit when pgbench ends), plus its live children's.
pg_cpu_ticks() {
    local stat rest kids
    local -a f
    stat=$(cat /proc/"$pg_pid"/stat) || { echo 0; return; }
    rest=${stat##*) }
    read -r -a f <<<"$rest"  # f[11..14]: utime stime cutime cstime
    # shellcheck disable=SC2046  # the PID list splits on purpose
    echo $((f[11] + f[12] + f[13] + f[14] + $(bench_cpu_ticks $(pg_children))))
}
pg_children() { cat /proc/"$pg_pid"/task/*/children 2>/dev/null; }

# Direct clients' backends exit when pgbench ends. Until the postmaster has reaped them, /proc
# reports only part of their CPU time (a third, measured right after a -c50 run), and the rest
# would be charged to the next run: wait (at most 10 s) until the children that were not there
# before the run (PIDS_BEFORE, space-separated) have gone.
wait_new_children_gone() {
    local before=" $1 " deadline=$((SECONDS + 10)) kid new
    while ((SECONDS < deadline)); do
        new=0
        for kid in $(pg_children); do
            [[ $before == *" $kid "* ]] || { new=1; break; }
        done
        ((new == 0)) && return 0
        sleep 0.05
    done
}

# The pgbench arguments of a case (clients separately).
case_args() {
    case ${1%-*} in
        select) echo "-S" ;;
        tpcb) echo "" ;;
        extended) echo "-S -M extended" ;;
    esac
}

# TPC-B-like runs update three tables and append to pgbench_history: before each, what pgbench
# itself does without -n (vacuum the small tables, empty the history), straight to Postgres.
reset_tables() {
    pg_sql -d bench -c 'VACUUM pgbench_branches' -c 'VACUUM pgbench_tellers' -c 'TRUNCATE pgbench_history' >/dev/null
}

run_pgbench() {
    local kase=$1 target=$2 round=$3 duration=$4
    local clients=${kase##*-} out t0 t1 g0 g1 kids0 c0_busy c0_total c0_irq c1_busy c1_total c1_irq
    local -a extra pooler_pids=()
    read -r -a extra <<<"$(case_args "$kase")"
    out=$tmp/runs/$kase-$target-$round.txt
    [[ ${kase%-*} == tpcb ]] && reset_tables
    [[ $target == direct ]] || pooler_pids=("${pid_of[$target]}")
    t0=$(bench_cpu_ticks "${pooler_pids[@]}")
    kids0=$(pg_children | tr '\n' ' ')
    g0=$(pg_cpu_ticks)
    read -r c0_busy c0_total c0_irq < <(bench_core_jiffies "$SERVER_CORE")
    if ! taskset -c "$CLIENT_CORE" "$pg_bindir/pgbench" -n -j1 -c "$clients" -T "$duration" "${extra[@]}" \
        -h "${host_of[$target]}" -p "${port_of[$target]}" -U postgres bench >"$out" 2>&1; then
        alive_or_die
        bench_setup_failed "pgbench failed against $target ($kase)" "$out"
    fi
    t1=$(bench_cpu_ticks "${pooler_pids[@]}")
    read -r c1_busy c1_total c1_irq < <(bench_core_jiffies "$SERVER_CORE")
    [[ $target == direct ]] && wait_new_children_gone "$kids0"
    g1=$(pg_cpu_ticks)
    alive_or_die
    [[ $round == warmup ]] && return 0
    awk -v k="$kase" -v t="$target" -v r="$round" -v c="$clients" -v dp=$((t1 - t0)) -v dg=$((g1 - g0)) \
        -v hz="$clk_tck" -v irq_in_task="$irq_in_task" -v cbusy=$((c1_busy - c0_busy)) \
        -v ctotal=$((c1_total - c0_total)) -v cirq=$((c1_irq - c0_irq)) '
        /^tps = / { tps = $3 }
        /^latency average = / { lat = $4 }
        /^initial connection time = / { conn = $5 }
        /^number of transactions actually processed: / { split($6, a, "/"); n = a[1] }
        /^number of failed transactions: / { failed = $5 }
        END {
            if (tps == "") exit 1
            # CPU per transaction of the pooler (direct has none) and of Postgres; what else ran
            # on the server core (other processes: other tenants, builds) as a share of it.
            cpu = (t == "direct" || n == 0) ? "" : sprintf("%.1f", dp / hz * 1e6 / n)
            pg = n == 0 ? "" : sprintf("%.1f", dg / hz * 1e6 / n)
            notours = irq_in_task == "yes" ? cbusy - dp - dg : cbusy - cirq - dp - dg
            if (notours < 0) notours = 0
            printf "%s\t%s\t%s\t%d\t%.1f\t%.3f\t%.1f\t%d\t%d\t%s\t%s\t%.1f\t%.1f\n", k, t, r, c, tps, lat, conn, n,
                failed + 0, cpu, pg, (ctotal > 0 ? cbusy / ctotal * 100 : 0), (ctotal > 0 ? notours / ctotal * 100 : 0)
        }' "$out" >>"$runs" || bench_setup_failed "no tps in pgbench's output against $target ($kase)" "$out"
    tail -n1 "$runs" | awk -F'\t' '{
        printf "round %s %-12s %-9s %9.1f tps  latency %.2f ms  pooler %s us/txn  postgres %s us/txn  core %.0f%% (other %.0f%%)  failed %d\n",
            $3, $1, $2, $5, $6, ($10 == "" ? "-" : $10), $11, $12, $13, $9 }' >&2
}

bench_log "warm-up: ${WARMUP}s of select-only at 50 clients per target"
for target in "${active[@]}"; do run_pgbench select-50 "$target" warmup "$WARMUP"; done

n=${#active[@]}
for kase in "${cases[@]}"; do
    bench_log "$kase: $ROUNDS rounds of ${DURATION}s per target, pgbench -j1 on core $CLIENT_CORE, servers on core $SERVER_CORE"
    for ((round = 1; round <= ROUNDS; round++)); do
        # Rotate who goes first, so drift (other tenants, a growing table) favours no target.
        for ((k = 0; k < n; k++)); do
            run_pgbench "$kase" "${active[(round - 1 + k) % n]}" "$round" "$DURATION"
        done
    done
done
fact loadavg_after "$(cut -d' ' -f1-3 /proc/loadavg)"

# ---------------------------------------------------------------------------------------------
# Summary: medians per case and target, ratios, the issue's reference figures.

mkdir -p "$RESULTS_DIR"
stamp=$(date +%Y%m%d-%H%M%S)
result_file=$RESULTS_DIR/pool_pgbench-$stamp.txt
"$BENCH_PY" - "$runs" "$facts" "${cases[*]}" >"$result_file" <<'EOF' || bench_die "could not summarize (raw data in $runs)"
import csv, statistics, sys

runs_path, facts_path, cases = sys.argv[1], sys.argv[2], sys.argv[3].split()
facts = dict(line.rstrip("\n").split("\t", 1) for line in open(facts_path) if "\t" in line)
rows = list(csv.DictReader(open(runs_path), delimiter="\t"))
targets = facts.get("targets", "").split()

# Issue 5's reference (Postgres and PgBouncer 1.18 on one core, pgbench -j1 -T15 on the other,
# scale 10): direct TPS, PgBouncer TPS, and the clients they were measured at.
reference = {
    "select-50": (4228, 6233, 50),
    "select-500": (2609, 5520, 200),  # the issue measured -c200, not -c500
    "extended-50": (3486, 5095, 50),
    "tpcb-50": (718, 1208, 50),
}
label = {"select": "select-only -S", "tpcb": "TPC-B-like", "extended": "-S -M extended"}


def med(case, target, field):
    vals = [float(r[field]) for r in rows if r["case"] == case and r["target"] == target and r[field] != ""]
    return statistics.median(vals) if vals else None


def fmt(v, spec="{:,.0f}"):
    return "-" if v is None else spec.format(v)


def ratio(a, b):
    return "-" if a is None or b is None or b == 0 else f"{a / b:.2f}x"


print("pool_pgbench: pgbench TPS, direct vs PgBouncer (transaction mode) vs portico's pool")
print(f"{facts.get('date', '')}  {facts.get('cpu', '')}, {facts.get('cores', '?')} cores, kernel {facts.get('kernel', '')}")
print(f"{facts.get('postgres_version', '')}; {facts.get('pgbench_version', '')}; {facts.get('pgbouncer_version', 'no pgbouncer')}"
      + (f"; portico {facts['portico_version']} ({facts.get('portico_build_type', '?')})" if "portico_version" in facts else ""))
print(f"scale {facts.get('scale')}, pool size {facts.get('pool_size')}, {facts.get('rounds')} rounds of "
      f"{facts.get('duration')} s per target and case (medians), pgbench -j1 on core {facts.get('client_core')}, "
      f"Postgres + pooler on core {facts.get('server_core')}; load average before {facts.get('loadavg')}, "
      f"after {facts.get('loadavg_after')}")
if "portico_note" in facts:
    print(f"portico: {facts['portico_note']}")
print()

head = f"{'case':<24}{'direct':>10}{'pgbouncer':>11}{'portico':>10}{'portico/pgb':>13}{'portico/dir':>13}{'pgb/direct':>12}   issue 5 reference (direct / pgbouncer, ratio)"
print(head)
print("-" * len(head))
for case in cases:
    kind, clients = case.rsplit("-", 1)
    d, b, p = (med(case, t, "tps") for t in ("direct", "pgbouncer", "portico"))
    ref = reference.get(case)
    ref_text = "-" if ref is None else (f"{ref[0]:,} / {ref[1]:,}, {ref[1] / ref[0]:.2f}x"
                                        + ("" if ref[2] == int(clients) else f" (at -c{ref[2]})"))
    print(f"{label[kind] + ' -c' + clients:<24}{fmt(d):>10}{fmt(b):>11}{fmt(p):>10}{ratio(p, b):>13}{ratio(p, d):>13}"
          f"{ratio(b, d):>12}   {ref_text}")
print()

print("latency average (ms); CPU per transaction (µs, from /proc) of the pooler and of Postgres, which share a core")
print(f"{'':<24}{'latency ms':^31}{'pooler µs/txn':^22}{'Postgres µs/txn':^31}")
print(f"{'case':<24}" + f"{'direct':>10}{'pgbouncer':>11}{'portico':>10}" + f"{'pgbouncer':>11}{'portico':>11}"
      + f"{'direct':>10}{'pgbouncer':>11}{'portico':>10}")
for case in cases:
    kind, clients = case.rsplit("-", 1)
    lat = [med(case, t, "latency_ms") for t in ("direct", "pgbouncer", "portico")]
    cpu = [med(case, t, "pooler_cpu_us_per_txn") for t in ("pgbouncer", "portico")]
    pg = [med(case, t, "pg_cpu_us_per_txn") for t in ("direct", "pgbouncer", "portico")]
    print(f"{label[kind] + ' -c' + clients:<24}" + "".join(f"{fmt(v, '{:.2f}'):>{w}}" for v, w in zip(lat, (10, 11, 10)))
          + "".join(f"{fmt(v, '{:.1f}'):>11}" for v in cpu)
          + "".join(f"{fmt(v, '{:.1f}'):>{w}}" for v, w in zip(pg, (10, 11, 10))))
print()

failed = sum(int(r["failed"]) for r in rows)
if failed:
    print(f"warning: {failed} failed transactions in the measured runs (see the per-run rows)")
busy = [float(r["core_busy_pct"]) for r in rows]
if busy and statistics.median(busy) < 90:
    print(f"note: the server core was only {statistics.median(busy):.0f}% busy (median): pgbench or waits, not the servers, set the pace")
other = [float(r["core_other_pct"]) for r in rows]
if other and max(other) >= 10:
    print(f"warning: other processes took up to {max(other):.0f}% of the server core (median {statistics.median(other):.0f}%): "
          "figures are disturbed; rerun on a quiet machine")
if "portico" in targets:
    for case, goal_b, goal_d in (("select-50", 1.2, 0.9), ("tpcb-50", 1.2, 0.9), ("extended-50", 1.2, 0.9)):
        p, b, d = (med(case, t, "tps") for t in ("portico", "pgbouncer", "direct"))
        if None not in (p, b, d):
            print(f"target {case}: portico/PgBouncer {p / b:.2f} (>= {goal_b}: {'met' if p / b >= goal_b else 'MISSED'}), "
                  f"portico/direct {p / d:.2f} (>= {goal_d}: {'met' if p / d >= goal_d else 'MISSED'})")
    print()

print("per run:")
print(f"{'case':<13}{'target':<11}{'round':>6}{'tps':>11}{'lat ms':>9}{'conn ms':>10}{'txns':>9}{'failed':>7}"
      f"{'pooler µs':>11}{'pg µs':>9}{'core %':>8}{'other %':>9}")
for r in rows:
    print(f"{r['case']:<13}{r['target']:<11}{r['round']:>6}{float(r['tps']):>11.1f}{float(r['latency_ms']):>9.2f}"
          f"{float(r['connect_ms']):>10.1f}{int(r['transactions']):>9}{int(r['failed']):>7}"
          f"{(r['pooler_cpu_us_per_txn'] or '-'):>11}{(r['pg_cpu_us_per_txn'] or '-'):>9}"
          f"{float(r['core_busy_pct']):>8.0f}{float(r['core_other_pct']):>9.0f}")
EOF
cp "$runs" "$RESULTS_DIR/pool_pgbench-$stamp.runs.tsv"
echo
cat "$result_file"
echo
echo "results written to $result_file (raw runs: ${result_file%.txt}.runs.tsv)"
