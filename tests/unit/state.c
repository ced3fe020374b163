/* Unit tests for state/: the document, the local backend, its lock and its
 * crash safety, and how the backend is chosen (settings block, environment,
 * flags). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "parser/config.h"
#include "providers/arm/auth.h"
#include "state/backend.h"
#include "state/backend_blob.h"
#include "state/backend_config.h"
#include "state/backend_local.h"
#include "state/blob_client.h"
#include "state/journal.h"
#include "state/state.h"
#include "util/error.h"
#include "util/fileio.h"

static char tmpdir[256];

static int setup_dir(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/amlsec-state-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_dir(void **state)
{
    char cmd[400];
    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void path_in(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", tmpdir, name);
}

static void add_resource(struct state *st, const char *address, int n)
{
    struct errbuf err = ERRBUF_INIT;
    struct state_resource r = {0};
    char id[256], kind[64];
    snprintf(id, sizeof(id),
             "/subscriptions/0000/resourceGroups/rg/providers/Microsoft.MachineLearningServices/"
             "workspaces/ws%d",
             n);
    /* the kind an address names (a loaded state checks that they agree) */
    snprintf(kind, sizeof(kind), "%.*s", (int)strcspn(address, "."), address);
    r.address = (char *)address;
    r.kind = kind;
    r.arm_id = id;
    r.api_version = "2024-04-01";
    r.attributes = json_pack("{s:s, s:{s:b, s:s}}", "name", address, "properties",
                             "publicNetworkAccess", 0, "secret", "hunter2");
    r.sensitive = json_pack("[s]", "/properties/secret");
    r.dependencies = json_pack("[s]", "azurerm_resource_group.rg");
    assert_int_equal(state_put(st, &r, &err), 0);
    json_decref(r.attributes);
    json_decref(r.sensitive);
    json_decref(r.dependencies);
}

static void test_state__roundtrip_is_canonical(void **unused)
{
    struct errbuf err = ERRBUF_INIT;
    struct state st, back;
    struct buf a, b;
    (void)unused;

    assert_int_equal(state_init(&st, &err), 0);
    assert_int_equal(strlen(st.lineage), 36);
    add_resource(&st, "b.two", 2);
    add_resource(&st, "a.one", 1);
    add_resource(&st, "c.three", 3);
    assert_string_equal(st.resources[0].address, "a.one");
    st.resources[2].status = STATE_STATUS_TAINTED;
    st.serial = 7;
    buf_init(&a, STATE_MAX_BYTES);
    buf_init(&b, STATE_MAX_BYTES);
    assert_int_equal(state_serialize(&st, &a, &err), 0);
    assert_memory_equal(a.ptr, "{\"format_version\":1,\"sha256\":\"", 30);
    assert_int_equal(state_parse(&back, a.ptr, a.len, "x", &err), 0);
    assert_int_equal(back.serial, 7);
    assert_string_equal(back.lineage, st.lineage);
    assert_int_equal(back.nresources, 3);
    assert_int_equal(back.resources[2].status, STATE_STATUS_TAINTED);
    {
        json_t *got, *put;
        assert_null(back.resources[1].attributes); /* kept as text until used */
        assert_null(st.resources[1].attributes);   /* state_put keeps its text too */
        assert_int_equal(state_resource_attributes(&got, &back.resources[1], &err), 0);
        assert_int_equal(state_resource_attributes(&put, &st.resources[1], &err), 0);
        assert_true(json_equal(got, put));
    }
    assert_int_equal(state_serialize(&back, &b, &err), 0);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.ptr, b.ptr, a.len);

    /* move rewrites dependencies; remove and conflicts */
    add_resource(&back, "azurerm_resource_group.rg", 9);
    assert_int_equal(
        state_move(&back, "azurerm_resource_group.rg", "azurerm_resource_group.x", &err), 0);
    assert_string_equal(
        json_string_value(json_array_get(state_find(&back, "a.one")->dependencies, 0)),
        "azurerm_resource_group.x");
    assert_int_equal(state_move(&back, "a.one", "b.two", &err), AMLSEC_ECONFLICT);
    assert_int_equal(state_move(&back, "nope", "z", &err), AMLSEC_ENOTFOUND);
    assert_int_equal(state_remove(&back, "a.one", &err), 0);
    assert_int_equal(state_remove(&back, "a.one", &err), AMLSEC_ENOTFOUND);
    assert_null(state_find(&back, "a.one"));
    state_release(&back);
    state_release(&st);
    buf_release(&a);
    buf_release(&b);
}

static void serialize_sample(struct buf *out, uint64_t serial)
{
    struct errbuf err = ERRBUF_INIT;
    struct state st;
    assert_int_equal(state_init(&st, &err), 0);
    add_resource(&st, "x.one", 1);
    st.serial = serial;
    assert_int_equal(state_serialize(&st, out, &err), 0);
    state_release(&st);
}

static void put_kind(struct state *st, const char *address, const char *kind, const char *dep)
{
    struct errbuf err = ERRBUF_INIT;
    struct state_resource r = {0};
    char id[256];
    snprintf(id, sizeof(id), "/subscriptions/0000/resourceGroups/%.*s", (int)strcspn(address, "[ "),
             address);
    r.address = (char *)address;
    r.kind = (char *)kind;
    r.arm_id = id;
    r.api_version = "2021-04-01";
    r.attributes = json_pack("{s:s}", "name", address);
    r.dependencies = dep ? json_pack("[s]", dep) : json_array();
    assert_int_equal(state_put(st, &r, &err), 0);
    json_decref(r.attributes);
    json_decref(r.dependencies);
}

static const char *dep0(const struct state *st, const char *address)
{
    return json_string_value(json_array_get(state_find(st, address)->dependencies, 0));
}

/* state_rename renames all at once (a swap works, dependencies follow in
 * one pass); a destination of another kind, an existing one or two
 * sources onto one are refused before anything changes; state_mv_match
 * and state_match match as Terraform's state mv and rm. */
