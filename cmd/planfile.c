#include "cmd/planfile.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/error.h"
#include "util/fileio.h"
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

static int hmac_hex(char out[65], const char *key, const char *data, size_t len, struct errbuf *err)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    size_t n = 0;
    if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, strlen(key), (const unsigned char *)data,
                  len, md, sizeof(md), &n) == NULL ||
        n != 32)
        return errbuf_set(err, AMLSEC_ERROR, "cannot compute the plan's HMAC-SHA-256");
    for (unsigned i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    return 0;
}

static int dump_to_buf(const char *text, size_t n, void *data)
{
    return buf_add(data, text, n) == 0 ? 0 : -1;
}

#define CHECKSUM_PREFIX "{\"amlsec_plan\":1,\"sha256\":\""
#define PLAN_MEMBER "\",\"plan\":"

int planfile_write(const char *path, const struct plan *plan, struct crypt_keys *keys,
                   const char *plan_key, struct errbuf *err)
{
    char hex[65];
    struct buf file, sealed;
    size_t at;
    int rc;

    if (plan_has_sensitive(plan) && !crypt_keys_enabled(keys))
        return errbuf_set(err, AMLSEC_EUSAGE,
                          "the plan holds sensitive values and would store them unencrypted; "
                          "configure state encryption (AMLSEC_STATE_PASSPHRASE or "
                          "AMLSEC_STATE_KEY) to save it");
    /* the plan's text is written once, in place, after room for its
     * checksum: no second copy of it */
    buf_init(&file, PLANFILE_MAX);
    buf_init(&sealed, PLANFILE_MAX);
    memset(hex, '0', 64);
    hex[64] = '\0';
    buf_adds(&file, CHECKSUM_PREFIX);
    buf_adds(&file, hex);
    buf_adds(&file, PLAN_MEMBER);
    at = file.len;
    rc = plan_json_dump(plan, dump_to_buf, &file);
    if (rc < 0 || buf_adds(&file, "}\n") < 0) {
        buf_release(&file);
        return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    }
    sha256_hex(hex, file.ptr + at, file.len - at - 2);
    memcpy(file.ptr + strlen(CHECKSUM_PREFIX), hex, 64);
    if (plan_key) {
        /* the HMAC of the file as it is now goes in front of everything else */
        char mac[65];
        struct buf signed_file;
        if ((rc = plan_key_check(plan_key, err)) < 0 ||
            (rc = hmac_hex(mac, plan_key, file.ptr, file.len, err)) < 0) {
            buf_release(&file);
            return rc;
        }
        buf_init(&signed_file, PLANFILE_MAX);
        buf_adds(&signed_file, SIGNED_PREFIX);
        buf_adds(&signed_file, mac);
        buf_adds(&signed_file, "\",");
        buf_add(&signed_file, file.ptr + strlen(UNSIGNED_PREFIX),
                file.len - strlen(UNSIGNED_PREFIX));
        buf_release(&file);
        file = signed_file;
    }
    if (crypt_keys_enabled(keys)) {
        if ((rc = crypt_seal(&sealed, keys, file.ptr, file.len, err)) == 0)
            rc = file_write_atomic(path, sealed.ptr, sealed.len, 0600, err);
    } else {
        rc = file_write_atomic(path, file.ptr, file.len, 0600, err);
    }
    buf_release(&file);
    buf_release(&sealed);
    return rc;
}

