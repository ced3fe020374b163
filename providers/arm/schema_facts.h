/* The catalogue's facts about a kind in plain types, for code that cannot
 * include providers/arm/schema.h next to providers/arm/kind.h (both name
 * their long-running-operation enumerators LRO_*). */
#ifndef AMLSEC_PROVIDERS_ARM_SCHEMA_FACTS_H
#define AMLSEC_PROVIDERS_ARM_SCHEMA_FACTS_H

/* How a verb completes, numbered independently of either enum. */
enum schema_fact_lro {
    FACT_LRO_NONE,
    FACT_LRO_POLL,
    FACT_LRO_ASYNC_OPERATION,
    FACT_LRO_LOCATION,
    FACT_LRO_ORIGINAL_URI,
    FACT_LRO_NO_VERB,
};

struct schema_facts {
    const char *kind;
    const char *arm_type;
    const char *api_version;
    enum schema_fact_lro put, patch, del;
};

/* The facts of the catalogue kind whose ARM type is arm_type
 * (case-insensitive); 0, or AMLSEC_ENOTFOUND. */
int schema_facts_by_type(struct schema_facts *out, const char *arm_type);

#endif
