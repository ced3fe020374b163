// Drives armlocal with Microsoft's own JavaScript SDKs: every kind is created,
// read, updated, listed and deleted through the SDKs' own operations and
// long-running-operation pollers. Any exception is a protocol error.
//
// Usage: node conformance.js BASE_URL
// The SDKs talk plain HTTP to loopback (allowInsecureConnection); their
// bearer-token policy refuses http, so it is replaced by one that sends a
// token from a stub TokenCredential.
"use strict";

const { ResourceManagementClient } = require("@azure/arm-resources");
const { AzureMachineLearningWorkspaces } = require("@azure/arm-machinelearning");
const { NetworkManagementClient } = require("@azure/arm-network");
const { KeyVaultManagementClient } = require("@azure/arm-keyvault");
const { AuthorizationManagementClient } = require("@azure/arm-authorization");
const { PolicyClient } = require("@azure/arm-policy");
const { ManagementLockClient } = require("@azure/arm-locks");
const { ResourceGraphClient } = require("@azure/arm-resourcegraph");
const { StorageManagementClient } = require("@azure/arm-storage");
const { ContainerRegistryManagementClient } = require("@azure/arm-containerregistry");
const { PrivateDnsManagementClient } = require("@azure/arm-privatedns");
const { ManagedServiceIdentityClient } = require("@azure/arm-msi");
const { OperationalInsightsManagementClient } = require("@azure/arm-operationalinsights");

const base = process.argv[2];
if (!base) {
  console.error("usage: node conformance.js BASE_URL");
  process.exit(2);
}
const sub = "00000000-0000-0000-0000-0000000000c1";
const rg = "rg-conf";
const loc = "westeurope";
const rgId = `/subscriptions/${sub}/resourceGroups/${rg}`;

const credential = {
  async getToken() {
    return { token: "conformance-token", expiresOnTimestamp: Date.now() + 3600 * 1000 };
  },
};

// Replace the https-only bearer policy; pin api-versions to the ones amlsec
// uses (arm-api.md §0) for SDKs that have no apiVersion option.
function prepare(client, pinVersion) {
  const pipeline = client.pipeline;
  pipeline.removePolicy({ name: "bearerTokenAuthenticationPolicy" });
  pipeline.addPolicy({
    name: "stubBearer",
    async sendRequest(req, next) {
      const t = await credential.getToken();
      req.headers.set("Authorization", `Bearer ${t.token}`);
      return next(req);
    },
  });
  if (pinVersion) {
    pipeline.addPolicy({
      name: "pinApiVersion",
      async sendRequest(req, next) {
        const u = new URL(req.url);
        if (u.searchParams.has("api-version") && !u.pathname.includes("/operation")) {
          u.searchParams.set("api-version", pinVersion);
          req.url = u.toString();
        }
        return next(req);
      },
    });
  }
  return client;
}

const common = { endpoint: base, allowInsecureConnection: true };
const poll = { updateIntervalInMs: 50 };
let failures = 0;
let steps = 0;

async function step(name, fn) {
  steps++;
  try {
    await fn();
    console.log(`ok   ${name}`);
  } catch (e) {
    failures++;
    console.log(`FAIL ${name}: ${e && e.code ? e.code + ": " : ""}${e && e.statusCode ? `HTTP ${e.statusCode} ` : ""}${e && e.message}${e && e.request ? ` (${e.request.method} ${e.request.url})` : ""}`);
  }
}

function expect(cond, what) {
  if (!cond) throw new Error(`expectation failed: ${what}`);
}

async function expectError(code, fn) {
  try {
    await fn();
  } catch (e) {
    if (e.code === code) return;
    throw new Error(`expected ${code}, got ${e.code}: ${e.message}`);
  }
  throw new Error(`expected ${code}, got success`);
}

async function list(iter) {
  const out = [];
  for await (const x of iter) out.push(x);
  return out;
}

