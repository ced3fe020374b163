#include "state/backend_blob.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "providers/arm/arm_clock.h"
#include "util/base64.h"
#include "util/error.h"
#include "util/jsonw.h"
#include "util/log.h"
#include "util/banned.h"

struct blob {
    struct state_backend base;
    struct blob_client *bc;       /* the caller's thread */
    struct blob_client *renew_bc; /* the renewal thread's own handle */
    int lease_seconds;
    struct lease_schedule sched;
    char etag[128];
    int have_read;
    /* lease renewal; the fields below are guarded by mu */
    pthread_t thread;
    int thread_running;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* on CLOCK_MONOTONIC, as arm_clock_real() */
    int stop;
    int64_t granted_ms; /* when the last successful acquire/renew was sent */
    int lost;
    char lost_msg[ERRBUF_MAX];
};

static int64_t now_ms(void)
{
    return arm_clock_now(arm_clock_real());
}

void lease_schedule_compute(struct lease_schedule *out, int lease_seconds, int64_t attempt_ms)
{
    int64_t lease_ms = (int64_t)lease_seconds * 1000;

    out->lost_at = lease_ms - BLOB_LEASE_GUARD_MS;
    out->renew_at = out->lost_at - attempt_ms;
    if (out->renew_at > lease_ms / 3)
        out->renew_at = lease_ms / 3;
    if (out->renew_at < BLOB_LEASE_MIN_RENEW_MS)
        out->renew_at = BLOB_LEASE_MIN_RENEW_MS;
}

/* Marks the lease lost when lost_at passed without a renewal (mu held). */
static void check_deadline(struct blob *b)
{
    int64_t held = now_ms() - b->granted_ms;
    if (b->lost || held < b->sched.lost_at)
        return;
    b->lost = 1;
    snprintf(b->lost_msg, sizeof(b->lost_msg),
             "not renewed %.1f s into its %d s duration, %.1f s before it can lapse",
             (double)held / 1000, b->lease_seconds,
             (double)((int64_t)b->lease_seconds * 1000 - held) / 1000);
    log_msg(LOG_WARN, "lease on '%s' lost: %s", b->base.where, b->lost_msg);
}

static int http_error(struct errbuf *err, const char *what, const struct blob *b,
                      const struct blob_response *r)
{
    return errbuf_set(err, AMLSEC_EHTTP, "%s '%s': HTTP %ld%s%s", what, b->base.where, r->status,
                      r->error_code[0] ? " " : "", r->error_code);
}

/* Lock info as metadata: base64 of the JSON (metadata values are ASCII). */
static int encode_lock(char *out, size_t outsz, const struct lock_info *info)
{
    json_t *obj = lock_info_to_json(info);
    char *text = obj ? jsonw_dumps(obj, JSON_SORT_KEYS | JSON_COMPACT) : NULL;
    struct buf b64;
    int rc = AMLSEC_ENOMEM;

    json_decref(obj);
    buf_init(&b64, 0);
    if (text != NULL && base64_encode(&b64, text, strlen(text)) == 0 && b64.len < outsz) {
        memcpy(out, b64.ptr, b64.len + 1);
        rc = 0;
    }
    buf_release(&b64);
    free(text);
    return rc;
}

static int decode_lock(struct lock_info *out, const char *meta)
{
    struct buf text;
    json_t *obj = NULL;
    int rc = AMLSEC_EPARSE;

    memset(out, 0, sizeof(*out));
    buf_init(&text, 2048);
    if (base64_decode_strict(&text, meta, strlen(meta)) == 0 && text.len > 0)
        obj = json_loadb(text.ptr, text.len, 0, NULL);
    if (obj)
        rc = lock_info_from_json(out, obj);
    json_decref(obj);
    buf_release(&text);
    return rc;
}

static int blob_read(struct state_backend *be, struct buf *out, struct errbuf *err)
{
    struct blob *b = (struct blob *)be;
    struct blob_response r;
    int rc;

    blob_response_init(&r);
    if ((rc = blob_client_get(b->bc, &r, err)) < 0)
        goto out;
    if (r.status == 404) {
        b->have_read = 1;
        b->etag[0] = '\0';
        rc = r.error_code[0] && strcmp(r.error_code, "ContainerNotFound") == 0
                 ? errbuf_set(err, AMLSEC_ENOTFOUND, "the container of '%s' does not exist",
                              be->where)
                 : AMLSEC_ENOTFOUND;
        goto out;
    }
    if (r.status != 200) {
        rc = http_error(err, "cannot read the state blob", b, &r);
        goto out;
    }
    b->have_read = 1;
    snprintf(b->etag, sizeof(b->etag), "%s", r.etag);
    if (r.body.len == 0) {
        rc = AMLSEC_ENOTFOUND; /* created empty by a lock: no state yet */
        goto out;
    }
    if (buf_add(out, r.body.ptr, r.body.len) < 0)
        rc = errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
out:
    blob_response_release(&r);
    return rc;
}

