#include "state/journal.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/base64.h"
#include "util/error.h"
#include "util/fileio.h"
#include "util/log.h"
#include "util/strmap.h"
#include "util/jsonw.h"
#include "util/banned.h"

#define JOURNAL_MAX_BYTES ((size_t)256 << 20)

static const char *const op_names[] = {"create", "update", "delete", "move"};

const char *journal_op_name(enum journal_op op)
{
    return op_names[op];
}

const char *journal_outcome_name(enum journal_outcome o)
{
    static const char *const names[] = {
        "adopted", "dropped", "removed", "not deleted", "pending (checked again on the next run)",
        "moved"};
    return names[o];
}

static int op_parse(enum journal_op *out, const char *s)
{
    for (int i = 0; i < (int)(sizeof(op_names) / sizeof(op_names[0])); i++) {
        if (s && strcmp(s, op_names[i]) == 0) {
            *out = (enum journal_op)i;
            return 0;
        }
    }
    return AMLSEC_EPARSE;
}

void journal_digest(char out[72], const void *body, size_t len)
{
    unsigned char md[32];
    unsigned int n = 0;
    static const char hex[] = "0123456789abcdef";
    EVP_Digest(body, len, md, &n, EVP_sha256(), NULL);
    memcpy(out, "sha256:", 7);
    for (size_t i = 0; i < 32; i++) {
        out[7 + 2 * i] = hex[md[i] >> 4];
        out[8 + 2 * i] = hex[md[i] & 15];
    }
    out[71] = '\0';
}

static void entry_release(struct journal_entry *e)
{
    free(e->address);
    free(e->kind);
    free(e->arm_id);
    free(e->api_version);
    free(e->digest);
    free(e->time);
    free(e->operation);
    free(e->from);
    json_decref(e->dependencies);
    json_decref(e->sensitive);
    json_decref(e->attributes);
    memset(e, 0, sizeof(*e));
}

/* id -> position in entries[0, indexed). Entries are only appended,
 * emptied or compacted in order, so the index is stale exactly when the
 * entry it indexed last has moved. */
struct journal_index {
    struct strmap pos;
    size_t indexed;
    char last[STATE_LINEAGE_LEN + 1];
    struct strmap last_of_address; /* address -> position of its latest entry */
    size_t *prev_same;             /* position + 1 of the entry before with the same address */
    size_t cap;
};

static void index_free(struct journal *j)
{
    if (j->index) {
        strmap_release(&j->index->pos);
        strmap_release(&j->index->last_of_address);
        free(j->index->prev_same);
        free(j->index);
        j->index = NULL;
    }
}

void journal_release(struct journal *j)
{
    for (size_t i = 0; i < j->nentries; i++)
        entry_release(&j->entries[i]);
    free(j->entries);
    index_free(j);
    free(j->unreadable);
    buf_release(&j->damaged);
    if (j->fd >= 0)
        close(j->fd);
    free(j->path);
    memset(j, 0, sizeof(*j));
    j->fd = -1;
}

/* Brings the index up to date; false when memory ran out. */
static bool index_catch_up(struct journal *j)
{
    struct journal_index *x = j->index;
    if (x && x->indexed > 0 &&
        (x->indexed > j->nentries || strcmp(j->entries[x->indexed - 1].id, x->last) != 0))
        index_free(j); /* entries moved: index them again */
    if (j->index == NULL) {
        if ((j->index = calloc(1, sizeof(*j->index))) == NULL)
            return false;
        strmap_init(&j->index->pos, false);
        strmap_init(&j->index->last_of_address, false);
    }
    x = j->index;
    if (x->cap < j->nentries) {
        size_t *p = realloc(x->prev_same, j->cap * sizeof(*p));
        if (p == NULL) {
            index_free(j);
            return false;
        }
        x->prev_same = p;
        x->cap = j->cap;
    }
    for (; x->indexed < j->nentries; x->indexed++) {
        const char *addr = j->entries[x->indexed].address ? j->entries[x->indexed].address : "";
        size_t before;
        j->work++;
        x->prev_same[x->indexed] = strmap_get(&x->last_of_address, addr, &before) ? before + 1 : 0;
        if (strmap_put(&x->pos, j->entries[x->indexed].id, x->indexed) < 0 ||
            strmap_put(&x->last_of_address, addr, x->indexed) < 0) {
            index_free(j);
            return false;
        }
        memcpy(x->last, j->entries[x->indexed].id, sizeof(x->last));
    }
    return true;
}

static struct journal_entry *find_entry(struct journal *j, const char *id)
{
    size_t at;
    if (!index_catch_up(j)) { /* out of memory: scan */
        for (size_t i = 0; i < j->nentries; i++, j->work++)
            if (strcmp(j->entries[i].id, id) == 0)
                return &j->entries[i];
        return NULL;
    }
    for (int again = 0; again < 2; again++) {
        j->work++;
        if (!strmap_get(&j->index->pos, id, &at))
            return NULL;
        if (at < j->nentries && strcmp(j->entries[at].id, id) == 0)
            return &j->entries[at];
        index_free(j); /* an entry moved without the one indexed last moving */
        if (!index_catch_up(j))
            return NULL;
    }
    return NULL;
}

static char *jstrdup(json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return strdup(s ? s : "");
}

/* Whether v is absent (NULL) or an array of strings. */
static bool strings_or_absent(const json_t *v)
{
    size_t i;
    const json_t *x;
    if (v == NULL)
        return true;
    if (!json_is_array(v))
        return false;
    json_array_foreach(v, i, x)
    {
        if (!json_is_string(x))
            return false;
    }
    return true;
}

