/* RE2 syntax and Go's regexp semantics (see regex.h). The parser follows
 * Go's regexp/syntax (its rules, limits and the order of alternatives);
 * the compiler emits Go's instruction shapes (x* of an x that can match
 * empty as (x+)?, x{n,m} as n copies of x and nested x?), so a thread's
 * priority, and with it every submatch, is Go's; the Pike VM is Go's NFA
 * with an explicit stack. */
#include "parser/regex.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parser/regex_unicode.h"
#include "util/banned.h"

#define RX_GROUPS_MAX 1000
#define RX_REPEAT_MAX 1000
#define RX_DEPTH_MAX 1000
#define RX_INSTS_MAX 500000
/* thread submatch slots the VM may need at once: (consuming instructions)
 * x 2 queues x (2 per group) */
#define RX_SLOTS_MAX (1u << 23)
#define RUNE_MAX 0x10FFFFu
#define RUNE_ERROR 0xFFFDu

enum { F_ICASE = 1, F_MULTILINE = 2, F_DOTNL = 4, F_UNGREEDY = 8 };
enum { L_BOL = 1, L_EOL = 2, L_BOT = 4, L_EOT = 8, L_WORD = 16, L_NOWORD = 32 };

/* sorted, disjoint ranges once cleaned: r[2i] .. r[2i + 1] */
struct cls {
    uint32_t *r;
    size_t n, cap;
};

enum op {
    N_EMPTY,
    N_LIT,
    N_CLASS,
    N_ANY,
    N_ANYNL,
    N_LOOK,
    N_CAP,
    N_STAR,
    N_PLUS,
    N_QUEST,
    N_REPEAT,
    N_CAT,
    N_ALT
};

struct node {
    enum op op;
    bool greedy;
    int min, max; /* N_REPEAT; max -1: no bound */
    uint32_t arg; /* N_LIT: the rune; N_LOOK: L_*; N_CAP: the group */
    struct cls cls;
    struct node **sub;
    size_t nsub, subcap;
};

enum iop { I_FAIL, I_RUNE1, I_CLASS, I_ANY, I_ANYNL, I_LOOK, I_ALT, I_NOP, I_SAVE, I_MATCH };

struct inst {
    uint8_t op;
    uint32_t out, arg; /* I_ALT: out first, then arg; I_SAVE: arg the slot;
                          I_RUNE1: arg the rune; I_LOOK: arg L_* */
    const struct cls *cls;
};

struct entry {
    uint32_t pc;
    ptrdiff_t *t; /* a thread's slots, or NULL */
};

struct queue {
    uint32_t *sparse;
    struct entry *dense;
    size_t n;
};

struct job {
    uint32_t pc;
    int32_t slot; /* >= 0: restore slot to old */
    ptrdiff_t old;
};

struct rx_prog {
    struct node *root;
    struct inst *inst;
    size_t n, cap, start, nslots, consuming;
    bool anchored; /* every match starts at the start of the text */
    /* the VM's memory, made on the first rx_exec */
    struct queue q[2];
    struct job *stack;
    ptrdiff_t **pool, *slab, *work;
    size_t npool;
};

/* --- classes --- */

static int cls_add(struct cls *c, uint32_t lo, uint32_t hi)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 8;
        uint32_t *r = realloc(c->r, cap * 2 * sizeof(*r));
        if (r == NULL)
            return -1;
        c->r = r;
        c->cap = cap;
    }
    c->r[2 * c->n] = lo;
    c->r[2 * c->n + 1] = hi;
    c->n++;
    return 0;
}

static int range_cmp(const void *a, const void *b)
{
    const uint32_t *x = a, *y = b;
    return x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : x[1] < y[1] ? -1 : x[1] > y[1];
}

static void cls_clean(struct cls *c)
{
    size_t w = 0;
    bool sorted = true;
    if (c->n == 0)
        return;
    for (size_t i = 1; i < c->n && sorted; i++)
        sorted = c->r[2 * i] > c->r[2 * i - 1];
    if (!sorted)
        qsort(c->r, c->n, 2 * sizeof(uint32_t), range_cmp);
    for (size_t i = 1; i < c->n; i++) {
        if (c->r[2 * i] <= c->r[2 * w + 1] + 1) {
            if (c->r[2 * i + 1] > c->r[2 * w + 1])
                c->r[2 * w + 1] = c->r[2 * i + 1];
        } else {
            w++;
            c->r[2 * w] = c->r[2 * i];
            c->r[2 * w + 1] = c->r[2 * i + 1];
        }
    }
    c->n = w + 1;
}

/* Whether r is in the first n ranges of c (sorted). */
static bool cls_has_n(const struct cls *c, size_t n, uint32_t r)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t m = lo + (hi - lo) / 2;
        if (r < c->r[2 * m])
            hi = m;
        else if (r > c->r[2 * m + 1])
            lo = m + 1;
        else
            return true;
    }
    return false;
}

static bool cls_has(const struct cls *c, uint32_t r)
{
    return cls_has_n(c, c->n, r);
}

/* c becomes its complement in 0..RUNE_MAX (c cleaned). */
static int cls_negate(struct cls *c)
{
    struct cls n = {0};
    uint32_t next = 0;
    int rc = 0;
    for (size_t i = 0; i < c->n && rc == 0; i++) {
        if (c->r[2 * i] > next)
            rc = cls_add(&n, next, c->r[2 * i] - 1);
        next = c->r[2 * i + 1] + 1;
    }
    if (rc == 0 && next <= RUNE_MAX)
        rc = cls_add(&n, next, RUNE_MAX);
    free(c->r);
    *c = n;
    return rc;
}

/* The next code point of r's simple case folding orbit (r itself when r
 * folds to nothing else). */
static uint32_t fold_next(uint32_t r)
{
    size_t lo = 0, hi = rx_nufold;
    while (lo < hi) {
        size_t m = lo + (hi - lo) / 2;
        if (rx_ufold[m][0] < r)
            lo = m + 1;
        else
            hi = m;
    }
    return lo < rx_nufold && rx_ufold[lo][0] == r ? rx_ufold[lo][1] : r;
}

/* c (cleaned) gains every code point that folds like one of its own. */
static int cls_fold(struct cls *c)
{
    for (int pass = 0; pass < 4; pass++) {
        size_t before = c->n;
        bool grew = false;
        if (c->n == 0)
            return 0;
        for (size_t i = 0; i < rx_nufold; i++) {
            uint32_t r = rx_ufold[i][0], to = rx_ufold[i][1];
            if (r < c->r[0] || r > c->r[2 * (before - 1) + 1])
                continue;
            if (cls_has_n(c, before, r) && !cls_has_n(c, before, to)) {
                if (cls_add(c, to, to) < 0)
                    return -1;
                grew = true;
            }
        }
        cls_clean(c);
        if (!grew)
            break;
    }
    return 0;
}

/* --- the parser --- */

