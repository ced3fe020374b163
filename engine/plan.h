/* The planner: what must change so that Azure matches the configuration.
 *
 * plan_build compares three things per resource instance: the
 * configuration (what the user declared), the state (what amlsec recorded
 * last), and the live resource (read through the provider, unless refresh
 * is off). Drift (live differs from state) is reported separately from the
 * changes needed (configuration differs from live). Comparison goes through
 * the catalogue (providers/arm/schema.h): normalised, only what the
 * configuration manages, server defaults and read-only fields never differ.
 *
 * The result is an ordered change set: creates and updates after what they
 * depend on, deletes before what they depend on, each step numbered and
 * grouped by depth in the dependency order (a reading aid: apply starts
 * each step once the steps it depends on have succeeded). A plan serializes to
 * JSON (plan_to_json, docs/plan-json.md) and back (plan_from_json), which is
 * how `plan -out` and `apply FILE` work. */
#ifndef AMLSEC_ENGINE_PLAN_H
#define AMLSEC_ENGINE_PLAN_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/known.h"
#include "parser/config.h"
#include "parser/diag.h"
#include "providers/provider.h"
#include "state/journal.h"
#include "state/state.h"
#include "util/buf.h"
#include "util/errbuf.h"
#include "util/strmap.h"

enum plan_action {
    PLAN_NOOP,
    PLAN_CREATE,
    PLAN_UPDATE,
    PLAN_REPLACE, /* delete then create (create then delete with create_before_destroy) */
    PLAN_DELETE,
};

/* How an update reaches the service. */
enum plan_update_via {
    PLAN_VIA_PUT,        /* body is the whole resource (creates; updates by default) */
    PLAN_VIA_PATCH,      /* update: body holds only what changes (a CMK rotation) */
    PLAN_VIA_DATA_PLANE, /* update through the service's data plane (Key Vault keys) */
};

struct plan_change {
    char *address;
    char *kind;
    char *arm_id;           /* NULL when known only after apply (see id_from) */
    char *prior_arm_id;     /* replace of a renamed resource: the id being deleted (else NULL) */
    char *previous_address; /* the address the state knew it by when it moved (a `moved`
                               block), else NULL: show -json's previous_address */
    json_t *id_from;        /* arm_id NULL: what apply derives it from besides `after` once the
                               values it needs are known (engine/known.h; owned), else NULL */
    char *arm_type;
    char *api_version;
    enum plan_action action;
    char *reason;        /* "replace_because_create_only", "delete_because_no_config", ... */
    char *reason_detail; /* the attributes that decided it: "hbi", or NULL */
    bool create_before_destroy;
    bool state_only; /* delete: no request; the parent's deletion takes it (Key Vault keys) */
    json_t *before;  /* DSL attributes now (live, else state); NULL for creates */
    json_t *after;   /* DSL attributes wanted; NULL for deletes */
    json_t *body;    /* the ARM body sent (see via); NULL for deletes (owned) */
    /* A plan read for show only (PLANFILE_BODIES_AS_TEXT, cmd/planfile.h):
     * the body's JSON text, unparsed, body NULL until plan_change_body
     * parses it; else NULL. */
    char *body_text;
    size_t body_text_len;
    enum plan_update_via via;
    unsigned data_plane;  /* PLAN_VIA_DATA_PLANE: enum provider_data_plane_part bits */
    char *put_query;      /* query parameters the PUT adds ("skipValidation=true"), or NULL */
    char *delete_query;   /* query parameters the DELETE adds ("forceToPurge=true"), or NULL */
    json_t *sensitive;    /* paths of sensitive attributes (array, owned) */
    json_t *dependencies; /* addresses this instance depends on, for the state (owned) */
    json_t *notes;        /* impact notes the user must see (array of strings, owned) */
    size_t *deps;         /* indexes of changes that must finish first */
    size_t ndeps;
    int step;  /* 1-based execution order */
    int group; /* depth in the dependency order (a reading aid for the printout) */
};