/* Whether the begin record has every field recovery needs. */
static const char *begin_missing(json_t *rec)
{
    static const char *const need[] = {"address", "kind", "arm_id", "api_version", "digest"};
    for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
        const char *v = json_string_value(json_object_get(rec, need[i]));
        if (v == NULL || *v == '\0')
            return need[i];
    }
    if (!state_arm_id_valid(json_string_value(json_object_get(rec, "arm_id"))))
        return "a well-formed arm_id";
    /* as the state it is folded into holds them: a recovery saves it */
    if (!state_address_valid(json_string_value(json_object_get(rec, "address")),
                             json_string_value(json_object_get(rec, "kind"))))
        return "an address of its kind";
    /* arrays of strings, as the state holds them */
    if (!strings_or_absent(json_object_get(rec, "dependencies")))
        return "dependencies";
    if (!strings_or_absent(json_object_get(rec, "sensitive")))
        return "sensitive";
    if (strcmp(json_string_value(json_object_get(rec, "op")), op_names[JOURNAL_MOVE]) == 0) {
        const char *from = json_string_value(json_object_get(rec, "from"));
        if (from == NULL || *from == '\0')
            return "from";
        if (!state_address_valid(from, json_string_value(json_object_get(rec, "kind"))))
            return "a from that is an address of its kind";
    }
    return NULL;
}

/* Applies one record to the in-memory entries. */
static int apply_record(struct journal *j, json_t *rec, size_t line, struct errbuf *err)
{
    const char *t = json_string_value(json_object_get(rec, "t"));
    const char *id = json_string_value(json_object_get(rec, "id"));
    struct journal_entry *e;

    if (t == NULL || id == NULL || strlen(id) != STATE_LINEAGE_LEN)
        return errbuf_set(err, AMLSEC_ECORRUPT, "journal '%s' line %zu: not a journal record",
                          j->path, line);
    if (strcmp(t, "begin") == 0) {
        enum journal_op op;
        const char *missing;
        if (find_entry(j, id))
            return errbuf_set(err, AMLSEC_ECORRUPT, "journal '%s' line %zu: intent %s twice",
                              j->path, line, id);
        if (op_parse(&op, json_string_value(json_object_get(rec, "op"))) < 0)
            return errbuf_set(err, AMLSEC_ECORRUPT, "journal '%s' line %zu: unknown operation",
                              j->path, line);
        missing = begin_missing(rec);
        if (missing)
            return errbuf_set(err, AMLSEC_ECORRUPT, "journal '%s' line %zu: intent without %s",
                              j->path, line, missing);
        if (j->nentries == j->cap) {
            size_t cap = j->cap ? j->cap * 2 : 16;
            struct journal_entry *p = realloc(j->entries, cap * sizeof(*p));
            if (p == NULL)
                return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
            j->entries = p;
            j->cap = cap;
        }
        e = &j->entries[j->nentries];
        memset(e, 0, sizeof(*e));
        memcpy(e->id, id, STATE_LINEAGE_LEN + 1);
        e->op = op;
        e->address = jstrdup(rec, "address");
        e->time = jstrdup(rec, "time");
        e->kind = jstrdup(rec, "kind");
        e->arm_id = jstrdup(rec, "arm_id");
        e->api_version = jstrdup(rec, "api_version");
        e->digest = jstrdup(rec, "digest");
        e->dependencies = json_incref(json_object_get(rec, "dependencies"));
        e->sensitive = json_incref(json_object_get(rec, "sensitive"));
        if (op == JOURNAL_MOVE && (e->from = jstrdup(rec, "from")) == NULL)
            return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
        if (!e->dependencies)
            e->dependencies = json_array();
        if (!e->sensitive)
            e->sensitive = json_array();
        e->phase = JOURNAL_BEGUN;
        j->nentries++;
        if (!e->address || !e->kind || !e->arm_id || !e->api_version || !e->digest || !e->time ||
            !e->dependencies || !e->sensitive)
            return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
        return 0;
    }
    e = find_entry(j, id);
    if (e == NULL)
        return errbuf_set(err, AMLSEC_ECORRUPT, "journal '%s' line %zu: unknown intent %s", j->path,
                          line, id);
    if (strcmp(t, "complete") == 0) {
        json_t *attrs = json_object_get(rec, "attributes");
        e->phase = JOURNAL_COMPLETED;
        e->ok = json_is_true(json_object_get(rec, "ok"));
        json_decref(e->attributes);
        e->attributes = json_is_object(attrs) ? json_incref(attrs) : NULL;
        return 0;
    }
    if (strcmp(t, "accepted") == 0) {
        const char *url = json_string_value(json_object_get(rec, "operation"));
        char *copy;
        if (url == NULL || *url == '\0')
            return errbuf_set(err, AMLSEC_ECORRUPT,
                              "journal '%s' line %zu: accepted record without its operation",
                              j->path, line);
        if ((copy = strdup(url)) == NULL)
            return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
        free(e->operation);
        e->operation = copy;
        return 0;
    }
    if (strcmp(t, "done") == 0) {
        e->phase = JOURNAL_DONE;
        /* in a saved state now: nothing reads its response again (a large
         * apply kept every response until the journal was compacted) */
        json_decref(e->attributes);
        e->attributes = NULL;
        return 0;
    }
    return errbuf_set(err, AMLSEC_ECORRUPT, "journal '%s' line %zu: unknown record '%s'", j->path,
                      line, t);
}

/* *sealed: the line was a sealed record that could not be opened (wrong
 * key, or damaged). */
