#include "providers/arm/fake_transport.h"
#include "util/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

struct fake_transport {
    struct transport base;
    fake_handler_fn fn;
    void *payload;
    struct manual_clock *clock;
    struct http_exchange **queue; /* started, FIFO */
    size_t n_queue, cap_queue, max_inflight;
    struct fake_request *log;
    size_t n_log, cap_log;
};

static int record(struct fake_transport *f, const struct http_exchange *x)
{
    struct fake_request *r;
    struct buf h;

    if (f->n_log == f->cap_log) {
        size_t cap = f->cap_log ? f->cap_log * 2 : 64;
        struct fake_request *l = realloc(f->log, cap * sizeof(*l));
        if (l == NULL)
            return AMLSEC_ENOMEM;
        f->log = l;
        f->cap_log = cap;
    }
    r = &f->log[f->n_log];
    buf_init(&h, 0);
    for (size_t i = 0; i < x->n_headers; i++)
        if (buf_adds(&h, x->headers[i]) < 0 || buf_addch(&h, '\n') < 0) {
            buf_release(&h);
            return AMLSEC_ENOMEM;
        }
    r->method = strdup(x->method);
    r->url = strdup(x->url);
    r->body = strdup(x->body ? x->body : "");
    r->headers = buf_detach(&h, NULL);
    if (!r->method || !r->url || !r->body || !r->headers) {
        free(r->method);
        free(r->url);
        free(r->body);
        free(r->headers);
        return AMLSEC_ENOMEM;
    }
    f->n_log++;
    return 0;
}

static int fake_start(struct transport *t, struct http_exchange *x, struct errbuf *err)
{
    struct fake_transport *f = (struct fake_transport *)t;

    http_exchange_reset_response(x);
    if (record(f, x) < 0)
        return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    if (f->n_queue == f->cap_queue) {
        size_t cap = f->cap_queue ? f->cap_queue * 2 : 16;
        struct http_exchange **q = realloc(f->queue, cap * sizeof(*q));
        if (q == NULL)
            return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
        f->queue = q;
        f->cap_queue = cap;
    }
    f->queue[f->n_queue++] = x;
    if (f->n_queue > f->max_inflight)
        f->max_inflight = f->n_queue;
    x->transport = f;
    return 0;
}

static int fake_wait(struct transport *t, struct http_exchange *only, int64_t timeout_ms,
                     struct http_exchange **out, struct errbuf *err)
{
    struct fake_transport *f = (struct fake_transport *)t;
    struct http_exchange *x = NULL;
    int64_t latency;
    size_t i;

    (void)err;
    *out = NULL;
    for (i = 0; i < f->n_queue; i++)
        if (only == NULL || f->queue[i] == only) {
            x = f->queue[i];
            break;
        }
    if (x == NULL) {
        if (f->clock && timeout_ms > 0)
            manual_clock_advance(f->clock, timeout_ms);
        return 0;
    }
    memmove(&f->queue[i], &f->queue[i + 1], (f->n_queue - i - 1) * sizeof(*f->queue));
    f->n_queue--;
    x->transport = NULL;
    latency = f->fn(x, f->payload);
    if (f->clock && latency > 0) {
        if (x->timeout_ms > 0 && latency > x->timeout_ms) {
            manual_clock_advance(f->clock, x->timeout_ms);
            http_exchange_reset_response(x);
            fake_respond_fail(x, HTTP_FAIL_TIMEOUT, "operation timed out (fake)");
        } else {
            manual_clock_advance(f->clock, latency);
        }
    }
    *out = x;
    return 0;
}

static void fake_cancel(struct transport *t, struct http_exchange *x)
{
    struct fake_transport *f = (struct fake_transport *)t;
    for (size_t i = 0; i < f->n_queue; i++)
        if (f->queue[i] == x) {
            memmove(&f->queue[i], &f->queue[i + 1], (f->n_queue - i - 1) * sizeof(*f->queue));
            f->n_queue--;
            x->transport = NULL;
            return;
        }
}

static void fake_free(struct transport *t)
{
    struct fake_transport *f = (struct fake_transport *)t;
    if (f == NULL)
        return;
    for (size_t i = 0; i < f->n_log; i++) {
        free(f->log[i].method);
        free(f->log[i].url);
        free(f->log[i].headers);
        free(f->log[i].body);
    }
    free(f->log);
    free(f->queue);
    free(f);
}

static const struct transport_ops fake_ops = {fake_start, fake_wait, fake_cancel, fake_free};

int fake_transport_new(struct fake_transport **out, fake_handler_fn fn, void *payload,
                       struct manual_clock *clock)
{
    struct fake_transport *f = calloc(1, sizeof(*f));
    *out = NULL;
    if (f == NULL)
        return AMLSEC_ENOMEM;
    f->base.ops = &fake_ops;
    f->fn = fn;
    f->payload = payload;
    f->clock = clock;
    *out = f;
    return 0;
}

struct transport *fake_transport_base(struct fake_transport *f)
{
    return &f->base;
}

size_t fake_transport_count(const struct fake_transport *f)
{
    return f->n_log;
}

const struct fake_request *fake_transport_request(const struct fake_transport *f, size_t i)
{
    return i < f->n_log ? &f->log[i] : NULL;
}

size_t fake_transport_max_inflight(const struct fake_transport *f)
{
    return f->max_inflight;
}

int fake_respond(struct http_exchange *x, long status, const char *body)
{
    x->fail = HTTP_FAIL_NONE;
    x->status = status;
    buf_reset(&x->resp_body);
    if (body && buf_adds(&x->resp_body, body) < 0)
        return AMLSEC_ENOMEM;
    return 0;
}

int fake_respond_header(struct http_exchange *x, const char *name, const char *value)
{
    return http_exchange_add_resp_header(x, name, strlen(name), value, strlen(value));
}

void fake_respond_fail(struct http_exchange *x, enum http_fail fail, const char *msg)
{
    x->fail = fail;
    x->status = 0;
    snprintf(x->fail_msg, sizeof(x->fail_msg), "%s", msg);
}
