/* amlsec check [DIR | -plan FILE] [-policy FILE|DIR]... : the CI gate.
 * The rule catalogue and Azure Policy definitions against the ARM request
 * of every resource, offline. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cmd/check.h"
#include "cmd/cli.h"
#include "cmd/commands.h"
#include "cmd/load.h"
#include "cmd/planfile.h"
#include "cmd/reports.h"
#include "cmd/session.h"
#include "engine/findings.h"
#include "engine/plan.h"
#include "engine/policy.h"
#include "engine/policy_check.h"
#include "engine/report.h"
#include "engine/rules.h"
#include "providers/arm/arm_client.h"
#include "providers/arm/render.h"
#include "providers/arm/schema.h"
#include "util/error.h"
#include "util/fileio.h"
#include "util/strmap.h"
#include "util/jsonw.h"
#include "util/banned.h"

#define MAX_POLICY_ARGS 64
#define DEFINITIONS_API "2023-04-01"
#define PROVIDERS_API "2021-04-01"
#define ASSIGNMENT_SEG "/providers/Microsoft.Authorization/policyAssignments/"

struct check_cli {
    struct load_args la;
    const char *dir;
    const char *plan_path;
    const char *policy_paths[MAX_POLICY_ARGS];
    size_t npolicy;
    const char *aliases_path;
    const char *cloud;
    const char *state_path;
    int fail_on; /* enum finding_level, or -1 for never */
    int json, color;
    struct report_files rf;
};

/* Definitions by name (the GUID of a built-in; the last segment of an id). */
struct defs {
    json_t *by_key;        /* lowercase key -> definition */
    json_t *explicit_keys; /* keys given with -policy, in order */
};

/* A subject whose change's body is still its text (a plan read for show):
 * parsed when a policy may look at it (read_bodies). */
struct unread_body {
    size_t subject;
    struct plan_change *change;
};

/* Everything the run owns. */
struct run {
    struct check_cli *cli;
    struct config *cfg;
    struct plan *plan;
    struct state *st;    /* -plan: the state the plan was made against, or NULL */
    struct state st_own; /* check -plan's own (st points at it) */
    struct render_list reqs;
    struct policy_subject *subjects;
    size_t nsubjects;
    json_t *hold;               /* JSON the subjects borrow (array) */
    struct unread_body *unread; /* subjects whose body waits (read_bodies) */
    size_t nunread;
    struct finding_list findings;
    struct defs defs;
    struct policy_aliases *aliases;
    struct session session;
    bool session_open;
    struct arm_client *client; /* the session's, or the caller's (plan) */
    bool quiet;                /* plan: missing aliases are a warning, not an error */
    char cache_dir[4096];
};

static void lower_key(char *dst, size_t size, const char *id)
{
    const char *slash = strrchr(id, '/');
    size_t i;
    id = slash ? slash + 1 : id;
    for (i = 0; id[i] && i + 1 < size; i++)
        dst[i] = (char)(id[i] >= 'A' && id[i] <= 'Z' ? id[i] + 32 : id[i]);
    dst[i] = '\0';
}

static const char *def_key_of(const json_t *doc, char *buf, size_t size)
{
    const char *name = json_string_value(json_object_get(doc, "name"));
    if (name == NULL)
        name = json_string_value(json_object_get(doc, "id"));
    if (name == NULL)
        return NULL;
    lower_key(buf, size, name);
    return buf;
}

