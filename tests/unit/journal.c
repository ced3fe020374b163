/* Unit tests for state/journal: an applier killed (SIGKILL) before the
 * request, after the request, after the response, and for deletes; the next
 * run reconciles by reading a fake cloud and never repeats a delete. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "state/backend.h"
#include "state/backend_local.h"
#include "state/journal.h"
#include "util/error.h"
#include "util/fileio.h"
#include "util/jsonw.h"

static char dir[256];

static int setup(void **unused)
{
    (void)unused;
    snprintf(dir, sizeof(dir), "/tmp/amlsec-journal-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **unused)
{
    char cmd[400];
    (void)unused;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* The fake cloud: one file per ARM id under <case>/cloud/. */
struct cloud {
    char root[512];
    int reads;
    int deletes;
};

static void cloud_path(char *out, size_t n, const struct cloud *c, const char *arm_id)
{
    char digest[72];
    journal_digest(digest, arm_id, strlen(arm_id));
    snprintf(out, n, "%s/%s", c->root, digest + 7);
}

static void cloud_put(struct cloud *c, const char *arm_id, json_t *obj)
{
    char path[700];
    char *text = json_dumps(obj, JSON_COMPACT);
    struct errbuf err = ERRBUF_INIT;
    cloud_path(path, sizeof(path), c, arm_id);
    assert_int_equal(file_write_atomic(path, text, strlen(text), 0600, &err), 0);
    free(text);
}

static void cloud_delete(struct cloud *c, const char *arm_id)
{
    char path[700];
    cloud_path(path, sizeof(path), c, arm_id);
    assert_int_equal(unlink(path), 0);
    c->deletes++;
}

static int cloud_read(void *payload, const char *kind, const char *arm_id, json_t **out)
{
    struct cloud *c = payload;
    char path[700];
    assert_non_null(kind); /* the reader gets the kind: an id alone may not say the type */
    cloud_path(path, sizeof(path), c, arm_id);
    c->reads++;
    *out = json_load_file(path, 0, NULL);
    return *out ? 0 : AMLSEC_ENOTFOUND;
}

enum kill_point { KILL_BEFORE_REQUEST, KILL_AFTER_REQUEST, KILL_AFTER_RESPONSE, KILL_NEVER };

#define WS_ID                                                                                      \
    "/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws"
static const char ws_id[] = WS_ID;

struct scenario {
    char state_path[512], journal_path[512];
    struct cloud cloud;
};

static void scenario_init(struct scenario *s, const char *name)
{
    memset(s, 0, sizeof(*s));
    snprintf(s->cloud.root, sizeof(s->cloud.root), "%s/%s/cloud", dir, name);
    snprintf(s->state_path, sizeof(s->state_path), "%s/%s/state.json", dir, name);
    snprintf(s->journal_path, sizeof(s->journal_path), "%s/%s/journal", dir, name);
    {
        char d[600];
        snprintf(d, sizeof(d), "%s/%s", dir, name);
        assert_int_equal(mkdir(d, 0700), 0);
    }
    assert_int_equal(mkdir(s->cloud.root, 0700), 0);
}

/* The applier: one create or delete of the workspace, killed at `at`. */
static void applier(struct scenario *s, enum journal_op op, enum kill_point at,
                    struct crypt_keys *keys)
{
    struct errbuf err = ERRBUF_INIT;
    struct state_backend *be;
    struct journal j;
    struct state st;
    char id[40], digest[72];
    const char *body = "{\"location\":\"westeurope\"}";
    json_t *live =
        json_pack("{s:s, s:{s:s}}", "name", "ws", "properties", "publicNetworkAccess", "Disabled");
    struct journal_intent in = {.address = "azurerm_machine_learning_workspace.main",
                                .kind = "azurerm_machine_learning_workspace",
                                .arm_id = ws_id,
                                .api_version = "2024-04-01",
                                .op = op,
                                .request_digest = digest};
    int existed;

    journal_digest(digest, body, strlen(body));
    if (backend_local_new(&be, s->state_path, &err) < 0 ||
        state_backend_lock(be, "apply", 0, NULL, &err) < 0 ||
        state_backend_load(&st, &existed, be, keys, &err) < 0 ||
        journal_open(&j, s->journal_path, keys, &err) < 0)
        _exit(1);
    if (journal_begin(&j, &in, id, &err) < 0)
        _exit(1);
    if (at == KILL_BEFORE_REQUEST)
        raise(SIGKILL);
    if (op == JOURNAL_DELETE)
        cloud_delete(&s->cloud, ws_id);
    else
        cloud_put(&s->cloud, ws_id, live);
    if (at == KILL_AFTER_REQUEST)
        raise(SIGKILL);
    if (journal_complete(&j, id, 1, op == JOURNAL_DELETE ? NULL : live, &err) < 0)
        _exit(1);
    if (at == KILL_AFTER_RESPONSE)
        raise(SIGKILL);
    if (journal_fold(&j, &st, id, &err) < 0 || state_backend_save(be, &st, keys, &err) < 0 ||
        journal_done(&j, id, &err) < 0 || journal_compact(&j, &err) < 0)
        _exit(1);
    _exit(0);
}

static void run_applier(struct scenario *s, enum journal_op op, enum kill_point at,
                        struct crypt_keys *keys)
{
    int status;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        applier(s, op, at, keys);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (at == KILL_NEVER) {
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    } else {
        assert_true(WIFSIGNALED(status));
        assert_int_equal(WTERMSIG(status), SIGKILL);
    }
}

/* The clock recovery sees (0: the real one). */
static long fake_now;

/* The next run: reconcile, save, settle. Returns the recovered count and
 * the single outcome in *outcome. */
static size_t next_run(struct scenario *s, struct crypt_keys *keys, enum journal_outcome *outcome,
                       enum journal_phase *phase)
{
    struct errbuf err = ERRBUF_INIT;
    struct state_backend *be;
    struct journal j;
    struct journal_recovery rec;
    struct state st;
    int existed;
    size_t n;

    assert_int_equal(backend_local_new(&be, s->state_path, &err), 0);
    assert_int_equal(state_backend_lock(be, "apply", 0, NULL, &err), 0);
    assert_int_equal(state_backend_load(&st, &existed, be, keys, &err), 0);
    struct journal_reader rd = {.read = cloud_read, .payload = &s->cloud, .now = fake_now};
    assert_int_equal(journal_open(&j, s->journal_path, keys, &err), 0);
    assert_int_equal(journal_reconcile(&rec, &j, &st, &rd, &err), 0);
    n = rec.count;
    if (n == 1) {
        *outcome = rec.items[0].outcome;
        *phase = rec.items[0].phase;
    }
    assert_int_equal(state_backend_save(be, &st, keys, &err), 0);
    assert_int_equal(journal_settle(&j, &rec, &err), 0);
    assert_int_equal(journal_pending(&j, NULL, 0), rec.pending);
    journal_recovery_release(&rec);
    journal_release(&j);
    state_release(&st);
    state_backend_free(be);
    return n;
}

