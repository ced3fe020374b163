/* Time as the ARM client sees it: a monotonic clock for deadlines and
 * backoff, a wall clock for token expiry and JWT claims, and a sleep. Tests
 * install a manual clock so that backoff and Retry-After cost no real time. */
#ifndef AMLSEC_PROVIDERS_ARM_ARM_CLOCK_H
#define AMLSEC_PROVIDERS_ARM_ARM_CLOCK_H

#include <stdint.h>

struct arm_clock {
    int64_t (*now_ms)(void *payload); /* monotonic milliseconds */
    int64_t (*wall_s)(void *payload); /* seconds since the Unix epoch */
    void (*sleep_ms)(void *payload, int64_t ms);
    void *payload;
};

/* The process clock (CLOCK_MONOTONIC, time(), nanosleep). Static storage. */
const struct arm_clock *arm_clock_real(void);

static inline int64_t arm_clock_now(const struct arm_clock *c)
{
    return c->now_ms(c->payload);
}

static inline int64_t arm_clock_wall(const struct arm_clock *c)
{
    return c->wall_s(c->payload);
}

static inline void arm_clock_sleep(const struct arm_clock *c, int64_t ms)
{
    if (ms > 0)
        c->sleep_ms(c->payload, ms);
}

/* A clock that only moves when slept on (or advanced by hand). */
struct manual_clock {
    int64_t now_ms;
    int64_t wall_base_s; /* wall time at now_ms == 0 */
    int64_t slept_ms;    /* total time slept, for assertions */
    struct arm_clock clock;
};

void manual_clock_init(struct manual_clock *mc, int64_t wall_s);
void manual_clock_advance(struct manual_clock *mc, int64_t ms);

#endif