static int defs_add_file(struct defs *d, const char *path, bool is_explicit)
{
    json_error_t je;
    json_t *doc = json_load_file(path, 0, &je);
    char key[256];
    if (doc == NULL) {
        cli_error("%s:%d:%d: %s", path, je.line, je.column, je.text);
        return -1;
    }
    if (!json_is_object(json_object_get(doc, "properties")) &&
        !json_is_object(json_object_get(doc, "policyRule"))) {
        cli_error("%s: not a policy definition (no properties.policyRule)", path);
        json_decref(doc);
        return -1;
    }
    if (def_key_of(doc, key, sizeof(key)) == NULL) {
        /* a bare definition: named after its file */
        char base[256];
        const char *slash = strrchr(path, '/');
        snprintf(base, sizeof(base), "%s", slash ? slash + 1 : path);
        if (strlen(base) > 5 && strcmp(base + strlen(base) - 5, ".json") == 0)
            base[strlen(base) - 5] = '\0';
        json_object_set_new(doc, "name", json_string(base));
        lower_key(key, sizeof(key), base);
    }
    json_object_set_new(d->by_key, key, doc);
    if (is_explicit)
        json_array_append_new(d->explicit_keys, json_string(key));
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int defs_add_path(struct defs *d, const char *path)
{
    struct stat st;
    DIR *dir;
    struct dirent *e;
    char *names[4096];
    size_t n = 0;
    int rc = 0;

    if (stat(path, &st) < 0) {
        cli_error("-policy %s: no such file or directory", path);
        return -1;
    }
    if (!S_ISDIR(st.st_mode))
        return defs_add_file(d, path, true);
    dir = opendir(path);
    if (dir == NULL) {
        cli_error("-policy %s: cannot open the directory", path);
        return -1;
    }
    while ((e = readdir(dir)) != NULL && n < sizeof(names) / sizeof(names[0])) {
        size_t len = strlen(e->d_name);
        if (len > 5 && strcmp(e->d_name + len - 5, ".json") == 0)
            names[n++] = strdup(e->d_name);
    }
    closedir(dir);
    qsort(names, n, sizeof(names[0]), cmp_str);
    for (size_t i = 0; i < n; i++) {
        char full[4096];
        snprintf(full, sizeof(full), "%s/%s", path, names[i]);
        if (rc == 0)
            rc = defs_add_file(d, full, true);
        free(names[i]);
    }
    return rc;
}

/* ---- subjects ------------------------------------------------------------- */

static const char *id_of_url(const char *url, char *buf, size_t size)
{
    const char *p = strstr(url, "://"), *q;
    size_t n;
    p = p ? strchr(p + 3, '/') : url;
    if (p == NULL)
        return NULL;
    q = strchr(p, '?');
    n = q ? (size_t)(q - p) : strlen(p);
    if (n >= size)
        return NULL;
    memcpy(buf, p, n);
    buf[n] = '\0';
    return buf;
}

static const char *last_segment(const char *id)
{
    const char *s = id ? strrchr(id, '/') : NULL;
    return s ? s + 1 : id;
}

/* Keeps s alive as long as the run (the subjects borrow it). */
static const char *hold_str(struct run *r, const char *s)
{
    json_t *v = json_string(s ? s : "");
    json_array_append_new(r->hold, v);
    return json_string_value(v);
}

static int grow_subjects(struct run *r, size_t need)
{
    struct policy_subject *s = realloc(r->subjects, need * sizeof(*s));
    if (s == NULL)
        return -1;
    r->subjects = s;
    return 0;
}

static struct src_loc block_loc(const struct cfg_resource *res)
{
    struct src_loc none = {0};
    if (res->block == NULL || res->block->type_loc.file == NULL)
        return none;
    return src_loc_make(res->block->type_loc.file, res->block->type_loc.begin,
                        res->block->open_loc.end ? res->block->open_loc.end
                                                 : res->block->type_loc.end);
}

static int subjects_from_config(struct run *r)
{
    struct errbuf err = ERRBUF_INIT;
    const struct config *cfg = r->cfg;
    size_t total = 0;

    for (size_t i = 0; i < cfg->nresources; i++)
        total += cfg->resources[i].ninstances;
    if (grow_subjects(r, total ? total : 1) < 0)
        return -1;
    for (size_t i = 0; i < cfg->nresources; i++) {
        const struct cfg_resource *res = &cfg->resources[i];
        const struct schema_kind *k = schema_find(res->kind);
        if (res->existing || k == NULL)
            continue;
        for (size_t j = 0; j < res->ninstances; j++) {
            const struct cfg_instance *inst = &res->instances[j];
            size_t before = r->reqs.n;
            char idbuf[2048];
            const char *id;
            struct policy_subject *s;
            /* the body as sent, sensitive values in it (a definition may decide
             * on one): the findings withhold them (secret_paths) */
            if (render_instance(&r->reqs, cfg, inst, false, &err) < 0) {
                cli_error("%s: %s", inst->address, err.msg);
                return -1;
            }
            for (size_t q = before; q < r->reqs.n; q++) {
                const struct render_request *req = &r->reqs.items[q];
                if (req->body == NULL || strcmp(req->method, "PUT") != 0)
                    continue;
                id = id_of_url(req->url, idbuf, sizeof(idbuf));
                s = &r->subjects[r->nsubjects++];
                memset(s, 0, sizeof(*s));
                s->address = inst->address;
                s->res.id = hold_str(r, id);
                s->res.name = last_segment(s->res.id);
                s->res.type = k->arm.type;
                s->res.api_version = k->arm.api_version;
                s->res.body = req->body;
                s->res.now = (long long)time(NULL);
                s->res.not_indexed = !k->located;
                s->loc = block_loc(res);
                s->secret_paths = inst->sensitive;
                s->secret_values = inst->attrs;
                break; /* one request per instance */
            }
        }
    }
    return 0;
}

static int subjects_from_plan(struct run *r)
{
    const struct plan *p = r->plan;
    struct strmap where; /* instance address -> resource (for locations) */
    strmap_init(&where, false);
    for (size_t ri = 0; r->cfg && ri < r->cfg->nresources; ri++)
        for (size_t j = 0; j < r->cfg->resources[ri].ninstances; j++)
            strmap_put(&where, r->cfg->resources[ri].instances[j].address, ri);
    if (grow_subjects(r, p->n ? p->n : 1) < 0) {
        strmap_release(&where);
        return -1;
    }
    for (size_t i = 0; i < p->n; i++) {
        struct plan_change *c = &p->changes[i];
        struct policy_subject *s;
        if ((c->body == NULL && c->body_text == NULL) || c->action == PLAN_DELETE ||
            c->arm_type == NULL)
            continue;
        if (c->body == NULL) {
            if (r->unread == NULL && (r->unread = calloc(p->n, sizeof(*r->unread))) == NULL) {
                strmap_release(&where);
                return -1;
            }
            r->unread[r->nunread++] = (struct unread_body){r->nsubjects, c};
        }
        s = &r->subjects[r->nsubjects++];
        memset(s, 0, sizeof(*s));
        s->address = c->address;
        s->res.id = c->arm_id;
        s->res.name = last_segment(c->arm_id);
        s->res.type = c->arm_type;
        s->res.api_version = c->api_version;
        s->res.body = c->body;
        s->res.now = (long long)time(NULL);
        s->res.not_indexed = schema_find(c->kind) && !schema_find(c->kind)->located;
        s->secret_paths = c->sensitive;
        s->secret_values = c->after;
        {
            size_t ri;
            if (strmap_get(&where, c->address, &ri))
                s->loc = block_loc(&r->cfg->resources[ri]);
        }
    }
    strmap_release(&where);
    return 0;
}

/* The bodies subjects_from_plan left as text, parsed: those of policy
 * resources (definitions and assignments are read before any policy is
 * evaluated), or every one. -1 when one is not JSON. */
static int read_bodies(struct run *r, bool policy_resources_only)
{
    static const char authorization[] = "Microsoft.Authorization/";
    for (size_t i = 0; i < r->nunread; i++) {
        struct unread_body *u = &r->unread[i];
        struct policy_subject *s = &r->subjects[u->subject];
        if (s->res.body || (policy_resources_only && strncasecmp(s->res.type, authorization,
                                                                 sizeof(authorization) - 1) != 0))
            continue;
        if ((s->res.body = plan_change_body(u->change)) == NULL)
            return -1;
    }
    return 0;
}

/* -plan: what the state holds and the plan leaves alone stays in Azure.
 * Those resources become related-only subjects (an existence condition
 * finds the diagnostic setting applied last month); the policy
 * assignments among them stay in effect (list_assignments). */
static int subjects_from_state(struct run *r, struct strmap *in_plan)
{
    struct errbuf err = ERRBUF_INIT;
    for (size_t i = 0; i < r->plan->n; i++)
        if (strmap_put(in_plan, r->plan->changes[i].address, i) < 0)
            return -1;
    if (r->st == NULL)
        return 0;
    if (grow_subjects(r, r->nsubjects + r->st->nresources + 1) < 0)
        return -1;
    for (size_t i = 0; i < r->st->nresources; i++) {
        struct state_resource *sr = &r->st->resources[i];
        const struct schema_kind *k = schema_find(sr->kind);
        json_t *attrs = NULL;
        struct policy_subject *s;
        size_t dummy;
        if (k == NULL || strmap_get(in_plan, sr->address, &dummy) ||
            state_resource_attributes(&attrs, sr, &err) < 0 || attrs == NULL)
            continue;
        s = &r->subjects[r->nsubjects++];
        memset(s, 0, sizeof(*s));
        s->address = sr->address;
        s->res.id = sr->arm_id;
        s->res.name = last_segment(sr->arm_id);
        s->res.type = k->arm.type;
        s->res.api_version = sr->api_version ? sr->api_version : k->arm.api_version;
        s->res.body = attrs; /* as Azure returned it: what an existence condition reads */
        s->res.not_indexed = !k->located;
        s->related_only = true;
    }
    return 0;
}

/* A saved plan's source locations (its configuration: per block, where it
 * is written): findings without one get their resource's block. */
static void locate_from_plan(struct finding_list *l, const json_t *configuration)
{
    struct strmap where;
    size_t i;
    const json_t *c;
    if (!json_is_array(configuration))
        return;
    strmap_init(&where, false);
    json_array_foreach(configuration, i, c)
    {
        const char *a = json_string_value(json_object_get(c, "address"));
        if (a && json_is_object(json_object_get(c, "source")))
            strmap_put(&where, a, i);
    }
    for (size_t k = 0; k < l->n; k++) {
        struct finding *f = &l->items[k];
        char block[2048];
        size_t n, at;
        const json_t *src;
        if (f->file || f->address == NULL)
            continue;
        n = strcspn(f->address, "["); /* an instance: its block */
        if (n >= sizeof(block))
            continue;
        memcpy(block, f->address, n);
        block[n] = '\0';
        if (!strmap_get(&where, block, &at))
            continue;
        src = json_object_get(json_array_get(configuration, at), "source");
        if (!json_is_string(json_object_get(src, "file")))
            continue;
        f->file = strdup(json_string_value(json_object_get(src, "file")));
        f->line = (unsigned)json_integer_value(json_object_get(src, "line"));
        f->col = (unsigned)json_integer_value(json_object_get(src, "column"));
        f->end_line = (unsigned)json_integer_value(json_object_get(src, "end_line"));
        f->end_col = (unsigned)json_integer_value(json_object_get(src, "end_column"));
    }
    strmap_release(&where);
}

/* ---- definitions and aliases: files, the cache, ARM ------------------------ */

static int arm_get(struct run *r, const char *path, const char *api, json_t **out)
{
    struct arm_call call;
    json_error_t je;
    int rc;
    memset(&call, 0, sizeof(call));
    call.method = "GET";
    call.url = path;
    call.api_version = api;
    rc = arm_client_call(r->client, &call);
    if (rc == 0) {
        *out = json_loadb(call.response ? call.response : "", call.response_len, 0, &je);
        if (*out == NULL)
            rc = AMLSEC_EPARSE;
    } else if (rc != AMLSEC_ENOTFOUND && r->quiet) {
        cli_warn("Azure Policy: GET %s: %s", path, call.err.msg); /* plan goes on */
    } else if (rc != AMLSEC_ENOTFOUND) {
        cli_error("GET %s: %s", path, call.err.msg);
    }
    arm_call_release(&call);
    return rc;
}

static bool open_cloud(struct run *r)
{
    struct session_opts so;
    if (r->client)
        return true;
    if (r->cli->cloud == NULL)
        return false;
    memset(&so, 0, sizeof(so));
    so.cloud = r->cli->cloud;
    so.state_path = r->cli->state_path;
    so.operation = "check";
    so.need_cloud = true;
    if (session_open(&r->session, &so, r->cfg) != EXIT_OK)
        return false;
    r->session_open = true;
    r->client = r->session.client;
    return true;
}

static void cache_path(const struct run *r, char *buf, size_t size, const char *what)
{
    if (snprintf(buf, size, "%s/%s", r->cache_dir, what) >= (int)size)
        buf[0] = '\0'; /* too long: no cache */
}

static void cache_write(const struct run *r, const char *what, const json_t *doc)
{
    char path[8192];
    char *text = jsonw_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);
    struct errbuf err = ERRBUF_INIT;
    cache_path(r, path, sizeof(path), what);
    if (text == NULL || file_mkdir_parents(path, &err) < 0 ||
        file_write_atomic(path, text, strlen(text), 0644, &err) < 0)
        cli_warn("cannot cache %s: %s", path, err.msg);
    free(text);
}

