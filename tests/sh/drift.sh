#!/usr/bin/env bash
# amlsec drift (issue 15) against a standalone amlsec-armlocal, every scenario changed through
# its control API or plain ARM calls, as a person in the portal would:
#  - read-only by construction: armlocal logs no write and no file changes (sha256 of every
#    file, .amlsec/ included, journal with a pending entry and a torn record included);
#  - a pending config change with no drift exits 0; drift with no config change exits 2;
#  - changed (attribute before/after), deleted, unmanaged role assignment / lock / private
#    endpoint (and the connection of one in another subscription) / policy assignment and exemption /
#    diagnostic setting / key, a removed workspace-identity grant
#    (WS-MI-PERMS, also plan -detailed-exitcode 2), a vault access policy (unmanaged), a storage
#    firewall rule and a workspace identity added (changed attributes);
#  - .amlsecignore: with and without expiry, expired, unused, a bad line (file:line:col);
#  - -json (docs/drift-json.md), -recursive with one summary and -shard K/N.
source "$SRC/tests/sh/lib/armlocal.bash"
set +e # expect_exit checks exit codes itself
: "${AMLSEC:?}"
cd "$TMP"
exec 3>&1
fail() {
  { echo "FAIL: $*"; cat "$TMP/armlocal.err"; for f in "$TMP"/s1/*.out; do echo "--- $f"; tail -n 40 "$f"; done; } >&3
  exit 1
}
expect_exit() { # want, then the command
  local want=$1; shift
  "$@"; local got=$?
  [ "$got" = "$want" ] || fail "'$*' exited $got, wanted $want"
}
armlocal_start --listen 127.0.0.1:0 --lro-ms 0
url=$B
sub=/subscriptions/00000000-0000-0000-0000-000000000000
rg=$sub/resourceGroups/rg-ml
ws=$rg/providers/Microsoft.MachineLearningServices/workspaces/mlw-live
kv=$rg/providers/Microsoft.KeyVault/vaults/kv-ml-live
st=$rg/providers/Microsoft.Storage/storageAccounts/stmllive001
owner=8e3af657-a8ff-443c-a75c-2fe8c4bcb635
arm() { # METHOD PATH?api-version BODY
  curl -sf -o /dev/null -X "$1" -H 'Content-Type: application/json' ${3:+-d "$3"} "$url$2" || fail "$1 $2"
}
# each command with a fresh Graph quota window (lib/armlocal.bash): ~8 queries a drift
drift() { graph_window; "$AMLSEC" drift -cloud "$url" -no-color "$@"; }
: "${JSONSCHEMA:?}"
valid() { # every -json output matches docs/schemas/drift.schema.json
  for f in "$@"; do "$JSONSCHEMA" "$SRC/docs/schemas/drift.schema.json" "$f" || fail "$f does not match drift.schema.json"; done
}
sums() { find . -type f -print0 | sort -z | xargs -0 sha256sum; }
writes() { # writes armlocal logged since the last clear: PUT, PATCH, DELETE, and POSTs but queries
  curl -sf "$url/_armlocal/requests" | jq '[.byPath | to_entries[] | select((.key | test("^(PUT|PATCH|DELETE) ")) or ((.key | startswith("POST ")) and (.key != "POST /providers/microsoft.resourcegraph/resources"))) | .value] | add // 0'
}

mkdir s1 && cd s1
cp "$SRC/tests/golden/rules/WS-MI-PERMS.clean.amlsec" main.amlsec
expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color > apply.out 2>&1

echo "1. a clean estate: exit 0, nothing reported"
expect_exit 0 drift > clean.out 2>&1
grep -q '^No drift: 0 changed, 0 deleted, 0 unmanaged, 0 missing grants' clean.out || fail "clean summary"
expect_exit 0 drift -json > clean.json 2>clean.err
jq -e '.format_version == "1.0" and .drift == false and .exit_code == 0 and .summary.scopes_searched == 4' clean.json > /dev/null || fail "clean JSON"

echo "2. a pending configuration change with no drift: reported, exit 0"
sed 's/^  name           = "stmllive001"$/&/; s/^  name = "rg-ml"$/&\n  tags = { team = "ml" }/' main.amlsec > pending.amlsec
cp main.amlsec main.keep && cp pending.amlsec main.amlsec && rm pending.amlsec
expect_exit 0 drift > pending.out 2>&1
grep -q 'resource_group.ml: update not applied yet' pending.out || fail "pending change not reported"
grep -q '^No drift: .* 1 pending configuration change (not drift)' pending.out || fail "pending summary"
expect_exit 0 drift -json > pending.json 2>/dev/null
jq -e '.summary.pending == 1 and .pending[0].action == "update" and .drift == false and .pending[0].severity == "note" and
       (.pending[0].location | test("main.amlsec:8:1$"))' pending.json > /dev/null || fail "pending JSON: $(jq -c .pending pending.json)"
cp main.keep main.amlsec

echo "3. drift with no configuration change: an attribute changed outside amlsec, exit 2"
curl -sf -X PATCH -H 'Content-Type: application/json' -d '{"properties":{"allowBlobPublicAccess":true}}' \
  "$url/_armlocal/resources$st" > /dev/null || fail "patch"
expect_exit 2 drift > changed.out 2>&1
grep -q '~ storage_account.ml' changed.out || fail "changed resource"
grep -q 'allow_blob_public_access: false -> true' changed.out || fail "attribute before/after"
grep -q 'pending configuration change' changed.out && grep -q '^\* ' changed.out && fail "drift counted as pending"
expect_exit 2 drift -json > changed.json 2>/dev/null
jq -e '.drift == true and .exit_code == 2 and .summary.changed == 1 and .summary.pending == 0 and
       (.changed[0] | .address == "storage_account.ml" and .arm_id == "'$st'" and .severity == "warning" and
        (.location | test("main.amlsec:18:1$")) and
        .attributes == [{"path": "allow_blob_public_access", "before": false, "after": true}])' changed.json > /dev/null \
  || fail "changed JSON"

echo "3b. drift and a configuration change on the same resource: each reported as what it is"
sed -i 's/^  name           = "stmllive001"$/&\n  tags           = { team = "ml" }/' main.amlsec
expect_exit 2 drift -json > both.json 2>/dev/null
jq -e '.summary.changed == 1 and .summary.pending == 1 and .pending[0].address == "storage_account.ml" and
       (.pending[0].paths | map(select(startswith("tags"))) | length) >= 1 and
       (.pending[0].paths | index("allow_blob_public_access")) == null' both.json > /dev/null \
  || fail "drift and pending on one resource: $(jq -c '[.changed, .pending]' both.json)"
expect_exit 2 drift > both.out 2>&1
grep -q '^      not applied: tags' both.out || fail "pending paths in text"
cp main.keep main.amlsec

echo "4. unmanaged objects at the workspace's scopes"
arm PUT "$ws/providers/Microsoft.Authorization/roleAssignments/aaaaaaaa-0000-0000-0000-000000000001?api-version=2022-04-01" \
  '{"properties":{"roleDefinitionId":"'$sub'/providers/Microsoft.Authorization/roleDefinitions/'$owner'","principalId":"11111111-1111-1111-1111-111111111111","principalType":"User"}}'
arm PUT "$rg/providers/Microsoft.Authorization/policyAssignments/pa1?api-version=2025-03-01" \
  '{"properties":{"policyDefinitionId":"/providers/Microsoft.Authorization/policyDefinitions/abc"}}'
arm PUT "$ws/providers/Microsoft.Insights/diagnosticSettings/ds1?api-version=2021-05-01-preview" '{"properties":{"logs":[]}}'
arm PUT "$kv/keys/stray?api-version=2025-05-01" '{"properties":{"kty":"RSA","keySize":2048}}'
arm PUT "$kv/providers/Microsoft.Authorization/locks/ro?api-version=2020-05-01" '{"properties":{"level":"ReadOnly"}}'
curl -sf -X PUT -H 'Content-Type: application/json' -d '{"location":"westeurope","properties":{"addressSpace":{"addressPrefixes":["10.0.0.0/16"]},"subnets":[{"name":"s","properties":{"addressPrefix":"10.0.0.0/24"}}]}}' \
  "$url/_armlocal/resources$sub/resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks/vn" > /dev/null || fail "seed vnet"
curl -sf -X PUT -H 'Content-Type: application/json' -d '{"properties":{"addressPrefix":"10.0.0.0/24"}}' \
  "$url/_armlocal/resources$sub/resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks/vn/subnets/s" > /dev/null || fail "seed subnet"
arm PUT "$sub/resourceGroups/rg-net/providers/Microsoft.Network/privateEndpoints/pe1?api-version=2025-03-01" \
  '{"location":"westeurope","properties":{"subnet":{"id":"'$sub'/resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks/vn/subnets/s"},"privateLinkServiceConnections":[{"name":"c","properties":{"privateLinkServiceId":"'$ws'","groupIds":["amlworkspace"]}}]}}'
# settings inside managed resources the configuration does not declare: a vault access policy,
# a storage firewall rule, a user-assigned identity on the workspace
patch() { curl -sf -X PATCH -H 'Content-Type: application/json' -d "$2" "$url/_armlocal/resources$1" > /dev/null || fail "patch $1"; }
patch "$kv" '{"properties":{"accessPolicies":[{"tenantId":"00000000-0000-0000-0000-00000000a11c","objectId":"22222222-2222-2222-2222-222222222222","permissions":{"keys":["get","unwrapKey"]}}]}}'
patch "$st" '{"properties":{"networkAcls":{"ipRules":[{"value":"203.0.113.7","action":"Allow"}]}}}'
uai=$sub/resourceGroups/rg-id/providers/Microsoft.ManagedIdentity/userAssignedIdentities/stray
patch "$ws" '{"identity":{"type":"SystemAssigned,UserAssigned","userAssignedIdentities":{"'$uai'":{}}}}'
# a private endpoint to the workspace from another subscription: Resource Graph is asked about the
# workspace's subscription only; the workspace's private endpoint connection shows it
other=/subscriptions/00000000-0000-0000-0000-000000000009/resourceGroups/rg-elsewhere
curl -sf -X PUT -H 'Content-Type: application/json' -d '{"properties":{"addressPrefix":"10.9.0.0/24"}}' \
  "$url/_armlocal/resources$other/providers/Microsoft.Network/virtualNetworks/vn9/subnets/s" > /dev/null || fail "seed other subnet"
arm PUT "$other/providers/Microsoft.Network/privateEndpoints/pe-far?api-version=2025-03-01" \
  '{"location":"westeurope","properties":{"subnet":{"id":"'$other'/providers/Microsoft.Network/virtualNetworks/vn9/subnets/s"},"manualPrivateLinkServiceConnections":[{"name":"c","properties":{"privateLinkServiceId":"'$ws'","groupIds":["amlworkspace"]}}]}}'
# a policy exemption (armlocal serves no exemptions API: seeded as Azure Policy would hold it)
curl -sf -X PUT -H 'Content-Type: application/json' \
  -d '{"properties":{"policyAssignmentId":"'$sub'/providers/Microsoft.Authorization/policyAssignments/x","exemptionCategory":"Waiver"}}' \
  "$url/_armlocal/resources$rg/providers/Microsoft.Authorization/policyExemptions/ex1" > /dev/null || fail "seed exemption"
# not at a managed scope: not reported
arm PUT "$sub/resourceGroups/rg-net/providers/Microsoft.Authorization/locks/elsewhere?api-version=2020-05-01" '{"properties":{"level":"CanNotDelete"}}'
arm PUT "$sub/providers/Microsoft.Authorization/policyAssignments/subwide?api-version=2025-03-01" \
  '{"properties":{"policyDefinitionId":"/providers/Microsoft.Authorization/policyDefinitions/abc"}}'
expect_exit 2 drift -json > unmanaged.json 2> unmanaged.err
for t in Microsoft.Authorization/roleAssignments Microsoft.Authorization/locks Microsoft.Authorization/policyAssignments \
         Microsoft.Insights/diagnosticSettings Microsoft.KeyVault/vaults/keys Microsoft.Network/privateEndpoints \
         Microsoft.Authorization/policyExemptions Microsoft.MachineLearningServices/workspaces/privateEndpointConnections; do
  [ "$(jq --arg t "$t" '[.unmanaged[] | select(.type == $t)] | length' unmanaged.json)" = 1 ] || fail "unmanaged $t"
done
[ "$(jq '[.unmanaged[] | select(.type == "access_policy")] | length' unmanaged.json)" = 1 ] || fail "unmanaged access policy"
jq -e '.summary.unmanaged == 9' unmanaged.json > /dev/null || fail "nine unmanaged objects (the other lock and Azure's grants are not): $(jq -c .summary unmanaged.json)"
# a firewall rule and an identity added to managed resources are changed attributes, not unmanaged
jq -e '.summary.changed == 2 and
       ([.changed[] | select(.address == "storage_account.ml")][0].attributes | map(.path) == ["allow_blob_public_access", "network_rules.ip_rules"]) and
       ([.changed[] | select(.address == "workspace.prod")][0].attributes | map(.path) == ["identity.type", "identity.user_assigned"])' unmanaged.json > /dev/null \
  || fail "firewall rule / identity: $(jq -c .changed unmanaged.json)"
jq -e '[.unmanaged[] | select(.type == "access_policy")][0].message | test("access policy for object 22222222")' unmanaged.json > /dev/null || fail "access policy"
jq -e '[.unmanaged[] | select(.type == "Microsoft.Authorization/roleAssignments")][0].message | test("Owner for principal 11111111")' unmanaged.json > /dev/null || fail "role named"
jq -e '[.unmanaged[] | select(.type == "Microsoft.Authorization/locks")][0] | .scope == "'$kv'" and .near == "workspace.prod"' unmanaged.json > /dev/null || fail "lock scope"
jq -e '[.unmanaged[] | select(.type | endswith("privateEndpointConnections"))][0].message | test("private endpoint connection \\(Pending\\) from .*/pe-far")' unmanaged.json > /dev/null || fail "connection of a far endpoint: $(jq -c '[.unmanaged[].message]' unmanaged.json)"
expect_exit 2 drift > unmanaged.out 2>&1
grep -q 'ReadOnly lock at .*kv-ml-live (workspace.prod.s Key Vault), not managed by amlsec' unmanaged.out || fail "lock text"

echo "5. a workspace identity's grant removed: a missing grant, also for plan -detailed-exitcode"
principal=$(curl -sf "$url$ws?api-version=2025-09-01" | jq -r .identity.principalId)
ra=$(curl -sf -G "$url$sub/providers/Microsoft.Authorization/roleAssignments" --data-urlencode "api-version=2022-04-01" \
       --data-urlencode "\$filter=principalId eq '$principal'" | jq -r --arg st "$st" '.value[] | select(.properties.scope == $st) | .id')
[ -n "$ra" ] || fail "no storage grant"
curl -sf -X DELETE "$url/_armlocal/resources$ra" > /dev/null || fail "delete grant"
expect_exit 2 drift -json > grant.json 2>/dev/null
jq -e '.summary.missing_grants == 1 and .missing_grants[0].rule == "WS-MI-PERMS" and .missing_grants[0].address == "workspace.prod" and
       (.missing_grants[0].message | test("no Storage Blob Data Contributor"))' grant.json > /dev/null || fail "missing grant JSON"

echo "6. a resource deleted outside amlsec"
curl -sf -X DELETE "$url/_armlocal/resources$rg/providers/Microsoft.Authorization/roleAssignments/5d3c1a52-6f1e-4c8e-9a51-0c7e2f1d4b11" > /dev/null || fail "delete"
expect_exit 2 drift -json > deleted.json 2>/dev/null
jq -e '.summary.deleted == 1 and .deleted[0].address == "role_assignment.workspace_reads_rg" and .summary.pending == 0' deleted.json > /dev/null || fail "deleted JSON"

echo "6b. -sarif, -junit, -markdown: the same findings for code scanning, test tabs and summaries"
expect_exit 2 drift -sarif "$TMP/drift.sarif" -junit "$TMP/drift.xml" -markdown "$TMP/drift.md" > reports.out 2>&1
python3 - "$TMP/drift.sarif" "$TMP/drift.xml" "$TMP/drift.md" deleted.json <<'PY' || fail "drift reports"
import json, sys, xml.etree.ElementTree as ET
rep = json.load(open(sys.argv[4]))
want = rep["summary"]["changed"] + rep["summary"]["deleted"] + rep["summary"]["unmanaged"] + rep["summary"]["missing_grants"]
s = json.load(open(sys.argv[1]))
# SARIF 2.1.0: the schema's required properties
assert s["version"] == "2.1.0" and s["$schema"].endswith("sarif-2.1.0.json"), s.keys()
run = s["runs"][0]
assert run["tool"]["driver"]["name"] == "amlsec" and run["automationDetails"]["id"] == "drift"
ids = [r["id"] for r in run["tool"]["driver"]["rules"]]
assert len(ids) == len(set(ids)) and {"DRIFT-CHANGED", "DRIFT-DELETED", "DRIFT-UNMANAGED", "WS-MI-PERMS"} <= set(ids), ids
for r in run["tool"]["driver"]["rules"]:
    assert r["shortDescription"]["text"] and r["help"]["text"], r
res = run["results"]
assert len(res) == want, (len(res), want)
for r in res:
    assert r["message"]["text"] and r["ruleId"] == ids[r["ruleIndex"]] and r["level"] == "warning", r
chg = [r for r in res if r["ruleId"] == "DRIFT-CHANGED" and "storage_account.ml" in r["message"]["text"]]
assert chg and chg[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "main.amlsec", chg
assert chg[0]["locations"][0]["physicalLocation"]["region"]["startLine"] == 18, chg
assert chg[0]["properties"]["attribute"] == "allow_blob_public_access" and chg[0]["properties"]["value"] is True, chg
# JUnit parses back: one case per finding, each a failure
t = ET.parse(sys.argv[2]).getroot()
cases = [c for s_ in t for c in s_.findall("testcase")]
assert t.tag == "testsuites" and int(t.get("tests")) == len(cases) == want, (t.get("tests"), len(cases), want)
assert int(t.get("failures")) == len([c for c in cases if c.find("failure") is not None]) == want
md = open(sys.argv[3]).read()
assert md.startswith("### amlsec drift") and "storage_account.ml" in md and len(md) <= 60000, md[:200]
PY
grep -q '^Drift detected:' reports.out || fail "the text report is still printed with -sarif"
expect_exit 1 drift -sarif /nonexistent/dir/x.sarif > badrep.out 2>&1
grep -q 'x.sarif' badrep.out || fail "an unwritable report is an error naming it"

echo "7. read-only: no write request, no file changed (a pending journal is reported, not recovered)"
jid=0a0b0c0d-0000-4000-8000-000000000001
printf '{"t":"begin","id":"%s","time":"2026-01-01T00:00:00Z","op":"create","address":"resource_group.ml","kind":"resource_group","arm_id":"%s","api_version":"2021-04-01","digest":"sha256:00","dependencies":[],"sensitive":[]}\n{"t":"begin","id":"torn' "$jid" "$rg" > .amlsec/state.json.journal
sums > "$TMP/before.sums"
curl -sf -X DELETE "$url/_armlocal/requests" > /dev/null
expect_exit 2 drift > "$TMP/ro.out" 2>&1
expect_exit 2 drift -json > "$TMP/ro.json" 2>/dev/null
sums > "$TMP/after.sums"
mv "$TMP/ro.out" "$TMP/ro.json" .
diff "$TMP/before.sums" "$TMP/after.sums" > /dev/null || fail "drift changed files: $(diff "$TMP/before.sums" "$TMP/after.sums")"
grep -q '\.amlsec/state.json$' "$TMP/before.sums" && grep -q 'state.json.journal$' "$TMP/before.sums" || fail "the state and journal were not hashed"
[ "$(writes)" = 0 ] || fail "drift sent $(writes) writes: $(curl -sf "$url/_armlocal/requests")"
[ -z "$(find . -name '*.lock' -o -name '*.tflock')" ] || fail "a lock file appeared"
grep -q '1 operation of an interrupted apply is pending in the journal; drift does not recover it' ro.out || fail "pending journal not reported"
jq -e '.journal_pending == 1' ro.json > /dev/null || fail "journal_pending in JSON"
rm .amlsec/state.json.journal

echo "8. suppressions: with and without expiry, expired, unused, attribute paths, rule IDs"
cat > .amlsecignore <<EOF
# PATTERN  WHAT  EXPIRES  REASON
$kv/providers/Microsoft.Authorization/locks/*  unmanaged  2099-12-31  the platform team's lock, ticket OPS-1
storage_account.ml  allow_blob_public_access  -  public blobs are reviewed by the data team
workspace.prod  WS-MI-PERMS  -  storage access restored by a key resync
$ws/providers/Microsoft.Insights/diagnosticSettings/*  unmanaged  2020-01-01  expired long ago
/subscriptions/*/resourceGroups/rg-none/*  *  -  matches nothing
storage_account.ml  network_rules  -  covers network_rules.ip_rules
workspace.prod  identity.*  -  the ML team adds identities
EOF
expect_exit 2 drift -json > sup.json 2>/dev/null
jq -e '.summary.changed == 0 and .summary.missing_grants == 0 and .summary.suppressed == 4 and
       ([.unmanaged[] | select(.type == "Microsoft.Authorization/locks")] | length) == 0 and
       ([.unmanaged[] | select(.type == "Microsoft.Insights/diagnosticSettings")] | length) == 1' sup.json > /dev/null || fail "suppressed findings"
jq -e '[.suppressions[] | .status] == ["used", "used", "used", "expired", "unused", "used", "used"]' sup.json > /dev/null || fail "suppression statuses"
jq -e '[.suppressed[] | select(.type == "Microsoft.Authorization/locks")][0].suppressed_by | .line == 2 and .expires == "2099-12-31"' sup.json > /dev/null || fail "suppressed_by"
jq -e '[.suppressed[] | select(.address == "storage_account.ml")][0] | .suppressed_by.line == 7 and (.attributes | map(.path)) == ["allow_blob_public_access", "network_rules.ip_rules"]' sup.json > /dev/null || fail "attribute paths suppressed one by one"
expect_exit 2 drift > sup.out 2>&1
grep -q 'Warning: ./.amlsecignore:5: suppression expired on 2020-01-01' sup.out || fail "expired not reported"
grep -q 'Warning: ./.amlsecignore:6: unused suppression' sup.out || fail "unused not reported"
echo 'storage_account.ml  *  2099-13-01  bad month' >> .amlsecignore
expect_exit 1 drift > badsup.out 2>&1
grep -q '^amlsec: error: ./.amlsecignore:9:24: EXPIRES must be a date' badsup.out || fail "bad line not located"
grep -q '^ *\^$' badsup.out || fail "no caret"
printf 'storage_account.ml * -\n' > other.ignore
expect_exit 1 drift -ignore-file other.ignore > noreason.out 2>&1
grep -q 'other.ignore:1:23: a suppression needs a reason' noreason.out || fail "a reason is required"
rm .amlsecignore other.ignore

echo "9. plan -detailed-exitcode returns 2 for a missing grant alone"
curl -sf -X PATCH -H 'Content-Type: application/json' -d '{"properties":{"allowBlobPublicAccess":false,"networkAcls":{"ipRules":null}}}' \
  "$url/_armlocal/resources$st" > /dev/null
graph_window; expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color > reapply.out 2>&1
expect_exit 2 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > plangrant.out 2>&1
grep -q 'No changes' plangrant.out || fail "plan has changes besides the grant"
grep -q '1 missing grant' plangrant.out || fail "plan does not say why it exits 2"
cd ..

echo "10. -recursive: one summary over every stack; -shard splits them"
mkdir -p tenant/a tenant/b/nested tenant/.hidden
mv s1 tenant/a/ml
cat > tenant/b/nested/main.amlsec <<'EOF'
settings {
  subscription = "00000000-0000-0000-0000-000000000000"
  location     = "westeurope"
}

resource_group "other" {
  name = "rg-other"
}
EOF
cp tenant/b/nested/main.amlsec tenant/.hidden/
(cd tenant/b/nested && expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color > apply.out 2>&1)
expect_exit 2 "$AMLSEC" drift -recursive -cloud "$url" -no-color tenant > rec.out 2>&1
grep -q '^== tenant/a/ml$' rec.out && grep -q '^== tenant/b/nested$' rec.out || fail "stacks not visited"
grep -q '^2 stacks under tenant: 1 clean, 1 with drift, 0 failed.$' rec.out || fail "recursive summary"
graph_window; expect_exit 2 "$AMLSEC" drift -recursive -json -cloud "$url" tenant > rec.json 2>/dev/null
jq -e '.summary == {"stacks": 2, "clean": 1, "drift": 1, "error": 0} and .exit_code == 2 and
       [.stacks[].dir] == ["tenant/a/ml", "tenant/b/nested"] and .stacks[0].report.summary.missing_grants == 1' rec.json > /dev/null || fail "recursive JSON: $(jq -c "{summary, exit_code, dirs: [.stacks[].dir], g: .stacks[0].report.summary}" rec.json)"
expect_exit 2 "$AMLSEC" drift -recursive -cloud "$url" -no-color -sarif rec.sarif -junit rec.xml tenant > recrep.out 2>&1
jq -e '[.runs[0].results[].locations[0].physicalLocation.artifactLocation.uri | select(. != null)] | unique == ["tenant/a/ml/main.amlsec"]' rec.sarif > /dev/null \
  || fail "-recursive -sarif: one report, locations under each stack: $(jq -c '[.runs[0].results[].locations]' rec.sarif)"
python3 -c 'import sys, xml.etree.ElementTree as ET; t = ET.parse(sys.argv[1]).getroot(); assert int(t.get("failures")) >= 1' rec.xml || fail "-recursive -junit"
graph_window; expect_exit 2 "$AMLSEC" drift -recursive -shard 1/2 -json -cloud "$url" tenant > shard1.json 2>/dev/null
expect_exit 0 "$AMLSEC" drift -recursive -shard 2/2 -json -cloud "$url" tenant > shard2.json 2>/dev/null
jq -e '[.stacks[].dir] == ["tenant/a/ml"]' shard1.json > /dev/null || fail "shard 1/2"
jq -e '[.stacks[].dir] == ["tenant/b/nested"] and .shard == {"index": 2, "count": 2}' shard2.json > /dev/null || fail "shard 2/2"
expect_exit 1 "$AMLSEC" drift -shard 1/2 > shardusage.out 2>&1
# a relative -ignore-file is read from where the command started, not from each stack
echo 'workspace.prod  WS-MI-PERMS  -  restored by a key resync' > rel.ignore
expect_exit 2 "$AMLSEC" drift -recursive -json -ignore-file rel.ignore -cloud "$url" tenant > relig.json 2>/dev/null
jq -e '.stacks[0].report.summary.missing_grants == 0 and .stacks[0].report.suppressions[0].status == "used"' relig.json > /dev/null \
  || fail "-ignore-file with -recursive: $(jq -c '[.stacks[] | {dir, result}]' relig.json)"
echo "11. two workspaces in one resource group: each identity's grants there are Azure's own"
mkdir two && cd two
cat > main.amlsec <<'EOF'
settings {
  subscription = "00000000-0000-0000-0000-000000000002"
  location     = "westeurope"
}

resource_group "ml" {
  name = "rg-two"
}

key_vault "a" {
  resource_group   = resource_group.ml
  name             = "kv-two-a"
  purge_protection = true
}

storage_account "a" {
  resource_group = resource_group.ml
  name           = "sttwoa001"
}

workspace "a" {
  resource_group  = resource_group.ml
  name            = "mlw-two-a"
  key_vault       = key_vault.a
  storage_account = storage_account.a
}

workspace "b" {
  resource_group  = resource_group.ml
  name            = "mlw-two-b"
  key_vault       = key_vault.a
  storage_account = storage_account.a
}
EOF
expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color > apply.out 2>&1
expect_exit 0 drift -json > two.json 2> two.err
jq -e '.summary.unmanaged == 0 and .summary.missing_grants == 0 and .summary.scopes_searched == 5' two.json > /dev/null \
  || fail "two workspaces: $(jq -c '[.summary, .unmanaged[].message]' two.json)"
cd ..
echo "12. a value from a sensitive variable never shows, before or after (canaries)"
mkdir canary && cd canary
cat > main.amlsec <<'EOF'
settings {
  subscription = "00000000-0000-0000-0000-000000000003"
  location     = "westeurope"
}

variable "canary" {
  type      = string
  sensitive = true
}

resource_group "ml" {
  name = "rg-canary"
  tags = { owner = "ml", secret = var.canary }
}
EOF
expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color -var canary=CANARY-ONE-4242 > apply.out 2>&1
curl -sf -X PATCH -H 'Content-Type: application/json' -d '{"tags":{"secret":"CANARY-TWO-4343","owner":"someone"}}' \
  "$url/_armlocal/resources/subscriptions/00000000-0000-0000-0000-000000000003/resourceGroups/rg-canary" > /dev/null || fail "patch tags"
expect_exit 2 drift -var canary=CANARY-ONE-4242 > canary.out 2>&1
expect_exit 2 drift -json -var canary=CANARY-ONE-4242 > canary.json 2>&1
grep -q 'tags: "(sensitive)" -> "(sensitive)"' canary.out || fail "the sensitive change is not shown redacted"
expect_exit 2 drift -var canary=CANARY-ONE-4242 -sarif canary.sarif -junit canary.xml -markdown canary.md > canary.rep 2>&1
grep -q '"value": "(sensitive)"' canary.sarif || fail "the sensitive change is not redacted in SARIF"
grep -l CANARY canary.out canary.json canary.sarif canary.xml canary.md canary.rep && fail "a canary leaked into drift's output"
cd ..
echo "13. Resource Graph refused (403): the refresh reads directly and discovery lists at each scope"
cd tenant/a/ml
curl -sf -X POST -H 'Content-Type: application/json' -d '{"kind":"403","method":"POST","path":"/providers/Microsoft.ResourceGraph/resources","rate":1}' \
  "$url/_armlocal/faults" > /dev/null || fail "fault"
curl -sf -X DELETE "$url/_armlocal/requests" > /dev/null
expect_exit 2 drift -json > nograph.json 2> nograph.err
curl -sf -X DELETE "$url/_armlocal/faults" > /dev/null
[ "$(writes)" = 0 ] || fail "writes without Resource Graph"
jq -e '(.notes[0] | test("^Resource Graph failed .*listed at each scope instead")) and .summary.unmanaged == 8 and
       ([.unmanaged[] | select(.type == "Microsoft.Authorization/locks" or .type == "Microsoft.Authorization/roleAssignments" or
          .type == "Microsoft.Authorization/policyAssignments")] | length) == 3 and
       ([.unmanaged[] | select(.type | endswith("privateEndpointConnections"))] | length) == 2' nograph.json > /dev/null \
  || fail "discovery without Resource Graph: $(jq -c '[.notes, .summary, [.unmanaged[].type]]' nograph.json)"
cd "$TMP"
echo "14. the embedded local cloud (-cloud local): nothing under .amlsec/ changes, not even a time stamp"
mkdir embedded && cd embedded
cat > main.amlsec <<'EOF'
settings {
  subscription = "00000000-0000-0000-0000-000000000004"
  location     = "westeurope"
}

resource_group "ml" {
  name = "rg-embedded"
}
EOF
expect_exit 0 "$AMLSEC" apply -cloud local -auto-approve -no-color > apply.out 2>&1
find .amlsec -printf '%p %s %T@\n' | sort > "$TMP/emb.before"
sums >> "$TMP/emb.before"
sleep 1.1
# the port the last run listened on is taken (another job's server): drift
# listens elsewhere and still writes nothing (a port another process already holds is taken
# as well: on a shared machine the bind can find it so)
python3 -c 'import errno, socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(open(".amlsec/local/port").read()))); s.listen(1)
except OSError as e:
    if e.errno != errno.EADDRINUSE:
        raise
print("taken", flush=True); time.sleep(60)' > "$TMP/taken.out" &
taker=$!
for _ in $(seq 50); do grep -q taken "$TMP/taken.out" && break; sleep 0.1; done
grep -q taken "$TMP/taken.out" || fail "could not take the remembered port"
expect_exit 0 "$AMLSEC" drift -cloud local -no-color > "$TMP/emb.out" 2>&1
kill "$taker" 2>/dev/null; wait "$taker" 2>/dev/null || true
find .amlsec -printf '%p %s %T@\n' | sort > "$TMP/emb.after"
sums >> "$TMP/emb.after"
diff "$TMP/emb.before" "$TMP/emb.after" > /dev/null || fail "drift -cloud local touched .amlsec: $(diff "$TMP/emb.before" "$TMP/emb.after")"
# drift takes no lock: it reads the state before its store, so what an apply made meanwhile (in
# the store, then in the state) is no drift; it read the store first, and it looked deleted. The
# state here is a FIFO filled once the store holds the resource (after drift's store, if it
# starts one before reading the state, is listening).
cat >> main.amlsec <<'EOF'

resource_group "late" {
  name = "rg-embedded-late"
}
EOF
expect_exit 0 "$AMLSEC" apply -cloud local -auto-approve -no-color > apply2.out 2>&1
cp .amlsec/state.json "$TMP/emb-late.state" && cp -r .amlsec/local "$TMP/emb-late.local"
expect_exit 0 "$AMLSEC" destroy -cloud local -auto-approve -no-color -target resource_group.late > destroy.out 2>&1
rm .amlsec/state.json && mkfifo .amlsec/state.json
"$AMLSEC" drift -cloud local -no-color > "$TMP/emb-late.out" 2>&1 &
drifter=$!
for _ in $(seq 50); do ss -ltnp 2>/dev/null | grep -q "pid=$drifter," && break; sleep 0.1; done
cp "$TMP"/emb-late.local/* .amlsec/local/
cat "$TMP/emb-late.state" > .amlsec/state.json
wait "$drifter"
got=$?
rm .amlsec/state.json && cp "$TMP/emb-late.state" .amlsec/state.json
[ "$got" = 0 ] && grep -q '^No drift' "$TMP/emb-late.out" \
  || fail "a resource applied while drift started looked deleted (exit $got): $(cat "$TMP/emb-late.out")"
cd "$TMP"
echo "15. every -json output above matches docs/schemas/drift.schema.json"
valid $(find . -name '*.json' \( -name 'clean.json' -o -name 'pending.json' -o -name 'changed.json' -o -name 'both.json' \
  -o -name 'unmanaged.json' -o -name 'grant.json' -o -name 'deleted.json' -o -name 'ro.json' -o -name 'sup.json' \
  -o -name 'rec.json' -o -name 'shard1.json' -o -name 'shard2.json' -o -name 'relig.json' -o -name 'two.json' \
  -o -name 'canary.json' -o -name 'nograph.json' \))
[ "$(find . -name '*.json' \( -name 'clean.json' -o -name 'rec.json' -o -name 'nograph.json' -o -name 'sup.json' \) | wc -l)" = 4 ] \
  || fail "the JSON outputs were not found"
echo "drift: 15 passed"
