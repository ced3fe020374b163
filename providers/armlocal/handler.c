/* armlocal's request handler: routing, the generic ARM resource verbs and
 * long-running operations. Socket-free (armlocal_handle), so the fuzzer and
 * unit tests drive it directly; server.c adapts libmicrohttpd to it. */
#include "providers/armlocal/al_internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/error.h"
#include "util/jsonw.h"
#include "util/banned.h"

/* --- responses ----------------------------------------------------------- */

void armlocal_response_init(struct armlocal_response *res)
{
    memset(res, 0, sizeof(*res));
    buf_init(&res->body, ARMLOCAL_MAX_BODY * 4);
}

void armlocal_response_release(struct armlocal_response *res)
{
    for (size_t i = 0; i < res->nheaders; i++) {
        free(res->header_names[i]);
        free(res->header_values[i]);
    }
    res->nheaders = 0;
    buf_release(&res->body);
}

void al_set_header(struct armlocal_response *res, const char *name, const char *fmt, ...)
{
    struct buf v;
    va_list ap;
    size_t i;

    buf_init(&v, 8192);
    va_start(ap, fmt);
    buf_vaddf(&v, fmt, ap);
    va_end(ap);
    for (i = 0; i < res->nheaders; i++)
        if (strcasecmp(res->header_names[i], name) == 0)
            break;
    if (i == ARMLOCAL_MAX_HEADERS) {
        buf_release(&v);
        return;
    }
    if (i == res->nheaders) {
        res->header_names[i] = strdup(name);
        res->nheaders++;
    } else {
        free(res->header_values[i]);
    }
    res->header_values[i] = buf_detach(&v, NULL);
}

void al_json_reply(struct al_ctx *c, int status, json_t *body)
{
    c->res->status = status;
    buf_reset(&c->res->body);
    if (body == NULL)
        return;
    if (jsonw_value(&c->res->body, body) < 0)
        buf_reset(&c->res->body);
    json_decref(body);
    al_set_header(c->res, "Content-Type", "application/json; charset=utf-8");
}

static void error_v(struct al_ctx *c, int status, int flat, const char *code, const char *fmt,
                    va_list ap)
{
    struct buf msg;
    json_t *e;
    buf_init(&msg, 8192);
    buf_vaddf(&msg, fmt, ap);
    e = json_pack("{s:s, s:s}", "code", code, "message", msg.ptr);
    buf_release(&msg);
    if (!flat) {
        json_object_set_new(e, "details", json_array());
        e = json_pack("{s:o}", "error", e);
    }
    al_json_reply(c, status, e);
    al_set_header(c->res, "x-ms-failure-cause", "gateway");
}

void al_error(struct al_ctx *c, int status, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    error_v(c, status, 0, code, fmt, ap);
    va_end(ap);
}

void al_error_flat(struct al_ctx *c, int status, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    error_v(c, status, 1, code, fmt, ap);
    va_end(ap);
}

const char *al_query(const struct armlocal_request *req, const char *key)
{
    for (size_t i = 0; i < req->nquery; i++)
        if (req->query[i].key && strcasecmp(req->query[i].key, key) == 0)
            return req->query[i].value ? req->query[i].value : "";
    return NULL;
}

const char *al_header(const struct armlocal_request *req, const char *name)
{
    for (size_t i = 0; i < req->nheaders; i++)
        if (req->headers[i].key && strcasecmp(req->headers[i].key, name) == 0)
            return req->headers[i].value ? req->headers[i].value : "";
    return NULL;
}

/* --- paths --------------------------------------------------------------- */

int al_path_parse(struct al_path *p, const char *path)
{
    size_t n = strlen(path);
    char *s;
    p->nsegs = 0;
    if (n >= sizeof(p->buf))
        return -1;
    memcpy(p->buf, path, n + 1);
    for (s = p->buf; *s;) {
        char *e;
        while (*s == '/')
            s++;
        if (*s == '\0')
            break;
        if (p->nsegs == AL_MAX_SEGS)
            return -1;
        p->segs[p->nsegs++] = s;
        e = strchr(s, '/');
        if (e == NULL)
            break;
        *e = '\0';
        s = e + 1;
    }
    return 0;
}

static int seg_is(const struct al_path *p, size_t i, const char *s)
{
    return i < p->nsegs && strcasecmp(p->segs[i], s) == 0;
}

static void join(const struct al_path *p, size_t from, size_t to, char *out, size_t cap)
{
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = from; i < to && i < p->nsegs; i++) {
        int w = snprintf(out + len, cap - len, "/%s", p->segs[i]);
        if (w < 0 || (size_t)w >= cap - len)
            break;
        len += (size_t)w;
    }
}

/* --- rendering ----------------------------------------------------------- */

static const char *pec_child_type(const char *type)
{
    static const char *const parents[] = {
        "Microsoft.MachineLearningServices/workspaces", "Microsoft.KeyVault/vaults",
        "Microsoft.Storage/storageAccounts", "Microsoft.ContainerRegistry/registries"};
    for (size_t i = 0; i < 4; i++)
        if (type && strcasecmp(type, parents[i]) == 0)
            return parents[i];
    return NULL;
}

json_t *al_render(struct al_ctx *c, json_t *rec)
{
    json_t *body = json_deep_copy(json_object_get(rec, "body"));
    const char *type = json_string_value(json_object_get(body, "type"));
    const char *id = json_string_value(json_object_get(body, "id"));
    const char *k0;
    json_t *v0;
    void *tmp0;

    json_object_foreach_safe(body, tmp0, k0, v0)
    {
        if (k0[0] == '_')
            json_object_del(body, k0);
    }
    if (pec_child_type(type) && id && json_is_object(json_object_get(body, "properties"))) {
        json_t *list = json_array(), *v;
        char prefix[2048];
        const char *k;
        size_t n;
        al_lower(prefix, id, sizeof(prefix));
        n = strlen(prefix);
        /* the connections under this resource, from the index by parent */
        json_object_foreach(al_scope_keys(c->al->pec_parents, prefix), k, v)
        {
            if (strncmp(k, prefix, n) == 0 &&
                strncmp(k + n, "/privateendpointconnections/", 28) == 0 &&
                strchr(k + n + 28, '/') == NULL)
                json_array_append(list, json_object_get(al_rec_get(c->al, k), "body"));
        }
        if (strcasecmp(type, "Microsoft.MachineLearningServices/workspaces") == 0)
            json_object_set_new(json_object_get(body, "properties"), "privateLinkCount",
                                json_integer((json_int_t)json_array_size(list)));
        json_object_set_new(json_object_get(body, "properties"), "privateEndpointConnections",
                            list);
    }
    return body;
}

/* --- operations ---------------------------------------------------------- */

static void op_urls(struct al_ctx *c, const char *opid, const json_t *op, char *async_url,
                    char *loc_url, size_t cap)
{
    const char *sub = json_string_value(json_object_get(op, "subscription"));
    const char *ns = json_string_value(json_object_get(op, "namespace"));
    const char *loc = json_string_value(json_object_get(op, "location"));
    const char *v = json_string_value(json_object_get(op, "apiVersion"));
    snprintf(async_url, cap,
             "%s/subscriptions/%s/providers/%s/locations/%s/operationStatuses/%s?api-version=%s",
             c->al->base_url, sub, ns, loc, opid, v);
    snprintf(loc_url, cap,
             "%s/subscriptions/%s/providers/%s/locations/%s/operationResults/%s?api-version=%s",
             c->al->base_url, sub, ns, loc, opid, v);
}

/* How long until op ends: Retry-After in whole seconds as ARM sends it,
 * and retry-after-ms with the exact remainder (the header Azure SDKs read
 * first; ARM itself does not send it, so clients fall back to Retry-After
 * there), so that clients poll the moment a local operation ends. */
static void set_retry_after(struct al_ctx *c, const json_t *op)
{
    int64_t end = json_integer_value(json_object_get(op, "end"));
    int64_t left = end - c->now_ms;
    if (left < 0)
        left = 0;
    al_set_header(c->res, "Retry-After", "%u", (unsigned)((left + 999) / 1000));
    al_set_header(c->res, "retry-after-ms", "%lld", (long long)left);
}

