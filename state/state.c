#include "state/state.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/banned.h"

static const char envelope_head[] = "{\"format_version\":";
static const char sha_key[] = ",\"sha256\":\"";
static const char state_key[] = "\",\"state\":";
static const char envelope_tail[] = "}\n";

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
    json_decref(r->sensitive);
    json_decref(r->dependencies);
    memset(r, 0, sizeof(*r));
}

void state_release(struct state *st)
{
    for (size_t i = 0; i < st->nresources; i++)
        resource_release(&st->resources[i]);
    free(st->resources);
    free(st->amlsec_version);
    memset(st, 0, sizeof(*st));
}

/* Index of address, or -(insertion point) - 1. */
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

struct state_resource *state_find(const struct state *st, const char *address)
{
    long i = find_index(st, address);
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
    dst->attributes = src->attributes ? json_incref(src->attributes) : json_object();
    dst->sensitive = src->sensitive ? json_incref(src->sensitive) : json_array();
    dst->dependencies = src->dependencies ? json_incref(src->dependencies) : json_array();
    dst->status = src->status;
    if (!dst->address || !dst->kind || !dst->arm_id || !dst->api_version || !dst->attributes ||
        !dst->sensitive || !dst->dependencies) {
        resource_release(dst);
        return AMLSEC_ENOMEM;
    }
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
    st->resources[i] = copy;
    st->nresources++;
    return 0;
}

int state_remove(struct state *st, const char *address, struct errbuf *err)
{
    long i = find_index(st, address);
    if (i < 0)
        return errbuf_set(err, AMLSEC_ENOTFOUND, "no resource instance '%s' in the state", address);
    resource_release(&st->resources[i]);
    memmove(&st->resources[i], &st->resources[i + 1],
            (st->nresources - (size_t)i - 1) * sizeof(st->resources[0]));
    st->nresources--;
    return 0;
}

int state_move(struct state *st, const char *from, const char *to, struct errbuf *err)
{
    struct state_resource *r = state_find(st, from);
    struct state_resource moved;
    char *from_copy;
    int rc;

    if (r == NULL)
        return errbuf_set(err, AMLSEC_ENOTFOUND, "no resource instance '%s' in the state", from);
    if (state_find(st, to) != NULL)
        return errbuf_set(err, AMLSEC_ECONFLICT, "resource instance '%s' already exists", to);
    if (to[0] == '\0')
        return errbuf_set(err, AMLSEC_EUSAGE, "empty destination address");
    from_copy = strdup(from);
    if (from_copy == NULL || resource_copy(&moved, r) < 0) {
        free(from_copy);
        return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    }
    free(moved.address);
    moved.address = (char *)to;
    rc = state_put(st, &moved, err);
    moved.address = NULL;
    resource_release(&moved);
    if (rc == 0)
        rc = state_remove(st, from_copy, err);
    /* Dependencies naming the old address now name the new one. */
    for (size_t i = 0; rc == 0 && i < st->nresources; i++) {
        json_t *deps = st->resources[i].dependencies;
        size_t k;
        json_t *v;
        json_array_foreach(deps, k, v)
        {
            if (json_is_string(v) && strcmp(json_string_value(v), from_copy) == 0) {
                if (json_array_set_new(deps, k, json_string(to)) < 0)
                    rc = errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
            }
        }
    }
    free(from_copy);
    return rc;
}

/* --- serialization ---------------------------------------------------------- */

static int dump_to_buf(const char *data, size_t size, void *payload)
{
    return buf_add(payload, data, size) < 0 ? -1 : 0;
}

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

static json_t *resource_to_json(const struct state_resource *r)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:O, s:O, s:O, s:s}", "address", r->address, "kind",
                     r->kind, "arm_id", r->arm_id, "api_version", r->api_version, "attributes",
                     r->attributes, "sensitive", r->sensitive, "dependencies", r->dependencies,
                     "status", state_status_name(r->status));
}

int state_serialize(const struct state *st, struct buf *out, struct errbuf *err)
{
    json_t *body = NULL, *list = NULL;
    struct buf b;
    char sum[65];
    int rc = AMLSEC_ENOMEM;

    buf_init(&b, STATE_MAX_BYTES);
    list = json_array();
    if (list == NULL)
        goto out;
    for (size_t i = 0; i < st->nresources; i++) {
        if (json_array_append_new(list, resource_to_json(&st->resources[i])) < 0)
            goto out;
    }
    body = json_pack("{s:s, s:s, s:I, s:O}", "lineage", st->lineage, "amlsec_version",
                     st->amlsec_version ? st->amlsec_version : AMLSEC_VERSION, "serial",
                     (json_int_t)st->serial, "resources", list);
    if (body == NULL)
        goto out;
    if (json_dump_callback(body, dump_to_buf, &b, JSON_SORT_KEYS | JSON_INDENT(1)) < 0)
        goto out;
    if (sha256_hex(sum, b.ptr, b.len) < 0) {
        rc = errbuf_set(err, AMLSEC_ERROR, "cannot compute sha-256");
        goto out;
    }
    if (buf_addf(out, "%s%d%s%s%s", envelope_head, STATE_FORMAT_VERSION, sha_key, sum, state_key) <
            0 ||
        buf_add(out, b.ptr, b.len) < 0 || buf_adds(out, envelope_tail) < 0)
        goto out;
    rc = 0;
out:
    if (rc == AMLSEC_ENOMEM)
        errbuf_set(err, rc, "out of memory serializing the state");
    json_decref(body);
    json_decref(list);
    buf_release(&b);
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

static int get_str(char **out, json_t *obj, const char *key, size_t idx, const char *what,
                   struct errbuf *err)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_string(v))
        return errbuf_set(err, AMLSEC_EPARSE, "'%s': resource %zu: '%s' is not a string", what, idx,
                          key);
    *out = strdup(json_string_value(v));
    return *out ? 0 : errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
}

