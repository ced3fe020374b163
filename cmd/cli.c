#include "cmd/cli.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/suggest.h"
#include "util/banned.h"

/* The secret values this run knows (see cli.h), longest first. */
static struct {
    char **v;
    size_t n, cap;
    pthread_mutex_t lock;
} secrets = {.lock = PTHREAD_MUTEX_INITIALIZER};

#define SECRET_MIN 3 /* shorter values would blank out ordinary words */

void cli_secret_add(const char *value)
{
    size_t len = value ? strlen(value) : 0, i;
    if (len < SECRET_MIN)
        return;
    pthread_mutex_lock(&secrets.lock);
    for (i = 0; i < secrets.n; i++)
        if (strcmp(secrets.v[i], value) == 0)
            goto out;
    if (secrets.n == secrets.cap) {
        size_t cap = secrets.cap ? secrets.cap * 2 : 16;
        char **grown = realloc(secrets.v, cap * sizeof(*grown));
        if (grown == NULL)
            goto out;
        secrets.v = grown;
        secrets.cap = cap;
    }
    /* longest first, so that a secret containing another is masked whole */
    for (i = secrets.n; i > 0 && strlen(secrets.v[i - 1]) < len; i--)
        secrets.v[i] = secrets.v[i - 1];
    if ((secrets.v[i] = strdup(value)) == NULL) {
        memmove(&secrets.v[i], &secrets.v[i + 1], (secrets.n - i) * sizeof(*secrets.v));
        goto out;
    }
    secrets.n++;
out:
    pthread_mutex_unlock(&secrets.lock);
}

const char *cli_scrub(char *buf, size_t size, const char *msg)
{
    size_t o = 0;
    pthread_mutex_lock(&secrets.lock);
    if (secrets.n == 0) {
        pthread_mutex_unlock(&secrets.lock);
        return msg;
    }
    while (*msg && o + 1 < size) {
        size_t i, n = 0;
        for (i = 0; i < secrets.n; i++) {
            n = strlen(secrets.v[i]);
            if (strncmp(msg, secrets.v[i], n) == 0)
                break;
        }
        if (i < secrets.n) {
            for (const char *m = "***"; *m && o + 1 < size; m++)
                buf[o++] = *m;
            msg += n;
        } else {
            buf[o++] = *msg++;
        }
    }
    pthread_mutex_unlock(&secrets.lock);
    buf[o] = '\0';
    return buf;
}

static void vmsg(const char *kind, const char *fmt, va_list ap)
{
    char msg[8192], clean[8192];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    fprintf(stderr, "amlsec: %s: %s\n", kind, cli_scrub(clean, sizeof(clean), msg));
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
