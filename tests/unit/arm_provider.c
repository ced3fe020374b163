/* The ARM provider and Resource Graph against a fake ARM: bulk reads in
 * ceil(N/1000) queries, paging with $skipToken, quota headers, lag
 * confirmation by GET, fallback when Resource Graph is denied, kinds it
 * does not carry, fresh re-reads, writes, listing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "providers/arm/arm_provider.h"
#include "providers/arm/fake_transport.h"
#include "providers/arm/graph.h"
#include "util/error.h"
#include "util/jsonw.h"

#define SUB "00000000-0000-0000-0000-00000000000a"
#define RGID "/subscriptions/" SUB "/resourceGroups/rg"

static const struct arm_kind_info kinds[] = {
    {"Microsoft.KeyVault/vaults", "2025-05-01", LRO_DEFAULT, LRO_NONE, LRO_NONE, 1},
    {"Microsoft.Authorization/roleAssignments", "2022-04-01", LRO_NONE, LRO_NONE, LRO_NONE, 0},
    {"Microsoft.Network/privateEndpoints", "2025-03-01", LRO_AZURE_ASYNC_OPERATION, LRO_NONE,
     LRO_LOCATION, 1},
    {"Microsoft.Authorization/roleDefinitions", "2022-04-01", LRO_NONE, LRO_NONE, LRO_NONE,
     KIND_GRAPH_AUTHZ},
    {"Microsoft.Resources/resourceGroups", "2021-04-01", LRO_NONE, LRO_NONE, LRO_LOCATION, 0},
    {"Microsoft.KeyVault/vaults/keys", "2025-05-01", LRO_NONE, LRO_NONE, LRO_NONE, 0},
};

static const struct arm_kind_info *lookup(const char *type, void *payload)
{
    (void)payload;
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (strcasecmp(kinds[i].type, type) == 0)
            return &kinds[i];
    return NULL;
}

struct fake_arm {
    int graph_status;    /* answer Resource Graph with this (0 = serve) */
    int authz_status;    /* answer its authorizationresources queries with this (0 = serve) */
    const char *missing; /* substring of ids Resource Graph "lags" on */
    const char *gone;    /* substring of ids that do not exist at all */
    unsigned graph_calls, gets, page_size;
    int quota_zero_once;
    size_t max_ids;         /* refuse longer id lists with 400 (0 = no limit) */
    const char *list_error; /* answer resource group lists with 404 and this code */
    unsigned lists;         /* resource group list requests */
    struct manual_clock *clock;
    int64_t second_page_at;
    struct fake_transport *fake; /* to count the requests sent when the group is answered */
    size_t sent_when_group_answered;
    int group_gone; /* the group's GET answers 404 (Resource Graph may still list what was in it) */
    /* Resource Graph's user quota as the local cloud keeps it: 15 queries
     * per 5 s window from the window's first query, resets-after in whole
     * seconds rounded up, 429 past it */
    int quota_window;
    int64_t win_start;
    int win_tokens, win_started;
    unsigned throttled;
    int keys_list_status; /* answer a vault's keys list with this (0 = list keys a and b) */
    unsigned key_lists;
};

static json_t *resource(const char *id)
{
    const char *name = strrchr(id, '/') + 1;
    /* a whole number beyond int64 in every answer (written by jsonw_dumps) */
    return json_pack("{s:s, s:s, s:s, s:s, s:{s:s, s:o}}", "id", id, "name", name, "type",
                     "Microsoft.KeyVault/vaults", "location", "westeurope", "properties",
                     "provisioningState", "Succeeded", "maxBytes",
                     jsonw_big("18446744073709551616", 20));
}

