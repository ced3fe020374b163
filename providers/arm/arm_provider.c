#include "providers/arm/arm_provider.h"
#include "parser/value.h"
#include "providers/arm/graph.h"
#include "providers/arm/keyvault.h"
#include "providers/arm/render.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/log.h"
#include "util/strmap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/jsonw.h"
#include "util/banned.h"

#define GENERIC_LIST_API_VERSION "2021-04-01"
/* Resource Graph misses in one resource group from which on one list of the
 * group confirms them instead of a GET each */
#define LIST_CONFIRM_MIN 20
#define LIST_CONFIRM_MAX_GROUPS 64
#define LIST_READ_MIN 2 /* resources one ARM list must answer for to be sent */
#define MAX_GRAPH_SUBSCRIPTIONS 300

struct arm_provider {
    struct provider base;
    struct arm_provider_opts o;
    struct arm_provider_stats stats;
    unsigned graph_batch; /* what Resource Graph accepted last */
    int graph_batch_known;
    struct ap_stream *refused;  /* streamed writes refused before sending */
    struct ap_stream *deferred; /* streamed data-plane writes, sent by write_next */
    struct ap_lists *lists;     /* background lists not finished */
};

/* Background lists (provider_lists_start): their first pages streamed
 * through the client as ARM_CALL_BACKGROUND calls. */
struct ap_lists {
    struct arm_call *calls;
    size_t n, left; /* calls, and those not handed back yet */
    struct ap_lists *next;
};

static const struct provider_ops arm_provider_ops;

int arm_id_levels(const char *id, void (*each)(void *payload, size_t len), void *payload)
{
    const char *p = id;
    size_t segs = 0;
    bool providers = false, bad = *id != '/';
    for (;;) {
        const char *seg = p + 1, *next;
        size_t len;
        if (*p != '/' || *seg == '\0' || *seg == '/') {
            bad = bad || *seg == '/';
            break;
        }
        next = strchr(seg, '/');
        len = next ? (size_t)(next - seg) : strlen(seg);
        if (segs % 2 == 0)
            providers = len == 9 && strncasecmp(seg, "providers", 9) == 0;
        segs++;
        p = seg + len;
        /* a type/name pair (or subscriptions/S, resourceGroups/G) ends a
         * level; providers/Namespace does not */
        if (segs % 2 == 0 && !providers && *p == '/' && p[1] != '\0' && each)
            each(payload, (size_t)(p - id));
        if (*p == '\0')
            break;
    }
    return bad || segs == 0 || segs % 2 || providers ? 1 : 0;
}

/* The type of an id without /providers/: a subscription's
 * (/subscriptions/S) or a resource group's (/subscriptions/S/resourceGroups/G). */
static int container_type(char *dst, size_t size, const char *id)
{
    const char *type = NULL;
    size_t len;
    if (strncasecmp(id, "/subscriptions/", 15) != 0)
        return AMLSEC_EPARSE;
    id += 15;
    len = strcspn(id, "/");
    if (len == 0)
        return AMLSEC_EPARSE;
    id += len;
    if (*id == '\0') {
        type = "Microsoft.Resources/subscriptions";
    } else if (strncasecmp(id, "/resourceGroups/", 16) == 0) {
        id += 16;
        len = strcspn(id, "/");
        if (len > 0 && id[len] == '\0')
            type = "Microsoft.Resources/resourceGroups";
    }
    if (type == NULL || strlen(type) >= size)
        return AMLSEC_EPARSE;
    memcpy(dst, type, strlen(type) + 1);
    return 0;
}

int arm_id_type(char *dst, size_t size, const char *id)
{
    const char *p = NULL, *s = id;
    size_t n = 0, segs;
    /* the last "/providers/" starts the type */
    while ((s = strcasestr(s, "/providers/")) != NULL) {
        p = s;
        s += 11;
    }
    if (p == NULL)
        return container_type(dst, size, id);
    p += 11;
    /* NS/type/name[/type/name]... -> NS/type[/type]... */
    {
        const char *seg = p;
        size_t idx = 0;
        dst[0] = '\0';
        segs = 0;
        while (*seg) {
            size_t len = strcspn(seg, "/");
            if (len == 0)
                return AMLSEC_EPARSE;
            /* keep the namespace (idx 0) and odd segments (types) */
            if (idx == 0 || idx % 2 == 1) {
                if (n + len + 2 > size)
                    return AMLSEC_EPARSE;
                if (n)
                    dst[n++] = '/';
                memcpy(dst + n, seg, len);
                n += len;
                dst[n] = '\0';
                segs++;
            }
            idx++;
            seg += len;
            if (*seg == '/')
                seg++;
        }
        if (segs < 2 || idx % 2 != 1)
            return AMLSEC_EPARSE;
    }
    return 0;
}

static const struct arm_kind_info *kind_of(struct arm_provider *ap, const struct provider_ref *r,
                                           struct provider_result *res)
{
    char type[512];
    const char *t = r->type;
    const struct arm_kind_info *k;
    if (t == NULL) {
        if (r->id == NULL || arm_id_type(type, sizeof(type), r->id) < 0) {
            res->rc = errbuf_set(&res->err, AMLSEC_EUSAGE, "'%s' is not an ARM resource id",
                                 r->id ? r->id : "(null)");
            return NULL;
        }
        t = type;
    }
    k = ap->o.lookup ? ap->o.lookup(t, ap->o.payload) : NULL;
    if (k == NULL)
        res->rc = errbuf_set(&res->err, AMLSEC_EUSAGE, "unknown resource type '%s'", t);
    return k;
}

/* Resource Graph rows carry extra columns and a lowercased type: made
 * into what a GET returns, in place (a row is not copied: a bulk read of
 * thousands of resources would copy every row once more). */
static json_t *normalise_row(json_t *row, const struct arm_kind_info *k)
{
    return arm_graph_row_body(row, k ? k->type : NULL);
}

json_t *arm_graph_row_body(json_t *row, const char *type)
{
    static const char *const drop[] = {"tenantId", "resourceGroup", "subscriptionId"};
    const char *key;
    json_t *v;
    void *tmp;
    for (size_t i = 0; i < sizeof(drop) / sizeof(drop[0]); i++)
        json_object_del(row, drop[i]);
    json_object_foreach_safe(row, tmp, key, v)
    {
        if (json_is_null(v) || (json_is_string(v) && json_string_length(v) == 0 &&
                                (strcmp(key, "kind") == 0 || strcmp(key, "managedBy") == 0 ||
                                 strcmp(key, "location") == 0)))
            json_object_del(row, key);
    }
    if (type && json_is_string(json_object_get(row, "type")) &&
        strcasecmp(json_string_value(json_object_get(row, "type")), type) == 0)
        json_object_set_new(row, "type", json_string(type));
    render_strip_write_only(row);
    return row;
}

static void fill_from_call(struct provider_result *r, struct arm_call *c)
{
    r->rc = c->rc;
    r->status = c->status;
    r->gone = c->gone;
    r->unknown = c->unknown;
    snprintf(r->code, sizeof(r->code), "%s", c->error.code);
    if (c->rc < 0) {
        r->err = c->err;
        return;
    }
    if (c->response && c->response_len) {
        json_error_t jerr;
        r->body = jsonw_loadb(c->response, c->response_len, 0, &jerr);
        if (r->body == NULL)
            r->rc = errbuf_set(&r->err, AMLSEC_EPARSE, "%s '%s': answer is not JSON: %s", c->method,
                               c->url, jerr.text);
        else
            render_strip_write_only(r->body); /* an echoed password is never kept */
    }
}

/* Distinct subscriptions of the ids (NULL when more than Resource Graph
 * advises per query: the tenant scope is used then). */
static size_t subscriptions_of(const struct provider_ref *refs, const size_t *idx, size_t n,
                               char (*subs)[64])
{
    size_t ns = 0;
    for (size_t i = 0; i < n; i++) {
        const char *id = refs[idx[i]].id;
        const char *p;
        char sub[64];
        size_t len;
        int seen = 0;
        if (strncasecmp(id, "/subscriptions/", 15) != 0)
            return 0;
        p = id + 15;
        len = strcspn(p, "/");
        if (len == 0 || len >= sizeof(sub))
            return 0;
        memcpy(sub, p, len);
        sub[len] = '\0';
        for (size_t j = 0; j < ns; j++)
            if (strcasecmp(subs[j], sub) == 0)
                seen = 1;
        if (!seen) {
            if (ns == MAX_GRAPH_SUBSCRIPTIONS)
                return 0;
            memcpy(subs[ns++], sub, len + 1);
        }
    }
    return ns;
}

