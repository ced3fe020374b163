#include "engine/apply.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "engine/known.h"
#include "parser/eval.h"
#include "parser/value.h"
#include "providers/arm/render.h"
#include "util/error.h"
#include "util/log.h"
#include "util/strmap.h"
#include "util/jsonw.h"
#include "util/banned.h"

enum step_status { ST_PENDING, ST_RUNNING, ST_DONE, ST_FAILED, ST_SKIPPED };

/* What one operation does. A change is one or two operations run in
 * order (a replacement: delete then create, or create then delete the
 * renamed-away old resource). */
enum op_kind {
    OP_FORGET, /* a delete that is only state: the parent's deletion took it */
    OP_DELETE,
    OP_PUT, /* create, update, or the create half of a replacement */
    OP_DELETE_PREVIOUS,
};

struct op {
    size_t change;
    enum op_kind kind;
    enum journal_op jop;
    json_t *body; /* OP_PUT: the request, unknown values filled in (owned) */
    char journal_id[STATE_LINEAGE_LEN + 1];
    double started;
    double next_progress; /* when the next progress event is due */
};

/* Per change: its operations and where it stands. */
struct step {
    struct op ops[2];
    unsigned nops, cur;
    size_t deps_left;   /* dependencies not yet done */
    size_t *dependents; /* changes that depend on this one */
    size_t ndependents;
    char *arm_id; /* the change's id when the plan could not know it, derived once its
                     dependencies are done (owned); else NULL */
};

struct run {
    const struct plan *plan;
    struct state *st;
    struct state_backend *be;
    struct crypt_keys *keys;
    struct journal *j;
    struct provider *p;
    const struct apply_opts *o;
    enum step_status *status;
    struct step *steps;
    size_t *ready; /* changes whose dependencies are all done, FIFO */
    size_t ready_head, nready;
    struct op **running; /* operations in flight */
    size_t nrunning;
    unsigned parallelism;
    /* outcomes folded into st but not yet in a saved state: their journal
     * entries are marked done after the next checkpoint */
    char (*unsaved)[STATE_LINEAGE_LEN + 1];
    size_t nunsaved;
    bool dirty;            /* st changed since the last save */
    bool intents_unsynced; /* journal intents written but not yet synced */
    /* the provider's client failed (client_err): nothing new starts, and
     * the `unknown` writes it left unfinished keep their journal intents */
    bool client_failed;
    struct errbuf client_err;
    size_t unknown;
    double last_save;
    struct errbuf *err;
    /* validations checked at apply (plan->checks): per check whether it is
     * still pending, and the changes it holds back until then (its
     * "guards": what reads its variable; guard_off/guard, CSR); per change
     * how many pending checks hold it, and whether it waits for them */
    bool *check_pending;
    size_t checks_pending;
    size_t *guard_off, *guard;
    size_t *read_off, *read;       /* the changes each check reads (CSR) */
    size_t *readers_off, *readers; /* the checks reading each change (CSR) */
    size_t *reads_left;            /* per check: what it reads not yet done */
    size_t *due, ndue;             /* checks whose reads are all done, to check */
    size_t *holds;
    bool *held;
    bool invalid; /* one was false: what it held never starts */
    size_t ninvalid;
};

static int stop_level(const struct run *r);

/* The journal is the run's incremental record: each outcome is in it,
 * durably (group commit), as soon as it is folded into the in-memory
 * state, and a run killed at any moment is recovered from it (the next
 * run folds the journaled outcomes, reading only what was in flight). The
 * state is written whole at the end of the run, and before that only to
 * compact the journal:
 * - the local backend (the journal lies next to the state file): when the
 *   journal has outgrown the state and CHECKPOINT_LOG_MIN. What the saves
 *   write is then bounded by what the journal wrote (about one resource
 *   per outcome), whatever the size, and with no clock in the rule; the
 *   journal stays smaller than the state (it once saved every second: a
 *   50k-resource apply was quadratic; then when the outcomes since the
 *   last save were an eighth of the state: up to eight resources written
 *   per outcome).
 * - a remote backend (azurerm) is the record a team shares, and the
 *   journal is on this machine only: a save is due when CHECKPOINT_EVERY_S
 *   has passed and the outcomes since the last save number 1/
 *   CHECKPOINT_SHARE of the state (at most that share of the state is left
 *   for another machine to find missing after a kill; at most
 *   CHECKPOINT_SHARE resources written per outcome). */
#define CHECKPOINT_LOG_MIN ((size_t)1 << 20)
#define CHECKPOINT_EVERY_S 1.0
#define CHECKPOINT_SHARE 8

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The ARM id change i creates or updates. */
static const char *change_id(const struct run *r, size_t i)
{
    return r->steps[i].arm_id ? r->steps[i].arm_id : r->plan->changes[i].arm_id;
}

static void emit_id(const struct run *r, enum apply_event_kind kind, size_t i, const char *id,
                    const char *verb, double seconds, const char *message)
{
    struct apply_event ev = {kind, &r->plan->changes[i], id, verb, seconds, message, 0, NULL,
                             false};
    if (r->o && r->o->on_event)
        r->o->on_event(r->o->payload, &ev);
}

static void emit(const struct run *r, enum apply_event_kind kind, size_t i, const char *verb,
                 double seconds, const char *message)
{
    emit_id(r, kind, i, change_id(r, i), verb, seconds, message);
}

static const char *target_id(const struct run *r, const struct op *op);

/* A change whose sensitive values were known only after apply (a secret
 * joined to an id ARM assigns, a map key made now) has them made now: the
 * caller sees them before the request that carries them is logged. */
static void emit_values(const struct run *r, size_t i)
{
    const struct plan_change *c = &r->plan->changes[i];
    struct apply_event ev = {.kind = APPLY_VALUES, .change = c};
    if (r->o == NULL || r->o->on_event == NULL || json_array_size(c->sensitive) == 0 ||
        !value_contains_unknown(c->after))
        return;
    ev.values = known_fill(json_deep_copy(c->after), known_from_state, r->st, NULL);
    if (ev.values)
        r->o->on_event(r->o->payload, &ev);
    json_decref((json_t *)ev.values);
}

