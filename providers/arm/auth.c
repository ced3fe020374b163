#include "providers/arm/auth.h"
#include "providers/arm/arm_error.h"
#include "providers/arm/redact.h"
#include "util/error.h"
#include "util/fileio.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/banned.h"

#define REFRESH_MARGIN_S 300
#define TOKEN_ATTEMPTS 3
/* IMDS answers 404 (the identity is not assigned yet) and 410 (IMDS is
 * updating) while a VM's identity is being set up; Microsoft's guidance is
 * to retry with exponential back-off for up to about 70 s. */
#define IMDS_ATTEMPTS 7
#define MAX_TOKEN_RESPONSE ((size_t)1 << 20)

struct token_entry {
    char *tenant; /* NULL: the configured one of MSI and the CLI */
    char *scope;
    char *token;
    int64_t refresh_at; /* wall seconds */
};

struct auth {
    struct auth_config cfg;
    const struct arm_cloud *cloud;
    struct transport *t;
    const struct arm_clock *clock;
    struct jwt_signer *signer;
    struct token_entry *cache;
    size_t n_cache;
    unsigned requests;
    int failed; /* a refusal that will not fix itself */
    struct errbuf failure;
    struct buf aux_header;
};

const char *auth_method_name(enum auth_method m)
{
    switch (m) {
    case AUTH_CLIENT_SECRET:
        return "client secret";
    case AUTH_CLIENT_CERTIFICATE:
        return "client certificate";
    case AUTH_OIDC:
        return "workload identity (OIDC)";
    case AUTH_MSI:
        return "managed identity";
    case AUTH_CLI:
        return "Azure CLI";
    case AUTH_NONE:
        break;
    }
    return "none";
}

/* --- configuration ------------------------------------------------------ */

static const char *std_getenv(const char *name, void *payload)
{
    (void)payload;
    return getenv(name);
}

static void wipe_free(char *s)
{
    if (s) {
        OPENSSL_cleanse(s, strlen(s));
        free(s);
    }
}

void auth_config_release(struct auth_config *cfg)
{
    free(cfg->tenant_id);
    free(cfg->client_id);
    free(cfg->subscription_id);
    wipe_free(cfg->client_secret);
    free(cfg->certificate_path);
    wipe_free(cfg->certificate_data);
    wipe_free(cfg->certificate_password);
    wipe_free(cfg->oidc_token);
    free(cfg->oidc_token_file);
    free(cfg->oidc_request_url);
    wipe_free(cfg->oidc_request_token);
    free(cfg->ado_service_connection_id);
    for (size_t i = 0; i < cfg->n_aux_tenants; i++)
        free(cfg->aux_tenants[i]);
    free(cfg->msi_endpoint);
    wipe_free(cfg->msi_secret);
    free(cfg->az_command);
    free(cfg->environment);
    free(cfg->metadata_host);
    memset(cfg, 0, sizeof(*cfg));
}

struct envctx {
    auth_getenv_fn fn;
    void *payload;
};

/* The first non-empty variable of a NULL-terminated list. */
static const char *env_first(const struct envctx *e, const char *const *names, const char **which)
{
    for (size_t i = 0; names[i]; i++) {
        const char *v = e->fn(names[i], e->payload);
        if (v && *v) {
            if (which)
                *which = names[i];
            return v;
        }
    }
    return NULL;
}

