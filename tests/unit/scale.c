/* Linear at every size (issue 18): each structure that grows with the
 * configuration is looked up through an index. These tests count the work
 * a step does (comparisons, entries visited) at a size where a scan per
 * item would cost n^2, never wall time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/plan.h"
#include "engine/rules.h"
#include "parser/config.h"
#include "parser/diag.h"
#include "providers/arm/resolve.h"
#include "providers/armlocal/al_internal.h"
#include "providers/armlocal/armlocal.h"
#include "providers/arm/schema.h"
#include "state/journal.h"
#include "state/state.h"
#include "util/buf.h"
#include "util/error.h"

/* A directory holding main.amlsec with n workspace stacks (vault, storage,
 * registry, App Insights, workspace): six notes each. */
static char *write_stacks(size_t n)
{
    char *dir = strdup("/tmp/amlsec-unit-scale-XXXXXX"), path[128];
    FILE *f;
    assert_non_null(dir);
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/main.amlsec", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("settings {\n  subscription = \"00000000-0000-0000-0000-0000000000be\"\n"
          "  location = \"westeurope\"\n}\nresource_group \"g\" {\n  name = \"rg\"\n}\n",
          f);
    for (size_t i = 0; i < n; i++)
        fprintf(f,
                "key_vault \"v%zu\" {\n  resource_group = resource_group.g\n"
                "  name = \"kv-%05zu\"\n}\n"
                "storage_account \"s%zu\" {\n  resource_group = resource_group.g\n"
                "  name = \"st%05zu\"\n}\n"
                "container_registry \"c%zu\" {\n  resource_group = resource_group.g\n"
                "  name = \"acr%05zu\"\n  admin_user = true\n}\n"
                "app_insights \"a%zu\" {\n  resource_group = resource_group.g\n"
                "  name = \"appi-%05zu\"\n}\n"
                "workspace \"w%zu\" {\n  resource_group = resource_group.g\n"
                "  name = \"mlw-%05zu\"\n  key_vault = key_vault.v%zu\n"
                "  storage_account = storage_account.s%zu\n"
                "  container_registry = container_registry.c%zu\n"
                "  app_insights = app_insights.a%zu\n}\n",
                i, i, i, i, i, i, i, i, i, i, i, i, i, i);
    assert_int_equal(fclose(f), 0);
    return dir;
}

static void remove_dir(char *dir)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/main.amlsec", dir);
    unlink(path);
    rmdir(dir);
    free(dir);
}

static struct config *load(const char *dir, struct diag_list *diags)
{
    struct config_opts opts;
    struct config *cfg = NULL;
    struct errbuf err = ERRBUF_INIT;
    memset(&opts, 0, sizeof(opts));
    opts.path = dir;
    opts.kinds = schema_kind_names;
    opts.resolver = resolve_resolver();
    assert_int_equal(config_load(&cfg, &opts, diags, &err), 0);
    return cfg;
}

/* rules_run checks every finding against those already reported: through
 * the diag list's index, a finding costs a few comparisons (a scan of the
 * list cost n^2 / 2: 2.6 million here). */
static void test_scale__findings_deduplicated_through_an_index(void **state)
{
    const size_t stacks = 500;
    char *dir = write_stacks(stacks);
    struct diag_list diags;
    struct config *cfg;
    size_t n0;
    (void)state;
    diag_list_init(&diags);
    cfg = load(dir, &diags);
    n0 = diags.n;
    rules_run(cfg, &diags);
    assert_true(diags.n - n0 >= 5 * stacks);
    assert_true(diags.compared <= 4 * diags.n);
    /* a repeated finding is still found */
    {
        const struct diag *d = &diags.items[diags.n - 1];
        size_t before = diags.n;
        assert_true(diag_list_has(&diags, &d->loc, d->code, d->message));
        rules_run(cfg, &diags);
        assert_int_equal(diags.n, before);
    }
    config_free(cfg);
    diag_list_release(&diags);
    remove_dir(dir);
}

/* The sort is stable and orders by file, then start, at a size where
 * insertion sort's moves would be n^2 / 2. */
