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

static const char *node_id(const struct config *cfg, const struct depgraph_node *n)
{
    const json_t *v = config_instance_value(cfg, n->inst);
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

/* A resource's reference inside an instance of a module call the
 * resource is not in: module.team["a"].resource_group.team read by a root
 * resource is (team, module.team["a"], resource_group.team). */
struct dep_in_call {
    size_t call, mod, ri;
};

/* What one node read, for its reference edges (config.h's cfg_read), so
 * that the work per node follows what it read, not the size of what its
 * block refers to. The stamped arrays are indexed by resource, call and
 * module instance; an entry is set for the node being built when it
 * equals stamp (so nothing is cleared between nodes). */
struct narrowing {
    const struct config *cfg;
    size_t stamp;
    size_t *res_pick, *res_all;    /* by resource: one instance read / every one */
    size_t *call_pick, *call_all;  /* by call */
    size_t *pick_head, *call_head; /* by resource / call: the node's first such read, */
    size_t *pick_tail, *call_tail; /* and its last */
    size_t *next;                  /* by read: the node's next read of that resource or call */
    size_t next_cap;
    size_t *res_mod;               /* by resource: its module's index, or NONE (the root) */
    size_t *mod_parent, *mod_call; /* by module instance */
    size_t *own;                   /* by module instance: 1 + the resource whose module it is */
    struct mod_ptr *mods;          /* the module instances by address, for mod_index */
    /* the resource whose deps are sorted below (its instances are
     * consecutive nodes): those outside any other module call's instance
     * (plain), and those inside one (in_call, by call and instance) */
    const struct cfg_resource *sorted_for;
    size_t *plain, nplain;
    struct dep_in_call *in_call;
    size_t nin_call, deps_cap;
    size_t *run_end; /* by position in in_call: where its call's entries end */
};

#define NONE ((size_t)-1)

static int cmp_mod_ptr(const void *a, const void *b)
{
    const struct mod_ptr *x = a, *y = b;
    return (uintptr_t)x->m < (uintptr_t)y->m ? -1 : (uintptr_t)x->m > (uintptr_t)y->m;
}

static int cmp_dep_in_call(const void *a, const void *b)
{
    const struct dep_in_call *x = a, *y = b;
    if (x->call != y->call)
        return x->call < y->call ? -1 : 1;
    if (x->mod != y->mod)
        return x->mod < y->mod ? -1 : 1;
    return x->ri < y->ri ? -1 : x->ri > y->ri;
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
    free(nw->pick_head);
    free(nw->call_head);
    free(nw->pick_tail);
    free(nw->call_tail);
    free(nw->next);
    free(nw->res_mod);
    free(nw->mod_parent);
    free(nw->mod_call);
    free(nw->own);
    free(nw->mods);
    free(nw->plain);
    free(nw->in_call);
    free(nw->run_end);
}

static int narrowing_init(struct narrowing *nw, const struct config *cfg)
{
    size_t nr = cfg->nresources + 1, nc = cfg->ncalls + 1, nm = cfg->nmodules + 1;
    memset(nw, 0, sizeof(*nw));
    nw->cfg = cfg;
    nw->res_pick = calloc(nr, sizeof(size_t));
    nw->res_all = calloc(nr, sizeof(size_t));
    nw->call_pick = calloc(nc, sizeof(size_t));
    nw->call_all = calloc(nc, sizeof(size_t));
    nw->pick_head = calloc(nr, sizeof(size_t));
    nw->call_head = calloc(nc, sizeof(size_t));
    nw->pick_tail = calloc(nr, sizeof(size_t));
    nw->call_tail = calloc(nc, sizeof(size_t));
    nw->res_mod = calloc(nr, sizeof(size_t));
    nw->mod_parent = calloc(nm, sizeof(size_t));
    nw->mod_call = calloc(nm, sizeof(size_t));
    nw->own = calloc(nm, sizeof(size_t));
    nw->mods = calloc(nm, sizeof(*nw->mods));
    if (!nw->res_pick || !nw->res_all || !nw->call_pick || !nw->call_all || !nw->pick_head ||
        !nw->call_head || !nw->pick_tail || !nw->call_tail || !nw->res_mod || !nw->mod_parent ||
        !nw->mod_call || !nw->own || !nw->mods)
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

/* Chains the node's read k after its earlier reads of the same resource
 * or call (whose first and last are *head and *tail, *picked == stamp
 * once there is one). */
static void chain_read(struct narrowing *nw, size_t *head, size_t *tail, size_t *picked, size_t k)
{
    nw->next[k] = NONE;
    if (*picked == nw->stamp)
        nw->next[*tail] = k;
    else
        *head = k;
    *tail = k;
    *picked = nw->stamp;
}

/* Notes what the node (nw->stamp) read: which resources and calls, and
 * each one's reads chained (pick_head, call_head, next). False when its
 * reads cannot narrow its edges (something it refers to was not
 * evaluated) or out of memory. */
static bool note_reads(struct narrowing *nw, const struct cfg_instance *in)
{
    const struct config *cfg = nw->cfg;
    const struct cfg_resource *r = in->resource;
    if (in->reads.n > nw->next_cap) {
        size_t *next = realloc(nw->next, in->reads.n * sizeof(*next));
        if (next == NULL)
            return false;
        nw->next = next;
        nw->next_cap = in->reads.n;
    }
    for (size_t k = 0; k < in->reads.n; k++) {
        const struct cfg_read *rd = &in->reads.v[k];
        if (rd->variable)
            continue; /* a validated variable's read (plan_checks.c): no edge */
        if (rd->resource) {
            size_t ri = (size_t)(rd->resource - cfg->resources);
            if (rd->index == CFG_READ_ALL || rd->index >= rd->resource->ninstances) {
                nw->res_all[ri] = nw->stamp;
            } else {
                chain_read(nw, &nw->pick_head[ri], &nw->pick_tail[ri], &nw->res_pick[ri], k);
            }
        } else if (rd->call) {
            size_t c = (size_t)(rd->call - cfg->calls);
            if (rd->module == NULL || mod_index(nw, rd->module) == NONE) {
                nw->call_all[c] = nw->stamp;
            } else {
                chain_read(nw, &nw->call_head[c], &nw->call_tail[c], &nw->call_pick[c], k);
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
    return true;
}

/* Sorts what resource r (index ri0) refers to into nw->plain and
 * nw->in_call (the instance of a call r is not in that holds it, at the
 * outermost such call). An implicit child's parent (deps[0]) is left out:
 * reference_edges gives it its own instance. */
static int sort_deps(struct narrowing *nw, const struct cfg_resource *r, size_t ri0)
{
    const struct config *cfg = nw->cfg;
    nw->sorted_for = r;
    nw->nplain = nw->nin_call = 0;
    if (r->ndeps > nw->deps_cap) {
        size_t *plain = realloc(nw->plain, r->ndeps * sizeof(*plain));
        struct dep_in_call *in_call;
        if (plain == NULL)
            return AMLSEC_ENOMEM;
        nw->plain = plain;
        in_call = realloc(nw->in_call, r->ndeps * sizeof(*in_call));
        if (in_call == NULL)
            return AMLSEC_ENOMEM;
        nw->in_call = in_call;
        plain = realloc(nw->run_end, r->ndeps * sizeof(*plain));
        if (plain == NULL)
            return AMLSEC_ENOMEM;
        nw->run_end = plain;
        nw->deps_cap = r->ndeps;
    }
    for (size_t m = nw->res_mod[ri0]; m != NONE; m = nw->mod_parent[m])
        nw->own[m] = ri0 + 1;
    for (size_t d = r->implicit ? 1 : 0; d < r->ndeps; d++) {
        size_t ri = (size_t)(r->deps[d] - cfg->resources), outer = NONE;
        if (ri >= cfg->nresources)
            continue;
        for (size_t m = nw->res_mod[ri]; m != NONE && nw->own[m] != ri0 + 1; m = nw->mod_parent[m])
            outer = m;
        if (outer == NONE || nw->mod_call[outer] == NONE)
            nw->plain[nw->nplain++] = ri;
        else
            nw->in_call[nw->nin_call++] =
                (struct dep_in_call){.call = nw->mod_call[outer], .mod = outer, .ri = ri};
    }
    if (nw->nin_call > 1) /* in_call is NULL until a resource refers to another's */
        qsort(nw->in_call, nw->nin_call, sizeof(*nw->in_call), cmp_dep_in_call);
    for (size_t k = nw->nin_call; k-- > 0;)
        nw->run_end[k] = k + 1 < nw->nin_call && nw->in_call[k + 1].call == nw->in_call[k].call
                             ? nw->run_end[k + 1]
                             : k + 1;
    return 0;
}

/* Node i's edges to resource ri: the instances it read when it read one
 * by one (narrow), else every instance. */
static int resource_edges(struct depgraph *g, struct narrowing *nw, size_t i, size_t ri,
                          const size_t *first, bool narrow)
{
    const struct cfg_resource *dr = &nw->cfg->resources[ri];
    const struct cfg_instance *in = g->nodes[i].inst;
    int rc;
    if (narrow && nw->res_pick[ri] == nw->stamp && nw->res_all[ri] != nw->stamp) {
        for (size_t k = nw->pick_head[ri]; k != NONE; k = nw->next[k]) {
            g->reference_work++;
            if ((rc = add_edge(g, i, first[ri] + in->reads.v[k].index, EDGE_REFERENCE)) < 0)
                return rc;
        }
        return 0;
    }
    for (size_t j = 0; j < dr->ninstances; j++) {
        g->reference_work++;
        if ((rc = add_edge(g, i, first[ri] + j, EDGE_REFERENCE)) < 0)
            return rc;
    }
    return 0;
}

/* Node i's edges for what its resource refers to: to the instances it
 * read when its reads say which (a key known at plan time: one instance
 * of a call, or of a resource), else to every instance of each resource
 * referred to. The work follows the edges made, not the resources the
 * block refers to (a call's instances looked up by binary search). */
static int reference_edges(struct depgraph *g, struct narrowing *nw, size_t i, const size_t *first)
{
    const struct config *cfg = nw->cfg;
    const struct cfg_instance *in = g->nodes[i].inst;
    const struct cfg_resource *r = in->resource;
    size_t self = (size_t)(in - r->instances), ri0 = (size_t)(r - cfg->resources);
    bool narrow;
    int rc = 0;
    nw->stamp = i + 1;
    narrow = note_reads(nw, in);
    if (nw->sorted_for != r && (rc = sort_deps(nw, r, ri0)) < 0)
        return rc;
    if (r->implicit && r->ndeps > 0) {
        /* a declared child: its parent's instance of the same position */
        size_t pi = (size_t)(r->deps[0] - cfg->resources);
        if (pi < cfg->nresources && self < cfg->resources[pi].ninstances)
            rc = add_edge(g, i, first[pi] + self, EDGE_REFERENCE);
        else if (pi < cfg->nresources)
            rc = resource_edges(g, nw, i, pi, first, false);
        if (rc < 0)
            return rc;
    }
    for (size_t d = 0; d < nw->nplain; d++)
        if ((rc = resource_edges(g, nw, i, nw->plain[d], first, narrow)) < 0)
            return rc;
    for (size_t run = 0, end; run < nw->nin_call; run = end) {
        size_t c = nw->in_call[run].call;
        end = nw->run_end[run];
        if (!narrow || nw->call_pick[c] != nw->stamp || nw->call_all[c] == nw->stamp) {
            for (size_t d = run; d < end; d++)
                if ((rc = resource_edges(g, nw, i, nw->in_call[d].ri, first, narrow)) < 0)
                    return rc;
            continue;
        }
        /* the instances of c the node read, each found by binary search */
        for (size_t k = nw->call_head[c]; k != NONE; k = nw->next[k]) {
            size_t m = mod_index(nw, in->reads.v[k].module), lo = run, hi = end;
            while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (nw->in_call[mid].mod < m)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            g->reference_work++;
            for (; lo < end && nw->in_call[lo].mod == m; lo++)
                if ((rc = resource_edges(g, nw, i, nw->in_call[lo].ri, first, narrow)) < 0)
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
        const char *id = node_id(cfg, &g->nodes[i]);
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
    if ((rc = narrowing_init(&nw, cfg)) < 0)
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

/* DOT text being written: the first failed append sticks (nothing is
 * appended after it, so the text never lacks a piece in the middle), and
 * whether it was the buffer's limit rather than memory. */
struct dot {
    struct buf *out;
    int rc;
    bool limit;
};

static void dot_add(struct dot *d, const char *s, size_t n)
{
    if (d->rc < 0)
        return;
    if (n > d->out->max || d->out->len > d->out->max - n)
        d->limit = true;
    d->rc = buf_add(d->out, s, n);
}

static void dot_adds(struct dot *d, const char *s)
{
    dot_add(d, s, strlen(s));
}

static void dot_quote(struct dot *d, const char *s)
{
    dot_add(d, "\"", 1);
    while (*s) {
        size_t n = strcspn(s, "\"\\");
        dot_add(d, s, n);
        s += n;
        if (*s) {
            char esc[2] = {'\\', *s++};
            dot_add(d, esc, 2);
        }
    }
    dot_add(d, "\"", 1);
}

int depgraph_dot(const struct depgraph *g, struct buf *out, struct errbuf *err)
{
    struct dot d = {out, 0, false};
    size_t edges = 0;
    dot_adds(&d, "digraph amlsec {\n  rankdir=LR;\n  node [shape=box];\n");
    for (size_t i = 0; i < g->n; i++) {
        dot_adds(&d, "  ");
        dot_quote(&d, g->nodes[i].inst->address);
        if (g->nodes[i].inst->resource->existing)
            dot_adds(&d, " [style=dashed]");
        dot_adds(&d, ";\n");
    }
    for (size_t i = 0; i < g->n; i++)
        for (size_t e = 0; e < g->nodes[i].ndeps; e++, edges++) {
            dot_adds(&d, "  ");
            dot_quote(&d, g->nodes[i].inst->address);
            dot_adds(&d, " -> ");
            dot_quote(&d, g->nodes[g->nodes[i].deps[e].to].inst->address);
            dot_adds(&d, g->nodes[i].deps[e].why == EDGE_IMPLIED ? " [style=dotted];\n" : ";\n");
        }
    dot_adds(&d, "}\n");
    if (d.rc < 0 && d.limit)
        return errbuf_set(err, AMLSEC_ENOMEM,
                          "the dependency graph's DOT text passes the %zu-byte limit on generated "
                          "text (%zu instances, %zu edges): graph a smaller configuration",
                          out->max, g->n, edges);
    if (d.rc < 0)
        return errbuf_set(err, d.rc, "out of memory writing the dependency graph");
    return 0;
}