static int string_array(json_t *v)
{
    size_t i;
    json_t *e;
    if (!json_is_array(v))
        return 0;
    json_array_foreach(v, i, e)
    {
        if (!json_is_string(e))
            return 0;
    }
    return 1;
}

static int parse_resource(struct state_resource *r, json_t *obj, size_t idx, const char *what,
                          struct errbuf *err)
{
    json_t *v;
    int rc;

    memset(r, 0, sizeof(*r));
    if (!json_is_object(obj))
        return errbuf_set(err, AMLSEC_EPARSE, "'%s': resource %zu is not an object", what, idx);
    if ((rc = get_str(&r->address, obj, "address", idx, what, err)) < 0 ||
        (rc = get_str(&r->kind, obj, "kind", idx, what, err)) < 0 ||
        (rc = get_str(&r->arm_id, obj, "arm_id", idx, what, err)) < 0 ||
        (rc = get_str(&r->api_version, obj, "api_version", idx, what, err)) < 0)
        goto fail;
    rc = AMLSEC_EPARSE;
    v = json_object_get(obj, "attributes");
    if (!json_is_object(v)) {
        errbuf_set(err, rc, "'%s': resource '%s': 'attributes' is not an object", what, r->address);
        goto fail;
    }
    r->attributes = json_incref(v);
    v = json_object_get(obj, "sensitive");
    if (!string_array(v)) {
        errbuf_set(err, rc, "'%s': resource '%s': 'sensitive' is not an array of strings", what,
                   r->address);
        goto fail;
    }
    r->sensitive = json_incref(v);
    v = json_object_get(obj, "dependencies");
    if (!string_array(v)) {
        errbuf_set(err, rc, "'%s': resource '%s': 'dependencies' is not an array of strings", what,
                   r->address);
        goto fail;
    }
    r->dependencies = json_incref(v);
    v = json_object_get(obj, "status");
    if (!json_is_string(v) || state_status_parse(&r->status, json_string_value(v)) < 0) {
        errbuf_set(err, rc, "'%s': resource '%s': 'status' is not 'created' or 'tainted'", what,
                   r->address);
        goto fail;
    }
    return 0;
fail:
    resource_release(r);
    return rc;
}

static int cmp_resource(const void *a, const void *b)
{
    return strcmp(((const struct state_resource *)a)->address,
                  ((const struct state_resource *)b)->address);
}

static int parse_body(struct state *st, json_t *body, const char *what, struct errbuf *err)
{
    json_t *lineage = json_object_get(body, "lineage");
    json_t *serial = json_object_get(body, "serial");
    json_t *ver = json_object_get(body, "amlsec_version");
    json_t *list = json_object_get(body, "resources");
    size_t i;
    json_t *item;
    int rc;

    if (!json_is_string(lineage) || json_string_length(lineage) != STATE_LINEAGE_LEN)
        return errbuf_set(err, AMLSEC_EPARSE, "'%s': 'lineage' is not a uuid", what);
    if (!json_is_integer(serial) || json_integer_value(serial) < 0)
        return errbuf_set(err, AMLSEC_EPARSE, "'%s': 'serial' is not a non-negative integer", what);
    if (!json_is_string(ver))
        return errbuf_set(err, AMLSEC_EPARSE, "'%s': 'amlsec_version' is not a string", what);
    if (!json_is_array(list))
        return errbuf_set(err, AMLSEC_EPARSE, "'%s': 'resources' is not an array", what);
    memcpy(st->lineage, json_string_value(lineage), STATE_LINEAGE_LEN + 1);
    st->serial = (uint64_t)json_integer_value(serial);
    st->amlsec_version = strdup(json_string_value(ver));
    if (st->amlsec_version == NULL || reserve(st, json_array_size(list)) < 0)
        return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    json_array_foreach(list, i, item)
    {
        if ((rc = parse_resource(&st->resources[i], item, i, what, err)) < 0)
            return rc;
        st->nresources++;
    }
    qsort(st->resources, st->nresources, sizeof(st->resources[0]), cmp_resource);
    for (i = 1; i < st->nresources; i++) {
        if (strcmp(st->resources[i - 1].address, st->resources[i].address) == 0)
            return errbuf_set(err, AMLSEC_EPARSE, "'%s': resource '%s' appears twice", what,
                              st->resources[i].address);
    }
    return 0;
}

int state_parse(struct state *st, const char *data, size_t len, const char *what,
                struct errbuf *err)
{
    const char *p = data, *end = data + len, *body, *body_end;
    char want[65], got[65];
    long version = 0;
    json_error_t jerr;
    json_t *doc = NULL;
    int rc;

    memset(st, 0, sizeof(*st));
    if (len == 0)
        return errbuf_set(err, AMLSEC_ECORRUPT, "'%s' is empty", what);
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
    if (strcmp(want, got) != 0)
        return errbuf_set(err, AMLSEC_ECORRUPT,
                          "'%s' fails its checksum (edited by hand or damaged); refusing to "
                          "use it",
                          what);
    doc = json_loadb(body, (size_t)(body_end - body), JSON_REJECT_DUPLICATES, &jerr);
    if (doc == NULL)
        return errbuf_set(err, AMLSEC_EPARSE, "'%s': %s at byte %d", what, jerr.text,
                          jerr.position);
    if (!json_is_object(doc)) {
        rc = errbuf_set(err, AMLSEC_EPARSE, "'%s': the state body is not an object", what);
        goto out;
    }
    st->format_version = (int)version;
    rc = parse_body(st, doc, what, err);
out:
    json_decref(doc);
    if (rc < 0)
        state_release(st);
    return rc;
}
