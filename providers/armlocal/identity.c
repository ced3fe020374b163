/* Identity: armlocal acting as Entra ID and as the token sources around it.
 *
 *  - The token endpoint /{tenant}/oauth2/v2.0/token (client credentials):
 *    client secrets; certificate assertions (RS256, PS256 or ES256, the
 *    certificate named by x5t#S256, x5t or kid; aud, exp, nbf and jti
 *    checked, a jti is accepted once); federated assertions (a registered
 *    issuer + subject + audience, the signature checked against armlocal's
 *    own OIDC issuer key or a registered public key).
 *  - An OIDC issuer at {base}/oidc: discovery document and JWKS, a GitHub
 *    Actions-like token request endpoint and an Azure DevOps-like one;
 *    tokens (ES256) for files (AKS) are minted through the control API.
 *  - Managed identity: IMDS (/metadata/identity/oauth2/token) and the App
 *    Service variant (/msi/token with X-IDENTITY-HEADER).
 *  - The bearer-token check of --auth required, auxiliary tokens included.
 *
 * Access tokens are JWTs signed with HS256 by a key generated at start (in
 * memory only) and live tokenLifetimeS (settings; 1 h by default). Secrets
 * and request tokens are kept as SHA-256 hashes. */
#include "providers/armlocal/al_internal.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/base64.h"
#include "util/error.h"
#include "util/jsonw.h"
#include "util/banned.h"

#define TOKEN_LIFETIME_S 3600
#define CLOCK_SKEW_S 300
#define DEFAULT_TENANT "72f988bf-86f1-41af-91ab-2d7cd011db47"
#define SYSTEM_IDENTITY "00000000-0000-0000-0000-00000000a11d"
#define EXCHANGE_AUDIENCE "api://AzureADTokenExchange"
#define JWT_BEARER "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

/* --- base64url ---------------------------------------------------------------- */

static void b64url(const unsigned char *in, size_t n, struct buf *out)
{
    base64url_encode(out, in, n);
}

/* Each part of a JWS is base64url without padding (RFC 7515 section 2):
 * the standard alphabet's '+' and '/', padding '=', a length that leaves
 * a lone character, and set bits in what the last character leaves over
 * (a second spelling of the same bytes) are all refused: the decoded bytes
 * must encode back to exactly the text. */
static int b64url_decode(const char *in, size_t n, struct buf *out)
{
    struct buf again;
    size_t start = out->len;
    int rc = 0;
    for (size_t i = 0; i < n; i++)
        if (in[i] == '+' || in[i] == '/' || in[i] == '=' || in[i] == ' ' || in[i] == '\n' ||
            in[i] == '\r' || in[i] == '\t')
            return -1;
    if (base64_decode(out, in, n) < 0)
        return -1;
    buf_init(&again, 0);
    if (base64url_encode(&again, out->ptr + start, out->len - start) < 0 || again.len != n ||
        memcmp(again.ptr, in, n) != 0)
        rc = -1;
    buf_release(&again);
    return rc;
}

/* --- JWTs ---------------------------------------------------------------------- */

struct jwt {
    json_t *header, *claims;
    const char *signing_input; /* header.payload */
    size_t signing_len;
    struct buf sig;
};

static void jwt_release(struct jwt *j)
{
    json_decref(j->header);
    json_decref(j->claims);
    buf_release(&j->sig);
}

static int jwt_parse(struct jwt *j, const char *tok)
{
    const char *d1 = strchr(tok, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    struct buf h, p;
    memset(j, 0, sizeof(*j));
    buf_init(&j->sig, 4096);
    if (d1 == NULL || d2 == NULL || strchr(d2 + 1, '.'))
        return -1;
    buf_init(&h, 8192);
    buf_init(&p, 65536);
    if (b64url_decode(tok, (size_t)(d1 - tok), &h) == 0 &&
        b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), &p) == 0 &&
        b64url_decode(d2 + 1, strlen(d2 + 1), &j->sig) == 0) {
        j->header = json_loadb(h.ptr, h.len, 0, NULL);
        j->claims = json_loadb(p.ptr, p.len, 0, NULL);
    }
    buf_release(&h);
    buf_release(&p);
    j->signing_input = tok;
    j->signing_len = (size_t)(d2 - tok);
    if (!json_is_object(j->header) || !json_is_object(j->claims))
        return -1;
    return 0;
}

/* An ECDSA signature (DER) as JWS wants it: r||s, 32 bytes each. */
static int es256_raw(const unsigned char *der, size_t len, unsigned char raw[64])
{
    const unsigned char *p = der;
    ECDSA_SIG *s = d2i_ECDSA_SIG(NULL, &p, (long)len);
    const BIGNUM *r, *sv;
    int ok;
    if (s == NULL)
        return -1;
    ECDSA_SIG_get0(s, &r, &sv);
    ok = BN_bn2binpad(r, raw, 32) == 32 && BN_bn2binpad(sv, raw + 32, 32) == 32;
    ECDSA_SIG_free(s);
    return ok ? 0 : -1;
}

/* header.payload.signature: HS256 with the token key when key is NULL,
 * else ES256 with the P-256 key (the signature as JWS r||s). header and
 * claims are borrowed. Caller frees. */
static char *jwt_encode(struct armlocal *al, const json_t *header, const json_t *claims,
                        EVP_PKEY *key)
{
    struct buf out;
    char *h = jsonw_dumps(header, JSON_COMPACT), *p = jsonw_dumps(claims, JSON_COMPACT);
    unsigned char mac[32], *sig = NULL, raw[64];
    unsigned maclen = 0;
    size_t siglen = 0;
    EVP_MD_CTX *md = NULL;
    int ok = 0;

    buf_init(&out, 65536);
    if (h == NULL || p == NULL)
        goto out;
    b64url((const unsigned char *)h, strlen(h), &out);
    buf_addch(&out, '.');
    b64url((const unsigned char *)p, strlen(p), &out);
    if (key == NULL) {
        ok = HMAC(EVP_sha256(), al->token_key, sizeof(al->token_key), (unsigned char *)out.ptr,
                  out.len, mac, &maclen) != NULL;
        buf_addch(&out, '.');
        b64url(mac, maclen, &out);
        goto out;
    }
    md = EVP_MD_CTX_new();
    if (md == NULL || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
        EVP_DigestSign(md, NULL, &siglen, (const unsigned char *)out.ptr, out.len) != 1 ||
        (sig = malloc(siglen)) == NULL ||
        EVP_DigestSign(md, sig, &siglen, (const unsigned char *)out.ptr, out.len) != 1 ||
        es256_raw(sig, siglen, raw) < 0)
        goto out;
    buf_addch(&out, '.');
    b64url(raw, sizeof(raw), &out);
    ok = 1;
out:
    EVP_MD_CTX_free(md);
    free(sig);
    free(h);
    free(p);
    if (!ok) {
        buf_release(&out);
        return NULL;
    }
    return buf_detach(&out, NULL);
}

