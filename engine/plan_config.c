/* The configuration a plan was made from, as a saved plan carries it
 * (docs/plan-json.md: "configuration"): per resource block its address,
 * where it is written, and its expressions in Terraform's representation
 * (constant_value for literals, references for what an expression reads;
 * nested blocks as arrays of such objects); per module call its source,
 * arguments, variables and outputs, and the root module's. */
#include "engine/plan.h"

#include <stdlib.h>
#include <string.h>

#include "parser/ast.h"
#include "parser/source.h"
#include "parser/value.h"
#include "providers/arm/schema.h"
#include "util/buf.h"
#include "util/banned.h"

/* A literal expression's value, or NULL when it is not one (a reference,
 * a call, an operator, an interpolation). */
static json_t *constant_of(const struct ast_expr *e)
{
    switch (e->kind) {
    case EXPR_NULL:
        return json_null();
    case EXPR_BOOL:
        return json_boolean(e->u.b);
    case EXPR_INT:
        return json_integer((json_int_t)e->u.i);
    case EXPR_NUMBER:
        return value_number(e->u.d);
    case EXPR_BIGINT: { /* NULL past 512 bits: evaluation said so */
        BIGNUM *n = NULL;
        json_t *v = BN_dec2bn(&n, e->u.str.s) ? value_from_bn(n) : NULL;
        BN_free(n);
        return v;
    }
    case EXPR_STRING:
        return json_stringn(e->u.str.s, e->u.str.len);
    case EXPR_PAREN:
        return constant_of(e->u.paren);
    case EXPR_TEMPLATE: {
        struct buf b;
        json_t *out = NULL;
        buf_init(&b, (size_t)1 << 30);
        for (const struct ast_expr *p = e->u.tmpl.parts; p; p = p->next) {
            if (p->kind != EXPR_STRING) {
                buf_release(&b);
                return NULL;
            }
            buf_add(&b, p->u.str.s, p->u.str.len);
        }
        out = json_stringn(b.ptr ? b.ptr : "", b.len);
        buf_release(&b);
        return out;
    }
    case EXPR_LIST: {
        json_t *a = json_array();
        for (const struct ast_expr *x = e->u.list.items; x; x = x->next) {
            json_t *v = constant_of(x);
            if (v == NULL) {
                json_decref(a);
                return NULL;
            }
            json_array_append_new(a, v);
        }
        return a;
    }
    case EXPR_MAP: {
        json_t *o = json_object();
        for (const struct ast_map_item *it = e->u.map.items; it; it = it->next) {
            json_t *k = constant_of(it->key), *v = k ? constant_of(it->value) : NULL;
            if (v == NULL || !json_is_string(k)) {
                json_decref(k);
                json_decref(v);
                json_decref(o);
                return NULL;
            }
            json_object_set_new(o, json_string_value(k), v);
            json_decref(k);
        }
        return o;
    }
    default:
        return NULL;
    }
}

static void add_unique(json_t *refs, const char *s, size_t n)
{
    size_t i;
    json_t *x;
    json_array_foreach(refs, i, x)
    {
        if (json_string_length(x) == n && memcmp(json_string_value(x), s, n) == 0)
            return;
    }
    json_array_append_new(refs, json_stringn(s, n));
}

/* A traversal as Terraform lists it: the reference up to its first index
 * ("workspace.prod.identity"), then the object it belongs to
 * ("workspace.prod"; "existing.subnet.ml" for existing resources). */
static void add_traversal(json_t *refs, const struct ast_expr *e)
{
    struct buf b;
    size_t cut = 0, dots = 0, want;
    buf_init(&b, 1 << 16);
    buf_adds(&b, e->u.trav.root);
    want = strcmp(e->u.trav.root, "existing") == 0 ? 3 : 2;
    for (const struct ast_step *s = e->u.trav.steps; s && s->kind == STEP_ATTR; s = s->next) {
        buf_addf(&b, ".%s", s->name);
        if (++dots + 1 == want)
            cut = b.len;
    }
    if (b.ptr) {
        add_unique(refs, b.ptr, b.len);
        /* var.x, local.x, each.key: one name; resources: the object too */
        if (cut && cut < b.len && strcmp(e->u.trav.root, "var") != 0 &&
            strcmp(e->u.trav.root, "local") != 0 && strcmp(e->u.trav.root, "each") != 0)
            add_unique(refs, b.ptr, cut);
    }
    buf_release(&b);
}

