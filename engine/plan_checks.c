/* Variables' validations checked at apply: a condition known only after
 * apply (it reads an id or a principal ARM assigns) is carried by the
 * plan (plan->checks, the plan file's "deferred_validations") and checked
 * by the applier once what it reads exists, as Terraform does. */
#include "engine/plan.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "parser/value.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/banned.h"

/* {"file", "line", "column"}, or null for no file. New reference. */
static json_t *loc_json(const struct src_loc *loc)
{
    struct src_pos a;
    if (loc->file == NULL)
        return json_null();
    a = src_loc_start(loc);
    return json_pack("{s:s, s:I, s:I}", "file", loc->file->name, "line", (json_int_t)a.line,
                     "column", (json_int_t)a.col);
}

/* The addresses of the instances whose values v waits for (tagged
 * unknowns, deferred calls' arguments included), added once each. */
static void add_reads(json_t *reads, const json_t *v)
{
    const char *address, *attr, *fn, *k;
    const json_t *args;
    json_t *x;
    size_t i;
    if (value_unknown_call_parts(v, &fn, &args)) {
        add_reads(reads, args);
    } else if (value_unknown_origin(v, &address, &attr)) {
        if (address[0] == '$')
            return; /* a for expression's placeholder (parser/eval.c), no instance */
        json_array_foreach(reads, i, x) if (strcmp(json_string_value(x), address) == 0) return;
        json_array_append_new(reads, json_string(address));
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, x) add_reads(reads, x);
    } else if (json_is_object(v)) {
        json_object_foreach((json_t *)v, k, x) add_reads(reads, x);
    }
}

/* A condition filled in and known but not true: the message to give. */
static const char *failed_text(const json_t *message, const char *withheld)
{
    if (withheld)
        return withheld;
    if (json_is_string(message))
        return json_string_value(message);
    return message ? "(the error message is not known)" : "(no error message)";
}

/* Whether every instance a check reads is created or updated by the plan:
 * one left out (by -target) never gets its value in this apply, and the
 * condition stays unknown, which Terraform does not check either. */
/* planned: the changes that create or update an instance, by address
 * (built at the first call). False when out of memory. */
static bool index_planned(struct strmap *planned, const struct plan *plan)
{
    if (planned->n == 0)
        for (size_t k = 0; k < plan->n; k++)
            if (plan->changes[k].action != PLAN_DELETE &&
                strmap_put(planned, plan->changes[k].address, k) < 0)
                return false;
    return true;
}

static bool reads_planned(struct strmap *planned, const struct plan *plan, const json_t *reads)
{
    size_t i, at;
    json_t *r;
    if (!index_planned(planned, plan))
        return true; /* out of memory: kept, apply says it could not check it */
    json_array_foreach(reads, i,
                       r) if (!strmap_get(planned, json_string_value(r), &at)) return false;
    return true;
}

/* What a deferred check validates: the root's cfg_variable or a module
 * instance's input (its 'v' node), as cfg_read.variable names it. */
static const void *check_target(const struct config *cfg, const struct cfg_check *c)
{
    if (c->scope)
        return config_find_node(cfg, c->scope, 'v', c->variable);
    for (size_t i = 0; i < cfg->nvars; i++)
        if (strcmp(cfg->vars[i].name, c->variable) == 0)
            return &cfg->vars[i];
    return NULL;
}

struct target {
    const void *target;
    size_t check;
};

static int cmp_target(const void *a, const void *b)
{
    const struct target *x = a, *y = b;
    if (x->target != y->target)
        return (uintptr_t)x->target < (uintptr_t)y->target ? -1 : 1;
    return x->check < y->check ? -1 : x->check > y->check;
}

/* Adds address to check k's guards once (last[k]: the instance added last). */
static int add_guard(json_t *checks, size_t k, const struct cfg_instance **last,
                     const struct cfg_instance *in)
{
    if (last[k] == in)
        return 0;
    last[k] = in;
    return json_array_append_new(json_object_get(json_array_get(checks, k), "guards"),
                                 json_string(in->address));
}

/* Each check's "guards": the planned creates and updates that read its
 * variable (their evaluation recorded it, directly or through locals and
 * module inputs: cfg_read.variable); apply holds them, and so what
 * depends on them, until the check is done, as Terraform's graph makes
 * var.NAME's readers wait for its validation. An instance whose record
 * was cut short (out of memory) is held by every check. One pass over the
 * records, each
 * variable read looked up among the checks' targets by binary search. */
