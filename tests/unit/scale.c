/* Linear at every size (issue 18): each structure that grows with the
 * configuration is looked up through an index. These tests count the work
 * a step does (comparisons, entries visited) at a size where a scan per
 * item would cost n^2, never wall time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <fcntl.h>
#include <malloc.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmd/check.h"
#include "cmd/cli.h"
#include "cmd/planfile.h"
#include "engine/depgraph.h"
#include "cmd/show_tf.h"
#include "engine/findings.h"
#include "engine/plan.h"
#include "engine/rules.h"
#include "parser/config.h"
#include "parser/diag.h"
#include "parser/value.h"
#include "providers/arm/arm_client.h"
#include "providers/arm/arm_provider.h"
#include "providers/arm/cloud.h"
#include "providers/arm/http.h"
#include "providers/arm/kind_lookup.h"
#include "providers/arm/render.h"
#include "providers/arm/resolve.h"
#include "providers/arm/transport.h"
#include "providers/armlocal/al_internal.h"
#include "providers/armlocal/armlocal.h"
#include "providers/arm/schema.h"
#include "state/journal.h"
#include "state/state.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/fileio.h"
#include "util/jsonw.h"
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

/* A new directory (*dir, freed by remove_dir) and its main.amlsec open for
 * writing, holding the settings and resource group "g" already. */
static FILE *new_config(char **dir)
{
    char path[128];
    FILE *f;
    *dir = strdup("/tmp/amlsec-unit-scale-XXXXXX");
    assert_non_null(*dir);
    assert_non_null(mkdtemp(*dir));
    snprintf(path, sizeof(path), "%s/main.amlsec", *dir);
    assert_non_null(f = fopen(path, "w"));
    fputs("settings {\n  subscription = \"00000000-0000-0000-0000-0000000000be\"\n"
          "  location = \"westeurope\"\n}\nresource_group \"g\" {\n  name = \"rg\"\n}\n",
          f);
    return f;
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

/* The heap bytes the findings of rules_run hold, per finding, over
 * `stacks` stacks (the diagnostics stay allocated; everything else the
 * rules allocate is freed when they end). */
static size_t finding_bytes(size_t stacks, size_t *nfindings)
{
    char *dir = write_stacks(stacks);
    struct diag_list diags;
    struct config *cfg;
    struct mallinfo2 before, after;
    size_t n0, held;
    diag_list_init(&diags);
    cfg = load(dir, &diags);
    n0 = diags.n;
    rules_run(cfg, &diags); /* once, so the rule text made once is made before */
    diag_list_release(&diags);
    diag_list_init(&diags);
    before = mallinfo2();
    rules_run(cfg, &diags);
    after = mallinfo2();
    *nfindings = diags.n - n0;
    held = after.uordblks + after.hblkhd - before.uordblks - before.hblkhd;
    diag_list_release(&diags);
    config_free(cfg);
    remove_dir(dir);
    return *nfindings ? held / *nfindings : 0;
}

/* A rule's fix and why are the same text in every one of its findings:
 * each finding keeps them by reference (a copy of both in each cost
 * about 1.2 KB a finding: 17 MB of new pages for 18,000 findings at
 * 50,000 resources), so the bytes per finding are its message, code and
 * place, at any size. */
static void test_scale__findings_share_rule_text(void **state)
{
    size_t n_small, n_large, small, large;
    (void)state;
    small = finding_bytes(40, &n_small);
    large = finding_bytes(800, &n_large);
    print_message("rules: %zu and %zu heap bytes per finding for %zu and %zu findings\n", small,
                  large, n_small, n_large);
    assert_true(n_small >= 5 * 40 && n_large >= 5 * 800);
    /* 645 and 641 with the text copied into each */
    assert_true(small <= 520);
    assert_true(large <= 520);
    /* the hint is the rule's fix itself, and the why note one text per rule */
    {
        char *dir = write_stacks(20);
        struct diag_list diags;
        struct config *cfg;
        const struct diag *first = NULL;
        size_t n0, same = 0;
        diag_list_init(&diags);
        cfg = load(dir, &diags);
        n0 = diags.n;
        rules_run(cfg, &diags);
        for (size_t i = n0; i < diags.n; i++) {
            const struct diag *d = &diags.items[i];
            const struct rule *r = rules_find(d->code);
            assert_non_null(r);
            assert_ptr_equal(d->hint, r->fix);
            assert_true(d->nnotes >= 1);
            assert_string_equal(d->notes[0].message + strlen("why: "), r->why);
            if (first == NULL && strcmp(d->code, "WS-DIAG") == 0)
                first = d;
            else if (first && strcmp(d->code, first->code) == 0)
                same += d->notes[0].message == first->notes[0].message;
        }
        assert_int_equal(same, 19);
        config_free(cfg);
        diag_list_release(&diags);
        remove_dir(dir);
    }
}

/* schema_validate_config checks every error against those already reported
 * (for_each instances share their block): through the diag list's index,
 * an error costs a few comparisons (a scan of the list per error cost
 * n^2 / 2: 2 million here, and compared none through the index). */
static void test_scale__schema_errors_deduplicated_through_an_index(void **state)
{
    const size_t n = 2000;
    char *dir;
    struct diag_list diags;
    struct config *cfg;
    size_t n0, errors;
    FILE *f = new_config(&dir);
    (void)state;
    for (size_t i = 0; i < n; i++)
        fprintf(f,
                "key_vault \"v%zu\" {\n  resource_group = resource_group.g\n"
                "  name = \"kv-%05zu\"\n  colour = %zu\n}\n",
                i, i, i);
    assert_int_equal(fclose(f), 0);
    diag_list_init(&diags);
    diags.max_errors = 0; /* every error kept: each is counted */
    cfg = load(dir, &diags);
    n0 = diags.n;
    diags.compared = 0;
    errors = schema_validate_config(cfg, &diags);
    assert_int_equal(errors, n); /* one unknown attribute each */
    assert_int_equal(diags.n - n0, n);
    assert_true(diags.compared <= 4 * diags.n);
    /* a repeated error is still found, and not reported twice */
    assert_int_equal(schema_validate_config(cfg, &diags), 0);
    assert_int_equal(diags.n - n0, n);
    assert_true(diags.compared >= n);
    config_free(cfg);
    diag_list_release(&diags);
    remove_dir(dir);
}

/* jansson allocations, counted (json_set_alloc_funcs) */
static size_t json_allocs;
static void *malloc_counted(size_t n)
{
    json_allocs++;
    return malloc(n);
}

/* The jansson allocations of loading n role assignments made with
 * for_each over a list of n keys, and n locks each on
 * role_assignment.team[each.key]. */
static size_t for_each_load_allocs(size_t n)
{
    json_malloc_t saved_malloc;
    json_free_t saved_free;
    char *dir;
    struct diag_list diags;
    struct config *cfg;
    size_t allocs;
    FILE *f = new_config(&dir);
    fputs("locals {\n  teams = [", f);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%s\"t%05zu\"", i ? ", " : "", i);
    fputs("]\n}\nrole_assignment \"team\" {\n  for_each = local.teams\n"
          "  scope = resource_group.g\n  principal = \"3f2504e0-4f89-11d3-9a0c-0305e8000000\"\n"
          "  principal_type = \"Group\"\n  role = \"Reader\"\n}\n"
          "lock \"l\" {\n  for_each = local.teams\n  target = role_assignment.team[each.key]\n"
          "  level = \"CanNotDelete\"\n}\n",
          f);
    assert_int_equal(fclose(f), 0);
    diag_list_init(&diags);
    json_allocs = 0;
    /* the functions main() set are put back: the tests after this one
     * count jansson's bytes with them */
    json_get_alloc_funcs(&saved_malloc, &saved_free);
    json_set_alloc_funcs(malloc_counted, free);
    cfg = load(dir, &diags);
    json_set_alloc_funcs(saved_malloc, saved_free);
    allocs = json_allocs;
    assert_int_equal(diags.errors, 0);
    {
        const struct cfg_resource *locks = config_find(cfg, false, "lock", "l");
        assert_non_null(locks);
        assert_int_equal(locks->ninstances, n);
    }
    config_free(cfg);
    diag_list_release(&diags);
    remove_dir(dir);
    return allocs;
}

/* TYPE.NAME["key"] is one look-up of the instance (the resource's key
 * index), not the map of every instance built per reference: the
 * allocations per instance stay flat from 100 to 5,000 instances (building
 * the map made them grow with n: about 50x here). */
