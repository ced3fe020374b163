#include "engine/plan.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine/depgraph.h"
#include "engine/known.h"
#include "engine/live_rules.h"
#include "parser/diag.h"
#include "parser/value.h"
#include "providers/arm/render.h"
#include "providers/arm/schema.h"
#include "util/error.h"
#include "util/strmap.h"
#include "util/suggest.h"
#include "util/jsonw.h"
#include "util/banned.h"

#define PLAN_MAX_DIFFS 64

/* A change while the plan is being built, before ordering. */
struct pending {
    struct plan_change c;
    const struct cfg_instance *inst; /* NULL for deletes of state-only entries */
    long node;                       /* graph node, -1 for state-only */
    bool keep;                       /* survives -target */
    bool untracked;                  /* exists in Azure, not in the state: an error if it
                                        survives -target (else the plan leaves it alone) */
};

/* records kept parsed: a workspace stack's resources, planned one after the other */
#define RECORDED_KEPT 16

struct builder {
    const struct config *cfg;
    struct state *st;
    const struct plan_opts *o;
    struct diag_list *diags;
    struct errbuf *err;
    struct depgraph *g;
    struct pending *items;
    size_t n, cap;
    struct plan *plan;
    /* live resources by ARM id */
    struct provider_ref *refs;
    struct provider_result *res;
    size_t nrefs;
    struct strmap ref_index;     /* lowercased ARM id -> position in refs */
    struct strmap pending_index; /* address -> position in items */
    struct strmap new_versions;  /* addresses of keys this plan gives a new version */
    struct strmap recreated;     /* addresses this plan creates anew or replaces: what the
                                    service computes for them is known after apply */
    size_t *replaced;            /* items replaced under their own id (ARM deletes what lies
                                    under them with them): positions in items */
    size_t nreplaced, capreplaced;
    /* what known_now found, by "ADDRESS ATTR" (values, NULL for unknown;
     * cleared between passes): each resource decoded once per value asked */
    struct strmap known_index;
    json_t **known;
    size_t nknown, capknown;
    /* the state's records last parsed (recorded_attrs), most recent at
     * recorded_next - 1: a resource is compared with its record, then the
     * resources planned just after it ask for the values it computed (a
     * workspace's record was parsed seven times, its vault's twice) */
    struct {
        const struct state_resource *of;
        json_t *attrs;
    } recorded[RECORDED_KEPT];
    size_t recorded_next;
    struct provider *p; /* NULL without refresh */
    json_t *deleted_ws; /* soft-deleted workspaces of deleted_ws_sub (read once) */
    char deleted_ws_sub[64];
};

const char *plan_action_name(enum plan_action a)
{
    static const char *const names[] = {"no-op", "create", "update", "replace", "delete"};
    return names[a];
}

const char *plan_via_name(enum plan_update_via v)
{
    static const char *const names[] = {"put", "patch", "data_plane"};
    return names[v];
}

