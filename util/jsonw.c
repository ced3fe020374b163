#include "util/jsonw.h"
#include "util/error.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

static size_t scanned; /* jsonw_scanned's count */

/* Appends after buf_grow made room; the caller ends with the NUL (fin). */
static inline void put(struct buf *b, const void *p, size_t n)
{
    memcpy(b->ptr + b->len, p, n);
    b->len += n;
}

static inline void putch(struct buf *b, char c)
{
    b->ptr[b->len++] = c;
}

static inline int fin(struct buf *b)
{
    b->ptr[b->len] = '\0';
    return 0;
}

#define ONES ((uint64_t)0x0101010101010101)
#define HIGHS ((uint64_t)0x8080808080808080)

/* Whether one of the 8 bytes of w needs an escape: below 0x20, '"' or
 * '\\' (each test exact for "any byte", the words' usual bit tricks). */
static inline bool word_needs_escape(uint64_t w)
{
    uint64_t q = w ^ (ONES * '"'), bs = w ^ (ONES * '\\');
    return (((w - ONES * 0x20) & ~w) | ((q - ONES) & ~q) | ((bs - ONES) & ~bs)) & HIGHS;
}

int jsonw_string(struct buf *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF"; /* as jansson writes them */
    static const char from[] = "\"\\\b\f\n\r\t", to[] = "\"\\bfnrt";
    size_t run = 0, i = 0;
    /* most strings need no escape: room for the whole, quotes included */
    if (buf_grow(b, len + 2) < 0)
        return AMLSEC_ENOMEM;
    putch(b, '"');
    while (i < len) {
        unsigned char ch;
        char esc[6] = {'\\', 0, '0', '0', 0, 0};
        const char *named;
        size_t n = 2;
        if (len - i >= 8) { /* eight at a time while none needs an escape */
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (!word_needs_escape(w)) {
                i += 8;
                continue;
            }
        }
        ch = (unsigned char)s[i];
        if (ch >= 0x20 && ch != '"' && ch != '\\') {
            i++;
            continue;
        }
        named = memchr(from, ch, sizeof(from) - 1);
        if (named) {
            esc[1] = to[named - from];
        } else {
            esc[1] = 'u';
            esc[4] = hex[ch >> 4];
            esc[5] = hex[ch & 15];
            n = 6;
        }
        /* the run before it, the escape, and room for the rest */
        if (buf_grow(b, (i - run) + n + (len - i) + 1) < 0)
            return AMLSEC_ENOMEM;
        put(b, s + run, i - run);
        put(b, esc, n);
        run = ++i;
    }
    put(b, s + run, len - run);
    putch(b, '"');
    return fin(b);
}

json_t *jsonw_big(const char *digits, size_t len)
{
    char small[192], *t = len + 1 <= sizeof(small) ? small : malloc(len + 1);
    json_t *o = NULL, *s;
    if (t == NULL)
        return NULL;
    t[0] = '\0';
    memcpy(t + 1, digits, len);
    s = json_stringn_nocheck(t, len + 1);
    if (t != small)
        free(t);
    if (s && (o = json_object()) != NULL && json_object_set_new_nocheck(o, JSONW_BIG_KEY, s) < 0) {
        json_decref(o);
        o = NULL;
    } else if (o == NULL) {
        json_decref(s);
    }
    return o;
}

const char *jsonw_big_digits(const json_t *v)
{
    const json_t *s;
    const char *t;
    if (!json_is_object(v) || json_object_size(v) != 1 ||
        !json_is_string(s = json_object_get(v, JSONW_BIG_KEY)))
        return NULL;
    t = json_string_value(s);
    if (t[0] != '\0' || json_string_length(s) < 2)
        return NULL;
    return t + 1;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\n' || c == '\t' || c == '\r';
}

/* In jansson's text of a value, each {"$number": "\u0000DIGITS"} (any
 * layout) replaced by DIGITS, in place; returns the new length. */
