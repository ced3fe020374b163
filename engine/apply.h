/* The applier: executes a plan's change set against the provider.
 *
 * Steps run group by group (a group's steps only depend on earlier
 * groups): within a group, deletes first, then creates and updates
 * together, then the deferred deletes of create-before-destroy
 * replacements; each batch runs concurrently through the provider (its
 * client holds the parallelism and the rate limiter). Every write goes
 * through the journal (state/journal.h): the intent is durable before the
 * request leaves, the outcome after the response, and the state is saved
 * as soon as a batch finishes, so a kill at any instant loses nothing.
 *
 * A failure stops its branch: the steps that depend on it are skipped,
 * independent work completes, and apply_run reports each failure. Setting
 * *stop (Ctrl-C) lets the running batch finish and starts nothing more. */
#ifndef AMLSEC_ENGINE_APPLY_H
#define AMLSEC_ENGINE_APPLY_H

#include <signal.h>
#include <stddef.h>

#include "engine/plan.h"
#include "providers/provider.h"
#include "state/backend.h"
#include "state/journal.h"

enum apply_event_kind {
    APPLY_STARTED,  /* a request is about to be sent */
    APPLY_FINISHED, /* it succeeded */
    APPLY_FAILED,   /* it failed: message has ARM's code and message */
    APPLY_SKIPPED,  /* not attempted: something it depends on failed */
};

struct apply_event {
    enum apply_event_kind kind;
    const struct plan_change *change;
    const char *verb;    /* "Creating", "Modifying", "Destroying" */
    double seconds;      /* FINISHED/FAILED: how long the request took */
    const char *message; /* FAILED/SKIPPED */
};

typedef void (*apply_event_fn)(void *payload, const struct apply_event *ev);

struct apply_opts {
    apply_event_fn on_event; /* may be NULL */
    void *payload;
    volatile sig_atomic_t *stop; /* may be NULL */
};

struct apply_result {
    size_t done, failed, skipped, not_started;
};

/* Applies plan to st, saving through be (keys may be NULL). st must be the
 * state the plan was made against (the caller checks lineage and serial).
 * Returns 0 when every step was attempted (out says how many failed), or a
 * negative code when the state could not be saved (err). */
int apply_run(struct apply_result *out, const struct plan *plan, struct state *st,
              struct state_backend *be, struct crypt_keys *keys, struct journal *j,
              struct provider *p, const struct apply_opts *o, struct errbuf *err);

#endif
