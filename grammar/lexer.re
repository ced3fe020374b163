/* The .amlsec lexer (re2c >= 3.0). See grammar/lexer.h for the model. */
#include "grammar/lexer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grammar/parser.h"
#include "parser/ast.h"
#include "util/hash.h"
#include "util/jsonw.h"
#include "util/banned.h"

typedef unsigned char uchar;

void lexer_init(struct lexer *lx, const struct src_file *f, struct arena *arena,
                struct diag_list *diags)
{
    memset(lx, 0, sizeof(*lx));
    lx->file = f;
    lx->base = (const uchar *)f->text;
    lx->cur = lx->base;
    lx->lim = lx->base + f->len;
    lx->arena = arena;
    lx->nodes = arena;
    lx->diags = diags;
    lx->last = TOK_NL;
}

static uint32_t off_of(const struct lexer *lx, const uchar *p)
{
    return (uint32_t)(p - lx->base);
}

/* Identifiers and plain quoted strings are interned: a configuration
 * repeats the same few names (attribute names, kinds, block names and the
 * references to them) many times, and each copy would cost an arena
 * allocation. The strings live in the arena; the table is malloc'd and
 * freed by lexer_release (lookups compare hash and length first). */
static uint32_t ident_hash(const uchar *b, size_t len)
{
    return (uint32_t)hash_bytes(b, len, 0);
}

static bool intern_grow(struct lexer *lx)
{
    size_t cap = lx->idents_cap ? 2 * lx->idents_cap : 512;
    struct lexer_ident *t = calloc(cap, sizeof(*t));
    if (t == NULL)
        return false;
    for (size_t k = 0; k < lx->idents_cap; k++) {
        size_t i;
        if (lx->idents[k].s == NULL)
            continue;
        for (i = lx->idents[k].hash & (cap - 1); t[i].s; i = (i + 1) & (cap - 1))
            ;
        t[i] = lx->idents[k];
    }
    free(lx->idents);
    lx->idents = t;
    lx->idents_cap = cap;
    return true;
}

static const char *intern(struct lexer *lx, const uchar *b, size_t len)
{
    uint32_t h = ident_hash(b, len);
    size_t i, mask;
    if (len > UINT32_MAX || (2 * (lx->nidents + 1) > lx->idents_cap && !intern_grow(lx)))
        return arena_strndup(lx->arena, (const char *)b, len);
    mask = lx->idents_cap - 1;
    for (i = h & mask; lx->idents[i].s; i = (i + 1) & mask) {
        const struct lexer_ident *x = &lx->idents[i];
        if (x->hash == h && x->len == len && memcmp(x->s, b, len) == 0)
            return x->s;
    }
    lx->idents[i].s = arena_strndup(lx->arena, (const char *)b, len);
    if (lx->idents[i].s == NULL)
        return NULL;
    lx->idents[i].hash = h;
    lx->idents[i].len = (uint32_t)len;
    lx->nidents++;
    return lx->idents[i].s;
}

void lexer_release(struct lexer *lx)
{
    free(lx->idents);
    lx->idents = NULL;
    lx->nidents = lx->idents_cap = 0;
}

/* Locations are byte spans; lines and columns are computed only when a
 * diagnostic is printed (parser/source.h). */
static void set_loc(struct lexer *lx, struct src_loc *loc, const uchar *b, const uchar *e)
{
    loc->file = lx->file;
    loc->begin = off_of(lx, b);
    loc->end = off_of(lx, e);
}

static int lex_error(struct lexer *lx, struct src_loc *loc, const uchar *b, const uchar *e,
                     const char *msg)
{
    *loc = src_loc_make(lx->file, off_of(lx, b), off_of(lx, e));
    diag_add(lx->diags, DIAG_ERROR, loc, "syntax", "%s", msg);
    return TOK_AML_YYerror;
}

static int fatal(struct lexer *lx, struct src_loc *loc, const uchar *b, const uchar *e,
                 const char *msg)
{
    lx->failed = true;
    return lex_error(lx, loc, b, e, msg);
}

static int push(struct lexer *lx, struct src_loc *loc, enum lexer_mode mode)
{
    struct lexer_frame *f;
    if (lx->depth >= LEXER_MAX_DEPTH)
        return fatal(lx, loc, lx->tok, lx->cur,
                     "nesting is deeper than the limit of 64 levels");
    if (lx->depth > 0)
        lx->stack[lx->depth - 1].used = true; /* the opener is the parent's token */
    f = &lx->stack[lx->depth++];
    memset(f, 0, sizeof(*f));
    f->mode = mode;
    f->open = off_of(lx, lx->tok);
    f->open_end = off_of(lx, lx->cur);
    return 0;
}

static enum lexer_mode top(const struct lexer *lx)
{
    return lx->depth ? lx->stack[lx->depth - 1].mode : LM_BRACE;
}

bool lexer_in_for(const struct lexer *lx)
{
    if (lx->closed_for)
        return true;
    for (int i = 0; i < lx->depth; i++)
        if (lx->stack[i].is_for)
            return true;
    return false;
}

static bool newlines_significant(const struct lexer *lx)
{
    return lx->depth == 0 || (top(lx) == LM_BRACE && !lx->stack[lx->depth - 1].is_for);
}

