/* A block arena (git mem-pool, PHP zend_arena): many small allocations freed
 * at once with arena_release. The AST and its strings live here, so parser
 * actions never free anything (STYLE rule 10). Allocations are zeroed and
 * 16-aligned (arena_alloc), `align`-aligned (arena_alloc_align: a power of
 * two up to 16; small nodes use 8) or unaligned (strings). Returns NULL
 * only when malloc fails. */
#ifndef AMLSEC_UTIL_ARENA_H
#define AMLSEC_UTIL_ARENA_H

#include <stddef.h>
#include <stdint.h>

#include <string.h>

struct arena_block;

struct arena {
    struct arena_block *head;
    size_t used; /* bytes handed out, for benchmarks */
    /* [cur, end): the head block's free space (the parser allocates
     * hundreds of thousands of small nodes: the common case is inline) */
    unsigned char *cur, *end;
};

void arena_init(struct arena *a);
void arena_release(struct arena *a);
void *arena_alloc(struct arena *a, size_t size);
void *arena_alloc_slow(struct arena *a, size_t size, size_t align);

static inline void *arena_alloc_align(struct arena *a, size_t size, size_t align)
{
    /* blocks start 16-aligned, so aligning the address aligns the offset */
    size_t pad = (size_t) - (uintptr_t)a->cur & (align - 1);
    if (size && a->cur && (size_t)(a->end - a->cur) >= pad + size) {
        void *p = a->cur + pad;
        a->cur += pad + size;
        a->used += pad + size;
        memset(p, 0, size);
        return p;
    }
    return arena_alloc_slow(a, size, align);
}
char *arena_strndup(struct arena *a, const char *s, size_t len);
char *arena_strdup(struct arena *a, const char *s);
char *arena_printf(struct arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Releases everything allocated in a but keeps its current block for
 * reuse: a scratch arena reset in a loop stays in the same warm memory. */
void arena_reset(struct arena *a);
/* Moves every block of src into dst (what src handed out now lives as
 * long as dst); src is left empty. */
void arena_adopt(struct arena *dst, struct arena *src);

#endif
