/* Instance values for references: ids from templates, names, locations and
 * computed attributes (see resolve.h). */
#include "providers/arm/resolve.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "parser/value.h"
#include "providers/arm/render.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/banned.h"

static const char *settings_str(const json_t *settings, const char *key)
{
    const json_t *v = settings ? json_object_get(settings, key) : NULL;
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Appends the first n bytes of s to out (size bytes, *len used), cut as
 * snprintf cuts; returns false when it had to cut. */
static bool put_n(char *out, size_t size, size_t *len, const char *s, size_t n)
{
    bool whole = *len + n < size;
    if (!whole)
        n = size - 1 - *len;
    memcpy(out + *len, s, n);
    *len += n;
    out[*len] = '\0';
    return whole;
}

static bool put_s(char *out, size_t size, size_t *len, const char *s)
{
    return put_n(out, size, len, s, strlen(s));
}

bool resolve_rg_of(const char *id, char *out, size_t outsz)
{
    const char *p = NULL;
    size_t n;
    if (id == NULL || strncasecmp(id, "/subscriptions/", 15) != 0)
        return false;
    /* the first "/resourceGroups/" in any case: only a '/' starts one */
    for (const char *q = strchr(id, '/'); q && p == NULL; q = strchr(q + 1, '/'))
        if (strncasecmp(q, "/resourceGroups/", 16) == 0)
            p = q;
    if (p == NULL)
        return false;
    p += strlen("/resourceGroups/");
    p += strcspn(p, "/");
    n = (size_t)(p - id);
    if (n >= outsz)
        return false;
    memcpy(out, id, n);
    out[n] = '\0';
    return true;
}

bool resolve_sub_of(const char *id, char *out, size_t outsz)
{
    size_t n;
    if (id == NULL || strncasecmp(id, "/subscriptions/", 15) != 0)
        return false;
    id += 15;
    n = strcspn(id, "/");
    if (n == 0 || n >= outsz)
        return false;
    memcpy(out, id, n);
    out[n] = '\0';
    return true;
}

/* The last path segment of an id. */
static json_t *last_segment(const char *id)
{
    const char *slash = strrchr(id, '/');
    /* the rest of a UTF-8 string after an ASCII '/' is UTF-8 */
    return json_string_nocheck(slash ? slash + 1 : id);
}

/* The string an attribute names as an id: ref object id or string. NULL:
 * absent; *unknown set when it is unknown. */
static const char *ref_id_str(const json_t *attrs, const char *name, bool *unknown)
{
    const json_t *v = attrs ? json_object_get(attrs, name) : NULL;
    const json_t *id = schema_ref_id(v);
    if (value_is_unknown(id)) {
        *unknown = true;
        return NULL;
    }
    return json_is_string(id) ? json_string_value(id) : NULL;
}

/* Expands a kind's id template into b (initialised); false when the id is
 * unknown. */
static bool expand_id(const struct schema_kind *k, const json_t *attrs, const json_t *settings,
                      const char *name, struct buf *b)
{
    const char *sub = settings_str(settings, "subscription");
    const char *p = k->id_template;
    bool unknown = name == NULL;

    buf_grow(b, 256); /* one allocation for most ids, not one per growth */
    while (*p && !unknown) {
        const char *open = strchr(p, '{'), *close;
        char tok[96], arg1[48] = "", arg2[48] = "";
        if (open == NULL) {
            buf_adds(b, p);
            break;
        }
        buf_add(b, p, (size_t)(open - p));
        close = strchr(open, '}');
        if (close == NULL || (size_t)(close - open - 1) >= sizeof(tok))
            BUG("bad id template '%s'", k->id_template);
        memcpy(tok, open + 1, (size_t)(close - open - 1));
        tok[close - open - 1] = '\0';
        p = close + 1;
        if (strcmp(tok, "sub") == 0) {
            if (sub == NULL)
                unknown = true;
            else
                buf_adds(b, sub);
        } else if (strcmp(tok, "name") == 0) {
            buf_adds(b, name);
        } else {
            char *colon = strchr(tok, ':'), *comma;
            const char *id;
            if (colon == NULL)
                BUG("bad id template token '%s'", tok);
            *colon = '\0';
            comma = strchr(colon + 1, ',');
            if (comma) {
                size_t n = 0;
                *comma = '\0';
                put_s(arg2, sizeof(arg2), &n, comma + 1);
            }
            {
                size_t n = 0;
                put_s(arg1, sizeof(arg1), &n, colon + 1);
            }
            if (strcmp(tok, "rg") == 0) {
                const json_t *v = json_object_get(attrs, arg1);
                char rg[1024];
                if (value_is_unknown(v) || value_is_unknown(schema_ref_id(v))) {
                    unknown = true;
                } else if (json_is_string(v) && json_string_value(v)[0] != '/') {
                    if (sub == NULL)
                        unknown = true;
                    else {
                        buf_adds(b, "/subscriptions/");
                        buf_adds(b, sub);
                        buf_adds(b, "/resourceGroups/");
                        buf_adds(b, json_string_value(v));
                    }
                } else if ((id = ref_id_str(attrs, arg1, &unknown)) != NULL) {
                    buf_adds(b, id);
                } else if (!unknown && arg2[0] &&
                           (id = ref_id_str(attrs, arg2, &unknown)) != NULL &&
                           resolve_rg_of(id, rg, sizeof(rg))) {
                    buf_adds(b, rg);
                } else {
                    unknown = true;
                }
            } else if (strcmp(tok, "parent") == 0) {
                id = ref_id_str(attrs, arg1, &unknown);
                if (id)
                    buf_adds(b, id);
                else
                    unknown = true;
            } else if (strcmp(tok, "scope") == 0) {
                id = ref_id_str(attrs, arg1, &unknown);
                if (id)
                    buf_adds(b, id);
                else if (!unknown && json_object_get(attrs, arg1) == NULL && sub)
                    buf_addf(b, "/subscriptions/%s", sub);
                else
                    unknown = true;
            } else {
                BUG("bad id template token '%s'", tok);
            }
        }
    }
    return !unknown;
}

/* Expands a kind's id template; returns a string or unknown. */
static json_t *expand_template(const struct schema_kind *k, const json_t *attrs,
                               const json_t *settings, const char *name)
{
    struct buf b;
    json_t *out;
    buf_init(&b, 8192);
    /* ASCII and the UTF-8 of jansson strings: no check needed */
    out = expand_id(k, attrs, settings, name, &b) ? json_stringn_nocheck(b.ptr, b.len)
                                                  : value_unknown();
    buf_release(&b);
    return out;
}

/* SHA-256, fetched once (an implicit fetch per digest costs more than
 * the digest of a short seed). Never freed: it lives as long as the
 * process, like OpenSSL's own default provider. */
static const EVP_MD *sha256(void)
{
    static EVP_MD *md;
    EVP_MD *m = __atomic_load_n(&md, __ATOMIC_ACQUIRE), *expected = NULL;
    if (m != NULL)
        return m;
    if ((m = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL)
        return EVP_sha256();
    if (!__atomic_compare_exchange_n(&md, &expected, m, false, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE)) {
        EVP_MD_free(m);
        m = expected;
    }
    return m;
}

/* A name-based UUID (RFC 4122 layout, version 5 bits, SHA-256 based). */
static json_t *derived_guid(const char *seed)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char s[37], *o = s;
    if (!EVP_Digest(seed, strlen(seed), md, &mdlen, sha256(), NULL) || mdlen < 16)
        return value_unknown();
    md[6] = (unsigned char)((md[6] & 0x0f) | 0x50);
    md[8] = (unsigned char)((md[8] & 0x3f) | 0x80);
    /* 8-4-4-4-12 hex digits, written by hand: snprintf's parse of a
     * sixteen-conversion format cost more than the digest */
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *o++ = '-';
        *o++ = hex[md[i] >> 4];
        *o++ = hex[md[i] & 15];
    }
    *o = '\0';
    return json_stringn_nocheck(s, 36);
}