static void test_scale__diag_sort_stable(void **state)
{
    static struct src_file a = {.name = "a.amlsec"}, b = {.name = "b.amlsec"};
    struct diag_list l;
    const size_t n = 20000;
    (void)state;
    diag_list_init(&l);
    for (size_t i = 0; i < n; i++) {
        struct src_loc loc = {i % 2 ? &a : &b, (uint32_t)((n - i) / 4), 0};
        assert_non_null(diag_add(&l, DIAG_NOTE, &loc, "X", "%zu", i));
    }
    assert_true(diag_list_has(&l, &(struct src_loc){&a, (uint32_t)((n - 1) / 4), 0}, "X", "1"));
    diag_list_sort(&l);
    assert_null(l.index);
    for (size_t i = 1; i < n; i++) {
        const struct diag *p = &l.items[i - 1], *d = &l.items[i];
        int c = strcmp(p->loc.file->name, d->loc.file->name);
        assert_true(c < 0 || (c == 0 && p->loc.begin <= d->loc.begin));
        if (c == 0 && p->loc.begin == d->loc.begin) /* stable: insertion order kept */
            assert_true(strtoul(p->message, NULL, 10) < strtoul(d->message, NULL, 10));
    }
    assert_true(diag_list_has(&l, &(struct src_loc){&a, (uint32_t)((n - 1) / 4), 0}, "X", "1"));
    diag_list_release(&l);
}

/* plan_build attaches each finding to the change of the block holding it
 * (a binary search over the blocks, then the block's own changes) and
 * numbers the steps by dependency level, each step visited once: work in
 * the order of (findings + changes) log n, where a scan of every resource
 * and change per finding, and of every change per placed step, cost
 * findings x resources + changes^2 (about 9 million here). */
static void test_scale__plan_findings_and_order_linear(void **state)
{
    const size_t stacks = 600;
    char *dir = write_stacks(stacks);
    struct diag_list diags;
    struct config *cfg;
    struct plan *plan = NULL;
    struct plan_opts o;
    struct state st;
    struct errbuf err = ERRBUF_INIT;
    const struct plan_change *w = NULL, *s = NULL;
    size_t nfindings;
    (void)state;
    diag_list_init(&diags);
    cfg = load(dir, &diags);
    rules_run(cfg, &diags);
    assert_int_equal(state_init(&st, &err), 0);
    memset(&o, 0, sizeof(o));
    assert_int_equal(plan_build(&plan, cfg, &st, NULL, &o, &diags, &err), 0);
    nfindings = json_array_size(plan->findings);
    assert_true(nfindings >= 5 * stacks);
    assert_int_equal(plan->n, 5 * stacks + 1);
    assert_true(plan->work <= 20 * (nfindings + plan->n));
    /* the findings still land on their changes, and the order still puts
     * dependencies in earlier groups */
    for (size_t i = 0; i < plan->n; i++) {
        const struct plan_change *c = &plan->changes[i];
        assert_int_equal(c->step, (int)i + 1);
        for (size_t k = 0; k < c->ndeps; k++)
            assert_true(plan->changes[c->deps[k]].group < c->group);
        if (strcmp(c->address, "workspace.w599") == 0)
            w = c;
        if (strcmp(c->address, "storage_account.s599") == 0)
            s = c;
    }
    assert_non_null(w);
    assert_non_null(s);
    assert_true(w->group > s->group);
    {
        bool hbi = false;
        for (size_t i = 0; i < json_array_size(w->notes); i++)
            hbi |= strstr(json_string_value(json_array_get(w->notes, i)), "WS-HBI") != NULL;
        assert_true(hbi);
    }
    /* a saved plan read back resolves each step it waits for through an
     * index of addresses (a scan of the earlier changes per dependency
     * cost about deps x changes / 2: 6 million here) */
    {
        json_t *j = plan_to_json(plan, false);
        struct plan *back = NULL;
        size_t ndeps = 0;
        assert_int_equal(plan_from_json(&back, j, &err), 0);
        assert_int_equal(back->n, plan->n);
        for (size_t i = 0; i < plan->n; i++) {
            assert_int_equal(back->changes[i].ndeps, plan->changes[i].ndeps);
            for (size_t k = 0; k < plan->changes[i].ndeps; k++)
                assert_int_equal(back->changes[i].deps[k], plan->changes[i].deps[k]);
            ndeps += plan->changes[i].ndeps;
        }
        assert_true(ndeps >= 4 * stacks);
        assert_true(back->work <= 2 * ndeps + back->n);
        plan_free(back);
        json_decref(j);
    }
    plan_free(plan);
    state_release(&st);
    config_free(cfg);
    diag_list_release(&diags);
    remove_dir(dir);
}

/* Writing and replaying a journal finds each intent by id through an
 * index, and a done outcome looks for older pending intents of its
 * address through the index too: n intents with their complete and done
 * records cost O(n) look-ups (a scan per record cost 3 n^2 / 2: 6 million
 * here; a scan of the earlier entries per done another n^2 / 4). */