static size_t unwrap_bigs(char *s, size_t n)
{
    static const char key[] = "\"" JSONW_BIG_KEY "\"", nul[] = "\"\\u0000";
    size_t r = 0, w = 0;
    const char *hit;
    while ((hit = memmem(s + r, n - r, nul, sizeof(nul) - 1)) != NULL) {
        size_t q = (size_t)(hit - s), open = q, d0 = q + sizeof(nul) - 1, d = d0, end;
        /* back: '{' ws key ws ':' ws */
        while (open > r && is_space(s[open - 1]))
            open--;
        bool ok = open > r && s[open - 1] == ':';
        if (ok) {
            open--;
            while (open > r && is_space(s[open - 1]))
                open--;
            ok = open >= r + sizeof(key) - 1 &&
                 memcmp(s + open - (sizeof(key) - 1), key, sizeof(key) - 1) == 0;
            open -= ok ? sizeof(key) - 1 : 0;
            while (ok && open > r && is_space(s[open - 1]))
                open--;
            ok = ok && open > r && s[open - 1] == '{';
            open--;
        }
        /* on: digits '"' ws '}' */
        if (ok && d < n && s[d] == '-')
            d++;
        while (ok && d < n && s[d] >= '0' && s[d] <= '9')
            d++;
        end = d + 1;
        ok = ok && d > d0 && d < n && s[d] == '"';
        while (ok && end < n && is_space(s[end]))
            end++;
        ok = ok && end < n && s[end] == '}';
        if (!ok) {
            memmove(s + w, s + r, d0 - r);
            w += d0 - r;
            r = d0;
            continue;
        }
        memmove(s + w, s + r, open - r);
        w += open - r;
        memmove(s + w, s + d0, d - d0);
        w += d - d0;
        r = end + 1;
    }
    memmove(s + w, s + r, n - r);
    w += n - r;
    s[w] = '\0';
    return w;
}

static int add_piece(const char *p, size_t n, void *data)
{
    return buf_add(data, p, n) < 0 ? -1 : 0;
}

/* json_dumps's text, but from malloc: jansson's own comes from the
 * allocator json_set_alloc_funcs installed (validate's region,
 * util/arena.h), which free() must not see. */
static char *dumps_malloc(const json_t *v, size_t flags)
{
    struct buf b;
    buf_init(&b, SIZE_MAX / 2);
    if (json_dump_callback(v, add_piece, &b, flags) != 0) {
        buf_release(&b);
        return NULL;
    }
    return buf_detach(&b, NULL);
}

char *jsonw_dumps(const json_t *v, size_t flags)
{
    char *text = dumps_malloc(v, flags);
    if (text && strstr(text, "\\u0000"))
        unwrap_bigs(text, strlen(text));
    return text;
}

int jsonw_dump_callback(const json_t *v, json_dump_callback_t cb, void *data, size_t flags)
{
    struct buf b;
    int rc;
    buf_init(&b, SIZE_MAX);
    rc = json_dump_callback(v, add_piece, &b, flags);
    if (rc == 0 && b.len) /* b.ptr[b.len] is a NUL */
        rc = cb(b.ptr, unwrap_bigs(b.ptr, b.len), data);
    buf_release(&b);
    return rc;
}

size_t jsonw_whole_digits(const char *text, size_t len, char *out, size_t cap)
{
    size_t n = 0, all = 0, frac = 0, i = 0;
    long exp = 0;
    bool in_frac = false, exp_neg = false;
    /* the digits (without leading zeros) and how many follow the point */
    for (; i < len && text[i] != 'e' && text[i] != 'E'; i++) {
        if (text[i] == '.') {
            in_frac = true;
            continue;
        }
        frac += in_frac;
        if (all == 0 && text[i] == '0')
            continue;
        if (all++ < cap)
            out[n++] = text[i];
    }
    if (i < len) {
        i++;
        if (i < len && (text[i] == '+' || text[i] == '-'))
            exp_neg = text[i++] == '-';
        for (; i < len; i++)
            if (exp < 1000000)
                exp = exp * 10 + (text[i] - '0');
        exp = exp_neg ? -exp : exp;
    }
    if (all == 0) { /* cap is at least 1 */
        out[0] = '0';
        return 1;
    }
    /* the value is the digits times 10^exp */
    exp -= (long)frac;
    if (exp < 0) {
        /* whole only when the last -exp digits are zeros */
        if ((size_t)-exp >= all || all > cap)
            return 0; /* a nonzero digit after the point, or too many to say */
        for (size_t k = all - (size_t)-exp; k < all; k++)
            if (out[k] != '0')
                return 0;
        return all - (size_t)-exp;
    }
    if (all > cap || (size_t)exp > cap - all) {
        memset(out + n, '0', cap - n);
        return cap + 1;
    }
    memset(out + n, '0', (size_t)exp);
    return n + (size_t)exp;
}

