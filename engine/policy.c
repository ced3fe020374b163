/* The Azure Policy evaluator (policy.h). Semantics follow Microsoft's
 * "Azure Policy definition structure: policy rule", "aliases", "effect
 * basics" and "Author policies for array properties" articles. */
#include "engine/policy.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "parser/value.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/strmap.h"
#include "util/jsonw.h"
#include "util/banned.h"

/* ---- alias table ---------------------------------------------------------- */

struct alias_entry {
    char *name;
    char *path;    /* the default path */
    json_t *paths; /* [{path, apiVersions}] or NULL */
};

struct policy_aliases {
    struct alias_entry *items;
    size_t n, cap;
    struct strmap index; /* name (case-insensitive) -> position */
};

int policy_aliases_new(struct policy_aliases **out)
{
    struct policy_aliases *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return AMLSEC_ENOMEM;
    strmap_init(&a->index, true);
    *out = a;
    return 0;
}

void policy_aliases_free(struct policy_aliases *a)
{
    if (a == NULL)
        return;
    for (size_t i = 0; i < a->n; i++) {
        free(a->items[i].name);
        free(a->items[i].path);
        json_decref(a->items[i].paths);
    }
    free(a->items);
    strmap_release(&a->index);
    free(a);
}

size_t policy_aliases_count(const struct policy_aliases *a)
{
    return a ? a->n : 0;
}

int policy_aliases_add(struct policy_aliases *a, const char *name, const char *default_path,
                       const json_t *paths)
{
    size_t pos;
    struct alias_entry *e;
    char *path = strdup(default_path ? default_path : "");

    if (path == NULL)
        return AMLSEC_ENOMEM;
    if (strmap_get(&a->index, name, &pos)) {
        e = &a->items[pos];
        free(e->path);
        json_decref(e->paths);
    } else {
        if (a->n == a->cap) {
            size_t cap = a->cap ? a->cap * 2 : 256;
            struct alias_entry *items = realloc(a->items, cap * sizeof(*items));
            if (items == NULL) {
                free(path);
                return AMLSEC_ENOMEM;
            }
            a->items = items;
            a->cap = cap;
        }
        e = &a->items[a->n];
        e->name = strdup(name);
        if (e->name == NULL || strmap_put(&a->index, name, a->n) < 0) {
            free(e->name);
            free(path);
            return AMLSEC_ENOMEM;
        }
        a->n++;
    }
    e->path = path;
    e->paths = json_is_array(paths) && json_array_size(paths) ? json_incref((json_t *)paths) : NULL;
    return 0;
}

int policy_aliases_load_csv(struct policy_aliases *a, const char *text, size_t len,
                            const char *file, struct errbuf *err)
{
    size_t line = 0, i = 0;
    char name[1024], path[1024];

    while (i < len) {
        size_t start = i, end, comma = (size_t)-1;
        while (i < len && text[i] != '\n')
            i++;
        end = i;
        if (i < len)
            i++;
        line++;
        if (end > start && text[end - 1] == '\r')
            end--;
        if (end == start)
            continue;
        for (size_t j = start; j < end; j++)
            if (text[j] == ',') {
                comma = j;
                break;
            }
        if (comma == (size_t)-1)
            return errbuf_set(err, AMLSEC_EPARSE, "%s:%zu: expected 'alias,defaultPath'", file,
                              line);
        if (line == 1 && comma - start == 5 && strncmp(text + start, "alias", 5) == 0)
            continue;
        if (comma - start >= sizeof(name) || end - comma - 1 >= sizeof(path) || comma == start)
            return errbuf_set(err, AMLSEC_EPARSE, "%s:%zu: alias or path empty or too long", file,
                              line);
        memcpy(name, text + start, comma - start);
        name[comma - start] = '\0';
        memcpy(path, text + comma + 1, end - comma - 1);
        path[end - comma - 1] = '\0';
        if (policy_aliases_add(a, name, path, NULL) < 0)
            return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    }
    return 0;
}

static int load_provider(struct policy_aliases *a, const json_t *prov, struct errbuf *err)
{
    const json_t *rt;
    size_t i;

    json_array_foreach(json_object_get(prov, "resourceTypes"), i, rt)
    {
        const json_t *al;
        size_t j;
        json_array_foreach(json_object_get(rt, "aliases"), j, al)
        {
            const char *name = json_string_value(json_object_get(al, "name"));
            const char *def = json_string_value(json_object_get(al, "defaultPath"));
            const json_t *paths = json_object_get(al, "paths");
            if (name == NULL)
                return errbuf_set(err, AMLSEC_EPARSE,
                                  "provider aliases: resourceTypes[%zu].aliases[%zu] has no name",
                                  i, j);
            if (def == NULL && json_array_size(paths) > 0)
                def = json_string_value(json_object_get(json_array_get(paths, 0), "path"));
            if (def == NULL)
                return errbuf_set(err, AMLSEC_EPARSE, "provider aliases: alias '%s' has no path",
                                  name);
            if (policy_aliases_add(a, name, def, paths) < 0)
                return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
        }
    }
    return 0;
}

int policy_aliases_load_providers(struct policy_aliases *a, const json_t *doc, struct errbuf *err)
{
    const json_t *list = json_object_get(doc, "value"), *prov;
    size_t i;

    if (!json_is_object(doc))
        return errbuf_set(err, AMLSEC_EPARSE, "provider aliases: expected a JSON object");
    if (list == NULL)
        return load_provider(a, doc, err);
    json_array_foreach(list, i, prov)
    {
        int rc = load_provider(a, prov, err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

const char *policy_alias_path(const struct policy_aliases *a, const char *alias,
                              const char *api_version)
{
    size_t pos;
    const struct alias_entry *e;

    if (a == NULL || !strmap_get(&a->index, alias, &pos))
        return NULL;
    e = &a->items[pos];
    if (e->paths && api_version) {
        const json_t *p, *v;
        size_t i, j;
        json_array_foreach(e->paths, i, p)
        {
            json_array_foreach(json_object_get(p, "apiVersions"), j, v)
            {
                if (json_is_string(v) && strcasecmp(json_string_value(v), api_version) == 0 &&
                    json_is_string(json_object_get(p, "path")))
                    return json_string_value(json_object_get(p, "path"));
            }
        }
    }
    return e->path;
}

/* ---- names ------------------------------------------------------------------ */

static const char *const effect_names[] = {
    [POLICY_EFFECT_DISABLED] = "Disabled",
    [POLICY_EFFECT_AUDIT] = "Audit",
    [POLICY_EFFECT_DENY] = "Deny",
    [POLICY_EFFECT_MODIFY] = "Modify",
    [POLICY_EFFECT_APPEND] = "Append",
    [POLICY_EFFECT_AUDIT_IF_NOT_EXISTS] = "AuditIfNotExists",
    [POLICY_EFFECT_DEPLOY_IF_NOT_EXISTS] = "DeployIfNotExists",
    [POLICY_EFFECT_MANUAL] = "Manual",
    [POLICY_EFFECT_DENY_ACTION] = "DenyAction",
    [POLICY_EFFECT_UNKNOWN] = "Unknown",
};

const char *policy_effect_name(enum policy_effect e)
{
    return e <= POLICY_EFFECT_UNKNOWN ? effect_names[e] : "Unknown";
}

static enum policy_effect effect_parse(const char *s)
{
    for (int e = 0; e < POLICY_EFFECT_UNKNOWN; e++)
        if (strcasecmp(s, effect_names[e]) == 0)
            return (enum policy_effect)e;
    return POLICY_EFFECT_UNKNOWN;
}

const char *policy_verdict_name(enum policy_verdict v)
{
    switch (v) {
    case POLICY_COMPLIANT:
        return "compliant";
    case POLICY_NONCOMPLIANT:
        return "noncompliant";
    case POLICY_DISABLED:
        return "disabled";
    case POLICY_NOT_APPLICABLE:
        return "not_applicable";
    case POLICY_NOT_EVALUABLE:
        return "not_evaluable";
    case POLICY_ERROR:
        return "error";
    }
    return "error";
}

void policy_result_release(struct policy_result *r)
{
    free(r->field);
    free(r->path);
    json_decref(r->value);
    free(r->condition);
    free(r->reason);
    json_decref(r->changes);
    memset(r, 0, sizeof(*r));
}

/* ---- definitions ------------------------------------------------------------ */

struct policy {
    json_t *doc;    /* the whole definition (referenced) */
    json_t *props;  /* its properties (borrowed from doc) */
    json_t *params; /* name -> value, defaults merged (owned) */
    const char *display_name, *id, *mode;
    const json_t *rule_if, *rule_then;
};

/* Case-insensitive object member (ARM property and parameter names). */
static json_t *member(const json_t *obj, const char *key)
{
    const char *k;
    json_t *v;
    if (!json_is_object(obj))
        return NULL;
    v = json_object_get(obj, key);
    if (v)
        return v;
    /* names compare case-insensitively; the first letter rules out most
     * keys cheaply (a condition is looked up for each operator in turn) */
    json_object_foreach((json_t *)obj, k, v)
    {
        if ((k[0] | 0x20) == (key[0] | 0x20) && strcasecmp(k, key) == 0)
            return v;
    }
    return NULL;
}

static bool values_equal(const json_t *a, const json_t *b);

int policy_prepare(struct policy **out, const json_t *definition, const json_t *params,
                   struct errbuf *err)
{
    struct policy *p;
    const json_t *decl, *rule;
    const char *name;
    json_t *spec;

    if (!json_is_object(definition))
        return errbuf_set(err, AMLSEC_EPARSE, "policy definition: expected a JSON object");
    p = calloc(1, sizeof(*p));
    if (p == NULL)
        return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    p->doc = json_incref((json_t *)definition);
    p->props = json_is_object(json_object_get(definition, "properties"))
                   ? json_object_get(definition, "properties")
                   : (json_t *)definition;
    p->params = json_object();
    rule = json_object_get(p->props, "policyRule");
    p->rule_if = json_object_get(rule, "if");
    p->rule_then = json_object_get(rule, "then");
    p->display_name = json_string_value(json_object_get(p->props, "displayName"));
    p->id = json_string_value(json_object_get(definition, "id"));
    if (p->id == NULL)
        p->id = json_string_value(json_object_get(definition, "name"));
    p->mode = json_string_value(json_object_get(p->props, "mode"));
    if (p->display_name == NULL)
        p->display_name = p->id ? p->id : "(unnamed policy)";
    if (p->id == NULL)
        p->id = p->display_name;
    if (p->mode == NULL)
        p->mode = "All";
    if (!json_is_object(p->rule_if) || !json_is_object(p->rule_then) ||
        !json_is_string(json_object_get(p->rule_then, "effect"))) {
        errbuf_set(err, AMLSEC_EPARSE,
                   "policy definition '%s': policyRule needs an 'if' object and a 'then' with "
                   "an effect",
                   p->display_name);
        goto fail;
    }
    decl = json_object_get(p->props, "parameters");
    if (decl != NULL && !json_is_object(decl)) {
        errbuf_set(err, AMLSEC_EPARSE, "policy definition '%s': parameters is not an object",
                   p->display_name);
        goto fail;
    }
    json_object_foreach((json_t *)decl, name, spec)
    {
        json_t *given = member(params, name), *allowed;
        if (json_is_object(given) && json_object_size(given) == 1 &&
            json_object_get(given, "value"))
            given = json_object_get(given, "value");
        if (given == NULL)
            given = json_object_get(spec, "defaultValue");
        if (given == NULL) {
            errbuf_set(err, AMLSEC_EPARSE,
                       "policy '%s': parameter '%s' has no value and no default", p->display_name,
                       name);
            goto fail;
        }
        allowed = json_object_get(spec, "allowedValues");
        if (json_is_array(allowed)) {
            size_t i;
            json_t *v;
            bool ok = false;
            json_array_foreach(allowed, i, v) ok = ok || values_equal(v, given);
            if (!ok) {
                char *s = jsonw_dumps(given, JSON_ENCODE_ANY | JSON_COMPACT);
                errbuf_set(err, AMLSEC_EPARSE,
                           "policy '%s': parameter '%s' = %s is not one of its allowedValues",
                           p->display_name, name, s ? s : "?");
                free(s);
                goto fail;
            }
        }
        json_object_set(p->params, name, given);
    }
    /* Values for parameters the definition does not declare: Azure rejects
     * the assignment. */
    if (json_is_object(params)) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)params, k, v)
        {
            if (member(decl, k) == NULL) {
                errbuf_set(err, AMLSEC_EPARSE,
                           "policy '%s': the assignment sets parameter '%s', which the "
                           "definition does not declare",
                           p->display_name, k);
                goto fail;
            }
        }
    }
    *out = p;
    return 0;
fail:
    policy_free(p);
    return err ? err->code : AMLSEC_EPARSE;
}