static void finish_op(struct armlocal *al, const char *opid, json_t *op)
{
    const char *id = json_string_value(json_object_get(op, "resourceId"));
    const char *kind = json_string_value(json_object_get(op, "kind"));
    int fail = (int)json_integer_value(json_object_get(op, "fail")); /* 1 Failed, 2 Canceled */
    const char *end_state = fail == 2 ? "Canceled" : fail ? "Failed" : "Succeeded";
    json_t *rec = id ? al_rec_get(al, id) : NULL;
    json_t *body = rec ? json_object_get(rec, "body") : NULL;
    const struct al_type *t = al_type_find(json_string_value(json_object_get(body, "type"))
                                               ? json_string_value(json_object_get(body, "type"))
                                               : "");
    al_store_touch(al, "ops", opid);
    json_object_set_new(op, "status", json_string(end_state));
    json_object_set_new(op, "endTime",
                        json_integer(json_integer_value(json_object_get(op, "end"))));
    if (rec == NULL)
        return;
    al_rec_touch(al, id);
    json_object_del(rec, "op");
    if (strcmp(kind, "delete") == 0) {
        if (fail) {
            al_jpath_set_new(body, "properties.provisioningState", json_string("Succeeded"));
            return;
        }
        json_t *tree = al_rec_take_tree(al, id);
        if (t)
            al_rules_after_delete(al, t, id, tree);
        json_decref(tree);
        return;
    }
    json_object_set_new(rec, "hidden", json_false());
    if (json_is_object(json_object_get(body, "properties")))
        al_jpath_set_new(body, "properties.provisioningState", json_string(end_state));
    if (!fail && t)
        al_rules_after_write(al, t, id);
}

/* Finishes operations past their deadline; forgets finished ones after an
 * hour (their status URLs then answer 404, as Azure's eventually do). The
 * operations in progress are indexed, so a request looks only at them;
 * finished ones are swept for expiry at most once a minute. */
void al_ops_advance(struct armlocal *al, int64_t now)
{
    json_t *ops = json_object_get(al->state, "ops"), *op, *one;
    const char *k;
    void *tmp;
    int changed = 0;
    json_object_foreach_safe(al->ops_running, tmp, k, one)
    {
        const char *status;
        al->work++;
        op = json_object_get(ops, k);
        status = json_string_value(json_object_get(op, "status"));
        if (op == NULL || status == NULL || strcmp(status, "InProgress") != 0) {
            json_object_del(al->ops_running, k);
            continue;
        }
        if (json_integer_value(json_object_get(op, "end")) <= now) {
            char id[64];
            snprintf(id, sizeof(id), "%s", k); /* k goes with its index entry */
            json_object_del(al->ops_running, id);
            finish_op(al, id, op);
            changed = 1;
        }
    }
    if (now - al->ops_swept_ms >= 60 * 1000) {
        al->ops_swept_ms = now;
        json_object_foreach_safe(ops, tmp, k, op)
        {
            const char *status = json_string_value(json_object_get(op, "status"));
            al->work++;
            if ((status == NULL || strcmp(status, "InProgress") != 0) &&
                json_integer_value(json_object_get(op, "end")) < now - 3600 * 1000) {
                al_store_touch(al, "ops", k);
                json_object_del(ops, k);
                changed = 1;
            }
        }
    }
    if (changed)
        al_store_save(al);
}

/* Starts an operation on id and answers per the pattern. body is the
 * response body for AL_ASYNC/AL_BODY (stolen), NULL otherwise. */
static void start_op(struct al_ctx *c, const struct al_type *ty, enum al_lro lro, const char *id,
                     const char *kind, const char *sub, const char *ns, const char *location,
                     int status, int fail, json_t *body)
{
    char opid[37], asy[1024], loc[1024], lc[64];
    json_t *op;
    json_t *rec = al_rec_get(c->al, id);
    size_t j = 0;
    unsigned ms;

    al_lro_ms(&c->al->opts, ty->type, &ms);

    for (size_t i = 0; location && location[i] && j + 1 < sizeof(lc); i++)
        if (location[i] != ' ')
            lc[j++] = (char)tolower((unsigned char)location[i]);
    lc[j] = '\0';
    al_guid(c->al, opid);
    op = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:i}", "status", "InProgress",
                   "resourceId", id, "kind", kind, "subscription", sub, "namespace", ns, "location",
                   j ? lc : "global", "apiVersion", c->api_version ? c->api_version : "", "start",
                   (json_int_t)c->now_ms, "end", (json_int_t)(c->now_ms + ms), "fail", fail);
    json_object_set_new(json_object_get(c->al->state, "ops"), opid, op);
    al_store_touch(c->al, "ops", opid);
    json_object_set_new(c->al->ops_running, opid, json_true());
    if (rec) {
        json_object_set_new(rec, "op", json_string(opid));
        al_rec_touch(c->al, id);
    }
    op_urls(c, opid, op, asy, loc, sizeof(asy));
    if (lro == AL_ASYNC || lro == AL_ASYNC_LOCATION) {
        al_set_header(c->res, "Azure-AsyncOperation", "%s", asy);
        al_set_header(c->res, "x-ms-async-operation-timeout", "PT1H");
    }
    if (lro == AL_LOCATION || lro == AL_ASYNC_LOCATION)
        al_set_header(c->res, "Location", "%s", loc);
    if (lro != AL_BODY)
        set_retry_after(c, op);
    if (ms == 0)
        al_ops_advance(c->al, c->now_ms);
    if (body && lro != AL_LOCATION && lro != AL_ASYNC_LOCATION) {
        al_json_reply(c, status, body);
    } else {
        json_decref(body);
        c->res->status = 202;
    }
}

static void op_get(struct al_ctx *c, const char *opid, int results)
{
    json_t *op = json_object_get(json_object_get(c->al->state, "ops"), opid);
    const char *status, *kind, *id;
    char ts[40], asy[1024], loc[1024];

    if (op == NULL) {
        al_error(c, 404, "OperationNotFound", "The operation '%s' was not found.", opid);
        return;
    }
    status = json_string_value(json_object_get(op, "status"));
    kind = json_string_value(json_object_get(op, "kind"));
    id = json_string_value(json_object_get(op, "resourceId"));
    if (!results) {
        json_t *doc;
        al_time_iso(json_integer_value(json_object_get(op, "start")), ts, sizeof(ts));
        op_urls(c, opid, op, asy, loc, sizeof(asy));
        doc = json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", asy + strlen(c->al->base_url), "name",
                        opid, "status", status, "startTime", ts, "resourceId", id);
        if (strcmp(status, "InProgress") == 0) {
            json_object_set_new(doc, "percentComplete", json_real(50.0));
            set_retry_after(c, op);
        } else {
            al_time_iso(json_integer_value(json_object_get(op, "end")), ts, sizeof(ts));
            json_object_set_new(doc, "endTime", json_string(ts));
            json_object_set_new(doc, "percentComplete", json_real(100.0));
        }
        if (strcmp(status, "Failed") == 0)
            json_object_set_new(doc, "error",
                                json_pack("{s:s, s:s}", "code", "InternalOperationError", "message",
                                          "The operation failed (injected fault)."));
        else if (strcmp(status, "Canceled") == 0)
            json_object_set_new(doc, "error",
                                json_pack("{s:s, s:s}", "code", "OperationCanceled", "message",
                                          "The operation was canceled (injected fault)."));
        al_json_reply(c, 200, doc);
        return;
    }
    if (strcmp(status, "InProgress") == 0) {
        op_urls(c, opid, op, asy, loc, sizeof(asy));
        al_set_header(c->res, "Location", "%s", loc);
        set_retry_after(c, op);
        c->res->status = 202;
        return;
    }
    if (strcmp(status, "Failed") == 0 || strcmp(status, "Canceled") == 0) {
        al_error(c, 400, status[0] == 'F' ? "InternalOperationError" : "OperationCanceled",
                 "The operation %s (injected fault).",
                 status[0] == 'F' ? "failed" : "was canceled");
        return;
    }
    if (strcmp(kind, "delete") == 0) {
        c->res->status = 204;
        return;
    }
    {
        json_t *rec = al_rec_get(c->al, id);
        if (rec == NULL) {
            c->res->status = 204;
            return;
        }
        al_json_reply(c, 200, al_render(c, rec));
    }
}

/* --- generic resources --------------------------------------------------- */

struct al_target {
    char id[2048];     /* as requested */
    char scope[2048];  /* what the (last) provider block hangs under */
    char parent[2048]; /* the parent resource (or scope) */
    char type[512];    /* full type, request casing */
    char name[512];
    char sub[128];
    char rg[256];
    char ns[256];
    int collection; /* the path names a collection (or an action) */
    char last[256]; /* the collection or action segment */
};

