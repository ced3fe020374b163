/* Key Vault keys: the ARM resource's first version (Keys_CreateIfNotExist)
 * and the data plane (7.x) served at the vaultUri armlocal returns,
 * {base}/_vault/{vault}/. New versions, rotation, attribute updates and the
 * rotation policy go through the data plane, as in Azure.
 *
 * Key material is random bytes shaped like an RSA public key (n, e): the
 * local cloud performs no cryptographic operations with it. */
#include "providers/armlocal/al_internal.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/base64.h"
#include "util/banned.h"

static const char *str(const json_t *v)
{
    return json_is_string(v) ? json_string_value(v) : "";
}

static json_t *fake_modulus(struct armlocal *al, int bits)
{
    unsigned char raw[512];
    char hex[33];
    struct buf b64;
    json_t *out;
    int n = bits / 8;
    if (n <= 0 || n > (int)sizeof(raw))
        n = 256;
    for (int i = 0; i < n; i += 16) {
        al_hex32(al, hex);
        for (int j = 0; j < 16 && i + j < n; j++) {
            unsigned v;
            sscanf(hex + 2 * j, "%2x", &v);
            raw[i + j] = (unsigned char)v;
        }
    }
    raw[0] |= 0x80;
    buf_init(&b64, 0);
    out = base64url_encode(&b64, raw, (size_t)n) == 0 ? json_string(b64.ptr) : NULL;
    buf_release(&b64);
    return out;
}

/* Random bytes of an EC coordinate's size, base64url (no padding). */
static json_t *fake_coordinate(struct armlocal *al, const char *crv)
{
    int bits = strcmp(crv, "P-384") == 0 ? 384 : strcmp(crv, "P-521") == 0 ? 528 : 256;
    json_t *v = fake_modulus(al, bits);
    return v;
}

static int is_ec(const char *kty)
{
    return kty && strncmp(kty, "EC", 2) == 0;
}

/* The data-plane base of the vault holding the key: the vault's vaultUri. */
static const char *vault_uri_of_key(struct armlocal *al, const json_t *body, char *out, size_t cap)
{
    /* the key's id is {vault id}/keys/{name} */
    const char *id = str(json_object_get(body, "id"));
    const char *p = strstr(id, "/keys/");
    char vid[2048];
    json_t *vault;

    snprintf(vid, sizeof(vid), "%.*s", p ? (int)(p - id) : 0, id);
    vault = json_object_get(al_rec_get(al, vid), "body");
    if (json_is_string(al_jpath(vault, "properties.vaultUri"))) {
        snprintf(out, cap, "%s", str(al_jpath(vault, "properties.vaultUri")));
    } else {
        const char *name = strrchr(vid, '/');
        al_vault_base(al, name ? name + 1 : "vault", out, cap);
    }
    return out;
}

/* Adds a version to the key body (in body._versions) and refreshes the ARM
 * view (keyUri, keyUriWithVersion, attributes). */
