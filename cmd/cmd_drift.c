/* amlsec drift: what changed in Azure behind amlsec's back, read-only
 * (engine/drift.h). No lock, no journal recovery, no write request, no
 * file written. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cmd/cli.h"
#include "cmd/commands.h"
#include "cmd/exit_codes.h"
#include "cmd/load.h"
#include "cmd/reports.h"
#include "cmd/session.h"
#include "engine/drift.h"
#include "state/journal.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/fileio.h"
#include "util/jsonw.h"
#include "util/banned.h"

#define IGNORE_FILE ".amlsecignore"
#define IGNORE_MAX (1u << 20)

struct drift_cli {
    struct load_args la;
    const char *path;
    const char *ignore_file; /* -ignore-file, else DIR/.amlsecignore when present */
    int json, recursive, color;
    unsigned shard_k, shard_n; /* -shard K/N (1-based K), 0/0: all */
    struct session_opts so;
    struct report_files rf;      /* -sarif, -junit, -markdown */
    const char *stack;           /* -recursive: the directory being read, else NULL */
    struct finding_list reports; /* every stack's findings, for rf */
};

static void today_utc(char out[11])
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(out, 11, "%Y-%m-%d", &tm);
}

/* Reads the suppressions: -ignore-file, or .amlsecignore in dir when there
 * is one. Prints the error (file:line:col, the line and a caret). */
static int read_ignore(struct drift_ignore *ig, const struct drift_cli *dc, const char *dir)
{
    char path[4096], today[11];
    struct buf b;
    struct errbuf err = ERRBUF_INIT;
    unsigned line = 0, col = 0;
    int rc;

    memset(ig, 0, sizeof(*ig));
    if (dc->ignore_file)
        snprintf(path, sizeof(path), "%s", dc->ignore_file);
    else {
        struct stat st;
        snprintf(path, sizeof(path), "%s/%s", dir, IGNORE_FILE);
        if (stat(path, &st) < 0)
            return EXIT_OK;
    }
    buf_init(&b, IGNORE_MAX);
    if (file_read_all(&b, path, IGNORE_MAX, &err) < 0) {
        cli_error("%s", err.msg);
        buf_release(&b);
        return EXIT_FAIL;
    }
    today_utc(today);
    rc = drift_ignore_parse(ig, path, b.ptr ? b.ptr : "", b.len, today, &line, &col, &err);
    if (rc < 0) {
        cli_error("%s:%u:%u: %s", path, line, col, err.msg);
        if (rc == AMLSEC_EPARSE) {
            /* the line, then a caret under the column */
            const char *p = b.ptr;
            for (unsigned i = 1; p && i < line; i++) {
                p = memchr(p, '\n', b.len - (size_t)(p - b.ptr));
                p = p ? p + 1 : NULL;
            }
            if (p) {
                int n = (int)strcspn(p, "\n");
                fprintf(stderr, "  %.*s\n  %*s^\n", n, p, (int)col - 1, "");
            }
        }
        buf_release(&b);
        return EXIT_FAIL;
    }
    buf_release(&b);
    return EXIT_OK;
}

/* Operations an interrupted apply left pending, read without changing the
 * journal; -1 when it cannot be read (reported). */
static long journal_left(struct session *s)
{
    struct journal j;
    struct errbuf err = ERRBUF_INIT;
    char *path = backend_config_journal_path(&s->sc.cfg);
    long n;
    if (path == NULL)
        return 0;
    if (journal_open_readonly(&j, path, &s->sc.keys, &err) < 0) {
        cli_error("%s", err.msg);
        free(path);
        return -1;
    }
    free(path);
    n = (long)journal_pending(&j, NULL, 0);
    journal_release(&j);
    return n;
}

static void print_value(FILE *f, const json_t *v)
{
    char *text = jsonw_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    fputs(text ? text : "null", f);
    free(text);
}

static const char *str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

