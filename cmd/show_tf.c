/* `show -json PLAN` in the shape of Terraform's JSON plan representation
 * (docs/plan-json.md): planned_values, prior_state, configuration, and per
 * resource change mode, name, index, provider_name and replace_paths;
 * no-op entries for what the state holds and the plan leaves alone;
 * resource_drift as resource changes; amlsec's findings and policy. */
#include "cmd/show_tf.h"

#include <stdlib.h>
#include <string.h>

#include "cmd/check.h"
#include "cmd/cli.h"
#include "cmd/state_cli.h"
#include "parser/config.h"
#include "parser/value.h"
#include "util/banned.h"

#define PROVIDER_NAME "registry.amlsec.dev/amlsec/azureml"

/* "existing.kind.name[\"k\"]" -> mode, type, name, index (new references
 * in o). */
static void address_parts(json_t *o, const char *address)
{
    const char *a = config_address_tail(address), *dot, *br;
    bool data;
    if (a != address) /* Terraform's module_address: module.team["cv"] */
        json_object_set_new(o, "module_address", json_stringn(address, (size_t)(a - address - 1)));
    data = strncmp(a, "existing.", 9) == 0;
    if (data)
        a += 9;
    dot = strchr(a, '.');
    json_object_set_new(o, "mode", json_string(data ? "data" : "managed"));
    if (dot == NULL) {
        json_object_set_new(o, "name", json_string(a));
        return;
    }
    br = strchr(dot + 1, '[');
    json_object_set_new(o, "name",
                        br ? json_stringn(dot + 1, (size_t)(br - dot - 1)) : json_string(dot + 1));
    if (br) {
        const char *end = strrchr(br, ']');
        if (end && br[1] == '"' && end > br + 2 && end[-1] == '"')
            json_object_set_new(o, "index", json_stringn(br + 2, (size_t)(end - br - 3)));
        else if (end)
            json_object_set_new(o, "index", json_integer(strtoll(br + 1, NULL, 10)));
    }
    json_object_set_new(o, "provider_name", json_string(PROVIDER_NAME));
}

static void tf_fields(json_t *o)
{
    address_parts(o, json_string_value(json_object_get(o, "address")));
    if (json_object_get(o, "provider_name") == NULL)
        json_object_set_new(o, "provider_name", json_string(PROVIDER_NAME));
}

/* A planned_values / prior_state resource. */
static json_t *value_resource(const json_t *rc, const json_t *values, const json_t *sensitive)
{
    json_t *r = json_pack("{s:O, s:O, s:O, s:O}", "address", json_object_get(rc, "address"), "mode",
                          json_object_get(rc, "mode"), "type", json_object_get(rc, "type"), "name",
                          json_object_get(rc, "name"));
    if (json_object_get(rc, "index"))
        json_object_set(r, "index", json_object_get(rc, "index"));
    if (json_object_get(rc, "module_address"))
        json_object_set(r, "module_address", json_object_get(rc, "module_address"));
    json_object_set(r, "provider_name", json_object_get(rc, "provider_name"));
    json_object_set_new(r, "schema_version", json_integer(0));
    json_object_set(r, "values", values ? (json_t *)values : json_null());
    json_object_set_new(r, "sensitive_values",
                        sensitive ? json_incref((json_t *)sensitive) : json_object());
    return r;
}

/* "a, b.c" -> [["a"], ["b", "c"]] */
static json_t *replace_paths(const char *detail)
{
    json_t *out = json_array();
    const char *s = detail;
    while (s && *s) {
        size_t n = strcspn(s, ",");
        json_t *path = json_array();
        const char *p = s, *end = s + n;
        while (p < end) {
            size_t m;
            while (p < end && *p == ' ')
                p++;
            m = strcspn(p, ".,");
            if (p + m > end)
                m = (size_t)(end - p);
            while (m && p[m - 1] == ' ')
                m--;
            if (m)
                json_array_append_new(path, json_stringn(p, m));
            p += m;
            while (p < end && (*p == '.' || *p == ' '))
                p++;
        }
        if (json_array_size(path))
            json_array_append_new(out, path);
        else
            json_decref(path);
        s += n;
        if (*s == ',')
            s++;
    }
    return out;
}

