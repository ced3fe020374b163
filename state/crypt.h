/* Encryption at rest: AES-256-GCM with a self-describing header, for the
 * state, the journal and saved plans.
 *
 * Sealed layout (all integers big-endian; the 44-byte header is the GCM
 * additional authenticated data, so none of it can be altered):
 *
 *   offset size
 *        0    8  magic "AMLSECX\0"
 *        8    1  layout version (1)
 *        9    1  kdf: 0 raw 32-byte key, 1 PBKDF2-HMAC-SHA512 of a passphrase
 *       10    2  reserved, zero
 *       12    4  PBKDF2 iterations (0 for raw keys)
 *       16   16  PBKDF2 salt (zero for raw keys)
 *       32   12  GCM nonce (random per seal)
 *       44    n  ciphertext
 *     44+n   16  GCM tag
 *
 * A key set has a primary key (used to seal, tried first to open) and an
 * optional fallback (tried second, never used to seal): rotation reads with
 * the old key and writes with the new. Keys are wiped with OPENSSL_cleanse
 * by crypt_keys_release. */
#ifndef AMLSEC_STATE_CRYPT_H
#define AMLSEC_STATE_CRYPT_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/errbuf.h"

#define CRYPT_KEY_LEN 32
#define CRYPT_SALT_LEN 16
#define CRYPT_NONCE_LEN 12
#define CRYPT_TAG_LEN 16
#define CRYPT_HEADER_LEN 44
#define CRYPT_PBKDF2_ITERATIONS 600000u
#define CRYPT_PBKDF2_MAX_ITERATIONS 10000000u

enum crypt_key_kind {
    CRYPT_KEY_NONE,
    CRYPT_KEY_RAW,
    CRYPT_KEY_PASSPHRASE,
};

struct crypt_key {
    enum crypt_key_kind kind;
    unsigned char raw[CRYPT_KEY_LEN]; /* CRYPT_KEY_RAW */
    char *passphrase;                 /* CRYPT_KEY_PASSPHRASE, wiped on release */
    size_t passphrase_len;
    /* Last derivation, so sealing many records costs one PBKDF2 run. */
    int derived_ok;
    uint32_t derived_iterations;
    unsigned char derived_salt[CRYPT_SALT_LEN];
    unsigned char derived[CRYPT_KEY_LEN];
};

struct crypt_keys {
    struct crypt_key primary;
    struct crypt_key fallback;
};

void crypt_keys_init(struct crypt_keys *keys);
/* Wipes and frees every secret. */
void crypt_keys_release(struct crypt_keys *keys);

/* A key from a passphrase (copied). Empty passphrases are refused. */
int crypt_key_set_passphrase(struct crypt_key *key, const char *passphrase, struct errbuf *err);
/* A raw key from text: 64 hexadecimal digits, or standard base64 (with or
 * without padding) of exactly 32 bytes. Surrounding whitespace is ignored.
 * what names the source in messages ("AMLSEC_STATE_KEY"); the key itself
 * never appears in a message. */
int crypt_key_set_text(struct crypt_key *key, const char *text, const char *what,
                       struct errbuf *err);
/* A raw key from a file: exactly 32 bytes of binary, or the text forms
 * above. */
int crypt_key_load_file(struct crypt_key *key, const char *path, struct errbuf *err);

/* 1 when keys can seal (a primary key is set). */
int crypt_keys_enabled(const struct crypt_keys *keys);
/* 1 when data starts with the sealed magic. */
int crypt_is_sealed(const void *data, size_t len);

/* Seals plain with the primary key, appending the sealed bytes to out. */
int crypt_seal(struct buf *out, struct crypt_keys *keys, const void *plain, size_t len,
               struct errbuf *err);
/* Opens sealed bytes with the primary key, then the fallback, appending the
 * plaintext to out. AMLSEC_ECORRUPT for a wrong key or tampered data (the
 * two cannot be told apart), with what (a path) in the message.
 * *used_fallback (may be NULL) is set to 1 when only the fallback worked. */
int crypt_open(struct buf *out, struct crypt_keys *keys, const void *sealed, size_t len,
               const char *what, int *used_fallback, struct errbuf *err);

#endif