static json_t *add_version(struct al_ctx *c, json_t *body, const json_t *req_attrs)
{
    char ver[33], uri[1024], vault[600];
    json_t *versions = json_object_get(body, "_versions"), *v, *props;
    int64_t now = c->now_ms / 1000;
    const char *name = str(json_object_get(body, "name"));
    int bits;

    if (!json_is_array(versions)) {
        versions = json_array();
        json_object_set_new(body, "_versions", versions);
    }
    props = json_object_get(body, "properties");
    if (!json_is_object(props)) {
        props = json_object();
        json_object_set_new(body, "properties", props);
    }
    if (!json_is_string(json_object_get(props, "kty")))
        json_object_set_new(props, "kty", json_string("RSA"));
    if (is_ec(str(json_object_get(props, "kty")))) {
        /* EC keys: a curve, no size; they sign and verify */
        json_object_del(props, "keySize");
        if (!json_is_string(json_object_get(props, "curveName")))
            json_object_set_new(props, "curveName", json_string("P-256"));
        if (!json_is_array(json_object_get(props, "keyOps")))
            json_object_set_new(props, "keyOps", json_pack("[s,s]", "sign", "verify"));
    } else {
        json_object_del(props, "curveName");
        if (json_object_get(props, "keySize") == NULL)
            json_object_set_new(props, "keySize", json_integer(2048));
        if (!json_is_array(json_object_get(props, "keyOps")))
            json_object_set_new(props, "keyOps",
                                json_pack("[s,s,s,s,s,s]", "encrypt", "decrypt", "sign", "verify",
                                          "wrapKey", "unwrapKey"));
    }
    bits = (int)json_integer_value(json_object_get(props, "keySize"));
    al_hex32(c->al, ver);
    vault_uri_of_key(c->al, body, vault, sizeof(vault));
    v = json_pack("{s:s, s:{s:b, s:I, s:I, s:s, s:i}}", "version", ver, "attributes", "enabled", 1,
                  "created", (json_int_t)now, "updated", (json_int_t)now, "recoveryLevel",
                  "Recoverable+Purgeable", "recoverableDays", 90);
    if (is_ec(str(json_object_get(props, "kty")))) {
        const char *crv = str(json_object_get(props, "curveName"));
        json_object_set_new(v, "x", fake_coordinate(c->al, crv));
        json_object_set_new(v, "y", fake_coordinate(c->al, crv));
    } else {
        json_object_set_new(v, "n", fake_modulus(c->al, bits ? bits : 2048));
    }
    if (json_is_object(req_attrs)) {
        const char *k;
        json_t *a;
        json_object_foreach((json_t *)req_attrs, k, a)
        {
            if (!strcmp(k, "enabled") || !strcmp(k, "nbf") || !strcmp(k, "exp") ||
                !strcmp(k, "exportable"))
                json_object_set(json_object_get(v, "attributes"), k, a);
        }
    }
    json_array_append_new(versions, v);
    snprintf(uri, sizeof(uri), "%skeys/%s", vault, name ? name : "");
    json_object_set_new(props, "keyUri", json_string(uri));
    snprintf(uri, sizeof(uri), "%skeys/%s/%s", vault, name ? name : "", ver);
    json_object_set_new(props, "keyUriWithVersion", json_string(uri));
    json_object_set(props, "attributes", json_object_get(v, "attributes"));
    return v;
}

void al_key_first_version(struct al_ctx *c, json_t *body)
{
    json_t *attrs = al_jpath(body, "properties.attributes");
    json_incref(attrs);
    json_object_del(body, "location");
    add_version(c, body, attrs);
    json_decref(attrs);
}

/* --- data plane ------------------------------------------------------------ */

static void kv_error(struct al_ctx *c, int status, const char *code, const char *msg)
{
    al_json_reply(c, status, json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", msg));
}

static json_t *find_vault(struct armlocal *al, const char *name)
{
    char g[300], low[200];
    const char *key;
    json_t *rec;
    al_lower(low, name, sizeof(low));
    snprintf(g, sizeof(g), "microsoft.keyvault/vaults/%s", low);
    key = json_string_value(json_object_get(al->global_names, g));
    rec = key ? json_object_get(al_resources(al), key) : NULL;
    return rec && !json_is_true(json_object_get(rec, "hidden")) ? rec : NULL;
}

static json_t *bundle(struct al_ctx *c, json_t *body, json_t *v)
{
    char vault[600], kid[1024];
    json_t *props = json_object_get(body, "properties");
    vault_uri_of_key(c->al, body, vault, sizeof(vault));
    snprintf(kid, sizeof(kid), "%skeys/%s/%s", vault, str(json_object_get(body, "name")),
             str(json_object_get(v, "version")));
    json_t *tags = json_object_get(body, "tags"), *key;
    key = json_pack("{s:s, s:O?, s:O?}", "kid", kid, "kty", json_object_get(props, "kty"),
                    "key_ops", json_object_get(props, "keyOps"));
    if (is_ec(str(json_object_get(props, "kty")))) {
        json_object_set(key, "crv", json_object_get(props, "curveName"));
        json_object_set(key, "x", json_object_get(v, "x"));
        json_object_set(key, "y", json_object_get(v, "y"));
    } else {
        json_object_set(key, "n", json_object_get(v, "n"));
        json_object_set_new(key, "e", json_string("AQAB"));
    }
    return json_pack("{s:o, s:O?, s:o}", "key", key, "attributes", json_object_get(v, "attributes"),
                     "tags", tags ? json_incref(tags) : json_object());
}

static json_t *find_version(json_t *body, const char *ver)
{
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(body, "_versions"), i, v)
    {
        if (strcasecmp(str(json_object_get(v, "version")), ver) == 0)
            return v;
    }
    return NULL;
}

