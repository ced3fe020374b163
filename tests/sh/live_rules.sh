#!/usr/bin/env bash
# The security rules plan checks against the live cloud, and datastores, end to end against a
# standalone amlsec-armlocal:
#  - DS-SKIP-VALIDATION: a datastore of an isolated workspace is created with
#    ?skipValidation=true (armlocal refuses blob/file validation there otherwise); setting
#    skip_validation = false warns at validate and fails at apply;
#  - WS-MI-PERMS: the grants armlocal gives a new workspace's identity are found; one deleted
#    out of band and a role assignment of the identity the plan deletes are warned about (also
#    in the plan JSON), and a suppression silences them;
#  - WS-SUPPORT-APP: a note once the workspace is older than 2021-05-14 and has compute;
#  - RBAC-VNET-JOIN: with --auth required, a service principal that may not join the VNet or
#    subnet gets plan errors before anything is written; wildcards and notActions count.
# The per-rule configurations are tests/golden/rules/<ID>.amlsec (triggers) and
# <ID>.clean.amlsec (does not).
source "$SRC/tests/sh/lib/armlocal.bash"
set +e # expect_exit checks exit codes itself
: "${AMLSEC:?}"
cd "$TMP"
rules=$SRC/tests/golden/rules
sub=/subscriptions/00000000-0000-0000-0000-000000000000
T=72f988bf-86f1-41af-91ab-2d7cd011db47
exec 3>&1 # fail reports here even from inside a redirected expect_exit
fail() {
  { echo "FAIL: $*"; cat "$TMP/armlocal.err"; for f in *.out; do echo "--- $f"; tail -n 30 "$f"; done; } >&3
  exit 1
}
expect_exit() { # want, then the command
  local want=$1; shift
  "$@"; local got=$?
  [ "$got" = "$want" ] || fail "'$*' exited $got, wanted $want"
}
start_cloud() { # data dir, extra armlocal flags
  armlocal_start --listen 127.0.0.1:0 --data "$@"
  url=$B
}
stop_cloud() { armlocal_stop; }
use() { cp "$rules/$1" main.amlsec; }
has() { grep -qF "[$1]" "$2"; }

start_cloud data
ws=$sub/resourceGroups/rg-ml/providers/Microsoft.MachineLearningServices/workspaces/mlw-live

echo "1. WS-MI-PERMS clean: the identity keeps Azure's grants and the configured one"
use WS-MI-PERMS.clean.amlsec
expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color > apply1.out 2>&1
expect_exit 0 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > clean1.out 2>&1
has WS-MI-PERMS clean1.out && fail "WS-MI-PERMS on a workspace that has its grants"
principal=$(curl -sf "$url$ws?api-version=2025-09-01" | sed -E 's/.*"principalId": *"([^"]*)".*/\1/')
[ -n "$principal" ] || fail "no workspace identity"
n=$(curl -sf -G "$url$sub/providers/Microsoft.Authorization/roleAssignments" \
      --data-urlencode "api-version=2022-04-01" --data-urlencode "\$filter=principalId eq '$principal'" \
      | grep -o '"roleDefinitionId"' | wc -l)
[ "$n" = 5 ] || fail "armlocal gave the workspace identity $n role assignments, wanted 4 + 1 configured"

echo "1b. WS-MI-PERMS: replacing a role assignment of the identity (a new role) removes no grant"
sed 's/role           = "Reader"/role           = "Contributor"/' "$rules/WS-MI-PERMS.clean.amlsec" > main.amlsec
expect_exit 2 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > role1.out 2>&1
grep -q -- '-/+ role_assignment "workspace_reads_rg"' role1.out || fail "a new role does not replace the assignment"
has WS-MI-PERMS role1.out && fail "a replaced role assignment of the identity is reported as a removed grant"

echo "2. WS-MI-PERMS: the plan deletes a role assignment of the identity"
use WS-MI-PERMS.amlsec
expect_exit 2 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color -out del.plan > del.out 2>&1
grep -q "warning: this plan deletes role_assignment.workspace_reads_rg, a role assignment of workspace.prod's managed identity \[WS-MI-PERMS\]" del.out \
  || fail "no warning for deleting a role assignment of the identity"
"$AMLSEC" show -json del.plan > del.json || fail "show -json"
grep -q '"rule": "WS-MI-PERMS"' del.json || fail "the finding is not in the plan JSON"
grep -q 'warning WS-MI-PERMS: this plan deletes' del.json || fail "the finding is not attached to the change"

echo "3. WS-MI-PERMS: a grant deleted out of band; a suppression silences it"
expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color > apply2.out 2>&1
st=$sub/resourceGroups/rg-ml/providers/Microsoft.Storage/storageAccounts/stmllive001
ra=$(curl -sf -G "$url$sub/providers/Microsoft.Authorization/roleAssignments" \
       --data-urlencode "api-version=2022-04-01" --data-urlencode "\$filter=principalId eq '$principal'" \
     | grep -o "\"id\": *\"$st/providers/Microsoft.Authorization/roleAssignments/[^\"]*\"" | cut -d'"' -f4)
