/* The applier: executes a plan's change set against the provider.
 *
 * A dependency-driven walk: a change starts the moment every change it
 * depends on has succeeded (nothing waits for unrelated work), up to
 * `parallelism` operations in flight, all through the provider's streaming
 * writes (its client holds the rate limiter). A change is one operation,
 * or two in order for a replacement (delete then create; or create, then
 * delete the renamed-away old resource). Every write goes through the
 * journal (state/journal.h): the intent is durable before the request
 * leaves (intents begun together share one sync), the outcome is folded
 * into the state the moment it arrives, and the state file is saved at
 * least every second and at the end; the journal holds every outcome in
 * between, so a kill at any instant loses nothing.
 *
 * A failure stops its branch: the changes that depend on it are skipped,
 * independent work completes, and apply_run reports each failure.
 *
 * A variable's validation known only after apply (plan->checks) is
 * checked as soon as what it reads is in the state: until then the
 * changes that read its variable (its "guards") wait, and everything else
 * runs as usual; a false one (APPLY_INVALID) skips what it held and what
 * depends on that, as a failed change skips its dependents, and what
 * completed is saved.
 * *stop = 1 (first Ctrl-C) starts nothing more and waits for the
 * operations in flight; *stop = 2 (second) abandons them: their journal
 * intents stay pending for the next run to reconcile. When the provider's
 * client itself fails (a broken transport, out of memory), the writes it
 * left unfinished are treated the same way: nothing more starts, their
 * intents stay pending (the service may still carry them out), what did
 * complete is saved, and apply_run returns the client's error. */
#ifndef AMLSEC_ENGINE_APPLY_H
#define AMLSEC_ENGINE_APPLY_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "engine/plan.h"
#include "providers/provider.h"
#include "state/backend.h"
#include "state/journal.h"

enum apply_event_kind {
    APPLY_STARTED,     /* a request is about to be sent */
    APPLY_FINISHED,    /* it succeeded */
    APPLY_FAILED,      /* it failed: message has ARM's code and message */
    APPLY_SKIPPED,     /* not attempted: something it depends on failed */
    APPLY_PROGRESS,    /* still running: seconds says for how long */
    APPLY_INTERRUPTED, /* *stop was seen: nothing more starts; change is NULL */
    APPLY_INVALID,     /* a validation checked at apply is false (or cannot be checked):
                          nothing more starts; change is NULL, message says why */
    APPLY_VALUES,      /* before a request of a change with sensitive values is built: values
                          has the change's attributes with what was known only after apply
                          filled in (the caller registers the secrets among them, which no plan
                          could: the request is logged next) */
};

struct apply_event {
    enum apply_event_kind kind;
    const struct plan_change *change;
    const char *arm_id;   /* the id the change acts on (derived at apply when the plan shows it
                             as known after apply); NULL when not known */
    const char *verb;     /* "Creating", "Modifying", "Destroying" */
    double seconds;       /* FINISHED/FAILED/PROGRESS: how long the operation took so far */
    const char *message;  /* FAILED/SKIPPED */
    size_t in_flight;     /* INTERRUPTED: operations still running */
    const json_t *values; /* VALUES: borrowed, valid during the call */
    bool unchecked;       /* INVALID: the validation could not be checked (message says why:
                             what it reads failed, was skipped, was not applied, or left it
                             unknown); reported whatever else failed */
};

typedef void (*apply_event_fn)(void *payload, const struct apply_event *ev);

struct apply_opts {
    apply_event_fn on_event; /* may be NULL */
    void *payload;
    volatile sig_atomic_t *stop; /* may be NULL; 1 stop starting, 2 abandon */
    unsigned parallelism;        /* operations in flight; 0 = 10 */
    double progress_every;       /* seconds between PROGRESS events; 0 = none */
};

struct apply_result {
    size_t done, failed, skipped, not_started;
    size_t abandoned; /* in flight when abandoned: the journal has their intents */
    size_t invalid;   /* validations found false at apply, or left unchecked */
    /* what was done, counted as the plan counts it (a replacement is one
     * added and one destroyed): a change done counts whole; one that
     * stopped part way counts the operations it completed (a replacement's
     * delete whose create then failed: one destroyed) */
    size_t added, changed, destroyed;
    /* the run's own bookkeeping, not its requests: edges and changes the
     * step graph visited, state entries looked up, moved or visited (tests
     * count it: linear in the changes) */
    size_t work;
};

/* Applies plan to st, saving through be (keys may be NULL). st must be the
 * state the plan was made against (the caller checks lineage and serial).
 * Returns 0 when every step was attempted (out says how many failed), or a
 * negative code when the state could not be saved or the provider's client
 * failed (err; out->abandoned counts the writes left pending). */
int apply_run(struct apply_result *out, const struct plan *plan, struct state *st,
              struct state_backend *be, struct crypt_keys *keys, struct journal *j,
              struct provider *p, const struct apply_opts *o, struct errbuf *err);

#endif
