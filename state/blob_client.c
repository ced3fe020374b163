#include "state/blob_client.h"

#include "providers/arm/arm_clock.h"
#include "providers/arm/http.h"

#include <ctype.h>
#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "util/base64.h"
#include "util/error.h"
#include "util/log.h"
#include "util/banned.h"

#define BLOB_BODY_MAX ((size_t)512 << 20)
#define MAX_MS_HEADERS 16

struct blob_client {
    char *url; /* endpoint/container/blob, no query */
    char *container_url;
    char *path; /* URL path of the blob, for signing */
    char *container_path;
    char *account;
    unsigned char key[64]; /* decoded shared key */
    int key_len;
    char *sas; /* without leading '?' */
    blob_token_fn token_fn;
    void *token_payload;
    char *ca_bundle;
    long timeout_ms;
    int64_t deadline_ms; /* arm_clock_real() ms; 0: none */
    CURL *curl;
};

struct request {
    const char *verb;
    int container;     /* target the container, not the blob */
    const char *query; /* "comp=lease" or NULL */
    const void *body;
    size_t body_len;
    const char *content_type;
    const char *if_match;
    const char *if_none_match;
    const char *ms_names[MAX_MS_HEADERS];
    const char *ms_values[MAX_MS_HEADERS];
    int nms;
};

static void add_ms(struct request *rq, const char *name, const char *value)
{
    if (rq->nms >= MAX_MS_HEADERS)
        BUG("too many x-ms headers");
    rq->ms_names[rq->nms] = name;
    rq->ms_values[rq->nms] = value;
    rq->nms++;
}

static void copy_str(char *dst, size_t dstsz, const char *src, size_t n)
{
    if (n >= dstsz)
        n = dstsz - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

void blob_response_init(struct blob_response *r)
{
    memset(r, 0, sizeof(*r));
    buf_init(&r->body, BLOB_BODY_MAX);
}

void blob_response_release(struct blob_response *r)
{
    buf_release(&r->body);
    memset(r, 0, sizeof(*r));
}

static void response_reset(struct blob_response *r)
{
    r->status = 0;
    r->etag[0] = r->lease_id[0] = r->lease_state[0] = r->error_code[0] = r->meta_lock[0] = '\0';
    buf_reset(&r->body);
}

static char *dupf(const char *a, const char *b, const char *c)
{
    size_t n = strlen(a) + strlen(b) + strlen(c) + 1;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s%s%s", a, b, c);
    return s;
}

/* Percent-encodes a blob name (keeping '/'). */
static char *encode_name(const char *name)
{
    size_t n = strlen(name);
    char *out = malloc(3 * n + 1), *o = out;
    static const char hex[] = "0123456789ABCDEF";
    if (out == NULL)
        return NULL;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        if (isalnum(*p) || strchr("-._~/", *p)) {
            *o++ = (char)*p;
        } else {
            *o++ = '%';
            *o++ = hex[*p >> 4];
            *o++ = hex[*p & 15];
        }
    }
    *o = '\0';
    return out;
}

/* The path part of an http(s) URL ("/" when none). */
static const char *url_path(const char *url)
{
    const char *p = strchr(strstr(url, "://") + 3, '/');
    return p ? p : "/";
}

int blob_client_new(struct blob_client **out, const struct blob_client_opts *opts,
                    struct errbuf *err)
{
    struct blob_client *bc;
    const char *host, *path;
    char *ename = NULL, *endpoint = NULL;
    size_t n;
    int rc = AMLSEC_ENOMEM;

