#include "util/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <string.h>

#include "util/buf.h"
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

/* The message whole, however long: the sink masks secrets over the whole
 * line, so none may be cut in two by a buffer's end. */
void log_msg(enum log_level level, const char *fmt, ...)
{
    struct buf msg;
    va_list ap;
    int rc;

    if (!log_enabled(level))
        return;
    buf_init(&msg, 0);
    va_start(ap, fmt);
    rc = buf_vaddf(&msg, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&log_lock);
    if (log_sink && rc == 0)
        log_sink(level, msg.ptr, log_payload);
    else if (log_sink)
        log_sink(level, "(log line not shown: out of memory)", log_payload);
    pthread_mutex_unlock(&log_lock);
    buf_release(&msg);
}

int log_level_parse(const char *s)
{
    static const char *const names[] = {"error", "warn", "info", "debug", "trace"};
    for (int i = 0; i < (int)(sizeof(names) / sizeof(names[0])); i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}