static const char *jstr(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static void sha256_hex(const char *s, char out[65])
{
    unsigned char h[32];
    SHA256((const unsigned char *)s, strlen(s), h);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", h[i]);
}

static json_t *lazy_object(json_t **slot)
{
    if (*slot == NULL)
        *slot = json_object();
    return *slot;
}

/* --- registration ---------------------------------------------------------- */

static struct al_sp *sp_find(struct armlocal *al, const char *client_id)
{
    for (size_t i = 0; client_id && i < al->nsps; i++)
        if (strcasecmp(al->sps[i].client_id, client_id) == 0)
            return &al->sps[i];
    return NULL;
}

static void oid_for(const char *client_id, char out[37])
{
    unsigned char h[32];
    SHA256((const unsigned char *)client_id, strlen(client_id), h);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-4%x%02x-8%x%02x-%02x%02x%02x%02x%02x%02x", h[0],
             h[1], h[2], h[3], h[4], h[5], h[6] & 15, h[7], h[8] & 15, h[9], h[10], h[11], h[12],
             h[13], h[14], h[15]);
}

static EVP_PKEY *load_public(const char *pem)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *k = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
    if (k == NULL && bio) {
        X509 *x;
        BIO_free(bio);
        bio = BIO_new_mem_buf(pem, -1);
        x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
        if (x) {
            k = X509_get_pubkey(x);
            X509_free(x);
        }
    }
    BIO_free(bio);
    return k;
}

static X509 *load_cert(const char *pem)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    return x;
}

/* A credential entry: a PEM certificate, or {kid, publicKeyPem}. */
static int cert_entry_ok(const json_t *v)
{
    EVP_PKEY *k;
    X509 *x;
    if (json_is_object(v)) {
        if (jstr(v, "kid") == NULL || jstr(v, "publicKeyPem") == NULL)
            return 0;
        k = load_public(jstr(v, "publicKeyPem"));
        EVP_PKEY_free(k);
        return k != NULL;
    }
    x = json_is_string(v) ? load_cert(json_string_value(v)) : NULL;
    X509_free(x);
    return x != NULL;
}

int al_sp_register(struct armlocal *al, const json_t *spec, struct errbuf *err)
{
    const char *cid = jstr(spec, "clientId"), *secret = jstr(spec, "secret");
    json_t *certs = json_object_get(spec, "certificates");
    json_t *fed = json_object_get(spec, "federatedCredentials");
    json_t *tenants = json_object_get(spec, "additionalTenants");
    struct al_sp *sp;
    size_t i;
    json_t *v;

    if (cid == NULL || strlen(cid) >= sizeof(sp->client_id))
        return errbuf_set(err, AMLSEC_EUSAGE, "a service principal needs a clientId");
    json_array_foreach(certs, i, v)
    {
        if (!cert_entry_ok(v))
            return errbuf_set(err, AMLSEC_EPARSE,
                              "certificate %zu of '%s' is neither a PEM certificate nor "
                              "{\"kid\", \"publicKeyPem\"}",
                              i, cid);
    }
    json_array_foreach(fed, i, v)
    {
        if (jstr(v, "issuer") == NULL || jstr(v, "subject") == NULL)
            return errbuf_set(err, AMLSEC_EUSAGE,
                              "federated credential %zu of '%s' needs an issuer and a subject", i,
                              cid);
        if (jstr(v, "publicKeyPem")) {
            EVP_PKEY *k = load_public(jstr(v, "publicKeyPem"));
            EVP_PKEY_free(k);
            if (k == NULL)
                return errbuf_set(err, AMLSEC_EPARSE,
                                  "federated credential %zu of '%s': publicKeyPem is not a PEM "
                                  "public key or certificate",
                                  i, cid);
        }
    }
    sp = sp_find(al, cid);
    if (sp == NULL) {
        struct al_sp *n = realloc(al->sps, (al->nsps + 1) * sizeof(*n));
        if (n == NULL)
            return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
        al->sps = n;
        sp = &al->sps[al->nsps++];
        memset(sp, 0, sizeof(*sp));
        sp->certs = json_array();
        sp->federated = json_array();
        sp->tenants = json_array();
    }
    snprintf(sp->client_id, sizeof(sp->client_id), "%s", cid);
    sp->any_tenant = jstr(spec, "tenantId") == NULL;
    snprintf(sp->tenant_id, sizeof(sp->tenant_id), "%s",
             jstr(spec, "tenantId") ? jstr(spec, "tenantId") : DEFAULT_TENANT);
    if (jstr(spec, "objectId"))
        snprintf(sp->object_id, sizeof(sp->object_id), "%s", jstr(spec, "objectId"));
    else
        oid_for(cid, sp->object_id);
    if (secret) {
        SHA256((const unsigned char *)secret, strlen(secret), sp->secret_hash);
        sp->has_secret = 1;
    }
    if (json_is_array(certs))
        json_array_extend(sp->certs, certs);
    if (json_is_array(fed))
        json_array_extend(sp->federated, fed);
    if (json_is_array(tenants))
        json_array_extend(sp->tenants, tenants);
    return 0;
}

/* May sp sign in to tenant (the path segment of the token endpoint)? */
static int sp_in_tenant(const struct al_sp *sp, const char *tenant)
{
    size_t i;
    json_t *v;
    if (sp->any_tenant || strcasecmp(tenant, "common") == 0 ||
        strcasecmp(tenant, "organizations") == 0 || strcasecmp(tenant, sp->tenant_id) == 0)
        return 1;
    json_array_foreach(sp->tenants, i, v)
    {
        if (json_is_string(v) && strcasecmp(json_string_value(v), tenant) == 0)
            return 1;
    }
    return 0;
}

void al_identity_free(struct armlocal *al)
{
    for (size_t i = 0; i < al->nsps; i++) {
        json_decref(al->sps[i].certs);
        json_decref(al->sps[i].federated);
        json_decref(al->sps[i].tenants);
        OPENSSL_cleanse(al->sps[i].secret_hash, sizeof(al->sps[i].secret_hash));
    }
    free(al->sps);
    json_decref(al->jtis);
    json_decref(al->oidc_requests);
    json_decref(al->managed);
    json_decref(al->log_aux);
    EVP_PKEY_free(al->oidc_key);
    OPENSSL_cleanse(al->token_key, sizeof(al->token_key));
}

json_t *al_aux_log(struct armlocal *al)
{
    return lazy_object(&al->log_aux);
}

static unsigned lifetime(const struct armlocal *al)
{
    return al->token_lifetime_s ? al->token_lifetime_s : TOKEN_LIFETIME_S;
}

/* --- signature checks ------------------------------------------------------- */