void policy_free(struct policy *p)
{
    if (p == NULL)
        return;
    json_decref(p->params);
    json_decref(p->doc);
    free(p);
}

const char *policy_display_name(const struct policy *p)
{
    return p->display_name;
}

const char *policy_id(const struct policy *p)
{
    return p->id;
}

const char *policy_mode(const struct policy *p)
{
    return p->mode;
}

/* ---- evaluation context ------------------------------------------------------ */

#define MAX_SCOPES 8
#define MAX_DEPTH 64
#define MAX_VALUE_COUNT 100

struct scope {
    bool is_field;      /* a field count (else a value count) */
    const char *alias;  /* field count: the [*] alias counted */
    const char *path;   /* field count: its JSON path */
    const char *name;   /* value count: the name given (may be NULL) */
    const json_t *elem; /* the current element (NULL: missing) */
};

struct ectx {
    const struct policy *p;
    const struct policy_aliases *aliases;
    const struct policy_resource *res;     /* what `field` conditions read */
    const struct policy_resource *primary; /* what field() reads (existence conditions) */
    struct scope scopes[MAX_SCOPES];
    int nscopes;
    int depth;
    bool failed;
    char errmsg[512];
    /* evidence: the last leaf evaluated */
    char ev_field[512];
    char ev_path[512];
    char ev_cond[160];
    json_t *ev_value;
};

__attribute__((format(printf, 2, 3))) static void fail(struct ectx *c, const char *fmt, ...)
{
    va_list ap;
    if (c->failed)
        return;
    c->failed = true;
    va_start(ap, fmt);
    vsnprintf(c->errmsg, sizeof(c->errmsg), fmt, ap);
    va_end(ap);
}

/* A field's value: one value, or (for [*] aliases) the selected elements. */
struct fv {
    bool multi;
    json_t **items; /* new references; NULL = missing */
    size_t n, cap;
};

static void fv_release(struct fv *f)
{
    for (size_t i = 0; i < f->n; i++)
        json_decref(f->items[i]);
    free(f->items);
    memset(f, 0, sizeof(*f));
}

static bool fv_push(struct ectx *c, struct fv *f, const json_t *v)
{
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 4;
        json_t **items = realloc(f->items, cap * sizeof(*items));
        if (items == NULL) {
            fail(c, "out of memory");
            return false;
        }
        f->items = items;
        f->cap = cap;
    }
    f->items[f->n++] = v && !json_is_null(v) ? json_incref((json_t *)v) : NULL;
    return true;
}

/* Appends what path selects from root to f ([*] expands arrays). */
static bool path_select(struct ectx *c, struct fv *f, const json_t *root, const char *path)
{
    const json_t *cur[2] = {root, NULL};
    struct fv work = {0}, next = {0};
    const char *s = path;
    bool ok = true;

    if (!fv_push(c, &work, cur[0]))
        return false;
    while (*s && ok) {
        char seg[256];
        size_t len = strcspn(s, ".");
        bool star = false;
        if (len >= sizeof(seg)) {
            fail(c, "alias path '%s' has a segment too long", path);
            ok = false;
            break;
        }
        memcpy(seg, s, len);
        seg[len] = '\0';
        s += len;
        if (*s == '.')
            s++;
        if (len >= 3 && strcmp(seg + len - 3, "[*]") == 0) {
            star = true;
            seg[len - 3] = '\0';
            f->multi = true;
        }
        for (size_t i = 0; i < work.n && ok; i++) {
            json_t *m = seg[0] ? member(work.items[i], seg) : work.items[i];
            if (star) {
                size_t j;
                json_t *el;
                if (json_is_array(m))
                    json_array_foreach(m, j, el) ok = ok && fv_push(c, &next, el);
            } else {
                ok = fv_push(c, &next, m);
            }
        }
        fv_release(&work);
        work = next;
        memset(&next, 0, sizeof(next));
    }
    for (size_t i = 0; i < work.n && ok; i++)
        ok = fv_push(c, f, work.items[i]);
    fv_release(&work);
    return ok;
}

/* "Microsoft.X/a/b/prop.sub" -> length of "Microsoft.X/a/b" */
static size_t alias_type_len(const char *alias)
{
    const char *slash = strrchr(alias, '/');
    return slash ? (size_t)(slash - alias) : 0;
}

static const char *fullname_of(const struct policy_resource *r, char *buf, size_t size)
{
    const char *prov = NULL, *q = r->id, *s;
    size_t n = 0;
    int seg = 0;
    if (q == NULL)
        return r->name;
    while ((q = strcasestr(q, "/providers/")) != NULL)
        prov = q++;
    if (prov == NULL)
        return r->name;
    s = prov + strlen("/providers/");
    buf[0] = '\0';
    /* NS/type1/name1/type2/name2...: keep the names */
    while (*s) {
        size_t len = strcspn(s, "/");
        if (seg >= 2 && seg % 2 == 0 && n + len + 2 < size) {
            if (n)
                buf[n++] = '/';
            memcpy(buf + n, s, len);
            n += len;
            buf[n] = '\0';
        }
        seg++;
        s += len;
        if (*s == '/')
            s++;
    }
    return n ? buf : r->name;
}

/* Reads a `field`: a keyword (name, type, location, tags['k'], ...) or an
 * alias, relative to the innermost field count that selects it. */
static bool field_get(struct ectx *c, const struct policy_resource *r, const char *field,
                      struct fv *f)
{
    const json_t *body = r->body;
    const char *path;
    char buf[512];
    size_t tl;

