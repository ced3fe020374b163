/* Drift detection: the planner's refresh through a read-only provider,
 * plus unmanaged objects found through Resource Graph (see drift.h). */
#include "engine/drift.h"

#include <ctype.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "engine/live_rules.h"
#include "providers/arm/arm_provider.h"
#include "providers/arm/graph.h"
#include "providers/arm/schema.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/log.h"
#include "util/strmap.h"
#include "util/banned.h"

#define DIAG_API "2021-05-01-preview"
#define KEYS_API "2025-05-01"
#define COMPUTES_API "2025-09-01"

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* --- .amlsecignore ----------------------------------------------------------- */

void drift_ignore_release(struct drift_ignore *ig)
{
    if (ig == NULL)
        return;
    for (size_t i = 0; i < ig->n; i++) {
        free(ig->items[i].pattern);
        free(ig->items[i].what);
        free(ig->items[i].expires);
        free(ig->items[i].reason);
    }
    free(ig->items);
    free(ig->file);
    memset(ig, 0, sizeof(*ig));
}

static bool is_date(const char *s, size_t n)
{
    static const char shape[] = "dddd-dd-dd";
    if (n != 10)
        return false;
    for (size_t i = 0; i < n; i++)
        if (shape[i] == 'd' ? !isdigit((unsigned char)s[i]) : s[i] != '-')
            return false;
    return strncmp(s + 5, "01", 2) >= 0 && strncmp(s + 5, "12", 2) <= 0 &&
           strncmp(s + 8, "01", 2) >= 0 && strncmp(s + 8, "31", 2) <= 0;
}

int drift_ignore_parse(struct drift_ignore *out, const char *file, const char *text, size_t len,
                       const char *today, unsigned *line, unsigned *col, struct errbuf *err)
{
    size_t pos = 0;
    unsigned no = 0;
    memset(out, 0, sizeof(*out));
    out->file = file ? strdup(file) : NULL;
    while (pos < len) {
        const char *ln = text + pos, *nl = memchr(ln, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - ln) : len - pos, at = 0;
        const char *field[3];
        size_t flen[3];
        struct drift_suppression *grown, *s;
        pos += n + (nl != NULL);
        no++;
        while (n > 0 && (ln[n - 1] == '\r' || ln[n - 1] == ' ' || ln[n - 1] == '\t'))
            n--;
        while (at < n && (ln[at] == ' ' || ln[at] == '\t'))
            at++;
        if (at == n || ln[at] == '#')
            continue;
        for (int f = 0; f < 3; f++) {
            while (at < n && (ln[at] == ' ' || ln[at] == '\t'))
                at++;
            field[f] = ln + at;
            while (at < n && ln[at] != ' ' && ln[at] != '\t')
                at++;
            flen[f] = (size_t)(ln + at - field[f]);
            if (flen[f] == 0) {
                *line = no;
                *col = (unsigned)at + 1;
                drift_ignore_release(out);
                return errbuf_set(err, AMLSEC_EPARSE,
                                  "a suppression is PATTERN WHAT EXPIRES REASON: %s is missing",
                                  f == 1 ? "WHAT" : "EXPIRES (a date YYYY-MM-DD, or -)");
            }
        }
        if (!(flen[2] == 1 && field[2][0] == '-') && !is_date(field[2], flen[2])) {
            *line = no;
            *col = (unsigned)(field[2] - ln) + 1;
            drift_ignore_release(out);
            return errbuf_set(err, AMLSEC_EPARSE,
                              "EXPIRES must be a date YYYY-MM-DD or -, not '%.*s'", (int)flen[2],
                              field[2]);
        }
        while (at < n && (ln[at] == ' ' || ln[at] == '\t'))
            at++;
        if (at == n) {
            *line = no;
            *col = (unsigned)at + 1;
            drift_ignore_release(out);
            return errbuf_set(err, AMLSEC_EPARSE,
                              "a suppression needs a reason after its expiry date");
        }
        grown = realloc(out->items, (out->n + 1) * sizeof(*grown));
        if (grown == NULL) {
            drift_ignore_release(out);
            return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
        }
        out->items = grown;
        s = &out->items[out->n++];
        memset(s, 0, sizeof(*s));
        s->line = no;
        s->pattern = strndup(field[0], flen[0]);
        s->what = strndup(field[1], flen[1]);
        s->expires = field[2][0] == '-' ? NULL : strndup(field[2], flen[2]);
        s->reason = strndup(ln + at, n - at);
        s->expired = s->expires && today && strcmp(s->expires, today) < 0;
        if (s->pattern == NULL || s->what == NULL || s->reason == NULL ||
            (field[2][0] != '-' && s->expires == NULL)) {
            drift_ignore_release(out);
            return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
        }
    }
    return 0;
}

static bool glob(const char *pat, const char *s, bool fold)
{
    return s && fnmatch(pat, s, fold ? FNM_CASEFOLD : 0) == 0;
}

/* Does what name path, or something above it? */
static bool path_covered(const char *what, const char *path)
{
    size_t n = strlen(what);
    if (glob(what, path, false))
        return true;
    return strncmp(path, what, n) == 0 && (path[n] == '.' || path[n] == '[');
}

static bool names_finding(const struct drift_suppression *s, const json_t *f)
{
    const char *address = json_string_value(json_object_get(f, "address"));
    const char *id = json_string_value(json_object_get(f, "arm_id"));
    return (address && glob(s->pattern, address, false)) || (id && glob(s->pattern, id, true));
}

/* The suppression that covers the whole finding f, or NULL. Suppressions
 * naming attribute paths of a changed finding move those attributes to its
 * "suppressed_attributes"; once none is left the finding is suppressed
 * whole (by the last of them), its attributes back in place. */
static struct drift_suppression *suppressed_by(struct drift_ignore *ig, json_t *f)
{
    const char *kind = json_string_value(json_object_get(f, "kind"));
    const char *rule = json_string_value(json_object_get(f, "rule"));
    const char *type = json_string_value(json_object_get(f, "type"));
    json_t *attrs = json_object_get(f, "attributes"), *taken = json_array();
    struct drift_suppression *last = NULL;
    if (ig == NULL) {
        json_decref(taken);
        return NULL;
    }
    for (size_t i = 0; i < ig->n; i++) {
        struct drift_suppression *s = &ig->items[i];
        if (s->expired || !names_finding(s, f))
            continue;
        if (strcmp(s->what, "*") == 0 || strcmp(s->what, kind) == 0 ||
            (rule && strcmp(s->what, rule) == 0) || (type && strcasecmp(s->what, type) == 0)) {
            s->used++;
            json_array_extend(attrs, taken);
            json_decref(taken);
            return s;
        }
        if (strcmp(kind, "changed") == 0 && json_array_size(attrs) > 0) {
            size_t k = 0;
            bool took = false;
            while (k < json_array_size(attrs)) {
                json_t *a = json_array_get(attrs, k);
                const char *path = json_string_value(json_object_get(a, "path"));
                if (path && path_covered(s->what, path)) {
                    json_array_append(taken, a);
                    json_array_remove(attrs, k);
                    took = true;
                } else {
                    k++;
                }
            }
            if (took) {
                s->used++;
                last = s;
            }
        }
    }
    if (last && json_array_size(attrs) == 0) {
        json_array_extend(attrs, taken);
        json_decref(taken);
        return last;
    }
    if (json_array_size(taken) > 0)
        json_object_set(f, "suppressed_attributes", taken);
    json_decref(taken);
    return NULL;
}

/* --- findings ------------------------------------------------------------------ */

static json_t *finding(const char *kind, const char *address, const char *arm_id, const char *type,
                       const char *message)
{
    return json_pack("{s:s, s:s?, s:s?, s:s?, s:s}", "kind", kind, "address", address, "arm_id",
                     arm_id, "type", type, "message", message);
}

static void append(struct drift_report *r, struct drift_ignore *ig, json_t *list, json_t *f)
{
    struct drift_suppression *s;
    if (f == NULL)
        return;
    s = suppressed_by(ig, f);
    if (s) {
        json_object_set_new(f, "suppressed_by",
                            json_pack("{s:s?, s:i, s:s, s:s?}", "file", ig->file, "line",
                                      (json_int_t)s->line, "reason", s->reason, "expires",
                                      s->expires));
        json_array_append_new(r->suppressed, f);
        return;
    }
    json_array_append_new(list, f);
}

/* The value at a DSL attribute path ("network.default_action",
 * "rules[0].name") in attrs, or NULL. */
static const json_t *value_at(const json_t *attrs, const char *path)
{
    const json_t *v = attrs;
    char seg[256];
    while (v && *path) {
        size_t n = strcspn(path, ".[");
        if (n > 0) {
            snprintf(seg, sizeof(seg), "%.*s", (int)(n < 255 ? n : 255), path);
            v = json_object_get(v, seg);
            path += n;
        } else if (*path == '[') {
            char *end;
            unsigned long idx = strtoul(path + 1, &end, 10);
            if (*end != ']')
                return NULL;
            v = json_array_get(v, idx);
            path = end + 1;
        }
        if (*path == '.')
            path++;
    }
    return v;
}

static bool ignored_change(const struct cfg_resource *r, const char *path)
{
    for (size_t i = 0; r && i < r->lifecycle.nignore_changes; i++) {
        const char *ig = r->lifecycle.ignore_changes[i];
        size_t n = strlen(ig);
        if (strncmp(path, ig, n) == 0 && (path[n] == '\0' || path[n] == '.' || path[n] == '['))
            return true;
    }
    return false;
}

