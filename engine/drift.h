/* Drift detection (`amlsec drift`): what changed in Azure behind amlsec's
 * back, read-only.
 *
 * drift_run is the planner's refresh and three-way comparison (plan_build)
 * run through a read-only provider (provider_readonly), plus discovery of
 * security-relevant objects no configuration declares (unmanaged), found
 * through Resource Graph: one query per table (authorizationresources for
 * role assignments and locks, policyresources for policy assignments and
 * exemptions, resources for private endpoints), all at once, page by page;
 * diagnostic settings, Key Vault keys and private endpoint connections,
 * which Resource Graph does not hold, are listed at each scope (all lists
 * at once); vault access policies come from one bulk read of the vaults.
 * Its findings, each kept apart:
 *
 *   changed         a managed resource differs from what the state recorded
 *                   (attribute paths with before/after, normalised by the
 *                   catalogue; lifecycle ignore_changes is honoured)
 *   deleted         in the state, gone from Azure
 *   unmanaged       an object at a managed workspace's scopes (the
 *                   workspace, its resource group, Key Vault, storage
 *                   account and registry) that neither the configuration
 *                   nor the state knows; the role assignments Azure gives
 *                   the workspace's identity are the service's own, not
 *                   unmanaged
 *   missing_grant   a WS-MI-PERMS finding: the workspace identity lacks a
 *                   grant it needs
 *   pending         a change the configuration asks for that is not applied
 *                   yet (never drift)
 *
 * Suppressions come from a .amlsecignore file (drift_ignore_parse, format
 * in docs/drift-json.md and docs/workflow.md). */
#ifndef AMLSEC_ENGINE_DRIFT_H
#define AMLSEC_ENGINE_DRIFT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "engine/findings.h"
#include "engine/plan.h"
#include "parser/config.h"
#include "parser/diag.h"
#include "providers/provider.h"
#include "state/state.h"
#include "util/errbuf.h"

/* One line of .amlsecignore: PATTERN WHAT EXPIRES REASON... */
struct drift_suppression {
    char *pattern; /* address or ARM id, '*' and '?' globs (ids case-insensitive) */
    char *what;    /* "*", a kind (changed, deleted, unmanaged, missing_grant), a rule ID
                      ("WS-MI-PERMS"), an ARM type, or an attribute path (glob; a path
                      also covers what is below it) */
    char *expires; /* "YYYY-MM-DD" (suppresses through that day, UTC), or NULL */
    char *reason;
    unsigned line;
    size_t used;  /* findings it suppressed */
    bool expired; /* expires is before today: it suppresses nothing */
};

struct drift_ignore {
    char *file; /* as given to drift_ignore_parse, or NULL when there is none */
    struct drift_suppression *items;
    size_t n;
};

/* Parses the text of an ignore file; today is "YYYY-MM-DD" (UTC). On a bad
 * line returns AMLSEC_EPARSE with *line and *col (1-based) set and err
 * saying why. */
int drift_ignore_parse(struct drift_ignore *out, const char *file, const char *text, size_t len,
                       const char *today, unsigned *line, unsigned *col, struct errbuf *err);
void drift_ignore_release(struct drift_ignore *ig);

struct drift_report {
    struct plan *plan; /* the plan drift rests on (owned) */
    /* findings by kind, each an array of objects (docs/drift-json.md) */
    json_t *changed, *deleted, *unmanaged, *missing_grants, *pending;
    json_t *suppressed; /* findings a suppression matched, with "suppressed_by" */
    json_t *errors;     /* discovery that failed: strings (the run then fails) */
    json_t *notes;      /* how discovery went when not as planned: strings */
    size_t scopes;      /* scopes searched for unmanaged objects */
};

/* Runs drift over cfg and st through p, which must be a read-only view.
 * ig may be NULL. Diagnostics of the configuration and the planner go to
 * diags (the rule findings drift reports itself are not added there).
 * Returns < 0 on failure (AMLSEC_EPARSE: see diags). */
int drift_run(struct drift_report *out, const struct config *cfg, struct state *st,
              struct provider *p, struct drift_ignore *ig, struct diag_list *diags,
              struct errbuf *err);
void drift_report_release(struct drift_report *r);

/* Findings that count as drift: changed + deleted + unmanaged + missing grants. */
size_t drift_count(const struct drift_report *r);

/* The report as JSON (docs/drift-json.md), sensitive values redacted. New
 * reference. */
json_t *drift_to_json(const struct drift_report *r, const struct drift_ignore *ig);

/* The report's findings in the one findings model (for -sarif, -junit,
 * -markdown): changed, deleted, unmanaged and missing grants at their
 * severity (warning: audit), pending changes as info; suppressed findings
 * are left out. Locations get dir_prefix ("stacks/a/"; NULL: none) in
 * front of their file. Values are those of the report (redacted). 0 or
 * AMLSEC_ENOMEM. */
int drift_report_findings(struct finding_list *out, const struct drift_report *r,
                          const char *dir_prefix);

#endif
