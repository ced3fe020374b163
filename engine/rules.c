/* The rule catalogue and its checks (see rules.h). Each check reads
 * instances through the resource catalogue (providers/arm/schema.h) so that
 * unset attributes take their schema defaults, and `existing` lookups,
 * whose attributes are unknown until plan, never produce a finding. */
#include "engine/rules.h"

#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "parser/value.h"
#include "providers/arm/resolve.h"
#include "providers/arm/schema.h"
#include "util/error.h"
#include "util/suggest.h"
#include "util/banned.h"

const struct rule rules_catalogue[] = {
    {"WS-HBI", DIAG_NOTE, "recommend; create-only",
     "workspaces holding sensitive data should set the high-business-impact flag",
     "HBI turns on scratch-disk encryption and clean-up, passes credentials through Key Vault, "
     "filters batch-pool IPs and reduces diagnostic telemetry; it only takes effect at creation "
     "(properties.hbiWorkspace is not in the PATCH schema) (Azure Machine Learning docs: "
     "Enterprise security and governance; Data encryption)",
     "set hbi = true when the workspace is created; changing it later replaces the workspace",
     "workspace"},
    {"WS-HBI-EFFECTS", DIAG_WARNING, "warn",
     "compute instances are not supported in HBI workspaces",
     "the 2020 guidance lists compute instances as unsupported in high-business-impact "
     "workspaces (Azure Machine Learning docs: Enterprise security and governance)",
     "use a compute_cluster, or a workspace without hbi", "compute_instance"},
    {"WS-CMK-PAIR", DIAG_ERROR, "error",
     "customer-managed-key encryption needs both the Key Vault and the versioned key URI",
     "CMK needs the Key Vault ARM id and the key's full URI including its version; one without "
     "the other is rejected (properties.encryption.keyVaultProperties{keyVaultArmId, "
     "keyIdentifier}) (Azure Machine Learning docs: Enterprise security and governance; Data "
     "encryption)",
     "write encryption { key = key.NAME } (amlsec sends both), or set both key_vault and a "
     "versioned key_uri",
     "workspace"},
    {"WS-CMK-REGION", DIAG_ERROR, "error",
     "the CMK Key Vault must be in the workspace's region and subscription",
     "the guidance requires the CMK vault in the same region and subscription as the "
     "workspace (Azure Machine Learning docs: Enterprise security and governance; Data encryption)",
     "move the key_vault to the workspace's location and subscription (or the workspace to "
     "the vault's)",
     "workspace, key_vault, key"},
    {"WS-CMK-KV-PROTECT", DIAG_ERROR, "error",
     "the CMK Key Vault must have soft delete and purge protection",
     "before a CMK workspace is created, its vault needs soft delete and purge protection, so "
     "deleting the vault cannot destroy the data key (Azure Machine Learning docs: Data "
     "encryption)",
     "set soft_delete = true and purge_protection = true on the vault (both irreversible)",
     "workspace, key_vault"},
    {"WS-CMK-RP", DIAG_NOTE, "check registration; warn",
     "CMK workspaces provision a Cosmos DB in your subscription",
     "a CMK workspace creates a dedicated Cosmos DB (8000 RU/s, deleted only with the "
     "workspace): Microsoft.MachineLearningServices and Microsoft.DocumentDB must be "
     "registered (provider registrations are not visible to validate) (Azure Machine Learning "
     "docs: Enterprise security and governance; Data encryption)",
     "register Microsoft.DocumentDB in the subscription and budget for the Cosmos DB", "workspace"},
    {"CMK-ASSOC", DIAG_ERROR, "error",
     "the CMK vault of the workspace's storage account and registry follows the workspace's "
     "CMK rules",
     "a customer-managed key of the workspace's storage account or container registry must sit "
     "in a vault with soft delete and purge protection (the service refuses the key otherwise), "
     "in the workspace's region; blobs and images of a CMK workspace are encrypted with "
     "Microsoft-managed keys unless the storage account and registry bring their own key (the "
     "registry only when it is created) (Azure Machine Learning docs: Data "
     "encryption; Enterprise security and governance)",
     "keep the key in a vault with soft_delete and purge_protection, in the workspace's "
     "location; add encryption { key = key.NAME, identity = user_assigned_identity.NAME } to "
     "the storage_account and encryption { key = key.NAME, identity_client_id = ... } to the "
     "container_registry",
     "workspace, storage_account, container_registry, key_vault, key"},
    {"CMK-IDENTITY", DIAG_WARNING, "error when not attached; warn when not granted",
     "the identity that reads a customer-managed key must be attached and granted the key",
     "a storage account, registry or workspace reads its key with a user-assigned identity: the "
     "identity must be one of the resource's identities, and, in a vault that uses Azure RBAC, "
     "hold Key Vault Crypto Service Encryption User (or Crypto Officer, Administrator) on the "
     "vault or key, or the service cannot wrap and unwrap its data key (Azure Machine Learning "
     "docs: Data encryption)",
     "list the identity in identity.user_assigned, and add role_assignment { scope = "
     "key_vault.NAME, role = \"Key Vault Crypto Service Encryption User\", principal = "
     "user_assigned_identity.NAME.principal_id }",
     "storage_account, container_registry, workspace, user_assigned_identity, role_assignment"},
    {"WS-UAI-GRANTS", DIAG_WARNING, "error when not attached; warn when not granted",
     "a workspace that acts as a user-assigned identity needs that identity's grants",
     "with primary_user_assigned_identity the workspace uses that identity instead of its "
     "system-assigned one, so the identity needs what the system identity would hold: "
     "Contributor on the workspace (or its resource group), Storage Blob Data Contributor on its "
     "storage account, Key Vault Administrator on its Key Vault (when it uses Azure RBAC) and "
     "Contributor on its registry; and it must be one of the workspace's identities (Azure "
     "Machine Learning docs: Enterprise security and governance)",
     "list the identity in identity.user_assigned and add the role_assignment blocks, principal "
     "= user_assigned_identity.NAME.principal_id",
     "workspace, user_assigned_identity, role_assignment"},
    {"WS-PRIVATE", DIAG_NOTE, "recommend; warn when only the workspace is private",
     "restrict the workspace to a virtual network with a private endpoint, and secure its "
     "storage, Key Vault and registry too",
     "a private endpoint on the workspace alone is not end-to-end: storage, Key Vault and ACR "
     "must be private as well (Azure Machine Learning docs: Enterprise security and governance; "
     "Secure a workspace with virtual networks)",
     "set public_network_access = false and add a private_endpoint with subresource "
     "\"amlworkspace\"; make the associated resources private too",
     "workspace, storage_account, key_vault, container_registry, private_endpoint"},
    {"WS-SECRETS", DIAG_ERROR, "error", "no literal secrets in configuration",
     "account keys, SAS tokens, passwords and connection strings written in configuration end "
     "up in logs and repositories (Azure Machine Learning docs: Enterprise security and "
     "governance; Data encryption)",
     "pass secrets through a variable with sensitive = true (set by -var-file, -var or "
     "AMLSEC_VAR_name), or use managed identities",
     "any"},
    {"WS-DIAG", DIAG_NOTE, "recommend",
     "send workspace logs to Azure Monitor with a diagnostic setting",
     "workspace metrics and logs go to Azure Monitor; without a diagnostic setting they are "
     "not retained (Azure Machine Learning docs: Enterprise security and governance)",
     "add diagnostic_setting { target = workspace.NAME, log_analytics = \"...\" }",
     "workspace, diagnostic_setting"},
    {"PE-DNS", DIAG_WARNING, "warn",
     "a private endpoint needs its private DNS zones, linked to the network",
     "without a private DNS zone group, the target's names still resolve to its public "
     "addresses inside the virtual network, so clients bypass the endpoint (or fail when public "
     "access is off) unless a custom DNS server answers them (Microsoft Learn: \"Configure a "
     "private endpoint for an Azure Machine Learning workspace\", \"Use your workspace with a "
     "custom DNS server\")",
     "add private_dns_zone \"...\" { name = \"privatelink.vaultcore.azure.net\" } (the zone of "
     "the endpoint's subresource), a private_dns_zone_link to the network and dns_zones = "
     "[private_dns_zone.NAME] on the endpoint (or a private_dns_zone_group { endpoint = "
     "private_endpoint.NAME, zones = [...] })",
     "private_endpoint, private_dns_zone, private_dns_zone_group"},
    {"ACR-ADMIN", DIAG_ERROR, "error (per the 2020-2021 editions)",
     "the workspace's container registry must have the admin account enabled",
     "the 2020-2021 guidance requires the admin account on the workspace registry (it is off "
     "by default) (Azure Machine Learning docs: Data encryption; Enterprise security and "
     "governance)",
     "set admin_user = true on the container_registry", "workspace, container_registry"},
    {"ACR-KEEP", DIAG_NOTE, "recommend a CanNotDelete lock",
     "never delete the workspace's container registry",
     "deleting the workspace registry breaks the workspace (Azure Machine Learning docs: Data "
     "encryption; Enterprise security and governance)",
     "add lock { target = container_registry.NAME, level = \"CanNotDelete\" }",
     "container_registry, lock"},
    {"ACR-PREMIUM", DIAG_ERROR, "error",
     "a registry behind a virtual network must be the Premium SKU",
     "only Premium registries support private endpoints and network rules (Azure Machine Learning "
     "docs: Secure a workspace with virtual networks)",
     "set sku = \"Premium\"", "container_registry"},
    {"ACR-VNET-BUILD", DIAG_ERROR, "error when missing",
     "a network-isolated registry needs the workspace's image_build_compute, and the image "
     "build must reach the package repositories",
     "a registry behind a VNet cannot build images; the workspace must name a compute cluster "
     "that builds them (and can reach the package repositories) (Azure Machine Learning docs: "
     "Secure a workspace with virtual networks). In a managed network that allows only approved "
     "outbound traffic, the build reaches PyPI and conda only through FQDN outbound rules "
     "(Microsoft Learn: \"Workspace managed network isolation\")",
     "set image_build_compute = \"<compute_cluster name>\" on the workspace; with "
     "isolation_mode = \"AllowOnlyApprovedOutbound\" add managed_network.outbound_rules = { "
     "pypi = { type = \"FQDN\", destination = \"pypi.org\" }, ... } for pypi.org, "
     "files.pythonhosted.org and conda.anaconda.org",
     "workspace, container_registry, compute_cluster"},
    {"NET-SAME-SUBNET", DIAG_ERROR, "error",
     "storage, compute and registry must share the training subnet; workspace and storage "
     "private endpoints must share a subnet",
     "the storage account, compute cluster and container registry must be in the same VNet "
     "and subnet; when workspace and storage both use private endpoints they must be in the "
     "same subnet (Azure Machine Learning docs: Secure a workspace with virtual networks)",
     "use the same subnet for the compute cluster and the workspace, storage and registry "
     "private endpoints",
     "workspace, compute_cluster, private_endpoint"},
    {"ST-PE-PAIR", DIAG_ERROR, "error for blob+file; warn for queue+table",
     "the workspace's default storage needs both blob and file private endpoints",
     "with private endpoints, the default storage account needs sub-resources blob and file; "
     "ParallelRunStep also needs queue and table (reported as a note) (Azure Machine Learning "
     "docs: Secure a workspace with virtual networks)",
     "add private endpoints for the missing sub-resources (for_each = [\"blob\", \"file\", "
     "\"queue\", \"table\"])",
     "workspace, storage_account, private_endpoint"},
    {"ST-SERVICE-ENDPOINT", DIAG_NOTE, "recommend",
     "storage firewall: deny by default, trusted Microsoft services allowed, no public blobs",
     "with service endpoints the storage firewall should use selected networks, allow trusted "
     "Microsoft services and disallow public blob access (Azure Machine Learning docs: Secure a "
     "workspace with virtual networks)",
     "network_rules { default_action = \"deny\", bypass = [\"AzureServices\"] } and "
     "allow_blob_public_access = false",
     "storage_account"},
    {"KV-NETWORK", DIAG_NOTE, "recommend",
     "Key Vault behind a VNet: private endpoint and selected networks, trusted services bypass",
     "the vault should accept only its private endpoint and selected networks, with trusted "
     "Microsoft services allowed through the firewall (Azure Machine Learning docs: Secure a "
     "workspace with virtual networks)",
     "network_acls { default_action = \"deny\", bypass = [\"AzureServices\"] } and a "
     "private_endpoint with subresource \"vault\"",
     "key_vault"},
    {"ACI-SAME-RG", DIAG_ERROR, "error",
     "ACI deployments in a VNet need the workspace and the VNet in the same resource group",
     "Azure Container Instances deployed inside the VNet require the workspace and the VNet "
     "in one resource group (Azure Machine Learning docs: Secure a workspace with virtual "
     "networks)",
     "use a subnet of a VNet in the workspace's resource group", "web_service"},
    {"EP-ONE-AUTH", DIAG_ERROR, "error", "a scoring endpoint has exactly one authentication mode",
     "a web service authenticates with key or token, never both at once (Azure Machine Learning "
     "docs: Enterprise security and governance)",
     "enable either key_auth or token_auth", "web_service"},
    {"EP-DEFAULTS", DIAG_ERROR, "error for token on ACI",
     "token authentication is not available on ACI",
     "token auth exists only on AKS (disabled by default there); ACI supports keys only "
     "(disabled by default), so amlsec sends the auth settings explicitly (Azure Machine Learning "
     "docs: Enterprise security and governance)",
     "use key_auth on ACI, or deploy to AKS or a managed online_endpoint", "web_service"},
    {"EP-TLS", DIAG_NOTE, "recommend", "secure scoring endpoints with TLS",
     "scoring endpoints should use TLS (Azure Machine Learning docs: Enterprise security and "
     "governance; Data encryption)",
     "set ssl_enabled = true on a web_service, ssl { status = \"Enabled\" ... } on an "
     "aks_compute (managed online endpoints always use TLS)",
     "web_service, aks_compute"},
    {"EP-TLS-CERT", DIAG_ERROR, "error", "TLS on a scoring endpoint needs its certificate",
     "an ACI web service has no Microsoft-managed certificate: TLS needs your certificate, its "
     "key and the DNS name it is for; an AKS service's TLS is the AKS compute's, whose TLS "
     "configuration needs a certificate and key or a Microsoft-managed leaf domain label (Azure "
     "Machine Learning docs: Enterprise security and governance; \"Use TLS to secure a web "
     "service through Azure Machine Learning\")",
     "set ssl_certificate, ssl_key (from a sensitive variable) and ssl_cname on the ACI "
     "web_service; give the aks_compute ssl { status = \"Enabled\", leaf_domain_label = "
     "\"...\" } (or certificate, key and cname)",
     "web_service, aks_compute"},
    {"ACI-CMK", DIAG_ERROR, "error when partial; recommend with a CMK workspace",
     "an ACI deployment's customer-managed key needs the vault URL, key name and key version",
     "ACI deployments take a CMK through cmk_vault_base_url, cmk_key_name and cmk_key_version, "
     "all three or none; without them a CMK workspace's deployed models run on "
     "Microsoft-managed keys (Azure Machine Learning docs: Data encryption)",
     "set cmk_vault_base_url = key_vault.NAME.vault_uri, cmk_key_name and cmk_key_version on "
     "the web_service",
     "web_service, workspace"},
    {"AKS-CMK", DIAG_WARNING, "warn",
     "the AKS cluster of a CMK workspace should encrypt its disks with a customer-managed key",
     "AKS (1.17 and later) keeps its node disks under a customer-managed key through a disk "
     "encryption set, which is set when the cluster is created; a cluster the workspace creates "
     "itself has none, so a CMK workspace's models are served from disks under "
     "platform-managed keys (Azure Machine Learning docs: Data encryption)",
     "create the AKS cluster with a disk encryption set and attach it: aks_cluster \"NAME\" { "
     "disk_encryption_set_id = \"...\" } (or an existing one that has it) and aks_compute { "
     "cluster = aks_cluster.NAME }",
     "aks_compute, aks_cluster, workspace"},
    {"RBAC-SSH", DIAG_WARNING, "warn when SSH is enabled",
     "SSH access to compute is not governed by Azure RBAC",
     "SSH uses key pairs and bypasses Azure RBAC and its audit (Azure Machine Learning docs: "
     "Enterprise security and governance)",
     "remove the admin block / set ssh_public_access = false and "
     "remote_login_port_public_access = \"Disabled\"",
     "compute_cluster, compute_instance"},
    {"CI-PL-UNSUPPORTED", DIAG_WARNING, "warn",
     "compute instances and AKS web services are not supported with a Private Link workspace",
     "the 2020 edition lists the compute instance preview and AKS with Private Link as "
     "unsupported; use AKS in a VNet (Azure Machine Learning docs: Enterprise security and "
     "governance)",
     "use compute clusters and managed online endpoints with Private Link workspaces",
     "compute_instance, web_service, private_endpoint"},
    {"DS-SKIP-VALIDATION", DIAG_WARNING, "set automatically / warn",
     "datastores of a network-isolated workspace must skip validation",
     "in a VNet the service cannot reach blob, file, SQL or PostgreSQL storage to validate a "
     "datastore's credentials, so those datastores must skip validation; ADLS Gen1/Gen2 skip it "
     "by default; datasets need validate=False (Azure Machine Learning docs: Secure a workspace "
     "with virtual networks). amlsec sends ?skipValidation=true on the "
     "PUT of every datastore of a workspace with public network access off or a private "
     "endpoint, and warns when skip_validation = false overrides it",
     "remove skip_validation = false (amlsec then skips validation automatically)",
     "datastore, workspace, private_endpoint"},
    {"RBAC-VNET-JOIN", DIAG_ERROR, "pre-flight check",
     "the caller must be allowed to join the VNet and subnet a resource deploys into",
     "deploying into a VNet needs Microsoft.Network/virtualNetworks/join/action on the VNet and "
     "Microsoft.Network/virtualNetworks/subnets/join/action on the subnet (Azure Machine Learning "
     "docs: Secure a workspace with virtual networks). Checked by plan "
     "(not validate) before any write, through GET {scope}/providers/Microsoft.Authorization/"
     "permissions for the signed-in principal",
     "assign the caller a role with both actions (e.g. Network Contributor on the VNet), or "
     "deploy into a subnet it may join",
     "private_endpoint, compute_cluster, compute_instance, web_service"},
    {"WS-MI-PERMS", DIAG_WARNING, "drift check; warn when a change would remove a grant",
     "the workspace's managed identity must keep its grants",
     "a workspace's system-assigned identity holds Contributor on the workspace, Storage Blob "
     "Data Contributor on its storage, access to its Key Vault (Key Vault Administrator, or "
     "an access policy where the vault uses them), "
     "Contributor on its registry and on its resource group; revoking them breaks the workspace "
     "(Azure Machine Learning docs: Enterprise security and governance). Checked by plan (not "
     "validate) from the live role assignments of the "
     "identity",
     "restore the missing role assignment (or let Azure restore storage access with a key "
     "resync); do not delete role assignments of a workspace identity",
     "workspace, role_assignment"},
    {"WS-SUPPORT-APP", DIAG_NOTE, "inform in drift/unmanaged report",
     "workspaces with compute from before 2021-05-14 may have a support app with Contributor "
     "on the subscription",
     "compute created before 2021-05-14 may have left an Entra app Microsoft-AzureML-Support-"
     "App-... (or aml-...) with Contributor on the subscription; remove it only when no AKS "
     "cluster from before that date is attached (Azure Machine Learning docs: Enterprise security "
     "and governance). Checked by plan (not "
     "validate): the live workspace's systemData.createdAt is before 2021-05-14 and it has "
     "compute",
     "review the subscription's role assignments for that app and remove it if no pre-2021-05-14 "
     "AKS cluster is attached",
     "workspace"},
    {"SCAN", DIAG_NOTE, "recommend",
     "enable Microsoft Defender vulnerability scanning for the container registry",
     "the guidance recommends Microsoft Defender scanning of ACR (and AKS) images (Azure Machine "
     "Learning docs: Enterprise security and governance)",
     "add defender_plan \"containers\" { plan = \"Containers\" } (tier Standard)",
     "container_registry, defender_plan"},
    {NULL, DIAG_NOTE, NULL, NULL, NULL, NULL, NULL},
};