/* Is the value at path sensitive for this instance: the path itself, what
 * it lies below, or something inside it (a map with one sensitive key,
 * tags.secret, is shown whole only redacted)? */
static bool sensitive_path(const struct cfg_instance *in, const struct schema_kind *k,
                           const char *path)
{
    size_t i, pn = strlen(path);
    const json_t *s;
    const struct schema_attr *a = k ? schema_attr_find(k, path) : NULL;
    if (a && (a->flags & SF_SENSITIVE))
        return true;
    json_array_foreach(in ? in->sensitive : NULL, i, s)
    {
        const char *sp = json_string_value(s);
        size_t n = sp ? strlen(sp) : 0;
        if (sp == NULL)
            continue;
        if (strncmp(path, sp, n) == 0 && (path[n] == '\0' || path[n] == '.' || path[n] == '['))
            return true;
        if (strncmp(sp, path, pn) == 0 && (sp[pn] == '.' || sp[pn] == '['))
            return true;
    }
    return false;
}

static json_t *shown(const json_t *v, bool sensitive)
{
    if (v == NULL)
        return json_null();
    return sensitive ? json_string("(sensitive)") : json_deep_copy(v);
}

static void drift_findings(struct drift_report *r, const struct config *cfg,
                           struct drift_ignore *ig)
{
    const struct plan *plan = r->plan;
    for (size_t i = 0; i < plan->ndrift; i++) {
        const struct plan_drift *d = &plan->drift[i];
        const struct cfg_instance *in = config_find_instance(cfg, d->address);
        const struct schema_kind *k = schema_find(d->kind);
        const char *id = NULL;
        size_t j;
        const json_t *p;
        json_t *f, *attrs;
        char msg[512];
        if (in)
            id = json_string_value(json_object_get(config_instance_value(cfg, in), "id"));
        if (d->after == NULL) {
            snprintf(msg, sizeof(msg), "%s was deleted outside amlsec", d->address);
            append(r, ig, r->deleted,
                   finding("deleted", d->address, id, k ? k->arm.type : NULL, msg));
            continue;
        }
        attrs = json_array();
        json_array_foreach(d->paths, j, p)
        {
            const char *path = json_string_value(p);
            bool sens;
            if (path == NULL || ignored_change(in ? in->resource : NULL, path))
                continue;
            sens = sensitive_path(in, k, path);
            json_array_append_new(attrs, json_pack("{s:s, s:o, s:o}", "path", path, "before",
                                                   shown(value_at(d->before, path), sens), "after",
                                                   shown(value_at(d->after, path), sens)));
        }
        if (json_array_size(attrs) == 0) {
            json_decref(attrs);
            continue;
        }
        snprintf(msg, sizeof(msg), "%s was changed outside amlsec", d->address);
        f = finding("changed", d->address, id, k ? k->arm.type : NULL, msg);
        json_object_set_new(f, "attributes", attrs);
        append(r, ig, r->changed, f);
    }
}

/* Changes the configuration asks for that are not caused by drift. */
static bool in_paths(const json_t *paths, const char *path, size_t len)
{
    size_t i;
    const json_t *p;
    json_array_foreach(paths, i, p)
    {
        const char *s = json_string_value(p);
        if (s && strlen(s) == len && strncmp(s, path, len) == 0)
            return true;
    }
    return false;
}

/* Changes the configuration asks for that are not applied yet. A change of
 * a drifted resource is the drift being put back, unless it also touches
 * attributes that did not drift (its reason_detail names attributes the
 * drift does not): those are configuration changes, listed in "paths". */
static void pending_findings(struct drift_report *r)
{
    const struct plan *plan = r->plan;
    for (size_t i = 0; i < plan->n; i++) {
        const struct plan_change *c = &plan->changes[i];
        const struct plan_drift *d = NULL;
        json_t *f, *extra = NULL;
        char msg[1024];
        for (size_t k = 0; k < plan->ndrift && d == NULL; k++)
            if (strcmp(plan->drift[k].address, c->address) == 0)
                d = &plan->drift[k];
        if (d) {
            const char *p = c->reason_detail;
            if (d->after == NULL || p == NULL)
                continue; /* re-creating a deleted resource: the drift itself */
            extra = json_array();
            while (*p) {
                size_t len = strcspn(p, ",");
                if (len && !in_paths(d->paths, p, len))
                    json_array_append_new(extra, json_stringn(p, len));
                p += len;
                while (*p == ',' || *p == ' ')
                    p++;
            }
            if (json_array_size(extra) == 0) {
                json_decref(extra);
                continue;
            }
        }
        snprintf(msg, sizeof(msg), "%s: %s not applied yet (%s)", c->address,
                 plan_action_name(c->action), c->reason ? c->reason : "configuration");
        f = finding("pending", c->address, c->arm_id, c->arm_type, msg);
        json_object_set_new(f, "action", json_string(plan_action_name(c->action)));
        if (extra)
            json_object_set_new(f, "paths", extra);
        json_array_append_new(r->pending, f);
    }
}

/* WS-MI-PERMS findings of the plan's live rules: missing grants. The
 * rest of the diagnostics go to the caller. */
static void grant_findings(struct drift_report *r, struct drift_ignore *ig,
                           const struct diag_list *from, struct diag_list *to)
{
    for (size_t i = 0; i < from->n; i++) {
        const struct diag *d = &from->items[i];
        if (strcmp(d->code, "RBAC-VNET-JOIN") == 0)
            continue; /* the caller's right to write: drift writes nothing */
        if (live_rules_missing_grant(d)) {
            const char *end = strstr(d->message, "'s managed identity");
            char address[256];
            json_t *f;
            snprintf(address, sizeof(address), "%.*s", (int)(end ? (size_t)(end - d->message) : 0),
                     d->message);
            f = finding("missing_grant", address[0] ? address : NULL, NULL, NULL, d->message);
            json_object_set_new(f, "rule", json_string(d->code));
            append(r, ig, r->missing_grants, f);
            continue;
        }
        {
            struct diag *c =
                diag_add(to, d->severity, d->loc.file ? &d->loc : NULL, d->code, "%s", d->message);
            if (c && d->hint)
                diag_set_hint(c, "%s", d->hint);
        }
    }
}

/* --- unmanaged objects ------------------------------------------------------- */

struct scope {
    char *id;            /* ARM id of the scope */
    const char *what;    /* "workspace", "Key Vault", ... */
    const char *address; /* the managed workspace it belongs to (the first one) */
};

struct discovery {
    struct scope *scopes;
    size_t n, cap;
    struct strmap scope_index;    /* scope ARM id -> its position in scopes */
    struct strmap vaults;         /* the vaults whose keys are listed, once each */
    struct strmap managed;        /* ARM ids amlsec knows */
    struct strmap service_grants; /* "principal scope role-GUID": what Azure gives a
                                     workspace's identity */
    struct strmap principals;     /* the managed workspaces' identities */
    struct strmap endpoints;      /* private endpoints to the scopes Resource Graph found */
    json_t *subscriptions;        /* strings */
    size_t *work;                 /* entries the scope and vault look-ups visited */
};

static void service_grant(struct discovery *dc, const char *principal, const char *scope,
                          const char *role)
{
    char key[2048];
    if (principal == NULL || role == NULL)
        return;
    snprintf(key, sizeof(key), "%s %s %s", principal, scope, role);
    strmap_put(&dc->service_grants, key, 1);
}

static bool is_service_grant(const struct discovery *dc, const char *principal, const char *scope,
                             const char *role)
{
    char key[2048];
    size_t one;
    snprintf(key, sizeof(key), "%s %s %s", principal, scope, role);
    return strmap_get(&dc->service_grants, key, &one);
}

static void add_scope(struct discovery *dc, const char *id, const char *what, const char *address,
                      const char *principal, const char *role, const char *role2)
{
    struct scope *grown;
    size_t at;
    if (id == NULL || *id == '\0')
        return;
    service_grant(dc, principal, id, role);
    service_grant(dc, principal, id, role2);
    if (principal)
        strmap_put(&dc->principals, principal, 1);
    (*dc->work)++;
    if (strmap_get(&dc->scope_index, id, &at))
        return;
    if (dc->n == dc->cap) {
        size_t cap = dc->cap ? dc->cap * 2 : 16;
        if ((grown = realloc(dc->scopes, cap * sizeof(*grown))) == NULL)
            return;
        dc->scopes = grown;
        dc->cap = cap;
    }
    dc->scopes[dc->n] = (struct scope){strdup(id), what, address};
    if (dc->scopes[dc->n].id == NULL)
        return;
    if (strmap_put(&dc->scope_index, id, dc->n) < 0) {
        free(dc->scopes[dc->n].id);
        return;
    }
    dc->n++;
}

static const struct scope *scope_of(const struct discovery *dc, const char *id)
{
    size_t at;
    if (id == NULL)
        return NULL;
    (*dc->work)++;
    return strmap_get(&dc->scope_index, id, &at) ? &dc->scopes[at] : NULL;
}

/* The scope of an extension resource: its id up to the last
 * "/providers/Microsoft.Authorization/" (or ".../Microsoft.Insights/"). */