/* An event of one operation, naming the id it acts on (the old one, for
 * the delete of a renamed-away resource). */
static void emit_op(const struct run *r, enum apply_event_kind kind, const struct op *op,
                    const char *verb, double seconds, const char *message)
{
    emit_id(r, kind, op->change, target_id(r, op), verb, seconds, message);
}

static const char *verb_of(enum journal_op op, enum plan_action a)
{
    if (op == JOURNAL_DELETE)
        return "Destroying";
    return a == PLAN_UPDATE ? "Modifying" : "Creating";
}

/* The request an operation sends: creates are PUTs of the whole body;
 * updates go as the plan chose (a PUT, a PATCH of what changes, or the
 * service's data plane). */
static enum provider_verb provider_verb_of(enum journal_op op, const struct plan_change *c)
{
    if (op == JOURNAL_DELETE)
        return PROVIDER_DELETE;
    if (op == JOURNAL_UPDATE && c->via == PLAN_VIA_PATCH)
        return PROVIDER_UPDATE;
    if (op == JOURNAL_UPDATE && c->via == PLAN_VIA_DATA_PLANE)
        return PROVIDER_DATA_PLANE;
    return PROVIDER_CREATE;
}

/* The id an operation acts on: a replacement of a renamed resource
 * deletes the id the state recorded, not the new one. */
static const char *target_id(const struct run *r, const struct op *op)
{
    const struct plan_change *c = &r->plan->changes[op->change];
    return op->jop == JOURNAL_DELETE && c->prior_arm_id ? c->prior_arm_id
                                                        : change_id(r, op->change);
}

/* A write that failed may still have taken effect (an operation that
 * ended Failed after the service applied it): read the resource and fold
 * what is live into the state, so that the state never keeps a body Azure
 * no longer has. A create found there is recorded as tainted, so the next
 * plan sends its PUT again instead of losing it; an update keeps its
 * entry's status, and the next plan compares the configuration with what
 * is really there. Nothing found: the state is left as it was. */
static int record_after_failure(struct run *r, const struct plan_change *c, const char *arm_id,
                                enum journal_op op)
{
    struct provider_ref ref = {.id = arm_id,
                               .type = c->arm_type && c->arm_type[0] ? c->arm_type : NULL};
    struct provider_result res;
    struct state_resource e;
    const struct state_resource *prior = state_find(r->st, c->address);
    int rc = 0;

    memset(&res, 0, sizeof(res));
    if (provider_reread(r->p, &ref, &res) == 0 && res.body) {
        memset(&e, 0, sizeof(e));
        e.address = c->address;
        e.kind = c->kind;
        e.arm_id = (char *)arm_id;
        e.api_version = c->api_version;
        e.attributes = res.body;
        e.sensitive = c->sensitive;
        e.dependencies = c->dependencies;
        e.status = op == JOURNAL_CREATE ? STATE_STATUS_TAINTED
                   : prior              ? prior->status
                                        : STATE_STATUS_CREATED;
        rc = state_put(r->st, &e, r->err);
    }
    provider_result_release(&res);
    return rc;
}

/* --- the work ------------------------------------------------------------ */

/* The operations of change i, in the order they run. */
static void plan_ops(struct step *s, size_t i, const struct plan_change *c)
{
    s->nops = 0;
    if (c->action == PLAN_DELETE) {
        s->ops[s->nops++] = (struct op){
            .change = i, .kind = c->state_only ? OP_FORGET : OP_DELETE, .jop = JOURNAL_DELETE};
        return;
    }
    if (c->action == PLAN_REPLACE && !c->create_before_destroy)
        s->ops[s->nops++] = (struct op){
            .change = i, .kind = c->state_only ? OP_FORGET : OP_DELETE, .jop = JOURNAL_DELETE};
    s->ops[s->nops++] = (struct op){
        .change = i,
        .kind = OP_PUT,
        .jop = c->action == PLAN_UPDATE ? JOURNAL_UPDATE : JOURNAL_CREATE,
    };
    /* create-before-destroy: with the same ARM id the PUT replaced the
     * resource in place; a renamed one leaves the old resource to delete */
    if (c->action == PLAN_REPLACE && c->create_before_destroy && c->prior_arm_id)
        s->ops[s->nops++] =
            (struct op){.change = i, .kind = OP_DELETE_PREVIOUS, .jop = JOURNAL_DELETE};
}

static int add_dependent(struct step *s, size_t dependent)
{
    size_t *d = realloc(s->dependents, (s->ndependents + 1) * sizeof(*d));
    if (d == NULL)
        return AMLSEC_ENOMEM;
    s->dependents = d;
    s->dependents[s->ndependents++] = dependent;
    return 0;
}

/* The edges: the plan's dependencies, plus one from a delete to the PUT of
 * another change that reuses its ARM id (a resource moved to a new
 * address), which must not race the delete; those found through an index
 * of the changes' ids (a scan of every change per delete cost n^2). */
