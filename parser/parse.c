#include "parser/parse.h"

#include <stdlib.h>
#include <string.h>

#include "grammar/parser.h"
#include "util/error.h"
#include "util/banned.h"

int aml_yyparse(struct parse_ctx *ctx);

static void *node(struct parse_ctx *ctx, size_t size)
{
    void *p = arena_alloc_align(ctx->nodes, size, _Alignof(struct ast_expr));
    if (p == NULL && !ctx->oom) {
        ctx->oom = true;
        diag_add(ctx->diags, DIAG_ERROR, NULL, "internal", "out of memory while parsing");
    }
    return p;
}

static struct ast_expr *expr_new(struct parse_ctx *ctx, enum ast_expr_kind kind,
                                 const struct src_loc *loc)
{
    struct ast_expr *e = node(ctx, sizeof(*e));
    static struct ast_expr oom_null; /* a harmless node after OOM */
    if (e == NULL) {
        memset(&oom_null, 0, sizeof(oom_null));
        return &oom_null;
    }
    e->kind = kind;
    e->loc = *loc;
    return e;
}

int aml_yylex(AML_YYSTYPE *val, AML_YYLTYPE *loc, struct parse_ctx *ctx)
{
    return lexer_next(&ctx->lx, val, loc);
}

void aml_yyerror(AML_YYLTYPE *loc, struct parse_ctx *ctx, const char *msg)
{
    /* After a fatal lexical error the lexer returns end of file; the parser's
     * complaint about that end is noise. */
    struct diag *d;
    if (ctx->lx.failed)
        return;
    d = diag_add(ctx->diags, DIAG_ERROR, loc, "syntax", "%s", msg);
    /* a dotted name where a statement starts: name.first = "a" */
    if (d && ctx->lx.last == TOK_TRAV && strstr(msg, "unexpected reference, expecting") &&
        strstr(msg, "identifier"))
        diag_set_hint(d, "names of attributes and blocks have no '.'; nest a block instead: "
                         "name { first = ... }");
    else if (d && strstr(msg, "expecting '*' or identifier or number"))
        diag_set_hint(d, "after '.' comes a name (a.b), a whole number from 0 (a.0, the same as "
                         "a[0]) or '*' (a.*.b)");
    else if (d && lexer_in_for(&ctx->lx))
        diag_set_hint(d, "a for expression is [for V in LIST : VALUE if COND] or "
                         "{for K, V in MAP : KEY => VALUE if COND}; 'if COND' is optional");
}

bool parse_too_many_errors(struct parse_ctx *ctx)
{
    return ctx->diags->max_errors && ctx->diags->errors >= ctx->diags->max_errors;
}

struct body_builder *parse_body_new(struct parse_ctx *ctx)
{
    return node(ctx, sizeof(struct body_builder));
}

struct body_builder *parse_file_body(struct parse_ctx *ctx)
{
    struct body_builder *b = arena_alloc_align(ctx->arena, sizeof(*b), _Alignof(struct ast_expr));
    if (b == NULL && !ctx->oom) {
        ctx->oom = true;
        diag_add(ctx->diags, DIAG_ERROR, NULL, "internal", "out of memory while parsing");
    }
    return b;
}

struct ast_block *parse_top_block(struct parse_ctx *ctx, struct ast_block *b,
                                  bool lookahead_in_arena)
{
    struct ast_block *kept = b;
    if (b && ctx->hooks && ctx->hooks->top_block)
        kept = ctx->hooks->top_block(ctx->hooks->payload, b);
    if (ctx->nodes != &ctx->scratch)
        return kept;
    if (kept == b)
        arena_adopt(ctx->arena, &ctx->scratch);
    else if (!lookahead_in_arena)
        arena_reset(&ctx->scratch);
    /* else the token read ahead lives in scratch: released with the next block */
    return kept;
}

struct ast_attr *parse_top_attr(struct parse_ctx *ctx, struct ast_attr *a)
{
    if (ctx->nodes == &ctx->scratch)
        arena_adopt(ctx->arena, &ctx->scratch);
    return a;
}

