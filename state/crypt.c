#include "state/crypt.h"

#include <ctype.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/fileio.h"
#include "util/banned.h"

static const unsigned char magic[8] = {'A', 'M', 'L', 'S', 'E', 'C', 'X', 0};

enum { KDF_RAW = 0, KDF_PBKDF2_SHA512 = 1 };

static int ossl_error(struct errbuf *err, const char *what)
{
    unsigned long e = ERR_get_error();
    char detail[256] = "no detail";
    if (e != 0)
        ERR_error_string_n(e, detail, sizeof(detail));
    ERR_clear_error();
    return errbuf_set(err, AMLSEC_ERROR, "%s: %s", what, detail);
}

static void key_wipe(struct crypt_key *key)
{
    if (key->passphrase) {
        OPENSSL_cleanse(key->passphrase, key->passphrase_len);
        free(key->passphrase);
    }
    OPENSSL_cleanse(key, sizeof(*key));
    key->passphrase = NULL;
    key->kind = CRYPT_KEY_NONE;
}

void crypt_keys_init(struct crypt_keys *keys)
{
    memset(keys, 0, sizeof(*keys));
}

void crypt_keys_release(struct crypt_keys *keys)
{
    key_wipe(&keys->primary);
    key_wipe(&keys->fallback);
}