/* Terraform leaves values known only after apply out of `after` (and
 * marks them in after_unknown); amlsec's internal unknown objects never
 * reach a reader. */
static json_t *without_unknowns(json_t *v)
{
    if (value_is_unknown(v))
        return NULL;
    if (!value_contains_unknown(v)) /* shared, not copied: nothing to leave out */
        return json_incref(v);
    if (json_is_object(v)) {
        const char *k;
        json_t *x, *out = json_object();
        json_object_foreach(v, k, x)
        {
            json_t *y = without_unknowns(x);
            if (y)
                json_object_set_new(out, k, y);
        }
        return out;
    }
    if (json_is_array(v)) {
        size_t i;
        json_t *x, *out = json_array();
        json_array_foreach(v, i, x)
        {
            json_t *y = without_unknowns(x);
            json_array_append_new(out, y ? y : json_null());
        }
        return out;
    }
    return json_incref(v);
}

static void strip_unknowns(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (v && !json_is_null(v)) {
        json_t *clean = without_unknowns(v);
        json_object_set_new(obj, key, clean ? clean : json_null());
    }
}

int show_terraform_json(json_t *doc, const struct plan *plan, struct state_cli *sc)
{
    json_t *changes = json_object_get(doc, "resource_changes"), *rc;
    json_t *planned = json_array(), *prior = json_array(), *config = json_array();
    json_t *drift_in = json_object_get(doc, "resource_drift"), *drift = json_array(), *d;
    json_t *seen = json_object();
    struct finding_list pf;
    struct state st;
    bool have_st = false, same_st = false; /* the state the plan was made against */
    size_t i;

    json_array_foreach(changes, i, rc)
    {
        json_t *ch = json_object_get(rc, "change");
        const char *first = json_string_value(json_array_get(json_object_get(ch, "actions"), 0));
        tf_fields(rc);
        strip_unknowns(ch, "after");
        strip_unknowns(ch, "before");
        json_object_set_new(seen, json_string_value(json_object_get(rc, "address")), json_true());
        if (json_array_size(json_object_get(ch, "actions")) == 2)
            json_object_set_new(
                ch, "replace_paths",
                replace_paths(json_string_value(json_object_get(rc, "reason_detail"))));
        if ((first && strcmp(first, "delete") != 0) ||
            json_array_size(json_object_get(ch, "actions")) == 2)
            json_array_append_new(planned, value_resource(rc, json_object_get(ch, "after"),
                                                          json_object_get(ch, "after_sensitive")));
        if (!json_is_null(json_object_get(ch, "before")) && json_object_get(ch, "before"))
            json_array_append_new(prior, value_resource(rc, json_object_get(ch, "before"),
                                                        json_object_get(ch, "before_sensitive")));
    }
    /* no-op entries: what the state holds that the plan leaves alone (only
     * when the state is the one the plan was made against) */
    if (sc) {
        struct errbuf err = ERRBUF_INIT;
        int existed = 0;
        if (state_backend_load(&st, &existed, sc->be, &sc->keys, &err) == 0) {
            have_st = true;
            if (existed && strcmp(st.lineage, plan->lineage) == 0 && st.serial == plan->serial) {
                same_st = true;
                for (size_t k = 0; k < st.nresources; k++) {
                    struct state_resource *r = &st.resources[k];
                    /* the plan's moved blocks rename it: the new address,
                     * and previous_address the state's */
                    const char *addr = plan_moved_to(plan->adjustments, r->address);
                    json_t *values, *o;
                    if (json_object_get(seen, addr))
                        continue;
                    values = state_cli_redacted(r, &err);
                    if (values == NULL)
                        continue;
                    o = json_pack("{s:s, s:s, s:s, s:{s:[s], s:O, s:O, s:{}, s:{}, s:{}}, s:s}",
                                  "address", addr, "type", r->kind, "arm_id", r->arm_id, "change",
                                  "actions", "no-op", "before", values, "after", values,
                                  "after_unknown", "before_sensitive", "after_sensitive",
                                  "action_reason", "");
                    if (strcmp(addr, r->address) != 0)
                        json_object_set_new(o, "previous_address", json_string(r->address));
                    tf_fields(o);
                    json_array_append(changes, o);
                    json_array_append_new(planned, value_resource(o, values, NULL));
                    json_array_append_new(prior, value_resource(o, values, NULL));
                    json_decref(values);
                    json_decref(o);
                }
            }
        }
    }
    /* the configuration the plan was saved with: per block, its expressions */
    json_array_foreach(plan->configuration, i, d)
    {
        json_t *o = json_pack(
            "{s:O, s:O, s:O, s:O, s:s, s:i, s:O}", "address", json_object_get(d, "address"), "mode",
            json_object_get(d, "mode"), "type", json_object_get(d, "type"), "name",
            json_object_get(d, "name"), "provider_config_key", "amlsec", "schema_version", 0,
            "expressions", json_object_get(d, "expressions"));
        if (json_object_get(d, "for_each_expression"))
            json_object_set(o, "for_each_expression", json_object_get(d, "for_each_expression"));
        json_array_append_new(config, o);
    }
    json_array_foreach(changes, i, rc)
    {
        const char *first = json_string_value(
            json_array_get(json_object_get(json_object_get(rc, "change"), "actions"), 0));
        if (plan->configuration) /* a plan saved before it carried its configuration */
            break;
        if (first && strcmp(first, "delete") == 0 &&
            json_array_size(json_object_get(json_object_get(rc, "change"), "actions")) == 1)
            continue;
        json_array_append_new(config, json_pack("{s:O, s:O, s:O, s:O, s:s, s:i, s:{}}", "address",
                                                json_object_get(rc, "address"), "mode",
                                                json_object_get(rc, "mode"), "type",
                                                json_object_get(rc, "type"), "name",
                                                json_object_get(rc, "name"), "provider_config_key",
                                                "amlsec", "schema_version", 0, "expressions"));
    }
    json_array_foreach(drift_in, i, d)
    {
        json_t *o = json_deep_copy(d);
        tf_fields(o);
        json_object_set_new(
            o, "change",
            json_pack("{s:[s], s:O, s:O}", "actions",
                      json_is_null(json_object_get(d, "after")) ? "delete" : "update", "before",
                      json_object_get(d, "before"), "after", json_object_get(d, "after")));
        json_array_append_new(drift, o);
    }
    json_object_set_new(doc, "resource_drift", drift);
    json_object_set_new(doc, "planned_values",
                        json_pack("{s:{s:o}}", "root_module", "resources", planned));
    json_object_set_new(doc, "prior_state",
                        json_pack("{s:s, s:{s:{s:o}}}", "format_version", "1.0", "values",
                                  "root_module", "resources", prior));
    json_object_set_new(doc, "configuration",
                        json_pack("{s:{s:{s:s, s:s}}, s:{s:o}}", "provider_config", "amlsec",
                                  "name", "amlsec", "full_name", PROVIDER_NAME, "root_module",
                                  "resources", config));
    /* the assigned policies against the saved requests (and the state it leaves alone), from
     * the cache */
    if (check_plan_policies(&pf, NULL, plan, same_st ? &st : NULL, NULL, ".") == 0) {
        json_t *arr = json_array();
        for (size_t k = 0; k < pf.n; k++)
            json_array_append_new(arr, finding_to_json(&pf.items[k]));
        json_object_set_new(doc, "policy",
                            json_pack("{s:o, s:{s:I, s:I, s:I}}", "findings", arr, "summary",
                                      "deny", (json_int_t)pf.count[FINDING_DENY], "audit",
                                      (json_int_t)pf.count[FINDING_AUDIT], "info",
                                      (json_int_t)pf.count[FINDING_INFO]));
        finding_list_release(&pf);
    }
    if (have_st)
        state_release(&st);
    json_decref(seen);
    return 0;
}
