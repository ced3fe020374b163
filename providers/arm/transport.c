#include "providers/arm/transport.h"
#include "util/error.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/banned.h"

void http_exchange_init(struct http_exchange *x)
{
    memset(x, 0, sizeof(*x));
    buf_init(&x->resp_body, 0);
}

static char *dup_n(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p == NULL)
        return NULL;
    if (n)
        memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

static void free_request(struct http_exchange *x)
{
    free(x->method);
    free(x->url);
    free(x->body);
    for (size_t i = 0; i < x->n_headers; i++)
        free(x->headers[i]);
    free(x->headers);
    x->method = x->url = x->body = NULL;
    x->headers = NULL;
    x->n_headers = 0;
    x->body_len = 0;
}

void http_exchange_reset_response(struct http_exchange *x)
{
    for (size_t i = 0; i < x->n_resp_headers; i++) {
        free(x->resp_headers[i].name);
        free(x->resp_headers[i].value);
    }
    free(x->resp_headers);
    x->resp_headers = NULL;
    x->n_resp_headers = 0;
    buf_reset(&x->resp_body);
    x->status = 0;
    x->fail = HTTP_FAIL_NONE;
    x->fail_msg[0] = '\0';
}

int http_exchange_set_request(struct http_exchange *x, const char *method, const char *url,
                              const char *body, size_t body_len)
{
    free_request(x);
    http_exchange_reset_response(x);
    x->method = dup_n(method, strlen(method));
    x->url = dup_n(url, strlen(url));
    if (body) {
        x->body = dup_n(body, body_len);
        x->body_len = body_len;
    }
    if (x->method == NULL || x->url == NULL || (body && x->body == NULL))
        return AMLSEC_ENOMEM;
    return 0;
}

int http_exchange_add_header(struct http_exchange *x, const char *name, const char *value)
{
    size_t nl = strlen(name), vl = strlen(value);
    char **h = realloc(x->headers, (x->n_headers + 1) * sizeof(*h));
    char *line;

    if (h == NULL)
        return AMLSEC_ENOMEM;
    x->headers = h;
    line = malloc(nl + vl + 3);
    if (line == NULL)
        return AMLSEC_ENOMEM;
    memcpy(line, name, nl);
    memcpy(line + nl, ": ", 2);
    memcpy(line + nl + 2, value, vl + 1);
    x->headers[x->n_headers++] = line;
    return 0;
}

void http_exchange_release(struct http_exchange *x)
{
    free_request(x);
    http_exchange_reset_response(x);
    buf_release(&x->resp_body);
}

int http_exchange_add_resp_header(struct http_exchange *x, const char *name, size_t name_len,
                                  const char *value, size_t value_len)
{
    struct http_header *h;

    while (value_len && isspace((unsigned char)value[0])) {
        value++;
        value_len--;
    }
    while (value_len && isspace((unsigned char)value[value_len - 1]))
        value_len--;
    h = realloc(x->resp_headers, (x->n_resp_headers + 1) * sizeof(*h));
    if (h == NULL)
        return AMLSEC_ENOMEM;
    x->resp_headers = h;
    h = &x->resp_headers[x->n_resp_headers];
    h->name = dup_n(name, name_len);
    h->value = dup_n(value, value_len);
    if (h->name == NULL || h->value == NULL) {
        free(h->name);
        free(h->value);
        return AMLSEC_ENOMEM;
    }
    x->n_resp_headers++;
    return 0;
}

const char *http_exchange_resp_header(const struct http_exchange *x, const char *name)
{
    for (size_t i = 0; i < x->n_resp_headers; i++)
        if (strcasecmp(x->resp_headers[i].name, name) == 0)
            return x->resp_headers[i].value;
    return NULL;
}

const char *http_exchange_req_header(const struct http_exchange *x, const char *name)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i < x->n_headers; i++) {
        const char *h = x->headers[i];
        if (strncasecmp(h, name, nl) == 0 && h[nl] == ':')
            return h[nl + 1] == ' ' ? h + nl + 2 : h + nl + 1;
    }
    return NULL;
}

int transport_roundtrip(struct transport *t, struct http_exchange *x, struct errbuf *err)
{
    struct http_exchange *done = NULL;
    int rc = t->ops->start(t, x, err);
    if (rc < 0)
        return rc;
    while (done == NULL) {
        rc = t->ops->wait(t, x, 1000, &done, err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

void transport_free(struct transport *t)
{
    if (t)
        t->ops->free(t);
}

const char *http_fail_name(enum http_fail f)
{
    switch (f) {
    case HTTP_FAIL_NONE:
        return "ok";
    case HTTP_FAIL_CONNECT:
        return "cannot connect";
    case HTTP_FAIL_TIMEOUT:
        return "timed out";
    case HTTP_FAIL_RESET:
        return "connection reset";
    case HTTP_FAIL_TOO_BIG:
        return "response too large";
    case HTTP_FAIL_TLS:
        return "TLS failure";
    case HTTP_FAIL_REFUSED:
        return "request refused";
    case HTTP_FAIL_OTHER:
        break;
    }
    return "transport failure";
}
