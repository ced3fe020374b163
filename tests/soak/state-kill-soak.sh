#!/usr/bin/env bash
# Kill soak of the state commands (no cloud needed): SIGKILL `state mv -state-out`, `state rm` and
# `state push` at seeded random moments on a generated state of N resource groups (half of them in
# a module, moved or removed as one), then check what is left:
#   - the state (and the -state-out file, when written) reads back (`state list` exits 0) or the
#     command was refused cleanly;
#   - nothing is lost: every address of the original state is in the source state or, renamed,
#     in the -state-out file (in both when the kill came between the two writes), each with its
#     ARM id; `state rm` and `state push` leave the state as before or as after, never between;
#   - the next command recovers or refuses clearly: the same command run again (not killed)
#     succeeds, or exits 1 saying what to do ("already a resource instance at that address in the
#     destination state" after a kill between the writes, then `state rm` of the source's copies
#     as the first run's message says), and then the union holds everything exactly once.
#
# Usage: state-kill-soak.sh [-n TRIALS] [-s SEED] [-r RESOURCES] [-d SECONDS]
#   -n trials (default 60), -s first seed (default 1), -r resource groups in the state (default
#   20000), -d stop starting trials after this many seconds (default: no limit)
# Environment: AMLSEC (default BUILD/amlsec; BUILD default ./build).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
BUILD=${BUILD:-$here/../../build}
AMLSEC=${AMLSEC:-$BUILD/amlsec}
trials=60 seed=1 nres=20000 budget=0
while getopts "n:s:r:d:" o; do
  case $o in
    n) trials=$OPTARG ;; s) seed=$OPTARG ;; r) nres=$OPTARG ;; d) budget=$OPTARG ;;
    *) echo "usage: $0 [-n TRIALS] [-s SEED] [-r RESOURCES] [-d SECONDS]" >&2; exit 64 ;;
  esac
done
work=$(mktemp -d)
kpid=""
cleanup() { [ -n "$kpid" ] && kill -9 "$kpid" 2> /dev/null; rm -rf "$work"; }
trap cleanup EXIT
cd "$work" || exit 1

