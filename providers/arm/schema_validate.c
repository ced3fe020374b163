/* Schema-level checks of configuration instances (see schema.h):
 * unknown attributes, types, enum values, ranges, names, required
 * attributes, existing-only kinds, private endpoint sub-resources. */
#include "providers/arm/schema.h"

#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parser/value.h"
#include "providers/arm/resolve.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/suggest.h"
#include "util/banned.h"

/* A name pattern that is a sequence of bracket expressions, each with an
 * optional {m,n} (^[a-z][-a-z0-9]{2,31}$, as most kinds' are), matched
 * without regexec: it is once per instance, and glibc's regexec costs as
 * much as the rest of the instance's schema check. */
#define SIMPLE_MAX 4
struct simple_pattern {
    size_t n; /* 0: not simple, regexec decides */
    struct {
        unsigned char set[32]; /* bit per byte */
        size_t min, max;
    } el[SIMPLE_MAX];
};

static bool in_set(const unsigned char *set, unsigned char c)
{
    return set[c >> 3] & (1u << (c & 7));
}

static bool simple_parse_elements(struct simple_pattern *sp, const char *p);

/* Parses pattern into sp; false (sp->n = 0) for anything but ^[...]{m,n}...$
 * with plain characters and ranges in the brackets. */
static bool simple_parse(struct simple_pattern *sp, const char *p)
{
    if (simple_parse_elements(sp, p))
        return true;
    sp->n = 0;
    return false;
}

static bool simple_parse_elements(struct simple_pattern *sp, const char *p)
{
    memset(sp, 0, sizeof(*sp));
    if (*p++ != '^')
        return false;
    while (*p != '$') {
        bool negate = false;
        size_t k = sp->n;
        if (*p++ != '[' || k == SIMPLE_MAX)
            return false;
        if (*p == '^') {
            negate = true;
            p++;
        }
        if (*p == ']')
            return false;
        while (*p != ']') {
            unsigned char lo = (unsigned char)*p, hi = lo;
            if (*p == '\0' || *p == '[' || *p == '\\')
                return false;
            if (p[1] == '-' && p[2] != ']' && p[2] != '\0') {
                hi = (unsigned char)p[2];
                if (hi < lo || p[2] == '[' || p[2] == '\\')
                    return false;
                p += 3;
            } else {
                p++;
            }
            for (unsigned c = lo; c <= hi; c++)
                sp->el[k].set[c >> 3] |= (unsigned char)(1u << (c & 7));
        }
        p++;
        if (negate)
            for (size_t i = 0; i < sizeof(sp->el[k].set); i++)
                sp->el[k].set[i] = (unsigned char)~sp->el[k].set[i];
        sp->el[k].set[0] &= (unsigned char)~1u; /* never the string's end */
        sp->el[k].min = sp->el[k].max = 1;
        if (*p == '{') {
            char *end;
            sp->el[k].min = sp->el[k].max = strtoul(p + 1, &end, 10);
            if (end == p + 1)
                return false;
            if (*end == ',') {
                p = end + 1;
                sp->el[k].max = strtoul(p, &end, 10);
                if (end == p)
                    return false;
            }
            if (*end != '}' || sp->el[k].max < sp->el[k].min)
                return false;
            p = end + 1;
        }
        sp->n = k + 1;
    }
    return p[1] == '\0' && sp->n > 0;
}

/* Whether s matches sp: the positions reachable after each element. */
static bool simple_match(const struct simple_pattern *sp, const char *s)
{
    size_t len = strlen(s);
    unsigned char small[2][257], *reach, *next;
    bool ok;
    if (len + 1 <= sizeof(small[0])) {
        reach = small[0];
        next = small[1];
    } else {
        reach = malloc(2 * (len + 1));
        if (reach == NULL)
            return false;
        next = reach + len + 1;
    }
    memset(reach, 0, len + 1);
    reach[0] = 1;
    for (size_t k = 0; k < sp->n; k++) {
        memset(next, 0, len + 1);
        for (size_t p = 0; p <= len; p++) {
            if (!reach[p])
                continue;
            if (sp->el[k].min == 0)
                next[p] = 1;
            for (size_t c = 1; c <= sp->el[k].max && p + c <= len &&
                               in_set(sp->el[k].set, (unsigned char)s[p + c - 1]);
                 c++)
                if (c >= sp->el[k].min)
                    next[p + c] = 1;
        }
        {
            unsigned char *t = reach;
            reach = next;
            next = t;
        }
    }
    ok = reach[len] != 0;
    if (len + 1 > sizeof(small[0]))
        free(reach < next ? reach : next);
    return ok;
}

