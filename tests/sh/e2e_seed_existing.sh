#!/usr/bin/env bash
# Against a local cloud, an `existing` resource the cloud lacks is seeded with
# its parents (resource group, virtual network, subnet) and reported; when it
# is there, one read of it is all the check costs (not one per level).
set -uo pipefail
: "${AMLSEC:?}" "${ARMLOCAL:?}"
work=$(mktemp -d)
source "$(dirname "$0")/lib/e2e.bash"
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
sub=/subscriptions/00000000-0000-0000-0000-0000000000e5
net=$sub/resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks/hub
cat > main.amlsec <<EOT
settings {
  subscription = "${sub#/subscriptions/}"
  location     = "westeurope"
}

existing subnet "pe" {
  id = "$net/subnets/pe"
}

resource_group "g" {
  name = "rg-seed"
}
EOT
start_cloud --lro-ms 0
reads() { grep -c "arm: GET $url/_armlocal/resources" "$1"; }

AMLSEC_LOG=debug "$AMLSEC" plan -cloud "$url" -no-color > plan1.out 2>&1 || fail "first plan"
grep -q "local cloud: seeded existing.subnet.pe and its parents" plan1.out || fail "seeding not reported"
for id in "$sub/resourceGroups/rg-net?api-version=2021-04-01" "$net?api-version=2025-03-01" \
  "$net/subnets/pe?api-version=2025-03-01"; do
  code=$(curl -s -o /dev/null -w '%{http_code}' "$url$id")
  [ "$code" = 200 ] || fail "not seeded: $id ($code)"
done
# the leaf, then each level from the resource group down
[ "$(reads plan1.out)" = 4 ] || fail "first plan: $(reads plan1.out) control reads, wanted 4"

AMLSEC_LOG=debug "$AMLSEC" plan -cloud "$url" -no-color > plan2.out 2>&1 || fail "second plan"
grep -q "seeded" plan2.out && fail "seeded again"
[ "$(reads plan2.out)" = 1 ] || fail "second plan: $(reads plan2.out) control reads, wanted 1"
exit 0