static int decode_line(json_t **out, struct journal *j, const char *line, size_t len, size_t no,
                       bool *sealed, struct errbuf *err)
{
    struct buf raw, plain;
    json_error_t jerr;
    int rc = 0;

    *out = NULL;
    if (len > 0 && line[0] == '{') {
        *out = jsonw_loadb(line, len, 0, &jerr);
        if (*out == NULL)
            return errbuf_set(err, AMLSEC_ECORRUPT, "journal '%s' line %zu: %s", j->path, no,
                              jerr.text);
        return 0;
    }
    buf_init(&raw, JOURNAL_MAX_BYTES);
    buf_init(&plain, JOURNAL_MAX_BYTES);
    if (base64_decode_strict(&raw, line, len) < 0) {
        rc = errbuf_set(err, AMLSEC_ECORRUPT, "journal '%s' line %zu: damaged record", j->path, no);
        goto out;
    }
    if ((rc = crypt_open(&plain, j->keys, raw.ptr, raw.len, j->path, NULL, err)) < 0) {
        *sealed = true;
        goto out;
    }
    *out = jsonw_loadb(plain.ptr, plain.len, 0, &jerr);
    if (*out == NULL)
        rc = errbuf_set(err, AMLSEC_ECORRUPT, "journal '%s' line %zu: %s", j->path, no, jerr.text);
out:
    if (plain.len)
        memset(plain.ptr, 0, plain.len);
    buf_release(&plain);
    buf_release(&raw);
    return rc;
}

static int fsync_dir(const char *path)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) : 1;
    int fd, rc;
    if (n == 0)
        n = 1;
    if (n >= sizeof(dir))
        return -1;
    memcpy(dir, slash ? path : ".", n);
    dir[n] = '\0';
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    rc = fsync(fd);
    close(fd);
    return rc;
}

/* Sets line `no` aside as unreadable (its bytes kept for "<path>.damaged"). */
static int set_aside(struct journal *j, const char *line, size_t len, size_t no, size_t offset,
                     const char *reason)
{
    struct journal_unreadable *u;
    const char *at = strstr(reason, "' line "), *prefix = at ? strstr(at, ": ") : NULL;
    size_t n;
    u = realloc(j->unreadable, (j->nunreadable + 1) * sizeof(*u));
    if (u == NULL)
        return AMLSEC_ENOMEM;
    j->unreadable = u;
    u = &j->unreadable[j->nunreadable++];
    u->line = no;
    u->offset = offset;
    /* the reason without the "journal 'PATH' line N: " every caller adds */
    if (strncmp(reason, "journal '", 9) == 0 && prefix)
        reason = prefix + 2;
    n = strlen(reason);
    if (n >= sizeof(u->reason))
        n = sizeof(u->reason) - 1;
    memcpy(u->reason, reason, n);
    u->reason[n] = '\0';
    if (buf_add(&j->damaged, line, len) < 0 || buf_addch(&j->damaged, '\n') < 0)
        return AMLSEC_ENOMEM;
    log_msg(LOG_WARN, "journal '%s': entry at line %zu (byte %zu) is unreadable (%s); set aside",
            j->path, no, offset, u->reason);
    return 0;
}

/* Opens path for appending, refusing a symlink (the journal is never
 * followed: a link planted there would make amlsec write elsewhere). */
static int open_journal_fd(const char *path, struct errbuf *err)
{
    int fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
    struct stat st;
    if (fd < 0 && errno == ELOOP)
        return errbuf_set(err, AMLSEC_EUSAGE,
                          "the journal '%s' is a symbolic link; amlsec does not follow links for "
                          "its journal (remove the link, or point -state at the real directory)",
                          path);
    if (fd < 0)
        return errbuf_set(err, AMLSEC_EIO, "cannot open the journal '%s': %s", path,
                          strerror(errno));
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return errbuf_set(err, AMLSEC_EUSAGE, "the journal '%s' is not a regular file", path);
    }
    return fd;
}

static int open_journal(struct journal *j, const char *path, struct crypt_keys *keys, bool readonly,
                        struct errbuf *err)
{
    struct buf b;
    size_t start = 0, no = 0, good_end = 0, readable = 0, sealed_failures = 0;
    struct errbuf first_sealed = ERRBUF_INIT;
    struct stat st;
    int rc, created;