static void test_scale__for_each_reference_indexed(void **state)
{
    size_t small = 100, large = 5000;
    double per_small, per_large;
    (void)state;
    per_small = (double)for_each_load_allocs(small) / (double)small;
    per_large = (double)for_each_load_allocs(large) / (double)large;
    print_message("jansson allocations per instance: %.1f at %zu, %.1f at %zu\n", per_small, small,
                  per_large, large);
    assert_true(per_large < 3 * per_small);
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

/* order_locks finds what each lock blocks through an index of the ids the
 * plan deletes and writes (a range of ids under the lock's scope, and a
 * look-up per ancestor of the scope): work in the order of (locks + changes)
 * log n, where a scan of every change per lock cost locks x changes (2.4
 * million here). The locks still block what they cover: a ReadOnly lock on
 * the resource group that stays refuses each write and delete under it. */
static void test_scale__plan_locks_indexed(void **state)
{
    const size_t n = 1000, gone = 200;
    char *dir = strdup("/tmp/amlsec-unit-scale-XXXXXX"), path[128];
    const char *rg = "/subscriptions/00000000-0000-0000-0000-0000000000be/resourceGroups/rg";
    struct diag_list diags;
    struct config *cfg;
    struct plan *plan = NULL;
    struct plan_opts o;
    struct state st;
    struct errbuf err = ERRBUF_INIT;
    json_t *attrs = json_object();
    size_t locked_writes = 0, locked_deletes = 0, other = 0;
    FILE *f;
    (void)state;
    assert_non_null(dir);
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/main.amlsec", dir);
    assert_non_null(f = fopen(path, "w"));
    fputs("settings {\n  subscription = \"00000000-0000-0000-0000-0000000000be\"\n"
          "  location = \"westeurope\"\n}\nresource_group \"g\" {\n  name = \"rg\"\n}\n"
          "lock \"ro\" {\n  target = resource_group.g\n  level = \"ReadOnly\"\n}\n",
          f);
    for (size_t i = 0; i < n; i++)
        fprintf(f,
                "storage_account \"s%zu\" {\n  resource_group = resource_group.g\n"
                "  name = \"st%05zu\"\n}\n"
                "lock \"l%zu\" {\n  target = storage_account.s%zu\n  level = \"CanNotDelete\"\n}\n",
                i, i, i, i);
    assert_int_equal(fclose(f), 0);
    diag_list_init(&diags);
    cfg = load(dir, &diags);
    assert_int_equal(state_init(&st, &err), 0);
    for (size_t i = 0; i < gone; i++) {
        char addr[64], id[256];
        struct state_resource r = {.address = addr,
                                   .kind = "storage_account",
                                   .arm_id = id,
                                   .api_version = "2023-05-01",
                                   .attributes = attrs};
        snprintf(addr, sizeof(addr), "storage_account.old%zu", i);
        snprintf(id, sizeof(id), "%s/providers/Microsoft.Storage/storageAccounts/stold%05zu", rg,
                 i);
        assert_int_equal(state_put(&st, &r, &err), 0);
    }
    memset(&o, 0, sizeof(o));
    diags.max_errors = 0; /* every error kept: each is counted */
    assert_int_equal(plan_build(&plan, cfg, &st, NULL, &o, &diags, &err), AMLSEC_EPARSE);
    assert_non_null(plan);
    for (size_t i = 0; i < diags.n; i++) {
        const char *m = diags.items[i].message;
        if (diags.items[i].severity != DIAG_ERROR)
            continue;
        if (strstr(m, "lock.ro (ReadOnly)") && strstr(m, "ARM refuses the write (ScopeLocked)"))
            locked_writes++;
        else if (strstr(m, "lock.ro (ReadOnly)") && strstr(m, "refuses the delete (ScopeLocked)"))
            locked_deletes++;
        else
            other++;
    }
    assert_int_equal(locked_writes, n + 1); /* the storage accounts and the group itself */
    assert_int_equal(locked_deletes, gone);
    assert_int_equal(other, 0);
    assert_true(plan->work <= 40 * (2 * n + gone + diags.n));
    plan_free(plan);
    state_release(&st);
    json_decref(attrs);
    config_free(cfg);
    diag_list_release(&diags);
    remove_dir(dir);
}

/* jansson's allocations, counted while a test watches: the largest one. */
static size_t alloc_largest;
static bool alloc_watch;

static long alloc_live, alloc_peak; /* jansson's bytes alive since watched, their peak */

static void *counting_malloc(size_t n)
{
    void *p = malloc(n);
    if (alloc_watch && n > alloc_largest)
        alloc_largest = n;
    if (alloc_watch && p && (alloc_live += (long)malloc_usable_size(p)) > alloc_peak)
        alloc_peak = alloc_live;
    return p;
}

static void counting_free(void *p)
{
    if (alloc_watch && p)
        alloc_live -= (long)malloc_usable_size(p);
    free(p);
}

static int append_to_buf(const char *text, size_t n, void *data)
{
    return buf_add(data, text, n) == 0 ? 0 : -1;
}

/* plan_to_json shares the plan's values rather than copying them (a copy
 * of every before, after and body doubled the memory of plan -out and show
 * -json), and a saved plan is written and read with no copy of its whole
 * text in one string: the checksum is taken over the bytes in the file
 * (re-serialising the plan to check it cost a string as large as the plan;
 * writing one to copy it into the file another). */
static void test_scale__plan_json_shares_values(void **state)
{
    const size_t stacks = 300;
    char *dir = write_stacks(stacks), path[160];
    struct diag_list diags;
    struct config *cfg;
    struct plan *plan = NULL, *back = NULL;
    struct plan_opts o;
    struct state st;
    struct crypt_keys keys;
    struct errbuf err = ERRBUF_INIT;
    struct buf file;
    json_t *j, *changes;
    size_t shared = 0;
    (void)state;
    diag_list_init(&diags);
    cfg = load(dir, &diags);
    assert_int_equal(state_init(&st, &err), 0);
    memset(&o, 0, sizeof(o));
    assert_int_equal(plan_build(&plan, cfg, &st, NULL, &o, &diags, &err), 0);
    assert_int_equal(plan->n, 5 * stacks + 1);
    for (int redact = 0; redact < 2; redact++) {
        j = plan_to_json(plan, redact);
        changes = json_object_get(j, "resource_changes");
        assert_int_equal(json_array_size(changes), plan->n);
        for (size_t i = 0; i < plan->n; i++) {
            json_t *ch = json_object_get(json_array_get(changes, i), "change");
            shared += json_object_get(ch, "after") == plan->changes[i].after;
            if (!redact)
                assert_ptr_equal(json_object_get(json_array_get(changes, i), "request_body"),
                                 plan->changes[i].body);
        }
        json_decref(j);
    }
    /* every after unredacted; redacted, those holding no sensitive value */
    assert_true(shared >= plan->n + plan->n / 2);
    /* a saved plan is streamed one change at a time, byte for byte what
     * dumping the whole tree in its file form gives */
    {
        struct buf whole, streamed;
        json_t *f;
        buf_init(&whole, 0);
        buf_init(&streamed, 0);
        j = plan_to_json(plan, false);
        f = value_file_form(j);
        assert_int_equal(
            json_dump_callback(f, append_to_buf, &whole, JSON_COMPACT | JSON_SORT_KEYS), 0);
        json_decref(f);
        json_decref(j);
        assert_int_equal(plan_json_dump(plan, append_to_buf, &streamed), 0);
        assert_int_equal(streamed.len, whole.len);
        assert_memory_equal(streamed.ptr, whole.ptr, whole.len);
        buf_release(&whole);
        buf_release(&streamed);
    }
    /* written and read back with no jansson string near the plan's size */
    snprintf(path, sizeof(path), "%s/main.plan", dir);
    crypt_keys_init(&keys);
    alloc_largest = 0;
    alloc_watch = true;
    assert_int_equal(planfile_write(path, plan, &keys, NULL, &err), 0);
    alloc_watch = false;
    buf_init(&file, 0);
    assert_int_equal(file_read_all(&file, path, (size_t)64 << 20, &err), 0);
    assert_true(file.len > 1000 * stacks);
    assert_true(alloc_largest < file.len / 8);
    alloc_largest = 0;
    alloc_watch = true;
    assert_int_equal(planfile_decode(&back, &j, file.ptr, file.len, path, &keys, NULL, NULL, &err),
                     0);
    alloc_watch = false;
    assert_true(alloc_largest < file.len / 8);
    assert_int_equal(back->n, plan->n);
    /* read a change at a time: the root handed back holds the plan's other
     * members only */
    assert_null(json_object_get(j, "resource_changes"));
    assert_non_null(json_object_get(j, "state"));
    json_decref(j);
    plan_free(back);
    back = NULL;
    /* a plan laid out otherwise (pretty-printed) is still checked and read
     * (whole); damage in it is still found */
    {
        json_t *env = json_loadb(file.ptr, file.len, JSON_ALLOW_NUL, NULL);
        char *pretty = json_dumps(env, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
        char *at;
        assert_non_null(pretty);
        assert_int_equal(
            planfile_decode(&back, &j, pretty, strlen(pretty), path, &keys, NULL, NULL, &err), 0);
        assert_int_equal(back->n, plan->n);
        /* the plan read shares the file's values (a copy of each doubled what
         * show -json and apply PLANFILE hold) */
        changes = json_object_get(j, "resource_changes");
        for (size_t i = 0; i < back->n; i++) {
            const json_t *c = json_array_get(changes, i);
            assert_ptr_equal(back->changes[i].after,
                             json_object_get(json_object_get(c, "change"), "after"));
            assert_ptr_equal(back->changes[i].body, json_object_get(c, "request_body"));
        }
        json_decref(j);
        plan_free(back);
        back = NULL;
        assert_non_null(at = strstr(pretty, "mlw-00299"));
        at[4] = '8';
        assert_int_equal(
            planfile_decode(&back, NULL, pretty, strlen(pretty), path, &keys, NULL, NULL, &err),
            AMLSEC_ECORRUPT);
        free(pretty);
        json_decref(env);
        assert_non_null(at = strstr(file.ptr, "mlw-00299"));
        at[4] = '8';
        assert_int_equal(
            planfile_decode(&back, NULL, file.ptr, file.len, path, &keys, NULL, NULL, &err),
            AMLSEC_ECORRUPT);
    }
    unlink(path);
    buf_release(&file);
    crypt_keys_release(&keys);
    plan_free(plan);
    state_release(&st);
    config_free(cfg);
    diag_list_release(&diags);
    remove_dir(dir);
}

/* A plan against a state read from disk compares each resource with what
 * the state recorded by parsing its text for that comparison only: the
 * state is not left holding every resource parsed (at 50,000 resources,
 * about a fifth of the plan's memory). */
/* plan -out writes the configuration it saves one entry at a time
 * (plan->configuration_of) and the file as it is made: the JSON alive while
 * the file is written does not grow with the configuration (the
 * configuration held whole cost ~3.4 KB a resource, the file's text held
 * in memory ~1.8 KB more). */
static void test_scale__plan_file_written_streaming(void **state)
{
    const size_t sizes[2] = {40, 400};
    long peak[2];
    size_t file_len[2];
    (void)state;
    for (int s = 0; s < 2; s++) {
        char *dir = write_stacks(sizes[s]), path[160];
        struct diag_list diags;
        struct config *cfg;
        struct plan *plan = NULL;
        struct plan_opts o;
        struct state st;
        struct crypt_keys keys;
        struct errbuf err = ERRBUF_INIT;
        struct stat sb;
        diag_list_init(&diags);
        cfg = load(dir, &diags);
        assert_int_equal(state_init(&st, &err), 0);
        memset(&o, 0, sizeof(o));
        assert_int_equal(plan_build(&plan, cfg, &st, NULL, &o, &diags, &err), 0);
        plan->configuration_of = cfg;
        snprintf(path, sizeof(path), "%s/main.plan", dir);
        crypt_keys_init(&keys);
        alloc_live = alloc_peak = 0;
        alloc_watch = true;
        assert_int_equal(planfile_write(path, plan, &keys, NULL, &err), 0);
        alloc_watch = false;
        peak[s] = alloc_peak;
        assert_int_equal(stat(path, &sb), 0);
        file_len[s] = (size_t)sb.st_size;
        unlink(path);
        crypt_keys_release(&keys);
        plan_free(plan);
        state_release(&st);
        config_free(cfg);
        diag_list_release(&diags);
        remove_dir(dir);
    }
    print_message("plan file: %zu and %zu bytes written with at most %ld and %ld bytes of JSON "
                  "alive\n",
                  file_len[0], file_len[1], peak[0], peak[1]);
    assert_true(file_len[1] > 9 * file_len[0]);
    /* ten times the resources: the same few changes and entries alive */
    assert_true(peak[1] < 2 * peak[0] + 65536);
    assert_true((size_t)peak[1] < file_len[1] / 10);
}

/* jsonw_loadb through the linker (-Wl,--wrap, tests/CMakeLists.txt): counts
 * the texts parsed (plan_leaves_state_unparsed). */
json_t *__real_jsonw_loadb(const char *text, size_t len, size_t flags, json_error_t *err);
json_t *__wrap_jsonw_loadb(const char *text, size_t len, size_t flags, json_error_t *err);
static size_t state_loads;
json_t *__wrap_jsonw_loadb(const char *text, size_t len, size_t flags, json_error_t *err)
{
    state_loads++;
    return __real_jsonw_loadb(text, len, flags, err);
}

static void test_scale__plan_leaves_state_unparsed(void **state)
{
    const size_t stacks = 200;
    char *dir = write_stacks(stacks);
    struct diag_list diags;
    struct config *cfg;
    struct plan *plan = NULL;
    struct plan_opts o;
    struct state st, disk;
    struct errbuf err = ERRBUF_INIT;
    struct buf text;
    size_t parsed = 0, noop, scanned;
    (void)state;
    diag_list_init(&diags);
    cfg = load(dir, &diags);
    /* a tenant, as -cloud local sets one: the bodies recorded below as an
     * apply's are then known (a key vault's tenant_id) */
    json_object_set_new(cfg->settings, "tenant",
                        json_string("00000000-0000-0000-0000-00000000a11c"));
    assert_int_equal(state_init(&st, &err), 0);
    memset(&o, 0, sizeof(o));
    assert_int_equal(plan_build(&plan, cfg, &st, NULL, &o, &diags, &err), 0);
    /* the state an apply of these creates records (their bodies) */
    for (size_t i = 0; i < plan->n; i++) {
        const struct plan_change *c = &plan->changes[i];
        json_t *attrs = json_deep_copy(c->body);
        struct state_resource r = {.address = c->address,
                                   .kind = c->kind,
                                   .arm_id = c->arm_id,
                                   .api_version = c->api_version,
                                   .attributes = attrs};
        assert_non_null(c->arm_id);
        json_object_set_new(attrs, "id", json_string(c->arm_id));
        assert_int_equal(state_put(&st, &r, &err), 0);
        json_decref(attrs);
    }
    plan_free(plan);
    plan = NULL;
    buf_init(&text, 0);
    assert_int_equal(state_serialize(&st, &text, &err), 0);
    assert_int_equal(state_parse(&disk, text.ptr, text.len, "state", &err), 0);
    assert_int_equal(disk.nresources, 5 * stacks + 1);
    scanned = jsonw_scanned();
    state_loads = 0;
    assert_int_equal(plan_build(&plan, cfg, &disk, NULL, &o, &diags, &err), 0);
    /* each resource's record parsed once: it is compared with its record,
     * then the resources planned after it ask for the values it computed
     * (2,202 parses of these 1,001 records before: the workspaces' own
     * computed values asked one at a time, each parsing the record) */
    print_message("plan over %zu records: %zu parsed\n", disk.nresources, state_loads);
    assert_true(state_loads <= disk.nresources);
    /* each resource's text read by jansson alone, not scanned for its
     * numbers first (it holds no decimal): 6% of plan -refresh=false at
     * 50,000 resources */
    scanned = jsonw_scanned() - scanned;
    print_message("plan over a state of %zu bytes: %zu scanned before jansson\n", text.len,
                  scanned);
    assert_int_equal(scanned, 0);
    noop = disk.nresources - plan->n;
    assert_true(noop >= disk.nresources / 2); /* mostly nothing to do */
    for (size_t i = 0; i < disk.nresources; i++)
        parsed += disk.resources[i].attributes != NULL;
    assert_true(parsed <= disk.nresources / 10);
    plan_free(plan);
    buf_release(&text);
    state_release(&disk);
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

/* One resource of the state test: workspace i, or (kind 1, 2) its compute
 * or the lock on it. */
static void put_stack_entry(struct state *st, size_t i, int kind)
{
    char address[64], arm_id[256];
    struct state_resource r;
    struct errbuf err = ERRBUF_INIT;
    static const char *const kinds[] = {"workspace", "compute_cluster", "lock"};
    int n = snprintf(arm_id, sizeof(arm_id),
                     "/subscriptions/s/resourceGroups/g/providers/"
                     "Microsoft.MachineLearningServices/workspaces/w%zu",
                     i);
    if (kind == 1)
        snprintf(arm_id + n, sizeof(arm_id) - (size_t)n, "/computes/c");
    if (kind == 2)
        snprintf(arm_id + n, sizeof(arm_id) - (size_t)n,
                 "/providers/Microsoft.Authorization/locks/l");
    snprintf(address, sizeof(address), "%s.x%zu", kinds[kind], i);
    memset(&r, 0, sizeof(r));
    r.address = address;
    r.kind = (char *)kinds[kind];
    r.arm_id = arm_id;
    r.api_version = "2024-04-01";
    r.attributes = json_pack("{s:s, s:i}", "name", address, "i", (json_int_t)i);
    assert_int_equal(state_put(st, &r, &err), 0);
    json_decref(r.attributes);
}

/* An apply's changes to the state: n workspaces with their computes and
 * locks put in a shuffled order (a flush half way, as a checkpoint does),
 * some put again, then every other workspace deleted (its compute and lock
 * go with it) and the rest's locks removed. */
static void state_apply_like(struct state *st, size_t n, bool batch)
{
    size_t step = 7919; /* prime, coprime with n: a fixed shuffle */
    struct errbuf err = ERRBUF_INIT;
    char address[64], arm_id[256];
    assert_int_equal(state_init(st, &err), 0);
    if (batch)
        state_batch_begin(st);
    for (size_t k = 0; k < 3 * n; k++) {
        size_t at = (k * step) % (3 * n);
        put_stack_entry(st, at / 3, (int)(at % 3));
        if (batch && k == 3 * n / 2)
            state_batch_flush(st);
    }
    for (size_t i = 0; i < n; i += 10)
        put_stack_entry(st, i, 0);
    for (size_t k = 0; k < n; k++) {
        size_t i = (k * step) % n;
        snprintf(address, sizeof(address), "%s.x%zu", i % 2 ? "lock" : "workspace", i);
        snprintf(arm_id, sizeof(arm_id),
                 "/subscriptions/s/resourceGroups/g/providers/"
                 "Microsoft.MachineLearningServices/workspaces/w%zu%s",
                 i, i % 2 ? "/providers/Microsoft.Authorization/locks/l" : "");
        assert_int_equal(state_remove(st, address, &err), 0);
        assert_int_equal(state_remove_under(st, arm_id), i % 2 ? 0 : 2);
    }
    if (batch)
        state_batch_end(st);
}

/* The state an apply folds its outcomes into: in a batch each put, remove
 * and removal of a deleted resource's children costs O(1) (a hash index of
 * addresses, entries appended and sorted at the flushes; an index of the
 * entries under each id), where the sorted array moved every entry after
 * each insert (n^2 / 4 entries moved for n shuffled creates: 225 million
 * here) and each delete scanned the whole state for children (another
 * n^2). The result is the same state, byte for byte. */
static void test_scale__state_batch_linear(void **state)
{
    const size_t n = 10000, small = 600;
    struct state a, b;
    struct buf sa, sb;
    struct errbuf err = ERRBUF_INIT;
    (void)state;
    state_apply_like(&a, n, true);
    assert_true(a.work <= 20 * 3 * n);
    assert_int_equal(state_count(&a), 2 * (n / 2));
    for (size_t i = 1; i < a.nresources; i++)
        assert_true(strcmp(a.resources[i - 1].address, a.resources[i].address) < 0);
    assert_non_null(state_find(&a, "compute_cluster.x1"));
    assert_null(state_find(&a, "compute_cluster.x2"));
    assert_null(state_find(&a, "lock.x3"));
    state_release(&a);
    /* the same changes outside a batch give the same bytes */
    state_apply_like(&a, small, true);
    state_apply_like(&b, small, false);
    memcpy(b.lineage, a.lineage, sizeof(a.lineage));
    buf_init(&sa, STATE_MAX_BYTES);
    buf_init(&sb, STATE_MAX_BYTES);
    assert_int_equal(state_serialize(&a, &sa, &err), 0);
    assert_int_equal(state_serialize(&b, &sb, &err), 0);
    assert_int_equal(sa.len, sb.len);
    assert_memory_equal(sa.ptr, sb.ptr, sa.len);
    assert_true(b.work > 10 * a.work); /* what the batch saves, at only 600 */
    buf_release(&sa);
    buf_release(&sb);
    state_release(&a);
    state_release(&b);
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
/* GET path with $filter (api-version 2022-04-01); the status. */
static int al_get_filtered(struct armlocal *al, const char *path, const char *filter)
{
    struct armlocal_response res;
    struct armlocal_kv q[] = {{"api-version", "2022-04-01"}, {"$filter", filter}};
    struct armlocal_request req = {"GET", path, q, 2, NULL, 0, NULL, 0, 0};
    int status;
    armlocal_response_init(&res);
    armlocal_handle(al, &req, &res);
    status = res.status;
    armlocal_response_release(&res);
    return status;
}

static void al_step_work(struct armlocal *al, size_t round, size_t out[7])
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
    snprintf(query, sizeof(query), "principalId eq '4f2504e0-4f89-11d3-9a0c-0305e8%06zu'", round);
    w = al->work;
    assert_int_equal(
        al_get_filtered(al, AL_SUB "/providers/Microsoft.Authorization/roleAssignments", query),
        200);
    out[6] = al->work - w;
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
    /* a link of the zone to a virtual network: a virtual network is linked once */
    snprintf(path, sizeof(path),
             AL_SUB "/resourceGroups/g0/providers/Microsoft.Network/"
                    "privateDnsZones/privatelink.vaultcore.azure.net/virtualNetworkLinks/l%zu",
             round);
    snprintf(body, sizeof(body),
             "{\"location\":\"global\",\"properties\":{\"virtualNetwork\":"
             "{\"id\":\"" AL_SUB "/resourceGroups/g0/providers/Microsoft.Network/"
             "virtualNetworks/hub%zu\"}}}",
             round);
    w = al->work;
    assert_in_range(al_request(al, "PUT", path, "2024-06-01", body), 200, 201);
    out[5] = al->work - w;
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
    size_t small[7], large[7];
    static const char *const steps[] = {"list by group and type",
                                        "group resources",
                                        "role assignments at a scope",
                                        "graph authz",
                                        "delete",
                                        "virtual network link",
                                        "role assignments of a principal"};
    char rg[256];
    (void)state;
    assert_int_equal(armlocal_opts_set(&o, "lro-ms", "0", &err), 0);
    assert_int_equal(armlocal_create(&al, &o, "http://127.0.0.1:9", &err), 0);
    assert_int_equal(al_request(al, "PUT", AL_SUB "/resourceGroups/g0", "2021-04-01",
                                "{\"location\":\"westeurope\"}"),
                     201);
    for (size_t i = 0; i < 5; i++)
        al_put_storage(al, "g0", i);
    for (size_t i = 0; i < 2; i++) {
        snprintf(rg, sizeof(rg),
                 AL_SUB "/resourceGroups/g0/providers/Microsoft.Network/"
                        "virtualNetworks/hub%zu",
                 i);
        assert_in_range(al_request(al, "PUT", rg, "2025-03-01",
                                   "{\"location\":\"westeurope\",\"properties\":{\"addressSpace\":"
                                   "{\"addressPrefixes\":[\"10.0.0.0/16\"]}}}"),
                        200, 201);
    }
    assert_in_range(al_request(al, "PUT",
                               AL_SUB "/resourceGroups/g0/providers/Microsoft.Network/"
                                      "privateDnsZones/privatelink.vaultcore.azure.net",
                               "2024-06-01", "{\"location\":\"global\"}"),
                    200, 201);
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
    for (size_t i = 0; i < 7; i++)
        print_message("armlocal %s: %zu entries visited at 1k resources, %zu at 10k\n", steps[i],
                      small[i], large[i]);
    for (size_t i = 0; i < 7; i++)
        assert_true(large[i] <= 2 * small[i] + 20);
    armlocal_free(al);
}

#define AL_SUB2 "/subscriptions/00000000-0000-0000-0000-0000000000u2"

/* One page of a Resource Graph query (api-version 2024-04-01, $top 1000)
 * over subscription (NULL: the tenant), from *token (NULL: the first
 * page; then the next page's token, malloc'd, NULL after the last); the
 * rows it holds, or -1 when it did not answer 200. *total (when not NULL):
 * its totalRecords. */
static long al_graph_post(struct armlocal *al, const char *subscription, const char *query,
                          char **token, long *total)
{
    struct armlocal_response res;
    struct armlocal_kv q[] = {{"api-version", "2024-04-01"}};
    struct armlocal_kv h[] = {{"Content-Type", "application/json"}};
    json_t *body = json_pack("{s:s, s:{s:i}}", "query", query, "options", "$top", 1000), *ans;
    char *text;
    long rows;
    struct armlocal_request req = {
        "POST", "/providers/Microsoft.ResourceGraph/resources", q, 1, h, 1, NULL, 0, 0};
    if (subscription)
        json_object_set_new(body, "subscriptions", json_pack("[s]", subscription));
    if (*token)
        json_object_set_new(json_object_get(body, "options"), "$skipToken", json_string(*token));
    free(*token);
    *token = NULL;
    text = json_dumps(body, JSON_COMPACT);
    req.body = text;
    req.body_len = strlen(text);
    armlocal_response_init(&res);
    armlocal_handle(al, &req, &res);
    ans = json_loadb(res.body.ptr ? res.body.ptr : "", res.body.len, 0, NULL);
    rows = res.status == 200 ? (long)json_array_size(json_object_get(ans, "data")) : -1;
    if (total)
        *total = rows >= 0 ? (long)json_integer_value(json_object_get(ans, "totalRecords")) : -1;
    if (rows >= 0 && json_is_string(json_object_get(ans, "$skipToken")))
        *token = strdup(json_string_value(json_object_get(ans, "$skipToken")));
    json_decref(ans);
    armlocal_response_release(&res);
    free(text);
    json_decref(body);
    return rows;
}

/* A Resource Graph query's totalRecords (its first page), or -1. */
static long al_graph(struct armlocal *al, const char *subscription, const char *query)
{
    char *token = NULL;
    long total = -1;
    (void)al_graph_post(al, subscription, query, &token, &total);
    free(token);
    return total;
}

/* Resource Graph queries of the `resources` table filtered by type,
 * resource group, subscription or a list of ids (standing alone or with
 * other conditions) take their candidates from the store's indexes: the
 * entries each visits are the same next to 500 and 5,000 other resources
 * (every stored resource was a candidate row before: ten times more at the
 * second size), and the answers are those of a scan. */
static void test_scale__armlocal_graph_indexed(void **state)
{
    struct armlocal_opts o = ARMLOCAL_OPTS_INIT;
    struct errbuf err = ERRBUF_INIT;
    struct armlocal *al;
    static const struct {
        const char *sub, *query;
        long want;
    } qs[] = {
        {NULL, "resources | where type =~ 'microsoft.network/virtualnetworks' | project id", 2},
        {"00000000-0000-0000-0000-0000000000u1",
         "resources | where resourceGroup =~ 'g0' and type =~ 'microsoft.storage/storageaccounts' "
         "| project id, name",
         3},
        {NULL,
         "resources | where subscriptionId =~ '00000000-0000-0000-0000-0000000000u2' | "
         "project id",
         2},
        {NULL,
         "resources | where type in~ ('microsoft.network/virtualnetworks', "
         "'microsoft.network/privatednszones') and location =~ 'westeurope' | project id",
         2},
        {NULL,
         "resources | where id in~ ('" AL_SUB "/resourceGroups/g0/providers/"
         "Microsoft.Storage/storageAccounts/stg000000', '" AL_SUB2 "/resourceGroups/h/"
         "providers/Microsoft.Storage/storageAccounts/sth00001') and kind == 'StorageV2' | "
         "project id",
         2},
    };
    enum { NQ = sizeof(qs) / sizeof(qs[0]) };
    size_t small[NQ], large[NQ];
    char path[512];
    (void)state;
    assert_int_equal(armlocal_opts_set(&o, "lro-ms", "0", &err), 0);
    assert_int_equal(armlocal_create(&al, &o, "http://127.0.0.1:9", &err), 0);
    assert_int_equal(al_request(al, "PUT", AL_SUB "/resourceGroups/g0", "2021-04-01",
                                "{\"location\":\"westeurope\"}"),
                     201);
    for (size_t i = 0; i < 3; i++)
        al_put_storage(al, "g0", i);
    for (size_t i = 0; i < 2; i++) {
        snprintf(path, sizeof(path),
                 AL_SUB "/resourceGroups/g0/providers/Microsoft.Network/virtualNetworks/hub%zu", i);
        assert_in_range(al_request(al, "PUT", path, "2025-03-01",
                                   "{\"location\":\"westeurope\",\"properties\":{\"addressSpace\":"
                                   "{\"addressPrefixes\":[\"10.0.0.0/16\"]}}}"),
                        200, 201);
    }
    assert_int_equal(al_request(al, "PUT", AL_SUB2 "/resourceGroups/h", "2021-04-01",
                                "{\"location\":\"westeurope\"}"),
                     201);
    for (size_t i = 0; i < 2; i++) {
        snprintf(path, sizeof(path),
                 AL_SUB2 "/resourceGroups/h/providers/Microsoft.Storage/storageAccounts/sth%05zu",
                 i);
        assert_in_range(al_request(al, "PUT", path, "2025-06-01",
                                   "{\"location\":\"westeurope\",\"kind\":\"StorageV2\","
                                   "\"sku\":{\"name\":\"Standard_LRS\"}}"),
                        200, 202);
    }
    for (size_t g = 1; g <= 10; g++) {
        snprintf(path, sizeof(path), AL_SUB "/resourceGroups/g%zu", g);
        assert_int_equal(al_request(al, "PUT", path, "2021-04-01", "{\"location\":\"westeurope\"}"),
                         201);
    }
    for (size_t round = 0; round < 2; round++) {
        size_t *out = round ? large : small;
        for (size_t i = round ? 500 : 0; i < (round ? 5000u : 500u); i++)
            al_filler(al, i);
        for (size_t i = 0; i < NQ; i++) {
            size_t w = al->work;
            assert_int_equal(al_graph(al, qs[i].sub, qs[i].query), qs[i].want);
            out[i] = al->work - w;
        }
    }
    for (size_t i = 0; i < NQ; i++)
        print_message("armlocal graph query %zu: %zu entries visited at 500 resources, %zu at 5k\n",
                      i, small[i], large[i]);
    for (size_t i = 0; i < NQ; i++)
        assert_true(large[i] <= 2 * small[i] + 20);
    armlocal_free(al);
}

#define AL_SUB3 "/subscriptions/00000000-0000-0000-0000-0000000000u3"

/* ARM's lists of a subscription's and of a group's resources visit the
 * top-level resources only, not the extension resources (locks) below
 * them: the same next to 100 and 1,000 locks (every key under the scope
 * was visited before: ten times more at the second size). */
static void test_scale__armlocal_scope_lists_top_level(void **state)
{
    struct armlocal_opts o = ARMLOCAL_OPTS_INIT;
    struct errbuf err = ERRBUF_INIT;
    struct armlocal *al;
    size_t small[2], large[2];
    char path[512];
    (void)state;
    assert_int_equal(armlocal_opts_set(&o, "lro-ms", "0", &err), 0);
    assert_int_equal(armlocal_create(&al, &o, "http://127.0.0.1:9", &err), 0);
    assert_int_equal(al_request(al, "PUT", AL_SUB3 "/resourceGroups/h3", "2021-04-01",
                                "{\"location\":\"westeurope\"}"),
                     201);
    for (size_t i = 0; i < 2; i++) {
        snprintf(path, sizeof(path),
                 AL_SUB3 "/resourceGroups/h3/providers/Microsoft.Storage/storageAccounts/sti%05zu",
                 i);
        assert_in_range(al_request(al, "PUT", path, "2025-06-01",
                                   "{\"location\":\"westeurope\",\"kind\":\"StorageV2\","
                                   "\"sku\":{\"name\":\"Standard_LRS\"}}"),
                        200, 202);
    }
    for (size_t round = 0; round < 2; round++) {
        size_t *out = round ? large : small, w;
        for (size_t i = round ? 100 : 0; i < (round ? 1000u : 100u); i++) {
            snprintf(path, sizeof(path),
                     AL_SUB3 "/resourceGroups/h3/providers/Microsoft.Storage/storageAccounts/"
                             "sti00000/providers/Microsoft.Authorization/locks/l%zu",
                     i);
            assert_in_range(al_request(al, "PUT", path, "2020-05-01",
                                       "{\"properties\":{\"level\":\"CanNotDelete\"}}"),
                            200, 201);
        }
        w = al->work;
        assert_int_equal(al_request(al, "GET", AL_SUB3 "/resources", "2021-04-01", NULL), 200);
        out[0] = al->work - w;
        w = al->work;
        assert_int_equal(
            al_request(al, "GET", AL_SUB3 "/resourceGroups/h3/resources", "2021-04-01", NULL), 200);
        out[1] = al->work - w;
    }
    for (size_t i = 0; i < 2; i++) {
        print_message(
            "armlocal %s list: %zu entries visited next to 100 locks, %zu next to 1,000\n",
            i ? "group" : "subscription", small[i], large[i]);
        assert_true(large[i] <= 2 * small[i] + 20);
    }
    armlocal_free(al);
}

/* Reads every page of query; the rows read, or -1. */
static long al_graph_pages(struct armlocal *al, const char *query)
{
    char *token = NULL;
    long rows = 0, n;
    do {
        if ((n = al_graph_post(al, NULL, query, &token, NULL)) < 0)
            return -1;
        rows += n;
    } while (token);
    return rows;
}

/* An answer read page by page is evaluated once: the later pages of the
 * last queries reuse it while the store is unchanged. Reading 3,000
 * storage accounts in 3 pages visits about 3,000 entries (every page
 * evaluated the whole query again before: 9,000), and so does each of two
 * queries paged at once; after a write the query is evaluated again, with
 * the store's rows. */
static void test_scale__armlocal_graph_pages_evaluated_once(void **state)
{
    struct armlocal_opts o = ARMLOCAL_OPTS_INIT;
    struct errbuf err = ERRBUF_INIT;
    struct armlocal *al;
    const char *query = "resources | where type =~ 'microsoft.storage/storageaccounts' and "
                        "location =~ 'westeurope' | project id";
    size_t w;
    (void)state;
    assert_int_equal(armlocal_opts_set(&o, "lro-ms", "0", &err), 0);
    assert_int_equal(armlocal_create(&al, &o, "http://127.0.0.1:9", &err), 0);
    for (size_t g = 1; g <= 10; g++) {
        char rg[256];
        snprintf(rg, sizeof(rg), AL_SUB "/resourceGroups/g%zu", g);
        assert_int_equal(al_request(al, "PUT", rg, "2021-04-01", "{\"location\":\"westeurope\"}"),
                         201);
    }
    for (size_t i = 0; i < 3000; i++)
        al_put_storage(al, i % 2 ? "g1" : "g2", i);
    w = al->work;
    assert_int_equal(al_graph_pages(al, query), 3000);
    print_message("armlocal graph: 3,000 rows in 3 pages visited %zu entries\n", al->work - w);
    assert_true(al->work - w <= 4 * 3000 / 3 + 100);
    /* two queries paged at once, as amlsec's rounds send them: each evaluated once */
    {
        const char *other = "resources | where type =~ 'microsoft.storage/storageaccounts' | "
                            "project id, name";
        char *ta = NULL, *tb = NULL;
        long ra = 0, rb = 0;
        w = al->work;
        do {
            ra += al_graph_post(al, NULL, query, &ta, NULL);
            rb += al_graph_post(al, NULL, other, &tb, NULL);
        } while (ta || tb);
        assert_int_equal(ra, 3000);
        assert_int_equal(rb, 3000);
        print_message("armlocal graph: two 3-page queries interleaved visited %zu entries\n",
                      al->work - w);
        assert_true(al->work - w <= 8 * 3000 / 3 + 100);
    }
    /* the same query again after a write: evaluated again, with the new account */
    al_put_storage(al, "g3", 99999);
    assert_int_equal(al_graph_pages(al, query), 3001);
    armlocal_free(al);
}

/* check (and validate, plan) gives each rule finding the address of the
 * block holding it: the blocks sorted by file and start, a binary search
 * per finding. 1,500 stacks (7,501 blocks, 7,500+ findings) visit a few
 * blocks per finding (a scan of the blocks per finding visited about 28
 * million). The addresses are the blocks' own. */
static void test_scale__check_findings_addressed_through_sorted_blocks(void **state)
{
    const size_t stacks = 1500;
    char *dir = write_stacks(stacks);
    struct diag_list diags;
    struct finding_list fl;
    struct config *cfg;
    size_t work, addressed = 0;
    (void)state;
    diag_list_init(&diags);
    finding_list_init(&fl);
    cfg = load(dir, &diags);
    rules_run(cfg, &diags);
    assert_int_equal(findings_from_diags(&fl, &diags), 0);
    assert_true(fl.n >= 5 * stacks);
    work = findings_address_by_block(&fl, cfg);
    print_message("check: %zu findings addressed visiting %zu blocks\n", fl.n, work);
    assert_true(work <= 16 * fl.n);
    for (size_t i = 0; i < fl.n; i++) {
        const struct finding *f = &fl.items[i];
        const struct cfg_resource *res = NULL;
        if (f->file == NULL)
            continue;
        assert_non_null(f->address);
        addressed++;
        for (size_t r = 0; r < cfg->nresources && res == NULL; r++)
            if (strcmp(cfg->resources[r].address, f->address) == 0)
                res = &cfg->resources[r];
        assert_non_null(res);
        {
            struct src_pos a = src_loc_start(&res->block->loc), b = src_loc_stop(&res->block->loc);
            assert_true(f->line > a.line || (f->line == a.line && f->col >= a.col));
            assert_true(f->line < b.line || (f->line == b.line && f->col <= b.col));
        }
    }
    assert_true(addressed >= 5 * stacks);
    finding_list_release(&fl);
    config_free(cfg);
    diag_list_release(&diags);
    remove_dir(dir);
}

static size_t discard_body(char *p, size_t size, size_t n, void *data)
{
    (void)p;
    (void)data;
    return size * n;
}

/* The local cloud listens on a port per vault (its data plane), so a store
 * of a thousand stacks holds more than FD_SETSIZE (1,024) descriptors, and
 * every connection it accepts after them has a descriptor past it: those
 * are served like the first (a select()-based server reset them, and
 * amlsec retried each request with backoff: drift of 50,000 resources saw
 * 655 resets in 40 s). 1,100 descriptors held open stand for the vaults. */
static void test_scale__armlocal_serves_descriptors_past_fd_setsize(void **state)
{
    struct armlocal_opts o = ARMLOCAL_OPTS_INIT;
    struct errbuf err = ERRBUF_INIT;
    struct armlocal *al = NULL;
    int held[1100];
    char url[256];
    struct rlimit rl;
    (void)state;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur < 1300) {
        if (rl.rlim_max < 1300) {
            print_message("RLIMIT_NOFILE %lu: cannot hold 1,100 descriptors\n",
                          (unsigned long)rl.rlim_max);
            skip();
        }
        rl.rlim_cur = rl.rlim_max < 4096 ? rl.rlim_max : 4096;
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
    }
    for (size_t i = 0; i < sizeof(held) / sizeof(held[0]); i++)
        assert_true((held[i] = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0);
    assert_true(held[sizeof(held) / sizeof(held[0]) - 1] >= FD_SETSIZE);
    assert_int_equal(armlocal_opts_set(&o, "lro-ms", "0", &err), 0);
    if (armlocal_start(&al, &o, &err) < 0)
        print_message("armlocal_start: %s\n", err.msg);
    assert_non_null(al);
    snprintf(url, sizeof(url), "%s" AL_SUB "/resourcegroups?api-version=2021-04-01",
             armlocal_base_url(al));
    for (int k = 0; k < 3; k++) {
        CURL *h = curl_easy_init();
        long status = 0;
        CURLcode rc;
        assert_non_null(h);
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard_body);
        curl_easy_setopt(h, CURLOPT_TIMEOUT, 20L);
        rc = curl_easy_perform(h);
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_cleanup(h);
        if (rc != CURLE_OK)
            print_message("request %d: %s\n", k, curl_easy_strerror(rc));
        assert_int_equal(rc, CURLE_OK);
        assert_int_equal(status, 200);
    }
    armlocal_stop(al);
    for (size_t i = 0; i < sizeof(held) / sizeof(held[0]); i++)
        close(held[i]);
}

/* Each vault's data plane listens on a port of its own: the ports are
 * found by name (a vault's URI) and by number (a connection on one)
 * through indexes, and the acceptor waits on them through epoll, which
 * each new port joins (it rebuilt and polled the set of every port for
 * each one). 400 vaults: a few entries visited per port (a scan per
 * look-up and a set rebuilt per port visited some 160,000), and a vault's
 * port still answers. */
static void test_scale__armlocal_vault_ports_indexed(void **state)
{
    struct armlocal_opts o = ARMLOCAL_OPTS_INIT;
    struct errbuf err = ERRBUF_INIT;
    struct armlocal *al = NULL;
    char base[600], first[600] = "", url[700];
    const size_t n = 400;
    size_t work;
    (void)state;
    assert_int_equal(armlocal_opts_set(&o, "lro-ms", "0", &err), 0);
    assert_int_equal(armlocal_start(&al, &o, &err), 0);
    for (size_t i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof(name), "kv-port-%03zu", i);
        pthread_mutex_lock(&al->mu);
        al_vault_base(al, name, base, sizeof(base));
        pthread_mutex_unlock(&al->mu);
        if (i == 0)
            snprintf(first, sizeof(first), "%s", base);
        /* the same name again: the same port */
        pthread_mutex_lock(&al->mu);
        al_vault_base(al, name, url, sizeof(url));
        pthread_mutex_unlock(&al->mu);
        assert_string_equal(url, base);
    }
    assert_int_equal(al->nvports, n);
    pthread_mutex_lock(&al->vport_mu);
    work = al->vport_work;
    pthread_mutex_unlock(&al->vport_mu);
    print_message("armlocal: %zu vault ports, look-ups and the acceptor visited %zu entries\n", n,
                  work);
    assert_true(work <= 8 * n);
    /* a vault's data plane answers on its port */
    snprintf(url, sizeof(url), "%skeys?api-version=7.4", first);
    {
        CURL *h = curl_easy_init();
        long status = 0;
        assert_non_null(h);
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard_body);
        curl_easy_setopt(h, CURLOPT_TIMEOUT, 20L);
        assert_int_equal(curl_easy_perform(h), CURLE_OK);
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_cleanup(h);
        assert_true(status >= 200 && status < 500);
    }
    armlocal_stop(al);
}

