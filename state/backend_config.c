#include "state/backend_config.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state/backend_blob.h"
#include "state/backend_local.h"
#include "util/error.h"
#include "util/suggest.h"
#include "util/banned.h"

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

/* --- layer 1: settings { state { ... } } --------------------------------- */

/* What the state block accepts. backend: the only backend a setting
 * applies to (NULL: both). */
static const struct state_setting {
    const char *name;
    bool is_bool;
    const char *backend;
    size_t off; /* of a const char * or a bool in struct backend_config */
} state_settings[] = {
    {"backend", false, NULL, offsetof(struct backend_config, type)},
    {"path", false, "local", offsetof(struct backend_config, path)},
    {"storage_account_name", false, "azurerm", offsetof(struct backend_config, storage_account)},
    {"container_name", false, "azurerm", offsetof(struct backend_config, container)},
    {"blob_name", false, "azurerm", offsetof(struct backend_config, blob_name)},
    {"endpoint", false, "azurerm", offsetof(struct backend_config, blob_url)},
    {"use_azuread_auth", true, "azurerm", offsetof(struct backend_config, use_azuread)},
    {"key_file", false, NULL, offsetof(struct backend_config, key_file)},
    {"fallback_key_file", false, NULL, offsetof(struct backend_config, fallback_key_file)},
    {"require_encryption", true, NULL, offsetof(struct backend_config, require_encryption)},
};

#define NSETTINGS (sizeof(state_settings) / sizeof(state_settings[0]))

/* Secrets never live in the configuration: each names where it comes from. */
static const struct {
    const char *name, *from;
} state_secrets[] = {
    {"access_key", "ARM_ACCESS_KEY"},
    {"sas_token", "ARM_SAS_TOKEN"},
    {"passphrase", "AMLSEC_STATE_PASSPHRASE"},
    {"encryption_key", "AMLSEC_STATE_KEY or key_file"},
    {"fallback_passphrase", "AMLSEC_STATE_PASSPHRASE_FALLBACK"},
    {"fallback_encryption_key", "AMLSEC_STATE_KEY_FALLBACK or fallback_key_file"},
    {"client_secret", "ARM_CLIENT_SECRET"},
    {"client_certificate_password", "ARM_CLIENT_CERTIFICATE_PASSWORD"},
};

static const char *const backend_names[] = {"local", "azurerm", NULL};

#define SETTING_CODE "state-setting"

const struct ast_block *backend_config_block(const struct config *conf)
{
    const struct ast_block *settings = conf ? conf->settings_block : NULL;
    for (const struct ast_file *f = conf ? conf->files : NULL; f && !settings; f = f->next)
        settings = ast_body_block(&f->body, "settings");
    return settings ? ast_body_block(&settings->body, "state") : NULL;
}

/* An error about the state block (diag_add checks the format). */
#define setting_error(diags, loc, ...) diag_add(diags, DIAG_ERROR, loc, SETTING_CODE, __VA_ARGS__)

/* Reports a = value that is not an acceptable literal; stores it otherwise. */
static bool take_value(struct backend_config *cfg, const struct state_setting *s,
                       const struct ast_attr *a, struct diag_list *diags)
{
    const struct ast_expr *v = a->value;
    struct diag *d;

    if (v->kind != EXPR_STRING && v->kind != EXPR_BOOL) {
        d = setting_error(diags, &v->loc, "state setting '%s' must be a literal %s", a->name,
                          s->is_bool ? "true or false" : "string");
        if (d)
            diag_set_hint(d, "the state block is read before variables are bound; set "
                             "per-environment values through the environment (docs/state.md)");
        return false;
    }
    if (s->is_bool != (v->kind == EXPR_BOOL)) {
        setting_error(diags, &v->loc, "state setting '%s' must be %s", a->name,
                      s->is_bool ? "true or false" : "a string");
        return false;
    }
    if (s->is_bool) {
        *(bool *)((char *)cfg + s->off) = v->u.b;
        return true;
    }
    if (v->u.str.len == 0 || strlen(v->u.str.s) != v->u.str.len) {
        setting_error(diags, &v->loc, "state setting '%s' must be a non-empty string", a->name);
        return false;
    }
    *(const char **)((char *)cfg + s->off) = v->u.str.s;
    return true;
}

