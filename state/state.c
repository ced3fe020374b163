#include "state/state.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "parser/value.h"
#include "providers/arm/arm_provider.h"
#include "util/error.h"
#include "util/log.h"
#include "util/strmap.h"
#include "util/jsonw.h"
#include "util/banned.h"

static const char envelope_head[] = "{\"format_version\":";
static const char sha_key[] = ",\"sha256\":\"";
static const char state_key[] = "\",\"state\":";
static const char envelope_tail[] = "}\n";

/* Bytes that end a run of plain string characters: '"', '\\', controls.
 * Bytes from 0x80 end it too (rd_string): multi-byte UTF-8 is validated
 * one sequence at a time. */
static const unsigned char special[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, ['\\'] = 1,
};

/* The length of the well-formed UTF-8 sequence at p (RFC 3629: no
 * overlongs, no surrogates, at most U+10FFFF), or 0. */
static size_t utf8_seq(const unsigned char *p, const unsigned char *end)
{
    unsigned c = p[0];
    size_t n;
    unsigned lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
    } else
        return 0;
    if ((size_t)(end - p) < n || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (p[i] < 0x80 || p[i] > 0xbf)
            return 0;
    return n;
}

const char *state_status_name(enum state_status s)
{
    return s == STATE_STATUS_TAINTED ? "tainted" : "created";
}

int state_status_parse(enum state_status *out, const char *s)
{
    if (strcmp(s, "created") == 0)
        *out = STATE_STATUS_CREATED;
    else if (strcmp(s, "tainted") == 0)
        *out = STATE_STATUS_TAINTED;
    else
        return AMLSEC_EPARSE;
    return 0;
}

int state_uuid(char out[STATE_LINEAGE_LEN + 1], struct errbuf *err)
{
    unsigned char b[16];
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;

    if (RAND_bytes(b, sizeof(b)) != 1)
        return errbuf_set(err, AMLSEC_ERROR, "cannot get random bytes from openssl");
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    for (size_t i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[b[i] >> 4];
        out[o++] = hex[b[i] & 15];
    }
    out[o] = '\0';
    return 0;
}

int state_init(struct state *st, struct errbuf *err)
{
    memset(st, 0, sizeof(*st));
    st->format_version = STATE_FORMAT_VERSION;
    st->amlsec_version = strdup(AMLSEC_VERSION);
    if (st->amlsec_version == NULL)
        return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    return state_uuid(st->lineage, err);
}

static void resource_release(struct state_resource *r)
{
    free(r->address);
    free(r->kind);
    free(r->arm_id);
    free(r->api_version);
    json_decref(r->attributes);
    free(r->attributes_raw);
    json_decref(r->sensitive);
    json_decref(r->dependencies);
    memset(r, 0, sizeof(*r));
}

static void batch_free(struct state *st);

void state_release(struct state *st)
{
    batch_free(st);
    for (size_t i = 0; i < st->nresources; i++)
        resource_release(&st->resources[i]);
    free(st->resources);
    free(st->amlsec_version);
    free(st->cloud);
    json_decref(st->outputs);
    memset(st, 0, sizeof(*st));
}

void state_set_outputs(struct state *st, json_t *outputs)
{
    json_decref(st->outputs);
    st->outputs = json_object_size(outputs) ? json_incref(outputs) : NULL;
}

int state_set_cloud(struct state *st, const char *cloud, struct errbuf *err)
{
    char *copy = NULL;
    if (cloud && (copy = strdup(cloud)) == NULL)
        return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    free(st->cloud);
    st->cloud = copy;
    return 0;
}

/* --- batches --------------------------------------------------------------- */

/* The positions of the entries under one resource id. */
struct under_list {
    size_t *pos;
    size_t n, cap;
};

struct state_batch {
    struct strmap by_address; /* address -> position (stale keys lead to holes) */
    size_t sorted;            /* entries [0, sorted) are in address order */
    size_t holes;             /* removed entries not yet dropped */
    /* built on first use by state_remove_under, dropped when entries move:
     * each id an entry's id lies under (case-insensitive) -> its list */
    bool under_built;
    struct strmap under;
    struct under_list *lists;
    size_t nlists;
};

static void under_drop(struct state_batch *b)
{
    for (size_t i = 0; i < b->nlists; i++)
        free(b->lists[i].pos);
    free(b->lists);
    b->lists = NULL;
    b->nlists = 0;
    strmap_release(&b->under);
    b->under_built = false;
}

static void batch_free(struct state *st)
{
    if (st->batch) {
        under_drop(st->batch);
        strmap_release(&st->batch->by_address);
        free(st->batch);
        st->batch = NULL;
    }
}

size_t state_count(const struct state *st)
{
    return st->nresources - (st->batch ? st->batch->holes : 0);
}

static int cmp_resource(const void *a, const void *b)
{
    return strcmp(((const struct state_resource *)a)->address,
                  ((const struct state_resource *)b)->address);
}

/* Drops the holes and puts the entries back in address order: the tail
 * appended since the last flush sorted, then merged from the back with
 * the sorted part (a copy of the tail the only extra memory; without it,
 * one sort of the whole array). */
static void batch_order(struct state *st)
{
    struct state_batch *b = st->batch;
    size_t keep = 0, sorted = 0, k;
    struct state_resource *tail;

    for (size_t i = 0; i < st->nresources; i++) {
        if (st->resources[i].address == NULL)
            continue;
        if (i < b->sorted)
            sorted++;
        st->resources[keep++] = st->resources[i];
    }
    st->work += st->nresources;
    st->nresources = keep;
    b->holes = 0;
    k = keep - sorted;
    if (k > 1)
        qsort(st->resources + sorted, k, sizeof(st->resources[0]), cmp_resource);
    if (k > 0 && sorted > 0 &&
        strcmp(st->resources[sorted - 1].address, st->resources[sorted].address) > 0) {
        tail = malloc(k * sizeof(*tail));
        if (tail == NULL) {
            qsort(st->resources, keep, sizeof(st->resources[0]), cmp_resource);
        } else {
            size_t i = sorted, t = k, w = keep;
            memcpy(tail, st->resources + sorted, k * sizeof(*tail));
            while (t > 0) {
                if (i > 0 && strcmp(st->resources[i - 1].address, tail[t - 1].address) > 0)
                    st->resources[--w] = st->resources[--i];
                else
                    st->resources[--w] = tail[--t];
            }
            free(tail);
        }
    }
    b->sorted = keep;
}

/* Indexes every entry by address; false (the batch ended) when memory ran out. */
static bool batch_index(struct state *st)
{
    for (size_t i = 0; i < st->nresources; i++) {
        if (strmap_put(&st->batch->by_address, st->resources[i].address, i) < 0) {
            batch_free(st);
            return false;
        }
    }
    st->work += st->nresources;
    return true;
}

void state_batch_begin(struct state *st)
{
    if (st->batch)
        return;
    if ((st->batch = calloc(1, sizeof(*st->batch))) == NULL)
        return;
    strmap_init(&st->batch->by_address, false);
    strmap_init(&st->batch->under, true);
    st->batch->sorted = st->nresources;
    (void)batch_index(st);
}

void state_batch_flush(struct state *st)
{
    struct state_batch *b = st->batch;
    if (b == NULL || (b->holes == 0 && b->sorted == st->nresources))
        return;
    batch_order(st);
    under_drop(b); /* its positions moved */
    (void)batch_index(st);
}

void state_batch_end(struct state *st)
{
    if (st->batch == NULL)
        return;
    if (st->batch->holes || st->batch->sorted != st->nresources)
        batch_order(st);
    batch_free(st);
}

/* Outside a batch: index of address, or -(insertion point) - 1. */
static long find_index(const struct state *st, const char *address)
{
    size_t lo = 0, hi = st->nresources;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(st->resources[mid].address, address);
        if (c == 0)
            return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -(long)lo - 1;
}

/* In a batch: the position of address, or -1. */
static long batch_find(const struct state *st, const char *address)
{
    size_t at;
    if (!strmap_get(&st->batch->by_address, address, &at) || at >= st->nresources ||
        st->resources[at].address == NULL || strcmp(st->resources[at].address, address) != 0)
        return -1;
    return (long)at;
}

struct state_resource *state_find(const struct state *st, const char *address)
{
    long i = st->batch ? batch_find(st, address) : find_index(st, address);
    ((struct state *)st)->work++;
    return i >= 0 ? &st->resources[i] : NULL;
}

static char *dup_or_empty(const char *s)
{
    return strdup(s ? s : "");
}

static int resource_copy(struct state_resource *dst, const struct state_resource *src)
{
    memset(dst, 0, sizeof(*dst));
    dst->address = dup_or_empty(src->address);
    dst->kind = dup_or_empty(src->kind);
    dst->arm_id = dup_or_empty(src->arm_id);
    dst->api_version = dup_or_empty(src->api_version);
    if (src->attributes) {
        /* the canonical text a save writes: serialized once here, not at
         * every checkpoint */
        dst->attributes_raw = jsonw_dumps(src->attributes, JSON_SORT_KEYS | JSON_COMPACT);
        dst->attributes_raw_len = dst->attributes_raw ? strlen(dst->attributes_raw) : 0;
    } else if (src->attributes_raw) {
        dst->attributes_raw = malloc(src->attributes_raw_len + 1);
        if (dst->attributes_raw) {
            memcpy(dst->attributes_raw, src->attributes_raw, src->attributes_raw_len + 1);
            dst->attributes_raw_len = src->attributes_raw_len;
        }
    } else {
        dst->attributes = json_object();
    }
    dst->sensitive = src->sensitive ? json_incref(src->sensitive) : json_array();
    dst->dependencies = src->dependencies ? json_incref(src->dependencies) : json_array();
    dst->status = src->status;
    if (!dst->address || !dst->kind || !dst->arm_id || !dst->api_version ||
        (!dst->attributes && !dst->attributes_raw) || !dst->sensitive || !dst->dependencies) {
        resource_release(dst);
        return AMLSEC_ENOMEM;
    }
    return 0;
}

