/* The configuration's outputs in a plan and after apply: what `output`
 * blocks evaluate to, with values known only after apply filled in from
 * the state (engine/known.h). */
#include "engine/plan.h"

#include <stdlib.h>
#include <string.h>

#include "engine/known.h"
#include "parser/value.h"
#include "util/error.h"
#include "util/strmap.h"
#include "util/banned.h"

#define SENSITIVE_TEXT "(sensitive)"

struct fill_ctx {
    const struct plan *plan;
    struct state *st;
    struct strmap changing; /* addresses the plan creates or replaces */
    bool indexed;           /* changing built (at the first look-up) */
    bool incomplete;        /* out of memory building it: nothing is taken from the state */
};

static size_t lookup_work;

size_t plan_outputs_lookup_work(void)
{
    return lookup_work;
}

/* known_from_state, except for instances the plan creates or replaces:
 * what the state holds of them is about to change. Those are found
 * through an index made once, not a scan of the plan per look-up (an
 * output listing every instance's principal read n x changes). */
static json_t *lookup_unchanged(void *payload, const char *address, const char *attr)
{
    struct fill_ctx *f = payload;
    size_t at;
    if (!f->indexed) {
        f->indexed = true;
        for (size_t i = 0; i < f->plan->n; i++) {
            const struct plan_change *c = &f->plan->changes[i];
            lookup_work++;
            if ((c->action == PLAN_CREATE || c->action == PLAN_REPLACE) &&
                strmap_put(&f->changing, c->address, i) < 0)
                f->incomplete = true;
        }
    }
    lookup_work++;
    /* out of memory: every value unknown, as for a change, never a stale one */
    if (f->incomplete || strmap_get(&f->changing, address, &at))
        return NULL;
    return known_from_state(f->st, address, attr);
}

static json_t *output_entry(json_t *value, bool sensitive)
{
    return json_pack("{s:o, s:b, s:s}", "value", value, "sensitive", sensitive, "type",
                     value_type_name(value));
}

static int cmp_output(const void *a, const void *b)
{
    return strcmp((*(const struct cfg_output *const *)a)->name,
                  (*(const struct cfg_output *const *)b)->name);
}

int plan_outputs_build(struct plan *plan, const struct config *cfg, const struct state *st,
                       struct errbuf *err)
{
    struct fill_ctx f = {.plan = plan, .st = (struct state *)st};
    json_t *out = json_object(),
           *before = st->outputs ? json_deep_copy(st->outputs) : json_object();
    const struct cfg_output **order = NULL;
    const char *name;
    json_t *o;

    strmap_init(&f.changing, false);
    if (out == NULL || before == NULL)
        goto oom;
    /* by name, as they are printed and stored */
    order = malloc((cfg->noutputs + 1) * sizeof(*order));
    if (order == NULL)
        goto oom;
    for (size_t i = 0; i < cfg->noutputs; i++)
        order[i] = &cfg->outputs[i];
    qsort(order, cfg->noutputs, sizeof(*order), cmp_output);
    for (size_t i = 0; i < cfg->noutputs && !plan->destroy; i++) {
        const struct cfg_output *co = order[i];
        json_t *v, *prev, *e;
        if (co->value == NULL)
            continue;
        v = known_fill(json_deep_copy(co->value), lookup_unchanged, &f, NULL);
        e = v ? output_entry(v, co->sensitive) : NULL;
        if (e == NULL || json_object_set_new(out, co->name, e) < 0)
            goto oom;
        prev = json_object_get(before, co->name);
        if (prev == NULL || value_contains_unknown(v) ||
            !json_equal(json_object_get(prev, "value"), v) ||
            json_is_true(json_object_get(prev, "sensitive")) != co->sensitive)
            plan->noutput_changes++;
    }
    json_object_foreach(before, name, o) if (json_object_get(out, name) == NULL)
        plan->noutput_changes++;
    free(order);
    strmap_release(&f.changing);
    json_decref(plan->outputs);
    json_decref(plan->outputs_before);
    plan->outputs = out;
    plan->outputs_before = before;
    return 0;
oom:
    free(order);
    strmap_release(&f.changing);
    json_decref(out);
    json_decref(before);
    return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
}