struct parser {
    const char *pat, *p;
    unsigned flags;
    int depth;
    size_t ncap;
    char **names;
    size_t names_cap;
    bool named, unnamed, failed;
    char *err;
    size_t errlen;
};

static void *bad(struct parser *ps, const char *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void *bad(struct parser *ps, const char *at, const char *fmt, ...)
{
    va_list ap;
    size_t n;
    if (ps->failed)
        return NULL;
    ps->failed = true;
    va_start(ap, fmt);
    vsnprintf(ps->err, ps->errlen, fmt, ap);
    va_end(ap);
    n = strlen(ps->err);
    if (at != NULL && n < ps->errlen)
        snprintf(ps->err + n, ps->errlen - n, " (at offset %zu)", (size_t)(at - ps->pat));
    return NULL;
}

static void node_free(struct node *n)
{
    if (n == NULL)
        return;
    for (size_t i = 0; i < n->nsub; i++)
        node_free(n->sub[i]);
    free(n->sub);
    free(n->cls.r);
    free(n);
}

static struct node *node_new(struct parser *ps, enum op op)
{
    struct node *n = calloc(1, sizeof(*n));
    if (n == NULL)
        return bad(ps, NULL, "out of memory");
    n->op = op;
    return n;
}

static int node_add(struct parser *ps, struct node *n, struct node *sub)
{
    if (n->nsub == n->subcap) {
        size_t cap = n->subcap ? n->subcap * 2 : 4;
        struct node **s = realloc(n->sub, cap * sizeof(*s));
        if (s == NULL) {
            node_free(sub);
            bad(ps, NULL, "out of memory");
            return -1;
        }
        n->sub = s;
        n->subcap = cap;
    }
    n->sub[n->nsub++] = sub;
    return 0;
}

/* One UTF-8 character of s: its code point, and its length in *len (0 at
 * the end); an invalid byte is U+FFFD of length 1, as Go decodes. */
static uint32_t decode(const unsigned char *s, size_t avail, size_t *len)
{
    uint32_t c;
    size_t n;
    if (avail == 0) {
        *len = 0;
        return 0;
    }
    c = s[0];
    *len = 1;
    if (c < 0x80)
        return c;
    if (c >= 0xC2 && c <= 0xDF)
        n = 2, c &= 0x1F;
    else if (c >= 0xE0 && c <= 0xEF)
        n = 3, c &= 0x0F;
    else if (c >= 0xF0 && c <= 0xF4)
        n = 4, c &= 0x07;
    else
        return RUNE_ERROR;
    if (avail < n)
        return RUNE_ERROR;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return RUNE_ERROR;
        c = (c << 6) | (s[i] & 0x3F);
    }
    if ((n == 3 && (c < 0x800 || (c >= 0xD800 && c <= 0xDFFF))) || (n == 4 && c < 0x10000) ||
        c > RUNE_MAX)
        return RUNE_ERROR;
    *len = n;
    return c;
}