bool plan_has_changes(const struct plan *plan)
{
    return plan->n > 0;
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static bool is_move(const json_t *a)
{
    const char *action = json_string_value(json_object_get(a, "action"));
    return action && strcmp(action, "move") == 0 && json_is_string(json_object_get(a, "from")) &&
           json_is_string(json_object_get(a, "to"));
}

const char *plan_moved_to(const json_t *adjustments, const char *address)
{
    const char *cur = address;
    for (size_t i = 0; i < json_array_size(adjustments); i++) {
        const json_t *a = json_array_get(adjustments, i);
        if (is_move(a) && strcmp(json_string_value(json_object_get(a, "from")), cur) == 0)
            cur = json_string_value(json_object_get(a, "to"));
    }
    return cur;
}

const char *plan_moved_from(const json_t *adjustments, const char *address)
{
    const char *cur = address;
    for (size_t i = json_array_size(adjustments); i-- > 0;) {
        const json_t *a = json_array_get(adjustments, i);
        if (is_move(a) && strcmp(json_string_value(json_object_get(a, "to")), cur) == 0)
            cur = json_string_value(json_object_get(a, "from"));
    }
    return cur == address ? NULL : cur;
}

int plan_set_previous_addresses(struct plan *plan)
{
    for (size_t i = 0; i < plan->n; i++) {
        struct plan_change *c = &plan->changes[i];
        const char *from = plan_moved_from(plan->adjustments, c->address);
        if (from == NULL || c->previous_address)
            continue;
        c->previous_address = strdup(from);
        if (c->previous_address == NULL)
            return AMLSEC_ENOMEM;
    }
    return 0;
}

static const char *str_of(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* --- live reads ----------------------------------------------------------- */

/* recorded: the state holds id (a ref added before without it gets it) */
static void add_ref(struct builder *b, const char *id, const char *type, int recorded)
{
    size_t at;
    if (strmap_get(&b->ref_index, id, &at)) {
        b->refs[at].recorded |= recorded;
        return;
    }
    if (strmap_put(&b->ref_index, id, b->nrefs) < 0)
        return;
    b->refs[b->nrefs].id = id;
    b->refs[b->nrefs].type = type;
    b->refs[b->nrefs].recorded = recorded;
    b->nrefs++;
}

static const struct provider_result *live_of(const struct builder *b, const char *id)
{
    size_t at;
    return id && b->res && strmap_get(&b->ref_index, id, &at) ? &b->res[at] : NULL;
}

static const char *instance_id(const struct builder *b, const struct cfg_instance *in)
{
    return str_of(config_instance_value(b->cfg, in), "id");
}

static int is_group_type(const char *type)
{
    return type && strcasecmp(type, "Microsoft.Resources/resourceGroups") == 0;
}

static int refresh(struct builder *b, struct provider *p)
{
    size_t max = b->st->nresources + 1, nconf, groups = 0, recorded = 0;
    for (size_t i = 0; i < b->cfg->nresources; i++)
        max += b->cfg->resources[i].ninstances;
    b->refs = calloc(max, sizeof(*b->refs));
    if (b->refs == NULL)
        return errbuf_set(b->err, AMLSEC_ENOMEM, "out of memory");
    for (size_t i = 0; i < b->cfg->nresources; i++) {
        const struct cfg_resource *r = &b->cfg->resources[i];
        for (size_t k = 0; k < r->ninstances; k++) {
            const char *id = instance_id(b, &r->instances[k]);
            if (id)
                add_ref(b, id,
                        str_of(config_instance_value(b->cfg, &r->instances[k]), "resource_type"),
                        0);
        }
    }
    nconf = b->nrefs;
    for (size_t i = 0; i < nconf; i++)
        groups += is_group_type(b->refs[i].type);
    /* the configuration's groups the state holds too (ids are unique in
     * the state; the state's other refs are what it holds) */
    for (size_t i = 0; i < b->st->nresources; i++) {
        size_t at;
        if (groups > 0 && strmap_get(&b->ref_index, b->st->resources[i].arm_id, &at) &&
            at < nconf && is_group_type(b->refs[at].type))
            recorded++;
        add_ref(b, b->st->resources[i].arm_id, NULL, 1);
    }
    /* results only for what is read: without refresh none (a result
     * holds its error message, over a kilobyte, per resource) */
    if (p == NULL || b->nrefs == 0)
        return 0;
    if ((b->res = calloc(b->nrefs, sizeof(*b->res))) == NULL)
        return errbuf_set(b->err, AMLSEC_ENOMEM, "out of memory");
    /* every group the configuration names is in the state (the state's
     * own are): expected to exist, their reads may run beside the
     * resources', and so may those of the resources the state holds
     * (provider_ref.recorded: a key, a compute, in no Resource Graph table)
     * (a new group's is read first, so that nothing under it is asked for) */
    return provider_read_many(p, b->refs, b->nrefs,
                              recorded == groups ? PROVIDER_READ_GROUPS_EXPECTED : 0, b->res,
                              b->err);
}

/* --- building changes ----------------------------------------------------- */

static struct pending *add(struct builder *b)
{
    struct pending *it;
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 32;
        struct pending *grown = realloc(b->items, cap * sizeof(*grown));
        if (grown == NULL)
            return NULL;
        b->items = grown;
        b->cap = cap;
    }
    it = &b->items[b->n++];
    memset(it, 0, sizeof(*it));
    it->node = -1;
    it->c.notes = json_array();
    return it;
}

/* Drops from live (a copy) what the configuration does not manage: an
 * attribute the user did not set and that has no default is the service's
 * business, so it never makes a diff. */
static void prune_unmanaged(const struct schema_block *blk, json_t *live, const json_t *want)
{
    for (const struct schema_attr *a = blk->attrs; a->name; a++) {
        json_t *lv = json_object_get(live, a->name);
        const json_t *wv = want ? json_object_get(want, a->name) : NULL;
        if (lv == NULL)
            continue;
        if (wv == NULL && a->def == NULL && !(a->flags & SF_ALWAYS)) {
            json_object_del(live, a->name);
            continue;
        }
        if (a->type == ST_BLOCK && !(a->flags & SF_REPEAT) && json_is_object(lv) && a->block)
            prune_unmanaged(a->block, lv, json_is_object(wv) ? wv : NULL);
    }
}

static bool ignored(const struct cfg_resource *r, const char *path)
{
    for (size_t i = 0; i < r->lifecycle.nignore_changes; i++) {
        const char *ig = r->lifecycle.ignore_changes[i];
        size_t n = strlen(ig);
        if (strncmp(path, ig, n) == 0 && (path[n] == '\0' || path[n] == '.'))
            return true;
    }
    return false;
}

/* Whether an interrupted apply left the create of address (at id) pending. */
static bool pending_create(const struct builder *b, const char *address, const char *id)
{
    const struct journal *j = b->o->journal;
    for (size_t i = 0; j && id && i < j->nentries; i++) {
        const struct journal_entry *e = &j->entries[i];
        if (e->phase != JOURNAL_DONE && e->op == JOURNAL_CREATE &&
            strcmp(e->address, address) == 0 && strcasecmp(e->arm_id, id) == 0)
            return true;
    }
    return false;
}

static bool forced_replace(const struct builder *b, const char *address)
{
    for (size_t i = 0; i < b->o->nreplace; i++)
        if (strcmp(b->o->replace[i], address) == 0)
            return true;
    return false;
}

/* Compares before and after; fills the change's action and reason.
 * Returns the diff entries kept (after ignore_changes). With stored (the
 * state's ARM body), write-only values of after, which ARM never returns,
 * are compared with the digests the state keeps of them. */
static enum schema_change compare(const struct schema_kind *k, const struct cfg_resource *r,
                                  const json_t *before, const json_t *after, const json_t *stored,
                                  struct schema_diff_entry *kept, size_t *nkept)
{
    struct schema_diff_entry all[PLAN_MAX_DIFFS];
    size_t n = 0;
    enum schema_change worst = CHANGE_NONE;
    json_t *live, *want;
    *nkept = 0;
    if (json_equal(before, after))
        return CHANGE_NONE; /* the state against an unchanged resource: most of a refresh */
    live = json_deep_copy(before);
    want = json_deep_copy(after);
    if (r)
        render_write_only_compare(k, stored, live, want);
    prune_unmanaged(&k->body, live, after);
    /* Attributes that only build the ARM id (resource_group, scope, parent
     * references) are not in any GET: the id comparison covers them. */
    for (const struct schema_attr *a = k->body.attrs; a->name; a++) {
        if (a->type != ST_BLOCK && a->map.path == NULL && a->map2.path == NULL) {
            json_object_del(live, a->name);
            json_object_del(want, a->name);
        }
    }
    schema_diff(k, live, want, all, PLAN_MAX_DIFFS, &n);
    json_decref(live);
    json_decref(want);
    *nkept = 0;
    for (size_t i = 0; i < n; i++) {
        if (r && ignored(r, all[i].path))
            continue;
        kept[(*nkept)++] = all[i];
        if (all[i].change > worst)
            worst = all[i].change;
    }
    return worst;
}

static void join_paths(char **out, const struct schema_diff_entry *d, size_t n,
                       enum schema_change which)
{
    struct buf b;
    buf_init(&b, 0);
    for (size_t i = 0; i < n; i++) {
        if (d[i].change != which)
            continue;
        if (b.len)
            buf_adds(&b, ", ");
        buf_adds(&b, d[i].path);
    }
    *out = b.len ? buf_detach(&b, NULL) : NULL;
    buf_release(&b);
}

static void note(struct pending *it, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void note(struct pending *it, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    json_array_append_new(it->c.notes, json_string(msg));
}

/* What the user must know before approving (security-rules.md). */
static void impact_notes(struct pending *it, const struct schema_diff_entry *d, size_t n)
{
    const char *kind = it->c.kind;
    enum plan_action a = it->c.action;
    if (strcmp(kind, "workspace") == 0 && (a == PLAN_REPLACE || a == PLAN_DELETE))
        note(it, "%s %s destroys its run history, models, endpoints and registered data",
             a == PLAN_REPLACE ? "replacing" : "destroying", it->c.address);
    if (strcmp(kind, "container_registry") == 0 && (a == PLAN_REPLACE || a == PLAN_DELETE))
        note(it, "deleting the workspace's container registry breaks the workspace (ACR-KEEP)");
    if (strcmp(kind, "key_vault") == 0 && (a == PLAN_REPLACE || a == PLAN_DELETE))
        note(it, "the vault is soft-deleted: its name stays reserved until purged, and a CMK "
                 "workspace using it stops working");
    for (size_t i = 0; i < n; i++) {
        if (strcmp(kind, "workspace") == 0 && strncmp(d[i].path, "encryption", 10) == 0 &&
            d[i].change == CHANGE_UPDATE)
            note(it, "rotating the CMK takes about an hour to take effect (WS-CMK-ROTATE)");
        if (strcmp(kind, "workspace") == 0 && strcmp(d[i].path, "hbi") == 0)
            note(it, "the high-business-impact flag only takes effect at creation (WS-HBI)");
    }
}

/* A copy of v with every resource reference (an object carrying "id" and
 * "resource_type", as the resolver builds them) replaced by its id: what
 * the plan shows and what the catalogue compares references by. */
static json_t *collapse_attrs(const json_t *attrs);

/* Service-generated secrets (an App Insights connection string) are never
 * compared or sent: they are left out of a change's before, so a plan
 * neither shows nor saves them. Takes v, returns it. */
static json_t *without_computed_secrets(const struct schema_kind *k, json_t *v)
{
    if (k && json_is_object(v))
        for (const struct schema_attr *a = k->body.attrs; a->name; a++)
            if ((a->flags & SF_COMPUTED) && (a->flags & SF_SENSITIVE))
                json_object_del(v, a->name);
    return v;
}

/* v itself when it is a scalar (nothing changes a string or a number in
 * place: a plan of creates shares its values' text with the
 * configuration), else a copy. */
static json_t *shared_copy(const json_t *v)
{
    if (json_is_object(v) || json_is_array(v))
        return json_deep_copy(v);
    return json_incref((json_t *)v);
}

/* A copy of v's objects and arrays sharing its scalars: what known_fill
 * and the renderer change in place are containers, never a string or a
 * number, so a change's attributes need not copy the configuration's. */
static json_t *copy_containers(const json_t *v)
{
    json_t *copy;
    if (json_is_object(v)) {
        const char *k;
        size_t klen;
        json_t *x;
        copy = json_object();
        json_object_keylen_foreach((json_t *)v, k, klen, x)
            json_object_setn_new_nocheck(copy, k, klen, copy_containers(x));
        return copy;
    }
    if (json_is_array(v)) {
        size_t i;
        json_t *x;
        copy = json_array();
        json_array_foreach(v, i, x) json_array_append_new(copy, copy_containers(x));
        return copy;
    }
    return v ? json_incref((json_t *)v) : NULL;
}

static json_t *collapse_refs(const json_t *v)
{
    if (json_is_object(v) && !value_is_unknown(v)) {
        const json_t *id = json_object_get(v, "id");
        const json_t *ver = json_object_get(v, "versioned_uri");
        /* a CMK reference is shown by the key version it pins (or "known
         * after apply" when this plan makes a new one) */
        if (json_is_string(ver) || value_is_unknown(ver))
            return shared_copy(ver);
        if (id && json_object_get(v, "resource_type"))
            return shared_copy(id);
        return collapse_attrs(v);
    }
    if (json_is_array(v)) {
        json_t *copy = json_array();
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) json_array_append_new(copy, collapse_refs(x));
        return copy;
    }
    return shared_copy(v);
}

/* An instance's attributes with the references inside collapsed: the
 * instance itself is no reference, even a key with its own versioned_uri. */
static json_t *collapse_attrs(const json_t *attrs)
{
    json_t *copy;
    const char *k;
    json_t *x;
    if (!json_is_object(attrs) || value_is_unknown(attrs))
        return collapse_refs(attrs);
    copy = json_object();
    json_object_foreach((json_t *)attrs, k, x) json_object_set_new(copy, k, collapse_refs(x));
    return copy;
}

json_t *plan_state_attrs(const struct schema_kind *k, const json_t *arm)
{
    json_t *decoded = render_decode(k, arm), *out = collapse_attrs(decoded);
    json_decref(decoded);
    return out;
}

static json_t *dependencies_of(const struct builder *b, long node)
{
    json_t *deps = json_array();
    if (node < 0)
        return deps;
    for (size_t i = 0; i < b->g->nodes[node].ndeps; i++) {
        const struct cfg_instance *d = b->g->nodes[b->g->nodes[node].deps[i].to].inst;
        if (!d->resource->existing)
            json_array_append_new(deps, json_string(d->address));
    }
    return deps;
}

static struct diag *error_at_instance(struct builder *b, const struct cfg_instance *in,
                                      const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static struct diag *error_at_instance(struct builder *b, const struct cfg_instance *in,
                                      const char *path, const char *fmt, ...)
{
    char msg[512];
    struct src_loc loc = path ? config_attr_loc(in, path) : in->resource->block->type_loc;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return diag_add(b->diags, DIAG_ERROR, &loc, "plan", "%s", msg);
}

static void add_drift(struct builder *b, const char *address, const char *kind, const char *what,
                      const json_t *before, const json_t *after, const struct schema_diff_entry *d,
                      size_t n, const json_t *sensitive)
{
    struct plan *p = b->plan;
    struct plan_drift *grown = realloc(p->drift, (p->ndrift + 1) * sizeof(*grown));
    struct plan_drift *dr;
    if (grown == NULL)
        return;
    p->drift = grown;
    dr = &p->drift[p->ndrift++];
    dr->address = strdup(address);
    dr->kind = strdup(kind);
    dr->what = strdup(what);
    dr->before = before ? json_deep_copy(before) : NULL;
    dr->after = after ? json_deep_copy(after) : NULL;
    dr->paths = json_array();
    dr->sensitive = sensitive ? json_deep_copy(sensitive) : json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(dr->paths, json_string(d[i].path));
}

/* What a reference's "known after apply" value is now: the live resource
 * read during refresh, else what the state recorded. */
/* What the state recorded of se (new reference), or NULL. A state read
 * from disk keeps each resource as its text until it is used: the plan
 * parses it for this comparison only, so a plan of 50,000 resources does
 * not hold every one of them parsed until the state is released. The last
 * RECORDED_KEPT parsed are kept (shared, never changed) for the next
 * questions about them. */
static json_t *recorded_attrs(struct builder *b, struct state_resource *se, struct errbuf *err)
{
    json_t *v = NULL;
    size_t slot;
    for (size_t i = 0; i < RECORDED_KEPT; i++)
        if (b->recorded[i].of == se)
            return json_incref(b->recorded[i].attrs);
    if (se->attributes == NULL && se->attributes_raw) {
        v = jsonw_loadb(se->attributes_raw, se->attributes_raw_len, JSON_REJECT_DUPLICATES, NULL);
        if (!json_is_object(v)) {
            json_decref(v); /* the state says what is wrong with it */
            v = NULL;
        }
    }
    if (v == NULL && (state_resource_attributes(&v, se, err) < 0 || (v = json_incref(v)) == NULL))
        return NULL;
    slot = b->recorded_next++ % RECORDED_KEPT;
    json_decref(b->recorded[slot].attrs);
    b->recorded[slot].of = se;
    b->recorded[slot].attrs = json_incref(v);
    return v;
}

static json_t *known_now(void *payload, const char *address, const char *attr)
{
    struct builder *b = payload;
    const struct cfg_instance *in;
    const struct provider_result *lr;
    struct state_resource *se;
    struct buf key;
    json_t *v = NULL;
    size_t at;
    bool keyed;
    /* a key getting a new version: its versioned URI is known after apply */
    if (strcmp(attr, "versioned_uri") == 0 && strmap_get(&b->new_versions, address, &at))
        return NULL;
    /* one being replaced (or re-created after a deletion outside amlsec)
     * gets new computed values, a new principal id: not the live ones */
    if (strmap_get(&b->recreated, address, &at))
        return NULL;
    buf_init(&key, 0);
    keyed = buf_adds(&key, address) == 0 && buf_addch(&key, ' ') == 0 && buf_adds(&key, attr) == 0;
    if (keyed && strmap_get(&b->known_index, key.ptr, &at)) {
        buf_release(&key);
        return b->known[at] ? json_incref(b->known[at]) : NULL;
    }
    in = config_find_instance(b->cfg, address);
    lr = in ? live_of(b, instance_id(b, in)) : NULL;
    if (lr && lr->rc == 0 && lr->body) {
        v = known_decode_attr(in->resource->kind, lr->body, attr);
    } else if ((se = state_find(b->st, address)) != NULL) {
        struct errbuf err = ERRBUF_INIT;
        json_t *attrs = recorded_attrs(b, se, &err);
        v = attrs ? known_decode_attr(se->kind, attrs, attr) : NULL;
        json_decref(attrs);
    }
    if (keyed && b->nknown == b->capknown) {
        size_t cap = b->capknown ? 2 * b->capknown : 64;
        json_t **grown = realloc(b->known, cap * sizeof(*grown));
        if (grown) {
            b->known = grown;
            b->capknown = cap;
        }
    }
    if (keyed && b->nknown < b->capknown && strmap_put(&b->known_index, key.ptr, b->nknown) == 0)
        b->known[b->nknown++] = v ? json_incref(v) : NULL;
    buf_release(&key);
    return v;
}

static void known_reset(struct builder *b)
{
    for (size_t i = 0; i < b->nknown; i++)
        json_decref(b->known[i]);
    free(b->known);
    b->known = NULL;
    b->nknown = b->capknown = 0;
    for (size_t i = 0; i < RECORDED_KEPT; i++) {
        json_decref(b->recorded[i].attrs);
        b->recorded[i].attrs = NULL;
        b->recorded[i].of = NULL;
    }
    strmap_release(&b->known_index);
    strmap_init(&b->known_index, false);
}

/* Appends ", path" (or "path") to *detail. */
static void add_detail(char **detail, const char *path)
{
    struct buf b;
    buf_init(&b, 0);
    if (*detail)
        buf_addf(&b, "%s, ", *detail);
    buf_adds(&b, path);
    free(*detail);
    *detail = buf_detach(&b, NULL);
    buf_release(&b);
}

/* A PATCH body holding only the ARM fields of the changed attributes, or
 * NULL when one of them has no single ARM field in body. */
static json_t *patch_of(const struct schema_kind *k, const json_t *body,
                        const struct schema_diff_entry *d, size_t nd)
{
    json_t *patch = json_object();
    for (size_t i = 0; i < nd; i++) {
        char path[256];
        const json_t *v;
        if (schema_arm_path(path, sizeof(path), k, d[i].path) < 0 ||
            (v = schema_json_get(body, path)) == NULL ||
            schema_json_set(patch, path, json_deep_copy(v)) < 0) {
            json_decref(patch);
            return NULL;
        }
    }
    return patch;
}

/* How an update is sent. Kinds updated through a data plane (Key Vault
 * keys) get the requests their changes need: a new key version for the
 * key type, size or curve (or -replace), a PUT of the rotation policy, a
 * PATCH of the current version for the rest; a new version makes the
 * key's versioned URI "known after apply" for whatever references it. A
 * change of nothing but a CMK's key version (a rotation) is a PATCH of the
 * key identifier alone; anything else is a PUT of the whole body. */
static int choose_update_via(struct builder *b, struct pending *it, const struct schema_kind *k,
                             const struct schema_diff_entry *d, size_t nd, bool new_version,
                             const json_t *live_body)
{
    json_t *patch;
    if (k->update_via) {
        it->c.via = PLAN_VIA_DATA_PLANE;
        it->c.data_plane = new_version ? PROVIDER_DP_NEW_VERSION : 0;
        for (size_t i = 0; i < nd; i++)
            it->c.data_plane |= schema_data_plane_parts(k, d[i].path);
        if (it->c.data_plane & PROVIDER_DP_NEW_VERSION) {
            json_t *was;
            if (strmap_put(&b->new_versions, it->c.address, 0) < 0)
                return errbuf_set(b->err, AMLSEC_ENOMEM, "out of memory");
            /* shown as "old version -> (known after apply)" */
            was = known_decode_attr(it->c.kind, live_body, "versioned_uri");
            if (was && json_is_object(it->c.before))
                json_object_set_new(it->c.before, "versioned_uri", was);
            else
                json_decref(was);
            json_object_set_new(it->c.after, "versioned_uri",
                                value_unknown_of(it->c.address, "versioned_uri"));
            add_detail(&it->c.reason_detail, "versioned_uri");
        }
        return 0;
    }
    if (nd == 0 || (k->no_verbs & SCHEMA_NO_PATCH))
        return 0;
    for (size_t i = 0; i < nd; i++)
        if (!schema_is_key_version(k, d[i].path))
            return 0;
    if ((patch = patch_of(k, it->c.body, d, nd)) == NULL)
        return 0;
    json_decref(it->c.body);
    it->c.body = patch;
    it->c.via = PLAN_VIA_PATCH;
    return 0;
}

/* The change's after (DSL attributes) and body (the ARM request), for a
 * change that sends one: no-ops skip it, so a no-change plan of thousands
 * of resources renders nothing. */
static void render_change(struct builder *b, struct pending *it, const struct schema_kind *k,
                          const struct cfg_instance *in, const json_t *attrs)
{
    json_t *value =
        known_fill(copy_containers(config_instance_value(b->cfg, in)), known_now, b, NULL);
    it->c.after = collapse_attrs(attrs);
    it->c.body = render_body(k, attrs, value, b->cfg->settings, in->sensitive, false);
    json_decref(value);
}

/* A changed attribute the configuration leaves out is sent as its default:
 * the change shows that value ("true -> false"), not an absent one. */
static void show_defaults(struct pending *it, const struct schema_kind *k, const char *paths)
{
    char path[256];
    while (paths && *paths && json_is_object(it->c.after)) {
        size_t n = strcspn(paths, ",");
        const struct schema_attr *a;
        const json_t *v;
        if (n < sizeof(path)) {
            memcpy(path, paths, n);
            path[n] = '\0';
            v = schema_json_get(it->c.after, path);
            a = schema_attr_find(k, path);
            if ((v == NULL || json_is_null(v)) && a && a->def)
                schema_json_set(it->c.after, path, json_loads(a->def, JSON_DECODE_ANY, NULL));
        }
        paths += n;
        while (*paths == ',' || *paths == ' ')
            paths++;
    }
}

/* --- workspace soft delete (Microsoft's "Workspace soft deletion") ------- */

#define WS_SOFT_DELETE_NOTE                                                                        \
    "Azure keeps a deleted workspace soft-deleted for 14 days, holding its name"

/* Whether deleting the workspace ARM shows as live soft-deletes it: every
 * workspace but those encrypted with customer-managed keys, which Azure
 * always deletes permanently. */
static bool ws_soft_deletes(const json_t *live_body)
{
    const json_t *enc = json_object_get(json_object_get(live_body, "properties"), "encryption");
    const char *status = str_of(enc, "status");
    return !(status && strcasecmp(status, "Enabled") == 0);
}

static const char *name_of_id(const char *id)
{
    const char *slash = id ? strrchr(id, '/') : NULL;
    return slash ? slash + 1 : "";
}

/* A workspace this plan deletes (alone or to replace it): with
 * purge_on_destroy the DELETE purges it; otherwise the plan says what soft
 * delete means, and refuses a replacement under the same name, whose
 * create would meet the soft-deleted workspace and leave none. */
static void ws_delete_semantics(struct builder *b, struct pending *it, const struct cfg_resource *r,
                                const json_t *live_body, bool same_name)
{
    const char *gone = it->c.prior_arm_id ? it->c.prior_arm_id : it->c.arm_id;
    if (r && r->lifecycle.purge_on_destroy) {
        free(it->c.delete_query);
        it->c.delete_query = strdup("forceToPurge=true");
        note(it,
             "workspace '%s' is deleted permanently (lifecycle.purge_on_destroy: DELETE with "
             "forceToPurge=true): it cannot be recovered",
             name_of_id(gone));
        return;
    }
    if (!ws_soft_deletes(live_body))
        return; /* customer-managed keys: Azure deletes it permanently */
    if (it->c.action == PLAN_REPLACE && same_name && it->inst) {
        struct diag *dg = error_at_instance(
            b, it->inst,
            it->c.reason_detail && !strchr(it->c.reason_detail, ',') ? it->c.reason_detail : NULL,
            "%s: replacing it deletes workspace '%s' and creates it again under the same name, "
            "but " WS_SOFT_DELETE_NOTE ": the create would fail, leaving no workspace",
            it->c.address, name_of_id(gone));
        if (dg)
            diag_set_hint(dg, "set lifecycle { purge_on_destroy = true } to delete it permanently "
                              "first (its data cannot be recovered), or give it a new name with "
                              "lifecycle { create_before_destroy = true } (the new one is created "
                              "first), or undo the change");
        return;
    }
    note(it,
         "workspace '%s' is soft-deleted: " WS_SOFT_DELETE_NOTE
         "; recover it within them, or purge it (DELETE with forceToPurge=true) to reuse the "
         "name (lifecycle { purge_on_destroy = true } deletes it permanently)",
         name_of_id(gone));
}

/* The soft-deleted workspaces of the subscription id lies in (read once
 * per subscription; none when the list cannot be read). Borrowed. */
static const json_t *soft_deleted_workspaces(struct builder *b, const char *id)
{
    const struct schema_kind *k = schema_find("workspace");
    char sub[64], path[160];
    json_t *list = NULL;
    struct errbuf err = ERRBUF_INIT;
    if (b->p == NULL || k == NULL || sscanf(id, "/subscriptions/%63[^/]", sub) != 1)
        return NULL;
    if (b->deleted_ws && strcmp(b->deleted_ws_sub, sub) == 0)
        return b->deleted_ws;
    snprintf(path, sizeof(path),
             "/subscriptions/%s/providers/Microsoft.MachineLearningServices/deletedWorkspaces",
             sub);
    json_decref(b->deleted_ws);
    b->deleted_ws = NULL;
    if (provider_list_url(b->p, path, k->arm.api_version, &list, &err) < 0) {
        json_decref(list);
        list = json_array(); /* not served there: nothing known to hold a name */
    }
    b->deleted_ws = list;
    snprintf(b->deleted_ws_sub, sizeof(b->deleted_ws_sub), "%s", sub);
    return list;
}

/* A workspace this plan creates under a name a soft-deleted workspace
 * holds: Azure refuses the create, so the plan does, naming the ways out. */
static void ws_name_held(struct builder *b, struct pending *it)
{
    const json_t *list = it->c.arm_id ? soft_deleted_workspaces(b, it->c.arm_id) : NULL;
    size_t i;
    json_t *w;
    json_array_foreach(list, i, w)
    {
        const char *id = str_of(w, "id");
        const json_t *props = json_object_get(w, "properties");
        const char *until = str_of(props, "scheduledPurgeDate");
        struct diag *dg;
        if (id == NULL || strcasecmp(id, it->c.arm_id) != 0)
            continue;
        dg = error_at_instance(b, it->inst, "name",
                               "%s: a soft-deleted workspace named '%s' holds this name%s%s: "
                               "Azure refuses to create another one",
                               it->c.address, name_of_id(id), until ? " until " : "",
                               until ? until : "");
        if (dg)
            diag_set_hint(dg,
                          "recover it (Azure portal: Azure Machine Learning, Recently deleted "
                          "workspaces) and adopt it with amlsec import '%s' '%s'; or purge it "
                          "(DELETE %s?forceToPurge=true, az ml workspace delete "
                          "--permanently-delete); or choose another name",
                          it->c.address, id, id);
        return;
    }
}

/* --- what a replacement takes with it ------------------------------------- */

/* Whether id lies strictly under parent (ARM ids, any case). */
static bool id_under(const char *id, const char *parent)
{
    size_t n = strlen(parent);
    return id && n && strncasecmp(id, parent, n) == 0 && id[n] == '/';
}

/* A resource kept or updated whose parent (or scope) this plan replaces
 * under the same id is deleted by ARM with it (a workspace's computes,
 * online endpoints, role assignments at its scope, ...): it is replaced
 * too, its delete being only the state's (the parent's delete takes it),
 * its create after the parent's. A private endpoint whose target is
 * replaced loses its connection: it is replaced, delete and all. */
static void taken_with_parent(struct builder *b, struct pending *it, const struct schema_kind *k)
{
    const struct pending *parent = NULL;
    bool child = false;
    for (size_t i = 0; i < b->nreplaced && parent == NULL; i++) {
        const struct pending *r = &b->items[b->replaced[i]];
        if (id_under(it->c.arm_id, r->c.arm_id)) {
            parent = r;
            child = true;
        } else if (strcmp(it->c.kind, "private_endpoint") == 0 && it->inst) {
            const json_t *target = schema_ref_id(json_object_get(it->inst->attrs, "target"));
            if (json_is_string(target) && strcasecmp(json_string_value(target), r->c.arm_id) == 0)
                parent = r;
        }
    }
    if (parent == NULL)
        return;
    it->c.action = PLAN_REPLACE;
    free(it->c.reason);
    it->c.reason =
        strdup(child ? "replace_because_parent_replaced" : "replace_because_target_replaced");
    free(it->c.reason_detail);
    it->c.reason_detail = NULL;
    /* an update's request was only what changed: the create sends it all */
    json_decref(it->c.after);
    it->c.after = NULL;
    json_decref(it->c.body);
    it->c.body = NULL;
    it->c.via = PLAN_VIA_PUT;
    it->c.data_plane = 0;
    it->c.state_only = child;
    if (child)
        note(it,
             "replacing %s deletes %s with it (ARM deletes what lies under it): it is created "
             "again afterwards",
             parent->c.address, it->c.address);
    else
        note(it, "replacing %s removes this private endpoint's connection: it is replaced too",
             parent->c.address);
    (void)k;
}

/* Service-made datastores every workspace has: not the user's to lose. */
static bool system_datastore(const char *name)
{
    static const char *const names[] = {"workspaceblobstore", "workspacefilestore",
                                        "workspaceartifactstore", "workspaceworkingdirectory",
                                        NULL};
    for (const char *const *n = names; *n; n++)
        if (strcasecmp(name, *n) == 0)
            return true;
    return false;
}

/* Appends to lost the resources listed at path (GET) that amlsec does not
 * manage. scope, when set, keeps only those assigned at that very scope,
 * and not to own_principal (the service's grants to the resource's own
 * identity, made again for the new one). */
static void unmanaged_at(struct builder *b, struct buf *lost, const char *path,
                         const char *api_version, const char *scope, const char *own_principal)
{
    json_t *list = NULL;
    struct errbuf err = ERRBUF_INIT;
    size_t i;
    json_t *x;
    if (provider_list_url(b->p, path, api_version, &list, &err) < 0) {
        json_decref(list);
        return;
    }
    json_array_foreach(list, i, x)
    {
        const char *id = str_of(x, "id"), *name = str_of(x, "name");
        const json_t *props = json_object_get(x, "properties");
        const char *type = str_of(x, "type"), *short_type;
        size_t at;
        if (id == NULL || name == NULL || strmap_get(&b->ref_index, id, &at))
            continue;
        if (scope &&
            (str_of(props, "scope") == NULL || strcasecmp(str_of(props, "scope"), scope) != 0 ||
             (own_principal && str_of(props, "principalId") &&
              strcasecmp(str_of(props, "principalId"), own_principal) == 0)))
            continue;
        short_type = type && strrchr(type, '/') ? strrchr(type, '/') + 1 : "resource";
        if (strcasecmp(short_type, "datastores") == 0 && system_datastore(name))
            continue;
        buf_addf(lost, "%s%s/%s", lost->len ? ", " : "", short_type, name);
    }
    json_decref(list);
}

/* A resource this plan replaces takes with it what lies under it: the note
 * names what of that amlsec does not manage, read from the live cloud (the
 * child collections the catalogue knows for its kind, and the role
 * assignments at its scope). */
static void name_lost_children(struct builder *b, struct pending *it)
{
    const char *gone = it->c.prior_arm_id ? it->c.prior_arm_id : it->c.arm_id;
    const struct provider_result *lr = live_of(b, gone);
    const char *own =
        lr && lr->rc == 0 ? str_of(json_object_get(lr->body, "identity"), "principalId") : NULL;
    char parent_tpl[96];
    struct buf lost, path;
    if (b->p == NULL || gone == NULL || lr == NULL || lr->rc != 0)
        return;
    snprintf(parent_tpl, sizeof(parent_tpl), "{parent:%s}/", it->c.kind);
    buf_init(&lost, 0);
    buf_init(&path, 0);
    for (const struct schema_kind *k = schema_kinds; k->name; k++) {
        const char *tpl = k->id_template, *tail = NULL, *end;
        bool extension = false;
        if (tpl == NULL)
            continue;
        if (strncmp(tpl, parent_tpl, strlen(parent_tpl)) == 0)
            tail = tpl + strlen(parent_tpl);
        else if (strncmp(tpl, "{scope:", 7) == 0 && strchr(tpl, '}') &&
                 strncmp(strchr(tpl, '}') + 1,
                         "/providers/Microsoft.Authorization/roleAssignments/", 51) == 0) {
            tail = strchr(tpl, '}') + 2;
            extension = true;
        }
        if (tail == NULL || (end = strstr(tail, "/{")) == NULL || strchr(tail, '{') != end + 1)
            continue;
        /* compute_cluster and compute_instance share one collection */
        if (k != schema_kinds && k[-1].id_template && strcmp(k[-1].id_template, tpl) == 0)
            continue;
        buf_reset(&path);
        buf_addf(&path, "%s/%.*s%s", gone, (int)(end - tail), tail,
                 extension ? "?$filter=atScope()" : "");
        unmanaged_at(b, &lost, path.ptr, k->arm.api_version, extension ? gone : NULL, own);
    }
    if (lost.len)
        note(it, "not managed by amlsec, and deleted with %s: %s", it->c.address, lost.ptr);
    buf_release(&path);
    buf_release(&lost);
}

static int plan_instance(struct builder *b, const struct cfg_instance *in, long node)
{
    const struct cfg_resource *r = in->resource;
    const struct schema_kind *k = schema_find(r->kind);
    const char *id = instance_id(b, in);
    struct state_resource *se = state_find(b->st, in->address);
    bool renamed;
    const struct provider_result *lr, *lr_new;
    json_t *live = NULL, *recorded = NULL, *state_attrs = NULL, *attrs = NULL;
    json_t *id_from = NULL;
    char *derived_id = NULL;
    struct schema_diff_entry d[PLAN_MAX_DIFFS];
    size_t nd = 0;
    enum schema_change ch;
    struct pending *it = NULL;
    int rc = 0;

    if (k == NULL || b->o->destroy)
        return 0;
    if (r->existing) {
        lr = live_of(b, id);
        if (b->o->refresh && lr && lr->rc == AMLSEC_ENOTFOUND)
            error_at_instance(b, in, "id", "%s does not exist: %s", in->address, id ? id : "?");
        return 0;
    }
    attrs = known_fill(copy_containers(in->attrs), known_now, b, NULL);
    if (id == NULL) {
        /* an id derived from values known only after apply (a role
         * assignment's GUID from a principal being created): derived again
         * from what is known now, else left to apply */
        id_from = known_id_from(r->name, b->cfg->settings);
        id = derived_id = known_arm_id(r->kind, attrs, id_from);
    }
    /* A renamed resource (its ARM id changed) is compared, and replaced, as
     * the resource the state recorded, under the id recorded there; so is
     * one whose new id is known only after apply. */
    renamed = se && (id == NULL || strcasecmp(se->arm_id, id) != 0);
    lr = live_of(b, renamed ? se->arm_id : id);
    lr_new = renamed && id ? live_of(b, id) : NULL;
    if (lr && lr->rc == 0 && lr->body)
        live = render_decode(k, lr->body);
    if (se && (state_attrs = recorded_attrs(b, se, b->err)) != NULL)
        recorded = render_decode(k, state_attrs);

    it = add(b);
    if (it == NULL) {
        rc = errbuf_set(b->err, AMLSEC_ENOMEM, "out of memory");
        goto out;
    }
    it->inst = in;
    it->node = node;
    it->c.address = strdup(in->address);
    it->c.kind = strdup(r->kind);
    it->c.arm_id = dup_or_null(id);
    if (id == NULL) {
        it->c.id_from = id_from;
        id_from = NULL;
    }
    it->c.arm_type = strdup(k->arm.type);
    it->c.api_version = strdup(k->arm.api_version);
    it->c.sensitive = json_incref(in->sensitive);
    it->c.dependencies = dependencies_of(b, node);
    it->c.put_query = render_put_query(b->cfg, in);
    it->c.create_before_destroy = r->lifecycle.create_before_destroy;

    if (lr && lr->rc < 0 && lr->rc != AMLSEC_ENOTFOUND) {
        error_at_instance(b, in, NULL, "cannot read %s: %s", in->address, lr->err.msg);
        goto out;
    }
    /* drift: the live resource against what the state recorded */
    if (se && b->o->refresh) {
        if (live == NULL) {
            add_drift(b, in->address, r->kind, "deleted outside amlsec", recorded, NULL, NULL, 0,
                      it->c.sensitive);
        } else if (recorded) {
            struct schema_diff_entry dd[PLAN_MAX_DIFFS];
            size_t ndd = 0;
            /* what ignore_changes covers is the service's (or someone
             * else's) business: not drift */
            if (compare(k, r, recorded, live, NULL, dd, &ndd) != CHANGE_NONE)
                add_drift(b, in->address, r->kind, "changed outside amlsec", recorded, live, dd,
                          ndd, it->c.sensitive);
        }
    }
    if (live == NULL && !b->o->refresh && se)
        live = json_incref(recorded); /* -refresh=false: trust the state */

    if (renamed && lr_new && lr_new->rc == 0) {
        struct diag *dg = error_at_instance(
            b, in, "name", "%s is renamed to an id that already exists in Azure: %s", in->address,
            id);
        if (dg)
            diag_set_hint(dg, "pick another name, or remove the other resource first");
        goto out;
    }
    if (renamed)
        it->c.prior_arm_id = strdup(se->arm_id);
    if (se == NULL && live != NULL && pending_create(b, in->address, id)) {
        /* amlsec's own create, which the interrupted run never recorded */
        it->c.action = PLAN_CREATE;
        it->c.reason = strdup("create_because_interrupted");
        it->c.before = without_computed_secrets(k, collapse_attrs(live));
        note(it,
             "%s was being created by an interrupted apply: its PUT is sent again and adopts "
             "what exists",
             in->address);
        goto out;
    }
    if (se == NULL && live != NULL) {
        it->untracked = true; /* reported once -target is known to keep it (untracked_errors) */
        goto out;
    }
    if (live == NULL) {
        it->c.action = PLAN_CREATE;
        it->c.reason = strdup(se ? "create_because_deleted_outside" : "create_because_no_state");
        goto out;
    }
    if (se && se->status == STATE_STATUS_TAINTED) {
        /* a create that failed half way: PUT it again, ARM retries provisioning */
        it->c.action = PLAN_CREATE;
        it->c.reason = strdup("create_because_tainted");
        it->c.before = without_computed_secrets(k, collapse_attrs(live));
        note(it, "%s is tainted: its creation failed in an earlier apply", in->address);
        goto out;
    }
    it->c.before = without_computed_secrets(k, collapse_attrs(live));
    if (renamed) {
        it->c.action = PLAN_REPLACE;
        it->c.reason = strdup("replace_because_id_changed");
        it->c.reason_detail = strdup("name");
    } else if (forced_replace(b, in->address) && !k->update_via) {
        it->c.action = PLAN_REPLACE;
        it->c.reason = strdup("replace_by_request");
    } else {
        ch = compare(k, r, live, attrs, state_attrs, d, &nd);
        if (ch == CHANGE_IMPOSSIBLE) {
            char *paths = NULL;
            join_paths(&paths, d, nd, CHANGE_IMPOSSIBLE);
            for (size_t i = 0; i < nd; i++)
                if (d[i].change == CHANGE_IMPOSSIBLE) {
                    struct diag *dg = error_at_instance(b, in, d[i].path, "%s: %s %s", in->address,
                                                        d[i].path, d[i].why);
                    if (dg)
                        diag_set_hint(dg, "keep it enabled; Azure refuses this change");
                }
            free(paths);
            it->c.action = PLAN_NOOP;
        } else if (ch == CHANGE_REPLACE || (k->replace_on_change && ch == CHANGE_UPDATE)) {
            it->c.action = PLAN_REPLACE;
            it->c.reason = strdup(k->replace_on_change ? "replace_because_kind_recreates"
                                                       : "replace_because_create_only");
            join_paths(&it->c.reason_detail, d, nd,
                       ch == CHANGE_REPLACE ? CHANGE_REPLACE : CHANGE_UPDATE);
        } else if (ch == CHANGE_UPDATE) {
            it->c.action = PLAN_UPDATE;
            it->c.reason = strdup("update_because_config_differs");
            join_paths(&it->c.reason_detail, d, nd, CHANGE_UPDATE);
        } else {
            it->c.action = PLAN_NOOP;
        }
        if (k->update_via && forced_replace(b, in->address) && it->c.action != PLAN_REPLACE) {
            /* -replace of a key (ARM cannot delete one): a new version */
            it->c.action = PLAN_UPDATE;
            free(it->c.reason);
            it->c.reason = strdup("update_because_new_version_requested");
        }
        if (it->c.action == PLAN_UPDATE)
            render_change(b, it, k, in, attrs);
        if (it->c.action == PLAN_UPDATE &&
            (rc = choose_update_via(b, it, k, d, nd, forced_replace(b, in->address),
                                    lr ? lr->body : NULL)) < 0)
            goto out;
    }
    if ((it->c.action == PLAN_NOOP || it->c.action == PLAN_UPDATE) && strcmp(r->kind, "lock") != 0)
        taken_with_parent(b, it, k);
    if (it->c.action == PLAN_REPLACE && r->lifecycle.prevent_destroy) {
        struct diag *dg = error_at_instance(
            b, in, NULL, "%s has lifecycle.prevent_destroy set, but this plan replaces it (%s%s%s)",
            in->address, it->c.reason, it->c.reason_detail ? ": " : "",
            it->c.reason_detail ? it->c.reason_detail : "");
        if (dg)
            diag_set_hint(dg, "remove prevent_destroy to allow it, or undo the change");
    }
    if (it->c.action == PLAN_REPLACE && it->c.create_before_destroy && !renamed) {
        /* the same name is the same ARM id: a PUT there would meet the old
         * resource, whose create-only settings ARM refuses to change */
        it->c.create_before_destroy = false;
        note(it,
             "%s keeps its name, so create_before_destroy cannot apply: the old one is deleted "
             "first, then the new one is created (give it a new name to create it first)",
             in->address);
    }
    if (it->c.action == PLAN_REPLACE && strcmp(r->kind, "workspace") == 0)
        ws_delete_semantics(b, it, r, lr ? lr->body : NULL, !renamed);
    impact_notes(it, d, nd);
out:
    if (it && strcmp(r->kind, "workspace") == 0 && b->o->refresh &&
        ((it->c.action == PLAN_CREATE && live == NULL) ||
         (it->c.action == PLAN_REPLACE && renamed)))
        ws_name_held(b, it);
    if (it && it->c.action == PLAN_NOOP) {
        /* dropped when the plan is ordered: a no-change plan of thousands
         * of resources holds no copies of them */
        json_decref(it->c.before);
        it->c.before = NULL;
    } else if (it && it->c.body == NULL) {
        render_change(b, it, k, in, attrs);
    }
    if (it && (it->c.action == PLAN_UPDATE || it->c.action == PLAN_REPLACE))
        show_defaults(it, k, it->c.reason_detail);
    if (rc == 0 && it &&
        (it->c.action == PLAN_REPLACE || (it->c.action == PLAN_CREATE && live == NULL)) &&
        strmap_put(&b->recreated, in->address, 0) < 0)
        rc = errbuf_set(b->err, AMLSEC_ENOMEM, "out of memory");
    if (rc == 0 && it && it->c.action == PLAN_REPLACE && !renamed && it->c.arm_id) {
        if (b->nreplaced == b->capreplaced) {
            size_t cap = b->capreplaced ? b->capreplaced * 2 : 8;
            size_t *grown = realloc(b->replaced, cap * sizeof(*grown));
            if (grown == NULL)
                rc = errbuf_set(b->err, AMLSEC_ENOMEM, "out of memory");
            else {
                b->replaced = grown;
                b->capreplaced = cap;
            }
        }
        if (rc == 0)
            b->replaced[b->nreplaced++] = (size_t)(it - b->items);
    }
    json_decref(attrs);
    json_decref(live);
    json_decref(recorded);
    json_decref(state_attrs);
    json_decref(id_from);
    free(derived_id);
    return rc;
}

static const struct cfg_resource *config_resource_of(const struct builder *b, const char *address)
{
    const struct cfg_instance *in = config_find_instance(b->cfg, address);
    return in ? in->resource : NULL;
}

static int plan_deletes(struct builder *b)
{
    for (size_t i = 0; i < b->st->nresources; i++) {
        struct state_resource *se = &b->st->resources[i];
        const struct cfg_resource *r = config_resource_of(b, se->address);
        const struct schema_kind *k = schema_find(se->kind);
        const struct provider_result *lr = live_of(b, se->arm_id);
        json_t *attrs = NULL;
        struct pending *it;
        /* already gone (deleted outside amlsec, or with a parent): nothing
         * to send, but the state entry must go, or it stays a phantom */
        bool gone = b->o->refresh && lr && lr->rc == AMLSEC_ENOTFOUND;
        if (r && !b->o->destroy)
            continue;
        it = add(b);
        if (it == NULL)
            return errbuf_set(b->err, AMLSEC_ENOMEM, "out of memory");
        it->c.address = strdup(se->address);
        it->c.kind = strdup(se->kind);
        it->c.arm_id = strdup(se->arm_id);
        it->c.arm_type = strdup(k ? k->arm.type : "");
        it->c.api_version = dup_or_null(se->api_version);
        it->c.action = PLAN_DELETE;
        it->c.reason = strdup(gone ? "delete_because_gone"
                              : r  ? "delete_because_destroy"
                                   : "delete_because_no_config");
        it->c.state_only = gone;
        if (gone)
            note(it, "%s no longer exists in Azure: it is only removed from the state",
                 se->address);
        it->c.sensitive = json_incref(se->sensitive ? se->sensitive : json_array());
        it->c.dependencies = json_incref(se->dependencies ? se->dependencies : json_array());
        if (k && state_resource_attributes(&attrs, se, b->err) == 0 && attrs)
            it->c.before = without_computed_secrets(k, plan_state_attrs(k, attrs));
        if (r) {
            it->inst = config_find_instance(b->cfg, se->address);
            if (r->lifecycle.prevent_destroy) {
                struct diag *dg = error_at_instance(b, it->inst, NULL,
                                                    "%s has lifecycle.prevent_destroy set, but "
                                                    "this plan destroys it",
                                                    se->address);
                if (dg)
                    diag_set_hint(dg, "remove prevent_destroy first to destroy it");
            }
        }
        if (!gone && strcmp(se->kind, "workspace") == 0)
            ws_delete_semantics(b, it, r, lr && lr->rc == 0 ? lr->body : attrs, false);
        if (!gone)
            impact_notes(it, NULL, 0);
    }
    return 0;
}

/* Kinds without an ARM DELETE (Key Vault keys: ARM creates the first
 * version only and never deletes) go with their parent: when the parent is
 * deleted in this plan the entry is only dropped from the state; alone,
 * the delete is refused with the reason. */
static void deletes_without_verb(struct builder *b)
{
    for (size_t i = 0; i < b->n; i++) {
        struct pending *it = &b->items[i];
        const struct schema_kind *k = schema_find(it->c.kind);
        bool parent_goes = false;
        size_t x;
        json_t *dep;
        if (it->c.action != PLAN_DELETE || it->c.state_only || k == NULL ||
            !(k->no_verbs & SCHEMA_NO_DELETE))
            continue;
        json_array_foreach(it->c.dependencies, x, dep)
        {
            for (size_t j = 0; j < b->n; j++)
                if (b->items[j].c.action == PLAN_DELETE && json_is_string(dep) &&
                    strcmp(b->items[j].c.address, json_string_value(dep)) == 0)
                    parent_goes = true;
        }
        if (parent_goes) {
            it->c.state_only = true;
            free(it->c.reason);
            it->c.reason = strdup("delete_with_parent");
            note(
                it,
                "%s has no ARM delete: it goes with its parent, and is only removed from the state",
                it->c.address);
        } else {
            struct diag *d = diag_add(b->diags, DIAG_ERROR, NULL, "plan",
                                      "%s cannot be deleted on its own: ARM has no delete for %s "
                                      "(only the Key Vault data plane has, and amlsec does not "
                                      "delete keys)",
                                      it->c.address, k->arm.type);
            if (d)
                diag_set_hint(d, "delete its vault too, or stop managing it: amlsec state rm '%s'",
                              it->c.address);
        }
    }
}

/* --- ordering ------------------------------------------------------------- */

static long find_pending(const struct builder *b, const char *address)
{
    size_t at;
    return strmap_get(&b->pending_index, address, &at) ? (long)at : -1;
}

static void add_dep(struct plan_change *c, size_t idx)
{
    size_t *grown;
    for (size_t i = 0; i < c->ndeps; i++)
        if (c->deps[i] == idx)
            return;
    grown = realloc(c->deps, (c->ndeps + 1) * sizeof(*grown));
    if (grown == NULL)
        return;
    grown[c->ndeps++] = idx;
    c->deps = grown;
}

/* True when v holds a value known only after apply that comes from address. */
static bool unknown_from(const json_t *v, const char *address)
{
    const char *from, *attr;
    if (value_is_unknown(v))
        return value_unknown_origin(v, &from, &attr) && strcmp(from, address) == 0;
    if (json_is_object(v)) {
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x) if (unknown_from(x, address)) return true;
    } else if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) if (unknown_from(x, address)) return true;
    }
    return false;
}

