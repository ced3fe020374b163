/* Role-based access control as the local cloud sees it: the caller's
 * effective permissions at a scope (GET {scope}/providers/
 * Microsoft.Authorization/permissions, api-version 2022-04-01), computed
 * from the role assignments and definitions it stores, and the grants Azure
 * gives a workspace's system-assigned identity when the workspace is
 * created (security-rules.md WS-MI-PERMS). */
#include "providers/armlocal/al_internal.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "util/banned.h"

/* Built-in roles the local cloud can evaluate: Microsoft's GUIDs (checked
 * against the built-in roles reference) and their control-plane actions
 * (Network Contributor's as published; Contributor's notActions abridged to
 * the access-control and blueprint ones). */
static const struct builtin {
    const char *guid, *name;
    const char *actions[10];
    const char *not_actions[6];
} builtins[] = {
    {"8e3af657-a8ff-443c-a75c-2fe8c4bcb635", "Owner", {"*"}, {NULL}},
    {"b24988ac-6180-42a0-ab88-20f7382dd24c",
     "Contributor",
     {"*"},
     {"Microsoft.Authorization/*/Delete", "Microsoft.Authorization/*/Write",
      "Microsoft.Authorization/elevateAccess/Action",
      "Microsoft.Blueprint/blueprintAssignments/write",
      "Microsoft.Blueprint/blueprintAssignments/delete"}},
    {"acdd72a7-3385-48ef-bd42-f606fba81ae7", "Reader", {"*/read"}, {NULL}},
    {"4d97b98b-1d4f-4787-a291-c67834d212e7",
     "Network Contributor",
     {"Microsoft.Authorization/*/read", "Microsoft.Insights/alertRules/*", "Microsoft.Network/*",
      "Microsoft.ResourceHealth/availabilityStatuses/read", "Microsoft.Resources/deployments/*",
      "Microsoft.Resources/subscriptions/resourceGroups/read", "Microsoft.Support/*"},
     {NULL}},
    {"18d7d88d-d35e-4fb5-a5c3-7773c20a72d9",
     "User Access Administrator",
     {"*/read", "Microsoft.Authorization/*", "Microsoft.Support/*"},
     {NULL}},
};

