/* Fixtures of the sign-in tests, shared by tests/unit/arm_auth.c,
 * armlocal_signin.c and arm_redact.c. Header-only (static functions)
 * because every .c file in tests/unit is an executable of its own.
 *
 *   fixture_getenv   an environment from a table;
 *   fixture_cert_*   certificates and keys made with OpenSSL: RSA or EC
 *                    P-256, written as PEM (certificate + key) or PFX;
 *   fixture_cloud_*  a running armlocal (--auth required) with a libcurl
 *                    transport and the cloud its metadata document names,
 *                    its control API, and one ARM call through amlsec's own
 *                    client signed in with a given auth configuration. */
#ifndef AMLSEC_TESTS_UNIT_FIXTURE_SIGNIN_H
#define AMLSEC_TESTS_UNIT_FIXTURE_SIGNIN_H

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "providers/arm/arm_client.h"
#include "providers/arm/auth.h"
#include "providers/arm/cloud.h"
#include "providers/arm/http.h"
#include "providers/armlocal/armlocal.h"
#include "util/buf.h"
#include "util/error.h"

/* --- environments ---------------------------------------------------------- */

/* An environment for auth_config_from_env / auth_request_env: a table of
 * {name, value} ending with {NULL, NULL}, passed as the payload. */
struct fixture_kv {
    const char *k, *v;
};

static inline const char *fixture_getenv(const char *name, void *payload)
{
    for (const struct fixture_kv *p = payload; p->k; p++)
        if (strcmp(p->k, name) == 0)
            return p->v;
    return NULL;
}

/* --- certificates -------------------------------------------------------- */

/* A new key: RSA 2048, or EC P-256 when ec. */
static inline EVP_PKEY *fixture_key(int ec)
{
    return ec ? EVP_EC_gen("P-256") : EVP_RSA_gen(2048);
}

/* A self-signed certificate for key, valid for a year. NULL on failure. */
static inline X509 *fixture_cert(EVP_PKEY *key, const char *cn)
{
    X509 *cert = X509_new();
    X509_NAME *name;
    if (cert == NULL)
        return NULL;
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), 0);
    X509_gmtime_adj(X509_getm_notAfter(cert), 3600L * 24 * 365);
    X509_set_pubkey(cert, key);
    name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(cert, name);
    if (X509_sign(cert, key, EVP_sha256()) <= 0) {
        X509_free(cert);
        return NULL;
    }
    return cert;
}

/* path gets the certificate and the unencrypted key, PEM. */
static inline int fixture_cert_write_pem(const char *path, X509 *cert, EVP_PKEY *key)
{
    FILE *f = fopen(path, "w");
    int ok;
    if (f == NULL)
        return -1;
    ok = PEM_write_X509(f, cert) == 1 && PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
    return fclose(f) == 0 && ok ? 0 : -1;
}

/* path gets a PKCS#12 file protected by password. */
static inline int fixture_cert_write_pfx(const char *path, X509 *cert, EVP_PKEY *key,
                                         const char *password)
{
    PKCS12 *p12 = PKCS12_create(password, "amlsec", key, cert, NULL, 0, 0, 0, 0, 0);
    FILE *f = p12 ? fopen(path, "wb") : NULL;
    int ok = f && i2d_PKCS12_fp(f, p12) == 1;
    if (f && fclose(f) != 0)
        ok = 0;
    PKCS12_free(p12);
    return ok ? 0 : -1;
}

/* The certificate as PEM text, JSON-ready. Caller frees. */
static inline char *fixture_cert_pem(X509 *cert)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *data = NULL, *out = NULL;
    long n;
    if (b && PEM_write_bio_X509(b, cert) == 1 && (n = BIO_get_mem_data(b, &data)) > 0 &&
        (out = malloc((size_t)n + 1)) != NULL) {
        memcpy(out, data, (size_t)n);
        out[n] = '\0';
    }
    BIO_free(b);
    return out;
}

/* --- armlocal -------------------------------------------------------------- */

struct fixture_cloud {
    struct armlocal *al;
    const char *base;
    struct transport *t;
    struct arm_cloud *cloud;
};