bool schema_name_matches(const struct schema_kind *k, const char *name)
{
    struct simple_pattern sp;
    regex_t re;
    bool ok;
    if (k->name_pattern == NULL)
        return true;
    if (simple_parse(&sp, k->name_pattern))
        return simple_match(&sp, name);
    if (regcomp(&re, k->name_pattern, REG_EXTENDED | REG_NOSUB) != 0)
        BUG("bad name pattern for %s", k->name);
    ok = regexec(&re, name, 0, NULL, 0) == 0;
    regfree(&re);
    return ok;
}

/* Compiled name patterns, one per kind (schema_kinds order). */
struct name_cache {
    regex_t *re;
    unsigned char *ready;
    struct simple_pattern *simple;
};

struct vctx {
    struct name_cache *names; /* NULL: compile per check */
    const struct config *cfg;
    const struct cfg_instance *inst;
    const struct schema_kind *kind;
    struct diag_list *diags;
    size_t errors;
};

__attribute__((format(printf, 5, 6))) static struct diag *verr(struct vctx *v,
                                                               const struct src_loc *loc,
                                                               const char *code, const char *hint,
                                                               const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    struct diag *d;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* same code, place and message already reported (for_each instances
     * share their block): don't repeat it (the list's index: linear) */
    if (diag_list_has_span(v->diags, loc, code, msg))
        return NULL;
    d = diag_add(v->diags, DIAG_ERROR, loc, code, "%s", msg);
    if (d && hint)
        diag_set_hint(d, "%s", hint);
    v->errors++;
    return d;
}

/* User input quoted in a message: at most QUOTE_MAX bytes of it, then
 * "... (N bytes)" (a 20 MiB name must not make a 20 MiB message). */
#define QUOTE_MAX 64
static const char *quoted(char *dst, size_t size, const char *s)
{
    size_t n = strlen(s);
    if (n <= QUOTE_MAX)
        snprintf(dst, size, "'%s'", s);
    else
        snprintf(dst, size, "'%.*s...' (%zu bytes)", QUOTE_MAX, s, n);
    return dst;
}

/* Whether what is at path (an attribute's path: inside it or all of it)
 * comes from a sensitive value: a message then never quotes it, nor
 * suggests what it is near. */
static bool withheld(const struct vctx *v, const char *path)
{
    return value_path_sensitive(v->inst->sensitive, path, true);
}

#define WITHHELD "a sensitive value (not shown)"

/* quoted(), or WITHHELD for a value withheld(). */
static const char *shown(const struct vctx *v, const char *path, char *dst, size_t size,
                         const char *s)
{
    return withheld(v, path) ? WITHHELD : quoted(dst, size, s);
}

static void allowed_list(struct buf *b, const char *const *allowed)
{
    for (const char *const *p = allowed; *p; p++)
        buf_addf(b, "%s%s", p == allowed ? "" : ", ", *p);
}

static void check_enum(struct vctx *v, const struct schema_attr *a, const json_t *val,
                       const char *path)
{
    struct src_loc loc;
    const char *s;
    if (!json_is_string(val) || a->allowed == NULL)
        return;
    s = json_string_value(val);
    if (schema_enum_match(a->allowed, s))
        return;
    if (a->map.conv == SC_ROLE)
        return;
    loc = config_attr_loc(v->inst, path);
    {
        struct buf b;
        const char *near = withheld(v, path) ? NULL : suggest_nearest(s, a->allowed, 0);
        buf_init(&b, 4096);
        if (near)
            buf_addf(&b, "did you mean '%s'? ", near);
        buf_adds(&b, "allowed: ");
        allowed_list(&b, a->allowed);
        char q[QUOTE_MAX + 48];
        verr(v, &loc, "bad-value", b.ptr, "%s is not a valid value for '%s'",
             shown(v, path, q, sizeof(q), s), path);
        buf_release(&b);
    }
}