static void print_list(FILE *f, const char *title, const json_t *list, const char *mark)
{
    size_t i, k;
    const json_t *x, *a;
    if (json_array_size(list) == 0)
        return;
    fprintf(f, "\n%s\n", title);
    json_array_foreach(list, i, x)
    {
        const char *kind = str(x, "kind");
        if (strcmp(kind, "changed") == 0 || strcmp(kind, "deleted") == 0) {
            fprintf(f, "  %s %s", mark, str(x, "address"));
            if (strcmp(kind, "deleted") == 0 && *str(x, "arm_id"))
                fprintf(f, " (%s)", str(x, "arm_id"));
            fputc('\n', f);
        } else if (strcmp(kind, "unmanaged") == 0) {
            fprintf(f, "  %s %s\n      %s\n", mark, str(x, "arm_id"), str(x, "message"));
        } else if (strcmp(kind, "missing_grant") == 0) {
            fprintf(f, "  %s %s [%s]\n", mark, str(x, "message"), str(x, "rule"));
        } else {
            fprintf(f, "  %s %s\n", mark, str(x, "message"));
            if (json_array_size(json_object_get(x, "paths")) > 0) {
                fputs("      not applied:", f);
                json_array_foreach(json_object_get(x, "paths"), k, a)
                    fprintf(f, "%s %s", k ? "," : "", json_string_value(a));
                fputc('\n', f);
            }
        }
        json_array_foreach(json_object_get(x, "attributes"), k, a)
        {
            fprintf(f, "      %s: ", str(a, "path"));
            print_value(f, json_object_get(a, "before"));
            fputs(" -> ", f);
            print_value(f, json_object_get(a, "after"));
            fputc('\n', f);
        }
        if (json_object_get(x, "suppressed_by")) {
            const json_t *s = json_object_get(x, "suppressed_by");
            fprintf(f, "      suppressed by %s:%lld: %s\n", str(s, "file"),
                    (long long)json_integer_value(json_object_get(s, "line")), str(s, "reason"));
        }
    }
}

static void print_text(FILE *f, const struct drift_report *r, const struct drift_ignore *ig,
                       long journal)
{
    size_t n = drift_count(r);
    print_list(f, "Changed outside amlsec:", r->changed, "~");
    print_list(f, "Deleted outside amlsec:", r->deleted, "-");
    print_list(f, "Unmanaged (security-relevant objects no configuration declares):", r->unmanaged,
               "+");
    print_list(f, "Missing grants:", r->missing_grants, "!");
    print_list(f, "Pending configuration changes (not applied yet; not drift):", r->pending, "*");
    print_list(f, "Suppressed (.amlsecignore):", r->suppressed, " ");
    for (size_t i = 0; ig && i < ig->n; i++) {
        const struct drift_suppression *s = &ig->items[i];
        if (s->expired)
            fprintf(f,
                    "\nWarning: %s:%u: suppression expired on %s and no longer suppresses: %s %s",
                    ig->file, s->line, s->expires, s->pattern, s->what);
        else if (s->used == 0)
            fprintf(f, "\nWarning: %s:%u: unused suppression (matches nothing): %s %s", ig->file,
                    s->line, s->pattern, s->what);
    }
    for (size_t i = 0; i < json_array_size(r->notes); i++)
        fprintf(f, "\nNote: %s.", json_string_value(json_array_get(r->notes, i)));
    if (journal > 0)
        fprintf(f,
                "\nWarning: %ld operation%s of an interrupted apply %s pending in the journal; "
                "drift does not recover %s (it writes nothing): run plan or apply to recover "
                "%s.",
                journal, journal == 1 ? "" : "s", journal == 1 ? "is" : "are",
                journal == 1 ? "it" : "them", journal == 1 ? "it" : "them");
    fprintf(f,
            "\n\n%s %zu changed, %zu deleted, %zu unmanaged, %zu missing grant%s; %zu suppressed; "
            "%zu pending configuration change%s (not drift); %zu scope%s searched.\n",
            n ? "Drift detected:" : "No drift:", json_array_size(r->changed),
            json_array_size(r->deleted), json_array_size(r->unmanaged),
            json_array_size(r->missing_grants), json_array_size(r->missing_grants) == 1 ? "" : "s",
            json_array_size(r->suppressed), json_array_size(r->pending),
            json_array_size(r->pending) == 1 ? "" : "s", r->scopes, r->scopes == 1 ? "" : "s");
}

/* What one stack's run holds once its report is made: the plan, the
 * read-only view's bodies, the state and the configuration (some 800 MB of
 * small blocks at 50,000 resources). A single stack's are left for the
 * process's exit to return at once, as show leaves its plan: freeing them
 * block by block came after the run's last Resource Graph query, beyond
 * the floor its quota puts under drift. Held here, reachable; freed under
 * AddressSanitizer and between the stacks of -recursive. */