static void add_utf8(struct buf *b, uint32_t cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (char)(0xF0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    buf_add(b, u, n);
}

/* Decodes the escapes of a quoted-string fragment [b, e). Returns false and
 * sets *bad to the offending escape on an invalid one. */
static bool decode_escapes(struct buf *out, const uchar *b, const uchar *e, const uchar **bad)
{
    const uchar *p = b;
    while (p < e) {
        const uchar *run = p;
        while (p < e && *p != '\\' && *p != '$' && *p != '%')
            p++;
        buf_add(out, run, (size_t)(p - run));
        if (p >= e)
            break;
        if (*p == '%') {
            /* "%%{" is a literal "%{" */
            if (p + 2 < e && p[1] == '%' && p[2] == '{') {
                buf_adds(out, "%{");
                p += 3;
            } else {
                buf_addch(out, '%');
                p++;
            }
            continue;
        }
        if (*p == '$') {
            /* "$${" is a literal "${" */
            if (p + 2 < e && p[1] == '$' && p[2] == '{') {
                buf_adds(out, "${");
                p += 3;
            } else {
                buf_addch(out, '$');
                p++;
            }
            continue;
        }
        if (p + 1 >= e) {
            *bad = p;
            return false;
        }
        switch (p[1]) {
        case 'n': buf_addch(out, '\n'); p += 2; break;
        case 't': buf_addch(out, '\t'); p += 2; break;
        case 'r': buf_addch(out, '\r'); p += 2; break;
        case '"': buf_addch(out, '"'); p += 2; break;
        case '\\': buf_addch(out, '\\'); p += 2; break;
        case 'u':
        case 'U': {
            int digits = p[1] == 'u' ? 4 : 8;
            uint32_t cp = 0;
            if (e - p < 2 + digits) {
                *bad = p;
                return false;
            }
            for (int i = 0; i < digits; i++) {
                uchar c = p[2 + i];
                uint32_t v;
                if (c >= '0' && c <= '9')
                    v = (uint32_t)(c - '0');
                else if (c >= 'a' && c <= 'f')
                    v = (uint32_t)(c - 'a' + 10);
                else if (c >= 'A' && c <= 'F')
                    v = (uint32_t)(c - 'A' + 10);
                else {
                    *bad = p;
                    return false;
                }
                cp = cp * 16 + v;
            }
            if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) || cp == 0) {
                *bad = p;
                return false;
            }
            add_utf8(out, cp);
            p += 2 + digits;
            break;
        }
        default:
            *bad = p;
            return false;
        }
    }
    return true;
}

