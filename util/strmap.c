#include "util/strmap.h"
#include "util/error.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/banned.h"

struct strmap_slot {
    char *key; /* NULL: empty */
    size_t value;
};

void strmap_init(struct strmap *m, bool nocase)
{
    memset(m, 0, sizeof(*m));
    m->nocase = nocase;
}

void strmap_release(struct strmap *m)
{
    for (size_t i = 0; i < m->cap; i++)
        free(m->slots[i].key);
    free(m->slots);
    strmap_init(m, m->nocase);
}

static uint64_t hash(const struct strmap *m, const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        h ^= m->nocase ? (unsigned char)tolower(c) : c;
        h *= 1099511628211ULL;
    }
    return h;
}

static bool same(const struct strmap *m, const char *a, const char *b)
{
    return m->nocase ? strcasecmp(a, b) == 0 : strcmp(a, b) == 0;
}

static size_t find(const struct strmap *m, const char *key)
{
    size_t i = (size_t)hash(m, key) & (m->cap - 1);
    while (m->slots[i].key && !same(m, m->slots[i].key, key))
        i = (i + 1) & (m->cap - 1);
    return i;
}

static int grow(struct strmap *m)
{
    struct strmap old = *m;
    size_t cap = m->cap ? m->cap * 2 : 64;
    m->slots = calloc(cap, sizeof(*m->slots));
    if (m->slots == NULL) {
        *m = old;
        return AMLSEC_ENOMEM;
    }
    m->cap = cap;
    m->n = 0;
    for (size_t i = 0; i < old.cap; i++) {
        if (old.slots[i].key) {
            size_t j = find(m, old.slots[i].key);
            m->slots[j] = old.slots[i];
            m->n++;
        }
    }
    free(old.slots);
    return 0;
}

int strmap_put(struct strmap *m, const char *key, size_t value)
{
    size_t i;
    if ((m->n + 1) * 2 > m->cap && grow(m) < 0)
        return AMLSEC_ENOMEM;
    i = find(m, key);
    if (m->slots[i].key == NULL) {
        m->slots[i].key = strdup(key);
        if (m->slots[i].key == NULL)
            return AMLSEC_ENOMEM;
        m->n++;
    }
    m->slots[i].value = value;
    return 0;
}

bool strmap_get(const struct strmap *m, const char *key, size_t *value)
{
    size_t i;
    if (m->cap == 0)
        return false;
    i = find(m, key);
    if (m->slots[i].key == NULL)
        return false;
    *value = m->slots[i].value;
    return true;
}
