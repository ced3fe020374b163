/* Plan <-> JSON (docs/plan-json.md), modelled on Terraform's JSON plan:
 * resource_changes[].change.{actions, before, after, after_unknown,
 * before_sensitive, after_sensitive}, resource_drift[], plus amlsec's own
 * step/group ordering, reasons, impact notes and the ARM request to send. */
#include "engine/plan.h"

#include <stdlib.h>
#include <string.h>

#include "parser/config.h"
#include "parser/value.h"
#include "providers/arm/schema.h"
#include "util/error.h"
#include "util/jsonw.h"
#include "util/strmap.h"
#include "util/banned.h"

#define PLAN_FORMAT_VERSION "1.0"
#define SENSITIVE_TEXT "(sensitive)"

static json_t *actions_of(enum plan_action a, bool cbd)
{
    switch (a) {
    case PLAN_CREATE:
        return json_pack("[s]", "create");
    case PLAN_UPDATE:
        return json_pack("[s]", "update");
    case PLAN_DELETE:
        return json_pack("[s]", "delete");
    case PLAN_REPLACE:
        return cbd ? json_pack("[s,s]", "create", "delete")
                   : json_pack("[s,s]", "delete", "create");
    default:
        return json_pack("[s]", "no-op");
    }
}

static enum plan_action action_from(const json_t *actions)
{
    const char *first = json_string_value(json_array_get(actions, 0));
    if (json_array_size(actions) == 2)
        return PLAN_REPLACE;
    if (first == NULL)
        return PLAN_NOOP;
    if (strcmp(first, "create") == 0)
        return PLAN_CREATE;
    if (strcmp(first, "update") == 0)
        return PLAN_UPDATE;
    if (strcmp(first, "delete") == 0)
        return PLAN_DELETE;
    return PLAN_NOOP;
}

/* In bit order of enum provider_data_plane_part. */
static const char *const dp_names[] = {"new_version", "rotation_policy", "attributes"};
_Static_assert(PROVIDER_DP_NEW_VERSION == 1u << 0 && PROVIDER_DP_POLICY == 1u << 1 &&
                   PROVIDER_DP_ATTRIBUTES == 1u << 2,
               "dp_names follows enum provider_data_plane_part");
#define NDP (sizeof(dp_names) / sizeof(dp_names[0]))

/* The data-plane requests of an update, by name (enum provider_data_plane_part). */
static json_t *data_plane_of(unsigned bits)
{
    json_t *a = json_array();
    for (size_t i = 0; i < NDP; i++)
        if (bits & (1u << i))
            json_array_append_new(a, json_string(dp_names[i]));
    return a;
}

static int data_plane_from(unsigned *out, const json_t *names)
{
    size_t i, k;
    json_t *n;
    *out = 0;
    json_array_foreach(names, i, n)
    {
        for (k = 0; k < NDP; k++)
            if (json_is_string(n) && strcmp(json_string_value(n), dp_names[k]) == 0)
                break;
        if (k == NDP)
            return AMLSEC_EPARSE;
        *out |= 1u << k;
    }
    return 0;
}

static int via_from(enum plan_update_via *out, const json_t *v)
{
    *out = PLAN_VIA_PUT;
    if (v == NULL)
        return 0;
    for (enum plan_update_via x = PLAN_VIA_PUT; x <= PLAN_VIA_DATA_PLANE; x++)
        if (json_is_string(v) && strcmp(json_string_value(v), plan_via_name(x)) == 0) {
            *out = x;
            return 0;
        }
    return AMLSEC_EPARSE;
}

/* Replaces the value at a dotted attribute path with "(sensitive)"; a
 * repeated block (an array of objects) is walked element by element. */
static void redact_path(json_t *obj, const char *path)
{
    char seg[256];
    size_t n = strcspn(path, ".");
    json_t *next;
    if (json_is_array(obj)) {
        size_t i;
        json_t *x;
        json_array_foreach(obj, i, x) redact_path(x, path);
        return;
    }
    if (!json_is_object(obj) || n == 0 || n >= sizeof(seg))
        return;
    memcpy(seg, path, n);
    seg[n] = '\0';
    if ((next = json_object_get(obj, seg)) == NULL)
        return;
    if (path[n] == '\0')
        json_object_set_new(obj, seg, json_string(SENSITIVE_TEXT));
    else
        redact_path(next, path + n + 1);
}

