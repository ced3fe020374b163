/* The parse driver: runs the generated bison parser over one source file
 * and returns its AST. Also declares the node builders the grammar actions
 * call (they allocate in the arena and never fail loudly: on allocation
 * failure they record an error and return NULL-safe nodes). */
#ifndef AMLSEC_PARSER_PARSE_H
#define AMLSEC_PARSER_PARSE_H

#include <stdbool.h>

#include "grammar/lexer.h"
#include "parser/ast.h"
#include "parser/diag.h"
#include "util/arena.h"

struct body_builder {
    struct ast_body body;
    struct ast_attr *attr_tail;
    struct ast_block *block_tail;
};

/* What a caller does with each top-level block while the file is parsed
 * (parser/config.c checks a block as soon as it is complete). */
struct parse_hooks {
    /* Called with every top-level block, in source order. Returns the block
     * the file's body keeps: b itself, or a copy made in the parse arena
     * without the body (ast_block_outline), when nothing needs b's body
     * any more. NULL hook: every block is kept. */
    struct ast_block *(*top_block)(void *payload, struct ast_block *b);
    void *payload;
    /* Allocate each top-level block's nodes in a scratch arena, released
     * as soon as top_block returns a copy (kept blocks move to the parse
     * arena). Memory then stays proportional to the largest block, not to
     * the file. */
    bool outline;
};

struct parse_ctx {
    struct lexer lx;
    struct arena *arena; /* the file's structure, names, kept blocks */
    struct arena *nodes; /* where nodes go: arena, or &scratch (outline) */
    struct arena scratch;
    const struct parse_hooks *hooks;
    struct diag_list *diags;
    const struct src_file *src;
    struct ast_file *file;
    bool oom;
};

/* Parses src into *out (allocated in arena). Diagnostics go to diags.
 * Returns 0 when the file parsed without errors, AMLSEC_EPARSE when any
 * error was reported (*out then holds what could be recovered). */
int parse_file(struct ast_file **out, const struct src_file *src, struct arena *arena,
               struct diag_list *diags);
/* The same, handing each top-level block to hooks (may be NULL). */
int parse_file_hooked(struct ast_file **out, const struct src_file *src, struct arena *arena,
                      struct diag_list *diags, const struct parse_hooks *hooks);

/* --- builders used by grammar/parser.y ---------------------------------- */
struct body_builder *parse_body_new(struct parse_ctx *ctx);
struct body_builder *parse_file_body(struct parse_ctx *ctx);
/* A complete top-level block or attribute (see parse_hooks);
 * lookahead_in_arena: the token the parser read ahead has a node (a
 * string), which may be in scratch. */
struct ast_block *parse_top_block(struct parse_ctx *ctx, struct ast_block *b,
                                  bool lookahead_in_arena);
struct ast_attr *parse_top_attr(struct parse_ctx *ctx, struct ast_attr *a);
void parse_body_add(struct parse_ctx *ctx, struct body_builder *b, struct ast_attr *a,
                    struct ast_block *blk);
void parse_finish_file(struct parse_ctx *ctx, struct body_builder *b, struct ast_attr *a,
                       struct ast_block *blk);
bool parse_too_many_errors(struct parse_ctx *ctx);
struct ast_attr *parse_attr(struct parse_ctx *ctx, const char *name, const struct src_loc *nloc,
                            struct ast_expr *value, const struct src_loc *loc);
void parse_colon_hint(struct parse_ctx *ctx, const struct src_loc *loc, const char *name);
struct ast_block *parse_block(struct parse_ctx *ctx, const char *type, const struct src_loc *tloc,
                              struct ast_label *labels, const struct src_loc *open,
                              struct body_builder *b, struct ast_attr *last_attr,
                              struct ast_block *last_block, const struct src_loc *loc);
struct ast_label *parse_label(struct parse_ctx *ctx, struct ast_label *list, const char *text,
                              bool quoted, const struct src_loc *loc);
struct ast_expr *parse_cond(struct parse_ctx *ctx, struct ast_expr *c, struct ast_expr *a,
                            struct ast_expr *b, const struct src_loc *loc);
struct ast_expr *parse_binary(struct parse_ctx *ctx, enum ast_op op, struct ast_expr *l,
                              struct ast_expr *r, const struct src_loc *loc);
struct ast_expr *parse_unary(struct parse_ctx *ctx, enum ast_op op, struct ast_expr *e,
                             const struct src_loc *loc);
