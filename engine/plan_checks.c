/* Variables' validations checked at apply: a condition known only after
 * apply (it reads an id or a principal ARM assigns) is carried by the
 * plan (plan->checks, the plan file's "deferred_validations") and checked
 * by the applier once what it reads exists, as Terraform does. */
#include "engine/plan.h"

#include <stdlib.h>
#include <string.h>

#include "parser/value.h"
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

int plan_checks_build(struct plan *plan, const struct config *cfg, known_lookup_fn lookup,
                      void *payload, struct diag_list *diags, struct errbuf *err)
{
    json_t *checks = json_array();
    if (checks == NULL)
        return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
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
        if (e == NULL || json_array_append_new(checks, e) < 0)
            goto oom;
    }
    json_decref(plan->checks);
    plan->checks = checks;
    return 0;
oom:
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
    return NULL;
}