static int list_arm(struct arm_provider *ap, const char *url, const char *api_version,
                    json_t *items, char *code, size_t code_size, struct errbuf *err);
static int ap_list_urls(struct provider *p, const char *const *paths,
                        const char *const *api_versions, size_t n, json_t **out,
                        struct errbuf *errs);
static void take_list(struct arm_provider *ap, struct arm_call *c, const char *path, json_t **out,
                      struct errbuf *err);

/* Length of the "/subscriptions/S/resourceGroups/RG" prefix of id, 0 when
 * id is not in a resource group. */
static size_t rg_prefix_len(const char *id)
{
    const char *p;
    if (strncasecmp(id, "/subscriptions/", 15) != 0)
        return 0;
    p = id + 15 + strcspn(id + 15, "/");
    if (strncasecmp(p, "/resourceGroups/", 16) != 0 || p[16] == '\0' || p[16] == '/')
        return 0;
    p += 16;
    return (size_t)(p - id) + strcspn(p, "/");
}

/* The resources Resource Graph did not return (miss[0..*nmiss)) may just
 * not be indexed yet, so each would be confirmed with a GET: on the first
 * plan of a large estate that is a GET per resource, all answering 404.
 * Where LIST_CONFIRM_MIN or more miss in one resource group, one ARM list
 * of the group (ARM's own answer, which does not lag like Resource Graph)
 * says which exist: the others are absent (all of them when the group does
 * not exist), and only the listed ones are still read with a GET (a list
 * carries no properties). Only top-level resources are confirmed so: the
 * list holds no child resources (online endpoints) and no extension
 * resources (role assignments), which Resource Graph also reads. If the
 * list fails, the GETs are sent. Leaves in miss what still needs a GET. */
static int top_level(const struct arm_kind_info *k)
{
    const char *slash = strchr(k->type, '/');
    return k->in_resource_graph == KIND_GRAPH_RESOURCES && slash && !strchr(slash + 1, '/');
}

static void confirm_by_list(struct arm_provider *ap, const struct provider_ref *refs,
                            const struct arm_kind_info **kinds, size_t *miss, size_t *nmiss,
                            struct provider_result *out, struct strmap *absent)
{
    struct {
        const char *id; /* of a member: its first LEN bytes are the group's id */
        size_t len, count;
    } groups[LIST_CONFIRM_MAX_GROUPS];
    size_t ngroups = 0, kept = 0;

    for (size_t j = 0; j < *nmiss; j++) {
        const char *id = refs[miss[j]].id;
        size_t len = rg_prefix_len(id), gi;
        if (len == 0 || !top_level(kinds[miss[j]]))
            continue;
        for (gi = 0; gi < ngroups; gi++)
            if (groups[gi].len == len && strncasecmp(groups[gi].id, id, len) == 0)
                break;
        if (gi == ngroups) {
            if (ngroups == LIST_CONFIRM_MAX_GROUPS)
                continue;
            groups[ngroups].id = id;
            groups[ngroups].len = len;
            groups[ngroups++].count = 0;
        }
        groups[gi].count++;
    }
    for (size_t gi = 0; gi < ngroups; gi++) {
        json_t *items;
        struct strmap listed;
        struct errbuf lerr = ERRBUF_INIT;
        char url[2048], code[128] = "";
        size_t i;
        json_t *v;
        int rc;
        if (groups[gi].count < LIST_CONFIRM_MIN || groups[gi].len + 11 > sizeof(url))
            continue;
        snprintf(url, sizeof(url), "%.*s/resources", (int)groups[gi].len, groups[gi].id);
        items = json_array();
        if (items == NULL)
            continue;
        rc = list_arm(ap, url, GENERIC_LIST_API_VERSION, items, code, sizeof(code), &lerr);
        ap->stats.group_lists++;
        /* a group that does not exist holds nothing; any other failure
         * (even a 404 from a service that does not serve such lists) says
         * nothing about the resources */
        if (rc < 0 && (rc != AMLSEC_ENOTFOUND || strcasecmp(code, "ResourceGroupNotFound") != 0)) {
            log_msg(LOG_DEBUG, "listing %s failed (%s): reading its resources one by one", url,
                    lerr.msg);
            json_decref(items);
            continue;
        }
        if (rc < 0) { /* the group does not exist: nothing under it does */
            char gid[2048];
            snprintf(gid, sizeof(gid), "%.*s", (int)groups[gi].len, groups[gi].id);
            (void)strmap_put(absent, gid, 1);
        }
        strmap_init(&listed, true);
        json_array_foreach(items, i, v)
        {
            const char *lid = json_string_value(json_object_get(v, "id"));
            if (lid && strmap_put(&listed, lid, 1) < 0)
                break;
        }
        json_decref(items);
        for (size_t j = 0; j < *nmiss; j++) {
            const char *id = refs[miss[j]].id;
            size_t one;
            if (miss[j] == (size_t)-1 || !top_level(kinds[miss[j]]) ||
                rg_prefix_len(id) != groups[gi].len ||
                strncasecmp(groups[gi].id, id, groups[gi].len) != 0 ||
                (rc == 0 && strmap_get(&listed, id, &one)))
                continue;
            out[miss[j]].status = 404;
            snprintf(out[miss[j]].code, sizeof(out[miss[j]].code), "ResourceNotFound");
            out[miss[j]].rc = errbuf_set(&out[miss[j]].err, AMLSEC_ENOTFOUND,
                                         "'%s' does not exist (not in the list of %.*s)", id,
                                         (int)groups[gi].len, groups[gi].id);
            ap->stats.list_confirmed++;
            miss[j] = (size_t)-1;
        }
        strmap_release(&listed);
    }
    for (size_t j = 0; j < *nmiss; j++)
        if (miss[j] != (size_t)-1)
            miss[kept++] = miss[j];
    *nmiss = kept;
}

struct absent_ctx {
    const char *id;
    const struct strmap *absent;
    size_t found; /* the length of the absent id it lies under, or 0 */
};

static void absent_level(void *payload, size_t len)
{
    struct absent_ctx *c = payload;
    char key[2048];
    size_t one;
    if (c->found || len >= sizeof(key))
        return;
    memcpy(key, c->id, len);
    key[len] = '\0';
    if (strmap_get(c->absent, key, &one))
        c->found = len;
}

/* A resource under one known not to exist (its parent, the resource an
 * extension resource is scoped to, its group: what Resource Graph missed
 * and ARM's list confirmed) cannot exist either: it is answered absent
 * without a GET. A first plan of whole stacks read every child (keys,
 * computes, endpoints, locks, role assignments) one by one, at ARM's read
 * rate. Leaves in idx what still needs a GET. */
static void skip_under_absent(struct arm_provider *ap, const struct provider_ref *refs, size_t *idx,
                              size_t *nidx, struct provider_result *out,
                              const struct strmap *absent)
{
    size_t kept = 0;
    for (size_t j = 0; j < *nidx; j++) {
        size_t i = idx[j];
        struct absent_ctx c = {refs[i].id, absent, 0};
        (void)arm_id_levels(refs[i].id, absent_level, &c);
        if (c.found == 0) {
            idx[kept++] = i;
            continue;
        }
        out[i].status = 404;
        snprintf(out[i].code, sizeof(out[i].code), "ResourceNotFound");
        out[i].rc = errbuf_set(&out[i].err, AMLSEC_ENOTFOUND, "'%s' does not exist (%.*s does not)",
                               refs[i].id, (int)c.found, refs[i].id);
        ap->stats.parent_absent++;
    }
    *nidx = kept;
}

/* Reads refs[gidx[0..ng)] (kinds of one Resource Graph table) through
 * Resource Graph: found rows become results; misses go to midx (ARM is
 * asked: Resource Graph may lag). When Resource Graph fails they all go to
 * didx (a GET each). Returns < 0 only when memory ran out. */
