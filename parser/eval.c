#include "parser/eval.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parser/value.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/fileio.h"
#include "util/suggest.h"
#include "util/banned.h"

const char *const eval_functions[] = {"env",  "file",   "lower",  "upper",    "format",
                                      "join", "concat", "length", "contains", NULL};

#define FILE_FUNC_MAX ((size_t)4 << 20)

static int fail(struct eval_ctx *ctx, const struct src_loc *loc, const char *code, const char *fmt,
                ...) __attribute__((format(printf, 4, 5)));

static int fail(struct eval_ctx *ctx, const struct src_loc *loc, const char *code, const char *fmt,
                ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    diag_add(ctx->diags, DIAG_ERROR, loc, code, "%s", msg);
    return AMLSEC_EPARSE;
}

/* Strings, numbers and bools convert to text in templates and format(). */
static bool to_text(struct buf *out, const json_t *v)
{
    if (json_is_string(v))
        return buf_add(out, json_string_value(v), json_string_length(v)) == 0;
    if (json_is_integer(v))
        return buf_addf(out, "%" JSON_INTEGER_FORMAT, json_integer_value(v)) == 0;
    if (json_is_boolean(v))
        return buf_adds(out, json_is_true(v) ? "true" : "false") == 0;
    return false;
}

static int eval_template(json_t **out, struct eval_ctx *ctx, const struct ast_expr *e)
{
    struct buf b;
    bool unknown = false;
    int rc = 0;

    buf_init(&b, 0);
    for (const struct ast_expr *p = e->u.tmpl.parts; p; p = p->next) {
        json_t *v = NULL;
        if (p->kind == EXPR_STRING) {
            buf_add(&b, p->u.str.s, p->u.str.len);
            continue;
        }
        if ((rc = eval_expr(&v, ctx, p)) < 0)
            break;
        if (value_is_unknown(v))
            unknown = true;
        else if (!to_text(&b, v))
            rc = fail(ctx, &p->loc, "type", "cannot interpolate a %s into a string",
                      value_type_name(v));
        json_decref(v);
        if (rc < 0)
            break;
    }
    if (rc == 0)
        *out = unknown ? value_unknown() : json_stringn(b.ptr, b.len);
    buf_release(&b);
    return rc;
}

static json_t *var_value(const struct config *cfg, const char *name, bool *sensitive)
{
    for (size_t i = 0; i < cfg->nvars; i++) {
        if (strcmp(cfg->vars[i].name, name) == 0) {
            if (cfg->vars[i].sensitive)
                *sensitive = true;
            return cfg->vars[i].value;
        }
    }
    return NULL;
}

static bool type_matches(const char *type, const json_t *v)
{
    return type == NULL || strcmp(type, "any") == 0 || json_is_null(v) || value_is_unknown(v) ||
           strcmp(type, value_type_name(v)) == 0;
}

/* Evaluates a lazily read value (a local, a module's input or output) the
 * first time it is read: the check ordered what it refers to first and
 * refused cycles; one that failed was reported once, where it is
 * defined. */
static void node_eval(struct eval_ctx *ctx, struct cfg_local *l)
{
    struct eval_ctx lc = {
        .cfg = ctx->cfg, .diags = ctx->diags, .base_dir = l->base_dir, .scope = l->eval_in};
    if (l->ns == 'v' && l->scope && l->eval_in == l->scope->parent && l->scope->has_for_each) {
        /* the caller's each.key / each.value */
        lc.each_key = l->scope->each_key;
        lc.each_value = l->scope->each_value;
    }
    l->state = CFG_LOCAL_EVALUATING;
    if (eval_expr(&l->value, &lc, l->attr->value) < 0) {
        l->state = CFG_LOCAL_FAILED;
        return;
    }
    l->state = CFG_LOCAL_DONE;
    l->sensitive = lc.sensitive || l->declared_sensitive;
    if (l->ns == 'v' && !type_matches(l->type, l->value)) {
        fail(&lc, &l->attr->value->loc, "type", "variable '%s' of %s is a %s, not a %s", l->name,
             l->scope->path, value_type_name(l->value), l->type);
        l->state = CFG_LOCAL_FAILED;
    } else if (l->ns == 'o' && lc.sensitive && !l->declared_sensitive) {
        struct diag *d = diag_add(ctx->diags, DIAG_ERROR, &l->attr->value->loc, "sensitive-output",
                                  "output '%s' refers to a sensitive value", l->name);
        if (d)
            diag_set_hint(d, "set sensitive = true in the output");
        l->state = CFG_LOCAL_FAILED;
    }
}