static int parse_target(struct al_path *p, struct al_target *t)
{
    size_t prov = AL_MAX_SEGS, i, rest;
    memset(t, 0, sizeof(*t));
    if (seg_is(p, 0, "subscriptions") && p->nsegs > 1)
        snprintf(t->sub, sizeof(t->sub), "%s", p->segs[1]);
    if (seg_is(p, 2, "resourceGroups") && p->nsegs > 3)
        snprintf(t->rg, sizeof(t->rg), "%s", p->segs[3]);
    for (i = 0; i + 1 < p->nsegs; i++)
        if (strcasecmp(p->segs[i], "providers") == 0)
            prov = i;
    if (prov == AL_MAX_SEGS)
        return -1;
    join(p, 0, prov, t->scope, sizeof(t->scope));
    snprintf(t->ns, sizeof(t->ns), "%s", p->segs[prov + 1]);
    rest = p->nsegs - (prov + 2);
    if (rest == 0)
        return -1;
    snprintf(t->type, sizeof(t->type), "%s", t->ns);
    for (i = prov + 2; i < p->nsegs; i += 2) {
        size_t len = strlen(t->type);
        snprintf(t->type + len, sizeof(t->type) - len, "/%s", p->segs[i]);
    }
    if (rest % 2 == 1) {
        t->collection = 1;
        snprintf(t->last, sizeof(t->last), "%s", p->segs[p->nsegs - 1]);
        join(p, 0, p->nsegs - 1, t->parent, sizeof(t->parent));
        if (rest == 1)
            snprintf(t->parent, sizeof(t->parent), "%s", t->scope);
        join(p, 0, p->nsegs, t->id, sizeof(t->id));
        return 0;
    }
    snprintf(t->name, sizeof(t->name), "%s", p->segs[p->nsegs - 1]);
    join(p, 0, p->nsegs, t->id, sizeof(t->id));
    if (rest == 2)
        snprintf(t->parent, sizeof(t->parent), "%s", t->scope);
    else
        join(p, 0, p->nsegs - 2, t->parent, sizeof(t->parent));
    return 0;
}

static int visible(json_t *rec)
{
    return rec && !json_is_true(json_object_get(rec, "hidden"));
}

/* Checks that the resource group, the scope and the parent exist. */
static int check_parents(struct al_ctx *c, const struct al_target *t, int collection)
{
    json_t *rec;
    if (t->rg[0]) {
        char rgid[512];
        snprintf(rgid, sizeof(rgid), "/subscriptions/%s/resourceGroups/%s", t->sub, t->rg);
        if (!visible(al_rec_get(c->al, rgid))) {
            al_error(c, 404, "ResourceGroupNotFound", "Resource group '%s' could not be found.",
                     t->rg);
            return -1;
        }
    }
    /* management groups are not modelled: any is taken to exist */
    if (strchr(t->scope + 1, '/') && strstr(t->scope, "/providers/") != NULL &&
        !al_has_prefix_ci(t->scope, "/providers/Microsoft.Management/managementGroups/") &&
        !visible(al_rec_get(c->al, t->scope))) {
        al_error(c, 404, "ResourceNotFound", "The Resource '%s' was not found.", t->scope);
        return -1;
    }
    if (strcmp(t->parent, t->scope) != 0 && !(collection && strcmp(t->parent, t->id) == 0)) {
        rec = al_rec_get(c->al, t->parent);
        if (!visible(rec)) {
            al_error(c, 404, "ParentResourceNotFound",
                     "Can not perform requested operation on nested resource. Parent resource "
                     "'%s' not found.",
                     t->parent);
            return -1;
        }
    }
    return 0;
}

static void not_found(struct al_ctx *c, const struct al_target *t)
{
    const char *p = strcasestr(t->id, "/providers/"), *q;
    while (p && (q = strcasestr(p + 1, "/providers/")) != NULL)
        p = q;
    if (t->rg[0] && p)
        al_error(c, 404, "ResourceNotFound",
                 "The Resource '%s' under resource group '%s' was not found. For more details "
                 "please go to https://aka.ms/ARMResourceNotFoundFix",
                 p + 11, t->rg);
    else
        al_error(c, 404, "ResourceNotFound", "The Resource '%s' was not found.", t->id);
}

static void compute_identity(struct al_ctx *c, json_t *res, const json_t *old)
{
    json_t *id = json_object_get(res, "identity");
    const json_t *oid = json_object_get(old, "identity");
    const char *type = json_string_value(json_object_get(id, "type"));
    json_t *uais = json_object_get(id, "userAssignedIdentities");
    char g[37];
    const char *k;
    json_t *v;

    if (!json_is_object(id) || type == NULL)
        return;
    if (strcasestr(type, "SystemAssigned")) {
        const json_t *op = json_object_get(oid, "principalId");
        if (json_is_string(op)) {
            json_object_set(id, "principalId", (json_t *)op);
        } else {
            al_guid(c->al, g);
            json_object_set_new(id, "principalId", json_string(g));
        }
        al_guid(c->al, g);
        json_object_set_new(id, "tenantId",
                            json_is_string(json_object_get(oid, "tenantId"))
                                ? json_incref(json_object_get(oid, "tenantId"))
                                : json_string("72f988bf-86f1-41af-91ab-2d7cd011db47"));
    } else {
        json_object_del(id, "principalId");
        json_object_del(id, "tenantId");
    }
    json_object_foreach(uais, k, v)
    {
        const json_t *ov = json_object_get(json_object_get(oid, "userAssignedIdentities"), k);
        const json_t *uai =
            json_object_get(json_object_get(al_rec_get(c->al, k), "body"), "properties");
        json_t *nv = json_object();
        if (json_is_string(json_object_get(uai, "principalId"))) {
            /* the identity's own ids, as Azure reports them */
            json_object_set(nv, "principalId", json_object_get(uai, "principalId"));
            json_object_set(nv, "clientId", json_object_get(uai, "clientId"));
        } else if (json_is_object(ov) && json_object_get(ov, "principalId")) {
            json_object_update(nv, (json_t *)ov);
        } else {
            al_guid(c->al, g);
            json_object_set_new(nv, "principalId", json_string(g));
            al_guid(c->al, g);
            json_object_set_new(nv, "clientId", json_string(g));
        }
        json_object_set_new(uais, k, nv);
    }
}

static void merge_patch(json_t *dst, const json_t *patch)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)patch, k, v)
    {
        if (json_is_null(v))
            json_object_del(dst, k);
        else if (json_is_object(v) && json_is_object(json_object_get(dst, k)))
            merge_patch(json_object_get(dst, k), v);
        else
            json_object_set(dst, k, v);
    }
}

static json_t *parse_body(struct al_ctx *c)
{
    const char *ct = al_header(c->req, "Content-Type");
    json_error_t je;
    json_t *body;

    if (c->req->body_len == 0) {
        al_error(c, 400, "InvalidRequestContent",
                 "The request content was invalid and could "
                 "not be deserialized: the body is empty.");
        return NULL;
    }
    if (ct && strncasecmp(ct, "application/json", 16) != 0) {
        al_error(c, 415, "UnsupportedMediaType",
                 "The content media type '%.100s' is not supported. Only 'application/json' is "
                 "supported.",
                 ct);
        return NULL;
    }
    body = json_loadb(c->req->body, c->req->body_len, JSON_REJECT_DUPLICATES, &je);
    if (body == NULL || !json_is_object(body)) {
        al_error(c, 400, "InvalidRequestContent",
                 "The request content was invalid and could not be deserialized: '%s'.",
                 body ? "the body is not a JSON object" : je.text);
        json_decref(body);
        return NULL;
    }
    return body;
}

/* ARM's tags are a dictionary of strings (a datastore's are in its
 * properties): a body whose tags hold anything else does not deserialize,
 * and ARM refuses it before the resource provider sees it. The reference
 * names no code for it: InvalidRequestContent is ARM's for a body it cannot
 * read. */