/* Rules checked by plan against the live cloud (engine/live_rules.c), not
 * by validate. */
static const char *const plan_time_rules[] = {"RBAC-VNET-JOIN", "WS-MI-PERMS", "WS-SUPPORT-APP",
                                              NULL};

static const char *checked_by(const char *id)
{
    for (const char *const *p = plan_time_rules; *p; p++)
        if (strcmp(*p, id) == 0)
            return "plan";
    return "validate";
}

const struct rule *rules_find(const char *id)
{
    for (const struct rule *r = rules_catalogue; r->id; r++)
        if (r->id[0] == id[0] && strcmp(r->id, id) == 0)
            return r;
    return NULL;
}

/* ---- context ---------------------------------------------------------- */

/* The instances by id, case-insensitively (open addressing): the first
 * instance of an id wins, as configuration order has it. Eight bytes a
 * slot: the id is the instance's (rctx.idof), compared when the tag (the
 * hash's high half) matches. */
struct id_slot {
    uint32_t tag;
    uint32_t idx1; /* the instance's index + 1; 0: empty */
};

/* An instance's value (what a reference to it evaluates to, shared by the
 * attributes that refer to it) and the instance its id finds. */
struct value_slot {
    const json_t *value; /* NULL: empty */
    uint32_t idx;
};

/* A reference while the index is built: instance `from` points at
 * instance `target` through ref_attrs[attr]. */
struct ref_edge {
    uint32_t target, from;
    uint8_t attr;
};

/* A role assignment under its principal: the address of the identity whose
 * principal_id it reads (known after apply), else the principal's object id. */
struct ra_key {
    const char *who;
    const struct cfg_instance *ra;
};

struct rctx {
    const struct config *cfg;
    struct diag_list *diags;
    size_t errors;
    const struct cfg_instance **insts;
    size_t n;
    /* per instance, from one pass over the resources (their structs are
     * read once, not per check): its kind in the catalogue (NULL: none)
     * and whether it is an existing lookup */
    const struct schema_kind **kinds;
    unsigned char *existing;
    unsigned char *checked;  /* per instance: its enum checked_kind */
    size_t *base;            /* per resource of cfg: the index of its first instance */
    const char **idof;       /* per instance: its id, or NULL */
    struct id_slot *ids;     /* hash table of the instances' ids */
    size_t ids_cap;          /* a power of two, at least twice the ids */
    struct value_slot *vals; /* hash table of the values of the instances with an id, */
                             /* ids_cap slots: a reference is found without its id */
    uint32_t *ref_off;       /* per instance: where its referrers start in ref_from, */
    uint32_t *ref_from;      /* ... each the referrer's index * 8 + its ref_attrs entry, */
                             /* in configuration order */
    size_t index_bytes;      /* what the tables above take */
    struct {                 /* schema defaults eff() made, by their text: each made once */
        const char *text;
        json_t *value;
    } defaults[16];
    size_t ndefaults;
    struct ra_key *ras; /* the role assignments by principal (CMK-IDENTITY, WS-UAI-GRANTS) */
    size_t nras;
};

enum tri { T_UNKNOWN, T_FALSE, T_TRUE };

static const char *inst_id(const struct cfg_instance *inst)
{
    const json_t *v, *id;
    /* recorded by evaluation: no look-up in a value long out of cache (nor
     * a value made for it: an instance without one has no string id) */
    if (inst->id || inst->unvalued)
        return inst->id;
    v = config_instance_value_made(inst); /* made: not unvalued */
    id = json_is_object(v) ? json_object_get(v, "id") : NULL;
    return json_is_string(id) ? json_string_value(id) : NULL;
}

/* What a reference to inst evaluates to: validate makes some instances'
 * values only when they are read (config_instance_value). */
static const json_t *ivalue(const struct rctx *c, const struct cfg_instance *inst)
{
    return config_instance_value(c->cfg, inst);
}

/* inst's value's name: an instance whose value is not made yet needs none
 * made to say it when its name is given (its value takes that string). */
static const json_t *iname(const struct rctx *c, const struct cfg_instance *inst)
{
    const json_t *given = inst->unvalued ? json_object_get(inst->attrs, "name") : NULL;
    return json_is_string(given) ? given : json_object_get(ivalue(c, inst), "name");
}

static const char *inst_kind(const struct cfg_instance *inst)
{
    return inst->resource->kind;
}

static bool is_kind(const struct cfg_instance *inst, const char *kind)
{
    return strcmp(inst->resource->kind, kind) == 0;
}

/* is_kind of c->insts[i], from the catalogue's kind (a name in cache). */
static bool kind_is(const struct rctx *c, size_t i, const char *kind)
{
    return c->kinds[i] ? strcmp(c->kinds[i]->name, kind) == 0 : is_kind(c->insts[i], kind);
}

/* Eight bytes folded to lower case as the C locale's tolower does (ASCII
 * letters only), all at once. */
static uint64_t fold8(uint64_t w)
{
    const uint64_t high = 0x8080808080808080ULL, ones = 0x0101010101010101ULL;
    uint64_t seven = w & ~high;
    uint64_t ge_a = seven + ones * (0x80 - 'A'), gt_z = seven + ones * (0x7f - 'Z');
    return w | (((ge_a ^ gt_z) & ~w & high) >> 2);
}

/* A hash of the id folded to lower case (ARM ids compare without case),
 * eight bytes a step: the ids are long and share their prefixes. */
static uint64_t id_hash(const char *id)
{
    size_t n = strlen(id);
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ n, w;
    for (; n >= 8; n -= 8, id += 8) {
        memcpy(&w, id, 8);
        h = (h ^ fold8(w)) * 0xff51afd7ed558ccdULL;
        h ^= h >> 32;
    }
    w = 0;
    memcpy(&w, id, n);
    h = (h ^ fold8(w)) * 0xc4ceb9fe1a85ec53ULL;
    return h ^ (h >> 29);
}

/* The index of the first instance whose id is id, or -1 (hash look-up). */
static long find_idx(const struct rctx *c, const char *id)
{
    uint64_t h;
    size_t i;
    if (c->ids_cap == 0)
        return -1;
    h = id_hash(id);
    for (i = (size_t)h & (c->ids_cap - 1); c->ids[i].idx1; i = (i + 1) & (c->ids_cap - 1))
        if (c->ids[i].tag == (uint32_t)(h >> 32) &&
            strcasecmp(c->idof[c->ids[i].idx1 - 1], id) == 0)
            return (long)c->ids[i].idx1 - 1;
    return -1;
}

static size_t value_hash(const json_t *v)
{
    uint64_t h = (uint64_t)(uintptr_t)v * 0x9e3779b97f4a7c15ULL;
    return (size_t)(h ^ (h >> 29));
}

/* The index of the first instance with the id of the instance whose value
 * v is, or -1 when v is not such a value. */
static long find_value(const struct rctx *c, const json_t *v)
{
    if (c->vals == NULL)
        return -1;
    for (size_t i = value_hash(v) & (c->ids_cap - 1); c->vals[i].value;
         i = (i + 1) & (c->ids_cap - 1))
        if (c->vals[i].value == v)
            return (long)c->vals[i].idx;
    return -1;
}

/* The index of the instance a reference (object or id string) names, or
 * -1: a reference to an instance is that instance's value, found by its
 * address (its id, read from memory long out of cache, is not needed);
 * anything else by its id. */
static long ref_idx(const struct rctx *c, const json_t *ref)
{
    long idx = find_value(c, ref);
    const json_t *id;
    if (idx >= 0)
        return idx;
    id = schema_ref_id(ref);
    return json_is_string(id) ? find_idx(c, json_string_value(id)) : -1;
}

/* The index of inst in c->insts, or -1 when it has no id (nothing can
 * refer to it). */
static long inst_idx(const struct rctx *c, const struct cfg_instance *inst)
{
    const struct cfg_resource *r = inst->resource;
    size_t i = c->base[r - c->cfg->resources] + (size_t)(inst - r->instances);
    return c->idof[i] ? (long)i : -1;
}

/* The instance a reference (object or id string) names, or NULL. */
static const struct cfg_instance *resolve_ref(const struct rctx *c, const json_t *ref)
{
    long idx = ref_idx(c, ref);
    return idx < 0 ? NULL : c->insts[idx];
}

static const json_t *get_path(const json_t *root, const char *path)
{
    return schema_json_get(root, path);
}

