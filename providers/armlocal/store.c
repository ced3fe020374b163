/* armlocal's store: every resource keyed by its lowercased ARM id, plus
 * operations and soft-deleted names, in one JSON document, persisted as a
 * snapshot and an append-only log of changed records (see "persistence"
 * below). Callers hold al->mu. */
#include "providers/armlocal/al_internal.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/error.h"
#include "util/fileio.h"
#include "util/jsonw.h"
#include "util/log.h"
#include "util/banned.h"

#define STATE_FORMAT 1

static void index_rebuild(struct armlocal *al);

static json_t *state_new(void)
{
    return json_pack("{s:i, s:{}, s:{}, s:{}, s:{}, s:{}, s:{}, s:I}", "format", STATE_FORMAT,
                     "resources", "ops", "deletedWorkspaces", "deletedVaults", "deletedVaultData",
                     "deletedKeys", "counter", (json_int_t)0);
}

/* --- persistence: a snapshot plus an append-only log ---
 *
 * state_path (armlocal.json) holds the whole store as of its generation
 * ("logGeneration"; absent in stores written before the log, meaning 0).
 * log_path (armlocal.log) starts with a header naming the generation it
 * belongs to, then holds batches: one JSON record per line, each
 * {"s": section, "k": key, "v": value} (no "v": deleted; no "k": the whole
 * section), closed by {"commit": n}. A flush appends the records marked
 * changed since the last one and fdatasyncs, so its cost follows the
 * change, not the store. When the log outgrows the snapshot by
 * COMPACT_FACTOR (and is past COMPACT_MIN_BYTES), at a clean stop, and
 * after replaying a log at start, a new snapshot (next generation) is
 * written atomically and the log replaced by an empty one: a crash in
 * between leaves a log of the old generation, which the next start
 * ignores because the snapshot already holds it. At start, batches are
 * replayed up to the last complete commit; a torn or unreadable tail is
 * ignored with a warning. */

#define LOG_FORMAT 1
#define COMPACT_FACTOR 2
#define COMPACT_MIN_BYTES ((size_t)256 * 1024)
#define LOG_CHECK_ENV "AMLSEC_ARMLOCAL_LOG_CHECK"

static void dirty_clear(struct armlocal *al)
{
    if (al->dirty_keys == NULL)
        al->dirty_keys = json_object();
    json_object_clear(al->dirty_keys);
}

void al_store_touch(struct armlocal *al, const char *section, const char *key)
{
    json_t *at;
    al->generation++;
    if (al->state_path == NULL)
        return;
    if (al->dirty_keys == NULL)
        al->dirty_keys = json_object();
    if ((at = json_object_get(al->dirty_keys, section)) == NULL)
        json_object_set_new(al->dirty_keys, section, at = json_object());
    json_object_set_new(at, key, json_true());
}

void al_rec_touch(struct armlocal *al, const char *id)
{
    char key[2048];
    al_lower(key, id, sizeof(key));
    al_store_touch(al, "resources", key);
}

/* Applies one log record to doc; -1 when it is not one. */
static int record_apply(json_t *doc, json_t *rec)
{
    const char *s = json_string_value(json_object_get(rec, "s"));
    json_t *k = json_object_get(rec, "k"), *v = json_object_get(rec, "v"), *sec;
    if (s == NULL || (k && !json_is_string(k)))
        return -1;
    if (k == NULL) {
        if (v)
            json_object_set(doc, s, v);
        else
            json_object_del(doc, s);
        return 0;
    }
    if (!json_is_object(sec = json_object_get(doc, s)))
        json_object_set_new(doc, s, sec = json_object());
    if (v)
        json_object_set(sec, json_string_value(k), v);
    else
        json_object_del(sec, json_string_value(k));
    return 0;
}

static int log_record(struct buf *b, json_t *rec)
{
    char *line = jsonw_dumps(rec, JSON_COMPACT | JSON_ENCODE_ANY);
    int rc;
    json_decref(rec);
    if (line == NULL)
        return AMLSEC_ENOMEM;
    rc = buf_adds(b, line);
    free(line);
    return rc < 0 ? rc : buf_addch(b, '\n');
}

/* Reads log_path and replays its batches of generation al->log_gen into
 * al->state. *good: the length of the log's valid part, which later
 * batches are appended after (0: the log is missing or must be replaced:
 * another generation, an unreadable header). *len: its whole length. */
