#!/usr/bin/env bash
# Canary secrets after a kill (kill -9 of apply), before any plan or apply recovered it: the
# commands that fold the journal in memory (state list, state show, show and their -json) show
# what completed, the secrets in it among them: a sensitive variable in a group's tags, App
# Insights' generated connection string and instrumentation key (read from the journal's
# completed responses, not saved in the state yet), and a sensitive output. None of them may
# print a secret (AMLSEC_LOG=trace), nor may output and output -json; the state, its backup and
# the journal are encrypted. Then plan recovers and the same commands are scanned again.
set -uo pipefail
: "${AMLSEC:?}" "${ARMLOCAL:?}"
work=$(mktemp -d)
source "$(dirname "$0")/lib/e2e.bash"
cloud_flags=(--lro-ms 0 --lro-ms Microsoft.Storage/storageAccounts=4000)
apid=""
cleanup() {
  [ -n "$apid" ] && kill -9 "$apid" 2>/dev/null
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work" || exit 1
start_cloud
sub=00000000-0000-0000-0000-0000000000e8
export AMLSEC_STATE_PASSPHRASE=CnryKillPass1x AMLSEC_VAR_owner=CnryKillTag2x
cat > main.amlsec <<AMLSEC
settings {
  subscription = "$sub"
  location     = "westeurope"
}

variable "owner" {
  type      = string
  sensitive = true
}

resource_group "g" {
  name = "rg-cak-g"
}

resource_group "k" {
  name = "rg-cak-k"
  tags = { owner = var.owner, team = "data" }
}

app_insights "ai" {
  resource_group = resource_group.g
  name           = "appi-cak"
}

storage_account "s" {
  resource_group = resource_group.k
  name           = "stcak001"
  depends_on     = [app_insights.ai]
}

output "owner" {
  value     = var.owner
  sensitive = true
}

output "cs" {
  value     = app_insights.ai.connection_string
  sensitive = true
}
AMLSEC
"$AMLSEC" apply -cloud "$url" -auto-approve -no-color > a1.out 2>&1 &
apid=$!
for _ in $(seq 300); do grep -qs '^storage_account.s: Creating\.\.\.$' a1.out && break; sleep 0.1; done
grep -qs '^storage_account.s: Creating\.\.\.$' a1.out || fail "the storage account's create never started"
sleep 0.3
kill -9 "$apid"; wait "$apid" 2>/dev/null; apid=""
grep -q 'app_insights.ai: Creation complete' a1.out && grep -q 'resource_group.k: Creation complete' a1.out \
  || fail_with "the creates did not complete before the kill" a1.out
[ -s .amlsec/state.json.journal ] || fail "no journal after the kill"

# App Insights' generated secrets, as the local cloud holds them
appi=$(curl -sf "$url/_armlocal/resources/subscriptions/$sub/resourceGroups/rg-cak-g/providers/Microsoft.Insights/components/appi-cak") \
  || fail "read App Insights from the local cloud"
ikey=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["body"]["properties"]["InstrumentationKey"])' "$appi")
cstr=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["body"]["properties"]["ConnectionString"])' "$appi")
[ -n "$ikey" ] && [ -n "$cstr" ] || fail "no generated secrets"

cmds=(
  "state list" "state list -json" "state show resource_group.k" "state show -json resource_group.k"
  "state show app_insights.ai" "state show -json app_insights.ai" "show -no-color" "show -json"
  "output -no-color" "output -json" "output owner" "state pull"
)
scan() { # step: every command above, then every file written so far, for the canaries
  local i=0 c rc
  for c in "${cmds[@]}"; do
    i=$((i + 1))
    # shellcheck disable=SC2086 # words on purpose
    AMLSEC_LOG=trace "$AMLSEC" $c > "$1-$i.out" 2> "$1-$i.err"
    rc=$?
    # before the recovery the state has no outputs yet: output NAME fails, naming none
    [ "$rc" = 0 ] || [ "$1 $c $rc" = "k output owner 1" ] \
      || fail_with "'$c' exited $rc ($1)" "$1-$i.out" "$1-$i.err"
  done
  python3 - CnryKillPass1x CnryKillTag2x "$ikey" "$cstr" -- ./*.out ./*.err .amlsec/* <<'PY' \
    || fail "a canary leaked ($1)"
import base64, sys
args = sys.argv[1:]; k = args.index("--")
canaries, files = args[:k], args[k + 1:]
leaks = 0
for f in files:
    data = open(f, "rb").read()
    for c in canaries:
        for v in (c.encode(), base64.b64encode(c.encode())):
            if v in data:
                leaks += 1
                at = data.index(v)
                print(f"LEAK: {c!r} in {f}: ...{data[max(0, at - 60):at + len(v) + 20]!r}...")
print(f"{len(files)} files, {leaks} leaks")
sys.exit(1 if leaks else 0)
PY
}

echo "1. after the kill: the state commands fold the journal, no secret printed"
scan k
# the fold showed what completed (the scan would look at nothing otherwise)
grep -qx 'resource_group.k' k-1.out && grep -qx 'app_insights.ai' k-1.out \
  || fail_with "state list did not fold the completed creates" k-1.out
grep -q 'holds .* operations of an apply' k-1.err || fail_with "state list's warning" k-1.err
jq -e '.attributes.tags.team == "data" and .attributes.tags.owner == "(sensitive)"' k-4.out > /dev/null \
  || fail_with "state show -json resource_group.k after the kill" k-4.out
jq -e '.attributes.properties.ConnectionString == "(sensitive)"' k-6.out > /dev/null \
  || fail_with "state show -json app_insights.ai after the kill" k-6.out

echo "2. plan recovers; the same commands"
for _ in $(seq 100); do # the local cloud finishes the create on its own
  "$AMLSEC" plan -cloud "$url" -no-color > r1.out 2>&1
  grep -q 'pending' r1.out || break
  sleep 0.2
done
grep -q 'create storage_account.s: adopted' r1.out || fail_with "the plan did not recover the create" r1.out
expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color > a2.out 2>&1
scan r
# the needles are right: asked for, the secrets are there (not scanned)
[ "$("$AMLSEC" output -show-sensitive owner 2> /dev/null)" = CnryKillTag2x ] || fail "output -show-sensitive owner"
[ "$("$AMLSEC" output -show-sensitive cs 2> /dev/null)" = "$cstr" ] || fail "output -show-sensitive cs"
echo "canary after a kill: ok"
