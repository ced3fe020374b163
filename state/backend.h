/* Where the state lives: a backend stores opaque bytes (the serialized,
 * possibly sealed, document) and provides a lock. Two implementations:
 * backend_local.h (a file plus an flock'd lock file) and backend_blob.h
 * (an Azure blob with a renewable lease). state_backend_load/_save add the
 * document layer: parsing, checksums, the serial and encryption at rest. */
#ifndef AMLSEC_STATE_BACKEND_H
#define AMLSEC_STATE_BACKEND_H

#include <stddef.h>

#include "state/crypt.h"
#include "state/state.h"
#include "util/buf.h"
#include "util/errbuf.h"

/* Who holds a lock, recorded by the holder and shown to whoever waits. */
struct lock_info {
    char id[STATE_LINEAGE_LEN + 1]; /* random uuid; `amlsec force-unlock ID` */
    char who[256];                  /* "user@host" */
    char operation[64];             /* "apply", "state rm", ... */
    char created[32];               /* RFC 3339 UTC */
    long pid;
    char version[32]; /* amlsec version of the holder */
};

struct state_backend;

struct state_backend_ops {
    const char *name; /* "local", "azurerm" */
    /* Appends the stored bytes to out; AMLSEC_ENOTFOUND when nothing is
     * stored yet (an empty blob counts as nothing). */
    int (*read)(struct state_backend *be, struct buf *out, struct errbuf *err);
    /* Replaces the stored bytes, keeping the previous version (a backup file
     * or a snapshot). Fails with AMLSEC_ECONFLICT if the stored bytes changed
     * since the last read by this backend, and AMLSEC_ELOCKED if this process
     * held the lock and lost it. */
    int (*write)(struct state_backend *be, const void *data, size_t len, struct errbuf *err);
    /* One attempt: 0 and the lock is held as `mine`, or AMLSEC_ELOCKED with
     * the holder's info in *holder (as far as known). */
    int (*try_lock)(struct state_backend *be, const struct lock_info *mine,
                    struct lock_info *holder, struct errbuf *err);
    int (*unlock)(struct state_backend *be, struct errbuf *err);
    /* Removes a lock held by someone else, only when its id is `id`. */
    int (*force_unlock)(struct state_backend *be, const char *id, struct errbuf *err);
    void (*free)(struct state_backend *be);
};

struct state_backend {
    const struct state_backend_ops *ops;
    char *where; /* path or URL, for messages (never carries a secret) */
    int locked;
    struct lock_info lock; /* ours, while locked */
    size_t stored_bytes;   /* the stored document's size, as last read or written */
};

/* Fills info for this process (new random id, user@host, pid, now). */
int lock_info_fill(struct lock_info *info, const char *operation, struct errbuf *err);
/* "user@host (pid N) for 'apply' since T, lock id ID" */
void lock_info_describe(const struct lock_info *info, char *out, size_t outsz);
/* JSON round trip (lock files, blob metadata). The json_t is new. */
json_t *lock_info_to_json(const struct lock_info *info);
int lock_info_from_json(struct lock_info *out, const json_t *obj);

/* Takes the lock for operation, retrying every 100 ms until timeout_ms has
 * passed (0: one attempt). On AMLSEC_ELOCKED the message names the holder
 * and how to force-unlock; *holder (may be NULL) receives its info. */
int state_backend_lock(struct state_backend *be, const char *operation, long timeout_ms,
                       struct lock_info *holder, struct errbuf *err);
int state_backend_unlock(struct state_backend *be, struct errbuf *err);
int state_backend_force_unlock(struct state_backend *be, const char *id, struct errbuf *err);

/* Reads and parses the state. keys may be NULL (no encryption configured).
 * When nothing is stored yet, *out is a new empty state and *existed = 0.
 * Any damage (truncation, checksum, wrong key) fails and leaves the stored
 * bytes alone. */
int state_backend_load(struct state *out, int *existed, struct state_backend *be,
                       struct crypt_keys *keys, struct errbuf *err);

/* Increments st->serial, serializes, seals when keys has a write key, and
 * writes. On failure st->serial is restored. */
int state_backend_save(struct state_backend *be, struct state *st, struct crypt_keys *keys,
                       struct errbuf *err);

/* Writes st exactly as given (serial untouched): `state push`. */
int state_backend_write_state(struct state_backend *be, const struct state *st,
                              struct crypt_keys *keys, struct errbuf *err);

void state_backend_free(struct state_backend *be);

#endif
