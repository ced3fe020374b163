/* plan -json / apply -json: Terraform's machine-readable UI, one JSON
 * object a line on stdout (docs/schemas/ui.schema.json). */
#include "cmd/ui_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "cmd/cli.h"
#include "cmd/show_tf.h"
#include "parser/config.h"
#include "parser/value.h"
#include "util/buf.h"
#include "util/jsonw.h"
#include "util/banned.h"

static void emit(json_t *o, const char *level, const char *message, const char *type)
{
    char ts[64];
    struct timeval tv;
    struct tm tm;
    char *text;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + strlen(ts), sizeof(ts) - strlen(ts), ".%06ldZ", (long)tv.tv_usec);
    json_object_set_new(o, "@level", json_string(level));
    json_object_set_new(o, "@message", json_string(message));
    json_object_set_new(o, "@module", json_string("amlsec.ui"));
    json_object_set_new(o, "@timestamp", json_string(ts));
    json_object_set_new(o, "type", json_string(type));
    text = jsonw_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(VALUE_DIGITS));
    if (text) {
        puts(text);
        fflush(stdout);
    }
    free(text);
    json_decref(o);
}

void ui_json_version(void)
{
    char msg[128];
    snprintf(msg, sizeof(msg), "amlsec %s", AMLSEC_VERSION);
    emit(json_pack("{s:s, s:s}", "amlsec", AMLSEC_VERSION, "ui", "1.0"), "info", msg, "version");
}

/* {addr, module, resource, implied_provider, resource_type, resource_name,
 * resource_key}; in a module, module is its path (module.team["cv"]) and
 * resource the address inside it, as Terraform has them. */
static json_t *resource_of(const char *address, const char *kind)
{
    const char *a = config_address_tail(address), *dot, *br;
    json_t *r = json_pack("{s:s, s:s%, s:s, s:s, s:s}", "addr", address, "module", address,
                          (size_t)(a == address ? 0 : a - address - 1), "resource", a,
                          "implied_provider", "amlsec", "resource_type", kind ? kind : "");
    if (strncmp(a, "existing.", 9) == 0)
        a += 9;
    dot = strchr(a, '.');
    br = dot ? strchr(dot + 1, '[') : NULL;
    json_object_set_new(
        r, "resource_name",
        dot ? (br ? json_stringn(dot + 1, (size_t)(br - dot - 1)) : json_string(dot + 1))
            : json_string(a));
    if (br) {
        const char *end = strrchr(br, ']');
        if (end && br[1] == '"' && end > br + 2)
            json_object_set_new(r, "resource_key", json_stringn(br + 2, (size_t)(end - br - 3)));
        else
            json_object_set_new(r, "resource_key", json_integer(strtoll(br + 1, NULL, 10)));
    } else {
        json_object_set_new(r, "resource_key", json_null());
    }
    return r;
}

static const char *action_of(enum plan_action a)
{
    switch (a) {
    case PLAN_CREATE:
        return "create";
    case PLAN_UPDATE:
        return "update";
    case PLAN_REPLACE:
        return "replace";
    case PLAN_DELETE:
        return "delete";
    default:
        return "noop";
    }
}

static const char *diag_level(const char *severity)
{
    return strcmp(severity, "error") == 0     ? "error"
           : strcmp(severity, "warning") == 0 ? "warn"
                                              : "info";
}

void ui_json_diags(const struct diag_list *diags)
{
    for (size_t i = 0; i < diags->n; i++) {
        json_t *d = diag_to_json(&diags->items[i]);
        const char *sev = json_string_value(json_object_get(d, "severity"));
        char msg[1200];
        snprintf(msg, sizeof(msg), "%s: %s", sev ? sev : "note",
                 json_string_value(json_object_get(d, "message")));
        emit(json_pack("{s:o}", "diagnostic", d), diag_level(sev ? sev : "note"), msg,
             "diagnostic");
    }
}

