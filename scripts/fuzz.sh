#!/usr/bin/env bash
# The fuzzing campaign (issue 12): builds every libFuzzer target (fuzz/fuzz_*.c) with clang,
# ASan and UBSan, runs each for a given time on a corpus kept in the build tree (seeded from
# fuzz/corpora/), and prints executions, crashes and corpus size per target, plus the totals over
# every run of the campaign in that build tree (BUILD/campaign.tsv).
#
# Usage: scripts/fuzz.sh [-t SECONDS] [-b BUILD] [TARGET...]
#   -t  seconds per target (default 60); -b  build directory (default build-fuzz)
#   TARGET: config, catalogue, state, planfile, journal, varfile, arm_response, armlocal_request,
#   policy, regex
#   (default: all)
# A crash, sanitizer report, leak, timeout (10 s per input) or out-of-memory leaves its input in
# BUILD/artifacts/TARGET/ and counts as a crash (a slow-unit- input there does not). Exit 0 when
# no target crashed.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
secs=60 build=build-fuzz
while getopts "t:b:" o; do
  case $o in
    t) secs=$OPTARG ;; b) build=$OPTARG ;;
    *) echo "usage: $0 [-t SECONDS] [-b BUILD] [TARGET...]" >&2; exit 64 ;;
  esac
done
shift $((OPTIND - 1))
targets=("$@")
if [ ${#targets[@]} = 0 ]; then
  for f in fuzz/fuzz_*.c; do t=${f#fuzz/fuzz_}; targets+=("${t%.c}"); done
fi

command -v clang > /dev/null || { echo "fuzz: clang is needed (scripts/bootstrap.sh installs it)" >&2; exit 1; }
mkdir -p "$build"
CC=clang cmake -S . -B "$build" -DAMLSEC_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo > "$build/cmake.log" 2>&1 \
  || { cat "$build/cmake.log" >&2; exit 1; }
for t in "${targets[@]}"; do
  cmake --build "$build" -j2 --target "fuzz_$t" > "$build/build-$t.log" 2>&1 \
    || { tail -n 30 "$build/build-$t.log" >&2; echo "fuzz: cannot build fuzz_$t" >&2; exit 1; }
done

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
passed=0 failed=0
printf '%-18s %8s %12s %10s %8s %8s\n' target seconds executions exec/s crashes corpus
for t in "${targets[@]}"; do
  corpus=$build/corpus/$t arts=$build/artifacts/$t
  mkdir -p "$corpus" "$arts"
  # crash-, leak-, timeout-, oom- inputs are failures; slow-unit- ones (slower than 10 s once,
  # which a loaded machine causes) are not
  count_crashes() { find "$arts" -type f ! -name 'slow-unit-*' | wc -l; }
  before=$(count_crashes)
  dict=()
  [ -f "fuzz/$t.dict" ] && dict=(-dict="fuzz/$t.dict")
  start=$(date +%s)
  "$build/fuzz/fuzz_$t" "${dict[@]}" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$arts/" "$corpus" "fuzz/corpora/$t" > "$build/run-$t.log" 2>&1
  rc=$?
  took=$(($(date +%s) - start))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$build/run-$t.log" | tail -n 1)
  execs=${execs:-0}
  crashes=$(($(count_crashes) - before))
  [ "$rc" != 0 ] && [ "$crashes" = 0 ] && crashes=1 # died without leaving an input
  printf '%-18s %8d %12d %10d %8d %8d\n' "$t" "$took" "$execs" $((execs / (took > 0 ? took : 1))) \
    "$crashes" "$(find "$corpus" -type f | wc -l)"
  printf '%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$t" "$took" "$execs" "$crashes" >> "$build/campaign.tsv"
  if [ "$crashes" = 0 ]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    grep -m 3 -E 'ERROR: |SUMMARY: |runtime error' "$build/run-$t.log" | sed 's/^/    /'
    echo "    inputs: $arts/ (replay: $build/fuzz/fuzz_$t INPUT)"
  fi
done
echo "campaign totals in $build (every run so far):"
awk -F'\t' '{ s[$2] += $3; e[$2] += $4; c[$2] += $5 }
  END { for (t in e) printf "  %-18s %8d s %12d executions %4d crashes\n", t, s[t], e[t], c[t] }' \
  "$build/campaign.tsv" | sort
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
