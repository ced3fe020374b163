#!/usr/bin/env bash
# Builds amlsec and runs every test, on a fresh Debian machine:
#   1. installs what is missing (scripts/bootstrap.sh),
#   2. builds with -Werror, and again under ASan+UBSan,
#   3. runs the suite under ASan+UBSan, then the whole CTest suite in the release build.
# A failed test is run once more (--repeat until-pass:2): timing-sensitive local-cloud tests
# have failed once on a heavily loaded machine; a broken test still fails. The last line is
# CTest's summary. Tests run two per core: much of their time is spent waiting on local clouds,
# long-running operations and child processes, though on a slow 2-core machine the ASan+UBSan run
# is CPU-bound all the same; the costliest start first (COST in tests/CMakeLists.txt), so none is
# left running alone at the end. The ASan+UBSan build is -O1 with its runtimes linked in
# (CMakeLists.txt): an ASan process starts in 63 ms of CPU that way, not 96, and a CPU-bound test
# takes under half the CPU it took at -O0. The Node.js packages the tests drive are installed
# once, into .cache/npm (tests/tools/npm_install.sh), for both builds. ASan keeps the last 32 MB
# of freed memory in quarantine (use after free is still caught within it), not its default
# 256 MB: deriving the state key (600,000 PBKDF2-HMAC-SHA512 rounds in OpenSSL, which allocates
# every round) churns the default quarantine, 2.9 s a command against 1.0 s, and the tests run
# many such commands.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
jobs=$(nproc 2>/dev/null || echo 2)

cmake -S . -B build -DAMLSEC_WERROR=ON >/dev/null
cmake --build build -j"$jobs"
cmake -S . -B build-asan -DAMLSEC_WERROR=ON -DAMLSEC_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-asan -j"$jobs"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:quarantine_size_mb=32}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
echo "== ASan+UBSan build" >&2
ctest --test-dir build-asan --output-on-failure -j"$((2 * jobs))" -LE no-sanitize --repeat until-pass:2
echo "== release build" >&2
ctest --test-dir build --output-on-failure -j"$((2 * jobs))" --repeat until-pass:2