/* Does a reference value name one of kinds? */
static bool ref_kind_ok(const struct schema_attr *a, const json_t *val, const char **got)
{
    const json_t *rt = json_object_get(val, "resource_type");
    const struct schema_kind *k;
    *got = NULL;
    if (a->ref_kinds == NULL || !json_is_string(rt))
        return true;
    for (const char *const *p = a->ref_kinds; *p; p++) {
        const struct schema_kind *want = schema_find(*p);
        if (want && strcasecmp(want->arm.type, json_string_value(rt)) == 0)
            return true;
    }
    k = schema_find_by_type(json_string_value(rt));
    *got = k ? k->name : json_string_value(rt);
    return false;
}

static void check_value(struct vctx *v, const struct schema_attr *a, const json_t *val,
                        const char *path)
{
    struct src_loc loc;
    bool ok = true;
    if (val == NULL || value_is_unknown(val) || json_is_null(val))
        return;
    switch (a->type) {
    case ST_STRING:
        ok = json_is_string(val);
        break;
    case ST_INT:
        ok = value_is_whole(val);
        break;
    case ST_BOOL:
        ok = json_is_boolean(val);
        break;
    case ST_LIST:
        ok = json_is_array(val);
        break;
    case ST_MAP:
        ok = json_is_object(val) && !value_is_big(val);
        break;
    case ST_REF:
        ok = json_is_string(val) || (json_is_object(val) && json_object_get(val, "id"));
        break;
    case ST_BLOCK:
        ok = (json_is_object(val) && !value_is_big(val)) ||
             ((a->flags & SF_REPEAT) && json_is_array(val));
        break;
    case ST_ANY:
        break;
    }
    if (!ok && a->type == ST_INT && json_is_real(val)) {
        loc = config_attr_loc(v->inst, path);
        verr(v, &loc, "attribute-type", NULL, "'%s' expects a whole number, got a decimal", path);
        return;
    }
    if (!ok) {
        loc = config_attr_loc(v->inst, path);
        verr(v, &loc, "attribute-type", NULL, "'%s' expects a %s, got %s", path,
             schema_type_name(a->type), value_type_name(val));
        return;
    }
    if (a->flags & SF_STRING_VALUES) { /* numbers and bools were converted (resolve.c) */
        const char *key;
        json_t *item;
        const char *wrong;
        json_object_foreach((json_t *)val, key, item)
        {
            char at[512];
            if ((wrong = schema_tag_value_wrong(item)) == NULL)
                continue;
            snprintf(at, sizeof(at), "%s.%s", path, key);
            loc = config_attr_loc(v->inst, at);
            verr(v, &loc, "attribute-type", NULL, SCHEMA_TAG_VALUE_FMT, at, wrong);
        }
    }
    if (a->type == ST_REF && json_is_object(val)) {
        const char *got;
        if (!ref_kind_ok(a, val, &got)) {
            struct buf b;
            buf_init(&b, 1024);
            for (const char *const *p = a->ref_kinds; *p; p++)
                buf_addf(&b, "%s%s", p == a->ref_kinds ? "" : " or ", *p);
            loc = config_attr_loc(v->inst, path);
            verr(v, &loc, "attribute-type", NULL, "'%s' must reference a %s, not a %s", path, b.ptr,
                 got);
            buf_release(&b);
        }
    }
    if (a->type == ST_INT && a->min < a->max && value_is_big(val)) {
        struct buf b;
        buf_init(&b, 1024);
        value_number_text(&b, val);
        loc = config_attr_loc(v->inst, path);
        verr(v, &loc, "bad-value", NULL, "'%s' must be between %ld and %ld, got %s", path, a->min,
             a->max, withheld(v, path) ? WITHHELD : b.ptr);
        buf_release(&b);
    } else if (a->type == ST_INT && a->min < a->max) {
        json_int_t i = json_integer_value(val);
        if (i < a->min || i > a->max) {
            char got[32];
            snprintf(got, sizeof(got), "%lld", (long long)i);
            loc = config_attr_loc(v->inst, path);
            verr(v, &loc, "bad-value", NULL, "'%s' must be between %ld and %ld, got %s", path,
                 a->min, a->max, withheld(v, path) ? WITHHELD : got);
        }
    }
    if (a->type == ST_STRING)
        check_enum(v, a, val, path);
    if (a->type == ST_LIST && a->allowed) {
        size_t i;
        const json_t *item;
        json_array_foreach(val, i, item) check_enum(v, a, item, path);
    }
    if (a->type == ST_LIST && a->min < a->max &&
        ((long)json_array_size(val) < a->min || (long)json_array_size(val) > a->max)) {
        loc = config_attr_loc(v->inst, path);
        verr(v, &loc, "bad-value", NULL, "'%s' needs %ld to %ld items, got %zu", path, a->min,
             a->max, json_array_size(val));
    }
    if (a->type == ST_LIST) {
        size_t i;
        const json_t *item;
        json_array_foreach(val, i, item)
        {
            if (!json_is_string(item) && !value_is_unknown(item) &&
                !(json_is_object(item) && json_object_get(item, "id"))) {
                loc = config_attr_loc(v->inst, path);
                verr(v, &loc, "attribute-type", NULL, "'%s' expects a list of strings, got %s",
                     path, value_type_name(item));
                break;
            }
        }
    }
    if (a->map.conv == SC_UNIX_TIME && json_is_string(val)) {
        long long t;
        if (!schema_time_parse(json_string_value(val), &t)) {
            char q[QUOTE_MAX + 48];
            loc = config_attr_loc(v->inst, path);
            verr(v, &loc, "bad-value", "write a UTC time such as \"2027-06-30T00:00:00Z\"",
                 "%s is not an RFC 3339 UTC time (YYYY-MM-DDTHH:MM:SSZ)",
                 shown(v, path, q, sizeof(q), json_string_value(val)));
        }
    }
    if (a->map.conv == SC_OUTBOUND && json_is_object(val)) {
        static const struct {
            const char *type;
            const char *const keys[5];
        } shapes[] = {
            {"FQDN", {"type", "destination", NULL}},
            {"PrivateEndpoint", {"type", "target", "subresource", NULL}},
            {"ServiceTag", {"type", "service_tag", "protocol", "ports", NULL}},
        };
        const char *name;
        const json_t *r;
        json_object_foreach((json_t *)val, name, r)
        {
            const char *type = json_string_value(json_object_get(r, "type")), *k, *bad = NULL;
            const json_t *x;
            size_t s = 0;
            if (value_is_unknown(r))
                continue;
            for (; type && s < sizeof(shapes) / sizeof(shapes[0]); s++)
                if (strcasecmp(shapes[s].type, type) == 0)
                    break;
            loc = config_attr_loc(v->inst, path);
            if (!json_is_object(r) || type == NULL || s == sizeof(shapes) / sizeof(shapes[0])) {
                verr(v, &loc, "bad-value",
                     "write { type = \"FQDN\", destination = \"pypi.org\" }, { type = "
                     "\"PrivateEndpoint\", target = ..., subresource = ... } or { type = "
                     "\"ServiceTag\", service_tag = ..., protocol = ..., ports = ... }",
                     "outbound rule '%s' of '%s' needs a type of FQDN, PrivateEndpoint or "
                     "ServiceTag",
                     name, path);
                break;
            }
            json_object_foreach((json_t *)r, k, x)
            {
                bool known = false;
                for (const char *const *p = shapes[s].keys; *p && !known; p++)
                    known = strcmp(*p, k) == 0;
                if (!known && bad == NULL)
                    bad = k;
            }
            for (const char *const *p = shapes[s].keys + 1; *p && bad == NULL; p++)
                if (json_object_get(r, *p) == NULL && !(s == 1 && strcmp(*p, "subresource") == 0))
                    bad = *p;
            if (bad) {
                verr(v, &loc, json_object_get(r, bad) ? "unknown-attribute" : "missing-attribute",
                     NULL, "outbound rule '%s' (%s) %s '%s'", name, shapes[s].type,
                     json_object_get(r, bad) ? "has no attribute" : "needs", bad);
                break;
            }
        }
    }
    if (a->map.conv == SC_POLICY_REFS && json_is_array(val)) {
        static const char *const keys[] = {"definition", "parameters", "reference_id", "groups",
                                           NULL};
        size_t i;
        const json_t *item;
        json_array_foreach(val, i, item)
        {
            const char *k, *bad = NULL;
            const json_t *x;
            if (value_is_unknown(item))
                continue;
            if (!json_is_object(item)) {
                loc = config_attr_loc(v->inst, path);
                verr(v, &loc, "attribute-type", "write { definition = policy_definition.NAME.id }",
                     "'%s' expects a list of maps, got %s", path, value_type_name(item));
                break;
            }
            json_object_foreach((json_t *)item, k, x)
            {
                bool known = false;
                for (const char *const *p = keys; *p && !known; p++)
                    known = strcmp(*p, k) == 0;
                if (!known && bad == NULL)
                    bad = k;
            }
            if (bad || json_object_get(item, "definition") == NULL) {
                loc = config_attr_loc(v->inst, path);
                if (bad)
                    verr(v, &loc, "unknown-attribute",
                         "a member takes definition, parameters, reference_id and groups",
                         "'%s' item %zu has unknown key '%s'", path, i + 1, bad);
                else
                    verr(v, &loc, "missing-attribute",
                         "write { definition = policy_definition.NAME.id }",
                         "'%s' item %zu names no definition", path, i + 1);
                break;
            }
        }
    }
    if (a->map.conv == SC_ROLE && json_is_string(val)) {
        const char *s = json_string_value(val);
        bool guid = strlen(s) == 36 && s[8] == '-';
        if (s[0] != '/' && !guid && schema_builtin_role(s) == NULL) {
            const char *near =
                withheld(v, path) ? NULL : suggest_nearest(s, schema_builtin_role_names, 0);
            char hint[256], q[QUOTE_MAX + 48];
            if (near)
                snprintf(hint, sizeof(hint), "did you mean '%s'?", near);
            else
                snprintf(hint, sizeof(hint),
                         "use a role definition GUID or id, or a "
                         "role_definition reference");
            loc = config_attr_loc(v->inst, path);
            verr(v, &loc, "bad-value", hint, "unknown built-in role %s",
                 shown(v, path, q, sizeof(q), s));
        }
    }
}

