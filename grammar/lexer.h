/* The re2c lexer's state (STYLE rule 14: in a struct, never in globals).
 *
 * The lexer is modal, like HCL's: a stack records what is open - block or
 * map braces, brackets, parentheses, a `${` interpolation, a quoted
 * template, a heredoc. Newlines are tokens where they end an attribute (at
 * top level and directly inside braces) and are skipped inside brackets,
 * parentheses and interpolations. `for` right after a `[` or `{` (before
 * a name) starts a for expression: in that frame `in` and `if` are
 * keywords, and inside a `{for ...}` newlines are spaces. Plain strings without `${` come back as
 * one TOK_STRING; strings with interpolation as a template token sequence.
 *
 * With keep_comments (fmt), comments come back as TOK_COMMENT tokens; the
 * parser never sets it. */
#ifndef AMLSEC_GRAMMAR_LEXER_H
#define AMLSEC_GRAMMAR_LEXER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "parser/diag.h"
#include "parser/source.h"
#include "util/arena.h"

#define LEXER_MAX_DEPTH 64

enum lexer_mode { LM_BRACE, LM_BRACKET, LM_PAREN, LM_INTERP, LM_STRING, LM_HEREDOC };

struct lexer_frame {
    enum lexer_mode mode;
    uint32_t open; /* byte offset of the opening token */
    uint32_t open_end;
    const unsigned char *marker; /* heredoc: the closing word */
    size_t marker_len;
    bool used;   /* a token other than a newline or comment came after the opener */
    bool is_for; /* a for expression: `in`, `if` are keywords; a brace's newlines are spaces */
};

/* An open template directive: its token, the depth of its string's frame
 * and where it is. */
struct lexer_directive {
    int token, depth;
    uint32_t begin, end;
    bool seen_else;
};

struct lexer_ident {
    const char *s; /* in the arena; NULL: a free slot */
    uint32_t hash, len;
};

struct lexer {
    const struct src_file *file;
    const unsigned char *base, *cur, *mar, *lim, *tok;
    struct lexer_frame stack[LEXER_MAX_DEPTH];
    int depth;
    bool keep_comments;
    /* A reference written without spaces (a.b.c) comes back as one
     * TOK_TRAV holding the whole traversal: the parser sets it, since
     * references are most of a configuration's tokens. */
    bool join_traversals;
    bool at_line_start; /* heredoc: next byte begins a line */
    bool failed;        /* a fatal lexical error: return end of file next */
    bool closed_for;    /* the last token closed a for expression (for error hints) */
    bool strip_next;    /* a `~}` strip marker: trim the text lexed next */
    int nfrags;
    struct ast_expr *frags[64]; /* the text fragments since the last ${, %{ or } */
    int ndirectives;
    struct lexer_directive directives[32]; /* open %{ if / %{ for, innermost last */
    int last;                              /* the previous token returned */
    struct arena *arena;                   /* interned names */
    struct arena *nodes; /* string tokens' nodes and decoded text; arena unless changed */
    struct diag_list *diags;
    struct lexer_ident *idents; /* interned names (open addressing; see lexer_release) */
    size_t nidents, idents_cap;
};

/* Token values and locations: the bison parser's types (grammar/parser.h). */
union AML_YYSTYPE;
struct ast_expr;
struct src_loc;

void lexer_init(struct lexer *lx, const struct src_file *f, struct arena *arena,
                struct diag_list *diags);
/* Frees the lexer's own memory (not the tokens: they live in the arena). */
void lexer_release(struct lexer *lx);
/* Returns the next token kind (TOK_* from grammar/parser.h), TOK_YYEOF at
 * the end, or TOK_AML_YYerror after reporting a lexical error in diags. */
int lexer_next(struct lexer *lx, union AML_YYSTYPE *val, struct src_loc *loc);

/* Whether the last token is inside a for expression or closed one. */
bool lexer_in_for(const struct lexer *lx);

/* Checks that text is valid UTF-8 without NUL bytes; reports the first
 * offending byte in diags and returns false otherwise. */
bool lexer_check_encoding(const struct src_file *f, struct diag_list *diags);

#endif
