/* The Azure Blob backend: the state in one block blob.
 *
 * The lock is a blob lease (60 s by default) whose id is the lock id; a
 * background thread renews it every third of its duration while held, so a
 * killed run's lease simply expires. The holder's struct lock_info is stored
 * in the blob metadata (x-ms-meta-amlseclock, base64 JSON). Writes send
 * If-Match with the ETag of the last read (If-None-Match: * when there was
 * none), so a lost race fails with AMLSEC_ECONFLICT instead of overwriting;
 * the previous version is kept as a blob snapshot before each write. */
#ifndef AMLSEC_STATE_BACKEND_BLOB_H
#define AMLSEC_STATE_BACKEND_BLOB_H

#include "state/backend.h"
#include "state/blob_client.h"

/* The lease durations Azure accepts (besides infinite, which amlsec never
 * takes: a killed run's lease must expire on its own). */
#define BLOB_LEASE_MIN_SECONDS 15
#define BLOB_LEASE_MAX_SECONDS 60

/* lease_seconds: 0 means BLOB_LEASE_MAX_SECONDS; otherwise it must lie in
 * BLOB_LEASE_MIN_SECONDS..BLOB_LEASE_MAX_SECONDS. */
int backend_blob_new(struct state_backend **out, const struct blob_client_opts *opts,
                     int lease_seconds, struct errbuf *err);

#endif
