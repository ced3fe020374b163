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
#include "util/strmap.h"
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
    /* no module_address: Terraform's values resources have none (the
     * child module's address says it); resource_changes do */
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

/* A values resource's position (ref: which change or no-op entry) placed
 * in the module of address: the resource itself is made as it is written
 * (show -json PLAN). */
static void place_ref(json_t *index, const char *address, size_t ref)
{
    char *m = module_of(address);
    json_array_append_new(json_object_get(values_module(index, m ? m : ""), "resources"),
                          json_integer((json_int_t)ref));
    free(m);
}

/* Terraform leaves empty child_modules and resources out (omitempty), the
 * root module's too: a root module holding nothing is {}. */
static void prune_values(json_t *node)
{
    json_t *kids = json_object_get(node, "child_modules"), *k;
    size_t i;
    json_array_foreach(kids, i, k) prune_values(k);
    if (json_array_size(kids) == 0)
        json_object_del(node, "child_modules");
    if (json_array_size(json_object_get(node, "resources")) == 0)
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
    prune_values(root);
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

/* A configuration module: empty resources, outputs, variables and
 * module_calls left out, the root's too, as Terraform does (omitempty). */
static void prune_config(json_t *module)
{
    json_t *calls = json_object_get(module, "module_calls"), *c;
    const char *k;
    static const char *const maybe[] = {"outputs", "variables", "module_calls"};
    json_object_foreach(calls, k, c) prune_config(json_object_get(c, "module"));
    for (size_t i = 0; i < sizeof(maybe) / sizeof(*maybe); i++)
        if (json_object_size(json_object_get(module, maybe[i])) == 0)
            json_object_del(module, maybe[i]);
    if (json_array_size(json_object_get(module, "resources")) == 0)
        json_object_del(module, "resources");
}

/* A configuration resource block from the plan's saved configuration
 * entry d. New reference. */
static json_t *config_resource(const json_t *d)
{
    const char *address = json_string_value(json_object_get(d, "address"));
    json_t *o =
        json_pack("{s:s, s:O, s:O, s:O, s:s, s:i, s:O}", "address", config_address_tail(address),
                  "mode", json_object_get(d, "mode"), "type", json_object_get(d, "type"), "name",
                  json_object_get(d, "name"), "provider_config_key", "amlsec", "schema_version", 0,
                  "expressions", json_object_get(d, "expressions"));
    if (o && json_object_get(d, "for_each_expression"))
        json_object_set(o, "for_each_expression", json_object_get(d, "for_each_expression"));
    if (o && json_object_get(d, "count_expression"))
        json_object_set(o, "count_expression", json_object_get(d, "count_expression"));
    return o;
}

/* configuration.root_module from the plan's saved configuration (each
 * resource block as the position of its entry there): resource
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
        json_t *module;
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
        /* the entry's position: made as it is written (config_resource);
         * an entry lacking a member config_resource needs is left out */
        if (json_object_get(d, "mode") && json_object_get(d, "type") &&
            json_object_get(d, "name") && json_object_get(d, "expressions"))
            json_array_append_new(json_object_get(module, "resources"),
                                  json_integer((json_int_t)i));
        free(cp);
        free(m);
    }
    prune_config(root);
    json_decref(index);
    json_decref(first);
    return root;
}

/* What show -json PLAN writes, a change at a time: positions ("refs")
 * below plan->n are the plan's changes, the rest its no-op entries. */
struct show_doc {
    const struct jsonw_pretty *o;
    const struct plan *plan;
    bool redact;
    struct plan_kind_paths kp;
    json_t *noops; /* the no-op entries, in resource_changes' shape */
};

/* resource_changes[ref] with Terraform's fields. New reference. */
static json_t *change_at(struct show_doc *d, size_t ref)
{
    json_t *rc, *ch;
    if (ref >= d->plan->n)
        return json_incref(json_array_get(d->noops, ref - d->plan->n));
    rc = plan_json_change(d->plan, ref, d->redact, &d->kp);
    ch = json_object_get(rc, "change");
    tf_fields(rc);
    strip_unknowns(ch, "after");
    strip_unknowns(ch, "before");
    if (json_array_size(json_object_get(ch, "actions")) == 2)
        json_object_set_new(ch, "replace_paths",
                            replace_paths(json_string_value(json_object_get(rc, "reason_detail"))));
    return rc;
}