/* The work of loading a module called with for_each over n keys and a
 * resource with for_each over the same keys reading
 * module.team[each.key].rg: see below. */
/* A module called with for_each over n keys and a resource with for_each
 * over the same keys reading module.team[each.key].rg. */
static char *module_key_dir(size_t n, const char *extra)
{
    char *dir, path[160];
    FILE *f = new_config(&dir);
    fputs("locals {\n  teams = [", f);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%s\"t%05zu\"", i ? ", " : "", i);
    fputs("]\n}\nmodule \"team\" {\n  for_each = local.teams\n  source = \"./modules/team\"\n"
          "  team = each.key\n}\nresource_group \"ref\" {\n  for_each = local.teams\n"
          "  name = \"x-${module.team[each.key].rg}\"\n}\n",
          f);
    fputs(extra, f);
    assert_int_equal(fclose(f), 0);
    snprintf(path, sizeof(path), "%s/modules", dir);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(path, sizeof(path), "%s/modules/team", dir);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(path, sizeof(path), "%s/modules/team/main.amlsec", dir);
    assert_non_null(f = fopen(path, "w"));
    fputs(
        "variable \"team\" {\n  type = string\n}\nresource_group \"team\" {\n"
        "  name = \"rg-${var.team}\"\n}\noutput \"rg\" {\n  value = resource_group.team.name\n}\n",
        f);
    assert_int_equal(fclose(f), 0);
    return dir;
}