static int log_replay(struct armlocal *al, size_t *goodp, size_t *lenp, struct errbuf *err)
{
    struct buf b;
    json_t *pending = NULL, *h;
    size_t off, good, hlen, nrec = 0;
    char *nl;
    int rc;

    *goodp = *lenp = 0;
    buf_init(&b, (size_t)1 << 31);
    rc = file_read_all(&b, al->log_path, (size_t)1 << 31, err);
    if (rc == AMLSEC_ENOTFOUND) {
        errbuf_clear(err);
        buf_release(&b);
        return 0;
    }
    if (rc < 0) {
        buf_release(&b);
        return rc;
    }
    nl = b.len ? memchr(b.ptr, '\n', b.len) : NULL;
    h = nl ? json_loadb(b.ptr, (size_t)(nl - b.ptr), 0, NULL) : NULL;
    if (h == NULL || json_integer_value(json_object_get(h, "armlocalLog")) != LOG_FORMAT) {
        log_msg(LOG_WARN, "armlocal: ignoring '%s': its header is %s", al->log_path,
                h ? "of an unknown format" : "torn or unreadable");
        json_decref(h);
        buf_release(&b);
        al->persist.torn++;
        return 0;
    }
    if ((uint64_t)json_integer_value(json_object_get(h, "generation")) != al->log_gen) {
        log_msg(LOG_INFO, "armlocal: ignoring '%s': the snapshot already holds it", al->log_path);
        json_decref(h);
        buf_release(&b);
        return 0;
    }
    json_decref(h);
    pending = json_array();
    off = good = hlen = (size_t)(nl - b.ptr) + 1;
    while (off < b.len) {
        json_t *rec;
        nl = memchr(b.ptr + off, '\n', b.len - off);
        rec = nl ? json_loadb(b.ptr + off, (size_t)(nl - (b.ptr + off)), 0, NULL) : NULL;
        if (!json_is_object(rec)) {
            json_decref(rec);
            break;
        }
        off = (size_t)(nl - b.ptr) + 1;
        if (json_object_get(rec, "commit") == NULL) {
            json_array_append_new(pending, rec);
            continue;
        }
        json_decref(rec);
        for (size_t i = 0; i < json_array_size(pending); i++)
            if (record_apply(al->state, json_array_get(pending, i)) < 0)
                log_msg(LOG_WARN, "armlocal: '%s': skipping a record that is not one (byte %zu)",
                        al->log_path, good);
        nrec += json_array_size(pending);
        json_array_clear(pending);
        good = off;
    }
    if (good < b.len) {
        log_msg(LOG_WARN,
                "armlocal: '%s': ignoring its last %zu bytes (a batch cut short by a crash, "
                "never acknowledged); the %zu records before them were replayed",
                al->log_path, b.len - good, nrec);
        al->persist.torn++;
    }
    al->persist.replayed += nrec;
    *goodp = good;
    *lenp = b.len;
    al->log_bytes = good - hlen;
    json_decref(pending);
    buf_release(&b);
    return 0;
}

/* Replaces the log with an empty one of generation gen and opens it for
 * appending; *written: the bytes it wrote. Returns the fd or -1. Only one
 * flush runs at a time, with or without mu. */
static int log_create(struct armlocal *al, uint64_t gen, size_t *written)
{
    struct errbuf err = ERRBUF_INIT;
    char header[96];
    int hn = snprintf(header, sizeof(header), "{\"armlocalLog\":%d,\"generation\":%llu}\n",
                      LOG_FORMAT, (unsigned long long)gen);
    int fd;
    if (file_write_atomic(al->log_path, header, (size_t)hn, 0600, &err) < 0) {
        log_msg(LOG_ERROR, "armlocal: %s", err.msg);
        return -1;
    }
    if ((fd = open(al->log_path, O_WRONLY | O_APPEND | O_CLOEXEC)) < 0) {
        log_msg(LOG_ERROR, "armlocal: cannot open '%s': %s", al->log_path, strerror(errno));
        return -1;
    }
    *written = (size_t)hn;
    return fd;
}

int al_store_load(struct armlocal *al, struct errbuf *err)
{
    struct buf b;
    json_error_t je;
    json_t *doc;
    size_t n;
    size_t good = 0, len = 0;
    int rc;

    al->state = state_new();
    dirty_clear(al);
    index_rebuild(al);
    if (al->state_path == NULL)
        return 0;
    n = strlen(al->state_path);
    if ((al->log_path = malloc(n + 8)) == NULL)
        return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    snprintf(al->log_path, n + 8, "%.*s.log",
             (int)(n > 5 && strcmp(al->state_path + n - 5, ".json") == 0 ? n - 5 : n),
             al->state_path);
    buf_init(&b, (size_t)1 << 30);
    rc = file_read_all(&b, al->state_path, (size_t)1 << 30, err);
    if (rc == AMLSEC_ENOTFOUND) {
        errbuf_clear(err);
    } else if (rc < 0) {
        buf_release(&b);
        return rc;
    } else {
        doc = json_loadb(b.ptr, b.len, 0, &je);
        if (doc == NULL || !json_is_object(doc) ||
            json_integer_value(json_object_get(doc, "format")) != STATE_FORMAT) {
            json_decref(doc);
            buf_release(&b);
            return errbuf_set(err, AMLSEC_ECORRUPT, "local cloud state '%s' is not readable: %s",
                              al->state_path, doc ? "unknown format" : je.text);
        }
        al->snap_bytes = b.len;
        al->log_gen = (uint64_t)json_integer_value(json_object_get(doc, "logGeneration"));
        json_object_del(doc, "logGeneration");
        json_object_update_missing(doc, al->state);
        json_decref(al->state);
        al->state = doc;
    }
    buf_release(&b);
    if ((rc = log_replay(al, &good, &len, err)) < 0)
        return rc;
    al->logged_counter = json_integer_value(json_object_get(al->state, "counter"));
    index_rebuild(al);
    if (getenv(LOG_CHECK_ENV) != NULL && (al->log_shadow = json_deep_copy(al->state)) == NULL)
        return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    /* Nothing is written at start (a read-only run leaves the files as they
     * were): later batches go after the log's valid part, cut off at the
     * first flush when a torn tail follows it; a missing or stale log is
     * replaced at the first flush. */
    if (good > 0 && (al->log_fd = open(al->log_path, O_WRONLY | O_APPEND | O_CLOEXEC)) >= 0)
        al->log_cut = good < len ? good : 0;
    else
        al->log_bytes = 0;
    return 0;
}