void parse_body_add(struct parse_ctx *ctx, struct body_builder *b, struct ast_attr *a,
                    struct ast_block *blk)
{
    (void)ctx;
    if (b == NULL)
        return;
    if (a) {
        if (b->attr_tail)
            b->attr_tail->next = a;
        else
            b->body.attrs = a;
        b->attr_tail = a;
        b->body.nattrs++;
    }
    if (blk) {
        if (b->block_tail)
            b->block_tail->next = blk;
        else
            b->body.blocks = blk;
        b->block_tail = blk;
        b->body.nblocks++;
    }
}

void parse_finish_file(struct parse_ctx *ctx, struct body_builder *b, struct ast_attr *a,
                       struct ast_block *blk)
{
    parse_body_add(ctx, b, a, blk);
    if (ctx->file && b)
        ctx->file->body = b->body;
}

struct ast_attr *parse_attr(struct parse_ctx *ctx, const char *name, const struct src_loc *nloc,
                            struct ast_expr *value, const struct src_loc *loc)
{
    struct ast_attr *a = node(ctx, sizeof(*a));
    if (a == NULL)
        return NULL;
    (void)nloc; /* the name starts loc: ast_attr_name_loc */
    a->name = name;
    a->value = value;
    a->loc = *loc;
    return a;
}

void parse_colon_hint(struct parse_ctx *ctx, const struct src_loc *loc, const char *name)
{
    struct diag *d = diag_add(ctx->diags, DIAG_ERROR, loc, "syntax",
                              "unexpected ':' after '%s', expecting '='", name);
    if (d)
        diag_set_hint(d, "attributes are assigned with '=': %s = ...", name);
}

struct ast_block *parse_block(struct parse_ctx *ctx, const char *type, const struct src_loc *tloc,
                              struct ast_label *labels, const struct src_loc *open,
                              struct body_builder *b, struct ast_attr *last_attr,
                              struct ast_block *last_block, const struct src_loc *loc)
{
    struct ast_block *blk = node(ctx, sizeof(*blk));
    struct ast_label *rev = NULL;
    if (blk == NULL)
        return NULL;
    parse_body_add(ctx, b, last_attr, last_block);
    blk->type = type;
    blk->type_loc = *tloc;
    while (labels) {
        struct ast_label *next = labels->next;
        labels->next = rev;
        rev = labels;
        labels = next;
        blk->nlabels++;
    }
    blk->labels = rev;
    if (b)
        blk->body = b->body;
    blk->open_loc = *open;
    blk->loc = *loc;
    return blk;
}

struct ast_label *parse_label(struct parse_ctx *ctx, struct ast_label *list, const char *text,
                              bool quoted, const struct src_loc *loc)
{
    struct ast_label *l = node(ctx, sizeof(*l));
    if (l == NULL)
        return list;
    l->text = text;
    l->quoted = quoted;
    l->loc = *loc;
    l->next = list;
    return l;
}

struct ast_expr *parse_cond(struct parse_ctx *ctx, struct ast_expr *c, struct ast_expr *a,
                            struct ast_expr *b, const struct src_loc *loc)
{
    struct ast_expr *e = expr_new(ctx, EXPR_COND, loc);
    e->u.cond.cond = c;
    e->u.cond.then = a;
    e->u.cond.otherwise = b;
    return e;
}

struct ast_expr *parse_binary(struct parse_ctx *ctx, enum ast_op op, struct ast_expr *l,
                              struct ast_expr *r, const struct src_loc *loc)
{
    struct ast_expr *e = expr_new(ctx, EXPR_BINARY, loc);
    e->u.binary.op = op;
    e->u.binary.lhs = l;
    e->u.binary.rhs = r;
    return e;
}

