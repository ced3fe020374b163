#include "cmd/cli.h"

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/errbuf.h"
#include "util/jsonw.h"
#include "util/suggest.h"
#include "util/banned.h"

/* The secret values this run knows (see cli.h), in a trie: node 0 is the
 * root, end[i] tells that a secret ends at node i, and the edges live in one
 * open-addressed hash table keyed by (parent, byte). Masking tries each
 * position of a message once, following the trie as far as the text goes,
 * so its work is bounded by the longest secret, not by how many there are;
 * adding a secret (and telling a duplicate) is one walk of its bytes. */
static struct {
    unsigned char *end;
    size_t nodes, nodes_cap;
    uint64_t *ekey; /* (parent << 8 | byte) + 1; 0 marks a free slot */
    uint32_t *echild;
    size_t edges, ecap;
    unsigned char first[256]; /* a secret starts with this byte */
    size_t n;
    size_t work; /* trie edges looked up (cli_secret_work) */
    pthread_mutex_t lock;
} secrets = {.lock = PTHREAD_MUTEX_INITIALIZER};

#define SECRET_MIN 3 /* shorter values would blank out ordinary words */

static size_t edge_slot(uint64_t key, size_t cap)
{
    return (size_t)((key * 0x9E3779B97F4A7C15u) >> 17) & (cap - 1);
}

/* The child of node under byte c, or 0 when there is none (the root is
 * nobody's child). */
static uint32_t edge_find(uint32_t node, unsigned char c)
{
    uint64_t key = ((uint64_t)node << 8 | c) + 1;
    secrets.work++;
    if (secrets.ecap == 0)
        return 0;
    for (size_t i = edge_slot(key, secrets.ecap);; i = (i + 1) & (secrets.ecap - 1)) {
        if (secrets.ekey[i] == key)
            return secrets.echild[i];
        if (secrets.ekey[i] == 0)
            return 0;
    }
}

static void edge_put(uint64_t *keys, uint32_t *children, size_t cap, uint64_t key, uint32_t child)
{
    size_t i = edge_slot(key, cap);
    while (keys[i] != 0)
        i = (i + 1) & (cap - 1);
    keys[i] = key;
    children[i] = child;
}

/* A new node, or UINT32_MAX when out of memory. */
static uint32_t node_new(void)
{
    if (secrets.nodes >= UINT32_MAX - 1)
        return UINT32_MAX;
    if (secrets.nodes == secrets.nodes_cap) {
        size_t cap = secrets.nodes_cap ? secrets.nodes_cap * 2 : 1024;
        unsigned char *grown = realloc(secrets.end, cap);
        if (grown == NULL)
            return UINT32_MAX;
        secrets.end = grown;
        secrets.nodes_cap = cap;
    }
    secrets.end[secrets.nodes] = 0;
    return (uint32_t)secrets.nodes++;
}

/* A new child of node under byte c; 0 when out of memory. */
static uint32_t edge_add(uint32_t node, unsigned char c)
{
    uint32_t child;
    if (2 * (secrets.edges + 1) > secrets.ecap) {
        size_t cap = secrets.ecap ? secrets.ecap * 2 : 1024;
        uint64_t *keys = calloc(cap, sizeof(*keys));
        uint32_t *children = malloc(cap * sizeof(*children));
        if (keys == NULL || children == NULL) {
            free(keys);
            free(children);
            return 0;
        }
        for (size_t i = 0; i < secrets.ecap; i++)
            if (secrets.ekey[i] != 0)
                edge_put(keys, children, cap, secrets.ekey[i], secrets.echild[i]);
        free(secrets.ekey);
        free(secrets.echild);
        secrets.ekey = keys;
        secrets.echild = children;
        secrets.ecap = cap;
    }
    if ((child = node_new()) == UINT32_MAX)
        return 0;
    edge_put(secrets.ekey, secrets.echild, secrets.ecap, ((uint64_t)node << 8 | c) + 1, child);
    secrets.edges++;
    return child;
}

static void secret_insert(const char *value)
{
    size_t len = value ? strlen(value) : 0;
    uint32_t node = 0;
    if (len < SECRET_MIN)
        return;
    pthread_mutex_lock(&secrets.lock);
    if (secrets.nodes == 0 && node_new() == UINT32_MAX)
        goto out; /* the root */
    for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
        uint32_t child = edge_find(node, *p);
        if (child == 0 && (child = edge_add(node, *p)) == 0)
            goto out; /* out of memory: what was added ends no secret */
        node = child;
    }
    if (!secrets.end[node]) {
        secrets.end[node] = 1;
        secrets.first[(unsigned char)value[0]] = 1;
        secrets.n++;
    }