int state_resource_attributes(json_t **out, struct state_resource *r, struct errbuf *err)
{
    json_error_t jerr;
    json_t *v;

    if (r->attributes == NULL && r->attributes_raw) {
        v = jsonw_loadb(r->attributes_raw, r->attributes_raw_len, JSON_REJECT_DUPLICATES, &jerr);
        if (!json_is_object(v)) {
            json_decref(v);
            *out = NULL;
            return errbuf_set(err, AMLSEC_EPARSE, "attributes of '%s': %s", r->address,
                              v ? "not an object" : jerr.text);
        }
        r->attributes = v;
        free(r->attributes_raw);
        r->attributes_raw = NULL;
        r->attributes_raw_len = 0;
    }
    if (r->attributes == NULL) {
        r->attributes = json_object();
        if (r->attributes == NULL)
            return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    }
    *out = r->attributes;
    return 0;
}

static int reserve(struct state *st, size_t n)
{
    struct state_resource *p;
    size_t cap;
    if (n <= st->cap)
        return 0;
    cap = st->cap ? st->cap * 2 : 16;
    while (cap < n)
        cap *= 2;
    p = realloc(st->resources, cap * sizeof(*p));
    if (p == NULL)
        return AMLSEC_ENOMEM;
    st->resources = p;
    st->cap = cap;
    return 0;
}

static void under_add(struct state *st, size_t at);

int state_put(struct state *st, const struct state_resource *r, struct errbuf *err)
{
    struct state_resource copy;
    long i;

    if (r->address == NULL || r->address[0] == '\0')
        return errbuf_set(err, AMLSEC_EUSAGE, "resource instance without an address");
    if (r->attributes && !json_is_object(r->attributes))
        return errbuf_set(err, AMLSEC_EUSAGE, "attributes of '%s' are not an object", r->address);
    if (resource_copy(&copy, r) < 0)
        return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    st->work++;
    if (st->batch) {
        i = batch_find(st, r->address);
        if (i >= 0) {
            bool moved = strcasecmp(st->resources[i].arm_id, copy.arm_id) != 0;
            resource_release(&st->resources[i]);
            st->resources[i] = copy;
            if (moved)
                under_add(st, (size_t)i);
            return 0;
        }
        if (reserve(st, st->nresources + 1) < 0) {
            resource_release(&copy);
            return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
        }
        st->resources[st->nresources++] = copy;
        if (strmap_put(&st->batch->by_address, copy.address, st->nresources - 1) < 0)
            state_batch_end(st); /* in order again, without the index */
        else
            under_add(st, st->nresources - 1);
        return 0;
    }
    i = find_index(st, r->address);
    if (i >= 0) {
        resource_release(&st->resources[i]);
        st->resources[i] = copy;
        return 0;
    }
    if (reserve(st, st->nresources + 1) < 0) {
        resource_release(&copy);
        return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    }
    i = -i - 1;
    memmove(&st->resources[i + 1], &st->resources[i],
            (st->nresources - (size_t)i) * sizeof(st->resources[0]));
    st->work += st->nresources - (size_t)i;
    st->resources[i] = copy;
    st->nresources++;
    return 0;
}

int state_remove(struct state *st, const char *address, struct errbuf *err)
{
    long i = st->batch ? batch_find(st, address) : find_index(st, address);
    st->work++;
    if (i < 0)
        return errbuf_set(err, AMLSEC_ENOTFOUND, "no resource instance '%s' in the state", address);
    resource_release(&st->resources[i]);
    if (st->batch) {
        st->batch->holes++; /* dropped at the next flush */
        return 0;
    }
    memmove(&st->resources[i], &st->resources[i + 1],
            (st->nresources - (size_t)i - 1) * sizeof(st->resources[0]));
    st->work += st->nresources - (size_t)i - 1;
    st->nresources--;
    return 0;
}

struct under_ctx {
    struct state *st;
    const char *id;
    size_t at;
    bool failed;
};

static void under_level(void *payload, size_t len)
{
    struct under_ctx *c = payload;
    struct state_batch *b = c->st->batch;
    char key[2048];
    size_t li;
    struct under_list *l;
    if (c->failed || len >= sizeof(key)) {
        c->failed = c->failed || len >= sizeof(key);
        return;
    }
    memcpy(key, c->id, len);
    key[len] = '\0';
    if (!strmap_get(&b->under, key, &li)) {
        struct under_list *p = realloc(b->lists, (b->nlists + 1) * sizeof(*p));
        if (p == NULL || strmap_put(&b->under, key, b->nlists) < 0) {
            if (p)
                b->lists = p;
            c->failed = true;
            return;
        }
        b->lists = p;
        li = b->nlists++;
        memset(&b->lists[li], 0, sizeof(b->lists[li]));
    }
    l = &b->lists[li];
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4;
        size_t *pos = realloc(l->pos, cap * sizeof(*pos));
        if (pos == NULL) {
            c->failed = true;
            return;
        }
        l->pos = pos;
        l->cap = cap;
    }
    l->pos[l->n++] = c->at;
}

/* Registers the entry at `at` under each id its id lies under (when the
 * index is built; a failure drops the index, rebuilt on next use). */
static void under_add(struct state *st, size_t at)
{
    struct under_ctx c = {st, st->resources[at].arm_id, at, false};
    if (st->batch == NULL || !st->batch->under_built)
        return;
    (void)arm_id_levels(c.id, under_level, &c);
    st->work++;
    if (c.failed)
        under_drop(st->batch);
}

static bool under_build(struct state *st)
{
    struct state_batch *b = st->batch;
    if (b->under_built)
        return true;
    b->under_built = true;
    for (size_t i = 0; i < st->nresources && b->under_built; i++)
        if (st->resources[i].address)
            under_add(st, i);
    return b->under_built;
}

/* Whether the entry at i lies under the n bytes of arm_id; removes it. */
static bool remove_if_under(struct state *st, size_t i, const char *arm_id, size_t n)
{
    struct state_resource *r = &st->resources[i];
    char *address;
    st->work++;
    if (r->address == NULL || r->arm_id == NULL || strlen(r->arm_id) <= n || r->arm_id[n] != '/' ||
        strncasecmp(r->arm_id, arm_id, n) != 0)
        return false;
    if ((address = strdup(r->address)) == NULL)
        return false; /* the next plan finds it gone */
    if (state_remove(st, address, NULL) == 0)
        log_msg(LOG_INFO, "'%s' went with its parent '%.*s'", address, (int)n, arm_id);
    free(address);
    return true;
}

size_t state_remove_under(struct state *st, const char *arm_id)
{
    size_t n = strlen(arm_id), removed = 0, li;
    char key[2048];
    while (n > 0 && arm_id[n - 1] == '/')
        n--;
    if (st->batch && n < sizeof(key) && arm_id_levels(arm_id, NULL, NULL) == 0 && under_build(st)) {
        memcpy(key, arm_id, n);
        key[n] = '\0';
        if (!strmap_get(&st->batch->under, key, &li))
            return 0;
        /* positions of holes or of entries since moved elsewhere are
         * checked and skipped; each live one is removed once */
        for (size_t k = 0; k < st->batch->lists[li].n; k++)
            removed += remove_if_under(st, st->batch->lists[li].pos[k], arm_id, n);
        return removed;
    }
    for (size_t i = st->nresources; i-- > 0;)
        removed += remove_if_under(st, i, arm_id, n);
    return removed;
}

static bool address_valid(const char *address, const char *kind);

void state_renames_release(struct state_renames *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->from[i]);
        free(r->to[i]);
    }
    free(r->from);
    free(r->to);
    memset(r, 0, sizeof(*r));
}

/* Appends from -> to (copies; to may be NULL). */
int state_renames_add(struct state_renames *r, const char *from, const char *to, struct errbuf *err)
{
    char *f, *t = NULL;
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 8;
        char **pf = realloc(r->from, cap * sizeof(*pf)), **pt;
        if (pf)
            r->from = pf;
        pt = pf ? realloc(r->to, cap * sizeof(*pt)) : NULL;
        if (pt == NULL)
            return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
        r->to = pt;
        r->cap = cap;
    }
    f = strdup(from);
    if (f == NULL || (to && (t = strdup(to)) == NULL)) {
        free(f);
        return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    }
    r->from[r->n] = f;
    r->to[r->n++] = t;
    return 0;
}

/* from -> to + from's bytes after n (a prefix replaced). */
static int renames_add_prefixed(struct state_renames *r, const char *from, size_t n, const char *to,
                                struct errbuf *err)
{
    char *dest = NULL;
    int rc;
    if (asprintf(&dest, "%s%s", to, from + n) < 0)
        return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    rc = state_renames_add(r, from, dest, err);
    free(dest);
    return rc;
}

