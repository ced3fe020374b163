#include "parser/ast.h"

#include <string.h>

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