/* ES256 signatures are r||s (32 bytes each); OpenSSL wants DER. */
static int es256_der(const struct buf *raw, unsigned char **der, int *derlen)
{
    ECDSA_SIG *s;
    BIGNUM *r, *sv;
    if (raw->len != 64)
        return -1;
    s = ECDSA_SIG_new();
    r = BN_bin2bn((const unsigned char *)raw->ptr, 32, NULL);
    sv = BN_bin2bn((const unsigned char *)raw->ptr + 32, 32, NULL);
    if (s == NULL || r == NULL || sv == NULL || ECDSA_SIG_set0(s, r, sv) != 1) {
        BN_free(r);
        BN_free(sv);
        ECDSA_SIG_free(s);
        return -1;
    }
    *der = NULL;
    *derlen = i2d_ECDSA_SIG(s, der);
    ECDSA_SIG_free(s);
    return *derlen > 0 ? 0 : -1;
}

/* ES256 is ECDSA on P-256 (RFC 7518 section 3.4): another curve with
 * 32-byte scalars (secp256k1) would verify the same r||s. */
static int is_p256(EVP_PKEY *key)
{
    char group[64];
    return EVP_PKEY_get_base_id(key) == EVP_PKEY_EC &&
           EVP_PKEY_get_group_name(key, group, sizeof(group), NULL) == 1 &&
           OBJ_sn2nid(group) == NID_X9_62_prime256v1;
}

static int verify_sig(EVP_PKEY *key, const char *alg, const struct jwt *j)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    int ok = 0, pss = strcmp(alg, "PS256") == 0, es = strcmp(alg, "ES256") == 0;
    int rsa = EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA;
    const unsigned char *sig = (const unsigned char *)j->sig.ptr;
    size_t siglen = j->sig.len;
    unsigned char *der = NULL;
    int derlen = 0;

    if (md == NULL)
        return 0;
    if (es ? !is_p256(key) : (!rsa || (!pss && strcmp(alg, "RS256"))))
        goto out;
    if (es) {
        if (es256_der(&j->sig, &der, &derlen) < 0)
            goto out;
        sig = der;
        siglen = (size_t)derlen;
    }
    if (EVP_DigestVerifyInit(md, &pctx, EVP_sha256(), NULL, key) != 1)
        goto out;
    if (pss && (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
                EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1))
        goto out;
    ok = EVP_DigestVerify(md, sig, siglen, (const unsigned char *)j->signing_input,
                          j->signing_len) == 1;
out:
    OPENSSL_free(der);
    EVP_MD_CTX_free(md);
    return ok;
}

/* Does the certificate match the thumbprint the header names? */
static int cert_named(X509 *x, const struct jwt *j)
{
    const char *x5t256 = jstr(j->header, "x5t#S256"), *x5t = jstr(j->header, "x5t");
    const char *kid = jstr(j->header, "kid");
    unsigned char s256[32], s1[20];
    unsigned n256 = 0, n1 = 0;
    struct buf t256, t1;
    char hex1[41];
    int match;

    X509_digest(x, EVP_sha256(), s256, &n256);
    X509_digest(x, EVP_sha1(), s1, &n1);
    buf_init(&t256, 128);
    buf_init(&t1, 128);
    b64url(s256, n256, &t256);
    b64url(s1, n1, &t1);
    for (unsigned k = 0; k < n1 && k < 20; k++)
        snprintf(hex1 + 2 * k, 3, "%02X", s1[k]);
    hex1[40] = '\0';
    match = (x5t256 && strcmp(x5t256, t256.ptr) == 0) || (x5t && strcmp(x5t, t1.ptr) == 0) ||
            (kid && strcasecmp(kid, hex1) == 0);
    buf_release(&t256);
    buf_release(&t1);
    return match;
}

/* Finds the registered credential the header names and verifies with it.
 * Returns 1 valid, 0 bad signature, -1 no credential named. */
static int verify_with_certs(const struct al_sp *sp, const struct jwt *j)
{
    const char *alg = jstr(j->header, "alg"), *kid = jstr(j->header, "kid");
    int found = 0;
    size_t i;
    json_t *c;

    if (alg == NULL)
        return 0;
    json_array_foreach(sp->certs, i, c)
    {
        EVP_PKEY *key = NULL;
        int ok;
        if (json_is_object(c)) {
            if (kid == NULL || strcmp(kid, jstr(c, "kid")) != 0)
                continue;
            key = load_public(jstr(c, "publicKeyPem"));
        } else {
            X509 *x = load_cert(json_string_value(c));
            if (x && cert_named(x, j))
                key = X509_get_pubkey(x);
            X509_free(x);
        }
        if (key == NULL)
            continue;
        found = 1;
        ok = verify_sig(key, alg, j);
        EVP_PKEY_free(key);
        if (ok)
            return 1;
    }
    return found ? 0 : -1;
}

static int aud_has(const json_t *claims, const char *want, int suffix)
{
    const json_t *aud = json_object_get(claims, "aud");
    size_t i;
    json_t *v;
    if (json_is_string(aud)) {
        const char *a = json_string_value(aud);
        size_t la = strlen(a), lw = strlen(want);
        return suffix ? (la >= lw && strcasecmp(a + la - lw, want) == 0) : strcmp(a, want) == 0;
    }
    json_array_foreach(aud, i, v)
    {
        if (aud_has(v, want, suffix))
            return 1;
    }
    return 0;
}

/* exp in the future, nbf not beyond the allowed clock skew. */
static int times_ok(const json_t *claims, int64_t now_s)
{
    json_int_t exp = json_integer_value(json_object_get(claims, "exp"));
    json_int_t nbf = json_integer_value(json_object_get(claims, "nbf"));
    if (exp == 0 || exp < now_s)
        return 0;
    if (nbf && nbf > now_s + CLOCK_SKEW_S)
        return 0;
    return 1;
}

/* --- the OIDC issuer key ------------------------------------------------------ */

static void issuer_url(const struct armlocal *al, char *out, size_t cap)
{
    snprintf(out, cap, "%s/oidc", al->base_url);
}

/* The issuer's key, EC P-256 (ES256), made on first use. P-256 rather
 * than GitHub's RSA: a key is made per server start, and RSA keys take
 * up to seconds to make on a loaded machine. */
static EVP_PKEY *oidc_key(struct armlocal *al)
{
    unsigned char *der = NULL, h[32];
    int n;
    if (al->oidc_key)
        return al->oidc_key;
    al->oidc_key = EVP_EC_gen("P-256");
    if (al->oidc_key == NULL)
        return NULL;
    n = i2d_PUBKEY(al->oidc_key, &der);
    if (n > 0) {
        SHA256(der, (size_t)n, h);
        for (int i = 0; i < 8; i++)
            snprintf(al->oidc_kid + 2 * i, 3, "%02x", h[i]);
    }
    OPENSSL_free(der);
    return al->oidc_key;
}

