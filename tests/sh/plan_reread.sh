#!/usr/bin/env bash
# Issue 5 §4: what a plan is about to change is re-read with a direct GET (Resource Graph can
# lag), and the plan rests on that answer; what Resource Graph does not return is confirmed by
# ARM (many in one resource group: one list of the group instead of a GET each; none under a group
# whose own GET answers 404).
# armlocal's /_armlocal/graph/snapshot makes Resource Graph lag: it keeps answering with the
# resources as they were when the snapshot was taken. GETs are counted in its request log.
source "$SRC/tests/sh/lib/armlocal.bash"
: "${AMLSEC:?}"
cd "$TMP"
control() { # method, path[, body]
  curl -sf -X "$1" -H 'Content-Type: application/json' ${3:+-d "$3"} "$url/_armlocal$2" > /dev/null \
    || fail "control API $1 $2"
}
# GETs of one ARM id in armlocal's request log since the last clear
gets_of() {
  curl -sf "$url/_armlocal/requests" | python3 -c '
import json, sys
want = "GET " + sys.argv[1].lower()
print(sum(n for p, n in json.load(sys.stdin)["byPath"].items() if p == want))' "$1"
}
# every GET in the log, as "path count" lines
all_gets() {
  curl -sf "$url/_armlocal/requests" | python3 -c '
import json, sys
for p, n in sorted(json.load(sys.stdin)["byPath"].items()):
    if p.startswith("GET "): print(p, n)'
}
plan() { # want exit, output file
  local got=0
  control DELETE /requests
  "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > "$2" 2>&1 || got=$?
  [ "$got" = "$1" ] || { tail -n 30 "$2"; fail "plan exited $got, wanted $1 ($2)"; }
}

armlocal_start --lro-ms 0
url=$B

sub=00000000-0000-0000-0000-0000000000be
rg=/subscriptions/$sub/resourceGroups/rg-reread
st=$rg/providers/Microsoft.Storage/storageAccounts/streread
ai=$rg/providers/Microsoft.Insights/components/appi-reread-b
cat > main.amlsec <<EOF
settings {
  subscription = "$sub"
  tenant       = "00000000-0000-0000-0000-00000000a11c"
  location     = "westeurope"
}

resource_group "g" {
  name = "rg-reread"
}

storage_account "s" {
  resource_group           = resource_group.g
  name                     = "streread"
  allow_blob_public_access = false
  public_network_access    = false
  lifecycle {
    ignore_rules = { "ST-SERVICE-ENDPOINT" = "test estate" }
  }
}

app_insights "a" {
  resource_group = resource_group.g
  name           = "appi-reread-a"
}

app_insights "b" {
  resource_group = resource_group.g
  name           = "appi-reread-b"
}
EOF
"$AMLSEC" apply -cloud "$url" -auto-approve -no-color > apply.out 2>&1 || { tail -n 30 apply.out; fail "apply"; }
# a settled apply leaves an empty journal (later runs do not read its records again)
[ -f .amlsec/state.json.journal ] && [ ! -s .amlsec/state.json.journal ] || fail "the journal was not emptied"
plan 0 clean.out
grep -q 'No changes.' clean.out || fail "second plan is not empty"
all_gets > clean.gets
[ "$(gets_of "$st")" = 0 ] || fail "a no-change plan read the storage account with a GET"

echo "1. drift ARM still has: read through Resource Graph, re-read with one GET, corrected"
control PATCH "/resources$st" '{"properties":{"allowBlobPublicAccess":true}}'
plan 2 drift.out
grep -q 'storage_account.s has been changed' drift.out || fail "drift not reported"
grep -q 'Plan: 0 to add, 1 to change, 0 to destroy.' drift.out || fail "drift plan summary"
[ "$(gets_of "$st")" = 1 ] || fail "the changed storage account was not re-read with exactly one GET"
all_gets | { grep -v -i "^GET $st " || true; } > drift.gets
diff <(grep -v -i "^GET $st " clean.gets || true) drift.gets > /dev/null || fail "other resources were re-read"

