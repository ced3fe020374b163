/* The catalogue's answer to "what does `key_vault.cmk` evaluate to": the
 * front end's cfg_resolver hook. A reference evaluates to an object holding
 * the instance's attributes plus
 *   id             the ARM id, built from the kind's id template
 *   name           the Azure name (default per kind: label, derived GUID, ...)
 *   location       attribute, else the parent's, else settings.location
 *   resource_type  the ARM type ("Microsoft.KeyVault/vaults")
 *   computed attributes: known when derivable from names (vault_uri,
 *   key uri, login_server), else unknown until apply (versioned key URI,
 *   workspace_id, principal ids).
 * For `existing` lookups, everything not given is unknown (read at plan). */
#ifndef AMLSEC_PROVIDERS_ARM_RESOLVE_H
#define AMLSEC_PROVIDERS_ARM_RESOLVE_H

#include <jansson.h>
#include <stdbool.h>

#include "parser/config.h"
#include "providers/arm/schema.h"

/* The hook to put in config_opts.resolver. */
struct cfg_resolver resolve_resolver(void);

/* The value of one instance from its evaluated attributes (new reference).
 * settings: the evaluated settings block (subscription, location,
 * tenant_id); label: the block label. Never NULL except on ENOMEM. */
json_t *resolve_value(const struct schema_kind *k, const json_t *attrs, const json_t *settings,
                      const char *label, bool existing);

/* The resource group id ("/subscriptions/s/resourceGroups/rg") of an ARM id
 * into out; false when id has none. */
bool resolve_rg_of(const char *id, char *out, size_t outsz);
/* The subscription GUID of an ARM id into out; false when none. */
bool resolve_sub_of(const char *id, char *out, size_t outsz);

#endif
