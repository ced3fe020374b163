/* ARM create requests from instances, and ARM bodies back to attributes. */
#include "providers/arm/render.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "parser/value.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/jsonw.h"
#include "util/banned.h"

void render_list_init(struct render_list *l)
{
    l->items = NULL;
    l->n = l->cap = 0;
}

void render_list_release(struct render_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->items[i].method);
        free(l->items[i].url);
        json_decref(l->items[i].body);
    }
    free(l->items);
    render_list_init(l);
}

const char *render_lro_name(enum lro_pattern lro)
{
    return schema_lro_name(lro);
}

/* Replaces unknown values by the display marker, in place. */
static json_t *display_fix(json_t *v)
{
    if (v == NULL)
        return NULL;
    if (value_is_unknown(v)) {
        json_decref(v);
        return json_string(RENDER_UNKNOWN);
    }
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++)
            json_array_set_new(v, i, display_fix(json_incref(json_array_get(v, i))));
    } else if (json_is_object(v)) {
        const char *k;
        json_t *x;
        void *tmp;
        json_object_foreach_safe(v, tmp, k, x)
            json_object_set_new(v, k, display_fix(json_incref(x)));
    }
    return v;
}

static bool path_sensitive(const json_t *sensitive, const char *path)
{
    size_t i;
    const json_t *p;
    json_array_foreach(sensitive, i, p)
    {
        const char *s = json_string_value(p);
        size_t n = s ? strlen(s) : 0;
        if (s && strncmp(path, s, n) == 0 && (path[n] == '\0' || path[n] == '.'))
            return true;
    }
    return false;
}

struct rctx {
    const json_t *value;
    const json_t *settings;
    const json_t *sensitive;
    const char *subscription;
    bool display;
};

static void full_path(char *out, size_t outsz, const char *base, const char *path)
{
    str_dotted(out, outsz, base, path);
}

static void put_value(json_t *body, const char *path, json_t *x, enum schema_conv conv)
{
    if (conv == SC_LIFETIME) {
        json_t *arr = (json_t *)schema_json_get(body, path);
        if (!json_is_array(arr)) {
            arr = json_array();
            schema_json_set(body, path, arr);
        }
        json_array_append_new(arr, x);
        return;
    }
    schema_json_set(body, path, x);
}