echo "2. Resource Graph lags a fix made out of band: the GET's answer wins, no change"
control PUT /graph/snapshot # Resource Graph still shows allowBlobPublicAccess = true
control PATCH "/resources$st" '{"properties":{"allowBlobPublicAccess":false}}'
plan 0 lag_fixed.out
grep -q 'No changes.' lag_fixed.out || fail "a stale Resource Graph row decided the plan"
[ "$(gets_of "$st")" = 1 ] || fail "the storage account was not re-read with one GET"
control DELETE /graph/snapshot

echo "3. Resource Graph lags a delete made out of band: the GET's 404 wins, nothing to delete"
echo "   (the entry of what is gone is only removed from the state)"
sed -i '/^app_insights "b" {/,/^}/d' main.amlsec
plan 2 delete.out
grep -q 'app_insights.b will be destroyed' delete.out || fail "removing the block does not plan a delete"
control PUT /graph/snapshot # Resource Graph still shows app_insights.b
control DELETE "/resources$ai"
plan 2 lag_deleted.out
grep -q '^    ! app_insights.b no longer exists in Azure: it is only removed from the state$' lag_deleted.out \
  || fail "a delete was planned from a stale Resource Graph row"
[ "$(gets_of "$ai")" = 1 ] || fail "the deleted resource was not re-read with one GET"
control DELETE /graph/snapshot
control DELETE /requests
"$AMLSEC" apply -cloud "$url" -auto-approve -no-color > forget.out 2>&1 || fail "apply failed (forget.out)"
grep -q '^app_insights.b: removed from the state (it no longer exists in Azure)$' forget.out \
  || fail "the entry of the deleted resource was not removed"
curl -sf "$url/_armlocal/requests" | python3 -c '
import json, sys
sys.exit(any(p.startswith("DELETE ") for p in json.load(sys.stdin)["byPath"]))' \
  || fail "a DELETE was sent for a resource that is gone"

echo "4. many resources in a group that does not exist: the group's own GET answers for them (no list, no GETs)"
many=/subscriptions/$sub/resourceGroups/rg-many
{
  printf 'resource_group "m" {\n  name = "rg-many"\n}\n\n'
  for i in $(seq 0 24); do
    printf 'app_insights "m%d" {\n  resource_group = resource_group.m\n  name = "appi-many-%d"\n}\n\n' "$i" "$i"
  done
} >> main.amlsec
member_gets() { # GETs of the group's members
  curl -sf "$url/_armlocal/requests" | python3 -c '
import json, sys
pre = "GET " + sys.argv[1].lower() + "/providers/"
print(sum(n for p, n in json.load(sys.stdin)["byPath"].items() if p.startswith(pre)))' "$many"
}
plan 2 many.out
grep -q 'Plan: 26 to add, 0 to change, 0 to destroy.' many.out || fail "the new group is not planned"
[ "$(member_gets)" = 0 ] || fail "absent resources were confirmed one GET each"
[ "$(gets_of "$many")" = 1 ] || fail "the group was not read once"
[ "$(gets_of "$many/resources")" = 0 ] || fail "the group that does not exist was listed"

echo "5. one of them created out of band (and so its group), Resource Graph lagging: one list of"
echo "   the group shows it, a GET reads it"
control PUT /graph/snapshot # Resource Graph does not show what follows
control PUT "/resources$many/providers/Microsoft.Insights/components/appi-many-3" \
  '{"location":"westeurope","kind":"web","properties":{"Application_Type":"web"}}'
plan 1 many_exists.out
grep -q 'app_insights.m3 already exists in Azure but not in the state' many_exists.out \
  || fail "a resource created out of band was taken as absent"
[ "$(member_gets)" = 1 ] || fail "only the listed resource is read with a GET"
[ "$(gets_of "$many/resources")" = 1 ] || fail "the group was not listed once"
control DELETE /graph/snapshot

echo "plan reread: ok"