out:
    pthread_mutex_unlock(&secrets.lock);
}

/* Whether a JSON writer may write value otherwise than as it is. */
static bool json_escapes(const char *value)
{
    for (const unsigned char *p = (const unsigned char *)value; *p; p++)
        if (*p < 0x20 || *p >= 0x7f || *p == '"' || *p == '\\' || *p == '/')
            return true;
    return false;
}

/* value as a JSON string written with flags, without the quotes; NULL
 * when it is not UTF-8 (never sent as a JSON string) or out of memory.
 * Caller frees. */
static char *json_escaped(const char *value, size_t flags)
{
    json_t *str = json_string(value);
    char *text = str ? jsonw_dumps(str, JSON_ENCODE_ANY | flags) : NULL;
    size_t n = text ? strlen(text) : 0;
    json_decref(str);
    if (n < 2) {
        free(text);
        return NULL;
    }
    memmove(text, text + 1, n - 2);
    text[n - 2] = '\0';
    return text;
}

void cli_secret_add(const char *value)
{
    /* an error that quotes the request back (ARM's 400s) holds the value as
     * JSON escapes it: as amlsec sent it (a quote or backslash escaped), as
     * other writers do (non-ASCII as \uXXXX, '/' as \/), and escaped twice
     * where that error is itself in JSON (AMLSEC_LOG=trace's answer bodies,
     * -json's diagnostics) */
    static const size_t forms[] = {0, JSON_ENSURE_ASCII, JSON_ENSURE_ASCII | JSON_ESCAPE_SLASH};
    secret_insert(value);
    if (value == NULL || strlen(value) < SECRET_MIN || !json_escapes(value))
        return;
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        char *once = json_escaped(value, forms[i]), *twice = NULL;
        if (once && strcmp(once, value) != 0) {
            secret_insert(once);
            if ((twice = json_escaped(once, forms[i])) != NULL)
                secret_insert(twice);
        }
        free(once);
        free(twice);
    }
}

/* The length of the longest secret msg starts with, 0 if none: a secret
 * containing another is masked whole. */
static size_t longest_secret(const char *msg)
{
    size_t n = 0;
    uint32_t node = 0;
    if (!secrets.first[(unsigned char)*msg])
        return 0;
    for (size_t i = 0; msg[i]; i++) {
        if ((node = edge_find(node, (unsigned char)msg[i])) == 0)
            break;
        if (secrets.end[node])
            n = i + 1;
    }
    return n;
}

/* What a message becomes when masking it runs out of memory: never the
 * message itself, which may hold a secret. */
static const char scrub_oom[] = "(message not shown: out of memory while masking secrets)";

const char *cli_scrub(struct buf *out, const char *msg)
{
    int rc = 0;
    pthread_mutex_lock(&secrets.lock);
    if (secrets.n == 0) {
        pthread_mutex_unlock(&secrets.lock);
        return msg;
    }
    buf_reset(out);
    while (*msg && rc == 0) {
        const char *run = msg;
        size_t n = 0;
        while (*msg && (n = longest_secret(msg)) == 0)
            msg++;
        rc = buf_add(out, run, (size_t)(msg - run));
        if (n > 0 && rc == 0) {
            rc = buf_adds(out, "***");
            msg += n;
        }
    }
    pthread_mutex_unlock(&secrets.lock);
    return rc == 0 ? out->ptr : scrub_oom;
}

void cli_messages_init(void)
{
    errbuf_set_scrubber(cli_scrub);
}

size_t cli_secret_work(void)
{
    size_t work;
    pthread_mutex_lock(&secrets.lock);
    work = secrets.work;
    pthread_mutex_unlock(&secrets.lock);
    return work;
}

/* The message whole, however long (a diagnostic may quote a long value),
 * and masked as a whole: a secret is never cut in two by a buffer's end. */
static void vmsg(const char *kind, const char *fmt, va_list ap)
{
    struct buf msg, clean;
    buf_init(&msg, 0);
    buf_init(&clean, 0);
    fprintf(stderr, "amlsec: %s: %s\n", kind,
            buf_vaddf(&msg, fmt, ap) == 0 ? cli_scrub(&clean, msg.ptr) : scrub_oom);
    buf_release(&msg);
    buf_release(&clean);
}

