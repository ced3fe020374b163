#include "providers/arm/jwt.h"
#include "providers/arm/uuid.h"
#include "util/error.h"
#include "util/fileio.h"
#include "util/jsonw.h"

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

struct jwt_signer {
    EVP_PKEY *key;
    X509 *cert;
    int ec;            /* a P-256 key: ES256 */
    char x5t[64];      /* base64url SHA-1 thumbprint */
    char x5t_s256[64]; /* base64url SHA-256 thumbprint */
};

/* Drains OpenSSL's error queue into the message (STYLE rule 21). */
static int ossl_fail(struct errbuf *err, int code, const char *what)
{
    char detail[256] = "";
    unsigned long e;
    while ((e = ERR_get_error()) != 0)
        ERR_error_string_n(e, detail, sizeof(detail));
    if (detail[0])
        return errbuf_set(err, code, "%s: %s", what, detail);
    return errbuf_set(err, code, "%s", what);
}

static int thumbprint(char *dst, size_t size, X509 *cert, const EVP_MD *md)
{
    unsigned char *der = NULL, digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    int n = i2d_X509(cert, &der);
    struct buf b;
    int rc = AMLSEC_ERROR;

    if (n <= 0)
        return AMLSEC_ERROR;
    if (EVP_Digest(der, (size_t)n, digest, &dlen, md, NULL) != 1)
        goto out;
    buf_init(&b, size - 1);
    if (base64url_encode(&b, digest, dlen) == 0) {
        memcpy(dst, b.ptr, b.len + 1);
        rc = 0;
    }
    buf_release(&b);
out:
    OPENSSL_free(der);
    return rc;
}

void jwt_signer_free(struct jwt_signer *s)
{
    if (s == NULL)
        return;
    EVP_PKEY_free(s->key);
    X509_free(s->cert);
    free(s);
}

int jwt_signer_load(struct jwt_signer **out, const void *data, size_t len, const char *password,
                    const char *name, struct errbuf *err)
{
    struct jwt_signer *s = calloc(1, sizeof(*s));
    BIO *bio = NULL;
    int rc = AMLSEC_ERROR;

    *out = NULL;
    if (s == NULL)
        return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    if (len > INT32_MAX) {
        rc = errbuf_set(err, AMLSEC_EUSAGE, "certificate '%s' is too large", name);
        goto out;
    }
    ERR_clear_error();
    if (memmem(data, len, "-----BEGIN", 10) != NULL) {
        /* PEM: the certificate and the key may come in any order. */
        bio = BIO_new_mem_buf(data, (int)len);
        if (bio == NULL || (s->cert = PEM_read_bio_X509(bio, NULL, NULL, NULL)) == NULL) {
            rc = ossl_fail(err, AMLSEC_EPARSE, "no certificate in PEM file");
            goto out;
        }
        BIO_free(bio);
        bio = BIO_new_mem_buf(data, (int)len);
        if (bio == NULL || (s->key = PEM_read_bio_PrivateKey(
                                bio, NULL, NULL, (void *)(password ? password : ""))) == NULL) {
            rc = ossl_fail(err, AMLSEC_EPARSE,
                           "no readable private key in PEM file (wrong password?)");
            goto out;
        }
    } else {
        PKCS12 *p12;
        const unsigned char *p = data;
        p12 = d2i_PKCS12(NULL, &p, (long)len);
        if (p12 == NULL) {
            rc = ossl_fail(err, AMLSEC_EPARSE, "neither PEM nor PKCS#12");
            goto out;
        }
        if (PKCS12_parse(p12, password ? password : "", &s->key, &s->cert, NULL) != 1) {
            PKCS12_free(p12);
            rc = ossl_fail(err, AMLSEC_ECORRUPT, "cannot open PKCS#12 (wrong password?)");
            goto out;
        }
        PKCS12_free(p12);
        if (s->key == NULL || s->cert == NULL) {
            rc = errbuf_set(err, AMLSEC_EPARSE, "PKCS#12 without a certificate and key");
            goto out;
        }
    }
    if (EVP_PKEY_get_base_id(s->key) == EVP_PKEY_EC) {
        char curve[64] = "";
        size_t cl = 0;
        if (EVP_PKEY_get_utf8_string_param(s->key, OSSL_PKEY_PARAM_GROUP_NAME, curve, sizeof(curve),
                                           &cl) != 1 ||
            (strcmp(curve, "prime256v1") != 0 && strcmp(curve, "P-256") != 0)) {
            rc = errbuf_set(err, AMLSEC_EUSAGE,
                            "the certificate's EC key is on curve '%s'; ES256 needs P-256",
                            curve[0] ? curve : "?");
            goto out;
        }
        s->ec = 1;
    } else if (EVP_PKEY_get_base_id(s->key) != EVP_PKEY_RSA) {
        rc = errbuf_set(err, AMLSEC_EUSAGE, "the certificate's key is neither RSA nor EC P-256");
        goto out;
    }
    if (X509_check_private_key(s->cert, s->key) != 1) {
        rc = ossl_fail(err, AMLSEC_EUSAGE, "the private key does not match the certificate");
        goto out;
    }
    if (thumbprint(s->x5t, sizeof(s->x5t), s->cert, EVP_sha1()) < 0 ||
        thumbprint(s->x5t_s256, sizeof(s->x5t_s256), s->cert, EVP_sha256()) < 0) {
        rc = ossl_fail(err, AMLSEC_ERROR, "cannot compute the certificate thumbprint");
        goto out;
    }
    *out = s;
    s = NULL;
    rc = 0;
out:
    BIO_free(bio);
    jwt_signer_free(s);
    if (rc < 0)
        errbuf_prefix(err, "certificate '%s'", name);
    return rc;
}