/* The configuration's own policy_definition resources (their request
 * bodies): an assignment of one is evaluated before either exists in Azure. */
static void defs_from_subjects(struct run *r)
{
    for (size_t i = 0; i < r->nsubjects; i++) {
        const struct policy_subject *s = &r->subjects[i];
        const json_t *props = json_object_get(s->res.body, "properties");
        char key[256];
        bool set = s->res.type &&
                   strcasecmp(s->res.type, "Microsoft.Authorization/policySetDefinitions") == 0 &&
                   json_is_array(json_object_get(props, "policyDefinitions"));
        if (!set && (s->res.type == NULL ||
                     strcasecmp(s->res.type, "Microsoft.Authorization/policyDefinitions") != 0 ||
                     !json_is_object(json_object_get(props, "policyRule"))))
            continue;
        if (s->res.id == NULL)
            continue;
        lower_key(key, sizeof(key), s->res.id);
        json_object_set_new(r->defs.by_key, key,
                            json_pack("{s:s, s:s, s:O}", "name", s->res.name ? s->res.name : key,
                                      "id", s->res.id, "properties", props));
    }
}

/* The definition an assignment names, from -policy, the cache or ARM. */
static const json_t *definition_for(struct run *r, const char *def_id)
{
    char key[256], path[4096], what[512];
    json_t *doc;

    lower_key(key, sizeof(key), def_id);
    doc = json_object_get(r->defs.by_key, key);
    if (doc)
        return doc;
    snprintf(what, sizeof(what), "definitions/%s.json", key);
    cache_path(r, path, sizeof(path), what);
    if (access(path, R_OK) == 0 && defs_add_file(&r->defs, path, false) == 0)
        return json_object_get(r->defs.by_key, key);
    if (!open_cloud(r))
        return NULL;
    if (strchr(def_id, '/') != NULL) {
        snprintf(path, sizeof(path), "%s", def_id);
    } else {
        snprintf(path, sizeof(path), "/providers/Microsoft.Authorization/policyDefinitions/%s",
                 def_id);
    }
    if (arm_get(r, path, DEFINITIONS_API, &doc) < 0)
        return NULL;
    cache_write(r, what, doc);
    json_object_set_new(r->defs.by_key, key, doc);
    return doc;
}

