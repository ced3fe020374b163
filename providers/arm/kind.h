/* What the ARM client must know about a kind of resource: its ARM type, the
 * api-version to speak, and how each write verb completes (the spec's
 * long-running-operation flag and final-state-via; arm-api.md section 2).
 * The resource catalogue fills these in; the client only reads them. */
#ifndef AMLSEC_PROVIDERS_ARM_KIND_H
#define AMLSEC_PROVIDERS_ARM_KIND_H

enum lro_pattern {
    LRO_NONE = 0,              /* synchronous per the spec (the client still follows
                                * 201/202 + polling headers if the service goes async) */
    LRO_DEFAULT,               /* long-running, no final-state-via: poll, then GET the resource */
    LRO_AZURE_ASYNC_OPERATION, /* final-state-via azure-async-operation */
    LRO_LOCATION,              /* final-state-via location */
    LRO_ORIGINAL_URI,          /* final-state-via original-uri */
};

enum { KIND_GRAPH_RESOURCES = 1, KIND_GRAPH_AUTHZ = 2 };

struct arm_kind_info {
    const char *type;        /* "Microsoft.KeyVault/vaults" */
    const char *api_version; /* "2025-05-01" */
    enum lro_pattern put, patch, del;
    int in_resource_graph; /* the Resource Graph table that carries it: 0 none,
                              KIND_GRAPH_RESOURCES or KIND_GRAPH_AUTHZ; decided by
                              kind_lookup (kind_lookup.c) from the type alone, so the
                              catalogue's entries (schema_kinds.c) leave it 0 */
};

#endif