static void module_key_dir_remove(char *dir)
{
    char path[160];
    snprintf(path, sizeof(path), "%s/modules/team/main.amlsec", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/modules/team", dir);
    rmdir(path);
    snprintf(path, sizeof(path), "%s/modules", dir);
    rmdir(path);
    remove_dir(dir);
}

/* The work of loading module_key_dir(n): see below. */
static size_t module_key_work(size_t n)
{
    char *dir = module_key_dir(n, "");
    struct diag_list diags;
    struct config *cfg;
    size_t work;
    diag_list_init(&diags);
    cfg = load(dir, &diags);
    assert_int_equal(diags.errors, 0);
    {
        const struct cfg_resource *ref = config_find(cfg, false, "resource_group", "ref");
        const struct cfg_instance *last;
        char want[64];
        assert_non_null(ref);
        assert_int_equal(ref->ninstances, n);
        last = &ref->instances[n - 1];
        snprintf(want, sizeof(want), "x-rg-t%05zu", n - 1);
        assert_string_equal(json_string_value(json_object_get(last->attrs, "name")), want);
    }
    work = config_lookup_work(cfg);
    config_free(cfg);
    diag_list_release(&diags);
    module_key_dir_remove(dir);
    return work;
}

/* module.NAME["key"] is one look-up of the call and one of the key (the
 * call's key index), not a scan of every module instance per reference
 * (n^2 / 2 instances visited: 2 million at 2,000): the work per reference
 * stays flat from 200 to 2,000 instances. */
static void test_scale__module_key_indexed(void **state)
{
    size_t small = 200, large = 2000, ws, wl;
    (void)state;
    ws = module_key_work(small);
    wl = module_key_work(large);
    print_message("module look-ups: %zu entries at %zu instances, %zu at %zu\n", ws, small, wl,
                  large);
    assert_true(wl <= 4 * large);
    assert_true(wl <= 11 * ws);
}

/* Each of n instances reading the whole call (length(module.team))
 * depends on every instance of it: n^2 edges. Telling a repeated edge is
 * one check per edge, not a scan of the node's edges so far (n^3 / 2
 * checks: 125 million at 1,000). */
static void test_scale__depgraph_repeated_edges_constant(void **state)
{
    const size_t n = 1000;
    char *dir = module_key_dir(n, "resource_group \"all\" {\n  for_each = local.teams\n"
                                  "  name = \"a-${length(module.team)}-${each.key}\"\n}\n");
    struct diag_list diags;
    struct errbuf err = ERRBUF_INIT;
    struct depgraph *g = NULL;
    struct config *cfg;
    size_t edges = 0;
    long ref;
    (void)state;
    diag_list_init(&diags);
    cfg = load(dir, &diags);
    assert_int_equal(diags.errors, 0);
    assert_int_equal(depgraph_build(&g, cfg, &err), 0);
    for (size_t i = 0; i < g->n; i++)
        edges += g->nodes[i].ndeps;
    print_message("depgraph: %zu edges, %zu checks\n", edges, g->edge_checks);
    assert_true(edges >= n * n);
    assert_true(g->edge_checks <= 2 * edges);
    assert_true((ref = depgraph_find(g, "resource_group.all[\"t00999\"]")) >= 0);
    assert_true(g->nodes[ref].ndeps >= n);
    depgraph_free(g);
    config_free(cfg);
    diag_list_release(&diags);
    module_key_dir_remove(dir);
}

static int count_output(struct buf *b, void *data)
{
    *(size_t *)data += b->len;
    buf_reset(b);
    return 0;
}

/* The text of the plan file plan -out writes for n workspace stacks
 * (their creates) in *file (initialised here); the plan's changes. */
static size_t saved_plan_text(size_t stacks, struct buf *file)
{
    char *dir = write_stacks(stacks), path[160];
    struct diag_list diags;
    struct config *cfg;
    struct plan *plan = NULL;
    struct plan_opts o;
    struct state st;
    struct crypt_keys keys;
    struct errbuf err = ERRBUF_INIT;
    size_t n;
    diag_list_init(&diags);
    cfg = load(dir, &diags);
    assert_int_equal(state_init(&st, &err), 0);
    memset(&o, 0, sizeof(o));
    assert_int_equal(plan_build(&plan, cfg, &st, NULL, &o, &diags, &err), 0);
    plan->configuration_of = cfg;
    snprintf(path, sizeof(path), "%s/main.plan", dir);
    crypt_keys_init(&keys);
    assert_int_equal(planfile_write(path, plan, &keys, NULL, &err), 0);
    buf_init(file, 0);
    assert_int_equal(file_read_all(file, path, (size_t)64 << 20, &err), 0);
    n = plan->n;
    unlink(path);
    crypt_keys_release(&keys);
    plan_free(plan);
    state_release(&st);
    config_free(cfg);
    diag_list_release(&diags);
    remove_dir(dir);
    return n;
}

/* show -json PLAN (and apply PLAN) reads the saved plan a change at a time:
 * each parsed, taken and freed, so what the read holds beyond the plan it
 * returns does not grow with it (the file's whole tree, held while the
 * plan was made from it, was ~6 times the file's size: 0.6 GB at 50,000
 * resources). It then makes, writes and frees one change (one values
 * resource, one configuration block) at a time: the JSON alive while it
 * writes grows by a position per resource, not the document (which, built
 * whole first, held ~5 KB a change: 0.3 GB at 50,000 resources, with the
 * time to build and free it). */
static void test_scale__show_json_streamed(void **state)
{
    const size_t sizes[2] = {40, 400};
    long peak[2], transient[2], changes[2];
    size_t out_len[2], file_len[2];
    (void)state;
    for (int s = 0; s < 2; s++) {
        struct plan *back = NULL;
        struct crypt_keys keys;
        struct errbuf err = ERRBUF_INIT;
        struct buf b, file;
        struct jsonw_pretty w = {&b, 2, count_output, &out_len[s]};
        json_t *root = NULL, *drift;
        saved_plan_text(sizes[s], &file);
        file_len[s] = file.len;
        crypt_keys_init(&keys);
        alloc_live = alloc_peak = 0;
        alloc_watch = true;
        assert_int_equal(
            planfile_decode(&back, &root, file.ptr, file.len, "main.plan", &keys, NULL, NULL, &err),
            0);
        drift = json_incref(json_object_get(root, "resource_drift"));
        json_decref(root);
        alloc_watch = false;
        transient[s] = alloc_peak - alloc_live;
        buf_release(&file);
        assert_non_null(back->configuration);
        changes[s] = (long)back->n;
        buf_init(&b, 0);
        out_len[s] = 0;
        alloc_live = alloc_peak = 0;
        alloc_watch = true;
        assert_int_equal(show_terraform_json(&w, back, drift, true, NULL), 0);
        alloc_watch = false;
        assert_int_equal(count_output(&b, &out_len[s]), 0);
        peak[s] = alloc_peak;
        buf_release(&b);
        json_decref(drift);
        plan_free(back);
        crypt_keys_release(&keys);
    }
    print_message("plan read: %zu and %zu bytes read with at most %ld and %ld bytes of JSON alive "
                  "beyond the plan's\n",
                  file_len[0], file_len[1], transient[0], transient[1]);
    print_message("show -json: %zu and %zu bytes written with at most %ld and %ld bytes of JSON "
                  "alive (%ld and %ld changes)\n",
                  out_len[0], out_len[1], peak[0], peak[1], changes[0], changes[1]);
    assert_true(file_len[1] > 9 * file_len[0] && out_len[1] > 9 * out_len[0]);
    /* ten times the changes: the read's extra, one change and a few members */
    assert_true(transient[1] < 2 * transient[0] + 65536);
    assert_true((size_t)transient[1] < file_len[1] / 10);
    /* the writing: a position per resource (its module's list, the
     * configuration's), the policy check's few bytes per request; not the
     * document */
    assert_true(peak[1] - peak[0] < 500 * (changes[1] - changes[0]));
    assert_true((size_t)peak[1] < out_len[1] / 4);
}

/* show -json reads a saved plan's request bodies as text, unparsed (a
 * fifth of the file, and of show's time at 50,000 resources): its output is
 * the same byte for byte, no body is parsed when no policy is evaluated,
 * and one parsed when asked for is the one the whole read gives. */
static void test_scale__show_reads_no_body(void **state)
{
    char path[] = "/tmp/amlsec-unit-show-XXXXXX";
    struct plan *whole = NULL, *text = NULL;
    struct crypt_keys keys;
    struct errbuf err = ERRBUF_INIT;
    struct buf file, out[2];
    size_t bodies = 0, loads;
    int fd;
    (void)state;
    saved_plan_text(40, &file);
    assert_true((fd = mkstemp(path)) >= 0);
    assert_int_equal(write(fd, file.ptr, file.len), (ssize_t)file.len);
    close(fd);
    crypt_keys_init(&keys);
    assert_int_equal(planfile_read_flags(&whole, NULL, path, &keys, NULL, NULL, 0, &err), 0);
    state_loads = 0;
    assert_int_equal(
        planfile_read_flags(&text, NULL, path, &keys, NULL, NULL, PLANFILE_BODIES_AS_TEXT, &err),
        0);
    assert_int_equal(text->n, whole->n);
    for (size_t i = 0; i < text->n; i++) {
        assert_true(whole->changes[i].body != NULL);
        assert_null(text->changes[i].body);
        assert_non_null(text->changes[i].body_text);
        bodies++;
    }
    for (int k = 0; k < 2; k++) {
        struct jsonw_pretty w = {&out[k], 2, NULL, NULL};
        buf_init(&out[k], 0);
        assert_int_equal(show_terraform_json(&w, k ? text : whole, NULL, true, NULL), 0);
    }
    assert_int_equal(out[0].len, out[1].len);
    assert_memory_equal(out[0].ptr, out[1].ptr, out[0].len);
    /* no policy here (no cache, none in the plan): no body was parsed */
    loads = state_loads;
    print_message("%zu bodies left as text; %zu texts parsed while reading and showing\n", bodies,
                  loads);
    assert_int_equal(loads, 0);
    for (size_t i = 0; i < text->n; i++) {
        assert_non_null(plan_change_body(&text->changes[i]));
        assert_true(json_equal(text->changes[i].body, whole->changes[i].body));
        assert_null(text->changes[i].body_text);
    }
    assert_int_equal(state_loads, bodies);
    buf_release(&out[0]);
    buf_release(&out[1]);
    plan_free(whole);
    plan_free(text);
    crypt_keys_release(&keys);
    buf_release(&file);
    unlink(path);
}

/* A plan file's inner text (the plan member's), wrapped as planfile_write
 * lays a file out, with its checksum, and decoded. */
static int decode_wrapped(struct plan **out, json_t **root, const char *inner, struct errbuf *err)
{
    struct crypt_keys keys;
    struct buf f;
    unsigned char md[32];
    unsigned int n = 0;
    int rc;
    buf_init(&f, 0);
    assert_int_equal(EVP_Digest(inner, strlen(inner), md, &n, EVP_sha256(), NULL), 1);
    buf_adds(&f, "{\"amlsec_plan\":1,\"sha256\":\"");
    for (unsigned i = 0; i < n; i++)
        buf_addf(&f, "%02x", md[i]);
    buf_adds(&f, "\",\"plan\":");
    buf_adds(&f, inner);
    buf_adds(&f, "}\n");
    crypt_keys_init(&keys);
    *out = NULL;
    rc = planfile_decode(out, root, f.ptr, f.len, "t.plan", &keys, NULL, NULL, err);
    crypt_keys_release(&keys);
    buf_release(&f);
    return rc;
}

/* The plan read a change at a time (read_in_pieces) accepts what reading
 * the file whole accepts, and nothing else: what it does not expect (a
 * repeated member, a control character, a trailing comma, a change it
 * cannot take) is read whole, with the same result and message. */
static void test_scale__plan_read_in_pieces_as_whole(void **state)
{
    static const char *const head = "{\"format_version\":\"1.0\",\"resource_changes\":";
    static const char *const tail = ",\"state\":{\"lineage\":\"l\",\"serial\":1}}";
    static const char *const del =
        "{\"address\":\"storage_account.%s\",\"type\":\"storage_account\",\"change\":"
        "{\"actions\":[\"delete\"],\"before\":{\"name\":\"%s\"}},\"after_steps\":[%s]}";
    char a[512], b[512], text[2048];
    struct errbuf err = ERRBUF_INIT;
    struct plan *p = NULL;
    json_t *root = NULL;
    (void)state;
    snprintf(a, sizeof(a), del, "a", "sta", "");
    snprintf(b, sizeof(b), del, "b", "stb", "\"storage_account.a\"");
    /* read in pieces: two changes, the second after the first */
    snprintf(text, sizeof(text), "%s[%s,%s]%s", head, a, b, tail);
    assert_int_equal(decode_wrapped(&p, &root, text, &err), 0);
    assert_null(json_object_get(root, "resource_changes")); /* read in pieces */
    json_decref(root);
    assert_int_equal(p->n, 2);
    assert_int_equal(p->ndestroy, 2);
    assert_int_equal(p->changes[1].ndeps, 1);
    assert_int_equal(p->changes[1].deps[0], 0);
    assert_string_equal(p->lineage, "l");
    plan_free(p);
    /* resource_changes twice: the last, as jansson reads the file whole */
    snprintf(text, sizeof(text), "%s[%s,%s],\"resource_changes\":[%s]%s", head, a, b, b, tail);
    assert_int_equal(decode_wrapped(&p, &root, text, &err), 0);
    assert_non_null(json_object_get(root, "resource_changes")); /* read whole */
    json_decref(root);
    assert_int_equal(p->n, 1);
    assert_string_equal(p->changes[0].address, "storage_account.b");
    plan_free(p);
    /* a trailing comma, a control character in a name: not JSON */
    snprintf(text, sizeof(text), "%s[%s,%s,]%s", head, a, b, tail);
    assert_int_equal(decode_wrapped(&p, NULL, text, &err), AMLSEC_EPARSE);
    assert_non_null(strstr(err.msg, "is not an amlsec plan file"));
    snprintf(text, sizeof(text), "%s[%s],\"x\x01\":1%s", head, a, tail);
    assert_int_equal(decode_wrapped(&p, NULL, text, &err), AMLSEC_EPARSE);
    assert_non_null(strstr(err.msg, "is not an amlsec plan file"));
    /* a change it cannot take: plan_from_json's message */
    snprintf(text, sizeof(text), "%s[%s,{\"type\":\"x\"}]%s", head, a, tail);
    assert_int_equal(decode_wrapped(&p, NULL, text, &err), AMLSEC_EPARSE);
    assert_non_null(strstr(err.msg, "plan file 't.plan': resource_changes[1] is incomplete"));
    /* show -json of a configuration entry lacking a member (a crafted plan
     * with a good checksum) leaves the block out; the next is written (the
     * writer crashed on it before) */
    {
        struct buf wb;
        struct jsonw_pretty w = {&wb, 2, NULL, NULL};
        json_t *doc, *blocks;
        snprintf(text, sizeof(text),
                 "{\"configuration\":[{\"address\":\"storage_account.a\",\"type\":"
                 "\"storage_account\",\"name\":\"a\",\"expressions\":{}},{\"address\":"
                 "\"storage_account.b\",\"mode\":\"managed\",\"type\":\"storage_account\","
                 "\"name\":\"b\",\"expressions\":{}}],%s[%s]%s",
                 head + 1, a, tail);
        assert_int_equal(decode_wrapped(&p, NULL, text, &err), 0);
        buf_init(&wb, 0);
        assert_int_equal(show_terraform_json(&w, p, NULL, true, NULL), 0);
        doc = json_loadb(wb.ptr, wb.len, 0, NULL);
        assert_non_null(doc);
        blocks = json_object_get(
            json_object_get(json_object_get(doc, "configuration"), "root_module"), "resources");
        assert_int_equal(json_array_size(blocks), 1);
        assert_string_equal(json_string_value(json_object_get(json_array_get(blocks, 0), "name")),
                            "b");
        json_decref(doc);
        buf_release(&wb);
        plan_free(p);
        p = NULL;
    }
    /* no state: the plan's own message, whichever member is wrong first */
    snprintf(text, sizeof(text), "%s[%s,{\"type\":\"x\"}]}", head, a);
    assert_int_equal(decode_wrapped(&p, NULL, text, &err), AMLSEC_EPARSE);
    assert_non_null(strstr(err.msg, "plan lacks resource_changes or state"));
    assert_null(p);
}

/* A saved plan is read in one pass: jansson reads each change in place
 * (jsonw_loadb_member), and amlsec's own scan of the text (for the value's
 * end, for numbers jansson cannot hold exactly) runs only over a change
 * that holds a decimal or an integer beyond int64. Before, each change's
 * text was scanned twice before jansson read it (its end, then its
 * numbers): twice the file, 7% of show -json at 50,000 resources. */
static void test_scale__plan_read_scans_once(void **state)
{
    const size_t sizes[2] = {40, 400};
    size_t scanned[2], file_len[2];
    (void)state;
    for (int s = 0; s < 2; s++) {
        struct plan *back = NULL;
        struct crypt_keys keys;
        struct errbuf err = ERRBUF_INIT;
        struct buf file;
        json_t *root = NULL;
        size_t n = saved_plan_text(sizes[s], &file), w0;
        file_len[s] = file.len;
        crypt_keys_init(&keys);
        w0 = jsonw_scanned();
        assert_int_equal(
            planfile_decode(&back, &root, file.ptr, file.len, "main.plan", &keys, NULL, NULL, &err),
            0);
        scanned[s] = jsonw_scanned() - w0;
        assert_null(json_object_get(root, "resource_changes")); /* read in pieces */
        assert_int_equal(back->n, n);
        json_decref(root);
        buf_release(&file);
        plan_free(back);
        crypt_keys_release(&keys);
    }
    print_message("plan read: %zu and %zu bytes, %zu and %zu of them scanned before jansson\n",
                  file_len[0], file_len[1], scanned[0], scanned[1]);
    assert_true(file_len[1] > 9 * file_len[0]);
    /* the plan's few scalar members, at both sizes */
    assert_int_equal(scanned[1], scanned[0]);
    assert_true(scanned[1] < 256);
    {
        /* a change holding a decimal or a big number is scanned (and read
         * exactly); the others are not */
        static const char *const head = "{\"format_version\":\"1.0\",\"resource_changes\":[";
        static const char *const tail = "],\"state\":{\"lineage\":\"l\",\"serial\":1}}";
        static const char *const del =
            "{\"address\":\"storage_account.%s\",\"type\":\"storage_account\",\"change\":"
            "{\"actions\":[\"delete\"],\"before\":{\"name\":\"%s\",\"n\":%s}},\"after_steps\":[]}";
        char a[512], b[512], c[512], text[4096];
        struct errbuf err = ERRBUF_INIT;
        struct plan *p = NULL;
        size_t w0;
        snprintf(a, sizeof(a), del, "a", "sta", "12");
        snprintf(b, sizeof(b), del, "b", "stb", "1e20");
        snprintf(c, sizeof(c), del, "c", "stc", "-1180591620717411303424");
        snprintf(text, sizeof(text), "%s%s,%s,%s,%s%s", head, a, b, a, c, tail);
        w0 = jsonw_scanned();
        assert_int_equal(decode_wrapped(&p, NULL, text, &err), 0);
        /* b's and c's text twice (to the byte after it, then its numbers),
         * and the format's ("1.0") */
        assert_int_equal(jsonw_scanned() - w0, 2 * strlen(b) + 1 + 2 * strlen(c) + 1 + 2 * 5 + 1);
        assert_int_equal(p->n, 4);
        assert_true(json_is_integer(json_object_get(p->changes[0].before, "n")));
        assert_string_equal(value_big_digits(json_object_get(p->changes[1].before, "n")),
                            "100000000000000000000");
        assert_string_equal(value_big_digits(json_object_get(p->changes[3].before, "n")),
                            "-1180591620717411303424");
        plan_free(p);
    }
}

/* Registers n secrets ("<tag>-NNNNNN-key", one prefix shared by all) and
 * masks n log lines each quoting one: the trie edges looked up. */
static size_t secret_scrub_work(const char *tag, size_t n)
{
    size_t w0 = cli_secret_work();
    char secret[64], line[160], want[160];
    struct buf clean;
    buf_init(&clean, 0);
    for (size_t i = 0; i < n; i++) {
        snprintf(secret, sizeof(secret), "%s-%06zu-key", tag, i);
        cli_secret_add(secret);
        cli_secret_add(secret); /* a duplicate is told, not stored twice */
    }
    for (size_t i = 0; i < n; i++) {
        snprintf(line, sizeof(line), "GET /vaults/kv%zu/secrets/s?v=%s-%06zu-key (%s-%06zu)", i,
                 tag, i, tag, i);
        snprintf(want, sizeof(want), "GET /vaults/kv%zu/secrets/s?v=*** (%s-%06zu)", i, tag, i);
        assert_string_equal(cli_scrub(&clean, line), want);
    }
    buf_release(&clean);
    return cli_secret_work() - w0;
}

/* AMLSEC_LOG=debug masks every line with the run's secrets (cli_scrub):
 * the secrets are one trie, each position of a line followed down it as far
 * as the text goes, instead of every secret compared at every byte (and
 * every earlier secret compared per added one): 13.8 s of CPU instead of
 * 1.2 for drift at 10,000 resources. The work per secret and line stays flat
 * from 1,000 to 10,000 secrets; the longest secret is still masked whole. */
static void test_scale__secret_scrub_linear(void **state)
{
    size_t small = 1000, large = 10000, ws, wl;
    struct buf clean;
    (void)state;
    buf_init(&clean, 0);
    cli_secret_add("abc-secret");
    cli_secret_add("abc-secret-long");
    cli_secret_add("ab"); /* too short to register */
    assert_string_equal(cli_scrub(&clean, "[abc-secret-long] [abc-secret-lon] ab"),
                        "[***] [***-lon] ab");
    assert_string_equal(cli_scrub(&clean, "xabc-secret-long"), "x***");
    buf_release(&clean);
    ws = secret_scrub_work("canary-s", small);
    wl = secret_scrub_work("canary-l", large);
    print_message("secret masking: %zu look-ups at %zu secrets, %zu at %zu\n", ws, small, wl,
                  large);
    assert_true(wl <= 100 * large);
    assert_true(wl <= 11 * ws);
}

/* validate's values: jansson's blocks come one after the other from one
 * region (arena_json_install, as cmd_validate does), not from malloc one
 * by one (39 blocks per instance, each with its header and its own page
 * faults). Counted in a child process, since the allocator is never
 * uninstalled: the jansson blocks that reach malloc per instance (every
 * one before: 39) and the region's bytes per instance, at two sizes; and
 * the region's chunks, each populated as it is taken (MADV_POPULATE_WRITE,
 * Linux 5.14 and later), not faulted in page by page as its blocks are
 * first written (none was before). */
static size_t outside_blocks;
static json_malloc_t region_malloc;

static void *malloc_outside_counted(size_t n)
{
    void *p = region_malloc(n);
    if (p && !arena_json_owns(p))
        outside_blocks++;
    return p;
}

/* Fills out[0..1] with the jansson blocks outside the region and the
 * region's bytes, per 1,000 instances, for validate's load, schema check
 * and rules over `stacks` stacks, and out[2..3] with the region's chunks
 * taken and populated so far. Runs in the child. */
static void region_use(size_t stacks, size_t out[4])
{
    char *dir = write_stacks(stacks);
    struct diag_list diags;
    struct config *cfg;
    size_t used = arena_json_used(), outside = outside_blocks, ninst = 0;
    diag_list_init(&diags);
    cfg = load(dir, &diags);
    schema_validate_config(cfg, &diags);
    rules_run(cfg, &diags);
    for (size_t r = 0; r < cfg->nresources; r++)
        ninst += cfg->resources[r].ninstances;
    out[0] = (outside_blocks - outside) * 1000 / ninst;
    out[1] = (arena_json_used() - used) * 1000 / ninst;
    arena_json_chunks(&out[2], &out[3]);
    config_free(cfg);
    diag_list_release(&diags);
    remove_dir(dir);
}

static void test_scale__validate_values_in_one_region(void **state)
{
    const size_t sizes[2] = {40, 800};
    size_t got[2][4];
    int fds[2], status;
    pid_t pid;
    (void)state;
#if defined(__SANITIZE_ADDRESS__)
    skip(); /* the region is off under AddressSanitizer: every block is malloc'd */
#endif
    assert_int_equal(pipe(fds), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        json_free_t f;
        close(fds[0]);
        if (!arena_json_install())
            _exit(2);
        json_get_alloc_funcs(&region_malloc, &f);
        json_set_alloc_funcs(malloc_outside_counted, f);
        region_use(sizes[0], got[0]);
        region_use(sizes[1], got[1]);
        _exit(write(fds[1], got, sizeof(got)) == (ssize_t)sizeof(got) ? 0 : 3);
    }
    close(fds[1]);
    assert_int_equal(read(fds[0], got, sizeof(got)), (ssize_t)sizeof(got));
    close(fds[0]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    print_message("validate's values: %zu and %zu jansson blocks outside the region, %zu and %zu "
                  "bytes in it, per 1,000 instances at %zu and %zu stacks; %zu chunks taken, %zu "
                  "populated\n",
                  got[0][0], got[1][0], got[0][1], got[1][1], sizes[0], sizes[1], got[1][2],
                  got[1][3]);
    /* the region in use, every chunk populated as it was taken */
    assert_true(got[1][2] > got[0][2]);
    assert_int_equal(got[0][3], got[0][2]);
    assert_int_equal(got[1][3], got[1][2]);
    for (int s = 0; s < 2; s++) {
        /* a few large blocks (tables of many keys) are malloc'd */
        assert_true(got[s][0] <= 100);
        /* the values' bytes per instance: linear, and no more than today */
        assert_true(got[s][1] <= 3200 * 1000);
    }
    assert_true(got[1][1] <= got[0][1] * 11 / 10);
}

/* validate's evaluation builds little per instance: an instance with no
 * sensitive path of its own shares its kind's array of paths (or the
 * empty one) rather than holding an array and a copy of each path; with
 * lazy_tags (validate's load) only the instances a reference reads get
 * their unknowns tagged with their origin. Counted at two sizes: the
 * jansson allocations of the load per 1,000 instances, and the distinct
 * arrays of sensitive paths (one per instance before). */
static void lean_load(size_t stacks, bool lazy, size_t *allocs, size_t *arrays)
{
    json_malloc_t saved_malloc;
    json_free_t saved_free;
    char *dir = write_stacks(stacks);
    struct diag_list diags;
    struct config_opts opts;
    struct config *cfg = NULL;
    struct errbuf err = ERRBUF_INIT;
    const json_t *seen[16];
    size_t nseen = 0, ninst = 0;
    const char *from, *attr;
    memset(&opts, 0, sizeof(opts));
    opts.path = dir;
    opts.kinds = schema_kind_names;
    opts.resolver = resolve_resolver();
    opts.lazy_tags = lazy;
    diag_list_init(&diags);
    json_allocs = 0;
    json_get_alloc_funcs(&saved_malloc, &saved_free);
    json_set_alloc_funcs(malloc_counted, free);
    assert_int_equal(config_load(&cfg, &opts, &diags, &err), 0);
    json_set_alloc_funcs(saved_malloc, saved_free);
    *arrays = 0;
    for (size_t r = 0; r < cfg->nresources; r++)
        for (size_t i = 0; i < cfg->resources[r].ninstances; i++) {
            const struct cfg_instance *in = &cfg->resources[r].instances[i];
            size_t k = 0;
            ninst++;
            assert_true(json_is_array(in->sensitive));
            while (k < nseen && seen[k] != in->sensitive)
                k++;
            if (k == nseen) {
                (*arrays)++;
                if (nseen < sizeof(seen) / sizeof(seen[0]))
                    seen[nseen++] = in->sensitive;
            }
        }
    *allocs = json_allocs * 1000 / ninst;
    {
        const struct cfg_instance *a = config_find_instance(cfg, "app_insights.a0");
        const struct cfg_instance *w = config_find_instance(cfg, "workspace.w0");
        const json_t *kv = json_object_get(w->attrs, "key_vault");
        /* what the catalogue marks is still there (App Insights' keys), and
         * an instance without it has none */
        assert_true(value_path_sensitive(a->sensitive, "instrumentation_key", false));
        assert_true(value_path_sensitive(a->sensitive, "connection_string", false));
        assert_int_equal(json_array_size(w->sensitive), 0);
        /* what a reference reads carries its origin either way */
        assert_true(value_unknown_origin(json_object_get(kv, "provisioning_state"), &from, &attr));
        assert_string_equal(from, "key_vault.v0");
        assert_string_equal(attr, "provisioning_state");
        /* an instance nothing reads: tagged only when the load is not
         * lazy, and its value made only when read */
        assert_int_equal(config_instance_value_made(w) == NULL, lazy);
        assert_true(
            value_is_unknown(json_object_get(config_instance_value(cfg, w), "principal_id")));
        assert_int_equal(
            value_unknown_origin(json_object_get(config_instance_value(cfg, w), "principal_id"),
                                 &from, &attr),
            !lazy);
    }
    config_free(cfg);
    diag_list_release(&diags);
    remove_dir(dir);
}

/* 36,164 before (an array of paths per instance, a copy of each path) */
#define ALLOCS_PER_1000 34000
/* lazy_tags: the workspaces' six tags are not made (nothing reads them),
 * nor their values (27,400 when they were) */
#define LAZY_ALLOCS_PER_1000 25000
static void test_scale__validate_instances_lean(void **state)
{
    size_t allocs[2][2], arrays[2][2];
    (void)state;
    for (int lazy = 0; lazy < 2; lazy++) {
        lean_load(40, lazy, &allocs[lazy][0], &arrays[lazy][0]);
        lean_load(400, lazy, &allocs[lazy][1], &arrays[lazy][1]);
        print_message("evaluation%s: %zu and %zu jansson allocations per 1,000 instances, %zu and "
                      "%zu arrays of sensitive paths, at 40 and 400 stacks\n",
                      lazy ? " (lazy_tags)" : "", allocs[lazy][0], allocs[lazy][1], arrays[lazy][0],
                      arrays[lazy][1]);
        for (int s = 0; s < 2; s++) {
            /* one per kind with paths, and the empty one: not one per instance */
            assert_true(arrays[lazy][s] <= 8);
            assert_true(allocs[lazy][s] <= (lazy ? LAZY_ALLOCS_PER_1000 : ALLOCS_PER_1000));
        }
        assert_true(allocs[lazy][1] <= allocs[lazy][0] * 11 / 10);
    }
}

/* Workspace stacks with what nothing else reads: a private endpoint, a
 * lock, a role assignment and a compute cluster per workspace (the
 * workspace names the cluster as its image build compute), and an output
 * reading the first private endpoint. */
static char *write_leaf_stacks(size_t n)
{
    char *dir;
    FILE *f = new_config(&dir);
    fputs("existing subnet \"pe\" {\n  id = \"/subscriptions/00000000-0000-0000-0000-0000000000be/"
          "resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks/hub/subnets/pe\"\n}\n"
          "output \"pe\" {\n  value = private_endpoint.p0.name\n}\n",
          f);
    for (size_t i = 0; i < n; i++)
        fprintf(f,
                "key_vault \"v%zu\" {\n  resource_group = resource_group.g\n"
                "  name = \"kv-%05zu\"\n  purge_protection = true\n}\n"
                "storage_account \"s%zu\" {\n  resource_group = resource_group.g\n"
                "  name = \"st%05zu\"\n}\n"
                "workspace \"w%zu\" {\n  resource_group = resource_group.g\n"
                "  name = \"mlw-%05zu\"\n  key_vault = key_vault.v%zu\n"
                "  storage_account = storage_account.s%zu\n"
                "  image_build_compute = \"cpu-%zu\"\n}\n"
                "private_endpoint \"p%zu\" {\n  target = workspace.w%zu\n"
                "  subresource = \"amlworkspace\"\n  subnet = existing.subnet.pe.id\n}\n"
                "lock \"l%zu\" {\n  target = workspace.w%zu\n  level = \"CanNotDelete\"\n}\n"
                "role_assignment \"r%zu\" {\n  scope = workspace.w%zu\n"
                "  principal = \"3f2504e0-4f89-11d3-9a0c-0305e8%06zu\"\n"
                "  principal_type = \"Group\"\n  role = \"AzureML Data Scientist\"\n}\n"
                "compute_cluster \"b%zu\" {\n  workspace = workspace.w%zu\n  name = \"cpu-%zu\"\n"
                "  vm_size = \"Standard_DS3_v2\"\n  subnet = existing.subnet.pe.id\n"
                "  scale {\n    max = 2\n  }\n}\n",
                i, i, i, i, i, i, i, i, i, i, i, i, i, i, i, i, i, i, i);
    assert_int_equal(fclose(f), 0);
    return dir;
}

/* validate's load (lazy_tags) makes the value of an instance no resource
 * reads only when something reads it: the load's jansson allocations, the
 * values made by the load and by the schema check and rules after it, and
 * the diagnostics against a load that makes every value. */
static void lazy_values_load(size_t stacks, bool lazy, size_t *allocs, size_t *made,
                             size_t *made_after, struct diag_list *diags, struct config **out)
{
    json_malloc_t saved_malloc;
    json_free_t saved_free;
    char *dir = write_leaf_stacks(stacks);
    struct config_opts opts;
    struct errbuf err = ERRBUF_INIT;
    memset(&opts, 0, sizeof(opts));
    opts.path = dir;
    opts.kinds = schema_kind_names;
    opts.resolver = resolve_resolver();
    opts.lazy_tags = lazy;
    json_allocs = 0;
    json_get_alloc_funcs(&saved_malloc, &saved_free);
    json_set_alloc_funcs(malloc_counted, free);
    assert_int_equal(config_load(out, &opts, diags, &err), 0);
    json_set_alloc_funcs(saved_malloc, saved_free);
    *allocs = json_allocs;
    *made = 0;
    for (size_t r = 0; r < (*out)->nresources; r++)
        for (size_t i = 0; i < (*out)->resources[r].ninstances; i++)
            *made += config_instance_value_made(&(*out)->resources[r].instances[i]) != NULL;
    schema_validate_config(*out, diags);
    rules_run(*out, diags);
    *made_after = 0;
    for (size_t r = 0; r < (*out)->nresources; r++)
        for (size_t i = 0; i < (*out)->resources[r].ninstances; i++)
            *made_after += config_instance_value_made(&(*out)->resources[r].instances[i]) != NULL;
    remove_dir(dir);
}

static void test_scale__validate_values_when_read(void **state)
{
    const size_t stacks = 200, instances = 2 + 7 * stacks;
    size_t allocs[2], made[2], after[2];
    struct diag_list diags[2];
    struct config *cfg[2];
    (void)state;
    for (int lazy = 0; lazy < 2; lazy++) {
        diag_list_init(&diags[lazy]);
        lazy_values_load(stacks, lazy, &allocs[lazy], &made[lazy], &after[lazy], &diags[lazy],
                         &cfg[lazy]);
    }
    print_message("values made by the load: %zu of %zu instances, %zu (lazy_tags); after the "
                  "schema check and rules %zu and %zu; jansson allocations %zu and %zu\n",
                  made[0], instances, made[1], after[0], after[1], allocs[0], allocs[1]);
    assert_int_equal(made[0], instances);
    /* the group, the subnet, the vaults, storage accounts and workspaces,
     * and the endpoint the output reads: not the other endpoints, locks,
     * role assignments and clusters (every one before), and the schema
     * check and rules made none either (the locks' default names, the
     * clusters' given ones read without a value) */
    assert_int_equal(made[1], 2 + 3 * stacks + 1);
    assert_int_equal(after[1], made[1]);
    /* 2,800 values fewer: a fifth of the allocations, at least */
    assert_true(allocs[1] * 5 <= allocs[0] * 4);
    /* the same ids recorded, the same values once made and tagged, the
     * same diagnostics */
    for (size_t r = 0; r < cfg[0]->nresources; r++) {
        const struct cfg_resource *r0 = &cfg[0]->resources[r], *r1 = &cfg[1]->resources[r];
        assert_int_equal(r0->ninstances, r1->ninstances);
        for (size_t i = 0; i < r0->ninstances; i++) {
            const struct cfg_instance *a = &r0->instances[i], *b = &r1->instances[i];
            assert_int_equal(a->id == NULL, b->id == NULL);
            if (a->id)
                assert_string_equal(a->id, b->id);
            config_instance_tag(cfg[1], b);
            assert_true(
                json_equal(config_instance_value(cfg[0], a), config_instance_value(cfg[1], b)));
        }
    }
    assert_int_equal(diags[0].n, diags[1].n);
    assert_true(diags[0].n >= stacks); /* rules found something to compare */
    diag_list_sort(&diags[0]);
    diag_list_sort(&diags[1]);
    for (size_t i = 0; i < diags[0].n; i++) {
        assert_string_equal(diags[0].items[i].code, diags[1].items[i].code);
        assert_string_equal(diags[0].items[i].message, diags[1].items[i].message);
    }
    for (int lazy = 0; lazy < 2; lazy++) {
        config_free(cfg[lazy]);
        diag_list_release(&diags[lazy]);
    }
}

/* Only validate loads lazily (config_opts.lazy_tags) today, but what reads
 * an instance's value must not depend on that: the dependency graph, render
 * and plan read it through config_instance_value, so a lazy load gives
 * them what an eager one does. (Before, they read the value directly: NULL
 * for one left for later, so the graph lacked those ids and render's and
 * plan's requests went to "(known after apply)".) */
static void test_scale__lazy_values_read_by_every_reader(void **state)
{
    char *dir = write_leaf_stacks(3);
    struct config *cfg[2];
    struct diag_list diags[2];
    struct depgraph *g[2];
    struct plan *plan[2] = {NULL, NULL};
    struct render_list rl[2];
    struct state st;
    struct plan_opts o;
    struct errbuf err = ERRBUF_INIT;
    (void)state;
    assert_int_equal(state_init(&st, &err), 0);
    memset(&o, 0, sizeof(o));
    for (int lazy = 0; lazy < 2; lazy++) {
        struct config_opts opts;
        memset(&opts, 0, sizeof(opts));
        opts.path = dir;
        opts.kinds = schema_kind_names;
        opts.resolver = resolve_resolver();
        opts.lazy_tags = lazy;
        diag_list_init(&diags[lazy]);
        assert_int_equal(config_load(&cfg[lazy], &opts, &diags[lazy], &err), 0);
        assert_int_equal(depgraph_build(&g[lazy], cfg[lazy], &err), 0);
        render_list_init(&rl[lazy]);
        for (size_t r = 0; r < cfg[lazy]->nresources; r++)
            for (size_t i = 0; i < cfg[lazy]->resources[r].ninstances; i++)
                assert_int_equal(render_instance(&rl[lazy], cfg[lazy],
                                                 &cfg[lazy]->resources[r].instances[i], true, &err),
                                 0);
        assert_int_equal(plan_build(&plan[lazy], cfg[lazy], &st, NULL, &o, &diags[lazy], &err), 0);
    }
    /* every instance has an id in the graph, with the same edges */
    assert_int_equal(g[1]->n, g[0]->n);
    assert_int_equal(g[0]->nids, g[0]->n);
    assert_int_equal(g[1]->nids, g[0]->nids);
    for (size_t i = 0; i < g[0]->n; i++) {
        assert_int_equal(g[1]->nodes[i].ndeps, g[0]->nodes[i].ndeps);
        for (size_t k = 0; k < g[0]->nodes[i].ndeps; k++)
            assert_int_equal(g[1]->nodes[i].deps[k].to, g[0]->nodes[i].deps[k].to);
    }
    /* the same requests, to the same URLs */
    assert_int_equal(rl[1].n, rl[0].n);
    for (size_t i = 0; i < rl[0].n; i++) {
        assert_string_equal(rl[1].items[i].url, rl[0].items[i].url);
        assert_null(strstr(rl[0].items[i].url, RENDER_UNKNOWN));
        assert_true(rl[0].items[i].body == NULL
                        ? rl[1].items[i].body == NULL
                        : json_equal(rl[1].items[i].body, rl[0].items[i].body));
    }
    /* the same plan */
    assert_int_equal(plan[1]->n, plan[0]->n);
    for (size_t i = 0; i < plan[0]->n; i++) {
        const struct plan_change *a = &plan[0]->changes[i], *b = &plan[1]->changes[i];
        assert_string_equal(b->address, a->address);
        assert_true(a->arm_id ? b->arm_id && strcmp(a->arm_id, b->arm_id) == 0 : !b->arm_id);
        assert_true(json_equal(b->after, a->after));
        assert_true(json_equal(b->body, a->body));
        assert_int_equal(b->ndeps, a->ndeps);
    }
    for (int lazy = 0; lazy < 2; lazy++) {
        plan_free(plan[lazy]);
        render_list_release(&rl[lazy]);
        depgraph_free(g[lazy]);
        config_free(cfg[lazy]);
        diag_list_release(&diags[lazy]);
    }
    state_release(&st);
    remove_dir(dir);
}

/* The edges of module_key_dir(n) with a root resource reading one
 * instance by a literal key and n resources reading another for_each
 * resource's instance by each.key; *work: the instances visited making
 * the reference edges. */
static size_t depgraph_edges(size_t n, size_t *work)
{
    char *dir = module_key_dir(n, "resource_group \"one\" {\n"
                                  "  name = \"o-${module.team[\"t00000\"].rg}\"\n}\n"
                                  "resource_group \"peer\" {\n  for_each = local.teams\n"
                                  "  name = \"p-${resource_group.ref[each.key].name}\"\n}\n");
    struct diag_list diags;
    struct errbuf err = ERRBUF_INIT;
    struct depgraph *g = NULL;
    struct config *cfg;
    size_t edges = 0;
    long x;
    const struct depgraph_node *nd;
    diag_list_init(&diags);
    cfg = load(dir, &diags);
    assert_int_equal(diags.errors, 0);
    assert_int_equal(depgraph_build(&g, cfg, &err), 0);
    assert_int_equal(depgraph_sort(g, &err), 0);
    for (size_t i = 0; i < g->n; i++)
        edges += g->nodes[i].ndeps;
    *work = g->reference_work;
    /* each instance depends on exactly the instance its key names */
    assert_true((x = depgraph_find(g, "resource_group.ref[\"t00042\"]")) >= 0);
    nd = &g->nodes[x];
    assert_int_equal(nd->ndeps, 1);
    assert_string_equal(g->nodes[nd->deps[0].to].inst->address,
                        "module.team[\"t00042\"].resource_group.team");
    assert_true((x = depgraph_find(g, "resource_group.one")) >= 0);
    nd = &g->nodes[x];
    assert_int_equal(nd->ndeps, 1);
    assert_string_equal(g->nodes[nd->deps[0].to].inst->address,
                        "module.team[\"t00000\"].resource_group.team");
    assert_true((x = depgraph_find(g, "resource_group.peer[\"t00042\"]")) >= 0);
    nd = &g->nodes[x];
    assert_int_equal(nd->ndeps, 1);
    assert_string_equal(g->nodes[nd->deps[0].to].inst->address, "resource_group.ref[\"t00042\"]");
    depgraph_free(g);
    config_free(cfg);
    diag_list_release(&diags);
    module_key_dir_remove(dir);
    return edges;
}

/* n instances reading module.team[each.key] (or TYPE.NAME[each.key]) each
 * depend on the one instance the key names, not on every instance of the
 * call or resource (n^2 edges: 1,000,000 at 1,000); the edge count, and
 * the instances visited to make them (not every instance each block refers
 * to, skipped: n^2 again), grow as n from 100 to 1,000 (n^2: 100x). */
static void test_scale__depgraph_edges_per_instance(void **state)
{
    size_t small = 100, large = 1000, es, el, ws, wl;
    (void)state;
    es = depgraph_edges(small, &ws);
    el = depgraph_edges(large, &wl);
    print_message("depgraph: %zu edges at %zu instances, %zu at %zu; %zu and %zu instances "
                  "visited\n",
                  es, small, el, large, ws, wl);
    assert_true(el <= 3 * large);
    assert_true(el * small <= 2 * es * large);
    assert_true(wl <= 5 * large);
    assert_true(wl * small <= 2 * ws * large);
}

/* The policy check of a plan (plan, show -json, check -plan) holds no
 * array of secrets per change for the whole run: a subject's secrets are
 * collected only when a finding quotes a value (an array per change was
 * ~120 bytes each: 6 MB at 50,000). The JSON it keeps alive stays flat from
 * 40 to 400 stacks. */
static void test_scale__plan_policy_check_holds_no_secrets(void **state)
{
    const size_t sizes[2] = {40, 400};
    long peak[2];
    size_t changes[2];
    (void)state;
    for (int s = 0; s < 2; s++) {
        char *dir = write_stacks(sizes[s]);
        struct diag_list diags;
        struct config *cfg;
        struct plan *plan = NULL;
        struct plan_opts o;
        struct state st;
        struct finding_list fl;
        struct errbuf err = ERRBUF_INIT;
        diag_list_init(&diags);
        cfg = load(dir, &diags);
        assert_int_equal(state_init(&st, &err), 0);
        memset(&o, 0, sizeof(o));
        assert_int_equal(plan_build(&plan, cfg, &st, NULL, &o, &diags, &err), 0);
        changes[s] = plan->n;
        finding_list_init(&fl);
        alloc_live = alloc_peak = 0;
        alloc_watch = true;
        assert_int_equal(check_plan_policies(&fl, NULL, plan, NULL, NULL, dir), 0);
        alloc_watch = false;
        peak[s] = alloc_peak;
        finding_list_release(&fl);
        plan_free(plan);
        state_release(&st);
        config_free(cfg);
        diag_list_release(&diags);
        remove_dir(dir);
    }
    print_message("plan policy check: at most %ld and %ld bytes of JSON alive for %zu and %zu "
                  "changes\n",
                  peak[0], peak[1], changes[0], changes[1]);
    assert_true(changes[1] > 9 * changes[0]);
    assert_true(peak[1] < 2 * peak[0] + 8192);
}

/* ast_body_attr through the linker (-Wl,--wrap, tests/CMakeLists.txt):
 * counts the look-ups of for_each and count in block bodies. */
const struct ast_attr *__real_ast_body_attr(const struct ast_body *b, const char *name);
const struct ast_attr *__wrap_ast_body_attr(const struct ast_body *b, const char *name);
static size_t each_count_lookups;
const struct ast_attr *__wrap_ast_body_attr(const struct ast_body *b, const char *name)
{
    if (strcmp(name, "for_each") == 0 || strcmp(name, "count") == 0)
        each_count_lookups++;
    return __real_ast_body_attr(b, name);
}

/* Expanding the resources into instances reads no block's attributes:
 * the for_each and count attributes are found as each block is parsed
 * and registered (its body hot), not looked up again in every body (two
 * scans of each block's attributes, long out of cache: a tenth of
 * evaluation's time at 50,000 resources). Before: 5 look-ups per block
 * (for_each as the parser hands the block over, both as it is registered,
 * both again as it is expanded: 2,518 for 502); now 3 (1,511). */
static void test_scale__expand_reads_no_body(void **state)
{
    const size_t blocks = 500;
    char *dir;
    FILE *f = new_config(&dir);
    struct diag_list diags;
    struct config *cfg;
    const struct cfg_resource *each, *counted;
    size_t lookups;
    (void)state;
    for (size_t i = 0; i < blocks; i++) {
        fprintf(f, "resource_group \"g%zu\" {\n  name = \"rg-%05zu\"\n  tags = {\n", i, i);
        for (int t = 0; t < 19; t++)
            fprintf(f, "    t%d = \"v%d\"\n", t, t);
        fputs("  }\n  location = \"westeurope\"\n}\n", f);
    }
    fputs("resource_group \"each\" {\n  for_each = toset([\"a\", \"b\"])\n"
          "  name = \"rg-${each.key}\"\n}\n"
          "resource_group \"counted\" {\n  count = 3\n  name = \"rg-c${count.index}\"\n}\n",
          f);
    assert_int_equal(fclose(f), 0);
    diag_list_init(&diags);
    each_count_lookups = 0;
    cfg = load(dir, &diags);
    lookups = each_count_lookups;
    assert_int_equal(diags.errors, 0);
    print_message("for_each and count looked up %zu times loading %zu blocks\n", lookups,
                  blocks + 2);
    /* the instances are there all the same */
    assert_non_null(each = config_find(cfg, false, "resource_group", "each"));
    assert_int_equal(each->ninstances, 2);
    assert_true(each->has_for_each);
    assert_non_null(config_find_instance(cfg, "resource_group.each[\"b\"]"));
    assert_non_null(counted = config_find(cfg, false, "resource_group", "counted"));
    assert_int_equal(counted->ninstances, 3);
    assert_true(counted->has_count);
    assert_non_null(config_find_instance(cfg, "resource_group.counted[2]"));
    assert_int_equal(config_find(cfg, false, "resource_group", "g7")->ninstances, 1);
    assert_true(lookups < 4 * (blocks + 2));
    config_free(cfg);
    diag_list_release(&diags);
    remove_dir(dir);
}

/* config_find_instance (the plan's look-up of each state and planned
 * address) finds a module instance's resource through the modules' paths
 * (each prefix of the address looked up) and a for_each or count instance
 * through its key, not by comparing every module's path and every
 * instance's address (n^2 at n module instances: a plan of 50,000 spent
 * most of its 38 s there). The work per look-up stays flat from 200 to
 * 2,000 instances. */
static size_t find_instance_work(size_t n)
{
    char *dir = module_key_dir(n, "");
    struct diag_list diags;
    struct config *cfg;
    char address[128];
    size_t w0, work;
    diag_list_init(&diags);
    cfg = load(dir, &diags);
    assert_int_equal(diags.errors, 0);
    w0 = config_lookup_work(cfg);
    for (size_t i = 0; i < n; i++) {
        const struct cfg_instance *in;
        snprintf(address, sizeof(address), "module.team[\"t%05zu\"].resource_group.team", i);
        assert_non_null(in = config_find_instance(cfg, address));
        assert_string_equal(in->address, address);
        snprintf(address, sizeof(address), "resource_group.ref[\"t%05zu\"]", i);
        assert_non_null(in = config_find_instance(cfg, address));
        assert_string_equal(in->address, address);
    }
    assert_null(config_find_instance(cfg, "module.team[\"nope\"].resource_group.team"));
    assert_null(config_find_instance(cfg, "resource_group.ref[\"nope\"]"));
    work = config_lookup_work(cfg) - w0;
    config_free(cfg);
    diag_list_release(&diags);
    module_key_dir_remove(dir);
    return work;
}

static void test_scale__find_instance_indexed(void **state)
{
    size_t small = 200, large = 2000, ws, wl;
    (void)state;
    ws = find_instance_work(small);
    wl = find_instance_work(large);
    print_message("instance look-ups: %zu entries at %zu instances, %zu at %zu\n", ws, small, wl,
                  large);
    assert_true(wl <= 10 * 2 * large);
    assert_true(wl * small <= 2 * ws * large);
}

/* A plan's refresh through the ARM provider against the local cloud (its
 * Resource Graph pages paced by nothing): ids per Graph query lowered to
 * 100 so that a few hundred stacks take many pages. */
struct refresh_conn {
    struct transport *t;
    struct arm_cloud *cloud;
    struct arm_client *client;
    struct provider *p;
};

static void refresh_connect(struct refresh_conn *c, struct armlocal *al)
{
    struct http_opts ho = HTTP_OPTS_INIT;
    struct arm_client_opts co;
    struct arm_provider_opts po;
    struct errbuf err = ERRBUF_INIT;
    assert_int_equal(http_transport_new(&c->t, &ho, &err), 0);
    assert_int_equal(arm_cloud_custom(&c->cloud, "custom", armlocal_base_url(al),
                                      armlocal_base_url(al), NULL, NULL, NULL, &err),
                     0);
    memset(&co, 0, sizeof(co));
    co.cloud = c->cloud;
    co.transport = c->t;
    co.no_rate_limit = 1;
    co.lro_poll_ms = 50;
    assert_int_equal(arm_client_new(&c->client, &co, &err), 0);
    memset(&po, 0, sizeof(po));
    po.client = c->client;
    po.lookup = kind_lookup;
    po.graph_batch = 100;
    assert_int_equal(arm_provider_new(&c->p, &po, &err), 0);
}

static void refresh_disconnect(struct refresh_conn *c)
{
    provider_free(c->p);
    arm_client_free(c->client);
    arm_cloud_free(c->cloud);
    transport_free(c->t);
}

/* Plans the configuration in dir (removed after) with refresh against al
 * and returns the provider's counters; *creates counts the changes
 * planned as creates of what has no state, *exists the "already exists
 * in Azure" errors. */
/* A refreshed plan of dir against al (from an empty state; with group_id,
 * a state holding that resource group as resource_group.g). */
static struct arm_provider_stats plan_refreshed_in(struct armlocal *al, char *dir,
                                                   const char *group_id, size_t *creates,
                                                   size_t *exists)
{
    struct diag_list diags;
    struct config *cfg;
    struct plan *plan = NULL;
    struct plan_opts o;
    struct state st;
    struct errbuf err = ERRBUF_INIT;
    struct refresh_conn c;
    struct arm_provider_stats stats;
    int rc;
    diag_list_init(&diags);
    cfg = load(dir, &diags);
    assert_int_equal(state_init(&st, &err), 0);
    if (group_id) {
        json_t *attrs =
            json_pack("{s:s, s:s, s:s}", "id", group_id, "name", "rg", "location", "westeurope");
        struct state_resource r = {.address = "resource_group.g",
                                   .kind = "resource_group",
                                   .arm_id = (char *)group_id,
                                   .api_version = "2021-04-01",
                                   .attributes = attrs};
        assert_int_equal(state_put(&st, &r, &err), 0);
        json_decref(attrs);
    }
    refresh_connect(&c, al);
    memset(&o, 0, sizeof(o));
    o.refresh = true;
    rc = plan_build(&plan, cfg, &st, c.p, &o, &diags, &err);
    assert_true(rc == 0 || rc == AMLSEC_EPARSE);
    assert_non_null(plan);
    *creates = *exists = 0;
    for (size_t i = 0; i < plan->n; i++)
        if (plan->changes[i].action == PLAN_CREATE && plan->changes[i].reason &&
            strcmp(plan->changes[i].reason, "create_because_no_state") == 0)
            (*creates)++;
    for (size_t i = 0; i < diags.n; i++)
        if (diags.items[i].severity == DIAG_ERROR &&
            strstr(diags.items[i].message, "already exists in Azure but not in the state"))
            (*exists)++;
    assert_int_equal(rc == AMLSEC_EPARSE, *exists > 0);
    arm_provider_get_stats(c.p, &stats);
    refresh_disconnect(&c);
    plan_free(plan);
    state_release(&st);
    config_free(cfg);
    diag_list_release(&diags);
    remove_dir(dir);
    return stats;
}

static struct arm_provider_stats plan_refreshed(struct armlocal *al, char *dir, size_t *creates,
                                                size_t *exists)
{
    return plan_refreshed_in(al, dir, NULL, creates, exists);
}

/* The plan checks each create against what exists in Azure (a resource
 * there but not in the state is refused; an interrupted create is
 * adopted), through Resource Graph pages of ids. A resource cannot exist
 * when its resource group does not: the groups the plan reads are read
 * first, and nothing under one that does not exist is asked for. A fresh
 * stack in a new group costs no Graph query, whatever its size (every id
 * was sent before: 2 pages for 40 stacks, 20 for 400, at 100 ids a page);
 * in a group that exists, what exists is still found. */
static void test_scale__plan_creates_checked_under_existing_groups(void **state)
{
    struct armlocal_opts o = ARMLOCAL_OPTS_INIT;
    struct errbuf err = ERRBUF_INIT;
    struct armlocal *al = NULL;
    const size_t sizes[2] = {40, 400};
    struct arm_provider_stats st[2], seeded;
    size_t creates, exists;
    const char *rg = "/subscriptions/00000000-0000-0000-0000-0000000000be/resourceGroups/rg";
    char path[512];
    (void)state;
    assert_int_equal(armlocal_opts_set(&o, "lro-ms", "0", &err), 0);
    assert_int_equal(armlocal_start(&al, &o, &err), 0);
    for (int s = 0; s < 2; s++) {
        st[s] = plan_refreshed(al, write_stacks(sizes[s]), &creates, &exists);
        print_message("plan of %zu new stacks: %u Resource Graph queries, %u GETs, %u answered "
                      "absent under an absent parent\n",
                      sizes[s], st[s].graph_queries, st[s].direct_gets, st[s].parent_absent);
        assert_int_equal(creates, 5 * sizes[s] + 1);
        assert_int_equal(exists, 0);
        assert_int_equal(st[s].groups_beside, 0); /* a new group: read first */
    }
    assert_true(st[1].graph_queries <= st[0].graph_queries + 1);
    assert_true(st[1].direct_gets <= st[0].direct_gets + 1);
    /* the group exists, and one storage account in it: both found and
     * refused (neither is in the state) */
    assert_int_equal(al_request(al, "PUT", rg, "2021-04-01", "{\"location\":\"westeurope\"}"), 201);
    snprintf(path, sizeof(path), "%s/providers/Microsoft.Storage/storageAccounts/st00003", rg);
    assert_in_range(al_request(al, "PUT", path, "2025-06-01",
                               "{\"location\":\"westeurope\",\"kind\":\"StorageV2\","
                               "\"sku\":{\"name\":\"Standard_LRS\"}}"),
                    200, 202);
    seeded = plan_refreshed(al, write_stacks(sizes[0]), &creates, &exists);
    print_message("plan of %zu stacks in a group that exists: %u Resource Graph queries\n",
                  sizes[0], seeded.graph_queries);
    assert_int_equal(exists, 2);
    assert_int_equal(creates, 5 * sizes[0] - 1);
    assert_int_equal(seeded.graph_queries, 2); /* 200 ids, 100 a page */
    /* role assignments on new storage accounts in that group: the accounts
     * are confirmed absent (one list of the group), so no assignment's id
     * goes to Resource Graph (2 pages of authorizationresources before) */
    {
        char *dir;
        FILE *f = new_config(&dir);
        for (size_t i = 0; i < 150; i++)
            fprintf(f,
                    "storage_account \"s%zu\" {\n  resource_group = resource_group.g\n"
                    "  name = \"stra%05zu\"\n}\n"
                    "role_assignment \"r%zu\" {\n  scope = storage_account.s%zu\n"
                    "  principal = \"3f2504e0-4f89-11d3-9a0c-0305e8%06zu\"\n"
                    "  principal_type = \"Group\"\n  role = \"Storage Blob Data Reader\"\n}\n",
                    i, i, i, i, i);
        assert_int_equal(fclose(f), 0);
        seeded = plan_refreshed(al, dir, &creates, &exists);
        print_message("plan of 150 storage accounts, each with a role assignment, in a group that "
                      "exists: %u Resource Graph queries, %u answered absent under an absent "
                      "parent\n",
                      seeded.graph_queries, seeded.parent_absent);
        assert_int_equal(exists, 1); /* the group */
        assert_int_equal(creates, 300);
        assert_int_equal(seeded.graph_queries, 2); /* the accounts: 150 ids */
        assert_int_equal(seeded.parent_absent, 150);
    }
    /* the group in the state (a plan of what exists, or of additions to
     * it): its GET goes out beside the Resource Graph pages, one round trip
     * less, and the same queries are sent */
    seeded = plan_refreshed_in(al, write_stacks(sizes[0]), rg, &creates, &exists);
    print_message("plan of %zu stacks in a group the state holds: %u Resource Graph queries, "
                  "%u group GETs beside them\n",
                  sizes[0], seeded.graph_queries, seeded.groups_beside);
    assert_int_equal(seeded.groups_beside, 1);
    assert_int_equal(seeded.graph_queries, 2);
    assert_int_equal(exists, 1); /* the storage account; the group is in the state */
    armlocal_stop(al);
}

/* The changes visited filling in an output that reads n instances created
 * by the plan (user_assigned_identity.uK.principal_id, known after apply):
 * *outputs receives the output's unknown elements (all n). */
static size_t output_lookup_work(size_t n, size_t *unknowns)
{
    char *dir;
    FILE *f = new_config(&dir);
    struct diag_list diags;
    struct config *cfg;
    struct plan *plan = NULL;
    struct plan_opts o;
    struct state st;
    struct errbuf err = ERRBUF_INIT;
    const json_t *v;
    size_t w0, i;
    const json_t *e;
    for (i = 0; i < n; i++)
        fprintf(f,
                "user_assigned_identity \"u%zu\" {\n  resource_group = resource_group.g\n"
                "  name = \"id-%05zu\"\n}\n",
                i, i);
    fputs("output \"principals\" {\n  value = [\n", f);
    for (i = 0; i < n; i++)
        fprintf(f, "    user_assigned_identity.u%zu.principal_id,\n", i);
    fputs("  ]\n}\n", f);
    assert_int_equal(fclose(f), 0);
    diag_list_init(&diags);
    cfg = load(dir, &diags);
    assert_int_equal(diags.errors, 0);
    assert_int_equal(state_init(&st, &err), 0);
    memset(&o, 0, sizeof(o));
    w0 = plan_outputs_lookup_work();
    assert_int_equal(plan_build(&plan, cfg, &st, NULL, &o, &diags, &err), 0);
    w0 = plan_outputs_lookup_work() - w0;
    v = json_object_get(json_object_get(plan->outputs, "principals"), "value");
    assert_true(json_is_array(v));
    *unknowns = 0;
    json_array_foreach(v, i, e) if (value_is_unknown(e))(*unknowns)++;
    plan_free(plan);
    state_release(&st);
    config_free(cfg);
    diag_list_release(&diags);
    remove_dir(dir);
    return w0;
}

/* An output reading every instance the plan creates finds them through an
 * index of the plan's creates and replacements, made once: a scan of the
 * plan per look-up visited about n x changes / 2 (20,501 at 200, 2,005,001
 * at 2,000); now about 2n. */
static void test_scale__outputs_filled_through_an_index(void **state)
{
    size_t small = 200, large = 2000, ws, wl, us, ul;
    (void)state;
    ws = output_lookup_work(small, &us);
    wl = output_lookup_work(large, &ul);
    print_message("output look-ups: %zu changes visited for %zu instances, %zu for %zu\n", ws,
                  small, wl, large);
    assert_int_equal(us, small); /* each element is still known only after apply */
    assert_int_equal(ul, large);
    assert_true(wl <= 3 * large + 8);
    assert_true(wl * small <= 2 * ws * large);
}

/* Whether test (test_scale__NAME) is among the comma-separated NAMEs of list. */
static bool listed(const char *test, const char *list)
{
    const char *name = test + strlen("test_scale__");
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, ",");
        if (len == n && strncmp(p, name, n) == 0)
            return true;
        p += len + (p[len] == ',');
    }
    return false;
}