static void test_state__rename_all_at_once(void **unused)
{
    struct errbuf err = ERRBUF_INIT;
    struct state st;
    struct state_renames r = {0};
    char *from[] = {"rg.a", "rg.b"}, *to[] = {"rg.b", "rg.a"}, *same[] = {"rg.z", "rg.z"};
    (void)unused;
    assert_int_equal(state_init(&st, &err), 0);
    put_kind(&st, "rg.a", "rg", "rg.b");
    put_kind(&st, "rg.b", "rg", "rg.a");
    put_kind(&st, "module.m.rg.c", "rg", "rg.a");
    put_kind(&st, "module.m.module.k.rg.d", "rg", "module.m.rg.c");
    put_kind(&st, "module.t[\"x.y z\"].rg.e", "rg", NULL);
    put_kind(&st, "module.t[\"x.y z\"].rg.e (previous)", "rg", NULL);
    r.from = from;
    r.to = to;
    r.n = 2;
    assert_int_equal(state_rename(&st, &r, &err), 0);
    assert_string_equal(dep0(&st, "rg.b"), "rg.a"); /* was rg.a, depending on rg.b */
    assert_string_equal(dep0(&st, "module.m.rg.c"), "rg.b");
    r.to = same;
    assert_int_equal(state_rename(&st, &r, &err), AMLSEC_ECONFLICT);
    assert_non_null(state_find(&st, "rg.a"));
    assert_null(state_find(&st, "rg.z"));
    assert_int_equal(state_move(&st, "rg.a", "st.a", &err), AMLSEC_EUSAGE);
    assert_int_equal(state_move(&st, "rg.a", "module.m.rg.c", &err), AMLSEC_ECONFLICT);
    assert_non_null(state_find(&st, "rg.a"));

    assert_int_equal(state_mv_match(&st, "module.m", "module.n[0]", &r, &err), 0);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.to[0], "module.n[0].module.k.rg.d");
    assert_int_equal(state_rename(&st, &r, &err), 0);
    state_renames_release(&r);
    assert_string_equal(dep0(&st, "module.n[0].module.k.rg.d"), "module.n[0].rg.c");
    assert_int_equal(state_mv_match(&st, "module.n[0]", "rg.x", &r, &err), AMLSEC_EUSAGE);
    assert_int_equal(state_mv_match(&st, "module.t", "module.u", &r, &err), AMLSEC_ENOTFOUND);
    assert_non_null(strstr(err.msg, "e.g. module.t[\"x.y z\"]: move each"));
    assert_int_equal(state_mv_match(&st, "module.t[\"x.y z\"]", "module.u", &r, &err), 0);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.to[1], "module.u.rg.e (previous)");
    state_renames_release(&r);
    assert_int_equal(state_mv_match(&st, "module.n[0]", "module.t[\"x.y z\"]", &r, &err),
                     AMLSEC_ECONFLICT);
    assert_int_equal(state_mv_match(&st, "module.n[0].module.k", "module.n[0]", &r, &err),
                     AMLSEC_ECONFLICT);
    assert_int_equal(r.n, 0);
    /* a whole resource onto a resource the state holds (without a key) */
    put_kind(&st, "rg.s[0]", "rg", NULL);
    assert_int_equal(state_mv_match(&st, "rg.s", "rg.a", &r, &err), AMLSEC_ECONFLICT);
    assert_int_equal(state_mv_match(&st, "rg.s", "rg.t", &r, &err), 0);
    state_renames_release(&r);
    assert_int_equal(state_mv_match(&st, "rg.a", "rg.q (previous)", &r, &err), AMLSEC_EUSAGE);
    {
        /* into another state (state mv -state-out): targets are looked up
         * there, so an entry may keep its address; one there conflicts */
        struct state dst;
        assert_int_equal(state_init(&dst, &err), 0);
        assert_int_equal(state_mv_match_into(&st, &dst, "rg.a", "rg.a", &r, &err), 0);
        state_renames_release(&r);
        assert_int_equal(state_mv_match_into(&st, &dst, "module.n[0]", "module.n[0]", &r, &err), 0);
        assert_int_equal(r.n, 2);
        state_renames_release(&r);
        assert_int_equal(state_mv_match_into(&st, &dst, "rg.s", "rg.s", &r, &err), 0);
        state_renames_release(&r);
        put_kind(&dst, "rg.a", "rg", NULL);
        put_kind(&dst, "module.n[0].rg.c", "rg", NULL);
        put_kind(&dst, "rg.s[3]", "rg", NULL);
        assert_int_equal(state_mv_match_into(&st, &dst, "rg.a", "rg.a", &r, &err),
                         AMLSEC_ECONFLICT);
        assert_int_equal(state_mv_match_into(&st, &dst, "module.n[0]", "module.n[0]", &r, &err),
                         AMLSEC_ECONFLICT);
        assert_int_equal(state_mv_match_into(&st, &dst, "rg.s", "rg.s", &r, &err),
                         AMLSEC_ECONFLICT);
        assert_int_equal(state_mv_match_into(&st, &dst, "rg.b", "rg.b", &r, &err), 0);
        state_renames_release(&r);
        state_release(&dst);
    }
    assert_int_equal(state_match(&st, "module.n.module.k", &r, &err), 0);
    assert_int_equal(state_match(&st, "module.t", &r, &err), 0);
    assert_int_equal(r.n, 3);
    assert_string_equal(r.from[0], "module.n[0].module.k.rg.d");
    assert_string_equal(r.from[1], "module.t[\"x.y z\"].rg.e");
    assert_string_equal(r.from[2], "module.t[\"x.y z\"].rg.e (previous)");
    assert_int_equal(state_match(&st, "module.gone", &r, &err), AMLSEC_ENOTFOUND);
    state_renames_release(&r);
    state_release(&st);
}

/* A resource's instances all have keys (count, for_each) or none has, and
 * so have a module call's: state mv, state mv -state-out and moved blocks
 * (state_rename) refuse a destination that would mix TYPE.NAME with
 * TYPE.NAME[KEY] (or module.M with module.M[KEY]), checked against what
 * stays; moving an instance to its own key (adding count) goes through.
 * (Before, the state ended up holding both forms.) */
