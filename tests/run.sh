#!/usr/bin/env bash
# The whole test suite, as the README's second command and CI run it: installs what is missing,
# builds, and runs every unit and integration test through ctest.
#   tests/run.sh          regular build in build/
#   tests/run.sh asan     ASan+UBSan build in build-asan/
#   tests/run.sh tsan     TSan build in build-tsan/
set -euo pipefail
cd "$(dirname "$0")/.."

flavour=${1:-default}
case "$flavour" in
  default|asan|tsan) ;;
  *) echo "usage: tests/run.sh [asan|tsan]" >&2; exit 1 ;;
esac

bash .ci/setup-deps
cmake --preset "$flavour" >/dev/null
cmake --build --preset "$flavour"
if [ "$flavour" = asan ]; then
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
fi
if [ "$flavour" = tsan ]; then
  # tests/tsan.supp: known false positives only, each explained there.
  export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/tests/tsan.supp}
fi
exec ctest --preset "$flavour" --timeout 600
