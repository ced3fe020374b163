#include "util/arena.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

#define ARENA_BLOCK_SIZE ((size_t)64 * 1024)

struct arena_block {
    struct arena_block *next;
    size_t size;
    size_t off;
    _Alignas(16) unsigned char data[];
};

void arena_init(struct arena *a)
{
    a->head = NULL;
    a->used = 0;
}

void arena_release(struct arena *a)
{
    struct arena_block *b = a->head;
    while (b) {
        struct arena_block *next = b->next;
        free(b);
        b = next;
    }
    arena_init(a);
}

void arena_reset(struct arena *a)
{
    struct arena_block *keep = a->head;
    if (keep == NULL)
        return;
    if (keep->size != ARENA_BLOCK_SIZE) {
        arena_release(a);
        return;
    }
    a->head = keep->next;
    arena_release(a);
    keep->next = NULL;
    keep->off = 0;
    a->head = keep;
}

void arena_adopt(struct arena *dst, struct arena *src)
{
    struct arena_block *last = src->head;
    if (last == NULL)
        return;
    while (last->next)
        last = last->next;
    /* behind dst's current block, so its free space is still used */
    if (dst->head) {
        last->next = dst->head->next;
        dst->head->next = src->head;
    } else {
        dst->head = src->head;
    }
    dst->used += src->used;
    arena_init(src);
}

void *arena_alloc_align(struct arena *a, size_t size, size_t align)
{
    struct arena_block *b = a->head;
    size_t need = size ? size : 1, pad = 0;
    void *p;

    if (b) {
        /* blocks start 16-aligned, so aligning the offset aligns the address */
        pad = (align - (b->off & (align - 1))) & (align - 1);
        if (b->size - b->off < pad || b->size - b->off - pad < need)
            b = NULL;
    }
    if (b == NULL) {
        size_t bsize = need > ARENA_BLOCK_SIZE / 4 ? need : ARENA_BLOCK_SIZE;
        if (bsize > SIZE_MAX - sizeof(*b))
            return NULL;
        b = malloc(sizeof(*b) + bsize);
        if (b == NULL)
            return NULL;
        b->size = bsize;
        b->off = 0;
        pad = 0;
        /* A large one-off block goes behind the current one so the current
         * block's free space is not wasted. */
        if (a->head && bsize != ARENA_BLOCK_SIZE) {
            b->next = a->head->next;
            a->head->next = b;
        } else {
            b->next = a->head;
            a->head = b;
        }
    }
    p = b->data + b->off + pad;
    b->off += pad + need;
    a->used += pad + need;
    memset(p, 0, size);
    return p;
}

void *arena_alloc(struct arena *a, size_t size)
{
    return arena_alloc_align(a, size, 16);
}

char *arena_strndup(struct arena *a, const char *s, size_t len)
{
    char *p = len + 1 ? arena_alloc_align(a, len + 1, 1) : NULL;
    if (p == NULL)
        return NULL;
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *arena_strdup(struct arena *a, const char *s)
{
    return arena_strndup(a, s, strlen(s));
}

char *arena_printf(struct arena *a, const char *fmt, ...)
{
    va_list ap;
    int n;
    char *p;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    p = arena_alloc_align(a, (size_t)n + 1, 1);
    if (p == NULL)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}
