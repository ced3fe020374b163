#include "cmd/plan_render.h"

#include <string.h>

#include "parser/config.h"
#include "parser/value.h"
#include "util/buf.h"
#include "util/banned.h"

#define C_RESET "\033[0m"
#define C_GREEN "\033[32m"
#define C_YELLOW "\033[33m"
#define C_RED "\033[31m"
#define C_BOLD "\033[1m"

struct out {
    FILE *f;
    int color;
};

static const char *col(const struct out *o, const char *c)
{
    return o->color ? c : "";
}

/* A value printed whole is hidden when it is secret or holds a secret. */
static bool is_sensitive(const json_t *paths, const char *path)
{
    return value_path_sensitive(paths, path, true);
}

static void value_text(struct buf *b, const json_t *v, bool sensitive)
{
    if (sensitive)
        buf_adds(b, "(sensitive)");
    else
        value_format(b, v);
}

/* Prints every attribute of obj with sign, nested objects as blocks. */
static void print_attrs(const struct out *o, const json_t *obj, const json_t *sens,
                        const char *sign, const char *color, int indent, const char *prefix)
{
    size_t w = 0;
    const char *k;
    json_t *v;
    struct buf b, path;

    json_object_foreach((json_t *)obj, k, v)
    {
        char full[512];
        snprintf(full, sizeof(full), "%s%s", prefix, k);
        if ((!json_is_object(v) || value_is_unknown(v) || value_is_big(v) ||
             value_path_sensitive(sens, full, false)) &&
            strlen(k) > w)
            w = strlen(k);
    }
    buf_init(&b, 0);
    buf_init(&path, 0);
    json_object_foreach((json_t *)obj, k, v)
    {
        buf_reset(&path);
        buf_addf(&path, "%s%s", prefix, k);
        if (json_is_object(v) && !value_is_unknown(v) && !value_is_big(v) &&
            !value_path_sensitive(sens, path.ptr ? path.ptr : "", false)) {
            fprintf(o->f, "%*s%s%s%s %s {\n", indent, "", col(o, color), sign, col(o, C_RESET), k);
            buf_addch(&path, '.');
            print_attrs(o, v, sens, sign, color, indent + 4, path.ptr ? path.ptr : "");
            fprintf(o->f, "%*s  }\n", indent, "");
            continue;
        }
        buf_reset(&b);
        value_text(&b, v, is_sensitive(sens, path.ptr ? path.ptr : ""));
        fprintf(o->f, "%*s%s%s%s %-*s = %s\n", indent, "", col(o, color), sign, col(o, C_RESET),
                (int)w, k, b.ptr);
    }
    buf_release(&path);
    buf_release(&b);
}

static const json_t *get_path(const json_t *obj, const char *path)
{
    char seg[256];
    while (obj && *path) {
        size_t n = strcspn(path, ".");
        if (n >= sizeof(seg))
            return NULL;
        memcpy(seg, path, n);
        seg[n] = '\0';
        obj = json_is_object(obj) ? json_object_get(obj, seg) : NULL;
        path += n + (path[n] == '.');
    }
    return obj;
}

/* "~ path = old -> new" for each path in the comma-separated list. */
static void print_changed(const struct out *o, const struct plan_change *c, const char *paths,
                          bool forces)
{
    char path[512];
    struct buf b;
    buf_init(&b, 0);
    while (paths && *paths) {
        size_t n = strcspn(paths, ",");
        bool sens;
        if (n >= sizeof(path))
            n = sizeof(path) - 1;
        memcpy(path, paths, n);
        path[n] = '\0';
        paths += n;
        while (*paths == ',' || *paths == ' ')
            paths++;
        sens = is_sensitive(c->sensitive, path);
        buf_reset(&b);
        value_text(&b, get_path(c->before, path), sens);
        buf_adds(&b, " -> ");
        value_text(&b, get_path(c->after, path), sens);
        fprintf(o->f, "      %s~%s %s = %s%s%s%s\n", col(o, C_YELLOW), col(o, C_RESET), path, b.ptr,
                forces ? col(o, C_RED) : "", forces ? " # forces replacement" : "",
                forces ? col(o, C_RESET) : "");
    }
    buf_release(&b);
}

/* The block's labels, as Terraform's header shows them: kind and name
 * without the instance key (private_endpoint.storage["blob"] ->
 * private_endpoint "storage"); the "# ADDRESS will be ..." line above it
 * names the instance. */
