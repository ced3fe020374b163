#include "cmd/cli.h"
#include "cmd/commands.h"
#include "cmd/reports.h"

#include <stddef.h>
#include <string.h>

/* The options plan, apply and destroy share (cmd/cmd_plan.c parses them). */
#define PLAN_COMMON_OPTIONS                                                                        \
    "  -var NAME=VALUE      set a variable (repeatable)\n"                                         \
    "  -var-file FILE       read variables from FILE (NAME = VALUE lines, or JSON: *.json)\n"      \
    "  -target ADDR         only ADDR and what it depends on (repeatable)\n"                       \
    "  -replace ADDR        replace ADDR even if nothing forces it (repeatable); for a\n"          \
    "                       key: a new key version (rotation), never a replacement\n"              \
    "  -refresh=false       trust the state; do not read live resources\n"                         \
    "  -cloud NAME          public (default), usgovernment, china, local (the embedded\n"          \
    "                       local cloud, data in .amlsec/local), or an ARM endpoint URL\n"         \
    "                       such as a running amlsec-armlocal; also AMLSEC_CLOUD, then\n"          \
    "                       settings { cloud }; the state records its cloud and refuses\n"         \
    "                       another unless -cloud names it\n"                                      \
    "  -state PATH          use the local state file PATH, whatever settings { state } or\n"       \
    "                       AMLSEC_BACKEND say (default .amlsec/state.json; docs/state.md)\n"      \
    "  -lock=false          do not lock the state (dangerous when others may run at once)\n"       \
    "  -lock-timeout DUR    wait this long for the state lock (\"30s\")\n"                         \
    "  -input=false         never ask: apply and destroy then need -auto-approve\n"                \
    "  -compact-warnings    warnings and notes as one line each (when there is no error)\n"        \
    "  -parallelism N       operations (and requests) at once, 1-256 (default 10)\n"               \
    "  -json                machine-readable UI: one JSON object a line (Terraform's;\n"           \
    "                       apply and destroy need -auto-approve or a saved plan)\n"               \
    "  -no-color            no colour\n"