    for (int i = c->nscopes - 1; i >= 0 && r == c->res; i--) {
        const struct scope *sc = &c->scopes[i];
        size_t al;
        if (!sc->is_field)
            continue;
        al = strlen(sc->alias);
        if (strncasecmp(field, sc->alias, al) != 0)
            continue;
        if (field[al] == '\0')
            return fv_push(c, f, sc->elem);
        if (field[al] == '.') {
            const char *fp = policy_alias_path(c->aliases, field, r->api_version);
            size_t pl = strlen(sc->path);
            if (fp == NULL) {
                fail(c, "unknown alias '%s'", field);
                return false;
            }
            if (strncasecmp(fp, sc->path, pl) != 0 || fp[pl] != '.') {
                fail(c, "alias '%s' is not inside the counted array '%s'", field, sc->alias);
                return false;
            }
            snprintf(c->ev_path, sizeof(c->ev_path), "%s", fp);
            return path_select(c, f, sc->elem, fp + pl + 1);
        }
    }
    if (strcasecmp(field, "name") == 0) {
        json_t *v = json_string(r->name ? r->name : "");
        bool ok = fv_push(c, f, v);
        json_decref(v);
        return ok;
    }
    if (strcasecmp(field, "fullName") == 0) {
        const char *fn = fullname_of(r, buf, sizeof(buf));
        json_t *v = json_string(fn ? fn : "");
        bool ok = fv_push(c, f, v);
        json_decref(v);
        return ok;
    }
    if (strcasecmp(field, "type") == 0 || strcasecmp(field, "id") == 0) {
        const char *s = tolower((unsigned char)field[0]) == 't' ? r->type : r->id;
        json_t *v = s ? json_string(s) : NULL;
        bool ok = fv_push(c, f, v);
        json_decref(v);
        return ok;
    }
    if (strcasecmp(field, "location") == 0) {
        const char *loc = json_string_value(member(body, "location"));
        size_t n = 0;
        json_t *v;
        bool ok;
        if (loc == NULL)
            return fv_push(c, f, NULL);
        for (; *loc && n + 1 < sizeof(buf); loc++)
            if (*loc != ' ')
                buf[n++] = (char)tolower((unsigned char)*loc);
        buf[n] = '\0';
        v = json_string(buf);
        ok = fv_push(c, f, v);
        json_decref(v);
        return ok;
    }
    if (strcasecmp(field, "kind") == 0 || strcasecmp(field, "tags") == 0)
        return fv_push(c, f, member(body, field));
    if (strcasecmp(field, "identity.type") == 0)
        return fv_push(c, f, member(member(body, "identity"), "type"));
    if (strncasecmp(field, "tags[", 5) == 0 || strncasecmp(field, "tags.", 5) == 0) {
        const char *k = field + 5, *end;
        size_t n;
        if (field[4] == '[') {
            if (*k == '\'')
                k++;
            end = strrchr(k, ']');
            if (end == NULL) {
                fail(c, "malformed tag field '%s'", field);
                return false;
            }
            if (end > k && end[-1] == '\'')
                end--;
        } else {
            end = k + strlen(k);
        }
        n = (size_t)(end - k);
        if (n >= sizeof(buf)) {
            fail(c, "tag name too long in '%s'", field);
            return false;
        }
        memcpy(buf, k, n);
        buf[n] = '\0';
        return fv_push(c, f, member(member(body, "tags"), buf));
    }
    path = policy_alias_path(c->aliases, field, r->api_version);
    if (path == NULL) {
        fail(c, "unknown alias '%s' (not in the provider alias table)", field);
        return false;
    }
    snprintf(c->ev_path, sizeof(c->ev_path), "%s", path);
    /* An alias of another resource type selects nothing. */
    tl = alias_type_len(field);
    if (r->type == NULL || strlen(r->type) != tl || strncasecmp(r->type, field, tl) != 0) {
        f->multi = strstr(field, "[*]") != NULL;
        return f->multi ? true : fv_push(c, f, NULL);
    }
    return path_select(c, f, body, path);
}

/* ---- template expressions --------------------------------------------------- */

struct xp {
    struct ectx *c;
    const char *s;
    size_t i, n;
};

static void xp_ws(struct xp *x)
{
    while (x->i < x->n && isspace((unsigned char)x->s[x->i]))
        x->i++;
}

static bool xp_eat(struct xp *x, char ch)
{
    xp_ws(x);
    if (x->i < x->n && x->s[x->i] == ch) {
        x->i++;
        return true;
    }
    return false;
}

static json_t *xp_expr(struct xp *x, bool ev);

static const char *type_name(const json_t *v)
{
    if (jsonw_big_digits(v))
        return "number";
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "bool";
    case JSON_NULL:
        return "null";
    }
    return "?";
}

static bool is_expr(const char *s)
{
    size_t n = strlen(s);
    return n >= 2 && s[0] == '[' && s[1] != '[' && s[n - 1] == ']';
}

static json_t *eval_string(struct ectx *c, const char *s);

/* Evaluates v: expression strings (also inside arrays and objects); new
 * reference, NULL on error. */
static json_t *eval_value(struct ectx *c, const json_t *v)
{
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (is_expr(s))
            return eval_string(c, s);
        if (s[0] == '[' && s[1] == '[')
            return json_string(s + 1);
        return json_incref((json_t *)v);
    }
    if (json_is_array(v)) {
        json_t *out = json_array(), *el;
        size_t i;
        json_array_foreach(v, i, el)
        {
            json_t *e = eval_value(c, el);
            if (e == NULL) {
                json_decref(out);
                return NULL;
            }
            json_array_append_new(out, e);
        }
        return out;
    }
    return json_incref((json_t *)v);
}

static json_t *eval_string(struct ectx *c, const char *s)
{
    struct xp x = {c, s, 1, strlen(s) - 1};
    json_t *v;
    if (++c->depth > MAX_DEPTH) {
        c->depth--;
        fail(c, "expression nested too deeply");
        return NULL;
    }
    v = xp_expr(&x, true);
    c->depth--;
    if (v && (xp_ws(&x), x.i != x.n)) {
        fail(c, "unexpected '%c' in expression '%s'", x.s[x.i], s);
        json_decref(v);
        return NULL;
    }
    return v;
}

static bool truthy(struct ectx *c, const json_t *v, const char *fn)
{
    if (json_is_boolean(v))
        return json_is_true(v);
    if (json_is_string(v) && strcasecmp(json_string_value(v), "true") == 0)
        return true;
    if (json_is_string(v) && strcasecmp(json_string_value(v), "false") == 0)
        return false;
    fail(c, "%s() expects a bool, got %s", fn, type_name(v));
    return false;
}

static json_t *str_lower(const char *s, bool upper)
{
    size_t n = strlen(s);
    char *b = malloc(n + 1);
    json_t *v;
    if (b == NULL)
        return NULL;
    for (size_t i = 0; i <= n; i++)
        b[i] = (char)(upper ? toupper((unsigned char)s[i]) : tolower((unsigned char)s[i]));
    v = json_string(b);
    free(b);
    return v;
}

static int compare_values(struct ectx *c, const json_t *a, const json_t *b, const char *what);

static const char *find_nocase(const char *hay, const char *needle)
{
    return strcasestr(hay, needle);
}

static int parse_iso_time(const char *s, time_t *out)
{
    struct tm tm;
    int y, mo, d, h = 0, mi = 0, sec = 0;
    memset(&tm, 0, sizeof(tm));
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d", &y, &mo, &d, &h, &mi, &sec) < 3)
        return -1;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    *out = timegm(&tm);
    return 0;
}

static json_t *format_time(time_t t)
{
    struct tm tm;
    char b[40];
    gmtime_r(&t, &tm);
    strftime(b, sizeof(b), "%Y-%m-%dT%H:%M:%S.0000000Z", &tm);
    return json_string(b);
}