/* One flush's work: prepared under mu, written with or without it. */
struct flush_job {
    struct buf text;
    int compact;
    uint64_t gen;
    size_t nrec;
    int new_log;       /* the log is missing or stale: write a new one first */
    size_t cut;        /* cut the log to this length first (a torn tail); 0: no */
    int fd;            /* the new log (after a compaction, or new_log) */
    size_t header_len; /* its header */
};

/* AMLSEC_ARMLOCAL_LOG_CHECK: the files must hold exactly the store. A
 * difference is a change made without al_store_touch: name it and abort
 * (a test-only check). */
static void log_check(struct armlocal *al)
{
    const char *s, *k;
    json_t *v, *w, *x;
    json_object_foreach(al->state, s, v)
    {
        w = json_object_get(al->log_shadow, s);
        if (json_equal(v, w) || (w == NULL && json_is_object(v) && json_object_size(v) == 0))
            continue; /* a section made on first use, still empty */
        if (json_is_object(v) && json_is_object(w)) {
            json_object_foreach(v, k, x)
            {
                if (!json_equal(x, json_object_get(w, k))) {
                    log_msg(LOG_ERROR, "armlocal: the store log missed a change to %s '%s'", s, k);
                    abort();
                }
            }
            json_object_foreach(w, k, x)
            {
                if (json_object_get(v, k) == NULL) {
                    log_msg(LOG_ERROR, "armlocal: the store log missed the deletion of %s '%s'", s,
                            k);
                    abort();
                }
            }
        }
        log_msg(LOG_ERROR, "armlocal: the store log missed a change to '%s'", s);
        abort();
    }
    json_object_foreach(al->log_shadow, s, v)
    {
        if (json_object_get(al->state, s) == NULL) {
            log_msg(LOG_ERROR, "armlocal: the store log missed the deletion of '%s'", s);
            abort();
        }
    }
}

/* Under mu: decides between appending the changed records and writing a
 * snapshot, and builds the text. Clears dirty. */
