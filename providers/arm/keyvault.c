#include "providers/arm/keyvault.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/buf.h"
#include "util/error.h"
#include "util/jsonw.h"
#include "util/banned.h"

static const json_t *props_get(const json_t *key, const char *name)
{
    return json_object_get(json_object_get(key, "properties"), name);
}

/* Sets dst[name] to a copy of v when v is present. */
static void copy_to(json_t *dst, const char *name, const json_t *v)
{
    if (v && !json_is_null(v))
        json_object_set_new(dst, name, json_deep_copy(v));
}

/* The key attributes the data plane accepts on create and update. */
static json_t *attributes_of(const json_t *want)
{
    static const char *const names[] = {"enabled", "nbf", "exp", "exportable"};
    const json_t *a = props_get(want, "attributes");
    json_t *out = json_object();
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        copy_to(out, names[i], json_object_get(a, names[i]));
    return out;
}

static json_t *new_version_body(const json_t *want)
{
    json_t *b = json_object();
    copy_to(b, "kty", props_get(want, "kty"));
    copy_to(b, "key_size", props_get(want, "keySize"));
    copy_to(b, "crv", props_get(want, "curveName"));
    copy_to(b, "key_ops", props_get(want, "keyOps"));
    json_object_set_new(b, "attributes", attributes_of(want));
    copy_to(b, "tags", json_object_get(want, "tags"));
    return b;
}

static json_t *update_body(const json_t *want)
{
    json_t *b = json_object();
    json_object_set_new(b, "attributes", attributes_of(want));
    copy_to(b, "key_ops", props_get(want, "keyOps"));
    copy_to(b, "tags", json_object_get(want, "tags"));
    return b;
}

json_t *keyvault_policy_from_arm(const json_t *arm_policy)
{
    json_t *p, *actions;
    size_t i;
    json_t *la;
    if (!json_is_object(arm_policy))
        return NULL;
    p = json_deep_copy(arm_policy);
    json_object_del(p, "id");
    actions = json_object_get(p, "lifetimeActions");
    json_array_foreach(actions, i, la)
    {
        json_t *action = json_object_get(la, "action");
        const char *type = json_string_value(json_object_get(action, "type"));
        char cap[32];
        if (type == NULL || strlen(type) >= sizeof(cap))
            continue;
        snprintf(cap, sizeof(cap), "%s", type);
        cap[0] = (char)toupper((unsigned char)cap[0]);
        json_object_set_new(action, "type", json_string(cap));
    }
    if (json_object_get(p, "attributes") == NULL)
        json_object_set_new(p, "attributes", json_object());
    return p;
}

/* The length of "scheme://authority" at the start of url, 0 when none. */
static size_t origin_len(const char *url)
{
    const char *p = strstr(url, "://");
    if (p == NULL || p == url)
        return 0;
    p += 3;
    return (size_t)(p - url) + strcspn(p, "/?#");
}

/* The length of "scheme://host" in an origin of length n (its port left out). */
static size_t host_len(const char *url, size_t n)
{
    const char *host = strstr(url, "://") + 3;
    const char *end = url + n, *colon = NULL;
    for (const char *q = host; q < end; q++)
        if (*q == ':')
            colon = q;
        else if (*q == ']')
            colon = NULL; /* a colon inside [IPv6] is not the port's */
    return (size_t)((colon ? colon : end) - url);
}

/* Whether the origin of length n is on loopback (http(s)://127.x, localhost, [::1]). */
static int loopback_origin(const char *url, size_t n)
{
    const char *host = strstr(url, "://") + 3;
    size_t h = host_len(url, n) - (size_t)(host - url);
    return (h > 4 && strncmp(host, "127.", 4) == 0) ||
           (h == 9 && strncasecmp(host, "localhost", 9) == 0) ||
           (h == 5 && strncmp(host, "[::1]", 5) == 0);
}

int keyvault_url_trusted(const struct arm_cloud *cloud, const char *url)
{
    size_t n = origin_len(url), rn = origin_len(cloud->resource_manager);
    const char *host, *suffix = cloud->keyvault_suffix;
    size_t hlen, slen;
    if (n == 0 || strchr(url, '@') != NULL)
        return 0;
    /* a custom cloud (local, Azure Stack) serving the data plane on its own host */
    if (cloud->owned && rn && n == rn && strncasecmp(url, cloud->resource_manager, n) == 0)
        return 1;
    /* a local cloud on loopback serves each vault on a port of its own */
    if (cloud->owned && rn && loopback_origin(cloud->resource_manager, rn)) {
        size_t h = host_len(url, n), rh = host_len(cloud->resource_manager, rn);
        if (h == rh && strncasecmp(url, cloud->resource_manager, h) == 0)
            return 1;
    }
    if (strncasecmp(url, "https://", 8) != 0 || suffix == NULL || suffix[0] == '\0')
        return 0;
    host = url + 8;
    hlen = n - 8;
    if (hlen > 4 && strncmp(host + hlen - 4, ":443", 4) == 0)
        hlen -= 4;
    slen = strlen(suffix);
    return hlen > slen + 1 && host[hlen - slen - 1] == '.' &&
           strncasecmp(host + hlen - slen, suffix, slen) == 0 && memchr(host, ':', hlen) == NULL;
}