static int add_guards(json_t *checks, const void **targets, const struct config *cfg,
                      struct strmap *planned, const struct plan *plan)
{
    size_t n = json_array_size(checks), at;
    struct target *t = calloc(n + 1, sizeof(*t));
    const struct cfg_instance **last = calloc(n + 1, sizeof(*last));
    int rc = 0;
    if (t == NULL || last == NULL || !index_planned(planned, plan)) {
        free(t);
        free(last);
        return AMLSEC_ENOMEM;
    }
    for (size_t k = 0; k < n && rc == 0; k++) {
        t[k] = (struct target){targets[k], k};
        if (json_object_set_new(json_array_get(checks, k), "guards", json_array()) < 0)
            rc = AMLSEC_ENOMEM;
    }
    qsort(t, n, sizeof(*t), cmp_target);
    for (size_t r = 0; r < cfg->nresources && rc == 0; r++)
        for (size_t i = 0; i < cfg->resources[r].ninstances && rc == 0; i++) {
            const struct cfg_instance *in = &cfg->resources[r].instances[i];
            if (in->reads.n == 0 || in->address == NULL || !strmap_get(planned, in->address, &at))
                continue;
            for (size_t e = 0; e < in->reads.n && rc == 0; e++) {
                const struct cfg_read *rd = &in->reads.v[e];
                size_t lo = 0, hi = n;
                if (rd->variable == NULL && (rd->resource || rd->call || rd->index != CFG_READ_ALL))
                    continue; /* a resource read, or a for over what is unknown (its body's
                                 reads are recorded, evaluated on placeholders) */
                if (rd->variable == NULL) { /* cut short: every check holds it */
                    for (size_t k = 0; k < n && rc == 0; k++)
                        rc = add_guard(checks, k, last, in);
                    continue;
                }
                while (lo < hi) {
                    size_t mid = lo + (hi - lo) / 2;
                    if ((uintptr_t)t[mid].target < (uintptr_t)rd->variable)
                        lo = mid + 1;
                    else
                        hi = mid;
                }
                for (; lo < n && t[lo].target == rd->variable && rc == 0; lo++)
                    rc = add_guard(checks, t[lo].check, last, in);
            }
        }
    free(t);
    free(last);
    return rc < 0 ? AMLSEC_ENOMEM : 0;
}

/* A check that waits, through what it reads and their dependencies, for a
 * change it holds back (its guards, or another check's that waits for
 * it) could never be checked before that change is sent. Terraform's
 * graph has the same cycle (var.NAME's validation reads the resource,
 * which reads var.NAME) and refuses the configuration; so does the plan,
 * with the cycle at the condition. Depth-first over the changes (their
 * dependencies) and the checks (their reads), each node once. */
