/* The ARM client: sends calls through a transport with everything ARM asks
 * of a good citizen, so callers only say what they want:
 *
 *   - up to `parallelism` requests in flight, the rest queued;
 *   - client-side token buckets per subscription (ratelimit.h), fed by
 *     x-ms-ratelimit-remaining-* and blocked by a 429's Retry-After;
 *   - retries of 429, 408, 5xx and connection failures with full-jitter
 *     exponential backoff that honours Retry-After and never runs past the
 *     call's deadline (a Retry-After beyond it fails at once); other 4xx
 *     fail at once with ARM's code, message and target; 409s that say
 *     another operation is in progress are retried; PUT, PATCH, GET and
 *     DELETE are retried on ambiguous failures, POST only when the caller
 *     says it is safe; a DELETE that meets 404 has succeeded;
 *   - long-running operations: Azure-AsyncOperation first, then Location,
 *     then the resource itself while its provisioningState is not
 *     terminal; Succeeded/Failed/Canceled; the operation's error code is
 *     surfaced; the final body comes from where final-state-via says;
 *   - x-ms-client-request-id (a UUID per request), one
 *     x-ms-correlation-request-id per client (unless switched off),
 *     User-Agent amlsec/VERSION [pid-PARTNER], Authorization and, for ARM
 *     calls, x-ms-authorization-auxiliary from the token source;
 *   - LOG_DEBUG: one line per request; LOG_TRACE: headers and bodies; both
 *     redacted (redact.h).
 *
 * Single-threaded. Calls are either run as a batch (arm_client_run, which
 * returns when all have an outcome) or streamed (arm_client_submit, then
 * arm_client_next hands them back one by one as they finish), so that a
 * scheduler can start new work the moment earlier work ends. Both share
 * the parallelism and the rate limiter, and may be mixed: streamed calls
 * keep going during an arm_client_run. */
#ifndef AMLSEC_PROVIDERS_ARM_ARM_CLIENT_H
#define AMLSEC_PROVIDERS_ARM_ARM_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "providers/arm/arm_clock.h"
#include "providers/arm/arm_error.h"
#include "providers/arm/cloud.h"
#include "providers/arm/kind.h"
#include "providers/arm/ratelimit.h"
#include "providers/arm/transport.h"
#include "util/errbuf.h"

/* Where bearer tokens come from (auth.h provides one). get() returns a
 * token valid for at least a few minutes, borrowed until the next get(). */
struct arm_token_source {
    /* *out = the token for scope, borrowed; NULL sends no Authorization */
    int (*get)(void *payload, const char *scope, const char **out, struct errbuf *err);
    void *payload;
    /* Optional: forget the cached token of scope (ARM said it expired:
     * clock skew, revocation). The call is then retried once. */
    void (*invalidate)(void *payload, const char *scope);
    /* Optional: the x-ms-authorization-auxiliary value for ARM calls (tokens
     * of other tenants), or *out = NULL for none. Borrowed like get(). */
    int (*auxiliary)(void *payload, const char *scope, const char **out, struct errbuf *err);
};

struct arm_client_opts {
    const struct arm_cloud *cloud;       /* required: relative urls are joined to it */
    struct transport *transport;         /* required, borrowed */
    const struct arm_token_source *auth; /* copied; NULL: no Authorization header */
    const struct arm_clock *clock;       /* NULL: the real clock */
    unsigned parallelism;                /* requests in flight; 0 = 10 */
    int64_t timeout_ms;                  /* default deadline of a call; 0 = 30 min */
    int64_t attempt_timeout_ms;          /* one HTTP attempt; 0 = 120 s */
    int64_t backoff_base_ms;             /* 0 = 1 s */
    int64_t backoff_cap_ms;              /* 0 = 60 s */
    int64_t lro_poll_ms;                 /* poll interval without Retry-After; 0 = 60 s (RPC) */
    unsigned max_attempts;               /* per request; 0 = 12 */
    size_t max_response;                 /* body cap; 0 = 64 MiB */
    uint64_t seed;                       /* jitter; 0 = random */
    const char *correlation_id;          /* NULL: a fresh UUID */
    int no_correlation_id;               /* send no x-ms-correlation-request-id */
    const char *partner_id;              /* GUID ("pid-" optional): User-Agent gets pid-GUID */
    int no_rate_limit;                   /* disable the client-side buckets */
};

