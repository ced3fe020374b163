#include "engine/policy_check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "parser/value.h"
#include "providers/arm/render.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/jsonw.h"
#include "util/banned.h"

static bool under(const char *id, const char *scope)
{
    size_t n;
    if (scope == NULL)
        return true;
    if (id == NULL)
        return false;
    n = strlen(scope);
    while (n && scope[n - 1] == '/')
        n--;
    return strncasecmp(id, scope, n) == 0 && (id[n] == '/' || id[n] == '\0');
}

static bool in_scope(const struct policy_binding *b, const char *id)
{
    size_t i;
    const json_t *ns;
    if (!under(id, b->scope))
        return false;
    json_array_foreach(b->not_scopes, i, ns)
    {
        if (json_is_string(ns) && under(id, json_string_value(ns)))
            return false;
    }
    return true;
}

static bool is_unknown(const json_t *v)
{
    return v && ((json_is_string(v) && strcmp(json_string_value(v), RENDER_UNKNOWN) == 0) ||
                 value_is_unknown(v));
}

/* Every string under v (a sensitive attribute's value). */
static void collect_strings(json_t *out, const json_t *v)
{
    size_t i;
    const char *k;
    json_t *el;
    if (json_is_string(v) && json_string_length(v) >= 4)
        json_array_append(out, (json_t *)v);
    else if (json_is_array(v))
        json_array_foreach(v, i, el) collect_strings(out, el);
    else if (json_is_object(v))
        json_object_foreach((json_t *)v, k, el) collect_strings(out, el);
}

/* The values of the subject's sensitive attributes (policy_subject's
 * secret_paths into secret_values). New reference; NULL: out of memory. */
static json_t *secrets_of(const struct policy_subject *subj)
{
    json_t *out = json_array();
    size_t i;
    const json_t *p;
    json_array_foreach(subj->secret_paths, i, p)
    {
        const char *path = json_string_value(p);
        const json_t *v = subj->secret_values;
        while (path && *path && v) {
            char seg[256];
            size_t n = strcspn(path, ".[");
            if (n >= sizeof(seg))
                break;
            memcpy(seg, path, n);
            seg[n] = '\0';
            v = json_object_get(v, seg);
            path += n;
            if (*path == '[') /* list elements: take the whole list */
                break;
            if (*path == '.')
                path++;
        }
        if (out)
            collect_strings(out, v);
    }
    return out;
}

/* Where the first of secrets in text starts, in any case (toUpper() of a
 * secret is as secret), its length in *len; NULL: none. */
static const char *find_secret(const char *text, const json_t *secrets, size_t *len)
{
    const char *first = NULL;
    size_t i;
    const json_t *s;
    json_array_foreach(secrets, i, s)
    {
        const char *sv = json_string_value(s);
        size_t n = sv ? strlen(sv) : 0;
        for (const char *p = text; n && *p && (first == NULL || p < first); p++)
            if (strncasecmp(p, sv, n) == 0) {
                first = p;
                *len = n;
                break;
            }
    }
    return first;
}

/* text with every one of secrets in it replaced by "(sensitive)" (an
 * evaluation error that quotes the value it failed on), into out. */
static void scrub(struct buf *out, const char *text, const json_t *secrets)
{
    const char *hit;
    size_t n = 0;
    while ((hit = find_secret(text, secrets, &n)) != NULL) {
        buf_add(out, text, (size_t)(hit - text));
        buf_adds(out, RENDER_SENSITIVE);
        text = hit + n;
    }
    buf_adds(out, text);
}

/* v, or "(sensitive)" when it holds one of secrets (NULL: none). New
 * reference. */
static json_t *redacted(const json_t *v, const json_t *secrets)
{
    char *text;
    size_t n;
    bool hit;
    if (v == NULL || json_array_size(secrets) == 0)
        return json_incref((json_t *)v);
    text = jsonw_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    hit = text == NULL || find_secret(text, secrets, &n) != NULL; /* no memory: the worst */
    free(text);
    return hit ? json_string(RENDER_SENSITIVE) : json_incref((json_t *)v);
}

/* A Modify or Append's changes with each before and after redacted().
 * New reference. */