/* Calls function name with args (already evaluated). New reference or NULL. */
static json_t *call(struct ectx *c, const char *name, json_t **a, size_t n)
{
#define ARGS(lo, hi)                                                                               \
    do {                                                                                           \
        if (n + 1 < (size_t)(lo) + 1 || n > (size_t)(hi)) {                                        \
            fail(c, "%s() takes %d to %d arguments, got %zu", name, (int)(lo), (int)(hi), n);      \
            return NULL;                                                                           \
        }                                                                                          \
    } while (0)
#define STR(i)                                                                                     \
    do {                                                                                           \
        if (!json_is_string(a[i])) {                                                               \
            fail(c, "%s() expects a string as argument %d, got %s", name, (int)(i) + 1,            \
                 type_name(a[i]));                                                                 \
            return NULL;                                                                           \
        }                                                                                          \
    } while (0)
#define INT(i)                                                                                     \
    do {                                                                                           \
        if (!json_is_integer(a[i])) {                                                              \
            fail(c, "%s() expects an integer as argument %d, got %s", name, (int)(i) + 1,          \
                 type_name(a[i]));                                                                 \
            return NULL;                                                                           \
        }                                                                                          \
    } while (0)

    if (strcasecmp(name, "parameters") == 0) {
        json_t *v;
        ARGS(1, 1);
        STR(0);
        v = member(c->p->params, json_string_value(a[0]));
        if (v == NULL) {
            fail(c, "parameters('%s'): no such parameter", json_string_value(a[0]));
            return NULL;
        }
        return json_incref(v);
    }
    if (strcasecmp(name, "field") == 0) {
        struct fv f = {0};
        json_t *out;
        ARGS(1, 1);
        STR(0);
        if (!field_get(c, c->primary, json_string_value(a[0]), &f)) {
            fv_release(&f);
            return NULL;
        }
        if (f.multi) {
            out = json_array();
            for (size_t i = 0; i < f.n; i++)
                json_array_append(out, f.items[i] ? f.items[i] : json_null());
        } else {
            out = f.n && f.items[0] ? json_incref(f.items[0]) : json_null();
        }
        fv_release(&f);
        return out;
    }
    if (strcasecmp(name, "current") == 0) {
        ARGS(0, 1);
        if (n == 1)
            STR(0);
        for (int i = c->nscopes - 1; i >= 0; i--) {
            const struct scope *sc = &c->scopes[i];
            if (n == 0 ||
                (!sc->is_field && sc->name && strcasecmp(sc->name, json_string_value(a[0])) == 0) ||
                (sc->is_field && strcasecmp(sc->alias, json_string_value(a[0])) == 0))
                return sc->elem ? json_incref((json_t *)sc->elem) : json_null();
            if (sc->is_field &&
                strncasecmp(json_string_value(a[0]), sc->alias, strlen(sc->alias)) == 0) {
                json_t *fa = json_string(json_string_value(a[0])), *r;
                r = call(c, "field", &fa, 1);
                json_decref(fa);
                return r;
            }
        }
        fail(c, "current(%s%s%s) outside a count that defines it", n ? "'" : "",
             n ? json_string_value(a[0]) : "", n ? "'" : "");
        return NULL;
    }
    if (strcasecmp(name, "requestContext") == 0) {
        ARGS(0, 0);
        return json_pack("{s:s}", "apiVersion",
                         c->primary->api_version ? c->primary->api_version : "");
    }
    if (strcasecmp(name, "policy") == 0) {
        ARGS(0, 0);
        return json_pack("{s:s, s:s, s:s, s:s}", "assignmentId", "", "definitionId", c->p->id,
                         "setDefinitionId", "", "definitionReferenceId", "");
    }
    if (strcasecmp(name, "true") == 0 || strcasecmp(name, "false") == 0) {
        ARGS(0, 0);
        return json_boolean(name[0] == 't' || name[0] == 'T');
    }
    if (strcasecmp(name, "null") == 0) {
        ARGS(0, 0);
        return json_null();
    }
    if (strcasecmp(name, "concat") == 0) {
        struct buf b;
        json_t *out;
        ARGS(1, 64);
        if (json_is_array(a[0])) {
            out = json_array();
            for (size_t i = 0; i < n; i++) {
                if (!json_is_array(a[i])) {
                    json_decref(out);
                    fail(c, "concat() mixes arrays and %s", type_name(a[i]));
                    return NULL;
                }
                json_array_extend(out, a[i]);
            }
            return out;
        }
        buf_init(&b, 1 << 20);
        for (size_t i = 0; i < n; i++) {
            if (json_is_string(a[i]))
                buf_adds(&b, json_string_value(a[i]));
            else if (json_is_integer(a[i]))
                buf_addf(&b, "%" JSON_INTEGER_FORMAT, json_integer_value(a[i]));
            else if (json_is_boolean(a[i]))
                buf_adds(&b, json_is_true(a[i]) ? "True" : "False");
            else {
                buf_release(&b);
                fail(c, "concat() cannot join a %s", type_name(a[i]));
                return NULL;
            }
        }
        out = json_string(b.ptr);
        buf_release(&b);
        return out;
    }
    if (strcasecmp(name, "empty") == 0) {
        ARGS(1, 1);
        if (json_is_null(a[0]))
            return json_true();
        if (json_is_string(a[0]))
            return json_boolean(json_string_length(a[0]) == 0);
        if (json_is_array(a[0]))
            return json_boolean(json_array_size(a[0]) == 0);
        if (json_is_object(a[0]))
            return json_boolean(json_object_size(a[0]) == 0);
        fail(c, "empty() expects a string, array or object, got %s", type_name(a[0]));
        return NULL;
    }
    if (strcasecmp(name, "length") == 0) {
        ARGS(1, 1);
        if (json_is_string(a[0]))
            return json_integer((json_int_t)json_string_length(a[0]));
        if (json_is_array(a[0]))
            return json_integer((json_int_t)json_array_size(a[0]));
        if (json_is_object(a[0]))
            return json_integer((json_int_t)json_object_size(a[0]));
        fail(c, "length() expects a string, array or object, got %s", type_name(a[0]));
        return NULL;
    }
    if (strcasecmp(name, "toLower") == 0 || strcasecmp(name, "toUpper") == 0) {
        ARGS(1, 1);
        STR(0);
        return str_lower(json_string_value(a[0]), name[2] == 'U' || name[2] == 'u');
    }
    if (strcasecmp(name, "trim") == 0) {
        const char *s, *e;
        ARGS(1, 1);
        STR(0);
        s = json_string_value(a[0]);
        e = s + strlen(s);
        while (*s && isspace((unsigned char)*s))
            s++;
        while (e > s && isspace((unsigned char)e[-1]))
            e--;
        return json_stringn(s, (size_t)(e - s));
    }
    if (strcasecmp(name, "split") == 0) {
        json_t *out;
        const char *s, *p;
        ARGS(2, 2);
        STR(0);
        if (!json_is_string(a[1]) && !json_is_array(a[1])) {
            fail(c, "split() expects a delimiter string or array");
            return NULL;
        }
        out = json_array();
        s = p = json_string_value(a[0]);
        for (;;) {
            size_t dl = 0;
            if (*p) {
                if (json_is_string(a[1])) {
                    const char *d = json_string_value(a[1]);
                    if (*d && strncmp(p, d, strlen(d)) == 0)
                        dl = strlen(d);
                } else {
                    size_t i;
                    json_t *d;
                    json_array_foreach(a[1], i, d)
                    {
                        const char *ds = json_string_value(d);
                        if (ds && *ds && strncmp(p, ds, strlen(ds)) == 0) {
                            dl = strlen(ds);
                            break;
                        }
                    }
                }
            }
            if (*p == '\0' || dl) {
                json_array_append_new(out, json_stringn(s, (size_t)(p - s)));
                if (*p == '\0')
                    break;
                p += dl;
                s = p;
            } else {
                p++;
            }
        }
        return out;
    }
    if (strcasecmp(name, "if") == 0) { /* handled lazily by the parser */
        ARGS(3, 3);
        return json_incref(truthy(c, a[0], "if") ? a[1] : a[2]);
    }
    if (strcasecmp(name, "not") == 0) {
        bool b;
        ARGS(1, 1);
        b = truthy(c, a[0], name);
        return c->failed ? NULL : json_boolean(!b);
    }
    if (strcasecmp(name, "and") == 0 || strcasecmp(name, "or") == 0) {
        bool acc = name[0] == 'a' || name[0] == 'A';
        ARGS(2, 64);
        for (size_t i = 0; i < n; i++) {
            bool b = truthy(c, a[i], name);
            acc = (name[0] == 'a' || name[0] == 'A') ? acc && b : acc || b;
        }
        return c->failed ? NULL : json_boolean(acc);
    }
    if (strcasecmp(name, "equals") == 0) {
        ARGS(2, 2);
        return json_boolean(json_equal(a[0], a[1]) ||
                            (json_is_string(a[0]) && json_is_string(a[1]) &&
                             strcmp(json_string_value(a[0]), json_string_value(a[1])) == 0));
    }
    if (strcasecmp(name, "greater") == 0 || strcasecmp(name, "less") == 0 ||
        strcasecmp(name, "greaterOrEquals") == 0 || strcasecmp(name, "lessOrEquals") == 0) {
        int r;
        ARGS(2, 2);
        r = compare_values(c, a[0], a[1], name);
        if (c->failed)
            return NULL;
        if (strcasecmp(name, "greater") == 0)
            return json_boolean(r > 0);
        if (strcasecmp(name, "less") == 0)
            return json_boolean(r < 0);
        if (strcasecmp(name, "greaterOrEquals") == 0)
            return json_boolean(r >= 0);
        return json_boolean(r <= 0);
    }
    if (strcasecmp(name, "contains") == 0) {
        ARGS(2, 2);
        if (json_is_string(a[0])) {
            STR(1);
            return json_boolean(find_nocase(json_string_value(a[0]), json_string_value(a[1])) !=
                                NULL);
        }
        if (json_is_array(a[0])) {
            size_t i;
            json_t *el;
            json_array_foreach(a[0], i, el) if (json_equal(el, a[1])) return json_true();
            return json_false();
        }
        if (json_is_object(a[0])) {
            STR(1);
            return json_boolean(member(a[0], json_string_value(a[1])) != NULL);
        }
        fail(c, "contains() expects a string, array or object, got %s", type_name(a[0]));
        return NULL;
    }
    if (strcasecmp(name, "startsWith") == 0 || strcasecmp(name, "endsWith") == 0) {
        const char *s, *t;
        size_t ls, lt;
        ARGS(2, 2);
        STR(0);
        STR(1);
        s = json_string_value(a[0]);
        t = json_string_value(a[1]);
        ls = strlen(s);
        lt = strlen(t);
        if (lt > ls)
            return json_false();
        return json_boolean(
            strncasecmp(name[0] == 's' || name[0] == 'S' ? s : s + ls - lt, t, lt) == 0);
    }
    if (strcasecmp(name, "indexOf") == 0 || strcasecmp(name, "lastIndexOf") == 0) {
        const char *s, *t, *hit, *last = NULL;
        ARGS(2, 2);
        STR(0);
        STR(1);
        s = json_string_value(a[0]);
        t = json_string_value(a[1]);
        for (hit = find_nocase(s, t); hit; hit = *hit ? find_nocase(hit + 1, t) : NULL) {
            if (name[0] == 'i' || name[0] == 'I')
                return json_integer(hit - s);
            last = hit;
        }
        return json_integer(last ? last - s : -1);
    }
    if (strcasecmp(name, "substring") == 0) {
        json_int_t start, len, sl;
        ARGS(2, 3);
        STR(0);
        INT(1);
        if (n == 3)
            INT(2);
        sl = (json_int_t)json_string_length(a[0]);
        start = json_integer_value(a[1]);
        len = n == 3 ? json_integer_value(a[2]) : sl - start;
        if (start < 0 || len < 0 || start > sl || start + len > sl) {
            fail(c, "substring(): index out of range");
            return NULL;
        }
        return json_stringn(json_string_value(a[0]) + start, (size_t)len);
    }
    if (strcasecmp(name, "replace") == 0) {
        struct buf b;
        const char *s, *o, *hit;
        json_t *out;
        ARGS(3, 3);
        STR(0);
        STR(1);
        STR(2);
        s = json_string_value(a[0]);
        o = json_string_value(a[1]);
        buf_init(&b, 1 << 20);
        while (*o && (hit = strstr(s, o)) != NULL) {
            buf_add(&b, s, (size_t)(hit - s));
            buf_adds(&b, json_string_value(a[2]));
            s = hit + strlen(o);
        }
        buf_adds(&b, s);
        out = json_string(b.ptr);
        buf_release(&b);
        return out;
    }
    if (strcasecmp(name, "first") == 0 || strcasecmp(name, "last") == 0) {
        bool first = name[0] == 'f' || name[0] == 'F';
        ARGS(1, 1);
        if (json_is_array(a[0])) {
            size_t sz = json_array_size(a[0]);
            return sz ? json_incref(json_array_get(a[0], first ? 0 : sz - 1)) : json_null();
        }
        STR(0);
        {
            size_t sl = json_string_length(a[0]);
            return sl ? json_stringn(json_string_value(a[0]) + (first ? 0 : sl - 1), 1)
                      : json_string("");
        }
    }
    if (strcasecmp(name, "string") == 0) {
        char *s;
        json_t *out;
        ARGS(1, 1);
        if (json_is_string(a[0]))
            return json_incref(a[0]);
        if (json_is_boolean(a[0]))
            return json_string(json_is_true(a[0]) ? "True" : "False");
        s = jsonw_dumps(a[0], JSON_ENCODE_ANY | JSON_COMPACT);
        out = s ? json_string(s) : NULL;
        free(s);
        return out;
    }
    if (strcasecmp(name, "int") == 0) {
        char *end;
        long long v;
        ARGS(1, 1);
        if (json_is_integer(a[0]))
            return json_incref(a[0]);
        STR(0);
        errno = 0;
        v = strtoll(json_string_value(a[0]), &end, 10);
        if (errno || *end || end == json_string_value(a[0])) {
            fail(c, "int(): '%s' is not an integer", json_string_value(a[0]));
            return NULL;
        }
        return json_integer((json_int_t)v);
    }
    if (strcasecmp(name, "bool") == 0) {
        bool b;
        ARGS(1, 1);
        if (json_is_integer(a[0]))
            return json_boolean(json_integer_value(a[0]) != 0);
        b = truthy(c, a[0], name);
        return c->failed ? NULL : json_boolean(b);
    }
    if (strcasecmp(name, "createArray") == 0) {
        json_t *out = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append(out, a[i]);
        return out;
    }
    if (strcasecmp(name, "coalesce") == 0) {
        ARGS(1, 64);
        for (size_t i = 0; i < n; i++)
            if (!json_is_null(a[i]))
                return json_incref(a[i]);
        return json_null();
    }
    if (strcasecmp(name, "utcNow") == 0) {
        ARGS(0, 1);
        return format_time((time_t)c->primary->now);
    }
    if (strcasecmp(name, "addDays") == 0) {
        time_t t;
        ARGS(2, 2);
        STR(0);
        INT(1);
        if (parse_iso_time(json_string_value(a[0]), &t) < 0) {
            fail(c, "addDays(): '%s' is not a date", json_string_value(a[0]));
            return NULL;
        }
        return format_time(t + (time_t)json_integer_value(a[1]) * 86400);
    }
    fail(c, "unsupported template function '%s'", name);
    return NULL;
#undef ARGS
#undef STR
#undef INT
}