static void split_address(const char *address, char *kind, size_t ksz, char *name, size_t nsz)
{
    const char *dot;
    address = config_address_tail(address); /* module.m.TYPE.NAME: the block's labels */
    dot = strchr(address, '.');
    const char *label = dot ? dot + 1 : "";
    size_t n = dot ? (size_t)(dot - address) : strlen(address);
    snprintf(kind, ksz, "%.*s", (int)n, address);
    snprintf(name, nsz, "%.*s", (int)strcspn(label, "["), label);
}

static bool new_version(const struct plan_change *c)
{
    return c->via == PLAN_VIA_DATA_PLANE && (c->data_plane & PROVIDER_DP_NEW_VERSION);
}

/* How an update is sent, when it is not a PUT of the whole resource. */
static void print_via(const struct out *o, const struct plan_change *c)
{
    static const struct {
        unsigned bit;
        const char *what;
    } parts[] = {
        {PROVIDER_DP_NEW_VERSION, "a new key version"},
        {PROVIDER_DP_POLICY, "the rotation policy"},
        {PROVIDER_DP_ATTRIBUTES, "the current version's attributes"},
    };
    const char *sep = "";
    if (c->via == PLAN_VIA_PATCH) {
        fprintf(o->f, "  # (sent as a PATCH of the changed fields only)\n");
        return;
    }
    if (c->via != PLAN_VIA_DATA_PLANE)
        return;
    fprintf(o->f, "  # (through the Key Vault data plane: ");
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
        if (c->data_plane & parts[i].bit) {
            fprintf(o->f, "%s%s", sep, parts[i].what);
            sep = ", ";
        }
    fprintf(o->f, ")\n");
}

static void print_change(const struct out *o, const struct plan_change *c)
{
    char kind[128], name[256];
    split_address(c->address, kind, sizeof(kind), name, sizeof(name));
    switch (c->action) {
    case PLAN_CREATE:
        fprintf(o->f, "  %s# %s will be created%s\n", col(o, C_BOLD), c->address, col(o, C_RESET));
        fprintf(o->f, "  %s+%s %s \"%s\" {\n", col(o, C_GREEN), col(o, C_RESET), kind, name);
        if (c->arm_id == NULL)
            fprintf(o->f, "      %s+%s id = (known after apply)\n", col(o, C_GREEN),
                    col(o, C_RESET));
        print_attrs(o, c->after, c->sensitive, "+", C_GREEN, 6, "");
        break;
    case PLAN_UPDATE:
        fprintf(o->f, "  %s# %s will be updated in-place%s%s\n", col(o, C_BOLD), c->address,
                new_version(c) ? " (new version)" : "", col(o, C_RESET));
        print_via(o, c);
        fprintf(o->f, "  %s~%s %s \"%s\" {\n", col(o, C_YELLOW), col(o, C_RESET), kind, name);
        print_changed(o, c, c->reason_detail, false);
        break;
    case PLAN_REPLACE:
        fprintf(o->f, "  %s# %s must be replaced%s\n", col(o, C_BOLD), c->address, col(o, C_RESET));
        fprintf(o->f, "%s%s%s %s \"%s\" {\n", col(o, C_RED),
                c->create_before_destroy ? "+/-" : "-/+", col(o, C_RESET), kind, name);
        if (c->prior_arm_id)
            fprintf(o->f, "      %s~%s id = \"%s\" -> %s%s%s%s # forces replacement%s\n",
                    col(o, C_YELLOW), col(o, C_RESET), c->prior_arm_id, c->arm_id ? "\"" : "",
                    c->arm_id ? c->arm_id : "(known after apply)", c->arm_id ? "\"" : "",
                    col(o, C_RED), col(o, C_RESET));
        else if (c->reason_detail)
            print_changed(o, c, c->reason_detail, true);
        else if (strcmp(c->reason, "replace_because_parent_replaced") == 0)
            fprintf(o->f, "      # (deleted with what it lies under, which is replaced)\n");
        else if (strcmp(c->reason, "replace_because_target_replaced") == 0)
            fprintf(o->f, "      # (its target is replaced)\n");
        else
            fprintf(o->f, "      # %s\n", c->reason);
        break;
    case PLAN_DELETE:
        fprintf(o->f, "  %s# %s will be destroyed%s\n", col(o, C_BOLD), c->address,
                col(o, C_RESET));
        fprintf(o->f, "  %s# (%s)%s\n", col(o, C_BOLD),
                strcmp(c->reason, "delete_because_no_config") == 0
                    ? "because it is no longer in the configuration"
                : strcmp(c->reason, "delete_because_gone") == 0
                    ? "because it no longer exists in Azure"
                    : "because destroy was requested",
                col(o, C_RESET));
        fprintf(o->f, "  %s-%s %s \"%s\" {\n", col(o, C_RED), col(o, C_RESET), kind, name);
        fprintf(o->f, "      %s-%s id = \"%s\"\n", col(o, C_RED), col(o, C_RESET),
                c->arm_id ? c->arm_id : "");
        break;
    default:
        return;
    }
    fprintf(o->f, "    }\n");
    for (size_t i = 0; i < json_array_size(c->notes); i++)
        fprintf(o->f, "    %s! %s%s\n", col(o, C_YELLOW),
                json_string_value(json_array_get(c->notes, i)), col(o, C_RESET));
    fputc('\n', o->f);
}