static json_t *current_version(json_t *body)
{
    json_t *vs = json_object_get(body, "_versions");
    return json_array_get(vs, json_array_size(vs) - 1);
}

/* --- soft-deleted keys ------------------------------------------------------ */

static json_t *deleted_keys(struct armlocal *al)
{
    return json_object_get(al->state, "deletedKeys");
}

/* A DeletedKeyBundle: the key's last version plus where to recover it. */
static json_t *deleted_bundle(struct al_ctx *c, const char *vault_uri, const char *name,
                              json_t *entry)
{
    json_t *body = json_object_get(entry, "body");
    json_t *b = bundle(c, body, current_version(body));
    json_object_set_new(b, "recoveryId", json_sprintf("%sdeletedkeys/%s", vault_uri, name));
    json_object_set(b, "deletedDate", json_object_get(entry, "deletedDate"));
    json_object_set(b, "scheduledPurgeDate", json_object_get(entry, "scheduledPurgeDate"));
    return b;
}

/* Deleting a key in a vault with soft delete (every vault: it cannot be
 * turned off) keeps it recoverable for the vault's retention. */
static void delete_key(struct al_ctx *c, json_t *vault, const char *id, const char *name,
                       json_t *rec)
{
    char key[2048], vuri[600];
    json_t *vb = json_object_get(vault, "body"), *entry;
    json_int_t now = c->now_ms / 1000;
    json_int_t days = json_integer_value(al_jpath(vb, "properties.softDeleteRetentionInDays"));

    al_lower(key, id, sizeof(key));
    entry = json_pack("{s:O, s:I, s:I}", "body", json_object_get(rec, "body"), "deletedDate", now,
                      "scheduledPurgeDate", now + (days ? days : 90) * 86400);
    json_object_set_new(deleted_keys(c->al), key, entry);
    al_store_touch(c->al, "deletedKeys", key);
    al_rec_del_tree(c->al, id);
    al_store_save(c->al);
    snprintf(vuri, sizeof(vuri), "%s", str(al_jpath(vb, "properties.vaultUri")));
    al_json_reply(c, 200, deleted_bundle(c, vuri, name, entry));
}

/* {vault}/deletedkeys[/{name}[/recover]]: list, get, purge (DELETE) and
 * recover, as Key Vault serves them. */
static void deleted_key_handle(struct al_ctx *c, json_t *vault, const struct al_path *p)
{
    json_t *vb = json_object_get(vault, "body"), *dk = deleted_keys(c->al), *entry;
    const char *m = c->req->method, *vid = str(json_object_get(vb, "id"));
    char prefix[2048], key[2048], vuri[600];

    snprintf(vuri, sizeof(vuri), "%s", str(al_jpath(vb, "properties.vaultUri")));
    snprintf(prefix, sizeof(prefix), "%s/keys/", vid);
    al_lower(prefix, prefix, sizeof(prefix));
    if (p->nsegs == 2 && strcasecmp(m, "GET") == 0) {
        json_t *list = json_array();
        const char *k;
        json_object_foreach(dk, k, entry)
        {
            if (strncmp(k, prefix, strlen(prefix)) == 0) {
                const char *name = str(json_object_get(json_object_get(entry, "body"), "name"));
                json_t *b = deleted_bundle(c, vuri, name, entry);
                char kid[1024];
                snprintf(kid, sizeof(kid), "%skeys/%s", vuri, name);
                json_array_append_new(
                    list, json_pack("{s:s, s:O, s:O, s:O, s:O}", "kid", kid, "recoveryId",
                                    json_object_get(b, "recoveryId"), "deletedDate",
                                    json_object_get(b, "deletedDate"), "scheduledPurgeDate",
                                    json_object_get(b, "scheduledPurgeDate"), "attributes",
                                    json_object_get(b, "attributes")));
                json_decref(b);
            }
        }
        al_json_reply(c, 200, json_pack("{s:o, s:n}", "value", list, "nextLink"));
        return;
    }
    if (p->nsegs < 3) {
        kv_error(c, 405, "MethodNotAllowed", "The method is not allowed on this path.");
        return;
    }
    snprintf(key, sizeof(key), "%s%s", prefix, p->segs[2]);
    al_lower(key, key, sizeof(key));
    entry = json_object_get(dk, key);
    if (entry == NULL) {
        char msg[512];
        snprintf(msg, sizeof(msg), "Deleted Key not found: %.200s", p->segs[2]);
        kv_error(c, 404, "KeyNotFound", msg);
        return;
    }
    if (p->nsegs == 3 && strcasecmp(m, "GET") == 0) {
        al_json_reply(c, 200, deleted_bundle(c, vuri, p->segs[2], entry));
    } else if (p->nsegs == 3 && strcasecmp(m, "DELETE") == 0) {
        if (json_is_true(al_jpath(vb, "properties.enablePurgeProtection"))) {
            kv_error(c, 403, "Forbidden",
                     "Operation \"purge\" is not allowed because purge protection is enabled "
                     "for this vault. Key Vault service will automatically purge it after the "
                     "retention period has passed.");
            return;
        }
        json_object_del(dk, key);
        al_store_touch(c->al, "deletedKeys", key);
        al_store_save(c->al);
        al_json_reply(c, 204, NULL);
    } else if (p->nsegs == 4 && strcasecmp(p->segs[3], "recover") == 0 &&
               strcasecmp(m, "POST") == 0) {
        json_t *body = json_deep_copy(json_object_get(entry, "body")), *rec;
        rec = al_rec_put(c->al, str(json_object_get(body, "id")), body);
        json_object_del(dk, key);
        al_store_touch(c->al, "deletedKeys", key);
        al_store_save(c->al);
        body = json_object_get(rec, "body");
        al_json_reply(c, 200, bundle(c, body, current_version(body)));
    } else {
        kv_error(c, 405, "MethodNotAllowed", "The method is not allowed on this path.");
    }
}