/* primary := 'string' | number | name '(' args ')' ; postfix: .name | [expr] */
static json_t *xp_primary(struct xp *x, bool ev)
{
    struct ectx *c = x->c;
    json_t *v = NULL;

    xp_ws(x);
    if (x->i >= x->n) {
        fail(c, "expression ends early");
        return NULL;
    }
    if (x->s[x->i] == '\'') {
        struct buf b;
        buf_init(&b, 1 << 20);
        x->i++;
        for (;;) {
            if (x->i >= x->n) {
                buf_release(&b);
                fail(c, "unterminated string in expression");
                return NULL;
            }
            if (x->s[x->i] == '\'') {
                if (x->i + 1 < x->n && x->s[x->i + 1] == '\'') {
                    buf_addch(&b, '\'');
                    x->i += 2;
                    continue;
                }
                x->i++;
                break;
            }
            buf_addch(&b, x->s[x->i++]);
        }
        v = json_string(b.ptr);
        buf_release(&b);
        return v;
    }
    if (isdigit((unsigned char)x->s[x->i]) || x->s[x->i] == '-') {
        long long num;
        char *end;
        errno = 0;
        num = strtoll(x->s + x->i, &end, 10);
        if (errno || end == x->s + x->i) {
            fail(c, "bad number in expression");
            return NULL;
        }
        x->i = (size_t)(end - x->s);
        return json_integer((json_int_t)num);
    }
    if (isalpha((unsigned char)x->s[x->i])) {
        char name[64];
        size_t start = x->i, len;
        json_t *args[64];
        size_t nargs = 0;
        bool is_if;
        while (x->i < x->n && (isalnum((unsigned char)x->s[x->i]) || x->s[x->i] == '_'))
            x->i++;
        len = x->i - start;
        if (len >= sizeof(name)) {
            fail(c, "function name too long");
            return NULL;
        }
        memcpy(name, x->s + start, len);
        name[len] = '\0';
        if (!xp_eat(x, '(')) {
            fail(c, "expected '(' after '%s'", name);
            return NULL;
        }
        is_if = strcasecmp(name, "if") == 0;
        if (!xp_eat(x, ')')) {
            do {
                /* if(): only the branch the condition picks is evaluated */
                bool arg_ev = ev;
                json_t *a;
                if (is_if && nargs >= 1 && ev && args[0]) {
                    bool cond = truthy(c, args[0], "if");
                    arg_ev = nargs == 1 ? cond : !cond;
                }
                if (nargs == 64) {
                    fail(c, "too many arguments to %s()", name);
                    break;
                }
                a = xp_expr(x, arg_ev);
                if (a == NULL)
                    break;
                args[nargs++] = a;
            } while (xp_eat(x, ','));
            if (!c->failed && !xp_eat(x, ')'))
                fail(c, "expected ')' to close %s(", name);
        }
        if (!c->failed && ev)
            v = call(c, name, args, nargs);
        else if (!c->failed)
            v = json_null();
        for (size_t i = 0; i < nargs; i++)
            json_decref(args[i]);
        return c->failed ? (json_decref(v), NULL) : v;
    }
    fail(c, "unexpected '%c' in expression", x->s[x->i]);
    return NULL;
}

static json_t *xp_expr(struct xp *x, bool ev)
{
    struct ectx *c = x->c;
    json_t *v = xp_primary(x, ev);

    while (v) {
        if (xp_eat(x, '.')) {
            size_t start;
            char key[256];
            xp_ws(x);
            start = x->i;
            while (x->i < x->n && (isalnum((unsigned char)x->s[x->i]) || x->s[x->i] == '_'))
                x->i++;
            if (x->i == start || x->i - start >= sizeof(key)) {
                fail(c, "expected a property name after '.'");
                json_decref(v);
                return NULL;
            }
            memcpy(key, x->s + start, x->i - start);
            key[x->i - start] = '\0';
            if (ev) {
                json_t *m = member(v, key);
                if (m == NULL) {
                    fail(c, "the %s has no property '%s'", type_name(v), key);
                    json_decref(v);
                    return NULL;
                }
                json_incref(m);
                json_decref(v);
                v = m;
            }
        } else if (xp_eat(x, '[')) {
            json_t *idx = xp_expr(x, ev), *m = NULL;
            if (idx == NULL || !xp_eat(x, ']')) {
                fail(c, "expected ']'");
                json_decref(idx);
                json_decref(v);
                return NULL;
            }
            if (ev) {
                if (json_is_array(v) && json_is_integer(idx))
                    m = json_array_get(v, (size_t)json_integer_value(idx));
                else if (json_is_object(v) && json_is_string(idx))
                    m = member(v, json_string_value(idx));
                if (m == NULL) {
                    fail(c, "index out of range or of the wrong type");
                    json_decref(idx);
                    json_decref(v);
                    return NULL;
                }
                json_incref(m);
                json_decref(v);
                v = m;
            }
            json_decref(idx);
        } else {
            break;
        }
    }
    return v;
}

/* ---- conditions -------------------------------------------------------------- */

