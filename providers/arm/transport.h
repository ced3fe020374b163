/* The HTTP seam (STYLE rule 19): everything the ARM client sends goes
 * through a struct transport. Two implementations exist: the libcurl multi
 * engine (http.h) and a scripted fake (fake_transport.h) for tests.
 *
 * The interface is asynchronous so that one thread keeps many requests in
 * flight: start() hands an exchange to the transport, wait() returns one
 * that has finished. The caller owns every exchange and keeps it alive
 * until wait() has returned it. */
#ifndef AMLSEC_PROVIDERS_ARM_TRANSPORT_H
#define AMLSEC_PROVIDERS_ARM_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/errbuf.h"

/* Why an exchange got no HTTP answer (status is 0 then). */
enum http_fail {
    HTTP_FAIL_NONE = 0,
    HTTP_FAIL_CONNECT, /* refused, unreachable, DNS: nothing was sent */
    HTTP_FAIL_TIMEOUT, /* the attempt ran past its timeout */
    HTTP_FAIL_RESET,   /* the connection broke during the exchange */
    HTTP_FAIL_TOO_BIG, /* the response passed max_response */
    HTTP_FAIL_TLS,     /* certificate or handshake failure: never retried */
    HTTP_FAIL_REFUSED, /* the transport refused the request (bad URL, policy) */
    HTTP_FAIL_OTHER,
};

struct http_header {
    char *name;  /* as received, compared case-insensitively */
    char *value; /* trimmed */
};

struct http_exchange {
    /* The request: set with http_exchange_set_request(); owned. */
    char *method;
    char *url;
    char **headers; /* "Name: value" strings */
    size_t n_headers;
    char *body; /* may be NULL */
    size_t body_len;
    int64_t timeout_ms;  /* whole attempt; 0 = none */
    size_t max_response; /* body cap; 0 = BUF_MAX_DEFAULT */

    /* The response, filled by the transport. */
    enum http_fail fail;
    char fail_msg[256]; /* one line, for errors */
    long status;        /* 0 when fail != HTTP_FAIL_NONE */
    struct http_header *resp_headers;
    size_t n_resp_headers;
    struct buf resp_body;

    void *user;      /* the caller's */
    void *transport; /* the transport's private state while in flight */
};

void http_exchange_init(struct http_exchange *x);
/* Copies method, url and body. Clears any previous request and response. */
int http_exchange_set_request(struct http_exchange *x, const char *method, const char *url,
                              const char *body, size_t body_len);
int http_exchange_add_header(struct http_exchange *x, const char *name, const char *value);
/* Drops the response (before a retry). */
void http_exchange_reset_response(struct http_exchange *x);
void http_exchange_release(struct http_exchange *x);

/* Response helpers used by transports. */
int http_exchange_add_resp_header(struct http_exchange *x, const char *name, size_t name_len,
                                  const char *value, size_t value_len);
/* The first response header named name (case-insensitive), or NULL. Borrowed. */
const char *http_exchange_resp_header(const struct http_exchange *x, const char *name);
/* The first request header named name, value only, or NULL. Borrowed. */
const char *http_exchange_req_header(const struct http_exchange *x, const char *name);

struct transport;

struct transport_ops {
    /* Starts x. On error x is not in flight. */
    int (*start)(struct transport *t, struct http_exchange *x, struct errbuf *err);
    /* Waits up to timeout_ms for a started exchange to finish and returns it
     * in *out (NULL when the time ran out). With only != NULL, waits for that
     * exchange alone; others finishing meanwhile are kept for later calls. */
    int (*wait)(struct transport *t, struct http_exchange *only, int64_t timeout_ms,
                struct http_exchange **out, struct errbuf *err);
    /* Forgets a started exchange that wait() has not returned: it is never
     * returned, and the caller may release it at once. What was already
     * sent stays sent. */
    void (*cancel)(struct transport *t, struct http_exchange *x);
    void (*free)(struct transport *t);
};

struct transport {
    const struct transport_ops *ops;
};

/* start + wait for x alone. */
int transport_roundtrip(struct transport *t, struct http_exchange *x, struct errbuf *err);
void transport_free(struct transport *t);

/* "GET https://host/x" etc. for messages: a static name of the failure. */
const char *http_fail_name(enum http_fail f);

#endif
