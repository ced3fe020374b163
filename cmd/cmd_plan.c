/* amlsec plan | apply | destroy: one flow with three faces. */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd/check.h"
#include "cmd/cli.h"
#include "cmd/commands.h"
#include "cmd/load.h"
#include "cmd/plan_render.h"
#include "cmd/planfile.h"
#include "cmd/reports.h"
#include "cmd/session.h"
#include "cmd/state_cli.h"
#include "cmd/ui_json.h"
#include "engine/apply.h"
#include "engine/live_rules.h"
#include "engine/plan.h"
#include "parser/value.h"
#include "providers/arm/schema.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/strmap.h"
#include "util/banned.h"

#define MAX_ADDRS 256

enum mode { MODE_PLAN, MODE_APPLY, MODE_DESTROY };

struct plan_cli {
    enum mode mode;
    struct load_args la;
    const char *targets[MAX_ADDRS];
    size_t ntargets;
    const char *replace[MAX_ADDRS];
    size_t nreplace;
    const char *out;
    const char *path;       /* DIR, or a plan file for apply */
    struct report_files rf; /* plan -sarif/-junit/-markdown */
    int detailed, destroy, refresh, auto_approve, color, require_signed;
    int input;            /* -input=false: never ask (apply then needs -auto-approve) */
    int compact_warnings; /* -compact-warnings: warnings as one line each */
    struct session_opts so;
    struct planfile_trust trust; /* apply FILE: what protects it */
};

/* AMLSEC_PLAN_KEY, or NULL when unset or empty. */
static const char *plan_key(void)
{
    const char *k = getenv("AMLSEC_PLAN_KEY");
    return k && *k ? k : NULL;
}

/* -json: Terraform's machine-readable UI on stdout (cmd/ui_json.h). */
static int json_ui;

/* 1 after the first SIGINT/SIGTERM (start nothing more), 2 after the
 * second (abandon what is in flight). */
static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    static const char again[] = "\nSecond interrupt: abandoning the operations in flight; the "
                                "journal keeps their intents for the next run.\n";
    (void)sig;
    if (interrupted >= 1 && write(STDERR_FILENO, again, sizeof(again) - 1) < 0)
        interrupted = 2;
    interrupted = interrupted >= 1 ? 2 : 1;
}

/* What the event printer keeps for the end of the run. */
struct progress {
    char **failures; /* "ADDRESS: Creating failed: CODE: message" */
    size_t nfailures;
};

/* Keeps a failure's line for the end of the run, whole (a message is not
 * cut); dropped when out of memory. */
