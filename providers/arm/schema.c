/* Catalogue lookups, schema validation, normalisers and change
 * classification (the tables are in schema_kinds.c). */
#include "providers/arm/schema.h"

#include <ctype.h>
#include <pthread.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "parser/value.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/hash.h"
#include "util/jsonw.h"
#include "util/suggest.h"
#include "util/banned.h"

/* ---- lookups ------------------------------------------------------------ */

/* The kinds by name, in an open-addressing table built once: evaluation,
 * the schema check and the rules look a kind up per instance (a scan of
 * the catalogue compared a third of its names each time). */
#define KIND_SLOTS 256
static const struct schema_kind *kind_slots[KIND_SLOTS];
static pthread_once_t kind_once = PTHREAD_ONCE_INIT;

static void kind_index(void)
{
    size_t n = 0;
    for (const struct schema_kind *k = schema_kinds; k->name; k++, n++) {
        size_t i = (size_t)hash_bytes(k->name, strlen(k->name), 0) & (KIND_SLOTS - 1);
        if (2 * (n + 1) > KIND_SLOTS)
            BUG("more kinds than KIND_SLOTS / 2");
        while (kind_slots[i] && strcmp(kind_slots[i]->name, k->name) != 0)
            i = (i + 1) & (KIND_SLOTS - 1);
        if (kind_slots[i] == NULL) /* the first of equal names stays, as in a scan */
            kind_slots[i] = k;
    }
}

const struct schema_kind *schema_find(const char *kind)
{
    size_t i;
    if (kind == NULL)
        return NULL;
    pthread_once(&kind_once, kind_index);
    for (i = (size_t)hash_bytes(kind, strlen(kind), 0) & (KIND_SLOTS - 1); kind_slots[i];
         i = (i + 1) & (KIND_SLOTS - 1))
        if (strcmp(kind_slots[i]->name, kind) == 0)
            return kind_slots[i];
    return NULL;
}

const struct schema_kind *schema_find_by_type(const char *arm_type)
{
    if (arm_type == NULL)
        return NULL;
    for (const struct schema_kind *k = schema_kinds; k->name; k++)
        if (strcasecmp(k->arm.type, arm_type) == 0)
            return k;
    return NULL;
}

const struct arm_kind_info *schema_arm_kind(const char *arm_type, void *payload)
{
    const struct schema_kind *k = schema_find_by_type(arm_type);
    (void)payload;
    return k ? &k->arm : NULL;
}

static const struct schema_attr *block_attr(const struct schema_block *b, const char *name,
                                            size_t len)
{
    /* name holds no NUL in its len bytes: a->name is name when it starts
     * alike, agrees on len bytes and ends there (no strlen per attribute) */
    for (const struct schema_attr *a = b->attrs; a->name; a++)
        if (a->name[0] == name[0] && strncmp(a->name, name, len) == 0 && a->name[len] == '\0')
            return a;
    return NULL;
}

/* The attribute at a dotted DSL path; *in gets the block holding it and
 * *flags the flags of every attribute on the way (both may be NULL). */
static const struct schema_attr *attr_walk(const struct schema_kind *k, const char *path,
                                           const struct schema_block **in, unsigned *flags)
{
    const struct schema_block *b = &k->body;
    const struct schema_attr *a = NULL;
    const char *p = path;
    unsigned f = 0;
    while (b) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        a = block_attr(b, p, len);
        if (a)
            f |= a->flags;
        if (a == NULL || dot == NULL) {
            if (in)
                *in = b;
            if (flags)
                *flags = f;
            return a;
        }
        b = a->block;
        p = dot + 1;
    }
    return NULL;
}

const struct schema_attr *schema_attr_find(const struct schema_kind *k, const char *path)
{
    return attr_walk(k, path, NULL, NULL);
}

const struct schema_attr *schema_block_attr(const struct schema_block *b, const char *name)
{
    return b ? block_attr(b, name, strlen(name)) : NULL;
}

int schema_arm_path(char *out, size_t size, const struct schema_kind *k, const char *path)
{
    const struct schema_block *b = NULL;
    const struct schema_attr *a = attr_walk(k, path, &b, NULL);
    int n;
    if (a == NULL || a->type == ST_BLOCK || a->map.path == NULL)
        return AMLSEC_ENOTFOUND;
    n = b->base[0] ? snprintf(out, size, "%s.%s", b->base, a->map.path)
                   : snprintf(out, size, "%s", a->map.path);
    return n < 0 || (size_t)n >= size ? AMLSEC_ENOTFOUND : 0;
}

unsigned schema_data_plane_parts(const struct schema_kind *k, const char *path)
{
    unsigned flags = 0;
    if (attr_walk(k, path, NULL, &flags) == NULL)
        return 0;
    if (flags & SF_DP_NEW_VERSION)
        return PROVIDER_DP_NEW_VERSION;
    if (flags & SF_DP_POLICY)
        return PROVIDER_DP_POLICY;
    return PROVIDER_DP_ATTRIBUTES;
}

bool schema_is_key_version(const struct schema_kind *k, const char *path)
{
    const struct schema_attr *a = attr_walk(k, path, NULL, NULL);
    return a && a->norm == SN_KEY_URI && a->type != ST_BLOCK && !(a->flags & SF_CREATE_ONLY);
}

/* ---- JSON paths ------------------------------------------------------- */

/* One step of a dotted path: a key (may be empty) and an optional [index].
 * Returns the rest of the path. */
static const char *path_step(const char *p, char *key, size_t keysz, long *index, int *ok)
{
    size_t n = strcspn(p, ".[");
    *ok = n < keysz;
    if (*ok) {
        memcpy(key, p, n);
        key[n] = '\0';
    }
    *index = -1;
    p += n;
    if (*p == '[') {
        char *end;
        *index = strtol(p + 1, &end, 10);
        if (*end != ']' || *index < 0)
            *ok = 0;
        p = *end == ']' ? end + 1 : end;
    }
    if (*p == '.')
        p++;
    return p;
}