static void render_block(struct rctx *c, json_t *body, const struct schema_block *b,
                         const json_t *obj, const char *dslprefix)
{
    char path[512], dpath[256];
    for (const struct schema_attr *a = b->attrs; a->name; a++) {
        const json_t *v = obj ? json_object_get(obj, a->name) : NULL;
        json_t *ev;
        if (a->flags & SF_COMPUTED)
            continue;
        full_path(dpath, sizeof(dpath), dslprefix, a->name);
        if (a->type == ST_BLOCK) {
            if (json_is_object(v))
                render_block(c, body, a->block, v, dpath);
            else if (v == NULL && (a->flags & SF_ALWAYS))
                render_block(c, body, a->block, NULL, dpath);
            else if (json_is_array(v))
                for (size_t i = 0; i < json_array_size(v); i++)
                    render_block(c, body, a->block, json_array_get(v, i), dpath);
            continue;
        }
        if (a->map.path == NULL)
            continue;
        if (v == NULL && dslprefix[0] == '\0' && strcmp(a->name, "location") == 0)
            v = json_object_get(c->value, "location");
        if (v == NULL && dslprefix[0] == '\0' && strcmp(a->name, "tenant_id") == 0) {
            v = json_object_get(c->settings, "tenant");
            if (v == NULL) {
                json_t *u = value_unknown();
                full_path(path, sizeof(path), b->base, a->map.path);
                schema_json_set(body, path, c->display ? display_fix(u) : u);
                continue;
            }
        }
        ev = schema_effective(a, v);
        for (int i = 0; i < 2; i++) {
            const struct schema_map *m = i == 0 ? &a->map : &a->map2;
            json_t *x;
            if (m->path == NULL)
                continue;
            x = schema_to_arm(a, m, ev, c->subscription);
            if (x == NULL)
                continue;
            if (c->display && ((a->flags & SF_SENSITIVE) || path_sensitive(c->sensitive, dpath) ||
                               (value_path_sensitive(c->sensitive, dpath, true) &&
                                (m->conv != SC_NONE || !json_is_object(x))))) {
                json_decref(x);
                x = json_string(RENDER_SENSITIVE);
            } else if (c->display && value_path_sensitive(c->sensitive, dpath, true)) {
                /* a map with sensitive keys (tags.owner): those keys */
                const char *key;
                json_t *kv;
                void *tmp;
                json_object_foreach_safe(x, tmp, key, kv)
                {
                    char kpath[512];
                    snprintf(kpath, sizeof(kpath), "%s.%s", dpath, key);
                    if (value_path_sensitive(c->sensitive, kpath, true))
                        json_object_set_new(x, key, json_string(RENDER_SENSITIVE));
                }
                x = display_fix(x);
            } else if (c->display) {
                x = display_fix(x);
            }
            full_path(path, sizeof(path), b->base, m->path);
            put_value(body, path, x, m->conv);
        }
        json_decref(ev);
    }
    /* Constants of the block, after its attributes; "{name}" is the resource name. */
    if (b->consts)
        for (const struct schema_const *k = b->consts; k->path; k++) {
            json_t *x;
            full_path(path, sizeof(path), b->base, k->path);
            if (strcmp(k->json, "{name}") == 0) {
                const json_t *name = json_object_get(c->value, "name");
                x = name ? json_incref((json_t *)name) : value_unknown();
                if (c->display)
                    x = display_fix(x);
            } else {
                x = json_loads(k->json, JSON_DECODE_ANY, NULL);
            }
            schema_json_set(body, path, x);
        }
}

json_t *render_body(const struct schema_kind *k, const json_t *attrs, const json_t *value,
                    const json_t *settings, const json_t *sensitive, bool display)
{
    struct rctx c = {
        .value = value, .settings = settings, .sensitive = sensitive, .display = display};
    const json_t *sub = settings ? json_object_get(settings, "subscription") : NULL;
    json_t *body = json_object();
    if (body == NULL)
        return NULL;
    c.subscription = json_is_string(sub) ? json_string_value(sub) : NULL;
    render_block(&c, body, &k->body, attrs, "");
    if (strcmp(k->name, "role_definition") == 0 &&
        schema_json_get(body, "properties.assignableScopes") == NULL) {
        const json_t *scope = schema_ref_id(json_object_get(attrs, "scope"));
        json_t *arr = json_array();
        char tmp[256];
        if (scope)
            json_array_append(arr, (json_t *)scope);
        else if (c.subscription) {
            snprintf(tmp, sizeof(tmp), "/subscriptions/%s", c.subscription);
            json_array_append_new(arr, json_string(tmp));
        }
        schema_json_set(body, "properties.assignableScopes", display ? display_fix(arr) : arr);
    }
    /* a datastore's secrets object names its type, which is the credentials type */
    if (strcmp(k->name, "datastore") == 0 &&
        json_is_object(schema_json_get(body, "properties.credentials.secrets")))
        schema_json_set(
            body, "properties.credentials.secrets.secretsType",
            json_incref((json_t *)schema_json_get(body, "properties.credentials.credentialsType")));
    return body;
}

/* Is the workspace with this id network-isolated in cfg: public network
 * access off (the catalogue's default), or a private endpoint targets it? */