void cli_log_sink(enum log_level level, const char *msg, void *payload)
{
    static const char *const names[] = {"error", "warn", "info", "debug", "trace"};
    struct buf clean;
    (void)payload;
    buf_init(&clean, 0);
    fprintf(stderr, "[%s] %s\n", names[level], cli_scrub(&clean, msg));
    buf_release(&clean);
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

/* The nearest flag to word: a plausible typo, else a flag word is the start
 * of (-detail: -detailed-exitcode). NULL when none is near. */
static const char *nearest_flag(const char *word, const struct option *longopts)
{
    const char *names[64];
    size_t n = 0;
    const char *hit;

    for (const struct option *o = longopts; o->name && n < 63; o++)
        names[n++] = o->name;
    names[n] = NULL;
    if ((hit = suggest_nearest(word, names, 0)) != NULL)
        return hit;
    for (size_t i = 0; i < n; i++)
        if (*word && strncmp(names[i], word, strlen(word)) == 0)
            return names[i];
    return NULL;
}

static void suggest_flag(const struct command *cmd, const char *arg, const char *name,
                         const struct option *longopts)
{
    const char *hit = nearest_flag(name, longopts);
    if (hit)
        cli_usage_error(cmd, "unknown flag '%.*s'; did you mean '-%s'?", CLI_QUOTE_MAX, arg, hit);
    else
        cli_usage_error(cmd, "unknown flag '%.*s'", CLI_QUOTE_MAX, arg);
}

int cli_parse_bool(const char *v, int *out)
{
    if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0)
        *out = 1;
    else if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0)
        *out = 0;
    else
        return -1;
    return 0;
}

int cli_parse_parallelism(const struct command *cmd, const char *v, unsigned *out)
{
    char *end;
    long n = strtol(v, &end, 10);
    if (*v == '\0' || *end || n < 1 || n > 256)
        return cli_usage_error(cmd, "-parallelism takes 1 to 256, not '%s'", v);
    *out = (unsigned)n;
    return EXIT_OK;
}

int cli_getopt(int argc, char **argv, const struct option *longopts, const struct command *cmd)
{
    for (;;) {
        const char *arg, *name, *eq;
        char word[128];
        size_t len;
        const struct option *o;

        optarg = NULL;
        if (optind < 1)
            optind = 1;
        if (optind >= argc || argv[optind][0] != '-' || argv[optind][1] == '\0')
            return -1;
        arg = argv[optind++];
        if (strcmp(arg, "--") == 0)
            return -1;
        name = arg + (arg[1] == '-' ? 2 : 1);
        eq = strchr(name, '=');
        len = eq ? (size_t)(eq - name) : strlen(name);
        if (len >= sizeof(word))
            len = sizeof(word) - 1;
        memcpy(word, name, len);
        word[len] = '\0';
        for (o = longopts; o->name; o++)
            if (strcmp(o->name, word) == 0)
                break;
        if (o->name == NULL && strcmp(word, "h") != 0 && strcmp(word, "help") != 0) {
            suggest_flag(cmd, arg, word, longopts);
            return CLI_BAD;
        }
        if (o->name == NULL || o->val == 'h') {
            if (eq) {
                cli_usage_error(cmd, "flag '-%s' takes no value", word);
                return CLI_BAD;
            }
            return CLI_HELP;
        }
        switch (o->has_arg) {
        case required_argument:
            /* -flag=VALUE or -flag VALUE (the next argument, whatever it is) */
            if (eq) {
                optarg = (char *)eq + 1;
            } else if (optind < argc) {
                optarg = argv[optind++];
            } else {
                cli_usage_error(cmd, "flag '%s' needs a value", arg);
                return CLI_BAD;
            }
            return o->val;
        case optional_argument:
            /* -flag or -flag=VALUE; never the next argument (-lock=false) */
            optarg = eq ? (char *)eq + 1 : NULL;
            return o->val;
        default: {
            /* a switch: -flag, or -flag=true / -flag=false as Terraform takes */
            int on = 1;
            if (eq && cli_parse_bool(eq + 1, &on) < 0) {
                cli_usage_error(cmd, "flag '-%s' takes true or false, not '%.*s'", word,
                                CLI_QUOTE_MAX, eq + 1);
                return CLI_BAD;
            }
            if (on)
                return o->val;
            continue; /* -flag=false: as if it were not given */
        }
        }
    }
}
