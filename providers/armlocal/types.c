/* The resource types armlocal serves: api-versions, how each verb completes,
 * create-only paths and the computed fields, as in arm-api.md §0-2 and §7. */
#include "providers/armlocal/al_internal.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "util/banned.h"

static const char *str_or(const json_t *v, const char *dflt)
{
    return json_is_string(v) ? json_string_value(v) : dflt;
}

static void keep_or_guid(struct al_ctx *c, json_t *obj, const char *key, const json_t *oldobj)
{
    char g[37];
    const json_t *o = json_object_get(oldobj, key);
    if (json_is_string(o)) {
        json_object_set(obj, key, (json_t *)o);
        return;
    }
    al_guid(c->al, g);
    json_object_set_new(obj, key, json_string(g));
}

static void set_default(json_t *res, const char *path, json_t *v)
{
    if (al_jpath(res, path) == NULL)
        al_jpath_set_new(res, path, v);
    else
        json_decref(v);
}

static void loc_compact(const json_t *res, char *out, size_t cap)
{
    const char *l = str_or(json_object_get(res, "location"), "eastus");
    size_t j = 0;
    for (size_t i = 0; l[i] && j + 1 < cap; i++)
        if (l[i] != ' ')
            out[j++] = (char)(l[i] >= 'A' && l[i] <= 'Z' ? l[i] + 32 : l[i]);
    out[j] = '\0';
}

static void compute_workspace(struct al_ctx *c, json_t *res, const json_t *old)
{
    json_t *props = json_object_get(res, "properties");
    const json_t *oprops = json_object_get(old, "properties");
    char loc[64], buf[2048];

    loc_compact(res, loc, sizeof(loc));
    keep_or_guid(c, props, "workspaceId", oprops);
    keep_or_guid(c, props, "tenantId", oprops);
    snprintf(buf, sizeof(buf), "https://%s.api.azureml.ms/discovery", loc);
    json_object_set_new(props, "discoveryUrl", json_string(buf));
    snprintf(buf, sizeof(buf), "azureml://%s.api.azureml.ms/mlflow/v1.0%s", loc,
             str_or(json_object_get(res, "id"), ""));
    json_object_set_new(props, "mlFlowTrackingUri", json_string(buf));
    set_default(res, "properties.hbiWorkspace", json_false());
    set_default(res, "properties.publicNetworkAccess", json_string("Enabled"));
    set_default(res, "properties.allowPublicAccessWhenBehindVnet", json_false());
    set_default(res, "properties.storageHnsEnabled", json_false());
    set_default(res, "kind", json_string("Default"));
    /* when it was created (WS-SUPPORT-APP reads it); kept across updates */
    al_time_iso(c->now_ms, buf, sizeof(buf));
    if (al_jpath(old, "systemData.createdAt"))
        json_object_set(res, "systemData", al_jpath(old, "systemData"));
    else
        json_object_set_new(res, "systemData",
                            json_pack("{s:s, s:s}", "createdAt", buf, "createdByType",
                                      c->principal[0] ? "Application" : "User"));
    al_jpath_set_new(res, "systemData.lastModifiedAt", json_string(buf));
}

static void compute_compute(struct al_ctx *c, json_t *res, const json_t *old)
{
    char now[40];
    const json_t *oprops = json_object_get(old, "properties");
    json_t *props = json_object_get(res, "properties");
    al_time_iso(c->now_ms, now, sizeof(now));
    if (json_object_get(props, "computeLocation") == NULL)
        json_object_set_new(props, "computeLocation",
                            json_string(str_or(json_object_get(res, "location"), "eastus")));
    set_default(res, "properties.disableLocalAuth", json_false());
    set_default(res, "properties.isAttachedCompute", json_false());
    json_object_set_new(props, "createdOn",
                        json_string(str_or(json_object_get(oprops, "createdOn"), now)));
    json_object_set_new(props, "modifiedOn", json_string(now));
    /* an AKS compute's TLS key is never returned */
    json_object_del(al_jpath(res, "properties.properties.sslConfiguration"), "key");
}