static void test_state__mv_keys_not_mixed(void **unused)
{
    struct errbuf err = ERRBUF_INIT;
    struct state st, dst;
    struct state_renames r = {0};
    char *from[] = {"rg.u"}, *to[] = {"rg.k"};
    char *from2[] = {"rg.u", "rg.a"}, *to2[] = {"rg.z", "rg.z[\"x\"]"};
    (void)unused;
    assert_int_equal(state_init(&st, &err), 0);
    put_kind(&st, "rg.a", "rg", NULL);
    put_kind(&st, "rg.k[\"x\"]", "rg", NULL);
    put_kind(&st, "rg.u", "rg", NULL);
    put_kind(&st, "module.m[\"x\"].rg.c", "rg", NULL);
    put_kind(&st, "module.p.rg.d", "rg", NULL);
    /* an unkeyed instance beside keyed ones, and the reverse */
    assert_int_equal(state_mv_match(&st, "rg.u", "rg.k", &r, &err), AMLSEC_ECONFLICT);
    assert_non_null(strstr(err.msg, "cannot move rg.u to rg.k: rg.k has no key, and the state "
                                    "holds rg.k[\"x\"], which has one"));
    assert_int_equal(r.n, 0);
    assert_int_equal(state_mv_match(&st, "rg.k[\"x\"]", "rg.a[\"x\"]", &r, &err), AMLSEC_ECONFLICT);
    assert_non_null(strstr(err.msg, "rg.a has a key, and the state holds rg.a, which has none"));
    /* the same for module calls */
    assert_int_equal(state_mv_match(&st, "rg.u", "module.m.rg.u", &r, &err), AMLSEC_ECONFLICT);
    assert_non_null(strstr(err.msg, "module.m has no key, and the state holds "
                                    "module.m[\"x\"].rg.c, which has one"));
    assert_int_equal(state_mv_match(&st, "module.p", "module.m", &r, &err), AMLSEC_ECONFLICT);
    assert_int_equal(state_mv_match(&st, "rg.u", "module.p[\"y\"].rg.u", &r, &err),
                     AMLSEC_ECONFLICT);
    /* what leaves does not count: count or for_each added, or taken away */
    assert_int_equal(state_mv_match(&st, "rg.a", "rg.a[0]", &r, &err), 0);
    state_renames_release(&r);
    assert_int_equal(state_mv_match(&st, "rg.k[\"x\"]", "rg.k", &r, &err), 0);
    state_renames_release(&r);
    assert_int_equal(state_mv_match(&st, "module.p", "module.p[\"y\"]", &r, &err), 0);
    assert_int_equal(state_rename(&st, &r, &err), 0);
    state_renames_release(&r);
    assert_non_null(state_find(&st, "module.p[\"y\"].rg.d"));
    /* moved blocks rename through state_rename: refused, nothing changed */
    r.from = from;
    r.to = to;
    r.n = 1;
    assert_int_equal(state_rename(&st, &r, &err), AMLSEC_ECONFLICT);
    assert_non_null(state_find(&st, "rg.u"));
    assert_null(state_find(&st, "rg.k"));
    /* two destinations mixing the forms */
    r.from = from2;
    r.to = to2;
    r.n = 2;
    assert_int_equal(state_rename(&st, &r, &err), AMLSEC_ECONFLICT);
    assert_non_null(strstr(err.msg, "rg.z"));
    assert_non_null(state_find(&st, "rg.u"));
    assert_non_null(state_find(&st, "rg.a"));
    memset(&r, 0, sizeof(r));
    /* into another state (state mv -state-out): against what that one holds */
    assert_int_equal(state_init(&dst, &err), 0);
    put_kind(&dst, "rg.k[\"y\"]", "rg", NULL);
    put_kind(&dst, "rg.v", "rg", NULL);
    assert_int_equal(state_mv_match_into(&st, &dst, "rg.u", "rg.k", &r, &err), AMLSEC_ECONFLICT);
    assert_int_equal(state_mv_match_into(&st, &dst, "rg.k[\"x\"]", "rg.v[\"x\"]", &r, &err),
                     AMLSEC_ECONFLICT);
    assert_int_equal(state_mv_match_into(&st, &dst, "rg.k[\"x\"]", "rg.k[\"x\"]", &r, &err), 0);
    state_renames_release(&r);
    state_release(&dst);
    state_release(&st);
}

/* A module of k entries moved in a state of n: the renames in one batch
 * and the dependencies in one pass, O(n + k log k) entries visited; one
 * state_move per entry (what a rename was) visits about k * n. */
static void test_state__module_move_linear(void **unused)
{
    struct errbuf err = ERRBUF_INIT;
    struct state st;
    struct state_renames r;
    enum { N = 10000, K = 1000 };
    char a[64], d[64];
    size_t before;
    (void)unused;
    assert_int_equal(state_init(&st, &err), 0);
    state_batch_begin(&st);
    for (int i = 0; i < N; i++) {
        snprintf(a, sizeof(a), "rg.e%05d", i);
        snprintf(d, sizeof(d), "module.m[\"k\"].rg.x%04d", i % K);
        put_kind(&st, a, "rg", d);
    }
    for (int i = 0; i < K; i++) {
        snprintf(a, sizeof(a), "module.m[\"k\"].rg.x%04d", i);
        put_kind(&st, a, "rg", "rg.e00000");
    }
    state_batch_end(&st);
    before = st.work;
    assert_int_equal(state_mv_match(&st, "module.m[\"k\"]", "module.q", &r, &err), 0);
    assert_int_equal(r.n, K);
    assert_int_equal(state_rename(&st, &r, &err), 0);
    state_renames_release(&r);
    assert_string_equal(dep0(&st, "rg.e01234"), "module.q.rg.x0234");
    assert_non_null(state_find(&st, "module.q.rg.x0999"));
    print_message("work for %d renames in %d entries: %zu\n", K, N + K, st.work - before);
    assert_true(st.work - before < 8 * (N + K));
    state_release(&st);
}

static void test_state__bad_input_refused(void **unused)
{
    struct errbuf err = ERRBUF_INIT;
    struct state st;
    struct buf a;
    char *edited;
    (void)unused;

    buf_init(&a, STATE_MAX_BYTES);
    serialize_sample(&a, 3);
    /* truncated at every byte: said so, naming the file (before, a file
     * cut inside '{"format_version":' was "not a valid state file", and
     * one cut at the end of a line of the body failed its checksum) */
    for (size_t cut = 0; cut < a.len; cut++) {
        int rc = state_parse(&st, a.ptr, cut, "s.json", &err);
        assert_int_equal(rc, AMLSEC_ECORRUPT);
        assert_non_null(strstr(err.msg, "'s.json'"));
        assert_non_null(strstr(err.msg, cut ? "truncated" : "empty"));
    }
    assert_int_equal(state_parse(&st, a.ptr, a.len - 1, "s.json", &err), AMLSEC_ECORRUPT);
    assert_non_null(strstr(err.msg, "truncated"));
    /* a hand edit: checksum mismatch */
    edited = strdup(a.ptr);
    *strstr(edited, "hunter2") = 'H';
    assert_int_equal(state_parse(&st, edited, a.len, "s.json", &err), AMLSEC_ECORRUPT);
    assert_non_null(strstr(err.msg, "checksum"));
    free(edited);
    /* a newer format */
    edited = strdup(a.ptr);
    edited[18] = '9';
    assert_int_equal(state_parse(&st, edited, a.len, "s.json", &err), AMLSEC_EPARSE);
    assert_non_null(strstr(err.msg, "newer"));
    free(edited);
    assert_int_equal(state_parse(&st, "{\"format_version\": 2, \"x\": 1}", 29, "s.json", &err),
                     AMLSEC_EPARSE);
    assert_non_null(strstr(err.msg, "format 2"));
    assert_int_equal(state_parse(&st, "garbage", 7, "s.json", &err), AMLSEC_ECORRUPT);
    assert_int_equal(state_parse(&st, "", 0, "s.json", &err), AMLSEC_ECORRUPT);
    buf_release(&a);
}

static void test_state__local_refuses_damage_without_overwrite(void **unused)
{
    struct errbuf err = ERRBUF_INIT;
    struct state_backend *be;
    struct state st;
    struct buf a, disk;
    char path[512];
    int existed;
    (void)unused;

    path_in(path, sizeof(path), "dmg/state.json");
    assert_int_equal(backend_local_new(&be, path, &err), 0);
    assert_int_equal(state_backend_load(&st, &existed, be, NULL, &err), 0);
    assert_int_equal(existed, 0);
    add_resource(&st, "x.one", 1);
    assert_int_equal(state_backend_save(be, &st, NULL, &err), 0);
    assert_int_equal(st.serial, 1);
    state_release(&st);

    buf_init(&a, STATE_MAX_BYTES);
    assert_int_equal(file_read_all(&a, path, STATE_MAX_BYTES, &err), 0);
    assert_int_equal(file_write_atomic(path, a.ptr, a.len / 2, 0600, &err), 0);
    state_backend_free(be);
    assert_int_equal(backend_local_new(&be, path, &err), 0);
    assert_int_equal(state_backend_load(&st, &existed, be, NULL, &err), AMLSEC_ECORRUPT);
    assert_non_null(strstr(err.msg, path));
    buf_init(&disk, STATE_MAX_BYTES);
    assert_int_equal(file_read_all(&disk, path, STATE_MAX_BYTES, &err), 0);
    assert_int_equal(disk.len, a.len / 2);
    assert_memory_equal(disk.ptr, a.ptr, disk.len);
    state_backend_free(be);
    buf_release(&a);
    buf_release(&disk);
}