static bool existing_allowed(const struct schema_attr *a)
{
    /* Existing lookups name the resource: id, name and what the id template uses. */
    return strcmp(a->name, "id") == 0 || strcmp(a->name, "name") == 0 ||
           (a->map.path == NULL && a->type == ST_REF);
}

static void check_block(struct vctx *v, const struct schema_block *b, const json_t *obj,
                        const char *prefix, bool top);

/* A valid name the misspelt key contains as a word ("hbi_workspace" ->
 * "hbi"), or that contains the key; the longest wins. */
static const char *name_inside(const char *key, const char *const *names)
{
    const char *best = NULL;
    size_t klen = strlen(key);
    for (const char *const *p = names; *p; p++) {
        size_t n = strlen(*p);
        const char *hit = n >= 3 && n < klen ? strstr(key, *p) : NULL;
        bool word = hit && (hit == key || hit[-1] == '_') && (hit[n] == '\0' || hit[n] == '_');
        if (!word && klen >= 4 && n > klen && strstr(*p, key))
            word = true;
        if (word && (best == NULL || strlen(best) < n))
            best = *p;
    }
    return best;
}

static void check_block_value(struct vctx *v, const struct schema_attr *a, const json_t *val,
                              const char *path)
{
    if (json_is_object(val)) {
        check_block(v, a->block, val, path, false);
    } else if (json_is_array(val)) {
        size_t i;
        const json_t *item;
        if (!(a->flags & SF_REPEAT)) {
            struct src_loc loc = config_attr_loc(v->inst, path);
            verr(v, &loc, "duplicate-block", NULL, "block '%s' may appear only once", path);
            return;
        }
        json_array_foreach(val, i, item) if (json_is_object(item))
            check_block(v, a->block, item, path, false);
    }
}