/* *out: a new reference to the node's value. */
static int node_value(json_t **out, struct eval_ctx *ctx, struct cfg_local *l,
                      const struct src_loc *loc)
{
    if (l->state == CFG_LOCAL_EVALUATING)
        return fail(ctx, loc, "cycle", "'%s' refers to itself", l->name);
    if (l->state == CFG_LOCAL_NEW)
        node_eval(ctx, l);
    if (l->state == CFG_LOCAL_FAILED)
        return AMLSEC_EPARSE;
    if (l->sensitive)
        ctx->sensitive = true;
    *out = json_incref(l->value);
    return 0;
}

/* The outputs of a module instance as an object (module.NAME). */
static int module_object(json_t **out, struct eval_ctx *ctx, const struct cfg_module *m)
{
    const struct config *cfg = ctx->cfg;
    json_t *obj = json_object();
    for (size_t i = 0; i < cfg->nlocals; i++) {
        json_t *v = NULL;
        int rc;
        if (cfg->locals[i].scope != m || cfg->locals[i].ns != 'o')
            continue;
        if ((rc = node_value(&v, ctx, &cfg->locals[i], &m->call->type_loc)) < 0) {
            json_decref(obj);
            return rc;
        }
        json_object_set_new(obj, cfg->locals[i].name, v);
    }
    *out = obj;
    return 0;
}

/* module.NAME.OUT, module.NAME["key"].OUT, module.NAME: *s is left at the
 * first step not consumed. */
static int module_value(json_t **out, struct eval_ctx *ctx, const struct ast_expr *e,
                        const struct ast_step **sp)
{
    const struct config *cfg = ctx->cfg;
    const struct ast_step *s = *sp;
    const struct cfg_module *first = NULL;
    json_t *v = NULL;
    int rc;
    if (s == NULL || s->kind != STEP_ATTR)
        return fail(ctx, &e->loc, "reference", "expected module.NAME.OUTPUT");
    for (size_t i = 0; i < cfg->nmodules && first == NULL; i++)
        if (cfg->modules[i]->parent == ctx->scope && strcmp(cfg->modules[i]->name, s->name) == 0)
            first = cfg->modules[i];
    if (first == NULL)
        return fail(ctx, &e->loc, "unknown-module", "undeclared module '%s'", s->name);
    s = s->next;
    if (!first->has_for_each) {
        if (s && s->kind == STEP_ATTR) {
            struct cfg_local *l = config_find_node(cfg, first, 'o', s->name);
            if (l == NULL)
                return fail(ctx, &s->loc, "unknown-output", "module '%s' has no output '%s'",
                            first->name, s->name);
            *sp = s->next;
            return node_value(out, ctx, l, &s->loc);
        }
        *sp = s;
        return module_object(out, ctx, first);
    }
    /* for_each: a map of key -> outputs, indexed by the steps that follow */
    if (s && s->kind == STEP_INDEX) {
        json_t *key = NULL;
        if ((rc = eval_expr(&key, ctx, s->index)) < 0)
            return rc;
        for (size_t i = 0; i < cfg->nmodules; i++) {
            const struct cfg_module *m = cfg->modules[i];
            if (m->parent == ctx->scope && strcmp(m->name, first->name) == 0 &&
                json_equal(m->each_key, key)) {
                json_decref(key);
                *sp = s->next;
                if (s->next && s->next->kind == STEP_ATTR) {
                    struct cfg_local *l = config_find_node(cfg, m, 'o', s->next->name);
                    if (l == NULL)
                        return fail(ctx, &s->next->loc, "unknown-output",
                                    "module '%s' has no output '%s'", first->name, s->next->name);
                    *sp = s->next->next;
                    return node_value(out, ctx, l, &s->next->loc);
                }
                return module_object(out, ctx, m);
            }
        }
        rc = value_is_unknown(key)
                 ? (*out = key, *sp = s->next, 0)
                 : fail(ctx, &s->loc, "unknown-key", "module '%s' has no instance %s", first->name,
                        json_is_string(key) ? json_string_value(key) : "of that key");
        if (rc < 0)
            json_decref(key);
        return rc;
    }
    v = json_object();
    for (size_t i = 0; i < cfg->nmodules; i++) {
        const struct cfg_module *m = cfg->modules[i];
        json_t *o = NULL;
        if (m->parent != ctx->scope || strcmp(m->name, first->name) != 0)
            continue;
        if ((rc = module_object(&o, ctx, m)) < 0) {
            json_decref(v);
            return rc;
        }
        json_object_set_new(v, json_string_value(m->each_key), o);
    }
    *sp = s;
    *out = v;
    return 0;
}