static void test_scale__journal_replay_indexed(void **state)
{
    const size_t n = 2000;
    char dir[] = "/tmp/amlsec-unit-scale-XXXXXX", path[64], digest[72];
    struct errbuf err = ERRBUF_INIT;
    struct journal j;
    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/journal", dir);
    journal_digest(digest, "{}", 2);
    assert_int_equal(journal_open(&j, path, NULL, &err), 0);
    j.group_commit = true; /* one fsync at the end, not one per record */
    for (size_t i = 0; i < n; i++) {
        char address[64], arm_id[128], id[40];
        struct journal_intent in = {.address = address,
                                    .kind = "storage_account",
                                    .arm_id = arm_id,
                                    .api_version = "2023-05-01",
                                    .op = JOURNAL_CREATE,
                                    .request_digest = digest};
        snprintf(address, sizeof(address), "storage_account.s%zu", i);
        snprintf(arm_id, sizeof(arm_id),
                 "/subscriptions/s/resourceGroups/g/providers/Microsoft.Storage/"
                 "storageAccounts/st%zu",
                 i);
        assert_int_equal(journal_begin(&j, &in, id, &err), 0);
        assert_int_equal(journal_complete(&j, id, 1, NULL, &err), 0);
        if (i % 2)
            assert_int_equal(journal_done(&j, id, &err), 0);
    }
    assert_int_equal(journal_sync(&j, &err), 0);
    assert_true(j.work <= 8 * n);
    journal_release(&j);
    assert_int_equal(journal_open(&j, path, NULL, &err), 0);
    assert_int_equal(j.nentries, n);
    assert_true(j.work <= 8 * n);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(j.entries[i].phase, i % 2 ? JOURNAL_DONE : JOURNAL_COMPLETED);
    journal_release(&j);
    unlink(path);
    rmdir(dir);
}

static int al_request(struct armlocal *al, const char *method, const char *path, const char *api,
                      const char *body)
{
    struct armlocal_response res;
    struct armlocal_kv q[] = {{"api-version", api}};
    struct armlocal_kv h[] = {{"Content-Type", "application/json"}};
    struct armlocal_request req = {method, path, q, 1, h, 1, body, body ? strlen(body) : 0, 0};
    int status;
    armlocal_response_init(&res);
    armlocal_handle(al, &req, &res);
    status = res.status;
    armlocal_response_release(&res);
    return status;
}

#define AL_RG "/subscriptions/00000000-0000-0000-0000-0000000000u1/resourceGroups/g"

/* The local cloud's per-request bookkeeping: a write checks the locks at
 * its scope and above through the index of lock scopes, a role assignment
 * is checked for duplicates among those at its scope, and only the
 * operations in progress are advanced. The last 100 of 2,000 storage
 * account creates (each leaving a finished operation), next to 200 locks,
 * each with a role assignment, visit a few entries each (a scan of the
 * store and of the operations per request visited some 800,000). */
