/* A string -> size_t hash map (open addressing, FNV-1a), optionally
 * case-insensitive (ARM ids). Keys are copied. For indexes over arrays:
 * store the position, not a pointer, so the array may grow. */
#ifndef AMLSEC_UTIL_STRMAP_H
#define AMLSEC_UTIL_STRMAP_H

#include <stdbool.h>
#include <stddef.h>

struct strmap_slot;

struct strmap {
    struct strmap_slot *slots;
    size_t cap, n;
    bool nocase;
};

void strmap_init(struct strmap *m, bool nocase);
void strmap_release(struct strmap *m);
/* Sets key -> value (replacing). 0, or AMLSEC_ENOMEM. */
int strmap_put(struct strmap *m, const char *key, size_t value);
/* True and *value when key is present. */
bool strmap_get(const struct strmap *m, const char *key, size_t *value);

#endif
