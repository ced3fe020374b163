/* The security-rule engine: every checkable rule of the Azure ML
 * enterprise-security guidance (shared/reference/security-rules.md) whose
 * kind is error, warn or recommend, under its stable ID. Findings are
 * diagnostics (code = rule ID) pointing at the attribute responsible.
 *
 * Suppression, per resource:
 *   lifecycle { ignore_rules = { "WS-PRIVATE" = "reason" } }
 * A suppression without a reason, or naming an unknown rule, is an error. */
#ifndef AMLSEC_ENGINE_RULES_H
#define AMLSEC_ENGINE_RULES_H

#include <stddef.h>

#include "parser/config.h"
#include "parser/diag.h"
#include "util/buf.h"

struct rule {
    const char *id;
    enum diag_severity severity; /* error, warning, or note for "recommend" */
    const char *guidance_kind;   /* the guidance's own word: error, warn, recommend */
    const char *title;           /* one line */
    const char *why;             /* what the guidance says and where (seed files) */
    const char *fix;             /* how to fix it in amlsec terms */
    const char *kinds;           /* resource kinds it looks at */
};

/* The catalogue, terminated by id NULL. */
extern const struct rule rules_catalogue[];

const struct rule *rules_find(const char *id);

/* Checks every suppression, then runs every rule over cfg. Appends
 * diagnostics; returns the number of errors added. */
size_t rules_run(const struct config *cfg, struct diag_list *diags);

/* Reports a finding of rule id on inst's attribute path (its block when
 * path is NULL or unset), with the rule's why and fix; severity is the
 * rule's unless sev >= 0. Honours inst's suppressions; returns the
 * diagnostic, or NULL when suppressed or already reported. Used by the
 * checks that need the live cloud (engine/live_rules.h). */
__attribute__((format(printf, 6, 7))) struct diag *
rules_report(struct diag_list *diags, const char *id, int sev, const struct cfg_instance *inst,
             const char *path, const char *fmt, ...);

/* The catalogue as Markdown (docs/rules.md) and as JSON (new reference). */
int rules_markdown(struct buf *out);
json_t *rules_to_json(void);

#endif