/* Datastores: the service never returns secret values, only their type. */
static void compute_datastore(struct al_ctx *c, json_t *res, const json_t *old)
{
    json_t *secrets = al_jpath(res, "properties.credentials.secrets");
    const char *k;
    json_t *v;
    void *tmp;
    (void)c;
    (void)old;
    json_object_foreach_safe(secrets, tmp, k, v)
    {
        if (strcmp(k, "secretsType") != 0)
            json_object_del(secrets, k);
    }
    set_default(res, "properties.isDefault", json_false());
}

static void compute_online_endpoint(struct al_ctx *c, json_t *res, const json_t *old)
{
    char loc[64], buf[1024];
    const char *name = str_or(json_object_get(res, "name"), "endpoint");
    json_t *props = json_object_get(res, "properties");
    (void)c;
    (void)old;
    loc_compact(res, loc, sizeof(loc));
    snprintf(buf, sizeof(buf), "https://%s.%s.inference.ml.azure.com/score", name, loc);
    json_object_set_new(props, "scoringUri", json_string(buf));
    snprintf(buf, sizeof(buf), "https://%s.%s.inference.ml.azure.com/swagger.json", name, loc);
    json_object_set_new(props, "swaggerUri", json_string(buf));
    set_default(res, "properties.publicNetworkAccess", json_string("Enabled"));
    /* keys are create-only secrets, "always returned as null" */
    json_object_del(props, "keys");
}

static void normalise_acls(json_t *acls)
{
    json_t *ip = json_object_get(acls, "ipRules"),
           *vn = json_object_get(acls, "virtualNetworkRules");
    size_t i;
    json_t *r;
    json_array_foreach(ip, i, r)
    {
        const char *v = json_string_value(json_object_get(r, "value"));
        if (v && strchr(v, '/') == NULL && strchr(v, ':') == NULL) {
            char cidr[64];
            snprintf(cidr, sizeof(cidr), "%s/32", v);
            json_object_set_new(r, "value", json_string(cidr));
        }
    }
    json_array_foreach(vn, i, r)
    {
        const char *v = json_string_value(json_object_get(r, "id"));
        if (v) {
            char low[2048];
            al_lower(low, v, sizeof(low));
            json_object_set_new(r, "id", json_string(low));
        }
    }
}

static void compute_vault(struct al_ctx *c, json_t *res, const json_t *old)
{
    char buf[512];
    json_t *props = json_object_get(res, "properties");
    (void)old;
    al_vault_base(c->al, str_or(json_object_get(res, "name"), "vault"), buf, sizeof(buf));
    json_object_set_new(props, "vaultUri", json_string(buf));
    set_default(res, "properties.enableSoftDelete", json_true());
    set_default(res, "properties.softDeleteRetentionInDays", json_integer(90));
    set_default(res, "properties.enableRbacAuthorization", json_false());
    set_default(res, "properties.enabledForDeployment", json_false());
    set_default(res, "properties.enabledForDiskEncryption", json_false());
    set_default(res, "properties.enabledForTemplateDeployment", json_false());
    set_default(res, "properties.publicNetworkAccess", json_string("Enabled"));
    set_default(res, "properties.accessPolicies", json_array());
    json_object_del(props, "createMode"); /* write-only */
    normalise_acls(json_object_get(props, "networkAcls"));
}

static void compute_key(struct al_ctx *c, json_t *res, const json_t *old)
{
    (void)old;
    al_key_first_version(c, res);
}

