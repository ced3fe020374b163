/* Choosing and opening a state backend from plain settings.
 *
 * struct backend_config is filled in three layers, each overriding the one
 * before (docs/state.md, "Choosing the backend"):
 *   1. the configuration's settings { state { ... } } block
 *      (backend_config_from_settings),
 *   2. the environment (backend_config_apply_env),
 *   3. flags: -state PATH (backend_config_apply_flags).
 * Secrets (shared key, SAS, passphrases, raw keys) come from the
 * environment only. All strings are borrowed: the struct points at the
 * caller's memory (environment, argv, the parsed configuration's arena). */
#ifndef AMLSEC_STATE_BACKEND_CONFIG_H
#define AMLSEC_STATE_BACKEND_CONFIG_H

#include <stdbool.h>

#include "parser/config.h"
#include "parser/diag.h"
#include "state/backend.h"
#include "state/blob_client.h"
#include "state/crypt.h"

struct backend_config {
    const char *type; /* "local" (default when NULL) or "azurerm" */
    /* local */
    const char *path; /* NULL: .amlsec/state.json */
    /* azurerm */
    const char *blob_url;        /* blob service endpoint; NULL: from storage_account */
    const char *storage_account; /* NULL: from blob_url */
    const char *container;
    const char *blob_name;  /* NULL: "amlsec.state" */
    const char *access_key; /* secret: shared key (base64) */
    const char *sas_token;  /* secret: "sv=...&sig=..." (leading '?' allowed) */
    bool use_azuread;       /* Entra tokens only (token_fn must be set before opening) */
    blob_token_fn token_fn; /* Entra tokens for https://storage.azure.com/.default */
    void *token_payload;
    long token_timeout_ms; /* one token request's timeout (the lease schedule counts it) */
    const char *ca_bundle; /* PEM file of CAs trusted for the endpoint; NULL: system */
    int lease_seconds;     /* 0: 60; Azure accepts 15..60 */
    /* encryption at rest: at most one of each trio */
    const char *passphrase, *key_text, *key_file;
    const char *fallback_passphrase, *fallback_key_text, *fallback_key_file;
    bool require_encryption; /* refuse to open without a primary key */
    /* The settings block's `state { ... }` when the configuration has one
     * (its location is named in errors about what the merged settings
     * lack); NULL otherwise. */
    const struct ast_block *block;
};

#define BACKEND_CONFIG_INIT                                                                        \
    {                                                                                              \
        0                                                                                          \
    }

/* The `state` block inside the configuration's settings block (first
 * settings block when the configuration was only parsed), or NULL. */
const struct ast_block *backend_config_block(const struct config *conf);

/* Layer 1: fills cfg (which it first zeroes) from the configuration's
 * settings { state { ... } } block; conf may be only parsed (the block is
 * read from the syntax tree). The block takes literal values only: like
 * Terraform's backend block it is read before variables are bound, and by
 * commands that do not evaluate the configuration. Problems become
 * diagnostics with the offending location: unknown attributes or blocks,
 * values that are not literals or of the wrong type, an unknown backend,
 * settings of the other backend, and secrets (refused: they come from the
 * environment). Returns AMLSEC_EPARSE when it reported an error, else 0. */
int backend_config_from_settings(struct backend_config *cfg, const struct config *conf,
                                 struct diag_list *diags);

/* Layer 2: overrides cfg with what the environment sets: AMLSEC_BACKEND,
 * AMLSEC_BLOB_URL, AMLSEC_STORAGE_ACCOUNT, AMLSEC_STORAGE_CONTAINER,
 * AMLSEC_STATE_BLOB, ARM_ACCESS_KEY, ARM_SAS_TOKEN, ARM_USE_AZUREAD
 * (true|false; the azurerm backend's variable) or, when that is unset,
 * ARM_STORAGE_USE_AZUREAD (the azurerm provider's), AMLSEC_CA_BUNDLE,
 * AMLSEC_STATE_LEASE_SECONDS (whole seconds, 15..60; tests use 15), and the
 * keys: AMLSEC_STATE_PASSPHRASE, AMLSEC_STATE_KEY, AMLSEC_STATE_KEY_FILE
 * (any one of them replaces the settings' key_file) and their _FALLBACK
 * variants. The pointers point into the environment. Adds a warning
 * without location to diags when ARM_USE_AZUREAD and
 * ARM_STORAGE_USE_AZUREAD disagree. Fails (AMLSEC_EUSAGE) on a malformed
 * boolean or lease duration, naming the variable and its value. */
int backend_config_apply_env(struct backend_config *cfg, struct diag_list *diags,
                             struct errbuf *err);

/* Layer 3: -state PATH (may be NULL) selects the local backend at PATH,
 * whatever the environment or the settings say. */
void backend_config_apply_flags(struct backend_config *cfg, const char *state_path);

/* What the merged settings still lack when the backend comes from the
 * settings block (an azurerm backend without a container, or without an
 * endpoint or account), reported at the block. Returns AMLSEC_EPARSE when
 * it reported an error. Does nothing without a block (backend_config_open
 * reports those cases by variable name). */
int backend_config_check(const struct backend_config *cfg, struct diag_list *diags);

/* Opens the backend and loads the keys (keys is init'd here; release it
 * with crypt_keys_release). */
int backend_config_open(struct state_backend **out, struct crypt_keys *keys,
                        const struct backend_config *cfg, struct errbuf *err);

/* Where the journal for this state lives (a local file, also for the
 * azurerm backend: the journal belongs to the machine running the apply).
 * Caller frees. */
char *backend_config_journal_path(const struct backend_config *cfg);

#endif
