/* The dependency graph of a configuration: one node per instance, an edge
 * from an instance to everything it must come after. Edges come from
 * references (cfg_resource.deps, narrowed per instance to the instances
 * its evaluation read: cfg_instance.reads), from ARM id strings that
 * name another instance, and from the catalogue (a CMK workspace after its
 * key's vault, ...). Creates follow graph order; destroys reverse it. */
#ifndef AMLSEC_ENGINE_DEPGRAPH_H
#define AMLSEC_ENGINE_DEPGRAPH_H

#include <stddef.h>

#include "parser/config.h"
#include "util/buf.h"
#include "util/errbuf.h"

enum depgraph_edge_why { EDGE_REFERENCE, EDGE_ID, EDGE_IMPLIED };

struct depgraph_edge {
    size_t to; /* index of the node depended on */
    enum depgraph_edge_why why;
};

struct depgraph_node {
    const struct cfg_instance *inst;
    struct depgraph_edge *deps;
    size_t ndeps, cap;
};

struct depgraph_ident {
    const char *id; /* borrowed from the instance value */
    size_t idx;
};

struct depgraph {
    struct depgraph_node *nodes; /* in configuration order */
    size_t n;
    size_t *order; /* topological order (dependencies first) after depgraph_sort */
    size_t norder;
    struct depgraph_ident *ids; /* node ids, sorted case-insensitively */
    size_t nids;
    /* while building: newest_from[to] is 1 + the last node given an edge
     * to `to`. A node's edges are all added in one step, so that is how a
     * repeated edge is told in constant time (a scan of the node's edges
     * per edge made n^3 work for n instances each reading all n others). */
    size_t *newest_from;
    size_t edge_checks;    /* edges looked at to tell repeats (tests count it) */
    size_t reference_work; /* instances and call instances visited for reference edges (tests) */
};

/* Builds the graph of cfg (not sorted). Caller frees with depgraph_free. */
int depgraph_build(struct depgraph **out, const struct config *cfg, struct errbuf *err);
void depgraph_free(struct depgraph *g);

/* Topological order, stable (configuration order among independent nodes).
 * A cycle is AMLSEC_ECONFLICT with the cycle in err ("a -> b -> a"). */
int depgraph_sort(struct depgraph *g, struct errbuf *err);

/* The node whose ARM id is id (case-insensitive), or -1. */
long depgraph_find_id(const struct depgraph *g, const char *id);

/* The node of an address, or -1. */
long depgraph_find(const struct depgraph *g, const char *address);

/* Graphviz DOT text (existing lookups dashed, implied edges dotted),
 * appended to out. Text that would pass out's limit (buf's max) is an
 * error saying so (and how large the graph is); out then holds a prefix
 * of whole appends, never text with a piece missing. */
int depgraph_dot(const struct depgraph *g, struct buf *out, struct errbuf *err);

#endif
