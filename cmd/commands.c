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
    {"fmt", cmd_fmt, "Rewrite .amlsec files in the canonical layout",
     "Usage: amlsec fmt [options] [PATH...]\n"
     "\n"
     "Rewrites the *.amlsec files in each PATH (a directory, default the current one, or\n"
     "a file; '-' reads standard input and writes the result to standard output) in the\n"
     "canonical layout: two-space indentation, '=' aligned within a run of attributes,\n"
     "one space around operators, comments kept where they are. Formatting never changes\n"
     "the meaning of a file. Names of the files that change are printed. Files that do\n"
     "not parse are reported and left untouched (exit 1).\n"
     "\n"
     "Options:\n"
     "  -check          write nothing; list the files that are not formatted and exit 1\n"
     "                  if there are any\n"
     "  -diff           print a unified diff of the changes (files are still written\n"
     "                  unless -check or -write=false is given)\n"
     "  -recursive      also format the subdirectories of each directory\n"
     "  -write=false    do not write the files\n"
     "  -no-color       no colour in diagnostics\n"},
    {"state", cmd_state, "Inspect and edit the state: list, show, rm, mv, pull, push",
     "Usage: amlsec state SUBCOMMAND [options] [args]\n"
     "\n"
     "Subcommands:\n"
     "  list            list the resource instances in the state\n"
     "  show ADDR       show one instance (sensitive values hidden)\n"
     "  rm ADDR...      forget instances (the Azure resources are left alone)\n"
     "  mv FROM TO      rename an instance\n"
     "  pull            print the stored state (still encrypted when a key is set)\n"
     "  push FILE       replace the stored state with FILE\n"
     "\n"
     "Options (before the arguments):\n"
     "  -state PATH          local state file (default .amlsec/state.json)\n"
     "  -lock-timeout DUR    wait this long for the state lock (e.g. 30s; default 0)\n"
     "  -json                list/show: print JSON\n"
     "  -force               push: replace a state with another lineage or a newer serial\n"
     "\n"
     "The backend, its credentials and the encryption keys come from the environment\n"
     "(AMLSEC_BACKEND=azurerm, AMLSEC_BLOB_URL, ARM_ACCESS_KEY, AMLSEC_STATE_PASSPHRASE, ...);\n"
     "see docs/state.md.\n"},
    {"force-unlock", cmd_force_unlock, "Remove a state lock left by a run that is gone",
     "Usage: amlsec force-unlock [-state PATH] LOCK_ID\n"
     "\n"
     "Removes the state lock whose id is LOCK_ID (printed by the command that found the\n"
     "state locked). Only use it when the run holding the lock is gone.\n"
     "\n"
     "Options:\n"
     "  -state PATH    local state file (default .amlsec/state.json)\n"},
    {NULL, NULL, NULL, NULL},
};