struct plan_drift {
    char *address;
    char *kind;
    char *what;        /* "changed outside amlsec", "deleted outside amlsec" */
    json_t *before;    /* as recorded in the state (DSL attributes) */
    json_t *after;     /* as read now, NULL when deleted */
    json_t *paths;     /* attributes that differ (array of strings) */
    json_t *sensitive; /* paths whose values are secret (array, owned): printed as (sensitive) */
};

struct plan {
    struct plan_change *changes; /* in step order; no-ops are not kept */
    size_t n;
    struct plan_drift *drift;
    size_t ndrift;
    size_t nadd, nchange, ndestroy;
    json_t *findings; /* rule findings of the plan, no-op resources included: array of
                         {address, rule, severity, attribute, message} (owned) */
    char lineage[STATE_LINEAGE_LEN + 1]; /* the state the plan was made against */
    uint64_t serial;
    char config_digest[72]; /* "sha256:..." of the configuration's files */
    bool destroy;
    /* Where the plan applies (plan JSON "target"; set by the caller that
     * knows, NULL when unknown): the cloud name or ARM endpoint URL, the
     * subscription and the tenant. apply PLANFILE uses them (owned). */
    char *cloud, *subscription, *tenant;
    /* The configuration the plan was made from (plan_configuration), or
     * NULL: saved with the plan so that a saved plan's findings have source
     * locations and show -json its configuration's expressions (owned). */
    json_t *configuration;
    /* Instead of configuration (plan -out): the configuration whose
     * entries plan_json_dump makes one at a time as it writes them, none
     * held as a whole (borrowed; NULL when unset). */
    const struct config *configuration_of;
    size_t work; /* look-ups the build's linear steps made (findings attached, steps ordered):
                    tests check it grows with the size */
    /* The configuration's outputs as apply will record them (owned):
     * {"NAME": {"sensitive", "type", "value"}}, values filled in from the
     * state where the resource they come from is not created or replaced,
     * else still unknown (engine/plan_outputs.c); outputs_before: the
     * state's. noutput_changes: outputs added, changed or removed. */
    json_t *outputs, *outputs_before;
    size_t noutput_changes;
    /* What import and moved blocks did to the state before planning
     * (owned; NULL when nothing): [{"action": "move", "from", "to"} |
     * {"action": "import", "address", "id", "entry": the state entry}],
     * replayed by apply PLANFILE. nimports counts the imports. */
    json_t *adjustments;
    size_t nimports;
    /* Variables' validations whose conditions are known only after apply,
     * checked by apply once what they read exists (owned; NULL or an
     * array): {"variable", "module", "condition", "error_message" or
     * "withheld", "at", "condition_at", "origin", "sensitive", "reads"}
     * (engine/plan_checks.c; docs/plan-json.md). */
    json_t *checks;
};

struct plan_opts {
    const char *const *targets; /* -target ADDR: only these and what they need */
    size_t ntargets;
    const char *const *replace; /* -replace ADDR: force replacement */
    size_t nreplace;
    bool destroy; /* plan -destroy / amlsec destroy */
    bool refresh; /* read live resources (plan -refresh=false turns it off) */
    /* The journal after recovery, or NULL. A resource found in Azure but
     * not in the state whose create an interrupted apply left pending (same
     * address and ARM id) was created by amlsec: it is planned as a create
     * again (its PUT adopts what exists) rather than refused as needing
     * `amlsec import`. */
    const struct journal *journal;
    /* The role assignments of the workspaces' identities, read already
     * (engine/live_rules.h: live_rules_in.assignments), or NULL. */
    const json_t *assignments;
};

/* Builds the plan. p may be NULL only when o->refresh is false. Problems
 * in the configuration (prevent_destroy, impossible changes, resources that
 * exist but are not in state) are diagnostics; the function then returns
 * AMLSEC_EPARSE and *out still holds the plan so far. */