static void extension_scope(char *out, size_t cap, const char *id)
{
    const char *cut = NULL, *s = id;
    while ((s = strcasestr(s, "/providers/")) != NULL) {
        cut = s;
        s += 11;
    }
    snprintf(out, cap, "%.*s", (int)(cut ? (size_t)(cut - id) : strlen(id)), id);
}

static bool managed(const struct discovery *dc, const char *id)
{
    size_t at;
    return id && strmap_get((struct strmap *)&dc->managed, id, &at);
}

static const char *str_at(const json_t *v, const char *path)
{
    const json_t *x = schema_json_get(v, path);
    return json_is_string(x) ? json_string_value(x) : NULL;
}

static const char *role_name(const char *definition_id)
{
    const char *guid = definition_id ? strrchr(definition_id, '/') : NULL;
    guid = guid ? guid + 1 : definition_id;
    for (size_t i = 0; guid && schema_builtin_role_names[i]; i++) {
        const char *g = schema_builtin_role(schema_builtin_role_names[i]);
        if (g && strcasecmp(g, guid) == 0)
            return schema_builtin_role_names[i];
    }
    return NULL;
}

static void unmanaged_one(struct drift_report *r, struct drift_ignore *ig, const struct scope *sc,
                          const char *id, const char *type, const char *detail)
{
    char msg[1024];
    json_t *f;
    if (strcmp(sc->what, "workspace") == 0)
        snprintf(msg, sizeof(msg), "%s at %s (%s), not managed by amlsec", detail, sc->id,
                 sc->address);
    else
        snprintf(msg, sizeof(msg), "%s at %s (%s's %s), not managed by amlsec", detail, sc->id,
                 sc->address, sc->what);
    f = finding("unmanaged", NULL, id, type, msg);
    json_object_set_new(f, "scope", json_string(sc->id));
    json_object_set_new(f, "near", json_string(sc->address));
    append(r, ig, r->unmanaged, f);
}

static void take_authorization(struct drift_report *r, struct drift_ignore *ig,
                               const struct discovery *dc, const json_t *rows)
{
    size_t i;
    const json_t *row;
    json_array_foreach(rows, i, row)
    {
        const char *id = str_at(row, "id"), *type = str_at(row, "type");
        char scope[2048], detail[512];
        const struct scope *sc;
        if (id == NULL || type == NULL || managed(dc, id))
            continue;
        extension_scope(scope, sizeof(scope), id);
        if ((sc = scope_of(dc, scope)) == NULL)
            continue;
        if (strcasecmp(type, "microsoft.authorization/roleassignments") == 0) {
            const char *rd = str_at(row, "properties.roleDefinitionId");
            const char *pr = str_at(row, "properties.principalId");
            const char *guid = rd ? strrchr(rd, '/') : NULL;
            const char *name = role_name(rd);
            guid = guid ? guid + 1 : rd;
            /* the grants Azure gives the workspace's identity: the service's own */
            if (pr && guid && is_service_grant(dc, pr, sc->id, guid))
                continue;
            snprintf(detail, sizeof(detail), "role assignment: %s for principal %s",
                     name ? name : (guid ? guid : "(no role)"), pr ? pr : "(none)");
            unmanaged_one(r, ig, sc, id, "Microsoft.Authorization/roleAssignments", detail);
        } else if (strcasecmp(type, "microsoft.authorization/locks") == 0) {
            const char *level = str_at(row, "properties.level");
            snprintf(detail, sizeof(detail), "%s lock", level ? level : "a");
            unmanaged_one(r, ig, sc, id, "Microsoft.Authorization/locks", detail);
        }
    }
}

static void take_policy(struct drift_report *r, struct drift_ignore *ig, const struct discovery *dc,
                        const json_t *rows)
{
    size_t i;
    const json_t *row;
    json_array_foreach(rows, i, row)
    {
        const char *id = str_at(row, "id"), *type = str_at(row, "type");
        char scope[2048], detail[1024];
        const struct scope *sc;
        bool exemption;
        if (id == NULL || type == NULL || managed(dc, id))
            continue;
        extension_scope(scope, sizeof(scope), id);
        if ((sc = scope_of(dc, scope)) == NULL)
            continue;
        exemption = strcasecmp(type, "microsoft.authorization/policyexemptions") == 0;
        if (exemption)
            snprintf(detail, sizeof(detail), "policy exemption (%s) from %s",
                     str_at(row, "properties.exemptionCategory")
                         ? str_at(row, "properties.exemptionCategory")
                         : "no category",
                     str_at(row, "properties.policyAssignmentId")
                         ? str_at(row, "properties.policyAssignmentId")
                         : "(no assignment)");
        else
            snprintf(detail, sizeof(detail), "policy assignment of %s",
                     str_at(row, "properties.policyDefinitionId")
                         ? str_at(row, "properties.policyDefinitionId")
                         : "(no definition)");
        unmanaged_one(r, ig, sc, id,
                      exemption ? "Microsoft.Authorization/policyExemptions"
                                : "Microsoft.Authorization/policyAssignments",
                      detail);
    }
}

static void take_endpoints(struct drift_report *r, struct drift_ignore *ig, struct discovery *dc,
                           const json_t *rows)
{
    static const char *const lists[] = {"properties.privateLinkServiceConnections",
                                        "properties.manualPrivateLinkServiceConnections"};
    size_t i;
    const json_t *row;
    json_array_foreach(rows, i, row)
    {
        const char *id = str_at(row, "id");
        size_t one;
        if (id == NULL || managed(dc, id) || strmap_get(&dc->endpoints, id, &one))
            continue; /* mv-expand gives a row per connection: the endpoint once */
        for (size_t l = 0; l < 2; l++) {
            size_t k;
            const json_t *conn;
            const struct scope *sc = NULL;
            json_array_foreach(schema_json_get(row, lists[l]), k, conn)
            {
                sc = scope_of(dc, str_at(conn, "properties.privateLinkServiceId"));
                if (sc)
                    break;
            }
            if (sc) {
                strmap_put(&dc->endpoints, id, 1); /* its connection is not reported again */
                unmanaged_one(r, ig, sc, id, "Microsoft.Network/privateEndpoints",
                              "private endpoint");
                break;
            }
        }
    }
}

static bool principal_of_workspace(const struct discovery *dc, const char *oid)
{
    size_t one;
    return oid && strmap_get(&dc->principals, oid, &one);
}

/* Is id a resource of type (a top-level one: ".../TYPE/NAME")? */
static bool of_type(const char *id, const char *type)
{
    const char *at = strcasestr(id, type);
    size_t len = strlen(type);
    return at && at[len] == '/' && strchr(at + len + 1, '/') == NULL;
}

/* Resource types whose private endpoint connections are reported. */
static const char *const pec_parents[] = {
    "Microsoft.MachineLearningServices/workspaces",
    "Microsoft.KeyVault/vaults",
    "Microsoft.Storage/storageAccounts",
    "Microsoft.ContainerRegistry/registries",
};

enum listed { L_DIAG, L_KEYS, L_PEC };

static void take_item(struct drift_report *r, struct drift_ignore *ig, const struct discovery *dc,
                      const struct scope *sc, enum listed what, const char *parent_type,
                      const json_t *it);

/* The scope is a workspace, vault, storage account or registry: the type,
 * or NULL. */
static const char *pec_parent_of(const char *id)
{
    for (size_t t = 0; t < sizeof(pec_parents) / sizeof(pec_parents[0]); t++)
        if (of_type(id, pec_parents[t]))
            return pec_parents[t];
    return NULL;
}

static char *concat(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    char *s = malloc(na + nb + 1);
    if (s) {
        memcpy(s, a, na);
        memcpy(s + na, b, nb + 1);
    }
    return s;
}

/* Lists of what Resource Graph does not hold, at the scopes: started in
 * the background as soon as the scopes are known (provider_lists_start),
 * so that they go out while Resource Graph's quota makes its queries wait,
 * and taken at the end. */
struct bg_lists {
    size_t n;
    char **paths;
    const char **apis;
    const struct scope **scopes;
    enum listed *what;
    json_t **out;
    struct errbuf *errs;
    struct provider_lists *bg; /* started; NULL once finished */
};

static int lists_init(struct bg_lists *l, size_t cap)
{
    memset(l, 0, sizeof(*l));
    cap = cap ? cap : 1;
    l->paths = calloc(cap, sizeof(*l->paths));
    l->apis = calloc(cap, sizeof(*l->apis));
    l->scopes = calloc(cap, sizeof(*l->scopes));
    l->what = calloc(cap, sizeof(*l->what));
    l->out = calloc(cap, sizeof(*l->out));
    l->errs = calloc(cap, sizeof(*l->errs));
    return l->paths && l->apis && l->scopes && l->what && l->out && l->errs ? 0 : AMLSEC_ENOMEM;
}

static void lists_add(struct bg_lists *l, const struct scope *sc, const char *tail, const char *api,
                      enum listed what)
{
    if ((l->paths[l->n] = concat(sc->id, tail)) == NULL)
        return;
    l->scopes[l->n] = sc;
    l->apis[l->n] = api;
    l->what[l->n++] = what;
}

static int lists_start(struct bg_lists *l, struct provider *p, struct errbuf *err)
{
    return provider_lists_start(p, (const char *const *)l->paths, l->apis, l->n, &l->bg, err);
}

