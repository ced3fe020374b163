/* Plans as people read them: Terraform's visual language (+, ~, -, -/+,
 * "# forces replacement"), sensitive values as (sensitive), drift first,
 * then the numbered change set and the summary line. */
#ifndef AMLSEC_CMD_PLAN_RENDER_H
#define AMLSEC_CMD_PLAN_RENDER_H

#include <stdio.h>

#include "engine/plan.h"

void plan_render_text(FILE *out, const struct plan *plan, int color);
/* Terraform's "Outputs:" after apply: NAME = value, <sensitive> for a
 * sensitive one. outputs: {"NAME": {"sensitive", "value", ...}}. */
void plan_render_outputs(FILE *out, const json_t *outputs, int color);

#endif
