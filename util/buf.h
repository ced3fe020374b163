/* A growable byte buffer with a hard cap (git strbuf + curl dynbuf).
 *
 * Invariants: after buf_init, ptr is never NULL and ptr[len] == '\0'.
 * Appends that would pass `max` (or fail to allocate) return AMLSEC_ENOMEM
 * and leave the contents as they were. buf_detach is the only way to take
 * ownership of ptr; the caller frees it with free(). */
#ifndef AMLSEC_UTIL_BUF_H
#define AMLSEC_UTIL_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <string.h>

struct buf {
    char *ptr;
    size_t len;
    size_t cap; /* 0 while ptr points at the shared empty string */
    size_t max; /* largest len allowed */
};

#define BUF_MAX_DEFAULT ((size_t)256 << 20)

void buf_init(struct buf *b, size_t max);
void buf_release(struct buf *b);
void buf_reset(struct buf *b); /* len = 0, keeps the allocation */
/* buf_grow's allocation, out of line: call buf_grow. */
int buf_grow_alloc(struct buf *b, size_t extra);
int buf_adds(struct buf *b, const char *s);
int buf_addf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vaddf(struct buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* Returns the malloc'd string (never NULL after a successful init) and
 * re-initialises b. Caller frees. */
char *buf_detach(struct buf *b, size_t *len_out);

/* Room for extra more bytes and the NUL after them. The common case is a
 * compare, not a call: writers such as show -json's append 140 MB a few
 * bytes at a time. */
static inline int buf_grow(struct buf *b, size_t extra)
{
    if (b->cap && extra < b->cap - b->len && b->len + extra <= b->max)
        return 0;
    return buf_grow_alloc(b, extra);
}

static inline int buf_add(struct buf *b, const void *data, size_t len)
{
    int rc = buf_grow(b, len);
    if (rc < 0)
        return rc;
    if (len)
        memcpy(b->ptr + b->len, data, len);
    b->len += len;
    b->ptr[b->len] = '\0';
    return 0;
}

static inline int buf_addch(struct buf *b, char c)
{
    return buf_add(b, &c, 1);
}

/* "base.name" in out (name alone when base is empty), cut to size - 1
 * bytes as snprintf cuts it; the length it would have. A path built per
 * attribute: snprintf's parsing of "%s.%s" cost more than the copy. */
size_t str_dotted(char *out, size_t size, const char *base, const char *name);

#endif