/* An OIDC token from the issuer. Caller frees. */
static char *oidc_mint(struct al_ctx *c, const char *subject, const char *audience, long life_s)
{
    EVP_PKEY *key = oidc_key(c->al);
    int64_t now = c->now_ms / 1000;
    char iss[200], jti[37];
    json_t *hdr, *claims;
    char *tok = NULL;

    if (key == NULL)
        return NULL;
    issuer_url(c->al, iss, sizeof(iss));
    al_guid(c->al, jti);
    hdr = json_pack("{s:s, s:s, s:s}", "alg", "ES256", "typ", "JWT", "kid", c->al->oidc_kid);
    claims = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I}", "iss", iss, "sub", subject, "aud",
                       audience, "jti", jti, "iat", (json_int_t)now, "nbf", (json_int_t)now, "exp",
                       (json_int_t)(now + life_s));
    if (hdr && claims)
        tok = jwt_encode(c->al, hdr, claims, key);
    json_decref(hdr);
    json_decref(claims);
    return tok;
}

/* --- the token endpoint ------------------------------------------------------ */

static void pct_decode(const char *in, size_t n, char *out, size_t cap)
{
    size_t j = 0;
    for (size_t i = 0; i < n && j + 1 < cap; i++) {
        if (in[i] == '+') {
            out[j++] = ' ';
        } else if (in[i] == '%' && i + 2 < n) {
            unsigned v;
            char hx[3] = {in[i + 1], in[i + 2], 0};
            if (sscanf(hx, "%2x", &v) == 1) {
                out[j++] = (char)v;
                i += 2;
            } else {
                out[j++] = in[i];
            }
        } else {
            out[j++] = in[i];
        }
    }
    out[j] = '\0';
}

static json_t *form_parse(const char *body, size_t len)
{
    json_t *f = json_object();
    size_t i = 0;
    while (i < len) {
        size_t e = i;
        const char *eq;
        char *k, *v;
        while (e < len && body[e] != '&')
            e++;
        eq = memchr(body + i, '=', e - i);
        k = malloc(e - i + 1);
        v = malloc(e - i + 1);
        if (k && v) {
            size_t kl = eq ? (size_t)(eq - body - i) : e - i;
            pct_decode(body + i, kl, k, e - i + 1);
            if (eq)
                pct_decode(eq + 1, (size_t)(body + e - eq - 1), v, e - i + 1);
            else
                v[0] = '\0';
            json_object_set_new(f, k, json_string(v));
        }
        free(k);
        free(v);
        i = e + 1;
    }
    return f;
}

/* Entra's refusal: {error, error_description: "AADSTSn: ...", error_codes}. */
struct refusal {
    int status;
    const char *error;
    int code;
    char desc[600];
};

static int refuse(struct refusal *r, int status, const char *error, int code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int refuse(struct refusal *r, int status, const char *error, int code, const char *fmt, ...)
{
    va_list ap;
    r->status = status;
    r->error = error;
    r->code = code;
    va_start(ap, fmt);
    vsnprintf(r->desc, sizeof(r->desc), fmt, ap);
    va_end(ap);
    return -1;
}

static void oauth_error(struct al_ctx *c, const struct refusal *r)
{
    char d[700];
    snprintf(d, sizeof(d), "AADSTS%d: %s", r->code, r->desc);
    al_json_reply(c, r->status,
                  json_pack("{s:s, s:s, s:[i]}", "error", r->error, "error_description", d,
                            "error_codes", r->code));
}

enum token_shape {
    SHAPE_V2,          /* Entra v2: numbers */
    SHAPE_IMDS,        /* IMDS: v1 fields, numbers as strings */
    SHAPE_APP_SERVICE, /* App Service 2019-08-01: expires_on only, a string */
};

static void issue(struct al_ctx *c, const char *tenant, const char *client_id, const char *oid,
                  const char *resource, enum token_shape shape)
{
    int64_t now = c->now_ms / 1000, life = lifetime(c->al);
    char iss[256], ei[32], eo[32], nb[32];
    json_t *claims, *hdr = json_pack("{s:s, s:s}", "alg", "HS256", "typ", "JWT");
    char *tok;
    snprintf(iss, sizeof(iss), "https://sts.windows.net/%s/", tenant);
    claims = json_pack("{s:s, s:s, s:I, s:I, s:I, s:s, s:s, s:s, s:s, s:s, s:s}", "aud", resource,
                       "iss", iss, "iat", (json_int_t)now, "nbf", (json_int_t)now, "exp",
                       (json_int_t)(now + life), "appid", client_id, "oid", oid, "sub", oid, "tid",
                       tenant, "idtyp", "app", "ver", "1.0");
    tok = hdr && claims ? jwt_encode(c->al, hdr, claims, NULL) : NULL;
    json_decref(hdr);
    json_decref(claims);
    if (tok == NULL) {
        al_error(c, 500, "InternalServerError", "Cannot sign a token.");
        return;
    }
    snprintf(ei, sizeof(ei), "%lld", (long long)life);
    snprintf(eo, sizeof(eo), "%lld", (long long)(now + life));
    snprintf(nb, sizeof(nb), "%lld", (long long)now);
    if (shape == SHAPE_IMDS)
        al_json_reply(c, 200,
                      json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "access_token", tok,
                                "client_id", client_id, "expires_in", ei, "expires_on", eo,
                                "ext_expires_in", ei, "not_before", nb, "resource", resource,
                                "token_type", "Bearer"));
    else if (shape == SHAPE_APP_SERVICE)
        al_json_reply(c, 200,
                      json_pack("{s:s, s:s, s:s, s:s, s:s}", "access_token", tok, "expires_on", eo,
                                "resource", resource, "token_type", "Bearer", "client_id",
                                client_id));
    else
        al_json_reply(c, 200,
                      json_pack("{s:s, s:I, s:I, s:I, s:s}", "token_type", "Bearer", "expires_in",
                                (json_int_t)life, "ext_expires_in", (json_int_t)life, "expires_on",
                                (json_int_t)(now + life), "access_token", tok));
    OPENSSL_cleanse(tok, strlen(tok));
    free(tok);
}

static void resource_from_scope(const char *scope, char *out, size_t cap)
{
    const char *sp = strchr(scope, ' ');
    size_t n = sp ? (size_t)(sp - scope) : strlen(scope);
    const char *suffix = "/.default";
    if (n > strlen(suffix) && strncmp(scope + n - strlen(suffix), suffix, strlen(suffix)) == 0)
        n -= strlen(suffix);
    snprintf(out, cap, "%.*s", (int)n, scope);
}

/* Remembers a certificate assertion's jti until it expires; 0 when new. */
static int jti_replayed(struct armlocal *al, const char *jti, json_int_t exp, int64_t now_s)
{
    json_t *seen = lazy_object(&al->jtis), *v;
    const char *k;
    void *tmp;
    json_object_foreach_safe(seen, tmp, k, v)
    {
        if (json_integer_value(v) < now_s)
            json_object_del(seen, k);
    }
    if (json_object_get(seen, jti))
        return 1;
    json_object_set_new(seen, jti, json_integer(exp));
    return 0;
}