static void test_scale__armlocal_request_cost_flat(void **state)
{
    struct armlocal_opts o = ARMLOCAL_OPTS_INIT;
    struct errbuf err = ERRBUF_INIT;
    struct armlocal *al;
    const size_t n = 2000;
    size_t before = 0;
    char path[512];
    (void)state;
    assert_int_equal(armlocal_opts_set(&o, "lro-ms", "0", &err), 0);
    assert_int_equal(armlocal_create(&al, &o, "http://127.0.0.1:9", &err), 0);
    assert_int_equal(al_request(al, "PUT", AL_RG, "2021-04-01", "{\"location\":\"westeurope\"}"),
                     201);
    for (size_t i = 0; i < n; i++) {
        if (i == n - 100)
            before = al->work;
        snprintf(path, sizeof(path),
                 AL_RG "/providers/Microsoft.Storage/storageAccounts/stscale%05zu", i);
        assert_in_range(al_request(al, "PUT", path, "2025-06-01",
                                   "{\"location\":\"westeurope\",\"kind\":\"StorageV2\","
                                   "\"sku\":{\"name\":\"Standard_LRS\"}}"),
                        200, 202);
        if (i >= n - 100) { /* a role assignment on it: the duplicate check looks at its scope */
            char ra[640], body[512];
            snprintf(ra, sizeof(ra),
                     "%s/providers/Microsoft.Authorization/roleAssignments/"
                     "3f2504e0-4f89-11d3-9a0c-0305e8%06zu",
                     path, i);
            snprintf(body, sizeof(body),
                     "{\"properties\":{\"roleDefinitionId\":\"/subscriptions/"
                     "00000000-0000-0000-0000-0000000000u1/providers/Microsoft.Authorization/"
                     "roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7\",\"principalId\":"
                     "\"4f2504e0-4f89-11d3-9a0c-0305e8%06zu\",\"principalType\":\"Group\"}}",
                     i);
            assert_int_equal(al_request(al, "PUT", ra, "2022-04-01", body), 201);
        }
        if (i % 10 == 0 && i < n - 100) {
            char lock[640];
            snprintf(lock, sizeof(lock), "%s/providers/Microsoft.Authorization/locks/keep", path);
            assert_int_equal(al_request(al, "PUT", lock, "2020-05-01",
                                        "{\"properties\":{\"level\":\"CanNotDelete\"}}"),
                             201);
        }
    }
    assert_true(al->work - before <= 200 * 40);
    /* the locks still hold: a delete under one is refused, a write is not */
    snprintf(path, sizeof(path), AL_RG "/providers/Microsoft.Storage/storageAccounts/stscale%05d",
             10);
    assert_int_equal(al_request(al, "DELETE", path, "2025-06-01", NULL), 409);
    assert_int_equal(al_request(al, "DELETE", AL_RG, "2021-04-01", NULL), 409);
    snprintf(path, sizeof(path), AL_RG "/providers/Microsoft.Storage/storageAccounts/stscale%05d",
             11);
    assert_in_range(al_request(al, "DELETE", path, "2025-06-01", NULL), 200, 204);
    armlocal_free(al);
}

/* A data directory as stores were written before the log (one JSON
 * document, no logGeneration) holding n storage accounts. */
static void persist_seed(const char *dir, size_t n)
{
    struct armlocal_opts o = ARMLOCAL_OPTS_INIT;
    struct errbuf err = ERRBUF_INIT;
    struct armlocal *al;
    char path[512];
    assert_int_equal(armlocal_opts_set(&o, "lro-ms", "0", &err), 0);
    assert_int_equal(armlocal_create(&al, &o, "http://127.0.0.1:9", &err), 0);
    assert_int_equal(al_request(al, "PUT", AL_RG, "2021-04-01", "{\"location\":\"westeurope\"}"),
                     201);
    for (size_t i = 0; i < n; i++) {
        snprintf(path, sizeof(path),
                 AL_RG "/providers/Microsoft.Storage/storageAccounts/stseed%05zu", i);
        assert_in_range(al_request(al, "PUT", path, "2025-06-01",
                                   "{\"location\":\"westeurope\",\"kind\":\"StorageV2\","
                                   "\"sku\":{\"name\":\"Standard_LRS\"},\"tags\":{\"team\":"
                                   "\"data-platform\",\"env\":\"prod\"}}"),
                        200, 202);
    }
    snprintf(path, sizeof(path), "%s/armlocal.json", dir);
    assert_int_equal(json_dump_file(al->state, path, JSON_COMPACT), 0);
    armlocal_free(al);
}

/* Bytes the store writes per request, over k writes (each flushed before
 * its answer) to a store of n resources loaded from an old-format data
 * directory; afterwards a restart finds every resource. */
static double persist_bytes_per_write(size_t n, size_t k)
{
    struct armlocal_opts o = ARMLOCAL_OPTS_INIT;
    struct errbuf err = ERRBUF_INIT;
    struct armlocal *al;
    char dir[] = "/tmp/amlsec-persist-XXXXXX", path[512];
    uint64_t before;
    double per;
    assert_non_null(mkdtemp(dir));
    persist_seed(dir, n);
    assert_int_equal(armlocal_opts_set(&o, "lro-ms", "0", &err), 0);
    assert_int_equal(armlocal_opts_set(&o, "flush-ms", "0", &err), 0);
    o.data_dir = dir;
    assert_int_equal(armlocal_create(&al, &o, "http://127.0.0.1:9", &err), 0);
    assert_int_equal(json_object_size(al_resources(al)), n + 1);
    before = al->persist.bytes_written;
    for (size_t i = 0; i < k; i++) {
        snprintf(path, sizeof(path),
                 AL_RG "/providers/Microsoft.Storage/storageAccounts/stnew%05zu", i);
        assert_in_range(al_request(al, "PUT", path, "2025-06-01",
                                   "{\"location\":\"westeurope\",\"kind\":\"StorageV2\","
                                   "\"sku\":{\"name\":\"Standard_LRS\"}}"),
                        200, 202);
        snprintf(path, sizeof(path),
                 AL_RG "/providers/Microsoft.Storage/storageAccounts/stseed%05zu", i);
        assert_in_range(al_request(al, "DELETE", path, "2025-06-01", NULL), 200, 204);
    }
    per = (double)(al->persist.bytes_written - before) / (double)(2 * k);
    armlocal_free(al); /* a clean stop folds the log into a snapshot */
    assert_int_equal(armlocal_create(&al, &o, "http://127.0.0.1:9", &err), 0);
    assert_int_equal(json_object_size(al_resources(al)), n + 1);
    snprintf(path, sizeof(path), AL_RG "/providers/Microsoft.Storage/storageAccounts/stnew%05zu",
             k - 1);
    assert_non_null(al_rec_get(al, path));
    snprintf(path, sizeof(path), AL_RG "/providers/Microsoft.Storage/storageAccounts/stseed%05zu",
             k - 1);
    assert_null(al_rec_get(al, path));
    armlocal_free(al);
    snprintf(path, sizeof(path), "rm -rf '%s'", dir);
    assert_int_equal(system(path), 0);
    return per;
}

