/* The Key Vault data plane for keys (api-version 7.6): what the control
 * plane cannot do. ARM's PUT of a key creates its first version only
 * (Keys_CreateIfNotExist), so a new version, the rotation policy and the
 * current version's attributes are requests to the vault itself, at the
 * key URI ARM reports ({vaultUri}keys/{name}), with a token for the
 * cloud's Key Vault scope (cloud.h):
 *
 *   new version      POST  {keyUri}/create         kty, key_size, crv, key_ops,
 *                                                  attributes, tags
 *   rotation policy  PUT   {keyUri}/rotationpolicy lifetimeActions, attributes
 *   attributes       PATCH {keyUriWithVersion}     attributes, key_ops, tags
 *
 * The vault's token only goes to a Key Vault host of the cloud
 * (*.vault.azure.net for the public cloud) or, for a custom cloud that
 * serves the data plane itself, to the resource manager's origin (any port
 * of its host for a local cloud on loopback, which gives each vault a port). */
#ifndef AMLSEC_PROVIDERS_ARM_KEYVAULT_H
#define AMLSEC_PROVIDERS_ARM_KEYVAULT_H

#include <jansson.h>

#include "providers/arm/arm_client.h"
#include "providers/provider.h"

#define KEYVAULT_API_VERSION "7.6"

/* Brings the key key_id (an ARM id of Microsoft.KeyVault/vaults/keys) to
 * want (the key as ARM shows it: properties.kty, keySize, curveName,
 * keyOps, attributes, rotationPolicy; tags) by sending the data-plane
 * requests parts names (enum provider_data_plane_part bits, providers/
 * provider.h), one after another: a new version carries the attributes,
 * ops and tags too, so no PATCH follows it. api_version is the ARM
 * api-version of keys.
 *
 * On return *out holds the key read back through ARM afterwards, or the
 * request that failed (its rc, err, status and error); the caller frees it
 * with arm_call_release. Returns out->rc. A failure after a new version
 * was created leaves that version in place: re-reading the key shows it. */
int keyvault_key_update(struct arm_client *c, const char *key_id, const char *api_version,
                        const json_t *want, unsigned parts, struct arm_call *out);

/* The data plane's form of a rotation policy from ARM's (properties.
 * rotationPolicy: action types "rotate"/"notify" become "Rotate"/"Notify").
 * New reference, or NULL when arm_policy is not an object. */
json_t *keyvault_policy_from_arm(const json_t *arm_policy);

/* Whether the data plane at url may receive the cloud's Key Vault token:
 * https on a host under the cloud's Key Vault suffix, or, for a custom
 * cloud (local, Azure Stack), the resource manager's own origin; a local
 * cloud on loopback serves each vault on a port of its own, so there any
 * port of the resource manager's host. */
int keyvault_url_trusted(const struct arm_cloud *cloud, const char *url);

#endif