/* Lowercased copy of s into a buf. */
static void add_lower(struct buf *b, const char *s)
{
    size_t n = strlen(s), at = b->len;
    if (buf_add(b, s, n) < 0)
        return;
    for (size_t i = 0; i < n; i++)
        b->ptr[at + i] = (char)tolower((unsigned char)b->ptr[at + i]);
}

static json_t *default_name(const struct schema_kind *k, const json_t *attrs,
                            const json_t *settings, const char *label)
{
    switch (k->name_rule) {
    case NAME_LABEL:
        return json_string(label);
    case NAME_PLAN: {
        const json_t *plan = json_object_get(attrs, "plan");
        const struct schema_attr *a = schema_attr_find(k, "plan");
        const char *hit;
        if (value_is_unknown(plan))
            return value_unknown();
        if (!json_is_string(plan))
            return json_string(label);
        hit = a ? schema_enum_match(a->allowed, json_string_value(plan)) : NULL;
        return json_string(hit ? hit : json_string_value(plan));
    }
    case NAME_PE: {
        const json_t *t = json_object_get(attrs, "target");
        const json_t *sr = json_object_get(attrs, "subresource");
        const json_t *tn = json_is_object(t) ? json_object_get(t, "name") : NULL;
        const char *tv;
        if (tn == NULL && json_is_string(t)) {
            const char *slash = strrchr(json_string_value(t), '/');
            tv = slash ? slash + 1 : json_string_value(t);
        } else if (json_is_string(tn)) {
            tv = json_string_value(tn);
        } else {
            return value_unknown();
        }
        if (!json_is_string(sr))
            return json_is_null(sr) || sr == NULL ? json_string(label) : value_unknown();
        {
            /* pe-TARGET-SUBRESOURCE, the target's name cut at 511 bytes and
             * the whole at 599; a cut one may end inside a UTF-8 sequence,
             * which jansson's check refuses */
            char name[600];
            size_t len = 0, nt = strlen(tv);
            bool whole = nt < 512;
            put_s(name, sizeof(name), &len, "pe-");
            whole &= put_n(name, sizeof(name), &len, tv, whole ? nt : 511);
            whole &= put_s(name, sizeof(name), &len, "-");
            whole &= put_s(name, sizeof(name), &len, json_string_value(sr));
            return whole ? json_string_nocheck(name) : json_string(name);
        }
    }
    case NAME_GUID: {
        struct buf b;
        bool unknown = false;
        const char *scope = ref_id_str(attrs, "scope", &unknown);
        const char *sub = settings_str(settings, "subscription");
        json_t *out;
        buf_init(&b, 8192);
        buf_adds(&b, k->name);
        buf_addch(&b, '|');
        if (scope)
            add_lower(&b, scope);
        else if (sub)
            buf_addf(&b, "/subscriptions/%s", sub);
        if (strcmp(k->name, "role_assignment") == 0) {
            const struct schema_attr *ra = schema_attr_find(k, "role");
            json_t *role = schema_to_arm(ra, &ra->map, json_object_get(attrs, "role"), sub);
            const json_t *pr = json_object_get(attrs, "principal");
            if (!json_is_string(role) || !json_is_string(pr))
                unknown = true;
            else {
                buf_addch(&b, '|');
                add_lower(&b, json_string_value(role));
                buf_addch(&b, '|');
                add_lower(&b, json_string_value(pr));
            }
            json_decref(role);
        } else {
            const json_t *rn = json_object_get(attrs, "role_name");
            if (!json_is_string(rn))
                unknown = true;
            else {
                buf_addch(&b, '|');
                buf_adds(&b, json_string_value(rn));
            }
        }
        out = unknown ? value_unknown() : derived_guid(b.ptr);
        buf_release(&b);
        return out;
    }
    }
    return json_string(label);
}