static int build_steps(struct run *r, size_t *work)
{
    const struct plan *plan = r->plan;
    struct strmap by_id;
    size_t *next_same = NULL, head;
    int rc = 0;

    for (size_t i = 0; i < plan->n; i++)
        plan_ops(&r->steps[i], i, &plan->changes[i]);
    for (size_t i = 0; i < plan->n; i++) {
        const struct plan_change *c = &plan->changes[i];
        for (size_t k = 0; k < c->ndeps; k++, (*work)++) {
            if ((rc = add_dependent(&r->steps[c->deps[k]], i)) < 0)
                return rc;
            r->steps[i].deps_left++;
        }
    }
    /* id -> the last change (not a delete) with it, chained to the earlier ones */
    strmap_init(&by_id, true);
    if ((next_same = calloc(plan->n + 1, sizeof(*next_same))) == NULL)
        return AMLSEC_ENOMEM;
    for (size_t i = 0; i < plan->n; i++, (*work)++) {
        const char *id = plan->changes[i].arm_id;
        if (plan->changes[i].action == PLAN_DELETE || id == NULL)
            continue;
        next_same[i] = strmap_get(&by_id, id, &head) ? head + 1 : 0;
        if ((rc = strmap_put(&by_id, id, i)) < 0)
            goto out;
    }
    for (size_t d = 0; d < plan->n; d++) {
        const struct step *sd = &r->steps[d];
        const char *gone;
        if (sd->nops == 0 || sd->ops[0].kind != OP_DELETE)
            continue;
        gone = target_id(r, &sd->ops[0]);
        if (gone == NULL || !strmap_get(&by_id, gone, &head))
            continue;
        for (size_t i = head + 1; i != 0; i = next_same[i - 1]) {
            (*work)++;
            if (i - 1 == d)
                continue;
            if ((rc = add_dependent(&r->steps[d], i - 1)) < 0)
                goto out;
            r->steps[i - 1].deps_left++;
        }
    }
    for (size_t i = 0; i < plan->n; i++)
        if (r->steps[i].deps_left == 0)
            r->ready[r->nready++] = i;
out:
    strmap_release(&by_id);
    free(next_same);
    return rc;
}

/* needed: what a check reads, and what those depend on (stack: room for
 * every change). */
static void mark_needed(const struct plan *plan, const json_t *check,
                        const struct strmap *by_address, bool *needed, size_t *stack, size_t *work)
{
    size_t nstack = 0, k, i;
    const json_t *read;
    memset(needed, 0, (plan->n + 1) * sizeof(*needed));
    json_array_foreach(json_object_get(check, "reads"), k, read)
    {
        (*work)++;
        if (strmap_get(by_address, json_string_value(read), &i) && !needed[i]) {
            needed[i] = true;
            stack[nstack++] = i;
        }
    }
    while (nstack > 0) {
        const struct plan_change *c = &plan->changes[stack[--nstack]];
        for (size_t d = 0; d < c->ndeps; d++, (*work)++)
            if (!needed[c->deps[d]]) {
                needed[c->deps[d]] = true;
                stack[nstack++] = c->deps[d];
            }
    }
}

/* What each pending validation holds back: its "guards" (the changes
 * that read its variable: plan_checks.c), found through an index of the
 * changes' addresses. A plan written before guards existed holds every
 * change the validation does not need (what it reads, and what they
 * depend on), as apply did then. Two passes: the sizes, then guard. */
static int checks_begin(struct run *r, size_t *work)
{
    const struct plan *plan = r->plan;
    size_t n = json_array_size(plan->checks), *stack = NULL, k, total = 0, nreads = 0;
    bool *needed = NULL;
    struct strmap by_address;
    json_t *check;
    int rc = 0;
    if (n == 0)
        return 0;
    strmap_init(&by_address, false);
    r->check_pending = calloc(n, sizeof(*r->check_pending));
    r->guard_off = calloc(n + 1, sizeof(*r->guard_off));
    r->read_off = calloc(n + 1, sizeof(*r->read_off));
    r->holds = calloc(plan->n + 1, sizeof(*r->holds));
    r->held = calloc(plan->n + 1, sizeof(*r->held));
    needed = calloc(plan->n + 1, sizeof(*needed));
    stack = malloc((plan->n + 1) * sizeof(*stack));
    if (r->check_pending == NULL || r->guard_off == NULL || r->read_off == NULL ||
        r->holds == NULL || r->held == NULL || needed == NULL || stack == NULL) {
        rc = AMLSEC_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < plan->n && rc == 0; i++, (*work)++)
        rc = strmap_put(&by_address, plan->changes[i].address, i);
    for (int pass = 0; pass < 2 && rc == 0; pass++) {
        if (pass == 1 && ((r->guard = calloc(total + 1, sizeof(*r->guard))) == NULL ||
                          (r->read = calloc(nreads + 1, sizeof(*r->read))) == NULL)) {
            rc = AMLSEC_ENOMEM;
            break;
        }
        json_array_foreach(plan->checks, k, check)
        {
            const json_t *guards = json_object_get(check, "guards"), *g;
            size_t gi, i;
            r->check_pending[k] = true;
            r->guard_off[k + 1] = r->guard_off[k];
            r->read_off[k + 1] = r->read_off[k];
            json_array_foreach(json_object_get(check, "reads"), gi, g)
            {
                if (!strmap_get(&by_address, json_string_value(g), &i))
                    continue;
                if (pass == 1)
                    r->read[r->read_off[k + 1]++] = i;
                nreads += pass == 0;
            }
            if (guards) {
                json_array_foreach(guards, gi, g)
                {
                    (*work)++;
                    if (!strmap_get(&by_address, json_string_value(g), &i))
                        continue;
                    if (pass == 1) {
                        r->guard[r->guard_off[k + 1]++] = i;
                        r->holds[i]++;
                    }
                    total += pass == 0;
                }
                continue;
            }
            mark_needed(plan, check, &by_address, needed, stack, work);
            for (i = 0; i < plan->n; i++, (*work)++) {
                if (needed[i])
                    continue;
                if (pass == 1) {
                    r->guard[r->guard_off[k + 1]++] = i;
                    r->holds[i]++;
                }
                total += pass == 0;
            }
        }
    }
    /* change -> the checks reading it; a check reading nothing planned is
     * due at once */
    r->readers_off = calloc(plan->n + 2, sizeof(*r->readers_off));
    r->readers = calloc(nreads + 1, sizeof(*r->readers));
    r->reads_left = calloc(n + 1, sizeof(*r->reads_left));
    r->due = calloc(n + 1, sizeof(*r->due));
    if (rc == 0 &&
        (r->readers_off == NULL || r->readers == NULL || r->reads_left == NULL || r->due == NULL))
        rc = AMLSEC_ENOMEM;
    for (size_t x = 0; rc == 0 && x < nreads; x++)
        r->readers_off[r->read[x] + 2]++;
    for (size_t i = 2; rc == 0 && i < plan->n + 2; i++)
        r->readers_off[i] += r->readers_off[i - 1];
    for (k = 0; rc == 0 && k < n; k++) {
        for (size_t x = r->read_off[k]; x < r->read_off[k + 1]; x++, (*work)++)
            r->readers[r->readers_off[r->read[x] + 1]++] = k;
        r->reads_left[k] = r->read_off[k + 1] - r->read_off[k];
        if (r->reads_left[k] == 0)
            r->due[r->ndue++] = k;
    }
    r->checks_pending = n;
out:
    strmap_release(&by_address);
    free(needed);
    free(stack);
    return rc;
}

