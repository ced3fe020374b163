/* The ARM client's view of the resource catalogue: an arm_kind_lookup_fn
 * for arm_provider_opts.lookup, built from providers/arm/schema_facts.h. */
#ifndef AMLSEC_PROVIDERS_ARM_KIND_LOOKUP_H
#define AMLSEC_PROVIDERS_ARM_KIND_LOOKUP_H

#include "providers/arm/kind.h"

/* The kind for arm_type, or NULL when the catalogue does not know it.
 * payload is unused. Static storage, safe to call from any thread after
 * the first call returns. */
const struct arm_kind_info *kind_lookup(const char *arm_type, void *payload);

#endif