/* With no argument every test runs; "+NAME,..." runs only those, "-NAME,..."
 * all the others (tests/CMakeLists.txt runs the longest as CTest tests of
 * their own, beside the rest). */
int main(int argc, char **argv)
{
    static const struct CMUnitTest all[] = {
        cmocka_unit_test(test_scale__findings_deduplicated_through_an_index),
        cmocka_unit_test(test_scale__findings_share_rule_text),
        cmocka_unit_test(test_scale__schema_errors_deduplicated_through_an_index),
        cmocka_unit_test(test_scale__for_each_reference_indexed),
        cmocka_unit_test(test_scale__diag_sort_stable),
        cmocka_unit_test(test_scale__plan_findings_and_order_linear),
        cmocka_unit_test(test_scale__plan_locks_indexed),
        cmocka_unit_test(test_scale__plan_json_shares_values),
        cmocka_unit_test(test_scale__plan_file_written_streaming),
        cmocka_unit_test(test_scale__plan_leaves_state_unparsed),
        cmocka_unit_test(test_scale__journal_replay_indexed),
        cmocka_unit_test(test_scale__state_batch_linear),
        cmocka_unit_test(test_scale__armlocal_request_cost_flat),
        cmocka_unit_test(test_scale__armlocal_persist_cost_flat),
        cmocka_unit_test(test_scale__armlocal_tree_index_cost_flat),
        cmocka_unit_test(test_scale__armlocal_graph_indexed),
        cmocka_unit_test(test_scale__armlocal_scope_lists_top_level),
        cmocka_unit_test(test_scale__armlocal_graph_pages_evaluated_once),
        cmocka_unit_test(test_scale__check_findings_addressed_through_sorted_blocks),
        cmocka_unit_test(test_scale__armlocal_serves_descriptors_past_fd_setsize),
        cmocka_unit_test(test_scale__armlocal_vault_ports_indexed),
        cmocka_unit_test(test_scale__module_key_indexed),
        cmocka_unit_test(test_scale__depgraph_repeated_edges_constant),
        cmocka_unit_test(test_scale__show_json_streamed),
        cmocka_unit_test(test_scale__show_reads_no_body),
        cmocka_unit_test(test_scale__plan_read_in_pieces_as_whole),
        cmocka_unit_test(test_scale__plan_read_scans_once),
        cmocka_unit_test(test_scale__secret_scrub_linear),
        cmocka_unit_test(test_scale__depgraph_edges_per_instance),
        cmocka_unit_test(test_scale__plan_policy_check_holds_no_secrets),
        cmocka_unit_test(test_scale__find_instance_indexed),
        cmocka_unit_test(test_scale__plan_creates_checked_under_existing_groups),
        cmocka_unit_test(test_scale__outputs_filled_through_an_index),
        cmocka_unit_test(test_scale__validate_values_in_one_region),
        cmocka_unit_test(test_scale__validate_instances_lean),
        cmocka_unit_test(test_scale__validate_values_when_read),
        cmocka_unit_test(test_scale__lazy_values_read_by_every_reader),
        cmocka_unit_test(test_scale__expand_reads_no_body),
    };
    struct CMUnitTest tests[sizeof(all) / sizeof(all[0])];
    size_t n = 0;
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        if (argc < 2 || (argv[1][0] == '+') == listed(all[i].name, argv[1] + 1))
            tests[n++] = all[i];
    if (n == 0) {
        fprintf(stderr, "unit_scale: no test selected by '%s'\n", argv[1]);
        return 1;
    }
    json_set_alloc_funcs(counting_malloc, counting_free);
    return _cmocka_run_group_tests("scale", tests, n, NULL, NULL);
}