/* The value of local.NAME (or var.NAME in a module). *out: a new
 * reference. */
static int local_value(json_t **out, struct eval_ctx *ctx, const struct ast_step *s, char ns)
{
    struct cfg_local *l = config_find_node(ctx->cfg, ctx->scope, ns, s->name);
    if (l == NULL)
        return ns == 'l'
                   ? fail(ctx, &s->loc, "unknown-local", "undeclared local '%s'", s->name)
                   : fail(ctx, &s->loc, "unknown-variable", "undeclared variable '%s'", s->name);
    return node_value(out, ctx, l, &s->loc);
}

static json_t *resource_value(const struct cfg_resource *r)
{
    json_t *m;
    if (!r->has_for_each)
        return r->instances && r->instances[0].value ? json_incref(r->instances[0].value)
                                                     : value_unknown();
    m = json_object();
    for (size_t i = 0; i < r->ninstances; i++) {
        const struct cfg_instance *in = &r->instances[i];
        json_t *k = in->each_key;
        if (json_is_string(k))
            json_object_set_new(m, json_string_value(k),
                                in->value ? json_incref(in->value) : value_unknown());
    }
    return m;
}

/* Applies one step to v (consumed); *out new reference. */
static int apply_step(json_t **out, struct eval_ctx *ctx, json_t *v, const struct ast_step *s,
                      bool from_resource)
{
    json_t *key = NULL, *r = NULL;
    int rc = 0;

    if (value_is_unknown(v)) {
        *out = v;
        return 0;
    }
    if (s->kind == STEP_INDEX) {
        if ((rc = eval_expr(&key, ctx, s->index)) < 0) {
            json_decref(v);
            return rc;
        }
        if (value_is_unknown(key)) {
            json_decref(v);
            *out = key;
            return 0;
        }
    }
    if (json_is_object(v)) {
        const char *name = s->kind == STEP_ATTR ? s->name : json_string_value(key);
        if (name == NULL)
            rc = fail(ctx, &s->loc, "type", "a map is indexed with a string, not a %s",
                      value_type_name(key));
        else if ((r = json_object_get(v, name)) != NULL)
            json_incref(r);
        else if (from_resource)
            r = value_unknown(); /* computed by the service */
        else
            rc = ctx->sensitive /* the key may come from a secret: never quoted */
                     ? fail(ctx, &s->loc, "unknown-key",
                            "no such key in this map (the key is "
                            "sensitive: not shown)")
                     : fail(ctx, &s->loc, "unknown-key", "no key '%s' in this map", name);
    } else if (json_is_array(v) && s->kind == STEP_INDEX) {
        if (!json_is_integer(key))
            rc = fail(ctx, &s->loc, "type", "a list is indexed with a number, not a %s",
                      value_type_name(key));
        else if (json_integer_value(key) < 0 ||
                 (size_t)json_integer_value(key) >= json_array_size(v))
            rc = ctx->sensitive
                     ? fail(ctx, &s->loc, "index",
                            "the index is out of range for a list of %zu (it is sensitive: not "
                            "shown)",
                            json_array_size(v))
                     : fail(ctx, &s->loc, "index",
                            "index %" JSON_INTEGER_FORMAT " is out of range for a list of %zu",
                            json_integer_value(key), json_array_size(v));
        else
            r = json_incref(json_array_get(v, (size_t)json_integer_value(key)));
    } else {
        rc = fail(ctx, &s->loc, "type", "cannot take %s of a %s",
                  s->kind == STEP_ATTR ? "an attribute" : "an index", value_type_name(v));
    }
    json_decref(key);
    json_decref(v);
    *out = r;
    return rc;
}

/* r's instance whose value is v, or NULL. */
static const struct cfg_instance *instance_of(const struct cfg_resource *r, const json_t *v)
{
    for (size_t i = 0; i < r->ninstances; i++)
        if (r->instances[i].value == v)
            return &r->instances[i];
    return NULL;
}

/* Sensitivity follows a value read from another instance: the steps s
 * name an attribute path of in; when a sensitive path of in covers it, or
 * lies inside it, what is read is sensitive. A reference to the whole
 * instance stands for its id (names cannot be sensitive: schema checks). */