void ui_json_findings(const struct finding_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        const struct finding *f = &l->items[i];
        const char *sev = f->level == FINDING_DENY    ? "error"
                          : f->level == FINDING_AUDIT ? "warning"
                                                      : "note";
        char msg[1200];
        if (f->level == FINDING_PASS)
            continue;
        snprintf(msg, sizeof(msg), "%s: %s: %s", f->address ? f->address : "",
                 f->rule_name ? f->rule_name : f->rule_id, f->message);
        emit(json_pack("{s:{s:s, s:s, s:s, s:o}}", "diagnostic", "severity", sev, "summary",
                       f->rule_name ? f->rule_name : f->rule_id, "detail", f->message, "finding",
                       finding_to_json(f)),
             diag_level(sev), msg, "diagnostic");
    }
}

/* Variables' validations checked during apply (plan->checks), one
 * deferred_validation message each: as show -json's deferred_validations
 * entries, without the condition and the message (which may hold what
 * the variable holds), plus the variable's address. */
static void ui_json_deferred_validations(const struct plan *plan)
{
    size_t i, k;
    json_t *c, *r;
    json_array_foreach(plan->checks, i, c)
    {
        const char *module = json_string_value(json_object_get(c, "module"));
        const char *var = json_string_value(json_object_get(c, "variable"));
        json_t *v = json_deep_copy(c);
        struct buf addr, msg;
        json_object_del(v, "condition");
        json_object_del(v, "error_message");
        buf_init(&addr, 0);
        buf_addf(&addr, "%s%svar.%s", module ? module : "", module ? "." : "", var ? var : "");
        json_object_set_new(v, "address", json_string(addr.ptr ? addr.ptr : ""));
        buf_init(&msg, 0);
        buf_addf(&msg, "%s: validation checked during apply, once it can read ",
                 addr.ptr ? addr.ptr : "");
        json_array_foreach(json_object_get(c, "reads"), k, r)
            buf_addf(&msg, "%s%s", k ? ", " : "", json_string_value(r));
        emit(json_pack("{s:o}", "validation", v), "info", msg.ptr ? msg.ptr : "",
             "deferred_validation");
        buf_release(&addr);
        buf_release(&msg);
    }
}

void ui_json_plan(const struct plan *plan)
{
    char msg[1200];
    for (size_t i = 0; i < plan->ndrift; i++) {
        const struct plan_drift *d = &plan->drift[i];
        snprintf(msg, sizeof(msg), "%s: drift detected (%s)", d->address, d->what);
        emit(json_pack("{s:{s:o, s:s}}", "change", "resource", resource_of(d->address, d->kind),
                       "action", d->after ? "update" : "delete"),
             "info", msg, "resource_drift");
    }
    for (size_t i = 0; i < plan->n; i++) {
        const struct plan_change *c = &plan->changes[i];
        json_t *ch = json_pack("{s:o, s:s}", "resource", resource_of(c->address, c->kind), "action",
                               action_of(c->action));
        if (c->reason)
            json_object_set_new(ch, "reason", json_string(c->reason));
        if (c->previous_address)
            json_object_set_new(ch, "previous_resource", resource_of(c->previous_address, c->kind));
        snprintf(msg, sizeof(msg), "%s: Plan to %s", c->address, action_of(c->action));
        emit(json_pack("{s:o}", "change", ch), "info", msg, "planned_change");
    }
    /* as Terraform: a resource that only moves is a planned_change "move"
     * (once, under the address the moves end at) */
    for (size_t i = 0; i < json_array_size(plan->adjustments); i++) {
        const json_t *a = json_array_get(plan->adjustments, i);
        const char *to = json_string_value(json_object_get(a, "to")), *from;
        char kind[128];
        bool changed = false;
        if (to == NULL || strcmp(json_string_value(json_object_get(a, "action")), "move") != 0 ||
            strcmp(plan_moved_to(plan->adjustments, to), to) != 0)
            continue; /* an import, or a step of a chain */
        from = plan_moved_from(plan->adjustments, to);
        for (size_t k = 0; k < plan->n && !changed; k++)
            changed = strcmp(plan->changes[k].address, to) == 0;
        if (from == NULL || changed)
            continue;
        {
            const char *t = config_address_tail(to); /* in a module: after its path */
            if (strncmp(t, "existing.", 9) == 0)
                t += 9;
            snprintf(kind, sizeof(kind), "%.*s", (int)strcspn(t, "."), t);
        }
        snprintf(msg, sizeof(msg), "%s: Plan to move", to);
        emit(json_pack("{s:{s:o, s:o, s:s}}", "change", "resource", resource_of(to, kind),
                       "previous_resource", resource_of(from, kind), "action", "move"),
             "info", msg, "planned_change");
    }
    ui_json_deferred_validations(plan);
    snprintf(msg, sizeof(msg), "Plan: %zu to add, %zu to change, %zu to destroy.", plan->nadd,
             plan->nchange, plan->ndestroy);
    emit(json_pack("{s:{s:I, s:I, s:I, s:s}}", "changes", "add", (json_int_t)plan->nadd, "change",
                   (json_int_t)plan->nchange, "remove", (json_int_t)plan->ndestroy, "operation",
                   "plan"),
         "info", msg, "change_summary");
    ui_json_plan_outputs(plan);
}