/* Key Vault's tags are a dictionary of strings too: another value is
 * refused as a bad parameter (the reference names no code: an assumption). */
static int kv_tags_bad(struct al_ctx *c, const json_t *req)
{
    const json_t *tags = json_object_get(req, "tags");
    const char *k;
    json_t *v;
    if (tags == NULL || json_is_null(tags))
        return 0;
    if (json_is_object(tags)) {
        json_object_foreach((json_t *)tags, k, v)
        {
            if (!json_is_string(v)) {
                char msg[192];
                snprintf(msg, sizeof(msg), "The value of tag '%.100s' is not a string.", k);
                kv_error(c, 400, "BadParameter", msg);
                return 1;
            }
        }
        return 0;
    }
    kv_error(c, 400, "BadParameter", "The tags are not a dictionary of strings.");
    return 1;
}

static void create_key(struct al_ctx *c, json_t *vault, const char *name, json_t *rec)
{
    json_t *req = NULL, *body, *v;
    char id[2048];
    if (c->req->body_len)
        req = json_loadb(c->req->body, c->req->body_len, 0, NULL);
    if (c->req->body_len && !json_is_object(req)) {
        json_decref(req);
        kv_error(c, 400, "BadParameter", "The request body is not a JSON object.");
        return;
    }
    if (req && kv_tags_bad(c, req)) {
        json_decref(req);
        return;
    }
    if (rec == NULL) {
        char key[2048];
        snprintf(id, sizeof(id), "%s/keys/%s",
                 str(json_object_get(json_object_get(vault, "body"), "id")), name);
        al_lower(key, id, sizeof(key));
        if (json_object_get(deleted_keys(c->al), key)) {
            char msg[600];
            json_decref(req);
            snprintf(msg, sizeof(msg),
                     "Key %.200s is currently in a deleted but recoverable state, and its name "
                     "cannot be reused; in this state, the key can only be recovered or purged.",
                     name);
            kv_error(c, 409, "Conflict", msg);
            return;
        }
        body = json_pack("{s:s, s:s, s:s, s:{}}", "id", id, "name", name, "type",
                         "Microsoft.KeyVault/vaults/keys", "properties");
        rec = al_rec_put(c->al, id, body);
    }
    body = json_object_get(rec, "body");
    /* the new version's parameters are what ARM shows from now on */
    if (req) {
        json_t *props = json_object_get(body, "properties");
        json_t *kty = json_object_get(req, "kty");
        if (json_is_string(kty)) {
            json_object_set(props, "kty", kty);
            json_object_del(props, strncmp(json_string_value(kty), "EC", 2) == 0 ? "keySize"
                                                                                 : "curveName");
        }
        if (json_is_integer(json_object_get(req, "key_size")))
            json_object_set(props, "keySize", json_object_get(req, "key_size"));
        if (json_is_string(json_object_get(req, "crv")))
            json_object_set(props, "curveName", json_object_get(req, "crv"));
        if (json_is_array(json_object_get(req, "key_ops")))
            json_object_set(props, "keyOps", json_object_get(req, "key_ops"));
    }
    if (req && json_is_object(json_object_get(req, "tags")))
        json_object_set(body, "tags", json_object_get(req, "tags"));
    v = add_version(c, body, req ? json_object_get(req, "attributes") : NULL);
    al_rec_touch(c->al, str(json_object_get(body, "id")));
    al_store_save(c->al);
    al_json_reply(c, 200, bundle(c, body, v));
    json_decref(req);
}