static int load_aliases_file(struct run *r, const char *path)
{
    struct buf b;
    struct errbuf err = ERRBUF_INIT;
    int rc;
    buf_init(&b, (size_t)128 << 20);
    rc = file_read_all(&b, path, (size_t)128 << 20, &err);
    if (rc == 0) {
        size_t i = 0;
        while (i < b.len && (b.ptr[i] == ' ' || b.ptr[i] == '\n' || b.ptr[i] == '\r'))
            i++;
        if (i < b.len && b.ptr[i] == '{') {
            json_error_t je;
            json_t *doc = json_loadb(b.ptr, b.len, 0, &je);
            if (doc == NULL)
                rc = errbuf_set(&err, AMLSEC_EPARSE, "%s:%d:%d: %s", path, je.line, je.column,
                                je.text);
            else
                rc = policy_aliases_load_providers(r->aliases, doc, &err);
            json_decref(doc);
        } else {
            rc = policy_aliases_load_csv(r->aliases, b.ptr, b.len, path, &err);
        }
    }
    buf_release(&b);
    if (rc < 0)
        cli_error("aliases: %s", err.msg);
    return rc;
}

static int namespace_of(const char *type, char *buf, size_t size)
{
    const char *slash = type ? strchr(type, '/') : NULL;
    if (slash == NULL || (size_t)(slash - type) >= size)
        return -1;
    memcpy(buf, type, (size_t)(slash - type));
    buf[slash - type] = '\0';
    return 0;
}

/* -aliases FILE, else the cache, else ARM's providers API for the
 * namespaces of the resources (cached). */
static int load_aliases(struct run *r)
{
    char path[8192];
    json_t *all, *seen;
    int rc = 0;

    if (policy_aliases_new(&r->aliases) < 0)
        return -1;
    if (r->cli->aliases_path)
        return load_aliases_file(r, r->cli->aliases_path);
    cache_path(r, path, sizeof(path), "aliases.json");
    if (access(path, R_OK) == 0)
        return load_aliases_file(r, path);
    if (!open_cloud(r)) {
        if (r->quiet)
            cli_warn("Azure Policy not evaluated: no provider aliases cached (run 'amlsec check "
                     "-cloud NAME' once, or see docs/policy.md)");
        else
            cli_error("evaluating Azure Policy needs the provider aliases: pass -aliases FILE "
                      "(alias,defaultPath CSV or ARM's providers JSON) or -cloud to read them");
        return -1;
    }
    all = json_array();
    seen = json_object();
    for (size_t i = 0; i < r->nsubjects && rc == 0; i++) {
        char ns[256], url[512];
        json_t *doc;
        struct errbuf err = ERRBUF_INIT;
        if (namespace_of(r->subjects[i].res.type, ns, sizeof(ns)) < 0 || json_object_get(seen, ns))
            continue;
        json_object_set_new(seen, ns, json_true());
        snprintf(url, sizeof(url), "/providers/%s?$expand=resourceTypes/aliases", ns);
        rc = arm_get(r, url, PROVIDERS_API, &doc);
        if (rc == AMLSEC_ENOTFOUND) {
            rc = 0;
            continue;
        }
        if (rc == 0) {
            rc = policy_aliases_load_providers(r->aliases, doc, &err);
            if (rc < 0)
                cli_error("aliases of %s: %s", ns, err.msg);
            json_array_append_new(all, doc);
        }
    }
    if (rc == 0) {
        json_t *cached = json_pack("{s:o}", "value", all);
        cache_write(r, "aliases.json", cached);
        json_decref(cached);
    } else {
        json_decref(all);
    }
    json_decref(seen);
    return rc;
}

/* ---- bindings ------------------------------------------------------------------ */

struct binding_set {
    struct policy_binding *items;
    struct policy **policies;
    size_t n, cap;
};

static int binding_add(struct binding_set *bs, const json_t *def, const json_t *params,
                       const char *assignment, const char *scope, const json_t *not_scopes,
                       bool enforce, struct errbuf *err)
{
    struct policy *p;
    if (policy_prepare(&p, def, params, err) < 0)
        return -1;
    if (bs->n == bs->cap) {
        size_t cap = bs->cap ? bs->cap * 2 : 16;
        struct policy_binding *items = realloc(bs->items, cap * sizeof(*items));
        struct policy **pols;
        if (items == NULL) {
            policy_free(p);
            return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
        }
        bs->items = items;
        pols = realloc(bs->policies, cap * sizeof(*pols));
        if (pols == NULL) {
            policy_free(p);
            return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
        }
        bs->policies = pols;
        bs->cap = cap;
    }
    bs->policies[bs->n] = p;
    bs->items[bs->n] = (struct policy_binding){p, assignment, scope, not_scopes, enforce};
    bs->n++;
    return 0;
}

static void binding_set_release(struct binding_set *bs)
{
    for (size_t i = 0; i < bs->n; i++)
        policy_free(bs->policies[i]);
    free(bs->items);
    free(bs->policies);
}

/* A policy_assignment: from the configuration (rendered for its id), or
 * from a saved plan's changes. */
struct assignment {
    const char *address;
    const json_t *attrs;
    const char *id;
    struct src_loc loc;
};

/* A finding about the assignment itself (its definition cannot be had, or
 * its parameters do not fit). */
static void assignment_problem(struct run *r, const struct assignment *a, enum finding_level lv,
                               const char *def_id, const char *msg)
{
    struct finding *f = finding_add(&r->findings, FINDING_POLICY, lv, def_id, msg);
    if (f == NULL)
        return;
    finding_set_loc(f, &a->loc);
    f->address = strdup(a->address);
    f->verdict = strdup(lv == FINDING_INFO ? "not_evaluable" : "error");
}

