#include "parser/fmt.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "grammar/lexer.h"
#include "grammar/parser.h"
#include "parser/ast_equal.h"
#include "parser/parse.h"
#include "util/arena.h"
#include "util/error.h"
#include "util/banned.h"

/* A quoted template or a heredoc, copied verbatim as one item. */
#define ITEM_REGION (-100)

enum frame_kind { FR_BODY, FR_MAP, FR_LIST, FR_PAREN };

enum item_role {
    ROLE_NONE,
    ROLE_BLOCK_OPEN,
    ROLE_MAP_OPEN,
    ROLE_MAP_COLON,
    ROLE_BINARY,
    ROLE_SPLAT /* the `*` of a.*: it ends an operand */
};

struct item {
    int tok;          /* TOK_* kind, or ITEM_REGION */
    const char *text; /* the bytes to emit (source bytes, or built for regions/comments) */
    size_t len;
    enum item_role role;
    enum frame_kind frame; /* the frame the item sits in */
    long frame_id;         /* index of the frame's opening item, -1 at top level */
    long partner;          /* brace items: index of the matching brace, else -1 */
    bool multiline;        /* text contains a newline */
};

struct items {
    struct item *v;
    size_t n, cap;
};

struct frame {
    enum frame_kind kind;
    int questions;    /* `?` waiting for their `:` */
    bool stmt_assign; /* FR_BODY: the current statement has its `=` */
    long opener;
};

/* One output line: items [first, first + n). */
struct line {
    size_t first, n;
};

struct fmt {
    const struct src_file *src;
    struct arena arena;
    struct items items;
    struct frame *frames;
    size_t nframes, frames_cap;
    int rc;
};

static int items_push(struct fmt *f, struct items *list, const struct item *it)
{
    if (list->n == list->cap) {
        size_t cap = list->cap ? list->cap * 2 : 256;
        struct item *v = realloc(list->v, cap * sizeof(*v));
        if (v == NULL)
            return f->rc = AMLSEC_ENOMEM;
        list->v = v;
        list->cap = cap;
    }
    list->v[list->n++] = *it;
    return 0;
}

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

static bool has_newline(const char *s, size_t n)
{
    return memchr(s, '\n', n) != NULL;
}

/* Appends a comment's text with the whitespace before its line ends
 * dropped (comments only: it is never part of a value). */
static void add_comment_text(struct buf *b, const char *s, size_t n)
{
    size_t start = b->len;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\n')
            while (b->len > start && is_ws(b->ptr[b->len - 1]))
                b->len--;
        buf_addch(b, s[i]);
    }
    while (b->len > start && is_ws(b->ptr[b->len - 1]))
        b->len--;
    b->ptr[b->len] = '\0';
}

static const char *arena_copy(struct fmt *f, const struct buf *b)
{
    char *s = arena_strndup(&f->arena, b->ptr, b->len);
    if (s == NULL)
        f->rc = AMLSEC_ENOMEM;
    return s;
}

static struct frame *top_frame(struct fmt *f)
{
    return &f->frames[f->nframes - 1];
}

static int push_frame(struct fmt *f, enum frame_kind kind, long opener)
{
    if (f->nframes == f->frames_cap) {
        size_t cap = f->frames_cap ? f->frames_cap * 2 : 16;
        struct frame *v = realloc(f->frames, cap * sizeof(*v));
        if (v == NULL)
            return f->rc = AMLSEC_ENOMEM;
        f->frames = v;
        f->frames_cap = cap;
    }
    f->frames[f->nframes].kind = kind;
    f->frames[f->nframes].questions = 0;
    f->frames[f->nframes].stmt_assign = false;
    f->frames[f->nframes].opener = opener;
    f->nframes++;
    return 0;
}

/* --- pass 1: tokens -> items --------------------------------------------- */

struct tok {
    int kind;
    uint32_t b, e;
};