/* A certificate assertion: iss = sub = the client, aud = the endpoint the
 * request was posted to, signed by a registered certificate or key. */
static int check_certificate(struct al_ctx *c, const struct al_sp *sp, const struct jwt *j,
                             struct refusal *r)
{
    const char *jti = jstr(j->claims, "jti");
    char aud[700];
    int v;

    snprintf(aud, sizeof(aud), "%s%s", c->al->base_url, c->req->path);
    if (!times_ok(j->claims, c->now_ms / 1000))
        return refuse(r, 400, "invalid_client", 700024,
                      "Client assertion is not within its valid time range.");
    if (!aud_has(j->claims, aud, 0))
        return refuse(r, 400, "invalid_client", 50027,
                      "Invalid JWT token. The client assertion's audience is not '%s'.", aud);
    if (jti == NULL || *jti == '\0')
        return refuse(r, 400, "invalid_client", 50027,
                      "Invalid JWT token. The client assertion has no jti.");
    v = verify_with_certs(sp, j);
    if (v < 0)
        return refuse(r, 401, "invalid_client", 700027,
                      "Client assertion contains an invalid signature. [Reason - The key was not "
                      "found.]");
    if (v == 0)
        return refuse(r, 401, "invalid_client", 700027,
                      "Client assertion failed signature validation.");
    if (jti_replayed(c->al, jti, json_integer_value(json_object_get(j->claims, "exp")),
                     c->now_ms / 1000))
        return refuse(r, 400, "invalid_client", 50027,
                      "Invalid JWT token. The client assertion's jti '%s' was already used.", jti);
    return 0;
}

/* A federated assertion: a registered issuer + subject + audience, signed
 * by the issuer (armlocal's own, or the registered public key). */
static int check_federated(struct al_ctx *c, const struct al_sp *sp, const struct jwt *j,
                           struct refusal *r)
{
    const char *iss = jstr(j->claims, "iss"), *sub = jstr(j->claims, "sub");
    const char *alg = jstr(j->header, "alg");
    const json_t *aud = json_object_get(j->claims, "aud");
    char own[200];
    int issuer_known = 0, subject_known = 0;
    size_t i;
    json_t *fc;

    if (iss == NULL || sub == NULL || alg == NULL)
        return refuse(r, 400, "invalid_client", 50027,
                      "Invalid JWT token. The assertion has no iss, sub or alg.");
    if (!times_ok(j->claims, c->now_ms / 1000))
        return refuse(r, 400, "invalid_client", 700024,
                      "Client assertion is not within its valid time range.");
    issuer_url(c->al, own, sizeof(own));
    json_array_foreach(sp->federated, i, fc)
    {
        const char *want = jstr(fc, "audience") ? jstr(fc, "audience") : EXCHANGE_AUDIENCE;
        EVP_PKEY *key = NULL;
        int ok;
        if (strcmp(iss, jstr(fc, "issuer")) != 0)
            continue;
        issuer_known = 1;
        if (strcmp(sub, jstr(fc, "subject")) != 0)
            continue;
        subject_known = 1;
        if (!aud_has(j->claims, want, 0))
            continue;
        if (strcmp(iss, own) == 0) {
            key = oidc_key(c->al);
            if (key)
                EVP_PKEY_up_ref(key);
        } else if (jstr(fc, "publicKeyPem")) {
            key = load_public(jstr(fc, "publicKeyPem"));
        }
        ok = key && verify_sig(key, alg, j);
        EVP_PKEY_free(key);
        if (!ok)
            return refuse(r, 401, "invalid_client", 700027,
                          "Client assertion failed signature validation (issuer '%s').", iss);
        return 0;
    }
    if (!issuer_known)
        return refuse(r, 400, "invalid_request", 700211,
                      "No matching federated identity record found for presented assertion "
                      "issuer '%s'.",
                      iss);
    if (!subject_known)
        return refuse(r, 400, "invalid_request", 700213,
                      "No matching federated identity record found for presented assertion "
                      "subject '%s'.",
                      sub);
    return refuse(r, 400, "invalid_request", 700212,
                  "No matching federated identity record found for presented assertion "
                  "audience '%s'.",
                  json_is_string(aud) ? json_string_value(aud) : "?");
}

static int check_client(struct al_ctx *c, const json_t *f, const struct al_sp *sp,
                        struct refusal *r)
{
    const char *secret = jstr(f, "client_secret"), *assertion = jstr(f, "client_assertion");
    const char *cid = jstr(f, "client_id");
    struct jwt j;
    int rc;

    if (secret) {
        unsigned char h[32];
        SHA256((const unsigned char *)secret, strlen(secret), h);
        if (!sp->has_secret || CRYPTO_memcmp(h, sp->secret_hash, 32) != 0)
            return refuse(r, 401, "invalid_client", 7000215,
                          "Invalid client secret provided. Ensure the secret being sent in the "
                          "request is the client secret value, not the client secret ID, for a "
                          "secret added to app '%s'.",
                          sp->client_id);
        return 0;
    }
    if (assertion == NULL)
        return refuse(r, 401, "invalid_client", 7000218,
                      "The request body must contain the following parameter: "
                      "'client_assertion' or 'client_secret'.");
    if (jstr(f, "client_assertion_type") == NULL ||
        strcmp(jstr(f, "client_assertion_type"), JWT_BEARER) != 0)
        return refuse(r, 400, "invalid_request", 50027, "Invalid client_assertion_type.");
    if (jwt_parse(&j, assertion) < 0) {
        jwt_release(&j);
        return refuse(r, 401, "invalid_client", 50027, "Invalid JWT token in client_assertion.");
    }
    /* a certificate assertion names the client itself; anything else is federated */
    if (jstr(j.claims, "iss") && jstr(j.claims, "sub") &&
        strcasecmp(jstr(j.claims, "iss"), cid) == 0 && strcasecmp(jstr(j.claims, "sub"), cid) == 0)
        rc = check_certificate(c, sp, &j, r);
    else
        rc = check_federated(c, sp, &j, r);
    jwt_release(&j);
    return rc;
}

void al_token_handle(struct al_ctx *c, const char *tenant)
{
    json_t *f;
    const char *grant, *scope;
    struct al_sp *sp;
    struct refusal r;
    char resource[512];

    if (strcasecmp(c->req->method, "POST") != 0) {
        refuse(&r, 405, "invalid_request", 900561, "The endpoint only accepts POST requests.");
        oauth_error(c, &r);
        return;
    }
    f = form_parse(c->req->body ? c->req->body : "", c->req->body_len);
    grant = jstr(f, "grant_type");
    scope = jstr(f, "scope");
    sp = sp_find(c->al, jstr(f, "client_id"));
    if (grant == NULL || strcmp(grant, "client_credentials") != 0)
        refuse(&r, 400, "unsupported_grant_type", 70003,
               "The app requested an unsupported grant type; use client_credentials.");
    else if (scope == NULL)
        refuse(&r, 400, "invalid_request", 900144,
               "The request body must contain the following parameter: 'scope'.");
    else if (sp == NULL || !sp_in_tenant(sp, tenant))
        refuse(&r, 400, "unauthorized_client", 700016,
               "Application with identifier '%s' was not found in the directory '%s'.",
               jstr(f, "client_id") ? jstr(f, "client_id") : "", tenant);
    else if (check_client(c, f, sp, &r) == 0) {
        resource_from_scope(scope, resource, sizeof(resource));
        issue(c,
              strcasecmp(tenant, "common") == 0 || strcasecmp(tenant, "organizations") == 0
                  ? sp->tenant_id
                  : tenant,
              sp->client_id, sp->object_id, resource, SHAPE_V2);
        json_decref(f);
        return;
    }
    oauth_error(c, &r);
    json_decref(f);
}