static int flush_prepare(struct armlocal *al, struct flush_job *j)
{
    const char *s, *k;
    json_t *keys, *one;
    json_int_t counter = json_integer_value(json_object_get(al->state, "counter"));
    int rc = 0;

    memset(j, 0, sizeof(*j));
    j->fd = -1;
    buf_init(&j->text, (size_t)1 << 31);
    json_object_foreach(al->dirty_keys, s, keys)
    {
        json_t *sec = json_object_get(al->state, s);
        json_object_foreach(keys, k, one)
        {
            json_t *v = json_object_get(sec, k);
            json_t *rec = v ? json_pack("{s:s, s:s, s:O}", "s", s, "k", k, "v", v)
                            : json_pack("{s:s, s:s}", "s", s, "k", k);
            if (rec == NULL || (rc = log_record(&j->text, rec)) < 0)
                goto fail;
            j->nrec++;
        }
    }
    if (counter != al->logged_counter) {
        if ((rc = log_record(&j->text, json_pack("{s:s, s:I}", "s", "counter", "v", counter))) < 0)
            goto fail;
        j->nrec++;
    }
    if ((rc = log_record(&j->text, json_pack("{s:I}", "commit", (json_int_t)(al->log_seq + 1)))) <
        0)
        goto fail;
    j->new_log = al->log_fd < 0;
    j->cut = al->log_cut;
    j->compact =
        al->need_compact || (al->log_bytes + j->text.len > COMPACT_FACTOR * al->snap_bytes &&
                             al->log_bytes + j->text.len > COMPACT_MIN_BYTES);
    if (al->log_shadow) {
        /* apply the batch as a restart would read it */
        for (size_t off = 0; off < j->text.len;) {
            char *nl = memchr(j->text.ptr + off, '\n', j->text.len - off);
            json_t *rec =
                json_loadb(j->text.ptr + off, (size_t)(nl - (j->text.ptr + off)), 0, NULL);
            if (json_object_get(rec, "commit") == NULL)
                record_apply(al->log_shadow, rec);
            json_decref(rec);
            off = (size_t)(nl - j->text.ptr) + 1;
        }
        log_check(al);
    }
    if (j->compact) {
        char *text;
        j->gen = al->log_gen + 1;
        json_object_set_new(al->state, "logGeneration", json_integer((json_int_t)j->gen));
        text = jsonw_dumps(al->state, JSON_COMPACT);
        json_object_del(al->state, "logGeneration");
        buf_reset(&j->text);
        j->nrec = 0;
        if (text == NULL || (rc = buf_adds(&j->text, text)) < 0) {
            free(text);
            rc = AMLSEC_ENOMEM;
            goto fail;
        }
        free(text);
    }
    al->logged_counter = counter;
    dirty_clear(al);
    al->dirty = 0;
    return 0;
fail:
    buf_release(&j->text);
    return rc < 0 ? rc : AMLSEC_ENOMEM;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* With or without mu (only one flush runs at a time): writes the job. */
static int flush_commit(struct armlocal *al, struct flush_job *j)
{
    struct errbuf err = ERRBUF_INIT;
    int rc;
    if (!j->compact) {
        int fd = al->log_fd;
        if (j->new_log && (fd = j->fd = log_create(al, al->log_gen, &j->header_len)) < 0)
            return AMLSEC_EIO;
        if (j->cut > 0 && ftruncate(fd, (off_t)j->cut) < 0) {
            log_msg(LOG_ERROR, "armlocal: cannot cut the torn tail of '%s': %s", al->log_path,
                    strerror(errno));
            return AMLSEC_EIO;
        }
        if (write_all(fd, j->text.ptr, j->text.len) < 0 || fdatasync(fd) < 0) {
            log_msg(LOG_ERROR, "armlocal: cannot append to '%s': %s", al->log_path,
                    strerror(errno));
            return AMLSEC_EIO;
        }
        return 0;
    }
    if ((rc = file_write_atomic(al->state_path, j->text.ptr, j->text.len, 0600, &err)) < 0) {
        log_msg(LOG_ERROR, "armlocal: %s", err.msg);
        return rc;
    }
    if ((j->fd = log_create(al, j->gen, &j->header_len)) < 0)
        return AMLSEC_EIO;
    return 0;
}

/* Under mu: records the outcome. A failed write makes the next flush
 * write a snapshot (the log may end in a torn batch). */
static void flush_finish(struct armlocal *al, struct flush_job *j, int rc)
{
    if (rc < 0) {
        if (j->fd >= 0 && !j->compact)
            close(j->fd);
        al->need_compact = 1;
        al->dirty = 1;
    } else if (j->compact) {
        al->log_cut = 0;
        if (al->log_fd >= 0)
            close(al->log_fd);
        al->log_fd = j->fd;
        al->log_gen = j->gen;
        al->log_seq = 0;
        al->log_bytes = 0;
        al->snap_bytes = j->text.len;
        al->need_compact = 0;
        al->persist.compactions++;
        al->persist.bytes_written += j->text.len + j->header_len;
    } else {
        if (j->new_log) {
            al->log_fd = j->fd;
            al->log_bytes = 0;
            al->persist.bytes_written += j->header_len;
        }
        al->log_cut = 0;
        al->log_seq++;
        al->log_bytes += j->text.len;
        al->persist.flushes++;
        al->persist.records += j->nrec;
        al->persist.bytes_written += j->text.len;
    }
    buf_release(&j->text);
}

int al_store_flush(struct armlocal *al)
{
    struct flush_job j;
    int rc;
    if (al->state_path == NULL || !al->dirty)
        return 0;
    if ((rc = flush_prepare(al, &j)) < 0)
        return rc;
    rc = flush_commit(al, &j);
    flush_finish(al, &j, rc);
    return rc;
}

int al_store_save(struct armlocal *al)
{
    if (al->state_path == NULL)
        return 0;
    al->dirty = 1;
    if (al->opts.flush_ms == 0 || !al->flusher_running)
        return al_store_flush(al);
    pthread_cond_signal(&al->flush_cond);
    return 0;
}

/* Group commit: changes made within flush_ms of each other share one
 * batch. The batch is built under the lock and written outside it, so
 * requests are not held up by fsync. */
static void *flusher_main(void *arg)
{
    struct armlocal *al = arg;
    pthread_mutex_lock(&al->mu);
    while (!al->stopping) {
        struct flush_job j;
        int rc;
        if (!al->dirty) {
            pthread_cond_wait(&al->flush_cond, &al->mu);
            continue;
        }
        {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += (long)(al->opts.flush_ms % 1000) * 1000000L;
            ts.tv_sec += al->opts.flush_ms / 1000 + ts.tv_nsec / 1000000000L;
            ts.tv_nsec %= 1000000000L;
            while (!al->stopping && pthread_cond_timedwait(&al->flush_cond, &al->mu, &ts) == 0)
                ;
        }
        if (flush_prepare(al, &j) < 0)
            continue;
        pthread_mutex_unlock(&al->mu);
        rc = flush_commit(al, &j);
        pthread_mutex_lock(&al->mu);
        flush_finish(al, &j, rc);
    }
    pthread_mutex_unlock(&al->mu);
    return NULL;
}

int al_flusher_start(struct armlocal *al, struct errbuf *err)
{
    if (al->state_path == NULL || al->opts.flush_ms == 0)
        return 0;
    if (pthread_create(&al->flusher, NULL, flusher_main, al) != 0)
        return errbuf_set(err, AMLSEC_ERROR, "cannot start the store flusher thread");
    al->flusher_running = 1;
    return 0;
}

/* Stops the flusher and writes what is left, folding the log into a new
 * snapshot; the caller does not hold mu. */
void al_flusher_stop(struct armlocal *al)
{
    pthread_mutex_lock(&al->mu);
    if (al->flusher_running) {
        al->stopping = 1;
        pthread_cond_signal(&al->flush_cond);
        pthread_mutex_unlock(&al->mu);
        pthread_join(al->flusher, NULL);
        pthread_mutex_lock(&al->mu);
        al->flusher_running = 0;
    }
    /* a run that wrote nothing leaves the files as they were */
    if (al->state_path && al->state &&
        (al->dirty || (al->persist.flushes > 0 && al->log_bytes > 0))) {
        al->need_compact = 1;
        al->dirty = 1;
    }
    al_store_flush(al);
    pthread_mutex_unlock(&al->mu);
}

void al_store_reset(struct armlocal *al)
{
    json_decref(al->state);
    al->state = state_new();
    json_decref(al->graph_snapshot);
    al->graph_snapshot = NULL;
    dirty_clear(al);
    index_rebuild(al);
    al->need_compact = 1;
    al_store_save(al);
}

static int is_pec_key(const char *key)
{
    return strstr(key, "/privateendpointconnections/") != NULL;
}

/* For the key of a resource whose name Azure keeps unique across all of
 * Azure (it is a DNS name: storage accounts, key vaults, registries), the
 * name's key in al->global_names ("namespace/type/name"); 0 otherwise. */
static int global_name_of(const char *key, char *out, size_t cap)
{
    static const char *const types[] = {"microsoft.storage/storageaccounts/",
                                        "microsoft.keyvault/vaults/",
                                        "microsoft.containerregistry/registries/"};
    const char *p = strstr(key, "/providers/");
    if (p == NULL)
        return 0;
    p += 11;
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        size_t n = strlen(types[i]);
        if (strncmp(p, types[i], n) == 0 && p[n] && strchr(p + n, '/') == NULL) {
            snprintf(out, cap, "%s", p);
            return 1;
        }
    }
    return 0;
}