static bool ident_start(uchar c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool ident_char(uchar c)
{
    return ident_start(c) || (c >= '0' && c <= '9') || c == '-';
}

/* [tok, cur) is an identifier followed by '.' and another identifier: the
 * whole `a.b.c` becomes one traversal node (what the parser's traversal
 * rules would build from IDENT DOT IDENT ...). */
static int lex_traversal(struct lexer *lx, union AML_YYSTYPE *val, struct src_loc *loc)
{
    struct ast_expr *e = arena_alloc_align(lx->nodes, sizeof(*e), _Alignof(struct ast_expr));
    struct ast_step **tail;

    if (e == NULL || (e->u.trav.root = intern(lx, lx->tok, (size_t)(lx->cur - lx->tok))) == NULL) {
        set_loc(lx, loc, lx->tok, lx->cur);
        return fatal(lx, loc, lx->tok, lx->cur, "out of memory");
    }
    e->kind = EXPR_TRAVERSAL;
    tail = &e->u.trav.steps;
    while (lx->cur[0] == '.' && ident_start(lx->cur[1])) {
        const uchar *b = lx->cur + 1, *p = b + 1;
        struct ast_step *st = arena_alloc_align(lx->nodes, sizeof(*st), _Alignof(struct ast_step));
        while (ident_char(*p))
            p++;
        if (st == NULL || (st->name = intern(lx, b, (size_t)(p - b))) == NULL) {
            set_loc(lx, loc, lx->tok, p);
            return fatal(lx, loc, lx->tok, p, "out of memory");
        }
        st->kind = STEP_ATTR;
        st->loc = src_loc_make(lx->file, off_of(lx, b), off_of(lx, p));
        *tail = st;
        tail = &st->next;
        e->u.trav.n++;
        lx->cur = p;
    }
    set_loc(lx, loc, lx->tok, lx->cur);
    e->loc = *loc;
    val->TOK_TRAV = e;
    return TOK_TRAV;
}

/* interned: plain quoted strings (block names, mostly) are interned like
 * identifiers, so a name and a reference to it share one copy. */
static struct ast_expr *string_node(struct lexer *lx, const char *s, size_t len,
                                    const struct src_loc *loc, bool interned)
{
    struct ast_expr *e = arena_alloc_align(lx->nodes, sizeof(*e), _Alignof(struct ast_expr));
    if (e == NULL)
        return NULL;
    e->kind = EXPR_STRING;
    e->loc = *loc;
    e->u.str.s = interned ? intern(lx, (const uchar *)s, len) : arena_strndup(lx->nodes, s, len);
    e->u.str.len = len;
    return e->u.str.s ? e : NULL;
}

/* A quoted fragment [b, e) with escapes: decode into an EXPR_STRING. */
static int fragment(struct lexer *lx, union AML_YYSTYPE *val, struct src_loc *loc,
                    const uchar *b, const uchar *e, int token)
{
    struct buf tmp;
    const uchar *bad = NULL;
    const uchar *q = b;
    while (q < e && *q != '\\' && *q != '$' && *q != '%')
        q++;
    if (q == e) {
        /* nothing to decode (the common case): no temporary buffer */
        set_loc(lx, loc, lx->tok, lx->cur);
        if (token == TOK_STRING)
            val->TOK_STRING = string_node(lx, (const char *)b, (size_t)(e - b), loc, true);
        else
            val->TOK_FRAG = string_node(lx, (const char *)b, (size_t)(e - b), loc, false);
        return token;
    }
    buf_init(&tmp, 0);
    if (!decode_escapes(&tmp, b, e, &bad)) {
        buf_release(&tmp);
        return lex_error(lx, loc, bad, bad + 2 <= e ? bad + 2 : e,
                         "invalid escape sequence in string");
    }
    set_loc(lx, loc, lx->tok, lx->cur);
    if (token == TOK_STRING)
        val->TOK_STRING = string_node(lx, tmp.ptr, tmp.len, loc, false);
    else
        val->TOK_FRAG = string_node(lx, tmp.ptr, tmp.len, loc, false);
    buf_release(&tmp);
    return token;
}

/* Called after the opening quote: if the string has no interpolation and
 * ends on this line, consume it whole and return TOK_STRING; else push a
 * template frame and return TOK_OQUOTE. */
static int lex_quote(struct lexer *lx, union AML_YYSTYPE *val, struct src_loc *loc)
{
    const uchar *p = lx->cur;
    int rc;
    for (;;) {
        if (p >= lx->lim || *p == '\n')
            return fatal(lx, loc, lx->tok, p, "unterminated string");
        if (*p == '\\') {
            p += p + 1 < lx->lim ? 2 : 1;
            continue;
        }
        if ((*p == '$' || *p == '%') && p + 2 < lx->lim && p[1] == *p && p[2] == '{') {
            p += 3;
            continue;
        }
        if ((*p == '$' || *p == '%') && p + 1 < lx->lim && p[1] == '{')
            break; /* interpolation or directive: a template */
        if (*p == '"') {
            const uchar *body = lx->cur;
            lx->cur = p + 1;
            return fragment(lx, val, loc, body, p, TOK_STRING);
        }
        p++;
    }
    if ((rc = push(lx, loc, LM_STRING)) < 0)
        return rc;
    set_loc(lx, loc, lx->tok, lx->cur);
    return TOK_OQUOTE;
}

/* Directives pair up inside one string or heredoc: an `%{ endif` closes the
 * innermost open `%{ if` of the same string, and the string may not end
 * while one is open (clear errors where the grammar's would be vague). */
static int directive_nesting(struct lexer *lx, struct src_loc *loc, int token, const uchar *b,
                             const uchar *e)
{
    struct lexer_directive *top =
        lx->ndirectives > 0 && lx->directives[lx->ndirectives - 1].depth == lx->depth
            ? &lx->directives[lx->ndirectives - 1]
            : NULL;
    if (token == TOK_DIF || token == TOK_DFOR) {
        if (lx->ndirectives == (int)(sizeof(lx->directives) / sizeof(lx->directives[0])))
            return fatal(lx, loc, b, e, "template directives nested too deeply");
        lx->directives[lx->ndirectives++] =
            (struct lexer_directive){.token = token,
                                     .depth = lx->depth,
                                     .begin = (uint32_t)(b - lx->base),
                                     .end = (uint32_t)(e - lx->base)};
        return 0;
    }
    if (token == TOK_DELSE && (top == NULL || top->token != TOK_DIF))
        return fatal(lx, loc, b, e, "'%{ else' without an open '%{ if' before it in this string");
    if (token == TOK_DELSE && top->seen_else)
        return fatal(lx, loc, b, e, "a second '%{ else' for one '%{ if'");
    if (token == TOK_DELSE)
        top->seen_else = true;
    if (token == TOK_DENDIF && (top == NULL || top->token != TOK_DIF))
        return fatal(lx, loc, b, e,
                     top ? "'%{ endif' where the open '%{ for' needs '%{ endfor'"
                         : "'%{ endif' without an open '%{ if' before it in this string");
    if (token == TOK_DENDFOR && (top == NULL || top->token != TOK_DFOR))
        return fatal(lx, loc, b, e,
                     top ? "'%{ endfor' where the open '%{ if' needs '%{ endif'"
                         : "'%{ endfor' without an open '%{ for' before it in this string");
    if (token == TOK_DENDIF || token == TOK_DENDFOR)
        lx->ndirectives--;
    return 0;
}

/* The string or heredoc ends: no directive of it may be left open. */
static int directives_closed(struct lexer *lx, struct src_loc *loc)
{
    const struct lexer_directive *d;
    if (lx->ndirectives == 0 || lx->directives[lx->ndirectives - 1].depth != lx->depth)
        return 0;
    d = &lx->directives[lx->ndirectives - 1];
    return fatal(lx, loc, lx->base + d->begin, lx->base + d->end,
                 d->token == TOK_DIF ? "unterminated '%{ if': no '%{ endif' before the string ends"
                                     : "unterminated '%{ for': no '%{ endfor' before the string ends");
}

/* `${` or `%{` at p inside a string or heredoc: an interpolation, or a
 * directive (`%{ if`, `%{ else`, `%{ endif`, `%{ for`, `%{ endfor`, the
 * keyword lexed with the opener). Either may start with the strip marker
 * `~`: the token's value is 1 then. */
static int lex_template_open(struct lexer *lx, union AML_YYSTYPE *val, struct src_loc *loc,
                             const uchar *p)
{
    static const struct {
        const char *word;
        int token;
    } directives[] = {
        {"if", TOK_DIF},       {"else", TOK_DELSE},     {"endif", TOK_DENDIF},
        {"for", TOK_DFOR},     {"endfor", TOK_DENDFOR},
    };
    const uchar *q = p + 2, *w;
    int strip = q < lx->lim && *q == '~', token = TOK_INTERP, rc;
    q += strip;
    if (p[0] == '%') {
        while (q < lx->lim && (*q == ' ' || *q == '\t'))
            q++;
        for (w = q; w < lx->lim && ((*w >= 'a' && *w <= 'z') || *w == '_'); w++)
            ;
        token = 0;
        for (size_t i = 0; i < sizeof(directives) / sizeof(directives[0]); i++)
            if (strlen(directives[i].word) == (size_t)(w - q) &&
                memcmp(directives[i].word, q, (size_t)(w - q)) == 0)
                token = directives[i].token;
        if (token == 0)
            return fatal(lx, loc, p, w > q ? w : p + 2,
                         "unknown template directive: expected %{ if, %{ else, %{ endif, "
                         "%{ for or %{ endfor (%%{ is a literal %{)");
        if ((rc = directive_nesting(lx, loc, token, p, w)) < 0)
            return rc;
        q = w;
    }
    lx->cur = q;
    if ((rc = push(lx, loc, LM_INTERP)) < 0)
        return rc;
    /* `for x in`: `in` is a keyword here */
    lx->stack[lx->depth - 1].is_for = token == TOK_DFOR;
    set_loc(lx, loc, p, lx->cur);
    val->TOK_INTERP = strip;
    return token;
}

/* Inside a quoted template: text up to `${`, the closing quote or an error. */
static int lex_in_string(struct lexer *lx, union AML_YYSTYPE *val, struct src_loc *loc)
{
    const uchar *p = lx->cur;
    lx->tok = p;
    if (p < lx->lim && *p == '"') {
        int rc;
        if ((rc = directives_closed(lx, loc)) < 0)
            return rc;
        lx->cur = p + 1;
        lx->depth--;
        set_loc(lx, loc, lx->tok, lx->cur);
        return TOK_CQUOTE;
    }
    if (p + 1 < lx->lim && (p[0] == '$' || p[0] == '%') && p[1] == '{')
        return lex_template_open(lx, val, loc, p);
    for (;;) {
        if (p >= lx->lim || *p == '\n') {
            const struct lexer_frame *f = &lx->stack[lx->depth - 1];
            lx->cur = p;
            lx->tok = lx->base + f->open;
            return fatal(lx, loc, lx->tok, lx->tok + 1, "unterminated string");
        }
        if (*p == '\\') {
            p += p + 1 < lx->lim ? 2 : 1;
            continue;
        }
        if ((*p == '$' || *p == '%') && p + 2 < lx->lim && p[1] == *p && p[2] == '{') {
            p += 3;
            continue;
        }
        if (*p == '"' || ((*p == '$' || *p == '%') && p + 1 < lx->lim && p[1] == '{'))
            break;
        p++;
    }
    lx->cur = p;
    return fragment(lx, val, loc, lx->tok, p, TOK_FRAG);
}

/* Inside a heredoc: one line of text (or up to `${`), or the closing word. */
static int lex_in_heredoc(struct lexer *lx, union AML_YYSTYPE *val, struct src_loc *loc)
{
    struct lexer_frame *f = &lx->stack[lx->depth - 1];
    const uchar *p = lx->cur;
    const uchar *text;
    lx->tok = p;
    if (lx->at_line_start) {
        const uchar *q = p;
        while (q < lx->lim && (*q == ' ' || *q == '\t'))
            q++;
        if ((size_t)(lx->lim - q) >= f->marker_len && memcmp(q, f->marker, f->marker_len) == 0 &&
            (q + f->marker_len == lx->lim || q[f->marker_len] == '\n' ||
             q[f->marker_len] == '\r')) {
            int rc;
            if ((rc = directives_closed(lx, loc)) < 0)
                return rc;
            lx->cur = q + f->marker_len;
            lx->depth--;
            set_loc(lx, loc, lx->tok, lx->cur);
            return TOK_HEREDOC_END;
        }
    }
    if (p >= lx->lim) {
        lx->tok = lx->base + f->open;
        return fatal(lx, loc, lx->tok, lx->base + f->open_end,
                     "unterminated heredoc: no line with its closing word");
    }
    if (p + 1 < lx->lim && (p[0] == '$' || p[0] == '%') && p[1] == '{') {
        lx->at_line_start = false;
        return lex_template_open(lx, val, loc, p);
    }
    text = p;
    while (p < lx->lim && *p != '\n' &&
           !((p[0] == '$' || p[0] == '%') && p + 1 < lx->lim && p[1] == '{')) {
        if ((p[0] == '$' || p[0] == '%') && p + 2 < lx->lim && p[1] == p[0] && p[2] == '{')
            p += 3;
        else
            p++;
    }
    lx->at_line_start = false;
    if (p < lx->lim && *p == '\n') {
        p++;
        lx->at_line_start = true;
    }
    lx->cur = p;
    {
        /* Heredocs decode only "$${" and "%%{"; backslashes are literal. */
        struct buf tmp;
        buf_init(&tmp, 0);
        for (const uchar *q = text; q < p;) {
            if ((q[0] == '$' || q[0] == '%') && q + 2 < p && q[1] == q[0] && q[2] == '{') {
                buf_addch(&tmp, (char)q[0]);
                buf_addch(&tmp, '{');
                q += 3;
            } else {
                buf_addch(&tmp, (char)*q++);
            }
        }
        set_loc(lx, loc, lx->tok, lx->cur);
        val->TOK_FRAG = string_node(lx, tmp.ptr, tmp.len, loc, false);
        buf_release(&tmp);
    }
    return TOK_FRAG;
}

static int lex_heredoc_open(struct lexer *lx, union AML_YYSTYPE *val, struct src_loc *loc,
                            const uchar *word, const uchar *word_end, bool indent)
{
    int rc;
    const uchar *after = lx->cur;
    val->TOK_HEREDOC = indent;
    /* The rest of the line must be empty. */
    if (after < lx->lim && *after == '\r')
        after++;
    if (after >= lx->lim || *after != '\n')
        return fatal(lx, loc, lx->tok, lx->cur,
                     "a heredoc marker must be followed by a newline");
    if ((rc = push(lx, loc, LM_HEREDOC)) < 0)
        return rc;
    lx->stack[lx->depth - 1].marker = word;
    lx->stack[lx->depth - 1].marker_len = (size_t)(word_end - word);
    lx->cur = after + 1;
    lx->at_line_start = true;
    set_loc(lx, loc, lx->tok, lx->cur);
    return TOK_HEREDOC;
}

static int close_bracket(struct lexer *lx, union AML_YYSTYPE *val, struct src_loc *loc,
                         enum lexer_mode want, int token)
{
    if (lx->depth > 0 && top(lx) == want) {
        lx->closed_for = lx->stack[lx->depth - 1].is_for;
        lx->depth--;
    }
    else if (lx->depth > 0 && want == LM_BRACE && top(lx) == LM_INTERP) {
        lx->depth--;
        set_loc(lx, loc, lx->tok, lx->cur);
        val->TOK_INTERP_END = 0;
        return TOK_INTERP_END;
    }
    set_loc(lx, loc, lx->tok, lx->cur);
    return token;
}

static int lex_eof(struct lexer *lx, struct src_loc *loc)
{
    /* Point at the innermost bracket left open, not at the end of file. */
    if (lx->depth > 0) {
        const struct lexer_frame *f = &lx->stack[lx->depth - 1];
        const char *what = f->mode == LM_BRACE     ? "unclosed '{': expected '}' before end of file"
                           : f->mode == LM_BRACKET ? "unclosed '[': expected ']' before end of file"
                           : f->mode == LM_PAREN   ? "unclosed '(': expected ')' before end of file"
                                                   : "unclosed '${': expected '}' before end of file";
        lx->tok = lx->base + f->open;
        lx->depth = 0;
        return fatal(lx, loc, lx->tok, lx->base + f->open_end, what);
    }
    lx->tok = lx->cur = lx->lim;
    set_loc(lx, loc, lx->lim, lx->lim);
    return TOK_YYEOF;
}

/* [tok, cur) is an identifier: TOK_FOR when it is `for` opening a for
 * expression (first in a fresh `[` or `{`, followed by a name, so that an
 * attribute or key named `for` stays one), TOK_IN or TOK_IF directly inside
 * a for expression, else 0. */
static int for_keyword(struct lexer *lx)
{
    size_t n = (size_t)(lx->cur - lx->tok);
    struct lexer_frame *f = lx->depth > 0 ? &lx->stack[lx->depth - 1] : NULL;
    if (f == NULL || n < 2 || n > 3)
        return 0;
    if (n == 3 && memcmp(lx->tok, "for", 3) == 0 && !f->used &&
        (f->mode == LM_BRACE || f->mode == LM_BRACKET)) {
        const uchar *p = lx->cur;
        while (p < lx->lim && (*p == ' ' || *p == '\t'))
            p++;
        if (p < lx->lim && ident_start(*p)) {
            f->is_for = true;
            return TOK_FOR;
        }
        return 0;
    }
    if (n == 2 && f->is_for && lx->tok[0] == 'i' && (lx->tok[1] == 'n' || lx->tok[1] == 'f'))
        return lx->tok[1] == 'n' ? TOK_IN : TOK_IF;
    return 0;
}

/* The n digits at d are a whole number: TOK_INT; beyond int64 a big number
 * (parser/value.h) when big is set, else an error (a legacy index, a.0).
 * The error's caret is [tok, cur). */
static int lex_whole(struct lexer *lx, union AML_YYSTYPE *val, struct src_loc *loc, const uchar *d,
                     size_t n, bool big)
{
    int64_t v = 0;
    set_loc(lx, loc, lx->tok, lx->cur);
    for (const uchar *p = d; p < d + n; p++) {
        if (v > (INT64_MAX - (*p - '0')) / 10) {
            if (!big)
                return lex_error(lx, loc, lx->tok, lx->cur, "number is too large");
            while (n > 1 && *d == '0') /* the digits, without leading zeros */
                d++, n--;
            val->TOK_BIGINT = string_node(lx, (const char *)d, n, loc, false);
            if (val->TOK_BIGINT == NULL)
                return lex_error(lx, loc, lx->tok, lx->cur, "out of memory");
            val->TOK_BIGINT->kind = EXPR_BIGINT;
            return TOK_BIGINT;
        }
        v = v * 10 + (*p - '0');
    }
    val->TOK_INT = v;
    return TOK_INT;
}

/* [tok, cur) is a whole number. */
static int lex_int(struct lexer *lx, union AML_YYSTYPE *val, struct src_loc *loc, bool big)
{
    return lex_whole(lx, val, loc, lx->tok, (size_t)(lx->cur - lx->tok), big);
}

/* [tok, cur) is a decimal literal (a fraction, an exponent or both, at
 * most 63 characters), read from its text exactly, as Terraform does: when
 * its value is whole (1e20, 12.5e3, 1.0) a whole number in all its digits,
 * else TOK_DECIMAL, the nearest double. */
static int lex_decimal(struct lexer *lx, union AML_YYSTYPE *val, struct src_loc *loc)
{
    char digits[160], text[64]; /* 2^512 has 155 digits */
    size_t len = (size_t)(lx->cur - lx->tok);
    size_t n = jsonw_whole_digits((const char *)lx->tok, len, digits, sizeof(digits));
    if (n > sizeof(digits)) /* its first digits: as far beyond 512 bits, which */
        n = sizeof(digits); /* evaluation refuses with a caret on the literal */
    if (n)
        return lex_whole(lx, val, loc, (const uchar *)digits, n, true);
    memcpy(text, lx->tok, len);
    text[len] = '\0';
    set_loc(lx, loc, lx->tok, lx->cur);
    val->TOK_DECIMAL = strtod(text, NULL); /* finite: below 10^63 */
    return TOK_DECIMAL;
}

static int lex_main(struct lexer *lx, union AML_YYSTYPE *val, struct src_loc *loc)
{
    const uchar *w1, *w2;
    /*!stags:re2c format = "const uchar *@@;\n"; */

    for (;;) {
        lx->tok = lx->cur;
        /*!re2c
            re2c:define:YYCTYPE = uchar;
            re2c:define:YYCURSOR = "lx->cur";
            re2c:define:YYMARKER = "lx->mar";
            re2c:define:YYLIMIT = "lx->lim";
            re2c:yyfill:enable = 0;
            re2c:eof = 0;
            re2c:tags = 1;
            re2c:tags:expression = "@@";

            ident = [a-zA-Z_][a-zA-Z0-9_-]*;
            ws = [ \t\r]+;

            $ { return lex_eof(lx, loc); }
            ws { continue; }
            "#" [^\n\x00]* | "//" [^\n\x00]* {
                if (lx->keep_comments) { set_loc(lx, loc, lx->tok, lx->cur); return TOK_COMMENT; }
                continue;
            }
            "/*" {
                const uchar *end = lx->cur;
                while (end + 1 < lx->lim && !(end[0] == '*' && end[1] == '/'))
                    end++;
                if (end + 1 >= lx->lim)
                    return fatal(lx, loc, lx->tok, lx->cur, "unterminated comment: expected '*/'");
                lx->cur = end + 2;
                if (lx->keep_comments) { set_loc(lx, loc, lx->tok, lx->cur); return TOK_COMMENT; }
                continue;
            }
            "\n" {
                set_loc(lx, loc, lx->tok, lx->cur);
                if (lx->keep_comments)
                    return TOK_NL;
                if (!newlines_significant(lx) || lx->last == TOK_NL)
                    continue;
                return TOK_NL;
            }

            "{" { int rc = push(lx, loc, LM_BRACE); if (rc < 0) return rc; set_loc(lx, loc, lx->tok, lx->cur); return TOK_LBRACE; }
            "}" { return close_bracket(lx, val, loc, LM_BRACE, TOK_RBRACE); }
            "~}" {
                /* a strip marker closing an interpolation or directive */
                if (lx->depth == 0 || top(lx) != LM_INTERP)
                    return fatal(lx, loc, lx->tok, lx->cur,
                                 "'~}' closes only a '${' or '%{' inside a string");
                lx->depth--;
                set_loc(lx, loc, lx->tok, lx->cur);
                val->TOK_INTERP_END = 1;
                return TOK_INTERP_END;
            }
            "[" { int rc = push(lx, loc, LM_BRACKET); if (rc < 0) return rc; set_loc(lx, loc, lx->tok, lx->cur); return TOK_LBRACKET; }
            "]" { return close_bracket(lx, val, loc, LM_BRACKET, TOK_RBRACKET); }
            "(" { int rc = push(lx, loc, LM_PAREN); if (rc < 0) return rc; set_loc(lx, loc, lx->tok, lx->cur); return TOK_LPAREN; }
            ")" { return close_bracket(lx, val, loc, LM_PAREN, TOK_RPAREN); }
            "," { set_loc(lx, loc, lx->tok, lx->cur); return TOK_COMMA; }
            "==" { set_loc(lx, loc, lx->tok, lx->cur); return TOK_EQ; }
            "<=" { set_loc(lx, loc, lx->tok, lx->cur); return TOK_LE; }
            ">=" { set_loc(lx, loc, lx->tok, lx->cur); return TOK_GE; }
            "<" { set_loc(lx, loc, lx->tok, lx->cur); return TOK_LT; }
            ">" { set_loc(lx, loc, lx->tok, lx->cur); return TOK_GT; }
            "+" { set_loc(lx, loc, lx->tok, lx->cur); return TOK_PLUS; }
            "*" { set_loc(lx, loc, lx->tok, lx->cur); return TOK_STAR; }
            "/" { set_loc(lx, loc, lx->tok, lx->cur); return TOK_SLASH; }
            "%" { set_loc(lx, loc, lx->tok, lx->cur); return TOK_PERCENT; }
            "=>" { set_loc(lx, loc, lx->tok, lx->cur); return TOK_FATARROW; }
            "..." { set_loc(lx, loc, lx->tok, lx->cur); return TOK_ELLIPSIS; }
            "!=" { set_loc(lx, loc, lx->tok, lx->cur); return TOK_NE; }
            "&&" { set_loc(lx, loc, lx->tok, lx->cur); return TOK_AND; }
            "||" { set_loc(lx, loc, lx->tok, lx->cur); return TOK_OR; }
            "=" { set_loc(lx, loc, lx->tok, lx->cur); return TOK_ASSIGN; }
            ":" { set_loc(lx, loc, lx->tok, lx->cur); return TOK_COLON; }
            "?" { set_loc(lx, loc, lx->tok, lx->cur); return TOK_QUESTION; }
            "." { set_loc(lx, loc, lx->tok, lx->cur); return TOK_DOT; }
            "!" { set_loc(lx, loc, lx->tok, lx->cur); return TOK_NOT; }
            "-" { set_loc(lx, loc, lx->tok, lx->cur); return TOK_MINUS; }
            "\"" { return lex_quote(lx, val, loc); }

            "<<" @w1 ident @w2 { return lex_heredoc_open(lx, val, loc, w1, w2, false); }
            "<<-" @w1 ident @w2 { return lex_heredoc_open(lx, val, loc, w1, w2, true); }

            "true" { set_loc(lx, loc, lx->tok, lx->cur); return TOK_TRUE; }
            "false" { set_loc(lx, loc, lx->tok, lx->cur); return TOK_FALSE; }
            "null" { set_loc(lx, loc, lx->tok, lx->cur); return TOK_NULL; }

            [0-9]+ { return lex_int(lx, val, loc, true); }
            [0-9]+ ("." [0-9]+)? [eE] [+-]? [0-9]+ | [0-9]+ "." [0-9]+ {
                if (lx->last == TOK_DOT) {
                    /* a legacy index, a.0.1 is a[0][1]: only the digits */
                    lx->cur = lx->tok;
                    while (*lx->cur >= '0' && *lx->cur <= '9')
                        lx->cur++;
                    return lex_int(lx, val, loc, false);
                }
                if (lx->cur - lx->tok >= 64)
                    return lex_error(lx, loc, lx->tok, lx->cur, "number has more than 63 characters");
                return lex_decimal(lx, val, loc);
            }
            ident {
                /* after '.' a name, never a keyword: f(x).in */
                int kw = lx->last == TOK_DOT ? 0 : for_keyword(lx);
                if (kw) {
                    set_loc(lx, loc, lx->tok, lx->cur);
                    return kw;
                }
                /* not after '.': a.b[0].c.d goes on as steps of a.b[0] */
                if (lx->join_traversals && lx->cur[0] == '.' && ident_start(lx->cur[1]) &&
                    lx->last != TOK_DOT)
                    return lex_traversal(lx, val, loc);
                set_loc(lx, loc, lx->tok, lx->cur);
                val->TOK_IDENT = (char *)intern(lx, lx->tok, (size_t)(lx->cur - lx->tok));
                return TOK_IDENT;
            }
            * {
                char msg[96];
                uchar c = *lx->tok;
                if (c >= 0x20 && c < 0x7f)
                    snprintf(msg, sizeof(msg), "unexpected character '%c'", c);
                else if (c >= 0x80) {
                    /* consume the rest of the UTF-8 sequence */
                    while (lx->cur < lx->lim && (*lx->cur & 0xC0) == 0x80)
                        lx->cur++;
                    snprintf(msg, sizeof(msg), "unexpected character outside a string");
                } else
                    snprintf(msg, sizeof(msg), "unexpected control character 0x%02x", c);
                return lex_error(lx, loc, lx->tok, lx->cur, msg);
            }
        */
    }
}

