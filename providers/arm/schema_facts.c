#include "providers/arm/schema_facts.h"

#include <stdbool.h>

#include "providers/arm/schema.h"
#include "util/error.h"
#include "util/banned.h"

static enum schema_fact_lro fact(enum lro_pattern l, bool no_verb)
{
    if (no_verb)
        return FACT_LRO_NO_VERB;
    switch (l) {
    case LRO_NONE:
        return FACT_LRO_NONE;
    case LRO_DEFAULT:
        return FACT_LRO_POLL;
    case LRO_AZURE_ASYNC_OPERATION:
        return FACT_LRO_ASYNC_OPERATION;
    case LRO_LOCATION:
        return FACT_LRO_LOCATION;
    case LRO_ORIGINAL_URI:
        return FACT_LRO_ORIGINAL_URI;
    }
    return FACT_LRO_NO_VERB;
}

int schema_facts_by_type(struct schema_facts *out, const char *arm_type)
{
    const struct schema_kind *k = schema_find_by_type(arm_type);
    if (k == NULL)
        return AMLSEC_ENOTFOUND;
    out->kind = k->name;
    out->arm_type = k->arm.type;
    out->api_version = k->arm.api_version;
    out->put = fact(k->arm.put, (k->no_verbs & SCHEMA_NO_PUT) != 0);
    out->patch = fact(k->arm.patch, (k->no_verbs & SCHEMA_NO_PATCH) != 0);
    out->del = fact(k->arm.del, (k->no_verbs & SCHEMA_NO_DELETE) != 0);
    return 0;
}