/* The scope of key in the scope indexes: a lock's or role assignment's
 * scope, a private endpoint connection's parent (its length, and the index
 * in *index), or 0. */
static size_t scope_len(struct armlocal *al, const char *key, json_t **index)
{
    static const char locks[] = "/providers/microsoft.authorization/locks/",
                      ras[] = "/providers/microsoft.authorization/roleassignments/",
                      pecs[] = "/privateendpointconnections/";
    const char *p;
    if ((p = strstr(key, locks)) != NULL && !strchr(p + sizeof(locks) - 1, '/'))
        *index = al->lock_scopes;
    else if ((p = strstr(key, ras)) != NULL && !strchr(p + sizeof(ras) - 1, '/'))
        *index = al->ra_scopes;
    else if ((p = strstr(key, pecs)) != NULL && !strchr(p + sizeof(pecs) - 1, '/'))
        *index = al->pec_parents;
    else
        return 0;
    return (size_t)(p - key);
}

json_t *al_scope_keys(json_t *index, const char *scope)
{
    return json_object_get(index, scope);
}

/* The private endpoint (lowercase id, in out) of the connection stored at
 * key; 0 when it names none. */
static int pec_endpoint(struct armlocal *al, const char *key, char *out, size_t cap)
{
    json_t *rec = json_object_get(al_resources(al), key);
    const char *pe =
        json_string_value(al_jpath(json_object_get(rec, "body"), "properties.privateEndpoint.id"));
    if (pe == NULL)
        return 0;
    al_lower(out, pe, cap);
    return 1;
}

/* --- the tree index: keys by ancestor and type ---------------------------
 *
 * al->by_anc maps an ancestor of a key (its subscription, its resource
 * group, each resource id on its path; "" for every key; "/" for keys with
 * no other ancestor, such as tenant-level role assignments) to {type:
 * {key: true}}, in store order. Deletes take a resource's tree, lists and
 * Resource Graph's small tables read their candidates from it rather than
 * scanning the store. al->key_serial numbers keys in store order, so that
 * candidates gathered from several entries are returned in that order. */

/* The lowercase type of a stored key: the namespace and type segments after
 * its last "/providers/", "microsoft.resources/resourcegroups" for a group;
 * "" for anything else. */
static void key_type(const char *key, char *out, size_t cap)
{
    const char *p = NULL, *q = key, *s;
    size_t o = 0;
    int seg = 0;
    out[0] = '\0';
    while ((q = strstr(q, "/providers/")) != NULL)
        p = q++;
    if (p == NULL) {
        if (strncmp(key, "/subscriptions/", 15) == 0 && (s = strchr(key + 15, '/')) != NULL &&
            strncmp(s, "/resourcegroups/", 16) == 0 && s[16] && strchr(s + 16, '/') == NULL)
            snprintf(out, cap, "microsoft.resources/resourcegroups");
        return;
    }
    for (s = p + 11;; seg++) {
        const char *e = strchr(s, '/');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if (seg == 0 || seg % 2 == 1) {
            if (o + n + 2 > cap) {
                out[0] = '\0';
                return;
            }
            if (o)
                out[o++] = '/';
            memcpy(out + o, s, n);
            o += n;
        }
        if (e == NULL)
            break;
        s = e + 1;
    }
    out[o] = '\0';
    if (seg < 2 || seg % 2 == 1) /* ns, then type/name pairs */
        out[0] = '\0';
}

#define MAX_ANC AL_MAX_ANC

size_t al_key_ancestors(const char *key, size_t *lens)
{
    size_t n = 0, len = strlen(key), starts[AL_MAX_SEGS], ends[AL_MAX_SEGS];
    size_t nseg = 0;
    long ns = -1; /* the namespace segment of the current provider section */
    for (size_t i = 0; i < len && nseg < AL_MAX_SEGS;) {
        size_t j;
        if (key[i] == '/') {
            i++;
            continue;
        }
        for (j = i; j < len && key[j] != '/'; j++)
            ;
        starts[nseg] = i;
        ends[nseg++] = j;
        i = j;
    }
#define SEG_IS(k, lit)                                                                             \
    (ends[k] - starts[k] == sizeof(lit) - 1 && strncmp(key + starts[k], lit, sizeof(lit) - 1) == 0)
    for (size_t k = 0; k < nseg && n < MAX_ANC; k++) {
        int anchor = 0;
        if (SEG_IS(k, "providers") && (ns < 0 || ((long)k - ns) % 2 == 1)) {
            ns = (long)k + 1;
            continue;
        }
        if (ns < 0)
            anchor = (k == 1 && SEG_IS(0, "subscriptions")) ||
                     (k == 3 && SEG_IS(0, "subscriptions") && SEG_IS(2, "resourcegroups"));
        else
            anchor = (long)k >= ns + 2 && ((long)k - ns) % 2 == 0;
        if (anchor && ends[k] < len)
            lens[n++] = ends[k];
    }
#undef SEG_IS
    return n;
}

static void tree_put(json_t *by_anc, const char *anc, const char *type, const char *key)
{
    json_t *types = json_object_get(by_anc, anc), *keys;
    if (types == NULL)
        json_object_set_new(by_anc, anc, types = json_object());
    if ((keys = json_object_get(types, type)) == NULL)
        json_object_set_new(types, type, keys = json_object());
    json_object_set_new(keys, key, json_true());
}

