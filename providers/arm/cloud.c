#include "providers/arm/cloud.h"
#include "util/error.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/banned.h"

static const struct arm_cloud builtins[] = {
    {"public", "https://login.microsoftonline.com", "https://management.azure.com",
     "https://management.azure.com/.default", "https://vault.azure.net/.default",
     "https://storage.azure.com/.default", "vault.azure.net", "core.windows.net", NULL},
    {"usgovernment", "https://login.microsoftonline.us", "https://management.usgovcloudapi.net",
     "https://management.usgovcloudapi.net/.default", "https://vault.usgovcloudapi.net/.default",
     "https://storage.azure.com/.default", "vault.usgovcloudapi.net", "core.usgovcloudapi.net",
     NULL},
    {"china", "https://login.chinacloudapi.cn", "https://management.chinacloudapi.cn",
     "https://management.chinacloudapi.cn/.default", "https://vault.azure.cn/.default",
     "https://storage.azure.com/.default", "vault.azure.cn", "core.chinacloudapi.cn", NULL},
};

const struct arm_cloud *arm_cloud_builtin(const char *name)
{
    static const char *const aliases[][2] = {
        {"public", "public"},
        {"azurecloud", "public"},
        {"azurepubliccloud", "public"},
        {"usgovernment", "usgovernment"},
        {"azureusgovernment", "usgovernment"},
        {"azureusgovernmentcloud", "usgovernment"},
        {"china", "china"},
        {"azurechinacloud", "china"},
    };
    if (name == NULL || *name == '\0')
        name = "public";
    for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++)
        if (strcasecmp(name, aliases[i][0]) == 0)
            for (size_t j = 0; j < sizeof(builtins) / sizeof(builtins[0]); j++)
                if (strcmp(builtins[j].name, aliases[i][1]) == 0)
                    return &builtins[j];
    return NULL;
}

/* All strings of a custom cloud live in one allocation list. */
struct owned {
    char *s[8];
};

