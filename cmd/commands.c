#include "cmd/cli.h"
#include "cmd/commands.h"

#include <stddef.h>

const struct command commands[] = {
    {"help", cmd_help, "Show the commands, or one command's usage",
     "Usage: amlsec help [COMMAND]\n"
     "\n"
     "Lists the commands, or prints the usage of COMMAND (same as 'amlsec COMMAND -h').\n"},
    {"version", cmd_version, "Print the amlsec version",
     "Usage: amlsec version [-json]\n"
     "\n"
     "Prints the version of amlsec and of the libraries it was built with.\n"
     "\n"
     "Options:\n"
     "  -json    print as a JSON object\n"},
    {NULL, NULL, NULL, NULL},
};