/* prefix.key (key alone at the top) into out, truncated as snprintf would:
 * once per attribute of every instance, so without printf. */
static void join_path(char *out, size_t outsz, const char *prefix, const char *key)
{
    size_t np = strlen(prefix), nk = strlen(key), n = 0;
    const char *parts[3] = {prefix, np ? "." : "", key};
    size_t lens[3] = {np, np ? 1 : 0, nk};
    for (int i = 0; i < 3; i++) {
        size_t m = lens[i] < outsz - 1 - n ? lens[i] : outsz - 1 - n;
        memcpy(out + n, parts[i], m);
        n += m;
    }
    out[n] = '\0';
}

static void check_block(struct vctx *v, const struct schema_block *b, const json_t *obj,
                        const char *prefix, bool top)
{
    const char *key;
    json_t *val;
    char path[256];
    const char *names[128];
    size_t n = 0, required = 0, required_given = 0;
    bool existing = v->inst->resource->existing;

    json_object_foreach((json_t *)obj, key, val)
    {
        const struct schema_attr *a = NULL;
        join_path(path, sizeof(path), prefix, key);
        /* one attribute per name (unit.catalogue checks it) */
        for (const struct schema_attr *x = b->attrs; x->name && a == NULL; x++)
            if (x->name[0] == key[0] && strcmp(x->name, key) == 0)
                a = x;
        if (a && (a->flags & SF_REQUIRED) && !a->def)
            required_given++;
        if (top && existing && strcmp(key, "id") == 0) {
            if (!json_is_string(val) && !value_is_unknown(val)) {
                struct src_loc loc = config_attr_loc(v->inst, path);
                verr(v, &loc, "attribute-type", NULL, "'id' expects a string, got %s",
                     value_type_name(val));
            }
            continue;
        }
        if (a == NULL) {
            struct src_loc loc = config_attr_name_loc(v->inst, path);
            const char *near;
            char hint[256];
            if (n == 0) { /* the names to suggest, listed once an attribute is unknown */
                /* room for "id" and the NULL after the attributes */
                for (const struct schema_attr *x = b->attrs; x->name && n + 2 < 128; x++)
                    if (!(x->flags & SF_COMPUTED))
                        names[n++] = x->name;
                if (top && existing)
                    names[n++] = "id";
                names[n] = NULL;
            }
            near = suggest_nearest(key, names, 0);
            if (near == NULL)
                near = name_inside(key, names);
            if (near)
                snprintf(hint, sizeof(hint), "did you mean '%s'?", near);
            verr(v, &loc, "unknown-attribute", near ? hint : NULL, "%s has no attribute '%s'",
                 v->kind->name, path);
            continue;
        }
        if (a->flags & SF_COMPUTED) {
            struct src_loc loc = config_attr_name_loc(v->inst, path);
            verr(v, &loc, "read-only-attribute", NULL,
                 "'%s' is set by Azure and cannot be configured", path);
            continue;
        }
        if (top && existing && !existing_allowed(a)) {
            struct src_loc loc = config_attr_name_loc(v->inst, path);
            verr(v, &loc, "existing-attribute",
                 "an existing lookup takes id, or name and its parent",
                 "'%s' cannot be set on an existing %s (it is read, never changed)", path,
                 v->kind->name);
            continue;
        }
        if (a->type == ST_BLOCK)
            check_block_value(v, a, val, path);
        else
            check_value(v, a, val, path);
    }
    if (existing)
        return;
    for (const struct schema_attr *a = b->attrs; a->name; a++)
        required += (a->flags & SF_REQUIRED) && !a->def;
    if (required_given == required) /* every one is among the keys above */
        return;
    for (const struct schema_attr *a = b->attrs; a->name; a++) {
        if (!(a->flags & SF_REQUIRED) || a->def || json_object_get(obj, a->name))
            continue;
        snprintf(path, sizeof(path), "%s%s%s", prefix, prefix[0] ? "." : "", a->name);
        {
            struct src_loc loc = config_attr_loc(v->inst, prefix[0] ? prefix : a->name);
            verr(v, &loc, "missing-attribute", NULL, "%s %s is missing required %s '%s'",
                 v->kind->name, v->inst->address, a->type == ST_BLOCK ? "block" : "attribute",
                 path);
        }
    }
}