/* ARM's view of a data-plane rotation policy (properties.rotationPolicy):
 * the same document without its id, action types in ARM's lower case. */
static json_t *arm_policy(const json_t *dp)
{
    json_t *p = json_deep_copy(dp), *la;
    size_t i;
    json_object_del(p, "id");
    json_array_foreach(json_object_get(p, "lifetimeActions"), i, la)
    {
        json_t *action = json_object_get(la, "action");
        char type[32];
        al_lower(type, str(json_object_get(action, "type")), sizeof(type));
        json_object_set_new(action, "type", json_string(type));
    }
    return p;
}

/* Key Vault answers a request without a token with a challenge naming the
 * vault's tenant authority and the resource to ask a token for; its
 * clients send their first request that way (no body) to learn both. */
void al_vault_challenge(struct al_ctx *c, const char *rest)
{
    struct al_path p;
    json_t *vault = NULL;
    const char *tenant = NULL;

    if (al_path_parse(&p, rest) == 0 && p.nsegs >= 1)
        vault = find_vault(c->al, p.segs[0]);
    tenant = vault ? str(al_jpath(json_object_get(vault, "body"), "properties.tenantId")) : "";
    al_set_header(c->res, "WWW-Authenticate",
                  "Bearer authorization=\"%s/%s\", resource=\"https://vault.azure.net\"",
                  c->al->base_url, tenant && *tenant ? tenant : "common");
    kv_error(c, 401, "Unauthorized", "AKV10000: Request is missing a Bearer or PoP token.");
}

/* The data-plane versions Key Vault serves: 7.0 to 7.6, then 2025-07-01. */
static int data_plane_version_ok(const char *v)
{
    return (strlen(v) == 3 && v[0] == '7' && v[1] == '.' && v[2] >= '0' && v[2] <= '6') ||
           strcmp(v, "2025-07-01") == 0;
}

