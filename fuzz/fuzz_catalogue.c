/* libFuzzer target over the resource catalogue: decoding an ARM response
 * into attributes, rendering those attributes back into a request body,
 * schema normalisation and change classification.
 * Input: one byte choosing the kind, then a JSON document (an ARM body).
 * Failures: crashes, sanitizer reports, leaks, and a decoded value that
 * the catalogue does not find equal to itself. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "parser/value.h"
#include "providers/arm/render.h"
#include "providers/arm/schema.h"
#include "util/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t nkinds = 0;
    const struct schema_kind *k;
    json_t *arm, *dsl, *value, *settings, *body;
    if (size < 1)
        return 0;
    while (schema_kinds[nkinds].name)
        nkinds++;
    k = &schema_kinds[data[0] % nkinds];
    arm = json_loadb((const char *)data + 1, size - 1, JSON_DECODE_ANY, NULL);
    if (arm == NULL)
        return 0;
    dsl = render_decode(k, arm);
    value = json_pack("{ss ss}", "id", "/subscriptions/s/resourceGroups/r", "location", "x");
    settings = json_pack("{ss}", "subscription", "s");
    body = render_body(k, dsl, value, settings, NULL, true);
    if (dsl && !value_contains_unknown(dsl)) {
        struct schema_diff_entry e[4];
        size_t n = 0;
        if (schema_diff(k, dsl, dsl, e, 4, &n) != CHANGE_NONE)
            abort(); /* a value must compare equal to itself */
    }
    json_decref(body);
    json_decref(settings);
    json_decref(value);
    json_decref(dsl);
    json_decref(arm);
    return 0;
}
