/* Unit tests for state/crypt: AES-256-GCM seal/open, passphrases, raw keys,
 * rotation, wrong keys and tampering. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "state/crypt.h"
#include "util/error.h"
#include "util/fileio.h"

static const char hex1[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
/* base64 of 32 bytes 0xff... */
static const char b64ff[] = "//////////////////////////////////////////8=";

static void test_crypt__raw_key_roundtrip_and_tamper(void **unused)
{
    struct errbuf err = ERRBUF_INIT;
    struct crypt_keys k;
    struct buf sealed, plain;
    const char msg[] = "{\"secret\":\"hunter2\"}";
    (void)unused;

    crypt_keys_init(&k);
    assert_int_equal(crypt_key_set_text(&k.primary, hex1, "AMLSEC_STATE_KEY", &err), 0);
    buf_init(&sealed, 1 << 20);
    buf_init(&plain, 1 << 20);
    assert_int_equal(crypt_seal(&sealed, &k, msg, strlen(msg), &err), 0);
    assert_true(crypt_is_sealed(sealed.ptr, sealed.len));
    assert_int_equal(sealed.len, CRYPT_HEADER_LEN + strlen(msg) + CRYPT_TAG_LEN);
    assert_null(memmem(sealed.ptr, sealed.len, "hunter2", 7));
    assert_int_equal(crypt_open(&plain, &k, sealed.ptr, sealed.len, "f", NULL, &err), 0);
    assert_string_equal(plain.ptr, msg);

    /* every single-byte flip (header, ciphertext, tag) is refused */
    for (size_t i = 8; i < sealed.len; i++) {
        int rc;
        sealed.ptr[i] ^= 0x01;
        buf_reset(&plain);
        rc = crypt_open(&plain, &k, sealed.ptr, sealed.len, "f", NULL, &err);
        assert_true(rc == AMLSEC_ECORRUPT || rc == AMLSEC_EPARSE);
        assert_int_equal(plain.len, 0);
        sealed.ptr[i] ^= 0x01;
    }
    /* truncated */
    assert_int_equal(crypt_open(&plain, &k, sealed.ptr, 30, "f", NULL, &err), AMLSEC_ECORRUPT);
    assert_non_null(strstr(err.msg, "truncated"));
    assert_int_equal(crypt_open(&plain, &k, sealed.ptr, sealed.len - 1, "f", NULL, &err),
                     AMLSEC_ECORRUPT);

    /* a wrong key */
    crypt_keys_release(&k);
    crypt_keys_init(&k);
    assert_int_equal(crypt_key_set_text(&k.primary, b64ff, "k", &err), 0);
    buf_reset(&plain);
    assert_int_equal(crypt_open(&plain, &k, sealed.ptr, sealed.len, "f", NULL, &err),
                     AMLSEC_ECORRUPT);
    assert_non_null(strstr(err.msg, "wrong key"));
    /* no key at all */
    crypt_keys_release(&k);
    assert_int_equal(crypt_open(&plain, &k, sealed.ptr, sealed.len, "f", NULL, &err),
                     AMLSEC_EUSAGE);
    assert_non_null(strstr(err.msg, "AMLSEC_STATE_KEY"));
    buf_release(&sealed);
    buf_release(&plain);
}

static void test_crypt__key_text_forms(void **unused)
{
    struct errbuf err = ERRBUF_INIT;
    struct crypt_key a = {0}, b = {0};
    char path[] = "/tmp/amlsec-key-XXXXXX";
    unsigned char raw[32];
    int fd;
    (void)unused;

    assert_int_equal(crypt_key_set_text(&a,
                                        "  "
                                        "0001020304050607"
                                        "08090a0b0c0d0e0f"
                                        "1011121314151617"
                                        "18191a1b1c1d1e1f\n",
                                        "k", &err),
                     0);
    for (int i = 0; i < 32; i++)
        raw[i] = (unsigned char)i;
    assert_memory_equal(a.raw, raw, 32);
    assert_int_equal(
        crypt_key_set_text(&b, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8", "k", &err), 0);
    assert_memory_equal(b.raw, raw, 32);
    assert_int_equal(crypt_key_set_text(&b, "00010203", "AMLSEC_STATE_KEY", &err), AMLSEC_EUSAGE);
    assert_non_null(strstr(err.msg, "AMLSEC_STATE_KEY"));
    assert_null(strstr(err.msg, "00010203")); /* the key never appears */
    assert_int_equal(crypt_key_set_text(&b, "zz!!", "k", &err), AMLSEC_EUSAGE);
    /* a binary key file of exactly 32 bytes */
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, raw, 32), 32);
    close(fd);
    assert_int_equal(crypt_key_load_file(&b, path, &err), 0);
    assert_memory_equal(b.raw, raw, 32);
    unlink(path);
    assert_int_equal(crypt_key_load_file(&b, path, &err), AMLSEC_ENOTFOUND);
    {
        struct crypt_keys k = {a, b};
        crypt_keys_release(&k);
    }
}

