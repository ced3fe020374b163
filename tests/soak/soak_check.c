/* soak_check: compares what the local cloud holds with amlsec's state after a
 * soak trial and prints the counts the crash and fault soaks add up.
 *
 *   soak_check --mode apply|destroy --store STORE.json --state STATE.json
 *              --expect EXPECT.tsv [--ignore ID-PREFIX]...
 *
 * STORE is GET /_armlocal/state, STATE is `amlsec state pull` (plaintext),
 * EXPECT holds "address<TAB>arm id" for every resource of the configuration
 * (from a clean reference apply). Resources the service makes by itself
 * (private endpoint connections, role assignments of service principals
 * such as a workspace's identity) and the ids under an --ignore prefix (the
 * seeded network) are not amlsec's and are left out.
 *
 * Counts, on stdout as "untracked=N lost=N phantom=N duplicated=N
 * remaining=N" (each problem is named on stderr):
 *   untracked   in the cloud, amlsec's kind, not in the state
 *   lost        apply: in the configuration, not in the cloud
 *   phantom     in the state, not in the cloud
 *   duplicated  a second state entry for one address or one ARM id
 *   remaining   destroy: still in the cloud (tracked or not)
 * Exit 0 when all are 0, 1 when not, 2 on bad input. */
#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/jsonw.h"
#include "util/banned.h"

#define MAX_IGNORE 16