static int64_t handler(struct http_exchange *x, void *payload)
{
    struct fake_arm *fa = payload;
    if (strstr(x->url, "Microsoft.ResourceGraph/resources")) {
        json_t *req = json_loads(x->body, 0, NULL), *opts = json_object_get(req, "options");
        const char *q = json_string_value(json_object_get(req, "query"));
        const char *tok = json_string_value(json_object_get(opts, "$skipToken"));
        json_t *data = json_array(), *doc;
        char *s, qrem[16] = "", qreset[16] = "";
        fa->graph_calls++;
        if (fa->quota_window) {
            int64_t now = fa->clock->now_ms, left;
            if (!fa->win_started || now - fa->win_start >= 5000) {
                fa->win_started = 1;
                fa->win_start = now;
                fa->win_tokens = 15;
            }
            left = (5000 - (now - fa->win_start) + 999) / 1000;
            snprintf(qreset, sizeof(qreset), "00:00:%02d", (int)left);
            if (fa->win_tokens == 0) {
                char ra[8];
                fa->throttled++;
                snprintf(ra, sizeof(ra), "%d", left ? (int)left : 1);
                fake_respond(x, 429,
                             "{\"error\":{\"code\":\"RateLimiting\",\"message\":\"quota\"}}");
                fake_respond_header(x, "x-ms-user-quota-remaining", "0");
                fake_respond_header(x, "x-ms-user-quota-resets-after", qreset);
                fake_respond_header(x, "Retry-After", ra);
                json_decref(data);
                json_decref(req);
                return 20;
            }
            snprintf(qrem, sizeof(qrem), "%d", --fa->win_tokens);
        }
        if (fa->graph_status || (fa->authz_status && q && strstr(q, "authorizationresources"))) {
            fake_respond(x, fa->graph_status ? fa->graph_status : fa->authz_status,
                         "{\"error\":{\"code\":\"AuthorizationFailed\",\"message\":\"no ARG\"}}");
            json_decref(data);
            json_decref(req);
            return 5;
        }
        assert_int_equal(json_integer_value(json_object_get(opts, "$top")), 1000);
        assert_string_equal(json_string_value(json_object_get(opts, "resultFormat")),
                            "objectArray");
        assert_non_null(strstr(q, "| project id,"));
        if (strstr(q, "id in~ (")) {
            /* one row per quoted id */
            const char *p = strstr(q, "in~ (") + 5;
            size_t quotes = 0;
            for (const char *c = q; *c; c++)
                quotes += *c == '\'';
            if (fa->max_ids && quotes / 2 > fa->max_ids) {
                fake_respond(x, 400,
                             "{\"error\":{\"code\":\"BadRequest\",\"message\":\"Please "
                             "provide below info\",\"details\":[{\"code\":\"InvalidQuery\","
                             "\"message\":\"Query is invalid\"}]}}");
                json_decref(data);
                json_decref(req);
                return 5;
            }
            while (*p == '\'') {
                const char *e = strchr(p + 1, '\'');
                char id[512];
                snprintf(id, sizeof(id), "%.*s", (int)(e - p - 1), p + 1);
                if (!(fa->missing && strstr(id, fa->missing)) &&
                    !(fa->gone && strstr(id, fa->gone))) {
                    json_t *r = resource(id);
                    json_object_set_new(r, "type", json_string("microsoft.keyvault/vaults"));
                    json_object_set_new(r, "tenantId", json_string("t"));
                    json_object_set_new(r, "subscriptionId", json_string(SUB));
                    json_object_set_new(r, "kind", json_null());
                    json_array_append_new(data, r);
                }
                p = e + 1;
                while (*p == ',' || *p == ' ')
                    p++;
            }
            doc = json_pack(
                "{s:I, s:I, s:s, s:o}", "totalRecords", (json_int_t)json_array_size(data), "count",
                (json_int_t)json_array_size(data), "resultTruncated", "false", "data", data);
        } else {
            /* a listing: two pages */
            int second = tok && strcmp(tok, "page-2") == 0;
            if (second && fa->clock)
                fa->second_page_at = fa->clock->now_ms;
            json_array_append_new(data,
                                  resource(second ? RGID "/providers/Microsoft.KeyVault/vaults/b"
                                                  : RGID "/providers/Microsoft.KeyVault/vaults/a"));
            doc = json_pack("{s:I, s:I, s:s, s:o}", "totalRecords", (json_int_t)2, "count",
                            (json_int_t)1, "resultTruncated", "false", "data", data);
            if (!second)
                json_object_set_new(doc, "$skipToken", json_string("page-2"));
        }
        s = jsonw_dumps(doc, JSON_COMPACT);
        fake_respond(x, 200, s);
        if (fa->quota_window) {
            fake_respond_header(x, "x-ms-user-quota-remaining", qrem);
            fake_respond_header(x, "x-ms-user-quota-resets-after", qreset);
        } else if (fa->quota_zero_once) {
            fa->quota_zero_once = 0;
            fake_respond_header(x, "x-ms-user-quota-remaining", "0");
            fake_respond_header(x, "x-ms-user-quota-resets-after", "00:00:03");
        } else {
            fake_respond_header(x, "x-ms-user-quota-remaining", "14");
        }
        free(s);
        json_decref(doc);
        json_decref(req);
        return 20;
    }
    if (strcmp(x->method, "GET") == 0 && strstr(x->url, "/resources?")) {
        /* generic ARM listing with nextLink */
        char body[256];
        fa->lists++;
        if (fa->list_error) {
            snprintf(body, sizeof(body), "{\"error\":{\"code\":\"%s\",\"message\":\"no\"}}",
                     fa->list_error);
            fake_respond(x, 404, body);
        } else if (strstr(x->url, "skiptoken=2"))
            fake_respond(x, 200, "{\"value\":[{\"id\":\"" RGID "/providers/X/y/2\"}]}");
        else
            fake_respond(x, 200,
                         "{\"value\":[{\"id\":\"" RGID
                         "/providers/X/y/1\"}],\"nextLink\":\"https://"
                         "management.azure.com" RGID "/resources?api-version=2021-04-01&"
                         "skiptoken=2\"}");
        return 5;
    }
    if (strcmp(x->method, "GET") == 0 && strstr(x->url, "/keys?")) {
        /* a vault's keys: a and b */
        char body[512];
        size_t len = strcspn(x->url + strlen("https://management.azure.com"), "?");
        fa->key_lists++;
        if (fa->keys_list_status) {
            fake_respond(x, fa->keys_list_status,
                         "{\"error\":{\"code\":\"AuthorizationFailed\",\"message\":\"no\"}}");
            return 5;
        }
        snprintf(body, sizeof(body), "{\"value\":[{\"id\":\"%.*s/a\"},{\"id\":\"%.*s/b\"}]}",
                 (int)len, x->url + strlen("https://management.azure.com"), (int)len,
                 x->url + strlen("https://management.azure.com"));
        fake_respond(x, 200, body);
        return 5;
    }
    if (strcmp(x->method, "GET") == 0 && strstr(x->url, "/op/1")) {
        fake_respond(x, 200, "{\"status\":\"Succeeded\"}");
        return 5;
    }
    if (strcmp(x->method, "GET") == 0) {
        char id[512];
        fa->gets++;
        snprintf(id, sizeof(id), "%.*s",
                 (int)(strcspn(x->url + strlen("https://management.azure.com"), "?")),
                 x->url + strlen("https://management.azure.com"));
        if (strcmp(id, RGID) == 0 && fa->fake)
            fa->sent_when_group_answered = fake_transport_count(fa->fake);
        if (strcmp(id, RGID) == 0 && fa->group_gone) {
            fake_respond(x, 404,
                         "{\"error\":{\"code\":\"ResourceGroupNotFound\",\"message\":\"no\"}}");
        } else if (fa->gone && strstr(id, fa->gone)) {
            fake_respond(x, 404, "{\"error\":{\"code\":\"ResourceNotFound\",\"message\":\"no\"}}");
        } else {
            json_t *r = resource(id);
            char *s = jsonw_dumps(r, JSON_COMPACT);
            fake_respond(x, 200, s);
            free(s);
            json_decref(r);
        }
        return 5;
    }
    if (strcmp(x->method, "PUT") == 0) {
        fake_respond(x, 201, x->body);
        fake_respond_header(x, "Azure-AsyncOperation", "https://management.azure.com/op/1");
        fake_respond_header(x, "Retry-After", "1");
        return 5;
    }
    if (strcmp(x->method, "DELETE") == 0) {
        fake_respond(x, 404, "{\"error\":{\"code\":\"ResourceNotFound\",\"message\":\"no\"}}");
        return 5;
    }
    fake_respond(x, 400, "{\"error\":{\"code\":\"Unexpected\",\"message\":\"?\"}}");
    return 5;
}

