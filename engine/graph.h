/* The dependency graph of a configuration: one node per instance, an edge
 * from an instance to everything it must come after. Edges come from
 * references (cfg_resource.deps, per instance), from ARM id strings that
 * name another instance, and from the catalogue (a CMK workspace after its
 * key's vault, ...). Creates follow graph order; destroys reverse it. */
#ifndef AMLSEC_ENGINE_GRAPH_H
#define AMLSEC_ENGINE_GRAPH_H

#include <stddef.h>

#include "parser/config.h"
#include "util/buf.h"
#include "util/errbuf.h"

enum graph_edge_why { EDGE_REFERENCE, EDGE_ID, EDGE_IMPLIED };

struct graph_edge {
    size_t to; /* index of the node depended on */
    enum graph_edge_why why;
};

struct graph_node {
    const struct cfg_instance *inst;
    struct graph_edge *deps;
    size_t ndeps, cap;
};

struct graph {
    struct graph_node *nodes; /* in configuration order */
    size_t n;
    size_t *order; /* topological order (dependencies first) after graph_sort */
    size_t norder;
};

/* Builds the graph of cfg (not sorted). Caller frees with graph_free. */
int graph_build(struct graph **out, const struct config *cfg, struct errbuf *err);
void graph_free(struct graph *g);

/* Topological order, stable (configuration order among independent nodes).
 * A cycle is AMLSEC_ECONFLICT with the cycle in err ("a -> b -> a"). */
int graph_sort(struct graph *g, struct errbuf *err);

/* The node of an address, or -1. */
long graph_find(const struct graph *g, const char *address);

/* Graphviz DOT text (existing lookups dashed, implied edges dotted). */
int graph_dot(const struct graph *g, struct buf *out);

#endif