static void tree_drop(json_t *by_anc, const char *anc, const char *type, const char *key)
{
    json_t *types = json_object_get(by_anc, anc), *keys = json_object_get(types, type);
    if (keys == NULL)
        return;
    json_object_del(keys, key);
    if (json_object_size(keys) == 0) {
        json_object_del(types, type);
        if (json_object_size(types) == 0)
            json_object_del(by_anc, anc);
    }
}

/* add: 1 to index key, 0 to drop it. */
static void tree_index(struct armlocal *al, const char *key, int add)
{
    char type[512], anc[2048];
    size_t lens[MAX_ANC], n = al_key_ancestors(key, lens);
    key_type(key, type, sizeof(type));
    if (add && json_object_get(al->key_serial, key) == NULL)
        json_object_set_new(al->key_serial, key, json_integer(++al->serial_next));
    else if (!add)
        json_object_del(al->key_serial, key);
    if (strcmp(type, "microsoft.authorization/roleassignments") == 0) {
        /* role assignments by principal (Resource Graph's bulk reads); the
         * principal a key was indexed under is kept with it */
        const char *was = json_string_value(json_object_get(al->ra_principal_of, key));
        if (was) {
            tree_drop(al->ra_principals, was, "", key);
            json_object_del(al->ra_principal_of, key);
        }
        if (add) {
            const char *pr = json_string_value(
                al_jpath(json_object_get(json_object_get(al_resources(al), key), "body"),
                         "properties.principalId"));
            if (pr && strlen(pr) < sizeof(anc)) {
                al_lower(anc, pr, sizeof(anc));
                tree_put(al->ra_principals, anc, "", key);
                json_object_set_new(al->ra_principal_of, key, json_string(anc));
            }
        }
    }
    for (size_t i = 0; i <= n; i++) {
        const char *a = "";
        if (i < n) {
            if (lens[i] >= sizeof(anc))
                continue;
            snprintf(anc, sizeof(anc), "%.*s", (int)lens[i], key);
            a = anc;
        }
        (add ? tree_put : tree_drop)(al->by_anc, a, type, key);
    }
    if (n == 0)
        (add ? tree_put : tree_drop)(al->by_anc, "/", type, key);
}

int al_tree_anchor(const char *key)
{
    char probe[2100];
    size_t lens[MAX_ANC], n, len = strlen(key);
    if (len == 0 || (size_t)snprintf(probe, sizeof(probe), "%s/x", key) >= sizeof(probe))
        return 0;
    n = al_key_ancestors(probe, lens);
    return n > 0 && lens[n - 1] == len;
}

json_t *al_tree_keys(struct armlocal *al, const char *anc, const char *type)
{
    json_t *types = json_object_get(al->by_anc, anc);
    return type ? json_object_get(types, type) : types;
}

int al_keys_add(struct armlocal *al, struct al_keys *ks, const char *key)
{
    json_t *serial = json_object_get(al->key_serial, key);
    if (serial == NULL)
        return 0;
    if (ks->n == ks->cap) {
        size_t cap = ks->cap ? 2 * ks->cap : 16;
        struct al_key *v = realloc(ks->v, cap * sizeof(*v));
        if (v == NULL)
            return AMLSEC_ENOMEM;
        ks->v = v;
        ks->cap = cap;
    }
    if ((ks->v[ks->n].key = strdup(key)) == NULL)
        return AMLSEC_ENOMEM;
    ks->v[ks->n++].serial = json_integer_value(serial);
    al->work++;
    return 0;
}

int al_keys_add_index(struct armlocal *al, struct al_keys *ks, const char *anc, const char *type)
{
    const char *t, *k;
    json_t *keys, *one;
    int rc = 0;
    if (type) {
        json_object_foreach(al_tree_keys(al, anc, type), k, one)
        {
            if ((rc = al_keys_add(al, ks, k)) < 0)
                return rc;
        }
        return 0;
    }
    json_object_foreach(al_tree_keys(al, anc, NULL), t, keys)
    {
        json_object_foreach(keys, k, one)
        {
            if ((rc = al_keys_add(al, ks, k)) < 0)
                return rc;
        }
    }
    return 0;
}

int al_keys_add_principal(struct armlocal *al, struct al_keys *ks, const char *principal)
{
    const char *k;
    json_t *one;
    int rc;
    json_object_foreach(json_object_get(json_object_get(al->ra_principals, principal), ""), k, one)
    {
        if ((rc = al_keys_add(al, ks, k)) < 0)
            return rc;
    }
    return 0;
}

static int key_cmp(const void *a, const void *b)
{
    const struct al_key *x = a, *y = b;
    return x->serial < y->serial ? -1 : x->serial > y->serial;
}

void al_keys_sort(struct al_keys *ks)
{
    size_t o = 0;
    if (ks->n == 0)
        return;
    qsort(ks->v, ks->n, sizeof(ks->v[0]), key_cmp);
    for (size_t i = 0; i < ks->n; i++) {
        if (o > 0 && ks->v[o - 1].serial == ks->v[i].serial) {
            free(ks->v[i].key);
            continue;
        }
        ks->v[o++] = ks->v[i];
    }
    ks->n = o;
}

void al_keys_release(struct al_keys *ks)
{
    for (size_t i = 0; i < ks->n; i++)
        free(ks->v[i].key);
    free(ks->v);
    memset(ks, 0, sizeof(*ks));
}