struct env {
    struct manual_clock clock;
    struct fake_arm fa;
    struct fake_transport *fake;
    struct arm_client *client;
    struct provider *p;
};

static void env_setup(struct env *e, int no_graph)
{
    struct arm_client_opts o = {0};
    struct arm_provider_opts po = {0};
    struct errbuf err = ERRBUF_INIT;
    memset(e, 0, sizeof(*e));
    manual_clock_init(&e->clock, 1700000000);
    e->fa.clock = &e->clock;
    assert_int_equal(fake_transport_new(&e->fake, handler, &e->fa, &e->clock), 0);
    o.cloud = arm_cloud_builtin("public");
    o.transport = fake_transport_base(e->fake);
    o.clock = &e->clock.clock;
    o.lro_poll_ms = 1000;
    o.parallelism = 10;
    assert_int_equal(arm_client_new(&e->client, &o, &err), 0);
    po.client = e->client;
    po.lookup = lookup;
    po.no_graph = no_graph;
    assert_int_equal(arm_provider_new(&e->p, &po, &err), 0);
}

static void env_teardown(struct env *e)
{
    provider_free(e->p);
    arm_client_free(e->client);
    transport_free(fake_transport_base(e->fake));
}

static char (*make_ids(size_t n))[160]
{
    char(*ids)[160] = calloc(n, sizeof(*ids));
    for (size_t i = 0; i < n; i++)
        snprintf(ids[i], sizeof(ids[i]), RGID "/providers/Microsoft.KeyVault/vaults/kv%05zu", i);
    return ids;
}

static void test_arm_provider__id_type(void **state)
{
    char t[256];
    (void)state;
    assert_int_equal(arm_id_type(t, sizeof(t), RGID "/providers/Microsoft.KeyVault/vaults/kv1"), 0);
    assert_string_equal(t, "Microsoft.KeyVault/vaults");
    assert_int_equal(
        arm_id_type(t, sizeof(t), RGID "/providers/Microsoft.KeyVault/vaults/kv1/keys/k1"), 0);
    assert_string_equal(t, "Microsoft.KeyVault/vaults/keys");
    assert_int_equal(arm_id_type(t, sizeof(t),
                                 RGID "/providers/Microsoft.KeyVault/vaults/kv1/providers/"
                                      "Microsoft.Authorization/roleAssignments/ra1"),
                     0);
    assert_string_equal(t, "Microsoft.Authorization/roleAssignments");
    /* ids without /providers/: a group's and a subscription's (a renamed
     * group's state id is read by id alone) */
    assert_int_equal(arm_id_type(t, sizeof(t), RGID), 0);
    assert_string_equal(t, "Microsoft.Resources/resourceGroups");
    assert_int_equal(arm_id_type(t, sizeof(t), "/subscriptions/s1"), 0);
    assert_string_equal(t, "Microsoft.Resources/subscriptions");
    assert_int_equal(arm_id_type(t, sizeof(t), RGID "/x"), AMLSEC_EPARSE);
    assert_int_equal(arm_id_type(t, sizeof(t), "/subscriptions/s1/resourceGroups/"), AMLSEC_EPARSE);
    assert_int_equal(arm_id_type(t, sizeof(t), "/subscriptions//resourceGroups/g"), AMLSEC_EPARSE);
    assert_int_equal(arm_id_type(t, sizeof(t), "/tenants/t1"), AMLSEC_EPARSE);
    assert_int_equal(arm_id_type(t, sizeof(t), RGID "/providers/Microsoft.KeyVault/vaults"),
                     AMLSEC_EPARSE);
}