static int tags_check(struct al_ctx *c, const json_t *body, const char *path)
{
    const json_t *tags = body;
    const char *k;
    json_t *v;
    for (const char *p = path; tags && *p;) {
        size_t n = strcspn(p, ".");
        char seg[64];
        snprintf(seg, sizeof(seg), "%.*s", (int)n, p);
        tags = json_object_get(tags, seg);
        p += n + (p[n] == '.');
    }
    if (tags == NULL || json_is_null(tags))
        return 0;
    if (!json_is_object(tags)) {
        al_error(c, 400, "InvalidRequestContent",
                 "The request content was invalid and could not be deserialized: '%s' is not a "
                 "dictionary of strings. Path '%s'.",
                 path, path);
        return -1;
    }
    json_object_foreach((json_t *)tags, k, v)
    {
        if (json_is_string(v))
            continue;
        al_error(c, 400, "InvalidRequestContent",
                 "The request content was invalid and could not be deserialized: the value of tag "
                 "'%.100s' is %s, not a string. Path '%s.%.100s'.",
                 k,
                 json_is_null(v)      ? "null"
                 : json_is_number(v)  ? "a number"
                 : json_is_boolean(v) ? "a bool"
                 : json_is_array(v)   ? "an array"
                                      : "an object",
                 path, k);
        return -1;
    }
    return 0;
}

/* A synchronous operation of a type with its own --lro-ms answers after it. */
static void sync_duration(struct al_ctx *c, const struct al_type *ty)
{
    unsigned ms;
    if (al_lro_ms(&c->al->opts, ty->type, &ms))
        c->res->delay_ms += ms;
}

static void reply_lro_or_sync(struct al_ctx *c, const struct al_type *ty, enum al_lro lro,
                              const struct al_target *t, const char *kind, int created,
                              const char *location, int fail)
{
    json_t *rec = al_rec_get(c->al, t->id);
    int status;
    if (lro == AL_SYNC) {
        sync_duration(c, ty);
        if (strcmp(kind, "put") == 0)
            status = created ? (ty->put_create_status ? ty->put_create_status : 201)
                             : (ty->put_update_status ? ty->put_update_status : 200);
        else
            status = 200;
        al_rules_after_write(c->al, ty, t->id);
        al_json_reply(c, status, al_render(c, rec));
        return;
    }
    status = created ? 201 : 200;
    start_op(c, ty, lro, t->id, kind, t->sub[0] ? t->sub : "00000000-0000-0000-0000-000000000000",
             t->ns, location, status, fail, al_render(c, rec));
}

static void resource_put(struct al_ctx *c, const struct al_type *ty, const struct al_target *t,
                         int is_patch, int lro_fail)
{
    json_t *req = parse_body(c), *rec, *old = NULL, *res = NULL;
    enum al_lro lro = is_patch ? ty->patch : ty->put;
    const char *state;
    int created, grant_pending;
    const char *k;
    json_t *v;

    if (req == NULL)
        return;
    if (tags_check(c, req, "tags") < 0 ||
        (strcasecmp(ty->type, "Microsoft.MachineLearningServices/workspaces/datastores") == 0 &&
         tags_check(c, req, "properties.tags") < 0))
        goto out;
    if (lro == AL_NOT_ALLOWED) {
        al_error(c, 405, "MethodNotAllowed", "The requested method '%s' is not allowed for '%s'.",
                 c->req->method, ty->type);
        goto out;
    }
    if (check_parents(c, t, 0) < 0 || al_rules_check_locks(c, t->id, 0) < 0)
        goto out;
    if (!is_patch && al_rules_check_put(c, ty, t->id, t->name, req) < 0)
        goto out;
    rec = al_rec_get(c->al, t->id);
    if (rec && json_is_string(json_object_get(rec, "op"))) {
        al_error(c, 409, "AnotherOperationInProgress",
                 "Another operation on this or dependent resource is in progress.");
        goto out;
    }
    if (!visible(rec))
        rec = NULL;
    if (is_patch && rec == NULL) {
        not_found(c, t);
        goto out;
    }
    created = rec == NULL;
    if (rec)
        old = json_object_get(rec, "body");
    if (strcasecmp(ty->type, "Microsoft.KeyVault/vaults/keys") == 0 && rec) {
        /* Keys_CreateIfNotExist: an existing key is returned untouched */
        al_json_reply(c, 200, al_render(c, rec));
        goto out;
    }
    if (is_patch) {
        const json_t *rules = al_jpath(req, "properties.managedNetwork.outboundRules");
        res = json_deep_copy(old);
        merge_patch(res, req);
        /* a workspace update names the user-defined outbound rules it keeps, all of them */
        if (json_is_object(rules))
            al_jpath_set_new(res, "properties.managedNetwork.outboundRules", json_deep_copy(rules));
    } else {
        res = json_object();
        json_object_foreach(req, k, v)
        {
            if (strcmp(k, "id") && strcmp(k, "name") && strcmp(k, "type") &&
                strcmp(k, "systemData") && strcmp(k, "etag"))
                json_object_set(res, k, v);
        }
    }
    json_object_set_new(res, "id",
                        json_string(rec ? json_string_value(json_object_get(old, "id")) : t->id));
    json_object_set_new(res, "name", json_string(t->name));
    json_object_set_new(res, "type", json_string(ty->type));
    if (!json_is_object(json_object_get(res, "properties")))
        json_object_set_new(res, "properties", json_object());
    if (al_rules_check_write(c, ty, t->id, t->scope, res, old, is_patch) < 0)
        goto out;
    compute_identity(c, res, old);
    if (ty->compute)
        ty->compute(c, res, old);
    if (ty->has_state) {
        if (lro == AL_SYNC)
            state = "Succeeded";
        else if (lro == AL_BODY)
            state = created ? "RegisteringDns" : "Succeeded";
        else
            state = created ? "Creating" : "Updating";
        al_jpath_set_new(res, "properties.provisioningState", json_string(state));
    }
    if (lro == AL_BODY && !created)
        lro = AL_SYNC;
    /* a workspace whose creation failed has not had its identity's grants
     * yet: the PUT that makes it succeed gives them */
    grant_pending =
        json_is_true(json_object_get(al_rec_get(c->al, t->id), "grantIdentity")) ? 1 : 0;
    rec = al_rec_put(c->al, t->id, res);
    res = NULL;
    if ((created || grant_pending) &&
        strcasecmp(ty->type, "Microsoft.MachineLearningServices/workspaces") == 0)
        json_object_set_new(rec, "grantIdentity", json_true());
    if (lro == AL_LOCATION && created)
        json_object_set_new(rec, "hidden", json_true());
    reply_lro_or_sync(c, ty, lro, t, is_patch ? "patch" : "put", created,
                      json_string_value(json_object_get(json_object_get(rec, "body"), "location")),
                      lro_fail);
    al_store_save(c->al);
out:
    json_decref(req);
    json_decref(res);
}

static void resource_delete(struct al_ctx *c, const struct al_type *ty, const struct al_target *t,
                            int lro_fail)
{
    json_t *rec, *body;
    if (ty->del == AL_NOT_ALLOWED) {
        al_error(c, 405, "MethodNotAllowed",
                 "The requested method 'DELETE' is not allowed for "
                 "'%s'.",
                 ty->type);
        return;
    }
    if (check_parents(c, t, 0) < 0)
        return;
    rec = al_rec_get(c->al, t->id);
    if (!visible(rec)) {
        /* soft-deleted workspaces can still be purged by name */
        if (al_rules_check_delete(c, ty, t->id, NULL) < 0)
            return;
        if (c->res->status == 0)
            c->res->status = 204;
        return;
    }
    if (json_is_string(json_object_get(rec, "op"))) {
        al_error(c, 409, "AnotherOperationInProgress",
                 "Another operation on this or dependent resource is in progress.");
        return;
    }
    if (al_rules_check_locks(c, t->id, 1) < 0 || al_rules_check_delete(c, ty, t->id, rec) < 0)
        return;
    body = json_object_get(rec, "body");
    if (ty->del == AL_SYNC) {
        json_t *tree = al_rec_take_tree(c->al, t->id);
        al_rules_after_delete(c->al, ty, t->id, tree);
        json_decref(tree);
        al_store_save(c->al);
        sync_duration(c, ty);
        c->res->status = 200;
        return;
    }
    if (ty->has_state)
        al_jpath_set_new(body, "properties.provisioningState", json_string("Deleting"));
    start_op(c, ty, ty->del, t->id, "delete",
             t->sub[0] ? t->sub : "00000000-0000-0000-0000-000000000000", t->ns,
             json_string_value(json_object_get(body, "location")), 202, lro_fail, NULL);
    al_store_save(c->al);
}

