/* Security rules that need the live cloud, run by plan after the refresh
 * and before any write (the rule texts are in engine/rules.c's catalogue):
 *
 *  RBAC-VNET-JOIN  every resource deploying into a subnet (an attribute
 *                  referencing a subnet) whose change is planned: the caller
 *                  must hold virtualNetworks/join/action on the VNet and
 *                  virtualNetworks/subnets/join/action on the subnet, read
 *                  through GET {scope}/providers/Microsoft.Authorization/
 *                  permissions?api-version=2022-04-01 (actions/notActions
 *                  with wildcards). A missing permission is an error on the
 *                  subnet attribute.
 *  WS-MI-PERMS     every managed workspace that exists with a system-assigned
 *                  identity: its role assignments (read for every identity at
 *                  once through Resource Graph's authorizationresources, one
 *                  query per subscription and 1000 identities; listed with
 *                  $filter=principalId eq '...' when Resource Graph is not in
 *                  use or fails) must include Contributor on the
 *                  workspace and its resource group, Storage Blob Data
 *                  Contributor on its storage, Key Vault Administrator on its
 *                  vault (or, for a vault using access policies, a policy for
 *                  the identity) and Contributor on its registry (a grant at
 *                  a scope above counts). One warning per missing grant, and one per
 *                  role_assignment the plan deletes whose principal is a
 *                  workspace's identity.
 *  AKS-CMK         an aks_compute of a CMK workspace attaching a cluster
 *                  (validate reports the clusters the workspace creates):
 *                  the live cluster without properties.diskEncryptionSetID
 *                  is a warning.
 *  WS-SUPPORT-APP  every managed workspace whose live systemData.createdAt (the
 *                  refresh projects it; a GET when the row lacks it) is
 *                  before 2021-05-14 and that has compute (GET {workspace}/
 *                  computes lists at least one): a note. */
#ifndef AMLSEC_ENGINE_LIVE_RULES_H
#define AMLSEC_ENGINE_LIVE_RULES_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "parser/config.h"
#include "parser/diag.h"
#include "providers/provider.h"

struct live_rules_in {
    const struct config *cfg;
    struct provider *p;
    /* The live body of an ARM id as the refresh read it, or NULL. */
    const json_t *(*live)(const char *arm_id, void *payload);
    /* Will the plan write this instance (create, update or replace)? */
    bool (*writes)(const char *address, void *payload);
    void *payload;
    /* The role assignments the plan deletes: {address, principal} objects. */
    const json_t *deleted_assignments;
    /* Attaches a finding to the change of address (a deleted resource has no
     * block to point into). */
    void (*attach)(const char *address, const struct diag *d, void *payload);
    /* The role assignments of the workspaces' identities read already
     * ({lowercased principal id: [rows]}, drift's discovery), or NULL: the
     * rules read them in bulk themselves. A principal not in it is listed. */
    const json_t *assignments;
};

/* Runs the checks; findings are diagnostics with the rule ID as code.
 * Returns the number of errors added. */
size_t live_rules_run(const struct live_rules_in *in, struct diag_list *diags);

/* Is d a WS-MI-PERMS finding that a grant the workspace identity needs is
 * missing (not one about a deletion the plan makes)? `drift` reports these,
 * and `plan -detailed-exitcode` returns 2 for them. */
bool live_rules_missing_grant(const struct diag *d);

#endif
