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
    {"validate", cmd_validate, "Check a configuration for errors",
     "Usage: amlsec validate [options] [DIR|FILE]\n"
     "\n"
     "Parses every *.amlsec file in DIR (default: the current directory), checks names,\n"
     "references, variables and types, and evaluates every resource. Diagnostics print\n"
     "as file:line:col with the source line and a caret. Exit 0 when valid, 1 when not.\n"
     "\n"
     "Options:\n"
     "  -json              print the result as JSON (schema: docs/validate-json.md)\n"
     "  -var NAME=VALUE    set a variable (repeatable; wins over -var-file)\n"
     "  -var-file FILE     read NAME = VALUE lines (repeatable)\n"
     "  -no-color          no colour in diagnostics\n"},
    {NULL, NULL, NULL, NULL},
};