static uint64_t serial_on_disk(const char *path)
{
    struct errbuf err = ERRBUF_INIT;
    struct buf b;
    struct state st;
    uint64_t s;
    buf_init(&b, STATE_MAX_BYTES);
    assert_int_equal(file_read_all(&b, path, STATE_MAX_BYTES, &err), 0);
    if (state_parse(&st, b.ptr, b.len, path, &err) != 0)
        fail_msg("state on disk unreadable: %s", err.msg);
    s = st.serial;
    assert_int_equal(st.nresources, s);
    state_release(&st);
    buf_release(&b);
    return s;
}

static void test_state__killed_writer_leaves_old_or_new(void **unused)
{
    static const char *const steps[] = {"after-tmp", "after-fsync", "after-rename"};
    struct errbuf err = ERRBUF_INIT;
    struct state_backend *be;
    struct state st;
    char path[512], backup[600];
    int existed;
    (void)unused;

    path_in(path, sizeof(path), "fault/state.json");
    snprintf(backup, sizeof(backup), "%s.backup", path);
    assert_int_equal(backend_local_new(&be, path, &err), 0);
    assert_int_equal(state_backend_load(&st, &existed, be, NULL, &err), 0);
    add_resource(&st, "r.r0", 0);
    assert_int_equal(state_backend_save(be, &st, NULL, &err), 0);
    state_release(&st);
    state_backend_free(be);

    for (size_t i = 0; i < 3; i++) {
        uint64_t before = serial_on_disk(path), after;
        pid_t pid = fork();
        int status;
        assert_true(pid >= 0);
        if (pid == 0) {
            char addr[32];
            setenv(FILEIO_FAULT_ENV, steps[i], 1);
            if (backend_local_new(&be, path, &err) < 0 ||
                state_backend_load(&st, &existed, be, NULL, &err) < 0)
                _exit(1);
            snprintf(addr, sizeof(addr), "r.r%d", (int)st.serial);
            add_resource(&st, addr, (int)st.serial);
            state_backend_save(be, &st, NULL, &err);
            _exit(0); /* not reached: the fault point exits 86 */
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 86);
        after = serial_on_disk(path);
        if (i < 2)
            assert_int_equal(after, before); /* the old state */
        else
            assert_int_equal(after, before + 1);          /* the new state */
        assert_int_equal(serial_on_disk(backup), before); /* kept before writing */
    }
}

/* Child: try the lock once (or wait up to timeout_ms), hold it for hold_ms.
 * Exit 0 after holding, 3 when locked out (message naming the holder). */
static void lock_child(const char *path, long timeout_ms, int hold_ms, int startfd, int outfd)
{
    struct errbuf err = ERRBUF_INIT;
    struct state_backend *be;
    char go;
    int rc;

    if (startfd >= 0 && read(startfd, &go, 1) != 1)
        _exit(1);
    if (backend_local_new(&be, path, &err) < 0)
        _exit(1);
    rc = state_backend_lock(be, "apply", timeout_ms, NULL, &err);
    if (rc == AMLSEC_ELOCKED) {
        if (write(outfd, err.msg, strlen(err.msg)) < 0)
            _exit(1);
        _exit(3);
    }
    if (rc < 0)
        _exit(1);
    usleep((useconds_t)hold_ms * 1000);
    state_backend_free(be);
    _exit(0);
}

static void test_state__lock_race_exactly_one(void **unused)
{
    char path[512], msg[2048];
    int start[2], out[2], status, ok = 0, locked = 0;
    pid_t kids[2];
    ssize_t n;
    (void)unused;

    path_in(path, sizeof(path), "race/state.json");
    assert_int_equal(pipe(start), 0);
    assert_int_equal(pipe(out), 0);
    for (int i = 0; i < 2; i++) {
        kids[i] = fork();
        if (kids[i] == 0) {
            close(start[1]);
            lock_child(path, 0, 600, start[0], out[1]);
        }
    }
    close(start[0]);
    close(out[1]);
    assert_int_equal(write(start[1], "gg", 2), 2);
    close(start[1]);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(waitpid(kids[i], &status, 0), kids[i]);
        assert_true(WIFEXITED(status));
        if (WEXITSTATUS(status) == 0)
            ok++;
        else if (WEXITSTATUS(status) == 3)
            locked++;
    }
    assert_int_equal(ok, 1);
    assert_int_equal(locked, 1);
    n = read(out[0], msg, sizeof(msg) - 1);
    assert_true(n > 0);
    msg[n] = '\0';
    assert_non_null(strstr(msg, "for 'apply'"));
    assert_non_null(strstr(msg, "pid "));
    assert_non_null(strstr(msg, "force-unlock"));
    close(out[0]);
}

static void test_state__lock_wait_and_dead_holder(void **unused)
{
    struct errbuf err = ERRBUF_INIT;
    struct state_backend *be;
    struct lock_info holder;
    char path[512];
    int out[2], status;
    pid_t a, b;
    (void)unused;

    path_in(path, sizeof(path), "wait/state.json");
    assert_int_equal(pipe(out), 0);
    a = fork();
    if (a == 0)
        lock_child(path, 0, 700, -1, out[1]);
    usleep(200 * 1000);
    b = fork();
    if (b == 0)
        lock_child(path, 5000, 10, -1, out[1]); /* waits, then proceeds */
    assert_int_equal(waitpid(a, &status, 0), a);
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(waitpid(b, &status, 0), b);
    assert_int_equal(WEXITSTATUS(status), 0);

    /* A holder killed with SIGKILL leaves no lock behind. */
    a = fork();
    if (a == 0)
        lock_child(path, 0, 60000, -1, out[1]);
    usleep(300 * 1000);
    assert_int_equal(backend_local_new(&be, path, &err), 0);
    assert_int_equal(state_backend_lock(be, "plan", 0, &holder, &err), AMLSEC_ELOCKED);
    assert_int_equal(holder.pid, a);
    kill(a, SIGKILL);
    assert_int_equal(waitpid(a, &status, 0), a);
    assert_int_equal(state_backend_lock(be, "plan", 0, NULL, &err), 0);
    state_backend_free(be);
    close(out[0]);
    close(out[1]);
}