/* Test hook for the applier's crash-safety tests: with
 * AMLSEC_FAULT_CLIENT=poll the client fails (as after a curl multi error)
 * whenever a long-running operation is due to be polled, so that writes
 * the service has accepted are left in flight. Unset in normal runs. */
#define ARM_CLIENT_FAULT_ENV "AMLSEC_FAULT_CLIENT"

#define ARM_CALL_RETRY_POST 0x1 /* this POST is safe to repeat (queries) */
#define ARM_CALL_NO_LRO 0x2     /* never poll: return the first answer */
/* Streamed work that may wait: started only when no other call waits to
 * start, in at most three quarters of the parallelism (a call submitted
 * later without it goes first: a Resource Graph page is not queued behind
 * thousands of lists) */
#define ARM_CALL_BACKGROUND 0x4

struct arm_call_state;

struct arm_call {
    /* In: borrowed until arm_client_run returns. */
    const char *method;      /* GET, PUT, PATCH, DELETE, POST */
    const char *url;         /* absolute, or a path ("/subscriptions/...") */
    const char *api_version; /* appended as api-version=; NULL when url has it */
    const char *body;        /* JSON, or NULL */
    enum lro_pattern lro;    /* final-state-via of this verb */
    const char *scope;       /* token scope; NULL = the cloud's ARM scope */
    enum rl_class rl;        /* bucket; set from the method unless rl_set */
    int rl_set;
    int64_t deadline_ms; /* absolute, on the client's clock; 0 = now + timeout */
    unsigned flags;      /* ARM_CALL_* */
    /* Called once, from inside the client, when the service accepts the
     * request as a long-running operation: operation_url (borrowed for the
     * call) is the URL the client polls (Azure-AsyncOperation, else
     * Location). May be NULL. */
    void (*on_accepted)(void *arg, const char *operation_url);
    void *accepted_arg;

    /* Out: filled by arm_client_run; free with arm_call_release. */
    int rc;            /* 0, AMLSEC_ENOTFOUND (GET 404), AMLSEC_ECONFLICT (409),
                          AMLSEC_EHTTP (other ARM errors, failed operations,
                          transport failures), AMLSEC_ENOMEM, ... */
    struct errbuf err; /* the message when rc < 0 */
    long status;       /* HTTP status of the last answer that decided the call */
    char *response;    /* final body (NUL-terminated), or NULL */
    size_t response_len;
    struct arm_error error;      /* ARM's code/message/target, or the operation's error */
    struct http_header *headers; /* headers of the final answer */
    size_t n_headers;
    unsigned requests;   /* HTTP requests made for this call (attempts and polls) */
    unsigned retries;    /* of which retries */
    int gone;            /* DELETE: nothing was there (204 or 404) */
    int unknown;         /* the client itself failed before the call finished (rc says how):
                            a request may have been sent, and the service may still carry it
                            out */
    int64_t answered_at; /* client clock: when the last answer arrived (0: none did) */

    struct arm_call_state *st; /* private */
};

/* A header of the final answer, or NULL. Borrowed. */
const char *arm_call_header(const struct arm_call *c, const char *name);
/* Frees the outputs; the inputs are the caller's. */
void arm_call_release(struct arm_call *c);

struct arm_client;

int arm_client_new(struct arm_client **out, const struct arm_client_opts *opts, struct errbuf *err);
void arm_client_free(struct arm_client *c);

/* Runs the n calls concurrently. Each call's outcome is in calls[i].rc and
 * .err. Returns 0 once every call has an outcome, or < 0 when the machinery
 * itself failed (out of memory, a broken transport); then every call not
 * finished, streamed ones included, has that error too and is marked
 * unknown. */
