/* Unit tests for what makes `drift` read-only and its suppressions: the
 * read-only provider view refuses every write without reaching the
 * provider under it; the journal opened read-only creates nothing and
 * leaves a torn record in place; .amlsecignore lines parse, expire and
 * fail with a line and column. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/drift.h"
#include "providers/provider.h"
#include "state/journal.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/fileio.h"

/* --- a provider that counts what reaches it ---------------------------------- */

struct counting {
    struct provider base;
    int reads, writes, lists;
};

static int c_read(struct provider *p, const struct provider_ref *refs, size_t n, unsigned flags,
                  struct provider_result *out, struct errbuf *err)
{
    (void)refs;
    (void)flags;
    (void)err;
    ((struct counting *)p)->reads++;
    for (size_t i = 0; i < n; i++) {
        memset(&out[i], 0, sizeof(out[i]));
        out[i].body = json_object();
    }
    return 0;
}

static int c_write(struct provider *p, const struct provider_write *w, size_t n,
                   struct provider_result *out, struct errbuf *err)
{
    (void)w;
    (void)out;
    (void)n;
    (void)err;
    ((struct counting *)p)->writes++;
    return 0;
}

static int c_start(struct provider *p, const struct provider_write *w, void *tag,
                   struct errbuf *err)
{
    (void)w;
    (void)tag;
    (void)err;
    ((struct counting *)p)->writes++;
    return 0;
}

static int c_next(struct provider *p, int64_t t, void **tag, struct provider_result *out,
                  struct errbuf *err)
{
    (void)t;
    (void)out;
    (void)err;
    ((struct counting *)p)->writes++;
    *tag = (void *)1;
    return 0;
}

static void c_abandon(struct provider *p)
{
    ((struct counting *)p)->writes++;
}

static int c_list(struct provider *p, const char *scope, const char *type, json_t **out,
                  struct errbuf *err)
{
    (void)scope;
    (void)type;
    (void)err;
    ((struct counting *)p)->lists++;
    *out = json_array();
    return 0;
}

static int c_list_url(struct provider *p, const char *path, const char *v, json_t **out,
                      struct errbuf *err)
{
    (void)path;
    (void)v;
    (void)err;
    ((struct counting *)p)->lists++;
    *out = json_array();
    return 0;
}

static void c_free(struct provider *p)
{
    (void)p;
}

static const struct provider_ops counting_ops = {c_read, c_write,    c_start, c_next, c_abandon,
                                                 c_list, c_list_url, c_free,  NULL,   NULL,
                                                 NULL,   NULL,       NULL};

static void readonly_view_refuses_writes(void **unused)
{
    struct counting inner = {{&counting_ops}, 0, 0, 0};
    struct provider *ro = provider_readonly(&inner.base);
    struct provider_ref ref = {"/subscriptions/s/resourceGroups/rg", NULL, 0};
    struct provider_write w = {.verb = PROVIDER_CREATE, .ref = ref};
    struct provider_result r[2];
    struct errbuf err = ERRBUF_INIT;
    json_t *out = NULL, *rows = NULL;
    const char *q = "resources | project id";
    void *tag = (void *)1;
    (void)unused;
    assert_non_null(ro);
    memset(r, 0, sizeof(r));
    assert_int_equal(provider_read_many(ro, &ref, 1, 0, r, &err), 0);
    provider_result_release(&r[0]);
    assert_int_equal(provider_list_url(ro, "/x", "2020-01-01", &out, &err), 0);
    json_decref(out);
    assert_int_equal(provider_list(ro, "/subscriptions/s", NULL, &out, &err), 0);
    json_decref(out);
    {
        /* several lists at once: a provider without list_urls lists one by one */
        const char *paths[2] = {"/a", "/b"}, *apis[2] = {"2020-01-01", "2021-01-01"};
        json_t *outs[2];
        struct errbuf errs[2] = {ERRBUF_INIT, ERRBUF_INIT};
        assert_int_equal(provider_list_urls(ro, paths, apis, 2, outs, errs), 0);
        assert_true(json_is_array(outs[0]) && json_is_array(outs[1]));
        json_decref(outs[0]);
        json_decref(outs[1]);
    }
    /* every write entry point refuses, and none reaches the provider */
    assert_true(provider_write_many(ro, &w, 1, r, &err) < 0);
    assert_true(r[0].rc < 0);
    assert_true(provider_create(ro, &ref, NULL, &r[1]) < 0);
    assert_true(provider_delete(ro, &ref, &r[1]) < 0);
    assert_true(provider_write_start(ro, &w, NULL, &err) < 0);
    assert_int_equal(provider_write_next(ro, 0, &tag, &r[1], &err), 0);
    assert_null(tag);
    provider_write_abandon(ro);
    assert_int_equal(inner.writes, 0);
    assert_int_equal(inner.reads, 1);
    assert_int_equal(inner.lists, 4);
    assert_int_equal(provider_readonly_refused(ro), 4);
    /* no Resource Graph under it: a clear error */
    assert_true(provider_graph_query(ro, &q, 1, NULL, 0, &rows, &err) < 0);
    assert_null(rows);
    provider_free(ro);
}