static void mark_read(struct eval_ctx *ctx, const struct cfg_instance *in, const struct ast_step *s)
{
    char path[256];
    size_t len = 0;
    if (in == NULL || json_array_size(in->sensitive) == 0)
        return;
    for (; s && s->kind == STEP_ATTR; s = s->next) {
        size_t n = strlen(s->name);
        if (len + n + 2 > sizeof(path)) {
            ctx->sensitive = true; /* too long to name: assume the worst */
            return;
        }
        if (len)
            path[len++] = '.';
        memcpy(path + len, s->name, n + 1);
        len += n;
    }
    if (len == 0)
        snprintf(path, sizeof(path), "id");
    if (value_path_sensitive(in->sensitive, path, true))
        ctx->sensitive = true;
}

/* Applies the steps s to v (consumed), the value of the instance at
 * address. A value known only after apply that the steps reach (a nested
 * attribute the service computes, such as identity.principal_id, or one
 * inside a block still unknown) is tagged with the instance and the dotted
 * path to it, so plan and apply can fill it in once the instance exists
 * (engine/known.h), as the instance's own top-level values are. An unknown
 * the instance holds from elsewhere (a reference it makes) keeps its tag. */
static int eval_resource_path(json_t **out, struct eval_ctx *ctx, json_t *v,
                              const struct ast_step *s, const char *address)
{
    char path[256]; /* no allocation per reference: parse speed (bench_parse) */
    size_t len = 0;
    bool taggable = true, through_unknown = false;
    const char *ta, *tt;
    int rc = 0;

    for (; s && rc == 0; s = s->next) {
        size_t n = s->kind == STEP_ATTR ? strlen(s->name) : 0;
        /* a list index, or a path too long to name: left untagged */
        if (s->kind != STEP_ATTR || len + n + 2 > sizeof(path))
            taggable = false;
        if (taggable) {
            if (len)
                path[len++] = '.';
            memcpy(path + len, s->name, n + 1);
            len += n;
        }
        through_unknown |= value_is_unknown(v);
        rc = apply_step(&v, ctx, v, s, true);
    }
    if (rc < 0)
        return rc;
    if (taggable && len && value_is_unknown(v) &&
        (through_unknown || !value_unknown_origin(v, &ta, &tt))) {
        json_t *tagged = value_unknown_of(address, path);
        if (tagged) {
            json_decref(v);
            v = tagged;
        }
    }
    *out = v;
    return 0;
}

