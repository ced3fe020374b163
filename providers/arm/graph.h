/* Bulk reads through Azure Resource Graph (arm-api.md section 4):
 * `resources | where id in~ (...)` over batches of up to 1000 ids, so N
 * resources take ceil(N/1000) queries, run concurrently; $top 1000,
 * $skipToken paging, resultFormat objectArray, the query projects id.
 * x-ms-user-quota-remaining / -resets-after pace the queries.
 *
 * Resource Graph lags behind ARM (no documented bound): use it for
 * inventory and refresh, and re-read with a direct GET before writing. */
#ifndef AMLSEC_PROVIDERS_ARM_GRAPH_H
#define AMLSEC_PROVIDERS_ARM_GRAPH_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "providers/arm/arm_client.h"
#include "util/errbuf.h"

#define GRAPH_API_VERSION "2024-04-01"
#define GRAPH_MAX_BATCH 1000
#define GRAPH_MIN_BATCH 100 /* a 400 halves the batch down to this */
#define GRAPH_TABLE_RESOURCES "resources"
#define GRAPH_TABLE_AUTHZ "authorizationresources"
/* What a read through Resource Graph projects: the columns of a GET, and
 * systemData (when a resource was created, for rules that look at it,
 * WS-SUPPORT-APP, without a GET per resource) */
#define GRAPH_PROJECTION                                                                           \
    "id, name, type, location, tags, identity, sku, kind, properties, systemData"
/* authorizationresources rows: what a role assignment's or definition's
 * GET returns (no location, tags, identity, sku or kind) */
#define GRAPH_AUTHZ_PROJECTION "id, name, type, properties"

struct graph {
    struct arm_client *client; /* borrowed */
    const char *const *subscriptions;
    size_t n_subscriptions; /* 0: the tenant scope */
    unsigned batch;         /* ids per query, 1..1000; 0 = 1000; lowered after a 400 */
    int batch_known;        /* Resource Graph accepted this batch size before */
    int quota_fresh;        /* no answer seen yet in the current round (the quota itself is
                               the client's: arm_client_graph_quota) */
    unsigned queries;       /* requests sent (pages included) */
    const char *table;      /* graph_read_ids' table; NULL = GRAPH_TABLE_RESOURCES */
};

void graph_init(struct graph *g, struct arm_client *client);

/* Runs query (which must project id) page by page and appends every row
 * (a JSON object) to rows. */
int graph_query(struct graph *g, const char *query, json_t *rows, struct errbuf *err);

/* Runs queries[0..n) at once, each page by page (pages of different
 * queries share rounds, paced by the quota); rows[i] (a JSON array the
 * caller made) receives queries[i]'s rows. */
int graph_query_many(struct graph *g, const char *const *queries, size_t n, json_t **rows,
                     struct errbuf *err);

/* Reads ids: out[i] becomes the row of ids[i] (a new reference; `type`
 * lowercased as Resource Graph returns it), or NULL when Resource Graph
 * does not have it. Ids that cannot be quoted in KQL are left NULL.
 * A 400 for a long query halves the batch (down to GRAPH_MIN_BATCH) and
 * retries; the size that worked is left in g->batch.
 * Returns < 0 when Resource Graph failed (err says why; call->status in
 * *status when it answered, e.g. 403 or 400); callers then fall back to
 * direct GETs. */
int graph_read_ids(struct graph *g, const char *const *ids, size_t n, json_t **out, long *status,
                   struct errbuf *err);

/* Builds "TABLE | where id in~ ('a', 'b') | project ..." for ids[0..n)
 * into q (table NULL: resources; authorizationresources projects id, name,
 * type and properties, what a role assignment's GET returns). Returns
 * AMLSEC_EUSAGE if an id cannot be quoted. */
int graph_ids_query(struct buf *q, const char *table, const char *const *ids, size_t n);

#endif