/* Whether obj holds a value at path (redact_path would replace one). */
static bool path_present(const json_t *obj, const char *path)
{
    size_t n = strcspn(path, ".");
    const json_t *next;
    char seg[256];
    if (json_is_array(obj)) {
        size_t i;
        json_t *x;
        json_array_foreach(obj, i, x) if (path_present(x, path)) return true;
        return false;
    }
    if (!json_is_object(obj) || n == 0 || n >= sizeof(seg))
        return false;
    memcpy(seg, path, n);
    seg[n] = '\0';
    if ((next = json_object_get(obj, seg)) == NULL)
        return false;
    return path[n] == '\0' || path_present(next, path + n + 1);
}

/* v with its sensitive values replaced: a copy only when it holds one,
 * else v itself (the JSON is read, never changed in place). */
static json_t *redacted(const json_t *v, const json_t *sensitive)
{
    json_t *copy;
    size_t i;
    json_t *p;
    bool any = false;
    if (v == NULL)
        return json_null();
    json_array_foreach(sensitive, i, p) any =
        any || (json_is_string(p) && path_present(v, json_string_value(p)));
    if (!any)
        return json_incref((json_t *)v);
    copy = json_deep_copy(v);
    json_array_foreach(sensitive, i, p) if (json_is_string(p))
        redact_path(copy, json_string_value(p));
    return copy;
}

/* after_unknown: true at every unknown leaf, like Terraform's. */
static json_t *unknown_mask(const json_t *v)
{
    if (value_is_unknown(v))
        return json_true();
    if (json_is_object(v)) {
        json_t *m = json_object();
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x) if (value_contains_unknown(x))
            json_object_set_new(m, k, unknown_mask(x));
        return m;
    }
    if (json_is_array(v)) {
        json_t *m = json_array();
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x)
            json_array_append_new(m, value_contains_unknown(x) ? unknown_mask(x) : json_false());
        return m;
    }
    return json_false();
}

/* before_sensitive/after_sensitive: true at every sensitive path. */
static json_t *sensitive_mask(const json_t *paths)
{
    json_t *m = json_object();
    size_t i;
    json_t *p;
    json_array_foreach(paths, i, p)
    {
        const char *s = json_string_value(p);
        json_t *cur = m;
        char seg[256];
        while (s && *s) {
            size_t n = strcspn(s, ".");
            if (n >= sizeof(seg))
                break;
            memcpy(seg, s, n);
            seg[n] = '\0';
            if (s[n] == '\0') {
                json_object_set_new(cur, seg, json_true());
                break;
            }
            if (!json_is_object(json_object_get(cur, seg)))
                json_object_set_new(cur, seg, json_object());
            cur = json_object_get(cur, seg);
            s += n + 1;
        }
    }
    return m;
}

/* Does v hold a value at a sensitive path (or inside one)? */
static bool holds_sensitive(const json_t *v, const json_t *paths, const char *prefix)
{
    const char *k;
    json_t *x;
    char path[512];
    if (json_is_array(v)) {
        size_t i;
        json_array_foreach(v, i, x) if (holds_sensitive(x, paths, prefix)) return true;
        return false;
    }
    if (!json_is_object(v) || value_is_unknown(v))
        return false;
    json_object_foreach((json_t *)v, k, x)
    {
        snprintf(path, sizeof(path), "%s%s%s", prefix, prefix[0] ? "." : "", k);
        if (json_is_null(x) || value_is_unknown(x))
            continue;
        if (value_path_sensitive(paths, path, false) || holds_sensitive(x, paths, path))
            return true;
    }
    return false;
}

bool plan_has_sensitive(const struct plan *plan)
{
    size_t ck;
    json_t *check;
    /* a validation checked at apply that reads a sensitive value */
    json_array_foreach(plan->checks, ck,
                       check) if (json_is_true(json_object_get(check, "sensitive"))) return true;
    for (size_t i = 0; i < plan->n; i++) {
        const struct plan_change *c = &plan->changes[i];
        if (json_array_size(c->sensitive) > 0 && (holds_sensitive(c->after, c->sensitive, "") ||
                                                  holds_sensitive(c->before, c->sensitive, "")))
            return true;
    }
    /* an import's state entry (the ARM body read at plan time, replayed
     * by apply) with a secret in it (cmd_plan.c marks it) */
    {
        size_t i;
        json_t *a;
        json_array_foreach(plan->adjustments, i, a)
        {
            const json_t *e = json_object_get(a, "entry");
            if (json_is_true(json_object_get(e, "secret")) ||
                json_array_size(json_object_get(e, "sensitive")) > 0)
                return true;
        }
    }
    /* a sensitive output's value is kept in the saved plan too */
    {
        const char *k;
        json_t *o;
        json_object_foreach(plan->outputs, k,
                            o) if (json_is_true(json_object_get(o, "sensitive"))) return true;
        json_object_foreach(plan->outputs_before, k,
                            o) if (json_is_true(json_object_get(o, "sensitive"))) return true;
    }
    return false;
}

