#include "state/backend.h"

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/error.h"
#include "util/log.h"
#include "util/banned.h"

static void copy_str(char *dst, size_t dstsz, const char *src)
{
    size_t n = src ? strlen(src) : 0;
    if (n >= dstsz)
        n = dstsz - 1;
    if (n)
        memcpy(dst, src, n);
    dst[n] = '\0';
}

int lock_info_fill(struct lock_info *info, const char *operation, struct errbuf *err)
{
    char host[128] = "unknown";
    const char *user = getenv("USER");
    struct passwd *pw;
    struct tm tm;
    time_t now = time(NULL);
    int rc;

    memset(info, 0, sizeof(*info));
    if ((rc = state_uuid(info->id, err)) < 0)
        return rc;
    if (user == NULL || *user == '\0') {
        pw = getpwuid(getuid());
        user = pw ? pw->pw_name : "unknown";
    }
    if (gethostname(host, sizeof(host) - 1) < 0)
        copy_str(host, sizeof(host), "unknown");
    host[sizeof(host) - 1] = '\0';
    snprintf(info->who, sizeof(info->who), "%s@%s", user, host);
    copy_str(info->operation, sizeof(info->operation), operation);
    gmtime_r(&now, &tm);
    strftime(info->created, sizeof(info->created), "%Y-%m-%dT%H:%M:%SZ", &tm);
    info->pid = (long)getpid();
    copy_str(info->version, sizeof(info->version), AMLSEC_VERSION);
    return 0;
}

void lock_info_describe(const struct lock_info *info, char *out, size_t outsz)
{
    if (info->id[0] == '\0') {
        snprintf(out, outsz, "an unknown holder");
        return;
    }
    snprintf(out, outsz, "%s (pid %ld) for '%s' since %s, lock id %s", info->who, info->pid,
             info->operation, info->created, info->id);
}

json_t *lock_info_to_json(const struct lock_info *info)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:I, s:s}", "id", info->id, "who", info->who,
                     "operation", info->operation, "created", info->created, "pid",
                     (json_int_t)info->pid, "version", info->version);
}

static void get_field(char *dst, size_t dstsz, const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    copy_str(dst, dstsz, json_is_string(v) ? json_string_value(v) : "");
}

