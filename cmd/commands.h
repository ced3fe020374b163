/* One cmd_<name> per command file (STYLE rule 3). The table is in
 * commands.c; `help`, the man page and shell completion are generated from it. */
#ifndef AMLSEC_CMD_COMMANDS_H
#define AMLSEC_CMD_COMMANDS_H

#include "cmd/cli.h"

int cmd_help(int argc, char **argv, struct cli_ctx *ctx);
int cmd_version(int argc, char **argv, struct cli_ctx *ctx);
int cmd_local_cloud(int argc, char **argv, struct cli_ctx *ctx);
int cmd_validate(int argc, char **argv, struct cli_ctx *ctx);
int cmd_plan(int argc, char **argv, struct cli_ctx *ctx);
int cmd_apply(int argc, char **argv, struct cli_ctx *ctx);
int cmd_destroy(int argc, char **argv, struct cli_ctx *ctx);
int cmd_drift(int argc, char **argv, struct cli_ctx *ctx);
int cmd_show(int argc, char **argv, struct cli_ctx *ctx);
int cmd_output(int argc, char **argv, struct cli_ctx *ctx);
int cmd_graph(int argc, char **argv, struct cli_ctx *ctx);
int cmd_import(int argc, char **argv, struct cli_ctx *ctx);
int cmd_completion(int argc, char **argv, struct cli_ctx *ctx);
/* The amlsec(1) man page in roff, from the command table. */
void completion_print_man(void);
int cmd_check(int argc, char **argv, struct cli_ctx *ctx);
int cmd_render(int argc, char **argv, struct cli_ctx *ctx);
int cmd_rules(int argc, char **argv, struct cli_ctx *ctx);
int cmd_schema(int argc, char **argv, struct cli_ctx *ctx);
int cmd_fmt(int argc, char **argv, struct cli_ctx *ctx);
int cmd_state(int argc, char **argv, struct cli_ctx *ctx);
int cmd_force_unlock(int argc, char **argv, struct cli_ctx *ctx);

#endif