static const char *str(const json_t *v)
{
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static json_t *strings(const char *const *v, size_t max)
{
    json_t *a = json_array();
    for (size_t i = 0; i < max && v[i]; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

/* The permissions entries of the role definition id names (a built-in by
 * GUID, else a stored custom role), appended to out. */
static void add_role(struct armlocal *al, const char *role_id, json_t *out)
{
    const char *guid = role_id ? strrchr(role_id, '/') : NULL;
    const char *k;
    json_t *rec;
    guid = guid ? guid + 1 : role_id;
    if (guid == NULL)
        return;
    for (size_t i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++)
        if (strcasecmp(builtins[i].guid, guid) == 0) {
            json_array_append_new(out, json_pack("{s:o, s:o, s:[], s:[]}", "actions",
                                                 strings(builtins[i].actions, 10), "notActions",
                                                 strings(builtins[i].not_actions, 6), "dataActions",
                                                 "notDataActions"));
            return;
        }
    json_t *one;
    /* the custom role definitions, from the tree index */
    json_object_foreach(al_tree_keys(al, "", "microsoft.authorization/roledefinitions"), k, one)
    {
        const json_t *body;
        size_t i;
        json_t *p;
        rec = json_object_get(al_resources(al), k);
        body = json_object_get(rec, "body");
        if (strcasecmp(str(json_object_get(body, "type")) ? str(json_object_get(body, "type")) : "",
                       "Microsoft.Authorization/roleDefinitions") != 0 ||
            strcasecmp(str(json_object_get(body, "name")) ? str(json_object_get(body, "name")) : "",
                       guid) != 0)
            continue;
        json_array_foreach(al_jpath(body, "properties.permissions"), i, p)
            json_array_append(out, p);
        return;
    }
}

/* Is scope (lowercase) the same as or below assigned (lowercase)? */
static int covers(const char *assigned, const char *scope)
{
    size_t n = strlen(assigned);
    if (n == 0 || strcmp(assigned, "/") == 0)
        return 1;
    return strncmp(scope, assigned, n) == 0 && (scope[n] == '\0' || scope[n] == '/');
}

void al_permissions_get(struct al_ctx *c, const char *scope)
{
    json_t *value = json_array(), *rec;
    char scope_l[2048], principal[128];
    const char *k;
    struct al_keys ks = {0};

    if (c->principal[0] == '\0') {
        /* no signed-in principal (--auth off, no token): the local
         * cloud's operator, who may do anything */
        json_array_append_new(value, json_pack("{s:[s], s:[], s:[], s:[]}", "actions", "*",
                                               "notActions", "dataActions", "notDataActions"));
        al_json_reply(c, 200, json_pack("{s:o}", "value", value));
        return;
    }
    al_lower(scope_l, scope, sizeof(scope_l));
    /* the caller's role assignments, from the index by principal */
    al_lower(principal, c->principal, sizeof(principal));
    if (al_keys_add_principal(c->al, &ks, principal) < 0) {
        al_keys_release(&ks);
        json_decref(value);
        al_error(c, 500, "InternalServerError", "Out of memory.");
        return;
    }
    al_keys_sort(&ks);
    for (size_t i = 0; i < ks.n; i++) {
        const json_t *body;
        char assigned[2048];
        k = ks.v[i].key;
        rec = json_object_get(al_resources(c->al), k);
        body = json_object_get(rec, "body");
        if (strstr(k, "/providers/microsoft.authorization/roleassignments/") == NULL ||
            json_is_true(json_object_get(rec, "hidden")) ||
            strcasecmp(str(al_jpath(body, "properties.principalId"))
                           ? str(al_jpath(body, "properties.principalId"))
                           : "",
                       c->principal) != 0)
            continue;
        al_lower(assigned,
                 str(al_jpath(body, "properties.scope")) ? str(al_jpath(body, "properties.scope"))
                                                         : "",
                 sizeof(assigned));
        if (covers(assigned, scope_l))
            add_role(c->al, str(al_jpath(body, "properties.roleDefinitionId")), value);
    }
    al_keys_release(&ks);
    al_json_reply(c, 200, json_pack("{s:o}", "value", value));
}

static void grant(struct armlocal *al, const char *sub, const char *principal, const char *scope,
                  const char *role_guid)
{
    char g[37], id[2048], role[256], now[40];
    al_guid(al, g);
    snprintf(id, sizeof(id), "%s/providers/Microsoft.Authorization/roleAssignments/%s", scope, g);
    snprintf(role, sizeof(role),
             "/subscriptions/%s/providers/Microsoft.Authorization/roleDefinitions/%s", sub,
             role_guid);
    al_time_iso(al_now_ms(), now, sizeof(now));
    al_rec_put(al, id,
               json_pack("{s:s, s:s, s:s, s:{s:s, s:s, s:s, s:s, s:s, s:s}}", "id", id, "name", g,
                         "type", "Microsoft.Authorization/roleAssignments", "properties",
                         "roleDefinitionId", role, "principalId", principal, "principalType",
                         "ServicePrincipal", "scope", scope, "createdOn", now, "updatedOn", now));
}

void al_rbac_workspace_created(struct armlocal *al, const char *id)
{
    static const char contributor[] = "b24988ac-6180-42a0-ab88-20f7382dd24c";
    const json_t *body = json_object_get(al_rec_get(al, id), "body");
    const char *principal = str(al_jpath(body, "identity.principalId"));
    const char *p = strcasestr(id, "/providers/");
    const char *s;
    char sub[64], rg[1024];
    if (principal == NULL || p == NULL || strncasecmp(id, "/subscriptions/", 15) != 0)
        return;
    snprintf(sub, sizeof(sub), "%.*s", (int)strcspn(id + 15, "/"), id + 15);
    snprintf(rg, sizeof(rg), "%.*s", (int)(p - id), id);
    grant(al, sub, principal, id, contributor);
    grant(al, sub, principal, rg, contributor);
    if ((s = str(al_jpath(body, "properties.storageAccount"))) != NULL)
        grant(al, sub, principal, s, "ba92f5b4-2d11-453d-a403-e96b0029c9fe");
    if ((s = str(al_jpath(body, "properties.keyVault"))) != NULL)
        grant(al, sub, principal, s, "00482a5a-887f-4fb3-b363-3b7fe8e74483");
    if ((s = str(al_jpath(body, "properties.containerRegistry"))) != NULL)
        grant(al, sub, principal, s, contributor);
}