    memset(j, 0, sizeof(*j));
    j->fd = -1;
    j->keys = keys;
    buf_init(&j->damaged, JOURNAL_MAX_BYTES);
    j->path = strdup(path);
    if (j->path == NULL)
        return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    created = lstat(path, &st) < 0;
    if (created && !readonly && errno != ENOENT) {
        rc = errbuf_set(err, AMLSEC_EIO, "cannot open the journal '%s': %s", path, strerror(errno));
        journal_release(j);
        return rc;
    }
    if (created)
        return 0; /* no journal: nothing pending (created by the first record: create_file) */
    if (readonly) {
        j->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (j->fd < 0) {
            rc = errbuf_set(err, AMLSEC_EIO, "cannot open the journal '%s': %s", path,
                            strerror(errno));
            journal_release(j);
            return rc;
        }
        goto read;
    }
    if ((rc = open_journal_fd(path, err)) < 0) {
        journal_release(j);
        return rc;
    }
    j->fd = rc;
read:
    buf_init(&b, JOURNAL_MAX_BYTES);
    if ((rc = file_read_all(&b, path, JOURNAL_MAX_BYTES, err)) < 0)
        goto fail;
    while (start < b.len) {
        char *nl = memchr(b.ptr + start, '\n', b.len - start);
        size_t len;
        json_t *rec;
        bool sealed = false;
        struct errbuf why = ERRBUF_INIT;
        no++;
        if (nl == NULL) {
            /* a torn final record: its begin/complete never returned */
            j->discarded_torn++;
            break;
        }
        len = (size_t)(nl - b.ptr) - start;
        rc = decode_line(&rec, j, b.ptr + start, len, no, &sealed, &why);
        if (rc == 0) {
            rc = apply_record(j, rec, no, &why);
            json_decref(rec);
        }
        if (rc == 0) {
            readable++;
        } else if (rc == AMLSEC_ECORRUPT || rc == AMLSEC_EPARSE) {
            /* one bad line does not hide the others: set aside, go on */
            if (sealed && sealed_failures++ == 0)
                first_sealed = why;
            if (set_aside(j, b.ptr + start, len, no, start, why.msg) < 0) {
                rc = errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
                goto fail;
            }
        } else {
            *err = why;
            goto fail;
        }
        start = (size_t)(nl - b.ptr) + 1;
        good_end = start;
    }
    if (readable == 0 && sealed_failures > 0) {
        /* nothing could be opened: a wrong key, not a damaged line */
        *err = first_sealed;
        rc = err->code;
        goto fail;
    }
    j->bytes = good_end;
    if (j->discarded_torn && !readonly) {
        log_msg(LOG_INFO, "journal '%s': discarding a torn record never acknowledged", path);
        if (ftruncate(j->fd, (off_t)good_end) < 0 || fsync(j->fd) < 0) {
            rc = errbuf_set(err, AMLSEC_EIO, "cannot trim the journal '%s': %s", path,
                            strerror(errno));
            goto fail;
        }
    }
    buf_release(&b);
    return 0;
fail:
    buf_release(&b);
    journal_release(j);
    return rc;
}

int journal_open(struct journal *j, const char *path, struct crypt_keys *keys, struct errbuf *err)
{
    return open_journal(j, path, keys, false, err);
}

int journal_open_readonly(struct journal *j, const char *path, struct crypt_keys *keys,
                          struct errbuf *err)
{
    return open_journal(j, path, keys, true, err);
}

int journal_sync(struct journal *j, struct errbuf *err)
{
    if (j->fd < 0) /* not created yet: nothing written */
        return 0;
    if (fdatasync(j->fd) < 0)
        return errbuf_set(err, AMLSEC_EIO, "cannot sync the journal '%s': %s", j->path,
                          strerror(errno));
    j->unsynced = false;
    return 0;
}

/* The line a record is written as (with its newline), appended to line. */
static int encode_record(struct journal *j, json_t *rec, struct buf *line, struct errbuf *err)
{
    char *text = jsonw_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS);
    struct buf sealed;
    int rc = AMLSEC_ENOMEM;

    buf_init(&sealed, JOURNAL_MAX_BYTES);
    if (text == NULL)
        goto out;
    if (crypt_keys_enabled(j->keys)) {
        if ((rc = crypt_seal(&sealed, j->keys, text, strlen(text), err)) < 0)
            goto out;
        rc = AMLSEC_ENOMEM;
        if (base64_encode(line, sealed.ptr, sealed.len) < 0)
            goto out;
    } else if (buf_adds(line, text) < 0) {
        goto out;
    }
    if (buf_addch(line, '\n') < 0)
        goto out;
    rc = 0;
out:
    if (rc == AMLSEC_ENOMEM)
        errbuf_set(err, rc, "out of memory");
    if (text) {
        memset(text, 0, strlen(text));
        free(text);
    }
    buf_release(&sealed);
    return rc;
}

/* Creates the journal that journal_open found absent, before its first
 * record: a run that records nothing (a plan, an apply with nothing to do)
 * writes nothing beside the state. */
static int create_file(struct journal *j, struct errbuf *err)
{
    int rc;
    /* the azurerm backend's journal may be the first file under .amlsec */
    if ((rc = file_mkdir_parents(j->path, err)) < 0 || (rc = open_journal_fd(j->path, err)) < 0)
        return rc;
    j->fd = rc;
    if (fsync_dir(j->path) < 0)
        return errbuf_set(err, AMLSEC_EIO, "cannot sync the directory of '%s'", j->path);
    return 0;
}

/* Appends one record durably (or, with group commit, until journal_sync). */
static int append(struct journal *j, json_t *rec, struct errbuf *err)
{
    struct buf line;
    const char *p;
    size_t left;
    int rc;

    buf_init(&line, JOURNAL_MAX_BYTES);
    if ((rc = encode_record(j, rec, &line, err)) < 0)
        goto out;
    if (j->fd < 0 && (rc = create_file(j, err)) < 0)
        goto out;
    p = line.ptr;
    left = line.len;
    while (left) {
        ssize_t n = write(j->fd, p, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = errbuf_set(err, AMLSEC_EIO, "cannot write the journal '%s': %s", j->path,
                            strerror(errno));
            goto out;
        }
        p += n;
        left -= (size_t)n;
        j->bytes += (size_t)n;
    }
    if (j->group_commit)
        j->unsynced = true;
    else if ((rc = journal_sync(j, err)) < 0)
        goto out;
    rc = apply_record(j, rec, 0, err);
out:
    if (line.len)
        memset(line.ptr, 0, line.len);
    buf_release(&line);
    return rc;
}

int journal_begin(struct journal *j, const struct journal_intent *in, char *out_id,
                  struct errbuf *err)
{
    char id[STATE_LINEAGE_LEN + 1], when[32];
    time_t now = time(NULL);
    struct tm tm;
    json_t *rec, *none = NULL;
    int rc;

