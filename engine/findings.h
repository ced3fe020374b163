/* One findings model for every report (validate, plan, check, drift):
 * a finding is something about one resource (or the configuration) from
 * one source — a security rule, an Azure Policy definition, drift, or a
 * configuration diagnostic — with its source location, level, message and
 * evidence (attribute, JSON path and value, redacted when sensitive).
 * Producers append to a finding_list; the writers in engine/report.h each
 * read the list and nothing else. Passing (resource, rule) pairs may be
 * recorded too (level FINDING_PASS) for the reports that list every test
 * (JUnit); the others skip them. */
#ifndef AMLSEC_ENGINE_FINDINGS_H
#define AMLSEC_ENGINE_FINDINGS_H

#include <jansson.h>
#include <stddef.h>

#include "parser/config.h"
#include "parser/diag.h"

enum finding_source { FINDING_RULE, FINDING_POLICY, FINDING_DRIFT, FINDING_CONFIG };

/* Ordered by weight: -fail-on compares against it. */
enum finding_level {
    FINDING_DENY,  /* Azure or the rules refuse it (error) */
    FINDING_AUDIT, /* reported but allowed (warning), or Azure would change the request */
    FINDING_INFO,  /* notes, and what cannot be judged offline */
    FINDING_PASS,  /* evaluated and fine (JUnit only) */
};

struct finding {
    enum finding_source source;
    enum finding_level level;
    char *rule_id;   /* "WS-PRIVATE", a policy definition id, a drift kind, a diagnostic code */
    char *rule_name; /* the rule's title or the policy's display name (NULL: rule_id) */
    char *effect;    /* policy effect ("Deny"), else the severity ("error") */
    char *verdict;   /* policy verdict ("noncompliant", "not_evaluable", ...), or NULL */
    char *address;   /* the resource ("workspace.prod"), or NULL */
    char *arm_id;    /* or NULL */
    char *file;      /* source location; NULL: none */
    unsigned line, col, end_line, end_col;
    char *message;   /* one line */
    char *attribute; /* evidence: the alias or attribute that decided it, or NULL */
    char *path;      /* its JSON path in the request body, or NULL */
    json_t *value;   /* its value (already redacted), NULL: missing or none */
    json_t *changes; /* Modify/Append: what Azure would change, or NULL */
    char *help;      /* longer text: why, and how to fix */
    char *help_uri;  /* or NULL */
};

struct finding_list {
    struct finding *items;
    size_t n, cap;
    size_t count[FINDING_PASS + 1]; /* per level */
};

void finding_list_init(struct finding_list *l);
void finding_list_release(struct finding_list *l);

/* Appends a zeroed finding of source and level with a copy of rule_id and
 * message; the caller fills the rest with strdup'd strings and owned JSON
 * (finding_list_release frees them). NULL when out of memory. */
struct finding *finding_add(struct finding_list *l, enum finding_source source,
                            enum finding_level level, const char *rule_id, const char *message);
/* Moves every finding of src to the end of dst; src is left empty. 0 or
 * AMLSEC_ENOMEM (then nothing moved). */
int finding_list_append(struct finding_list *dst, struct finding_list *src);

/* Copies loc (file name, start and end positions) into f. */
void finding_set_loc(struct finding *f, const struct src_loc *loc);

/* Every diagnostic of diags as a finding: codes that are rule IDs become
 * FINDING_RULE findings with the rule's title, why and fix; the others
 * FINDING_CONFIG. error -> deny, warning -> audit, note -> info. */
int findings_from_diags(struct finding_list *l, const struct diag_list *diags);

/* The level of rule severity sev. */
enum finding_level finding_level_of(enum diag_severity sev);
const char *finding_level_name(enum finding_level lv); /* "deny", "audit", "info", "pass" */
const char *finding_source_name(enum finding_source s);

/* Sorts by file, line, column, then address and rule, so every report is
 * deterministic. */
void finding_list_sort(struct finding_list *l);

/* Gives each finding located inside a resource block of cfg (and without
 * an address) that resource's address. Returns the blocks it visited (tests
 * count them). */
size_t findings_address_by_block(struct finding_list *l, const struct config *cfg);

/* One finding as JSON (docs/schemas/findings.schema.json). New reference. */
json_t *finding_to_json(const struct finding *f);

#endif
