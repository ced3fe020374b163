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

/* Resource Graph's `resources` table carries top-level tracked resources
 * only: not resource groups (they are in `resourcecontainers`), not child
 * resources (computes, keys, subnets), not extension resources (role
 * assignments, locks, policy assignments, diagnostic settings). */
static int in_graph(const char *type)
{
    const char *slash = strchr(type, '/');
    return slash != NULL && strchr(slash + 1, '/') == NULL &&
           strncasecmp(type, "Microsoft.Resources/", 20) != 0 &&
           strncasecmp(type, "Microsoft.Authorization/", 24) != 0 &&
           strncasecmp(type, "Microsoft.Insights/diagnosticSettings", 37) != 0;
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