/* An output's value for people: <sensitive> (Terraform's word) when it is
 * secret. */
static void output_text(struct buf *b, const json_t *entry)
{
    if (json_is_true(json_object_get(entry, "sensitive")))
        buf_adds(b, "(sensitive value)");
    else
        value_format(b, json_object_get(entry, "value"));
}

/* Terraform's "Changes to Outputs:" block. */
static void print_output_changes(const struct out *o, const struct plan *plan)
{
    const char *name;
    json_t *e;
    if (plan->noutput_changes == 0)
        return;
    fprintf(o->f, "%sChanges to Outputs:%s\n", col(o, C_BOLD), col(o, C_RESET));
    json_object_foreach(plan->outputs, name, e)
    {
        const json_t *prev = json_object_get(plan->outputs_before, name);
        const json_t *v = json_object_get(e, "value");
        struct buf b;
        if (prev && !value_contains_unknown(v) && json_equal(json_object_get(prev, "value"), v) &&
            json_equal(json_object_get(prev, "sensitive"), json_object_get(e, "sensitive")))
            continue;
        buf_init(&b, 0);
        if (prev) {
            output_text(&b, prev);
            buf_adds(&b, " -> ");
        }
        output_text(&b, e);
        fprintf(o->f, "  %s%s%s %s = %s\n", col(o, prev ? C_YELLOW : C_GREEN), prev ? "~" : "+",
                col(o, C_RESET), name, b.ptr);
        buf_release(&b);
    }
    json_object_foreach(plan->outputs_before, name, e)
    {
        struct buf b;
        if (json_object_get(plan->outputs, name))
            continue;
        buf_init(&b, 0);
        output_text(&b, e);
        fprintf(o->f, "  %s-%s %s = %s -> null\n", col(o, C_RED), col(o, C_RESET), name, b.ptr);
        buf_release(&b);
    }
}

void plan_render_outputs(FILE *f, const json_t *outputs, int color)
{
    struct out o = {f, color};
    const char *name;
    json_t *e;
    if (json_object_size(outputs) == 0)
        return;
    fprintf(f, "\n%sOutputs:%s\n\n", col(&o, C_GREEN), col(&o, C_RESET));
    json_object_foreach((json_t *)outputs, name, e)
    {
        struct buf b;
        buf_init(&b, 0);
        if (json_is_true(json_object_get(e, "sensitive")))
            buf_adds(&b, "<sensitive>");
        else
            value_format(&b, json_object_get(e, "value"));
        fprintf(f, "%s = %s\n", name, b.ptr);
        buf_release(&b);
    }
}

/* What import and moved blocks do, before the changes. */
static void print_adjustments(const struct out *o, const struct plan *plan)
{
    size_t i;
    json_t *a;
    json_array_foreach(plan->adjustments, i, a)
    {
        const char *action = json_string_value(json_object_get(a, "action"));
        if (action && strcmp(action, "move") == 0)
            fprintf(o->f, "  %s# %s has moved to %s%s\n", col(o, C_BOLD),
                    json_string_value(json_object_get(a, "from")),
                    json_string_value(json_object_get(a, "to")), col(o, C_RESET));
        else if (action)
            fprintf(o->f, "  %s# %s will be imported%s\n      id = \"%s\"\n", col(o, C_BOLD),
                    json_string_value(json_object_get(a, "address")), col(o, C_RESET),
                    json_string_value(json_object_get(a, "id")));
    }
    if (json_array_size(plan->adjustments))
        fputc('\n', o->f);
}

