/* Azure Resource Graph (POST /providers/Microsoft.ResourceGraph/resources):
 * the KQL subset amlsec sends (docs/local-cloud.md):
 *   TABLE | where COND [and|or COND]... | project [name =] path, ...
 *             | order by path [asc|desc] | limit N | mv-expand NAME = path, ...
 * with COND: path (=~ | == | != | !~) 'value', path (in~ | in | !in~ | !in) ('a', ...),
 * and parentheses. $top <= 1000, $skip, $skipToken paging, objectArray and
 * table results, quota headers. TABLE is resources (top-level tracked
 * resources, online endpoints, DNS zone links), resourcecontainers
 * (resource groups), authorizationresources (role assignments and
 * definitions) or policyresources (policy assignments, exemptions and
 * definitions), each holding the types Azure keeps there (locks are in
 * none). */
#include "providers/armlocal/al_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/error.h"
#include "util/jsonw.h"
#include "util/strmap.h"
#include "util/banned.h"

#define MAX_TOKS 100000
#define QUOTA 15
#define QUOTA_WINDOW_S 5.0

enum tk { T_END = 0, T_IDENT, T_STR, T_NUM, T_OP, T_PIPE, T_LP, T_RP, T_COMMA, T_EQ };

struct tok {
    enum tk kind;
    char *text; /* malloc'd, never NULL after lex */
};

/* The values of one `in` list, hashed once per query: a 1000-id
 * `where id in~ (...)` then costs one lookup per row, not 1000 compares. */
struct in_set {
    size_t start; /* token position after '(' */
    size_t end;   /* token position after ')' */
    struct strmap values;
};

struct query {
    struct tok *t; /* n + 1 entries, the last T_END */
    size_t n, cap;
    char err[256];
    struct in_set *sets;
    size_t nsets;
};

static void query_release(struct query *q)
{
    for (size_t i = 0; q->t && i <= q->n && i < q->cap; i++)
        free(q->t[i].text);
    free(q->t);
    for (size_t i = 0; i < q->nsets; i++)
        strmap_release(&q->sets[i].values);
    free(q->sets);
}

/* The set of the list starting at token start (just after '('), built on
 * first use; NULL when the list is malformed or memory ran out. */
static struct in_set *in_set_of(struct query *q, size_t start, int ci)
{
    struct in_set *set, *grown;
    size_t pos = start;
    for (size_t i = 0; i < q->nsets; i++)
        if (q->sets[i].start == start)
            return &q->sets[i];
    grown = realloc(q->sets, (q->nsets + 1) * sizeof(*grown));
    if (grown == NULL)
        return NULL;
    q->sets = grown;
    set = &q->sets[q->nsets];
    set->start = start;
    strmap_init(&set->values, ci != 0);
    for (;;) {
        struct tok *v = &q->t[pos];
        if ((v->kind != T_STR && v->kind != T_NUM) || strmap_put(&set->values, v->text, 1) < 0)
            goto bad;
        pos++;
        if (q->t[pos].kind == T_COMMA) {
            pos++;
            continue;
        }
        if (q->t[pos].kind == T_RP)
            break;
        goto bad;
    }
    set->end = pos + 1;
    q->nsets++;
    return set;
bad:
    strmap_release(&set->values);
    return NULL;
}

static struct tok *tok_push(struct query *q)
{
    if (q->n + 2 > q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 64;
        struct tok *t;
        if (cap > MAX_TOKS)
            return NULL;
        t = realloc(q->t, cap * sizeof(*t));
        if (t == NULL)
            return NULL;
        memset(t + q->cap, 0, (cap - q->cap) * sizeof(*t));
        q->t = t;
        q->cap = cap;
    }
    return &q->t[q->n++];
}

static int lex(struct query *q, const char *s)
{
    q->n = 0;
    while (*s) {
        struct tok *t;
        const char *start;
        if (isspace((unsigned char)*s)) {
            s++;
            continue;
        }
        t = tok_push(q);
        if (t == NULL) {
            snprintf(q->err, sizeof(q->err), "query too long");
            return -1;
        }
        t->text = NULL;
        if (*s == '\'' || *s == '"') {
            char quote = *s++;
            start = s;
            while (*s && *s != quote)
                s++;
            if (*s != quote) {
                snprintf(q->err, sizeof(q->err), "unterminated string literal");
                return -1;
            }
            t->text = strndup(start, (size_t)(s - start));
            s++;
            t->kind = T_STR;
        } else if (strncmp(s, "mv-expand", 9) == 0 && !isalnum((unsigned char)s[9]) &&
                   s[9] != '_') {
            t->kind = T_IDENT;
            t->text = strdup("mv-expand");
            s += 9;
        } else if (isalpha((unsigned char)*s) || *s == '_' || *s == '$') {
            start = s;
            while (isalnum((unsigned char)*s) || *s == '_' || *s == '.' || *s == '$' || *s == '[' ||
                   *s == ']' || *s == '*')
                s++;
            t->kind = T_IDENT;
            if ((size_t)(s - start) == 2 && strncasecmp(start, "in", 2) == 0) {
                t->kind = T_OP;
                if (*s == '~') {
                    s++;
                    t->text = strdup("in~");
                } else {
                    t->text = strdup("in");
                }
            } else {
                t->text = strndup(start, (size_t)(s - start));
            }
        } else if (isdigit((unsigned char)*s)) {
            start = s;
            while (isdigit((unsigned char)*s))
                s++;
            t->text = strndup(start, (size_t)(s - start));
            t->kind = T_NUM;
        } else if (*s == '|' || *s == '(' || *s == ')' || *s == ',' ||
                   (*s == '=' && s[1] != '~' && s[1] != '=')) {
            t->kind = *s == '|'   ? T_PIPE
                      : *s == '(' ? T_LP
                      : *s == ')' ? T_RP
                      : *s == ',' ? T_COMMA
                                  : T_EQ;
            t->text = strndup(s, 1);
            s++;
        } else if ((s[0] == '=' && s[1] == '~') || (s[0] == '=' && s[1] == '=') ||
                   (s[0] == '!' && s[1] == '=') || (s[0] == '!' && s[1] == '~')) {
            t->kind = T_OP;
            t->text = strndup(s, 2);
            s += 2;
        } else if (s[0] == '!' && strncasecmp(s + 1, "in", 2) == 0) {
            t->kind = T_OP;
            s += 3;
            if (*s == '~') {
                t->text = strdup("!in~");
                s++;
            } else {
                t->text = strdup("!in");
            }
        } else {
            snprintf(q->err, sizeof(q->err), "unexpected character '%c'", *s);
            t->text = strdup("");
            return -1;
        }
        if (t->text == NULL) {
            snprintf(q->err, sizeof(q->err), "out of memory");
            return -1;
        }
    }
    if (tok_push(q) == NULL) {
        snprintf(q->err, sizeof(q->err), "query too long");
        return -1;
    }
    q->n--;
    q->t[q->n].kind = T_END;
    q->t[q->n].text = strdup("");
    return q->t[q->n].text ? 0 : -1;
}

/* A row of the resources table is a stored resource's body: the columns
 * Resource Graph adds (and the empty kind and location it shows for a
 * resource without them) are worked out from the body when a query asks
 * for them, and the others are the body's own values, shared, not copied
 * (a query runs and is answered under the store mutex, and nothing in it
 * modifies them). Building an object per row would cost a bulk read of
 * thousands of resources more than answering it. */
