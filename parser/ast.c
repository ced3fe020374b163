#include "parser/ast.h"

#include <string.h>

#include "util/arena.h"
#include "util/banned.h"

const struct ast_attr *ast_body_attr(const struct ast_body *b, const char *name)
{
    for (const struct ast_attr *a = b->attrs; a; a = a->next)
        if (strcmp(a->name, name) == 0)
            return a;
    return NULL;
}

const struct ast_block *ast_body_block(const struct ast_body *b, const char *type)
{
    for (const struct ast_block *k = b->blocks; k; k = k->next)
        if (strcmp(k->type, type) == 0)
            return k;
    return NULL;
}

static struct src_loc name_at_start(const struct src_loc *loc, const char *name)
{
    return src_loc_make(loc->file, loc->begin, loc->begin + (uint32_t)strlen(name));
}

struct src_loc ast_attr_name_loc(const struct ast_attr *a)
{
    return name_at_start(&a->loc, a->name);
}

struct src_loc ast_trav_root_loc(const struct ast_expr *e)
{
    return name_at_start(&e->loc, e->u.trav.root);
}

struct src_loc ast_call_name_loc(const struct ast_expr *e)
{
    return name_at_start(&e->loc, e->u.call.name);
}

struct ast_block *ast_block_outline(struct arena *a, const struct ast_block *b)
{
    struct ast_block *o = arena_alloc_align(a, sizeof(*o), _Alignof(struct ast_block));
    struct ast_label **tail;
    if (o == NULL)
        return NULL;
    o->type = b->type;
    o->type_loc = b->type_loc;
    o->open_loc = b->open_loc;
    o->loc = b->loc;
    tail = &o->labels;
    for (const struct ast_label *l = b->labels; l; l = l->next) {
        struct ast_label *c = arena_alloc_align(a, sizeof(*c), _Alignof(struct ast_label));
        if (c == NULL || (c->text = arena_strdup(a, l->text)) == NULL)
            return NULL;
        c->loc = l->loc;
        c->quoted = l->quoted;
        *tail = c;
        tail = &c->next;
        o->nlabels++;
    }
    return o;
}
