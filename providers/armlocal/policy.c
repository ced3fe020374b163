/* Built-in policy definitions (served from --policy-definitions DIR, JSON
 * as exported from Azure) and provider aliases (from --aliases CSV,
 * "alias,defaultPath" rows), read once at start. */
#include "providers/armlocal/al_internal.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/error.h"
#include "util/fileio.h"
#include "util/banned.h"

static int load_definitions(struct armlocal *al, const char *dir, struct errbuf *err)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int rc = 0;

    if (d == NULL)
        return errbuf_set(err, AMLSEC_ENOTFOUND, "cannot open policy definitions dir '%s'", dir);
    while (rc == 0 && (e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        char path[4096], key[256];
        struct buf b;
        json_error_t je;
        json_t *doc, *name;
        if (n < 6 || strcmp(e->d_name + n - 5, ".json") != 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        buf_init(&b, (size_t)16 << 20);
        rc = file_read_all(&b, path, (size_t)16 << 20, err);
        if (rc == 0) {
            doc = json_loadb(b.ptr, b.len, 0, &je);
            name = json_object_get(doc, "name");
            if (!json_is_object(doc) || !json_is_string(name)) {
                rc = errbuf_set(err, AMLSEC_EPARSE,
                                "policy definition '%s' is not an exported definition: %s", path,
                                doc ? "no \"name\"" : je.text);
            } else {
                al_lower(key, json_string_value(name), sizeof(key));
                if (json_object_get(doc, "type") == NULL)
                    json_object_set_new(doc, "type",
                                        json_string("Microsoft.Authorization/policyDefinitions"));
                json_object_set(al->policy_defs, key, doc);
            }
            json_decref(doc);
        }
        buf_release(&b);
    }
    closedir(d);
    return rc;
}

static int load_aliases(struct armlocal *al, const char *path, struct errbuf *err)
{
    struct buf b;
    char *line, *save = NULL;
    int rc, first = 1;

    buf_init(&b, (size_t)64 << 20);
    rc = file_read_all(&b, path, (size_t)64 << 20, err);
    if (rc < 0) {
        buf_release(&b);
        return rc;
    }
    for (line = strtok_r(b.ptr, "\r\n", &save); line; line = strtok_r(NULL, "\r\n", &save)) {
        char *comma = strchr(line, ','), *slash1, *last;
        char ns[256], rtype[512];
        json_t *nsobj, *list;
        if (first) {
            first = 0;
            if (strncmp(line, "alias,", 6) == 0)
                continue;
        }
        if (comma == NULL)
            continue;
        *comma = '\0';
        slash1 = strchr(line, '/');
        last = strrchr(line, '/');
        if (slash1 == NULL || last == slash1)
            continue;
        snprintf(ns, sizeof(ns), "%.*s", (int)(slash1 - line), line);
        snprintf(rtype, sizeof(rtype), "%.*s", (int)(last - slash1 - 1), slash1 + 1);
        al_lower(ns, ns, sizeof(ns));
        nsobj = json_object_get(al->aliases, ns);
        if (nsobj == NULL) {
            nsobj = json_pack("{s:s, s:{}}", "namespace", "", "types");
            json_object_set_new(nsobj, "namespace", json_stringn(line, (size_t)(slash1 - line)));
            json_object_set_new(al->aliases, ns, nsobj);
        }
        list = json_object_get(json_object_get(nsobj, "types"), rtype);
        if (list == NULL) {
            list = json_array();
            json_object_set_new(json_object_get(nsobj, "types"), rtype, list);
        }
        json_array_append_new(list, json_pack("{s:s, s:[], s:s, s:s, s:{s:s, s:s}}", "name", line,
                                              "paths", "type", "NotSpecified", "defaultPath",
                                              comma + 1, "defaultMetadata", "type", "Untyped",
                                              "attributes", "None"));
    }
    buf_release(&b);
    return 0;
}

int al_policy_load(struct armlocal *al, struct errbuf *err)
{
    int rc = 0;
    al->policy_defs = json_object();
    al->aliases = json_object();
    if (al->opts.policy_definitions_dir)
        rc = load_definitions(al, al->opts.policy_definitions_dir, err);
    if (rc == 0 && al->opts.aliases_csv)
        rc = load_aliases(al, al->opts.aliases_csv, err);
    return rc;
}

void al_policy_definition_get(struct al_ctx *c, const char *name)
{
    char key[256];
    json_t *d;
    al_lower(key, name, sizeof(key));
    d = json_object_get(c->al->policy_defs, key);
    if (d == NULL) {
        al_error(c, 404, "PolicyDefinitionNotFound",
                 "The policy definition '%s' could not be "
                 "found.",
                 name);
        return;
    }
    al_json_reply(c, 200, json_deep_copy(d));
}

void al_provider_get(struct al_ctx *c, const char *ns)
{
    char key[256], id[300];
    json_t *nsobj, *types = json_array(), *v;
    const char *expand = al_query(c->req, "$expand");
    const char *k;
    int with_aliases = expand && strcasestr(expand, "resourceTypes/aliases") != NULL;

    al_lower(key, ns, sizeof(key));
    nsobj = json_object_get(c->al->aliases, key);
    json_object_foreach(json_object_get(nsobj, "types"), k, v)
    {
        json_t *t = json_pack("{s:s, s:[s], s:[]}", "resourceType", k, "locations", "global",
                              "apiVersions");
        if (with_aliases)
            json_object_set(t, "aliases", v);
        json_array_append_new(types, t);
    }
    if (nsobj == NULL) {
        json_decref(types);
        al_error(c, 404, "InvalidResourceNamespace", "The resource namespace '%s' is invalid.", ns);
        return;
    }
    snprintf(id, sizeof(id), "/providers/%s",
             json_string_value(json_object_get(nsobj, "namespace")));
    al_json_reply(c, 200,
                  json_pack("{s:s, s:O, s:s, s:o}", "id", id, "namespace",
                            json_object_get(nsobj, "namespace"), "registrationState", "Registered",
                            "resourceTypes", types));
}
