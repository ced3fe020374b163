#include <stdio.h>
#include <string.h>

#include "cmd/cli.h"
#include "cmd/commands.h"
#include "util/banned.h"

int cmd_help(int argc, char **argv, struct cli_ctx *ctx)
{
    const struct command *self = command_find("help");
    static const struct option opts[] = {
        {"man", no_argument, NULL, 'm'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int c;

    (void)ctx;
    while ((c = cli_getopt(argc, argv, opts, self)) != -1) {
        if (c == CLI_HELP) {
            fputs(self->usage, stdout);
            return EXIT_OK;
        }
        if (c == 'm') {
            completion_print_man();
            return EXIT_OK;
        }
        return EXIT_FAIL;
    }
    if (optind < argc) {
        const struct command *cmd = command_find(argv[optind]);
        if (cmd == NULL) {
            cli_error("unknown command '%s'", argv[optind]);
            return EXIT_FAIL;
        }
        fputs(cmd->usage, stdout);
        return EXIT_OK;
    }
    printf("Usage: amlsec [-version] [-help] COMMAND [ARGS]\n\n"
           "amlsec keeps Azure Machine Learning secure as code.\n\nCommands:\n");
    for (const struct command *cmd = commands; cmd->name; cmd++)
        printf("  %-14s %s\n", cmd->name, cmd->summary);
    printf("\nGlobal environment:\n"
           "  AMLSEC_LOG=debug    trace library activity on stderr (secrets redacted)\n"
           "  NO_COLOR            disable colour\n"
           "\nExit codes: 0 success, 1 error; 'plan -detailed-exitcode' exits 2 when the plan\n"
           "has changes or shows drift (plain 'plan' exits 0 either way).\n");
    return EXIT_OK;
}
