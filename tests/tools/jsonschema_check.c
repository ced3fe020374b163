/* A small JSON Schema validator for the tests (jansson only): the subset
 * docs/schemas/ uses — type (a name or a list), properties, required,
 * additionalProperties (false or a schema), items, enum, const, minimum,
 * anyOf, oneOf, $ref ("#/$defs/x" or "FILE#/$defs/x", FILE beside the
 * schema). Any other keyword is an error, so a schema cannot silently
 * check less than it says.
 *
 * Usage: jsonschema_check [-lines] SCHEMA [FILE]   (FILE default: stdin;
 * -lines: one JSON document per line). Exit 0 when valid; 1 with each
 * failure as "PATH: message" on stderr. A whole number beyond int64, which
 * amlsec writes as a JSON number (docs/language.md, "Numbers"), is read
 * (util/jsonw.h's jsonw_loadb) and checked as an integer. */
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/jsonw.h"

static char schema_dir[4096];
static json_t *loaded; /* file name -> schema */
static int failures, quiet;

static void report(const char *path, const char *fmt, const char *a, const char *b)
{
    failures++;
    if (quiet)
        return;
    fprintf(stderr, "%s: ", path[0] ? path : "$");
    fprintf(stderr, fmt, a, b);
    fputc('\n', stderr);
}

static const char *type_of(const json_t *v)
{
    if (jsonw_big_digits(v))
        return "integer";
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
        return "integer";
    case JSON_REAL:
        return "number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "boolean";
    default:
        return "null";
    }
}

static bool type_ok(const char *want, const json_t *v)
{
    const char *t = type_of(v);
    return strcmp(want, t) == 0 || (strcmp(want, "number") == 0 && strcmp(t, "integer") == 0);
}

/* The whole of in as one document, big numbers read as such. */
static json_t *load_all(FILE *in, json_error_t *je)
{
    char *text = NULL;
    size_t len = 0, cap = 0, n;
    json_t *v;
    do {
        if (len + 65536 > cap) {
            char *grown = realloc(text, cap = len + 65536);
            if (grown == NULL) {
                free(text);
                snprintf(je->text, sizeof(je->text), "out of memory");
                return NULL;
            }
            text = grown;
        }
        n = fread(text + len, 1, cap - len, in);
        len += n;
    } while (n > 0);
    v = jsonw_loadb(text ? text : "", len, 0, je);
    free(text);
    return v;
}

static json_t *load_schema(const char *file)
{
    json_t *s = json_object_get(loaded, file);
    char path[8192];
    json_error_t je;
    if (s)
        return s;
    snprintf(path, sizeof(path), "%s/%s", schema_dir, file);
    s = json_load_file(path, 0, &je);
    if (s == NULL) {
        fprintf(stderr, "%s:%d: %s\n", path, je.line, je.text);
        exit(2);
    }
    json_object_set_new(loaded, file, s);
    return s;
}

/* Resolves ref against the document root it appears in. */
static json_t *resolve(const json_t *root, const char *ref, const json_t **new_root)
{
    const char *hash = strchr(ref, '#');
    const json_t *doc = root;
    char file[1024], *p, buf[1024];
    json_t *cur;
    if (hash != ref) {
        size_t n = hash ? (size_t)(hash - ref) : strlen(ref);
        snprintf(file, sizeof(file), "%.*s", (int)n, ref);
        doc = load_schema(file);
    }
    *new_root = doc;
    cur = (json_t *)doc;
    if (hash == NULL || hash[1] == '\0')
        return cur;
    snprintf(buf, sizeof(buf), "%s", hash + 2); /* after "#/" */
    for (p = strtok(buf, "/"); p && cur; p = strtok(NULL, "/"))
        cur = json_object_get(cur, p);
    if (cur == NULL) {
        fprintf(stderr, "unresolved $ref %s\n", ref);
        exit(2);
    }
    return cur;
}

static const char *const known[] = {"type",    "properties", "required", "additionalProperties",
                                    "items",   "enum",       "const",    "minimum",
                                    "anyOf",   "oneOf",      "$ref",     "$defs",
                                    "$schema", "$id",        "title",    "description",
                                    NULL};

static void check(const json_t *root, const json_t *s, const json_t *v, const char *path);

static int try(const json_t *root, const json_t *s, const json_t *v)
{
    int before = failures;
    int ok;
    quiet++;
    check(root, s, v, "");
    quiet--;
    ok = failures == before;
    failures = before;
    return ok;
}

