/* amlsec output [-json | -raw] [-show-sensitive] [-state PATH] [NAME]: the
 * outputs the last apply recorded in the state, in Terraform's shapes
 * (-json as terraform output -json prints it, types in cty's type JSON).
 * Sensitive values are redacted unless -show-sensitive asks for them
 * (secrets never reach JSON or a terminal by default). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cli.h"
#include "cmd/commands.h"
#include "cmd/show_tf.h"
#include "cmd/state_cli.h"
#include "parser/value.h"
#include "util/buf.h"
#include "util/jsonw.h"
#include "util/banned.h"

/* A number as cty writes it (big.Float's Text('f', -1)): in full, never
 * with an exponent ("1e-6" is 0.000001, "1.5e21" 1500000000000000000000);
 * the n bytes at num are a JSON number. */
static void put_plain_number(const char *num, size_t n)
{
    char digits[64];
    const char *e = memchr(num, 'e', n), *d;
    size_t nd = 0, lead = 0;
    long point = -1; /* where the point is, in digits */
    if (e == NULL)
        e = memchr(num, 'E', n);
    if (e == NULL || n >= sizeof(digits)) {
        fwrite(num, 1, n, stdout);
        return;
    }
    d = num;
    if (*d == '-') {
        putchar('-');
        d++;
    }
    for (; d < e; d++)
        if (*d == '.')
            point = (long)nd;
        else
            digits[nd++] = *d;
    if (point < 0)
        point = (long)nd;
    point += strtol(e + 1, NULL, 10);
    while (lead < nd && digits[lead] == '0') { /* leading zeros: the point moves left */
        lead++;
        point--;
    }
    while (nd > lead && digits[nd - 1] == '0' && (long)(nd - lead) > point)
        nd--; /* zeros after the point */
    if (nd == lead) {
        putchar('0');
        return;
    }
    if (point <= 0) {
        fputs("0.", stdout);
        for (long z = point; z < 0; z++)
            putchar('0');
        fwrite(digits + lead, 1, nd - lead, stdout);
        return;
    }
    for (long k = 0; k < point || k < (long)(nd - lead); k++) {
        if (k == point)
            putchar('.');
        putchar(k < (long)(nd - lead) ? digits[lead + k] : '0');
    }
}

/* Writes JSON text as Go's encoding/json writes it (Terraform's output
 * -json): <, >, & and U+2028, U+2029 as \u escapes (they occur only
 * inside strings, where the escape means the same character), and numbers
 * in full, as cty writes them (put_plain_number). */
static void put_go_json(const char *text)
{
    bool in_string = false;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (!in_string && (*p == '-' || (*p >= '0' && *p <= '9'))) {
            size_t n = strspn((const char *)p, "0123456789+-.eE");
            put_plain_number((const char *)p, n);
            p += n - 1;
        } else if (*p == '"' || (in_string && *p == '\\')) {
            in_string = in_string ? *p != '"' : true;
            putchar(*p);
            if (*p == '\\')
                putchar(*++p); /* the escaped character, a quote too */
        } else if (*p == '<' || *p == '>' || *p == '&') {
            printf("\\u%04x", *p);
        } else if (p[0] == 0xe2 && p[1] == 0x80 && (p[2] == 0xa8 || p[2] == 0xa9)) {
            printf("\\u%04x", 0x2000u + (p[2] - 0x80u)); /* U+2028, U+2029 */
            p += 2;
        } else {
            putchar(*p);
        }
    }
    putchar('\n');
}

/* go: as terraform output -json writes it (put_go_json). A value still
 * unknown (an output of an apply that left it so) is null. */