static int read_through_graph(struct arm_provider *ap, const struct provider_ref *refs,
                              const struct arm_kind_info **kinds, const size_t *gidx, size_t ng,
                              const char *table, struct provider_result *out, size_t *midx,
                              size_t *nm, size_t *didx, size_t *nd, struct errbuf *err)
{
    const char **ids = calloc(ng ? ng : 1, sizeof(*ids));
    json_t **rows = calloc(ng ? ng : 1, sizeof(*rows));
    char(*subs)[64] = calloc(MAX_GRAPH_SUBSCRIPTIONS, sizeof(*subs));
    const char *subp[MAX_GRAPH_SUBSCRIPTIONS];
    struct graph g;
    struct errbuf gerr = ERRBUF_INIT;
    long status = 0;
    int grc, rc = 0;

    if (!ids || !rows || !subs) {
        free(ids);
        free(rows);
        free(subs);
        return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    }
    graph_init(&g, ap->o.client);
    g.table = table;
    g.batch = ap->graph_batch ? ap->graph_batch : ap->o.graph_batch;
    g.batch_known = ap->graph_batch_known;
    if (ap->o.n_subscriptions) {
        g.subscriptions = ap->o.subscriptions;
        g.n_subscriptions = ap->o.n_subscriptions;
    } else {
        g.n_subscriptions = subscriptions_of(refs, gidx, ng, subs);
        for (size_t j = 0; j < g.n_subscriptions; j++)
            subp[j] = subs[j];
        g.subscriptions = subp;
    }
    for (size_t j = 0; j < ng; j++)
        ids[j] = refs[gidx[j]].id;
    grc = graph_read_ids(&g, ids, ng, rows, &status, &gerr);
    ap->stats.graph_queries += g.queries;
    ap->graph_batch = g.batch;
    ap->graph_batch_known = g.batch_known;
    if (grc == AMLSEC_ENOMEM) {
        rc = errbuf_set(err, grc, "%s", gerr.msg);
    } else if (grc < 0) {
        ap->stats.graph_failures++;
        if (status == 400 || status == 401 || status == 403 || status == 404 || status == 0 ||
            status >= 500)
            ap->stats.graph_disabled = 1;
        log_msg(LOG_WARN, "Resource Graph unavailable, reading %zu resources one by one: %s", ng,
                gerr.msg);
        for (size_t j = 0; j < ng; j++)
            didx[(*nd)++] = gidx[j];
    } else {
        for (size_t j = 0; j < ng; j++) {
            size_t i = gidx[j];
            if (rows[j] == NULL) {
                ap->stats.graph_misses++;
                midx[(*nm)++] = i; /* Resource Graph may lag: ask ARM */
                continue;
            }
            out[i].body = normalise_row(rows[j], kinds[i]); /* takes the reference */
            out[i].status = 200;
            out[i].from_graph = 1;
        }
    }
    free(ids);
    free(rows);
    free(subs);
    return rc;
}

/* The ARM list that holds a resource Resource Graph does not: a lock's,
 * its subscription's list of locks (every lock at or below it); a child
 * resource's (a key, a compute), its parent's list of that type. Written
 * to url; 0 when there is none (an extension resource other than a lock,
 * a top-level resource). */
static int list_of(char *url, size_t size, const char *id, const char *type)
{
    const char *last, *q = id, *slash;
    size_t nprov = 0;
    if (strcasecmp(type, "Microsoft.Authorization/locks") == 0) {
        size_t len;
        if (strncasecmp(id, "/subscriptions/", 15) != 0)
            return 0;
        len = 15 + strcspn(id + 15, "/");
        return (size_t)snprintf(url, size, "%.*s/providers/Microsoft.Authorization/locks", (int)len,
                                id) < size;
    }
    while ((q = strstr(q, "/providers/")) != NULL) {
        nprov++;
        q++;
    }
    slash = strchr(type, '/');
    if (nprov != 1 || slash == NULL || strchr(slash + 1, '/') == NULL)
        return 0; /* an extension resource, or a top-level one */
    /* .../PARENT/CHILDTYPE/NAME -> .../PARENT/CHILDTYPE */
    last = strrchr(id, '/');
    if (last == NULL || last == id)
        return 0;
    return (size_t)snprintf(url, size, "%.*s", (int)(last - id), id) < size;
}

/* Resources Resource Graph does not hold, read through ARM's lists where
 * one list answers several: the locks of a subscription (one list of
 * every lock in it), children of one parent (a vault's keys, a
 * workspace's computes: one list of the parent's). A list answers for
 * LIST_READ_MIN or more resources only (for one, a GET costs the same and
 * carries no more). A listed resource's item is its body (ARM's lists
 * return what a GET does); one not listed is absent. A list that fails
 * leaves its resources to their GETs.
 *
 * The plan of them: which list (urls[of[j]]) answers for idx[j], or
 * (size_t)-1 when a GET reads it. */
struct list_plan {
    char **urls; /* the lists to send (owned) */
    const char **apis;
    size_t n;
    size_t *of; /* per entry of idx */
};

static void list_plan_release(struct list_plan *lp)
{
    for (size_t l = 0; lp->urls && l < lp->n; l++)
        free(lp->urls[l]);
    free(lp->urls);
    free(lp->apis);
    free(lp->of);
    memset(lp, 0, sizeof(*lp));
}

/* Returns < 0 only when out of memory (lp is then empty: GETs read them
 * all). */
static int list_plan_make(struct list_plan *lp, const struct provider_ref *refs,
                          const struct arm_kind_info **kinds, const size_t *idx, size_t nidx)
{
    struct strmap groups; /* list url -> its group */
    size_t cap = nidx ? nidx : 1, ng = 0;
    char **urls = calloc(cap, sizeof(*urls));
    size_t *count = calloc(cap, sizeof(*count)), *pos = calloc(cap, sizeof(*pos));
    int rc = AMLSEC_ENOMEM;

    memset(lp, 0, sizeof(*lp));
    strmap_init(&groups, true);
    lp->urls = calloc(cap, sizeof(*lp->urls));
    lp->apis = calloc(cap, sizeof(*lp->apis));
    lp->of = calloc(cap, sizeof(*lp->of));
    if (!urls || !count || !pos || !lp->urls || !lp->apis || !lp->of)
        goto out;
    /* the group of each (kept in of until the groups are counted) */
    for (size_t j = 0; j < nidx; j++) {
        size_t i = idx[j], g;
        char url[2048];
        lp->of[j] = (size_t)-1;
        if (!list_of(url, sizeof(url), refs[i].id, kinds[i]->type))
            continue;
        if (!strmap_get(&groups, url, &g)) {
            if ((urls[ng] = strdup(url)) == NULL || strmap_put(&groups, url, ng) < 0)
                goto out;
            lp->apis[ng] = kinds[i]->api_version;
            g = ng++;
        }
        count[g]++;
        lp->of[j] = g;
    }
    /* the groups one list answers for: their lists */
    for (size_t g = 0; g < ng; g++) {
        pos[g] = (size_t)-1;
        if (count[g] < LIST_READ_MIN)
            continue;
        lp->apis[lp->n] = lp->apis[g];
        lp->urls[lp->n] = urls[g];
        urls[g] = NULL;
        pos[g] = lp->n++;
    }
    for (size_t j = 0; j < nidx; j++)
        if (lp->of[j] != (size_t)-1)
            lp->of[j] = pos[lp->of[j]];
    rc = 0;
out:
    for (size_t g = 0; urls && g < ng; g++)
        free(urls[g]);
    free(urls);
    free(count);
    free(pos);
    strmap_release(&groups);
    if (rc < 0)
        list_plan_release(lp);
    return rc;
}

/* The lists' answers (items[l], or NULL with errs[l] saying why) into out
 * for the entries of idx they answer for; leaves in idx what still needs
 * a GET. */
static void list_plan_take(struct arm_provider *ap, const struct list_plan *lp,
                           const struct provider_ref *refs, const struct arm_kind_info **kinds,
                           size_t *idx, size_t *nidx, json_t **items, const struct errbuf *errs,
                           struct provider_result *out)
{
    size_t kept = 0;
    bool *answered = calloc(*nidx ? *nidx : 1, sizeof(*answered));
    if (answered == NULL)
        return; /* out of memory: their GETs say */
    for (size_t l = 0; l < lp->n; l++) {
        struct strmap listed;
        size_t k;
        json_t *it;
        if (items[l] == NULL) {
            log_msg(LOG_DEBUG, "listing %s failed (%s): reading its resources one by one",
                    lp->urls[l], errs[l].msg);
            continue;
        }
        /* the items by id: the list's position of each */
        strmap_init(&listed, true);
        json_array_foreach(items[l], k, it)
        {
            const char *lid = json_string_value(json_object_get(it, "id"));
            if (lid && strmap_put(&listed, lid, k) < 0)
                break;
        }
        for (size_t j = 0; j < *nidx; j++) {
            size_t i = idx[j], at;
            if (lp->of[j] != l)
                continue;
            if (strmap_get(&listed, refs[i].id, &at)) {
                out[i].body = json_deep_copy(json_array_get(items[l], at));
                if (out[i].body == NULL)
                    continue; /* out of memory: its GET says */
                render_strip_write_only(out[i].body);
                out[i].status = 200;
            } else {
                out[i].status = 404;
                snprintf(out[i].code, sizeof(out[i].code), "%s",
                         strcasecmp(kinds[i]->type, "Microsoft.Authorization/locks") == 0
                             ? "LockNotFound"
                             : "ResourceNotFound");
                out[i].rc =
                    errbuf_set(&out[i].err, AMLSEC_ENOTFOUND,
                               "'%s' does not exist (not in the list %s)", refs[i].id, lp->urls[l]);
            }
            ap->stats.list_read++;
            answered[j] = true;
        }
        strmap_release(&listed);
    }
    for (size_t j = 0; j < *nidx; j++)
        if (!answered[j])
            idx[kept++] = idx[j];
    *nidx = kept;
    free(answered);
}