/* --data persistence appends the records a write changed: the bytes
 * written per write are the same at 1,000 and 20,000 stored resources
 * (writing the whole store per write, as before the log, costs 20 times
 * more at 20,000: this fails there). */
static void test_scale__armlocal_persist_cost_flat(void **state)
{
    double small, large;
    (void)state;
    small = persist_bytes_per_write(1000, 40);
    large = persist_bytes_per_write(20000, 40);
    print_message("armlocal --data: %.0f bytes per write at 1k resources, %.0f at 20k\n", small,
                  large);
    assert_true(small > 0);
    assert_true(large < 2 * small);
}

#define AL_SUB "/subscriptions/00000000-0000-0000-0000-0000000000u1"

static void al_put_storage(struct armlocal *al, const char *rg, size_t i)
{
    char path[512];
    snprintf(path, sizeof(path),
             AL_SUB "/resourceGroups/%s/providers/Microsoft.Storage/"
                    "storageAccounts/st%s%05zu",
             rg, rg, i);
    assert_in_range(al_request(al, "PUT", path, "2025-06-01",
                               "{\"location\":\"westeurope\",\"kind\":\"StorageV2\","
                               "\"sku\":{\"name\":\"Standard_LRS\"}}"),
                    200, 202);
}

/* Filler: storage account i in one of ten other groups, every tenth with
 * a role assignment on it. */
static void al_filler(struct armlocal *al, size_t i)
{
    char rg[16], path[640], body[512];
    snprintf(rg, sizeof(rg), "g%zu", 1 + i % 10);
    al_put_storage(al, rg, i);
    if (i % 10)
        return;
    snprintf(path, sizeof(path),
             AL_SUB "/resourceGroups/%s/providers/Microsoft.Storage/"
                    "storageAccounts/st%s%05zu/providers/Microsoft.Authorization/roleAssignments/"
                    "5f2504e0-4f89-11d3-9a0c-0305e8%06zu",
             rg, rg, i, i);
    snprintf(body, sizeof(body),
             "{\"properties\":{\"roleDefinitionId\":\"" AL_SUB "/providers/Microsoft.Authorization/"
             "roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7\",\"principalId\":"
             "\"6f2504e0-4f89-11d3-9a0c-0305e8%06zu\",\"principalType\":\"Group\"}}",
             i);
    assert_int_equal(al_request(al, "PUT", path, "2022-04-01", body), 201);
}

/* The work (entries visited) of each of the local cloud's per-request
 * steps that used to scan the store, at the store's current size:
 * listing a group's storage accounts, a group's resources, the role
 * assignments at an account's scope (and inherited), a Resource Graph
 * authorizationresources query, and deleting an account with a lock and a
 * role assignment below it. out[5]. */
