#include "engine/known.h"

#include <stdlib.h>
#include <string.h>

#include "parser/eval.h"
#include "parser/value.h"
#include "providers/arm/render.h"
#include "providers/arm/resolve.h"
#include "providers/arm/schema.h"
#include "util/banned.h"

json_t *known_decode_attr(const char *kind, const json_t *arm_body, const char *attr)
{
    const struct schema_kind *k = schema_find(kind);
    json_t *decoded, *v;
    if (k == NULL || arm_body == NULL)
        return NULL;
    decoded = render_decode(k, arm_body);
    /* a dotted path reaches into nested blocks: "identity.principal_id" */
    v = decoded;
    for (const char *seg = attr; v && seg;) {
        const char *dot = strchr(seg, '.');
        size_t n = dot ? (size_t)(dot - seg) : strlen(seg);
        v = json_is_object(v) && !value_is_unknown(v) ? json_object_getn(v, seg, n) : NULL;
        seg = dot ? dot + 1 : NULL;
    }
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
    const char *address, *attr, *fn;
    const json_t *args;
    size_t dummy = 0;
    if (left == NULL)
        left = &dummy;
    if (value_unknown_call_parts(v, &fn, &args) && eval_for_deferred(fn)) {
        /* a for expression over a collection known only after apply: once
         * the collection is, its elements take the placeholders' place */
        size_t before = *left;
        json_t *coll = known_fill(json_deep_copy(json_array_get(args, 0)), lookup, payload, left);
        json_t *filled = coll && *left == before ? json_deep_copy(args) : NULL, *expanded = NULL;
        if (filled && json_array_set(filled, 0, coll) == 0)
            expanded = eval_for_expand(fn, filled);
        json_decref(filled);
        json_decref(coll);
        if (expanded) {
            json_decref(v);
            return known_fill(expanded, lookup, payload, left);
        }
        if (*left == before)
            (*left)++; /* not a list or a map: it stays unknown */
        return v;
    }
    if (value_unknown_call_parts(v, &fn, &args)) {
        /* a call made once its arguments are known: fill them, then call */
        size_t before = *left;
        json_t *filled = known_fill(json_deep_copy(args), lookup, payload, left), *got = NULL;
        if (filled && *left == before && eval_call_values(&got, fn, filled) == 0) {
            json_decref(filled);
            json_decref(v);
            return got;
        }
        if (*left == before)
            (*left)++; /* the call itself failed: it stays unknown */
        if (filled) {
            json_t *again = value_unknown_call(fn, filled); /* consumes filled */
            if (again) {
                json_decref(v);
                return again;
            }
        }
        return v;
    }
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

json_t *known_id_from(const char *label, const json_t *settings)
{
    static const char *const used[] = {"subscription", "location"};
    json_t *subset = json_object();
    for (size_t i = 0; i < sizeof(used) / sizeof(used[0]); i++) {
        json_t *v = json_object_get(settings, used[i]);
        if (json_is_string(v))
            json_object_set_new(subset, used[i], json_incref(v));
    }
    return json_pack("{s:s, s:o}", "label", label, "settings", subset);
}

char *known_arm_id(const char *kind, const json_t *attrs, const json_t *id_from)
{
    const struct schema_kind *k = schema_find(kind);
    const char *label = json_string_value(json_object_get(id_from, "label"));
    json_t *v;
    const char *id;
    char *out = NULL;
    if (k == NULL || label == NULL || !json_is_object(attrs))
        return NULL;
    v = resolve_value(k, attrs, json_object_get(id_from, "settings"), label, false);
    id = json_string_value(json_object_get(v, "id"));
    if (id)
        out = strdup(id);
    json_decref(v);
    return out;
}
