#include "providers/arm/arm_client.h"
#include "providers/arm/redact.h"
#include "providers/arm/uuid.h"
#include "util/error.h"
#include "util/log.h"

#include <ctype.h>
#include <jansson.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "util/jsonw.h"
#include "util/banned.h"

#define USER_AGENT "amlsec/" AMLSEC_VERSION

struct call_queue {
    struct arm_call **v;
    size_t head, n, cap; /* the calls are v[head..n) */
};

struct arm_client {
    struct arm_client_opts o;
    struct arm_token_source auth; /* a copy: callers may pass a stack variable */
    const struct arm_clock *clock;
    struct ratelimit rl;
    char correlation[128];
    char user_agent[96];
    char origin[256]; /* scheme://authority of the resource manager */
    uint64_t rng;
    unsigned long requests, throttled, retries;
    unsigned inflight;
    /* Calls submitted and not yet handed back by arm_client_next, linked
     * through their state; each sits in at most one queue (not started,
     * waiting, finished) or is in flight with the transport. */
    struct arm_call *active;
    size_t n_active;
    struct call_queue fresh, waiting, done;
    struct call_queue background; /* ARM_CALL_BACKGROUND calls not started: after fresh */
    struct call_queue held;       /* streamed calls that finished during arm_client_run */
    unsigned bg_inflight;         /* background calls in flight */
    int64_t blocked_until;        /* new calls wait for the bucket until then */
    struct arm_graph_quota graph_quota;
    int fault_poll; /* ARM_CLIENT_FAULT_ENV=poll */
};

enum phase { PH_START, PH_POLL, PH_FINAL };
enum poll_kind { POLL_ASYNC, POLL_LOCATION, POLL_RESOURCE };

struct arm_call_state {
    enum phase phase;
    enum poll_kind poll;
    char *url;      /* the resolved original url */
    char *poll_url; /* the current status url */
    char *location; /* Location of the first answer */
    char *final_url;
    char sub[96]; /* rate-limit key */
    int64_t ready_at, deadline, sent_at;
    unsigned attempt; /* attempts of the current request */
    int inflight, done;
    int background; /* ARM_CALL_BACKGROUND, counted in bg_inflight while in flight */
    int reauthed;   /* a 401 for an expired token was retried once */
    struct arm_call *prev_active, *next_active;
    struct http_exchange x;
    char last[400]; /* the last retryable failure */
};

/* --- small helpers ------------------------------------------------------ */

static int is_method(const struct arm_call *call, const char *m)
{
    return strcasecmp(call->method, m) == 0;
}

