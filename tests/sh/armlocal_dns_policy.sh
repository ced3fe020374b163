#!/usr/bin/env bash
# armlocal serves what issue 17 item 6 found missing, with ARM's behaviour:
# private DNS zones, their virtual network links and private endpoint DNS
# zone groups (which write the endpoint's A record in each zone); custom
# policy definitions at subscription and management-group scope; policy
# assignments listed for a resource group include those inherited from its
# subscription; a policy assignment's definition must exist.
source "$SRC/tests/sh/lib/armlocal.bash"
S=/subscriptions/00000000-0000-0000-0000-000000000001
RG=$S/resourceGroups/rg1
V=api-version
NET=$RG/providers/Microsoft.Network
DNS=$NET/privateDnsZones
KV=$RG/providers/Microsoft.KeyVault/vaults
PD=providers/Microsoft.Authorization/policyDefinitions
PA=providers/Microsoft.Authorization/policyAssignments
armlocal_start --lro-ms 0 --seed 5 --policy-definitions "$SHARED/data/policies"
req PUT "$RG?$V=2024-03-01" '{"location":"eastus"}'; expect_code 201 "rg"
req PUT "$NET/virtualNetworks/hub?$V=2025-03-01" '{"location":"eastus","properties":{"addressSpace":{"addressPrefixes":["10.0.0.0/16"]},"subnets":[{"name":"pe","properties":{"addressPrefix":"10.0.1.0/24"}}]}}'
expect_code 201 "vnet"
req PUT "$KV/kvdns1?$V=2025-05-01" '{"location":"eastus","properties":{"tenantId":"t","sku":{"family":"A","name":"standard"}}}'; expect_code 201 "vault"

# zones: global, DNS names
Z=privatelink.vaultcore.azure.net
req PUT "$DNS/$Z?$V=2024-06-01" '{"location":"eastus"}'; expect_code 400 "zone outside global"
expect_body InvalidLocation "zone location code"
req PUT "$DNS/not_a_dns_name?$V=2024-06-01" '{"location":"global"}'; expect_code 400 "zone name"
req PUT "$DNS/-bad.example?$V=2024-06-01" '{"location":"global"}'; expect_code 400 "zone label starting with a hyphen"
req PUT "$DNS/$Z?$V=2024-06-01" '{"location":"global"}'; expect_code 201 "zone"
req GET "$DNS/$Z?$V=2024-06-01"; expect_code 200 "zone get"
expect_body '"maxNumberOfRecordSets":25000' "zone limits"; expect_body '"provisioningState":"Succeeded"' "zone state"
req GET "$DNS/$Z?$V=2019-01-01"; expect_code 400 "zone api-version"

# virtual network links: the network must exist, once per zone
req PUT "$DNS/$Z/virtualNetworkLinks/l1?$V=2024-06-01" "{\"location\":\"global\",\"properties\":{\"virtualNetwork\":{\"id\":\"$NET/virtualNetworks/nope\"}}}"
expect_code 400 "link to a missing network"
req PUT "$DNS/$Z/virtualNetworkLinks/l1?$V=2024-06-01" "{\"location\":\"global\",\"properties\":{\"virtualNetwork\":{\"id\":\"$NET/virtualNetworks/hub\"}}}"
expect_code 201 "link"
req GET "$DNS/$Z/virtualNetworkLinks/l1?$V=2024-06-01"
expect_body '"virtualNetworkLinkState":"Completed"' "link state"; expect_body '"registrationEnabled":false' "registration default"
req PUT "$DNS/$Z/virtualNetworkLinks/l2?$V=2024-06-01" "{\"location\":\"global\",\"properties\":{\"virtualNetwork\":{\"id\":\"$NET/virtualNetworks/hub\"}}}"
expect_code 409 "second link to the same network"
req GET "$DNS/$Z/virtualNetworkLinks?$V=2024-06-01"; expect_body '"name":"l1"' "links listed"