/* Reads what the lists answer for (list_plan); leaves in idx what still
 * needs a GET. */
static void read_by_lists(struct arm_provider *ap, const struct provider_ref *refs,
                          const struct arm_kind_info **kinds, size_t *idx, size_t *nidx,
                          struct provider_result *out)
{
    struct list_plan lp;
    json_t **items = NULL;
    struct errbuf *errs = NULL;

    if (list_plan_make(&lp, refs, kinds, idx, *nidx) < 0 || lp.n == 0)
        goto out;
    items = calloc(lp.n, sizeof(*items));
    errs = calloc(lp.n, sizeof(*errs));
    if (!items || !errs)
        goto out;
    (void)ap_list_urls(&ap->base, (const char *const *)lp.urls, lp.apis, lp.n, items, errs);
    ap->stats.bulk_lists += (unsigned)lp.n;
    list_plan_take(ap, &lp, refs, kinds, idx, nidx, items, errs, out);
out:
    for (size_t l = 0; items && l < lp.n; l++)
        json_decref(items[l]);
    free(items);
    free(errs);
    list_plan_release(&lp);
}

/* A GET of each of refs[idx[0..n)] (concurrently, at the client's
 * parallelism) into out. Returns < 0 only when the client itself failed. */
static int get_each(struct arm_provider *ap, const struct provider_ref *refs,
                    const struct arm_kind_info **kinds, const size_t *idx, size_t n,
                    struct provider_result *out, struct errbuf *err)
{
    struct arm_call *calls = calloc(n ? n : 1, sizeof(*calls));
    int rc;
    if (calls == NULL)
        return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    for (size_t j = 0; j < n; j++) {
        calls[j].method = "GET";
        calls[j].url = refs[idx[j]].id;
        calls[j].api_version = kinds[idx[j]]->api_version;
    }
    rc = arm_client_run(ap->o.client, calls, n, err);
    ap->stats.direct_gets += (unsigned)n;
    for (size_t j = 0; j < n; j++) {
        fill_from_call(&out[idx[j]], &calls[j]);
        arm_call_release(&calls[j]);
    }
    free(calls);
    return rc;
}

/* A resource cannot exist when its resource group does not. The groups
 * among the refs (read with a GET each: Resource Graph holds them in
 * another table, and lags) are read before anything else, and every group
 * ARM answers 404 for goes to absent: what lies under it is then answered
 * absent without a Resource Graph query or a GET (skip_under_absent). The
 * first plan of a stack in new groups sent every id to Resource Graph, 40
 * pages at 50,000 resources, 10 s of its quota; it sends none now, and a
 * plan of what exists sends the same requests as before (the groups' GETs
 * only come first). Removes the groups from idx. */
/* Moves the resource groups of idx into *groups (allocated; NULL when
 * there are none). */
static int take_groups(const struct arm_kind_info **kinds, size_t *idx, size_t *nidx,
                       size_t **groups, size_t *ngroups, struct errbuf *err)
{
    size_t kept = 0;
    *ngroups = 0;
    if ((*groups = calloc(*nidx ? *nidx : 1, sizeof(**groups))) == NULL)
        return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    for (size_t j = 0; j < *nidx; j++) {
        if (strcasecmp(kinds[idx[j]]->type, "Microsoft.Resources/resourceGroups") == 0)
            (*groups)[(*ngroups)++] = idx[j];
        else
            idx[kept++] = idx[j];
    }
    *nidx = kept;
    if (*ngroups == 0) {
        free(*groups);
        *groups = NULL;
    }
    return 0;
}

/* The groups ARM answered 404 for go to absent. */
static int note_absent_groups(const struct provider_ref *refs, const size_t *groups, size_t ngroups,
                              const struct provider_result *out, struct strmap *absent,
                              struct errbuf *err)
{
    for (size_t j = 0; j < ngroups; j++)
        if (out[groups[j]].rc == AMLSEC_ENOTFOUND && out[groups[j]].status == 404 &&
            strmap_put(absent, refs[groups[j]].id, 1) < 0)
            return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    return 0;
}

static int read_groups_first(struct arm_provider *ap, const struct provider_ref *refs,
                             const struct arm_kind_info **kinds, size_t *idx, size_t *nidx,
                             struct provider_result *out, struct strmap *absent, struct errbuf *err)
{
    size_t *groups, ngroups;
    int rc = take_groups(kinds, idx, nidx, &groups, &ngroups, err);
    if (rc < 0 || ngroups == 0)
        return rc;
    rc = get_each(ap, refs, kinds, groups, ngroups, out, err);
    if (rc == 0)
        rc = note_absent_groups(refs, groups, ngroups, out, absent, err);
    free(groups);
    return rc;
}

/* Reads sent beside the Resource Graph queries, when the caller expects
 * every group to exist (PROVIDER_READ_GROUPS_EXPECTED: the state holds
 * them): the groups' GETs (a plan of what exists waits one round trip
 * less; should a group be gone after all, what Resource Graph said of the
 * resources under it is discarded: forget_under_absent), and the reads of
 * what the caller has on record (provider_ref.recorded) and Resource
 * Graph does not hold: a key, a compute (a GET, or its parent's list when
 * that answers for two or more: list_plan), the subscription's locks.
 * Those go out in the background (ARM_CALL_BACKGROUND: behind the pages,
 * and on during the quota's waits), so that the refresh takes as long as
 * the longer of the two, not their sum (1,428 reads of 10,000 resources in
 * bench_scale's stacks: 57 s at ARM's read rate). Each call is taken as
 * the client hands it back. */
struct beside {
    /* the groups' GETs [0, ngroups), the reads' GETs [ngroups, nget),
     * the lists [nget, n) */
    struct arm_call *calls;
    size_t *idx; /* a GET's position in refs */
    size_t n, ngroups, nget, left, groups_left;
    size_t *reads, nreads; /* the positions of what the lists answer for */
    struct list_plan lp;   /* over reads */
    json_t **items;        /* the lists' answers */
    struct errbuf *errs;
};

static void beside_get(struct beside *bs, size_t j, const struct provider_ref *refs,
                       const struct arm_kind_info **kinds, size_t i)
{
    struct arm_call *c = &bs->calls[j];
    bs->idx[j] = i;
    c->method = "GET";
    c->url = refs[i].id;
    c->api_version = kinds[i]->api_version;
}

/* A call of bs handed back: a GET's outcome into out, a list's answer
 * kept for beside_finish. */
static void beside_take(struct arm_provider *ap, struct beside *bs, struct arm_call *c,
                        struct provider_result *out)
{
    size_t j = (size_t)(c - bs->calls);
    if (j < bs->nget) {
        fill_from_call(&out[bs->idx[j]], c);
        arm_call_release(c);
    } else {
        size_t l = j - bs->nget;
        take_list(ap, c, bs->lp.urls[l], &bs->items[l], &bs->errs[l]);
    }
    bs->left--;
    bs->groups_left -= j < bs->ngroups;
}

/* Moves the groups and the recorded reads out of idx into bs and submits
 * them. */