[ -n "$ra" ] || fail "no storage grant for the workspace identity"
curl -sf -X DELETE "$url/_armlocal/resources$ra" > /dev/null || fail "delete out of band"
expect_exit 2 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > missing.out 2>&1 # a missing grant is drift (issue 15)
grep -q "warning: workspace.prod's managed identity ($principal) has no Storage Blob Data Contributor on its storage account ($st) \[WS-MI-PERMS\]" missing.out \
  || fail "the missing storage grant is not reported"
[ "$(grep -c '\[WS-MI-PERMS\]' missing.out)" = 1 ] || fail "grants that exist were reported"
sed -i 's/^  storage_account = storage_account.ml$/&\n  lifecycle {\n    ignore_rules = { "WS-MI-PERMS" = "storage access is restored by a key resync" }\n  }/' main.amlsec
expect_exit 0 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > suppressed.out 2>&1
has WS-MI-PERMS suppressed.out && fail "the suppression did not apply"
# the grant back, as Azure gave it: a missing grant makes plan -detailed-exitcode exit 2
curl -sf -X PUT -H 'Content-Type: application/json' \
  -d "{\"properties\":{\"roleDefinitionId\":\"$sub/providers/Microsoft.Authorization/roleDefinitions/ba92f5b4-2d11-453d-a403-e96b0029c9fe\",\"principalId\":\"$principal\",\"principalType\":\"ServicePrincipal\"}}" \
  "$url$ra?api-version=2022-04-01" > /dev/null || fail "restore the storage grant"

echo "4. WS-SUPPORT-APP: only for a pre-2021-05-14 workspace with compute"
use WS-SUPPORT-APP.clean.amlsec
curl -sf -X PATCH -H 'Content-Type: application/json' \
  -d '{"systemData":{"createdAt":"2020-11-02T10:00:00Z"}}' "$url/_armlocal/resources$ws" > /dev/null \
  || fail "control API patch"
expect_exit 0 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > support0.out 2>&1
has WS-SUPPORT-APP support0.out && fail "WS-SUPPORT-APP without compute"
use WS-SUPPORT-APP.amlsec
expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color > apply3.out 2>&1
expect_exit 0 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > support1.out 2>&1
grep -q "note: workspace.prod was created 2020-11-02T10:00:00Z, before 2021-05-14, and has 1 compute target" support1.out \
  || fail "WS-SUPPORT-APP not reported"
curl -sf -X PATCH -H 'Content-Type: application/json' \
  -d '{"systemData":{"createdAt":"2021-05-14T00:00:00Z"}}' "$url/_armlocal/resources$ws" > /dev/null
expect_exit 0 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > support2.out 2>&1
has WS-SUPPORT-APP support2.out && fail "WS-SUPPORT-APP for a workspace from 2021-05-14"

echo "5. DS-SKIP-VALIDATION: skipValidation=true is sent for an isolated workspace"
cat >> main.amlsec <<'EOF'

datastore "training" {
  workspace      = workspace.prod
  name           = "training_data"
  type           = "azure_blob"
  account_name   = storage_account.ml.name
  container_name = "training"
}
EOF
expect_exit 0 "$AMLSEC" render -no-color datastore.training > render.out 2>&1
grep -q 'datastores/training_data?api-version=2025-09-01&skipValidation=true' render.out || fail "render URL"
# through a saved plan: the query parameter is part of it
expect_exit 2 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color -out ds.plan > dsplan.out 2>&1
expect_exit 0 "$AMLSEC" apply -cloud "$url" -no-color ds.plan > apply4.out 2>&1
expect_exit 0 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > ds.out 2>&1
sed -i 's/^  container_name = "training"$/&\n  skip_validation = false/; s/"training_data"/"training_data2"/' main.amlsec
expect_exit 0 "$AMLSEC" validate -no-color > dsval.out 2>&1
has DS-SKIP-VALIDATION dsval.out || fail "no DS-SKIP-VALIDATION warning"
expect_exit 1 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color > dsfail.out 2>&1
grep -q DatastoreValidationFailed dsfail.out || fail "armlocal accepted a validated datastore in an isolated workspace"
stop_cloud

echo "6. RBAC-VNET-JOIN: the caller's permissions on the VNet and subnet, before any write"
start_cloud auth --auth required
curl -sf -X POST -H 'Content-Type: application/json' -d '{"clientId":"app1","secret":"s3cret"}' \
  "$url/_armlocal/servicePrincipals" > /dev/null || fail "register the service principal"
tok=$(curl -sf -X POST "$url/$T/oauth2/v2.0/token" \
        -d "grant_type=client_credentials&client_id=app1&client_secret=s3cret&scope=https%3A%2F%2Fmanagement.azure.com%2F.default" \
      | sed -E 's/.*"access_token":"([^"]*)".*/\1/')