static const struct state_setting *find_setting(const char *name)
{
    for (size_t i = 0; i < NSETTINGS; i++)
        if (strcmp(state_settings[i].name, name) == 0)
            return &state_settings[i];
    return NULL;
}

static void unknown_setting(const struct ast_attr *a, struct diag_list *diags)
{
    struct diag *d;
    const char *near;
    struct src_loc name_loc = ast_attr_name_loc(a);

    for (size_t i = 0; i < sizeof(state_secrets) / sizeof(state_secrets[0]); i++) {
        if (strcmp(a->name, state_secrets[i].name) == 0) {
            d = setting_error(diags, &name_loc,
                              "'%s' is a secret and is not accepted in the configuration", a->name);
            diag_mask(d, &a->value->loc);
            if (d)
                diag_set_hint(d, "set %s in the environment instead", state_secrets[i].from);
            return;
        }
    }
    d = setting_error(diags, &name_loc, "unknown state setting '%s'", a->name);
    if (d == NULL)
        return;
    if (strcmp(a->name, "key") == 0) {
        diag_set_hint(d, "the blob's name is blob_name (azurerm's backend calls it key); an "
                         "encryption key comes from AMLSEC_STATE_KEY or key_file");
    } else {
        const char *names[NSETTINGS];
        for (size_t i = 0; i < NSETTINGS; i++)
            names[i] = state_settings[i].name;
        if ((near = suggest_nearest(a->name, names, NSETTINGS)) != NULL)
            diag_set_hint(d, "did you mean '%s'?", near);
    }
}

int backend_config_from_settings(struct backend_config *cfg, const struct config *conf,
                                 struct diag_list *diags)
{
    const struct ast_block *b = backend_config_block(conf);
    const struct ast_attr *backend_attr = NULL;
    const char *backend;
    size_t errors = diags->errors;

    memset(cfg, 0, sizeof(*cfg));
    if (b == NULL)
        return 0;
    cfg->block = b;
    for (const struct ast_block *o = b->next; o; o = o->next) {
        if (strcmp(o->type, "state") == 0) {
            struct diag *d = setting_error(diags, &o->type_loc, "duplicate state block");
            if (d)
                diag_add_note(d, &b->type_loc, "first defined here");
        }
    }
    if (b->labels)
        setting_error(diags, &b->labels->loc, "the state block takes no name");
    for (const struct ast_block *k = b->body.blocks; k; k = k->next) {
        struct diag *d = setting_error(diags, &k->type_loc, "unknown block '%s' in state", k->type);
        if (d)
            diag_set_hint(d, "the state block holds attributes only (docs/state.md)");
    }
    for (const struct ast_attr *a = b->body.attrs; a; a = a->next) {
        const struct state_setting *s = find_setting(a->name);
        const struct ast_attr *first = b->body.attrs;
        while (first != a && strcmp(first->name, a->name) != 0)
            first = first->next;
        if (first != a) {
            struct src_loc at = ast_attr_name_loc(a), was = ast_attr_name_loc(first);
            struct diag *d = setting_error(diags, &at, "duplicate state setting '%s'", a->name);
            diag_add_note(d, &was, "first set here");
            continue;
        }
        if (s == NULL) {
            unknown_setting(a, diags);
            continue;
        }
        if (take_value(cfg, s, a, diags) && strcmp(a->name, "backend") == 0)
            backend_attr = a;
    }
    backend = cfg->type ? cfg->type : "local";
    if (backend_attr && strcmp(backend, "local") != 0 && strcmp(backend, "azurerm") != 0) {
        struct diag *d =
            setting_error(diags, &backend_attr->value->loc, "unknown state backend '%s'", backend);
        const char *near = suggest_nearest(backend, backend_names, 0);
        if (d && near)
            diag_set_hint(d, "did you mean '%s'?", near);
        else if (d)
            diag_set_hint(d, "the backends are local and azurerm");
        backend = NULL;
    }
    for (const struct ast_attr *a = b->body.attrs; a && backend; a = a->next) {
        const struct state_setting *s = find_setting(a->name);
        struct diag *d;
        struct src_loc name_loc = ast_attr_name_loc(a);
        if (s == NULL || s->backend == NULL || strcmp(s->backend, backend) == 0)
            continue;
        d = setting_error(diags, &name_loc,
                          "'%s' applies to the %s backend, but this block selects the %s backend",
                          a->name, s->backend, backend);
        if (d && backend_attr == NULL)
            diag_set_hint(d, "add backend = \"%s\"", s->backend);
    }
    if (cfg->blob_url && strchr(cfg->blob_url, '?')) {
        const struct src_loc *at = &ast_body_attr(&b->body, "endpoint")->value->loc;
        struct diag *d = setting_error(diags, at, "the blob endpoint must not carry a query");
        diag_mask(d, at);
        if (d)
            diag_set_hint(d, "a SAS token is a secret: set ARM_SAS_TOKEN in the environment");
        cfg->blob_url = NULL;
    } else if (cfg->blob_url && strncmp(cfg->blob_url, "https://", 8) != 0 &&
               strncmp(cfg->blob_url, "http://", 7) != 0) {
        setting_error(diags, &ast_body_attr(&b->body, "endpoint")->value->loc,
                      "the blob endpoint must be an http(s) URL");
    }
    return diags->errors > errors ? AMLSEC_EPARSE : 0;
}

