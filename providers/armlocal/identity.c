/* Identity: the Entra token endpoint (/{tenant}/oauth2/v2.0/token) for
 * client secrets, certificate assertions (RS256/PS256 with x5t#S256, x5t or
 * kid thumbprints) and federated assertions; IMDS; and the bearer-token
 * check of --auth required. Tokens are JWTs signed with HS256 by a key
 * generated at start (in memory only). Secrets are kept as SHA-256 hashes. */
#include "providers/armlocal/al_internal.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/error.h"
#include "util/banned.h"

#define TOKEN_LIFETIME_S 3600

/* --- base64url ---------------------------------------------------------------- */

static void b64url(const unsigned char *in, size_t n, struct buf *out)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        buf_addch(out, tab[(v >> 18) & 63]);
        buf_addch(out, tab[(v >> 12) & 63]);
        if (i + 1 < n)
            buf_addch(out, tab[(v >> 6) & 63]);
        if (i + 2 < n)
            buf_addch(out, tab[v & 63]);
    }
}

static int b64val(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-' || c == '+')
        return 62;
    if (c == '_' || c == '/')
        return 63;
    return -1;
}

static int b64url_decode(const char *in, size_t n, struct buf *out)
{
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v;
        if (in[i] == '=')
            break;
        v = b64val((unsigned char)in[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (buf_addch(out, (char)((acc >> bits) & 0xff)) < 0)
                return -1;
        }
    }
    return 0;
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

static char *jwt_sign_hs256(struct armlocal *al, json_t *claims)
{
    struct buf out;
    static const char h[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    char *p = json_dumps(claims, JSON_COMPACT);
    unsigned char mac[32];
    unsigned maclen = 0;

    buf_init(&out, 65536);
    if (p) {
        b64url((const unsigned char *)h, strlen(h), &out);
        buf_addch(&out, '.');
        b64url((const unsigned char *)p, strlen(p), &out);
        HMAC(EVP_sha256(), al->token_key, sizeof(al->token_key), (unsigned char *)out.ptr, out.len,
             mac, &maclen);
        buf_addch(&out, '.');
        b64url(mac, maclen, &out);
    }
    free(p);
    return buf_detach(&out, NULL);
}

static const char *jstr(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
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

int al_sp_register(struct armlocal *al, const json_t *spec, struct errbuf *err)
{
    const char *cid = jstr(spec, "clientId"), *secret = jstr(spec, "secret");
    json_t *certs = json_object_get(spec, "certificates");
    json_t *fed = json_object_get(spec, "federatedCredentials");
    struct al_sp *sp;
    size_t i;
    json_t *v;

    if (cid == NULL || strlen(cid) >= sizeof(sp->client_id))
        return errbuf_set(err, AMLSEC_EUSAGE, "a service principal needs a clientId");
    json_array_foreach(certs, i, v)
    {
        BIO *bio = json_is_string(v) ? BIO_new_mem_buf(json_string_value(v), -1) : NULL;
        X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
        BIO_free(bio);
        if (x == NULL)
            return errbuf_set(err, AMLSEC_EPARSE,
                              "certificate %zu of '%s' is not a PEM "
                              "certificate",
                              i, cid);
        X509_free(x);
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
    }
    snprintf(sp->client_id, sizeof(sp->client_id), "%s", cid);
    snprintf(sp->tenant_id, sizeof(sp->tenant_id), "%s",
             jstr(spec, "tenantId") ? jstr(spec, "tenantId")
                                    : "72f988bf-86f1-41af-91ab-2d7cd011db47");
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
    return 0;
}

void al_identity_free(struct armlocal *al)
{
    for (size_t i = 0; i < al->nsps; i++) {
        json_decref(al->sps[i].certs);
        json_decref(al->sps[i].federated);
        OPENSSL_cleanse(al->sps[i].secret_hash, sizeof(al->sps[i].secret_hash));
    }
    free(al->sps);
    OPENSSL_cleanse(al->token_key, sizeof(al->token_key));
}

/* --- signature checks ------------------------------------------------------- */

static int verify_sig(EVP_PKEY *key, const char *alg, const struct jwt *j)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    int ok = 0, pss = strcmp(alg, "PS256") == 0;

    if (md == NULL)
        return 0;
    if (!pss && strcmp(alg, "RS256") != 0)
        goto out;
    if (EVP_DigestVerifyInit(md, &pctx, EVP_sha256(), NULL, key) != 1)
        goto out;
    if (pss && (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
                EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_AUTO) != 1))
        goto out;
    ok = EVP_DigestVerify(md, (const unsigned char *)j->sig.ptr, j->sig.len,
                          (const unsigned char *)j->signing_input, j->signing_len) == 1;
out:
    EVP_MD_CTX_free(md);
    return ok;
}

/* Finds the registered certificate the header names and verifies. */
static int verify_with_certs(const struct al_sp *sp, const struct jwt *j)
{
    const char *alg = jstr(j->header, "alg");
    const char *x5t256 = jstr(j->header, "x5t#S256"), *x5t = jstr(j->header, "x5t");
    const char *kid = jstr(j->header, "kid");
    size_t i;
    json_t *pem;

    if (alg == NULL)
        return 0;
    json_array_foreach(sp->certs, i, pem)
    {
        BIO *bio = BIO_new_mem_buf(json_string_value(pem), -1);
        X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
        unsigned char s256[32], s1[20];
        unsigned n256 = 0, n1 = 0;
        struct buf t256, t1;
        char hex1[41];
        int match, ok = 0;

        BIO_free(bio);
        if (x == NULL)
            continue;
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
        if (match) {
            EVP_PKEY *key = X509_get0_pubkey(x);
            ok = key && verify_sig(key, alg, j);
        }
        buf_release(&t256);
        buf_release(&t1);
        X509_free(x);
        if (ok)
            return 1;
    }
    return 0;
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

static int times_ok(const json_t *claims, int64_t now_s)
{
    json_int_t exp = json_integer_value(json_object_get(claims, "exp"));
    json_int_t nbf = json_integer_value(json_object_get(claims, "nbf"));
    if (exp == 0 || exp < now_s)
        return 0;
    if (nbf && nbf > now_s + 300)
        return 0;
    return 1;
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

static void oauth_error(struct al_ctx *c, int status, const char *error, int code, const char *desc)
{
    char d[512];
    snprintf(d, sizeof(d), "AADSTS%d: %s", code, desc);
    al_json_reply(c, status,
                  json_pack("{s:s, s:s, s:[i]}", "error", error, "error_description", d,
                            "error_codes", code));
}

static void issue(struct al_ctx *c, const char *tenant, const char *client_id, const char *oid,
                  const char *resource, int v1_strings)
{
    int64_t now = c->now_ms / 1000;
    char iss[256];
    json_t *claims;
    char *tok;
    snprintf(iss, sizeof(iss), "https://sts.windows.net/%s/", tenant);
    claims = json_pack("{s:s, s:s, s:I, s:I, s:I, s:s, s:s, s:s, s:s, s:s, s:s}", "aud", resource,
                       "iss", iss, "iat", (json_int_t)now, "nbf", (json_int_t)now, "exp",
                       (json_int_t)(now + TOKEN_LIFETIME_S), "appid", client_id, "oid", oid, "sub",
                       oid, "tid", tenant, "idtyp", "app", "ver", "1.0");
    tok = jwt_sign_hs256(c->al, claims);
    json_decref(claims);
    if (v1_strings) {
        char ei[32], eo[32], nb[32];
        snprintf(ei, sizeof(ei), "%d", TOKEN_LIFETIME_S);
        snprintf(eo, sizeof(eo), "%lld", (long long)(now + TOKEN_LIFETIME_S));
        snprintf(nb, sizeof(nb), "%lld", (long long)now);
        al_json_reply(c, 200,
                      json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "access_token", tok,
                                "client_id", client_id, "expires_in", ei, "expires_on", eo,
                                "ext_expires_in", ei, "not_before", nb, "resource", resource,
                                "token_type", "Bearer"));
    } else {
        al_json_reply(c, 200,
                      json_pack("{s:s, s:i, s:i, s:I, s:s}", "token_type", "Bearer", "expires_in",
                                TOKEN_LIFETIME_S, "ext_expires_in", TOKEN_LIFETIME_S, "expires_on",
                                (json_int_t)(now + TOKEN_LIFETIME_S), "access_token", tok));
    }
    if (tok)
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

void al_token_handle(struct al_ctx *c, const char *tenant)
{
    json_t *f;
    const char *grant, *cid, *scope, *secret, *assertion;
    struct al_sp *sp;
    char resource[512];

    if (strcasecmp(c->req->method, "POST") != 0) {
        oauth_error(c, 405, "invalid_request", 900561, "The endpoint only accepts POST requests.");
        return;
    }
    f = form_parse(c->req->body ? c->req->body : "", c->req->body_len);
    grant = jstr(f, "grant_type");
    cid = jstr(f, "client_id");
    scope = jstr(f, "scope");
    secret = jstr(f, "client_secret");
    assertion = jstr(f, "client_assertion");
    if (grant == NULL || strcmp(grant, "client_credentials") != 0) {
        oauth_error(c, 400, "unsupported_grant_type", 70003,
                    "The app requested an unsupported grant type; use client_credentials.");
        goto out;
    }
    if (scope == NULL) {
        oauth_error(c, 400, "invalid_request", 900144,
                    "The request body must contain the following parameter: 'scope'.");
        goto out;
    }
    sp = sp_find(c->al, cid);
    if (sp == NULL) {
        oauth_error(c, 400, "unauthorized_client", 700016,
                    "Application was not found in the directory.");
        goto out;
    }
    resource_from_scope(scope, resource, sizeof(resource));
    if (secret) {
        unsigned char h[32];
        SHA256((const unsigned char *)secret, strlen(secret), h);
        if (!sp->has_secret || CRYPTO_memcmp(h, sp->secret_hash, 32) != 0) {
            oauth_error(c, 401, "invalid_client", 7000215, "Invalid client secret provided.");
            goto out;
        }
    } else if (assertion) {
        struct jwt j;
        const char *at = jstr(f, "client_assertion_type");
        int ok = 0, federated = 0;
        if (at == NULL ||
            strcmp(at, "urn:ietf:params:oauth:client-assertion-type:jwt-bearer") != 0) {
            oauth_error(c, 400, "invalid_request", 50027, "Invalid client_assertion_type.");
            goto out;
        }
        if (jwt_parse(&j, assertion) < 0) {
            jwt_release(&j);
            oauth_error(c, 401, "invalid_client", 50027, "Invalid JWT token in client_assertion.");
            goto out;
        }
        if (times_ok(j.claims, c->now_ms / 1000)) {
            size_t i;
            json_t *fc;
            const char *iss = jstr(j.claims, "iss"), *sub = jstr(j.claims, "sub");
            /* a certificate assertion: iss = sub = client id, aud = the token endpoint */
            if (iss && sub && strcasecmp(iss, cid) == 0 && strcasecmp(sub, cid) == 0 &&
                aud_has(j.claims, "/oauth2/v2.0/token", 1))
                ok = verify_with_certs(sp, &j);
            /* a federated assertion from a registered issuer */
            json_array_foreach(sp->federated, i, fc)
            {
                EVP_PKEY *key;
                const char *aud =
                    jstr(fc, "audience") ? jstr(fc, "audience") : "api://AzureADTokenExchange";
                if (ok || iss == NULL || sub == NULL || jstr(fc, "issuer") == NULL ||
                    strcmp(iss, jstr(fc, "issuer")) != 0 || jstr(fc, "subject") == NULL ||
                    strcmp(sub, jstr(fc, "subject")) != 0 || !aud_has(j.claims, aud, 0))
                    continue;
                key = jstr(fc, "publicKeyPem") ? load_public(jstr(fc, "publicKeyPem")) : NULL;
                if (key && jstr(j.header, "alg"))
                    ok = verify_sig(key, jstr(j.header, "alg"), &j);
                federated = ok;
                EVP_PKEY_free(key);
            }
        }
        jwt_release(&j);
        if (!ok) {
            oauth_error(c, 401, "invalid_client", 700027,
                        "Client assertion failed signature validation, or it expired, or its "
                        "certificate or federated credential is not registered.");
            goto out;
        }
        (void)federated;
    } else {
        oauth_error(c, 401, "invalid_client", 7000218,
                    "The request body must contain the following parameter: 'client_assertion' "
                    "or 'client_secret'.");
        goto out;
    }
    issue(c,
          strcmp(tenant, "common") == 0 || strcmp(tenant, "organizations") == 0 ? sp->tenant_id
                                                                                : tenant,
          sp->client_id, sp->object_id, resource, 0);
out:
    json_decref(f);
}

void al_imds_handle(struct al_ctx *c)
{
    const char *md = al_header(c->req, "Metadata");
    const char *resource = al_query(c->req, "resource");
    const char *cid = al_query(c->req, "client_id");
    char oid[37], res[512];

    if (md == NULL || strcasecmp(md, "true") != 0) {
        al_json_reply(c, 400,
                      json_pack("{s:s, s:s}", "error", "invalid_request", "error_description",
                                "Required metadata header not specified"));
        return;
    }
    if (resource == NULL || resource[0] == '\0') {
        al_json_reply(c, 400,
                      json_pack("{s:s, s:s}", "error", "invalid_request", "error_description",
                                "Required query variable 'resource' is missing"));
        return;
    }
    if (cid == NULL)
        cid = "00000000-0000-0000-0000-00000000a11d";
    oid_for(cid, oid);
    snprintf(res, sizeof(res), "%s", resource);
    if (strlen(res) > 1 && res[strlen(res) - 1] == '/')
        res[strlen(res) - 1] = '\0';
    issue(c, "72f988bf-86f1-41af-91ab-2d7cd011db47", cid, oid, res, 1);
}

int al_auth_check(struct al_ctx *c, const char *audience)
{
    const char *h = al_header(c->req, "Authorization");
    struct jwt j;
    unsigned char mac[32];
    unsigned maclen = 0;
    const char *why = NULL, *code = "InvalidAuthenticationToken";

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
    if (jwt_parse(&j, h + 7) < 0) {
        why = "The access token is invalid.";
    } else {
        HMAC(EVP_sha256(), c->al->token_key, sizeof(c->al->token_key),
             (const unsigned char *)j.signing_input, j.signing_len, mac, &maclen);
        if (j.sig.len != maclen || CRYPTO_memcmp(mac, j.sig.ptr, maclen) != 0 ||
            strcmp(jstr(j.header, "alg") ? jstr(j.header, "alg") : "", "HS256") != 0) {
            why = "The access token has an invalid signature.";
        } else if (json_integer_value(json_object_get(j.claims, "exp")) < c->now_ms / 1000) {
            why = "The access token has expired.";
            code = "ExpiredAuthenticationToken";
        } else if (!aud_has(j.claims, audience, 0)) {
            /* ARM also accepts its classic audience and, for the local
             * cloud, the audience its metadata document names */
            char slash[512], base[200];
            snprintf(slash, sizeof(slash), "%s/", audience);
            snprintf(base, sizeof(base), "%s", c->al->base_url);
            if (!aud_has(j.claims, slash, 0) &&
                !(strstr(audience, "management") &&
                  (aud_has(j.claims, "https://management.core.windows.net", 0) ||
                   aud_has(j.claims, "https://management.core.windows.net/", 0) ||
                   aud_has(j.claims, base, 0)))) {
                why = "The access token has an invalid audience.";
                code = "InvalidAuthenticationTokenAudience";
            }
        }
        if (why == NULL && jstr(j.claims, "oid"))
            snprintf(c->principal, sizeof(c->principal), "%s", jstr(j.claims, "oid"));
    }
    jwt_release(&j);
    if (why && c->al->opts.auth_required) {
        al_set_header(c->res, "WWW-Authenticate",
                      "Bearer authorization_uri=\"%s/common\", error=\"invalid_token\"",
                      c->al->base_url);
        al_error(c, 401, code, "%s", why);
        return -1;
    }
    return 0;
}
