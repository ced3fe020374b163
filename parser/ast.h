/* The syntax tree of .amlsec files. Every node and string lives in the
 * parse arena (util/arena.h) and is freed with it; nothing here owns malloc
 * memory. Lists are singly linked in source order (`next`).
 *
 * The grammar is generic, like HCL: a body holds attributes (`name = expr`)
 * and blocks (`type label... { body }`). What a block type means (settings,
 * variable, existing, a resource kind, lifecycle, a nested block) is decided
 * by the semantic check (parser/check.h), not by the grammar. */
#ifndef AMLSEC_PARSER_AST_H
#define AMLSEC_PARSER_AST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "parser/source.h"

enum ast_expr_kind {
    EXPR_NULL,
    EXPR_BOOL,
    EXPR_INT,
    EXPR_NUMBER,   /* a literal with a fraction or an exponent: 0.5, 1e3 */
    EXPR_BIGINT,   /* a whole literal beyond int64: u.str holds its digits ("-" first) */
    EXPR_STRING,   /* a literal string (escapes decoded) */
    EXPR_TEMPLATE, /* "a ${b} c" or a heredoc: parts are EXPR_STRING or expressions */
    EXPR_LIST,
    EXPR_MAP,
    EXPR_TRAVERSAL, /* root.name[expr].name ... (references) */
    EXPR_CALL,
    EXPR_COND,   /* c ? a : b */
    EXPR_BINARY, /* == != && || < <= > >= + - * / % */
    EXPR_UNARY,  /* ! - */
    EXPR_PAREN,  /* ( e ): kept so fmt and diagnostics see the span */
    EXPR_FOR,    /* [for k, v in coll : value if cond], {for ... : key => value...} */
    /* steps on any other expression's value: f(x)[0], (e).a, [1, 2][*] */
    EXPR_POSTFIX,
};

enum ast_op {
    OP_EQ,
    OP_NE,
    OP_AND,
    OP_OR,
    OP_NOT,
    OP_NEG,
    OP_ADD,
    OP_SUB,
    OP_MUL,
    OP_DIV,
    OP_MOD,
    OP_LT,
    OP_LE,
    OP_GT,
    OP_GE,
    OP_EXPAND, /* f(list...): the last argument spread into arguments (EXPR_UNARY) */
};

struct ast_expr;

struct ast_map_item {
    struct ast_map_item *next;
    struct ast_expr *key; /* EXPR_STRING for bare or quoted keys, else an expression */
    struct ast_expr *value;
    struct src_loc loc;
};

enum ast_step_kind { STEP_ATTR, STEP_INDEX, STEP_SPLAT /* [*] */ };

struct ast_step {
    struct ast_step *next;
    enum ast_step_kind kind;
    /* Terraform's legacy forms: an index written `.0` (the same as `[0]`);
     * the attribute-only splat `.*`, which applies only the attribute and
     * legacy index steps right after it to each element (`a.*.b[0]` is
     * `(a.*.b)[0]`), where `[*]` applies every step after it. */
    bool legacy;
    union {
        const char *name;       /* STEP_ATTR */
        struct ast_expr *index; /* STEP_INDEX */
    };
    struct src_loc loc;
};

/* A for expression. Kept out of struct ast_expr's union (which every node
 * pays for): a configuration has few of them. */
struct ast_for {
    const char *key_var;   /* `for k, v in`: k; NULL with one variable */
    const char *value_var; /* v */
    struct src_loc key_loc, value_loc;
    struct ast_expr *coll;  /* what is iterated: a list or a map */
    struct ast_expr *key;   /* the map form's key expression; NULL for a list */
    struct ast_expr *value; /* each element's value */
    struct ast_expr *cond;  /* `if cond`; NULL when absent */
    bool is_map;            /* {for ...} */
    bool grouping;          /* `value...`: values with one key are grouped in a list */
};

#define AST_STRIP_LEADING 1  /* after `~}`: no whitespace at the start */
#define AST_STRIP_TRAILING 2 /* before `${~` or `%{~`: none at the end */

struct ast_expr {
    struct ast_expr *next; /* in a list, argument list or template */
    enum ast_expr_kind kind;
    struct src_loc loc;
    union {
        bool b;
        int64_t i;
        double d; /* EXPR_NUMBER */
        struct {
            const char *s;
            size_t len;
            unsigned char strip; /* template text: AST_STRIP_* (strip markers) */
        } str;
        struct {
            struct ast_expr *parts;
            size_t n;
            bool heredoc;
            bool directive; /* the body of a template directive (parse_tmpl_if) */
        } tmpl;
        struct {
            struct ast_expr *items;
            size_t n;
        } list;
        struct {
            struct ast_map_item *items;
            size_t n;
        } map;
        struct {
            const char *root; /* at the start of loc: see ast_trav_root_loc */
            struct ast_step *steps;
            size_t n;
        } trav;
        struct {
            const char *name; /* at the start of loc: see ast_call_name_loc */
            struct ast_expr *args;
            size_t n;
        } call;
        struct {
            struct ast_expr *cond, *then, *otherwise;
        } cond;
        struct {
            enum ast_op op;
            struct ast_expr *lhs, *rhs;
        } binary;
        struct {
            enum ast_op op;
            struct ast_expr *operand;
        } unary;
        struct ast_expr *paren;
        struct ast_for *forx;
        struct {
            struct ast_expr *base; /* a call, a parenthesised expression, a literal... */
            struct ast_step *steps;
            size_t n;
        } post; /* EXPR_POSTFIX (a name's steps stay in its EXPR_TRAVERSAL) */
    } u;
};

struct ast_attr {
    struct ast_attr *next;
    const char *name; /* at the start of loc: see ast_attr_name_loc */
    struct ast_expr *value;
    struct src_loc loc; /* the whole `name = value` */
};

struct ast_label {
    struct ast_label *next;
    const char *text;
    struct src_loc loc;
    bool quoted;
};

struct ast_body {
    struct ast_attr *attrs;
    struct ast_block *blocks;
    size_t nattrs, nblocks;
};

struct ast_block {
    struct ast_block *next;
    const char *type;
    struct src_loc type_loc;
    struct ast_label *labels;
    size_t nlabels;
    struct ast_body body;
    struct src_loc open_loc; /* the '{' */
    struct src_loc loc;      /* type through '}' */
};

struct ast_file {
    struct ast_file *next;
    const struct src_file *src;
    struct ast_body body;
};

/* Nodes are small because a configuration has hundreds of thousands of
 * them: a name that starts its node's span (an attribute's name, a
 * reference's root, a function's name) has no location of its own; these
 * compute it. */
struct src_loc ast_attr_name_loc(const struct ast_attr *a);
struct src_loc ast_trav_root_loc(const struct ast_expr *e);
struct src_loc ast_call_name_loc(const struct ast_expr *e);

/* Lookups in a body (first match, NULL when absent). */
const struct ast_attr *ast_body_attr(const struct ast_body *b, const char *name);
const struct ast_block *ast_body_block(const struct ast_body *b, const char *type);

/* A copy of b without its body (type, labels and locations), allocated in
 * a: what stays of a block whose body has been checked and released
 * (parser/parse.h: parse_hooks). NULL when out of memory. */
struct arena;
struct ast_block *ast_block_outline(struct arena *a, const struct ast_block *b);

#endif