static int list_assignments(struct run *r, struct assignment **out, size_t *n)
{
    struct errbuf err = ERRBUF_INIT;
    size_t cap = 0;
    *out = NULL;
    *n = 0;
    if (r->cfg) {
        for (size_t ri = 0; ri < r->cfg->nresources; ri++) {
            const struct cfg_resource *res = &r->cfg->resources[ri];
            if (strcmp(res->kind, "policy_assignment") != 0 || res->existing)
                continue;
            for (size_t j = 0; j < res->ninstances; j++) {
                struct render_list one;
                char idbuf[2048];
                const char *id = NULL;
                render_list_init(&one);
                if (render_instance(&one, r->cfg, &res->instances[j], true, &err) == 0 && one.n > 0)
                    id = id_of_url(one.items[0].url, idbuf, sizeof(idbuf));
                if (*n == cap) {
                    struct assignment *a = realloc(*out, (cap = cap ? cap * 2 : 8) * sizeof(*a));
                    if (a == NULL) {
                        render_list_release(&one);
                        return -1;
                    }
                    *out = a;
                }
                (*out)[(*n)++] =
                    (struct assignment){res->instances[j].address, res->instances[j].attrs,
                                        hold_str(r, id), block_loc(res)};
                render_list_release(&one);
            }
        }
        return 0;
    }
    for (size_t i = 0; i < r->plan->n; i++) {
        const struct plan_change *c = &r->plan->changes[i];
        if (strcmp(c->kind, "policy_assignment") != 0 || c->after == NULL)
            continue;
        if (*n == cap) {
            struct assignment *a = realloc(*out, (cap = cap ? cap * 2 : 8) * sizeof(*a));
            if (a == NULL)
                return -1;
            *out = a;
        }
        (*out)[(*n)++] = (struct assignment){c->address, c->after, c->arm_id, {0}};
    }
    /* the state's assignments the plan leaves alone are in effect too */
    for (size_t i = 0; r->st && i < r->nsubjects; i++) {
        const struct policy_subject *s = &r->subjects[i];
        const struct state_resource *sr;
        const struct schema_kind *k;
        json_t *attrs;
        if (!s->related_only || (sr = state_find(r->st, s->address)) == NULL ||
            strcmp(sr->kind, "policy_assignment") != 0 || (k = schema_find(sr->kind)) == NULL)
            continue;
        attrs = render_decode(k, s->res.body);
        if (attrs == NULL)
            continue;
        json_array_append_new(r->hold, attrs);
        if (*n == cap) {
            struct assignment *a = realloc(*out, (cap = cap ? cap * 2 : 8) * sizeof(*a));
            if (a == NULL)
                return -1;
            *out = a;
        }
        (*out)[(*n)++] = (struct assignment){sr->address, attrs, sr->arm_id, {0}};
    }
    return 0;
}

static int collect_bindings(struct run *r, struct binding_set *bs)
{
    struct errbuf err = ERRBUF_INIT;
    json_t *assigned = json_object();
    struct assignment *as = NULL;
    size_t nas = 0, i;
    json_t *k;

    if (list_assignments(r, &as, &nas) < 0) {
        cli_error("out of memory");
        json_decref(assigned);
        return -1;
    }
    for (size_t ai = 0; ai < nas; ai++) {
        const struct assignment *a = &as[ai];
        const char *def_id = json_string_value(json_object_get(a->attrs, "definition")), *cut;
        const json_t *def, *enforce, *members, *m;
        char key[256], scope[2048];
        size_t mi;
        if (def_id == NULL)
            continue;
        def = definition_for(r, def_id);
        if (def == NULL) {
            char msg[1024];
            snprintf(msg, sizeof(msg),
                     "not evaluable offline: the policy definition '%s' is not available; pass "
                     "-policy DIR or -cloud to read it",
                     def_id);
            assignment_problem(r, a, FINDING_INFO, def_id, msg);
            continue;
        }
        cut = a->id ? strcasestr(a->id, ASSIGNMENT_SEG) : NULL;
        snprintf(scope, sizeof(scope), "%.*s", cut ? (int)(cut - a->id) : 0, cut ? a->id : "");
        enforce = json_object_get(a->attrs, "enforce");
        if (policy_set_members(def, &members)) {
            /* an initiative: each member policy, with the parameters the set passes it */
            json_array_foreach(members, mi, m)
            {
                const char *mid = json_string_value(json_object_get(m, "policyDefinitionId"));
                const json_t *mdef = mid ? definition_for(r, mid) : NULL;
                json_t *mparams;
                if (mdef == NULL) {
                    char msg[1024];
                    snprintf(msg, sizeof(msg),
                             "not evaluable offline: the policy definition '%s' of the "
                             "initiative '%s' is not available; pass -policy DIR or -cloud to "
                             "read it",
                             mid ? mid : "(none)", def_id);
                    assignment_problem(r, a, FINDING_INFO, mid ? mid : def_id, msg);
                    continue;
                }
                mparams = policy_set_member_params(def, m, json_object_get(a->attrs, "parameters"));
                if (binding_add(bs, mdef, mparams, a->address, hold_str(r, scope),
                                json_object_get(a->attrs, "not_scopes"), !json_is_false(enforce),
                                &err) < 0)
                    assignment_problem(r, a, FINDING_DENY, mid, err.msg);
                json_decref(mparams);
            }
        } else if (binding_add(bs, def, json_object_get(a->attrs, "parameters"), a->address,
                               hold_str(r, scope), json_object_get(a->attrs, "not_scopes"),
                               !json_is_false(enforce), &err) < 0) {
            assignment_problem(r, a, FINDING_DENY, def_id, err.msg);
            continue;
        }
        lower_key(key, sizeof(key), def_id);
        json_object_set_new(assigned, key, json_true());
    }
    free(as);
    /* -policy definitions nobody assigned: everywhere, default parameters */
    json_array_foreach(r->defs.explicit_keys, i, k)
    {
        const char *key = json_string_value(k);
        if (json_object_get(assigned, key))
            continue;
        if (binding_add(bs, json_object_get(r->defs.by_key, key), NULL, NULL, NULL, NULL, true,
                        &err) < 0) {
            cli_error("-policy: %s", err.msg);
            json_decref(assigned);
            return -1;
        }
    }
    json_decref(assigned);
    return 0;
}