    *out = NULL;
    if (!opts->endpoint || !opts->container || !opts->blob || !*opts->container || !*opts->blob)
        return errbuf_set(err, AMLSEC_EUSAGE, "blob endpoint, container and blob name are needed");
    if (strncmp(opts->endpoint, "https://", 8) != 0 && strncmp(opts->endpoint, "http://", 7) != 0)
        return errbuf_set(err, AMLSEC_EUSAGE, "blob endpoint '%s' is not an http(s) URL",
                          opts->endpoint);
    if (strchr(opts->endpoint, '?'))
        return errbuf_set(err, AMLSEC_EUSAGE,
                          "the blob endpoint must not carry a query; use ARM_SAS_TOKEN");
    /* A shared key's signatures, a SAS token and the state itself cross
     * the network in clear text only to this machine (Azurite, tests). */
    if ((rc = http_url_allowed(opts->endpoint, err)) < 0)
        return rc;
    rc = AMLSEC_ENOMEM;
    /* Storage refuses bearer tokens over http, and a token must never
     * cross the network in clear text. */
    if (opts->token_fn && strncmp(opts->endpoint, "https://", 8) != 0)
        return errbuf_set(err, AMLSEC_EUSAGE,
                          "blob endpoint '%s': Entra tokens are only sent over https",
                          opts->endpoint);
    bc = calloc(1, sizeof(*bc));
    if (bc == NULL)
        return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    endpoint = strdup(opts->endpoint);
    if (endpoint == NULL)
        goto fail;
    n = strlen(endpoint);
    while (n > 0 && endpoint[n - 1] == '/')
        endpoint[--n] = '\0';
    host = strstr(endpoint, "://") + 3;
    path = strchr(host, '/');
    if (opts->account && *opts->account) {
        bc->account = strdup(opts->account);
    } else if (path && path[1]) {
        /* path-style (emulator): the first path segment names the account */
        const char *e = strchr(path + 1, '/');
        bc->account = strndup(path + 1, e ? (size_t)(e - path - 1) : strlen(path + 1));
    } else {
        bc->account = strndup(host, strcspn(host, ".:/"));
    }
    ename = encode_name(opts->blob);
    bc->container_url = dupf(endpoint, "/", opts->container);
    bc->url = bc->container_url && ename ? dupf(bc->container_url, "/", ename) : NULL;
    if (!bc->account || !bc->url)
        goto fail;
    bc->path = strdup(url_path(bc->url));
    bc->container_path = strdup(url_path(bc->container_url));
    if (!bc->path || !bc->container_path)
        goto fail;
    if (opts->shared_key) {
        size_t kl = strlen(opts->shared_key);
        struct buf key;
        buf_init(&key, 128);
        if (kl == 0 || kl > 88 || base64_decode_strict(&key, opts->shared_key, kl) < 0) {
            OPENSSL_cleanse(key.ptr, key.len);
            buf_release(&key);
            rc = errbuf_set(err, AMLSEC_EUSAGE, "ARM_ACCESS_KEY is not a base64 storage key");
            goto fail;
        }
        bc->key_len = key.len > sizeof(bc->key) ? (int)sizeof(bc->key) : (int)key.len;
        memcpy(bc->key, key.ptr, (size_t)bc->key_len);
        OPENSSL_cleanse(key.ptr, key.len);
        buf_release(&key);
    }
    if (opts->sas_token) {
        bc->sas = strdup(opts->sas_token + (opts->sas_token[0] == '?'));
        if (bc->sas == NULL)
            goto fail;
    }
    bc->token_fn = opts->token_fn;
    bc->token_payload = opts->token_payload;
    if (opts->ca_bundle && (bc->ca_bundle = strdup(opts->ca_bundle)) == NULL)
        goto fail;
    bc->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : BLOB_TIMEOUT_MS;
    bc->curl = curl_easy_init();
    if (bc->curl == NULL)
        goto fail;
    free(ename);
    free(endpoint);
    *out = bc;
    return 0;
fail:
    free(ename);
    free(endpoint);
    blob_client_free(bc);
    if (rc == AMLSEC_ENOMEM)
        errbuf_set(err, rc, "out of memory");
    return rc;
}