int jwt_signer_load_file(struct jwt_signer **out, const char *path, const char *password,
                         struct errbuf *err)
{
    struct buf b;
    int rc;
    buf_init(&b, 0);
    *out = NULL;
    rc = file_read_all(&b, path, (size_t)1 << 20, err);
    if (rc == 0)
        rc = jwt_signer_load(out, b.ptr, b.len, password, path, err);
    OPENSSL_cleanse(b.ptr, b.len);
    buf_release(&b);
    return rc;
}

static int add_json_b64(struct buf *out, json_t *obj)
{
    char *s = jsonw_dumps(obj, JSON_COMPACT);
    int rc;
    if (s == NULL)
        return AMLSEC_ENOMEM;
    rc = base64url_encode(out, s, strlen(s));
    free(s);
    return rc;
}

/* ECDSA gives DER; a JWS ES256 signature is r||s, 32 bytes each. */
static int ecdsa_raw(unsigned char **sig, size_t *siglen)
{
    const unsigned char *p = *sig;
    ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)*siglen);
    const BIGNUM *r, *sv;
    unsigned char *raw;
    if (es == NULL)
        return -1;
    ECDSA_SIG_get0(es, &r, &sv);
    raw = malloc(64);
    if (raw == NULL || BN_bn2binpad(r, raw, 32) != 32 || BN_bn2binpad(sv, raw + 32, 32) != 32) {
        free(raw);
        ECDSA_SIG_free(es);
        return -1;
    }
    ECDSA_SIG_free(es);
    free(*sig);
    *sig = raw;
    *siglen = 64;
    return 0;
}

const char *jwt_signer_alg(const struct jwt_signer *s, enum jwt_alg alg)
{
    return s->ec ? "ES256" : alg == JWT_PS256 ? "PS256" : "RS256";
}

int jwt_client_assertion(char **out, const struct jwt_signer *s, enum jwt_alg alg,
                         const char *client_id, const char *audience, int64_t now,
                         struct errbuf *err)
{
    json_t *hdr = NULL, *claims = NULL;
    struct buf b;
    EVP_MD_CTX *md = NULL;
    EVP_PKEY_CTX *pctx = NULL;
    unsigned char *sig = NULL;
    size_t siglen = 0;
    char jti[UUID_STR_LEN];
    int rc = AMLSEC_ERROR;

    *out = NULL;
    buf_init(&b, 0);
    if (uuid_v4(jti) < 0)
        return errbuf_set(err, AMLSEC_ERROR, "no randomness for a JWT id");
    hdr = json_pack("{s:s, s:s, s:s}", "alg", jwt_signer_alg(s, alg), "typ", "JWT",
                    alg == JWT_PS256 ? "x5t#S256" : "x5t", alg == JWT_PS256 ? s->x5t_s256 : s->x5t);
    claims = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I}", "aud", audience, "iss", client_id,
                       "sub", client_id, "jti", jti, "nbf", (json_int_t)now, "iat", (json_int_t)now,
                       "exp", (json_int_t)(now + 600));
    if (hdr == NULL || claims == NULL) {
        rc = errbuf_set(err, AMLSEC_ENOMEM, "out of memory building a JWT");
        goto out;
    }
    if (add_json_b64(&b, hdr) < 0 || buf_addch(&b, '.') < 0 || add_json_b64(&b, claims) < 0) {
        rc = errbuf_set(err, AMLSEC_ENOMEM, "out of memory building a JWT");
        goto out;
    }
    ERR_clear_error();
    md = EVP_MD_CTX_new();
    if (md == NULL || EVP_DigestSignInit(md, &pctx, EVP_sha256(), NULL, s->key) != 1) {
        rc = ossl_fail(err, AMLSEC_ERROR, "cannot sign the client assertion");
        goto out;
    }
    if (!s->ec && alg == JWT_PS256 &&
        (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
         EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1)) {
        rc = ossl_fail(err, AMLSEC_ERROR, "cannot select PSS padding");
        goto out;
    }
    if (!s->ec && alg == JWT_RS256 && EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1) {
        rc = ossl_fail(err, AMLSEC_ERROR, "cannot select PKCS#1 padding");
        goto out;
    }
    if (EVP_DigestSign(md, NULL, &siglen, (const unsigned char *)b.ptr, b.len) != 1 ||
        (sig = malloc(siglen)) == NULL ||
        EVP_DigestSign(md, sig, &siglen, (const unsigned char *)b.ptr, b.len) != 1) {
        rc = ossl_fail(err, AMLSEC_ERROR, "cannot sign the client assertion");
        goto out;
    }
    if (s->ec && ecdsa_raw(&sig, &siglen) < 0) {
        rc = errbuf_set(err, AMLSEC_ERROR, "cannot encode the ES256 signature");
        goto out;
    }
    if (buf_addch(&b, '.') < 0 || base64url_encode(&b, sig, siglen) < 0) {
        rc = errbuf_set(err, AMLSEC_ENOMEM, "out of memory building a JWT");
        goto out;
    }
    *out = buf_detach(&b, NULL);
    rc = 0;
out:
    free(sig);
    EVP_MD_CTX_free(md);
    json_decref(hdr);
    json_decref(claims);
    buf_release(&b);
    return rc;
}