/* The effective value of an attribute path: configured, else the schema
 * default. Existing lookups read their value (unknown until plan). New
 * reference or NULL. */
/* Whether render sends the blocks enclosing path: a nested block left out
 * is not sent, defaults and all, unless the catalogue always sends it
 * (SF_ALWAYS). Rules judge what is sent, not the defaults of a block that
 * is absent (network_rules.default_action of a registry without
 * network_rules is not "Deny": no network rule set is sent at all). */
static bool blocks_sent(const struct schema_kind *k, const json_t *attrs, const char *path)
{
    char prefix[256];
    for (const char *dot = strchr(path, '.'); dot; dot = strchr(dot + 1, '.')) {
        size_t n = (size_t)(dot - path);
        const struct schema_attr *b;
        if (n >= sizeof(prefix))
            return true;
        memcpy(prefix, path, n);
        prefix[n] = '\0';
        b = schema_attr_find(k, prefix);
        if (b && b->type == ST_BLOCK && !(b->flags & SF_ALWAYS) && get_path(attrs, prefix) == NULL)
            return false;
    }
    return true;
}

/* What render sends for path, read in place: the attribute, or NULL with
 * *def the JSON text of the schema default it takes (NULL: nothing is
 * sent); *unknown for an existing lookup's missing value. Defaults are
 * text in the catalogue: the checks below read "true", "false" and plain
 * strings from it without making a value of them. */
static const json_t *eff_peek(const struct cfg_instance *inst, const char *path, const char **def,
                              bool *unknown)
{
    const struct schema_kind *k = schema_find(inst_kind(inst));
    const struct schema_attr *a;
    const json_t *v;
    *def = NULL;
    *unknown = false;
    if (inst->resource->existing) {
        /* an existing lookup's is always made */
        v = get_path(config_instance_value_made(inst), path);
        *unknown = v == NULL;
        return v;
    }
    a = k ? schema_attr_find(k, path) : NULL;
    v = get_path(inst->attrs, path);
    if (v == NULL && k && !blocks_sent(k, inst->attrs, path))
        return NULL;
    if (a == NULL || (v != NULL && !json_is_null(v)))
        return v;
    *def = a->def; /* as schema_effective: a null takes the default too */
    return NULL;
}

/* The value render sends for path (the attribute, else its default), NULL
 * when nothing is sent; unknown for an existing lookup's missing value.
 * New reference: a default is made once per run and shared (read only). */
static json_t *eff(struct rctx *c, const struct cfg_instance *inst, const char *path)
{
    const char *def;
    bool unknown;
    const json_t *v = eff_peek(inst, path, &def, &unknown);
    json_t *made;
    if (unknown)
        return value_unknown();
    if (v)
        return json_incref((json_t *)v);
    if (def == NULL)
        return NULL;
    for (size_t i = 0; i < c->ndefaults; i++)
        if (c->defaults[i].text == def)
            return json_incref(c->defaults[i].value);
    made = json_loads(def, JSON_DECODE_ANY, NULL);
    if (made && c->ndefaults < sizeof(c->defaults) / sizeof(c->defaults[0])) {
        c->defaults[c->ndefaults].text = def;
        c->defaults[c->ndefaults++].value = json_incref(made);
    }
    return made;
}

static enum tri tri_of(const json_t *v)
{
    return json_is_true(v) ? T_TRUE : json_is_false(v) ? T_FALSE : T_UNKNOWN;
}

static enum tri eff_bool(const struct cfg_instance *inst, const char *path)
{
    const char *def;
    bool unknown;
    const json_t *v = eff_peek(inst, path, &def, &unknown);
    enum tri t;
    json_t *parsed;
    if (v || def == NULL)
        return tri_of(v);
    if (strcmp(def, "true") == 0)
        return T_TRUE;
    if (strcmp(def, "false") == 0)
        return T_FALSE;
    parsed = json_loads(def, JSON_DECODE_ANY, NULL);
    t = tri_of(parsed);
    json_decref(parsed);
    return t;
}

/* Compares the effective string (enum-folded) with want: T_TRUE when equal. */
static enum tri eff_is(const struct cfg_instance *inst, const char *path, const char *want)
{
    const char *allowed[] = {want, NULL};
    const char *def;
    bool unknown;
    const json_t *v = eff_peek(inst, path, &def, &unknown);
    size_t n = def ? strlen(def) : 0;
    char plain[128];
    enum tri t = T_UNKNOWN;
    json_t *parsed;
    if (v || def == NULL)
        return json_is_string(v)
                   ? (schema_enum_match(allowed, json_string_value(v)) ? T_TRUE : T_FALSE)
                   : T_UNKNOWN;
    /* a default written as a plain JSON string: its text between the quotes */
    if (n >= 2 && n - 2 < sizeof(plain) && def[0] == '"' && def[n - 1] == '"' &&
        memchr(def + 1, '"', n - 2) == NULL && memchr(def + 1, '\\', n - 2) == NULL) {
        memcpy(plain, def + 1, n - 2);
        plain[n - 2] = '\0';
        return schema_enum_match(allowed, plain) ? T_TRUE : T_FALSE;
    }
    parsed = json_loads(def, JSON_DECODE_ANY, NULL);
    if (json_is_string(parsed))
        t = schema_enum_match(allowed, json_string_value(parsed)) ? T_TRUE : T_FALSE;
    json_decref(parsed);
    return t;
}

static const struct cfg_instance *ref_attr(const struct rctx *c, const struct cfg_instance *inst,
                                           const char *path)
{
    return resolve_ref(c, get_path(inst->attrs, path));
}

/* The instances of `kind` pointing at target through attribute attr, in
 * configuration order, into out (at most max); returns how many. */
/* Attributes that make one resource point at another (for referrers()). */
static const char *const ref_attrs[] = {
    "target", "workspace", "container_registry", "storage_account", "scope", "endpoint", NULL};
#define NREF_ATTRS 6
_Static_assert(NREF_ATTRS <= 8, "ref_from holds an attribute in three bits");

/* The position of attr in ref_attrs, or -1. */
static int ref_attr_find(const char *attr)
{
    for (int i = 0; ref_attrs[i]; i++)
        if (ref_attrs[i][0] == attr[0] && strcmp(ref_attrs[i], attr) == 0)
            return i;
    return -1;
}

static int ref_attr_index(const char *attr)
{
    int i = ref_attr_find(attr);
    if (i < 0)
        BUG("'%s' is not an indexed reference attribute", attr);
    return i;
}

static size_t referrers(const struct rctx *c, const struct cfg_instance *target, const char *kind,
                        const char *attr, const struct cfg_instance **out, size_t max)
{
    long t = target ? inst_idx(c, target) : -1;
    uint32_t a;
    size_t n = 0;
    if (t < 0)
        return 0;
    a = (uint32_t)ref_attr_index(attr);
    for (size_t i = c->ref_off[t]; i < c->ref_off[t + 1]; i++) {
        const struct cfg_instance *x;
        if ((c->ref_from[i] & 7) != a || !kind_is(c, c->ref_from[i] >> 3, kind))
            continue;
        x = c->insts[c->ref_from[i] >> 3];
        {
            if (out && n < max)
                out[n] = x;
            n++;
        }
    }
    return n;
}

/* Is some instance of `kind` pointing at target through attribute attr? */
static bool pointed_at(const struct rctx *c, const char *kind, const char *attr,
                       const struct cfg_instance *target)
{
    return referrers(c, target, kind, attr, NULL, 0) > 0;
}

/* Builds the id table and the referrer lists (a counting sort of the
 * references by target: linear in the instances). The tables take a few
 * bytes per instance and per reference, so few pages are touched. */
static int index_build(struct rctx *c)
{
    struct ref_edge *edges = NULL;
    size_t nrefs = 0, cap = 0;
    if (c->n >= UINT32_MAX / 8)
        return AMLSEC_ENOMEM;
    c->base = calloc(c->cfg->nresources ? c->cfg->nresources : 1, sizeof(*c->base));
    c->idof = calloc(c->n ? c->n : 1, sizeof(*c->idof));
    c->ids_cap = 16;
    while (c->ids_cap < 2 * c->n)
        c->ids_cap *= 2;
    c->ids = calloc(c->ids_cap, sizeof(*c->ids));
    c->vals = calloc(c->ids_cap, sizeof(*c->vals));
    c->ref_off = calloc(c->n + 2, sizeof(*c->ref_off));
    if (c->base == NULL || c->idof == NULL || c->ids == NULL || c->vals == NULL ||
        c->ref_off == NULL)
        return AMLSEC_ENOMEM;
    c->index_bytes = c->cfg->nresources * sizeof(*c->base) + c->n * sizeof(*c->idof) +
                     c->ids_cap * (sizeof(*c->ids) + sizeof(*c->vals)) +
                     (c->n + 2) * sizeof(*c->ref_off);
    for (size_t r = 0, i = 0; r < c->cfg->nresources; i += c->cfg->resources[r++].ninstances)
        c->base[r] = i;
    for (size_t i = 0; i < c->n; i++) {
        const json_t *val;
        const char *id;
        uint64_t h;
        size_t j;
        /* the instances and their ids are long out of cache: ask for them
         * a few instances ahead, so the misses overlap */
        if (i + 16 < c->n)
            __builtin_prefetch(c->insts[i + 16]);
        if (i + 8 < c->n && c->insts[i + 8]->id)
            __builtin_prefetch(c->insts[i + 8]->id);
        id = c->idof[i] = inst_id(c->insts[i]);
        if (id == NULL)
            continue;
        h = id_hash(id);
        for (j = (size_t)h & (c->ids_cap - 1); c->ids[j].idx1; j = (j + 1) & (c->ids_cap - 1))
            if (c->ids[j].tag == (uint32_t)(h >> 32) &&
                strcasecmp(c->idof[c->ids[j].idx1 - 1], id) == 0)
                break;
        if (c->ids[j].idx1 == 0) /* the first of equal ids stays */
            c->ids[j] = (struct id_slot){(uint32_t)(h >> 32), (uint32_t)i + 1};
        /* what a reference shares: one not made yet, nothing does */
        if ((val = config_instance_value_made(c->insts[i])) != NULL) {
            size_t v = value_hash(val) & (c->ids_cap - 1);
            while (c->vals[v].value)
                v = (v + 1) & (c->ids_cap - 1);
            c->vals[v] = (struct value_slot){val, c->ids[j].idx1 - 1};
        }
    }
    for (size_t i = 0; i < c->n; i++) {
        const struct cfg_instance *x = c->insts[i];
        const char *key;
        json_t *v;
        if (i + 8 < c->n)
            __builtin_prefetch(c->insts[i + 8]->attrs);
        if (!json_is_object(x->attrs))
            continue;
        /* one pass over the attributes: fewer look-ups than one per ref_attrs entry */
        json_object_foreach(x->attrs, key, v)
        {
            int a = ref_attr_find(key);
            long t = a >= 0 ? ref_idx(c, v) : -1;
            if (t < 0)
                continue;
            if (nrefs == cap) {
                struct ref_edge *more;
                cap = cap ? 2 * cap : 1024;
                more = realloc(edges, cap * sizeof(*edges));
                if (more == NULL) {
                    free(edges);
                    return AMLSEC_ENOMEM;
                }
                edges = more;
            }
            edges[nrefs++] = (struct ref_edge){(uint32_t)t, (uint32_t)i, (uint8_t)a};
            c->ref_off[t + 2]++;
        }
    }
    /* ref_off[t + 1] is where t's referrers go while they are placed, and
     * then where t + 1's start: each list keeps the order of its referrers */
    for (size_t t = 0; t < c->n; t++)
        c->ref_off[t + 2] += c->ref_off[t + 1];
    c->ref_from = malloc((nrefs ? nrefs : 1) * sizeof(*c->ref_from));
    if (c->ref_from == NULL) {
        free(edges);
        return AMLSEC_ENOMEM;
    }
    for (size_t k = 0; k < nrefs; k++)
        c->ref_from[c->ref_off[edges[k].target + 1]++] = edges[k].from * 8 + edges[k].attr;
    c->index_bytes += cap * sizeof(*edges) + nrefs * sizeof(*c->ref_from);
    free(edges);
    return 0;
}

static void index_release(struct rctx *c)
{
    for (size_t i = 0; i < c->ndefaults; i++)
        json_decref(c->defaults[i].value);
    free(c->ref_from);
    free(c->ref_off);
    free(c->ids);
    free(c->vals);
    free(c->idof);
    free(c->base);
}

/* ---- findings --------------------------------------------------------- */

static const struct cfg_suppression *suppressed(const struct cfg_instance *inst, const char *id)
{
    const struct cfg_lifecycle *lc = &inst->resource->lifecycle;
    for (size_t i = 0; i < lc->nignore_rules; i++)
        if (lc->ignore_rules[i].rule && strcmp(lc->ignore_rules[i].rule, id) == 0)
            return &lc->ignore_rules[i];
    return NULL;
}

/* "why: " and each rule's why, made once: every finding of a rule shares
 * its text (18,000 findings at 50,000 resources copied 17 MB of it). */
static char **why_notes;
static pthread_once_t why_once = PTHREAD_ONCE_INIT;

static void why_notes_make(void)
{
    size_t n = 0;
    for (const struct rule *r = rules_catalogue; r->id; r++)
        n++;
    why_notes = calloc(n ? n : 1, sizeof(*why_notes));
    for (size_t i = 0; why_notes && i < n; i++) {
        size_t len = strlen(rules_catalogue[i].why) + sizeof("why: ");
        if ((why_notes[i] = malloc(len)) != NULL)
            snprintf(why_notes[i], len, "why: %s", rules_catalogue[i].why);
    }
}

/* A finding's hint (the rule's fix) and its note (why), as the rule's own
 * text; copies only when that text could not be made. */
static void finding_explain(struct diag *d, const struct rule *r)
{
    const char *why;
    struct src_loc none = {0};
    pthread_once(&why_once, why_notes_make);
    why = why_notes ? why_notes[r - rules_catalogue] : NULL;
    diag_set_hint_text(d, r->fix);
    if (why)
        diag_add_note_text(d, &none, why);
    else
        diag_add_note(d, &none, "why: %s", r->why);
}

/* Reports a finding of rule id on inst at loc (severity from the rule
 * unless sev >= 0). Returns the diagnostic for extra notes, or NULL. */