/* Appends to out the dotted paths of blk's sensitive attributes (a value
 * ARM returns, such as an Application Insights connection string, is as
 * secret as a sensitive input). */
static void schema_sensitive(json_t *out, const struct schema_block *blk, const char *prefix)
{
    char path[512];
    for (const struct schema_attr *a = blk->attrs; a->name; a++) {
        snprintf(path, sizeof(path), "%s%s%s", prefix, prefix[0] ? "." : "", a->name);
        if (a->type == ST_BLOCK && a->block)
            schema_sensitive(out, a->block, path);
        else if (a->flags & SF_SENSITIVE)
            json_array_append_new(out, json_string(path));
    }
}

static void kind_paths_release(struct plan_kind_paths *kp)
{
    for (size_t i = 0; i < sizeof(kp->seen) / sizeof(kp->seen[0]); i++)
        json_decref(kp->seen[i].paths);
}

/* The change's sensitive paths and its kind's sensitive attributes. New
 * reference. */
static json_t *sensitive_of(const struct plan_change *c, struct plan_kind_paths *kp)
{
    const size_t nseen = sizeof(kp->seen) / sizeof(kp->seen[0]);
    const struct schema_kind *k = c->kind ? schema_find(c->kind) : NULL;
    json_t *all = json_array(), *paths = NULL;
    if (json_is_array(c->sensitive))
        json_array_extend(all, c->sensitive);
    if (k == NULL)
        return all;
    for (size_t i = 0; i < nseen && paths == NULL; i++)
        if (kp->seen[i].kind == k)
            paths = kp->seen[i].paths;
    if (paths == NULL) {
        unsigned slot = kp->next++ % nseen;
        paths = json_array();
        schema_sensitive(paths, &k->body, "");
        json_decref(kp->seen[slot].paths);
        kp->seen[slot].kind = k;
        kp->seen[slot].paths = paths;
    }
    json_array_extend(all, paths);
    return all;
}

/* resource_changes[i] of the plan JSON. New reference. */
static json_t *change_to_json(const struct plan *plan, size_t i, bool redact,
                              struct plan_kind_paths *kp)
{
    const struct plan_change *c = &plan->changes[i];
    json_t *o = json_object(), *ch = json_object(), *deps = json_array();
    json_t *sens = sensitive_of(c, kp);
    for (size_t k = 0; k < c->ndeps; k++)
        json_array_append_new(deps, json_string(plan->changes[c->deps[k]].address));
    json_object_set_new(o, "address", json_string(c->address));
    json_object_set_new(o, "type", json_string(c->kind));
    json_object_set_new(o, "arm_id", c->arm_id ? json_string(c->arm_id) : json_null());
    json_object_set_new(o, "arm_type", json_string(c->arm_type ? c->arm_type : ""));
    if (c->prior_arm_id)
        json_object_set_new(o, "prior_arm_id", json_string(c->prior_arm_id));
    if (c->previous_address)
        json_object_set_new(o, "previous_address", json_string(c->previous_address));
    json_object_set_new(o, "api_version",
                        c->api_version ? json_string(c->api_version) : json_null());
    json_object_set_new(o, "step", json_integer(c->step));
    json_object_set_new(o, "group", json_integer(c->group));
    json_object_set_new(o, "after_steps", deps);
    json_object_set_new(ch, "actions", actions_of(c->action, c->create_before_destroy));
    json_object_set_new(ch, "before",
                        redact ? redacted(c->before, sens)
                               : (c->before ? json_incref(c->before) : json_null()));
    json_object_set_new(ch, "after",
                        redact ? redacted(c->after, sens)
                               : (c->after ? json_incref(c->after) : json_null()));
    json_object_set_new(ch, "after_unknown", c->after ? unknown_mask(c->after) : json_object());
    {
        /* the same mask both ways: one object, shared (nothing changes it) */
        json_t *mask = sensitive_mask(sens);
        json_object_set(ch, "before_sensitive", mask);
        json_object_set_new(ch, "after_sensitive", mask);
    }
    json_object_set_new(o, "change", ch);
    json_object_set_new(o, "action_reason", json_string(c->reason ? c->reason : ""));
    json_object_set_new(o, "reason_detail",
                        c->reason_detail ? json_string(c->reason_detail) : json_null());
    json_object_set_new(o, "notes", c->notes ? json_incref(c->notes) : json_array());
    if (c->action == PLAN_UPDATE) {
        json_object_set_new(o, "update_via", json_string(plan_via_name(c->via)));
        if (c->via == PLAN_VIA_DATA_PLANE)
            json_object_set_new(o, "data_plane_requests", data_plane_of(c->data_plane));
    }
    if (c->delete_query) /* a permanent delete is no secret: CI gates look for it */
        json_object_set_new(o, "delete_query", json_string(c->delete_query));
    if (!redact) {
        json_object_set_new(o, "request_body", c->body ? json_incref(c->body) : json_null());
        if (c->put_query)
            json_object_set_new(o, "request_query", json_string(c->put_query));
        json_object_set_new(o, "sensitive_paths",
                            c->sensitive ? json_incref(c->sensitive) : json_array());
        json_object_set_new(o, "dependencies",
                            c->dependencies ? json_incref(c->dependencies) : json_array());
        json_object_set_new(o, "create_before_destroy", json_boolean(c->create_before_destroy));
        json_object_set_new(o, "state_only", json_boolean(c->state_only));
        if (c->id_from)
            json_object_set(o, "arm_id_from", c->id_from);
    }
    json_decref(sens);
    return o;
}