static void test_state__force_unlock_by_id(void **unused)
{
    struct errbuf err = ERRBUF_INIT;
    struct state_backend *holder, *other;
    struct lock_info seen;
    struct state st;
    char path[512];
    int existed;
    (void)unused;

    path_in(path, sizeof(path), "force/state.json");
    assert_int_equal(backend_local_new(&holder, path, &err), 0);
    assert_int_equal(backend_local_new(&other, path, &err), 0);
    assert_int_equal(state_backend_load(&st, &existed, holder, NULL, &err), 0);
    assert_int_equal(state_backend_lock(holder, "apply", 0, NULL, &err), 0);
    assert_int_equal(state_backend_lock(other, "apply", 0, &seen, &err), AMLSEC_ELOCKED);
    assert_string_equal(seen.id, holder->lock.id);
    assert_int_equal(
        state_backend_force_unlock(other, "00000000-0000-4000-8000-000000000000", &err),
        AMLSEC_ECONFLICT);
    assert_int_equal(state_backend_force_unlock(other, "nope", &err), AMLSEC_EUSAGE);
    assert_int_equal(state_backend_force_unlock(other, seen.id, &err), 0);
    assert_int_equal(state_backend_lock(other, "apply", 0, NULL, &err), 0);
    /* the former holder can no longer write */
    assert_int_equal(state_backend_save(holder, &st, NULL, &err), AMLSEC_ELOCKED);
    assert_non_null(strstr(err.msg, "force-unlocked"));
    state_release(&st);
    state_backend_free(holder);
    state_backend_free(other);
}

static void test_state__unlocked_writer_conflict_detected(void **unused)
{
    struct errbuf err = ERRBUF_INIT;
    struct state_backend *a, *b;
    struct state sa, sb;
    char path[512];
    int existed;
    (void)unused;

    path_in(path, sizeof(path), "conflict/state.json");
    assert_int_equal(backend_local_new(&a, path, &err), 0);
    assert_int_equal(backend_local_new(&b, path, &err), 0);
    assert_int_equal(state_backend_load(&sa, &existed, a, NULL, &err), 0);
    assert_int_equal(state_backend_load(&sb, &existed, b, NULL, &err), 0);
    assert_int_equal(state_backend_save(a, &sa, NULL, &err), 0);
    assert_int_equal(state_backend_save(b, &sb, NULL, &err), AMLSEC_ECONFLICT);
    assert_int_equal(sb.serial, 0);
    state_release(&sa);
    state_release(&sb);
    state_backend_free(a);
    state_backend_free(b);
}

static const char *const backend_vars[] = {"AMLSEC_BACKEND",
                                           "AMLSEC_BLOB_URL",
                                           "AMLSEC_STORAGE_ACCOUNT",
                                           "AMLSEC_STORAGE_CONTAINER",
                                           "AMLSEC_STATE_BLOB",
                                           "ARM_ACCESS_KEY",
                                           "ARM_SAS_TOKEN",
                                           "ARM_USE_AZUREAD",
                                           "ARM_STORAGE_USE_AZUREAD",
                                           "AMLSEC_CA_BUNDLE",
                                           "AMLSEC_STATE_PASSPHRASE",
                                           "AMLSEC_STATE_KEY",
                                           "AMLSEC_STATE_KEY_FILE",
                                           "AMLSEC_STATE_LEASE_SECONDS",
                                           NULL};

/* Parses text as the only file of a configuration (parse only, as the
 * state commands do). */
static struct config *parse_settings(const char *text)
{
    char dir[300], path[400];
    struct config_opts o;
    struct config *conf = NULL;
    struct diag_list diags;
    struct errbuf err = ERRBUF_INIT;
    FILE *f;

