#include "providers/provider.h"
#include "util/error.h"
#include "util/strmap.h"

#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

void provider_result_release(struct provider_result *r)
{
    json_decref(r->body);
    memset(r, 0, sizeof(*r));
}

void provider_results_release(struct provider_result *r, size_t n)
{
    for (size_t i = 0; i < n; i++)
        provider_result_release(&r[i]);
}

int provider_read_many(struct provider *p, const struct provider_ref *refs, size_t n,
                       unsigned flags, struct provider_result *out, struct errbuf *err)
{
    return p->ops->read_many(p, refs, n, flags, out, err);
}

int provider_reread(struct provider *p, const struct provider_ref *ref, struct provider_result *out)
{
    struct errbuf err = ERRBUF_INIT;
    int rc = p->ops->read_many(p, ref, 1, PROVIDER_READ_FRESH, out, &err);
    return rc < 0 ? rc : out->rc;
}

int provider_write_many(struct provider *p, const struct provider_write *writes, size_t n,
                        struct provider_result *out, struct errbuf *err)
{
    return p->ops->write_many(p, writes, n, out, err);
}

int provider_write_start(struct provider *p, const struct provider_write *w, void *tag,
                         struct errbuf *err)
{
    return p->ops->write_start(p, w, tag, err);
}

int provider_write_next(struct provider *p, int64_t timeout_ms, void **tag,
                        struct provider_result *out, struct errbuf *err)
{
    return p->ops->write_next(p, timeout_ms, tag, out, err);
}

void provider_write_abandon(struct provider *p)
{
    p->ops->write_abandon(p);
}

static int write_one(struct provider *p, enum provider_verb verb, const struct provider_ref *ref,
                     const json_t *body, struct provider_result *out)
{
    struct provider_write w = {verb, *ref, body, 0, NULL, NULL, NULL};
    struct errbuf err = ERRBUF_INIT;
    int rc = p->ops->write_many(p, &w, 1, out, &err);
    return rc < 0 ? rc : out->rc;
}

int provider_create(struct provider *p, const struct provider_ref *ref, const json_t *body,
                    struct provider_result *out)
{
    return write_one(p, PROVIDER_CREATE, ref, body, out);
}

int provider_update(struct provider *p, const struct provider_ref *ref, const json_t *patch,
                    struct provider_result *out)
{
    return write_one(p, PROVIDER_UPDATE, ref, patch, out);
}

int provider_delete(struct provider *p, const struct provider_ref *ref, struct provider_result *out)
{
    return write_one(p, PROVIDER_DELETE, ref, NULL, out);
}

int provider_list(struct provider *p, const char *scope, const char *type, json_t **out,
                  struct errbuf *err)
{
    return p->ops->list(p, scope, type, out, err);
}

int provider_list_url(struct provider *p, const char *path, const char *api_version, json_t **out,
                      struct errbuf *err)
{
    return p->ops->list_url(p, path, api_version, out, err);
}

int provider_query(struct provider *p, const char *subscription, const char *query, json_t **out,
                   struct errbuf *err)
{
    *out = NULL;
    if (p->ops->query == NULL)
        return errbuf_set(err, AMLSEC_EUSAGE, "this provider runs no Resource Graph queries");
    return p->ops->query(p, subscription, query, out, err);
}

void provider_free(struct provider *p)
{
    if (p)
        p->ops->free(p);
}

int provider_list_urls(struct provider *p, const char *const *paths,
                       const char *const *api_versions, size_t n, json_t **out, struct errbuf *errs)
{
    if (p->ops->list_urls)
        return p->ops->list_urls(p, paths, api_versions, n, out, errs);
    for (size_t i = 0; i < n; i++)
        if (p->ops->list_url(p, paths[i], api_versions[i], &out[i], &errs[i]) < 0)
            out[i] = NULL;
    return 0;
}

int provider_lists_start(struct provider *p, const char *const *paths,
                         const char *const *api_versions, size_t n, struct provider_lists **out,
                         struct errbuf *err)
{
    struct provider_lists *l = calloc(1, sizeof(*l));
    int rc;
    *out = NULL;
    if (l == NULL)
        return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    l->paths = paths;
    l->api_versions = api_versions;
    l->n = n;
    if (n > 0 && p->ops->lists_start && (rc = p->ops->lists_start(p, l, err)) < 0) {
        free(l);
        return rc;
    }
    *out = l;
    return 0;
}

int provider_lists_finish(struct provider *p, struct provider_lists *l, json_t **out,
                          struct errbuf *errs)
{
    json_t **o = out;
    struct errbuf *e = errs;
    int rc = 0;
    if (l == NULL)
        return 0;
    if (l->n > 0 && (o == NULL || e == NULL)) {
        o = calloc(l->n, sizeof(*o));
        e = calloc(l->n, sizeof(*e));
    }
    if (l->n > 0 && (o == NULL || e == NULL)) {
        rc = AMLSEC_ENOMEM; /* still waited for: the handle's calls are borrowed */
        o = NULL;
    }
    if (l->impl && p->ops->lists_finish)
        rc = p->ops->lists_finish(p, l, o, e);
    else if (l->n > 0 && o)
        rc = provider_list_urls(p, l->paths, l->api_versions, l->n, o, e);
    if (o != out) {
        for (size_t i = 0; o && i < l->n; i++)
            json_decref(o[i]);
        free(o);
    }
    if (e != errs)
        free(e);
    free(l);
    return rc;
}

