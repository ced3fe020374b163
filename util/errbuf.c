#include "util/errbuf.h"
#include "util/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

int errbuf_vset(struct errbuf *err, int code, const char *fmt, va_list ap)
{
    if (err == NULL)
        return code;
    err->code = code;
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    return code;
}

int errbuf_set(struct errbuf *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    errbuf_vset(err, code, fmt, ap);
    va_end(ap);
    return code;
}

int errbuf_prefix(struct errbuf *err, const char *fmt, ...)
{
    char prefix[ERRBUF_MAX];
    char old[ERRBUF_MAX];
    va_list ap;

    if (err == NULL)
        return AMLSEC_ERROR;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof(old));
    /* Truncation is acceptable: the message stays NUL-terminated. */
    if (snprintf(err->msg, sizeof(err->msg), "%.*s: %.*s", (int)(sizeof(prefix) / 2), prefix,
                 (int)(sizeof(old) / 2 - 3), old) < 0)
        err->msg[0] = '\0';
    return err->code;
}

void errbuf_clear(struct errbuf *err)
{
    if (err == NULL)
        return;
    err->code = 0;
    err->msg[0] = '\0';
}

_Noreturn void amlsec_bug(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "BUG: %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}
