#!/usr/bin/env bash
# The whole test suite, as the README's second command and CI run it: installs what is missing,
# builds, and runs every unit and integration test through ctest.
#   tests/run.sh           the threaded parts under TSan (build-tsan/, label "threaded"), then the
#                          regular build in build/ and every test; ctest's summary line comes last
#   tests/run.sh asan      ASan+UBSan build in build-asan/, every test
#   tests/run.sh tsan      TSan build in build-tsan/, every test
#   tests/run.sh threaded  only the TSan pass of the threaded parts
#   tests/run.sh fuzz      the libFuzzer targets (clang) in build-fuzz/: each fuzzes for
#                          PORTICO_FUZZ_SECONDS (20) and replays its regressions (tests/fuzz/README.md)
set -euo pipefail
cd "$(dirname "$0")/.."

flavour=${1:-default}
case "$flavour" in
  default|asan|tsan|threaded|fuzz) ;;
  *) echo "usage: tests/run.sh [asan|tsan|threaded|fuzz]" >&2; exit 1 ;;
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

case "$flavour" in
  threaded) threaded_pass; exit ;;
  default) threaded_pass ;;
esac
cmake --preset "$flavour" >/dev/null
cmake --build --preset "$flavour"
if [ "$flavour" = fuzz ]; then
  # The fuzz tests bound themselves (tests/fuzz/run_fuzzer.sh); one target at a time, each using a core.
  exec ctest --preset fuzz
fi
exec ctest --preset "$flavour" --timeout 600