/* An address split as Terraform reads it: a module path (module.NAME or
 * module.NAME[KEY], repeated, joined by dots) and, unless the address is a
 * module's, a resource part TYPE.NAME or TYPE.NAME[KEY]. */
struct addr_split {
    size_t mod_len;  /* bytes of the module path; 0 in the root */
    size_t nsteps;   /* module steps */
    const char *res; /* the resource part; NULL for a module address */
    size_t type_len; /* TYPE's bytes in res */
    bool keyed;      /* res, or a module address's last step, has a key */
};

static bool ident_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

/* The end of the [KEY] at p (past its ']'), or NULL: as address_valid
 * reads keys (no control characters, no nested brackets). */
static const char *key_end(const char *p)
{
    const char *q = strchr(p, ']');
    if (*p != '[' || q == NULL || q - p < 2)
        return NULL;
    for (const char *c = p + 1; c < q; c++)
        if ((unsigned char)*c < 0x20 || *c == '[')
            return NULL;
    return q + 1;
}

static bool addr_split(const char *a, struct addr_split *s)
{
    const char *p = a, *q;
    memset(s, 0, sizeof(*s));
    while (strncmp(p, "module.", 7) == 0) {
        for (q = p + 7; ident_char(*q); q++)
            ;
        if (q == p + 7)
            return false;
        s->keyed = *q == '[';
        if (s->keyed && (q = key_end(q)) == NULL)
            return false;
        s->nsteps++;
        s->mod_len = (size_t)(q - a);
        if (*q == '\0')
            return true; /* a module */
        if (*q != '.')
            return false;
        p = q + 1;
    }
    s->res = p;
    if (!(*p >= 'a' && *p <= 'z'))
        return false;
    for (q = p; (*q >= 'a' && *q <= 'z') || (*q >= '0' && *q <= '9') || *q == '_'; q++)
        ;
    s->type_len = (size_t)(q - p);
    if (*q++ != '.' || !((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || *q == '_'))
        return false;
    while (ident_char(*q))
        q++;
    s->keyed = *q == '[';
    if (s->keyed && (q = key_end(q)) == NULL)
        return false;
    return *q == '\0' || strcmp(q, " (previous)") == 0; /* an entry's, renamed away */
}

/* The first entry at or after the addresses starting with prefix (outside
 * a batch: the entries are in order, so those with a prefix are a run). */
static size_t prefix_start(const struct state *st, const char *prefix)
{
    long i = find_index(st, prefix);
    return i >= 0 ? (size_t)i : (size_t)(-i - 1);
}

static bool has_prefix(const char *a, const char *prefix, size_t n)
{
    return strncmp(a, prefix, n) == 0;
}

/* Whether an entry of st lies directly in module path d (n bytes). */
static bool module_holds(const struct state *st, const char *d, size_t n)
{
    char *dot = malloc(n + 2);
    bool found = false;
    if (dot == NULL)
        return true; /* refused rather than risked */
    memcpy(dot, d, n);
    memcpy(dot + n, ".", 2);
    for (size_t i = prefix_start(st, dot); i < st->nresources && !found; i++) {
        struct addr_split e;
        const char *a = st->resources[i].address;
        if (!has_prefix(a, dot, n + 1))
            break;
        found = addr_split(a, &e) && e.res && e.mod_len == n;
    }
    free(dot);
    return found;
}

static const char not_an_address[] =
    "'%s' is not a resource, resource instance or module address (TYPE.NAME, TYPE.NAME[KEY], "
    "module.NAME, module.NAME[KEY], ...)";

/* The " (previous)" entry of an instance moved or removed goes with it. */
static int with_previous(const struct state *st, struct state_renames *r, const char *from,
                         const char *to, struct errbuf *err)
{
    char *pf = NULL, *pt = NULL;
    int rc = 0;
    if (asprintf(&pf, "%s (previous)", from) < 0)
        return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    if (state_find(st, pf)) {
        if (to && asprintf(&pt, "%s (previous)", to) < 0)
            rc = errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
        else
            rc = state_renames_add(r, pf, pt, err);
    }
    free(pf);
    free(pt);
    return rc;
}

/* The first entry of st, not leaving, whose address is prefix (exact) or
 * starts with it (!exact); NULL when none. */
static const char *held_not_leaving(const struct state *st, const char *prefix, bool exact,
                                    const struct strmap *leaving)
{
    size_t n = strlen(prefix), dummy;
    for (size_t i = prefix_start(st, prefix);
         i < st->nresources && has_prefix(st->resources[i].address, prefix, n); i++) {
        const char *a = st->resources[i].address;
        ((struct state *)st)->work++;
        if (exact && a[n] != '\0')
            break;
        if (leaving == NULL || !strmap_get(leaving, a, &dummy))
            return a;
    }
    return NULL;
}

/* Terraform's rule for instances: a resource's all have keys (count,
 * for_each) or none has, and so have a module call's. Checks that the
 * destinations of r keep it in st (what r moves away from st, when
 * leave, no longer counts; st outside a batch): for each step of a
 * destination (module calls, then the resource), the other form held
 * (TYPE.NAME beside TYPE.NAME[KEY], module.M.x beside module.M[KEY].x),
 * or given by another destination, is refused. Each step's look-up once:
 * O(k log n) for k renames. */
static int keys_kept(const struct state *st, const struct state_renames *r, bool leave,
                     struct errbuf *err)
{
    struct strmap leaving, seen; /* seen: a step's base -> 1 + keyed (looked up once) */
    char *look = NULL;
    int rc = 0;
    strmap_init(&leaving, false);
    strmap_init(&seen, false);
    for (size_t i = 0; leave && i < r->n && rc == 0; i++)
        if (strmap_put(&leaving, r->from[i], 1) < 0)
            rc = errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    for (size_t i = 0; i < r->n && rc == 0; i++) {
        const char *to = r->to[i], *p = to, *q, *clash;
        for (;;) {
            bool module = strncmp(p, "module.", 7) == 0, keyed;
            size_t base, was;
            if (module) {
                q = p + 7;
            } else if ((q = strchr(p, '.')) == NULL) {
                break;
            } else {
                q++;
            }
            while (ident_char(*q))
                q++;
            base = (size_t)(q - to);
            keyed = *q == '[';
            free(look);
            /* the other form: module.M. for module.M[KEY], TYPE.NAME for
             * TYPE.NAME[KEY], STEP[ for a step without a key */
            if (asprintf(&look, "%.*s%s", (int)base, to, keyed ? module ? "." : "" : "[") < 0) {
                look = NULL;
                rc = errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
                break;
            }
            look[base] = '\0'; /* the step's base, for seen */
            if (strmap_get(&seen, look, &was)) {
                if (was != 1u + keyed) {
                    rc = errbuf_set(err, AMLSEC_ECONFLICT,
                                    "cannot move %s to %s: %s %s, and another instance moved "
                                    "with it %s (a resource's or module call's instances all "
                                    "have keys, from count or for_each, or none has)",
                                    r->from[i], to, look, keyed ? "has a key" : "has no key",
                                    keyed ? "has none" : "has one");
                    break;
                }
            } else {
                if (strmap_put(&seen, look, 1u + keyed) < 0) {
                    rc = errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
                    break;
                }
                look[base] = keyed ? module ? '.' : '\0' : '[';
                clash = held_not_leaving(st, look, keyed && !module, leave ? &leaving : NULL);
                if (clash == NULL && keyed && !module) {
                    /* an instance's " (previous)" entry without its own */
                    free(look);
                    look = NULL;
                    if (asprintf(&look, "%.*s (previous)", (int)base, to) < 0) {
                        rc = errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
                        break;
                    }
                    clash = held_not_leaving(st, look, true, leave ? &leaving : NULL);
                }
                if (clash) {
                    rc = errbuf_set(err, AMLSEC_ECONFLICT,
                                    "cannot move %s to %s: %.*s %s, and the state holds %s, "
                                    "which %s (a resource's or module call's instances all have "
                                    "keys, from count or for_each, or none has: move or remove "
                                    "%s first)",
                                    r->from[i], to, (int)base, to,
                                    keyed ? "has a key" : "has no key", clash,
                                    keyed ? "has none" : "has one", clash);
                    break;
                }
            }
            if (!module)
                break;
            if (keyed && (q = key_end(q)) == NULL)
                break;
            if (*q != '.')
                break;
            p = q + 1;
        }
    }
    free(look);
    strmap_release(&leaving);
    strmap_release(&seen);
    return rc;
}

int state_mv_match_into(const struct state *st, const struct state *dst, const char *from,
                        const char *to, struct state_renames *out, struct errbuf *err)
{
    struct addr_split f, t;
    const struct state_resource *r = state_find(st, from);
    size_t n = strlen(from), i, last_len = 0;
    const char *last = "";
    char *prefix = NULL;
    int rc = 0;

    memset(out, 0, sizeof(*out));
    if (st->batch || dst->batch)
        return errbuf_set(err, AMLSEC_ERROR, "state_mv_match in a batch");
    if (r == NULL && !addr_split(from, &f))
        return errbuf_set(err, AMLSEC_EUSAGE, not_an_address, from);
    if (!addr_split(to, &t) || strstr(to, " (previous)"))
        return errbuf_set(err, AMLSEC_EUSAGE, not_an_address, to);
    if (r || (f.res && f.keyed)) {
        /* an instance (keyed, or the one of a resource without count or
         * for_each): to an instance, or a resource (its unkeyed instance) */
        if (r == NULL)
            return errbuf_set(err, AMLSEC_ENOTFOUND, "no resource instance '%s' in the state",
                              from);
        if (t.res == NULL)
            return errbuf_set(err, AMLSEC_EUSAGE,
                              "cannot move %s to %s: the target must also be a resource instance",
                              from, to);
        if (strncmp(r->kind, t.res, t.type_len) != 0 || r->kind[t.type_len] != '\0')
            return errbuf_set(err, AMLSEC_EUSAGE,
                              "cannot move %s to %s: resource types don't match (%s, %.*s)", from,
                              to, r->kind, (int)t.type_len, t.res);
        if (state_find(dst, to))
            return errbuf_set(err, AMLSEC_ECONFLICT,
                              "cannot move to %s: there is already a resource instance at that "
                              "address in the state",
                              to);
        if ((rc = state_renames_add(out, from, to, err)) == 0)
            rc = with_previous(st, out, from, to, err);
        goto done;
    }
    if (f.res == NULL) {
        /* a module instance: it and the modules under it (module.a is not
         * module.a["x"]: Terraform's state mv names instances exactly) */
        if (t.res != NULL)
            return errbuf_set(err, AMLSEC_EUSAGE,
                              "cannot move %s to %s: the target must also be a module", from, to);
        if (module_holds(dst, to, strlen(to)))
            return errbuf_set(err, AMLSEC_ECONFLICT,
                              "cannot move %s to %s: the destination module %s already exists in "
                              "the state",
                              from, to, to);
        if (asprintf(&prefix, "%s.", from) < 0)
            return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
        for (i = prefix_start(st, prefix);
             rc == 0 && i < st->nresources && has_prefix(st->resources[i].address, prefix, n + 1);
             i++) {
            const char *a = st->resources[i].address;
            struct addr_split e;
            /* the destination of the module the entry is directly in
             * (once per module: its entries are a run) */
            if (addr_split(a, &e) && e.res &&
                (e.mod_len != last_len || strncmp(a, last, e.mod_len))) {
                size_t dl = strlen(to) + e.mod_len - n;
                char *d = NULL;
                last = a;
                last_len = e.mod_len;
                if (asprintf(&d, "%s%.*s", to, (int)(e.mod_len - n), a + n) < 0)
                    rc = errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
                else if (module_holds(dst, d, dl))
                    rc = errbuf_set(err, AMLSEC_ECONFLICT,
                                    "cannot move %s to %s: the destination module %s already "
                                    "exists in the state",
                                    from, to, d);
                free(d);
            }
            if (rc == 0)
                rc = renames_add_prefixed(out, a, n, to, err);
        }
        if (rc == 0 && out->n == 0) {
            /* module.a when the state holds module.a["x"]...: name one */
            free(prefix);
            prefix = NULL;
            if (asprintf(&prefix, "%s[", from) < 0)
                return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
            i = prefix_start(st, prefix);
            if (i < st->nresources && has_prefix(st->resources[i].address, prefix, n + 1))
                rc = errbuf_set(err, AMLSEC_ENOTFOUND,
                                "cannot move %s: it does not match anything in the state (the "
                                "state holds its instances, e.g. %.*s: move each, or write a "
                                "moved block, which moves them all)",
                                from, (int)(strcspn(st->resources[i].address + n, "]") + n + 1),
                                st->resources[i].address);
            else
                rc = errbuf_set(err, AMLSEC_ENOTFOUND,
                                "cannot move %s: it does not match anything in the state", from);
        }
        goto done;
    }
    /* a whole resource (count or for_each): every instance, keys kept */
    if (t.res == NULL || t.keyed)
        return errbuf_set(err, AMLSEC_EUSAGE,
                          "cannot move %s to %s: the source is a whole resource (not a resource "
                          "instance), so the target must also be a whole resource",
                          from, to);
    if (f.type_len != t.type_len || strncmp(f.res, t.res, f.type_len) != 0)
        return errbuf_set(err, AMLSEC_EUSAGE,
                          "cannot move %s to %s: resource types don't match (%.*s, %.*s)", from, to,
                          (int)f.type_len, f.res, (int)t.type_len, t.res);
    if (asprintf(&prefix, "%s[", to) < 0)
        return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    i = prefix_start(dst, prefix);
    if (state_find(dst, to) ||
        (i < dst->nresources && has_prefix(dst->resources[i].address, prefix, strlen(prefix)))) {
        rc = errbuf_set(err, AMLSEC_ECONFLICT,
                        "cannot move to %s: there is already a resource at that address in the "
                        "state",
                        to);
        goto done;
    }
    free(prefix);
    if (asprintf(&prefix, "%s[", from) < 0)
        return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    for (i = prefix_start(st, prefix);
         rc == 0 && i < st->nresources && has_prefix(st->resources[i].address, prefix, n + 1); i++)
        rc = renames_add_prefixed(out, st->resources[i].address, n, to, err);
    if (rc == 0 && out->n == 0)
        rc = errbuf_set(err, AMLSEC_ENOTFOUND,
                        "cannot move %s: it does not match anything in the state", from);
done:
    free(prefix);
    if (rc == 0)
        rc = keys_kept(dst, out, st == dst, err);
    if (rc < 0)
        state_renames_release(out);
    return rc;
}

int state_mv_match(const struct state *st, const char *from, const char *to,
                   struct state_renames *out, struct errbuf *err)
{
    return state_mv_match_into(st, st, from, to, out, err);
}

/* Whether the entry at address a lies in module path m (the module, or one
 * under it): Terraform's rule for state rm, where a step without a key
 * names every instance (module.a holds module.a["x"].module.b). */
static bool in_module(const char *a, const char *m, const struct addr_split *ms)
{
    const char *p = a, *q = m;
    for (size_t k = 0; k < ms->nsteps; k++) {
        size_t pn, qn;
        if (strncmp(p, "module.", 7) != 0)
            return false;
        for (pn = 7; ident_char(p[pn]); pn++)
            ;
        for (qn = 7; ident_char(q[qn]); qn++)
            ;
        if (pn != qn || strncmp(p, q, pn) != 0)
            return false;
        p += pn;
        q += qn;
        if (*q == '[') { /* the key must be the same */
            const char *qe = key_end(q), *pe = key_end(p);
            if (qe == NULL || pe == NULL || pe - p != qe - q || strncmp(p, q, (size_t)(qe - q)))
                return false;
            p = pe;
            q = qe;
        } else if (*p == '[' && (p = key_end(p)) == NULL) {
            return false;
        }
        if (*p != '.')
            return false;
        p++;
        q += *q == '.';
    }
    return true;
}

int state_match(const struct state *st, const char *address, struct state_renames *out,
                struct errbuf *err)
{
    struct addr_split a;
    size_t before = out->n, n = strlen(address);
    int rc = 0;

    if (st->batch)
        return errbuf_set(err, AMLSEC_ERROR, "state_match in a batch");
    if (state_find(st, address)) {
        if ((rc = state_renames_add(out, address, NULL, err)) == 0)
            rc = with_previous(st, out, address, NULL, err);
        return rc;
    }
    if (!addr_split(address, &a))
        return errbuf_set(err, AMLSEC_EUSAGE, not_an_address, address);
    if (a.res && a.keyed)
        return errbuf_set(err, AMLSEC_ENOTFOUND, "no resource instance '%s' in the state", address);
    if (a.res) {
        /* a whole resource: its instances (and theirs " (previous)") */
        char *prefix = NULL;
        if (asprintf(&prefix, "%s[", address) < 0)
            return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
        for (size_t i = prefix_start(st, prefix);
             rc == 0 && i < st->nresources && has_prefix(st->resources[i].address, prefix, n + 1);
             i++)
            rc = state_renames_add(out, st->resources[i].address, NULL, err);
        free(prefix);
        if (rc == 0 && out->n == before)
            rc = errbuf_set(err, AMLSEC_ENOTFOUND, "no resource '%s' in the state", address);
        return rc;
    }
    for (size_t i = 0; rc == 0 && i < st->nresources; i++)
        if (in_module(st->resources[i].address, address, &a))
            rc = state_renames_add(out, st->resources[i].address, NULL, err);
    if (rc == 0 && out->n == before)
        rc = errbuf_set(err, AMLSEC_ENOTFOUND, "no module '%s' in the state", address);
    return rc;
}

int state_rename(struct state *st, const struct state_renames *r, struct errbuf *err)
{
    struct state_resource *copies;
    struct strmap moving; /* from -> its index in r */
    bool own_batch = st->batch == NULL;
    size_t i, k, at;
    int rc = 0;

    if (r->n == 0)
        return 0;
    strmap_init(&moving, false);
    for (i = 0; i < r->n && rc == 0; i++)
        if (strmap_put(&moving, r->from[i], i) < 0)
            rc = errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    /* all checked before anything changes */
    for (i = 0; i < r->n && rc == 0; i++) {
        const struct state_resource *e = state_find(st, r->from[i]);
        if (e == NULL)
            rc = errbuf_set(err, AMLSEC_ENOTFOUND, "no resource instance '%s' in the state",
                            r->from[i]);
        else if (r->to[i] == NULL || r->to[i][0] == '\0')
            rc = errbuf_set(err, AMLSEC_EUSAGE, "empty destination address");
        else if (state_find(st, r->to[i]) && !strmap_get(&moving, r->to[i], &at))
            rc = errbuf_set(err, AMLSEC_ECONFLICT, "resource instance '%s' already exists",
                            r->to[i]);
        else if (!address_valid(r->to[i], e->kind))
            rc = errbuf_set(err, AMLSEC_EUSAGE,
                            "cannot move %s to %s: '%s' is not an address of a %s", r->from[i],
                            r->to[i], r->to[i], e->kind);
    }
    /* TYPE.NAME beside TYPE.NAME[KEY] (a batch's entries sorted first) */
    if (rc == 0 && st->batch)
        state_batch_flush(st);
    if (rc == 0)
        rc = keys_kept(st, r, true, err);
    /* two sources onto one destination */
    strmap_release(&moving);
    strmap_init(&moving, false);
    for (k = 0; k < r->n && rc == 0; k++) {
        if (strmap_get(&moving, r->to[k], &at))
            rc = errbuf_set(err, AMLSEC_ECONFLICT, "%s and %s would both move to %s", r->from[at],
                            r->from[k], r->to[k]);
        else if (strmap_put(&moving, r->to[k], k) < 0)
            rc = errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    }
    copies = rc == 0 ? calloc(r->n, sizeof(*copies)) : NULL;
    if (rc == 0 && copies == NULL)
        rc = errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    for (i = 0; i < r->n && rc == 0; i++) {
        if (resource_copy(&copies[i], state_find(st, r->from[i])) < 0)
            rc = errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
        free(copies[i].address);
        copies[i].address = r->to[i];
    }
    /* a batch: each remove and put O(1), the order put back at the end
     * (one rename moves entries once, as a batch's index would cost) */
    if (rc == 0 && r->n > 1)
        state_batch_begin(st);
    for (i = 0; i < r->n && rc == 0; i++)
        rc = state_remove(st, r->from[i], err);
    for (i = 0; i < r->n && rc == 0; i++)
        rc = state_put(st, &copies[i], err);
    if (own_batch && st->batch)
        state_batch_end(st);
    for (i = 0; copies && i < r->n; i++) {
        copies[i].address = NULL; /* r's */
        resource_release(&copies[i]);
    }
    free(copies);
    /* dependencies naming an old address now name the new one: one pass */
    strmap_release(&moving);
    strmap_init(&moving, false);
    for (i = 0; i < r->n && rc == 0; i++)
        if (strmap_put(&moving, r->from[i], i) < 0)
            rc = errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    for (i = 0; rc == 0 && i < st->nresources; i++) {
        json_t *deps = st->resources[i].dependencies, *v;
        if (st->resources[i].address == NULL)
            continue; /* a batch's hole */
        json_array_foreach(deps, k, v)
        {
            st->work++;
            if (json_is_string(v) && strmap_get(&moving, json_string_value(v), &at) &&
                json_array_set_new(deps, k, json_string(r->to[at])) < 0)
                rc = errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
        }
    }
    strmap_release(&moving);
    return rc;
}

int state_move(struct state *st, const char *from, const char *to, struct errbuf *err)
{
    struct state_renames r = {0};
    int rc;
    if (state_find(st, from) == NULL)
        return errbuf_set(err, AMLSEC_ENOTFOUND, "no resource instance '%s' in the state", from);
    if ((rc = state_renames_add(&r, from, to, err)) == 0)
        rc = state_rename(st, &r, err);
    state_renames_release(&r);
    return rc;
}

/* --- serialization ---------------------------------------------------------- */

static void hex_encode(char *out, const unsigned char *in, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[in[i] >> 4];
        out[2 * i + 1] = hex[in[i] & 15];
    }
    out[2 * n] = '\0';
}