/* Starts armlocal with --auth required; 0 or -1. */
static inline int fixture_cloud_start(struct fixture_cloud *w)
{
    struct armlocal_opts o = ARMLOCAL_OPTS_INIT;
    struct http_opts ho = HTTP_OPTS_INIT;
    struct errbuf err = ERRBUF_INIT;
    memset(w, 0, sizeof(*w));
    o.auth_required = 1;
    o.lro_ms = 0;
    if (armlocal_start(&w->al, &o, &err) < 0 || http_transport_new(&w->t, &ho, &err) < 0) {
        fprintf(stderr, "fixture: %s\n", err.msg);
        return -1;
    }
    w->base = armlocal_base_url(w->al);
    if (arm_cloud_fetch(&w->cloud, w->t, w->base, NULL, &err) < 0) {
        fprintf(stderr, "fixture: cloud metadata: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static inline void fixture_cloud_stop(struct fixture_cloud *w)
{
    arm_cloud_free(w->cloud);
    transport_free(w->t);
    armlocal_stop(w->al);
}

static inline size_t fixture_collect(char *p, size_t size, size_t n, void *payload)
{
    return buf_add(payload, p, size * n) == 0 ? size * n : 0;
}

/* METHOD {base}{path} with a JSON body (or none); the answer goes to out
 * when given. Returns the HTTP status, or -1. */
static inline long fixture_cloud_control(const struct fixture_cloud *w, const char *method,
                                         const char *path, const char *body, struct buf *out)
{
    CURL *h = curl_easy_init();
    struct curl_slist *hd = curl_slist_append(NULL, "Content-Type: application/json");
    struct buf sink;
    char url[1024];
    long status = -1;

    buf_init(&sink, (size_t)1 << 20);
    snprintf(url, sizeof(url), "%s%s", w->base, path);
    if (h && hd && curl_easy_setopt(h, CURLOPT_URL, url) == CURLE_OK &&
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method) == CURLE_OK &&
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd) == CURLE_OK &&
        (body == NULL || curl_easy_setopt(h, CURLOPT_POSTFIELDS, body) == CURLE_OK) &&
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, fixture_collect) == CURLE_OK &&
        curl_easy_setopt(h, CURLOPT_WRITEDATA, out ? out : &sink) == CURLE_OK &&
        curl_easy_perform(h) == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    buf_release(&sink);
    curl_slist_free_all(hd);
    curl_easy_cleanup(h);
    return status;
}

/* What one sign-in did: the call's outcome, and how many token requests. */
struct fixture_run {
    int rc;
    char err[1024];
    char correlation[128]; /* x-ms-correlation-request-id armlocal answered */
    unsigned token_requests;
};

struct fixture_steps {
    unsigned calls;                       /* ARM calls: a PUT, then GETs; 0 = 2 */
    unsigned pause_ms;                    /* between calls */
    const struct arm_clock *clock;        /* of the sign-in; NULL = real */
    const struct arm_client_opts *client; /* request settings (correlation, partner id) */
};

/* Signs in with cfg and makes the ARM calls of steps (NULL = two) through
 * amlsec's client, the way plan does. Stops at the first failure. */
static inline struct fixture_run fixture_cloud_run(const struct fixture_cloud *w,
                                                   const struct auth_config *cfg,
                                                   const struct fixture_steps *steps)
{
    static const char rg[] =
        "/subscriptions/00000000-0000-0000-0000-0000000005a1/resourceGroups/rg-signin";
    struct fixture_run r;
    struct errbuf err = ERRBUF_INIT;
    struct auth *auth = NULL;
    struct arm_token_source ts;
    struct arm_client_opts co;
    struct arm_client *cl = NULL;

    struct fixture_steps dflt = {2, 0, NULL, NULL};

    if (steps == NULL)
        steps = &dflt;
    memset(&r, 0, sizeof(r));
    if (steps->client)
        co = *steps->client;
    else
        memset(&co, 0, sizeof(co));
    r.rc = auth_new(&auth, cfg, w->cloud, w->t, steps->clock, &err);
    if (r.rc == 0) {
        ts = auth_token_source(auth);
        co.cloud = w->cloud;
        co.transport = w->t;
        co.auth = &ts;
        co.backoff_base_ms = 20;
        co.seed = 1;
        r.rc = arm_client_new(&cl, &co, &err);
    }
    for (unsigned i = 0; r.rc == 0 && i < (steps->calls ? steps->calls : 2); i++) {
        struct arm_call c;
        const char *corr;
        if (i && steps->pause_ms) {
            struct timespec pause = {steps->pause_ms / 1000,
                                     (long)(steps->pause_ms % 1000) * 1000000L};
            nanosleep(&pause, NULL);
        }
        memset(&c, 0, sizeof(c));
        c.method = i == 0 ? "PUT" : "GET";
        c.url = rg;
        c.api_version = "2024-03-01";
        c.body = i == 0 ? "{\"location\":\"eastus\"}" : NULL;
        r.rc = arm_client_call(cl, &c);
        if (r.rc < 0)
            snprintf(err.msg, sizeof(err.msg), "%s", c.err.msg);
        corr = arm_call_header(&c, "x-ms-correlation-request-id");
        snprintf(r.correlation, sizeof(r.correlation), "%s", corr ? corr : "");
        arm_call_release(&c);
    }
    snprintf(r.err, sizeof(r.err), "%s", r.rc < 0 ? err.msg : "");
    r.token_requests = auth ? auth_request_count(auth) : 0;
    arm_client_free(cl);
    auth_free(auth);
    return r;
}

#endif