static void emit_invalid(struct run *r, const char *message)
{
    struct apply_event ev = {.kind = APPLY_INVALID, .message = message};
    r->ninvalid++;
    if (r->o && r->o->on_event)
        r->o->on_event(r->o->payload, &ev);
}

/* A validation left unchecked at the end of the run. */
static void emit_unchecked(struct run *r, const char *message)
{
    struct apply_event ev = {.kind = APPLY_INVALID, .message = message, .unchecked = true};
    r->ninvalid++;
    if (r->o && r->o->on_event)
        r->o->on_event(r->o->payload, &ev);
}

static void skip_change(struct run *r, size_t i, const char *why);

/* Check k was true: what it held starts once no other check holds it. */
static void checks_release(struct run *r, size_t k)
{
    for (size_t g = r->guard_off[k]; g < r->guard_off[k + 1]; g++) {
        size_t i = r->guard[g];
        if (--r->holds[i] == 0 && r->held[i] && r->status[i] == ST_PENDING) {
            r->held[i] = false;
            r->ready[r->nready++] = i;
        }
    }
}

/* Check k was false: what it held never starts (nor what depends on
 * that); everything else goes on, as after a failed change. */
static void checks_block(struct run *r, size_t k, const json_t *check)
{
    const char *module = json_string_value(json_object_get(check, "module"));
    char why[600];
    snprintf(why, sizeof(why), "the validation of %s%svar.%s failed", module ? module : "",
             module ? "." : "", json_string_value(json_object_get(check, "variable")));
    for (size_t g = r->guard_off[k]; g < r->guard_off[k + 1]; g++)
        if (r->status[r->guard[g]] == ST_PENDING)
            skip_change(r, r->guard[g], why);
}

/* Checks each validation whose reads are all applied (due): its values
 * are in the state now (not before: the state holds a replaced
 * resource's old values until then). A true one releases the changes it
 * held, a false one skips them; one still unknown stays pending, for
 * checks_unsettled. Each check is looked at once. */
static void checks_settle(struct run *r)
{
    for (size_t d = 0; d < r->ndue; d++) {
        size_t k = r->due[d], left = 0;
        const json_t *check = json_array_get(r->plan->checks, k);
        json_t *cond, *msg = NULL;
        struct buf why;
        if (!r->check_pending[k])
            continue;
        cond = known_fill(json_deep_copy(json_object_get(check, "condition")), known_from_state,
                          r->st, &left);
        if (cond == NULL || left > 0) {
            json_decref(cond);
            continue;
        }
        r->check_pending[k] = false;
        r->checks_pending--;
        if (json_is_true(cond)) {
            json_decref(cond);
            checks_release(r, k);
            continue;
        }
        if (json_object_get(check, "error_message"))
            msg = known_fill(json_deep_copy(json_object_get(check, "error_message")),
                             known_from_state, r->st, NULL);
        buf_init(&why, 0);
        plan_check_error_text(&why, check, cond, msg);
        r->invalid = true;
        emit_invalid(r, why.ptr);
        buf_release(&why);
        json_decref(cond);
        json_decref(msg);
        checks_block(r, k, check);
    }
    r->ndue = 0;
}

/* The run ends with validations unchecked: each is reported, with why,
 * whatever else failed (a failure of what it reads, another validation
 * false, an interrupt): what it reads failed, was skipped or was not
 * applied, or was applied and left its condition unknown (a value the
 * service did not return). What it held was not started. */
static void checks_unsettled(struct run *r)
{
    static const char *const why_not[] = {
        [ST_PENDING] = "was not applied",
        [ST_RUNNING] = "was not applied",
        [ST_FAILED] = "failed",
        [ST_SKIPPED] = "was skipped",
    };
    static const enum step_status order[] = {ST_FAILED, ST_SKIPPED, ST_RUNNING, ST_PENDING};
    size_t k;
    json_t *check;
    json_array_foreach(r->plan->checks, k, check)
    {
        struct buf why;
        const json_t *at = json_object_get(check, "condition_at");
        const char *module = json_string_value(json_object_get(check, "module"));
        size_t read = SIZE_MAX;
        if (!r->check_pending[k])
            continue;
        /* the first read not done: failed, else skipped, else not applied */
        for (size_t w = 0; w < sizeof(order) / sizeof(order[0]) && read == SIZE_MAX; w++)
            for (size_t x = r->read_off[k]; x < r->read_off[k + 1] && read == SIZE_MAX; x++)
                if (r->status[r->read[x]] == order[w])
                    read = r->read[x];
        buf_init(&why, 0);
        buf_addf(&why, "%s:%lld:%lld: the validation of variable '%s'%s%s could not be checked: ",
                 json_string_value(json_object_get(at, "file")),
                 (long long)json_integer_value(json_object_get(at, "line")),
                 (long long)json_integer_value(json_object_get(at, "column")),
                 json_string_value(json_object_get(check, "variable")), module ? " of " : "",
                 module ? module : "");
        if (read == SIZE_MAX)
            buf_adds(&why, "what its condition reads is still unknown after the changes it "
                           "reads were applied");
        else
            buf_addf(&why, "%s, which its condition reads, %s%s", r->plan->changes[read].address,
                     why_not[r->status[read]],
                     r->status[read] != ST_PENDING && r->status[read] != ST_RUNNING ? ""
                     : stop_level(r)    ? " (interrupted)"
                     : r->client_failed ? " (the ARM client failed)"
                                        : "");
        if (r->guard_off[k + 1] > r->guard_off[k])
            buf_adds(&why, "; what reads the variable was not started");
        emit_unchecked(r, why.ptr);
        buf_release(&why);
        r->invalid = true;
    }
}

