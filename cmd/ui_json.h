/* plan -json / apply -json: Terraform's machine-readable UI, one JSON
 * object a line on stdout, each with @level, @message, @module,
 * @timestamp and type (version, diagnostic, resource_drift,
 * planned_change, change_summary, apply_start, apply_progress,
 * apply_complete, apply_errored, outputs, log); docs/schemas/ui.schema.json. */
#ifndef AMLSEC_CMD_UI_JSON_H
#define AMLSEC_CMD_UI_JSON_H

#include <stdbool.h>

#include "engine/apply.h"
#include "engine/findings.h"
#include "engine/plan.h"
#include "parser/diag.h"

void ui_json_version(void);
void ui_json_diags(const struct diag_list *diags);
/* Policy findings (deny, audit, info) as diagnostics. */
void ui_json_findings(const struct finding_list *l);
/* resource_drift and planned_change per change, then change_summary and
 * the outputs (ui_json_plan_outputs). */
void ui_json_plan(const struct plan *plan);
/* Terraform's outputs message for a plan: per output its action (create,
 * update, noop, delete), sensitive, and type and value when known and not
 * sensitive; nothing when the configuration and state have no outputs. */
void ui_json_plan_outputs(const struct plan *plan);
/* The outputs message after apply: the outputs as recorded in the state
 * ({NAME: {value, type, sensitive}}), sensitive values left out. */
void ui_json_outputs(const json_t *outputs);
void ui_json_event(const struct apply_event *ev);
/* apply's change_summary: what was done (added, changed, destroyed: the
 * plan's counts when every change completed), "Apply complete!" when ok,
 * else "Apply incomplete." at level error; for a destroy plan operation
 * "destroy" and "Destroy complete! Resources: N destroyed.", as Terraform's. */
void ui_json_apply_summary(const struct plan *plan, size_t added, size_t changed, size_t destroyed,
                           bool ok);
/* An error diagnostic (summary: message, masked through cli_scrub). */
void ui_json_error(const char *message);
void ui_json_log(const char *level, const char *message);

#endif
