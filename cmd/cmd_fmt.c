/* amlsec fmt: rewrites .amlsec files in the canonical layout (parser/fmt.h). */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd/cli.h"
#include "cmd/commands.h"
#include "cmd/load.h"
#include "parser/fmt.h"
#include "util/error.h"
#include "util/fileio.h"
#include "util/linediff.h"
#include "util/banned.h"

struct fmt_run {
    const struct command *self;
    bool check, diff, write, recursive;
    int color;
    bool failed;  /* an error: exit 1 */
    bool changed; /* a file is (or was) not formatted */
};

static bool has_ext(const char *name)
{
    size_t n = strlen(name);
    return n > 7 && strcmp(name + n - 7, ".amlsec") == 0;
}

/* Formats one loaded source. Returns 0 and fills out, or prints the
 * diagnostics / error and returns -1. */
static int format_one(struct fmt_run *r, const struct src_file *src, struct buf *out)
{
    struct diag_list diags;
    struct errbuf err = ERRBUF_INIT;
    int rc;

    diag_list_init(&diags);
    rc = fmt_source(out, src, &diags, &err);
    if (rc == AMLSEC_EPARSE)
        load_print_diags(&diags, r->color);
    else if (rc < 0)
        cli_error("%s", err.msg);
    diag_list_release(&diags);
    if (rc < 0)
        r->failed = true;
    return rc < 0 ? -1 : 0;
}

static void show_diff(const char *name, const struct src_file *src, const struct buf *out)
{
    struct buf d;
    char *a_name = NULL, *b_name = NULL;
    buf_init(&d, 0);
    if (asprintf(&a_name, "old/%s", name) >= 0 && asprintf(&b_name, "new/%s", name) >= 0 &&
        linediff_unified(&d, src->text, src->len, out->ptr, out->len, a_name, b_name, 3) == 0)
        fwrite(d.ptr, 1, d.len, stdout);
    else
        cli_error("out of memory printing the diff of '%s'", name);
    free(a_name);
    free(b_name);
    buf_release(&d);
}

static void fmt_file(struct fmt_run *r, const char *path)
{
    struct src_file *src = NULL;
    struct errbuf err = ERRBUF_INIT;
    struct buf out;
    struct stat st;
    char *real = NULL;

    buf_init(&out, 0);
    if (src_file_load(&src, path, &err) < 0) {
        cli_error("%s", err.msg);
        r->failed = true;
        goto out;
    }
    if (format_one(r, src, &out) < 0)
        goto out;
    if (out.len == src->len && memcmp(out.ptr, src->text, out.len) == 0)
        goto out;
    r->changed = true;
    printf("%s\n", path);
    if (r->diff)
        show_diff(path, src, &out);
    if (r->check || !r->write)
        goto out;
    /* write through symlinks to the file they name, keeping its mode */
    real = realpath(path, NULL);
    if (real == NULL || stat(real, &st) < 0) {
        cli_error("cannot write '%s': %s", path, strerror(errno));
        r->failed = true;
        goto out;
    }
    if (file_write_atomic(real, out.ptr, out.len, st.st_mode & 07777, &err) < 0) {
        cli_error("%s", err.msg);
        r->failed = true;
    }
out:
    free(real);
    buf_release(&out);
    src_file_free(src);
}