/* One output as Terraform's outputs message has it: sensitive, type when
 * known, value when known and not sensitive (a secret never reaches the
 * stream); action in a plan. */
static json_t *output_of(const json_t *entry, const char *action)
{
    const json_t *v = entry ? json_object_get(entry, "value") : NULL;
    bool sensitive = json_is_true(json_object_get(entry, "sensitive"));
    json_t *o = json_pack("{s:b}", "sensitive", sensitive);
    if (v && !value_contains_unknown(v)) {
        /* Terraform's type JSON; a sensitive collection "dynamic" (its
         * type would name its keys), as output -json has it */
        json_object_set_new(o, "type", show_output_type(v, sensitive));
        if (!sensitive)
            json_object_set(o, "value", (json_t *)v);
    }
    if (action)
        json_object_set_new(o, "action", json_string(action));
    return o;
}

static void emit_outputs(json_t *outputs)
{
    char msg[64];
    snprintf(msg, sizeof(msg), "Outputs: %zu", json_object_size(outputs));
    emit(json_pack("{s:o}", "outputs", outputs), "info", msg, "outputs");
}

void ui_json_plan_outputs(const struct plan *plan)
{
    json_t *changes = plan_output_changes_json(plan, true), *c, *out = json_object();
    const char *name;
    if (json_object_size(changes) == 0) {
        json_decref(changes);
        json_decref(out);
        return;
    }
    json_object_foreach(changes, name, c)
    {
        const char *a = json_string_value(json_array_get(json_object_get(c, "actions"), 0));
        const json_t *entry = json_object_get(plan->outputs, name);
        /* Terraform's names: noop, not no-op; a removed output has no value */
        json_object_set_new(out, name,
                            output_of(strcmp(a, "delete") == 0 ? NULL : entry,
                                      strcmp(a, "no-op") == 0 ? "noop" : a));
    }
    json_decref(changes);
    emit_outputs(out);
}

void ui_json_outputs(const json_t *outputs)
{
    json_t *out = json_object(), *e;
    const char *name;
    json_object_foreach((json_t *)outputs, name, e)
        json_object_set_new(out, name, output_of(e, NULL));
    emit_outputs(out);
}