static int lex_all(struct fmt *f, struct tok **out, size_t *n)
{
    struct lexer lx;
    struct diag_list diags;
    struct tok *v = NULL;
    size_t cap = 0;
    int rc = 0;

    *n = 0;
    diag_list_init(&diags);
    lexer_init(&lx, f->src, &f->arena, &diags);
    lx.keep_comments = true;
    for (;;) {
        union AML_YYSTYPE val;
        struct src_loc loc;
        int t = lexer_next(&lx, &val, &loc);
        if (t == TOK_YYEOF)
            break;
        if (t == TOK_AML_YYerror) {
            rc = AMLSEC_ERROR; /* the file parsed, so this is a bug */
            break;
        }
        if (*n == cap) {
            struct tok *g;
            cap = cap ? cap * 2 : 1024;
            g = realloc(v, cap * sizeof(*v));
            if (g == NULL) {
                rc = AMLSEC_ENOMEM;
                break;
            }
            v = g;
        }
        v[*n].kind = t;
        v[*n].b = loc.begin;
        v[*n].e = loc.end;
        (*n)++;
    }
    lexer_release(&lx);
    diag_list_release(&diags);
    if (rc < 0) {
        free(v);
        *n = 0;
        v = NULL;
    }
    *out = v;
    return rc;
}

/* Tokens [i, ...) from an opening quote or heredoc to its end: one item,
 * the source bytes verbatim except the blanks before a line end inside an
 * interpolation (insignificant) and comment trailing blanks. Returns the
 * index after the region. */
static size_t take_region(struct fmt *f, const struct tok *t, size_t n, size_t i, struct item *it)
{
    const char *text = f->src->text;
    struct buf b;
    int depth = 0;
    size_t k = i;

    buf_init(&b, 0);
    for (; k < n; k++) {
        if (k > i && t[k].kind != TOK_NL)
            buf_add(&b, text + t[k - 1].e, t[k].b - t[k - 1].e); /* blanks between tokens */
        if (t[k].kind == TOK_COMMENT)
            add_comment_text(&b, text + t[k].b, t[k].e - t[k].b);
        else
            buf_add(&b, text + t[k].b, t[k].e - t[k].b);
        if (t[k].kind == TOK_OQUOTE || t[k].kind == TOK_HEREDOC)
            depth++;
        else if (t[k].kind == TOK_CQUOTE || t[k].kind == TOK_HEREDOC_END)
            depth--;
        if (depth == 0)
            break;
    }
    /* A heredoc's closing word may be followed by a lone '\r' and more code
     * on the same line (`EOT\r, x`): the '\r' is what closes the heredoc,
     * so it stays. */
    if (k < n && t[k].kind == TOK_HEREDOC_END) {
        uint32_t p = t[k].e;
        if (p < f->src->len && text[p] == '\r') {
            uint32_t q = p;
            while (q < f->src->len && is_ws(text[q]))
                q++;
            if (q < f->src->len && text[q] != '\n')
                buf_addch(&b, '\r');
        }
    }
    it->tok = ITEM_REGION;
    it->text = arena_copy(f, &b);
    it->len = b.len;
    it->multiline = has_newline(b.ptr, b.len);
    buf_release(&b);
    return k + 1;
}

/* Whether an item of kind t ends an operand. */
static bool operand_end(int t)
{
    return t == TOK_IDENT || t == TOK_TRAV || t == TOK_INT || t == TOK_DECIMAL || t == TOK_BIGINT ||
           t == TOK_STRING || t == TOK_TRUE || t == TOK_FALSE || t == TOK_NULL || t == TOK_RPAREN ||
           t == TOK_RBRACKET || t == TOK_RBRACE || t == ITEM_REGION;
}

/* Whether the last item (newlines and comments aside) ends an operand, so
 * that a `-` after it is the binary one. */
static bool ends_operand(const struct items *items)
{
    for (size_t i = items->n; i-- > 0;) {
        int t = items->v[i].tok;
        if (t == TOK_NL || t == TOK_COMMENT)
            continue;
        return operand_end(t) || items->v[i].role == ROLE_SPLAT;
    }
    return false;
}