/* A resource is read once: what the view is told a later read wants (a
 * read it keeps, a Resource Graph row it is given) answers the next read
 * of that id, in any case, once; other reads and fresh reads go through. */
static void readonly_view_reads_once(void **unused)
{
    struct counting inner = {{&counting_ops}, 0, 0, 0};
    struct provider *ro = provider_readonly(&inner.base);
    struct provider_ref refs[3] = {{"/subscriptions/s/resourceGroups/a", NULL, 0},
                                   {"/subscriptions/s/resourceGroups/b", NULL, 0},
                                   {"/subscriptions/s/resourceGroups/c", NULL, 0}};
    struct provider_ref upper = {"/SUBSCRIPTIONS/S/resourceGroups/A", NULL, 0};
    struct provider_result r[3];
    struct errbuf err = ERRBUF_INIT;
    json_t *row = json_pack("{s:s}", "id", "/subscriptions/s/resourceGroups/c");
    (void)unused;
    assert_int_equal(provider_readonly_expect(ro, refs[0].id), 0);
    assert_int_equal(provider_read_many(ro, refs, 2, 0, r, &err), 0); /* a kept, b not */
    provider_results_release(r, 2);
    assert_int_equal(provider_readonly_keep(ro, refs[2].id, row), 0);
    json_decref(row);
    assert_int_equal(inner.reads, 1);
    /* a and c are known: only b reaches the provider */
    assert_int_equal(provider_read_many(ro, refs, 3, 0, r, &err), 0);
    assert_int_equal(inner.reads, 2);
    assert_int_equal(provider_readonly_hits(ro), 2);
    assert_false(r[0].from_graph);
    assert_true(r[2].from_graph);
    assert_string_equal(json_string_value(json_object_get(r[2].body, "id")), refs[2].id);
    provider_results_release(r, 3);
    /* answered once: the next read of a asks again; a fresh read always does */
    assert_int_equal(provider_readonly_expect(ro, refs[0].id), 0);
    assert_int_equal(provider_read_many(ro, &upper, 1, 0, r, &err), 0);
    provider_results_release(r, 1);
    assert_int_equal(inner.reads, 3);
    assert_int_equal(provider_reread(ro, &refs[0], &r[0]), 0);
    provider_result_release(&r[0]);
    assert_int_equal(inner.reads, 4);
    assert_int_equal(provider_read_many(ro, refs, 1, 0, r, &err), 0);
    provider_results_release(r, 1);
    assert_int_equal(inner.reads, 4);
    assert_int_equal(provider_readonly_hits(ro), 3);
    provider_free(ro);
}

/* --- the journal, read-only ---------------------------------------------------- */

