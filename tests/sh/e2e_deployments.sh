#!/usr/bin/env bash
# Deployed models end to end against a standalone local cloud: an ACI web_service with TLS (its
# own certificate, the key from a sensitive variable) and a customer-managed key, and an
# aks_compute attaching an AKS cluster created elsewhere, with a Microsoft-managed certificate.
# Apply, plan again to no changes; the TLS key is never returned nor stored in clear; plan's
# AKS-CMK reads the attached cluster: no disk encryption set is a finding, one is not; the local
# cloud refuses ACI TLS without a certificate, a partial ACI key, AKS TLS without a certificate
# or leaf domain label, and attaching a cluster that does not exist; an AKS cluster's disk
# encryption set is create-only, and a malformed one or a cluster without a DNS prefix, system
# pool or identity is refused. Then amlsec creates an aks_cluster with a disk encryption set
# itself and attaches it (TLS on): applied, no changes, a new disk encryption set replaces it,
# and AKS-CMK reports a created cluster without one.
set -uo pipefail
: "${AMLSEC:?}" "${ARMLOCAL:?}" "${SRC:?}"
work=$(mktemp -d)
source "$(dirname "$0")/lib/e2e.bash"
cloud_flags=(--lro-ms 0)
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
grep -v '^#' "$SRC/tests/data/catalogue/deployments.amlsec" > main.amlsec
CANARY=TLSKEY-canary-5c1e9a
export AMLSEC_VAR_tls_key=$CANARY
export AMLSEC_STATE_KEY=$(printf deployments-e2e | sha256sum | cut -c1-64) # raw: no PBKDF2 per command
start_cloud
S=/subscriptions/00000000-0000-0000-0000-0000000000d9
AKS=$S/resourceGroups/rg-aks/providers/Microsoft.ContainerService/managedClusters/aks-infer
WS=$S/resourceGroups/rg-deploy/providers/Microsoft.MachineLearningServices/workspaces/mlw-deploy-e2e
put() { # path api body -> status (body in put.json)
  curl -s -o put.json -w '%{http_code}' -X PUT -H 'Content-Type: application/json' --data "$3" "$url$1?api-version=$2"
}
[[ "$(put "$S/resourcegroups/rg-aks" 2021-04-01 '{"location":"westeurope"}')" == 20? ]] || fail "rg"
POOL='"agentPoolProfiles":[{"name":"system","mode":"System","count":3,"vmSize":"Standard_D4s_v3"}]'
AKSBODY='{"location":"westeurope","identity":{"type":"SystemAssigned"},"properties":{"kubernetesVersion":"1.31.2","dnsPrefix":"aks-infer",'$POOL'}}'
[[ "$(put "$AKS" 2025-07-01 "$AKSBODY")" == 20? ]] || fail "aks cluster: $(cat put.json)"

echo "1. apply, no changes; the attached cluster has no disk encryption set"
expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color > apply.out 2>&1
grep -q 'Resources: 7 added, 0 changed, 0 destroyed' apply.out || fail "apply: $(tail -3 apply.out)"
expect_exit 0 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > plan2.out 2>&1
grep -q 'No changes' plan2.out || fail "second plan: $(cat plan2.out)"
grep -q 'aks_compute.infer attaches /subscriptions/.*/managedClusters/aks-infer, whose disks have no disk encryption set, to the CMK workspace workspace.ml \[AKS-CMK\]' plan2.out \
  || fail "AKS-CMK at plan: $(cat plan2.out)"