/* --- managed identity ---------------------------------------------------------- */

static int managed_issue(struct al_ctx *c, const char *cid, const char *resource,
                         enum token_shape shape)
{
    char oid[64], res[512];
    const char *reg;
    if (resource == NULL || resource[0] == '\0') {
        al_json_reply(c, 400,
                      json_pack("{s:s, s:s}", "error", "invalid_request", "error_description",
                                "Required query variable 'resource' is missing"));
        return -1;
    }
    if (cid == NULL) {
        cid = SYSTEM_IDENTITY;
        oid_for(cid, oid);
    } else {
        char lc[64];
        al_lower(lc, cid, sizeof(lc));
        reg = json_string_value(json_object_get(lazy_object(&c->al->managed), lc));
        if (reg == NULL) {
            al_json_reply(c, 400,
                          json_pack("{s:s, s:s}", "error", "invalid_request", "error_description",
                                    "Identity not found"));
            return -1;
        }
        snprintf(oid, sizeof(oid), "%s", reg);
    }
    snprintf(res, sizeof(res), "%s", resource);
    if (strlen(res) > 1 && res[strlen(res) - 1] == '/')
        res[strlen(res) - 1] = '\0';
    issue(c, DEFAULT_TENANT, cid, oid, res, shape);
    return 0;
}

void al_imds_handle(struct al_ctx *c)
{
    const char *md = al_header(c->req, "Metadata");
    if (md == NULL || strcasecmp(md, "true") != 0) {
        al_json_reply(c, 400,
                      json_pack("{s:s, s:s}", "error", "invalid_request", "error_description",
                                "Required metadata header not specified"));
        return;
    }
    managed_issue(c, al_query(c->req, "client_id"), al_query(c->req, "resource"), SHAPE_IMDS);
}

void al_app_service_msi_handle(struct al_ctx *c)
{
    const char *h = al_header(c->req, "X-IDENTITY-HEADER");
    const char *v = al_query(c->req, "api-version");
    if (h == NULL)
        h = al_header(c->req, "x-ms-identity");
    if (c->al->identity_header[0] == '\0' || h == NULL ||
        strlen(h) != strlen(c->al->identity_header) ||
        CRYPTO_memcmp(h, c->al->identity_header, strlen(h)) != 0) {
        al_json_reply(c, 401,
                      json_pack("{s:i, s:s}", "statusCode", 401, "message",
                                "The X-IDENTITY-HEADER header is missing or does not match "
                                "IDENTITY_HEADER."));
        return;
    }
    if (v == NULL || strcmp(v, "2019-08-01") != 0) {
        al_json_reply(c, 400,
                      json_pack("{s:i, s:s}", "statusCode", 400, "message",
                                "api-version must be 2019-08-01."));
        return;
    }
    managed_issue(c, al_query(c->req, "client_id"), al_query(c->req, "resource"),
                  SHAPE_APP_SERVICE);
}

/* --- the OIDC issuer ------------------------------------------------------------- */

static void jwks(struct al_ctx *c)
{
    EVP_PKEY *key = oidc_key(c->al);
    BIGNUM *x = NULL, *y = NULL;
    unsigned char xb[32], yb[32];
    struct buf xs, ys;

    if (key == NULL || EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, &x) != 1 ||
        EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, &y) != 1 ||
        BN_bn2binpad(x, xb, 32) != 32 || BN_bn2binpad(y, yb, 32) != 32) {
        BN_free(x);
        BN_free(y);
        al_error(c, 500, "InternalServerError", "No issuer key.");
        return;
    }
    buf_init(&xs, 64);
    buf_init(&ys, 64);
    b64url(xb, 32, &xs);
    b64url(yb, 32, &ys);
    al_json_reply(c, 200,
                  json_pack("{s:[{s:s, s:s, s:s, s:s, s:s, s:s, s:s}]}", "keys", "kty", "EC", "use",
                            "sig", "alg", "ES256", "crv", "P-256", "kid", c->al->oidc_kid, "x",
                            xs.ptr, "y", ys.ptr));
    buf_release(&xs);
    buf_release(&ys);
    BN_free(x);
    BN_free(y);
}

/* The registration of the request token in Authorization, or NULL. */
static const json_t *request_token(struct al_ctx *c)
{
    const char *h = al_header(c->req, "Authorization");
    char hex[65];
    if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
        return NULL;
    sha256_hex(h + 7, hex);
    return json_object_get(lazy_object(&c->al->oidc_requests), hex);
}

void al_oidc_handle(struct al_ctx *c, const struct al_path *p)
{
    char iss[200], url[300];
    const json_t *reg;
    const char *m = c->req->method;
    char *tok;

    issuer_url(c->al, iss, sizeof(iss));
    if (p->nsegs == 3 && strcasecmp(p->segs[1], ".well-known") == 0 &&
        strcasecmp(p->segs[2], "openid-configuration") == 0) {
        snprintf(url, sizeof(url), "%s/keys", iss);
        al_json_reply(c, 200,
                      json_pack("{s:s, s:s, s:[s], s:[s], s:[s]}", "issuer", iss, "jwks_uri", url,
                                "id_token_signing_alg_values_supported", "ES256",
                                "response_types_supported", "id_token", "subject_types_supported",
                                "public"));
        return;
    }
    if (p->nsegs == 2 && strcasecmp(p->segs[1], "keys") == 0) {
        jwks(c);
        return;
    }
    /* GitHub Actions: GET ACTIONS_ID_TOKEN_REQUEST_URL&audience=... with the
     * request token as bearer; Azure DevOps: POST SYSTEM_OIDCREQUESTURI
     * ?api-version=7.1&serviceConnectionId=... with SYSTEM_ACCESSTOKEN. */
    if (p->nsegs == 3 &&
        ((strcasecmp(p->segs[1], "github") == 0 && strcasecmp(p->segs[2], "token") == 0 &&
          strcasecmp(m, "GET") == 0) ||
         (strcasecmp(p->segs[1], "ado") == 0 && strcasecmp(p->segs[2], "oidctoken") == 0 &&
          strcasecmp(m, "POST") == 0))) {
        int ado = strcasecmp(p->segs[1], "ado") == 0;
        const char *aud = ado ? EXCHANGE_AUDIENCE : al_query(c->req, "audience");
        const char *sc = al_query(c->req, "serviceConnectionId");
        reg = request_token(c);
        if (reg == NULL) {
            al_json_reply(c, 401, json_pack("{s:s}", "message", "Bad credentials"));
            return;
        }
        if (ado && (sc == NULL || jstr(reg, "serviceConnectionId") == NULL ||
                    strcasecmp(sc, jstr(reg, "serviceConnectionId")) != 0)) {
            al_json_reply(c, 400,
                          json_pack("{s:s, s:s}", "message",
                                    "The service connection does not exist or is not authorized "
                                    "for this pipeline.",
                                    "typeKey", "ServiceEndpointNotFoundException"));
            return;
        }
        tok = oidc_mint(c, jstr(reg, "subject"), aud && *aud ? aud : iss, 600);
        if (tok == NULL) {
            al_error(c, 500, "InternalServerError", "Cannot sign a token.");
            return;
        }
        al_json_reply(c, 200,
                      ado ? json_pack("{s:s}", "oidcToken", tok)
                          : json_pack("{s:i, s:s}", "count", 1, "value", tok));
        free(tok);
        return;
    }
    al_error(c, 404, "NotFound",
             "Unknown OIDC path (.well-known/openid-configuration, keys, github/token, "
             "ado/oidctoken).");
}