static int eval_traversal(json_t **out, struct eval_ctx *ctx, const struct ast_expr *e)
{
    const char *root = e->u.trav.root;
    const struct ast_step *s = e->u.trav.steps;
    const struct config *cfg = ctx->cfg;
    json_t *v = NULL;
    bool from_resource = false;
    const char *origin = NULL; /* the instance a resource reference reads from */
    const struct cfg_instance *from = NULL;
    int rc;

    if (strcmp(root, "local") == 0 || (ctx->scope && strcmp(root, "var") == 0)) {
        if (s == NULL || s->kind != STEP_ATTR)
            return fail(ctx, &e->loc, "reference", "'%s' must be followed by '.NAME'", root);
        if ((rc = local_value(&v, ctx, s, root[0] == 'l' ? 'l' : 'v')) < 0)
            return rc;
        s = s->next;
    } else if (strcmp(root, "module") == 0) {
        if ((rc = module_value(&v, ctx, e, &s)) < 0)
            return rc;
    } else if (strcmp(root, "var") == 0 || strcmp(root, "settings") == 0 ||
               strcmp(root, "each") == 0) {
        if (s == NULL || s->kind != STEP_ATTR)
            return fail(ctx, &e->loc, "reference", "'%s' must be followed by '.NAME'", root);
        if (root[0] == 'v') {
            v = var_value(cfg, s->name, &ctx->sensitive);
            if (v == NULL)
                return fail(ctx, &s->loc, "unknown-variable", "variable '%s' has no value",
                            s->name);
            json_incref(v);
        } else if (root[0] == 's') {
            v = cfg->settings ? json_object_get(cfg->settings, s->name) : NULL;
            if (v == NULL)
                return fail(ctx, &s->loc, "unknown-setting", "settings.%s is not set", s->name);
            json_incref(v);
        } else {
            const json_t *ek = ctx->self ? ctx->self->each_key : ctx->each_key;
            const json_t *ev = ctx->self ? ctx->self->each_value : ctx->each_value;
            if (ek == NULL)
                return fail(ctx, &e->loc, "each",
                            "each.%s can only be used in a block with for_each", s->name);
            if (strcmp(s->name, "key") == 0)
                v = json_incref((json_t *)ek);
            else if (strcmp(s->name, "value") == 0)
                v = json_incref((json_t *)ev);
            else
                return fail(ctx, &s->loc, "each", "each has only 'key' and 'value', not '%s'",
                            s->name);
        }
        s = s->next;
    } else {
        bool existing = strcmp(root, "existing") == 0;
        const char *kind = root;
        const struct cfg_resource *r;
        if (existing) {
            if (s == NULL || s->kind != STEP_ATTR)
                return fail(ctx, &e->loc, "reference", "expected existing.TYPE.NAME");
            kind = s->name;
            s = s->next;
        }
        if (s == NULL || s->kind != STEP_ATTR)
            return fail(ctx, &e->loc, "reference", "expected %s%s.NAME",
                        existing ? "existing." : "", kind);
        if (ctx->no_resources)
            return fail(ctx, &e->loc, "reference",
                        "%s cannot refer to resources: their values are known only after apply",
                        ctx->no_resources);
        r = config_find_in(cfg, ctx->scope, existing, kind, s->name);
        if (r == NULL)
            return fail(ctx, &e->loc, "unknown-reference", "unknown reference '%s%s.%s'",
                        existing ? "existing." : "", kind, s->name);
        v = resource_value(r);
        from_resource = true;
        s = s->next;
        if (!r->has_for_each && r->ninstances == 1)
            from = &r->instances[0];
        /* TYPE.NAME["key"] picks one instance of a for_each resource */
        if (r->has_for_each && s && s->kind == STEP_INDEX) {
            if ((rc = apply_step(&v, ctx, v, s, false)) < 0)
                return rc;
            from = instance_of(r, v);
            s = s->next;
        } else if (r->has_for_each) {
            /* every instance at once: sensitive when any of them is */
            for (size_t i = 0; i < r->ninstances; i++)
                mark_read(ctx, &r->instances[i], s && s->kind == STEP_INDEX ? s->next : s);
        }
        if (from) {
            origin = from->address;
            mark_read(ctx, from, s);
        }
    }
    if (origin)
        return eval_resource_path(out, ctx, v, s, origin);
    for (; s; s = s->next)
        if ((rc = apply_step(&v, ctx, v, s, from_resource)) < 0)
            return rc;
    *out = v;
    return 0;
}

static bool values_equal(const json_t *a, const json_t *b)
{
    return json_equal((json_t *)a, (json_t *)b) == 1 || (json_is_null(a) && json_is_null(b));
}

/* --- functions ------------------------------------------------------------ */

struct call_args {
    json_t *v[16];
    const struct ast_expr *e[16];
    size_t n;
};

static int want(struct eval_ctx *ctx, const struct call_args *a, size_t i, const char *fn,
                json_type type)
{
    static const char *const names[] = {"map",    "list", "string", "number",
                                        "number", "bool", "bool",   "null"};
    if (json_typeof(a->v[i]) == type || (type == JSON_TRUE && json_is_boolean(a->v[i])))
        return 0;
    return fail(ctx, &a->e[i]->loc, "type", "%s(): argument %zu must be a %s, not a %s", fn, i + 1,
                names[type], value_type_name(a->v[i]));
}

static const char *env_lookup(char *const *environ, const char *name)
{
    size_t n = strlen(name);
    if (environ == NULL)
        return NULL;
    for (char *const *e = environ; *e; e++)
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
            return *e + n + 1;
    return NULL;
}

