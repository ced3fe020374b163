#include "cmd/cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util/suggest.h"
#include "util/banned.h"

static void vmsg(const char *kind, const char *fmt, va_list ap)
{
    fprintf(stderr, "amlsec: %s: ", kind);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg("error", fmt, ap);
    va_end(ap);
}

void cli_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg("warning", fmt, ap);
    va_end(ap);
}

int cli_usage_error(const struct command *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "amlsec %s: ", cmd->name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nRun 'amlsec %s -h' for usage.\n", cmd->name);
    return EXIT_FAIL;
}

int cli_listing_options(int argc, char **argv, const struct command *cmd, int *json, int *markdown)
{
    static const struct option opts[] = {{"json", no_argument, NULL, 'j'},
                                         {"markdown", no_argument, NULL, 'm'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int c;

    *json = *markdown = 0;
    while ((c = cli_getopt(argc, argv, opts, cmd)) != -1) {
        switch (c) {
        case 'j':
            *json = 1;
            break;
        case 'm':
            *markdown = 1;
            break;
        case CLI_HELP:
            fputs(cmd->usage, stdout);
            return EXIT_OK;
        default:
            return EXIT_FAIL;
        }
    }
    if (*json && *markdown)
        return cli_usage_error(cmd, "-json and -markdown are exclusive");
    return -1;
}

static void suggest_flag(const struct command *cmd, const char *arg, const struct option *longopts)
{
    const char *names[64];
    size_t n = 0;
    const char *word = arg;
    const char *hit;
    char plain[128];
    size_t len;

    while (*word == '-')
        word++;
    len = strcspn(word, "=");
    if (len >= sizeof(plain))
        len = sizeof(plain) - 1;
    memcpy(plain, word, len);
    plain[len] = '\0';
    for (const struct option *o = longopts; o->name && n < 63; o++)
        names[n++] = o->name;
    names[n] = NULL;
    hit = suggest_nearest(plain, names, 0);
    if (hit)
        cli_usage_error(cmd, "unknown flag '%s'; did you mean '-%s'?", arg, hit);
    else
        cli_usage_error(cmd, "unknown flag '%s'", arg);
}

static int takes_value(const struct option *longopts, int val)
{
    for (const struct option *o = longopts; o->name; o++)
        if (o->val == val && o->has_arg == required_argument)
            return 1;
    return 0;
}

int cli_getopt(int argc, char **argv, const struct option *longopts, const struct command *cmd)
{
    int c;

    opterr = 0;
    optopt = 0;
    c = getopt_long_only(argc, argv, "+:h", longopts, NULL);
    if (c == 'h')
        return CLI_HELP;
    if (c == ':' || (c == '?' && optopt && takes_value(longopts, optopt))) {
        cli_usage_error(cmd, "flag '%s' needs a value", argv[optind - 1]);
        return CLI_BAD;
    }
    if (c == '?') {
        suggest_flag(cmd, argv[optind - 1], longopts);
        return CLI_BAD;
    }
    return c;
}