static int check_lease(struct blob *b, struct errbuf *err)
{
    int lost;
    pthread_mutex_lock(&b->mu);
    check_deadline(b);
    lost = b->lost;
    pthread_mutex_unlock(&b->mu);
    if (lost)
        return errbuf_set(err, AMLSEC_ELOCKED, "the lease on '%s' was lost (%s); not writing",
                          b->base.where, b->lost_msg);
    return 0;
}

static int blob_write(struct state_backend *be, const void *data, size_t len, struct errbuf *err)
{
    struct blob *b = (struct blob *)be;
    const char *lease = be->locked ? be->lock.id : NULL;
    char meta[2048];
    struct blob_response r;
    int rc;

    if (be->locked && (rc = check_lease(b, err)) < 0)
        return rc;
    if (be->locked && encode_lock(meta, sizeof(meta), &be->lock) < 0)
        return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    blob_response_init(&r);
    if (b->etag[0]) {
        /* Keep the previous version. */
        if ((rc = blob_client_snapshot(b->bc, lease, &r, err)) < 0)
            goto out;
        if (r.status == 404 || r.status == 412) {
            rc =
                errbuf_set(err, AMLSEC_ECONFLICT,
                           "state blob '%s' changed since it was read; not overwriting", be->where);
            goto out;
        }
        if (r.status != 201) {
            rc = http_error(err, "cannot snapshot the state blob", b, &r);
            goto out;
        }
    }
    rc = blob_client_put(b->bc, data, len, b->etag[0] ? b->etag : NULL, b->etag[0] == '\0', lease,
                         be->locked ? meta : NULL, &r, err);
    if (rc < 0)
        goto out;
    if (r.status == 412 || r.status == 409) {
        if (strncmp(r.error_code, "Lease", 5) == 0)
            rc = errbuf_set(err, AMLSEC_ELOCKED,
                            "state blob '%s' is leased by another run (%s); not writing", be->where,
                            r.error_code);
        else
            rc = errbuf_set(err, AMLSEC_ECONFLICT,
                            "state blob '%s' changed since it was read (ETag mismatch); not "
                            "overwriting",
                            be->where);
        goto out;
    }
    if (r.status != 201) {
        rc = http_error(err, "cannot write the state blob", b, &r);
        goto out;
    }
    snprintf(b->etag, sizeof(b->etag), "%s", r.etag);
    b->have_read = 1;
    rc = 0;
out:
    blob_response_release(&r);
    return rc;
}

static void *renew_main(void *arg)
{
    struct blob *b = arg;
    struct errbuf err = ERRBUF_INIT;
    struct blob_response r;
    char id[STATE_LINEAGE_LEN + 1];

    blob_response_init(&r);
    pthread_mutex_lock(&b->mu);
    memcpy(id, b->base.lock.id, sizeof(id));
    for (;;) {
        int64_t at = b->granted_ms + b->sched.renew_at, sent;
        struct timespec until = {.tv_sec = at / 1000, .tv_nsec = at % 1000 * 1000000};
        int rc = 0;
        while (!b->stop && rc != ETIMEDOUT)
            rc = pthread_cond_timedwait(&b->cv, &b->mu, &until);
        if (b->stop || b->lost)
            break;
        /* the renewal must be answered before the lease counts as lost */
        blob_client_set_deadline(b->renew_bc, b->granted_ms + b->sched.lost_at);
        pthread_mutex_unlock(&b->mu);
        sent = now_ms();
        rc = blob_client_lease(b->renew_bc, "renew", id, NULL, 0, 0, &r, &err);
        pthread_mutex_lock(&b->mu);
        if (b->lost)
            break; /* a writer found the deadline passed: it stays lost */
        if (rc < 0 || r.status != 200) {
            b->lost = 1;
            if (rc < 0)
                snprintf(b->lost_msg, sizeof(b->lost_msg), "%s", err.msg);
            else
                snprintf(b->lost_msg, sizeof(b->lost_msg), "renewal answered HTTP %ld %s", r.status,
                         r.error_code);
            log_msg(LOG_WARN, "lease on '%s' lost: %s", b->base.where, b->lost_msg);
            break;
        }
        b->granted_ms = sent;
        log_msg(LOG_DEBUG, "lease on '%s' renewed", b->base.where);
    }
    pthread_mutex_unlock(&b->mu);
    blob_response_release(&r);
    return NULL;
}

