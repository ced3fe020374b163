/* The Azure Blob backend: the state in one block blob.
 *
 * The lock is a blob lease (60 s by default) whose id is the lock id; a
 * background thread renews it while held (struct lease_schedule), so a
 * killed run's lease simply expires. The holder's struct lock_info is stored
 * in the blob metadata (x-ms-meta-amlseclock, base64 JSON). Writes send
 * If-Match with the ETag of the last read (If-None-Match: * when there was
 * none), so a lost race fails with AMLSEC_ECONFLICT instead of overwriting;
 * the previous version is kept as a blob snapshot before each write. */
#ifndef AMLSEC_STATE_BACKEND_BLOB_H
#define AMLSEC_STATE_BACKEND_BLOB_H

#include <stdint.h>

#include "state/backend.h"
#include "state/blob_client.h"

/* The lease durations Azure accepts (besides infinite, which amlsec never
 * takes: a killed run's lease must expire on its own). */
#define BLOB_LEASE_MIN_SECONDS 15
#define BLOB_LEASE_MAX_SECONDS 60

/* The timeout of one Lease Blob request of the renewal thread. */
#define BLOB_LEASE_REQUEST_TIMEOUT_MS 10000
/* A lease counts as lost this long before the service can let it lapse:
 * room for a write checked just before to reach the service. */
#define BLOB_LEASE_GUARD_MS 2000
/* Renewals never follow each other more closely than this. */
#define BLOB_LEASE_MIN_RENEW_MS 1000

/* When the renewal thread acts, in milliseconds from the moment the last
 * successful acquire or renew request was sent: the service starts the
 * lease's clock no earlier, so the lease lasts at least lease_seconds from
 * there, whatever that request's answer took. attempt_ms bounds one
 * renewal: the Lease Blob request's timeout, plus, with Entra tokens, one
 * token request's (a sign-in that refreshes the token).
 *
 * renew_at is early enough that a renewal taking all of attempt_ms still
 * ends by lost_at; at most a third of the lease (so a healthy lease is
 * renewed at least twice before it could lapse), at least
 * BLOB_LEASE_MIN_RENEW_MS (when even that cannot fit, as with a 15 s lease
 * and Entra tokens, lost_at is what protects the state). A renewal is given
 * only the time left before lost_at. From lost_at on, a lease that was not
 * renewed counts as lost: writes fail with AMLSEC_ELOCKED (naming the
 * lease) instead of being sent while it may lapse. */
struct lease_schedule {
    int64_t renew_at;
    int64_t lost_at;
};

void lease_schedule_compute(struct lease_schedule *out, int lease_seconds, int64_t attempt_ms);

/* lease_seconds: 0 means BLOB_LEASE_MAX_SECONDS; otherwise it must lie in
 * BLOB_LEASE_MIN_SECONDS..BLOB_LEASE_MAX_SECONDS. */
int backend_blob_new(struct state_backend **out, const struct blob_client_opts *opts,
                     int lease_seconds, struct errbuf *err);

#endif