static bool scalar_text(const json_t *v, char *buf, size_t size, const char **out)
{
    if (jsonw_big_digits(v))
        *out = jsonw_big_digits(v);
    else if (json_is_string(v))
        *out = json_string_value(v);
    else if (json_is_true(v))
        *out = "true";
    else if (json_is_false(v))
        *out = "false";
    else if (json_is_integer(v)) {
        snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        *out = buf;
    } else if (json_is_real(v)) {
        snprintf(buf, size, "%.17g", json_real_value(v));
        *out = buf;
    } else
        return false;
    return true;
}

/* equals as Azure compares: case-insensitive strings; a bool or number
 * equals its text ("false" equals false). */
static bool values_equal(const json_t *a, const json_t *b)
{
    char ba[64], bb[64];
    const char *sa, *sb;

    if (a == NULL || b == NULL || json_is_null(a) || json_is_null(b))
        return (a == NULL || json_is_null(a)) && (b == NULL || json_is_null(b));
    if (value_is_number(a) && value_is_number(b)) /* by value: a big number against a real too */
        return value_number_cmp(a, b) == 0;
    if (jsonw_big_digits(a) || jsonw_big_digits(b)) { /* a big number equals its digits */
        if (!scalar_text(a, ba, sizeof(ba), &sa) || !scalar_text(b, bb, sizeof(bb), &sb))
            return false;
        return strcmp(sa, sb) == 0;
    }
    if (json_is_array(a) || json_is_array(b)) {
        size_t i;
        if (!json_is_array(a) || !json_is_array(b) || json_array_size(a) != json_array_size(b))
            return false;
        for (i = 0; i < json_array_size(a); i++)
            if (!values_equal(json_array_get(a, i), json_array_get(b, i)))
                return false;
        return true;
    }
    if (json_is_object(a) || json_is_object(b)) {
        const char *k;
        json_t *v;
        if (!json_is_object(a) || !json_is_object(b) || json_object_size(a) != json_object_size(b))
            return false;
        json_object_foreach((json_t *)a, k, v)
        {
            if (!values_equal(v, member(b, k)))
                return false;
        }
        return true;
    }
    if (!scalar_text(a, ba, sizeof(ba), &sa) || !scalar_text(b, bb, sizeof(bb), &sb))
        return false;
    return strcasecmp(sa, sb) == 0;
}

/* less/greater: numbers numerically, strings (dates included, ISO 8601
 * sorts as text) case-insensitively; anything else is a type error. */
static int compare_values(struct ectx *c, const json_t *a, const json_t *b, const char *what)
{
    if (value_is_number(a) && value_is_number(b)) /* exactly, whatever their kinds */
        return value_number_cmp(a, b);
    if (json_is_string(a) && json_is_string(b)) {
        int r = strcasecmp(json_string_value(a), json_string_value(b));
        return r < 0 ? -1 : r > 0;
    }
    fail(c, "%s compares a %s with a %s", what, type_name(a), type_name(b));
    return 0;
}

/* Glob with '*' (any run), case-insensitive. */
static bool like(const char *s, const char *p)
{
    const char *star = NULL, *ss = NULL;
    while (*s) {
        if (*p == '*') {
            star = p++;
            ss = s;
        } else if (*p && tolower((unsigned char)*p) == tolower((unsigned char)*s)) {
            p++;
            s++;
        } else if (star) {
            p = star + 1;
            s = ++ss;
        } else {
            return false;
        }
    }
    while (*p == '*')
        p++;
    return *p == '\0';
}

/* match: '#' a digit, '?' a letter, '.' any character, others literally;
 * the whole string. */
static bool match(const char *s, const char *p, bool nocase)
{
    for (; *p; p++, s++) {
        unsigned char ch = (unsigned char)*s;
        if (*s == '\0')
            return false;
        if (*p == '#') {
            if (!isdigit(ch))
                return false;
        } else if (*p == '?') {
            if (!isalpha(ch))
                return false;
        } else if (*p != '.') {
            if (nocase ? tolower((unsigned char)*p) != tolower(ch) : (unsigned char)*p != ch)
                return false;
        }
    }
    return *s == '\0';
}

static const char *const operators[] = {
    "equals",
    "notEquals",
    "like",
    "notLike",
    "match",
    "notMatch",
    "matchInsensitively",
    "notMatchInsensitively",
    "contains",
    "notContains",
    "in",
    "notIn",
    "containsKey",
    "notContainsKey",
    "less",
    "lessOrEquals",
    "greater",
    "greaterOrEquals",
    "exists",
    NULL,
};

/* Applies operator op to value v (NULL: missing) and the evaluated operand
 * o. 1 true, 0 false; errors set c->failed. */
static int apply_op(struct ectx *c, const char *op, const json_t *v, const json_t *o)
{
    char buf[64];
    const char *s;
    bool neg = strncmp(op, "not", 3) == 0 && strcmp(op, "notEquals") != 0 ? true : false;
    const char *base = neg ? op + 3 : op;
    int r = 0;

    if (strcmp(op, "equals") == 0)
        return values_equal(v, o);
    if (strcmp(op, "notEquals") == 0)
        return !values_equal(v, o);
    if (strcmp(op, "exists") == 0) {
        bool want;
        if (json_is_boolean(o))
            want = json_is_true(o);
        else if (json_is_string(o) && strcasecmp(json_string_value(o), "true") == 0)
            want = true;
        else if (json_is_string(o) && strcasecmp(json_string_value(o), "false") == 0)
            want = false;
        else {
            fail(c, "exists expects true or false, got %s", type_name(o));
            return 0;
        }
        return (v != NULL) == want;
    }
    if (strcasecmp(base, "Like") == 0) {
        const char *star;
        if (!json_is_string(o)) {
            fail(c, "%s expects a string pattern", op);
            return 0;
        }
        star = strchr(json_string_value(o), '*');
        if (star && strchr(star + 1, '*')) {
            fail(c, "%s allows one '*' wildcard at most: '%s'", op, json_string_value(o));
            return 0;
        }
        r = v && scalar_text(v, buf, sizeof(buf), &s) && like(s, json_string_value(o));
    } else if (strcasecmp(base, "Match") == 0 || strcasecmp(base, "MatchInsensitively") == 0) {
        if (!json_is_string(o)) {
            fail(c, "%s expects a string pattern", op);
            return 0;
        }
        r = v && scalar_text(v, buf, sizeof(buf), &s) &&
            match(s, json_string_value(o), strcasecmp(base, "Match") != 0);
    } else if (strcasecmp(base, "Contains") == 0) {
        if (json_is_array(v)) {
            size_t i;
            json_t *el;
            json_array_foreach(v, i, el) r = r || values_equal(el, o);
        } else if (v && scalar_text(v, buf, sizeof(buf), &s)) {
            const char *t;
            char bo[64];
            if (!scalar_text(o, bo, sizeof(bo), &t)) {
                fail(c, "%s expects a string, got %s", op, type_name(o));
                return 0;
            }
            r = find_nocase(s, t) != NULL;
        }
    } else if (strcasecmp(base, "In") == 0) {
        size_t i;
        json_t *el;
        if (!json_is_array(o)) {
            fail(c, "%s expects an array, got %s", op, type_name(o));
            return 0;
        }
        json_array_foreach(o, i, el) r = r || (v && values_equal(v, el));
    } else if (strcasecmp(base, "ContainsKey") == 0) {
        if (!json_is_string(o)) {
            fail(c, "%s expects a key string", op);
            return 0;
        }
        r = json_is_object(v) && member(v, json_string_value(o)) != NULL;
    } else {
        int cmp;
        if (v == NULL)
            return 0;
        cmp = compare_values(c, v, o, op);
        if (c->failed)
            return 0;
        if (strcmp(op, "less") == 0)
            return cmp < 0;
        if (strcmp(op, "lessOrEquals") == 0)
            return cmp <= 0;
        if (strcmp(op, "greater") == 0)
            return cmp > 0;
        return cmp >= 0;
    }
    return neg ? !r : r;
}

static int cond_eval(struct ectx *c, const json_t *cond);

static const char *find_operator(struct ectx *c, const json_t *cond, const json_t **operand)
{
    for (int i = 0; operators[i]; i++) {
        json_t *o = member(cond, operators[i]);
        if (o) {
            *operand = o;
            return operators[i];
        }
    }
    fail(c, "condition has no operator (equals, in, exists, ...)");
    return NULL;
}

static void set_evidence(struct ectx *c, const char *field, const char *op, const json_t *value)
{
    snprintf(c->ev_field, sizeof(c->ev_field), "%s", field);
    snprintf(c->ev_cond, sizeof(c->ev_cond), "%s", op);
    json_decref(c->ev_value);
    c->ev_value = value ? json_incref((json_t *)value) : NULL;
}

