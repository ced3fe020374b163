#include "providers/arm/arm_clock.h"

#include <errno.h>
#include <time.h>

#include "util/banned.h"

static int64_t real_now_ms(void *payload)
{
    struct timespec ts;
    (void)payload;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t real_wall_s(void *payload)
{
    (void)payload;
    return (int64_t)time(NULL);
}

static void real_sleep_ms(void *payload, int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    (void)payload;
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static const struct arm_clock real_clock = {real_now_ms, real_wall_s, real_sleep_ms, NULL};

const struct arm_clock *arm_clock_real(void)
{
    return &real_clock;
}

static int64_t manual_now_ms(void *payload)
{
    return ((struct manual_clock *)payload)->now_ms;
}

static int64_t manual_wall_s(void *payload)
{
    struct manual_clock *mc = payload;
    return mc->wall_base_s + mc->now_ms / 1000;
}

static void manual_sleep_ms(void *payload, int64_t ms)
{
    struct manual_clock *mc = payload;
    mc->now_ms += ms;
    mc->slept_ms += ms;
}

void manual_clock_init(struct manual_clock *mc, int64_t wall_s)
{
    mc->now_ms = 0;
    mc->wall_base_s = wall_s;
    mc->slept_ms = 0;
    mc->clock.now_ms = manual_now_ms;
    mc->clock.wall_s = manual_wall_s;
    mc->clock.sleep_ms = manual_sleep_ms;
    mc->clock.payload = mc;
}

void manual_clock_advance(struct manual_clock *mc, int64_t ms)
{
    mc->now_ms += ms;
}