struct ast_expr *parse_unary(struct parse_ctx *ctx, enum ast_op op, struct ast_expr *x,
                             const struct src_loc *loc)
{
    struct ast_expr *e;
    /* -5 is a literal, so fmt and messages see the number */
    if (op == OP_NEG && x && x->kind == EXPR_INT) {
        x->u.i = -x->u.i;
        x->loc = *loc;
        return x;
    }
    if (op == OP_NEG && x && x->kind == EXPR_BIGINT) {
        size_t n = x->u.str.len;
        char *s;
        if (n == 19 && memcmp(x->u.str.s, "9223372036854775808", 19) == 0) {
            x->kind = EXPR_INT; /* -2^63 */
            x->u.i = INT64_MIN;
        } else if (x->u.str.s[0] == '-') {
            x->u.str.s++;
            x->u.str.len--;
        } else if ((s = node(ctx, n + 2)) != NULL) {
            s[0] = '-';
            memcpy(s + 1, x->u.str.s, n);
            s[n + 1] = '\0';
            x->u.str.s = s;
            x->u.str.len = n + 1;
        }
        x->loc = *loc;
        return x;
    }
    if (op == OP_NEG && x && x->kind == EXPR_NUMBER) {
        x->u.d = -x->u.d;
        x->loc = *loc;
        return x;
    }
    e = expr_new(ctx, EXPR_UNARY, loc);
    e->u.unary.op = op;
    e->u.unary.operand = x;
    return e;
}

struct ast_for *parse_for_head(struct parse_ctx *ctx, const char *key, const struct src_loc *kloc,
                               const char *value, const struct src_loc *vloc, struct ast_expr *coll)
{
    struct ast_for *f = node(ctx, sizeof(*f));
    if (f == NULL)
        return NULL;
    memset(f, 0, sizeof(*f));
    f->key_var = key;
    if (kloc)
        f->key_loc = *kloc;
    f->value_var = value;
    f->value_loc = *vloc;
    f->coll = coll;
    return f;
}

struct ast_expr *parse_for(struct parse_ctx *ctx, struct ast_for *head, struct ast_expr *key,
                           struct ast_expr *value, bool grouping, struct ast_expr *cond,
                           const struct src_loc *loc)
{
    struct ast_expr *e;
    if (head == NULL) /* out of memory: reported */
        return expr_new(ctx, EXPR_NULL, loc);
    e = expr_new(ctx, EXPR_FOR, loc);
    head->key = key;
    head->value = value;
    head->cond = cond;
    head->is_map = key != NULL;
    head->grouping = grouping;
    e->u.forx = head;
    return e;
}

struct ast_expr *parse_expand_last(struct parse_ctx *ctx, struct ast_expr *rev_args,
                                   const struct src_loc *dots)
{
    struct src_loc loc = rev_args->loc;
    struct ast_expr *e;
    loc.end = dots->end;
    e = expr_new(ctx, EXPR_UNARY, &loc);
    if (e->kind != EXPR_UNARY) /* out of memory: reported */
        return rev_args;
    e->u.unary.op = OP_EXPAND;
    e->u.unary.operand = rev_args;
    e->next = rev_args->next;
    rev_args->next = NULL;
    return e;
}

struct ast_expr *parse_int(struct parse_ctx *ctx, int64_t v, const struct src_loc *loc)
{
    struct ast_expr *e = expr_new(ctx, EXPR_INT, loc);
    e->u.i = v;
    return e;
}

struct ast_expr *parse_number(struct parse_ctx *ctx, double v, const struct src_loc *loc)
{
    struct ast_expr *e = expr_new(ctx, EXPR_NUMBER, loc);
    e->u.d = v;
    return e;
}

struct ast_expr *parse_bool(struct parse_ctx *ctx, bool v, const struct src_loc *loc)
{
    struct ast_expr *e = expr_new(ctx, EXPR_BOOL, loc);
    e->u.b = v;
    return e;
}

struct ast_expr *parse_null(struct parse_ctx *ctx, const struct src_loc *loc)
{
    return expr_new(ctx, EXPR_NULL, loc);
}