int plan_build(struct plan **out, const struct config *cfg, struct state *st, struct provider *p,
               const struct plan_opts *o, struct diag_list *diags, struct errbuf *err);
void plan_free(struct plan *plan);

/* Sets plan->outputs, outputs_before and noutput_changes from cfg's
 * outputs and the state the plan was made against (a destroy plan removes
 * every output). */
int plan_outputs_build(struct plan *plan, const struct config *cfg, const struct state *st,
                       struct errbuf *err);
/* Changes visited so far finding which instances outputs may read from the
 * state (the scale test's count). */
size_t plan_outputs_lookup_work(void);
/* The outputs to record once the plan is applied: plan->outputs with what
 * the applied state now knows filled in. New reference. */
json_t *plan_outputs_final(const struct plan *plan, struct state *st);
/* Terraform's output_changes: {"NAME": {actions, before, after,
 * after_unknown, before_sensitive, after_sensitive}}; with redact,
 * sensitive values are "(sensitive)". New reference. */
json_t *plan_output_changes_json(const struct plan *plan, bool redact);

/* A state entry's attributes as a change's `before` shows them: the ARM
 * body decoded into kind k's attributes (render_decode), each reference
 * collapsed to its id and a CMK reference to the key version it pins. New
 * reference. */
struct schema_kind;
json_t *plan_state_attrs(const struct schema_kind *k, const json_t *arm);

const char *plan_action_name(enum plan_action a);
/* "put", "patch", "data_plane" (plan JSON's update_via). */
const char *plan_via_name(enum plan_update_via v);
bool plan_has_changes(const struct plan *plan);

/* Where a state entry's moves (plan->adjustments' "move" entries, in the
 * order they were done) took it: the address the plan knows it by, or
 * address itself when it did not move. */
const char *plan_moved_to(const json_t *adjustments, const char *address);
/* The address the state knew a resource by before the moves brought it to
 * address (through a chain, the first), or NULL when it did not move. */
const char *plan_moved_from(const json_t *adjustments, const char *address);
/* Sets previous_address on each change whose resource the plan's moves
 * renamed (show -json's previous_address). 0, or AMLSEC_ENOMEM. */
int plan_set_previous_addresses(struct plan *plan);

/* The digest of a configuration's source files (names and bytes). */
void plan_config_digest(char out[72], const struct config *cfg);

/* The plan as JSON (docs/plan-json.md). With redact, sensitive values
 * become "(sensitive)" in before/after and bodies are left out; without it
 * the JSON can be applied (plan_from_json). New reference; it shares the
 * plan's values (before, after, bodies, notes, findings) rather than copying
 * them, so a caller replaces members but never changes one in place. */
json_t *plan_to_json(const struct plan *plan, bool redact);
/* The catalogue's sensitive attributes of the kinds met so far in one
 * serialisation: listed once per kind, not once per change. Zeroed to
 * start; plan_kind_paths_release at the end. */
struct schema_kind;
struct plan_kind_paths {
    struct {
        const struct schema_kind *kind;
        json_t *paths;
    } seen[8];
    unsigned next;
};
void plan_kind_paths_release(struct plan_kind_paths *kp);
/* plan_to_json in pieces, for a document written as it is made (show
 * -json PLAN, one change at a time): the plan JSON with resource_changes
 * an empty array, and resource_changes[i]. New references. */
json_t *plan_json_root(const struct plan *plan, bool redact);
json_t *plan_json_change(const struct plan *plan, size_t i, bool redact,
                         struct plan_kind_paths *kp);
/* Of resource_changes[i].change: before (or after) and, in *mask, its
 * before_sensitive (after_sensitive), without the rest. New references. */
json_t *plan_json_values(const struct plan *plan, size_t i, bool redact, bool before,
                         struct plan_kind_paths *kp, json_t **mask);