int provider_graph_query(struct provider *p, const char *const *queries, size_t n,
                         const char *const *subscriptions, size_t nsubscriptions, json_t **rows,
                         struct errbuf *err)
{
    for (size_t i = 0; i < n; i++)
        rows[i] = NULL;
    if (p->ops->graph_query == NULL)
        return errbuf_set(err, AMLSEC_EUSAGE, "this provider has no Resource Graph");
    return p->ops->graph_query(p, queries, n, subscriptions, nsubscriptions, rows, err);
}

/* --- the read-only view ---------------------------------------------------- */

/* What the view was told a run reads again, by ARM id: a read-only run
 * reads each resource once (drift's discovery reads the workspaces before
 * the refresh and the vaults after it, and its Resource Graph rows are the
 * refresh of what they cover). */
struct kept {
    json_t *body;   /* the next read's answer (owned), or NULL */
    int from_graph; /* body came from Resource Graph */
    int wanted;     /* reads of the id still to come: keep what a read returns */
};

struct readonly {
    struct provider base;
    struct provider *inner;
    unsigned refused;
    struct kept *kept;
    size_t nkept, capkept;
    struct strmap kept_index; /* ARM id (any case) -> its position in kept */
    size_t kept_hits;
};

static struct readonly *ro_of(struct provider *p)
{
    return (struct readonly *)p;
}

/* The entry of id, made when missing; NULL when out of memory. */
static struct kept *ro_entry(struct readonly *ro, const char *id)
{
    size_t at;
    if (strmap_get(&ro->kept_index, id, &at))
        return &ro->kept[at];
    if (ro->nkept == ro->capkept) {
        size_t cap = ro->capkept ? ro->capkept * 2 : 64;
        struct kept *grown = realloc(ro->kept, cap * sizeof(*grown));
        if (grown == NULL)
            return NULL;
        ro->kept = grown;
        ro->capkept = cap;
    }
    if (strmap_put(&ro->kept_index, id, ro->nkept) < 0)
        return NULL;
    ro->kept[ro->nkept] = (struct kept){NULL, 0, 0};
    return &ro->kept[ro->nkept++];
}

/* Keeps body (a reference) as the next read's answer for id: bodies are
 * read, never changed in place, so the reader and the view share it. */
static int ro_keep(struct readonly *ro, const char *id, json_t *body, int from_graph)
{
    struct kept *k = ro_entry(ro, id);
    if (k == NULL)
        return AMLSEC_ENOMEM;
    json_decref(k->body);
    k->body = json_incref(body);
    k->from_graph = from_graph;
    return 0;
}

static int ro_refuse(struct readonly *ro, struct errbuf *err)
{
    ro->refused++;
    return errbuf_set(err, AMLSEC_EUSAGE, "a read-only run sends no create, update or delete");
}

/* Answers a read of what the view keeps with it (once), reads the rest,
 * and keeps what it was told a later read wants (a fresh read always goes
 * through). */
static int ro_read_many(struct provider *p, const struct provider_ref *refs, size_t n,
                        unsigned flags, struct provider_result *out, struct errbuf *err)
{
    struct readonly *ro = ro_of(p);
    struct provider_ref *miss;
    struct provider_result *got;
    size_t *pos, nmiss = 0;
    int rc;

    if (flags & PROVIDER_READ_FRESH)
        return provider_read_many(ro->inner, refs, n, flags, out, err);
    miss = calloc(n ? n : 1, sizeof(*miss));
    got = calloc(n ? n : 1, sizeof(*got));
    pos = calloc(n ? n : 1, sizeof(*pos));
    if (miss == NULL || got == NULL || pos == NULL) {
        free(miss);
        free(got);
        free(pos);
        return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        size_t at;
        memset(&out[i], 0, sizeof(out[i]));
        if (refs[i].id && strmap_get(&ro->kept_index, refs[i].id, &at) && ro->kept[at].body) {
            /* shared while a later read wants it too, else handed over */
            out[i].body =
                ro->kept[at].wanted > 1 ? json_incref(ro->kept[at].body) : ro->kept[at].body;
            if (ro->kept[at].wanted > 1) {
                ro->kept[at].wanted--;
            } else {
                ro->kept[at].body = NULL;
                ro->kept[at].wanted = 0;
            }
            out[i].status = 200;
            out[i].from_graph = ro->kept[at].from_graph;
            ro->kept_hits++;
            continue;
        }
        miss[nmiss] = refs[i];
        pos[nmiss++] = i;
    }
    rc = nmiss ? provider_read_many(ro->inner, miss, nmiss, flags, got, err) : 0;
    for (size_t j = 0; j < nmiss; j++) {
        size_t at;
        out[pos[j]] = got[j];
        if (got[j].rc == 0 && got[j].body && miss[j].id &&
            strmap_get(&ro->kept_index, miss[j].id, &at) && ro->kept[at].wanted &&
            ro_keep(ro, miss[j].id, got[j].body, got[j].from_graph) < 0 && rc == 0)
            rc = errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    }
    free(miss);
    free(got);
    free(pos);
    return rc;
}

