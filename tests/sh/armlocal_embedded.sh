#!/usr/bin/env bash
# `amlsec local-cloud`: the local cloud embedded in amlsec, data under
# .amlsec/local, resources kept across separate invocations.
source "$SRC/tests/sh/lib/armlocal.bash"
: "${AMLSEC:?}"
ARMLOCAL=$AMLSEC
S=/subscriptions/00000000-0000-0000-0000-000000000001
cd "$TMP"
"$AMLSEC" local-cloud -h | grep -q -- "--lro-ms" || fail "usage"
if "$AMLSEC" local-cloud --throttle sometimes 2>/dev/null; then fail "bad flag accepted"; fi
armlocal_start local-cloud --lro-ms 0
[[ "$B" =~ ^http://127\.0\.0\.1:[0-9]+$ ]] || fail "base url: $B"
req PUT "$S/resourceGroups/rg1?api-version=2024-03-01" '{"location":"eastus"}'; expect_code 201 "create"
armlocal_stop
[ -f .amlsec/local/armlocal.json ] || fail "no state under .amlsec/local"
[ "$(stat -c %a .amlsec/local/armlocal.json)" = 600 ] || fail "state file mode"
armlocal_start local-cloud
req GET "$S/resourceGroups/rg1?api-version=2024-03-01"; expect_code 200 "kept across invocations"
armlocal_stop

# Concurrent runs with -cloud local on one directory: each serves the same .amlsec/local. Each
# applies its own resource, waiting for the state lock; what one wrote to the embedded cloud must
# be what the next one reads and keeps (the cloud's store was read before the lock and written
# back whole at the end, so all but one create were lost: the next plan found them deleted)
mkdir conc && cd conc || fail "cd conc"
{
  printf 'settings {\n  subscription = "00000000-0000-0000-0000-0000000000c0"\n  location     = "westeurope"\n}\n'
  for i in 0 1 2 3; do printf 'resource_group "g%d" {\n  name = "rg-conc-%d"\n}\n' "$i" "$i"; done
} > main.amlsec
pids=()
for i in 0 1 2 3; do
  "$AMLSEC" apply -auto-approve -cloud local -lock-timeout 60s -target "resource_group.g$i" -no-color \
    > "apply$i.out" 2>&1 &
  pids+=($!)
done
for i in 0 1 2 3; do wait "${pids[i]}" || fail "concurrent apply $i: $(grep -m 1 error "apply$i.out")"; done
"$AMLSEC" state list > list.out || fail "state list"
[ "$(wc -l < list.out)" = 4 ] || fail "the state holds $(wc -l < list.out) resources, not 4"
rc=0
"$AMLSEC" plan -cloud local -detailed-exitcode -no-color > plan.out 2>&1 || rc=$?
[ "$rc" = 0 ] || fail "after concurrent applies the plan exits $rc: $(grep -E 'has been deleted|will be' plan.out | tr '\n' ' ')"
cd .. || fail "cd .."
echo "armlocal embedded: ok"