static char *trim_dup(const char *s)
{
    size_t n;
    char *p;
    if (s == NULL)
        return NULL;
    n = strlen(s);
    while (n && s[n - 1] == '/')
        n--;
    p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

static char *scope_of(const char *audience)
{
    /* "https://management.core.windows.net/" -> ".../.default" */
    char *t = trim_dup(audience);
    char *p;
    size_t n;
    if (t == NULL)
        return NULL;
    n = strlen(t);
    if (n >= 9 && strcmp(t + n - 9, "/.default") == 0)
        return t;
    p = malloc(n + 10);
    if (p) {
        memcpy(p, t, n);
        memcpy(p + n, "/.default", 10);
    }
    free(t);
    return p;
}

void arm_cloud_free(struct arm_cloud *c)
{
    struct owned *o;
    if (c == NULL || c->owned == NULL)
        return;
    o = c->owned;
    for (size_t i = 0; i < sizeof(o->s) / sizeof(o->s[0]); i++)
        free(o->s[i]);
    free(o);
    free(c);
}

int arm_cloud_custom(struct arm_cloud **out, const char *name, const char *login,
                     const char *resource_manager, const char *arm_scope,
                     const char *keyvault_scope, const char *storage_scope, struct errbuf *err)
{
    const struct arm_cloud *pub = arm_cloud_builtin("public");
    struct arm_cloud *c = calloc(1, sizeof(*c));
    struct owned *o = calloc(1, sizeof(*o));

    *out = NULL;
    if (c == NULL || o == NULL) {
        free(c);
        free(o);
        return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    }
    c->owned = o;
    if (login == NULL || resource_manager == NULL) {
        arm_cloud_free(c);
        return errbuf_set(err, AMLSEC_EUSAGE,
                          "a custom cloud needs a login and a resource manager endpoint");
    }
    o->s[0] = strdup(name ? name : "custom");
    o->s[1] = trim_dup(login);
    o->s[2] = trim_dup(resource_manager);
    o->s[3] = scope_of(arm_scope ? arm_scope : resource_manager);
    o->s[4] = scope_of(keyvault_scope ? keyvault_scope : pub->keyvault_scope);
    o->s[5] = scope_of(storage_scope ? storage_scope : pub->storage_scope);
    for (int i = 0; i < 6; i++)
        if (o->s[i] == NULL) {
            arm_cloud_free(c);
            return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
        }
    c->name = o->s[0];
    c->login = o->s[1];
    c->resource_manager = o->s[2];
    c->arm_scope = o->s[3];
    c->keyvault_scope = o->s[4];
    c->storage_scope = o->s[5];
    c->keyvault_suffix = pub->keyvault_suffix;
    c->storage_suffix = pub->storage_suffix;
    *out = c;
    return 0;
}

static int same_host(const char *a, const char *b)
{
    const char *pa = strstr(a, "://"), *pb = strstr(b, "://");
    size_t na, nb;
    if (pa == NULL || pb == NULL)
        return 0;
    pa += 3;
    pb += 3;
    na = strcspn(pa, "/");
    nb = strcspn(pb, "/");
    return na == nb && strncasecmp(pa, pb, na) == 0;
}

int arm_cloud_from_metadata(struct arm_cloud **out, const char *json, size_t len, const char *name,
                            struct errbuf *err)
{
    json_error_t jerr;
    json_t *root = json_loadb(json, len, 0, &jerr), *entry = NULL;
    json_t *auth, *aud, *suffixes;
    const char *login, *rm, *audience = NULL, *kv, *st;
    struct owned *o;
    int rc;

    *out = NULL;
    if (root == NULL)
        return errbuf_set(err, AMLSEC_EPARSE, "cloud metadata: line %d: %s", jerr.line, jerr.text);
    if (json_is_array(root)) {
        size_t i;
        json_t *v;
        json_array_foreach(root, i, v)
        {
            const char *n = json_string_value(json_object_get(v, "name"));
            if (name == NULL || (n && strcasecmp(n, name) == 0)) {
                entry = v;
                break;
            }
        }
    } else if (json_is_object(root)) {
        entry = root;
    }
    if (!json_is_object(entry)) {
        rc = errbuf_set(err, AMLSEC_ENOTFOUND, "cloud metadata has no cloud named '%s'",
                        name ? name : "(any)");
        goto out;
    }
    auth = json_object_get(entry, "authentication");
    login = json_string_value(json_object_get(auth, "loginEndpoint"));
    rm = json_string_value(json_object_get(entry, "resourceManager"));
    aud = json_object_get(auth, "audiences");
    if (json_is_array(aud) && json_array_size(aud) > 0) {
        /* Prefer the audience on the resource manager's own host. */
        size_t i;
        json_t *v;
        audience = json_string_value(json_array_get(aud, 0));
        json_array_foreach(aud, i, v)
        {
            const char *a = json_string_value(v);
            if (a && rm && same_host(a, rm))
                audience = a;
        }
    }
    if (login == NULL || rm == NULL) {
        rc = errbuf_set(err, AMLSEC_EPARSE,
                        "cloud metadata lacks authentication.loginEndpoint or resourceManager");
        goto out;
    }
    suffixes = json_object_get(entry, "suffixes");
    kv = json_string_value(json_object_get(suffixes, "keyVaultDns"));
    st = json_string_value(json_object_get(suffixes, "storage"));
    {
        char kvscope[256];
        if (kv)
            snprintf(kvscope, sizeof(kvscope), "https://%s", kv);
        rc = arm_cloud_custom(out, json_string_value(json_object_get(entry, "name")), login, rm,
                              audience ? audience : rm, kv ? kvscope : NULL, NULL, err);
    }
    if (rc < 0)
        goto out;
    o = (*out)->owned;
    if (kv && (o->s[6] = strdup(kv)) != NULL)
        (*out)->keyvault_suffix = o->s[6];
    if (st && (o->s[7] = strdup(st)) != NULL)
        (*out)->storage_suffix = o->s[7];
    rc = 0;
out:
    json_decref(root);
    return rc;
}

int arm_cloud_fetch(struct arm_cloud **out, struct transport *t, const char *host, const char *name,
                    struct errbuf *err)
{
    struct http_exchange x;
    char url[512];
    int rc;

    *out = NULL;
    if (strstr(host, "://"))
        snprintf(url, sizeof(url), "%s/metadata/endpoints?api-version=2022-09-01", host);
    else
        snprintf(url, sizeof(url), "https://%s/metadata/endpoints?api-version=2022-09-01", host);
    http_exchange_init(&x);
    x.timeout_ms = 30000;
    x.max_response = 1 << 20;
    if ((rc = http_exchange_set_request(&x, "GET", url, NULL, 0)) < 0 ||
        (rc = http_exchange_add_header(&x, "Accept", "application/json")) < 0) {
        rc = errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = transport_roundtrip(t, &x, err)) < 0)
        goto out;
    if (x.fail != HTTP_FAIL_NONE) {
        rc = errbuf_set(err, AMLSEC_EHTTP, "cloud metadata '%s': %s: %s", url,
                        http_fail_name(x.fail), x.fail_msg);
        goto out;
    }
    if (x.status != 200) {
        rc = errbuf_set(err, AMLSEC_EHTTP, "cloud metadata '%s': HTTP %ld", url, x.status);
        goto out;
    }
    rc = arm_cloud_from_metadata(out, x.resp_body.ptr, x.resp_body.len, name, err);
out:
    http_exchange_release(&x);
    return rc;
}

int arm_cloud_resolve(const struct arm_cloud **out, struct arm_cloud **owned,
                      const char *environment, const char *metadata_host, struct transport *t,
                      struct errbuf *err)
{
    *out = NULL;
    *owned = NULL;
    if (metadata_host && *metadata_host) {
        int rc = arm_cloud_fetch(owned, t, metadata_host, environment, err);
        if (rc < 0)
            return errbuf_prefix(err, "ARM_METADATA_HOSTNAME '%s'", metadata_host);
        *out = *owned;
        return 0;
    }
    *out = arm_cloud_builtin(environment);
    if (*out == NULL)
        return errbuf_set(err, AMLSEC_EUSAGE,
                          "ARM_ENVIRONMENT '%s' is not public, usgovernment or china (set "
                          "ARM_METADATA_HOSTNAME for Azure Stack or a custom cloud)",
                          environment);
    return 0;
}