    if (!in->address || !in->arm_id || !in->kind || !in->api_version || !in->request_digest)
        return errbuf_set(err, AMLSEC_EUSAGE, "incomplete journal intent");
    if ((rc = state_uuid(id, err)) < 0)
        return rc;
    gmtime_r(&now, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (!in->dependencies || !in->sensitive)
        none = json_array();
    rec = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:O, s:O}", "t", "begin", "id",
                    id, "time", when, "op", op_names[in->op], "address", in->address, "kind",
                    in->kind, "arm_id", in->arm_id, "api_version", in->api_version, "digest",
                    in->request_digest, "dependencies", in->dependencies ? in->dependencies : none,
                    "sensitive", in->sensitive ? in->sensitive : none);
    json_decref(none);
    if (rec && (in->op == JOURNAL_MOVE) != (in->from != NULL)) {
        json_decref(rec);
        return errbuf_set(err, AMLSEC_EUSAGE, "a journal move needs the address it moves from");
    }
    if (rec && in->from && json_object_set_new(rec, "from", json_string(in->from)) < 0) {
        json_decref(rec);
        rec = NULL;
    }
    if (rec == NULL)
        return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    rc = append(j, rec, err);
    json_decref(rec);
    if (rc == 0)
        memcpy(out_id, id, sizeof(id));
    return rc;
}

int journal_complete(struct journal *j, const char *id, int ok, json_t *attributes,
                     struct errbuf *err)
{
    json_t *rec;
    int rc;
    if (find_entry(j, id) == NULL)
        return errbuf_set(err, AMLSEC_ENOTFOUND, "no journal intent '%s'", id);
    rec = json_pack("{s:s, s:s, s:b}", "t", "complete", "id", id, "ok", ok);
    if (rec && attributes && json_object_set(rec, "attributes", attributes) < 0) {
        json_decref(rec);
        rec = NULL;
    }
    if (rec == NULL)
        return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    rc = append(j, rec, err);
    json_decref(rec);
    return rc;
}

int journal_accepted(struct journal *j, const char *id, const char *operation_url,
                     struct errbuf *err)
{
    json_t *rec;
    int rc;
    if (find_entry(j, id) == NULL)
        return errbuf_set(err, AMLSEC_ENOTFOUND, "no journal intent '%s'", id);
    rec = json_pack("{s:s, s:s, s:s}", "t", "accepted", "id", id, "operation", operation_url);
    if (rec == NULL)
        return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    rc = append(j, rec, err);
    json_decref(rec);
    return rc;
}

static int mark_done(struct journal *j, const char *id, struct errbuf *err)
{
    json_t *rec = json_pack("{s:s, s:s}", "t", "done", "id", id);
    int rc;
    if (rec == NULL)
        return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    rc = append(j, rec, err);
    json_decref(rec);
    return rc;
}

int journal_done(struct journal *j, const char *id, struct errbuf *err)
{
    struct journal_entry *e = find_entry(j, id);
    size_t at;
    int rc;
    if (e == NULL)
        return errbuf_set(err, AMLSEC_ENOTFOUND, "no journal intent '%s'", id);
    at = (size_t)(e - j->entries);
    if ((rc = mark_done(j, id, err)) < 0)
        return rc;
    e = &j->entries[at];
    if (e->phase != JOURNAL_DONE || !e->ok || e->op == JOURNAL_MOVE)
        return 0; /* a move observed nothing of the cloud */
    /* a newer outcome for the same resource settles what older intents
     * left pending (a create that was not visible yet, say): the earlier
     * entries of its address, through the index (a scan of every earlier
     * entry per outcome made an apply of n creates cost n^2) */
    if (j->index != NULL && j->index->indexed > at) {
        for (size_t p = j->index->prev_same[at]; p != 0; p = j->index->prev_same[p - 1]) {
            struct journal_entry *o = &j->entries[p - 1];
            j->work++;
            if (o->phase != JOURNAL_DONE && strcmp(o->address, e->address) == 0 &&
                strcasecmp(o->arm_id, e->arm_id) == 0) {
                log_msg(LOG_INFO, "journal: the %s of '%s' left pending is settled by a newer one",
                        op_names[o->op], o->address);
                if ((rc = mark_done(j, o->id, err)) < 0)
                    return rc;
            }
        }
        return 0;
    }
    for (size_t i = 0; i < at; i++) {
        struct journal_entry *o = &j->entries[i];
        j->work++;
        if (o->phase != JOURNAL_DONE && strcmp(o->address, e->address) == 0 &&
            strcasecmp(o->arm_id, e->arm_id) == 0) {
            log_msg(LOG_INFO, "journal: the %s of '%s' left pending is settled by a newer one",
                    op_names[o->op], o->address);
            if ((rc = mark_done(j, o->id, err)) < 0)
                return rc;
        }
    }
    return 0;
}

size_t journal_pending(const struct journal *j, const struct journal_entry **out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < j->nentries; i++) {
        if (j->entries[i].phase == JOURNAL_DONE)
            continue;
        if (n < max && out)
            out[n] = &j->entries[i];
        n++;
    }
    return n;
}