/* The pattern's next character, or an error for invalid UTF-8. */
static int next_rune(struct parser *ps, uint32_t *r)
{
    size_t n;
    *r = decode((const unsigned char *)ps->p, strnlen(ps->p, 4), &n);
    if (n == 1 && *r == RUNE_ERROR && (unsigned char)*ps->p >= 0x80) {
        bad(ps, ps->p, "invalid UTF-8");
        return -1;
    }
    ps->p += n;
    return 0;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

static bool is_alnum(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* An escape that stands for one character, the '\\' at ps->p. */
static int parse_escape(struct parser *ps, uint32_t *r)
{
    const char *at = ps->p;
    unsigned char c = (unsigned char)ps->p[1];
    ps->p += 2;
    switch (c) {
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7':
        if (*ps->p < '0' || *ps->p > '7') {
            bad(ps, at, "backreferences (\\%c) are not RE2 syntax", c);
            return -1;
        }
        /* an octal escape of two or three digits */
        __attribute__((fallthrough));
    case '0':
        *r = c - '0';
        for (int i = 1; i < 3 && *ps->p >= '0' && *ps->p <= '7'; i++)
            *r = *r * 8 + (uint32_t)(*ps->p++ - '0');
        return 0;
    case 'x':
        if (*ps->p == '{') {
            size_t n = 0;
            *r = 0;
            for (ps->p++; *ps->p != '}'; ps->p++, n++) {
                int v = hexval(*ps->p);
                if (v < 0 || (*r = *r * 16 + (uint32_t)v) > RUNE_MAX)
                    break;
            }
            if (*ps->p != '}' || n == 0) {
                bad(ps, at, "invalid escape \\x{...}: hex digits up to 10FFFF");
                return -1;
            }
            ps->p++;
            return 0;
        }
        if (hexval(ps->p[0]) < 0 || hexval(ps->p[1]) < 0) {
            bad(ps, at, "invalid escape \\x: two hex digits or \\x{...}");
            return -1;
        }
        *r = (uint32_t)(hexval(ps->p[0]) * 16 + hexval(ps->p[1]));
        ps->p += 2;
        return 0;
    case 'a':
        *r = '\a';
        return 0;
    case 'f':
        *r = '\f';
        return 0;
    case 'n':
        *r = '\n';
        return 0;
    case 'r':
        *r = '\r';
        return 0;
    case 't':
        *r = '\t';
        return 0;
    case 'v':
        *r = '\v';
        return 0;
    case '\0':
        ps->p--;
        bad(ps, at, "trailing '\\' at the end of the pattern");
        return -1;
    case 'Z':
        bad(ps, at, "invalid escape \\Z (RE2 has \\z)");
        return -1;
    default:
        if (c < 0x80 && !is_alnum(c)) {
            *r = c; /* escaped punctuation is itself */
            return 0;
        }
        if (c >= 0x80) {
            ps->p--;
            if (next_rune(ps, r) < 0)
                return -1;
            bad(ps, at, "invalid escape \\%.*s", (int)(ps->p - at - 1), at + 1);
            return -1;
        }
        bad(ps, at, "invalid escape \\%c", c);
        return -1;
    }
}

/* The ASCII classes: Perl's \d \s \w and the POSIX names, as RE2 has them. */
static const struct {
    const char *name, *ranges; /* pairs of bytes, lo and hi */
} ascii_classes[] = {
    {"d", "09"},           {"s", "\t\n\f\r  "},
    {"w", "09AZaz__"},     {"alnum", "09AZaz"},
    {"alpha", "AZaz"},     {"ascii", "\x01\x7f"}, /* and \x00, added below */
    {"blank", "\t\t  "},   {"cntrl", "\x01\x1f\x7f\x7f"},
    {"digit", "09"},       {"graph", "!~"},
    {"lower", "az"},       {"print", " ~"},
    {"punct", "!/:@[`{~"}, {"space", "\t\r  "},
    {"upper", "AZ"},       {"word", "09AZaz__"},
    {"xdigit", "09AFaf"},
};

static const char *ascii_class(const char *name, size_t n)
{
    for (size_t i = 0; i < sizeof(ascii_classes) / sizeof(ascii_classes[0]); i++)
        if (strlen(ascii_classes[i].name) == n && memcmp(ascii_classes[i].name, name, n) == 0)
            return ascii_classes[i].ranges;
    return NULL;
}

/* Adds a group (one of the classes above, or a Unicode table) to c: folded
 * under (?i), then negated when neg, as Go's appendGroup does. */
static int add_group(struct parser *ps, struct cls *c, const char *ranges, bool nul,
                     const struct rx_uclass *u, bool neg)
{
    struct cls g = {0};
    int rc = 0;
    if (ranges != NULL) {
        for (const char *q = ranges; *q && rc == 0; q += 2)
            rc = cls_add(&g, (unsigned char)q[0], (unsigned char)q[1]);
        if (nul && rc == 0)
            rc = cls_add(&g, 0, 0);
    } else {
        for (size_t i = 0; i < u->n && rc == 0; i++)
            rc = cls_add(&g, u->r[2 * i], u->r[2 * i + 1]);
    }
    cls_clean(&g);
    if (rc == 0 && (ps->flags & F_ICASE))
        rc = cls_fold(&g);
    if (rc == 0 && neg)
        rc = cls_negate(&g);
    for (size_t i = 0; i < g.n && rc == 0; i++)
        rc = cls_add(c, g.r[2 * i], g.r[2 * i + 1]);
    free(g.r);
    if (rc < 0)
        bad(ps, NULL, "out of memory");
    return rc;
}

static const struct rx_uclass *unicode_class(const char *name, size_t n)
{
    size_t lo = 0, hi = rx_nuclasses;
    while (lo < hi) {
        size_t m = lo + (hi - lo) / 2;
        int d = strncmp(rx_uclasses[m].name, name, n);
        if (d == 0 && rx_uclasses[m].name[n] != '\0')
            d = 1;
        if (d == 0)
            return &rx_uclasses[m];
        if (d < 0)
            lo = m + 1;
        else
            hi = m;
    }
    return NULL;
}

/* \pL, \p{Greek}, \p{^Greek}, \PL at ps->p. */
static int parse_unicode_class(struct parser *ps, struct cls *c)
{
    const char *at = ps->p, *name;
    bool neg = ps->p[1] == 'P';
    size_t n;
    const struct rx_uclass *u;
    ps->p += 2;
    if (*ps->p == '{') {
        const char *end = strchr(ps->p, '}');
        if (end == NULL)
            return bad(ps, at, "missing '}' after \\%c{", neg ? 'P' : 'p'), -1;
        name = ps->p + 1;
        n = (size_t)(end - name);
        ps->p = end + 1;
    } else {
        uint32_t r;
        name = ps->p;
        if (*ps->p == '\0')
            return bad(ps, at, "invalid escape \\%c at the end of the pattern", neg ? 'P' : 'p'),
                   -1;
        if (next_rune(ps, &r) < 0)
            return -1;
        n = (size_t)(ps->p - name);
    }
    if (n > 0 && name[0] == '^') {
        neg = !neg;
        name++;
        n--;
    }
    if ((u = unicode_class(name, n)) == NULL)
        return bad(ps, at, "unknown Unicode class \\%.*s", (int)(ps->p - at - 1), at + 1), -1;
    return add_group(ps, c, NULL, false, u, neg);
}

/* \d \s \w \D \S \W at ps->p. */
static int parse_perl_class(struct parser *ps, struct cls *c)
{
    char k = ps->p[1];
    bool neg = k == 'D' || k == 'S' || k == 'W';
    char lower = (char)(neg ? k + ('a' - 'A') : k);
    ps->p += 2;
    return add_group(ps, c, ascii_class(&lower, 1), false, NULL, neg);
}

static struct node *class_node(struct parser *ps, struct cls *c)
{
    struct node *n = node_new(ps, N_CLASS);
    cls_clean(c);
    if (n == NULL) {
        free(c->r);
        return NULL;
    }
    n->cls = *c;
    return n;
}

/* A class character: a literal or an escape. */
static int class_char(struct parser *ps, const char *open, uint32_t *r)
{
    if (*ps->p == '\0')
        return bad(ps, open, "missing ']' closing a character class"), -1;
    if (*ps->p == '\\')
        return parse_escape(ps, r);
    return next_rune(ps, r);
}

/* [...] at ps->p. */
static struct node *parse_class(struct parser *ps)
{
    const char *open = ps->p;
    struct cls c = {0};
    bool neg = false, first = true;
    int rc = 0;
    ps->p++;
    if (*ps->p == '^') {
        neg = true;
        ps->p++;
    }
    while (rc == 0 && (first || *ps->p != ']')) {
        uint32_t lo, hi;
        const char *item = ps->p;
        first = false;
        if (ps->p[0] == '[' && ps->p[1] == ':') {
            const char *name = ps->p + 2, *end = strstr(name, ":]");
            if (end != NULL) {
                bool gneg = *name == '^';
                const char *r = ascii_class(name + gneg, (size_t)(end - name - gneg));
                if (r == NULL) {
                    rc = -1;
                    bad(ps, item, "unknown class name [:%.*s:]", (int)(end - name), name);
                    break;
                }
                ps->p = end + 2;
                /* [:ascii:] and [:cntrl:] start at \x00, which r cannot hold */
                rc = add_group(ps, &c, r, r[0] == '\x01', NULL, gneg);
                continue;
            }
        }
        if (ps->p[0] == '\\' && (ps->p[1] == 'p' || ps->p[1] == 'P')) {
            rc = parse_unicode_class(ps, &c);
            continue;
        }
        if (ps->p[0] == '\\' && ps->p[1] != '\0' && strchr("dswDSW", ps->p[1])) {
            rc = parse_perl_class(ps, &c);
            continue;
        }
        if ((rc = class_char(ps, open, &lo)) < 0)
            break;
        hi = lo;
        if (ps->p[0] == '-' && ps->p[1] != ']' && ps->p[1] != '\0') {
            ps->p++;
            if ((rc = class_char(ps, open, &hi)) < 0)
                break;
            if (hi < lo) {
                rc = -1;
                bad(ps, item, "invalid character class range %.*s", (int)(ps->p - item), item);
                break;
            }
        }
        if (ps->flags & F_ICASE) {
            struct cls g = {0};
            if ((rc = cls_add(&g, lo, hi)) == 0 && (rc = cls_fold(&g)) == 0)
                for (size_t i = 0; i < g.n && rc == 0; i++)
                    rc = cls_add(&c, g.r[2 * i], g.r[2 * i + 1]);
            free(g.r);
        } else {
            rc = cls_add(&c, lo, hi);
        }
        if (rc < 0)
            bad(ps, NULL, "out of memory");
    }
    if (rc == 0 && *ps->p == '\0')
        rc = -1, bad(ps, open, "missing ']' closing a character class");
    if (rc < 0) {
        free(c.r);
        return NULL;
    }
    ps->p++; /* ']' */
    cls_clean(&c);
    if (neg && cls_negate(&c) < 0) {
        free(c.r);
        return bad(ps, NULL, "out of memory");
    }
    return class_node(ps, &c);
}

/* A literal character: under (?i), the class of its case folding orbit. */
static struct node *literal(struct parser *ps, uint32_t r)
{
    struct node *n;
    if ((ps->flags & F_ICASE) && fold_next(r) != r) {
        struct cls c = {0};
        uint32_t f = r;
        do {
            if (cls_add(&c, f, f) < 0) {
                free(c.r);
                return bad(ps, NULL, "out of memory");
            }
            f = fold_next(f);
        } while (f != r);
        return class_node(ps, &c);
    }
    if ((n = node_new(ps, N_LIT)) != NULL)
        n->arg = r;
    return n;
}

static struct node *look(struct parser *ps, uint32_t what)
{
    struct node *n = node_new(ps, N_LOOK);
    if (n != NULL)
        n->arg = what;
    return n;
}

static struct node *parse_alt(struct parser *ps);

static bool valid_name_char(char c)
{
    return is_alnum((unsigned char)c) || c == '_';
}

/* A group at ps->p ('('): a capture, a non-capturing group, or flags,
 * which change ps->flags and give no node (*none set). */
static struct node *parse_group(struct parser *ps, bool *none)
{
    const char *open = ps->p;
    const char *name = NULL;
    size_t name_len = 0;
    unsigned saved = ps->flags;
    struct node *sub, *n;
    bool capture = true;

    *none = false;
    if (++ps->depth > RX_DEPTH_MAX)
        return bad(ps, open, "expression nests too deeply (more than %d levels)", RX_DEPTH_MAX);
    ps->p++;
    if (*ps->p == '?') {
        const char *q = ps->p + 1;
        if ((q[0] == 'P' && q[1] == '<') || (q[0] == '<' && q[1] != '=' && q[1] != '!')) {
            const char *end;
            name = q + (q[0] == 'P' ? 2 : 1);
            for (end = name; valid_name_char(*end); end++)
                ;
            if (*end != '>' || end == name)
                return bad(ps, open, "invalid group name: letters, digits and '_' between < and >");
            name_len = (size_t)(end - name);
            ps->p = end + 1;
        } else if (q[0] == 'P' && q[1] == '=') {
            return bad(ps, open, "(?P=name) backreferences are not RE2 syntax");
        } else if (q[0] == '=' || q[0] == '!' || (q[0] == '<' && (q[1] == '=' || q[1] == '!'))) {
            return bad(ps, open, "lookaround (?%.*s...) is not RE2 syntax", q[0] == '<' ? 2 : 1, q);
        } else {
            /* flags: (?i) (?i-s) (?i:...) as Go's parsePerlFlags */
            unsigned flags = ps->flags, set = 0, clear = 0;
            bool minus = false, saw = false;
            for (;; q++) {
                unsigned f = *q == 'i'   ? F_ICASE
                             : *q == 'm' ? F_MULTILINE
                             : *q == 's' ? F_DOTNL
                             : *q == 'U' ? F_UNGREEDY
                                         : 0;
                if (f != 0) {
                    *(minus ? &clear : &set) |= f;
                    saw = true;
                } else if (*q == '-' && !minus) {
                    minus = true;
                    saw = false;
                } else if ((*q == ':' || *q == ')') && !(minus && !saw)) {
                    break;
                } else {
                    if (*q == '\0')
                        return bad(ps, open, "missing ')' after (?");
                    return bad(ps, open, "unknown flag or syntax (?%.*s", (int)(q - ps->p),
                               ps->p + 1);
                }
            }
            flags = (flags | set) & ~clear;
            ps->p = q + 1;
            if (*q == ')') {
                ps->depth--;
                ps->flags = flags;
                *none = true;
                return NULL;
            }
            ps->flags = flags;
            capture = false;
        }
    }
    if (capture) {
        if (ps->ncap >= RX_GROUPS_MAX)
            return bad(ps, open, "more than %d capture groups", RX_GROUPS_MAX);
        if (ps->ncap + 2 > ps->names_cap) {
            size_t cap = ps->names_cap ? ps->names_cap * 2 : 8;
            char **names = realloc(ps->names, cap * sizeof(*names));
            if (names == NULL)
                return bad(ps, NULL, "out of memory");
            ps->names = names;
            ps->names_cap = cap;
        }
        ps->ncap++;
        ps->names[ps->ncap] = NULL;
        if (name != NULL) {
            for (size_t g = 1; g < ps->ncap; g++)
                if (ps->names[g] && strlen(ps->names[g]) == name_len &&
                    memcmp(ps->names[g], name, name_len) == 0)
                    return bad(ps, open, "duplicate group name '%.*s'", (int)name_len, name);
            if ((ps->names[ps->ncap] = strndup(name, name_len)) == NULL)
                return bad(ps, NULL, "out of memory");
            ps->named = true;
        } else {
            ps->unnamed = true;
        }
    }
    {
        size_t index = ps->ncap;
        sub = parse_alt(ps);
        ps->flags = saved;
        if (sub == NULL)
            return NULL;
        if (*ps->p != ')') {
            node_free(sub);
            return bad(ps, open, "missing ')' closing the group");
        }
        ps->p++;
        ps->depth--;
        if (!capture)
            return sub;
        if ((n = node_new(ps, N_CAP)) == NULL || node_add(ps, n, sub) < 0) {
            node_free(n);
            return NULL;
        }
        n->arg = (uint32_t)index;
        return n;
    }
}

/* One item at ps->p, not a repetition: NULL with *none set for flags. */
static struct node *parse_atom(struct parser *ps, bool *none)
{
    const char *at = ps->p;
    uint32_t r;
    *none = false;
    switch (*ps->p) {
    case '(':
        return parse_group(ps, none);
    case '[':
        return parse_class(ps);
    case '.':
        ps->p++;
        return node_new(ps, (ps->flags & F_DOTNL) ? N_ANY : N_ANYNL);
    case '^':
        ps->p++;
        return look(ps, (ps->flags & F_MULTILINE) ? L_BOL : L_BOT);
    case '$':
        ps->p++;
        return look(ps, (ps->flags & F_MULTILINE) ? L_EOL : L_EOT);
    case '\\':
        switch (ps->p[1]) {
        case 'A':
            ps->p += 2;
            return look(ps, L_BOT);
        case 'z':
            ps->p += 2;
            return look(ps, L_EOT);
        case 'b':
            ps->p += 2;
            return look(ps, L_WORD);
        case 'B':
            ps->p += 2;
            return look(ps, L_NOWORD);
        case 'C':
            return bad(ps, at, "\\C (any byte) is not supported");
        case 'p':
        case 'P':
        case 'd':
        case 's':
        case 'w':
        case 'D':
        case 'S':
        case 'W': {
            struct cls c = {0};
            int rc = (ps->p[1] == 'p' || ps->p[1] == 'P') ? parse_unicode_class(ps, &c)
                                                          : parse_perl_class(ps, &c);
            if (rc < 0) {
                free(c.r);
                return NULL;
            }
            return class_node(ps, &c);
        }
        default:
            if (parse_escape(ps, &r) < 0)
                return NULL;
            return literal(ps, r);
        }
    default:
        if (next_rune(ps, &r) < 0)
            return NULL;
        return literal(ps, r);
    }
}

/* {n}, {n,}, {n,m} at ps->p: false (and ps->p unchanged) when it is not one,
 * and the '{' is a literal; a number too big is -1. */
static bool parse_repeat(const char *p, int *min, int *max, const char **end)
{
    int *into[2] = {min, max};
    if (*p++ != '{')
        return false;
    for (int k = 0; k < 2; k++) {
        long v = 0;
        if (k == 1) {
            if (*p != ',') {
                *max = *min;
                break;
            }
            p++;
            if (*p == '}') {
                *max = -1;
                break;
            }
        }
        if (*p < '0' || *p > '9' || (p[0] == '0' && p[1] >= '0' && p[1] <= '9'))
            return false;
        for (; *p >= '0' && *p <= '9'; p++)
            if (v >= 0 && (v = v * 10 + (*p - '0')) > 100000000)
                v = -1;
        if (k == 1 && v < 0)
            *min = -1; /* too big: an error, not {n,} */
        *into[k] = (int)v;
    }
    if (*p != '}')
        return false;
    *end = p + 1;
    return true;
}

/* Go's repeatIsValid: nested counted repetitions multiply to at most n. */
static bool repeat_valid(const struct node *n, int limit)
{
    if (n->op == N_REPEAT) {
        int m = n->max == 0 ? 0 : n->max < 0 ? n->min : n->max;
        if (m > limit)
            return false;
        if (m > 0)
            limit /= m;
    }
    for (size_t i = 0; i < n->nsub; i++)
        if (!repeat_valid(n->sub[i], limit))
            return false;
    return true;
}

static struct node *parse_concat(struct parser *ps)
{
    struct node *cat = node_new(ps, N_CAT);
    const char *last_repeat = NULL;
    while (cat != NULL && *ps->p && *ps->p != '|' && *ps->p != ')') {
        const char *at = ps->p, *end = ps->p + 1;
        int min = 0, max = -1;
        enum op op;
        bool none;
        struct node *n;
        switch (*ps->p) {
        case '*':
            op = N_STAR;
            break;
        case '+':
            op = N_PLUS;
            break;
        case '?':
            op = N_QUEST;
            break;
        case '{':
            op = parse_repeat(ps->p, &min, &max, &end) ? N_REPEAT : N_EMPTY;
            break;
        default:
            op = N_EMPTY;
        }
        if (op == N_EMPTY) {
            last_repeat = NULL;
            if (ps->p[0] == '\\' && ps->p[1] == 'Q') { /* \Q...\E: literals */
                const char *stop = strstr(ps->p + 2, "\\E");
                uint32_t r;
                if (stop == NULL)
                    stop = ps->p + strlen(ps->p);
                for (ps->p += 2; ps->p < stop;) {
                    if (next_rune(ps, &r) < 0 || (n = literal(ps, r)) == NULL ||
                        node_add(ps, cat, n) < 0) {
                        node_free(cat);
                        return NULL;
                    }
                }
                ps->p = *stop ? stop + 2 : stop;
                continue;
            }
            if (*ps->p == '{') { /* not a repetition: a literal '{' */
                ps->p++;
                n = literal(ps, '{');
            } else {
                n = parse_atom(ps, &none);
                if (n == NULL && none)
                    continue;
            }
            if (n == NULL || node_add(ps, cat, n) < 0) {
                node_free(cat);
                return NULL;
            }
            continue;
        }
        if (*end == '?')
            end++;
        if (last_repeat != NULL) {
            node_free(cat);
            return bad(ps, last_repeat, "invalid nested repetition operator %.*s",
                       (int)(end - last_repeat), last_repeat);
        }
        if (cat->nsub == 0) {
            node_free(cat);
            return bad(ps, at, "missing argument to repetition operator %.*s", (int)(end - at), at);
        }
        if (op == N_REPEAT &&
            (min < 0 || min > RX_REPEAT_MAX || max > RX_REPEAT_MAX || (max >= 0 && min > max))) {
            node_free(cat);
            return bad(ps, at, "invalid repeat count %.*s: at most %d", (int)(end - at), at,
                       RX_REPEAT_MAX);
        }
        if ((n = node_new(ps, op)) == NULL) {
            node_free(cat);
            return NULL;
        }
        n->min = min;
        n->max = max;
        n->greedy = !((ps->flags & F_UNGREEDY) != 0) != (end[-1] == '?' && end - 1 != at);
        n->sub = malloc(sizeof(*n->sub));
        if (n->sub == NULL) {
            free(n);
            node_free(cat);
            return bad(ps, NULL, "out of memory");
        }
        n->sub[0] = cat->sub[cat->nsub - 1];
        n->nsub = n->subcap = 1;
        cat->sub[cat->nsub - 1] = n;
        if (op == N_REPEAT && (min >= 2 || max >= 2) && !repeat_valid(n, RX_REPEAT_MAX)) {
            node_free(cat);
            return bad(ps, at, "invalid repeat count %.*s: nested repeats multiply beyond %d",
                       (int)(end - at), at, RX_REPEAT_MAX);
        }
        last_repeat = at;
        ps->p = end;
    }
    return cat;
}

static struct node *parse_alt(struct parser *ps)
{
    struct node *alt, *cat = parse_concat(ps);
    if (cat == NULL || *ps->p != '|')
        return cat;
    if ((alt = node_new(ps, N_ALT)) == NULL || node_add(ps, alt, cat) < 0) {
        node_free(cat);
        node_free(alt);
        return NULL;
    }
    while (*ps->p == '|') {
        ps->p++;
        if ((cat = parse_concat(ps)) == NULL || node_add(ps, alt, cat) < 0) {
            node_free(alt);
            return NULL;
        }
    }
    return alt;
}

/* --- the compiler (Go's regexp/syntax/compile.go) --- */

struct frag {
    uint32_t i;          /* 0: a fragment that cannot match */
    uint32_t head, tail; /* the patch list: inst << 1 | (0: out, 1: arg) */
    bool nullable;
};

struct compiler {
    struct rx_prog *prog;
    bool failed; /* too large, or out of memory */
};

static struct frag inst(struct compiler *c, enum iop op)
{
    struct rx_prog *p = c->prog;
    struct frag f = {0, 0, 0, true};
    if (c->failed)
        return f;
    if (p->n >= RX_INSTS_MAX) {
        c->failed = true;
        return f;
    }
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 64;
        struct inst *in = realloc(p->inst, cap * sizeof(*in));
        if (in == NULL) {
            c->failed = true;
            return f;
        }
        p->inst = in;
        p->cap = cap;
    }
    memset(&p->inst[p->n], 0, sizeof(p->inst[0]));
    p->inst[p->n].op = (uint8_t)op;
    f.i = (uint32_t)p->n++;
    return f;
}

static void patch(struct compiler *c, uint32_t head, uint32_t to)
{
    while (head != 0) {
        struct inst *in = &c->prog->inst[head >> 1];
        if (head & 1) {
            head = in->arg;
            in->arg = to;
        } else {
            head = in->out;
            in->out = to;
        }
    }
}

static void append_list(struct compiler *c, struct frag *f, uint32_t head, uint32_t tail)
{
    if (f->head == 0) {
        f->head = head;
        f->tail = tail;
        return;
    }
    if (head == 0)
        return;
    if (f->tail & 1)
        c->prog->inst[f->tail >> 1].arg = head;
    else
        c->prog->inst[f->tail >> 1].out = head;
    f->tail = tail;
}

static struct frag one(struct compiler *c, enum iop op, uint32_t arg)
{
    struct frag f = inst(c, op);
    if (f.i != 0) {
        c->prog->inst[f.i].arg = arg;
        f.head = f.tail = f.i << 1;
    }
    return f;
}

static struct frag cat(struct compiler *c, struct frag f1, struct frag f2)
{
    struct frag f = {0, 0, 0, false};
    if (f1.i == 0 || f2.i == 0)
        return f;
    patch(c, f1.head, f2.i);
    f.i = f1.i;
    f.head = f2.head;
    f.tail = f2.tail;
    f.nullable = f1.nullable && f2.nullable;
    return f;
}

static struct frag alt(struct compiler *c, struct frag f1, struct frag f2)
{
    struct frag f;
    if (f1.i == 0)
        return f2;
    if (f2.i == 0)
        return f1;
    f = inst(c, I_ALT);
    if (f.i == 0)
        return f;
    c->prog->inst[f.i].out = f1.i;
    c->prog->inst[f.i].arg = f2.i;
    f.head = f1.head;
    f.tail = f1.tail;
    append_list(c, &f, f2.head, f2.tail);
    f.nullable = f1.nullable || f2.nullable;
    return f;
}

/* An ALT to f1 (first when greedy, else second); its other exit is the
 * fragment's patch list. */
static struct frag split(struct compiler *c, struct frag f1, bool greedy)
{
    struct frag f = inst(c, I_ALT);
    if (f.i == 0)
        return f;
    if (greedy) {
        c->prog->inst[f.i].out = f1.i;
        f.head = f.tail = f.i << 1 | 1;
    } else {
        c->prog->inst[f.i].arg = f1.i;
        f.head = f.tail = f.i << 1;
    }
    return f;
}

static struct frag quest(struct compiler *c, struct frag f1, bool greedy)
{
    struct frag f;
    if (f1.i == 0) { /* x? of an x that cannot match: the empty string */
        f = one(c, I_NOP, 0);
        return f;
    }
    f = split(c, f1, greedy);
    if (f.i != 0)
        append_list(c, &f, f1.head, f1.tail);
    return f;
}

/* f1 followed by a loop back to it (x+): the ALT's exit is the new list. */
static struct frag loop(struct compiler *c, struct frag f1, bool greedy)
{
    struct frag f = split(c, f1, greedy);
    if (f.i != 0)
        patch(c, f1.head, f.i);
    return f;
}

static struct frag plus(struct compiler *c, struct frag f1, bool greedy)
{
    struct frag l, f = {0, 0, 0, false};
    if (f1.i == 0)
        return f;
    l = loop(c, f1, greedy);
    if (l.i == 0)
        return f;
    f.i = f1.i;
    f.head = l.head;
    f.tail = l.tail;
    f.nullable = f1.nullable;
    return f;
}

static struct frag star(struct compiler *c, struct frag f1, bool greedy)
{
    if (f1.i == 0) /* x* of an x that cannot match: the empty string */
        return quest(c, f1, greedy);
    if (f1.nullable) /* (x+)?, so that the priorities are Go's (golang.org/issue/46123) */
        return quest(c, plus(c, f1, greedy), greedy);
    {
        struct frag f = loop(c, f1, greedy); /* the loop's ALT starts it */
        f.nullable = true;
        return f;
    }
}

static struct frag compile(struct compiler *c, const struct node *n);

/* Go's Simplify: the empty string repeated is itself, and x** is x*. */
static bool is_empty(const struct node *n)
{
    return (n->op == N_CAT && n->nsub == 0) || (n->op == N_REPEAT && n->max == 0) ||
           n->op == N_EMPTY;
}

static struct frag repeat1(struct compiler *c, enum op op, const struct node *sub, bool greedy)
{
    if (is_empty(sub))
        return compile(c, sub);
    if (sub->op == op && sub->greedy == greedy)
        return compile(c, sub);
    switch (op) {
    case N_STAR:
        return star(c, compile(c, sub), greedy);
    case N_PLUS:
        return plus(c, compile(c, sub), greedy);
    default:
        return quest(c, compile(c, sub), greedy);
    }
}

/* x{n,m} as Go's Simplify writes it: x{2,} is xx+, x{2,5} is xx(x(x(x)?)?)?. */
static struct frag repeat(struct compiler *c, const struct node *n)
{
    const struct node *sub = n->sub[0];
    struct frag f = {0, 0, 0, true};
    bool have = false;
    if (n->max == 0)
        return one(c, I_NOP, 0);
    if (n->max < 0) {
        if (n->min == 0)
            return repeat1(c, N_STAR, sub, n->greedy);
        if (n->min == 1)
            return repeat1(c, N_PLUS, sub, n->greedy);
        for (int i = 0; i < n->min - 1; i++) {
            struct frag x = compile(c, sub);
            f = have ? cat(c, f, x) : x;
            have = true;
        }
        return cat(c, f, repeat1(c, N_PLUS, sub, n->greedy));
    }
    if (n->min == 1 && n->max == 1)
        return compile(c, sub);
    for (int i = 0; i < n->min; i++) {
        struct frag x = compile(c, sub);
        f = have ? cat(c, f, x) : x;
        have = true;
    }
    if (n->max > n->min) {
        /* the suffix is built inside out: (x(x(x)?)?)? */
        struct frag suffix = {0};
        int k = n->max - n->min;
        /* compile front to back so instructions are in pattern order:
         * each level is x followed by the optional rest */
        struct frag *xs = calloc((size_t)k, sizeof(*xs));
        if (xs == NULL) {
            c->failed = true;
            return suffix;
        }
        for (int i = 0; i < k; i++)
            xs[i] = compile(c, sub);
        if ((sub->op == N_QUEST && sub->greedy == n->greedy) || is_empty(sub))
            suffix = xs[k - 1]; /* (x?)? is x? */
        else
            suffix = quest(c, xs[k - 1], n->greedy);
        for (int i = k - 2; i >= 0; i--)
            suffix = quest(c, cat(c, xs[i], suffix), n->greedy);
        free(xs);
        f = have ? cat(c, f, suffix) : suffix;
    }
    return f;
}

static struct frag compile(struct compiler *c, const struct node *n)
{
    struct frag f = {0, 0, 0, true};
    switch (n->op) {
    case N_EMPTY:
        return one(c, I_NOP, 0);
    case N_LIT:
        f = one(c, I_RUNE1, n->arg);
        f.nullable = false;
        return f;
    case N_CLASS:
        if (n->cls.n == 0)
            return (struct frag){0, 0, 0, false}; /* an empty class never matches */
        f = one(c, I_CLASS, 0);
        if (f.i != 0)
            c->prog->inst[f.i].cls = &n->cls;
        f.nullable = false;
        return f;
    case N_ANY:
    case N_ANYNL:
        f = one(c, n->op == N_ANY ? I_ANY : I_ANYNL, 0);
        f.nullable = false;
        return f;
    case N_LOOK:
        return one(c, I_LOOK, n->arg);
    case N_CAP: {
        struct frag bra = one(c, I_SAVE, 2 * n->arg);
        struct frag sub = compile(c, n->sub[0]);
        struct frag ket = one(c, I_SAVE, 2 * n->arg + 1);
        return cat(c, cat(c, bra, sub), ket);
    }
    case N_STAR:
    case N_PLUS:
    case N_QUEST:
        return repeat1(c, n->op, n->sub[0], n->greedy);
    case N_REPEAT:
        return repeat(c, n);
    case N_CAT:
        if (n->nsub == 0)
            return one(c, I_NOP, 0);
        f = compile(c, n->sub[0]);
        for (size_t i = 1; i < n->nsub; i++)
            f = cat(c, f, compile(c, n->sub[i]));
        return f;
    case N_ALT:
        f = (struct frag){0, 0, 0, false};
        for (size_t i = 0; i < n->nsub; i++)
            f = alt(c, f, compile(c, n->sub[i]));
        return f;
    }
    return f;
}

/* --- the API --- */

static void prog_free(struct rx_prog *p)
{
    if (p == NULL)
        return;
    node_free(p->root);
    free(p->inst);
    for (int k = 0; k < 2; k++) {
        free(p->q[k].sparse);
        free(p->q[k].dense);
    }
    free(p->stack);
    free(p->pool);
    free(p->slab);
    free(p->work);
    free(p);
}

int rx_compile(struct rx *rx, const char *pattern, char *err, size_t errlen)
{
    struct parser ps = {0};
    struct compiler c = {0};
    struct rx_prog *p;
    struct frag f;

    memset(rx, 0, sizeof(*rx));
    ps.pat = ps.p = pattern;
    ps.err = err;
    ps.errlen = errlen;
    if ((p = calloc(1, sizeof(*p))) == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    p->root = parse_alt(&ps);
    if (p->root != NULL && *ps.p == ')')
        bad(&ps, ps.p, "unexpected ')'");
    if (!ps.failed && ps.named && ps.unnamed)
        bad(&ps, NULL, "a pattern cannot mix named and unnamed capture groups");
    if (!ps.failed && ps.names == NULL) {
        if ((ps.names = calloc(1, sizeof(*ps.names))) == NULL)
            bad(&ps, NULL, "out of memory");
    }
    if (!ps.failed) {
        c.prog = p;
        inst(&c, I_FAIL); /* instruction 0: never in a patch list */
        f = compile(&c, p->root);
        if (!c.failed) {
            struct frag m = one(&c, I_MATCH, 0);
            patch(&c, f.head, m.i);
            p->start = f.i; /* 0 (I_FAIL) when nothing can match */
            for (size_t pc = p->start; pc != 0; pc = p->inst[pc].out) {
                uint8_t op = p->inst[pc].op;
                if (op == I_LOOK && (p->inst[pc].arg & L_BOT))
                    p->anchored = true;
                if (op != I_LOOK && op != I_SAVE && op != I_NOP)
                    break;
            }
        }
        p->nslots = 2 * (ps.ncap + 1);
        for (size_t i = 0; i < p->n; i++)
            if (p->inst[i].op <= I_ANYNL || p->inst[i].op == I_MATCH)
                p->consuming++;
        if (c.failed || (p->consuming + 1) * 2 * p->nslots > RX_SLOTS_MAX)
            bad(&ps, NULL, "expression too large (at most %d instructions, fewer with many groups)",
                RX_INSTS_MAX);
    }
    if (ps.failed) {
        for (size_t g = 1; g <= ps.ncap && ps.names; g++)
            free(ps.names[g]);
        free(ps.names);
        prog_free(p);
        return -1;
    }
    rx->prog = p;
    rx->ngroups = ps.ncap;
    rx->names = ps.names;
    rx->names[0] = NULL;
    rx->named = ps.named;
    rx->unnamed = ps.unnamed;
    if ((rx->m = malloc(p->nslots * sizeof(*rx->m))) == NULL) {
        rx_free(rx);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

void rx_free(struct rx *rx)
{
    if (rx->prog == NULL)
        return;
    for (size_t g = 1; g <= rx->ngroups; g++)
        free(rx->names[g]);
    free(rx->names);
    free(rx->m);
    prog_free(rx->prog);
    memset(rx, 0, sizeof(*rx));
}

/* --- the Pike VM (Go's regexp/exec.go and nfa) --- */

static bool is_word(int64_t r)
{
    return r >= 0 && r < 0x80 && (is_alnum((unsigned char)r) || r == '_');
}

/* The empty-width conditions between r1 and r2 (-1: the edge of the text). */
static uint32_t context(int64_t r1, int64_t r2)
{
    uint32_t f = 0;
    if (r1 < 0)
        f |= L_BOT | L_BOL;
    if (r1 == '\n')
        f |= L_BOL;
    if (r2 < 0)
        f |= L_EOT | L_EOL;
    if (r2 == '\n')
        f |= L_EOL;
    f |= is_word(r1) != is_word(r2) ? L_WORD : L_NOWORD;
    return f;
}

static int vm_init(struct rx_prog *p)
{
    size_t nthreads = 2 * (p->consuming + 1);
    for (int k = 0; k < 2; k++) {
        p->q[k].sparse = calloc(p->n, sizeof(*p->q[k].sparse));
        p->q[k].dense = calloc(p->n, sizeof(*p->q[k].dense));
        if (p->q[k].sparse == NULL || p->q[k].dense == NULL)
            return -1;
    }
    p->stack = calloc(2 * p->n + 2, sizeof(*p->stack));
    p->pool = calloc(nthreads, sizeof(*p->pool));
    p->slab = calloc(nthreads * p->nslots, sizeof(*p->slab));
    p->work = calloc(p->nslots, sizeof(*p->work));
    if (p->stack == NULL || p->pool == NULL || p->slab == NULL || p->work == NULL)
        return -1;
    for (size_t i = 0; i < nthreads; i++)
        p->pool[i] = p->slab + i * p->nslots;
    p->npool = nthreads;
    return 0;
}

static bool q_has(const struct queue *q, uint32_t pc)
{
    uint32_t j = q->sparse[pc];
    return j < q->n && q->dense[j].pc == pc;
}

/* Adds pc's thread and those it leads to without consuming a character to
 * q, in priority order, with the submatches in slots (restored after). */
static void add(struct rx *rx, struct queue *q, uint32_t pc0, size_t pos, ptrdiff_t *slots,
                uint32_t cond)
{
    struct rx_prog *p = rx->prog;
    size_t top = 0;
    p->stack[top++] = (struct job){pc0, -1, 0};
    while (top > 0) {
        struct job j = p->stack[--top];
        uint32_t pc = j.pc;
        if (j.slot >= 0) {
            slots[j.slot] = j.old;
            continue;
        }
        for (;;) {
            const struct inst *in;
            if (q_has(q, pc))
                break;
            rx->steps++;
            q->sparse[pc] = (uint32_t)q->n;
            q->dense[q->n].pc = pc;
            q->dense[q->n].t = NULL;
            q->n++;
            in = &p->inst[pc];
            if (in->op == I_FAIL)
                break;
            if (in->op == I_ALT) {
                p->stack[top++] = (struct job){in->arg, -1, 0};
                pc = in->out;
                continue;
            }
            if (in->op == I_NOP) {
                pc = in->out;
                continue;
            }
            if (in->op == I_SAVE) {
                if (in->arg < p->nslots) {
                    p->stack[top++] = (struct job){0, (int32_t)in->arg, slots[in->arg]};
                    slots[in->arg] = (ptrdiff_t)pos;
                }
                pc = in->out;
                continue;
            }
            if (in->op == I_LOOK) {
                if ((in->arg & ~cond) != 0)
                    break;
                pc = in->out;
                continue;
            }
            /* a thread that consumes (or matches) */
            {
                ptrdiff_t *t = p->pool[--p->npool];
                memcpy(t, slots, p->nslots * sizeof(*t));
                q->dense[q->n - 1].t = t;
            }
            break;
        }
    }
}

static bool inst_matches(const struct inst *in, int64_t r)
{
    switch (in->op) {
    case I_RUNE1:
        return r == (int64_t)in->arg;
    case I_CLASS:
        return r >= 0 && cls_has(in->cls, (uint32_t)r);
    case I_ANY:
        return r >= 0;
    case I_ANYNL:
        return r >= 0 && r != '\n';
    default:
        return false;
    }
}

static void release(struct rx_prog *p, struct queue *q, size_t from)
{
    for (size_t j = from; j < q->n; j++)
        if (q->dense[j].t != NULL) {
            p->pool[p->npool++] = q->dense[j].t;
            q->dense[j].t = NULL;
        }
}

bool rx_exec(struct rx *rx, const char *text, size_t len, size_t start)
{
    struct rx_prog *p = rx->prog;
    const unsigned char *s = (const unsigned char *)text;
    struct queue *runq = &p->q[0], *nextq = &p->q[1];
    bool matched = false;
    size_t pos = start, w, w1 = 0, n;
    int64_t r, r1 = -1, prev = -1;
    uint32_t flag;

    rx->steps = 0;
    if (start > len || p->start == 0)
        return false;
    if (p->q[0].dense == NULL && vm_init(p) < 0)
        return false;
    runq->n = nextq->n = 0;
    for (size_t i = 0; i < p->nslots; i++)
        rx->m[i] = p->work[i] = -1;
    r = pos < len ? (int64_t)decode(s + pos, len - pos, &w) : (w = 0, -1);
    if (r >= 0)
        r1 = pos + w < len ? (int64_t)decode(s + pos + w, len - pos - w, &w1) : (w1 = 0, -1);
    if (pos > 0) { /* the character before start */
        size_t b = pos - 1;
        while (b > 0 && (s[b] & 0xC0) == 0x80 && pos - b < 4)
            b--;
        prev = (int64_t)decode(s + b, len - b, &n);
        if (b + n != pos)
            prev = RUNE_ERROR;
    }
    flag = context(prev, r);
    for (;;) {
        if (runq->n == 0 && matched)
            break;
        if (runq->n == 0 && p->anchored && pos != 0)
            break;
        if (!matched && (pos == 0 || !p->anchored)) {
            p->work[0] = (ptrdiff_t)pos;
            add(rx, runq, (uint32_t)p->start, pos, p->work, flag);
        }
        flag = context(r, r1);
        /* step: each thread in priority order consumes r */
        for (size_t j = 0; j < runq->n; j++) {
            ptrdiff_t *t = runq->dense[j].t;
            const struct inst *in;
            if (t == NULL)
                continue;
            rx->steps++;
            in = &p->inst[runq->dense[j].pc];
            if (in->op == I_MATCH) {
                t[1] = (ptrdiff_t)pos;
                memcpy(rx->m, t, p->nslots * sizeof(*t));
                matched = true;
                /* leftmost-first: the threads after this one lose */
                release(p, runq, j);
                break;
            }
            if (inst_matches(in, r))
                add(rx, nextq, in->out, pos + w, t, flag);
            p->pool[p->npool++] = t;
            runq->dense[j].t = NULL;
        }
        runq->n = 0;
        if (w == 0)
            break;
        pos += w;
        r = r1;
        w = w1;
        if (r >= 0)
            r1 = pos + w < len ? (int64_t)decode(s + pos + w, len - pos - w, &w1) : (w1 = 0, -1);
        {
            struct queue *tmp = runq;
            runq = nextq;
            nextq = tmp;
        }
    }
    release(p, runq, 0);
    runq->n = 0;
    release(p, nextq, 0);
    nextq->n = 0;
    return matched;
}

bool rx_next(struct rx *rx, const char *text, size_t len, size_t *pos, ptrdiff_t *prev_end)
{
    while (*pos <= len && rx_exec(rx, text, len, *pos)) {
        bool accept = !(rx->m[0] == rx->m[1] && rx->m[0] == *prev_end);
        if (rx->m[1] == (ptrdiff_t)*pos) { /* empty: go on one character later */
            size_t w;
            decode((const unsigned char *)text + *pos, len - *pos, &w);
            *pos += w ? w : 1;
        } else {
            *pos = (size_t)rx->m[1];
        }
        *prev_end = rx->m[1];
        if (accept)
            return true;
    }
    return false;
}
