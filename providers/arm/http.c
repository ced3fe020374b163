#include "providers/arm/http.h"
#include "util/error.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "util/banned.h"

struct http_xfer {
    struct http_xfer *prev, *next; /* in flight */
    CURL *easy;
    struct curl_slist *headers;
    struct http_exchange *x;
    int too_big;
    char errbuf[CURL_ERROR_SIZE];
};

struct http_transport {
    struct transport base;
    CURLM *multi;
    char *ca_bundle;
    int64_t connect_timeout_ms;
    struct http_xfer *inflight;
    struct http_exchange **done; /* finished, not yet handed out */
    size_t n_done, cap_done;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init_once(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int http_url_allowed(const char *url, struct errbuf *err)
{
    static const char *const plain_ok[] = {"127.0.0.1", "localhost", "[::1]", "::1",
                                           "169.254.169.254"};
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL;
    int rc = AMLSEC_EUSAGE;

    if (u == NULL)
        return errbuf_set(err, AMLSEC_ENOMEM, "out of memory parsing a url");
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        errbuf_set(err, AMLSEC_EUSAGE, "malformed url '%.200s'", url);
        goto out;
    }
    if (strcasecmp(scheme, "https") == 0) {
        rc = 0;
        goto out;
    }
    if (strcasecmp(scheme, "http") == 0) {
        for (size_t i = 0; i < sizeof(plain_ok) / sizeof(plain_ok[0]); i++)
            if (strcasecmp(host, plain_ok[i]) == 0) {
                rc = 0;
                goto out;
            }
        errbuf_set(err, AMLSEC_EUSAGE,
                   "refusing plain http to '%s': only loopback and the instance metadata "
                   "service may be reached without TLS",
                   host);
        goto out;
    }
    errbuf_set(err, AMLSEC_EUSAGE, "unsupported url scheme '%s'", scheme);
out:
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return rc;
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct http_xfer *xf = userdata;
    size_t n = size * nmemb;
    size_t max = xf->x->max_response ? xf->x->max_response : BUF_MAX_DEFAULT;

    if (xf->x->resp_body.len + n > max) {
        xf->too_big = 1;
        return 0;
    }
    if (buf_add(&xf->x->resp_body, ptr, n) < 0)
        return 0;
    return n;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct http_xfer *xf = userdata;
    size_t n = size * nmemb;
    const char *colon;

    if (n >= 5 && memcmp(ptr, "HTTP/", 5) == 0) {
        /* A new response (after 100 Continue): forget earlier headers. */
        struct http_exchange *x = xf->x;
        for (size_t i = 0; i < x->n_resp_headers; i++) {
            free(x->resp_headers[i].name);
            free(x->resp_headers[i].value);
        }
        x->n_resp_headers = 0;
        return n;
    }
    colon = memchr(ptr, ':', n);
    if (colon == NULL || colon == ptr)
        return n;
    if (http_exchange_add_resp_header(xf->x, ptr, (size_t)(colon - ptr), colon + 1,
                                      n - (size_t)(colon - ptr) - 1) < 0)
        return 0;
    return n;
}

static void xfer_free(struct http_xfer *xf)
{
    if (xf == NULL)
        return;
    if (xf->easy)
        curl_easy_cleanup(xf->easy);
    curl_slist_free_all(xf->headers);
    free(xf);
}

#define SETOPT(opt, val)                                                                           \
    do {                                                                                           \
        CURLcode c_ = curl_easy_setopt(xf->easy, opt, val);                                        \
        if (c_ != CURLE_OK) {                                                                      \
            rc =                                                                                   \
                errbuf_set(err, AMLSEC_ERROR, "curl option %s: %s", #opt, curl_easy_strerror(c_)); \
            goto out;                                                                              \
        }                                                                                          \
    } while (0)

static int http_start(struct transport *t, struct http_exchange *x, struct errbuf *err)
{
    struct http_transport *h = (struct http_transport *)t;
    struct http_xfer *xf = NULL;
    struct curl_slist *l;
    CURLMcode mc;
    int rc;

    rc = http_url_allowed(x->url, err);
    if (rc < 0)
        return rc;
    rc = AMLSEC_ERROR;
    http_exchange_reset_response(x);
    xf = calloc(1, sizeof(*xf));
    if (xf == NULL)
        return errbuf_set(err, AMLSEC_ENOMEM, "out of memory starting a request");
    xf->x = x;
    xf->easy = curl_easy_init();
    if (xf->easy == NULL) {
        rc = errbuf_set(err, AMLSEC_ENOMEM, "cannot create a curl handle");
        goto out;
    }
    for (size_t i = 0; i < x->n_headers; i++) {
        l = curl_slist_append(xf->headers, x->headers[i]);
        if (l == NULL) {
            rc = errbuf_set(err, AMLSEC_ENOMEM, "out of memory adding headers");
            goto out;
        }
        xf->headers = l;
    }
    /* No "Expect: 100-continue" round trip on bodies. */
    l = curl_slist_append(xf->headers, "Expect:");
    if (l == NULL) {
        rc = errbuf_set(err, AMLSEC_ENOMEM, "out of memory adding headers");
        goto out;
    }
    xf->headers = l;

    SETOPT(CURLOPT_ERRORBUFFER, xf->errbuf);
    SETOPT(CURLOPT_URL, x->url);
    SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
    SETOPT(CURLOPT_FOLLOWLOCATION, 0L);
    SETOPT(CURLOPT_NOSIGNAL, 1L);
    SETOPT(CURLOPT_SSL_VERIFYPEER, 1L);
    SETOPT(CURLOPT_SSL_VERIFYHOST, 2L);
    if (h->ca_bundle)
        SETOPT(CURLOPT_CAINFO, h->ca_bundle);
    SETOPT(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    /* Over TLS, wait for a connection being set up to tell whether it
     * multiplexes (HTTP/2, told by ALPN in the handshake) rather than open
     * another. Plain http:// is HTTP/1.1 here and never multiplexes, but
     * curl learns that only from the first answer: every request sent
     * beside the first would wait for it (a plan's group GET and its
     * Resource Graph query, one after the other against the local cloud). */
    if (strncasecmp(x->url, "https://", 8) == 0)
        SETOPT(CURLOPT_PIPEWAIT, 1L);
    SETOPT(CURLOPT_TCP_KEEPALIVE, 1L);
    SETOPT(CURLOPT_ACCEPT_ENCODING, "");
    SETOPT(CURLOPT_CONNECTTIMEOUT_MS, (long)h->connect_timeout_ms);
    if (x->timeout_ms > 0)
        SETOPT(CURLOPT_TIMEOUT_MS, (long)x->timeout_ms);
    SETOPT(CURLOPT_HTTPHEADER, xf->headers);
    SETOPT(CURLOPT_WRITEFUNCTION, on_body);
    SETOPT(CURLOPT_WRITEDATA, xf);
    SETOPT(CURLOPT_HEADERFUNCTION, on_header);
    SETOPT(CURLOPT_HEADERDATA, xf);
    SETOPT(CURLOPT_PRIVATE, xf);
    if (strcmp(x->method, "GET") == 0) {
        SETOPT(CURLOPT_HTTPGET, 1L);
    } else {
        SETOPT(CURLOPT_CUSTOMREQUEST, x->method);
        if (x->body) {
            SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)x->body_len);
            SETOPT(CURLOPT_POSTFIELDS, x->body);
        } else if (strcmp(x->method, "POST") == 0 || strcmp(x->method, "PUT") == 0 ||
                   strcmp(x->method, "PATCH") == 0) {
            SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
            SETOPT(CURLOPT_POSTFIELDS, "");
        }
    }
    mc = curl_multi_add_handle(h->multi, xf->easy);
    if (mc != CURLM_OK) {
        rc = errbuf_set(err, AMLSEC_ERROR, "curl: %s", curl_multi_strerror(mc));
        goto out;
    }
    x->transport = xf;
    xf->next = h->inflight;
    if (h->inflight)
        h->inflight->prev = xf;
    h->inflight = xf;
    xf = NULL;
    rc = 0;
out:
    xfer_free(xf);
    return rc;
}

static enum http_fail classify(CURLcode c, int too_big)
{
    switch (c) {
    case CURLE_OK:
        return HTTP_FAIL_NONE;
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return HTTP_FAIL_CONNECT;
    case CURLE_OPERATION_TIMEDOUT:
        return HTTP_FAIL_TIMEOUT;
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return HTTP_FAIL_RESET;
    case CURLE_WRITE_ERROR:
        return too_big ? HTTP_FAIL_TOO_BIG : HTTP_FAIL_OTHER;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_ISSUER_ERROR:
        return HTTP_FAIL_TLS;
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
        return HTTP_FAIL_REFUSED;
    default:
        return HTTP_FAIL_OTHER;
    }
}

static int push_done(struct http_transport *h, struct http_exchange *x)
{
    if (h->n_done == h->cap_done) {
        size_t cap = h->cap_done ? h->cap_done * 2 : 16;
        struct http_exchange **d = realloc(h->done, cap * sizeof(*d));
        if (d == NULL)
            return AMLSEC_ENOMEM;
        h->done = d;
        h->cap_done = cap;
    }
    h->done[h->n_done++] = x;
    return 0;
}

static struct http_exchange *take_done(struct http_transport *h, struct http_exchange *only)
{
    for (size_t i = 0; i < h->n_done; i++) {
        struct http_exchange *x = h->done[i];
        if (only == NULL || x == only) {
            memmove(&h->done[i], &h->done[i + 1], (h->n_done - i - 1) * sizeof(*h->done));
            h->n_done--;
            return x;
        }
    }
    return NULL;
}

static void unlink_xfer(struct http_transport *h, struct http_xfer *xf)
{
    if (xf->prev)
        xf->prev->next = xf->next;
    else
        h->inflight = xf->next;
    if (xf->next)
        xf->next->prev = xf->prev;
    xf->prev = xf->next = NULL;
}

static int finish(struct http_transport *h, CURLMsg *msg, struct errbuf *err)
{
    struct http_xfer *xf = NULL;
    struct http_exchange *x;
    CURLcode c = msg->data.result;
    long status = 0;

    if (curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&xf) != CURLE_OK ||
        xf == NULL)
        return errbuf_set(err, AMLSEC_ERROR, "curl: finished transfer without its state");
    x = xf->x;
    curl_multi_remove_handle(h->multi, xf->easy);
    unlink_xfer(h, xf);
    x->fail = classify(c, xf->too_big);
    if (x->fail == HTTP_FAIL_NONE) {
        CURLcode gc = curl_easy_getinfo(xf->easy, CURLINFO_RESPONSE_CODE, &status);
        if (gc != CURLE_OK) {
            x->fail = HTTP_FAIL_OTHER;
            snprintf(x->fail_msg, sizeof(x->fail_msg), "%s", curl_easy_strerror(gc));
        }
        x->status = status;
    } else if (x->fail == HTTP_FAIL_TOO_BIG) {
        snprintf(x->fail_msg, sizeof(x->fail_msg), "response larger than %zu bytes",
                 x->max_response ? x->max_response : (size_t)BUF_MAX_DEFAULT);
    } else {
        snprintf(x->fail_msg, sizeof(x->fail_msg), "%.100s%s%.140s", curl_easy_strerror(c),
                 xf->errbuf[0] ? ": " : "", xf->errbuf);
    }
    if (x->fail != HTTP_FAIL_NONE)
        x->status = 0;
    x->transport = NULL;
    xfer_free(xf);
    return push_done(h, x);
}