static int count_eval(struct ectx *c, const json_t *spec, json_int_t *out)
{
    const json_t *where = member(spec, "where");
    json_int_t n = 0;

    if (c->nscopes == MAX_SCOPES) {
        fail(c, "counts nested too deeply");
        return -1;
    }
    if (member(spec, "field")) {
        const char *alias = json_string_value(member(spec, "field"));
        struct fv f = {0};
        const char *path;
        if (alias == NULL || strstr(alias, "[*]") == NULL) {
            fail(c, "a field count needs a [*] alias");
            return -1;
        }
        if (!field_get(c, c->res, alias, &f)) {
            fv_release(&f);
            return -1;
        }
        path = policy_alias_path(c->aliases, alias, c->res->api_version);
        for (size_t i = 0; i < f.n && !c->failed; i++) {
            struct scope *sc = &c->scopes[c->nscopes++];
            int r;
            sc->is_field = true;
            sc->alias = alias;
            sc->path = path ? path : "";
            sc->name = NULL;
            sc->elem = f.items[i];
            r = where ? cond_eval(c, where) : 1;
            c->nscopes--;
            n += r == 1;
        }
        fv_release(&f);
    } else if (member(spec, "value")) {
        json_t *arr = eval_value(c, member(spec, "value")), *el;
        const char *name = json_string_value(member(spec, "name"));
        size_t i;
        if (arr == NULL)
            return -1;
        if (!json_is_array(arr)) {
            fail(c, "a value count needs an array, got %s", type_name(arr));
            json_decref(arr);
            return -1;
        }
        if (json_array_size(arr) > MAX_VALUE_COUNT) {
            fail(c, "a value count iterates %d elements at most", MAX_VALUE_COUNT);
            json_decref(arr);
            return -1;
        }
        json_array_foreach(arr, i, el)
        {
            struct scope *sc = &c->scopes[c->nscopes++];
            int r;
            sc->is_field = false;
            sc->alias = sc->path = NULL;
            sc->name = name;
            sc->elem = json_is_null(el) ? NULL : el;
            r = where ? cond_eval(c, where) : 1;
            c->nscopes--;
            if (c->failed)
                break;
            n += r == 1;
        }
        json_decref(arr);
    } else {
        fail(c, "count needs 'field' or 'value'");
        return -1;
    }
    *out = n;
    return c->failed ? -1 : 0;
}

static int cond_eval(struct ectx *c, const json_t *cond)
{
    const json_t *sub, *operand = NULL;
    const char *op;
    json_t *o = NULL;
    int r = -1;

    if (c->failed)
        return -1;
    if (!json_is_object(cond)) {
        fail(c, "a condition must be an object");
        return -1;
    }
    if (++c->depth > MAX_DEPTH) {
        fail(c, "conditions nested too deeply");
        goto out;
    }
    if ((sub = member(cond, "allOf")) != NULL || (sub = member(cond, "anyOf")) != NULL) {
        bool all = member(cond, "allOf") == sub;
        size_t i;
        const json_t *el;
        if (!json_is_array(sub)) {
            fail(c, "%s needs an array", all ? "allOf" : "anyOf");
            goto out;
        }
        r = all ? 1 : 0;
        json_array_foreach(sub, i, el)
        {
            int x = cond_eval(c, el);
            if (x < 0) {
                r = -1;
                goto out;
            }
            if (all && !x) {
                r = 0;
                break;
            }
            if (!all && x) {
                r = 1;
                break;
            }
        }
        goto out;
    }
    if ((sub = member(cond, "not")) != NULL) {
        int x = cond_eval(c, sub);
        r = x < 0 ? -1 : !x;
        goto out;
    }
    op = find_operator(c, cond, &operand);
    if (op == NULL)
        goto out;
    o = eval_value(c, operand);
    if (o == NULL)
        goto out;
    if (member(cond, "field")) {
        json_t *fj = eval_value(c, member(cond, "field"));
        struct fv f = {0};
        if (fj == NULL)
            goto out;
        if (!json_is_string(fj)) {
            fail(c, "field must name a string, got %s", type_name(fj));
            json_decref(fj);
            goto out;
        }
        c->ev_path[0] = '\0';
        if (field_get(c, c->res, json_string_value(fj), &f)) {
            r = 1;
            for (size_t i = 0; i < f.n && r == 1; i++) {
                r = apply_op(c, op, f.items[i], o);
                if (c->failed)
                    r = -1;
            }
            if (!f.multi && f.n == 0)
                r = apply_op(c, op, NULL, o);
            if (r >= 0) {
                json_t *ev = NULL;
                if (f.multi) {
                    ev = json_array();
                    for (size_t i = 0; i < f.n; i++)
                        json_array_append(ev, f.items[i] ? f.items[i] : json_null());
                }
                set_evidence(c, json_string_value(fj), op, f.multi ? ev : f.items[0]);
                json_decref(ev);
            }
        }
        fv_release(&f);
        json_decref(fj);
    } else if (member(cond, "value")) {
        json_t *v = eval_value(c, member(cond, "value"));
        if (v == NULL)
            goto out;
        r = apply_op(c, op, json_is_null(v) ? NULL : v, o);
        if (c->failed)
            r = -1;
        else {
            c->ev_path[0] = '\0';
            set_evidence(c,
                         json_is_string(member(cond, "value"))
                             ? json_string_value(member(cond, "value"))
                             : "value",
                         op, v);
        }
        json_decref(v);
    } else if (member(cond, "count")) {
        json_int_t n;
        json_t *nv;
        const json_t *spec = member(cond, "count");
        if (count_eval(c, spec, &n) < 0)
            goto out;
        nv = json_integer(n);
        r = apply_op(c, op, nv, o);
        if (c->failed)
            r = -1;
        else {
            char label[512];
            const char *what = json_string_value(member(spec, "field"));
            snprintf(label, sizeof(label), "count(%s)", what ? what : "value");
            c->ev_path[0] = '\0';
            set_evidence(c, label, op, nv);
        }
        json_decref(nv);
    } else {
        fail(c, "condition needs 'field', 'value' or 'count'");
    }
out:
    json_decref(o);
    c->depth--;
    return c->failed ? -1 : r;
}

/* ---- effects ------------------------------------------------------------------ */