static struct ast_expr *reverse(struct ast_expr *list, size_t *n)
{
    struct ast_expr *rev = NULL;
    *n = 0;
    while (list) {
        struct ast_expr *next = list->next;
        list->next = rev;
        rev = list;
        list = next;
        (*n)++;
    }
    return rev;
}

struct ast_expr *parse_call(struct parse_ctx *ctx, const char *name, const struct src_loc *nloc,
                            struct ast_expr *args, const struct src_loc *loc)
{
    struct ast_expr *e = expr_new(ctx, EXPR_CALL, loc);
    (void)nloc; /* the name starts loc: ast_call_name_loc */
    e->u.call.name = name;
    e->u.call.args = reverse(args, &e->u.call.n);
    return e;
}

struct ast_expr *parse_paren(struct parse_ctx *ctx, struct ast_expr *x, const struct src_loc *loc)
{
    struct ast_expr *e = expr_new(ctx, EXPR_PAREN, loc);
    e->u.paren = x;
    return e;
}

struct ast_expr *parse_traversal(struct parse_ctx *ctx, const char *root, const struct src_loc *loc)
{
    struct ast_expr *e = expr_new(ctx, EXPR_TRAVERSAL, loc);
    e->u.trav.root = root;
    return e;
}

/* Appends step s to e's steps: a reference's traversal, or the steps of a
 * postfix; any other expression becomes the base of a new postfix, so that
 * f(x).a[0] is one EXPR_POSTFIX with two steps. Returns the expression the
 * step now belongs to (e after out of memory: reported). */
static struct ast_expr *add_step(struct parse_ctx *ctx, struct ast_expr *e, struct ast_step *s,
                                 const struct src_loc *loc)
{
    struct ast_step **tail;
    size_t *n;
    if (e->kind != EXPR_TRAVERSAL && e->kind != EXPR_POSTFIX) {
        struct ast_expr *p = expr_new(ctx, EXPR_POSTFIX, loc);
        if (p->kind != EXPR_POSTFIX)
            return e;
        p->u.post.base = e;
        e = p;
    }
    tail = e->kind == EXPR_TRAVERSAL ? &e->u.trav.steps : &e->u.post.steps;
    n = e->kind == EXPR_TRAVERSAL ? &e->u.trav.n : &e->u.post.n;
    while (*tail)
        tail = &(*tail)->next;
    *tail = s;
    (*n)++;
    e->loc = *loc;
    return e;
}

struct ast_expr *parse_step_attr(struct parse_ctx *ctx, struct ast_expr *t, const char *name,
                                 const struct src_loc *nloc, const struct src_loc *loc)
{
    struct ast_step *s = node(ctx, sizeof(*s));
    if (s == NULL)
        return t;
    s->next = NULL;
    s->kind = STEP_ATTR;
    s->name = name;
    s->loc = *nloc;
    return add_step(ctx, t, s, loc);
}

struct ast_expr *parse_step_index(struct parse_ctx *ctx, struct ast_expr *t, struct ast_expr *index,
                                  const struct src_loc *iloc, bool legacy,
                                  const struct src_loc *loc)
{
    struct ast_step *s = node(ctx, sizeof(*s));
    if (s == NULL)
        return t;
    s->next = NULL;
    s->kind = STEP_INDEX;
    s->legacy = legacy;
    s->index = index;
    s->loc = *iloc;
    return add_step(ctx, t, s, loc);
}

/* Whether the steps of t end inside an attribute-only splat's own steps
 * (a.*, a.*.b, a.*.b.0). */
static bool in_attr_splat(const struct ast_expr *t)
{
    const struct ast_step *s = t->kind == EXPR_TRAVERSAL ? t->u.trav.steps
                               : t->kind == EXPR_POSTFIX ? t->u.post.steps
                                                         : NULL;
    bool in = false;
    for (; s; s = s->next)
        if (s->kind == STEP_SPLAT)
            in = s->legacy;
        else if (s->kind == STEP_INDEX && !s->legacy)
            in = false;
    return in;
}