static void check_name(struct vctx *v)
{
    const json_t *value, *name, *given;
    const char *nm;
    size_t ki = (size_t)(v->kind - schema_kinds);
    bool ok;
    /* the value (read from memory long out of cache) only when it is checked */
    if (v->kind->name_pattern == NULL)
        return;
    given = json_object_get(v->inst->attrs, "name");
    if (given == NULL && v->kind->name_rule != NAME_LABEL)
        return;
    if (v->inst->unvalued && given == NULL) {
        nm = v->inst->resource->name; /* the name its value takes (resolve_value) */
    } else {
        /* a value not made yet takes a given string (or unknown) name */
        if (v->inst->unvalued && (json_is_string(given) || value_is_unknown(given))) {
            name = given;
        } else {
            value = config_instance_value(v->cfg, v->inst);
            name = json_is_object(value) ? json_object_get(value, "name") : NULL;
        }
        if (!json_is_string(name))
            return;
        nm = json_string_value(name);
    }
    if (v->names) {
        regex_t *re = &v->names->re[ki];
        struct simple_pattern *sp = &v->names->simple[ki];
        if (!v->names->ready[ki]) {
            if (!simple_parse(sp, v->kind->name_pattern) &&
                regcomp(re, v->kind->name_pattern, REG_EXTENDED | REG_NOSUB) != 0)
                BUG("bad name pattern for %s", v->kind->name);
            v->names->ready[ki] = 1;
        }
        ok = sp->n ? simple_match(sp, nm) : regexec(re, nm, 0, NULL, 0) == 0;
    } else {
        ok = schema_name_matches(v->kind, nm);
    }
    if (!ok) {
        struct src_loc loc = config_attr_loc(v->inst, "name");
        char hint[256];
        snprintf(hint, sizeof(hint), "%s names must match %s%s", v->kind->name,
                 v->kind->name_pattern, given ? "" : " (the block label is the default name)");
        char q[QUOTE_MAX + 48];
        verr(v, &loc, "bad-name", hint, "%s is not a valid %s name",
             given ? shown(v, "name", q, sizeof(q), nm) : quoted(q, sizeof(q), nm), v->kind->name);
    }
}

