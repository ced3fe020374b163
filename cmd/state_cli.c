#include "cmd/state_cli.h"

#include <stdlib.h>
#include <string.h>

#include "cmd/cli.h"
#include "util/error.h"
#include "util/banned.h"

int state_cli_open(struct state_cli *sc, const char *path)
{
    struct errbuf err = ERRBUF_INIT;

    memset(sc, 0, sizeof(*sc));
    backend_config_from_env(&sc->cfg, path);
    if (backend_config_open(&sc->be, &sc->keys, &sc->cfg, &err) < 0) {
        cli_error("%s", err.msg);
        return EXIT_FAIL;
    }
    return EXIT_OK;
}

void state_cli_close(struct state_cli *sc)
{
    state_backend_free(sc->be);
    sc->be = NULL;
    crypt_keys_release(&sc->keys);
}

long state_cli_parse_duration_ms(const char *s)
{
    char *end;
    double v;

    if (s == NULL || *s == '\0')
        return -1;
    v = strtod(s, &end);
    if (end == s || v < 0 || v > 86400.0 * 1000)
        return -1;
    if (strcmp(end, "ms") == 0)
        return (long)v;
    if (*end == '\0' || strcmp(end, "s") == 0)
        return (long)(v * 1000);
    if (strcmp(end, "m") == 0)
        return (long)(v * 60000);
    if (strcmp(end, "h") == 0)
        return (long)(v * 3600000);
    return -1;
}

/* Walks a JSON pointer ("/a/b/0") and replaces the target with a marker. */
static void redact_path(json_t *root, const char *path)
{
    json_t *cur = root, *parent = NULL;
    char key[512];
    const char *p = path;

    if (*p != '/')
        return;
    while (*p == '/') {
        size_t n = 0;
        p++;
        while (*p && *p != '/' && n + 1 < sizeof(key)) {
            if (p[0] == '~' && p[1] == '1') {
                key[n++] = '/';
                p += 2;
            } else if (p[0] == '~' && p[1] == '0') {
                key[n++] = '~';
                p += 2;
            } else {
                key[n++] = *p++;
            }
        }
        key[n] = '\0';
        parent = cur;
        if (json_is_object(cur)) {
            cur = json_object_get(cur, key);
        } else if (json_is_array(cur)) {
            char *end;
            long i = strtol(key, &end, 10);
            cur = *end == '\0' && i >= 0 ? json_array_get(cur, (size_t)i) : NULL;
        } else {
            cur = NULL;
        }
        if (cur == NULL)
            return;
        if (*p == '\0') {
            if (json_is_object(parent))
                json_object_set_new(parent, key, json_string("(sensitive)"));
            else
                json_array_set_new(parent, (size_t)strtol(key, NULL, 10),
                                   json_string("(sensitive)"));
            return;
        }
    }
}

json_t *state_cli_redacted(struct state_resource *r, struct errbuf *err)
{
    json_t *attrs, *copy;
    size_t i;
    json_t *v;
    if (state_resource_attributes(&attrs, r, err) < 0)
        return NULL;
    copy = json_deep_copy(attrs);
    if (copy == NULL) {
        errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
        return NULL;
    }
    json_array_foreach(r->sensitive, i, v)
    {
        redact_path(copy, json_string_value(v));
    }
    return copy;
}
