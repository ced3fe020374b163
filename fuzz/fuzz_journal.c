/* Fuzz target: the journal as the next run reads it (state/journal.c).
 * Each input is a journal file: opened read-only and folded into a small
 * state without reading the cloud (what state list, state show and show do
 * after a kill), then opened as the next apply opens it and reconciled
 * with a reader that finds every resource gone, the state saved and the
 * journal settled (rewritten with the entries still pending). Whatever a
 * fold leaves in the state must serialize to a state that reads back (a
 * recovery saves it), and the settled journal must open again with no
 * unreadable line. Crashes, sanitizer reports and leaks are the other
 * failures. Seeds: fuzz/corpora/journal/. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "state/journal.h"
#include "state/state.h"
#include "util/error.h"
#include "util/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* the state the journal is folded into: what a run left before its kill */
static const char base_state[] =
    "{\"amlsec_version\":\"0.1.0\",\"lineage\":\"11111111-1111-4111-8111-111111111111\","
    "\"resources\":["
    "{\"address\":\"resource_group.ml\",\"api_version\":\"2021-04-01\",\"arm_id\":"
    "\"/subscriptions/s/resourceGroups/rg\",\"attributes\":{\"name\":\"rg\"},\"dependencies\":[],"
    "\"kind\":\"resource_group\",\"sensitive\":[],\"status\":\"created\"},"
    "{\"address\":\"workspace.w\",\"api_version\":\"2024-04-01\",\"arm_id\":"
    "\"/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/"
    "workspaces/ws\",\"attributes\":{\"name\":\"ws\",\"properties\":{\"n\":1}},"
    "\"dependencies\":[\"resource_group.ml\"],\"kind\":\"workspace\",\"sensitive\":["
    "\"/properties/n\"],\"status\":\"created\"}"
    "],\"serial\":3}";

static char dir[64], path[96];

static void cleanup(void)
{
    char p[128];
    if (path[0]) {
        unlink(path);
        snprintf(p, sizeof(p), "%s.damaged", path);
        unlink(p);
        snprintf(p, sizeof(p), "%s.tmp", path);
        unlink(p);
    }
    if (dir[0])
        rmdir(dir);
}

static void write_input(const uint8_t *data, size_t size)
{
    int fd;
    size_t off = 0;
    char p[128];
    if (path[0] == '\0') {
        const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        snprintf(dir, sizeof(dir), "%s/amlsec-fuzz-XXXXXX", base);
        if (mkdtemp(dir) == NULL)
            abort();
        snprintf(path, sizeof(path), "%s/state.json.journal", dir);
        atexit(cleanup);
    }
    snprintf(p, sizeof(p), "%s.damaged", path);
    unlink(p);
    if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) < 0)
        abort();
    while (off < size) {
        ssize_t n = write(fd, data + off, size - off);
        if (n <= 0)
            abort();
        off += (size_t)n;
    }
    close(fd);
}

static int gone(void *payload, const char *kind, const char *arm_id, json_t **out)
{
    (void)payload;
    (void)kind;
    (void)arm_id;
    *out = NULL;
    return AMLSEC_ENOTFOUND;
}

/* The state after a fold serializes, and what it wrote reads back. */
static void state_round_trips(struct state *st)
{
    struct errbuf err = ERRBUF_INIT;
    struct state again;
    struct buf text;
    buf_init(&text, STATE_MAX_BYTES);
    if (state_serialize(st, &text, &err) != 0) {
        if (err.code == AMLSEC_ENOMEM)
            goto out;
        fprintf(stderr, "a folded state does not serialize: %s\n", err.msg);
        abort();
    }
    if (state_parse(&again, text.ptr, text.len, "folded", &err) != 0) {
        fprintf(stderr, "a folded state does not read back: %s\n%s\n", err.msg, text.ptr);
        abort();
    }
    state_release(&again);
out:
    buf_release(&text);
}

/* base_state in its checksummed envelope, as a state file holds it */
static void base(struct state *st)
{
    struct errbuf err = ERRBUF_INIT;
    unsigned char md[32];
    unsigned int n = 0;
    struct buf file;
    buf_init(&file, STATE_MAX_BYTES);
    if (EVP_Digest(base_state, sizeof(base_state) - 1, md, &n, EVP_sha256(), NULL) != 1)
        abort();
    buf_adds(&file, "{\"format_version\":1,\"sha256\":\"");
    for (unsigned int i = 0; i < n; i++)
        buf_addf(&file, "%02x", md[i]);
    buf_adds(&file, "\",\"state\":");
    buf_adds(&file, base_state);
    buf_adds(&file, "}\n");
    if (state_parse(st, file.ptr, file.len, "base", &err) != 0) {
        fprintf(stderr, "the base state: %s\n", err.msg);
        abort();
    }
    buf_release(&file);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct errbuf err = ERRBUF_INIT;
    struct journal j;
    struct journal_reader none, reader;
    struct journal_recovery rec;
    struct state st;
    size_t pending;

    if (size > ((size_t)1 << 20))
        return 0;
    write_input(data, size);

    /* what the commands that show the state do */
    memset(&none, 0, sizeof(none));
    base(&st);
    if (journal_open_readonly(&j, path, NULL, &err) == 0) {
        if (journal_reconcile(&rec, &j, &st, &none, &err) == 0) {
            state_round_trips(&st);
            journal_recovery_release(&rec);
        }
        journal_release(&j);
    }
    state_release(&st);

    /* what the next apply does: reconcile, save, settle */
    memset(&reader, 0, sizeof(reader));
    reader.read = gone;
    reader.now = 1767225600; /* 2026-01-01: the seeds' intents are younger than a day */
    base(&st);
    errbuf_clear(&err);
    if (journal_open(&j, path, NULL, &err) == 0) {
        if (journal_reconcile(&rec, &j, &st, &reader, &err) == 0) {
            state_round_trips(&st);
            if (journal_settle(&j, &rec, &err) == 0) {
                pending = rec.pending;
                journal_release(&j);
                errbuf_clear(&err);
                if (journal_open(&j, path, NULL, &err) != 0) {
                    fprintf(stderr, "the settled journal does not open: %s\n", err.msg);
                    abort();
                }
                if (j.nunreadable != 0 || journal_pending(&j, NULL, 0) != pending) {
                    fprintf(stderr, "the settled journal: %zu unreadable, %zu pending (%zu)\n",
                            j.nunreadable, journal_pending(&j, NULL, 0), pending);
                    abort();
                }
            }
            journal_recovery_release(&rec);
        }
        journal_release(&j);
    }
    state_release(&st);
    return 0;
}