static void index_add(struct armlocal *al, const char *key)
{
    char g[2048];
    size_t sn;
    json_t *index;
    tree_index(al, key, 1);
    if (is_pec_key(key)) {
        json_t *at;
        json_object_set_new(al->pec_keys, key, json_true());
        if (pec_endpoint(al, key, g, sizeof(g))) {
            if ((at = json_object_get(al->pec_by_pe, g)) == NULL)
                json_object_set_new(al->pec_by_pe, g, at = json_object());
            json_object_set_new(at, key, json_true());
        }
    }
    if (global_name_of(key, g, sizeof(g)))
        json_object_set_new(al->global_names, g, json_string(key));
    if ((sn = scope_len(al, key, &index)) > 0 && sn < sizeof(g)) {
        json_t *at;
        snprintf(g, sizeof(g), "%.*s", (int)sn, key);
        if ((at = json_object_get(index, g)) == NULL)
            json_object_set_new(index, g, at = json_object());
        json_object_set_new(at, key, json_true());
    }
}

/* key must not be owned by an object index_del changes */
static void index_del(struct armlocal *al, const char *key)
{
    char g[2048];
    const char *owner;
    size_t sn;
    json_t *index;
    tree_index(al, key, 0);
    if (is_pec_key(key) && pec_endpoint(al, key, g, sizeof(g))) {
        json_t *at = json_object_get(al->pec_by_pe, g);
        json_object_del(at, key);
        if (at && json_object_size(at) == 0)
            json_object_del(al->pec_by_pe, g);
    }
    json_object_del(al->pec_keys, key);
    if ((sn = scope_len(al, key, &index)) > 0 && sn < sizeof(g)) {
        json_t *at;
        snprintf(g, sizeof(g), "%.*s", (int)sn, key);
        if ((at = json_object_get(index, g)) != NULL) {
            json_object_del(at, key);
            if (json_object_size(at) == 0)
                json_object_del(index, g);
        }
    }
    if (global_name_of(key, g, sizeof(g)) &&
        (owner = json_string_value(json_object_get(al->global_names, g))) != NULL &&
        strcmp(owner, key) == 0)
        json_object_del(al->global_names, g);
}

static void index_rebuild(struct armlocal *al)
{
    const char *k;
    json_t *v;
    if (al->pec_keys == NULL)
        al->pec_keys = json_object();
    if (al->global_names == NULL)
        al->global_names = json_object();
    if (al->lock_scopes == NULL)
        al->lock_scopes = json_object();
    if (al->ra_scopes == NULL)
        al->ra_scopes = json_object();
    if (al->pec_parents == NULL)
        al->pec_parents = json_object();
    if (al->pec_by_pe == NULL)
        al->pec_by_pe = json_object();
    if (al->by_anc == NULL)
        al->by_anc = json_object();
    if (al->key_serial == NULL)
        al->key_serial = json_object();
    if (al->ra_principals == NULL)
        al->ra_principals = json_object();
    if (al->ra_principal_of == NULL)
        al->ra_principal_of = json_object();
    json_object_clear(al->by_anc);
    json_object_clear(al->key_serial);
    json_object_clear(al->ra_principals);
    json_object_clear(al->ra_principal_of);
    al->serial_next = 0;
    json_object_clear(al->ra_scopes);
    json_object_clear(al->pec_parents);
    json_object_clear(al->pec_by_pe);
    json_object_clear(al->pec_keys);
    json_object_clear(al->global_names);
    json_object_clear(al->lock_scopes);
    if (al->ops_running == NULL)
        al->ops_running = json_object();
    json_object_clear(al->ops_running);
    al->ops_swept_ms = 0;
    json_object_foreach(json_object_get(al->state, "ops"), k, v)
    {
        const char *status = json_string_value(json_object_get(v, "status"));
        if (status && strcmp(status, "InProgress") == 0)
            json_object_set_new(al->ops_running, k, json_true());
    }
    json_object_foreach(al_resources(al), k, v)
    {
        index_add(al, k);
    }
}

const char *al_global_name_owner(struct armlocal *al, const char *id)
{
    char key[2048], g[512];
    al_lower(key, id, sizeof(key));
    if (!global_name_of(key, g, sizeof(g)))
        return NULL;
    return json_string_value(json_object_get(al->global_names, g));
}

json_t *al_resources(struct armlocal *al)
{
    return json_object_get(al->state, "resources");
}

void al_lower(char *dst, const char *src, size_t cap)
{
    size_t i = 0;
    for (; src[i] && i + 1 < cap; i++)
        dst[i] = (char)tolower((unsigned char)src[i]);
    dst[i] = '\0';
}

json_t *al_rec_get(struct armlocal *al, const char *id)
{
    char key[2048];
    al_lower(key, id, sizeof(key));
    return json_object_get(al_resources(al), key);
}

json_t *al_rec_put(struct armlocal *al, const char *id, json_t *body)
{
    char key[2048];
    json_t *rec = json_object();
    al_lower(key, id, sizeof(key));
    json_object_set_new(rec, "body", body);
    json_object_set_new(rec, "hidden", json_false());
    json_object_set(al_resources(al), key, rec);
    index_add(al, key);
    al_store_touch(al, "resources", key);
    json_decref(rec);
    return rec;
}

static void take_key(struct armlocal *al, json_t *taken, const char *k)
{
    json_t *res = al_resources(al), *v = json_object_get(res, k);
    if (v == NULL)
        return;
    index_del(al, k);
    al_store_touch(al, "resources", k);
    json_object_set(taken, k, v);
    json_object_del(res, k);
}