/* Whether update u must wait for change d of something it references: when
 * d creates (or re-creates) it, so it must exist first, or when u sends a
 * value known only once d is done (a key's new version). Any other change
 * of a referenced resource is independent: a failed vault update must not
 * hold back the workspace's public_network_access fix. */
static bool needed_by_update(const struct plan_change *u, const struct plan_change *d)
{
    return d->action == PLAN_CREATE || d->action == PLAN_REPLACE ||
           unknown_from(u->body, d->address) || unknown_from(u->after, d->address);
}

static void link_dependencies(struct builder *b)
{
    for (size_t i = 0; i < b->n; i++) {
        struct pending *it = &b->items[i];
        if (it->c.action == PLAN_NOOP)
            continue;
        if (it->c.action == PLAN_DELETE) {
            /* a delete waits for the deletes of everything that depends on it */
            for (size_t j = 0; j < b->n; j++) {
                const json_t *deps = b->items[j].c.dependencies;
                size_t x;
                json_t *v;
                if (j == i || b->items[j].c.action != PLAN_DELETE)
                    continue;
                json_array_foreach(deps, x, v) if (json_is_string(v) &&
                                                   strcmp(json_string_value(v), it->c.address) == 0)
                    add_dep(&it->c, j);
            }
            continue;
        }
        /* creates and replaces wait for what they reference; an update
         * only for what it really needs (needed_by_update) */
        {
            size_t x;
            json_t *v;
            json_array_foreach(it->c.dependencies, x, v)
            {
                long j = find_pending(b, json_string_value(v));
                if (j >= 0 && (size_t)j != i && b->items[j].c.action != PLAN_NOOP &&
                    b->items[j].c.action != PLAN_DELETE &&
                    (it->c.action != PLAN_UPDATE || needed_by_update(&it->c, &b->items[j].c)))
                    add_dep(&it->c, (size_t)j);
            }
        }
    }
}