static int http_wait(struct transport *t, struct http_exchange *only, int64_t timeout_ms,
                     struct http_exchange **out, struct errbuf *err)
{
    struct http_transport *h = (struct http_transport *)t;
    int64_t until = mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    int running = 0;

    *out = NULL;
    for (;;) {
        CURLMcode mc;
        CURLMsg *msg;
        int left, rc;

        if ((*out = take_done(h, only)) != NULL)
            return 0;
        mc = curl_multi_perform(h->multi, &running);
        if (mc != CURLM_OK)
            return errbuf_set(err, AMLSEC_ERROR, "curl: %s", curl_multi_strerror(mc));
        while ((msg = curl_multi_info_read(h->multi, &left)) != NULL) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            rc = finish(h, msg, err);
            if (rc < 0)
                return rc;
        }
        if ((*out = take_done(h, only)) != NULL)
            return 0;
        int64_t left_ms = until - mono_ms();
        if (left_ms <= 0)
            return 0;
        if (running == 0 && only == NULL)
            return 0; /* nothing in flight: nothing to wait for */
        mc = curl_multi_poll(h->multi, NULL, 0, (int)(left_ms < 1000 ? left_ms : 1000), NULL);
        if (mc != CURLM_OK)
            return errbuf_set(err, AMLSEC_ERROR, "curl: %s", curl_multi_strerror(mc));
    }
}