enum col_source {
    COL_BODY,          /* the body's value */
    COL_BODY_OR_EMPTY, /* the body's value, "" when it has none */
    COL_TYPE,          /* lowercased */
    COL_TENANT,
    COL_GROUP, /* lowercased resource group of the id, "" outside one */
    COL_SUBSCRIPTION,
    COL_EMPTY,
};

static const struct column {
    const char *name;
    enum col_source source;
} row_columns[] = {
    {"id", COL_BODY},
    {"name", COL_BODY},
    {"type", COL_TYPE},
    {"tenantId", COL_TENANT},
    {"resourceGroup", COL_GROUP},
    {"subscriptionId", COL_SUBSCRIPTION},
    {"managedBy", COL_EMPTY},
    {"kind", COL_BODY_OR_EMPTY},
    {"location", COL_BODY_OR_EMPTY},
    {"sku", COL_BODY},
    {"plan", COL_BODY},
    {"properties", COL_BODY},
    {"tags", COL_BODY},
    {"identity", COL_BODY},
    {"zones", COL_BODY},
    {"extendedLocation", COL_BODY},
    {"systemData", COL_BODY},
};

#define NCOLUMNS (sizeof(row_columns) / sizeof(row_columns[0]))

/* The subscription segment of id: its start in *start and its length (0
 * when id is not under a subscription). */
static size_t subscription_of(const char *id, const char **start)
{
    if (id == NULL || strncasecmp(id, "/subscriptions/", 15) != 0) {
        *start = "";
        return 0;
    }
    *start = id + 15;
    return strcspn(id + 15, "/");
}

/* Column c of the row of body when Resource Graph makes it up: its text
 * in out and 1; 0 when it is the body's own value. */
static int added_column(const json_t *body, const struct column *c, char *out, size_t cap)
{
    const char *id = NULL, *p;
    size_t n;
    out[0] = '\0';
    switch (c->source) {
    case COL_BODY:
        return 0;
    case COL_BODY_OR_EMPTY:
        return json_object_get(body, c->name) == NULL;
    case COL_TYPE:
        p = json_string_value(json_object_get(body, "type"));
        al_lower(out, p ? p : "", cap);
        break;
    case COL_TENANT:
        snprintf(out, cap, "72f988bf-86f1-41af-91ab-2d7cd011db47");
        break;
    case COL_GROUP:
        id = json_string_value(json_object_get(body, "id"));
        if (id && (p = strcasestr(id, "/resourceGroups/")) != NULL) {
            char rg[256];
            n = strcspn(p + 16, "/");
            snprintf(rg, sizeof(rg), "%.*s", (int)(n < 200 ? n : 200), p + 16);
            al_lower(out, rg, cap);
        }
        break;
    case COL_SUBSCRIPTION:
        n = subscription_of(json_string_value(json_object_get(body, "id")), &p);
        snprintf(out, cap, "%.*s", (int)(n < 100 ? n : 100), p);
        break;
    case COL_EMPTY:
        break;
    }
    return 1;
}

static const struct column *column_of(const char *path, size_t len)
{
    for (size_t i = 0; i < NCOLUMNS; i++)
        if (strncmp(row_columns[i].name, path, len) == 0 && row_columns[i].name[len] == '\0')
            return &row_columns[i];
    return NULL;
}

/* The value at path in the row of body (borrowed; NULL when there is none
 * or it is null), or, with *added set, the text of a column Resource Graph
 * makes up, in text. */
/* The columns mv-expand adds live in an expanded row (a shallow copy of
 * the stored body) under this key, which no ARM body has: they are never
 * mistaken for the body's own members, which are not columns. */
#define MV_COLUMNS "\001mv-expand"

static json_t *row_get(const json_t *body, const char *path, char *text, size_t cap, int *added)
{
    size_t len = strcspn(path, ".");
    const struct column *c = column_of(path, len);
    json_t *v;
    *added = 0;
    if (c == NULL) {
        char name[128];
        json_t *mv = json_object_get(body, MV_COLUMNS);
        if (mv == NULL || len >= sizeof(name))
            return NULL;
        memcpy(name, path, len);
        name[len] = '\0';
        v = json_object_get(mv, name);
        return path[len] && v ? al_jpath(v, path + len + 1) : v;
    }
    if (added_column(body, c, text, cap)) {
        *added = path[len] == '\0'; /* a string has no members */
        return NULL;
    }
    v = json_object_get(body, c->name);
    return path[len] && v ? al_jpath(v, path + len + 1) : v;
}

