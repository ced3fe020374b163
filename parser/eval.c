#include "parser/eval.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parser/regex.h"
#include "parser/value.h"
#include "util/base64.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/fileio.h"
#include "util/jsonw.h"
#include "util/strmap.h"
#include "util/suggest.h"
#include "util/banned.h"

#define FILE_FUNC_MAX ((size_t)4 << 20)

static int fail(struct eval_ctx *ctx, const struct src_loc *loc, const char *code, const char *fmt,
                ...) __attribute__((format(printf, 4, 5)));

/* The message is kept whole, as diag_add keeps every other diagnostic's
 * (a map key or a name quoted in it may be long): never cut. */
static int fail(struct eval_ctx *ctx, const struct src_loc *loc, const char *code, const char *fmt,
                ...)
{
    struct buf msg;
    va_list ap;
    int rc;
    buf_init(&msg, 0);
    va_start(ap, fmt);
    rc = buf_vaddf(&msg, fmt, ap);
    va_end(ap);
    diag_add(ctx->diags, DIAG_ERROR, loc, code, "%s",
             rc == 0 && msg.ptr ? msg.ptr : "out of memory");
    buf_release(&msg);
    return AMLSEC_EPARSE;
}

/* Strings, numbers and bools convert to text in templates and format(). */
static bool to_text(struct buf *out, const json_t *v)
{
    if (json_is_string(v))
        return buf_add(out, json_string_value(v), json_string_length(v)) == 0;
    if (value_is_number(v))
        return value_number_text(out, v) == 0;
    if (json_is_boolean(v))
        return buf_adds(out, json_is_true(v) ? "true" : "false") == 0;
    return false;
}

/* A template with an unknown part, as a deferred format() call that is made
 * once the parts are known (engine/known.h): the parts evaluated again
 * (only here, so a known template pays nothing), text escaped as format's. */
static json_t *defer_template(struct eval_ctx *ctx, const struct ast_expr *e)
{
    struct buf f;
    json_t *args = json_array(), *r = NULL;
    buf_init(&f, 0);
    for (const struct ast_expr *p = e->u.tmpl.parts; p && args; p = p->next) {
        json_t *v = NULL;
        if (p->kind == EXPR_STRING) {
            for (size_t i = 0; i < p->u.str.len; i++)
                buf_add(&f, p->u.str.s[i] == '%' ? "%%" : &p->u.str.s[i],
                        p->u.str.s[i] == '%' ? 2 : 1);
            continue;
        }
        if (eval_expr(&v, ctx, p) < 0 || !value_unknown_resolvable(v) ||
            json_array_append_new(args, v) < 0) {
            json_decref(args);
            args = NULL;
            break;
        }
        buf_adds(&f, "%s");
    }
    if (args && json_array_insert_new(args, 0, json_stringn(f.ptr ? f.ptr : "", f.len)) == 0) {
        r = value_unknown_call("format", args);
        args = NULL;
    }
    json_decref(args);
    buf_release(&f);
    return r ? r : value_unknown();
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
        /* literal parts and jansson strings: UTF-8 (see EXPR_STRING) */
        *out = unknown ? defer_template(ctx, e) : json_stringn_nocheck(b.ptr, b.len);
    buf_release(&b);
    return rc;
}

static bool type_matches(const char *type, const json_t *v)
{
    return type == NULL || strcmp(type, "any") == 0 || json_is_null(v) || value_is_unknown(v) ||
           strcmp(type, value_type_name(v)) == 0;
}

/* Appends e to rd. Out of memory, the last entry becomes one naming
 * nothing (config.h's cfg_read: no edge is narrowed, every validated
 * variable taken as read) on a record that is short. */
static void push_read(struct cfg_reads *rd, struct cfg_read e)
{
    if (rd->n == rd->cap) {
        size_t cap = rd->cap ? 2 * rd->cap : 4;
        struct cfg_read *v = realloc(rd->v, cap * sizeof(*v));
        if (v == NULL) {
            if (rd->n)
                rd->v[rd->n - 1] = (struct cfg_read){.index = CFG_READ_ALL};
            return;
        }
        rd->v = v;
        rd->cap = cap;
    }
    rd->v[rd->n++] = e;
}

/* Records in ctx->reads that the expression read instance index of
 * resource r (CFG_READ_ALL: every one), or instance m of call c (NULL:
 * every one): config.h's cfg_read. */
static void note_read(struct eval_ctx *ctx, const struct cfg_resource *r, size_t index,
                      const struct cfg_call *c, const struct cfg_module *m)
{
    struct cfg_reads *rd = ctx->reads;
    struct cfg_read *last = rd && rd->n ? &rd->v[rd->n - 1] : NULL;
    if (rd == NULL || (last && last->resource == r && last->index == index && last->call == c &&
                       last->module == m && last->variable == NULL))
        return;
    push_read(rd, (struct cfg_read){.resource = r, .index = index, .call = c, .module = m});
}

/* Records in ctx->reads that the expression read a variable whose
 * validation may be checked at apply (cfg_read.variable), unless one of
 * the last few entries says so already. */
static void note_variable(struct eval_ctx *ctx, const void *variable)
{
    struct cfg_reads *rd = ctx->reads;
    if (rd == NULL)
        return;
    for (size_t i = rd->n; i-- > 0 && rd->n - i <= 4;)
        if (rd->v[i].variable == variable)
            return;
    push_read(rd, (struct cfg_read){.variable = variable});
}

/* What a lazily read value read, read again by whoever reads it. */
static void note_reads(struct eval_ctx *ctx, const struct cfg_reads *from)
{
    for (size_t i = 0; ctx->reads && i < from->n; i++) {
        if (from->v[i].variable)
            note_variable(ctx, from->v[i].variable);
        else
            note_read(ctx, from->v[i].resource, from->v[i].index, from->v[i].call,
                      from->v[i].module);
    }
}

static json_t *var_value(struct eval_ctx *ctx, const char *name)
{
    const struct config *cfg = ctx->cfg;
    for (size_t i = 0; i < cfg->nvars; i++) {
        if (strcmp(cfg->vars[i].name, name) == 0) {
            if (cfg->vars[i].sensitive)
                ctx->sensitive = true;
            if (cfg->vars[i].checked_late)
                note_variable(ctx, &cfg->vars[i]);
            return cfg->vars[i].value;
        }
    }
    return NULL;
}

/* Evaluates a lazily read value (a local, a module's input or output) the
 * first time it is read: the check ordered what it refers to first and
 * refused cycles; one that failed was reported once, where it is
 * defined. */
static void node_eval(struct eval_ctx *ctx, struct cfg_local *l)
{
    struct eval_ctx lc = {
        .cfg = ctx->cfg, .diags = ctx->diags, .base_dir = l->base_dir, .module = l->eval_in};
    if (l->ns == 'v' && l->scope && l->eval_in == l->scope->parent) {
        /* the caller's each.key / each.value, or count.index */
        lc.each_key = l->scope->each_key;
        lc.each_value = l->scope->each_value;
        lc.count_index = l->scope->count_index;
    }
    l->state = CFG_LOCAL_EVALUATING;
    lc.reads = &l->reads;
    lc.whole_value = true;
    lc.top = l->attr->value;
    lc.paths_out = json_array();
    /* a whole module (or collection of instances) held as it is gives its
     * secret paths, not a sensitive mark: local.m.name is as open as
     * module.m.name (eval_ctx.capture) */
    lc.capture = l->attr->value;
    while (lc.capture->kind == EXPR_PAREN)
        lc.capture = lc.capture->u.paren;
    if (eval_expr(&l->value, &lc, l->attr->value) < 0) {
        json_decref(lc.paths_out);
        json_decref(lc.coll_paths);
        l->state = CFG_LOCAL_FAILED;
        return;
    }
    if (lc.coll_paths) {
        if (json_array_extend(lc.paths_out, lc.coll_paths) < 0)
            lc.sensitive = true; /* out of memory: the whole value */
        json_decref(lc.coll_paths);
    }
    l->state = CFG_LOCAL_DONE;
    l->sensitive = lc.sensitive || l->declared_sensitive;
    if (json_array_size(lc.paths_out) && !l->sensitive) {
        json_decref(l->paths);
        l->paths = lc.paths_out;
        /* an output holding secrets must say so, whatever reads them later */
        if (l->ns == 'o' && !l->declared_sensitive)
            lc.sensitive = true;
    } else {
        json_decref(lc.paths_out);
    }
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
    if (l->checked_late)
        note_variable(ctx, l);
    note_reads(ctx, &l->reads);
    ctx->node_paths = l->paths;
    *out = json_incref(l->value);
    return 0;
}

/* Adds prefix + "." + path (prefix alone when path is empty) to paths. */
static void add_prefixed(json_t *paths, const char *prefix, const char *path)
{
    char *p = NULL;
    if (*prefix == '\0' || *path == '\0')
        value_sensitive_add(paths, *prefix ? prefix : path);
    else if (asprintf(&p, "%s.%s", prefix, path) >= 0)
        value_sensitive_add(paths, p);
    else
        value_sensitive_add(paths, prefix); /* out of memory: the whole element */
    free(p);
}

/* The outputs of a module instance as an object (module.NAME). paths,
 * when given, receives their secret paths under prefix (a sensitive
 * output is its name) instead of a sensitive mark (eval_ctx.capture). */
static int module_object(json_t **out, struct eval_ctx *ctx, const struct cfg_module *m,
                         json_t *paths, const char *prefix)
{
    const struct config *cfg = ctx->cfg;
    json_t *obj = json_object();
    for (size_t i = 0; i < cfg->nlocals; i++) {
        const struct cfg_local *l = &cfg->locals[i];
        bool was = ctx->sensitive;
        json_t *v = NULL;
        int rc;
        if (l->scope != m || l->ns != 'o')
            continue;
        ctx->node_paths = NULL;
        if ((rc = node_value(&v, ctx, &cfg->locals[i], &m->call->type_loc)) < 0) {
            json_decref(obj);
            return rc;
        }
        if (paths) {
            char *at = NULL;
            size_t k;
            const json_t *p;
            ctx->sensitive = was; /* the output's own mark becomes its path */
            if (asprintf(&at, "%s%s%s", prefix, *prefix ? "." : "", l->name) < 0)
                at = NULL;
            if (l->sensitive)
                add_prefixed(paths, at ? at : prefix, "");
            json_array_foreach(ctx->node_paths, k, p)
                add_prefixed(paths, at ? at : prefix, json_string_value(p));
            free(at);
        }
        ctx->node_paths = NULL;
        json_object_set_new(obj, l->name, v);
    }
    *out = obj;
    return 0;
}

/* module.NAME.OUT, module.NAME["key"].OUT, module.NAME[0].OUT,
 * module.NAME: *s is left at the first step not consumed. paths, when
 * given, receives the secret paths of a module object (or of the map or
 * list of them) it gives, instead of a sensitive mark (module_object). */
static int module_value(json_t **out, struct eval_ctx *ctx, const struct ast_expr *e,
                        const struct ast_step **sp, json_t *paths)
{
    const struct config *cfg = ctx->cfg;
    const struct ast_step *s = *sp;
    const struct cfg_call *call;
    struct cfg_module *const *inst;
    json_t *v = NULL;
    int rc;
    if (s == NULL || s->kind != STEP_ATTR)
        return fail(ctx, &e->loc, "reference", "expected module.NAME.OUTPUT");
    call = config_find_call(cfg, ctx->module, s->name);
    if (call == NULL || (call->n == 0 && !call->has_for_each && !call->has_count))
        return fail(ctx, &e->loc, "unknown-module", "undeclared module '%s'", s->name);
    inst = cfg->modules + call->first;
    s = s->next;
    if (!call->has_for_each && !call->has_count) {
        if (s && s->kind == STEP_ATTR) {
            struct cfg_local *l = config_find_node(cfg, inst[0], 'o', s->name);
            if (l == NULL)
                return fail(ctx, &s->loc, "unknown-output", "module '%s' has no output '%s'",
                            call->name, s->name);
            *sp = s->next;
            return node_value(out, ctx, l, &s->loc);
        }
        *sp = s;
        return module_object(out, ctx, inst[0], paths, "");
    }
    /* for_each: a map of key -> outputs, count: a list of them in index
     * order, indexed by the steps that follow */
    if (s && s->kind == STEP_INDEX) {
        json_t *key = NULL;
        const struct cfg_module *m;
        if ((rc = eval_expr(&key, ctx, s->index)) < 0)
            return rc;
        if ((m = config_call_instance(cfg, call, key)) != NULL) {
            json_decref(key);
            note_read(ctx, NULL, 0, call, m);
            *sp = s->next;
            if (s->next && s->next->kind == STEP_ATTR) {
                struct cfg_local *l = config_find_node(cfg, m, 'o', s->next->name);
                if (l == NULL)
                    return fail(ctx, &s->next->loc, "unknown-output",
                                "module '%s' has no output '%s'", call->name, s->next->name);
                *sp = s->next->next;
                return node_value(out, ctx, l, &s->next->loc);
            }
            return module_object(out, ctx, m, paths, "");
        }
        if (!value_is_unknown(key)) {
            rc = value_is_number(key) && call->has_count
                     ? fail(ctx, &s->loc, "unknown-key",
                            "module '%s' has no instance [%g] (count is %zu)", call->name,
                            value_to_double(key), call->n)
                 : call->has_count
                     ? fail(ctx, &s->loc, "unknown-key",
                            "module '%s' has count: an instance is picked by its index (a "
                            "number), not a %s",
                            call->name, value_type_name(key))
                     : fail(ctx, &s->loc, "unknown-key", "module '%s' has no instance %s",
                            call->name,
                            json_is_string(key) ? json_string_value(key) : "of that key");
            json_decref(key);
            return rc;
        }
        /* an instance known only after apply: the whole map or list, the
         * index left to the steps (deferred until it is known), not the
         * key standing for the result */
        json_decref(key);
    }
    note_read(ctx, NULL, 0, call, NULL);
    v = call->has_count ? json_array() : json_object();
    for (size_t i = 0; i < call->n; i++) {
        json_t *o = NULL;
        char index[32];
        const char *prefix = call->has_count ? index : json_string_value(inst[i]->each_key);
        snprintf(index, sizeof(index), "%zu", i);
        /* an instance without a key to name its paths by is marked instead */
        if ((rc = module_object(&o, ctx, inst[i], prefix ? paths : NULL, prefix ? prefix : "")) <
            0) {
            json_decref(v);
            return rc;
        }
        if (call->has_count)
            json_array_append_new(v, o);
        else
            json_object_set_new(v, json_string_value(inst[i]->each_key), o);
    }
    *sp = s;
    *out = v;
    return 0;
}

/* The value of local.NAME (or var.NAME in a module). *out: a new
 * reference. */
static int local_value(json_t **out, struct eval_ctx *ctx, const struct ast_step *s, char ns)
{
    struct cfg_local *l = config_find_node(ctx->cfg, ctx->module, ns, s->name);
    if (l == NULL)
        return ns == 'l'
                   ? fail(ctx, &s->loc, "unknown-local", "undeclared local '%s'", s->name)
                   : fail(ctx, &s->loc, "unknown-variable", "undeclared variable '%s'", s->name);
    return node_value(out, ctx, l, &s->loc);
}

/* What a reference to the instance reads: its value, its unknowns tagged
 * first (config_instance_tag). New reference. */
static json_t *instance_value(const struct config *cfg, const struct cfg_instance *in)
{
    json_t *v;
    config_instance_tag(cfg, in);
    v = config_instance_value(cfg, in);
    return v ? json_incref(v) : value_unknown();
}

static json_t *resource_value(const struct config *cfg, const struct cfg_resource *r)
{
    json_t *m;
    if (r->has_count) { /* a list, in index order */
        m = json_array();
        for (size_t i = 0; i < r->ninstances; i++)
            json_array_append_new(m, instance_value(cfg, &r->instances[i]));
        return m;
    }
    if (!r->has_for_each)
        return r->instances ? instance_value(cfg, &r->instances[0]) : value_unknown();
    m = json_object();
    for (size_t i = 0; i < r->ninstances; i++) {
        const struct cfg_instance *in = &r->instances[i];
        json_t *k = in->each_key;
        if (json_is_string(k))
            json_object_set_new(m, json_string_value(k), instance_value(cfg, in));
    }
    return m;
}

static int apply_key_step(json_t **out, struct eval_ctx *ctx, json_t *v, const struct ast_step *s,
                          bool from_resource, json_t *key);

/* Applies one step to v (consumed); *out new reference. */
static int apply_step(json_t **out, struct eval_ctx *ctx, json_t *v, const struct ast_step *s,
                      bool from_resource)
{
    json_t *key = NULL;
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
    return apply_key_step(out, ctx, v, s, from_resource, key);
}

/* apply_step once the index step's key (consumed; NULL for an attribute
 * step) is evaluated and known. */
static int apply_key_step(json_t **out, struct eval_ctx *ctx, json_t *v, const struct ast_step *s,
                          bool from_resource, json_t *key)
{
    json_t *r = NULL;
    int rc = 0;

    if (value_is_unknown(v)) {
        json_decref(key);
        *out = v;
        return 0;
    }
    if (json_is_object(v) && !value_is_big(v)) {
        const char *name = s->kind == STEP_ATTR ? s->name : json_string_value(key);
        struct buf text;
        buf_init(&text, 0);
        /* a number or bool key is its text, as in HCL: var.m.0 and var.m[0] are var.m["0"] */
        if (name == NULL && key && !json_is_string(key) && to_text(&text, key) &&
            buf_addch(&text, '\0') == 0)
            name = text.ptr;
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
        buf_release(&text);
    } else if (json_is_array(v) && s->kind == STEP_INDEX) {
        if (value_is_big(key))
            rc = fail(ctx, &s->loc, "index", "the index is out of range for a list of %zu",
                      json_array_size(v));
        else if (!json_is_integer(key))
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
    } else if (json_is_array(v)) { /* a.x0 for a.0 */
        struct diag *d =
            diag_add(ctx->diags, DIAG_ERROR, &s->loc, "type", "cannot take an attribute of a list");
        if (d)
            diag_set_hint(d, "a list is indexed with a whole number from 0: [0], or .0 "
                             "(Terraform's legacy form)");
        rc = AMLSEC_EPARSE;
    } else {
        rc = fail(ctx, &s->loc, "type", "cannot take %s of a %s",
                  s->kind == STEP_ATTR ? "an attribute" : "an index", value_type_name(v));
    }
    json_decref(key);
    json_decref(v);
    *out = r;
    return rc;
}

static int apply_steps(json_t **out, struct eval_ctx *ctx, json_t *v, const struct ast_step *s,
                       const struct ast_step *end, bool from_resource);
static int postfix_steps(json_t **out, struct eval_ctx *ctx, json_t *v, const struct ast_step *s,
                         const struct ast_step *end);

/* Where the steps a splat s applies to each element end: an attribute-only
 * splat (a.*.b.0, legacy) takes the attribute and legacy index steps right
 * after it, a full one (a[*]) every step up to end. */
static const struct ast_step *splat_end(const struct ast_step *s, const struct ast_step *end)
{
    if (!s->legacy)
        return end;
    for (s = s->next; s != end && (s->kind == STEP_ATTR || (s->kind == STEP_INDEX && s->legacy));
         s = s->next)
        ;
    return s;
}

/* What x[*] iterates over (v consumed; new reference): a list itself, a
 * null an empty list, any other value a list of itself. */
static json_t *splat_list(json_t *v)
{
    json_t *list;
    if (json_is_array(v))
        return v;
    list = json_array();
    if (!json_is_null(v))
        json_array_append(list, v);
    json_decref(v);
    return list;
}

/* x[*] then the steps after it (up to end): those steps applied to each
 * element of the list x (v, consumed); a null is an empty list, any other
 * value a list of itself (Terraform's splat). x.* applies its own steps
 * (splat_end) to each element and the rest to the list they make. Outside a
 * resource's value, as a postfix's steps (an unknown element defers them). */
static int apply_splat(json_t **out, struct eval_ctx *ctx, json_t *v, const struct ast_step *s,
                       const struct ast_step *end, bool from_resource)
{
    const struct ast_step *stop = splat_end(s, end);
    json_t *list, *r, *x;
    size_t i;
    int rc = 0;
    if (value_is_unknown(v)) {
        *out = v;
        return 0;
    }
    list = splat_list(v);
    r = json_array();
    json_array_foreach(list, i, x)
    {
        json_t *y = NULL;
        if ((rc = from_resource ? apply_steps(&y, ctx, json_incref(x), s->next, stop, true)
                                : postfix_steps(&y, ctx, json_incref(x), s->next, stop)) < 0)
            break;
        json_array_append_new(r, y);
    }
    json_decref(list);
    if (rc < 0) {
        json_decref(r);
        return rc;
    }
    if (stop != end) /* after x.*.b: (x.*.b)[0] */
        return from_resource ? apply_steps(out, ctx, r, stop, end, true)
                             : postfix_steps(out, ctx, r, stop, end);
    *out = r;
    return 0;
}