int crypt_key_set_passphrase(struct crypt_key *key, const char *passphrase, struct errbuf *err)
{
    size_t n = strlen(passphrase);
    if (n == 0)
        return errbuf_set(err, AMLSEC_EUSAGE, "the state passphrase is empty");
    key_wipe(key);
    key->passphrase = malloc(n + 1);
    if (key->passphrase == NULL)
        return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    memcpy(key->passphrase, passphrase, n + 1);
    key->passphrase_len = n;
    key->kind = CRYPT_KEY_PASSPHRASE;
    return 0;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int b64val(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Decodes base64 (padding optional) into out; returns the byte count or -1. */
static long b64_decode(unsigned char *out, size_t outsz, const char *s, size_t n)
{
    unsigned long acc = 0;
    int bits = 0;
    size_t o = 0;
    while (n > 0 && s[n - 1] == '=')
        n--;
    for (size_t i = 0; i < n; i++) {
        int v = b64val((unsigned char)s[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (unsigned long)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o >= outsz)
                return -1;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    return (long)o;
}

int crypt_key_set_text(struct crypt_key *key, const char *text, const char *what,
                       struct errbuf *err)
{
    unsigned char raw[CRYPT_KEY_LEN + 4];
    const char *s = text, *e;
    size_t n;
    int ok = 0;

    while (isspace((unsigned char)*s))
        s++;
    e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        e--;
    n = (size_t)(e - s);
    if (n == 2 * CRYPT_KEY_LEN) {
        ok = 1;
        for (size_t i = 0; i < CRYPT_KEY_LEN && ok; i++) {
            int hi = hexval((unsigned char)s[2 * i]), lo = hexval((unsigned char)s[2 * i + 1]);
            if (hi < 0 || lo < 0)
                ok = 0;
            else
                raw[i] = (unsigned char)(hi << 4 | lo);
        }
    }
    if (!ok && b64_decode(raw, sizeof(raw), s, n) == CRYPT_KEY_LEN)
        ok = 1;
    if (!ok) {
        OPENSSL_cleanse(raw, sizeof(raw));
        return errbuf_set(err, AMLSEC_EUSAGE,
                          "%s is not a 256-bit key (64 hex digits or base64 of 32 bytes)", what);
    }
    key_wipe(key);
    memcpy(key->raw, raw, CRYPT_KEY_LEN);
    key->kind = CRYPT_KEY_RAW;
    OPENSSL_cleanse(raw, sizeof(raw));
    return 0;
}

int crypt_key_load_file(struct crypt_key *key, const char *path, struct errbuf *err)
{
    struct buf b;
    char what[512];
    int rc;

    buf_init(&b, 4096);
    rc = file_read_all(&b, path, 4096, err);
    if (rc < 0)
        goto out;
    if (b.len == CRYPT_KEY_LEN) {
        key_wipe(key);
        memcpy(key->raw, b.ptr, CRYPT_KEY_LEN);
        key->kind = CRYPT_KEY_RAW;
        goto out;
    }
    snprintf(what, sizeof(what), "key file '%s'", path);
    rc = crypt_key_set_text(key, b.ptr, what, err);
out:
    OPENSSL_cleanse(b.ptr, b.len);
    buf_release(&b);
    return rc;
}

int crypt_keys_enabled(const struct crypt_keys *keys)
{
    return keys != NULL && keys->primary.kind != CRYPT_KEY_NONE;
}

int crypt_is_sealed(const void *data, size_t len)
{
    return len >= sizeof(magic) && memcmp(data, magic, sizeof(magic)) == 0;
}

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static uint32_t get_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The AES key for key under (salt, iterations); cached for passphrases. */
static int key_material(const unsigned char **out, struct crypt_key *key, const unsigned char *salt,
                        uint32_t iterations, struct errbuf *err)
{
    if (key->kind == CRYPT_KEY_RAW) {
        *out = key->raw;
        return 0;
    }
    if (!key->derived_ok || key->derived_iterations != iterations ||
        memcmp(key->derived_salt, salt, CRYPT_SALT_LEN) != 0) {
        if (PKCS5_PBKDF2_HMAC(key->passphrase, (int)key->passphrase_len, salt, CRYPT_SALT_LEN,
                              (int)iterations, EVP_sha512(), CRYPT_KEY_LEN, key->derived) != 1)
            return ossl_error(err, "cannot derive the key from the passphrase");
        memcpy(key->derived_salt, salt, CRYPT_SALT_LEN);
        key->derived_iterations = iterations;
        key->derived_ok = 1;
    }
    *out = key->derived;
    return 0;
}

int crypt_seal(struct buf *out, struct crypt_keys *keys, const void *plain, size_t len,
               struct errbuf *err)
{
    struct crypt_key *key = &keys->primary;
    unsigned char hdr[CRYPT_HEADER_LEN], tag[CRYPT_TAG_LEN];
    const unsigned char *aes;
    EVP_CIPHER_CTX *ctx = NULL;
    size_t start = out->len;
    int n = 0, rc;

    if (key->kind == CRYPT_KEY_NONE)
        return errbuf_set(err, AMLSEC_EUSAGE, "no encryption key configured");
    if (len > (size_t)1 << 30)
        return errbuf_set(err, AMLSEC_EUSAGE, "data too large to seal");
    memset(hdr, 0, sizeof(hdr));
    memcpy(hdr, magic, sizeof(magic));
    hdr[8] = 1;
    if (key->kind == CRYPT_KEY_PASSPHRASE) {
        hdr[9] = KDF_PBKDF2_SHA512;
        if (key->derived_ok && key->derived_iterations >= CRYPT_PBKDF2_ITERATIONS) {
            put_be32(hdr + 12, key->derived_iterations);
            memcpy(hdr + 16, key->derived_salt, CRYPT_SALT_LEN);
        } else {
            put_be32(hdr + 12, CRYPT_PBKDF2_ITERATIONS);
            if (RAND_bytes(hdr + 16, CRYPT_SALT_LEN) != 1)
                return ossl_error(err, "cannot get random bytes");
        }
    }
    if (RAND_bytes(hdr + 32, CRYPT_NONCE_LEN) != 1)
        return ossl_error(err, "cannot get random bytes");
    if ((rc = key_material(&aes, key, hdr + 16, get_be32(hdr + 12), err)) < 0)
        return rc;
    if (buf_grow(out, CRYPT_HEADER_LEN + len + CRYPT_TAG_LEN) < 0)
        return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    rc = AMLSEC_ERROR;
    ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL || EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, CRYPT_NONCE_LEN, NULL) != 1 ||
        EVP_EncryptInit_ex(ctx, NULL, NULL, aes, hdr + 32) != 1 ||
        EVP_EncryptUpdate(ctx, NULL, &n, hdr, CRYPT_HEADER_LEN) != 1) {
        ossl_error(err, "cannot start aes-256-gcm");
        goto out;
    }
    buf_add(out, hdr, CRYPT_HEADER_LEN);
    if (len > 0 &&
        EVP_EncryptUpdate(ctx, (unsigned char *)out->ptr + out->len, &n, plain, (int)len) != 1) {
        ossl_error(err, "cannot encrypt");
        goto out;
    }
    out->len += (size_t)n;
    if (EVP_EncryptFinal_ex(ctx, (unsigned char *)out->ptr + out->len, &n) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, CRYPT_TAG_LEN, tag) != 1) {
        ossl_error(err, "cannot finish aes-256-gcm");
        goto out;
    }
    out->len += (size_t)n;
    buf_add(out, tag, CRYPT_TAG_LEN);
    rc = 0;
out:
    if (rc < 0) {
        out->len = start;
        out->ptr[start] = '\0';
    }
    EVP_CIPHER_CTX_free(ctx);
    return rc;
}

/* 0 and plaintext appended, or AMLSEC_ECORRUPT when the tag does not verify. */
static int open_with(struct buf *out, struct crypt_key *key, const unsigned char *in, size_t len,
                     struct errbuf *err)
{
    const unsigned char *aes, *ct = in + CRYPT_HEADER_LEN;
    size_t ctlen = len - CRYPT_HEADER_LEN - CRYPT_TAG_LEN, start = out->len;
    unsigned char tag[CRYPT_TAG_LEN];
    EVP_CIPHER_CTX *ctx = NULL;
    int n = 0, rc;

    if ((rc = key_material(&aes, key, in + 16, get_be32(in + 12), err)) < 0)
        return rc;
    if (buf_grow(out, ctlen + 16) < 0)
        return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    memcpy(tag, in + len - CRYPT_TAG_LEN, CRYPT_TAG_LEN);
    rc = AMLSEC_ERROR;
    ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL || EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, CRYPT_NONCE_LEN, NULL) != 1 ||
        EVP_DecryptInit_ex(ctx, NULL, NULL, aes, in + 32) != 1 ||
        EVP_DecryptUpdate(ctx, NULL, &n, in, CRYPT_HEADER_LEN) != 1) {
        ossl_error(err, "cannot start aes-256-gcm");
        goto out;
    }
    if (ctlen > 0 &&
        EVP_DecryptUpdate(ctx, (unsigned char *)out->ptr + out->len, &n, ct, (int)ctlen) != 1) {
        ossl_error(err, "cannot decrypt");
        goto out;
    }
    out->len += (size_t)n;
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, CRYPT_TAG_LEN, tag) != 1) {
        ossl_error(err, "cannot set the gcm tag");
        goto out;
    }
    if (EVP_DecryptFinal_ex(ctx, (unsigned char *)out->ptr + out->len, &n) != 1) {
        ERR_clear_error();
        rc = AMLSEC_ECORRUPT;
        goto out;
    }
    out->len += (size_t)n;
    out->ptr[out->len] = '\0';
    rc = 0;
