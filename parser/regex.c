#include "parser/regex.h"

#include <locale.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/banned.h"

#define RX_GROUPS_MAX 1000

struct tr {
    const char *p; /* the next character of the pattern */
    struct buf out;
    bool icase, multiline, dotnl, negated;
    size_t posix;   /* POSIX groups so far */
    size_t ngroups; /* RE2 capture groups so far */
    size_t *group_of;
    char **names;
    bool named, unnamed;
    char *err;
    size_t errlen;
};

static int bad(struct tr *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int bad(struct tr *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->err, t->errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* Patterns and strings are UTF-8: character classes, `.` and case folding
 * work on characters, not bytes. Character class names and \d \w \s are
 * spelled out as ASCII ranges, as RE2 has them. */
static locale_t utf8_locale(void)
{
    static locale_t loc;
    locale_t l = __atomic_load_n(&loc, __ATOMIC_ACQUIRE);
    if (l == (locale_t)0) {
        locale_t fresh = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0), expected = 0;
        if (fresh == (locale_t)0)
            return (locale_t)0;
        if (__atomic_compare_exchange_n(&loc, &expected, fresh, false, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE))
            l = fresh;
        else {
            freelocale(fresh);
            l = expected;
        }
    }
    return l;
}

/* A literal byte outside a bracket expression. */
static void lit(struct tr *t, unsigned char c)
{
    if (c != '\0' && strchr(".[]()*+?{}|^$\\", c))
        buf_addch(&t->out, '\\');
    buf_addch(&t->out, (char)c);
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* \x41 or \x{263a} after the 'x' at t->p: the code point in *cp. */
static int hex_escape(struct tr *t, uint32_t *cp)
{
    uint32_t v = 0;
    if (*t->p == '{') {
        const char *q = t->p + 1;
        int n = 0;
        for (; hexval(*q) >= 0 && n < 8; q++, n++)
            v = v * 16 + (uint32_t)hexval(*q);
        if (*q != '}' || n == 0 || v > 0x10FFFF)
            return bad(t, "invalid escape \\x{...}");
        t->p = q + 1;
    } else {
        if (hexval(t->p[0]) < 0 || hexval(t->p[1]) < 0)
            return bad(t, "invalid escape \\x: two hex digits or \\x{...}");
        v = (uint32_t)(hexval(t->p[0]) * 16 + hexval(t->p[1]));
        t->p += 2;
    }
    if (v == 0)
        return bad(t, "a NUL character (\\x00) is not supported");
    *cp = v;
    return 0;
}

static size_t utf8_encode(char *s, uint32_t cp)
{
    if (cp < 0x80) {
        s[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        s[0] = (char)(0xC0 | (cp >> 6));
        s[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        s[0] = (char)(0xE0 | (cp >> 12));
        s[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        s[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    s[0] = (char)(0xF0 | (cp >> 18));
    s[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    s[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    s[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* The ASCII ranges of a Perl class (d, w, s) or a POSIX class name, as
 * bracket-expression text (no ']', '^', '-' or '[' at the edges). */
static const char *class_ranges(const char *name, size_t n)
{
    static const struct {
        const char *name, *ranges;
    } classes[] = {
        {"d", "0-9"},
        {"w", "0-9A-Za-z_"},
        {"s", "\t\n\f\r "},
        {"alnum", "0-9A-Za-z"},
        {"alpha", "A-Za-z"},
        {"ascii", "\x01-\x7f"},
        {"blank", "\t "},
        {"cntrl", "\x01-\x1f\x7f"},
        {"digit", "0-9"},
        {"graph", "!-~"},
        {"lower", "a-z"},
        {"print", " -~"},
        {"punct", "!-/:-@_`{-~[\\]^"},
        {"space", "\t\n\v\f\r "},
        {"upper", "A-Z"},
        {"word", "0-9A-Za-z_"},
        {"xdigit", "0-9A-Fa-f"},
    };
    for (size_t i = 0; i < sizeof(classes) / sizeof(classes[0]); i++)
        if (strlen(classes[i].name) == n && memcmp(classes[i].name, name, n) == 0)
            return classes[i].ranges;
    return NULL;
}

/* One character of a bracket expression, a literal (escapes decoded):
 * its UTF-8 bytes in c (NUL-terminated). */
static int class_char(struct tr *t, char c[8])
{
    unsigned char x = (unsigned char)*t->p;
    memset(c, 0, 8);
    if (x == '\\') {
        uint32_t cp;
        t->p++;
        x = (unsigned char)*t->p;
        if (x == 'x') {
            t->p++;
            if (hex_escape(t, &cp) < 0)
                return -1;
            utf8_encode(c, cp);
            return 0;
        }
        t->p++;
        switch (x) {
        case 't':
            c[0] = '\t';
            return 0;
        case 'n':
            c[0] = '\n';
            return 0;
        case 'r':
            c[0] = '\r';
            return 0;
        case 'f':
            c[0] = '\f';
            return 0;
        case 'v':
            c[0] = '\v';
            return 0;
        case 'a':
            c[0] = '\a';
            return 0;
        default:
            if (x >= 0x80 || x == '\0' || (x >= '0' && x <= '9') || (x >= 'A' && x <= 'Z') ||
                (x >= 'a' && x <= 'z'))
                return bad(t, "invalid escape \\%c in a character class", x ? x : ' ');
            c[0] = (char)x;
            return 0;
        }
    }
    if (x == '\0')
        return bad(t, "missing ']' closing a character class");
    /* a whole UTF-8 character */
    size_t n = x < 0x80 ? 1 : x < 0xE0 ? 2 : x < 0xF0 ? 3 : 4;
    for (size_t i = 0; i < n && t->p[i]; i++)
        c[i] = t->p[i];
    t->p += strlen(c);
    return 0;
}

/* [...] at t->p (after the '['), written as a POSIX bracket expression with
 * ']' first, '-' last and '^' not first. */
static int bracket(struct tr *t)
{
    struct buf items;
    bool neg = false, close = false, dash = false, caret = false, open = false, first = true;
    int rc = 0;

    if (*t->p == '^') {
        neg = true;
        t->p++;
    }
    buf_init(&items, 0);
    while (rc == 0 && (first || *t->p != ']')) {
        char lo[8], hi[8];
        first = false;
        if (*t->p == '\0') {
            rc = bad(t, "missing ']' closing a character class");
            break;
        }
        if (t->p[0] == '[' && t->p[1] == ':') {
            const char *name = t->p + 2, *end = strstr(name, ":]");
            const char *r;
            if (end == NULL) {
                rc = bad(t, "missing ':]' closing a class name");
                break;
            }
            if (*name == '^') {
                rc = bad(t, "a negated class name [:^%.*s:] is not supported",
                         (int)(end - name - 1), name + 1);
                break;
            }
            if ((r = class_ranges(name, (size_t)(end - name))) == NULL) {
                rc = bad(t, "unknown class name [:%.*s:]", (int)(end - name), name);
                break;
            }
            if (strchr(r, ']')) { /* punct: its specials set apart */
                close = caret = open = true;
                buf_adds(&items, "!-/:-@\\_`{-~");
                dash = true;
            } else {
                buf_adds(&items, r);
            }
            t->p = end + 2;
            continue;
        }
        if (t->p[0] == '\\' && strchr("dwsDWSpP", t->p[1]) && t->p[1]) {
            char k = t->p[1];
            if (k == 'p' || k == 'P') {
                rc = bad(t, "Unicode classes (\\%c...) are not supported", k);
                break;
            }
            if (k == 'D' || k == 'W' || k == 'S') {
                rc = bad(t, "\\%c inside a character class is not supported", k);
                break;
            }
            buf_adds(&items, class_ranges(&k, 1));
            t->p += 2;
            continue;
        }
        if ((rc = class_char(t, lo)) < 0)
            break;
        if (t->p[0] == '-' && t->p[1] != ']' && t->p[1] != '\0') {
            t->p++;
            if ((rc = class_char(t, hi)) < 0)
                break;
            if (strchr("]-^[\\", lo[0]) || strchr("]-^[\\", hi[0])) {
                rc = bad(t, "a range from or to '%s' or '%s' is not supported", lo, hi);
                break;
            }
            if (strcmp(lo, hi) > 0 && strlen(lo) == strlen(hi)) {
                rc = bad(t, "invalid character class range %s-%s", lo, hi);
                break;
            }
            buf_addf(&items, "%s-%s", lo, hi);
            continue;
        }
        if (lo[1] == '\0' && lo[0] == ']')
            close = true;
        else if (lo[1] == '\0' && lo[0] == '-')
            dash = true;
        else if (lo[1] == '\0' && lo[0] == '^')
            caret = true;
        else if (lo[1] == '\0' && lo[0] == '[')
            open = true;
        else
            buf_adds(&items, lo);
    }
    if (rc == 0) {
        t->p++; /* ']' */
        if (neg)
            t->negated = true;
        if (!neg && caret && !close && items.len == 0 && !open && !dash) {
            buf_adds(&t->out, "\\^");
        } else {
            buf_addch(&t->out, '[');
            if (neg)
                buf_addch(&t->out, '^');
            if (close)
                buf_addch(&t->out, ']');
            if (items.len)
                buf_add(&t->out, items.ptr, items.len);
            if (open)
                buf_addch(&t->out, '[');
            if (caret) /* never first: something came before, or it is negated */
                buf_addch(&t->out, '^');
            if (dash)
                buf_addch(&t->out, '-');
            buf_addch(&t->out, ']');
        }
    }
    buf_release(&items);
    return rc;
}

static int add_group(struct tr *t, const char *name, size_t n)
{
    if (t->ngroups >= RX_GROUPS_MAX)
        return bad(t, "more than %d capture groups", RX_GROUPS_MAX);
    t->posix++;
    t->ngroups++;
    t->group_of[t->ngroups] = t->posix;
    t->names[t->ngroups] = NULL;
    if (name) {
        for (size_t g = 1; g < t->ngroups; g++)
            if (t->names[g] && strlen(t->names[g]) == n && memcmp(t->names[g], name, n) == 0)
                return bad(t, "duplicate group name '%.*s'", (int)n, name);
        if ((t->names[t->ngroups] = strndup(name, n)) == NULL)
            return bad(t, "out of memory");
        t->named = true;
    } else {
        t->unnamed = true;
    }
    return 0;
}

/* '(' at t->p[-1]: the kind of group, or the leading flags. */
static int group(struct tr *t, bool at_start)
{
    if (*t->p != '?') {
        buf_addch(&t->out, '(');
        return add_group(t, NULL, 0);
    }
    t->p++;
    if (*t->p == ':') {
        t->p++;
        t->posix++; /* a POSIX group that captures nothing RE2 numbers */
        buf_addch(&t->out, '(');
        return 0;
    }
    if (*t->p == 'P' && t->p[1] == '<')
        t->p++;
    if (*t->p == '<' && t->p[1] != '=' && t->p[1] != '!') {
        const char *name = t->p + 1, *q = name;
        while ((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') ||
               *q == '_')
            q++;
        if (*q != '>' || q == name)
            return bad(t, "invalid group name: letters, digits and '_' between < and >");
        t->p = q + 1;
        buf_addch(&t->out, '(');
        return add_group(t, name, (size_t)(q - name));
    }
    if (*t->p == '=' || *t->p == '!' || *t->p == '<')
        return bad(t, "lookaround (?%c...) is not RE2 syntax", *t->p);
    if (*t->p == 'P')
        return bad(t, "(?P=name) backreferences are not RE2 syntax");
    {
        const char *q = t->p;
        bool i = false, m = false, s = false;
        for (; *q && *q != ')' && *q != ':'; q++) {
            if (*q == 'i')
                i = true;
            else if (*q == 'm')
                m = true;
            else if (*q == 's')
                s = true;
            else if (*q == 'U')
                return bad(t, "the flag U (ungreedy) is not supported");
            else if (*q == '-')
                return bad(t, "clearing flags (?-...) is not supported");
            else
                return bad(t, "unknown flag '%c' in (?...)", *q);
        }
        if (*q == ':')
            return bad(t,
                       "flags on a group (?%.*s:...) are not supported; put (?%.*s) at the "
                       "start of the pattern",
                       (int)(q - t->p), t->p, (int)(q - t->p), t->p);
        if (*q != ')' || q == t->p)
            return bad(t, "missing ')' after (?");
        if (!at_start)
            return bad(t, "flags (?%.*s) are supported only at the start of the pattern",
                       (int)(q - t->p), t->p);
        t->icase |= i;
        t->multiline |= m;
        t->dotnl |= s;
        t->p = q + 1;
        return 1; /* nothing written */
    }
}

/* A quantifier just written: RE2's lazy form has no POSIX counterpart. */
static int no_lazy(struct tr *t, const char *q)
{
    if (*t->p == '?')
        return bad(t, "lazy quantifier %s? is not supported", q);
    return 0;
}

static int translate(struct tr *t)
{
    bool at_start = true;
    int rc = 0;
    while (*t->p && rc >= 0) {
        unsigned char c = (unsigned char)*t->p++;
        bool was_start = at_start;
        at_start = false;
        switch (c) {
        case '(':
            rc = group(t, was_start);
            if (rc == 1) {
                at_start = true;
                rc = 0;
            }
            break;
        case '[':
            rc = bracket(t);
            break;
        case '.':
            if (t->dotnl)
                buf_addch(&t->out, '.');
            else
                buf_adds(&t->out, "[^\n]");
            break;
        case '*':
        case '+':
        case '?':
            buf_addch(&t->out, (char)c);
            rc = no_lazy(t, c == '*' ? "*" : c == '+' ? "+" : "?");
            break;
        case '{': {
            /* a repeat {n}, {n,}, {n,m}; anything else is a literal '{' */
            const char *q = t->p;
            size_t d1 = 0, d2 = 0;
            while (*q >= '0' && *q <= '9')
                q++, d1++;
            if (d1 && *q == ',') {
                q++;
                while (*q >= '0' && *q <= '9')
                    q++, d2++;
            }
            if (d1 && *q == '}') {
                buf_addch(&t->out, '{');
                buf_add(&t->out, t->p, (size_t)(q - t->p + 1));
                t->p = q + 1;
                rc = no_lazy(t, "{n,m}");
            } else {
                lit(t, '{');
            }
            break;
        }
        case '\\': {
            unsigned char e = (unsigned char)*t->p++;
            uint32_t cp;
            char u[8];
            size_t n;
            switch (e) {
            case 'd':
            case 'w':
            case 's': {
                char k = (char)e;
                buf_addf(&t->out, "[%s]", class_ranges(&k, 1));
                break;
            }
            case 'D':
            case 'W':
            case 'S': {
                char k = (char)(e + ('a' - 'A'));
                buf_addf(&t->out, "[^%s]", class_ranges(&k, 1));
                t->negated = true;
                break;
            }
            case 'b':
            case 'B':
                buf_addch(&t->out, '\\');
                buf_addch(&t->out, (char)e);
                break;
            case 'A':
                buf_addch(&t->out, '^');
                if (t->multiline)
                    rc = bad(t, "\\A with (?m) is not supported");
                break;
            case 'z':
                buf_addch(&t->out, '$');
                if (t->multiline)
                    rc = bad(t, "\\z with (?m) is not supported");
                break;
            case 'Q': {
                const char *end = strstr(t->p, "\\E");
                size_t len = end ? (size_t)(end - t->p) : strlen(t->p);
                for (size_t i = 0; i < len; i++)
                    lit(t, (unsigned char)t->p[i]);
                t->p += len + (end ? 2 : 0);
                break;
            }
            case 'E':
                break; /* \E without \Q: nothing, as in RE2 */
            case 'x':
                if ((rc = hex_escape(t, &cp)) < 0)
                    break;
                n = utf8_encode(u, cp);
                if (n == 1)
                    lit(t, (unsigned char)u[0]);
                else
                    buf_add(&t->out, u, n);
                break;
            case 't':
                buf_addch(&t->out, '\t');
                break;
            case 'n':
                buf_addch(&t->out, '\n');
                break;
            case 'r':
                buf_addch(&t->out, '\r');
                break;
            case 'f':
                buf_addch(&t->out, '\f');
                break;
            case 'v':
                buf_addch(&t->out, '\v');
                break;
            case 'a':
                buf_addch(&t->out, '\a');
                break;
            case 'p':
            case 'P':
                rc = bad(t, "Unicode classes (\\%c...) are not supported", e);
                break;
            case 'C':
                rc = bad(t, "\\C (any byte) is not supported");
                break;
            case 'Z':
                rc = bad(t, "invalid escape \\Z (RE2 has \\z)");
                break;
            case '\0':
                rc = bad(t, "trailing '\\' at the end of the pattern");
                t->p--;
                break;
            default:
                if (e >= '1' && e <= '9')
                    rc = bad(t, "backreferences (\\%c) are not RE2 syntax", e);
                else if (e == '0' || e >= 0x80 || (e >= 'A' && e <= 'Z') || (e >= 'a' && e <= 'z'))
                    rc = bad(t, "invalid escape \\%c", e);
                else
                    lit(t, e); /* escaped punctuation is itself */
            }
            break;
        }
        default:
            buf_addch(&t->out, (char)c);
        }
    }
    if (rc >= 0 && t->multiline && (t->negated || t->dotnl))
        return bad(t, "(?m) together with (?s), [^...], \\D, \\W or \\S is not supported");
    return rc < 0 ? -1 : 0;
}

int rx_compile(struct rx *rx, const char *pattern, char *err, size_t errlen)
{
    struct tr t;
    size_t max = strlen(pattern) / 2 + 2; /* at most one group per "()" */
    locale_t loc = utf8_locale(), old = (locale_t)0;
    int rc;

    memset(rx, 0, sizeof(*rx));
    memset(&t, 0, sizeof(t));
    t.p = pattern;
    t.err = err;
    t.errlen = errlen;
    t.group_of = calloc(max, sizeof(*t.group_of));
    t.names = calloc(max, sizeof(*t.names));
    buf_init(&t.out, 0);
    buf_adds(&t.out, "");
    if (t.group_of == NULL || t.names == NULL)
        rc = bad(&t, "out of memory");
    else if (loc == (locale_t)0)
        rc = bad(&t, "the C.UTF-8 locale is not available");
    else
        rc = translate(&t);
    if (rc == 0 && t.named && t.unnamed)
        rc = bad(&t, "a pattern cannot mix named and unnamed capture groups");
    if (rc == 0) {
        int flags = REG_EXTENDED | (t.icase ? REG_ICASE : 0) | (t.multiline ? REG_NEWLINE : 0);
        int e;
        old = uselocale(loc);
        e = regcomp(&rx->re, t.out.ptr, flags);
        uselocale(old);
        if (e != 0) {
            char msg[160];
            regerror(e, &rx->re, msg, sizeof(msg));
            regfree(&rx->re);
            rc = bad(&t, "%s", msg);
        }
    }
    if (rc == 0 && (rx->m = calloc(rx->re.re_nsub + 1, sizeof(*rx->m))) == NULL) {
        regfree(&rx->re);
        rc = bad(&t, "out of memory");
    }
    buf_release(&t.out);
    if (rc < 0) {
        for (size_t g = 0; t.names && g <= t.ngroups; g++)
            free(t.names[g]);
        free(t.names);
        free(t.group_of);
        memset(rx, 0, sizeof(*rx));
        return -1;
    }
    rx->ngroups = t.ngroups;
    rx->group_of = t.group_of;
    rx->names = t.names;
    rx->named = t.named;
    rx->unnamed = t.unnamed;
    return 0;
}

bool rx_exec(struct rx *rx, const char *s, bool notbol)
{
    locale_t old = uselocale(utf8_locale());
    int e = regexec(&rx->re, s, rx->re.re_nsub + 1, rx->m, notbol ? REG_NOTBOL : 0);
    uselocale(old);
    return e == 0;
}

void rx_free(struct rx *rx)
{
    if (rx->m == NULL)
        return;
    regfree(&rx->re);
    for (size_t g = 0; g <= rx->ngroups; g++)
        free(rx->names[g]);
    free(rx->names);
    free(rx->group_of);
    free(rx->m);
    memset(rx, 0, sizeof(*rx));
}
