/* Expression evaluation to jansson values (parser/value.h). Problems become
 * diagnostics at the offending expression; eval_expr then returns
 * AMLSEC_EPARSE and *out is NULL. References are resolved against the
 * loaded configuration: var.X, settings.X, each.key/each.value,
 * TYPE.NAME[...].ATTR and existing.TYPE.NAME.ATTR (see parser/config.h), and
 * the variables of enclosing for expressions (ctx->scope). */
#ifndef AMLSEC_PARSER_EVAL_H
#define AMLSEC_PARSER_EVAL_H

#include <jansson.h>
#include <stdbool.h>

#include "parser/ast.h"
#include "parser/config.h"
#include "parser/diag.h"

/* The variables of the for expressions around the expression being
 * evaluated, innermost first. */
struct eval_scope {
    const struct eval_scope *up;
    const char *name;
    json_t *value; /* borrowed */
};

struct eval_ctx {
    const struct config *cfg;
    struct diag_list *diags;
    const struct cfg_instance *self; /* supplies each.key / each.value; may be NULL */
    /* Where resources may not be referenced (settings, variables,
     * for_each), this names the place for the error message; NULL allows. */
    const char *no_resources;
    const char *base_dir; /* file() paths are relative to it */
    bool sensitive;       /* out: a sensitive variable was read */
    const struct eval_scope *scope; /* for expressions' variables; NULL outside */
};

/* *out receives a new reference. */
int eval_expr(json_t **out, struct eval_ctx *ctx, const struct ast_expr *e);

/* The function names eval_expr knows, NULL-terminated (for suggestions). */
extern const char *const eval_functions[];

#endif