/* The location of the first parent-like reference that has one. */
static const json_t *parent_location(const json_t *attrs)
{
    static const char *const parents[] = {"workspace", "vault", "target", "resource_group", NULL};
    for (const char *const *p = parents; *p; p++) {
        const json_t *v = json_object_get(attrs, *p);
        const json_t *loc = json_is_object(v) ? json_object_get(v, "location") : NULL;
        if (loc && (json_is_string(loc) || value_is_unknown(loc)))
            return loc;
    }
    return NULL;
}

/* The parts (NULL-ended) one after the other as a string, cut at 1,023
 * bytes as snprintf would cut them. The parts are ASCII or jansson's
 * UTF-8, so only a cut one needs jansson's check. */
static json_t *joined(const char *const *parts, bool lower)
{
    char tmp[1024];
    size_t len = 0;
    bool whole = true;
    tmp[0] = '\0';
    for (; *parts && whole; parts++)
        whole = put_s(tmp, sizeof(tmp), &len, *parts);
    if (lower)
        for (size_t i = 0; i < len; i++)
            tmp[i] = (char)tolower((unsigned char)tmp[i]);
    return whole ? json_stringn_nocheck(tmp, len) : json_string(tmp);
}

static void set_computed(const struct schema_kind *k, json_t *out, const char *name,
                         const json_t *attrs)
{
    if (strcmp(k->name, "key_vault") == 0) {
        const char *parts[] = {"https://", name, ".vault.azure.net/", NULL};
        json_object_set_new_nocheck(out, "vault_uri", joined(parts, false));
    } else if (strcmp(k->name, "key") == 0) {
        const json_t *vault = json_object_get(attrs, "vault");
        const json_t *vid = schema_ref_id(vault);
        const json_t *vname = json_is_object(vault) ? json_object_get(vault, "name") : NULL;
        json_object_set_new_nocheck(out, "vault_id",
                                    vid ? json_incref((json_t *)vid) : value_unknown());
        if (json_is_string(vname)) {
            const char *parts[] = {"https://", json_string_value(vname), ".vault.azure.net/keys/",
                                   name, NULL};
            json_object_set_new_nocheck(out, "uri", joined(parts, false));
        } else if (json_is_string(vid)) {
            const char *slash = strrchr(json_string_value(vid), '/');
            const char *parts[] = {"https://", slash ? slash + 1 : json_string_value(vid),
                                   ".vault.azure.net/keys/", name, NULL};
            json_object_set_new_nocheck(out, "uri", joined(parts, false));
        }
    } else if (strcmp(k->name, "storage_account") == 0) {
        const char *parts[] = {"https://", name, ".blob.core.windows.net/", NULL};
        json_object_set_new_nocheck(out, "primary_blob_endpoint", joined(parts, false));
    } else if (strcmp(k->name, "container_registry") == 0) {
        const char *parts[] = {name, ".azurecr.io", NULL};
        json_object_set_new_nocheck(out, "login_server", joined(parts, true));
    }
    /* Everything else the service computes is known only after apply. */
    for (const struct schema_attr *a = k->body.attrs; a->name; a++)
        if ((a->flags & SF_COMPUTED) && json_object_get(out, a->name) == NULL)
            json_object_set_new_nocheck(out, a->name, value_unknown());
}