static void add_failure(struct progress *pr, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void add_failure(struct progress *pr, const char *fmt, ...)
{
    char **f = realloc(pr->failures, (pr->nfailures + 1) * sizeof(*f));
    struct buf line;
    va_list ap;
    int rc;
    if (f == NULL)
        return;
    pr->failures = f;
    buf_init(&line, 0);
    va_start(ap, fmt);
    rc = buf_vaddf(&line, fmt, ap);
    va_end(ap);
    if (rc == 0 && (f[pr->nfailures] = buf_detach(&line, NULL)) != NULL)
        pr->nfailures++;
    else
        buf_release(&line);
}

/* Terraform's durations: 12s, 1m5s. */
static const char *duration(char *dst, size_t n, double seconds)
{
    long s = (long)(seconds + 0.5);
    if (s < 60)
        snprintf(dst, n, "%lds", s);
    else
        snprintf(dst, n, "%ldm%lds", s / 60, s % 60);
    return dst;
}

static const char *noun_of(const char *verb)
{
    return strcmp(verb, "Destroying") == 0  ? "Destruction"
           : strcmp(verb, "Modifying") == 0 ? "Modifications"
                                            : "Creation";
}

/* One line per event; on a terminal also "Still creating... [40s elapsed]"
 * every 10 s while an operation runs (apply_opts.progress_every). */
static void on_event(void *payload, const struct apply_event *ev)
{
    struct progress *pr = payload;
    const char *addr = ev->change ? ev->change->address : "";
    char d[32];
    if (ev->kind == APPLY_VALUES) {
        load_register_secrets(ev->values, ev->change->sensitive);
        return;
    }
    if (json_ui) {
        ui_json_event(ev);
        if (ev->kind == APPLY_INVALID)
            add_failure(pr, "%s", ev->message);
        else if (ev->kind == APPLY_FAILED)
            add_failure(pr, "%s: %s failed: %s", addr, ev->verb, ev->message);
        return;
    }
    switch (ev->kind) {
    case APPLY_STARTED:
        printf("%s: %s...\n", addr, ev->verb);
        break;
    case APPLY_PROGRESS:
        /* "Creating" -> "Still creating" */
        printf("%s: Still %c%s... [%s elapsed]\n", addr, ev->verb[0] - 'A' + 'a', ev->verb + 1,
               duration(d, sizeof(d), ev->seconds));
        break;
    case APPLY_FINISHED:
        if (strcmp(ev->verb, "Forgetting") == 0) {
            printf("%s: removed from the state (%s)\n", addr,
                   ev->change && ev->change->reason &&
                           strcmp(ev->change->reason, "delete_because_gone") == 0
                       ? "it no longer exists in Azure"
                       : "deleted with its parent");
            break;
        }
        printf("%s: %s complete after %s%s%s%s\n", addr, noun_of(ev->verb),
               duration(d, sizeof(d), ev->seconds), ev->arm_id ? " [id=" : "",
               ev->arm_id ? ev->arm_id : "", ev->arm_id ? "]" : "");
        break;
    case APPLY_FAILED: {
        struct buf clean;
        const char *msg;
        /* ARM's message may quote the request back: masked (cli_secret_add) */
        buf_init(&clean, 0);
        msg = cli_scrub(&clean, ev->message);
        printf("%s: %s failed after %s: %s\n", addr, ev->verb, duration(d, sizeof(d), ev->seconds),
               msg);
        add_failure(pr, "%s: %s failed: %s", addr, ev->verb, msg);
        buf_release(&clean);
        break;
    }
    case APPLY_SKIPPED:
        printf("%s: skipped: %s\n", addr, ev->message);
        break;
    case APPLY_INVALID: {
        /* a validation checked at apply: what reads its variable never starts */
        struct buf clean;
        const char *msg;
        buf_init(&clean, 0);
        msg = cli_scrub(&clean, ev->message);
        if (ev->unchecked)
            printf("\nValidation not checked: %s\n", msg);
        else
            printf("\nValidation failed, starting nothing that reads the variable: %s\n", msg);
        add_failure(pr, "%s", msg);
        buf_release(&clean);
        break;
    }
    case APPLY_INTERRUPTED:
        printf("\nInterrupt received: starting no new operations; waiting for the %zu in flight "
               "to finish.\nPress Ctrl-C again to abandon them (the journal keeps their intents "
               "and the next run reconciles them).\n",
               ev->in_flight);
        break;
    case APPLY_VALUES:
        break; /* registered above */
    }
    fflush(stdout);
}

static bool confirm(const struct plan *plan)
{
    char line[64];
    printf("\nDo you want to perform these actions?\n"
           "  amlsec will perform the actions described above.\n"
           "  Only 'yes' will be accepted to approve.\n\n  Enter a value: ");
    fflush(stdout);
    (void)plan;
    if (fgets(line, sizeof(line), stdin) == NULL)
        return false;
    line[strcspn(line, "\r\n")] = '\0';
    return strcmp(line, "yes") == 0;
}

/* The value at a dotted path of obj, or NULL. */
static const json_t *value_at(const json_t *obj, const char *path)
{
    char seg[256];
    while (json_is_object(obj) && *path) {
        size_t n = strcspn(path, ".");
        if (n >= sizeof(seg))
            return NULL;
        memcpy(seg, path, n);
        seg[n] = '\0';
        obj = json_object_get(obj, seg);
        path += n + (path[n] == '.');
    }
    return *path ? NULL : obj;
}

/* Sensitive values the state will hold as they are (write-only ones are
 * digests, service-generated secrets included): said before applying when
 * the state is not encrypted. */
static void warn_clear_state(const struct session *s, const struct plan *plan)
{
    struct buf b;
    size_t n = 0;
    if (crypt_keys_enabled(&s->sc.keys))
        return;
    buf_init(&b, 0);
    for (size_t i = 0; i < plan->n; i++) {
        const struct plan_change *c = &plan->changes[i];
        const struct schema_kind *k = schema_find(c->kind);
        size_t j;
        const json_t *p;
        if (c->action == PLAN_DELETE || k == NULL)
            continue;
        json_array_foreach(c->sensitive, j, p)
        {
            const char *path = json_string_value(p);
            const json_t *v = path ? value_at(c->after, path) : NULL;
            const struct schema_attr *a;
            char head[256];
            if (v == NULL || json_is_null(v) || value_contains_unknown(v))
                continue;
            snprintf(head, sizeof(head), "%.*s", (int)strcspn(path, "."), path);
            a = schema_attr_find(k, path);
            if (a == NULL) /* a key inside a map: the map's attribute */
                a = schema_attr_find(k, head);
            if (a && (a->flags & SF_WRITE_ONLY))
                continue;
            if (n++ < 4)
                buf_addf(&b, "%s%s %s", n > 1 ? ", " : "", c->address, path);
        }
        /* what the service generates (an App Insights connection string):
         * known only once applied, kept in the state as ARM returns it */
        for (const struct schema_attr *a = k->body.attrs; a->name; a++)
            if ((a->flags & SF_COMPUTED) && (a->flags & SF_SENSITIVE) && n++ < 4)
                buf_addf(&b, "%s%s %s", n > 1 ? ", " : "", c->address, a->name);
    }
    {
        const char *name;
        json_t *o;
        json_object_foreach(plan->outputs, name,
                            o) if (json_is_true(json_object_get(o, "sensitive"))) if (n++ < 4)
            buf_addf(&b, "%soutput.%s", n > 1 ? ", " : "", name);
    }
    if (n)
        cli_warn("the state will hold %zu sensitive value%s in clear (%s%s): it is not encrypted; "
                 "set AMLSEC_STATE_PASSPHRASE or AMLSEC_STATE_KEY (docs/state.md)",
                 n, n == 1 ? "" : "s", b.ptr ? b.ptr : "", n > 4 ? ", ..." : "");
    buf_release(&b);
}

/* The module paths the state's addresses lie under (module.a["x"] and
 * module.a["x"].module.b for module.a["x"].module.b.TYPE.NAME): an implicit
 * move whose module the state does not hold is one look-up, not a pass
 * over the state. */
static int state_module_paths(struct strmap *paths, const struct state *st)
{
    strmap_init(paths, false);
    for (size_t k = 0; k < st->nresources; k++) {
        const char *a = st->resources[k].address, *tail;
        char *path;
        size_t len;
        if (a == NULL || strncmp(a, "module.", 7) != 0 || (tail = config_address_tail(a)) == a)
            continue;
        if ((path = strndup(a, (size_t)(tail - a) - 1)) == NULL)
            return AMLSEC_ENOMEM;
        for (len = strlen(path); len > 0; len = plan_module_parent_len(path)) {
            path[len] = '\0';
            if (strmap_put(paths, path, 1) < 0) {
                free(path);
                return AMLSEC_ENOMEM;
            }
        }
        free(path);
    }
    return 0;
}

/* The configuration's moved and import blocks applied to the session's
 * state before planning (in memory: apply saves it, plan does not):
 * moved renames the state's entry (every instance of it when `from` names
 * a resource with for_each), import reads the ARM id and records it. What
 * was done goes in *out for the plan to show and keep. */
static int adopt(struct session *s, const struct config *cfg, json_t **out)
{
    struct errbuf err = ERRBUF_INIT;
    json_t *adj = json_array();
    struct strmap held; /* module paths in the state, for implicit moves */
    bool implicit = false;
    *out = NULL;
    for (size_t i = 0; i < cfg->nmoves; i++)
        implicit |= cfg->moves[i].implicit;
    if (implicit && state_module_paths(&held, &s->st) < 0) {
        strmap_release(&held);
        goto oom;
    }
    for (size_t i = 0; i < cfg->nmoves; i++) {
        const char *from = cfg->moves[i].from, *to = cfg->moves[i].to;
        size_t n = strlen(from), nmatch = 0, one;
        char **match;
        if (cfg->moves[i].implicit && !strmap_get(&held, from, &one))
            continue; /* the state holds nothing under it */
        if ((match = calloc(s->st.nresources + 1, sizeof(*match))) == NULL) {
            if (implicit)
                strmap_release(&held);
            goto oom;
        }
        /* a resource: it, or every instance of it; a module: every
         * resource under it (and under its instances when neither names
         * an instance: module.a -> module.b keeps the keys) */
        bool module = config_is_module_address(from);
        bool keyed = from[n - 1] != ']' && to[strlen(to) - 1] != ']';
        for (size_t k = 0; k < s->st.nresources; k++) {
            const char *a = s->st.resources[k].address;
            if (strncmp(a, from, n) == 0 &&
                ((!module && a[n] == '\0') || (module && a[n] == '.') || (a[n] == '[' && keyed)))
                match[nmatch++] = strdup(a);
        }
        /* the block's renames made at once: a module of k entries is one
         * pass over the state, not k (state_rename) */
        struct state_renames rn = {0};
        for (size_t k = 0; k < nmatch && err.code == 0; k++) {
            char *dest = NULL;
            if (match[k] == NULL || asprintf(&dest, "%s%s", to, match[k] + n) < 0) {
                errbuf_set(&err, AMLSEC_ENOMEM, "out of memory");
                break;
            } else if (state_find(&s->st, dest) && cfg->moves[i].implicit) {
                /* count added or removed: the state has both, nothing moves */
            } else if (state_find(&s->st, dest)) {
                errbuf_set(&err, AMLSEC_ECONFLICT,
                           "cannot move %s to %s: %s is already in the state (remove the moved "
                           "block, or 'amlsec state rm' one of them)",
                           match[k], dest, dest);
            } else if (state_renames_add(&rn, match[k], dest, &err) < 0) {
                free(dest);
                break;
            }
            free(dest);
        }
        if (err.code == 0 && state_rename(&s->st, &rn, &err) == 0) {
            for (size_t k = 0; k < rn.n; k++)
                json_array_append_new(adj, json_pack("{s:s, s:s, s:s}", "action", "move", "from",
                                                     rn.from[k], "to", rn.to[k]));
        }
        state_renames_release(&rn);
        for (size_t j = 0; j < nmatch; j++)
            free(match[j]);
        free(match);
        if (err.code != 0) {
            /* an invalid move is an error, as in Terraform: planning on
             * would destroy what it failed to rename and create it anew;
             * nothing is planned, and nothing written (the renames made so
             * far are in memory only) */
            cli_error("moved: %s; nothing was planned, and the state is unchanged", err.msg);
            if (json_ui) {
                char msg[ERRBUF_MAX + 128];
                snprintf(msg, sizeof(msg), "moved: %s", err.msg);
                ui_json_error(msg);
            }
            json_decref(adj);
            if (implicit)
                strmap_release(&held);
            return EXIT_FAIL;
        }
    }
    if (implicit)
        strmap_release(&held);
    for (size_t i = 0; i < cfg->nimports; i++) {
        const struct cfg_import *im = &cfg->imports[i];
        struct state_resource *r;
        json_t *attrs = NULL, *shown;
        bool secret;
        if (state_find(&s->st, im->to))
            continue; /* imported already: the block is a no-op */
        if (session_import(s, cfg, im->to, im->id) != EXIT_OK) {
            json_decref(adj);
            return EXIT_FAIL;
        }
        r = state_find(&s->st, im->to);
        if (state_resource_attributes(&attrs, r, &err) < 0)
            goto oom;
        /* the ARM body read holds a secret when hiding them as `state show`
         * does changes it (what the catalogue marks secret, such as a
         * connection string ARM returns): the saved plan keeps the body,
         * so it must then be sealed as any sensitive plan (secret) */
        shown = state_cli_redacted(r, &err);
        secret = shown == NULL || !json_equal(shown, attrs) || json_array_size(r->sensitive) > 0;
        json_decref(shown);
        json_array_append_new(adj, json_pack("{s:s, s:s, s:s, s:{s:s, s:s, s:s, s:O, s:O, s:b}}",
                                             "action", "import", "address", im->to, "id", im->id,
                                             "entry", "kind", r->kind, "arm_id", r->arm_id,
                                             "api_version", r->api_version, "attributes", attrs,
                                             "sensitive", r->sensitive ? r->sensitive : json_null(),
                                             "secret", secret));
    }
    if (json_array_size(adj))
        *out = adj;
    else
        json_decref(adj);
    return EXIT_OK;
oom:
    json_decref(adj);
    cli_error("out of memory");
    return EXIT_FAIL;
}

/* apply PLANFILE: the saved plan's moves and imports, done to the state
 * again before its changes. */
static int replay_adjustments(struct session *s, const struct plan *plan)
{
    struct errbuf err = ERRBUF_INIT;
    struct state_renames rn = {0}; /* moves made at once (state_rename) */
    struct strmap dest;            /* their destinations: a move from one comes after them */
    size_t i, at;
    json_t *a;
    int rc = 0;
    strmap_init(&dest, false);
    for (i = 0; i <= json_array_size(plan->adjustments) && rc == 0; i++) {
        const char *action, *from, *to;
        bool move;
        a = json_array_get(plan->adjustments, i); /* NULL at the end: the last moves made */
        action = json_string_value(json_object_get(a, "action"));
        move = action && strcmp(action, "move") == 0;
        from = json_string_value(json_object_get(a, "from"));
        to = json_string_value(json_object_get(a, "to"));
        if (rn.n && (!move || (from && strmap_get(&dest, from, &at)))) {
            rc = state_rename(&s->st, &rn, &err);
            state_renames_release(&rn);
            strmap_release(&dest);
            strmap_init(&dest, false);
        }
        if (rc < 0 || a == NULL) {
            continue;
        } else if (move) {
            if (from == NULL || to == NULL)
                rc = errbuf_set(&err, AMLSEC_EPARSE, "a move in the saved plan lacks from or to");
            else if ((rc = state_renames_add(&rn, from, to, &err)) == 0 &&
                     strmap_put(&dest, to, 0) < 0)
                rc = errbuf_set(&err, AMLSEC_ENOMEM, "out of memory");
        } else {
            const json_t *e = json_object_get(a, "entry");
            struct state_resource r;
            memset(&r, 0, sizeof(r));
            r.address = (char *)json_string_value(json_object_get(a, "address"));
            r.kind = (char *)json_string_value(json_object_get(e, "kind"));
            r.arm_id = (char *)json_string_value(json_object_get(e, "arm_id"));
            r.api_version = (char *)json_string_value(json_object_get(e, "api_version"));
            r.attributes = json_object_get(e, "attributes");
            r.sensitive = json_is_array(json_object_get(e, "sensitive"))
                              ? json_object_get(e, "sensitive")
                              : NULL;
            r.dependencies = json_array();
            r.status = STATE_STATUS_CREATED;
            if (!r.address || !r.kind || !r.arm_id || !r.api_version ||
                !json_is_object(r.attributes))
                rc = errbuf_set(&err, AMLSEC_EPARSE, "an import in the saved plan lacks its entry");
            else if (state_find(&s->st, r.address))
                rc = errbuf_set(&err, AMLSEC_ECONFLICT, "'%s' is in the state already", r.address);
            else
                rc = state_put(&s->st, &r, &err);
            json_decref(r.dependencies);
        }
    }
    state_renames_release(&rn);
    strmap_release(&dest);
    if (rc < 0) {
        cli_error("saved plan: %s", err.msg);
        return EXIT_FAIL;
    }
    return EXIT_OK;
}

/* Saves the state the moved and import blocks changed (before the
 * plan's changes run, or when there are none). */
static int save_adjusted(struct session *s, const struct plan *plan)
{
    struct errbuf err = ERRBUF_INIT;
    if (json_array_size(plan->adjustments) == 0)
        return EXIT_OK;
    if (state_backend_save(s->sc.be, &s->st, &s->sc.keys, &err) < 0) {
        cli_error("%s", err.msg);
        return EXIT_FAIL;
    }
    return EXIT_OK;
}

/* After an apply: the outputs, with what the state now knows filled in,
 * are recorded in the state (saved when they changed) and printed. */
static int finish_outputs(struct session *s, const struct plan *plan, int color)
{
    struct errbuf err = ERRBUF_INIT;
    json_t *outputs = plan_outputs_final(plan, &s->st);
    json_t *empty = json_object();
    int rc = EXIT_OK;
    if (outputs == NULL || empty == NULL) {
        cli_error("out of memory");
        rc = EXIT_FAIL;
    } else if (!json_equal(outputs, s->st.outputs ? s->st.outputs : empty)) {
        state_set_outputs(&s->st, outputs);
        if (state_backend_save(s->sc.be, &s->st, &s->sc.keys, &err) < 0) {
            cli_error("%s", err.msg);
            rc = EXIT_FAIL;
        }
    }
    if (rc == EXIT_OK && !json_ui)
        plan_render_outputs(stdout, outputs, color);
    else if (rc == EXIT_OK && json_object_size(outputs))
        ui_json_outputs(outputs);
    json_decref(outputs);
    json_decref(empty);
    return rc;
}

/* added, changed, destroyed: what was done (the plan's counts when every
 * change completed; 0 when the plan had only moves and imports). */
static void print_apply_complete(const struct plan *plan, size_t added, size_t changed,
                                 size_t destroyed)
{
    char imported[64] = "";
    if (plan->nimports)
        snprintf(imported, sizeof(imported), "%zu imported, ", plan->nimports);
    printf("\nApply complete! Resources: %s%zu added, %zu changed, %zu destroyed.\n", imported,
           added, changed, destroyed);
}

static int execute(struct session *s, const struct plan *plan, unsigned parallelism)
{
    struct apply_result res;
    struct progress pr = {NULL, 0};
    struct apply_opts ao = {on_event, &pr, &interrupted, parallelism,
                            isatty(STDOUT_FILENO) ? 10.0 : 0};
    struct sigaction sa, old_int, old_term;
    struct errbuf err = ERRBUF_INIT;
    int rc;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    interrupted = 0;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    rc = apply_run(&res, plan, &s->st, s->sc.be, &s->sc.keys, &s->journal, s->provider, &ao, &err);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    for (size_t i = 0; i < pr.nfailures; i++) {
        if (i == 0)
            fputc('\n', stderr);
        cli_error("%s", pr.failures[i]);
        free(pr.failures[i]);
    }
    free(pr.failures);
    /* the summary says what was done, whatever stopped the run (an ARM
     * error, a false validation, a client failure): never the plan's counts
     * for changes that did not happen */
    if (rc < 0) {
        cli_error("%s", err.msg);
        if (json_ui) {
            ui_json_error(err.msg);
            ui_json_apply_summary(plan, res.added, res.changed, res.destroyed, false);
        } else {
            fprintf(stderr, "Resources: %zu added, %zu changed, %zu destroyed.\n", res.added,
                    res.changed, res.destroyed);
        }
        return EXIT_FAIL;
    }
    if (json_ui)
        ui_json_apply_summary(plan, res.added, res.changed, res.destroyed,
                              !(res.failed || res.skipped || res.not_started || res.abandoned ||
                                res.invalid || interrupted));
    if (res.failed || res.skipped || res.not_started || res.abandoned || res.invalid) {
        fprintf(stderr,
                "\namlsec: error: apply incomplete: %zu done, %zu failed, %zu skipped, %zu not "
                "started",
                res.done, res.failed, res.skipped, res.not_started);
        if (res.abandoned)
            fprintf(stderr, ", %zu abandoned in flight (the journal keeps them)", res.abandoned);
        fprintf(stderr,
                "%s\nResources: %zu added, %zu changed, %zu destroyed.\nRe-run apply to "
                "converge; what succeeded is in the state.\n",
                interrupted ? " (interrupted)" : "", res.added, res.changed, res.destroyed);
        return EXIT_FAIL;
    }
    if (interrupted) {
        /* the signal came after the last operation had started */
        fprintf(stderr, "\namlsec: error: interrupted; every operation had already started and "
                        "completed\n");
        return EXIT_FAIL;
    }
    if (!json_ui && plan->destroy)
        printf("\nDestroy complete! Resources: %zu destroyed.\n", res.destroyed);
    else if (!json_ui)
        print_apply_complete(plan, res.added, res.changed, res.destroyed);
    return EXIT_OK;
}

/* A cloud as -cloud names it, for comparison: case and a final '/' aside. */
static bool same_cloud(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    na -= na && a[na - 1] == '/';
    nb -= nb && b[nb - 1] == '/';
    return na == nb && strncasecmp(a, b, na) == 0;
}

/* What the plan records of where it applies (plan JSON "target"). */
static void record_target(struct plan *plan, const char *cloud_flag, const struct config *cfg)
{
    const json_t *sub = json_object_get(cfg->settings, "subscription");
    const json_t *ten = json_object_get(cfg->settings, "tenant");
    const char *esub = getenv("ARM_SUBSCRIPTION_ID"), *eten = getenv("ARM_TENANT_ID");
    plan->cloud = strdup(session_cloud_name(cloud_flag, cfg));
    plan->subscription = json_is_string(sub) ? strdup(json_string_value(sub))
                         : esub && *esub     ? strdup(esub)
                                             : NULL;
    plan->tenant = json_is_string(ten) ? strdup(json_string_value(ten))
                   : eten && *eten     ? strdup(eten)
                                       : NULL;
}

/* Reads the saved plan with the state's keys, before anything else is
 * opened: what it records decides which cloud the session opens. */
static int read_saved(struct plan **out, struct plan_cli *pc)
{
    struct state_cli sc;
    struct errbuf err = ERRBUF_INIT;
    int rc;
    if (state_cli_open(&sc, pc->so.state_path, session_cloud_name(pc->so.cloud, NULL), NULL, 0) !=
        EXIT_OK)
        return EXIT_FAIL;
    rc = planfile_read(out, NULL, pc->path, &sc.keys, plan_key(), &pc->trust, &err);
    state_cli_close(&sc);
    if (rc < 0) {
        cli_error("%s", err.msg);
        return EXIT_FAIL;
    }
    return EXIT_OK;
}

/* The plan's cloud, subscription and tenant against -cloud and the
 * environment: a contradiction is refused before the state is touched. */
static int check_target(const struct plan *plan, struct plan_cli *pc)
{
    const char *esub = getenv("ARM_SUBSCRIPTION_ID"), *eten = getenv("ARM_TENANT_ID");
    if (plan->cloud == NULL) {
        fprintf(stderr,
                "amlsec: warning: saved plan '%s' does not record its cloud (an older "
                "amlsec wrote it); applying it to '%s'\n",
                pc->path, session_cloud_name(pc->so.cloud, NULL));
        return EXIT_OK;
    }
    if (pc->so.cloud && !same_cloud(pc->so.cloud, plan->cloud)) {
        cli_error("saved plan '%s' was made against cloud '%s', but -cloud says '%s'; apply it "
                  "without -cloud, or plan again against '%s'",
                  pc->path, plan->cloud, pc->so.cloud, pc->so.cloud);
        return EXIT_FAIL;
    }
    if (plan->subscription && esub && *esub && strcasecmp(esub, plan->subscription) != 0) {
        cli_error("saved plan '%s' was made for subscription %s, but ARM_SUBSCRIPTION_ID is %s",
                  pc->path, plan->subscription, esub);
        return EXIT_FAIL;
    }
    if (plan->tenant && eten && *eten && strcasecmp(eten, plan->tenant) != 0) {
        cli_error("saved plan '%s' was made for tenant %s, but ARM_TENANT_ID is %s", pc->path,
                  plan->tenant, eten);
        return EXIT_FAIL;
    }
    pc->so.cloud = plan->cloud;
    return EXIT_OK;
}

/* Says what protects the plan against deliberate edits; with
 * -require-signed-plan, refuses one that is not signed with AMLSEC_PLAN_KEY. */
static int check_trust(struct plan_cli *pc)
{
    const struct planfile_trust *t = &pc->trust;
    if (pc->require_signed && !t->verified) {
        cli_error("-require-signed-plan: saved plan '%s' %s", pc->path,
                  plan_key() == NULL ? "cannot be checked: AMLSEC_PLAN_KEY is not set"
                  : t->signed_       ? "is signed, but not verified"
                                     : "is not signed (make it with AMLSEC_PLAN_KEY set)");
        return EXIT_FAIL;
    }
    if (t->verified)
        return EXIT_OK;
    if (t->signed_ && !t->sealed)
        fprintf(stderr,
                "amlsec: warning: saved plan '%s' is signed, but AMLSEC_PLAN_KEY is not "
                "set: its signature is not checked\n",
                pc->path);
    if (!t->sealed)
        fprintf(stderr,
                "amlsec: warning: saved plan '%s' is neither encrypted nor verified as signed: its "
                "checksum only catches accidental damage, not deliberate edits (anyone can "
                "recompute it); set AMLSEC_PLAN_KEY when planning and applying, and use "
                "-require-signed-plan, to refuse forged plans (docs/workflow.md)\n",
                pc->path);
    return EXIT_OK;
}

/* apply FILE: the saved plan must match the cloud it was made for and the
 * state it was made against. */
static int apply_saved(struct plan_cli *pc)
{
    struct session s;
    struct plan *plan = NULL;
    int rc = EXIT_FAIL;

    memset(&s, 0, sizeof(s));
    if (read_saved(&plan, pc) != EXIT_OK || check_target(plan, pc) != EXIT_OK ||
        check_trust(pc) != EXIT_OK)
        goto out;
    for (size_t i = 0; i < plan->n; i++) {
        load_register_secrets(plan->changes[i].after, plan->changes[i].sensitive);
        load_register_secrets(plan->changes[i].before, plan->changes[i].sensitive);
    }
    pc->so.need_cloud = true;
    pc->so.lock = true;
    pc->so.sign_in_first = true;
    if (json_ui)
        ui_json_version();
    if (session_open(&s, &pc->so, NULL) != EXIT_OK)
        goto out;
    /* an empty state at serial 0 is one never written (a pushed state may
     * sit at serial 0 too, but then holds resources and its lineage
     * decides): a plan made before the first apply is current while there
     * is still none, and the state it creates takes the plan's lineage */
    if (plan->serial == 0 && s.st.serial == 0 && s.st.nresources == 0)
        memcpy(s.st.lineage, plan->lineage, sizeof(s.st.lineage));
    if (strcmp(plan->lineage, s.st.lineage) != 0 || plan->serial != s.st.serial) {
        cli_error("saved plan '%s' is stale: it was made against state %s serial %llu, but the "
                  "state is now %s serial %llu; run plan again",
                  pc->path, plan->lineage, (unsigned long long)plan->serial, s.st.lineage,
                  (unsigned long long)s.st.serial);
        goto out;
    }
    if (replay_adjustments(&s, plan) != EXIT_OK || save_adjusted(&s, plan) != EXIT_OK)
        goto out;
    if (!plan_has_changes(plan)) {
        if (json_ui)
            ui_json_apply_summary(plan, 0, 0, 0, true);
        else if (json_array_size(plan->adjustments))
            print_apply_complete(plan, 0, 0, 0);
        else if (plan->noutput_changes == 0)
            printf("No changes to apply.\n");
        rc = finish_outputs(&s, plan, pc->color);
        goto out;
    }
    warn_clear_state(&s, plan);
    rc = execute(&s, plan, pc->so.parallelism);
    if (rc == EXIT_OK)
        rc = finish_outputs(&s, plan, pc->color);
out:
    plan_free(plan);
    session_close(&s);
    return rc;
}

static int policy_gate(struct plan_cli *pc, const struct config *cfg, const struct plan *plan,
                       struct session *s, const struct diag_list *diags);

static int run(struct plan_cli *pc, struct cli_ctx *ctx)
{
    struct diag_list diags;
    struct errbuf err = ERRBUF_INIT;
    struct config *cfg = NULL;
    struct plan *plan = NULL;
    struct plan_opts po;
    struct session s;
    json_t *adjusted = NULL;
    bool session_ok = false;
    int rc = EXIT_FAIL, lrc;

    memset(&s, 0, sizeof(s));
    diag_list_init(&diags);
    if (json_ui)
        ui_json_version();
    lrc = load_config_checked(&cfg, pc->path ? pc->path : ".", &pc->la, LOAD_RULES, &diags, &err);
    if (lrc < 0) {
        if (json_ui)
            ui_json_diags(&diags);
        load_report_failure(lrc, &diags, &err, pc->color);
        goto out;
    }
    session_prepare_config(pc->so.cloud, cfg);
    pc->so.need_cloud = pc->refresh || pc->mode != MODE_PLAN;
    pc->so.lock = true;
    if (session_open(&s, &pc->so, cfg) != EXIT_OK)
        goto out;
    session_ok = true;
    if (session_seed_existing(&s, cfg) != EXIT_OK)
        goto out;
    memset(&po, 0, sizeof(po));
    po.targets = pc->targets;
    po.ntargets = pc->ntargets;
    po.replace = pc->replace;
    po.nreplace = pc->nreplace;
    po.destroy = pc->destroy || pc->mode == MODE_DESTROY;
    po.refresh = pc->refresh;
    po.journal = s.journal_open ? &s.journal : NULL;
    if (!po.destroy && adopt(&s, cfg, &adjusted) != EXIT_OK)
        goto out;
    lrc = plan_build(&plan, cfg, &s.st, s.provider, &po, &diags, &err);
    if (plan) {
        size_t ai;
        json_t *a;
        plan->adjustments = adjusted;
        adjusted = NULL;
        json_array_foreach(plan->adjustments, ai, a) plan->nimports +=
            strcmp(json_string_value(json_object_get(a, "action")), "import") == 0;
        /* the changes to resources a moved block renamed name where they came from */
        if (plan_set_previous_addresses(plan) < 0) {
            cli_error("out of memory");
            goto out;
        }
    }
    if (json_ui)
        ui_json_diags(&diags);
    else if (pc->compact_warnings)
        load_print_diags_compact(&diags, pc->color);
    else
        load_print_diags(&diags, pc->color);
    if (lrc < 0) {
        if (lrc != AMLSEC_EPARSE)
            cli_error("%s", err.msg);
        goto out;
    }
    record_target(plan, pc->so.cloud, cfg);
    if (json_ui)
        ui_json_plan(plan);
    else
        plan_render_text(stdout, plan, pc->color);
    if (!po.destroy && policy_gate(pc, cfg, plan, &s, &diags) < 0)
        goto out;
    if (pc->out) {
        int rc_write;
        /* where each block is written and its expressions: check -plan's
         * locations, show -json's configuration (made entry by entry as
         * the file is written) */
        plan->configuration_of = cfg;
        rc_write = planfile_write(pc->out, plan, &s.sc.keys, plan_key(), &err);
        plan->configuration_of = NULL;
        if (rc_write < 0) {
            cli_error("%s", err.msg);
            goto out;
        }
        if (json_ui) {
            char msg[8192];
            snprintf(msg, sizeof(msg), "Saved the plan to: %s", pc->out);
            ui_json_log("info", msg);
        } else {
            printf("\nSaved the plan to: %s\nTo perform exactly these actions, run: amlsec "
                   "apply %s\n",
                   pc->out, pc->out);
        }
    }
    if (pc->mode == MODE_PLAN) {
        size_t missing = 0;
        for (size_t i = 0; i < diags.n; i++)
            missing += live_rules_missing_grant(&diags.items[i]);
        /* a workspace identity without a grant it needs is drift too: the
         * printout says so when nothing else explains the 2 */
        if (pc->detailed && missing && !plan_has_changes(plan) && plan->ndrift == 0) {
            char msg[256];
            snprintf(msg, sizeof(msg),
                     "%zu missing grant%s of a workspace identity (WS-MI-PERMS, above): exit "
                     "code 2.",
                     missing, missing == 1 ? "" : "s");
            if (json_ui)
                ui_json_log("info", msg);
            else
                printf("\n%s\n", msg);
        }
        /* the printout and the code agree: 2 for changes, for drift shown
         * and for missing grants */
        rc = pc->detailed && (plan_has_changes(plan) || plan->noutput_changes ||
                              json_array_size(plan->adjustments) || plan->ndrift > 0 || missing)
                 ? EXIT_CHANGES
                 : EXIT_OK;
        goto out;
    }
    if (!plan_has_changes(plan) && json_array_size(plan->adjustments) == 0) {
        /* outputs that changed are recorded: no real infrastructure changes */
        if (json_ui)
            ui_json_apply_summary(plan, 0, 0, 0, true);
        rc = finish_outputs(&s, plan, pc->color);
        goto out;
    }
    warn_clear_state(&s, plan);
    if (!pc->auto_approve && !pc->input) {
        cli_error("%s needs approval and -input=false forbids asking for it: add -auto-approve, "
                  "or save the plan (plan -out FILE) and apply that",
                  pc->mode == MODE_DESTROY ? "destroy" : "apply");
        goto out;
    }
    if (!pc->auto_approve && !confirm(plan)) {
        cli_error("apply cancelled");
        goto out;
    }
    if (save_adjusted(&s, plan) != EXIT_OK)
        goto out;
    if (plan_has_changes(plan)) {
        rc = execute(&s, plan, pc->so.parallelism);
    } else {
        if (json_ui)
            ui_json_apply_summary(plan, 0, 0, 0, true);
        else
            print_apply_complete(plan, 0, 0, 0);
        rc = EXIT_OK;
    }
    if (rc == EXIT_OK)
        rc = finish_outputs(&s, plan, pc->color);
    (void)ctx;
out:
    json_decref(adjusted);
    plan_free(plan);
    if (session_ok || s.sc_open)
        session_close(&s);
    config_free(cfg);
    diag_list_release(&diags);
    return rc;
}

/* The configuration's Azure Policy assignments against the planned
 * requests (cmd/check.h): what Azure would deny or audit shows before any
 * approval. The reports (-sarif, -junit, -markdown) take these findings and
 * the diagnostics. */
static int policy_gate(struct plan_cli *pc, const struct config *cfg, const struct plan *plan,
                       struct session *s, const struct diag_list *diags)
{
    struct finding_list pf, all;
    struct report_meta meta = {"plan", AMLSEC_VERSION, plan};
    int rc = 0;

    finding_list_init(&all);
    if (check_plan_policies(&pf, cfg, plan, NULL, s->client, pc->path ? pc->path : ".") < 0) {
        cli_error("out of memory");
        return -1;
    }
    if (json_ui) {
        ui_json_findings(&pf);
    } else if (pf.count[FINDING_DENY] + pf.count[FINDING_AUDIT] > 0) {
        printf("\nAzure Policy: %zu deny, %zu audit (the configuration's policy assignments "
               "against these requests):\n",
               pf.count[FINDING_DENY], pf.count[FINDING_AUDIT]);
        check_print_findings(stdout, &pf, FINDING_AUDIT, pc->color);
        if (pf.count[FINDING_DENY])
            printf("Azure would refuse %zu request(s): applying this plan will fail.\n",
                   pf.count[FINDING_DENY]);
    }
    if (reports_wanted(&pc->rf)) {
        if (findings_from_diags(&all, diags) < 0 || finding_list_append(&all, &pf) < 0) {
            cli_error("out of memory");
            rc = -1;
        } else {
            check_address_findings(&all, cfg);
            if (pc->rf.junit)
                check_rule_passes(&all, cfg);
            finding_list_sort(&all);
            if (!reports_write(&pc->rf, &all, &meta))
                rc = -1;
        }
    }
    finding_list_release(&pf);
    finding_list_release(&all);
    return rc;
}

static int main_of(enum mode mode, const char *name, int argc, char **argv, struct cli_ctx *ctx)
{
    const struct command *self = command_find(name);
    static const struct option opts[] = {{"out", required_argument, NULL, 'o'},
                                         {"detailed-exitcode", no_argument, NULL, 'd'},
                                         {"refresh", optional_argument, NULL, 'r'},
                                         {"target", required_argument, NULL, 't'},
                                         {"replace", required_argument, NULL, 'R'},
                                         {"destroy", no_argument, NULL, 'D'},
                                         {"auto-approve", no_argument, NULL, 'y'},
                                         {"require-signed-plan", no_argument, NULL, 'Q'},
                                         {"no-color", no_argument, NULL, 'n'},
                                         {"cloud", required_argument, NULL, 'c'},
                                         {"state", required_argument, NULL, 's'},
                                         {"lock", optional_argument, NULL, 'L'},
                                         {"lock-timeout", required_argument, NULL, 'l'},
                                         {"input", optional_argument, NULL, 'i'},
                                         {"compact-warnings", no_argument, NULL, 'w'},
                                         {"parallelism", required_argument, NULL, 'p'},
                                         {"json", no_argument, NULL, 'j'},
                                         REPORT_OPTIONS,
                                         LOAD_OPTIONS,
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    struct plan_cli pc;
    int c;

    memset(&pc, 0, sizeof(pc));
    pc.mode = mode;
    pc.refresh = 1;
    pc.input = 1;
    pc.color = ctx->color;
    pc.so.operation = name;
    pc.so.parallelism = 10;
    while ((c = cli_getopt(argc, argv, opts, self)) != -1) {
        if (reports_take(&pc.rf, c, optarg)) {
            if (mode != MODE_PLAN)
                return cli_usage_error(self, "-sarif, -junit and -markdown are plan flags");
            continue;
        }
        switch (c) {
        case 'j':
            json_ui = 1;
            break;
        case 'o':
            if (mode != MODE_PLAN)
                return cli_usage_error(self, "-out is a plan flag");
            pc.out = optarg;
            break;
        case 'd':
            if (mode != MODE_PLAN)
                return cli_usage_error(self, "-detailed-exitcode is a plan flag");
            pc.detailed = 1;
            break;
        case 'r':
            if (optarg && cli_parse_bool(optarg, &pc.refresh) < 0)
                return cli_usage_error(self, "-refresh takes true or false, not '%.*s'",
                                       CLI_QUOTE_MAX, optarg);
            if (optarg == NULL)
                pc.refresh = 1;
            break;
        case 'L':
        case 'i': {
            int on = 1;
            if (optarg && cli_parse_bool(optarg, &on) < 0)
                return cli_usage_error(self, "-%s takes true or false, not '%.*s'",
                                       c == 'L' ? "lock" : "input", CLI_QUOTE_MAX, optarg);
            if (c == 'L')
                pc.so.no_lock = !on;
            else
                pc.input = on;
            break;
        }
        case 'w':
            pc.compact_warnings = 1;
            break;
        case 't':
        case 'R':
            if ((c == 't' ? pc.ntargets : pc.nreplace) == MAX_ADDRS)
                return cli_usage_error(self, "too many -%s flags", c == 't' ? "target" : "replace");
            if (c == 't')
                pc.targets[pc.ntargets++] = optarg;
            else
                pc.replace[pc.nreplace++] = optarg;
            break;
        case 'D':
            pc.destroy = 1;
            break;
        case 'y':
            if (mode == MODE_PLAN)
                return cli_usage_error(self, "-auto-approve is an apply flag");
            pc.auto_approve = 1;
            break;
        case 'Q':
            if (mode != MODE_APPLY)
                return cli_usage_error(self, "-require-signed-plan is an apply flag");
            pc.require_signed = 1;
            break;
        case 'n':
            pc.color = 0;
            break;
        case 'c':
            pc.so.cloud = optarg;
            break;
        case 's':
            pc.so.state_path = optarg;
            break;
        case 'l':
            pc.so.lock_timeout_ms = state_cli_parse_duration_ms(optarg);
            if (pc.so.lock_timeout_ms < 0)
                return cli_usage_error(self, "bad -lock-timeout '%s'", optarg);
            break;
        case 'p':
            if (cli_parse_parallelism(self, optarg, &pc.so.parallelism) != EXIT_OK)
                return EXIT_FAIL;
            break;
        case 'V':
        case 'F':
            if (!load_args_take(&pc.la, c, optarg, self))
                return EXIT_FAIL;
            break;
        case CLI_HELP:
            fputs(self->usage, stdout);
            return EXIT_OK;
        default:
            return EXIT_FAIL;
        }
    }
    if (optind < argc)
        pc.path = argv[optind++];
    if (optind < argc)
        return cli_usage_error(self, "unexpected argument '%s'", argv[optind]);
    if (json_ui && mode != MODE_PLAN && !pc.auto_approve) {
        struct stat jst;
        /* nothing to answer a question on: a saved plan, or -auto-approve */
        if (!(mode == MODE_APPLY && pc.path && stat(pc.path, &jst) == 0 && S_ISREG(jst.st_mode) &&
              strstr(pc.path, ".amlsec") == NULL))
            return cli_usage_error(self, "-json needs -auto-approve or a saved plan");
    }
    if (mode == MODE_APPLY && pc.path) {
        struct stat st;
        /* apply FILE applies a saved plan; apply DIR (or a .amlsec file) plans first */
        if (stat(pc.path, &st) == 0 && S_ISREG(st.st_mode) && strstr(pc.path, ".amlsec") == NULL)
            return apply_saved(&pc);
    }
    if (pc.require_signed)
        return cli_usage_error(self, "-require-signed-plan applies a saved plan: apply PLANFILE");
    return run(&pc, ctx);
}

int cmd_plan(int argc, char **argv, struct cli_ctx *ctx)
{
    return main_of(MODE_PLAN, "plan", argc, argv, ctx);
}

int cmd_apply(int argc, char **argv, struct cli_ctx *ctx)
{
    return main_of(MODE_APPLY, "apply", argc, argv, ctx);
}

int cmd_destroy(int argc, char **argv, struct cli_ctx *ctx)
{
    return main_of(MODE_DESTROY, "destroy", argc, argv, ctx);
}