    path_in(dir, sizeof(dir), "cfg");
    mkdir(dir, 0700);
    snprintf(path, sizeof(path), "%s/main.amlsec", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    memset(&o, 0, sizeof(o));
    o.path = dir;
    o.parse_only = true;
    diag_list_init(&diags);
    assert_int_equal(config_load(&conf, &o, &diags, &err), 0);
    assert_int_equal(diags.errors, 0);
    diag_list_release(&diags);
    return conf;
}

static void test_state__backend_precedence(void **unused)
{
    struct config *conf = parse_settings("settings {\n  state {\n"
                                         "    backend              = \"azurerm\"\n"
                                         "    storage_account_name = \"stfromsettings\"\n"
                                         "    container_name       = \"fromsettings\"\n"
                                         "    use_azuread_auth     = true\n"
                                         "    key_file             = \"settings.key\"\n"
                                         "  }\n}\n");
    struct backend_config cfg;
    struct diag_list diags;
    struct errbuf err = ERRBUF_INIT;
    (void)unused;

    for (size_t i = 0; backend_vars[i]; i++)
        unsetenv(backend_vars[i]);
    diag_list_init(&diags);
    /* settings alone */
    assert_int_equal(backend_config_from_settings(&cfg, conf, &diags), 0);
    assert_int_equal(backend_config_apply_env(&cfg, &diags, &err), 0);
    backend_config_apply_flags(&cfg, NULL);
    assert_string_equal(cfg.type, "azurerm");
    assert_string_equal(cfg.storage_account, "stfromsettings");
    assert_string_equal(cfg.container, "fromsettings");
    assert_true(cfg.use_azuread);
    assert_string_equal(cfg.key_file, "settings.key");
    assert_int_equal(backend_config_check(&cfg, &diags), 0);
    /* the environment wins over settings, setting by setting */
    setenv("AMLSEC_STORAGE_CONTAINER", "fromenv", 1);
    setenv("ARM_USE_AZUREAD", "false", 1);
    setenv("AMLSEC_STATE_PASSPHRASE", "pw", 1);
    assert_int_equal(backend_config_from_settings(&cfg, conf, &diags), 0);
    assert_int_equal(backend_config_apply_env(&cfg, &diags, &err), 0);
    assert_string_equal(cfg.storage_account, "stfromsettings");
    assert_string_equal(cfg.container, "fromenv");
    assert_false(cfg.use_azuread);
    assert_string_equal(cfg.passphrase, "pw");
    assert_null(cfg.key_file); /* a key from the environment replaces key_file */
    /* ARM_USE_AZUREAD (the azurerm backend's variable) wins over
     * ARM_STORAGE_USE_AZUREAD (the provider's), with a warning when they
     * disagree */
    setenv("ARM_STORAGE_USE_AZUREAD", "true", 1);
    assert_int_equal(backend_config_apply_env(&cfg, &diags, &err), 0);
    assert_false(cfg.use_azuread);
    assert_int_equal(diags.warnings, 1);
    assert_int_equal(diags.errors, 0);
    assert_null(diags.items[0].loc.file);
    assert_string_equal(diags.items[0].message,
                        "ARM_USE_AZUREAD (false) and ARM_STORAGE_USE_AZUREAD (true) disagree; the "
                        "state backend follows ARM_USE_AZUREAD");
    setenv("ARM_USE_AZUREAD", "1", 1);
    assert_int_equal(backend_config_apply_env(&cfg, &diags, &err), 0);
    assert_true(cfg.use_azuread);
    assert_int_equal(diags.warnings, 1); /* they agree: no second warning */
    /* the provider's variable alone is read, over the settings */
    unsetenv("ARM_USE_AZUREAD");
    setenv("ARM_STORAGE_USE_AZUREAD", "false", 1);
    assert_int_equal(backend_config_from_settings(&cfg, conf, &diags), 0);
    assert_true(cfg.use_azuread);
    assert_int_equal(backend_config_apply_env(&cfg, &diags, &err), 0);
    assert_false(cfg.use_azuread);
    assert_int_equal(diags.warnings, 1);
    setenv("ARM_STORAGE_USE_AZUREAD", "yes", 1);
    assert_int_equal(backend_config_apply_env(&cfg, &diags, &err), AMLSEC_EUSAGE);
    assert_non_null(strstr(err.msg, "ARM_STORAGE_USE_AZUREAD must be true or false"));
    unsetenv("ARM_STORAGE_USE_AZUREAD");
    /* the -state flag wins over both: the local backend at its path */
    setenv("AMLSEC_BACKEND", "azurerm", 1);
    assert_int_equal(backend_config_apply_env(&cfg, &diags, &err), 0);
    backend_config_apply_flags(&cfg, "flag.json");
    assert_string_equal(cfg.type, "local");
    assert_string_equal(cfg.path, "flag.json");
    /* what the merged settings lack is reported at the block */
    unsetenv("AMLSEC_STORAGE_CONTAINER");
    unsetenv("AMLSEC_BACKEND");
    assert_int_equal(backend_config_from_settings(&cfg, conf, &diags), 0);
    cfg.container = NULL;
    assert_int_equal(backend_config_check(&cfg, &diags), AMLSEC_EPARSE);
    assert_int_equal(diags.errors, 1);
    assert_string_equal(diags.items[diags.n - 1].message,
                        "the azurerm state backend needs a container");
    assert_int_equal(src_loc_start(&diags.items[diags.n - 1].loc).line, 2);
    for (size_t i = 0; backend_vars[i]; i++)
        unsetenv(backend_vars[i]);
    diag_list_release(&diags);
    config_free(conf);
}

/* AMLSEC_STATE_LEASE_SECONDS takes plain decimal whole seconds in 15..60
 * and nothing else; the error names the variable and the value. */
static void test_state__lease_seconds_strict(void **unused)
{
    static const struct {
        const char *text;
        int seconds;
    } good[] = {{"15", 15}, {"60", 60}, {"30", 30}, {"015", 15}};
    static const char *const bad[] = {"30s",
                                      "+30",
                                      "-30",
                                      " 30",
                                      "30 ",
                                      "14",
                                      "61",
                                      "0",
                                      "0x1e",
                                      "3e1",
                                      "30.0",
                                      "4294967326",
                                      "99999999999999999999",
                                      "x"};
    struct backend_config cfg;
    struct errbuf err = ERRBUF_INIT;
    struct diag_list diags;
    char want[200];
    (void)unused;

    diag_list_init(&diags);
    for (size_t i = 0; backend_vars[i]; i++)
        unsetenv(backend_vars[i]);
    memset(&cfg, 0, sizeof(cfg));
    assert_int_equal(backend_config_apply_env(&cfg, &diags, &err), 0);
    assert_int_equal(cfg.lease_seconds, 0); /* unset: the backend's default */
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        memset(&cfg, 0, sizeof(cfg));
        setenv("AMLSEC_STATE_LEASE_SECONDS", good[i].text, 1);
        assert_int_equal(backend_config_apply_env(&cfg, &diags, &err), 0);
        assert_int_equal(cfg.lease_seconds, good[i].seconds);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&cfg, 0, sizeof(cfg));
        setenv("AMLSEC_STATE_LEASE_SECONDS", bad[i], 1);
        assert_int_equal(backend_config_apply_env(&cfg, &diags, &err), AMLSEC_EUSAGE);
        snprintf(want, sizeof(want),
                 "AMLSEC_STATE_LEASE_SECONDS: expected whole seconds between 15 and 60, got '%s'",
                 bad[i]);
        assert_string_equal(err.msg, want);
        assert_int_equal(cfg.lease_seconds, 0);
    }
    unsetenv("AMLSEC_STATE_LEASE_SECONDS");
    assert_int_equal(diags.n, 0);
    diag_list_release(&diags);
}