static void find_check_cycles(const json_t *checks, const struct plan *plan, struct strmap *planned,
                              const struct cfg_check **src, struct diag_list *diags)
{
    size_t n = plan->n, k = json_array_size(checks), total = n + k, at;
    size_t *held_off = calloc(n + 2, sizeof(*held_off)), *held = NULL;
    size_t *stack = calloc(total + 1, sizeof(*stack)), *edge = calloc(total + 1, sizeof(*edge));
    unsigned char *color = calloc(total + 1, 1);
    size_t c, g;
    json_t *check, *a;
    if (held_off == NULL || stack == NULL || edge == NULL || color == NULL)
        goto out; /* out of memory: apply reports what it cannot check */
    /* change -> the checks that hold it, as CSR: counted, then filled */
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) {
            for (size_t i = 2; i < n + 2; i++)
                held_off[i] += held_off[i - 1];
            if ((held = calloc(held_off[n + 1] + 1, sizeof(*held))) == NULL)
                goto out;
        }
        json_array_foreach(checks, c, check)
        {
            json_array_foreach(json_object_get(check, "guards"), g, a)
            {
                if (!strmap_get(planned, json_string_value(a), &at))
                    continue;
                if (pass == 0)
                    held_off[at + 2]++;
                else
                    held[held_off[at + 1]++] = n + c;
            }
        }
    }
    for (size_t root = n; root < total; root++) {
        size_t depth = 0;
        if (color[root])
            continue;
        stack[depth++] = root;
        color[root] = 1;
        edge[root] = 0;
        while (depth > 0) {
            size_t v = stack[depth - 1], next = (size_t)-1, e = edge[v]++;
            if (v < n) { /* a change: its dependencies, then the checks holding it */
                const struct plan_change *ch = &plan->changes[v];
                if (e < ch->ndeps)
                    next = ch->deps[e];
                else if (e - ch->ndeps < held_off[v + 1] - held_off[v])
                    next = held[held_off[v] + e - ch->ndeps];
            } else { /* a check: the changes it reads */
                const json_t *r =
                    json_array_get(json_object_get(json_array_get(checks, v - n), "reads"), e);
                if (r)
                    next = strmap_get(planned, json_string_value(r), &at) ? at : total;
            }
            if (next == (size_t)-1) {
                color[v] = 2;
                depth--;
                continue;
            }
            if (next == total || color[next] == 2)
                continue;
            if (color[next] == 1) {
                /* the cycle: stack[from..depth-1], then next again; told
                 * from a check (the changes' dependencies have no cycle) */
                struct buf path;
                size_t from = depth - 1, first, len;
                const struct cfg_check *cc;
                while (stack[from] != next)
                    from--;
                len = depth - from;
                for (first = 0; first < len && stack[from + first] < n; first++)
                    ;
                if (first == len)
                    first = 0;
                cc = src[stack[from + first] >= n ? stack[from + first] - n : 0];
                buf_init(&path, 0);
                for (size_t i = 0; i <= len; i++) {
                    size_t x = stack[from + (first + i) % len];
                    if (x >= n)
                        buf_addf(&path, "%s%s%svar.%s (validation)", i ? " -> " : "",
                                 src[x - n]->scope ? src[x - n]->scope->path : "",
                                 src[x - n]->scope ? "." : "", src[x - n]->variable);
                    else
                        buf_addf(&path, "%s%s", i ? " -> " : "", plan->changes[x].address);
                }
                {
                    struct diag *d =
                        diag_add(diags, DIAG_ERROR, &cc->cond_loc, "cycle", "reference cycle: %s",
                                 path.ptr ? path.ptr : "out of memory");
                    if (d)
                        diag_set_hint(d, "a validation checked during apply runs before anything "
                                         "that reads its variable is sent; it cannot read what "
                                         "reads the variable (Terraform reports the same cycle)");
                }
                buf_release(&path);
                goto out; /* one is enough: the plan is refused */
            }
            color[next] = 1;
            edge[next] = 0;
            stack[depth++] = next;
        }
    }
out:
    free(held_off);
    free(held);
    free(stack);
    free(edge);
    free(color);
}

int plan_checks_build(struct plan *plan, const struct config *cfg, known_lookup_fn lookup,
                      void *payload, struct diag_list *diags, struct errbuf *err)
{
    json_t *checks = json_array();
    struct strmap planned;
    const void **targets = calloc(cfg->nchecks + 1, sizeof(*targets));
    const struct cfg_check **src = calloc(cfg->nchecks + 1, sizeof(*src));
    if (checks == NULL || targets == NULL || src == NULL) {
        json_decref(checks);
        free(targets);
        free(src);
        return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    }
    strmap_init(&planned, false);
    for (size_t i = 0; i < cfg->nchecks && !plan->destroy; i++) {
        const struct cfg_check *c = &cfg->checks[i];
        size_t left = 0;
        json_t *cond = known_fill(json_deep_copy(c->condition), lookup, payload, &left);
        json_t *msg =
            c->message ? known_fill(json_deep_copy(c->message), lookup, payload, NULL) : NULL;
        json_t *e, *reads;
        if (cond == NULL)
            goto oom;
        if (left == 0 && !json_is_true(cond)) {
            /* what it reads exists already: checked now, as any other */
            if (json_is_boolean(cond))
                config_check_error(diags, c, failed_text(msg, c->withheld));
            else
                diag_add(diags, DIAG_ERROR, &c->cond_loc, "type",
                         "a validation condition is true or false, not a %s",
                         value_type_name(cond));
        }
        if (left == 0) {
            json_decref(cond);
            json_decref(msg);
            continue;
        }
        reads = json_array();
        add_reads(reads, cond);
        add_reads(reads, msg);
        e = json_pack("{s:s, s:o, s:o, s:o, s:o, s:o, s:b, s:o}", "variable", c->variable, "module",
                      c->scope ? json_string(c->scope->path) : json_null(), "condition", cond, "at",
                      loc_json(&c->value_loc), "condition_at", loc_json(&c->cond_loc), "origin",
                      c->origin && !c->value_loc.file ? json_string(c->origin) : json_null(),
                      "sensitive", c->holds_secret, "reads", reads);
        if (e && msg)
            json_object_set_new(e, "error_message", msg);
        else
            json_decref(msg);
        if (e && c->withheld)
            json_object_set_new(e, "withheld", json_string(c->withheld));
        if (e && !reads_planned(&planned, plan, reads)) {
            json_decref(e);
            continue;
        }
        src[json_array_size(checks)] = c;
        targets[json_array_size(checks)] = check_target(cfg, c);
        if (e == NULL || json_array_append_new(checks, e) < 0)
            goto oom;
    }
    if (json_array_size(checks)) {
        if (add_guards(checks, targets, cfg, &planned, plan) < 0)
            goto oom;
        find_check_cycles(checks, plan, &planned, src, diags);
    }
    strmap_release(&planned);
    free(targets);
    free(src);
    json_decref(plan->checks);
    plan->checks = checks;
    return 0;
oom:
    strmap_release(&planned);
    free(targets);
    free(src);
    json_decref(checks);
    return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
}

