/* Azure ML workspace soft delete (arm-api.md §1.1, Microsoft's article
 * "Workspace soft deletion"): a deleted workspace without customer-managed
 * keys is kept for 14 days, holding its name; it can be listed, recovered
 * or purged (DELETE with forceToPurge=true) until then, after which it is
 * purged on its own. CMK workspaces are always hard-deleted.
 *
 * Routes (the list is the one tools call in practice; Azure documents no
 * REST contract for the portal's "Recover", so the recover route is this
 * cloud's own):
 *   GET  /subscriptions/{s}/providers/Microsoft.MachineLearningServices/deletedWorkspaces
 *   GET
 * /subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.MachineLearningServices/deletedWorkspaces
 *   GET  …/resourceGroups/{rg}/providers/Microsoft.MachineLearningServices/deletedWorkspaces/{name}
 *   POST
 * …/resourceGroups/{rg}/providers/Microsoft.MachineLearningServices/deletedWorkspaces/{name}/recover
 */
#include "providers/armlocal/al_internal.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "util/banned.h"

#define RETENTION_MS (14LL * 24 * 3600 * 1000)

static json_t *deleted(struct armlocal *al)
{
    json_t *dw = json_object_get(al->state, "deletedWorkspaces");
    if (!json_is_object(dw)) {
        dw = json_object();
        json_object_set_new(al->state, "deletedWorkspaces", dw);
    }
    return dw;
}

/* Drops the soft-deleted workspaces whose retention has ended. */
static void expire(struct armlocal *al, int64_t now_ms)
{
    const char *k;
    json_t *v;
    void *tmp;
    int changed = 0;
    json_object_foreach_safe(deleted(al), tmp, k, v)
    {
        json_t *at = json_object_get(v, "purgeAtMs");
        if (json_is_integer(at) && json_integer_value(at) <= now_ms) {
            al_store_touch(al, "deletedWorkspaces", k);
            json_object_del(deleted(al), k);
            changed = 1;
        }
    }
    if (changed)
        al_store_save(al);
}

void al_ws_soft_delete(struct al_ctx *c, const char *id, const json_t *body)
{
    char key[2048], deleted_at[40], purge_at[40];
    int64_t purge_ms = c->now_ms + RETENTION_MS;
    al_lower(key, id, sizeof(key));
    al_time_iso(c->now_ms, deleted_at, sizeof(deleted_at));
    al_time_iso(purge_ms, purge_at, sizeof(purge_at));
    al_store_touch(c->al, "deletedWorkspaces", key);
    json_object_set_new(deleted(c->al), key,
                        json_pack("{s:s, s:s, s:s, s:I, s:o}", "id", id, "deletedTime", deleted_at,
                                  "scheduledPurgeDate", purge_at, "purgeAtMs", (json_int_t)purge_ms,
                                  "body", body ? json_deep_copy(body) : json_null()));
}

int al_ws_name_held(struct al_ctx *c, const char *id)
{
    char key[2048];
    expire(c->al, c->now_ms);
    al_lower(key, id, sizeof(key));
    return json_object_get(deleted(c->al), key) != NULL;
}

int al_ws_purge(struct al_ctx *c, const char *id)
{
    char key[2048];
    expire(c->al, c->now_ms);
    al_lower(key, id, sizeof(key));
    if (json_object_get(deleted(c->al), key) == NULL)
        return 0;
    json_object_del(deleted(c->al), key);
    al_store_touch(c->al, "deletedWorkspaces", key);
    al_store_save(c->al);
    return 1;
}

/* What the list shows of one: the workspace as it was, with its deletion
 * and scheduled purge dates. */
static json_t *render(const json_t *v)
{
    const json_t *body = json_object_get(v, "body");
    json_t *out = json_is_object(body) ? json_deep_copy(body) : json_object();
    json_t *props = json_object_get(out, "properties");
    if (!json_is_object(props)) {
        props = json_object();
        json_object_set_new(out, "properties", props);
    }
    json_object_set(out, "id", json_object_get(v, "id"));
    if (json_object_get(out, "name") == NULL)
        json_object_set_new(
            out, "name",
            json_string(strrchr(json_string_value(json_object_get(v, "id")), '/') + 1));
    json_object_set_new(out, "type", json_string("Microsoft.MachineLearningServices/workspaces"));
    json_object_set_new(props, "provisioningState", json_string("SoftDeleted"));
    json_object_set(props, "deletedDate", json_object_get(v, "deletedTime"));
    json_object_set(props, "scheduledPurgeDate", json_object_get(v, "scheduledPurgeDate"));
    return out;
}

