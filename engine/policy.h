/* The Azure Policy evaluator: a pure function of a policy definition, the
 * assignment's parameter values, the provider alias table and one resource
 * request body (plus related bodies for existence conditions). No I/O: the
 * caller loads definitions and aliases (from ARM, a cache, or files).
 *
 * The rule language as Azure evaluates it: allOf / anyOf / not; the
 * conditions equals, notEquals, like, notLike, match, notMatch,
 * matchInsensitively, notMatchInsensitively, contains, notContains, in,
 * notIn, containsKey, notContainsKey, less, lessOrEquals, greater,
 * greaterOrEquals, exists; the operands field, value and count (field and
 * value counts, where, current()); [*] aliases (a field condition holds when
 * every selected element satisfies it, vacuously over an empty or missing
 * array); parameters with defaults and assignment values; template
 * functions ("[parameters('effect')]", field, current, concat, empty,
 * length, if, toLower, split, requestContext().apiVersion, ...). Strings
 * compare case-insensitively except under match/notMatch. An evaluation
 * error (unknown function, type mismatch, missing parameter) makes the
 * verdict POLICY_ERROR, which Azure treats as a deny. */
#ifndef AMLSEC_ENGINE_POLICY_H
#define AMLSEC_ENGINE_POLICY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "util/errbuf.h"

/* ---- alias table --------------------------------------------------------- */

struct policy_aliases;

int policy_aliases_new(struct policy_aliases **out);
void policy_aliases_free(struct policy_aliases *a);
size_t policy_aliases_count(const struct policy_aliases *a);
/* Adds (or replaces) alias name -> default_path; paths (may be NULL) is
 * ARM's [{path, apiVersions:[...]}] list, consulted per api-version. */
int policy_aliases_add(struct policy_aliases *a, const char *name, const char *default_path,
                       const json_t *paths);
/* "alias,defaultPath" rows (a header row "alias,..." is skipped). A row
 * without a comma is an error naming its line. */
int policy_aliases_load_csv(struct policy_aliases *a, const char *text, size_t len,
                            const char *file, struct errbuf *err);
/* ARM's providers API shape: one provider ({namespace, resourceTypes:
 * [{resourceType, aliases:[{name, paths, defaultPath}]}]}) or a list
 * ({value:[provider...]}). */
int policy_aliases_load_providers(struct policy_aliases *a, const json_t *doc, struct errbuf *err);
/* The JSON path of alias for api_version (NULL: the default path), or NULL
 * when the alias is unknown. */
const char *policy_alias_path(const struct policy_aliases *a, const char *alias,
                              const char *api_version);

/* ---- definitions ---------------------------------------------------------- */

enum policy_effect {
    POLICY_EFFECT_DISABLED,
    POLICY_EFFECT_AUDIT,
    POLICY_EFFECT_DENY,
    POLICY_EFFECT_MODIFY,
    POLICY_EFFECT_APPEND,
    POLICY_EFFECT_AUDIT_IF_NOT_EXISTS,
    POLICY_EFFECT_DEPLOY_IF_NOT_EXISTS,
    POLICY_EFFECT_MANUAL,
    POLICY_EFFECT_DENY_ACTION,
    POLICY_EFFECT_UNKNOWN,
};

/* "Audit", "Deny", "AuditIfNotExists", ... */
const char *policy_effect_name(enum policy_effect e);

/* A definition bound to an assignment's parameter values. */
struct policy;

/* definition: an exported definition ({properties:{...}, name, id}) or its
 * bare properties object; it is referenced, not copied. params: the
 * assignment's values, {name: {value: V}} or {name: V}, or NULL. Fails
 * (AMLSEC_EPARSE) on a malformed definition, a parameter without value or
 * default, or a value outside allowedValues. */
int policy_prepare(struct policy **out, const json_t *definition, const json_t *params,
                   struct errbuf *err);
void policy_free(struct policy *p);
const char *policy_display_name(const struct policy *p); /* never NULL */
const char *policy_id(const struct policy *p);           /* id, else name; never NULL */
const char *policy_mode(const struct policy *p);         /* "All" when absent */

/* ---- evaluation ------------------------------------------------------------ */

/* A resource as the request ARM would receive: body is the PUT body. */
struct policy_resource {
    const char *id;
    const char *name;
    const char *type; /* "Microsoft.MachineLearningServices/workspaces" */
    const char *api_version;
    const json_t *body;
    long long now;    /* what utcNow() returns, seconds since 1970 (the caller's clock) */
    bool not_indexed; /* the type has no location and tags: Indexed-mode policies skip it */
};

enum policy_verdict {
    POLICY_COMPLIANT,      /* the if did not hold, or nothing would be changed or is missing */
    POLICY_NONCOMPLIANT,   /* the effect applies */
    POLICY_DISABLED,       /* effect Disabled: not evaluated */
    POLICY_NOT_APPLICABLE, /* an Indexed-mode policy and a type without location and tags */
    POLICY_NOT_EVALUABLE,  /* resource-provider mode, or the existence check needs the cloud */
    POLICY_ERROR,          /* the evaluation failed: Azure counts it as deny */
};

const char *policy_verdict_name(enum policy_verdict v);

struct policy_result {
    enum policy_verdict verdict;
    enum policy_effect effect;
    char *field;     /* what decided it: an alias, a field keyword, or a value/count; or NULL */
    char *path;      /* the JSON path read for field, or NULL */
    json_t *value;   /* the value found (NULL: missing) */
    char *condition; /* "notEquals true", "count less 1", ... or NULL */
    char *reason;    /* why not evaluable, or the error; NULL otherwise */
    json_t *changes; /* Modify/Append: [{operation, field, path, before, after}] or NULL */
};

void policy_result_release(struct policy_result *r);

/* Evaluates p against res. related: resources the existence condition of
 * AuditIfNotExists/DeployIfNotExists may find (the plan and the state);
 * related_complete says no other resource can exist in Azure (otherwise a
 * missing related resource makes the verdict POLICY_NOT_EVALUABLE). Fills
 * *out (release it with policy_result_release); returns 0, or
 * AMLSEC_ENOMEM. Evaluation errors are verdicts, not return codes. */
int policy_evaluate(struct policy_result *out, const struct policy *p,
                    const struct policy_aliases *aliases, const struct policy_resource *res,
                    const struct policy_resource *related, size_t nrelated, bool related_complete);

#endif