static int sha256_hex(char out[65], const void *data, size_t len)
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
        return AMLSEC_ERROR;
    hex_encode(out, md, 32);
    return 0;
}

/* A JSON string, escaped as jansson does by default (UTF-8 kept). */
static int add_jstr(struct buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t run = 0;
    if (buf_addch(b, '"') < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        char u[7];
        if (!special[c]) {
            run++;
            continue;
        }
        if (c == '"')
            esc = "\\\"";
        else if (c == '\\')
            esc = "\\\\";
        else if (c == '\n')
            esc = "\\n";
        else if (c == '\t')
            esc = "\\t";
        else if (c == '\r')
            esc = "\\r";
        else if (c == '\b')
            esc = "\\b";
        else if (c == '\f')
            esc = "\\f";
        else if (c < 0x20) {
            memcpy(u, "\\u00", 4);
            u[4] = hex[c >> 4];
            u[5] = hex[c & 15];
            u[6] = '\0';
            esc = u;
        }
        if (esc == NULL) {
            run++;
            continue;
        }
        if (buf_add(b, s + i - run, run) < 0 || buf_adds(b, esc) < 0)
            return -1;
        run = 0;
    }
    if (buf_add(b, s + n - run, run) < 0)
        return -1;
    return buf_addch(b, '"');
}