int lock_info_from_json(struct lock_info *out, const json_t *obj)
{
    const json_t *pid = json_object_get(obj, "pid");
    memset(out, 0, sizeof(*out));
    if (!json_is_object(obj) || !json_is_string(json_object_get(obj, "id")))
        return AMLSEC_EPARSE;
    get_field(out->id, sizeof(out->id), obj, "id");
    get_field(out->who, sizeof(out->who), obj, "who");
    get_field(out->operation, sizeof(out->operation), obj, "operation");
    get_field(out->created, sizeof(out->created), obj, "created");
    get_field(out->version, sizeof(out->version), obj, "version");
    out->pid = json_is_integer(pid) ? (long)json_integer_value(pid) : 0;
    return 0;
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int state_backend_lock(struct state_backend *be, const char *operation, long timeout_ms,
                       struct lock_info *holder, struct errbuf *err)
{
    struct lock_info mine, seen;
    long deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    char desc[512];
    int rc;

    if (be->locked)
        BUG("state lock taken twice");
    if ((rc = lock_info_fill(&mine, operation, err)) < 0)
        return rc;
    for (;;) {
        memset(&seen, 0, sizeof(seen));
        rc = be->ops->try_lock(be, &mine, &seen, err);
        if (rc == 0) {
            be->lock = mine;
            be->locked = 1;
            log_msg(LOG_DEBUG, "state lock %s taken on '%s'", mine.id, be->where);
            return 0;
        }
        if (rc != AMLSEC_ELOCKED)
            return rc;
        if (now_ms() >= deadline)
            break;
        usleep(100 * 1000);
    }
    if (holder)
        *holder = seen;
    lock_info_describe(&seen, desc, sizeof(desc));
    if (seen.id[0])
        return errbuf_set(err, AMLSEC_ELOCKED,
                          "state '%s' is locked by %s; wait, use -lock-timeout, or run "
                          "'amlsec force-unlock %s' if that run is gone",
                          be->where, desc, seen.id);
    return errbuf_set(err, AMLSEC_ELOCKED, "state '%s' is locked by %s", be->where, desc);
}

int state_backend_unlock(struct state_backend *be, struct errbuf *err)
{
    int rc;
    if (!be->locked)
        return 0;
    rc = be->ops->unlock(be, err);
    be->locked = 0;
    memset(&be->lock, 0, sizeof(be->lock));
    return rc;
}

int state_backend_force_unlock(struct state_backend *be, const char *id, struct errbuf *err)
{
    if (id == NULL || strlen(id) != STATE_LINEAGE_LEN)
        return errbuf_set(err, AMLSEC_EUSAGE, "'%s' is not a lock id (a uuid)", id ? id : "");
    return be->ops->force_unlock(be, id, err);
}

int state_backend_load(struct state *out, int *existed, struct state_backend *be,
                       struct crypt_keys *keys, struct errbuf *err)
{
    struct buf raw, plain;
    const char *data;
    size_t len;
    int rc;

    *existed = 0;
    buf_init(&raw, STATE_MAX_BYTES);
    buf_init(&plain, STATE_MAX_BYTES);
    rc = be->ops->read(be, &raw, err);
    if (rc == AMLSEC_ENOTFOUND) {
        rc = state_init(out, err);
        goto out;
    }
    if (rc < 0)
        goto out;
    data = raw.ptr;
    len = raw.len;
    if (crypt_is_sealed(raw.ptr, raw.len)) {
        int fallback = 0;
        if ((rc = crypt_open(&plain, keys, raw.ptr, raw.len, be->where, &fallback, err)) < 0)
            goto out;
        if (fallback)
            log_msg(LOG_INFO,
                    "state '%s' opened with the fallback key; it will be written "
                    "with the new key",
                    be->where);
        data = plain.ptr;
        len = plain.len;
    }
    rc = state_parse(out, data, len, be->where, err);
    if (rc == 0) {
        *existed = 1;
        be->stored_bytes = raw.len;
    }
out:
    if (plain.len)
        memset(plain.ptr, 0, plain.len);
    buf_release(&plain);
    buf_release(&raw);
    return rc;
}

int state_backend_write_state(struct state_backend *be, const struct state *st,
                              struct crypt_keys *keys, struct errbuf *err)
{
    struct buf plain, sealed;
    int rc;

    buf_init(&plain, STATE_MAX_BYTES);
    buf_init(&sealed, STATE_MAX_BYTES);
    if ((rc = state_serialize(st, &plain, err)) < 0)
        goto out;
    if (crypt_keys_enabled(keys)) {
        if ((rc = crypt_seal(&sealed, keys, plain.ptr, plain.len, err)) < 0)
            goto out;
        rc = be->ops->write(be, sealed.ptr, sealed.len, err);
        if (rc == 0)
            be->stored_bytes = sealed.len;
    } else {
        rc = be->ops->write(be, plain.ptr, plain.len, err);
        if (rc == 0)
            be->stored_bytes = plain.len;
    }
out:
    if (plain.len)
        memset(plain.ptr, 0, plain.len);
    buf_release(&plain);
    buf_release(&sealed);
    return rc;
}

int state_backend_save(struct state_backend *be, struct state *st, struct crypt_keys *keys,
                       struct errbuf *err)
{
    int rc;
    state_batch_flush(st); /* in address order, as the file keeps it */
    st->serial++;
    rc = state_backend_write_state(be, st, keys, err);
    if (rc < 0)
        st->serial--;
    return rc;
}

void state_backend_free(struct state_backend *be)
{
    struct errbuf ignored = ERRBUF_INIT;
    if (be == NULL)
        return;
    if (be->locked)
        state_backend_unlock(be, &ignored);
    be->ops->free(be);
}
