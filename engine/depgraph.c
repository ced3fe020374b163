/* Dependency graph, topological order, cycles, DOT (see graph.h). */
#include "engine/depgraph.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "parser/value.h"
#include "providers/arm/schema.h"
#include "util/error.h"
#include "util/banned.h"

static const char *node_id(const struct depgraph_node *n)
{
    const json_t *v = n->inst->value;
    const json_t *id = json_is_object(v) ? json_object_get(v, "id") : NULL;
    return json_is_string(id) ? json_string_value(id) : NULL;
}

static int add_edge(struct depgraph *g, size_t from, size_t to, enum depgraph_edge_why why)
{
    struct depgraph_node *n = &g->nodes[from];
    if (from == to)
        return 0;
    g->edge_checks++;
    if (g->newest_from[to] == from + 1)
        return 0;
    g->newest_from[to] = from + 1;
    if (n->ndeps == n->cap) {
        size_t cap = n->cap ? n->cap * 2 : 4;
        struct depgraph_edge *p = realloc(n->deps, cap * sizeof(*p));
        if (p == NULL)
            return AMLSEC_ENOMEM;
        n->deps = p;
        n->cap = cap;
    }
    n->deps[n->ndeps].to = to;
    n->deps[n->ndeps].why = why;
    n->ndeps++;
    return 0;
}

static int cmp_ident(const void *a, const void *b)
{
    const struct depgraph_ident *x = a, *y = b;
    int r = strcasecmp(x->id, y->id);
    return r ? r : (x->idx < y->idx ? -1 : x->idx > y->idx);
}

