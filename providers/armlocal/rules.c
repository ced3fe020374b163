/* The services' own rules (arm-api.md §1, §3, §7): create-only fields,
 * irreversible Key Vault settings, CMK prerequisites, duplicate role
 * assignments, management locks, soft-deleted workspace names, private
 * endpoint connections appearing on their targets. */
#include "providers/armlocal/al_internal.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "util/banned.h"

static int is_type(const struct al_type *t, const char *type)
{
    return strcasecmp(t->type, type) == 0;
}

static const char *str(const json_t *v)
{
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* The id of the resource group holding id, lowercased, or "" */
static void rg_of(const char *id, char *out, size_t cap)
{
    char low[2048];
    const char *p;
    al_lower(low, id, sizeof(low));
    p = strstr(low, "/resourcegroups/");
    out[0] = '\0';
    if (p == NULL)
        return;
    p = strchr(p + 16, '/');
    snprintf(out, cap, "%.*s", p ? (int)(p - low) : (int)strlen(low), low);
}

static int check_create_only(struct al_ctx *c, const struct al_type *t, json_t *res,
                             const json_t *old)
{
    if (old == NULL || t->create_only == NULL)
        return 0;
    for (const char *const *p = t->create_only; *p; p++) {
        json_t *nv = al_jpath(res, *p);
        const json_t *ov = al_jpath(old, *p);
        if (nv == NULL) {
            /* not given: keep what was set at creation */
            if (ov)
                al_jpath_set_new(res, *p, json_deep_copy(ov));
            continue;
        }
        if (ov == NULL && (json_is_false(nv) || json_is_null(nv)))
            continue;
        if (!al_json_equal_ci(nv, ov)) {
            if (is_type(t, "Microsoft.Resources/resourceGroups"))
                al_error(c, 409, "InvalidResourceGroupLocation",
                         "Invalid resource group location '%s'. The Resource group already "
                         "exists in location '%s'.",
                         str(nv) ? str(nv) : "", str(ov) ? str(ov) : "");
            else
                al_error(c, 400, "PropertyChangeNotAllowed",
                         "Changing property '%s' is not allowed: it can only be set when the "
                         "resource is created.",
                         *p);
            return -1;
        }
    }
    return 0;
}

/* createMode: recover brings back the deleted vault as it was (its
 * properties, purge protection and access model, tags) and its keys, under
 * the id of the PUT; the request's own properties are not applied. */
static void recover_vault(struct al_ctx *c, json_t *res, const char *name_key)
{
    json_t *data = json_object_get(c->al->state, "deletedVaultData");
    json_t *tree = json_object_get(data, name_key), *rec, *oldbody = NULL;
    const char *k, *oldid = NULL;
    const char *newid = str(json_object_get(res, "id"));
    char oldl[2048];

    json_object_foreach(tree, k, rec)
    {
        json_t *b = json_object_get(rec, "body");
        if (str(json_object_get(b, "type")) &&
            strcasecmp(str(json_object_get(b, "type")), "Microsoft.KeyVault/vaults") == 0) {
            oldbody = b;
            oldid = str(json_object_get(b, "id"));
        }
    }
    if (oldbody == NULL || oldid == NULL || newid == NULL)
        return;
    json_object_set_new(res, "properties", json_deep_copy(json_object_get(oldbody, "properties")));
    json_object_del(json_object_get(res, "properties"), "provisioningState");
    if (json_object_get(oldbody, "tags"))
        json_object_set_new(res, "tags", json_deep_copy(json_object_get(oldbody, "tags")));
    al_lower(oldl, oldid, sizeof(oldl));
    json_object_foreach(tree, k, rec)
    {
        json_t *b = json_deep_copy(json_object_get(rec, "body"));
        char cid[2048];
        size_t n = strlen(oldl);
        if (strcmp(k, oldl) == 0 || strncmp(k, oldl, n) != 0) {
            json_decref(b);
            continue;
        }
        /* children keep their path below the vault */
        snprintf(cid, sizeof(cid), "%s%s", newid, str(json_object_get(b, "id")) + n);
        json_object_set_new(b, "id", json_string(cid));
        al_rec_put(c->al, cid, b);
    }
    json_object_del(data, name_key);
    al_store_touch(c->al, "deletedVaultData", name_key);
}

static int check_vault(struct al_ctx *c, json_t *res, const json_t *old)
{
    const json_t *osd = al_jpath(old, "properties.enableSoftDelete");
    const json_t *opp = al_jpath(old, "properties.enablePurgeProtection");
    json_t *sd = al_jpath(res, "properties.enableSoftDelete");
    json_t *pp = al_jpath(res, "properties.enablePurgeProtection");
    json_t *dv = json_object_get(c->al->state, "deletedVaults");
    char key[256];

    if (json_is_false(sd) && (old == NULL || osd == NULL || json_is_true(osd))) {
        al_error(c, 400, "BadRequest",
                 "The property \"enableSoftDelete\" has been set to true, and cannot be reverted "
                 "to false. Soft delete is enabled by default for all vaults.");
        return -1;
    }
    if (json_is_false(pp) && json_is_true(opp)) {
        al_error(c, 400, "BadRequest",
                 "The property \"enablePurgeProtection\" cannot be set to false. Enabling the "
                 "purge protection for a vault is an irreversible action.");
        return -1;
    }
    if (json_is_false(pp))
        json_object_del(json_object_get(res, "properties"), "enablePurgeProtection");
    if (opp && json_is_true(opp) && pp == NULL)
        al_jpath_set_new(res, "properties.enablePurgeProtection", json_true());
    al_lower(key, str(json_object_get(res, "name")) ? str(json_object_get(res, "name")) : "",
             sizeof(key));
    if (old == NULL && json_object_get(dv, key)) {
        const char *mode = str(al_jpath(res, "properties.createMode"));
        if (mode == NULL || strcasecmp(mode, "recover") != 0) {
            al_error(c, 409, "ConflictError",
                     "A vault with the same name already exists in deleted state. You need to "
                     "either recover or purge existing deleted vault.");
            return -1;
        }
        recover_vault(c, res, key);
        json_object_del(dv, key);
        al_store_touch(c->al, "deletedVaults", key);
    }
    return 0;
}

static int check_cmk_workspace(struct al_ctx *c, json_t *res)
{
    const char *status = str(al_jpath(res, "properties.encryption.status"));
    const char *kv = str(al_jpath(res, "properties.encryption.keyVaultProperties.keyVaultArmId"));
    json_t *vrec, *vb;

    if (status == NULL || strcasecmp(status, "Enabled") != 0)
        return 0;
    if (kv == NULL) {
        al_error(c, 400, "BadRequest",
                 "encryption.keyVaultProperties.keyVaultArmId is required "
                 "when encryption is enabled.");
        return -1;
    }
    vrec = al_rec_get(c->al, kv);
    vb = json_object_get(vrec, "body");
    if (vrec == NULL || json_is_true(json_object_get(vrec, "hidden"))) {
        al_error(c, 400, "BadRequest", "The key vault '%s' used for encryption was not found.", kv);
        return -1;
    }
    if (!json_is_true(al_jpath(vb, "properties.enableSoftDelete")) ||
        !json_is_true(al_jpath(vb, "properties.enablePurgeProtection"))) {
        al_error(c, 400, "BadRequest",
                 "The key vault '%s' used for customer-managed key encryption must have soft "
                 "delete and purge protection enabled.",
                 kv);
        return -1;
    }
    return 0;
}

static int live(const json_t *rec);

/* Managed identities: every user-assigned identity a resource lists must
 * exist; an identity a resource says it acts as, or reads its key with,
 * must be one of them. */
static int check_identities(struct al_ctx *c, const struct al_type *t, json_t *res)
{
    const json_t *uais = al_jpath(res, "identity.userAssignedIdentities");
    const char *k, *want = NULL, *what = NULL, *client = NULL;
    json_t *v;
    json_object_foreach((json_t *)uais, k, v)
    {
        if (!live(al_rec_get(c->al, k))) {
            al_error(c, 400, "FailedIdentityOperation",
                     "Resource '%s' was not found: the user assigned identity does not exist.", k);
            return -1;
        }
    }
    if (is_type(t, "Microsoft.MachineLearningServices/workspaces")) {
        want = str(al_jpath(res, "properties.primaryUserAssignedIdentity"));
        what = "properties.primaryUserAssignedIdentity";
    } else if (is_type(t, "Microsoft.Storage/storageAccounts")) {
        want = str(al_jpath(res, "properties.encryption.identity.userAssignedIdentity"));
        what = "properties.encryption.identity.userAssignedIdentity";
    } else if (is_type(t, "Microsoft.ContainerRegistry/registries")) {
        client = str(al_jpath(res, "properties.encryption.keyVaultProperties.identity"));
        what = "properties.encryption.keyVaultProperties.identity";
    }
    if (want == NULL && client == NULL)
        return 0;
    json_object_foreach((json_t *)uais, k, v)
    {
        const char *cid =
            str(al_jpath(json_object_get(al_rec_get(c->al, k), "body"), "properties.clientId"));
        if ((want && strcasecmp(want, k) == 0) || (client && cid && strcasecmp(client, cid) == 0))
            return 0;
    }
    al_error(c, 400, "InvalidIdentity",
             "%s '%s' must be one of the resource's user assigned identities "
             "(identity.userAssignedIdentities).",
             what, want ? want : client);
    return -1;
}

/* The vault (its body) a key or vault URI names, or NULL; *vid gets its
 * id and *plen the length of uri's vault part. Its own vaultUri, or the
 * public cloud's https://NAME.vault.azure.net (what a configuration
 * predicts before the vault exists). Vault names are global: only vaults
 * are read. */
static json_t *vault_of_uri(struct al_ctx *c, const char *uri, const char **vid, size_t *plen)
{
    static const char pub[] = ".vault.azure.net";
    const char *k;
    json_t *owner;
    json_object_foreach(c->al->global_names, k, owner)
    {
        json_t *rec, *b;
        const char *vu, *vname = k + 26;
        char canon[512];
        size_t n;
        if (strncmp(k, "microsoft.keyvault/vaults/", 26) != 0)
            continue;
        rec = al_rec_get(c->al, json_string_value(owner));
        if (!live(rec))
            continue;
        b = json_object_get(rec, "body");
        vu = str(al_jpath(b, "properties.vaultUri"));
        snprintf(canon, sizeof(canon), "https://%s%s", vname, pub);
        for (int form = 0; form < 2; form++) {
            const char *p = form == 0 ? vu : canon;
            n = p ? strlen(p) : 0;
            while (n > 0 && p[n - 1] == '/')
                n--;
            if (n == 0 || strncasecmp(uri, p, n) != 0)
                continue;
            if (form == 1 && strncmp(uri + n, ":443", 4) == 0)
                n += 4; /* https://NAME.vault.azure.net:443/ names it too */
            if (uri[n] == '/' || uri[n] == '\0') {
                *vid = str(json_object_get(b, "id"));
                *plen = n;
                return b;
            }
        }
    }
    return NULL;
}

/* Storage accounts and registries encrypted with a customer-managed key:
 * the key must exist in a vault with soft delete and purge protection. The
 * URI at path is stored in the vault's own form (its vaultUri). */
static int check_cmk_key(struct al_ctx *c, json_t *res, const char *path, const char *keyname)
{
    const char *uri = str(al_jpath(res, path)), *vid = NULL, *vu;
    size_t plen = 0;
    json_t *vault = uri ? vault_of_uri(c, uri, &vid, &plen) : NULL;
    char kid[2048];
    if (vault == NULL || vid == NULL) {
        al_error(c, 400, "KeyVaultNotFound", "%s: the key vault '%s' was not found.", path,
                 uri ? uri : "");
        return -1;
    }
    if (!json_is_true(al_jpath(vault, "properties.enableSoftDelete")) ||
        !json_is_true(al_jpath(vault, "properties.enablePurgeProtection"))) {
        al_error(c, 400, "KeyVaultNotProtected",
                 "%s: the key vault '%s' must have soft delete and purge protection enabled to "
                 "hold a customer-managed key.",
                 path, vid);
        return -1;
    }
    snprintf(kid, sizeof(kid), "%s/keys/%s", vid, keyname);
    if (!live(al_rec_get(c->al, kid))) {
        al_error(c, 400, "KeyNotFound", "%s: the key '%s' was not found in the key vault '%s'.",
                 path, keyname, vid);
        return -1;
    }
    vu = str(al_jpath(vault, "properties.vaultUri"));
    if (vu) {
        size_t n = strlen(vu);
        const char *rest = uri + plen;
        while (n > 0 && vu[n - 1] == '/')
            n--;
        if (*rest == '/')
            rest++;
        snprintf(kid, sizeof(kid), "%.*s/%s", (int)n, vu, rest);
        al_jpath_set_new(res, path, json_string(kid));
    }
    return 0;
}

static int check_cmk_storage(struct al_ctx *c, json_t *res)
{
    const char *src = str(al_jpath(res, "properties.encryption.keySource"));
    const char *name = str(al_jpath(res, "properties.encryption.keyvaultproperties.keyname"));
    const char *uri = str(al_jpath(res, "properties.encryption.keyvaultproperties.keyvaulturi"));
    if (src == NULL || strcasecmp(src, "Microsoft.Keyvault") != 0)
        return 0;
    if (name == NULL || uri == NULL) {
        al_error(c, 400, "InvalidValuesForRequestParameters",
                 "Values for request parameters are invalid: keyvaultproperties.keyname and "
                 "keyvaultproperties.keyvaulturi are required when keySource is "
                 "Microsoft.Keyvault.");
        return -1;
    }
    if (al_jpath(res, "properties.encryption.identity.userAssignedIdentity") == NULL &&
        (str(al_jpath(res, "identity.type")) == NULL ||
         strcasestr(str(al_jpath(res, "identity.type")), "SystemAssigned") == NULL)) {
        al_error(c, 400, "InvalidValuesForRequestParameters",
                 "A customer-managed key needs a managed identity: set "
                 "encryption.identity.userAssignedIdentity or a system-assigned identity.");
        return -1;
    }
    return check_cmk_key(c, res, "properties.encryption.keyvaultproperties.keyvaulturi", name);
}

static int check_cmk_registry(struct al_ctx *c, json_t *res)
{
    const char *status = str(al_jpath(res, "properties.encryption.status"));
    const char *kid = str(al_jpath(res, "properties.encryption.keyVaultProperties.keyIdentifier"));
    const char *sku = str(al_jpath(res, "sku.name"));
    char name[256];
    const char *k;
    if (status == NULL || strcasecmp(status, "enabled") != 0)
        return 0;
    if (sku && strcasecmp(sku, "Premium") != 0) {
        al_error(c, 400, "EncryptionNotSupportedForSku",
                 "Customer-managed key encryption is only supported for Premium registries.");
        return -1;
    }
    if (kid == NULL || (k = strstr(kid, "/keys/")) == NULL ||
        al_jpath(res, "properties.encryption.keyVaultProperties.identity") == NULL) {
        al_error(c, 400, "InvalidEncryptionProperties",
                 "encryption.keyVaultProperties.keyIdentifier (a key URI) and "
                 "encryption.keyVaultProperties.identity are required when encryption is "
                 "enabled.");
        return -1;
    }
    snprintf(name, sizeof(name), "%.*s", (int)strcspn(k + 6, "/"), k + 6);
    return check_cmk_key(c, res, "properties.encryption.keyVaultProperties.keyIdentifier", name);
}

/* A workspace's managed network: user-defined outbound rules need an
 * isolation mode, FQDN rules need AllowOnlyApprovedOutbound, a private
 * endpoint rule names a resource that exists, a service tag rule its tag,
 * protocol and ports. The service's own rules (category Required) are
 * recomputed on every write. */
static int check_managed_network(struct al_ctx *c, json_t *res)
{
    json_t *mn = al_jpath(res, "properties.managedNetwork");
    json_t *rules = json_object_get(mn, "outboundRules"), *r;
    const char *mode = str(json_object_get(mn, "isolationMode")), *name;
    void *tmp;
    json_object_foreach_safe(rules, tmp, name, r)
    {
        const char *type = str(json_object_get(r, "type"));
        const char *cat = str(json_object_get(r, "category"));
        const json_t *dest = json_object_get(r, "destination");
        if (cat && strcasecmp(cat, "UserDefined") != 0) {
            json_object_del(rules, name); /* the service's, added again below */
            continue;
        }
        if (mode == NULL || strcasecmp(mode, "Disabled") == 0) {
            al_error(c, 400, "ValidationError",
                     "Outbound rule '%s': outbound rules need a managed network "
                     "(managedNetwork.isolationMode AllowInternetOutbound or "
                     "AllowOnlyApprovedOutbound).",
                     name);
            return -1;
        }
        if (type && strcasecmp(type, "FQDN") == 0) {
            if (!json_is_string(dest)) {
                al_error(c, 400, "ValidationError",
                         "Outbound rule '%s': an FQDN rule's destination is a host name.", name);
                return -1;
            }
            if (strcasecmp(mode, "AllowOnlyApprovedOutbound") != 0) {
                al_error(c, 400, "ValidationError",
                         "Outbound rule '%s': FQDN outbound rules are only supported when the "
                         "isolation mode is AllowOnlyApprovedOutbound.",
                         name);
                return -1;
            }
        } else if (type && strcasecmp(type, "PrivateEndpoint") == 0) {
            const char *target = str(json_object_get(dest, "serviceResourceId"));
            if (target == NULL || !live(al_rec_get(c->al, target))) {
                al_error(c, 400, "ValidationError",
                         "Outbound rule '%s': the private endpoint's target '%s' was not found.",
                         name, target ? target : "(missing serviceResourceId)");
                return -1;
            }
        } else if (type && strcasecmp(type, "ServiceTag") == 0) {
            if (!json_is_string(json_object_get(dest, "serviceTag")) ||
                !json_is_string(json_object_get(dest, "protocol")) ||
                !json_is_string(json_object_get(dest, "portRanges"))) {
                al_error(c, 400, "ValidationError",
                         "Outbound rule '%s': a service tag rule needs serviceTag, protocol and "
                         "portRanges.",
                         name);
                return -1;
            }
        } else {
            al_error(c, 400, "ValidationError",
                     "Outbound rule '%s': type must be FQDN, PrivateEndpoint or ServiceTag.", name);
            return -1;
        }
        json_object_set_new(r, "status", json_string("Active"));
    }
    if (mode && strcasecmp(mode, "Disabled") != 0) {
        /* the private endpoints the workspace needs to its own resources */
        static const struct {
            const char *prop, *sub;
        } req[] = {{"properties.storageAccount", "blob"},
                   {"properties.storageAccount", "file"},
                   {"properties.keyVault", "vault"},
                   {"properties.containerRegistry", "registry"}};
        if (!json_is_object(rules)) {
            rules = json_object();
            json_object_set_new(mn, "outboundRules", rules);
        }
        for (size_t i = 0; i < sizeof(req) / sizeof(req[0]); i++) {
            const char *target = str(al_jpath(res, req[i].prop)), *slash;
            char rname[300];
            if (target == NULL || (slash = strrchr(target, '/')) == NULL)
                continue;
            snprintf(rname, sizeof(rname), "__SYS_PE_%s_%s", slash + 1, req[i].sub);
            json_object_set_new(rules, rname,
                                json_pack("{s:s, s:s, s:s, s:{s:s, s:s}}", "type",
                                          "PrivateEndpoint", "category", "Required", "status",
                                          "Active", "destination", "serviceResourceId", target,
                                          "subresourceTarget", req[i].sub));
        }
    }
    return 0;
}

/* AKS inference computes: an attached cluster exists; TLS Enabled needs a
 * Microsoft-managed leaf domain label or a certificate, key and cname. */
static int check_ml_compute(struct al_ctx *c, json_t *res)
{
    const char *type = str(al_jpath(res, "properties.computeType"));
    const char *cluster = str(al_jpath(res, "properties.resourceId"));
    const json_t *ssl = al_jpath(res, "properties.properties.sslConfiguration");
    const char *status = str(json_object_get(ssl, "status"));
    if (type == NULL || strcasecmp(type, "AKS") != 0)
        return 0;
    if (cluster && !live(al_rec_get(c->al, cluster))) {
        al_error(c, 400, "BadRequest", "The AKS cluster '%s' to attach was not found.", cluster);
        return -1;
    }
    if (status && strcasecmp(status, "Enabled") == 0 && !json_object_get(ssl, "leafDomainLabel") &&
        (!json_object_get(ssl, "cert") || !json_object_get(ssl, "key") ||
         !json_object_get(ssl, "cname"))) {
        al_error(c, 400, "BadRequest",
                 "sslConfiguration: with status Enabled, give leafDomainLabel (a "
                 "Microsoft-managed certificate) or cert, key and cname.");
        return -1;
    }
    return 0;
}

/* An AKS cluster: a DNS prefix (or FQDN subdomain), a system node pool with
 * a size and count, an identity, and a disk encryption set given as a
 * Microsoft.Compute/diskEncryptionSets id (set at creation only: types.c). */
static int check_managed_cluster(struct al_ctx *c, json_t *res)
{
    const json_t *pools = al_jpath(res, "properties.agentPoolProfiles"), *p;
    const char *des = str(al_jpath(res, "properties.diskEncryptionSetID"));
    int system = 0;
    size_t i;
    if (!str(al_jpath(res, "properties.dnsPrefix")) &&
        !str(al_jpath(res, "properties.fqdnSubdomain"))) {
        al_error(c, 400, "InvalidParameter",
                 "Required parameter properties.dnsPrefix is missing (null): give dnsPrefix or "
                 "fqdnSubdomain.");
        return -1;
    }
    json_array_foreach(pools, i, p)
    {
        const json_t *n = json_object_get(p, "count");
        if (!str(json_object_get(p, "name")) || !str(json_object_get(p, "vmSize")) ||
            (n && (!json_is_integer(n) || json_integer_value(n) < 0))) {
            al_error(c, 400, "InvalidParameter",
                     "The value of parameter agentPoolProfiles[%zu] is invalid: name and vmSize "
                     "are required, count is a non-negative integer.",
                     i);
            return -1;
        }
        if (str(json_object_get(p, "mode")) &&
            strcasecmp(str(json_object_get(p, "mode")), "System") == 0)
            system = 1;
    }
    if (!system) {
        al_error(c, 400, "InvalidParameter",
                 "A managed cluster needs at least one agent pool with mode System "
                 "(properties.agentPoolProfiles).");
        return -1;
    }
    if (!str(al_jpath(res, "identity.type")) &&
        !str(al_jpath(res, "properties.servicePrincipalProfile.clientId"))) {
        al_error(c, 400, "InvalidParameter",
                 "A managed cluster needs an identity (identity.type) or a service principal "
                 "(properties.servicePrincipalProfile).");
        return -1;
    }
    if (des && (strncasecmp(des, "/subscriptions/", 15) != 0 ||
                strcasestr(des, "/providers/Microsoft.Compute/diskEncryptionSets/") == NULL)) {
        al_error(c, 400, "LinkedInvalidPropertyId",
                 "Property id '%s' at path 'properties.diskEncryptionSetID' is invalid. Expect a "
                 "fully qualified Microsoft.Compute/diskEncryptionSets resource id.",
                 des);
        return -1;
    }
    if (!str(al_jpath(res, "properties.kubernetesVersion")))
        al_jpath_set_new(res, "properties.kubernetesVersion", json_string("1.33.2"));
    if (!str(al_jpath(res, "properties.fqdn")))
        al_jpath_set_new(res, "properties.fqdn",
                         json_sprintf("%s.hcp.%s.azmk8s.io",
                                      str(al_jpath(res, "properties.dnsPrefix"))
                                          ? str(al_jpath(res, "properties.dnsPrefix"))
                                          : str(al_jpath(res, "properties.fqdnSubdomain")),
                                      str(json_object_get(res, "location"))
                                          ? str(json_object_get(res, "location"))
                                          : "westeurope"));
    return 0;
}

/* Legacy web services: ACI TLS needs your certificate (ACI has no
 * Microsoft-managed one); a CMK needs vault URL, key name and version. */
static int check_web_service(struct al_ctx *c, json_t *res)
{
    const char *type = str(json_object_get(res, "computeType"));
    const json_t *enc = json_object_get(res, "encryptionProperties");
    int n = (json_object_get(enc, "vaultBaseUrl") != NULL) +
            (json_object_get(enc, "keyName") != NULL) +
            (json_object_get(enc, "keyVersion") != NULL);
    if (type && strcasecmp(type, "ACI") == 0 && json_is_true(json_object_get(res, "sslEnabled")) &&
        (!json_object_get(res, "sslCertificate") || !json_object_get(res, "sslKey") ||
         !json_object_get(res, "cname"))) {
        al_error(c, 400, "BadRequest",
                 "SSL is enabled but sslCertificate, sslKey and cname are not all provided: ACI "
                 "deployments need your own certificate.");
        return -1;
    }
    if (enc && n != 3) {
        al_error(c, 400, "BadRequest",
                 "encryptionProperties needs vaultBaseUrl, keyName and keyVersion together.");
        return -1;
    }
    if (enc && (type == NULL || strcasecmp(type, "ACI") != 0)) {
        al_error(c, 400, "BadRequest",
                 "encryptionProperties (a customer-managed key) is only supported for ACI "
                 "deployments.");
        return -1;
    }
    /* secrets are never returned */
    json_object_del(res, "sslKey");
    return 0;
}

static int check_ws_name_reserved(struct al_ctx *c, const char *id, const json_t *old)
{
    if (old)
        return 0;
    if (al_ws_name_held(c, id)) {
        al_error(c, 409, "Conflict",
                 "A soft-deleted workspace with the name '%s' exists in this resource group. "
                 "Recover it or purge it (DELETE with forceToPurge=true) before reusing the name.",
                 strrchr(id, '/') + 1);
        return -1;
    }
    return 0;
}

static int check_role_assignment(struct al_ctx *c, const char *id, const char *scope, json_t *res,
                                 const json_t *old)
{
    const char *role = str(al_jpath(res, "properties.roleDefinitionId"));
    const char *principal = str(al_jpath(res, "properties.principalId"));
    char scope_l[2048], key[2048];
    const char *k;
    json_t *rec;

    if (role == NULL || principal == NULL) {
        al_error(c, 400, "InvalidRoleAssignmentRequest",
                 "The request is missing properties.roleDefinitionId or properties.principalId.");
        return -1;
    }
    if (old) {
        if (!al_json_equal_ci(al_jpath(old, "properties.roleDefinitionId"),
                              al_jpath(res, "properties.roleDefinitionId")) ||
            !al_json_equal_ci(al_jpath(old, "properties.principalId"),
                              al_jpath(res, "properties.principalId"))) {
            al_error(c, 400, "RoleAssignmentUpdateNotPermitted",
                     "Tenant ID, application ID, principal ID, and scope are not allowed to be "
                     "updated.");
            return -1;
        }
        return 0;
    }
    al_lower(scope_l, scope, sizeof(scope_l));
    al_lower(key, id, sizeof(key));
    /* the role assignments at this scope, from the index by scope */
    json_object_foreach(al_scope_keys(c->al->ra_scopes, scope_l), k, rec)
    {
        json_t *b;
        c->al->work++;
        rec = json_object_get(al_resources(c->al), k);
        b = json_object_get(rec, "body");
        const char *t = str(json_object_get(b, "type"));
        const char *s = str(al_jpath(b, "properties.scope"));
        if (t == NULL || strcasecmp(t, "Microsoft.Authorization/roleAssignments") != 0 ||
            strcmp(k, key) == 0)
            continue;
        if (s && strcasecmp(s, scope[0] ? scope : "/") == 0 &&
            al_json_equal_ci(al_jpath(b, "properties.principalId"),
                             al_jpath(res, "properties.principalId")) &&
            al_json_equal_ci(al_jpath(b, "properties.roleDefinitionId"),
                             al_jpath(res, "properties.roleDefinitionId"))) {
            al_error(c, 409, "RoleAssignmentExists", "The role assignment already exists.");
            return -1;
        }
    }
    return 0;
}

static int check_private_endpoint(struct al_ctx *c, json_t *res)
{
    static const char *const lists[] = {"properties.privateLinkServiceConnections",
                                        "properties.manualPrivateLinkServiceConnections"};
    const char *subnet = str(al_jpath(res, "properties.subnet.id"));
    json_t *r;

    if (subnet == NULL) {
        al_error(c, 400, "InvalidRequestFormat", "properties.subnet.id is required.");
        return -1;
    }
    r = al_rec_get(c->al, subnet);
    if (r == NULL || json_is_true(json_object_get(r, "hidden"))) {
        al_error(c, 400, "InvalidResourceReference",
                 "Resource %s referenced by resource %s was not found. Please make sure that the "
                 "referenced resource exists, and that both resources are in the same region.",
                 subnet, str(json_object_get(res, "id")));
        return -1;
    }
    for (size_t l = 0; l < 2; l++) {
        size_t i;
        json_t *conn;
        json_array_foreach(al_jpath(res, lists[l]), i, conn)
        {
            const char *target = str(al_jpath(conn, "properties.privateLinkServiceId"));
            json_t *tr = target ? al_rec_get(c->al, target) : NULL;
            if (tr == NULL || json_is_true(json_object_get(tr, "hidden"))) {
                al_error(c, 400, "InvalidResourceReference",
                         "Resource %s referenced by resource %s was not found.",
                         target ? target : "(missing privateLinkServiceId)",
                         str(json_object_get(res, "id")));
                return -1;
            }
            json_object_set_new(
                json_object_get(conn, "properties"), "privateLinkServiceConnectionState",
                json_pack("{s:s, s:s, s:s}", "status", l == 0 ? "Approved" : "Pending",
                          "description", l == 0 ? "Auto-Approved" : "Awaiting approval",
                          "actionsRequired", "None"));
        }
    }
    return 0;
}

static void set_default_false(json_t *res, const char *path)
{
    if (al_jpath(res, path) == NULL)
        al_jpath_set_new(res, path, json_false());
}

static int live(const json_t *rec)
{
    return rec && !json_is_true(json_object_get(rec, "hidden"));
}

/* Private DNS zones and their links live in "global" (the service refuses
 * any other location). */
static int check_global_location(struct al_ctx *c, const json_t *res)
{
    const char *loc = str(json_object_get(res, "location"));
    if (loc && strcasecmp(loc, "global") == 0)
        return 0;
    al_error(c, 400, "InvalidLocation",
             "The location '%s' is not valid for this resource: private DNS zones and their "
             "virtual network links are global.",
             loc ? loc : "");
    return -1;
}

/* A virtual network link names a network that exists, at most once per zone. */
static int check_vnet_link(struct al_ctx *c, const char *id, json_t *res)
{
    const char *vnet = str(al_jpath(res, "properties.virtualNetwork.id"));
    const char *k;
    json_t *rec;
    char zone[2048];
    size_t n;

    if (check_global_location(c, res) < 0)
        return -1;
    if (vnet == NULL || !live(al_rec_get(c->al, vnet))) {
        al_error(c, 400, "BadRequest", "The referenced virtual network '%s' does not exist.",
                 vnet ? vnet : "(missing properties.virtualNetwork.id)");
        return -1;
    }
    al_lower(zone, id, sizeof(zone));
    *strstr(zone, "/virtualnetworklinks/") = '\0';
    n = strlen(zone);
    /* the zone's links, from the tree index */
    json_t *one;
    json_object_foreach(
        al_tree_keys(c->al, zone, "microsoft.network/privatednszones/virtualnetworklinks"), k, one)
    {
        const char *other;
        char idl[2048];
        c->al->work++;
        rec = json_object_get(al_resources(c->al), k);
        other = str(al_jpath(json_object_get(rec, "body"), "properties.virtualNetwork.id"));
        al_lower(idl, id, sizeof(idl));
        if (strncmp(k, zone, n) == 0 && strncmp(k + n, "/virtualnetworklinks/", 21) == 0 &&
            strcmp(k, idl) != 0 && other && strcasecmp(other, vnet) == 0) {
            al_error(c, 409, "Conflict",
                     "A virtual network cannot be linked to the same private DNS zone more than "
                     "once: '%s' is already linked.",
                     vnet);
            return -1;
        }
    }
    set_default_false(res, "properties.registrationEnabled");
    return 0;
}

/* A DNS zone group names zones that exist, at most 5. */
static int check_zone_group(struct al_ctx *c, json_t *res)
{
    json_t *configs = al_jpath(res, "properties.privateDnsZoneConfigs"), *cfg;
    size_t i;
    if (!json_is_array(configs) || json_array_size(configs) == 0 || json_array_size(configs) > 5) {
        al_error(c, 400, "InvalidRequestFormat",
                 "properties.privateDnsZoneConfigs must name 1 to 5 private DNS zones.");
        return -1;
    }
    json_array_foreach(configs, i, cfg)
    {
        const char *zone = str(al_jpath(cfg, "properties.privateDnsZoneId"));
        if (zone == NULL || !live(al_rec_get(c->al, zone))) {
            al_error(c, 400, "InvalidResourceReference",
                     "Resource %s referenced by resource %s was not found.",
                     zone ? zone : "(missing privateDnsZoneId)", str(json_object_get(res, "id")));
            return -1;
        }
    }
    return 0;
}

/* Policy definitions need a rule with "if" and "then". */
static int check_policy_definition(struct al_ctx *c, json_t *res)
{
    json_t *rule = al_jpath(res, "properties.policyRule");
    if (!json_is_object(rule) || !json_is_object(json_object_get(rule, "if")) ||
        !json_is_object(json_object_get(rule, "then"))) {
        al_error(c, 400, "InvalidPolicyRule",
                 "Failed to parse policy rule: it must be an object with 'if' and 'then'.");
        return -1;
    }
    if (al_jpath(res, "properties.mode") == NULL)
        al_jpath_set_new(res, "properties.mode", json_string("Indexed"));
    al_jpath_set_new(res, "properties.policyType", json_string("Custom"));
    return 0;
}

/* A policy set definition (initiative) needs at least one member, each
 * naming a definition that exists (a custom one in the store, a built-in
 * among those loaded), with reference ids unique in the set; a member's
 * "[parameters('p')]" must name a parameter of the set. */
static int check_policy_set_definition(struct al_ctx *c, json_t *res)
{
    json_t *members = al_jpath(res, "properties.policyDefinitions"), *m;
    json_t *seen = json_object();
    const json_t *params = al_jpath(res, "properties.parameters");
    size_t i;
    int rc = 0;
    if (!json_is_array(members) || json_array_size(members) == 0) {
        al_error(c, 400, "InvalidPolicySetDefinitionRequest",
                 "The policy set definition must contain at least one policy definition "
                 "(properties.policyDefinitions).");
        json_decref(seen);
        return -1;
    }
    json_array_foreach(members, i, m)
    {
        const char *def = str(json_object_get(m, "policyDefinitionId"));
        const char *ref = str(json_object_get(m, "policyDefinitionReferenceId"));
        const char *k;
        json_t *pv;
        char low[512];
        if (def == NULL) {
            al_error(c, 400, "InvalidPolicySetDefinitionRequest",
                     "properties.policyDefinitions[%zu].policyDefinitionId is required.", i);
            rc = -1;
            break;
        }
        if (strncasecmp(def, "/providers/Microsoft.Authorization/policyDefinitions/", 53) == 0) {
            al_lower(low, def + 53, sizeof(low));
            if (json_object_size(c->al->policy_defs) > 0 &&
                json_object_get(c->al->policy_defs, low) == NULL) {
                al_error(c, 404, "PolicyDefinitionNotFound",
                         "The policy definition '%s' could not be found.", def);
                rc = -1;
                break;
            }
        } else if (!live(al_rec_get(c->al, def))) {
            al_error(c, 404, "PolicyDefinitionNotFound",
                     "The policy definition '%s' could not be found.", def);
            rc = -1;
            break;
        }
        if (ref == NULL) {
            /* the service names an unnamed member */
            char g[37];
            al_guid(c->al, g);
            json_object_set_new(m, "policyDefinitionReferenceId", json_string(g));
            ref = str(json_object_get(m, "policyDefinitionReferenceId"));
        }
        al_lower(low, ref, sizeof(low));
        if (json_object_get(seen, low)) {
            al_error(c, 400, "InvalidPolicySetDefinitionRequest",
                     "The policy definition reference id '%s' is used more than once in the "
                     "policy set definition.",
                     ref);
            rc = -1;
            break;
        }
        json_object_set_new(seen, low, json_true());
        json_object_foreach(json_object_get(m, "parameters"), k, pv)
        {
            const char *val = str(json_object_get(pv, "value"));
            char pname[256];
            if (val && sscanf(val, "[parameters('%255[^']')]", pname) == 1 &&
                json_object_get(params, pname) == NULL) {
                al_error(c, 400, "InvalidPolicyParameters",
                         "The policy definition reference '%s' uses the parameter '%s' which is "
                         "not defined in the policy set definition.",
                         ref, pname);
                rc = -1;
                break;
            }
        }
        if (rc < 0)
            break;
    }
    json_decref(seen);
    if (rc == 0)
        al_jpath_set_new(res, "properties.policyType", json_string("Custom"));
    return rc;
}

/* A policy assignment's definition must exist: a custom one in the store,
 * a built-in among those loaded (--policy-definitions; none loaded: not
 * checked). */
static int check_policy_assignment(struct al_ctx *c, json_t *res)
{
    const char *def = str(al_jpath(res, "properties.policyDefinitionId"));
    const char *name;
    char low[256];
    if (def == NULL) {
        al_error(c, 400, "InvalidRequestContent", "properties.policyDefinitionId is required.");
        return -1;
    }
    if (strncasecmp(def, "/providers/Microsoft.Authorization/policyDefinitions/", 53) == 0) {
        name = def + 53;
        al_lower(low, name, sizeof(low));
        if (json_object_size(c->al->policy_defs) == 0 ||
            json_object_get(c->al->policy_defs, low) != NULL)
            return 0;
    } else if (strncasecmp(def, "/providers/Microsoft.Authorization/policySetDefinitions/", 56) ==
                   0 ||
               live(al_rec_get(c->al, def))) {
        return 0; /* custom definitions and initiatives in the store; built-in initiatives are
                   * not loaded */
    }
    al_error(c, 404, "PolicyDefinitionNotFound", "The policy definition '%s' could not be found.",
             def);
    return -1;
}

/* Datastores of a network-isolated workspace (public network access
 * Disabled): the service cannot reach blob or file storage to validate the
 * credentials, so the PUT must say skipValidation=true; ADLS Gen1/Gen2
 * skip validation by default (security-rules.md DS-SKIP-VALIDATION). */
static int check_datastore(struct al_ctx *c, const char *id, json_t *res)
{
    const char *type = str(al_jpath(res, "properties.datastoreType"));
    const char *skip = al_query(c->req, "skipValidation");
    const char *p = strcasestr(id, "/datastores/");
    char ws_id[2048];
    const json_t *ws;
    if (type == NULL) {
        al_error(c, 400, "InvalidDatastore", "The request is missing properties.datastoreType.");
        return -1;
    }
    if (p == NULL || (size_t)(p - id) >= sizeof(ws_id) || (skip && strcasecmp(skip, "true") == 0) ||
        strncasecmp(type, "AzureDataLake", 13) == 0)
        return 0;
    snprintf(ws_id, sizeof(ws_id), "%.*s", (int)(p - id), id);
    ws = json_object_get(al_rec_get(c->al, ws_id), "body");
    if (str(al_jpath(ws, "properties.publicNetworkAccess")) == NULL ||
        strcasecmp(str(al_jpath(ws, "properties.publicNetworkAccess")), "Disabled") != 0)
        return 0;
    al_error(c, 400, "DatastoreValidationFailed",
             "Unable to validate datastore '%s': the workspace is network-isolated and the "
             "service cannot reach the %s storage. Retry with skipValidation=true.",
             strrchr(id, '/') + 1, type);
    return -1;
}

/* --- names and required properties ---------------------------------------- */

static int all_of(const char *s, const char *extra, int lower_only)
{
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        int alnum = (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
                    (!lower_only && ch >= 'A' && ch <= 'Z');
        if (!alnum && (extra == NULL || strchr(extra, ch) == NULL))
            return 0;
    }
    return 1;
}

static int is_alnum_c(char ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

static int is_letter_c(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

/* Each kind's name rule, with the code its service answers (arm-api.md
 * §1-§7; where no code is documented, ARM's own InvalidResourceName). */
static int check_name(struct al_ctx *c, const struct al_type *t, const char *name)
{
    size_t n = strlen(name);
    if (is_type(t, "Microsoft.Storage/storageAccounts")) {
        if (n >= 3 && n <= 24 && all_of(name, NULL, 1))
            return 0;
        al_error(c, 400, "AccountNameInvalid",
                 "'%s' is not a valid storage account name. Storage account name must be between "
                 "3 and 24 characters in length and use numbers and lower-case letters only.",
                 name);
        return -1;
    }
    if (is_type(t, "Microsoft.KeyVault/vaults")) {
        if (n >= 3 && n <= 24 && all_of(name, "-", 0) && is_letter_c(name[0]) &&
            is_alnum_c(name[n - 1]) && strstr(name, "--") == NULL)
            return 0;
        al_error(c, 400, "VaultNameNotValid",
                 "The vault name '%s' is invalid. A vault's name must be between 3-24 "
                 "alphanumeric characters. The name must begin with a letter, end with a letter "
                 "or digit, and not contain consecutive hyphens.",
                 name);
        return -1;
    }
    if (is_type(t, "Microsoft.ContainerRegistry/registries")) {
        if (n >= 5 && n <= 50 && all_of(name, NULL, 0))
            return 0;
        al_error(c, 400, "InvalidResourceName",
                 "Resource name '%s' is invalid. The name can be between 5 and 50 characters "
                 "long and can contain only alphanumeric characters.",
                 name);
        return -1;
    }
    if (is_type(t, "Microsoft.MachineLearningServices/workspaces")) {
        /* ^[a-zA-Z0-9][a-zA-Z0-9_-]{2,32}$ */
        if (n >= 3 && n <= 33 && is_alnum_c(name[0]) && all_of(name, "_-", 0))
            return 0;
        al_error(c, 400, "InvalidResourceName",
                 "Resource name '%s' is invalid. A workspace name must be 3 to 33 characters, "
                 "start with a letter or digit, and contain only letters, digits, '-' and '_'.",
                 name);
        return -1;
    }
    if (is_type(t, "Microsoft.MachineLearningServices/workspaces/onlineEndpoints")) {
        /* ^[a-zA-Z0-9][a-zA-Z0-9\-_]{0,254}$ */
        if (n >= 1 && n <= 255 && is_alnum_c(name[0]) && all_of(name, "_-", 0))
            return 0;
        al_error(c, 400, "InvalidResourceName",
                 "Resource name '%s' is invalid. An online endpoint name must start with a letter "
                 "or digit and contain only letters, digits, '-' and '_' (at most 255).",
                 name);
        return -1;
    }
    if (is_type(t, "Microsoft.Network/privateDnsZones")) {
        /* a DNS name: two labels or more, each 1-63 letters, digits and
         * hyphens, not starting or ending with a hyphen; 253 at most */
        int ok = n >= 3 && n <= 253 && strchr(name, '.') != NULL;
        size_t label = 0;
        for (size_t i = 0; i <= n && ok; i++) {
            char ch = name[i];
            if (ch == '.' || ch == '\0') {
                ok = label > 0 && label <= 63 && name[i - 1] != '-';
                label = 0;
            } else {
                ok = (is_alnum_c(ch) || (ch == '-' && label > 0));
                label++;
            }
        }
        if (ok)
            return 0;
        al_error(c, 400, "InvalidResourceName",
                 "'%s' is not a valid private DNS zone name: it must be a DNS name of two labels "
                 "or more (letters, digits and hyphens, 1-63 characters each).",
                 name);
        return -1;
    }
    if (is_type(t, "Microsoft.Authorization/locks")) {
        int bad = n == 0 || n > 260;
        for (const char *q = name; *q && !bad; q++)
            bad = (unsigned char)*q < 0x20 || strchr("<>%&:\\?/", *q) != NULL;
        if (!bad)
            return 0;
        al_error(c, 400, "LockNameInvalid",
                 "The lock name '%s' is invalid: at most 260 characters, none of < > %% & : \\ ? / "
                 "or control characters.",
                 name);
        return -1;
    }
    return 0;
}

/* Names Azure keeps unique across all of Azure (they are DNS names). */
static int check_global_name(struct al_ctx *c, const struct al_type *t, const char *id,
                             const char *name)
{
    const char *owner = al_global_name_owner(c->al, id);
    char key[2048];
    al_lower(key, id, sizeof(key));
    if (owner == NULL || strcmp(owner, key) == 0)
        return 0;
    if (is_type(t, "Microsoft.Storage/storageAccounts"))
        al_error(c, 409, "StorageAccountAlreadyTaken",
                 "The storage account named %s is already taken.", name);
    else if (is_type(t, "Microsoft.KeyVault/vaults"))
        al_error(c, 409, "VaultAlreadyExists",
                 "The vault name '%s' is already in use. Vault names are globally unique.", name);
    else
        al_error(c, 409, "AlreadyInUse", "The registry DNS name %s.azurecr.io is already in use.",
                 name);
    return -1;
}

/* What a PUT must carry (arm-api.md: tracked resources need a location;
 * storage sku and kind, vault tenantId and sku, registry sku). */
static int check_required(struct al_ctx *c, const struct al_type *t, const json_t *req)
{
    static const char *const tracked[] = {
        "Microsoft.Resources/resourceGroups",
        "Microsoft.Storage/storageAccounts",
        "Microsoft.KeyVault/vaults",
        "Microsoft.ContainerRegistry/registries",
        "Microsoft.MachineLearningServices/workspaces",
        "Microsoft.Insights/components",
        "Microsoft.Network/privateEndpoints",
        "Microsoft.Network/virtualNetworks",
        "Microsoft.ManagedIdentity/userAssignedIdentities",
        "Microsoft.OperationalInsights/workspaces",
    };
    for (size_t i = 0; i < sizeof(tracked) / sizeof(tracked[0]); i++)
        if (is_type(t, tracked[i]) && !json_is_string(json_object_get(req, "location"))) {
            al_error(c, 400, "LocationRequired",
                     "The location property is required for this definition.");
            return -1;
        }
    if (is_type(t, "Microsoft.Storage/storageAccounts")) {
        int no_kind = !json_is_string(json_object_get(req, "kind"));
        int no_sku = !json_is_string(al_jpath(req, "sku.name"));
        if (no_kind || no_sku) {
            al_error(c, 400, "InvalidValuesForRequestParameters",
                     "Values for request parameters are invalid: %s%s%s.", no_kind ? "kind" : "",
                     no_kind && no_sku ? ", " : "", no_sku ? "sku" : "");
            return -1;
        }
    }
    if (is_type(t, "Microsoft.KeyVault/vaults")) {
        const char *missing =
            !json_is_string(al_jpath(req, "properties.tenantId"))     ? "properties.tenantId"
            : !json_is_string(al_jpath(req, "properties.sku.name"))   ? "properties.sku.name"
            : !json_is_string(al_jpath(req, "properties.sku.family")) ? "properties.sku.family"
                                                                      : NULL;
        if (missing) {
            al_error(c, 400, "BadRequest", "The parameter %s is required to create a vault.",
                     missing);
            return -1;
        }
    }
    if (is_type(t, "Microsoft.ContainerRegistry/registries") &&
        !json_is_string(al_jpath(req, "sku.name"))) {
        al_error(c, 400, "InvalidRequestContent",
                 "The request content was invalid and could not be deserialized: Required "
                 "property 'sku' not found in JSON.");
        return -1;
    }
    return 0;
}

/* Checks a PUT's name and body before anything else (not PATCH: it names an
 * existing resource and carries only what changes). */
int al_rules_check_put(struct al_ctx *c, const struct al_type *t, const char *id, const char *name,
                       const json_t *req)
{
    if (check_name(c, t, name) < 0 || check_required(c, t, req) < 0)
        return -1;
    return check_global_name(c, t, id, name);
}

int al_rules_check_write(struct al_ctx *c, const struct al_type *t, const char *id,
                         const char *scope, json_t *res, json_t *old, int is_patch)
{
    (void)is_patch;
    if (check_create_only(c, t, res, old) < 0 || check_identities(c, t, res) < 0)
        return -1;
    if (is_type(t, "Microsoft.Storage/storageAccounts"))
        return check_cmk_storage(c, res);
    if (is_type(t, "Microsoft.MachineLearningServices/workspaces/computes"))
        return check_ml_compute(c, res);
    if (is_type(t, "Microsoft.MachineLearningServices/workspaces/services"))
        return check_web_service(c, res);
    if (is_type(t, "Microsoft.ContainerRegistry/registries"))
        return check_cmk_registry(c, res);
    if (is_type(t, "Microsoft.ContainerService/managedClusters"))
        return check_managed_cluster(c, res);
    if (is_type(t, "Microsoft.KeyVault/vaults"))
        return check_vault(c, res, old);
    if (is_type(t, "Microsoft.MachineLearningServices/workspaces"))
        return check_ws_name_reserved(c, id, old) < 0 || check_managed_network(c, res) < 0
                   ? -1
                   : check_cmk_workspace(c, res);
    if (is_type(t, "Microsoft.Authorization/roleAssignments"))
        return check_role_assignment(c, id, scope, res, old);
    if (is_type(t, "Microsoft.Network/privateEndpoints"))
        return check_private_endpoint(c, res);
    if (is_type(t, "Microsoft.MachineLearningServices/workspaces/datastores"))
        return check_datastore(c, id, res);
    if (is_type(t, "Microsoft.Network/privateDnsZones"))
        return check_global_location(c, res);
    if (is_type(t, "Microsoft.Network/privateDnsZones/virtualNetworkLinks"))
        return check_vnet_link(c, id, res);
    if (is_type(t, "Microsoft.Network/privateEndpoints/privateDnsZoneGroups"))
        return check_zone_group(c, res);
    if (is_type(t, "Microsoft.Authorization/policyDefinitions"))
        return check_policy_definition(c, res);
    if (is_type(t, "Microsoft.Authorization/policySetDefinitions"))
        return check_policy_set_definition(c, res);
    if (is_type(t, "Microsoft.Authorization/policyAssignments"))
        return check_policy_assignment(c, res);
    if (is_type(t, "Microsoft.Authorization/locks")) {
        const char *level = str(al_jpath(res, "properties.level"));
        if (level == NULL || (strcmp(level, "CanNotDelete") && strcmp(level, "ReadOnly") &&
                              strcmp(level, "NotSpecified"))) {
            al_error(c, 400, "LockLevelInvalid",
                     "The lock level must be one of CanNotDelete, ReadOnly.");
            return -1;
        }
    }
    return 0;
}

/* A lock at id's scope or above blocks writes (ReadOnly) and deletes
 * (both levels); a delete is also blocked by locks below id. The scopes
 * above id are looked up in the store's index of lock scopes, one per
 * segment of id (a write costs the depth of id, not the size of the store);
 * only a delete walks the locked scopes for those below. */
static int lock_blocks(struct al_ctx *c, const char *scope, int is_delete)
{
    const char *k;
    json_t *one;
    c->al->work++;
    json_object_foreach(json_object_get(c->al->lock_scopes, scope), k, one)
    {
        json_t *rec = json_object_get(al_resources(c->al), k);
        const char *level = str(al_jpath(json_object_get(rec, "body"), "properties.level"));
        if (level && (is_delete || strcmp(level, "ReadOnly") == 0))
            return 1;
    }
    return 0;
}

int al_rules_check_locks(struct al_ctx *c, const char *id, int is_delete)
{
    char idl[2048], scope[2048];
    const char *k, *locked = NULL;
    json_t *locks;
    size_t n;

    if (strstr(id, "/providers/Microsoft.Authorization/locks/") ||
        strcasestr(id, "/providers/microsoft.authorization/locks/"))
        return 0;
    al_lower(idl, id, sizeof(idl));
    n = strlen(idl);
    /* id itself and every scope above it, at each '/' */
    for (size_t len = n; len > 0 && locked == NULL; len--) {
        if (len < n && idl[len] != '/')
            continue;
        snprintf(scope, sizeof(scope), "%.*s", (int)len, idl);
        if (lock_blocks(c, scope, is_delete))
            locked = scope;
    }
    if (locked == NULL && is_delete)
        json_object_foreach(c->al->lock_scopes, k, locks)
        {
            c->al->work++;
            if (strncmp(k, idl, n) == 0 && k[n] == '/' && lock_blocks(c, k, 1)) {
                snprintf(scope, sizeof(scope), "%s", k);
                locked = scope;
                break;
            }
        }
    if (locked == NULL)
        return 0;
    al_error(c, 409, "ScopeLocked",
             "The scope '%s' cannot perform %s operation because following scope(s) are "
             "locked: '%s'. Please remove the lock and try again.",
             id, is_delete ? "delete" : "write", locked);
    return -1;
}

int al_rules_check_delete(struct al_ctx *c, const struct al_type *t, const char *id, json_t *rec)
{
    const char *force = al_query(c->req, "forceToPurge");
    int purge = force && strcasecmp(force, "true") == 0;
    json_t *body = json_object_get(rec, "body");

    if (!is_type(t, "Microsoft.MachineLearningServices/workspaces"))
        return 0;
    if (rec == NULL) {
        if (purge && al_ws_purge(c, id))
            c->res->status = 200;
        return 0;
    }
    /* CMK workspaces are always hard-deleted; others are soft-deleted
     * unless forceToPurge=true */
    if (!purge &&
        !(str(al_jpath(body, "properties.encryption.status")) &&
          strcasecmp(str(al_jpath(body, "properties.encryption.status")), "Enabled") == 0)) {
        al_ws_soft_delete(c, id, body);
    }
    return 0;
}

static void add_connection(struct armlocal *al, const char *pe_id, const char *pe_name,
                           json_t *conn, int manual)
{
    const char *target = str(al_jpath(conn, "properties.privateLinkServiceId"));
    json_t *tr = target ? al_rec_get(al, target) : NULL;
    const char *ttype;
    char cid[2048], name[600], g[37], ctype[300];

    if (tr == NULL)
        return;
    ttype = str(al_jpath(json_object_get(tr, "body"), "type"));
    if (ttype == NULL)
        return;
    snprintf(ctype, sizeof(ctype), "%s/privateEndpointConnections", ttype);
    if (al_type_find(ctype) == NULL)
        return;
    al_guid(al, g);
    snprintf(name, sizeof(name), "%s.%s", pe_name, g);
    snprintf(cid, sizeof(cid), "%s/privateEndpointConnections/%s",
             str(json_object_get(json_object_get(tr, "body"), "id")), name);
    al_rec_put(al, cid,
               json_pack("{s:s, s:s, s:s, s:{s:{s:s}, s:{s:s, s:s, s:s}, s:O, s:s}}", "id", cid,
                         "name", name, "type", al_type_find(ctype)->type, "properties",
                         "privateEndpoint", "id", pe_id, "privateLinkServiceConnectionState",
                         "status", manual ? "Pending" : "Approved", "description",
                         manual ? "Awaiting approval" : "Auto-Approved", "actionsRequired", "None",
                         "groupIds",
                         json_object_get(conn, "properties")
                             ? json_object_get(json_object_get(conn, "properties"), "groupIds")
                             : json_null(),
                         "provisioningState", "Succeeded"));
}

/* The connections of the private endpoint pe_id, from the store's index
 * of them by endpoint (a scan of every connection per endpoint write made
 * creating N endpoints cost N^2). */
static void remove_connections(struct armlocal *al, const char *pe_id)
{
    char pel[2048];
    const char *k;
    json_t *rec, *keys;
    void *tmp;
    al_lower(pel, pe_id, sizeof(pel));
    keys = json_object_get(al->pec_by_pe, pel);
    if (keys == NULL)
        return;
    json_incref(keys); /* deleting its last connection drops it from the index */
    json_object_foreach_safe(keys, tmp, k, rec)
    {
        const char *pid;
        al->work++;
        rec = json_object_get(al_resources(al), k);
        pid = str(al_jpath(json_object_get(rec, "body"), "properties.privateEndpoint.id"));
        if (strstr(k, "/privateendpointconnections/") && pid && strcasecmp(pid, pe_id) == 0)
            al_rec_del_key(al, k);
    }
    json_decref(keys);
}

/* A DNS zone group writes, in each of its zones, an A record for the
 * private endpoint's target (named after it, 10 s TTL, a private address),
 * and lists them in the group's recordSets, as the service does. */
static void zone_group_records(struct armlocal *al, json_t *group)
{
    const char *gid = str(json_object_get(group, "id"));
    char peid[2048], ip[32], target_name[256] = "endpoint";
    json_t *pe, *configs = al_jpath(group, "properties.privateDnsZoneConfigs"), *cfg;
    const char *target;
    size_t i;
    unsigned h = 0;

    if (gid == NULL || strstr(gid, "/privateDnsZoneGroups/") == NULL)
        return;
    snprintf(peid, sizeof(peid), "%.*s", (int)(strstr(gid, "/privateDnsZoneGroups/") - gid), gid);
    pe = json_object_get(al_rec_get(al, peid), "body");
    target =
        str(al_jpath(json_array_get(al_jpath(pe, "properties.privateLinkServiceConnections"), 0),
                     "properties.privateLinkServiceId"));
    if (target == NULL)
        target = str(al_jpath(
            json_array_get(al_jpath(pe, "properties.manualPrivateLinkServiceConnections"), 0),
            "properties.privateLinkServiceId"));
    if (target && strrchr(target, '/'))
        al_lower(target_name, strrchr(target, '/') + 1, sizeof(target_name));
    for (const char *q = peid; *q; q++)
        h = h * 31u + (unsigned char)*q;
    snprintf(ip, sizeof(ip), "10.%u.%u.%u", (h >> 16) & 0xff, (h >> 8) & 0xff, 4 + (h & 0x7f));
    json_array_foreach(configs, i, cfg)
    {
        const char *zone = str(al_jpath(cfg, "properties.privateDnsZoneId"));
        const char *zname = zone && strrchr(zone, '/') ? strrchr(zone, '/') + 1 : "";
        char rid[2048], fqdn[600];
        if (zone == NULL)
            continue;
        snprintf(rid, sizeof(rid), "%s/A/%s", zone, target_name);
        snprintf(fqdn, sizeof(fqdn), "%s.%s.", target_name, zname);
        al_rec_put(al, rid,
                   json_pack("{s:s, s:s, s:s, s:{s:i, s:s, s:[{s:s}], s:b}}", "id", rid, "name",
                             target_name, "type", "Microsoft.Network/privateDnsZones/A",
                             "properties", "ttl", 10, "fqdn", fqdn, "aRecords", "ipv4Address", ip,
                             "isAutoRegistered", 0));
        json_object_set_new(json_object_get(cfg, "properties"), "recordSets",
                            json_pack("[{s:s, s:s, s:s, s:i, s:[s], s:s}]", "recordType", "A",
                                      "recordSetName", target_name, "fqdn", fqdn, "ttl", 10,
                                      "ipAddresses", ip, "provisioningState", "Succeeded"));
    }
}

void al_rules_after_write(struct armlocal *al, const struct al_type *t, const char *id)
{
    json_t *rec = al_rec_get(al, id), *body = json_object_get(rec, "body");
    const char *name = str(json_object_get(body, "name"));
    size_t i;
    json_t *conn;

    if (rec && json_is_true(json_object_get(rec, "grantIdentity")) &&
        !json_is_string(json_object_get(rec, "op"))) {
        json_object_del(rec, "grantIdentity");
        al_rbac_workspace_created(al, id);
    }

    if (is_type(t, "Microsoft.Network/privateEndpoints/privateDnsZoneGroups") && rec &&
        !json_is_string(json_object_get(rec, "op"))) {
        zone_group_records(al, body);
        return;
    }
    if (!is_type(t, "Microsoft.Network/privateEndpoints") || rec == NULL ||
        json_is_string(json_object_get(rec, "op")))
        return;
    remove_connections(al, id);
    json_array_foreach(al_jpath(body, "properties.privateLinkServiceConnections"), i, conn)
        add_connection(al, id, name ? name : "pe", conn, 0);
    json_array_foreach(al_jpath(body, "properties.manualPrivateLinkServiceConnections"), i, conn)
        add_connection(al, id, name ? name : "pe", conn, 1);
}

void al_rules_after_delete(struct armlocal *al, const struct al_type *t, const char *id,
                           json_t *tree)
{
    char idl[2048];
    json_t *body;

    al_lower(idl, id, sizeof(idl));
    body = json_object_get(json_object_get(tree, idl), "body");
    if (is_type(t, "Microsoft.Network/privateEndpoints/privateDnsZoneGroups") ||
        is_type(t, "Microsoft.Network/privateEndpoints")) {
        /* the group's records go with it (and with its endpoint) */
        const char *k;
        json_t *r;
        json_object_foreach(tree, k, r)
        {
            json_t *b = json_object_get(r, "body");
            size_t i;
            json_t *cfg;
            if (!str(json_object_get(b, "type")) ||
                strcasecmp(str(json_object_get(b, "type")),
                           "Microsoft.Network/privateEndpoints/privateDnsZoneGroups") != 0)
                continue;
            json_array_foreach(al_jpath(b, "properties.privateDnsZoneConfigs"), i, cfg)
            {
                json_t *rs = json_array_get(al_jpath(cfg, "properties.recordSets"), 0);
                const char *zone = str(al_jpath(cfg, "properties.privateDnsZoneId"));
                char rid[2048];
                if (zone && str(json_object_get(rs, "recordSetName"))) {
                    snprintf(rid, sizeof(rid), "%s/A/%s", zone,
                             str(json_object_get(rs, "recordSetName")));
                    al_rec_del_tree(al, rid);
                }
            }
        }
    }
    if (is_type(t, "Microsoft.Network/privateEndpoints")) {
        remove_connections(al, id);
    } else if (is_type(t, "Microsoft.KeyVault/vaults") &&
               json_is_true(al_jpath(body, "properties.enableSoftDelete"))) {
        char key[256], ts[40], did[1024];
        const char *name = str(json_object_get(body, "name"));
        const char *loc = str(json_object_get(body, "location"));
        char rg[1024];
        rg_of(id, rg, sizeof(rg));
        al_lower(key, name ? name : "", sizeof(key));
        al_time_iso(al_now_ms(), ts, sizeof(ts));
        snprintf(did, sizeof(did),
                 "%.*s/providers/Microsoft.KeyVault/locations/%s/deletedVaults/%s",
                 (int)(strstr(rg, "/resourcegroups/") ? strstr(rg, "/resourcegroups/") - rg : 0),
                 rg, loc ? loc : "global", name ? name : "");
        json_object_set_new(
            json_object_get(al->state, "deletedVaults"), key,
            json_pack("{s:s, s:s, s:s, s:{s:s, s:s, s:s, s:b}}", "id", did, "name",
                      name ? name : "", "type", "Microsoft.KeyVault/deletedVaults", "properties",
                      "vaultId", id, "location", loc ? loc : "global", "deletionDate", ts,
                      "purgeProtectionEnabled",
                      json_is_true(al_jpath(body, "properties.enablePurgeProtection"))));
        /* what recover brings back: the vault as it was and its keys */
        json_object_set(json_object_get(al->state, "deletedVaultData"), key, tree);
        al_store_touch(al, "deletedVaults", key);
        al_store_touch(al, "deletedVaultData", key);
    }
}