static int fn_format(json_t **out, struct eval_ctx *ctx, struct call_args *a)
{
    const char *f;
    size_t next = 1;
    struct buf b;
    int rc = 0;

    if ((rc = want(ctx, a, 0, "format", JSON_STRING)) < 0)
        return rc;
    buf_init(&b, 0);
    for (f = json_string_value(a->v[0]); *f && rc == 0; f++) {
        if (*f != '%') {
            buf_addch(&b, *f);
            continue;
        }
        f++;
        if (*f == '%') {
            buf_addch(&b, '%');
            continue;
        }
        if (*f != 's' && *f != 'd' && *f != 'q') {
            rc =
                fail(ctx, &a->e[0]->loc, "format",
                     "format(): unsupported verb '%%%c'; use %%s, %%d, %%q or %%%%", *f ? *f : ' ');
            break;
        }
        if (next >= a->n) {
            rc = fail(ctx, &a->e[0]->loc, "format", "format(): not enough arguments for the verbs");
            break;
        }
        if (*f == 'd' && !json_is_integer(a->v[next]))
            rc = fail(ctx, &a->e[next]->loc, "type", "format(): %%d needs a number, not a %s",
                      value_type_name(a->v[next]));
        else if (*f == 'q') {
            if (!json_is_string(a->v[next]))
                rc = fail(ctx, &a->e[next]->loc, "type", "format(): %%q needs a string");
            else
                buf_addf(&b, "\"%s\"", json_string_value(a->v[next]));
        } else if (!to_text(&b, a->v[next]))
            rc = fail(ctx, &a->e[next]->loc, "type", "format(): cannot format a %s",
                      value_type_name(a->v[next]));
        next++;
    }
    if (rc == 0 && next < a->n)
        rc = fail(ctx, &a->e[next]->loc, "format", "format(): more arguments than verbs");
    if (rc == 0)
        *out = json_stringn(b.ptr, b.len);
    buf_release(&b);
    return rc;
}

static int call_fn(json_t **out, struct eval_ctx *ctx, const struct ast_expr *e,
                   struct call_args *a)
{
    const char *fn = e->u.call.name;
    size_t n = a->n;
    int rc;
#define ARITY(lo, hi)                                                                              \
    do {                                                                                           \
        if (n < (lo) || n > (hi))                                                                  \
            return (lo) == (hi)                                                                    \
                       ? fail(ctx, &e->loc, "arity", "%s() takes %d argument%s, not %zu", fn,      \
                              (lo), (lo) == 1 ? "" : "s", n)                                       \
                       : fail(ctx, &e->loc, "arity", "%s() takes %d to %d arguments, not %zu", fn, \
                              (lo), (hi), n);                                                      \
    } while (0)

