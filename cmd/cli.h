/* The command table and what every command shares (git git.c commands[]). */
#ifndef AMLSEC_CMD_CLI_H
#define AMLSEC_CMD_CLI_H

#include <getopt.h>
#include <stdio.h>

#include "cmd/exit_codes.h"
#include "util/log.h"

struct cli_ctx {
    const char *argv0;
    int color; /* stderr/stdout colour allowed (tty, no NO_COLOR, no -no-color) */
};

typedef int (*cmd_fn)(int argc, char **argv, struct cli_ctx *ctx);

struct command {
    const char *name;
    cmd_fn fn;
    const char *summary; /* one line for `amlsec help` */
    const char *usage;   /* the full `amlsec CMD -h` text */
};

extern const struct command commands[];
const struct command *command_find(const char *name);

/* Secret values this run knows (sensitive variables and what is computed
 * from them): the last line of defence for text amlsec does not build
 * itself, the ARM exchanges AMLSEC_LOG=trace shows and error messages that
 * echo a request. cli_error, cli_warn and the log sink print "***" in
 * their place. Values shorter than 3 bytes are not registered. */
void cli_secret_add(const char *value);
/* msg with every registered secret replaced by "***", whole, in out (a
 * buf_init'ed buffer the caller releases), or msg itself when none is
 * registered; a fixed notice, never msg, when out of memory. */
struct buf;
const char *cli_scrub(struct buf *out, const char *msg);
/* Makes every error message (util/errbuf.h) that is too long for its
 * buffer masked through cli_scrub before it is cut: called once by main. */
void cli_messages_init(void);
/* Trie edges looked up so far by cli_secret_add and cli_scrub (the scale
 * test's measure: bounded by the bytes added and scanned, whatever the
 * number of secrets). */
size_t cli_secret_work(void);

/* Messages: "amlsec: error: ..." on stderr (curl tool_msgs). */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The log sink AMLSEC_LOG installs (util/log.h): "[level] message" on
 * stderr, secrets masked. */
void cli_log_sink(enum log_level level, const char *msg, void *payload);

/* The flag parser every command shares: flags are matched exactly, never by
 * prefix, as Terraform does: -flag or --flag; a flag with a value takes
 * -flag=VALUE or -flag VALUE (the next argument, even one starting with '-');
 * an optional_argument flag takes only -flag=VALUE (optarg NULL without);
 * a switch (no_argument) also takes -flag=true and -flag=false (which leaves
 * it unset). Stops at the first operand or after "--". "-h", "-help" print
 * the command's usage. On an unknown flag it prints a usage error naming the
 * nearest valid flag. Set optind = 1 before the first call. Returns the
 * option's val, -1 at the end of options, or CLI_HELP / CLI_BAD. */
#define CLI_HELP 0x10000
#define CLI_BAD 0x10001
int cli_getopt(int argc, char **argv, const struct option *longopts, const struct command *cmd);

/* true/1 -> 1, false/0 -> 0 (the values of -lock=, -refresh=, -input=);
 * -1 for anything else. */
int cli_parse_bool(const char *v, int *out);
/* -parallelism N: 1 to 256 into *out; else a usage error (EXIT_OK or its exit code). */
int cli_parse_parallelism(const struct command *cmd, const char *v, unsigned *out);

/* The longest piece of user input an error message quotes (a 20 MiB name
 * must not make a 40 MB message): use "%.*s" with CLI_QUOTE_MAX. */
#define CLI_QUOTE_MAX 200

/* The options of a catalogue listing (rules, schema): -json, -markdown
 * (exclusive) and -help. Returns -1 when the command goes on (optind at
 * its first operand), else the exit code to return. */
int cli_listing_options(int argc, char **argv, const struct command *cmd, int *json, int *markdown);

/* Prints a usage error ("amlsec CMD: ...") and returns EXIT_FAIL. */
int cli_usage_error(const struct command *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Defined under AddressSanitizer: what a command leaves for the process's
 * exit to return at once (show's plan, drift's run) is freed instead, so
 * that the leak check covers those frees. */
#if defined(__SANITIZE_ADDRESS__)
#define CLI_FREES_AT_EXIT 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CLI_FREES_AT_EXIT 1
#endif
#endif

#endif
