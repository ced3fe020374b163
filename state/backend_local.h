/* The local backend: the state in a file (default .amlsec/state.json).
 *
 * Writes go through file_write_atomic (temporary file, fsync, rename, fsync
 * of the directory; mode 0600). Before each write the current file is
 * hard-linked to "<path>.backup" (atomically, through a temporary name), so
 * the previous version survives.
 *
 * The lock is flock(2) on "<path>.lock", which also records the holder as
 * JSON (struct lock_info). The kernel drops an flock when its holder dies,
 * so a killed run never leaves the state locked. force-unlock removes the
 * lock file when its recorded id matches; the former holder notices (its
 * locked file is no longer the one at the path) and refuses to write. */
#ifndef AMLSEC_STATE_BACKEND_LOCAL_H
#define AMLSEC_STATE_BACKEND_LOCAL_H

#include "state/backend.h"

#define BACKEND_LOCAL_DEFAULT_PATH ".amlsec/state.json"

/* path NULL means the default. The directory is created (0700) on the
 * first lock or write, not on reads. */
int backend_local_new(struct state_backend **out, const char *path, struct errbuf *err);

#endif