/* The signature of a signed plan: plain is the file's text (decrypted). */
static int check_signature(struct buf *plain, const char *path, const char *plan_key,
                           struct planfile_trust *trust, struct errbuf *err)
{
    size_t pre = strlen(SIGNED_PREFIX);
    char mac[65], want[65];
    struct buf unsigned_file;
    int rc;
    if (plain->len < pre + 66 || memcmp(plain->ptr, SIGNED_PREFIX, pre) != 0)
        return 0; /* not signed */
    trust->signed_ = true;
    if (plan_key == NULL)
        return 0;
    if ((rc = plan_key_check(plan_key, err)) < 0)
        return rc;
    memcpy(want, plain->ptr + pre, 64);
    want[64] = '\0';
    if (memcmp(plain->ptr + pre + 64, "\",", 2) != 0)
        return errbuf_set(err, AMLSEC_EPARSE, "plan file '%s' has a malformed signature", path);
    buf_init(&unsigned_file, PLANFILE_MAX);
    buf_adds(&unsigned_file, UNSIGNED_PREFIX);
    buf_add(&unsigned_file, plain->ptr + pre + 66, plain->len - pre - 66);
    rc = hmac_hex(mac, plan_key, unsigned_file.ptr, unsigned_file.len, err);
    buf_release(&unsigned_file);
    if (rc < 0)
        return rc;
    if (CRYPTO_memcmp(mac, want, 64) != 0)
        return errbuf_set(err, AMLSEC_ECORRUPT,
                          "plan file '%s' fails its signature: it was modified after it was "
                          "signed, or signed with another AMLSEC_PLAN_KEY",
                          path);
    trust->verified = true;
    return 0;
}

int planfile_read(struct plan **out, json_t **root_out, const char *path, struct crypt_keys *keys,
                  const char *plan_key, struct planfile_trust *trust, struct errbuf *err)
{
    struct buf raw;
    int rc;

    *out = NULL;
    buf_init(&raw, PLANFILE_MAX);
    if ((rc = file_read_all(&raw, path, PLANFILE_MAX, err)) == 0)
        rc = planfile_decode(out, root_out, raw.ptr, raw.len, path, keys, plan_key, trust, err);
    buf_release(&raw);
    return rc;
}

/* Whether the plan's text in file (as planfile_write lays it out: the
 * envelope's members, "plan": last, then "}\n") has the checksum want. */
static bool raw_plan_matches(const char *file, size_t len, const char *want)
{
    const char *member = NULL, *end = file + len;
    char hex[65];
    size_t scan = len < 512 ? len : 512, n = strlen(PLAN_MEMBER);
    if (strlen(want) != 64)
        return false;
    for (size_t i = 0; i + n <= scan && member == NULL; i++)
        if (memcmp(file + i, PLAN_MEMBER, n) == 0)
            member = file + i + n;
    if (member == NULL || len < 2 || end[-1] != '\n' || end[-2] != '}' || member > end - 2)
        return false;
    sha256_hex(hex, member, (size_t)(end - 2 - member));
    return strcmp(hex, want) == 0;
}

int planfile_decode(struct plan **out, json_t **root_out, const char *data, size_t len,
                    const char *path, struct crypt_keys *keys, const char *plan_key,
                    struct planfile_trust *trust, struct errbuf *err)
{
    struct planfile_trust ignored;
    struct buf plain;
    json_t *env = NULL, *inner;
    json_error_t je;
    char hex[65];
    char *text = NULL;
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
    } else {
        buf_add(&plain, data, len);
    }
    if ((rc = check_signature(&plain, path, plan_key, trust, err)) < 0)
        goto out;
    /* values known only after apply are tagged "ADDRESS\0ATTR" (parser/value.h) */
    env = json_loadb(plain.ptr, plain.len, JSON_ALLOW_NUL, &je);
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
    if (!raw_plan_matches(plain.ptr, plain.len, want)) {
        text = json_dumps(inner, JSON_COMPACT | JSON_SORT_KEYS);
        if (text == NULL) {
            rc = errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
            goto out;
        }
        sha256_hex(hex, text, strlen(text));
    } else {
        memcpy(hex, want, 65);
    }
    if (strcmp(hex, want) != 0) {
        rc = errbuf_set(err, AMLSEC_ECORRUPT,
                        "plan file '%s' was modified after it was written (checksum mismatch)",
                        path);
        goto out;
    }
    if ((rc = plan_from_json(out, inner, err)) < 0) {
        errbuf_prefix(err, "plan file '%s'", path);
        goto out;
    }
    if (root_out)
        *root_out = json_incref(inner);
out:
    free(text);
    json_decref(env);
    buf_release(&plain);
    return rc;
}