static int env_bool(const struct envctx *e, const char *name, int def, int *out, struct errbuf *err)
{
    static const char *const yes[] = {"1", "t", "true", "yes", "y", "on"};
    static const char *const no[] = {"0", "f", "false", "no", "n", "off"};
    const char *v = e->fn(name, e->payload);
    *out = def;
    if (v == NULL || *v == '\0')
        return 0;
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
        if (strcasecmp(v, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
        if (strcasecmp(v, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    return errbuf_set(err, AMLSEC_EUSAGE, "%s='%s' is not true or false", name, v);
}

/* Copies the variable, or the trimmed contents of the *_FILE_PATH one. */
static int env_value_or_file(char **out, const struct envctx *e, const char *name,
                             const char *file_name, struct errbuf *err)
{
    const char *v = e->fn(name, e->payload);
    *out = NULL;
    if (v && *v) {
        *out = strdup(v);
        return *out ? 0 : errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    }
    v = file_name ? e->fn(file_name, e->payload) : NULL;
    if (v && *v) {
        struct buf b;
        int rc;
        buf_init(&b, 0);
        rc = file_read_all(&b, v, 64 * 1024, err);
        if (rc < 0) {
            buf_release(&b);
            return errbuf_prefix(err, "%s", file_name);
        }
        while (b.len &&
               (b.ptr[b.len - 1] == '\n' || b.ptr[b.len - 1] == '\r' || b.ptr[b.len - 1] == ' '))
            b.ptr[--b.len] = '\0';
        *out = buf_detach(&b, NULL);
        return *out ? 0 : errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    }
    return 0;
}

static int dup_opt(char **dst, const char *v)
{
    *dst = NULL;
    if (v == NULL || *v == '\0')
        return 0;
    *dst = strdup(v);
    return *dst ? 0 : AMLSEC_ENOMEM;
}

/* ARM_AUXILIARY_TENANT_IDS: ';'-separated (',' accepted), at most 3. */
static int aux_tenants_from_env(struct auth_config *out, const struct envctx *e, struct errbuf *err)
{
    const char *v = e->fn("ARM_AUXILIARY_TENANT_IDS", e->payload), *p = v;
    while (p && *p) {
        size_t n;
        p += strspn(p, " ;,");
        n = strcspn(p, " ;,");
        if (n == 0)
            break;
        if (out->n_aux_tenants == AUTH_MAX_AUX_TENANTS)
            return errbuf_set(err, AMLSEC_EUSAGE,
                              "ARM_AUXILIARY_TENANT_IDS='%s' names more than %d tenants", v,
                              AUTH_MAX_AUX_TENANTS);
        if ((out->aux_tenants[out->n_aux_tenants] = strndup(p, n)) == NULL)
            return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
        out->n_aux_tenants++;
        p += n;
    }
    return 0;
}

int auth_config_from_env(struct auth_config *out, auth_getenv_fn getenv_fn, void *payload,
                         struct errbuf *err)
{
    static const char *const tenant_vars[] = {"ARM_TENANT_ID", "AZURE_TENANT_ID", NULL};
    static const char *const client_vars[] = {"ARM_CLIENT_ID", "AZURE_CLIENT_ID", NULL};
    static const char *const oidc_token_file_vars[] = {"ARM_OIDC_TOKEN_FILE_PATH",
                                                       "AZURE_FEDERATED_TOKEN_FILE", NULL};
    static const char *const oidc_url_vars[] = {"ARM_OIDC_REQUEST_URL",
                                                "ACTIONS_ID_TOKEN_REQUEST_URL", NULL};
    static const char *const oidc_tok_vars[] = {"ARM_OIDC_REQUEST_TOKEN",
                                                "ACTIONS_ID_TOKEN_REQUEST_TOKEN", NULL};
    /* Azure DevOps: the service connection selects its request URL and token */
    static const char *const ado_vars[] = {"ARM_ADO_PIPELINE_SERVICE_CONNECTION_ID",
                                           "ARM_OIDC_AZURE_SERVICE_CONNECTION_ID", NULL};
    static const char *const ado_url_vars[] = {"ARM_OIDC_REQUEST_URL", "SYSTEM_OIDCREQUESTURI",
                                               NULL};
    static const char *const ado_tok_vars[] = {"ARM_OIDC_REQUEST_TOKEN", "SYSTEM_ACCESSTOKEN",
                                               NULL};
    static const char *const msi_vars[] = {"ARM_MSI_ENDPOINT", "IDENTITY_ENDPOINT", "MSI_ENDPOINT",
                                           NULL};
    static const char *const msi_secret_vars[] = {"IDENTITY_HEADER", "MSI_SECRET", NULL};
    struct envctx e = {getenv_fn ? getenv_fn : std_getenv, payload};
    int use_oidc = 0, use_aks = 0, use_msi = 0, use_cli = 1, rc;
    const char *alg, *ado;

    memset(out, 0, sizeof(*out));
    ado = env_first(&e, ado_vars, NULL);
    if ((rc = env_bool(&e, "ARM_USE_OIDC", 0, &use_oidc, err)) < 0 ||
        (rc = env_bool(&e, "ARM_USE_AKS_WORKLOAD_IDENTITY", 0, &use_aks, err)) < 0 ||
        (rc = env_bool(&e, "ARM_USE_MSI", 0, &use_msi, err)) < 0 ||
        (rc = env_bool(&e, "ARM_USE_CLI", 1, &use_cli, err)) < 0)
        goto fail;
    if ((rc = env_value_or_file(&out->client_id, &e, "ARM_CLIENT_ID", "ARM_CLIENT_ID_FILE_PATH",
                                err)) < 0 ||
        (rc = env_value_or_file(&out->client_secret, &e, "ARM_CLIENT_SECRET",
                                "ARM_CLIENT_SECRET_FILE_PATH", err)) < 0)
        goto fail;
    rc = AMLSEC_ENOMEM;
    if ((out->client_id == NULL &&
         dup_opt(&out->client_id, env_first(&e, client_vars, NULL)) < 0) ||
        dup_opt(&out->tenant_id, env_first(&e, tenant_vars, NULL)) < 0 ||
        dup_opt(&out->subscription_id, e.fn("ARM_SUBSCRIPTION_ID", e.payload)) < 0 ||
        dup_opt(&out->certificate_path, e.fn("ARM_CLIENT_CERTIFICATE_PATH", e.payload)) < 0 ||
        dup_opt(&out->certificate_data, e.fn("ARM_CLIENT_CERTIFICATE", e.payload)) < 0 ||
        dup_opt(&out->certificate_password, e.fn("ARM_CLIENT_CERTIFICATE_PASSWORD", e.payload)) <
            0 ||
        dup_opt(&out->oidc_token, e.fn("ARM_OIDC_TOKEN", e.payload)) < 0 ||
        dup_opt(&out->oidc_token_file, env_first(&e, oidc_token_file_vars, NULL)) < 0 ||
        dup_opt(&out->ado_service_connection_id, ado) < 0 ||
        dup_opt(&out->oidc_request_url, env_first(&e, ado ? ado_url_vars : oidc_url_vars, NULL)) <
            0 ||
        dup_opt(&out->oidc_request_token, env_first(&e, ado ? ado_tok_vars : oidc_tok_vars, NULL)) <
            0 ||
        dup_opt(&out->msi_endpoint, env_first(&e, msi_vars, NULL)) < 0 ||
        dup_opt(&out->msi_secret, env_first(&e, msi_secret_vars, NULL)) < 0 ||
        dup_opt(&out->environment, e.fn("ARM_ENVIRONMENT", e.payload)) < 0 ||
        dup_opt(&out->metadata_host, e.fn("ARM_METADATA_HOSTNAME", e.payload)) < 0 ||
        dup_opt(&out->az_command, "az") < 0) {
        errbuf_set(err, rc, "out of memory");
        goto fail;
    }
    if ((rc = aux_tenants_from_env(out, &e, err)) < 0)
        goto fail;
    alg = e.fn("AMLSEC_CLIENT_CERTIFICATE_ALG", e.payload);
    out->certificate_alg = JWT_PS256;
    if (alg && *alg) {
        if (strcasecmp(alg, "RS256") == 0) {
            out->certificate_alg = JWT_RS256;
        } else if (strcasecmp(alg, "PS256") != 0) {
            rc = errbuf_set(err, AMLSEC_EUSAGE,
                            "AMLSEC_CLIENT_CERTIFICATE_ALG='%s' is not PS256 or RS256", alg);
            goto fail;
        }
    }
    /* Everything secret is masked in logs from now on. */
    redact_register(out->client_secret);
    redact_register(out->certificate_password);
    redact_register(out->certificate_data);
    redact_register(out->oidc_token);
    redact_register(out->oidc_request_token);
    redact_register(out->msi_secret);

    if (out->certificate_path || out->certificate_data)
        out->method = AUTH_CLIENT_CERTIFICATE;
    else if (out->client_secret)
        out->method = AUTH_CLIENT_SECRET;
    else if (use_oidc || use_aks)
        out->method = AUTH_OIDC;
    else if (use_msi)
        out->method = AUTH_MSI;
    else if (use_cli)
        out->method = AUTH_CLI;
    else {
        rc = errbuf_set(err, AMLSEC_EUSAGE,
                        "no sign-in method: set ARM_CLIENT_SECRET, ARM_CLIENT_CERTIFICATE_PATH, "
                        "ARM_USE_OIDC, ARM_USE_MSI, or leave ARM_USE_CLI on");
        goto fail;
    }
    if (out->method == AUTH_CLIENT_CERTIFICATE || out->method == AUTH_CLIENT_SECRET ||
        out->method == AUTH_OIDC) {
        if (out->client_id == NULL) {
            rc = errbuf_set(err, AMLSEC_EUSAGE, "%s sign-in needs ARM_CLIENT_ID",
                            auth_method_name(out->method));
            goto fail;
        }
        if (out->tenant_id == NULL) {
            rc = errbuf_set(err, AMLSEC_EUSAGE, "%s sign-in needs ARM_TENANT_ID",
                            auth_method_name(out->method));
            goto fail;
        }
    }
    if (out->method == AUTH_OIDC && !out->oidc_token && !out->oidc_token_file &&
        !(out->oidc_request_url && out->oidc_request_token)) {
        rc = errbuf_set(err, AMLSEC_EUSAGE,
                        out->ado_service_connection_id
                            ? "ARM_ADO_PIPELINE_SERVICE_CONNECTION_ID needs "
                              "SYSTEM_OIDCREQUESTURI and SYSTEM_ACCESSTOKEN (or "
                              "ARM_OIDC_REQUEST_URL and ARM_OIDC_REQUEST_TOKEN)"
                            : "ARM_USE_OIDC needs ARM_OIDC_TOKEN, ARM_OIDC_TOKEN_FILE_PATH "
                              "(AZURE_FEDERATED_TOKEN_FILE) or ARM_OIDC_REQUEST_URL and "
                              "ARM_OIDC_REQUEST_TOKEN (ACTIONS_ID_TOKEN_REQUEST_URL/TOKEN)");
        goto fail;
    }
    if (out->n_aux_tenants && out->method == AUTH_MSI) {
        rc = errbuf_set(err, AMLSEC_EUSAGE,
                        "ARM_AUXILIARY_TENANT_IDS needs a service principal (secret, "
                        "certificate or OIDC) or the Azure CLI: a managed identity belongs to "
                        "one tenant");
        goto fail;
    }
    return 0;
fail:
    auth_config_release(out);
    return rc;
}

static int is_guid(const char *s)
{
    static const char shape[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";
    for (size_t i = 0; i < sizeof(shape); i++) {
        if (shape[i] == '\0')
            return s[i] == '\0';
        if (shape[i] == '-' ? s[i] != '-'
                            : !((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
                                (s[i] >= 'A' && s[i] <= 'F')))
            return 0;
    }
    return 0;
}

int auth_request_env(struct arm_client_opts *o, auth_getenv_fn getenv_fn, void *payload,
                     struct errbuf *err)
{
    struct envctx e = {getenv_fn ? getenv_fn : std_getenv, payload};
    const char *pid = e.fn("ARM_PARTNER_ID", e.payload);
    const char *corr = e.fn("ARM_CORRELATION_REQUEST_ID", e.payload);
    int off = 0, ignored = 0, rc;

    if ((rc = env_bool(&e, "ARM_DISABLE_TERRAFORM_PARTNER_ID", 0, &ignored, err)) < 0 ||
        (rc = env_bool(&e, "ARM_DISABLE_CORRELATION_REQUEST_ID", 0, &off, err)) < 0)
        return rc;
    if (pid && *pid) {
        if (!is_guid(strncasecmp(pid, "pid-", 4) == 0 ? pid + 4 : pid))
            return errbuf_set(err, AMLSEC_EUSAGE,
                              "ARM_PARTNER_ID='%s' is not a GUID (optionally prefixed 'pid-')",
                              pid);
        o->partner_id = pid;
    }
    if (corr && *corr) {
        for (const char *p = corr; *p; p++)
            if (*p <= ' ' || *p == 0x7f)
                return errbuf_set(err, AMLSEC_EUSAGE,
                                  "ARM_CORRELATION_REQUEST_ID has a space or control character");
        if (strlen(corr) > 127)
            return errbuf_set(err, AMLSEC_EUSAGE,
                              "ARM_CORRELATION_REQUEST_ID is longer than 127 characters");
        o->correlation_id = corr;
    }
    o->no_correlation_id = off;
    return 0;
}

static int config_copy(struct auth_config *dst, const struct auth_config *src)
{
    memset(dst, 0, sizeof(*dst));
    dst->method = src->method;
    dst->certificate_alg = src->certificate_alg;
    if (dup_opt(&dst->tenant_id, src->tenant_id) < 0 ||
        dup_opt(&dst->client_id, src->client_id) < 0 ||
        dup_opt(&dst->subscription_id, src->subscription_id) < 0 ||
        dup_opt(&dst->client_secret, src->client_secret) < 0 ||
        dup_opt(&dst->certificate_path, src->certificate_path) < 0 ||
        dup_opt(&dst->certificate_data, src->certificate_data) < 0 ||
        dup_opt(&dst->certificate_password, src->certificate_password) < 0 ||
        dup_opt(&dst->oidc_token, src->oidc_token) < 0 ||
        dup_opt(&dst->oidc_token_file, src->oidc_token_file) < 0 ||
        dup_opt(&dst->oidc_request_url, src->oidc_request_url) < 0 ||
        dup_opt(&dst->oidc_request_token, src->oidc_request_token) < 0 ||
        dup_opt(&dst->ado_service_connection_id, src->ado_service_connection_id) < 0 ||
        dup_opt(&dst->msi_endpoint, src->msi_endpoint) < 0 ||
        dup_opt(&dst->msi_secret, src->msi_secret) < 0 ||
        dup_opt(&dst->az_command, src->az_command ? src->az_command : "az") < 0 ||
        dup_opt(&dst->environment, src->environment) < 0 ||
        dup_opt(&dst->metadata_host, src->metadata_host) < 0) {
        auth_config_release(dst);
        return AMLSEC_ENOMEM;
    }
    for (size_t i = 0; i < src->n_aux_tenants; i++) {
        if (dup_opt(&dst->aux_tenants[i], src->aux_tenants[i]) < 0) {
            auth_config_release(dst);
            return AMLSEC_ENOMEM;
        }
        dst->n_aux_tenants++;
    }
    redact_register(dst->client_secret);
    redact_register(dst->certificate_password);
    redact_register(dst->oidc_token);
    redact_register(dst->oidc_request_token);
    redact_register(dst->msi_secret);
    return 0;
}

/* --- helpers ------------------------------------------------------------ */

static int form_add(struct buf *b, const char *name, const char *value)
{
    static const char hex[] = "0123456789ABCDEF";
    if (b->len && buf_addch(b, '&') < 0)
        return AMLSEC_ENOMEM;
    if (buf_adds(b, name) < 0 || buf_addch(b, '=') < 0)
        return AMLSEC_ENOMEM;
    for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
        int ok = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
                 *p == '-' || *p == '.' || *p == '_' || *p == '~';
        if (ok ? buf_addch(b, (char)*p) < 0
               : (buf_addch(b, '%') < 0 || buf_addch(b, hex[*p >> 4]) < 0 ||
                  buf_addch(b, hex[*p & 15]) < 0))
            return AMLSEC_ENOMEM;
    }
    return 0;
}

/* A secret as it appears form-encoded is a secret too. */
static void register_encoded(const char *secret)
{
    struct buf b;
    if (secret == NULL)
        return;
    buf_init(&b, 0);
    if (form_add(&b, "x", secret) == 0)
        redact_register(b.ptr + 2);
    buf_release(&b);
}

/* "https://management.azure.com/.default" -> "https://management.azure.com/" */
static char *resource_of(const char *scope)
{
    size_t n = strlen(scope);
    char *r;
    if (n >= 8 && strcmp(scope + n - 8, ".default") == 0)
        n -= 8;
    r = malloc(n + 1);
    if (r) {
        memcpy(r, scope, n);
        r[n] = '\0';
    }
    return r;
}

static int json_int64(json_t *v, int64_t *out)
{
    if (json_is_integer(v)) {
        *out = (int64_t)json_integer_value(v);
        return 0;
    }
    if (json_is_real(v)) {
        *out = (int64_t)json_real_value(v);
        return 0;
    }
    if (json_is_string(v)) {
        char *end;
        long long n = strtoll(json_string_value(v), &end, 10);
        if (end != json_string_value(v) && *end == '\0') {
            *out = (int64_t)n;
            return 0;
        }
    }
    return -1;
}

/* The cached token of (tenant, scope); tenant NULL = the configured one. */
static struct token_entry *cache_find(struct auth *a, const char *tenant, const char *scope)
{
    for (size_t i = 0; i < a->n_cache; i++)
        if (strcmp(a->cache[i].scope, scope) == 0 &&
            strcmp(a->cache[i].tenant ? a->cache[i].tenant : "", tenant ? tenant : "") == 0)
            return &a->cache[i];
    return NULL;
}

static int cache_put(struct auth *a, const char *tenant, const char *scope, const char *token,
                     int64_t expires_at, int64_t now)
{
    struct token_entry *e = cache_find(a, tenant, scope);
    int64_t life = expires_at - now, margin;
    char *t;

    if (e == NULL) {
        struct token_entry *c = realloc(a->cache, (a->n_cache + 1) * sizeof(*c));
        if (c == NULL)
            return AMLSEC_ENOMEM;
        a->cache = c;
        e = &a->cache[a->n_cache];
        memset(e, 0, sizeof(*e));
        if ((e->scope = strdup(scope)) == NULL ||
            (tenant && (e->tenant = strdup(tenant)) == NULL)) {
            free(e->scope);
            return AMLSEC_ENOMEM;
        }
        a->n_cache++;
    }
    t = strdup(token);
    if (t == NULL)
        return AMLSEC_ENOMEM;
    wipe_free(e->token);
    e->token = t;
    margin = life / 2 < REFRESH_MARGIN_S ? life / 2 : REFRESH_MARGIN_S;
    e->refresh_at = expires_at - margin;
    return 0;
}

/* Token endpoint answers: {access_token, expires_in | expires_on} where the
 * numbers may be strings; CLI answers {accessToken, expires_on | expiresOn}. */
static int parse_token(struct auth *a, const char *tenant, const char *scope, const char *body,
                       size_t len, struct errbuf *err)
{
    json_t *root = json_loadb(body, len, 0, NULL);
    const char *tok;
    int64_t now = arm_clock_wall(a->clock), in = 0, on = 0, expires;
    int rc;

    if (!json_is_object(root)) {
        json_decref(root);
        return errbuf_set(err, AMLSEC_EPARSE, "token response is not a JSON object");
    }
    tok = json_string_value(json_object_get(root, "access_token"));
    if (tok == NULL)
        tok = json_string_value(json_object_get(root, "accessToken"));
    if (tok == NULL || *tok == '\0') {
        json_decref(root);
        return errbuf_set(err, AMLSEC_EPARSE, "token response without an access token");
    }
    redact_register(tok);
    if (json_int64(json_object_get(root, "expires_in"), &in) == 0 && in > 0)
        expires = now + in;
    else if (json_int64(json_object_get(root, "expires_on"), &on) == 0 && on > 0)
        expires = on;
    else if (json_is_string(json_object_get(root, "expiresOn"))) {
        /* az before 2.54: local time "2024-05-01 12:34:56.000000" */
        struct tm tm;
        const char *s = json_string_value(json_object_get(root, "expiresOn"));
        memset(&tm, 0, sizeof(tm));
        if (strptime(s, "%Y-%m-%d %H:%M:%S", &tm) == NULL) {
            json_decref(root);
            return errbuf_set(err, AMLSEC_EPARSE, "token expiry '%s' is not a date", s);
        }
        tm.tm_isdst = -1;
        expires = (int64_t)mktime(&tm);
    } else {
        json_decref(root);
        return errbuf_set(err, AMLSEC_EPARSE, "token response without expires_in or expires_on");
    }
    rc = cache_put(a, tenant, scope, tok, expires, now);
    json_decref(root);
    if (rc < 0)
        return errbuf_set(err, rc, "out of memory");
    log_msg(LOG_DEBUG, "auth: token for '%s' valid for %lld s", scope, (long long)(expires - now));
    return 0;
}

/* One request with a few retries for transient failures. Refusals (4xx
 * other than 408/429) come back at once with Entra's error. */
static int send_token_request(struct auth *a, struct http_exchange *x, const char *what, bool imds,
                              struct errbuf *err)
{
    uint64_t rng = (uint64_t)arm_clock_now(a->clock) | 1;
    int rc;

    for (unsigned attempt = 1;; attempt++) {
        struct arm_error e;
        char detail[900];
        x->timeout_ms = AUTH_TOKEN_TIMEOUT_MS;
        x->max_response = MAX_TOKEN_RESPONSE;
        if (log_enabled(LOG_TRACE) && x->body) {
            char *r = redact_dup(x->body);
            log_msg(LOG_TRACE, "auth: > %s %s body %s", x->method, x->url, r ? r : "");
            free(r);
        }
        a->requests++;
        rc = transport_roundtrip(a->t, x, err);
        if (rc < 0)
            return rc;
        if (log_enabled(LOG_DEBUG)) {
            char *u = redact_dup(x->url);
            log_msg(LOG_DEBUG, "auth: %s %s -> %ld%s%s", x->method, u ? u : "", x->status,
                    x->fail ? " " : "", x->fail ? http_fail_name(x->fail) : "");
            free(u);
        }
        /* Successful answers are tokens: only refusals are traced. */
        if (log_enabled(LOG_TRACE) && x->resp_body.len && x->status >= 400) {
            char *r = redact_dup(x->resp_body.ptr);
            log_msg(LOG_TRACE, "auth: < body %s", r ? r : "");
            free(r);
        }
        if (x->fail == HTTP_FAIL_NONE && x->status >= 200 && x->status < 300)
            return 0;
        if (x->fail != HTTP_FAIL_NONE) {
            snprintf(detail, sizeof(detail), "%s: %s", http_fail_name(x->fail), x->fail_msg);
        } else {
            arm_error_parse(&e, x->resp_body.ptr, x->resp_body.len);
            arm_error_format(&e, detail, sizeof(detail));
        }
        bool not_ready =
            imds && x->fail == HTTP_FAIL_NONE && (x->status == 404 || x->status == 410);
        if (x->fail == HTTP_FAIL_NONE && x->status != 408 && x->status != 429 && x->status < 500 &&
            !not_ready) {
            a->failed = 1;
            errbuf_set(&a->failure, AMLSEC_EHTTP, "%s sign-in refused: HTTP %ld %s", what,
                       x->status, detail);
            *err = a->failure;
            return AMLSEC_EHTTP;
        }
        if (attempt >= (imds ? IMDS_ATTEMPTS : TOKEN_ATTEMPTS) || x->fail == HTTP_FAIL_TLS ||
            x->fail == HTTP_FAIL_REFUSED) {
            /* a transport failure's detail says it all; an HTTP answer adds its status */
            if (x->fail)
                return errbuf_set(err, AMLSEC_EHTTP, "%s sign-in failed after %u attempts: %s",
                                  what, attempt, detail);
            return errbuf_set(err, AMLSEC_EHTTP, "%s sign-in failed after %u attempts: %s HTTP %ld",
                              what, attempt, detail, x->status);
        }
        {
            int64_t ra = arm_retry_after_ms(x, arm_clock_wall(a->clock));
            int64_t d = ra >= 0 && ra <= 60000 ? ra
                        : imds                 ? arm_backoff_ms(1000, 32000, attempt, &rng)
                                               : arm_backoff_ms(500, 8000, attempt, &rng);
            arm_clock_sleep(a->clock, d);
        }
    }
}

/* A request; a body is form-encoded unless content_type says otherwise. */
static int new_request(struct http_exchange *x, const char *method, const char *url,
                       const char *body, const char *content_type, struct errbuf *err)
{
    if (http_exchange_set_request(x, method, url, body, body ? strlen(body) : 0) < 0 ||
        http_exchange_add_header(x, "Accept", "application/json") < 0 ||
        http_exchange_add_header(x, "User-Agent", "amlsec/" AMLSEC_VERSION) < 0 ||
        (body && http_exchange_add_header(x, "Content-Type",
                                          content_type ? content_type
                                                       : "application/x-www-form-urlencoded") < 0))
        return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    return 0;
}

/* --- flows -------------------------------------------------------------- */

/* The external OIDC token: given, from a file (re-read every time, since
 * Kubernetes rotates it), or fetched from GitHub Actions. Caller frees. */
static int oidc_assertion(struct auth *a, char **out, struct errbuf *err)
{
    struct http_exchange x;
    struct buf url;
    json_t *root;
    const char *v;
    int rc;

    *out = NULL;
    if (a->cfg.oidc_token) {
        *out = strdup(a->cfg.oidc_token);
        return *out ? 0 : errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    }
    if (a->cfg.oidc_token_file) {
        struct buf b;
        buf_init(&b, 0);
        rc = file_read_all(&b, a->cfg.oidc_token_file, 64 * 1024, err);
        if (rc < 0) {
            buf_release(&b);
            return errbuf_prefix(err, "OIDC token file");
        }
        while (b.len && (b.ptr[b.len - 1] == '\n' || b.ptr[b.len - 1] == '\r'))
            b.ptr[--b.len] = '\0';
        if (b.len == 0) {
            buf_release(&b);
            return errbuf_set(err, AMLSEC_EUSAGE, "OIDC token file '%s' is empty",
                              a->cfg.oidc_token_file);
        }
        redact_register(b.ptr);
        *out = buf_detach(&b, NULL);
        return 0;
    }
    /* GitHub Actions: GET <url>&audience=api://AzureADTokenExchange -> {value};
     * Azure DevOps: POST <url>?api-version=7.1&serviceConnectionId=<id> with
     * a JSON body -> {oidcToken} */
    http_exchange_init(&x);
    buf_init(&url, 0);
    {
        const char *ado = a->cfg.ado_service_connection_id;
        struct buf q;
        buf_init(&q, 0);
        rc = ado ? (form_add(&q, "api-version", "7.1") < 0 ||
                    form_add(&q, "serviceConnectionId", ado) < 0)
                 : form_add(&q, "audience", "api://AzureADTokenExchange") < 0;
        if (rc || buf_adds(&url, a->cfg.oidc_request_url) < 0 ||
            buf_adds(&url, strchr(a->cfg.oidc_request_url, '?') ? "&" : "?") < 0 ||
            buf_adds(&url, q.ptr) < 0) {
            buf_release(&q);
            buf_release(&url);
            return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
        }
        buf_release(&q);
    }
    rc = a->cfg.ado_service_connection_id
             ? new_request(&x, "POST", url.ptr, "{}", "application/json", err)
             : new_request(&x, "GET", url.ptr, NULL, NULL, err);
    if (rc == 0) {
        struct buf h;
        buf_init(&h, 0);
        if (buf_addf(&h, "Bearer %s", a->cfg.oidc_request_token) < 0 ||
            http_exchange_add_header(&x, "Authorization", h.ptr) < 0)
            rc = errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
        OPENSSL_cleanse(h.ptr, h.len);
        buf_release(&h);
    }
    if (rc == 0)
        rc = send_token_request(a, &x,
                                a->cfg.ado_service_connection_id ? "Azure DevOps OIDC token"
                                                                 : "GitHub Actions OIDC token",
                                false, err);
    if (rc == 0) {
        const char *field = a->cfg.ado_service_connection_id ? "oidcToken" : "value";
        root = json_loadb(x.resp_body.ptr, x.resp_body.len, 0, NULL);
        v = json_string_value(json_object_get(root, field));
        if (v == NULL || *v == '\0') {
            rc = errbuf_set(err, AMLSEC_EPARSE, "OIDC token response without '%s'", field);
        } else {
            redact_register(v);
            *out = strdup(v);
            if (*out == NULL)
                rc = errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
        }
        json_decref(root);
    }
    http_exchange_release(&x);
    buf_release(&url);
    return rc;
}

static int entra_token(struct auth *a, const char *tenant, const char *scope, struct errbuf *err)
{
    struct buf form, url;
    struct http_exchange x;
    char *assertion = NULL;
    int rc;

    buf_init(&form, 0);
    buf_init(&url, 0);
    http_exchange_init(&x);
    if (buf_addf(&url, "%s/%s/oauth2/v2.0/token", a->cloud->login,
                 tenant ? tenant : a->cfg.tenant_id) < 0) {
        rc = errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
        goto out;
    }
    if (a->cfg.method == AUTH_CLIENT_CERTIFICATE) {
        rc = jwt_client_assertion(&assertion, a->signer, a->cfg.certificate_alg, a->cfg.client_id,
                                  url.ptr, arm_clock_wall(a->clock), err);
        if (rc < 0)
            goto out;
        redact_register(assertion);
    } else if (a->cfg.method == AUTH_OIDC) {
        rc = oidc_assertion(a, &assertion, err);
        if (rc < 0)
            goto out;
    }
    rc = AMLSEC_ENOMEM;
    if (form_add(&form, "grant_type", "client_credentials") < 0 ||
        form_add(&form, "client_id", a->cfg.client_id) < 0 || form_add(&form, "scope", scope) < 0 ||
        (a->cfg.method == AUTH_CLIENT_SECRET &&
         form_add(&form, "client_secret", a->cfg.client_secret) < 0) ||
        (assertion && (form_add(&form, "client_assertion_type",
                                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer") < 0 ||
                       form_add(&form, "client_assertion", assertion) < 0))) {
        errbuf_set(err, rc, "out of memory");
        goto out;
    }
    if ((rc = new_request(&x, "POST", url.ptr, form.ptr, NULL, err)) < 0)
        goto out;
    if ((rc = send_token_request(a, &x, auth_method_name(a->cfg.method), false, err)) < 0)
        goto out;
    rc = parse_token(a, tenant, scope, x.resp_body.ptr, x.resp_body.len, err);
out:
    if (assertion) {
        OPENSSL_cleanse(assertion, strlen(assertion));
        free(assertion);
    }
    OPENSSL_cleanse(form.ptr, form.len);
    if (x.body)
        OPENSSL_cleanse(x.body, x.body_len);
    buf_release(&form);
    buf_release(&url);
    http_exchange_release(&x);
    return rc;
}

static int msi_token(struct auth *a, const char *scope, struct errbuf *err)
{
    struct buf url;
    struct http_exchange x;
    char *resource = resource_of(scope);
    int app_service = a->cfg.msi_secret != NULL;
    const char *endpoint = a->cfg.msi_endpoint
                               ? a->cfg.msi_endpoint
                               : "http://169.254.169.254/metadata/identity/oauth2/token";
    int rc = AMLSEC_ENOMEM;

    buf_init(&url, 0);
    http_exchange_init(&x);
    if (resource == NULL)
        goto oom;
    if (buf_adds(&url, endpoint) < 0 || buf_adds(&url, strchr(endpoint, '?') ? "&" : "?") < 0)
        goto oom;
    {
        struct buf q;
        buf_init(&q, 0);
        if (form_add(&q, "api-version", app_service ? "2019-08-01" : "2018-02-01") < 0 ||
            form_add(&q, "resource", resource) < 0 ||
            (a->cfg.client_id && form_add(&q, "client_id", a->cfg.client_id) < 0) ||
            buf_adds(&url, q.ptr) < 0) {
            buf_release(&q);
            goto oom;
        }
        buf_release(&q);
    }
    if ((rc = new_request(&x, "GET", url.ptr, NULL, NULL, err)) < 0)
        goto out;
    if (app_service) {
        /* App Service / Functions: IDENTITY_HEADER (x-identity-header); the
         * x-ms-identity spelling is what go-azure-sdk sends. */
        if (http_exchange_add_header(&x, "X-IDENTITY-HEADER", a->cfg.msi_secret) < 0 ||
            http_exchange_add_header(&x, "x-ms-identity", a->cfg.msi_secret) < 0)
            goto oom;
    } else if (http_exchange_add_header(&x, "Metadata", "true") < 0) {
        goto oom;
    }
    if ((rc = send_token_request(a, &x, "managed identity", !app_service, err)) < 0)
        goto out;
    rc = parse_token(a, NULL, scope, x.resp_body.ptr, x.resp_body.len, err);
    goto out;
oom:
    rc = errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
out:
    free(resource);
    buf_release(&url);
    http_exchange_release(&x);
    return rc;
}

/* Runs argv, capturing stdout and stderr (each capped), for at most
 * timeout_ms. Returns the exit status in *status (-1 when killed). */
static int run_capture(char *const argv[], struct buf *out, struct buf *errout, int64_t timeout_ms,
                       int *status, struct errbuf *err)
{
    int po[2] = {-1, -1}, pe[2] = {-1, -1};
    pid_t pid;
    int open_fds = 2, rc = 0, ws = 0;
    struct timespec t0, t1;

    if (pipe2(po, O_CLOEXEC) < 0 || pipe2(pe, O_CLOEXEC) < 0) {
        rc = errbuf_set(err, AMLSEC_EIO, "pipe: %s", strerror(errno));
        goto out;
    }
    pid = fork();
    if (pid < 0) {
        rc = errbuf_set(err, AMLSEC_EIO, "fork: %s", strerror(errno));
        goto out;
    }
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0)
            dup2(devnull, 0);
        dup2(po[1], 1);
        dup2(pe[1], 2);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(po[1]);
    close(pe[1]);
    po[1] = pe[1] = -1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (open_fds > 0) {
        struct pollfd fds[2] = {{po[0], POLLIN, 0}, {pe[0], POLLIN, 0}};
        char chunk[4096];
        int64_t left;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        left = timeout_ms -
               ((int64_t)(t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000);
        if (left <= 0) {
            kill(pid, SIGKILL);
            rc = errbuf_set(err, AMLSEC_ERROR, "'%s' did not answer within %lld s", argv[0],
                            (long long)(timeout_ms / 1000));
            break;
        }
        if (poll(fds, 2, (int)left) < 0) {
            if (errno == EINTR)
                continue;
            kill(pid, SIGKILL);
            rc = errbuf_set(err, AMLSEC_EIO, "poll: %s", strerror(errno));
            break;
        }
        for (int i = 0; i < 2; i++) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            ssize_t n = read(fds[i].fd, chunk, sizeof(chunk));
            if (n <= 0) {
                close(i == 0 ? po[0] : pe[0]);
                if (i == 0)
                    po[0] = -1;
                else
                    pe[0] = -1;
                open_fds--;
            } else {
                buf_add(i == 0 ? out : errout, chunk, (size_t)n); /* capped: excess dropped */
            }
        }
    }
    while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
        ;
    *status = WIFEXITED(ws) ? WEXITSTATUS(ws) : -1;
out:
    for (int i = 0; i < 2; i++) {
        if (po[i] >= 0)
            close(po[i]);
        if (pe[i] >= 0)
            close(pe[i]);
    }
    return rc;
}

static int cli_token(struct auth *a, const char *tenant, const char *scope, struct errbuf *err)
{
    struct buf out, errout;
    char *resource = resource_of(scope);
    char *argv[12];
    int n = 0, status = 0, rc;

    buf_init(&out, MAX_TOKEN_RESPONSE);
    buf_init(&errout, 8192);
    if (resource == NULL)
        return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    argv[n++] = a->cfg.az_command;
    argv[n++] = "account";
    argv[n++] = "get-access-token";
    argv[n++] = "--resource";
    argv[n++] = resource;
    argv[n++] = "--output";
    argv[n++] = "json";
    if (tenant || a->cfg.tenant_id) {
        argv[n++] = "--tenant";
        argv[n++] = tenant ? (char *)tenant : a->cfg.tenant_id;
    }
    argv[n] = NULL;
    a->requests++;
    rc = run_capture(argv, &out, &errout, 60000, &status, err);
    if (rc == 0 && status == 127) {
        rc = errbuf_set(err, AMLSEC_EUSAGE,
                        "Azure CLI sign-in: '%s' is not installed (or set ARM_USE_CLI=false and "
                        "configure another method)",
                        a->cfg.az_command);
    } else if (rc == 0 && status != 0) {
        char *r;
        while (errout.len && (errout.ptr[errout.len - 1] == '\n'))
            errout.ptr[--errout.len] = '\0';
        for (size_t i = 0; i < errout.len; i++)
            if (errout.ptr[i] == '\n' || errout.ptr[i] == '\r')
                errout.ptr[i] = ' ';
        r = redact_dup(errout.ptr);
        rc = errbuf_set(err, AMLSEC_EHTTP, "Azure CLI sign-in failed (exit %d): %.400s", status,
                        r ? r : "");
        free(r);
    } else if (rc == 0) {
        rc = parse_token(a, tenant, scope, out.ptr, out.len, err);
        if (rc < 0)
            errbuf_prefix(err, "Azure CLI sign-in");
    }
    OPENSSL_cleanse(out.ptr, out.len);
    buf_release(&out);
    buf_release(&errout);
    free(resource);
    return rc;
}

/* --- public ------------------------------------------------------------- */

/* A token of (tenant, scope) from the cache or a new sign-in; tenant NULL
 * = the configured one. *out is borrowed until the next call. */
static int token_for(struct auth *a, const char *tenant, const char *scope, const char **out,
                     struct errbuf *err)
{
    int64_t now = arm_clock_wall(a->clock);
    struct token_entry *e = cache_find(a, tenant, scope);
    int rc;

    *out = NULL;
    /* a token still valid is used even after a refusal for another scope
     * or tenant; a refused sign-in is never tried again */
    if (e && now < e->refresh_at) {
        *out = e->token;
        return 0;
    }
    if (a->failed) {
        *err = a->failure;
        return a->failure.code;
    }
    log_msg(LOG_DEBUG, "auth: signing in with %s for '%s'%s%s", auth_method_name(a->cfg.method),
            scope, tenant ? " in auxiliary tenant " : "", tenant ? tenant : "");
    switch (a->cfg.method) {
    case AUTH_CLIENT_SECRET:
    case AUTH_CLIENT_CERTIFICATE:
    case AUTH_OIDC:
        rc = entra_token(a, tenant, scope, err);
        break;
    case AUTH_MSI:
        rc = tenant ? errbuf_set(err, AMLSEC_EUSAGE, "a managed identity has no auxiliary tenants")
                    : msi_token(a, scope, err);
        break;
    case AUTH_CLI:
        rc = cli_token(a, tenant, scope, err);
        break;
    default:
        return errbuf_set(err, AMLSEC_EUSAGE, "no sign-in method configured");
    }
    if (rc < 0)
        return rc;
    if ((e = cache_find(a, tenant, scope)) == NULL)
        BUG("token for '%s' missing from the cache", scope);
    *out = e->token;
    return 0;
}

int auth_token(struct auth *a, const char *scope, const char **out, struct errbuf *err)
{
    return token_for(a, NULL, scope, out, err);
}

int auth_aux_header(struct auth *a, const char *scope, const char **out, struct errbuf *err)
{
    *out = NULL;
    if (a->cfg.n_aux_tenants == 0)
        return 0;
    if (a->aux_header.len)
        OPENSSL_cleanse(a->aux_header.ptr, a->aux_header.len);
    buf_reset(&a->aux_header);
    for (size_t i = 0; i < a->cfg.n_aux_tenants; i++) {
        const char *tok;
        int rc = token_for(a, a->cfg.aux_tenants[i], scope, &tok, err);
        if (rc < 0)
            return errbuf_prefix(err, "auxiliary tenant '%s'", a->cfg.aux_tenants[i]);
        if (buf_addf(&a->aux_header, "%sBearer %s", i ? ", " : "", tok) < 0)
            return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    }
    *out = a->aux_header.ptr;
    return 0;
}

static int token_source_aux(void *payload, const char *scope, const char **out, struct errbuf *err)
{
    return auth_aux_header(payload, scope, out, err);
}

static int token_source_get(void *payload, const char *scope, const char **out, struct errbuf *err)
{
    return auth_token(payload, scope, out, err);
}

/* ARM refused a token of scope: the primary's or an auxiliary one, so all. */
void auth_invalidate(struct auth *a, const char *scope)
{
    for (size_t i = 0; i < a->n_cache; i++)
        if (strcmp(a->cache[i].scope, scope) == 0)
            a->cache[i].refresh_at = 0;
}

static void token_source_invalidate(void *payload, const char *scope)
{
    auth_invalidate(payload, scope);
}

struct arm_token_source auth_token_source(struct auth *a)
{
    struct arm_token_source s = {token_source_get, a, token_source_invalidate, token_source_aux};
    return s;
}

unsigned auth_request_count(const struct auth *a)
{
    return a->requests;
}

int auth_new(struct auth **out, const struct auth_config *cfg, const struct arm_cloud *cloud,
             struct transport *t, const struct arm_clock *clock, struct errbuf *err)
{
    struct auth *a;
    int rc;

    *out = NULL;
    a = calloc(1, sizeof(*a));
    if (a == NULL)
        return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    if (config_copy(&a->cfg, cfg) < 0) {
        free(a);
        return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    }
    register_encoded(a->cfg.client_secret);
    buf_init(&a->aux_header, 64 * 1024);
    a->cloud = cloud;
    a->t = t;
    a->clock = clock ? clock : arm_clock_real();
    if (a->cfg.method == AUTH_CLIENT_CERTIFICATE) {
        if (a->cfg.certificate_path) {
            rc = jwt_signer_load_file(&a->signer, a->cfg.certificate_path,
                                      a->cfg.certificate_password, err);
        } else {
            struct buf der;
            buf_init(&der, 0);
            rc = base64_decode(&der, a->cfg.certificate_data, strlen(a->cfg.certificate_data));
            if (rc < 0)
                rc = errbuf_set(err, AMLSEC_EUSAGE, "ARM_CLIENT_CERTIFICATE is not base64");
            else
                rc = jwt_signer_load(&a->signer, der.ptr, der.len, a->cfg.certificate_password,
                                     "ARM_CLIENT_CERTIFICATE", err);
            OPENSSL_cleanse(der.ptr, der.len);
            buf_release(&der);
        }
        if (rc < 0) {
            auth_free(a);
            return rc;
        }
    }
    if ((a->cfg.method == AUTH_CLIENT_SECRET || a->cfg.method == AUTH_CLIENT_CERTIFICATE ||
         a->cfg.method == AUTH_OIDC) &&
        (a->cfg.client_id == NULL || a->cfg.tenant_id == NULL)) {
        auth_free(a);
        return errbuf_set(err, AMLSEC_EUSAGE, "sign-in needs a client id and a tenant id");
    }
    *out = a;
    return 0;
}

void auth_free(struct auth *a)
{
    if (a == NULL)
        return;
    for (size_t i = 0; i < a->n_cache; i++) {
        free(a->cache[i].scope);
        free(a->cache[i].tenant);
        wipe_free(a->cache[i].token);
    }
    free(a->cache);
    if (a->aux_header.len)
        OPENSSL_cleanse(a->aux_header.ptr, a->aux_header.len);
    buf_release(&a->aux_header);
    jwt_signer_free(a->signer);
    auth_config_release(&a->cfg);
    free(a);
}