/* The kind's ARM type as a string shared by every instance of the kind
 * (jansson strings are never changed in place here): one allocation per
 * kind, not two per instance. New reference. */
static json_t *kind_type(const struct schema_kind *k)
{
    static json_t *shared[256];
    size_t i = (size_t)(k - schema_kinds);
    json_t *s, *expected = NULL;
    if (i >= sizeof(shared) / sizeof(shared[0]))
        return json_string_nocheck(k->arm.type);
    if ((s = __atomic_load_n(&shared[i], __ATOMIC_ACQUIRE)) != NULL)
        return json_incref(s);
    if ((s = json_string_nocheck(k->arm.type)) == NULL)
        return NULL;
    /* the static reference keeps it for the life of the process */
    if (!__atomic_compare_exchange_n(&shared[i], &expected, s, false, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE)) {
        json_decref(s);
        s = expected;
    }
    return json_incref(s);
}

/* The name resolve_value gives an instance (given_id: an existing
 * lookup's id attribute). New reference. */
static json_t *value_name(const struct schema_kind *k, const json_t *attrs, const json_t *settings,
                          const char *label, const json_t *given_id)
{
    const json_t *nv = json_object_get(attrs, "name");
    if (json_is_string(nv) || value_is_unknown(nv))
        return json_incref((json_t *)nv);
    if (json_is_string(given_id))
        return last_segment(json_string_value(given_id));
    return default_name(k, attrs, settings, label);
}

json_t *resolve_value(const struct schema_kind *k, const json_t *attrs, const json_t *settings,
                      const char *label, bool existing)
{
    json_t *out = json_is_object(attrs) ? json_copy((json_t *)attrs) : json_object();
    json_t *name = NULL, *id = NULL;
    const json_t *given_id = existing ? json_object_get(attrs, "id") : NULL;

    if (out == NULL)
        return NULL;
    name = value_name(k, attrs, settings, label, given_id);
    if (json_is_string(given_id) || value_is_unknown(given_id))
        id = json_incref((json_t *)given_id);
    else
        id = expand_template(k, attrs, settings,
                             json_is_string(name) ? json_string_value(name) : NULL);

    json_object_set_new_nocheck(out, "id", id);
    json_object_set_new_nocheck(out, "name", name);
    json_object_set_new_nocheck(out, "resource_type", kind_type(k));
    if (k->located && json_object_get(out, "location") == NULL) {
        const json_t *loc = existing ? NULL : parent_location(attrs);
        const json_t *sloc = settings ? json_object_get(settings, "location") : NULL;
        if (existing)
            json_object_set_new_nocheck(out, "location", value_unknown());
        else if (loc)
            json_object_set_nocheck(out, "location", (json_t *)loc);
        else if (json_is_string(sloc)) /* shared with the settings */
            json_object_set_nocheck(out, "location", (json_t *)sloc);
        else
            json_object_set_new_nocheck(out, "location", value_unknown());
    }
    if (existing) {
        /* Read at plan time: whatever was not given is unknown now. */
        for (const struct schema_attr *a = k->body.attrs; a->name; a++)
            if (a->type != ST_BLOCK && json_object_get(out, a->name) == NULL)
                json_object_set_new_nocheck(out, a->name, value_unknown());
    } else if (json_is_string(name)) {
        set_computed(k, out, json_string_value(name), attrs);
    } else {
        for (const struct schema_attr *a = k->body.attrs; a->name; a++)
            if ((a->flags & SF_COMPUTED) && json_object_get(out, a->name) == NULL)
                json_object_set_new_nocheck(out, a->name, value_unknown());
    }
    return out;
}

