#include "providers/arm/schema_facts.h"

#include "providers/arm/schema.h"
#include "util/error.h"
#include "util/banned.h"

static enum schema_fact_lro fact(enum schema_lro l)
{
    switch (l) {
    case LRO_NONE:
        return FACT_LRO_NONE;
    case LRO_POLL:
        return FACT_LRO_POLL;
    case LRO_ASYNC_OPERATION:
        return FACT_LRO_ASYNC_OPERATION;
    case LRO_LOCATION:
        return FACT_LRO_LOCATION;
    case LRO_ORIGINAL_URI:
        return FACT_LRO_ORIGINAL_URI;
    case LRO_NO_VERB:
        break;
    }
    return FACT_LRO_NO_VERB;
}

int schema_facts_by_type(struct schema_facts *out, const char *arm_type)
{
    const struct schema_kind *k = schema_find_by_type(arm_type);
    if (k == NULL)
        return AMLSEC_ENOTFOUND;
    out->kind = k->name;
    out->arm_type = k->arm_type;
    out->api_version = k->api_version;
    out->put = fact(k->lro[VERB_PUT]);
    out->patch = fact(k->lro[VERB_PATCH]);
    out->del = fact(k->lro[VERB_DELETE]);
    return 0;
}