static int state_has_ws(struct scenario *s, struct crypt_keys *keys)
{
    struct errbuf err = ERRBUF_INIT;
    struct state_backend *be;
    struct state st;
    int existed, has;
    assert_int_equal(backend_local_new(&be, s->state_path, &err), 0);
    assert_int_equal(state_backend_load(&st, &existed, be, keys, &err), 0);
    has = state_find(&st, "azurerm_machine_learning_workspace.main") != NULL;
    if (has) {
        json_t *attrs;
        assert_int_equal(
            state_resource_attributes(
                &attrs, state_find(&st, "azurerm_machine_learning_workspace.main"), &err),
            0);
        assert_string_equal(json_string_value(json_object_get(json_object_get(attrs, "properties"),
                                                              "publicNetworkAccess")),
                            "Disabled");
    }
    state_release(&st);
    state_backend_free(be);
    return has;
}

static int cloud_has_ws(struct scenario *s)
{
    json_t *obj = NULL;
    int rc = cloud_read(&s->cloud, "workspace", ws_id, &obj);
    s->cloud.reads--;
    json_decref(obj);
    return rc == 0;
}

static void test_journal__create_killed_before_request(void **unused)
{
    struct scenario s;
    enum journal_outcome o;
    enum journal_phase ph;
    (void)unused;
    scenario_init(&s, "c-before");
    run_applier(&s, JOURNAL_CREATE, KILL_BEFORE_REQUEST, NULL);
    /* the request may have left: a create is invisible until it ends, so
     * the intent stays pending and the next run looks again */
    assert_int_equal(next_run(&s, NULL, &o, &ph), 1);
    assert_int_equal(o, JOURNAL_PENDING);
    assert_int_equal(ph, JOURNAL_BEGUN);
    assert_int_equal(s.cloud.reads, 1);
    assert_false(state_has_ws(&s, NULL));
    assert_false(cloud_has_ws(&s));
    assert_int_equal(next_run(&s, NULL, &o, &ph), 1);
    assert_int_equal(o, JOURNAL_PENDING);
    /* a day later it is dropped: nothing pending any more */
    fake_now = (long)time(NULL) + JOURNAL_PENDING_MAX_S + 60;
    assert_int_equal(next_run(&s, NULL, &o, &ph), 1);
    fake_now = 0;
    assert_int_equal(o, JOURNAL_DROPPED);
    assert_false(state_has_ws(&s, NULL));
    assert_int_equal(next_run(&s, NULL, &o, &ph), 0);
}

static void test_journal__create_killed_after_request(void **unused)
{
    struct scenario s;
    enum journal_outcome o;
    enum journal_phase ph;
    (void)unused;
    scenario_init(&s, "c-request");
    run_applier(&s, JOURNAL_CREATE, KILL_AFTER_REQUEST, NULL);
    assert_true(cloud_has_ws(&s));
    assert_false(state_has_ws(&s, NULL)); /* exists in Azure, not in state... */
    assert_int_equal(next_run(&s, NULL, &o, &ph), 1);
    assert_int_equal(o, JOURNAL_ADOPTED);
    assert_int_equal(ph, JOURNAL_BEGUN);
    assert_true(state_has_ws(&s, NULL)); /* ...until the next run recovers it */
}

static void test_journal__create_killed_after_response(void **unused)
{
    struct scenario s;
    enum journal_outcome o;
    enum journal_phase ph;
    (void)unused;
    scenario_init(&s, "c-response");
    run_applier(&s, JOURNAL_CREATE, KILL_AFTER_RESPONSE, NULL);
    assert_false(state_has_ws(&s, NULL));
    assert_int_equal(next_run(&s, NULL, &o, &ph), 1);
    assert_int_equal(o, JOURNAL_ADOPTED);
    assert_int_equal(ph, JOURNAL_COMPLETED);
    assert_true(state_has_ws(&s, NULL));
}

static void test_journal__delete_never_repeated(void **unused)
{
    struct scenario s;
    enum journal_outcome o;
    enum journal_phase ph;
    (void)unused;
    scenario_init(&s, "delete");
    run_applier(&s, JOURNAL_CREATE, KILL_NEVER, NULL);
    assert_true(state_has_ws(&s, NULL));

    /* killed before the delete request: the resource stays in the state */
    run_applier(&s, JOURNAL_DELETE, KILL_BEFORE_REQUEST, NULL);
    assert_int_equal(next_run(&s, NULL, &o, &ph), 1);
    assert_int_equal(o, JOURNAL_NOT_DELETED);
    assert_true(state_has_ws(&s, NULL));
    assert_true(cloud_has_ws(&s));

    /* killed after the delete went out: removed from the state, and the
     * recovery only read (the one delete was the killed run's) */
    run_applier(&s, JOURNAL_DELETE, KILL_AFTER_REQUEST, NULL);
    assert_false(cloud_has_ws(&s));
    s.cloud.reads = 0;
    assert_int_equal(next_run(&s, NULL, &o, &ph), 1);
    assert_int_equal(o, JOURNAL_REMOVED);
    assert_int_equal(s.cloud.reads, 1);
    assert_int_equal(s.cloud.deletes, 0); /* counted in this process: none */
    assert_false(state_has_ws(&s, NULL));
}

