/* show -json PLAN in Terraform's JSON plan shape (cmd/show_tf.c). */
#ifndef AMLSEC_CMD_SHOW_TF_H
#define AMLSEC_CMD_SHOW_TF_H

#include <jansson.h>

#include "cmd/state_cli.h"
#include "engine/plan.h"

/* Adds to doc (plan_to_json's output, redacted or not) Terraform's
 * planned_values, prior_state, configuration, the per-change fields mode,
 * name, index, provider_name, change.replace_paths, no-op entries for the
 * state's other resources (when sc is given and the state is the plan's),
 * resource_drift as resource changes, and the policy section. 0. */
int show_terraform_json(json_t *doc, const struct plan *plan, struct state_cli *sc);

#endif