static json_t *redacted_changes(const json_t *changes, const json_t *secrets)
{
    json_t *out;
    size_t i;
    const json_t *c;
    if (changes == NULL || json_array_size(secrets) == 0)
        return json_incref((json_t *)changes);
    if ((out = json_array()) == NULL)
        return NULL;
    json_array_foreach(changes, i, c)
    {
        json_t *copy = json_copy((json_t *)c);
        if (copy == NULL || json_array_append_new(out, copy) < 0) {
            json_decref(out);
            return NULL;
        }
        for (const char *const *k = (const char *const[]){"before", "after", NULL}; *k; k++)
            if (json_object_get(copy, *k) &&
                json_object_set_new(copy, *k, redacted(json_object_get(copy, *k), secrets)) < 0) {
                json_decref(out);
                return NULL;
            }
    }
    return out;
}

static enum finding_level level_of(const struct policy_result *r, bool enforce)
{
    switch (r->verdict) {
    case POLICY_NONCOMPLIANT:
        return r->effect == POLICY_EFFECT_DENY && enforce ? FINDING_DENY : FINDING_AUDIT;
    case POLICY_ERROR:
        return enforce ? FINDING_DENY : FINDING_AUDIT;
    case POLICY_NOT_EVALUABLE:
        return FINDING_INFO;
    default:
        return FINDING_PASS;
    }
}