const json_t *schema_json_get(const json_t *root, const char *path)
{
    const json_t *cur = root;
    const char *p = path;
    if (path == NULL || *path == '\0')
        return root;
    /* path_step's steps, each key read in place (no copy, no strlen):
     * rules and plans read paths per instance */
    while (cur && *p) {
        const char *key = p;
        size_t n = strcspn(p, ".[");
        long index = -1;
        if (n >= 128) /* path_step's key buffer */
            return NULL;
        p += n;
        if (*p == '[') {
            char *end;
            index = strtol(p + 1, &end, 10);
            if (*end != ']' || index < 0)
                return NULL;
            p = end + 1;
        }
        if (*p == '.')
            p++;
        if (n) {
            if (!json_is_object(cur))
                return NULL;
            cur = json_object_getn(cur, key, n);
        }
        if (cur && index >= 0)
            cur = json_is_array(cur) ? json_array_get(cur, (size_t)index) : NULL;
    }
    return cur;
}

int schema_json_set(json_t *root, const char *path, json_t *v)
{
    json_t *cur = root;
    const char *p = path;
    char key[128];
    if (v == NULL)
        return -1;
    while (*p) {
        long index;
        int ok;
        bool last;
        json_t *next;
        p = path_step(p, key, sizeof(key), &index, &ok);
        last = *p == '\0';
        if (!ok || !key[0] || !json_is_object(cur))
            goto fail;
        if (index < 0) {
            if (last)
                return json_object_set_new(cur, key, v) == 0 ? 0 : -1;
            next = json_object_get(cur, key);
            if (!json_is_object(next)) {
                next = json_object();
                if (next == NULL || json_object_set_new(cur, key, next) != 0)
                    goto fail;
            }
            cur = next;
            continue;
        }
        next = json_object_get(cur, key);
        if (!json_is_array(next)) {
            next = json_array();
            if (next == NULL || json_object_set_new(cur, key, next) != 0)
                goto fail;
        }
        while (json_array_size(next) <= (size_t)index)
            if (json_array_append_new(next, last ? json_null() : json_object()) != 0)
                goto fail;
        if (last)
            return json_array_set_new(next, (size_t)index, v) == 0 ? 0 : -1;
        cur = json_array_get(next, (size_t)index);
        if (!json_is_object(cur)) {
            json_t *o = json_object();
            if (o == NULL || json_array_set_new(next, (size_t)index, o) != 0)
                goto fail;
            cur = o;
        }
    }
fail:
    json_decref(v);
    return -1;
}

/* ---- enums, roles ------------------------------------------------------ */

static void enum_fold(char *out, size_t outsz, const char *s)
{
    size_t n = 0;
    for (; *s && n + 1 < outsz; s++)
        if (*s != '_' && *s != '-' && *s != ' ')
            out[n++] = (char)tolower((unsigned char)*s);
    out[n] = '\0';
}

const char *schema_enum_match(const char *const *allowed, const char *s)
{
    char a[128], b[128];
    if (allowed == NULL || s == NULL)
        return NULL;
    for (const char *const *p = allowed; *p; p++)
        if (strcmp(*p, s) == 0)
            return *p;
    enum_fold(b, sizeof(b), s);
    for (const char *const *p = allowed; *p; p++) {
        enum_fold(a, sizeof(a), *p);
        if (strcmp(a, b) == 0)
            return *p;
    }
    return NULL;
}

/* Built-in role definitions: name -> GUID (Microsoft's built-in role list;
 * these ids are the same in every tenant). */
static const struct {
    const char *name, *guid;
} builtin_roles[] = {
    {"Owner", "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"},
    {"Contributor", "b24988ac-6180-42a0-ab88-20f7382dd24c"},
    {"Reader", "acdd72a7-3385-48ef-bd42-f606fba81ae7"},
    {"User Access Administrator", "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9"},
    {"AzureML Data Scientist", "f6c7c914-8db3-469d-8ca1-694a8f32e121"},
    {"AzureML Compute Operator", "e503ece1-11d0-4e8e-8e2c-7a6c3bf38815"},
    {"Storage Blob Data Contributor", "ba92f5b4-2d11-453d-a403-e96b0029c9fe"},
    {"Storage Blob Data Reader", "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"},
    {"Key Vault Administrator", "00482a5a-887f-4fb3-b363-3b7fe8e74483"},
    {"Key Vault Crypto Officer", "14b46e9e-c2b7-41b4-b07b-48a6ebf60603"},
    {"Key Vault Crypto Service Encryption User", "e147488a-f6f5-4113-8e2d-b22465e65bf6"},
    {"Key Vault Secrets User", "4633458b-17de-408a-b874-0445c86b69e6"},
    {"AcrPull", "7f951dda-4ed3-4680-a7ca-43fe172d538d"},
    {"AcrPush", "8311e382-0749-4cb8-b61a-304f252e45ec"},
    {"Monitoring Reader", "43d0d8ad-25c7-4714-9337-8ba259a9fe05"},
};

const char *const schema_builtin_role_names[] = {
    "Owner",
    "Contributor",
    "Reader",
    "User Access Administrator",
    "AzureML Data Scientist",
    "AzureML Compute Operator",
    "Storage Blob Data Contributor",
    "Storage Blob Data Reader",
    "Key Vault Administrator",
    "Key Vault Crypto Officer",
    "Key Vault Crypto Service Encryption User",
    "Key Vault Secrets User",
    "AcrPull",
    "AcrPush",
    "Monitoring Reader",
    NULL,
};

const char *schema_builtin_role(const char *name)
{
    for (size_t i = 0; i < sizeof(builtin_roles) / sizeof(builtin_roles[0]); i++)
        if (strcasecmp(builtin_roles[i].name, name) == 0)
            return builtin_roles[i].guid;
    return NULL;
}

