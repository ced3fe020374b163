/* Client-side token buckets that mirror ARM's own throttling model: one
 * bucket per subscription (or "tenant") and operation class, ARM's sizes by
 * default (reads 250 / 25 per s, writes 200 / 10 per s, deletes 200 / 10
 * per s). The client takes a token before each request, so a large run
 * slows down instead of drawing 429s. The buckets follow what ARM reports
 * (x-ms-ratelimit-remaining-*) and stop for a Retry-After after a 429. */
#ifndef AMLSEC_PROVIDERS_ARM_RATELIMIT_H
#define AMLSEC_PROVIDERS_ARM_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

enum rl_class { RL_READ, RL_WRITE, RL_DELETE, RL_NCLASS };

struct rl_bucket {
    double tokens;
    int64_t last_ms;       /* when tokens was last brought up to date */
    int64_t blocked_until; /* after a 429: nothing before this */
};

struct rl_key {
    char *key;
    struct rl_bucket b[RL_NCLASS];
};

struct ratelimit {
    double capacity[RL_NCLASS];
    double per_second[RL_NCLASS];
    struct rl_key *keys;
    size_t n_keys, cap_keys;
};

/* ARM's documented bucket sizes. */
void ratelimit_init(struct ratelimit *rl);
void ratelimit_release(struct ratelimit *rl);
void ratelimit_configure(struct ratelimit *rl, enum rl_class c, double capacity, double per_second);

/* Takes one token for (key, c) at now_ms. Returns 0 with *wait_ms = 0 when
 * granted; otherwise takes nothing and sets *wait_ms to the time until a
 * token will be there. AMLSEC_ENOMEM on allocation failure. */
int ratelimit_take(struct ratelimit *rl, const char *key, enum rl_class c, int64_t now_ms,
                   int64_t *wait_ms);
/* ARM says `remaining` requests are left: the bucket never holds more.
 * Values above the bucket's capacity (the legacy hourly model) are ignored. */
void ratelimit_observe(struct ratelimit *rl, const char *key, enum rl_class c, long remaining,
                       int64_t now_ms);
/* A 429 said to wait: no tokens for (key, c) before until_ms. */
void ratelimit_block(struct ratelimit *rl, const char *key, enum rl_class c, int64_t until_ms);
/* Tokens currently held (after refill at now_ms); -1 for an unknown key. */
double ratelimit_tokens(struct ratelimit *rl, const char *key, enum rl_class c, int64_t now_ms);

#endif