/* The scope a lock id holds: the id before "/providers/Microsoft.Authorization/locks/". */
static bool lock_scope(char *out, size_t size, const char *lock_id)
{
    static const char tail[] = "/providers/Microsoft.Authorization/locks/";
    const char *p = lock_id ? strcasestr(lock_id, tail) : NULL;
    if (p == NULL || (size_t)(p - lock_id) >= size)
        return false;
    snprintf(out, size, "%.*s", (int)(p - lock_id), lock_id);
    return true;
}

static const char *verb_s(enum plan_action a)
{
    static const char *const verbs[] = {"keeps", "creates", "updates", "replaces", "deletes"};
    return verbs[a];
}

/* The id a change deletes, or NULL when it deletes nothing in ARM. */
static const char *deleted_id(const struct plan_change *c)
{
    if (c->action == PLAN_DELETE)
        return c->state_only ? NULL : c->arm_id;
    if (c->action == PLAN_REPLACE)
        return c->prior_arm_id ? c->prior_arm_id : c->arm_id;
    return NULL;
}

/* An id a change deletes or writes (order_locks' index, sorted without
 * regard to case as ARM compares ids). */
struct lock_key {
    const char *id;
    size_t item;
    bool gone; /* the change deletes it (else writes it) */
};

/* What a lock blocks: an item, and whether its delete (else its write). */
struct lock_hit {
    size_t item;
    bool del;
};

