#include "cmd/planfile.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "parser/value.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/fileio.h"
#include "util/jsonw.h"
#include "util/banned.h"

#define PLANFILE_MAX ((size_t)256 << 20)

static void sha256_hex(char out[65], const char *data, size_t len)
{
    unsigned char md[32];
    unsigned int n = 0;
    EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
    for (unsigned i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

#define SIGNED_PREFIX "{\"amlsec_plan\":1,\"hmac_sha256\":\""
#define UNSIGNED_PREFIX "{\"amlsec_plan\":1,"

static int plan_key_check(const char *key, struct errbuf *err)
{
    if (strlen(key) < PLANFILE_KEY_MIN)
        return errbuf_set(err, AMLSEC_EUSAGE,
                          "AMLSEC_PLAN_KEY is shorter than %d characters; use a random key such "
                          "as the output of 'openssl rand -hex 32'",
                          PLANFILE_KEY_MIN);
    return 0;
}

#define CHECKSUM_PREFIX "{\"amlsec_plan\":1,\"sha256\":\""
#define CHECKSUM_MEMBER "\"sha256\":\""
#define PLAN_MEMBER "\",\"plan\":"

/* Where planfile_write puts the file's text as jansson hands it over (a
 * few bytes at a time): gathered in chunk, then written to the file, or
 * kept in mem when the file is sealed afterwards. While md is set the
 * bytes are the plan's text, and hashed. */
struct plan_out {
    struct file_atomic *fa;
    struct buf *mem;
    EVP_MD_CTX *md;
    size_t total; /* bytes so far: the file stays within PLANFILE_MAX */
    size_t len;
    int rc; /* the first failure */
    struct errbuf *err;
    char chunk[1 << 16];
};

static int out_flush(struct plan_out *o)
{
    if (o->rc < 0)
        return o->rc;
    if (o->len == 0)
        return 0;
    if (o->md && EVP_DigestUpdate(o->md, o->chunk, o->len) != 1)
        return o->rc = errbuf_set(o->err, AMLSEC_ERROR, "cannot compute the plan's SHA-256");
    if (o->total + o->len > PLANFILE_MAX)
        return o->rc = errbuf_set(o->err, AMLSEC_ENOMEM, "out of memory");
    if (o->fa)
        o->rc = file_atomic_write(o->fa, o->chunk, o->len, o->err);
    else if (buf_add(o->mem, o->chunk, o->len) < 0)
        o->rc = errbuf_set(o->err, AMLSEC_ENOMEM, "out of memory");
    o->total += o->len;
    o->len = 0;
    return o->rc;
}

static int out_add(const char *text, size_t n, void *data)
{
    struct plan_out *o = data;
    if (o->rc < 0)
        return -1;
    while (n) {
        size_t k = n < sizeof(o->chunk) - o->len ? n : sizeof(o->chunk) - o->len;
        memcpy(o->chunk + o->len, text, k);
        o->len += k;
        text += k;
        n -= k;
        if (o->len == sizeof(o->chunk) && out_flush(o) < 0)
            return -1;
    }
    return 0;
}

static int out_adds(struct plan_out *o, const char *s)
{
    return out_add(s, strlen(s), o) < 0 ? -1 : 0;
}

/* The HMAC-SHA-256 of a signed file as it is without its hmac member:
 * UNSIGNED_PREFIX, then the file from the member after the HMAC on (from,
 * below total), in memory (text) or read back from fd (through chunk). */
static int unsigned_hmac(char out[65], const char *key, const char *text, int fd, size_t from,
                         size_t total, char *chunk, size_t chunk_len, struct errbuf *err)
{
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", "SHA256", 0),
                           OSSL_PARAM_construct_end()};
    unsigned char md[EVP_MAX_MD_SIZE];
    size_t n = 0;
    int ok =
        ctx && EVP_MAC_init(ctx, (const unsigned char *)key, strlen(key), params) == 1 &&
        EVP_MAC_update(ctx, (const unsigned char *)UNSIGNED_PREFIX, strlen(UNSIGNED_PREFIX)) == 1;
    if (ok && text) {
        ok = EVP_MAC_update(ctx, (const unsigned char *)text + from, total - from) == 1;
    } else {
        for (off_t at = (off_t)from; ok && (size_t)at < total;) {
            ssize_t got = pread(fd, chunk, chunk_len, at);
            if (got < 0 && errno == EINTR)
                continue;
            ok = got > 0 && EVP_MAC_update(ctx, (const unsigned char *)chunk, (size_t)got) == 1;
            at += got;
        }
    }
    ok = ok && EVP_MAC_final(ctx, md, &n, sizeof(md)) == 1 && n == 32;
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
    if (!ok)
        return errbuf_set(err, AMLSEC_ERROR, "cannot compute the plan's HMAC-SHA-256");
    for (unsigned i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    return 0;
}

/* Fills in a field of the file written so far (a checksum or an HMAC). */
static int out_patch(struct plan_out *o, size_t at, const char *text, size_t n)
{
    if (o->mem) {
        memcpy(o->mem->ptr + at, text, n);
        return 0;
    }
    return file_atomic_pwrite(o->fa, text, n, (off_t)at, o->err);
}

/* The file as planfile.h lays it out, with its checksum (and HMAC) as
 * placeholders filled in at the end: the plan's text is written as it is
 * made, to the file (or to mem), never held twice. */
static int write_plan(struct plan_out *o, const struct plan *plan, const char *plan_key)
{
    char hex[65], zeros[65];
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdn = 0;
    size_t hex_at, after_mac = 0;
    int rc;

    memset(zeros, '0', 64);
    zeros[64] = '\0';
    if (plan_key) {
        if ((rc = plan_key_check(plan_key, o->err)) < 0)
            return rc;
        out_adds(o, SIGNED_PREFIX);
        out_adds(o, zeros);
        out_adds(o, "\",");
        after_mac = strlen(SIGNED_PREFIX) + 66;
        hex_at = after_mac + strlen(CHECKSUM_MEMBER);
        out_adds(o, CHECKSUM_MEMBER);
    } else {
        hex_at = strlen(CHECKSUM_PREFIX);
        out_adds(o, CHECKSUM_PREFIX);
    }
    out_adds(o, zeros);
    out_adds(o, PLAN_MEMBER);
    if ((rc = out_flush(o)) < 0)
        return rc;
    if ((o->md = EVP_MD_CTX_new()) == NULL || EVP_DigestInit_ex(o->md, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(o->md);
        o->md = NULL;
        return errbuf_set(o->err, AMLSEC_ERROR, "cannot compute the plan's SHA-256");
    }
    rc = plan_json_dump(plan, out_add, o) < 0 ? -1 : out_flush(o);
    if (rc == 0 && EVP_DigestFinal_ex(o->md, md, &mdn) != 1)
        rc = errbuf_set(o->err, AMLSEC_ERROR, "cannot compute the plan's SHA-256");
    EVP_MD_CTX_free(o->md);
    o->md = NULL;
    if (rc < 0)
        return o->rc < 0 ? o->rc : errbuf_set(o->err, AMLSEC_ENOMEM, "out of memory");
    out_adds(o, "}\n");
    if ((rc = out_flush(o)) < 0)
        return rc;
    for (unsigned i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    if ((rc = out_patch(o, hex_at, hex, 64)) < 0)
        return rc;
    if (plan_key) {
        /* the HMAC of the file as it is without it, in front of everything else */
        char mac[65];
        if ((rc = unsigned_hmac(mac, plan_key, o->mem ? o->mem->ptr : NULL, o->fa ? o->fa->fd : -1,
                                after_mac, o->total, o->chunk, sizeof(o->chunk), o->err)) < 0 ||
            (rc = out_patch(o, strlen(SIGNED_PREFIX), mac, 64)) < 0)
            return rc;
    }
    return 0;
}

int planfile_write(const char *path, const struct plan *plan, struct crypt_keys *keys,
                   const char *plan_key, struct errbuf *err)
{
    struct plan_out *o;
    struct file_atomic fa;
    int rc;

    if (plan_has_sensitive(plan) && !crypt_keys_enabled(keys))
        return errbuf_set(err, AMLSEC_EUSAGE,
                          "the plan holds sensitive values and would store them unencrypted; "
                          "configure state encryption (AMLSEC_STATE_PASSPHRASE or "
                          "AMLSEC_STATE_KEY) to save it");
    if ((o = calloc(1, sizeof(*o))) == NULL)
        return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    o->err = err;
    if (crypt_keys_enabled(keys)) {
        /* sealed as a whole: the text is kept in memory, never on disk */
        struct buf text, sealed;
        buf_init(&text, PLANFILE_MAX);
        buf_init(&sealed, PLANFILE_MAX);
        o->mem = &text;
        if ((rc = write_plan(o, plan, plan_key)) == 0 &&
            (rc = crypt_seal(&sealed, keys, text.ptr, text.len, err)) == 0) {
            buf_release(&text);
            rc = file_write_atomic(path, sealed.ptr, sealed.len, 0600, err);
        }
        buf_release(&text);
        buf_release(&sealed);
    } else if ((rc = file_atomic_open(&fa, path, 0600, err)) == 0) {
        o->fa = &fa;
        if ((rc = write_plan(o, plan, plan_key)) == 0)
            rc = file_atomic_commit(&fa, err);
        else
            file_atomic_abort(&fa);
    }
    free(o);
    return rc;
}

/* The signature of a signed plan: text is the file's text (decrypted). */
static int check_signature(const char *text, size_t len, const char *path, const char *plan_key,
                           struct planfile_trust *trust, struct errbuf *err)
{
    size_t pre = strlen(SIGNED_PREFIX);
    char mac[65], want[65];
    int rc;
    if (len < pre + 66 || memcmp(text, SIGNED_PREFIX, pre) != 0)
        return 0; /* not signed */
    trust->signed_ = true;
    if (plan_key == NULL)
        return 0;
    if ((rc = plan_key_check(plan_key, err)) < 0)
        return rc;
    memcpy(want, text + pre, 64);
    want[64] = '\0';
    if (memcmp(text + pre + 64, "\",", 2) != 0)
        return errbuf_set(err, AMLSEC_EPARSE, "plan file '%s' has a malformed signature", path);
    if ((rc = unsigned_hmac(mac, plan_key, text, -1, pre + 66, len, NULL, 0, err)) < 0)
        return rc;
    if (CRYPTO_memcmp(mac, want, 64) != 0)
        return errbuf_set(err, AMLSEC_ECORRUPT,
                          "plan file '%s' fails its signature: it was modified after it was "
                          "signed, or signed with another AMLSEC_PLAN_KEY",
                          path);
    trust->verified = true;
    return 0;
}

int planfile_read_flags(struct plan **out, json_t **root_out, const char *path,
                        struct crypt_keys *keys, const char *plan_key, struct planfile_trust *trust,
                        unsigned flags, struct errbuf *err)
{
    struct buf raw;
    int rc;

    *out = NULL;
    buf_init(&raw, PLANFILE_MAX);
    if ((rc = file_read_all(&raw, path, PLANFILE_MAX, err)) == 0)
        rc = planfile_decode_flags(out, root_out, raw.ptr, raw.len, path, keys, plan_key, trust,
                                   flags, err);
    buf_release(&raw);
    return rc;
}

int planfile_read(struct plan **out, json_t **root_out, const char *path, struct crypt_keys *keys,
                  const char *plan_key, struct planfile_trust *trust, struct errbuf *err)
{
    return planfile_read_flags(out, root_out, path, keys, plan_key, trust, 0, err);
}

/* Where the plan's text starts in file as planfile_write lays it out (the
 * envelope's members, "plan": last, then "}\n"), or NULL. */
static const char *plan_member(const char *file, size_t len)
{
    const char *end = file + len;
    size_t scan = len < 512 ? len : 512, n = strlen(PLAN_MEMBER);
    for (size_t i = 0; i + n <= scan; i++)
        if (memcmp(file + i, PLAN_MEMBER, n) == 0)
            return len >= 2 && end[-1] == '\n' && end[-2] == '}' && file + i + n <= end - 2
                       ? file + i + n
                       : NULL;
    return NULL;
}

/* Whether the plan's text in file (as planfile_write lays it out) has the
 * checksum want. */
static bool raw_plan_matches(const char *file, size_t len, const char *want)
{
    const char *member = plan_member(file, len), *end = file + len;
    char hex[65];
    if (strlen(want) != 64 || member == NULL)
        return false;
    sha256_hex(hex, member, (size_t)(end - 2 - member));
    return strcmp(hex, want) == 0;
}

/* The JSON value at *p (before end), its text skipped, in memory's form
 * (a plan file's tagged unknowns and big numbers read back: see
 * parser/value.h; one saved before them, with NULs, reads too): a new
 * reference, or NULL when there is none. Read in place, in one pass
 * where it holds no decimal and no big number (jsonw_loadb_member). */
static json_t *value_at(const char **p, const char *end)
{
    size_t n = 0;
    json_t *v = jsonw_loadb_member(*p, (size_t)(end - *p), JSON_DECODE_ANY | JSON_ALLOW_NUL, &n);
    if (v && value_text_may_hold_file_forms(*p, n) && value_from_file_form(v) < 0) {
        json_decref(v);
        return NULL;
    }
    *p += v ? n : 0;
    return v;
}

/* The member name at *p ("name": with no escape or control character in
 * it), copied to key. */
static bool key_at(const char **p, const char *end, char *key, size_t size)
{
    const char *s = *p + 1, *q;
    if (*p >= end || **p != '"')
        return false;
    for (q = s; q < end && *q != '"' && *q != '\\' && (unsigned char)*q >= 0x20; q++)
        ;
    if (q + 1 >= end || *q != '"' || q[1] != ':' || (size_t)(q - s) >= size)
        return false;
    memcpy(key, s, (size_t)(q - s));
    key[q - s] = '\0';
    *p = q + 2;
    return true;
}

/* The change at *p (a JSON object), its members read one at a time but
 * its request_body, whose text is handed to the reader unread (r's
 * body_text: plan_change_body parses it if asked), its text skipped: a new
 * reference, or NULL when it is not laid out as planfile_write lays it out. */
static json_t *change_at(const char **p, const char *end, struct plan_reader *r)
{
    const char *q = *p;
    char key[64];
    json_t *c = json_object();
    bool ok = c != NULL && q < end && *q++ == '{';
    while (ok && q < end && *q != '}') {
        json_t *v;
        size_t n;
        if (!(ok = key_at(&q, end, key, sizeof(key))))
            break;
        if (strcmp(key, "request_body") == 0 && q < end && *q == '{' &&
            (n = jsonw_member_extent(q, (size_t)(end - q))) > 0) {
            r->body_text = q;
            r->body_text_len = n;
            q += n;
        } else {
            v = value_at(&q, end);
            ok = v && json_object_set_new(c, key, v) == 0;
        }
        if (ok && q < end && *q == ',' && q + 1 < end && q[1] == '"')
            q++;
        else if (ok && (q >= end || *q != '}'))
            ok = false;
    }
    if (!ok || q >= end) {
        json_decref(c);
        r->body_text = NULL;
        return NULL;
    }
    *p = q + 1;
    return c;
}

/* The plan of a file as planfile_write lays it out (the plan's text from
 * member up to end, the "}\n" that ends the file), read a member at a time
 * and resource_changes a change at a time: each change parsed, taken
 * (plan_read_change) and freed, so that the file's whole tree (~6 times
 * its size) is never held. *root_out (may be NULL) gets the plan's other
 * members. 0; 1 when the text is laid out otherwise or anything in it is
 * wrong (nothing kept: the caller reads the file whole, and names what is
 * wrong); AMLSEC_ENOMEM. */
static int read_in_pieces(struct plan **out, json_t **root_out, const char *member, const char *end,
                          unsigned flags)
{
    struct errbuf ignored = ERRBUF_INIT;
    struct plan_reader r;
    json_t *root;
    const char *p = member;
    char key[64];
    bool changes = false, ok;
    if (plan_read_begin(&r, &ignored) < 0)
        return AMLSEC_ENOMEM;
    root = json_object();
    ok = root != NULL && p < end && *p++ == '{';
    while (ok && p < end && *p != '}') {
        if (!(ok = key_at(&p, end, key, sizeof(key))))
            break;
        if (strcmp(key, "resource_changes") == 0) {
            /* a change at a time */
            if (changes || p >= end || *p++ != '[') {
                ok = false;
                break;
            }
            changes = true;
            while (ok && p < end && *p != ']') {
                json_t *c =
                    flags & PLANFILE_BODIES_AS_TEXT ? change_at(&p, end, &r) : value_at(&p, end);
                ok = c && plan_read_change(&r, c, &ignored) == 0;
                json_decref(c);
                if (ok && p < end && *p == ',' && p + 1 < end && p[1] != ']')
                    p++;
                else if (ok && (p >= end || *p != ']'))
                    ok = false;
            }
            ok = ok && p < end && *p++ == ']';
        } else {
            json_t *v = value_at(&p, end);
            ok = v && json_object_set_new(root, key, v) == 0;
        }
        if (ok && p < end && *p == ',' && p + 1 < end && p[1] == '"')
            p++;
        else if (ok && (p >= end || *p != '}'))
            ok = false;
    }
    /* the plan's closing brace ends the text */
    ok = ok && changes && p + 1 == end && *p == '}' && plan_read_header(&r, root, &ignored) == 0 &&
         plan_read_end(&r, out, &ignored) == 0;
    if (!ok) {
        plan_read_abort(&r);
        json_decref(root);
        return 1;
    }
    if (root_out)
        *root_out = root;
    else
        json_decref(root);
    return 0;
}

/* A file as planfile_write lays it out, with its checksum, read in pieces
 * (read_in_pieces). 0; 1 when it is not such a file, or not a sound one
 * (the caller reads it whole and says why); AMLSEC_ENOMEM. */
static int read_laid_out(struct plan **out, json_t **root_out, const char *data, size_t len,
                         unsigned flags)
{
    const char *member = plan_member(data, len);
    char head[600];
    size_t n;
    json_t *env;
    int rc = 1;
    if (member == NULL)
        return 1;
    /* the envelope's members before the plan (through the checksum's closing quote) */
    n = (size_t)(member - data) - strlen(PLAN_MEMBER) + 1;
    if (n + 2 > sizeof(head))
        return 1;
    memcpy(head, data, n);
    memcpy(head + n, "}", 2);
    env = json_loadb(head, n + 1, JSON_ALLOW_NUL, NULL);
    if (env && json_integer_value(json_object_get(env, "amlsec_plan")) == 1 &&
        json_is_integer(json_object_get(env, "amlsec_plan")) &&
        json_is_string(json_object_get(env, "sha256")) &&
        raw_plan_matches(data, len, json_string_value(json_object_get(env, "sha256"))))
        rc = read_in_pieces(out, root_out, member, data + len - 2, flags);
    json_decref(env);
    return rc;
}

static int hash_piece(struct buf *b, void *md)
{
    int rc = EVP_DigestUpdate(md, b->ptr, b->len) == 1 ? 0 : -1;
    buf_reset(b);
    return rc;
}

int planfile_decode(struct plan **out, json_t **root_out, const char *data, size_t len,
                    const char *path, struct crypt_keys *keys, const char *plan_key,
                    struct planfile_trust *trust, struct errbuf *err)
{
    return planfile_decode_flags(out, root_out, data, len, path, keys, plan_key, trust, 0, err);
}

int planfile_decode_flags(struct plan **out, json_t **root_out, const char *data, size_t len,
                          const char *path, struct crypt_keys *keys, const char *plan_key,
                          struct planfile_trust *trust, unsigned flags, struct errbuf *err)
{
    struct planfile_trust ignored;
    struct buf plain;
    json_t *env = NULL, *inner;
    json_error_t je;
    char hex[65];
    const char *want;
    int rc = 0;

    *out = NULL;
    if (trust == NULL)
        trust = &ignored;
    memset(trust, 0, sizeof(*trust));
    buf_init(&plain, PLANFILE_MAX);
    if (crypt_is_sealed(data, len)) {
        int used_fallback = 0;
        if ((rc = crypt_open(&plain, keys, data, len, path, &used_fallback, err)) < 0)
            goto out;
        trust->sealed = true;
        data = plain.ptr;
        len = plain.len;
    } /* else read in place: no copy of the file */
    if ((rc = check_signature(data, len, path, plan_key, trust, err)) < 0)
        goto out;
    /* as planfile_write lays it out: read in pieces, never held whole */
    if ((rc = read_laid_out(out, root_out, data, len, flags)) != 1) {
        if (rc < 0)
            errbuf_set(err, rc, "out of memory");
        goto out;
    }
    rc = 0;
    /* a file saved before plan files held no NUL tags its unknowns
     * "ADDRESS\0ATTR" and keeps big numbers as {"$number": "\0DIGITS"} */
    env = jsonw_loadb(data, len, JSON_ALLOW_NUL, &je);
    if (env == NULL || !json_is_object(json_object_get(env, "plan")) ||
        json_integer_value(json_object_get(env, "amlsec_plan")) != 1) {
        rc = errbuf_set(err, AMLSEC_EPARSE, "'%s' is not an amlsec plan file%s%s", path,
                        env ? "" : ": ", env ? "" : je.text);
        goto out;
    }
    inner = json_object_get(env, "plan");
    want = json_string_value(json_object_get(env, "sha256"));
    if (want == NULL) {
        rc = errbuf_set(err, AMLSEC_EPARSE, "plan file '%s' has no checksum", path);
        goto out;
    }
    /* the checksum covers the plan's canonical text (compact, sorted
     * keys): as planfile_write lays the file out, that is the bytes after
     * "plan": up to the closing brace, hashed as they are; a file laid out
     * otherwise has its plan serialised again */
    if (!raw_plan_matches(data, len, want)) {
        /* hashed as it is serialised: no copy of the text (nor one made by
         * jansson for free(): json_arena.h) */
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        unsigned char d[EVP_MAX_MD_SIZE];
        unsigned int dn = 0;
        struct buf text;
        struct jsonw_pretty compact = {&text, -1, hash_piece, md}; /* as plan_json_dump */
        buf_init(&text, SIZE_MAX);
        if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
            jsonw_pretty(&compact, inner) != 0 || hash_piece(&text, md) != 0 ||
            EVP_DigestFinal_ex(md, d, &dn) != 1) {
            EVP_MD_CTX_free(md);
            buf_release(&text);
            rc = errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
            goto out;
        }
        EVP_MD_CTX_free(md);
        buf_release(&text);
        for (unsigned i = 0; i < 32; i++)
            snprintf(hex + 2 * i, 3, "%02x", d[i]);
    } else {
        memcpy(hex, want, 65);
    }
    if (strcmp(hex, want) != 0) {
        rc = errbuf_set(err, AMLSEC_ECORRUPT,
                        "plan file '%s' was modified after it was written (checksum mismatch)",
                        path);
        goto out;
    }
    if (value_from_file_form(inner) < 0) {
        rc = errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = plan_from_json(out, inner, err)) < 0) {
        errbuf_prefix(err, "plan file '%s'", path);
        goto out;
    }
    if (root_out)
        *root_out = json_incref(inner);
out:
    json_decref(env);
    buf_release(&plain);
    return rc;
}
