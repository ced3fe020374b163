/* Runtime values are jansson values. One extra notion: an *unknown* value,
 * known only after apply (an ARM id of something not created yet, a key
 * version). It is a singleton-shaped object {"$unknown": true}; test it
 * with value_is_unknown(), never by hand. */
#ifndef AMLSEC_PARSER_VALUE_H
#define AMLSEC_PARSER_VALUE_H

#include <jansson.h>
#include <stdbool.h>

#include "util/buf.h"

json_t *value_unknown(void); /* new reference */
bool value_is_unknown(const json_t *v);
bool value_contains_unknown(const json_t *v); /* anywhere inside */
/* "string", "number", "bool", "list", "map", "null", "unknown" */
const char *value_type_name(const json_t *v);
/* Renders v the way the language would write it: "a", 3, true, ["x"], { k = "v" };
 * unknown prints as (known after apply). Appends to out. */
int value_format(struct buf *out, const json_t *v);

#endif
