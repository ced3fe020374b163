#!/usr/bin/env bash
# Crash recovery that converges (issue 12), against a standalone local cloud with slow operations:
#   1. kill -9 while a resource group is being created: the next apply reads the group back
#      (an id without /providers/) and converges;
#   2. kill -9 while a storage account's create runs (invisible, 404, until it ends): the intent
#      stays pending with its operation URL, the next run polls the operation and adopts the
#      account (no "already exists ... import"); killed before any answer (no URL), the intent
#      stays pending until the account is visible, then is adopted;
#   3. destroy: a resource deleted outside amlsec, a key deleted with its vault, and a kill while
#      a delete runs leave no state entry for what is gone; destroy exits 0 with an empty state;
#   4. recovery whose reconciled state cannot be saved fails cleanly and leaks nothing (ASan);
#   5. a hand-edited state with a valid checksum (invalid UTF-8, a garbage address or arm_id, an
#      id of another kind's type, an unknown kind) is refused naming the file and the JSON path,
#      and nothing of it is sent to ARM;
#   6. an unreadable journal entry does not block the others; it is named (journal path, line,
#      byte offset) and kept in <journal>.damaged;
#   7. kill -9 at seeded random moments (and just after a save) of an apply of 2,500 creates whose
#      journal is compacted mid-run: every outcome survives, nothing is PUT twice (one round
#      encrypted: nothing in clear).
set -uo pipefail
: "${AMLSEC:?}" "${ARMLOCAL:?}"
work=$(mktemp -d)
source "$(dirname "$0")/lib/e2e.bash"
cloud_flags=(--lro-ms 0)
apid=""
cleanup() {
  [ -n "$apid" ] && kill -9 "$apid" 2>/dev/null
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  chmod -R u+w "$work" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
sub=00000000-0000-0000-0000-0000000000c7
wait_for() { # file, pattern: up to 30 s
  for _ in $(seq 300); do grep -qs "$2" "$1" && return 0; sleep 0.1; done
  fail "'$2' never appeared in $1"
}
lro_types() { # {"TYPE": ms, ...}: per-type durations from now on
  curl -sf -X PUT -H 'Content-Type: application/json' -d "{\"lroMsByType\":$1}" \
    "$url/_armlocal/settings" > /dev/null || fail "cannot set lroMsByType"
}
kill_apply_at() { # out, pattern, then amlsec arguments: run, kill -9 once pattern is printed
  local out=$1 pat=$2; shift 2
  "$AMLSEC" "$@" -cloud "$url" -auto-approve -no-color > "$out" 2>&1 &
  apid=$!
  wait_for "$out" "$pat"
  sleep 0.2
  kill -9 "$apid"; wait "$apid" 2>/dev/null; apid=""
}
state_list() { "$AMLSEC" state list 2>&1; }
cloud_has() { # path under the subscription: 0 when the local cloud holds it
  curl -sf "$url/_armlocal/resources/subscriptions/$sub/$1" > /dev/null
}
converged() { # prefix: a plan with nothing to do
  expect_exit 0 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > "$1"-plan.out 2>&1
}

cat > main.amlsec <<EOF
settings {
  subscription = "$sub"
  location     = "westeurope"
}

resource_group "g" {
  name = "rg-crash"
}

storage_account "s" {
  resource_group           = resource_group.g
  name                     = "stcrash0001"
  allow_blob_public_access = false
  public_network_access    = false
  lifecycle {
    ignore_rules = { "ST-SERVICE-ENDPOINT" = "test estate" }
  }
}
EOF

echo "1. kill -9 while the resource group is being created"
start_cloud
lro_types '{"Microsoft.Resources/resourceGroups": 1500}'
kill_apply_at k1.out '^resource_group.g: Creating\.\.\.$' apply
[ -s .amlsec/state.json.journal ] || fail "the kill left no pending intent"
lro_types '{}'
expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color > k1-apply.out 2>&1
grep -q 'create resource_group.g: adopted' k1-apply.out || fail "the resource group was not recovered"
converged k1

echo "2. kill -9 while the storage account's create runs (invisible until it ends)"
stop_cloud; rm -rf .amlsec; start_cloud
expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color -target resource_group.g > k2-rg.out 2>&1
lro_types '{"Microsoft.Storage/storageAccounts": 2500}'
kill_apply_at k2.out '^storage_account.s: Creating\.\.\.$' apply
cloud_has resourceGroups/rg-crash/providers/Microsoft.Storage/storageAccounts/stcrash0001 \
  || fail "the local cloud does not hold the account being created"
grep -q '"operation":"http[^"]*operationResults[^"]*","t":"accepted"' .amlsec/state.json.journal \
  || fail_with "the journal did not keep the operation's URL" .amlsec/state.json.journal
# a plan that does not read the cloud is not blocked by a create that may still be running
expect_exit 0 "$AMLSEC" plan -refresh=false -no-color > k2-norefresh.out 2>&1
grep -q '^amlsec: warning: 1 create of an interrupted apply may still be running' k2-norefresh.out \
  || fail "no warning about the create that may still be running"
# the next run waits for the operation, then adopts the account: no import, no second create
expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color > k2-apply.out 2>&1
grep -q 'create storage_account.s: adopted' k2-apply.out || fail "the account was not adopted"
grep -q 'import\|already exists' k2-apply.out && fail "the recovered create asks for an import"
grep -q 'storage_account.s: Creating' k2-apply.out && fail "the account was created a second time"
converged k2

echo "   killed before the service answered (no operation URL): pending, then adopted once visible"
stop_cloud; rm -rf .amlsec; start_cloud
expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color -target resource_group.g > k3-rg.out 2>&1
lro_types '{"Microsoft.Storage/storageAccounts": 3000}'
# the local cloud starts the create at once but answers only after 5 s
curl -sf -X POST -H 'Content-Type: application/json' \
  -d '{"kind":"slow","method":"PUT","path":"*/storageAccounts/stcrash0001","ms":5000,"times":1}' \
  "$url/_armlocal/faults" > /dev/null || fail "cannot add the slow fault"
kill_apply_at k3.out '^storage_account.s: Creating\.\.\.$' apply
grep -q '"t":"accepted"' .amlsec/state.json.journal && fail "an operation URL was journaled before any answer"
expect_exit 2 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > k3-plan.out 2>&1
grep -q '^amlsec: 1 operation of an interrupted apply may still be running (not visible yet)' k3-plan.out \
  || fail "the create not yet visible was not kept pending"
grep -q '^  create storage_account.s: pending' k3-plan.out || fail "the pending create is not named"
[ -s .amlsec/state.json.journal ] || fail "the pending intent left the journal"
account="$url/subscriptions/$sub/resourceGroups/rg-crash/providers/Microsoft.Storage/storageAccounts/stcrash0001?api-version=2025-06-01"
for _ in $(seq 100); do curl -sf "$account" > /dev/null && break; sleep 0.1; done
curl -sf "$account" > /dev/null || fail "the local cloud did not finish the create"
expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color > k3-apply.out 2>&1
grep -q 'create storage_account.s: adopted' k3-apply.out || fail "the account was not adopted once visible"
grep -q 'import\|already exists' k3-apply.out && fail "the adopted create asks for an import"
grep -q 'storage_account.s: Creating' k3-apply.out && fail "the account was created a second time"
converged k3

echo "3. destroy leaves no entry for what is gone"
cat > main.amlsec <<EOF
settings {
  subscription = "$sub"
  location     = "westeurope"
}

resource_group "g" {
  name = "rg-crash"
}

key_vault "kv" {
  resource_group   = resource_group.g
  name             = "kv-crash3"
  purge_protection = true
}

key "k" {
  vault = key_vault.kv
  type  = "RSA"
  size  = 3072
}
EOF
stop_cloud; rm -rf .amlsec; start_cloud
expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color > d1-apply.out 2>&1
# the vault (and with it its key) deleted outside amlsec
curl -sf -X DELETE "$url/subscriptions/$sub/resourceGroups/rg-crash/providers/Microsoft.KeyVault/vaults/kv-crash3?api-version=2025-05-01" \
  > /dev/null || fail "cannot delete the vault outside amlsec"
expect_exit 0 "$AMLSEC" destroy -cloud "$url" -auto-approve -no-color > d1.out 2>&1
grep -q '^key.k: removed from the state (it no longer exists in Azure)$' d1.out || fail "the key's entry was not removed"
grep -q '^key_vault.kv: removed from the state (it no longer exists in Azure)$' d1.out || fail "the vault's entry was not removed"
state_list > d1-state.out
[ -s d1-state.out ] && fail_with "destroy exited 0 leaving entries for resources that are gone" d1-state.out
cloud_has resourceGroups/rg-crash && fail "the resource group was not destroyed"

echo "   kill -9 while the resource group's delete runs: no phantom, no second delete"
lro_types '{}'
expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color -target resource_group.g > d2-apply.out 2>&1
lro_types '{"Microsoft.Resources/resourceGroups": 2500}'
kill_apply_at d2.out '^resource_group.g: Destroying\.\.\.$' destroy
expect_exit 0 "$AMLSEC" destroy -cloud "$url" -auto-approve -no-color > d3.out 2>&1
grep -q 'delete resource_group.g: removed' d3.out || fail "the delete in flight was not recovered as done"
grep -q 'resource_group.g: Destroying' d3.out && fail "the group was deleted a second time"
state_list > d3-state.out
[ -s d3-state.out ] && fail_with "a phantom entry is left" d3-state.out
cloud_has resourceGroups/rg-crash && fail "the resource group still exists"

echo "4. the reconciled state cannot be saved: a clean error, nothing leaked, nothing lost"
cat > main.amlsec <<EOF
settings {
  subscription = "$sub"
  location     = "westeurope"
}

resource_group "g" {
  name = "rg-crash"
}

app_insights "a" {
  resource_group = resource_group.g
  name           = "appi-crash"
}
EOF
lro_types '{}'
expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color -target resource_group.g > s1.out 2>&1
lro_types '{"Microsoft.Insights/components": 1500}'
kill_apply_at s2.out '^app_insights.a: Creating\.\.\.$' apply
[ -s .amlsec/state.json.journal ] || fail "the kill left no pending intent"
cp .amlsec/state.json.journal journal.before
rm -f .amlsec/state.json.backup; mkdir -p .amlsec/state.json.backup/x # the state's backup cannot be replaced: its save fails
lro_types '{}'
expect_exit 1 "$AMLSEC" plan -cloud "$url" -no-color > s3.out 2>&1
grep -q "^amlsec: error: recovering an interrupted apply: cannot keep the backup '.amlsec/state.json.backup'" s3.out \
  || fail "the failed save is not reported"
cmp -s journal.before .amlsec/state.json.journal || fail "the journal changed although the state was not saved"
rm -rf .amlsec/state.json.backup
expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color > s4.out 2>&1
grep -q 'create app_insights.a: adopted' s4.out || fail "the intent was not recovered once the state could be saved"
converged s4

echo "5. hand-edited state with a valid checksum: refused naming the file and the JSON path"
edited_state() { # kind, arm_id, attributes JSON (python literal text): a state with one entry
  python3 - "$@" <<'PY'
import hashlib, json, sys
kind, arm_id, attrs = sys.argv[1], sys.argv[2], sys.argv[3].encode("latin-1").decode("unicode_escape").encode("latin-1")
line = (b'{"address":"' + kind.encode() + b'.x","api_version":"2025-05-01","arm_id":"' + arm_id.encode()
        + b'","attributes":' + attrs + b',"dependencies":[],"kind":"' + kind.encode()
        + b'","sensitive":[],"status":"created"}')
body = (b'{"amlsec_version":"0.1.0","lineage":"7c0e2a6e-0000-4000-8000-000000000001","resources":[\n'
        + line + b'\n],"serial":3}')
doc = b'{"format_version":1,"sha256":"' + hashlib.sha256(body).hexdigest().encode() + b'","state":' + body + b'}\n'
open(".amlsec/state.json", "wb").write(doc)
PY
}
kv=/subscriptions/$sub/resourceGroups/rg-crash/providers/Microsoft.KeyVault/vaults/kv-edited
rm -f .amlsec/state.json.journal
curl -sf -X DELETE "$url/_armlocal/requests" > /dev/null || fail "cannot clear the request log"
edited_state key_vault "$kv" '{"name":"kv\xff"}'
expect_exit 1 "$AMLSEC" plan -cloud "$url" -no-color > e1.out 2>&1
grep -q "'.amlsec/state.json': resources\[0\].attributes: invalid UTF-8 in a string" e1.out \
  || fail "invalid UTF-8 is not reported with its JSON path"
grep -q 'out of memory' e1.out && fail "invalid UTF-8 reported as out of memory"
edited_state key_vault '/subscriptions/s/resourceGroups//garbage' '{}'
expect_exit 1 "$AMLSEC" plan -cloud "$url" -no-color > e2.out 2>&1
grep -q "'.amlsec/state.json': resources\[0\].arm_id: '/subscriptions/s/resourceGroups//garbage' is not a well-formed ARM id" e2.out \
  || fail "a garbage arm_id is not refused"
edited_state storage_account "$kv" '{}'
expect_exit 1 "$AMLSEC" plan -cloud "$url" -no-color > e3.out 2>&1
grep -q "'.amlsec/state.json': resources\[0\].arm_id: '$kv' is not the id of a storage_account (Microsoft.Storage/storageAccounts)" e3.out \
  || fail "an arm_id of another kind's type is not refused"
edited_state no_such_kind "$kv" '{}'
expect_exit 1 "$AMLSEC" plan -cloud "$url" -no-color > e4.out 2>&1
grep -q "'.amlsec/state.json': resources\[0\].kind: 'no_such_kind' is not a kind amlsec knows" e4.out \
  || fail "an unknown kind is not refused"
curl -sf "$url/_armlocal/requests" | grep -q 'kv-edited\|garbage' && fail "a hand-edited id was sent to ARM"

echo "6. one unreadable journal entry: the others are recovered, the file and entry are named"
cat > main.amlsec <<EOF
settings {
  subscription = "$sub"
  location     = "westeurope"
}

resource_group "g" {
  name = "rg-crash"
}

app_insights "a" {
  resource_group = resource_group.g
  name           = "appi-crash6"
}
EOF
stop_cloud; rm -rf .amlsec; start_cloud
expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color -target resource_group.g > u1.out 2>&1
lro_types '{"Microsoft.Insights/components": 1500}'
kill_apply_at u2.out '^app_insights.a: Creating\.\.\.$' apply
journal=.amlsec/state.json.journal
offset=$(stat -c %s "$journal")
printf '{"t":"begin","id":"cut-short-by-a-bad-disk\n' >> "$journal"
lro_types '{}'
expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color > u3.out 2>&1
grep -q "^amlsec: warning: journal '$journal': entry at line [0-9]* (byte $offset) is unreadable" u3.out \
  || fail "the unreadable entry is not named with the journal's path and offset"
grep -q 'create app_insights.a: adopted' u3.out || fail "the readable entry was not recovered"
[ -s "$journal" ] && fail "the journal was not emptied"
grep -qx '{"t":"begin","id":"cut-short-by-a-bad-disk' "$journal.damaged" \
  || fail "the unreadable entry was not kept in $journal.damaged"
converged u3

echo "7. kill -9 at seeded random moments of an apply of 2,500 creates, during its journal writes"
echo "   and the saves that compact it: every outcome survives, nothing is created twice"
# The journal is the run's incremental record and the state is saved only when the journal outgrows
# it (~1 MiB here, so a few saves a run): a kill lands during group commits, saves and journal
# rewrites alike. The next apply must fold every journaled outcome, read what was in flight and
# converge with each resource PUT exactly once over both runs (an outcome lost would be created
# again; one recovered twice would not converge). Bounded: 4 rounds, one encrypted.
seed=${CRASH_SEED:-$(( $(date +%s) % 10000 ))}
echo "   seed $seed (CRASH_SEED=$seed reproduces it)"
RANDOM=$seed
{
  printf 'settings {\n  subscription = "%s"\n  location     = "westeurope"\n}\n' "$sub"
  printf 'resource_group "g" {\n  name = "rg-crash7"\n}\n'
  for i in $(seq 1 2500); do
    printf 'app_insights "a%d" {\n  resource_group = resource_group.g\n  name = "appi-k7-%05d"\n}\n' "$i" "$i"
  done
} > main.amlsec
lro_types '{}'
for round in 1 2 3 4; do
  curl -sf -X POST "$url/_armlocal/reset" > /dev/null || fail "cannot reset the local cloud"
  rm -rf .amlsec
  if [ "$round" = 4 ]; then export AMLSEC_STATE_KEY=$(printf crash-seven | sha256sum | cut -c1-64); fi
  AMLSEC_RATE_LIMIT=off AMLSEC_LOG=debug "$AMLSEC" apply -cloud "$url" -auto-approve -no-color \
    -parallelism 16 > r$round.out 2>&1 &
  apid=$!
  if [ $((round % 2)) = 0 ]; then
    # just after a save: while the journal is rewritten, or the next group is written
    wait_for r$round.out 'checkpoint: saved the state'
    sleep "0.0$((RANDOM % 10))"
    when="after a save"
  else
    wait_for r$round.out 'Creation complete'
    sleep "0.$((RANDOM % 6))$((RANDOM % 10))"
    when="at a random moment"
  fi
  kill -9 "$apid" 2>/dev/null; wait "$apid" 2>/dev/null; apid=""
  done_before=$(grep -c 'Creation complete' r$round.out)
  echo "   round $round: killed $when after $done_before creates"
  if [ "$round" = 4 ]; then
    # encrypted: neither the journal nor the state holds a name in clear
    grep -l 'appi-k7' .amlsec/state.json .amlsec/state.json.journal 2>/dev/null \
      && fail "round 4: an encrypted run left attributes in clear"
  fi
  AMLSEC_RATE_LIMIT=off expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color -parallelism 16 \
    > r$round-apply.out 2>&1
  grep -q 'already exists\|import' r$round-apply.out && fail_with "round $round: a recovered create asks for an import" r$round-apply.out
  # thousands of journaled outcomes: the first 50 named, the rest counted
  listed=$(grep -c '^  create [a-z_]*\.[a-z0-9]*: [a-z ()]*$' r$round-apply.out)
  more=$(sed -n 's/^  \.\.\. and \([0-9]*\) more (AMLSEC_LOG=info lists each)$/\1/p' r$round-apply.out)
  recovered=$(sed -n 's/^amlsec: recovered \([0-9]*\) in-flight operations\{0,1\} from an interrupted apply$/\1/p' r$round-apply.out)
  pending=$(sed -n 's/^amlsec: \([0-9]*\) operations\{0,1\} of an interrupted apply may still be running.*/\1/p' r$round-apply.out)
  total=$(( ${recovered:-0} + ${pending:-0} ))
  if [ "$total" -gt 50 ]; then
    [ "$listed" = 50 ] && [ "$more" = $((total - 50)) ] \
      || fail_with "round $round: $total recovered, $listed listed and '${more}' more" r$round-apply.out
  else
    [ "$listed" = "$total" ] && [ -z "$more" ] || fail_with "round $round: $total recovered, $listed listed" r$round-apply.out
  fi
  echo "   round $round: the next apply recovered $total operations ($listed named)"
  [ "$("$AMLSEC" state list | wc -l)" = 2501 ] || fail "round $round: the state does not hold 2,501 resources"
  [ -e .amlsec/state.json.journal ] && [ ! -s .amlsec/state.json.journal ] || fail "round $round: the journal was not emptied"
  curl -sf "$url/_armlocal/requests" > r$round-requests.json || fail "cannot read the request log"
  python3 - r$round-requests.json "$round" <<'PY' || fail "round $round: a resource was created twice or not at all"
import json, sys
log = json.load(open(sys.argv[1]))
puts = {p: n for p, n in log["byPath"].items() if p.startswith("PUT /subscriptions/") and "appi-k7-" in p}
twice = [p for p, n in puts.items() if n != 1]
if len(puts) != 2500 or twice:
    print(f"round {sys.argv[2]}: {len(puts)} App Insights PUT, {len(twice)} more than once: {twice[:3]}")
    sys.exit(1)
PY
  expect_exit 0 "$AMLSEC" plan -cloud "$url" -refresh=false -detailed-exitcode -no-color > r$round-plan.out 2>&1
  unset AMLSEC_STATE_KEY
done
echo "all crash recovery scenarios passed"