    if (strcmp(fn, "env") == 0) {
        const char *v;
        ARITY(1, 2);
        if ((rc = want(ctx, a, 0, fn, JSON_STRING)) < 0)
            return rc;
        v = env_lookup(ctx->cfg->environ, json_string_value(a->v[0]));
        if (v) {
            *out = json_string(v);
        } else if (n == 2) {
            *out = json_incref(a->v[1]);
        } else {
            return fail(ctx, &e->loc, "env", "environment variable '%s' is not set",
                        json_string_value(a->v[0]));
        }
        return 0;
    }
    if (strcmp(fn, "file") == 0) {
        struct buf b, path;
        struct errbuf err = ERRBUF_INIT;
        const char *p;
        ARITY(1, 1);
        if ((rc = want(ctx, a, 0, fn, JSON_STRING)) < 0)
            return rc;
        p = json_string_value(a->v[0]);
        buf_init(&path, 0);
        if (p[0] != '/' && ctx->base_dir)
            buf_addf(&path, "%s/", ctx->base_dir);
        buf_adds(&path, p);
        buf_init(&b, FILE_FUNC_MAX + 1);
        rc = file_read_all(&b, path.ptr, FILE_FUNC_MAX, &err);
        if (rc < 0)
            rc = fail(ctx, &e->loc, "file", "file(): %s", err.msg);
        else
            *out = json_stringn(b.ptr, b.len);
        buf_release(&b);
        buf_release(&path);
        if (rc == 0 && *out == NULL)
            rc = fail(ctx, &e->loc, "file", "file(): '%s' is not valid UTF-8 text", p);
        return rc;
    }
    if (strcmp(fn, "lower") == 0 || strcmp(fn, "upper") == 0) {
        char *s;
        ARITY(1, 1);
        if ((rc = want(ctx, a, 0, fn, JSON_STRING)) < 0)
            return rc;
        s = strdup(json_string_value(a->v[0]));
        if (s == NULL)
            return fail(ctx, &e->loc, "internal", "out of memory");
        for (char *c = s; *c; c++)
            *c = (char)(fn[0] == 'l' ? tolower((unsigned char)*c) : toupper((unsigned char)*c));
        *out = json_string(s);
        free(s);
        return 0;
    }
    if (strcmp(fn, "format") == 0) {
        ARITY(1, 16);
        return fn_format(out, ctx, a);
    }
    if (strcmp(fn, "join") == 0) {
        struct buf b;
        size_t i;
        json_t *x;
        ARITY(2, 2);
        if ((rc = want(ctx, a, 0, fn, JSON_STRING)) < 0 ||
            (rc = want(ctx, a, 1, fn, JSON_ARRAY)) < 0)
            return rc;
        buf_init(&b, 0);
        json_array_foreach(a->v[1], i, x)
        {
            if (i)
                buf_adds(&b, json_string_value(a->v[0]));
            if (!to_text(&b, x)) {
                buf_release(&b);
                return fail(ctx, &a->e[1]->loc, "type", "join(): list element %zu is a %s", i + 1,
                            value_type_name(x));
            }
        }
        *out = json_stringn(b.ptr, b.len);
        buf_release(&b);
        return 0;
    }
    if (strcmp(fn, "concat") == 0) {
        json_t *r = json_array();
        for (size_t i = 0; i < n; i++) {
            if ((rc = want(ctx, a, i, fn, JSON_ARRAY)) < 0) {
                json_decref(r);
                return rc;
            }
            json_array_extend(r, a->v[i]);
        }
        *out = r;
        return 0;
    }
    if (strcmp(fn, "length") == 0) {
        const json_t *v;
        ARITY(1, 1);
        v = a->v[0];
        if (json_is_array(v))
            *out = json_integer((json_int_t)json_array_size(v));
        else if (json_is_object(v))
            *out = json_integer((json_int_t)json_object_size(v));
        else if (json_is_string(v)) {
            /* characters, not bytes */
            json_int_t count = 0;
            for (const unsigned char *p = (const unsigned char *)json_string_value(v); *p; p++)
                count += (*p & 0xC0) != 0x80;
            *out = json_integer(count);
        } else
            return fail(ctx, &a->e[0]->loc, "type",
                        "length(): needs a list, map or string, not a %s", value_type_name(v));
        return 0;
    }
    if (strcmp(fn, "contains") == 0) {
        size_t i;
        json_t *x;
        bool found = false;
        ARITY(2, 2);
        if ((rc = want(ctx, a, 0, fn, JSON_ARRAY)) < 0)
            return rc;
        json_array_foreach(a->v[0], i, x) if (values_equal(x, a->v[1])) found = true;
        *out = json_boolean(found);
        return 0;
    }
#undef ARITY
    {
        struct src_loc nl = ast_call_name_loc(e);
        struct diag *d =
            diag_add(ctx->diags, DIAG_ERROR, &nl, "unknown-function", "unknown function '%s'", fn);
        const char *near = suggest_nearest(fn, eval_functions, 0);
        if (d && near)
            diag_set_hint(d, "did you mean '%s'?", near);
    }
    return AMLSEC_EPARSE;
}

static int eval_call(json_t **out, struct eval_ctx *ctx, const struct ast_expr *e)
{
    struct call_args a;
    bool unknown = false;
    int rc = 0;

    memset(&a, 0, sizeof(a));
    if (e->u.call.n > 16)
        return fail(ctx, &e->loc, "arity", "%s(): too many arguments", e->u.call.name);
    for (const struct ast_expr *x = e->u.call.args; x; x = x->next) {
        a.e[a.n] = x;
        if ((rc = eval_expr(&a.v[a.n], ctx, x)) < 0)
            goto out;
        unknown |= value_contains_unknown(a.v[a.n]);
        a.n++;
    }
    if (unknown)
        *out = value_unknown();
    else
        rc = call_fn(out, ctx, e, &a);
out:
    for (size_t i = 0; i < a.n; i++)
        json_decref(a.v[i]);
    return rc;
}

static int want_bool(struct eval_ctx *ctx, const struct ast_expr *e, json_t *v, const char *what)
{
    if (json_is_boolean(v) || value_is_unknown(v))
        return 0;
    return fail(ctx, &e->loc, "type", "%s needs a bool, not a %s", what, value_type_name(v));
}