/* Every reference an expression reads, in order, once each. Kinds this
 * walker does not know contribute what their locations cannot tell: none. */
static void collect_refs(json_t *refs, const struct ast_expr *e)
{
    if (e == NULL)
        return;
    switch (e->kind) {
    case EXPR_TRAVERSAL:
        add_traversal(refs, e);
        for (const struct ast_step *s = e->u.trav.steps; s; s = s->next)
            if (s->kind == STEP_INDEX)
                collect_refs(refs, s->index);
        break;
    case EXPR_TEMPLATE:
        for (const struct ast_expr *p = e->u.tmpl.parts; p; p = p->next)
            collect_refs(refs, p);
        break;
    case EXPR_LIST:
        for (const struct ast_expr *x = e->u.list.items; x; x = x->next)
            collect_refs(refs, x);
        break;
    case EXPR_MAP:
        for (const struct ast_map_item *it = e->u.map.items; it; it = it->next) {
            collect_refs(refs, it->key);
            collect_refs(refs, it->value);
        }
        break;
    case EXPR_CALL:
        for (const struct ast_expr *a = e->u.call.args; a; a = a->next)
            collect_refs(refs, a);
        break;
    case EXPR_COND:
        collect_refs(refs, e->u.cond.cond);
        collect_refs(refs, e->u.cond.then);
        collect_refs(refs, e->u.cond.otherwise);
        break;
    case EXPR_BINARY:
        collect_refs(refs, e->u.binary.lhs);
        collect_refs(refs, e->u.binary.rhs);
        break;
    case EXPR_UNARY:
        collect_refs(refs, e->u.unary.operand);
        break;
    case EXPR_PAREN:
        collect_refs(refs, e->u.paren);
        break;
    case EXPR_POSTFIX:
        collect_refs(refs, e->u.post.base);
        for (const struct ast_step *s = e->u.post.steps; s; s = s->next)
            if (s->kind == STEP_INDEX)
                collect_refs(refs, s->index);
        break;
    case EXPR_FOR: {
        /* what the body reads, but the loop's own variables */
        const struct ast_for *f = e->u.forx;
        json_t *inner = json_array(), *x;
        size_t i;
        collect_refs(inner, f->coll);
        collect_refs(inner, f->key);
        collect_refs(inner, f->value);
        collect_refs(inner, f->cond);
        json_array_foreach(inner, i, x)
        {
            const char *r = json_string_value(x);
            size_t n = strcspn(r, ".[");
            if ((f->key_var && strlen(f->key_var) == n && strncmp(r, f->key_var, n) == 0) ||
                (f->value_var && strlen(f->value_var) == n && strncmp(r, f->value_var, n) == 0))
                continue;
            add_unique(refs, r, json_string_length(x));
        }
        json_decref(inner);
        break;
    }
    default:
        break;
    }
}

/* Is the attribute at path secret (the catalogue's sensitive attributes,
 * the instance's sensitive paths)? Its constant value is then left out. */
static bool secret_path(const struct schema_kind *k, const json_t *sensitive, const char *path)
{
    const struct schema_attr *a = k ? schema_attr_find(k, path) : NULL;
    size_t i, n = strlen(path);
    const json_t *s;
    if (a && (a->flags & SF_SENSITIVE))
        return true;
    json_array_foreach(sensitive, i, s)
    {
        const char *sp = json_string_value(s);
        size_t m = sp ? strlen(sp) : 0;
        /* the path itself, something under it, or something above it */
        if (sp && ((m >= n && strncmp(sp, path, n) == 0 &&
                    (sp[n] == '\0' || sp[n] == '.' || sp[n] == '[')) ||
                   (m < n && strncmp(sp, path, m) == 0 && (path[m] == '.' || path[m] == '['))))
            return true;
    }
    return false;
}

