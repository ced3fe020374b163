/* Saved plans (`plan -out FILE`, `apply FILE`, `show FILE`).
 *
 * A plan file is the unredacted plan JSON (engine/plan.h) in an envelope
 * with its SHA-256:  {"amlsec_plan":1,"sha256":"<hex>","plan":{...}}\n
 * The checksum only catches accidents: anyone can recompute it. With a
 * signing key (AMLSEC_PLAN_KEY) the envelope starts with
 * {"amlsec_plan":1,"hmac_sha256":"<hex>", and the HMAC-SHA-256 covers
 * every other byte of the file: the same line without that member, as it
 * was before signing. When state encryption is configured the whole file
 * is then sealed with the state keys (AES-256-GCM, which also
 * authenticates it, its header included); a plan holding sensitive values
 * is refused without encryption, because it would put secrets in an
 * unencrypted file. Reading checks the envelope and names what is wrong:
 * tampered (checksum, signature), not a plan, wrong key. */
#ifndef AMLSEC_CMD_PLANFILE_H
#define AMLSEC_CMD_PLANFILE_H

#include <jansson.h>
#include <stdbool.h>

#include "engine/plan.h"
#include "state/crypt.h"
#include "util/errbuf.h"

/* What protects a plan file that was read. */
struct planfile_trust {
    bool sealed;   /* encrypted and authenticated with the state keys */
    bool signed_;  /* carries an HMAC */
    bool verified; /* ... checked against the key given */
};

/* The minimum length of AMLSEC_PLAN_KEY. */
#define PLANFILE_KEY_MIN 32

/* plan_key: the signing key (AMLSEC_PLAN_KEY), NULL for none. */
int planfile_write(const char *path, const struct plan *plan, struct crypt_keys *keys,
                   const char *plan_key, struct errbuf *err);
/* *root_out (may be NULL) receives the inner plan JSON (new reference):
 * its members but resource_changes when the file, laid out as
 * planfile_write lays it out, was read a change at a time (the plan then
 * holds the changes' values, and the rest of each change is freed).
 * With plan_key, a signed plan whose signature does not match is refused
 * (AMLSEC_ECORRUPT); an unsigned one is read, trust says so. trust may be
 * NULL. */
int planfile_read(struct plan **out, json_t **root_out, const char *path, struct crypt_keys *keys,
                  const char *plan_key, struct planfile_trust *trust, struct errbuf *err);
/* planfile_read's flags. PLANFILE_BODIES_AS_TEXT: each change's request
 * body is kept as its text, parsed only if plan_change_body asks for it
 * (engine/plan.h), for a reader that may never look at them (show: a
 * fifth of the file, read only when a policy is evaluated); only for a
 * file laid out as planfile_write lays it out (any other is read whole). */
#define PLANFILE_BODIES_AS_TEXT 1u
int planfile_read_flags(struct plan **out, json_t **root_out, const char *path,
                        struct crypt_keys *keys, const char *plan_key, struct planfile_trust *trust,
                        unsigned flags, struct errbuf *err);
/* planfile_read on the file's bytes (path names it in messages). */
int planfile_decode(struct plan **out, json_t **root_out, const char *data, size_t len,
                    const char *path, struct crypt_keys *keys, const char *plan_key,
                    struct planfile_trust *trust, struct errbuf *err);
int planfile_decode_flags(struct plan **out, json_t **root_out, const char *data, size_t len,
                          const char *path, struct crypt_keys *keys, const char *plan_key,
                          struct planfile_trust *trust, unsigned flags, struct errbuf *err);

#endif