/* Skips everything that depends on change i (not done: failed or
 * skipped). */
static void skip_dependents(struct run *r, size_t i)
{
    size_t *stack, n = 0;
    stack = malloc((r->plan->n + 1) * sizeof(*stack));
    if (stack == NULL)
        return; /* the dependents stay pending and count as not started */
    stack[n++] = i;
    while (n > 0) {
        size_t f = stack[--n];
        for (size_t k = 0; k < r->steps[f].ndependents; k++) {
            size_t d = r->steps[f].dependents[k];
            char why[300];
            if (r->status[d] != ST_PENDING)
                continue;
            snprintf(why, sizeof(why), "%s did not complete", r->plan->changes[f].address);
            r->status[d] = ST_SKIPPED;
            emit(r, APPLY_SKIPPED, d, NULL, 0, why);
            stack[n++] = d;
        }
    }
    free(stack);
}

/* Marks change i failed and skips everything that depends on it. */
static void fail_change(struct run *r, size_t i, const char *verb, double seconds, const char *msg)
{
    r->status[i] = ST_FAILED;
    emit(r, APPLY_FAILED, i, verb, seconds, msg);
    skip_dependents(r, i);
}

/* Skips change i (why: the reason shown) and everything that depends on it. */
static void skip_change(struct run *r, size_t i, const char *why)
{
    r->status[i] = ST_SKIPPED;
    emit(r, APPLY_SKIPPED, i, NULL, 0, why);
    skip_dependents(r, i);
}

/* Change i is done: the changes waiting only for it become ready. */
static void complete_change(struct run *r, size_t i)
{
    r->status[i] = ST_DONE;
    for (size_t x = r->readers_off ? r->readers_off[i] : 0;
         r->readers_off && x < r->readers_off[i + 1]; x++)
        if (--r->reads_left[r->readers[x]] == 0)
            r->due[r->ndue++] = r->readers[x];
    for (size_t k = 0; k < r->steps[i].ndependents; k++) {
        size_t d = r->steps[i].dependents[k];
        if (--r->steps[d].deps_left == 0 && r->status[d] == ST_PENDING)
            r->ready[r->nready++] = d;
    }
}

/* "ADDRESS (previous)": where the resource a renamed create-before-destroy
 * replacement leaves behind is tracked until its delete succeeds, so that
 * the journal's fold of that delete cannot touch the new resource's entry. */
static void previous_address(char *out, size_t size, const struct plan_change *c)
{
    snprintf(out, size, "%s (previous)", c->address);
}

/* The service accepted op's request as a long-running operation: its URL
 * goes into the journal (synced with the next group), so a run killed
 * before the operation ends can wait for it rather than guess. A journal
 * that cannot be written fails the run at its next record. */
static void op_accepted(void *payload, void *tag, const char *operation_url)
{
    struct run *r = payload;
    struct op *op = tag;
    struct errbuf ignored = ERRBUF_INIT;
    if (journal_accepted(r->j, op->journal_id, operation_url, &ignored) == 0)
        r->intents_unsynced = true;
}

/* Sends op through the journal: the intent is durable before the request
 * leaves. */
