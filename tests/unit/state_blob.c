/* Unit tests for the Azure Blob backend against Azurite (npm `azurite`),
 * which this test installs (npm ci from tests/azurite/, once per source tree:
 * tests/tools/npm_install.sh) and starts on 127.0.0.1 with a temporary
 * directory.
 *
 * Covers: Shared Key signing, state round trips, two processes racing for
 * the lease, waiting for it, a killed holder's lease expiring on its own
 * (15 s, the shortest lease Azure allows) while a live holder's is renewed,
 * a stalled renewal failing writes before the lease can lapse,
 * force-unlock by id, ETag conflicts, an account SAS token (signed here with
 * the development key), and the amlsec CLI on the azurerm backend. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "state/backend.h"
#include "state/backend_blob.h"
#include "state/blob_client.h"
#include "util/error.h"

/* Azurite's documented development account (not a secret). */
#define DEV_ACCOUNT "devstoreaccount1"
#define DEV_KEY                                                                                    \
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

static char exe_dir[PATH_MAX];
static char endpoint[128];
static char data_dir[256];
static pid_t azurite_pid;

/* The port Azurite says it listens on in its log, 0 while it has not said. */
static int azurite_port(const char *log)
{
    static const char said[] = "Azurite Blob service successfully listens on http://127.0.0.1:";
    char line[512];
    int port = 0;
    FILE *f = fopen(log, "r");
    if (f == NULL)
        return 0;
    while (port == 0 && fgets(line, sizeof(line), f))
        if (strncmp(line, said, sizeof(said) - 1) == 0)
            port = atoi(line + sizeof(said) - 1);
    fclose(f);
    return port;
}

static int start_azurite(void **unused)
{
    char exe[PATH_MAX], cmd[3 * PATH_MAX], dir[PATH_MAX], bin[PATH_MAX + 64], log[300];
    ssize_t n;
    int port = 0, got;
    FILE *p;
    (void)unused;

    n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0)
        return -1;
    exe[n] = '\0';
    snprintf(exe_dir, sizeof(exe_dir), "%s", dirname(exe));
    /* installed once per source tree (npm ci only when the lock file changed), under a lock
     * shared with the shell tests that start Azurite */
    snprintf(cmd, sizeof(cmd), "'%s/tests/tools/npm_install.sh' azurite '%s/tests/azurite'",
             AMLSEC_SRC_DIR, AMLSEC_SRC_DIR);
    p = popen(cmd, "r");
    got = p != NULL && fgets(dir, sizeof(dir), p) != NULL;
    if (p != NULL && pclose(p) != 0)
        got = 0;
    if (!got) {
        fprintf(stderr, "state_blob: npm ci of azurite failed\n");
        return -1;
    }
    dir[strcspn(dir, "\n")] = '\0';
    snprintf(bin, sizeof(bin), "%s/node_modules/.bin/azurite-blob", dir);
    snprintf(data_dir, sizeof(data_dir), "/tmp/amlsec-azurite-XXXXXX");
    if (mkdtemp(data_dir) == NULL)
        return -1;
    snprintf(log, sizeof(log), "%s.log", data_dir);
    azurite_pid = fork();
    if (azurite_pid == 0) {
        /* Azurite must not outlive the test, nor hold CTest's pipes. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (!freopen(log, "w", stdout) || dup2(fileno(stdout), 2) < 0)
            _exit(127);
        /* port 0: it picks a free one and says which (a port picked here and handed to it
         * could be taken by another process in between) */
        execl(bin, "azurite-blob", "--blobHost", "127.0.0.1", "--blobPort", "0", "--location",
              data_dir, "--silent", "--disableTelemetry", (char *)NULL);
        _exit(127);
    }
    /* Node can take a while on a busy machine. */
    for (int i = 0; i < 2400 && (port = azurite_port(log)) == 0; i++) {
        if (waitpid(azurite_pid, NULL, WNOHANG) == azurite_pid) {
            azurite_pid = 0;
            break;
        }
        usleep(50 * 1000);
    }
    if (port == 0) {
        fprintf(stderr, "state_blob: azurite did not start (log: %s)\n", log);
        snprintf(cmd, sizeof(cmd), "tail -20 '%s' >&2", log);
        if (system(cmd) != 0)
            fprintf(stderr, "state_blob: no azurite log\n");
        return -1;
    }
    snprintf(endpoint, sizeof(endpoint), "http://127.0.0.1:%d/" DEV_ACCOUNT, port);
    return 0;
}

