#include "util/errbuf.h"
#include "util/buf.h"
#include "util/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

static errbuf_scrub_fn scrubber;

void errbuf_set_scrubber(errbuf_scrub_fn fn)
{
    scrubber = fn;
}

/* text masked when longer than keep (it is about to be cut there); returns
 * text itself or what *clean holds */
static const char *masked_if_cut(struct buf *clean, const char *text, size_t keep)
{
    return strlen(text) > keep && scrubber ? scrubber(clean, text) : text;
}

int errbuf_vset(struct errbuf *err, int code, const char *fmt, va_list ap)
{
    va_list again;
    int n;
    if (err == NULL)
        return code;
    err->code = code;
    va_copy(again, ap);
    n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    if (n >= (int)sizeof(err->msg) && scrubber) {
        /* cut: the whole text masked first (out of memory: left as cut,
         * a straddling secret's first part kept) */
        struct buf whole, clean;
        buf_init(&whole, 0);
        buf_init(&clean, 0);
        if (buf_vaddf(&whole, fmt, again) == 0)
            snprintf(err->msg, sizeof(err->msg), "%s",
                     masked_if_cut(&clean, whole.ptr, sizeof(err->msg) - 1));
        buf_release(&whole);
        buf_release(&clean);
    }
    va_end(again);
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
    /* each part keeps at most half the message, so both show */
    const size_t keep_prefix = ERRBUF_MAX / 2, keep_old = ERRBUF_MAX / 2 - 3;
    char old[ERRBUF_MAX];
    struct buf prefix, clean_prefix, clean_old;
    va_list ap;
    int rc;

    if (err == NULL)
        return AMLSEC_ERROR;
    memcpy(old, err->msg, sizeof(old));
    buf_init(&prefix, 0);
    buf_init(&clean_prefix, 0);
    buf_init(&clean_old, 0);
    va_start(ap, fmt);
    rc = buf_vaddf(&prefix, fmt, ap);
    va_end(ap);
    /* a part is masked whole before it is cut (errbuf_set_scrubber) */
    if (snprintf(err->msg, sizeof(err->msg), "%.*s: %.*s", (int)keep_prefix,
                 rc == 0 ? masked_if_cut(&clean_prefix, prefix.ptr, keep_prefix) : "",
                 (int)keep_old, masked_if_cut(&clean_old, old, keep_old)) < 0)
        err->msg[0] = '\0';
    buf_release(&prefix);
    buf_release(&clean_prefix);
    buf_release(&clean_old);
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