/* Private endpoint group ids each target kind offers (arm-api.md 1.2). */
static void check_pe(struct vctx *v)
{
    static const struct {
        const char *kind;
        const char *const groups[7];
    } offers[] = {
        {"workspace", {"amlworkspace", NULL}},
        {"storage_account", {"blob", "file", "queue", "table", "dfs", "web", NULL}},
        {"key_vault", {"vault", NULL}},
        {"container_registry", {"registry", NULL}},
    };
    const json_t *t = json_object_get(v->inst->attrs, "target");
    const json_t *sr = json_object_get(v->inst->attrs, "subresource");
    const json_t *rt = json_is_object(t) ? json_object_get(t, "resource_type") : NULL;
    const struct schema_kind *tk;
    if (!json_is_string(rt) || !json_is_string(sr))
        return;
    tk = schema_find_by_type(json_string_value(rt));
    if (tk == NULL)
        return;
    for (size_t i = 0; i < sizeof(offers) / sizeof(offers[0]); i++) {
        if (strcmp(offers[i].kind, tk->name) != 0)
            continue;
        for (size_t j = 0; offers[i].groups[j]; j++)
            if (strcasecmp(offers[i].groups[j], json_string_value(sr)) == 0)
                return;
        {
            struct buf b;
            struct src_loc loc = config_attr_loc(v->inst, "subresource");
            char q[QUOTE_MAX + 48];
            buf_init(&b, 1024);
            buf_addf(&b, "a %s offers: ", tk->name);
            allowed_list(&b, (const char *const *)offers[i].groups);
            verr(v, &loc, "bad-value", b.ptr, "a %s has no private link sub-resource %s", tk->name,
                 shown(v, "subresource", q, sizeof(q), json_string_value(sr)));
            buf_release(&b);
        }
        return;
    }
}

static void check_diag_destination(struct vctx *v)
{
    const json_t *a = v->inst->attrs;
    if (json_object_get(a, "log_analytics") || json_object_get(a, "storage_account") ||
        json_object_get(a, "event_hub_rule"))
        return;
    {
        struct src_loc loc = config_attr_loc(v->inst, "target");
        verr(v, &loc, "missing-attribute", "set log_analytics, storage_account or event_hub_rule",
             "diagnostic setting %s has no destination", v->inst->address);
    }
}

/* The ARM id is printed, logged and recorded in clear (it is in every URL):
 * what builds it cannot come from a sensitive value. */
static void check_id_not_sensitive(struct vctx *v)
{
    const char *tpl = v->kind->id_template ? v->kind->id_template : "";
    if (json_array_size(v->inst->sensitive) == 0)
        return; /* nothing in the instance is sensitive */
    for (const struct schema_attr *a = v->kind->body.attrs; a->name; a++) {
        struct src_loc loc;
        bool builds_id = strcmp(a->name, "name") == 0 || strcmp(a->name, "id") == 0 ||
                         (a->type != ST_BLOCK && a->map.path == NULL && strstr(tpl, a->name));
        if (!builds_id || !json_object_get(v->inst->attrs, a->name) ||
            !value_path_sensitive(v->inst->sensitive, a->name, false))
            continue;
        loc = config_attr_loc(v->inst, a->name);
        verr(v, &loc, "sensitive-id", "use a value that is not secret for names and parents",
             "%s.%s comes from a sensitive value, but it is part of the ARM id, which amlsec "
             "prints and records in clear",
             v->inst->address, a->name);
    }
}