static void check_journal_path(const struct backend_config *cfg, const char *want)
{
    char *got = backend_config_journal_path(cfg);
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

/* An endpoint-only blob backend's journal is named by the endpoint's host,
 * port and path; account-named and local journals keep their names. */
static void test_state__journal_path_names_endpoint(void **unused)
{
    struct backend_config cfg = BACKEND_CONFIG_INIT;
    (void)unused;

    check_journal_path(&cfg, ".amlsec/state.json.journal");
    cfg.path = "states/prod.json";
    check_journal_path(&cfg, "states/prod.json.journal");
    cfg.type = "azurerm";
    cfg.container = "tfstate";
    cfg.blob_name = "envs/prod.state";
    cfg.storage_account = "stmlstate";
    cfg.blob_url = "https://stmlstate.blob.core.windows.net";
    check_journal_path(&cfg, ".amlsec/stmlstate-tfstate-envs_prod.state.journal");
    cfg.storage_account = NULL;
    check_journal_path(
        &cfg, ".amlsec/stmlstate.blob.core.windows.net_443-tfstate-envs_prod.state.journal");
    /* the same endpoint, spelled with its default port, case or a final '/' */
    cfg.blob_url = "https://StMLstate.blob.core.windows.net:443/";
    check_journal_path(
        &cfg, ".amlsec/stmlstate.blob.core.windows.net_443-tfstate-envs_prod.state.journal");
    /* another host, another port, another path-style account: another journal */
    cfg.blob_url = "https://stother.blob.core.windows.net";
    check_journal_path(&cfg,
                       ".amlsec/stother.blob.core.windows.net_443-tfstate-envs_prod.state.journal");
    cfg.blob_url = "http://127.0.0.1:10000/devstoreaccount1";
    check_journal_path(&cfg,
                       ".amlsec/127.0.0.1_10000_devstoreaccount1-tfstate-envs_prod.state.journal");
    cfg.blob_url = "http://127.0.0.1:10001/devstoreaccount1";
    check_journal_path(&cfg,
                       ".amlsec/127.0.0.1_10001_devstoreaccount1-tfstate-envs_prod.state.journal");
    cfg.blob_url = "http://127.0.0.1/devstoreaccount2";
    check_journal_path(&cfg,
                       ".amlsec/127.0.0.1_80_devstoreaccount2-tfstate-envs_prod.state.journal");
    cfg.blob_url = "https://[::1]:10000/devstoreaccount1";
    check_journal_path(&cfg,
                       ".amlsec/___1__10000_devstoreaccount1-tfstate-envs_prod.state.journal");
    /* credentials in a URL never reach a file name */
    cfg.blob_url = "https://user:S3cret@stmlstate.blob.core.windows.net?sv=1&sig=S3cret";
    check_journal_path(
        &cfg, ".amlsec/stmlstate.blob.core.windows.net_443-tfstate-envs_prod.state.journal");
}

/* The lease renewal starts early enough that a renewal taking all its time
 * (a token refresh up to its timeout, then the Lease Blob request up to
 * its) is answered before the lease counts as lost, which is before it can
 * lapse. Renewing a third of the way in, counted from the end of the
 * previous renewal, let a slow token refresh overshoot a 60 s lease. */
static void test_state__lease_renewal_schedule(void **unused)
{
    const int64_t key = BLOB_LEASE_REQUEST_TIMEOUT_MS,
                  entra = BLOB_LEASE_REQUEST_TIMEOUT_MS + AUTH_TOKEN_TIMEOUT_MS;
    struct lease_schedule s;
    (void)unused;

    /* 60 s with a shared key or SAS: every 20 s, lost 2 s before it can lapse */
    lease_schedule_compute(&s, 60, key);
    assert_int_equal(s.renew_at, 20000);
    assert_int_equal(s.lost_at, 58000);
    /* 60 s with Entra ID: 30 s of token refresh + 10 s of request still fit */
    lease_schedule_compute(&s, 60, entra);
    assert_int_equal(s.renew_at, 18000);
    assert_int_equal(s.lost_at, 58000);
    assert_true(s.renew_at + entra <= s.lost_at);
    /* 15 s (tests) with a shared key */
    lease_schedule_compute(&s, 15, key);
    assert_int_equal(s.renew_at, 3000);
    assert_int_equal(s.lost_at, 13000);
    /* 15 s with Entra ID cannot fit a whole token timeout: renew every
     * second, and the deadline fails writes before the lease can lapse */
    lease_schedule_compute(&s, 15, entra);
    assert_int_equal(s.renew_at, BLOB_LEASE_MIN_RENEW_MS);
    assert_int_equal(s.lost_at, 13000);
    for (int secs = BLOB_LEASE_MIN_SECONDS; secs <= BLOB_LEASE_MAX_SECONDS; secs++) {
        const int64_t attempts[] = {0, key, entra, 200000};
        for (size_t i = 0; i < sizeof(attempts) / sizeof(attempts[0]); i++) {
            lease_schedule_compute(&s, secs, attempts[i]);
            assert_int_equal(s.lost_at, secs * 1000 - BLOB_LEASE_GUARD_MS);
            assert_true(s.lost_at < secs * 1000);
            assert_true(s.renew_at >= BLOB_LEASE_MIN_RENEW_MS);
            assert_true(s.renew_at <= secs * 1000 / 3);
            if (s.lost_at - attempts[i] >= BLOB_LEASE_MIN_RENEW_MS)
                assert_true(s.renew_at + attempts[i] <= s.lost_at);
        }
    }
}

/* Bearer tokens never travel in clear text, not even to loopback. */
static int no_token(char **out, const char *scope, void *payload, struct errbuf *err)
{
    (void)scope;
    (void)payload;
    *out = NULL;
    return errbuf_set(err, AMLSEC_EUSAGE, "not called");
}

static void test_state__blob_token_needs_https(void **unused)
{
    struct blob_client_opts o = {0};
    struct blob_client *bc = NULL;
    struct errbuf err = ERRBUF_INIT;
    (void)unused;

    o.endpoint = "http://127.0.0.1:10000/devstoreaccount1";
    o.container = "c";
    o.blob = "b";
    o.token_fn = no_token;
    assert_int_equal(blob_client_new(&bc, &o, &err), AMLSEC_EUSAGE);
    assert_null(bc);
    assert_non_null(strstr(err.msg, "Entra tokens are only sent over https"));
    o.endpoint = "https://127.0.0.1:10000/devstoreaccount1";
    assert_int_equal(blob_client_new(&bc, &o, &err), 0);
    blob_client_free(bc);
}

/* A state edited by hand with its checksum recomputed: the envelope around
 * one resource line. */
static int parse_edited(struct errbuf *err, const char *resource)
{
    struct state st;
    struct buf body, doc;
    char digest[72];
    int rc;
    buf_init(&body, 1 << 20);
    buf_init(&doc, 1 << 20);
    assert_int_equal(buf_addf(&body,
                              "{\"amlsec_version\":\"0.1.0\",\"lineage\":"
                              "\"7c0e2a6e-0000-4000-8000-000000000001\",\"resources\":[\n%s\n],"
                              "\"serial\":3}",
                              resource),
                     0);
    journal_digest(digest, body.ptr, body.len);
    assert_int_equal(buf_addf(&doc, "{\"format_version\":1,\"sha256\":\"%s\",\"state\":%s}\n",
                              digest + 7, body.ptr),
                     0);
    rc = state_parse(&st, doc.ptr, doc.len, "edited.json", err);
    if (rc == 0)
        state_release(&st);
    buf_release(&body);
    buf_release(&doc);
    return rc;
}

/* An output entry without its fields is refused naming it: the message
 * named the entry after freeing the document it was read from (a
 * heap-use-after-free under ASan; fuzz_state found it). */
static void test_state__bad_output_named(void **unused)
{
    struct errbuf err = ERRBUF_INIT;
    struct state st;
    struct buf body, doc;
    char digest[72];
    (void)unused;
    buf_init(&body, 1 << 20);
    buf_init(&doc, 1 << 20);
    assert_int_equal(buf_adds(&body, "{\"amlsec_version\":\"0.1.0\",\"lineage\":"
                                     "\"7c0e2a6e-0000-4000-8000-000000000001\",\"outputs\":{"
                                     "\"workspace_identity_principal\":{\"type\":\"string\","
                                     "\"value\":\"x\"}},\"resources\":[],\"serial\":3}"),
                     0);
    journal_digest(digest, body.ptr, body.len);
    assert_int_equal(buf_addf(&doc, "{\"format_version\":1,\"sha256\":\"%s\",\"state\":%s}\n",
                              digest + 7, body.ptr),
                     0);
    assert_int_equal(state_parse(&st, doc.ptr, doc.len, "edited.json", &err), AMLSEC_EPARSE);
    assert_non_null(strstr(err.msg, "outputs.workspace_identity_principal"));
    assert_non_null(strstr(err.msg, "needs 'sensitive' (a bool)"));
    buf_release(&body);
    buf_release(&doc);
}

#define EDITED(address, arm_id, attrs)                                                             \
    "{\"address\":\"" address "\",\"api_version\":\"2025-05-01\",\"arm_id\":\"" arm_id             \
    "\",\"attributes\":" attrs ",\"dependencies\":[],\"kind\":\"key_vault\",\"sensitive\":[],"     \
    "\"status\":\"created\"}"
#define KV_ID "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv"

/* Hand-edited state with a valid checksum is still validated: invalid
 * UTF-8, an address that is not kind.name, an id that is not an ARM id are
 * refused naming the file and the JSON path (never "out of memory"). */
static void test_state__hand_edited_fields_validated(void **unused)
{
    struct errbuf err = ERRBUF_INIT;
    (void)unused;
    assert_int_equal(parse_edited(&err, EDITED("key_vault.kv", KV_ID, "{\"name\":\"kv\"}")), 0);
    assert_int_equal(parse_edited(&err, EDITED("key_vault.kv[\\\"a\\\"]", KV_ID, "{}")), 0);
    assert_int_equal(parse_edited(&err, EDITED("key_vault.kv (previous)", KV_ID, "{}")), 0);
    assert_int_equal(parse_edited(&err, EDITED("key_vault.kv", "/subscriptions/s", "{}")), 0);
    assert_int_equal(parse_edited(&err, EDITED("key_vault.kv",
                                               "/providers/Microsoft.Management/"
                                               "managementGroups/mg",
                                               "{\"n\":\"caf\xc3\xa9 \xe2\x82\xac\"}")),
                     0);

    assert_int_equal(parse_edited(&err, EDITED("key_vault.kv", KV_ID, "{\"name\":\"k\xff\"}")),
                     AMLSEC_EPARSE);
    assert_non_null(strstr(err.msg, "'edited.json': resources[0].attributes: invalid UTF-8"));
    assert_int_equal(parse_edited(&err, EDITED("key_vault.kv", KV_ID, "{\"n\":\"\xc0\xaf\"}")),
                     AMLSEC_EPARSE); /* an overlong '/' */
    assert_int_equal(parse_edited(&err, EDITED("key_vault.kv", KV_ID, "{\"n\":\"\xed\xa0\x80\"}")),
                     AMLSEC_EPARSE); /* a surrogate */
    assert_int_equal(parse_edited(&err, EDITED("k\xc3", KV_ID, "{}")), AMLSEC_EPARSE);
    assert_non_null(strstr(err.msg, "resources[0].address: invalid UTF-8"));

    static const char *const bad_addresses[] = {"garbage",      "key_vault.",    "key_vault.9x",
                                                "workspace.kv", "key_vault.kv[", "key_vault.a b"};
    for (size_t i = 0; i < sizeof(bad_addresses) / sizeof(bad_addresses[0]); i++) {
        char line[1024];
        snprintf(line, sizeof(line),
                 "{\"address\":\"%s\",\"api_version\":\"1\",\"arm_id\":\"" KV_ID
                 "\",\"attributes\":{},\"dependencies\":[],\"kind\":\"key_vault\","
                 "\"sensitive\":[],\"status\":\"created\"}",
                 bad_addresses[i]);
        assert_int_equal(parse_edited(&err, line), AMLSEC_EPARSE);
        assert_non_null(strstr(err.msg, "'edited.json': resources[0].address: "));
    }
    static const char *const bad_ids[] = {
        "garbage",
        "/subscriptions/",
        "/subscriptions/s//resourceGroups/rg",
        "/subscriptions/s/resourceGroups/rg/",
        "/subscriptions/s/resourceGroups",
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults",
        "/subscriptions/s/resourceGroups/rg/providers/NoNamespace/vaults/kv",
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/k v",
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv?x=1",
        "/tenants/t/providers/Microsoft.KeyVault/vaults/kv",
    };
    for (size_t i = 0; i < sizeof(bad_ids) / sizeof(bad_ids[0]); i++) {
        char line[1024];
        snprintf(line, sizeof(line),
                 "{\"address\":\"key_vault.kv\",\"api_version\":\"1\",\"arm_id\":\"%s\","
                 "\"attributes\":{},\"dependencies\":[],\"kind\":\"key_vault\","
                 "\"sensitive\":[],\"status\":\"created\"}",
                 bad_ids[i]);
        assert_int_equal(parse_edited(&err, line), AMLSEC_EPARSE);
        assert_non_null(strstr(err.msg, "'edited.json': resources[0].arm_id: "));
    }
}

/* Symbolic links at the state's own paths are refused, never followed: the
 * lock holder's identity is not written through one, and a linked state is
 * not replaced by a regular file. */
static void test_state__symlinks_refused(void **unused)
{
    struct errbuf err = ERRBUF_INIT;
    struct state_backend *be;
    struct state st;
    struct stat sb;
    char path[512], lock[600], victim[512], real[512];
    int existed;
    (void)unused;

    path_in(path, sizeof(path), "links/state.json");
    path_in(victim, sizeof(victim), "links/victim");
    path_in(real, sizeof(real), "links/real.json");
    snprintf(lock, sizeof(lock), "%s.lock", path);
    assert_int_equal(file_mkdir_parents(path, &err), 0);
    assert_int_equal(file_write_atomic(victim, "precious\n", 9, 0600, &err), 0);

    /* a link where the lock file goes: refused, the target keeps its bytes */
    assert_int_equal(symlink(victim, lock), 0);
    assert_int_equal(backend_local_new(&be, path, &err), 0);
    assert_int_equal(state_backend_lock(be, "apply", 0, NULL, &err), AMLSEC_EUSAGE);
    assert_non_null(strstr(err.msg, "is a symbolic link"));
    assert_int_equal(state_backend_force_unlock(be, "x", &err), AMLSEC_EUSAGE);
    assert_int_equal(stat(victim, &sb), 0);
    assert_int_equal(sb.st_size, 9);
    state_backend_free(be);
    assert_int_equal(unlink(lock), 0);

    /* a linked state: refused on read and on write; the link stays a link */
    assert_int_equal(backend_local_new(&be, real, &err), 0);
    assert_int_equal(state_backend_load(&st, &existed, be, NULL, &err), 0);
    add_resource(&st, "x.one", 1);
    assert_int_equal(state_backend_save(be, &st, NULL, &err), 0);
    state_release(&st);
    state_backend_free(be);
    assert_int_equal(symlink(real, path), 0);
    assert_int_equal(backend_local_new(&be, path, &err), 0);
    assert_int_equal(state_backend_load(&st, &existed, be, NULL, &err) == 0 ? 0 : err.code,
                     AMLSEC_EUSAGE);
    assert_non_null(strstr(err.msg, "real.json"));
    state_backend_free(be);
    assert_int_equal(lstat(path, &sb), 0);
    assert_true(S_ISLNK(sb.st_mode));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_state__roundtrip_is_canonical),
        cmocka_unit_test(test_state__rename_all_at_once),
        cmocka_unit_test(test_state__module_move_linear),
        cmocka_unit_test(test_state__mv_keys_not_mixed),
        cmocka_unit_test(test_state__hand_edited_fields_validated),
        cmocka_unit_test(test_state__bad_output_named),
        cmocka_unit_test(test_state__symlinks_refused),
        cmocka_unit_test(test_state__bad_input_refused),
        cmocka_unit_test(test_state__local_refuses_damage_without_overwrite),
        cmocka_unit_test(test_state__killed_writer_leaves_old_or_new),
        cmocka_unit_test(test_state__lock_race_exactly_one),
        cmocka_unit_test(test_state__lock_wait_and_dead_holder),
        cmocka_unit_test(test_state__force_unlock_by_id),
        cmocka_unit_test(test_state__unlocked_writer_conflict_detected),
        cmocka_unit_test(test_state__backend_precedence),
        cmocka_unit_test(test_state__blob_token_needs_https),
        cmocka_unit_test(test_state__lease_seconds_strict),
        cmocka_unit_test(test_state__journal_path_names_endpoint),
        cmocka_unit_test(test_state__lease_renewal_schedule),
    };
    return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