static void http_cancel(struct transport *t, struct http_exchange *x)
{
    struct http_transport *h = (struct http_transport *)t;
    struct http_xfer *xf = x->transport;
    if (xf) {
        curl_multi_remove_handle(h->multi, xf->easy);
        unlink_xfer(h, xf);
        xfer_free(xf);
        x->transport = NULL;
    }
    (void)take_done(h, x);
}

static void http_free(struct transport *t)
{
    struct http_transport *h = (struct http_transport *)t;
    if (h == NULL)
        return;
    while (h->inflight) {
        struct http_xfer *xf = h->inflight;
        curl_multi_remove_handle(h->multi, xf->easy);
        unlink_xfer(h, xf);
        xf->x->transport = NULL;
        xfer_free(xf);
    }
    curl_multi_cleanup(h->multi);
    free(h->ca_bundle);
    free(h->done);
    free(h);
}

static const struct transport_ops http_ops = {http_start, http_wait, http_cancel, http_free};

int http_transport_new(struct transport **out, const struct http_opts *opts, struct errbuf *err)
{
    struct http_transport *h;
    struct http_opts def = HTTP_OPTS_INIT;
    CURLMcode mc;

    *out = NULL;
    if (opts == NULL)
        opts = &def;
    pthread_once(&curl_once, curl_init_once);
    if (curl_init_rc != CURLE_OK)
        return errbuf_set(err, AMLSEC_ERROR, "curl: %s", curl_easy_strerror(curl_init_rc));
    h = calloc(1, sizeof(*h));
    if (h == NULL)
        return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    h->base.ops = &http_ops;
    h->connect_timeout_ms = opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms : 10000;
    h->multi = curl_multi_init();
    if (h->multi == NULL) {
        http_free(&h->base);
        return errbuf_set(err, AMLSEC_ERROR, "cannot create a curl multi handle");
    }
    if (opts->ca_bundle && (h->ca_bundle = strdup(opts->ca_bundle)) == NULL) {
        http_free(&h->base);
        return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    }
    mc = curl_multi_setopt(h->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS,
                           (long)(opts->max_connections ? opts->max_connections : 10));
    if (mc == CURLM_OK)
        mc = curl_multi_setopt(h->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    if (mc != CURLM_OK) {
        http_free(&h->base);
        return errbuf_set(err, AMLSEC_ERROR, "curl: %s", curl_multi_strerror(mc));
    }
    *out = &h->base;
    return 0;
}
