#include "util/heap.h"

#include <dirent.h>
#include <limits.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/banned.h"

#if defined(__SANITIZE_ADDRESS__)
#define HEAP_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HEAP_SANITIZED 1
#endif
#endif

/* the heap can be grown ahead and advised: glibc's malloc, no sanitizer's */
#if !defined(HEAP_SANITIZED) && defined(MADV_HUGEPAGE) && defined(__GLIBC__)
#define HEAP_HUGE_PAGES 1
#endif

#define HUGE_PAGE ((uintptr_t)2 << 20)
#define HEAP_HUGE_MAX ((size_t)1 << 30)

/* Whether the kernel counts every reservation against a commit limit
 * (vm.overcommit_memory = 2): a heap grown ahead would then use up what
 * the rest of the process may commit. */
#ifdef HEAP_HUGE_PAGES
static bool strict_overcommit(void)
{
    FILE *f = fopen("/proc/sys/vm/overcommit_memory", "re");
    int mode = 0;
    if (f == NULL)
        return false;
    if (fscanf(f, "%d", &mode) != 1)
        mode = 0;
    fclose(f);
    return mode == 2;
}
#endif

bool heap_huge_pages(size_t expect)
{
#ifndef HEAP_HUGE_PAGES
    (void)expect;
    return false;
#else
    static bool done;
    enum { PROBES = 16 };
    void *probe[PROBES];
    char *before, *after;
    uintptr_t from, to;
    size_t n = 0;
    if (done || expect < HEAP_HUGE_MIN || strict_overcommit())
        return false;
    done = true;
    if (expect > HEAP_HUGE_MAX)
        expect = HEAP_HUGE_MAX;
    /* Every block comes from the heap, not a mapping of its own (a saved
     * plan's text too: freed, its pages hold what is read from it); the
     * heap is never given back while the command runs (it would shrink
     * below the region asked for); its next growth is `expect` bytes more. */
    if (mallopt(M_MMAP_MAX, 0) != 1 || mallopt(M_TRIM_THRESHOLD, INT_MAX) != 1 ||
        mallopt(M_TOP_PAD, (int)expect) != 1) {
        mallopt(M_MMAP_MAX, 65536);
        mallopt(M_TRIM_THRESHOLD, 128 << 10);
        return false;
    }
    /* blocks larger than the free space at its top make it grow */
    before = sbrk(0);
    after = before;
    while (n < PROBES && after == before && (probe[n] = malloc((size_t)1 << 20)) != NULL) {
        n++;
        after = sbrk(0);
    }
    while (n > 0)
        free(probe[--n]);
    mallopt(M_TOP_PAD, 128 << 10); /* glibc's default */
    if (before == (char *)-1 || after == (char *)-1 || after < before + expect / 2) {
        /* grown elsewhere (a mapping), or not at all: glibc's defaults back */
        mallopt(M_MMAP_MAX, 65536);
        mallopt(M_TRIM_THRESHOLD, 128 << 10);
        return false;
    }
    from = ((uintptr_t)before + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
    to = (uintptr_t)after & ~(HUGE_PAGE - 1);
    return to > from && madvise((void *)from, to - from, MADV_HUGEPAGE) == 0;
#endif
}

size_t heap_expect_files(const char *path, const char *suffix, size_t factor)
{
    struct stat st;
    size_t total = 0, sl = suffix ? strlen(suffix) : 0;
    DIR *d;
    struct dirent *e;
    if (path == NULL || stat(path, &st) != 0)
        return 0;
    if (S_ISREG(st.st_mode))
        return (size_t)st.st_size * factor;
    if (!S_ISDIR(st.st_mode) || (d = opendir(path)) == NULL)
        return 0;
    while ((e = readdir(d)) != NULL) {
        char file[PATH_MAX];
        size_t nl = strlen(e->d_name);
        if (e->d_name[0] == '.' ||
            (suffix && (nl < sl || strcmp(e->d_name + nl - sl, suffix) != 0)))
            continue;
        if (snprintf(file, sizeof(file), "%s/%s", path, e->d_name) < (int)sizeof(file) &&
            stat(file, &st) == 0 && S_ISREG(st.st_mode))
            total += (size_t)st.st_size;
    }
    closedir(d);
    return total * factor;
}

bool heap_huge_pages_for(const char *path, const char *suffix, size_t factor)
{
    static bool tried;
    if (tried)
        return false;
    tried = true;
    return heap_huge_pages(heap_expect_files(path, suffix, factor));
}