/* The strip markers of templates: `${~` and `%{~` remove the whitespace
 * (newlines too) before them, back over the text fragments just lexed;
 * `~}` the whitespace after, over the fragments lexed next. The lexer marks
 * the fragments (the parser holds them unread); parse_template strips them
 * once a heredoc's indentation is removed. */
static void strip_markers(struct lexer *lx, int t, const union AML_YYSTYPE *val)
{
    if (t == TOK_FRAG) {
        struct ast_expr *f = val->TOK_FRAG;
        if (f && lx->strip_next) {
            f->u.str.strip |= AST_STRIP_LEADING;
            /* a fragment of whitespace only: the strip goes on past it */
            lx->strip_next = strspn(f->u.str.s, " \t\r\n") >= f->u.str.len;
        }
        if (f && lx->nfrags < (int)(sizeof(lx->frags) / sizeof(lx->frags[0])))
            lx->frags[lx->nfrags++] = f;
        return;
    }
    lx->strip_next = t == TOK_INTERP_END && val->TOK_INTERP_END;
    if ((t == TOK_INTERP || t == TOK_DIF || t == TOK_DELSE || t == TOK_DENDIF || t == TOK_DFOR ||
         t == TOK_DENDFOR) &&
        val->TOK_INTERP) {
        for (int i = lx->nfrags - 1; i >= 0; i--) {
            struct ast_expr *f = lx->frags[i];
            f->u.str.strip |= AST_STRIP_TRAILING;
            if (strspn(f->u.str.s, " \t\r\n") < f->u.str.len)
                break;
        }
    }
    lx->nfrags = 0;
}

