/* Plan-time security rules that read the live cloud (see live_rules.h). */
#include "engine/live_rules.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine/rules.h"
#include "providers/arm/schema.h"
#include "util/buf.h"
#include "util/errbuf.h"
#include "util/banned.h"

#define AUTHZ_API "2022-04-01"
#define SUPPORT_APP_CUTOFF "2021-05-14"

static const char *str_of(const json_t *v)
{
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static const char *inst_id(const struct live_rules_in *lin, const struct cfg_instance *in)
{
    return str_of(json_object_get(config_instance_value(lin->cfg, in), "id"));
}

/* ---- RBAC-VNET-JOIN --------------------------------------------------- */

/* Case-insensitive match of an action against a pattern with '*'. */
static bool action_match(const char *pat, const char *s)
{
    if (*pat == '\0')
        return *s == '\0';
    if (*pat == '*') {
        for (;; s++) {
            if (action_match(pat + 1, s))
                return true;
            if (*s == '\0')
                return false;
        }
    }
    if (*s == '\0' || (*pat | 0x20) != (*s | 0x20))
        return false;
    return action_match(pat + 1, s + 1);
}

static bool any_match(const json_t *patterns, const char *action)
{
    size_t i;
    const json_t *v;
    json_array_foreach(patterns, i, v)
    {
        if (json_is_string(v) && action_match(json_string_value(v), action))
            return true;
    }
    return false;
}

/* Is action allowed by a permissions list (ARM: an entry grants what its
 * actions match minus what its notActions match; entries add up)? */
static bool allowed(const json_t *perms, const char *action)
{
    size_t i;
    const json_t *e;
    json_array_foreach(perms, i, e)
    {
        if (any_match(json_object_get(e, "actions"), action) &&
            !any_match(json_object_get(e, "notActions"), action))
            return true;
    }
    return false;
}

/* Permissions read so far, by lowercased scope. */
struct perm_cache {
    json_t *by_scope; /* scope -> array, or the error message string */
};

static const json_t *permissions_at(const struct live_rules_in *in, struct perm_cache *pc,
                                    const char *scope)
{
    char key[2048];
    const json_t *got;
    json_t *items = NULL;
    struct errbuf err = ERRBUF_INIT;
    struct buf path;
    snprintf(key, sizeof(key), "%s", scope);
    for (char *k = key; *k; k++)
        *k = (char)(*k >= 'A' && *k <= 'Z' ? *k + 32 : *k);
    if ((got = json_object_get(pc->by_scope, key)) != NULL)
        return got;
    buf_init(&path, 0);
    buf_addf(&path, "%s/providers/Microsoft.Authorization/permissions", scope);
    if (provider_list_url(in->p, path.ptr, AUTHZ_API, &items, &err) < 0)
        json_object_set_new(pc->by_scope, key, json_string(err.msg));
    else
        json_object_set_new(pc->by_scope, key, items);
    buf_release(&path);
    return json_object_get(pc->by_scope, key);
}

static size_t check_join(const struct live_rules_in *in, struct perm_cache *pc,
                         const struct cfg_instance *x, const char *attr, const char *subnet,
                         struct diag_list *diags)
{
    const char *cut = strcasestr(subnet, "/subnets/");
    char vnet[2048];
    struct {
        const char *scope, *action, *what;
    } need[2];
    size_t errors = 0;
    if (cut == NULL || (size_t)(cut - subnet) >= sizeof(vnet))
        return 0;
    snprintf(vnet, sizeof(vnet), "%.*s", (int)(cut - subnet), subnet);
    need[0].scope = vnet;
    need[0].action = "Microsoft.Network/virtualNetworks/join/action";
    need[0].what = "VNet";
    need[1].scope = subnet;
    need[1].action = "Microsoft.Network/virtualNetworks/subnets/join/action";
    need[1].what = "subnet";
    for (int i = 0; i < 2; i++) {
        const json_t *perms = permissions_at(in, pc, need[i].scope);
        struct diag *d;
        if (json_is_string(perms)) {
            rules_report(diags, "RBAC-VNET-JOIN", DIAG_WARNING, x, attr,
                         "cannot check the caller's permissions on the %s of %s: %s", need[i].what,
                         x->address, json_string_value(perms));
            continue;
        }
        if (allowed(perms, need[i].action))
            continue;
        d = rules_report(diags, "RBAC-VNET-JOIN", -1, x, attr,
                         "the caller lacks %s on the %s %s, which %s deploys into", need[i].action,
                         need[i].what, need[i].scope, x->address);
        errors += d != NULL;
    }
    return errors;
}

static size_t rule_vnet_join(const struct live_rules_in *in, struct diag_list *diags)
{
    struct perm_cache pc = {json_object()};
    size_t errors = 0;
    for (size_t i = 0; i < in->cfg->nresources; i++) {
        const struct cfg_resource *r = &in->cfg->resources[i];
        const struct schema_kind *k = schema_find(r->kind);
        if (k == NULL || r->existing)
            continue;
        for (const struct schema_attr *a = k->body.attrs; a->name; a++) {
            bool to_subnet = false;
            if (a->type != ST_REF || a->ref_kinds == NULL)
                continue;
            for (const char *const *rk = a->ref_kinds; *rk; rk++)
                to_subnet |= strcmp(*rk, "subnet") == 0;
            if (!to_subnet)
                continue;
            for (size_t j = 0; j < r->ninstances; j++) {
                const struct cfg_instance *x = &r->instances[j];
                const json_t *sn = schema_ref_id(json_object_get(x->attrs, a->name));
                if (json_is_string(sn) && in->writes(x->address, in->payload))
                    errors += check_join(in, &pc, x, a->name, json_string_value(sn), diags);
            }
        }
    }
    json_decref(pc.by_scope);
    return errors;
}

/* ---- WS-MI-PERMS ------------------------------------------------------ */

/* Does assignments grant role (GUID) at scope or above? */
static bool granted(const json_t *assignments, const char *role, const char *scope)
{
    size_t i;
    const json_t *a;
    json_array_foreach(assignments, i, a)
    {
        const char *rd = str_of(schema_json_get(a, "properties.roleDefinitionId"));
        const char *at = str_of(schema_json_get(a, "properties.scope"));
        const char *tail = rd ? strrchr(rd, '/') : NULL;
        size_t n;
        if (at == NULL || rd == NULL || strcasecmp(tail ? tail + 1 : rd, role) != 0)
            continue;
        n = strlen(at);
        if (strcmp(at, "/") == 0 ||
            (strncasecmp(scope, at, n) == 0 && (scope[n] == '\0' || scope[n] == '/')))
            return true;
    }
    return false;
}

/* A vault using access policies (not Azure RBAC) grants the workspace's
 * identity through a policy naming it: is there one in the live vault? */
static bool vault_policy_for(const json_t *vault, const char *principal)
{
    size_t i;
    const json_t *p;
    if (vault == NULL || json_is_true(schema_json_get(vault, "properties.enableRbacAuthorization")))
        return false;
    json_array_foreach(schema_json_get(vault, "properties.accessPolicies"), i, p)
    {
        const char *oid = str_of(json_object_get(p, "objectId"));
        if (oid && strcasecmp(oid, principal) == 0)
            return true;
    }
    return false;
}

/* A grant the workspace identity must hold: role (built-in name) at scope. */
struct grant {
    const char *scope, *role, *what;
};

/* The role assignments of every live workspace's identity, read in bulk:
 * one Resource Graph query over authorizationresources per subscription
 * and 1000 principals (paged by 1000 rows), not a list per workspace.
 * Returns {lowercased principal id: [assignment rows]} with an entry for
 * every principal asked about, or NULL when Resource Graph is not in use or
 * failed (the rule then lists each identity's assignments through ARM). */
#define PRINCIPALS_PER_QUERY 1000

static bool quotable(const char *s)
{
    return s && *s && strpbrk(s, "'\\\n\r") == NULL;
}

static int query_principals(const struct live_rules_in *in, const char *sub, const json_t *batch,
                            json_t *by)
{
    struct errbuf err = ERRBUF_INIT;
    struct buf q;
    json_t *rows = NULL, *row;
    size_t i;
    const char *k;
    int rc;
    buf_init(&q, 0);
    buf_adds(&q, "authorizationresources | where type =~ "
                 "'microsoft.authorization/roleassignments' and properties.principalId in~ (");
    i = 0;
    json_object_foreach((json_t *)batch, k, row) buf_addf(&q, "%s'%s'", i++ ? ", " : "", k);
    rc = buf_adds(&q, ") | project id, properties");
    if (rc == 0)
        rc = provider_query(in->p, sub, q.ptr, &rows, &err);
    buf_release(&q);
    if (rc < 0)
        return rc;
    json_array_foreach(rows, i, row)
    {
        const char *pr = str_of(schema_json_get(row, "properties.principalId"));
        char lower[128];
        json_t *list;
        if (pr == NULL || strlen(pr) >= sizeof(lower))
            continue;
        for (size_t c = 0; pr[c]; c++)
            lower[c] = (char)((pr[c] >= 'A' && pr[c] <= 'Z') ? pr[c] + 32 : pr[c]);
        lower[strlen(pr)] = '\0';
        if ((list = json_object_get(by, lower)) != NULL)
            json_array_append(list, row);
    }
    json_decref(rows);
    return 0;
}

static json_t *assignments_in_bulk(const struct live_rules_in *in)
{
    json_t *by = json_object(), *subs = json_object(), *batch;
    const char *sub;
    int rc = 0;
    if (by == NULL || subs == NULL)
        goto fail;
    /* subscription -> {principal: true}, in batches */
    for (size_t i = 0; i < in->cfg->nresources; i++) {
        const struct cfg_resource *r = &in->cfg->resources[i];
        if (r->existing || strcmp(r->kind, "workspace") != 0)
            continue;
        for (size_t j = 0; j < r->ninstances; j++) {
            const char *id = inst_id(in, &r->instances[j]);
            const json_t *live = id ? in->live(id, in->payload) : NULL;
            const char *principal = str_of(schema_json_get(live, "identity.principalId"));
            char lower[128], subid[128];
            json_t *set;
            size_t n;
            if (principal == NULL || strncasecmp(id, "/subscriptions/", 15) != 0 ||
                !quotable(principal) || strlen(principal) >= sizeof(lower))
                continue;
            n = strcspn(id + 15, "/");
            snprintf(subid, sizeof(subid), "%.*s", (int)(n < 100 ? n : 100), id + 15);
            if (!quotable(subid))
                continue;
            for (size_t c = 0; principal[c]; c++)
                lower[c] = (char)((principal[c] >= 'A' && principal[c] <= 'Z') ? principal[c] + 32
                                                                               : principal[c]);
            lower[strlen(principal)] = '\0';
            if (json_object_get(by, lower))
                continue;
            json_object_set_new(by, lower, json_array());
            if ((set = json_object_get(subs, subid)) == NULL)
                json_object_set_new(subs, subid, set = json_object());
            json_object_set_new(set, lower, json_true());
            if (json_object_size(set) == PRINCIPALS_PER_QUERY) {
                if ((rc = query_principals(in, subid, set, by)) < 0)
                    goto fail;
                json_object_clear(set);
            }
        }
    }
    json_object_foreach(subs, sub, batch)
    {
        if (json_object_size(batch) > 0 && (rc = query_principals(in, sub, batch, by)) < 0)
            goto fail;
    }
    json_decref(subs);
    return by;
fail:
    json_decref(by);
    json_decref(subs);
    return NULL;
}

static void rule_mi_perms(const struct live_rules_in *in, const struct cfg_instance *ws,
                          const json_t *live, const json_t *bulk, struct diag_list *diags)
{
    const char *principal = str_of(schema_json_get(live, "identity.principalId"));
    const char *id = inst_id(in, ws), *prov = id ? strcasestr(id, "/providers/") : NULL;
    json_t *assignments = NULL;
    struct errbuf err = ERRBUF_INIT;
    struct buf path;
    char rg[1024], sub[128];
    struct grant want[5];
    size_t nwant = 0;

    if (principal == NULL || prov == NULL || strncasecmp(id, "/subscriptions/", 15) != 0)
        return;
    snprintf(rg, sizeof(rg), "%.*s", (int)(prov - id), id);
    snprintf(sub, sizeof(sub), "%.*s", (int)(strcspn(id + 15, "/") + 15), id);
    want[nwant++] = (struct grant){id, "Contributor", "the workspace"};
    want[nwant++] = (struct grant){rg, "Contributor", "its resource group"};
    want[nwant] = (struct grant){str_of(schema_json_get(live, "properties.storageAccount")),
                                 "Storage Blob Data Contributor", "its storage account"};
    nwant += want[nwant].scope != NULL;
    want[nwant] = (struct grant){str_of(schema_json_get(live, "properties.keyVault")),
                                 "Key Vault Administrator", "its Key Vault"};
    nwant += want[nwant].scope != NULL;
    want[nwant] = (struct grant){str_of(schema_json_get(live, "properties.containerRegistry")),
                                 "Contributor", "its container registry"};
    nwant += want[nwant].scope != NULL;
    buf_init(&path, 0);
    buf_addf(
        &path,
        "%s/providers/Microsoft.Authorization/roleAssignments?$filter=principalId%%20eq%%20'%s'",
        sub, principal);
    {
        char lower[128];
        size_t c = 0;
        for (; principal[c] && c + 1 < sizeof(lower); c++)
            lower[c] = (char)((principal[c] >= 'A' && principal[c] <= 'Z') ? principal[c] + 32
                                                                           : principal[c]);
        lower[c] = '\0';
        if (bulk && json_object_get(bulk, lower))
            assignments = json_incref(json_object_get(bulk, lower));
    }
    if (assignments == NULL &&
        provider_list_url(in->p, path.ptr, AUTHZ_API, &assignments, &err) < 0) {
        rules_report(diags, "WS-MI-PERMS", -1, ws, "identity",
                     "cannot list the role assignments of %s's managed identity: %s", ws->address,
                     err.msg);
    } else {
        for (size_t i = 0; i < nwant; i++)
            if (!granted(assignments, schema_builtin_role(want[i].role), want[i].scope) &&
                !(strcmp(want[i].role, "Key Vault Administrator") == 0 &&
                  vault_policy_for(in->live(want[i].scope, in->payload), principal)))
                rules_report(diags, "WS-MI-PERMS", -1, ws, "identity",
                             "%s's managed identity (%s) has no %s on %s (%s)", ws->address,
                             principal, want[i].role, want[i].what, want[i].scope);
    }
    buf_release(&path);
    json_decref(assignments);
    /* role assignments of this identity the plan deletes */
    {
        size_t i;
        const json_t *d;
        json_array_foreach(in->deleted_assignments, i, d)
        {
            const char *pr = str_of(json_object_get(d, "principal"));
            const char *address = str_of(json_object_get(d, "address"));
            struct diag *dg;
            if (pr == NULL || address == NULL || strcasecmp(pr, principal) != 0)
                continue;
            dg = rules_report(diags, "WS-MI-PERMS", -1, ws, "identity",
                              "this plan deletes %s, a role assignment of %s's managed identity",
                              address, ws->address);
            if (dg)
                in->attach(address, dg, in->payload);
        }
    }
}

/* ---- WS-SUPPORT-APP --------------------------------------------------- */

static void rule_support_app(const struct live_rules_in *in, const struct cfg_instance *ws,
                             const json_t *live, struct diag_list *diags)
{
    const struct schema_kind *wk = schema_find("workspace"), *ck = schema_find("compute_cluster");
    const char *created = str_of(schema_json_get(live, "systemData.createdAt"));
    struct provider_result direct;
    json_t *computes = NULL;
    struct errbuf err = ERRBUF_INIT;
    struct buf path;
    memset(&direct, 0, sizeof(direct));
    if (created == NULL) {
        /* Resource Graph rows carry no systemData: ask ARM itself */
        struct provider_ref ref = {.id = inst_id(in, ws), .type = wk->arm.type};
        if (provider_reread(in->p, &ref, &direct) == 0)
            created = str_of(schema_json_get(direct.body, "systemData.createdAt"));
    }
    if (created == NULL || strncmp(created, SUPPORT_APP_CUTOFF, strlen(SUPPORT_APP_CUTOFF)) >= 0) {
        provider_result_release(&direct);
        return;
    }
    buf_init(&path, 0);
    buf_addf(&path, "%s/computes", inst_id(in, ws));
    if (provider_list_url(in->p, path.ptr, ck->arm.api_version, &computes, &err) == 0 &&
        json_array_size(computes) > 0)
        rules_report(diags, "WS-SUPPORT-APP", -1, ws, "name",
                     "%s was created %s, before 2021-05-14, and has %zu compute target%s: an Entra "
                     "app Microsoft-AzureML-Support-App-... (or aml-...) may hold Contributor on "
                     "the subscription",
                     ws->address, created, json_array_size(computes),
                     json_array_size(computes) == 1 ? "" : "s");
    buf_release(&path);
    json_decref(computes);
    provider_result_release(&direct);
}

/* AKS-CMK for an attached cluster (validate cannot read it): the live
 * cluster of an aks_compute of a CMK workspace has no disk encryption set. */
static void rule_aks_cmk(const struct live_rules_in *in, const struct cfg_instance *aks,
                         struct diag_list *diags)
{
    const json_t *wref = schema_ref_id(json_object_get(aks->attrs, "workspace"));
    const json_t *cref = schema_ref_id(json_object_get(aks->attrs, "cluster"));
    const struct cfg_instance *ws = NULL;
    const struct schema_kind *k = schema_find("aks_cluster");
    struct provider_result direct;
    const json_t *live;
    if (!json_is_string(wref) || !json_is_string(cref))
        return;
    for (size_t i = 0; i < in->cfg->nresources && ws == NULL; i++) {
        const struct cfg_resource *r = &in->cfg->resources[i];
        if (strcmp(r->kind, "workspace") != 0)
            continue;
        for (size_t j = 0; j < r->ninstances && ws == NULL; j++)
            if (inst_id(in, &r->instances[j]) &&
                strcasecmp(inst_id(in, &r->instances[j]), json_string_value(wref)) == 0)
                ws = &r->instances[j];
    }
    if (ws == NULL || !json_is_object(json_object_get(ws->attrs, "encryption")))
        return;
    memset(&direct, 0, sizeof(direct));
    live = in->live(json_string_value(cref), in->payload);
    if (live == NULL) {
        struct provider_ref ref = {.id = json_string_value(cref), .type = k->arm.type};
        if (provider_reread(in->p, &ref, &direct) == 0)
            live = direct.body;
    }
    if (live && json_is_object(json_object_get(live, "properties")) &&
        str_of(schema_json_get(live, "properties.diskEncryptionSetID")) == NULL)
        rules_report(diags, "AKS-CMK", -1, aks, "cluster",
                     "%s attaches %s, whose disks have no disk encryption set, to the CMK "
                     "workspace %s",
                     aks->address, json_string_value(cref), ws->address);
    provider_result_release(&direct);
}

bool live_rules_missing_grant(const struct diag *d)
{
    return d->code && strcmp(d->code, "WS-MI-PERMS") == 0 && d->severity == DIAG_WARNING &&
           strstr(d->message, "'s managed identity (") != NULL &&
           strstr(d->message, ") has no ") != NULL;
}

size_t live_rules_run(const struct live_rules_in *in, struct diag_list *diags)
{
    size_t errors = rule_vnet_join(in, diags);
    json_t *bulk =
        in->assignments ? json_incref((json_t *)in->assignments) : assignments_in_bulk(in);
    for (size_t i = 0; i < in->cfg->nresources; i++) {
        const struct cfg_resource *r = &in->cfg->resources[i];
        if (!r->existing && strcmp(r->kind, "aks_compute") == 0)
            for (size_t j = 0; j < r->ninstances; j++)
                rule_aks_cmk(in, &r->instances[j], diags);
        if (r->existing || strcmp(r->kind, "workspace") != 0)
            continue;
        for (size_t j = 0; j < r->ninstances; j++) {
            const struct cfg_instance *ws = &r->instances[j];
            const json_t *live = inst_id(in, ws) ? in->live(inst_id(in, ws), in->payload) : NULL;
            if (live == NULL)
                continue;
            rule_mi_perms(in, ws, live, bulk, diags);
            rule_support_app(in, ws, live, diags);
        }
    }
    json_decref(bulk);
    return errors;
}