payload=$(cut -d. -f2 <<<"$tok" | tr '_-' '/+')
while [ $(( ${#payload} % 4 )) != 0 ]; do payload="$payload="; done
oid=$(base64 -d <<<"$payload" | sed -E 's/.*"oid":"([^"]*)".*/\1/')
[ -n "$oid" ] || fail "no object id in the token"
assign() { # scope, role definition GUID, assignment GUID
  curl -sf -X PUT -H "Authorization: Bearer $tok" -H 'Content-Type: application/json' \
    -d "{\"properties\":{\"roleDefinitionId\":\"$sub/providers/Microsoft.Authorization/roleDefinitions/$2\",\"principalId\":\"$oid\",\"principalType\":\"ServicePrincipal\"}}" \
    "$url$1/providers/Microsoft.Authorization/roleAssignments/$3?api-version=2022-04-01" > /dev/null \
    || fail "role assignment at $1"
}
net=$sub/resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks
seed() { # id, type: through the control API, as a network team would have made them
  curl -sf -X PUT -H 'Content-Type: application/json' -d "{\"type\":\"$2\",\"location\":\"westeurope\",\"properties\":{}}" \
    "$url/_armlocal/resources$1" > /dev/null || fail "seed $1"
}
seed "$sub/resourceGroups/rg-net" Microsoft.Resources/resourceGroups
for v in granted other; do
  seed "$net/$v" Microsoft.Network/virtualNetworks
  seed "$net/$v/subnets/ml" Microsoft.Network/virtualNetworks/subnets
done
assign "$sub" acdd72a7-3385-48ef-bd42-f606fba81ae7 00000000-0000-0000-0000-00000000000a  # Reader
assign "$net/granted" 4d97b98b-1d4f-4787-a291-c67834d212e7 00000000-0000-0000-0000-00000000000b  # Network Contributor
export ARM_CLIENT_ID=app1 ARM_CLIENT_SECRET=s3cret ARM_TENANT_ID=$T
use RBAC-VNET-JOIN.amlsec
expect_exit 1 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color > join.out 2>&1
grep -q "main.amlsec:25:3: error: the caller lacks Microsoft.Network/virtualNetworks/join/action on the VNet $net/other, which private_endpoint.blob deploys into \[RBAC-VNET-JOIN\]" join.out \
  || fail "VNet join not refused"
grep -q "error: the caller lacks Microsoft.Network/virtualNetworks/subnets/join/action on the subnet $net/other/subnets/ml, which private_endpoint.blob deploys into \[RBAC-VNET-JOIN\]" join.out \
  || fail "subnet join not refused"
grep -q "Apply complete\|Creation complete" join.out && fail "something was written"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $tok" "$url$sub/resourceGroups/rg-ml?api-version=2021-04-01")
[ "$code" = 404 ] || fail "the resource group was created before the check ($code)"
use RBAC-VNET-JOIN.clean.amlsec
expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color > joined.out 2>&1
has RBAC-VNET-JOIN joined.out && fail "RBAC-VNET-JOIN with Network Contributor on the VNet"
# a custom role: every network action but joining subnets
curl -sf -X PUT -H "Authorization: Bearer $tok" -H 'Content-Type: application/json' \
  -d "{\"properties\":{\"roleName\":\"no subnet joins\",\"type\":\"CustomRole\",\"permissions\":[{\"actions\":[\"Microsoft.Network/*\"],\"notActions\":[\"Microsoft.Network/virtualNetworks/subnets/join/*\"]}],\"assignableScopes\":[\"$sub\"]}}" \
  "$url$sub/providers/Microsoft.Authorization/roleDefinitions/00000000-0000-0000-0000-0000000000cc?api-version=2022-04-01" > /dev/null \
  || fail "custom role"
assign "$net/other" 00000000-0000-0000-0000-0000000000cc 00000000-0000-0000-0000-00000000000c
use RBAC-VNET-JOIN.amlsec
expect_exit 1 "$AMLSEC" plan -cloud "$url" -no-color > partial.out 2>&1
grep -q 'lacks Microsoft.Network/virtualNetworks/join/action' partial.out && fail "the custom role's VNet join was not counted"
grep -q "subnets/join/action on the subnet $net/other/subnets/ml" partial.out || fail "notActions were not honoured"
# drift writes nothing: a caller that may not join the subnet still gets its report (the change
# is pending, not drift); before, the RBAC-VNET-JOIN error made it exit 1
expect_exit 0 "$AMLSEC" drift -cloud "$url" -no-color > joindrift.out 2>&1
has RBAC-VNET-JOIN joindrift.out && fail "drift reports the caller's right to join"
grep -q '^  \* private_endpoint.blob: .* not applied yet' joindrift.out || fail "the pending change is not reported"
stop_cloud
echo "live_rules: all scenarios passed"