/* ---- rule findings -------------------------------------------------------------- */

/* Gives rule findings the address of the resource block holding them. */
void check_address_findings(struct finding_list *l, const struct config *cfg)
{
    (void)findings_address_by_block(l, cfg);
}

/* JUnit lists every (resource, rule) pair: the rules that look at a
 * resource's kind and found nothing pass. */
void check_rule_passes(struct finding_list *l, const struct config *cfg)
{
    struct strmap seen;
    char key[1024];
    strmap_init(&seen, false);
    for (size_t i = 0; i < l->n; i++) {
        const struct finding *f = &l->items[i];
        if (f->source != FINDING_RULE || f->address == NULL)
            continue;
        snprintf(key, sizeof(key), "%s\n%s", f->address, f->rule_id);
        strmap_put(&seen, key, 1);
    }
    for (size_t ri = 0; ri < cfg->nresources; ri++) {
        const struct cfg_resource *res = &cfg->resources[ri];
        struct src_loc loc = block_loc(res);
        if (res->existing)
            continue;
        for (const struct rule *ru = rules_catalogue; ru->id; ru++) {
            const char *p = ru->kinds;
            size_t kl = strlen(res->kind);
            bool applies = false;
            size_t dummy;
            while (p && (p = strstr(p, res->kind)) != NULL) {
                bool start = p == ru->kinds || p[-1] == ' ' || p[-1] == ',';
                bool end = p[kl] == '\0' || p[kl] == ',' || p[kl] == ' ';
                if (start && end) {
                    applies = true;
                    break;
                }
                p += kl;
            }
            snprintf(key, sizeof(key), "%s\n%s", res->address, ru->id);
            if (!applies || strmap_get(&seen, key, &dummy))
                continue;
            {
                struct finding *f = finding_add(l, FINDING_RULE, FINDING_PASS, ru->id, "passed");
                if (f == NULL)
                    break;
                finding_set_loc(f, &loc);
                f->address = strdup(res->address);
                f->rule_name = strdup(ru->title);
            }
        }
    }
    strmap_release(&seen);
}

static int rule_findings_from_plan(struct run *r)
{
    size_t i;
    const json_t *f;
    json_array_foreach(r->plan->findings, i, f)
    {
        const char *sev = json_string_value(json_object_get(f, "severity"));
        const char *id = json_string_value(json_object_get(f, "rule"));
        const struct rule *ru = id ? rules_find(id) : NULL;
        enum finding_level lv = sev && strcmp(sev, "error") == 0     ? FINDING_DENY
                                : sev && strcmp(sev, "warning") == 0 ? FINDING_AUDIT
                                                                     : FINDING_INFO;
        struct finding *fd = finding_add(&r->findings, FINDING_RULE, lv, id,
                                         json_string_value(json_object_get(f, "message")));
        if (fd == NULL)
            return -1;
        fd->address = json_string_value(json_object_get(f, "address"))
                          ? strdup(json_string_value(json_object_get(f, "address")))
                          : NULL;
        fd->effect = sev ? strdup(sev) : NULL;
        fd->attribute = json_string_value(json_object_get(f, "attribute"))
                            ? strdup(json_string_value(json_object_get(f, "attribute")))
                            : NULL;
        if (ru)
            fd->rule_name = strdup(ru->title);
    }
    return 0;
}

/* ---- output ----------------------------------------------------------------------- */

void check_print_findings(FILE *out, const struct finding_list *l, int max_level, int color)
{
    static const char *const col[] = {"\033[1;31m", "\033[1;33m", "\033[1;36m", ""};
    for (size_t i = 0; i < l->n; i++) {
        const struct finding *f = &l->items[i];
        if (f->level == FINDING_PASS || (int)f->level > max_level)
            continue;
        if (f->file)
            fprintf(out, "%s:%u:%u: ", f->file, f->line, f->col);
        fprintf(out, "%s%s%s: ", color ? col[f->level] : "", finding_level_name(f->level),
                color ? "\033[0m" : "");
        if (f->address)
            fprintf(out, "%s: ", f->address);
        if (f->source == FINDING_POLICY)
            fprintf(out, "policy \"%s\" [%s]\n    %s\n", f->rule_name ? f->rule_name : f->rule_id,
                    f->rule_id, f->message);
        else
            fprintf(out, "%s: %s\n", f->rule_id, f->message);
        if (f->changes) {
            size_t j;
            const json_t *c;
            json_array_foreach(f->changes, j, c)
            {
                char *before = jsonw_dumps(json_object_get(c, "before"), JSON_ENCODE_ANY);
                char *after = jsonw_dumps(json_object_get(c, "after"), JSON_ENCODE_ANY);
                fprintf(out, "    %s %s: %s -> %s\n",
                        json_string_value(json_object_get(c, "operation")),
                        json_string_value(json_object_get(c, "path")), before ? before : "(none)",
                        after ? after : "(none)");
                free(before);
                free(after);
            }
        }
    }
}

static int parse_fail_on(const char *s)
{
    if (strcmp(s, "deny") == 0)
        return FINDING_DENY;
    if (strcmp(s, "audit") == 0)
        return FINDING_AUDIT;
    if (strcmp(s, "never") == 0)
        return -1;
    return -2;
}

