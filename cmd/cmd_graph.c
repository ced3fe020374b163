/* amlsec graph [DIR]: the dependency graph as Graphviz DOT. */
#include <stdio.h>
#include <string.h>

#include "cmd/cli.h"
#include "cmd/commands.h"
#include "cmd/load.h"
#include "engine/depgraph.h"
#include "util/error.h"
#include "util/banned.h"

int cmd_graph(int argc, char **argv, struct cli_ctx *ctx)
{
    const struct command *self = command_find("graph");
    static const struct option opts[] = {
        LOAD_OPTIONS, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    struct load_args la;
    struct diag_list diags;
    struct errbuf err = ERRBUF_INIT;
    struct config *cfg = NULL;
    struct depgraph *g = NULL;
    struct buf out;
    int c, rc = EXIT_FAIL, lrc;

    memset(&la, 0, sizeof(la));
    while ((c = cli_getopt(argc, argv, opts, self)) != -1) {
        switch (c) {
        case 'V':
        case 'F':
            if (!load_args_take(&la, c, optarg, self))
                return EXIT_FAIL;
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
    diag_list_init(&diags);
    buf_init(&out, 0);
    lrc = load_config_checked(&cfg, optind < argc ? argv[optind] : ".", &la, LOAD_FRONT_END, &diags,
                              &err);
    if (lrc < 0) {
        load_report_failure(lrc, &diags, &err, ctx->color);
        goto out;
    }
    if (depgraph_build(&g, cfg, &err) < 0 || depgraph_sort(g, &err) < 0 ||
        depgraph_dot(g, &out, &err) < 0) {
        cli_error("%s", err.msg);
        goto out;
    }
    fputs(out.ptr, stdout);
    rc = EXIT_OK;
out:
    buf_release(&out);
    depgraph_free(g);
    config_free(cfg);
    diag_list_release(&diags);
    return rc;
}