static int beside_submit(struct arm_provider *ap, const struct provider_ref *refs,
                         const struct arm_kind_info **kinds, size_t *idx, size_t *nidx,
                         struct beside *bs, struct provider_result *out, struct errbuf *err)
{
    size_t *groups = NULL, kept = 0, j;
    int rc = take_groups(kinds, idx, nidx, &groups, &bs->ngroups, err);
    if (rc < 0)
        return rc;
    rc = AMLSEC_ENOMEM;
    if ((bs->reads = calloc(*nidx ? *nidx : 1, sizeof(*bs->reads))) == NULL)
        goto out;
    for (j = 0; j < *nidx; j++) {
        if (refs[idx[j]].recorded)
            bs->reads[bs->nreads++] = idx[j];
        else
            idx[kept++] = idx[j];
    }
    *nidx = kept;
    /* what a list answers for stays in reads; the others are GETs */
    if (list_plan_make(&bs->lp, refs, kinds, bs->reads, bs->nreads) < 0)
        goto out;
    bs->n = bs->ngroups + bs->nreads + bs->lp.n;
    bs->calls = calloc(bs->n ? bs->n : 1, sizeof(*bs->calls));
    bs->idx = calloc(bs->n ? bs->n : 1, sizeof(*bs->idx));
    bs->items = calloc(bs->lp.n ? bs->lp.n : 1, sizeof(*bs->items));
    bs->errs = calloc(bs->lp.n ? bs->lp.n : 1, sizeof(*bs->errs));
    if (!bs->calls || !bs->idx || !bs->items || !bs->errs)
        goto out;
    for (j = 0; j < bs->ngroups; j++)
        beside_get(bs, j, refs, kinds, groups[j]);
    bs->nget = bs->ngroups;
    kept = 0;
    for (size_t r = 0; r < bs->nreads; r++) {
        if (bs->lp.of[r] != (size_t)-1) {
            bs->reads[kept] = bs->reads[r];
            bs->lp.of[kept++] = bs->lp.of[r];
        } else {
            beside_get(bs, bs->nget++, refs, kinds, bs->reads[r]);
        }
    }
    bs->nreads = kept;
    for (size_t l = 0; l < bs->lp.n; l++) {
        struct arm_call *c = &bs->calls[bs->nget + l];
        c->method = "GET";
        c->url = bs->lp.urls[l];
        c->api_version = bs->lp.apis[l];
    }
    bs->n = bs->nget + bs->lp.n;
    for (j = 0; j < bs->n; j++) {
        struct arm_call *c = &bs->calls[j];
        if (j >= bs->ngroups)
            c->flags = ARM_CALL_BACKGROUND;
        bs->left++;
        bs->groups_left += j < bs->ngroups;
        if (arm_client_submit(ap->o.client, c) < 0) /* not queued: its rc says why */
            beside_take(ap, bs, c, out);
    }
    ap->stats.direct_gets += (unsigned)bs->nget;
    ap->stats.groups_beside += (unsigned)bs->ngroups;
    ap->stats.bulk_lists += (unsigned)bs->lp.n;
    ap->stats.reads_beside += (unsigned)(bs->nget - bs->ngroups + bs->lp.n);
    rc = 0;
out:
    free(groups);
    return rc < 0 ? errbuf_set(err, rc, "out of memory") : 0;
}

/* Waits for bs's calls: the groups' GETs only, or all of them. Returns < 0
 * when the client failed (every call then has that error). */
static int beside_wait(struct arm_provider *ap, struct beside *bs, bool groups_only,
                       struct provider_result *out, struct errbuf *err)
{
    int rc = 0;
    while (groups_only ? bs->groups_left > 0 : bs->left > 0) {
        struct arm_call *done = NULL;
        struct errbuf nerr = ERRBUF_INIT;
        /* a failed machinery hands every unfinished call back with its error */
        if (arm_client_next(ap->o.client, -1, &done, &nerr) < 0 && rc == 0)
            rc = errbuf_set(err, nerr.code ? nerr.code : AMLSEC_ERROR, "%s", nerr.msg);
        if (done == NULL) {
            if (arm_client_active(ap->o.client) == 0)
                break;
            continue;
        }
        if (done < bs->calls || done >= bs->calls + bs->n)
            BUG("arm_provider: a call other than a read beside Resource Graph's handed back");
        beside_take(ap, bs, done, out);
    }
    return rc;
}

/* The groups ARM answered 404 for go to absent. */
static int beside_groups(struct arm_provider *ap, const struct provider_ref *refs,
                         struct beside *bs, struct provider_result *out, struct strmap *absent,
                         struct errbuf *err)
{
    int rc = beside_wait(ap, bs, true, out, err);
    if (rc == 0)
        rc = note_absent_groups(refs, bs->idx, bs->ngroups, out, absent, err);
    return rc;
}

/* Waits for the rest: the lists' answers into out; appends to idx what
 * still needs a GET (the resources of a list that failed). */
static int beside_finish(struct arm_provider *ap, const struct provider_ref *refs,
                         const struct arm_kind_info **kinds, struct beside *bs,
                         struct provider_result *out, size_t *idx, size_t *nidx, struct errbuf *err)
{
    int rc;
    /* the pages are read: what is left of the reads gets every slot */
    arm_client_foreground(ap->o.client);
    if ((rc = beside_wait(ap, bs, false, out, err)) < 0)
        return rc;
    list_plan_take(ap, &bs->lp, refs, kinds, bs->reads, &bs->nreads, bs->items, bs->errs, out);
    for (size_t r = 0; r < bs->nreads; r++)
        idx[(*nidx)++] = bs->reads[r];
    return 0;
}

static void beside_release(struct beside *bs)
{
    for (size_t j = 0; bs->calls && j < bs->n; j++)
        arm_call_release(&bs->calls[j]); /* again for those handed back: a no-op */
    for (size_t l = 0; bs->items && l < bs->lp.n; l++)
        json_decref(bs->items[l]);
    free(bs->calls);
    free(bs->idx);
    free(bs->reads);
    free(bs->items);
    free(bs->errs);
    list_plan_release(&bs->lp);
    memset(bs, 0, sizeof(*bs));
}

/* What Resource Graph answered for resources under one now known absent
 * (a group its GET found gone while the query ran: Resource Graph lags) is
 * dropped: they are absent. */
static void forget_under_absent(struct arm_provider *ap, const struct provider_ref *refs,
                                const size_t *idx, size_t n, struct provider_result *out,
                                const struct strmap *absent)
{
    for (size_t j = 0; j < n; j++) {
        size_t i = idx[j];
        struct absent_ctx c = {refs[i].id, absent, 0};
        if (out[i].rc != 0 || out[i].body == NULL)
            continue;
        (void)arm_id_levels(refs[i].id, absent_level, &c);
        if (c.found == 0)
            continue;
        json_decref(out[i].body);
        memset(&out[i], 0, sizeof(out[i]));
        out[i].status = 404;
        snprintf(out[i].code, sizeof(out[i].code), "ResourceNotFound");
        out[i].rc = errbuf_set(&out[i].err, AMLSEC_ENOTFOUND, "'%s' does not exist (%.*s does not)",
                               refs[i].id, (int)c.found, refs[i].id);
        ap->stats.parent_absent++;
    }
}