/* --- layer 2: the environment ------------------------------------------- */

static int env_bool(bool *out, const char *name, struct errbuf *err)
{
    const char *v = env(name);
    if (v == NULL)
        return 0;
    if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0)
        *out = true;
    else if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0)
        *out = false;
    else
        return errbuf_set(err, AMLSEC_EUSAGE, "%s must be true or false, not '%s'", name, v);
    return 0;
}

/* Entra ID for the blob: ARM_USE_AZUREAD is the azurerm backend's variable
 * (its use_azuread_auth), ARM_STORAGE_USE_AZUREAD the azurerm provider's
 * (storage_use_azuread, for the provider's own Storage requests). The
 * backend's variable decides; the provider's is read when it is unset.
 * When both are set and disagree, a warning says which one is followed. */
static int env_use_azuread(struct backend_config *cfg, struct diag_list *diags, struct errbuf *err)
{
    bool backend = cfg->use_azuread, provider = cfg->use_azuread;
    struct diag *d;
    int rc;

    if ((rc = env_bool(&backend, "ARM_USE_AZUREAD", err)) < 0 ||
        (rc = env_bool(&provider, "ARM_STORAGE_USE_AZUREAD", err)) < 0)
        return rc;
    if (env("ARM_USE_AZUREAD") == NULL) {
        cfg->use_azuread = provider;
        return 0;
    }
    cfg->use_azuread = backend;
    if (env("ARM_STORAGE_USE_AZUREAD") == NULL || backend == provider)
        return 0;
    d = diag_add(diags, DIAG_WARNING, NULL, SETTING_CODE,
                 "ARM_USE_AZUREAD (%s) and ARM_STORAGE_USE_AZUREAD (%s) disagree; the state "
                 "backend follows ARM_USE_AZUREAD",
                 backend ? "true" : "false", provider ? "true" : "false");
    if (d)
        diag_set_hint(d, "ARM_USE_AZUREAD is the azurerm backend's variable; "
                         "ARM_STORAGE_USE_AZUREAD (the azurerm provider's) is read only when it "
                         "is unset");
    return 0;
}

/* Whole seconds within min..max, written as plain decimal digits: no sign,
 * no blanks, no unit, no fraction. */
static int env_seconds(int *out, const char *name, int min, int max, struct errbuf *err)
{
    const char *v = env(name), *p = v;
    long n = 0;

    if (v == NULL)
        return 0;
    /* stops past max, so n cannot overflow */
    while (*p >= '0' && *p <= '9' && n <= max)
        n = n * 10 + (*p++ - '0');
    if (*p == '\0' && n >= min && n <= max) {
        *out = (int)n;
        return 0;
    }
    return errbuf_set(err, AMLSEC_EUSAGE, "%s: expected whole seconds between %d and %d, got '%s'",
                      name, min, max, v);
}