static void journal_readonly_changes_nothing(void **unused)
{
    char dir[] = "/tmp/amlsec-drift-XXXXXX", path[256], again[4096];
    const char text[] =
        "{\"t\":\"begin\",\"id\":\"0a0b0c0d-0000-4000-8000-000000000001\",\"time\":\"2026-01-"
        "01T00:00:00Z\",\"op\":\"create\",\"address\":\"resource_group.a\",\"kind\":\"resource_"
        "group\",\"arm_id\":\"/subscriptions/s/resourceGroups/a\",\"api_version\":\"2021-04-01\","
        "\"digest\":\"sha256:00\",\"dependencies\":[],\"sensitive\":[]}\n{\"t\":\"beg";
    struct journal j;
    struct errbuf err = ERRBUF_INIT;
    struct stat st;
    FILE *f;
    size_t n;
    (void)unused;
    assert_non_null(mkdtemp(dir));
    /* no journal: none is created */
    snprintf(path, sizeof(path), "%s/sub/state.json.journal", dir);
    assert_int_equal(journal_open_readonly(&j, path, NULL, &err), 0);
    assert_int_equal(journal_pending(&j, NULL, 0), 0);
    journal_release(&j);
    assert_true(stat(path, &st) < 0);
    snprintf(path, sizeof(path), "%s/sub", dir);
    assert_true(stat(path, &st) < 0);
    /* a pending entry and a torn record: counted, and the bytes stay */
    snprintf(path, sizeof(path), "%s/state.json.journal", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(journal_open_readonly(&j, path, NULL, &err), 0);
    assert_int_equal(journal_pending(&j, NULL, 0), 1);
    assert_int_equal(j.discarded_torn, 1);
    journal_release(&j);
    f = fopen(path, "r");
    assert_non_null(f);
    n = fread(again, 1, sizeof(again), f);
    fclose(f);
    assert_int_equal(n, strlen(text));
    assert_memory_equal(again, text, n);
    unlink(path);
    rmdir(dir);
}

/* --- .amlsecignore -------------------------------------------------------------- */

static void ignore_parses_lines(void **unused)
{
    const char text[] = "# a comment\n"
                        "\n"
                        "storage_account.ml  network.*  -  reviewed by the data team\n"
                        "  /subscriptions/*/locks/*\tunmanaged\t2026-06-30\tOPS-1 lock\r\n"
                        "workspace.prod WS-MI-PERMS 2026-06-29 expired yesterday";
    struct drift_ignore ig;
    struct errbuf err = ERRBUF_INIT;
    unsigned line = 0, col = 0;
    (void)unused;
    assert_int_equal(
        drift_ignore_parse(&ig, "x", text, strlen(text), "2026-06-30", &line, &col, &err), 0);
    assert_int_equal(ig.n, 3);
    assert_string_equal(ig.items[0].pattern, "storage_account.ml");
    assert_string_equal(ig.items[0].what, "network.*");
    assert_null(ig.items[0].expires);
    assert_string_equal(ig.items[0].reason, "reviewed by the data team");
    assert_int_equal(ig.items[0].line, 3);
    assert_false(ig.items[0].expired);
    assert_string_equal(ig.items[1].pattern, "/subscriptions/*/locks/*");
    assert_string_equal(ig.items[1].expires, "2026-06-30");
    assert_string_equal(ig.items[1].reason, "OPS-1 lock");
    assert_false(ig.items[1].expired); /* holds through its day */
    assert_true(ig.items[2].expired);
    drift_ignore_release(&ig);
}

static void ignore_bad_lines(void **unused)
{
    static const struct {
        const char *text;
        unsigned line, col;
        const char *says;
    } bad[] = {
        {"a b -\n", 1, 6, "needs a reason"},
        {"# c\na b 2026-02-30x why\n", 2, 5, "EXPIRES must be a date"},
        {"a b 2026-13-01 why\n", 1, 5, "EXPIRES must be a date"},
        {"a\n", 1, 2, "WHAT is missing"},
        {"a b\n", 1, 4, "EXPIRES"},
    };
    (void)unused;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct drift_ignore ig;
        struct errbuf err = ERRBUF_INIT;
        unsigned line = 0, col = 0;
        assert_int_equal(drift_ignore_parse(&ig, "f", bad[i].text, strlen(bad[i].text),
                                            "2026-01-01", &line, &col, &err),
                         AMLSEC_EPARSE);
        assert_int_equal(line, bad[i].line);
        assert_int_equal(col, bad[i].col);
        assert_non_null(strstr(err.msg, bad[i].says));
        assert_null(ig.items);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(readonly_view_refuses_writes),
        cmocka_unit_test(readonly_view_reads_once),
        cmocka_unit_test(journal_readonly_changes_nothing),
        cmocka_unit_test(ignore_parses_lines),
        cmocka_unit_test(ignore_bad_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