#ifndef CLI_FREES_AT_EXIT
struct drift_kept {
    struct drift_report rep;
    struct provider *ro;
    struct state st;
    bool have_st;
    struct config *cfg;
};

static void drift_kept_release(struct drift_kept *k)
{
    drift_report_release(&k->rep);
    provider_free(k->ro);
    if (k->have_st)
        state_release(&k->st);
    config_free(k->cfg);
    memset(k, 0, sizeof(*k));
}
#endif

/* One configuration directory. *json_out gets the report (or NULL);
 * returns the exit code. */
static int drift_dir(struct drift_cli *dc, const char *dir, json_t **json_out)
{
    struct diag_list diags;
    struct errbuf err = ERRBUF_INIT;
    struct config *cfg = NULL;
    struct session s;
    struct provider *ro = NULL;
    struct drift_ignore ig;
    struct drift_report rep;
    bool session_ok = false, have_rep = false;
    long journal = 0;
    int rc = EXIT_FAIL, lrc;

    *json_out = NULL;
    memset(&s, 0, sizeof(s));
    memset(&ig, 0, sizeof(ig));
    diag_list_init(&diags);
    lrc = load_config_checked(&cfg, dir, &dc->la, LOAD_SCHEMA, &diags, &err);
    if (lrc < 0) {
        load_report_failure(lrc, &diags, &err, dc->color);
        goto out;
    }
    if (read_ignore(&ig, dc, dir) != EXIT_OK)
        goto out;
    session_prepare_config(dc->so.cloud, cfg);
    dc->so.need_cloud = true;
    dc->so.lock = false; /* read-only: no lock, and so no journal recovery */
    dc->so.read_only = true;
    if (session_open(&s, &dc->so, cfg) != EXIT_OK)
        goto out;
    session_ok = true;
    if ((journal = journal_left(&s)) < 0)
        goto out;
    if ((ro = provider_readonly(s.provider)) == NULL) {
        cli_error("out of memory");
        goto out;
    }
    lrc = drift_run(&rep, cfg, &s.st, ro, &ig, &diags, &err);
    have_rep = true;
    load_print_diags(&diags, dc->color);
    if (lrc < 0) {
        if (lrc != AMLSEC_EPARSE)
            cli_error("%s", err.msg);
        goto out;
    }
    if (provider_readonly_refused(ro) > 0) {
        /* cannot happen: the planner only reads; say so loudly if it does */
        cli_error("internal error: drift attempted %u write%s (refused)",
                  provider_readonly_refused(ro), provider_readonly_refused(ro) == 1 ? "" : "s");
        goto out;
    }
    if (reports_wanted(&dc->rf)) {
        char prefix[4096];
        /* -recursive runs in each stack's directory: locations name it */
        snprintf(prefix, sizeof(prefix), "%s/", dc->stack ? dc->stack : dir);
        if (drift_report_findings(&dc->reports, &rep, strcmp(prefix, "./") == 0 ? NULL : prefix) <
            0) {
            cli_error("out of memory");
            goto out;
        }
    }
    if (dc->json) {
        *json_out = drift_to_json(&rep, &ig);
        json_object_set_new(*json_out, "journal_pending", json_integer(journal));
    } else {
        print_text(stdout, &rep, &ig, journal);
    }
    rc = drift_count(&rep) > 0 ? EXIT_CHANGES : EXIT_OK;
#ifndef CLI_FREES_AT_EXIT
    if (!dc->recursive) {
        static struct drift_kept kept;
        drift_kept_release(&kept); /* a run before in this process */
        kept.rep = rep;
        have_rep = false;
        kept.ro = ro;
        ro = NULL;
        kept.st = s.st;
        kept.have_st = s.loaded;
        s.loaded = false; /* session_close leaves it */
        kept.cfg = cfg;
        cfg = NULL;
    }
#endif
out:
    if (have_rep)
        drift_report_release(&rep);
    provider_free(ro);
    if (session_ok)
        session_close(&s);
    drift_ignore_release(&ig);
    config_free(cfg);
    diag_list_release(&diags);
    return rc;
}

static void print_json(json_t *root)
{
    char *text = jsonw_dumps(root, JSON_INDENT(2));
    if (text)
        printf("%s\n", text);
    free(text);
}

/* --- -recursive ----------------------------------------------------------------- */