# gen FILE N PREFIX: a state of N resource groups, the first half in module.m
cat > gen.py <<'PY'
import hashlib, json, sys, uuid
out, n, prefix = sys.argv[1], int(sys.argv[2]), sys.argv[3]
sub = "00000000-0000-0000-0000-0000000050a5"
res = []
for i in range(n):
    addr = ("module.m." if i < n // 2 else "") + f"resource_group.{prefix}{i}"
    res.append({"address": addr, "api_version": "2021-04-01",
                "arm_id": f"/subscriptions/{sub}/resourceGroups/rg-{prefix}{i}",
                "attributes": {"name": f"rg-{prefix}{i}", "location": "westeurope", "tags": {"i": str(i)}},
                "dependencies": [], "kind": "resource_group", "sensitive": [], "status": "created"})
res.sort(key=lambda r: r["address"])
body = json.dumps({"amlsec_version": "0.1.0", "cloud": "https://management.azure.com",
                   "lineage": str(uuid.UUID(int=n * 31 + len(prefix), version=4)),
                   "resources": res, "serial": 1}, separators=(",", ":"))
open(out, "w").write('{"format_version":1,"sha256":"%s","state":%s}\n'
                     % (hashlib.sha256(body.encode()).hexdigest(), body))
PY
# ids FILE: "address id" lines of the state at FILE (via state pull), or nothing
ids() {
  "$AMLSEC" state pull -state "$1" 2> /dev/null | python3 -c '
import json, sys
text = sys.stdin.read()
if text:
    for r in json.loads(text)["state"]["resources"]:
        print(r["address"], r["arm_id"])' | sort
}
mkdir -p ref
python3 gen.py ref/state.json "$nres" g || exit 1
python3 gen.py ref/other.json 100 o || exit 1
ids ref/state.json > ref/ids
ids ref/other.json > ref/other.ids
[ "$(wc -l < ref/ids)" = "$nres" ] || { echo "harness: the generated state does not read"; exit 1; }
# the state after each command completes, for rm and push
( cd ref && mkdir rm && cp state.json rm/ && "$AMLSEC" state rm -state rm/state.json module.m > /dev/null 2>&1 ) \
  || { echo "harness: state rm failed"; exit 1; }
ids ref/rm/state.json > ref/rm.ids

# expected union after a complete `state mv -state-out=out.json module.m module.n`
sed 's/^module\.m\./module.n./' ref/ids | grep '^module\.n\.' > ref/moved.ids
grep -v '^module\.m\.' ref/ids > ref/kept.ids

pass=0 failed=0 killed=0 refused=0 both=0 t0=$(date +%s)
RANDOM=$seed
check_mv() { # after mv: union exactly once (both tolerated before the re-run)
  local src dst
  src=$(ids t/state.json) dst=$(ids t/out.json)
  python3 - "$1" <(echo "$src") <(echo "$dst") ref/ids ref/other.ids <<'PY'
import sys
stage = sys.argv[1]
src = set(l for l in open(sys.argv[2]).read().split("\n") if l)
dst = set(l for l in open(sys.argv[3]).read().split("\n") if l)
orig = set(l for l in open(sys.argv[4]).read().split("\n") if l)
other = set(l for l in open(sys.argv[5]).read().split("\n") if l)
moved_new = {l.replace("module.m.", "module.n.", 1) for l in orig if l.startswith("module.m.")}
kept = {l for l in orig if not l.startswith("module.m.")}
moved_old = orig - kept
bad = []
if not kept <= src: bad.append(f"lost from the source: {len(kept - src)}")
if not other <= dst: bad.append(f"the destination's own entries lost: {len(other - dst)}")
extra = (src - orig) | (dst - other - moved_new)
if extra: bad.append(f"entries that were never there: {sorted(extra)[:3]}")
in_src = moved_old & src; in_dst = moved_new & dst
# all or nothing per state: each file is written whole
if in_src and in_src != moved_old: bad.append(f"the source holds part of the module: {len(in_src)}")
if in_dst and in_dst != moved_new: bad.append(f"the destination holds part of the module: {len(in_dst)}")
if not in_src and not in_dst: bad.append("the module is in neither state")
if stage == "final" and in_src and in_dst: bad.append("the module is in both states after the recovery")
print("both" if in_src and in_dst else "ok", "; ".join(bad))
sys.exit(1 if bad else 0)
PY
}
for ((trial = 0; trial < trials; trial++)); do
  [ "$budget" != 0 ] && [ $(($(date +%s) - t0)) -ge "$budget" ] && break
  rm -rf t && mkdir t && cp ref/state.json t/state.json && cp ref/other.json t/out.json
  op=$((RANDOM % 3))
  delay=$((RANDOM % 500)) # ms
  case $op in
    0) cmd=(state mv -state t/state.json -state-out=t/out.json module.m module.n); name=mv ;;
    1) cmd=(state rm -state t/state.json module.m); name=rm ;;
    2) cp ref/rm/state.json t/push.json; cmd=(state push -state t/state.json -force t/push.json); name=push ;;
  esac
  "$AMLSEC" "${cmd[@]}" > t/run.out 2>&1 &
  kpid=$!
  sleep "$(printf '0.%03d' "$delay")"
  if kill -9 "$kpid" 2> /dev/null; then killed=$((killed + 1)); fi
  wait "$kpid" 2> /dev/null; kpid=""
  verdict="" note=""
  case $name in
    mv)
      out=$(check_mv after) || verdict="FAIL after the kill: $out"
      [[ "$out" == both* ]] && both=$((both + 1))
      if [ -z "$verdict" ]; then
        "$AMLSEC" "${cmd[@]}" > t/rerun.out 2>&1
        rc=$?
        if [ "$rc" = 1 ]; then
          refused=$((refused + 1))
          if grep -q 'already a resource instance at that address in the destination state\|destination module module.n already exists' t/rerun.out \
            && [ -n "$(ids t/state.json | grep '^module\.m\.')" ]; then
            # the way out the first run names: remove the source's copies
            "$AMLSEC" state rm -state t/state.json module.m > t/fix.out 2>&1 || verdict="FAIL: state rm of the source's copies"
          elif ! grep -q 'no matching objects\|destination module module.n already exists' t/rerun.out; then
            verdict="FAIL: the re-run refused unclearly: $(head -c 300 t/rerun.out)"
          fi
        elif [ "$rc" != 0 ]; then
          verdict="FAIL: the re-run exited $rc: $(head -c 300 t/rerun.out)"
        fi
        [ -z "$verdict" ] && { out=$(check_mv final) || verdict="FAIL after the re-run: $out"; }
      fi
      ;;
    rm | push)
      now=$(ids t/state.json)
      if [ "$now" != "$(cat ref/ids)" ] && [ "$now" != "$(cat ref/rm.ids)" ]; then
        verdict="FAIL: the state is neither before nor after ($(echo "$now" | grep -c .) entries)"
      else
        "$AMLSEC" "${cmd[@]}" > t/rerun.out 2>&1
        rc=$?
        [ "$rc" = 0 ] || grep -q 'no matching objects' t/rerun.out || verdict="FAIL: the re-run exited $rc: $(head -c 300 t/rerun.out)"
        [ "$(ids t/state.json)" = "$(cat ref/rm.ids)" ] || verdict="FAIL: the state after the re-run"
      fi
      ;;
  esac
  if [ -z "$verdict" ]; then
    pass=$((pass + 1))
    printf 'trial %3d seed %d %-4s kill at %3d ms: ok\n' "$trial" "$((seed + trial))" "$name" "$delay"
  else
    failed=$((failed + 1))
    printf 'trial %3d seed %d %-4s kill at %3d ms: %s\n' "$trial" "$((seed + trial))" "$name" "$delay" "$verdict"
    cp -r t "fail-$trial" 2> /dev/null
  fi
done
echo "state kill soak: $pass passed, $failed failed; $killed killed mid-run, $both left the module in both files, $refused re-runs refused; $(($(date +%s) - t0)) s"
[ "$failed" = 0 ]