struct ast_expr *parse_step_splat(struct parse_ctx *ctx, struct ast_expr *t,
                                  const struct src_loc *open, bool attr_only,
                                  const struct src_loc *loc)
{
    struct ast_step *s = node(ctx, sizeof(*s));
    if (s == NULL)
        return t;
    memset(s, 0, sizeof(*s));
    s->kind = STEP_SPLAT;
    s->legacy = attr_only;
    s->loc = *open;
    s->loc.end = loc->end;
    if (attr_only && in_attr_splat(t)) {
        struct diag *d = diag_add(ctx->diags, DIAG_ERROR, &s->loc, "syntax",
                                  "a splat '.*' cannot be used inside another '.*' splat's steps");
        if (d)
            diag_set_hint(d, "use the full splat for the outer one: a[*].b.*.c, or a for "
                             "expression");
    }
    return add_step(ctx, t, s, loc);
}

/* <<-EOT: remove the indentation common to every non-blank line. Line starts
 * are the template's beginning and every byte after a newline in a literal
 * part; a line that starts with an interpolation has no indentation. */
static void dedent(struct parse_ctx *ctx, struct ast_expr **seq, size_t n)
{
    size_t min = (size_t)-1;
    bool at_start = true;

    for (size_t k = 0; k < n; k++) {
        struct ast_expr *p = seq[k];
        if (p->kind != EXPR_STRING) {
            if (at_start)
                min = 0;
            at_start = false;
            continue;
        }
        for (size_t i = 0; i < p->u.str.len;) {
            if (at_start) {
                size_t w = 0;
                while (i + w < p->u.str.len &&
                       (p->u.str.s[i + w] == ' ' || p->u.str.s[i + w] == '\t'))
                    w++;
                /* blank lines do not count */
                if (!(i + w < p->u.str.len && p->u.str.s[i + w] == '\n') &&
                    !(i + w == p->u.str.len && k + 1 == n) && w < min)
                    min = w;
                at_start = false;
                i += w;
                continue;
            }
            if (p->u.str.s[i++] == '\n')
                at_start = true;
        }
    }
    if (min == (size_t)-1 || min == 0)
        return;
    at_start = true;
    for (size_t k = 0; k < n; k++) {
        struct ast_expr *p = seq[k];
        struct buf out;
        if (p->kind != EXPR_STRING) {
            at_start = false;
            continue;
        }
        buf_init(&out, 0);
        for (size_t i = 0; i < p->u.str.len;) {
            if (at_start) {
                size_t w = 0;
                while (w < min && i + w < p->u.str.len &&
                       (p->u.str.s[i + w] == ' ' || p->u.str.s[i + w] == '\t'))
                    w++;
                i += w;
                at_start = false;
                continue;
            }
            buf_addch(&out, p->u.str.s[i]);
            if (p->u.str.s[i++] == '\n')
                at_start = true;
        }
        p->u.str.s = arena_strndup(ctx->nodes, out.ptr, out.len);
        p->u.str.len = out.len;
        if (p->u.str.s == NULL) {
            p->u.str.s = "";
            p->u.str.len = 0;
        }
        buf_release(&out);
    }
}

/* The parts of a template in source order, directive bodies included
 * (a directive itself stands between them as a non-string part): what
 * dedent and the strip markers see. */
static void seq_push(struct ast_expr ***seq, size_t *n, size_t *cap, struct ast_expr *p)
{
    if (*n == *cap) {
        size_t c = *cap ? 2 * *cap : 16;
        struct ast_expr **v = realloc(*seq, c * sizeof(*v));
        if (v == NULL)
            return; /* out of memory: some text not dedented or stripped */
        *seq = v;
        *cap = c;
    }
    (*seq)[(*n)++] = p;
}