static int add_key_str(struct buf *b, const char *key, const char *val)
{
    if (buf_addch(b, '"') < 0 || buf_adds(b, key) < 0 || buf_adds(b, "\":") < 0)
        return -1;
    return add_jstr(b, val, strlen(val));
}

static int add_str_array(struct buf *b, const char *key, json_t *arr)
{
    size_t i;
    json_t *v;
    if (buf_addch(b, '"') < 0 || buf_adds(b, key) < 0 || buf_adds(b, "\":[") < 0)
        return -1;
    json_array_foreach(arr, i, v)
    {
        if ((i && buf_addch(b, ',') < 0) ||
            add_jstr(b, json_string_value(v), json_string_length(v)) < 0)
            return -1;
    }
    return buf_addch(b, ']');
}

static int dump_to_buf(const char *data, size_t size, void *payload)
{
    return buf_add(payload, data, size) < 0 ? -1 : 0;
}

/* One instance: an object with sorted keys, compact. */
static int add_resource(struct buf *b, const struct state_resource *r)
{
    if (buf_addch(b, '{') < 0 || add_key_str(b, "address", r->address) < 0 ||
        buf_addch(b, ',') < 0 || add_key_str(b, "api_version", r->api_version) < 0 ||
        buf_addch(b, ',') < 0 || add_key_str(b, "arm_id", r->arm_id) < 0 ||
        buf_adds(b, ",\"attributes\":") < 0)
        return -1;
    if (r->attributes) {
        if (jsonw_dump_callback(r->attributes, dump_to_buf, b, JSON_SORT_KEYS | JSON_COMPACT) < 0)
            return -1;
    } else if (buf_add(b, r->attributes_raw ? r->attributes_raw : "{}",
                       r->attributes_raw ? r->attributes_raw_len : 2) < 0) {
        return -1;
    }
    if (buf_addch(b, ',') < 0 || add_str_array(b, "dependencies", r->dependencies) < 0 ||
        buf_addch(b, ',') < 0 || add_key_str(b, "kind", r->kind) < 0 || buf_addch(b, ',') < 0 ||
        add_str_array(b, "sensitive", r->sensitive) < 0 || buf_addch(b, ',') < 0 ||
        add_key_str(b, "status", state_status_name(r->status)) < 0)
        return -1;
    return buf_addch(b, '}');
}