echo "2. the TLS key is nowhere"
curl -s "$url$WS/services/score?api-version=2020-05-15-preview" > svc.json
grep -q '"sslEnabled":true' svc.json || fail "service: $(cat svc.json)"
grep -q '"vaultBaseUrl"' svc.json || fail "service CMK: $(cat svc.json)"
"$AMLSEC" show -json > show.json 2>&1
"$AMLSEC" plan -cloud "$url" -json > plan.json 2>&1
for f in svc.json show.json plan.json apply.out plan2.out .amlsec/* terraform.tfstate*; do
  [ -f "$f" ] && grep -q "$CANARY" "$f" && fail "the TLS key is in $f"
done

echo "3. a disk encryption set on the cluster (set at creation only): no AKS-CMK"
DES=$S/resourceGroups/rg-aks/providers/Microsoft.Compute/diskEncryptionSets/des
WITHDES=${AKSBODY/\"dnsPrefix\"/\"diskEncryptionSetID\":\"$DES\",\"dnsPrefix\"}
[ "$(put "$AKS" 2025-07-01 "$WITHDES")" = 400 ] && grep -q PropertyChangeNotAllowed put.json \
  || fail "a disk encryption set added to a cluster was accepted: $(cat put.json)"
curl -s -o /dev/null -X DELETE "$url$AKS?api-version=2025-07-01"
[[ "$(put "$AKS" 2025-07-01 "$WITHDES")" == 20? ]] || fail "aks cluster with a disk encryption set: $(cat put.json)"
expect_exit 0 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > plan3.out 2>&1
grep -q 'AKS-CMK' plan3.out && fail "AKS-CMK with a disk encryption set: $(cat plan3.out)"

echo "4. refusals"
[ "$(put "$WS/services/nocert" 2020-05-15-preview '{"location":"westeurope","computeType":"ACI","sslEnabled":true,"cname":"x.contoso.com"}')" = 400 ] \
  || fail "ACI TLS without a certificate was accepted: $(cat put.json)"
[ "$(put "$WS/services/halfcmk" 2020-05-15-preview '{"location":"westeurope","computeType":"ACI","encryptionProperties":{"vaultBaseUrl":"https://kv.vault.azure.net","keyName":"k"}}')" = 400 ] \
  || fail "a partial ACI key was accepted: $(cat put.json)"
[ "$(put "$WS/computes/aksnossl" 2025-09-01 "{\"location\":\"westeurope\",\"properties\":{\"computeType\":\"AKS\",\"resourceId\":\"$AKS\",\"properties\":{\"sslConfiguration\":{\"status\":\"Enabled\"}}}}")" = 400 ] \
  || fail "AKS TLS without a certificate was accepted: $(cat put.json)"
[ "$(put "$WS/computes/aksnone" 2025-09-01 "{\"location\":\"westeurope\",\"properties\":{\"computeType\":\"AKS\",\"resourceId\":\"$AKS-nosuch\"}}")" = 400 ] \
  || fail "attaching a missing cluster was accepted: $(cat put.json)"

[ "$(put "$AKS-bad" 2025-07-01 "${AKSBODY/\"dnsPrefix\"/\"diskEncryptionSetID\":\"des-1\",\"dnsPrefix\"}")" = 400 ] \
  && grep -q LinkedInvalidPropertyId put.json || fail "a malformed disk encryption set id was accepted: $(cat put.json)"
[ "$(put "$AKS-bad" 2025-07-01 '{"location":"westeurope","identity":{"type":"SystemAssigned"},"properties":{'"$POOL"'}}')" = 400 ] \
  || fail "a cluster without a DNS prefix was accepted: $(cat put.json)"
[ "$(put "$AKS-bad" 2025-07-01 '{"location":"westeurope","identity":{"type":"SystemAssigned"},"properties":{"dnsPrefix":"x","agentPoolProfiles":[{"name":"user","mode":"User","count":1,"vmSize":"Standard_D4s_v3"}]}}')" = 400 ] \
  || fail "a cluster without a system pool was accepted: $(cat put.json)"
[ "$(put "$AKS-bad" 2025-07-01 '{"location":"westeurope","properties":{"dnsPrefix":"x",'"$POOL"'}}')" = 400 ] \
  || fail "a cluster without an identity was accepted: $(cat put.json)"

echo "5. amlsec creates the cluster with a disk encryption set and attaches it"
cat >> main.amlsec <<AML

aks_cluster "own" {
  resource_group = resource_group.ml
  name           = "aks-own"
  dns_prefix     = "aks-own"
  vm_size        = "Standard_D4s_v3"

  disk_encryption_set_id = "$DES"
}

aks_compute "own" {
  workspace = workspace.ml
  name      = "aks-own"
  cluster   = aks_cluster.own
  ssl {
    status            = "Enabled"
    leaf_domain_label = "contoso-own"
  }
}
AML
expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color > apply5.out 2>&1
grep -q 'Resources: 2 added, 0 changed, 0 destroyed' apply5.out || fail "apply: $(tail -3 apply5.out)"
grep -q 'AKS-CMK' apply5.out && fail "AKS-CMK with a created disk encryption set: $(cat apply5.out)"
OWN=$S/resourceGroups/rg-deploy/providers/Microsoft.ContainerService/managedClusters/aks-own
curl -s "$url$OWN?api-version=2025-07-01" > own.json
jq -e --arg d "$DES" '.properties.diskEncryptionSetID == $d and .identity.type == "SystemAssigned"
   and .properties.agentPoolProfiles[0].mode == "System" and .properties.agentPoolProfiles[0].count == 3' own.json > /dev/null \
  || fail "the created cluster: $(cat own.json)"
curl -s "$url$WS/computes/aks-own?api-version=2025-09-01" \
  | jq -e --arg c "$OWN" '.properties.resourceId == $c and .properties.properties.sslConfiguration.status == "Enabled"' > /dev/null \
  || fail "the compute does not attach the created cluster with TLS"
expect_exit 0 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > plan5.out 2>&1
sed -i "s|diskEncryptionSets/des\"|diskEncryptionSets/des2\"|" main.amlsec
expect_exit 2 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > plan6.out 2>&1
grep -q 'aks_cluster.own must be replaced' plan6.out || fail "a new disk encryption set does not replace: $(cat plan6.out)"
sed -i '/disk_encryption_set_id = /d' main.amlsec
expect_exit 0 "$AMLSEC" validate -no-color . > validate7.out 2>&1
grep -q 'aks_compute.own attaches aks_cluster.own, created without a disk encryption set, to the CMK workspace workspace.ml \[AKS-CMK\]' validate7.out \
  || fail "AKS-CMK for a created cluster: $(cat validate7.out)"

expect_exit 0 "$AMLSEC" destroy -cloud "$url" -auto-approve -no-color > destroy.out 2>&1
echo "deployments: ok"
