#include "util/arena.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "util/buf.h"

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

/* ---- jansson's values for the life of the process ---------------------- */

#if defined(__SANITIZE_ADDRESS__)
#define ARENA_JSON_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ARENA_JSON_SANITIZED 1
#endif
#endif

/* Reserved, not committed: pages exist once touched. 16 GiB holds the
 * values of some 6 million resources (about 2.6 KB each). */
#define JSON_REGION ((size_t)16 << 30)
#define JSON_SMALL ((size_t)4096) /* larger blocks (tables, long strings) use malloc */

/* What a thread takes from the region at once, its pages populated in one
 * call (MADV_POPULATE_WRITE): a page fault per 4 KB page cost more than
 * the page (50,000 resources: evaluation 0.110 -> 0.095 s CPU; larger
 * chunks, up to a mebibyte, saved no more). */
#define JSON_CHUNK ((size_t)64 << 10)

static unsigned char *json_base;
static size_t json_next;      /* offset of the next chunk, taken atomically */
static size_t json_populated; /* chunks populated as they were taken */
/* the calling thread's chunk: most blocks are a bump, with no atomic */
static _Thread_local unsigned char *json_cur, *json_end;

bool arena_json_owns(const void *p)
{
    const unsigned char *b = __atomic_load_n(&json_base, __ATOMIC_ACQUIRE);
    return b && (const unsigned char *)p >= b && (const unsigned char *)p < b + JSON_REGION;
}

void arena_json_chunks(size_t *taken, size_t *populated)
{
    size_t n = __atomic_load_n(&json_next, __ATOMIC_RELAXED) / JSON_CHUNK;
    size_t max = JSON_REGION / JSON_CHUNK;
    *taken = n < max ? n : max;
    *populated = __atomic_load_n(&json_populated, __ATOMIC_RELAXED);
}

size_t arena_json_used(void)
{
    size_t n = __atomic_load_n(&json_next, __ATOMIC_RELAXED);
    n = n < JSON_REGION ? n : JSON_REGION;
    return n - (size_t)(json_end - json_cur); /* less what this thread has yet to hand out */
}

#ifndef ARENA_JSON_SANITIZED
#ifdef MADV_POPULATE_WRITE
static bool json_no_populate; /* the kernel has no MADV_POPULATE_WRITE */
#endif

/* Makes the pages of a chunk just taken, as their first touch would. */
static void json_populate(void *chunk)
{
#ifdef MADV_POPULATE_WRITE
    if (__atomic_load_n(&json_no_populate, __ATOMIC_RELAXED))
        return;
    if (madvise(chunk, JSON_CHUNK, MADV_POPULATE_WRITE) == 0)
        __atomic_fetch_add(&json_populated, 1, __ATOMIC_RELAXED);
    else if (errno == EINVAL) /* before Linux 5.14: touched page by page */
        __atomic_store_n(&json_no_populate, true, __ATOMIC_RELAXED);
#else
    (void)chunk;
#endif
}

static void *json_block(size_t size)
{
    size_t n = (size + 7) & ~(size_t)7;
    void *p;
    if (size == 0 || size > JSON_SMALL)
        return malloc(size ? size : 1);
    if ((size_t)(json_end - json_cur) < n) {
        size_t at = __atomic_fetch_add(&json_next, JSON_CHUNK, __ATOMIC_RELAXED);
        if (at > JSON_REGION - JSON_CHUNK) /* full: the rest from malloc */
            return malloc(size);
        json_cur = json_base + at;
        json_end = json_cur + JSON_CHUNK;
        json_populate(json_cur);
    }
    p = json_cur;
    json_cur += n;
    return p;
}

static void json_block_free(void *p)
{
    if (!arena_json_owns(p))
        free(p);
}
#endif

bool arena_json_install(void)
{
#ifdef ARENA_JSON_SANITIZED
    return false;
#else
    void *base;
    if (__atomic_load_n(&json_base, __ATOMIC_ACQUIRE))
        return true;
    base = mmap(NULL, JSON_REGION, PROT_READ | PROT_WRITE,
                MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED)
        return false;
    __atomic_store_n(&json_base, (unsigned char *)base, __ATOMIC_RELEASE);
    json_set_alloc_funcs(json_block, json_block_free);
    return true;
#endif
}