void al_vault_handle(struct al_ctx *c, const char *rest)
{
    struct al_path p;
    json_t *vault, *rec = NULL, *body = NULL;
    const char *m = c->req->method;
    const char *v = al_query(c->req, "api-version");
    char id[2048];

    if (al_path_parse(&p, rest) < 0 || p.nsegs < 2) {
        kv_error(c, 404, "NotFound", "The requested path was not found.");
        return;
    }
    if (v == NULL) {
        kv_error(c, 400, "BadParameter", "The 'api-version' parameter is missing.");
        return;
    }
    if (!data_plane_version_ok(v)) {
        kv_error(c, 400, "BadParameter",
                 "The specified version is not recognized. Consider "
                 "using the latest supported version (2025-07-01).");
        return;
    }
    vault = find_vault(c->al, p.segs[0]);
    if (vault == NULL) {
        kv_error(c, 404, "VaultNotFound", "The vault was not found.");
        return;
    }
    if (strcasecmp(p.segs[1], "deletedkeys") == 0) {
        deleted_key_handle(c, vault, &p);
        return;
    }
    if (strcasecmp(p.segs[1], "keys") != 0) {
        kv_error(c, 404, "NotFound", "Only keys are served by the local Key Vault.");
        return;
    }
    if (p.nsegs == 2 && strcasecmp(m, "GET") == 0) {
        json_t *list = json_array(), *r;
        const char *k;
        char prefix[2048], vid[2048];
        struct al_keys ks = {0};
        snprintf(prefix, sizeof(prefix), "%s/keys/",
                 str(json_object_get(json_object_get(vault, "body"), "id")));
        al_lower(prefix, prefix, sizeof(prefix));
        /* the vault's keys, from the tree index (store order) */
        snprintf(vid, sizeof(vid), "%.*s", (int)(strlen(prefix) - 6), prefix);
        al_keys_add_index(c->al, &ks, vid, "microsoft.keyvault/vaults/keys");
        al_keys_sort(&ks);
        for (size_t ki = 0; ki < ks.n; ki++) {
            k = ks.v[ki].key;
            r = json_object_get(al_resources(c->al), k);
            if (strncmp(k, prefix, strlen(prefix)) == 0 && !strchr(k + strlen(prefix), '/')) {
                json_t *b = bundle(c, json_object_get(r, "body"),
                                   current_version(json_object_get(r, "body")));
                char kid[1024];
                snprintf(kid, sizeof(kid), "%s", str(al_jpath(b, "key.kid")));
                *strrchr(kid, '/') = '\0';
                json_array_append_new(list, json_pack("{s:s, s:O}", "kid", kid, "attributes",
                                                      json_object_get(b, "attributes")));
                json_decref(b);
            }
        }
        al_keys_release(&ks);
        al_json_reply(c, 200, json_pack("{s:o, s:n}", "value", list, "nextLink"));
        return;
    }
    snprintf(id, sizeof(id), "%s/keys/%s",
             str(json_object_get(json_object_get(vault, "body"), "id")), p.segs[2]);
    rec = al_rec_get(c->al, id);
    body = json_object_get(rec, "body");
    if (p.nsegs == 4 && strcasecmp(p.segs[3], "create") == 0 && strcasecmp(m, "POST") == 0) {
        create_key(c, vault, p.segs[2], rec);
        return;
    }
    if (rec == NULL) {
        kv_error(c, 404, "KeyNotFound", "A key with (name/id) was not found in this key vault.");
        return;
    }
    if (p.nsegs == 3 && strcasecmp(m, "GET") == 0) {
        al_json_reply(c, 200, bundle(c, body, current_version(body)));
    } else if (p.nsegs == 3 && strcasecmp(m, "DELETE") == 0) {
        delete_key(c, vault, id, p.segs[2], rec);
    } else if (p.nsegs == 4 && strcasecmp(p.segs[3], "rotate") == 0 && strcasecmp(m, "POST") == 0) {
        json_t *nv = add_version(c, body, NULL);
        al_rec_touch(c->al, id);
        al_store_save(c->al);
        al_json_reply(c, 200, bundle(c, body, nv));
    } else if (p.nsegs == 4 && strcasecmp(p.segs[3], "versions") == 0 &&
               strcasecmp(m, "GET") == 0) {
        json_t *list = json_array(), *ver;
        size_t i;
        json_array_foreach(json_object_get(body, "_versions"), i, ver)
        {
            json_t *b = bundle(c, body, ver);
            json_array_append_new(list, json_pack("{s:O, s:O}", "kid", al_jpath(b, "key.kid"),
                                                  "attributes", json_object_get(b, "attributes")));
            json_decref(b);
        }
        al_json_reply(c, 200, json_pack("{s:o, s:n}", "value", list, "nextLink"));
    } else if (p.nsegs == 4 && strcasecmp(p.segs[3], "rotationpolicy") == 0) {
        if (strcasecmp(m, "PUT") == 0) {
            json_t *req = json_loadb(c->req->body, c->req->body_len, 0, NULL);
            if (!json_is_object(req)) {
                json_decref(req);
                kv_error(c, 400, "BadParameter", "The rotation policy is not a JSON object.");
                return;
            }
            json_object_set_new(
                req, "id",
                json_sprintf("%s/rotationpolicy", str(al_jpath(body, "properties.keyUri"))));
            json_object_set_new(body, "_rotationPolicy", req);
            json_object_set_new(json_object_get(body, "properties"), "rotationPolicy",
                                arm_policy(req));
            al_rec_touch(c->al, id);
            al_store_save(c->al);
        }
        if (json_object_get(body, "_rotationPolicy"))
            al_json_reply(c, 200, json_deep_copy(json_object_get(body, "_rotationPolicy")));
        else
            al_json_reply(c, 200,
                          json_pack("{s:s+, s:[{s:{s:s}, s:{s:s}}], s:{}}", "id",
                                    str(al_jpath(body, "properties.keyUri")), "/rotationpolicy",
                                    "lifetimeActions", "trigger", "timeBeforeExpiry", "P30D",
                                    "action", "type", "Notify", "attributes"));
    } else if (p.nsegs == 4 && (strcasecmp(m, "GET") == 0 || strcasecmp(m, "PATCH") == 0)) {
        json_t *ver = find_version(body, p.segs[3]);
        if (ver == NULL) {
            kv_error(c, 404, "KeyNotFound",
                     "A key with (name/id) was not found in this key vault.");
            return;
        }
        if (strcasecmp(m, "PATCH") == 0) {
            json_t *req = json_loadb(c->req->body, c->req->body_len, 0, NULL);
            json_t *attrs = json_object_get(req, "attributes");
            const char *k;
            json_t *a;
            if (!json_is_object(req)) {
                json_decref(req);
                kv_error(c, 400, "BadParameter", "The request body is not a JSON object.");
                return;
            }
            if (kv_tags_bad(c, req)) {
                json_decref(req);
                return;
            }
            json_object_foreach(attrs, k, a)
            {
                if (!strcmp(k, "enabled") || !strcmp(k, "nbf") || !strcmp(k, "exp"))
                    json_object_set(json_object_get(ver, "attributes"), k, a);
            }
            if (json_is_array(json_object_get(req, "key_ops")))
                json_object_set(json_object_get(body, "properties"), "keyOps",
                                json_object_get(req, "key_ops"));
            json_object_set_new(json_object_get(ver, "attributes"), "updated",
                                json_integer(c->now_ms / 1000));
            if (json_is_object(json_object_get(req, "tags")))
                json_object_set(body, "tags", json_object_get(req, "tags"));
            if (ver == current_version(body))
                json_object_set(json_object_get(body, "properties"), "attributes",
                                json_object_get(ver, "attributes"));
            json_decref(req);
            al_rec_touch(c->al, id);
            al_store_save(c->al);
        }
        al_json_reply(c, 200, bundle(c, body, ver));
    } else {
        kv_error(c, 405, "MethodNotAllowed", "The method is not allowed on this path.");
    }
}