static int blob_try_lock(struct state_backend *be, const struct lock_info *mine,
                         struct lock_info *holder, struct errbuf *err)
{
    struct blob *b = (struct blob *)be;
    struct blob_response r;
    char meta[2048];
    int64_t sent = 0;
    int rc;

    blob_response_init(&r);
    for (int attempt = 0; attempt < 3; attempt++) {
        sent = now_ms();
        if ((rc = blob_client_lease(b->bc, "acquire", NULL, mine->id, b->lease_seconds, 0, &r,
                                    err)) < 0)
            goto out;
        if (r.status != 404)
            break;
        if (strcmp(r.error_code, "ContainerNotFound") == 0) {
            rc = errbuf_set(err, AMLSEC_ENOTFOUND, "the container of '%s' does not exist",
                            be->where);
            goto out;
        }
        /* No blob yet: create an empty one to hold the lease. */
        if ((rc = blob_client_put(b->bc, "", 0, NULL, 1, NULL, NULL, &r, err)) < 0)
            goto out;
        if (r.status != 201 && r.status != 409 && r.status != 412) {
            rc = http_error(err, "cannot create the state blob", b, &r);
            goto out;
        }
    }
    if (r.status == 409) {
        blob_response_release(&r);
        blob_response_init(&r);
        /* The holder records itself just after its lease is granted. */
        for (int i = 0; i < 10; i++) {
            if (blob_client_get_metadata(b->bc, &r, err) == 0 && r.meta_lock[0] &&
                decode_lock(holder, r.meta_lock) == 0)
                break;
            usleep(50 * 1000);
        }
        rc = AMLSEC_ELOCKED;
        goto out;
    }
    if (r.status != 201) {
        rc = http_error(err, "cannot lease the state blob", b, &r);
        goto out;
    }
    if (encode_lock(meta, sizeof(meta), mine) < 0) {
        rc = errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
        goto release;
    }
    if ((rc = blob_client_set_metadata(b->bc, meta, mine->id, &r, err)) < 0)
        goto release;
    if (r.status != 200) {
        rc = http_error(err, "cannot record the lock on the state blob", b, &r);
        goto release;
    }
    b->etag[0] = '\0'; /* metadata changes the ETag: read again under the lock */
    b->have_read = 0;
    pthread_mutex_lock(&b->mu);
    b->stop = 0;
    b->lost = 0;
    b->granted_ms = sent;
    memcpy(be->lock.id, mine->id, sizeof(mine->id));
    pthread_mutex_unlock(&b->mu);
    if (pthread_create(&b->thread, NULL, renew_main, b) != 0) {
        rc = errbuf_set(err, AMLSEC_ERROR, "cannot start the lease renewal thread");
        goto release;
    }
    b->thread_running = 1;
    rc = 0;
    goto out;
release:
    blob_client_lease(b->bc, "release", mine->id, NULL, 0, 0, &r, NULL);
out:
    blob_response_release(&r);
    return rc;
}

static void stop_thread(struct blob *b)
{
    if (!b->thread_running)
        return;
    pthread_mutex_lock(&b->mu);
    b->stop = 1;
    pthread_cond_signal(&b->cv);
    pthread_mutex_unlock(&b->mu);
    pthread_join(b->thread, NULL);
    b->thread_running = 0;
}

static int blob_unlock(struct state_backend *be, struct errbuf *err)
{
    struct blob *b = (struct blob *)be;
    struct blob_response r;
    int rc;

    stop_thread(b);
    blob_response_init(&r);
    if ((rc = blob_client_set_metadata(b->bc, NULL, be->lock.id, &r, err)) < 0)
        goto out;
    if ((rc = blob_client_lease(b->bc, "release", be->lock.id, NULL, 0, 0, &r, err)) < 0)
        goto out;
    if (r.status != 200)
        rc = http_error(err, "cannot release the lease on", b, &r);
out:
    blob_response_release(&r);
    return rc;
}