static int ap_read_many(struct provider *p, const struct provider_ref *refs, size_t n,
                        unsigned flags, struct provider_result *out, struct errbuf *err)
{
    struct arm_provider *ap = (struct arm_provider *)p;
    const struct arm_kind_info **kinds = calloc(n ? n : 1, sizeof(*kinds));
    size_t *gidx = calloc(n ? n : 1, sizeof(*gidx)), ng = 0;
    size_t *aidx = calloc(n ? n : 1, sizeof(*aidx)), na = 0;
    size_t *didx = calloc(n ? n : 1, sizeof(*didx)), nd = 0;
    size_t *midx = calloc(n ? n : 1, sizeof(*midx)), nm = 0;
    struct strmap absent; /* ids known not to exist: nothing under them does */
    struct beside bs = {0};
    int rc = 0;

    strmap_init(&absent, true);
    memset(out, 0, n * sizeof(*out));
    if (!kinds || !gidx || !aidx || !didx || !midx) {
        rc = errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        kinds[i] = kind_of(ap, &refs[i], &out[i]);
        if (kinds[i] == NULL)
            continue;
        if (!(flags & PROVIDER_READ_FRESH) && !ap->o.no_graph && !ap->stats.graph_disabled &&
            kinds[i]->in_resource_graph == KIND_GRAPH_RESOURCES)
            gidx[ng++] = i;
        else if (!(flags & PROVIDER_READ_FRESH) && !ap->o.no_graph && !ap->stats.graph_disabled &&
                 kinds[i]->in_resource_graph == KIND_GRAPH_AUTHZ)
            aidx[na++] = i;
        else
            didx[nd++] = i;
    }
    /* the groups first (what lies under one that is gone is not asked
     * for), or, when every group is expected to exist and nothing else
     * streams through the client, beside the first Resource Graph query,
     * with the reads of what the caller has on record and Resource Graph
     * does not hold */
    if (!(flags & PROVIDER_READ_FRESH) && nd > 0) {
        if ((flags & PROVIDER_READ_GROUPS_EXPECTED) && ng > 0 &&
            arm_client_active(ap->o.client) == 0)
            rc = beside_submit(ap, refs, kinds, didx, &nd, &bs, out, err);
        else
            rc = read_groups_first(ap, refs, kinds, didx, &nd, out, &absent, err);
        if (rc < 0)
            goto out;
    }
    if (absent.n > 0)
        skip_under_absent(ap, refs, gidx, &ng, out, &absent);
    /* the `resources` table, then authorizationresources (role
     * assignments): ceil(n / 1000) queries each; the role assignments once
     * the resources are known, so that none scoped to a resource confirmed
     * absent is sent */
    if (ng > 0 && (rc = read_through_graph(ap, refs, kinds, gidx, ng, GRAPH_TABLE_RESOURCES, out,
                                           midx, &nm, didx, &nd, err)) < 0)
        goto out;
    if (bs.ngroups > 0) {
        if ((rc = beside_groups(ap, refs, &bs, out, &absent, err)) < 0)
            goto out;
        if (absent.n > 0) {
            forget_under_absent(ap, refs, gidx, ng, out, &absent);
            skip_under_absent(ap, refs, midx, &nm, out, &absent);
        }
    }
    if (ng > 0) {
        confirm_by_list(ap, refs, kinds, midx, &nm, out, &absent);
        for (size_t j = 0; j < ng; j++)
            if (out[gidx[j]].rc == AMLSEC_ENOTFOUND)
                (void)strmap_put(&absent, refs[gidx[j]].id, 1);
    }
    if (na > 0 && absent.n > 0)
        skip_under_absent(ap, refs, aidx, &na, out, &absent);
    if (na > 0 && ap->stats.graph_disabled) {
        for (size_t j = 0; j < na; j++) /* Resource Graph failed on the first table */
            didx[nd++] = aidx[j];
    } else if (na > 0 && (rc = read_through_graph(ap, refs, kinds, aidx, na, GRAPH_TABLE_AUTHZ, out,
                                                  midx, &nm, didx, &nd, err)) < 0) {
        goto out;
    }
    for (size_t j = 0; j < nm; j++) /* misses no list confirmed: a GET each */
        didx[nd++] = midx[j];
    if (nd > 0 && absent.n > 0)
        skip_under_absent(ap, refs, didx, &nd, out, &absent);
    if (nd > 0 && !(flags & PROVIDER_READ_FRESH))
        read_by_lists(ap, refs, kinds, didx, &nd, out);
    if (bs.n > 0 && (rc = beside_finish(ap, refs, kinds, &bs, out, didx, &nd, err)) < 0)
        goto out;
    if (nd > 0)
        rc = get_each(ap, refs, kinds, didx, nd, out, err);
out:
    if (bs.left > 0) /* an error while reads were out beside the queries: forget them */
        arm_client_abandon(ap->o.client, NULL, NULL);
    beside_release(&bs);
    if (rc < 0)
        for (size_t i = 0; i < n; i++)
            if (out[i].rc == 0 && out[i].body == NULL) {
                out[i].rc = rc;
                out[i].err = *err;
            }
    strmap_release(&absent);
    free(kinds);
    free(gidx);
    free(aidx);
    free(didx);
    free(midx);
    return rc;
}

/* A data-plane update (keyvault.h): its requests depend on each other,
 * so they run one after another (write_many: before the batch's ARM
 * writes; streamed: when write_next is called, after the journal sync). */
static void data_plane_write(struct arm_provider *ap, const struct provider_write *w,
                             struct provider_result *out)
{
    const struct arm_kind_info *k = kind_of(ap, &w->ref, out);
    struct arm_call c;
    if (k == NULL)
        return;
    if (strcasecmp(k->type, "Microsoft.KeyVault/vaults/keys") != 0) {
        out->rc = errbuf_set(&out->err, AMLSEC_EUSAGE, "'%s': %s has no data-plane update",
                             w->ref.id, k->type);
        return;
    }
    if (w->body == NULL) {
        out->rc = errbuf_set(&out->err, AMLSEC_EUSAGE, "data-plane update of '%s' without a body",
                             w->ref.id);
        return;
    }
    keyvault_key_update(ap->o.client, w->ref.id, k->api_version, w->body, w->parts, &c);
    fill_from_call(out, &c);
    arm_call_release(&c);
}

/* Fills c for ARM write w: method, URL, api-version, LRO pattern and
 * (owned by *body and *url) the request body and a URL with w's query.
 * Returns 0, 1 when w is refused (res says why), or < 0 when out of
 * memory. */
static int prepare_write(struct arm_provider *ap, const struct provider_write *w,
                         struct arm_call *c, char **body, char **url, struct provider_result *res,
                         struct errbuf *err)
{
    const struct arm_kind_info *k = kind_of(ap, &w->ref, res);
    *body = NULL;
    *url = NULL;
    if (k == NULL)
        return 1;
    c->url = w->ref.id;
    c->api_version = k->api_version;
    if ((w->verb == PROVIDER_CREATE || w->verb == PROVIDER_DELETE) && w->query && w->query[0]) {
        struct buf u;
        buf_init(&u, 0);
        buf_addf(&u, "%s?%s", w->ref.id, w->query);
        if ((*url = buf_detach(&u, NULL)) == NULL)
            return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
        c->url = *url;
    }
    switch (w->verb) {
    case PROVIDER_CREATE:
        c->method = "PUT";
        c->lro = k->put;
        break;
    case PROVIDER_UPDATE:
        c->method = "PATCH";
        c->lro = k->patch;
        break;
    case PROVIDER_DELETE:
        c->method = "DELETE";
        c->lro = k->del;
        return 0;
    case PROVIDER_DATA_PLANE:
        BUG("arm_provider: a data-plane write reached prepare_write");
    }
    if (w->body == NULL) {
        res->rc = errbuf_set(&res->err, AMLSEC_EUSAGE, "%s '%s' without a body", c->method, c->url);
        return 1;
    }
    if ((*body = jsonw_dumps(w->body, JSON_COMPACT | JSON_REAL_PRECISION(VALUE_DIGITS))) == NULL)
        return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    c->body = *body;
    return 0;
}

static int ap_write_many(struct provider *p, const struct provider_write *w, size_t n,
                         struct provider_result *out, struct errbuf *err)
{
    struct arm_provider *ap = (struct arm_provider *)p;
    struct arm_call *calls = calloc(n ? n : 1, sizeof(*calls));
    char **bodies = calloc(n ? n : 1, sizeof(*bodies));
    char **urls = calloc(n ? n : 1, sizeof(*urls));
    size_t *idx = calloc(n ? n : 1, sizeof(*idx)), nc = 0;
    int rc = 0;

    memset(out, 0, n * sizeof(*out));
    if (!calls || !bodies || !urls || !idx) {
        rc = errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (w[i].verb == PROVIDER_DATA_PLANE) {
            data_plane_write(ap, &w[i], &out[i]);
            continue;
        }
        rc = prepare_write(ap, &w[i], &calls[nc], &bodies[i], &urls[i], &out[i], err);
        if (rc < 0)
            goto out;
        if (rc == 0)
            idx[nc++] = i;
        else
            memset(&calls[nc], 0, sizeof(calls[nc]));
        rc = 0;
    }
    if (nc > 0) {
        rc = arm_client_run(ap->o.client, calls, nc, err);
        for (size_t j = 0; j < nc; j++) {
            fill_from_call(&out[idx[j]], &calls[j]);
            arm_call_release(&calls[j]);
        }
    }
out:
    for (size_t i = 0; bodies && urls && i < n; i++) {
        free(bodies[i]);
        free(urls[i]);
    }
    free(bodies);
    free(urls);
    free(calls);
    free(idx);
    return rc;
}

/* A streamed write: the call is handed back by the client by address. */
struct ap_stream {
    struct arm_call call; /* first: the client hands back &call */
    char *body, *url;
    void *tag;
    struct provider_result refused; /* prepare_write said no: handed back at once */
    struct provider_write dp;       /* a deferred data-plane write (body: dp_body) */
    json_t *dp_body;
    struct ap_stream *next; /* in the refused or the deferred list */
    void (*on_accepted)(void *payload, void *tag, const char *operation_url);
    void *accepted_payload;
};

static void stream_accepted(void *arg, const char *operation_url)
{
    struct ap_stream *s = arg;
    if (s->on_accepted)
        s->on_accepted(s->accepted_payload, s->tag, operation_url);
}