static struct diag *vfinding(struct rctx *c, const char *id, int sev,
                             const struct cfg_instance *inst, const struct src_loc *loc,
                             const char *fmt, va_list ap)
{
    const struct rule *r = rules_find(id);
    char msg[1024];
    struct diag *d;
    enum diag_severity s;
    if (r == NULL)
        BUG("rule '%s' is not in the catalogue", id);
    if (inst && suppressed(inst, id))
        return NULL;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    if (diag_list_has(c->diags, loc, id, msg))
        return NULL;
    s = sev >= 0 ? (enum diag_severity)sev : r->severity;
    d = diag_add(c->diags, s, loc, id, "%s", msg);
    if (d == NULL)
        return NULL;
    if (s == DIAG_ERROR)
        c->errors++;
    finding_explain(d, r);
    return d;
}

__attribute__((format(printf, 5, 6))) static struct diag *finding(struct rctx *c, const char *id,
                                                                  const struct cfg_instance *inst,
                                                                  const char *path, const char *fmt,
                                                                  ...)
{
    struct src_loc loc = config_attr_loc(inst, path);
    va_list ap;
    struct diag *d;
    va_start(ap, fmt);
    d = vfinding(c, id, -1, inst, &loc, fmt, ap);
    va_end(ap);
    return d;
}

__attribute__((format(printf, 6, 7))) static struct diag *
finding_sev(struct rctx *c, const char *id, enum diag_severity sev, const struct cfg_instance *inst,
            const char *path, const char *fmt, ...)
{
    struct src_loc loc = config_attr_loc(inst, path);
    va_list ap;
    struct diag *d;
    va_start(ap, fmt);
    d = vfinding(c, id, (int)sev, inst, &loc, fmt, ap);
    va_end(ap);
    return d;
}

struct diag *rules_report(struct diag_list *diags, const char *id, int sev,
                          const struct cfg_instance *inst, const char *path, const char *fmt, ...)
{
    struct rctx c = {.diags = diags};
    struct src_loc loc = config_attr_loc(inst, path ? path : "");
    va_list ap;
    struct diag *d;
    va_start(ap, fmt);
    d = vfinding(&c, id, sev, inst, &loc, fmt, ap);
    va_end(ap);
    return d;
}

static void note_at(struct diag *d, const struct cfg_instance *inst, const char *path,
                    const char *what)
{
    struct src_loc loc;
    if (d == NULL || inst == NULL || inst->resource->block == NULL)
        return;
    loc = config_attr_loc(inst, path);
    diag_add_note(d, &loc, "%s", what);
}

/* ---- workspace rules ------------------------------------------------- */

static bool has_version(const char *uri)
{
    /* https://vault.vault.azure.net[:443]/keys/NAME/VERSION (32 hex) */
    const char *k = strstr(uri, "/keys/");
    const char *v;
    size_t n = 0;
    if (k == NULL)
        return false;
    k += 6;
    v = strchr(k, '/');
    if (v == NULL)
        return false;
    v++;
    while (isxdigit((unsigned char)v[n]))
        n++;
    return n == 32 && (v[n] == '\0' || v[n] == '/');
}

static void location_fold(char *out, size_t outsz, const char *s)
{
    size_t n = 0;
    for (; *s && n + 1 < outsz; s++)
        if (!isspace((unsigned char)*s))
            out[n++] = (char)tolower((unsigned char)*s);
    out[n] = '\0';
}

/* The CMK vault instance of a workspace, and the attribute path naming it. */
static const struct cfg_instance *cmk_vault(const struct rctx *c, const struct cfg_instance *ws,
                                            const char **path)
{
    const struct cfg_instance *key = ref_attr(c, ws, "encryption.key");
    if (key) {
        *path = "encryption.key";
        return ref_attr(c, key, "vault");
    }
    *path = "encryption.key_vault";
    return ref_attr(c, ws, "encryption.key_vault");
}

static void rule_cmk(struct rctx *c, const struct cfg_instance *ws)
{
    const json_t *enc = get_path(ws->attrs, "encryption");
    const json_t *key, *kv, *uri;
    const struct cfg_instance *vault;
    const char *vpath;
    if (!json_is_object(enc))
        return;
    key = json_object_get(enc, "key");
    kv = json_object_get(enc, "key_vault");
    uri = json_object_get(enc, "key_uri");
    if (key == NULL) {
        if (kv == NULL && uri == NULL)
            finding(c, "WS-CMK-PAIR", ws, "encryption",
                    "%s: encryption names neither a key nor a key_vault and key_uri", ws->address);
        else if (kv == NULL)
            finding(c, "WS-CMK-PAIR", ws, "encryption.key_uri",
                    "%s: encryption.key_uri is set without encryption.key_vault", ws->address);
        else if (uri == NULL)
            finding(c, "WS-CMK-PAIR", ws, "encryption.key_vault",
                    "%s: encryption.key_vault is set without encryption.key_uri", ws->address);
        else if (json_is_string(uri) && !has_version(json_string_value(uri)))
            finding(c, "WS-CMK-PAIR", ws, "encryption.key_uri",
                    "%s: encryption.key_uri '%s' has no key version", ws->address,
                    json_string_value(uri));
    } else if (kv != NULL || uri != NULL) {
        finding(c, "WS-CMK-PAIR", ws, kv ? "encryption.key_vault" : "encryption.key_uri",
                "%s: encryption sets both key and %s", ws->address, kv ? "key_vault" : "key_uri");
    }

    vault = cmk_vault(c, ws, &vpath);
    if (vault) {
        const json_t *wl = json_object_get(ivalue(c, ws), "location");
        const json_t *vl = json_object_get(ivalue(c, vault), "location");
        const char *wid = inst_id(ws), *vid = inst_id(vault);
        char a[128], b[128], sa[64], sb[64];
        if (json_is_string(wl) && json_is_string(vl)) {
            location_fold(a, sizeof(a), json_string_value(wl));
            location_fold(b, sizeof(b), json_string_value(vl));
            if (strcmp(a, b) != 0) {
                struct diag *d = finding(
                    c, "WS-CMK-REGION", ws, vpath, "%s is in '%s' but its CMK vault %s is in '%s'",
                    ws->address, json_string_value(wl), vault->address, json_string_value(vl));
                note_at(d, vault, "location", "the vault's location");
            }
        }
        if (wid && vid && resolve_sub_of(wid, sa, sizeof(sa)) &&
            resolve_sub_of(vid, sb, sizeof(sb)) && strcasecmp(sa, sb) != 0) {
            struct diag *d = finding(c, "WS-CMK-REGION", ws, vpath,
                                     "%s is in subscription '%s' but its CMK vault %s is in '%s'",
                                     ws->address, sa, vault->address, sb);
            note_at(d, vault, "name", "the vault");
        }
        if (eff_bool(vault, "soft_delete") == T_FALSE) {
            struct diag *d = finding(c, "WS-CMK-KV-PROTECT", ws, vpath,
                                     "CMK vault %s of %s does not have soft delete", vault->address,
                                     ws->address);
            note_at(d, vault, "soft_delete", "soft delete is off here");
        }
        if (eff_bool(vault, "purge_protection") == T_FALSE) {
            struct diag *d = finding(c, "WS-CMK-KV-PROTECT", ws, vpath,
                                     "CMK vault %s of %s does not have purge protection",
                                     vault->address, ws->address);
            note_at(d, vault, "purge_protection", "purge protection is off here");
        }
    }
    finding(c, "WS-CMK-RP", ws, "encryption",
            "%s uses a customer-managed key: Microsoft.DocumentDB must be registered and a "
            "Cosmos DB is created in the subscription",
            ws->address);
}

/* Is a resource private: public access off (per its schema default), or
 * reachable through a private endpoint? */
static enum tri is_public(const struct rctx *c, const struct cfg_instance *inst)
{
    enum tri pna = eff_bool(inst, "public_network_access");
    (void)c;
    if (pna == T_TRUE && is_kind(inst, "storage_account") &&
        eff_is(inst, "network_rules.default_action", "Deny") == T_TRUE)
        return T_FALSE;
    if (pna == T_TRUE && is_kind(inst, "key_vault") &&
        eff_is(inst, "network_acls.default_action", "Deny") == T_TRUE)
        return T_FALSE;
    return pna;
}

static bool behind_vnet(const struct rctx *c, const struct cfg_instance *acr)
{
    return eff_bool(acr, "public_network_access") == T_FALSE ||
           eff_is(acr, "network_rules.default_action", "Deny") == T_TRUE ||
           pointed_at(c, "private_endpoint", "target", acr);
}

static void rule_private(struct rctx *c, const struct cfg_instance *ws)
{
    static const char *const assoc[] = {"storage_account", "key_vault", "container_registry", NULL};
    enum tri pna = eff_bool(ws, "public_network_access");
    bool pe = pointed_at(c, "private_endpoint", "target", ws);
    if (pna == T_TRUE) {
        finding(c, "WS-PRIVATE", ws, "public_network_access", "%s allows public network access",
                ws->address);
        return;
    }
    if (pna == T_FALSE && !pe)
        finding(c, "WS-PRIVATE", ws, "public_network_access",
                "%s disables public access but no private_endpoint targets it", ws->address);
    if (pna != T_FALSE)
        return;
    for (const char *const *a = assoc; *a; a++) {
        const struct cfg_instance *r = ref_attr(c, ws, *a);
        if (r && is_public(c, r) == T_TRUE) {
            struct diag *d = finding_sev(c, "WS-PRIVATE", DIAG_WARNING, ws, *a,
                                         "%s is private but its %s %s allows public network "
                                         "access",
                                         ws->address, *a, r->address);
            note_at(d, r, "public_network_access", "public access is allowed here");
        }
    }
}

static void rule_diag(struct rctx *c, const struct cfg_instance *ws)
{
    if (!pointed_at(c, "diagnostic_setting", "target", ws))
        finding(c, "WS-DIAG", ws, "name", "no diagnostic_setting sends the logs of %s",
                ws->address);
}

/* Does an FQDN destination ("pypi.org", "*.pythonhosted.org") cover host? */
static bool fqdn_covers(const char *dest, const char *host)
{
    size_t dn, hn = strlen(host);
    if (strncmp(dest, "*.", 2) == 0) {
        dest += 1; /* ".pythonhosted.org" */
        dn = strlen(dest);
        return hn > dn && strcasecmp(host + hn - dn, dest) == 0;
    }
    return strcasecmp(dest, host) == 0;
}

/* ACR-VNET-BUILD in a managed network that allows only approved outbound
 * traffic: the image build's package feeds need FQDN rules. */
static void rule_build_feeds(struct rctx *c, const struct cfg_instance *ws)
{
    static const char *const feeds[] = {"pypi.org", "files.pythonhosted.org", "conda.anaconda.org",
                                        NULL};
    const json_t *rules = get_path(ws->attrs, "managed_network.outbound_rules");
    char missing[256] = "";
    size_t n = 0;
    if (eff_is(ws, "managed_network.isolation_mode", "AllowOnlyApprovedOutbound") != T_TRUE ||
        value_is_unknown(rules))
        return;
    for (const char *const *f = feeds; *f; f++) {
        const char *name;
        const json_t *r;
        bool ok = false;
        json_object_foreach((json_t *)rules, name, r)
        {
            const json_t *t = json_object_get(r, "type"), *d = json_object_get(r, "destination");
            const char *type = json_string_value(t), *dest = json_string_value(d);
            /* a rule known only after apply might be the one: say nothing */
            if (value_is_unknown(r) || value_is_unknown(t) || value_is_unknown(d))
                return;
            ok = ok || (type && dest && strcasecmp(type, "FQDN") == 0 && fqdn_covers(dest, *f));
        }
        if (!ok) {
            size_t len = strlen(missing);
            snprintf(missing + len, sizeof(missing) - len, "%s%s", n++ ? ", " : "", *f);
        }
    }
    if (n)
        finding_sev(c, "ACR-VNET-BUILD", DIAG_WARNING, ws,
                    rules ? "managed_network.outbound_rules" : "managed_network.isolation_mode",
                    "%s allows only approved outbound traffic but no FQDN outbound rule lets its "
                    "image build reach %s",
                    ws->address, missing);
}

static void rule_acr(struct rctx *c, const struct cfg_instance *ws)
{
    const struct cfg_instance *acr = ref_attr(c, ws, "container_registry");
    const json_t *ibc;
    if (acr == NULL)
        return;
    if (eff_bool(acr, "admin_user") == T_FALSE) {
        struct diag *d = finding(c, "ACR-ADMIN", ws, "container_registry",
                                 "the container registry %s of %s has no admin account",
                                 acr->address, ws->address);
        note_at(d, acr, "admin_user", "the registry");
    }
    if (acr->resource->existing || !behind_vnet(c, acr))
        return;
    ibc = get_path(ws->attrs, "image_build_compute");
    if (ibc == NULL) {
        struct diag *d = finding(c, "ACR-VNET-BUILD", ws, "container_registry",
                                 "%s uses the network-isolated registry %s but sets no "
                                 "image_build_compute",
                                 ws->address, acr->address);
        note_at(d, acr, "public_network_access", "the registry is isolated here");
    } else if (json_is_string(ibc)) {
        bool found = false;
        size_t nb = referrers(c, ws, "compute_cluster", "workspace", NULL, 0);
        const struct cfg_instance **cl = calloc(nb ? nb : 1, sizeof(*cl));
        if (cl == NULL)
            return;
        referrers(c, ws, "compute_cluster", "workspace", cl, nb);
        for (size_t i = 0; i < nb && !found; i++) {
            const json_t *nm = iname(c, cl[i]);
            found =
                json_is_string(nm) && strcmp(json_string_value(nm), json_string_value(ibc)) == 0;
        }
        free(cl);
        if (!found)
            finding_sev(c, "ACR-VNET-BUILD", DIAG_WARNING, ws, "image_build_compute",
                        "image_build_compute '%s' of %s names no compute_cluster of this "
                        "workspace in the configuration",
                        json_string_value(ibc), ws->address);
    }
}

/* NET-SAME-SUBNET: one subnet for the workspace's compute and private endpoints. */
struct subnet_use {
    const struct cfg_instance *inst;
    const char *id;
    size_t idx;
};