/* Waits for the lists (once). */
static void lists_finish(struct bg_lists *l, struct provider *p)
{
    if (l->bg == NULL)
        return;
    if (provider_lists_finish(p, l->bg, l->out, l->errs) < 0 && l->n > 0 && l->out[0] == NULL &&
        l->errs[0].msg[0] == '\0')
        errbuf_set(&l->errs[0], AMLSEC_ERROR, "the ARM client failed");
    l->bg = NULL;
}

/* List i's items as findings; a list that failed is an error of the
 * run. */
static void list_take(struct bg_lists *l, size_t i, struct drift_report *r, struct drift_ignore *ig,
                      const struct discovery *dc)
{
    size_t k;
    const json_t *it;
    if (l->out[i] == NULL) {
        json_array_append_new(r->errors,
                              json_sprintf("listing %s: %s", l->paths[i],
                                           l->errs[i].msg[0] ? l->errs[i].msg : "not listed"));
        return;
    }
    json_array_foreach(l->out[i], k, it) take_item(r, ig, dc, l->scopes[i], l->what[i], NULL, it);
}

static void lists_release(struct bg_lists *l, struct provider *p)
{
    lists_finish(l, p); /* a started list's calls are the client's until then */
    for (size_t i = 0; l->paths && i < l->n; i++) {
        free(l->paths[i]);
        json_decref(l->out[i]);
    }
    free(l->paths);
    free(l->apis);
    free(l->scopes);
    free(l->what);
    free(l->out);
    free(l->errs);
    memset(l, 0, sizeof(*l));
}

/* The findings of what Resource Graph does not hold, scope by scope: the
 * items of its diagnostic settings' list, then its private endpoint
 * connections (properties.privateEndpointConnections of the body of a
 * workspace, vault, storage account or registry, which a GET returns and
 * Resource Graph's row holds too, as it holds the resource provider's
 * whole properties: no list per scope); then the vaults' keys; then the
 * vaults' access policies for anyone but a workspace's identity (the
 * language has no access policies, so none is managed). The bodies are one
 * bulk read: the refresh's reads of them, which the view kept (no request
 * for a managed one). Firewall rules and workspace identities added
 * outside amlsec need no such look: the comparison with the state shows
 * them as changed attributes (network_rules.ip_rules,
 * identity.user_assigned). */
static int take_bodies(struct drift_report *r, struct drift_ignore *ig, struct provider *p,
                       const struct discovery *dc, struct bg_lists *diag, struct bg_lists *keys,
                       struct errbuf *err)
{
    struct provider_ref *refs = calloc(dc->n ? dc->n : 1, sizeof(*refs));
    struct provider_result *res = calloc(dc->n ? dc->n : 1, sizeof(*res));
    size_t *body_of = calloc(dc->n ? dc->n : 1, sizeof(*body_of));
    size_t n = 0, li = 0;
    int rc = 0;

    if (refs == NULL || res == NULL || body_of == NULL) {
        rc = errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < dc->n; i++) {
        const char *type = pec_parent_of(dc->scopes[i].id);
        body_of[i] = (size_t)-1;
        if (type) {
            refs[n].id = dc->scopes[i].id;
            refs[n].type = type;
            body_of[i] = n++;
        }
    }
    if (n > 0 && (rc = provider_read_many(p, refs, n, 0, res, err)) < 0)
        goto out;
    for (size_t i = 0; i < dc->n; i++) {
        const struct scope *sc = &dc->scopes[i];
        const struct provider_result *b = body_of[i] < n ? &res[body_of[i]] : NULL;
        size_t k;
        const json_t *e;
        for (; li < diag->n && diag->scopes[li] == sc; li++)
            list_take(diag, li, r, ig, dc);
        if (b == NULL)
            continue;
        if (b->rc < 0 && b->rc != AMLSEC_ENOTFOUND)
            json_array_append_new(r->errors, json_sprintf("reading %s: %s", sc->id, b->err.msg));
        json_array_foreach(
            b->rc == 0 ? schema_json_get(b->body, "properties.privateEndpointConnections") : NULL,
            k, e) take_item(r, ig, dc, sc, L_PEC, refs[body_of[i]].type, e);
    }
    for (; li < diag->n; li++)
        list_take(diag, li, r, ig, dc);
    for (size_t i = 0; i < keys->n; i++)
        list_take(keys, i, r, ig, dc);
    for (size_t i = 0; i < dc->n; i++) {
        const struct scope *sc = &dc->scopes[i];
        const struct provider_result *b = body_of[i] < n ? &res[body_of[i]] : NULL;
        size_t k;
        const json_t *e;
        if (b == NULL || b->rc < 0 || strcmp(refs[body_of[i]].type, "Microsoft.KeyVault/vaults"))
            continue;
        json_array_foreach(schema_json_get(b->body, "properties.accessPolicies"), k, e)
        {
            const char *oid = str_at(e, "objectId");
            char detail[512];
            if (oid == NULL || principal_of_workspace(dc, oid))
                continue;
            snprintf(detail, sizeof(detail), "access policy for object %s", oid);
            unmanaged_one(r, ig, sc, sc->id, "access_policy", detail);
        }
    }
out:
    if (res)
        provider_results_release(res, n);
    free(res);
    free(refs);
    free(body_of);
    return rc;
}

/* The item of a list of kind what at scope sc: unmanaged unless amlsec
 * knows it (a private endpoint connection: unless amlsec knows its
 * endpoint, or the endpoint was reported already). */
static void take_item(struct drift_report *r, struct drift_ignore *ig, const struct discovery *dc,
                      const struct scope *sc, enum listed what, const char *parent_type,
                      const json_t *it)
{
    const char *id = str_at(it, "id"), *name = str_at(it, "name");
    char detail[1024], type[256];
    size_t one;
    if (id == NULL || managed(dc, id))
        return;
    switch (what) {
    case L_DIAG:
        snprintf(detail, sizeof(detail), "diagnostic setting '%s'", name ? name : "?");
        unmanaged_one(r, ig, sc, id, "Microsoft.Insights/diagnosticSettings", detail);
        break;
    case L_KEYS:
        snprintf(detail, sizeof(detail), "key '%s'", name ? name : "?");
        unmanaged_one(r, ig, sc, id, "Microsoft.KeyVault/vaults/keys", detail);
        break;
    case L_PEC: {
        const char *pe = str_at(it, "properties.privateEndpoint.id");
        const char *status = str_at(it, "properties.privateLinkServiceConnectionState.status");
        if (pe && (managed(dc, pe) || strmap_get(&dc->endpoints, pe, &one)))
            return;
        snprintf(detail, sizeof(detail), "private endpoint connection (%s) from %s",
                 status ? status : "no status", pe ? pe : "(no endpoint)");
        snprintf(type, sizeof(type), "%s/privateEndpointConnections", parent_type);
        unmanaged_one(r, ig, sc, id, type, detail);
        break;
    }
    }
}

/* Without Resource Graph: role assignments, locks and policy assignments
 * listed at each scope (all lists at once), into rows[0] (authorization)
 * and rows[1] (policy). Lists that fail are errors of the run. */
static int scope_lists(struct drift_report *r, struct provider *p, const struct discovery *dc,
                       json_t **rows, struct errbuf *err)
{
    static const struct {
        const char *tail, *api;
        int row;
    } lists[] = {
        {"/providers/Microsoft.Authorization/roleAssignments?$filter=atScope()", "2022-04-01", 0},
        {"/providers/Microsoft.Authorization/locks", "2020-05-01", 0},
        {"/providers/Microsoft.Authorization/policyAssignments", "2025-03-01", 1},
    };
    size_t nl = sizeof(lists) / sizeof(lists[0]), cap = dc->n * nl + 1, n = 0;
    char **paths = calloc(cap, sizeof(*paths));
    const char **apis = calloc(cap, sizeof(*apis));
    int *row = calloc(cap, sizeof(*row));
    json_t **out = calloc(cap, sizeof(*out));
    struct errbuf *errs = calloc(cap, sizeof(*errs));
    struct strmap seen;
    int rc = 0;

    for (int k = 0; k < 2; k++) {
        json_decref(rows[k]);
        rows[k] = json_array();
    }
    if (!paths || !apis || !row || !out || !errs || !rows[0] || !rows[1]) {
        rc = errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < dc->n; i++)
        for (size_t l = 0; l < nl; l++)
            if ((paths[n] = concat(dc->scopes[i].id, lists[l].tail)) != NULL) {
                apis[n] = lists[l].api;
                row[n++] = lists[l].row;
            }
    provider_list_urls(p, (const char *const *)paths, apis, n, out, errs);
    strmap_init(&seen, true);
    for (size_t i = 0; i < n; i++) {
        size_t k, one;
        json_t *it;
        if (out[i] == NULL) {
            json_array_append_new(r->errors,
                                  json_sprintf("listing %s: %s", paths[i],
                                               errs[i].msg[0] ? errs[i].msg : "not listed"));
            continue;
        }
        /* a list shows what is below its scope (locks) or above it
         * (inherited assignments) too: each object once */
        json_array_foreach(out[i], k, it)
        {
            const char *id = str_at(it, "id");
            if (id && !strmap_get(&seen, id, &one) && strmap_put(&seen, id, 1) == 0)
                json_array_append(rows[row[i]], it);
        }
    }
    strmap_release(&seen);
out:
    for (size_t i = 0; paths && i < n; i++) {
        free(paths[i]);
        json_decref(out[i]);
    }
    free(paths);
    free(apis);
    free(row);
    free(out);
    free(errs);
    return rc;
}