/* Whether the integer literal of n digits at s (after any '-') is beyond
 * int64. */
#define WHOLE_DIGITS_MAX 160 /* 2^512 has 155 */
#define MAX_512                                                                                    \
    "13407807929942597099574024998205846127479365820592393377723561443721764030073546976801874298" \
    "166903427690031858186486050853753882811946569946433649006084095"

static bool beyond_int64(const char *s, size_t n, bool neg)
{
    if (n != 19)
        return n > 19;
    return memcmp(s, neg ? "9223372036854775808" : "9223372036854775807", 19) > 0;
}

/* Whether a string inside v holds a NUL, other than the digits of a big
 * number as jsonw_loadb makes them (canonical, beyond int64). */
static bool stray_nul(const json_t *v)
{
    size_t i, n;
    const char *k, *d = jsonw_big_digits(v);
    json_t *x;
    if (d) {
        bool neg = *d == '-';
        n = strlen(d + neg);
        return n < 2 || strspn(d + neg, "0123456789") != n || d[neg] == '0' ||
               !beyond_int64(d + neg, n, neg);
    }
    if (json_is_string(v))
        return strlen(json_string_value(v)) < json_string_length(v);
    if (json_is_array(v)) {
        json_array_foreach(v, i, x) if (stray_nul(x)) return true;
    } else if (json_is_object(v)) {
        json_object_foreach((json_t *)v, k, x) if (stray_nul(x)) return true;
    }
    return false;
}

/* jsonw_loadb's reading of a text that may hold a decimal or an integer
 * beyond int64: its numbers found (a scan of the text), rewritten where
 * jansson would read them otherwise, and the rewritten text read. */
