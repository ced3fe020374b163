#!/usr/bin/env bash
# Runs every benchmark of the issues and prints their figures (medians; each
# benchmark says its target and whether it is met). Not a test: the figures
# depend on the machine and on what else runs on it.
#
#   scripts/bench.sh [NAME...]     NAME: parse state refresh plan check drift scale (default: all)
#
# scale (issue 18) runs every command at 1k, 10k and 50k resources of
# workspace stacks (BENCH_SCALE_SIZES="1000 10000" leaves out the largest),
# with validate's stage split (parse + check against evaluation, schema and
# rules: target <= 3x; the median of 5 fresh runs per size, or those alone
# with BENCH_SCALE_ROWS=stages) and the growth exponents (target <= 1.15); drift runs
# with Resource Graph's quota off (amlsec's scaling) and on (its wall time
# against the quota's floor: target <= 1.02x).
#
# Builds the release tree (build/) first. Every request goes to a local cloud
# on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
cmake -S . -B build >/dev/null
cmake --build build -j"$(nproc 2>/dev/null || echo 2)" >/dev/null
bench=$root/build/bench
work=$(mktemp -d)
al_pid=""
cleanup() {
  if [ -n "$al_pid" ]; then kill "$al_pid" 2>/dev/null || true; wait "$al_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

names=("$@")
[ ${#names[@]} -gt 0 ] || names=(parse state refresh plan drift scale)
for name in "${names[@]}"; do
  echo "== $name"
  case $name in
    parse) (cd "$work" && "$bench/bench_parse") ;;
    state) (cd "$work" && "$bench/bench_state") ;;
    refresh)
      # issue 5: armlocal with ARM's latency and throttling
      "$root/build/amlsec-armlocal" --listen 127.0.0.1:0 --latency-ms 30 --throttle arm \
        --lro-ms 0 >"$work/armlocal.url" 2>"$work/armlocal.err" &
      al_pid=$!
      for _ in $(seq 1 600); do [ -s "$work/armlocal.url" ] && break; sleep 0.05; done
      "$bench/bench_refresh" "$(head -1 "$work/armlocal.url")" -runs 5
      kill "$al_pid"; wait "$al_pid" 2>/dev/null || true; al_pid=""
      ;;
    plan) (cd "$work" && "$bench/bench_plan" "$root/build/amlsec" "$root/build/amlsec-armlocal") ;;
    check) "$bench/bench_check" "$root/build/amlsec" "$root/../shared" ;;
    # issue 15: drift over 5,000 managed resources and 1,000 unmanaged objects
    drift) (cd "$work" && "$bench/bench_drift" "$root/build/amlsec" "$root/build/amlsec-armlocal") ;;
    scale) (cd "$work" && "$bench/bench_scale" "$root/build/amlsec" "$root/build/amlsec-armlocal") ;;
    *) echo "unknown benchmark '$name' (parse, state, refresh, plan, check, drift, scale)" >&2; exit 1 ;;
  esac
done