static void flatten(struct ast_expr *parts, struct ast_expr ***seq, size_t *n, size_t *cap)
{
    for (struct ast_expr *p = parts; p; p = p->next) {
        seq_push(seq, n, cap, p); /* a part, or the directive's opening */
        if (p->kind == EXPR_COND && p->u.cond.then->kind == EXPR_TEMPLATE &&
            p->u.cond.then->u.tmpl.directive) {
            flatten(p->u.cond.then->u.tmpl.parts, seq, n, cap);
            seq_push(seq, n, cap, p); /* %{ else } */
            flatten(p->u.cond.otherwise->u.tmpl.parts, seq, n, cap);
            seq_push(seq, n, cap, p); /* %{ endif } */
        } else if (p->kind == EXPR_CALL && p->u.call.n == 2 &&
                   p->u.call.args->next->kind == EXPR_FOR &&
                   p->u.call.args->next->u.forx->value->kind == EXPR_TEMPLATE &&
                   p->u.call.args->next->u.forx->value->u.tmpl.directive) {
            flatten(p->u.call.args->next->u.forx->value->u.tmpl.parts, seq, n, cap);
            seq_push(seq, n, cap, p); /* %{ endfor } */
        }
    }
}

/* Applies the strip markers the lexer set on the text (`${~`, `~}`). */
static void strip_text(struct ast_expr **seq, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        struct ast_expr *p = seq[k];
        if (p->kind != EXPR_STRING)
            continue;
        if (p->u.str.strip & AST_STRIP_LEADING)
            while (p->u.str.len && strchr(" \t\r\n", p->u.str.s[0])) {
                p->u.str.s++;
                p->u.str.len--;
            }
        if (p->u.str.strip & AST_STRIP_TRAILING)
            while (p->u.str.len && strchr(" \t\r\n", p->u.str.s[p->u.str.len - 1]))
                p->u.str.len--;
    }
}

struct ast_expr *parse_template(struct parse_ctx *ctx, struct ast_expr *rev_parts, bool heredoc,
                                bool indent, const struct src_loc *loc)
{
    struct ast_expr *e = expr_new(ctx, EXPR_TEMPLATE, loc);
    e->u.tmpl.parts = reverse(rev_parts, &e->u.tmpl.n);
    e->u.tmpl.heredoc = heredoc;
    {
        struct ast_expr **seq = NULL;
        size_t n = 0, cap = 0;
        flatten(e->u.tmpl.parts, &seq, &n, &cap);
        if (heredoc && indent)
            dedent(ctx, seq, n);
        strip_text(seq, n);
        free(seq);
    }
    return e;
}

/* The body of a template directive: a template of its own (not dedented
 * here: the heredoc around it dedents every line, bodies included). */
static struct ast_expr *directive_body(struct parse_ctx *ctx, struct ast_expr *rev_parts,
                                       const struct src_loc *loc)
{
    struct ast_expr *e = expr_new(ctx, EXPR_TEMPLATE, loc);
    e->u.tmpl.parts = reverse(rev_parts, &e->u.tmpl.n);
    e->u.tmpl.directive = true;
    return e;
}

struct ast_expr *parse_tmpl_if(struct parse_ctx *ctx, struct ast_expr *cond,
                               struct ast_expr *rev_then, bool has_else, struct ast_expr *rev_else,
                               const struct src_loc *from, const struct src_loc *to)
{
    struct src_loc loc = *from;
    loc.end = to->end;
    (void)has_else;
    return parse_cond(ctx, cond, directive_body(ctx, rev_then, &loc),
                      directive_body(ctx, rev_else, &loc), &loc);
}

struct ast_expr *parse_tmpl_for(struct parse_ctx *ctx, struct ast_for *head,
                                struct ast_expr *rev_body, const struct src_loc *from,
                                const struct src_loc *to)
{
    struct src_loc loc = *from;
    struct ast_expr *sep, *each;
    loc.end = to->end;
    /* join("", [for x in coll : "body"]) */
    each = parse_for(ctx, head, NULL, directive_body(ctx, rev_body, &loc), false, NULL, &loc);
    sep = expr_new(ctx, EXPR_STRING, &loc);
    sep->u.str.s = "";
    sep->u.str.len = 0;
    return parse_call(ctx, "join", &loc, parse_append(ctx, parse_append(ctx, NULL, sep), each),
                      &loc);
}