static int add_finding(struct finding_list *out, const struct policy_binding *b,
                       const struct policy_subject *s, struct policy_result *r)
{
    enum finding_level lv = level_of(r, b->enforce);
    /* the secrets collected for this finding alone, not held per subject */
    json_t *secrets = json_array_size(s->secret_paths) ? secrets_of(s) : NULL;
    json_t *value, *changes;
    struct buf msg;
    struct finding *f;
    char *vtext = NULL;

    if (json_array_size(s->secret_paths) && secrets == NULL)
        return AMLSEC_ENOMEM;
    value = redacted(r->value, secrets);
    changes = redacted_changes(r->changes, secrets);
    buf_init(&msg, 1 << 16);
    if (r->verdict == POLICY_NONCOMPLIANT && r->changes) {
        buf_addf(&msg, "%s: Azure would change %zu value(s) of the request",
                 policy_effect_name(r->effect), json_array_size(r->changes));
    } else if (r->verdict == POLICY_NONCOMPLIANT) {
        if (r->effect == POLICY_EFFECT_DENY)
            buf_adds(&msg, b->enforce ? "Deny: Azure would refuse the request"
                                      : "Deny (not enforced: DoNotEnforce)");
        else
            buf_addf(&msg, "%s: Azure would report it non-compliant",
                     policy_effect_name(r->effect));
        if (r->reason) {
            buf_adds(&msg, " (");
            scrub(&msg, r->reason, secrets);
            buf_adds(&msg, ")");
        }
    } else if (r->reason) {
        scrub(&msg, r->reason, secrets);
    } else {
        buf_adds(&msg, "compliant");
    }
    if (r->field && r->verdict != POLICY_NOT_EVALUABLE && r->verdict != POLICY_ERROR) {
        vtext = value ? jsonw_dumps(value, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
        buf_addf(&msg, "; %s %s %s", r->path ? r->path : r->field, vtext ? "is" : "is",
                 vtext ? vtext : "missing");
        if (r->condition)
            buf_addf(&msg, " (%s)", r->condition);
        free(vtext);
    }
    f = finding_add(out, FINDING_POLICY, lv, policy_id(b->policy), msg.ptr);
    buf_release(&msg);
    json_decref(secrets);
    if (f == NULL || (r->changes && changes == NULL)) {
        json_decref(value);
        json_decref(changes);
        return AMLSEC_ENOMEM;
    }
    finding_set_loc(f, &s->loc);
    f->rule_name = strdup(policy_display_name(b->policy));
    f->effect = strdup(policy_effect_name(r->effect));
    f->verdict = strdup(policy_verdict_name(r->verdict));
    f->address = s->address ? strdup(s->address) : NULL;
    f->arm_id = s->res.id ? strdup(s->res.id) : NULL;
    f->attribute = r->field ? strdup(r->field) : NULL;
    f->path = r->path ? strdup(r->path) : NULL;
    f->value = value;
    f->changes = changes;
    {
        struct buf h;
        buf_init(&h, 1 << 16);
        buf_addf(&h, "Azure Policy definition %s", policy_id(b->policy));
        if (b->assignment)
            buf_addf(&h, ", assigned by %s%s", b->assignment,
                     b->enforce ? "" : " (enforcement DoNotEnforce)");
        buf_addf(&h, "; mode %s.", policy_mode(b->policy));
        f->help = buf_detach(&h, NULL);
    }
    if (strncasecmp(policy_id(b->policy), "/providers/Microsoft.Authorization/policyDefinitions/",
                    52) == 0) {
        size_t n = strlen(policy_id(b->policy)) + 80;
        f->help_uri = malloc(n);
        if (f->help_uri)
            snprintf(f->help_uri, n,
                     "https://portal.azure.com/#view/Microsoft_Azure_Policy/"
                     "PolicyDetailBlade/definitionId/%s",
                     policy_id(b->policy));
    }
    return 0;
}

int policy_check_run(struct finding_list *out, struct policy_check_stats *stats,
                     const struct policy_subject *subjects, size_t nsubjects,
                     const struct policy_binding *bindings, size_t nbindings,
                     const struct policy_aliases *aliases, bool passes)
{
    struct policy_resource *related = malloc((nsubjects ? nsubjects : 1) * sizeof(*related));
    int rc = 0;

    if (related == NULL)
        return AMLSEC_ENOMEM;
    for (size_t i = 0; i < nsubjects; i++)
        related[i] = subjects[i].res;
    for (size_t bi = 0; bi < nbindings && rc == 0; bi++) {
        const struct policy_binding *b = &bindings[bi];
        for (size_t si = 0; si < nsubjects && rc == 0; si++) {
            const struct policy_subject *s = &subjects[si];
            struct policy_result r;
            if (s->related_only || !in_scope(b, s->res.id))
                continue;
            if (stats)
                stats->evaluations++;
            rc = policy_evaluate(&r, b->policy, aliases, &s->res, related, nsubjects, false);
            if (rc < 0)
                break;
            if (is_unknown(r.value) &&
                (r.verdict == POLICY_NONCOMPLIANT || r.verdict == POLICY_COMPLIANT)) {
                char reason[1024];
                snprintf(reason, sizeof(reason),
                         "not evaluable offline: %s is known only after apply",
                         r.path    ? r.path
                         : r.field ? r.field
                                   : "the deciding value");
                free(r.reason);
                r.reason = strdup(reason);
                r.verdict = POLICY_NOT_EVALUABLE;
            }
            if (r.verdict != POLICY_DISABLED && r.verdict != POLICY_NOT_APPLICABLE &&
                (r.verdict != POLICY_COMPLIANT || passes))
                rc = add_finding(out, b, s, &r);
            policy_result_release(&r);
        }
    }
    free(related);
    return rc;
}

static const json_t *def_props(const json_t *def)
{
    const json_t *props = json_object_get(def, "properties");
    return json_is_object(props) ? props : def;
}

bool policy_set_members(const json_t *def, const json_t **members)
{
    const json_t *m = json_object_get(def_props(def), "policyDefinitions");
    if (!json_is_array(m))
        return false;
    *members = m;
    return true;
}

json_t *policy_set_member_params(const json_t *set_def, const json_t *member,
                                 const json_t *assigned)
{
    const json_t *defs = json_object_get(def_props(set_def), "parameters");
    json_t *out = json_object(), *pv;
    const char *k;
    if (out == NULL)
        return NULL;
    json_object_foreach(json_object_get(member, "parameters"), k, pv)
    {
        const json_t *v = json_is_object(pv) ? json_object_get(pv, "value") : pv;
        const char *s = json_string_value(v);
        char name[256];
        if (s && sscanf(s, "[parameters('%255[^']')]", name) == 1) {
            const json_t *a = json_object_get(assigned, name);
            const json_t *d = json_object_get(json_object_get(defs, name), "defaultValue");
            v = a ? a : d;
        }
        if (v)
            json_object_set(out, k, (json_t *)v);
    }
    return out;
}