static int cmp_use(const void *a, const void *b)
{
    const struct subnet_use *x = a, *y = b;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static size_t add_uses(const struct rctx *c, struct subnet_use *uses, size_t n, size_t cap,
                       const struct cfg_instance *target, const char *kind, const char *attr)
{
    size_t k = referrers(c, target, kind, attr, NULL, 0);
    const struct cfg_instance **v = calloc(k ? k : 1, sizeof(*v));
    if (v == NULL)
        return n;
    referrers(c, target, kind, attr, v, k);
    for (size_t i = 0; i < k; i++) {
        const json_t *sn = schema_ref_id(get_path(v[i]->attrs, "subnet"));
        bool dup = false;
        for (size_t j = 0; j < n && !dup; j++)
            dup = uses[j].inst == v[i];
        if (!json_is_string(sn) || dup || n >= cap)
            continue;
        uses[n].inst = v[i];
        uses[n].id = json_string_value(sn);
        uses[n].idx = (size_t)inst_idx(c, v[i]);
        n++;
    }
    free(v);
    return n;
}

static void rule_subnet(struct rctx *c, const struct cfg_instance *ws)
{
    const struct cfg_instance *st = ref_attr(c, ws, "storage_account");
    const struct cfg_instance *acr = ref_attr(c, ws, "container_registry");
    size_t cap = referrers(c, ws, "compute_cluster", "workspace", NULL, 0) +
                 referrers(c, ws, "private_endpoint", "target", NULL, 0) +
                 (st ? referrers(c, st, "private_endpoint", "target", NULL, 0) : 0) +
                 (acr ? referrers(c, acr, "private_endpoint", "target", NULL, 0) : 0);
    struct subnet_use *uses = calloc(cap ? cap : 1, sizeof(*uses));
    size_t n = 0, best = 0, best_count = 0;
    if (uses == NULL)
        return;
    n = add_uses(c, uses, n, cap, ws, "compute_cluster", "workspace");
    n = add_uses(c, uses, n, cap, ws, "private_endpoint", "target");
    if (st)
        n = add_uses(c, uses, n, cap, st, "private_endpoint", "target");
    if (acr)
        n = add_uses(c, uses, n, cap, acr, "private_endpoint", "target");
    qsort(uses, n, sizeof(*uses), cmp_use);
    /* The subnet most of them use is the reference; the others are reported. */
    for (size_t i = 0; i < n; i++) {
        size_t count = 0;
        for (size_t j = 0; j < n; j++)
            count += strcasecmp(uses[i].id, uses[j].id) == 0;
        if (count > best_count) {
            best = i;
            best_count = count;
        }
    }
    for (size_t i = 0; i < n; i++) {
        const struct cfg_instance *x = uses[i].inst;
        struct diag *d;
        if (strcasecmp(uses[i].id, uses[best].id) == 0)
            continue;
        /* for_each instances share their block: one finding per block */
        d = finding(
            c, "NET-SAME-SUBNET", x, "subnet", "%s is in another subnet than %s (both serve %s)",
            x->resource->has_for_each || x->resource->has_count ? x->resource->address : x->address,
            uses[best].inst->resource->has_for_each || uses[best].inst->resource->has_count
                ? uses[best].inst->resource->address
                : uses[best].inst->address,
            ws->address);
        note_at(d, uses[best].inst, "subnet", "the subnet the others use");
    }
    free(uses);
}

static void rule_storage_pe(struct rctx *c, const struct cfg_instance *ws)
{
    const struct cfg_instance *st = ref_attr(c, ws, "storage_account");
    bool have[4] = {false, false, false, false};
    static const char *const groups[] = {"blob", "file", "queue", "table"};
    bool any = false;
    if (st == NULL || st->resource->existing)
        return;
    {
        size_t k = referrers(c, st, "private_endpoint", "target", NULL, 0);
        const struct cfg_instance **v = calloc(k ? k : 1, sizeof(*v));
        if (v == NULL)
            return;
        referrers(c, st, "private_endpoint", "target", v, k);
        for (size_t i = 0; i < k; i++) {
            const json_t *sr = get_path(v[i]->attrs, "subresource");
            any = true;
            for (int g = 0; g < 4; g++)
                if (json_is_string(sr) && strcasecmp(json_string_value(sr), groups[g]) == 0)
                    have[g] = true;
        }
        free(v);
    }
    if (!any)
        return;
    for (int g = 0; g < 2; g++)
        if (!have[g])
            finding(c, "ST-PE-PAIR", st, "name",
                    "%s, the default storage of %s, has private endpoints but none for '%s'",
                    st->address, ws->address, groups[g]);
    if (!have[2] || !have[3])
        finding_sev(c, "ST-PE-PAIR", DIAG_NOTE, st, "name",
                    "%s has no '%s' private endpoint: ParallelRunStep needs queue and table",
                    st->address, !have[2] ? "queue" : "table");
}

/* ---- private endpoint DNS ---------------------------------------------- */

/* The private DNS zones a sub-resource's names live in (Azure's
 * "privatelink" zones for the public cloud). */
static const char *const *pe_zones(const char *subresource)
{
    static const char *const ws[] = {"privatelink.api.azureml.ms",
                                     "privatelink.notebooks.azure.net", NULL};
    static const char *const vault[] = {"privatelink.vaultcore.azure.net", NULL};
    static const char *const registry[] = {"privatelink.azurecr.io", NULL};
    static const char *const blob[] = {"privatelink.blob.core.windows.net", NULL};
    static const char *const file[] = {"privatelink.file.core.windows.net", NULL};
    static const char *const queue[] = {"privatelink.queue.core.windows.net", NULL};
    static const char *const table[] = {"privatelink.table.core.windows.net", NULL};
    static const char *const dfs[] = {"privatelink.dfs.core.windows.net", NULL};
    static const char *const web[] = {"privatelink.web.core.windows.net", NULL};
    static const struct {
        const char *sub;
        const char *const *zones;
    } map[] = {{"amlworkspace", ws}, {"vault", vault}, {"registry", registry},
               {"blob", blob},       {"file", file},   {"queue", queue},
               {"table", table},     {"dfs", dfs},     {"web", web}};
    for (size_t i = 0; subresource && i < sizeof(map) / sizeof(map[0]); i++)
        if (strcasecmp(map[i].sub, subresource) == 0)
            return map[i].zones;
    return NULL;
}

/* A zone in a group's list: a private_dns_zone reference or an id; its name. */
static const char *zone_name(const json_t *z)
{
    const json_t *id = schema_ref_id(z);
    const char *s = json_string_value(id ? id : z), *slash;
    if (s == NULL)
        return NULL;
    slash = strrchr(s, '/');
    return slash ? slash + 1 : s;
}

/* With private DNS zones in the configuration, each endpoint without its
 * zone is a warning. Without any, the network may resolve through a custom
 * DNS server (the guidance's other way): one note for all such endpoints. */
static void rule_pe_dns(struct rctx *c, const struct cfg_instance *pe, bool zones_managed,
                        const struct cfg_instance **first_bare, size_t *nbare)
{
    const json_t *sr = get_path(pe->attrs, "subresource");
    const char *const *want = pe_zones(json_string_value(sr));
    size_t k = referrers(c, pe, "private_dns_zone_group", "endpoint", NULL, 0);
    const struct cfg_instance **groups;

    if (k == 0 && !zones_managed) {
        if ((*nbare)++ == 0)
            *first_bare = pe;
        return;
    }
    if (k == 0) {
        finding(c, "PE-DNS", pe, "target",
                "%s has no private DNS zone group: inside the network its target's names still "
                "resolve to public addresses%s%s%s",
                pe->address, want ? " (it needs " : "", want ? want[0] : "", want ? ")" : "");
        return;
    }
    if (want == NULL || (groups = calloc(k, sizeof(*groups))) == NULL)
        return;
    referrers(c, pe, "private_dns_zone_group", "endpoint", groups, k);
    for (const char *const *w = want; *w; w++) {
        bool found = false;
        for (size_t g = 0; g < k && !found; g++) {
            const json_t *zones = get_path(groups[g]->attrs, "zones"), *z;
            size_t i;
            json_array_foreach(zones, i, z)
            {
                const char *n = zone_name(z);
                if (value_is_unknown(z) || (n && strcasecmp(n, *w) == 0))
                    found = true; /* an unknown zone might be the one: say nothing */
            }
        }
        if (!found)
            finding(c, "PE-DNS", groups[0], "zones",
                    "%s's DNS zone group lacks %s: the %s names of its target resolve publicly",
                    pe->address, *w, json_string_value(sr));
    }
    free(groups);
}

/* ---- identities and customer-managed keys of associated resources -------- */

/* The built-in role GUID a role attribute names (a name, GUID or id), or NULL. */
static const char *role_guid(const json_t *role)
{
    const char *s = json_string_value(role), *slash;
    if (s == NULL)
        return NULL;
    slash = strrchr(s, '/');
    if (slash)
        return slash + 1;
    if (strlen(s) == 36 && s[8] == '-')
        return s;
    return schema_builtin_role(s);
}

/* Is id (an ARM id) at or below scope? */
static bool id_under(const char *id, const char *scope)
{
    size_t n = strlen(scope);
    while (n && scope[n - 1] == '/')
        n--;
    return n && strncasecmp(id, scope, n) == 0 && (id[n] == '/' || id[n] == '\0');
}

static const char *ra_who(const struct cfg_instance *ra)
{
    const json_t *p = get_path(ra->attrs, "principal");
    const char *from, *attr;
    if (value_is_unknown(p))
        return value_unknown_origin(p, &from, &attr) && strcmp(attr, "principal_id") == 0 ? from
                                                                                          : NULL;
    return json_string_value(p);
}

static int cmp_ra_key(const void *a, const void *b)
{
    return strcasecmp(((const struct ra_key *)a)->who, ((const struct ra_key *)b)->who);
}

/* Does a role assignment for principal `who` grant one of roles at target id tid? */
static bool granted_to(const struct rctx *c, const char *who, const char *tid,
                       const char *const *roles)
{
    size_t lo = 0, hi = c->nras;
    if (who == NULL)
        return false;
    while (lo < hi) { /* the first key >= who */
        size_t mid = lo + (hi - lo) / 2;
        if (strcasecmp(c->ras[mid].who, who) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (; lo < c->nras && strcasecmp(c->ras[lo].who, who) == 0; lo++) {
        const struct cfg_instance *ra = c->ras[lo].ra;
        const json_t *sc = schema_ref_id(get_path(ra->attrs, "scope"));
        const char *g = role_guid(get_path(ra->attrs, "role"));
        if (!json_is_string(sc) || !id_under(tid, json_string_value(sc)) || g == NULL)
            continue;
        for (const char *const *r = roles; *r; r++) {
            const char *want = schema_builtin_role(*r);
            if (want && strcasecmp(want, g) == 0)
                return true;
        }
    }
    return false;
}

/* Does the configuration grant identity uai one of roles at target (its id or above)? */
static enum tri granted(const struct rctx *c, const struct cfg_instance *uai,
                        const struct cfg_instance *target, const char *const *roles)
{
    const char *tid = inst_id(target);
    if (tid == NULL)
        return T_UNKNOWN;
    return granted_to(c, uai->address, tid, roles) ||
                   granted_to(c, json_string_value(json_object_get(ivalue(c, uai), "principal_id")),
                              tid, roles)
               ? T_TRUE
               : T_FALSE;
}

/* Is uai among inst's identity.user_assigned? T_UNKNOWN when the list is not known. */
static enum tri attached(const struct rctx *c, const struct cfg_instance *inst,
                         const struct cfg_instance *uai)
{
    const json_t *list = get_path(inst->attrs, "identity.user_assigned"), *x;
    size_t i;
    if (list && !json_is_array(list))
        return T_UNKNOWN;
    json_array_foreach(list, i, x)
    {
        if (value_is_unknown(x))
            return T_UNKNOWN;
        if (resolve_ref(c, x) == uai)
            return T_TRUE;
    }
    return T_FALSE;
}

/* The user_assigned_identity instance an attribute names: a reference, or
 * (identity_client_id) a value read from the identity. */
static const struct cfg_instance *identity_at(const struct rctx *c, const struct cfg_instance *inst,
                                              const char *path)
{
    const json_t *v = get_path(inst->attrs, path);
    const char *from, *attr;
    const struct cfg_instance *u = resolve_ref(c, v);
    if (u)
        return is_kind(u, "user_assigned_identity") ? u : NULL;
    if (value_is_unknown(v) && value_unknown_origin(v, &from, &attr))
        for (size_t i = 0; i < c->n; i++)
            if (strcmp(c->insts[i]->address, from) == 0)
                return is_kind(c->insts[i], "user_assigned_identity") ? c->insts[i] : NULL;
    if (json_is_string(v))
        for (size_t i = 0; i < c->n; i++) {
            const json_t *cid = json_object_get(ivalue(c, c->insts[i]), "client_id");
            if (is_kind(c->insts[i], "user_assigned_identity") && json_is_string(cid) &&
                strcasecmp(json_string_value(cid), json_string_value(v)) == 0)
                return c->insts[i];
        }
    return NULL;
}

static const char *const key_roles[] = {"Key Vault Crypto Service Encryption User",
                                        "Key Vault Crypto Officer", "Key Vault Administrator",
                                        NULL};

/* CMK-IDENTITY for one resource encrypted with vault's key read by the identity at path. */
static void rule_cmk_identity(struct rctx *c, const struct cfg_instance *inst, const char *path,
                              const struct cfg_instance *vault)
{
    const struct cfg_instance *uai = identity_at(c, inst, path);
    struct diag *d;
    if (uai == NULL)
        return;
    if (attached(c, inst, uai) == T_FALSE) {
        d = finding_sev(c, "CMK-IDENTITY", DIAG_ERROR, inst, path,
                        "%s reads its key as %s, which is not one of its identities "
                        "(identity.user_assigned)",
                        inst->address, uai->address);
        note_at(d, uai, "name", "the identity");
    }
    if (vault && eff_bool(vault, "rbac_authorization") == T_TRUE &&
        granted(c, uai, vault, key_roles) == T_FALSE) {
        d = finding(c, "CMK-IDENTITY", inst, path,
                    "%s reads its key as %s, but no role_assignment grants that identity Key "
                    "Vault Crypto Service Encryption User on %s",
                    inst->address, uai->address, vault->address);
        note_at(d, vault, "rbac_authorization", "the vault uses Azure RBAC");
    }
}

/* The CMK of a storage account or registry: its key and the key's vault. */
static const struct cfg_instance *assoc_cmk_vault(const struct rctx *c,
                                                  const struct cfg_instance *inst)
{
    const struct cfg_instance *key = ref_attr(c, inst, "encryption.key");
    return key ? ref_attr(c, key, "vault") : NULL;
}

static void rule_assoc_cmk(struct rctx *c, const struct cfg_instance *inst)
{
    const struct cfg_instance *vault = assoc_cmk_vault(c, inst);
    struct diag *d;
    if (get_path(inst->attrs, "encryption") == NULL)
        return;
    rule_cmk_identity(c, inst,
                      is_kind(inst, "storage_account") ? "encryption.identity"
                                                       : "encryption.identity_client_id",
                      vault);
    if (vault == NULL)
        return;
    if (eff_bool(vault, "soft_delete") == T_FALSE ||
        eff_bool(vault, "purge_protection") == T_FALSE) {
        d = finding(c, "CMK-ASSOC", inst, "encryption.key",
                    "the CMK vault %s of %s lacks soft delete or purge protection", vault->address,
                    inst->address);
        note_at(d, vault,
                eff_bool(vault, "purge_protection") == T_FALSE ? "purge_protection" : "soft_delete",
                "turned off here");
    }
}

/* CMK-ASSOC and WS-UAI-GRANTS seen from the workspace. */
static void rule_ws_assoc(struct rctx *c, const struct cfg_instance *ws)
{
    static const char *const assoc[] = {"storage_account", "container_registry", NULL};
    const json_t *enc = get_path(ws->attrs, "encryption");
    const json_t *wl = json_object_get(ivalue(c, ws), "location");
    const struct cfg_instance *uai = ref_attr(c, ws, "primary_user_assigned_identity");
    for (const char *const *a = assoc; json_is_object(enc) && *a; a++) {
        const struct cfg_instance *r = ref_attr(c, ws, *a), *vault;
        const json_t *vl;
        char x[128], y[128];
        if (r == NULL || r->resource->existing)
            continue;
        if (get_path(r->attrs, "encryption") == NULL)
            continue;
        vault = assoc_cmk_vault(c, r);
        vl = vault ? json_object_get(ivalue(c, vault), "location") : NULL;
        if (json_is_string(wl) && json_is_string(vl)) {
            location_fold(x, sizeof(x), json_string_value(wl));
            location_fold(y, sizeof(y), json_string_value(vl));
            if (strcmp(x, y) != 0) {
                struct diag *d = finding(c, "CMK-ASSOC", r, "encryption.key",
                                         "the CMK vault %s of %s is in '%s', the workspace %s in "
                                         "'%s'",
                                         vault->address, r->address, json_string_value(vl),
                                         ws->address, json_string_value(wl));
                note_at(d, vault, "location", "the vault's location");
            }
        }
    }
    if (json_is_object(enc) && get_path(enc, "identity"))
        rule_cmk_identity(c, ws, "encryption.identity", cmk_vault(c, ws, &(const char *){NULL}));
    if (uai == NULL)
        return;
    if (attached(c, ws, uai) == T_FALSE) {
        struct diag *d =
            finding_sev(c, "WS-UAI-GRANTS", DIAG_ERROR, ws, "primary_user_assigned_identity",
                        "%s acts as %s, which is not one of its identities "
                        "(identity.user_assigned)",
                        ws->address, uai->address);
        note_at(d, uai, "name", "the identity");
    }
    {
        static const char *const contrib[] = {"Contributor", "Owner", NULL};
        static const char *const blob[] = {"Storage Blob Data Contributor", NULL};
        static const char *const kv[] = {"Key Vault Administrator", NULL};
        const struct {
            const struct cfg_instance *target;
            const char *const *roles;
            const char *what;
        } need[] = {
            {ws, contrib, "Contributor on the workspace"},
            {ref_attr(c, ws, "storage_account"), blob, "Storage Blob Data Contributor on"},
            {ref_attr(c, ws, "key_vault"), kv, "Key Vault Administrator on"},
            {ref_attr(c, ws, "container_registry"), contrib, "Contributor on"},
        };
        for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
            const struct cfg_instance *t = need[i].target;
            if (t == NULL ||
                (is_kind(t, "key_vault") && eff_bool(t, "rbac_authorization") != T_TRUE))
                continue;
            if (granted(c, uai, t, need[i].roles) == T_FALSE)
                finding(c, "WS-UAI-GRANTS", ws, "primary_user_assigned_identity",
                        "%s acts as %s, which holds no %s%s%s", ws->address, uai->address,
                        need[i].what, t == ws ? "" : " ", t == ws ? "" : t->address);
        }
    }
}

/* ---- per-kind rules ---------------------------------------------------- */

static bool list_has(const json_t *list, const char *want)
{
    size_t i;
    const json_t *x;
    json_array_foreach(list, i, x) if (json_is_string(x) &&
                                       strcasecmp(json_string_value(x), want) == 0) return true;
    return false;
}

static void rule_storage(struct rctx *c, const struct cfg_instance *st)
{
    json_t *bypass;
    if (eff_is(st, "network_rules.default_action", "Allow") == T_TRUE)
        finding(c, "ST-SERVICE-ENDPOINT", st, "network_rules.default_action",
                "the firewall of %s allows all networks", st->address);
    bypass = eff(c, st, "network_rules.bypass");
    if (json_is_array(bypass) && !list_has(bypass, "AzureServices"))
        finding(c, "ST-SERVICE-ENDPOINT", st, "network_rules.bypass",
                "the firewall of %s does not let trusted Microsoft services through", st->address);
    json_decref(bypass);
    if (eff_bool(st, "allow_blob_public_access") == T_TRUE)
        finding(c, "ST-SERVICE-ENDPOINT", st, "allow_blob_public_access",
                "%s allows anonymous public blob access", st->address);
}

static void rule_key_vault(struct rctx *c, const struct cfg_instance *kv)
{
    json_t *bypass;
    if (eff_is(kv, "network_acls.default_action", "Allow") == T_TRUE)
        finding(c, "KV-NETWORK", kv, "network_acls.default_action",
                "the firewall of %s allows all networks", kv->address);
    bypass = eff(c, kv, "network_acls.bypass");
    if (json_is_array(bypass) && !list_has(bypass, "AzureServices"))
        finding(c, "KV-NETWORK", kv, "network_acls.bypass",
                "the firewall of %s does not let trusted Microsoft services through", kv->address);
    json_decref(bypass);
    if (eff_bool(kv, "public_network_access") == T_FALSE &&
        !pointed_at(c, "private_endpoint", "target", kv)) {
        const json_t *subnets = get_path(kv->attrs, "network_acls.subnets");
        if (json_array_size(subnets) == 0)
            finding(c, "KV-NETWORK", kv, "public_network_access",
                    "%s disables public access but has no private endpoint or allowed subnet",
                    kv->address);
    }
}

static void rule_registry(struct rctx *c, const struct cfg_instance *acr)
{
    if (behind_vnet(c, acr) && eff_is(acr, "sku", "Premium") == T_FALSE) {
        json_t *sku = eff(c, acr, "sku");
        finding(c, "ACR-PREMIUM", acr, "sku", "%s is behind a virtual network but its SKU is '%s'",
                acr->address, json_is_string(sku) ? json_string_value(sku) : "?");
        json_decref(sku);
    }
    /* ACR-KEEP: only registries some workspace uses. */
    if (pointed_at(c, "workspace", "container_registry", acr)) {
        bool locked = false;
        size_t k = referrers(c, acr, "lock", "target", NULL, 0);
        const struct cfg_instance **v = calloc(k ? k : 1, sizeof(*v));
        if (v == NULL)
            return;
        referrers(c, acr, "lock", "target", v, k);
        for (size_t i = 0; i < k && !locked; i++)
            locked = eff_is(v[i], "level", "CanNotDelete") == T_TRUE ||
                     eff_is(v[i], "level", "ReadOnly") == T_TRUE;
        free(v);
        if (!locked)
            finding(c, "ACR-KEEP", acr, "name",
                    "%s is a workspace registry without a CanNotDelete lock", acr->address);
    }
}

static const struct cfg_instance *workspace_of(const struct rctx *c,
                                               const struct cfg_instance *inst)
{
    return ref_attr(c, inst, "workspace");
}

static void rule_web_service(struct rctx *c, const struct cfg_instance *svc)
{
    enum tri aci = eff_is(svc, "compute_type", "ACI");
    enum tri key = eff_bool(svc, "key_auth"), token = eff_bool(svc, "token_auth");
    const struct cfg_instance *ws = workspace_of(c, svc);
    if (key == T_TRUE && token == T_TRUE)
        finding(c, "EP-ONE-AUTH", svc, "token_auth", "%s enables both key and token authentication",
                svc->address);
    if (aci == T_TRUE && token == T_TRUE)
        finding(c, "EP-DEFAULTS", svc, "token_auth",
                "%s is an ACI service: token authentication is not available on ACI", svc->address);
    if (eff_bool(svc, "ssl_enabled") != T_TRUE)
        finding(c, "EP-TLS", svc, "ssl_enabled", "%s does not enable TLS", svc->address);
    else if (aci == T_TRUE) {
        static const char *const need[] = {"ssl_certificate", "ssl_key", "ssl_cname", NULL};
        char missing[128] = "";
        for (const char *const *n = need; *n; n++)
            if (get_path(svc->attrs, *n) == NULL) {
                size_t len = strlen(missing);
                snprintf(missing + len, sizeof(missing) - len, "%s%s", len ? ", " : "", *n);
            }
        if (missing[0])
            finding(c, "EP-TLS-CERT", svc, "ssl_enabled",
                    "%s enables TLS on ACI without %s: ACI has no Microsoft-managed certificate",
                    svc->address, missing);
    } else if (eff_is(svc, "compute_type", "AKS") == T_TRUE) {
        const json_t *cn = get_path(svc->attrs, "compute_name");
        for (size_t i = 0; json_is_string(cn) && i < c->n; i++) {
            const struct cfg_instance *x = c->insts[i];
            const json_t *nm = iname(c, x);
            if (!is_kind(x, "aks_compute") || workspace_of(c, x) != ws || !json_is_string(nm) ||
                strcmp(json_string_value(nm), json_string_value(cn)) != 0)
                continue;
            if (get_path(x->attrs, "ssl") == NULL ||
                eff_is(x, "ssl.status", "Disabled") == T_TRUE) {
                struct diag *d = finding(c, "EP-TLS-CERT", svc, "ssl_enabled",
                                         "%s enables TLS but its AKS compute %s has TLS off",
                                         svc->address, x->address);
                note_at(d, x, "name", "the AKS compute");
            }
        }
    }
    {
        static const char *const cmk[] = {"cmk_vault_base_url", "cmk_key_name", "cmk_key_version",
                                          NULL};
        int set = 0;
        for (const char *const *n = cmk; *n; n++)
            set += get_path(svc->attrs, *n) != NULL;
        if (set > 0 && set < 3)
            finding(c, "ACI-CMK", svc, "cmk_vault_base_url",
                    "%s sets only %d of cmk_vault_base_url, cmk_key_name and cmk_key_version",
                    svc->address, set);
        else if (set == 0 && aci == T_TRUE && ws && get_path(ws->attrs, "encryption") != NULL)
            finding_sev(c, "ACI-CMK", DIAG_NOTE, svc, "compute_type",
                        "%s deploys to ACI from the CMK workspace %s without a customer-managed "
                        "key",
                        svc->address, ws->address);
    }
    if (aci == T_TRUE && ws) {
        const json_t *sn = schema_ref_id(get_path(svc->attrs, "subnet"));
        const char *wid = inst_id(ws);
        char a[512], b[512];
        if (json_is_string(sn) && wid && resolve_rg_of(json_string_value(sn), a, sizeof(a)) &&
            resolve_rg_of(wid, b, sizeof(b)) && strcasecmp(a, b) != 0) {
            struct diag *d = finding(c, "ACI-SAME-RG", svc, "subnet",
                                     "the VNet of %s is not in the resource group of %s",
                                     svc->address, ws->address);
            note_at(d, ws, "resource_group", "the workspace's resource group");
        }
    }
    if (eff_is(svc, "compute_type", "AKS") == T_TRUE && ws &&
        pointed_at(c, "private_endpoint", "target", ws))
        finding(c, "CI-PL-UNSUPPORTED", svc, "compute_type",
                "%s deploys to AKS from the Private Link workspace %s", svc->address, ws->address);
}

/* EP-TLS, EP-TLS-CERT and AKS-CMK for an AKS inference compute. */
static void rule_aks(struct rctx *c, const struct cfg_instance *aks)
{
    const struct cfg_instance *ws = workspace_of(c, aks);
    const json_t *ssl = get_path(aks->attrs, "ssl");
    const json_t *cluster = get_path(aks->attrs, "cluster");
    if (ssl == NULL || eff_is(aks, "ssl.status", "Disabled") == T_TRUE)
        finding(c, "EP-TLS", aks, ssl ? "ssl.status" : "name",
                "%s does not enable TLS on its scoring endpoint", aks->address);
    else if (eff_is(aks, "ssl.status", "Enabled") == T_TRUE &&
             get_path(aks->attrs, "ssl.leaf_domain_label") == NULL &&
             (get_path(aks->attrs, "ssl.certificate") == NULL ||
              get_path(aks->attrs, "ssl.key") == NULL || get_path(aks->attrs, "ssl.cname") == NULL))
        finding(c, "EP-TLS-CERT", aks, "ssl.status",
                "%s enables TLS without a leaf_domain_label (Microsoft-managed certificate) or "
                "a certificate, key and cname",
                aks->address);
    if (ws == NULL || get_path(ws->attrs, "encryption") == NULL)
        return;
    if (cluster == NULL) {
        struct diag *d = finding(c, "AKS-CMK", aks, "name",
                                 "%s has the CMK workspace %s create its AKS cluster, whose disks "
                                 "cannot use a customer-managed key",
                                 aks->address, ws->address);
        note_at(d, ws, "encryption", "the workspace's customer-managed key");
    } else {
        const struct cfg_instance *cl = resolve_ref(c, cluster);
        const json_t *des = cl ? json_object_get(ivalue(c, cl), "disk_encryption_set_id") : NULL;
        if (cl && !cl->resource->existing) {
            /* a cluster amlsec creates: its disk encryption set is in the configuration */
            const json_t *set = get_path(cl->attrs, "disk_encryption_set_id");
            if (set == NULL || json_is_null(set)) {
                struct diag *d = finding(c, "AKS-CMK", aks, "cluster",
                                         "%s attaches %s, created without a disk encryption "
                                         "set, to the CMK workspace %s",
                                         aks->address, cl->address, ws->address);
                note_at(d, cl, "disk_encryption_set_id",
                        "the cluster: a disk encryption set is set when it is created");
            }
            return;
        }
        /* an existing cluster's attributes are known at plan: absent or null there means none */
        const json_t *clv = cl ? ivalue(c, cl) : NULL;
        if (cl && cl->resource->existing && json_is_object(clv) && !value_is_unknown(clv) &&
            !value_is_unknown(des) && (des == NULL || json_is_null(des)) &&
            json_object_get(clv, "id") && json_object_get(clv, "kubernetes_version"))
            finding(c, "AKS-CMK", aks, "cluster",
                    "%s attaches %s, whose disks have no disk encryption set, to the CMK "
                    "workspace %s",
                    aks->address, cl->address, ws->address);
    }
}

static void rule_compute(struct rctx *c, const struct cfg_instance *cc)
{
    const struct cfg_instance *ws = workspace_of(c, cc);
    if (is_kind(cc, "compute_cluster")) {
        if (get_path(cc->attrs, "admin") != NULL)
            finding(c, "RBAC-SSH", cc, "admin", "%s configures an SSH admin account on its nodes",
                    cc->address);
        if (eff_is(cc, "remote_login_port_public_access", "Disabled") == T_FALSE)
            finding(c, "RBAC-SSH", cc, "remote_login_port_public_access",
                    "%s may open the SSH port of its nodes to the internet", cc->address);
        return;
    }
    /* compute_instance */
    if (eff_bool(cc, "ssh_public_access") == T_TRUE)
        finding(c, "RBAC-SSH", cc, "ssh_public_access", "%s enables public SSH access",
                cc->address);
    if (ws && eff_bool(ws, "hbi") == T_TRUE) {
        struct diag *d =
            finding(c, "WS-HBI-EFFECTS", cc, "workspace",
                    "%s is a compute instance in the HBI workspace %s", cc->address, ws->address);
        note_at(d, ws, "hbi", "hbi is set here");
    }
    if (ws && pointed_at(c, "private_endpoint", "target", ws))
        finding(c, "CI-PL-UNSUPPORTED", cc, "workspace",
                "%s is a compute instance in the Private Link workspace %s", cc->address,
                ws->address);
}

/* SCAN: a registry without a Standard Defender plan covering containers. */
static void rule_datastore(struct rctx *c, const struct cfg_instance *ds)
{
    const struct cfg_instance *ws = ref_attr(c, ds, "workspace");
    const json_t *skip = get_path(ds->attrs, "skip_validation");
    if (ws == NULL || !json_is_false(skip))
        return;
    if (eff_bool(ws, "public_network_access") == T_FALSE ||
        pointed_at(c, "private_endpoint", "target", ws)) {
        struct diag *d = finding(c, "DS-SKIP-VALIDATION", ds, "skip_validation",
                                 "%s sets skip_validation = false but %s is network-isolated: "
                                 "validation cannot reach the storage",
                                 ds->address, ws->address);
        note_at(d, ws, "public_network_access", "the workspace is network-isolated here");
    }
}

static void rule_scan(struct rctx *c)
{
    bool covered = false;
    for (size_t i = 0; i < c->n && !covered; i++) {
        const struct cfg_instance *x = c->insts[i];
        if (!kind_is(c, i, "defender_plan"))
            continue;
        covered = (eff_is(x, "plan", "Containers") == T_TRUE ||
                   eff_is(x, "plan", "ContainerRegistry") == T_TRUE) &&
                  eff_is(x, "tier", "Free") != T_TRUE;
    }
    for (size_t i = 0; i < c->n && !covered; i++) {
        const struct cfg_instance *x = c->insts[i];
        if (kind_is(c, i, "container_registry") && !c->existing[i])
            finding(c, "SCAN", x, "name",
                    "no Defender plan scans the images of %s (no defender_plan \"Containers\")",
                    x->address);
    }
}

/* ---- WS-SECRETS: literal secrets in the files ------------------------- */

static bool secret_text(const char *s, size_t len)
{
    static const char *const markers[] = {"AccountKey=",
                                          "SharedAccessKey=",
                                          "SharedAccessSignature=",
                                          "PRIVATE KEY-----",
                                          "client_secret=",
                                          "Password=",
                                          NULL};
    char buf[4096];
    size_t n = len < sizeof(buf) - 1 ? len : sizeof(buf) - 1, b64 = 0;
    /* every marker, SAS token and key holds '=', but the PEM's dashes: text
     * with neither (most names and values) holds none of them */
    if (memchr(s, '=', n) == NULL && memmem(s, n, "-----", 5) == NULL)
        return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    for (const char *const *m = markers; *m; m++)
        if (strcasestr(buf, *m))
            return true;
    /* SAS token: sv=...&sig=... */
    if (strstr(buf, "sig=") && strstr(buf, "sv="))
        return true;
    /* Storage account key: 88 base64 characters ending in "==". */
    for (size_t i = 0; i < n; i++) {
        char ch = buf[i];
        if (isalnum((unsigned char)ch) || ch == '+' || ch == '/' || ch == '=') {
            b64++;
            if (b64 >= 86 && ch == '=' && i > 0 && buf[i - 1] == '=')
                return true;
        } else {
            b64 = 0;
        }
    }
    return false;
}

static bool secret_name(const char *name)
{
    static const char *const words[] = {"password",    "secret",  "access_key",
                                        "account_key", "api_key", "connection_string",
                                        "sas_token",   NULL};
    char lower[256];
    size_t n = strlen(name);
    if (n >= sizeof(lower)) {
        for (const char *const *w = words; *w; w++)
            if (strcasestr(name, *w))
                return true;
        return false;
    }
    /* the words are lower case: one folded copy, then plain searches */
    for (size_t i = 0; i <= n; i++)
        lower[i] = (char)tolower((unsigned char)name[i]);
    for (const char *const *w = words; *w; w++)
        if (strstr(lower, *w))
            return true;
    return false;
}

/* The literal text of an expression: a string, or a template without
 * interpolation. NULL otherwise. */
static const char *literal_text(const struct ast_expr *e, size_t *len)
{
    if (e == NULL)
        return NULL;
    if (e->kind == EXPR_STRING) {
        *len = e->u.str.len;
        return e->u.str.s;
    }
    if (e->kind == EXPR_TEMPLATE && e->u.tmpl.n == 1 && e->u.tmpl.parts &&
        e->u.tmpl.parts->kind == EXPR_STRING) {
        *len = e->u.tmpl.parts->u.str.len;
        return e->u.tmpl.parts->u.str.s;
    }
    return NULL;
}

static void scan_expr(struct rctx *c, const struct cfg_instance *inst, const char *name,
                      bool sensitive_attr, const struct ast_expr *e);

static void report_secret(struct rctx *c, const struct cfg_instance *inst, const char *name,
                          const struct ast_expr *e, const char *what)
{
    struct src_loc loc = e->loc;
    {
        const struct rule *r = rules_find("WS-SECRETS");
        char msg[512];
        struct diag *d;
        if (inst && suppressed(inst, r->id))
            return;
        snprintf(msg, sizeof(msg), "'%s'%s%s holds a literal %s", name, inst ? " of " : "",
                 inst ? inst->address : "", what);
        if (diag_list_has(c->diags, &loc, r->id, msg))
            return;
        d = diag_add(c->diags, DIAG_ERROR, &loc, r->id, "%s", msg);
        if (d == NULL)
            return;
        diag_mask(d, &loc);
        c->errors++;
        finding_explain(d, r);
    }
}

/* A sensitive attribute set from var.NAME: a literal default of that
 * variable is a literal secret in the files, whatever the variable is
 * called (a variable marked sensitive or named like a secret is reported
 * at its default already). */
static void var_flow(struct rctx *c, const struct cfg_instance *inst, const char *name,
                     const struct ast_expr *e)
{
    const char *vname;
    if (e->u.trav.root == NULL || strcmp(e->u.trav.root, "var") != 0 || e->u.trav.steps == NULL ||
        e->u.trav.steps->kind != STEP_ATTR)
        return;
    vname = e->u.trav.steps->name;
    for (size_t i = 0; i < c->cfg->nvars; i++) {
        const struct cfg_variable *v = &c->cfg->vars[i];
        const struct ast_attr *def;
        const char *s;
        size_t len = 0;
        char what[512];
        if (strcmp(v->name, vname) != 0)
            continue;
        def = v->block ? ast_body_attr(&v->block->body, "default") : NULL;
        s = def ? literal_text(def->value, &len) : NULL;
        if (s == NULL || len == 0 || v->sensitive || secret_name(v->name) || secret_text(s, len) ||
            suppressed(inst, "WS-SECRETS"))
            return;
        snprintf(what, sizeof(what), "secret as a variable default: it flows into %s of %s", name,
                 inst->address);
        report_secret(c, NULL, v->name, def->value, what);
        return;
    }
}

static void scan_expr(struct rctx *c, const struct cfg_instance *inst, const char *name,
                      bool sensitive_attr, const struct ast_expr *e)
{
    size_t len = 0;
    const char *s = literal_text(e, &len);
    if (e == NULL)
        return;
    if (s) {
        if (sensitive_attr && len > 0)
            report_secret(c, inst, name, e, "secret (the attribute is sensitive)");
        else if (secret_text(s, len))
            report_secret(c, inst, name, e, "secret (key, SAS token or connection string)");
        else if (len >= 8 && secret_name(name))
            report_secret(c, inst, name, e, "secret");
        return;
    }
    switch (e->kind) {
    case EXPR_LIST:
        for (const struct ast_expr *x = e->u.list.items; x; x = x->next)
            scan_expr(c, inst, name, sensitive_attr, x);
        break;
    case EXPR_MAP:
        for (const struct ast_map_item *m = e->u.map.items; m; m = m->next) {
            size_t kl = 0;
            const char *k = literal_text(m->key, &kl);
            char key[128];
            snprintf(key, sizeof(key), "%.*s", (int)(k ? kl : 0), k ? k : "");
            scan_expr(c, inst, key[0] ? key : name, sensitive_attr, m->value);
        }
        break;
    case EXPR_TEMPLATE:
        for (const struct ast_expr *x = e->u.tmpl.parts; x; x = x->next)
            if (x->kind == EXPR_STRING && secret_text(x->u.str.s, x->u.str.len))
                report_secret(c, inst, name, x, "secret (key, SAS token or connection string)");
            else if (x->kind != EXPR_STRING && sensitive_attr)
                scan_expr(c, inst, name, sensitive_attr, x);
        break;
    case EXPR_TRAVERSAL:
        if (sensitive_attr && inst)
            var_flow(c, inst, name, e);
        break;
    case EXPR_COND:
        scan_expr(c, inst, name, sensitive_attr, e->u.cond.then);
        scan_expr(c, inst, name, sensitive_attr, e->u.cond.otherwise);
        break;
    case EXPR_PAREN:
        scan_expr(c, inst, name, sensitive_attr, e->u.paren);
        break;
    case EXPR_POSTFIX: /* a literal picked from: ["AccountKey=..."][0] */
        scan_expr(c, inst, name, sensitive_attr, e->u.post.base);
        break;
    case EXPR_CALL: /* a literal passed through a function: lower("AccountKey=...") */
        for (const struct ast_expr *x = e->u.call.args; x; x = x->next)
            scan_expr(c, inst, name, sensitive_attr, x);
        break;
    case EXPR_FOR:
        scan_expr(c, inst, name, sensitive_attr, e->u.forx->coll);
        scan_expr(c, inst, name, sensitive_attr, e->u.forx->value);
        break;
    default:
        break;
    }
}

/* Scans a body whose attributes are at prefix.NAME; sb is the catalogue's
 * block for it (NULL: none, or not a block), so each attribute is one
 * look-up in its own block rather than a walk from the top by its path. */
static void scan_body(struct rctx *c, const struct cfg_instance *inst, const struct schema_kind *k,
                      const struct schema_block *sb, const struct ast_body *body,
                      const char *prefix)
{
    char path[256];
    size_t np = strlen(prefix);
    for (const struct ast_attr *a = body->attrs; a; a = a->next) {
        const struct schema_attr *sa;
        size_t na = strlen(a->name);
        if (np + na + 2 <= sizeof(path)) { /* once per attribute: no printf */
            memcpy(path, prefix, np);
            path[np] = '.';
            memcpy(path + (np ? np + 1 : 0), a->name, na + 1);
            sa = schema_block_attr(sb, a->name);
        } else { /* cut: looked up as cut */
            snprintf(path, sizeof(path), "%s%s%s", prefix, prefix[0] ? "." : "", a->name);
            sa = k ? schema_attr_find(k, path) : NULL;
        }
        scan_expr(c, inst, path, sa && (sa->flags & SF_SENSITIVE), a->value);
    }
    for (const struct ast_block *b = body->blocks; b; b = b->next) {
        const struct schema_attr *ba;
        int n;
        if (strcmp(b->type, "lifecycle") == 0)
            continue;
        n = snprintf(path, sizeof(path), "%s%s%s", prefix, prefix[0] ? "." : "", b->type);
        if (n >= 0 && (size_t)n < sizeof(path))
            ba = schema_block_attr(sb, b->type);
        else
            ba = k ? schema_attr_find(k, path) : NULL;
        scan_body(c, inst, k, ba ? ba->block : NULL, &b->body, path);
    }
}

static void rule_secrets(struct rctx *c)
{
    for (size_t i = 0; i < c->cfg->nresources; i++) {
        const struct cfg_resource *r = &c->cfg->resources[i];
        const struct schema_kind *k;
        /* the blocks ahead asked for: the misses of the walk overlap */
        if (i + 8 < c->cfg->nresources && c->cfg->resources[i + 8].block)
            __builtin_prefetch(c->cfg->resources[i + 8].block);
        if (i + 4 < c->cfg->nresources && c->cfg->resources[i + 4].block)
            __builtin_prefetch(c->cfg->resources[i + 4].block->body.attrs);
        if (r->block == NULL || r->ninstances == 0)
            continue;
        k = c->kinds[c->base[i]];
        scan_body(c, &r->instances[0], k, k ? &k->body : NULL, &r->block->body, "");
    }
    for (size_t i = 0; i < c->cfg->nvars; i++) {
        const struct cfg_variable *v = &c->cfg->vars[i];
        const struct ast_attr *def = v->block ? ast_body_attr(&v->block->body, "default") : NULL;
        size_t len = 0;
        const char *s = def ? literal_text(def->value, &len) : NULL;
        if (s == NULL)
            continue;
        if ((v->sensitive || secret_name(v->name)) && len > 0)
            report_secret(c, NULL, v->name, def->value, "secret as a variable default");
        else if (secret_text(s, len))
            report_secret(c, NULL, v->name, def->value,
                          "secret (key, SAS token or connection string)");
    }
    if (c->cfg->settings_block)
        scan_body(c, NULL, NULL, NULL, &c->cfg->settings_block->body, "settings");
}

/* ---- suppressions ----------------------------------------------------- */

static void check_suppressions(struct rctx *c)
{
    static const char *ids[64];
    size_t n = 0;
    for (const struct rule *r = rules_catalogue; r->id && n + 1 < 64; r++)
        ids[n++] = r->id;
    ids[n] = NULL;
    for (size_t i = 0; i < c->cfg->nresources; i++) {
        const struct cfg_lifecycle *lc = &c->cfg->resources[i].lifecycle;
        for (size_t j = 0; j < lc->nignore_rules; j++) {
            const struct cfg_suppression *s = &lc->ignore_rules[j];
            const char *reason = s->reason;
            struct diag *d;
            if (s->rule == NULL || rules_find(s->rule) == NULL) {
                const char *near = s->rule ? suggest_nearest(s->rule, ids, 0) : NULL;
                d = diag_add(c->diags, DIAG_ERROR, &s->loc, "bad-suppression",
                             "ignore_rules names unknown rule '%s'", s->rule ? s->rule : "");
                if (d && near)
                    diag_set_hint(d, "did you mean '%s'? ('amlsec rules' lists them)", near);
                else if (d)
                    diag_set_hint(d, "'amlsec rules' lists the rule IDs");
                c->errors++;
                continue;
            }
            while (reason && isspace((unsigned char)*reason))
                reason++;
            if (reason == NULL || *reason == '\0') {
                d = diag_add(c->diags, DIAG_ERROR, &s->loc, "bad-suppression",
                             "suppression of '%s' needs a reason", s->rule);
                if (d)
                    diag_set_hint(d, "write ignore_rules = { \"%s\" = \"why this is accepted\" }",
                                  s->rule);
                c->errors++;
            }
        }
    }
}

/* ---- driver ----------------------------------------------------------- */

/* The kinds rules_run's pass over the instances checks, by their checks. */
enum checked_kind {
    CK_NONE,
    CK_WORKSPACE,
    CK_STORAGE,
    CK_KEY_VAULT,
    CK_REGISTRY,
    CK_WEB_SERVICE,
    CK_AKS,
    CK_COMPUTE,
    CK_DATASTORE,
    CK_PRIVATE_ENDPOINT
};

static enum checked_kind checked_kind(const struct schema_kind *k)
{
    static const struct {
        const char *name;
        enum checked_kind ck;
    } checked[] = {{"workspace", CK_WORKSPACE},     {"storage_account", CK_STORAGE},
                   {"key_vault", CK_KEY_VAULT},     {"container_registry", CK_REGISTRY},
                   {"web_service", CK_WEB_SERVICE}, {"aks_compute", CK_AKS},
                   {"compute_cluster", CK_COMPUTE}, {"compute_instance", CK_COMPUTE},
                   {"datastore", CK_DATASTORE},     {"private_endpoint", CK_PRIVATE_ENDPOINT}};
    for (size_t i = 0; k && i < sizeof(checked) / sizeof(checked[0]); i++)
        if (strcmp(k->name, checked[i].name) == 0)
            return checked[i].ck;
    return CK_NONE;
}

size_t rules_run(const struct config *cfg, struct diag_list *diags)
{
    bool zones_managed = false;
    const struct cfg_instance *first_bare = NULL;
    size_t nbare = 0;
    struct rctx c = {.cfg = cfg, .diags = diags};
    size_t total = 0;
    unsigned char checked_of[128] = {0}; /* per catalogue kind: its checked_kind + 1, 0: not yet */
    const struct schema_kind *k_ra = schema_find("role_assignment"),
                             *k_zone = schema_find("private_dns_zone");
    for (size_t i = 0; i < cfg->nresources; i++)
        total += cfg->resources[i].ninstances;
    c.insts = calloc(total ? total : 1, sizeof(*c.insts));
    c.kinds = calloc(total ? total : 1, sizeof(*c.kinds));
    c.existing = calloc(total ? total : 1, sizeof(*c.existing));
    c.checked = calloc(total ? total : 1, sizeof(*c.checked));
    if (c.insts == NULL || c.kinds == NULL || c.existing == NULL || c.checked == NULL) {
        free(c.insts);
        free(c.kinds);
        free(c.existing);
        free(c.checked);
        return 0;
    }
    for (size_t i = 0; i < cfg->nresources; i++) {
        const struct cfg_resource *r = &cfg->resources[i];
        const struct schema_kind *k = r->ninstances ? schema_find(r->kind) : NULL;
        enum checked_kind ck = CK_NONE;
        if (k && (size_t)(k - schema_kinds) < sizeof(checked_of)) { /* each kind's, once */
            if (checked_of[k - schema_kinds] == 0)
                checked_of[k - schema_kinds] = (unsigned char)(checked_kind(k) + 1);
            ck = (enum checked_kind)(checked_of[k - schema_kinds] - 1);
        } else if (k) {
            ck = checked_kind(k);
        }
        for (size_t j = 0; j < r->ninstances; j++) {
            c.kinds[c.n] = k;
            c.existing[c.n] = r->existing;
            c.checked[c.n] = (unsigned char)ck;
            c.insts[c.n++] = &r->instances[j];
        }
    }
    if (index_build(&c) < 0) {
        index_release(&c);
        free(c.insts);
        free(c.kinds);
        free(c.existing);
        free(c.checked);
        return 0;
    }

    c.ras = calloc(total ? total : 1, sizeof(*c.ras));
    if (c.ras == NULL) {
        index_release(&c);
        free(c.insts);
        free(c.kinds);
        free(c.existing);
        free(c.checked);
        return 0;
    }
    for (size_t i = 0; i < c.n; i++) {
        const char *who = k_ra && c.kinds[i] == k_ra && json_is_object(c.insts[i]->attrs)
                              ? ra_who(c.insts[i])
                              : NULL;
        if (who)
            c.ras[c.nras++] = (struct ra_key){who, c.insts[i]};
    }
    qsort(c.ras, c.nras, sizeof(*c.ras), cmp_ra_key);
    check_suppressions(&c);
    rule_secrets(&c);
    for (size_t i = 0; i < c.n && !zones_managed; i++)
        zones_managed = k_zone && c.kinds[i] == k_zone;
    for (size_t i = 0; i < c.n; i++) {
        const struct cfg_instance *x = c.insts[i];
        /* the next checked instances' attributes asked for ahead (their
         * misses overlap); the kinds without checks here are passed over
         * without reading their instances (long out of cache) */
        if (i + 16 < c.n && c.checked[i + 16] != CK_NONE)
            __builtin_prefetch(c.insts[i + 16]);
        if (i + 8 < c.n && c.checked[i + 8] != CK_NONE)
            __builtin_prefetch(c.insts[i + 8]->attrs);
        if (c.existing[i] || c.checked[i] == CK_NONE || !json_is_object(x->attrs))
            continue;
        switch ((enum checked_kind)c.checked[i]) {
        case CK_WORKSPACE:
            if (eff_bool(x, "hbi") == T_FALSE)
                finding(&c, "WS-HBI", x, "hbi",
                        "%s is not a high-business-impact workspace (hbi is create-only)",
                        x->address);
            rule_cmk(&c, x);
            rule_private(&c, x);
            rule_diag(&c, x);
            rule_acr(&c, x);
            rule_subnet(&c, x);
            rule_storage_pe(&c, x);
            rule_ws_assoc(&c, x);
            rule_build_feeds(&c, x);
            break;
        case CK_STORAGE:
            rule_storage(&c, x);
            rule_assoc_cmk(&c, x);
            break;
        case CK_KEY_VAULT:
            rule_key_vault(&c, x);
            break;
        case CK_REGISTRY:
            rule_registry(&c, x);
            rule_assoc_cmk(&c, x);
            break;
        case CK_WEB_SERVICE:
            rule_web_service(&c, x);
            break;
        case CK_AKS:
            rule_aks(&c, x);
            break;
        case CK_COMPUTE:
            rule_compute(&c, x);
            break;
        case CK_DATASTORE:
            rule_datastore(&c, x);
            break;
        case CK_PRIVATE_ENDPOINT:
            rule_pe_dns(&c, x, zones_managed, &first_bare, &nbare);
            break;
        case CK_NONE:
            break;
        }
    }
    if (nbare)
        finding_sev(&c, "PE-DNS", DIAG_NOTE, first_bare, "target",
                    "%zu private endpoint%s (%s%s) %s no private DNS zone group and the "
                    "configuration manages no private DNS zone: their targets' names resolve to "
                    "public addresses unless the network's custom DNS server answers them",
                    nbare, nbare == 1 ? "" : "s", first_bare->address, nbare > 1 ? ", ..." : "",
                    nbare == 1 ? "has" : "have");
    rule_scan(&c);
    index_release(&c);
    free(c.ras);
    free(c.insts);
    free(c.kinds);
    free(c.existing);
    free(c.checked);
    return c.errors;
}

/* ---- listings --------------------------------------------------------- */

static const char *sev_name(enum diag_severity s)
{
    return s == DIAG_ERROR ? "error" : s == DIAG_WARNING ? "warning" : "note";
}

json_t *rules_to_json(void)
{
    json_t *arr = json_array();
    for (const struct rule *r = rules_catalogue; r->id; r++)
        json_array_append_new(arr,
                              json_pack("{ss ss ss ss ss ss ss ss}", "id", r->id, "severity",
                                        sev_name(r->severity), "guidance_kind", r->guidance_kind,
                                        "title", r->title, "why", r->why, "fix", r->fix, "kinds",
                                        r->kinds, "checked_by", checked_by(r->id)));
    return arr;
}

int rules_markdown(struct buf *out)
{
    buf_adds(out, "# amlsec rule catalogue\n\n"
                  "Generated by `amlsec rules -markdown` from the rule table in "
                  "`engine/rules.c`; do not edit by hand.\n\n"
                  "`amlsec validate` runs these rules after the schema checks, except those "
                  "checked by plan: they need the live cloud (the caller's permissions, role "
                  "assignments, creation dates) and run after the refresh, before any write. "
                  "Findings are diagnostics whose code is the rule ID; plan also attaches them "
                  "to the resource's change and lists them in the plan JSON's `findings`. "
                  "Severity `note` is the guidance's \"recommend\". Suppress a finding per "
                  "resource, with a reason:\n\n"
                  "```\nlifecycle {\n  ignore_rules = { \"WS-PRIVATE\" = \"reason\" }\n}\n"
                  "```\n\n"
                  "The rules restate Microsoft's Azure Machine Learning enterprise-security "
                  "guidance; each rule's *Why* names the articles it comes from (\"Azure "
                  "Machine Learning docs: ...\"):\n\n"
                  "- *Enterprise security and governance*: \"Enterprise security and governance "
                  "for Azure Machine Learning\" (earlier editions: \"Enterprise security for "
                  "Azure Machine Learning\"), "
                  "https://learn.microsoft.com/azure/machine-learning/concept-enterprise-security\n"
                  "- *Data encryption*: \"Data encryption with Azure Machine Learning\", "
                  "https://learn.microsoft.com/azure/machine-learning/concept-data-encryption\n"
                  "- *Secure a workspace with virtual networks*: \"Secure an Azure Machine "
                  "Learning workspace with virtual networks\", "
                  "https://learn.microsoft.com/azure/machine-learning/how-to-secure-workspace-vnet"
                  "\n\n"
                  "| ID | Severity | Guidance kind | Checked by | Rule | Kinds |\n"
                  "|---|---|---|---|---|---|\n");
    for (const struct rule *r = rules_catalogue; r->id; r++)
        buf_addf(out, "| %s | %s | %s | %s | %s | %s |\n", r->id, sev_name(r->severity),
                 r->guidance_kind, checked_by(r->id), r->title, r->kinds);
    buf_adds(out, "\n");
    for (const struct rule *r = rules_catalogue; r->id; r++)
        buf_addf(out,
                 "## %s\n\n%s.\n\n- **Severity:** %s (guidance: %s)\n- **Checked by:** %s\n"
                 "- **Why:** %s\n- **Fix:** %s\n- **Looks at:** %s\n\n",
                 r->id, r->title, sev_name(r->severity), r->guidance_kind, checked_by(r->id),
                 r->why, r->fix, r->kinds);
    return buf_adds(out, "## Guidance items not checked by validate\n\n"
                         "- WS-CMK-ROTATE, HBI and CMK changes: classified by the catalogue (a new "
                         "key version is an in-place update, another vault or `hbi` a replacement) "
                         "and shown by plan.\n"
                         "- RBAC-BUILTIN, RBAC-CUSTOM, RBAC-COMPUTE-MI, RBAC-B2C, POL-CMK, POL-PL, "
                         "LOCK: supported as resources (role_assignment, role_definition, "
                         "policy_assignment, lock, compute identity), nothing to check.\n"
                         "- DS-SKIP-VALIDATION, datasets: datasets (delimited, JSON, Parquet, SQL, "
                         "file) are data-plane assets of the workspace, not ARM resources, so they "
                         "are not a kind and their validate=False is outside amlsec; only "
                         "datastores are checked.\n"
                         "- DS-SKIP-VALIDATION, SQL and PostgreSQL datastores: the datastore API "
                         "(2025-09-01) has no such types; blob, file and ADLS Gen1/Gen2 are "
                         "covered.\n");
}