static int seg_is(const struct al_path *p, size_t i, const char *s)
{
    return i < p->nsegs && strcasecmp(p->segs[i], s) == 0;
}

int al_ws_deleted_route(const struct al_path *p)
{
    return seg_is(p, 0, "subscriptions") &&
           ((p->nsegs == 5 && seg_is(p, 2, "providers") &&
             seg_is(p, 3, "Microsoft.MachineLearningServices") &&
             seg_is(p, 4, "deletedWorkspaces")) ||
            (p->nsegs >= 7 && p->nsegs <= 9 && seg_is(p, 2, "resourceGroups") &&
             seg_is(p, 4, "providers") && seg_is(p, 5, "Microsoft.MachineLearningServices") &&
             seg_is(p, 6, "deletedWorkspaces")));
}

static void recover(struct al_ctx *c, const struct al_path *p, const char *id, json_t *v)
{
    char rgid[1024], key[2048];
    json_t *body = json_object_get(v, "body"), *rec;
    snprintf(rgid, sizeof(rgid), "/subscriptions/%s/resourceGroups/%s", p->segs[1], p->segs[3]);
    rec = al_rec_get(c->al, rgid);
    if (rec == NULL || json_is_true(json_object_get(rec, "hidden"))) {
        al_error(c, 404, "ResourceGroupNotFound", "Resource group '%s' could not be found.",
                 p->segs[3]);
        return;
    }
    if (!json_is_object(body)) {
        al_error(c, 409, "Conflict", "The soft-deleted workspace '%s' cannot be recovered.",
                 p->segs[7]);
        return;
    }
    body = json_deep_copy(body);
    al_jpath_set_new(body, "properties.provisioningState", json_string("Succeeded"));
    al_lower(key, id, sizeof(key));
    json_object_del(deleted(c->al), key);
    al_store_touch(c->al, "deletedWorkspaces", key);
    rec = al_rec_put(c->al, id, body);
    al_store_save(c->al);
    al_json_reply(c, 200, al_render(c, rec));
}

void al_ws_deleted_handle(struct al_ctx *c, const struct al_path *p)
{
    const struct al_type *ty = al_type_find("Microsoft.MachineLearningServices/workspaces");
    const char *m = c->req->method;
    char id[2048], key[2048];
    json_t *v;

    if (ty && !al_api_version_ok(ty, c->api_version)) {
        al_error(c, 400, "NoRegisteredProviderFound",
                 "No registered resource provider found for API version '%s' and type "
                 "'deletedWorkspaces'.",
                 c->api_version);
        return;
    }
    expire(c->al, c->now_ms);
    if (p->nsegs <= 7) {
        json_t *list = json_array();
        char prefix[1024];
        const char *k;
        if (strcasecmp(m, "GET") != 0) {
            json_decref(list);
            al_error(c, 405, "MethodNotAllowed", "The requested method '%s' is not allowed.", m);
            return;
        }
        if (p->nsegs == 7)
            snprintf(prefix, sizeof(prefix), "/subscriptions/%s/resourcegroups/%s/", p->segs[1],
                     p->segs[3]);
        else
            snprintf(prefix, sizeof(prefix), "/subscriptions/%s/", p->segs[1]);
        al_lower(prefix, prefix, sizeof(prefix));
        json_object_foreach(deleted(c->al), k, v)
        {
            if (strncmp(k, prefix, strlen(prefix)) == 0)
                json_array_append_new(list, render(v));
        }
        al_json_reply(c, 200, json_pack("{s:o}", "value", list));
        return;
    }
    snprintf(id, sizeof(id),
             "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.MachineLearningServices/"
             "workspaces/%s",
             p->segs[1], p->segs[3], p->segs[7]);
    al_lower(key, id, sizeof(key));
    v = json_object_get(deleted(c->al), key);
    if (v == NULL) {
        al_error(c, 404, "ResourceNotFound", "The soft-deleted workspace '%s' was not found.",
                 p->segs[7]);
        return;
    }
    if (p->nsegs == 8 && strcasecmp(m, "GET") == 0) {
        al_json_reply(c, 200, render(v));
        return;
    }
    if (p->nsegs == 9 && seg_is(p, 8, "recover") && strcasecmp(m, "POST") == 0) {
        json_t *entry = json_incref(v);
        recover(c, p, json_string_value(json_object_get(entry, "id")), entry);
        json_decref(entry);
        return;
    }
    al_error(c, 405, "MethodNotAllowed", "The requested method '%s' is not allowed.", m);
}