void ui_json_event(const struct apply_event *ev)
{
    const struct plan_change *c = ev->change;
    const char *addr = c ? c->address : "";
    const char *action = c ? action_of(c->action) : "noop";
    json_t *hook;
    char msg[ERRBUF_MAX + 600];

    if (ev->kind == APPLY_INVALID) {
        /* a validation checked at apply: the message is the diagnostic */
        snprintf(msg, sizeof(msg), "%s", ev->message);
        emit(json_pack("{s:{s:s, s:s}}", "diagnostic", "severity", "error", "summary", msg),
             "error", msg, "diagnostic");
        return;
    }
    if (ev->kind == APPLY_INTERRUPTED) {
        snprintf(msg, sizeof(msg), "Interrupt received: waiting for %zu operations in flight",
                 ev->in_flight);
        emit(json_object(), "warn", msg, "log");
        return;
    }
    hook = json_pack("{s:o, s:s}", "resource", resource_of(addr, c ? c->kind : NULL), "action",
                     action);
    switch (ev->kind) {
    case APPLY_STARTED:
        snprintf(msg, sizeof(msg), "%s: %s...", addr, ev->verb);
        emit(json_pack("{s:o}", "hook", hook), "info", msg, "apply_start");
        break;
    case APPLY_PROGRESS:
        json_object_set_new(hook, "elapsed_seconds", json_integer((json_int_t)ev->seconds));
        snprintf(msg, sizeof(msg), "%s: Still %s... [%.0fs elapsed]", addr, ev->verb, ev->seconds);
        emit(json_pack("{s:o}", "hook", hook), "info", msg, "apply_progress");
        break;
    case APPLY_FINISHED:
        json_object_set_new(hook, "elapsed_seconds", json_integer((json_int_t)ev->seconds));
        if (ev->arm_id) {
            json_object_set_new(hook, "id_key", json_string("id"));
            json_object_set_new(hook, "id_value", json_string(ev->arm_id));
        }
        snprintf(msg, sizeof(msg), "%s: %s complete after %.0fs", addr, ev->verb, ev->seconds);
        emit(json_pack("{s:o}", "hook", hook), "info", msg, "apply_complete");
        break;
    case APPLY_FAILED: {
        /* ARM's message may quote the request back: masked (cli_secret_add) */
        struct buf clean;
        const char *detail;
        buf_init(&clean, 0);
        detail = cli_scrub(&clean, ev->message ? ev->message : "");
        json_object_set_new(hook, "elapsed_seconds", json_integer((json_int_t)ev->seconds));
        snprintf(msg, sizeof(msg), "%s: %s errored after %.0fs", addr, ev->verb, ev->seconds);
        emit(json_pack("{s:o}", "hook", hook), "error", msg, "apply_errored");
        snprintf(msg, sizeof(msg), "%s: %s failed: %s", addr, ev->verb, detail);
        emit(json_pack("{s:{s:s, s:s, s:s, s:s}}", "diagnostic", "severity", "error", "summary",
                       "Apply failed", "detail", detail, "address", addr),
             "error", msg, "diagnostic");
        buf_release(&clean);
        break;
    }
    case APPLY_SKIPPED:
        snprintf(msg, sizeof(msg), "%s: skipped: %s", addr, ev->message ? ev->message : "");
        json_decref(hook);
        emit(json_object(), "warn", msg, "log");
        break;
    default:
        json_decref(hook);
        break;
    }
}

void ui_json_apply_summary(const struct plan *plan, size_t added, size_t changed, size_t destroyed,
                           bool ok)
{
    char msg[256];
    if (plan->destroy) /* as the text output, and Terraform's destroy summary */
        snprintf(msg, sizeof(msg), "%s Resources: %zu destroyed.",
                 ok ? "Destroy complete!" : "Destroy incomplete.", destroyed);
    else
        snprintf(msg, sizeof(msg), "%s Resources: %zu added, %zu changed, %zu destroyed.",
                 ok ? "Apply complete!" : "Apply incomplete.", added, changed, destroyed);
    emit(json_pack("{s:{s:I, s:I, s:I, s:s}}", "changes", "add", (json_int_t)added, "change",
                   (json_int_t)changed, "remove", (json_int_t)destroyed, "operation",
                   plan->destroy ? "destroy" : "apply"),
         ok ? "info" : "error", msg, "change_summary");
}

void ui_json_error(const char *message)
{
    struct buf b;
    const char *m;
    buf_init(&b, 0);
    m = cli_scrub(&b, message);
    emit(json_pack("{s:{s:s, s:s}}", "diagnostic", "severity", "error", "summary", m), "error", m,
         "diagnostic");
    buf_release(&b);
}

void ui_json_log(const char *level, const char *message)
{
    emit(json_object(), level, message, "log");
}
