/* A block arena (git mem-pool, PHP zend_arena): many small allocations freed
 * at once with arena_release. The AST and its strings live here, so parser
 * actions never free anything (STYLE rule 10). Allocations are zeroed and
 * 16-aligned (arena_alloc), `align`-aligned (arena_alloc_align: a power of
 * two up to 16; small nodes use 8) or unaligned (strings). Returns NULL
 * only when malloc fails. */
#ifndef AMLSEC_UTIL_ARENA_H
#define AMLSEC_UTIL_ARENA_H

#include <stdbool.h>
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

/* jansson's values for the rest of the process (validate: the
 * configuration's values live until it exits). Installs allocation
 * functions (json_set_alloc_funcs) that hand out jansson's blocks of up to
 * 4 KB from one reserved region, one after the other, 8-aligned: no
 * malloc header or bin per block, an instance's values side by side, and
 * fewer pages touched (50,000 resources: 1.95 million blocks, 144 MB).
 * Freeing a block of the region does nothing: validate frees 6% of what
 * it allocates before it exits. Larger blocks, and blocks past the
 * region's end, come from malloc and are freed. jansson's json_dumps would
 * return a block of the region to a caller that free()s it: util/banned.h
 * bans it, and jsonw_dumps (util/jsonw.h) returns malloc'd text. Call it before the values are
 * made; it is never undone. Returns false, installing nothing, under AddressSanitizer (every block
 * stays malloc'd, visible to it) or when the region cannot be reserved. */
bool arena_json_install(void);
/* Bytes the region has handed out (0 before arena_json_install; other
 * threads' chunks count whole). */
size_t arena_json_used(void);
/* The chunks threads have taken from the region (64 KB each), and
 * how many of them were populated as they were taken (their pages made in
 * one call, not faulted in one by one; none on kernels before Linux 5.14). */
void arena_json_chunks(size_t *taken, size_t *populated);
/* Whether p is a block of the region. */
bool arena_json_owns(const void *p);

#endif
