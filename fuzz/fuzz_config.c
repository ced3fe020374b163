/* libFuzzer target over the .amlsec front end: lexer, parser, semantic
 * check and evaluation (config_load on the input written to a private
 * temporary folder), the diagnostic renderers, a check-only load (it must
 * report what the full load's check reports), and the fmt round trip:
 * when the input parses, fmt must succeed, its output must parse to an
 * equal syntax tree, and fmt must be idempotent. Any violation abort()s.
 * Crashes and sanitizer reports are the other findings. */
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "parser/ast_equal.h"
#include "parser/config.h"
#include "parser/diag.h"
#include "parser/fmt.h"
#include "providers/arm/resolve.h"
#include "providers/arm/schema.h"
#include "parser/parse.h"
#include "util/error.h"
#include "util/jsonw.h"
#include "util/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];
static char path[96];

static void cleanup(void)
{
    if (path[0])
        unlink(path);
    if (dir[0])
        rmdir(dir);
}

static const char *input_path(void)
{
    if (path[0] == '\0') {
        const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        snprintf(dir, sizeof(dir), "%s/amlsec-fuzz-XXXXXX", base);
        if (mkdtemp(dir) == NULL)
            abort();
        snprintf(path, sizeof(path), "%s/main.amlsec", dir);
        atexit(cleanup);
    }
    return path;
}