static void stream_free(struct ap_stream *w)
{
    arm_call_release(&w->call);
    free(w->body);
    free(w->url);
    json_decref(w->dp_body);
    free(w);
}

static int ap_write_start(struct provider *p, const struct provider_write *w, void *tag,
                          struct errbuf *err)
{
    struct arm_provider *ap = (struct arm_provider *)p;
    struct ap_stream *s = calloc(1, sizeof(*s));
    int rc;

    if (s == NULL)
        return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    s->tag = tag;
    if (w->verb == PROVIDER_DATA_PLANE) {
        /* its requests leave from write_next, after the caller's journal
         * sync, like every streamed request */
        s->dp = *w;
        if (w->body && (s->dp_body = json_deep_copy(w->body)) == NULL) {
            free(s);
            return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
        }
        s->dp.body = s->dp_body;
        s->next = ap->deferred;
        ap->deferred = s;
        return 0;
    }
    if ((rc = prepare_write(ap, w, &s->call, &s->body, &s->url, &s->refused, err)) < 0) {
        free(s->url);
        free(s);
        return rc;
    }
    if (rc == 1) {
        s->next = ap->refused;
        ap->refused = s;
        return 0;
    }
    s->on_accepted = w->on_accepted;
    s->accepted_payload = w->accepted_payload;
    s->call.on_accepted = stream_accepted;
    s->call.accepted_arg = s;
    if ((rc = arm_client_submit(ap->o.client, &s->call)) < 0) {
        rc = errbuf_set(err, rc, "%s", s->call.err.msg);
        stream_free(s);
        return rc;
    }
    return 0;
}

static int ap_write_next(struct provider *p, int64_t timeout_ms, void **tag,
                         struct provider_result *out, struct errbuf *err)
{
    struct arm_provider *ap = (struct arm_provider *)p;
    struct arm_call *done = NULL;
    struct ap_stream *s;
    int rc = 0;

    *tag = NULL;
    memset(out, 0, sizeof(*out));
    if ((s = ap->refused) != NULL) {
        ap->refused = s->next;
        *out = s->refused;
    } else if ((s = ap->deferred) != NULL) {
        ap->deferred = s->next;
        data_plane_write(ap, &s->dp, out);
    } else {
        rc = arm_client_next(ap->o.client, timeout_ms, &done, err);
        if (done == NULL)
            return rc;
        s = (struct ap_stream *)(void *)done;
        fill_from_call(out, &s->call);
    }
    *tag = s->tag;
    stream_free(s);
    return rc;
}

/* The background lists a call handed back belongs to, or NULL. */
static struct ap_lists *lists_of(struct arm_provider *ap, const struct arm_call *call)
{
    for (struct ap_lists *l = ap->lists; l; l = l->next)
        if (call >= l->calls && call < l->calls + l->n)
            return l;
    return NULL;
}

static void abandon_one(struct arm_call *call, void *payload)
{
    struct ap_lists *l = lists_of(payload, call);
    if (l) { /* a background list's: its handle is finished with the error */
        call->rc = call->rc ? call->rc : AMLSEC_ERROR;
        l->left--;
        return;
    }
    stream_free((struct ap_stream *)(void *)call);
}

static void ap_write_abandon(struct provider *p)
{
    struct arm_provider *ap = (struct arm_provider *)p;
    arm_client_abandon(ap->o.client, abandon_one, ap);
    while (ap->refused) {
        struct ap_stream *s = ap->refused;
        ap->refused = s->next;
        provider_result_release(&s->refused);
        stream_free(s);
    }
    while (ap->deferred) {
        struct ap_stream *s = ap->deferred;
        ap->deferred = s->next;
        stream_free(s);
    }
}

/* Appends every item of a paged ARM list to items; on failure, ARM's error
 * code lands in code (when given). */
static int list_arm(struct arm_provider *ap, const char *url, const char *api_version,
                    json_t *items, char *code, size_t code_size, struct errbuf *err)
{
    char *next = NULL;
    const char *cur = url;
    const char *ver = api_version;
    int rc = 0;
    unsigned pages = 0;

    while (cur) {
        struct arm_call c = {0};
        json_t *root, *value, *v;
        const char *nl;
        size_t i;
        c.method = "GET";
        c.url = cur;
        c.api_version = ver;
        rc = arm_client_call(ap->o.client, &c);
        if (rc < 0) {
            errbuf_set(err, rc, "%s", c.err.msg);
            if (code)
                snprintf(code, code_size, "%s", c.error.code);
            arm_call_release(&c);
            break;
        }
        root = jsonw_loadb(c.response ? c.response : "", c.response_len, 0, NULL);
        arm_call_release(&c);
        value = json_object_get(root, "value");
        if (!json_is_array(value)) {
            json_decref(root);
            rc = errbuf_set(err, AMLSEC_EPARSE, "list '%s': answer without a 'value' array", url);
            break;
        }
        json_array_foreach(value, i, v) json_array_append(items, v);
        nl = json_string_value(json_object_get(root, "nextLink"));
        free(next);
        next = nl && *nl ? strdup(nl) : NULL;
        json_decref(root);
        cur = next;
        ver = NULL; /* nextLink carries its query */
        if (++pages > 10000) {
            rc = errbuf_set(err, AMLSEC_ERROR, "list '%s': more than 10000 pages", url);
            break;
        }
    }
    free(next);
    return rc;
}

static int ap_list(struct provider *p, const char *scope, const char *type, json_t **out,
                   struct errbuf *err)
{
    struct arm_provider *ap = (struct arm_provider *)p;
    const struct arm_kind_info *k = NULL;
    char sub[64] = "", rg[128] = "";
    const char *s;
    json_t *items = json_array();
    struct buf url;
    int rc;

    *out = NULL;
    if (items == NULL)
        return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    if (strncasecmp(scope, "/subscriptions/", 15) != 0) {
        json_decref(items);
        return errbuf_set(err, AMLSEC_EUSAGE,
                          "list scope '%s' is not a subscription or resource group", scope);
    }
    snprintf(sub, sizeof(sub), "%.*s", (int)strcspn(scope + 15, "/"), scope + 15);
    if ((s = strcasestr(scope, "/resourceGroups/")) != NULL)
        snprintf(rg, sizeof(rg), "%.*s", (int)strcspn(s + 16, "/"), s + 16);
    if (type) {
        struct provider_ref ref = {.id = NULL, .type = type};
        struct provider_result tmp;
        memset(&tmp, 0, sizeof(tmp));
        k = kind_of(ap, &ref, &tmp);
        if (k == NULL) {
            json_decref(items);
            return errbuf_set(err, tmp.rc, "%s", tmp.err.msg);
        }
    }
    if (!ap->o.no_graph && !ap->stats.graph_disabled && (k == NULL || k->in_resource_graph) &&
        strchr(sub, '\'') == NULL && strchr(rg, '\'') == NULL &&
        (type == NULL || strchr(type, '\'') == NULL)) {
        struct graph g;
        struct buf q;
        struct errbuf gerr = ERRBUF_INIT;
        const char *subs[1] = {sub};
        json_t *rows = json_array();
        graph_init(&g, ap->o.client);
        g.subscriptions = subs;
        g.n_subscriptions = 1;
        buf_init(&q, 0);
        buf_adds(&q, k && k->in_resource_graph == KIND_GRAPH_AUTHZ ? GRAPH_TABLE_AUTHZ
                                                                   : GRAPH_TABLE_RESOURCES);
        if (type || rg[0]) {
            buf_adds(&q, " | where ");
            if (type)
                buf_addf(&q, "type =~ '%s'", type);
            if (rg[0])
                buf_addf(&q, "%sresourceGroup =~ '%s'", type ? " and " : "", rg);
        }
        buf_adds(&q, " | project id, name, type, location, tags, identity, sku, kind, properties, "
                     "systemData");
        rc = rows ? graph_query(&g, q.ptr, rows, &gerr) : AMLSEC_ENOMEM;
        ap->stats.graph_queries += g.queries;
        buf_release(&q);
        if (rc == 0) {
            size_t i;
            json_t *row;
            json_array_foreach(rows, i, row) json_array_append(items, normalise_row(row, k));
            json_decref(rows);
            *out = items;
            return 0;
        }
        json_decref(rows);
        ap->stats.graph_failures++;
        log_msg(LOG_WARN, "Resource Graph unavailable, listing through ARM: %s", gerr.msg);
    }
    buf_init(&url, 0);
    if (type)
        rc = buf_addf(&url, "%s/providers/%s", scope, type);
    else
        rc = buf_addf(&url, "%s/resources", scope);
    if (rc < 0) {
        buf_release(&url);
        json_decref(items);
        return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    }
    rc = list_arm(ap, url.ptr, k ? k->api_version : GENERIC_LIST_API_VERSION, items, NULL, 0, err);
    buf_release(&url);
    if (rc < 0) {
        json_decref(items);
        return rc;
    }
    *out = items;
    return 0;
}