void blob_client_free(struct blob_client *bc)
{
    if (bc == NULL)
        return;
    if (bc->curl)
        curl_easy_cleanup(bc->curl);
    if (bc->sas) {
        OPENSSL_cleanse(bc->sas, strlen(bc->sas));
        free(bc->sas);
    }
    OPENSSL_cleanse(bc->key, sizeof(bc->key));
    free(bc->url);
    free(bc->container_url);
    free(bc->path);
    free(bc->container_path);
    free(bc->account);
    free(bc->ca_bundle);
    free(bc);
}

void blob_client_set_deadline(struct blob_client *bc, int64_t deadline_ms)
{
    bc->deadline_ms = deadline_ms;
}

const char *blob_client_url(const struct blob_client *bc)
{
    return bc->url;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *payload)
{
    struct blob_response *r = payload;
    size_t n = size * nmemb;
    return buf_add(&r->body, data, n) < 0 ? 0 : n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *payload)
{
    struct blob_response *r = payload;
    size_t n = size * nmemb, klen, vlen;
    const char *colon = memchr(data, ':', n), *v;
    static const struct {
        const char *name;
        size_t off, size;
    } want[] = {
        {"etag", offsetof(struct blob_response, etag), sizeof(((struct blob_response *)0)->etag)},
        {"x-ms-lease-id", offsetof(struct blob_response, lease_id),
         sizeof(((struct blob_response *)0)->lease_id)},
        {"x-ms-lease-state", offsetof(struct blob_response, lease_state),
         sizeof(((struct blob_response *)0)->lease_state)},
        {"x-ms-error-code", offsetof(struct blob_response, error_code),
         sizeof(((struct blob_response *)0)->error_code)},
        {"x-ms-meta-amlseclock", offsetof(struct blob_response, meta_lock),
         sizeof(((struct blob_response *)0)->meta_lock)},
    };

    if (colon == NULL)
        return n;
    klen = (size_t)(colon - data);
    v = colon + 1;
    while (v < data + n && (*v == ' ' || *v == '\t'))
        v++;
    vlen = (size_t)(data + n - v);
    while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
        vlen--;
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        if (strlen(want[i].name) == klen && strncasecmp(data, want[i].name, klen) == 0)
            copy_str((char *)r + want[i].off, want[i].size, v, vlen);
    }
    return n;
}