static void test_journal__encrypted_and_damage(void **unused)
{
    struct errbuf err = ERRBUF_INIT;
    struct crypt_keys keys, wrong;
    struct scenario s;
    struct journal j;
    struct buf b;
    enum journal_outcome o;
    enum journal_phase ph;
    int fd;
    (void)unused;

    crypt_keys_init(&keys);
    crypt_keys_init(&wrong);
    assert_int_equal(crypt_key_set_text(&keys.primary,
                                        "000102030405060708090a0b0c0d0e0f"
                                        "101112131415161718191a1b1c1d1e1f",
                                        "k", &err),
                     0);
    assert_int_equal(crypt_key_set_text(&wrong.primary,
                                        "ff0102030405060708090a0b0c0d0e0f"
                                        "101112131415161718191a1b1c1d1e1f",
                                        "k", &err),
                     0);
    scenario_init(&s, "encrypted");
    run_applier(&s, JOURNAL_CREATE, KILL_AFTER_RESPONSE, &keys);
    buf_init(&b, 1 << 20);
    assert_int_equal(file_read_all(&b, s.journal_path, 1 << 20, &err), 0);
    assert_null(strstr(b.ptr, "workspace"));
    assert_null(strstr(b.ptr, "Disabled"));
    assert_int_equal(journal_open(&j, s.journal_path, &wrong, &err), AMLSEC_ECORRUPT);
    assert_int_equal(journal_open(&j, s.journal_path, NULL, &err), AMLSEC_EUSAGE);

    /* a torn last record (killed inside write) is discarded */
    fd = open(s.journal_path, O_WRONLY | O_APPEND);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "QU1MU0VD", 8), 8);
    close(fd);
    assert_int_equal(journal_open(&j, s.journal_path, &keys, &err), 0);
    assert_int_equal(j.discarded_torn, 1);
    assert_int_equal(journal_pending(&j, NULL, 0), 1);
    journal_release(&j);
    assert_int_equal(next_run(&s, &keys, &o, &ph), 1);
    assert_int_equal(o, JOURNAL_ADOPTED);
    assert_true(state_has_ws(&s, &keys));

    /* damaged lines are set aside, not fatal (test_journal__unreadable_entries) */
    assert_int_equal(file_write_atomic(s.journal_path, "garbage\n{}\n", 11, 0600, &err), 0);
    assert_int_equal(journal_open(&j, s.journal_path, &keys, &err), 0);
    assert_int_equal(j.nunreadable, 2);
    assert_int_equal(j.unreadable[0].line, 1);
    assert_int_equal(j.unreadable[1].offset, 8);
    journal_release(&j);
    buf_release(&b);
    crypt_keys_release(&keys);
    crypt_keys_release(&wrong);
}

/* Writes an intent for the workspace by hand (as a killed applier leaves
 * it) and returns its id. */
static void begin_intent(struct journal *j, enum journal_op op, const char *address,
                         const char *arm_id, char id[40])
{
    struct errbuf err = ERRBUF_INIT;
    char digest[72];
    struct journal_intent in = {.address = address,
                                .kind = "workspace",
                                .arm_id = arm_id,
                                .api_version = "2025-09-01",
                                .op = op,
                                .request_digest = digest};
    journal_digest(digest, "{}", 2);
    assert_int_equal(journal_begin(j, &in, id, &err), 0);
}

/* A response is kept until its outcome is in a saved state (journal_done),
 * then dropped: a large apply kept every response until the end. The
 * journal read back keeps only the pending one's. */
static void test_journal__done_drops_the_response(void **unused)
{
    struct errbuf err = ERRBUF_INIT;
    struct journal j;
    char path[400], a[40], b[40];
    json_t *attrs = json_pack("{s:s}", "name", "ws");
    (void)unused;
    snprintf(path, sizeof(path), "%s/done-drops.journal", dir);
    assert_int_equal(journal_open(&j, path, NULL, &err), 0);
    begin_intent(&j, JOURNAL_CREATE, "workspace.a", WS_ID, a);
    begin_intent(&j, JOURNAL_CREATE, "workspace.b", WS_ID "b", b);
    assert_int_equal(journal_complete(&j, a, 1, attrs, &err), 0);
    assert_int_equal(journal_complete(&j, b, 1, attrs, &err), 0);
    assert_non_null(j.entries[0].attributes);
    assert_int_equal(journal_done(&j, a, &err), 0);
    assert_null(j.entries[0].attributes);
    assert_non_null(j.entries[1].attributes);
    journal_release(&j);
    assert_int_equal(journal_open(&j, path, NULL, &err), 0);
    assert_int_equal(j.nentries, 2);
    assert_null(j.entries[0].attributes);
    assert_true(json_equal(j.entries[1].attributes, attrs));
    journal_release(&j);
    json_decref(attrs);
}

/* A response holding a whole number beyond int64 (util/jsonw.h's big
 * number) is journaled as a JSON number and read back exactly (jansson
 * alone refuses the line: the record was lost). */
static void test_journal__big_number_read_back(void **unused)
{
    struct errbuf err = ERRBUF_INIT;
    struct journal j;
    char path[400], a[40];
    json_t *attrs =
        json_pack("{s:s, s:o}", "name", "ws", "size", jsonw_big("18446744073709551616", 20));
    (void)unused;
    snprintf(path, sizeof(path), "%s/big-number.journal", dir);
    assert_int_equal(journal_open(&j, path, NULL, &err), 0);
    begin_intent(&j, JOURNAL_CREATE, "workspace.a", WS_ID, a);
    assert_int_equal(journal_complete(&j, a, 1, attrs, &err), 0);
    journal_release(&j);
    {
        char text[4096] = "";
        FILE *f = fopen(path, "r");
        size_t n = f ? fread(text, 1, sizeof(text) - 1, f) : 0;
        if (f)
            fclose(f);
        text[n] = '\0';
        assert_non_null(strstr(text, "\"size\":18446744073709551616"));
    }
    assert_int_equal(journal_open(&j, path, NULL, &err), 0);
    assert_int_equal(j.nentries, 1);
    assert_true(json_equal(j.entries[0].attributes, attrs));
    journal_release(&j);
    json_decref(attrs);
}

static json_t *attributes_of(struct state *st, const char *address)
{
    struct errbuf err = ERRBUF_INIT;
    json_t *attrs = NULL;
    assert_non_null(state_find(st, address));
    assert_int_equal(state_resource_attributes(&attrs, state_find(st, address), &err), 0);
    return attrs;
}

/* A killed run's journaled outcomes are folded into the state from their
 * responses: recovery reads only what was in flight. Two sizes in one run:
 * 20 and 800 outcomes, each with two intents in flight, cost two reads
 * each (it read every outcome the last save did not hold before: 22 and
 * 802, a 36x margin at the larger size). */
