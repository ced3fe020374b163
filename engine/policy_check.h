/* Azure Policy over a whole configuration or plan: every binding (an
 * assignment in the configuration, or a definition given to `check
 * -policy`) against every resource request in its scope, as findings
 * (engine/findings.h). Definitions and aliases are loaded by the caller. */
#ifndef AMLSEC_ENGINE_POLICY_CHECK_H
#define AMLSEC_ENGINE_POLICY_CHECK_H

#include <jansson.h>
#include <stdbool.h>

#include "engine/findings.h"
#include "engine/policy.h"
#include "parser/source.h"

/* One resource request: what ARM would receive. */
struct policy_subject {
    const char *address;
    struct policy_resource res;
    struct src_loc loc; /* its block; file NULL: none (a saved plan) */
    /* never repeated in evidence: every string under these sensitive
     * attribute paths ("admin.password", array, borrowed; NULL: none) of
     * secret_values (the change's DSL attributes, borrowed), collected only
     * when a finding quotes a value */
    const json_t *secret_paths, *secret_values;
    bool related_only; /* not judged: only a related resource for existence conditions
                          (what a plan leaves unchanged) */
};

/* A definition bound to a scope. */
struct policy_binding {
    const struct policy *policy;
    const char *assignment;   /* the policy_assignment's address, NULL for -policy */
    const char *scope;        /* ARM id prefix it applies to; NULL: everything */
    const json_t *not_scopes; /* array of ids, or NULL */
    bool enforce;             /* false: DoNotEnforce (a Deny is reported, not enforced) */
};

struct policy_check_stats {
    size_t evaluations; /* (binding, subject) pairs evaluated */
};

/* Initiatives (policy set definitions): true when def (a definition
 * document, {properties{...}} or bare) is a set, with its members in
 * *members (borrowed array of {policyDefinitionId, parameters, ...}). */
bool policy_set_members(const json_t *def, const json_t **members);
/* The parameter values a set's member is evaluated with: each of the
 * member's parameters {k: {value: v}}, where a v of "[parameters('p')]"
 * takes the assignment's value of p (assigned: {p: value}), else the set's
 * default for p; other values as written. New reference ({k: value}). */
json_t *policy_set_member_params(const json_t *set_def, const json_t *member,
                                 const json_t *assigned);

/* Appends a finding per (binding, subject in scope) that is not compliant;
 * with passes, compliant pairs too (FINDING_PASS). Levels: a Deny (or an
 * evaluation error) that is enforced -> deny; Audit, a Deny not enforced,
 * AuditIfNotExists/DeployIfNotExists not met, Modify/Append changes ->
 * audit; not evaluable -> info. A deciding value known only after apply
 * makes the pair not evaluable. Returns 0 or AMLSEC_ENOMEM. */
int policy_check_run(struct finding_list *out, struct policy_check_stats *stats,
                     const struct policy_subject *subjects, size_t nsubjects,
                     const struct policy_binding *bindings, size_t nbindings,
                     const struct policy_aliases *aliases, bool passes);

#endif
