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
#include "util/buf.h"

/* The variables of the for expressions around the expression being
 * evaluated, innermost first. */
struct eval_scope {
    const struct eval_scope *up;
    const char *name;
    json_t *value; /* borrowed */
    /* a for expression's value variable over a collection whose secret
     * paths are known (eval_ctx.coll_paths): the element's key or index
     * (*key, the key variable's value) and its steps name a path of the
     * collection, sensitive where a secret lies; NULL: not known */
    const json_t *paths;
    json_t *const *key;
};

struct eval_ctx {
    const struct config *cfg;
    struct diag_list *diags;
    const struct cfg_instance *self; /* supplies each.key / each.value; may be NULL */
    /* Where resources may not be referenced (settings, variables,
     * for_each), this names the place for the error message; NULL allows. */
    const char *no_resources;
    const char *base_dir;                /* file() paths are relative to it */
    const struct cfg_module *module;     /* the module whose names are read (NULL: root) */
    const json_t *each_key, *each_value; /* each.key/value when self is NULL (a module call) */
    const json_t *count_index;           /* count.index when self is NULL (a module call) */
    bool sensitive;                      /* out: a sensitive variable was read */
    /* in: a whole instance read stands for its whole object (locals,
     * outputs), not for its id: what it holds that is secret counts */
    bool whole_value;
    /* in/out: when set, the expression `top` reads a whole instance (or a
     * local holding one) and the secret paths inside it are added here, so
     * a later local.X.PATH is sensitive only where the instance is */
    json_t *paths_out;
    const struct ast_expr *top;
    const json_t *node_paths; /* out (internal): the secret paths of the node just read */
    /* in (internal): the reference a for expression iterates over, or a
     * postfix expression's base; out: when it reads a whole module
     * (its instances' outputs), a resource's instances or one instance
     * (or a block inside it), the secret paths in what it gives
     * (owned by the reader), and no sensitive mark for them */
    const struct ast_expr *capture;
    json_t *coll_paths;
    const struct eval_scope *scope; /* for expressions' variables; NULL outside */
    /* out: the instances of resources and module calls read (config.h's
     * cfg_read); NULL: not recorded */
    struct cfg_reads *reads;
};

/* *out receives a new reference. */
int eval_expr(json_t **out, struct eval_ctx *ctx, const struct ast_expr *e);

/* Calls function fn with the values args (a list, borrowed), as a
 * deferred call (parser/value.h) is made once its arguments are known.
 * Diagnostics are dropped: AMLSEC_EPARSE when the call fails. */
int eval_call_values(json_t **out, const char *fn, const json_t *args);

/* A for expression over a collection known only after apply is deferred
 * as the call fn ("[for*]", "{for*}", "{for*...}": eval_for_deferred)
 * whose first argument is the collection and the rest its body, evaluated
 * with its variables standing as placeholders. Once the collection is
 * filled in (args[0] holds no unknown), eval_for_expand gives the deferred
 * for expression over its elements, made like any other deferred value
 * (new reference; NULL when args[0] is not a list or a map). */
bool eval_for_deferred(const char *fn);
json_t *eval_for_expand(const char *fn, const json_t *args);

/* Why a deferred value whose unknowns are all filled in still could not
 * be made, when the language can say it at its source: a map made at
 * apply with a repeated key ("FILE:LINE:COL: duplicate map key 'k'"; a
 * key that read a sensitive value is not quoted). Appends to out and
 * returns 1, else 0. */
int eval_deferred_why(struct buf *out, const json_t *v);

/* The function names eval_expr knows, NULL-terminated (for suggestions). */
extern const char *const eval_functions[];

#endif
