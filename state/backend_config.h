/* Choosing and opening a state backend from plain settings.
 *
 * The configuration's `settings` block will fill struct backend_config; until
 * then cmd/ fills it from flags and the environment (backend_config_from_env,
 * documented in docs/state.md). All strings are borrowed: the struct only
 * points at the caller's memory (environment, argv, the parsed settings). */
#ifndef AMLSEC_STATE_BACKEND_CONFIG_H
#define AMLSEC_STATE_BACKEND_CONFIG_H

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
    blob_token_fn token_fn; /* Entra tokens for https://storage.azure.com/.default */
    void *token_payload;
    int lease_seconds; /* 0: 60; Azure accepts 15..60 */
    /* encryption at rest: at most one of each trio */
    const char *passphrase, *key_text, *key_file;
    const char *fallback_passphrase, *fallback_key_text, *fallback_key_file;
};

#define BACKEND_CONFIG_INIT                                                                        \
    {                                                                                              \
        0                                                                                          \
    }

/* Fills cfg from AMLSEC_BACKEND, AMLSEC_BLOB_URL, AMLSEC_STORAGE_ACCOUNT,
 * AMLSEC_STORAGE_CONTAINER, AMLSEC_STATE_BLOB, ARM_ACCESS_KEY, ARM_SAS_TOKEN,
 * AMLSEC_STATE_PASSPHRASE, AMLSEC_STATE_KEY, AMLSEC_STATE_KEY_FILE and their
 * _FALLBACK variants, and AMLSEC_STATE_LEASE_SECONDS (tests: a 15 s lease). path (a -state flag,
 * may be NULL) sets the local path. The pointers point into the environment. */
void backend_config_from_env(struct backend_config *cfg, const char *path);

/* Opens the backend and loads the keys (keys is init'd here; release it
 * with crypt_keys_release). */
int backend_config_open(struct state_backend **out, struct crypt_keys *keys,
                        const struct backend_config *cfg, struct errbuf *err);

/* Where the journal for this state lives (a local file, also for the
 * azurerm backend: the journal belongs to the machine running the apply).
 * Caller frees. */
char *backend_config_journal_path(const struct backend_config *cfg);

#endif