/* The plan JSON but resource_changes (set to an empty array); redact as
 * for plan_to_json (outputs and imports). New reference. */
static json_t *root_to_json(const struct plan *plan, bool redact)
{
    json_t *root = json_object(), *drift = json_array();
    /* drift is only shown, never applied: always redacted */
    for (size_t i = 0; i < plan->ndrift; i++) {
        const struct plan_drift *d = &plan->drift[i];
        json_array_append_new(drift, json_pack("{s:s, s:s, s:s, s:o, s:o, s:O, s:o}", "address",
                                               d->address, "type", d->kind, "what", d->what,
                                               "before", redacted(d->before, d->sensitive), "after",
                                               redacted(d->after, d->sensitive), "paths", d->paths,
                                               "sensitive", sensitive_mask(d->sensitive)));
    }
    json_object_set_new(root, "findings",
                        plan->findings ? json_incref(plan->findings) : json_array());
    json_object_set_new(root, "format_version", json_string(PLAN_FORMAT_VERSION));
    json_object_set_new(root, "amlsec_version", json_string(AMLSEC_VERSION));
    json_object_set_new(root, "destroy", json_boolean(plan->destroy));
    json_object_set_new(
        root, "state",
        json_pack("{s:s, s:I}", "lineage", plan->lineage, "serial", (json_int_t)plan->serial));
    json_object_set_new(root, "configuration_digest", json_string(plan->config_digest));
    json_object_set_new(
        root, "target",
        json_pack("{s:o, s:o, s:o}", "cloud", plan->cloud ? json_string(plan->cloud) : json_null(),
                  "subscription",
                  plan->subscription ? json_string(plan->subscription) : json_null(), "tenant",
                  plan->tenant ? json_string(plan->tenant) : json_null()));
    json_object_set_new(root, "summary",
                        json_pack("{s:I, s:I, s:I}", "add", (json_int_t)plan->nadd, "change",
                                  (json_int_t)plan->nchange, "destroy",
                                  (json_int_t)plan->ndestroy));
    json_object_set_new(root, "resource_changes", json_array());
    json_object_set_new(root, "resource_drift", drift);
    /* as Terraform: no output_changes without outputs */
    if (json_object_size(plan->outputs) || json_object_size(plan->outputs_before))
        json_object_set_new(root, "output_changes", plan_output_changes_json(plan, redact));
    if (!redact && json_object_size(plan->outputs))
        /* what apply records: values still unknown keep their origin */
        json_object_set_new(root, "planned_outputs", json_deep_copy(plan->outputs));
    if (!redact && json_object_size(plan->outputs_before))
        json_object_set_new(root, "prior_outputs", json_deep_copy(plan->outputs_before));
    if (json_array_size(plan->adjustments)) {
        /* import and moved blocks; the imported entries only where the
         * plan can be applied */
        json_t *adj = json_deep_copy(plan->adjustments);
        size_t i;
        json_t *a;
        json_array_foreach(adj, i, a) if (redact) json_object_del(a, "entry");
        json_object_set_new(root, "state_adjustments", adj);
    }
    if (json_array_size(plan->checks)) {
        /* validations checked at apply; shown without the condition and
         * message, which may hold what the variable holds */
        json_t *checks = json_deep_copy(plan->checks), *c;
        size_t i;
        json_array_foreach(checks, i, c) if (redact)
        {
            json_object_del(c, "condition");
            json_object_del(c, "error_message");
        }
        json_object_set_new(root, "deferred_validations", checks);
    }
    if (plan->configuration) /* locations and expressions: no values, nothing secret */
        json_object_set(root, "configuration", plan->configuration);
    return root;
}