static void test_arm_provider__bulk_read_in_ceil_n_over_1000_queries(void **state)
{
    struct env e;
    size_t n = 2500;
    char(*ids)[160] = make_ids(n);
    struct provider_ref *refs = calloc(n, sizeof(*refs));
    struct provider_result *res = calloc(n, sizeof(*res));
    struct errbuf err = ERRBUF_INIT;
    struct arm_provider_stats st;
    (void)state;
    env_setup(&e, 0);
    e.fa.missing = "kv00007"; /* Resource Graph lags on it: a GET finds it */
    e.fa.gone = "kv02222";    /* does not exist */
    for (size_t i = 0; i < n; i++)
        refs[i].id = ids[i];
    assert_int_equal(provider_read_many(e.p, refs, n, 0, res, &err), 0);
    assert_int_equal(e.fa.graph_calls, 3);
    assert_int_equal(e.fa.gets, 2);
    assert_int_equal(fake_transport_count(e.fake), 5);
    for (size_t i = 0; i < n; i++) {
        if (i == 2222) {
            assert_int_equal(res[i].rc, AMLSEC_ENOTFOUND);
            assert_string_equal(res[i].code, "ResourceNotFound");
            continue;
        }
        assert_int_equal(res[i].rc, 0);
        assert_string_equal(json_string_value(json_object_get(res[i].body, "id")), ids[i]);
        /* canonical type back, Resource Graph's extra columns gone */
        assert_string_equal(json_string_value(json_object_get(res[i].body, "type")),
                            "Microsoft.KeyVault/vaults");
        assert_null(json_object_get(res[i].body, "tenantId"));
        assert_null(json_object_get(res[i].body, "kind"));
        assert_int_equal(res[i].from_graph, i != 7);
    }
    /* scoped to the ids' subscription */
    assert_non_null(
        strstr(fake_transport_request(e.fake, 0)->body, "\"subscriptions\":[\"" SUB "\"]"));
    arm_provider_get_stats(e.p, &st);
    assert_int_equal(st.graph_queries, 3);
    assert_int_equal(st.graph_misses, 2);
    assert_int_equal(st.direct_gets, 2);
    provider_results_release(res, n);
    free(res);
    free(refs);
    free(ids);
    env_teardown(&e);
}

/* 100 ids Resource Graph misses in one resource group: one list of the
 * group instead of 100 GETs, unless the list says nothing about them. */
static void test_arm_provider__misses_confirmed_by_group_list(void **state)
{
    static const struct {
        const char *list_error;
        unsigned gets;
        int rc;
    } cases[] = {
        {NULL, 0, AMLSEC_ENOTFOUND},                    /* not listed: absent */
        {"ResourceGroupNotFound", 0, AMLSEC_ENOTFOUND}, /* no group: nothing in it */
        {"NotFound", 100, 0},                           /* no such list here: GET each */
    };
    size_t n = 150;
    char(*ids)[160] = make_ids(n);
    struct provider_ref *refs = calloc(n, sizeof(*refs));
    struct provider_result *res = calloc(n, sizeof(*res));
    (void)state;
    for (size_t i = 0; i < n; i++)
        refs[i].id = ids[i];
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        struct env e;
        struct errbuf err = ERRBUF_INIT;
        struct arm_provider_stats st;
        env_setup(&e, 0);
        e.fa.missing = "kv000"; /* kv00000 .. kv00099 */
        e.fa.list_error = cases[c].list_error;
        assert_int_equal(provider_read_many(e.p, refs, n, 0, res, &err), 0);
        assert_int_equal(e.fa.gets, cases[c].gets);
        assert_int_equal(e.fa.lists, cases[c].list_error ? 1 : 2); /* two pages */
        for (size_t i = 0; i < n; i++) {
            assert_int_equal(res[i].rc, i < 100 ? cases[c].rc : 0);
            if (i < 100 && cases[c].rc == AMLSEC_ENOTFOUND)
                assert_string_equal(res[i].code, "ResourceNotFound");
        }
        arm_provider_get_stats(e.p, &st);
        assert_int_equal(st.list_confirmed, cases[c].gets ? 0 : 100);
        provider_results_release(res, n);
        env_teardown(&e);
    }
    free(res);
    free(refs);
    free(ids);
}

/* What lies under a resource known not to exist is not read: 100 vaults
 * Resource Graph misses and the group's list confirms absent, each with a
 * role assignment (a kind Resource Graph does not carry): the assignments
 * on them are absent without a GET; those on the 50 vaults that exist are
 * read (one GET each, as before: 150 GETs). */
static void test_arm_provider__nothing_read_under_an_absent_resource(void **state)
{
    size_t n = 150;
    char(*ids)[160] = make_ids(n);
    char(*ras)[256] = calloc(n, sizeof(*ras));
    struct provider_ref *refs = calloc(2 * n, sizeof(*refs));
    struct provider_result *res = calloc(2 * n, sizeof(*res));
    struct env e;
    struct errbuf err = ERRBUF_INIT;
    struct arm_provider_stats st;
    (void)state;
    for (size_t i = 0; i < n; i++) {
        snprintf(ras[i], sizeof(ras[i]),
                 "%s/providers/Microsoft.Authorization/roleAssignments/ra%zu", ids[i], i);
        refs[i].id = ids[i];
        refs[n + i].id = ras[i];
    }
    env_setup(&e, 0);
    e.fa.missing = "kv000"; /* kv00000 .. kv00099 */
    assert_int_equal(provider_read_many(e.p, refs, 2 * n, 0, res, &err), 0);
    assert_int_equal(e.fa.gets, 50);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(res[i].rc, i < 100 ? AMLSEC_ENOTFOUND : 0);
        assert_int_equal(res[n + i].rc, i < 100 ? AMLSEC_ENOTFOUND : 0);
        if (i < 100)
            assert_string_equal(res[n + i].code, "ResourceNotFound");
    }
    arm_provider_get_stats(e.p, &st);
    assert_int_equal(st.parent_absent, 100);
    assert_int_equal(st.direct_gets, 50);
    provider_results_release(res, 2 * n);
    env_teardown(&e);
    free(res);
    free(refs);
    free(ras);
    free(ids);
}