static int blob_force_unlock(struct state_backend *be, const char *id, struct errbuf *err)
{
    struct blob *b = (struct blob *)be;
    struct blob_response r;
    struct lock_info holder;
    char desc[512];
    int rc;

    blob_response_init(&r);
    if ((rc = blob_client_get_metadata(b->bc, &r, err)) < 0)
        goto out;
    if (r.status == 404) {
        rc = errbuf_set(err, AMLSEC_ENOTFOUND, "state blob '%s' does not exist", be->where);
        goto out;
    }
    if (r.status != 200) {
        rc = http_error(err, "cannot read the lock on", b, &r);
        goto out;
    }
    memset(&holder, 0, sizeof(holder));
    if (r.meta_lock[0])
        decode_lock(&holder, r.meta_lock);
    if (holder.id[0] == '\0') {
        rc = errbuf_set(err, AMLSEC_ENOTFOUND, "state blob '%s' is not locked", be->where);
        goto out;
    }
    if (strcmp(holder.id, id) != 0) {
        lock_info_describe(&holder, desc, sizeof(desc));
        rc = errbuf_set(err, AMLSEC_ECONFLICT,
                        "lock id '%s' does not match the lock on '%s' (held by %s)", id, be->where,
                        desc);
        goto out;
    }
    /* The lease id is the lock id: release it (fails harmlessly when the
     * lease already expired), then clear the recorded holder. */
    if ((rc = blob_client_lease(b->bc, "release", id, NULL, 0, 0, &r, err)) < 0)
        goto out;
    if (r.status != 200 && r.status != 409) {
        rc = http_error(err, "cannot release the lease on", b, &r);
        goto out;
    }
    if ((rc = blob_client_set_metadata(b->bc, NULL, NULL, &r, err)) < 0)
        goto out;
    if (r.status != 200) {
        rc = http_error(err, "cannot clear the lock on", b, &r);
        goto out;
    }
    rc = 0;
out:
    blob_response_release(&r);
    return rc;
}

static void blob_free(struct state_backend *be)
{
    struct blob *b = (struct blob *)be;
    stop_thread(b);
    blob_client_free(b->bc);
    blob_client_free(b->renew_bc);
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->cv);
    free(b->base.where);
    free(b);
}

static const struct state_backend_ops blob_ops = {
    .name = "azurerm",
    .read = blob_read,
    .write = blob_write,
    .try_lock = blob_try_lock,
    .unlock = blob_unlock,
    .force_unlock = blob_force_unlock,
    .free = blob_free,
};

int backend_blob_new(struct state_backend **out, const struct blob_client_opts *opts,
                     int lease_seconds, struct errbuf *err)
{
    struct blob_client_opts renew_opts = *opts;
    pthread_condattr_t ca;
    int64_t attempt_ms;
    struct blob *b;
    int rc;

    *out = NULL;
    if (lease_seconds == 0)
        lease_seconds = BLOB_LEASE_MAX_SECONDS;
    if (lease_seconds < BLOB_LEASE_MIN_SECONDS || lease_seconds > BLOB_LEASE_MAX_SECONDS)
        return errbuf_set(err, AMLSEC_EUSAGE, "lease duration %d s is outside %d..%d",
                          lease_seconds, BLOB_LEASE_MIN_SECONDS, BLOB_LEASE_MAX_SECONDS);
    b = calloc(1, sizeof(*b));
    if (b == NULL)
        return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    pthread_mutex_init(&b->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&b->cv, &ca);
    pthread_condattr_destroy(&ca);
    b->lease_seconds = lease_seconds;
    renew_opts.timeout_ms = BLOB_LEASE_REQUEST_TIMEOUT_MS;
    /* a renewal: perhaps a token refresh, then the Lease Blob request */
    attempt_ms = BLOB_LEASE_REQUEST_TIMEOUT_MS;
    if (opts->token_fn)
        attempt_ms += opts->token_timeout_ms > 0 ? opts->token_timeout_ms : BLOB_TIMEOUT_MS;
    lease_schedule_compute(&b->sched, lease_seconds, attempt_ms);
    b->base.ops = &blob_ops;
    if ((rc = blob_client_new(&b->bc, opts, err)) < 0 ||
        (rc = blob_client_new(&b->renew_bc, &renew_opts, err)) < 0) {
        blob_free(&b->base);
        return rc;
    }
    b->base.where = strdup(blob_client_url(b->bc));
    if (b->base.where == NULL) {
        blob_free(&b->base);
        return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    }
    *out = &b->base;
    return 0;
}