json_t *plan_outputs_final(const struct plan *plan, struct state *st)
{
    json_t *out = json_object();
    const char *name;
    json_t *o;
    json_object_foreach(plan->outputs, name, o)
    {
        json_t *v =
            known_fill(json_deep_copy(json_object_get(o, "value")), known_from_state, st, NULL);
        json_object_set_new(out, name,
                            output_entry(v, json_is_true(json_object_get(o, "sensitive"))));
    }
    return out;
}

/* Terraform's after_unknown for one value: true when it is unknown, else
 * the same shape with true where unknowns are, false when there are none. */
static json_t *unknown_shape(const json_t *v)
{
    if (value_is_unknown(v))
        return json_true();
    if (!value_contains_unknown(v))
        return json_false();
    if (json_is_array(v)) {
        json_t *a = json_array();
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) json_array_append_new(a, unknown_shape(x));
        return a;
    }
    {
        json_t *m = json_object();
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x) json_object_set_new(m, k, unknown_shape(x));
        return m;
    }
}

/* A value for before/after: unknown parts null (after_unknown says so),
 * sensitive ones redacted when asked. */
static json_t *shown(const json_t *entry, bool redact)
{
    const json_t *v = json_object_get(entry, "value");
    if (entry == NULL || v == NULL)
        return json_null();
    if (redact && json_is_true(json_object_get(entry, "sensitive")))
        return json_string(SENSITIVE_TEXT);
    if (value_is_unknown(v))
        return json_null();
    if (value_contains_unknown(v)) {
        /* an object or list holding unknowns: they become null */
        json_t *c = json_deep_copy(v);
        json_t *stack[64];
        size_t n = 0;
        stack[n++] = c;
        while (n) {
            json_t *x = stack[--n];
            if (json_is_object(x)) {
                const char *k;
                json_t *y;
                void *tmp;
                json_object_foreach_safe(x, tmp, k, y)
                {
                    if (value_is_unknown(y))
                        json_object_set_new(x, k, json_null());
                    else if ((json_is_object(y) || json_is_array(y)) && n < 64)
                        stack[n++] = y;
                }
            } else if (json_is_array(x)) {
                for (size_t i = 0; i < json_array_size(x); i++) {
                    json_t *y = json_array_get(x, i);
                    if (value_is_unknown(y))
                        json_array_set_new(x, i, json_null());
                    else if ((json_is_object(y) || json_is_array(y)) && n < 64)
                        stack[n++] = y;
                }
            }
        }
        return c;
    }
    return json_deep_copy(v);
}

json_t *plan_output_changes_json(const struct plan *plan, bool redact)
{
    json_t *out = json_object();
    const char *name;
    json_t *o;
    json_object_foreach(plan->outputs, name, o)
    {
        const json_t *prev = json_object_get(plan->outputs_before, name);
        const json_t *v = json_object_get(o, "value");
        const char *action =
            prev == NULL ? "create"
            : (!value_contains_unknown(v) && json_equal(json_object_get(prev, "value"), v) &&
               json_equal(json_object_get(prev, "sensitive"), json_object_get(o, "sensitive")))
                ? "no-op"
                : "update";
        json_object_set_new(out, name,
                            json_pack("{s:[s], s:o, s:o, s:o, s:b, s:b}", "actions", action,
                                      "before", shown(prev, redact), "after", shown(o, redact),
                                      "after_unknown", unknown_shape(v), "before_sensitive",
                                      prev && json_is_true(json_object_get(prev, "sensitive")),
                                      "after_sensitive",
                                      json_is_true(json_object_get(o, "sensitive"))));
    }
    json_object_foreach(plan->outputs_before, name,
                        o) if (json_object_get(plan->outputs, name) == NULL)
        json_object_set_new(
            out, name,
            json_pack("{s:[s], s:o, s:n, s:b, s:b, s:b}", "actions", "delete", "before",
                      shown(o, redact), "after", "after_unknown", 0, "before_sensitive",
                      json_is_true(json_object_get(o, "sensitive")), "after_sensitive", 0));
    return out;
}