struct ast_expr *parse_int(struct parse_ctx *ctx, int64_t v, const struct src_loc *loc);
struct ast_expr *parse_number(struct parse_ctx *ctx, double v, const struct src_loc *loc);
struct ast_expr *parse_bool(struct parse_ctx *ctx, bool v, const struct src_loc *loc);
struct ast_expr *parse_null(struct parse_ctx *ctx, const struct src_loc *loc);
struct ast_expr *parse_call(struct parse_ctx *ctx, const char *name, const struct src_loc *nloc,
                            struct ast_expr *args, const struct src_loc *loc);
struct ast_expr *parse_paren(struct parse_ctx *ctx, struct ast_expr *e, const struct src_loc *loc);
struct ast_expr *parse_traversal(struct parse_ctx *ctx, const char *root,
                                 const struct src_loc *loc);
struct ast_expr *parse_step_attr(struct parse_ctx *ctx, struct ast_expr *t, const char *name,
                                 const struct src_loc *nloc, const struct src_loc *loc);
/* t[index], or t.N (legacy: index is N's EXPR_INT) */
struct ast_expr *parse_step_index(struct parse_ctx *ctx, struct ast_expr *t, struct ast_expr *index,
                                  const struct src_loc *iloc, bool legacy,
                                  const struct src_loc *loc);
/* t[*], or the attribute-only t.* (attr_only): the splat step, whose
 * location runs from open (the '[' or '.') to loc's end. A `.*` inside
 * another's attribute steps (a.*.b.*) is an error, as in Terraform. */
struct ast_expr *parse_step_splat(struct parse_ctx *ctx, struct ast_expr *t,
                                  const struct src_loc *open, bool attr_only,
                                  const struct src_loc *loc);
struct ast_expr *parse_template(struct parse_ctx *ctx, struct ast_expr *rev_parts, bool heredoc,
                                bool indent, const struct src_loc *loc);
/* Lists are built by prepending; the finishing builder reverses them. */
struct ast_expr *parse_append(struct parse_ctx *ctx, struct ast_expr *rev_list, struct ast_expr *e);
/* Template directives, as the expressions they mean: `%{ if c }a%{ else }b%{ endif }` is a
 * conditional between two templates; `%{ for x in coll }body%{ endfor }` is
 * join("", [for x in coll : "body"]). from and to: the opening and closing tokens. */
struct ast_expr *parse_tmpl_if(struct parse_ctx *ctx, struct ast_expr *cond,
                               struct ast_expr *rev_then, bool has_else, struct ast_expr *rev_else,
                               const struct src_loc *from, const struct src_loc *to);
struct ast_expr *parse_tmpl_for(struct parse_ctx *ctx, struct ast_for *head,
                                struct ast_expr *rev_body, const struct src_loc *from,
                                const struct src_loc *to);
struct ast_expr *parse_list(struct parse_ctx *ctx, struct ast_expr *rev_items,
                            const struct src_loc *loc);
struct ast_expr *parse_map(struct parse_ctx *ctx, struct ast_map_item *rev_items,
                           const struct src_loc *loc);
struct ast_map_item *parse_map_append(struct parse_ctx *ctx, struct ast_map_item *rev_items,
                                      struct ast_map_item *item);
struct ast_map_item *parse_map_item(struct parse_ctx *ctx, struct ast_expr *key,
                                    struct ast_expr *value, const struct src_loc *loc);
/* for expressions: the head (`for k, v in coll`; key NULL with one
 * variable), then the whole (key NULL for the list form). */
struct ast_for *parse_for_head(struct parse_ctx *ctx, const char *key, const struct src_loc *kloc,
                               const char *value, const struct src_loc *vloc,
                               struct ast_expr *coll);
struct ast_expr *parse_for(struct parse_ctx *ctx, struct ast_for *head, struct ast_expr *key,
                           struct ast_expr *value, bool grouping, struct ast_expr *cond,
                           const struct src_loc *loc);
/* f(a, list...): wraps the last argument of the reversed list (its head)
 * in an OP_EXPAND node ending at the `...`. */
struct ast_expr *parse_expand_last(struct parse_ctx *ctx, struct ast_expr *rev_args,
                                   const struct src_loc *dots);
struct ast_expr *parse_key_ident(struct parse_ctx *ctx, const char *name,
                                 const struct src_loc *loc);

#endif
