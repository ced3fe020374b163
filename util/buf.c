#include "util/buf.h"
#include "util/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

static char buf_empty[1];

void buf_init(struct buf *b, size_t max)
{
    b->ptr = buf_empty;
    b->len = 0;
    b->cap = 0;
    b->max = max ? max : BUF_MAX_DEFAULT;
}

void buf_release(struct buf *b)
{
    if (b->cap)
        free(b->ptr);
    buf_init(b, b->max);
}

void buf_reset(struct buf *b)
{
    b->len = 0;
    b->ptr[0] = '\0';
}

int buf_grow_alloc(struct buf *b, size_t extra)
{
    size_t need, cap;
    char *p;

    if (extra > b->max || b->len > b->max - extra)
        return AMLSEC_ENOMEM;
    need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap < ((size_t)1 << 62) ? cap * 2 : need;
    p = b->cap ? realloc(b->ptr, cap) : malloc(cap);
    if (p == NULL)
        return AMLSEC_ENOMEM;
    if (!b->cap)
        p[0] = '\0';
    b->ptr = p;
    b->cap = cap;
    return 0;
}

int buf_adds(struct buf *b, const char *s)
{
    return buf_add(b, s, strlen(s));
}

int buf_vaddf(struct buf *b, const char *fmt, va_list ap)
{
    va_list cp;
    int n;

    va_copy(cp, ap);
    n = vsnprintf(NULL, 0, fmt, cp);
    va_end(cp);
    if (n < 0 || buf_grow(b, (size_t)n) < 0)
        return AMLSEC_ENOMEM;
    vsnprintf(b->ptr + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int buf_addf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    int rc;
    va_start(ap, fmt);
    rc = buf_vaddf(b, fmt, ap);
    va_end(ap);
    return rc;
}

char *buf_detach(struct buf *b, size_t *len_out)
{
    char *p;
    if (len_out)
        *len_out = b->len;
    if (!b->cap) {
        p = malloc(1);
        if (p)
            p[0] = '\0';
    } else {
        p = b->ptr;
    }
    buf_init(b, b->max);
    return p;
}

size_t str_dotted(char *out, size_t size, const char *base, const char *name)
{
    size_t nb = base ? strlen(base) : 0, nn = strlen(name), at = 0, total = nb ? nb + 1 + nn : nn;
    if (size == 0)
        return total;
    if (nb) {
        size_t k = nb < size - 1 ? nb : size - 1;
        memcpy(out, base, k);
        at = k;
        if (at < size - 1)
            out[at++] = '.';
    }
    if (at < size - 1) {
        size_t k = nn < size - 1 - at ? nn : size - 1 - at;
        memcpy(out + at, name, k);
        at += k;
    }
    out[at] = '\0';
    return total;
}
