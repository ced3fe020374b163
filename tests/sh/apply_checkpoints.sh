#!/usr/bin/env bash
# Apply's checkpoints cost what changed, not the size of the state (issue 18): a save rewrites
# the whole state, so one is due only when at least a second has passed and the outcomes since
# the last save number an eighth of the state (now: the journal is the run's incremental record,
# and with the local backend a save is due mid-run only when the journal outgrows the state).
# A slow apply of 200 changes to a state of 1,200 resources saves once, at the end (it saved every
# second before: each save 1,200+ resources for a handful of outcomes; then once more when the
# outcomes reached an eighth of the state, 150), and the state and journal end as before; applies
# from an empty state at two sizes write about what their journals wrote;
# 40 renamed create-before-destroy replacements save once (they saved once per rename).
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

echo "2. 200 slow creates (about 5 s at -parallelism 16): one save, at the end"
# the rules before each failed this: a save every second (5 or more), and a save when the outcomes
# since the last one reached an eighth of the state (150 of 1,201, after more than a second)
for i in $(seq 1 200); do
  printf 'storage_account "s%d" {\n  resource_group = resource_group.g\n  name = "stckpt%05d"\n  allow_blob_public_access = false\n  lifecycle {\n    ignore_rules = { "ST-SERVICE-ENDPOINT" = "test" }\n  }\n}\n' "$i" "$i"
done >> main.amlsec
start=$(date +%s)
AMLSEC_LOG=debug expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color -parallelism 16 > slow.out 2>&1
took=$(( $(date +%s) - start ))
[ "$took" -ge 3 ] || fail "the slow apply took ${took} s: too fast to have checkpointed every second"
grep -q 'Apply complete! Resources: 200 added' slow.out || fail "the slow apply did not add 200"
grep 'checkpoint: saved the state of' slow.out > ckpt.txt
[ "$(wc -l < ckpt.txt)" = 1 ] || fail "$(wc -l < ckpt.txt) checkpoints, wanted 1 (the final save): $(cat ckpt.txt)"
grep -q 'saved the state of 1401 resources after 200 outcomes' ckpt.txt || fail "the final save: $(cat ckpt.txt)"
[ "$("$AMLSEC" state list | wc -l)" = 1401 ] || fail "the state lacks the 200 creates"
[ -e .amlsec/state.json.journal ] && [ ! -s .amlsec/state.json.journal ] || fail "the journal was not compacted"
expect_exit 0 "$AMLSEC" plan -cloud "$url" -refresh=false -detailed-exitcode -no-color > plan.out 2>&1
echo "3. applies from an empty state at two sizes: the saves write what the journal wrote, not n^2"
# With the local backend the journal is the run's incremental record: a save is due only when the
# journal has outgrown the state file (and 1 MiB), so at any size the saves of a run write at most
# about twice the final state, the journal stays within the state's size, and it ends empty.
# (Every second, a 4,000-create run at full speed saved a growing state several times; a save per
# collect would write ~40x the state.) This step guards the bound; it cannot tell the journal rule
# from the eighth-of-the-state one, which its fast runs keep to a save a second (step 2 does).
apply_from_empty() { # n: creates n App Insights in its own directory; prints "saves written final max_journal prev_ok"
  local n=$1 d=empty$1
  mkdir -p "$d"
  {
    printf 'settings {\n  subscription = "00000000-0000-0000-0000-0000000000be"\n  location = "westeurope"\n}\n'
    printf 'resource_group "g" {\n  name = "rg-empty%d"\n}\n' "$n"
    for i in $(seq 1 "$n"); do
      printf 'app_insights "a%d" {\n  resource_group = resource_group.g\n  name = "appi-e%d-%05d"\n}\n' "$i" "$n" "$i"
    done
  } > "$d/main.amlsec"
  (cd "$d" && AMLSEC_LOG=debug "$AMLSEC" apply -cloud "$url" -auto-approve -no-color -parallelism 32 > apply.out 2>&1) \
    || fail_with "the apply of $n creates failed" "$d/apply.out"
  grep -q "Apply complete! Resources: $((n + 1)) added" "$d/apply.out" || fail_with "the apply of $n did not add $((n + 1))" "$d/apply.out"
  [ -e "$d/.amlsec/state.json.journal" ] && [ ! -s "$d/.amlsec/state.json.journal" ] || fail "the journal of $n was not emptied"
  [ "$(wc -c < "$d/.amlsec/state.json")" -gt 0 ] || fail "no state for $n"
  # "checkpoint: saved the state of R resources after K outcomes: B bytes, the journal J bytes"
  awk -v final="$(wc -c < "$d/.amlsec/state.json")" '
    /checkpoint: saved the state of/ {
      for (i = 1; i <= NF; i++) { if ($i == "bytes,") b = $(i - 1); if ($i == "journal") j = $(i + 1) }
      saves++; written += b
      # the journal may outgrow the state last written by what one turn settles (32 outcomes)
      lim = prev > 1048576 ? prev : 1048576
      if (j > lim + 32 * 4096) bad++
      if (j > maxj) maxj = j
      prev = b
    }
    END { printf "%d %d %d %d %d\n", saves, written, final, maxj, bad }' "$d/apply.out"
}
read -r s1 w1 f1 j1 bad1 <<< "$(apply_from_empty 600)"
read -r s2 w2 f2 j2 bad2 <<< "$(apply_from_empty 4000)"
echo "   600: $s1 saves, $w1 bytes written, state $f1 bytes, journal at most $j1 bytes"
echo "   4000: $s2 saves, $w2 bytes written, state $f2 bytes, journal at most $j2 bytes"
[ "$s1" = 1 ] || fail "$s1 saves for 600 creates (a journal under 1 MiB): wanted the final one alone"
[ "$s2" -ge 2 ] || fail "no save compacted the journal of 4,000 creates (${j2} bytes)"
[ "$bad1" = 0 ] && [ "$bad2" = 0 ] || fail "a journal outgrew the state before its save ($bad1, $bad2)"
# what the saves wrote, per byte of the final state: the same at both sizes, and at most 3
[ "$w1" -le $((3 * f1)) ] || fail "600 creates: the saves wrote $w1 bytes for a state of $f1"
[ "$w2" -le $((3 * f2)) ] || fail "4,000 creates: the saves wrote $w2 bytes for a state of $f2"
# per outcome, 6.7x the outcomes cost at most 3x the bytes each (quadratic saves: ~6.7x and more)
[ $((w2 * 601)) -le $((3 * w1 * 4001)) ] || fail "per outcome, 4,000 creates wrote $w2/4001 bytes against $w1/601"
expect_exit 0 "$AMLSEC" state list -state empty4000/.amlsec/state.json > list4000.out 2>&1
[ "$(wc -l < list4000.out)" = 4001 ] || fail "the state of 4,000 lacks entries"

