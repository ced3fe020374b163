#!/usr/bin/env bash
# armlocal Resource Graph: the supported KQL subset, paging with $skipToken,
# objectArray and table formats, quota headers, bad queries.
source "$SRC/tests/sh/lib/armlocal.bash"
S=/subscriptions/00000000-0000-0000-0000-000000000001
V=api-version
armlocal_start --lro-ms 0
Q="/providers/Microsoft.ResourceGraph/resources?$V=2024-04-01"
for rg in rga rgb; do
  req PUT "$S/resourceGroups/$rg?$V=2024-03-01" '{"location":"eastus"}'
  for i in 1 2 3; do
    req PUT "$S/resourceGroups/$rg/providers/Microsoft.MachineLearningServices/workspaces/ws$rg$i?$V=2025-09-01" \
      "{\"location\":\"eastus\",\"properties\":{\"publicNetworkAccess\":\"$([ $i = 1 ] && echo Enabled || echo Disabled)\"}}"
  done
done
req PUT "$S/resourceGroups/rga/providers/Microsoft.KeyVault/vaults/kv1?$V=2025-05-01" '{"location":"eastus","properties":{"tenantId":"00000000-0000-0000-0000-000000000000","sku":{"family":"A","name":"standard"}}}'

# a query as a client sends it: past the user quota (15 per 5 s, enforced by
# default: tests/sh/armlocal_graph_quota.sh), it waits the 429's Retry-After
q() {
  req POST "$Q" "$1"
  if [ "$CODE" = 429 ]; then
    [ "$(header x-ms-user-quota-remaining)" = 0 ] || fail "a 429 says the quota is used up"
    sleep "$(header Retry-After)"
    req POST "$Q" "$1"
  fi
}
q '{"subscriptions":["'${S##*/}'"],"query":"resources | where type =~ '"'"'Microsoft.MachineLearningServices/workspaces'"'"' | project id, name, properties.publicNetworkAccess | order by name asc","options":{"resultFormat":"objectArray"}}'
expect_code 200 "type filter"; expect_body '"totalRecords":6' "six workspaces"
expect_body '"properties_publicNetworkAccess":"Enabled"' "projected column name"
[[ "$BODY" == *'"name":"wsrga1"'*'"name":"wsrgb3"'* ]] || fail "order by asc"
[ -n "$(header x-ms-user-quota-remaining)" ] && [[ "$(header x-ms-user-quota-resets-after)" =~ ^00:00:0[0-9]$ ]] || fail "quota headers"
q '{"query":"resources | where type =~ '"'"'microsoft.machinelearningservices/workspaces'"'"' and resourceGroup =~ '"'"'RGB'"'"' and properties.publicNetworkAccess == '"'"'Disabled'"'"' | project id"}'
expect_body '"totalRecords":2' "and + resourceGroup"
id1="$S/resourceGroups/rga/providers/Microsoft.MachineLearningServices/workspaces/wsrga1"
id2="$S/resourceGroups/rgb/providers/Microsoft.KeyVault/vaults/none"
q "{\"query\":\"resources | where id in~ ('${id1^^}', '$id2') | project id, n = name\"}"
expect_body '"totalRecords":1' "id in~"; expect_body '"n":"wsrga1"' "project alias"
# a batch of 1000 ids, as amlsec's provider sends
ids=$(for i in $(seq 1 999); do printf "'/subscriptions/x/resourceGroups/r/providers/P.N/t/n%d', " "$i"; done)
q "{\"query\":\"resources | where id in~ (${ids}'$id1') | project id, name, type, location, tags, identity, sku, kind, properties\"}"
expect_code 200 "1000 ids"; expect_body '"totalRecords":1' "1000 ids match"
# a leading id condition is answered from the store's index: same answers
# as a scan (case-sensitive operators, duplicates, scope, paging, and/or)
id3="$S/resourceGroups/rgb/providers/Microsoft.MachineLearningServices/workspaces/wsrgb3"
q "{\"query\":\"resources | where id in ('${id1^^}', '$id3') | project id\"}"
expect_body '"totalRecords":1' "case-sensitive in"; expect_body wsrgb3 "case-sensitive in keeps exact"
q "{\"query\":\"resources | where id == '${id1^^}' | project id\"}"
expect_body '"totalRecords":0' "case-sensitive =="
q "{\"query\":\"resources | where id =~ '${id1^^}' | project id\"}"
expect_body '"totalRecords":1' "id =~"
q "{\"query\":\"resources | where id in~ ('$id1', '${id1^^}', '$id3') | project id\"}"
expect_body '"totalRecords":2' "duplicate ids once"
q "{\"subscriptions\":[\"00000000-0000-0000-0000-000000000002\"],\"query\":\"resources | where id in~ ('$id1') | project id\"}"
expect_body '"totalRecords":0' "indexed read keeps the subscription scope"
q "{\"query\":\"resources | where id in~ ('$id1', '$id3') and name == 'wsrgb3' | project id\"}"
expect_body '"totalRecords":1' "id in~ with and"
q "{\"query\":\"resources | where id in~ ('$id1', '$id3') | project id\",\"options\":{\"\$top\":1}}"
expect_body '"count":1' "indexed page 1"; expect_body wsrga1 "indexed page 1 in list order"
tok=$(sed -E 's/.*"\$skipToken":"([^"]*)".*/\1/' <<<"$BODY")
q "{\"query\":\"resources | where id in~ ('$id1', '$id3') | project id\",\"options\":{\"\$top\":1,\"\$skipToken\":\"$tok\"}}"
expect_body '"count":1' "indexed page 2"; expect_body wsrgb3 "indexed page 2 in list order"
grep -q skipToken <<<"$BODY" && fail "indexed last page without a token"
# paging: $top 2 with a skip token
q '{"query":"resources | where type =~ '"'"'microsoft.machinelearningservices/workspaces'"'"' | project id, name | order by name desc","options":{"$top":2}}'
expect_body '"count":2' "page 1"; expect_body '"\$skipToken":"' "skip token"; expect_body '"name":"wsrgb3"' "desc order"
tok=$(sed -E 's/.*"\$skipToken":"([^"]*)".*/\1/' <<<"$BODY")
q "{\"query\":\"resources | where type =~ 'microsoft.machinelearningservices/workspaces' | project id, name | order by name desc\",\"options\":{\"\$top\":2,\"\$skipToken\":\"$tok\"}}"
expect_body '"name":"wsrgb1"' "page 2"
# without id projected: no skip token, resultTruncated
q '{"query":"resources | project name","options":{"$top":2}}'
expect_body '"resultTruncated":"true"' "truncated without id"; grep -q skipToken <<<"$BODY" && fail "token without id"
# table format
q '{"query":"resources | where type =~ '"'"'microsoft.keyvault/vaults'"'"' | project id, name","options":{"resultFormat":"table"}}'
expect_body '"columns":\[{"name":"id","type":"string"}' "table columns"; expect_body '"rows":\[\["' "table rows"
# a column named twice keeps its first place and takes the last value (both formats)
q '{"query":"resources | where type =~ '"'"'microsoft.keyvault/vaults'"'"' | project x = name, id, x = type","options":{"$top":1}}'
expect_body '"data":\[{"x":"microsoft.keyvault/vaults","id":"[^"]*"}\]' "column named twice"
q '{"query":"resources | where type =~ '"'"'microsoft.keyvault/vaults'"'"' | project x = name, id, x = type","options":{"$top":1,"resultFormat":"table"}}'
expect_body '"rows":\[\["microsoft.keyvault/vaults","[^"]*","microsoft.keyvault/vaults"\]\]' "table column named twice"
# bad queries and options
q '{"query":"resources | summarize count()"}'; expect_code 400 "unsupported operator"; expect_body InvalidQuery "invalid query"
q '{"query":"resources | where type =~ '"'"'x"}'; expect_code 400 "unterminated string"
q '{"query":"resources","options":{"$top":1001}}'; expect_code 400 "top over 1000"
q '{"query":"resources","options":{"$skipToken":"garbage"}}'; expect_code 400 "bad skip token"
q 'not json'; expect_code 400 "bad body"
# tables (Microsoft's table reference): resources holds top-level tracked resources and a few
# child types (online endpoints); role assignments are in authorizationresources, policy
# assignments in policyresources, resource groups in resourcecontainers, locks in no table
ws1="$S/resourceGroups/rga/providers/Microsoft.MachineLearningServices/workspaces/wsrga1"
req PUT "$ws1/providers/Microsoft.Authorization/roleAssignments/11111111-2222-3333-4444-555555555555?$V=2022-04-01" \
  '{"properties":{"roleDefinitionId":"'$S'/providers/Microsoft.Authorization/roleDefinitions/8e3af657-a8ff-443c-a75c-2fe8c4bcb635","principalId":"00000000-0000-0000-0000-0000000000aa"}}'
expect_code 201 "role assignment"
req PUT "$ws1/providers/Microsoft.Authorization/locks/nodelete?$V=2020-05-01" '{"properties":{"level":"CanNotDelete"}}'
req PUT "$ws1/providers/Microsoft.Authorization/policyAssignments/pa1?$V=2025-03-01" \
  '{"properties":{"policyDefinitionId":"/providers/Microsoft.Authorization/policyDefinitions/x"}}'
q '{"query":"resources | where type in~ ('"'"'microsoft.authorization/roleassignments'"'"', '"'"'microsoft.authorization/locks'"'"', '"'"'microsoft.authorization/policyassignments'"'"', '"'"'microsoft.resources/resourcegroups'"'"') | project id"}'
expect_body '"totalRecords":0' "extension resources and groups are not in resources"
q '{"query":"authorizationresources | project id, type, properties.scope"}'
expect_body '"totalRecords":1' "authorizationresources: the role assignment (locks are in no table)"
expect_body '"properties_scope":"'$ws1'"' "a role assignment's scope"
req PUT "$ws1/onlineEndpoints/ep1?$V=2025-09-01" '{"location":"eastus","properties":{"authMode":"AADToken"}}'
[[ $CODE == 20[01] ]] || fail "online endpoint: $CODE $BODY"
req PUT "$ws1/computes/cpu1?$V=2025-09-01" '{"location":"eastus","properties":{"computeType":"AmlCompute","properties":{"vmSize":"Standard_DS3_v2"}}}'
[[ $CODE == 20[01] ]] || fail "compute: $CODE $BODY"
# the whole table (a scan) and the group's entries of the tree index: the same rows
q '{"query":"resources | where name != '"'"'x'"'"' and resourceGroup =~ '"'"'rga'"'"' | project id, type"}'
scan=$BODY
q '{"subscriptions":["'${S##*/}'"],"query":"resources | where name != '"'"'x'"'"' and resourceGroup =~ '"'"'rga'"'"' | project id, type"}'
[ "$BODY" = "$scan" ] || fail "the indexed group query differs from the scan: $BODY vs $scan"
expect_body '"totalRecords":5' "three workspaces, the vault and the endpoint"
expect_body 'onlineEndpoints/ep1' "online endpoints are in resources"
[[ $BODY == *computes/cpu1* ]] && fail "computes are in no table"
q '{"query":"policyresources | where type =~ '"'"'microsoft.authorization/policyassignments'"'"' | project id"}'
expect_body '"totalRecords":1' "policyresources"
q '{"query":"resourcecontainers | project id"}'
expect_body '"totalRecords":2' "resourcecontainers"
q '{"query":"securityresources | project id"}'; expect_code 400 "unknown table"
# mv-expand (Microsoft's "mv-expand operator"): arrays in parallel, the longest deciding; null or
# nothing at a path gives one row, empty arrays none; a property bag a row per member
kv1="$S/resourceGroups/rga/providers/Microsoft.KeyVault/vaults/kv1"
pe() { # NAME PROPERTIES
  req PUT "/_armlocal/resources$S/resourceGroups/rgc/providers/Microsoft.Network/privateEndpoints/$1" \
    '{"type":"Microsoft.Network/privateEndpoints","location":"eastus","tags":{"x":"1","y":"2"},"properties":'"$2"'}'
  [[ $CODE == 20[01] ]] || fail "seed $1: $CODE $BODY"
}
c() { echo '{"name":"'$1'","properties":{"privateLinkServiceId":"'$2'"}}'; }
pe pe-a '{"privateLinkServiceConnections":['"$(c c1 "$ws1"),$(c c2 "$kv1")"'],"manualPrivateLinkServiceConnections":[]}'
pe pe-b '{"manualPrivateLinkServiceConnections":['"$(c c3 "$ws1")"']}'
pe pe-c '{"privateLinkServiceConnections":[],"manualPrivateLinkServiceConnections":[]}'
pe pe-d '{}'
MV="resources | where type =~ 'microsoft.network/privateendpoints' | mv-expand a = properties.privateLinkServiceConnections, m = properties.manualPrivateLinkServiceConnections"
q "{\"query\":\"$MV | project id, t = a.properties.privateLinkServiceId, u = m.properties.privateLinkServiceId | order by t asc\",\"options\":{\"\$top\":1000}}"
expect_code 200 "mv-expand"; expect_body '"totalRecords":4' "mv-expand: two rows, one, none, one"
[ "$(jq '[.data[] | select(.id | endswith("/pe-a"))] | length' <<< "$BODY")" = 2 ] || fail "pe-a's two connections: $BODY"
jq -e '[.data[] | select(.id | endswith("/pe-b"))][0] | .t == null and .u == "'$ws1'"' <<< "$BODY" > /dev/null || fail "pe-b: nothing at one path is null: $BODY"
jq -e '[.data[] | select(.id | endswith("/pe-d"))][0] | .t == null and .u == null' <<< "$BODY" > /dev/null || fail "pe-d: one row of nulls: $BODY"
q "{\"query\":\"$MV | where a.properties.privateLinkServiceId in~ ('${ws1^^}') or m.properties.privateLinkServiceId in~ ('${ws1^^}') | project id\"}"
expect_body '"totalRecords":2' "mv-expand then where on the new columns"; expect_body pe-a "automatic connection"; expect_body pe-b "manual connection"
q "{\"query\":\"resources | where type =~ 'microsoft.network/privateendpoints' and name =~ 'pe-d' | mv-expand t = tags\"}"
expect_body '"totalRecords":2' "a property bag, a row per member"
expect_body '"t":{"x":"1"}' "a member as a bag"; expect_body '"id":"' "no project: every column"
for bad in "mv-expand properties.privateLinkServiceConnections" "mv-expand kind=array a = properties.privateLinkServiceConnections" \
           "mv-expand id = properties.privateLinkServiceConnections" "mv-expand a = properties.privateLinkServiceConnections limit 1" \
           "project id, properties | mv-expand a = properties.privateLinkServiceConnections" \
           "mv-expand a = properties.privateLinkServiceConnections, a = properties.manualPrivateLinkServiceConnections" \
           "mv-expand with_itemindex = i a = properties.privateLinkServiceConnections" "mvexpand a = properties.privateLinkServiceConnections"; do
  q "{\"query\":\"resources | $bad\"}"; expect_code 400 "unsupported: $bad"
done
echo "armlocal graph: ok"
