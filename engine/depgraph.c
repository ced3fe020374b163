/* Dependency graph, topological order, cycles, DOT (see graph.h). */
#include "engine/depgraph.h"

#include <stdint.h>
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

struct mod_ptr {
    const struct cfg_module *m;
    size_t idx;
};

/* What one node read, for its reference edges (config.h's cfg_read): the
 * arrays are indexed by resource, call, module instance and node, and an
 * entry is set for the node being built when it equals stamp (so nothing
 * is cleared between nodes). */
struct narrowing {
    const struct config *cfg;
    size_t stamp;
    size_t *res_pick, *res_all;    /* by resource: one instance read / every one */
    size_t *call_pick, *call_all;  /* by call */
    size_t *mod_picked, *own;      /* by module instance: read / the node's own module */
    size_t *node_picked;           /* by node */
    size_t *res_mod;               /* by resource: its module's index, or NONE (the root) */
    size_t *mod_parent, *mod_call; /* by module instance */
    struct mod_ptr *mods;          /* the module instances by address, for mod_index */
};

#define NONE ((size_t)-1)

static int cmp_mod_ptr(const void *a, const void *b)
{
    const struct mod_ptr *x = a, *y = b;
    return (uintptr_t)x->m < (uintptr_t)y->m ? -1 : (uintptr_t)x->m > (uintptr_t)y->m;
}