static void compute_storage(struct al_ctx *c, json_t *res, const json_t *old)
{
    static const char *const svcs[] = {"blob", "queue", "table", "file", "dfs", "web"};
    const char *name = str_or(json_object_get(res, "name"), "account");
    const json_t *oprops = json_object_get(old, "properties");
    json_t *ep = json_object(), *props = json_object_get(res, "properties");
    char buf[512], now[40];

    for (size_t i = 0; i < sizeof(svcs) / sizeof(svcs[0]); i++) {
        snprintf(buf, sizeof(buf), "https://%s.%s.core.windows.net/", name,
                 strcmp(svcs[i], "web") == 0 ? "z13.web" : svcs[i]);
        json_object_set_new(ep, svcs[i], json_string(buf));
    }
    json_object_set_new(props, "primaryEndpoints", ep);
    al_time_iso(c->now_ms, now, sizeof(now));
    json_object_set_new(props, "creationTime",
                        json_string(str_or(json_object_get(oprops, "creationTime"), now)));
    json_object_set_new(props, "statusOfPrimary", json_string("available"));
    json_object_set_new(props, "primaryLocation",
                        json_string(str_or(json_object_get(res, "location"), "eastus")));
    set_default(res, "properties.supportsHttpsTrafficOnly", json_true());
    set_default(res, "properties.isHnsEnabled", json_false());
    set_default(res, "properties.minimumTlsVersion", json_string("TLS1_0"));
    set_default(res, "properties.allowBlobPublicAccess", json_false());
    set_default(res, "properties.networkAcls",
                json_pack("{s:s, s:s, s:[], s:[]}", "bypass", "AzureServices", "defaultAction",
                          "Allow", "ipRules", "virtualNetworkRules"));
    normalise_acls(json_object_get(props, "networkAcls"));
}

static void compute_registry(struct al_ctx *c, json_t *res, const json_t *old)
{
    char buf[512], low[256], now[40];
    json_t *sku = json_object_get(res, "sku");
    const json_t *oprops = json_object_get(old, "properties");
    json_t *props = json_object_get(res, "properties");

    al_lower(low, str_or(json_object_get(res, "name"), "registry"), sizeof(low));
    snprintf(buf, sizeof(buf), "%s.azurecr.io", low);
    json_object_set_new(props, "loginServer", json_string(buf));
    if (json_is_object(sku) && json_object_get(sku, "name"))
        json_object_set(sku, "tier", json_object_get(sku, "name"));
    al_time_iso(c->now_ms, now, sizeof(now));
    json_object_set_new(props, "creationDate",
                        json_string(str_or(json_object_get(oprops, "creationDate"), now)));
    set_default(res, "properties.adminUserEnabled", json_false());
    set_default(res, "properties.publicNetworkAccess", json_string("Enabled"));
    set_default(res, "properties.networkRuleBypassOptions", json_string("AzureServices"));
    set_default(res, "properties.zoneRedundancy", json_string("Disabled"));
    set_default(res, "properties.dataEndpointEnabled", json_false());
}

static void compute_components(struct al_ctx *c, json_t *res, const json_t *old)
{
    const json_t *oprops = json_object_get(old, "properties");
    json_t *props = json_object_get(res, "properties");
    char buf[512], loc[64];

    keep_or_guid(c, props, "AppId", oprops);
    keep_or_guid(c, props, "InstrumentationKey", oprops);
    keep_or_guid(c, props, "TenantId", oprops);
    loc_compact(res, loc, sizeof(loc));
    snprintf(buf, sizeof(buf),
             "InstrumentationKey=%s;IngestionEndpoint=https://%s-0.in."
             "applicationinsights.azure.com/",
             json_string_value(json_object_get(props, "InstrumentationKey")), loc);
    json_object_set_new(props, "ConnectionString", json_string(buf));
    json_object_set_new(props, "ApplicationId",
                        json_string(str_or(json_object_get(res, "name"), "")));
    json_object_set_new(props, "Name", json_string(str_or(json_object_get(res, "name"), "")));
    set_default(res, "properties.Application_Type", json_string("web"));
    set_default(res, "kind", json_string("web"));
}