static bool workspace_isolated(const struct config *cfg, const char *ws_id)
{
    const struct schema_kind *wk = schema_find("workspace");
    const struct schema_attr *pna = schema_attr_find(wk, "public_network_access");
    bool isolated = false;
    for (size_t i = 0; i < cfg->nresources && !isolated; i++) {
        const struct cfg_resource *r = &cfg->resources[i];
        for (size_t j = 0; j < r->ninstances && !isolated; j++) {
            const struct cfg_instance *x = &r->instances[j];
            bool ws = strcmp(r->kind, "workspace") == 0;
            const json_t *id = ws ? json_object_get(config_instance_value(cfg, x), "id") : NULL;
            if (ws && json_is_string(id) && strcasecmp(json_string_value(id), ws_id) == 0) {
                json_t *v = r->existing
                                ? NULL
                                : schema_effective(pna, json_object_get(x->attrs, pna->name));
                isolated = json_is_false(v);
                json_decref(v);
            } else if (strcmp(r->kind, "private_endpoint") == 0) {
                const json_t *t = schema_ref_id(json_object_get(x->attrs, "target"));
                isolated = json_is_string(t) && strcasecmp(json_string_value(t), ws_id) == 0;
            }
        }
    }
    return isolated;
}

char *render_put_query(const struct config *cfg, const struct cfg_instance *inst)
{
    const json_t *skip, *ws;
    bool on;
    if (strcmp(inst->resource->kind, "datastore") != 0 || inst->resource->existing)
        return NULL;
    skip = json_object_get(inst->attrs, "skip_validation");
    ws = schema_ref_id(json_object_get(inst->attrs, "workspace"));
    if (json_is_boolean(skip))
        on = json_is_true(skip);
    else
        on = json_is_string(ws) && workspace_isolated(cfg, json_string_value(ws));
    return on ? strdup("skipValidation=true") : NULL;
}

static int list_push(struct render_list *l, struct render_request **out)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        struct render_request *p = realloc(l->items, cap * sizeof(*p));
        if (p == NULL)
            return AMLSEC_ENOMEM;
        l->items = p;
        l->cap = cap;
    }
    *out = &l->items[l->n++];
    memset(*out, 0, sizeof(**out));
    return 0;
}

static char *make_url(const json_t *id, const char *api_version, const char *query)
{
    struct buf b;
    buf_init(&b, 16384);
    buf_addf(&b, "%s%s?api-version=%s%s%s", RENDER_ARM_ENDPOINT,
             json_is_string(id) ? json_string_value(id) : RENDER_UNKNOWN, api_version,
             query ? "&" : "", query ? query : "");
    return buf_detach(&b, NULL);
}

int render_instance(struct render_list *out, const struct config *cfg,
                    const struct cfg_instance *inst, bool display, struct errbuf *err)
{
    const struct schema_kind *k = schema_find(inst->resource->kind);
    struct render_request *r;
    const json_t *value = config_instance_value(cfg, inst);
    const json_t *id = json_is_object(value) ? json_object_get(value, "id") : NULL;
    int rc;
    if (k == NULL)
        return errbuf_set(err, AMLSEC_EUSAGE, "unknown resource kind '%s'", inst->resource->kind);
    if ((rc = list_push(out, &r)) < 0)
        return errbuf_set(err, rc, "out of memory");
    r->address = inst->address;
    r->kind = k->name;
    {
        char *query = render_put_query(cfg, inst);
        r->url = make_url(id, k->arm.api_version, query);
        free(query);
    }
    if (inst->resource->existing) {
        r->method = strdup("GET");
        r->lro = LRO_NONE;
        r->note = "existing: read, never changed";
    } else {
        r->method = strdup("PUT");
        r->lro = k->arm.put;
        r->note = k->update_via;
        r->body = render_body(k, inst->attrs, value, cfg->settings, inst->sensitive, display);
    }
    if (r->method == NULL || r->url == NULL || (!inst->resource->existing && r->body == NULL))
        return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    return 0;
}

int render_format_text(struct buf *out, const struct render_request *r)
{
    char *body = NULL;
    int rc;
    buf_addf(out, "# %s\n", r->address);
    if (r->note)
        buf_addf(out, "# %s\n", r->note);
    buf_addf(out, "%s %s\n", r->method, r->url);
    if (r->body) {
        body = jsonw_dumps(r->body,
                           JSON_INDENT(2) | JSON_ENSURE_ASCII | JSON_REAL_PRECISION(VALUE_DIGITS));
        if (body == NULL)
            return AMLSEC_ENOMEM;
        buf_adds(out, body);
        buf_addch(out, '\n');
        free(body);
    }
    rc = buf_addch(out, '\n');
    return rc;
}

