/* The process's heap on transparent huge pages, for commands that hold
 * hundreds of megabytes (a plan of 50,000 resources, a saved plan shown).
 *
 * Each 4 KB page a process touches first costs a page fault; on the
 * virtual machines amlsec runs on, a fault costs more than the page's use:
 * show -json of a 91 MB saved plan took 151,000 faults and a third of its
 * time in the kernel. The kernel backs a region that asks for it
 * (madvise(MADV_HUGEPAGE), honoured in transparent huge pages' "madvise"
 * mode, Debian's default) with 2 MB pages, a fault each. glibc's malloc
 * asks so only when told before the process starts (its
 * glibc.malloc.hugetlb tunable); heap_huge_pages does it from inside. */
#ifndef AMLSEC_UTIL_HEAP_H
#define AMLSEC_UTIL_HEAP_H

#include <stdbool.h>
#include <stddef.h>

/* Grows the main heap by about `expect` bytes at once (at most 1 GiB) and
 * asks the kernel to back that growth with huge pages; what the process
 * allocates next comes from it. Nothing below HEAP_HUGE_MIN, more than
 * once, under AddressSanitizer (its own allocator), where the heap cannot
 * grow in one piece, or with strict overcommit accounting (a reservation
 * would count against the rest). Returns whether it did. */
bool heap_huge_pages(size_t expect);

/* Below this, a command is over before huge pages pay (32 MiB). */
#define HEAP_HUGE_MIN ((size_t)32 << 20)

/* What a command expects to hold for the files it reads: the sum of the
 * regular files' sizes under path (a file or a directory, not its
 * subdirectories) whose names end in suffix (NULL: any), times factor. */
size_t heap_expect_files(const char *path, const char *suffix, size_t factor);

/* heap_huge_pages(heap_expect_files(path, suffix, factor)), the first
 * time a process calls it; nothing after that (a command's first caller
 * knows best what it will hold: later ones read no directory). */
bool heap_huge_pages_for(const char *path, const char *suffix, size_t factor);

#endif