static void al_step_work(struct armlocal *al, size_t round, size_t out[5])
{
    char path[640], acct[512], body[512], query[512];
    size_t w;
    /* an account with a role assignment on it */
    al_put_storage(al, "g0", 100 + round);
    snprintf(acct, sizeof(acct),
             AL_SUB "/resourceGroups/g0/providers/Microsoft.Storage/"
                    "storageAccounts/stg0%05zu",
             100 + round);
    snprintf(path, sizeof(path),
             "%s/providers/Microsoft.Authorization/roleAssignments/"
             "3f2504e0-4f89-11d3-9a0c-0305e8%06zu",
             acct, round);
    snprintf(body, sizeof(body),
             "{\"properties\":{\"roleDefinitionId\":\"" AL_SUB "/providers/Microsoft.Authorization/"
             "roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7\",\"principalId\":"
             "\"4f2504e0-4f89-11d3-9a0c-0305e8%06zu\",\"principalType\":\"Group\"}}",
             round);
    assert_int_equal(al_request(al, "PUT", path, "2022-04-01", body), 201);
    w = al->work;
    assert_int_equal(al_request(al, "GET",
                                AL_SUB "/resourceGroups/g0/providers/Microsoft.Storage/"
                                       "storageAccounts",
                                "2025-06-01", NULL),
                     200);
    out[0] = al->work - w;
    w = al->work;
    assert_int_equal(
        al_request(al, "GET", AL_SUB "/resourceGroups/g0/resources", "2021-04-01", NULL), 200);
    out[1] = al->work - w;
    snprintf(path, sizeof(path), "%s/providers/Microsoft.Authorization/roleAssignments", acct);
    w = al->work;
    assert_int_equal(al_request(al, "GET", path, "2022-04-01", NULL), 200);
    out[2] = al->work - w;
    snprintf(query, sizeof(query),
             "{\"query\":\"authorizationresources | where properties.principalId =~ "
             "'4f2504e0-4f89-11d3-9a0c-0305e8%06zu' | project id\"}",
             round);
    w = al->work;
    assert_int_equal(
        al_request(al, "POST", "/providers/Microsoft.ResourceGraph/resources", "2022-10-01", query),
        200);
    out[3] = al->work - w;
    /* the account's delete takes the role assignment with it */
    w = al->work;
    assert_in_range(al_request(al, "DELETE", acct, "2025-06-01", NULL), 200, 204);
    out[4] = al->work - w;
    assert_null(al_rec_get(al, acct));
    assert_null(al_rec_get(al, path));
}

/* Lists, Resource Graph's small tables and deletes read the store's tree
 * index (keys by ancestor and type): their work is the same next to 1,000
 * and 10,000 other resources (a scan of the store, as before, visits ten
 * times more at the second size). */
static void test_scale__armlocal_tree_index_cost_flat(void **state)
{
    struct armlocal_opts o = ARMLOCAL_OPTS_INIT;
    struct errbuf err = ERRBUF_INIT;
    struct armlocal *al;
    size_t small[5], large[5];
    static const char *const steps[] = {"list by group and type", "group resources",
                                        "role assignments at a scope", "graph authz", "delete"};
    char rg[128];
    (void)state;
    assert_int_equal(armlocal_opts_set(&o, "lro-ms", "0", &err), 0);
    assert_int_equal(armlocal_create(&al, &o, "http://127.0.0.1:9", &err), 0);
    assert_int_equal(al_request(al, "PUT", AL_SUB "/resourceGroups/g0", "2021-04-01",
                                "{\"location\":\"westeurope\"}"),
                     201);
    for (size_t i = 0; i < 5; i++)
        al_put_storage(al, "g0", i);
    for (size_t g = 1; g <= 10; g++) {
        snprintf(rg, sizeof(rg), AL_SUB "/resourceGroups/g%zu", g);
        assert_int_equal(al_request(al, "PUT", rg, "2021-04-01", "{\"location\":\"westeurope\"}"),
                         201);
    }
    for (size_t i = 0; i < 1000; i++)
        al_filler(al, i);
    al_step_work(al, 0, small);
    for (size_t i = 1000; i < 10000; i++)
        al_filler(al, i);
    al_step_work(al, 1, large);
    for (size_t i = 0; i < 5; i++)
        print_message("armlocal %s: %zu entries visited at 1k resources, %zu at 10k\n", steps[i],
                      small[i], large[i]);
    for (size_t i = 0; i < 5; i++)
        assert_true(large[i] <= 2 * small[i] + 20);
    armlocal_free(al);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scale__findings_deduplicated_through_an_index),
        cmocka_unit_test(test_scale__diag_sort_stable),
        cmocka_unit_test(test_scale__plan_findings_and_order_linear),
        cmocka_unit_test(test_scale__journal_replay_indexed),
        cmocka_unit_test(test_scale__armlocal_request_cost_flat),
        cmocka_unit_test(test_scale__armlocal_persist_cost_flat),
        cmocka_unit_test(test_scale__armlocal_tree_index_cost_flat),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