static int lock_key_cmp(const void *a, const void *b)
{
    const struct lock_key *x = a, *y = b;
    int c = strcasecmp(x->id, y->id);
    return c ? c : (x->item > y->item) - (x->item < y->item);
}

static int lock_hit_cmp(const void *a, const void *b)
{
    const struct lock_hit *x = a, *y = b;
    return (x->item > y->item) - (x->item < y->item);
}

/* The first key not below key's first len characters (binary search). */
static size_t lock_keys_from(const struct lock_key *k, size_t n, const char *key, size_t len,
                             size_t *work)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        (*work)++;
        if (strncasecmp(k[mid].id, key, len) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

struct lock_hits {
    struct lock_hit *v;
    size_t n, cap;
};

static void lock_hit_add(struct lock_hits *h, size_t item, bool del)
{
    if (h->n == h->cap) {
        size_t cap = h->cap ? 2 * h->cap : 16;
        struct lock_hit *grown = realloc(h->v, cap * sizeof(*grown));
        if (grown == NULL)
            return;
        h->v = grown;
        h->cap = cap;
    }
    h->v[h->n++] = (struct lock_hit){item, del};
}

/* The keys equal to id's first len characters (whole: with
 * prefix, the keys that start with them). Deletes always, writes when
 * writes is set. */
static void lock_hits_of(struct lock_hits *h, const struct lock_key *k, size_t n, const char *id,
                         size_t len, bool prefix, bool writes, size_t *work)
{
    for (size_t i = lock_keys_from(k, n, id, len, work);
         i < n && strncasecmp(k[i].id, id, len) == 0 && (prefix || k[i].id[len] == '\0'); i++) {
        (*work)++;
        if (k[i].gone || writes)
            lock_hit_add(h, k[i].item, k[i].gone);
    }
}

/* Management locks (arm-api.md: a lock at a scope or above refuses deletes,
 * ReadOnly also writes; a delete is refused by locks below it too). A
 * managed lock this plan deletes goes before every delete (and, ReadOnly,
 * every write) it would block; a lock that stays (or comes back) while the
 * plan deletes or replaces something it protects is an error before
 * approval: ARM would refuse with ScopeLocked half way. What a lock covers
 * is found in a sorted index of the ids the plan deletes and writes: the
 * ids under its scope are one range, those above it one look-up per
 * ancestor. */
static void order_locks(struct builder *b)
{
    struct lock_key *keys = calloc(2 * b->n + 1, sizeof(*keys));
    struct lock_hits hits = {NULL, 0, 0};
    size_t nkeys = 0, *work = &b->plan->work;
    if (keys == NULL)
        return;
    for (size_t i = 0; i < b->n; i++) {
        const struct plan_change *c = &b->items[i].c;
        const char *gone = deleted_id(c);
        if (strcmp(c->kind, "lock") == 0)
            continue;
        if (gone && *gone)
            keys[nkeys++] = (struct lock_key){gone, i, true};
        if (c->arm_id && *c->arm_id && c->action != PLAN_NOOP && c->action != PLAN_DELETE)
            keys[nkeys++] = (struct lock_key){c->arm_id, i, false};
    }
    qsort(keys, nkeys, sizeof(*keys), lock_key_cmp);
    for (size_t l = 0; l < b->n; l++) {
        struct pending *lk = &b->items[l];
        const char *lock_id = lk->c.prior_arm_id ? lk->c.prior_arm_id : lk->c.arm_id;
        const char *level;
        char scope[2048];
        size_t slen;
        bool read_only, goes;
        if (strcmp(lk->c.kind, "lock") != 0 || !lock_scope(scope, sizeof(scope) - 1, lock_id) ||
            (slen = strlen(scope)) == 0)
            continue;
        level = lk->c.before ? str_of(lk->c.before, "level") : NULL;
        if (level == NULL && lk->inst)
            level = str_of(lk->inst->attrs, "level");
        read_only = level && strcasecmp(level, "ReadOnly") == 0;
        goes = lk->c.action == PLAN_DELETE;
        hits.n = 0;
        /* the scope itself and what lies under it: deletes, and writes
         * under a ReadOnly lock */
        lock_hits_of(&hits, keys, nkeys, scope, slen, false, read_only, work);
        scope[slen] = '/';
        scope[slen + 1] = '\0';
        lock_hits_of(&hits, keys, nkeys, scope, slen + 1, true, read_only, work);
        scope[slen] = '\0';
        /* what lies above it: deletes */
        for (size_t p = 1; p < slen; p++)
            if (scope[p] == '/')
                lock_hits_of(&hits, keys, nkeys, scope, p, false, false, work);
        if (hits.n > 1)
            qsort(hits.v, hits.n, sizeof(*hits.v), lock_hit_cmp);
        for (size_t h = 0; h < hits.n; h++) {
            size_t i = hits.v[h].item;
            struct pending *it = &b->items[i];
            bool blocked_delete = hits.v[h].del;
            struct diag *dg;
            (*work)++;
            while (h + 1 < hits.n && hits.v[h + 1].item == i) /* one item, both ways */
                blocked_delete |= hits.v[++h].del;
            if (i == l)
                continue;
            if (goes) {
                bool after_it = false; /* the lock's delete waits for it: keep that order */
                for (size_t d = 0; d < lk->c.ndeps; d++)
                    after_it |= lk->c.deps[d] == i;
                if (!after_it)
                    add_dep(&it->c, l);
                continue;
            }
            dg = it->inst ? error_at_instance(b, it->inst, NULL,
                                              "%s: this plan %s it, but %s (%s) on %s stays: ARM "
                                              "refuses the %s (ScopeLocked)",
                                              it->c.address, verb_s(it->c.action), lk->c.address,
                                              level ? level : "lock", scope,
                                              blocked_delete ? "delete" : "write")
                          : diag_add(b->diags, DIAG_ERROR, NULL, "plan",
                                     "%s: this plan deletes it, but %s (%s) on %s stays: ARM "
                                     "refuses the delete (ScopeLocked)",
                                     it->c.address, lk->c.address, level ? level : "lock", scope);
            if (dg)
                diag_set_hint(dg,
                              "remove %s from the configuration for this apply (it is deleted "
                              "first) and add it back afterwards",
                              lk->c.address);
        }
    }
    free(hits.v);
    free(keys);
}

static bool address_names(const char *addr, const char *address);

static bool targeted(const struct builder *b, const char *address)
{
    for (size_t i = 0; i < b->o->ntargets; i++)
        if (address_names(b->o->targets[i], address))
            return true;
    return false;
}

/* Whether -target/-replace ADDR names address: itself, or one of its
 * instances (workspace.w names workspace.w["a"]), or, for a module path
 * (module.team, module.team["cv"]), every resource inside it. */
static bool address_names(const char *addr, const char *address)
{
    size_t n = strlen(addr);
    if (strncmp(address, addr, n) != 0)
        return false;
    if (address[n] == '\0' || address[n] == '[')
        return true;
    return address[n] == '.' && strncmp(addr, "module.", 7) == 0 &&
           config_address_tail(address) >= address + n + 1;
}

/* Every -target and -replace ADDR must name an instance of the
 * configuration or the state: one that names nothing is an error naming
 * the nearest address (a typo must not plan "No changes"). */
static int check_addresses(const struct config *cfg, const struct state *st,
                           const struct plan_opts *o, struct errbuf *err)
{
    for (size_t pass = 0; pass < 2; pass++) {
        const char *const *addrs = pass == 0 ? o->targets : o->replace;
        size_t naddrs = pass == 0 ? o->ntargets : o->nreplace;
        for (size_t t = 0; t < naddrs; t++) {
            const char *want = addrs[t], *nearest = NULL;
            size_t best = (size_t)-1;
            bool found = false;
            for (size_t i = 0; i < cfg->nresources && !found; i++)
                for (size_t j = 0; j < cfg->resources[i].ninstances && !found; j++) {
                    const char *a = cfg->resources[i].instances[j].address;
                    size_t d;
                    if (address_names(want, a)) {
                        found = true;
                    } else if ((d = suggest_distance(want, a)) < best) {
                        best = d;
                        nearest = a;
                    }
                }
            for (size_t i = 0; i < st->nresources && !found; i++) {
                const char *a = st->resources[i].address;
                size_t d;
                if (address_names(want, a))
                    found = true;
                else if ((d = suggest_distance(want, a)) < best) {
                    best = d;
                    nearest = a;
                }
            }
            if (found)
                continue;
            if (nearest)
                return errbuf_set(err, AMLSEC_EUSAGE,
                                  "-%s '%.200s' matches no resource in the configuration or the "
                                  "state; the nearest address is '%s'",
                                  pass == 0 ? "target" : "replace", want, nearest);
            return errbuf_set(err, AMLSEC_EUSAGE,
                              "-%s '%.200s' matches no resource: the configuration and the state "
                              "are empty",
                              pass == 0 ? "target" : "replace", want);
        }
    }
    return 0;
}

/* Marks i and what it refers to, directly or not, whatever their action. */
static void reach(const struct builder *b, size_t i, bool *seen)
{
    size_t x;
    json_t *v;
    if (seen[i])
        return;
    seen[i] = true;
    json_array_foreach(b->items[i].c.dependencies, x, v)
    {
        long j = find_pending(b, json_string_value(v));
        if (j >= 0)
            reach(b, (size_t)j, seen);
    }
}

/* What exists in Azure but not in the state stops the plan when the plan
 * covers it: always without -target, with -target when a target is it or
 * refers to it (even one with no change of its own), not when -target
 * leaves it out. */
static void untracked_errors(struct builder *b)
{
    bool *seen = NULL;
    bool any = false;
    for (size_t i = 0; i < b->n; i++)
        any = any || b->items[i].untracked;
    if (!any)
        return;
    if (b->o->ntargets > 0) {
        if ((seen = calloc(b->n ? b->n : 1, sizeof(*seen))) == NULL) {
            diag_add(b->diags, DIAG_ERROR, NULL, "plan", "out of memory");
            return;
        }
        for (size_t i = 0; i < b->n; i++)
            if (targeted(b, b->items[i].c.address))
                reach(b, i, seen);
    }
    for (size_t i = 0; i < b->n; i++) {
        const struct pending *it = &b->items[i];
        struct diag *dg;
        if (!it->untracked || (seen && !seen[i]))
            continue;
        dg = error_at_instance(b, it->inst, NULL, "%s already exists in Azure but not in the state",
                               it->c.address);
        if (dg)
            diag_set_hint(dg, "adopt it with: amlsec import '%s' '%s'", it->c.address,
                          it->c.arm_id ? it->c.arm_id : "ARM_ID");
    }
    free(seen);
}

static void keep_with_deps(struct builder *b, size_t i)
{
    if (b->items[i].keep)
        return;
    b->items[i].keep = true;
    for (size_t k = 0; k < b->items[i].c.ndeps; k++)
        keep_with_deps(b, b->items[i].c.deps[k]);
}

static void change_release(struct plan_change *c)
{
    free(c->address);
    free(c->kind);
    free(c->arm_id);
    free(c->prior_arm_id);
    free(c->previous_address);
    json_decref(c->id_from);
    free(c->arm_type);
    free(c->api_version);
    free(c->put_query);
    free(c->delete_query);
    free(c->reason);
    free(c->reason_detail);
    json_decref(c->before);
    json_decref(c->after);
    json_decref(c->body);
    free(c->body_text);
    json_decref(c->sensitive);
    json_decref(c->dependencies);
    json_decref(c->notes);
    free(c->deps);
}

static void drift_release(struct plan *plan)
{
    for (size_t i = 0; i < plan->ndrift; i++) {
        free(plan->drift[i].address);
        free(plan->drift[i].kind);
        free(plan->drift[i].what);
        json_decref(plan->drift[i].before);
        json_decref(plan->drift[i].after);
        json_decref(plan->drift[i].paths);
        json_decref(plan->drift[i].sensitive);
    }
    free(plan->drift);
    plan->drift = NULL;
    plan->ndrift = 0;
}

/* Orders the kept, non-no-op changes (Kahn, stable), renumbers deps, sets
 * steps and groups, and moves them into the plan. */
static int order(struct builder *b)
{
    size_t *map = malloc((b->n + 1) * sizeof(*map));
    size_t *level = calloc(b->n + 1, sizeof(*level)); /* group; 0: not computed yet */
    size_t *stack = malloc((b->n + 1) * sizeof(*stack)), *at = NULL;
    size_t *cursor = calloc(b->n + 1, sizeof(*cursor));   /* next dependency to look at */
    size_t *deepest = calloc(b->n + 1, sizeof(*deepest)); /* latest group of those seen */
    bool *live = calloc(b->n + 1, sizeof(*live));
    struct plan *p = b->plan;
    size_t count = 0, groups = 0;

    if (map == NULL || level == NULL || stack == NULL || live == NULL || cursor == NULL ||
        deepest == NULL)
        goto nomem;
    for (size_t i = 0; i < b->n; i++) {
        live[i] = b->items[i].keep && b->items[i].c.action != PLAN_NOOP;
        map[i] = (size_t)-1;
        count += live[i];
    }
    p->changes = calloc(count ? count : 1, sizeof(*p->changes));
    if (p->changes == NULL)
        goto nomem;
    /* A step's group is one more than the latest group among the steps it
     * depends on (levels of the dependency graph): computed once per step,
     * depth first with an explicit stack; SIZE_MAX marks a step being
     * computed (the graph is acyclic: a cycle would count as no edge). */
    for (size_t i = 0; i < b->n; i++) {
        size_t top = 0;
        if (!live[i] || level[i] != 0)
            continue;
        stack[top++] = i;
        level[i] = SIZE_MAX;
        while (top > 0) {
            size_t j = stack[top - 1];
            struct plan_change *c = &b->items[j].c;
            bool pushed = false;
            while (cursor[j] < c->ndeps && !pushed) {
                size_t d = c->deps[cursor[j]];
                p->work++;
                if (live[d] && level[d] == 0) { /* its group first; j resumes here */
                    level[d] = SIZE_MAX;
                    stack[top++] = d;
                    pushed = true;
                    continue;
                }
                if (live[d] && level[d] != SIZE_MAX && level[d] > deepest[j])
                    deepest[j] = level[d];
                cursor[j]++;
            }
            if (pushed)
                continue;
            level[j] = deepest[j] + 1;
            if (level[j] > groups)
                groups = level[j];
            top--;
        }
    }
    /* steps numbered group by group, in item order within a group
     * (a counting sort) */
    at = calloc(groups + 2, sizeof(*at));
    if (at == NULL)
        goto nomem;
    for (size_t i = 0; i < b->n; i++)
        if (live[i])
            at[level[i] + 1]++;
    for (size_t g = 1; g <= groups + 1; g++)
        at[g] += at[g - 1];
    for (size_t i = 0; i < b->n; i++) {
        size_t s;
        if (!live[i])
            continue;
        s = at[level[i]]++;
        map[i] = s;
        p->changes[s] = b->items[i].c;
        p->changes[s].step = (int)s + 1;
        p->changes[s].group = (int)level[i];
        memset(&b->items[i].c, 0, sizeof(b->items[i].c));
    }
    p->n = count;
    for (size_t i = 0; i < p->n; i++) {
        struct plan_change *c = &p->changes[i];
        size_t out = 0;
        for (size_t k = 0; k < c->ndeps; k++)
            if (map[c->deps[k]] != (size_t)-1)
                c->deps[out++] = map[c->deps[k]];
        c->ndeps = out;
        p->nadd += c->action == PLAN_CREATE || c->action == PLAN_REPLACE;
        p->nchange += c->action == PLAN_UPDATE;
        p->ndestroy += c->action == PLAN_DELETE || c->action == PLAN_REPLACE;
    }
    free(map);
    free(level);
    free(stack);
    free(live);
    free(at);
    free(cursor);
    free(deepest);
    return 0;
nomem:
    free(map);
    free(level);
    free(stack);
    free(live);
    free(at);
    free(cursor);
    free(deepest);
    return errbuf_set(b->err, AMLSEC_ENOMEM, "out of memory");
}

/* Rule findings become notes of the change whose block they point into
 * (warnings and notes: errors stop the plan), so they are seen before
 * approval, and all of them, no-op resources included, are listed in the
 * plan's findings. */
/* A resource's block span; sorted by file, then start, so the block that
 * holds a finding is found by binary search (top-level blocks never
 * overlap). */
struct span {
    const struct src_file *file;
    uint32_t begin, end;
    size_t res;
};

static int span_cmp(const void *a, const void *b)
{
    const struct span *x = a, *y = b;
    if (x->file != y->file)
        return (uintptr_t)x->file < (uintptr_t)y->file ? -1 : 1;
    return x->begin < y->begin ? -1 : x->begin > y->begin;
}

/* The resource whose block holds loc, or (size_t)-1. */
static size_t span_find(const struct span *spans, size_t n, const struct src_loc *loc, size_t *work)
{
    size_t lo = 0, hi = n; /* first span that starts after loc */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct span *m = &spans[mid];
        (*work)++;
        if ((uintptr_t)m->file < (uintptr_t)loc->file ||
            (m->file == loc->file && m->begin <= loc->begin))
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return (size_t)-1;
    if (spans[lo - 1].file != loc->file || loc->end > spans[lo - 1].end)
        return (size_t)-1;
    return spans[lo - 1].res;
}

static void attach_findings(struct builder *b)
{
    static const char *const sev[] = {"error", "warning", "note"};
    size_t nres = b->cfg->nresources, nspans = 0;
    struct span *spans = malloc((nres ? nres : 1) * sizeof(*spans));
    /* the plan items of each resource, in item order: first[r], then next[k] */
    size_t *first = malloc((nres ? nres : 1) * sizeof(*first)), *last = NULL, *next = NULL;
    b->plan->findings = json_array();
    last = malloc((nres ? nres : 1) * sizeof(*last));
    next = malloc((b->n ? b->n : 1) * sizeof(*next));
    if (spans == NULL || first == NULL || last == NULL || next == NULL)
        goto out;
    for (size_t r = 0; r < nres; r++) {
        const struct cfg_resource *res = &b->cfg->resources[r];
        first[r] = last[r] = (size_t)-1;
        if (res->block)
            spans[nspans++] =
                (struct span){res->block->loc.file, res->block->loc.begin, res->block->loc.end, r};
    }
    qsort(spans, nspans, sizeof(*spans), span_cmp);
    for (size_t k = 0; k < b->n; k++) {
        const struct cfg_instance *in = b->items[k].inst;
        size_t r;
        next[k] = (size_t)-1;
        if (in == NULL || in->resource < b->cfg->resources ||
            in->resource >= b->cfg->resources + nres)
            continue;
        r = (size_t)(in->resource - b->cfg->resources);
        if (last[r] == (size_t)-1)
            first[r] = k;
        else
            next[last[r]] = k;
        last[r] = k;
    }
    for (size_t i = 0; i < b->diags->n; i++) {
        const struct diag *d = &b->diags->items[i];
        const struct cfg_resource *res;
        size_t r;
        if (d->loc.file == NULL || strchr(d->code, '-') == NULL)
            continue;
        r = span_find(spans, nspans, &d->loc, &b->plan->work);
        res = r == (size_t)-1 ? NULL : &b->cfg->resources[r];
        json_array_append_new(
            b->plan->findings,
            json_pack("{s:s?, s:s, s:s, s:s}", "address",
                      res && res->ninstances > 0 ? res->instances[0].address : NULL, "rule",
                      d->code, "severity", sev[d->severity], "message", d->message));
        if (d->severity == DIAG_ERROR || res == NULL)
            continue;
        for (size_t k = first[r]; k != (size_t)-1; k = next[k]) {
            b->plan->work++;
            note(&b->items[k], "%s %s: %s", d->severity == DIAG_WARNING ? "warning" : "note",
                 d->code, d->message);
        }
    }
out:
    free(spans);
    free(first);
    free(last);
    free(next);
}

/* --- rules that read the live cloud (engine/live_rules.h) ------------------ */

static const json_t *live_body(const char *id, void *payload)
{
    const struct provider_result *r = live_of(payload, id);
    return r && r->rc == 0 ? r->body : NULL;
}

static bool writes_instance(const char *address, void *payload)
{
    const struct builder *b = payload;
    size_t at;
    return strmap_get(&b->pending_index, address, &at) &&
           (b->items[at].c.action == PLAN_CREATE || b->items[at].c.action == PLAN_UPDATE ||
            b->items[at].c.action == PLAN_REPLACE);
}

static void attach_to(const char *address, const struct diag *d, void *payload)
{
    struct builder *b = payload;
    size_t at;
    if (strmap_get(&b->pending_index, address, &at))
        note(&b->items[at], "%s %s: %s", d->severity == DIAG_ERROR ? "error" : "warning", d->code,
             d->message);
}

static void live_checks(struct builder *b, struct provider *p)
{
    json_t *deleted = json_array();
    struct live_rules_in in = {b->cfg, p,       live_body, writes_instance,
                               b,      deleted, attach_to, b->o->assignments};
    for (size_t i = 0; i < b->n; i++) {
        const struct plan_change *c = &b->items[i].c;
        const char *pr = str_of(c->before, "principal");
        const char *after_pr = str_of(c->after, "principal");
        /* a replacement that keeps (or cannot yet know) its principal
         * grants the same identity again: not a removal */
        if (strcmp(c->kind, "role_assignment") == 0 && pr &&
            (c->action == PLAN_DELETE ||
             (c->action == PLAN_REPLACE && after_pr && strcasecmp(after_pr, pr) != 0)))
            json_array_append_new(deleted,
                                  json_pack("{s:s, s:s}", "address", c->address, "principal", pr));
    }
    live_rules_run(&in, b->diags);
    json_decref(deleted);
}

void plan_config_digest(char out[72], const struct config *cfg)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char md[32];
    unsigned int len = 0;
    memcpy(out, "sha256:", 8);
    if (ctx == NULL)
        return;
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    for (size_t i = 0; i < cfg->nsrcs; i++) {
        EVP_DigestUpdate(ctx, cfg->srcs[i]->name, strlen(cfg->srcs[i]->name) + 1);
        EVP_DigestUpdate(ctx, cfg->srcs[i]->text, cfg->srcs[i]->len);
    }
    EVP_DigestFinal_ex(ctx, md, &len);
    EVP_MD_CTX_free(ctx);
    for (unsigned i = 0; i < len && i < 32; i++)
        snprintf(out + 7 + 2 * i, 3, "%02x", md[i]);
}