static void add_vault(struct discovery *dc, json_t *vaults, const char *id)
{
    size_t one;
    if (id == NULL)
        return;
    (*dc->work)++;
    if (strmap_get(&dc->vaults, id, &one) || strmap_put(&dc->vaults, id, 1) < 0)
        return;
    json_array_append_new(vaults, json_string(id));
}

static void add_subscription(struct discovery *dc, const char *id)
{
    char sub[128];
    size_t i;
    const json_t *s;
    if (id == NULL || strncasecmp(id, "/subscriptions/", 15) != 0)
        return;
    snprintf(sub, sizeof(sub), "%.*s", (int)strcspn(id + 15, "/"), id + 15);
    json_array_foreach(dc->subscriptions, i,
                       s) if (strcasecmp(json_string_value(s), sub) == 0) return;
    json_array_append_new(dc->subscriptions, json_string(sub));
}

/* Locks are in no Resource Graph table (Microsoft's table reference):
 * one ARM list of each subscription's locks (every lock at or below it,
 * all lists at once) appends them to rows, where the scopes they lie
 * under take them. A list that fails is an error of the run. */
static void subscription_locks(struct drift_report *r, struct provider *p,
                               const struct discovery *dc, json_t *rows)
{
    size_t n = json_array_size(dc->subscriptions), i;
    char **paths = calloc(n ? n : 1, sizeof(*paths));
    const char **apis = calloc(n ? n : 1, sizeof(*apis));
    json_t **out = calloc(n ? n : 1, sizeof(*out));
    struct errbuf *errs = calloc(n ? n : 1, sizeof(*errs));
    const json_t *s;

    if (!paths || !apis || !out || !errs) {
        json_array_append_new(r->errors, json_string("out of memory"));
        goto out;
    }
    json_array_foreach(dc->subscriptions, i, s)
    {
        paths[i] = concat("/subscriptions/", json_string_value(s));
        if (paths[i]) {
            char *full = concat(paths[i], "/providers/Microsoft.Authorization/locks");
            free(paths[i]);
            paths[i] = full;
        }
        apis[i] = "2020-05-01";
    }
    for (i = 0; i < n; i++)
        if (paths[i] == NULL) {
            json_array_append_new(r->errors, json_string("out of memory"));
            goto out;
        }
    provider_list_urls(p, (const char *const *)paths, apis, n, out, errs);
    for (i = 0; i < n; i++) {
        if (out[i] == NULL) {
            json_array_append_new(r->errors,
                                  json_sprintf("listing %s: %s", paths[i],
                                               errs[i].msg[0] ? errs[i].msg : "not listed"));
            continue;
        }
        json_array_extend(rows, out[i]);
    }
out:
    for (i = 0; paths && i < n; i++) {
        free(paths[i]);
        json_decref(out ? out[i] : NULL);
    }
    free(paths);
    free(apis);
    free(out);
    free(errs);
}

/* Appends "'a', 'b'" (the scopes, KQL-quoted) to q; false when one cannot
 * be quoted. */
static bool quoted_scopes(struct buf *q, const struct discovery *dc)
{
    for (size_t i = 0; i < dc->n; i++) {
        if (strchr(dc->scopes[i].id, '\'') || strchr(dc->scopes[i].id, '\\'))
            return false;
        buf_addf(q, "%s'%s'", i ? ", " : "", dc->scopes[i].id);
    }
    return true;
}

/* Appends "'a', 'b'" (the scopes a private endpoint can connect to: the
 * workspaces, vaults, storage accounts and registries, KQL-quoted) to q. */
static void quoted_link_targets(struct buf *q, const struct discovery *dc)
{
    size_t n = 0;
    for (size_t i = 0; i < dc->n; i++)
        for (size_t t = 0; t < sizeof(pec_parents) / sizeof(pec_parents[0]); t++) {
            if (of_type(dc->scopes[i].id, pec_parents[t]))
                buf_addf(q, "%s'%s'", n++ ? ", " : "", dc->scopes[i].id);
        }
    if (n == 0)
        buf_adds(q, "''");
}

/* Rows of discovery that are managed resources as a read gives them (role
 * assignments, private endpoints) are given to the read-only view as their
 * refresh: the plan's refresh does not read them again. */
static int keep_managed(struct provider *p, const struct discovery *dc, json_t *rows,
                        const char *type)
{
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        const char *id = str_at(row, "id");
        if (id && managed(dc, id) &&
            provider_readonly_keep(p, id, arm_graph_row_body(row, type)) < 0)
            return AMLSEC_ENOMEM;
    }
    return 0;
}

/* Discovery's Resource Graph queries (the rows of each in discover_run). */
enum { Q_AUTHZ, Q_POLICY, Q_ENDPOINTS, Q_MANUAL_ENDPOINTS, Q_IDENTITIES, NQUERIES };

/* Discovery in two halves around the plan's refresh: the first reads the
 * managed workspaces (the view keeps them for the refresh), finds their
 * scopes, runs the Resource Graph queries, whose rows of managed role
 * assignments and private endpoints then serve as the refresh of those
 * (but the policy assignments' query: nothing before the second half needs
 * it); the second, after the plan, takes the queries' findings (after the
 * plan's, in the report's order) and what Resource Graph does not hold: the
 * lists of it, which the first half started in the background as soon as
 * the scopes were known (the keys' first: the refresh's reads of the
 * managed keys are their items), and the scopes' bodies; then it sends
 * that query, the run's last (discover_finish). */
struct discover_run {
    struct discovery dc;
    struct provider *p;
    struct bg_lists keys, diag; /* the vaults' keys, the scopes' diagnostic settings */
    struct bg_lists computes;   /* the computes of the workspaces that hold managed ones */
    json_t *cmk, *rows[NQUERIES];
    char *policy_query;  /* sent by the second half */
    json_t *assignments; /* {lowercased principal: [role assignments]} of the workspaces'
                            identities, for the plan's live rules; NULL when not read */
    double t0, t1, t2;
    size_t work;
    bool searched; /* scopes were found and searched */
};

static void discover_release(struct discover_run *d)
{
    if (d->p) {
        lists_release(&d->keys, d->p);
        lists_release(&d->computes, d->p);
        lists_release(&d->diag, d->p);
    }
    for (int k = 0; k < NQUERIES; k++)
        json_decref(d->rows[k]);
    json_decref(d->assignments);
    free(d->policy_query);
    for (size_t i = 0; i < d->dc.n; i++)
        free(d->dc.scopes[i].id);
    free(d->dc.scopes);
    strmap_release(&d->dc.scope_index);
    strmap_release(&d->dc.vaults);
    strmap_release(&d->dc.managed);
    strmap_release(&d->dc.service_grants);
    strmap_release(&d->dc.principals);
    strmap_release(&d->dc.endpoints);
    json_decref(d->dc.subscriptions);
    json_decref(d->cmk);
    memset(d, 0, sizeof(*d));
}

/* The managed resources among the items of lists, kept in the view as
 * the refresh's reads of them. */
static int keep_items(struct provider *p, const struct discovery *dc, const struct bg_lists *l)
{
    for (size_t i = 0; i < l->n; i++) {
        size_t k;
        json_t *it;
        json_array_foreach(l->out[i], k, it)
        {
            const char *id = str_at(it, "id");
            if (id && managed(dc, id) && provider_readonly_keep_listed(p, id, it) < 0)
                return AMLSEC_ENOMEM;
        }
    }
    return 0;
}

/* Appends to parents the workspace of id when id is a compute and its
 * workspace is not there yet. */
static int add_compute_parent(json_t *parents, struct strmap *seen, const char *id)
{
    static const char tail[] = "/computes/";
    const char *at = id ? strcasestr(id, tail) : NULL;
    char parent[2048];
    size_t one;
    if (at == NULL || strchr(at + sizeof(tail) - 1, '/') || (size_t)(at - id) >= sizeof(parent))
        return 0;
    snprintf(parent, sizeof(parent), "%.*s", (int)(at - id), id);
    if (!of_type(parent, "Microsoft.MachineLearningServices/workspaces") ||
        strmap_get(seen, parent, &one))
        return 0;
    if (strmap_put(seen, parent, 1) < 0 || json_array_append_new(parents, json_string(parent)) < 0)
        return AMLSEC_ENOMEM;
    return 0;
}

/* Computes are in no Resource Graph table: the refresh would read them
 * after its last Resource Graph page, a GET each (a list per workspace of
 * two or more). Listed in the background instead, one list per workspace
 * that holds a managed compute (the configuration's or the state's), their
 * items are the refresh's reads. */
static int computes_lists(struct discover_run *d, const struct config *cfg, const struct state *st)
{
    struct strmap seen;
    json_t *parents = json_array();
    size_t i;
    const json_t *v;
    int rc = parents ? 0 : AMLSEC_ENOMEM;
    strmap_init(&seen, true);
    for (i = 0; i < st->nresources && rc == 0; i++)
        rc = add_compute_parent(parents, &seen, st->resources[i].arm_id);
    for (i = 0; i < cfg->nresources && rc == 0; i++)
        for (size_t k = 0; k < cfg->resources[i].ninstances && rc == 0; k++)
            if (!cfg->resources[i].existing)
                rc = add_compute_parent(
                    parents, &seen,
                    json_string_value(json_object_get(
                        config_instance_value(cfg, &cfg->resources[i].instances[k]), "id")));
    strmap_release(&seen);
    if (rc == 0)
        rc = lists_init(&d->computes, json_array_size(parents));
    json_array_foreach(rc == 0 ? parents : NULL, i, v)
    {
        if ((d->computes.paths[i] = concat(json_string_value(v), "/computes")) == NULL) {
            rc = AMLSEC_ENOMEM;
            break;
        }
        d->computes.apis[i] = COMPUTES_API;
        d->computes.n = i + 1;
    }
    json_decref(parents);
    return rc;
}

