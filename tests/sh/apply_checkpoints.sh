#!/usr/bin/env bash
# Apply's checkpoints cost what changed, not the size of the state (issue 18): a save rewrites
# the whole state, so one is due only when at least a second has passed and the outcomes since
# the last save number an eighth of the state. A slow apply of 30 changes to a state of 1,200
# resources saves once, at the end (it saved every second before: each save 1,200+ resources
# for a handful of outcomes), and the state and journal end as before.
set -uo pipefail
: "${AMLSEC:?}" "${ARMLOCAL:?}"
work=$(mktemp -d)
source "$(dirname "$0")/lib/e2e.bash"
# storage accounts take 400 ms to create; App Insights are synchronous
cloud_flags=(--lro-ms 0,Microsoft.Storage/storageAccounts=400)
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
export AMLSEC_RATE_LIMIT=off
start_cloud
{
  printf 'settings {\n  subscription = "00000000-0000-0000-0000-0000000000be"\n  location = "westeurope"\n}\n'
  printf 'resource_group "g" {\n  name = "rg-ckpt"\n}\n'
  for i in $(seq 1 1200); do
    printf 'app_insights "a%d" {\n  resource_group = resource_group.g\n  name = "appi-%05d"\n}\n' "$i" "$i"
  done
} > main.amlsec

echo "1. a state of 1,201 resources"
expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color -parallelism 32 > seed.out 2>&1
[ "$("$AMLSEC" state list | wc -l)" = 1201 ] || fail "the seed apply did not record 1,201 resources"

echo "2. 30 slow creates (about 4 s at -parallelism 3): one save, at the end"
for i in $(seq 1 30); do
  printf 'storage_account "s%d" {\n  resource_group = resource_group.g\n  name = "stckpt%05d"\n  allow_blob_public_access = false\n  lifecycle {\n    ignore_rules = { "ST-SERVICE-ENDPOINT" = "test" }\n  }\n}\n' "$i" "$i"
done >> main.amlsec
start=$(date +%s)
AMLSEC_LOG=debug expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color -parallelism 3 > slow.out 2>&1
took=$(( $(date +%s) - start ))
[ "$took" -ge 3 ] || fail "the slow apply took ${took} s: too fast to have checkpointed every second"
grep -q 'Apply complete! Resources: 30 added' slow.out || fail "the slow apply did not add 30"
grep 'checkpoint: saved the state of' slow.out > ckpt.txt
[ "$(wc -l < ckpt.txt)" = 1 ] || fail "$(wc -l < ckpt.txt) checkpoints, wanted 1 (the final save): $(cat ckpt.txt)"
grep -q 'saved the state of 1231 resources after 30 outcomes' ckpt.txt || fail "the final save: $(cat ckpt.txt)"
[ "$("$AMLSEC" state list | wc -l)" = 1231 ] || fail "the state lacks the 30 creates"
[ -e .amlsec/state.json.journal ] && [ ! -s .amlsec/state.json.journal ] || fail "the journal was not compacted"
expect_exit 0 "$AMLSEC" plan -cloud "$url" -refresh=false -detailed-exitcode -no-color > plan.out 2>&1
echo "apply_checkpoints: 2 passed, 0 failed"