/* One planning pass: a change (or no-op) per configured instance in
 * dependency order, then the deletes. */
static int plan_pass(struct builder *b)
{
    int rc = 0;
    for (size_t i = 0; i < b->g->norder && rc == 0; i++) {
        size_t node = b->g->order[i];
        rc = plan_instance(b, b->g->nodes[node].inst, (long)node);
    }
    return rc == 0 ? plan_deletes(b) : rc;
}

/* Forgets a pass's changes, drift and diagnostics, to plan again. */
static void pass_reset(struct builder *b, struct diag_list *pass_diags)
{
    for (size_t i = 0; i < b->n; i++)
        change_release(&b->items[i].c);
    b->n = 0;
    b->nreplaced = 0;
    strmap_release(&b->recreated);
    strmap_init(&b->recreated, false);
    strmap_release(&b->new_versions); /* a re-read may show the new version is not needed */
    strmap_init(&b->new_versions, false);
    known_reset(b); /* the re-read answers replace what was known */
    drift_release(b->plan);
    diag_list_release(pass_diags);
}

/* Issue 5 §4: what the plan is about to change must not be decided on a
 * Resource Graph answer, which can lag behind ARM by minutes (a resource
 * changed or deleted a moment ago may still show as it was). Every
 * resource a change writes to (update, replace, delete, or a create over a
 * tainted resource) that was read through Resource Graph is read again with
 * a direct GET, all at once, and its result replaces the Graph row.
 * Returns how many were re-read (then the plan is built again), or < 0. */
