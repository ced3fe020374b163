#include "parser/kinds.h"

#include <stddef.h>

#include "util/banned.h"

const char *const *kinds_builtin(void)
{
    static const char *const kinds[] = {"resource_group",
                                        "workspace",
                                        "private_endpoint",
                                        "key_vault",
                                        "key",
                                        "storage_account",
                                        "container_registry",
                                        "app_insights",
                                        "compute_cluster",
                                        "online_endpoint",
                                        "role_assignment",
                                        "role_definition",
                                        "policy_assignment",
                                        "lock",
                                        "diagnostic_setting",
                                        "subnet",
                                        "virtual_network",
                                        NULL};
    return kinds;
}