json_t *render_to_json(const struct render_request *r)
{
    json_t *o = json_pack("{ss ss ss ss ss}", "address", r->address, "kind", r->kind, "method",
                          r->method, "url", r->url, "lro", render_lro_name(r->lro));
    if (o == NULL)
        return NULL;
    if (r->note)
        json_object_set_new(o, "note", json_string(r->note));
    json_object_set(o, "body", r->body ? r->body : json_null());
    return o;
}

/* ---- decoding -------------------------------------------------------- */

static void decode_block(json_t *out, const struct schema_block *b, const json_t *arm)
{
    char path[512];
    for (const struct schema_attr *a = b->attrs; a->name; a++) {
        json_t *d;
        const json_t *x;
        if (a->type == ST_BLOCK) {
            json_t *sub = json_object();
            decode_block(sub, a->block, arm);
            if (json_object_size(sub) > 0)
                json_object_set_new(out, a->name, sub);
            else
                json_decref(sub);
            continue;
        }
        if (a->map.path == NULL || (a->flags & SF_WRITE_ONLY))
            continue;
        full_path(path, sizeof(path), b->base, a->map.path);
        x = schema_json_get(arm, path);
        d = schema_from_arm(a, &a->map, x);
        if (a->map2.path && a->map2.conv == SC_REF_FIELD && !(a->map2.flags & SF_WRITE_ONLY)) {
            json_t *d2;
            full_path(path, sizeof(path), b->base, a->map2.path);
            d2 = schema_from_arm(a, &a->map2, schema_json_get(arm, path));
            if (d2 && d)
                json_object_update(d, d2);
            else if (d2)
                d = json_incref(d2);
            json_decref(d2);
        }
        if (d)
            json_object_set_new(out, a->name, d);
    }
}

json_t *render_decode(const struct schema_kind *k, const json_t *arm)
{
    json_t *out = json_object();
    static const char *const top[] = {"id", "name", "location", NULL};
    if (out == NULL)
        return NULL;
    for (const char *const *p = top; *p; p++) {
        const json_t *v = json_object_get(arm, *p);
        if (json_is_string(v))
            json_object_set(out, *p, (json_t *)v);
    }
    decode_block(out, &k->body, arm);
    return out;
}

/* Whether an attribute of b, or of a block in it, is sensitive. */
static bool has_sensitive(const struct schema_block *b)
{
    for (const struct schema_attr *a = b->attrs; a->name; a++)
        if ((a->flags & SF_SENSITIVE) ||
            (a->type == ST_BLOCK && a->block && has_sensitive(a->block)))
            return true;
    return false;
}

static void sensitive_walk(const struct schema_block *b, const char *prefix, json_t *paths)
{
    char path[256];
    for (const struct schema_attr *a = b->attrs; a->name; a++) {
        /* a path is built only where there is something to find (once per instance) */
        if (!(a->flags & SF_SENSITIVE) &&
            !(a->type == ST_BLOCK && a->block && has_sensitive(a->block)))
            continue;
        full_path(path, sizeof(path), prefix, a->name);
        if (a->flags & SF_SENSITIVE)
            value_sensitive_add(paths, path);
        else
            sensitive_walk(a->block, path, paths);
    }
}

void render_sensitive_paths(const struct schema_kind *k, json_t *paths)
{
    sensitive_walk(&k->body, "", paths);
}

/* Calls fn on the ARM body path of every field attribute a (of block b)
 * feeds, and of every field of a's block when a is one. */
static void arm_fields(const struct schema_block *b, const struct schema_attr *a, json_t *arm,
                       void (*fn)(json_t *arm, const char *path))
{
    char path[512];
    if (a->type == ST_BLOCK && a->block) {
        for (const struct schema_attr *x = a->block->attrs; x->name; x++)
            arm_fields(a->block, x, arm, fn);
        return;
    }
    for (int i = 0; i < 2; i++) {
        const struct schema_map *m = i == 0 ? &a->map : &a->map2;
        if (m->path == NULL)
            continue;
        full_path(path, sizeof(path), b->base, m->path);
        fn(arm, path);
    }
}