static int under_scope(const char *id_lower, const char *scope_lower)
{
    size_t n = strlen(scope_lower);
    return strncmp(id_lower, scope_lower, n) == 0 && id_lower[n] == '/';
}

/* The candidates of a list of type_l under parent, from the tree index
 * (store order): those below or at parent, and for role and policy
 * assignments those at each scope above it (inherited); role assignments
 * filtered by principal, that principal's. Without a parent of a scope's
 * shape, every resource of the type. */
static int list_candidates(struct al_ctx *c, const struct al_type *ty, const char *parent,
                           const char *type_l, const char *principal, struct al_keys *ks)
{
    struct armlocal *al = c->al;
    int ra = strstr(type_l, "roleassignments") != NULL,
        pa = strstr(type_l, "policyassignments") != NULL;
    int rc;
    if (ra && principal) { /* $filter=principalId eq '...': that principal's assignments */
        char low[128];
        al_lower(low, principal, sizeof(low));
        return al_keys_add_principal(al, ks, low);
    }
    if (parent[0] == '\0' || !al_tree_anchor(parent))
        return al_keys_add_index(al, ks, "", type_l);
    if ((rc = al_keys_add_index(al, ks, parent, type_l)) < 0)
        return rc;
    if (ty->extension && (ra || pa)) {
        char probe[2100], anc[2048];
        size_t lens[AL_MAX_ANC], n, plen = strlen(parent);
        const char *k;
        json_t *one;
        snprintf(probe, sizeof(probe), "%s/x", parent);
        n = al_key_ancestors(probe, lens);
        for (size_t i = 0; i < n && lens[i] < plen; i++) {
            snprintf(anc, sizeof(anc), "%.*s", (int)lens[i], parent);
            if (pa) {
                if ((rc = al_keys_add_index(al, ks, anc, type_l)) < 0)
                    return rc;
                continue;
            }
            json_object_foreach(al_scope_keys(al->ra_scopes, anc), k, one)
            {
                if ((rc = al_keys_add(al, ks, k)) < 0)
                    return rc;
            }
        }
        if ((rc = al_keys_add_index(al, ks, "/", type_l)) < 0)
            return rc;
    }
    al_keys_sort(ks);
    return 0;
}

static void resource_list(struct al_ctx *c, const struct al_type *ty, const struct al_target *t)
{
    json_t *list = json_array(), *rec;
    char parent[2048], type_l[512];
    const char *k;
    struct al_keys ks = {0};
    const char *filter = al_query(c->req, "$filter");
    const char *principal = NULL;
    char pbuf[128];

    if (check_parents(c, t, 1) < 0) {
        json_decref(list);
        return;
    }
    if (filter && (principal = strstr(filter, "principalId eq '")) != NULL) {
        size_t n;
        principal += 16;
        n = strcspn(principal, "'");
        if (n >= sizeof(pbuf))
            n = sizeof(pbuf) - 1;
        memcpy(pbuf, principal, n);
        pbuf[n] = '\0';
        principal = pbuf;
    }
    al_lower(parent, t->parent, sizeof(parent));
    al_lower(type_l, ty->type, sizeof(type_l));
    if (list_candidates(c, ty, parent, type_l, principal, &ks) < 0) {
        al_keys_release(&ks);
        json_decref(list);
        al_error(c, 500, "InternalServerError", "Out of memory.");
        return;
    }
    al_keys_sort(&ks);
    for (size_t ki = 0; ki < ks.n; ki++) {
        json_t *body;
        char rtype[512], rid[2048];
        const char *pos;
        k = ks.v[ki].key;
        rec = json_object_get(al_resources(c->al), k);
        body = json_object_get(rec, "body");
        if (!visible(rec))
            continue;
        al_lower(rtype, json_string_value(json_object_get(body, "type")), sizeof(rtype));
        if (strcmp(rtype, type_l) != 0)
            continue;
        snprintf(rid, sizeof(rid), "%s", k);
        if (ty->extension) {
            /* at the scope and below; role and policy assignments also
             * above (those inherited from containing scopes) */
            char scope[2048];
            pos = strstr(rid, "/providers/microsoft.");
            pos = rid;
            {
                const char *last = NULL, *q = rid;
                while ((q = strstr(q, "/providers/")) != NULL)
                    last = q++;
                pos = last;
            }
            snprintf(scope, sizeof(scope), "%.*s", pos ? (int)(pos - rid) : 0, rid);
            if (!(strcmp(scope, parent) == 0 || under_scope(scope, parent) ||
                  ((strstr(type_l, "roleassignments") || strstr(type_l, "policyassignments")) &&
                   (parent[0] == '\0' || under_scope(parent, scope) || scope[0] == '\0'))))
                continue;
            if (filter && strstr(filter, "atScope()") &&
                !(strcmp(scope, parent) == 0 || under_scope(parent, scope)))
                continue;
            if (principal &&
                strcasecmp(json_string_value(al_jpath(body, "properties.principalId"))
                               ? json_string_value(al_jpath(body, "properties.principalId"))
                               : "",
                           principal) != 0)
                continue;
        } else {
            /* children of the parent resource, or every resource under the
             * subscription / resource group */
            if (!under_scope(rid, parent))
                continue;
            if (strcmp(t->parent, t->scope) != 0) {
                const char *rest = rid + strlen(parent) + 1;
                if (strchr(rest, '/') != strrchr(rest, '/'))
                    continue;
            }
        }
        json_array_append_new(list, al_render(c, rec));
    }
    al_keys_release(&ks);
    al_json_reply(c, 200, json_pack("{s:o}", "value", list));
}

/* --- resource groups and subscriptions ------------------------------------ */

/* ARM pages its lists of resource groups and of resources (x-ms-pageable,
 * nextLink): a page holds at most AL_LIST_PAGE items and a nextLink to the
 * rest. The reference gives no page size: 1000, Resource Graph's and what
 * ARM's own resource lists return, is an assumption. The $skiptoken is the
 * store serial of the last item given: the next page starts after it, so
 * nothing that stayed is repeated or skipped while the store changes. */
#define AL_LIST_PAGE 1000

/* The serial the request's page starts after (-1: the first page); -1
 * after answering 400 for a token armlocal did not make. */
static int list_page_after(struct al_ctx *c, json_int_t *after)
{
    const char *tok = al_query(c->req, "$skiptoken");
    char *end;
    long long v;
    *after = -1;
    if (tok == NULL)
        return 0;
    errno = 0;
    v = strtoll(tok, &end, 10);
    if (*tok == '\0' || *end != '\0' || errno != 0 || v < 0) {
        al_error(c, 400, "InvalidRequestContent", "The skip token '%.100s' is not valid.", tok);
        return -1;
    }
    *after = (json_int_t)v;
    return 0;
}

/* Answers a page of a list: value, and a nextLink past the serial last
 * when more follow (last < 0: the last page). */
static void list_page_reply(struct al_ctx *c, json_t *list, json_int_t last)
{
    json_t *doc = json_pack("{s:o}", "value", list);
    if (doc && last >= 0)
        json_object_set_new(doc, "nextLink",
                            json_sprintf("%s%s?api-version=%s&%%24skiptoken=%" JSON_INTEGER_FORMAT,
                                         c->al->base_url, c->req->path,
                                         c->api_version ? c->api_version : "", last));
    al_json_reply(c, 200, doc);
}

static int api_version_check(struct al_ctx *c, const struct al_type *ty);