static void compute_role_assignment(struct al_ctx *c, json_t *res, const json_t *old)
{
    char now[40], scope[2048];
    const json_t *oprops = json_object_get(old, "properties");
    json_t *props = json_object_get(res, "properties");
    const char *id = str_or(json_object_get(res, "id"), "");
    const char *p = strstr(id, "/providers/Microsoft.Authorization/");
    size_t n = p ? (size_t)(p - id) : 0;

    if (n >= sizeof(scope))
        n = sizeof(scope) - 1;
    memcpy(scope, id, n);
    scope[n] = '\0';
    json_object_set_new(props, "scope", json_string(n ? scope : "/"));
    al_time_iso(c->now_ms, now, sizeof(now));
    json_object_set_new(props, "createdOn",
                        json_string(str_or(json_object_get(oprops, "createdOn"), now)));
    json_object_set_new(props, "updatedOn", json_string(now));
    set_default(res, "properties.principalType", json_string("User"));
}

static void compute_scope_only(struct al_ctx *c, json_t *res, const json_t *old)
{
    char scope[2048];
    const char *id = str_or(json_object_get(res, "id"), "");
    const char *p = strstr(id, "/providers/Microsoft.Authorization/");
    size_t n = p ? (size_t)(p - id) : 0;
    (void)c;
    (void)old;
    if (n >= sizeof(scope))
        n = sizeof(scope) - 1;
    memcpy(scope, id, n);
    scope[n] = '\0';
    json_object_set_new(json_object_get(res, "properties"), "scope", json_string(n ? scope : "/"));
    set_default(res, "properties.enforcementMode", json_string("Default"));
}

static void compute_role_definition(struct al_ctx *c, json_t *res, const json_t *old)
{
    (void)c;
    (void)old;
    set_default(res, "properties.type", json_string("CustomRole"));
}

static void compute_private_endpoint(struct al_ctx *c, json_t *res, const json_t *old)
{
    char g[37], buf[2048], rgid[1024];
    const json_t *oprops = json_object_get(old, "properties");
    json_t *props = json_object_get(res, "properties");
    const char *id = str_or(json_object_get(res, "id"), "");
    const char *p = strstr(id, "/providers/");
    size_t n = p ? (size_t)(p - id) : 0;

    if (n >= sizeof(rgid))
        n = sizeof(rgid) - 1;
    memcpy(rgid, id, n);
    rgid[n] = '\0';
    if (json_object_get(oprops, "networkInterfaces")) {
        json_object_set(props, "networkInterfaces", json_object_get(oprops, "networkInterfaces"));
    } else {
        al_guid(c->al, g);
        snprintf(buf, sizeof(buf), "%s/providers/Microsoft.Network/networkInterfaces/%s.nic.%s",
                 rgid, str_or(json_object_get(res, "name"), "pe"), g);
        json_object_set_new(props, "networkInterfaces", json_pack("[{s:s}]", "id", buf));
    }
    al_guid(c->al, g);
    snprintf(buf, sizeof(buf), "W/\"%s\"", g);
    json_object_set_new(res, "etag", json_string(buf));
    set_default(res, "properties.customDnsConfigs", json_array());
    set_default(res, "properties.privateLinkServiceConnections", json_array());
    set_default(res, "properties.manualPrivateLinkServiceConnections", json_array());
}

static void compute_vnet(struct al_ctx *c, json_t *res, const json_t *old)
{
    /* subnets given inline become child resources (as in Azure) */
    json_t *subnets = al_jpath(res, "properties.subnets");
    const char *id = str_or(json_object_get(res, "id"), "");
    size_t i;
    json_t *s;
    (void)old;
    json_array_foreach(subnets, i, s)
    {
        char sid[2048];
        const char *name = str_or(json_object_get(s, "name"), NULL);
        json_t *body;
        if (name == NULL)
            continue;
        snprintf(sid, sizeof(sid), "%s/subnets/%s", id, name);
        json_object_set_new(s, "id", json_string(sid));
        json_object_set_new(s, "type", json_string("Microsoft.Network/virtualNetworks/subnets"));
        body = json_deep_copy(s);
        if (!json_is_object(json_object_get(body, "properties")))
            json_object_set_new(body, "properties", json_object());
        json_object_set_new(json_object_get(body, "properties"), "provisioningState",
                            json_string("Succeeded"));
        al_rec_put(c->al, sid, body);
    }
}

