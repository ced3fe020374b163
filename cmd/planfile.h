/* Saved plans (`plan -out FILE`, `apply FILE`, `show FILE`).
 *
 * A plan file is the unredacted plan JSON (engine/plan.h) in an envelope
 * with its SHA-256:  {"amlsec_plan":1,"sha256":"<hex>","plan":{...}}
 * When state encryption is configured the whole file is sealed with the
 * state keys (AES-256-GCM, which also authenticates it); a plan holding
 * sensitive values is refused without encryption, because it would put
 * secrets in an unencrypted file. Reading checks the envelope and names
 * what is wrong: tampered (checksum), not a plan, wrong key. */
#ifndef AMLSEC_CMD_PLANFILE_H
#define AMLSEC_CMD_PLANFILE_H

#include <jansson.h>

#include "engine/plan.h"
#include "state/crypt.h"
#include "util/errbuf.h"

int planfile_write(const char *path, const struct plan *plan, struct crypt_keys *keys,
                   struct errbuf *err);
/* *root_out (may be NULL) receives the inner plan JSON (new reference). */
int planfile_read(struct plan **out, json_t **root_out, const char *path, struct crypt_keys *keys,
                  struct errbuf *err);
/* planfile_read on the file's bytes (path names it in messages). */
int planfile_decode(struct plan **out, json_t **root_out, const char *data, size_t len,
                    const char *path, struct crypt_keys *keys, struct errbuf *err);

#endif
