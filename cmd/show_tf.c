/* `show -json PLAN` in the shape of Terraform's JSON plan representation
 * (docs/plan-json.md): planned_values, prior_state, configuration, and per
 * resource change mode, name, index, provider_name and replace_paths;
 * module resources in child_modules (values) and module_calls
 * (configuration); no-op entries for what the state holds and the plan
 * leaves alone;
 * resource_drift as resource changes; amlsec's findings and policy. */
#include "cmd/show_tf.h"

#include <stdlib.h>
#include <string.h>

#include "cmd/check.h"
#include "cmd/cli.h"
#include "cmd/state_cli.h"
#include "parser/config.h"
#include "parser/value.h"
#include "providers/arm/render.h"
#include "providers/arm/schema.h"
#include "util/error.h"
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

#define SENSITIVE_TEXT "(sensitive)"

/* v at path (dotted, "" for the instance) with hidden (the same values
 * decoded from the redacted ARM body, NULL where it has none): a leaf is
 * secret where the redaction changed it or a path in sens covers it. With
 * redact, *out is v with each secret replaced by "(sensitive)" (else v).
 * Returns Terraform's sensitive_values mask for v: true, an object or an
 * array holding one, or NULL when nothing in v is secret. */
static json_t *mask_values(json_t **out, json_t *v, const json_t *hidden, const json_t *sens,
                           const char *path, bool redact)
{
    char sub[512];
    json_t *mask = NULL, *x;
    if (path[0] && (value_path_sensitive(sens, path, false) ||
                    (!json_is_object(v) && !json_is_array(v) && !json_equal(v, hidden)) ||
                    (json_is_object(v) && !json_is_object(hidden)) ||
                    (json_is_array(v) && json_array_size(v) != json_array_size(hidden)))) {
        *out = redact ? json_string(SENSITIVE_TEXT) : json_incref(v);
        return json_true();
    }
    if (json_is_object(v)) {
        const char *k;
        *out = json_object();
        json_object_foreach(v, k, x)
        {
            json_t *y, *m;
            snprintf(sub, sizeof(sub), "%s%s%s", path, path[0] ? "." : "", k);
            m = mask_values(&y, x, json_object_get(hidden, k), sens, sub, redact);
            json_object_set_new(*out, k, y);
            if (m) {
                if (mask == NULL)
                    mask = json_object();
                json_object_set_new(mask, k, m);
            }
        }
    } else if (json_is_array(v)) {
        size_t i;
        bool any = false;
        json_t *all = json_array();
        *out = json_array();
        json_array_foreach(v, i, x) /* a repeated block's elements share the path */
        {
            json_t *y, *m = mask_values(&y, x, json_array_get(hidden, i), sens, path, redact);
            json_array_append_new(*out, y);
            any = any || m;
            json_array_append_new(all, m ? m : json_false());
        }
        if (any)
            mask = all;
        else
            json_decref(all);
    } else {
        *out = json_incref(v);
    }
    return mask;
}