static void compute_dns_zone(struct al_ctx *c, json_t *res, const json_t *old)
{
    char g[37], etag[64];
    (void)old;
    al_guid(c->al, g);
    snprintf(etag, sizeof(etag), "%s", g);
    json_object_set_new(res, "etag", json_string(etag));
    set_default(res, "properties.maxNumberOfRecordSets", json_integer(25000));
    set_default(res, "properties.numberOfRecordSets", json_integer(1)); /* the SOA */
    set_default(res, "properties.maxNumberOfVirtualNetworkLinks", json_integer(1000));
    set_default(res, "properties.maxNumberOfVirtualNetworkLinksWithRegistration",
                json_integer(100));
}

static void compute_vnet_link(struct al_ctx *c, json_t *res, const json_t *old)
{
    char g[37];
    (void)old;
    al_guid(c->al, g);
    json_object_set_new(res, "etag", json_string(g));
    json_object_set_new(json_object_get(res, "properties"), "virtualNetworkLinkState",
                        json_string("Completed"));
}

static void compute_uai(struct al_ctx *c, json_t *res, const json_t *old)
{
    json_t *props = json_object_get(res, "properties");
    const json_t *oprops = json_object_get(old, "properties");
    keep_or_guid(c, props, "principalId", oprops);
    keep_or_guid(c, props, "clientId", oprops);
    keep_or_guid(c, props, "tenantId", oprops);
}

static void compute_law(struct al_ctx *c, json_t *res, const json_t *old)
{
    char now[40];
    const json_t *oprops = json_object_get(old, "properties");
    json_t *props = json_object_get(res, "properties");
    al_time_iso(c->now_ms, now, sizeof(now));
    keep_or_guid(c, props, "customerId", oprops);
    json_object_set_new(props, "createdDate",
                        json_string(str_or(json_object_get(oprops, "createdDate"), now)));
    json_object_set_new(props, "modifiedDate", json_string(now));
    set_default(res, "properties.sku", json_pack("{s:s}", "name", "PerGB2018"));
    set_default(res, "properties.retentionInDays", json_integer(30));
    set_default(res, "properties.publicNetworkAccessForIngestion", json_string("Enabled"));
    set_default(res, "properties.publicNetworkAccessForQuery", json_string("Enabled"));
    set_default(res, "properties.features.enableLogAccessUsingOnlyResourcePermissions",
                json_true());
}

static const char *const ws_create_only[] = {
    "properties.hbiWorkspace",
    "properties.encryption.status",
    "properties.encryption.identity.userAssignedIdentity",
    "properties.encryption.keyVaultProperties.keyVaultArmId",
    "properties.enableServiceSideCMKEncryption",
    "properties.keyVault",
    "properties.storageAccount",
    NULL,
};
static const char *const compute_create_only[] = {"properties.computeLocation",
                                                  "properties.disableLocalAuth", NULL};
static const char *const storage_create_only[] = {"properties.isHnsEnabled", "kind", NULL};
static const char *const acr_create_only[] = {
    "properties.zoneRedundancy", "properties.encryption.status",
    "properties.encryption.keyVaultProperties.identity", NULL};
static const char *const located[] = {"location", NULL};
static const char *const aks_create_only[] = {"location", "properties.dnsPrefix",
                                              "properties.diskEncryptionSetID", NULL};
static const char *const datastore_create_only[] = {"properties.datastoreType", NULL};

#define RT(type, versions, put, patch, del, cs, us, ext, state, flat, co, fn)                      \
    {                                                                                              \
        type, versions, put, patch, del, cs, us, ext, state, flat, co, fn                          \
    }