static void test_crypt__passphrase_and_rotation(void **unused)
{
    struct errbuf err = ERRBUF_INIT;
    struct crypt_keys old, rotated, wrong;
    struct buf s1, s2, plain;
    int fallback = -1;
    (void)unused;

    crypt_keys_init(&old);
    crypt_keys_init(&rotated);
    crypt_keys_init(&wrong);
    buf_init(&s1, 1 << 20);
    buf_init(&s2, 1 << 20);
    buf_init(&plain, 1 << 20);
    assert_int_equal(crypt_key_set_passphrase(&old.primary, "", &err), AMLSEC_EUSAGE);
    assert_int_equal(crypt_key_set_passphrase(&old.primary, "correct horse", &err), 0);
    assert_int_equal(crypt_seal(&s1, &old, "state v1", 8, &err), 0);
    /* header: kdf 1, >= 600000 iterations, random salt */
    assert_int_equal((unsigned char)s1.ptr[9], 1);
    assert_true(((uint32_t)(unsigned char)s1.ptr[12] << 24 |
                 (uint32_t)(unsigned char)s1.ptr[13] << 16 |
                 (uint32_t)(unsigned char)s1.ptr[14] << 8 | (unsigned char)s1.ptr[15]) >= 600000);
    /* a second seal reuses the derivation but not the nonce */
    assert_int_equal(crypt_seal(&s2, &old, "state v1", 8, &err), 0);
    assert_memory_equal(s1.ptr + 16, s2.ptr + 16, CRYPT_SALT_LEN);
    assert_memory_not_equal(s1.ptr + 32, s2.ptr + 32, CRYPT_NONCE_LEN);

    assert_int_equal(crypt_key_set_passphrase(&wrong.primary, "battery staple", &err), 0);
    assert_int_equal(crypt_open(&plain, &wrong, s1.ptr, s1.len, "state.json", NULL, &err),
                     AMLSEC_ECORRUPT);
    assert_non_null(strstr(err.msg, "'state.json'"));

    /* rotation: new passphrase primary, old as fallback */
    assert_int_equal(crypt_key_set_passphrase(&rotated.primary, "new passphrase", &err), 0);
    assert_int_equal(crypt_key_set_passphrase(&rotated.fallback, "correct horse", &err), 0);
    assert_int_equal(crypt_open(&plain, &rotated, s1.ptr, s1.len, "s", &fallback, &err), 0);
    assert_int_equal(fallback, 1);
    assert_string_equal(plain.ptr, "state v1");
    buf_reset(&s2);
    assert_int_equal(crypt_seal(&s2, &rotated, "state v2", 8, &err), 0);
    buf_reset(&plain);
    assert_int_equal(crypt_open(&plain, &rotated, s2.ptr, s2.len, "s", &fallback, &err), 0);
    assert_int_equal(fallback, 0);
    assert_int_equal(crypt_open(&plain, &old, s2.ptr, s2.len, "s", NULL, &err), AMLSEC_ECORRUPT);

    crypt_keys_release(&old);
    crypt_keys_release(&rotated);
    crypt_keys_release(&wrong);
    assert_null(old.primary.passphrase);
    buf_release(&s1);
    buf_release(&s2);
    buf_release(&plain);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crypt__raw_key_roundtrip_and_tamper),
        cmocka_unit_test(test_crypt__key_text_forms),
        cmocka_unit_test(test_crypt__passphrase_and_rotation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