static json_t *loadb_exact(const char *text, size_t len, size_t flags, json_error_t *err)
{
    struct buf b;
    size_t i = 0, run = 0;
    json_t *v;
    __atomic_fetch_add(&scanned, len, __ATOMIC_RELAXED);
    buf_init(&b, SIZE_MAX);
    while (i < len) {
        char c = text[i];
        if (c == '"') {
            for (i++; i < len && text[i] != '"'; i++)
                if (text[i] == '\\')
                    i++;
            i++;
            continue;
        }
        if (c != '-' && !(c >= '0' && c <= '9')) {
            i++;
            continue;
        }
        size_t start = i, d0 = i + (c == '-'), d = d0, n;
        char whole[WHOLE_DIGITS_MAX];
        const char *digits = text + d0;
        bool ok, decimal, big;
        while (d < len && text[d] >= '0' && text[d] <= '9')
            d++;
        n = d - d0;
        ok = n > 0 && (n == 1 || text[d0] != '0'); /* JSON's integer part */
        if (d < len && text[d] == '.') {
            size_t f = ++d;
            while (d < len && text[d] >= '0' && text[d] <= '9')
                d++;
            ok = ok && d > f;
        }
        if (d < len && (text[d] == 'e' || text[d] == 'E')) {
            size_t f = d + 1 + (d + 1 < len && (text[d + 1] == '+' || text[d + 1] == '-'));
            for (d = f; d < len && text[d] >= '0' && text[d] <= '9'; d++)
                ;
            ok = ok && d > f;
        }
        i = d;
        decimal = ok && d - d0 > n;
        if (decimal) { /* jansson's double, unless its value is whole */
            n = jsonw_whole_digits(text + d0, d - d0, whole, sizeof(whole));
            digits = whole;
            /* beyond 512 bits (2^512 - 1 has 155 digits) a double still */
            ok = n > 0 && (n < 155 || (n == 155 && memcmp(whole, MAX_512, 155) <= 0));
        }
        if (!ok || (!decimal && (n < 2 || digits[0] == '0' || !beyond_int64(digits, n, c == '-'))))
            continue; /* malformed ones too: jansson says where */
        big = beyond_int64(digits, n, c == '-');
        if (buf_add(&b, text + run, start - run) < 0 ||
            (big && buf_adds(&b, "{\"" JSONW_BIG_KEY "\":\"\\u0000") < 0) ||
            buf_add(&b, c == '-' ? "-" : "", c == '-') < 0 || buf_add(&b, digits, n) < 0 ||
            (big && buf_adds(&b, "\"}") < 0)) {
            buf_release(&b);
            if (err)
                snprintf(err->text, sizeof(err->text), "out of memory");
            return NULL;
        }
        run = d;
    }
    if (run == 0) {
        buf_release(&b);
        return json_loadb(text, len, flags, err);
    }
    if (buf_add(&b, text + run, len - run) < 0) {
        buf_release(&b);
        if (err)
            snprintf(err->text, sizeof(err->text), "out of memory");
        return NULL;
    }
    v = json_loadb(b.ptr, b.len, flags | JSON_ALLOW_NUL, err);
    buf_release(&b);
    if (v && !(flags & JSON_ALLOW_NUL) && stray_nul(v)) {
        json_decref(v);
        v = NULL;
        if (err) {
            memset(err, 0, sizeof(*err));
            snprintf(err->text, sizeof(err->text), "\\u0000 is not allowed in a string");
        }
    }
    return v;
}

size_t jsonw_scanned(void)
{
    return __atomic_load_n(&scanned, __ATOMIC_RELAXED);
}

size_t jsonw_member_extent(const char *text, size_t len)
{
    size_t depth = 0, q = 0;
    for (; q < len; q++) {
        char c = text[q];
        if (c == '"') {
            for (q++; q < len && text[q] != '"'; q++)
                if (text[q] == '\\')
                    q++;
            if (q >= len)
                break;
        } else if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']' || c == ',') {
            if (depth == 0)
                break;
            if (c != ',')
                depth--;
        }
    }
    return depth == 0 && q < len ? q : 0;
}

/* jsonw_member_extent, counted in jsonw_scanned: the value is read again */
static size_t value_extent(const char *text, size_t len)
{
    size_t n = jsonw_member_extent(text, len);
    __atomic_fetch_add(&scanned, n ? n + 1 : len, __ATOMIC_RELAXED);
    return n;
}

/* Whether a real is anywhere inside v (jsonw_loadb may read its text
 * otherwise: 2.0 as 2, 1e20 in all its digits). */
static bool holds_real(const json_t *v)
{
    const char *k;
    json_t *x;
    size_t i;
    if (json_is_object(v)) {
        json_object_foreach((json_t *)v, k, x) if (json_is_real(x) || holds_real(x)) return true;
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, x) if (json_is_real(x) || holds_real(x)) return true;
    }
    return json_is_real(v);
}

json_t *jsonw_loadb(const char *text, size_t len, size_t flags, json_error_t *err)
{
    /* jansson alone reads most texts as loadb_exact does: those with no
     * decimal (a real) and no integer beyond int64 (its error) */
    json_t *v = json_loadb(text, len, flags, err);
    if (v && !holds_real(v))
        return v;
    json_decref(v);
    return loadb_exact(text, len, flags, err);
}