out:
    if (rc < 0) {
        OPENSSL_cleanse(out->ptr + start, out->len - start);
        out->len = start;
        out->ptr[start] = '\0';
    }
    EVP_CIPHER_CTX_free(ctx);
    return rc;
}

int crypt_open(struct buf *out, struct crypt_keys *keys, const void *sealed, size_t len,
               const char *what, int *used_fallback, struct errbuf *err)
{
    const unsigned char *in = sealed;
    struct crypt_key *order[2];
    enum crypt_key_kind want;
    uint32_t iters;
    int tried = 0, rc;

    if (used_fallback)
        *used_fallback = 0;
    if (!crypt_is_sealed(sealed, len))
        return errbuf_set(err, AMLSEC_ECORRUPT, "'%s' is not encrypted data", what);
    if (len < CRYPT_HEADER_LEN + CRYPT_TAG_LEN)
        return errbuf_set(err, AMLSEC_ECORRUPT, "'%s' is truncated (encrypted header)", what);
    if (in[8] != 1)
        return errbuf_set(err, AMLSEC_EPARSE,
                          "'%s' uses encryption layout %u, newer than this amlsec reads (1)", what,
                          in[8]);
    iters = get_be32(in + 12);
    if (in[9] == KDF_RAW && iters == 0)
        want = CRYPT_KEY_RAW;
    else if (in[9] == KDF_PBKDF2_SHA512 && iters >= CRYPT_PBKDF2_ITERATIONS &&
             iters <= CRYPT_PBKDF2_MAX_ITERATIONS)
        want = CRYPT_KEY_PASSPHRASE;
    else
        return errbuf_set(err, AMLSEC_ECORRUPT, "'%s' has an invalid encryption header", what);
    if (keys == NULL || keys->primary.kind == CRYPT_KEY_NONE)
        return errbuf_set(err, AMLSEC_EUSAGE,
                          "'%s' is encrypted; set AMLSEC_STATE_PASSPHRASE, AMLSEC_STATE_KEY or "
                          "AMLSEC_STATE_KEY_FILE",
                          what);
    order[0] = &keys->primary;
    order[1] = &keys->fallback;
    for (int i = 0; i < 2; i++) {
        if (order[i]->kind != want)
            continue;
        tried++;
        rc = open_with(out, order[i], in, len, err);
        if (rc == 0) {
            if (used_fallback)
                *used_fallback = i == 1;
            return 0;
        }
        if (rc != AMLSEC_ECORRUPT)
            return rc;
    }
    if (tried == 0)
        return errbuf_set(err, AMLSEC_ECORRUPT,
                          "'%s' is encrypted with a %s, but no such key is "
                          "configured",
                          what, want == CRYPT_KEY_RAW ? "raw key" : "passphrase");
    return errbuf_set(err, AMLSEC_ECORRUPT,
                      "cannot decrypt '%s': wrong key, or the file was tampered with", what);
}