json_t *plan_to_json(const struct plan *plan, bool redact)
{
    json_t *root = root_to_json(plan, redact), *changes = json_object_get(root, "resource_changes");
    struct plan_kind_paths kp = {0};
    for (size_t i = 0; i < plan->n; i++)
        json_array_append_new(changes, change_to_json(plan, i, redact, &kp));
    kind_paths_release(&kp);
    return root;
}

json_t *plan_json_root(const struct plan *plan, bool redact)
{
    return root_to_json(plan, redact);
}

json_t *plan_json_change(const struct plan *plan, size_t i, bool redact, struct plan_kind_paths *kp)
{
    return change_to_json(plan, i, redact, kp);
}

json_t *plan_json_values(const struct plan *plan, size_t i, bool redact, bool before,
                         struct plan_kind_paths *kp, json_t **mask)
{
    const struct plan_change *c = &plan->changes[i];
    const json_t *v = before ? c->before : c->after;
    json_t *sens = sensitive_of(c, kp);
    json_t *out = redact ? redacted(v, sens) : (v ? json_incref((json_t *)v) : json_null());
    *mask = sensitive_mask(sens);
    json_decref(sens);
    return out;
}

void plan_kind_paths_release(struct plan_kind_paths *kp)
{
    kind_paths_release(kp);
}

static int key_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Where plan_json_dump's values go: their text gathered in b (one
 * buffer for the whole plan, emptied as it is handed to cb), then cb. */
struct dump_to {
    json_dump_callback_t cb;
    void *data;
    struct buf b;
};

static int dump_flush(struct buf *b, void *data)
{
    const struct dump_to *to = data;
    int rc = b->len && to->cb(b->ptr, b->len, to->data) != 0 ? -1 : 0;
    buf_reset(b);
    return rc;
}

/* v in a plan file's form (parser/value.h: no NUL), compact, keys sorted,
 * through to's cb: 0 or -1. */
static int dump_file_form(json_t *v, struct dump_to *to)
{
    struct jsonw_pretty o = {&to->b, -1, dump_flush, to};
    json_t *f = value_file_form(v);
    int rc = f ? jsonw_pretty(&o, f) : -1;
    json_decref(f);
    if (rc == 0)
        rc = dump_flush(&to->b, to);
    return rc < 0 ? -1 : 0;
}