static const struct al_type types[] = {
    RT("Microsoft.Resources/resourceGroups",
       "2021-04-01 2022-09-01 2023-07-01 2024-03-01 "
       "2024-07-01 2024-11-01 2025-04-01",
       AL_SYNC, AL_SYNC, AL_LOCATION, 201, 200, 0, 1, 0, located, NULL),
    RT("Microsoft.MachineLearningServices/workspaces", "2025-09-01", AL_LOCATION, AL_LOCATION,
       AL_LOCATION, 0, 0, 0, 1, 0, ws_create_only, compute_workspace),
    RT("Microsoft.MachineLearningServices/workspaces/computes", "2025-09-01", AL_ASYNC, AL_ASYNC,
       AL_ASYNC_LOCATION, 0, 0, 0, 1, 0, compute_create_only, compute_compute),
    RT("Microsoft.MachineLearningServices/workspaces/onlineEndpoints", "2025-09-01", AL_ASYNC,
       AL_LOCATION, AL_LOCATION, 0, 0, 0, 1, 0, NULL, compute_online_endpoint),
    RT("Microsoft.MachineLearningServices/workspaces/datastores", "2025-09-01", AL_SYNC,
       AL_NOT_ALLOWED, AL_SYNC, 201, 200, 0, 0, 0, datastore_create_only, compute_datastore),
    /* legacy ACI/AKS web services: the catalogue's guidance rules read them */
    RT("Microsoft.MachineLearningServices/workspaces/services", "2020-05-15-preview", AL_ASYNC,
       AL_NOT_ALLOWED, AL_SYNC, 0, 0, 0, 1, 0, NULL, NULL),
    RT("Microsoft.MachineLearningServices/workspaces/privateEndpointConnections", "2025-09-01",
       AL_SYNC, AL_NOT_ALLOWED, AL_SYNC, 200, 200, 0, 1, 0, NULL, NULL),
    RT("Microsoft.Network/privateEndpoints", "2025-03-01", AL_ASYNC, AL_NOT_ALLOWED, AL_LOCATION, 0,
       0, 0, 1, 0, NULL, compute_private_endpoint),
    RT("Microsoft.Network/privateEndpoints/privateDnsZoneGroups", "2025-03-01", AL_ASYNC,
       AL_NOT_ALLOWED, AL_LOCATION, 0, 0, 0, 1, 0, NULL, NULL),
    RT("Microsoft.Network/privateDnsZones", "2020-06-01 2024-06-01", AL_ASYNC, AL_ASYNC,
       AL_ASYNC_LOCATION, 0, 0, 0, 1, 0, located, compute_dns_zone),
    RT("Microsoft.Network/privateDnsZones/virtualNetworkLinks", "2020-06-01 2024-06-01", AL_ASYNC,
       AL_ASYNC, AL_ASYNC_LOCATION, 0, 0, 0, 1, 0, located, compute_vnet_link),
    RT("Microsoft.Network/privateDnsZones/A", "2020-06-01 2024-06-01", AL_SYNC, AL_SYNC, AL_SYNC,
       201, 200, 0, 1, 0, NULL, NULL),
    RT("Microsoft.ManagedIdentity/userAssignedIdentities", "2023-01-31 2024-11-30", AL_SYNC,
       AL_SYNC, AL_SYNC, 201, 200, 0, 0, 0, located, compute_uai),
    RT("Microsoft.OperationalInsights/workspaces", "2023-09-01 2025-02-01", AL_BODY, AL_SYNC,
       AL_SYNC, 0, 0, 0, 1, 0, located, compute_law),
    RT("Microsoft.Authorization/policyDefinitions", "2023-04-01 2025-03-01", AL_SYNC,
       AL_NOT_ALLOWED, AL_SYNC, 201, 201, 1, 0, 0, NULL, NULL),
    RT("Microsoft.Authorization/policySetDefinitions", "2023-04-01 2025-03-01", AL_SYNC,
       AL_NOT_ALLOWED, AL_SYNC, 201, 201, 1, 0, 0, NULL, NULL),
    RT("Microsoft.ContainerService/managedClusters", "2025-07-01", AL_SYNC, AL_SYNC, AL_SYNC, 201,
       200, 0, 1, 0, aks_create_only, NULL),
    RT("Microsoft.Network/virtualNetworks", "2025-03-01", AL_ASYNC, AL_SYNC, AL_LOCATION, 0, 0, 0,
       1, 0, NULL, compute_vnet),
    RT("Microsoft.Network/virtualNetworks/subnets", "2025-03-01", AL_ASYNC, AL_NOT_ALLOWED,
       AL_LOCATION, 0, 0, 0, 1, 0, NULL, NULL),
    RT("Microsoft.KeyVault/vaults", "2025-05-01", AL_BODY, AL_SYNC, AL_SYNC, 0, 0, 0, 1, 0, NULL,
       compute_vault),
    RT("Microsoft.KeyVault/vaults/keys", "2025-05-01", AL_SYNC, AL_NOT_ALLOWED, AL_NOT_ALLOWED, 200,
       200, 0, 0, 0, NULL, compute_key),
    RT("Microsoft.KeyVault/vaults/privateEndpointConnections", "2025-05-01", AL_SYNC,
       AL_NOT_ALLOWED, AL_SYNC, 200, 200, 0, 1, 0, NULL, NULL),
    RT("Microsoft.Storage/storageAccounts", "2025-06-01", AL_LOCATION, AL_SYNC, AL_SYNC, 0, 0, 0, 1,
       0, storage_create_only, compute_storage),
    RT("Microsoft.Storage/storageAccounts/privateEndpointConnections", "2025-06-01", AL_SYNC,
       AL_NOT_ALLOWED, AL_SYNC, 200, 200, 0, 1, 0, NULL, NULL),
    RT("Microsoft.ContainerRegistry/registries", "2025-04-01", AL_ASYNC, AL_ASYNC, AL_LOCATION, 0,
       0, 0, 1, 0, acr_create_only, compute_registry),
    RT("Microsoft.ContainerRegistry/registries/privateEndpointConnections", "2025-04-01", AL_SYNC,
       AL_NOT_ALLOWED, AL_SYNC, 200, 200, 0, 1, 0, NULL, NULL),
    RT("Microsoft.Insights/components", "2020-02-02", AL_SYNC, AL_SYNC, AL_SYNC, 201, 200, 0, 1, 0,
       NULL, compute_components),
    RT("Microsoft.Authorization/roleAssignments", "2022-04-01", AL_SYNC, AL_NOT_ALLOWED, AL_SYNC,
       201, 200, 1, 0, 0, NULL, compute_role_assignment),
    RT("Microsoft.Authorization/roleDefinitions", "2022-04-01", AL_SYNC, AL_NOT_ALLOWED, AL_SYNC,
       201, 201, 1, 0, 0, NULL, compute_role_definition),
    RT("Microsoft.Authorization/policyAssignments", "2025-03-01", AL_SYNC, AL_SYNC, AL_SYNC, 201,
       201, 1, 0, 0, NULL, compute_scope_only),
    RT("Microsoft.Authorization/locks", "2020-05-01", AL_SYNC, AL_NOT_ALLOWED, AL_SYNC, 201, 200, 1,
       0, 0, NULL, NULL),
    RT("Microsoft.Insights/diagnosticSettings", "2021-05-01-preview", AL_SYNC, AL_NOT_ALLOWED,
       AL_SYNC, 200, 200, 1, 0, 1, NULL, NULL),
};

const struct al_type *al_type_find(const char *type)
{
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (strcasecmp(types[i].type, type) == 0)
            return &types[i];
    return NULL;
}

int al_api_version_ok(const struct al_type *t, const char *v)
{
    const char *p = t->api_versions;
    size_t n = strlen(v);
    if (n == 0)
        return 0;
    while ((p = strstr(p, v)) != NULL) {
        if ((p == t->api_versions || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
            return 1;
        p += n;
    }
    return 0;
}