json_t *jsonw_loadb_member(const char *text, size_t len, size_t flags, size_t *used)
{
    json_error_t je;
    json_t *v = NULL;
    size_t n;
    if (len && (text[0] == '{' || text[0] == '[')) {
        /* jansson alone reads most values as jsonw_loadb does: those with
         * no decimal (a real) and no integer beyond int64 (its error) */
        v = json_loadb(text, len, flags | JSON_DISABLE_EOF_CHECK, &je);
        if (v && !holds_real(v) && je.position > 0 && (size_t)je.position <= len &&
            (text[je.position - 1] == '}' || text[je.position - 1] == ']')) {
            *used = (size_t)je.position;
            return v;
        }
        json_decref(v);
    }
    if ((n = value_extent(text, len)) == 0)
        return NULL;
    if ((v = loadb_exact(text, n, flags, NULL)) != NULL)
        *used = n;
    return v;
}

int jsonw_value(struct buf *b, const json_t *v)
{
    const char *big = jsonw_big_digits(v);
    if (big)
        return buf_adds(b, big);
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *k;
        size_t klen;
        json_t *m;
        int first = 1;
        if (buf_addch(b, '{') < 0)
            return AMLSEC_ENOMEM;
        json_object_keylen_foreach((json_t *)v, k, klen, m)
        {
            if ((!first && buf_addch(b, ',') < 0) || jsonw_string(b, k, klen) < 0 ||
                buf_addch(b, ':') < 0 || jsonw_value(b, m) < 0)
                return AMLSEC_ENOMEM;
            first = 0;
        }
        return buf_addch(b, '}');
    }
    case JSON_ARRAY:
        if (buf_addch(b, '[') < 0)
            return AMLSEC_ENOMEM;
        for (size_t i = 0; i < json_array_size(v); i++)
            if ((i && buf_addch(b, ',') < 0) || jsonw_value(b, json_array_get(v, i)) < 0)
                return AMLSEC_ENOMEM;
        return buf_addch(b, ']');
    case JSON_STRING:
        return jsonw_string(b, json_string_value(v), json_string_length(v));
    case JSON_INTEGER: { /* as %lld writes it, without printf */
        json_int_t i = json_integer_value(v);
        unsigned long long u = i < 0 ? 0ull - (unsigned long long)i : (unsigned long long)i;
        char digits[24], *d = digits + sizeof(digits);
        do
            *--d = (char)('0' + u % 10);
        while ((u /= 10) != 0);
        if (i < 0)
            *--d = '-';
        return buf_add(b, d, (size_t)(digits + sizeof(digits) - d));
    }
    case JSON_TRUE:
        return buf_add(b, "true", 4);
    case JSON_FALSE:
        return buf_add(b, "false", 5);
    case JSON_NULL:
        return buf_add(b, "null", 4);
    case JSON_REAL: {
        /* the shortest of jansson's forms that reads back the same double
         * (0.3, not 0.29999999999999999) */
        double d = json_real_value(v);
        char *text = NULL;
        for (int prec = 15; prec <= 17; prec++) {
            free(text);
            text = dumps_malloc(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(prec));
            if (text == NULL || strtod(text, NULL) == d)
                break;
        }
        int rc = text ? buf_adds(b, text) : AMLSEC_ENOMEM;
        free(text);
        return rc;
    }
    }
    return AMLSEC_ENOMEM;
}

struct member {
    const char *key;
    size_t len;
    const json_t *value;
};

/* jansson's order for JSON_SORT_KEYS: the bytes, then the length */
static int member_cmp(const void *pa, const void *pb)
{
    const struct member *a = pa, *b = pb;
    int c = memcmp(a->key, b->key, a->len < b->len ? a->len : b->len);
    if (c)
        return c;
    return a->len < b->len ? -1 : a->len > b->len;
}

static int pretty_newline(const struct jsonw_pretty *o, size_t depth)
{
    size_t n;
    if (o->indent < 0) /* compact */
        return 0;
    n = depth * (size_t)o->indent;
    if (buf_grow(o->b, n + 1) < 0)
        return AMLSEC_ENOMEM;
    putch(o->b, '\n');
    memset(o->b->ptr + o->b->len, ' ', n);
    o->b->len += n;
    return fin(o->b);
}