static int build_items(struct fmt *f)
{
    struct tok *t = NULL;
    size_t n = 0;
    int rc;

    if ((rc = lex_all(f, &t, &n)) < 0)
        return f->rc = rc;
    if (push_frame(f, FR_BODY, -1) < 0)
        goto out;
    for (size_t i = 0; i < n && f->rc == 0;) {
        struct item it;
        struct frame *fr = top_frame(f);
        memset(&it, 0, sizeof(it));
        it.tok = t[i].kind;
        it.text = f->src->text + t[i].b;
        it.len = t[i].e - t[i].b;
        it.frame = fr->kind;
        it.frame_id = fr->opener;
        it.partner = -1;
        if (t[i].kind == TOK_OQUOTE || t[i].kind == TOK_HEREDOC) {
            i = take_region(f, t, n, i, &it);
            items_push(f, &f->items, &it);
            continue;
        }
        switch (t[i].kind) {
        case TOK_COMMENT: {
            struct buf b;
            buf_init(&b, 0);
            add_comment_text(&b, it.text, it.len);
            it.text = arena_copy(f, &b);
            it.len = b.len;
            it.multiline = has_newline(b.ptr, b.len);
            buf_release(&b);
            break;
        }
        case TOK_NL:
            if (fr->kind == FR_BODY)
                fr->stmt_assign = false;
            break;
        case TOK_ASSIGN:
            fr->stmt_assign = true;
            break;
        case TOK_QUESTION:
        case TOK_FOR: /* its `:` is spaced like the conditional's */
            fr->questions++;
            break;
        case TOK_MINUS:
            if (ends_operand(&f->items))
                it.role = ROLE_BINARY;
            break;
        case TOK_STAR:
            if (f->items.n > 0 && f->items.v[f->items.n - 1].tok == TOK_DOT)
                it.role = ROLE_SPLAT;
            break;
        case TOK_COLON:
            if (fr->questions > 0)
                fr->questions--;
            else
                it.role = ROLE_MAP_COLON;
            break;
        case TOK_LBRACE:
            if (fr->kind == FR_BODY && !fr->stmt_assign) {
                it.role = ROLE_BLOCK_OPEN;
                push_frame(f, FR_BODY, (long)f->items.n);
            } else {
                it.role = ROLE_MAP_OPEN;
                push_frame(f, FR_MAP, (long)f->items.n);
            }
            break;
        case TOK_LBRACKET:
            push_frame(f, FR_LIST, (long)f->items.n);
            break;
        case TOK_LPAREN:
            push_frame(f, FR_PAREN, (long)f->items.n);
            break;
        case TOK_RBRACE:
        case TOK_RBRACKET:
        case TOK_RPAREN:
            if (f->nframes > 1) {
                long open = fr->opener;
                f->nframes--;
                it.partner = open;
                f->items.v[open].partner = (long)f->items.n;
                it.role = f->items.v[open].role;
                it.frame = top_frame(f)->kind;
                it.frame_id = top_frame(f)->opener;
            }
            break;
        default:
            break;
        }
        items_push(f, &f->items, &it);
        i++;
    }
out:
    free(t);
    return f->rc;
}

/* --- pass 2: line breaks inside multi-line blocks and maps ---------------- */

static bool is_line_comment(const struct item *it)
{
    return it->tok == TOK_COMMENT && it->len > 0 &&
           (it->text[0] == '#' || (it->len > 1 && it->text[1] == '/'));
}

static int break_braces(struct fmt *f)
{
    struct items in = f->items, out = {NULL, 0, 0};
    size_t *breaks = calloc(in.n + 1, sizeof(*breaks)); /* newlines before item i */
    long *remap = malloc((in.n + 1) * sizeof(*remap));
    struct item nl;

    if (breaks == NULL || remap == NULL) {
        free(breaks);
        free(remap);
        return f->rc = AMLSEC_ENOMEM;
    }
    /* breaks[i]: line breaks (newline items or multi-line items) before i */
    for (size_t i = 0; i < in.n; i++)
        breaks[i + 1] = breaks[i] + (in.v[i].tok == TOK_NL || in.v[i].multiline);
    memset(&nl, 0, sizeof(nl));
    nl.tok = TOK_NL;
    nl.text = "\n";
    nl.len = 1;
    nl.partner = -1;
    for (size_t i = 0; i < in.n && f->rc == 0; i++) {
        const struct item *it = &in.v[i];
        if (it->tok == TOK_RBRACE && it->partner >= 0 && breaks[i] - breaks[it->partner + 1] > 0 &&
            in.v[i - 1].tok != TOK_NL) {
            nl.frame = in.v[i - 1].frame;
            nl.frame_id = in.v[i - 1].frame_id;
            items_push(f, &out, &nl);
        }
        remap[i] = (long)out.n;
        items_push(f, &out, it);
        if (it->tok == TOK_LBRACE && it->partner >= 0 && breaks[it->partner] - breaks[i + 1] > 0) {
            const struct item *next = &in.v[i + 1];
            bool ends_line =
                next->tok == TOK_NL || is_line_comment(next) ||
                (next->tok == TOK_COMMENT && i + 2 < in.n && in.v[i + 2].tok == TOK_NL);
            if (!ends_line) {
                nl.frame = it->role == ROLE_BLOCK_OPEN ? FR_BODY : FR_MAP;
                nl.frame_id = (long)i;
                items_push(f, &out, &nl);
            }
        }
    }
    remap[in.n] = (long)out.n;
    if (f->rc == 0) {
        for (size_t i = 0; i < out.n; i++) {
            if (out.v[i].partner >= 0)
                out.v[i].partner = remap[out.v[i].partner];
            if (out.v[i].frame_id >= 0)
                out.v[i].frame_id = remap[out.v[i].frame_id];
        }
        free(in.v);
        f->items = out;
    } else {
        free(out.v);
    }
    free(breaks);
    free(remap);
    return f->rc;
}