#define OVERRIDE(field, name)                                                                      \
    do {                                                                                           \
        if (env(name))                                                                             \
            cfg->field = env(name);                                                                \
    } while (0)

int backend_config_apply_env(struct backend_config *cfg, struct diag_list *diags,
                             struct errbuf *err)
{
    int rc;

    OVERRIDE(type, "AMLSEC_BACKEND");
    OVERRIDE(blob_url, "AMLSEC_BLOB_URL");
    OVERRIDE(storage_account, "AMLSEC_STORAGE_ACCOUNT");
    OVERRIDE(container, "AMLSEC_STORAGE_CONTAINER");
    OVERRIDE(blob_name, "AMLSEC_STATE_BLOB");
    OVERRIDE(access_key, "ARM_ACCESS_KEY");
    OVERRIDE(sas_token, "ARM_SAS_TOKEN");
    OVERRIDE(ca_bundle, "AMLSEC_CA_BUNDLE");
    if ((rc = env_use_azuread(cfg, diags, err)) < 0)
        return rc;
    /* a key group set in the environment replaces the settings' key file */
    if (env("AMLSEC_STATE_PASSPHRASE") || env("AMLSEC_STATE_KEY") || env("AMLSEC_STATE_KEY_FILE")) {
        cfg->passphrase = env("AMLSEC_STATE_PASSPHRASE");
        cfg->key_text = env("AMLSEC_STATE_KEY");
        cfg->key_file = env("AMLSEC_STATE_KEY_FILE");
    }
    if (env("AMLSEC_STATE_PASSPHRASE_FALLBACK") || env("AMLSEC_STATE_KEY_FALLBACK") ||
        env("AMLSEC_STATE_KEY_FILE_FALLBACK")) {
        cfg->fallback_passphrase = env("AMLSEC_STATE_PASSPHRASE_FALLBACK");
        cfg->fallback_key_text = env("AMLSEC_STATE_KEY_FALLBACK");
        cfg->fallback_key_file = env("AMLSEC_STATE_KEY_FILE_FALLBACK");
    }
    return env_seconds(&cfg->lease_seconds, "AMLSEC_STATE_LEASE_SECONDS", BLOB_LEASE_MIN_SECONDS,
                       BLOB_LEASE_MAX_SECONDS, err);
}

#undef OVERRIDE

/* --- layer 3: flags ------------------------------------------------------ */

void backend_config_apply_flags(struct backend_config *cfg, const char *state_path)
{
    if (state_path == NULL)
        return;
    cfg->type = "local";
    cfg->path = state_path;
}

