/* The single error model (STYLE rule 5): functions return 0 on success or a
 * negative enum amlsec_err. A few codes name expected failures; -1 is the rest.
 * The message travels in a caller-owned struct errbuf (errbuf.h). */
#ifndef AMLSEC_UTIL_ERROR_H
#define AMLSEC_UTIL_ERROR_H

enum amlsec_err {
    AMLSEC_OK = 0,
    AMLSEC_ERROR = -1,     /* anything not listed below */
    AMLSEC_ENOTFOUND = -2, /* the thing asked for does not exist */
    AMLSEC_ECONFLICT = -3, /* someone else changed or holds it */
    AMLSEC_EPARSE = -4,    /* malformed input (config, JSON, state) */
    AMLSEC_EHTTP = -5,     /* the remote answered with an error */
    AMLSEC_EIO = -6,       /* the operating system refused */
    AMLSEC_ELOCKED = -7,   /* a lock is held by someone else */
    AMLSEC_ECORRUPT = -8,  /* checksum, signature or decryption failed */
    AMLSEC_EUSAGE = -9,    /* the caller asked for something impossible */
    AMLSEC_ENOMEM = -10,   /* an allocation failed */
};

/* BUG() is for broken invariants, never for bad input: it aborts with the
 * location so the report can be found. */
#define BUG(...) amlsec_bug(__FILE__, __LINE__, __VA_ARGS__)
_Noreturn void amlsec_bug(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
