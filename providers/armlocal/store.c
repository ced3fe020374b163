/* armlocal's store: every resource keyed by its lowercased ARM id, plus
 * operations and soft-deleted names, in one JSON document persisted with
 * file_write_atomic after each change (crash-safe: readers and restarts see
 * the old document or the new). Callers hold al->mu. */
#include "providers/armlocal/al_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "util/error.h"
#include "util/fileio.h"
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

int al_store_load(struct armlocal *al, struct errbuf *err)
{
    struct buf b;
    json_error_t je;
    json_t *doc;
    int rc;

    al->state = state_new();
    index_rebuild(al);
    if (al->state_path == NULL)
        return 0;
    buf_init(&b, (size_t)1 << 30);
    rc = file_read_all(&b, al->state_path, (size_t)1 << 30, err);
    if (rc == AMLSEC_ENOTFOUND) {
        errbuf_clear(err);
        buf_release(&b);
        return 0;
    }
    if (rc < 0) {
        buf_release(&b);
        return rc;
    }
    doc = json_loadb(b.ptr, b.len, 0, &je);
    buf_release(&b);
    if (doc == NULL || !json_is_object(doc) ||
        json_integer_value(json_object_get(doc, "format")) != STATE_FORMAT) {
        json_decref(doc);
        return errbuf_set(err, AMLSEC_ECORRUPT, "local cloud state '%s' is not readable: %s",
                          al->state_path, doc ? "unknown format" : je.text);
    }
    json_object_update_missing(doc, al->state);
    json_decref(al->state);
    al->state = doc;
    index_rebuild(al);
    return 0;
}

static int write_text(struct armlocal *al, char *text)
{
    struct errbuf err = ERRBUF_INIT;
    int rc = file_write_atomic(al->state_path, text, strlen(text), 0600, &err);
    if (rc < 0)
        log_msg(LOG_ERROR, "armlocal: %s", err.msg);
    return rc;
}

int al_store_flush(struct armlocal *al)
{
    char *text;
    int rc;
    if (al->state_path == NULL || !al->dirty)
        return 0;
    text = json_dumps(al->state, JSON_COMPACT);
    if (text == NULL)
        return AMLSEC_ENOMEM;
    al->dirty = 0;
    rc = write_text(al, text);
    free(text);
    if (rc < 0)
        al->dirty = 1;
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
 * atomic write. The document is serialised under the lock and written
 * outside it, so requests are not held up by fsync. */
static void *flusher_main(void *arg)
{
    struct armlocal *al = arg;
    pthread_mutex_lock(&al->mu);
    while (!al->stopping) {
        char *text = NULL;
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
        text = json_dumps(al->state, JSON_COMPACT);
        if (text == NULL)
            continue;
        al->dirty = 0;
        pthread_mutex_unlock(&al->mu);
        if (write_text(al, text) < 0) {
            pthread_mutex_lock(&al->mu);
            al->dirty = 1;
            pthread_mutex_unlock(&al->mu);
        }
        free(text);
        pthread_mutex_lock(&al->mu);
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

/* Stops the flusher and writes what is left; the caller does not hold mu. */
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
    al_store_flush(al);
    pthread_mutex_unlock(&al->mu);
}

void al_store_reset(struct armlocal *al)
{
    json_decref(al->state);
    al->state = state_new();
    json_decref(al->graph_snapshot);
    al->graph_snapshot = NULL;
    index_rebuild(al);
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

static void index_add(struct armlocal *al, const char *key)
{
    char g[512];
    if (is_pec_key(key))
        json_object_set_new(al->pec_keys, key, json_true());
    if (global_name_of(key, g, sizeof(g)))
        json_object_set_new(al->global_names, g, json_string(key));
}

/* key must not be owned by an object index_del changes */
static void index_del(struct armlocal *al, const char *key)
{
    char g[512];
    const char *owner;
    json_object_del(al->pec_keys, key);
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
    json_object_clear(al->pec_keys);
    json_object_clear(al->global_names);
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
    json_decref(rec);
    return rec;
}

json_t *al_rec_take_tree(struct armlocal *al, const char *id)
{
    char key[2048];
    const char *k;
    json_t *v, *res = al_resources(al), *taken = json_object();
    void *tmp;
    size_t n;

    al_lower(key, id, sizeof(key));
    n = strlen(key);
    json_object_foreach_safe(res, tmp, k, v)
    {
        if (strcmp(k, key) == 0 || (strncmp(k, key, n) == 0 && k[n] == '/')) {
            index_del(al, k);
            json_object_set(taken, k, v);
            json_object_del(res, k);
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