int backend_config_check(const struct backend_config *cfg, struct diag_list *diags)
{
    struct diag *d = NULL;

    if (cfg->block == NULL || cfg->type == NULL || strcmp(cfg->type, "azurerm") != 0)
        return 0;
    if (cfg->container == NULL) {
        d = setting_error(diags, &cfg->block->type_loc,
                          "the azurerm state backend needs a container");
        if (d)
            diag_set_hint(d, "set container_name here or AMLSEC_STORAGE_CONTAINER");
    }
    if (cfg->blob_url == NULL && cfg->storage_account == NULL) {
        d = setting_error(diags, &cfg->block->type_loc,
                          "the azurerm state backend needs a storage account or an endpoint");
        if (d)
            diag_set_hint(d, "set storage_account_name or endpoint here, or "
                             "AMLSEC_STORAGE_ACCOUNT or AMLSEC_BLOB_URL");
    }
    return d ? AMLSEC_EPARSE : 0;
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
    if (cfg->require_encryption && keys->primary.kind == CRYPT_KEY_NONE) {
        const struct ast_attr *a =
            cfg->block ? ast_body_attr(&cfg->block->body, "require_encryption") : NULL;
        char where[300] = "";
        if (a) {
            struct src_pos at = src_loc_start(&a->loc);
            snprintf(where, sizeof(where), "%s:%u:%u: ", a->loc.file->name, at.line, at.col);
        }
        return errbuf_set(err, AMLSEC_EUSAGE,
                          "%srequire_encryption is set but no state key is: set "
                          "AMLSEC_STATE_PASSPHRASE, AMLSEC_STATE_KEY, AMLSEC_STATE_KEY_FILE or "
                          "key_file",
                          where);
    }
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
    o.ca_bundle = cfg->ca_bundle;
    if (cfg->use_azuread) {
        /* Entra only: a key or SAS in the environment is not used */
        if (cfg->token_fn == NULL)
            return errbuf_set(err, AMLSEC_EUSAGE,
                              "use_azuread_auth needs an Entra sign-in (the ARM_* variables)");
        o.token_fn = cfg->token_fn;
        o.token_payload = cfg->token_payload;
        o.token_timeout_ms = cfg->token_timeout_ms;
    } else {
        o.shared_key = cfg->access_key;
        o.sas_token = cfg->sas_token;
    }
    if (!o.shared_key && !o.sas_token && !o.token_fn)
        return errbuf_set(err, AMLSEC_EUSAGE,
                          "the azurerm backend needs credentials: ARM_ACCESS_KEY, ARM_SAS_TOKEN "
                          "or Entra ID (use_azuread_auth = true or ARM_USE_AZUREAD=true)");
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

/* What names an endpoint-only blob backend's journal: the endpoint's host
 * (lowercase), its port (the scheme's default when none is given, so both
 * spellings agree) and its path, as one file-name part:
 * "https://127.0.0.1:10000/devstoreaccount1/" is
 * "127.0.0.1_10000_devstoreaccount1". It always holds a '_', which a
 * storage account name (3-24 lowercase letters and digits) never does.
 * A user part or a query (credentials) is left out. */
static void endpoint_label(char *out, size_t outsz, const char *url)
{
    bool https = strncmp(url, "https://", 8) == 0;
    const char *auth = strstr(url, "://"), *end, *at, *host_end, *port;
    int port_len;
    size_t n;

    auth = auth ? auth + 3 : url;
    end = auth + strcspn(auth, "/?#");
    at = memchr(auth, '@', (size_t)(end - auth));
    if (at)
        auth = at + 1;
    host_end = *auth == '[' ? memchr(auth, ']', (size_t)(end - auth)) : NULL;
    host_end = host_end ? host_end + 1 : auth + strcspn(auth, ":/?#");
    if (host_end + 1 < end && *host_end == ':') {
        port = host_end + 1;
        port_len = (int)(end - port);
    } else {
        port = https ? "443" : "80";
        port_len = (int)strlen(port);
    }
    n = (size_t)snprintf(out, outsz, "%.*s_%.*s%.*s", (int)(host_end - auth), auth, port_len, port,
                         (int)strcspn(end, "?#"), end);
    if (n >= outsz)
        n = outsz - 1;
    while (n > 0 && out[n - 1] == '/')
        out[--n] = '\0';
    for (char *p = out; *p; p++) {
        if (p < out + (host_end - auth) && *p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
        else if (!(*p >= 'a' && *p <= 'z') && !(*p >= 'A' && *p <= 'Z') &&
                 !(*p >= '0' && *p <= '9') && *p != '.' && *p != '-')
            *p = '_';
    }
}

char *backend_config_journal_path(const struct backend_config *cfg)
{
    char path[4096], where[1024];
    int n;
    if (cfg->type && strcmp(cfg->type, "azurerm") == 0) {
        /* named by the account when there is one (the names journals have
         * always had), else by the endpoint: two endpoints holding the
         * same container and blob must not share a journal */
        if (cfg->storage_account)
            snprintf(where, sizeof(where), "%s", cfg->storage_account);
        else if (cfg->blob_url)
            endpoint_label(where, sizeof(where), cfg->blob_url);
        else
            snprintf(where, sizeof(where), "blob");
        n = snprintf(path, sizeof(path), ".amlsec/%s-%s-%s.journal", where,
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