int lexer_next(struct lexer *lx, union AML_YYSTYPE *val, struct src_loc *loc)
{
    int t;
    if (lx->failed) {
        lx->tok = lx->cur = lx->lim;
        set_loc(lx, loc, lx->lim, lx->lim);
        t = TOK_YYEOF;
    } else if (lx->depth > 0 && top(lx) == LM_STRING) {
        t = lex_in_string(lx, val, loc);
    } else if (lx->depth > 0 && top(lx) == LM_HEREDOC) {
        t = lex_in_heredoc(lx, val, loc);
    } else {
        lx->closed_for = false;
        t = lex_main(lx, val, loc);
    }
    /* an opener marked its parent used in push() */
    if (t != TOK_NL && t != TOK_COMMENT && t != TOK_LBRACE && t != TOK_LBRACKET &&
        t != TOK_LPAREN && t != TOK_INTERP && t != TOK_OQUOTE && t != TOK_HEREDOC &&
        t != TOK_DIF && t != TOK_DELSE && t != TOK_DENDIF && t != TOK_DFOR && t != TOK_DENDFOR &&
        lx->depth > 0)
        lx->stack[lx->depth - 1].used = true;
    strip_markers(lx, t, val);
    lx->last = t;
    return t;
}

bool lexer_check_encoding(const struct src_file *f, struct diag_list *diags)
{
    const uchar *s = (const uchar *)f->text, *e = s + f->len, *p = s;
    while (p < e) {
        uchar c = *p;
        size_t n;
        uint32_t cp;
        const char *what = NULL;
        /* fast path over plain ASCII, eight bytes at a time: no byte with
         * the high bit set and none zero */
        while (e - p >= 8) {
            uint64_t w;
            memcpy(&w, p, 8);
            if ((w & 0x8080808080808080ULL) ||
                ((w - 0x0101010101010101ULL) & ~w & 0x8080808080808080ULL))
                break;
            p += 8;
        }
        if (p >= e)
            break;
        c = *p;
        if (c < 0x80) {
            if (c == 0)
                what = "NUL byte in source file";
            n = 1;
        } else if ((c & 0xE0) == 0xC0) {
            n = 2;
        } else if ((c & 0xF0) == 0xE0) {
            n = 3;
        } else if ((c & 0xF8) == 0xF0) {
            n = 4;
        } else {
            n = 1;
            what = "invalid UTF-8 byte in source file";
        }
        if (what == NULL && n > 1) {
            if ((size_t)(e - p) < n) {
                what = "truncated UTF-8 sequence in source file";
            } else {
                cp = c & (0x7F >> n);
                for (size_t i = 1; i < n && what == NULL; i++) {
                    if ((p[i] & 0xC0) != 0x80)
                        what = "invalid UTF-8 sequence in source file";
                    cp = (cp << 6) | (p[i] & 0x3F);
                }
                if (what == NULL &&
                    ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
                     cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)))
                    what = "invalid UTF-8 sequence in source file";
            }
        }
        if (what) {
            struct src_loc loc = src_loc_make(f, (uint32_t)(p - s), (uint32_t)(p - s + 1));
            diag_add(diags, DIAG_ERROR, &loc, "encoding", "%s", what);
            return false;
        }
        p += n;
    }
    return true;
}
