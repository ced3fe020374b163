/* amlsec show [-json] [-show-sensitive] [PLANFILE] */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cli.h"
#include "cmd/commands.h"
#include "cmd/plan_render.h"
#include "cmd/planfile.h"
#include "cmd/show_tf.h"
#include "cmd/state_cli.h"
#include "parser/value.h"
#include "util/error.h"
#include "util/heap.h"
#include "util/jsonw.h"
#include "util/banned.h"

static int flush_stdout(struct buf *b, void *data)
{
    (void)data;
    if (fwrite(b->ptr, 1, b->len, stdout) != b->len)
        return AMLSEC_EIO;
    buf_reset(b);
    return 0;
}

/* Streams the document to stdout in 64 KB pieces: no copy of it as one
 * string (jsonw_pretty: jansson's layout, without its per-container loop
 * check, a third of show -json's CPU at 50,000 resources). */
static void print_json(json_t *root)
{
    struct buf b;
    struct jsonw_pretty o = {&b, 2, flush_stdout, NULL};
    buf_init(&b, 0);
    if (jsonw_pretty(&o, root) == 0 && flush_stdout(&b, NULL) == 0)
        putchar('\n');
    buf_release(&b);
}

/* The plan show printed, left for the process's exit to return at once
 * (as clang leaves its AST, -disable-free): freeing its millions of
 * blocks one by one was 9% of show -json at 50,000 resources. Held here,
 * reachable; freed under AddressSanitizer, whose leak check then covers
 * plan_free, and when a second show runs in the same process. */
static void plan_done(struct plan *plan, json_t *root)
{
#ifdef CLI_FREES_AT_EXIT
    json_decref(root);
    plan_free(plan);
#else
    static struct plan *kept_plan;
    static json_t *kept_root;
    json_decref(kept_root);
    plan_free(kept_plan);
    kept_plan = plan;
    kept_root = root;
#endif
}

static int show_plan(struct state_cli *sc, const char *path, int json, int sensitive, int color)
{
    struct errbuf err = ERRBUF_INIT;
    struct plan *plan = NULL;
    json_t *root = NULL;
    const char *key = getenv("AMLSEC_PLAN_KEY");
#ifdef M_MXFAST
    /* show -json makes and frees millions of small blocks (the plan's
     * values, each change's JSON in turn): with glibc's fast bins, freeing
     * them spent a fifth of the command consolidating (50,000 resources:
     * 4.2 -> 3.3 s CPU without them, when it held three trees of the plan) */
    if (json)
        mallopt(M_MXFAST, 0);
#endif
    /* show -json writes no request body: each is parsed only if a policy
     * is evaluated (check_plan_policies) */
    if (planfile_read_flags(&plan, &root, path, &sc->keys, key && *key ? key : NULL, NULL,
                            json ? PLANFILE_BODIES_AS_TEXT : 0, &err) < 0) {
        cli_error("%s", err.msg);
        return EXIT_FAIL;
    }
    if (json) {
        /* written a change at a time, in 64 KB pieces */
        struct buf b;
        struct jsonw_pretty o = {&b, 2, flush_stdout, NULL};
        buf_init(&b, 0);
        if (show_terraform_json(&o, plan, json_object_get(root, "resource_drift"), !sensitive,
                                sc) == 0 &&
            flush_stdout(&b, NULL) == 0)
            putchar('\n');
        buf_release(&b);
    } else {
        plan_render_text(stdout, plan, color);
    }
    plan_done(plan, root);
    return EXIT_OK;
}

static int show_state(struct state_cli *sc, int json, int sensitive)
{
    struct errbuf err = ERRBUF_INIT;
    struct state st;
    int existed, rc = EXIT_OK;

    if (state_backend_load(&st, &existed, sc->be, &sc->keys, &err) < 0) {
        cli_error("%s", err.msg);
        return EXIT_FAIL;
    }
    if (state_cli_fold_journal(sc, &st, NULL) != EXIT_OK) {
        state_release(&st);
        return EXIT_FAIL;
    }
    existed |= st.nresources > 0; /* an apply killed before its first save */
    if (json) {
        /* Terraform's state representation (docs/state.md) */
        json_t *root = show_terraform_state(&st, existed, !sensitive, &err);
        if (root == NULL) {
            cli_error("%s", err.msg);
            rc = EXIT_FAIL;
        } else {
            print_json(root);
            json_decref(root);
        }
        state_release(&st);
        return rc;
    }
    for (size_t i = 0; i < st.nresources; i++) {
        struct state_resource *r = &st.resources[i];
        json_t *attrs = NULL;
        char *text;
        if (sensitive) {
            if (state_resource_attributes(&attrs, r, &err) == 0 && attrs)
                json_incref(attrs);
        } else {
            attrs = state_cli_redacted(r, &err);
        }
        if (attrs == NULL) {
            cli_error("%s", err.msg);
            rc = EXIT_FAIL;
            break;
        }
        text =
            jsonw_dumps(attrs, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(VALUE_DIGITS));
        printf("# %s\n# %s\n%s\n\n", r->address, r->arm_id, text ? text : "");
        free(text);
        json_decref(attrs);
    }
    if (rc == EXIT_OK && st.nresources == 0)
        printf("The state is empty.\n");
    state_release(&st);
    return rc;
}

int cmd_show(int argc, char **argv, struct cli_ctx *ctx)
{
    const struct command *self = command_find("show");
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},     {"show-sensitive", no_argument, NULL, 'S'},
        {"no-color", no_argument, NULL, 'n'}, {"state", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},     {NULL, 0, NULL, 0}};
    struct state_cli sc;
    const char *state_path = NULL;
    int c, json = 0, sensitive = 0, color = ctx->color, rc;

    while ((c = cli_getopt(argc, argv, opts, self)) != -1) {
        switch (c) {
        case 'j':
            json = 1;
            break;
        case 'S':
            sensitive = 1;
            break;
        case 'n':
            color = 0;
            break;
        case 's':
            state_path = optarg;
            break;
        case CLI_HELP:
            fputs(self->usage, stdout);
            return EXIT_OK;
        default:
            return EXIT_FAIL;
        }
    }
    if (argc - optind > 1)
        return cli_usage_error(self, "unexpected argument '%s'", argv[optind + 1]);
    /* a saved plan shown takes about 7 times its file's bytes; a state shown, about 50
     * times the bytes of its configuration */
    if (optind < argc)
        heap_huge_pages_for(argv[optind], NULL, 8);
    else
        heap_huge_pages_for(".", ".amlsec", 64);
    if (state_cli_open(&sc, state_path, NULL, NULL, color) != EXIT_OK)
        return EXIT_FAIL;
    rc = optind < argc ? show_plan(&sc, argv[optind], json, sensitive, color)
                       : show_state(&sc, json, sensitive);
    state_cli_close(&sc);
    return rc;
}