/* Checks inst, an instance of kind (schema_find of its resource's kind). */
static size_t validate_one(const struct config *cfg, const struct cfg_instance *inst,
                           const struct schema_kind *kind, struct diag_list *diags,
                           struct name_cache *names)
{
    struct vctx v = {.names = names, .cfg = cfg, .inst = inst, .diags = diags};
    v.kind = kind;
    if (v.kind == NULL) {
        struct src_loc loc =
            inst->resource->block ? inst->resource->block->type_loc : config_attr_loc(inst, "");
        const char *near = suggest_nearest(inst->resource->kind, schema_kind_names, 0);
        char hint[256];
        if (near)
            snprintf(hint, sizeof(hint), "did you mean '%s'?", near);
        verr(&v, &loc, "unknown-kind", near ? hint : NULL, "unknown resource kind '%s'",
             inst->resource->kind);
        return v.errors;
    }
    if (v.kind->existing_only && !inst->resource->existing) {
        struct src_loc loc = inst->resource->block->type_loc;
        char hint[256];
        snprintf(hint, sizeof(hint), "write: existing %s \"%s\" { id = \"...\" }", v.kind->name,
                 inst->resource->name);
        verr(&v, &loc, "existing-only", hint,
             "a %s is managed elsewhere: amlsec can only look it up with `existing`", v.kind->name);
        return v.errors;
    }
    if (!json_is_object(inst->attrs))
        return v.errors;
    check_id_not_sensitive(&v);
    check_block(&v, &v.kind->body, inst->attrs, "", true);
    if (inst->resource->existing) {
        const json_t *id = json_object_get(inst->attrs, "id");
        if (id == NULL && json_object_get(inst->attrs, "name") == NULL) {
            struct src_loc loc = inst->resource->block->type_loc;
            verr(&v, &loc, "missing-attribute", "set id = \"/subscriptions/...\"",
                 "%s needs an id (or a name and its parent)", inst->address);
        }
        return v.errors;
    }
    check_name(&v);
    if (strcmp(v.kind->name, "private_endpoint") == 0)
        check_pe(&v);
    if (strcmp(v.kind->name, "diagnostic_setting") == 0)
        check_diag_destination(&v);
    return v.errors;
}

size_t schema_validate_instance(const struct config *cfg, const struct cfg_instance *inst,
                                struct diag_list *diags)
{
    return validate_one(cfg, inst, schema_find(inst->resource->kind), diags, NULL);
}

size_t schema_validate_config(const struct config *cfg, struct diag_list *diags)
{
    size_t errors = 0, nkinds = 0;
    struct name_cache names;
    for (const struct schema_kind *k = schema_kinds; k->name; k++)
        nkinds++;
    names.re = calloc(nkinds, sizeof(*names.re));
    names.ready = calloc(nkinds, 1);
    names.simple = calloc(nkinds, sizeof(*names.simple));
    for (size_t i = 0; i < cfg->nresources; i++) {
        const struct cfg_resource *r = &cfg->resources[i];
        const struct schema_kind *k = r->ninstances ? schema_find(r->kind) : NULL;
        /* the instances of the resources ahead asked for, and their
         * attributes: they are long out of cache, and the misses overlap */
        if (i + 8 < cfg->nresources && cfg->resources[i + 8].ninstances)
            __builtin_prefetch(cfg->resources[i + 8].instances);
        if (i + 4 < cfg->nresources && cfg->resources[i + 4].ninstances) {
            __builtin_prefetch(cfg->resources[i + 4].instances[0].attrs);
        }
        for (size_t j = 0; j < r->ninstances; j++) {
            if (j + 4 < r->ninstances) /* and a resource's own instances ahead */
                __builtin_prefetch(r->instances[j + 4].attrs);
            errors += validate_one(cfg, &r->instances[j], k, diags,
                                   names.re && names.ready && names.simple ? &names : NULL);
        }
    }
    for (size_t i = 0; names.re && names.ready && names.simple && i < nkinds; i++)
        if (names.ready[i] && names.simple[i].n == 0)
            regfree(&names.re[i]);
    free(names.simple);
    free(names.re);
    free(names.ready);
    return errors;
}