int plan_json_dump(const struct plan *plan, json_dump_callback_t cb, void *data)
{
    const size_t flags = JSON_COMPACT | JSON_SORT_KEYS;
    json_t *root = root_to_json(plan, false);
    struct plan_kind_paths kp = {0};
    struct dump_to to = {cb, data, {0}};
    const char *keys[32];
    size_t n = 0;
    const char *k;
    json_t *v;
    int rc = root ? 0 : -1;
    /* the members in jansson's order for JSON_SORT_KEYS; resource_changes
     * one change at a time, each built, written and freed in turn */
    /* configuration_of: the configuration's entries likewise */
    if (root && !plan->configuration && plan->configuration_of)
        json_object_set_new(root, "configuration", json_array());
    json_object_foreach(root, k, v) if (n < sizeof(keys) / sizeof(keys[0])) keys[n++] = k;
    qsort(keys, n, sizeof(keys[0]), key_cmp);
    buf_init(&to.b, SIZE_MAX);
    rc = rc == 0 ? cb("{", 1, data) : rc;
    for (size_t i = 0; i < n && rc == 0; i++) {
        json_t *key = json_string(keys[i]);
        rc = (i ? cb(",", 1, data) : 0) ||
             json_dump_callback(key, cb, data, flags | JSON_ENCODE_ANY) || cb(":", 1, data);
        json_decref(key);
        if (rc == 0 && strcmp(keys[i], "resource_changes") == 0) {
            rc = cb("[", 1, data);
            for (size_t c = 0; c < plan->n && rc == 0; c++) {
                json_t *o = change_to_json(plan, c, false, &kp);
                rc = (c ? cb(",", 1, data) : 0) || o == NULL || dump_file_form(o, &to);
                json_decref(o);
            }
            rc = rc == 0 ? cb("]", 1, data) : rc;
        } else if (rc == 0 && strcmp(keys[i], "configuration") == 0 && !plan->configuration &&
                   plan->configuration_of) {
            const struct config *cfg = plan->configuration_of;
            rc = cb("[", 1, data);
            for (size_t c = 0; c < cfg->nresources && rc == 0; c++) {
                json_t *o = plan_configuration_entry(cfg, c);
                rc = (c ? cb(",", 1, data) : 0) || o == NULL || dump_file_form(o, &to);
                json_decref(o);
            }
            /* then the module calls' and the root module's entries (few) */
            if (rc == 0) {
                json_t *mods = json_array(), *o;
                size_t m;
                plan_configuration_modules(mods, cfg);
                json_array_foreach(mods, m, o)
                {
                    if (rc == 0)
                        rc = ((cfg->nresources || m) ? cb(",", 1, data) : 0) ||
                             dump_file_form(o, &to);
                }
                json_decref(mods);
            }
            rc = rc == 0 ? cb("]", 1, data) : rc;
        } else if (rc == 0) {
            rc = dump_file_form(json_object_get(root, keys[i]), &to);
        }
    }
    rc = rc == 0 ? cb("}", 1, data) : rc;
    buf_release(&to.b);
    json_decref(root);
    kind_paths_release(&kp);
    return rc ? -1 : 0;
}

static char *take_str(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_string(v) ? strdup(json_string_value(v)) : NULL;
}

/* A member of o, shared (a new reference, not a copy: a plan read from a
 * file holds the values the file's JSON holds). */
static json_t *take_json(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return v && !json_is_null(v) ? json_incref(v) : NULL;
}

/* The plan's members but resource_changes (plan_read_begin). 0, or the
 * error (p freed by the caller). */
static int header_from_json(struct plan *p, const json_t *root, struct errbuf *err)
{
    const json_t *st = json_object_get(root, "state");
    const char *fv = json_string_value(json_object_get(root, "format_version"));
    if (fv == NULL || strcmp(fv, PLAN_FORMAT_VERSION) != 0)
        return errbuf_set(err, AMLSEC_EPARSE, "unsupported plan format_version '%s'",
                          fv ? fv : "(missing)");
    if (!json_is_object(st) || !json_is_string(json_object_get(st, "lineage")) ||
        json_string_length(json_object_get(st, "lineage")) > STATE_LINEAGE_LEN)
        return errbuf_set(err, AMLSEC_EPARSE, "plan lacks resource_changes or state");
    memcpy(p->lineage, json_string_value(json_object_get(st, "lineage")),
           json_string_length(json_object_get(st, "lineage")) + 1);
    p->serial = (uint64_t)json_integer_value(json_object_get(st, "serial"));
    p->destroy = json_is_true(json_object_get(root, "destroy"));
    p->findings = take_json(root, "findings");
    p->outputs = take_json(root, "planned_outputs");
    p->adjustments = take_json(root, "state_adjustments");
    if (p->adjustments && !json_is_array(p->adjustments))
        return errbuf_set(err, AMLSEC_EPARSE, "plan: state_adjustments is not an array");
    {
        size_t ai;
        json_t *a;
        json_array_foreach(p->adjustments, ai, a) p->nimports +=
            json_is_string(json_object_get(a, "action")) &&
            strcmp(json_string_value(json_object_get(a, "action")), "import") == 0;
    }
    p->checks = take_json(root, "deferred_validations");
    if (p->checks) {
        size_t ci;
        json_t *c;
        const char *why = json_is_array(p->checks) ? NULL : "is not an array";
        json_array_foreach(p->checks, ci,
                           c) if (why == NULL &&
                                  (why = plan_check_malformed(
                                       c))) return errbuf_set(err, AMLSEC_EPARSE,
                                                              "plan: deferred_validations[%zu] %s",
                                                              ci, why);
        if (why)
            return errbuf_set(err, AMLSEC_EPARSE, "plan: deferred_validations %s", why);
    }
    p->outputs_before = take_json(root, "prior_outputs");
    if ((p->outputs && !json_is_object(p->outputs)) ||
        (p->outputs_before && !json_is_object(p->outputs_before)))
        return errbuf_set(err, AMLSEC_EPARSE,
                          "plan: planned_outputs and prior_outputs are objects");
    {
        const char *k;
        json_t *v;
        json_t *oc = json_object_get(root, "output_changes");
        json_object_foreach(oc, k, v)
        {
            const char *a = json_string_value(json_array_get(json_object_get(v, "actions"), 0));
            p->noutput_changes += a && strcmp(a, "no-op") != 0;
        }
    }
    p->configuration = take_json(root, "configuration");
    if (p->configuration && !json_is_array(p->configuration))
        return errbuf_set(err, AMLSEC_EPARSE, "plan configuration is not an array");
    {
        const json_t *t = json_object_get(root, "target");
        const char *cl = json_string_value(json_object_get(t, "cloud"));
        const char *sub = json_string_value(json_object_get(t, "subscription"));
        const char *ten = json_string_value(json_object_get(t, "tenant"));
        p->cloud = cl ? strdup(cl) : NULL;
        p->subscription = sub ? strdup(sub) : NULL;
        p->tenant = ten ? strdup(ten) : NULL;
    }
    snprintf(p->config_digest, sizeof(p->config_digest), "%s",
             json_string_value(json_object_get(root, "configuration_digest"))
                 ? json_string_value(json_object_get(root, "configuration_digest"))
                 : "");
    return 0;
}

