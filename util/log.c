#include "util/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util/banned.h"

static enum log_level log_max = LOG_WARN;
static log_sink_fn log_sink;
static void *log_payload;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void log_set_sink(enum log_level max_level, log_sink_fn sink, void *payload)
{
    pthread_mutex_lock(&log_lock);
    log_max = max_level;
    log_sink = sink;
    log_payload = payload;
    pthread_mutex_unlock(&log_lock);
}

int log_enabled(enum log_level level)
{
    return log_sink != NULL && level <= log_max;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    char msg[4096];
    va_list ap;

    if (!log_enabled(level))
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&log_lock);
    if (log_sink)
        log_sink(level, msg, log_payload);
    pthread_mutex_unlock(&log_lock);
}

int log_level_parse(const char *s)
{
    static const char *const names[] = {"error", "warn", "info", "debug", "trace"};
    for (int i = 0; i < (int)(sizeof(names) / sizeof(names[0])); i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}