/* --- control: /_armlocal/{servicePrincipals, managedIdentities, oidc/...} ------- */

static json_t *control_body(struct al_ctx *c)
{
    json_t *b = c->req->body_len ? json_loadb(c->req->body, c->req->body_len, 0, NULL) : NULL;
    if (!json_is_object(b)) {
        json_decref(b);
        al_error(c, 400, "InvalidRequestContent", "The body must be a JSON object.");
        return NULL;
    }
    return b;
}

int al_identity_control(struct al_ctx *c, const char *path)
{
    struct errbuf err = ERRBUF_INIT;
    json_t *b;
    int sp = strcmp(path, "/servicePrincipals") == 0, mi = strcmp(path, "/managedIdentities") == 0;
    int mint = strcmp(path, "/oidc/tokens") == 0, req = strcmp(path, "/oidc/requestTokens") == 0;

    if (!sp && !mi && !mint && !req)
        return 0;
    if (strcasecmp(c->req->method, "POST") != 0) {
        al_error(c, 405, "MethodNotAllowed", "Use POST.");
        return 1;
    }
    if ((b = control_body(c)) == NULL)
        return 1;
    if (sp) {
        if (al_sp_register(c->al, b, &err) < 0)
            al_error(c, 400, "InvalidServicePrincipal", "%s", err.msg);
        else
            al_json_reply(c, 201, json_pack("{s:O}", "clientId", json_object_get(b, "clientId")));
    } else if (mi) {
        const char *cid = jstr(b, "clientId");
        char lc[64], oid[64];
        if (cid == NULL || strlen(cid) >= sizeof(lc)) {
            al_error(c, 400, "InvalidManagedIdentity", "A managed identity needs a clientId.");
        } else {
            al_lower(lc, cid, sizeof(lc));
            if (jstr(b, "objectId"))
                snprintf(oid, sizeof(oid), "%s", jstr(b, "objectId"));
            else
                oid_for(cid, oid);
            json_object_set_new(lazy_object(&c->al->managed), lc, json_string(oid));
            al_json_reply(c, 201, json_pack("{s:s, s:s}", "clientId", cid, "objectId", oid));
        }
    } else if (mint) {
        const char *sub = jstr(b, "subject"), *aud = jstr(b, "audience");
        json_t *life = json_object_get(b, "lifetimeS");
        char iss[200], *tok;
        if (sub == NULL || (life && (!json_is_integer(life) || json_integer_value(life) < -86400 ||
                                     json_integer_value(life) > 86400))) {
            al_error(c, 400, "InvalidOidcToken",
                     "Give {\"subject\", \"audience\"?, \"lifetimeS\"?} (lifetimeS within "
                     "-86400..86400; negative makes an expired token).");
        } else {
            issuer_url(c->al, iss, sizeof(iss));
            tok = oidc_mint(c, sub, aud ? aud : EXCHANGE_AUDIENCE,
                            life ? (long)json_integer_value(life) : 3600);
            if (tok == NULL)
                al_error(c, 500, "InternalServerError", "Cannot sign a token.");
            else
                al_json_reply(c, 201, json_pack("{s:s, s:s}", "token", tok, "issuer", iss));
            free(tok);
        }
    } else {
        const char *rt = jstr(b, "requestToken"), *sub = jstr(b, "subject");
        const char *sc = jstr(b, "serviceConnectionId");
        char hex[65];
        if (rt == NULL || sub == NULL) {
            al_error(c, 400, "InvalidRequestToken",
                     "Give {\"requestToken\", \"subject\", \"serviceConnectionId\"?}.");
        } else {
            sha256_hex(rt, hex);
            json_object_set_new(
                lazy_object(&c->al->oidc_requests), hex,
                sc ? json_pack("{s:s, s:s}", "subject", sub, "serviceConnectionId", sc)
                   : json_pack("{s:s}", "subject", sub));
            c->res->status = 201;
        }
    }
    json_decref(b);
    return 1;
}

/* --- the bearer-token check ------------------------------------------------------ */

/* Why an access token is refused, or NULL; *code is ARM's error code and
 * the token's claims go to *claims (new reference) when it is valid. */
static const char *token_problem(struct al_ctx *c, const char *tok, const char *audience,
                                 const char **code, json_t **claims)
{
    struct jwt j;
    unsigned char mac[32];
    unsigned maclen = 0;
    const char *why = NULL;

    *code = "InvalidAuthenticationToken";
    *claims = NULL;
    if (jwt_parse(&j, tok) < 0) {
        why = "The access token is invalid.";
        goto out;
    }
    HMAC(EVP_sha256(), c->al->token_key, sizeof(c->al->token_key),
         (const unsigned char *)j.signing_input, j.signing_len, mac, &maclen);
    if (j.sig.len != maclen || CRYPTO_memcmp(mac, j.sig.ptr, maclen) != 0 ||
        strcmp(jstr(j.header, "alg") ? jstr(j.header, "alg") : "", "HS256") != 0) {
        why = "The access token has an invalid signature.";
    } else if (json_integer_value(json_object_get(j.claims, "exp")) < c->now_ms / 1000) {
        why = "The access token has expired.";
        *code = "ExpiredAuthenticationToken";
    } else if (!aud_has(j.claims, audience, 0)) {
        /* ARM also accepts its classic audience and, for the local cloud,
         * the audience its metadata document names */
        char slash[512], base[200];
        snprintf(slash, sizeof(slash), "%s/", audience);
        snprintf(base, sizeof(base), "%s", c->al->base_url);
        if (!aud_has(j.claims, slash, 0) &&
            !(strstr(audience, "management") &&
              (aud_has(j.claims, "https://management.core.windows.net", 0) ||
               aud_has(j.claims, "https://management.core.windows.net/", 0) ||
               aud_has(j.claims, base, 0)))) {
            why = "The access token has an invalid audience.";
            *code = "InvalidAuthenticationTokenAudience";
        }
    }
    if (why == NULL)
        *claims = json_incref(j.claims);
out:
    jwt_release(&j);
    return why;
}