static int send(struct run *r, struct op *op)
{
    const struct plan_change *c = &r->plan->changes[op->change];
    struct journal_intent in;
    struct provider_write w;
    char digest[72], prev_address[512];
    char *body = op->body ? jsonw_dumps(op->body, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    const char *arm_id = target_id(r, op);
    int rc;

    if (op->body && body == NULL)
        return errbuf_set(r->err, AMLSEC_ENOMEM, "out of memory");
    journal_digest(digest, body ? body : "", body ? strlen(body) : 0);
    free(body);
    previous_address(prev_address, sizeof(prev_address), c);
    memset(&in, 0, sizeof(in));
    in.address = op->kind == OP_DELETE_PREVIOUS ? prev_address : c->address;
    in.kind = c->kind;
    in.arm_id = arm_id;
    in.api_version = c->api_version;
    in.op = op->jop;
    in.request_digest = digest;
    in.dependencies = c->dependencies;
    in.sensitive = c->sensitive;
    if ((rc = journal_begin(r->j, &in, op->journal_id, r->err)) < 0)
        return rc;
    r->intents_unsynced = true; /* synced before the request leaves (collect) */
    w.verb = provider_verb_of(op->jop, c);
    w.parts = c->data_plane;
    w.query = op->jop == JOURNAL_DELETE ? c->delete_query : c->put_query;
    w.ref.id = arm_id;
    w.ref.type = c->arm_type && c->arm_type[0] ? c->arm_type : NULL;
    w.body = op->body;
    w.on_accepted = op_accepted;
    w.accepted_payload = r;
    if ((rc = provider_write_start(r->p, &w, op, r->err)) < 0)
        return rc; /* the intent stays pending: the next run reconciles it */
    op->started = now_s();
    op->next_progress = op->started + (r->o ? r->o->progress_every : 0);
    r->running[r->nrunning++] = op;
    emit_op(r, APPLY_STARTED, op, verb_of(op->jop, c->action), 0, NULL);
    return 0;
}

static int advance(struct run *r, size_t i);

/* Before a renamed resource's create-before-destroy PUT: the state entry of
 * the resource it replaces moves to "ADDRESS (previous)" (the address its
 * delete is journaled under), so the old resource stays tracked whatever
 * fails next; a failed delete leaves it for the next plan to delete. The
 * move is journaled like an outcome (durable with the PUT's intent, which
 * follows it; recovery redoes it first) and saved with the next
 * checkpoint: n renames once saved the whole state n times. */
static int keep_previous(struct run *r, const struct plan_change *c)
{
    char prev[512], digest[72];
    const struct state_resource *old = state_find(r->st, c->address);
    struct journal_intent in;
    int rc;

    previous_address(prev, sizeof(prev), c);
    if (old == NULL || strcasecmp(old->arm_id, c->prior_arm_id) != 0 ||
        state_find(r->st, prev) != NULL)
        return 0;
    journal_digest(digest, "", 0);
    memset(&in, 0, sizeof(in));
    in.address = prev;
    in.from = c->address;
    in.kind = old->kind;
    in.arm_id = old->arm_id;
    in.api_version = old->api_version;
    in.op = JOURNAL_MOVE;
    in.request_digest = digest;
    in.dependencies = old->dependencies;
    in.sensitive = old->sensitive;
    if ((rc = journal_begin(r->j, &in, r->unsaved[r->nunsaved], r->err)) < 0 ||
        (rc = journal_complete(r->j, r->unsaved[r->nunsaved], 1, NULL, r->err)) < 0 ||
        (rc = journal_fold(r->j, r->st, r->unsaved[r->nunsaved], r->err)) < 0)
        return rc;
    r->nunsaved++;
    r->intents_unsynced = true; /* synced with the PUT's intent, before it leaves */
    r->dirty = true;
    return 0;
}

/* Starts one operation: the single place that knows what each kind of
 * operation does. Returns < 0 only when the run must stop (the journal or
 * the state could not be written); the operation's own failure is
 * recorded on its change. */
static int dispatch(struct run *r, struct op *op)
{
    const struct plan_change *c = &r->plan->changes[op->change];
    size_t left = 0;

    switch (op->kind) {
    case OP_FORGET:
        if (state_remove(r->st, c->address, r->err) < 0 && r->err->code != AMLSEC_ENOTFOUND)
            return r->err->code;
        errbuf_clear(r->err);
        r->dirty = true;
        emit(r, APPLY_FINISHED, op->change, "Forgetting", 0, NULL);
        return advance(r, op->change);
    case OP_PUT:
        /* an id known only now that earlier steps ran (a role assignment's
         * GUID from a principal just created): derived before the intent,
         * which must name the final id */
        if (c->arm_id == NULL && r->steps[op->change].arm_id == NULL) {
            json_t *attrs = known_fill(json_deep_copy(c->after), known_from_state, r->st, NULL);
            r->steps[op->change].arm_id = known_arm_id(c->kind, attrs, c->id_from);
            json_decref(attrs);
            if (r->steps[op->change].arm_id == NULL) {
                fail_change(r, op->change, verb_of(op->jop, c->action), 0,
                            "its ARM id is still unknown when it was due to be sent");
                return 0;
            }
        }
        if (c->action == PLAN_REPLACE && c->create_before_destroy && c->prior_arm_id) {
            int rc = keep_previous(r, c);
            if (rc < 0)
                return rc;
        }
        /* values known only now that earlier steps ran (a key's version);
         * a step that still lacks one fails on its own */
        emit_values(r, op->change);
        op->body = known_fill(json_deep_copy(c->body), known_from_state, r->st, &left);
        if (op->body == NULL)
            return errbuf_set(r->err, AMLSEC_ENOMEM, "out of memory");
        if (left) {
            /* a value made now that failed as the plan could not see
             * (a map's keys repeated) says where, else how many are left */
            struct buf why;
            buf_init(&why, 0);
            if (!eval_deferred_why(&why, op->body))
                buf_addf(&why, "%zu value%s still unknown when it was due to be sent", left,
                         left == 1 ? " is" : "s are");
            fail_change(r, op->change, verb_of(op->jop, c->action), 0,
                        why.ptr ? why.ptr : "out of memory");
            buf_release(&why);
            return 0;
        }
        {
            /* tags known only now: a list or map is refused here, as the
             * plan refuses a known one, never sent for ARM to refuse */
            struct buf why;
            buf_init(&why, 0);
            if (schema_body_strings(schema_find(c->kind), op->body, &why) < 0) {
                fail_change(r, op->change, verb_of(op->jop, c->action), 0,
                            why.ptr ? why.ptr : "out of memory");
                buf_release(&why);
                return 0;
            }
            buf_release(&why);
        }
        return send(r, op);
    case OP_DELETE_PREVIOUS:
        /* an id derived at apply may turn out the one recorded: then the
         * PUT replaced the resource in place and nothing is left to delete */
        if (strcasecmp(change_id(r, op->change), c->prior_arm_id) == 0)
            return advance(r, op->change);
        return send(r, op);
    case OP_DELETE:
        return send(r, op);
    }
    BUG("apply: operation kind %d", (int)op->kind);
}

/* The change's next operation, or the change is done. After a client
 * failure the next operation is left for the next run's plan. */
static int advance(struct run *r, size_t i)
{
    struct step *s = &r->steps[i];
    if (++s->cur < s->nops)
        return r->client_failed ? 0 : dispatch(r, &s->ops[s->cur]);
    complete_change(r, i);
    return 0;
}

/* What change c did (struct apply_result's added, changed, destroyed). */
static void count_done(struct apply_result *out, const struct plan_change *c, const struct step *s,
                       enum step_status status)
{
    if (status == ST_DONE) {
        out->added += c->action == PLAN_CREATE || c->action == PLAN_REPLACE;
        out->changed += c->action == PLAN_UPDATE;
        out->destroyed += c->action == PLAN_DELETE || c->action == PLAN_REPLACE;
        return;
    }
    /* failed, or abandoned in flight: the operations before the current one */
    for (unsigned k = 0; k < s->cur && k < s->nops; k++) {
        if (s->ops[k].kind != OP_PUT)
            out->destroyed++;
        else if (c->action == PLAN_UPDATE)
            out->changed++;
        else
            out->added++;
    }
}

static void note_client_failure(struct run *r, const struct errbuf *e)
{
    if (r->client_failed)
        return;
    r->client_failed = true;
    errbuf_set(&r->client_err, e->code < 0 ? e->code : AMLSEC_ERROR, "%s", e->msg);
}

/* Records op's outcome in the journal and the state (saved by the
 * caller). Returns < 0 when the journal or state cannot be written. */
static int settle(struct run *r, struct op *op, struct provider_result *res, bool *ok)
{
    const struct plan_change *c = &r->plan->changes[op->change];
    int rc;

    for (size_t k = 0; k < r->nrunning; k++)
        if (r->running[k] == op) {
            r->running[k] = r->running[--r->nrunning];
            break;
        }
    *ok = res->rc == 0;
    if (res->unknown) {
        /* the client failed under it: the service may still carry it out,
         * so its intent stays pending and the next run reads the resource
         * and records what happened, as after a kill */
        note_client_failure(r, &res->err);
        r->unknown++;
        json_decref(op->body);
        op->body = NULL;
        return 0;
    }
    /* what ARM never returns (passwords, keys) is recorded as a digest, so
     * the next plan can tell whether it changed (docs/state.md) */
    if (*ok && res->body && op->body && c->after && schema_find(c->kind) &&
        render_write_only_record(schema_find(c->kind), res->body, c->after) < 0)
        return errbuf_set(r->err, AMLSEC_ERROR, "cannot digest the write-only values of %s",
                          c->address);
    if ((rc = journal_complete(r->j, op->journal_id, *ok, *ok ? res->body : NULL, r->err)) < 0 ||
        (rc = journal_fold(r->j, r->st, op->journal_id, r->err)) < 0)
        return rc;
    memcpy(r->unsaved[r->nunsaved++], op->journal_id, sizeof(op->journal_id));
    r->dirty = true;
    if (*ok) {
        emit_op(r, APPLY_FINISHED, op, verb_of(op->jop, c->action), now_s() - op->started, NULL);
    } else {
        char msg[ERRBUF_MAX + 160];
        if ((op->jop == JOURNAL_CREATE || op->jop == JOURNAL_UPDATE) &&
            (rc = record_after_failure(r, c, target_id(r, op), op->jop)) < 0)
            return rc;
        snprintf(msg, sizeof(msg), "%s%s%s", res->code[0] ? res->code : "",
                 res->code[0] ? ": " : "", res->err.msg);
        fail_change(r, op->change, verb_of(op->jop, c->action), now_s() - op->started, msg);
    }
    json_decref(op->body);
    op->body = NULL;
    return 0;
}

/* Saves the state, then marks the journal entries it now holds done. */
static int checkpoint(struct run *r)
{
    int rc;
    if (!r->dirty)
        return 0;
    if ((rc = state_backend_save(r->be, r->st, r->keys, r->err)) < 0)
        return rc;
    log_msg(LOG_DEBUG,
            "checkpoint: saved the state of %zu resources after %zu outcomes: %zu bytes, the "
            "journal %zu bytes",
            state_count(r->st), r->nunsaved, r->be->stored_bytes, r->j->bytes);
    r->dirty = false;
    r->last_save = now_s();
    for (size_t k = 0; k < r->nunsaved; k++)
        if ((rc = journal_done(r->j, r->unsaved[k], r->err)) < 0)
            return rc;
    r->nunsaved = 0;
    return 0;
}

/* Whether a save is due mid-run (see CHECKPOINT_LOG_MIN). */
static bool checkpoint_due(const struct run *r)
{
    if (r->nunsaved == 0)
        return false;
    if (strcmp(r->be->ops->name, "local") == 0)
        return r->j->bytes >= CHECKPOINT_LOG_MIN && r->j->bytes >= r->be->stored_bytes;
    return now_s() - r->last_save >= CHECKPOINT_EVERY_S &&
           r->nunsaved * CHECKPOINT_SHARE >= state_count(r->st);
}

/* Waits for operations to end (up to timeout seconds), settles every one
 * that has, then moves each changed branch on. */
static int collect(struct run *r, double timeout)
{
    struct op **ended = malloc((r->nrunning + 1) * sizeof(*ended));
    bool *oks = malloc((r->nrunning + 1) * sizeof(*oks));
    size_t n = 0;
    int rc = 0;

    if (ended == NULL || oks == NULL) {
        rc = errbuf_set(r->err, AMLSEC_ENOMEM, "out of memory");
        goto out;
    }
    /* group commit: the intents begun since the last turn become durable
     * together, before any of their requests leaves */
    if (r->intents_unsynced) {
        if ((rc = journal_sync(r->j, r->err)) < 0)
            goto out;
        r->intents_unsynced = false;
    }
    for (int64_t wait_ms = (int64_t)(timeout * 1000);; wait_ms = 0) {
        struct provider_result res;
        struct errbuf perr = ERRBUF_INIT;
        void *tag = NULL;
        if (provider_write_next(r->p, wait_ms, &tag, &res, &perr) < 0 && !r->client_failed) {
            note_client_failure(r, &perr);
            continue; /* the writes it left come back next, their outcome unknown */
        }
        if (tag == NULL)
            break;
        ended[n] = tag;
        rc = settle(r, ended[n], &res, &oks[n]);
        provider_result_release(&res);
        n++;
        if (rc < 0)
            goto out;
    }
    for (size_t k = 0; k < n; k++)
        if (oks[k] && (rc = advance(r, ended[k]->change)) < 0)
            goto out;
    /* not when the branch just moved on: the main loop starts what became
     * ready first, and the run's end saves anyway */
    if (checkpoint_due(r) && (rc = checkpoint(r)) == 0)
        rc = journal_compact(r->j, r->err); /* only the operations in flight stay */
out:
    free(ended);
    free(oks);
    return rc;
}

/* Progress for operations running longer than progress_every. */
static void tick(struct run *r)
{
    double every = r->o ? r->o->progress_every : 0, now = now_s();
    if (every <= 0)
        return;
    for (size_t k = 0; k < r->nrunning; k++) {
        struct op *op = r->running[k];
        if (now < op->next_progress)
            continue;
        emit_op(r, APPLY_PROGRESS, op, verb_of(op->jop, r->plan->changes[op->change].action),
                now - op->started, NULL);
        while (op->next_progress <= now)
            op->next_progress += every;
    }
}

/* How long the loop may wait for an answer before it must look again
 * (progress, Ctrl-C). */
static double wait_budget(const struct run *r)
{
    double budget = 0.25, now = now_s();
    if (r->o && r->o->progress_every > 0)
        for (size_t k = 0; k < r->nrunning; k++) {
            double left = r->running[k]->next_progress - now;
            if (left < budget)
                budget = left > 0 ? left : 0;
        }
    return budget;
}

static int stop_level(const struct run *r)
{
    return r->o && r->o->stop ? (int)*r->o->stop : 0;
}

int apply_run(struct apply_result *out, const struct plan *plan, struct state *st,
              struct state_backend *be, struct crypt_keys *keys, struct journal *j,
              struct provider *p, const struct apply_opts *o, struct errbuf *err)
{
    struct run r;
    bool announced = false;
    size_t work0 = st->work;
    int rc = 0;

    memset(out, 0, sizeof(*out));
    memset(&r, 0, sizeof(r));
    r.plan = plan;
    r.st = st;
    r.be = be;
    r.keys = keys;
    r.j = j;
    r.p = p;
    r.o = o;
    r.err = err;
    r.parallelism = o && o->parallelism ? o->parallelism : 10;
    r.status = calloc(plan->n + 1, sizeof(*r.status));
    r.steps = calloc(plan->n + 1, sizeof(*r.steps));
    /* a change held back for a validation enters it twice */
    r.ready = calloc(2 * plan->n + 1, sizeof(*r.ready));
    r.running = calloc(plan->n + 1, sizeof(*r.running));
    r.unsaved = calloc(plan->n * 3 + 1, sizeof(*r.unsaved)); /* a rename: move, PUT, delete */
    r.last_save = now_s();
    if (r.status == NULL || r.steps == NULL || r.ready == NULL || r.running == NULL ||
        r.unsaved == NULL) {
        rc = errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = build_steps(&r, &out->work)) < 0 || (rc = checks_begin(&r, &out->work)) < 0) {
        errbuf_set(err, rc, "out of memory");
        goto out;
    }
    /* the outcomes are folded in O(1) each; the saves put it back in order */
    state_batch_begin(st);
    j->group_commit = true;
    j->release_folded = true; /* the responses wait in the file, not in memory */
    /* A change starts the moment everything it depends on is done, up to
     * `parallelism` operations in flight; the rest wait in `ready`. */
    for (;;) {
        int stop = stop_level(&r);
        if (stop >= 2 || r.client_failed) {
            /* abandon (or the client failed): the journal keeps the intents
             * of what is in flight, and the next run reconciles them */
            out->abandoned = r.nrunning + r.unknown;
            provider_write_abandon(p);
            for (size_t k = 0; k < r.nrunning; k++) {
                json_decref(r.running[k]->body);
                r.running[k]->body = NULL;
            }
            r.nrunning = 0;
            break;
        }
        if (stop && !announced) {
            struct apply_event ev = {.kind = APPLY_INTERRUPTED, .in_flight = r.nrunning};
            announced = true;
            if (o->on_event)
                o->on_event(o->payload, &ev);
        }
        if (r.ndue)
            checks_settle(&r);
        while (!stop && r.nrunning < r.parallelism && r.ready_head < r.nready) {
            size_t i = r.ready[r.ready_head++];
            if (r.status[i] != ST_PENDING)
                continue;
            if (r.holds && r.holds[i] > 0) {
                r.held[i] = true; /* it waits for the validations of what it reads */
                continue;
            }
            r.status[i] = ST_RUNNING;
            if ((rc = dispatch(&r, &r.steps[i].ops[0])) < 0)
                goto out;
        }
        if (r.nrunning == 0 && (stop || r.ready_head == r.nready))
            break;
        if ((rc = collect(&r, wait_budget(&r))) < 0)
            goto out;
        tick(&r);
    }
    if (r.checks_pending)
        checks_unsettled(&r);
    rc = checkpoint(&r);
    if (rc == 0 && j->unsynced)
        rc = journal_sync(j, err);
    if (rc == 0)
        rc = journal_compact(j, err); /* empties it when nothing is pending */
    if (rc == 0 && r.client_failed)
        rc = errbuf_set(err, r.client_err.code,
                        "apply stopped: the ARM client failed with %zu operation%s in flight: %s; "
                        "the journal keeps the pending intents, and the next plan or apply reads "
                        "the resources and records what happened",
                        out->abandoned, out->abandoned == 1 ? "" : "s", r.client_err.msg);
out:
    if (rc < 0 && j->unsynced) {
        struct errbuf ignored = ERRBUF_INIT;
        (void)journal_sync(j, &ignored); /* keep what the journal could record */
    }
    if (rc < 0 && r.nrunning > 0) {
        /* the journal or the state cannot be written: stop waiting; the
         * journal keeps whatever intents it could record */
        provider_write_abandon(p);
        out->abandoned = r.nrunning;
    }
    j->group_commit = false;
    j->release_folded = false;
    state_batch_end(st);
    out->work += st->work - work0;
    log_msg(LOG_DEBUG, "apply: %zu changes, bookkeeping work %zu", plan->n, out->work);
    for (size_t i = 0; i < plan->n; i++) {
        if (r.status) {
            out->done += r.status[i] == ST_DONE;
            out->failed += r.status[i] == ST_FAILED;
            out->skipped += r.status[i] == ST_SKIPPED;
            out->not_started += r.status[i] == ST_PENDING;
        }
        if (r.status && r.steps)
            count_done(out, &plan->changes[i], &r.steps[i], r.status[i]);
        if (r.steps) {
            free(r.steps[i].dependents);
            free(r.steps[i].arm_id);
            for (unsigned k = 0; k < r.steps[i].nops; k++)
                json_decref(r.steps[i].ops[k].body);
        }
    }
    /* the abandoned were running: neither done nor failed */
    out->invalid = r.ninvalid;
    free(r.check_pending);
    free(r.guard_off);
    free(r.guard);
    free(r.read_off);
    free(r.read);
    free(r.readers_off);
    free(r.readers);
    free(r.reads_left);
    free(r.due);
    free(r.holds);
    free(r.held);
    free(r.unsaved);
    free(r.running);
    free(r.ready);
    free(r.steps);
    free(r.status);
    return rc;
}