json_t *show_state_values(struct state_resource *r, bool redact, json_t **sensitive_values,
                          struct errbuf *err)
{
    const struct schema_kind *k = r->kind ? schema_find(r->kind) : NULL;
    json_t *attrs, *hid_arm, *v, *hidden, *sens = json_array(), *out = NULL, *mask;
    size_t i;
    json_t *p;
    *sensitive_values = NULL;
    if (state_resource_attributes(&attrs, r, err) < 0 ||
        (hid_arm = state_cli_redacted(r, err)) == NULL) {
        json_decref(sens);
        return NULL;
    }
    /* the kind's attributes, as a plan's before shows them (a kind this
     * amlsec no longer has: the ARM body) */
    v = k ? plan_state_attrs(k, attrs) : json_incref(attrs ? attrs : json_object());
    hidden = k ? plan_state_attrs(k, hid_arm) : json_incref(hid_arm);
    if (k) {
        json_array_foreach(r->sensitive, i, p)
        {
            /* JSON pointers (older states) are the ARM body's: hidden has them */
            if (json_string_value(p) && json_string_value(p)[0] != '/')
                json_array_append(sens, p);
        }
        render_sensitive_paths(k, sens);
    }
    if (v && hidden) {
        mask = mask_values(&out, v, hidden, sens, "", redact);
        *sensitive_values = mask ? mask : json_object();
    }
    json_decref(v);
    json_decref(hidden);
    json_decref(hid_arm);
    json_decref(sens);
    if (out == NULL)
        errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    return out;
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

/* The first n bytes of s as a new string (NULL when out of memory). */
static char *prefix_copy(const char *s, size_t n)
{
    char *m = malloc(n + 1);
    if (m) {
        memcpy(m, s, n);
        m[n] = '\0';
    }
    return m;
}

/* The module part of a resource address ("" for the root): new string. */
static char *module_of(const char *address)
{
    const char *a = config_address_tail(address);
    return prefix_copy(address, a == address ? 0 : (size_t)(a - address - 1));
}

/* planned_values / prior_state: the module instance path's node (the root
 * at ""), made with its parents: {address, resources, child_modules}. */
static json_t *values_module(json_t *index, const char *path)
{
    json_t *node = json_object_get(index, path), *parent;
    char *up;
    if (node)
        return node;
    if ((up = prefix_copy(path, plan_module_parent_len(path))) == NULL)
        return json_object_get(index, "");
    parent = values_module(index, up);
    free(up);
    node = json_pack("{s:s, s:[], s:[]}", "address", path, "resources", "child_modules");
    json_array_append_new(json_object_get(parent, "child_modules"), node);
    json_object_set(index, path, node);
    return node;
}

/* A values resource, placed in its module (the index's tree). */
static void place_value(json_t *index, json_t *res)
{
    char *m = module_of(json_string_value(json_object_get(res, "address")));
    json_array_append_new(json_object_get(values_module(index, m ? m : ""), "resources"), res);
    free(m);
}

/* Terraform leaves empty child_modules out, and a child module's empty
 * resources (a module holding only modules). */
static void prune_values(json_t *node, bool root)
{
    json_t *kids = json_object_get(node, "child_modules"), *k;
    size_t i;
    json_array_foreach(kids, i, k) prune_values(k, false);
    if (json_array_size(kids) == 0)
        json_object_del(node, "child_modules");
    if (!root && json_array_size(json_object_get(node, "resources")) == 0)
        json_object_del(node, "resources");
}

static json_t *values_tree(void)
{
    json_t *index = json_object();
    json_object_set_new(index, "", json_pack("{s:[], s:[]}", "resources", "child_modules"));
    return index;
}

/* {root_module: ...} from a values tree (the index released). */
static json_t *values_root(json_t *index)
{
    json_t *root = json_incref(json_object_get(index, ""));
    prune_values(root, true);
    json_decref(index);
    return json_pack("{s:o}", "root_module", root);
}

/* configuration: the call path's module_calls entry (the root's wrapper at
 * ""), made with its parents: {source?, expressions, module{resources,
 * module_calls, outputs, variables}, for_each_expression?, count_expression?,
 * depends_on?}. */
static json_t *config_call(json_t *index, const char *cp)
{
    json_t *call = json_object_get(index, cp), *parent, *calls;
    char *up;
    size_t pl;
    if (call)
        return call;
    pl = plan_module_parent_len(cp);
    if ((up = prefix_copy(cp, pl)) == NULL)
        return json_object_get(index, "");
    parent = json_object_get(config_call(index, up), "module");
    free(up);
    calls = json_object_get(parent, "module_calls");
    if (calls == NULL) {
        calls = json_object();
        json_object_set_new(parent, "module_calls", calls);
    }
    call = json_pack("{s:{}, s:{s:[]}}", "expressions", "module", "resources");
    /* module.a.module.b: the name after the parent's path and "module." */
    json_object_set_new(calls, cp + pl + (pl ? 1 : 0) + 7, call);
    json_object_set(index, cp, call);
    return call;
}

/* A configuration module: empty resources, outputs and variables left
 * out below the root, as Terraform does. */
static void prune_config(json_t *module, bool root)
{
    json_t *calls = json_object_get(module, "module_calls"), *c;
    const char *k;
    static const char *const maybe[] = {"outputs", "variables", "module_calls"};
    json_object_foreach(calls, k, c) prune_config(json_object_get(c, "module"), false);
    for (size_t i = 0; i < sizeof(maybe) / sizeof(*maybe); i++)
        if (json_object_size(json_object_get(module, maybe[i])) == 0)
            json_object_del(module, maybe[i]);
    if (!root && json_array_size(json_object_get(module, "resources")) == 0)
        json_object_del(module, "resources");
}

/* configuration.root_module from the plan's saved configuration: resource
 * blocks in their modules (addresses relative to the module; a module
 * called with for_each shows its first instance's blocks, which every
 * instance shares), module_calls with their source and arguments, each
 * module's variables and outputs. */
static json_t *config_root(const json_t *configuration)
{
    json_t *root = json_pack("{s:[]}", "resources");
    json_t *index = json_object(), *first = json_object(), *d;
    size_t i;
    static const char *const call_fields[] = {"expressions", "for_each_expression",
                                              "count_expression", "depends_on"};
    json_object_set_new(index, "", json_pack("{s:O}", "module", root));
    json_array_foreach(configuration, i, d)
    {
        const char *cp = json_string_value(json_object_get(d, "module_call"));
        json_t *call, *module;
        if (cp == NULL)
            continue;
        call = config_call(index, cp);
        module = json_object_get(call, "module");
        if (cp[0]) {
            if (json_object_get(d, "module_source"))
                json_object_set(call, "source", json_object_get(d, "module_source"));
            for (size_t f = 0; f < sizeof(call_fields) / sizeof(*call_fields); f++)
                if (json_object_get(d, call_fields[f]))
                    json_object_set(call, call_fields[f], json_object_get(d, call_fields[f]));
            if (json_object_get(d, "module_instance"))
                json_object_set(first, cp, json_object_get(d, "module_instance"));
        }
        json_object_set(module, "outputs", json_object_get(d, "outputs"));
        json_object_set(module, "variables", json_object_get(d, "variables"));
    }
    json_array_foreach(configuration, i, d)
    {
        const char *address = json_string_value(json_object_get(d, "address"));
        char *m, *cp = NULL;
        const char *inst;
        json_t *o, *module;
        if (address == NULL)
            continue;
        m = module_of(address);
        if (m && m[0] && (cp = plan_module_call_path(m)) != NULL) {
            inst = json_string_value(json_object_get(first, cp));
            if (inst == NULL) /* a plan saved before it carried its module calls */
                json_object_set_new(first, cp, json_string(m));
            else if (strcmp(inst, m) != 0) { /* another instance of the same blocks */
                free(cp);
                free(m);
                continue;
            }
        }
        module = json_object_get(config_call(index, cp ? cp : ""), "module");
        o = json_pack("{s:s, s:O, s:O, s:O, s:s, s:i, s:O}", "address",
                      config_address_tail(address), "mode", json_object_get(d, "mode"), "type",
                      json_object_get(d, "type"), "name", json_object_get(d, "name"),
                      "provider_config_key", "amlsec", "schema_version", 0, "expressions",
                      json_object_get(d, "expressions"));
        if (json_object_get(d, "for_each_expression"))
            json_object_set(o, "for_each_expression", json_object_get(d, "for_each_expression"));
        if (json_object_get(d, "count_expression"))
            json_object_set(o, "count_expression", json_object_get(d, "count_expression"));
        json_array_append_new(json_object_get(module, "resources"), o);
        free(cp);
        free(m);
    }
    prune_config(root, true);
    json_decref(index);
    json_decref(first);
    return root;
}

int show_terraform_json(json_t *doc, const struct plan *plan, struct state_cli *sc)
{
    json_t *changes = json_object_get(doc, "resource_changes"), *rc;
    json_t *planned = values_tree(), *prior = values_tree(), *config = NULL;
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
            place_value(planned, value_resource(rc, json_object_get(ch, "after"),
                                                json_object_get(ch, "after_sensitive")));
        if (!json_is_null(json_object_get(ch, "before")) && json_object_get(ch, "before"))
            place_value(prior, value_resource(rc, json_object_get(ch, "before"),
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
                    json_t *values, *mask, *o;
                    if (json_object_get(seen, addr))
                        continue;
                    /* as show -json prints the state (and a change's before) */
                    values = show_state_values(r, true, &mask, &err);
                    if (values == NULL)
                        continue;
                    o = json_pack("{s:s, s:s, s:s, s:{s:[s], s:O, s:O, s:{}, s:O, s:O}, s:s}",
                                  "address", addr, "type", r->kind, "arm_id", r->arm_id, "change",
                                  "actions", "no-op", "before", values, "after", values,
                                  "after_unknown", "before_sensitive", mask, "after_sensitive",
                                  mask, "action_reason", "");
                    if (strcmp(addr, r->address) != 0)
                        json_object_set_new(o, "previous_address", json_string(r->address));
                    tf_fields(o);
                    json_array_append(changes, o);
                    place_value(planned, value_resource(o, values, mask));
                    place_value(prior, value_resource(o, values, mask));
                    json_decref(values);
                    json_decref(mask);
                    json_decref(o);
                }
            }
        }
    }
    /* the configuration the plan was saved with: per block, its expressions */
    config =
        plan->configuration ? config_root(plan->configuration) : json_pack("{s:[]}", "resources");
    json_array_foreach(changes, i, rc)
    {
        const char *first = json_string_value(
            json_array_get(json_object_get(json_object_get(rc, "change"), "actions"), 0));
        if (plan->configuration) /* a plan saved before it carried its configuration */
            break;
        if (first && strcmp(first, "delete") == 0 &&
            json_array_size(json_object_get(json_object_get(rc, "change"), "actions")) == 1)
            continue;
        json_array_append_new(
            json_object_get(config, "resources"),
            json_pack("{s:O, s:O, s:O, s:O, s:s, s:i, s:{}}", "address",
                      json_object_get(rc, "address"), "mode", json_object_get(rc, "mode"), "type",
                      json_object_get(rc, "type"), "name", json_object_get(rc, "name"),
                      "provider_config_key", "amlsec", "schema_version", 0, "expressions"));
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
    json_object_set_new(doc, "planned_values", values_root(planned));
    json_object_set_new(
        doc, "prior_state",
        json_pack("{s:s, s:o}", "format_version", "1.0", "values", values_root(prior)));
    json_object_set_new(doc, "configuration",
                        json_pack("{s:{s:{s:s, s:s}}, s:o}", "provider_config", "amlsec", "name",
                                  "amlsec", "full_name", PROVIDER_NAME, "root_module", config));
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

json_t *show_terraform_state(struct state *st, bool existed, bool redact, struct errbuf *err)
{
    json_t *doc = json_pack("{s:s}", "format_version", "1.0"), *index, *values, *outs, *e;
    const char *name;

    if (!existed) /* no state stored yet: no lineage to show, as Terraform prints none */
        return doc;
    index = values_tree();
    for (size_t i = 0; i < st->nresources; i++) {
        struct state_resource *r = &st->resources[i];
        json_t *mask, *v = show_state_values(r, redact, &mask, err), *rc, *res;
        if (v == NULL) {
            json_decref(index);
            json_decref(doc);
            return NULL;
        }
        rc = json_pack("{s:s, s:s}", "address", r->address, "type", r->kind);
        tf_fields(rc);
        res = value_resource(rc, v, mask);
        if (json_array_size(r->dependencies))
            json_object_set(res, "depends_on", r->dependencies);
        if (r->status == STATE_STATUS_TAINTED)
            json_object_set_new(res, "tainted", json_true());
        json_object_set_new(
            res, "amlsec",
            json_pack("{s:s, s:s?}", "arm_id", r->arm_id, "api_version", r->api_version));
        place_value(index, res);
        json_decref(rc);
        json_decref(v);
        json_decref(mask);
    }
    values = values_root(index);
    /* Terraform's values.outputs; sensitive values redacted unless asked */
    outs = st->outputs ? json_deep_copy(st->outputs) : json_object();
    json_object_foreach(outs, name, e)
    {
        if (redact && json_is_true(json_object_get(e, "sensitive")))
            json_object_set_new(e, "value", json_string(SENSITIVE_TEXT));
    }
    if (json_object_size(outs))
        json_object_set_new(values, "outputs", outs);
    else
        json_decref(outs);
    json_object_set_new(doc, "terraform_version",
                        json_string(st->amlsec_version ? st->amlsec_version : ""));
    json_object_set_new(doc, "values", values);
    json_object_set_new(doc, "amlsec",
                        json_pack("{s:s, s:I, s:s?}", "lineage", st->lineage, "serial",
                                  (json_int_t)st->serial, "cloud", st->cloud));
    return doc;
}