static void redact_field(json_t *arm, const char *path)
{
    if (schema_json_get(arm, path))
        schema_json_set(arm, path, json_string(RENDER_SENSITIVE));
}

static void strip_field(json_t *arm, const char *path)
{
    const char *dot = strrchr(path, '.');
    json_t *parent = arm;
    if (dot) {
        char head[512];
        snprintf(head, sizeof(head), "%.*s", (int)(dot - path), path);
        parent = (json_t *)schema_json_get(arm, head);
    }
    if (json_is_object(parent))
        json_object_del(parent, dot ? dot + 1 : path);
}

/* A map attribute with sensitive keys inside (tags.owner): those keys of
 * the ARM map it feeds, when it feeds one as it is; else all of it. */
static void redact_map_keys(const struct schema_block *b, const struct schema_attr *a,
                            const char *path, json_t *arm, const json_t *sensitive)
{
    char field[512], key[768];
    size_t i, n = strlen(path);
    const json_t *p;
    if (a->map.path == NULL || a->map.conv != SC_NONE || a->map2.path) {
        arm_fields(b, a, arm, redact_field);
        return;
    }
    full_path(field, sizeof(field), b->base, a->map.path);
    json_array_foreach(sensitive, i, p)
    {
        const char *s = json_string_value(p);
        if (s && strncmp(s, path, n) == 0 && s[n] == '.') {
            snprintf(key, sizeof(key), "%s.%s", field, s + n + 1);
            redact_field(arm, key);
        }
    }
}

static void redact_walk(const struct schema_block *b, const char *prefix, json_t *arm,
                        const json_t *sensitive)
{
    char path[256];
    for (const struct schema_attr *a = b->attrs; a->name; a++) {
        full_path(path, sizeof(path), prefix, a->name);
        if ((a->flags & SF_SENSITIVE) || value_path_sensitive(sensitive, path, false))
            arm_fields(b, a, arm, redact_field);
        else if (a->type == ST_MAP && value_path_sensitive(sensitive, path, true))
            redact_map_keys(b, a, path, arm, sensitive);
        else if (a->type == ST_BLOCK && a->block)
            redact_walk(a->block, path, arm, sensitive);
    }
}

void render_redact_arm(const struct schema_kind *k, json_t *arm, const json_t *sensitive)
{
    if (json_is_object(arm))
        redact_walk(&k->body, "", arm, sensitive);
}

static void strip_walk(const struct schema_block *b, json_t *arm)
{
    for (const struct schema_attr *a = b->attrs; a->name; a++) {
        if (a->flags & SF_WRITE_ONLY)
            arm_fields(b, a, arm, strip_field);
        else if (a->type == ST_BLOCK && a->block)
            strip_walk(a->block, arm);
    }
}

void render_strip_write_only(json_t *arm)
{
    const json_t *type = json_object_get(arm, "type");
    if (!json_is_string(type))
        return;
    for (const struct schema_kind *k = schema_kinds; k->name; k++)
        if (k->arm.type && strcasecmp(k->arm.type, json_string_value(type)) == 0)
            strip_walk(&k->body, arm);
}

/* --- write-only values: a salted, slow digest in the state --------------- */

#define WO_PREFIX "amlsec-wo1"
#define WO_ITER 100000
#define WO_SALT 16
#define WO_HASH 32

static void hex(char *out, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", p[i]);
}

static bool wo_hash(unsigned char out[WO_HASH], const char *value, const unsigned char *salt,
                    unsigned iter)
{
    return PKCS5_PBKDF2_HMAC(value, (int)strlen(value), salt, WO_SALT, (int)iter, EVP_sha256(),
                             WO_HASH, out) == 1;
}

