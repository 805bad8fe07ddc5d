#!/usr/bin/env bash
# The whole test suite, as the README's second command and CI run it: installs what is missing,
# builds, and runs every unit and integration test through ctest.
#   tests/run.sh           CI: the threaded parts under TSan (build-tsan/, label "threaded"), a
#                          bounded fuzz pass (build-fuzz/, PORTICO_FUZZ_SECONDS [15] per target),
#                          then every unit and integration test under ASan+UBSan (build-asan/);
#                          ctest's summary line comes last
#   tests/run.sh plain     the regular build (RelWithDebInfo) in build/, every test
#   tests/run.sh asan      ASan+UBSan build in build-asan/, every test
#   tests/run.sh tsan      TSan build in build-tsan/, every test
#   tests/run.sh threaded  only the TSan pass of the threaded parts
#   tests/run.sh fuzz      the libFuzzer targets (clang) in build-fuzz/: each fuzzes for
#                          PORTICO_FUZZ_SECONDS (20) and replays its regressions (tests/fuzz/README.md)
set -euo pipefail
cd "$(dirname "$0")/.."

flavour=${1:-default}
case "$flavour" in
  default|plain|asan|tsan|threaded|fuzz) ;;
  *) echo "usage: tests/run.sh [plain|asan|tsan|threaded|fuzz]" >&2; exit 1 ;;
esac

bash .ci/setup-deps
# tests/tsan.supp: known false positives only, each explained there.
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/tests/tsan.supp}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# The threads' meeting points (tests/CMakeLists.txt, target threaded_tests) under TSan: they link
# only their own parts, so this costs a few minutes, not a second full build.
threaded_pass() {
  cmake --preset tsan >/dev/null
  cmake --build --preset tsan --target threaded_tests
  ctest --preset tsan -L threaded --timeout 300
}

# Every fuzz target for a bounded time, two at a time (each is one process on one core), and every
# input that ever crashed one replayed (tests/fuzz/README.md). In the default flavour 15 s each, so
# the pass costs its build (clang, ~4 min on 2 cores) and under a minute of fuzzing.
fuzz_pass() {
  cmake --preset fuzz >/dev/null
  cmake --build --preset fuzz
  PORTICO_FUZZ_SECONDS=${PORTICO_FUZZ_SECONDS:-$1} ctest --preset fuzz -j2
}

# The suites run two at a time: most of an integration test is waiting on its peers, and each picks
# its own ports and temp dirs (the heavy ones hold RESOURCE_LOCKs). TSan's whole suite runs one at
# a time, as its 5-15x slowdown would crowd the timeouts.
preset=$flavour jobs=2
case "$flavour" in
  threaded) threaded_pass; exit ;;
  fuzz) fuzz_pass 20; exit ;;
  # CI's suite is the ASan+UBSan build: the sanitizers see every test, for about the price of the
  # regular build (which `tests/run.sh plain`, the demo and the benchmarks build).
  default) threaded_pass; fuzz_pass 15; preset=asan ;;
  plain) preset=default ;;
  tsan) jobs=1 ;;
esac
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset"
exec ctest --preset "$preset" -j "$jobs" --timeout 600