/* The tree comes from the index of keys by ancestor (in store order); ids
 * that are no resource's or scope's shape fall back to a scan. */
json_t *al_rec_take_tree(struct armlocal *al, const char *id)
{
    char key[2048];
    const char *k;
    json_t *v, *res = al_resources(al), *taken = json_object();
    void *tmp;
    size_t n;

    al_lower(key, id, sizeof(key));
    n = strlen(key);
    if (al_tree_anchor(key)) {
        struct al_keys ks = {0};
        int rc = al_keys_add(al, &ks, key);
        if (rc == 0)
            rc = al_keys_add_index(al, &ks, key, NULL);
        if (rc == 0) {
            al_keys_sort(&ks);
            for (size_t i = 0; i < ks.n; i++)
                take_key(al, taken, ks.v[i].key);
            al_keys_release(&ks);
            if (al->log_shadow) /* AMLSEC_ARMLOCAL_LOG_CHECK: the index missed nothing */
                json_object_foreach(res, k, v)
                {
                    if (strncmp(k, key, n) == 0 && k[n] == '/') {
                        log_msg(LOG_ERROR, "armlocal: the tree index missed '%s' below '%s'", k,
                                key);
                        abort();
                    }
                }
            return taken;
        }
        al_keys_release(&ks);
    }
    json_object_foreach_safe(res, tmp, k, v)
    {
        al->work++;
        if (strcmp(k, key) == 0 || (strncmp(k, key, n) == 0 && k[n] == '/')) {
            char copy[2048]; /* k goes with its entry */
            snprintf(copy, sizeof(copy), "%s", k);
            take_key(al, taken, copy);
        }
    }
    return taken;
}

void al_rec_del_tree(struct armlocal *al, const char *id)
{
    json_decref(al_rec_take_tree(al, id));
}

void al_rec_del_key(struct armlocal *al, const char *key)
{
    char copy[2048]; /* key may be owned by either object */
    snprintf(copy, sizeof(copy), "%s", key);
    index_del(al, copy);
    al_store_touch(al, "resources", copy);
    json_object_del(al_resources(al), copy);
}

/* splitmix64 over (seed, counter): deterministic per --seed, continued across
 * restarts because the counter is persisted. */
static uint64_t next_u64(struct armlocal *al)
{
    json_t *c = json_object_get(al->state, "counter");
    uint64_t n = (uint64_t)json_integer_value(c) + 1;
    uint64_t z;
    json_object_set_new(al->state, "counter", json_integer((json_int_t)n));
    z = al->opts.seed + n * 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void al_guid(struct armlocal *al, char out[37])
{
    uint64_t a = next_u64(al), b = next_u64(al);
    snprintf(out, 37, "%08x-%04x-4%03x-%04x-%012llx", (unsigned)(a >> 32),
             (unsigned)((a >> 16) & 0xffff), (unsigned)(a & 0xfff),
             (unsigned)(0x8000 | ((b >> 48) & 0x3fff)),
             (unsigned long long)(b & 0xffffffffffffULL));
}

void al_hex32(struct armlocal *al, char out[33])
{
    uint64_t a = next_u64(al), b = next_u64(al);
    snprintf(out, 33, "%016llx%016llx", (unsigned long long)a, (unsigned long long)b);
}

int64_t al_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

double al_mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void al_time_iso(int64_t ms, char *out, size_t cap)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

json_t *al_jpath(const json_t *root, const char *path)
{
    char part[256];
    const char *p = path;
    const json_t *cur = root;

    while (cur && *p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (n >= sizeof(part))
            return NULL;
        memcpy(part, p, n);
        part[n] = '\0';
        if (!json_is_object(cur))
            return NULL;
        cur = json_object_get(cur, part);
        p += n + (dot ? 1 : 0);
    }
    return (json_t *)cur;
}

void al_jpath_set_new(json_t *root, const char *path, json_t *value)
{
    char part[256];
    const char *p = path;
    json_t *cur = root;

    for (;;) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (n >= sizeof(part) || !json_is_object(cur)) {
            json_decref(value);
            return;
        }
        memcpy(part, p, n);
        part[n] = '\0';
        if (dot == NULL) {
            json_object_set_new(cur, part, value);
            return;
        }
        if (!json_is_object(json_object_get(cur, part)))
            json_object_set_new(cur, part, json_object());
        cur = json_object_get(cur, part);
        p = dot + 1;
    }
}

/* Equal, with strings compared case-insensitively (ARM ids). */
int al_json_equal_ci(const json_t *a, const json_t *b)
{
    if (json_is_string(a) && json_is_string(b))
        return strcasecmp(json_string_value(a), json_string_value(b)) == 0;
    if (a == NULL || b == NULL)
        return a == b;
    if (json_is_object(a) && json_is_object(b)) {
        const char *k;
        json_t *v;
        if (json_object_size(a) != json_object_size(b))
            return 0;
        json_object_foreach((json_t *)a, k, v)
        {
            if (!al_json_equal_ci(v, json_object_get(b, k)))
                return 0;
        }
        return 1;
    }
    if (json_is_array(a) && json_is_array(b)) {
        if (json_array_size(a) != json_array_size(b))
            return 0;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!al_json_equal_ci(json_array_get(a, i), json_array_get(b, i)))
                return 0;
        return 1;
    }
    return json_equal((json_t *)a, (json_t *)b);
}

int al_has_prefix_ci(const char *s, const char *prefix)
{
    return strncasecmp(s, prefix, strlen(prefix)) == 0;
}
