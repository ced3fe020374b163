#include "engine/known.h"

#include <string.h>

#include "parser/value.h"
#include "providers/arm/render.h"
#include "providers/arm/schema.h"
#include "util/banned.h"

json_t *known_decode_attr(const char *kind, const json_t *arm_body, const char *attr)
{
    const struct schema_kind *k = schema_find(kind);
    json_t *decoded, *v;
    if (k == NULL || arm_body == NULL)
        return NULL;
    decoded = render_decode(k, arm_body);
    v = json_object_get(decoded, attr);
    if (v && !value_contains_unknown(v) && !json_is_null(v))
        json_incref(v);
    else
        v = NULL;
    json_decref(decoded);
    return v;
}

json_t *known_from_state(void *payload, const char *address, const char *attr)
{
    struct state *st = payload;
    struct state_resource *r = state_find(st, address);
    struct errbuf err = ERRBUF_INIT;
    json_t *attrs = NULL;
    if (r == NULL || state_resource_attributes(&attrs, r, &err) < 0)
        return NULL;
    return known_decode_attr(r->kind, attrs, attr);
}

json_t *known_fill(json_t *v, known_lookup_fn lookup, void *payload, size_t *left)
{
    const char *address, *attr;
    size_t dummy = 0;
    if (left == NULL)
        left = &dummy;
    if (value_is_unknown(v)) {
        json_t *got =
            value_unknown_origin(v, &address, &attr) ? lookup(payload, address, attr) : NULL;
        if (got) {
            json_decref(v);
            return got;
        }
        (*left)++;
        return v;
    }
    if (json_is_object(v)) {
        const char *k;
        json_t *x;
        void *tmp;
        json_object_foreach_safe(v, tmp, k, x)
        {
            json_t *y = known_fill(json_incref(x), lookup, payload, left);
            json_object_set_new(v, k, y);
        }
    } else if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            json_t *y = known_fill(json_incref(json_array_get(v, i)), lookup, payload, left);
            json_array_set_new(v, i, y);
        }
    }
    return v;
}