static long reread_changed(struct builder *b, struct provider *p)
{
    struct provider_ref *refs = calloc(b->n ? b->n : 1, sizeof(*refs));
    struct provider_result *res = NULL; /* as many as are read again */
    size_t *at = calloc(b->n ? b->n : 1, sizeof(*at)), n = 0;
    long rc;

    if (refs == NULL || at == NULL || b->res == NULL) {
        rc = refs == NULL || at == NULL ? errbuf_set(b->err, AMLSEC_ENOMEM, "out of memory") : 0;
        goto out;
    }
    for (size_t i = 0; i < b->n; i++) {
        const struct plan_change *c = &b->items[i].c;
        const char *id = c->prior_arm_id ? c->prior_arm_id : c->arm_id;
        size_t k;
        if (c->action == PLAN_NOOP || (c->action == PLAN_CREATE && c->before == NULL) ||
            id == NULL || !strmap_get(&b->ref_index, id, &k) || !b->res[k].from_graph)
            continue;
        b->res[k].from_graph = 0; /* once, even when two changes name it */
        at[n] = k;
        refs[n++] = b->refs[k];
    }
    rc = (long)n;
    if (n == 0)
        goto out;
    if ((res = calloc(n, sizeof(*res))) == NULL) {
        rc = errbuf_set(b->err, AMLSEC_ENOMEM, "out of memory");
        goto out;
    }
    if (provider_read_many(p, refs, n, PROVIDER_READ_FRESH, res, b->err) < 0 &&
        b->err->code == AMLSEC_ENOMEM) {
        rc = b->err->code;
        provider_results_release(res, n);
        goto out;
    }
    for (size_t j = 0; j < n; j++) {
        provider_result_release(&b->res[at[j]]);
        b->res[at[j]] = res[j];
    }
out:
    free(refs);
    free(res);
    free(at);
    return rc;
}