static void test_arm_provider__graph_batch_halves_on_400(void **state)
{
    struct env e;
    size_t n = 900;
    char(*ids)[160] = make_ids(n);
    struct provider_ref *refs = calloc(n, sizeof(*refs));
    struct provider_result *res = calloc(n, sizeof(*res));
    struct errbuf err = ERRBUF_INIT;
    struct arm_provider_stats st;
    (void)state;
    env_setup(&e, 0);
    e.fa.max_ids = 300;
    for (size_t i = 0; i < n; i++)
        refs[i].id = ids[i];
    assert_int_equal(provider_read_many(e.p, refs, n, 0, res, &err), 0);
    /* 900 refused, 450 refused, then 225 accepted: 2 + 4 queries */
    assert_int_equal(e.fa.graph_calls, 6);
    assert_int_equal(e.fa.gets, 0);
    for (size_t i = 0; i < n; i++)
        assert_true(res[i].rc == 0 && res[i].from_graph);
    provider_results_release(res, n);
    /* the size that worked is remembered, and known to work: all four
     * queries at once, no lone first query */
    assert_int_equal(provider_read_many(e.p, refs, n, 0, res, &err), 0);
    assert_int_equal(e.fa.graph_calls, 10);
    provider_results_release(res, n);
    /* refused after all (the four queries of 250, 250, 250 and 150 ids
     * sent at once), it halves and probes again: 125 ids, one query alone,
     * then the other seven */
    e.fa.max_ids = 150;
    assert_int_equal(provider_read_many(e.p, refs, n, 0, res, &err), 0);
    assert_int_equal(e.fa.graph_calls, 10 + 4 + 8);
    for (size_t i = 0; i < n; i++)
        assert_true(res[i].rc == 0 && res[i].from_graph);
    arm_provider_get_stats(e.p, &st);
    assert_false(st.graph_disabled);
    provider_results_release(res, n);
    free(res);
    free(refs);
    free(ids);
    env_teardown(&e);
}

/* Resource Graph answers the resources table but refuses
 * authorizationresources: the role definitions are read with one GET
 * each (each was sent twice before, its first answer leaked). */
static void test_arm_provider__fallback_when_authz_denied(void **state)
{
    struct env e;
    char(*ids)[160] = make_ids(3);
    struct provider_ref refs[5];
    struct provider_result res[5];
    struct errbuf err = ERRBUF_INIT;
    struct arm_provider_stats st;
    (void)state;
    env_setup(&e, 0);
    e.fa.authz_status = 403;
    for (size_t i = 0; i < 3; i++)
        refs[i] = (struct provider_ref){ids[i], NULL, 0};
    refs[3] = (struct provider_ref){
        "/subscriptions/" SUB "/providers/Microsoft.Authorization/roleDefinitions/rd1", NULL, 0};
    refs[4] = (struct provider_ref){
        "/subscriptions/" SUB "/providers/Microsoft.Authorization/roleDefinitions/rd2", NULL, 0};
    assert_int_equal(provider_read_many(e.p, refs, 5, 0, res, &err), 0);
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(res[i].rc, 0);
        assert_int_equal(res[i].from_graph, i < 3);
    }
    assert_int_equal(e.fa.graph_calls, 2);
    assert_int_equal(e.fa.gets, 2);
    arm_provider_get_stats(e.p, &st);
    assert_int_equal(st.direct_gets, 2);
    assert_true(st.graph_disabled);
    provider_results_release(res, 5);
    env_teardown(&e);
    free(ids);
}

static void test_arm_provider__fallback_when_graph_denied(void **state)
{
    struct env e;
    size_t n = 30;
    char(*ids)[160] = make_ids(n);
    struct provider_ref refs[31];
    struct provider_result res[31];
    struct errbuf err = ERRBUF_INIT;
    struct arm_provider_stats st;
    (void)state;
    env_setup(&e, 0);
    e.fa.graph_status = 403;
    for (size_t i = 0; i < n; i++)
        refs[i] = (struct provider_ref){ids[i], NULL, 0};
    /* a kind Resource Graph does not carry, in the same batch */
    refs[30] = (struct provider_ref){RGID "/providers/Microsoft.KeyVault/vaults/kv1/providers/"
                                          "Microsoft.Authorization/roleAssignments/ra1",
                                     NULL, 0};
    assert_int_equal(provider_read_many(e.p, refs, 31, 0, res, &err), 0);
    for (size_t i = 0; i < 31; i++) {
        assert_int_equal(res[i].rc, 0);
        assert_false(res[i].from_graph);
    }
    assert_int_equal(e.fa.graph_calls, 1); /* 403: not retried */
    assert_int_equal(e.fa.gets, 31);
    /* each kind with its own api-version */
    assert_non_null(strstr(fake_transport_request(e.fake, 1)->url,
                           "roleAssignments/ra1?api-version=2022-04-01"));
    assert_non_null(
        strstr(fake_transport_request(e.fake, 2)->url, "kv00000?api-version=2025-05-01"));
    arm_provider_get_stats(e.p, &st);
    assert_true(st.graph_disabled);
    provider_results_release(res, 31);
    /* Resource Graph stays off for the rest of the run */
    assert_int_equal(provider_read_many(e.p, refs, 5, 0, res, &err), 0);
    assert_int_equal(e.fa.graph_calls, 1);
    assert_int_equal(e.fa.gets, 36);
    provider_results_release(res, 5);
    free(ids);
    env_teardown(&e);
}