static size_t mod_index(const struct narrowing *nw, const struct cfg_module *m)
{
    size_t lo = 0, hi = nw->cfg->nmodules;
    while (m && lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (nw->mods[mid].m == m)
            return nw->mods[mid].idx;
        if ((uintptr_t)nw->mods[mid].m < (uintptr_t)m)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NONE;
}

static void narrowing_free(struct narrowing *nw)
{
    free(nw->res_pick);
    free(nw->res_all);
    free(nw->call_pick);
    free(nw->call_all);
    free(nw->mod_picked);
    free(nw->own);
    free(nw->node_picked);
    free(nw->res_mod);
    free(nw->mod_parent);
    free(nw->mod_call);
    free(nw->mods);
}

static int narrowing_init(struct narrowing *nw, const struct config *cfg, size_t nodes)
{
    size_t nr = cfg->nresources + 1, nc = cfg->ncalls + 1, nm = cfg->nmodules + 1;
    memset(nw, 0, sizeof(*nw));
    nw->cfg = cfg;
    nw->res_pick = calloc(nr, sizeof(size_t));
    nw->res_all = calloc(nr, sizeof(size_t));
    nw->call_pick = calloc(nc, sizeof(size_t));
    nw->call_all = calloc(nc, sizeof(size_t));
    nw->mod_picked = calloc(nm, sizeof(size_t));
    nw->own = calloc(nm, sizeof(size_t));
    nw->node_picked = calloc(nodes + 1, sizeof(size_t));
    nw->res_mod = calloc(nr, sizeof(size_t));
    nw->mod_parent = calloc(nm, sizeof(size_t));
    nw->mod_call = calloc(nm, sizeof(size_t));
    nw->mods = calloc(nm, sizeof(*nw->mods));
    if (!nw->res_pick || !nw->res_all || !nw->call_pick || !nw->call_all || !nw->mod_picked ||
        !nw->own || !nw->node_picked || !nw->res_mod || !nw->mod_parent || !nw->mod_call ||
        !nw->mods)
        return AMLSEC_ENOMEM;
    for (size_t i = 0; i < cfg->nmodules; i++)
        nw->mods[i] = (struct mod_ptr){.m = cfg->modules[i], .idx = i};
    qsort(nw->mods, cfg->nmodules, sizeof(*nw->mods), cmp_mod_ptr);
    for (size_t i = 0; i < cfg->nmodules; i++) {
        nw->mod_parent[i] = mod_index(nw, cfg->modules[i]->parent);
        nw->mod_call[i] = NONE;
    }
    for (size_t c = 0; c < cfg->ncalls; c++)
        for (size_t j = cfg->calls[c].first; j < cfg->calls[c].first + cfg->calls[c].n; j++)
            if (j < cfg->nmodules)
                nw->mod_call[j] = c;
    for (size_t i = 0; i < cfg->nresources; i++)
        nw->res_mod[i] = mod_index(nw, cfg->resources[i].module);
    return 0;
}

/* Marks every resource and call a depends_on list names (in scope) as
 * read whole. False when an item names neither: then nothing is narrowed. */
static bool depends_on_all(struct narrowing *nw, const struct ast_block *b,
                           const struct cfg_module *scope)
{
    const struct ast_attr *a = b ? ast_body_attr(&b->body, "depends_on") : NULL;
    if (a == NULL)
        return true;
    if (a->value->kind != EXPR_LIST)
        return false;
    for (const struct ast_expr *x = a->value->u.list.items; x; x = x->next) {
        const struct ast_step *s = x->kind == EXPR_TRAVERSAL ? x->u.trav.steps : NULL;
        const char *root = x->kind == EXPR_TRAVERSAL ? x->u.trav.root : NULL;
        bool existing = root && strcmp(root, "existing") == 0;
        if (s && existing) {
            root = s->name;
            s = s->next;
        }
        if (s == NULL || s->kind != STEP_ATTR)
            return false;
        if (!existing && strcmp(root, "module") == 0) {
            const struct cfg_call *c = config_find_call(nw->cfg, scope, s->name);
            if (c == NULL)
                return false;
            nw->call_all[c - nw->cfg->calls] = nw->stamp;
        } else {
            const struct cfg_resource *r = config_find_in(nw->cfg, scope, existing, root, s->name);
            if (r == NULL)
                return false;
            nw->res_all[r - nw->cfg->resources] = nw->stamp;
        }
    }
    return true;
}

/* Notes what node (stamped by nw->stamp) read; false when its reads
 * cannot narrow its edges (something it refers to was not evaluated). */
static bool note_reads(struct narrowing *nw, const struct cfg_instance *in, const size_t *first)
{
    const struct config *cfg = nw->cfg;
    const struct cfg_resource *r = in->resource;
    for (size_t k = 0; k < in->reads.n; k++) {
        const struct cfg_read *rd = &in->reads.v[k];
        if (rd->resource) {
            size_t ri = (size_t)(rd->resource - cfg->resources);
            if (rd->index == CFG_READ_ALL) {
                nw->res_all[ri] = nw->stamp;
            } else {
                nw->res_pick[ri] = nw->stamp;
                nw->node_picked[first[ri] + rd->index] = nw->stamp;
            }
        } else if (rd->call) {
            size_t c = (size_t)(rd->call - cfg->calls), m = mod_index(nw, rd->module);
            if (rd->module == NULL || m == NONE) {
                nw->call_all[c] = nw->stamp;
            } else {
                nw->call_pick[c] = nw->stamp;
                nw->mod_picked[m] = nw->stamp;
            }
        } else {
            return false;
        }
    }
    if (!depends_on_all(nw, r->block, r->module))
        return false;
    for (const struct cfg_module *p = r->module; p; p = p->parent)
        if (!depends_on_all(nw, p->call, p->parent))
            return false;
    for (size_t m = mod_index(nw, r->module); m != NONE; m = nw->mod_parent[m])
        nw->own[m] = nw->stamp;
    return true;
}

/* Whether a node that read as nw notes reaches resource ri only through
 * instances of module calls it did not read (module.team["a"] read, ri in
 * module.team["b"]). */
static bool unread_module(const struct narrowing *nw, size_t ri)
{
    for (size_t m = nw->res_mod[ri]; m != NONE && nw->own[m] != nw->stamp; m = nw->mod_parent[m]) {
        size_t c = nw->mod_call[m];
        if (c != NONE && nw->call_pick[c] == nw->stamp && nw->call_all[c] != nw->stamp &&
            nw->mod_picked[m] != nw->stamp)
            return true;
    }
    return false;
}

/* Node i's edges for what its resource refers to: to the instances it
 * read when its reads say which (a key known at plan time), else to every
 * instance of each resource referred to. */
static int reference_edges(struct depgraph *g, struct narrowing *nw, size_t i, const size_t *first)
{
    const struct config *cfg = nw->cfg;
    const struct cfg_instance *in = g->nodes[i].inst;
    const struct cfg_resource *r = in->resource;
    size_t self = (size_t)(in - r->instances);
    bool narrow;
    int rc;
    nw->stamp = i + 1;
    narrow = note_reads(nw, in, first);
    for (size_t d = 0; d < r->ndeps; d++) {
        size_t ri = (size_t)(r->deps[d] - cfg->resources);
        const struct cfg_resource *dr = &cfg->resources[ri];
        if (ri >= cfg->nresources)
            continue;
        if (r->implicit && d == 0 && self < dr->ninstances) {
            /* a declared child: its parent's instance of the same position */
            if ((rc = add_edge(g, i, first[ri] + self, EDGE_REFERENCE)) < 0)
                return rc;
            continue;
        }
        if (narrow && unread_module(nw, ri))
            continue;
        for (size_t j = 0; j < dr->ninstances; j++) {
            if (narrow && nw->res_pick[ri] == nw->stamp && nw->res_all[ri] != nw->stamp &&
                nw->node_picked[first[ri] + j] != nw->stamp)
                continue;
            if ((rc = add_edge(g, i, first[ri] + j, EDGE_REFERENCE)) < 0)
                return rc;
        }
    }
    return 0;
}

int depgraph_build(struct depgraph **out, const struct config *cfg, struct errbuf *err)
{
    struct depgraph *g = calloc(1, sizeof(*g));
    size_t total = 0, k = 0, *first = NULL;
    struct narrowing nw = {0};
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
    if ((rc = narrowing_init(&nw, cfg, g->n)) < 0)
        goto fail;
    for (size_t i = 0; i < g->n; i++)
        if ((rc = reference_edges(g, &nw, i, first)) < 0 ||
            (rc = scan_ids(g, i, g->nodes[i].inst->attrs, 0)) < 0 || (rc = implied(g, i)) < 0)
            goto fail;
    narrowing_free(&nw);
    free(first);
    free(g->newest_from);
    g->newest_from = NULL;
    *out = g;
    return 0;
fail:
    narrowing_free(&nw);
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