async function main() {
  const resources = prepare(new ResourceManagementClient(credential, sub, { ...common, apiVersion: "2024-03-01" }));
  const kv = prepare(new KeyVaultManagementClient(credential, sub, { ...common, apiVersion: "2025-05-01" }));
  const storage = prepare(new StorageManagementClient(credential, sub, { ...common, apiVersion: "2025-06-01" }));
  const acr = prepare(new ContainerRegistryManagementClient(credential, sub, { ...common, apiVersion: "2025-04-01" }));
  const ml = prepare(new AzureMachineLearningWorkspaces(credential, sub, { ...common, apiVersion: "2025-09-01" }));
  // This SDK version predates the forceToPurge option of Workspaces_Delete:
  // purge() makes its next workspace DELETE carry it, as newer SDKs send it.
  let purgeNext = false;
  ml.pipeline.addPolicy({
      name : "forceToPurge",
      async sendRequest(req, next) {
          if (purgeNext && req.method === "DELETE" &&
              /\/workspaces\/[^/]+$/i.test(new URL(req.url).pathname)) {
              const u = new URL(req.url);
              u.searchParams.set("forceToPurge", "true");
              req.url = u.toString();
              purgeNext = false;
          }
          return next(req);
      },
  });
  const purge = (name) => {
      purgeNext = true;
      return ml.workspaces.beginDeleteAndWait(rg, name, poll);
  };
  const net = prepare(new NetworkManagementClient(credential, sub, common), "2025-03-01");
  const auth = prepare(new AuthorizationManagementClient(credential, sub, common));
  const policy = prepare(new PolicyClient(credential, sub, { ...common, apiVersion: "2025-03-01" }));
  const locks = prepare(new ManagementLockClient(credential, sub, { ...common, apiVersion: "2020-05-01" }));

  await step("resource group create/get/list", async () => {
    const r = await resources.resourceGroups.createOrUpdate(rg, { location: loc });
    expect(r.id === rgId, "rg id");
    const g = await resources.resourceGroups.get(rg);
    expect(g.properties.provisioningState === "Succeeded", "rg state");
    const all = await list(resources.resourceGroups.list());
    expect(all.some((x) => x.name === rg), "rg listed");
  });

  const kvName = "kvconf1";
  let keyUri;
  await step("key vault create (LRO) / get / update / list", async () => {
    const v = await kv.vaults.beginCreateOrUpdateAndWait(rg, kvName, {
      location: loc,
      properties: { tenantId: "72f988bf-86f1-41af-91ab-2d7cd011db47", sku: { family: "A", name: "standard" }, enablePurgeProtection: true, networkAcls: { defaultAction: "Deny", bypass: "AzureServices", ipRules: [{ value: "124.56.78.91" }] } },
    }, poll);
    expect(v.properties.provisioningState === "Succeeded", "vault succeeded");
    // each vault's data plane has an origin of its own on armlocal's host
    expect(new URL(v.properties.vaultUri).hostname === new URL(base).hostname, "vaultUri served locally");
    expect(new URL(v.properties.vaultUri).pathname === "/", "vaultUri is a vault's base");
    expect(v.properties.networkAcls.ipRules[0].value === "124.56.78.91/32", "ipRule normalised");
    const u = await kv.vaults.update(rg, kvName, { properties: { publicNetworkAccess: "Disabled" } });
    expect(u.properties.publicNetworkAccess === "Disabled", "vault patched");
    const g = await kv.vaults.get(rg, kvName);
    expect(g.properties.enableSoftDelete === true, "soft delete default");
    const all = await list(kv.vaults.listByResourceGroup(rg));
    expect(all.length === 1, "vault listed");
  });
  await step("key vault refuses turning purge protection off", async () => {
    await expectError("BadRequest", () => kv.vaults.update(rg, kvName, { properties: { enablePurgeProtection: false } }));
  });
  await step("key create-if-not-exist / get / list / versions", async () => {
    const k = await kv.keys.createIfNotExist(rg, kvName, "cmk", { properties: { kty: "RSA", keySize: 2048 } });
    keyUri = k.keyUriWithVersion; // the modular SDK flattens properties
    expect(/\/keys\/cmk\/[0-9a-f]{32}$/.test(keyUri), "keyUriWithVersion");
    const again = await kv.keys.createIfNotExist(rg, kvName, "cmk", { properties: { kty: "RSA", keySize: 4096 } });
    expect(again.keyUriWithVersion === keyUri, "second PUT creates no version");
    const g = await kv.keys.get(rg, kvName, "cmk");
    expect(g.keyUri.endsWith("/keys/cmk"), "keyUri");
    const ks = await list(kv.keys.list(rg, kvName));
    expect(ks.length === 1, "keys listed");
  });

  const saName = "saconf1";
  await step("storage account create (LRO) / get / update / list", async () => {
    const s = await storage.storageAccounts.beginCreateAndWait(rg, saName, { location: loc, kind: "StorageV2", sku: { name: "Standard_LRS" }, isHnsEnabled: false, allowBlobPublicAccess: false }, poll);
    expect(s.provisioningState === "Succeeded", "storage succeeded");
    const u = await storage.storageAccounts.update(rg, saName, { minimumTlsVersion: "TLS1_2" });
    expect(u.minimumTlsVersion === "TLS1_2", "storage patched");
    const g = await storage.storageAccounts.getProperties(rg, saName);
    expect(g.primaryEndpoints.blob.includes(saName), "endpoints");
    const all = await list(storage.storageAccounts.listByResourceGroup(rg));
    expect(all.length === 1, "storage listed");
  });

  const acrName = "acrconf1";
  await step("container registry create/update (LRO) / get / list", async () => {
    const r = await acr.registries.beginCreateAndWait(rg, acrName, { location: loc, sku: { name: "Premium" }, adminUserEnabled: false }, poll);
    expect(r.loginServer === "acrconf1.azurecr.io", "loginServer");
    const u = await acr.registries.beginUpdateAndWait(rg, acrName, { publicNetworkAccess: "Disabled" }, poll);
    expect(u.publicNetworkAccess === "Disabled", "acr patched");
    const all = await list(acr.registries.listByResourceGroup(rg));
    expect(all.length === 1, "acr listed");
  });

  const wsName = "wsconf1";
  const wsId = `${rgId}/providers/Microsoft.MachineLearningServices/workspaces/${wsName}`;
  await step("workspace create (LRO, 202+Location) / get / update / list", async () => {
    const w = await ml.workspaces.beginCreateOrUpdateAndWait(rg, wsName, {
      location: loc,
      identity: { type: "SystemAssigned" },
      keyVault: `${rgId}/providers/Microsoft.KeyVault/vaults/${kvName}`,
      storageAccount: `${rgId}/providers/Microsoft.Storage/storageAccounts/${saName}`,
      hbiWorkspace: true,
      publicNetworkAccess: "Enabled",
    }, poll);
    expect(w.provisioningState === "Succeeded", "ws succeeded");
    expect(/^[0-9a-f-]{36}$/.test(w.identity.principalId), "principalId");
    const u = await ml.workspaces.beginUpdateAndWait(rg, wsName, { publicNetworkAccess: "Disabled" }, poll);
    expect(u.publicNetworkAccess === "Disabled", "ws patched");
    const all = await list(ml.workspaces.listByResourceGroup(rg));
    expect(all.length === 1, "ws listed");
  });
  await step("workspace refuses changing hbiWorkspace", async () => {
    await expectError("PropertyChangeNotAllowed", () => ml.workspaces.beginCreateOrUpdateAndWait(rg, wsName, { location: loc, hbiWorkspace: false, keyVault: `${rgId}/providers/Microsoft.KeyVault/vaults/${kvName}`, storageAccount: `${rgId}/providers/Microsoft.Storage/storageAccounts/${saName}` }, poll));
  });
  await step("compute create/update/delete (LRO, Azure-AsyncOperation)", async () => {
    const c = await ml.computeOperations.beginCreateOrUpdateAndWait(rg, wsName, "cpu", {
      location: loc,
      properties: { computeType: "AmlCompute", disableLocalAuth: true, properties: { vmSize: "STANDARD_DS3_V2", enableNodePublicIp: false, scaleSettings: { maxNodeCount: 2, minNodeCount: 0 } } },
    }, poll);
    expect(c.properties.provisioningState === "Succeeded", "compute succeeded");
    const g = await ml.computeOperations.get(rg, wsName, "cpu");
    expect(g.properties.disableLocalAuth === true, "disableLocalAuth");
    const all = await list(ml.computeOperations.list(rg, wsName));
    expect(all.length === 1, "compute listed");
    await ml.computeOperations.beginDeleteAndWait(rg, wsName, "cpu", "Delete", poll);
    await expectError("ResourceNotFound", () => ml.computeOperations.get(rg, wsName, "cpu"));
  });
  await step("online endpoint create/update/delete (LRO)", async () => {
    const e = await ml.onlineEndpoints.beginCreateOrUpdateAndWait(rg, wsName, "ep1", { location: loc, properties: { authMode: "AADToken", publicNetworkAccess: "Disabled" } }, poll);
    expect(/^https:\/\/ep1\.westeurope\.inference\.ml\.azure\.com\/score$/.test(e.properties.scoringUri), "scoringUri");
    const u = await ml.onlineEndpoints.beginUpdateAndWait(rg, wsName, "ep1", { tags: { a: "b" } }, poll);
    expect(u.tags.a === "b", "endpoint patched");
    const all = await list(ml.onlineEndpoints.list(rg, wsName));
    expect(all.length === 1, "endpoint listed");
    await ml.onlineEndpoints.beginDeleteAndWait(rg, wsName, "ep1", poll);
  });

  await step("virtual network + subnet (LRO)", async () => {
    await net.virtualNetworks.beginCreateOrUpdateAndWait(rg, "vnet1", { location: loc, addressSpace: { addressPrefixes: ["10.0.0.0/16"] }, subnets: [{ name: "pe", addressPrefix: "10.0.1.0/24" }] }, poll);
    const s = await net.subnets.get(rg, "vnet1", "pe");
    expect(s.addressPrefix === "10.0.1.0/24", "subnet materialised");
  });
  const peId = `${rgId}/providers/Microsoft.Network/privateEndpoints/pe-ws`;
  await step("private endpoint create (LRO) approves a workspace connection", async () => {
    const pe = await net.privateEndpoints.beginCreateOrUpdateAndWait(rg, "pe-ws", {
      location: loc,
      subnet: { id: `${rgId}/providers/Microsoft.Network/virtualNetworks/vnet1/subnets/pe` },
      privateLinkServiceConnections: [{ name: "ws", privateLinkServiceId: wsId, groupIds: ["amlworkspace"] }],
    }, poll);
    expect(pe.provisioningState === "Succeeded", "pe succeeded");
    expect(pe.privateLinkServiceConnections[0].privateLinkServiceConnectionState.status === "Approved", "pe approved");
    const w = await ml.workspaces.get(rg, wsName);
    expect(w.privateEndpointConnections.length === 1, "ws has the connection");
    expect(w.privateEndpointConnections[0].privateLinkServiceConnectionState.status === "Approved", "connection approved");
    const pecs = await list(ml.privateEndpointConnections.list(rg, wsName));
    expect(pecs.length === 1 && pecs[0].privateEndpoint.id === peId, "pec listed");
    const all = await list(net.privateEndpoints.list(rg));
    expect(all.length === 1, "pe listed");
  });

  let raName = "5c1b7bd5-9c0b-4b1e-9e8a-0b8b6d0e4f11";
  const reader = `/subscriptions/${sub}/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7`;
  await step("role assignment create/get/list, duplicate refused", async () => {
    const ra = await auth.roleAssignments.create(rgId, raName, { roleDefinitionId: reader, principalId: "11111111-2222-3333-4444-555555555555", principalType: "ServicePrincipal" });
    expect(ra.scope === rgId, "scope");
    const g = await auth.roleAssignments.get(rgId, raName);
    expect(g.principalId === "11111111-2222-3333-4444-555555555555", "get");
    // the workspace's identity holds the grants Azure gives it in this group too
    const all = await list(auth.roleAssignments.listForScope(rgId));
    expect(all.filter((x) => x.principalId === "11111111-2222-3333-4444-555555555555").length === 1, "listed");
    expect(all.some((x) => x.principalType === "ServicePrincipal" && x.principalId !== "11111111-2222-3333-4444-555555555555"), "workspace identity grants listed");
    await expectError("RoleAssignmentExists", () => auth.roleAssignments.create(rgId, "9d6f1a2e-1111-4c4c-8d8d-222233334444", { roleDefinitionId: reader, principalId: "11111111-2222-3333-4444-555555555555", principalType: "ServicePrincipal" }));
  });
  await step("role definition create/get/delete", async () => {
    const rd = await auth.roleDefinitions.createOrUpdate(rgId, "7b2c5c77-0000-4c4c-8d8d-aaaabbbbcccc", { roleName: "conf", permissions: [{ actions: ["*/read"] }], assignableScopes: [rgId] });
    expect(rd.roleName === "conf", "roleName");
    await auth.roleDefinitions.get(rgId, "7b2c5c77-0000-4c4c-8d8d-aaaabbbbcccc");
    await auth.roleDefinitions.delete(rgId, "7b2c5c77-0000-4c4c-8d8d-aaaabbbbcccc");
  });
  await step("policy assignment create/get/update/list/delete", async () => {
    const pa = await policy.policyAssignments.create(rgId, "pa1", { policyDefinitionId: "/providers/Microsoft.Authorization/policyDefinitions/438c38d2-3772-465a-a9cc-7a6666a275ce", enforcementMode: "DoNotEnforce" });
    expect(pa.scope === rgId, "scope");
    const u = await policy.policyAssignments.update(rgId, "pa1", { location: loc });
    expect(u.location === loc, "patched");
    const all = await list(policy.policyAssignments.listForResourceGroup(rg));
    expect(all.length === 1, "listed");
    await policy.policyAssignments.delete(rgId, "pa1");
  });
  await step("policy definition (built-in) get", async () => {
    const d = await policy.policyDefinitions.getBuiltIn("438c38d2-3772-465a-a9cc-7a6666a275ce");
    expect(d.policyType === "BuiltIn", "built-in definition");
  });
  await step("lock create/get/list; locked delete refused; lock delete", async () => {
    const l = await locks.managementLocks.createOrUpdateAtResourceGroupLevel(rg, "nodelete", { level: "CanNotDelete", notes: "conformance" });
    expect(l.level === "CanNotDelete", "level");
    await locks.managementLocks.getAtResourceGroupLevel(rg, "nodelete");
    const all = await list(locks.managementLocks.listAtResourceGroupLevel(rg));
    expect(all.length === 1, "listed");
    await expectError("ScopeLocked", () => acr.registries.beginDeleteAndWait(rg, acrName, poll));
    await locks.managementLocks.deleteAtResourceGroupLevel(rg, "nodelete");
  });

  // issue 17: what armlocal refuses and serves as ARM does, seen through the SDKs
  await step("names, required properties and globally unique names refused", async () => {
    await expectError("AccountNameInvalid", () => storage.storageAccounts.beginCreateAndWait(rg, "Bad_Name", { location: loc, kind: "StorageV2", sku: { name: "Standard_LRS" } }, poll));
    await expectError("VaultNameNotValid", () => kv.vaults.beginCreateOrUpdateAndWait(rg, "kv_under", { location: loc, properties: { tenantId: "72f988bf-86f1-41af-91ab-2d7cd011db47", sku: { family: "A", name: "standard" } } }, poll));
    await expectError("InvalidResourceName", () => acr.registries.beginCreateAndWait(rg, "a-b", { location: loc, sku: { name: "Basic" } }, poll));
    await expectError("InvalidResourceName", () => ml.workspaces.beginCreateOrUpdateAndWait(rg, "-ws", { location: loc }, poll));
    // storage names are global: another resource group cannot take one in use
    await resources.resourceGroups.createOrUpdate("rg-other", { location: loc });
    await expectError("StorageAccountAlreadyTaken", () => storage.storageAccounts.beginCreateAndWait("rg-other", saName, { location: loc, kind: "StorageV2", sku: { name: "Standard_LRS" } }, poll));
  });
  await step("HEAD by id, Resources_List, key versions through ARM", async () => {
    const id = `${rgId}/providers/Microsoft.KeyVault/vaults/${kvName}`;
    // a client without a pinned api-version: checkExistenceById names its own
    const byId = prepare(new ResourceManagementClient(credential, sub, common));
    const there = await byId.resources.checkExistenceById(id, "2025-05-01");
    expect(there.body === true, "HEAD finds the vault");
    const gone = await byId.resources.checkExistenceById(`${rgId}/providers/Microsoft.KeyVault/vaults/kvnone1`, "2025-05-01");
    expect(gone.body === false, "HEAD misses an absent vault");
    const all = await list(resources.resources.list());
    expect(all.some((r) => r.name === kvName) && all.some((r) => r.name === saName), "Resources_List");
    const versions = await list(kv.keys.listVersions(rg, kvName, "cmk"));
    expect(versions.length === 1 && versions[0].keyUriWithVersion === keyUri, "Keys_ListVersions");
    const v = await kv.keys.getVersion(rg, kvName, "cmk", keyUri.split("/").pop());
    expect(v.keyUriWithVersion === keyUri, "Keys_GetVersion");
  });
  await step("custom policy definition; assignments inherited by a resource group", async () => {
    const d = await policy.policyDefinitions.createOrUpdate("conf-nopub", { displayName: "No public ML", policyRule: { if: { field: "type", equals: "Microsoft.MachineLearningServices/workspaces" }, then: { effect: "audit" } } });
    expect(d.policyType === "Custom", "custom definition");
    await policy.policyAssignments.create(`/subscriptions/${sub}`, "sub-pa", { policyDefinitionId: d.id });
    const inherited = await list(policy.policyAssignments.listForResourceGroup(rg));
    expect(inherited.some((a) => a.name === "sub-pa"), "a resource group lists its subscription's assignment");
    await policy.policyAssignments.delete(`/subscriptions/${sub}`, "sub-pa");
    const set = await policy.policySetDefinitions.createOrUpdate("conf-set", { displayName: "ML baseline", parameters: { e: { type: "String", defaultValue: "Audit" } }, policyDefinitions: [{ policyDefinitionId: d.id, policyDefinitionReferenceId: "nopub" }] });
    expect(set.policyType === "Custom" && set.policyDefinitions[0].policyDefinitionReferenceId === "nopub", "custom initiative");
    const got = await policy.policySetDefinitions.get("conf-set");
    expect(got.policyDefinitions.length === 1, "PolicySetDefinitions_Get");
    await policy.policyAssignments.create(rgId, "set-pa", { policyDefinitionId: set.id });
    await policy.policyAssignments.delete(rgId, "set-pa");
    await policy.policySetDefinitions.delete("conf-set");
    await policy.policyDefinitions.delete("conf-nopub");
  });
  await step("private DNS zone, virtual network link, endpoint DNS zone group (LRO)", async () => {
    const dns = prepare(new PrivateDnsManagementClient(credential, sub, common), "2024-06-01");
    const zone = "privatelink.api.azureml.ms";
    const z = await dns.privateZones.beginCreateOrUpdateAndWait(rg, zone, { location: "global" }, poll);
    expect(z.provisioningState === "Succeeded", "zone");
    const l = await dns.virtualNetworkLinks.beginCreateOrUpdateAndWait(rg, zone, "hub", { location: "global", virtualNetwork: { id: `${rgId}/providers/Microsoft.Network/virtualNetworks/vnet1` }, registrationEnabled: false }, poll);
    expect(l.virtualNetworkLinkState === "Completed", "link");
    const g = await net.privateDnsZoneGroups.beginCreateOrUpdateAndWait(rg, "pe-ws", "default", { privateDnsZoneConfigs: [{ name: "ml", privateDnsZoneId: z.id }] }, poll);
    expect(g.privateDnsZoneConfigs[0].recordSets.length === 1, "zone group record");
    const recs = await list(dns.recordSets.list(rg, zone));
    expect(recs.some((r) => r.type.endsWith("/A") && r.aRecords.length === 1), "A record in the zone");
  });

  await step("resource graph query with paging", async () => {
    const signer = { signRequest: async (r) => { r.headers.set("Authorization", "Bearer x"); return r; } };
    const rgc = new ResourceGraphClient(signer, { baseUri: base });
    const first = await rgc.resources({ subscriptions: [sub], query: "resources | where type =~ 'microsoft.keyvault/vaults' or type =~ 'Microsoft.Storage/storageAccounts' | project id, name, type | order by name asc", options: { top: 1, resultFormat: "objectArray" } });
    expect(first.totalRecords === 2 && first.count === 1 && first.skipToken, "first page");
    const second = await rgc.resources({ subscriptions: [sub], query: "resources | where type =~ 'microsoft.keyvault/vaults' or type =~ 'Microsoft.Storage/storageAccounts' | project id, name, type | order by name asc", options: { top: 1, skipToken: first.skipToken, resultFormat: "objectArray" } });
    expect(second.count === 1 && second.data[0].name === saName, "second page");
  });

  // issue 19: the kinds added for the guidance's DNS, identity, CMK and deployment resources
  const msi = prepare(new ManagedServiceIdentityClient(credential, sub, common));
  // Resources_*ById with each type's own api-version (no client-wide apiVersion, which would
  // replace it): for what the typed SDKs here do not model
  const generic = prepare(new ResourceManagementClient(credential, sub, common));
  const uaiName = "id-conf";
  const uaiId = `${rgId}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${uaiName}`;
  let uai;
  await step("user-assigned identity create/get/update/list (arm-msi)", async () => {
    uai = await msi.userAssignedIdentities.createOrUpdate(rg, uaiName, { location: loc });
    expect(uai.id === uaiId, "identity id");
    expect(/^[0-9a-f-]{36}$/.test(uai.principalId) && /^[0-9a-f-]{36}$/.test(uai.clientId), "principal and client ids");
    expect(/^[0-9a-f-]{36}$/.test(uai.tenantId), "tenant id");
    const u = await msi.userAssignedIdentities.update(rg, uaiName, { tags: { team: "ml" } });
    expect(u.tags.team === "ml" && u.principalId === uai.principalId, "identity patched, same principal");
    const g = await msi.userAssignedIdentities.get(rg, uaiName);
    expect(g.clientId === uai.clientId, "identity get");
    const all = await list(msi.userAssignedIdentities.listByResourceGroup(rg));
    expect(all.length === 1 && all[0].name === uaiName, "identity listed");
    await expectError("ResourceNotFound", () => msi.userAssignedIdentities.get(rg, "id-none"));
  });
  await step("Log Analytics workspace create (LRO) / get / update / list / delete (arm-operationalinsights)", async () => {
    const law = prepare(new OperationalInsightsManagementClient(credential, sub, common), "2023-09-01");
    const w = await law.workspaces.beginCreateOrUpdateAndWait(rg, "log-conf", {
      location: loc, retentionInDays: 90, sku: { name: "PerGB2018" },
      publicNetworkAccessForIngestion: "Disabled", publicNetworkAccessForQuery: "Disabled",
      features: { disableLocalAuth: true },
    }, poll);
    expect(w.provisioningState === "Succeeded", "workspace succeeded");
    expect(/^[0-9a-f-]{36}$/.test(w.customerId), "customerId");
    expect(w.publicNetworkAccessForQuery === "Disabled" && w.features.disableLocalAuth === true, "access settings kept");
    const u = await law.workspaces.update(rg, "log-conf", { retentionInDays: 120 });
    expect(u.retentionInDays === 120, "retention patched");
    const g = await law.workspaces.get(rg, "log-conf");
    expect(g.retentionInDays === 120 && g.customerId === w.customerId, "workspace get");
    const all = await list(law.workspaces.listByResourceGroup(rg));
    expect(all.length === 1, "workspace listed");
    await law.workspaces.beginDeleteAndWait(rg, "log-conf", { force: true, ...poll });
    await expectError("ResourceNotFound", () => law.workspaces.get(rg, "log-conf"));
  });
  const vaultUri = (await kv.vaults.get(rg, kvName)).properties.vaultUri;
  await step("storage account with a customer-managed key through a user-assigned identity", async () => {
    const body = {
      location: loc, kind: "StorageV2", sku: { name: "Standard_LRS" }, allowBlobPublicAccess: false,
      identity: { type: "UserAssigned", userAssignedIdentities: { [uaiId]: {} } },
      encryption: {
        keySource: "Microsoft.Keyvault",
        keyVaultProperties: { keyName: "cmk", keyVaultUri: vaultUri },
        encryptionIdentity: { encryptionUserAssignedIdentity: uaiId },
        services: { blob: { enabled: true, keyType: "Account" } },
      },
    };
    const s = await storage.storageAccounts.beginCreateAndWait(rg, "saconf2", body, poll);
    expect(s.encryption.keySource === "Microsoft.Keyvault", "keySource");
    expect(s.encryption.keyVaultProperties.keyName === "cmk", "key name");
    expect(s.encryption.encryptionIdentity.encryptionUserAssignedIdentity === uaiId, "encryption identity");
    expect(Object.keys(s.identity.userAssignedIdentities).some((k) => k.toLowerCase() === uaiId.toLowerCase()), "identity attached");
    // an encryption identity the account does not hold is refused, as ARM does
    const other = { ...body, identity: { type: "SystemAssigned" } };
    await expectError("InvalidIdentity", () => storage.storageAccounts.beginCreateAndWait(rg, "saconf3", other, poll));
    await storage.storageAccounts.delete(rg, "saconf2");
  });
  await step("container registry with a customer-managed key through a user-assigned identity", async () => {
    const body = {
      location: loc, sku: { name: "Premium" }, adminUserEnabled: false,
      identity: { type: "UserAssigned", userAssignedIdentities: { [uaiId]: {} } },
      encryption: { status: "enabled", keyVaultProperties: { keyIdentifier: `${vaultUri.replace(/\/$/, "")}/keys/cmk`, identity: uai.clientId } },
    };
    const r = await acr.registries.beginCreateAndWait(rg, "acrconf2", body, poll);
    expect(r.encryption.status === "enabled", "encryption enabled");
    expect(r.encryption.keyVaultProperties.identity === uai.clientId, "key identity");
    expect(r.encryption.keyVaultProperties.keyIdentifier.endsWith("/keys/cmk"), "key identifier");
    await expectError("EncryptionNotSupportedForSku", () => acr.registries.beginCreateAndWait(rg, "acrconf3", { ...body, sku: { name: "Standard" } }, poll));
    await acr.registries.beginDeleteAndWait(rg, "acrconf2", poll);
  });
  await step("workspace managed network outbound rules (generic resources API)", async () => {
    const mn = {
      isolationMode: "AllowOnlyApprovedOutbound",
      outboundRules: {
        pypi: { type: "FQDN", category: "UserDefined", destination: "pypi.org" },
        kvpe: { type: "PrivateEndpoint", category: "UserDefined", destination: { serviceResourceId: `${rgId}/providers/Microsoft.KeyVault/vaults/${kvName}`, subresourceTarget: "vault" } },
        mcr: { type: "ServiceTag", category: "UserDefined", destination: { serviceTag: "MicrosoftContainerRegistry", protocol: "TCP", portRanges: "443" } },
      },
    };
    const w = await generic.resources.beginUpdateByIdAndWait(wsId, "2025-09-01", { properties: { managedNetwork: mn } }, poll);
    const rules = w.properties.managedNetwork.outboundRules;
    expect(rules.pypi && rules.pypi.destination === "pypi.org" && rules.kvpe && rules.mcr, "rules kept");
    const g = await generic.resources.getById(wsId, "2025-09-01");
    expect(g.properties.managedNetwork.isolationMode === "AllowOnlyApprovedOutbound", "isolation mode");
    const bad = { isolationMode: "AllowInternetOutbound", outboundRules: { pypi: mn.outboundRules.pypi } };
    await expectError("ValidationError", () => generic.resources.beginUpdateByIdAndWait(wsId, "2025-09-01", { properties: { managedNetwork: bad } }, poll));
  });
  await step("AKS computes: created with TLS, attached cluster with a disk encryption set", async () => {
    const c = await ml.computeOperations.beginCreateOrUpdateAndWait(rg, wsName, "aks-new", {
      location: loc,
      properties: { computeType: "AKS", disableLocalAuth: true, properties: { agentCount: 3, agentVmSize: "Standard_D3_v2", clusterPurpose: "FastProd", loadBalancerType: "InternalLoadBalancer", sslConfiguration: { status: "Enabled", leafDomainLabel: "conf", overwriteExistingDomain: true } } },
    }, poll);
    expect(c.properties.computeType === "AKS" && c.properties.provisioningState === "Succeeded", "created AKS compute");
    expect(c.properties.properties.sslConfiguration.status === "Enabled", "TLS on");
    await expectError("BadRequest", () => ml.computeOperations.beginCreateOrUpdateAndWait(rg, wsName, "aks-bad", { location: loc, properties: { computeType: "AKS", properties: { sslConfiguration: { status: "Enabled" } } } }, poll));
    const aksId = `${rgId}/providers/Microsoft.ContainerService/managedClusters/aks-conf`;
    const desId = `${rgId}/providers/Microsoft.Compute/diskEncryptionSets/des-conf`;
    await generic.resources.beginCreateOrUpdateByIdAndWait(aksId, "2025-07-01", { location: loc, identity: { type: "SystemAssigned" }, properties: { dnsPrefix: "aksconf", diskEncryptionSetID: desId, agentPoolProfiles: [{ name: "system", mode: "System", count: 3, vmSize: "Standard_D4s_v3" }] } }, poll);
    await expectError("PropertyChangeNotAllowed", () => generic.resources.beginCreateOrUpdateByIdAndWait(aksId, "2025-07-01", { location: loc, identity: { type: "SystemAssigned" }, properties: { dnsPrefix: "aksconf", diskEncryptionSetID: `${desId}2`, agentPoolProfiles: [{ name: "system", mode: "System", count: 3, vmSize: "Standard_D4s_v3" }] } }, poll));
    await expectError("LinkedInvalidPropertyId", () => generic.resources.beginCreateOrUpdateByIdAndWait(`${aksId}2`, "2025-07-01", { location: loc, identity: { type: "SystemAssigned" }, properties: { dnsPrefix: "aksconf2", diskEncryptionSetID: "des-conf", agentPoolProfiles: [{ name: "system", mode: "System", count: 1, vmSize: "Standard_D4s_v3" }] } }, poll));
    const a = await ml.computeOperations.beginCreateOrUpdateAndWait(rg, wsName, "aks-att", { location: loc, properties: { computeType: "AKS", resourceId: aksId } }, poll);
    expect(a.properties.resourceId === aksId, "attached cluster");
    const cl = await generic.resources.getById(aksId, "2025-07-01");
    expect(cl.properties.diskEncryptionSetID === desId, "the cluster's disk encryption set");
    await expectError("BadRequest", () => ml.computeOperations.beginCreateOrUpdateAndWait(rg, wsName, "aks-none", { location: loc, properties: { computeType: "AKS", resourceId: `${aksId}-none` } }, poll));
    const all = await list(ml.computeOperations.list(rg, wsName));
    expect(all.filter((x) => x.properties.computeType === "AKS").length === 2, "AKS computes listed");
    await ml.computeOperations.beginDeleteAndWait(rg, wsName, "aks-att", "Detach", poll);
    await ml.computeOperations.beginDeleteAndWait(rg, wsName, "aks-new", "Delete", poll);
  });
  // ACI web services (workspaces/services, 2020-05-15-preview) are not driven here: no SDK the
  // npm registry serves has their operations (arm-machinelearning 1.0.0 and 2.1.1 have none;
  // arm-machinelearningservices is served only as 5.0.1, 2021-07-01, without them;
  // azure-arm-machinelearningservices 1.0.0-preview is 2018-03-01-preview, workspaces and
  // computes only; see docs/local-cloud.md) and Resources_CreateOrUpdateById
  // serialises only GenericResource's fields, dropping the service's flat body (computeType,
  // sslEnabled, encryptionProperties); tests/sh/armlocal_*.sh and amlsec's e2e tests cover them.
  await step("user-assigned identity delete", async () => {
    await msi.userAssignedIdentities.delete(rg, uaiName);
    await expectError("ResourceNotFound", () => msi.userAssignedIdentities.get(rg, uaiName));
  });

  await step(
      "workspace soft delete: a deleted workspace holds its name until forceToPurge purges it",
      async () => {
          const soft = "wsconf-soft";
          const body = {
              location : loc,
              identity : {type : "SystemAssigned"},
              keyVault : `${rgId}/providers/Microsoft.KeyVault/vaults/${kvName}`,
              storageAccount : `${rgId}/providers/Microsoft.Storage/storageAccounts/${saName}`,
          };
          await ml.workspaces.beginCreateOrUpdateAndWait(rg, soft, body, poll);
          await ml.workspaces.beginDeleteAndWait(rg, soft, poll);
          await expectError("ResourceNotFound", () => ml.workspaces.get(rg, soft));
          await expectError("Conflict",
                            () => ml.workspaces.beginCreateOrUpdateAndWait(rg, soft, body, poll));
          await purge(soft); // the soft-deleted name
          const w = await ml.workspaces.beginCreateOrUpdateAndWait(rg, soft, body, poll);
          expect(w.provisioningState === "Succeeded", "the purged name is free again");
          await purge(soft); // a live workspace: deleted for good, its name free at once
          await ml.workspaces.beginCreateOrUpdateAndWait(rg, soft, body, poll);
          await purge(soft);
      });
  await step("deletes through the pollers", async () => {
    await net.privateEndpoints.beginDeleteAndWait(rg, "pe-ws", poll);
    const w = await ml.workspaces.get(rg, wsName);
    expect(w.privateEndpointConnections.length === 0, "connection removed with the endpoint");
    await auth.roleAssignments.delete(rgId, raName);
    await purge(wsName);
    await acr.registries.beginDeleteAndWait(rg, acrName, poll);
    await storage.storageAccounts.delete(rg, saName);
    await kv.vaults.delete(rg, kvName);
    const deleted = await list(kv.vaults.listDeleted());
    expect(deleted.some((d) => d.name === kvName), "vault soft-deleted");
    await resources.resourceGroups.beginDeleteAndWait(rg, poll);
    await expectError("ResourceGroupNotFound", () => resources.resourceGroups.get(rg));
  });

  console.log(`${steps - failures}/${steps} steps passed`);
  process.exit(failures ? 1 : 0);
}

main().catch((e) => {
  console.error("conformance: crashed:", e);
  process.exit(1);
});