static int print_text(const json_t *v, size_t flags, bool go)
{
    json_t *shown = value_unknowns_null((json_t *)v);
    char *text =
        shown ? jsonw_dumps(shown, flags | JSON_ENCODE_ANY | JSON_REAL_PRECISION(VALUE_DIGITS))
              : NULL;
    json_decref(shown);
    if (text == NULL) {
        cli_error("out of memory");
        return EXIT_FAIL;
    }
    if (go)
        put_go_json(text);
    else
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
    return print_text(v, JSON_INDENT(2) | JSON_SORT_KEYS, false);
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

/* An output as terraform output -json has it: {sensitive, type, value},
 * type in Terraform's type JSON (show_output_type); a sensitive one
 * without "value" unless shown (Terraform prints it). New reference. */
static json_t *json_entry(const json_t *e, bool show_sensitive)
{
    const json_t *v = json_object_get(e, "value");
    bool sensitive = json_is_true(json_object_get(e, "sensitive"));
    bool hide = sensitive && !show_sensitive;
    json_t *out =
        json_pack("{s:b, s:o}", "sensitive", sensitive, "type", show_output_type(v, hide));
    if (out && !hide)
        json_object_set(out, "value", v ? (json_t *)v : json_null());
    return out;
}

/* Every output for -json, as Terraform's json.MarshalIndent prints them:
 * sorted, two spaces. */
static int print_json_all(const json_t *outputs, bool show_sensitive)
{
    json_t *out = json_object();
    const char *name;
    json_t *e;
    int rc;
    json_object_foreach((json_t *)outputs, name, e)
    {
        json_object_set_new(out, name, json_entry(e, show_sensitive));
    }
    rc = print_text(out, JSON_INDENT(2) | JSON_SORT_KEYS, true);
    json_decref(out);
    return rc;
}

/* -raw NAME, as Terraform's: a string as it is, a number or bool as text,
 * no newline after it; null, a list or a map is an error. */
static int print_raw_scalar(const char *name, const json_t *v)
{
    struct buf b;
    int rc = EXIT_OK;
    if (json_is_string(v)) {
        fwrite(json_string_value(v), 1, json_string_length(v), stdout);
        return EXIT_OK;
    }
    if (json_is_boolean(v)) {
        fputs(json_is_true(v) ? "true" : "false", stdout);
        return EXIT_OK;
    }
    if (v == NULL || json_is_null(v)) {
        cli_error("output '%s' is null: -raw cannot print it", name);
        return EXIT_FAIL;
    }
    if (!value_is_number(v)) {
        cli_error("output '%s' is a %s: -raw prints only strings, numbers and bools; use -json",
                  name, value_type_name(v));
        return EXIT_FAIL;
    }
    buf_init(&b, 0);
    if (value_number_text(&b, v) < 0) {
        cli_error("out of memory");
        rc = EXIT_FAIL;
    } else {
        put_plain_number(b.ptr, b.len); /* as Terraform's, never with an exponent */
    }
    buf_release(&b);
    return rc;
}

enum output_form { FORM_TEXT, FORM_JSON, FORM_RAW };

/* NAME: its value (raw text, JSON as Terraform's -json NAME prints it:
 * compact, or -raw); a sensitive one redacted unless shown ("(sensitive
 * value)" in text; with -json, its entry without "value"; with -raw, an
 * error: a script would take a placeholder for the value). */
static int print_one(const char *name, const json_t *e, enum output_form form, bool show_sensitive)
{
    const json_t *v = json_object_get(e, "value");
    if (!show_sensitive && json_is_true(json_object_get(e, "sensitive"))) {
        if (form == FORM_RAW) {
            cli_error("output '%s' is sensitive: -raw prints it only with -show-sensitive", name);
            return EXIT_FAIL;
        }
        cli_warn("output '%s' is sensitive: its value is left out (pass -show-sensitive to "
                 "print it)",
                 name);
        if (form == FORM_JSON) {
            json_t *entry = json_entry(e, false);
            int rc = print_text(entry, JSON_COMPACT | JSON_SORT_KEYS, true);
            json_decref(entry);
            return rc;
        }
        puts("(sensitive value)");
        return EXIT_OK;
    }
    if (form == FORM_RAW)
        return print_raw_scalar(name, v);
    return form == FORM_JSON ? print_text(v ? v : json_null(), JSON_COMPACT | JSON_SORT_KEYS, true)
                             : print_raw(v);
}

int cmd_output(int argc, char **argv, struct cli_ctx *ctx)
{
    const struct command *self = command_find("output");
    static const struct option opts[] = {{"json", no_argument, NULL, 'j'},
                                         {"raw", no_argument, NULL, 'r'},
                                         {"no-color", no_argument, NULL, 'n'},
                                         {"show-sensitive", no_argument, NULL, 'S'},
                                         {"state", required_argument, NULL, 's'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    struct state_cli sc;
    struct errbuf err = ERRBUF_INIT;
    struct state st;
    const char *state_path = NULL, *name = NULL;
    const json_t *outputs;
    int c, json = 0, raw = 0, show_sensitive = 0, color = ctx->color, existed, rc;

    while ((c = cli_getopt(argc, argv, opts, self)) != -1) {
        switch (c) {
        case 'j':
            json = 1;
            break;
        case 'r':
            raw = 1;
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
    if (json && raw)
        return cli_usage_error(self, "-json and -raw cannot be used together");
    if (raw && name == NULL)
        return cli_usage_error(self, "-raw prints a single output: name it (output -raw NAME)");
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
            rc = print_one(name, e, raw ? FORM_RAW : json ? FORM_JSON : FORM_TEXT, show_sensitive);
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
