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
    _Alignas(16) unsigned char data[];
};

void arena_init(struct arena *a)
{
    a->head = NULL;
    a->used = 0;
    a->cur = a->end = NULL;
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
    a->head = keep;
    a->cur = keep->data;
    a->end = keep->data + keep->size;
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
        dst->cur = src->cur;
        dst->end = src->end;
    }
    dst->used += src->used;
    arena_init(src);
}

void *arena_alloc_slow(struct arena *a, size_t size, size_t align)
{
    size_t need = size ? size : 1, pad = 0, bsize;
    struct arena_block *b;
    void *p;

    if (a->cur) {
        pad = (size_t) - (uintptr_t)a->cur & (align - 1);
        if ((size_t)(a->end - a->cur) >= pad + need) {
            p = a->cur + pad;
            a->cur += pad + need;
            a->used += pad + need;
            memset(p, 0, size);
            return p;
        }
    }
    bsize = need > ARENA_BLOCK_SIZE / 4 ? need : ARENA_BLOCK_SIZE;
    if (bsize > SIZE_MAX - sizeof(*b))
        return NULL;
    b = malloc(sizeof(*b) + bsize);
    if (b == NULL)
        return NULL;
    b->size = bsize;
    a->used += need;
    if (a->head && bsize != ARENA_BLOCK_SIZE) {
        /* A large one-off block goes behind the current one so the current
         * block's free space is not wasted. */
        b->next = a->head->next;
        a->head->next = b;
        memset(b->data, 0, size);
        return b->data;
    }
    b->next = a->head;
    a->head = b;
    a->cur = b->data + need;
    a->end = b->data + bsize;
    memset(b->data, 0, size);
    return b->data;
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