static void fmt_stdin(struct fmt_run *r)
{
    struct buf in, out;
    struct src_file *src = NULL;
    struct errbuf err = ERRBUF_INIT;

    buf_init(&in, SRC_MAX_SIZE + 1);
    buf_init(&out, 0);
    if (file_read_all(&in, "/dev/stdin", SRC_MAX_SIZE, &err) < 0 ||
        src_file_from_mem(&src, "<stdin>", in.ptr, in.len, &err) < 0) {
        cli_error("%s", err.msg);
        r->failed = true;
        goto out;
    }
    if (format_one(r, src, &out) < 0)
        goto out;
    if (out.len != src->len || memcmp(out.ptr, src->text, out.len) != 0)
        r->changed = true;
    if (r->diff)
        show_diff("<stdin>", src, &out);
    else if (r->check && r->changed)
        printf("<stdin>\n");
    else if (!r->check)
        fwrite(out.ptr, 1, out.len, stdout);
out:
    src_file_free(src);
    buf_release(&in);
    buf_release(&out);
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void fmt_dir(struct fmt_run *r, const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char **names = NULL;
    size_t n = 0, cap = 0;

    if (d == NULL) {
        cli_error("cannot read directory '%s': %s", dir, strerror(errno));
        r->failed = true;
        return;
    }
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue; /* ., .., hidden files and folders (.git, state) */
        if (n == cap) {
            char **g;
            cap = cap ? cap * 2 : 16;
            g = realloc(names, cap * sizeof(*names));
            if (g == NULL)
                break;
            names = g;
        }
        if ((names[n] = strdup(e->d_name)) != NULL)
            n++;
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof(*names), cmp_names);
    for (size_t i = 0; i < n; i++) {
        char *path = NULL;
        struct stat st;
        size_t dl = strlen(dir);
        if (strcmp(dir, ".") == 0)
            path = strdup(names[i]);
        else if (asprintf(&path, "%s%s%s", dir, dl && dir[dl - 1] == '/' ? "" : "/", names[i]) < 0)
            path = NULL;
        /* lstat: symlinked folders are not followed (no loops) */
        if (path && lstat(path, &st) == 0) {
            if (S_ISDIR(st.st_mode)) {
                if (r->recursive)
                    fmt_dir(r, path);
            } else if (has_ext(names[i])) {
                fmt_file(r, path);
            }
        }
        free(path);
        free(names[i]);
    }
    free(names);
}

static bool parse_bool_flag(const char *v, bool *out)
{
    if (v == NULL || strcmp(v, "true") == 0 || strcmp(v, "1") == 0) {
        *out = true;
        return true;
    }
    if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0) {
        *out = false;
        return true;
    }
    return false;
}

int cmd_fmt(int argc, char **argv, struct cli_ctx *ctx)
{
    const struct command *self = command_find("fmt");
    static const struct option opts[] = {{"check", no_argument, NULL, 'c'},
                                         {"diff", no_argument, NULL, 'd'},
                                         {"recursive", no_argument, NULL, 'r'},
                                         {"write", optional_argument, NULL, 'w'},
                                         {"no-color", no_argument, NULL, 'n'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    struct fmt_run r;
    int c;

    memset(&r, 0, sizeof(r));
    r.self = self;
    r.write = true;
    r.color = ctx->color && isatty(STDERR_FILENO);
    while ((c = cli_getopt(argc, argv, opts, self)) != -1) {
        switch (c) {
        case 'c':
            r.check = true;
            break;
        case 'd':
            r.diff = true;
            break;
        case 'r':
            r.recursive = true;
            break;
        case 'w':
            if (!parse_bool_flag(optarg, &r.write))
                return cli_usage_error(self, "-write takes true or false, got '%s'", optarg);
            break;
        case 'n':
            r.color = 0;
            break;
        case CLI_HELP:
            fputs(self->usage, stdout);
            return EXIT_OK;
        default:
            return EXIT_FAIL;
        }
    }
    if (optind == argc) {
        fmt_dir(&r, ".");
    } else {
        for (int i = optind; i < argc; i++) {
            struct stat st;
            if (strcmp(argv[i], "-") == 0) {
                fmt_stdin(&r);
            } else if (stat(argv[i], &st) < 0) {
                cli_error("cannot read '%s': %s", argv[i], strerror(errno));
                r.failed = true;
            } else if (S_ISDIR(st.st_mode)) {
                fmt_dir(&r, argv[i]);
            } else {
                fmt_file(&r, argv[i]);
            }
        }
    }
    fflush(stdout);
    if (r.failed || (r.check && r.changed))
        return EXIT_FAIL;
    return EXIT_OK;
}
