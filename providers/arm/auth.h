/* Sign-in to Entra ID, configured like the azurerm Terraform provider so
 * existing pipelines work unchanged (docs/authentication.md):
 *
 *   client secret       ARM_CLIENT_ID, ARM_TENANT_ID, ARM_CLIENT_SECRET
 *                       (or ARM_CLIENT_SECRET_FILE_PATH)
 *   client certificate  ARM_CLIENT_CERTIFICATE_PATH (PEM or PFX) or
 *                       ARM_CLIENT_CERTIFICATE (base64 PFX), with
 *                       ARM_CLIENT_CERTIFICATE_PASSWORD; signs a PS256
 *                       assertion (RS256 with AMLSEC_CLIENT_CERTIFICATE_ALG)
 *   workload identity   ARM_USE_OIDC with ARM_OIDC_TOKEN,
 *                       ARM_OIDC_TOKEN_FILE_PATH / AZURE_FEDERATED_TOKEN_FILE,
 *                       ARM_OIDC_REQUEST_URL+TOKEN (GitHub Actions'
 *                       ACTIONS_ID_TOKEN_REQUEST_URL+TOKEN), or Azure
 *                       DevOps: ARM_ADO_PIPELINE_SERVICE_CONNECTION_ID with
 *                       SYSTEM_OIDCREQUESTURI + SYSTEM_ACCESSTOKEN
 *   managed identity    ARM_USE_MSI (ARM_MSI_ENDPOINT, App Service's
 *                       IDENTITY_ENDPOINT/MSI_ENDPOINT + IDENTITY_HEADER/MSI_SECRET)
 *   Azure CLI           ARM_USE_CLI (default true): az account get-access-token
 *
 * ARM_AUXILIARY_TENANT_IDS (up to 3, ';'-separated) adds tokens for those
 * tenants to ARM calls (x-ms-authorization-auxiliary).
 *
 * Tokens are cached per tenant and scope in memory and refreshed before
 * they expire.
 * A sign-in that Entra ID refuses (bad secret, unknown client) fails at
 * once and is not retried; later calls get the same error without asking
 * again. Every secret is registered with redact.h. */
#ifndef AMLSEC_PROVIDERS_ARM_AUTH_H
#define AMLSEC_PROVIDERS_ARM_AUTH_H

#include <stddef.h>

#include "providers/arm/arm_client.h"
#include "providers/arm/arm_clock.h"
#include "providers/arm/cloud.h"
#include "providers/arm/jwt.h"
#include "providers/arm/transport.h"
#include "util/errbuf.h"

enum auth_method {
    AUTH_NONE = 0,
    AUTH_CLIENT_SECRET,
    AUTH_CLIENT_CERTIFICATE,
    AUTH_OIDC,
    AUTH_MSI,
    AUTH_CLI,
};

#define AUTH_MAX_AUX_TENANTS 3
/* The timeout of one token request (each attempt of a sign-in). */
#define AUTH_TOKEN_TIMEOUT_MS 30000

struct auth_config {
    enum auth_method method;
    char *tenant_id, *client_id, *subscription_id;
    char *client_secret;
    char *certificate_path; /* PEM or PFX file */
    char *certificate_data; /* base64 PFX (ARM_CLIENT_CERTIFICATE) */
    char *certificate_password;
    enum jwt_alg certificate_alg;
    char *oidc_token, *oidc_token_file, *oidc_request_url, *oidc_request_token;
    char *ado_service_connection_id; /* set: the request URL is Azure DevOps' */
    char *aux_tenants[AUTH_MAX_AUX_TENANTS];
    size_t n_aux_tenants;
    char *msi_endpoint;  /* NULL = IMDS */
    char *msi_secret;    /* App Service: IDENTITY_HEADER / MSI_SECRET */
    char *az_command;    /* "az" */
    char *environment;   /* ARM_ENVIRONMENT */
    char *metadata_host; /* ARM_METADATA_HOSTNAME */
};

/* Reads the azurerm variables through getenv_fn (NULL = getenv). Picks the
 * method as azurerm does: certificate, secret, OIDC, managed identity, CLI.
 * Errors name the missing or malformed variable. */
typedef const char *(*auth_getenv_fn)(const char *name, void *payload);
int auth_config_from_env(struct auth_config *out, auth_getenv_fn getenv_fn, void *payload,
                         struct errbuf *err);
/* Frees the strings, wiping secrets. */
void auth_config_release(struct auth_config *cfg);
const char *auth_method_name(enum auth_method m);

struct auth;

/* Borrowed: cfg (copied), cloud, t and clock must outlive the auth. clock
 * NULL = real. */
int auth_new(struct auth **out, const struct auth_config *cfg, const struct arm_cloud *cloud,
             struct transport *t, const struct arm_clock *clock, struct errbuf *err);
void auth_free(struct auth *a);

/* A bearer token for scope ("https://management.azure.com/.default"),
 * from the cache when it is valid for more than the refresh margin (5 min,
 * or half its lifetime when shorter). *out is borrowed until the next call. */
int auth_token(struct auth *a, const char *scope, const char **out, struct errbuf *err);
/* Forgets the cached token of scope: the next auth_token signs in again. */
void auth_invalidate(struct auth *a, const char *scope);
/* The x-ms-authorization-auxiliary value for scope ("Bearer t1, Bearer t2"),
 * or *out = NULL without auxiliary tenants. Borrowed until the next call. */
int auth_aux_header(struct auth *a, const char *scope, const char **out, struct errbuf *err);
/* Adapter for arm_client_opts.auth (auxiliary tokens included). */
struct arm_token_source auth_token_source(struct auth *a);
/* Token requests made so far (tests, diagnostics). */
unsigned auth_request_count(const struct auth *a);

/* The azurerm variables that shape every ARM request rather than sign-in,
 * read through getenv_fn (NULL = getenv) into o (strings borrowed from the
 * environment):
 *   ARM_PARTNER_ID                      a GUID ("pid-" optional): User-Agent
 *                                       gets "pid-<GUID>" (o->partner_id)
 *   ARM_DISABLE_TERRAFORM_PARTNER_ID    accepted and ignored: amlsec is not
 *                                       Terraform and never sends its id
 *   ARM_CORRELATION_REQUEST_ID          x-ms-correlation-request-id of the run
 *   ARM_DISABLE_CORRELATION_REQUEST_ID  true: send none
 * Errors name the malformed variable. */
int auth_request_env(struct arm_client_opts *o, auth_getenv_fn getenv_fn, void *payload,
                     struct errbuf *err);

#endif