static int stop_azurite(void **unused)
{
    char cmd[600];
    (void)unused;
    if (azurite_pid > 0) {
        kill(azurite_pid, SIGTERM);
        waitpid(azurite_pid, NULL, 0);
    }
    snprintf(cmd, sizeof(cmd), "rm -rf '%.250s' '%.250s.log'", data_dir, data_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static struct blob_client_opts opts_for(const char *container, const char *blob)
{
    struct blob_client_opts o = {0};
    o.endpoint = endpoint;
    o.container = container;
    o.blob = blob;
    o.shared_key = DEV_KEY;
    return o;
}

static void make_container(const char *name)
{
    struct errbuf err = ERRBUF_INIT;
    struct blob_client_opts o = opts_for(name, "x");
    struct blob_client *bc;
    struct blob_response r;
    assert_int_equal(blob_client_new(&bc, &o, &err), 0);
    blob_response_init(&r);
    assert_int_equal(blob_client_create_container(bc, &r, &err), 0);
    assert_int_equal(r.status, 201);
    blob_response_release(&r);
    blob_client_free(bc);
}

static struct state_backend *open_be(const char *container, const char *blob, int lease)
{
    struct errbuf err = ERRBUF_INIT;
    struct blob_client_opts o = opts_for(container, blob);
    struct state_backend *be;
    if (backend_blob_new(&be, &o, lease, &err) < 0)
        fail_msg("backend_blob_new: %s", err.msg);
    return be;
}

static void add_rg(struct state *st, const char *name)
{
    struct errbuf err = ERRBUF_INIT;
    struct state_resource r = {0};
    char kind[64];
    /* the kind the address names (a loaded state checks that they agree) */
    snprintf(kind, sizeof(kind), "%.*s", (int)strcspn(name, "."), name);
    r.address = (char *)name;
    r.kind = kind;
    r.arm_id = "/subscriptions/s/resourceGroups/rg";
    r.api_version = "2021-04-01";
    r.attributes = json_pack("{s:s}", "location", "westeurope");
    assert_int_equal(state_put(st, &r, &err), 0);
    json_decref(r.attributes);
}

static void test_state_blob__roundtrip_and_wrong_key(void **unused)
{
    struct errbuf err = ERRBUF_INIT;
    struct state_backend *be;
    struct state st, back;
    int existed;
    struct blob_client_opts bad;
    (void)unused;

    make_container("roundtrip");
    be = open_be("roundtrip", "env/prod.state", 0);
    assert_int_equal(state_backend_load(&st, &existed, be, NULL, &err), 0);
    assert_int_equal(existed, 0);
    add_rg(&st, "azurerm_resource_group.rg");
    /* Read before the lock: the lock changed the blob, so the write must
     * not go through (read again under the lock). */
    assert_int_equal(state_backend_lock(be, "apply", 0, NULL, &err), 0);
    assert_int_equal(state_backend_save(be, &st, NULL, &err), AMLSEC_ECONFLICT);
    state_release(&st);
    assert_int_equal(state_backend_load(&st, &existed, be, NULL, &err), 0);
    assert_int_equal(existed, 0); /* the lock's empty blob is no state */
    add_rg(&st, "azurerm_resource_group.rg");
    assert_int_equal(state_backend_save(be, &st, NULL, &err), 0);
    assert_int_equal(state_backend_save(be, &st, NULL, &err), 0); /* snapshot + If-Match */
    assert_int_equal(state_backend_unlock(be, &err), 0);
    state_backend_free(be);

    be = open_be("roundtrip", "env/prod.state", 0);
    assert_int_equal(state_backend_load(&back, &existed, be, NULL, &err), 0);
    assert_int_equal(existed, 1);
    assert_int_equal(back.serial, 2);
    assert_string_equal(back.lineage, st.lineage);
    assert_non_null(state_find(&back, "azurerm_resource_group.rg"));
    state_release(&back);
    state_release(&st);
    state_backend_free(be);

    /* a wrong shared key is refused by the service */
    bad = opts_for("roundtrip", "env/prod.state");
    bad.shared_key = "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"
                     "AAAAAAAAAAAAAAAAAAAAAAAAAA==";
    assert_int_equal(backend_blob_new(&be, &bad, 0, &err), 0);
    assert_int_equal(state_backend_load(&back, &existed, be, NULL, &err), AMLSEC_EHTTP);
    assert_non_null(strstr(err.msg, "403"));
    assert_null(strstr(err.msg, "BBBBBBBB")); /* the key never appears */
    state_backend_free(be);
}

static void test_state_blob__etag_conflict(void **unused)
{
    struct errbuf err = ERRBUF_INIT;
    struct state_backend *a, *b;
    struct state sa, sb;
    int existed;
    (void)unused;

    make_container("conflict");
    a = open_be("conflict", "s", 0);
    b = open_be("conflict", "s", 0);
    assert_int_equal(state_backend_load(&sa, &existed, a, NULL, &err), 0);
    assert_int_equal(state_backend_save(a, &sa, NULL, &err), 0);
    state_release(&sa);
    /* both read the same version; a writes first, b's write must fail */
    assert_int_equal(state_backend_load(&sb, &existed, b, NULL, &err), 0);
    assert_int_equal(state_backend_load(&sa, &existed, a, NULL, &err), 0);
    add_rg(&sa, "a.one");
    assert_int_equal(state_backend_save(a, &sa, NULL, &err), 0);
    add_rg(&sb, "b.one");
    assert_int_equal(state_backend_save(b, &sb, NULL, &err), AMLSEC_ECONFLICT);
    assert_non_null(strstr(err.msg, "ETag"));
    /* a writer without the lease is refused while someone holds it */
    assert_int_equal(state_backend_lock(a, "apply", 0, NULL, &err), 0);
    state_release(&sb);
    assert_int_equal(state_backend_load(&sb, &existed, b, NULL, &err), 0);
    assert_int_equal(state_backend_save(b, &sb, NULL, &err), AMLSEC_ELOCKED);
    state_release(&sa);
    state_release(&sb);
    state_backend_free(a);
    state_backend_free(b);
}

/* Child: take the lease (waiting up to timeout_ms) once a byte comes on
 * startfd (when given), hold it hold_ms (negative: until holdfd reaches its
 * end), exit 0; exit 3 with the message on outfd when locked out. */
static void lease_child(const char *container, long timeout_ms, int hold_ms, int holdfd, int lease,
                        int startfd, int outfd, int idfd)
{
    struct errbuf err = ERRBUF_INIT;
    struct state_backend *be;
    char go;
    int rc;

    if (startfd >= 0 && read(startfd, &go, 1) != 1)
        _exit(1);
    be = open_be(container, "s", lease);
    rc = state_backend_lock(be, "apply", timeout_ms, NULL, &err);
    if (rc == AMLSEC_ELOCKED) {
        if (write(outfd, err.msg, strlen(err.msg)) < 0)
            _exit(1);
        _exit(3);
    }
    if (rc < 0) {
        fprintf(stderr, "lease_child: %s\n", err.msg);
        _exit(1);
    }
    if (idfd >= 0 && write(idfd, be->lock.id, strlen(be->lock.id)) < 0)
        _exit(1);
    if (hold_ms >= 0)
        usleep((useconds_t)hold_ms * 1000);
    else
        while (read(holdfd, &go, 1) > 0)
            ;
    state_backend_free(be);
    _exit(0);
}

/* Waits up to 120 s for the first of two children to exit: its index, its
 * status in *status; -1 when neither did. */
static int first_exit(const pid_t kids[2], int *status)
{
    for (int t = 0; t < 2400; t++) {
        for (int i = 0; i < 2; i++)
            if (waitpid(kids[i], status, WNOHANG) == kids[i])
                return i;
        usleep(50 * 1000);
    }
    return -1;
}

static void test_state_blob__lease_race_and_wait(void **unused)
{
    int start[2], hold[2], out[2], ids[2], status, first;
    char msg[2048], id[64];
    pid_t kids[2];
    ssize_t n;
    (void)unused;

    make_container("race");
    assert_int_equal(pipe(start), 0);
    assert_int_equal(pipe(hold), 0);
    assert_int_equal(pipe(out), 0);
    for (int i = 0; i < 2; i++) {
        kids[i] = fork();
        if (kids[i] == 0) {
            close(start[1]);
            close(hold[1]);
            lease_child("race", 0, -1, hold[0], 0, start[0], out[1], -1);
        }
    }
    close(start[0]);
    close(hold[0]);
    assert_int_equal(write(start[1], "gg", 2), 2);
    close(start[1]);
    /* The winner holds the lease until the loser is out (hold's end), so the
     * loser finds it held however late it gets to try: it exits first. */
    first = first_exit(kids, &status);
    if (first < 0) {
        kill(kids[0], SIGKILL);
        kill(kids[1], SIGKILL);
    }
    assert_true(first >= 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 3);
    close(hold[1]);
    assert_int_equal(waitpid(kids[1 - first], &status, 0), kids[1 - first]);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    close(out[1]);
    n = read(out[0], msg, sizeof(msg) - 1);
    assert_true(n > 0);
    msg[n] = '\0';
    assert_non_null(strstr(msg, "for 'apply'"));
    assert_non_null(strstr(msg, "force-unlock"));
    close(out[0]);

    /* the second one waits (-lock-timeout) and then proceeds: it starts once
     * the first holds the lease (its lock id written) */
    assert_int_equal(pipe(out), 0);
    assert_int_equal(pipe(ids), 0);
    kids[0] = fork();
    if (kids[0] == 0)
        lease_child("race", 0, 1000, -1, 0, -1, out[1], ids[1]);
    close(ids[1]);
    n = read(ids[0], id, 36);
    close(ids[0]);
    assert_int_equal(n, 36);
    kids[1] = fork();
    if (kids[1] == 0)
        lease_child("race", 60000, 10, -1, 0, -1, out[1], -1);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(waitpid(kids[i], &status, 0), kids[i]);
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    close(out[0]);
    close(out[1]);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_state_blob__killed_holder_expires_live_one_renews(void **unused)
{
    struct errbuf err = ERRBUF_INIT;
    struct state_backend *be;
    struct lock_info holder;
    char id[64] = "";
    int out[2], status;
    double t0;
    pid_t a;
    ssize_t n;
    (void)unused;

    make_container("expiry");
    assert_int_equal(pipe(out), 0);
    /* A live holder with a 15 s lease keeps it past 15 s (renewed every 3 s). */
    a = fork();
    if (a == 0)
        lease_child("expiry", 0, 60000, -1, 15, -1, -1, out[1]);
    n = read(out[0], id, 36);
    assert_int_equal(n, 36);
    id[36] = '\0';
    t0 = now_s();
    be = open_be("expiry", "s", 15);
    sleep(17);
    assert_int_equal(state_backend_lock(be, "plan", 0, &holder, &err), AMLSEC_ELOCKED);
    assert_string_equal(holder.id, id);
    assert_int_equal(holder.pid, a);

    /* Killed: nobody renews, the lease expires by itself. */
    kill(a, SIGKILL);
    assert_int_equal(waitpid(a, &status, 0), a);
    t0 = now_s();
    assert_int_equal(state_backend_lock(be, "plan", 30000, NULL, &err), 0);
    assert_true(now_s() - t0 < 17.0);
    assert_int_equal(state_backend_unlock(be, &err), 0);

    /* force-unlock by id frees a killed holder's lease at once. */
    a = fork();
    if (a == 0)
        lease_child("expiry", 0, 60000, -1, 60, -1, -1, out[1]);
    n = read(out[0], id, 36);
    assert_int_equal(n, 36);
    kill(a, SIGKILL);
    assert_int_equal(waitpid(a, &status, 0), a);
    assert_int_equal(state_backend_lock(be, "plan", 0, &holder, &err), AMLSEC_ELOCKED);
    assert_int_equal(state_backend_force_unlock(be, "00000000-0000-4000-8000-000000000000", &err),
                     AMLSEC_ECONFLICT);
    assert_int_equal(state_backend_force_unlock(be, id, &err), 0);
    t0 = now_s();
    assert_int_equal(state_backend_lock(be, "plan", 0, NULL, &err), 0);
    assert_true(now_s() - t0 < 5.0);
    state_backend_free(be);
    close(out[0]);
    close(out[1]);
}

/* A renewal the service does not answer (Azurite stopped) makes the lease
 * count as lost before it can lapse: 13.5 s into a 15 s lease, a write is
 * refused without being sent. (Renewing a third of the way in with the
 * whole 30 s request timeout, the renewal was still waiting then, and the
 * write went out on a lease about to lapse.) */
static void test_state_blob__stalled_renewal_fails_before_lapse(void **unused)
{
    struct errbuf err = ERRBUF_INIT;
    struct state_backend *be;
    struct state st;
    double before, locked, saving;
    int existed, rc;
    (void)unused;

    make_container("stall");
    be = open_be("stall", "s", 15);
    before = now_s();
    assert_int_equal(state_backend_lock(be, "apply", 0, NULL, &err), 0);
    locked = now_s();
    assert_int_equal(state_backend_load(&st, &existed, be, NULL, &err), 0);
    add_rg(&st, "a.one");
    assert_int_equal(kill(azurite_pid, SIGSTOP), 0);
    while (now_s() - locked < 13.5)
        usleep(50 * 1000);
    assert_int_equal(kill(azurite_pid, SIGCONT), 0);
    saving = now_s();
    rc = state_backend_save(be, &st, NULL, &err);
    /* refused at once, before the lease could lapse: observable when the save
     * starts well within the lease (on a loaded machine the lock or the wait
     * above may end later; the refusal is checked all the same) */
    if (saving - before < 14.0)
        assert_true(now_s() - before < 15.0);
    assert_int_equal(rc, AMLSEC_ELOCKED);
    assert_non_null(strstr(err.msg, "the lease on '"));
    assert_non_null(strstr(err.msg, "was lost"));
    state_release(&st);
    state_backend_free(be);
}

/* An account SAS for the blob service, signed with the development key
 * ("Create an account SAS", version 2020-12-06 and later). */
static void make_sas(char *out, size_t outsz, const char *perms)
{
    static const char hexd[] = "0123456789ABCDEF";
    const char *sv = "2021-12-02", *se = "2035-01-01T00:00:00Z";
    unsigned char key[96], mac[EVP_MAX_MD_SIZE], b64[64];
    unsigned int maclen = 0;
    char sts[256], sig[160], *o = sig;
    int kl = EVP_DecodeBlock(key, (const unsigned char *)DEV_KEY, (int)strlen(DEV_KEY)) - 2;

    snprintf(sts, sizeof(sts), DEV_ACCOUNT "\n%s\nb\nsco\n\n%s\n\n\n%s\n\n", perms, se, sv);
    HMAC(EVP_sha256(), key, kl, (const unsigned char *)sts, strlen(sts), mac, &maclen);
    EVP_EncodeBlock(b64, mac, (int)maclen);
    for (const unsigned char *p = b64; *p; p++) {
        if (*p == '+' || *p == '/' || *p == '=') {
            *o++ = '%';
            *o++ = hexd[*p >> 4];
            *o++ = hexd[*p & 15];
        } else {
            *o++ = (char)*p;
        }
    }
    *o = '\0';
    snprintf(out, outsz, "?sv=%s&ss=b&srt=sco&sp=%s&se=2035-01-01T00%%3A00%%3A00Z&sig=%s", sv,
             perms, sig);
}

static void test_state_blob__sas_token(void **unused)
{
    struct errbuf err = ERRBUF_INIT;
    struct blob_client_opts o = opts_for("sas", "s");
    struct state_backend *be;
    struct state st;
    char sas[512], ro[512];
    int existed;
    (void)unused;

    make_container("sas");
    make_sas(sas, sizeof(sas), "rwdlacup");
    o.shared_key = NULL;
    o.sas_token = sas;
    assert_int_equal(backend_blob_new(&be, &o, 15, &err), 0);
    assert_int_equal(state_backend_lock(be, "apply", 0, NULL, &err), 0);
    assert_int_equal(state_backend_load(&st, &existed, be, NULL, &err), 0);
    add_rg(&st, "azurerm_resource_group.rg");
    assert_int_equal(state_backend_save(be, &st, NULL, &err), 0);
    assert_int_equal(state_backend_unlock(be, &err), 0);
    state_release(&st);
    state_backend_free(be);

    /* a read-only SAS reads, and its refusal to write is reported */
    make_sas(ro, sizeof(ro), "rl");
    o.sas_token = ro;
    assert_int_equal(backend_blob_new(&be, &o, 15, &err), 0);
    assert_int_equal(state_backend_load(&st, &existed, be, NULL, &err), 0);
    assert_int_equal(existed, 1);
    assert_non_null(state_find(&st, "azurerm_resource_group.rg"));
    assert_int_equal(state_backend_save(be, &st, NULL, &err), AMLSEC_EHTTP);
    assert_non_null(strstr(err.msg, "403"));
    assert_null(strstr(err.msg, "sig=")); /* the SAS never appears */
    state_release(&st);
    state_backend_free(be);
}

static void test_state_blob__cli_azurerm(void **unused)
{
    struct errbuf err = ERRBUF_INIT;
    char amlsec[PATH_MAX + 16], cmd[4 * PATH_MAX], path[128];
    char dir[] = "/tmp/amlsec-blob-cli-XXXXXX";
    struct state st;
    struct buf b;
    FILE *f;
    (void)unused;

    make_container("cli");
    snprintf(amlsec, sizeof(amlsec), "%s/../amlsec", exe_dir);
    assert_non_null(mkdtemp(dir));
    assert_int_equal(state_init(&st, &err), 0);
    add_rg(&st, "azurerm_resource_group.rg");
    st.serial = 4;
    buf_init(&b, STATE_MAX_BYTES);
    assert_int_equal(state_serialize(&st, &b, &err), 0);
    snprintf(path, sizeof(path), "%s/in.json", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(b.ptr, 1, b.len, f), b.len);
    fclose(f);
    buf_release(&b);
    state_release(&st);
    snprintf(cmd, sizeof(cmd),
             "set -e; cd '%s'; A='%s'; "
             "export AMLSEC_BACKEND=azurerm AMLSEC_BLOB_URL='%s' AMLSEC_STORAGE_CONTAINER=cli "
             "AMLSEC_STATE_BLOB=team.state ARM_ACCESS_KEY='%s' AMLSEC_STATE_PASSPHRASE=pw; "
             "\"$A\" state push in.json | grep -q 'serial 4'; "
             "\"$A\" state list | grep -qx azurerm_resource_group.rg; "
             "\"$A\" state mv azurerm_resource_group.rg azurerm_resource_group.main >/dev/null; "
             "\"$A\" state list | grep -qx azurerm_resource_group.main; "
             "\"$A\" state pull | head -c 7 | grep -q AMLSECX; "
             "if AMLSEC_STATE_PASSPHRASE= \"$A\" state list 2>err.txt; then exit 9; fi; "
             "grep -q 'is encrypted' err.txt; "
             "if \"$A\" state push in.json 2>err.txt; then exit 8; fi; "
             "grep -q 'older than' err.txt; "
             "if ARM_ACCESS_KEY= \"$A\" state list 2>err.txt; then exit 7; fi; "
             "grep -q 'needs credentials' err.txt; "
             "if \"$A\" force-unlock 00000000-0000-4000-8000-000000000000 2>err.txt; then "
             "exit 6; fi; grep -q 'not locked' err.txt",
             dir, amlsec, endpoint, DEV_KEY);
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_state_blob__roundtrip_and_wrong_key),
        cmocka_unit_test(test_state_blob__etag_conflict),
        cmocka_unit_test(test_state_blob__lease_race_and_wait),
        cmocka_unit_test(test_state_blob__killed_holder_expires_live_one_renews),
        cmocka_unit_test(test_state_blob__stalled_renewal_fails_before_lapse),
        cmocka_unit_test(test_state_blob__sas_token),
        cmocka_unit_test(test_state_blob__cli_azurerm),
    };
    return cmocka_run_group_tests(tests, start_azurite, stop_azurite);
}