static int run_check(struct run *r)
{
    struct check_cli *cli = r->cli;
    struct diag_list diags, rdiags;
    struct errbuf err = ERRBUF_INIT;
    struct binding_set bs = {0};
    struct policy_check_stats stats = {0};
    struct report_meta meta = {"check", AMLSEC_VERSION, NULL};
    int rc, exit_code = EXIT_FAIL;
    bool failing;

    diag_list_init(&diags);
    diag_list_init(&rdiags);
    if (cli->plan_path) {
        struct state_cli sc;
        if (state_cli_open(&sc, cli->state_path, NULL, NULL, cli->color) != EXIT_OK)
            goto out;
        const char *plan_key = getenv("AMLSEC_PLAN_KEY");
        rc = planfile_read(&r->plan, NULL, cli->plan_path, &sc.keys,
                           plan_key && *plan_key ? plan_key : NULL, NULL, &err);
        if (rc == 0) {
            /* what the plan leaves alone: the state it was made against */
            int existed = 0;
            rc = state_backend_load(&r->st_own, &existed, sc.be, &sc.keys, &err);
            if (rc == 0) {
                r->st = &r->st_own;
                if (existed && (strcmp(r->st->lineage, r->plan->lineage) != 0 ||
                                r->st->serial != r->plan->serial))
                    cli_warn("the state changed since %s was made (apply will refuse it); the "
                             "assignments it leaves alone are taken from the state as it is now",
                             cli->plan_path);
                else if (!existed && r->plan->serial > 0)
                    cli_warn("no state here, but %s was made against one: the assignments and "
                             "resources it leaves alone are not seen (run check where the "
                             "configuration's settings name the state, or pass -state)",
                             cli->plan_path);
            }
        }
        state_cli_close(&sc);
        if (rc < 0) {
            cli_error("%s", err.msg);
            goto out;
        }
        snprintf(r->cache_dir, sizeof(r->cache_dir), ".amlsec/policy");
        {
            struct strmap in_plan;
            strmap_init(&in_plan, false);
            rc = subjects_from_plan(r) < 0 || subjects_from_state(r, &in_plan) < 0 ||
                         rule_findings_from_plan(r) < 0
                     ? -1
                     : 0;
            strmap_release(&in_plan);
            if (rc < 0)
                goto out;
        }
        meta.plan = r->plan;
    } else {
        rc = load_config_checked(&r->cfg, cli->dir, &cli->la, LOAD_SCHEMA, &diags, &err);
        if (rc < 0) {
            load_report_failure(rc, &diags, &err, cli->color);
            goto out;
        }
        rules_run(r->cfg, &rdiags);
        diag_list_append(&diags, &rdiags);
        if (findings_from_diags(&r->findings, &diags) < 0)
            goto out;
        check_address_findings(&r->findings, r->cfg);
        snprintf(r->cache_dir, sizeof(r->cache_dir), "%s/.amlsec/policy", cli->dir);
        if (subjects_from_config(r) < 0)
            goto out;
    }
    defs_from_subjects(r);
    for (size_t i = 0; i < cli->npolicy; i++)
        if (defs_add_path(&r->defs, cli->policy_paths[i]) < 0)
            goto out;
    if (collect_bindings(r, &bs) < 0)
        goto out;
    if (bs.n > 0) {
        if (load_aliases(r) < 0)
            goto out;
        if (policy_check_run(&r->findings, &stats, r->subjects, r->nsubjects, bs.items, bs.n,
                             r->aliases, reports_wanted(&cli->rf)) < 0) {
            cli_error("out of memory");
            goto out;
        }
    }
    if (r->cfg && cli->rf.junit)
        check_rule_passes(&r->findings, r->cfg);
    if (r->plan)
        locate_from_plan(&r->findings, r->plan->configuration);
    finding_list_sort(&r->findings);

    if (cli->json) {
        json_t *doc = report_json(&r->findings, &meta);
        char *text;
        json_object_set_new(doc, "policies", json_integer((json_int_t)bs.n));
        json_object_set_new(doc, "resources", json_integer((json_int_t)r->nsubjects));
        json_object_set_new(doc, "evaluations", json_integer((json_int_t)stats.evaluations));
        text = jsonw_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        json_decref(doc);
        if (text)
            puts(text);
        free(text);
    } else {
        check_print_findings(stdout, &r->findings, FINDING_INFO, cli->color);
    }
    if (!reports_write(&cli->rf, &r->findings, &meta))
        goto out;
    failing = cli->fail_on >= 0 &&
              (r->findings.count[FINDING_DENY] +
                   (cli->fail_on >= FINDING_AUDIT ? r->findings.count[FINDING_AUDIT] : 0) >
               0);
    if (!cli->json)
        printf("%s: %zu deny, %zu audit, %zu info; %zu policies over %zu resources "
               "(%zu evaluations)%s\n",
               failing ? "Check failed" : "Check passed", r->findings.count[FINDING_DENY],
               r->findings.count[FINDING_AUDIT], r->findings.count[FINDING_INFO], bs.n,
               r->nsubjects, stats.evaluations, cli->fail_on < 0 ? " (-fail-on never)" : "");
    exit_code = failing ? EXIT_CHANGES : EXIT_OK;
out:
    binding_set_release(&bs);
    diag_list_release(&diags);
    diag_list_release(&rdiags);
    return exit_code;
}