/* Applies the steps from s up to end (NULL: all) to v (consumed); *out new
 * reference. */
static int apply_steps(json_t **out, struct eval_ctx *ctx, json_t *v, const struct ast_step *s,
                       const struct ast_step *end, bool from_resource)
{
    int rc;
    for (; s != end; s = s->next) {
        if (s->kind == STEP_SPLAT)
            return apply_splat(out, ctx, v, s, end, from_resource);
        if ((rc = apply_step(&v, ctx, v, s, from_resource)) < 0)
            return rc;
    }
    *out = v;
    return 0;
}

/* r's instance whose value is v, or NULL. */
/* The instance TYPE.NAME[key] names, as the value resource_value builds
 * holds it (for_each: the last instance with a string key; count: the
 * index-th), or NULL when that value does not hold it. */
static const struct cfg_instance *instance_at(const struct cfg_resource *r, const json_t *key)
{
    size_t i;
    if (r->has_count && json_is_integer(key) && json_integer_value(key) >= 0 &&
        (size_t)json_integer_value(key) < r->ninstances)
        return &r->instances[json_integer_value(key)];
    if (r->has_for_each && r->each_index && json_is_string(key) &&
        strmap_get(r->each_index, json_string_value(key), &i))
        return &r->instances[i];
    return NULL;
}

static const struct cfg_instance *instance_of(const struct cfg_resource *r, const json_t *v)
{
    for (size_t i = 0; i < r->ninstances; i++)
        if (config_instance_value_made(&r->instances[i]) == v)
            return &r->instances[i];
    return NULL;
}

/* Marks ctx sensitive when the steps s, read from a value whose secret
 * attribute paths are paths, reach a secret. The whole value (no steps):
 * in an attribute, an instance stands for its id (names cannot be
 * sensitive: schema checks; stands_for_id); held by a local or an output
 * (ctx->whole_value) it is the whole object, secrets and all: the local
 * keeps the paths when it is exactly this value (exact, e is ctx->top),
 * otherwise the whole value is sensitive. */
static void mark_paths(struct eval_ctx *ctx, const json_t *paths, const struct ast_step *s,
                       const struct ast_expr *e, bool exact, bool stands_for_id)
{
    char path[256];
    size_t len = 0;
    if (json_array_size(paths) == 0)
        return;
    /* attribute steps, and indexes written as a literal key or position
     * (local.pairs["b"].name: path b.name), name the path read */
    for (; s; s = s->next) {
        char num[24];
        const char *name = s->kind == STEP_ATTR ? s->name : NULL;
        size_t n;
        if (s->kind == STEP_INDEX && s->index->kind == EXPR_STRING &&
            strlen(s->index->u.str.s) == s->index->u.str.len &&
            memchr(s->index->u.str.s, '.', s->index->u.str.len) == NULL)
            name = s->index->u.str.s;
        else if (s->kind == STEP_INDEX && s->index->kind == EXPR_INT && s->index->u.i >= 0) {
            snprintf(num, sizeof(num), "%lld", (long long)s->index->u.i);
            name = num;
        }
        if (name == NULL)
            break;
        n = strlen(name);
        if (len + n + 2 > sizeof(path)) {
            ctx->sensitive = true; /* too long to name: assume the worst */
            return;
        }
        if (len)
            path[len++] = '.';
        memcpy(path + len, name, n + 1);
        len += n;
    }
    if (len == 0 && s == NULL) {
        if (ctx->whole_value && exact && ctx->paths_out && ctx->top == e) {
            size_t i;
            json_t *p;
            json_array_foreach(paths, i, p)
                value_sensitive_add(ctx->paths_out, json_string_value(p));
        } else if (ctx->whole_value || !stands_for_id) {
            ctx->sensitive = true;
        }
        return;
    }
    if (len == 0) { /* an index or splat into the whole value: assume the worst */
        ctx->sensitive = true;
        return;
    }
    if (value_path_sensitive(paths, path, true))
        ctx->sensitive = true;
}

/* Sensitivity follows a value read from another instance: the steps s
 * name an attribute path of in; when a sensitive path of in covers it, or
 * lies inside it, what is read is sensitive (mark_paths). */
static void mark_read(struct eval_ctx *ctx, const struct cfg_instance *in, const struct ast_step *s,
                      const struct ast_expr *e, bool exact)
{
    if (in != NULL)
        mark_paths(ctx, in->sensitive, s, e, exact, true);
}

/* A for expression's value variable read with the steps s, its
 * collection's secret paths known (sc->paths): the element's key, then the
 * attribute steps, are a path of the collection, sensitive when a secret
 * lies on it, inside it or around it (v.app_id is open where v.key is
 * not; v whole, or v[...], is sensitive when anything in it is). */
static void mark_element(struct eval_ctx *ctx, const struct eval_scope *sc,
                         const struct ast_step *s)
{
    char path[512];
    const json_t *k = sc->key ? *sc->key : NULL;
    int n = json_is_string(k) ? snprintf(path, sizeof(path), "%s", json_string_value(k))
            : json_is_integer(k)
                ? snprintf(path, sizeof(path), "%" JSON_INTEGER_FORMAT, json_integer_value(k))
                : -1;
    size_t len = n < 0 ? sizeof(path) : (size_t)n;
    for (; len < sizeof(path) && s && s->kind == STEP_ATTR; s = s->next) {
        size_t m = strlen(s->name);
        if (len + m + 2 > sizeof(path)) {
            len = sizeof(path);
            break;
        }
        path[len++] = '.';
        memcpy(path + len, s->name, m + 1);
        len += m;
    }
    if (len >= sizeof(path) || value_path_sensitive(sc->paths, path, true))
        ctx->sensitive = true; /* unnamed (too long, no key): assume the worst */
}

/* The secret paths of a resource's instances read whole (TYPE.NAME with
 * for_each or count: a map or list of them), each under its key or index,
 * for a capture (eval_ctx.capture). New reference. */
static json_t *instances_paths(const struct cfg_resource *r)
{
    json_t *paths = json_array();
    for (size_t i = 0; paths && i < r->ninstances; i++) {
        const struct cfg_instance *in = &r->instances[i];
        char index[32];
        const char *prefix = r->has_count ? index : json_string_value(in->each_key);
        size_t k;
        const json_t *p;
        snprintf(index, sizeof(index), "%zu", i);
        if (prefix == NULL && json_array_size(in->sensitive)) {
            json_decref(paths); /* not named by a key: the caller marks instead */
            return NULL;
        }
        json_array_foreach(in->sensitive, k, p) add_prefixed(paths, prefix, json_string_value(p));
    }
    return paths;
}

/* The secret paths inside the block the attribute steps s name in an
 * instance whose paths are paths (compute_cluster.c.admin: "password"),
 * for a capture; NULL when a secret covers the block itself, or the steps
 * are not all attributes (the caller marks instead). New reference. */