char *render_write_only_digest(const char *value)
{
    unsigned char salt[WO_SALT], h[WO_HASH];
    char sh[2 * WO_SALT + 1], hh[2 * WO_HASH + 1], out[160];
    if (RAND_bytes(salt, sizeof(salt)) != 1 || !wo_hash(h, value, salt, WO_ITER))
        return NULL;
    hex(sh, salt, sizeof(salt));
    hex(hh, h, sizeof(h));
    snprintf(out, sizeof(out), "%s$%u$%s$%s", WO_PREFIX, WO_ITER, sh, hh);
    return strdup(out);
}

bool render_write_only_matches(const char *digest, const char *value)
{
    unsigned char salt[WO_SALT], want[WO_HASH], h[WO_HASH];
    unsigned iter;
    char sh[2 * WO_SALT + 1], hh[2 * WO_HASH + 1];
    if (digest == NULL ||
        sscanf(digest, WO_PREFIX "$%u$%32[0-9a-f]$%64[0-9a-f]", &iter, sh, hh) != 3 ||
        strlen(sh) != 2 * WO_SALT || strlen(hh) != 2 * WO_HASH || iter == 0 || iter > 10000000)
        return false;
    for (size_t i = 0; i < WO_SALT; i++)
        sscanf(sh + 2 * i, "%2hhx", &salt[i]);
    for (size_t i = 0; i < WO_HASH; i++)
        sscanf(hh + 2 * i, "%2hhx", &want[i]);
    return wo_hash(h, value, salt, iter) && CRYPTO_memcmp(h, want, WO_HASH) == 0;
}

struct wo_walk {
    json_t *arm;          /* apply: the response the digests go into */
    const json_t *stored; /* plan: the state's ARM body holding them */
    json_t *live, *want;  /* plan: the copies compared */
    int rc;
};

static void wo_block(struct wo_walk *w, const struct schema_block *b, const json_t *attrs,
                     json_t *live, json_t *want)
{
    char path[512];
    for (const struct schema_attr *a = b->attrs; a->name; a++) {
        const json_t *v = json_object_get(attrs, a->name);
        if (a->type == ST_BLOCK && a->block && json_is_object(v)) {
            json_t *lv = NULL, *wv = NULL;
            if (want) {
                lv = json_object_get(live, a->name);
                if (!json_is_object(lv)) {
                    lv = json_object();
                    json_object_set_new(live, a->name, lv);
                }
                wv = json_object_get(want, a->name);
            }
            wo_block(w, a->block, v, lv, wv);
            if (want && json_object_size(lv) == 0)
                json_object_del(live, a->name);
            continue;
        }
        if (!(a->flags & SF_WRITE_ONLY) || a->map.path == NULL || !json_is_string(v))
            continue;
        full_path(path, sizeof(path), b->base, a->map.path);
        if (w->arm) {
            char *d = render_write_only_digest(json_string_value(v));
            if (d == NULL)
                w->rc = AMLSEC_ERROR;
            else
                schema_json_set(w->arm, path, json_string(d));
            free(d);
        } else if (want) {
            const json_t *d = schema_json_get(w->stored, path);
            /* no digest (imported, or recorded before digests): taken as unchanged */
            bool same = !json_is_string(d) ||
                        render_write_only_matches(json_string_value(d), json_string_value(v));
            json_object_set_new(want, a->name, json_string("(write-only)"));
            json_object_set_new(live, a->name,
                                json_string(same ? "(write-only)" : "(write-only, changed)"));
        }
    }
}

int render_write_only_record(const struct schema_kind *k, json_t *arm, const json_t *attrs)
{
    struct wo_walk w = {.arm = arm};
    if (json_is_object(arm) && json_is_object(attrs))
        wo_block(&w, &k->body, attrs, NULL, NULL);
    return w.rc;
}

void render_write_only_compare(const struct schema_kind *k, const json_t *stored, json_t *live,
                               json_t *want)
{
    struct wo_walk w = {.stored = stored};
    if (json_is_object(live) && json_is_object(want))
        wo_block(&w, &k->body, want, live, want);
}