/* --- ARM: Keys_ListVersions and Keys_GetVersion ----------------------------- */

static json_t *arm_version(const json_t *body, const json_t *v)
{
    const json_t *props = json_object_get(body, "properties");
    const char *uri = str(json_object_get(props, "keyUri"));
    const char *ver = str(json_object_get(v, "version"));
    json_t *p = json_object(), *out;
    static const char *const keep[] = {"kty", "keyOps", "keySize", "curveName", "keyUri"};

    for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
        if (json_object_get(props, keep[i]))
            json_object_set(p, keep[i], json_object_get(props, keep[i]));
    json_object_set(p, "attributes", json_object_get(v, "attributes"));
    json_object_set_new(p, "keyUriWithVersion", json_sprintf("%s/%s", uri, ver));
    out = json_pack("{s:o, s:s, s:s, s:o}", "id",
                    json_sprintf("%s/versions/%s", str(json_object_get(body, "id")), ver), "name",
                    ver, "type", "Microsoft.KeyVault/vaults/keys/versions", "properties", p);
    return out;
}

void al_key_versions_arm(struct al_ctx *c, const char *key_id, const char *version)
{
    json_t *rec = al_rec_get(c->al, key_id), *body, *v;
    size_t i;

    if (rec == NULL || json_is_true(json_object_get(rec, "hidden"))) {
        al_error(c, 404, "ResourceNotFound", "The Resource '%s' was not found.", key_id);
        return;
    }
    body = json_object_get(rec, "body");
    if (version == NULL) {
        json_t *list = json_array();
        json_array_foreach(json_object_get(body, "_versions"), i, v)
            json_array_append_new(list, arm_version(body, v));
        al_json_reply(c, 200, json_pack("{s:o}", "value", list));
        return;
    }
    v = find_version(body, version);
    if (v == NULL) {
        al_error(c, 404, "ResourceNotFound", "The key version '%s' was not found.", version);
        return;
    }
    al_json_reply(c, 200, arm_version(body, v));
}