static uint64_t next_rand(uint64_t *s)
{
    /* xorshift64* */
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

int64_t arm_backoff_ms(int64_t base_ms, int64_t cap_ms, unsigned attempt, uint64_t *rng)
{
    int64_t ceiling = base_ms;
    for (unsigned i = 1; i < attempt && ceiling < cap_ms; i++)
        ceiling *= 2;
    if (ceiling > cap_ms)
        ceiling = cap_ms;
    if (ceiling <= 0)
        return 0;
    return (int64_t)(next_rand(rng) % (uint64_t)(ceiling + 1));
}

/* A wait longer than any call's deadline, so that the clock plus a wait
 * never overflows: larger answers are cut to it. */
#define RETRY_AFTER_MAX_MS ((int64_t)7 * 24 * 3600 * 1000)

int64_t arm_retry_after_ms(const struct http_exchange *x, int64_t wall_now_s)
{
    const char *v;
    char *end;
    long long n;

    v = http_exchange_resp_header(x, "retry-after-ms");
    if (v == NULL)
        v = http_exchange_resp_header(x, "x-ms-retry-after-ms");
    if (v) {
        n = strtoll(v, &end, 10);
        if (end != v && *end == '\0' && n >= 0)
            return n < RETRY_AFTER_MAX_MS ? (int64_t)n : RETRY_AFTER_MAX_MS;
    }
    v = http_exchange_resp_header(x, "Retry-After");
    if (v == NULL)
        return -1;
    n = strtoll(v, &end, 10);
    if (end != v && *end == '\0' && n >= 0)
        return n < RETRY_AFTER_MAX_MS / 1000 ? (int64_t)n * 1000 : RETRY_AFTER_MAX_MS;
    {
        struct tm tm;
        memset(&tm, 0, sizeof(tm));
        end = strptime(v, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        if (end && *end == '\0') {
            int64_t at = (int64_t)timegm(&tm);
            if (at <= wall_now_s)
                return 0;
            return at - wall_now_s < RETRY_AFTER_MAX_MS / 1000 ? (at - wall_now_s) * 1000
                                                               : RETRY_AFTER_MAX_MS;
        }
    }
    return -1;
}

static const char *sub_of(const char *url, char *dst, size_t size)
{
    const char *p = strcasestr(url, "/subscriptions/");
    size_t n;
    if (p == NULL) {
        snprintf(dst, size, "tenant");
        return dst;
    }
    p += strlen("/subscriptions/");
    n = strcspn(p, "/?");
    if (n == 0 || n >= size) {
        snprintf(dst, size, "tenant");
        return dst;
    }
    memcpy(dst, p, n);
    dst[n] = '\0';
    return dst;
}

static int on_origin(const struct arm_client *c, const char *url)
{
    size_t n = strlen(c->origin);
    return strncasecmp(url, c->origin, n) == 0 && (url[n] == '/' || url[n] == '\0');
}

static char *resolve_url(const struct arm_client *c, const struct arm_call *call)
{
    struct buf b;
    buf_init(&b, 0);
    if (call->url[0] == '/')
        buf_adds(&b, c->o.cloud->resource_manager);
    buf_adds(&b, call->url);
    if (call->api_version && strstr(call->url, "api-version=") == NULL)
        buf_addf(&b, "%capi-version=%s", strchr(call->url, '?') ? '&' : '?', call->api_version);
    if (b.len == 0) {
        buf_release(&b);
        return NULL;
    }
    return buf_detach(&b, NULL);
}

static const char *state_of(json_t *root, const char *key1, const char *key2)
{
    json_t *v = json_object_get(root, key1);
    if (key2)
        v = json_object_get(v, key2);
    return json_string_value(v);
}

static int terminal(const char *s)
{
    return s == NULL || strcasecmp(s, "Succeeded") == 0 || strcasecmp(s, "Failed") == 0 ||
           strcasecmp(s, "Canceled") == 0 || strcasecmp(s, "Cancelled") == 0;
}

/* --- logging (always redacted) ------------------------------------------ */

static void log_redacted(enum log_level level, const char *prefix, const char *text, size_t len)
{
    struct buf b;
    if (!log_enabled(level))
        return;
    buf_init(&b, 0);
    if (len > 3000)
        len = 3000;
    if (buf_adds(&b, prefix) == 0 && redact_append(&b, text, len) == 0)
        log_msg(level, "%s", b.ptr);
    buf_release(&b);
}

static void trace_request(const struct http_exchange *x)
{
    if (!log_enabled(LOG_TRACE))
        return;
    for (size_t i = 0; i < x->n_headers; i++)
        log_redacted(LOG_TRACE, "arm: > ", x->headers[i], strlen(x->headers[i]));
    if (x->body)
        log_redacted(LOG_TRACE, "arm: > body ", x->body, x->body_len);
}

/* ARM actions whose answers are secrets (listKeys, listSecrets,
 * listCredentials, regenerateKey, getToken, ...): their bodies are never
 * traced, whatever the member names inside. */
static int returns_secrets(const char *url)
{
    const char *end = url + strcspn(url, "?");
    const char *seg = end;
    while (seg > url && seg[-1] != '/')
        seg--;
    return strncasecmp(seg, "list", 4) == 0 || strncasecmp(seg, "regenerate", 10) == 0 ||
           strncasecmp(seg, "gettoken", 8) == 0 || strncasecmp(seg, "token", 5) == 0;
}

static void trace_response(const struct http_exchange *x)
{
    char line[1024];
    if (!log_enabled(LOG_TRACE))
        return;
    for (size_t i = 0; i < x->n_resp_headers; i++) {
        snprintf(line, sizeof(line), "%s: %s", x->resp_headers[i].name, x->resp_headers[i].value);
        log_redacted(LOG_TRACE, "arm: < ", line, strlen(line));
    }
    if (x->resp_body.len == 0)
        return;
    if (returns_secrets(x->url))
        log_msg(LOG_TRACE, "arm: < body of %zu bytes withheld (a list/regenerate action)",
                x->resp_body.len);
    else
        log_redacted(LOG_TRACE, "arm: < body ", x->resp_body.ptr, x->resp_body.len);
}

/* --- outcomes ----------------------------------------------------------- */

static void take_response(struct arm_call *call, struct http_exchange *x)
{
    free(call->response);
    call->response_len = x->resp_body.len;
    call->response = buf_detach(&x->resp_body, NULL);
    for (size_t i = 0; i < call->n_headers; i++) {
        free(call->headers[i].name);
        free(call->headers[i].value);
    }
    free(call->headers);
    call->headers = x->resp_headers;
    call->n_headers = x->n_resp_headers;
    x->resp_headers = NULL;
    x->n_resp_headers = 0;
    call->status = x->status;
}

static void finish_ok(struct arm_call *call)
{
    call->rc = 0;
    errbuf_clear(&call->err);
    call->st->done = 1;
}

static void finish_fail(struct arm_call *call, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void finish_fail(struct arm_call *call, int rc, const char *fmt, ...)
{
    char msg[ERRBUF_MAX];
    char *url = redact_dup(call->st->url ? call->st->url : call->url);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    errbuf_set(&call->err, rc, "%s '%s': %s", call->method, url ? url : "(url)", msg);
    free(url);
    call->rc = rc;
    call->st->done = 1;
}

/* The answer is an ARM error: record it and fail. */
static void fail_with_arm_error(struct arm_call *call, struct http_exchange *x, int rc,
                                const char *what)
{
    char detail[900];
    arm_error_parse(&call->error, x->resp_body.ptr, x->resp_body.len);
    arm_error_format(&call->error, detail, sizeof(detail));
    take_response(call, x);
    finish_fail(call, rc, "%s%sHTTP %ld%s%s", what ? what : "", what ? ": " : "", call->status,
                detail[0] ? " " : "", detail);
}

/* --- retries ------------------------------------------------------------ */

static void retry_later(struct arm_client *c, struct arm_call *call, int64_t now,
                        int64_t retry_after, const char *why)
{
    struct arm_call_state *st = call->st;
    int64_t delay;

    snprintf(st->last, sizeof(st->last), "%s", why);
    if (st->attempt >= c->o.max_attempts) {
        finish_fail(call, AMLSEC_EHTTP, "gave up after %u attempts: %s", st->attempt, why);
        return;
    }
    if (retry_after >= 0) {
        delay = retry_after;
        if (now + delay >= st->deadline) {
            finish_fail(call, AMLSEC_EHTTP,
                        "the server asked to retry in %lld s, past the deadline: %s",
                        (long long)((delay + 999) / 1000), why);
            return;
        }
    } else {
        delay = arm_backoff_ms(c->o.backoff_base_ms, c->o.backoff_cap_ms, st->attempt, &c->rng);
        if (now + delay >= st->deadline) {
            finish_fail(call, AMLSEC_EHTTP, "deadline reached after %u attempts: %s", st->attempt,
                        why);
            return;
        }
    }
    log_msg(LOG_DEBUG, "arm: retrying in %lld ms: %s", (long long)delay, why);
    st->ready_at = now + delay;
}

static int in_progress_conflict(const struct arm_error *e)
{
    static const char *const codes[] = {"AnotherOperationInProgress", "OperationInProgress",
                                        "ConflictingOperationInProgress",
                                        "RetryableErrorDueToAnotherOperation"};
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
        if (strcasecmp(e->code, codes[i]) == 0)
            return 1;
    return strcasestr(e->message, "another operation") != NULL &&
           strcasestr(e->message, "progress") != NULL;
}

/* Returns 1 when the answer was handled as retryable (or failed for good
 * because the transport broke), 0 when it is an HTTP answer to look at. */
static int handle_transient(struct arm_client *c, struct arm_call *call, struct http_exchange *x,
                            int64_t now)
{
    struct arm_call_state *st = call->st;
    int repeatable =
        st->phase != PH_START || !is_method(call, "POST") || (call->flags & ARM_CALL_RETRY_POST);
    char why[400];

    if (x->fail != HTTP_FAIL_NONE) {
        snprintf(why, sizeof(why), "%s: %s", http_fail_name(x->fail), x->fail_msg);
        if (x->fail == HTTP_FAIL_CONNECT ||
            ((x->fail == HTTP_FAIL_TIMEOUT || x->fail == HTTP_FAIL_RESET) && repeatable)) {
            if (x->fail == HTTP_FAIL_TIMEOUT && now >= st->deadline)
                finish_fail(call, AMLSEC_EHTTP, "deadline reached after %u attempts: %s",
                            st->attempt, why);
            else
                retry_later(c, call, now, -1, why);
        } else {
            finish_fail(call, AMLSEC_EHTTP, "%s", why);
        }
        return 1;
    }
    if (x->status == 401 && !st->reauthed && c->o.auth && c->o.auth->invalidate) {
        struct arm_error e;
        arm_error_parse(&e, x->resp_body.ptr, x->resp_body.len);
        if (strcasecmp(e.code, "ExpiredAuthenticationToken") == 0 ||
            strcasecmp(e.code, "InvalidAuthenticationTokenTokenExpired") == 0) {
            st->reauthed = 1;
            c->o.auth->invalidate(c->o.auth->payload,
                                  call->scope ? call->scope : c->o.cloud->arm_scope);
            log_msg(LOG_DEBUG, "arm: token expired (%s), signing in again", e.code);
            st->ready_at = now;
            return 1;
        }
    }
    if (x->status == 429 || x->status == 408 || x->status == 409 ||
        (x->status >= 500 && x->status != 501 && x->status != 505)) {
        struct arm_error e;
        char detail[700];
        int64_t ra = arm_retry_after_ms(x, arm_clock_wall(c->clock));

        arm_error_parse(&e, x->resp_body.ptr, x->resp_body.len);
        if (x->status == 409 && (st->phase != PH_START || !in_progress_conflict(&e)))
            return 0;
        if (x->status != 429 && x->status != 503 && !repeatable)
            return 0;
        arm_error_format(&e, detail, sizeof(detail));
        snprintf(why, sizeof(why), "HTTP %ld%s%.360s", x->status, detail[0] ? " " : "", detail);
        if (x->status == 429)
            c->throttled++;
        if (x->status == 429 && !c->o.no_rate_limit)
            ratelimit_block(&c->rl, st->sub, call->rl, now + (ra >= 0 ? ra : 1000));
        retry_later(c, call, now, ra, why);
        if (st->done) {
            call->error = e;
            take_response(call, x);
        }
        return 1;
    }
    return 0;
}

/* --- long-running operations -------------------------------------------- */

static void start_phase(struct arm_client *c, struct arm_call *call, enum phase ph, int64_t at)
{
    (void)c;
    call->st->phase = ph;
    call->st->attempt = 0;
    call->st->ready_at = at;
}

static int set_poll(struct arm_client *c, struct arm_call *call, enum poll_kind kind,
                    const char *url, int64_t now, int64_t ra)
{
    struct arm_call_state *st = call->st;
    if (!on_origin(c, url)) {
        char *r = redact_dup(url);
        finish_fail(call, AMLSEC_EHTTP,
                    "refusing to poll '%s': it is not on the resource manager's host '%s'",
                    r ? r : "(url)", c->origin);
        free(r);
        return -1;
    }
    free(st->poll_url);
    st->poll_url = strdup(url);
    if (st->poll_url == NULL) {
        finish_fail(call, AMLSEC_ENOMEM, "out of memory");
        return -1;
    }
    st->poll = kind;
    start_phase(c, call, PH_POLL, now + (ra >= 0 ? ra : c->o.lro_poll_ms));
    if (call->on_accepted)
        call->on_accepted(call->accepted_arg, st->poll_url);
    return 0;
}

static void go_final_get(struct arm_client *c, struct arm_call *call, const char *url, int64_t now)
{
    struct arm_call_state *st = call->st;
    if (url != st->url && !on_origin(c, url)) {
        finish_fail(call, AMLSEC_EHTTP, "refusing a final GET off the resource manager's host");
        return;
    }
    free(st->final_url);
    st->final_url = strdup(url);
    if (st->final_url == NULL) {
        finish_fail(call, AMLSEC_ENOMEM, "out of memory");
        return;
    }
    start_phase(c, call, PH_FINAL, now);
}

/* The operation succeeded; x is the last status answer. */
static void operation_succeeded(struct arm_client *c, struct arm_call *call,
                                struct http_exchange *x, int64_t now)
{
    struct arm_call_state *st = call->st;

    if (is_method(call, "DELETE")) {
        take_response(call, x);
        finish_ok(call);
        return;
    }
    if (st->poll == POLL_RESOURCE) {
        take_response(call, x);
        finish_ok(call);
        return;
    }
    if (is_method(call, "POST")) {
        if (call->lro == LRO_ORIGINAL_URI)
            go_final_get(c, call, st->url, now);
        else if (st->poll == POLL_LOCATION || call->lro == LRO_AZURE_ASYNC_OPERATION ||
                 st->location == NULL) {
            take_response(call, x);
            finish_ok(call);
        } else {
            go_final_get(c, call, st->location, now);
        }
        return;
    }
    /* PUT and PATCH: the caller wants the resource. */
    if (call->lro == LRO_LOCATION) {
        if (st->poll == POLL_LOCATION && x->resp_body.len > 0) {
            take_response(call, x);
            finish_ok(call);
        } else {
            go_final_get(c, call, st->location ? st->location : st->url, now);
        }
        return;
    }
    go_final_get(c, call, st->url, now);
}

static void operation_failed(struct arm_call *call, struct http_exchange *x, const char *status)
{
    char detail[900];
    arm_error_parse(&call->error, x->resp_body.ptr, x->resp_body.len);
    arm_error_format(&call->error, detail, sizeof(detail));
    take_response(call, x);
    finish_fail(call, AMLSEC_EHTTP, "operation %s%s%s", status, detail[0] ? ": " : "", detail);
}

static void after_poll(struct arm_client *c, struct arm_call *call, struct http_exchange *x,
                       int64_t now)
{
    struct arm_call_state *st = call->st;
    int64_t ra = arm_retry_after_ms(x, arm_clock_wall(c->clock));
    json_t *root = NULL;
    const char *status;

    if (st->poll == POLL_LOCATION) {
        if (x->status == 202) {
            start_phase(c, call, PH_POLL, now + (ra >= 0 ? ra : c->o.lro_poll_ms));
            return;
        }
        if (x->status == 404 && is_method(call, "DELETE")) {
            call->gone = 1;
            take_response(call, x);
            finish_ok(call);
            return;
        }
        if (x->status >= 200 && x->status < 300) {
            operation_succeeded(c, call, x, now);
            return;
        }
        fail_with_arm_error(call, x, AMLSEC_EHTTP, "operation failed");
        return;
    }
    if (x->status < 200 || x->status >= 300) {
        fail_with_arm_error(call, x, AMLSEC_EHTTP,
                            st->poll == POLL_ASYNC ? "reading the operation status"
                                                   : "reading the resource being provisioned");
        return;
    }
    root = jsonw_loadb(x->resp_body.ptr, x->resp_body.len, 0, NULL);
    if (st->poll == POLL_ASYNC) {
        status = state_of(root, "status", NULL);
        if (status == NULL) {
            json_decref(root);
            finish_fail(call, AMLSEC_EPARSE, "operation status without a 'status'");
            return;
        }
    } else {
        status = state_of(root, "properties", "provisioningState");
    }
    if (!terminal(status)) {
        json_decref(root);
        start_phase(c, call, PH_POLL, now + (ra >= 0 ? ra : c->o.lro_poll_ms));
        return;
    }
    if (status == NULL || strcasecmp(status, "Succeeded") == 0) {
        json_decref(root);
        operation_succeeded(c, call, x, now);
        return;
    }
    {
        char st_copy[32];
        snprintf(st_copy, sizeof(st_copy), "%s",
                 strncasecmp(status, "Cancel", 6) == 0 ? "Canceled" : "Failed");
        json_decref(root);
        operation_failed(call, x, st_copy);
    }
}

static void after_start(struct arm_client *c, struct arm_call *call, struct http_exchange *x,
                        int64_t now)
{
    struct arm_call_state *st = call->st;
    const char *async, *loc;
    int64_t ra;

    if (x->status < 200 || x->status >= 300) {
        if (x->status == 404 && is_method(call, "DELETE")) {
            call->gone = 1;
            take_response(call, x);
            finish_ok(call);
            return;
        }
        if (x->status == 404) {
            fail_with_arm_error(call, x, AMLSEC_ENOTFOUND, NULL);
            return;
        }
        fail_with_arm_error(call, x, x->status == 409 ? AMLSEC_ECONFLICT : AMLSEC_EHTTP, NULL);
        return;
    }
    if (is_method(call, "GET") || (call->flags & ARM_CALL_NO_LRO)) {
        take_response(call, x);
        finish_ok(call);
        return;
    }
    async = http_exchange_resp_header(x, "Azure-AsyncOperation");
    loc = http_exchange_resp_header(x, "Location");
    ra = arm_retry_after_ms(x, arm_clock_wall(c->clock));
    if (loc && (st->location = strdup(loc)) == NULL) {
        finish_fail(call, AMLSEC_ENOMEM, "out of memory");
        return;
    }
    if (is_method(call, "DELETE") && x->status == 204) {
        call->gone = 1;
        take_response(call, x);
        finish_ok(call);
        return;
    }
    if (x->status == 201 || x->status == 202 || async) {
        if (async) {
            set_poll(c, call, POLL_ASYNC, async, now, ra);
            return;
        }
        if (loc) {
            set_poll(c, call, POLL_LOCATION, loc, now, ra);
            return;
        }
    }
    /* No polling header: a PUT/PATCH whose resource is still provisioning
     * is polled through the resource itself. */
    if (is_method(call, "PUT") || is_method(call, "PATCH")) {
        json_t *root = jsonw_loadb(x->resp_body.ptr, x->resp_body.len, 0, NULL);
        const char *ps = state_of(root, "properties", "provisioningState");
        int pending = !terminal(ps);
        int failed = ps && (strcasecmp(ps, "Failed") == 0 || strncasecmp(ps, "Cancel", 6) == 0);
        char copy[32];
        snprintf(copy, sizeof(copy), "%s",
                 failed && strncasecmp(ps, "Cancel", 6) == 0 ? "Canceled" : "Failed");
        json_decref(root);
        if (pending) {
            st->poll = POLL_RESOURCE;
            free(st->poll_url);
            if ((st->poll_url = strdup(st->url)) == NULL) {
                finish_fail(call, AMLSEC_ENOMEM, "out of memory");
                return;
            }
            start_phase(c, call, PH_POLL, now + (ra >= 0 ? ra : c->o.lro_poll_ms));
            return;
        }
        if (failed) {
            operation_failed(call, x, copy);
            return;
        }
    }
    take_response(call, x);
    finish_ok(call);
}

static void after_final(struct arm_client *c, struct arm_call *call, struct http_exchange *x)
{
    (void)c;
    if (x->status >= 200 && x->status < 300) {
        take_response(call, x);
        finish_ok(call);
        return;
    }
    fail_with_arm_error(call, x, x->status == 404 ? AMLSEC_ENOTFOUND : AMLSEC_EHTTP,
                        "reading the final result");
}

/* --- sending ------------------------------------------------------------ */

static void observe_limits(struct arm_client *c, struct arm_call *call,
                           const struct http_exchange *x, int64_t now)
{
    static const struct {
        const char *name;
        enum rl_class cls;
    } hs[] = {
        {"x-ms-ratelimit-remaining-subscription-reads", RL_READ},
        {"x-ms-ratelimit-remaining-subscription-writes", RL_WRITE},
        {"x-ms-ratelimit-remaining-subscription-deletes", RL_DELETE},
        {"x-ms-ratelimit-remaining-subscription-global-reads", RL_READ},
        {"x-ms-ratelimit-remaining-subscription-global-writes", RL_WRITE},
        {"x-ms-ratelimit-remaining-subscription-global-deletes", RL_DELETE},
        {"x-ms-ratelimit-remaining-tenant-reads", RL_READ},
        {"x-ms-ratelimit-remaining-tenant-writes", RL_WRITE},
    };
    if (c->o.no_rate_limit)
        return;
    for (size_t i = 0; i < sizeof(hs) / sizeof(hs[0]); i++) {
        const char *v = http_exchange_resp_header(x, hs[i].name);
        char *end;
        long n;
        if (v == NULL)
            continue;
        n = strtol(v, &end, 10);
        if (end == v || *end != '\0')
            continue;
        ratelimit_observe(&c->rl, strstr(hs[i].name, "tenant") ? "tenant" : call->st->sub,
                          hs[i].cls, n, now);
    }
}

static int start_attempt(struct arm_client *c, struct arm_call *call, int64_t now,
                         struct errbuf *err)
{
    struct arm_call_state *st = call->st;
    struct http_exchange *x = &st->x;
    const char *method = "GET", *url = st->url, *body = NULL;
    char rid[UUID_STR_LEN];
    int rc;

    if (st->phase == PH_START) {
        method = call->method;
        body = call->body;
    } else if (st->phase == PH_POLL) {
        url = st->poll_url;
    } else {
        url = st->final_url;
    }
    if (uuid_v4(rid) < 0)
        return errbuf_set(err, AMLSEC_ERROR, "no randomness for a request id");
    if (http_exchange_set_request(x, method, url, body, body ? strlen(body) : 0) < 0 ||
        http_exchange_add_header(x, "Accept", "application/json") < 0 ||
        http_exchange_add_header(x, "User-Agent", c->user_agent) < 0 ||
        http_exchange_add_header(x, "x-ms-client-request-id", rid) < 0 ||
        (!c->o.no_correlation_id &&
         http_exchange_add_header(x, "x-ms-correlation-request-id", c->correlation) < 0) ||
        (body && http_exchange_add_header(x, "Content-Type", "application/json") < 0))
        return errbuf_set(err, AMLSEC_ENOMEM, "out of memory building a request");
    if (c->o.auth) {
        const char *tok = NULL;
        struct errbuf terr = ERRBUF_INIT;
        struct buf h;
        rc = c->o.auth->get(c->o.auth->payload, call->scope ? call->scope : c->o.cloud->arm_scope,
                            &tok, &terr);
        if (rc < 0) {
            finish_fail(call, rc, "%s", terr.msg);
            return 0;
        }
        buf_init(&h, 0);
        if (tok && (buf_addf(&h, "Bearer %s", tok) < 0 ||
                    http_exchange_add_header(x, "Authorization", h.ptr) < 0)) {
            buf_release(&h);
            return errbuf_set(err, AMLSEC_ENOMEM, "out of memory building a request");
        }
        buf_release(&h);
        if (c->o.auth->auxiliary &&
            (call->scope == NULL || strcmp(call->scope, c->o.cloud->arm_scope) == 0)) {
            rc = c->o.auth->auxiliary(c->o.auth->payload, c->o.cloud->arm_scope, &tok, &terr);
            if (rc < 0) {
                finish_fail(call, rc, "%s", terr.msg);
                return 0;
            }
            if (tok && http_exchange_add_header(x, "x-ms-authorization-auxiliary", tok) < 0)
                return errbuf_set(err, AMLSEC_ENOMEM, "out of memory building a request");
        }
    }
    x->timeout_ms = c->o.attempt_timeout_ms;
    if (st->deadline - now < x->timeout_ms)
        x->timeout_ms = st->deadline - now > 0 ? st->deadline - now : 1;
    x->max_response = c->o.max_response;
    x->user = call;
    trace_request(x);
    rc = c->o.transport->ops->start(c->o.transport, x, &call->err);
    if (rc < 0) {
        finish_fail(call, rc, "%s", call->err.msg);
        return 0;
    }
    st->inflight = 1;
    st->sent_at = now;
    st->attempt++;
    c->inflight++;
    c->bg_inflight += st->background != 0;
    c->requests++;
    call->requests++;
    if (st->attempt > 1) {
        call->retries++;
        c->retries++;
    }
    return 0;
}

static void on_finished(struct arm_client *c, struct arm_call *call, int64_t now)
{
    struct arm_call_state *st = call->st;
    struct http_exchange *x = &st->x;

    st->inflight = 0;
    c->inflight--;
    c->bg_inflight -= st->background != 0;
    call->answered_at = now;
    if (log_enabled(LOG_DEBUG)) {
        char line[600];
        const char *rid = http_exchange_req_header(x, "x-ms-client-request-id");
        if (x->fail != HTTP_FAIL_NONE)
            snprintf(line, sizeof(line), "%s %s -> %s (%s) after %lld ms, attempt %u, id %s",
                     x->method, x->url, http_fail_name(x->fail), x->fail_msg,
                     (long long)(now - st->sent_at), st->attempt, rid ? rid : "-");
        else
            snprintf(line, sizeof(line), "%s %s -> %ld in %lld ms, attempt %u, id %s", x->method,
                     x->url, x->status, (long long)(now - st->sent_at), st->attempt,
                     rid ? rid : "-");
        log_redacted(LOG_DEBUG, "arm: ", line, strlen(line));
        trace_response(x);
    }
    observe_limits(c, call, x, now);
    if (handle_transient(c, call, x, now))
        return;
    switch (st->phase) {
    case PH_START:
        after_start(c, call, x, now);
        break;
    case PH_POLL:
        after_poll(c, call, x, now);
        break;
    case PH_FINAL:
        after_final(c, call, x);
        break;
    }
}

/* --- the run loop ------------------------------------------------------- */

static void call_reset_outputs(struct arm_call *call)
{
    call->rc = 0;
    errbuf_clear(&call->err);
    call->status = 0;
    call->response = NULL;
    call->response_len = 0;
    memset(&call->error, 0, sizeof(call->error));
    call->headers = NULL;
    call->n_headers = 0;
    call->requests = call->retries = 0;
    call->gone = 0;
    call->answered_at = 0;
    call->unknown = 0;
    call->st = NULL;
}

static void state_free(struct arm_call_state *st)
{
    if (st == NULL)
        return;
    free(st->url);
    free(st->poll_url);
    free(st->location);
    free(st->final_url);
    http_exchange_release(&st->x);
    free(st);
}

void arm_call_release(struct arm_call *call)
{
    free(call->response);
    call->response = NULL;
    for (size_t i = 0; i < call->n_headers; i++) {
        free(call->headers[i].name);
        free(call->headers[i].value);
    }
    free(call->headers);
    call->headers = NULL;
    call->n_headers = 0;
    state_free(call->st);
    call->st = NULL;
}

const char *arm_call_header(const struct arm_call *call, const char *name)
{
    for (size_t i = 0; i < call->n_headers; i++)
        if (strcasecmp(call->headers[i].name, name) == 0)
            return call->headers[i].value;
    return NULL;
}

static enum rl_class class_of(const struct arm_call *call)
{
    if (call->rl_set)
        return call->rl;
    if (is_method(call, "GET") || is_method(call, "HEAD"))
        return RL_READ;
    if (is_method(call, "DELETE"))
        return RL_DELETE;
    return RL_WRITE;
}

/* A FIFO of calls: v[head..n). Capacity is reserved when a call is
 * submitted, so pushing never fails. */
static int queue_reserve(struct call_queue *q, size_t want)
{
    struct arm_call **v;
    size_t cap;
    if (q->cap >= want)
        return 0;
    cap = q->cap ? q->cap * 2 : 16;
    if (cap < want)
        cap = want;
    v = realloc(q->v, cap * sizeof(*v));
    if (v == NULL)
        return AMLSEC_ENOMEM;
    q->v = v;
    q->cap = cap;
    return 0;
}

static size_t queue_len(const struct call_queue *q)
{
    return q->n - q->head;
}

static void queue_push(struct call_queue *q, struct arm_call *call)
{
    if (q->n == q->cap) {
        /* reserved: the queue never holds more calls than are active */
        if (q->head == 0)
            BUG("arm client: queue full past its reservation");
        memmove(q->v, q->v + q->head, queue_len(q) * sizeof(*q->v));
        q->n -= q->head;
        q->head = 0;
    }
    q->v[q->n++] = call;
}

static struct arm_call *queue_pop(struct call_queue *q)
{
    struct arm_call *call = q->v[q->head++];
    if (q->head == q->n)
        q->head = q->n = 0;
    return call;
}

static void active_link(struct arm_client *c, struct arm_call *call)
{
    call->st->next_active = c->active;
    if (c->active)
        c->active->st->prev_active = call;
    c->active = call;
    c->n_active++;
}

static void active_unlink(struct arm_client *c, struct arm_call *call)
{
    struct arm_call_state *st = call->st;
    if (st->prev_active)
        st->prev_active->st->next_active = st->next_active;
    else
        c->active = st->next_active;
    if (st->next_active)
        st->next_active->st->prev_active = st->prev_active;
    st->prev_active = st->next_active = NULL;
    c->n_active--;
}

/* The slots background calls may fill: three quarters of the
 * parallelism, at least one. */
static unsigned bg_slots(const struct arm_client *c)
{
    unsigned n = c->o.parallelism - c->o.parallelism / 4;
    return n ? n : 1;
}

/* Starts call when it is due, a slot is free and the bucket has a token.
 * Otherwise lowers *next to when it should be looked at again. */
static int try_start(struct arm_client *c, struct arm_call *call, int64_t now, int64_t *next,
                     int *started, struct errbuf *err)
{
    struct arm_call_state *st = call->st;
    int64_t wait = 0;
    int rc;

    *started = 0;
    if (st->ready_at > now) {
        if (st->ready_at < *next)
            *next = st->ready_at;
        return 0;
    }
    if (now >= st->deadline) {
        finish_fail(call, AMLSEC_EHTTP, "deadline reached%s%s", st->last[0] ? ": " : "", st->last);
        return 0;
    }
    if (c->inflight >= c->o.parallelism)
        return 0;
    if (c->fault_poll && st->phase == PH_POLL)
        return errbuf_set(err, AMLSEC_ERROR, "client failure injected by %s=poll",
                          ARM_CLIENT_FAULT_ENV);
    if (!c->o.no_rate_limit) {
        rc =
            ratelimit_take(&c->rl, st->sub, st->phase == PH_START ? call->rl : RL_READ, now, &wait);
        if (rc < 0)
            return errbuf_set(err, rc, "out of memory");
        if (wait > 0) {
            st->ready_at = now + wait;
            if (st->ready_at < *next)
                *next = st->ready_at;
            return 0;
        }
    }
    rc = start_attempt(c, call, now, err);
    if (rc < 0)
        return rc;
    *started = !st->done;
    return 0;
}

int arm_client_submit(struct arm_client *c, struct arm_call *call)
{
    int64_t now = arm_clock_now(c->clock);

    call_reset_outputs(call);
    if (queue_reserve(&c->fresh, c->n_active + 1) < 0 ||
        queue_reserve(&c->background, c->n_active + 1) < 0 ||
        queue_reserve(&c->waiting, c->n_active + 1) < 0 ||
        queue_reserve(&c->done, c->n_active + 1) < 0 ||
        queue_reserve(&c->held, c->n_active + queue_len(&c->held) + 1) < 0 ||
        (call->st = calloc(1, sizeof(*call->st))) == NULL) {
        call->rc = errbuf_set(&call->err, AMLSEC_ENOMEM, "out of memory");
        return call->rc;
    }
    http_exchange_init(&call->st->x);
    call->rl = class_of(call);
    call->st->deadline = call->deadline_ms ? call->deadline_ms : now + c->o.timeout_ms;
    call->st->ready_at = now;
    active_link(c, call);
    if (call->method == NULL || call->url == NULL || (call->url[0] == '/' && c->o.cloud == NULL)) {
        finish_fail(call, AMLSEC_EUSAGE, "call without a method or url");
        queue_push(&c->done, call);
        return 0;
    }
    call->st->url = resolve_url(c, call);
    if (call->st->url == NULL) {
        finish_fail(call, AMLSEC_ENOMEM, "out of memory");
        queue_push(&c->done, call);
        return 0;
    }
    /* an absolute URL (a nextLink) gets the ARM token only on ARM's host */
    if (call->scope == NULL && call->url[0] != '/' && !on_origin(c, call->st->url)) {
        char *r = redact_dup(call->st->url);
        finish_fail(call, AMLSEC_EHTTP,
                    "refusing to send the resource manager's token to '%s': it is not on the "
                    "resource manager's host '%s'",
                    r ? r : "(url)", c->origin);
        free(r);
        queue_push(&c->done, call);
        return 0;
    }
    sub_of(call->st->url, call->st->sub, sizeof(call->st->sub));
    call->st->background = (call->flags & ARM_CALL_BACKGROUND) != 0;
    queue_push(call->st->background ? &c->background : &c->fresh, call);
    return 0;
}

/* Ends every call not yet finished with rc and msg, its outcome unknown
 * (a request sent may still be carried out); in-flight exchanges are taken
 * back from the transport. */
static void fail_outstanding(struct arm_client *c, int rc, const char *msg)
{
    for (struct arm_call *call = c->active; call; call = call->st->next_active) {
        struct arm_call_state *st = call->st;
        if (st->done)
            continue;
        if (st->inflight) {
            c->o.transport->ops->cancel(c->o.transport, &st->x);
            st->inflight = 0;
            c->inflight--;
        }
        errbuf_set(&call->err, rc, "%s", msg);
        call->rc = rc;
        call->unknown = 1;
        st->done = 1;
        queue_push(&c->done, call);
    }
    c->fresh.head = c->fresh.n = 0;
    c->waiting.head = c->waiting.n = 0;
    c->background.head = c->background.n = 0;
    c->bg_inflight = 0;
}

/* Starts the calls of q (fresh or background) in order while slots are
 * free, background calls in at most three quarters of them (a foreground
 * call finds one free). A rate-limited call stops the queue (the calls
 * behind it wait too): 1 then, else 0, or < 0 when the client failed. */
static int start_queue(struct arm_client *c, struct call_queue *q, int64_t now, int64_t *next,
                       struct errbuf *err)
{
    while (queue_len(q) > 0 && c->inflight < c->o.parallelism &&
           (q != &c->background || c->bg_inflight < bg_slots(c))) {
        struct arm_call *call = q->v[q->head];
        int started = 0, rc;
        int64_t before = *next;
        if ((rc = try_start(c, call, now, next, &started, err)) < 0)
            return rc;
        if (call->st->done) {
            queue_push(&c->done, queue_pop(q));
            continue;
        }
        if (!started) {
            c->blocked_until = call->st->ready_at;
            if (*next > before)
                *next = before;
            if (c->blocked_until < *next)
                *next = c->blocked_until;
            return 1;
        }
        (void)queue_pop(q);
    }
    return 0;
}

/* One turn of the loop: starts what is due, then waits (until `until` at
 * most) for one answer. Calls not yet started are taken in order from
 * `fresh`; calls that wait (a retry, a poll, a rate-limit pause) sit in
 * `waiting`, which stays short, so each turn costs O(waiting), not
 * O(active). */
static int turn(struct arm_client *c, int64_t until, struct errbuf *err)
{
    int64_t now = arm_clock_now(c->clock), next = until;
    struct http_exchange *x = NULL;
    size_t keep = 0;
    int rc;

    for (size_t w = 0; w < c->waiting.n; w++) {
        struct arm_call *call = c->waiting.v[w];
        int started = 0;
        if ((rc = try_start(c, call, now, &next, &started, err)) < 0)
            return rc;
        if (call->st->done)
            queue_push(&c->done, call);
        else if (!started)
            c->waiting.v[keep++] = call;
    }
    c->waiting.n = keep;
    if (c->blocked_until > now) {
        if (c->blocked_until < next)
            next = c->blocked_until;
    } else {
        /* background calls once nothing else waits to start */
        if ((rc = start_queue(c, &c->fresh, now, &next, err)) < 0 ||
            (rc == 0 && queue_len(&c->fresh) == 0 &&
             (rc = start_queue(c, &c->background, now, &next, err)) < 0))
            return rc;
    }
    if (queue_len(&c->done) > 0)
        return 0;
    if (c->inflight > 0) {
        int64_t timeout = 1000;
        if (next != INT64_MAX && next - now < timeout)
            timeout = next - now > 0 ? next - now : 0;
        /* the first answer may be waited for; the others that have
         * arrived too are taken at once */
        for (;;) {
            if ((rc = c->o.transport->ops->wait(c->o.transport, NULL, timeout, &x, err)) < 0)
                return rc;
            if (x == NULL)
                break;
            struct arm_call *call = x->user;
            on_finished(c, call, arm_clock_now(c->clock));
            if (call->st->done)
                queue_push(&c->done, call);
            else
                queue_push(&c->waiting, call);
            if (c->inflight == 0)
                break;
            timeout = 0;
        }
    } else if (next != INT64_MAX) {
        arm_clock_sleep(c->clock, next - now);
    } else {
        BUG("arm client: %zu calls left with nothing in flight or scheduled", c->n_active);
    }
    return 0;
}

/* The next finished call (not counting held ones), or NULL when none
 * finished by timeout_ms (< 0: no limit) or nothing is active. */
static int next_finished(struct arm_client *c, int64_t timeout_ms, struct arm_call **out,
                         struct errbuf *err)
{
    int64_t until = timeout_ms < 0 ? INT64_MAX : arm_clock_now(c->clock) + timeout_ms;
    int rc, turned = 0;

    *out = NULL;
    for (;;) {
        if (queue_len(&c->done) > 0) {
            *out = queue_pop(&c->done);
            active_unlink(c, *out);
            return 0;
        }
        if (c->n_active == 0 || (turned && arm_clock_now(c->clock) >= until))
            return 0;
        if ((rc = turn(c, until, err)) < 0) {
            fail_outstanding(c, rc, err ? err->msg : "client failure");
            return rc;
        }
        turned = 1; /* a zero timeout still takes the answers already in */
    }
}

int arm_client_next(struct arm_client *c, int64_t timeout_ms, struct arm_call **out,
                    struct errbuf *err)
{
    if (queue_len(&c->held) > 0) {
        *out = queue_pop(&c->held);
        return 0;
    }
    return next_finished(c, timeout_ms, out, err);
}

int arm_client_drive(struct arm_client *c, int64_t until_ms, struct errbuf *err)
{
    for (;;) {
        int64_t now = arm_clock_now(c->clock);
        struct arm_call *done = NULL;
        int rc;
        if (now >= until_ms)
            return 0;
        if (c->n_active == 0) {
            arm_clock_sleep(c->clock, until_ms - now);
            return 0;
        }
        rc = next_finished(c, until_ms - now, &done, err);
        if (done)
            queue_push(&c->held, done);
        if (rc < 0) {
            /* every call now has an outcome: held for arm_client_next */
            while (queue_len(&c->done) > 0) {
                done = queue_pop(&c->done);
                active_unlink(c, done);
                queue_push(&c->held, done);
            }
            return rc;
        }
    }
}

size_t arm_client_active(const struct arm_client *c)
{
    return c->n_active + queue_len(&c->held);
}

void arm_client_foreground(struct arm_client *c)
{
    /* the fresh queue holds room for every active call */
    while (queue_len(&c->background) > 0) {
        struct arm_call *call = queue_pop(&c->background);
        call->st->background = 0;
        queue_push(&c->fresh, call);
    }
}

void arm_client_abandon(struct arm_client *c, void (*each)(struct arm_call *call, void *payload),
                        void *payload)
{
    fail_outstanding(c, AMLSEC_ERROR, "abandoned");
    while (queue_len(&c->done) > 0) {
        struct arm_call *call = queue_pop(&c->done);
        active_unlink(c, call);
        if (each)
            each(call, payload);
    }
    while (queue_len(&c->held) > 0) {
        struct arm_call *call = queue_pop(&c->held);
        if (each)
            each(call, payload);
    }
    c->blocked_until = 0;
}

int arm_client_run(struct arm_client *c, struct arm_call *calls, size_t n, struct errbuf *err)
{
    size_t left = n;
    int rc = 0;

    /* Streamed calls (arm_client_submit) keep going meanwhile; those that
     * finish are held for arm_client_next. */
    for (size_t i = 0; i < n; i++) {
        if ((rc = arm_client_submit(c, &calls[i])) < 0) {
            errbuf_set(err, rc, "out of memory");
            for (size_t k = i; k < n; k++) {
                calls[k].rc = rc;
                errbuf_set(&calls[k].err, rc, "%s", err->msg);
            }
            fail_outstanding(c, rc, err->msg);
            left = i;
            break;
        }
    }
    while (left > 0) {
        struct arm_call *done = NULL;
        rc = next_finished(c, -1, &done, err);
        if (done && (done < calls || done >= calls + n))
            queue_push(&c->held, done);
        else if (done)
            left--;
        if (rc < 0) {
            /* every call now has an outcome; take ours back */
            while (queue_len(&c->done) > 0) {
                done = queue_pop(&c->done);
                active_unlink(c, done);
                if (done < calls || done >= calls + n)
                    queue_push(&c->held, done);
            }
            return rc;
        }
        if (done == NULL && left > 0)
            BUG("arm client: %zu calls without an outcome", left);
    }
    return rc;
}

int arm_client_call(struct arm_client *c, struct arm_call *call)
{
    struct errbuf err = ERRBUF_INIT;
    int rc = arm_client_run(c, call, 1, &err);
    if (rc < 0 && call->rc == 0) {
        call->rc = rc;
        call->err = err;
    }
    return call->rc;
}

/* --- lifecycle ---------------------------------------------------------- */

int arm_client_new(struct arm_client **out, const struct arm_client_opts *opts, struct errbuf *err)
{
    struct arm_client *c;
    const char *p;

    *out = NULL;
    if (opts == NULL || opts->transport == NULL || opts->cloud == NULL)
        return errbuf_set(err, AMLSEC_EUSAGE, "arm client needs a transport and a cloud");
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    c->o = *opts;
    if (opts->auth) {
        c->auth = *opts->auth;
        c->o.auth = &c->auth;
    }
    c->clock = opts->clock ? opts->clock : arm_clock_real();
    c->graph_quota.remaining = -1;
    if (!c->o.parallelism)
        c->o.parallelism = 10;
    if (!c->o.timeout_ms)
        c->o.timeout_ms = 30 * 60 * 1000;
    if (!c->o.attempt_timeout_ms)
        c->o.attempt_timeout_ms = 120 * 1000;
    if (!c->o.backoff_base_ms)
        c->o.backoff_base_ms = 1000;
    if (!c->o.backoff_cap_ms)
        c->o.backoff_cap_ms = 60 * 1000;
    if (!c->o.lro_poll_ms)
        c->o.lro_poll_ms = 60 * 1000;
    if (!c->o.max_attempts)
        c->o.max_attempts = 12;
    if (!c->o.max_response)
        c->o.max_response = (size_t)64 << 20;
    c->rng = opts->seed;
    if (c->rng == 0 && RAND_bytes((unsigned char *)&c->rng, sizeof(c->rng)) != 1)
        c->rng = (uint64_t)time(NULL);
    if (c->rng == 0)
        c->rng = 0x9E3779B97F4A7C15ULL;
    if (opts->partner_id)
        snprintf(c->user_agent, sizeof(c->user_agent), "%s pid-%s", USER_AGENT,
                 strncasecmp(opts->partner_id, "pid-", 4) == 0 ? opts->partner_id + 4
                                                               : opts->partner_id);
    else
        snprintf(c->user_agent, sizeof(c->user_agent), "%s", USER_AGENT);
    if (opts->correlation_id) {
        snprintf(c->correlation, sizeof(c->correlation), "%s", opts->correlation_id);
    } else if (uuid_v4(c->correlation) < 0) {
        free(c);
        return errbuf_set(err, AMLSEC_ERROR, "no randomness for a correlation id");
    }
    /* origin = scheme://authority */
    p = strstr(opts->cloud->resource_manager, "://");
    if (p == NULL) {
        free(c);
        return errbuf_set(err, AMLSEC_EUSAGE, "resource manager endpoint '%s' is not a url",
                          opts->cloud->resource_manager);
    }
    p += 3;
    snprintf(c->origin, sizeof(c->origin), "%.*s",
             (int)(p - opts->cloud->resource_manager + (ptrdiff_t)strcspn(p, "/?")),
             opts->cloud->resource_manager);
    ratelimit_init(&c->rl);
    p = getenv(ARM_CLIENT_FAULT_ENV);
    c->fault_poll = p && strcmp(p, "poll") == 0;
    *out = c;
    return 0;
}

void arm_client_free(struct arm_client *c)
{
    if (c == NULL)
        return;
    if (arm_client_active(c))
        arm_client_abandon(c, NULL, NULL);
    ratelimit_release(&c->rl);
    free(c->fresh.v);
    free(c->background.v);
    free(c->waiting.v);
    free(c->done.v);
    free(c->held.v);
    free(c);
}

const char *arm_client_correlation_id(const struct arm_client *c)
{
    return c->correlation;
}

unsigned long arm_client_request_count(const struct arm_client *c)
{
    return c->requests;
}

unsigned long arm_client_throttled_count(const struct arm_client *c)
{
    return c->throttled;
}

unsigned long arm_client_retry_count(const struct arm_client *c)
{
    return c->retries;
}

const struct arm_clock *arm_client_clock(const struct arm_client *c)
{
    return c->clock;
}

const struct arm_cloud *arm_client_cloud(const struct arm_client *c)
{
    return c->o.cloud;
}

struct ratelimit *arm_client_ratelimit(struct arm_client *c)
{
    return &c->rl;
}

struct arm_graph_quota *arm_client_graph_quota(struct arm_client *c)
{
    return &c->graph_quota;
}
