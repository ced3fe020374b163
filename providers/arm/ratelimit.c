#include "providers/arm/ratelimit.h"
#include "util/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/banned.h"

void ratelimit_init(struct ratelimit *rl)
{
    memset(rl, 0, sizeof(*rl));
    ratelimit_configure(rl, RL_READ, 250, 25);
    ratelimit_configure(rl, RL_WRITE, 200, 10);
    ratelimit_configure(rl, RL_DELETE, 200, 10);
}

void ratelimit_release(struct ratelimit *rl)
{
    for (size_t i = 0; i < rl->n_keys; i++)
        free(rl->keys[i].key);
    free(rl->keys);
    rl->keys = NULL;
    rl->n_keys = rl->cap_keys = 0;
}

void ratelimit_configure(struct ratelimit *rl, enum rl_class c, double capacity, double per_second)
{
    rl->capacity[c] = capacity;
    rl->per_second[c] = per_second;
}

static struct rl_key *find(struct ratelimit *rl, const char *key, int64_t now_ms, int create)
{
    struct rl_key *k;
    for (size_t i = 0; i < rl->n_keys; i++)
        if (strcasecmp(rl->keys[i].key, key) == 0)
            return &rl->keys[i];
    if (!create)
        return NULL;
    if (rl->n_keys == rl->cap_keys) {
        size_t cap = rl->cap_keys ? rl->cap_keys * 2 : 4;
        struct rl_key *ks = realloc(rl->keys, cap * sizeof(*ks));
        if (ks == NULL)
            return NULL;
        rl->keys = ks;
        rl->cap_keys = cap;
    }
    k = &rl->keys[rl->n_keys];
    if ((k->key = strdup(key)) == NULL)
        return NULL;
    for (int c = 0; c < RL_NCLASS; c++) {
        k->b[c].tokens = rl->capacity[c];
        k->b[c].last_ms = now_ms;
        k->b[c].blocked_until = 0;
    }
    rl->n_keys++;
    return k;
}

static void refill(const struct ratelimit *rl, struct rl_bucket *b, enum rl_class c, int64_t now_ms)
{
    if (now_ms > b->last_ms) {
        b->tokens += (double)(now_ms - b->last_ms) * rl->per_second[c] / 1000.0;
        if (b->tokens > rl->capacity[c])
            b->tokens = rl->capacity[c];
        b->last_ms = now_ms;
    }
}

int ratelimit_take(struct ratelimit *rl, const char *key, enum rl_class c, int64_t now_ms,
                   int64_t *wait_ms)
{
    struct rl_key *k = find(rl, key, now_ms, 1);
    struct rl_bucket *b;

    *wait_ms = 0;
    if (k == NULL)
        return AMLSEC_ENOMEM;
    b = &k->b[c];
    if (b->blocked_until > now_ms) {
        *wait_ms = b->blocked_until - now_ms;
        return 0;
    }
    refill(rl, b, c, now_ms);
    if (b->tokens >= 1.0) {
        b->tokens -= 1.0;
        return 0;
    }
    if (rl->per_second[c] <= 0) {
        *wait_ms = 1000;
        return 0;
    }
    *wait_ms = (int64_t)ceil((1.0 - b->tokens) * 1000.0 / rl->per_second[c]);
    if (*wait_ms < 1)
        *wait_ms = 1;
    return 0;
}

void ratelimit_observe(struct ratelimit *rl, const char *key, enum rl_class c, long remaining,
                       int64_t now_ms)
{
    struct rl_key *k = find(rl, key, now_ms, 1);
    if (k == NULL || remaining < 0 || (double)remaining > rl->capacity[c])
        return;
    refill(rl, &k->b[c], c, now_ms);
    if ((double)remaining < k->b[c].tokens)
        k->b[c].tokens = (double)remaining;
}

void ratelimit_block(struct ratelimit *rl, const char *key, enum rl_class c, int64_t until_ms)
{
    struct rl_key *k = find(rl, key, until_ms, 1);
    if (k == NULL)
        return;
    if (until_ms > k->b[c].blocked_until)
        k->b[c].blocked_until = until_ms;
    /* Whatever was banked is gone: ARM's bucket is empty. */
    k->b[c].tokens = 0;
    k->b[c].last_ms = until_ms;
}

double ratelimit_tokens(struct ratelimit *rl, const char *key, enum rl_class c, int64_t now_ms)
{
    struct rl_key *k = find(rl, key, now_ms, 0);
    if (k == NULL)
        return -1;
    refill(rl, &k->b[c], c, now_ms);
    return k->b[c].tokens;
}
