#!/usr/bin/env bash
# One fuzz target under ctest (tests/fuzz/CMakeLists.txt). Fails on any crash, leak, UBSan report,
# timeout (an input slower than 10 s) or out-of-memory (one allocation above 256 MB, or 2 GB of
# RSS); the input that did it is left in
# WORK/artifacts/ and printed, to be copied to tests/fuzz/regressions/TARGET/.
#   run_fuzzer.sh fuzz   BINARY TARGET SOURCE_DIR WORK SECONDS   fuzz SECONDS (env PORTICO_FUZZ_SECONDS wins)
#                                                                over WORK/corpus, a copy of the seeds
#   run_fuzzer.sh replay BINARY TARGET SOURCE_DIR WORK           run every file of regressions/TARGET/ once
# Nothing is ever written under SOURCE_DIR.
set -euo pipefail

mode=$1 binary=$2 target=$3 src=$4 work=$5
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

regressions=$src/regressions/$target
mkdir -p "$work"

if [[ $mode == replay ]]; then
    mapfile -t files < <(find "$regressions" -maxdepth 1 -type f ! -name '.*' 2>/dev/null | sort)
    if [[ ${#files[@]} -eq 0 ]]; then
        echo "no regression inputs in $regressions"
        exit 0
    fi
    echo "replaying ${#files[@]} regression input(s) of $target"
    exec "$binary" -rss_limit_mb=2048 -malloc_limit_mb=256 -timeout=30 "${files[@]}"
fi

seconds=${PORTICO_FUZZ_SECONDS:-$6}
corpus=$work/corpus
artifacts=$work/artifacts/
mkdir -p "$corpus" "$artifacts"
# The seeds join whatever an earlier run here found; the repository's corpus is only read.
cp -n "$src/corpus/$target/"* "$corpus/" 2>/dev/null || true
dict=()
[[ -f $src/dict/$target.dict ]] && dict=(-dict="$src/dict/$target.dict")
log=$work/fuzz.log
echo "fuzzing $target for ${seconds}s over $corpus ($(find "$corpus" -type f | wc -l) inputs)"
set +e
# -max_total_time bounds the fuzzing; `timeout` is the safety net should the binary hang outside it.
timeout --kill-after=30 $((seconds * 2 + 120)) \
    "$binary" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=256 \
    -print_final_stats=1 -artifact_prefix="$artifacts" "${dict[@]}" "$corpus" >"$log" 2>&1
status=$?
set -e
# The last status line and the final figures, then the whole log on failure.
grep -E '^#[0-9]+.*(pulse|NEW|REDUCE|DONE|INITED)' "$log" | tail -n 1 || true
grep -E '^stat::' "$log" || true
if [[ $status -ne 0 ]]; then
    cat "$log"
    echo "fuzz.$target FAILED (exit $status); inputs in $artifacts:"
    ls -l "$artifacts"
    exit 1
fi
echo "fuzz.$target: no crash in ${seconds}s"