static json_t *expression(const struct ast_expr *e, bool secret)
{
    json_t *refs = json_array(), *c;
    collect_refs(refs, e);
    if (json_array_size(refs) == 0 && (c = constant_of(e)) != NULL) {
        json_decref(refs);
        if (secret) {
            json_decref(c);
            return json_object(); /* Terraform leaves sensitive constants out */
        }
        return json_pack("{s:o}", "constant_value", c);
    }
    return json_pack("{s:o}", "references", refs);
}

static json_t *body_expressions(const struct ast_body *body, const struct schema_kind *k,
                                const json_t *sensitive, const char *prefix)
{
    json_t *o = json_object();
    char path[1024];
    for (const struct ast_attr *a = body->attrs; a; a = a->next) {
        if ((strcmp(a->name, "for_each") == 0 || strcmp(a->name, "count") == 0) &&
            prefix[0] == '\0')
            continue; /* for_each_expression, count_expression */
        snprintf(path, sizeof(path), "%s%s%s", prefix, prefix[0] ? "." : "", a->name);
        json_object_set_new(o, a->name, expression(a->value, secret_path(k, sensitive, path)));
    }
    for (const struct ast_block *b = body->blocks; b; b = b->next) {
        json_t *list;
        if (strcmp(b->type, "lifecycle") == 0 && prefix[0] == '\0')
            continue;
        snprintf(path, sizeof(path), "%s%s%s", prefix, prefix[0] ? "." : "", b->type);
        list = json_object_get(o, b->type);
        if (!json_is_array(list)) {
            list = json_array();
            json_object_set_new(o, b->type, list);
        }
        json_array_append_new(list, body_expressions(&b->body, k, sensitive, path));
    }
    return o;
}

/* A child declared by an attribute (cfg_implicit): its parent, that
 * attribute's expression and its constant name. */
static json_t *implicit_expressions(const struct cfg_resource *r, const struct schema_kind *k,
                                    const json_t *sensitive)
{
    const struct cfg_implicit *im = r->implicit;
    const struct ast_attr *a = r->block ? ast_body_attr(&r->block->body, im->attr) : NULL;
    const struct cfg_resource *parent = r->ndeps ? r->deps[0] : NULL;
    json_t *o = json_object();
    if (parent) {
        char ref[512];
        snprintf(ref, sizeof(ref), "%s.%s", parent->kind, parent->name);
        json_object_set_new(o, im->parent_attr, json_pack("{s:[s]}", "references", ref));
    }
    if (a)
        json_object_set_new(o, im->value_attr,
                            expression(a->value, secret_path(k, sensitive, im->value_attr)));
    json_object_set_new(o, "name", json_pack("{s:s}", "constant_value", im->name));
    return o;
}

static json_t *source_of(const struct ast_block *b)
{
    struct src_loc head;
    struct src_pos a, z;
    if (b == NULL || b->type_loc.file == NULL)
        return json_null();
    head = src_loc_make(b->type_loc.file, b->type_loc.begin,
                        b->open_loc.end ? b->open_loc.end : b->type_loc.end);
    a = src_loc_start(&head);
    z = src_loc_stop(&head);
    return json_pack("{s:s, s:i, s:i, s:i, s:i}", "file", b->type_loc.file->name, "line",
                     (json_int_t)a.line, "column", (json_int_t)a.col, "end_line",
                     (json_int_t)z.line, "end_column", (json_int_t)z.col);
}

