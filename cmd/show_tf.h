/* show -json PLAN in Terraform's JSON plan shape (cmd/show_tf.c). */
#ifndef AMLSEC_CMD_SHOW_TF_H
#define AMLSEC_CMD_SHOW_TF_H

#include <jansson.h>

#include "cmd/state_cli.h"
#include "engine/plan.h"
#include "util/jsonw.h"

/* Writes through o (as jsonw_pretty writes a whole document) the plan JSON
 * (plan_to_json, redacted with redact) with drift (the plan file's
 * resource_drift) and Terraform's planned_values, prior_state,
 * configuration, the per-change fields mode, name, index, provider_name,
 * change.replace_paths, no-op entries for the state's other resources
 * (when sc is given and the state is the plan's), resource_drift as
 * resource changes, and the policy section. Each change, values resource
 * and configuration block is made, written and freed in turn: the
 * document is never held whole. 0, or jsonw's failure. */
int show_terraform_json(const struct jsonw_pretty *o, const struct plan *plan, const json_t *drift,
                        bool redact, struct state_cli *sc);

/* A state instance's values in Terraform's shape: its attributes as the
 * kind's schema names them (render_decode), each secret one (the state's
 * sensitive paths, the catalogue's) "(sensitive)" when redact; its
 * sensitive_values mask in *sensitive_values (new reference). New
 * reference; NULL (err set) on failure. */
json_t *show_state_values(struct state_resource *r, bool redact, json_t **sensitive_values,
                          struct errbuf *err);

/* Terraform's type JSON (cty's) of an output's value, worked out from the
 * value (docs/state.md): "string", ["list", "string"], ["object", {...}]
 * ...; "dynamic" for null, and for a list or object when hidden (a
 * redacted sensitive output: its type would name its keys). Used by show
 * -json, output -json and the -json streams' outputs message. New
 * reference. */
json_t *show_output_type(const json_t *value, bool hidden);

/* `show -json` of the state: Terraform's state representation
 * {format_version, terraform_version, values{outputs, root_module}} plus
 * amlsec's lineage, serial and cloud (docs/state.md). With !existed (no
 * state stored yet), {format_version} alone. New reference; NULL (err
 * set) on failure. */
json_t *show_terraform_state(struct state *st, bool existed, bool redact, struct errbuf *err);

#endif
