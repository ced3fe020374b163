/* A small line diff (Myers' O(ND) algorithm) printing unified diffs, for
 * `amlsec fmt -diff`. Very different inputs (edit distance past
 * LINEDIFF_MAX_EDITS after the common head and tail are removed) are shown
 * as one replaced block rather than a minimal diff, to bound memory. */
#ifndef AMLSEC_UTIL_LINEDIFF_H
#define AMLSEC_UTIL_LINEDIFF_H

#include <stddef.h>

#include "util/buf.h"

#define LINEDIFF_MAX_EDITS 4096

/* Appends to out a unified diff of a (named a_name) against b (b_name) with
 * `context` lines of context; nothing when they are equal. Returns 0, or
 * AMLSEC_ENOMEM. */
int linediff_unified(struct buf *out, const char *a, size_t alen, const char *b, size_t blen,
                     const char *a_name, const char *b_name, int context);

#endif