int eval_expr(json_t **out, struct eval_ctx *ctx, const struct ast_expr *e)
{
    json_t *a = NULL, *b = NULL;
    int rc = 0;

    *out = NULL;
    switch (e->kind) {
    case EXPR_NULL:
        *out = json_null();
        return 0;
    case EXPR_BOOL:
        *out = json_boolean(e->u.b);
        return 0;
    case EXPR_INT:
        *out = json_integer(e->u.i);
        return 0;
    case EXPR_STRING:
        *out = json_stringn(e->u.str.s, e->u.str.len);
        return 0;
    case EXPR_TEMPLATE:
        return eval_template(out, ctx, e);
    case EXPR_PAREN:
        return eval_expr(out, ctx, e->u.paren);
    case EXPR_LIST: {
        json_t *l = json_array();
        for (const struct ast_expr *x = e->u.list.items; x; x = x->next) {
            if ((rc = eval_expr(&a, ctx, x)) < 0) {
                json_decref(l);
                return rc;
            }
            json_array_append_new(l, a);
        }
        *out = l;
        return 0;
    }
    case EXPR_MAP: {
        json_t *m = json_object();
        for (const struct ast_map_item *it = e->u.map.items; it; it = it->next) {
            if ((rc = eval_expr(&a, ctx, it->key)) < 0) {
                json_decref(m);
                return rc;
            }
            if (!json_is_string(a)) {
                rc = fail(ctx, &it->key->loc, "type", "map keys must be strings, not a %s",
                          value_type_name(a));
                json_decref(a);
                json_decref(m);
                return rc;
            }
            if (json_object_get(m, json_string_value(a)) != NULL) {
                rc = ctx->sensitive ? fail(ctx, &it->key->loc, "duplicate",
                                           "duplicate map key (sensitive: not shown)")
                                    : fail(ctx, &it->key->loc, "duplicate",
                                           "duplicate map key '%s'", json_string_value(a));
                json_decref(a);
                json_decref(m);
                return rc;
            }
            if ((rc = eval_expr(&b, ctx, it->value)) < 0) {
                json_decref(a);
                json_decref(m);
                return rc;
            }
            json_object_set_new(m, json_string_value(a), b);
            json_decref(a);
        }
        *out = m;
        return 0;
    }
    case EXPR_TRAVERSAL:
        return eval_traversal(out, ctx, e);
    case EXPR_CALL:
        return eval_call(out, ctx, e);
    case EXPR_COND:
        if ((rc = eval_expr(&a, ctx, e->u.cond.cond)) < 0)
            return rc;
        if ((rc = want_bool(ctx, e->u.cond.cond, a, "the condition of '?'")) == 0) {
            if (value_is_unknown(a))
                *out = value_unknown();
            else
                rc = eval_expr(out, ctx, json_is_true(a) ? e->u.cond.then : e->u.cond.otherwise);
        }
        json_decref(a);
        return rc;
    case EXPR_UNARY:
        if ((rc = eval_expr(&a, ctx, e->u.unary.operand)) < 0)
            return rc;
        if (value_is_unknown(a)) {
            *out = a;
            return 0;
        }
        if (e->u.unary.op == OP_NOT) {
            if ((rc = want_bool(ctx, e->u.unary.operand, a, "'!'")) == 0)
                *out = json_boolean(!json_is_true(a));
        } else if (!json_is_integer(a)) {
            rc = fail(ctx, &e->loc, "type", "'-' needs a number, not a %s", value_type_name(a));
        } else {
            *out = json_integer(-json_integer_value(a));
        }
        json_decref(a);
        return rc;
    case EXPR_BINARY:
        if ((rc = eval_expr(&a, ctx, e->u.binary.lhs)) < 0)
            return rc;
        if ((rc = eval_expr(&b, ctx, e->u.binary.rhs)) < 0) {
            json_decref(a);
            return rc;
        }
        if (e->u.binary.op == OP_AND || e->u.binary.op == OP_OR) {
            const char *what = e->u.binary.op == OP_AND ? "'&&'" : "'||'";
            if ((rc = want_bool(ctx, e->u.binary.lhs, a, what)) == 0 &&
                (rc = want_bool(ctx, e->u.binary.rhs, b, what)) == 0) {
                if (value_is_unknown(a) || value_is_unknown(b))
                    *out = value_unknown();
                else if (e->u.binary.op == OP_AND)
                    *out = json_boolean(json_is_true(a) && json_is_true(b));
                else
                    *out = json_boolean(json_is_true(a) || json_is_true(b));
            }
        } else if (value_contains_unknown(a) || value_contains_unknown(b)) {
            *out = value_unknown();
        } else {
            bool eq = values_equal(a, b);
            *out = json_boolean(e->u.binary.op == OP_EQ ? eq : !eq);
        }
        json_decref(a);
        json_decref(b);
        return rc;
    }
    return fail(ctx, &e->loc, "internal", "unknown expression kind %d", (int)e->kind);
}