static int pretty(const struct jsonw_pretty *o, const json_t *v, size_t depth)
{
    int rc;
    if (o->flush && o->b->len >= (1u << 16) && (rc = o->flush(o->b, o->data)) < 0)
        return rc;
    if (json_is_object(v) && json_object_size(v) && !jsonw_big_digits(v)) {
        struct member few[16], *m = few;
        size_t n = json_object_size(v), i = 0, klen;
        const char *k;
        json_t *x;
        if (n > sizeof(few) / sizeof(few[0]) && (m = malloc(n * sizeof(*m))) == NULL)
            return AMLSEC_ENOMEM;
        json_object_keylen_foreach((json_t *)v, k, klen, x)
        {
            m[i].key = k;
            m[i].len = klen;
            m[i++].value = x;
        }
        if (n <= sizeof(few) / sizeof(few[0])) /* few: an insertion sort, no calls */
            for (size_t a = 1; a < n; a++) {
                struct member t = m[a];
                size_t z = a;
                for (; z > 0 && member_cmp(&m[z - 1], &t) > 0; z--)
                    m[z] = m[z - 1];
                m[z] = t;
            }
        else
            qsort(m, n, sizeof(*m), member_cmp);
        rc = buf_addch(o->b, '{') < 0 ? AMLSEC_ENOMEM : 0;
        for (i = 0; i < n && rc == 0; i++) {
            if ((rc = pretty_newline(o, depth + 1)) < 0 ||
                (rc = jsonw_string(o->b, m[i].key, m[i].len)) < 0)
                break;
            if (buf_add(o->b, ": ", o->indent < 0 ? 1 : 2) < 0)
                rc = AMLSEC_ENOMEM;
            else if ((rc = pretty(o, m[i].value, depth + 1)) == 0 && i + 1 < n &&
                     buf_addch(o->b, ',') < 0)
                rc = AMLSEC_ENOMEM;
        }
        if (m != few)
            free(m);
        if (rc == 0 && (rc = pretty_newline(o, depth)) == 0 && buf_addch(o->b, '}') < 0)
            rc = AMLSEC_ENOMEM;
        return rc;
    }
    if (json_is_array(v) && json_array_size(v)) {
        size_t n = json_array_size(v);
        if (buf_addch(o->b, '[') < 0)
            return AMLSEC_ENOMEM;
        for (size_t i = 0; i < n; i++) {
            if ((rc = pretty_newline(o, depth + 1)) < 0 ||
                (rc = pretty(o, json_array_get(v, i), depth + 1)) < 0)
                return rc;
            if (i + 1 < n && buf_addch(o->b, ',') < 0)
                return AMLSEC_ENOMEM;
        }
        if ((rc = pretty_newline(o, depth)) < 0 || buf_addch(o->b, ']') < 0)
            return rc < 0 ? rc : AMLSEC_ENOMEM;
        return 0;
    }
    return jsonw_value(o->b, v); /* a scalar, {} or [] */
}

int jsonw_pretty(const struct jsonw_pretty *o, const json_t *v)
{
    return pretty(o, v, 0);
}

int jsonw_pretty_at(const struct jsonw_pretty *o, const json_t *v, size_t depth)
{
    return pretty(o, v, depth);
}

int jsonw_pretty_open(const struct jsonw_pretty *o, char bracket)
{
    return buf_addch(o->b, bracket) < 0 ? AMLSEC_ENOMEM : 0;
}

int jsonw_pretty_next(const struct jsonw_pretty *o, size_t depth, size_t nth, const char *key)
{
    int rc;
    if (nth && buf_addch(o->b, ',') < 0)
        return AMLSEC_ENOMEM;
    if ((rc = pretty_newline(o, depth + 1)) < 0)
        return rc;
    if (key && (jsonw_string(o->b, key, strlen(key)) < 0 ||
                buf_add(o->b, ": ", o->indent < 0 ? 1 : 2) < 0))
        return AMLSEC_ENOMEM;
    return 0;
}

int jsonw_pretty_close(const struct jsonw_pretty *o, size_t depth, size_t count, char bracket)
{
    int rc;
    if (count && (rc = pretty_newline(o, depth)) < 0)
        return rc;
    return buf_addch(o->b, bracket) < 0 ? AMLSEC_ENOMEM : 0;
}
