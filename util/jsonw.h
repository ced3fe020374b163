/* JSON text appended to a buf, exactly as json_dumps(v, JSON_COMPACT)
 * writes it (keys in insertion order, the same escapes; a real in the
 * shortest of 15 to 17 digits that reads back the same), without jansson's
 * per-container loop check and its intermediate string: for large
 * documents written often (armlocal's answers, a Resource Graph page, the
 * queries asking for them). Both return 0, or AMLSEC_ENOMEM with b holding
 * part of the text. */
#ifndef AMLSEC_UTIL_JSONW_H
#define AMLSEC_UTIL_JSONW_H

#include <jansson.h>
#include <stddef.h>

#include "util/buf.h"

int jsonw_value(struct buf *b, const json_t *v);
/* The JSON string of the len bytes at s (a NUL among them included). */
int jsonw_string(struct buf *b, const char *s, size_t len);

/* v as json_dump_callback(v, JSON_INDENT(indent) | JSON_SORT_KEYS |
 * JSON_ENCODE_ANY) writes it (keys sorted by their bytes, as jansson
 * does), for a large document printed once (show -json): appended to b,
 * with flush (when not NULL) called whenever b holds 64 KB or more, to
 * write and empty it. Returns 0, AMLSEC_ENOMEM, or flush's failure. */
struct jsonw_pretty {
    struct buf *b;
    int indent;
    int (*flush)(struct buf *b, void *data);
    void *data;
};
int jsonw_pretty(const struct jsonw_pretty *o, const json_t *v);

#endif
