/* amlsec force-unlock ID: remove a state lock left by a run that is gone. */
#include <stdio.h>
#include <string.h>

#include "cmd/cli.h"
#include "cmd/commands.h"
#include "cmd/state_cli.h"
#include "util/banned.h"

int cmd_force_unlock(int argc, char **argv, struct cli_ctx *ctx)
{
    const struct command *self = command_find("force-unlock");
    static const struct option opts[] = {{"state", required_argument, NULL, 's'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    struct errbuf err = ERRBUF_INIT;
    struct state_cli sc;
    const char *path = NULL;
    int c, rc;

    while ((c = cli_getopt(argc, argv, opts, self)) != -1) {
        switch (c) {
        case 's':
            path = optarg;
            break;
        case CLI_HELP:
            fputs(self->usage, stdout);
            return EXIT_OK;
        default:
            return EXIT_FAIL;
        }
    }
    if (argc - optind != 1)
        return cli_usage_error(self, "expected one lock id");
    if ((rc = state_cli_open(&sc, path, NULL, NULL, ctx->color)) != EXIT_OK)
        return rc;
    if (state_backend_force_unlock(sc.be, argv[optind], &err) < 0) {
        cli_error("%s", err.msg);
        rc = EXIT_FAIL;
    } else {
        printf("Lock %s on '%s' removed.\n", argv[optind], sc.be->where);
    }
    state_cli_close(&sc);
    return rc;
}