int plan_read_begin(struct plan_reader *r, struct errbuf *err)
{
    memset(r, 0, sizeof(*r));
    strmap_init(&r->seen, false);
    if ((r->plan = calloc(1, sizeof(*r->plan))) == NULL)
        return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    return 0;
}

int plan_read_header(struct plan_reader *r, const json_t *root, struct errbuf *err)
{
    return header_from_json(r->plan, root, err);
}

void plan_read_abort(struct plan_reader *r)
{
    strmap_release(&r->seen);
    plan_free(r->plan);
    r->plan = NULL;
}

int plan_read_change(struct plan_reader *r, const json_t *c, struct errbuf *err)
{
    struct plan *p = r->plan;
    struct plan_change *x;
    const json_t *ch = json_object_get(c, "change");
    const json_t *after_steps = json_object_get(c, "after_steps");
    size_t k, i = r->count++;
    json_t *a;
    if (p->n == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 64;
        struct plan_change *grown = realloc(p->changes, (cap + 1) * sizeof(*grown));
        if (grown == NULL)
            return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
        memset(grown + r->cap, 0, (cap + 1 - r->cap) * sizeof(*grown));
        p->changes = grown;
        r->cap = cap;
    }
    x = &p->changes[p->n];
    x->address = take_str(c, "address");
    x->kind = take_str(c, "type");
    if (x->address == NULL || x->kind == NULL || !json_is_object(ch)) {
        p->n++;
        return errbuf_set(err, AMLSEC_EPARSE, "resource_changes[%zu] is incomplete", i);
    }
    x->arm_id = take_str(c, "arm_id");
    x->arm_type = take_str(c, "arm_type");
    x->prior_arm_id = take_str(c, "prior_arm_id");
    x->previous_address = take_str(c, "previous_address");
    x->id_from = x->arm_id ? NULL : take_json(c, "arm_id_from");
    x->api_version = take_str(c, "api_version");
    x->action = action_from(json_object_get(ch, "actions"));
    x->create_before_destroy = json_is_true(json_object_get(c, "create_before_destroy"));
    x->state_only = json_is_true(json_object_get(c, "state_only"));
    x->reason = take_str(c, "action_reason");
    x->reason_detail = take_str(c, "reason_detail");
    x->before = take_json(ch, "before");
    x->after = take_json(ch, "after");
    x->body = take_json(c, "request_body");
    if (r->body_text && x->body == NULL) {
        x->body_text = malloc(r->body_text_len + 1);
        if (x->body_text == NULL) {
            p->n++;
            return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
        }
        memcpy(x->body_text, r->body_text, r->body_text_len);
        x->body_text[r->body_text_len] = '\0';
        x->body_text_len = r->body_text_len;
    }
    r->body_text = NULL;
    x->put_query = take_str(c, "request_query");
    x->delete_query = take_str(c, "delete_query");
    x->sensitive = take_json(c, "sensitive_paths");
    x->dependencies = take_json(c, "dependencies");
    x->notes = take_json(c, "notes");
    if (via_from(&x->via, json_object_get(c, "update_via")) < 0 ||
        data_plane_from(&x->data_plane, json_object_get(c, "data_plane_requests")) < 0) {
        p->n++;
        return errbuf_set(err, AMLSEC_EPARSE,
                          "resource_changes[%zu]: unknown update_via or data_plane_requests", i);
    }
    x->step = (int)json_integer_value(json_object_get(c, "step"));
    x->group = (int)json_integer_value(json_object_get(c, "group"));
    p->n++;
    if (x->action != PLAN_DELETE && x->body == NULL && x->body_text == NULL)
        return errbuf_set(err, AMLSEC_EPARSE,
                          "resource_changes[%zu] has no request_body: a redacted plan (show "
                          "-json) cannot be applied",
                          i);
    /* each step it waits for, by address among the earlier changes
     * (through the index, not a scan of them) */
    x->deps = calloc(json_array_size(after_steps) + 1, sizeof(*x->deps));
    if (x->deps == NULL)
        return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    /* each entry names one earlier change, the latest with that address (a
     * crafted plan may repeat an address; deps has room for one per entry) */
    json_array_foreach(after_steps, k, a)
    {
        size_t j;
        p->work++;
        if (json_is_string(a) && strmap_get(&r->seen, json_string_value(a), &j))
            x->deps[x->ndeps++] = j;
    }
    if (strmap_put(&r->seen, x->address, i) < 0) /* replacing: the latest */
        return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    p->nadd += x->action == PLAN_CREATE || x->action == PLAN_REPLACE;
    p->nchange += x->action == PLAN_UPDATE;
    p->ndestroy += x->action == PLAN_DELETE || x->action == PLAN_REPLACE;
    return 0;
}

