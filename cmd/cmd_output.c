/* amlsec output [-json] [-show-sensitive] [-state PATH] [NAME]: the
 * outputs the last apply recorded in the state, in Terraform's shapes.
 * Sensitive values are redacted unless -show-sensitive asks for them
 * (secrets never reach JSON or a terminal by default). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cli.h"
#include "cmd/commands.h"
#include "cmd/state_cli.h"
#include "parser/value.h"
#include "util/buf.h"
#include "util/jsonw.h"
#include "util/banned.h"

static int print_text(const json_t *v, size_t flags)
{
    char *text = jsonw_dumps(v, flags | JSON_ENCODE_ANY | JSON_REAL_PRECISION(VALUE_DIGITS));
    if (text == NULL) {
        cli_error("out of memory");
        return EXIT_FAIL;
    }
    puts(text);
    free(text);
    return EXIT_OK;
}

/* NAME alone: a string as it is (no quotes, for scripts), a number or
 * bool as text, a list or map as JSON. */
static int print_raw(const json_t *v)
{
    if (json_is_string(v)) {
        fwrite(json_string_value(v), 1, json_string_length(v), stdout);
        fputc('\n', stdout);
        return EXIT_OK;
    }
    return print_text(v, JSON_INDENT(2) | JSON_SORT_KEYS);
}

static int print_all(const json_t *outputs, bool show_sensitive)
{
    const char **names = malloc((json_object_size(outputs) + 1) * sizeof(*names));
    const char *name;
    json_t *e;
    size_t n = 0;
    if (names == NULL) {
        cli_error("out of memory");
        return EXIT_FAIL;
    }
    json_object_foreach((json_t *)outputs, name, e) names[n++] = name;
    /* the state keeps them sorted; say so rather than rely on it */
    for (size_t i = 1; i < n; i++)
        for (size_t k = i; k > 0 && strcmp(names[k - 1], names[k]) > 0; k--) {
            const char *t = names[k];
            names[k] = names[k - 1];
            names[k - 1] = t;
        }
    for (size_t i = 0; i < n; i++) {
        struct buf b;
        e = json_object_get(outputs, names[i]);
        buf_init(&b, 0);
        if (!show_sensitive && json_is_true(json_object_get(e, "sensitive")))
            buf_adds(&b, "<sensitive>");
        else
            value_format(&b, json_object_get(e, "value"));
        printf("%s = %s\n", names[i], b.ptr ? b.ptr : "");
        buf_release(&b);
    }
    free(names);
    return EXIT_OK;
}

/* Every output for -json: a sensitive one without "value" unless shown. */
static int print_json_all(const json_t *outputs, bool show_sensitive)
{
    json_t *out = json_object();
    const char *name;
    json_t *e;
    int rc;
    json_object_foreach((json_t *)outputs, name, e)
    {
        json_t *copy = json_copy(e);
        if (!show_sensitive && json_is_true(json_object_get(e, "sensitive")))
            json_object_del(copy, "value");
        json_object_set_new(out, name, copy);
    }
    rc = print_text(out, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(out);
    return rc;
}

/* NAME: its value (raw, or as JSON); a sensitive one redacted unless shown
 * ("(sensitive value)" in text; with -json, its entry without "value"). */
static int print_one(const char *name, const json_t *e, bool json, bool show_sensitive)
{
    if (!show_sensitive && json_is_true(json_object_get(e, "sensitive"))) {
        cli_warn("output '%s' is sensitive: its value is left out (pass -show-sensitive to "
                 "print it)",
                 name);
        if (json) {
            json_t *entry = json_copy((json_t *)e);
            int rc;
            json_object_del(entry, "value");
            rc = print_text(entry, JSON_INDENT(2) | JSON_SORT_KEYS);
            json_decref(entry);
            return rc;
        }
        puts("(sensitive value)");
        return EXIT_OK;
    }
    return json ? print_text(json_object_get(e, "value"), JSON_INDENT(2) | JSON_SORT_KEYS)
                : print_raw(json_object_get(e, "value"));
}

int cmd_output(int argc, char **argv, struct cli_ctx *ctx)
{
    const struct command *self = command_find("output");
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},           {"no-color", no_argument, NULL, 'n'},
        {"show-sensitive", no_argument, NULL, 'S'}, {"state", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0}};
    struct state_cli sc;
    struct errbuf err = ERRBUF_INIT;
    struct state st;
    const char *state_path = NULL, *name = NULL;
    const json_t *outputs;
    int c, json = 0, show_sensitive = 0, color = ctx->color, existed, rc;

    while ((c = cli_getopt(argc, argv, opts, self)) != -1) {
        switch (c) {
        case 'j':
            json = 1;
            break;
        case 'n':
            color = 0;
            break;
        case 'S':
            show_sensitive = 1;
            break;
        case 's':
            state_path = optarg;
            break;
        case CLI_HELP:
            fputs(self->usage, stdout);
            return EXIT_OK;
        default:
            return EXIT_FAIL;
        }
    }
    if (argc - optind > 1)
        return cli_usage_error(self, "unexpected argument '%s'", argv[optind + 1]);
    if (optind < argc)
        name = argv[optind];
    if (state_cli_open(&sc, state_path, NULL, NULL, color) != EXIT_OK)
        return EXIT_FAIL;
    if (state_backend_load(&st, &existed, sc.be, &sc.keys, &err) < 0) {
        cli_error("%s", err.msg);
        state_cli_close(&sc);
        return EXIT_FAIL;
    }
    if (state_cli_fold_journal(
            &sc, &st, "the outputs are those the last completed apply recorded") != EXIT_OK) {
        state_release(&st);
        state_cli_close(&sc);
        return EXIT_FAIL;
    }
    outputs = st.outputs;
    if (name) {
        const json_t *e = json_object_get(outputs, name);
        if (e == NULL) {
            cli_error("no output '%s' in the state '%s'%s", name, sc.be->where,
                      json_object_size(outputs) ? "" : " (it has no outputs: apply first)");
            rc = EXIT_FAIL;
        } else {
            rc = print_one(name, e, json, show_sensitive);
        }
    } else if (json) {
        rc = print_json_all(outputs, show_sensitive);
    } else if (json_object_size(outputs) == 0) {
        cli_warn("no outputs found in the state '%s': the configuration has no output blocks, "
                 "or it has not been applied",
                 sc.be->where);
        rc = EXIT_OK;
    } else {
        rc = print_all(outputs, show_sensitive);
    }
    state_release(&st);
    state_cli_close(&sc);
    return rc;
}