static bool has_config(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    bool found = false;
    if (d == NULL)
        return false;
    while (!found && (e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        found = e->d_name[0] != '.' && n > 7 && strcmp(e->d_name + n - 7, ".amlsec") == 0;
    }
    closedir(d);
    return found;
}

struct dirs {
    char **v;
    size_t n;
};

/* Every directory under root (root included) holding *.amlsec files;
 * hidden directories (.amlsec, .git) are skipped. Bounded depth. */
static void find_dirs(struct dirs *out, const char *root, int depth)
{
    DIR *d;
    struct dirent *e;
    if (depth > 32)
        return;
    if (has_config(root)) {
        char **grown = realloc(out->v, (out->n + 1) * sizeof(*grown));
        if (grown) {
            out->v = grown;
            if ((out->v[out->n] = strdup(root)) != NULL)
                out->n++;
        }
    }
    if ((d = opendir(root)) == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        char path[4096];
        struct stat st;
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", root, e->d_name);
        if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
            find_dirs(out, path, depth + 1);
    }
    closedir(d);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int run_recursive(struct drift_cli *dc, const char *root)
{
    struct dirs dirs = {NULL, 0};
    json_t *stacks = json_array();
    size_t clean = 0, drifted = 0, failed = 0, ran = 0;
    int home = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc;
    if (home < 0) {
        cli_error("cannot open the current directory: %s", strerror(errno));
        json_decref(stacks);
        return EXIT_FAIL;
    }
    find_dirs(&dirs, root, 0);
    qsort(dirs.v, dirs.n, sizeof(*dirs.v), cmp_str);
    if (dirs.n == 0)
        cli_warn("no configuration directory (with *.amlsec files) under '%s'", root);
    for (size_t i = 0; i < dirs.n; i++) {
        json_t *report = NULL, *entry;
        int one;
        if (dc->shard_n && i % dc->shard_n != dc->shard_k - 1)
            continue;
        ran++;
        if (!dc->json)
            printf("%s== %s\n", ran > 1 ? "\n" : "", dirs.v[i]);
        fflush(stdout);
        if (chdir(dirs.v[i]) < 0) {
            cli_error("cannot enter '%s': %s", dirs.v[i], strerror(errno));
            one = EXIT_FAIL;
        } else {
            dc->stack = dirs.v[i];
            one = drift_dir(dc, ".", &report);
            dc->stack = NULL;
            if (fchdir(home) < 0) {
                cli_error("cannot return to the starting directory: %s", strerror(errno));
                json_decref(report);
                failed++;
                break;
            }
        }
        clean += one == EXIT_OK;
        drifted += one == EXIT_CHANGES;
        failed += one == EXIT_FAIL;
        entry = json_pack("{s:s, s:i, s:s}", "dir", dirs.v[i], "exit_code", one, "result",
                          one == EXIT_OK        ? "clean"
                          : one == EXIT_CHANGES ? "drift"
                                                : "error");
        if (report)
            json_object_set_new(entry, "report", report);
        json_array_append_new(stacks, entry);
    }
    close(home);
    rc = failed ? EXIT_FAIL : drifted ? EXIT_CHANGES : EXIT_OK;
    if (dc->json) {
        json_t *root_json = json_pack(
            "{s:s, s:b, s:{s:i, s:i, s:i, s:i}, s:i, s:o}", "format_version", "1.0", "drift",
            drifted > 0, "summary", "stacks", (json_int_t)ran, "clean", (json_int_t)clean, "drift",
            (json_int_t)drifted, "error", (json_int_t)failed, "exit_code", rc, "stacks", stacks);
        if (dc->shard_n)
            json_object_set_new(
                root_json, "shard",
                json_pack("{s:i, s:i}", "index", dc->shard_k, "count", dc->shard_n));
        print_json(root_json);
        json_decref(root_json);
    } else {
        json_decref(stacks);
        printf("\n%zu stack%s under %s: %zu clean, %zu with drift, %zu failed.\n", ran,
               ran == 1 ? "" : "s", root, clean, drifted, failed);
    }
    for (size_t i = 0; i < dirs.n; i++)
        free(dirs.v[i]);
    free(dirs.v);
    return rc;
}

/* -sarif, -junit, -markdown: written when the run got a report (exit 0 or
 * 2; a failed stack of -recursive leaves the others' findings). */
static int write_reports(struct drift_cli *dc, int rc)
{
    struct report_meta meta = {"drift", AMLSEC_VERSION, NULL};
    if (reports_wanted(&dc->rf) && (rc != EXIT_FAIL || dc->recursive)) {
        finding_list_sort(&dc->reports);
        if (!reports_write(&dc->rf, &dc->reports, &meta))
            rc = EXIT_FAIL;
    }
    finding_list_release(&dc->reports);
    return rc;
}

int cmd_drift(int argc, char **argv, struct cli_ctx *ctx)
{
    const struct command *self = command_find("drift");
    static const struct option opts[] = {{"json", no_argument, NULL, 'j'},
                                         {"recursive", no_argument, NULL, 'R'},
                                         {"shard", required_argument, NULL, 'K'},
                                         {"ignore-file", required_argument, NULL, 'i'},
                                         {"no-color", no_argument, NULL, 'n'},
                                         {"cloud", required_argument, NULL, 'c'},
                                         {"state", required_argument, NULL, 's'},
                                         {"parallelism", required_argument, NULL, 'p'},
                                         REPORT_OPTIONS,
                                         LOAD_OPTIONS,
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    struct drift_cli dc;
    int c;

    memset(&dc, 0, sizeof(dc));
    dc.color = ctx->color;
    dc.so.operation = "drift";
    dc.so.parallelism = 10;
    while ((c = cli_getopt(argc, argv, opts, self)) != -1) {
        if (reports_take(&dc.rf, c, optarg))
            continue;
        switch (c) {
        case 'j':
            dc.json = 1;
            break;
        case 'R':
            dc.recursive = 1;
            break;
        case 'K': {
            unsigned k, n;
            char extra;
            if (sscanf(optarg, "%u/%u%c", &k, &n, &extra) != 2 || n == 0 || k == 0 || k > n)
                return cli_usage_error(self, "-shard takes K/N with 1 <= K <= N, not '%s'", optarg);
            dc.shard_k = k;
            dc.shard_n = n;
            break;
        }
        case 'i':
            dc.ignore_file = optarg;
            break;
        case 'n':
            dc.color = 0;
            break;
        case 'c':
            dc.so.cloud = optarg;
            break;
        case 's':
            dc.so.state_path = optarg;
            break;
        case 'p':
            if (cli_parse_parallelism(self, optarg, &dc.so.parallelism) != EXIT_OK)
                return EXIT_FAIL;
            break;
        case 'V':
        case 'F':
            if (!load_args_take(&dc.la, c, optarg, self))
                return EXIT_FAIL;
            break;
        case CLI_HELP:
            fputs(self->usage, stdout);
            return EXIT_OK;
        default:
            return EXIT_FAIL;
        }
    }
    if (optind < argc)
        dc.path = argv[optind++];
    if (optind < argc)
        return cli_usage_error(self, "unexpected argument '%s'", argv[optind]);
    if (dc.shard_n && !dc.recursive)
        return cli_usage_error(self, "-shard needs -recursive");
    if (dc.recursive && dc.so.state_path)
        return cli_usage_error(self, "-state names one stack's state; -recursive reads each "
                                     "directory's own");
    if (dc.recursive) {
        /* each stack runs in its own directory: files named on the command
         * line are taken from where the command was started */
        char *owned[LOAD_MAX_VARS + 1];
        size_t nowned = 0;
        int rc;
        for (size_t i = 0; i <= dc.la.nvar_files; i++) {
            const char **slot = i < dc.la.nvar_files ? &dc.la.var_files[i] : &dc.ignore_file;
            char *abs;
            if (*slot == NULL || (*slot)[0] == '/')
                continue;
            if ((abs = realpath(*slot, NULL)) == NULL) {
                cli_error("cannot read '%s': %s", *slot, strerror(errno));
                for (size_t k = 0; k < nowned; k++)
                    free(owned[k]);
                return EXIT_FAIL;
            }
            *slot = owned[nowned++] = abs;
        }
        finding_list_init(&dc.reports);
        rc = run_recursive(&dc, dc.path ? dc.path : ".");
        for (size_t k = 0; k < nowned; k++)
            free(owned[k]);
        return write_reports(&dc, rc);
    }
    {
        json_t *report = NULL;
        int rc;
        finding_list_init(&dc.reports);
        rc = drift_dir(&dc, dc.path ? dc.path : ".", &report);
        if (report) {
            json_object_set_new(report, "exit_code", json_integer(rc));
            print_json(report);
            json_decref(report);
        }
        return write_reports(&dc, rc);
    }
}