static int ro_write_many(struct provider *p, const struct provider_write *writes, size_t n,
                         struct provider_result *out, struct errbuf *err)
{
    (void)writes;
    for (size_t i = 0; i < n; i++) {
        memset(&out[i], 0, sizeof(out[i]));
        out[i].rc = ro_refuse(ro_of(p), &out[i].err);
    }
    return errbuf_set(err, AMLSEC_EUSAGE, "a read-only run sends no create, update or delete");
}

static int ro_write_start(struct provider *p, const struct provider_write *w, void *tag,
                          struct errbuf *err)
{
    (void)w;
    (void)tag;
    return ro_refuse(ro_of(p), err);
}

static int ro_write_next(struct provider *p, int64_t timeout_ms, void **tag,
                         struct provider_result *out, struct errbuf *err)
{
    (void)p;
    (void)timeout_ms;
    (void)out;
    (void)err;
    *tag = NULL; /* nothing was started */
    return 0;
}

static void ro_write_abandon(struct provider *p)
{
    (void)p;
}

static int ro_list(struct provider *p, const char *scope, const char *type, json_t **out,
                   struct errbuf *err)
{
    return provider_list(ro_of(p)->inner, scope, type, out, err);
}

static int ro_list_url(struct provider *p, const char *path, const char *api_version, json_t **out,
                       struct errbuf *err)
{
    return provider_list_url(ro_of(p)->inner, path, api_version, out, err);
}

static int ro_graph_query(struct provider *p, const char *const *queries, size_t n,
                          const char *const *subscriptions, size_t nsubscriptions, json_t **rows,
                          struct errbuf *err)
{
    return provider_graph_query(ro_of(p)->inner, queries, n, subscriptions, nsubscriptions, rows,
                                err);
}

static int ro_list_urls(struct provider *p, const char *const *paths,
                        const char *const *api_versions, size_t n, json_t **out,
                        struct errbuf *errs)
{
    return provider_list_urls(ro_of(p)->inner, paths, api_versions, n, out, errs);
}

static int ro_query(struct provider *p, const char *subscription, const char *query, json_t **out,
                    struct errbuf *err)
{
    return provider_query(ro_of(p)->inner, subscription, query, out, err);
}

static int ro_lists_start(struct provider *p, struct provider_lists *l, struct errbuf *err)
{
    struct provider *inner = ro_of(p)->inner;
    return inner->ops->lists_start ? inner->ops->lists_start(inner, l, err) : 0;
}

static int ro_lists_finish(struct provider *p, struct provider_lists *l, json_t **out,
                           struct errbuf *errs)
{
    struct provider *inner = ro_of(p)->inner;
    return inner->ops->lists_finish(inner, l, out, errs); /* l->impl: inner started it */
}

static void ro_free(struct provider *p)
{
    struct readonly *ro = ro_of(p);
    for (size_t i = 0; i < ro->nkept; i++)
        json_decref(ro->kept[i].body);
    free(ro->kept);
    strmap_release(&ro->kept_index);
    free(p);
}

static const struct provider_ops readonly_ops = {
    ro_read_many, ro_write_many,  ro_write_start,  ro_write_next,  ro_write_abandon,
    ro_list,      ro_list_url,    ro_free,         ro_graph_query, ro_list_urls,
    ro_query,     ro_lists_start, ro_lists_finish,
};

struct provider *provider_readonly(struct provider *inner)
{
    struct readonly *ro = calloc(1, sizeof(*ro));
    if (ro == NULL)
        return NULL;
    ro->base.ops = &readonly_ops;
    ro->inner = inner;
    strmap_init(&ro->kept_index, true);
    return &ro->base;
}

unsigned provider_readonly_refused(const struct provider *view)
{
    return view->ops == &readonly_ops ? ((const struct readonly *)view)->refused : 0;
}

int provider_readonly_keep(struct provider *view, const char *id, json_t *body)
{
    if (view->ops != &readonly_ops || id == NULL || body == NULL)
        return 0;
    return ro_keep(ro_of(view), id, body, 1);
}

int provider_readonly_keep_listed(struct provider *view, const char *id, json_t *body)
{
    if (view->ops != &readonly_ops || id == NULL || body == NULL)
        return 0;
    return ro_keep(ro_of(view), id, body, 0);
}

int provider_readonly_expect(struct provider *view, const char *id)
{
    struct kept *k;
    if (view->ops != &readonly_ops || id == NULL)
        return 0;
    if ((k = ro_entry(ro_of(view), id)) == NULL)
        return AMLSEC_ENOMEM;
    k->wanted++;
    return 0;
}

size_t provider_readonly_hits(const struct provider *view)
{
    return view->ops == &readonly_ops ? ((const struct readonly *)view)->kept_hits : 0;
}