/* --- pass 3: lines, indentation, spacing, alignment ----------------------- */

static bool is_opener(int tok)
{
    return tok == TOK_LBRACE || tok == TOK_LBRACKET || tok == TOK_LPAREN;
}

static bool is_closer(int tok)
{
    return tok == TOK_RBRACE || tok == TOK_RBRACKET || tok == TOK_RPAREN;
}

/* Spaces between two items on one line. */
static int space_between(const struct item *p, const struct item *n)
{
    if (n->tok == TOK_COMMA || n->tok == TOK_RPAREN || n->tok == TOK_RBRACKET ||
        n->tok == TOK_DOT || n->role == ROLE_MAP_COLON || n->tok == TOK_ELLIPSIS)
        return 0;
    if (n->tok == TOK_RBRACE)
        return p->tok == TOK_LBRACE ? 0 : 1;
    if (p->tok == TOK_LPAREN || p->tok == TOK_LBRACKET || p->tok == TOK_DOT || p->tok == TOK_NOT ||
        (p->tok == TOK_MINUS && p->role != ROLE_BINARY))
        return 0;
    if (n->tok == TOK_LPAREN)
        return p->tok == TOK_IDENT ? 0 : 1;
    if (n->tok == TOK_LBRACKET) /* after an operand, an index: f(x)[0], {a = 1}["a"], a.*[0] */
        return operand_end(p->tok) || p->role == ROLE_SPLAT ? 0 : 1;
    return 1;
}

static size_t width(const char *s, size_t n)
{
    size_t w = 0;
    for (size_t i = 0; i < n; i++)
        w += ((unsigned char)s[i] & 0xC0) != 0x80;
    return w;
}

struct out_line {
    size_t first, n;
    int indent;
    long align_group; /* run of aligned attributes: its first line; -1 none */
    size_t key_items; /* items before the `=` (a parenthesised key: several) */
    size_t key_width;
    size_t pad;         /* spaces before `=` */
    bool trailing;      /* ends with a comment after code, all on one line */
    size_t code_width;  /* trailing: width of the code before the comment */
    size_t comment_col; /* trailing: column of the comment */
};

static const struct item *last_code(const struct item *v, const struct out_line *l)
{
    for (size_t k = l->n; k > 0; k--)
        if (v[l->first + k - 1].tok != TOK_COMMENT)
            return &v[l->first + k - 1];
    return NULL;
}

/* Splits items into lines and drops the blank lines the layout does not
 * keep. */
static int split_lines(struct fmt *f, struct out_line **out, size_t *nout)
{
    const struct item *v = f->items.v;
    struct out_line *lines = calloc(f->items.n + 1, sizeof(*lines));
    size_t n = 0, start = 0;

    if (lines == NULL)
        return f->rc = AMLSEC_ENOMEM;
    for (size_t i = 0; i <= f->items.n; i++) {
        if (i < f->items.n && v[i].tok != TOK_NL)
            continue;
        lines[n].first = start;
        lines[n].n = i - start;
        lines[n].align_group = -1;
        n++;
        start = i + 1;
    }
    /* the last "line" after the final newline is empty: a blank we drop */
    {
        size_t w = 0;
        for (size_t i = 0; i < n; i++) {
            if (lines[i].n == 0) {
                const struct item *prev_last = w ? last_code(v, &lines[w - 1]) : NULL;
                size_t j = i + 1;
                while (j < n && lines[j].n == 0)
                    j++;
                if (w == 0 || j == n || lines[w - 1].n == 0 ||
                    (prev_last && is_opener(prev_last->tok)) || is_closer(v[lines[j].first].tok))
                    continue;
            }
            lines[w++] = lines[i];
        }
        n = w;
    }
    *out = lines;
    *nout = n;
    return 0;
}