const json_t *plan_change_body(struct plan_change *c)
{
    json_t *v;
    if (c->body || c->body_text == NULL)
        return c->body;
    /* read as the rest of the plan file was (cmd/planfile.c: value_at) */
    v = jsonw_loadb(c->body_text, c->body_text_len, JSON_ALLOW_NUL, NULL);
    if (v && value_text_may_hold_file_forms(c->body_text, c->body_text_len) &&
        value_from_file_form(v) < 0) {
        json_decref(v);
        v = NULL;
    }
    if (!json_is_object(v)) {
        json_decref(v);
        return NULL;
    }
    free(c->body_text);
    c->body_text = NULL;
    c->body_text_len = 0;
    return c->body = v;
}

int plan_read_end(struct plan_reader *r, struct plan **out, struct errbuf *err)
{
    *out = NULL;
    if (r->plan->changes == NULL &&
        (r->plan->changes = calloc(1, sizeof(*r->plan->changes))) == NULL) {
        plan_read_abort(r);
        return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    }
    strmap_release(&r->seen);
    *out = r->plan;
    r->plan = NULL;
    return 0;
}

int plan_from_json(struct plan **out, const json_t *root, struct errbuf *err)
{
    const json_t *changes = json_object_get(root, "resource_changes");
    const char *fv = json_string_value(json_object_get(root, "format_version"));
    struct plan_reader r;
    size_t i;
    json_t *c;
    int rc;

    *out = NULL;
    /* the format first, then the changes' presence (as before the plan was read in pieces) */
    if (fv && strcmp(fv, PLAN_FORMAT_VERSION) == 0 && !json_is_array(changes))
        return errbuf_set(err, AMLSEC_EPARSE, "plan lacks resource_changes or state");
    if ((rc = plan_read_begin(&r, err)) < 0)
        return rc;
    if ((rc = plan_read_header(&r, root, err)) < 0) {
        plan_read_abort(&r);
        return rc;
    }
    json_array_foreach(changes, i, c)
    {
        if ((rc = plan_read_change(&r, c, err)) < 0) {
            plan_read_abort(&r);
            return rc;
        }
    }
    return plan_read_end(&r, out, err);
}