static void test_arm_provider__fresh_reread_uses_get(void **state)
{
    struct env e;
    struct provider_ref ref = {RGID "/providers/Microsoft.KeyVault/vaults/kv9", NULL, 0};
    struct provider_result r;
    (void)state;
    env_setup(&e, 0);
    assert_int_equal(provider_reread(e.p, &ref, &r), 0);
    assert_int_equal(e.fa.graph_calls, 0);
    assert_int_equal(e.fa.gets, 1);
    assert_false(r.from_graph);
    assert_string_equal(
        jsonw_big_digits(json_object_get(json_object_get(r.body, "properties"), "maxBytes")),
        "18446744073709551616");
    assert_string_equal(fake_transport_request(e.fake, 0)->url,
                        "https://management.azure.com" RGID
                        "/providers/Microsoft.KeyVault/vaults/kv9?api-version=2025-05-01");
    provider_result_release(&r);
    env_teardown(&e);
}

/* A plan of what exists (its groups in the state: the caller says they are
 * expected to exist) sends the groups' GETs beside the Resource Graph query,
 * not one round trip before it: the query is out when the group is
 * answered. A group gone after all makes what Resource Graph still lists
 * under it absent. Without the flag the group is read first, and nothing
 * under a group that is gone is asked for. */
static void test_arm_provider__expected_groups_read_beside_graph(void **state)
{
    static const char *const vaults[] = {RGID "/providers/Microsoft.KeyVault/vaults/kv1",
                                         RGID "/providers/Microsoft.KeyVault/vaults/kv2",
                                         RGID "/providers/Microsoft.KeyVault/vaults/kv3"};
    struct provider_ref refs[4] = {
        {RGID, NULL, 0}, {vaults[0], NULL, 0}, {vaults[1], NULL, 0}, {vaults[2], NULL, 0}};
    struct provider_result res[4];
    struct errbuf err = ERRBUF_INIT;
    struct arm_provider_stats st;
    (void)state;
    for (int expected = 1; expected >= 0; expected--)
        for (int gone = 0; gone <= 1; gone++) {
            struct env e;
            env_setup(&e, 0);
            e.fa.fake = e.fake;
            e.fa.group_gone = gone;
            assert_int_equal(provider_read_many(e.p, refs, 4,
                                                expected ? PROVIDER_READ_GROUPS_EXPECTED : 0, res,
                                                &err),
                             0);
            arm_provider_get_stats(e.p, &st);
            print_message("expected %d, group gone %d: %zu requests, %zu sent when the group was "
                          "answered\n",
                          expected, gone, fake_transport_count(e.fake),
                          e.fa.sent_when_group_answered);
            if (expected) {
                /* the query went out with the group's GET */
                assert_int_equal(fake_transport_count(e.fake), 2);
                assert_int_equal(e.fa.sent_when_group_answered, 2);
                assert_int_equal(st.groups_beside, 1);
            } else {
                assert_int_equal(e.fa.sent_when_group_answered, 1);
                assert_int_equal(fake_transport_count(e.fake), gone ? 1 : 2);
                assert_int_equal(st.groups_beside, 0);
            }
            assert_int_equal(res[0].status, gone ? 404 : 200);
            for (size_t i = 1; i < 4; i++) {
                if (gone) {
                    assert_int_equal(res[i].rc, AMLSEC_ENOTFOUND);
                    assert_null(res[i].body);
                    assert_int_equal(res[i].from_graph, 0);
                } else {
                    assert_int_equal(res[i].rc, 0);
                    assert_int_equal(res[i].from_graph, 1);
                    assert_string_equal(json_string_value(json_object_get(res[i].body, "id")),
                                        vaults[i - 1]);
                }
            }
            for (size_t i = 0; i < 4; i++)
                json_decref(res[i].body);
            env_teardown(&e);
        }
}

/* A refresh of what the state holds (refs recorded, groups expected)
 * sends the reads of what Resource Graph does not hold beside its query,
 * from the start: a vault's two keys through one list of its keys, a lone
 * key with a GET. A key the caller has no record of is read after the
 * query, as before (its vault may turn out absent). A keys list that fails
 * leaves its keys to a GET each. */