struct ast_expr *parse_append(struct parse_ctx *ctx, struct ast_expr *rev_list, struct ast_expr *e)
{
    (void)ctx;
    if (e == NULL)
        return rev_list;
    e->next = rev_list;
    return e;
}

struct ast_expr *parse_list(struct parse_ctx *ctx, struct ast_expr *rev_items,
                            const struct src_loc *loc)
{
    struct ast_expr *e = expr_new(ctx, EXPR_LIST, loc);
    e->u.list.items = reverse(rev_items, &e->u.list.n);
    return e;
}

struct ast_expr *parse_map(struct parse_ctx *ctx, struct ast_map_item *rev_items,
                           const struct src_loc *loc)
{
    struct ast_expr *e = expr_new(ctx, EXPR_MAP, loc);
    struct ast_map_item *rev = NULL;
    while (rev_items) {
        struct ast_map_item *next = rev_items->next;
        rev_items->next = rev;
        rev = rev_items;
        rev_items = next;
        e->u.map.n++;
    }
    e->u.map.items = rev;
    return e;
}

struct ast_map_item *parse_map_append(struct parse_ctx *ctx, struct ast_map_item *rev_items,
                                      struct ast_map_item *item)
{
    (void)ctx;
    if (item == NULL)
        return rev_items;
    item->next = rev_items;
    return item;
}

struct ast_map_item *parse_map_item(struct parse_ctx *ctx, struct ast_expr *key,
                                    struct ast_expr *value, const struct src_loc *loc)
{
    struct ast_map_item *m = node(ctx, sizeof(*m));
    if (m == NULL)
        return NULL;
    m->key = key;
    m->value = value;
    m->loc = *loc;
    return m;
}

struct ast_expr *parse_key_ident(struct parse_ctx *ctx, const char *name, const struct src_loc *loc)
{
    struct ast_expr *e = expr_new(ctx, EXPR_STRING, loc);
    e->u.str.s = name ? name : "";
    e->u.str.len = strlen(e->u.str.s);
    return e;
}

int parse_file(struct ast_file **out, const struct src_file *src, struct arena *arena,
               struct diag_list *diags)
{
    return parse_file_hooked(out, src, arena, diags, NULL);
}

int parse_file_hooked(struct ast_file **out, const struct src_file *src, struct arena *arena,
                      struct diag_list *diags, const struct parse_hooks *hooks)
{
    struct parse_ctx ctx;
    /* Errors dropped because the list is full still make the parse fail. */
    size_t errors_before = diags->errors + diags->dropped;

    memset(&ctx, 0, sizeof(ctx));
    ctx.arena = arena;
    ctx.nodes = hooks && hooks->outline ? &ctx.scratch : arena;
    arena_init(&ctx.scratch);
    ctx.hooks = hooks;
    ctx.diags = diags;
    ctx.src = src;
    ctx.file = arena_alloc(arena, sizeof(*ctx.file));
    if (ctx.file == NULL)
        return AMLSEC_ENOMEM;
    ctx.file->src = src;
    *out = ctx.file;
    if (!lexer_check_encoding(src, diags))
        return AMLSEC_EPARSE;
    lexer_init(&ctx.lx, src, arena, diags);
    ctx.lx.nodes = ctx.nodes;
    ctx.lx.join_traversals = true;
    if (aml_yyparse(&ctx) != 0 && diags->errors + diags->dropped == errors_before)
        diag_add(diags, DIAG_ERROR, NULL, "syntax", "'%s' could not be parsed", src->name);
    lexer_release(&ctx.lx);
    arena_release(&ctx.scratch); /* what no kept block refers to */
    return diags->errors + diags->dropped > errors_before ? AMLSEC_EPARSE : 0;
}