static int cmp_ms(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Shared Key: HMAC-SHA256 over the string-to-sign of "Authorize with
 * Shared Key" (version 2009-09-19 and later). */
static int sign(struct buf *auth, struct blob_client *bc, const struct request *rq)
{
    struct buf s;
    char len_s[32] = "";
    const char *pairs[MAX_MS_HEADERS][2];
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    int rc = AMLSEC_ENOMEM;

    buf_init(&s, 1 << 16);
    if (rq->body_len > 0)
        snprintf(len_s, sizeof(len_s), "%zu", rq->body_len);
    for (int i = 0; i < rq->nms; i++) {
        pairs[i][0] = rq->ms_names[i];
        pairs[i][1] = rq->ms_values[i];
    }
    qsort(pairs, (size_t)rq->nms, sizeof(pairs[0]), cmp_ms);
    if (buf_addf(&s, "%s\n\n\n%s\n\n%s\n\n\n%s\n%s\n\n\n", rq->verb, len_s,
                 rq->content_type ? rq->content_type : "", rq->if_match ? rq->if_match : "",
                 rq->if_none_match ? rq->if_none_match : "") < 0)
        goto out;
    for (int i = 0; i < rq->nms; i++)
        if (buf_addf(&s, "%s:%s\n", pairs[i][0], pairs[i][1]) < 0)
            goto out;
    if (buf_addf(&s, "/%s%s", bc->account, rq->container ? bc->container_path : bc->path) < 0)
        goto out;
    if (rq->query) {
        /* "a=b&c=d" -> "\na:b\nc:d" (our queries are already sorted) */
        const char *q = rq->query;
        while (*q) {
            size_t kl = strcspn(q, "="), vl;
            const char *val = q + kl + (q[kl] == '=');
            vl = strcspn(val, "&");
            if (buf_addf(&s, "\n%.*s:%.*s", (int)kl, q, (int)vl, val) < 0)
                goto out;
            q = val + vl + (val[vl] == '&');
        }
    }
    if (HMAC(EVP_sha256(), bc->key, bc->key_len, (const unsigned char *)s.ptr, s.len, mac,
             &maclen) == NULL) {
        rc = AMLSEC_ERROR;
        goto out;
    }
    {
        struct buf sig;
        buf_init(&sig, 0);
        rc = base64_encode(&sig, mac, maclen) < 0
                 ? AMLSEC_ENOMEM
                 : buf_addf(auth, "Authorization: SharedKey %s:%s", bc->account, sig.ptr);
        buf_release(&sig);
    }
out:
    buf_release(&s);
    return rc;
}

static int send_request(struct blob_client *bc, const struct request *rq,
                        struct blob_response *resp, struct errbuf *err)
{
    struct curl_slist *hdrs = NULL, *tmp;
    struct buf url, line, auth;
    char date[64], curl_err[CURL_ERROR_SIZE] = "";
    struct request r = *rq;
    char *token = NULL;
    time_t now = time(NULL);
    long timeout_ms = bc->timeout_ms;
    struct tm tm;
    CURLcode cc = CURLE_OK;
    int rc = AMLSEC_ENOMEM;
    long status = 0;

    buf_init(&url, 1 << 16);
    buf_init(&line, 1 << 16);
    buf_init(&auth, 1 << 16);
    response_reset(resp);
    gmtime_r(&now, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    add_ms(&r, "x-ms-date", date);
    add_ms(&r, "x-ms-version", BLOB_API_VERSION);

    if (buf_adds(&url, rq->container ? bc->container_url : bc->url) < 0)
        goto out;
    if (rq->query && (buf_addch(&url, '?') < 0 || buf_adds(&url, rq->query) < 0))
        goto out;
    if (bc->sas && bc->key_len == 0 && !bc->token_fn &&
        (buf_addch(&url, rq->query ? '&' : '?') < 0 || buf_adds(&url, bc->sas) < 0))
        goto out;

    for (int i = 0; i < r.nms; i++) {
        buf_reset(&line);
        if (buf_addf(&line, "%s: %s", r.ms_names[i], r.ms_values[i]) < 0 ||
            (tmp = curl_slist_append(hdrs, line.ptr)) == NULL)
            goto out;
        hdrs = tmp;
    }
    buf_reset(&line);
    buf_addf(&line, "Content-Type: %s", rq->content_type ? rq->content_type : "");
    if ((tmp = curl_slist_append(hdrs, line.ptr)) == NULL)
        goto out;
    hdrs = tmp;
    if (rq->if_match) {
        buf_reset(&line);
        buf_addf(&line, "If-Match: %s", rq->if_match);
        if ((tmp = curl_slist_append(hdrs, line.ptr)) == NULL)
            goto out;
        hdrs = tmp;
    }
    if (rq->if_none_match) {
        buf_reset(&line);
        buf_addf(&line, "If-None-Match: %s", rq->if_none_match);
        if ((tmp = curl_slist_append(hdrs, line.ptr)) == NULL)
            goto out;
        hdrs = tmp;
    }
    if ((tmp = curl_slist_append(hdrs, "Expect:")) == NULL)
        goto out;
    hdrs = tmp;
    if (bc->key_len > 0) {
        if ((rc = sign(&auth, bc, &r)) < 0) {
            errbuf_set(err, rc, "cannot sign the storage request");
            goto out;
        }
    } else if (bc->token_fn) {
        if ((rc = bc->token_fn(&token, BLOB_STORAGE_SCOPE, bc->token_payload, err)) < 0)
            goto out;
        rc = AMLSEC_ENOMEM;
        if (buf_addf(&auth, "Authorization: Bearer %s", token) < 0)
            goto out;
    }
    if (auth.len) {
        if ((tmp = curl_slist_append(hdrs, auth.ptr)) == NULL)
            goto out;
        hdrs = tmp;
    }
    if (bc->deadline_ms) {
        /* counted after the token, which may have taken a sign-in */
        int64_t left = bc->deadline_ms - arm_clock_now(arm_clock_real());
        if (left <= 0) {
            rc = errbuf_set(err, AMLSEC_EHTTP, "%s %s: not sent, its deadline had passed", rq->verb,
                            rq->container ? bc->container_url : bc->url);
            goto out;
        }
        if (left < timeout_ms)
            timeout_ms = (long)left;
    }

    curl_easy_reset(bc->curl);
    if ((cc = curl_easy_setopt(bc->curl, CURLOPT_URL, url.ptr)) != CURLE_OK ||
        (cc = curl_easy_setopt(bc->curl, CURLOPT_ERRORBUFFER, curl_err)) != CURLE_OK ||
        (cc = curl_easy_setopt(bc->curl, CURLOPT_CUSTOMREQUEST, rq->verb)) != CURLE_OK ||
        (cc = curl_easy_setopt(bc->curl, CURLOPT_HTTPHEADER, hdrs)) != CURLE_OK ||
        (cc = curl_easy_setopt(bc->curl, CURLOPT_TIMEOUT_MS, timeout_ms)) != CURLE_OK ||
        (cc = curl_easy_setopt(bc->curl, CURLOPT_NOSIGNAL, 1L)) != CURLE_OK ||
        (cc = curl_easy_setopt(bc->curl, CURLOPT_PROTOCOLS_STR, "http,https")) != CURLE_OK ||
        (cc = curl_easy_setopt(bc->curl, CURLOPT_WRITEFUNCTION, on_body)) != CURLE_OK ||
        (cc = curl_easy_setopt(bc->curl, CURLOPT_WRITEDATA, resp)) != CURLE_OK ||
        (cc = curl_easy_setopt(bc->curl, CURLOPT_HEADERFUNCTION, on_header)) != CURLE_OK ||
        (cc = curl_easy_setopt(bc->curl, CURLOPT_HEADERDATA, resp)) != CURLE_OK) {
        rc = errbuf_set(err, AMLSEC_EHTTP, "cannot set up the request: %s", curl_easy_strerror(cc));
        goto out;
    }
    if (bc->ca_bundle &&
        (cc = curl_easy_setopt(bc->curl, CURLOPT_CAINFO, bc->ca_bundle)) != CURLE_OK) {
        rc = errbuf_set(err, AMLSEC_EHTTP, "cannot set up the request: %s", curl_easy_strerror(cc));
        goto out;
    }
    if (strcmp(rq->verb, "PUT") == 0) {
        if ((cc = curl_easy_setopt(bc->curl, CURLOPT_POSTFIELDSIZE_LARGE,
                                   (curl_off_t)rq->body_len)) != CURLE_OK ||
            (cc = curl_easy_setopt(bc->curl, CURLOPT_POSTFIELDS, rq->body ? rq->body : "")) !=
                CURLE_OK) {
            rc = errbuf_set(err, AMLSEC_EHTTP, "cannot set up the request: %s",
                            curl_easy_strerror(cc));
            goto out;
        }
    }
    cc = curl_easy_perform(bc->curl);
    if (cc != CURLE_OK) {
        rc = errbuf_set(err, AMLSEC_EHTTP, "%s %s: %s%s%s", rq->verb,
                        rq->container ? bc->container_url : bc->url, curl_easy_strerror(cc),
                        curl_err[0] ? ": " : "", curl_err);
        goto out;
    }
    curl_easy_getinfo(bc->curl, CURLINFO_RESPONSE_CODE, &status);
    resp->status = status;
    log_msg(LOG_DEBUG, "blob %s %s%s%s -> %ld %s", rq->verb, bc->url, rq->query ? "?" : "",
            rq->query ? rq->query : "", status, resp->error_code);
    rc = 0;
out:
    if (rc == AMLSEC_ENOMEM)
        errbuf_set(err, rc, "out of memory");
    curl_slist_free_all(hdrs);
    if (auth.len)
        OPENSSL_cleanse(auth.ptr, auth.len);
    if (url.len)
        OPENSSL_cleanse(url.ptr, url.len);
    if (token) {
        OPENSSL_cleanse(token, strlen(token));
        free(token);
    }
    buf_release(&url);
    buf_release(&line);
    buf_release(&auth);
    return rc;
}

int blob_client_create_container(struct blob_client *bc, struct blob_response *resp,
                                 struct errbuf *err)
{
    struct request rq = {.verb = "PUT", .container = 1, .query = "restype=container"};
    return send_request(bc, &rq, resp, err);
}

int blob_client_get(struct blob_client *bc, struct blob_response *resp, struct errbuf *err)
{
    struct request rq = {.verb = "GET"};
    return send_request(bc, &rq, resp, err);
}

int blob_client_put(struct blob_client *bc, const void *data, size_t len, const char *if_match,
                    int if_none_match_star, const char *lease_id, const char *meta_lock,
                    struct blob_response *resp, struct errbuf *err)
{
    struct request rq = {
        .verb = "PUT", .body = data, .body_len = len, .content_type = "application/octet-stream"};
    rq.if_match = if_match;
    rq.if_none_match = if_none_match_star ? "*" : NULL;
    add_ms(&rq, "x-ms-blob-type", "BlockBlob");
    if (lease_id)
        add_ms(&rq, "x-ms-lease-id", lease_id);
    if (meta_lock)
        add_ms(&rq, "x-ms-meta-amlseclock", meta_lock);
    return send_request(bc, &rq, resp, err);
}

int blob_client_get_metadata(struct blob_client *bc, struct blob_response *resp, struct errbuf *err)
{
    struct request rq = {.verb = "GET", .query = "comp=metadata"};
    return send_request(bc, &rq, resp, err);
}

int blob_client_set_metadata(struct blob_client *bc, const char *meta_lock, const char *lease_id,
                             struct blob_response *resp, struct errbuf *err)
{
    struct request rq = {.verb = "PUT", .query = "comp=metadata"};
    if (lease_id)
        add_ms(&rq, "x-ms-lease-id", lease_id);
    if (meta_lock)
        add_ms(&rq, "x-ms-meta-amlseclock", meta_lock);
    return send_request(bc, &rq, resp, err);
}

int blob_client_lease(struct blob_client *bc, const char *action, const char *lease_id,
                      const char *proposed_id, int duration, int break_period,
                      struct blob_response *resp, struct errbuf *err)
{
    struct request rq = {.verb = "PUT", .query = "comp=lease"};
    char dur[16], brk[16];
    add_ms(&rq, "x-ms-lease-action", action);
    if (lease_id)
        add_ms(&rq, "x-ms-lease-id", lease_id);
    if (proposed_id)
        add_ms(&rq, "x-ms-proposed-lease-id", proposed_id);
    if (strcmp(action, "acquire") == 0) {
        snprintf(dur, sizeof(dur), "%d", duration);
        add_ms(&rq, "x-ms-lease-duration", dur);
    }
    if (strcmp(action, "break") == 0) {
        snprintf(brk, sizeof(brk), "%d", break_period);
        add_ms(&rq, "x-ms-lease-break-period", brk);
    }
    return send_request(bc, &rq, resp, err);
}

int blob_client_snapshot(struct blob_client *bc, const char *lease_id, struct blob_response *resp,
                         struct errbuf *err)
{
    struct request rq = {.verb = "PUT", .query = "comp=snapshot"};
    if (lease_id)
        add_ms(&rq, "x-ms-lease-id", lease_id);
    return send_request(bc, &rq, resp, err);
}
