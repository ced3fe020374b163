#include "providers/arm/kind_lookup.h"

#include <pthread.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "providers/arm/schema_facts.h"
#include "util/banned.h"

#define KIND_LOOKUP_MAX 64

static struct arm_kind_info table[KIND_LOOKUP_MAX];
static size_t ntable;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static enum lro_pattern pattern(enum schema_fact_lro f)
{
    switch (f) {
    case FACT_LRO_POLL:
        return LRO_DEFAULT;
    case FACT_LRO_ASYNC_OPERATION:
        return LRO_AZURE_ASYNC_OPERATION;
    case FACT_LRO_LOCATION:
        return LRO_LOCATION;
    case FACT_LRO_ORIGINAL_URI:
        return LRO_ORIGINAL_URI;
    default:
        return LRO_NONE;
    }
}

/* The Resource Graph table that carries type, as Microsoft's "Azure
 * Resource Graph table and resource type reference" lists them:
 * `resources` has top-level tracked resources and a few child types (online
 * endpoints, private DNS zone links), not resource groups
 * (`resourcecontainers`), not the other children (computes, keys, DNS zone
 * groups, datastores), not Defender plans (`securityresources`), not
 * extension resources (locks and diagnostic settings are in no table,
 * policy assignments in `policyresources`); role assignments and
 * definitions are in `authorizationresources`. */
static int in_graph(const char *type)
{
    static const char *const children[] = {
        "Microsoft.MachineLearningServices/workspaces/onlineEndpoints",
        "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments",
        "Microsoft.MachineLearningServices/workspaces/batchEndpoints",
        "Microsoft.Network/privateDnsZones/virtualNetworkLinks",
    };
    const char *slash = strchr(type, '/');
    if (strcasecmp(type, "Microsoft.Authorization/roleAssignments") == 0 ||
        strcasecmp(type, "Microsoft.Authorization/roleDefinitions") == 0)
        return KIND_GRAPH_AUTHZ;
    for (size_t i = 0; i < sizeof(children) / sizeof(children[0]); i++)
        if (strcasecmp(type, children[i]) == 0)
            return KIND_GRAPH_RESOURCES;
    return slash != NULL && strchr(slash + 1, '/') == NULL &&
                   strncasecmp(type, "Microsoft.Resources/", 20) != 0 &&
                   strncasecmp(type, "Microsoft.Authorization/", 24) != 0 &&
                   strncasecmp(type, "Microsoft.Security/", 19) != 0 &&
                   strncasecmp(type, "Microsoft.Insights/diagnosticSettings", 37) != 0
               ? KIND_GRAPH_RESOURCES
               : 0;
}

const struct arm_kind_info *kind_lookup(const char *arm_type, void *payload)
{
    struct schema_facts f;
    const struct arm_kind_info *hit = NULL;
    (void)payload;
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < ntable && hit == NULL; i++)
        if (strcasecmp(table[i].type, arm_type) == 0)
            hit = &table[i];
    if (hit == NULL && ntable < KIND_LOOKUP_MAX && schema_facts_by_type(&f, arm_type) == 0) {
        struct arm_kind_info *k = &table[ntable++];
        k->type = f.arm_type;
        k->api_version = f.api_version;
        k->put = pattern(f.put);
        k->patch = pattern(f.patch);
        k->del = pattern(f.del);
        k->in_resource_graph = in_graph(f.arm_type);
        hit = k;
    }
    pthread_mutex_unlock(&lock);
    return hit;
}