/* Appends the unreadable lines to "<path>.damaged" (0600, synced), once. */
static int save_damaged(struct journal *j, struct errbuf *err)
{
    char path[4200];
    const char *p = j->damaged.ptr;
    size_t left = j->damaged.len;
    int fd, rc = 0;

    if (left == 0)
        return 0;
    snprintf(path, sizeof(path), "%s.damaged", j->path);
    fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return errbuf_set(err, AMLSEC_EIO, "cannot keep the unreadable journal entries in '%s': %s",
                          path, strerror(errno));
    while (left && rc == 0) {
        ssize_t n = write(fd, p, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            rc = errbuf_set(err, AMLSEC_EIO, "cannot write '%s': %s", path, strerror(errno));
        else {
            p += n;
            left -= (size_t)n;
        }
    }
    if (rc == 0 && fsync(fd) < 0)
        rc = errbuf_set(err, AMLSEC_EIO, "cannot sync '%s': %s", path, strerror(errno));
    close(fd);
    if (rc == 0) {
        j->damaged.len = 0;
        j->damaged_in_file = true; /* until the next rewrite or truncation */
        free(j->unreadable);
        j->unreadable = NULL;
        j->nunreadable = 0;
    }
    return rc;
}

/* The records of a pending entry, as a rewrite keeps them. */
static int encode_entry(struct journal *j, const struct journal_entry *e, struct buf *out,
                        struct errbuf *err)
{
    json_t *rec =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:O, s:O}", "t", "begin", "id",
                  e->id, "time", e->time, "op", op_names[e->op], "address", e->address, "kind",
                  e->kind, "arm_id", e->arm_id, "api_version", e->api_version, "digest", e->digest,
                  "dependencies", e->dependencies, "sensitive", e->sensitive);
    int rc;
    if (rec && e->from && json_object_set_new(rec, "from", json_string(e->from)) < 0) {
        json_decref(rec);
        rec = NULL;
    }
    if (rec == NULL)
        return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    rc = encode_record(j, rec, out, err);
    json_decref(rec);
    if (rc == 0 && e->operation) {
        rec = json_pack("{s:s, s:s, s:s}", "t", "accepted", "id", e->id, "operation", e->operation);
        rc =
            rec ? encode_record(j, rec, out, err) : errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
        json_decref(rec);
    }
    if (rc == 0 && e->phase == JOURNAL_COMPLETED && e->released)
        /* only the file still has its response: never dropped by a rewrite */
        rc = errbuf_set(err, AMLSEC_EUSAGE,
                        "journal '%s': the outcome of '%s' is not in a saved state yet; "
                        "not rewriting the journal",
                        j->path, e->address);
    if (rc == 0 && e->phase == JOURNAL_COMPLETED) {
        rec = json_pack("{s:s, s:s, s:b}", "t", "complete", "id", e->id, "ok", e->ok);
        if (rec && e->attributes && json_object_set(rec, "attributes", e->attributes) < 0) {
            json_decref(rec);
            rec = NULL;
        }
        rc =
            rec ? encode_record(j, rec, out, err) : errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
        json_decref(rec);
    }
    return rc;
}

/* Replaces the file with the pending entries alone (atomically: a kill
 * leaves the old journal or the new one) and reopens it. */
static int rewrite_pending(struct journal *j, struct errbuf *err)
{
    struct buf out;
    size_t keep = 0;
    int rc = 0, fd;

    if (j->unsynced && (rc = journal_sync(j, err)) < 0)
        return rc;
    buf_init(&out, JOURNAL_MAX_BYTES);
    for (size_t i = 0; i < j->nentries && rc == 0; i++)
        if (j->entries[i].phase != JOURNAL_DONE)
            rc = encode_entry(j, &j->entries[i], &out, err);
    if (rc == 0)
        rc = file_write_atomic(j->path, out.ptr ? out.ptr : "", out.len, 0600, err);
    if (rc == 0)
        j->bytes = out.len;
    if (out.len)
        memset(out.ptr, 0, out.len);
    buf_release(&out);
    if (rc < 0)
        return rc;
    if ((fd = open_journal_fd(j->path, err)) < 0)
        return fd;
    close(j->fd);
    j->fd = fd;
    for (size_t i = 0; i < j->nentries; i++) {
        if (j->entries[i].phase == JOURNAL_DONE)
            entry_release(&j->entries[i]);
        else
            j->entries[keep++] = j->entries[i];
    }
    j->nentries = keep;
    return 0;
}

int journal_compact(struct journal *j, struct errbuf *err)
{
    size_t pending = journal_pending(j, NULL, 0);
    int rc;
    if ((rc = save_damaged(j, err)) < 0)
        return rc;
    if (pending > 0) {
        /* worth a rewrite only when it drops something */
        if (pending == j->nentries && !j->damaged_in_file)
            return 0;
        j->damaged_in_file = false;
        return rewrite_pending(j, err);
    }
    if (j->fd >= 0 && (ftruncate(j->fd, 0) < 0 || fsync(j->fd) < 0))
        return errbuf_set(err, AMLSEC_EIO, "cannot empty the journal '%s': %s", j->path,
                          strerror(errno));
    j->damaged_in_file = false;
    j->bytes = 0;
    for (size_t i = 0; i < j->nentries; i++)
        entry_release(&j->entries[i]);
    j->nentries = 0;
    return 0;
}

static int put_entry(struct state *st, const struct journal_entry *e, json_t *attributes,
                     struct errbuf *err)
{
    struct state_resource r = {0};
    const struct state_resource *old = state_find(st, e->address);
    r.address = e->address;
    r.kind = e->kind;
    r.arm_id = e->arm_id;
    r.api_version = e->api_version;
    r.attributes = attributes;
    r.sensitive = e->sensitive;
    r.dependencies = e->dependencies;
    /* a successful create (or re-create of a tainted resource) is clean; an
     * update keeps whatever the entry was */
    r.status = old && e->op != JOURNAL_CREATE ? old->status : STATE_STATUS_CREATED;
    return state_put(st, &r, err);
}

/* A move: the entry at e->from, when it is still the resource moved (same
 * ARM id) and e->address is free, moves there. *moved: it did. */