int arm_client_run(struct arm_client *c, struct arm_call *calls, size_t n, struct errbuf *err);
/* Streaming. arm_client_submit queues call (borrowed until it is handed
 * back, or until arm_client_abandon); its outcome is in call->rc as with
 * arm_client_run. Returns < 0 only when out of memory (call->rc says so
 * and the call was not queued). */
int arm_client_submit(struct arm_client *c, struct arm_call *call);
/* Drives the submitted calls for up to timeout_ms (< 0: until one
 * finishes) and hands back in *out one that finished, or NULL when none
 * did in time or none is left. Returns < 0 (and *out NULL) when the
 * machinery failed; every call not finished then has that error, is marked
 * unknown and is handed back by the next calls. */
int arm_client_next(struct arm_client *c, int64_t timeout_ms, struct arm_call **out,
                    struct errbuf *err);
/* Drives the submitted calls until the client's clock reaches until_ms
 * (sleeps once none is left): what must wait (Resource Graph's quota) lets
 * streamed work go on meanwhile. Calls that finish are held for
 * arm_client_next. Returns < 0 when the machinery failed (every call not
 * finished then has that error and is held). */
int arm_client_drive(struct arm_client *c, int64_t until_ms, struct errbuf *err);
/* Submitted calls not yet handed back. */
size_t arm_client_active(const struct arm_client *c);
/* The background calls (ARM_CALL_BACKGROUND) not started yet start as
 * others do from now on, in the whole parallelism: what they made way for
 * (Resource Graph's pages) is done, and the caller now waits for them. */
void arm_client_foreground(struct arm_client *c);
/* Forgets every submitted call not yet handed back: requests in flight are
 * dropped (what was sent stays sent: the service may still carry it out)
 * and each call is passed to each (may be NULL) for its owner to release;
 * none is handed back by arm_client_next. */
void arm_client_abandon(struct arm_client *c, void (*each)(struct arm_call *call, void *payload),
                        void *payload);

/* One call; returns call->rc (call->err holds the message). */
int arm_client_call(struct arm_client *c, struct arm_call *call);

const char *arm_client_correlation_id(const struct arm_client *c);
/* HTTP requests sent by this client so far. */
unsigned long arm_client_request_count(const struct arm_client *c);
/* 429 answers received, and retries made, so far. */
unsigned long arm_client_throttled_count(const struct arm_client *c);
unsigned long arm_client_retry_count(const struct arm_client *c);
const struct arm_clock *arm_client_clock(const struct arm_client *c);
const struct arm_cloud *arm_client_cloud(const struct arm_client *c);
struct ratelimit *arm_client_ratelimit(struct arm_client *c);

/* Resource Graph's user quota as this client last saw it
 * (x-ms-user-quota-remaining and -resets-after): it is per principal, so
 * every query the client sends shares it (graph.c keeps it here). */
struct arm_graph_quota {
    long remaining;   /* -1 = unknown */
    long limit;       /* the largest window seen (remaining + 1 on its first query); 0 = unknown */
    int64_t reset_at; /* client clock: the earliest reset the window's answers allow, 0 = none */
};
struct arm_graph_quota *arm_client_graph_quota(struct arm_client *c);

/* Parses Retry-After (seconds or an HTTP date), retry-after-ms and
 * x-ms-retry-after-ms. Returns milliseconds (at most a week: longer waits
 * are cut to that, past any call's deadline), or -1 when absent or bad. */
int64_t arm_retry_after_ms(const struct http_exchange *x, int64_t wall_now_s);

/* The backoff before retry number `attempt` (1 = first retry): a uniform
 * draw in [0, min(cap, base * 2^(attempt-1))] taken from *rng. */
int64_t arm_backoff_ms(int64_t base_ms, int64_t cap_ms, unsigned attempt, uint64_t *rng);

#endif
