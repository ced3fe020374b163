/* The provider interface over ARM (providers/provider.h).
 *
 * Reads: the resource groups among the ids first (a GET each): nothing in a
 * group ARM answers 404 for is read at all (it is absent); then kinds that
 * Resource Graph carries are read in bulk (graph.h);
 * ids Resource Graph does not return are confirmed by ARM (it lags): with
 * a direct GET each, or, for 20 or more in one resource group, with one
 * list of the group and a GET only for those it lists; other kinds, PROVIDER_READ_FRESH reads, and
 * everything after Resource Graph failed (403/400/unavailable: it stays off for the rest of the
 * run) use one GET per resource at the client's parallelism. Writes: PUT / PATCH / DELETE with each
 * kind's api-version and LRO pattern; PROVIDER_DATA_PLANE updates of Key Vault keys go through the
 * Key Vault data plane (keyvault.h), sequentially before the batch's ARM
 * writes. What the client knows about kinds comes from the resource
 * catalogue through `lookup`. */
#ifndef AMLSEC_PROVIDERS_ARM_ARM_PROVIDER_H
#define AMLSEC_PROVIDERS_ARM_ARM_PROVIDER_H

#include <stddef.h>

#include "providers/arm/arm_client.h"
#include "providers/arm/kind.h"
#include "providers/provider.h"
#include "util/errbuf.h"

/* The kind for an ARM type (case-insensitive), or NULL when unknown. */
typedef const struct arm_kind_info *(*arm_kind_lookup_fn)(const char *type, void *payload);

struct arm_provider_opts {
    struct arm_client *client; /* borrowed; outlives the provider */
    arm_kind_lookup_fn lookup;
    void *payload;
    const char *const *subscriptions; /* Resource Graph scope; none = the ids' subscriptions */
    size_t n_subscriptions;
    int no_graph;         /* never use Resource Graph */
    unsigned graph_batch; /* ids per query; 0 = 1000 */
};

int arm_provider_new(struct provider **out, const struct arm_provider_opts *opts,
                     struct errbuf *err);

struct arm_provider_stats {
    unsigned graph_queries;  /* Resource Graph requests (pages included) */
    unsigned graph_misses;   /* ids Resource Graph did not return (confirmed by ARM) */
    unsigned group_lists;    /* ARM lists of a resource group that confirmed misses */
    unsigned list_confirmed; /* misses confirmed absent by such a list (no GET) */
    unsigned parent_absent;  /* absent because what they lie under is (no GET) */
    unsigned bulk_lists;     /* ARM lists that read resources Resource Graph does not hold */
    unsigned list_read;      /* resources such a list answered (no GET) */
    unsigned direct_gets;    /* resources read with a GET */
    unsigned groups_beside;  /* of them, resource groups read beside Resource Graph's queries
                                (PROVIDER_READ_GROUPS_EXPECTED), not before them */
    unsigned reads_beside;   /* GETs and lists of resources Resource Graph does not hold, sent
                                beside its queries (recorded refs), not after them */
    unsigned graph_failures; /* Resource Graph errors that caused a fallback */
    int graph_disabled;      /* Resource Graph was denied or unavailable */
};

/* p must come from arm_provider_new. */
void arm_provider_get_stats(const struct provider *p, struct arm_provider_stats *out);

/* A Resource Graph row (projected as a read projects it) made, in place,
 * into what a read of the resource returns: Graph's own columns and empty
 * values dropped, its lowercased type given back as type (the kind's
 * spelling; NULL leaves it), write-only values stripped. Returns row. */
json_t *arm_graph_row_body(json_t *row, const char *type);

/* The ARM type of a resource id: the last provider namespace with its type
 * segments, "Microsoft.KeyVault/vaults/keys"; for ids without /providers/,
 * "Microsoft.Resources/resourceGroups" or "Microsoft.Resources/subscriptions".
 * Returns AMLSEC_EPARSE when id is not a resource id. */
int arm_id_type(char *dst, size_t size, const char *id);

/* Calls each(payload, len) with the length of every resource id that id
 * lies under, shortest first: the subscription, the resource group, each
 * parent resource, the resource an extension resource is scoped to (id
 * itself is not passed). each may be NULL. Returns 0 when id is a
 * well-formed resource id (pairs of segments ending on a name, "providers"
 * followed by its namespace), 1 otherwise. */
int arm_id_levels(const char *id, void (*each)(void *payload, size_t len), void *payload);

#endif
