#!/usr/bin/env bash
# armlocal --lro-ms per resource type: a type's long-running operations stay
# in progress its duration, its synchronous ones answer after it, others
# take the default; /_armlocal/settings replaces the list; bad input fails.
source "$SRC/tests/sh/lib/armlocal.bash"
S=/subscriptions/00000000-0000-0000-0000-000000000001
RG=$S/resourceGroups/rg1
V=api-version
SA=$RG/providers/Microsoft.Storage/storageAccounts
VNET=$RG/providers/Microsoft.Network/virtualNetworks
SA_BODY='{"location":"eastus","kind":"StorageV2","sku":{"name":"Standard_LRS"}}'
VNET_BODY='{"location":"eastus","properties":{"addressSpace":{"addressPrefixes":["10.0.0.0/16"]}}}'

# bad values name the problem
for bad in 'Contoso.Widgets/w=5' 'Microsoft.Storage/storageAccounts=x' \
  'Microsoft.Storage/storageAccounts=' '100,,5'; do
  if "$ARMLOCAL" --lro-ms "$bad" >"$TMP/out" 2>&1; then fail "--lro-ms '$bad' accepted"; fi
  grep -q -- '--lro-ms' "$TMP/out" || fail "--lro-ms '$bad': $(cat "$TMP/out")"
done

# the default, one type in a list (any casing), another in a second flag
armlocal_start --lro-ms 200,microsoft.storage/STORAGEACCOUNTS=1500 \
  --lro-ms Microsoft.Authorization/locks=400

# the operation record spans exactly the type's duration
op_span() { # the id of the resource whose operation to measure
  curl -sS "$B/_armlocal/state" | python3 -c '
import json, sys
ops = [o for o in json.load(sys.stdin)["ops"].values() if o["resourceId"].lower() == sys.argv[1].lower()]
print(ops[-1]["end"] - ops[-1]["start"])' "$1"
}

req PUT "$RG?$V=2024-03-01" '{"location":"eastus"}'; expect_code 201 "rg"
t0=$(date +%s%N)
req PUT "$SA/sa1?$V=2025-06-01" "$SA_BODY"; expect_code 202 "storage create"
[ "$(op_span "$SA/sa1")" = 1500 ] || fail "storage: $(op_span "$SA/sa1") ms, not 1500"
ms=$(header retry-after-ms); [ "$ms" -gt 1000 ] && [ "$ms" -le 1500 ] || fail "storage retry-after-ms $ms"
[ "$(header Retry-After)" = 2 ] || fail "storage Retry-After $(header Retry-After)"
loc=$(header Location)
code=$(curl -sS -o /dev/null -w '%{http_code}' "$loc")
# in progress when polled within its 1,500 ms (a loaded machine may poll later: the span above
# already proves the duration)
[ "$code" = 202 ] || [ $((($(date +%s%N) - t0) / 1000000)) -ge 1500 ] || fail "storage done early: $code"
req PUT "$VNET/v1?$V=2025-03-01" "$VNET_BODY"; expect_code 201 "vnet create"
[ "$(op_span "$VNET/v1")" = 200 ] || fail "vnet: $(op_span "$VNET/v1") ms, not the default 200"
sleep 1.6
code=$(curl -sS -o /dev/null -w '%{http_code}' "$loc"); [ "$code" = 200 ] || fail "storage not done: $code"

# a synchronous type with its own duration answers after it
t=$(curl -sS -o "$TMP/b" -w '%{time_total}' -X PUT "$B$RG/providers/Microsoft.Authorization/locks/l1?$V=2020-05-01" \
  -H 'Content-Type: application/json' -d '{"properties":{"level":"CanNotDelete"}}')
grep -q CanNotDelete "$TMP/b" || fail "lock: $(cat "$TMP/b")"
python3 -c 'import sys; sys.exit(float(sys.argv[1]) < 0.4)' "$t" || fail "lock answered after $t s, before 400 ms"

# settings: shown, replaced as a whole, refused whole when one entry is wrong
req GET /_armlocal/settings
expect_body '"lroMsByType":{"Microsoft.Storage/storageAccounts":1500,"Microsoft.Authorization/locks":400}' "settings"
req PUT /_armlocal/settings '{"lroMsByType":{"Microsoft.Network/virtualNetworks":900,"Contoso.Widgets/w":1}}'
expect_code 400 "unknown type in settings"; expect_body InvalidSettings "unknown type in settings"
req PUT /_armlocal/settings '{"lroMsByType":{"Microsoft.Network/virtualNetworks":-1}}'
expect_code 400 "negative duration"
req PUT /_armlocal/settings '{"lroMsByType":{"microsoft.network/virtualnetworks":900}}'
expect_code 200 "settings"; expect_body '"lroMsByType":{"Microsoft.Network/virtualNetworks":900}' "settings replaced"
req PUT "$VNET/v2?$V=2025-03-01" "$VNET_BODY"; expect_code 201 "vnet 2"
[ "$(op_span "$VNET/v2")" = 900 ] || fail "vnet after settings: $(op_span "$VNET/v2") ms, not 900"
req PUT "$SA/sa2?$V=2025-06-01" "$SA_BODY"; expect_code 202 "storage 2"
[ "$(op_span "$SA/sa2")" = 200 ] || fail "storage after settings: $(op_span "$SA/sa2") ms, not the default 200"
armlocal_stop