static void check(const json_t *root, const json_t *s, const json_t *v, const char *path)
{
    const char *k;
    json_t *x;
    char sub[4096];

    if (json_is_true(s))
        return;
    json_object_foreach((json_t *)s, k, x)
    {
        bool ok = false;
        for (int i = 0; known[i]; i++)
            ok = ok || strcmp(k, known[i]) == 0;
        if (!ok) {
            fprintf(stderr, "schema keyword '%s' is not supported\n", k);
            exit(2);
        }
    }
    if ((x = json_object_get(s, "$ref")) != NULL) {
        const json_t *nroot;
        const json_t *target = resolve(root, json_string_value(x), &nroot);
        check(nroot, target, v, path);
    }
    if ((x = json_object_get(s, "type")) != NULL) {
        bool ok = false;
        if (json_is_string(x))
            ok = type_ok(json_string_value(x), v);
        else {
            size_t i;
            json_t *t;
            json_array_foreach(x, i, t) ok = ok || type_ok(json_string_value(t), v);
        }
        if (!ok) {
            char *want = json_dumps(x, JSON_ENCODE_ANY | JSON_COMPACT);
            report(path, "expected type %s, got %s", want, type_of(v));
            free(want);
            return;
        }
    }
    if ((x = json_object_get(s, "const")) != NULL && !json_equal(x, v)) {
        char *want = json_dumps(x, JSON_ENCODE_ANY | JSON_COMPACT);
        report(path, "expected the constant %s%s", want ? want : "?", "");
        free(want);
    }
    if ((x = json_object_get(s, "enum")) != NULL) {
        size_t i;
        json_t *e;
        bool ok = false;
        json_array_foreach(x, i, e) ok = ok || json_equal(e, v);
        if (!ok) {
            char *got = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
            report(path, "%s is not one of the enum%s", got ? got : "?", "");
            free(got);
        }
    }
    if ((x = json_object_get(s, "minimum")) != NULL && json_is_number(v) &&
        json_number_value(v) < json_number_value(x))
        report(path, "below the minimum%s%s", "", "");
    if (x && jsonw_big_digits(v) && jsonw_big_digits(v)[0] == '-') /* below any int64 */
        report(path, "below the minimum%s%s", "", "");
    if ((x = json_object_get(s, "anyOf")) != NULL) {
        size_t i;
        json_t *alt;
        bool ok = false;
        json_array_foreach(x, i, alt) ok = ok || try(root, alt, v);
        if (!ok)
            report(path, "matches none of anyOf%s%s", "", "");
    }
    if ((x = json_object_get(s, "oneOf")) != NULL) {
        size_t i, n = 0;
        json_t *alt;
        json_array_foreach(x, i, alt) n += try(root, alt, v);
        if (n != 1)
            report(path, "matches %s of oneOf's alternatives%s", n ? "more than one" : "none", "");
    }
    if (json_is_object(v) && !jsonw_big_digits(v)) {
        json_t *props = json_object_get(s, "properties"),
               *addl = json_object_get(s, "additionalProperties");
        size_t i;
        json_t *r;
        json_array_foreach(json_object_get(s, "required"), i, r)
        {
            if (json_object_get(v, json_string_value(r)) == NULL)
                report(path, "missing required property '%s'%s", json_string_value(r), "");
        }
        json_object_foreach((json_t *)v, k, x)
        {
            json_t *ps = json_object_get(props, k);
            snprintf(sub, sizeof(sub), "%s.%s", path, k);
            if (ps)
                check(root, ps, x, sub);
            else if (json_is_false(addl))
                report(path, "property '%s' is not allowed%s", k, "");
            else if (json_is_object(addl))
                check(root, addl, x, sub);
        }
    }
    if (json_is_array(v) && (x = json_object_get(s, "items")) != NULL) {
        size_t i;
        json_t *el;
        json_array_foreach(v, i, el)
        {
            snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
            check(root, x, el, sub);
        }
    }
}

int main(int argc, char **argv)
{
    int lines = 0, a = 1;
    const char *slash;
    json_t *schema;
    FILE *in = stdin;
    json_error_t je;

    if (a < argc && strcmp(argv[a], "-lines") == 0) {
        lines = 1;
        a++;
    }
    if (a >= argc) {
        fprintf(stderr, "usage: jsonschema_check [-lines] SCHEMA [FILE]\n");
        return 2;
    }
    slash = strrchr(argv[a], '/');
    snprintf(schema_dir, sizeof(schema_dir), "%.*s", slash ? (int)(slash - argv[a]) : 1,
             slash ? argv[a] : ".");
    loaded = json_object();
    schema = load_schema(slash ? slash + 1 : argv[a]);
    if (a + 1 < argc && (in = fopen(argv[a + 1], "r")) == NULL) {
        perror(argv[a + 1]);
        return 2;
    }
    if (lines) {
        char *line = NULL;
        size_t cap = 0, n = 0;
        while (getline(&line, &cap, in) > 0) {
            json_t *v = jsonw_loadb(line, strlen(line), 0, &je);
            char path[64];
            n++;
            snprintf(path, sizeof(path), "line %zu", n);
            if (v == NULL) {
                report(path, "not JSON: %s%s", je.text, "");
                continue;
            }
            check(schema, schema, v, path);
            json_decref(v);
        }
        free(line);
        if (n == 0)
            report("", "no lines%s%s", "", "");
    } else {
        json_t *v = load_all(in, &je);
        if (v == NULL) {
            fprintf(stderr, "not JSON: %d: %s\n", je.line, je.text);
            return 1;
        }
        check(schema, schema, v, "");
        json_decref(v);
    }
    json_decref(loaded);
    return failures ? 1 : 0;
}
