/* What plan shares with `amlsec check` (cmd/cmd_check.c). */
#ifndef AMLSEC_CMD_CHECK_H
#define AMLSEC_CMD_CHECK_H

#include <stdio.h>

#include "engine/findings.h"
#include "engine/plan.h"
#include "parser/config.h"

struct arm_client;
struct state;

/* The configuration's policy assignments against the plan's request
 * bodies: definitions and aliases from the cache under DIR/.amlsec/policy,
 * else read through client (may be NULL) and cached. Without cfg (a saved
 * plan), st (the state the plan was made against, or NULL) gives what the
 * plan leaves alone: its assignments and the resources existence
 * conditions find. Fills *out (the caller releases it); a definition or
 * aliases that cannot be had are findings or a warning, not failures. 0,
 * or -1 when out of memory. */
int check_plan_policies(struct finding_list *out, const struct config *cfg, const struct plan *plan,
                        struct state *st, struct arm_client *client, const char *dir);

/* Gives each finding located inside a resource block of cfg (and without
 * an address) that resource's address. */
void check_address_findings(struct finding_list *l, const struct config *cfg);

/* Records a passing finding (FINDING_PASS, for JUnit) for every rule of
 * the catalogue that looks at a resource's kind and found nothing there. */
void check_rule_passes(struct finding_list *l, const struct config *cfg);

/* Prints the findings up to max_level (enum finding_level) as text. */
void check_print_findings(FILE *out, const struct finding_list *l, int max_level, int color);

#endif
