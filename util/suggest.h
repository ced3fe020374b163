/* "Did you mean" support: the candidate nearest to a misspelt word. */
#ifndef AMLSEC_UTIL_SUGGEST_H
#define AMLSEC_UTIL_SUGGEST_H

#include <stddef.h>

/* Edit distance (Damerau, optimal string alignment), case-sensitive. */
size_t suggest_distance(const char *a, const char *b);

/* Returns the candidate nearest to word when it is close enough to be a
 * plausible typo (distance <= max(1, len/3)), else NULL. candidates is a
 * NULL-terminated array, or n entries when n > 0. Borrowed pointer. */
const char *suggest_nearest(const char *word, const char *const *candidates, size_t n);

#endif