static void test_arm_provider__recorded_reads_beside_graph(void **state)
{
    static const char *const ids[] = {
        RGID,
        RGID "/providers/Microsoft.KeyVault/vaults/kv1",
        RGID "/providers/Microsoft.KeyVault/vaults/kv1/keys/a",
        RGID "/providers/Microsoft.KeyVault/vaults/kv1/keys/b",
        RGID "/providers/Microsoft.KeyVault/vaults/kv2/keys/c",
        RGID "/providers/Microsoft.KeyVault/vaults/kv3/keys/new",
    };
    struct provider_ref refs[6];
    struct provider_result res[6];
    struct errbuf err = ERRBUF_INIT;
    struct arm_provider_stats st;
    (void)state;
    for (size_t i = 0; i < 6; i++)
        refs[i] = (struct provider_ref){ids[i], NULL, i < 5};
    for (int fails = 0; fails <= 1; fails++) {
        struct env e;
        env_setup(&e, 0);
        e.fa.keys_list_status = fails ? 403 : 0;
        assert_int_equal(provider_read_many(e.p, refs, 6, PROVIDER_READ_GROUPS_EXPECTED, res, &err),
                         0);
        arm_provider_get_stats(e.p, &st);
        print_message("keys list fails %d: %u beside, %u lists, %u GETs, %zu requests\n", fails,
                      st.reads_beside, e.fa.key_lists, st.direct_gets,
                      fake_transport_count(e.fake));
        /* kv1's keys list and kv2/keys/c's GET beside the query */
        assert_int_equal(st.reads_beside, 2);
        assert_int_equal(st.groups_beside, 1);
        assert_int_equal(e.fa.key_lists, 1);
        assert_int_equal(st.graph_queries, 1);
        /* the group, c and new (and a and b when the list failed) */
        assert_int_equal(st.direct_gets, fails ? 5 : 3);
        for (size_t i = 0; i < 6; i++) {
            assert_int_equal(res[i].rc, 0);
            assert_string_equal(json_string_value(json_object_get(res[i].body, "id")), ids[i]);
            json_decref(res[i].body);
        }
        env_teardown(&e);
    }
}

static void test_arm_provider__paging_and_quota(void **state)
{
    struct env e;
    struct graph g;
    struct errbuf err = ERRBUF_INIT;
    json_t *rows = json_array();
    (void)state;
    env_setup(&e, 0);
    e.fa.quota_zero_once = 1;
    graph_init(&g, e.client);
    assert_int_equal(graph_query(&g, "resources | project id, name", rows, &err), 0);
    assert_int_equal(json_array_size(rows), 2);
    assert_string_equal(jsonw_big_digits(json_object_get(
                            json_object_get(json_array_get(rows, 1), "properties"), "maxBytes")),
                        "18446744073709551616");
    assert_int_equal(g.queries, 2);
    assert_non_null(strstr(fake_transport_request(e.fake, 1)->body, "\"$skipToken\":\"page-2\""));
    assert_null(strstr(fake_transport_request(e.fake, 0)->body, "$skipToken"));
    /* the quota said 0 left, reset in 3 s: the second page waited */
    assert_true(e.fa.second_page_at >= 3000);
    json_decref(rows);
    env_teardown(&e);
}

/* Pages paced on the quota headers (against a fake keeping Resource
 * Graph's user quota as the local cloud does): 40 pages take the quota's
 * floor, (40 - 1) / 15 windows of 5 s, and little more (each window's wait
 * ends at the earliest reset its answers allow, not the rounding of the
 * last one; a fresh window sends as many as the last window held, not one),
 * with no 429; a second read through the same client (a new struct graph,
 * as each of a plan's or drift's reads is) knows the quota is spent. */
static void test_arm_provider__graph_paced_by_quota_headers(void **state)
{
    struct env e;
    struct graph g;
    struct errbuf err = ERRBUF_INIT;
    size_t n = 400, m = 200;
    char(*ids)[160] = make_ids(n + m);
    const char **p = calloc(n + m, sizeof(*p));
    json_t **out = calloc(n + m, sizeof(*out));
    long status = 0;
    int64_t t0, elapsed;
    (void)state;
    env_setup(&e, 0);
    e.fa.quota_window = 1;
    for (size_t i = 0; i < n + m; i++)
        p[i] = ids[i];
    graph_init(&g, e.client);
    g.batch = 10; /* 40 pages */
    t0 = e.clock.now_ms;
    assert_int_equal(graph_read_ids(&g, p, n, out, &status, &err), 0);
    elapsed = e.clock.now_ms - t0;
    print_message("40 pages: %lld ms (the quota's floor 10000 ms), %u refused\n",
                  (long long)elapsed, e.fa.throttled);
    assert_int_equal(g.queries, 40);
    assert_int_equal(e.fa.throttled, 0);
    assert_true(elapsed >= 10000);
    assert_true(elapsed <= 10000 + 300); /* 20 ms a page answered after a reset */
    for (size_t i = 0; i < n; i++) {
        assert_non_null(out[i]);
        json_decref(out[i]);
    }
    /* the next read: 20 pages, 5 left in this window */
    graph_init(&g, e.client);
    g.batch = 10;
    t0 = e.clock.now_ms;
    assert_int_equal(graph_read_ids(&g, p + n, m, out, &status, &err), 0);
    print_message("20 more pages through the same client: %lld ms, %u refused\n",
                  (long long)(e.clock.now_ms - t0), e.fa.throttled);
    assert_int_equal(g.queries, 20);
    assert_int_equal(e.fa.throttled, 0);
    for (size_t i = 0; i < m; i++)
        json_decref(out[i]);
    free(out);
    free(p);
    free(ids);
    env_teardown(&e);
}

/* A create, a delete, and a create of a kind the catalogue does not know. */
static void three_writes(struct provider_write w[3], const json_t *body)
{
    w[0] = (struct provider_write){.verb = PROVIDER_CREATE,
                                   .ref = {RGID "/providers/Microsoft.KeyVault/vaults/new", NULL},
                                   .body = body};
    w[1] = (struct provider_write){.verb = PROVIDER_DELETE,
                                   .ref = {RGID "/providers/Microsoft.KeyVault/vaults/old", NULL}};
    w[2] = (struct provider_write){.verb = PROVIDER_CREATE,
                                   .ref = {RGID "/providers/Unknown.Space/things/x", NULL},
                                   .body = body};
}