/* plan_to_json(plan, false) written through cb as compact JSON with
 * sorted keys in a plan file's form (parser/value.h's value_file_form, as
 * jsonw_pretty writes it compact: big numbers as JSON numbers, no NUL),
 * building one change at a time: a saved plan never holds the whole tree.
 * 0 or -1. */
int plan_json_dump(const struct plan *plan, json_dump_callback_t cb, void *data);
/* The plan root describes; it shares root's values (before, after, bodies)
 * rather than copying them: neither is changed in place afterwards. */
int plan_from_json(struct plan **out, const json_t *root, struct errbuf *err);
/* plan_from_json a change at a time, for a plan read in pieces (a saved
 * plan: each change parsed, taken and freed in turn, so the file's tree is
 * never held whole): plan_read_begin; plan_read_change with each change in
 * order and, before or after them, plan_read_header once with the plan
 * JSON but its resource_changes (which it ignores); then plan_read_end
 * (*out: the plan) or, after a failure of any of them or to give up,
 * plan_read_abort. They share the JSON's values as plan_from_json does,
 * and fail as it does. */
struct plan_reader {
    struct plan *plan;
    struct strmap seen; /* address -> position of the latest change with it */
    size_t cap, count;
    /* the next change's body as text (plan_read_change takes it; the
     * change then has no request_body member), else NULL */
    const char *body_text;
    size_t body_text_len;
};
int plan_read_begin(struct plan_reader *r, struct errbuf *err);
int plan_read_header(struct plan_reader *r, const json_t *root, struct errbuf *err);
int plan_read_change(struct plan_reader *r, const json_t *change, struct errbuf *err);
int plan_read_end(struct plan_reader *r, struct plan **out, struct errbuf *err);
/* The change's ARM body: body, parsed from body_text the first time (a
 * plan read for show). NULL for a delete, or when the text is not JSON. */
const json_t *plan_change_body(struct plan_change *c);
void plan_read_abort(struct plan_reader *r);

/* Per resource block of cfg: {address, mode, type, name, source{file, line,
 * column, end_line, end_column} | null, expressions, for_each_expression?},
 * expressions in Terraform's representation (constant_value for literals,
 * references otherwise; nested blocks as arrays; sensitive constants left
 * out); then one entry per module call and one for the root module
 * ({module_call, name?, module_source?, module_instance?, expressions?,
 * for_each_expression?, depends_on?, variables, outputs}; no address).
 * New reference (engine/plan_config.c). */
json_t *plan_configuration(const struct config *cfg);
/* Its entry for cfg's i-th resource block. New reference. */
json_t *plan_configuration_entry(const struct config *cfg, size_t i);
/* Appends the entries for cfg's module calls and its root module (see
 * plan_configuration) to the array out. */
void plan_configuration_modules(json_t *out, const struct config *cfg);
/* A module instance's path without its instance keys, the call's path
 * ("module.a[\"x\"].module.b" -> "module.a.module.b"; malloc'd, NULL when
 * out of memory), and the length of the path of the module that calls it
 * (0: the root). */
char *plan_module_call_path(const char *path);
size_t plan_module_parent_len(const char *path);

/* Sets plan->checks from cfg's validations known only after apply
 * (cfg->checks), their unknowns filled in through lookup as far as the
 * plan knows them: one whose condition is then known is checked now (a
 * false one is an error in diags, as at load). */
int plan_checks_build(struct plan *plan, const struct config *cfg, known_lookup_fn lookup,
                      void *payload, struct diag_list *diags, struct errbuf *err);
/* The error of a check of plan->checks found false at apply (condition and
 * message filled in): "FILE:LINE:COL: invalid value for variable 'x': MESSAGE
 * (checked by the validation at FILE:LINE:COL)". Appends to out. */
void plan_check_error_text(struct buf *out, const json_t *check, const json_t *condition,
                           const json_t *message);
/* NULL, or what is wrong with a check read from a plan file. */
const char *plan_check_malformed(const json_t *check);

/* True when any change carries a sensitive value. */
bool plan_has_sensitive(const struct plan *plan);

#endif
