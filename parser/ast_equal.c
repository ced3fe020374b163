#include "parser/ast_equal.h"

#include <string.h>

#include "util/banned.h"

static bool str_equal(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a, b) == 0;
}

static bool list_equal(const struct ast_expr *a, const struct ast_expr *b)
{
    for (; a && b; a = a->next, b = b->next)
        if (!ast_expr_equal(a, b))
            return false;
    return a == NULL && b == NULL;
}

static bool steps_equal(const struct ast_step *a, const struct ast_step *b)
{
    for (; a && b; a = a->next, b = b->next) {
        if (a->kind != b->kind || a->legacy != b->legacy) /* a.*.b[0] is not a[*].b[0] */
            return false;
        if (a->kind == STEP_ATTR ? !str_equal(a->name, b->name)
                                 : !ast_expr_equal(a->index, b->index))
            return false;
    }
    return a == NULL && b == NULL;
}

static bool map_equal(const struct ast_map_item *a, const struct ast_map_item *b)
{
    for (; a && b; a = a->next, b = b->next)
        if (!ast_expr_equal(a->key, b->key) || !ast_expr_equal(a->value, b->value))
            return false;
    return a == NULL && b == NULL;
}

bool ast_expr_equal(const struct ast_expr *a, const struct ast_expr *b)
{
    /* Left-associative operator chains (a && b && c ...) nest to the left
     * without bound, so the left operand is followed in a loop, not by
     * recursion. */
    for (;;) {
        if (a == NULL || b == NULL)
            return a == b;
        if (a->kind != b->kind)
            return false;
        switch (a->kind) {
        case EXPR_NULL:
            return true;
        case EXPR_BOOL:
            return a->u.b == b->u.b;
        case EXPR_INT:
            return a->u.i == b->u.i;
        case EXPR_NUMBER:
            return a->u.d == b->u.d;
        case EXPR_BIGINT:
        case EXPR_STRING:
            return a->u.str.len == b->u.str.len &&
                   (a->u.str.len == 0 || memcmp(a->u.str.s, b->u.str.s, a->u.str.len) == 0);
        case EXPR_TEMPLATE:
            return a->u.tmpl.heredoc == b->u.tmpl.heredoc && a->u.tmpl.n == b->u.tmpl.n &&
                   list_equal(a->u.tmpl.parts, b->u.tmpl.parts);
        case EXPR_LIST:
            return a->u.list.n == b->u.list.n && list_equal(a->u.list.items, b->u.list.items);
        case EXPR_MAP:
            return a->u.map.n == b->u.map.n && map_equal(a->u.map.items, b->u.map.items);
        case EXPR_TRAVERSAL:
            return str_equal(a->u.trav.root, b->u.trav.root) && a->u.trav.n == b->u.trav.n &&
                   steps_equal(a->u.trav.steps, b->u.trav.steps);
        case EXPR_CALL:
            return str_equal(a->u.call.name, b->u.call.name) && a->u.call.n == b->u.call.n &&
                   list_equal(a->u.call.args, b->u.call.args);
        case EXPR_COND:
            if (!ast_expr_equal(a->u.cond.then, b->u.cond.then) ||
                !ast_expr_equal(a->u.cond.otherwise, b->u.cond.otherwise))
                return false;
            a = a->u.cond.cond;
            b = b->u.cond.cond;
            continue;
        case EXPR_BINARY:
            if (a->u.binary.op != b->u.binary.op ||
                !ast_expr_equal(a->u.binary.rhs, b->u.binary.rhs))
                return false;
            a = a->u.binary.lhs;
            b = b->u.binary.lhs;
            continue;
        case EXPR_UNARY:
            if (a->u.unary.op != b->u.unary.op)
                return false;
            a = a->u.unary.operand;
            b = b->u.unary.operand;
            continue;
        case EXPR_PAREN:
            a = a->u.paren;
            b = b->u.paren;
            continue;
        case EXPR_POSTFIX:
            if (a->u.post.n != b->u.post.n || !steps_equal(a->u.post.steps, b->u.post.steps))
                return false;
            a = a->u.post.base;
            b = b->u.post.base;
            continue;
        case EXPR_FOR: {
            const struct ast_for *x = a->u.forx, *y = b->u.forx;
            return x->is_map == y->is_map && x->grouping == y->grouping &&
                   str_equal(x->key_var, y->key_var) && str_equal(x->value_var, y->value_var) &&
                   ast_expr_equal(x->coll, y->coll) && ast_expr_equal(x->key, y->key) &&
                   ast_expr_equal(x->value, y->value) && ast_expr_equal(x->cond, y->cond);
        }
        }
        return false;
    }
}

static bool labels_equal(const struct ast_label *a, const struct ast_label *b)
{
    for (; a && b; a = a->next, b = b->next)
        if (a->quoted != b->quoted || !str_equal(a->text, b->text))
            return false;
    return a == NULL && b == NULL;
}

bool ast_body_equal(const struct ast_body *a, const struct ast_body *b)
{
    const struct ast_attr *x, *y;
    const struct ast_block *p, *q;

    if (a->nattrs != b->nattrs || a->nblocks != b->nblocks)
        return false;
    for (x = a->attrs, y = b->attrs; x && y; x = x->next, y = y->next)
        if (!str_equal(x->name, y->name) || !ast_expr_equal(x->value, y->value))
            return false;
    if (x || y)
        return false;
    for (p = a->blocks, q = b->blocks; p && q; p = p->next, q = q->next)
        if (!str_equal(p->type, q->type) || p->nlabels != q->nlabels ||
            !labels_equal(p->labels, q->labels) || !ast_body_equal(&p->body, &q->body))
            return false;
    return p == NULL && q == NULL;
}

bool ast_file_equal(const struct ast_file *a, const struct ast_file *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return ast_body_equal(&a->body, &b->body);
}