static void recover_outcomes(size_t n, int *reads, size_t *folded, size_t *resources)
{
    struct errbuf err = ERRBUF_INIT;
    struct scenario s;
    struct journal j;
    struct journal_recovery rec;
    struct journal_reader rd;
    struct state_backend *be;
    struct state st;
    char name[32], id[40], addr[64], arm[200];
    int existed;
    json_t *attrs = json_pack("{s:s}", "name", "ws");

    snprintf(name, sizeof(name), "fold%zu", n);
    scenario_init(&s, name);
    assert_int_equal(journal_open(&j, s.journal_path, NULL, &err), 0);
    for (size_t i = 0; i < n; i++) {
        snprintf(addr, sizeof(addr), "workspace.w%zu", i);
        snprintf(arm, sizeof(arm), WS_ID "%zu", i);
        begin_intent(&j, JOURNAL_CREATE, addr, arm, id);
        assert_int_equal(journal_complete(&j, id, 1, attrs, &err), 0);
    }
    /* the last one deleted again: a journaled delete is folded too */
    begin_intent(&j, JOURNAL_DELETE, addr, arm, id);
    assert_int_equal(journal_complete(&j, id, 1, NULL, &err), 0);
    /* two in flight: one the cloud has, one it never got */
    begin_intent(&j, JOURNAL_UPDATE, "workspace.w0", WS_ID "0", id);
    cloud_put(&s.cloud, WS_ID "0", attrs);
    begin_intent(&j, JOURNAL_CREATE, "workspace.never", WS_ID "never", id);
    journal_release(&j); /* killed */

    memset(&rd, 0, sizeof(rd));
    rd.read = cloud_read;
    rd.payload = &s.cloud;
    assert_int_equal(backend_local_new(&be, s.state_path, &err), 0);
    assert_int_equal(state_backend_load(&st, &existed, be, NULL, &err), 0);
    assert_int_equal(journal_open(&j, s.journal_path, NULL, &err), 0);
    assert_int_equal(journal_reconcile(&rec, &j, &st, &rd, &err), 0);
    assert_int_equal(rec.count, n + 3);
    assert_int_equal(rec.items[0].outcome, JOURNAL_ADOPTED);
    assert_int_equal(rec.items[n].outcome, JOURNAL_REMOVED);
    assert_int_equal(rec.items[n + 1].outcome, JOURNAL_ADOPTED);
    assert_int_equal(rec.items[n + 2].outcome, JOURNAL_PENDING); /* may still appear */
    assert_true(json_equal(attributes_of(&st, "workspace.w0"), attrs));
    assert_null(state_find(&st, addr));
    assert_int_equal(state_backend_save(be, &st, NULL, &err), 0);
    assert_int_equal(journal_settle(&j, &rec, &err), 0);
    *reads = s.cloud.reads;
    *folded = rec.folded;
    *resources = state_count(&st);
    journal_recovery_release(&rec);
    journal_release(&j);
    state_release(&st);
    state_backend_free(be);
    json_decref(attrs);
}

static void test_journal__recovery_folds_journaled_outcomes(void **unused)
{
    int small_reads, large_reads;
    size_t small_folded, large_folded, small_n, large_n;
    (void)unused;
    recover_outcomes(20, &small_reads, &small_folded, &small_n);
    recover_outcomes(800, &large_reads, &large_folded, &large_n);
    /* reads per recovered outcome do not grow with the outcomes */
    assert_int_equal(small_reads, 2);
    assert_int_equal(large_reads, 2);
    assert_int_equal(small_folded, 21);
    assert_int_equal(large_folded, 801);
    assert_int_equal(small_n, 19);
    assert_int_equal(large_n, 799);
}

/* The applier's journal releases each response once it is folded (the
 * file keeps it): memory does not grow with the outcomes waiting for the
 * next save. A rewrite before that save is refused rather than dropping
 * one, and once done the entries compact away. */
static void test_journal__release_folded(void **unused)
{
    struct errbuf err = ERRBUF_INIT;
    struct journal j;
    struct state st;
    char path[400], a[40], b[40];
    json_t *attrs = json_pack("{s:s}", "name", "ws");
    (void)unused;

    snprintf(path, sizeof(path), "%s/release.journal", dir);
    assert_int_equal(state_init(&st, &err), 0);
    assert_int_equal(journal_open(&j, path, NULL, &err), 0);
    j.release_folded = true;
    begin_intent(&j, JOURNAL_CREATE, "workspace.a", WS_ID, a);
    begin_intent(&j, JOURNAL_CREATE, "workspace.b", WS_ID "b", b);
    assert_int_equal(journal_complete(&j, a, 1, attrs, &err), 0);
    assert_int_equal(journal_fold(&j, &st, a, &err), 0);
    assert_null(j.entries[0].attributes);
    assert_true(j.entries[0].released);
    assert_true(json_equal(attributes_of(&st, "workspace.a"), attrs));
    assert_int_not_equal(journal_fold(&j, &st, a, &err), 0); /* once */
    /* b is pending, a only in the file: a rewrite would lose a */
    assert_int_equal(journal_done(&j, b, &err), 0);
    assert_int_equal(journal_compact(&j, &err), AMLSEC_EUSAGE);
    journal_release(&j);
    /* the file still has a's response */
    assert_int_equal(journal_open(&j, path, NULL, &err), 0);
    assert_int_equal(j.nentries, 2);
    assert_true(json_equal(j.entries[0].attributes, attrs));
    assert_int_equal(journal_done(&j, a, &err), 0);
    assert_int_equal(journal_compact(&j, &err), 0);
    assert_int_equal(j.bytes, 0);
    journal_release(&j);
    state_release(&st);
    json_decref(attrs);
}

/* A command that only shows the state reconciles a journal opened read-only
 * with a reader that reads nothing: the completed outcome is folded (as a
 * save would have recorded it), the create in flight stays pending with
 * the state left as it was for it, and neither the file nor the entries
 * change: a recovery with a reader afterwards still sees both. */
static void test_journal__fold_without_reading(void **unused)
{
    struct errbuf err = ERRBUF_INIT;
    struct journal j, ro;
    struct journal_recovery rec;
    struct journal_reader none;
    struct state st;
    struct stat before, after;
    char path[400], a[40], b[40];
    json_t *attrs = json_pack("{s:s}", "name", "ws");
    (void)unused;

    snprintf(path, sizeof(path), "%s/readonly.journal", dir);
    assert_int_equal(journal_open(&j, path, NULL, &err), 0);
    begin_intent(&j, JOURNAL_CREATE, "workspace.a", WS_ID, a);
    begin_intent(&j, JOURNAL_CREATE, "workspace.b", WS_ID "b", b);
    assert_int_equal(journal_complete(&j, a, 1, attrs, &err), 0);
    journal_release(&j); /* killed: a completed, b in flight */
    assert_int_equal(stat(path, &before), 0);

    assert_int_equal(state_init(&st, &err), 0);
    assert_int_equal(journal_open_readonly(&ro, path, NULL, &err), 0);
    memset(&none, 0, sizeof(none));
    assert_int_equal(journal_reconcile(&rec, &ro, &st, &none, &err), 0);
    assert_int_equal(rec.count, 2);
    assert_int_equal(rec.pending, 1);
    assert_int_equal(rec.folded, 1);
    assert_int_equal(rec.items[0].outcome, JOURNAL_ADOPTED);
    assert_int_equal(rec.items[1].outcome, JOURNAL_PENDING);
    assert_int_equal(rec.items[1].phase, JOURNAL_BEGUN);
    assert_true(json_equal(attributes_of(&st, "workspace.a"), attrs));
    assert_null(state_find(&st, "workspace.b"));
    assert_int_equal(journal_pending(&ro, NULL, 0), 2);
    journal_recovery_release(&rec);
    journal_release(&ro);
    state_release(&st);
    assert_int_equal(stat(path, &after), 0);
    assert_int_equal(after.st_size, before.st_size);
    assert_int_equal(after.st_mtime, before.st_mtime);
    assert_int_equal(journal_open(&j, path, NULL, &err), 0);
    assert_int_equal(journal_pending(&j, NULL, 0), 2);
    journal_release(&j);
    json_decref(attrs);
}

