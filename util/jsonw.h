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

#endif