json_t *plan_configuration_entry(const struct config *cfg, size_t i)
{
    const struct cfg_resource *r = &cfg->resources[i];
    const struct schema_kind *k = schema_find(r->kind);
    const json_t *sensitive = r->ninstances ? r->instances[0].sensitive : NULL;
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:o}", "address", r->address, "mode",
                          r->existing ? "data" : "managed", "type", r->kind, "name", r->name,
                          "source", source_of(r->block));
    const struct ast_attr *fe;
    /* a checked-only load keeps no bodies: no expressions to show */
    if (r->implicit)
        json_object_set_new(o, "expressions", implicit_expressions(r, k, sensitive));
    else
        json_object_set_new(o, "expressions",
                            r->block ? body_expressions(&r->block->body, k, sensitive, "")
                                     : json_object());
    if (r->block && (fe = ast_body_attr(&r->block->body, "for_each")) != NULL)
        json_object_set_new(o, "for_each_expression", expression(fe->value, false));
    if (r->block && (fe = ast_body_attr(&r->block->body, "count")) != NULL)
        json_object_set_new(o, "count_expression", expression(fe->value, false));
    if (r->ninstances > 1 || r->has_for_each) {
        /* every instance shares the block: any one's sensitive paths may differ */
        for (size_t j = 1; j < r->ninstances; j++)
            if (!json_equal(r->instances[j].sensitive, (json_t *)sensitive)) {
                json_object_set_new(o, "expressions", json_object());
                break;
            }
    }
    return o;
}

/* A module's variable and output blocks as Terraform's configuration
 * lists them: variables {NAME: {default?, description?, sensitive?}} (no
 * default when it is sensitive), outputs {NAME: {expression, description?,
 * sensitive?}}. */
static void module_interface(json_t *entry, const struct ast_file *files)
{
    json_t *vars = json_object(), *outs = json_object();
    for (const struct ast_file *f = files; f; f = f->next)
        for (const struct ast_block *b = f->body.blocks; b; b = b->next) {
            const struct ast_attr *d = ast_body_attr(&b->body, "description");
            const struct ast_attr *sa = ast_body_attr(&b->body, "sensitive");
            bool sens = sa && sa->value->kind == EXPR_BOOL && sa->value->u.b;
            json_t *o, *c;
            if (b->nlabels != 1 ||
                (strcmp(b->type, "variable") != 0 && strcmp(b->type, "output") != 0))
                continue;
            o = json_object();
            if (d && (c = constant_of(d->value)) != NULL)
                json_object_set_new(o, "description", c);
            if (sens)
                json_object_set_new(o, "sensitive", json_true());
            if (b->type[0] == 'v') {
                const struct ast_attr *def = ast_body_attr(&b->body, "default");
                if (def && !sens && (c = constant_of(def->value)) != NULL)
                    json_object_set_new(o, "default", c);
                json_object_set_new(vars, b->labels->text, o);
            } else {
                const struct ast_attr *v = ast_body_attr(&b->body, "value");
                json_object_set_new(o, "expression",
                                    v ? expression(v->value, sens) : json_object());
                json_object_set_new(outs, b->labels->text, o);
            }
        }
    json_object_set_new(entry, "variables", vars);
    json_object_set_new(entry, "outputs", outs);
}

/* Is a module variable declared sensitive (its argument's constant is then
 * left out of the call's expressions)? */
static bool sensitive_variable(const struct ast_file *files, const char *name)
{
    for (const struct ast_file *f = files; f; f = f->next)
        for (const struct ast_block *b = f->body.blocks; b; b = b->next)
            if (b->nlabels == 1 && strcmp(b->type, "variable") == 0 &&
                strcmp(b->labels->text, name) == 0) {
                const struct ast_attr *sa = ast_body_attr(&b->body, "sensitive");
                return sa && sa->value->kind == EXPR_BOOL && sa->value->u.b;
            }
    return false;
}

/* Walks a module path outside instance keys (quotes inside a key
 * respected): calls fn(i) at each character at depth 0; returns the
 * length of the parent's path (the last ".module." at depth 0; 0: the
 * root calls it). */