/* Sends one data-plane request; on failure moves it into *out (its error
 * named by what) and returns its rc. */
static int send(struct arm_client *c, const char *what, const char *method, const char *url,
                const json_t *body, struct arm_call *out)
{
    struct arm_call x;
    char *text = body ? jsonw_dumps(body, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    int rc;
    memset(&x, 0, sizeof(x));
    if (body && text == NULL)
        return out->rc = errbuf_set(&out->err, AMLSEC_ENOMEM, "out of memory");
    x.method = method;
    x.url = url;
    x.api_version = KEYVAULT_API_VERSION;
    x.body = text;
    x.scope = arm_client_cloud(c)->keyvault_scope;
    x.flags = ARM_CALL_NO_LRO;
    rc = arm_client_call(c, &x);
    free(text);
    if (rc == 0) {
        arm_call_release(&x);
        return 0;
    }
    *out = x;
    out->method = method;
    out->url = NULL; /* it pointed into the caller's buffer */
    out->body = NULL;
    errbuf_set(&out->err, rc, "%s (Key Vault data plane): %s", what, x.err.msg);
    return rc;
}

/* GET of the key through ARM into *out. */
static int read_key(struct arm_client *c, const char *key_id, const char *api_version,
                    struct arm_call *out, json_t **body)
{
    arm_call_release(out);
    memset(out, 0, sizeof(*out));
    out->method = "GET";
    out->url = key_id;
    out->api_version = api_version;
    if (arm_client_call(c, out) < 0)
        return out->rc;
    *body = json_loadb(out->response ? out->response : "", out->response_len, 0, NULL);
    if (*body == NULL)
        return out->rc =
                   errbuf_set(&out->err, AMLSEC_EPARSE, "GET '%s': answer is not JSON", key_id);
    return 0;
}

int keyvault_key_update(struct arm_client *c, const char *key_id, const char *api_version,
                        const json_t *want, unsigned parts, struct arm_call *out)
{
    const struct arm_cloud *cloud = arm_client_cloud(c);
    json_t *key = NULL, *body = NULL;
    const char *uri, *versioned;
    struct buf url;
    int rc;

    memset(out, 0, sizeof(*out));
    buf_init(&url, 0);
    if ((rc = read_key(c, key_id, api_version, out, &key)) < 0)
        goto done;
    uri = json_string_value(props_get(key, "keyUri"));
    versioned = json_string_value(props_get(key, "keyUriWithVersion"));
    if (uri == NULL || versioned == NULL) {
        rc = out->rc = errbuf_set(&out->err, AMLSEC_EPARSE,
                                  "key '%s': ARM reports no keyUri/keyUriWithVersion", key_id);
        goto done;
    }
    if (!keyvault_url_trusted(cloud, uri) || !keyvault_url_trusted(cloud, versioned)) {
        rc = out->rc = errbuf_set(&out->err, AMLSEC_EHTTP,
                                  "key '%s': refusing to send a Key Vault token to '%s': it is "
                                  "not a Key Vault host of this cloud (*.%s)",
                                  key_id, uri, cloud->keyvault_suffix);
        goto done;
    }
    arm_call_release(out);
    memset(out, 0, sizeof(*out));
    if (parts & PROVIDER_DP_NEW_VERSION) {
        buf_reset(&url);
        buf_addf(&url, "%s%screate", uri, uri[strlen(uri) - 1] == '/' ? "" : "/");
        body = new_version_body(want);
        if ((rc = send(c, "new key version", "POST", url.ptr, body, out)) < 0)
            goto done;
        json_decref(body);
        body = NULL;
    }
    if ((parts & PROVIDER_DP_POLICY) && props_get(want, "rotationPolicy")) {
        buf_reset(&url);
        buf_addf(&url, "%s%srotationpolicy", uri, uri[strlen(uri) - 1] == '/' ? "" : "/");
        body = keyvault_policy_from_arm(props_get(want, "rotationPolicy"));
        if ((rc = send(c, "rotation policy", "PUT", url.ptr, body, out)) < 0)
            goto done;
        json_decref(body);
        body = NULL;
    }
    if ((parts & PROVIDER_DP_ATTRIBUTES) && !(parts & PROVIDER_DP_NEW_VERSION)) {
        body = update_body(want);
        if ((rc = send(c, "key attributes", "PATCH", versioned, body, out)) < 0)
            goto done;
    }
    json_decref(key);
    key = NULL;
    rc = read_key(c, key_id, api_version, out, &key);
done:
    if (out->url == NULL)
        out->url = key_id;
    json_decref(key);
    json_decref(body);
    buf_release(&url);
    return rc;
}
