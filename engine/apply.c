#include "engine/apply.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/known.h"
#include "parser/value.h"
#include "util/error.h"
#include "util/banned.h"

enum step_status { ST_PENDING, ST_RUNNING, ST_DONE, ST_FAILED, ST_SKIPPED };

struct op {
    size_t change;
    enum journal_op jop;
    /* deletes the resource a create-before-destroy replacement renamed
     * away from, under "ADDRESS (previous)" so the journal's fold cannot
     * touch the new resource's state entry */
    bool previous;
    char journal_id[STATE_LINEAGE_LEN + 1];
    bool begun;
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
    char **failure; /* per change, the message when failed */
    struct errbuf *err;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void emit(const struct run *r, enum apply_event_kind kind, size_t i, const char *verb,
                 double seconds, const char *message)
{
    struct apply_event ev = {kind, &r->plan->changes[i], verb, seconds, message};
    if (r->o && r->o->on_event)
        r->o->on_event(r->o->payload, &ev);
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
static const char *target_id(const struct plan_change *c, enum journal_op op)
{
    return op == JOURNAL_DELETE && c->prior_arm_id ? c->prior_arm_id : c->arm_id;
}

/* A create that failed may still have left the resource behind (an
 * operation that ended Failed): read it, and if it is there record it as
 * tainted, so the next plan sends its PUT again instead of losing it. */
static int record_tainted(struct run *r, const struct plan_change *c)
{
    struct provider_ref ref = {c->arm_id, c->arm_type && c->arm_type[0] ? c->arm_type : NULL};
    struct provider_result res;
    struct state_resource e;
    int rc = 0;

    memset(&res, 0, sizeof(res));
    if (provider_reread(r->p, &ref, &res) == 0 && res.body) {
        memset(&e, 0, sizeof(e));
        e.address = c->address;
        e.kind = c->kind;
        e.arm_id = c->arm_id;
        e.api_version = c->api_version;
        e.attributes = res.body;
        e.sensitive = c->sensitive;
        e.dependencies = c->dependencies;
        e.status = STATE_STATUS_TAINTED;
        rc = state_put(r->st, &e, r->err);
    }
    provider_result_release(&res);
    return rc;
}

/* Sends one batch of writes through the journal and folds the outcomes
 * into the state, which is saved before the journal entries are settled. */
static int run_batch(struct run *r, struct op *ops, size_t n)
{
    struct provider_write *w = calloc(n ? n : 1, sizeof(*w));
    struct provider_result *res = calloc(n ? n : 1, sizeof(*res));
    char **bodies = calloc(n ? n : 1, sizeof(*bodies));
    json_t **filled = calloc(n ? n : 1, sizeof(*filled));
    double started;
    int rc = 0;

    if (w == NULL || res == NULL || bodies == NULL || filled == NULL) {
        rc = errbuf_set(r->err, AMLSEC_ENOMEM, "out of memory");
        goto out;
    }
    /* Fill in values known only now that earlier steps ran (a key's
     * version); a step that still lacks one fails on its own. */
    for (size_t k = 0; k < n; k++) {
        const struct plan_change *c = &r->plan->changes[ops[k].change];
        size_t left = 0;
        if (c->body == NULL || ops[k].jop == JOURNAL_DELETE)
            continue;
        filled[k] = known_fill(json_deep_copy(c->body), known_from_state, r->st, &left);
        if (left) {
            char msg[256];
            snprintf(msg, sizeof(msg), "%zu value%s still unknown when it was due to be sent", left,
                     left == 1 ? " is" : "s are");
            r->status[ops[k].change] = ST_FAILED;
            free(r->failure[ops[k].change]);
            r->failure[ops[k].change] = strdup(msg);
            emit(r, APPLY_FAILED, ops[k].change, verb_of(ops[k].jop, c->action), 0, msg);
            ops[k] = ops[--n];
            json_decref(filled[k]);
            filled[k] = NULL;
            k--;
            continue;
        }
        bodies[k] = json_dumps(filled[k], JSON_COMPACT | JSON_SORT_KEYS);
    }
    for (size_t k = 0; k < n; k++) {
        const struct plan_change *c = &r->plan->changes[ops[k].change];
        struct journal_intent in;
        char digest[72];
        journal_digest(digest, bodies[k] ? bodies[k] : "", bodies[k] ? strlen(bodies[k]) : 0);
        memset(&in, 0, sizeof(in));
        char prev_address[512];
        const char *arm_id = target_id(c, ops[k].jop);
        snprintf(prev_address, sizeof(prev_address), "%s (previous)", c->address);
        in.address = ops[k].previous ? prev_address : c->address;
        in.kind = c->kind;
        in.arm_id = arm_id;
        in.api_version = c->api_version;
        in.op = ops[k].jop;
        in.request_digest = digest;
        in.dependencies = c->dependencies;
        in.sensitive = c->sensitive;
        if ((rc = journal_begin(r->j, &in, ops[k].journal_id, r->err)) < 0)
            goto out; /* nothing of this batch was sent */
        ops[k].begun = true;
        w[k].verb = provider_verb_of(ops[k].jop, c);
        w[k].parts = c->data_plane;
        w[k].ref.id = arm_id;
        w[k].ref.type = c->arm_type && c->arm_type[0] ? c->arm_type : NULL;
        w[k].body = filled[k];
        w[k].query = c->put_query;
        emit(r, APPLY_STARTED, ops[k].change, verb_of(ops[k].jop, c->action), 0, NULL);
    }
    if (n == 0)
        goto out;
    started = now_s();
    if ((rc = provider_write_many(r->p, w, n, res, r->err)) < 0) {
        /* the machinery failed: every result carries the error too */
        rc = 0;
    }
    for (size_t k = 0; k < n; k++) {
        size_t i = ops[k].change;
        bool ok = res[k].rc == 0;
        const struct plan_change *c = &r->plan->changes[i];
        if ((rc = journal_complete(r->j, ops[k].journal_id, ok, ok ? res[k].body : NULL, r->err)) <
                0 ||
            (rc = journal_fold(r->j, r->st, ops[k].journal_id, r->err)) < 0)
            goto out;
        if (ok) {
            emit(r, APPLY_FINISHED, i, verb_of(ops[k].jop, c->action), now_s() - started, NULL);
        } else {
            char msg[ERRBUF_MAX + 160];
            if (ops[k].jop == JOURNAL_CREATE && (rc = record_tainted(r, c)) < 0)
                goto out;
            snprintf(msg, sizeof(msg), "%s%s%s", res[k].code[0] ? res[k].code : "",
                     res[k].code[0] ? ": " : "", res[k].err.msg);
            r->status[i] = ST_FAILED;
            free(r->failure[i]);
            r->failure[i] = strdup(msg);
            emit(r, APPLY_FAILED, i, verb_of(ops[k].jop, c->action), now_s() - started, msg);
        }
    }
    if ((rc = state_backend_save(r->be, r->st, r->keys, r->err)) < 0)
        goto out;
    for (size_t k = 0; k < n; k++)
        if ((rc = journal_done(r->j, ops[k].journal_id, r->err)) < 0)
            goto out;
out:
    for (size_t k = 0; k < n; k++) {
        free(bodies[k]);
        json_decref(filled ? filled[k] : NULL);
    }
    free(bodies);
    free(filled);
    provider_results_release(res, n);
    free(res);
    free(w);
    return rc;
}

/* Marks as skipped every pending step with a failed or skipped dependency. */
static void propagate_skips(struct run *r)
{
    bool changed = true;
    while (changed) {
        changed = false;
        for (size_t i = 0; i < r->plan->n; i++) {
            const struct plan_change *c = &r->plan->changes[i];
            if (r->status[i] != ST_PENDING)
                continue;
            for (size_t k = 0; k < c->ndeps; k++) {
                enum step_status s = r->status[c->deps[k]];
                if (s == ST_FAILED || s == ST_SKIPPED) {
                    char msg[300];
                    snprintf(msg, sizeof(msg), "%s did not complete",
                             r->plan->changes[c->deps[k]].address);
                    r->status[i] = ST_SKIPPED;
                    emit(r, APPLY_SKIPPED, i, NULL, 0, msg);
                    changed = true;
                    break;
                }
            }
        }
    }
}

static bool ready(const struct run *r, size_t i)
{
    const struct plan_change *c = &r->plan->changes[i];
    if (r->status[i] != ST_PENDING)
        return false;
    for (size_t k = 0; k < c->ndeps; k++)
        if (r->status[c->deps[k]] != ST_DONE)
            return false;
    return true;
}

int apply_run(struct apply_result *out, const struct plan *plan, struct state *st,
              struct state_backend *be, struct crypt_keys *keys, struct journal *j,
              struct provider *p, const struct apply_opts *o, struct errbuf *err)
{
    struct run r = {plan, st, be, keys, j, p, o, NULL, NULL, err};
    struct op *ops = calloc(plan->n + 1, sizeof(*ops));
    size_t *wave = calloc(plan->n + 1, sizeof(*wave));
    int rc = 0;

    memset(out, 0, sizeof(*out));
    r.status = calloc(plan->n + 1, sizeof(*r.status));
    r.failure = calloc(plan->n + 1, sizeof(*r.failure));
    if (ops == NULL || wave == NULL || r.status == NULL || r.failure == NULL) {
        rc = errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
        goto out;
    }
    for (;;) {
        size_t nwave = 0, nops;
        propagate_skips(&r);
        if (o && o->stop && *o->stop)
            break;
        for (size_t i = 0; i < plan->n; i++)
            if (ready(&r, i))
                wave[nwave++] = i;
        if (nwave == 0)
            break;
        for (size_t k = 0; k < nwave; k++)
            r.status[wave[k]] = ST_RUNNING;
        /* 0: deletes that are only state (their parent's deletion took them) */
        for (size_t k = 0; k < nwave; k++) {
            const struct plan_change *c = &plan->changes[wave[k]];
            if (c->action != PLAN_DELETE || !c->state_only)
                continue;
            if (state_remove(st, c->address, err) < 0 && err->code != AMLSEC_ENOTFOUND) {
                rc = err->code;
                goto out;
            }
            if ((rc = state_backend_save(be, st, keys, err)) < 0)
                goto out;
            r.status[wave[k]] = ST_DONE;
            emit(&r, APPLY_FINISHED, wave[k], "Forgetting", 0, NULL);
        }
        /* 1: deletes, and the delete half of ordinary replacements */
        nops = 0;
        for (size_t k = 0; k < nwave; k++) {
            const struct plan_change *c = &plan->changes[wave[k]];
            if (r.status[wave[k]] != ST_RUNNING)
                continue;
            if (c->action == PLAN_DELETE ||
                (c->action == PLAN_REPLACE && !c->create_before_destroy))
                ops[nops++] = (struct op){wave[k], JOURNAL_DELETE, false, {0}, false};
        }
        if (nops && (rc = run_batch(&r, ops, nops)) < 0)
            goto out;
        /* 2: creates, updates, and the create half of replacements */
        nops = 0;
        for (size_t k = 0; k < nwave; k++) {
            const struct plan_change *c = &plan->changes[wave[k]];
            if (r.status[wave[k]] != ST_RUNNING || c->action == PLAN_DELETE)
                continue;
            ops[nops++] = (struct op){wave[k],
                                      c->action == PLAN_UPDATE ? JOURNAL_UPDATE : JOURNAL_CREATE,
                                      false,
                                      {0},
                                      false};
        }
        if (nops && (rc = run_batch(&r, ops, nops)) < 0)
            goto out;
        /* 3: the old half of create-before-destroy replacements. With the
         * same ARM id the create above replaced it in place; a renamed
         * resource leaves the old one to delete now. */
        nops = 0;
        for (size_t k = 0; k < nwave; k++) {
            const struct plan_change *c = &plan->changes[wave[k]];
            if (r.status[wave[k]] == ST_RUNNING && c->action == PLAN_REPLACE &&
                c->create_before_destroy && c->prior_arm_id)
                ops[nops++] = (struct op){wave[k], JOURNAL_DELETE, true, {0}, false};
        }
        if (nops && (rc = run_batch(&r, ops, nops)) < 0)
            goto out;
        for (size_t k = 0; k < nwave; k++) {
            if (r.status[wave[k]] == ST_RUNNING)
                r.status[wave[k]] = ST_DONE;
        }
    }
out:
    for (size_t i = 0; i < plan->n; i++) {
        out->done += r.status && r.status[i] == ST_DONE;
        out->failed += r.status && r.status[i] == ST_FAILED;
        out->skipped += r.status && r.status[i] == ST_SKIPPED;
        out->not_started += r.status && (r.status[i] == ST_PENDING);
        if (r.failure)
            free(r.failure[i]);
    }
    free(r.failure);
    free(r.status);
    free(wave);
    free(ops);
    return rc;
}