static void value_text(const json_t *v, char *out, size_t cap)
{
    if (json_is_string(v))
        snprintf(out, cap, "%s", json_string_value(v));
    else if (json_is_true(v))
        snprintf(out, cap, "true");
    else if (json_is_false(v))
        snprintf(out, cap, "false");
    else if (json_is_integer(v))
        snprintf(out, cap, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        snprintf(out, cap, "%g", json_real_value(v));
    else
        out[0] = '\0';
}

/* The text a condition or an order compares for path in the row of body. */
static void row_text(const json_t *body, const char *path, char *out, size_t cap)
{
    int added;
    json_t *v = row_get(body, path, out, cap, &added);
    if (!added)
        value_text(v, out, cap);
}

struct ev {
    struct query *q;
    size_t pos;
    json_t *row;
    int bad;
};

static int expr(struct ev *e);

static int cond(struct ev *e)
{
    struct tok *f = &e->q->t[e->pos], *op;
    char have[1024];
    int neg, ci, hit = 0;

    if (f->kind == T_LP) {
        int v;
        e->pos++;
        v = expr(e);
        if (e->q->t[e->pos].kind != T_RP) {
            e->bad = 1;
            return 0;
        }
        e->pos++;
        return v;
    }
    op = &e->q->t[e->pos + 1];
    if (f->kind != T_IDENT || op->kind != T_OP) {
        e->bad = 1;
        return 0;
    }
    e->pos += 2;
    row_text(e->row, f->text, have, sizeof(have));
    neg = op->text[0] == '!';
    ci = strchr(op->text, '~') != NULL;
    if (strstr(op->text, "in")) {
        if (e->q->t[e->pos].kind != T_LP) {
            e->bad = 1;
            return 0;
        }
        e->pos++;
        {
            struct in_set *set = in_set_of(e->q, e->pos, ci);
            size_t one;
            if (set == NULL) {
                e->bad = 1;
                return 0;
            }
            hit = strmap_get(&set->values, have, &one);
            e->pos = set->end;
        }
    } else {
        struct tok *v = &e->q->t[e->pos];
        if (v->kind != T_STR && v->kind != T_NUM &&
            !(v->kind == T_IDENT &&
              (strcmp(v->text, "true") == 0 || strcmp(v->text, "false") == 0))) {
            e->bad = 1;
            return 0;
        }
        hit = ci ? strcasecmp(have, v->text) == 0 : strcmp(have, v->text) == 0;
        e->pos++;
    }
    return neg ? !hit : hit;
}

static int term(struct ev *e)
{
    int v = cond(e);
    while (!e->bad && e->q->t[e->pos].kind == T_IDENT &&
           strcasecmp(e->q->t[e->pos].text, "and") == 0) {
        int r;
        e->pos++;
        r = cond(e);
        v = v && r;
    }
    return v;
}

static int expr(struct ev *e)
{
    int v = term(e);
    while (!e->bad && e->q->t[e->pos].kind == T_IDENT &&
           strcasecmp(e->q->t[e->pos].text, "or") == 0) {
        int r;
        e->pos++;
        r = term(e);
        v = v || r;
    }
    return v;
}

static const char *order_key;
static int order_desc;

static int cmp_rows(const void *a, const void *b)
{
    char x[1024], y[1024];
    int r;
    row_text(*(json_t *const *)a, order_key, x, sizeof(x));
    row_text(*(json_t *const *)b, order_key, y, sizeof(y));
    r = strcasecmp(x, y);
    return order_desc ? -r : r;
}

static void bad_query(struct al_ctx *c, const char *why)
{
    al_json_reply(
        c, 400,
        json_pack("{s:{s:s, s:s, s:[{s:s, s:s}, {s:s, s:s}]}}", "error", "code", "BadRequest",
                  "message",
                  "Please provide below info when asking for support: timestamp, "
                  "correlationId.",
                  "details", "code", "InvalidQuery", "message",
                  "Query is invalid. Please refer to the documentation for the Azure Resource "
                  "Graph service and fix the query before retrying.",
                  "code", "ParserFailure", "message", why));
}

static const char *json_type_name(const json_t *v)
{
    if (json_is_string(v))
        return "string";
    if (json_is_integer(v))
        return "integer";
    if (json_is_real(v))
        return "real";
    if (json_is_boolean(v))
        return "boolean";
    return "object";
}

/* Resource Graph's user quota (Microsoft's "Guidance for throttled
 * requests"): QUOTA queries per QUOTA_WINDOW_S window per principal,
 * reported on every answer (x-ms-user-quota-remaining, -resets-after) and
 * enforced with 429 past it, whatever --throttle says (it is not one of
 * ARM's buckets). --graph-quota off counts and reports nothing: benchmarks
 * measuring amlsec's own scaling only. */
static int quota(struct al_ctx *c)
{
    char key[256];
    struct al_bucket *b = NULL;
    double now = al_mono_s();
    if (c->al->opts.graph_quota_off)
        return 0;
    snprintf(key, sizeof(key), "graph|%s", c->principal[0] ? c->principal : "anonymous");
    for (size_t i = 0; i < c->al->nbuckets; i++)
        if (strcmp(c->al->buckets[i].key, key) == 0)
            b = &c->al->buckets[i];
    if (b == NULL) {
        if (c->al->nbuckets == c->al->capbuckets) {
            size_t n = c->al->capbuckets ? c->al->capbuckets * 2 : 16;
            struct al_bucket *nb = realloc(c->al->buckets, n * sizeof(*nb));
            if (nb == NULL)
                return 0;
            c->al->buckets = nb;
            c->al->capbuckets = n;
        }
        b = &c->al->buckets[c->al->nbuckets++];
        snprintf(b->key, sizeof(b->key), "%s", key);
        b->tokens = QUOTA;
        b->last = now;
    }
    if (now - b->last >= QUOTA_WINDOW_S) {
        b->tokens = QUOTA;
        b->last = now;
    }
    {
        int left = (int)(QUOTA_WINDOW_S - (now - b->last) + 0.999);
        if (left < 0)
            left = 0;
        if (b->tokens < 1) {
            al_set_header(c->res, "x-ms-user-quota-remaining", "0");
            al_set_header(c->res, "x-ms-user-quota-resets-after", "00:00:%02d", left);
            al_set_header(c->res, "Retry-After", "%d", left ? left : 1);
            c->al->log_graph_throttled++;
            al_error(c, 429, "RateLimiting",
                     "Please provide below info when asking for support: "
                     "the user quota of Resource Graph queries was "
                     "exceeded.");
            return -1;
        }
        b->tokens -= 1;
        al_set_header(c->res, "x-ms-user-quota-remaining", "%d", (int)b->tokens);
        al_set_header(c->res, "x-ms-user-quota-resets-after", "00:00:%02d", left);
    }
    return 0;
}

enum graph_table { TABLE_NONE, TABLE_RESOURCES, TABLE_CONTAINERS, TABLE_AUTHZ, TABLE_POLICY };

static enum graph_table table_named(const char *name)
{
    static const char *const names[] = {"resources", "resourcecontainers", "authorizationresources",
                                        "policyresources"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcasecmp(name, names[i]) == 0)
            return (enum graph_table)(i + 1);
    return TABLE_NONE;
}

/* The child types Azure's `resources` table holds among those armlocal
 * serves (Microsoft's "Azure Resource Graph table and resource type
 * reference"); computes, keys, datastores, DNS zone groups and the other
 * children are in no table. */
static const char *const child_resources[] = {
    "Microsoft.MachineLearningServices/workspaces/onlineEndpoints",
    "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments",
    "Microsoft.MachineLearningServices/workspaces/batchEndpoints",
    "Microsoft.MachineLearningServices/workspaces/batchEndpoints/deployments",
    "Microsoft.Network/privateDnsZones/virtualNetworkLinks",
};

/* The table a stored resource of type shows in, as Azure keeps them:
 * `resources` has top-level tracked resources and a few child types
 * (online endpoints, DNS zone links: child_resources), no other child
 * resources (computes, keys), no extension resources (role assignments,
 * locks, policy assignments, diagnostic settings), not Defender plans
 * (securityresources). */
static enum graph_table table_of_type(const char *type)
{
    static const char *const authz[] = {"Microsoft.Authorization/roleAssignments",
                                        "Microsoft.Authorization/roleDefinitions"};
    static const char *const policy[] = {"Microsoft.Authorization/policyAssignments",
                                         "Microsoft.Authorization/policyExemptions",
                                         "Microsoft.Authorization/policyDefinitions"};
    const char *slash = type ? strchr(type, '/') : NULL;
    if (slash == NULL)
        return TABLE_NONE;
    for (size_t i = 0; i < 3; i++) {
        if (i < 2 && strcasecmp(type, authz[i]) == 0)
            return TABLE_AUTHZ;
        if (strcasecmp(type, policy[i]) == 0)
            return TABLE_POLICY;
    }
    if (strcasecmp(type, "Microsoft.Resources/resourceGroups") == 0)
        return TABLE_CONTAINERS;
    for (size_t i = 0; i < sizeof(child_resources) / sizeof(child_resources[0]); i++)
        if (strcasecmp(type, child_resources[i]) == 0)
            return TABLE_RESOURCES;
    if (strncasecmp(type, "Microsoft.Security/", 19) == 0)
        return TABLE_NONE;
    if (strchr(slash + 1, '/') != NULL || strncasecmp(type, "Microsoft.Resources/", 20) == 0 ||
        strncasecmp(type, "Microsoft.Authorization/", 24) == 0 ||
        strcasecmp(type, "Microsoft.Insights/diagnosticSettings") == 0)
        return TABLE_NONE;
    return TABLE_RESOURCES;
}

static int in_table(const json_t *row, enum graph_table table)
{
    return table_of_type(json_string_value(json_object_get(row, "type"))) == table;
}

/* What Resource Graph sees: the store, or the snapshot taken through
 * /_armlocal/graph/snapshot while one is set (Resource Graph lags behind
 * ARM: it may still show resources as they were, or not yet show them). */
static json_t *graph_resources(struct armlocal *al)
{
    return al->graph_snapshot ? al->graph_snapshot : al_resources(al);
}

static int in_scope(const json_t *row, const json_t *subs)
{
    size_t si;
    json_t *s;
    const char *sub;
    size_t len;
    if (!json_is_array(subs) || json_array_size(subs) == 0)
        return 1;
    len = subscription_of(json_string_value(json_object_get(row, "id")), &sub);
    len = len < 100 ? len : 100; /* as the subscriptionId column has it */
    json_array_foreach(subs, si, s)
    {
        if (json_is_string(s) && json_string_length(s) == len &&
            strncasecmp(json_string_value(s), sub, len) == 0)
            return 1;
    }
    return 0;
}

/* The row of a stored body as Resource Graph holds it: Azure's Graph has
 * the resource provider's whole `properties` (Microsoft's Resource Graph
 * overview: they come from a GET on the latest api-version), so a
 * workspace's, vault's, storage account's or registry's row carries its
 * privateEndpointConnections (and a workspace's privateLinkCount) as its
 * GET does (al_render). The stored body has none: such a row is a shallow
 * copy with its own properties; every other row is the body itself. A new
 * reference, NULL when out of memory. */
static json_t *row_of_body(struct al_ctx *c, json_t *body)
{
    static const char *const parents[] = {
        "Microsoft.MachineLearningServices/workspaces", "Microsoft.KeyVault/vaults",
        "Microsoft.Storage/storageAccounts", "Microsoft.ContainerRegistry/registries"};
    const char *type = json_string_value(json_object_get(body, "type"));
    const char *id = json_string_value(json_object_get(body, "id"));
    json_t *props = json_object_get(body, "properties"), *row, *list, *v;
    char prefix[2048];
    const char *k;
    size_t n, i;
    for (i = 0; i < 4 && !(type && strcasecmp(type, parents[i]) == 0); i++)
        ;
    if (i == 4 || id == NULL || !json_is_object(props))
        return json_incref(body);
    row = json_copy(body);
    props = json_copy(props);
    list = json_array();
    if (row == NULL || props == NULL || list == NULL) {
        json_decref(row);
        json_decref(props);
        json_decref(list);
        return NULL;
    }
    al_lower(prefix, id, sizeof(prefix));
    n = strlen(prefix);
    json_object_foreach(al_scope_keys(c->al->pec_parents, prefix), k, v)
    {
        if (strncmp(k, prefix, n) == 0 && strncmp(k + n, "/privateendpointconnections/", 28) == 0 &&
            strchr(k + n + 28, '/') == NULL && al_rec_get(c->al, k))
            json_array_append(list, json_object_get(al_rec_get(c->al, k), "body"));
    }
    if (i == 0)
        json_object_set_new(props, "privateLinkCount",
                            json_integer((json_int_t)json_array_size(list)));
    json_object_set_new(props, "privateEndpointConnections", list);
    json_object_set_new(row, "properties", props);
    return row;
}

/* Appends the row of a stored body to rows. */
static int append_row(struct al_ctx *c, json_t *rows, json_t *body)
{
    json_t *row = row_of_body(c, body);
    return row ? json_array_append_new(rows, row) : -1;
}

/* Appends the row of the stored resource id (when visible and in scope)
 * unless an earlier value of the list named it already. */
static int add_indexed(struct al_ctx *c, const char *id, const json_t *subs, enum graph_table table,
                       struct strmap *seen, json_t *rows)
{
    json_t *rec, *row;
    char key[2048];
    size_t one;
    al_lower(key, id, sizeof(key));
    rec = json_object_get(graph_resources(c->al), key);
    if (rec == NULL || json_is_true(json_object_get(rec, "hidden")) || strmap_get(seen, id, &one))
        return 0;
    if (strmap_put(seen, id, 1) < 0)
        return -1;
    row = json_object_get(rec, "body");
    return in_scope(row, subs) && in_table(row, table) ? append_row(c, rows, row) : 0;
}

/* Appends the rows of the keys gathered from the store's indexes (visible,
 * in scope and in the table) to rows, in store order, and releases ks;
 * rows, or NULL (rows released) when rc or an append failed. */
static json_t *rows_of_keys(struct al_ctx *c, struct al_keys *ks, int rc, const json_t *subs,
                            enum graph_table table, json_t *rows)
{
    al_keys_sort(ks);
    for (size_t i = 0; i < ks->n && rc == 0; i++) {
        json_t *rec = json_object_get(al_resources(c->al), ks->v[i].key);
        json_t *row = json_object_get(rec, "body");
        if (rec == NULL || json_is_true(json_object_get(rec, "hidden")) || !in_scope(row, subs) ||
            !in_table(row, table))
            continue;
        rc = append_row(c, rows, row);
    }
    al_keys_release(ks);
    if (rc < 0) {
        json_decref(rows);
        return NULL;
    }
    return rows;
}

/* One indexable condition of a query's first `where`: field (id, type,
 * resourceGroup or subscriptionId) compared with =~, ==, in~ or in to the
 * string tokens from..to (every other token). */
struct index_cond {
    const char *field;
    size_t from, to;
};

static size_t tree_size(struct armlocal *al, const char *anc, const char *type)
{
    const char *t;
    json_t *keys;
    size_t n = 0;
    if (type)
        return json_object_size(al_tree_keys(al, anc, type));
    json_object_foreach(al_tree_keys(al, anc, NULL), t, keys) n += json_object_size(keys);
    return n;
}

/* The tree index entries (ancestor, type) that hold every resource the
 * condition can match: anc_out[i] (lowercase) and type_out[i] (NULL: any
 * type), at most cap; their count, 0 when the condition cannot use the
 * index (a resource group without the request's subscriptions), or
 * (size_t)-1 when there are more than cap. *cost: the keys they hold. */
static size_t cond_entries(struct al_ctx *c, struct query *q, const struct index_cond *ic,
                           const json_t *subs, char (*anc_out)[2048], const char **type_out,
                           size_t cap, size_t *cost)
{
    size_t n = 0;
    *cost = 0;
    for (size_t i = ic->from; i < ic->to; i += 2) {
        const char *v = q->t[i].text;
        size_t si;
        json_t *s;
        if (strcmp(ic->field, "type") == 0) {
            if (n == cap)
                return (size_t)-1;
            anc_out[n][0] = '\0';
            type_out[n] = v; /* lowered below */
            n++;
        } else if (strcmp(ic->field, "subscriptionId") == 0) {
            if (n == cap)
                return (size_t)-1;
            snprintf(anc_out[n], sizeof(anc_out[n]), "/subscriptions/%s", v);
            type_out[n++] = NULL;
        } else if (strcmp(ic->field, "resourceGroup") == 0) {
            if (!json_is_array(subs) || json_array_size(subs) == 0)
                return 0;
            json_array_foreach(subs, si, s)
            {
                if (!json_is_string(s))
                    return 0;
                if (n == cap)
                    return (size_t)-1;
                snprintf(anc_out[n], sizeof(anc_out[n]), "/subscriptions/%s/resourcegroups/%s",
                         json_string_value(s), v);
                type_out[n++] = NULL;
            }
        } else {
            return 0;
        }
    }
    for (size_t i = 0; i < n; i++) {
        char low[512];
        al_lower(anc_out[i], anc_out[i], sizeof(anc_out[i]));
        if (type_out[i]) {
            al_lower(low, type_out[i], sizeof(low));
            *cost += tree_size(c->al, "", low);
        } else {
            *cost += tree_size(c->al, anc_out[i], NULL);
        }
    }
    return n;
}

/* The conditions of the first `where` that the store's indexes answer: its
 * top-level conjuncts of the form FIELD (=~|==|in~|in) value(s). 0 when
 * the condition has a top-level `or` (no conjunct bounds the answer) or
 * nothing indexable; else their count in out (at most cap). */
static size_t index_conds(struct query *q, struct index_cond *out, size_t cap)
{
    static const char *const fields[] = {"id", "type", "resourceGroup", "subscriptionId"};
    const struct tok *t = q->t;
    size_t pos = 3, n = 0;
    if (q->n < 6 || t[1].kind != T_PIPE || t[2].kind != T_IDENT ||
        strcasecmp(t[2].text, "where") != 0)
        return 0;
    for (;;) {
        int depth = 0;
        /* one conjunct: pos .. the next top-level and/or/|/end */
        if (t[pos].kind == T_IDENT && t[pos + 1].kind == T_OP && n < cap) {
            const char *op = t[pos + 1].text;
            size_t f;
            for (f = 0; f < sizeof(fields) / sizeof(fields[0]); f++)
                if (strcmp(t[pos].text, fields[f]) == 0)
                    break;
            if (f < sizeof(fields) / sizeof(fields[0])) {
                if ((strcmp(op, "=~") == 0 || strcmp(op, "==") == 0) && t[pos + 2].kind == T_STR) {
                    out[n].field = fields[f];
                    out[n].from = pos + 2;
                    out[n++].to = pos + 3;
                } else if ((strcmp(op, "in~") == 0 || strcmp(op, "in") == 0) &&
                           t[pos + 2].kind == T_LP) {
                    size_t e = pos + 3;
                    while (t[e].kind == T_STR && t[e + 1].kind == T_COMMA)
                        e += 2;
                    if (t[e].kind == T_STR && t[e + 1].kind == T_RP) {
                        out[n].field = fields[f];
                        out[n].from = pos + 3;
                        out[n++].to = e + 1;
                    }
                }
            }
        }
        for (; t[pos].kind != T_END; pos++) {
            if (t[pos].kind == T_LP)
                depth++;
            else if (t[pos].kind == T_RP)
                depth--;
            else if (depth == 0 &&
                     (t[pos].kind == T_PIPE ||
                      (t[pos].kind == T_IDENT && (strcasecmp(t[pos].text, "and") == 0 ||
                                                  strcasecmp(t[pos].text, "or") == 0))))
                break;
        }
        if (t[pos].kind == T_IDENT && strcasecmp(t[pos].text, "or") == 0)
            return 0;
        if (t[pos].kind != T_IDENT)
            return n;
        pos++; /* past `and` */
    }
}

/* The rows a query starts from. When its first `where` holds, at its top
 * level and joined by `and`, a condition on id, type, resourceGroup or
 * subscriptionId (=~, ==, in~ or in), the store's indexes give the
 * candidates: the listed ids (in list order), or the tree index's keys of
 * those types, groups or subscriptions (in store order), whichever are
 * fewest. Otherwise every stored resource becomes a row, and a page of a
 * query of a large store costs as much as the whole store. The condition
 * is still evaluated on the candidates afterwards, so the answer is the
 * one the full scan gives (case-sensitive operators included). NULL when
 * memory ran out. */
static json_t *collect_rows(struct al_ctx *c, struct query *q, const json_t *subs,
                            enum graph_table table)
{
    json_t *rows = json_array(), *rec;
    const struct tok *t = q->t;
    const char *k;
    struct index_cond conds[8];
    size_t nconds;

    if (rows == NULL)
        return NULL;
    nconds = index_conds(q, conds, sizeof(conds) / sizeof(conds[0]));
    if (nconds > 0) {
        size_t best = (size_t)-1, best_cost = (size_t)-1;
        char(*anc)[2048] = calloc(64, sizeof(*anc));
        const char *types[64];
        int ok = 0;
        if (anc == NULL) {
            json_decref(rows);
            return NULL;
        }
        for (size_t i = 0; i < nconds; i++) {
            size_t cost, ne;
            if (strcmp(conds[i].field, "id") == 0)
                cost = (conds[i].to - conds[i].from + 1) / 2;
            else if (c->al->graph_snapshot != NULL) /* the tree index is of the store */
                continue;
            else if ((ne = cond_entries(c, q, &conds[i], subs, anc, types, 64, &cost)) == 0 ||
                     ne == (size_t)-1)
                continue;
            if (cost < best_cost) {
                best_cost = cost;
                best = i;
            }
        }
        if (best != (size_t)-1 && strcmp(conds[best].field, "id") == 0) {
            struct strmap seen;
            ok = 1;
            strmap_init(&seen, true);
            for (size_t i = conds[best].from; i < conds[best].to && ok > 0; i += 2)
                if (add_indexed(c, t[i].text, subs, table, &seen, rows) < 0)
                    ok = -1;
            strmap_release(&seen);
        } else if (best != (size_t)-1) {
            struct al_keys ks = {0};
            size_t cost, ne = cond_entries(c, q, &conds[best], subs, anc, types, 64, &cost);
            int rc = 0;
            for (size_t i = 0; i < ne && rc == 0; i++) {
                char low[512];
                if (types[i])
                    al_lower(low, types[i], sizeof(low));
                rc = al_keys_add_index(c->al, &ks, anc[i], types[i] ? low : NULL);
            }
            free(anc);
            return rows_of_keys(c, &ks, rc, subs, table, rows);
        }
        free(anc);
        if (ok < 0) {
            json_decref(rows);
            return NULL;
        }
        if (ok)
            return rows;
    }
    if (table == TABLE_AUTHZ && c->al->graph_snapshot == NULL) {
        /* where [type =~ '...' and] properties.principalId (=~ 'p' | in~ (...)),
         * standing alone: the role assignments of those principals, from
         * the store's index of them (amlsec's bulk read of the workspace
         * identities' grants) */
        size_t pos = 3;
        if (q->n >= 8 && t[1].kind == T_PIPE && t[2].kind == T_IDENT &&
            strcasecmp(t[2].text, "where") == 0 && t[3].kind == T_IDENT &&
            strcmp(t[3].text, "type") == 0 && t[4].kind == T_OP && t[5].kind == T_STR &&
            t[6].kind == T_IDENT && strcmp(t[6].text, "and") == 0)
            pos = 7;
        if (q->n >= pos + 3 && t[1].kind == T_PIPE && t[2].kind == T_IDENT &&
            strcasecmp(t[2].text, "where") == 0 && t[pos].kind == T_IDENT &&
            strcmp(t[pos].text, "properties.principalId") == 0 && t[pos + 1].kind == T_OP) {
            const char *op = t[pos + 1].text;
            struct al_keys ks = {0};
            size_t from = 0, to = 0;
            int rc = 0;
            char low[256];
            if ((strcmp(op, "=~") == 0 || strcmp(op, "==") == 0) && t[pos + 2].kind == T_STR &&
                (t[pos + 3].kind == T_PIPE || t[pos + 3].kind == T_END)) {
                from = pos + 2;
                to = pos + 3;
            } else if ((strcmp(op, "in~") == 0 || strcmp(op, "in") == 0) &&
                       t[pos + 2].kind == T_LP) {
                struct in_set *set = in_set_of(q, pos + 3, strcmp(op, "in~") == 0);
                if (set && (t[set->end].kind == T_PIPE || t[set->end].kind == T_END)) {
                    from = pos + 3;
                    to = set->end - 1;
                }
            }
            if (to > from) {
                for (size_t i = from; i < to && rc == 0; i += 2) {
                    al_lower(low, t[i].text, sizeof(low));
                    rc = al_keys_add_principal(c->al, &ks, low);
                }
                return rows_of_keys(c, &ks, rc, subs, table, rows);
            }
        }
    }
    if (table != TABLE_RESOURCES && c->al->graph_snapshot == NULL) {
        /* the small tables: their types' resources from the store's tree
         * index, in store order, rather than a scan of every resource */
        static const char *const types[] = {"microsoft.resources/resourcegroups",
                                            "microsoft.authorization/roleassignments",
                                            "microsoft.authorization/roledefinitions",
                                            "microsoft.authorization/policyassignments",
                                            "microsoft.authorization/policyexemptions",
                                            "microsoft.authorization/policydefinitions"};
        struct al_keys ks = {0};
        int rc = 0;
        for (size_t i = 0; i < sizeof(types) / sizeof(types[0]) && rc == 0; i++)
            if (table_of_type(types[i]) == table)
                rc = al_keys_add_index(c->al, &ks, "", types[i]);
        return rows_of_keys(c, &ks, rc, subs, table, rows);
    }
    json_object_foreach(graph_resources(c->al), k, rec)
    {
        json_t *row = json_object_get(rec, "body");
        c->al->work++;
        if (json_is_true(json_object_get(rec, "hidden")) || !in_scope(row, subs) ||
            !in_table(row, table))
            continue;
        if (append_row(c, rows, row) < 0) {
            json_decref(rows);
            return NULL;
        }
    }
    return rows;
}

/* Column j of a projection ([name, path] pairs), or of a row when there
 * is none (every column, in Resource Graph's order). */
static size_t column_count(const json_t *proj)
{
    return proj ? json_array_size(proj) : NCOLUMNS;
}

static const char *column_name(const json_t *proj, size_t j)
{
    return proj ? json_string_value(json_array_get(json_array_get(proj, j), 0))
                : row_columns[j].name;
}

static const char *column_path(const json_t *proj, size_t j)
{
    return proj ? json_string_value(json_array_get(json_array_get(proj, j), 1))
                : row_columns[j].name;
}

/* A row as `project` makes it: the columns in order, a column named twice
 * holding the last value. */
static json_t *projected(json_t *row, const json_t *proj)
{
    json_t *o = json_object();
    for (size_t j = 0; o && j < column_count(proj); j++) {
        char text[512];
        int added;
        json_t *v = row_get(row, column_path(proj, j), text, sizeof(text), &added);
        json_object_set_new(o, column_name(proj, j),
                            added ? json_string(text)
                            : v   ? json_incref(v)
                                  : json_null());
    }
    return o;
}

/* The `data` of a table answer for rows[first, first + count). */
static json_t *table_of(json_t *rows, size_t first, size_t count, const json_t *proj)
{
    json_t *cols = json_array(), *trows = json_array(), *col;
    json_t *sample = count ? projected(json_array_get(rows, first), proj) : NULL;
    size_t i;

    /* without a projection (and a row), the columns are unknown */
    for (i = 0; (proj || sample) && i < column_count(proj); i++) {
        json_t *v = json_object_get(sample, column_name(proj, i));
        json_array_append_new(
            cols, json_pack("{s:s, s:s}", "name", column_name(proj, i), "type", json_type_name(v)));
    }
    json_decref(sample);
    for (i = first; i < first + count; i++) {
        json_t *row = projected(json_array_get(rows, i), proj), *r = json_array();
        size_t j;
        json_array_foreach(cols, j, col)
        {
            json_t *v = json_object_get(row, json_string_value(json_object_get(col, "name")));
            json_array_append_new(r, v ? json_incref(v) : json_null());
        }
        json_decref(row);
        json_array_append_new(trows, r);
    }
    return json_pack("{s:o, s:o}", "columns", cols, "rows", trows);
}

/* The objectArray `data` of rows[first, first + count), written as
 * projected() rows would be, without building them. */
static int write_rows(struct buf *b, json_t *rows, size_t first, size_t count, const json_t *proj)
{
    size_t ncol = column_count(proj), *src = calloc(ncol, sizeof(*src));
    const size_t skip_col = (size_t)-1;
    int rc = 0;

    if (src == NULL)
        return AMLSEC_ENOMEM;
    /* src[j]: the column whose value goes where column j is named first;
     * skip_col for a later mention of a name */
    for (size_t j = 0; j < ncol; j++) {
        src[j] = j;
        for (size_t k = 0; k < j; k++)
            if (src[k] != skip_col && strcmp(column_name(proj, k), column_name(proj, j)) == 0) {
                src[k] = j;
                src[j] = skip_col;
                break;
            }
    }
    rc = buf_addch(b, '[');
    for (size_t i = first; rc == 0 && i < first + count; i++) {
        json_t *row = json_array_get(rows, i);
        int sep = 0;
        if (i > first)
            rc = buf_addch(b, ',');
        rc = rc < 0 ? rc : buf_addch(b, '{');
        for (size_t j = 0; rc == 0 && j < ncol; j++) {
            const char *name = column_name(proj, j);
            char text[512];
            int added;
            json_t *v;
            if (src[j] == skip_col)
                continue;
            v = row_get(row, column_path(proj, src[j]), text, sizeof(text), &added);
            if ((sep && buf_addch(b, ',') < 0) || jsonw_string(b, name, strlen(name)) < 0 ||
                buf_addch(b, ':') < 0 ||
                (added ? jsonw_string(b, text, strlen(text))
                 : v   ? jsonw_value(b, v)
                       : buf_adds(b, "null")) < 0)
                rc = AMLSEC_ENOMEM;
            sep = 1;
        }
        rc = rc < 0 ? rc : buf_addch(b, '}');
    }
    rc = rc < 0 ? rc : buf_addch(b, ']');
    free(src);
    return rc;
}

/* `mv-expand NAME = PATH [, NAME = PATH]...` at token pos: each row becomes
 * a row per element of the arrays at the paths, expanded in parallel (the
 * longest decides; a shorter one gives null), a property bag a row per
 * member ({key: value}); null (or nothing at the path) gives one row with
 * null, an empty array or bag none (Microsoft's "mv-expand operator").
 * The new columns are added to the projection a query without `project`
 * answers with (*names). Returns the expanded rows (new reference; rows
 * released) and the token position after the operator, or NULL with why.
 * The subset: no kind=, with_itemindex=, to typeof() or limit, and NAME
 * must be a new column. */
static json_t *mv_expand(struct query *q, size_t *pos, json_t *rows, json_t *names,
                         const char **why)
{
    size_t nexp = 0, i;
    json_t *out = json_array(), *row;
    const char *nm[16], *path[16];
    *why = "expected NAME = PATH after 'mv-expand' (kind=, with_itemindex, to typeof and "
           "limit are not supported)";
    for (;;) {
        struct tok *n = &q->t[*pos], *eq = &q->t[*pos + 1], *pt = &q->t[*pos + 2];
        if (n->kind != T_IDENT || eq->kind != T_EQ || pt->kind != T_IDENT || nexp == 16 ||
            strchr(n->text, '.') || strchr(n->text, '[') || strcmp(n->text, "kind") == 0 ||
            strcmp(n->text, "with_itemindex") == 0)
            goto bad;
        if (column_of(n->text, strlen(n->text)) != NULL) {
            *why = "mv-expand: NAME must be a new column, not one of the table's";
            goto bad;
        }
        for (i = 0; i < nexp; i++)
            if (strcmp(nm[i], n->text) == 0) {
                *why = "mv-expand: a column is named twice";
                goto bad;
            }
        nm[nexp] = n->text;
        path[nexp++] = pt->text;
        *pos += 3;
        if (q->t[*pos].kind != T_COMMA)
            break;
        (*pos)++;
    }
    if (q->t[*pos].kind != T_PIPE && q->t[*pos].kind != T_END)
        goto bad;
    for (i = 0; i < nexp; i++)
        json_array_append_new(names, json_string(nm[i]));
    json_array_foreach(rows, i, row)
    {
        const json_t *v[16];
        size_t most = 0;
        for (size_t j = 0; j < nexp; j++) {
            char text[512];
            int added;
            size_t k;
            v[j] = row_get(row, path[j], text, sizeof(text), &added);
            k = json_is_array(v[j])    ? json_array_size(v[j])
                : json_is_object(v[j]) ? json_object_size(v[j])
                                       : 1; /* null, nothing, or a scalar */
            most = k > most ? k : most;
        }
        for (size_t k = 0; k < most; k++) {
            json_t *x = json_copy(row), *mv = json_object_get(row, MV_COLUMNS);
            mv = mv ? json_copy(mv) : json_object();
            for (size_t j = 0; x && mv && j < nexp; j++) {
                json_t *e = NULL;
                if (json_is_array(v[j])) {
                    e = json_incref(json_array_get(v[j], k));
                } else if (json_is_object(v[j])) {
                    const char *key;
                    json_t *val;
                    size_t at = 0;
                    json_object_foreach((json_t *)v[j], key, val)
                    {
                        if (at++ == k) {
                            e = json_pack("{s:O}", key, val);
                            break;
                        }
                    }
                } else if (k == 0 && v[j] != NULL) {
                    e = json_incref((json_t *)v[j]);
                }
                json_object_set_new(mv, nm[j], e ? e : json_null());
            }
            if (x == NULL || mv == NULL || json_object_set_new(x, MV_COLUMNS, mv) < 0 ||
                json_array_append_new(out, x) < 0) {
                json_decref(out);
                json_decref(rows);
                *why = "out of memory";
                return NULL;
            }
        }
    }
    json_decref(rows);
    return out;
bad:
    json_decref(out);
    json_decref(rows);
    return NULL;
}

/* What identifies a query's answer: its text and its subscriptions
 * (malloc'd; NULL when memory ran out). */
static char *cache_key(const char *text, const json_t *subs)
{
    char *scope = subs ? jsonw_dumps(subs, JSON_COMPACT) : NULL;
    struct buf b;
    buf_init(&b, 0);
    if (buf_adds(&b, text) < 0 || buf_addch(&b, '\n') < 0 || (scope && buf_adds(&b, scope) < 0)) {
        free(scope);
        buf_release(&b);
        return NULL;
    }
    free(scope);
    return buf_detach(&b, NULL);
}

void al_graph_handle(struct al_ctx *c)
{
    json_t *req, *subs, *opts, *rows = NULL, *data;
    struct buf *body;
    struct query *q = NULL;
    const char *text, *fmt;
    struct ev e;
    json_t *proj = NULL;     /* array of [column, path] */
    json_t *expanded = NULL; /* the columns mv-expand added */
    char *ckey = NULL;
    json_int_t top = 100, skip = 0, limit = -1;
    size_t i, pos, total, first, count;
    int has_id, wrc;
    enum graph_table table;

    if (strcasecmp(c->req->method, "POST") != 0) {
        al_error(c, 405, "MethodNotAllowed", "Resource Graph queries are POSTed.");
        return;
    }
    if (strcmp(c->api_version, "2024-04-01") != 0 && strcmp(c->api_version, "2022-10-01") != 0 &&
        strcmp(c->api_version, "2021-03-01") != 0) {
        al_error(c, 400, "NoRegisteredProviderFound",
                 "No registered resource provider found for API version '%s' for type "
                 "'resources'. The supported api-versions are '2021-03-01, 2022-10-01, "
                 "2024-04-01'.",
                 c->api_version);
        return;
    }
    req = json_loadb(c->req->body ? c->req->body : "", c->req->body_len, 0, NULL);
    text = json_string_value(json_object_get(req, "query"));
    if (!json_is_object(req) || text == NULL) {
        json_decref(req);
        al_error(c, 400, "InvalidRequestContent",
                 "The request must be a JSON object with a "
                 "\"query\".");
        return;
    }
    if (quota(c) < 0) {
        json_decref(req);
        return;
    }
    opts = json_object_get(req, "options");
    subs = json_object_get(req, "subscriptions");
    if (json_is_integer(json_object_get(opts, "$top")))
        top = json_integer_value(json_object_get(opts, "$top"));
    if (top < 1 || top > 1000) {
        json_decref(req);
        bad_query(c, "$top must be within 1..1000");
        return;
    }
    if (json_is_integer(json_object_get(opts, "$skip")))
        skip = json_integer_value(json_object_get(opts, "$skip"));
    if (json_is_string(json_object_get(opts, "$skipToken"))) {
        const char *tokv = json_string_value(json_object_get(opts, "$skipToken"));
        char *end;
        if (strncmp(tokv, "armlocal-", 9) != 0 || (skip = strtoll(tokv + 9, &end, 10)) < 0 ||
            *end != '\0') {
            json_decref(req);
            bad_query(c, "$skipToken is not valid");
            return;
        }
    }
    fmt = json_string_value(json_object_get(opts, "resultFormat"));
    /* A later page of the last query answered, the store unchanged since:
     * its answer is reused (a page is one request, and evaluating the whole
     * query again for each of an answer's pages would cost the answer times
     * its pages) */
    ckey = cache_key(text, subs);
    for (i = 0; skip > 0 && ckey && i < sizeof(c->al->graph_cache) / sizeof(c->al->graph_cache[0]);
         i++) {
        const struct al_graph_answer *ce = &c->al->graph_cache[i];
        if (ce->key && strcmp(ckey, ce->key) == 0 && ce->generation == c->al->generation &&
            ce->snapshot == c->al->graph_snapshot) {
            rows = json_incref(ce->rows);
            proj = json_incref(ce->proj);
            goto answer;
        }
    }
    q = calloc(1, sizeof(*q));
    if (q == NULL || lex(q, text) < 0) {
        bad_query(c, q ? q->err : "out of memory");
        goto out;
    }
    if (q->n == 0 || q->t[0].kind != T_IDENT || (table = table_named(q->t[0].text)) == TABLE_NONE) {
        bad_query(c, "the query must start with a table: resources, resourcecontainers, "
                     "authorizationresources or policyresources");
        goto out;
    }
    rows = collect_rows(c, q, subs, table);
    if (rows == NULL) {
        bad_query(c, "out of memory");
        goto out;
    }
    pos = 1;
    while (q->t[pos].kind == T_PIPE) {
        struct tok *op = &q->t[pos + 1];
        pos += 2;
        if (op->kind != T_IDENT) {
            bad_query(c, "expected an operator after '|'");
            goto out;
        }
        if (strcasecmp(op->text, "where") == 0) {
            json_t *kept = json_array(), *row;
            size_t after = pos;
            json_array_foreach(rows, i, row)
            {
                memset(&e, 0, sizeof(e));
                e.q = q;
                e.pos = pos;
                e.row = row;
                if (expr(&e))
                    json_array_append(kept, row);
                after = e.pos;
                if (e.bad)
                    break;
            }
            if (json_array_size(rows) == 0) {
                /* still parse the condition to report errors */
                json_t *empty = json_object();
                memset(&e, 0, sizeof(e));
                e.q = q;
                e.pos = pos;
                e.row = empty;
                expr(&e);
                after = e.pos;
                json_decref(empty);
            }
            json_decref(rows);
            rows = kept;
            if (e.bad) {
                bad_query(c, "unsupported or malformed 'where' condition");
                goto out;
            }
            pos = after;
        } else if (strcasecmp(op->text, "project") == 0) {
            json_decref(proj);
            proj = json_array();
            for (;;) {
                struct tok *a = &q->t[pos];
                char col[512];
                const char *path;
                if (a->kind != T_IDENT) {
                    bad_query(c, "expected a column in 'project'");
                    goto out;
                }
                path = a->text;
                snprintf(col, sizeof(col), "%s", a->text);
                if (q->t[pos + 1].kind == T_EQ && q->t[pos + 2].kind == T_IDENT) {
                    path = q->t[pos + 2].text;
                    pos += 2;
                } else {
                    for (char *d = col; *d; d++)
                        if (*d == '.')
                            *d = '_';
                }
                json_array_append_new(proj, json_pack("[s,s]", col, path));
                pos++;
                if (q->t[pos].kind != T_COMMA)
                    break;
                pos++;
            }
        } else if (strcasecmp(op->text, "order") == 0 || strcasecmp(op->text, "sort") == 0) {
            if (q->t[pos].kind != T_IDENT || strcasecmp(q->t[pos].text, "by") != 0 ||
                q->t[pos + 1].kind != T_IDENT) {
                bad_query(c, "expected 'order by COLUMN'");
                goto out;
            }
            order_key = q->t[pos + 1].text;
            order_desc = 1; /* KQL's default */
            pos += 2;
            if (q->t[pos].kind == T_IDENT && (strcasecmp(q->t[pos].text, "asc") == 0 ||
                                              strcasecmp(q->t[pos].text, "desc") == 0)) {
                order_desc = strcasecmp(q->t[pos].text, "desc") == 0;
                pos++;
            }
            {
                size_t n = json_array_size(rows);
                json_t **arr = calloc(n ? n : 1, sizeof(*arr));
                json_t *sorted = json_array();
                for (i = 0; arr && i < n; i++)
                    arr[i] = json_array_get(rows, i);
                if (arr) {
                    qsort(arr, n, sizeof(*arr), cmp_rows);
                    for (i = 0; i < n; i++)
                        json_array_append(sorted, arr[i]);
                }
                free(arr);
                json_decref(rows);
                rows = sorted;
            }
        } else if (strcmp(op->text, "mv-expand") == 0) {
            const char *why;
            if (proj != NULL) {
                bad_query(c, "mv-expand after project is not supported");
                goto out;
            }
            if (expanded == NULL)
                expanded = json_array();
            rows = expanded ? mv_expand(q, &pos, rows, expanded, &why) : NULL;
            if (rows == NULL) {
                bad_query(c, expanded ? why : "out of memory");
                goto out;
            }
        } else if (strcasecmp(op->text, "limit") == 0 || strcasecmp(op->text, "take") == 0) {
            if (q->t[pos].kind != T_NUM) {
                bad_query(c, "expected a number after 'limit'");
                goto out;
            }
            limit = strtoll(q->t[pos].text, NULL, 10);
            pos++;
        } else {
            bad_query(c, "unsupported operator (supported: where, project, order by, limit, "
                         "mv-expand)");
            goto out;
        }
    }
    if (q->t[pos].kind != T_END) {
        bad_query(c, "unexpected text after the query");
        goto out;
    }
    if (proj == NULL && json_array_size(expanded) > 0) {
        /* every column, the expanded ones last */
        proj = json_array();
        for (i = 0; proj && i < NCOLUMNS; i++)
            json_array_append_new(proj,
                                  json_pack("[s,s]", row_columns[i].name, row_columns[i].name));
        for (i = 0; proj && i < json_array_size(expanded); i++) {
            const char *n = json_string_value(json_array_get(expanded, i));
            json_array_append_new(proj, json_pack("[s,s]", n, n));
        }
    }
    if (limit >= 0)
        while ((json_int_t)json_array_size(rows) > limit)
            json_array_remove(rows, json_array_size(rows) - 1);
    if (ckey) { /* kept for the next pages, in place of the oldest answer */
        size_t n = sizeof(c->al->graph_cache) / sizeof(c->al->graph_cache[0]);
        struct al_graph_answer *ce = &c->al->graph_cache[c->al->graph_cache_next++ % n];
        free(ce->key);
        json_decref(ce->rows);
        json_decref(ce->proj);
        ce->key = ckey;
        ckey = NULL;
        ce->rows = json_incref(rows);
        ce->proj = json_incref(proj);
        ce->generation = c->al->generation;
        ce->snapshot = c->al->graph_snapshot;
    }
answer:
    total = json_array_size(rows);
    first = (size_t)skip < total ? (size_t)skip : total;
    count = total - first < (size_t)top ? total - first : (size_t)top;
    has_id = proj == NULL;
    for (i = 0; proj && i < json_array_size(proj); i++)
        if (strcmp(json_string_value(json_array_get(json_array_get(proj, i), 0)), "id") == 0)
            has_id = 1;
    data = fmt && strcasecmp(fmt, "table") == 0 ? table_of(rows, first, count, proj) : NULL;
    if (fmt && strcasecmp(fmt, "table") == 0 && data == NULL) {
        al_error(c, 500, "InternalServerError", "Out of memory.");
        goto out;
    }
    /* The answer is written straight into the reply: a 1000-row page is
     * most of the work of a bulk read, and building a projected object
     * per row first only to serialise it would double it. */
    body = &c->res->body;
    buf_reset(body);
    c->res->status = 200;
    wrc = buf_addf(body,
                   "{\"totalRecords\":%zu,\"count\":%zu,\"resultTruncated\":\"%s\","
                   "\"facets\":[]",
                   total, count, first + count < total && !has_id ? "true" : "false");
    if (wrc == 0 && first + count < total && has_id)
        wrc = buf_addf(body, ",\"$skipToken\":\"armlocal-%zu\"", first + count);
    if (wrc == 0)
        wrc = buf_adds(body, ",\"data\":");
    if (wrc == 0 && data)
        wrc = jsonw_value(body, data);
    else if (wrc == 0)
        wrc = write_rows(body, rows, first, count, proj);
    if (wrc == 0)
        wrc = buf_addch(body, '}');
    json_decref(data);
    if (wrc < 0) {
        al_error(c, 500, "InternalServerError", "Out of memory.");
        goto out;
    }
    al_set_header(c->res, "Content-Type", "application/json; charset=utf-8");
    c->al->log_graph_rows += (long)count;
out:
    free(ckey);
    json_decref(expanded);
    json_decref(req);
    json_decref(rows);
    json_decref(proj);
    if (q)
        query_release(q);
    free(q);
}