static void write_input(const uint8_t *data, size_t size)
{
    int fd = open(input_path(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    size_t off = 0;
    if (fd < 0)
        abort();
    while (off < size) {
        ssize_t n = write(fd, data + off, size - off);
        if (n <= 0)
            abort();
        off += (size_t)n;
    }
    close(fd);
}

/* Renders every diagnostic as text and JSON (caret lines over any span). */
static void render(struct diag_list *diags)
{
    struct buf b;
    buf_init(&b, 0);
    diag_list_sort(diags);
    for (size_t i = 0; i < diags->n; i++) {
        json_t *j = diag_to_json(&diags->items[i]);
        char *s = j ? jsonw_dumps(j, 0) : NULL;
        diag_format_text(&b, &diags->items[i], i & 1);
        free(s);
        json_decref(j);
    }
    buf_release(&b);
}

/* With the ARM resolver (what validate does) and without it (the front
 * end's own reference values). */
static void check_pass(bool resolver)
{
    struct config_opts opts;
    struct config *cfg = NULL;
    struct diag_list diags;
    struct errbuf err = ERRBUF_INIT;

    memset(&opts, 0, sizeof(opts));
    opts.path = input_path();
    opts.kinds = schema_kind_names;
    if (resolver)
        opts.resolver = resolve_resolver();
    diag_list_init(&diags);
    config_load(&cfg, &opts, &diags, &err);
    render(&diags);
    config_free(cfg);
    diag_list_release(&diags);
}

/* A diagnostic as a line, without the file's name. */
static void diag_line(struct buf *b, const struct diag *d)
{
    buf_addf(b, "%u-%u %s %s\n", d->loc.begin, d->loc.end, d->code, d->message);
}

/* A check-only load (bodies released as soon as they are checked) must
 * report exactly what a full load's check reports, and find the same
 * resources and dependencies. */
static void check_only_agrees(void)
{
    struct config_opts opts;
    struct config *full = NULL, *quick = NULL;
    struct diag_list dfull, dquick;
    struct errbuf err = ERRBUF_INIT;
    int rfull, rquick;

    memset(&opts, 0, sizeof(opts));
    opts.path = input_path();
    opts.kinds = schema_kind_names;
    opts.resolver = resolve_resolver();
    diag_list_init(&dfull);
    diag_list_init(&dquick);
    rfull = config_load(&full, &opts, &dfull, &err);
    opts.check_only = true;
    rquick = config_load(&quick, &opts, &dquick, &err);
    if (rfull != AMLSEC_ENOMEM && rquick != AMLSEC_ENOMEM) {
        if (dquick.errors) {
            struct buf a, b;
            buf_init(&a, 0);
            buf_init(&b, 0);
            diag_list_sort(&dfull);
            diag_list_sort(&dquick);
            for (size_t i = 0; i < dfull.n; i++)
                diag_line(&a, &dfull.items[i]);
            for (size_t i = 0; i < dquick.n; i++)
                diag_line(&b, &dquick.items[i]);
            if (strcmp(a.ptr, b.ptr) != 0) {
                fprintf(stderr, "check-only diagnostics differ:\n%s---\n%s", a.ptr, b.ptr);
                abort();
            }
            buf_release(&a);
            buf_release(&b);
        } else if (rquick == 0 && full) {
            if (full->nresources != quick->nresources)
                abort();
            for (size_t i = 0; i < full->nresources; i++) {
                const struct cfg_resource *f = &full->resources[i], *q = &quick->resources[i];
                if (strcmp(f->address, q->address) != 0 || f->ndeps != q->ndeps)
                    abort();
                for (size_t k = 0; k < f->ndeps; k++)
                    if (strcmp(f->deps[k]->address, q->deps[k]->address) != 0)
                        abort();
            }
        }
    }
    config_free(full);
    config_free(quick);
    diag_list_release(&dfull);
    diag_list_release(&dquick);
}

/* Parses with a diagnostic list of its own: a full list hides errors. */
static int parse_text(struct ast_file **out, struct src_file **src, const char *text, size_t len,
                      struct arena *arena)
{
    struct errbuf err = ERRBUF_INIT;
    struct diag_list diags;
    int rc;
    if (src_file_from_mem(src, "fuzz.amlsec", text, len, &err) < 0)
        abort();
    diag_list_init(&diags);
    rc = parse_file(out, *src, arena, &diags);
    render(&diags);
    diag_list_release(&diags);
    return rc;
}

static void fmt_round_trip(const uint8_t *data, size_t size)
{
    struct arena arena;
    struct diag_list diags, diags2;
    struct src_file *src = NULL, *src2 = NULL;
    struct ast_file *before = NULL, *after = NULL;
    struct errbuf err = ERRBUF_INIT;
    struct buf out, again;
    int prc, rc;

    arena_init(&arena);
    diag_list_init(&diags);
    diag_list_init(&diags2);
    buf_init(&out, 0);
    buf_init(&again, 0);
    prc = parse_text(&before, &src, (const char *)data, size, &arena);
    rc = fmt_source(&out, src, &diags, &err);
    if (prc == 0) {
        /* a file that parses must format, to the same tree, idempotently */
        if (rc != 0) {
            fprintf(stderr, "fmt failed on a valid file: %s\n", err.msg);
            abort();
        }
        if (parse_text(&after, &src2, out.ptr, out.len, &arena) != 0 ||
            !ast_file_equal(before, after)) {
            fprintf(stderr, "fmt changed the meaning:\n%s\n", out.ptr);
            abort();
        }
        if (fmt_source(&again, src2, &diags2, &err) != 0 || again.len != out.len ||
            memcmp(again.ptr, out.ptr, out.len) != 0) {
            fprintf(stderr, "fmt is not idempotent:\n%s\n---\n%s\n", out.ptr, again.ptr);
            abort();
        }
    } else if (rc != AMLSEC_EPARSE && rc != AMLSEC_ENOMEM) {
        fprintf(stderr, "fmt accepted a file that does not parse (%d)\n", rc);
        abort();
    }
    buf_release(&out);
    buf_release(&again);
    src_file_free(src);
    src_file_free(src2);
    diag_list_release(&diags);
    diag_list_release(&diags2);
    arena_release(&arena);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > ((size_t)1 << 20))
        return 0;
    write_input(data, size);
    check_pass(true);
    check_pass(false);
    check_only_agrees();
    fmt_round_trip(data, size);
    return 0;
}