static int discover_prepare(struct discover_run *d, struct drift_report *r,
                            const struct config *cfg, struct state *st, struct provider *p,
                            struct drift_ignore *ig, struct errbuf *err)
{
    struct discovery *dc = &d->dc;
    struct provider_ref *refs = NULL;
    struct provider_result *res = NULL;
    const struct cfg_instance **ws = NULL;
    size_t nws = 0, cap = 0;
    json_t *principals = json_object(); /* the workspaces' identities, lowercased */
    int rc = 0;

    memset(d, 0, sizeof(*d));
    d->p = p;
    d->cmk = json_array();
    dc->work = &d->work;
    strmap_init(&dc->scope_index, true);
    strmap_init(&dc->vaults, true);
    strmap_init(&dc->managed, true);
    strmap_init(&dc->service_grants, true);
    strmap_init(&dc->principals, true);
    strmap_init(&dc->endpoints, true);
    dc->subscriptions = json_array();
    for (size_t i = 0; i < st->nresources; i++)
        strmap_put(&dc->managed, st->resources[i].arm_id, 1);
    for (size_t i = 0; i < cfg->nresources; i++) {
        const struct cfg_resource *res_ = &cfg->resources[i];
        for (size_t k = 0; k < res_->ninstances; k++) {
            const char *id = json_string_value(
                json_object_get(config_instance_value(cfg, &res_->instances[k]), "id"));
            if (id)
                strmap_put(&dc->managed, id, 1);
            if (id && !res_->existing && strcmp(res_->kind, "workspace") == 0) {
                if (nws == cap) {
                    const struct cfg_instance **grown;
                    cap = cap ? cap * 2 : 8;
                    grown = realloc(ws, cap * sizeof(*grown));
                    if (grown == NULL) {
                        rc = errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
                        goto out;
                    }
                    ws = grown;
                }
                ws[nws++] = &res_->instances[k];
            }
        }
    }
    if (nws == 0)
        goto out;
    refs = calloc(nws, sizeof(*refs));
    res = calloc(nws, sizeof(*res));
    if (refs == NULL || res == NULL) {
        rc = errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < nws; i++) {
        refs[i].id = json_string_value(json_object_get(config_instance_value(cfg, ws[i]), "id"));
        refs[i].type = "Microsoft.MachineLearningServices/workspaces";
        /* the refresh reads them again: the view keeps this read for it */
        if (provider_readonly_expect(p, refs[i].id) < 0) {
            rc = errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
            goto out;
        }
    }
    d->t0 = mono_ms();
    if ((rc = provider_read_many(p, refs, nws, 0, res, err)) < 0)
        goto out;
    d->t1 = mono_ms();
    for (size_t i = 0; i < nws; i++) {
        const json_t *live = res[i].rc == 0 ? res[i].body : NULL;
        const char *id = refs[i].id, *prov = strcasestr(id, "/providers/");
        const char *principal = live ? str_at(live, "identity.principalId") : NULL;
        const char *contributor = schema_builtin_role("Contributor");
        const char *kv_admin = schema_builtin_role("Key Vault Administrator");
        const char *blob = schema_builtin_role("Storage Blob Data Contributor");
        char rg[1024];
        if (live == NULL || prov == NULL)
            continue; /* deleted: drift says so */
        snprintf(rg, sizeof(rg), "%.*s", (int)(prov - id), id);
        add_subscription(dc, id);
        if (principal && strlen(principal) < 128 && !strpbrk(principal, "'\\\n\r")) {
            char lower[128];
            size_t c = 0;
            for (; principal[c]; c++)
                lower[c] = (char)tolower((unsigned char)principal[c]);
            lower[c] = '\0';
            if (json_object_get(principals, lower) == NULL)
                json_object_set_new(principals, lower, json_array());
        }
        add_scope(dc, id, "workspace", ws[i]->address, principal, contributor, NULL);
        add_scope(dc, rg, "resource group", ws[i]->address, principal, contributor, NULL);
        add_scope(dc, str_at(live, "properties.keyVault"), "Key Vault", ws[i]->address, principal,
                  kv_admin, NULL);
        add_scope(dc, str_at(live, "properties.storageAccount"), "storage account", ws[i]->address,
                  principal, blob, contributor);
        add_scope(dc, str_at(live, "properties.containerRegistry"), "container registry",
                  ws[i]->address, principal, contributor, NULL);
        /* keys: in the CMK vault, and in the workspace's own vault (where a
         * key is a CMK in waiting) */
        add_scope(dc, str_at(live, "properties.encryption.keyVaultProperties.keyVaultArmId"),
                  "CMK Key Vault", ws[i]->address, principal, kv_admin, NULL);
        add_vault(dc, d->cmk,
                  str_at(live, "properties.encryption.keyVaultProperties.keyVaultArmId"));
        add_vault(dc, d->cmk, str_at(live, "properties.keyVault"));
    }
    r->scopes = dc->n;
    if (dc->n == 0)
        goto out;
    d->searched = true;
    /* the bodies of the workspaces, vaults, storage accounts and
     * registries are read after the refresh (take_bodies): the view keeps
     * the refresh's reads of them */
    for (size_t i = 0; i < dc->n; i++)
        if (pec_parent_of(dc->scopes[i].id) && provider_readonly_expect(p, dc->scopes[i].id) < 0) {
            rc = errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
            goto out;
        }
    /* what Resource Graph does not hold, listed in the background from
     * now on: the vaults' keys (the refresh's reads of the managed keys
     * are their items), and the diagnostic settings of every scope but
     * resource groups */
    if (lists_init(&d->keys, json_array_size(d->cmk)) < 0 || lists_init(&d->diag, dc->n) < 0) {
        rc = errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
        goto out;
    }
    {
        size_t i;
        const json_t *v;
        json_array_foreach(d->cmk, i, v)
        {
            const struct scope *sc = scope_of(dc, json_string_value(v));
            if (sc)
                lists_add(&d->keys, sc, "/keys", KEYS_API, L_KEYS);
        }
    }
    for (size_t i = 0; i < dc->n; i++)
        if (strcasestr(dc->scopes[i].id, "/providers/") != NULL)
            lists_add(&d->diag, &dc->scopes[i], "/providers/Microsoft.Insights/diagnosticSettings",
                      DIAG_API, L_DIAG);
    if ((rc = computes_lists(d, cfg, st)) < 0) {
        errbuf_set(err, rc, "out of memory");
        goto out;
    }
    if ((rc = lists_start(&d->keys, p, err)) < 0 || (rc = lists_start(&d->computes, p, err)) < 0 ||
        (rc = lists_start(&d->diag, p, err)) < 0)
        goto out;
    {
        struct buf q[NQUERIES], who;
        const char *queries[NQUERIES];
        json_t *now_rows[NQUERIES];
        int which[NQUERIES];
        size_t nnow = 0;
        size_t nq = json_object_size(principals) ? NQUERIES : Q_IDENTITIES;
        const char *key;
        json_t *v;
        const char **subs = calloc(json_array_size(dc->subscriptions) + 1, sizeof(*subs));
        bool ok = subs != NULL;
        size_t i;
        const json_t *s;
        json_array_foreach(dc->subscriptions, i, s) subs[i] = json_string_value(s);
        for (int k = 0; k < NQUERIES; k++)
            buf_init(&q[k], 0);
        buf_init(&who, 0);
        i = 0;
        json_object_foreach(principals, key, v) buf_addf(&who, "%s'%s'", i++ ? ", " : "", key);
        /* role assignments, projected as a read projects them (those amlsec
         * manages are the refresh's reads of them): at the scopes, of anyone
         * but the workspaces' identities; and every one of those identities
         * (what the plan's WS-MI-PERMS reads, and those at the scopes) */
        buf_adds(&q[Q_AUTHZ],
                 "authorizationresources | where (type =~ "
                 "'microsoft.authorization/roleassignments' and properties.scope in~ (");
        ok = ok && quoted_scopes(&q[Q_AUTHZ], dc);
        buf_adds(&q[Q_AUTHZ], "))");
        if (nq == NQUERIES) {
            buf_addf(&q[Q_AUTHZ], " and properties.principalId !in~ (%s)", who.ptr);
            buf_addf(&q[Q_IDENTITIES],
                     "authorizationresources | where type =~ "
                     "'microsoft.authorization/roleassignments' and properties.principalId in~ "
                     "(%s) | project " GRAPH_AUTHZ_PROJECTION,
                     who.ptr);
        }
        buf_adds(&q[Q_AUTHZ], " | project " GRAPH_AUTHZ_PROJECTION);
        buf_release(&who);
        /* role and policy assignments carry their scope; exemptions are
         * taken by the scope their id starts with (locks are in no Resource
         * Graph table: subscription_locks lists them) */
        buf_adds(&q[Q_POLICY], "policyresources | where (type =~ "
                               "'microsoft.authorization/policyassignments' and properties.scope "
                               "in~ (");
        ok = ok && quoted_scopes(&q[Q_POLICY], dc);
        buf_adds(&q[Q_POLICY], ")) or type =~ 'microsoft.authorization/policyexemptions' | "
                               "project id, type, properties");
        /* the private endpoints with a connection to a scope (automatic, or
         * manual: a query each, so that neither holds the list twice),
         * projected as a read projects them: those amlsec manages are the
         * refresh's reads of them; no other endpoint is read */
        for (int k = Q_ENDPOINTS; k <= Q_MANUAL_ENDPOINTS; k++) {
            buf_addf(&q[k],
                     "resources | where type =~ 'microsoft.network/privateendpoints' | mv-expand "
                     "c = properties.%s | where c.properties.privateLinkServiceId in~ (",
                     k == Q_ENDPOINTS ? "privateLinkServiceConnections"
                                      : "manualPrivateLinkServiceConnections");
            quoted_link_targets(&q[k], dc);
            buf_adds(&q[k], ") | project " GRAPH_PROJECTION);
        }
        /* the policy assignments' query goes last, after the plan
         * (discover_finish): nothing before needs it, and when the quota
         * makes it wait, the plan's work fills the wait */
        for (size_t k = 0; k < nq; k++)
            if (k != Q_POLICY) {
                queries[nnow] = q[k].ptr;
                which[nnow++] = (int)k;
            }
        if (!ok) {
            rc = errbuf_set(err, AMLSEC_EUSAGE, "a scope cannot be quoted in a KQL query");
        } else {
            rc = provider_graph_query(p, queries, nnow, subs, json_array_size(dc->subscriptions),
                                      now_rows, err);
            for (size_t j = 0; rc == 0 && j < nnow; j++)
                d->rows[which[j]] = now_rows[j];
            if (rc == 0 && (d->policy_query = buf_detach(&q[Q_POLICY], NULL)) == NULL)
                rc = errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
        }
        for (int k = 0; k < NQUERIES; k++)
            buf_release(&q[k]);
        free(subs);
        if (rc < 0 && rc != AMLSEC_ENOMEM && ok) {
            /* Resource Graph refused or failed: ARM's own lists at each
             * scope (more requests; exemptions are not listed this way,
             * and private endpoints show through their connections) */
            json_array_append_new(r->notes,
                                  json_sprintf("Resource Graph failed (%s): role assignments, "
                                               "locks and policy assignments were listed at each "
                                               "scope instead; policy exemptions were not searched",
                                               err->msg));
            rc = scope_lists(r, p, dc, d->rows, err);
        } else if (rc == 0) {
            json_t *row;
            /* the identities' assignments: theirs for the live rules, and
             * with the others for discovery (those at the scopes count) */
            json_array_foreach(d->rows[Q_IDENTITIES], i, row)
            {
                const char *pr = str_at(row, "properties.principalId");
                char lower[128];
                size_t c = 0;
                json_t *list;
                for (; pr && pr[c] && c + 1 < sizeof(lower); c++)
                    lower[c] = (char)tolower((unsigned char)pr[c]);
                lower[c] = '\0';
                if (pr && (list = json_object_get(principals, lower)) != NULL)
                    json_array_append(list, row);
            }
            if (nq == NQUERIES) {
                d->assignments = json_incref(principals);
                json_array_extend(d->rows[Q_AUTHZ], d->rows[Q_IDENTITIES]);
            }
            json_array_extend(d->rows[Q_ENDPOINTS], d->rows[Q_MANUAL_ENDPOINTS]);
            subscription_locks(r, p, dc, d->rows[Q_AUTHZ]);
            if ((rc = keep_managed(p, dc, d->rows[Q_AUTHZ],
                                   "Microsoft.Authorization/roleAssignments")) == 0)
                rc =
                    keep_managed(p, dc, d->rows[Q_ENDPOINTS], "Microsoft.Network/privateEndpoints");
            if (rc < 0)
                errbuf_set(err, rc, "out of memory");
        }
    }
    if (rc == 0) {
        /* the managed keys' and computes' refresh: their items in their
         * parents' lists (a list that failed leaves its children to the
         * refresh's reads) */
        lists_finish(&d->keys, p);
        lists_finish(&d->computes, p);
        if (keep_items(p, dc, &d->keys) < 0 || keep_items(p, dc, &d->computes) < 0)
            rc = errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    }
    d->t2 = mono_ms();
out:
    if (res)
        provider_results_release(res, nws);
    free(res);
    free(refs);
    free(ws);
    json_decref(principals);
    return rc;
}