static json_t *block_paths(const json_t *paths, const struct ast_step *s)
{
    char path[256];
    size_t len = 0, k;
    const json_t *p;
    json_t *out;
    for (; s; s = s->next) {
        size_t m = s->kind == STEP_ATTR ? strlen(s->name) : sizeof(path);
        if (len + m + 2 > sizeof(path))
            return NULL;
        if (len)
            path[len++] = '.';
        memcpy(path + len, s->name, m + 1);
        len += m;
    }
    if (len == 0)
        return json_incref((json_t *)paths);
    if ((out = json_array()) == NULL)
        return NULL;
    json_array_foreach(paths, k, p)
    {
        const char *t = json_string_value(p);
        size_t tl = t ? strlen(t) : 0;
        if (t == NULL)
            continue;
        if (strncmp(path, t, tl) == 0 && (path[tl] == '\0' || path[tl] == '.')) {
            json_decref(out); /* a secret covers the block: the whole read is */
            return NULL;
        }
        if (strncmp(t, path, len) == 0 && t[len] == '.')
            value_sensitive_add(out, t + len + 1);
    }
    return out;
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
        if (s->kind == STEP_SPLAT) { /* a list from here on: untagged */
            taggable = false;
            rc = apply_steps(&v, ctx, v, s, NULL, true);
            break;
        }
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

/* TYPE.NAME[key].REST with a key known only after apply (consumed; s is
 * the index step): REST read from every instance now (each unknown tagged
 * with its instance), then the one the key names once it is known: a
 * deferred "[]" (defer_steps), not the key standing for the result. */
static int every_instance(json_t **out, struct eval_ctx *ctx, const struct cfg_resource *r,
                          json_t *key, const struct ast_step *s, const struct ast_expr *e)
{
    json_t *all = r->has_count ? json_array() : json_object(), *args;
    for (size_t i = 0; i < r->ninstances; i++) {
        const struct cfg_instance *in = &r->instances[i];
        json_t *x = NULL;
        int rc;
        mark_read(ctx, in, s->next, e, false);
        rc = eval_resource_path(&x, ctx, instance_value(ctx->cfg, in), s->next, in->address);
        if (rc < 0) {
            json_decref(all);
            json_decref(key);
            return rc;
        }
        if (r->has_count)
            json_array_append_new(all, x);
        else if (json_is_string(in->each_key))
            json_object_set_new(all, json_string_value(in->each_key), x);
        else
            json_decref(x);
    }
    args = json_pack("[o[so]]", all, "[]", key);
    if (args == NULL || !value_unknown_resolvable(args)) {
        json_decref(args);
        *out = value_unknown();
    } else if ((*out = value_unknown_call("[]", args)) == NULL) {
        *out = value_unknown();
    }
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

    for (const struct eval_scope *sc = ctx->scope; sc; sc = sc->up) {
        if (strcmp(sc->name, root) != 0)
            continue;
        if (sc->paths)
            mark_element(ctx, sc, s);
        return postfix_steps(out, ctx, json_incref(sc->value), s, NULL);
    }
    if (strcmp(root, "count") == 0) {
        const json_t *ci = ctx->self ? ctx->self->count_index : ctx->count_index;
        if (ci == NULL)
            return fail(ctx, &e->loc, "count",
                        "count.index can only be used in a block with count");
        if (s == NULL || s->kind != STEP_ATTR || strcmp(s->name, "index") != 0)
            return fail(ctx, &e->loc, "count", "expected count.index");
        v = json_incref((json_t *)ci);
        s = s->next;
    } else if (strcmp(root, "local") == 0 || (ctx->module && strcmp(root, "var") == 0)) {
        if (s == NULL || s->kind != STEP_ATTR)
            return fail(ctx, &e->loc, "reference", "'%s' must be followed by '.NAME'", root);
        ctx->node_paths = NULL;
        if ((rc = local_value(&v, ctx, s, root[0] == 'l' ? 'l' : 'v')) < 0)
            return rc;
        s = s->next;
        mark_paths(ctx, ctx->node_paths, s, e, true, true);
        ctx->node_paths = NULL;
    } else if (strcmp(root, "module") == 0) {
        /* read whole by a for expression or a postfix's base: the module
         * objects' secret paths, not a sensitive mark (eval_ctx.capture) */
        json_t *paths = ctx->capture == e ? json_array() : NULL;
        ctx->node_paths = NULL;
        if ((rc = module_value(&v, ctx, e, &s, paths)) < 0) {
            json_decref(paths);
            return rc;
        }
        if (json_array_size(paths) && s == NULL) {
            ctx->coll_paths = paths; /* the capturer's now */
            paths = NULL;
        } else if (json_array_size(paths)) { /* steps on a module object: the worst */
            ctx->sensitive = true;
        }
        json_decref(paths);
        mark_paths(ctx, ctx->node_paths, s, e, true, true);
        ctx->node_paths = NULL;
    } else if (strcmp(root, "var") == 0 || strcmp(root, "settings") == 0 ||
               strcmp(root, "each") == 0) {
        if (s == NULL || s->kind != STEP_ATTR)
            return fail(ctx, &e->loc, "reference", "'%s' must be followed by '.NAME'", root);
        if (root[0] == 'v') {
            v = var_value(ctx, s->name);
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
        r = config_find_in(cfg, ctx->module, existing, kind, s->name);
        if (r == NULL)
            return fail(ctx, &e->loc, "unknown-reference", "unknown reference '%s%s.%s'",
                        existing ? "existing." : "", kind, s->name);
        from_resource = true;
        s = s->next;
        if (!r->has_for_each && !r->has_count && r->ninstances == 1)
            from = &r->instances[0];
        /* TYPE.NAME["key"] picks one instance of a for_each resource,
         * TYPE.NAME[0] one of a count resource */
        if ((r->has_for_each || r->has_count) && s && s->kind == STEP_INDEX) {
            const struct cfg_instance *pick = NULL;
            json_t *key = NULL;
            if ((rc = eval_expr(&key, ctx, s->index)) < 0)
                return rc;
            if (value_is_unknown(key)) {
                note_read(ctx, r, CFG_READ_ALL, NULL, NULL);
                return every_instance(out, ctx, r, key, s, e);
            }
            if ((pick = instance_at(r, key)) != NULL) {
                note_read(ctx, r, (size_t)(pick - r->instances), NULL, NULL);
                /* the instance itself, as the whole map or list would give
                 * it: one look-up, not that value built (and the instance
                 * searched for) per reference */
                json_decref(key);
                v = instance_value(ctx->cfg, pick);
                from = config_instance_value_made(pick) ? pick : NULL;
            } else {
                /* not there: the whole value reports it, as before */
                note_read(ctx, r, CFG_READ_ALL, NULL, NULL);
                if ((rc = apply_key_step(&v, ctx, resource_value(ctx->cfg, r), s, false, key)) < 0)
                    return rc;
                from = instance_of(r, v);
            }
            s = s->next;
        } else {
            if (r->has_for_each || r->has_count)
                note_read(ctx, r, CFG_READ_ALL, NULL, NULL);
            bool captured;
            v = resource_value(ctx->cfg, r);
            /* every instance read whole by a for expression (or a postfix's
             * base): their secret paths by key, for it to mark what it reads */
            captured = ctx->capture == e && s == NULL && (r->has_for_each || r->has_count) &&
                       (ctx->coll_paths = instances_paths(r)) != NULL;
            /* every instance at once: sensitive when any of them is */
            for (size_t i = 0; !captured && (r->has_for_each || r->has_count) && i < r->ninstances;
                 i++)
                mark_read(ctx, &r->instances[i],
                          s && (s->kind == STEP_INDEX || s->kind == STEP_SPLAT) ? s->next : s, e,
                          false);
        }
        if (from) {
            origin = from->address;
            /* one instance, or a block in it, read whole by a capturer */
            if (ctx->capture != e || (ctx->coll_paths = block_paths(from->sensitive, s)) == NULL)
                mark_read(ctx, from, s, e, true);
        }
    }
    if (origin)
        return eval_resource_path(out, ctx, v, s, origin);
    /* a variable's, a local's: an unknown (or an unknown index) on the way
     * defers the steps, rather than standing for their result */
    if (!from_resource)
        return postfix_steps(out, ctx, v, s, NULL);
    return apply_steps(out, ctx, v, s, NULL, from_resource);
}

/* Steps on a value known only after apply, or with an index that is (v
 * consumed; key, consumed, is step s's index when already evaluated): the
 * steps from s up to end are deferred like an operator, its "function" "[]"
 * and its arguments the value then one per step, [".", NAME], ["[]", KEY],
 * ["[*]"] or [".*", N] (the attribute-only splat and its N own steps)
 * (steps_values), when every unknown can be filled in later; else the
 * result is unknown for good. The indexes are evaluated now. */
static int defer_steps(json_t **out, struct eval_ctx *ctx, json_t *v, json_t *key,
                       const struct ast_step *s, const struct ast_step *end)
{
    json_t *args = json_array();
    int rc = 0;
    bool resolvable = value_unknown_resolvable(v);
    json_array_append_new(args, v);
    for (; s != end; s = s->next) {
        json_int_t own = 0; /* x.*: [".*", N], its N steps (splat_end) follow */
        if (s->kind == STEP_INDEX && key == NULL && (rc = eval_expr(&key, ctx, s->index)) < 0)
            break;
        if (s->kind == STEP_INDEX)
            resolvable &= value_unknown_resolvable(key);
        if (s->kind == STEP_SPLAT && s->legacy)
            for (const struct ast_step *t = s->next, *stop = splat_end(s, end); t != stop;
                 t = t->next)
                own++;
        json_array_append_new(args, s->kind == STEP_ATTR    ? json_pack("[ss]", ".", s->name)
                                    : s->kind == STEP_INDEX ? json_pack("[so]", "[]", key)
                                    : s->legacy             ? json_pack("[sI]", ".*", own)
                                                            : json_pack("[s]", "[*]"));
        key = NULL;
    }
    json_decref(key);
    if (rc < 0) {
        json_decref(args);
        return rc;
    }
    if (!resolvable) {
        json_decref(args);
        *out = value_unknown();
        return 0;
    }
    if ((*out = value_unknown_call("[]", args)) == NULL) /* args consumed */
        *out = value_unknown();
    return 0;
}

/* Applies the steps s of a postfix to v (consumed), with a reference's
 * errors (apply_key_step); an unknown reached on the way defers the rest. */
static int postfix_steps(json_t **out, struct eval_ctx *ctx, json_t *v, const struct ast_step *s,
                         const struct ast_step *end)
{
    int rc;
    for (; s != end; s = s->next) {
        json_t *key = NULL;
        if (value_is_unknown(v))
            return defer_steps(out, ctx, v, NULL, s, end);
        if (s->kind == STEP_SPLAT)
            return apply_splat(out, ctx, v, s, end, false);
        if (s->kind == STEP_INDEX) {
            if ((rc = eval_expr(&key, ctx, s->index)) < 0) {
                json_decref(v);
                return rc;
            }
            if (value_is_unknown(key))
                return defer_steps(out, ctx, v, key, s, end);
        }
        if ((rc = apply_key_step(&v, ctx, v, s, false, key)) < 0)
            return rc;
    }
    *out = v;
    return 0;
}

/* f(x)[0], (e).a, [1, 2][*].b: the base's value, then the steps. A whole
 * instance read in the base is its object, secrets and all (as in a
 * call's argument), since a step may reach any attribute of it. */
static int eval_postfix(json_t **out, struct eval_ctx *ctx, const struct ast_expr *e)
{
    json_t *v = NULL, *paths = json_array(), *saved_paths = ctx->paths_out, *block;
    const struct ast_expr *saved_top = ctx->top, *saved_capture = ctx->capture;
    bool whole = ctx->whole_value;
    int rc;
    /* a base that is exactly a whole instance (or a local or output
     * holding one) gives its secret paths, not a sensitive mark: the steps
     * then reach a secret or not, as they would written as a traversal
     * ((app_insights.ai).name is as open as app_insights.ai.name) */
    const struct ast_expr *top = e->u.post.base;
    while (top->kind == EXPR_PAREN)
        top = top->u.paren;
    ctx->whole_value = true;
    ctx->paths_out = paths;
    ctx->top = top;
    /* and a block of an instance ((x.admin).user) or a whole module gives
     * the secret paths inside it the same way (eval_ctx.capture) */
    ctx->capture = top;
    ctx->coll_paths = NULL;
    rc = eval_expr(&v, ctx, e->u.post.base);
    ctx->whole_value = whole;
    ctx->paths_out = saved_paths;
    ctx->top = saved_top;
    ctx->capture = saved_capture;
    block = ctx->coll_paths;
    ctx->coll_paths = NULL;
    if (rc == 0)
        mark_paths(ctx, block ? block : paths, e->u.post.steps, e, false, false);
    json_decref(block);
    json_decref(paths);
    if (rc < 0)
        return rc;
    return postfix_steps(out, ctx, v, e->u.post.steps, NULL);
}

/* A deferred "[]" (defer_steps), its value and indexes now known: the
 * steps args[i, end) applied to v (consumed). */
static int steps_values(json_t **out, struct eval_ctx *ctx, json_t *v, const json_t *args, size_t i,
                        size_t end)
{
    for (; i < end; i++) {
        const json_t *st = json_array_get(args, i);
        const char *what = json_string_value(json_array_get(st, 0));
        struct ast_step step;
        json_t *key = NULL;
        int rc;
        memset(&step, 0, sizeof(step));
        if (what == NULL || value_contains_unknown(v)) {
            json_decref(v);
            return AMLSEC_EPARSE;
        }
        if (strcmp(what, "[*]") == 0 || strcmp(what, ".*") == 0) {
            /* [*]: every step after it per element; .*: its own N */
            json_t *list, *r, *x;
            json_int_t own = json_integer_value(json_array_get(st, 1));
            size_t k, stop = what[0] == '[' ? end : i + 1 + (size_t)own;
            if (what[0] == '.' && (own < 0 || own > (json_int_t)(end - i - 1))) {
                json_decref(v);
                return AMLSEC_EPARSE;
            }
            list = splat_list(v);
            r = json_array();
            rc = 0;
            json_array_foreach(list, k, x)
            {
                json_t *y = NULL;
                if ((rc = steps_values(&y, ctx, json_incref(x), args, i + 1, stop)) < 0)
                    break;
                json_array_append_new(r, y);
            }
            json_decref(list);
            if (rc < 0) {
                json_decref(r);
                return rc;
            }
            if (stop < end) /* after x.*.b: (x.*.b)[0] */
                return steps_values(out, ctx, r, args, stop, end);
            *out = r;
            return 0;
        }
        if (strcmp(what, ".") == 0 && json_is_string(json_array_get(st, 1))) {
            step.kind = STEP_ATTR;
            step.name = json_string_value(json_array_get(st, 1));
        } else if (strcmp(what, "[]") == 0 && json_array_get(st, 1) != NULL) {
            step.kind = STEP_INDEX;
            key = json_incref(json_array_get(st, 1));
        } else {
            json_decref(v);
            return AMLSEC_EPARSE;
        }
        if ((rc = apply_key_step(&v, ctx, v, &step, false, key)) < 0)
            return rc;
    }
    *out = v;
    return 0;
}

/* --- functions ------------------------------------------------------------ */

/* A call's evaluated arguments, after `f(list...)` expansion: the
 * expression each came from, for carets. */
struct call_args {
    json_t **v;
    const struct ast_expr **e;
    size_t n, cap;
};

#define CALL_ARGS_MAX 1024

typedef int (*fn_impl)(json_t **out, struct eval_ctx *ctx, const struct ast_expr *call,
                       struct call_args *a);

static const char *const json_type_names[] = {"map",    "list", "string", "number",
                                              "number", "bool", "bool",   "null"};

static int want(struct eval_ctx *ctx, const struct call_args *a, size_t i, const char *fn,
                json_type type)
{
    if ((json_typeof(a->v[i]) == type && !value_is_big(a->v[i])) ||
        (type == JSON_TRUE && json_is_boolean(a->v[i])) ||
        (type == JSON_REAL && value_is_number(a->v[i])))
        return 0;
    if (type == JSON_INTEGER && json_is_real(a->v[i]))
        return fail(ctx, &a->e[i]->loc, "type", "%s(): argument %zu must be a whole number", fn,
                    i + 1);
    if (type == JSON_INTEGER && value_is_big(a->v[i]))
        return fail(ctx, &a->e[i]->loc, "arithmetic",
                    "%s(): argument %zu is out of range (beyond 64 bits)", fn, i + 1);
    return fail(ctx, &a->e[i]->loc, "type", "%s(): argument %zu must be a %s, not a %s", fn, i + 1,
                json_type_names[type], value_type_name(a->v[i]));
}

/* Every element of list argument i is of type (JSON_TRUE: a bool). */
static int want_elements(struct eval_ctx *ctx, const struct call_args *a, size_t i, const char *fn,
                         json_type type)
{
    size_t k;
    json_t *x;
    int rc = want(ctx, a, i, fn, JSON_ARRAY);
    if (rc < 0)
        return rc;
    json_array_foreach(a->v[i], k, x)
    {
        if ((json_typeof(x) != type || value_is_big(x)) &&
            !(type == JSON_TRUE && json_is_boolean(x)) &&
            !(type == JSON_REAL && value_is_number(x)))
            return fail(ctx, &a->e[i]->loc, "type",
                        "%s(): element %zu of argument %zu must be a %s, not a %s", fn, k + 1,
                        i + 1, json_type_names[type], value_type_name(x));
    }
    return 0;
}

static const char *str_arg(const struct call_args *a, size_t i)
{
    return json_string_value(a->v[i]);
}

/* Characters (UTF-8 code points) in s[0, len). */
static size_t utf8_chars(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

/* The byte offset of character k of s (len when k is past the end). */
static size_t utf8_offset(const char *s, size_t len, size_t k)
{
    size_t i = 0;
    for (; i < len; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80 && k-- == 0)
            return i;
    return len;
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

/* format()'s verbs over args [first, a->n), element idx of list
 * arguments when idx >= 0 (formatlist). */
static int format_with(struct buf *b, struct eval_ctx *ctx, const char *fn, struct call_args *a,
                       long idx)
{
    const char *f;
    size_t next = 1;
    int rc = 0, prec = 6;

    for (f = str_arg(a, 0); *f && rc == 0; f++) {
        const json_t *v;
        if (*f != '%') {
            buf_addch(b, *f);
            continue;
        }
        f++;
        if (*f == '%') {
            buf_addch(b, '%');
            continue;
        }
        /* a precision for %f: %.2f */
        if (*f == '.' && isdigit((unsigned char)f[1]) &&
            (f[2] == 'f' || (isdigit((unsigned char)f[2]) && f[3] == 'f'))) {
            prec = (int)strtol(f + 1, NULL, 10);
            f += f[2] == 'f' ? 2 : 3;
        } else if (*f == 'f') {
            prec = 6;
        }
        if (*f != 's' && *f != 'd' && *f != 'q' && *f != 'f') {
            rc = fail(ctx, &a->e[0]->loc, "format",
                      "%s(): unsupported verb '%%%c'; use %%s, %%d, %%f, %%.Nf, %%q or %%%%", fn,
                      *f ? *f : ' ');
            break;
        }
        if (next >= a->n) {
            rc = fail(ctx, &a->e[0]->loc, "format", "%s(): not enough arguments for the verbs", fn);
            break;
        }
        v = a->v[next];
        if (idx >= 0 && json_is_array(v))
            v = json_array_get(v, (size_t)idx);
        if (*f == 'd' && !value_is_whole(v))
            rc = fail(ctx, &a->e[next]->loc, "type", "%s(): %%d needs a whole number, not a %s", fn,
                      json_is_real(v) ? "decimal" : value_type_name(v));
        else if (*f == 'f') {
            if (!value_is_number(v))
                rc = fail(ctx, &a->e[next]->loc, "type", "%s(): %%f needs a number, not a %s", fn,
                          value_type_name(v));
            else if (value_is_big(v) && prec == 0)
                value_number_text(b, v);
            else if (value_is_big(v)) /* exact digits, then the zeros */
                buf_addf(b, "%s.%0*d", value_big_digits(v), prec, 0);
            else
                buf_addf(b, "%.*f", prec, json_number_value(v));
        } else if (*f == 'q') {
            if (!json_is_string(v))
                rc = fail(ctx, &a->e[next]->loc, "type", "%s(): %%q needs a string", fn);
            else
                buf_addf(b, "\"%s\"", json_string_value(v));
        } else if (!to_text(b, v))
            rc = fail(ctx, &a->e[next]->loc, "type", "%s(): cannot format a %s", fn,
                      value_type_name(v));
        next++;
    }
    if (rc == 0 && next < a->n)
        rc = fail(ctx, &a->e[next]->loc, "format", "%s(): more arguments than verbs", fn);
    return rc;
}

static int fn_format(json_t **out, struct eval_ctx *ctx, const struct ast_expr *call,
                     struct call_args *a)
{
    struct buf b;
    int rc;
    (void)call;
    if ((rc = want(ctx, a, 0, "format", JSON_STRING)) < 0)
        return rc;
    buf_init(&b, 0);
    if ((rc = format_with(&b, ctx, "format", a, -1)) == 0)
        *out = json_stringn(b.ptr, b.len);
    buf_release(&b);
    return rc;
}

/* formatlist(fmt, args...): one string per element of the list
 * arguments (all of one length); other arguments repeat. */
static int fn_formatlist(json_t **out, struct eval_ctx *ctx, const struct ast_expr *call,
                         struct call_args *a)
{
    long n = -1;
    json_t *r;
    int rc;
    (void)call;
    if ((rc = want(ctx, a, 0, "formatlist", JSON_STRING)) < 0)
        return rc;
    for (size_t i = 1; i < a->n; i++) {
        if (!json_is_array(a->v[i]))
            continue;
        if (n >= 0 && (size_t)n != json_array_size(a->v[i]))
            return fail(ctx, &a->e[i]->loc, "type",
                        "formatlist(): the lists must be of one length: %ld, then %zu", n,
                        json_array_size(a->v[i]));
        n = (long)json_array_size(a->v[i]);
    }
    r = json_array();
    for (long k = 0; k < (n < 0 ? 1 : n); k++) {
        struct buf b;
        buf_init(&b, 0);
        if ((rc = format_with(&b, ctx, "formatlist", a, k)) < 0) {
            buf_release(&b);
            json_decref(r);
            return rc;
        }
        json_array_append_new(r, json_stringn(b.ptr, b.len));
        buf_release(&b);
    }
    *out = r;
    return 0;
}

static int fn_env(json_t **out, struct eval_ctx *ctx, const struct ast_expr *call,
                  struct call_args *a)
{
    const char *v;
    int rc;
    if ((rc = want(ctx, a, 0, "env", JSON_STRING)) < 0)
        return rc;
    v = env_lookup(ctx->cfg->environ, str_arg(a, 0));
    if (v)
        *out = json_string(v);
    else if (a->n == 2)
        *out = json_incref(a->v[1]);
    else if (ctx->sensitive)
        return fail(ctx, &call->loc, "env",
                    "environment variable named by a sensitive value (not shown) is not set");
    else
        return fail(ctx, &call->loc, "env", "environment variable '%s' is not set", str_arg(a, 0));
    return 0;
}

static int fn_file(json_t **out, struct eval_ctx *ctx, const struct ast_expr *call,
                   struct call_args *a)
{
    struct buf b, path;
    struct errbuf err = ERRBUF_INIT;
    const char *p;
    int rc;
    if ((rc = want(ctx, a, 0, "file", JSON_STRING)) < 0)
        return rc;
    p = str_arg(a, 0);
    buf_init(&path, 0);
    if (p[0] != '/' && ctx->base_dir)
        buf_addf(&path, "%s/", ctx->base_dir);
    buf_adds(&path, p);
    buf_init(&b, FILE_FUNC_MAX + 1);
    rc = file_read_all(&b, path.ptr, FILE_FUNC_MAX, &err);
    if (rc < 0 && ctx->sensitive) /* err.msg quotes the path */
        rc = fail(ctx, &call->loc, "file",
                  "file(): cannot read the file a sensitive value (not shown) names");
    else if (rc < 0)
        rc = fail(ctx, &call->loc, "file", "file(): %s", err.msg);
    else
        *out = json_stringn(b.ptr, b.len);
    buf_release(&b);
    buf_release(&path);
    if (rc == 0 && *out == NULL)
        rc = ctx->sensitive
                 ? fail(ctx, &call->loc, "file",
                        "file(): the file a sensitive value (not shown) names is not "
                        "valid UTF-8 text")
                 : fail(ctx, &call->loc, "file", "file(): '%s' is not valid UTF-8 text", p);
    return rc;
}

static int change_case(json_t **out, struct eval_ctx *ctx, const struct ast_expr *call,
                       struct call_args *a, const char *fn, int (*conv)(int))
{
    char *s;
    int rc;
    if ((rc = want(ctx, a, 0, fn, JSON_STRING)) < 0)
        return rc;
    s = strdup(str_arg(a, 0));
    if (s == NULL)
        return fail(ctx, &call->loc, "internal", "out of memory");
    for (char *c = s; *c; c++)
        *c = (char)conv((unsigned char)*c);
    *out = json_string(s);
    free(s);
    return 0;
}

static int fn_lower(json_t **out, struct eval_ctx *ctx, const struct ast_expr *call,
                    struct call_args *a)
{
    return change_case(out, ctx, call, a, "lower", tolower);
}

static int fn_upper(json_t **out, struct eval_ctx *ctx, const struct ast_expr *call,
                    struct call_args *a)
{
    return change_case(out, ctx, call, a, "upper", toupper);
}

static int fn_join(json_t **out, struct eval_ctx *ctx, const struct ast_expr *call,
                   struct call_args *a)
{
    struct buf b;
    size_t i;
    json_t *x;
    int rc;
    (void)call;
    if ((rc = want(ctx, a, 0, "join", JSON_STRING)) < 0 ||
        (rc = want(ctx, a, 1, "join", JSON_ARRAY)) < 0)
        return rc;
    buf_init(&b, 0);
    json_array_foreach(a->v[1], i, x)
    {
        if (i)
            buf_adds(&b, str_arg(a, 0));
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

static int fn_concat(json_t **out, struct eval_ctx *ctx, const struct ast_expr *call,
                     struct call_args *a)
{
    json_t *r = json_array();
    int rc;
    (void)call;
    for (size_t i = 0; i < a->n; i++) {
        if ((rc = want(ctx, a, i, "concat", JSON_ARRAY)) < 0) {
            json_decref(r);
            return rc;
        }
        json_array_extend(r, a->v[i]);
    }
    *out = r;
    return 0;
}

static int fn_length(json_t **out, struct eval_ctx *ctx, const struct ast_expr *call,
                     struct call_args *a)
{
    const json_t *v = a->v[0];
    (void)call;
    if (json_is_array(v))
        *out = json_integer((json_int_t)json_array_size(v));
    else if (json_is_object(v) && !value_is_big(v))
        *out = json_integer((json_int_t)json_object_size(v));
    else if (json_is_string(v)) /* characters, not bytes */
        *out = json_integer((json_int_t)utf8_chars(json_string_value(v), json_string_length(v)));
    else
        return fail(ctx, &a->e[0]->loc, "type", "length(): needs a list, map or string, not a %s",
                    value_type_name(v));
    return 0;
}

/* The index of v in list, or -1. */
static long list_index(const json_t *list, const json_t *v)
{
    size_t i;
    json_t *x;
    json_array_foreach(list, i, x)
    {
        if (value_equal(x, v))
            return (long)i;
    }
    return -1;
}

static int fn_contains(json_t **out, struct eval_ctx *ctx, const struct ast_expr *call,
                       struct call_args *a)
{
    int rc;
    (void)call;
    if ((rc = want(ctx, a, 0, "contains", JSON_ARRAY)) < 0)
        return rc;
    *out = json_boolean(list_index(a->v[0], a->v[1]) >= 0);
    return 0;
}

static int fn_index(json_t **out, struct eval_ctx *ctx, const struct ast_expr *call,
                    struct call_args *a)
{
    long i;
    int rc;
    if ((rc = want(ctx, a, 0, "index", JSON_ARRAY)) < 0)
        return rc;
    if ((i = list_index(a->v[0], a->v[1])) < 0)
        return fail(ctx, &call->loc, "not-found", "index(): the list does not hold the value");
    *out = json_integer(i);
    return 0;
}

/* coalesce(a, b, ...): the first argument that is neither null nor "". */
static int fn_coalesce(json_t **out, struct eval_ctx *ctx, const struct ast_expr *call,
                       struct call_args *a)
{
    for (size_t i = 0; i < a->n; i++) {
        const json_t *v = a->v[i];
        if (json_is_null(v) || (json_is_string(v) && json_string_length(v) == 0))
            continue;
        *out = json_incref(a->v[i]);
        return 0;
    }
    return fail(ctx, &call->loc, "not-found",
                "coalesce(): every argument is null or an empty string");
}

static int fn_coalescelist(json_t **out, struct eval_ctx *ctx, const struct ast_expr *call,
                           struct call_args *a)
{
    int rc;
    for (size_t i = 0; i < a->n; i++) {
        if (json_is_null(a->v[i]))
            continue;
        if ((rc = want(ctx, a, i, "coalescelist", JSON_ARRAY)) < 0)
            return rc;
        if (json_array_size(a->v[i]) > 0) {
            *out = json_incref(a->v[i]);
            return 0;
        }
    }
    return fail(ctx, &call->loc, "not-found", "coalescelist(): every argument is an empty list");
}

/* merge(maps...): later keys win; null arguments are skipped. */
static int fn_merge(json_t **out, struct eval_ctx *ctx, const struct ast_expr *call,
                    struct call_args *a)
{
    json_t *r = json_object();
    int rc;
    (void)call;
    for (size_t i = 0; i < a->n; i++) {
        if (json_is_null(a->v[i]))
            continue;
        if ((rc = want(ctx, a, i, "merge", JSON_OBJECT)) < 0) {
            json_decref(r);
            return rc;
        }
        json_object_update(r, a->v[i]);
    }
    *out = r;
    return 0;
}

static int fn_lookup(json_t **out, struct eval_ctx *ctx, const struct ast_expr *call,
                     struct call_args *a)
{
    json_t *v;
    int rc;
    if ((rc = want(ctx, a, 0, "lookup", JSON_OBJECT)) < 0 ||
        (rc = want(ctx, a, 1, "lookup", JSON_STRING)) < 0)
        return rc;
    v = json_object_get(a->v[0], str_arg(a, 1));
    if (v)
        *out = json_incref(v);
    else if (a->n == 3)
        *out = json_incref(a->v[2]);
    else
        return ctx->sensitive
                   ? fail(ctx, &a->e[1]->loc, "unknown-key",
                          "lookup(): no such key in the map (the key is sensitive: not shown)")
                   : fail(ctx, &a->e[1]->loc, "unknown-key",
                          "lookup(): no key '%s' in the map; give a default as a third argument",
                          str_arg(a, 1));
    return 0;
}

static int cmp_keys(const void *x, const void *y)
{
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/* The keys of map m in lexical order (malloc'd; NULL when m is empty or
 * memory ran out: check *n). */
static const char **sorted_keys(const json_t *m, size_t *n)
{
    const char **keys, *k;
    json_t *x;
    size_t i = 0;
    *n = json_object_size(m);
    if (*n == 0 || (keys = malloc(*n * sizeof(*keys))) == NULL)
        return NULL;
    json_object_foreach((json_t *)m, k, x) keys[i++] = k;
    qsort(keys, *n, sizeof(*keys), cmp_keys);
    return keys;
}

static int keys_or_values(json_t **out, struct eval_ctx *ctx, const struct ast_expr *call,
                          struct call_args *a, bool keys_wanted)
{
    size_t n;
    const char **keys;
    json_t *r;
    int rc;
    if ((rc = want(ctx, a, 0, keys_wanted ? "keys" : "values", JSON_OBJECT)) < 0)
        return rc;
    keys = sorted_keys(a->v[0], &n);
    if (keys == NULL && n > 0)
        return fail(ctx, &call->loc, "internal", "out of memory");
    r = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(r, keys_wanted ? json_string(keys[i])
                                             : json_incref(json_object_get(a->v[0], keys[i])));
    free(keys);
    *out = r;
    return 0;
}

static int fn_keys(json_t **out, struct eval_ctx *ctx, const struct ast_expr *call,
                   struct call_args *a)
{
    return keys_or_values(out, ctx, call, a, true);
}

static int fn_values(json_t **out, struct eval_ctx *ctx, const struct ast_expr *call,
                     struct call_args *a)
{
    return keys_or_values(out, ctx, call, a, false);
}

/* element(list, i): i wraps around the list's length. */
static int fn_element(json_t **out, struct eval_ctx *ctx, const struct ast_expr *call,
                      struct call_args *a)
{
    size_t n;
    json_int_t i;
    int rc;
    (void)call;
    if ((rc = want(ctx, a, 0, "element", JSON_ARRAY)) < 0 ||
        (rc = want(ctx, a, 1, "element", JSON_INTEGER)) < 0)
        return rc;
    n = json_array_size(a->v[0]);
    i = json_integer_value(a->v[1]);
    if (n == 0)
        return fail(ctx, &a->e[0]->loc, "index", "element(): the list is empty");
    if (i < 0)
        return fail(ctx, &a->e[1]->loc, "index", "element(): the index must not be negative");
    *out = json_incref(json_array_get(a->v[0], (size_t)i % n));
    return 0;
}

static int flatten_into(json_t *r, const json_t *list, int depth)
{
    size_t i;
    json_t *x;
    if (depth > 64)
        return -1;
    json_array_foreach(list, i, x)
    {
        if (json_is_array(x)) {
            if (flatten_into(r, x, depth + 1) < 0)
                return -1;
        } else {
            json_array_append(r, x);
        }
    }
    return 0;
}

static int fn_flatten(json_t **out, struct eval_ctx *ctx, const struct ast_expr *call,
                      struct call_args *a)
{
    json_t *r;
    int rc;
    if ((rc = want(ctx, a, 0, "flatten", JSON_ARRAY)) < 0)
        return rc;
    r = json_array();
    if (flatten_into(r, a->v[0], 0) < 0) {
        json_decref(r);
        return fail(ctx, &call->loc, "type", "flatten(): lists nested deeper than 64 levels");
    }
    *out = r;
    return 0;
}

static int fn_distinct(json_t **out, struct eval_ctx *ctx, const struct ast_expr *call,
                       struct call_args *a)
{
    size_t i;
    json_t *x, *r;
    int rc;
    (void)call;
    if ((rc = want(ctx, a, 0, "distinct", JSON_ARRAY)) < 0)
        return rc;
    r = json_array();
    json_array_foreach(a->v[0], i, x)
    {
        if (list_index(r, x) < 0)
            json_array_append(r, x);
    }
    *out = r;
    return 0;
}

/* compact(list): the strings that are not empty (nulls dropped too). */
static int fn_compact(json_t **out, struct eval_ctx *ctx, const struct ast_expr *call,
                      struct call_args *a)
{
    size_t i;
    json_t *x, *r;
    int rc;
    (void)call;
    if ((rc = want(ctx, a, 0, "compact", JSON_ARRAY)) < 0)
        return rc;
    r = json_array();
    json_array_foreach(a->v[0], i, x)
    {
        if (json_is_null(x) || (json_is_string(x) && json_string_length(x) == 0))
            continue;
        if (!json_is_string(x)) {
            json_decref(r);
            return fail(ctx, &a->e[0]->loc, "type",
                        "compact(): element %zu must be a string, not a %s", i + 1,
                        value_type_name(x));
        }
        json_array_append(r, x);
    }
    *out = r;
    return 0;
}

static int fn_reverse(json_t **out, struct eval_ctx *ctx, const struct ast_expr *call,
                      struct call_args *a)
{
    json_t *r;
    int rc;
    (void)call;
    if ((rc = want(ctx, a, 0, "reverse", JSON_ARRAY)) < 0)
        return rc;
    r = json_array();
    for (size_t i = json_array_size(a->v[0]); i-- > 0;)
        json_array_append(r, json_array_get(a->v[0], i));
    *out = r;
    return 0;
}

static int cmp_json_strings(const void *x, const void *y)
{
    return strcmp(json_string_value(*(json_t *const *)x), json_string_value(*(json_t *const *)y));
}

/* <0, 0, >0 as number a is below, equal to or above b (integers exactly) */
static int cmp_numbers(const json_t *a, const json_t *b)
{
    return value_number_cmp(a, b);
}

/* Whole numbers past int64 (big numbers, parser/value.h) are OpenSSL's
 * BIGNUMs while computed: r = x OP y for + - * / % (/ and % truncating, as
 * int64's); pow when exp is given (x ^ exp). A result beyond
 * VALUE_BIG_BITS is an error at loc, "WHAT overflows". A division with a
 * remainder is the double x / y. */
static int big_result(json_t **out, struct eval_ctx *ctx, const struct src_loc *loc,
                      const char *what, BIGNUM *r)
{
    if (r == NULL)
        return fail(ctx, loc, "internal", "out of memory");
    if (BN_num_bits(r) > VALUE_BIG_BITS) {
        BN_free(r);
        return fail(ctx, loc, "arithmetic", "%s overflows: whole numbers are exact up to %d bits",
                    what, VALUE_BIG_BITS);
    }
    *out = value_from_bn(r);
    BN_free(r);
    return *out ? 0 : fail(ctx, loc, "internal", "out of memory");
}

static int big_arith(json_t **out, struct eval_ctx *ctx, const struct src_loc *loc,
                     const char *what, enum ast_op op, const json_t *a, const json_t *b)
{
    BIGNUM *x = value_to_bn(a), *y = value_to_bn(b), *r = BN_new(), *rem = BN_new();
    BN_CTX *bc = BN_CTX_new();
    bool ok = x && y && r && rem && bc;
    if (ok) {
        switch (op) {
        case OP_ADD:
            ok = BN_add(r, x, y);
            break;
        case OP_SUB:
            ok = BN_sub(r, x, y);
            break;
        case OP_MUL:
            ok = BN_mul(r, x, y, bc);
            break;
        case OP_DIV:
        case OP_MOD:
            ok = BN_div(r, rem, x, y, bc);
            if (ok && op == OP_MOD) {
                BN_free(r);
                r = rem;
                rem = NULL;
            } else if (ok && !BN_is_zero(rem)) { /* not whole: a decimal */
                BN_free(r);
                r = NULL;
                *out = value_number(value_to_double(a) / value_to_double(b));
            }
            break;
        default:
            ok = false;
        }
    }
    BN_free(x);
    BN_free(y);
    BN_free(rem);
    BN_CTX_free(bc);
    if (ok && r == NULL)
        return *out ? 0 : fail(ctx, loc, "arithmetic", "%s overflows a 64-bit float", what);
    if (!ok) {
        BN_free(r);
        r = NULL;
    }
    return big_result(out, ctx, loc, what, r);
}

static int cmp_json_numbers(const void *x, const void *y)
{
    return cmp_numbers(*(json_t *const *)x, *(json_t *const *)y);
}

/* A new list of list's elements sorted (all strings, or all numbers). */
static json_t *sorted_list(const json_t *list)
{
    size_t n = json_array_size(list);
    json_t **v = malloc((n ? n : 1) * sizeof(*v)), *r;
    if (v == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++)
        v[i] = json_array_get(list, i);
    qsort(v, n, sizeof(*v), n && value_is_number(v[0]) ? cmp_json_numbers : cmp_json_strings);
    r = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append(r, v[i]);
    free(v);
    return r;
}

static int fn_sort(json_t **out, struct eval_ctx *ctx, const struct ast_expr *call,
                   struct call_args *a)
{
    int rc;
    if ((rc = want_elements(ctx, a, 0, "sort", JSON_STRING)) < 0)
        return rc;
    if ((*out = sorted_list(a->v[0])) == NULL)
        return fail(ctx, &call->loc, "internal", "out of memory");
    return 0;
}

/* slice(list, start, end): elements [start, end). */
static int fn_slice(json_t **out, struct eval_ctx *ctx, const struct ast_expr *call,
                    struct call_args *a)
{
    json_int_t from, to, n;
    json_t *r;
    int rc;
    (void)call;
    if ((rc = want(ctx, a, 0, "slice", JSON_ARRAY)) < 0 ||
        (rc = want(ctx, a, 1, "slice", JSON_INTEGER)) < 0 ||
        (rc = want(ctx, a, 2, "slice", JSON_INTEGER)) < 0)
        return rc;
    n = (json_int_t)json_array_size(a->v[0]);
    from = json_integer_value(a->v[1]);
    to = json_integer_value(a->v[2]);
    if (from < 0 || from > n)
        return fail(ctx, &a->e[1]->loc, "index",
                    "slice(): start %" JSON_INTEGER_FORMAT " is outside 0 to %" JSON_INTEGER_FORMAT,
                    from, n);
    if (to < from || to > n)
        return fail(ctx, &a->e[2]->loc, "index",
                    "slice(): end %" JSON_INTEGER_FORMAT " is outside %" JSON_INTEGER_FORMAT
                    " to %" JSON_INTEGER_FORMAT,
                    to, from, n);
    r = json_array();
    for (json_int_t i = from; i < to; i++)
        json_array_append(r, json_array_get(a->v[0], (size_t)i));
    *out = r;
    return 0;
}

static int fn_one(json_t **out, struct eval_ctx *ctx, const struct ast_expr *call,
                  struct call_args *a)
{
    int rc;
    (void)call;
    if ((rc = want(ctx, a, 0, "one", JSON_ARRAY)) < 0)
        return rc;
    if (json_array_size(a->v[0]) > 1)
        return fail(ctx, &a->e[0]->loc, "type", "one(): the list has %zu elements, not 0 or 1",
                    json_array_size(a->v[0]));
    *out = json_array_size(a->v[0]) ? json_incref(json_array_get(a->v[0], 0)) : json_null();
    return 0;
}

static int all_or_any(json_t **out, struct eval_ctx *ctx, struct call_args *a, bool all)
{
    size_t i;
    json_t *x;
    bool r = all;
    int rc;
    if ((rc = want_elements(ctx, a, 0, all ? "alltrue" : "anytrue", JSON_TRUE)) < 0)
        return rc;
    json_array_foreach(a->v[0], i, x)
    {
        r = all ? r && json_is_true(x) : r || json_is_true(x);
    }
    *out = json_boolean(r);
    return 0;
}

static int fn_alltrue(json_t **out, struct eval_ctx *ctx, const struct ast_expr *call,
                      struct call_args *a)
{
    (void)call;
    return all_or_any(out, ctx, a, true);
}

static int fn_anytrue(json_t **out, struct eval_ctx *ctx, const struct ast_expr *call,
                      struct call_args *a)
{
    (void)call;
    return all_or_any(out, ctx, a, false);
}

static int fn_zipmap(json_t **out, struct eval_ctx *ctx, const struct ast_expr *call,
                     struct call_args *a)
{
    json_t *r;
    int rc;
    if ((rc = want_elements(ctx, a, 0, "zipmap", JSON_STRING)) < 0 ||
        (rc = want(ctx, a, 1, "zipmap", JSON_ARRAY)) < 0)
        return rc;
    if (json_array_size(a->v[0]) != json_array_size(a->v[1]))
        return fail(ctx, &call->loc, "type", "zipmap(): %zu keys but %zu values",
                    json_array_size(a->v[0]), json_array_size(a->v[1]));
    r = json_object();
    for (size_t i = 0; i < json_array_size(a->v[0]); i++)
        json_object_set(r, json_string_value(json_array_get(a->v[0], i)),
                        json_array_get(a->v[1], i));
    *out = r;
    return 0;
}

/* --- numbers --- */

static int min_or_max(json_t **out, struct eval_ctx *ctx, struct call_args *a, bool max)
{
    const json_t *best = NULL;
    int rc;
    for (size_t i = 0; i < a->n; i++) {
        if ((rc = want(ctx, a, i, max ? "max" : "min", JSON_REAL)) < 0)
            return rc;
        if (i == 0 || (max ? cmp_numbers(a->v[i], best) > 0 : cmp_numbers(a->v[i], best) < 0))
            best = a->v[i];
    }
    *out = json_incref((json_t *)best);
    return 0;
}

static int fn_min(json_t **out, struct eval_ctx *ctx, const struct ast_expr *call,
                  struct call_args *a)
{
    (void)call;
    return min_or_max(out, ctx, a, false);
}

static int fn_max(json_t **out, struct eval_ctx *ctx, const struct ast_expr *call,
                  struct call_args *a)
{
    (void)call;
    return min_or_max(out, ctx, a, true);
}

static int fn_sum(json_t **out, struct eval_ctx *ctx, const struct ast_expr *call,
                  struct call_args *a)
{
    size_t i;
    json_t *x;
    json_int_t s = 0;
    double d = 0;
    bool whole = true, big = false;
    int rc;
    if ((rc = want_elements(ctx, a, 0, "sum", JSON_REAL)) < 0)
        return rc;
    if (json_array_size(a->v[0]) == 0)
        return fail(ctx, &a->e[0]->loc, "type", "sum(): the list is empty");
    json_array_foreach(a->v[0], i, x)
    {
        d += value_to_double(x);
        whole = whole && value_is_whole(x);
        big = big ||
              (whole && (value_is_big(x) || __builtin_add_overflow(s, json_integer_value(x), &s)));
    }
    if (whole && big) { /* again, exactly */
        json_t *acc = json_integer(0), *next = NULL;
        json_array_foreach(a->v[0], i, x)
        {
            rc = big_arith(&next, ctx, &call->loc, "sum()", OP_ADD, acc, x);
            json_decref(acc);
            if (rc < 0)
                return rc;
            acc = next;
        }
        *out = acc;
        return 0;
    }
    *out = whole ? json_integer(s) : value_number(d);
    if (*out == NULL)
        return fail(ctx, &call->loc, "arithmetic", "sum(): overflows a 64-bit float");
    return 0;
}

static int fn_abs(json_t **out, struct eval_ctx *ctx, const struct ast_expr *call,
                  struct call_args *a)
{
    json_int_t v;
    int rc;
    if ((rc = want(ctx, a, 0, "abs", JSON_REAL)) < 0)
        return rc;
    if (json_is_real(a->v[0])) {
        *out = value_number(fabs(json_real_value(a->v[0])));
        return 0;
    }
    if (value_is_big(a->v[0]) || json_integer_value(a->v[0]) == INT64_MIN) {
        BIGNUM *n = value_to_bn(a->v[0]);
        if (n)
            BN_set_negative(n, 0);
        return big_result(out, ctx, &call->loc, "abs()", n);
    }
    v = json_integer_value(a->v[0]);
    *out = json_integer(v < 0 ? -v : v);
    return 0;
}

/* floor(n), ceil(n): the nearest whole number below, above */
static int round_fn(json_t **out, struct eval_ctx *ctx, const struct ast_expr *call,
                    struct call_args *a, bool up)
{
    int rc;
    if ((rc = want(ctx, a, 0, up ? "ceil" : "floor", JSON_REAL)) < 0)
        return rc;
    if (value_is_whole(a->v[0])) {
        *out = json_incref(a->v[0]);
        return 0;
    }
    *out = value_number(up ? ceil(json_real_value(a->v[0])) : floor(json_real_value(a->v[0])));
    if (*out == NULL)
        return fail(ctx, &call->loc, "arithmetic", "%s(): overflows", up ? "ceil" : "floor");
    return 0;
}

static int fn_floor(json_t **out, struct eval_ctx *ctx, const struct ast_expr *call,
                    struct call_args *a)
{
    return round_fn(out, ctx, call, a, false);
}

static int fn_ceil(json_t **out, struct eval_ctx *ctx, const struct ast_expr *call,
                   struct call_args *a)
{
    return round_fn(out, ctx, call, a, true);
}

static int fn_signum(json_t **out, struct eval_ctx *ctx, const struct ast_expr *call,
                     struct call_args *a)
{
    int rc;
    double d;
    (void)call;
    if ((rc = want(ctx, a, 0, "signum", JSON_REAL)) < 0)
        return rc;
    d = value_to_double(a->v[0]);
    *out = json_integer(d < 0 ? -1 : d > 0);
    return 0;
}

/* pow(base, exponent): exact when both are whole and the exponent is not
 * negative (overflow is an error), else in floating point */
static int fn_pow(json_t **out, struct eval_ctx *ctx, const struct ast_expr *call,
                  struct call_args *a)
{
    int rc;
    if ((rc = want(ctx, a, 0, "pow", JSON_REAL)) < 0 ||
        (rc = want(ctx, a, 1, "pow", JSON_REAL)) < 0)
        return rc;
    if (value_is_whole(a->v[0]) && value_is_whole(a->v[1]) &&
        (value_is_big(a->v[1]) ? value_big_digits(a->v[1])[0] != '-'
                               : json_integer_value(a->v[1]) >= 0)) {
        BIGNUM *b = value_to_bn(a->v[0]), *e = value_to_bn(a->v[1]), *r = BN_new();
        BN_CTX *bc = BN_CTX_new();
        int bits = b ? BN_num_bits(b) : 0;
        bool ok = b && e && r && bc;
        /* |b| >= 2 has at least (bits - 1) * e + 1 bits: past the limit,
         * say so before computing it */
        if (ok && bits >= 2 &&
            (BN_num_bits(e) > 31 ||
             (double)(bits - 1) * (double)BN_get_word(e) >= VALUE_BIG_BITS)) {
            BN_free(b);
            BN_free(e);
            BN_free(r);
            BN_CTX_free(bc);
            return fail(ctx, &call->loc, "arithmetic",
                        "pow() overflows: whole numbers are exact up to %d bits", VALUE_BIG_BITS);
        }
        if (ok && bits < 2 && BN_num_bits(e) > 1) /* 0, 1 or -1 to a large power */
            ok = BN_set_word(e, BN_is_odd(e) ? 1 : 2);
        ok = ok && BN_exp(r, b, e, bc);
        BN_free(b);
        BN_free(e);
        BN_CTX_free(bc);
        if (!ok) {
            BN_free(r);
            r = NULL;
        }
        return big_result(out, ctx, &call->loc, "pow()", r);
    }
    *out = value_number(pow(value_to_double(a->v[0]), value_to_double(a->v[1])));
    if (*out == NULL)
        return fail(ctx, &call->loc, "arithmetic", "pow(): the result is not a finite number");
    return 0;
}

/* log(n, base) */
static int fn_log(json_t **out, struct eval_ctx *ctx, const struct ast_expr *call,
                  struct call_args *a)
{
    int rc;
    double n, b;
    if ((rc = want(ctx, a, 0, "log", JSON_REAL)) < 0 ||
        (rc = want(ctx, a, 1, "log", JSON_REAL)) < 0)
        return rc;
    n = value_to_double(a->v[0]);
    b = value_to_double(a->v[1]);
    if (n <= 0 || b <= 0 || b == 1)
        return fail(ctx, &call->loc, "arithmetic",
                    "log(): needs a positive number and a positive base other than 1");
    *out = value_number(log(n) / log(b));
    if (*out == NULL)
        return fail(ctx, &call->loc, "arithmetic", "log(): the result is not a finite number");
    return 0;
}

/* parseint(string, base): base 2 to 62, digits 0-9 a-z A-Z (Terraform's) */
static int fn_parseint(json_t **out, struct eval_ctx *ctx, const struct ast_expr *call,
                       struct call_args *a)
{
    static const char digits[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    const char *s;
    json_int_t base;
    BIGNUM *v;
    bool neg = false;
    int rc;
    (void)call;
    if ((rc = want(ctx, a, 0, "parseint", JSON_STRING)) < 0 ||
        (rc = want(ctx, a, 1, "parseint", JSON_INTEGER)) < 0)
        return rc;
    base = json_integer_value(a->v[1]);
    if (base < 2 || base > 62)
        return fail(ctx, &a->e[1]->loc, "type", "parseint(): the base must be 2 to 62");
    s = str_arg(a, 0);
    if (*s == '-' || *s == '+')
        neg = *s++ == '-';
    if (*s == '\0')
        goto bad;
    for (; *s; s++) {
        const char *d = strchr(digits, *s);
        json_int_t dv = d ? (json_int_t)(d - digits) : base;
        /* above base 36 the letters' cases are distinct digits; below, either case */
        if (d && base <= 36 && dv >= 36)
            dv -= 26;
        if (dv >= base)
            goto bad;
    }
    /* digits checked: the value, exactly (a big number past int64) */
    if ((v = BN_new()) == NULL)
        return fail(ctx, &call->loc, "internal", "out of memory");
    for (s = str_arg(a, 0) + (*str_arg(a, 0) == '-' || *str_arg(a, 0) == '+'); *s; s++) {
        const char *d = strchr(digits, *s);
        json_int_t dv = (json_int_t)(d - digits);
        if (base <= 36 && dv >= 36)
            dv -= 26;
        if (!BN_mul_word(v, (BN_ULONG)base) || !BN_add_word(v, (BN_ULONG)dv)) {
            BN_free(v);
            return fail(ctx, &call->loc, "internal", "out of memory");
        }
        if (BN_num_bits(v) > VALUE_BIG_BITS)
            break; /* big_result says so */
    }
    BN_set_negative(v, neg);
    return big_result(out, ctx, &a->e[0]->loc, "parseint()", v);
bad:
    return ctx->sensitive
               ? fail(ctx, &a->e[0]->loc, "type",
                      "parseint(): the string is not a number in base %" JSON_INTEGER_FORMAT
                      " (it is sensitive: not shown)",
                      base)
               : fail(ctx, &a->e[0]->loc, "type",
                      "parseint(): \"%s\" is not a number in base %" JSON_INTEGER_FORMAT,
                      str_arg(a, 0), base);
}

#define RANGE_MAX 1024

/* range(limit), range(start, limit), range(start, limit, step) */
static int fn_range(json_t **out, struct eval_ctx *ctx, const struct ast_expr *call,
                    struct call_args *a)
{
    json_int_t start = 0, limit, step = 1;
    json_t *r;
    size_t n = 0;
    int rc;
    for (size_t i = 0; i < a->n; i++)
        if ((rc = want(ctx, a, i, "range", JSON_INTEGER)) < 0)
            return rc;
    if (a->n == 1) {
        limit = json_integer_value(a->v[0]);
    } else {
        start = json_integer_value(a->v[0]);
        limit = json_integer_value(a->v[1]);
        if (a->n == 3)
            step = json_integer_value(a->v[2]);
    }
    if (step == 0)
        return fail(ctx, &a->e[a->n - 1]->loc, "arithmetic", "range(): the step must not be 0");
    if ((step > 0 && limit < start) || (step < 0 && limit > start))
        return fail(ctx, &call->loc, "arithmetic",
                    "range(): a %s step never reaches the limit from the start",
                    step > 0 ? "positive" : "negative");
    r = json_array();
    for (json_int_t v = start; step > 0 ? v < limit : v > limit; v += step) {
        if (++n > RANGE_MAX) {
            json_decref(r);
            return fail(ctx, &call->loc, "arithmetic", "range(): more than %d elements", RANGE_MAX);
        }
        json_array_append_new(r, json_integer(v));
        if ((step > 0 && v > INT64_MAX - step) || (step < 0 && v < INT64_MIN - step))
            break;
    }
    *out = r;
    return 0;
}

/* --- strings --- */

/* A whole number's text: digits with an optional sign (Terraform's
 * decimals are not numbers here). */
static bool parse_whole(const char *s, json_int_t *v)
{
    char *end;
    long long x;
    if (*s == '\0' || isspace((unsigned char)*s))
        return false;
    errno = 0;
    x = strtoll(s, &end, 10);
    if (errno || *end)
        return false;
    *v = x;
    return true;
}

/* A decimal's text as the language writes it (1.5, -2e3, 1.5e-2; no
 * spaces, hex, inf or nan), or NULL. */
static json_t *parse_decimal(const char *s)
{
    const char *p = s + (*s == '-');
    char *end;
    double d;
    if (!isdigit((unsigned char)*p))
        return NULL;
    for (; *p; p++)
        if (!isdigit((unsigned char)*p) && !strchr(".eE+-", *p))
            return NULL;
    errno = 0;
    d = strtod(s, &end);
    if (*end || errno == ERANGE)
        return NULL;
    return value_number(d);
}

static int fn_tostring(json_t **out, struct eval_ctx *ctx, const struct ast_expr *call,
                       struct call_args *a)
{
    struct buf b;
    (void)call;
    if (json_is_null(a->v[0]) || json_is_string(a->v[0])) {
        *out = json_incref(a->v[0]);
        return 0;
    }
    buf_init(&b, 0);
    if (!to_text(&b, a->v[0])) {
        buf_release(&b);
        return fail(ctx, &a->e[0]->loc, "type", "tostring(): cannot convert a %s to a string",
                    value_type_name(a->v[0]));
    }
    *out = json_stringn(b.ptr, b.len);
    buf_release(&b);
    return 0;
}

static int fn_tonumber(json_t **out, struct eval_ctx *ctx, const struct ast_expr *call,
                       struct call_args *a)
{
    json_int_t v;
    const char *s;
    (void)call;
    if (json_is_null(a->v[0]) || value_is_number(a->v[0])) {
        *out = json_incref(a->v[0]);
        return 0;
    }
    if (!json_is_string(a->v[0]))
        return fail(ctx, &a->e[0]->loc, "type", "tonumber(): cannot convert a %s to a number",
                    value_type_name(a->v[0]));
    if (parse_whole(str_arg(a, 0), &v)) {
        *out = json_integer(v);
        return 0;
    }
    s = str_arg(a, 0) + (*str_arg(a, 0) == '-');
    if (*s && strspn(s, "0123456789") == strlen(s)) { /* whole, past int64 */
        BIGNUM *n = NULL;
        return big_result(out, ctx, &a->e[0]->loc, "tonumber()",
                          BN_dec2bn(&n, str_arg(a, 0)) ? n : NULL);
    }
    if ((*out = parse_decimal(str_arg(a, 0))) != NULL)
        return 0;
    return ctx->sensitive
               ? fail(ctx, &a->e[0]->loc, "type",
                      "tonumber(): the string is not a number (it is sensitive: not shown)")
               : fail(ctx, &a->e[0]->loc, "type", "tonumber(): \"%s\" is not a number",
                      str_arg(a, 0));
}

static int fn_tobool(json_t **out, struct eval_ctx *ctx, const struct ast_expr *call,
                     struct call_args *a)
{
    const json_t *v = a->v[0];
    (void)call;
    if (json_is_null(v) || json_is_boolean(v)) {
        *out = json_incref(a->v[0]);
        return 0;
    }
    if (json_is_string(v) &&
        (strcmp(json_string_value(v), "true") == 0 || strcmp(json_string_value(v), "false") == 0)) {
        *out = json_boolean(json_string_value(v)[0] == 't');
        return 0;
    }
    return fail(ctx, &a->e[0]->loc, "type",
                "tobool(): only true, false, \"true\" and \"false\" convert, not this %s",
                value_type_name(v));
}

static int fn_tolist(json_t **out, struct eval_ctx *ctx, const struct ast_expr *call,
                     struct call_args *a)
{
    int rc;
    (void)call;
    if ((rc = want(ctx, a, 0, "tolist", JSON_ARRAY)) < 0)
        return rc;
    *out = json_incref(a->v[0]);
    return 0;
}

/* toset(list): the distinct elements, strings and numbers in order as
 * Terraform's sets iterate them. */
static int fn_toset(json_t **out, struct eval_ctx *ctx, const struct ast_expr *call,
                    struct call_args *a)
{
    json_t *d = NULL, *first;
    int rc;
    if ((rc = fn_distinct(&d, ctx, call, a)) < 0)
        return rc;
    first = json_array_get(d, 0);
    if (first && (json_is_string(first) || value_is_whole(first))) {
        size_t i;
        json_t *x;
        json_array_foreach(d, i, x)
        {
            if (json_is_string(first) ? !json_is_string(x) : !value_is_whole(x)) {
                rc = fail(ctx, &a->e[0]->loc, "type",
                          "toset(): the elements must be of one type: a %s, then a %s",
                          value_type_name(first), value_type_name(x));
                json_decref(d);
                return rc;
            }
        }
        *out = sorted_list(d);
        json_decref(d);
        if (*out == NULL)
            return fail(ctx, &call->loc, "internal", "out of memory");
        return 0;
    }
    *out = d;
    return 0;
}

static int fn_tomap(json_t **out, struct eval_ctx *ctx, const struct ast_expr *call,
                    struct call_args *a)
{
    int rc;
    (void)call;
    if ((rc = want(ctx, a, 0, "tomap", JSON_OBJECT)) < 0)
        return rc;
    *out = json_incref(a->v[0]);
    return 0;
}

static int fn_trimspace(json_t **out, struct eval_ctx *ctx, const struct ast_expr *call,
                        struct call_args *a)
{
    const char *s;
    size_t b = 0, e;
    int rc;
    (void)call;
    if ((rc = want(ctx, a, 0, "trimspace", JSON_STRING)) < 0)
        return rc;
    s = str_arg(a, 0);
    e = json_string_length(a->v[0]);
    while (b < e && isspace((unsigned char)s[b]))
        b++;
    while (e > b && isspace((unsigned char)s[e - 1]))
        e--;
    *out = json_stringn(s + b, e - b);
    return 0;
}

static int trim_affix(json_t **out, struct eval_ctx *ctx, struct call_args *a, bool prefix)
{
    const char *fn = prefix ? "trimprefix" : "trimsuffix";
    const char *s, *x;
    size_t n, k;
    int rc;
    if ((rc = want(ctx, a, 0, fn, JSON_STRING)) < 0 || (rc = want(ctx, a, 1, fn, JSON_STRING)) < 0)
        return rc;
    s = str_arg(a, 0);
    n = json_string_length(a->v[0]);
    x = str_arg(a, 1);
    k = json_string_length(a->v[1]);
    if (k <= n && memcmp(prefix ? s : s + n - k, x, k) == 0)
        *out = prefix ? json_stringn(s + k, n - k) : json_stringn(s, n - k);
    else
        *out = json_incref(a->v[0]);
    return 0;
}

static int fn_trimprefix(json_t **out, struct eval_ctx *ctx, const struct ast_expr *call,
                         struct call_args *a)
{
    (void)call;
    return trim_affix(out, ctx, a, true);
}

static int fn_trimsuffix(json_t **out, struct eval_ctx *ctx, const struct ast_expr *call,
                         struct call_args *a)
{
    (void)call;
    return trim_affix(out, ctx, a, false);
}

static int test_affix(json_t **out, struct eval_ctx *ctx, struct call_args *a, const char *fn)
{
    size_t n, k;
    int rc;
    if ((rc = want(ctx, a, 0, fn, JSON_STRING)) < 0 || (rc = want(ctx, a, 1, fn, JSON_STRING)) < 0)
        return rc;
    n = json_string_length(a->v[0]);
    k = json_string_length(a->v[1]);
    if (fn[0] == 's' && fn[3] == 'c') /* strcontains */
        *out = json_boolean(strstr(str_arg(a, 0), str_arg(a, 1)) != NULL);
    else
        *out = json_boolean(k <= n && memcmp(fn[0] == 's' ? str_arg(a, 0) : str_arg(a, 0) + n - k,
                                             str_arg(a, 1), k) == 0);
    return 0;
}

static int fn_startswith(json_t **out, struct eval_ctx *ctx, const struct ast_expr *call,
                         struct call_args *a)
{
    (void)call;
    return test_affix(out, ctx, a, "startswith");
}

static int fn_endswith(json_t **out, struct eval_ctx *ctx, const struct ast_expr *call,
                       struct call_args *a)
{
    (void)call;
    return test_affix(out, ctx, a, "endswith");
}

static int fn_strcontains(json_t **out, struct eval_ctx *ctx, const struct ast_expr *call,
                          struct call_args *a)
{
    (void)call;
    return test_affix(out, ctx, a, "strcontains");
}

/* substr(s, offset, length) in characters; a negative offset counts from
 * the end, length -1 takes the rest. */
static int fn_substr(json_t **out, struct eval_ctx *ctx, const struct ast_expr *call,
                     struct call_args *a)
{
    const char *s;
    size_t len, chars, b, e;
    json_int_t off, n;
    int rc;
    (void)call;
    if ((rc = want(ctx, a, 0, "substr", JSON_STRING)) < 0 ||
        (rc = want(ctx, a, 1, "substr", JSON_INTEGER)) < 0 ||
        (rc = want(ctx, a, 2, "substr", JSON_INTEGER)) < 0)
        return rc;
    s = str_arg(a, 0);
    len = json_string_length(a->v[0]);
    chars = utf8_chars(s, len);
    off = json_integer_value(a->v[1]);
    n = json_integer_value(a->v[2]);
    if (off < 0)
        off += (json_int_t)chars;
    if (off < 0 || (size_t)off > chars)
        return fail(ctx, &a->e[1]->loc, "index",
                    "substr(): the offset is outside a string of %zu characters", chars);
    if (n < -1)
        return fail(ctx, &a->e[2]->loc, "index",
                    "substr(): the length must be -1 (the rest) or more");
    b = utf8_offset(s, len, (size_t)off);
    e = n == -1 || (size_t)n >= chars - (size_t)off ? len : utf8_offset(s, len, (size_t)(off + n));
    *out = json_stringn(s + b, e - b);
    return 0;
}

static int fn_split(json_t **out, struct eval_ctx *ctx, const struct ast_expr *call,
                    struct call_args *a)
{
    const char *sep, *s, *end, *p;
    size_t k;
    json_t *r;
    int rc;
    (void)call;
    if ((rc = want(ctx, a, 0, "split", JSON_STRING)) < 0 ||
        (rc = want(ctx, a, 1, "split", JSON_STRING)) < 0)
        return rc;
    sep = str_arg(a, 0);
    k = json_string_length(a->v[0]);
    s = str_arg(a, 1);
    end = s + json_string_length(a->v[1]);
    r = json_array();
    if (k == 0) { /* every character */
        for (p = s; p < end;) {
            const char *q = p + 1;
            while (q < end && ((unsigned char)*q & 0xC0) == 0x80)
                q++;
            json_array_append_new(r, json_stringn(p, (size_t)(q - p)));
            p = q;
        }
        *out = r;
        return 0;
    }
    for (p = s;;) {
        const char *q = (size_t)(end - p) >= k ? memmem(p, (size_t)(end - p), sep, k) : NULL;
        if (q == NULL) {
            json_array_append_new(r, json_stringn(p, (size_t)(end - p)));
            break;
        }
        json_array_append_new(r, json_stringn(p, (size_t)(q - p)));
        p = q + k;
    }
    *out = r;
    return 0;
}

/* Terraform's regular expressions: RE2 syntax, Go's results (parser/regex.h). */
static int compile_regex(struct rx *rx, struct eval_ctx *ctx, const struct call_args *a, size_t i,
                         const char *fn, const char *pattern)
{
    char msg[200];
    if (rx_compile(rx, pattern, msg, sizeof(msg)) < 0)
        return fail(ctx, &a->e[i]->loc, "regex", "%s(): invalid regular expression: %s", fn, msg);
    return 0;
}

/* One match's value: the whole match without groups, else the list of
 * the groups (an unmatched group is null), or with named groups the map
 * of name to group. */
static json_t *match_value(const struct rx *rx, const char *s)
{
    json_t *r;
    if (rx->ngroups == 0)
        return json_stringn(s + rx->m[0], (size_t)(rx->m[1] - rx->m[0]));
    r = rx->named ? json_object() : json_array();
    for (size_t g = 1; g <= rx->ngroups; g++) {
        const ptrdiff_t *m = &rx->m[2 * g];
        json_t *v = m[0] < 0 ? json_null() : json_stringn(s + m[0], (size_t)(m[1] - m[0]));
        if (rx->named)
            json_object_set_new(r, rx->names[g], v);
        else
            json_array_append_new(r, v);
    }
    return r;
}

static int regex_fn(json_t **out, struct eval_ctx *ctx, struct call_args *a, bool all)
{
    const char *fn = all ? "regexall" : "regex";
    struct rx rx;
    const char *s;
    json_t *r = NULL;
    int rc;
    if ((rc = want(ctx, a, 0, fn, JSON_STRING)) < 0 || (rc = want(ctx, a, 1, fn, JSON_STRING)) < 0)
        return rc;
    if ((rc = compile_regex(&rx, ctx, a, 0, fn, str_arg(a, 0))) < 0)
        return rc;
    s = str_arg(a, 1);
    if (!all) {
        if (!rx_exec(&rx, s, json_string_length(a->v[1]), 0))
            rc = ctx->sensitive ? fail(ctx, &a->e[1]->loc, "regex",
                                       "regex(): no match (the string is sensitive: not shown)")
                                : fail(ctx, &a->e[1]->loc, "regex",
                                       "regex(): the pattern does not match \"%s\"", s);
        else
            r = match_value(&rx, s);
    } else {
        size_t len = json_string_length(a->v[1]), pos = 0;
        ptrdiff_t prev_end = -1;
        r = json_array();
        while (rx_next(&rx, s, len, &pos, &prev_end))
            json_array_append_new(r, match_value(&rx, s));
    }
    rx_free(&rx);
    if (rc == 0)
        *out = r;
    return rc;
}

static int fn_regex(json_t **out, struct eval_ctx *ctx, const struct ast_expr *call,
                    struct call_args *a)
{
    (void)call;
    return regex_fn(out, ctx, a, false);
}

static int fn_regexall(json_t **out, struct eval_ctx *ctx, const struct ast_expr *call,
                       struct call_args *a)
{
    (void)call;
    return regex_fn(out, ctx, a, true);
}

/* with, its $1, ${1}, $name, ${name} replaced by the groups of the match in
 * p and $$ by $ (Go's Regexp.Expand, as Terraform's replace): an unknown
 * or unmatched group is empty. */
static void expand_groups(struct buf *b, const struct rx *rx, const char *p, const char *with)
{
    for (const char *w = with; *w; w++) {
        const char *name, *end;
        size_t n, g = 0;
        bool braced, number = true;
        if (w[0] != '$') {
            buf_addch(b, *w);
            continue;
        }
        if (w[1] == '$') {
            buf_addch(b, '$');
            w++;
            continue;
        }
        braced = w[1] == '{';
        name = w + 1 + braced;
        for (end = name; isalnum((unsigned char)*end) || *end == '_'; end++)
            number = number && isdigit((unsigned char)*end);
        n = (size_t)(end - name);
        if (n == 0 || (braced && *end != '}')) {
            buf_addch(b, '$'); /* not a reference: the '$' is itself */
            continue;
        }
        w = end - 1 + braced;
        if (number) {
            for (const char *d = name; d < end && g <= rx->ngroups; d++)
                g = g * 10 + (size_t)(*d - '0');
        } else {
            for (g = 1; g <= rx->ngroups; g++)
                if (rx->names[g] && strlen(rx->names[g]) == n && memcmp(rx->names[g], name, n) == 0)
                    break;
        }
        if (g <= rx->ngroups && rx->m[2 * g] >= 0)
            buf_add(b, p + rx->m[2 * g], (size_t)(rx->m[2 * g + 1] - rx->m[2 * g]));
    }
}

/* replace(s, what, with): every occurrence of the string what; when what
 * is written /like this/, of that regular expression, with $1, ${name}, ...
 * in with naming its groups. */
static int fn_replace(json_t **out, struct eval_ctx *ctx, const struct ast_expr *call,
                      struct call_args *a)
{
    const char *s, *what, *with;
    size_t k;
    struct buf b;
    int rc;
    (void)call;
    for (size_t i = 0; i < 3; i++)
        if ((rc = want(ctx, a, i, "replace", JSON_STRING)) < 0)
            return rc;
    s = str_arg(a, 0);
    what = str_arg(a, 1);
    k = json_string_length(a->v[1]);
    with = str_arg(a, 2);
    buf_init(&b, 0);
    if (k >= 2 && what[0] == '/' && what[k - 1] == '/') {
        struct rx rx;
        char *pattern = strndup(what + 1, k - 2);
        size_t len = json_string_length(a->v[0]), pos = 0, last_end = 0;
        if (pattern == NULL)
            return fail(ctx, &call->loc, "internal", "out of memory");
        rc = compile_regex(&rx, ctx, a, 1, "replace", pattern);
        free(pattern);
        if (rc < 0)
            return rc;
        /* Go's ReplaceAll: an empty match right after a match is not one */
        while (pos <= len && rx_exec(&rx, s, len, pos)) {
            size_t so = (size_t)rx.m[0], eo = (size_t)rx.m[1], one;
            buf_add(&b, s + last_end, so - last_end);
            if (eo > last_end || so == 0)
                expand_groups(&b, &rx, s, with);
            last_end = eo;
            one = utf8_offset(s + pos, len - pos, 1);
            if (pos + one > eo)
                pos += one;
            else if (pos + 1 > eo)
                pos++;
            else
                pos = eo;
        }
        buf_add(&b, s + last_end, len - last_end);
        rx_free(&rx);
    } else if (k == 0) {
        buf_adds(&b, s);
    } else {
        const char *p = s, *q;
        while ((q = strstr(p, what)) != NULL) {
            buf_add(&b, p, (size_t)(q - p));
            buf_adds(&b, with);
            p = q + k;
        }
        buf_adds(&b, p);
    }
    *out = json_stringn(b.ptr, b.len);
    buf_release(&b);
    return 0;
}

/* --- encodings and hashes --- */

static int fn_jsondecode(json_t **out, struct eval_ctx *ctx, const struct ast_expr *call,
                         struct call_args *a)
{
    json_error_t jerr;
    json_t *v, *fixed;
    int rc;
    (void)call;
    if ((rc = want(ctx, a, 0, "jsondecode", JSON_STRING)) < 0)
        return rc;
    v = jsonw_loadb(str_arg(a, 0), json_string_length(a->v[0]),
                    JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
    if (v == NULL)
        return ctx->sensitive ? fail(ctx, &a->e[0]->loc, "json",
                                     "jsondecode(): not valid JSON (it is sensitive: not shown)")
                              : fail(ctx, &a->e[0]->loc, "json",
                                     "jsondecode(): not valid JSON: %s at character %d", jerr.text,
                                     jerr.position);
    if ((rc = value_json_numbers(v, &fixed)) < 0) {
        json_decref(v);
        if (rc == -3)
            return fail(ctx, &a->e[0]->loc, "arithmetic",
                        "jsondecode(): a number is too large: whole numbers are exact up to %d "
                        "bits",
                        VALUE_BIG_BITS);
        return fail(ctx, &a->e[0]->loc, "json", "jsondecode(): %s",
                    rc == -1 ? "a number too large for a 64-bit float"
                             : "nesting deeper than 64 levels");
    }
    if (fixed) {
        json_decref(v);
        v = fixed;
    }
    *out = v;
    return 0;
}

static int fn_jsonencode(json_t **out, struct eval_ctx *ctx, const struct ast_expr *call,
                         struct call_args *a)
{
    char *s = jsonw_dumps(a->v[0], JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY |
                                       JSON_REAL_PRECISION(VALUE_DIGITS));
    if (s == NULL)
        return fail(ctx, &call->loc, "internal", "out of memory");
    *out = json_string(s);
    free(s);
    return 0;
}

static int fn_base64encode(json_t **out, struct eval_ctx *ctx, const struct ast_expr *call,
                           struct call_args *a)
{
    struct buf b;
    int rc;
    if ((rc = want(ctx, a, 0, "base64encode", JSON_STRING)) < 0)
        return rc;
    buf_init(&b, 0);
    if (base64_encode(&b, str_arg(a, 0), json_string_length(a->v[0])) < 0)
        rc = fail(ctx, &call->loc, "internal", "out of memory");
    else
        *out = json_stringn(b.ptr, b.len);
    buf_release(&b);
    return rc;
}

static int fn_base64decode(json_t **out, struct eval_ctx *ctx, const struct ast_expr *call,
                           struct call_args *a)
{
    struct buf b;
    int rc;
    (void)call;
    if ((rc = want(ctx, a, 0, "base64decode", JSON_STRING)) < 0)
        return rc;
    buf_init(&b, 0);
    if (base64_decode_strict(&b, str_arg(a, 0), json_string_length(a->v[0])) < 0)
        rc = fail(ctx, &a->e[0]->loc, "base64",
                  "base64decode(): not standard base64 (A-Z a-z 0-9 + /, padded with = to a "
                  "multiple of 4)");
    else if ((*out = json_stringn(b.ptr, b.len)) == NULL)
        rc = fail(ctx, &a->e[0]->loc, "base64",
                  "base64decode(): the decoded bytes are not UTF-8 text");
    buf_release(&b);
    return rc;
}

static int digest(json_t **out, struct eval_ctx *ctx, const struct ast_expr *call,
                  struct call_args *a, const char *fn, const EVP_MD *md)
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    char hex[2 * EVP_MAX_MD_SIZE + 1];
    int rc;
    if ((rc = want(ctx, a, 0, fn, JSON_STRING)) < 0)
        return rc;
    if (EVP_Digest(str_arg(a, 0), json_string_length(a->v[0]), d, &n, md, NULL) != 1)
        return fail(ctx, &call->loc, "internal", "%s(): the digest failed", fn);
    for (unsigned int i = 0; i < n; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
    *out = json_stringn(hex, 2 * (size_t)n);
    return 0;
}

static int fn_sha256(json_t **out, struct eval_ctx *ctx, const struct ast_expr *call,
                     struct call_args *a)
{
    return digest(out, ctx, call, a, "sha256", EVP_sha256());
}

static int fn_sha1(json_t **out, struct eval_ctx *ctx, const struct ast_expr *call,
                   struct call_args *a)
{
    return digest(out, ctx, call, a, "sha1", EVP_sha1());
}

static int fn_md5(json_t **out, struct eval_ctx *ctx, const struct ast_expr *call,
                  struct call_args *a)
{
    return digest(out, ctx, call, a, "md5", EVP_md5());
}

/* sensitive(v): v, treated as a secret from here on. */
static int fn_sensitive(json_t **out, struct eval_ctx *ctx, const struct ast_expr *call,
                        struct call_args *a)
{
    (void)call;
    ctx->sensitive = true;
    *out = json_incref(a->v[0]);
    return 0;
}

/* --- networks --- */

struct cidr {
    unsigned char addr[16];
    int bits;   /* 32 or 128 */
    int prefix; /* the prefix length */
    int family;
};

static int parse_cidr(struct cidr *c, struct eval_ctx *ctx, const struct call_args *a, size_t i,
                      const char *fn)
{
    const char *s = str_arg(a, i), *slash = strchr(s, '/');
    char host[INET6_ADDRSTRLEN + 1];
    json_int_t prefix;
    memset(c, 0, sizeof(*c));
    if (slash && (size_t)(slash - s) < sizeof(host)) {
        memcpy(host, s, (size_t)(slash - s));
        host[slash - s] = '\0';
        c->family = strchr(host, ':') ? AF_INET6 : AF_INET;
        c->bits = c->family == AF_INET6 ? 128 : 32;
        if (inet_pton(c->family, host, c->addr) == 1 && parse_whole(slash + 1, &prefix) &&
            slash[1] >= '0' && slash[1] <= '9' && prefix <= c->bits) {
            c->prefix = (int)prefix;
            return 0;
        }
    }
    if (ctx->sensitive)
        return fail(ctx, &a->e[i]->loc, "cidr",
                    "%s(): not an address prefix like \"10.0.0.0/16\" (it is sensitive: not shown)",
                    fn);
    return fail(ctx, &a->e[i]->loc, "cidr",
                "%s(): \"%s\" is not an address prefix like \"10.0.0.0/16\" or \"fd00::/8\"", fn,
                s);
}

/* Sets bits [from, from + n) of the address (big-endian) to v's low n bits. */
static void set_bits(unsigned char *addr, int from, int n, uint64_t v)
{
    for (int k = 0; k < n; k++) {
        int bit = from + k;
        unsigned char mask = (unsigned char)(0x80 >> (bit % 8));
        if (n - 1 - k < 64 && (v >> (n - 1 - k)) & 1)
            addr[bit / 8] |= mask;
        else
            addr[bit / 8] &= (unsigned char)~mask;
    }
}

static json_t *format_addr(const struct cidr *c, bool with_prefix)
{
    char text[INET6_ADDRSTRLEN + 8];
    size_t n;
    if (inet_ntop(c->family, c->addr, text, INET6_ADDRSTRLEN) == NULL)
        return NULL;
    n = strlen(text);
    if (with_prefix)
        snprintf(text + n, sizeof(text) - n, "/%d", c->prefix);
    return json_string(text);
}

/* cidrsubnet(prefix, newbits, netnum): subnet netnum of the prefix
 * lengthened by newbits. */
static int fn_cidrsubnet(json_t **out, struct eval_ctx *ctx, const struct ast_expr *call,
                         struct call_args *a)
{
    struct cidr c;
    json_int_t newbits, netnum;
    int rc;
    if ((rc = want(ctx, a, 0, "cidrsubnet", JSON_STRING)) < 0 ||
        (rc = want(ctx, a, 1, "cidrsubnet", JSON_INTEGER)) < 0 ||
        (rc = want(ctx, a, 2, "cidrsubnet", JSON_INTEGER)) < 0 ||
        (rc = parse_cidr(&c, ctx, a, 0, "cidrsubnet")) < 0)
        return rc;
    newbits = json_integer_value(a->v[1]);
    netnum = json_integer_value(a->v[2]);
    if (newbits < 0 || c.prefix + newbits > c.bits)
        return fail(ctx, &a->e[1]->loc, "cidr",
                    "cidrsubnet(): %d + %" JSON_INTEGER_FORMAT
                    " bits do not fit in a %d-bit address",
                    c.prefix, newbits, c.bits);
    if (netnum < 0 || (newbits < 63 && netnum >= ((json_int_t)1 << newbits)))
        return fail(ctx, &a->e[2]->loc, "cidr",
                    "cidrsubnet(): network %" JSON_INTEGER_FORMAT
                    " does not fit in %" JSON_INTEGER_FORMAT " new bits (0 to %" JSON_INTEGER_FORMAT
                    ")",
                    netnum, newbits, newbits < 63 ? ((json_int_t)1 << newbits) - 1 : INT64_MAX);
    set_bits(c.addr, c.prefix + (int)newbits, c.bits - c.prefix - (int)newbits, 0);
    set_bits(c.addr, c.prefix, (int)newbits, (uint64_t)netnum);
    c.prefix += (int)newbits;
    if ((*out = format_addr(&c, true)) == NULL)
        return fail(ctx, &call->loc, "internal", "cidrsubnet(): cannot format the address");
    return 0;
}

/* cidrhost(prefix, hostnum): host hostnum of the prefix (negative counts
 * from the end). */
static int fn_cidrhost(json_t **out, struct eval_ctx *ctx, const struct ast_expr *call,
                       struct call_args *a)
{
    struct cidr c;
    json_int_t host;
    int hostbits;
    int rc;
    if ((rc = want(ctx, a, 0, "cidrhost", JSON_STRING)) < 0 ||
        (rc = want(ctx, a, 1, "cidrhost", JSON_INTEGER)) < 0 ||
        (rc = parse_cidr(&c, ctx, a, 0, "cidrhost")) < 0)
        return rc;
    host = json_integer_value(a->v[1]);
    hostbits = c.bits - c.prefix;
    if (hostbits < 63) {
        json_int_t size = (json_int_t)1 << hostbits;
        if (host < 0)
            host += size;
        if (host < 0 || host >= size)
            return fail(ctx, &a->e[1]->loc, "cidr",
                        "cidrhost(): host %" JSON_INTEGER_FORMAT
                        " is outside a prefix of %" JSON_INTEGER_FORMAT " addresses",
                        json_integer_value(a->v[1]), size);
    } else if (host < 0) {
        return fail(ctx, &a->e[1]->loc, "cidr",
                    "cidrhost(): a negative host needs a prefix of fewer than 2^63 addresses");
    }
    set_bits(c.addr, c.prefix, hostbits, (uint64_t)host);
    if ((*out = format_addr(&c, false)) == NULL)
        return fail(ctx, &call->loc, "internal", "cidrhost(): cannot format the address");
    return 0;
}

static int fn_cidrnetmask(json_t **out, struct eval_ctx *ctx, const struct ast_expr *call,
                          struct call_args *a)
{
    struct cidr c;
    int rc;
    if ((rc = want(ctx, a, 0, "cidrnetmask", JSON_STRING)) < 0 ||
        (rc = parse_cidr(&c, ctx, a, 0, "cidrnetmask")) < 0)
        return rc;
    if (c.family != AF_INET)
        return fail(ctx, &a->e[0]->loc, "cidr", "cidrnetmask(): only IPv4 prefixes have a netmask");
    memset(c.addr, 0, sizeof(c.addr));
    set_bits(c.addr, 0, c.prefix, UINT64_MAX);
    if ((*out = format_addr(&c, false)) == NULL)
        return fail(ctx, &call->loc, "internal", "cidrnetmask(): cannot format the address");
    return 0;
}

/* Every function: name, fewest and most arguments. try and can take
 * their arguments unevaluated (eval_try). */
#define FUNCTIONS(X)                                                                               \
    X(abs, 1, 1)                                                                                   \
    X(alltrue, 1, 1)                                                                               \
    X(anytrue, 1, 1)                                                                               \
    X(base64decode, 1, 1)                                                                          \
    X(base64encode, 1, 1)                                                                          \
    X(ceil, 1, 1)                                                                                  \
    X(cidrhost, 2, 2)                                                                              \
    X(cidrnetmask, 1, 1)                                                                           \
    X(cidrsubnet, 3, 3)                                                                            \
    X(coalesce, 1, CALL_ARGS_MAX)                                                                  \
    X(coalescelist, 1, CALL_ARGS_MAX)                                                              \
    X(compact, 1, 1)                                                                               \
    X(concat, 0, CALL_ARGS_MAX)                                                                    \
    X(contains, 2, 2)                                                                              \
    X(distinct, 1, 1)                                                                              \
    X(element, 2, 2)                                                                               \
    X(endswith, 2, 2)                                                                              \
    X(env, 1, 2)                                                                                   \
    X(file, 1, 1)                                                                                  \
    X(flatten, 1, 1)                                                                               \
    X(floor, 1, 1)                                                                                 \
    X(format, 1, CALL_ARGS_MAX)                                                                    \
    X(formatlist, 1, CALL_ARGS_MAX)                                                                \
    X(index, 2, 2)                                                                                 \
    X(join, 2, 2)                                                                                  \
    X(jsondecode, 1, 1)                                                                            \
    X(jsonencode, 1, 1)                                                                            \
    X(keys, 1, 1)                                                                                  \
    X(length, 1, 1)                                                                                \
    X(log, 2, 2)                                                                                   \
    X(lookup, 2, 3)                                                                                \
    X(lower, 1, 1)                                                                                 \
    X(max, 1, CALL_ARGS_MAX)                                                                       \
    X(md5, 1, 1)                                                                                   \
    X(merge, 0, CALL_ARGS_MAX)                                                                     \
    X(min, 1, CALL_ARGS_MAX)                                                                       \
    X(one, 1, 1)                                                                                   \
    X(parseint, 2, 2)                                                                              \
    X(pow, 2, 2)                                                                                   \
    X(range, 1, 3)                                                                                 \
    X(regex, 2, 2)                                                                                 \
    X(regexall, 2, 2)                                                                              \
    X(replace, 3, 3)                                                                               \
    X(reverse, 1, 1)                                                                               \
    X(sensitive, 1, 1)                                                                             \
    X(sha1, 1, 1)                                                                                  \
    X(sha256, 1, 1)                                                                                \
    X(signum, 1, 1)                                                                                \
    X(slice, 3, 3)                                                                                 \
    X(sort, 1, 1)                                                                                  \
    X(split, 2, 2)                                                                                 \
    X(startswith, 2, 2)                                                                            \
    X(strcontains, 2, 2)                                                                           \
    X(substr, 3, 3)                                                                                \
    X(sum, 1, 1)                                                                                   \
    X(tobool, 1, 1)                                                                                \
    X(tolist, 1, 1)                                                                                \
    X(tomap, 1, 1)                                                                                 \
    X(tonumber, 1, 1)                                                                              \
    X(toset, 1, 1)                                                                                 \
    X(tostring, 1, 1)                                                                              \
    X(trimprefix, 2, 2)                                                                            \
    X(trimspace, 1, 1)                                                                             \
    X(trimsuffix, 2, 2)                                                                            \
    X(upper, 1, 1)                                                                                 \
    X(values, 1, 1)                                                                                \
    X(zipmap, 2, 2)

struct fn_def {
    const char *name;
    size_t lo, hi;
    fn_impl fn;
};

static const struct fn_def fn_defs[] = {
#define FN_DEF(name, lo, hi) {#name, lo, hi, fn_##name},
    FUNCTIONS(FN_DEF)
#undef FN_DEF
};

const char *const eval_functions[] = {
#define FN_NAME(name, lo, hi) #name,
    FUNCTIONS(FN_NAME)
#undef FN_NAME
        "can",
    "try", NULL};

static const struct fn_def *find_fn(const char *name)
{
    size_t lo = 0, hi = sizeof(fn_defs) / sizeof(fn_defs[0]);
    while (lo < hi) { /* the table is in name order */
        size_t mid = (lo + hi) / 2;
        int c = strcmp(name, fn_defs[mid].name);
        if (c == 0)
            return &fn_defs[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

static int call_fn(json_t **out, struct eval_ctx *ctx, const struct ast_expr *e,
                   struct call_args *a)
{
    const char *fn = e->u.call.name;
    const struct fn_def *d = find_fn(fn);
    size_t n = a->n;

    if (d == NULL) {
        struct src_loc nl = ast_call_name_loc(e);
        struct diag *dg =
            diag_add(ctx->diags, DIAG_ERROR, &nl, "unknown-function", "unknown function '%s'", fn);
        const char *near = suggest_nearest(fn, eval_functions, 0);
        if (dg && near)
            diag_set_hint(dg, "did you mean '%s'?", near);
        return AMLSEC_EPARSE;
    }
    if (n < d->lo || n > d->hi) {
        if (d->lo == d->hi)
            return fail(ctx, &e->loc, "arity", "%s() takes %zu argument%s, not %zu", fn, d->lo,
                        d->lo == 1 ? "" : "s", n);
        if (d->hi == CALL_ARGS_MAX)
            return fail(ctx, &e->loc, "arity", "%s() takes at least %zu argument%s, not %zu", fn,
                        d->lo, d->lo == 1 ? "" : "s", n);
        return fail(ctx, &e->loc, "arity", "%s() takes %zu to %zu arguments, not %zu", fn, d->lo,
                    d->hi, n);
    }
    return d->fn(out, ctx, e, a);
}

static int args_push(struct eval_ctx *ctx, struct call_args *a, const struct ast_expr *call,
                     const struct ast_expr *from, json_t *v)
{
    if (a->n == a->cap) {
        size_t cap = a->cap ? 2 * a->cap : 8;
        json_t **nv = realloc(a->v, cap * sizeof(*nv));
        const struct ast_expr **ne;
        if (nv == NULL) {
            json_decref(v);
            return fail(ctx, &call->loc, "internal", "out of memory");
        }
        a->v = nv;
        ne = realloc(a->e, cap * sizeof(*ne));
        if (ne == NULL) {
            json_decref(v);
            return fail(ctx, &call->loc, "internal", "out of memory");
        }
        a->e = ne;
        a->cap = cap;
    }
    if (a->n >= CALL_ARGS_MAX) {
        json_decref(v);
        return fail(ctx, &call->loc, "arity", "%s(): more than %d arguments", call->u.call.name,
                    CALL_ARGS_MAX);
    }
    a->v[a->n] = v;
    a->e[a->n] = from;
    a->n++;
    return 0;
}

/* try(a, b, ...): the first argument that evaluates without an error;
 * can(x): whether x does. Errors of the arguments tried are not reported
 * (only evaluation's: names and references are checked before). */
static int eval_try(json_t **out, struct eval_ctx *ctx, const struct ast_expr *e)
{
    bool is_try = e->u.call.name[0] == 't';
    struct diag_list *saved = ctx->diags;
    struct diag_list scratch;
    struct diag *d;
    int rc = 0;

    if (is_try ? e->u.call.n < 1 : e->u.call.n != 1)
        return is_try ? fail(ctx, &e->loc, "arity", "try() takes at least 1 argument, not 0")
                      : fail(ctx, &e->loc, "arity", "can() takes 1 argument, not %zu", e->u.call.n);
    diag_list_init(&scratch);
    ctx->diags = &scratch;
    for (const struct ast_expr *x = e->u.call.args; x; x = x->next) {
        json_t *v = NULL;
        diag_list_release(&scratch);
        diag_list_init(&scratch);
        rc = eval_expr(&v, ctx, x);
        if (rc == 0) {
            ctx->diags = saved;
            diag_list_release(&scratch);
            if (!is_try)
                *out = value_contains_unknown(v) ? value_unknown() : json_true();
            else
                *out = v;
            if (!is_try)
                json_decref(v);
            return 0;
        }
    }
    ctx->diags = saved;
    if (!is_try) {
        diag_list_release(&scratch);
        *out = json_false();
        return 0;
    }
    d = diag_add(saved, DIAG_ERROR, &e->loc, "try",
                 "try(): every argument failed; the last one with:");
    for (size_t i = 0; d && i < scratch.n; i++)
        diag_add_note(d, &scratch.items[i].loc, "%s", scratch.items[i].message);
    diag_list_release(&scratch);
    return AMLSEC_EPARSE;
}

/* env() and file() read the machine, not their arguments alone: never
 * made later (their arguments are never resources in practice). */
static bool deferrable(const char *fn)
{
    return strcmp(fn, "env") != 0 && strcmp(fn, "file") != 0;
}

/* The result of a call whose arguments are not all known yet: a deferred
 * call when every unknown in them can be filled in later (parser/value.h),
 * else an unknown for good. */
static json_t *defer_call(const char *fn, const struct call_args *a)
{
    json_t *args;
    if (!deferrable(fn) || (args = json_array()) == NULL)
        return value_unknown();
    for (size_t i = 0; i < a->n; i++)
        if (!value_unknown_resolvable(a->v[i]) ||
            json_array_append_new(args, json_incref(a->v[i])) < 0) {
            json_decref(args);
            return value_unknown();
        }
    return value_unknown_call(fn, args);
}

static int eval_call(json_t **out, struct eval_ctx *ctx, const struct ast_expr *e)
{
    struct call_args a;
    bool unknown = false, whole = ctx->whole_value;
    /* length() and keys() need only the collection, not its elements */
    bool shallow = strcmp(e->u.call.name, "length") == 0 || strcmp(e->u.call.name, "keys") == 0;
    int rc = 0;

    if (strcmp(e->u.call.name, "try") == 0 || strcmp(e->u.call.name, "can") == 0)
        return eval_try(out, ctx, e);
    /* an argument is the value itself: a whole instance read here is its
     * object, secrets and all (jsonencode(datastore.d)), not its id */
    ctx->whole_value = true;
    memset(&a, 0, sizeof(a));
    for (const struct ast_expr *x = e->u.call.args; x; x = x->next) {
        json_t *v = NULL;
        bool expand = x->next == NULL && x->kind == EXPR_UNARY && x->u.unary.op == OP_EXPAND;
        if ((rc = eval_expr(&v, ctx, expand ? x->u.unary.operand : x)) < 0)
            goto out;
        unknown |= shallow ? value_is_unknown(v) : value_contains_unknown(v);
        if (expand && !value_is_unknown(v)) {
            size_t i;
            json_t *y;
            if (!json_is_array(v)) {
                rc = fail(ctx, &x->loc, "type", "'...' expands a list into arguments, not a %s",
                          value_type_name(v));
                json_decref(v);
                goto out;
            }
            json_array_foreach(v, i, y)
            {
                if ((rc = args_push(ctx, &a, e, x, json_incref(y))) < 0)
                    break;
            }
            json_decref(v);
            if (rc < 0)
                goto out;
        } else if ((rc = args_push(ctx, &a, e, x, v)) < 0) {
            goto out;
        }
    }
    if (unknown)
        *out = defer_call(e->u.call.name, &a);
    else
        rc = call_fn(out, ctx, e, &a);
out:
    ctx->whole_value = whole;
    for (size_t i = 0; i < a.n; i++)
        json_decref(a.v[i]);
    free(a.v);
    free(a.e);
    return rc;
}

static int op_values(json_t **out, struct eval_ctx *ctx, const char *op, const json_t *args);

int eval_call_values(json_t **out, const char *fn, const json_t *args)
{
    struct diag_list scratch;
    struct ast_expr call;
    struct config cfg;
    struct eval_ctx ctx;
    struct call_args a;
    int rc = 0;

    *out = NULL;
    if (!json_is_array(args) || json_array_size(args) > CALL_ARGS_MAX)
        return AMLSEC_EPARSE;
    memset(&call, 0, sizeof(call));
    memset(&cfg, 0, sizeof(cfg));
    memset(&ctx, 0, sizeof(ctx));
    call.kind = EXPR_CALL;
    call.u.call.name = (char *)fn;
    diag_list_init(&scratch);
    ctx.cfg = &cfg;
    ctx.diags = &scratch;
    a.n = a.cap = json_array_size(args);
    a.v = calloc(a.n ? a.n : 1, sizeof(*a.v));
    a.e = calloc(a.n ? a.n : 1, sizeof(*a.e));
    if (a.v == NULL || a.e == NULL) {
        rc = AMLSEC_EPARSE;
        goto out;
    }
    for (size_t i = 0; i < a.n; i++) {
        a.v[i] = json_array_get(args, i);
        a.e[i] = &call;
    }
    if (find_fn(fn) == NULL)
        rc = op_values(out, &ctx, fn, args);
    else if (!deferrable(fn))
        rc = AMLSEC_EPARSE;
    else
        rc = call_fn(out, &ctx, &call, &a);
out:
    free(a.v);
    free(a.e);
    diag_list_release(&scratch);
    return rc;
}

static int want_bool(struct eval_ctx *ctx, const struct ast_expr *e, json_t *v, const char *what)
{
    if (json_is_boolean(v) || value_is_unknown(v))
        return 0;
    return fail(ctx, &e->loc, "type", "%s needs a bool, not a %s", what, value_type_name(v));
}

static const char *op_text(enum ast_op op)
{
    static const char *const text[] = {
        [OP_ADD] = "+", [OP_SUB] = "-", [OP_MUL] = "*", [OP_DIV] = "/", [OP_MOD] = "%",
        [OP_LT] = "<",  [OP_LE] = "<=", [OP_GT] = ">",  [OP_GE] = ">=",
    };
    return (size_t)op < sizeof(text) / sizeof(text[0]) && text[op] ? text[op] : "?";
}

/* + - * / % < <= > >= on two known values. Whole numbers (int64) stay
 * exact: overflow is an error; a division with a remainder gives a decimal
 * (10 / 4 is 2.5). With a decimal operand the arithmetic is a double's
 * (value_number): a result that is not finite is an error. */
/* a + b, a - b or a * b, one of them a whole number past 2^53 (where a
 * double has lost digits) and the other a decimal: exactly, the decimal
 * taken as the 15 significant digits it holds (value_number), so that
 * pow(2, 64) * 1.5 is 27670116110564327424, as in Terraform; a result with
 * a fraction is the double nearest the exact one. 0 done (*out), an
 * error, or 1 when a and b are not such a pair. */
static int mixed_exact(json_t **out, struct eval_ctx *ctx, const struct ast_expr *e,
                       const json_t *a, const json_t *b)
{
    enum ast_op op = e->u.binary.op;
    const json_t *w = value_is_whole(a) ? a : b, *r = w == a ? b : a;
    char text[40], mant[VALUE_DIGITS + 2], *end;
    BIGNUM *x = NULL, *y = NULL, *n = NULL, *scale = NULL, *rem = NULL, *ten = NULL;
    BN_CTX *bc = NULL;
    int k, m = 0, rc = 1;
    bool ok;
    if ((op != OP_ADD && op != OP_SUB && op != OP_MUL) || !json_is_real(r) || !value_is_whole(w) ||
        fabs(value_to_double(w)) < 9007199254740992.0)
        return 1;
    /* r is M * 10^-k: M its 15 digits ("-" first), without the zeros that
     * end them */
    snprintf(text, sizeof(text), "%.*e", VALUE_DIGITS - 1, json_real_value(r));
    k = VALUE_DIGITS - 1 - (int)strtol(strchr(text, 'e') + 1, NULL, 10);
    for (const char *t = text; *t != 'e'; t++)
        if (*t != '.')
            mant[m++] = *t;
    mant[m] = '\0';
    for (end = mant + m - 1; k > 0 && *end == '0'; end--, k--)
        *end = '\0';
    if (k <= 0) /* whole: beyond 2^512 (a smaller one would be whole already) */
        goto done;
    n = BN_new(), scale = BN_new(), rem = BN_new(), ten = BN_new(), bc = BN_CTX_new();
    ok = n && scale && rem && ten && bc && BN_dec2bn(&y, mant) && (x = value_to_bn(w)) != NULL &&
         BN_set_word(ten, 10) && BN_set_word(scale, (BN_ULONG)k) && BN_exp(scale, ten, scale, bc);
    /* n over 10^k: w * M, or (w * 10^k) + M and the like */
    if (ok && op == OP_MUL) {
        ok = BN_mul(n, x, y, bc);
    } else if (ok) {
        const BIGNUM *pa = w == a ? x : y, *pb = w == a ? y : x;
        ok = BN_mul(x, x, scale, bc) && (op == OP_ADD ? BN_add(n, pa, pb) : BN_sub(n, pa, pb));
    }
    ok = ok && BN_div(x, rem, n, scale, bc);
    if (!ok) {
        rc = fail(ctx, &e->loc, "internal", "out of memory");
    } else if (BN_is_zero(rem) && BN_num_bits(x) > VALUE_BIG_BITS) {
        rc = 1;                   /* beyond 512 bits: the double, as pow(1.5, 1000) is */
    } else if (BN_is_zero(rem)) { /* whole */
        char what[8];
        snprintf(what, sizeof(what), "'%s'", op_text(op));
        rc = big_result(out, ctx, &e->loc, what, x);
        x = NULL;
    } else { /* n * 10^-k, as strtod rounds it */
        char *dec = BN_bn2dec(n), *exact = NULL;
        if (dec && asprintf(&exact, "%se-%d", dec, k) < 0)
            exact = NULL;
        OPENSSL_free(dec);
        if (exact == NULL)
            rc = fail(ctx, &e->loc, "internal", "out of memory");
        else if ((*out = value_number(strtod(exact, NULL))) == NULL)
            rc = fail(ctx, &e->loc, "arithmetic", "'%s' overflows a 64-bit float", op_text(op));
        else
            rc = 0;
        free(exact);
    }
done:
    BN_free(x);
    BN_free(y);
    BN_free(n);
    BN_free(scale);
    BN_free(rem);
    BN_free(ten);
    BN_CTX_free(bc);
    return rc;
}

static int eval_arith(json_t **out, struct eval_ctx *ctx, const struct ast_expr *e, const json_t *a,
                      const json_t *b)
{
    enum ast_op op = e->u.binary.op;
    json_int_t x, y, r = 0;
    double dx, dy, dr = 0;
    bool overflow = false;
    int rc;

    if (!value_is_number(a) || !value_is_number(b)) {
        const struct ast_expr *bad = value_is_number(a) ? e->u.binary.rhs : e->u.binary.lhs;
        return fail(ctx, &bad->loc, "type", "'%s' needs numbers, not a %s", op_text(op),
                    value_type_name(value_is_number(a) ? b : a));
    }
    switch (op) {
    case OP_LT:
        *out = json_boolean(cmp_numbers(a, b) < 0);
        return 0;
    case OP_LE:
        *out = json_boolean(cmp_numbers(a, b) <= 0);
        return 0;
    case OP_GT:
        *out = json_boolean(cmp_numbers(a, b) > 0);
        return 0;
    case OP_GE:
        *out = json_boolean(cmp_numbers(a, b) >= 0);
        return 0;
    default:
        break;
    }
    if ((op == OP_DIV || op == OP_MOD) && value_to_double(b) == 0)
        return fail(ctx, &e->u.binary.rhs->loc, "arithmetic", "%s by zero",
                    op == OP_DIV ? "division" : "modulo");
    if (value_is_big(a) || value_is_big(b)) {
        char what[8];
        if (!value_is_whole(a) || !value_is_whole(b))
            goto decimal; /* with a fraction: a double */
        snprintf(what, sizeof(what), "'%s'", op_text(op));
        return big_arith(out, ctx, &e->loc, what, op, a, b);
    }
    if (json_is_integer(a) && json_is_integer(b)) {
        x = json_integer_value(a);
        y = json_integer_value(b);
        switch (op) {
        case OP_ADD:
            overflow = __builtin_add_overflow(x, y, &r);
            break;
        case OP_SUB:
            overflow = __builtin_sub_overflow(x, y, &r);
            break;
        case OP_MUL:
            overflow = __builtin_mul_overflow(x, y, &r);
            break;
        case OP_DIV:
        case OP_MOD:
            if (x == INT64_MIN && y == -1) {
                overflow = true;
                break;
            }
            if (op == OP_DIV && x % y != 0) { /* 10 / 4 is 2.5 */
                *out = value_number((double)x / (double)y);
                return 0;
            }
            r = op == OP_MOD ? x % y : x / y;
            break;
        default:
            return fail(ctx, &e->loc, "internal", "unknown operator %d", (int)op);
        }
        if (overflow) { /* past int64: exactly, as a big number */
            char what[8];
            snprintf(what, sizeof(what), "'%s'", op_text(op));
            return big_arith(out, ctx, &e->loc, what, op, a, b);
        }
        *out = json_integer(r);
        return 0;
    }
decimal:
    if ((rc = mixed_exact(out, ctx, e, a, b)) <= 0)
        return rc;
    dx = value_to_double(a);
    dy = value_to_double(b);
    switch (op) {
    case OP_ADD:
        dr = dx + dy;
        break;
    case OP_SUB:
        dr = dx - dy;
        break;
    case OP_MUL:
        dr = dx * dy;
        break;
    case OP_DIV:
        dr = dx / dy;
        break;
    case OP_MOD:
        dr = fmod(dx, dy); /* the sign of the left operand, as for whole numbers */
        break;
    default:
        return fail(ctx, &e->loc, "internal", "unknown operator %d", (int)op);
    }
    if ((*out = value_number(dr)) == NULL)
        return fail(ctx, &e->loc, "arithmetic", "'%s' overflows a 64-bit float", op_text(op));
    return 0;
}

/* One element of a for expression: evaluates the condition, then the key
 * (the map form) and value into *key (borrowed into a new string) and
 * *value; *skip when the condition is false. */
static int for_element(struct eval_ctx *ctx, const struct ast_for *f, json_t **key, json_t **value,
                       bool *skip, bool *unknown)
{
    json_t *c = NULL;
    int rc;

    *key = *value = NULL;
    *skip = false;
    if (f->cond) {
        if ((rc = eval_expr(&c, ctx, f->cond)) < 0)
            return rc;
        if (value_is_unknown(c)) {
            *unknown = true;
            json_decref(c);
            return 0;
        }
        if (!json_is_boolean(c)) {
            rc = fail(ctx, &f->cond->loc, "type", "the condition of 'if' needs a bool, not a %s",
                      value_type_name(c));
            json_decref(c);
            return rc;
        }
        *skip = !json_is_true(c);
        json_decref(c);
        if (*skip)
            return 0;
    }
    if (f->key) {
        struct buf b;
        if ((rc = eval_expr(key, ctx, f->key)) < 0)
            return rc;
        if (value_is_unknown(*key)) {
            *unknown = true;
            json_decref(*key);
            *key = NULL;
            return 0;
        }
        buf_init(&b, 0);
        if (!to_text(&b, *key)) {
            rc = fail(ctx, &f->key->loc, "type",
                      "a for expression's keys must be strings, not a %s", value_type_name(*key));
            buf_release(&b);
            json_decref(*key);
            *key = NULL;
            return rc;
        }
        json_decref(*key);
        *key = json_stringn(b.ptr, b.len);
        buf_release(&b);
    }
    if ((rc = eval_expr(value, ctx, f->value)) < 0) {
        json_decref(*key);
        *key = NULL;
    }
    return rc;
}

/* Adds one element to a for expression's result r. */
static int for_add(struct eval_ctx *ctx, const struct ast_for *f, json_t *r, json_t *key,
                   json_t *value)
{
    const char *k;
    json_t *have;
    if (!f->is_map)
        return json_array_append_new(r, value) == 0 ? 0 : AMLSEC_ENOMEM;
    k = json_string_value(key);
    have = json_object_get(r, k);
    if (f->grouping) {
        if (have == NULL) {
            have = json_array();
            json_object_set_new(r, k, have);
        }
        json_array_append_new(have, value);
        return 0;
    }
    if (have) {
        struct diag *d =
            ctx->sensitive
                ? diag_add(ctx->diags, DIAG_ERROR, &f->key->loc, "duplicate",
                           "two elements produce the same key (it is sensitive: not shown)")
                : diag_add(ctx->diags, DIAG_ERROR, &f->key->loc, "duplicate",
                           "two elements produce the key '%s'", k);
        if (d)
            diag_set_hint(d, "to collect the values of a key in a list, write '...' after the "
                             "value: KEY => VALUE...");
        json_decref(value);
        return AMLSEC_EPARSE;
    }
    json_object_set_new(r, k, value);
    return 0;
}

/* A for expression's key as text (for_element's conversion); NULL when it
 * is not a string, a number or a bool. New reference. */
static json_t *for_key_text(const json_t *k)
{
    struct buf b;
    json_t *r = NULL;
    buf_init(&b, 0);
    if (to_text(&b, k))
        r = json_stringn(b.ptr ? b.ptr : "", b.len);
    buf_release(&b);
    return r;
}

/* A for expression over a known collection where a condition or a key is
 * known only after apply (Terraform's result is then unknown as a whole):
 * every element again, deferred like an operator (its "function" "[for]",
 * "{for}" or "{for...}", its arguments one [COND, VALUE] or [COND, KEY,
 * VALUE] per element not known to be left out; for_values), so that apply
 * makes it once they are known. Errors are reported as the first pass
 * would, except those of an element whose condition is unknown: Terraform
 * would not evaluate it either, so one leaves the result unknown for good.
 * The scope's ks and vs are set per element. */
static int defer_for(json_t **out, struct eval_ctx *ctx, const struct ast_for *f,
                     const json_t *coll, const char **keys, size_t n, struct eval_scope *ks,
                     struct eval_scope *vs)
{
    json_t *args = json_array();
    bool resolvable = true;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0 && resolvable; i++) {
        bool is_map = json_is_object(coll);
        json_t *idx = is_map ? json_string(keys[i]) : json_integer((json_int_t)i);
        json_t *c = NULL, *key = NULL, *value = NULL;
        struct diag_list *saved = ctx->diags, scratch;
        ks->value = idx;
        vs->value = is_map ? json_object_get(coll, keys[i]) : json_array_get(coll, i);
        if (f->cond == NULL)
            c = json_true();
        else if ((rc = eval_expr(&c, ctx, f->cond)) == 0 && !value_is_unknown(c) &&
                 !json_is_boolean(c))
            rc = fail(ctx, &f->cond->loc, "type", "the condition of 'if' needs a bool, not a %s",
                      value_type_name(c));
        if (rc < 0 || json_is_false(c)) {
            json_decref(c);
            json_decref(idx);
            continue;
        }
        diag_list_init(&scratch);
        if (value_is_unknown(c))
            ctx->diags = &scratch; /* an element that may be left out */
        if (f->key && (rc = eval_expr(&key, ctx, f->key)) == 0 && !value_is_unknown(key)) {
            json_t *text = for_key_text(key);
            if (text == NULL)
                rc =
                    fail(ctx, &f->key->loc, "type",
                         "a for expression's keys must be strings, not a %s", value_type_name(key));
            json_decref(key);
            key = text;
        }
        if (rc == 0)
            rc = eval_expr(&value, ctx, f->value);
        ctx->diags = saved;
        diag_list_release(&scratch);
        if (rc < 0 && value_is_unknown(c)) {
            rc = 0;
            resolvable = false;
        } else if (rc == 0) {
            resolvable = value_unknown_resolvable(c) && value_unknown_resolvable(value) &&
                         (key == NULL || value_unknown_resolvable(key));
            json_array_append_new(args, key ? json_pack("[OOO]", c, key, value)
                                            : json_pack("[OO]", c, value));
        }
        json_decref(c);
        json_decref(key);
        json_decref(value);
        json_decref(idx);
    }
    if (rc < 0 || !resolvable) {
        json_decref(args);
        if (rc == 0)
            *out = value_unknown();
        return rc;
    }
    *out = value_unknown_call(!f->is_map ? "[for]" : f->grouping ? "{for...}" : "{for}", args);
    if (*out == NULL) /* args consumed */
        *out = value_unknown();
    return 0;
}

/* A deferred for expression (defer_for), its conditions, keys and values
 * now known. */
static int for_values(json_t **out, const char *op, const json_t *args)
{
    bool is_map = op[0] == '{', grouping = strcmp(op, "{for...}") == 0;
    json_t *r = is_map ? json_object() : json_array(), *e;
    size_t i;
    json_array_foreach(args, i, e)
    {
        const json_t *c = json_array_get(e, 0);
        json_t *value = json_array_get(e, is_map ? 2 : 1), *key, *have;
        if (!json_is_boolean(c) || value == NULL || json_array_size(e) != (is_map ? 3u : 2u))
            break;
        if (json_is_false(c))
            continue;
        if (!is_map) {
            json_array_append(r, value);
            continue;
        }
        if ((key = for_key_text(json_array_get(e, 1))) == NULL)
            break;
        have = json_object_get(r, json_string_value(key));
        if (grouping && have == NULL)
            json_object_set_new(r, json_string_value(key), have = json_array());
        if (grouping)
            json_array_append(have, value);
        else if (have == NULL)
            json_object_set(r, json_string_value(key), value);
        json_decref(key);
        if (have && !grouping)
            break; /* two elements with one key */
    }
    if (i < json_array_size(args)) {
        json_decref(r);
        return AMLSEC_EPARSE;
    }
    *out = r;
    return 0;
}

/* The placeholders a for expression over a collection known only after
 * apply binds its variables to (defer_for_unknown): unknowns tagged with
 * this address, which no instance has, and "N.k" or "N.v". */
#define FOR_PLACEHOLDER "$for"

/* A for expression over a collection that is itself known only after
 * apply (a block the configuration leaves out, which the service fills
 * in): its body evaluated once, quietly, with its key and value standing
 * as placeholders (FOR_PLACEHOLDER, "N.k" and "N.v", N the number of
 * for variables around it, so nested ones differ), deferred as "[for*]",
 * "{for*}" or "{for*...}" with the arguments [COLLECTION, N, COND, KEY,
 * VALUE]. Once the collection is known, eval_for_expand puts each element
 * in place of the placeholders: defer_for's form, made as it is. Unknown
 * for good when the collection's unknown cannot be filled in later or the
 * body fails on the placeholders. */
static int defer_for_unknown(json_t **out, struct eval_ctx *ctx, const struct ast_for *f,
                             json_t *coll)
{
    struct diag_list *saved_diags = ctx->diags, scratch;
    const struct eval_scope *saved = ctx->scope;
    struct eval_scope ks = {0}, vs = {0};
    json_t *c = NULL, *key = NULL, *value = NULL;
    char kattr[32], vattr[32];
    int depth = 0, rc = 0;
    *out = NULL;
    for (const struct eval_scope *s = saved; s; s = s->up)
        depth++;
    snprintf(kattr, sizeof(kattr), "%d.k", depth);
    snprintf(vattr, sizeof(vattr), "%d.v", depth);
    ks.name = f->key_var;
    ks.up = saved;
    ks.value = value_unknown_of(FOR_PLACEHOLDER, kattr);
    vs.name = f->value_var;
    vs.up = f->key_var ? &ks : saved;
    vs.value = value_unknown_of(FOR_PLACEHOLDER, vattr);
    diag_list_init(&scratch);
    ctx->diags = &scratch;
    ctx->scope = &vs;
    if (!value_unknown_resolvable(coll) || ks.value == NULL || vs.value == NULL)
        rc = AMLSEC_EPARSE;
    if (rc == 0)
        rc = f->cond ? eval_expr(&c, ctx, f->cond) : ((c = json_true()) ? 0 : AMLSEC_EPARSE);
    if (rc == 0)
        rc = f->key ? eval_expr(&key, ctx, f->key) : ((key = json_null()) ? 0 : AMLSEC_EPARSE);
    if (rc == 0)
        rc = eval_expr(&value, ctx, f->value);
    ctx->scope = saved;
    ctx->diags = saved_diags;
    diag_list_release(&scratch);
    json_decref(ks.value);
    json_decref(vs.value);
    if (rc == 0 && value_unknown_resolvable(c) && value_unknown_resolvable(key) &&
        value_unknown_resolvable(value))
        *out = value_unknown_call(!f->is_map    ? "[for*]"
                                  : f->grouping ? "{for*...}"
                                                : "{for*}",
                                  json_pack("[OiOOO]", coll, depth, c, key, value));
    if (*out == NULL)
        *out = value_unknown();
    json_decref(c);
    json_decref(key);
    json_decref(value);
    return 0;
}

/* v with the placeholders of depth's for expression (defer_for_unknown)
 * replaced by k and v. New reference. */
static json_t *for_substitute(const json_t *x, const char *kattr, const char *vattr,
                              const json_t *k, const json_t *v)
{
    const char *address, *attr, *name;
    json_t *y, *r;
    size_t i;
    if (value_unknown_origin(x, &address, &attr) && strcmp(address, FOR_PLACEHOLDER) == 0 &&
        (strcmp(attr, kattr) == 0 || strcmp(attr, vattr) == 0))
        return json_deep_copy(strcmp(attr, kattr) == 0 ? k : v);
    if (json_is_array(x)) {
        r = json_array();
        json_array_foreach(x, i, y) json_array_append_new(r, for_substitute(y, kattr, vattr, k, v));
        return r;
    }
    if (json_is_object(x)) {
        r = json_object();
        json_object_foreach((json_t *)x, name, y)
            json_object_set_new(r, name, for_substitute(y, kattr, vattr, k, v));
        return r;
    }
    return json_deep_copy(x);
}

bool eval_for_deferred(const char *fn)
{
    return strcmp(fn, "[for*]") == 0 || strcmp(fn, "{for*}") == 0 || strcmp(fn, "{for*...}") == 0;
}

json_t *eval_for_expand(const char *fn, const json_t *args)
{
    const json_t *coll = json_array_get(args, 0), *depth = json_array_get(args, 1);
    const json_t *c = json_array_get(args, 2), *key = json_array_get(args, 3),
                 *value = json_array_get(args, 4);
    bool is_map = fn[0] == '{';
    const char **keys = NULL;
    char kattr[32], vattr[32];
    json_t *elems;
    size_t n;
    if (!eval_for_deferred(fn) || json_array_size(args) != 5 || !json_is_integer(depth) ||
        (!json_is_array(coll) && !json_is_object(coll)) || value_contains_unknown(coll))
        return NULL;
    n = json_is_array(coll) ? json_array_size(coll) : json_object_size(coll);
    if (json_is_object(coll) && n > 0 && (keys = sorted_keys(coll, &n)) == NULL)
        return NULL;
    snprintf(kattr, sizeof(kattr), "%lld.k", (long long)json_integer_value(depth));
    snprintf(vattr, sizeof(vattr), "%lld.v", (long long)json_integer_value(depth));
    elems = json_array();
    for (size_t i = 0; i < n && elems; i++) {
        json_t *k = keys ? json_string(keys[i]) : json_integer((json_int_t)i);
        const json_t *v = keys ? json_object_get(coll, keys[i]) : json_array_get(coll, i);
        json_t *e = is_map ? json_pack("[ooo]", for_substitute(c, kattr, vattr, k, v),
                                       for_substitute(key, kattr, vattr, k, v),
                                       for_substitute(value, kattr, vattr, k, v))
                           : json_pack("[oo]", for_substitute(c, kattr, vattr, k, v),
                                       for_substitute(value, kattr, vattr, k, v));
        json_decref(k);
        if (e == NULL || json_array_append_new(elems, e) < 0) {
            json_decref(elems);
            elems = NULL;
        }
    }
    free(keys);
    return elems ? value_unknown_call(!is_map                        ? "[for]"
                                      : strcmp(fn, "{for*...}") == 0 ? "{for...}"
                                                                     : "{for}",
                                      elems)
                 : NULL;
}

/* [for k, v in coll : value if cond] and {for k, v in coll : key => value...}.
 * A list binds k to the index, a map to the key (in lexical order, as
 * Terraform does). Unknown conditions or keys make the whole result
 * unknown until they are known (defer_for); an unknown collection, for good
 * (its elements are not there to evaluate the body on); unknown values stay
 * in place. */
static int eval_for(json_t **out, struct eval_ctx *ctx, const struct ast_expr *e)
{
    const struct ast_for *f = e->u.forx;
    json_t *coll = NULL, *r = NULL, *paths;
    const char **keys = NULL;
    struct eval_scope ks = {0}, vs = {0};
    const struct eval_scope *saved = ctx->scope;
    const struct ast_expr *saved_capture = ctx->capture, *c = f->coll;
    bool unknown = false;
    size_t n;
    int rc;

    /* a whole module or resource's instances as the collection: their
     * secret paths by element, so that v.app_id is open where v.key is not */
    while (c->kind == EXPR_PAREN)
        c = c->u.paren;
    ctx->capture = c;
    ctx->coll_paths = NULL;
    rc = eval_expr(&coll, ctx, f->coll);
    ctx->capture = saved_capture;
    paths = ctx->coll_paths;
    ctx->coll_paths = NULL;
    if (rc == 0 && json_array_size(paths) && value_is_unknown(coll))
        ctx->sensitive = true; /* not read by element: the worst */
    vs.paths = paths;
    vs.key = &ks.value;
    if (rc < 0) {
        json_decref(paths);
        return rc;
    }
    if (value_is_unknown(coll)) {
        /* made again once the collection is known (not the collection's
         * own unknown: filled in, it would become the collection); what
         * the body reads is not known before (cfg_read) */
        note_read(ctx, NULL, 0, NULL, NULL);
        rc = defer_for_unknown(out, ctx, f, coll);
        json_decref(coll);
        json_decref(paths);
        return rc;
    }
    if ((!json_is_array(coll) && !json_is_object(coll)) || value_is_big(coll)) {
        rc =
            fail(ctx, &f->coll->loc, "type",
                 "a for expression iterates over a list or a map, not a %s", value_type_name(coll));
        json_decref(coll);
        json_decref(paths);
        return rc;
    }
    n = json_is_array(coll) ? json_array_size(coll) : json_object_size(coll);
    if (json_is_object(coll) && n > 0 && (keys = sorted_keys(coll, &n)) == NULL) {
        json_decref(coll);
        json_decref(paths);
        return fail(ctx, &e->loc, "internal", "out of memory");
    }
    r = f->is_map ? json_object() : json_array();
    ks.name = f->key_var;
    ks.up = saved;
    vs.name = f->value_var;
    vs.up = f->key_var ? &ks : saved;
    ctx->scope = &vs;
    for (size_t i = 0; i < n && rc == 0 && !unknown; i++) {
        bool is_map = json_is_object(coll);
        json_t *idx = is_map ? json_string(keys[i]) : json_integer((json_int_t)i);
        json_t *key = NULL, *value = NULL;
        bool skip = false;
        ks.value = idx;
        vs.value = is_map ? json_object_get(coll, keys[i]) : json_array_get(coll, i);
        rc = for_element(ctx, f, &key, &value, &skip, &unknown);
        if (rc == 0 && !skip && !unknown)
            rc = for_add(ctx, f, r, key, value);
        else
            json_decref(value);
        json_decref(key);
        json_decref(idx);
    }
    if (rc == 0 && unknown) {
        json_decref(r);
        r = NULL;
        rc = defer_for(&r, ctx, f, coll, keys, n, &ks, &vs);
    }
    ctx->scope = saved;
    free(keys);
    json_decref(coll);
    json_decref(paths);
    if (rc < 0) {
        json_decref(r);
        return rc;
    }
    *out = r;
    return 0;
}

/* "FILE:LINE:COL" of loc, as diagnostics name it. New reference. */
static json_t *loc_text(const struct src_loc *loc)
{
    struct src_pos at = src_loc_start(loc);
    return json_sprintf("%s:%u:%u", loc->file ? loc->file->name : "?", (unsigned)at.line,
                        (unsigned)at.col);
}

struct map_entry {
    json_t *key, *value; /* owned */
    const struct src_loc *loc;
    bool sensitive; /* the key read a sensitive value */
};

/* A map whose keys are not all known when planning (Terraform's map is
 * then unknown as a whole): deferred like an operator, its "function"
 * "{}", its arguments one [KEY, VALUE, "FILE:LINE:COL", SENSITIVE] per
 * entry, so that apply makes it once the keys are known (map_values); a
 * repeated key found then is an apply error at the key (eval_deferred_why,
 * which never quotes a key that read a sensitive value). Unknown for good
 * when an unknown cannot be filled in later. New reference. */
static json_t *defer_map(const struct map_entry *ents, size_t n)
{
    json_t *entries = json_array(), *r;
    for (size_t i = 0; i < n && entries; i++)
        if (!value_unknown_resolvable(ents[i].key) || !value_unknown_resolvable(ents[i].value) ||
            json_array_append_new(entries, json_pack("[OOob]", ents[i].key, ents[i].value,
                                                     loc_text(ents[i].loc), ents[i].sensitive)) <
                0) {
            json_decref(entries);
            entries = NULL;
        }
    r = entries ? value_unknown_call("{}", entries) : NULL; /* entries consumed */
    return r ? r : value_unknown();
}

/* { key = value, (expr) = value }: a key expression's number or bool is
 * its text, as in Terraform; known keys are checked here, and a key known
 * only after apply defers the whole map (defer_map). The entries are kept
 * aside (references, no copies) for that case. */
static int eval_map(json_t **out, struct eval_ctx *ctx, const struct ast_expr *e)
{
    struct map_entry small[16], *ents = small;
    json_t *m = json_object();
    size_t n = 0, cap = 0;
    bool deferred = false;
    int rc = 0;
    for (const struct ast_map_item *it = e->u.map.items; it; it = it->next)
        cap++;
    if (cap > sizeof(small) / sizeof(small[0]) && (ents = malloc(cap * sizeof(*ents))) == NULL) {
        json_decref(m);
        return fail(ctx, &e->loc, "internal", "out of memory");
    }
    for (const struct ast_map_item *it = e->u.map.items; it && rc == 0; it = it->next) {
        json_t *a = NULL, *b = NULL, *text;
        bool sensitive = ctx->sensitive, key_sensitive;
        ctx->sensitive = false;
        rc = eval_expr(&a, ctx, it->key);
        key_sensitive = ctx->sensitive;
        ctx->sensitive |= sensitive;
        if (rc < 0)
            break;
        if ((value_is_number(a) || json_is_boolean(a)) && (text = for_key_text(a)) != NULL) {
            json_decref(a);
            a = text;
        }
        if (!value_is_unknown(a) && !json_is_string(a)) {
            rc = fail(ctx, &it->key->loc, "type", "map keys must be strings, not a %s",
                      value_type_name(a));
        } else if (json_is_string(a) && json_object_get(m, json_string_value(a)) != NULL) {
            rc = ctx->sensitive ? fail(ctx, &it->key->loc, "duplicate",
                                       "duplicate map key (sensitive: not shown)")
                                : fail(ctx, &it->key->loc, "duplicate", "duplicate map key '%s'",
                                       json_string_value(a));
        } else if ((rc = eval_expr(&b, ctx, it->value)) == 0) {
            deferred |= value_is_unknown(a);
            if (!value_is_unknown(a))
                json_object_set(m, json_string_value(a), b);
            ents[n++] = (struct map_entry){a, b, &it->key->loc, key_sensitive};
            a = b = NULL; /* held by the entry */
        }
        json_decref(a);
        json_decref(b);
    }
    if (rc == 0)
        *out = deferred ? defer_map(ents, n) : json_incref(m);
    json_decref(m);
    for (size_t i = 0; i < n; i++) {
        json_decref(ents[i].key);
        json_decref(ents[i].value);
    }
    if (ents != small)
        free(ents);
    return rc;
}

/* A deferred map (eval_map), its keys now known; *dup (may be NULL) is
 * the entry whose key repeats an earlier one. */
static int map_values(json_t **out, const json_t *args, const json_t **dup)
{
    json_t *r = json_object(), *e;
    size_t i;
    json_array_foreach(args, i, e)
    {
        json_t *key = for_key_text(json_array_get(e, 0));
        bool ok = key != NULL && json_array_size(e) == 4 &&
                  json_object_get(r, json_string_value(key)) == NULL;
        if (ok)
            json_object_set(r, json_string_value(key), json_array_get(e, 1));
        else if (key && dup)
            *dup = e;
        json_decref(key);
        if (!ok)
            break;
    }
    if (i < json_array_size(args)) {
        json_decref(r);
        return AMLSEC_EPARSE;
    }
    *out = r;
    return 0;
}

int eval_deferred_why(struct buf *out, const json_t *v)
{
    const char *fn, *k;
    const json_t *args, *dup = NULL;
    json_t *x, *m = NULL;
    size_t i;
    if (value_unknown_call_parts(v, &fn, &args)) {
        if (eval_deferred_why(out, args))
            return 1;
        if (strcmp(fn, "{}") != 0 || value_contains_unknown(args))
            return 0;
        if (map_values(&m, args, &dup) == 0) {
            json_decref(m);
            return 0;
        }
        if (dup == NULL)
            buf_addf(out, "%s: map keys must be strings",
                     json_string_value(json_array_get(json_array_get(args, 0), 2)));
        else if (json_is_true(json_array_get(dup, 3)))
            buf_addf(out, "%s: duplicate map key (sensitive: not shown)",
                     json_string_value(json_array_get(dup, 2)));
        else
            buf_addf(out, "%s: duplicate map key '%s'", json_string_value(json_array_get(dup, 2)),
                     json_string_value(json_array_get(dup, 0)));
        return 1;
    }
    if (json_is_array(v)) {
        json_array_foreach(v, i, x) if (eval_deferred_why(out, x)) return 1;
    } else if (json_is_object(v)) {
        json_object_foreach((json_t *)v, k, x) if (eval_deferred_why(out, x)) return 1;
    }
    return 0;
}

/* An operator or conditional on values not all known yet: deferred like a
 * call (its "function" is the operator: "+", "==", "&&", "!", "neg", "?:")
 * when every unknown can be filled in later, else unknown for good. */
static json_t *defer_op(const char *op, json_t *a, json_t *b, json_t *c)
{
    json_t *args = json_array();
    json_t *v[3] = {a, b, c};
    for (int i = 0; i < 3 && args && v[i]; i++)
        if (!value_unknown_resolvable(v[i]) || json_array_append(args, v[i]) < 0) {
            json_decref(args);
            args = NULL;
        }
    return args ? value_unknown_call(op, args) : value_unknown();
}

/* `c ? x : y` with c unknown: both branches, evaluated quietly (an error in
 * either leaves the result unknown for good, as before). */
static json_t *defer_cond(struct eval_ctx *ctx, const struct ast_expr *e, json_t *c)
{
    struct diag_list *saved = ctx->diags, scratch;
    json_t *x = NULL, *y = NULL, *r;
    diag_list_init(&scratch);
    ctx->diags = &scratch;
    if (eval_expr(&x, ctx, e->u.cond.then) == 0 && eval_expr(&y, ctx, e->u.cond.otherwise) == 0)
        r = defer_op("?:", c, x, y);
    else
        r = value_unknown();
    ctx->diags = saved;
    diag_list_release(&scratch);
    json_decref(x);
    json_decref(y);
    return r;
}

/* -a for a number: -(-2^63) and -big exactly (NULL when out of memory). */
static json_t *negate(const json_t *a)
{
    BIGNUM *n;
    json_t *r;
    if (json_is_real(a))
        return value_number(-json_real_value(a));
    if (json_is_integer(a) && json_integer_value(a) != INT64_MIN)
        return json_integer(-json_integer_value(a));
    if ((n = value_to_bn(a)) == NULL)
        return NULL;
    BN_set_negative(n, !BN_is_negative(n));
    r = value_from_bn(n);
    BN_free(n);
    return r;
}

/* A deferred operator, its operands now known (eval_call_values). */
static int op_values(json_t **out, struct eval_ctx *ctx, const char *op, const json_t *args)
{
    static const struct {
        const char *text;
        enum ast_op op;
    } ops[] = {{"+", OP_ADD}, {"-", OP_SUB}, {"*", OP_MUL}, {"/", OP_DIV}, {"%", OP_MOD},
               {"<", OP_LT},  {"<=", OP_LE}, {">", OP_GT},  {">=", OP_GE}};
    const json_t *a = json_array_get(args, 0), *b = json_array_get(args, 1);
    size_t n = json_array_size(args);
    if (strcmp(op, "[]") == 0 && n >= 1)
        return steps_values(out, ctx, json_incref((json_t *)a), args, 1, n);
    if (strcmp(op, "[for]") == 0 || strcmp(op, "{for}") == 0 || strcmp(op, "{for...}") == 0)
        return for_values(out, op, args);
    if (strcmp(op, "{}") == 0)
        return map_values(out, args, NULL);
    if (strcmp(op, "?:") == 0 && n == 3) {
        if (!json_is_boolean(a))
            return AMLSEC_EPARSE;
        *out = json_incref(json_array_get(args, json_is_true(a) ? 1 : 2));
        return 0;
    }
    if ((strcmp(op, "!") == 0 || strcmp(op, "neg") == 0) && n == 1) {
        if (op[0] == '!' && json_is_boolean(a))
            *out = json_boolean(!json_is_true(a));
        else if (op[0] == 'n' && value_is_number(a))
            *out = negate(a);
        else
            return AMLSEC_EPARSE;
        return 0;
    }
    if (n != 2)
        return AMLSEC_EPARSE;
    if (strcmp(op, "&&") == 0 || strcmp(op, "||") == 0) {
        if (!json_is_boolean(a) || !json_is_boolean(b))
            return AMLSEC_EPARSE;
        *out = json_boolean(op[0] == '&' ? json_is_true(a) && json_is_true(b)
                                         : json_is_true(a) || json_is_true(b));
        return 0;
    }
    if (strcmp(op, "==") == 0 || strcmp(op, "!=") == 0) {
        bool eq = value_equal(a, b);
        *out = json_boolean(op[0] == '=' ? eq : !eq);
        return 0;
    }
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
        if (strcmp(op, ops[i].text) == 0) {
            struct ast_expr e, operand;
            memset(&e, 0, sizeof(e));
            memset(&operand, 0, sizeof(operand));
            e.kind = EXPR_BINARY;
            e.u.binary.op = ops[i].op;
            e.u.binary.lhs = e.u.binary.rhs = &operand;
            return eval_arith(out, ctx, &e, a, b);
        }
    return AMLSEC_EPARSE;
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
    case EXPR_NUMBER:
        *out = value_number(e->u.d);
        return *out ? 0 : fail(ctx, &e->loc, "arithmetic", "the number is not finite");
    case EXPR_BIGINT: {
        BIGNUM *n = NULL;
        if (BN_dec2bn(&n, e->u.str.s) == 0)
            return fail(ctx, &e->loc, "internal", "out of memory");
        if (BN_num_bits(n) > VALUE_BIG_BITS) {
            BN_free(n);
            return fail(ctx, &e->loc, "arithmetic",
                        "the number is too large: whole numbers are exact up to %d bits",
                        VALUE_BIG_BITS);
        }
        return big_result(out, ctx, &e->loc, "the number", n);
    }
    case EXPR_STRING:
        /* the lexer's strings are UTF-8 (the source is checked, escapes
         * are scalar values): jansson's check of every literal is skipped */
        *out = json_stringn_nocheck(e->u.str.s, e->u.str.len);
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
    case EXPR_MAP:
        return eval_map(out, ctx, e);
    case EXPR_TRAVERSAL:
        return eval_traversal(out, ctx, e);
    case EXPR_CALL:
        return eval_call(out, ctx, e);
    case EXPR_COND:
        if ((rc = eval_expr(&a, ctx, e->u.cond.cond)) < 0)
            return rc;
        if ((rc = want_bool(ctx, e->u.cond.cond, a, "the condition of '?'")) == 0) {
            if (value_is_unknown(a))
                *out = defer_cond(ctx, e, a);
            else
                rc = eval_expr(out, ctx, json_is_true(a) ? e->u.cond.then : e->u.cond.otherwise);
        }
        json_decref(a);
        return rc;
    case EXPR_UNARY:
        if ((rc = eval_expr(&a, ctx, e->u.unary.operand)) < 0)
            return rc;
        if (value_is_unknown(a) && e->u.unary.op != OP_EXPAND) {
            *out = defer_op(e->u.unary.op == OP_NOT ? "!" : "neg", a, NULL, NULL);
            json_decref(a);
            return 0;
        }
        if (e->u.unary.op == OP_EXPAND) {
            rc = fail(ctx, &e->loc, "syntax",
                      "'...' expands a list only as a function call's last argument");
        } else if (e->u.unary.op == OP_NOT) {
            if ((rc = want_bool(ctx, e->u.unary.operand, a, "'!'")) == 0)
                *out = json_boolean(!json_is_true(a));
        } else if (!value_is_number(a)) {
            rc = fail(ctx, &e->loc, "type", "'-' needs a number, not a %s", value_type_name(a));
        } else if ((*out = negate(a)) == NULL) {
            rc = fail(ctx, &e->loc, "internal", "out of memory");
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
                    *out = defer_op(e->u.binary.op == OP_AND ? "&&" : "||", a, b, NULL);
                else if (e->u.binary.op == OP_AND)
                    *out = json_boolean(json_is_true(a) && json_is_true(b));
                else
                    *out = json_boolean(json_is_true(a) || json_is_true(b));
            }
        } else if (value_contains_unknown(a) || value_contains_unknown(b)) {
            *out = defer_op(e->u.binary.op == OP_EQ   ? "=="
                            : e->u.binary.op == OP_NE ? "!="
                                                      : op_text(e->u.binary.op),
                            a, b, NULL);
        } else if (e->u.binary.op == OP_EQ || e->u.binary.op == OP_NE) {
            bool eq = value_equal(a, b);
            *out = json_boolean(e->u.binary.op == OP_EQ ? eq : !eq);
        } else {
            rc = eval_arith(out, ctx, e, a, b);
        }
        json_decref(a);
        json_decref(b);
        return rc;
    case EXPR_FOR:
        return eval_for(out, ctx, e);
    case EXPR_POSTFIX:
        return eval_postfix(out, ctx, e);
    }
    return fail(ctx, &e->loc, "internal", "unknown expression kind %d", (int)e->kind);
}
