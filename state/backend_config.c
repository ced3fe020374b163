#include "state/backend_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state/backend_blob.h"
#include "state/backend_local.h"
#include "util/error.h"
#include "util/banned.h"

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

void backend_config_from_env(struct backend_config *cfg, const char *path)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->type = env("AMLSEC_BACKEND");
    cfg->path = path;
    cfg->blob_url = env("AMLSEC_BLOB_URL");
    cfg->storage_account = env("AMLSEC_STORAGE_ACCOUNT");
    cfg->container = env("AMLSEC_STORAGE_CONTAINER");
    cfg->blob_name = env("AMLSEC_STATE_BLOB");
    cfg->access_key = env("ARM_ACCESS_KEY");
    cfg->sas_token = env("ARM_SAS_TOKEN");
    cfg->passphrase = env("AMLSEC_STATE_PASSPHRASE");
    cfg->key_text = env("AMLSEC_STATE_KEY");
    cfg->key_file = env("AMLSEC_STATE_KEY_FILE");
    cfg->fallback_passphrase = env("AMLSEC_STATE_PASSPHRASE_FALLBACK");
    cfg->fallback_key_text = env("AMLSEC_STATE_KEY_FALLBACK");
    cfg->fallback_key_file = env("AMLSEC_STATE_KEY_FILE_FALLBACK");
    if (env("AMLSEC_STATE_LEASE_SECONDS")) {
        /* out-of-range values are refused by backend_blob_new */
        long v = strtol(env("AMLSEC_STATE_LEASE_SECONDS"), NULL, 10);
        cfg->lease_seconds = v > 0 && v < 1000 ? (int)v : -1;
    }
}

static int load_key(struct crypt_key *key, const char *pass, const char *text, const char *file,
                    const char *suffix, struct errbuf *err)
{
    char what[64];
    int n = (pass != NULL) + (text != NULL) + (file != NULL);
    if (n == 0)
        return 0;
    if (n > 1)
        return errbuf_set(err, AMLSEC_EUSAGE,
                          "set only one of AMLSEC_STATE_PASSPHRASE%s, AMLSEC_STATE_KEY%s and "
                          "AMLSEC_STATE_KEY_FILE%s",
                          suffix, suffix, suffix);
    if (pass)
        return crypt_key_set_passphrase(key, pass, err);
    if (file)
        return crypt_key_load_file(key, file, err);
    snprintf(what, sizeof(what), "AMLSEC_STATE_KEY%s", suffix);
    return crypt_key_set_text(key, text, what, err);
}

static int open_keys(struct crypt_keys *keys, const struct backend_config *cfg, struct errbuf *err)
{
    int rc = load_key(&keys->primary, cfg->passphrase, cfg->key_text, cfg->key_file, "", err);
    if (rc < 0)
        return rc;
    rc = load_key(&keys->fallback, cfg->fallback_passphrase, cfg->fallback_key_text,
                  cfg->fallback_key_file, "_FALLBACK", err);
    if (rc < 0)
        return rc;
    if (keys->fallback.kind != CRYPT_KEY_NONE && keys->primary.kind == CRYPT_KEY_NONE)
        return errbuf_set(err, AMLSEC_EUSAGE,
                          "a fallback state key is set without a primary key (rotation reads "
                          "with the fallback and writes with the primary)");
    return 0;
}

static int open_blob(struct state_backend **out, const struct backend_config *cfg,
                     struct errbuf *err)
{
    struct blob_client_opts o = {0};
    char endpoint[512];

    if (cfg->container == NULL)
        return errbuf_set(err, AMLSEC_EUSAGE,
                          "the azurerm backend needs a container (AMLSEC_STORAGE_CONTAINER)");
    if (cfg->blob_url) {
        o.endpoint = cfg->blob_url;
    } else if (cfg->storage_account) {
        snprintf(endpoint, sizeof(endpoint), "https://%s.blob.core.windows.net",
                 cfg->storage_account);
        o.endpoint = endpoint;
    } else {
        return errbuf_set(err, AMLSEC_EUSAGE,
                          "the azurerm backend needs AMLSEC_BLOB_URL or AMLSEC_STORAGE_ACCOUNT");
    }
    o.account = cfg->storage_account;
    o.container = cfg->container;
    o.blob = cfg->blob_name ? cfg->blob_name : "amlsec.state";
    o.shared_key = cfg->access_key;
    o.sas_token = cfg->sas_token;
    o.token_fn = cfg->token_fn;
    o.token_payload = cfg->token_payload;
    if (!o.shared_key && !o.sas_token && !o.token_fn)
        return errbuf_set(err, AMLSEC_EUSAGE,
                          "the azurerm backend needs credentials: ARM_ACCESS_KEY, ARM_SAS_TOKEN "
                          "or an Entra token");
    return backend_blob_new(out, &o, cfg->lease_seconds, err);
}

int backend_config_open(struct state_backend **out, struct crypt_keys *keys,
                        const struct backend_config *cfg, struct errbuf *err)
{
    int rc;

    *out = NULL;
    crypt_keys_init(keys);
    if ((rc = open_keys(keys, cfg, err)) < 0) {
        crypt_keys_release(keys);
        return rc;
    }
    if (cfg->type == NULL || strcmp(cfg->type, "local") == 0)
        rc = backend_local_new(out, cfg->path, err);
    else if (strcmp(cfg->type, "azurerm") == 0)
        rc = open_blob(out, cfg, err);
    else
        rc = errbuf_set(err, AMLSEC_EUSAGE, "unknown state backend '%s' (local or azurerm)",
                        cfg->type);
    if (rc < 0)
        crypt_keys_release(keys);
    return rc;
}

char *backend_config_journal_path(const struct backend_config *cfg)
{
    char path[4096];
    int n;
    if (cfg->type && strcmp(cfg->type, "azurerm") == 0) {
        n = snprintf(path, sizeof(path), ".amlsec/%s-%s-%s.journal",
                     cfg->storage_account ? cfg->storage_account : "blob",
                     cfg->container ? cfg->container : "",
                     cfg->blob_name ? cfg->blob_name : "amlsec.state");
        for (char *p = path + 8; *p; p++)
            if (*p == '/')
                *p = '_';
    } else {
        n = snprintf(path, sizeof(path), "%s.journal",
                     cfg->path ? cfg->path : ".amlsec/state.json");
    }
    if (n < 0 || (size_t)n >= sizeof(path))
        return NULL;
    return strdup(path);
}