/* Copies a pass's diagnostics into the caller's list. */
static void diags_take(struct diag_list *to, const struct diag_list *from)
{
    for (size_t i = 0; i < from->n; i++) {
        const struct diag *d = &from->items[i];
        struct diag *c =
            diag_add(to, d->severity, d->loc.file ? &d->loc : NULL, d->code, "%s", d->message);
        if (c == NULL)
            continue;
        if (d->hint)
            diag_set_hint(c, "%s", d->hint);
        for (size_t k = 0; k < d->nnotes; k++)
            diag_add_note(c, d->notes[k].loc.file ? &d->notes[k].loc : NULL, "%s",
                          d->notes[k].message);
    }
}

/* Every ARM id amlsec builds starts with the subscription: without one
 * no id is known and nothing could be applied, so say so first (at the
 * settings block when there is one). A destroy works from the ids the
 * state recorded and needs none. */
static int require_subscription(struct builder *b)
{
    const json_t *sub = json_object_get(b->cfg->settings, "subscription");
    bool managed = false;
    for (size_t i = 0; i < b->cfg->nresources && !managed; i++)
        managed = !b->cfg->resources[i].existing && b->cfg->resources[i].ninstances > 0;
    if (b->o->destroy || !managed || (json_is_string(sub) && json_string_length(sub) > 0) ||
        value_is_unknown(sub))
        return 0;
    if (b->cfg->settings_block) {
        const struct ast_attr *a = ast_body_attr(&b->cfg->settings_block->body, "subscription");
        struct src_loc loc = a ? ast_attr_name_loc(a) : b->cfg->settings_block->type_loc;
        struct diag *dg = diag_add(b->diags, DIAG_ERROR, &loc, "plan",
                                   a ? "settings.subscription is empty: no Azure subscription to "
                                       "work in"
                                     : "no Azure subscription to work in: settings has no "
                                       "subscription and ARM_SUBSCRIPTION_ID is not set");
        if (dg)
            diag_set_hint(dg, "set subscription = \"<subscription id>\" in settings, or export "
                              "ARM_SUBSCRIPTION_ID");
        return AMLSEC_EPARSE;
    }
    return errbuf_set(b->err, AMLSEC_EUSAGE,
                      "no Azure subscription to work in: export ARM_SUBSCRIPTION_ID=<subscription "
                      "id>, or add settings { subscription = \"<subscription id>\" }");
}

int plan_build(struct plan **out, const struct config *cfg, struct state *st, struct provider *p,
               const struct plan_opts *o, struct diag_list *diags, struct errbuf *err)
{
    struct builder b;
    size_t errors_before = diags->errors;
    int rc;

    memset(&b, 0, sizeof(b));
    strmap_init(&b.ref_index, true);
    strmap_init(&b.pending_index, false);
    strmap_init(&b.new_versions, false);
    strmap_init(&b.recreated, false);
    strmap_init(&b.known_index, false);
    b.cfg = cfg;
    b.st = st;
    b.o = o;
    b.diags = diags;
    b.err = err;
    *out = b.plan = calloc(1, sizeof(*b.plan));
    if (b.plan == NULL)
        return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    memcpy(b.plan->lineage, st->lineage, sizeof(b.plan->lineage));
    b.plan->serial = st->serial;
    b.plan->destroy = o->destroy;
    plan_config_digest(b.plan->config_digest, cfg);

    if ((rc = check_addresses(cfg, st, o, err)) < 0 || (rc = require_subscription(&b)) < 0)
        goto out;
    if ((rc = depgraph_build(&b.g, cfg, err)) < 0 || (rc = depgraph_sort(b.g, err)) < 0)
        goto out;
    b.p = o->refresh ? p : NULL;
    if (o->refresh && (rc = refresh(&b, p)) < 0)
        goto out;
    if (!o->refresh && (rc = refresh(&b, NULL)) < 0)
        goto out;
    /* plan, re-read what would change with direct GETs, plan again with
     * their answers (which may change what depends on them), until every
     * change rests on a direct read; a pass's diagnostics are kept only
     * when it is the last */
    for (;;) {
        struct diag_list pass_diags;
        long reread = 0;
        diag_list_init(&pass_diags);
        b.diags = &pass_diags;
        rc = plan_pass(&b);
        b.diags = diags;
        if (rc == 0 && o->refresh && p)
            reread = reread_changed(&b, p);
        if (rc < 0 || reread <= 0) {
            diags_take(diags, &pass_diags);
            diag_list_release(&pass_diags);
            if (rc == 0 && reread < 0)
                rc = (int)reread;
            break;
        }
        pass_reset(&b, &pass_diags);
    }
    if (rc < 0)
        goto out;
    deletes_without_verb(&b);
    for (size_t i = 0; i < b.n; i++)
        if (strmap_put(&b.pending_index, b.items[i].c.address, i) < 0) {
            rc = errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
            goto out;
        }
    if (o->refresh && p && !o->destroy)
        live_checks(&b, p);
    for (size_t i = 0; i < b.n; i++)
        if (b.items[i].c.action == PLAN_REPLACE && !b.items[i].c.state_only)
            name_lost_children(&b, &b.items[i]);
    link_dependencies(&b);
    order_locks(&b);
    for (size_t i = 0; i < b.n; i++)
        if (o->ntargets == 0 || targeted(&b, b.items[i].c.address))
            keep_with_deps(&b, i);
    untracked_errors(&b);
    attach_findings(&b);
    rc = order(&b);
    if (rc == 0)
        rc = plan_outputs_build(b.plan, cfg, st, err);
    if (rc == 0)
        rc = plan_checks_build(b.plan, cfg, known_now, &b, diags, err);
out:
    for (size_t i = 0; i < b.n; i++)
        change_release(&b.items[i].c);
    free(b.items);
    if (b.res)
        provider_results_release(b.res, b.nrefs);
    free(b.res);
    free(b.refs);
    strmap_release(&b.ref_index);
    strmap_release(&b.pending_index);
    strmap_release(&b.new_versions);
    strmap_release(&b.recreated);
    known_reset(&b);
    strmap_release(&b.known_index);
    json_decref(b.deleted_ws);
    free(b.replaced);
    depgraph_free(b.g);
    if (rc == 0 && diags->errors > errors_before)
        rc = AMLSEC_EPARSE;
    return rc;
}

void plan_free(struct plan *plan)
{
    if (plan == NULL)
        return;
    for (size_t i = 0; i < plan->n; i++)
        change_release(&plan->changes[i]);
    free(plan->changes);
    drift_release(plan);
    json_decref(plan->findings);
    json_decref(plan->outputs);
    json_decref(plan->outputs_before);
    json_decref(plan->adjustments);
    json_decref(plan->checks);
    json_decref(plan->configuration);
    free(plan->cloud);
    free(plan->subscription);
    free(plan->tenant);
    free(plan);
}