static char *lower(const char *s)
{
    char *d = strdup(s);
    for (char *p = d; p && *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return d;
}

static int starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* A JSON file read as amlsec reads its state (jsonw_loadb: a whole number
 * beyond int64, which the state and the store may hold, is read too). */
static json_t *load_file(const char *path, json_error_t *je)
{
    FILE *f = fopen(path, "rb");
    char *text = NULL;
    size_t len = 0, cap = 0, n;
    json_t *v = NULL;
    memset(je, 0, sizeof(*je));
    if (f == NULL) {
        snprintf(je->text, sizeof(je->text), "cannot open the file");
        return NULL;
    }
    for (;;) {
        if (len == cap) {
            char *t = realloc(text, cap ? cap * 2 : 1 << 16);
            if (t == NULL)
                break;
            text = t;
            cap = cap ? cap * 2 : 1 << 16;
        }
        if ((n = fread(text + len, 1, cap - len, f)) == 0)
            break;
        len += n;
    }
    if (!ferror(f) && text)
        v = jsonw_loadb(text, len, 0, je);
    else
        snprintf(je->text, sizeof(je->text), "cannot read the file");
    fclose(f);
    free(text);
    return v;
}

/* The service's own resources: not amlsec's to track. */
static int service_made(const char *id, json_t *rec)
{
    json_t *body = json_object_get(rec, "body");
    const char *ptype =
        json_string_value(json_object_get(json_object_get(body, "properties"), "principalType"));
    if (strstr(id, "/privateendpointconnections/"))
        return 1;
    if (strstr(id, "/providers/microsoft.authorization/roleassignments/") && ptype &&
        strcmp(ptype, "ServicePrincipal") == 0)
        return 1;
    return 0;
}

int main(int argc, char **argv)
{
    const char *mode = NULL, *store_path = NULL, *state_path = NULL, *expect_path = NULL;
    char *ignore[MAX_IGNORE];
    int nignore = 0;
    json_error_t je;
    json_t *store, *state, *cloud, *resources, *in_state, *seen_addr, *expect, *rec;
    const char *id;
    size_t i;
    int untracked = 0, lost = 0, phantom = 0, duplicated = 0, remaining = 0;
    FILE *f;
    char line[4096];

    for (int a = 1; a + 1 < argc; a += 2) {
        if (strcmp(argv[a], "--mode") == 0)
            mode = argv[a + 1];
        else if (strcmp(argv[a], "--store") == 0)
            store_path = argv[a + 1];
        else if (strcmp(argv[a], "--state") == 0)
            state_path = argv[a + 1];
        else if (strcmp(argv[a], "--expect") == 0)
            expect_path = argv[a + 1];
        else if (strcmp(argv[a], "--ignore") == 0 && nignore < MAX_IGNORE)
            ignore[nignore++] = lower(argv[a + 1]);
        else {
            fprintf(stderr, "soak_check: unknown option '%s'\n", argv[a]);
            return 2;
        }
    }
    if (!mode || !store_path || !state_path || !expect_path ||
        (strcmp(mode, "apply") != 0 && strcmp(mode, "destroy") != 0)) {
        fprintf(stderr, "usage: soak_check --mode apply|destroy --store F --state F --expect F "
                        "[--ignore PREFIX]...\n");
        return 2;
    }
    if ((store = load_file(store_path, &je)) == NULL) {
        fprintf(stderr, "soak_check: %s:%d: %s\n", store_path, je.line, je.text);
        return 2;
    }
    /* an empty file is an empty state (nothing was ever written) */
    f = fopen(state_path, "r");
    if (f && fgetc(f) == EOF) {
        state = json_pack("{s{s[]}}", "state", "resources");
    } else if ((state = load_file(state_path, &je)) == NULL) {
        fprintf(stderr, "soak_check: %s:%d: %s\n", state_path, je.line, je.text);
        return 2;
    }
    if (f)
        fclose(f);
    cloud = json_object_get(store, "resources");
    resources = json_object_get(json_object_get(state, "state"), "resources");
    if (!json_is_object(cloud) || !json_is_array(resources)) {
        fprintf(stderr, "soak_check: unexpected shape of the store or the state\n");
        return 2;
    }

    /* the state: duplicates, phantoms */
    in_state = json_object();
    seen_addr = json_object();
    json_array_foreach(resources, i, rec)
    {
        const char *addr = json_string_value(json_object_get(rec, "address"));
        const char *arm = json_string_value(json_object_get(rec, "arm_id"));
        char *lid;
        if (!addr || !arm) {
            fprintf(stderr, "soak_check: state entry %zu has no address or arm_id\n", i);
            return 2;
        }
        lid = lower(arm);
        if (json_object_get(seen_addr, addr) || json_object_get(in_state, lid)) {
            fprintf(stderr, "duplicated: %s (%s)\n", addr, arm);
            duplicated++;
        }
        json_object_set_new(seen_addr, addr, json_true());
        json_object_set_new(in_state, lid, json_string(addr));
        if (!json_object_get(cloud, lid)) {
            fprintf(stderr, "phantom: %s (%s) is in the state, not in the cloud\n", addr, arm);
            phantom++;
        }
        free(lid);
    }

    /* the configuration */
    expect = json_object();
    if ((f = fopen(expect_path, "r")) == NULL) {
        fprintf(stderr, "soak_check: cannot open '%s'\n", expect_path);
        return 2;
    }
    while (fgets(line, sizeof(line), f)) {
        char *tab = strchr(line, '\t'), *nl = strchr(line, '\n'), *lid;
        if (tab == NULL)
            continue;
        if (nl)
            *nl = '\0';
        *tab = '\0';
        lid = lower(tab + 1);
        json_object_set_new(expect, lid, json_string(line));
        if (strcmp(mode, "apply") == 0 && !json_object_get(cloud, lid)) {
            fprintf(stderr, "lost: %s (%s) is configured, not in the cloud\n", line, tab + 1);
            lost++;
        }
        free(lid);
    }
    fclose(f);

    /* the cloud: untracked, remaining */
    json_object_foreach(cloud, id, rec)
    {
        int skip = service_made(id, rec);
        for (int k = 0; k < nignore && !skip; k++)
            skip = starts_with(id, ignore[k]);
        if (skip)
            continue;
        if (!json_object_get(in_state, id)) {
            json_t *addr = json_object_get(expect, id);
            fprintf(stderr, "untracked: %s (%s) is in the cloud, not in the state\n", id,
                    addr ? json_string_value(addr) : "not in the configuration");
            untracked++;
        }
        if (strcmp(mode, "destroy") == 0) {
            fprintf(stderr, "remaining: %s is still in the cloud after destroy\n", id);
            remaining++;
        }
    }
    printf("untracked=%d lost=%d phantom=%d duplicated=%d remaining=%d\n", untracked, lost, phantom,
           duplicated, remaining);
    json_decref(store);
    json_decref(state);
    json_decref(in_state);
    json_decref(seen_addr);
    json_decref(expect);
    for (int k = 0; k < nignore; k++)
        free(ignore[k]);
    return untracked || lost || phantom || duplicated || remaining ? 1 : 0;
}