static json_t *instance_value(void *payload, const struct config *cfg,
                              const struct cfg_instance *inst)
{
    const struct schema_kind *k = schema_find(inst->resource->kind);
    (void)payload;
    if (k == NULL) {
        /* Not in the catalogue (validation reports it): the front end's default. */
        json_t *out = json_is_object(inst->attrs) ? json_copy(inst->attrs) : json_object();
        json_object_set_new_nocheck(out, "id", value_unknown());
        return out;
    }
    return resolve_value(k, inst->attrs, cfg->settings, inst->resource->name,
                         inst->resource->existing);
}

/* The id resolve_value gives inst, without the rest of its value: the
 * same steps (given, else the kind's template over its name). */
static const char *instance_id(void *payload, const struct config *cfg,
                               const struct cfg_instance *inst, struct arena *arena)
{
    const struct schema_kind *k = schema_find(inst->resource->kind);
    const json_t *given_id = inst->resource->existing ? json_object_get(inst->attrs, "id") : NULL;
    const char *id = NULL;
    json_t *name;
    struct buf b;
    (void)payload;
    if (k == NULL) /* instance_value's: unknown */
        return NULL;
    if (json_is_string(given_id) || value_is_unknown(given_id))
        return json_is_string(given_id) ? arena_strdup(arena, json_string_value(given_id)) : NULL;
    name = value_name(k, inst->attrs, cfg->settings, inst->resource->name, given_id);
    buf_init(&b, 8192);
    if (expand_id(k, inst->attrs, cfg->settings,
                  json_is_string(name) ? json_string_value(name) : NULL, &b))
        id = arena_strndup(arena, b.ptr, b.len);
    buf_release(&b);
    json_decref(name);
    return id;
}

/* A kind's sensitive paths, walked once per kind (not per instance) and
 * shared by its instances; NULL when it has none. Never changed. */
static const json_t *sensitive_paths(void *payload, const struct cfg_instance *inst)
{
    static json_t *shared[256];
    const struct schema_kind *k = schema_find(inst->resource->kind);
    size_t i;
    json_t *paths, *expected = NULL;
    (void)payload;
    if (k == NULL)
        return NULL;
    i = (size_t)(k - schema_kinds);
    if (i >= sizeof(shared) / sizeof(shared[0]))
        BUG("more kinds than sensitive_paths holds");
    if ((paths = __atomic_load_n(&shared[i], __ATOMIC_ACQUIRE)) == NULL) {
        if ((paths = json_array()) == NULL)
            return NULL;
        render_sensitive_paths(k, paths);
        /* the static reference keeps it for the life of the process */
        if (!__atomic_compare_exchange_n(&shared[i], &expected, paths, false, __ATOMIC_ACQ_REL,
                                         __ATOMIC_ACQUIRE)) {
            json_decref(paths);
            paths = expected;
        }
    }
    return json_array_size(paths) ? paths : NULL;
}

/* Tags are map(string), as Terraform's schema has them: a number or bool
 * is sent, planned and kept as its text. What is neither (a list, a map,
 * null) is left for the schema check to report. */
static void convert_attrs(void *payload, struct cfg_instance *inst)
{
    const struct schema_kind *k;
    (void)payload;
    /* every SF_STRING_VALUES attribute is a "tags": most instances have none */
    if (json_object_get(inst->attrs, "tags") == NULL ||
        (k = schema_find(inst->resource->kind)) == NULL)
        return;
    for (const struct schema_attr *a = k->body.attrs; a->name; a++) {
        json_t *conv;
        if (!(a->flags & SF_STRING_VALUES))
            continue;
        if ((conv = schema_string_values(json_object_get(inst->attrs, a->name))) != NULL)
            json_object_set_new(inst->attrs, a->name, conv);
    }
}

struct cfg_resolver resolve_resolver(void)
{
    struct cfg_resolver r = {.instance_value = instance_value,
                             .sensitive_paths = sensitive_paths,
                             .convert_attrs = convert_attrs,
                             .instance_id = instance_id,
                             .payload = NULL};
    return r;
}