static int recover_once(struct scenario *s, const struct journal_reader *rd,
                        struct journal_recovery *rec, struct journal *j)
{
    struct errbuf err = ERRBUF_INIT;
    struct state_backend *be;
    struct state st;
    int existed;
    assert_int_equal(backend_local_new(&be, s->state_path, &err), 0);
    assert_int_equal(state_backend_load(&st, &existed, be, NULL, &err), 0);
    assert_int_equal(journal_open(j, s->journal_path, NULL, &err), 0);
    assert_int_equal(journal_reconcile(rec, j, &st, rd, &err), 0);
    assert_int_equal(state_backend_save(be, &st, NULL, &err), 0);
    assert_int_equal(journal_settle(j, rec, &err), 0);
    state_release(&st);
    state_backend_free(be);
    return 0;
}

/* The fake operation: running until `runs` polls have seen it, then it
 * ends, creating the workspace when `creates`. */
struct fake_op {
    struct cloud *cloud;
    int polls, runs, creates;
    int unpollable; /* the operation's host is gone */
    char url[128];
};

static int fake_wait(void *payload, const char *url)
{
    struct fake_op *op = payload;
    assert_string_equal(url, op->url);
    if (op->unpollable)
        return AMLSEC_EUSAGE;
    if (op->polls++ < op->runs)
        return AMLSEC_ECONFLICT;
    if (op->creates) {
        json_t *live = json_pack("{s:s, s:{s:s}}", "name", "ws", "properties",
                                 "publicNetworkAccess", "Disabled");
        cloud_put(op->cloud, ws_id, live);
        json_decref(live);
    }
    return 0;
}

static int fake_read(void *payload, const char *kind, const char *arm_id, json_t **out)
{
    struct fake_op *op = payload;
    return cloud_read(op->cloud, kind, arm_id, out);
}

/* A create accepted as a long-running operation and killed before it ended:
 * the journal keeps the operation's URL; recovery waits for it and adopts
 * the resource, or keeps the intent while it still runs, or drops it once
 * the operation ended without creating anything. */
static void test_journal__create_accepted_waits_for_operation(void **unused)
{
    struct errbuf err = ERRBUF_INIT;
    struct scenario s;
    struct journal j;
    struct journal_recovery rec;
    struct fake_op op = {0};
    struct journal_reader rd = {.read = fake_read, .wait_operation = fake_wait, .payload = &op};
    char id[40];
    (void)unused;

    scenario_init(&s, "accepted");
    op.cloud = &s.cloud;
    snprintf(op.url, sizeof(op.url), "http://127.0.0.1:1/operations/1?api-version=1");
    assert_int_equal(journal_open(&j, s.journal_path, NULL, &err), 0);
    begin_intent(&j, JOURNAL_CREATE, "workspace.main", ws_id, id);
    assert_int_equal(journal_accepted(&j, id, op.url, &err), 0);
    journal_release(&j);

    /* still running at the reader's bound: pending, nothing in the state */
    op.runs = 1;
    op.creates = 1;
    recover_once(&s, &rd, &rec, &j);
    assert_int_equal(rec.count, 1);
    assert_int_equal(rec.items[0].outcome, JOURNAL_PENDING);
    assert_int_equal(journal_pending(&j, NULL, 0), 1);
    assert_string_equal(j.entries[0].operation, op.url); /* kept across the rewrite */
    journal_recovery_release(&rec);
    journal_release(&j);
    /* it ends during the next run's wait: adopted */
    recover_once(&s, &rd, &rec, &j);
    assert_int_equal(rec.items[0].outcome, JOURNAL_ADOPTED);
    assert_int_equal(journal_pending(&j, NULL, 0), 0);
    journal_recovery_release(&rec);
    journal_release(&j);

    /* an operation that ended without a resource: dropped at once */
    cloud_delete(&s.cloud, ws_id);
    assert_int_equal(journal_open(&j, s.journal_path, NULL, &err), 0);
    begin_intent(&j, JOURNAL_CREATE, "workspace.other", ws_id, id);
    assert_int_equal(journal_accepted(&j, id, op.url, &err), 0);
    journal_release(&j);
    op.polls = op.runs = op.creates = 0;
    recover_once(&s, &rd, &rec, &j);
    assert_int_equal(rec.items[0].outcome, JOURNAL_DROPPED);
    assert_int_equal(journal_pending(&j, NULL, 0), 0);
    journal_recovery_release(&rec);
    journal_release(&j);

    /* an operation that cannot be polled (an embedded cloud on another
     * port now) tells nothing: not an error, and the create stays pending */
    assert_int_equal(journal_open(&j, s.journal_path, NULL, &err), 0);
    begin_intent(&j, JOURNAL_CREATE, "workspace.third", ws_id, id);
    assert_int_equal(journal_accepted(&j, id, op.url, &err), 0);
    journal_release(&j);
    op.unpollable = 1;
    recover_once(&s, &rd, &rec, &j);
    assert_int_equal(rec.items[0].outcome, JOURNAL_PENDING);
    assert_int_equal(journal_pending(&j, NULL, 0), 1);
    journal_recovery_release(&rec);
    journal_release(&j);
}

/* A create recovered from a resource whose provisioning failed is recorded
 * tainted: the next plan sends its PUT again rather than taking it as done. */
