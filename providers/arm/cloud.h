/* Where a cloud's services live: the Entra ID login endpoint, ARM, and the
 * token scopes of ARM, the Key Vault data plane and Storage. Public, US
 * Government and China are built in; a custom set (local mode, Azure Stack)
 * is built from explicit endpoints or from a metadata document
 * (ARM_METADATA_HOSTNAME: GET https://<host>/metadata/endpoints). */
#ifndef AMLSEC_PROVIDERS_ARM_CLOUD_H
#define AMLSEC_PROVIDERS_ARM_CLOUD_H

#include <stddef.h>

#include "providers/arm/transport.h"
#include "util/errbuf.h"

struct arm_cloud {
    const char *name;             /* "public", "usgovernment", "china", or the custom name */
    const char *login;            /* https://login.microsoftonline.com (no trailing '/') */
    const char *resource_manager; /* https://management.azure.com (no trailing '/') */
    const char *arm_scope;        /* https://management.azure.com/.default */
    const char *keyvault_scope;   /* https://vault.azure.net/.default */
    const char *storage_scope;    /* https://storage.azure.com/.default */
    const char *keyvault_suffix;  /* vault.azure.net */
    const char *storage_suffix;   /* core.windows.net */
    void *owned;                  /* storage of a custom cloud; NULL for built-ins */
};

/* A built-in cloud by ARM_ENVIRONMENT name: public (also "AzureCloud"),
 * usgovernment ("AzureUSGovernment"), china ("AzureChinaCloud");
 * case-insensitive. NULL when unknown. Static storage. */
const struct arm_cloud *arm_cloud_builtin(const char *name);

/* A custom cloud from explicit endpoints. keyvault_scope and storage_scope
 * may be NULL (the public values are used). Free with arm_cloud_free. */
int arm_cloud_custom(struct arm_cloud **out, const char *name, const char *login,
                     const char *resource_manager, const char *arm_scope,
                     const char *keyvault_scope, const char *storage_scope, struct errbuf *err);

/* A custom cloud from a metadata/endpoints document (2022-09-01: an array
 * of clouds, or a single object). name picks the entry (NULL = the first).
 * Free with arm_cloud_free. */
int arm_cloud_from_metadata(struct arm_cloud **out, const char *json, size_t len, const char *name,
                            struct errbuf *err);

/* Fetches https://<host>/metadata/endpoints?api-version=2022-09-01 through t
 * (host may carry a scheme, e.g. "http://127.0.0.1:8443" for local mode). */
int arm_cloud_fetch(struct arm_cloud **out, struct transport *t, const char *host, const char *name,
                    struct errbuf *err);

/* The cloud the azurerm variables name: ARM_METADATA_HOSTNAME (fetched
 * through t; ARM_ENVIRONMENT then picks the entry by name) or else
 * ARM_ENVIRONMENT (NULL/empty = public). *owned is set when the cloud was
 * built here (free with arm_cloud_free), else NULL. */
int arm_cloud_resolve(const struct arm_cloud **out, struct arm_cloud **owned,
                      const char *environment, const char *metadata_host, struct transport *t,
                      struct errbuf *err);

/* Frees a custom cloud; built-ins are ignored. */
void arm_cloud_free(struct arm_cloud *c);

#endif