echo "4. 40 renamed create-before-destroy replacements: the moves are journaled, one save at the end"
# Each keeps the resource it replaces at "ADDRESS (previous)" until its delete; that move is an
# outcome in the journal like the others (it once saved the whole state once per rename).
mkdir renames && cd renames
rename_config() { # suffix
  printf 'settings {\n  subscription = "00000000-0000-0000-0000-0000000000be"\n  location = "westeurope"\n}\n'
  printf 'resource_group "g" {\n  name = "rg-renames"\n}\n'
  for i in $(seq 1 40); do
    printf 'app_insights "a%d" {\n  resource_group = resource_group.g\n  name = "appi-rn%d-%s"\n  lifecycle {\n    create_before_destroy = true\n  }\n}\n' "$i" "$i" "$1"
  done
}
rename_config one > main.amlsec
expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color -parallelism 8 > rn0.out 2>&1
rename_config two > main.amlsec
AMLSEC_LOG=debug expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color -parallelism 8 > rn1.out 2>&1
grep -q 'Apply complete! Resources: 40 added, 0 changed, 40 destroyed' rn1.out || fail_with "the renames did not apply" rn1.out
grep 'checkpoint: saved the state of' rn1.out > rnckpt.txt
[ "$(wc -l < rnckpt.txt)" = 1 ] || fail "$(wc -l < rnckpt.txt) saves for 40 renames, wanted 1 (the final one): $(head -3 rnckpt.txt)"
grep -q 'saved the state of 41 resources after 120 outcomes' rnckpt.txt || fail "the final save: $(cat rnckpt.txt)"
"$AMLSEC" state list > rnlist.out
[ "$(wc -l < rnlist.out)" = 41 ] && ! grep -q previous rnlist.out || fail_with "the state after the renames" rnlist.out
[ "$(curl -s -o /dev/null -w '%{http_code}' "$url/subscriptions/00000000-0000-0000-0000-0000000000be/resourceGroups/rg-renames/providers/Microsoft.Insights/components/appi-rn7-one?api-version=2020-02-02")" = 404 ] \
  || fail "an old resource was left behind"
expect_exit 0 "$AMLSEC" plan -cloud "$url" -refresh=false -detailed-exitcode -no-color > rnplan.out 2>&1
cd ..
echo "apply_checkpoints: 4 passed, 0 failed"