/* The planned_values (or prior_state) resource of ref: its change's
 * after (before) as resource_changes shows it, and its sensitive mask.
 * New reference. */
static json_t *values_resource_at(struct show_doc *d, size_t ref, bool prior)
{
    const struct plan_change *c;
    json_t *rc, *r, *v, *mask, *clean;
    if (ref >= d->plan->n) { /* no-op: the state's values and mask both ways */
        rc = json_array_get(d->noops, ref - d->plan->n);
        return value_resource(rc, json_object_get(json_object_get(rc, "change"), "after"),
                              json_object_get(json_object_get(rc, "change"), "after_sensitive"));
    }
    c = &d->plan->changes[ref];
    rc = json_pack("{s:s, s:s}", "address", c->address, "type", c->kind);
    tf_fields(rc);
    v = plan_json_values(d->plan, ref, d->redact, prior, &d->kp, &mask);
    clean = json_is_null(v) ? NULL : without_unknowns(v); /* strip_unknowns' */
    r = value_resource(rc, clean ? clean : json_null(), mask);
    json_decref(clean);
    json_decref(v);
    json_decref(mask);
    json_decref(rc);
    return r;
}

static int key_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* obj's keys in jsonw_pretty's order (malloc'd; NULL when out of memory). */
static const char **sorted_keys(const json_t *obj, size_t *n)
{
    const char **keys = malloc((json_object_size(obj) + 1) * sizeof(*keys)), *k;
    json_t *v;
    *n = 0;
    if (keys == NULL)
        return NULL;
    json_object_foreach((json_t *)obj, k, v) keys[(*n)++] = k;
    qsort(keys, *n, sizeof(*keys), key_cmp);
    return keys;
}

/* A module of planned_values or prior_state (its tree's node) at depth:
 * {address, child_modules, resources}, each resource made, written and
 * freed in turn. */
static int write_values(struct show_doc *d, const json_t *node, bool prior, size_t depth)
{
    const struct jsonw_pretty *o = d->o;
    const json_t *kids = json_object_get(node, "child_modules");
    const json_t *res = json_object_get(node, "resources");
    size_t n = 0;
    int rc = jsonw_pretty_open(o, '{');
    if (rc == 0 && json_object_get(node, "address") &&
        (rc = jsonw_pretty_next(o, depth, n++, "address")) == 0)
        rc = jsonw_pretty_at(o, json_object_get(node, "address"), depth + 1);
    if (rc == 0 && json_array_size(kids) &&
        (rc = jsonw_pretty_next(o, depth, n++, "child_modules")) == 0 &&
        (rc = jsonw_pretty_open(o, '[')) == 0) {
        for (size_t i = 0; i < json_array_size(kids) && rc == 0; i++)
            if ((rc = jsonw_pretty_next(o, depth + 1, i, NULL)) == 0)
                rc = write_values(d, json_array_get(kids, i), prior, depth + 2);
        if (rc == 0)
            rc = jsonw_pretty_close(o, depth + 1, json_array_size(kids), ']');
    }
    if (rc == 0 && json_array_size(res) &&
        (rc = jsonw_pretty_next(o, depth, n++, "resources")) == 0 &&
        (rc = jsonw_pretty_open(o, '[')) == 0) {
        for (size_t i = 0; i < json_array_size(res) && rc == 0; i++) {
            json_t *r =
                values_resource_at(d, (size_t)json_integer_value(json_array_get(res, i)), prior);
            if ((rc = jsonw_pretty_next(o, depth + 1, i, NULL)) == 0)
                rc = jsonw_pretty_at(o, r, depth + 2);
            json_decref(r);
        }
        if (rc == 0)
            rc = jsonw_pretty_close(o, depth + 1, json_array_size(res), ']');
    }
    return rc == 0 ? jsonw_pretty_close(o, depth, n, '}') : rc;
}

static int write_config_module(struct show_doc *d, const json_t *configuration,
                               const json_t *module, size_t depth);

/* A module_calls entry at depth: its module written as it is made. */
static int write_config_call(struct show_doc *d, const json_t *configuration, const json_t *call,
                             size_t depth)
{
    size_t n, i;
    const char **keys = sorted_keys(call, &n);
    int rc = keys ? jsonw_pretty_open(d->o, '{') : AMLSEC_ENOMEM;
    for (i = 0; i < n && rc == 0; i++)
        if ((rc = jsonw_pretty_next(d->o, depth, i, keys[i])) == 0)
            rc = strcmp(keys[i], "module") == 0
                     ? write_config_module(d, configuration, json_object_get(call, keys[i]),
                                           depth + 1)
                     : jsonw_pretty_at(d->o, json_object_get(call, keys[i]), depth + 1);
    if (rc == 0)
        rc = jsonw_pretty_close(d->o, depth, n, '}');
    free(keys);
    return rc;
}

/* A configuration module at depth (config_root's tree): each resource
 * block made from its saved entry, written and freed in turn. */
static int write_config_module(struct show_doc *d, const json_t *configuration,
                               const json_t *module, size_t depth)
{
    const struct jsonw_pretty *o = d->o;
    size_t n, i;
    const char **keys = sorted_keys(module, &n);
    int rc = keys ? jsonw_pretty_open(o, '{') : AMLSEC_ENOMEM;
    for (i = 0; i < n && rc == 0; i++) {
        const json_t *v = json_object_get(module, keys[i]);
        if ((rc = jsonw_pretty_next(o, depth, i, keys[i])) < 0)
            break;
        if (strcmp(keys[i], "resources") == 0 && (rc = jsonw_pretty_open(o, '[')) == 0) {
            size_t written = 0;
            for (size_t k = 0; k < json_array_size(v) && rc == 0; k++) {
                const json_t *e = json_array_get(v, k);
                json_t *r = json_is_integer(e) ? config_resource(json_array_get(
                                                     configuration, (size_t)json_integer_value(e)))
                                               : json_incref((json_t *)e);
                if (r && (rc = jsonw_pretty_next(o, depth + 1, written++, NULL)) == 0)
                    rc = jsonw_pretty_at(o, r, depth + 2);
                json_decref(r);
            }
            if (rc == 0)
                rc = jsonw_pretty_close(o, depth + 1, written, ']');
        } else if (strcmp(keys[i], "module_calls") == 0 && (rc = jsonw_pretty_open(o, '{')) == 0) {
            size_t nc;
            const char **calls = sorted_keys(v, &nc);
            if (calls == NULL)
                rc = AMLSEC_ENOMEM;
            for (size_t k = 0; calls && k < nc && rc == 0; k++)
                if ((rc = jsonw_pretty_next(o, depth + 1, k, calls[k])) == 0)
                    rc = write_config_call(d, configuration, json_object_get(v, calls[k]),
                                           depth + 2);
            if (rc == 0)
                rc = jsonw_pretty_close(o, depth + 1, nc, '}');
            free(calls);
        } else if (rc == 0) {
            rc = jsonw_pretty_at(o, v, depth + 1);
        }
    }
    if (rc == 0)
        rc = jsonw_pretty_close(o, depth, n, '}');
    free(keys);
    return rc;
}

/* The no-op entries: what the state holds that the plan leaves alone (only
 * when the state is the one the plan was made against), each placed in
 * planned_values and prior_state after the plan's changes. */
static void add_noops(struct show_doc *d, struct state *st, const struct strmap *seen,
                      json_t *planned, json_t *prior)
{
    struct errbuf err = ERRBUF_INIT;
    for (size_t k = 0; k < st->nresources; k++) {
        struct state_resource *r = &st->resources[k];
        /* the plan's moved blocks rename it: the new address, and
         * previous_address the state's */
        const char *addr = plan_moved_to(d->plan->adjustments, r->address);
        size_t ref = d->plan->n + json_array_size(d->noops), dummy;
        json_t *values, *mask, *o;
        if (strmap_get(seen, addr, &dummy))
            continue;
        /* as show -json prints the state (and a change's before) */
        values = show_state_values(r, true, &mask, &err);
        if (values == NULL)
            continue;
        o = json_pack("{s:s, s:s, s:s, s:{s:[s], s:O, s:O, s:{}, s:O, s:O}, s:s}", "address", addr,
                      "type", r->kind, "arm_id", r->arm_id, "change", "actions", "no-op", "before",
                      values, "after", values, "after_unknown", "before_sensitive", mask,
                      "after_sensitive", mask, "action_reason", "");
        if (strcmp(addr, r->address) != 0)
            json_object_set_new(o, "previous_address", json_string(r->address));
        tf_fields(o);
        json_array_append_new(d->noops, o);
        place_ref(planned, addr, ref);
        place_ref(prior, addr, ref);
        json_decref(values);
        json_decref(mask);
    }
}

/* Terraform's configuration.root_module for a plan saved before it
 * carried its configuration: each change's block but a delete's, with no
 * expressions. */
static json_t *config_from_changes(struct show_doc *d)
{
    json_t *root = json_pack("{s:[]}", "resources");
    for (size_t ref = 0; ref < d->plan->n + json_array_size(d->noops); ref++) {
        const struct plan_change *c = ref < d->plan->n ? &d->plan->changes[ref] : NULL;
        json_t *o, *rc;
        if (c && c->action == PLAN_DELETE)
            continue;
        rc = c ? json_pack("{s:s}", "address", c->address)
               : json_incref(json_array_get(d->noops, ref - d->plan->n));
        if (c)
            tf_fields(rc);
        o = json_pack("{s:O, s:O, s:s, s:O, s:s, s:i, s:{}}", "address",
                      json_object_get(rc, "address"), "mode", json_object_get(rc, "mode"), "type",
                      c ? c->kind : json_string_value(json_object_get(rc, "type")), "name",
                      json_object_get(rc, "name"), "provider_config_key", "amlsec",
                      "schema_version", 0, "expressions");
        json_array_append_new(json_object_get(root, "resources"), o);
        json_decref(rc);
    }
    prune_config(root);
    return root;
}

/* Terraform's values.outputs (a state's, a plan's prior_state and
 * planned_values): {NAME: {sensitive, type, value}}, type and value only
 * for a value wholly known, a sensitive one "(sensitive)" when redact.
 * NULL when there are none (Terraform leaves it out). New reference. */
static json_t *values_outputs(const json_t *outputs, bool redact)
{
    json_t *out, *e;
    const char *name;
    if (json_object_size(outputs) == 0)
        return NULL;
    out = json_object();
    json_object_foreach((json_t *)outputs, name, e)
    {
        const json_t *v = json_object_get(e, "value");
        bool sensitive = json_is_true(json_object_get(e, "sensitive"));
        bool hide = redact && sensitive;
        json_t *o = json_pack("{s:b}", "sensitive", sensitive);
        if (o && v && !value_contains_unknown(v)) {
            json_object_set_new(o, "type", show_output_type(v, hide));
            json_object_set_new(o, "value", hide ? json_string(SENSITIVE_TEXT) : json_deep_copy(v));
        }
        json_object_set_new(out, name, o);
    }
    return out;
}

int show_terraform_json(const struct jsonw_pretty *o, const struct plan *plan,
                        const json_t *drift_in, bool redact, struct state_cli *sc)
{
    struct show_doc d = {o, plan, redact, {{{0}}, 0}, json_array()};
    json_t *doc = plan_json_root(plan, redact), *planned = values_tree(), *prior = values_tree();
    json_t *config, *drift = json_array(), *x;
    const json_t *planned_root, *prior_root;
    struct strmap seen; /* the plan's addresses */
    struct finding_list pf;
    struct state st;
    bool have_st = false, same_st = false; /* the state the plan was made against */
    const char **keys = NULL;
    size_t i, n = 0;
    int rc = 0;

    strmap_init(&seen, false);
    for (i = 0; i < plan->n; i++) {
        const struct plan_change *c = &plan->changes[i];
        strmap_put(&seen, c->address, i);
        if (c->action != PLAN_DELETE)
            place_ref(planned, c->address, i);
        /* before as resource_changes shows it: left out when null or unknown */
        if (c->before && !json_is_null(c->before) && !value_is_unknown(c->before))
            place_ref(prior, c->address, i);
    }
    if (sc) {
        struct errbuf err = ERRBUF_INIT;
        int existed = 0;
        if (state_backend_load(&st, &existed, sc->be, &sc->keys, &err) == 0) {
            have_st = true;
            if (existed && strcmp(st.lineage, plan->lineage) == 0 && st.serial == plan->serial) {
                same_st = true;
                add_noops(&d, &st, &seen, planned, prior);
            }
        }
    }
    /* the configuration the plan was saved with: per block, its expressions */
    config = plan->configuration ? config_root(plan->configuration) : config_from_changes(&d);
    json_array_foreach(drift_in, i, x)
    {
        json_t *e = json_deep_copy(x);
        tf_fields(e);
        json_object_set_new(
            e, "change",
            json_pack("{s:[s], s:O, s:O}", "actions",
                      json_is_null(json_object_get(x, "after")) ? "delete" : "update", "before",
                      json_object_get(x, "before"), "after", json_object_get(x, "after")));
        json_array_append_new(drift, e);
    }
    json_object_set_new(doc, "resource_drift", drift);
    planned = values_root(planned);
    prior = values_root(prior);
    /* written in their turn below */
    json_object_set_new(doc, "planned_values", json_null());
    json_object_set_new(doc, "prior_state", json_null());
    json_object_set_new(doc, "configuration", json_null());
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

    planned_root = json_object_get(planned, "root_module");
    prior_root = json_object_get(prior, "root_module");
    /* the document, its members in jsonw_pretty's order, the large ones a
     * change (a resource, a block) at a time */
    keys = sorted_keys(doc, &n);
    rc = keys ? jsonw_pretty_open(o, '{') : AMLSEC_ENOMEM;
    for (i = 0; i < n && rc == 0; i++) {
        if ((rc = jsonw_pretty_next(o, 0, i, keys[i])) < 0)
            break;
        if (strcmp(keys[i], "resource_changes") == 0) {
            size_t total = plan->n + json_array_size(d.noops);
            rc = jsonw_pretty_open(o, '[');
            for (size_t ref = 0; ref < total && rc == 0; ref++) {
                json_t *c = change_at(&d, ref);
                if ((rc = jsonw_pretty_next(o, 1, ref, NULL)) == 0)
                    rc = jsonw_pretty_at(o, c, 2);
                json_decref(c);
            }
            if (rc == 0)
                rc = jsonw_pretty_close(o, 1, total, ']');
        } else if (strcmp(keys[i], "planned_values") == 0) {
            /* outputs (the plan's, as they will be), then root_module */
            json_t *outs = values_outputs(plan->outputs, redact);
            size_t k = 0;
            if ((rc = jsonw_pretty_open(o, '{')) == 0 && outs &&
                (rc = jsonw_pretty_next(o, 1, k++, "outputs")) == 0)
                rc = jsonw_pretty_at(o, outs, 2);
            if (rc == 0 && (rc = jsonw_pretty_next(o, 1, k++, "root_module")) == 0 &&
                (rc = write_values(&d, planned_root, false, 2)) == 0)
                rc = jsonw_pretty_close(o, 1, k, '}');
            json_decref(outs);
        } else if (strcmp(keys[i], "prior_state") == 0) {
            json_t *version = json_string("1.0");
            json_t *outs = values_outputs(plan->outputs_before, redact);
            size_t k = 0;
            if ((rc = jsonw_pretty_open(o, '{')) == 0 &&
                (rc = jsonw_pretty_next(o, 1, 0, "format_version")) == 0 &&
                (rc = jsonw_pretty_at(o, version, 2)) == 0 &&
                (rc = jsonw_pretty_next(o, 1, 1, "values")) == 0 &&
                (rc = jsonw_pretty_open(o, '{')) == 0 && outs &&
                (rc = jsonw_pretty_next(o, 2, k++, "outputs")) == 0)
                rc = jsonw_pretty_at(o, outs, 3);
            if (rc == 0 && (rc = jsonw_pretty_next(o, 2, k++, "root_module")) == 0 &&
                (rc = write_values(&d, prior_root, true, 3)) == 0 &&
                (rc = jsonw_pretty_close(o, 2, k, '}')) == 0)
                rc = jsonw_pretty_close(o, 1, 2, '}');
            json_decref(version);
            json_decref(outs);
        } else if (strcmp(keys[i], "configuration") == 0) {
            json_t *pc =
                json_pack("{s:{s:s, s:s}}", "amlsec", "name", "amlsec", "full_name", PROVIDER_NAME);
            if ((rc = jsonw_pretty_open(o, '{')) == 0 &&
                (rc = jsonw_pretty_next(o, 1, 0, "provider_config")) == 0 &&
                (rc = jsonw_pretty_at(o, pc, 2)) == 0 &&
                (rc = jsonw_pretty_next(o, 1, 1, "root_module")) == 0 &&
                (rc = write_config_module(&d, plan->configuration, config, 2)) == 0)
                rc = jsonw_pretty_close(o, 1, 2, '}');
            json_decref(pc);
        } else {
            rc = jsonw_pretty_at(o, json_object_get(doc, keys[i]), 1);
        }
    }
    if (rc == 0)
        rc = jsonw_pretty_close(o, 0, n, '}');
    free(keys);
    if (have_st)
        state_release(&st);
    strmap_release(&seen);
    plan_kind_paths_release(&d.kp);
    json_decref(d.noops);
    json_decref(planned);
    json_decref(prior);
    json_decref(config);
    json_decref(doc);
    return rc;
}

/* Terraform's type JSON (cty's) of an output's value, from the value
 * alone (amlsec's values carry no declared type): "string", "number" (a
 * big number too), "bool"; an array ["tuple", [T...]]; an object
 * ["object", {K: T}]; null and an unknown "dynamic". */
static json_t *tf_type(const json_t *v)
{
    json_t *x, *types;
    const char *k;
    size_t i;
    if (value_is_unknown(v)) /* an output an apply left unknown */
        return json_string("dynamic");
    if (json_is_string(v))
        return json_string("string");
    if (value_is_number(v)) /* a whole number beyond int64 too (an object inside) */
        return json_string("number");
    if (json_is_boolean(v))
        return json_string("bool");
    if (json_is_object(v)) {
        types = json_object();
        json_object_foreach((json_t *)v, k, x) json_object_set_new(types, k, tf_type(x));
        return json_pack("[s, o]", "object", types);
    }
    if (!json_is_array(v))
        return json_string("dynamic");
    /* a list is a tuple, as Terraform types a list literal or a for
     * expression ([for ...]): the value does not say whether a declared
     * type made it a list */
    types = json_array();
    json_array_foreach(v, i, x) json_array_append_new(types, tf_type(x));
    return json_pack("[s, o]", "tuple", types);
}

json_t *show_output_type(const json_t *value, bool hidden)
{
    /* a hidden collection's type would name its keys: "dynamic" */
    bool collection = json_is_array(value) || (json_is_object(value) && !value_is_number(value));
    return hidden && collection ? json_string("dynamic") : tf_type(value);
}

json_t *show_terraform_state(struct state *st, bool existed, bool redact, struct errbuf *err)
{
    json_t *doc = json_pack("{s:s}", "format_version", "1.0"), *index, *values, *outs;

    /* no state stored yet, or one holding nothing: format_version alone, as
     * Terraform prints an empty state (no lineage to show) */
    if (!existed || (st->nresources == 0 && json_object_size(st->outputs) == 0))
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
        json_object_set_new(res, "amlsec",
                            json_pack("{s:s, s:s?, s:O*}", "arm_id", r->arm_id, "api_version",
                                      r->api_version, "module_address",
                                      json_object_get(rc, "module_address")));
        place_value(index, res);
        json_decref(rc);
        json_decref(v);
        json_decref(mask);
    }
    values = values_root(index);
    /* Terraform's values.outputs; sensitive values redacted unless asked */
    if ((outs = values_outputs(st->outputs, redact)) != NULL)
        json_object_set_new(values, "outputs", outs);
    json_object_set_new(doc, "terraform_version",
                        json_string(st->amlsec_version ? st->amlsec_version : ""));
    json_object_set_new(doc, "values", values);
    json_object_set_new(doc, "amlsec",
                        json_pack("{s:s, s:I, s:s?}", "lineage", st->lineage, "serial",
                                  (json_int_t)st->serial, "cloud", st->cloud));
    return doc;
}