static int ap_list_url(struct provider *p, const char *path, const char *api_version, json_t **out,
                       struct errbuf *err)
{
    json_t *items = json_array();
    int rc;
    *out = NULL;
    if (items == NULL)
        return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    if ((rc = list_arm((struct arm_provider *)p, path, api_version, items, NULL, 0, err)) < 0) {
        json_decref(items);
        return rc;
    }
    *out = items;
    return 0;
}

/* The items of a list's first page (and of its further pages, one by one)
 * into *out, or NULL with err saying why. Releases the call. */
static void take_list(struct arm_provider *ap, struct arm_call *c, const char *path, json_t **out,
                      struct errbuf *err)
{
    json_t *root, *value, *items;
    const char *nl;
    *out = NULL;
    if (c->rc < 0) {
        errbuf_set(err, c->rc, "%s", c->err.msg);
        arm_call_release(c);
        return;
    }
    root = jsonw_loadb(c->response ? c->response : "", c->response_len, 0, NULL);
    arm_call_release(c);
    value = json_object_get(root, "value");
    if (!json_is_array(value)) {
        errbuf_set(err, AMLSEC_EPARSE, "list '%s': answer without a 'value' array", path);
        json_decref(root);
        return;
    }
    items = json_deep_copy(value);
    nl = json_string_value(json_object_get(root, "nextLink"));
    if (items && nl && *nl && list_arm(ap, nl, NULL, items, NULL, 0, err) < 0) {
        json_decref(items);
        items = NULL;
    }
    json_decref(root);
    *out = items;
}

/* The first pages of n lists at once; the rare further pages follow
 * their nextLink one by one. */
static int ap_list_urls(struct provider *p, const char *const *paths,
                        const char *const *api_versions, size_t n, json_t **out,
                        struct errbuf *errs)
{
    struct arm_provider *ap = (struct arm_provider *)p;
    struct arm_call *calls = calloc(n ? n : 1, sizeof(*calls));
    struct errbuf err = ERRBUF_INIT;
    int rc;

    for (size_t i = 0; i < n; i++)
        out[i] = NULL;
    if (calls == NULL)
        return errbuf_set(&errs[0], AMLSEC_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        calls[i].method = "GET";
        calls[i].url = paths[i];
        calls[i].api_version = api_versions[i];
    }
    rc = arm_client_run(ap->o.client, calls, n, &err);
    for (size_t i = 0; i < n; i++)
        take_list(ap, &calls[i], paths[i], &out[i], &errs[i]);
    free(calls);
    return rc;
}

static int ap_lists_start(struct provider *p, struct provider_lists *pl, struct errbuf *err)
{
    struct arm_provider *ap = (struct arm_provider *)p;
    struct ap_lists *l = calloc(1, sizeof(*l));
    if (l == NULL || (l->calls = calloc(pl->n, sizeof(*l->calls))) == NULL) {
        free(l);
        return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    }
    l->n = pl->n;
    for (size_t i = 0; i < pl->n; i++) {
        struct arm_call *c = &l->calls[i];
        c->method = "GET";
        c->url = pl->paths[i];
        c->api_version = pl->api_versions[i];
        c->flags = ARM_CALL_BACKGROUND;
        if (arm_client_submit(ap->o.client, c) == 0)
            l->left++;
        /* not queued (out of memory): its rc says so at the finish */
    }
    l->next = ap->lists;
    ap->lists = l;
    pl->impl = l;
    return 0;
}

static int ap_lists_finish(struct provider *p, struct provider_lists *pl, json_t **out,
                           struct errbuf *errs)
{
    struct arm_provider *ap = (struct arm_provider *)p;
    struct ap_lists *l = pl->impl, **at;
    int rc = 0;

    /* the client hands back the calls of every background handle in the
     * order they finish: each is its handle's */
    while (l->left > 0) {
        struct arm_call *done = NULL;
        struct ap_lists *owner;
        struct errbuf nerr = ERRBUF_INIT;
        if (arm_client_next(ap->o.client, -1, &done, &nerr) < 0 && rc == 0)
            rc = nerr.code ? nerr.code : AMLSEC_ERROR;
        if (done == NULL) {
            if (arm_client_active(ap->o.client) == 0)
                BUG("arm_provider: %zu background lists without an outcome", l->left);
            continue;
        }
        if ((owner = lists_of(ap, done)) == NULL)
            BUG("arm_provider: a call other than a background list's handed back");
        owner->left--;
    }
    for (at = &ap->lists; *at; at = &(*at)->next)
        if (*at == l) {
            *at = l->next;
            break;
        }
    for (size_t i = 0; i < l->n; i++) {
        if (out && errs) {
            take_list(ap, &l->calls[i], pl->paths[i], &out[i], &errs[i]);
        } else {
            arm_call_release(&l->calls[i]);
        }
    }
    free(l->calls);
    free(l);
    pl->impl = NULL;
    return rc;
}

static int ap_query(struct provider *p, const char *subscription, const char *query, json_t **out,
                    struct errbuf *err)
{
    struct arm_provider *ap = (struct arm_provider *)p;
    const char *subs[1] = {subscription};
    struct graph g;
    json_t *rows;
    int rc;
    *out = NULL;
    if (ap->o.no_graph || ap->stats.graph_disabled)
        return errbuf_set(err, AMLSEC_EUSAGE, "Resource Graph is not in use");
    if ((rows = json_array()) == NULL)
        return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    graph_init(&g, ap->o.client);
    g.subscriptions = subs;
    g.n_subscriptions = subscription != NULL;
    rc = graph_query(&g, query, rows, err);
    ap->stats.graph_queries += g.queries;
    if (rc < 0) {
        ap->stats.graph_failures++;
        json_decref(rows);
        return rc;
    }
    *out = rows;
    return 0;
}

static void ap_free(struct provider *p)
{
    ap_write_abandon(p);
    free(p);
}

/* Rows come back as Resource Graph shapes them (type lowercased, its
 * extra columns): callers of a free-form query read them as such. */
static int ap_graph_query(struct provider *p, const char *const *queries, size_t n,
                          const char *const *subscriptions, size_t nsubscriptions, json_t **rows,
                          struct errbuf *err)
{
    struct arm_provider *ap = (struct arm_provider *)p;
    struct graph g;
    int rc;
    for (size_t i = 0; i < n; i++)
        if ((rows[i] = json_array()) == NULL) {
            for (size_t k = 0; k < i; k++) {
                json_decref(rows[k]);
                rows[k] = NULL;
            }
            return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
        }
    graph_init(&g, ap->o.client);
    g.subscriptions = subscriptions;
    g.n_subscriptions = nsubscriptions;
    rc = graph_query_many(&g, queries, n, rows, err);
    ap->stats.graph_queries += g.queries;
    if (rc < 0)
        for (size_t i = 0; i < n; i++) {
            json_decref(rows[i]);
            rows[i] = NULL;
        }
    return rc;
}

static const struct provider_ops arm_provider_ops = {
    ap_read_many, ap_write_many,  ap_write_start,  ap_write_next,  ap_write_abandon,
    ap_list,      ap_list_url,    ap_free,         ap_graph_query, ap_list_urls,
    ap_query,     ap_lists_start, ap_lists_finish,
};

int arm_provider_new(struct provider **out, const struct arm_provider_opts *opts,
                     struct errbuf *err)
{
    struct arm_provider *ap;
    *out = NULL;
    if (opts == NULL || opts->client == NULL || opts->lookup == NULL)
        return errbuf_set(err, AMLSEC_EUSAGE, "the ARM provider needs a client and a kind lookup");
    ap = calloc(1, sizeof(*ap));
    if (ap == NULL)
        return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    ap->base.ops = &arm_provider_ops;
    ap->o = *opts;
    *out = &ap->base;
    return 0;
}

void arm_provider_get_stats(const struct provider *p, struct arm_provider_stats *out)
{
    const struct arm_provider *ap = (const struct arm_provider *)p;
    if (p->ops != &arm_provider_ops)
        BUG("arm_provider_get_stats on another provider");
    *out = ap->stats;
}