static void indent_lines(struct fmt *f, struct out_line *lines, size_t n)
{
    const struct item *v = f->items.v;
    int *stack = malloc((f->items.n + 1) * sizeof(*stack)); /* indent of each open bracket's line */
    size_t depth = 0;

    if (stack == NULL) {
        f->rc = AMLSEC_ENOMEM;
        return;
    }
    for (size_t l = 0; l < n; l++) {
        size_t k = 0;
        int indent = -1;
        while (k < lines[l].n && is_closer(v[lines[l].first + k].tok)) {
            if (depth)
                indent = stack[--depth];
            k++;
        }
        if (indent < 0)
            indent = depth ? stack[depth - 1] + 1 : 0;
        lines[l].indent = indent;
        for (; k < lines[l].n; k++) {
            int t = v[lines[l].first + k].tok;
            if (is_opener(t))
                stack[depth++] = indent;
            else if (is_closer(t) && depth)
                depth--;
        }
    }
    free(stack);
}

/* The items of l's key before its `=`: a name, a quoted key in a map, or
 * a map key computed in parentheses (all of it, `(var.team)`, aligned like
 * a name, as terraform fmt aligns whatever stands before the `=`); 0 when
 * the line does not start with one. */
static size_t key_items(const struct item *v, const struct out_line *l)
{
    const struct item *first = &v[l->first];
    size_t n = 1;
    if (first->tok == TOK_LPAREN && first->frame == FR_MAP && first->partner > (long)l->first)
        n = (size_t)first->partner - l->first + 1;
    else if (!(first->tok == TOK_IDENT || (first->tok == TOK_STRING && first->frame == FR_MAP)))
        return 0;
    return n < l->n && v[l->first + n].tok == TOK_ASSIGN ? n : 0;
}

/* `key = value` complete on one line, directly in a body or map. */
static bool alignable(const struct item *v, const struct out_line *l)
{
    const struct item *first = &v[l->first];
    int depth = 0;
    if (l->n < 3 || (first->frame != FR_BODY && first->frame != FR_MAP) || key_items(v, l) == 0)
        return false;
    for (size_t k = 0; k < l->n; k++) {
        const struct item *it = &v[l->first + k];
        if (it->multiline)
            return false;
        if (is_opener(it->tok))
            depth++;
        else if (is_closer(it->tok) && --depth < 0)
            return false;
    }
    return depth == 0;
}

static void render_code(struct buf *b, const struct item *v, const struct out_line *l,
                        size_t count);

static void align_lines(struct fmt *f, struct out_line *lines, size_t n)
{
    const struct item *v = f->items.v;
    struct buf key;
    buf_init(&key, 0);
    for (size_t l = 0; l < n;) {
        size_t end = l, maxw = 0;
        if (!alignable(v, &lines[l])) {
            l++;
            continue;
        }
        while (end < n && alignable(v, &lines[end]) && lines[end].indent == lines[l].indent &&
               v[lines[end].first].frame_id == v[lines[l].first].frame_id) {
            struct out_line bare = lines[end];
            size_t w;
            bare.indent = 0;
            lines[end].key_items = key_items(v, &lines[end]);
            buf_reset(&key);
            render_code(&key, v, &bare, lines[end].key_items); /* the key as it is printed */
            w = width(key.ptr, key.len);
            lines[end].key_width = w;
            if (w > maxw)
                maxw = w;
            end++;
        }
        for (size_t k = l; k < end; k++) {
            lines[k].align_group = (long)l;
            lines[k].pad = maxw - lines[k].key_width + 1;
        }
        l = end;
    }
    buf_release(&key);
}

/* Renders the code of a line (without a trailing comment when `trailing`). */
static void render_code(struct buf *b, const struct item *v, const struct out_line *l, size_t count)
{
    for (int i = 0; i < l->indent; i++)
        buf_add(b, "  ", 2);
    for (size_t k = 0; k < count; k++) {
        const struct item *it = &v[l->first + k];
        if (k > 0) {
            int sp = space_between(&v[l->first + k - 1], it);
            if (k == l->key_items && l->align_group >= 0)
                sp = (int)l->pad;
            for (int s = 0; s < sp; s++)
                buf_addch(b, ' ');
        }
        buf_add(b, it->text, it->len);
    }
}