static void test_journal__failed_create_adopted_tainted(void **unused)
{
    struct errbuf err = ERRBUF_INIT;
    struct scenario s;
    struct journal j;
    struct journal_recovery rec;
    struct journal_reader rd;
    struct state_backend *be;
    struct state st;
    char id[40];
    int existed;
    json_t *live =
        json_pack("{s:s, s:{s:s}}", "name", "ws", "properties", "provisioningState", "Failed");
    (void)unused;

    scenario_init(&s, "failed");
    memset(&rd, 0, sizeof(rd));
    rd.read = cloud_read;
    rd.payload = &s.cloud;
    cloud_put(&s.cloud, ws_id, live);
    assert_int_equal(journal_open(&j, s.journal_path, NULL, &err), 0);
    begin_intent(&j, JOURNAL_CREATE, "workspace.main", ws_id, id);
    journal_release(&j);
    recover_once(&s, &rd, &rec, &j);
    assert_int_equal(rec.items[0].outcome, JOURNAL_ADOPTED);
    journal_recovery_release(&rec);
    journal_release(&j);
    assert_int_equal(backend_local_new(&be, s.state_path, &err), 0);
    assert_int_equal(state_backend_load(&st, &existed, be, NULL, &err), 0);
    assert_non_null(state_find(&st, "workspace.main"));
    assert_int_equal(state_find(&st, "workspace.main")->status, STATE_STATUS_TAINTED);
    state_release(&st);
    state_backend_free(be);
    json_decref(live);
}

/* A pending create is settled by a newer successful outcome for the same
 * address and id (the next apply's create of it). */
static void test_journal__pending_create_superseded(void **unused)
{
    struct errbuf err = ERRBUF_INIT;
    struct scenario s;
    struct journal j;
    char old_id[40], other[40], id[40];
    json_t *live = json_pack("{s:s}", "name", "ws");
    (void)unused;

    scenario_init(&s, "supersede");
    assert_int_equal(journal_open(&j, s.journal_path, NULL, &err), 0);
    begin_intent(&j, JOURNAL_CREATE, "workspace.main", ws_id, old_id);
    begin_intent(&j, JOURNAL_CREATE, "workspace.other", WS_ID "x", other);
    begin_intent(&j, JOURNAL_CREATE, "workspace.main", ws_id, id);
    assert_int_equal(journal_complete(&j, id, 1, live, &err), 0);
    assert_int_equal(journal_done(&j, id, &err), 0);
    assert_int_equal(journal_pending(&j, NULL, 0), 1); /* only the other address */
    assert_int_equal(journal_compact(&j, &err), 0);
    journal_release(&j);
    assert_int_equal(journal_open(&j, s.journal_path, NULL, &err), 0);
    assert_int_equal(j.nentries, 1); /* rewritten with the pending entry alone */
    assert_string_equal(j.entries[0].address, "workspace.other");
    journal_release(&j);
    json_decref(live);
}

/* A delete that happened removes the entry and every entry under its id
 * (a vault's keys, a workspace's computes, locks on it). */
static void test_journal__delete_removes_children(void **unused)
{
    struct errbuf err = ERRBUF_INIT;
    struct scenario s;
    struct journal j;
    struct journal_recovery rec;
    struct journal_reader rd;
    struct state_backend *be;
    struct state st;
    char id[40];
    int existed;
    json_t *attrs = json_object();
    static const char *const addr[] = {"workspace.main", "compute.c", "lock.l", "workspace.keep"};
    static const char *const kinds[] = {"workspace", "compute", "lock", "workspace"};
    const char *ids[] = {ws_id, WS_ID "/computes/c",
                         WS_ID "/providers/Microsoft.Authorization/locks/l", WS_ID "2"};
    (void)unused;

    scenario_init(&s, "children");
    memset(&rd, 0, sizeof(rd));
    rd.read = cloud_read;
    rd.payload = &s.cloud;
    assert_int_equal(backend_local_new(&be, s.state_path, &err), 0);
    assert_int_equal(state_init(&st, &err), 0);
    for (size_t i = 0; i < 4; i++) {
        struct state_resource r = {.address = (char *)addr[i],
                                   .kind = (char *)kinds[i],
                                   .arm_id = (char *)ids[i],
                                   .api_version = "1",
                                   .attributes = attrs};
        assert_int_equal(state_put(&st, &r, &err), 0);
    }
    assert_int_equal(state_backend_save(be, &st, NULL, &err), 0);
    state_release(&st);
    state_backend_free(be);
    assert_int_equal(journal_open(&j, s.journal_path, NULL, &err), 0);
    begin_intent(&j, JOURNAL_DELETE, "workspace.main", ws_id, id);
    journal_release(&j);
    recover_once(&s, &rd, &rec, &j); /* the cloud has none of them */
    assert_int_equal(rec.items[0].outcome, JOURNAL_REMOVED);
    assert_int_equal(rec.removed_children, 2);
    journal_recovery_release(&rec);
    journal_release(&j);
    assert_int_equal(backend_local_new(&be, s.state_path, &err), 0);
    assert_int_equal(state_backend_load(&st, &existed, be, NULL, &err), 0);
    assert_int_equal(st.nresources, 1);
    assert_string_equal(st.resources[0].address, "workspace.keep");
    state_release(&st);
    state_backend_free(be);
    json_decref(attrs);
}

/* One unreadable entry does not block the others: every readable entry is
 * recovered, the unreadable ones are listed by line and offset, and their
 * bytes are kept in "<journal>.damaged" when the journal is emptied. */