static int move_entry(struct state *st, const struct journal_entry *e, bool *moved,
                      struct errbuf *err)
{
    const struct state_resource *old = state_find(st, e->from);
    struct state_resource keep;
    int rc;
    *moved = false;
    if (old == NULL || strcasecmp(old->arm_id, e->arm_id) != 0 || state_find(st, e->address))
        return 0;
    keep = *old;
    keep.address = e->address;
    if ((rc = state_put(st, &keep, err)) < 0 || (rc = state_remove(st, e->from, err)) < 0)
        return rc;
    *moved = true;
    return 0;
}

int journal_fold(struct journal *j, struct state *st, const char *id, struct errbuf *err)
{
    struct journal_entry *e = find_entry(j, id);
    json_t *empty = NULL;
    int rc;

    if (e == NULL)
        return errbuf_set(err, AMLSEC_ENOTFOUND, "no journal intent '%s'", id);
    if (e->phase != JOURNAL_COMPLETED)
        return errbuf_set(err, AMLSEC_EUSAGE, "journal intent '%s' has no outcome yet", id);
    if (!e->ok)
        return 0;
    if (e->op == JOURNAL_MOVE) {
        bool moved;
        return move_entry(st, e, &moved, err);
    }
    if (e->op == JOURNAL_DELETE) {
        rc = state_remove(st, e->address, err);
        state_remove_under(st, e->arm_id);
        return rc == AMLSEC_ENOTFOUND ? 0 : rc;
    }
    if (e->released)
        return errbuf_set(err, AMLSEC_EUSAGE, "journal intent '%s' was folded already", id);
    if (e->attributes == NULL)
        empty = json_object();
    rc = put_entry(st, e, e->attributes ? e->attributes : empty, err);
    json_decref(empty);
    if (rc == 0 && j->release_folded && e->attributes) {
        /* the state holds it now (as text); the file keeps it until a save */
        json_decref(e->attributes);
        e->attributes = NULL;
        e->released = true;
    }
    return rc;
}

void journal_recovery_release(struct journal_recovery *r)
{
    for (size_t i = 0; i < r->count; i++)
        free(r->items[i].address);
    free(r->items);
    memset(r, 0, sizeof(*r));
}

/* A provisioningState that says an operation is still running. */
static bool transitional(json_t *live)
{
    const char *ps = json_string_value(
        json_object_get(json_object_get(live, "properties"), "provisioningState"));
    static const char *const done[] = {"Succeeded", "Failed", "Canceled", "Cancelled"};
    if (ps == NULL || *ps == '\0')
        return false;
    for (size_t i = 0; i < sizeof(done) / sizeof(done[0]); i++)
        if (strcasecmp(ps, done[i]) == 0)
            return false;
    return true;
}

/* A provisioningState that says the last operation failed. */
static bool provisioning_failed(json_t *live)
{
    const char *ps = json_string_value(
        json_object_get(json_object_get(live, "properties"), "provisioningState"));
    return ps && (strcasecmp(ps, "Failed") == 0 || strncasecmp(ps, "Cancel", 6) == 0);
}

/* Seconds since the epoch of "YYYY-MM-DDTHH:MM:SSZ", or -1. */
static long parse_time(const char *s)
{
    struct tm tm;
    const char *end;
    memset(&tm, 0, sizeof(tm));
    end = s ? strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm) : NULL;
    if (end == NULL || *end != '\0')
        return -1;
    return (long)timegm(&tm);
}

/* Reads e's resource, first waiting for an operation the interrupted run
 * may have left running. *running: it still is (at the reader's bound).
 * *ended: the operation is known to have ended. */
static int read_settled(const struct journal_reader *rd, const struct journal_entry *e,
                        json_t **live, bool *running, bool *ended)
{
    int rc, w;
    *live = NULL;
    *running = *ended = false;
    rc = rd->read(rd->payload, e->kind, e->arm_id, live);
    if ((rc != 0 && rc != AMLSEC_ENOTFOUND) || e->phase != JOURNAL_BEGUN)
        return rc;
    w = e->operation && rd->wait_operation ? rd->wait_operation(rd->payload, e->operation)
                                           : AMLSEC_EUSAGE;
    if (w == AMLSEC_ECONFLICT) {
        *running = true;
        return rc;
    }
    /* an operation that cannot be polled (its host is gone: an embedded
     * local cloud listens elsewhere each run) tells nothing: decided as
     * without one */
    if (w == 0 || w == AMLSEC_ENOTFOUND) {
        *ended = true;
        json_decref(*live);
        *live = NULL;
        rc = rd->read(rd->payload, e->kind, e->arm_id, live);
        if (rc != 0 || !transitional(*live))
            return rc;
    }
    if (rc == 0 && transitional(*live) && rd->wait_resource) {
        json_decref(*live);
        *live = NULL;
        rc = rd->wait_resource(rd->payload, e->kind, e->arm_id, live);
        if (rc == AMLSEC_ECONFLICT) {
            *running = true;
            return 0;
        }
        *ended = rc == 0 || rc == AMLSEC_ENOTFOUND;
    }
    return rc;
}