static int result_set_reason(struct policy_result *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int result_set_reason(struct policy_result *out, const char *fmt, ...)
{
    va_list ap;
    struct buf b;
    buf_init(&b, 4096);
    va_start(ap, fmt);
    buf_vaddf(&b, fmt, ap);
    va_end(ap);
    free(out->reason);
    out->reason = buf_detach(&b, NULL);
    return out->reason ? 0 : AMLSEC_ENOMEM;
}

/* Modify operations / Append entries: what Azure would change. */
static int plan_changes(struct ectx *c, struct policy_result *out, const json_t *details,
                        bool modify)
{
    const json_t *ops = modify ? member(details, "operations") : details, *op;
    json_t *changes = json_array();
    size_t i;

    if (!json_is_array(ops)) {
        fail(c, "%s details need %s", modify ? "Modify" : "Append",
             modify ? "an operations array" : "an array of {field, value}");
        json_decref(changes);
        return -1;
    }
    json_array_foreach(ops, i, op)
    {
        const char *kind = modify ? json_string_value(member(op, "operation")) : "append";
        const char *field = json_string_value(member(op, "field"));
        const json_t *cond = member(op, "condition");
        struct fv f = {0};
        json_t *after = NULL, *before;
        bool change;
        if (kind == NULL || field == NULL) {
            fail(c, "operation %zu needs operation and field", i);
            break;
        }
        if (cond) {
            json_t *cv = eval_value(c, cond);
            bool go = cv && truthy(c, cv, "condition");
            json_decref(cv);
            if (c->failed)
                break;
            if (!go)
                continue;
        }
        if (strcasecmp(kind, "remove") != 0) {
            after = eval_value(c, member(op, "value"));
            if (after == NULL)
                break;
        }
        c->ev_path[0] = '\0';
        if (!field_get(c, c->res, field, &f)) {
            json_decref(after);
            fv_release(&f);
            break;
        }
        before = f.n ? f.items[0] : NULL;
        if (strcasecmp(kind, "remove") == 0)
            change = before != NULL;
        else if (strcasecmp(kind, "add") == 0)
            change = before == NULL;
        else if (!modify && f.multi) {
            bool present = false;
            for (size_t j = 0; j < f.n; j++)
                present = present || values_equal(f.items[j], after);
            change = !present;
        } else
            change = !values_equal(before, after);
        if (change)
            json_array_append_new(changes, json_pack("{s:s, s:s, s:s, s:O?, s:O?}", "operation",
                                                     kind, "field", field, "path", c->ev_path,
                                                     "before", before, "after", after));
        json_decref(after);
        fv_release(&f);
    }
    if (c->failed) {
        json_decref(changes);
        return -1;
    }
    if (json_array_size(changes) == 0) {
        json_decref(changes);
        out->verdict = POLICY_COMPLIANT;
        return 0;
    }
    out->verdict = POLICY_NONCOMPLIANT;
    out->changes = changes;
    return 0;
}

static bool related_to(const struct policy_resource *res, const struct policy_resource *rel)
{
    size_t n;
    if (res->id == NULL || rel->id == NULL)
        return false;
    n = strlen(res->id);
    return strncasecmp(rel->id, res->id, n) == 0 && rel->id[n] == '/';
}

/* The segment after "/<key>/" in an ARM id ("resourceGroups" -> "rg-ml"),
 * as a pointer and length; false when the id has none. */
static bool id_segment(const char *id, const char *key, const char **seg, size_t *len)
{
    size_t kl = strlen(key);
    for (const char *p = id; p && (p = strchr(p, '/')) != NULL; p++) {
        if (strncasecmp(p + 1, key, kl) == 0 && p[1 + kl] == '/') {
            *seg = p + 2 + kl;
            *len = strcspn(*seg, "/");
            return true;
        }
    }
    return false;
}

static bool same_segment(const char *a_id, const char *key, const char *b, size_t bl)
{
    const char *a;
    size_t al;
    return id_segment(a_id, key, &a, &al) && al == bl && strncasecmp(a, b, al) == 0;
}

/* An extension resource (a lock, a diagnostic setting, a role assignment
 * on some resource): its id holds "/providers/" after a resource's id. */
static bool is_extension(const char *id)
{
    const char *first = strcasestr(id, "/providers/");
    const char *next = first ? strcasestr(first + 11, "/providers/") : NULL;
    /* a resource group's or subscription's own extensions have one provider
     * segment; a resource's have two */
    return next != NULL;
}

/* Where Azure looks for the related resources of an AuditIfNotExists or
 * DeployIfNotExists ("Azure Policy definitions: AuditIfNotExists effect"):
 * a type underneath the evaluated resource (a child type, or an extension
 * resource on it such as a diagnostic setting) is looked for under it;
 * any other type in the resource group (details.resourceGroupName, else
 * the evaluated resource's), or with existenceScope Subscription anywhere
 * in the subscription. */
struct rel_scope {
    bool child_type; /* the type is a child type of the evaluated resource's */
    bool subscription;
    const char *rg; /* the resource group searched (not NUL-terminated) */
    size_t rg_len;
    char where[512]; /* for the reason: "under the resource", "in resource group X" */
};

static bool in_rel_scope(const struct policy_resource *res, const struct policy_resource *rel,
                         const struct rel_scope *sc)
{
    const char *sub;
    size_t sl;
    if (related_to(res, rel))
        return true;
    if (sc->child_type || is_extension(rel->id) || rel->id == NULL || res->id == NULL)
        return false;
    if (!id_segment(res->id, "subscriptions", &sub, &sl) ||
        !same_segment(rel->id, "subscriptions", sub, sl))
        return false;
    return sc->subscription ||
           (sc->rg && same_segment(rel->id, "resourceGroups", sc->rg, sc->rg_len));
}

static int existence(struct ectx *c, struct policy_result *out, const json_t *details,
                     const struct policy_resource *related, size_t nrelated, bool related_complete)
{
    const char *type = json_string_value(member(details, "type"));
    const json_t *cond = member(details, "existenceCondition");
    json_t *namev = NULL, *rgv = NULL, *scopev = NULL;
    const char *name = NULL;
    size_t candidates = 0, tl;
    struct rel_scope sc;
    int rc = 0;

    if (type == NULL) {
        fail(c, "%s details need a type", policy_effect_name(out->effect));
        return -1;
    }
    memset(&sc, 0, sizeof(sc));
    tl = c->primary->type ? strlen(c->primary->type) : 0;
    sc.child_type = tl && strncasecmp(type, c->primary->type, tl) == 0 && type[tl] == '/';
    if (member(details, "name")) {
        namev = eval_value(c, member(details, "name"));
        if (namev == NULL)
            return -1;
        name = json_string_value(namev);
    }
    if (!sc.child_type && member(details, "existenceScope")) {
        scopev = eval_value(c, member(details, "existenceScope"));
        if (scopev == NULL || !json_is_string(scopev)) {
            if (scopev)
                fail(c, "existenceScope is a %s, not a string", type_name(scopev));
            rc = -1;
            goto out;
        }
        sc.subscription = strcasecmp(json_string_value(scopev), "subscription") == 0;
        if (!sc.subscription && strcasecmp(json_string_value(scopev), "resourcegroup") != 0) {
            fail(c, "existenceScope '%s' is neither ResourceGroup nor Subscription",
                 json_string_value(scopev));
            rc = -1;
            goto out;
        }
    }
    if (!sc.child_type && !sc.subscription) {
        if (member(details, "resourceGroupName")) {
            rgv = eval_value(c, member(details, "resourceGroupName"));
            if (rgv == NULL || !json_is_string(rgv)) {
                if (rgv)
                    fail(c, "resourceGroupName is a %s, not a string", type_name(rgv));
                rc = -1;
                goto out;
            }
            sc.rg = json_string_value(rgv);
            sc.rg_len = strlen(sc.rg);
        } else if (c->primary->id) {
            id_segment(c->primary->id, "resourceGroups", &sc.rg, &sc.rg_len);
        }
    }
    if (sc.child_type || (sc.rg == NULL && !sc.subscription))
        snprintf(sc.where, sizeof(sc.where), "under the resource");
    else if (sc.subscription)
        snprintf(sc.where, sizeof(sc.where), "under the resource or in its subscription");
    else
        snprintf(sc.where, sizeof(sc.where), "under the resource or in resource group '%.*s'",
                 (int)(sc.rg_len > 200 ? 200 : sc.rg_len), sc.rg);
    for (size_t i = 0; i < nrelated; i++) {
        const struct policy_resource *rel = &related[i];
        int r;
        if (rel->type == NULL || strcasecmp(rel->type, type) != 0 ||
            !in_rel_scope(c->primary, rel, &sc))
            continue;
        if (name && (rel->name == NULL || strcasecmp(rel->name, name) != 0))
            continue;
        candidates++;
        c->res = rel;
        r = cond ? cond_eval(c, cond) : 1;
        c->res = c->primary;
        if (r < 0) {
            rc = -1;
            goto out;
        }
        if (r == 1) {
            out->verdict = POLICY_COMPLIANT;
            goto out;
        }
    }
    if (related_complete) {
        out->verdict = POLICY_NONCOMPLIANT;
        rc = result_set_reason(out, "no related %s %s %s", type, sc.where,
                               candidates ? "satisfies the existence condition" : "exists");
        goto out;
    }
    out->verdict = POLICY_NOT_EVALUABLE;
    if (candidates)
        rc = result_set_reason(out,
                               "not evaluable offline: no related %s %s in the plan or state "
                               "satisfies the existence condition (%zu do not), and Azure may "
                               "hold another",
                               type, sc.where, candidates);
    else
        rc = result_set_reason(out,
                               "not evaluable offline: no related %s %s in the plan or state; "
                               "Azure looks for one after deployment",
                               type, sc.where);
out:
    json_decref(namev);
    json_decref(rgv);
    json_decref(scopev);
    return rc;
}

static bool data_mode(const char *mode)
{
    return strcasecmp(mode, "All") != 0 && strcasecmp(mode, "Indexed") != 0;
}

int policy_evaluate(struct policy_result *out, const struct policy *p,
                    const struct policy_aliases *aliases, const struct policy_resource *res,
                    const struct policy_resource *related, size_t nrelated, bool related_complete)
{
    struct ectx *c = calloc(1, sizeof(*c));
    json_t *effect = NULL;
    int r, rc = 0;

    memset(out, 0, sizeof(*out));
    if (c == NULL)
        return AMLSEC_ENOMEM;
    c->p = p;
    c->aliases = aliases;
    c->res = c->primary = res;
    out->effect = POLICY_EFFECT_UNKNOWN;

    if (data_mode(p->mode)) {
        out->verdict = POLICY_NOT_EVALUABLE;
        rc = result_set_reason(out,
                               "mode '%s' is a resource-provider mode: the service evaluates it, "
                               "not against ARM request bodies",
                               p->mode);
        goto out;
    }
    if (strcasecmp(p->mode, "Indexed") == 0 && res->not_indexed) {
        out->verdict = POLICY_NOT_APPLICABLE;
        goto out;
    }
    effect = eval_value(c, json_object_get(p->rule_then, "effect"));
    if (effect && !json_is_string(effect))
        fail(c, "the effect is a %s, not a string", type_name(effect));
    if (c->failed)
        goto failed;
    out->effect = effect_parse(json_string_value(effect));
    if (out->effect == POLICY_EFFECT_UNKNOWN) {
        fail(c, "unknown effect '%s'", json_string_value(effect));
        goto failed;
    }
    if (out->effect == POLICY_EFFECT_DISABLED) {
        out->verdict = POLICY_DISABLED;
        goto out;
    }
    r = cond_eval(c, p->rule_if);
    if (r < 0)
        goto failed;
    if (c->ev_field[0]) {
        out->field = strdup(c->ev_field);
        out->path = c->ev_path[0] ? strdup(c->ev_path) : NULL;
        out->condition = strdup(c->ev_cond);
        out->value = c->ev_value ? json_incref(c->ev_value) : NULL;
    }
    if (!r) {
        out->verdict = POLICY_COMPLIANT;
        goto out;
    }
    switch (out->effect) {
    case POLICY_EFFECT_MODIFY:
    case POLICY_EFFECT_APPEND:
        if (plan_changes(c, out,
                         out->effect == POLICY_EFFECT_MODIFY ? member(p->rule_then, "details")
                                                             : member(p->rule_then, "details"),
                         out->effect == POLICY_EFFECT_MODIFY) < 0)
            goto failed;
        break;
    case POLICY_EFFECT_AUDIT_IF_NOT_EXISTS:
    case POLICY_EFFECT_DEPLOY_IF_NOT_EXISTS:
        if (existence(c, out, member(p->rule_then, "details"), related, nrelated,
                      related_complete) < 0)
            goto failed;
        break;
    case POLICY_EFFECT_MANUAL:
    case POLICY_EFFECT_DENY_ACTION:
        out->verdict = POLICY_NOT_EVALUABLE;
        rc = result_set_reason(out, "effect %s is not decided from a request body",
                               policy_effect_name(out->effect));
        break;
    default:
        out->verdict = POLICY_NONCOMPLIANT;
        break;
    }
    goto out;
failed:
    out->verdict = POLICY_ERROR;
    rc = result_set_reason(out, "evaluation failed (Azure denies the request): %s", c->errmsg);
out:
    json_decref(effect);
    json_decref(c->ev_value);
    free(c);
    return rc;
}