int cmd_check(int argc, char **argv, struct cli_ctx *ctx)
{
    const struct command *self = command_find("check");
    static const struct option opts[] = {{"json", no_argument, NULL, 'j'},
                                         {"plan", required_argument, NULL, 'p'},
                                         {"policy", required_argument, NULL, 'P'},
                                         {"aliases", required_argument, NULL, 'A'},
                                         {"fail-on", required_argument, NULL, 'f'},
                                         {"cloud", required_argument, NULL, 'c'},
                                         {"state", required_argument, NULL, 's'},
                                         {"no-color", no_argument, NULL, 'n'},
                                         REPORT_OPTIONS,
                                         LOAD_OPTIONS,
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    struct check_cli cli;
    struct run r;
    int c, exit_code;

    memset(&cli, 0, sizeof(cli));
    cli.dir = ".";
    cli.fail_on = FINDING_DENY;
    cli.color = ctx->color && isatty(STDOUT_FILENO);
    while ((c = cli_getopt(argc, argv, opts, self)) != -1) {
        if (reports_take(&cli.rf, c, optarg))
            continue;
        switch (c) {
        case 'j':
            cli.json = 1;
            break;
        case 'p':
            cli.plan_path = optarg;
            break;
        case 'P':
            if (cli.npolicy == MAX_POLICY_ARGS)
                return cli_usage_error(self, "at most %d -policy flags", MAX_POLICY_ARGS);
            cli.policy_paths[cli.npolicy++] = optarg;
            break;
        case 'A':
            cli.aliases_path = optarg;
            break;
        case 'f':
            cli.fail_on = parse_fail_on(optarg);
            if (cli.fail_on == -2)
                return cli_usage_error(self, "-fail-on takes deny, audit or never, not '%s'",
                                       optarg);
            break;
        case 'c':
            cli.cloud = optarg;
            break;
        case 's':
            cli.state_path = optarg;
            break;
        case 'n':
            cli.color = 0;
            break;
        case 'V':
        case 'F':
            if (!load_args_take(&cli.la, c, optarg, self))
                return EXIT_FAIL;
            break;
        case CLI_HELP:
            fputs(self->usage, stdout);
            return EXIT_OK;
        default:
            return EXIT_FAIL;
        }
    }
    if (optind < argc)
        cli.dir = argv[optind++];
    if (optind < argc)
        return cli_usage_error(self, "unexpected argument '%s'", argv[optind]);
    if (cli.plan_path && strcmp(cli.dir, ".") != 0)
        return cli_usage_error(self, "give either DIR or -plan FILE, not both");

    memset(&r, 0, sizeof(r));
    r.cli = &cli;
    r.hold = json_array();
    r.defs.by_key = json_object();
    r.defs.explicit_keys = json_array();
    render_list_init(&r.reqs);
    finding_list_init(&r.findings);
    exit_code = run_check(&r);
    if (r.session_open)
        session_close(&r.session);
    finding_list_release(&r.findings);
    policy_aliases_free(r.aliases);
    free(r.subjects);
    free(r.unread);
    render_list_release(&r.reqs);
    json_decref(r.hold);
    json_decref(r.defs.by_key);
    json_decref(r.defs.explicit_keys);
    plan_free(r.plan);
    if (r.st)
        state_release(r.st);
    config_free(r.cfg);
    return exit_code;
}

/* The configuration's instances a plan leaves unchanged, as related-only
 * subjects: an existence condition may find them (an existing diagnostic
 * setting), but they are not judged themselves. */
static int unchanged_from_config(struct run *r)
{
    struct errbuf err = ERRBUF_INIT;
    struct strmap planned;
    size_t total = 0;

    strmap_init(&planned, false);
    for (size_t i = 0; i < r->plan->n; i++)
        strmap_put(&planned, r->plan->changes[i].address, i);
    for (size_t i = 0; i < r->cfg->nresources; i++)
        total += r->cfg->resources[i].ninstances;
    if (grow_subjects(r, r->nsubjects + total + 1) < 0) {
        strmap_release(&planned);
        return -1;
    }
    for (size_t i = 0; i < r->cfg->nresources; i++) {
        const struct cfg_resource *res = &r->cfg->resources[i];
        const struct schema_kind *k = schema_find(res->kind);
        if (res->existing || k == NULL)
            continue;
        for (size_t j = 0; j < res->ninstances; j++) {
            const struct cfg_instance *inst = &res->instances[j];
            size_t before = r->reqs.n, dummy;
            char idbuf[2048];
            struct policy_subject *s;
            if (strmap_get(&planned, inst->address, &dummy) ||
                render_instance(&r->reqs, r->cfg, inst, true, &err) < 0 || r->reqs.n == before ||
                r->reqs.items[before].body == NULL)
                continue;
            s = &r->subjects[r->nsubjects++];
            memset(s, 0, sizeof(*s));
            s->address = inst->address;
            s->res.id = hold_str(r, id_of_url(r->reqs.items[before].url, idbuf, sizeof(idbuf)));
            s->res.name = last_segment(s->res.id);
            s->res.type = k->arm.type;
            s->res.api_version = k->arm.api_version;
            s->res.body = r->reqs.items[before].body;
            s->related_only = true;
        }
    }
    strmap_release(&planned);
    return 0;
}

/* Whether the configuration makes a policy assignment (the only source of
 * bindings check_plan_policies has: it passes no -policy definitions). */
static bool config_assigns_policies(const struct config *cfg)
{
    for (size_t i = 0; i < cfg->nresources; i++)
        if (strcmp(cfg->resources[i].kind, "policy_assignment") == 0 &&
            !cfg->resources[i].existing && cfg->resources[i].ninstances > 0)
            return true;
    return false;
}

int check_plan_policies(struct finding_list *out, const struct config *cfg, const struct plan *plan,
                        struct state *st, struct arm_client *client, const char *dir)
{
    struct check_cli cli;
    struct run r;
    struct binding_set bs = {0};
    int rc = -1;

    memset(&cli, 0, sizeof(cli));
    memset(&r, 0, sizeof(r));
    cli.dir = dir;
    r.cli = &cli;
    r.cfg = (struct config *)cfg;
    r.plan = (struct plan *)plan;
    r.client = client;
    r.quiet = true;
    r.hold = json_array();
    r.defs.by_key = json_object();
    r.defs.explicit_keys = json_array();
    finding_list_init(&r.findings);
    snprintf(r.cache_dir, sizeof(r.cache_dir), "%s/.amlsec/policy", dir);
    render_list_init(&r.reqs);
    /* the unchanged instances matter only to an assignment the
     * configuration makes: without one, none is rendered (at 50,000
     * resources, a body each held until the end of the plan) */
    if (subjects_from_plan(&r) < 0 ||
        (cfg && config_assigns_policies(cfg) && unchanged_from_config(&r) < 0))
        goto out;
    if (cfg == NULL && st) {
        /* a saved plan: what the state holds and the plan leaves alone */
        struct strmap in_plan;
        int src;
        strmap_init(&in_plan, false);
        r.st = st;
        src = subjects_from_state(&r, &in_plan);
        strmap_release(&in_plan);
        if (src < 0)
            goto out;
    }
    if (read_bodies(&r, true) < 0)
        goto out;
    defs_from_subjects(&r);
    if (collect_bindings(&r, &bs) < 0 || (bs.n > 0 && read_bodies(&r, false) < 0))
        goto out;
    rc = 0;
    if (bs.n > 0 && load_aliases(&r) == 0 &&
        policy_check_run(&r.findings, NULL, r.subjects, r.nsubjects, bs.items, bs.n, r.aliases,
                         false) < 0)
        rc = -1;
    if (cfg == NULL)
        locate_from_plan(&r.findings, plan->configuration);
    finding_list_sort(&r.findings);
    /* hand the findings over: the strings they hold are their own */
    *out = r.findings;
    finding_list_init(&r.findings);
out:
    binding_set_release(&bs);
    render_list_release(&r.reqs);
    finding_list_release(&r.findings);
    policy_aliases_free(r.aliases);
    free(r.subjects);
    free(r.unread);
    json_decref(r.hold);
    json_decref(r.defs.by_key);
    json_decref(r.defs.explicit_keys);
    return rc;
}