/* Variables' validations known only after apply: checked by apply. */
static void print_checks(const struct out *o, const struct plan *plan)
{
    size_t i;
    json_t *c;
    if (json_array_size(plan->checks) == 0)
        return;
    fprintf(o->f, "\nValidations checked during apply, once the values they read are known (what "
                  "reads the variable\nwaits for its validation; a false one skips it):\n");
    json_array_foreach(plan->checks, i, c)
    {
        const json_t *at = json_object_get(c, "condition_at"), *reads = json_object_get(c, "reads");
        const char *module = json_string_value(json_object_get(c, "module"));
        size_t k;
        json_t *r;
        fprintf(o->f, "  %s%svar.%s (%s:%lld:%lld) reads ", module ? module : "", module ? "." : "",
                json_string_value(json_object_get(c, "variable")),
                json_string_value(json_object_get(at, "file")),
                (long long)json_integer_value(json_object_get(at, "line")),
                (long long)json_integer_value(json_object_get(at, "column")));
        json_array_foreach(reads, k, r) fprintf(o->f, "%s%s", k ? ", " : "", json_string_value(r));
        fputc('\n', o->f);
    }
}

static void print_summary(const struct out *o, const struct plan *plan)
{
    char imported[64] = "";
    if (plan->nimports)
        snprintf(imported, sizeof(imported), "%zu to import, ", plan->nimports);
    fprintf(o->f, "\n%sPlan:%s %s%zu to add, %zu to change, %zu to destroy.\n", col(o, C_BOLD),
            col(o, C_RESET), imported, plan->nadd, plan->nchange, plan->ndestroy);
}

void plan_render_text(FILE *f, const struct plan *plan, int color)
{
    struct out o = {f, color};
    if (plan->ndrift) {
        fprintf(f, "%sObjects have changed outside of amlsec%s\n\n", col(&o, C_BOLD),
                col(&o, C_RESET));
        for (size_t i = 0; i < plan->ndrift; i++) {
            const struct plan_drift *d = &plan->drift[i];
            fprintf(f, "  # %s has been %s\n", d->address,
                    strncmp(d->what, "deleted", 7) == 0 ? "deleted" : "changed");
            for (size_t k = 0; k < json_array_size(d->paths); k++) {
                const char *p = json_string_value(json_array_get(d->paths, k));
                bool sens = is_sensitive(d->sensitive, p);
                struct buf b;
                buf_init(&b, 0);
                value_text(&b, get_path(d->before, p), sens);
                buf_adds(&b, " -> ");
                value_text(&b, get_path(d->after, p), sens);
                fprintf(f, "      %s~%s %s = %s\n", col(&o, C_YELLOW), col(&o, C_RESET), p, b.ptr);
                buf_release(&b);
            }
        }
        fputc('\n', f);
    }
    if (json_array_size(plan->adjustments)) {
        fprintf(f, "amlsec will change the state as the import and moved blocks say:\n\n");
        print_adjustments(&o, plan);
        if (plan->n == 0) {
            fprintf(f, "No changes to the resources themselves.\n");
            print_summary(&o, plan);
            if (plan->noutput_changes) {
                fputc('\n', f);
                print_output_changes(&o, plan);
            }
            return;
        }
    }
    if (plan->n == 0 && plan->noutput_changes) {
        print_output_changes(&o, plan);
        fprintf(f, "\nYou can apply this plan to save these new output values to the state, "
                   "without changing any real infrastructure.\n");
        return;
    }
    if (plan->n == 0) {
        fprintf(f, "%sNo changes.%s Your infrastructure matches the configuration%s.\n",
                col(&o, C_GREEN), col(&o, C_RESET),
                plan->ndrift ? ", but objects changed outside amlsec (above)" : "");
        return;
    }
    fprintf(f, "amlsec will perform the following actions:\n\n");
    for (size_t i = 0; i < plan->n; i++)
        print_change(&o, &plan->changes[i]);
    fprintf(f, "Execution order (each step starts once the steps it depends on have succeeded;\n"
               "groups are a reading aid):\n");
    for (size_t i = 0; i < plan->n; i++) {
        const struct plan_change *c = &plan->changes[i];
        fprintf(f, "  %3d. [group %d] %-7s %s%s\n", c->step, c->group, plan_action_name(c->action),
                c->address, new_version(c) ? " (new version)" : "");
    }
    print_checks(&o, plan);
    print_summary(&o, plan);
    if (plan->noutput_changes) {
        fputc('\n', f);
        print_output_changes(&o, plan);
    }
}