/* "FILE:LINE:COL" of a location plan_checks_build wrote, or NULL. */
static bool loc_text(struct buf *out, const json_t *loc)
{
    const char *file = json_string_value(json_object_get(loc, "file"));
    if (file == NULL)
        return false;
    buf_addf(out, "%s:%lld:%lld", file, (long long)json_integer_value(json_object_get(loc, "line")),
             (long long)json_integer_value(json_object_get(loc, "column")));
    return true;
}

void plan_check_error_text(struct buf *out, const json_t *check, const json_t *condition,
                           const json_t *message)
{
    const char *var = json_string_value(json_object_get(check, "variable"));
    const char *module = json_string_value(json_object_get(check, "module"));
    const char *origin = json_string_value(json_object_get(check, "origin"));
    const char *withheld = json_string_value(json_object_get(check, "withheld"));
    if (!json_is_boolean(condition)) {
        loc_text(out, json_object_get(check, "condition_at"));
        buf_addf(out, ": a validation condition is true or false, not a %s",
                 value_type_name(condition));
        return;
    }
    if (loc_text(out, json_object_get(check, "at"))) {
        buf_addf(out, ": invalid value for variable '%s'%s%s: %s (checked by the validation at ",
                 var, module ? " of " : "", module ? module : "", failed_text(message, withheld));
        loc_text(out, json_object_get(check, "condition_at"));
        buf_adds(out, ")");
        return;
    }
    loc_text(out, json_object_get(check, "condition_at"));
    buf_addf(out, ": invalid value for variable '%s'%s%s (set by %s): %s", var,
             module ? " of " : "", module ? module : "", origin ? origin : "the command line",
             failed_text(message, withheld));
}

/* A location as plan_checks_build writes it: null or a file, line, column. */
static bool loc_ok(const json_t *loc)
{
    return json_is_null(loc) ||
           (json_is_object(loc) && json_is_string(json_object_get(loc, "file")) &&
            json_is_integer(json_object_get(loc, "line")) &&
            json_is_integer(json_object_get(loc, "column")));
}

const char *plan_check_malformed(const json_t *check)
{
    const json_t *reads = json_object_get(check, "reads"), *x;
    const json_t *guards = json_object_get(check, "guards");
    size_t i;
    if (!json_is_object(check))
        return "is not an object";
    if (!json_is_string(json_object_get(check, "variable")))
        return "has no variable";
    if (!value_is_unknown(json_object_get(check, "condition")))
        return "has no condition known only after apply";
    if (!loc_ok(json_object_get(check, "at")) || !loc_ok(json_object_get(check, "condition_at")) ||
        !json_is_object(json_object_get(check, "condition_at")))
        return "has a malformed location";
    if (!json_is_array(reads))
        return "has no reads";
    json_array_foreach(reads, i,
                       x) if (!json_is_string(x)) return "has a read that is not a string";
    /* guards: none in a plan written before they existed (apply holds
     * every change the check does not read) */
    if (guards && !json_is_array(guards))
        return "has guards that are not an array";
    json_array_foreach(guards, i,
                       x) if (!json_is_string(x)) return "has a guard that is not a string";
    return NULL;
}