static void test_arm_provider__writes(void **state)
{
    struct env e;
    struct provider_write w[3];
    struct provider_result res[3];
    struct errbuf err = ERRBUF_INIT;
    json_t *body = json_pack("{s:s}", "location", "westeurope");
    (void)state;
    env_setup(&e, 0);
    three_writes(w, body);
    assert_int_equal(provider_write_many(e.p, w, 3, res, &err), 0);
    assert_int_equal(res[0].rc, 0);
    assert_string_equal(json_string_value(json_object_get(res[0].body, "name")), "new");
    assert_int_equal(fake_transport_count(e.fake), 4); /* PUT, DELETE, poll, final GET */
    assert_int_equal(res[1].rc, 0);
    assert_true(res[1].gone);
    assert_int_equal(res[2].rc, AMLSEC_EUSAGE);
    assert_non_null(strstr(res[2].err.msg, "unknown resource type 'Unknown.Space/things'"));
    assert_string_equal(fake_transport_request(e.fake, 0)->method, "PUT");
    assert_string_equal(fake_transport_request(e.fake, 0)->body, "{\"location\":\"westeurope\"}");
    provider_results_release(res, 3);
    json_decref(body);
    env_teardown(&e);
}

/* The same writes streamed: each comes back with its tag, the refused one
 * too; abandoning drops one that was started. */
static void test_arm_provider__streamed_writes(void **state)
{
    struct env e;
    struct provider_write w[3];
    struct provider_result res;
    struct errbuf err = ERRBUF_INIT;
    json_t *body = json_pack("{s:s}", "location", "westeurope");
    int tags[3] = {0, 1, 2}, seen[3] = {0};
    void *tag = NULL;
    (void)state;
    env_setup(&e, 0);
    three_writes(w, body);
    for (int i = 0; i < 3; i++)
        assert_int_equal(provider_write_start(e.p, &w[i], &tags[i], &err), 0);
    json_decref(body); /* copied by write_start */
    for (int k = 0; k < 3; k++) {
        assert_int_equal(provider_write_next(e.p, -1, &tag, &res, &err), 0);
        assert_non_null(tag);
        int i = *(int *)tag;
        seen[i]++;
        if (i == 0)
            assert_string_equal(json_string_value(json_object_get(res.body, "name")), "new");
        else if (i == 1)
            assert_true(res.gone);
        else
            assert_non_null(strstr(res.err.msg, "unknown resource type 'Unknown.Space/things'"));
        assert_int_equal(res.rc, i == 2 ? AMLSEC_EUSAGE : 0);
        provider_result_release(&res);
    }
    assert_true(seen[0] == 1 && seen[1] == 1 && seen[2] == 1);
    assert_int_equal(provider_write_next(e.p, 0, &tag, &res, &err), 0);
    assert_null(tag);
    assert_int_equal(provider_write_start(e.p, &w[1], &tags[1], &err), 0);
    provider_write_abandon(e.p);
    assert_int_equal(provider_write_next(e.p, 1000, &tag, &res, &err), 0);
    assert_null(tag);
    env_teardown(&e);
}

static void test_arm_provider__list(void **state)
{
    struct env e;
    struct errbuf err = ERRBUF_INIT;
    json_t *items;
    (void)state;
    env_setup(&e, 0);
    assert_int_equal(provider_list(e.p, RGID, "Microsoft.KeyVault/vaults", &items, &err), 0);
    assert_int_equal(json_array_size(items), 2);
    assert_non_null(strstr(fake_transport_request(e.fake, 0)->body,
                           "type =~ 'Microsoft.KeyVault/vaults' and resourceGroup =~ 'rg'"));
    json_decref(items);
    env_teardown(&e);

    env_setup(&e, 1); /* no Resource Graph: ARM's list with nextLink */
    assert_int_equal(provider_list(e.p, RGID, NULL, &items, &err), 0);
    assert_int_equal(json_array_size(items), 2);
    assert_int_equal(fake_transport_count(e.fake), 2);
    assert_string_equal(fake_transport_request(e.fake, 0)->url,
                        "https://management.azure.com" RGID "/resources?api-version=2021-04-01");
    json_decref(items);
    assert_true(provider_list(e.p, "/tenants/x", NULL, &items, &err) < 0);
    env_teardown(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arm_provider__id_type),
        cmocka_unit_test(test_arm_provider__bulk_read_in_ceil_n_over_1000_queries),
        cmocka_unit_test(test_arm_provider__graph_batch_halves_on_400),
        cmocka_unit_test(test_arm_provider__misses_confirmed_by_group_list),
        cmocka_unit_test(test_arm_provider__nothing_read_under_an_absent_resource),
        cmocka_unit_test(test_arm_provider__fallback_when_graph_denied),
        cmocka_unit_test(test_arm_provider__fallback_when_authz_denied),
        cmocka_unit_test(test_arm_provider__fresh_reread_uses_get),
        cmocka_unit_test(test_arm_provider__expected_groups_read_beside_graph),
        cmocka_unit_test(test_arm_provider__recorded_reads_beside_graph),
        cmocka_unit_test(test_arm_provider__paging_and_quota),
        cmocka_unit_test(test_arm_provider__graph_paced_by_quota_headers),
        cmocka_unit_test(test_arm_provider__writes),
        cmocka_unit_test(test_arm_provider__streamed_writes),
        cmocka_unit_test(test_arm_provider__list),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