int journal_reconcile(struct journal_recovery *out, struct journal *j, struct state *st,
                      const struct journal_reader *rd, struct errbuf *err)
{
    size_t n = journal_pending(j, NULL, 0), k = 0;
    long now = rd->now ? rd->now : (long)time(NULL);
    int rc = 0;

    memset(out, 0, sizeof(*out));
    if (n == 0)
        return 0;
    out->items = calloc(n, sizeof(*out->items));
    if (out->items == NULL)
        return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    state_batch_begin(st); /* each outcome O(1): a killed run may leave every outcome of its run */
    for (size_t i = 0; i < j->nentries; i++) {
        struct journal_entry *e = &j->entries[i];
        struct journal_recovered *item;
        json_t *live = NULL;
        const struct state_resource *cur;
        bool running, ended;

        if (e->phase == JOURNAL_DONE)
            continue;
        item = &out->items[k];
        memcpy(item->id, e->id, sizeof(e->id));
        item->address = strdup(e->address);
        item->op = e->op;
        item->phase = e->phase;
        out->count = ++k;
        if (item->address == NULL) {
            rc = errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
            break;
        }
        if (e->op == JOURNAL_MOVE) {
            /* nothing to read: the move is redone on the saved state, before
             * the outcomes journaled after it (the new resource's create) */
            bool moved;
            if ((rc = move_entry(st, e, &moved, err)) < 0)
                break;
            item->outcome = JOURNAL_MOVED;
            out->folded++;
            log_msg(LOG_INFO, "recovered the move of '%s' to '%s'%s", e->from, e->address,
                    moved ? "" : " (nothing left to move)");
            continue;
        }
        if (e->phase == JOURNAL_COMPLETED && e->ok && !e->released &&
            (e->op == JOURNAL_DELETE || e->attributes != NULL)) {
            /* its response is here: folded as the interrupted run's save
             * would have recorded it, without reading the resource (a run
             * killed after n outcomes costs no n reads) */
            if (e->op == JOURNAL_DELETE) {
                cur = state_find(st, e->address);
                if (cur && strcasecmp(cur->arm_id, e->arm_id) == 0)
                    state_remove(st, e->address, NULL);
                out->removed_children += state_remove_under(st, e->arm_id);
                item->outcome = JOURNAL_REMOVED;
            } else if ((rc = put_entry(st, e, e->attributes, err)) < 0) {
                break;
            } else {
                item->outcome = JOURNAL_ADOPTED;
            }
            out->folded++;
            log_msg(LOG_INFO, "recovered %s of '%s' from its journaled outcome: %s",
                    op_names[e->op], e->address, journal_outcome_name(item->outcome));
            continue;
        }
        if (rd->read == NULL) {
            /* no cloud to read (a command that only shows the state): what
             * the journal cannot tell stays as last saved, pending */
            item->outcome = JOURNAL_PENDING;
            out->pending++;
            continue;
        }
        rc = read_settled(rd, e, &live, &running, &ended);
        if (running && (rc == 0 || rc == AMLSEC_ENOTFOUND)) {
            /* its operation is still running: decided by a later run */
            item->outcome = JOURNAL_PENDING;
            json_decref(live);
            rc = 0;
        } else if (rc == 0) {
            /* It exists: whatever was asked, the state must know it. */
            cur = state_find(st, e->address);
            if (e->op == JOURNAL_DELETE && cur == NULL) {
                /* deleted from state earlier but alive: record it again */
                rc = put_entry(st, e, live, err);
            } else if (cur && strcmp(cur->arm_id, e->arm_id) != 0 && e->op == JOURNAL_DELETE) {
                rc = 0; /* the address was reused; the old resource is not ours to track */
            } else {
                rc = put_entry(st, e, live, err);
            }
            if (rc == 0 && e->op == JOURNAL_CREATE && provisioning_failed(live)) {
                /* the create ended Failed: tainted, so the next plan sends it again */
                struct state_resource *r = state_find(st, e->address);
                if (r)
                    r->status = STATE_STATUS_TAINTED;
            }
            item->outcome = e->op == JOURNAL_DELETE ? JOURNAL_NOT_DELETED : JOURNAL_ADOPTED;
            json_decref(live);
            if (rc < 0)
                break;
        } else if (rc == AMLSEC_ENOTFOUND) {
            long began = parse_time(e->time);
            if (e->op == JOURNAL_CREATE && e->phase == JOURNAL_BEGUN && !ended && began >= 0 &&
                now - began < JOURNAL_PENDING_MAX_S) {
                /* accepted or not, it may still appear (a create is invisible
                 * until it ends): keep the intent, look again next run */
                item->outcome = JOURNAL_PENDING;
            } else {
                cur = state_find(st, e->address);
                if (cur && strcasecmp(cur->arm_id, e->arm_id) == 0)
                    state_remove(st, e->address, NULL);
                if (e->op != JOURNAL_CREATE)
                    out->removed_children += state_remove_under(st, e->arm_id);
                item->outcome = e->op == JOURNAL_CREATE ? JOURNAL_DROPPED : JOURNAL_REMOVED;
            }
            rc = 0;
        } else {
            rc = errbuf_set(err, rc, "cannot read '%s' (%s) to recover an interrupted %s",
                            e->address, e->arm_id, op_names[e->op]);
            break;
        }
        out->pending += item->outcome == JOURNAL_PENDING;
        log_msg(LOG_INFO, "recovered %s of '%s': %s", op_names[e->op], e->address,
                journal_outcome_name(item->outcome));
    }
    state_batch_end(st);
    if (rc < 0)
        journal_recovery_release(out);
    return rc;
}

int journal_settle(struct journal *j, const struct journal_recovery *r, struct errbuf *err)
{
    int rc;
    for (size_t i = 0; i < r->count; i++) {
        struct journal_entry *e;
        if (r->items[i].outcome == JOURNAL_PENDING)
            continue;
        e = find_entry(j, r->items[i].id);
        if (e && e->phase != JOURNAL_DONE && (rc = mark_done(j, e->id, err)) < 0)
            return rc;
    }
    return journal_compact(j, err);
}