static void rg_handle(struct al_ctx *c, struct al_path *p, int lro_fail)
{
    const struct al_type *ty = al_type_find("Microsoft.Resources/resourceGroups");
    struct al_target t;

    if (api_version_check(c, ty) < 0)
        return;

    memset(&t, 0, sizeof(t));
    snprintf(t.sub, sizeof(t.sub), "%s", p->segs[1]);
    snprintf(t.ns, sizeof(t.ns), "Microsoft.Resources");
    snprintf(t.type, sizeof(t.type), "Microsoft.Resources/resourceGroups");
    snprintf(t.scope, sizeof(t.scope), "/subscriptions/%s", p->segs[1]);
    snprintf(t.parent, sizeof(t.parent), "%s", t.scope);
    if (p->nsegs == 3) { /* ResourceGroups_List, paged (AL_LIST_PAGE) */
        json_t *list, *rec;
        const char *k;
        char prefix[256], sub[256];
        struct al_keys ks = {0};
        json_int_t after, last = -1, last_given = -1;
        size_t given = 0;
        if (strcasecmp(c->req->method, "GET") != 0) {
            al_error(c, 405, "MethodNotAllowed", "The requested method is not allowed.");
            return;
        }
        if (list_page_after(c, &after) < 0)
            return;
        list = json_array();
        snprintf(prefix, sizeof(prefix), "/subscriptions/%s/resourcegroups/", p->segs[1]);
        al_lower(prefix, prefix, sizeof(prefix));
        snprintf(sub, sizeof(sub), "%.*s", (int)(strlen(prefix) - 16), prefix);
        /* the groups, from the tree index */
        al_keys_add_index(c->al, &ks, sub, "microsoft.resources/resourcegroups");
        al_keys_sort(&ks);
        for (size_t i = 0; i < ks.n; i++) {
            k = ks.v[i].key;
            rec = json_object_get(al_resources(c->al), k);
            if (ks.v[i].serial <= after || strncmp(k, prefix, strlen(prefix)) != 0 ||
                strchr(k + strlen(prefix), '/') || !visible(rec))
                continue;
            if (given == AL_LIST_PAGE) { /* one more: the page ends at the last one given */
                last = last_given;
                break;
            }
            json_array_append_new(list, al_render(c, rec));
            given++;
            last_given = ks.v[i].serial;
        }
        al_keys_release(&ks);
        list_page_reply(c, list, last);
        return;
    }
    snprintf(t.name, sizeof(t.name), "%s", p->segs[3]);
    snprintf(t.id, sizeof(t.id), "/subscriptions/%s/resourceGroups/%s", p->segs[1], p->segs[3]);
    if (strcasecmp(c->req->method, "GET") == 0 || strcasecmp(c->req->method, "HEAD") == 0) {
        json_t *rec = al_rec_get(c->al, t.id);
        if (!visible(rec)) {
            al_error(c, 404, "ResourceGroupNotFound", "Resource group '%s' could not be found.",
                     t.name);
            return;
        }
        if (strcasecmp(c->req->method, "HEAD") == 0)
            al_json_reply(c, 204, NULL);
        else
            al_json_reply(c, 200, al_render(c, rec));
    } else if (strcasecmp(c->req->method, "PUT") == 0 || strcasecmp(c->req->method, "PATCH") == 0) {
        resource_put(c, ty, &t, strcasecmp(c->req->method, "PATCH") == 0, lro_fail);
    } else if (strcasecmp(c->req->method, "DELETE") == 0) {
        json_t *rec = al_rec_get(c->al, t.id);
        if (!visible(rec)) {
            al_error(c, 404, "ResourceGroupNotFound", "Resource group '%s' could not be found.",
                     t.name);
            return;
        }
        resource_delete(c, ty, &t, lro_fail);
    } else {
        al_error(c, 405, "MethodNotAllowed", "The requested method is not allowed.");
    }
}

/* GET {resource group}/resources: the resources of a group as ARM's own
 * list returns them (no properties; ARM answers it from its cache, so it
 * does not lag like Resource Graph). */
/* The top-level resources under prefix (lowercase, ending in "/"), as ARM's
 * own lists return them: no properties. ARM answers them from its cache, so
 * they do not lag like Resource Graph. Paged (AL_LIST_PAGE). */
static void list_top_level(struct al_ctx *c, const char *prefix)
{
    static const char *const keep[] = {"id",  "name",     "type",      "location", "kind",
                                       "sku", "identity", "managedBy", "tags"};
    json_t *list, *rec;
    const char *k;
    size_t n = strlen(prefix), given = 0;
    char anc[2048];
    struct al_keys ks = {0};
    json_int_t after, last = -1, last_given = -1;

    if (list_page_after(c, &after) < 0)
        return;
    list = json_array();
    /* what is below the group or subscription, from the tree index: the
     * keys of top-level types only (a list holds no child resources such as
     * keys or computes, no extension resources such as role assignments or
     * locks), so its cost is its answer's, not everything in the scope */
    snprintf(anc, sizeof(anc), "%.*s", (int)(n - 1), prefix);
    {
        const char *t;
        json_t *keys;
        json_object_foreach(al_tree_keys(c->al, anc, NULL), t, keys)
        {
            const char *slash = strchr(t, '/');
            const struct al_type *ty = al_type_find(t);
            if (slash == NULL || strchr(slash + 1, '/') != NULL || (ty && ty->extension))
                continue;
            if (al_keys_add_index(c->al, &ks, anc, t) < 0)
                break;
        }
    }
    al_keys_sort(&ks);
    for (size_t ki = 0; ki < ks.n; ki++) {
        const char *rest, *prov, *slash;
        json_t *body, *o;
        k = ks.v[ki].key;
        rest = k + n;
        rec = json_object_get(al_resources(c->al), k);
        if (ks.v[ki].serial <= after || strncmp(k, prefix, n) != 0 || !visible(rec))
            continue;
        /* [resourcegroups/RG/]providers/NAMESPACE/type/name, nothing below */
        if (strncmp(rest, "resourcegroups/", 15) == 0 && (rest = strchr(rest + 15, '/')) != NULL)
            rest++;
        if (rest == NULL || strncmp(rest, "providers/", 10) != 0)
            continue;
        prov = rest + 10;
        if ((slash = strchr(prov, '/')) == NULL || (slash = strchr(slash + 1, '/')) == NULL ||
            strchr(slash + 1, '/') != NULL)
            continue;
        if (given == AL_LIST_PAGE) { /* one more: the page ends at the last one given */
            last = last_given;
            break;
        }
        body = json_object_get(rec, "body");
        o = json_object();
        for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
            if (json_object_get(body, keep[i]))
                json_object_set_new(o, keep[i], json_deep_copy(json_object_get(body, keep[i])));
        json_array_append_new(list, o);
        given++;
        last_given = ks.v[ki].serial;
    }
    al_keys_release(&ks);
    list_page_reply(c, list, last);
}

/* GET {resource group}/resources (Resources_ListByResourceGroup). */
static void rg_resources(struct al_ctx *c, const struct al_path *p)
{
    char rgid[600], prefix[700];

    snprintf(rgid, sizeof(rgid), "/subscriptions/%s/resourceGroups/%s", p->segs[1], p->segs[3]);
    if (!visible(al_rec_get(c->al, rgid))) {
        al_error(c, 404, "ResourceGroupNotFound", "Resource group '%s' could not be found.",
                 p->segs[3]);
        return;
    }
    snprintf(prefix, sizeof(prefix), "%s/", rgid);
    al_lower(prefix, prefix, sizeof(prefix));
    list_top_level(c, prefix);
}

/* GET /subscriptions/{s}/resources (Resources_List). */
static void subscription_resources(struct al_ctx *c, const struct al_path *p)
{
    char prefix[300];
    snprintf(prefix, sizeof(prefix), "/subscriptions/%s/", p->segs[1]);
    al_lower(prefix, prefix, sizeof(prefix));
    list_top_level(c, prefix);
}

static int type_namespace_known(const char *ns)
{
    static const char *const known[] = {
        "Microsoft.Resources",       "Microsoft.MachineLearningServices",
        "Microsoft.Network",         "Microsoft.KeyVault",
        "Microsoft.Storage",         "Microsoft.ContainerRegistry",
        "Microsoft.Insights",        "Microsoft.Authorization",
        "Microsoft.ManagedIdentity", "Microsoft.OperationalInsights",
        "Microsoft.ContainerService"};
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (strcasecmp(known[i], ns) == 0)
            return 1;
    return 0;
}

static const char *list_versions_or(const struct al_type *ty)
{
    return ty ? ty->api_versions : "";
}

/* Refuses an api-version the type does not serve, as ARM does. */
static int api_version_check(struct al_ctx *c, const struct al_type *ty)
{
    if (al_api_version_ok(ty, c->api_version))
        return 0;
    al_error(c, 400, "NoRegisteredProviderFound",
             "No registered resource provider found for location 'global' and API version "
             "'%s' for type '%s'. The supported api-versions are '%s'.",
             c->api_version, strchr(ty->type, '/') + 1, list_versions_or(ty));
    return -1;
}

