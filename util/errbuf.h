/* A caller-owned error message (ninja-style; STYLE rule 5). The library fills
 * it, only cmd/ prints it. Messages are one line, lowercase, no full stop. */
#ifndef AMLSEC_UTIL_ERRBUF_H
#define AMLSEC_UTIL_ERRBUF_H

#include <stdarg.h>
#include <stddef.h>

#define ERRBUF_MAX 1024

struct errbuf {
    int code;             /* the enum amlsec_err last set, 0 when clear */
    char msg[ERRBUF_MAX]; /* always NUL-terminated */
};

#define ERRBUF_INIT                                                                                \
    {                                                                                              \
        0,                                                                                         \
        {                                                                                          \
            0                                                                                      \
        }                                                                                          \
    }

/* Sets the message (replacing any) and returns code, so callers can write
 * `return errbuf_set(err, AMLSEC_EIO, "cannot open '%s'", path);`.
 * err may be NULL, in which case only code is returned. */
int errbuf_set(struct errbuf *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int errbuf_vset(struct errbuf *err, int code, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* Adds context in front of the current message: "state file 'x': <msg>".
 * Keeps the code; returns it. */
int errbuf_prefix(struct errbuf *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void errbuf_clear(struct errbuf *err);

/* Masks secrets in msg (cmd/cli.c's cli_scrub): returns msg itself or text
 * it wrote into *out (a struct buf, util/buf.h). */
struct buf;
typedef const char *(*errbuf_scrub_fn)(struct buf *out, const char *msg);
/* Installs fn for messages too long for ERRBUF_MAX: they are masked whole
 * before they are cut, since a secret straddling the cut would otherwise
 * keep its first part, which no later masking recognises. */
void errbuf_set_scrubber(errbuf_scrub_fn fn);

#endif
