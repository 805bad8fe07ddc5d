#!/usr/bin/env bash
# Long fuzzing runs of tests/fuzz/'s targets (the fuzz preset's build-fuzz/), one target after the
# other, each with FUZZ_JOBS libFuzzer processes sharing one corpus. Prints per target the
# executions, exec/s, coverage (cov = edges, ft = features, from the libFuzzer status lines), corpus
# units before and after (new units found), and the crashes (crash-, leak-, timeout-, oom- files),
# then writes the figures to benchmarks/results/fuzz_long-<stamp>.txt. Like the other benchmarks it
# reports and does not judge: it exits 0 when the runs ran, whatever they found (a finding is a file
# to copy into tests/fuzz/regressions/<target>/, see tests/fuzz/README.md), 1 when it could not run.
#
# Usage: [FUZZ_SECONDS=3600] benchmarks/fuzz_long.sh [target...]   (default: every target)
# Environment (defaults in brackets):
#   FUZZ_SECONDS [600]   seconds per target (each job fuzzes this long)
#   FUZZ_JOBS [2]        libFuzzer -jobs and -workers: processes per target, at once
#   FUZZ_WORK [a new mktemp -d]  corpora, artifacts and logs, per target; kept afterwards, so a
#                        later run with the same FUZZ_WORK goes on from the corpus it grew
#   FUZZ_BUILD [build-fuzz]  the fuzz build; configured and built first unless FUZZ_NO_BUILD=1
#   RESULTS_DIR [benchmarks/results]
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$here/lib/common.sh"

FUZZ_SECONDS=${FUZZ_SECONDS:-600}
FUZZ_JOBS=${FUZZ_JOBS:-2}
FUZZ_BUILD=${FUZZ_BUILD:-$repo/build-fuzz}
FUZZ_NO_BUILD=${FUZZ_NO_BUILD:-0}
RESULTS_DIR=${RESULTS_DIR:-$repo/benchmarks/results}
all_targets=(http_request http_response header_values pg_frontend pg_backend conf_loader)
if [[ $# -gt 0 ]]; then targets=("$@"); else targets=("${all_targets[@]}"); fi
for t in "${targets[@]}"; do
    [[ " ${all_targets[*]} " == *" $t "* ]] || bench_die "unknown target '$t' (known: ${all_targets[*]})"
done

if [[ $FUZZ_NO_BUILD != 1 ]]; then
    command -v clang++ >/dev/null || bench_die "clang++ not found (run .ci/setup-deps as root)"
    bench_log "building the fuzz preset in $FUZZ_BUILD"
    cmake --preset fuzz -B "$FUZZ_BUILD" >/dev/null || bench_die "cmake --preset fuzz failed"
    cmake --build "$FUZZ_BUILD" -j "$FUZZ_JOBS" >/dev/null || bench_die "the fuzz build failed"
fi
for t in "${targets[@]}"; do
    [[ -x $FUZZ_BUILD/tests/fuzz/fuzz_$t ]] || bench_die "$FUZZ_BUILD/tests/fuzz/fuzz_$t not built"
done

work=${FUZZ_WORK:-$(mktemp -d /tmp/portico-fuzz-long-XXXXXX)}
mkdir -p "$work"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

stamp=$(date +%Y%m%d-%H%M%S)
table=$work/figures-$stamp.tsv
printf 'target\tseconds\tjobs\texecutions\texec_per_s\tcov\tft\tcorpus_before\tcorpus_after\tnew_units\tcrashes\n' >"$table"
findings=()

for t in "${targets[@]}"; do
    dir=$work/$t
    mkdir -p "$dir/corpus" "$dir/artifacts" "$dir/logs"
    cp -n "$repo/tests/fuzz/corpus/$t/"* "$dir/corpus/" 2>/dev/null || true
    before=$(find "$dir/corpus" -type f | wc -l)
    dict=()
    [[ -f $repo/tests/fuzz/dict/$t.dict ]] && dict=(-dict="$repo/tests/fuzz/dict/$t.dict")
    bench_log "fuzzing $t for ${FUZZ_SECONDS}s with $FUZZ_JOBS jobs ($before corpus units)"
    rm -f "$dir"/logs/fuzz-*.log
    touch "$dir/logs/started"
    started=$SECONDS
    # -jobs writes each job's output to fuzz-<n>.log in the current directory.
    (cd "$dir/logs" && "$FUZZ_BUILD/tests/fuzz/fuzz_$t" -jobs="$FUZZ_JOBS" -workers="$FUZZ_JOBS" \
        -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=256 -print_final_stats=1 \
        -artifact_prefix="$dir/artifacts/" "${dict[@]}" "$dir/corpus" >"$dir/logs/driver.log" 2>&1) || true
    elapsed=$((SECONDS - started))
    after=$(find "$dir/corpus" -type f | wc -l)
    # Per job: the executions it reports at the end (or, if it died, its last status line), and
    # the coverage of its last status line; executions add up, coverage is the best job's.
    read -r execs cov ft < <(
        for log in "$dir"/logs/fuzz-*.log; do
            [[ -f $log ]] || continue
            n=$(grep -E '^stat::number_of_executed_units:' "$log" | tail -n 1 | awk '{print $2}')
            [[ -n $n ]] || n=$(grep -oE '^#[0-9]+' "$log" | tail -n 1 | tr -d '#')
            c=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -n 1 | awk '{print $2, $4}')
            echo "${n:-0} ${c:-0 0}"
        done | awk '{e += $1; if ($2 > c) c = $2; if ($3 > f) f = $3} END {printf "%d %d %d\n", e, c, f}')
    per_s=$(awk -v e="$execs" -v s="$elapsed" 'BEGIN {printf "%d", (s > 0) ? e / s : 0}')
    mapfile -t new_artifacts < <(find "$dir/artifacts" -type f -newer "$dir/logs/started" | sort)
    crashes=${#new_artifacts[@]}
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$elapsed" "$FUZZ_JOBS" "$execs" "$per_s" "$cov" "$ft" \
        "$before" "$after" "$((after - before))" "$crashes" >>"$table"
    bench_log "$t: $execs executions ($per_s/s), cov $cov ft $ft, corpus $before -> $after, $crashes crash(es)"
    for f in "${new_artifacts[@]}"; do findings+=("$t: $f"); done
done

mkdir -p "$RESULTS_DIR"
result_file=$RESULTS_DIR/fuzz_long-$stamp.txt
{
    echo "# benchmarks/fuzz_long.sh $(date -Iseconds) on $(hostname) ($(nproc) cores), commit $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)"
    echo "# FUZZ_SECONDS=$FUZZ_SECONDS FUZZ_JOBS=$FUZZ_JOBS, work directory $work"
    column -t -s $'\t' "$table"
    echo
    if ((${#findings[@]} > 0)); then
        echo "findings (reproduce: $FUZZ_BUILD/tests/fuzz/fuzz_<target> FILE):"
        printf '  %s\n' "${findings[@]}"
    else
        echo "findings: none"
    fi
} >"$result_file"
cp "$table" "${result_file%.txt}.tsv"
echo
cat "$result_file"
echo
echo "results written to $result_file (corpora and logs in $work)"