/* The entries of a from index `from` on, moved to a new array (a keeps
 * the first `from`); NULL when out of memory. */
static json_t *array_tail(json_t *a, size_t from)
{
    json_t *tail = json_array();
    size_t n = json_array_size(a);
    for (size_t i = from; tail && i < n; i++)
        if (json_array_append(tail, json_array_get(a, i)) < 0) {
            json_decref(tail);
            return NULL;
        }
    while (tail && json_array_size(a) > from)
        json_array_remove(a, json_array_size(a) - 1);
    return tail;
}

/* The second half: the findings of the queries and of what Resource Graph
 * does not hold (the lists, the scopes' bodies) are taken first, and the
 * policy assignments' query goes last, the run's last Resource Graph query:
 * when the quota makes it wait for a window, this work fills the wait
 * instead of following its answer. Its findings then go where the report
 * has always had them: after the role assignments and locks, before the
 * private endpoints (its error, first among the errors of this half). */
static int discover_finish(struct discover_run *d, struct drift_report *r, struct provider *p,
                           struct drift_ignore *ig, struct errbuf *err)
{
    json_t *rest[3], **lists[3] = {&r->unmanaged, &r->suppressed, &r->errors};
    size_t mark[3];
    double t3;
    int rc;
    if (!d->searched)
        return 0;
    mark[2] = json_array_size(r->errors);
    take_authorization(r, ig, &d->dc, d->rows[Q_AUTHZ]);
    mark[0] = json_array_size(r->unmanaged);
    mark[1] = json_array_size(r->suppressed);
    take_endpoints(r, ig, &d->dc, d->rows[Q_ENDPOINTS]);
    lists_finish(&d->diag, p);
    t3 = mono_ms();
    rc = take_bodies(r, ig, p, &d->dc, &d->diag, &d->keys, err);
    log_msg(LOG_DEBUG,
            "drift: workspaces read %.0f ms, Resource Graph %.0f ms, lists %.0f ms, vaults %.0f ms",
            d->t1 - d->t0, d->t2 - d->t1, t3 - d->t2, mono_ms() - t3);
    log_msg(LOG_DEBUG, "drift: %zu scopes; their look-ups visited %zu entries", d->dc.n, d->work);
    if (rc < 0)
        return rc;
    for (int k = 0; k < 3; k++)
        if ((rest[k] = array_tail(*lists[k], mark[k])) == NULL) {
            while (k-- > 0)
                json_decref(rest[k]);
            return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
        }
    if (d->policy_query) { /* else ARM's lists at the scopes gave its rows */
        const char **subs = calloc(json_array_size(d->dc.subscriptions) + 1, sizeof(*subs));
        size_t i;
        const json_t *s;
        if (subs == NULL) {
            rc = errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
        } else {
            json_array_foreach(d->dc.subscriptions, i, s) subs[i] = json_string_value(s);
            rc =
                provider_graph_query(p, (const char *const *)&d->policy_query, 1, subs,
                                     json_array_size(d->dc.subscriptions), &d->rows[Q_POLICY], err);
            free(subs);
        }
        if (rc < 0 && rc != AMLSEC_ENOMEM)
            json_array_append_new(r->errors, json_sprintf("Resource Graph failed for the policy "
                                                          "assignments and exemptions: %s",
                                                          err->msg));
    }
    if (rc != AMLSEC_ENOMEM)
        take_policy(r, ig, &d->dc, d->rows[Q_POLICY]);
    for (int k = 0; k < 3; k++) {
        json_array_extend(*lists[k], rest[k]);
        json_decref(rest[k]);
    }
    return rc == AMLSEC_ENOMEM ? rc : 0;
}

/* One findings model: every finding also carries its severity and, when
 * the configuration declares it, where ("main.amlsec:12:1"). */
static void situate(json_t *list, const struct config *cfg)
{
    size_t i;
    json_t *f;
    json_array_foreach(list, i, f)
    {
        const char *kind = json_string_value(json_object_get(f, "kind"));
        const char *address = json_string_value(json_object_get(f, "address"));
        const struct cfg_instance *in = address ? config_find_instance(cfg, address) : NULL;
        json_object_set_new(f, "severity",
                            json_string(kind && strcmp(kind, "pending") == 0 ? "note" : "warning"));
        if (in && in->resource->block && in->resource->block->type_loc.file) {
            const struct src_loc *loc = &in->resource->block->type_loc;
            struct src_pos pos = src_loc_start(loc);
            json_object_set_new(
                f, "location",
                json_sprintf("%s:%u:%u", loc->file->name, (unsigned)pos.line, (unsigned)pos.col));
        }
    }
}

/* --- the run ------------------------------------------------------------------ */

int drift_run(struct drift_report *out, const struct config *cfg, struct state *st,
              struct provider *p, struct drift_ignore *ig, struct diag_list *diags,
              struct errbuf *err)
{
    struct plan_opts po;
    struct diag_list pd;
    struct discover_run disc;
    double t0, t1;
    int rc;