static void test_journal__unreadable_entries(void **unused)
{
    struct errbuf err = ERRBUF_INIT;
    struct scenario s;
    struct journal j;
    struct journal_recovery rec;
    struct journal_reader rd;
    struct buf b, d;
    char id[40], id2[40], damaged[600];
    json_t *live = json_pack("{s:s}", "name", "ws");
    const char *bad = "{\"t\":\"begin\",\"id\":\"truncated-by-a-bad-disk\n"
                      "{\"t\":\"complete\",\"id\":\"00000000-0000-0000-0000-000000000000\"}\n";
    int fd;
    (void)unused;

    scenario_init(&s, "unreadable");
    memset(&rd, 0, sizeof(rd));
    rd.read = cloud_read;
    rd.payload = &s.cloud;
    cloud_put(&s.cloud, ws_id, live);
    assert_int_equal(journal_open(&j, s.journal_path, NULL, &err), 0);
    begin_intent(&j, JOURNAL_CREATE, "workspace.main", ws_id, id);
    journal_release(&j);
    fd = open(s.journal_path, O_WRONLY | O_APPEND);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, bad, strlen(bad)), (ssize_t)strlen(bad));
    close(fd);
    assert_int_equal(journal_open(&j, s.journal_path, NULL, &err), 0);
    begin_intent(&j, JOURNAL_CREATE, "workspace.two", ws_id, id2);
    journal_release(&j);

    buf_init(&b, 1 << 20);
    assert_int_equal(file_read_all(&b, s.journal_path, 1 << 20, &err), 0);
    recover_once(&s, &rd, &rec, &j);
    assert_int_equal(rec.count, 2); /* both readable intents, either side of the damage */
    assert_int_equal(rec.items[0].outcome, JOURNAL_ADOPTED);
    assert_int_equal(rec.items[1].outcome, JOURNAL_ADOPTED);
    journal_recovery_release(&rec);
    journal_release(&j);
    /* the journal is empty; the damaged lines are kept aside, byte for byte */
    assert_int_equal(journal_open(&j, s.journal_path, NULL, &err), 0);
    assert_int_equal(j.nentries, 0);
    assert_int_equal(j.nunreadable, 0);
    journal_release(&j);
    snprintf(damaged, sizeof(damaged), "%s.damaged", s.journal_path);
    buf_init(&d, 1 << 20);
    assert_int_equal(file_read_all(&d, damaged, 1 << 20, &err), 0);
    assert_int_equal(d.len, strlen(bad));
    assert_memory_equal(d.ptr, bad, d.len);
    {
        /* where the damage was: line 2 at the byte after the first record */
        const char *nl = memchr(b.ptr, '\n', b.len);
        struct journal j2;
        assert_int_equal(file_write_atomic(s.journal_path, b.ptr, b.len, 0600, &err), 0);
        assert_int_equal(journal_open(&j2, s.journal_path, NULL, &err), 0);
        assert_int_equal(j2.nunreadable, 2);
        assert_int_equal(j2.unreadable[0].line, 2);
        assert_int_equal(j2.unreadable[0].offset, (size_t)(nl - b.ptr) + 1);
        assert_non_null(strstr(j2.unreadable[1].reason, "unknown intent"));
        journal_release(&j2);
    }
    buf_release(&b);
    buf_release(&d);
    json_decref(live);
}

/* An intent whose dependencies or sensitive paths are not all strings is
 * set aside as unreadable, with its outcome: folded, it put a number in
 * the state's sensitive paths, and state show and show -json (which fold
 * the journal after a kill) crashed redacting it (a NULL path), while a
 * recovery saved it as "". fuzz_journal found it. */
static void test_journal__intent_paths_are_strings(void **unused)
{
    struct errbuf err = ERRBUF_INIT;
    struct journal j;
    char path[400];
    const char *text =
        "{\"t\":\"begin\",\"id\":\"00000001-0000-4000-8000-000000000000\",\"time\":"
        "\"2026-12-05T15:00:00Z\",\"op\":\"create\",\"address\":\"workspace.a\",\"kind\":"
        "\"workspace\",\"arm_id\":\"" WS_ID "\",\"api_version\":\"2024-04-01\",\"digest\":"
        "\"sha256:0\",\"dependencies\":[],\"sensitive\":[7]}\n"
        "{\"t\":\"complete\",\"id\":\"00000001-0000-4000-8000-000000000000\",\"ok\":true,"
        "\"attributes\":{\"name\":\"ws\"}}\n"
        "{\"t\":\"begin\",\"id\":\"00000002-0000-4000-8000-000000000000\",\"time\":"
        "\"2026-12-05T15:00:00Z\",\"op\":\"create\",\"address\":\"workspace.b\",\"kind\":"
        "\"workspace\",\"arm_id\":\"" WS_ID "\",\"api_version\":\"2024-04-01\",\"digest\":"
        "\"sha256:0\",\"dependencies\":[\"resource_group.g\", null],\"sensitive\":[]}\n"
        "{\"t\":\"begin\",\"id\":\"00000003-0000-4000-8000-000000000000\",\"time\":"
        "\"2026-12-05T15:00:00Z\",\"op\":\"create\",\"address\":\"workspace.c\",\"kind\":"
        "\"workspace\",\"arm_id\":\"" WS_ID "\",\"api_version\":\"2024-04-01\",\"digest\":"
        "\"sha256:0\",\"dependencies\":[\"resource_group.g\"],\"sensitive\":[\"tags.a\"]}\n";
    (void)unused;

    snprintf(path, sizeof(path), "%s/paths.journal", dir);
    assert_int_equal(file_write_atomic(path, text, strlen(text), 0600, &err), 0);
    assert_int_equal(journal_open(&j, path, NULL, &err), 0);
    assert_int_equal(j.nentries, 1); /* workspace.c alone */
    assert_string_equal(j.entries[0].address, "workspace.c");
    assert_int_equal(j.nunreadable, 3);
    assert_non_null(strstr(j.unreadable[0].reason, "intent without sensitive"));
    assert_non_null(strstr(j.unreadable[1].reason, "unknown intent"));
    assert_non_null(strstr(j.unreadable[2].reason, "intent without dependencies"));
    journal_release(&j);
}

/* An intent whose address is not one of its kind (what a state accepts:
 * kind.name, in modules, with its key), or a move whose from is not, is set
 * aside as unreadable: recovery folded it and saved a state that no
 * command could read again ("'resource_groupx.x' is not an address of
 * kind 'resource_group'"). fuzz_journal found it. */
static void test_journal__intent_address_of_its_kind(void **unused)
{
    struct errbuf err = ERRBUF_INIT;
    struct journal j;
    char path[400];
#define BEGIN(id, op, address, extra)                                                              \
    "{\"t\":\"begin\",\"id\":\"0000000" id "-0000-4000-8000-000000000000\",\"time\":"              \
    "\"2026-12-05T15:00:00Z\",\"op\":\"" op "\",\"address\":\"" address "\",\"kind\":"             \
    "\"workspace\",\"arm_id\":\"" WS_ID "\",\"api_version\":\"2024-04-01\",\"digest\":"            \
    "\"sha256:0\",\"dependencies\":[],\"sensitive\":[]" extra "}\n"
    const char *text =
        BEGIN("1", "create", "workspacex.a", "") BEGIN("2", "create", "workspace.a b", "")
            BEGIN("3", "move", "workspace.c", ",\"from\":\"x\"")
                BEGIN("4", "create", "module.m[\\\"k\\\"].workspace.d", "")
                    BEGIN("5", "move", "workspace.e", ",\"from\":\"workspace.e (previous)\"");
#undef BEGIN
    (void)unused;

    snprintf(path, sizeof(path), "%s/addresses.journal", dir);
    assert_int_equal(file_write_atomic(path, text, strlen(text), 0600, &err), 0);
    assert_int_equal(journal_open(&j, path, NULL, &err), 0);
    assert_int_equal(j.nentries, 2);
    assert_string_equal(j.entries[0].address, "module.m[\"k\"].workspace.d");
    assert_string_equal(j.entries[1].address, "workspace.e");
    assert_int_equal(j.nunreadable, 3);
    for (size_t i = 0; i < 3; i++)
        assert_non_null(strstr(j.unreadable[i].reason, "an address of its kind"));
    journal_release(&j);
}