const struct command commands[] = {
    {"help", cmd_help, "Show the commands, or one command's usage",
     "Usage: amlsec help [-man] [COMMAND]\n"
     "\n"
     "Lists the commands, or prints the usage of COMMAND (same as 'amlsec COMMAND -h').\n"
     "\n"
     "Options:\n"
     "  -man    print the amlsec(1) man page (roff): amlsec help -man | man -l -\n"},
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
     "references, variables and types, and evaluates every resource; then checks each\n"
     "resource against its schema in the resource catalogue (attributes, types, allowed\n"
     "values, names) and runs the security rules ('amlsec rules' lists them). Diagnostics\n"
     "print as file:line:col with the source line and a caret. Exit 0 when valid (notes\n"
     "and warnings allowed), 1 when not.\n"
     "\n"
     "Options:\n"
     "  -json              print the result as JSON (schema: "
     "docs/validate-json.md)\n" REPORT_OPTIONS_HELP
     "  -var NAME=VALUE    set a variable (repeatable; wins over -var-file)\n"
     "  -var-file FILE     read NAME = VALUE lines, or a JSON object from *.json (repeatable)\n"
     "  -no-color          no colour in diagnostics\n"},
    {"check", cmd_check, "The CI gate: security rules and Azure Policy against the requests",
     "Usage: amlsec check [options] [DIR | -plan FILE]\n"
     "\n"
     "Evaluates, offline, the security rules ('amlsec rules') and Azure Policy definitions\n"
     "against the ARM request body of every resource: the create requests 'amlsec render'\n"
     "prints for the configuration in DIR (default .), or, with -plan, exactly what\n"
     "'amlsec apply FILE' would send. The definitions are those named by the\n"
     "configuration's policy_assignment blocks (with their parameters, scope, not_scopes\n"
     "and enforce; for a saved plan, those it changes and those of the state it leaves\n"
     "alone), found in the -policy files, cached under .amlsec/policy/, or read from\n"
     "ARM with -cloud and cached; plus every -policy definition not assigned (applied to\n"
     "every resource with its default parameters). Property aliases come from -aliases,\n"
     "the cache, or ARM's providers API with -cloud (docs/policy.md).\n"
     "\n"
     "Audit, Deny and Disabled are decided; AuditIfNotExists and DeployIfNotExists look\n"
     "for the related resource where Azure does (under the resource, else its resource\n"
     "group, details.resourceGroupName or, with existenceScope Subscription, the\n"
     "subscription) in the configuration, the plan and the state it leaves alone, else\n"
     "say why they cannot be evaluated offline; Modify and Append print what Azure would\n"
     "change; resource-provider modes\n"
     "(*.Data) are reported as not evaluable. A failed evaluation counts as Deny, as in\n"
     "Azure. Each finding names the resource and its file:line, the policy (display name\n"
     "and id), the effect, and the alias and value that decided it.\n"
     "\n"
     "Levels: deny (rule errors; Deny effects, enforced), audit (rule warnings; Audit,\n"
     "a Deny not enforced, Modify/Append changes, existence not met), info (notes; not\n"
     "evaluable). Exit 0, or 2 when findings reach the -fail-on level, 1 on error.\n"
     "\n"
     "Options:\n"
     "  -plan FILE         check a saved plan instead of a configuration\n"
     "  -policy PATH       a policy definition file (Azure's JSON export) or a directory\n"
     "                     of them (repeatable)\n"
     "  -aliases FILE      provider aliases: 'alias,defaultPath' CSV or ARM's providers JSON\n"
     "  -fail-on LEVEL     deny (default), audit, or never\n"
     "  -cloud NAME        read missing definitions and aliases from this cloud (as plan)\n"
     "  -state PATH        the state a saved plan was made against (its keys, and what the\n"
     "                     plan leaves alone)\n"
     "  -json              print {format_version, command, summary, findings[], policies,\n"
     "                     resources, evaluations} "
     "(docs/schemas/check.schema.json)\n" REPORT_OPTIONS_HELP
     "  -var NAME=VALUE    set a variable (repeatable)\n"
     "  -var-file FILE     read NAME = VALUE lines, or a JSON object from *.json (repeatable)\n"
     "  -no-color          no colour\n"},
    {"render", cmd_render, "Print the ARM requests a create would send",
     "Usage: amlsec render [options] [ADDRESS...]\n"
     "\n"
     "Loads the configuration and prints, for each resource instance (or only the\n"
     "ADDRESSes given: workspace.prod, private_endpoint.storage[\"blob\"]), the exact ARM\n"
     "request creating it: method, URL with api-version, and JSON body, in creation order.\n"
     "Sensitive values print as (sensitive), values known only after apply as\n"
     "(known after apply). Existing lookups print the GET that reads them.\n"
     "\n"
     "Options:\n"
     "  -json              print a JSON array of {address, kind, method, url, lro, body}\n"
     "  -dir DIR           the configuration directory (default: .)\n"
     "  -var NAME=VALUE    set a variable (repeatable)\n"
     "  -var-file FILE     read NAME = VALUE lines, or a JSON object from *.json (repeatable)\n"
     "  -no-color          no colour in diagnostics\n"},
    {"rules", cmd_rules, "List the security rules validate and plan check",
     "Usage: amlsec rules [-json | -markdown]\n"
     "\n"
     "Lists the rule catalogue: ID, severity and what each rule checks. validate checks\n"
     "most rules; those that need the live cloud (checked_by \"plan\" in -json:\n"
     "RBAC-VNET-JOIN, WS-MI-PERMS, WS-SUPPORT-APP) run at plan time after the refresh.\n"
     "Suppress a finding per resource with\n"
     "lifecycle { ignore_rules = { \"ID\" = \"reason\" } }.\n"
     "\n"
     "Options:\n"
     "  -json       every field (why, fix, kinds, checked_by) as a JSON array\n"
     "  -markdown   the reference page (docs/rules.md is generated with it)\n"},
    {"schema", cmd_schema, "Show the resource catalogue: kinds and their attributes",
     "Usage: amlsec schema [-json | -markdown] [KIND...]\n"
     "\n"
     "Without KIND, lists every resource kind with its ARM type and api-version. With\n"
     "KINDs, prints their attributes: type, flags (required, create-only, write-only,\n"
     "sensitive, cannot be turned off) and defaults.\n"
     "\n"
     "Options:\n"
     "  -json       everything, including ARM paths, allowed values and LRO patterns\n"
     "  -markdown   the reference page (docs/resources.md is generated with it)\n"},
    {"fmt", cmd_fmt, "Rewrite .amlsec files in the canonical layout",
     "Usage: amlsec fmt [options] [PATH...]\n"
     "\n"
     "Rewrites the *.amlsec files in each PATH (a directory, default the current one, or\n"
     "a file; '-' reads standard input and writes the result to standard output) in the\n"
     "canonical layout: two-space indentation, '=' aligned within a run of attributes\n"
     "or map items (after a name, a quoted key or a key in parentheses, as terraform fmt\n"
     "does), one space around operators, comments kept where they are. Formatting\n"
     "never changes the meaning of a file. Names of the files that change are printed.\n"
     "Files that do not parse are reported and left untouched (exit 1).\n"
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
     "  list [ADDR...]  list the resource instances in the state (or those in the\n"
     "                  resources and modules named, as rm matches them)\n"
     "  show ADDR       show one instance (sensitive values hidden)\n"
     "  rm ADDR...      forget instances, whole resources (TYPE.NAME: every instance) or\n"
     "                  modules (module.a: every instance and the modules under it);\n"
     "                  the Azure resources are left alone; an address matching nothing\n"
     "                  is skipped with a warning (an error when none matches)\n"
     "  mv FROM TO      rename an instance, a whole resource, or a module instance and\n"
     "                  the modules under it (module.a to module.b, module.b[0] or\n"
     "                  module.p.module.a); dependencies follow\n"
     "  pull            print the stored state (still encrypted when a key is set)\n"
     "  push FILE       replace the stored state with FILE\n"
     "\n"
     "Options (before the arguments):\n"
     "  -state PATH          use the local state file PATH (default .amlsec/state.json)\n"
     "  -lock=false          rm, mv, push: do not lock the state\n"
     "  -lock-timeout DUR    wait this long for the state lock (e.g. 30s; default 0)\n"
     "  -json                list/show: print JSON\n"
     "  -id=ID               list: only the instances whose ARM id is ID\n"
     "  -force               push: replace a state with another lineage or a newer serial\n"
     "  -dry-run             rm, mv: print what would change, and change nothing\n"
     "  -state-out=PATH      mv: move into the local state file PATH (created when absent)\n"
     "                       instead of renaming within the state\n"
     "\n"
     "The backend comes from the settings { state { ... } } block of the configuration in\n"
     "the current directory, overridden by the environment (AMLSEC_BACKEND=azurerm,\n"
     "AMLSEC_BLOB_URL, AMLSEC_STORAGE_CONTAINER, ...) and then by -state. Credentials and\n"
     "encryption keys come from the environment only (ARM_ACCESS_KEY, ARM_SAS_TOKEN,\n"
     "ARM_USE_AZUREAD with the ARM_* sign-in, AMLSEC_STATE_PASSPHRASE, ...); see\n"
     "docs/state.md.\n"
     "\n"
     "After an interrupted apply, until a plan or apply recovers it: list and show\n"
     "include, in memory, the outcomes its journal holds, and warn naming what was in\n"
     "flight; rm, mv and push refuse a change to an address the journal still holds.\n"},
    {"force-unlock", cmd_force_unlock, "Remove a state lock left by a run that is gone",
     "Usage: amlsec force-unlock [-state PATH] LOCK_ID\n"
     "\n"
     "Removes the state lock whose id is LOCK_ID (printed by the command that found the\n"
     "state locked). Only use it when the run holding the lock is gone.\n"
     "\n"
     "Options:\n"
     "  -state PATH    use the local state file PATH (default: settings { state }, the\n"
     "                 environment, or .amlsec/state.json; see amlsec state -h)\n"},
    {"local-cloud", cmd_local_cloud, "Run the ARM-compatible local cloud in the foreground",
     "Usage: amlsec local-cloud [--listen 127.0.0.1:PORT] [--data DIR] [options]\n"
     "\n"
     "Runs the local cloud (docs/local-cloud.md) inside amlsec until SIGINT/SIGTERM.\n"
     "The first line on stdout is the base URL. Same flags as amlsec-armlocal;\n"
     "data defaults to .amlsec/local.\n"
     "\n"
     "Options:\n"
     "  --listen HOST:PORT          loopback address (default 127.0.0.1:0, a free port)\n"
     "  --data DIR                  where resources persist (default .amlsec/local)\n"
     "  --latency-ms N              added to every request (default 0)\n"
     "  --lro-ms N|TYPE=N[,...]     how long operations stay in progress (default 1000);\n"
     "                              TYPE=N for one resource type, e.g.\n"
     "                              Microsoft.Storage/storageAccounts=600 (its synchronous\n"
     "                              operations then answer after N too); repeatable\n"
     "  --flush-ms N                group commit window for the data dir (default 50)\n"
     "  --throttle arm|off          ARM token buckets per subscription and principal\n"
     "  --graph-quota on|off        Resource Graph's user quota, 15 queries per 5 s, 429\n"
     "                              past it (default on; off: benchmarks of amlsec only)\n"
     "  --auth required|off         require bearer tokens issued by the local cloud\n"
     "  --faults SPEC               e.g. 'kind=503,method=PUT,path=*/vaults/*,nth=2'\n"
     "  --seed N                    deterministic GUIDs and key versions\n"
     "  --policy-definitions DIR    built-in policy definitions (Azure JSON exports)\n"
     "  --aliases CSV               provider aliases ('alias,defaultPath' rows)\n"
     "  --tls-cert PEM --tls-key PEM  serve HTTPS\n"},
    {"plan", cmd_plan, "Show the changes that make Azure match the configuration",
     "Usage: amlsec plan [options] [DIR]\n"
     "\n"
     "Reads the configuration in DIR (default .), the state, and the live resources, and\n"
     "prints drift (changes made outside amlsec) and the ordered change set. Security-rule\n"
     "findings and impact notes are attached to the resources they concern. After the\n"
     "refresh and before any write, the rules that need the live cloud run: the caller's\n"
     "permission to join the VNets and subnets it deploys into (RBAC-VNET-JOIN, an error),\n"
     "the role assignments of workspace identities (WS-MI-PERMS), and the support app of\n"
     "workspaces with compute created before 2021-05-14 (WS-SUPPORT-APP). The\n"
     "configuration's policy_assignment definitions are evaluated against the planned\n"
     "requests (as 'amlsec check' does; from the cache under .amlsec/policy, else read\n"
     "from the cloud): what Azure Policy would deny or audit is shown before approval.\n"
     "\n"
     "Options:\n"
     "  -out FILE            save the plan for 'amlsec apply FILE'\n"
     "  -detailed-exitcode   exit 0: no changes and no drift, 1: error, 2: changes or drift\n"
     "                       (objects changed outside amlsec, or a workspace identity\n"
     "                       missing a grant: WS-MI-PERMS); without it plan exits 0\n"
     "  -destroy             plan to destroy everything in the state\n"
     "  -sarif FILE          write the findings as SARIF 2.1.0 (docs/policy.md)\n"
     "  -junit FILE          write the findings as JUnit XML\n"
     "  -markdown FILE       write a pull-request comment: changes and "
     "findings\n" PLAN_COMMON_OPTIONS},
    {"apply", cmd_apply, "Make Azure match the configuration (or apply a saved plan)",
     "Usage: amlsec apply [options] [DIR | PLANFILE]\n"
     "\n"
     "Plans as 'amlsec plan' does, asks for 'yes', then executes the change set: each\n"
     "change starts as soon as everything it depends on has succeeded, up to -parallelism\n"
     "operations at once. Every operation goes through the journal and lands in the state\n"
     "as soon as it succeeds; a failure skips only what depends on it, and the run ends\n"
     "with each failure's ARM code and message (exit 1). Prints one line as each operation\n"
     "starts and ends, and on a terminal 'Still creating... [10s elapsed]' every 10 s.\n"
     "Ctrl-C (or SIGTERM) once starts nothing more and waits for the operations in flight;\n"
     "twice abandons them (the journal keeps them; the next run reconciles them); exit 1.\n"
     "With PLANFILE, applies exactly that saved plan (no question asked), refusing a stale\n"
     "or modified one, against the cloud, subscription and tenant it was made for (a\n"
     "contradicting -cloud, ARM_SUBSCRIPTION_ID or ARM_TENANT_ID is refused). A plan's\n"
     "checksum only catches accidents: with AMLSEC_PLAN_KEY set, plan -out signs the file\n"
     "(HMAC-SHA-256) and apply checks the signature; state encryption also authenticates it.\n"
     "\n"
     "Options:\n"
     "  -auto-approve        do not ask\n"
     "  -destroy             destroy everything in the state\n"
     "  -require-signed-plan with PLANFILE: refuse a plan not signed with "
     "AMLSEC_PLAN_KEY\n" PLAN_COMMON_OPTIONS},
    {"destroy", cmd_destroy, "Destroy everything amlsec manages",
     "Usage: amlsec destroy [options] [DIR]\n"
     "\n"
     "Same as 'amlsec apply -destroy'. lifecycle { prevent_destroy = true } blocks it.\n"
     "\n"
     "Options:\n"
     "  -auto-approve        do not ask\n" PLAN_COMMON_OPTIONS},
    {"drift", cmd_drift, "Find what changed, vanished or was added in Azure (read-only)",
     "Usage: amlsec drift [options] [DIR]\n"
     "       amlsec drift -recursive [-shard K/N] [options] [ROOT]\n"
     "\n"
     "Compares the live cloud with the state and the configuration in DIR (default .)\n"
     "and reports, each apart: resources changed outside amlsec (attribute, before and\n"
     "after), resources deleted outside amlsec, unmanaged security-relevant objects at\n"
     "each managed workspace's scopes (role assignments, locks, policy assignments and\n"
     "exemptions, private endpoints and their connections, diagnostic settings, keys in\n"
     "its vaults, vault access policies), missing\n"
     "grants of workspace identities (WS-MI-PERMS), and configuration changes not applied\n"
     "yet (pending: never drift). Read-only: it takes no lock, recovers no journal (it\n"
     "reports one left pending), sends no write and writes no file but the reports asked\n"
     "for. Suppressions are read from DIR/.amlsecignore (docs/workflow.md). Exit 0: no\n"
     "drift, 1: error, 2: drift, unmanaged objects or missing grants found.\n"
     "\n"
     "Options:\n"
     "  -json                print the report as JSON (schema: docs/drift-json.md)\n"
     "  -sarif FILE          write the findings as SARIF 2.1.0 (code scanning; docs/ci.md)\n"
     "  -junit FILE          write a JUnit XML report (a test case per finding)\n"
     "  -markdown FILE       write the findings as Markdown (an issue or job summary)\n"
     "                       (with -recursive: one report over every stack)\n"
     "  -recursive           every directory under ROOT with *.amlsec files, each with its\n"
     "                       own state, and one summary; exit 1 if any failed, else 2 if\n"
     "                       any drifted\n"
     "  -shard K/N           with -recursive: only the K-th of every N directories (sorted),\n"
     "                       to split a tenant's stacks across CI matrix jobs\n"
     "  -ignore-file FILE    read suppressions from FILE instead of DIR/.amlsecignore\n"
     "                       (with -recursive: for every stack)\n"
     "  -var NAME=VALUE      set a variable (repeatable)\n"
     "  -var-file FILE       read variables from FILE (repeatable)\n"
     "  -cloud NAME          as for plan: public (default), usgovernment, china, local, or an\n"
     "                       ARM endpoint URL such as a running amlsec-armlocal\n"
     "  -state PATH          use the local state file PATH (opened read-only)\n"
     "  -parallelism N       requests at once, 1-256 (default 10)\n"
     "  -no-color            no colour\n"},
    {"show", cmd_show, "Show a saved plan, or the state",
     "Usage: amlsec show [options] [PLANFILE]\n"
     "\n"
     "With PLANFILE, prints the saved plan (as 'amlsec plan' does, or as JSON: schema in\n"
     "docs/plan-json.md). Without, prints the state (as JSON in Terraform's state\n"
     "representation, docs/state.md; 'amlsec state pull' prints the stored document).\n"
     "Sensitive values are redacted.\n"
     "\n"
     "Options:\n"
     "  -json              JSON output\n"
     "  -show-sensitive    include sensitive values (never in CI logs)\n"
     "  -state PATH        use the local state file PATH (default .amlsec/state.json)\n"
     "  -no-color          no colour\n"},
    {"output", cmd_output, "Show the outputs the last apply recorded",
     "Usage: amlsec output [options] [NAME]\n"
     "\n"
     "Prints the values of the configuration's output blocks as the last apply recorded\n"
     "them in the state: NAME = value lines, a sensitive one as <sensitive>. With NAME,\n"
     "prints that output's value alone, raw (a string without quotes, a list or map as\n"
     "JSON), for scripts; a sensitive one as (sensitive value). With -json, prints what\n"
     "terraform output -json prints: {NAME: {sensitive, type, value}}, type in Terraform's\n"
     "type JSON (or NAME's value as compact JSON); a sensitive output's entry has no\n"
     "value. -raw NAME prints a string, number or bool as it is, with no newline.\n"
     "Sensitive values are printed only with -show-sensitive (keep that output out of CI\n"
     "logs); -raw of a sensitive output is an error without it.\n"
     "\n"
     "Options:\n"
     "  -json              JSON output\n"
     "  -raw               NAME's string, number or bool alone, no newline (for scripts)\n"
     "  -show-sensitive    include sensitive values (never in CI logs)\n"
     "  -state PATH        use the local state file PATH (default .amlsec/state.json)\n"
     "  -no-color          no colour\n"},
    {"graph", cmd_graph, "Print the dependency graph as Graphviz DOT",
     "Usage: amlsec graph [options] [DIR]\n"
     "\n"
     "Prints the configuration's dependency graph (references, and the edges the catalogue\n"
     "implies) as DOT: 'amlsec graph | dot -Tsvg > graph.svg'.\n"
     "\n"
     "Options:\n"
     "  -var NAME=VALUE, -var-file FILE   as for plan\n"},
    {"import", cmd_import, "Adopt an existing Azure resource into the state",
     "Usage: amlsec import [options] ADDRESS ARM_ID\n"
     "\n"
     "Reads ARM_ID, records it in the state as ADDRESS (which the configuration must\n"
     "declare), and prints what differs from the configuration.\n"
     "\n"
     "Options:\n"
     "  -config DIR        the configuration (default .)\n"
     "  -cloud NAME        as for plan\n"
     "  -state PATH        use the local state file PATH\n"
     "  -lock=false        do not lock the state\n"
     "  -lock-timeout DUR  wait for the state lock\n"
     "  -var, -var-file    as for plan\n"},
    {"completion", cmd_completion, "Print shell completion for bash or zsh",
     "Usage: amlsec completion bash|zsh\n"
     "\n"
     "Prints a completion script generated from the command table:\n"
     "  source <(amlsec completion bash)\n"
     "  amlsec completion zsh > \"${fpath[1]}/_amlsec\"\n"},
    {NULL, NULL, NULL, NULL},
};

const struct command *command_find(const char *name)
{
    for (const struct command *c = commands; c->name; c++)
        if (strcmp(c->name, name) == 0)
            return c;
    return NULL;
}