int state_serialize(const struct state *st, struct buf *out, struct errbuf *err)
{
    char sum[65];
    size_t start = out->len, body;
    int rc = AMLSEC_ENOMEM;

    if (st->batch && (st->batch->holes || st->batch->sorted != st->nresources))
        return errbuf_set(err, AMLSEC_EUSAGE,
                          "the state is in the middle of a batch (state_batch_flush first)");
    /* The envelope, with a placeholder checksum filled in at the end. */
    if (buf_addf(out, "%s%d%s%064d%s", envelope_head, STATE_FORMAT_VERSION, sha_key, 0, state_key) <
        0)
        goto out;
    body = out->len;
    {
        size_t guess = 256;
        for (size_t i = 0; i < st->nresources; i++)
            guess += st->resources[i].attributes_raw_len + 512;
        if (buf_grow(out, guess) < 0)
            goto out;
    }
    if (buf_addch(out, '{') < 0 ||
        add_key_str(out, "amlsec_version",
                    st->amlsec_version ? st->amlsec_version : AMLSEC_VERSION) < 0 ||
        (st->cloud && (buf_addch(out, ',') < 0 || add_key_str(out, "cloud", st->cloud) < 0)) ||
        buf_addch(out, ',') < 0 || add_key_str(out, "lineage", st->lineage) < 0)
        goto out;
    if (json_object_size(st->outputs)) {
        /* values still unknown in a plan file's form (parser/value.h:
         * no NUL), each entry's */
        json_t *f = json_object();
        const char *name;
        json_t *e;
        char *text = NULL;
        int bad = f == NULL;
        json_object_foreach(st->outputs, name, e) if (!bad) bad =
            json_object_set_new(f, name, value_file_form(e)) < 0;
        if (!bad)
            text = jsonw_dumps(f, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        bad = bad || text == NULL || buf_addf(out, ",\"outputs\":%s", text) < 0;
        json_decref(f);
        free(text);
        if (bad)
            goto out;
    }
    if (buf_adds(out, ",\"resources\":[") < 0)
        goto out;
    for (size_t i = 0; i < st->nresources; i++) {
        if (buf_adds(out, i ? ",\n" : "\n") < 0 || add_resource(out, &st->resources[i]) < 0)
            goto out;
    }
    if (buf_addf(out, "%s],\"serial\":%llu}", st->nresources ? "\n" : "",
                 (unsigned long long)st->serial) < 0)
        goto out;
    if (sha256_hex(sum, out->ptr + body, out->len - body) < 0) {
        rc = errbuf_set(err, AMLSEC_ERROR, "cannot compute sha-256");
        goto out;
    }
    memcpy(out->ptr + body - strlen(state_key) - 64, sum, 64);
    if (buf_adds(out, envelope_tail) < 0)
        goto out;
    rc = 0;
out:
    if (rc < 0) {
        if (rc == AMLSEC_ENOMEM)
            errbuf_set(err, rc, "out of memory serializing the state");
        out->len = start;
        out->ptr[start] = '\0';
    }
    return rc;
}

/* --- parsing ---------------------------------------------------------------- */

static int starts_with(const char *p, const char *end, const char *lit)
{
    size_t n = strlen(lit);
    return (size_t)(end - p) >= n && memcmp(p, lit, n) == 0;
}

/* For files without our envelope: a newer format still names its version. */
static int parse_foreign(const char *data, size_t len, const char *what, struct errbuf *err)
{
    json_error_t jerr;
    json_t *doc = json_loadb(data, len, 0, &jerr);
    json_t *v = doc ? json_object_get(doc, "format_version") : NULL;
    int rc;

    if (doc == NULL)
        rc = errbuf_set(err, AMLSEC_ECORRUPT, "'%s' is not a valid state file (%s at byte %d)",
                        what, jerr.text, jerr.position);
    else if (json_is_integer(v) && json_integer_value(v) > STATE_FORMAT_VERSION)
        rc = errbuf_set(err, AMLSEC_EPARSE,
                        "'%s' has state format %lld, newer than this amlsec reads (%d); "
                        "upgrade amlsec",
                        what, (long long)json_integer_value(v), STATE_FORMAT_VERSION);
    else
        rc = errbuf_set(err, AMLSEC_ECORRUPT,
                        "'%s' is not an amlsec state file or was edited (missing the "
                        "checksummed envelope)",
                        what);
    json_decref(doc);
    return rc;
}

/* A small reader for the body, which amlsec writes itself (compact, one
 * instance per line). The small fields are decoded here; each "attributes"
 * object is only validated and skipped, and kept as text until used, so
 * loading a large state does not build (and later free) a tree for every
 * attribute. Whitespace is accepted anywhere JSON allows it. */
struct reader {
    const char *p, *end, *start;
    const char *what;
    struct errbuf *err;
    char ctx[64]; /* the JSON path being read ("resources[3].attributes"), or "" */
};

static int rd_error(struct reader *rd, const char *msg)
{
    return errbuf_set(rd->err, AMLSEC_EPARSE, "'%s': %s%s%s at byte %zu of the state body",
                      rd->what, rd->ctx, rd->ctx[0] ? ": " : "", msg, (size_t)(rd->p - rd->start));
}

static void rd_ws(struct reader *rd)
{
    while (rd->p < rd->end && (*rd->p == ' ' || *rd->p == '\n' || *rd->p == '\t' || *rd->p == '\r'))
        rd->p++;
}

static int rd_expect(struct reader *rd, char c)
{
    rd_ws(rd);
    if (rd->p >= rd->end || *rd->p != c) {
        char msg[32];
        snprintf(msg, sizeof(msg), "expected '%c'", c);
        return rd_error(rd, msg);
    }
    rd->p++;
    return 0;
}

static int hex4(const char *p, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

static int put_utf8(struct buf *b, unsigned cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xc0 | cp >> 6);
        u[1] = (char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xe0 | cp >> 12);
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[2] = (char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        u[0] = (char)(0xf0 | cp >> 18);
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[3] = (char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    return buf_add(b, u, n);
}

/* Reads a string; with out NULL it is only validated and skipped. */
static int rd_string(struct reader *rd, struct buf *out)
{
    const char *run;
    rd_ws(rd);
    if (rd->p >= rd->end || *rd->p != '"')
        return rd_error(rd, "expected a string");
    run = ++rd->p;
    for (;;) {
        unsigned char c;
        while (rd->p < rd->end && !special[(unsigned char)*rd->p] && (unsigned char)*rd->p < 0x80)
            rd->p++;
        if (rd->p >= rd->end)
            return rd_error(rd, "unterminated string");
        c = (unsigned char)*rd->p;
        if (c == '"')
            break;
        if (c < 0x20)
            return rd_error(rd, "control character in a string");
        if (c >= 0x80) {
            size_t n = utf8_seq((const unsigned char *)rd->p, (const unsigned char *)rd->end);
            if (n == 0)
                return rd_error(rd, "invalid UTF-8 in a string");
            rd->p += n;
            continue;
        }
        if (out && buf_add(out, run, (size_t)(rd->p - run)) < 0)
            return errbuf_set(rd->err, AMLSEC_ENOMEM, "out of memory");
        if (rd->end - rd->p < 2)
            return rd_error(rd, "unterminated string");
        c = (unsigned char)rd->p[1];
        rd->p += 2;
        if (c == 'u') {
            unsigned cp, lo;
            if (rd->end - rd->p < 4 || hex4(rd->p, &cp) < 0)
                return rd_error(rd, "invalid \\u escape");
            rd->p += 4;
            if (cp >= 0xd800 && cp < 0xdc00) {
                if (rd->end - rd->p < 6 || rd->p[0] != '\\' || rd->p[1] != 'u' ||
                    hex4(rd->p + 2, &lo) < 0 || lo < 0xdc00 || lo > 0xdfff)
                    return rd_error(rd, "invalid surrogate pair");
                rd->p += 6;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            } else if (cp >= 0xdc00 && cp < 0xe000) {
                return rd_error(rd, "invalid surrogate");
            }
            if (out && put_utf8(out, cp) < 0)
                return errbuf_set(rd->err, AMLSEC_ENOMEM, "out of memory");
        } else {
            const char *from = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t";
            const char *hit = c ? strchr(from, (int)c) : NULL;
            if (hit == NULL)
                return rd_error(rd, "invalid escape");
            if (out && buf_addch(out, to[hit - from]) < 0)
                return errbuf_set(rd->err, AMLSEC_ENOMEM, "out of memory");
        }
        run = rd->p;
    }
    if (out && buf_add(out, run, (size_t)(rd->p - run)) < 0)
        return errbuf_set(rd->err, AMLSEC_ENOMEM, "out of memory");
    rd->p++;
    return 0;
}

static int rd_number(struct reader *rd)
{
    const char *s = rd->p;
    if (rd->p < rd->end && *rd->p == '-')
        rd->p++;
    if (rd->p < rd->end && *rd->p == '0')
        rd->p++;
    else if (rd->p < rd->end && *rd->p >= '1' && *rd->p <= '9')
        while (rd->p < rd->end && *rd->p >= '0' && *rd->p <= '9')
            rd->p++;
    else
        return rd_error(rd, "invalid value");
    if (rd->p < rd->end && *rd->p == '.') {
        rd->p++;
        if (rd->p >= rd->end || *rd->p < '0' || *rd->p > '9')
            return rd_error(rd, "invalid number");
        while (rd->p < rd->end && *rd->p >= '0' && *rd->p <= '9')
            rd->p++;
    }
    if (rd->p < rd->end && (*rd->p == 'e' || *rd->p == 'E')) {
        rd->p++;
        if (rd->p < rd->end && (*rd->p == '+' || *rd->p == '-'))
            rd->p++;
        if (rd->p >= rd->end || *rd->p < '0' || *rd->p > '9')
            return rd_error(rd, "invalid number");
        while (rd->p < rd->end && *rd->p >= '0' && *rd->p <= '9')
            rd->p++;
    }
    return rd->p > s ? 0 : rd_error(rd, "invalid value");
}

static int rd_skip(struct reader *rd, int depth)
{
    int rc;
    rd_ws(rd);
    if (rd->p >= rd->end)
        return rd_error(rd, "unexpected end");
    if (depth > 256)
        return rd_error(rd, "nested too deeply");
    switch (*rd->p) {
    case '"':
        return rd_string(rd, NULL);
    case '{':
        rd->p++;
        rd_ws(rd);
        if (rd->p < rd->end && *rd->p == '}') {
            rd->p++;
            return 0;
        }
        for (;;) {
            if ((rc = rd_string(rd, NULL)) < 0 || (rc = rd_expect(rd, ':')) < 0 ||
                (rc = rd_skip(rd, depth + 1)) < 0)
                return rc;
            rd_ws(rd);
            if (rd->p < rd->end && *rd->p == ',') {
                rd->p++;
                continue;
            }
            return rd_expect(rd, '}');
        }
    case '[':
        rd->p++;
        rd_ws(rd);
        if (rd->p < rd->end && *rd->p == ']') {
            rd->p++;
            return 0;
        }
        for (;;) {
            if ((rc = rd_skip(rd, depth + 1)) < 0)
                return rc;
            rd_ws(rd);
            if (rd->p < rd->end && *rd->p == ',') {
                rd->p++;
                continue;
            }
            return rd_expect(rd, ']');
        }
    case 't':
    case 'f':
    case 'n': {
        static const char *const lits[] = {"true", "false", "null"};
        for (int i = 0; i < 3; i++) {
            size_t n = strlen(lits[i]);
            if ((size_t)(rd->end - rd->p) >= n && memcmp(rd->p, lits[i], n) == 0) {
                rd->p += n;
                return 0;
            }
        }
        return rd_error(rd, "invalid value");
    }
    default:
        return rd_number(rd);
    }
}

/* Iterates the keys of an object: call with *first = 1; returns 1 and the
 * key in *key while there are members, 0 at the closing brace. */
static int rd_next_key(struct reader *rd, struct buf *key, int *first)
{
    int rc;
    rd_ws(rd);
    if (*first) {
        *first = 0;
        if ((rc = rd_expect(rd, '{')) < 0)
            return rc;
        rd_ws(rd);
        if (rd->p < rd->end && *rd->p == '}') {
            rd->p++;
            return 0;
        }
    } else {
        if (rd->p < rd->end && *rd->p == '}') {
            rd->p++;
            return 0;
        }
        if ((rc = rd_expect(rd, ',')) < 0)
            return rc;
    }
    buf_reset(key);
    if ((rc = rd_string(rd, key)) < 0 || (rc = rd_expect(rd, ':')) < 0)
        return rc;
    return 1;
}

static int rd_strdup(struct reader *rd, char **out, struct buf *tmp)
{
    int rc;
    buf_reset(tmp);
    if ((rc = rd_string(rd, tmp)) < 0)
        return rc;
    if (memchr(tmp->ptr, '\0', tmp->len))
        return rd_error(rd, "NUL in a string");
    free(*out);
    *out = strdup(tmp->ptr);
    return *out ? 0 : errbuf_set(rd->err, AMLSEC_ENOMEM, "out of memory");
}

static int rd_str_array(struct reader *rd, json_t **out, struct buf *tmp)
{
    int rc;
    json_decref(*out);
    *out = json_array();
    if (*out == NULL)
        return errbuf_set(rd->err, AMLSEC_ENOMEM, "out of memory");
    if ((rc = rd_expect(rd, '[')) < 0)
        return rc;
    rd_ws(rd);
    if (rd->p < rd->end && *rd->p == ']') {
        rd->p++;
        return 0;
    }
    for (;;) {
        json_t *v;
        buf_reset(tmp);
        if ((rc = rd_string(rd, tmp)) < 0)
            return rc;
        v = json_stringn(tmp->ptr, tmp->len);
        if (v == NULL)
            return rd_error(rd, "invalid UTF-8 in a string");
        if (json_array_append_new(*out, v) < 0)
            return errbuf_set(rd->err, AMLSEC_ENOMEM, "out of memory");
        rd_ws(rd);
        if (rd->p < rd->end && *rd->p == ',') {
            rd->p++;
            continue;
        }
        return rd_expect(rd, ']');
    }
}

static bool ieq(const char *a, size_t n, const char *lit)
{
    return strlen(lit) == n && strncasecmp(a, lit, n) == 0;
}

bool state_arm_id_valid(const char *id)
{
    const char *seg[256];
    size_t len[256], n = 0, i = 0;
    const char *p = id;

    if (id == NULL || *id != '/' || strlen(id) > 4096)
        return false;
    while (*p == '/') {
        const char *start = ++p;
        while (*p && *p != '/') {
            unsigned char c = (unsigned char)*p;
            if (c <= 0x20 || c == 0x7f || c == '?' || c == '#' || c == '"' || c == '\\')
                return false;
            p++;
        }
        if (p == start || n == sizeof(seg) / sizeof(seg[0]))
            return false; /* an empty segment ("//", a trailing '/'), or absurdly deep */
        seg[n] = start;
        len[n++] = (size_t)(p - start);
    }
    if (ieq(seg[0], len[0], "subscriptions")) {
        if (n < 2)
            return false;
        i = 2;
        if (i < n && ieq(seg[i], len[i], "resourceGroups")) {
            if (i + 1 >= n)
                return false;
            i += 2;
        }
    } else if (!ieq(seg[0], len[0], "providers")) {
        return false;
    }
    while (i < n) {
        size_t pairs = 0;
        /* /providers/Namespace.Name/type/name[/type/name]... */
        if (!ieq(seg[i], len[i], "providers") || i + 1 >= n || !memchr(seg[i + 1], '.', len[i + 1]))
            return false;
        for (i += 2; i < n && !ieq(seg[i], len[i], "providers"); i += 2, pairs++)
            if (i + 1 >= n)
                return false;
        if (pairs == 0)
            return false;
    }
    return true;
}

/* "kind.name", "kind.name[key]" or either with " (previous)" (the old
 * resource of a renamed replacement), kind being the entry's kind. */
/* Skips a module path, module.NAME[KEY]. (repeated), at the start of an
 * address; NULL when it is malformed. */
static const char *skip_module_path(const char *a)
{
    while (strncmp(a, "module.", 7) == 0) {
        const char *p = a + 7, *name = p;
        while (ident_char(*p))
            p++;
        if (p == name)
            return NULL;
        if (*p == '[' && (p = key_end(p)) == NULL)
            return NULL;
        if (*p != '.')
            return NULL;
        a = p + 1;
    }
    return a;
}

static bool address_valid(const char *address, const char *kind)
{
    size_t kn = strlen(kind), n;
    const char *p, *end;
    static const char prev[] = " (previous)";

    if (kn == 0 || !(kind[0] >= 'a' && kind[0] <= 'z'))
        return false;
    if ((address = skip_module_path(address)) == NULL)
        return false;
    n = strlen(address);
    for (size_t i = 0; i < kn; i++)
        if (!((kind[i] >= 'a' && kind[i] <= 'z') || (kind[i] >= '0' && kind[i] <= '9') ||
              kind[i] == '_'))
            return false;
    if (n > strlen(prev) && strcmp(address + n - strlen(prev), prev) == 0)
        n -= strlen(prev);
    end = address + n;
    if (n <= kn + 1 || strncmp(address, kind, kn) != 0 || address[kn] != '.')
        return false;
    p = address + kn + 1;
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_'))
        return false;
    while (p < end && ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                       (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
        p++;
    if (p == end)
        return true;
    /* an instance key: [N] or ["key"] */
    if (*p != '[' || end[-1] != ']' || end - p < 3)
        return false;
    for (const char *q = p + 1; q < end - 1; q++)
        if ((unsigned char)*q < 0x20 || *q == ']' || *q == '[')
            return false;
    return true;
}

bool state_address_valid(const char *address, const char *kind)
{
    return address && kind && address_valid(address, kind);
}

static int rd_resource(struct reader *rd, struct state_resource *r, size_t idx, struct buf *key,
                       struct buf *tmp)
{
    char *status = NULL;
    int first = 1, rc, at;

    memset(r, 0, sizeof(*r));
    at = snprintf(rd->ctx, sizeof(rd->ctx), "resources[%zu]", idx);
    while ((rc = rd_next_key(rd, key, &first)) == 1) {
        /* "resources[IDX].KEY", the key cut to 32 bytes: copied, not printed */
        if (at > 0 && (size_t)at + 1 + 32 < sizeof(rd->ctx)) {
            size_t k = key->len < 32 ? key->len : 32;
            rd->ctx[at] = '.';
            memcpy(rd->ctx + at + 1, key->ptr, k);
            rd->ctx[at + 1 + k] = '\0';
        }
        if (strcmp(key->ptr, "address") == 0) {
            rc = rd_strdup(rd, &r->address, tmp);
        } else if (strcmp(key->ptr, "kind") == 0) {
            rc = rd_strdup(rd, &r->kind, tmp);
        } else if (strcmp(key->ptr, "arm_id") == 0) {
            rc = rd_strdup(rd, &r->arm_id, tmp);
        } else if (strcmp(key->ptr, "api_version") == 0) {
            rc = rd_strdup(rd, &r->api_version, tmp);
        } else if (strcmp(key->ptr, "status") == 0) {
            rc = rd_strdup(rd, &status, tmp);
        } else if (strcmp(key->ptr, "dependencies") == 0) {
            rc = rd_str_array(rd, &r->dependencies, tmp);
        } else if (strcmp(key->ptr, "sensitive") == 0) {
            rc = rd_str_array(rd, &r->sensitive, tmp);
        } else if (strcmp(key->ptr, "attributes") == 0) {
            const char *start;
            rd_ws(rd);
            start = rd->p;
            if (rd->p >= rd->end || *rd->p != '{')
                rc = rd_error(rd, "'attributes' is not an object");
            else if ((rc = rd_skip(rd, 0)) == 0) {
                free(r->attributes_raw);
                r->attributes_raw_len = (size_t)(rd->p - start);
                r->attributes_raw = malloc(r->attributes_raw_len + 1);
                if (r->attributes_raw == NULL) {
                    rc = errbuf_set(rd->err, AMLSEC_ENOMEM, "out of memory");
                } else {
                    memcpy(r->attributes_raw, start, r->attributes_raw_len);
                    r->attributes_raw[r->attributes_raw_len] = '\0';
                }
            }
        } else {
            rc = rd_skip(rd, 0); /* a field this version does not use */
        }
        if (rc < 0)
            goto fail;
    }
    if (rc < 0)
        goto fail;
    rd->ctx[0] = '\0';
    rc = AMLSEC_EPARSE;
    if (!r->address || !*r->address || !r->kind || !r->arm_id || !r->api_version ||
        !r->attributes_raw || !r->dependencies || !r->sensitive || !status) {
        errbuf_set(rd->err, rc, "'%s': resource %zu lacks a field", rd->what, idx);
        goto fail;
    }
    /* valid JSON is not enough: what is sent to ARM must make sense */
    if (!address_valid(r->address, r->kind)) {
        errbuf_set(rd->err, rc,
                   "'%s': resources[%zu].address: '%.200s' is not an address of kind '%.100s' "
                   "(kind.name)",
                   rd->what, idx, r->address, r->kind);
        goto fail;
    }
    if (!state_arm_id_valid(r->arm_id)) {
        errbuf_set(rd->err, rc, "'%s': resources[%zu].arm_id: '%.300s' is not a well-formed ARM id",
                   rd->what, idx, r->arm_id);
        goto fail;
    }
    if (state_status_parse(&r->status, status) < 0) {
        errbuf_set(rd->err, rc, "'%s': resource '%s': 'status' is not 'created' or 'tainted'",
                   rd->what, r->address);
        goto fail;
    }
    free(status);
    return 0;
fail:
    free(status);
    resource_release(r);
    return rc;
}

/* "outputs": {"NAME": {"sensitive": bool, "type": string, "value": any}}. */
static int rd_outputs(struct reader *rd, json_t **out)
{
    const char *start, *name;
    json_error_t je;
    json_t *doc, *o;
    int rc;

    rd_ws(rd);
    start = rd->p;
    if (rd->p >= rd->end || *rd->p != '{')
        return rd_error(rd, "'outputs' is not an object");
    if ((rc = rd_skip(rd, 0)) < 0)
        return rc;
    doc = jsonw_loadb(start, (size_t)(rd->p - start), JSON_REJECT_DUPLICATES, &je);
    if (doc == NULL)
        return rd_error(rd, "'outputs' is not valid JSON");
    if (value_from_file_form(doc) < 0) {
        json_decref(doc);
        return errbuf_set(rd->err, AMLSEC_ENOMEM, "out of memory");
    }
    json_object_foreach(doc, name, o)
    {
        if (!json_is_object(o) || !json_is_boolean(json_object_get(o, "sensitive")) ||
            !json_is_string(json_object_get(o, "type")) || json_object_get(o, "value") == NULL) {
            snprintf(rd->ctx, sizeof(rd->ctx), "outputs.%.50s", name); /* name is doc's */
            json_decref(doc);
            return rd_error(rd, "needs 'sensitive' (a bool), 'type' (a string) and 'value'");
        }
    }
    json_decref(*out);
    *out = doc;
    return 0;
}

static int parse_body(struct state *st, const char *body, size_t len, const char *what,
                      struct errbuf *err)
{
    struct reader rd = {body, body + len, body, what, err, ""};
    struct buf key, tmp;
    char *lineage = NULL;
    int first = 1, have_serial = 0, rc;

    buf_init(&key, 1 << 20);
    buf_init(&tmp, 1 << 24);
    while ((rc = rd_next_key(&rd, &key, &first)) == 1) {
        if (strcmp(key.ptr, "lineage") == 0) {
            rc = rd_strdup(&rd, &lineage, &tmp);
        } else if (strcmp(key.ptr, "amlsec_version") == 0) {
            rc = rd_strdup(&rd, &st->amlsec_version, &tmp);
        } else if (strcmp(key.ptr, "cloud") == 0 && st->cloud == NULL) {
            rc = rd_strdup(&rd, &st->cloud, &tmp);
        } else if (strcmp(key.ptr, "outputs") == 0) {
            rc = rd_outputs(&rd, &st->outputs);
        } else if (strcmp(key.ptr, "serial") == 0) {
            const char *s;
            unsigned long long v = 0;
            rd_ws(&rd);
            s = rd.p;
            while (rd.p < rd.end && *rd.p >= '0' && *rd.p <= '9' && rd.p - s < 19)
                v = v * 10 + (unsigned long long)(*rd.p++ - '0');
            rc = rd.p > s ? 0 : rd_error(&rd, "'serial' is not a non-negative integer");
            st->serial = v;
            have_serial = 1;
        } else if (strcmp(key.ptr, "resources") == 0) {
            if ((rc = rd_expect(&rd, '[')) < 0)
                break;
            rd_ws(&rd);
            if (rd.p < rd.end && *rd.p == ']') {
                rd.p++;
                continue;
            }
            for (;;) {
                if (reserve(st, st->nresources + 1) < 0) {
                    rc = errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
                    break;
                }
                rc = rd_resource(&rd, &st->resources[st->nresources], st->nresources, &key, &tmp);
                if (rc < 0)
                    break;
                st->nresources++;
                rd_ws(&rd);
                if (rd.p < rd.end && *rd.p == ',') {
                    rd.p++;
                    continue;
                }
                rc = rd_expect(&rd, ']');
                break;
            }
        } else {
            rc = rd_skip(&rd, 0);
        }
        if (rc < 0)
            break;
    }
    if (rc < 0)
        goto out;
    rd_ws(&rd);
    rc = AMLSEC_EPARSE;
    if (rd.p != rd.end) {
        rd_error(&rd, "trailing data");
        goto out;
    }
    if (lineage == NULL || strlen(lineage) != STATE_LINEAGE_LEN) {
        errbuf_set(err, rc, "'%s': 'lineage' is not a uuid", what);
        goto out;
    }
    if (!have_serial || st->amlsec_version == NULL) {
        errbuf_set(err, rc, "'%s': 'serial' or 'amlsec_version' is missing", what);
        goto out;
    }
    memcpy(st->lineage, lineage, STATE_LINEAGE_LEN + 1);
    if (st->nresources > 1)
        qsort(st->resources, st->nresources, sizeof(st->resources[0]), cmp_resource);
    for (size_t i = 1; i < st->nresources; i++) {
        if (strcmp(st->resources[i - 1].address, st->resources[i].address) == 0) {
            errbuf_set(err, rc, "'%s': resource '%s' appears twice", what,
                       st->resources[i].address);
            goto out;
        }
    }
    rc = 0;
out:
    free(lineage);
    buf_release(&key);
    buf_release(&tmp);
    return rc;
}

int state_parse(struct state *st, const char *data, size_t len, const char *what,
                struct errbuf *err)
{
    const char *p = data, *end = data + len, *body, *body_end;
    char want[65], got[65];
    long version = 0;
    int rc;

    memset(st, 0, sizeof(*st));
    if (len == 0)
        return errbuf_set(err, AMLSEC_ECORRUPT, "'%s' is empty", what);
    /* cut short inside the envelope's first bytes */
    if (len <= strlen(envelope_head) && memcmp(data, envelope_head, len) == 0)
        return errbuf_set(err, AMLSEC_ECORRUPT, "'%s' is truncated", what);
    if (!starts_with(p, end, envelope_head))
        return parse_foreign(data, len, what, err);
    p += strlen(envelope_head);
    if (p == end || *p < '0' || *p > '9')
        return parse_foreign(data, len, what, err);
    while (p < end && *p >= '0' && *p <= '9' && version < 1000000)
        version = version * 10 + (*p++ - '0');
    if (p == end)
        return errbuf_set(err, AMLSEC_ECORRUPT, "'%s' is truncated", what);
    if (version > STATE_FORMAT_VERSION)
        return errbuf_set(err, AMLSEC_EPARSE,
                          "'%s' has state format %ld, newer than this amlsec reads (%d); "
                          "upgrade amlsec",
                          what, version, STATE_FORMAT_VERSION);
    if (version < 1)
        return errbuf_set(err, AMLSEC_EPARSE, "'%s' has an invalid state format version", what);
    if (!starts_with(p, end, sha_key) || (size_t)(end - p) < strlen(sha_key) + 64)
        return errbuf_set(err, AMLSEC_ECORRUPT, "'%s' is truncated or damaged (no checksum)", what);
    p += strlen(sha_key);
    memcpy(want, p, 64);
    want[64] = '\0';
    p += 64;
    if (!starts_with(p, end, state_key))
        return errbuf_set(err, AMLSEC_ECORRUPT, "'%s' is truncated or damaged", what);
    body = p + strlen(state_key);
    if ((size_t)(end - body) < strlen(envelope_tail) ||
        memcmp(end - strlen(envelope_tail), envelope_tail, strlen(envelope_tail)) != 0)
        return errbuf_set(err, AMLSEC_ECORRUPT, "'%s' is truncated (no end of document)", what);
    body_end = end - strlen(envelope_tail);
    if (sha256_hex(got, body, (size_t)(body_end - body)) < 0)
        return errbuf_set(err, AMLSEC_ERROR, "cannot compute sha-256");
    if (strcmp(want, got) != 0) {
        /* a file cut short at the end of one of the body's lines still
         * ends as the envelope does: its body is cut short too */
        json_error_t je;
        json_t *whole = json_loadb(body, (size_t)(body_end - body), 0, &je);
        bool cut = whole == NULL && json_error_code(&je) == json_error_premature_end_of_input;
        json_decref(whole);
        if (cut)
            return errbuf_set(err, AMLSEC_ECORRUPT, "'%s' is truncated (the document ends early)",
                              what);
        return errbuf_set(err, AMLSEC_ECORRUPT,
                          "'%s' fails its checksum (edited by hand or damaged); refusing to "
                          "use it",
                          what);
    }
    st->format_version = (int)version;
    rc = parse_body(st, body, (size_t)(body_end - body), what, err);
    if (rc < 0)
        state_release(st);
    return rc;
}