static size_t module_path_walk(const char *path, char *keep)
{
    size_t n = strlen(path), o = 0, parent = 0;
    int depth = 0;
    bool quoted = false;
    for (size_t i = 0; i < n; i++) {
        char ch = path[i];
        if (quoted) {
            if (ch == '\\' && i + 1 < n)
                i++;
            else if (ch == '"')
                quoted = false;
            continue;
        }
        if (ch == '[')
            depth++;
        else if (ch == ']')
            depth--;
        else if (ch == '"' && depth > 0)
            quoted = true;
        else if (depth == 0) {
            if (strncmp(path + i, ".module.", 8) == 0)
                parent = i;
            if (keep)
                keep[o++] = ch;
        }
    }
    if (keep)
        keep[o] = '\0';
    return parent;
}

char *plan_module_call_path(const char *path)
{
    char *out = malloc(strlen(path) + 1);
    if (out)
        module_path_walk(path, out);
    return out;
}

size_t plan_module_parent_len(const char *path)
{
    return module_path_walk(path, NULL);
}

/* One entry per module call (its first instance stands for every one:
 * they share the module's blocks), and one for the root module's
 * variables and outputs: {"module_call": "module.a.module.b" ("" for the
 * root), name, module_source, module_instance (the first instance's
 * path), expressions (the call's arguments), for_each_expression?,
 * count_expression?, depends_on?, variables, outputs}. They have no "address": readers of
 * resource entries pass them by. */
void plan_configuration_modules(json_t *out, const struct config *cfg)
{
    json_t *root = json_pack("{s:s}", "module_call", "");
    json_t *seen = json_object();
    module_interface(root, cfg->files);
    json_array_append_new(out, root);
    for (size_t i = 0; i < cfg->nmodules; i++) {
        const struct cfg_module *m = cfg->modules[i];
        const struct ast_block *call = m->call;
        const struct ast_attr *src = ast_body_attr(&call->body, "source");
        const struct ast_attr *fe = ast_body_attr(&call->body, "for_each");
        const struct ast_attr *deps = ast_body_attr(&call->body, "depends_on");
        char *cp = plan_module_call_path(m->path);
        json_t *e, *exprs;
        if (cp == NULL || json_object_get(seen, cp)) {
            free(cp);
            continue;
        }
        json_object_set_new(seen, cp, json_true());
        e = json_pack("{s:s, s:s, s:s}", "module_call", cp, "name", m->name, "module_instance",
                      m->path);
        if (src && src->value->kind == EXPR_STRING)
            json_object_set_new(e, "module_source",
                                json_stringn(src->value->u.str.s, src->value->u.str.len));
        exprs = json_object();
        for (const struct ast_attr *a = call->body.attrs; a; a = a->next)
            if (strcmp(a->name, "source") != 0 && strcmp(a->name, "for_each") != 0 &&
                strcmp(a->name, "count") != 0 && strcmp(a->name, "depends_on") != 0)
                json_object_set_new(exprs, a->name,
                                    expression(a->value, sensitive_variable(m->files, a->name)));
        json_object_set_new(e, "expressions", exprs);
        if (fe)
            json_object_set_new(e, "for_each_expression", expression(fe->value, false));
        if ((fe = ast_body_attr(&call->body, "count")) != NULL)
            json_object_set_new(e, "count_expression", expression(fe->value, false));
        if (deps) {
            json_t *refs = json_array();
            collect_refs(refs, deps->value);
            json_object_set_new(e, "depends_on", refs);
        }
        module_interface(e, m->files);
        json_array_append_new(out, e);
        free(cp);
    }
    json_decref(seen);
}

json_t *plan_configuration(const struct config *cfg)
{
    json_t *out = json_array();
    for (size_t i = 0; cfg && i < cfg->nresources; i++)
        json_array_append_new(out, plan_configuration_entry(cfg, i));
    if (cfg)
        plan_configuration_modules(out, cfg);
    return out;
}