static int render(struct fmt *f, struct buf *out, struct out_line *lines, size_t n)
{
    const struct item *v = f->items.v;
    struct buf tmp;

    buf_init(&tmp, 0);
    /* trailing comments: measure, then align within runs of one indent */
    for (size_t l = 0; l < n; l++) {
        struct out_line *ln = &lines[l];
        const struct item *lastit = ln->n ? &v[ln->first + ln->n - 1] : NULL;
        bool multi = false;
        for (size_t k = 0; k < ln->n; k++)
            multi |= v[ln->first + k].multiline;
        if (ln->n < 2 || lastit->tok != TOK_COMMENT || multi)
            continue;
        buf_reset(&tmp);
        render_code(&tmp, v, ln, ln->n - 1);
        ln->trailing = true;
        ln->code_width = width(tmp.ptr, tmp.len);
    }
    for (size_t l = 0; l < n;) {
        size_t end = l, maxw = 0;
        if (!lines[l].trailing) {
            l++;
            continue;
        }
        while (end < n && lines[end].trailing && lines[end].indent == lines[l].indent) {
            if (lines[end].code_width > maxw)
                maxw = lines[end].code_width;
            end++;
        }
        for (size_t k = l; k < end; k++)
            lines[k].comment_col = maxw + 1;
        l = end;
    }
    for (size_t l = 0; l < n; l++) {
        struct out_line *ln = &lines[l];
        if (ln->n == 0) {
            buf_addch(out, '\n');
            continue;
        }
        if (ln->trailing) {
            const struct item *c = &v[ln->first + ln->n - 1];
            render_code(out, v, ln, ln->n - 1);
            for (size_t s = ln->code_width; s < ln->comment_col; s++)
                buf_addch(out, ' ');
            buf_add(out, c->text, c->len);
        } else {
            render_code(out, v, ln, ln->n);
        }
        buf_addch(out, '\n');
    }
    buf_release(&tmp);
    return 0;
}

static int layout(const struct src_file *src, struct buf *out)
{
    struct fmt f;
    struct out_line *lines = NULL;
    size_t n = 0;

    memset(&f, 0, sizeof(f));
    f.src = src;
    arena_init(&f.arena);
    if (build_items(&f) == 0 && break_braces(&f) == 0 && split_lines(&f, &lines, &n) == 0) {
        indent_lines(&f, lines, n);
        align_lines(&f, lines, n);
        if (f.rc == 0)
            render(&f, out, lines, n);
    }
    free(lines);
    free(f.items.v);
    free(f.frames);
    arena_release(&f.arena);
    return f.rc;
}

int fmt_source(struct buf *out, const struct src_file *src, struct diag_list *diags,
               struct errbuf *err)
{
    struct arena a1, a2;
    struct ast_file *before = NULL, *after = NULL;
    struct src_file *formatted = NULL;
    struct diag_list check;
    struct buf text;
    int rc;

    arena_init(&a1);
    arena_init(&a2);
    diag_list_init(&check);
    buf_init(&text, 0);
    if ((rc = parse_file(&before, src, &a1, diags)) < 0) {
        if (rc == AMLSEC_ENOMEM)
            errbuf_set(err, rc, "out of memory formatting '%s'", src->name);
        goto out;
    }
    if ((rc = layout(src, &text)) < 0) {
        if (rc == AMLSEC_ENOMEM)
            errbuf_set(err, rc, "out of memory formatting '%s'", src->name);
        else
            errbuf_set(err, rc, "internal error: cannot re-read the tokens of '%s'", src->name);
        goto out;
    }
    if ((rc = src_file_from_mem(&formatted, src->name, text.ptr, text.len, err)) < 0)
        goto out;
    diag_list_release(&check);
    if (parse_file(&after, formatted, &a2, &check) != 0 || !ast_file_equal(before, after)) {
        rc = errbuf_set(err, AMLSEC_ERROR,
                        "internal error: formatting '%s' would change its meaning; "
                        "the file was left as it is",
                        src->name);
        goto out;
    }
    if (buf_add(out, text.ptr, text.len) < 0)
        rc = errbuf_set(err, AMLSEC_ENOMEM, "out of memory formatting '%s'", src->name);
out:
    buf_release(&text);
    src_file_free(formatted);
    diag_list_release(&check);
    arena_release(&a1);
    arena_release(&a2);
    return rc;
}