/* Resolves the type and checks the api-version. */
static const struct al_type *resolve_type(struct al_ctx *c, struct al_target *t)
{
    const struct al_type *ty = al_type_find(t->type);
    if (ty == NULL && t->collection && strcasecmp(c->req->method, "POST") == 0) {
        /* an action on a resource: the type is the path without the action */
        char *slash = strrchr(t->type, '/');
        if (slash)
            *slash = '\0';
        ty = al_type_find(t->type);
    }
    if (ty == NULL) {
        const char *short_type = strchr(t->type, '/');
        if (type_namespace_known(t->ns))
            al_error(c, 400, "InvalidResourceType",
                     "The resource type '%s' could not be found in the namespace '%s' for api "
                     "version '%s'.",
                     short_type ? short_type + 1 : t->type, t->ns,
                     c->api_version ? c->api_version : "");
        else
            al_error(c, 400, "NoRegisteredProviderFound",
                     "No registered resource provider found for namespace '%s'.", t->ns);
        return NULL;
    }
    return api_version_check(c, ty) < 0 ? NULL : ty;
}

static void action_handle(struct al_ctx *c, const struct al_type *ty, struct al_target *t)
{
    json_t *rec;
    char rid[2048];
    snprintf(rid, sizeof(rid), "%.*s", (int)(strlen(t->id) - strlen(t->last) - 1), t->id);
    rec = al_rec_get(c->al, rid);
    if (!visible(rec)) {
        al_error(c, 404, "ResourceNotFound", "The Resource '%s' was not found.", rid);
        return;
    }
    if (strcasecmp(ty->type, "Microsoft.MachineLearningServices/workspaces/onlineEndpoints") == 0 &&
        strcasecmp(t->last, "listKeys") == 0) {
        json_t *aux = json_object_get(rec, "aux");
        if (!json_is_object(aux)) {
            char a[33], b[33];
            al_hex32(c->al, a);
            al_hex32(c->al, b);
            aux = json_pack("{s:s, s:s}", "primaryKey", a, "secondaryKey", b);
            json_object_set_new(rec, "aux", aux);
            al_rec_touch(c->al, rid);
            al_store_save(c->al);
        }
        al_json_reply(c, 200, json_deep_copy(aux));
        return;
    }
    al_error(c, 404, "InvalidResourceOperation", "The operation '%s' is not supported on '%s'.",
             t->last, ty->type);
}

static void deleted_vaults(struct al_ctx *c, struct al_path *p)
{
    json_t *dv = json_object_get(c->al->state, "deletedVaults"), *v;
    const char *k;
    /* /subscriptions/{s}/providers/Microsoft.KeyVault/deletedVaults */
    if (p->nsegs == 5 && strcasecmp(c->req->method, "GET") == 0) {
        json_t *list = json_array();
        json_object_foreach(dv, k, v)
        {
            json_array_append(list, v);
        }
        al_json_reply(c, 200, json_pack("{s:o}", "value", list));
        return;
    }
    /* .../locations/{l}/deletedVaults/{n}[/purge] */
    if (p->nsegs >= 8) {
        char key[256];
        al_lower(key, p->segs[7], sizeof(key));
        v = json_object_get(dv, key);
        if (v == NULL) {
            al_error(c, 404, "ResourceNotFound", "The deleted vault '%s' was not found.",
                     p->segs[7]);
            return;
        }
        if (p->nsegs == 8 && strcasecmp(c->req->method, "GET") == 0) {
            al_json_reply(c, 200, json_incref(v));
            return;
        }
        if (p->nsegs == 9 && seg_is(p, 8, "purge") && strcasecmp(c->req->method, "POST") == 0) {
            if (json_is_true(al_jpath(v, "properties.purgeProtectionEnabled"))) {
                al_error(c, 409, "Conflict",
                         "Operation \"purge\" is not allowed because purge protection is enabled "
                         "for this vault. Key Vault service will automatically purge it after "
                         "the retention period has passed.");
                return;
            }
            json_object_del(dv, key);
            json_object_del(json_object_get(c->al->state, "deletedVaultData"), key);
            al_store_touch(c->al, "deletedVaults", key);
            al_store_touch(c->al, "deletedVaultData", key);
            al_store_save(c->al);
            c->res->status = 200;
            return;
        }
    }
    al_error(c, 404, "NotFound", "The requested path was not found.");
}

static void subscription_get(struct al_ctx *c, const char *sub)
{
    char id[256];
    snprintf(id, sizeof(id), "/subscriptions/%s", sub);
    al_json_reply(c, 200,
                  json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", id, "subscriptionId", sub,
                            "displayName", "armlocal", "state", "Enabled", "tenantId",
                            "72f988bf-86f1-41af-91ab-2d7cd011db47"));
}

static void arm_handle(struct al_ctx *c, struct al_path *p, int lro_fail)
{
    struct al_target t;
    const struct al_type *ty;
    const char *m = c->req->method;

    /* operation status and results */
    if (seg_is(p, 0, "subscriptions") && seg_is(p, 2, "providers") && seg_is(p, 4, "locations") &&
        p->nsegs == 8 && strcasecmp(m, "GET") == 0 &&
        (seg_is(p, 6, "operationStatuses") || seg_is(p, 6, "operationResults"))) {
        op_get(c, p->segs[7], seg_is(p, 6, "operationResults"));
        return;
    }
    if (c->api_version == NULL) {
        al_error(c, 400, "MissingApiVersionParameter",
                 "The api-version query parameter (?api-version=) is required for all requests.");
        return;
    }
    if (seg_is(p, 0, "providers")) {
        if (p->nsegs == 3 && seg_is(p, 1, "Microsoft.ResourceGraph") && seg_is(p, 2, "resources")) {
            al_graph_handle(c);
            return;
        }
        if (p->nsegs == 4 && seg_is(p, 1, "Microsoft.Authorization") &&
            seg_is(p, 2, "policyDefinitions") && strcasecmp(m, "GET") == 0) {
            al_policy_definition_get(c, p->segs[3]);
            return;
        }
        if (p->nsegs == 2 && strcasecmp(m, "GET") == 0) {
            al_provider_get(c, p->segs[1]);
            return;
        }
    }
    if (seg_is(p, 0, "subscriptions") && p->nsegs == 2 && strcasecmp(m, "GET") == 0) {
        subscription_get(c, p->segs[1]);
        return;
    }
    if (seg_is(p, 0, "subscriptions") && seg_is(p, 2, "providers") &&
        seg_is(p, 3, "Microsoft.KeyVault") &&
        (seg_is(p, 4, "deletedVaults") ||
         (seg_is(p, 4, "locations") && seg_is(p, 6, "deletedVaults")))) {
        deleted_vaults(c, p);
        return;
    }
    if (al_ws_deleted_route(p)) {
        al_ws_deleted_handle(c, p);
        return;
    }
    if (seg_is(p, 0, "subscriptions") && seg_is(p, 2, "resourceGroups") &&
        (p->nsegs == 3 || p->nsegs == 4)) {
        rg_handle(c, p, lro_fail);
        return;
    }
    if (p->nsegs >= 3 && seg_is(p, p->nsegs - 3, "providers") &&
        seg_is(p, p->nsegs - 2, "Microsoft.Authorization") &&
        seg_is(p, p->nsegs - 1, "permissions") && strcasecmp(m, "GET") == 0) {
        char scope[2048];
        join(p, 0, p->nsegs - 3, scope, sizeof(scope));
        al_permissions_get(c, scope);
        return;
    }
    if (seg_is(p, 0, "subscriptions") && p->nsegs == 3 && seg_is(p, 2, "resources")) {
        if (strcasecmp(m, "GET") == 0)
            subscription_resources(c, p);
        else
            al_error(c, 405, "MethodNotAllowed", "The requested method is not allowed.");
        return;
    }
    if (seg_is(p, 0, "subscriptions") && seg_is(p, 2, "resourceGroups") && p->nsegs == 5 &&
        seg_is(p, 4, "resources")) {
        if (strcasecmp(m, "GET") == 0)
            rg_resources(c, p);
        else
            al_error(c, 405, "MethodNotAllowed", "The requested method is not allowed.");
        return;
    }
    if ((p->nsegs == 11 || p->nsegs == 12) && seg_is(p, 4, "providers") &&
        seg_is(p, 5, "Microsoft.KeyVault") && seg_is(p, 6, "vaults") && seg_is(p, 8, "keys") &&
        seg_is(p, 10, "versions")) {
        char key_id[2048];
        const struct al_type *kt = al_type_find("Microsoft.KeyVault/vaults/keys");
        if (api_version_check(c, kt) < 0)
            return;
        if (strcasecmp(m, "GET") != 0) {
            al_error(c, 405, "MethodNotAllowed", "The requested method '%s' is not allowed.", m);
            return;
        }
        join(p, 0, 10, key_id, sizeof(key_id));
        al_key_versions_arm(c, key_id, p->nsegs == 12 ? p->segs[11] : NULL);
        return;
    }
    if (p->nsegs == 9 && seg_is(p, 5, "Microsoft.Network") && seg_is(p, 6, "privateDnsZones") &&
        seg_is(p, 8, "ALL")) {
        /* RecordSets_List: every record set of the zone; A records are the
         * only kind served, so it is their list */
        static char a[] = "A";
        p->segs[8] = a;
    }
    if (parse_target(p, &t) < 0) {
        al_error(c, 404, "NotFound", "The requested path '%s' was not found.", c->req->path);
        return;
    }
    ty = resolve_type(c, &t);
    if (ty == NULL)
        return;
    if (!ty->extension && strcasecmp(ty->type, "Microsoft.Resources/resourceGroups") != 0 &&
        t.rg[0] == '\0' && !(t.collection && strcasecmp(m, "GET") == 0)) {
        al_error(c, 400, "InvalidResourceId",
                 "The resource id '%s' is invalid: tracked "
                 "resources live in a resource group.",
                 t.id);
        return;
    }
    if (t.collection) {
        if (strcasecmp(m, "GET") == 0 && al_type_find(t.type) == ty)
            resource_list(c, ty, &t);
        else if (strcasecmp(m, "POST") == 0)
            action_handle(c, ty, &t);
        else
            al_error(c, 405, "MethodNotAllowed", "The requested method '%s' is not allowed.", m);
        return;
    }
    if (strcasecmp(m, "GET") == 0) {
        json_t *rec;
        if (check_parents(c, &t, 0) == 0) {
            rec = al_rec_get(c->al, t.id);
            if (!visible(rec))
                not_found(c, &t);
            else
                al_json_reply(c, 200, al_render(c, rec));
        }
    } else if (strcasecmp(m, "HEAD") == 0) {
        /* Resources_CheckExistenceById: 204 or 404, never a body */
        al_json_reply(c, visible(al_rec_get(c->al, t.id)) ? 204 : 404, NULL);
    } else if (strcasecmp(m, "PUT") == 0) {
        resource_put(c, ty, &t, 0, lro_fail);
    } else if (strcasecmp(m, "PATCH") == 0) {
        resource_put(c, ty, &t, 1, lro_fail);
    } else if (strcasecmp(m, "DELETE") == 0) {
        resource_delete(c, ty, &t, lro_fail);
    } else {
        al_error(c, 405, "MethodNotAllowed", "The requested method '%s' is not allowed.", m);
    }
    if (ty->flat_errors && c->res->status >= 400) {
        /* diagnosticSettings use the flat {code, message} error shape */
        json_t *doc = json_loadb(c->res->body.ptr, c->res->body.len, 0, NULL);
        json_t *e = json_object_get(doc, "error");
        if (e) {
            int st = c->res->status;
            al_json_reply(c, st,
                          json_pack("{s:O, s:O}", "code", json_object_get(e, "code"), "message",
                                    json_object_get(e, "message")));
        }
        json_decref(doc);
    }
}

