// Drives armlocal over TLS with Microsoft's own credential and Key Vault
// SDKs, unmodified: @azure/identity's ClientSecretCredential signs in at
// armlocal's Entra endpoints (authorityHost), the management SDK uses it
// through its own https-only bearer policy, and @azure/keyvault-keys talks
// to the vault's data plane with its challenge-based authentication:
// create (RSA and EC), get, list versions, rotate, delete, recover, purge.
//
// Usage: NODE_EXTRA_CA_CERTS=cert.pem node keyvault.js BASE_URL TENANT CLIENT_ID SECRET
"use strict";

const { ClientSecretCredential } = require("@azure/identity");
const { KeyClient } = require("@azure/keyvault-keys");
const { KeyVaultManagementClient } = require("@azure/arm-keyvault");
const { ResourceManagementClient } = require("@azure/arm-resources");

const [base, tenant, clientId, secret] = process.argv.slice(2);
if (!secret) {
  console.error("usage: node keyvault.js BASE_URL TENANT CLIENT_ID SECRET");
  process.exit(2);
}
const sub = "00000000-0000-0000-0000-0000000000c3";
const rg = "rg-kv-sdk";
let failures = 0;

async function step(name, fn) {
  try {
    await fn();
    console.log(`ok   ${name}`);
  } catch (e) {
    failures++;
    console.log(`FAIL ${name}: ${e && e.code ? e.code + ": " : ""}${e && e.message}`);
  }
}

function expect(cond, what) {
  if (!cond) throw new Error(`expectation failed: ${what}`);
}

async function list(iter) {
  const out = [];
  for await (const x of iter) out.push(x);
  return out;
}

async function main() {
  // Instance discovery asks login.microsoftonline.com about the authority;
  // a private cloud turns it off (as Azure Stack users do).
  const credential = new ClientSecretCredential(tenant, clientId, secret, {
    authorityHost: base,
    disableInstanceDiscovery: true,
  });
  let vaultUri;

  await step("ClientSecretCredential signs in at armlocal (openid-configuration, token)", async () => {
    const t = await credential.getToken("https://management.azure.com/.default");
    expect(t && t.token && t.token.split(".").length === 3, "a JWT");
    expect(t.expiresOnTimestamp > Date.now(), "expiry in the future");
  });

  const opts = { endpoint: base };
  const resources = new ResourceManagementClient(credential, sub, { ...opts, apiVersion: "2024-03-01" });
  const kv = new KeyVaultManagementClient(credential, sub, { ...opts, apiVersion: "2025-05-01" });

  await step("management SDKs with the real credential over https", async () => {
    await resources.resourceGroups.createOrUpdate(rg, { location: "westeurope" });
    const v = await kv.vaults.beginCreateOrUpdateAndWait(rg, "kvsdk1", {
      location: "westeurope",
      properties: { tenantId: tenant, sku: { family: "A", name: "standard" }, enableRbacAuthorization: true },
    }, { updateIntervalInMs: 50 });
    vaultUri = v.properties.vaultUri;
    const u = new URL(vaultUri);
    expect(u.protocol === "https:" && u.pathname === "/", `vaultUri has Key Vault's shape: ${vaultUri}`);
    expect(u.port !== new URL(base).port, "the vault has an origin of its own");
  });

  // The challenge names https://vault.azure.net, not this host: the SDK's
  // resource check is for Azure's own domains.
  const keys = new KeyClient(vaultUri, credential, { disableChallengeResourceVerification: true });
  let rsaVersion;

  await step("keyvault-keys: create RSA (401 challenge, then the token)", async () => {
    const k = await keys.createRsaKey("rsa1", { keySize: 3072 });
    expect(k.keyType === "RSA" && k.key.n && k.key.n.length === 384, "RSA 3072 modulus");
    expect(k.id.startsWith(`${vaultUri}keys/rsa1/`), `kid shape: ${k.id}`);
    expect(k.properties.version && k.properties.version.length === 32, "version");
    rsaVersion = k.properties.version;
  });
  await step("keyvault-keys: create EC P-256", async () => {
    const k = await keys.createEcKey("ec1", { curve: "P-256" });
    expect(k.keyType === "EC" && k.key.crv === "P-256", "EC curve");
    expect(k.key.x && k.key.x.length === 32 && k.key.y && k.key.y.length === 32, "P-256 coordinates");
    expect(!k.key.n, "no modulus on an EC key");
  });
  await step("keyvault-keys: get, rotate, list versions", async () => {
    const g = await keys.getKey("rsa1");
    expect(g.properties.version === rsaVersion, "get returns the current version");
    const r = await keys.rotateKey("rsa1");
    expect(r.properties.version !== rsaVersion, "rotate made a version");
    const versions = await list(keys.listPropertiesOfKeyVersions("rsa1"));
    expect(versions.length === 2, `two versions, got ${versions.length}`);
    const all = await list(keys.listPropertiesOfKeys());
    expect(all.map((x) => x.name).sort().join(",") === "ec1,rsa1", "both keys listed");
  });
  await step("keyvault-keys: delete (poller), get deleted, recover", async () => {
    const poller = await keys.beginDeleteKey("rsa1", { intervalInMs: 50 });
    const d = await poller.pollUntilDone();
    expect(d.properties.recoveryId && d.properties.recoveryId.endsWith("/deletedkeys/rsa1"), "recoveryId");
    expect(d.properties.deletedOn instanceof Date, "deletedOn");
    const dk = await keys.getDeletedKey("rsa1");
    expect(dk.name === "rsa1", "deleted key readable");
    const rp = await keys.beginRecoverDeletedKey("rsa1", { intervalInMs: 50 });
    const rec = await rp.pollUntilDone();
    expect(rec.name === "rsa1", "recovered");
    const versions = await list(keys.listPropertiesOfKeyVersions("rsa1"));
    expect(versions.length === 2, "the recovered key keeps its versions");
  });
  await step("keyvault-keys: delete and purge", async () => {
    const poller = await keys.beginDeleteKey("ec1", { intervalInMs: 50 });
    await poller.pollUntilDone();
    await keys.purgeDeletedKey("ec1");
    const gone = await list(keys.listDeletedKeys());
    expect(!gone.some((x) => x.name === "ec1"), "purged key is gone");
  });

  console.log(failures ? `${failures} failed` : "keyvault conformance: ok");
  process.exit(failures ? 1 : 0);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
