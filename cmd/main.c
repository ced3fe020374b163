/* amlsec: the command table and dispatch. Only cmd/ prints or exits, and
 * only main() decides the exit code (cmd/exit_codes.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cli.h"
#include "cmd/commands.h"
#include "util/log.h"
#include "util/suggest.h"
#include "util/banned.h"

static void setup_logging(void)
{
    const char *v = getenv("AMLSEC_LOG");
    int level;
    if (v == NULL || *v == '\0')
        return;
    level = log_level_parse(v);
    if (level < 0) {
        cli_warn("AMLSEC_LOG='%s' is not one of error, warn, info, debug, trace", v);
        return;
    }
    log_set_sink((enum log_level)level, cli_log_sink, NULL);
}

int main(int argc, char **argv)
{
    struct cli_ctx ctx = {.argv0 = argv[0]};
    const struct command *cmd;
    const char *name;

    ctx.color = isatty(STDOUT_FILENO) && getenv("NO_COLOR") == NULL;
    cli_messages_init();
    setup_logging();

    if (argc < 2) {
        cmd_help(1, argv, &ctx);
        return EXIT_FAIL;
    }
    /* `amlsec -version`, `--help`, `-h`: global flags are commands too. */
    name = argv[1];
    if (name[0] == '-') {
        name += name[1] == '-' ? 2 : 1;
        if (strcmp(name, "h") == 0)
            name = "help";
    }
    cmd = command_find(name);
    if (cmd == NULL) {
        const char *names[64];
        size_t n = 0;
        const char *hit;
        for (const struct command *c = commands; c->name && n < 63; c++)
            names[n++] = c->name;
        names[n] = NULL;
        hit = suggest_nearest(argv[1], names, 0);
        if (hit)
            cli_error("unknown command '%s'; did you mean '%s'?", argv[1], hit);
        else
            cli_error("unknown command '%s'; run 'amlsec help' for the list", argv[1]);
        return EXIT_FAIL;
    }
    optind = 1;
    return cmd->fn(argc - 1, argv + 1, &ctx);
}