/* The cloud metadata document (2022-09-01) describing the local cloud, so
 * clients configure it like any custom cloud (ARM_METADATA_HOSTNAME). */
static void cloud_metadata(struct al_ctx *c)
{
    char aud[200];
    snprintf(aud, sizeof(aud), "%s/", c->al->base_url);
    al_json_reply(c, 200,
                  json_pack("[{s:s, s:s, s:s, s:{s:s, s:s, s:s, s:[s,s]}, s:{s:s, s:s, "
                            "s:s}}]",
                            "name", "armlocal", "portal", c->al->base_url, "resourceManager",
                            c->al->base_url, "authentication", "loginEndpoint", c->al->base_url,
                            "identityProvider", "AAD", "tenant", "common", "audiences",
                            "https://management.azure.com/", aud, "suffixes", "keyVaultDns",
                            "vault.azure.net", "storage", "core.windows.net", "acrLoginServer",
                            "azurecr.io"));
}

void armlocal_handle(struct armlocal *al, const struct armlocal_request *req,
                     struct armlocal_response *res)
{
    struct al_ctx c;
    struct al_path *p = malloc(sizeof(*p));
    const char *corr;
    char rid[37];
    int lro_fail = 0;

    memset(&c, 0, sizeof(c));
    c.al = al;
    c.req = req;
    c.res = res;
    pthread_mutex_lock(&al->mu);
    if (req->method && strcasecmp(req->method, "GET") != 0 &&
        strcasecmp(req->method, "HEAD") != 0 &&
        !(req->path && strcasecmp(req->path, "/providers/Microsoft.ResourceGraph/resources") == 0))
        al->generation++; /* a write may change what Resource Graph answers */
    c.now_ms = al_now_ms();
    c.api_version = al_query(req, "api-version");
    al_guid(al, rid);
    al_set_header(res, "x-ms-request-id", "%s", rid);
    corr = al_header(req, "x-ms-correlation-request-id");
    if (corr && strlen(corr) < 128 && strchr(corr, '\r') == NULL && strchr(corr, '\n') == NULL)
        al_set_header(res, "x-ms-correlation-request-id", "%s", corr);
    else
        al_set_header(res, "x-ms-correlation-request-id", "%s", rid);
    if (p == NULL) {
        al_error(&c, 500, "InternalServerError", "Out of memory.");
        goto out;
    }
    if (req->method == NULL || req->path == NULL || req->path[0] != '/' ||
        al_path_parse(p, req->path) < 0) {
        al_error(&c, 400, "InvalidUri", "The request URI is invalid.");
        goto out;
    }
    if (req->body_too_large) {
        al_error(&c, 413, "RequestEntityTooLarge",
                 "The request content size exceeds the maximum allowed size of 4194304 bytes.");
        goto out;
    }
    if (seg_is(p, 0, "_armlocal")) {
        al_control_handle(&c);
        goto out;
    }
    al_ops_advance(al, c.now_ms);
    al_log_request(al, req->method, req->path);
    if (al_faults_apply(&c, &lro_fail))
        goto out;
    if (p->nsegs == 4 && seg_is(p, 1, "v2.0") && seg_is(p, 2, ".well-known") &&
        seg_is(p, 3, "openid-configuration") && strcasecmp(req->method, "GET") == 0) {
        al_entra_openid_configuration(&c, p->segs[0]);
        goto out;
    }
    if (p->nsegs == 3 && seg_is(p, 0, "common") && seg_is(p, 1, "discovery") &&
        seg_is(p, 2, "instance") && strcasecmp(req->method, "GET") == 0) {
        al_entra_instance_discovery(&c);
        goto out;
    }
    if (p->nsegs == 4 && seg_is(p, 1, "oauth2") && seg_is(p, 2, "v2.0") && seg_is(p, 3, "token")) {
        al_token_handle(&c, p->segs[0]);
        goto out;
    }
    if (p->nsegs == 4 && seg_is(p, 0, "metadata") && seg_is(p, 1, "identity") &&
        seg_is(p, 2, "oauth2") && seg_is(p, 3, "token")) {
        al_imds_handle(&c);
        goto out;
    }
    if (p->nsegs == 2 && seg_is(p, 0, "msi") && seg_is(p, 1, "token")) {
        al_app_service_msi_handle(&c);
        goto out;
    }
    if (seg_is(p, 0, "oidc")) {
        al_oidc_handle(&c, p);
        goto out;
    }
    if (p->nsegs == 2 && seg_is(p, 0, "metadata") && seg_is(p, 1, "endpoints")) {
        cloud_metadata(&c);
        goto out;
    }
    if (seg_is(p, 0, "_vault")) {
        const char *rest = req->path + 1 + strlen("_vault");
        if (al_header(req, "Authorization") == NULL) {
            al_vault_challenge(&c, rest);
            goto out;
        }
        if (al_auth_check(&c, "https://vault.azure.net") < 0)
            goto out;
        al_vault_handle(&c, rest);
        goto out;
    }
    if (al_auth_check(&c, "https://management.azure.com") < 0)
        goto out;
    if (al_throttle(&c) < 0)
        goto out;
    arm_handle(&c, p, lro_fail);
out:
    if (res->status == 0)
        res->status = 500;
    pthread_mutex_unlock(&al->mu);
    free(p);
}