long depgraph_find_id(const struct depgraph *g, const char *id)
{
    size_t lo = 0, hi = g->nids;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int r = strcasecmp(g->ids[mid].id, id);
        if (r == 0) {
            while (mid > 0 && strcasecmp(g->ids[mid - 1].id, id) == 0)
                mid--;
            return (long)g->ids[mid].idx;
        }
        if (r < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* Edges for ARM id strings (and reference objects) found anywhere in v. */
static int scan_ids(struct depgraph *g, size_t from, const json_t *v, int depth)
{
    int rc = 0;
    if (v == NULL || depth > 8 || value_is_unknown(v))
        return 0;
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        long to;
        if ((strncasecmp(s, "/subscriptions/", 15) == 0) && (to = depgraph_find_id(g, s)) >= 0)
            return add_edge(g, from, (size_t)to, EDGE_ID);
        return 0;
    }
    if (json_is_array(v)) {
        size_t i;
        const json_t *x;
        json_array_foreach(v, i, x) if ((rc = scan_ids(g, from, x, depth + 1)) < 0) return rc;
        return 0;
    }
    if (json_is_object(v)) {
        const json_t *id = json_object_get(v, "id");
        const char *k;
        json_t *x;
        if (json_is_string(id) && json_object_get(v, "resource_type"))
            /* a reference: its id is enough, don't walk into its attributes */
            return scan_ids(g, from, id, depth + 1);
        json_object_foreach((json_t *)v, k,
                            x) if ((rc = scan_ids(g, from, x, depth + 1)) < 0) return rc;
    }
    return 0;
}

/* Catalogue-implied edges: what ARM needs to exist first even when the
 * configuration names it only indirectly. */
static int implied(struct depgraph *g, size_t from)
{
    const struct cfg_instance *inst = g->nodes[from].inst;
    const char *kind = inst->resource->kind;
    int rc = 0;
    if (strcmp(kind, "workspace") == 0) {
        /* A CMK workspace comes after its key's vault (the key is a reference). */
        const json_t *key = schema_json_get(inst->attrs, "encryption.key");
        const json_t *vid = json_is_object(key) ? json_object_get(key, "vault_id") : NULL;
        long to;
        if (json_is_string(vid) && (to = depgraph_find_id(g, json_string_value(vid))) >= 0)
            rc = add_edge(g, from, (size_t)to, EDGE_IMPLIED);
    } else if (strcmp(kind, "private_endpoint") == 0) {
        /* Private endpoints after the subnet's VNet lookup and the target's group. */
        const json_t *t = schema_json_get(inst->attrs, "target");
        const json_t *tid = schema_ref_id(t);
        long to;
        if (json_is_string(tid) && (to = depgraph_find_id(g, json_string_value(tid))) >= 0)
            rc = add_edge(g, from, (size_t)to, EDGE_IMPLIED);
    }
    return rc;
}

int depgraph_build(struct depgraph **out, const struct config *cfg, struct errbuf *err)
{
    struct depgraph *g = calloc(1, sizeof(*g));
    size_t total = 0, k = 0, *first = NULL;
    int rc = AMLSEC_ENOMEM;
    *out = NULL;
    if (g == NULL)
        return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    for (size_t i = 0; i < cfg->nresources; i++)
        total += cfg->resources[i].ninstances;
    g->nodes = calloc(total ? total : 1, sizeof(*g->nodes));
    g->order = calloc(total ? total : 1, sizeof(*g->order));
    g->newest_from = calloc(total ? total : 1, sizeof(*g->newest_from));
    if (g->nodes == NULL || g->order == NULL || g->newest_from == NULL)
        goto fail;
    for (size_t i = 0; i < cfg->nresources; i++)
        for (size_t j = 0; j < cfg->resources[i].ninstances; j++)
            g->nodes[k++].inst = &cfg->resources[i].instances[j];
    g->n = k;
    g->ids = calloc(k ? k : 1, sizeof(*g->ids));
    first = calloc(cfg->nresources ? cfg->nresources : 1, sizeof(*first));
    if (g->ids == NULL || first == NULL)
        goto fail;
    for (size_t i = 0; i < g->n; i++) {
        const char *id = node_id(&g->nodes[i]);
        if (id) {
            g->ids[g->nids].id = id;
            g->ids[g->nids].idx = i;
            g->nids++;
        }
    }
    qsort(g->ids, g->nids, sizeof(*g->ids), cmp_ident);
    /* a resource's instances are consecutive nodes */
    for (size_t i = 0, n = 0; i < cfg->nresources; i++) {
        first[i] = n;
        n += cfg->resources[i].ninstances;
    }
    for (size_t i = 0; i < g->n; i++) {
        const struct cfg_resource *r = g->nodes[i].inst->resource;
        for (size_t d = 0; d < r->ndeps; d++) {
            size_t ri = (size_t)(r->deps[d] - cfg->resources);
            if (ri >= cfg->nresources)
                continue;
            for (size_t j = 0; j < cfg->resources[ri].ninstances; j++)
                if ((rc = add_edge(g, i, first[ri] + j, EDGE_REFERENCE)) < 0)
                    goto fail;
        }
        if ((rc = scan_ids(g, i, g->nodes[i].inst->attrs, 0)) < 0 || (rc = implied(g, i)) < 0)
            goto fail;
    }
    free(first);
    free(g->newest_from);
    g->newest_from = NULL;
    *out = g;
    return 0;
fail:
    free(first);
    depgraph_free(g);
    return errbuf_set(err, rc, "out of memory");
}

void depgraph_free(struct depgraph *g)
{
    if (g == NULL)
        return;
    for (size_t i = 0; i < g->n; i++)
        free(g->nodes[i].deps);
    free(g->nodes);
    free(g->order);
    free(g->ids);
    free(g->newest_from);
    free(g);
}

long depgraph_find(const struct depgraph *g, const char *address)
{
    for (size_t i = 0; i < g->n; i++)
        if (strcmp(g->nodes[i].inst->address, address) == 0)
            return (long)i;
    return -1;
}

/* Finds a cycle among the nodes not yet ordered and describes it in err. */
static int report_cycle(const struct depgraph *g, const unsigned char *done, struct errbuf *err)
{
    size_t *path = calloc(g->n + 1, sizeof(*path));
    unsigned char *on = calloc(g->n ? g->n : 1, 1);
    size_t len = 0, start = 0, cur = 0;
    struct buf b;
    int rc;
    if (path == NULL || on == NULL) {
        free(path);
        free(on);
        return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < g->n; i++)
        if (!done[i]) {
            cur = i;
            break;
        }
    /* Walk dependencies among unordered nodes until a node repeats. */
    for (;;) {
        size_t next = cur;
        path[len++] = cur;
        on[cur] = 1;
        for (size_t e = 0; e < g->nodes[cur].ndeps; e++)
            if (!done[g->nodes[cur].deps[e].to]) {
                next = g->nodes[cur].deps[e].to;
                break;
            }
        if (on[next] || len >= g->n) {
            for (start = 0; start < len && path[start] != next; start++)
                ;
            cur = next;
            break;
        }
        cur = next;
    }
    buf_init(&b, 8192);
    for (size_t i = start; i < len; i++)
        buf_addf(&b, "%s -> ", g->nodes[path[i]].inst->address);
    buf_adds(&b, g->nodes[cur].inst->address);
    rc = errbuf_set(err, AMLSEC_ECONFLICT, "dependency cycle: %s", b.ptr);
    buf_release(&b);
    free(path);
    free(on);
    return rc;
}

int depgraph_sort(struct depgraph *g, struct errbuf *err)
{
    unsigned char *done = calloc(g->n ? g->n : 1, 1);
    bool progress = true;
    int rc = 0;
    if (done == NULL)
        return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    g->norder = 0;
    /* Repeated passes in configuration order keep the result stable. */
    while (g->norder < g->n && progress) {
        progress = false;
        for (size_t i = 0; i < g->n; i++) {
            bool ready = !done[i];
            for (size_t e = 0; ready && e < g->nodes[i].ndeps; e++)
                ready = done[g->nodes[i].deps[e].to];
            if (ready) {
                done[i] = 1;
                g->order[g->norder++] = i;
                progress = true;
            }
        }
    }
    if (g->norder < g->n)
        rc = report_cycle(g, done, err);
    free(done);
    return rc;
}

static void dot_quote(struct buf *out, const char *s)
{
    buf_addch(out, '"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            buf_addch(out, '\\');
        buf_addch(out, *s);
    }
    buf_addch(out, '"');
}

int depgraph_dot(const struct depgraph *g, struct buf *out)
{
    buf_adds(out, "digraph amlsec {\n  rankdir=LR;\n  node [shape=box];\n");
    for (size_t i = 0; i < g->n; i++) {
        buf_adds(out, "  ");
        dot_quote(out, g->nodes[i].inst->address);
        if (g->nodes[i].inst->resource->existing)
            buf_adds(out, " [style=dashed]");
        buf_adds(out, ";\n");
    }
    for (size_t i = 0; i < g->n; i++)
        for (size_t e = 0; e < g->nodes[i].ndeps; e++) {
            buf_adds(out, "  ");
            dot_quote(out, g->nodes[i].inst->address);
            buf_adds(out, " -> ");
            dot_quote(out, g->nodes[g->nodes[i].deps[e].to].inst->address);
            buf_adds(out, g->nodes[i].deps[e].why == EDGE_IMPLIED ? " [style=dotted];\n" : ";\n");
        }
    return buf_adds(out, "}\n");
}