/* x-ms-authorization-auxiliary: "Bearer t1, Bearer t2" (at most 3), each a
 * valid token for ARM; the tenants are counted in the request log. */
static const char *aux_problem(struct al_ctx *c, const char *audience, const char **code)
{
    const char *h = al_header(c->req, "x-ms-authorization-auxiliary"), *p;
    json_t *tenants = json_array(), *claims, *v;
    const char *why = NULL;
    size_t i;
    char tok[8192];

    for (p = h; p && *p && why == NULL;) {
        size_t n;
        while (*p == ' ' || *p == ',')
            p++;
        if (*p == '\0')
            break;
        if (strncasecmp(p, "Bearer ", 7) != 0) {
            why = "The auxiliary token is not a bearer token.";
            break;
        }
        p += 7;
        n = strcspn(p, ",");
        snprintf(tok, sizeof(tok), "%.*s", (int)(n < sizeof(tok) ? n : sizeof(tok) - 1), p);
        p += n;
        if (json_array_size(tenants) == 3) {
            why = "At most 3 auxiliary tokens are allowed.";
        } else if ((why = token_problem(c, tok, audience, code, &claims)) == NULL) {
            json_array_append(tenants, json_object_get(claims, "tid"));
            json_decref(claims);
        }
    }
    OPENSSL_cleanse(tok, sizeof(tok));
    if (why == NULL) {
        json_array_foreach(tenants, i, v)
        {
            const char *t = json_string_value(v);
            json_t *log = al_aux_log(c->al);
            if (t)
                json_object_set_new(log, t,
                                    json_integer(json_integer_value(json_object_get(log, t)) + 1));
        }
    }
    json_decref(tenants);
    return why;
}

int al_auth_check(struct al_ctx *c, const char *audience)
{
    const char *h = al_header(c->req, "Authorization");
    const char *why, *code;
    json_t *claims = NULL;

    if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0) {
        if (!c->al->opts.auth_required)
            return 0;
        al_set_header(c->res, "WWW-Authenticate",
                      "Bearer authorization_uri=\"%s/common\", error=\"invalid_token\", "
                      "error_description=\"The authentication failed because of missing "
                      "'Authorization' header.\"",
                      c->al->base_url);
        al_error(c, 401, "AuthenticationFailed",
                 "Authentication failed. The 'Authorization' header is missing.");
        return -1;
    }
    why = token_problem(c, h + 7, audience, &code, &claims);
    if (why == NULL && jstr(claims, "oid"))
        snprintf(c->principal, sizeof(c->principal), "%s", jstr(claims, "oid"));
    json_decref(claims);
    if (why == NULL)
        why = aux_problem(c, audience, &code);
    if (why && c->al->opts.auth_required) {
        al_set_header(c->res, "WWW-Authenticate",
                      "Bearer authorization_uri=\"%s/common\", error=\"invalid_token\"",
                      c->al->base_url);
        al_error(c, 401, code, "%s", why);
        return -1;
    }
    return 0;
}

/* --- Entra ID's discovery documents ------------------------------------------- */

void al_entra_openid_configuration(struct al_ctx *c, const char *tenant)
{
    const char *b = c->al->base_url;
    json_t *doc = json_object();
    json_object_set_new(doc, "token_endpoint", json_sprintf("%s/%s/oauth2/v2.0/token", b, tenant));
    json_object_set_new(
        doc, "token_endpoint_auth_methods_supported",
        json_pack("[s,s,s]", "client_secret_post", "private_key_jwt", "client_secret_basic"));
    json_object_set_new(doc, "jwks_uri", json_sprintf("%s/%s/discovery/v2.0/keys", b, tenant));
    json_object_set_new(doc, "response_modes_supported",
                        json_pack("[s,s,s]", "query", "fragment", "form_post"));
    json_object_set_new(doc, "subject_types_supported", json_pack("[s]", "pairwise"));
    json_object_set_new(doc, "id_token_signing_alg_values_supported", json_pack("[s]", "RS256"));
    json_object_set_new(
        doc, "response_types_supported",
        json_pack("[s,s,s,s]", "code", "id_token", "code id_token", "id_token token"));
    json_object_set_new(doc, "scopes_supported",
                        json_pack("[s,s,s,s]", "openid", "profile", "email", "offline_access"));
    /* the issuer names the tenant the document was asked for, as Entra's
     * does for a tenant id ({tenantid} for common and organizations) */
    json_object_set_new(
        doc, "issuer",
        json_sprintf("%s/%s/v2.0", b,
                     strcasecmp(tenant, "common") == 0 || strcasecmp(tenant, "organizations") == 0
                         ? "{tenantid}"
                         : tenant));
    json_object_set_new(doc, "request_uri_parameter_supported", json_false());
    json_object_set_new(doc, "authorization_endpoint",
                        json_sprintf("%s/%s/oauth2/v2.0/authorize", b, tenant));
    json_object_set_new(doc, "device_authorization_endpoint",
                        json_sprintf("%s/%s/oauth2/v2.0/devicecode", b, tenant));
    json_object_set_new(doc, "end_session_endpoint",
                        json_sprintf("%s/%s/oauth2/v2.0/logout", b, tenant));
    json_object_set_new(doc, "http_logout_supported", json_true());
    json_object_set_new(doc, "frontchannel_logout_supported", json_true());
    json_object_set_new(doc, "tenant_region_scope", json_null());
    json_object_set_new(doc, "cloud_instance_name", json_string("armlocal"));
    json_object_set_new(doc, "cloud_graph_host_name", json_string("graph.windows.net"));
    json_object_set_new(doc, "msgraph_host", json_string("graph.microsoft.com"));
    al_json_reply(c, 200, doc);
}

/* GET /common/discovery/instance: the authority's aliases (MSAL's instance
 * discovery), naming armlocal's own host only. */
void al_entra_instance_discovery(struct al_ctx *c)
{
    const char *b = c->al->base_url, *host = strstr(b, "://");
    host = host ? host + 3 : b;
    al_json_reply(c, 200,
                  json_pack("{s:o, s:s, s:[{s:s, s:s, s:[s]}]}", "tenant_discovery_endpoint",
                            json_sprintf("%s/common/v2.0/.well-known/openid-configuration", b),
                            "api-version", "1.1", "metadata", "preferred_network", host,
                            "preferred_cache", host, "aliases", host));
}