    memset(out, 0, sizeof(*out));
    out->changed = json_array();
    out->deleted = json_array();
    out->unmanaged = json_array();
    out->missing_grants = json_array();
    out->pending = json_array();
    out->suppressed = json_array();
    out->errors = json_array();
    out->notes = json_array();
    memset(&po, 0, sizeof(po));
    po.refresh = true;
    t0 = mono_ms();
    if ((rc = discover_prepare(&disc, out, cfg, st, p, ig, err)) < 0) {
        discover_release(&disc);
        return rc;
    }
    po.assignments = disc.assignments; /* WS-MI-PERMS needs no query of its own */
    diag_list_init(&pd);
    rc = plan_build(&out->plan, cfg, st, p, &po, &pd, err);
    t1 = mono_ms();
    if (rc == AMLSEC_EPARSE && out->plan) {
        /* errors that only concern writing (the caller may not join a
         * subnet a pending change deploys into: RBAC-VNET-JOIN) do not stop
         * a run that writes nothing; a scheduled job's identity may well
         * be a Reader */
        size_t others = 0;
        for (size_t i = 0; i < pd.n; i++)
            others += pd.items[i].severity == DIAG_ERROR &&
                      strcmp(pd.items[i].code, "RBAC-VNET-JOIN") != 0;
        if (others == 0)
            rc = 0;
    }
    grant_findings(out, ig, &pd, diags);
    diag_list_release(&pd);
    if (rc < 0) {
        discover_release(&disc);
        return rc;
    }
    drift_findings(out, cfg, ig);
    pending_findings(out);
    rc = discover_finish(&disc, out, p, ig, err);
    discover_release(&disc);
    log_msg(LOG_DEBUG, "drift: %zu reads answered by what the run had read already",
            provider_readonly_hits(p));
    situate(out->changed, cfg);
    situate(out->deleted, cfg);
    situate(out->unmanaged, cfg);
    situate(out->missing_grants, cfg);
    situate(out->pending, cfg);
    situate(out->suppressed, cfg);
    log_msg(LOG_DEBUG,
            "drift: discovery's queries, refresh and comparison %.0f ms, unmanaged discovery "
            "%.0f ms",
            t1 - t0, mono_ms() - t1);
    if (rc == 0 && json_array_size(out->errors) > 0)
        rc = errbuf_set(err, AMLSEC_ERROR, "%s", json_string_value(json_array_get(out->errors, 0)));
    return rc;
}

void drift_report_release(struct drift_report *r)
{
    plan_free(r->plan);
    json_decref(r->changed);
    json_decref(r->deleted);
    json_decref(r->unmanaged);
    json_decref(r->missing_grants);
    json_decref(r->pending);
    json_decref(r->suppressed);
    json_decref(r->errors);
    json_decref(r->notes);
    memset(r, 0, sizeof(*r));
}

size_t drift_count(const struct drift_report *r)
{
    return json_array_size(r->changed) + json_array_size(r->deleted) +
           json_array_size(r->unmanaged) + json_array_size(r->missing_grants);
}

json_t *drift_to_json(const struct drift_report *r, const struct drift_ignore *ig)
{
    json_t *sup = json_array();
    for (size_t i = 0; ig && i < ig->n; i++) {
        const struct drift_suppression *s = &ig->items[i];
        json_array_append_new(sup, json_pack("{s:s?, s:i, s:s, s:s, s:s?, s:s, s:s, s:i}", "file",
                                             ig->file, "line", (json_int_t)s->line, "pattern",
                                             s->pattern, "what", s->what, "expires", s->expires,
                                             "reason", s->reason, "status",
                                             s->expired ? "expired"
                                             : s->used  ? "used"
                                                        : "unused",
                                             "matched", (json_int_t)s->used));
    }
    return json_pack(
        "{s:s, s:b, s:{s:i, s:i, s:i, s:i, s:i, s:i, s:i}, s:O, s:O, s:O, s:O, s:O, s:O, s:o, "
        "s:O}",
        "format_version", "1.0", "drift", drift_count(r) > 0, "summary", "changed",
        (json_int_t)json_array_size(r->changed), "deleted", (json_int_t)json_array_size(r->deleted),
        "unmanaged", (json_int_t)json_array_size(r->unmanaged), "missing_grants",
        (json_int_t)json_array_size(r->missing_grants), "pending",
        (json_int_t)json_array_size(r->pending), "suppressed",
        (json_int_t)json_array_size(r->suppressed), "scopes_searched", (json_int_t)r->scopes,
        "changed", r->changed, "deleted", r->deleted, "unmanaged", r->unmanaged, "missing_grants",
        r->missing_grants, "pending", r->pending, "suppressed", r->suppressed, "suppressions", sup,
        "notes", r->notes);
}

/* --- the report as findings ---------------------------------------------------- */

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* "main.amlsec:12:1" -> f's file, line and column (dir_prefix in front). */
static void finding_locate(struct finding *f, const char *where, const char *dir_prefix)
{
    const char *c2 = where ? strrchr(where, ':') : NULL, *c1 = NULL;
    char *file;
    size_t n, pre = dir_prefix ? strlen(dir_prefix) : 0;
    if (c2 == NULL || c2 == where)
        return;
    for (c1 = c2 - 1; c1 > where && *c1 != ':'; c1--)
        ;
    if (*c1 != ':')
        return;
    n = (size_t)(c1 - where);
    if ((file = malloc(pre + n + 1)) == NULL)
        return;
    memcpy(file, dir_prefix ? dir_prefix : "", pre);
    memcpy(file + pre, where, n);
    file[pre + n] = '\0';
    f->file = file;
    f->line = f->end_line = (unsigned)strtoul(c1 + 1, NULL, 10);
    f->col = f->end_col = (unsigned)strtoul(c2 + 1, NULL, 10);
}

static int report_list_findings(struct finding_list *out, const json_t *list,
                                const char *dir_prefix)
{
    static const struct {
        const char *kind, *rule_id, *name, *help;
    } kinds[] = {
        {"changed", "DRIFT-CHANGED", "Changed outside amlsec",
         "The resource's attributes in Azure differ from what amlsec last applied. Apply the "
         "configuration again to restore them, or change the configuration to match, or "
         "suppress the attribute in .amlsecignore with a reason."},
        {"deleted", "DRIFT-DELETED", "Deleted outside amlsec",
         "The resource amlsec manages no longer exists in Azure. Apply to create it again, or "
         "remove it from the configuration."},
        {"unmanaged", "DRIFT-UNMANAGED", "Unmanaged security-relevant object",
         "An object at a managed workspace's scopes (role assignment, lock, policy assignment "
         "or exemption, private endpoint, diagnostic setting, key, access policy) that no "
         "configuration declares. Declare it, delete it, or suppress it in .amlsecignore."},
        {"missing_grant", NULL, "Missing grant of a workspace identity",
         "A workspace's managed identity lacks a role it needs on an associated resource."},
        {"pending", "DRIFT-PENDING", "Configuration change not applied yet",
         "The configuration differs from what was applied; not drift. Run plan and apply."},
    };
    size_t i;
    const json_t *x;
    json_array_foreach(list, i, x)
    {
        const char *kind = json_string_value(json_object_get(x, "kind"));
        const char *sev = json_string_value(json_object_get(x, "severity"));
        const char *msg = json_string_value(json_object_get(x, "message"));
        const json_t *attrs = json_object_get(x, "attributes");
        enum finding_level lv = sev && strcmp(sev, "error") == 0  ? FINDING_DENY
                                : sev && strcmp(sev, "note") == 0 ? FINDING_INFO
                                                                  : FINDING_AUDIT;
        size_t k = 0;
        struct finding *f;
        while (k < sizeof(kinds) / sizeof(kinds[0]) &&
               (kind == NULL || strcmp(kinds[k].kind, kind)))
            k++;
        if (k == sizeof(kinds) / sizeof(kinds[0]))
            continue;
        f = finding_add(out, FINDING_DRIFT, lv,
                        kinds[k].rule_id ? kinds[k].rule_id
                        : json_string_value(json_object_get(x, "rule"))
                            ? json_string_value(json_object_get(x, "rule"))
                            : "DRIFT-GRANT",
                        msg ? msg : kind);
        if (f == NULL)
            return AMLSEC_ENOMEM;
        f->rule_name = strdup(kinds[k].name);
        f->help = strdup(kinds[k].help);
        f->effect = dup_or_null(sev ? sev : "warning");
        f->address = dup_or_null(json_string_value(json_object_get(x, "address")));
        if (f->address == NULL) /* an unmanaged object: the resource it sits near */
            f->address = dup_or_null(json_string_value(json_object_get(x, "near")));
        f->arm_id = dup_or_null(json_string_value(json_object_get(x, "arm_id")));
        finding_locate(f, json_string_value(json_object_get(x, "location")), dir_prefix);
        if (json_array_size(attrs) > 0) {
            const json_t *a = json_array_get(attrs, 0);
            f->attribute = dup_or_null(json_string_value(json_object_get(a, "path")));
            f->value =
                json_object_get(a, "after") ? json_incref(json_object_get(a, "after")) : NULL;
        }
    }
    return 0;
}

int drift_report_findings(struct finding_list *out, const struct drift_report *r,
                          const char *dir_prefix)
{
    const json_t *lists[] = {r->changed, r->deleted, r->unmanaged, r->missing_grants, r->pending};
    for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++)
        if (report_list_findings(out, lists[i], dir_prefix) < 0)
            return AMLSEC_ENOMEM;
    return 0;
}