# a private endpoint's DNS zone group writes the A record
req PUT "$NET/privateEndpoints/pe-kv?$V=2025-03-01" "{\"location\":\"eastus\",\"properties\":{\"subnet\":{\"id\":\"$NET/virtualNetworks/hub/subnets/pe\"},\"privateLinkServiceConnections\":[{\"name\":\"c\",\"properties\":{\"privateLinkServiceId\":\"$KV/kvdns1\",\"groupIds\":[\"vault\"]}}]}}"
expect_code 201 "private endpoint"
req PUT "$NET/privateEndpoints/pe-kv/privateDnsZoneGroups/default?$V=2025-03-01" "{\"properties\":{\"privateDnsZoneConfigs\":[{\"name\":\"kv\",\"properties\":{\"privateDnsZoneId\":\"$DNS/privatelink.blob.core.windows.net\"}}]}}"
expect_code 400 "zone group naming a missing zone"; expect_body InvalidResourceReference "zone group code"
req PUT "$NET/privateEndpoints/pe-kv/privateDnsZoneGroups/default?$V=2025-03-01" "{\"properties\":{\"privateDnsZoneConfigs\":[{\"name\":\"kv\",\"properties\":{\"privateDnsZoneId\":\"$DNS/$Z\"}}]}}"
expect_code 201 "zone group"
[ -n "$(header Azure-AsyncOperation)" ] || fail "zone group PUT is a long-running operation"
req GET "$NET/privateEndpoints/pe-kv/privateDnsZoneGroups/default?$V=2025-03-01"
expect_body '"recordSetName":"kvdns1"' "zone group lists its record"; expect_body '"ipAddresses":\["10\.' "record address"
req GET "$DNS/$Z/A/kvdns1?$V=2024-06-01"; expect_code 200 "A record in the zone"
expect_body '"fqdn":"kvdns1.privatelink.vaultcore.azure.net."' "record fqdn"
req DELETE "$NET/privateEndpoints/pe-kv?$V=2025-03-01"; expect_code 202 "endpoint delete"
sleep 0.2
req GET "$DNS/$Z/A/kvdns1?$V=2024-06-01"; expect_code 404 "the record goes with its endpoint"

# custom policy definitions, subscription and management-group scope
rule='{"properties":{"displayName":"No public ML","policyRule":{"if":{"field":"type","equals":"Microsoft.MachineLearningServices/workspaces"},"then":{"effect":"deny"}}}}'
req PUT "$S/$PD/nopub?$V=2025-03-01" '{"properties":{"displayName":"x"}}'; expect_code 400 "definition without a rule"
expect_body InvalidPolicyRule "rule code"
req PUT "$S/$PD/nopub?$V=2025-03-01" "$rule"; expect_code 201 "custom definition"
expect_body '"policyType":"Custom"' "custom type"; expect_body '"mode":"Indexed"' "mode default"
req GET "$S/$PD/nopub?$V=2025-03-01"; expect_code 200 "custom definition get"
MG=/providers/Microsoft.Management/managementGroups/contoso
req PUT "$MG/$PD/mgrule?$V=2025-03-01" "$rule"; expect_code 201 "management-group definition"
req GET "$MG/$PD/mgrule?$V=2025-03-01"; expect_code 200 "management-group definition get"

# assignments: the definition must exist; a resource group's list inherits the subscription's
req PUT "$S/$PA/sub-nopub?$V=2025-03-01" "{\"properties\":{\"policyDefinitionId\":\"$S/$PD/missing\"}}"
expect_code 404 "assignment of a missing definition"; expect_body PolicyDefinitionNotFound "missing definition code"
req PUT "$S/$PA/sub-nopub?$V=2025-03-01" "{\"properties\":{\"policyDefinitionId\":\"$S/$PD/nopub\"}}"; expect_code 201 "subscription assignment"
req PUT "$RG/$PA/rg-mg?$V=2025-03-01" "{\"properties\":{\"policyDefinitionId\":\"$MG/$PD/mgrule\"}}"; expect_code 201 "assignment of a management-group definition"
req PUT "$RG/$PA/rg-builtin?$V=2025-03-01" '{"properties":{"policyDefinitionId":"/providers/Microsoft.Authorization/policyDefinitions/00000000-dead-beef-0000-000000000000"}}'
expect_code 404 "unknown built-in"
req GET "$RG/$PA?$V=2025-03-01"; expect_code 200 "resource group's assignments"
expect_body '"name":"sub-nopub"' "inherited from the subscription"; expect_body '"name":"rg-mg"' "its own"
req GET "$RG/$PA?$V=2025-03-01&\$filter=atScope()"; expect_body '"name":"sub-nopub"' "atScope() keeps inherited ones"
req DELETE "$S/$PD/nopub?$V=2025-03-01"; expect_code 200 "custom definition delete"
req GET "$S/$PD/nopub?$V=2025-03-01"; expect_code 404 "custom definition gone"
echo ok