static bool is_guid(const char *s)
{
    static const char shape[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";
    if (strlen(s) != sizeof(shape) - 1)
        return false;
    for (size_t i = 0; shape[i]; i++)
        if (shape[i] == '-' ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
            return false;
    return true;
}

/* ---- conversions ------------------------------------------------------ */

const json_t *schema_ref_id(const json_t *v)
{
    if (json_is_string(v) || value_is_unknown(v))
        return v;
    if (json_is_object(v))
        return json_object_get(v, "id");
    return NULL;
}

json_t *schema_effective(const struct schema_attr *a, const json_t *v)
{
    if (v != NULL && !json_is_null(v))
        return json_incref((json_t *)v);
    if (a->def)
        return json_loads(a->def, JSON_DECODE_ANY, NULL);
    return NULL;
}

static json_t *enum_out(const struct schema_attr *a, const json_t *v)
{
    const char *hit;
    if (!json_is_string(v))
        return json_incref((json_t *)v);
    hit = schema_enum_match(a->allowed, json_string_value(v));
    return json_string(hit ? hit : json_string_value(v));
}

static json_t *id_segment(const char *id, const char *segment)
{
    const char *p = id;
    size_t n = strlen(segment);
    while ((p = strchr(p, '/')) != NULL) {
        p++;
        if (strncasecmp(p, segment, n) == 0 && p[n] == '/') {
            const char *name = p + n + 1;
            return json_stringn(name, strcspn(name, "/"));
        }
    }
    return NULL;
}

/* ---- times (SC_UNIX_TIME) ---------------------------------------------- */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil), and back. */
static long long days_from_civil(long long y, int m, int d)
{
    long long era, yoe, doy, doe;
    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(long long z, long long *y, int *m, int *d)
{
    long long era, doe, yoe, doy, mp;
    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

bool schema_time_parse(const char *s, long long *out)
{
    int y, mo, d, h, mi, sec, n = 0;
    long long days, cy;
    int cm, cd;
    if (strlen(s) != 20 ||
        sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2dZ%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 || n != 20)
        return false;
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || sec > 59 || h < 0 ||
        mi < 0 || sec < 0)
        return false;
    days = days_from_civil(y, mo, d);
    civil_from_days(days, &cy, &cm, &cd);
    if (cy != y || cm != mo || cd != d)
        return false; /* 2027-02-30 */
    *out = days * 86400 + h * 3600 + mi * 60 + sec;
    return true;
}

static json_t *time_text(long long t)
{
    long long y, days = t >= 0 ? t / 86400 : (t - 86399) / 86400, rest = t - days * 86400;
    int m, d;
    civil_from_days(days, &y, &m, &d);
    return json_sprintf("%04lld-%02d-%02dT%02lld:%02lld:%02lldZ", y, m, d, rest / 3600,
                        rest / 60 % 60, rest % 60);
}

/* {k = v} -> {k: {value: v}} (policy parameter values); NULL for NULL. */
static json_t *params_to_arm(const json_t *v)
{
    const char *k;
    json_t *pv, *out;
    if (v == NULL || json_is_null(v))
        return NULL;
    if (!json_is_object(v) || value_is_unknown(v))
        return json_incref((json_t *)v);
    out = json_object();
    json_object_foreach((json_t *)v, k, pv)
    {
        json_t *o = json_object();
        json_object_set(o, "value", pv);
        json_object_set_new(out, k, o);
    }
    return out;
}

static json_t *params_from_arm(const json_t *arm)
{
    const char *k;
    json_t *x, *out;
    if (!json_is_object(arm))
        return NULL;
    out = json_object();
    json_object_foreach((json_t *)arm, k, x)
    {
        const json_t *val = json_object_get(x, "value");
        json_object_set(out, k, val ? (json_t *)val : json_null());
    }
    return out;
}

/* A built-in policy GUID -> its definition id; ids as they are. */
static json_t *policy_def_to_arm(const json_t *v)
{
    char tmp[512];
    const char *s;
    if (v == NULL || json_is_null(v))
        return NULL;
    if (!json_is_string(v))
        return json_incref((json_t *)v);
    s = json_string_value(v);
    if (s[0] == '/')
        return json_incref((json_t *)v);
    snprintf(tmp, sizeof(tmp), "/providers/Microsoft.Authorization/policyDefinitions/%s", s);
    return json_string(tmp);
}

json_t *schema_string_values(const json_t *map)
{
    json_t *out = NULL, *v;
    const char *k;
    if (!json_is_object(map) || value_is_big(map))
        return NULL;
    json_object_foreach((json_t *)map, k, v)
    {
        json_t *text = NULL;
        if (json_is_boolean(v)) {
            text = json_string(json_is_true(v) ? "true" : "false");
        } else if (value_is_number(v)) {
            struct buf b;
            buf_init(&b, 0);
            if (value_number_text(&b, v) == 0)
                text = json_stringn(b.ptr, b.len);
            buf_release(&b);
        }
        if (text == NULL)
            continue;
        if (out == NULL && (out = json_copy((json_t *)map)) == NULL) {
            json_decref(text);
            return NULL;
        }
        json_object_set_new(out, k, text);
    }
    return out;
}

const char *schema_tag_value_wrong(const json_t *item)
{
    if (json_is_string(item) || value_is_number(item) || json_is_boolean(item) ||
        value_is_unknown(item))
        return NULL;
    return json_is_null(item) ? "null" : json_is_array(item) ? "a list" : "a map";
}

int schema_body_strings(const struct schema_kind *k, json_t *body, struct buf *why)
{
    if (k == NULL || !json_is_object(body))
        return 0;
    for (const struct schema_attr *a = k->body.attrs; a->name; a++) {
        const json_t *tags, *item;
        const char *key, *wrong;
        json_t *conv;
        if (!(a->flags & SF_STRING_VALUES) || a->map.path == NULL ||
            (tags = schema_json_get(body, a->map.path)) == NULL)
            continue;
        json_object_foreach((json_t *)tags, key, item)
        {
            char at[512];
            if ((wrong = schema_tag_value_wrong(item)) == NULL)
                continue;
            snprintf(at, sizeof(at), "%s.%s", a->name, key);
            buf_addf(why, SCHEMA_TAG_VALUE_FMT, at, wrong);
            return -1;
        }
        if ((conv = schema_string_values(tags)) != NULL)
            (void)schema_json_set(body, a->map.path, conv); /* conv is taken either way */
    }
    return 0;
}

json_t *schema_to_arm(const struct schema_attr *a, const struct schema_map *m, const json_t *v,
                      const char *subscription)
{
    json_t *out = NULL;
    size_t i;
    const json_t *item;

    if (v == NULL || json_is_null(v))
        return NULL;
    if (value_is_unknown(v)) /* kept as is: its origin lets apply fill it in */
        return json_incref((json_t *)v);
    switch (m->conv) {
    case SC_NONE: /* tags known only once apply filled them in are converted here */
        if ((a->flags & SF_STRING_VALUES) && (out = schema_string_values(v)) != NULL)
            return out;
        return json_incref((json_t *)v);
    case SC_ENUM:
        if (json_is_array(v)) {
            out = json_array();
            json_array_foreach(v, i, item) json_array_append_new(out, enum_out(a, item));
            return out;
        }
        return enum_out(a, v);
    case SC_ENABLED:
        return json_is_boolean(v) ? json_string(json_is_true(v) ? "Enabled" : "Disabled")
                                  : json_incref((json_t *)v);
    case SC_ENABLED_LOWER:
        return json_is_boolean(v) ? json_string(json_is_true(v) ? "enabled" : "disabled")
                                  : json_incref((json_t *)v);
    case SC_NOT:
        return json_is_boolean(v) ? json_boolean(!json_is_true(v)) : json_incref((json_t *)v);
    case SC_TRUE_ONLY:
        return json_is_true(v) ? json_true() : NULL;
    case SC_DEDICATED:
        return json_is_true(v) ? json_string("Dedicated") : NULL;
    case SC_ENFORCE:
        return json_is_boolean(v) ? json_string(json_is_true(v) ? "Default" : "DoNotEnforce")
                                  : json_incref((json_t *)v);
    case SC_ID: {
        const json_t *id = schema_ref_id(v);
        return id ? json_incref((json_t *)id) : NULL;
    }
    case SC_REF_FIELD:
        if (json_is_object(v) && !value_is_unknown(v)) {
            const json_t *f = json_object_get(v, m->field);
            return f ? json_incref((json_t *)f) : NULL;
        }
        return json_is_string(v) && strcmp(m->field, "versioned_uri") == 0
                   ? json_incref((json_t *)v)
                   : NULL;
    case SC_OBJ_LIST:
        if (!json_is_array(v))
            return json_incref((json_t *)v);
        out = json_array();
        json_array_foreach(v, i, item)
        {
            const json_t *s = schema_ref_id(item);
            json_t *o = json_object();
            json_object_set(o, m->field, (json_t *)(s ? s : item));
            json_array_append_new(out, o);
        }
        return out;
    case SC_ZONE_CONFIGS:
        /* the config's name is the zone's, dots as dashes, as the portal names them */
        if (!json_is_array(v))
            return json_incref((json_t *)v);
        out = json_array();
        json_array_foreach(v, i, item)
        {
            const json_t *id = schema_ref_id(item);
            const char *zone = json_string_value(id ? id : item), *slash;
            char name[256];
            size_t j = 0;
            if (zone == NULL)
                continue;
            slash = strrchr(zone, '/');
            for (const char *q = slash ? slash + 1 : zone; *q && j + 1 < sizeof(name); q++)
                name[j++] = *q == '.' ? '-' : *q;
            name[j] = '\0';
            json_array_append_new(out, json_pack("{s:s, s:{s:s}}", "name", name, "properties",
                                                 "privateDnsZoneId", zone));
        }
        return out;
    case SC_JOIN: {
        struct buf b;
        if (!json_is_array(v))
            return enum_out(a, v);
        if (json_array_size(v) == 0)
            return json_string("None");
        buf_init(&b, 4096);
        json_array_foreach(v, i, item)
        {
            const char *s = json_is_string(item) ? json_string_value(item) : "";
            const char *hit = schema_enum_match(a->allowed, s);
            if (i > 0)
                buf_adds(&b, ", ");
            buf_adds(&b, hit ? hit : s);
        }
        out = json_string(b.ptr);
        buf_release(&b);
        return out;
    }
    case SC_WRAP_LIST:
        out = json_array();
        json_array_append_new(out, enum_out(a, v));
        return out;
    case SC_ID_MAP:
        if (!json_is_array(v))
            return json_incref((json_t *)v);
        out = json_object();
        json_array_foreach(v, i, item)
        {
            const json_t *id = schema_ref_id(item);
            if (json_is_string(id))
                json_object_set_new(out, json_string_value(id), json_object());
        }
        return out;
    case SC_PARAMS:
        return params_to_arm(v);
    case SC_ROLE: {
        const json_t *id = schema_ref_id(v);
        const char *s, *guid;
        char tmp[512];
        if (json_is_object(v))
            return id ? json_incref((json_t *)id) : NULL;
        if (!json_is_string(v))
            return json_incref((json_t *)v);
        s = json_string_value(v);
        if (s[0] == '/')
            return json_incref((json_t *)v);
        guid = is_guid(s) ? s : schema_builtin_role(s);
        if (guid == NULL)
            return json_incref((json_t *)v);
        if (subscription)
            snprintf(tmp, sizeof(tmp),
                     "/subscriptions/%s/providers/Microsoft.Authorization/roleDefinitions/%s",
                     subscription, guid);
        else
            snprintf(tmp, sizeof(tmp), "/providers/Microsoft.Authorization/roleDefinitions/%s",
                     guid);
        return json_string(tmp);
    }
    case SC_POLICY_DEF:
        return policy_def_to_arm(v);
    case SC_KEY_PROPS: {
        /* the key's vault URI and name; no version: the account follows the key's newest
         * version (a key created in this run has no version yet, its URI is known) */
        const json_t *uri = v;
        const char *s, *k;
        size_t n;
        if (json_is_object(v))
            uri = json_is_string(json_object_get(v, "versioned_uri"))
                      ? json_object_get(v, "versioned_uri")
                      : json_object_get(v, "uri");
        if (value_is_unknown(uri))
            return json_incref((json_t *)uri);
        if (!json_is_string(uri) || (k = strstr(json_string_value(uri), "/keys/")) == NULL)
            return NULL;
        s = json_string_value(uri);
        n = strcspn(k + 6, "/");
        out = json_object();
        json_object_set_new(out, "keyvaulturi", json_stringn(s, (size_t)(k - s)));
        json_object_set_new(out, "keyname", json_stringn(k + 6, n));
        return out;
    }
    case SC_OUTBOUND: {
        const char *name;
        json_t *r;
        if (!json_is_object(v))
            return json_incref((json_t *)v);
        out = json_object();
        json_object_foreach((json_t *)v, name, r)
        {
            const char *type = json_string_value(json_object_get(r, "type"));
            json_t *o = json_object(), *dest;
            if (type == NULL || value_is_unknown(r)) {
                json_object_set(out, name, r);
                json_decref(o);
                continue;
            }
            if (strcasecmp(type, "PrivateEndpoint") == 0) {
                const json_t *target = json_object_get(r, "target");
                const json_t *tid = schema_ref_id(target);
                dest = json_object();
                json_object_set(dest, "serviceResourceId",
                                (json_t *)(json_is_object(target) && tid ? tid : target));
                if (json_object_get(r, "subresource"))
                    json_object_set(dest, "subresourceTarget", json_object_get(r, "subresource"));
                type = "PrivateEndpoint";
            } else if (strcasecmp(type, "ServiceTag") == 0) {
                dest = json_object();
                json_object_set(dest, "serviceTag", json_object_get(r, "service_tag"));
                json_object_set(dest, "protocol", json_object_get(r, "protocol"));
                json_object_set(dest, "portRanges", json_object_get(r, "ports"));
                json_object_set_new(dest, "action", json_string("Allow"));
                type = "ServiceTag";
            } else {
                dest = json_incref(json_object_get(r, "destination"));
                if (strcasecmp(type, "FQDN") == 0)
                    type = "FQDN";
            }
            json_object_set_new(o, "type", json_string(type));
            json_object_set_new(o, "category", json_string("UserDefined"));
            if (dest)
                json_object_set_new(o, "destination", dest);
            json_object_set_new(out, name, o);
        }
        return out;
    }
    case SC_POLICY_REFS:
        if (!json_is_array(v))
            return json_incref((json_t *)v);
        out = json_array();
        json_array_foreach(v, i, item)
        {
            json_t *o = json_object(), *x, *pv;
            const json_t *def = json_object_get(item, "definition");
            const json_t *id = schema_ref_id(def);
            const json_t *ref = json_object_get(item, "reference_id");
            const json_t *groups = json_object_get(item, "groups");
            if (!json_is_object(item)) {
                json_decref(o);
                json_array_append(out, (json_t *)item);
                continue;
            }
            x = policy_def_to_arm(json_is_object(def) && id ? id : def);
            if (x)
                json_object_set_new(o, "policyDefinitionId", x);
            if ((pv = params_to_arm(json_object_get(item, "parameters"))) != NULL)
                json_object_set_new(o, "parameters", pv);
            if (ref) {
                json_object_set(o, "policyDefinitionReferenceId", (json_t *)ref);
            } else if (json_is_string(x)) {
                /* ARM names an unnamed member itself: name it after its definition so the
                 * service echoes what was sent */
                const char *slash = strrchr(json_string_value(x), '/');
                json_object_set_new(o, "policyDefinitionReferenceId",
                                    json_string(slash ? slash + 1 : json_string_value(x)));
            }
            if (groups)
                json_object_set(o, "groupNames", (json_t *)groups);
            json_array_append_new(out, o);
        }
        return out;
    case SC_LOGS:
    case SC_METRICS:
        if (!json_is_array(v))
            return json_incref((json_t *)v);
        out = json_array();
        json_array_foreach(v, i, item)
        {
            const char *s = json_is_string(item) ? json_string_value(item) : "";
            bool group = m->conv == SC_LOGS &&
                         (strcasecmp(s, "allLogs") == 0 || strcasecmp(s, "audit") == 0);
            json_t *o = json_object();
            json_object_set(o, group ? "categoryGroup" : "category", (json_t *)item);
            json_object_set_new(o, "enabled", json_true());
            json_array_append_new(out, o);
        }
        return out;
    case SC_ID_SEGMENT: {
        const json_t *id = schema_ref_id(v);
        if (value_is_unknown(id))
            return value_unknown();
        return json_is_string(id) ? id_segment(json_string_value(id), m->field) : NULL;
    }
    case SC_LIFETIME: {
        char action[32];
        const char *colon = strchr(m->field, ':');
        size_t n = colon ? (size_t)(colon - m->field) : 0;
        if (colon == NULL || n >= sizeof(action))
            return NULL;
        memcpy(action, m->field, n);
        action[n] = '\0';
        out = json_object();
        json_object_set_new(out, "trigger", json_pack("{sO}", colon + 1, v));
        json_object_set_new(out, "action", json_pack("{ss}", "type", action));
        return out;
    }
    case SC_UNIX_TIME: {
        long long t;
        /* a bad time is sent as given (validate reports it; ARM refuses it) */
        if (json_is_string(v) && schema_time_parse(json_string_value(v), &t))
            return json_integer((json_int_t)t);
        return json_incref((json_t *)v);
    }
    }
    return NULL;
}

json_t *schema_from_arm(const struct schema_attr *a, const struct schema_map *m, const json_t *arm)
{
    json_t *out;
    size_t i;
    const json_t *item;

    if (arm == NULL || json_is_null(arm))
        return NULL;
    switch (m->conv) {
    case SC_NONE:
    case SC_ID:
    case SC_ROLE:
    case SC_POLICY_DEF:
        return json_incref((json_t *)arm);
    case SC_ENUM:
        if (json_is_array(arm)) {
            out = json_array();
            json_array_foreach(arm, i, item) json_array_append_new(out, enum_out(a, item));
            return out;
        }
        return enum_out(a, arm);
    case SC_ENABLED:
    case SC_ENABLED_LOWER:
        if (json_is_string(arm))
            return json_boolean(strcasecmp(json_string_value(arm), "enabled") == 0);
        return json_incref((json_t *)arm);
    case SC_NOT:
        return json_is_boolean(arm) ? json_boolean(!json_is_true(arm)) : json_incref((json_t *)arm);
    case SC_TRUE_ONLY:
        return json_incref((json_t *)arm);
    case SC_DEDICATED:
        return json_boolean(json_is_string(arm) &&
                            strcasecmp(json_string_value(arm), "Dedicated") == 0);
    case SC_ENFORCE:
        if (json_is_string(arm))
            return json_boolean(strcasecmp(json_string_value(arm), "DoNotEnforce") != 0);
        return json_incref((json_t *)arm);
    case SC_REF_FIELD:
        return json_pack("{sO}", m->field, arm);
    case SC_OBJ_LIST:
        if (!json_is_array(arm))
            return NULL;
        out = json_array();
        json_array_foreach(arm, i, item)
        {
            const json_t *f = json_object_get(item, m->field);
            if (f)
                json_array_append(out, (json_t *)f);
        }
        return out;
    case SC_ZONE_CONFIGS:
        if (!json_is_array(arm))
            return NULL;
        out = json_array();
        json_array_foreach(arm, i, item)
        {
            const json_t *f =
                json_object_get(json_object_get(item, "properties"), "privateDnsZoneId");
            if (f)
                json_array_append(out, (json_t *)f);
        }
        return out;
    case SC_JOIN: {
        const char *s, *p;
        if (!json_is_string(arm))
            return NULL;
        out = json_array();
        s = json_string_value(arm);
        if (strcasecmp(s, "None") == 0)
            return out;
        for (p = s; *p;) {
            size_t n;
            char tmp[64];
            const char *hit;
            while (*p == ' ' || *p == ',')
                p++;
            n = strcspn(p, ",");
            while (n > 0 && p[n - 1] == ' ')
                n--;
            if (n == 0)
                break;
            if (n >= sizeof(tmp))
                n = sizeof(tmp) - 1;
            memcpy(tmp, p, n);
            tmp[n] = '\0';
            hit = schema_enum_match(a->allowed, tmp);
            json_array_append_new(out, json_string(hit ? hit : tmp));
            p += strcspn(p, ",");
        }
        return out;
    }
    case SC_WRAP_LIST:
        if (json_is_array(arm))
            return json_array_size(arm) ? enum_out(a, json_array_get(arm, 0)) : NULL;
        return enum_out(a, arm);
    case SC_ID_MAP: {
        const char *k;
        json_t *x;
        if (!json_is_object(arm))
            return NULL;
        out = json_array();
        json_object_foreach((json_t *)arm, k, x) json_array_append_new(out, json_string(k));
        return out;
    }
    case SC_PARAMS:
        return params_from_arm(arm);
    case SC_KEY_PROPS: {
        const char *vu = json_string_value(json_object_get(arm, "keyvaulturi"));
        const char *kn = json_string_value(json_object_get(arm, "keyname"));
        const char *kv = json_string_value(json_object_get(arm, "keyversion"));
        size_t n = vu ? strlen(vu) : 0;
        if (vu == NULL || kn == NULL)
            return NULL;
        while (n > 0 && vu[n - 1] == '/')
            n--;
        return json_pack("{so}", "uri",
                         kv && *kv ? json_sprintf("%.*s/keys/%s/%s", (int)n, vu, kn, kv)
                                   : json_sprintf("%.*s/keys/%s", (int)n, vu, kn));
    }
    case SC_OUTBOUND: {
        const char *name;
        json_t *r;
        if (!json_is_object(arm))
            return NULL;
        out = json_object();
        json_object_foreach((json_t *)arm, name, r)
        {
            const char *type = json_string_value(json_object_get(r, "type"));
            const char *cat = json_string_value(json_object_get(r, "category"));
            const json_t *dest = json_object_get(r, "destination");
            json_t *o;
            /* the rules the service adds itself (Required, Recommended, Dependency) are not
             * the configuration's */
            if (type == NULL || (cat && strcasecmp(cat, "UserDefined") != 0))
                continue;
            o = json_pack("{ss}", "type", type);
            if (strcasecmp(type, "PrivateEndpoint") == 0) {
                if (json_object_get(dest, "serviceResourceId"))
                    json_object_set(o, "target", json_object_get(dest, "serviceResourceId"));
                if (json_object_get(dest, "subresourceTarget"))
                    json_object_set(o, "subresource", json_object_get(dest, "subresourceTarget"));
            } else if (strcasecmp(type, "ServiceTag") == 0) {
                if (json_object_get(dest, "serviceTag"))
                    json_object_set(o, "service_tag", json_object_get(dest, "serviceTag"));
                if (json_object_get(dest, "protocol"))
                    json_object_set(o, "protocol", json_object_get(dest, "protocol"));
                if (json_object_get(dest, "portRanges"))
                    json_object_set(o, "ports", json_object_get(dest, "portRanges"));
            } else if (dest) {
                json_object_set(o, "destination", (json_t *)dest);
            }
            json_object_set_new(out, name, o);
        }
        return out;
    }
    case SC_POLICY_REFS:
        if (!json_is_array(arm))
            return NULL;
        out = json_array();
        json_array_foreach(arm, i, item)
        {
            json_t *o = json_object(), *p;
            const json_t *def = json_object_get(item, "policyDefinitionId");
            const json_t *ref = json_object_get(item, "policyDefinitionReferenceId");
            const json_t *groups = json_object_get(item, "groupNames");
            if (def)
                json_object_set(o, "definition", (json_t *)def);
            if ((p = params_from_arm(json_object_get(item, "parameters"))) != NULL)
                json_object_set_new(o, "parameters", p);
            if (ref)
                json_object_set(o, "reference_id", (json_t *)ref);
            if (json_array_size(groups) > 0)
                json_object_set(o, "groups", (json_t *)groups);
            json_array_append_new(out, o);
        }
        return out;
    case SC_LOGS:
    case SC_METRICS:
        if (!json_is_array(arm))
            return NULL;
        out = json_array();
        json_array_foreach(arm, i, item)
        {
            const json_t *c = json_object_get(item, "categoryGroup");
            if (!json_is_string(c))
                c = json_object_get(item, "category");
            if (json_is_string(c) && !json_is_false(json_object_get(item, "enabled")))
                json_array_append(out, (json_t *)c);
        }
        return out;
    case SC_ID_SEGMENT:
        return json_incref((json_t *)arm);
    case SC_LIFETIME: {
        const char *colon = strchr(m->field, ':');
        size_t n = colon ? (size_t)(colon - m->field) : 0;
        if (colon == NULL || !json_is_array(arm))
            return NULL;
        json_array_foreach(arm, i, item)
        {
            const json_t *type = schema_json_get(item, "action.type");
            const json_t *trig = json_object_get(json_object_get(item, "trigger"), colon + 1);
            if (json_is_string(type) && strlen(json_string_value(type)) == n &&
                strncasecmp(json_string_value(type), m->field, n) == 0 && json_is_string(trig))
                return json_incref((json_t *)trig);
        }
        return NULL;
    }
    case SC_UNIX_TIME:
        return json_is_integer(arm) ? time_text((long long)json_integer_value(arm))
                                    : json_incref((json_t *)arm);
    }
    return NULL;
}

/* ---- normalisers ------------------------------------------------------ */

static json_t *norm_string(enum schema_norm n, const char *s)
{
    char tmp[2048];
    size_t len = strlen(s);
    if (len >= sizeof(tmp))
        return json_string(s);
    switch (n) {
    case SN_ID:
    case SN_ID_SET:
        for (size_t i = 0; i <= len; i++)
            tmp[i] = (char)tolower((unsigned char)s[i]);
        while (len > 1 && tmp[len - 1] == '/')
            tmp[--len] = '\0';
        return json_string(tmp);
    case SN_ENUM:
        enum_fold(tmp, sizeof(tmp), s);
        return json_string(tmp);
    case SN_CIDR: {
        size_t o = 0;
        for (const char *p = s; *p && o + 4 < sizeof(tmp); p++)
            if (*p != '\'' && *p != ' ')
                tmp[o++] = *p;
        tmp[o] = '\0';
        if (strchr(tmp, '/') == NULL && strchr(tmp, ':') == NULL)
            memcpy(tmp + o, "/32", 4);
        return json_string(tmp);
    }
    case SN_KEY_URI: {
        /* https://HOST[:443]/keys/name[/version][/] -> lowercase host, no :443 */
        const char *host = strstr(s, "://");
        size_t o = 0, i;
        const char *rest;
        if (host == NULL)
            return json_string(s);
        host += 3;
        rest = host + strcspn(host, "/");
        memcpy(tmp, s, (size_t)(host - s));
        o = (size_t)(host - s);
        for (i = 0; host + i < rest; i++)
            tmp[o++] = (char)tolower((unsigned char)host[i]);
        if (o >= 4 && memcmp(tmp + o - 4, ":443", 4) == 0)
            o -= 4;
        memcpy(tmp + o, rest, strlen(rest) + 1);
        o += strlen(rest);
        while (o > 0 && tmp[o - 1] == '/')
            tmp[--o] = '\0';
        return json_string(tmp);
    }
    case SN_NONE:
    case SN_SET:
        break;
    }
    return json_string(s);
}

static int cmp_json(const void *x, const void *y)
{
    const json_t *a = *(const json_t *const *)x, *b = *(const json_t *const *)y;
    char *sa = jsonw_dumps(a, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    char *sb = jsonw_dumps(b, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    int r = strcmp(sa ? sa : "", sb ? sb : "");
    free(sa);
    free(sb);
    return r;
}

static json_t *norm_value(enum schema_norm n, const json_t *v)
{
    if (v == NULL)
        return NULL;
    if (value_is_unknown(v))
        return json_incref((json_t *)v);
    if (json_is_object(v) && (n == SN_ID || n == SN_ID_SET || n == SN_KEY_URI)) {
        const json_t *id = json_object_get(v, "id");
        if (n == SN_KEY_URI && json_object_get(v, "versioned_uri"))
            id = json_object_get(v, "versioned_uri");
        if (id)
            return norm_value(n, id);
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        /* Whatever the attribute: ARM ids compare case-insensitively. */
        if (n == SN_NONE &&
            (strncmp(s, "/subscriptions/", 15) == 0 || strncmp(s, "/providers/", 11) == 0))
            n = SN_ID;
        if (n == SN_NONE && strncmp(s, "https://", 8) == 0 && strstr(s, ".vault.") &&
            strstr(s, "/keys/"))
            n = SN_KEY_URI;
        return norm_string(n, s);
    }
    if (json_is_array(v)) {
        size_t i, cnt = json_array_size(v);
        json_t **items = calloc(cnt ? cnt : 1, sizeof(*items));
        json_t *out = json_array();
        const json_t *item;
        enum schema_norm en = n == SN_SET ? SN_NONE : n;
        if (items == NULL || out == NULL) {
            free(items);
            json_decref(out);
            return NULL;
        }
        json_array_foreach(v, i, item) items[i] = norm_value(en, item);
        if (n == SN_SET || n == SN_ID_SET || n == SN_CIDR || n == SN_ENUM)
            qsort(items, cnt, sizeof(*items), cmp_json);
        for (i = 0; i < cnt; i++)
            json_array_append_new(out, items[i] ? items[i] : json_null());
        free(items);
        return out;
    }
    if (json_is_object(v)) {
        json_t *out = json_object();
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x)
            json_object_set_new(out, k, norm_value(n == SN_SET ? SN_NONE : n, x));
        return out;
    }
    return json_incref((json_t *)v);
}

json_t *schema_normalise(const struct schema_attr *a, const json_t *v)
{
    return norm_value(a->norm, v);
}

bool schema_values_equal(const struct schema_attr *a, const json_t *x, const json_t *y)
{
    json_t *ex = schema_effective(a, x), *ey = schema_effective(a, y);
    json_t *nx = norm_value(a->norm, ex), *ny = norm_value(a->norm, ey);
    bool eq;
    if (nx == NULL || ny == NULL)
        eq = nx == ny;
    else
        eq = json_equal(nx, ny);
    json_decref(ex);
    json_decref(ey);
    json_decref(nx);
    json_decref(ny);
    return eq;
}

/* ---- change classification ------------------------------------------- */

const char *schema_change_name(enum schema_change c)
{
    switch (c) {
    case CHANGE_NONE:
        return "none";
    case CHANGE_UPDATE:
        return "update";
    case CHANGE_REPLACE:
        return "replace";
    case CHANGE_IMPOSSIBLE:
        return "impossible";
    }
    return "?";
}

struct diff_ctx {
    const struct schema_kind *kind;
    struct schema_diff_entry *out;
    size_t max, n;
    enum schema_change worst;
};

static void diff_note(struct diff_ctx *d, const char *path, enum schema_change c, const char *why)
{
    if (d->kind->replace_on_change && c == CHANGE_UPDATE) {
        c = CHANGE_REPLACE;
        why = "this kind cannot be updated: any change recreates it";
    }
    if (c > d->worst)
        d->worst = c;
    if (d->out && d->n < d->max) {
        struct schema_diff_entry *e = &d->out[d->n];
        snprintf(e->path, sizeof(e->path), "%s", path);
        e->change = c;
        e->why = why;
    }
    d->n++;
}

static bool arm_equal(const struct schema_attr *a, const json_t *x, const json_t *y)
{
    json_t *nx = norm_value(a->norm == SN_KEY_URI ? SN_NONE : a->norm, x);
    json_t *ny = norm_value(a->norm == SN_KEY_URI ? SN_NONE : a->norm, y);
    bool eq;
    if (nx == NULL || ny == NULL)
        eq = nx == ny;
    else if (value_is_unknown(nx) || value_is_unknown(ny))
        eq = false;
    else
        eq = json_equal(nx, ny);
    json_decref(nx);
    json_decref(ny);
    return eq;
}

static void diff_block(struct diff_ctx *d, const struct schema_block *b, const json_t *before,
                       const json_t *after, const char *prefix);

/* Role definition ids name the same role when their last segment (the
 * GUID) matches: ARM returns them with /subscriptions/S in front, the
 * configuration may name a built-in role without one. */
static bool role_guid_equal(const json_t *x, const json_t *y)
{
    const char *a, *b, *sa, *sb;
    if (!json_is_string(x) || !json_is_string(y))
        return false;
    a = json_string_value(x);
    b = json_string_value(y);
    sa = strrchr(a, '/');
    sb = strrchr(b, '/');
    return strcasecmp(sa ? sa + 1 : a, sb ? sb + 1 : b) == 0;
}

static void diff_attr(struct diff_ctx *d, const struct schema_attr *a, const json_t *bv,
                      const json_t *av, const char *path)
{
    json_t *eb, *ea;
    if (a->flags & SF_COMPUTED)
        return;
    if ((a->flags & SF_WRITE_ONLY) && (bv == NULL || av == NULL))
        return;
    if (a->type == ST_BLOCK && !(a->flags & SF_REPEAT)) {
        const json_t *bo = json_is_object(bv) ? bv : NULL, *ao = json_is_object(av) ? av : NULL;
        if (bo == NULL && ao == NULL && !(a->flags & SF_ALWAYS))
            return;
        if ((bo == NULL) != (ao == NULL) && !(a->flags & SF_ALWAYS)) {
            /* the whole block appears or goes away */
            enum schema_change c = (a->flags & SF_CREATE_ONLY) ? CHANGE_REPLACE : CHANGE_UPDATE;
            diff_note(d, path, c,
                      c == CHANGE_REPLACE ? "the block is create-only"
                                          : "the block is added or removed in place");
            return;
        }
        diff_block(d, a->block, bo, ao, path);
        return;
    }
    eb = schema_effective(a, bv);
    ea = schema_effective(a, av);
    if (a->type == ST_BLOCK || a->map.path == NULL) {
        if (!schema_values_equal(a, eb, ea) || value_contains_unknown(ea)) {
            bool replace = (a->flags & SF_CREATE_ONLY) != 0;
            if (!(eb == NULL && ea == NULL))
                diff_note(d, path, replace ? CHANGE_REPLACE : CHANGE_UPDATE,
                          replace ? "part of the resource id or create-only" : "updated in place");
        }
        goto out;
    }
    {
        /* Each ARM field the value feeds decides; the worst one wins. */
        enum schema_change worst = CHANGE_NONE;
        const char *why = NULL;
        for (int i = 0; i < 2; i++) {
            const struct schema_map *m = i == 0 ? &a->map : &a->map2;
            json_t *xb, *xa;
            unsigned flags;
            enum schema_change c = CHANGE_NONE;
            const char *w = NULL;
            if (m->path == NULL)
                continue;
            xb = schema_to_arm(a, m, eb, NULL);
            xa = schema_to_arm(a, m, ea, NULL);
            flags = a->flags | m->flags;
            if (m->conv == SC_ROLE && role_guid_equal(xb, xa)) {
                /* the same role definition, with or without the subscription prefix */
            } else if (!arm_equal(a, xb, xa)) {
                if ((flags & SF_NO_DISABLE) && json_is_true(eb) && json_is_false(ea)) {
                    c = CHANGE_IMPOSSIBLE;
                    w = "cannot be turned off once enabled (the service refuses false)";
                } else if (flags & SF_CREATE_ONLY) {
                    c = CHANGE_REPLACE;
                    w = "create-only: the service does not accept a change";
                } else if (m->conv == SC_REF_FIELD && strcmp(m->field, "versioned_uri") == 0) {
                    c = CHANGE_UPDATE;
                    w = "key rotation: PATCH encryption.keyVaultProperties.keyIdentifier "
                        "(takes about an hour to take effect)";
                } else {
                    c = CHANGE_UPDATE;
                    w = "updated in place";
                }
            }
            json_decref(xb);
            json_decref(xa);
            if (c > worst) {
                worst = c;
                why = w;
            }
        }
        if (worst != CHANGE_NONE)
            diff_note(d, path, worst, why);
    }
out:
    json_decref(eb);
    json_decref(ea);
}

static void diff_block(struct diff_ctx *d, const struct schema_block *b, const json_t *before,
                       const json_t *after, const char *prefix)
{
    char path[256];
    for (const struct schema_attr *a = b->attrs; a->name; a++) {
        const json_t *bv = before ? json_object_get(before, a->name) : NULL;
        const json_t *av = after ? json_object_get(after, a->name) : NULL;
        str_dotted(path, sizeof(path), prefix, a->name);
        diff_attr(d, a, bv, av, path);
    }
}

enum schema_change schema_diff(const struct schema_kind *k, const json_t *before,
                               const json_t *after, struct schema_diff_entry *out, size_t max,
                               size_t *n_out)
{
    struct diff_ctx d = {.kind = k, .out = out, .max = max};
    diff_block(&d, &k->body, before, after, "");
    if (n_out)
        *n_out = d.n < max ? d.n : max;
    return d.worst;
}

const char *schema_type_name(enum schema_type t)
{
    switch (t) {
    case ST_STRING:
        return "string";
    case ST_INT:
        return "number";
    case ST_BOOL:
        return "bool";
    case ST_LIST:
        return "list";
    case ST_MAP:
        return "map";
    case ST_REF:
        return "reference";
    case ST_BLOCK:
        return "block";
    case ST_ANY:
        return "any";
    }
    return "?";
}