/* A symlink where the journal goes is refused, never followed. */
static void test_journal__symlink_refused(void **unused)
{
    struct errbuf err = ERRBUF_INIT;
    struct scenario s;
    struct journal j;
    char target[600];
    struct stat st;
    (void)unused;

    scenario_init(&s, "symlink");
    snprintf(target, sizeof(target), "%s/symlink/victim", dir);
    assert_int_equal(symlink(target, s.journal_path), 0);
    assert_int_equal(journal_open(&j, s.journal_path, NULL, &err), AMLSEC_EUSAGE);
    assert_non_null(strstr(err.msg, "symbolic link"));
    assert_int_equal(stat(target, &st), -1); /* nothing created through it */
}

/* A renamed create-before-destroy replacement journals the move of the old
 * resource's entry to "ADDRESS (previous)" instead of saving the state. A
 * run killed after the new resource's create (the saved state still has
 * the old resource at ADDRESS) is recovered in journal order: the move,
 * then the create, so both resources stay tracked; the journal read back
 * (and rewritten with a pending move) keeps where it moves from. */
static void test_journal__move_recovered_before_the_create(void **unused)
{
    struct errbuf err = ERRBUF_INIT;
    struct scenario s;
    struct state_backend *be;
    struct state st;
    struct journal j;
    struct journal_recovery rec;
    struct journal_reader rd;
    struct state_resource old = {0};
    char mv[40], cr[40], digest[72];
    json_t *attrs = json_pack("{s:s}", "name", "ws-old"), *live = json_pack("{s:s}", "name", "ws");
    struct journal_intent in = {.address = "workspace.w (previous)",
                                .kind = "workspace",
                                .arm_id = WS_ID "-old",
                                .api_version = "2025-09-01",
                                .op = JOURNAL_MOVE,
                                .request_digest = digest,
                                .from = "workspace.w"};
    int existed;
    (void)unused;

    scenario_init(&s, "move");
    journal_digest(digest, "", 0);
    assert_int_equal(backend_local_new(&be, s.state_path, &err), 0);
    assert_int_equal(state_backend_load(&st, &existed, be, NULL, &err), 0);
    old.address = "workspace.w";
    old.kind = "workspace";
    old.arm_id = WS_ID "-old";
    old.api_version = "2025-09-01";
    old.attributes = attrs;
    assert_int_equal(state_put(&st, &old, &err), 0);
    assert_int_equal(state_backend_save(be, &st, NULL, &err), 0);
    /* the applier: the move, then the new resource's create, then killed */
    assert_int_equal(journal_open(&j, s.journal_path, NULL, &err), 0);
    in.from = NULL; /* a move without its source is refused */
    assert_int_equal(journal_begin(&j, &in, mv, &err), AMLSEC_EUSAGE);
    in.from = "workspace.w";
    assert_int_equal(journal_begin(&j, &in, mv, &err), 0);
    assert_int_equal(journal_complete(&j, mv, 1, NULL, &err), 0);
    assert_int_equal(journal_fold(&j, &st, mv, &err), 0);
    assert_null(state_find(&st, "workspace.w"));
    assert_non_null(state_find(&st, "workspace.w (previous)"));
    begin_intent(&j, JOURNAL_CREATE, "workspace.w", WS_ID, cr);
    assert_int_equal(journal_complete(&j, cr, 1, live, &err), 0);
    journal_release(&j);
    state_release(&st);
    state_backend_free(be);
    /* the journal read back and rewritten with its pending entries keeps the move's source */
    assert_int_equal(journal_open(&j, s.journal_path, NULL, &err), 0);
    assert_int_equal(j.nentries, 2);
    assert_int_equal(j.entries[0].op, JOURNAL_MOVE);
    assert_string_equal(j.entries[0].from, "workspace.w");
    assert_int_equal(journal_compact(&j, &err), 0);
    journal_release(&j);
    /* the next run: no read, both resources tracked */
    memset(&rd, 0, sizeof(rd));
    rd.read = cloud_read;
    rd.payload = &s.cloud;
    recover_once(&s, &rd, &rec, &j);
    assert_int_equal(s.cloud.reads, 0);
    assert_int_equal(rec.count, 2);
    assert_int_equal(rec.items[0].outcome, JOURNAL_MOVED);
    assert_string_equal(journal_outcome_name(rec.items[0].outcome), "moved");
    assert_string_equal(journal_op_name(rec.items[0].op), "move");
    assert_int_equal(rec.items[1].outcome, JOURNAL_ADOPTED);
    journal_recovery_release(&rec);
    journal_release(&j);
    assert_int_equal(backend_local_new(&be, s.state_path, &err), 0);
    assert_int_equal(state_backend_load(&st, &existed, be, NULL, &err), 0);
    assert_string_equal(state_find(&st, "workspace.w (previous)")->arm_id, WS_ID "-old");
    assert_string_equal(state_find(&st, "workspace.w")->arm_id, WS_ID);
    state_release(&st);
    state_backend_free(be);
    json_decref(attrs);
    json_decref(live);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_journal__create_killed_before_request),
        cmocka_unit_test(test_journal__create_killed_after_request),
        cmocka_unit_test(test_journal__create_killed_after_response),
        cmocka_unit_test(test_journal__delete_never_repeated),
        cmocka_unit_test(test_journal__encrypted_and_damage),
        cmocka_unit_test(test_journal__create_accepted_waits_for_operation),
        cmocka_unit_test(test_journal__pending_create_superseded),
        cmocka_unit_test(test_journal__failed_create_adopted_tainted),
        cmocka_unit_test(test_journal__delete_removes_children),
        cmocka_unit_test(test_journal__unreadable_entries),
        cmocka_unit_test(test_journal__intent_paths_are_strings),
        cmocka_unit_test(test_journal__intent_address_of_its_kind),
        cmocka_unit_test(test_journal__symlink_refused),
        cmocka_unit_test(test_journal__done_drops_the_response),
        cmocka_unit_test(test_journal__big_number_read_back),
        cmocka_unit_test(test_journal__recovery_folds_journaled_outcomes),
        cmocka_unit_test(test_journal__release_folded),
        cmocka_unit_test(test_journal__fold_without_reading),
        cmocka_unit_test(test_journal__move_recovered_before_the_create),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
