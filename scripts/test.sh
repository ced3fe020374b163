#!/usr/bin/env bash
# Builds amlsec and runs every test, on a fresh Debian machine:
#   1. installs what is missing (scripts/bootstrap.sh),
#   2. builds with -Werror and runs the whole CTest suite,
#   3. builds again under ASan+UBSan and runs the suite there too.
# A failed test is run once more (--repeat until-pass:2): timing-sensitive local-cloud tests
# have failed once on a heavily loaded machine; a broken test still fails. The last line is
# CTest's summary. Tests run two per core: most of their time is spent waiting on local clouds,
# long-running operations and child processes, not computing; the costliest start first (COST in
# tests/CMakeLists.txt). The Node.js packages the tests drive are installed once, into .cache/npm
# (tests/tools/npm_install.sh), for both builds.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
jobs=$(nproc 2>/dev/null || echo 2)

cmake -S . -B build -DAMLSEC_WERROR=ON >/dev/null
cmake --build build -j"$jobs"
cmake -S . -B build-asan -DAMLSEC_WERROR=ON -DAMLSEC_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-asan -j"$jobs"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
echo "== ASan+UBSan build" >&2
ctest --test-dir build-asan --output-on-failure -j"$((2 * jobs))" -LE no-sanitize --repeat until-pass:2
echo "== release build" >&2
ctest --test-dir build --output-on-failure -j"$((2 * jobs))" --repeat until-pass:2
