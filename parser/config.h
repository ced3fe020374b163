/* A loaded configuration: every *.amlsec file of a directory parsed,
 * checked (names, duplicates, references, cycles, variables, for_each, count) and
 * evaluated into plain JSON values per resource instance.
 *
 * Pipeline: config_load() = parse all files -> check -> bind variables ->
 * evaluate settings -> expand for_each -> evaluate every instance's
 * attributes in dependency order. Problems in the user's files become
 * diagnostics (diags); config_load returns AMLSEC_EPARSE when any error was
 * reported, other codes (with err) when the environment failed. */
#ifndef AMLSEC_PARSER_CONFIG_H
#define AMLSEC_PARSER_CONFIG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "parser/ast.h"
#include "parser/diag.h"
#include "util/arena.h"
#include "util/errbuf.h"

struct strmap;

struct config;
struct cfg_instance;
struct cfg_index;

/* Rule suppression: lifecycle { ignore_rules = { "WS-PRIVATE" = "reason" } } */
struct cfg_suppression {
    const char *rule;
    const char *reason;
    struct src_loc loc;
};

struct cfg_lifecycle {
    bool prevent_destroy;
    bool create_before_destroy;
    bool purge_on_destroy; /* workspaces: delete permanently (forceToPurge=true), no soft delete */
    const char **ignore_changes; /* attribute paths, "a.b" */
    size_t nignore_changes;
    struct cfg_suppression *ignore_rules;
    size_t nignore_rules;
};

struct cfg_variable {
    const char *name;
    const struct ast_block *block;
    const char *type;        /* "string", "number", "bool", "list", "map", "any" */
    const char *description; /* may be NULL */
    bool sensitive;
    json_t *value;            /* bound value (owned); NULL when unset and no default (an error) */
    const char *source;       /* "default", "-var", "-var-file", "environment" */
    struct src_loc value_loc; /* where the value is written; .file NULL: -var, environment */
    bool checked_late;        /* a validation may be checked at apply: reads are recorded */
};

/* One instance of a `module "NAME" { source = "./dir" ... }` call: the
 * module's blocks are registered once per instance, flattened into the
 * configuration (resources, locals, outputs) with addresses that carry the
 * module path. NULL stands for the root module. */
struct cfg_module {
    const char *name;                /* the call's label */
    const char *path;                /* "module.net", "module.team[\"cv\"]", "module.a.module.b" */
    const struct cfg_module *parent; /* NULL: called from the root */
    const struct ast_block *call;    /* the module block, in the parent's files */
    json_t *each_key, *each_value;   /* owned; NULL without for_each */
    json_t *count_index;             /* count.index (owned); NULL without count */
    bool has_for_each;
    bool has_count;               /* path module.NAME[N]; no instance for count = 0 */
    const char *dir;              /* the module's directory: file() and nested sources */
    const char *realdir;          /* its canonical path (cycles between sources) */
    const struct ast_file *files; /* the module's parsed files (shared by its instances) */
};

/* One module block (a call), whatever its instances: module.NAME[...]
 * reads them (none for count = 0 or an empty for_each). */
struct cfg_call {
    const char *name;               /* the label */
    const struct cfg_module *scope; /* the calling module (NULL: the root) */
    const struct ast_block *block;
    bool has_for_each, has_count;
    size_t first, n;           /* its instances: cfg->modules[first .. first + n) */
    struct strmap *each_index; /* for_each: each key -> its instance's offset (owned) */
};

/* An attribute of one resource kind that declares a child resource of
 * another kind (the catalogue's table, config_opts.implicit): a
 * private_endpoint's `dns_zones = [...]` is its DNS zone group. The child
 * is a resource of the configuration like one written out, addressed
 * CHILD_KIND.LABEL (the block's label, module path and instance keys), with
 * the block's for_each or count, depending on the block only; its
 * attributes are parent_attr (the block's instance), value_attr (the
 * attribute's value) and name. */
struct cfg_implicit {
    const char *kind;        /* the block's kind: "private_endpoint" */
    const char *attr;        /* the block's attribute: "dns_zones" */
    const char *child;       /* the child's kind: "private_dns_zone_group" */
    const char *parent_attr; /* the child's attribute for the block: "endpoint" */
    const char *value_attr;  /* the child's attribute for the value: "zones" */
    const char *name;        /* the child's name attribute: "default" */
};

/* One block that declares a resource (managed, or `existing`). */
struct cfg_resource {
    const struct cfg_module *module; /* NULL: the root module */
    const char *kind;                /* block type: "workspace", "private_endpoint", ... */
    const char *name;                /* the label */
    bool existing;
    const struct ast_block *block;
    const char *address; /* "workspace.prod" or "existing.subnet.ml" */
    struct cfg_lifecycle lifecycle;
    struct cfg_resource **deps; /* resources this one references (direct edges) */
    size_t ndeps;
    struct cfg_instance *instances; /* one, or one per for_each element or count */
    size_t ninstances;
    bool has_for_each;
    bool has_count; /* instances TYPE.NAME[0], [1], ...; none for count = 0 */
    /* the block's for_each and count attributes (NULL: none), recorded as
     * the block is registered, while its body is hot */
    const struct ast_attr *for_each_attr, *count_attr;
    /* for_each: each key -> the position of the last instance with it (as
     * the map TYPE.NAME holds them), so TYPE.NAME["key"] is one look-up;
     * NULL otherwise (owned) */
    struct strmap *each_index;
    /* Non-NULL: declared by an attribute of block (whose kind is
     * implicit->kind), not written out; deps[0] is that resource. */
    const struct cfg_implicit *implicit;
};

/* One name of a `locals { NAME = expr ... }` block, read as local.NAME.
 * Evaluated when first read (parser/eval.c), after everything it refers
 * to: a resource that reads a local depends on the resources the local
 * refers to, directly or through other locals. */
enum cfg_local_state { CFG_LOCAL_NEW, CFG_LOCAL_EVALUATING, CFG_LOCAL_DONE, CFG_LOCAL_FAILED };

/* What evaluating an instance (or a lazily read value) read of a resource
 * or a module call that has several instances: the one instance a key
 * known at plan time named, or every one (the whole value, a splat, a key
 * known only after apply). The dependency graph gives an instance edges
 * to exactly those (engine/depgraph.c). Single instances are not
 * recorded. An entry naming neither marks what was not evaluated (a for
 * expression over a value known only after apply): no edge is narrowed.
 * An entry naming a variable (and no resource or call) records a read of
 * one whose validation may be checked at apply (checked_late): apply holds
 * the instance until then (engine/plan_checks.c); the body of a for over
 * an unknown collection is evaluated on placeholders, so its reads of them
 * are recorded. An entry naming nothing with index CFG_READ_ALL marks a
 * record cut short (out of memory): any such variable may have been read. */
#define CFG_READ_ALL ((size_t)-1)
struct cfg_read {
    const struct cfg_resource *resource; /* resource->instances[index] read, or */
    size_t index;                        /* CFG_READ_ALL: every one */
    const struct cfg_call *call;         /* call's instance module read, or */
    const struct cfg_module *module;     /* NULL: every one */
    const void *variable; /* a cfg_variable (root) or a cfg_local ('v': a module's input) */
};
struct cfg_reads {
    struct cfg_read *v; /* owned */
    size_t n, cap;
};

/* Values read lazily share this node: locals ('l'), and in modules the
 * inputs (var.NAME, 'v': the call's attribute, evaluated in the calling
 * module, or the variable's default) and the outputs (module.NAME.OUT,
 * 'o'). */
struct cfg_local {
    const char *name;
    char ns;                          /* 'l', 'v' or 'o' */
    const struct cfg_module *scope;   /* the module it belongs to (NULL: root) */
    const struct cfg_module *eval_in; /* where attr is evaluated (inputs: the caller) */
    const char *base_dir;             /* file() there */
    const char *type;                 /* inputs: the declared type, or NULL */
    bool declared_sensitive;          /* inputs and outputs: sensitive = true */
    const struct ast_attr *attr;      /* NAME = expr; NULL: no value (an error was reported) */
    json_t *value;                    /* owned; NULL until evaluated */
    bool sensitive;                   /* its value reads a sensitive value */
    json_t *paths;        /* owned, may be NULL: secret paths inside its value (a whole instance) */
    bool needs_resources; /* it refers to a resource (directly or not) */
    bool checked_late;    /* 'v': a validation may be checked at apply (see cfg_read) */
    enum cfg_local_state state;
    struct cfg_reads reads; /* what its evaluation read (see cfg_read) */
};

/* output "NAME" { value = expr, sensitive = bool, description = "..." }:
 * evaluated after every instance; values known only after apply stay
 * unknown (tagged with their origin, engine/known.h fills them in). */
struct cfg_output {
    const char *name;
    const struct ast_block *block;
    const char *description; /* may be NULL */
    bool sensitive;          /* declared sensitive = true */
    json_t *value;           /* owned; NULL when not evaluated (check_only, errors) */
};

/* import { to = ADDRESS, id = "ARM id" }: adopt an existing resource at
 * the next apply (Terraform 1.5's import block); a no-op once the address
 * is in the state. */
struct cfg_import {
    const char *to; /* an instance address of the configuration */
    const char *id;
    struct src_loc loc; /* the block */
};

/* moved { from = A, to = B }: the state's A is B now (chains resolved:
 * from is the first address, to the last). */
struct cfg_moved {
    const char *from, *to;
    struct src_loc loc;
    /* Not written: a module call that gained count moves module.NAME to
     * module.NAME[0], one that lost it module.NAME[0] to module.NAME (as
     * Terraform does); skipped when the state holds the destination. */
    bool implicit;
};

/* A variable's validation whose condition is known only after apply (it
 * reads an id or a principal ARM assigns to a resource not created yet):
 * Terraform checks it at apply, once the value is known, and so does the
 * plan (engine/plan.h: plan.checks). condition (and message, when it reads
 * such a value too) hold the deferred values (parser/value.h) that
 * engine/known.h fills in. */
struct cfg_check {
    const char *variable;           /* its name */
    const struct cfg_module *scope; /* the module it is declared in (NULL: root) */
    struct src_loc value_loc;       /* the value's origin; .file NULL: origin says */
    const char *origin;             /* "-var", "AMLSEC_VAR_x in the environment"; or NULL */
    struct src_loc cond_loc;        /* the condition */
    bool sensitive;                 /* the variable is sensitive: its value is masked */
    bool mask_file;                 /* ... and so is its whole -var-file */
    json_t *condition;              /* owned: a bool once its unknowns are known */
    json_t *message;                /* owned: a string (or deferred); NULL: withheld or none */
    const char *withheld;           /* instead of a message that reads a sensitive value; or NULL */
    bool holds_secret;              /* condition or message carries a sensitive value */
};

/* The error of a validation found false (text: its message, or why it is
 * not shown): at the value's origin with a note at the condition, or at
 * the condition for a value set on the command line or in the
 * environment; the variable's value masked when sensitive. */
struct diag *config_check_error(struct diag_list *diags, const struct cfg_check *c,
                                const char *text);

/* One instance of a resource: what the catalogue, planner and rules see. */
struct cfg_instance {
    struct cfg_resource *resource;
    const char *address; /* workspace.prod, private_endpoint.storage["blob"] */
    json_t *each_key;    /* NULL without for_each (owned) */
    json_t *each_value;  /* (owned) */
    json_t *count_index; /* count.index; NULL without count (owned) */
    /* Evaluated attributes (owned): DSL names -> values. Nested blocks are
     * objects; a nested block type used more than once is an array of
     * objects. References to other resources evaluate to the object built
     * by the resolver (see cfg_resolver); `lifecycle` and `for_each` are not
     * included. Values not known until apply are value_unknown(). */
    json_t *attrs;
    /* array of attribute paths whose value is sensitive (a reference; never
     * modify it: an instance with no paths of its own shares its kind's, or
     * value_paths_none()) */
    json_t *sensitive;
    /* what a reference to this instance evaluates to (owned). Private to
     * parser/config.c: NULL until it is first read when the load was
     * lazy_tags and no resource reads this one, so it is read only through
     * config_instance_value (which makes it) or config_instance_value_made
     * (which does not) */
    json_t *value_lazy;
    /* value's "id" when it is a string, recorded while value is built (the
     * rules index every instance by it); NULL when it is not one or was not
     * recorded (read it from value then). Borrowed from value, or from the
     * configuration's arena when value is made later (unvalued). */
    const char *id;
    struct cfg_reads reads; /* what its evaluation read (see cfg_read) */
    /* value's unknowns are tagged with their origin (config_instance_tag);
     * false until a reference reads it when the load was lazy_tags */
    bool tagged;
    /* evaluated, its value not made yet (lazy_tags: config_instance_value
     * makes it when it is first read) */
    bool unvalued;
};

/* What a reference to in evaluates to (borrowed), made first when the
 * load left it for later (cfg_instance.unvalued). NULL before in is
 * evaluated. Everything that reads an instance's value reads it here. */
json_t *config_instance_value(const struct config *cfg, const struct cfg_instance *in);

/* in's value when it is made, NULL when the load left it for later: for
 * what looks for a value a reference shares (an instance whose value is
 * not made yet shares it with nothing), never for the value itself. */
static inline const json_t *config_instance_value_made(const struct cfg_instance *in)
{
    return in->value_lazy;
}

/* Tags the unknown top-level values of in's value (its computed attributes)
 * with their origin, once, making the value first when the load left it
 * for later: evaluation calls it before a reference reads the value, and
 * the load for every instance unless config_opts.lazy_tags. */
void config_instance_tag(const struct config *cfg, const struct cfg_instance *in);

/* How references to resources evaluate. The front end does not know ARM;
 * the resource catalogue plugs in here to give a reference its ARM id and
 * computed attributes. instance_value returns a new reference to the
 * object `TYPE.NAME` evaluates to; inst->attrs are already evaluated. When
 * instance_value is NULL the default is inst->attrs plus "id" unknown. */
struct cfg_resolver {
    json_t *(*instance_value)(void *payload, const struct config *cfg,
                              const struct cfg_instance *inst);
    /* What the catalogue knows is secret in inst: passwords, keys,
     * service-generated secrets, as an array of paths shared by every
     * instance of its kind (borrowed, never changed; NULL: none). The
     * pointer may be NULL. */
    const json_t *(*sensitive_paths)(void *payload, const struct cfg_instance *inst);
    /* Converts inst's evaluated attributes (inst->attrs, the instance's own
     * object; the values in it may be shared: replace them, never change
     * them) to the types its kind declares, where Terraform's schema would
     * (tags are map(string): a number or bool becomes its text), before
     * its value and sensitive paths are made. The pointer may be NULL. */
    void (*convert_attrs)(void *payload, struct cfg_instance *inst);
    /* The id instance_value would give inst, as a string in arena, without
     * the rest of its value; NULL when that id is no string. May be NULL:
     * every instance's value is then made as it is evaluated. */
    const char *(*instance_id)(void *payload, const struct config *cfg,
                               const struct cfg_instance *inst, struct arena *arena);
    void *payload;
};

struct config_var_assign {
    const char *name;
    const char *value; /* raw text: parsed as a literal expression, else a string */
};

struct config_opts {
    const char *path; /* a directory (all *.amlsec in it) or one file */
    /* Known resource kinds (NULL-terminated); NULL: any block type that
     * is not a language keyword is accepted as a resource kind. */
    const char *const *kinds;
    /* Block types that are nested blocks, not resources, are not listed:
     * nested blocks are only checked by the catalogue. */
    const struct config_var_assign *vars; /* -var, in command-line order */
    size_t nvars;
    const char *const *var_files; /* -var-file, in order */
    size_t nvar_files;
    char *const *environ; /* for AMLSEC_VAR_name and env(); NULL: no environment */
    struct cfg_resolver resolver;
    bool parse_only; /* stop after parsing (fmt) */
    /* Stop after the front end's checks (names, references, cycles,
     * variables, for_each, lifecycle): instances get no attrs or value.
     * Resource blocks keep only their outline (type, labels, locations;
     * bodies are released as soon as they are checked) unless for_each
     * needs the body, so memory stays near the size of the outline. */
    bool check_only;
    /* Only the instances a reference reads get their unknowns tagged with
     * their origin (cfg_instance.tagged): for validate, which never fills
     * them in from a state (plan and apply do, through every instance's
     * value). And only the instances of resources another resource reads
     * get their value as they are evaluated (with resolver.instance_id):
     * the others get their id, and their value when something reads it
     * (config_instance_value). */
    bool lazy_tags;
    /* Attributes that declare child resources (see cfg_implicit), ended
     * by an entry whose kind is NULL; NULL: none. */
    const struct cfg_implicit *implicit;
};

struct config {
    struct arena arena; /* AST, names, addresses */
    struct src_file **srcs;
    size_t nsrcs;
    struct ast_file *files;
    json_t *settings; /* evaluated settings block (owned); {} when absent */
    const struct ast_block *settings_block;
    struct cfg_variable *vars;
    size_t nvars;
    struct cfg_resource *resources; /* in source order (file name order, then position) */
    size_t nresources;
    struct cfg_output *outputs; /* in source order */
    size_t noutputs;
    struct cfg_import *imports;
    size_t nimports;
    struct cfg_moved *moves;
    size_t nmoves;
    struct cfg_module **modules; /* module instances, callers first */
    size_t nmodules;
    struct cfg_call *calls; /* module blocks, callers first */
    size_t ncalls;
    struct cfg_check *checks; /* validations checked at apply, in the order found */
    size_t nchecks;
    struct cfg_local *locals; /* in source order */
    size_t nlocals;
    uint32_t *local_slots; /* open addressing: local index + 1; 0 = empty */
    size_t local_mask;
    char *const *environ;
    /* Hash index over resources by (existing, kind, name) and by kind, so
     * that lookups are O(1) (private to config.c). */
    struct cfg_index *index;
    /* the load's: config_instance_value makes a value left for later */
    struct cfg_resolver resolver;
};

int config_load(struct config **out, const struct config_opts *opts, struct diag_list *diags,
                struct errbuf *err);
void config_free(struct config *cfg);

/* Finds a resource by kind and name (existing selects `existing` blocks). */
struct cfg_resource *config_find(const struct config *cfg, bool existing, const char *kind,
                                 const char *name);
/* Finds a resource of a module (NULL: the root). */
struct cfg_resource *config_find_in(const struct config *cfg, const struct cfg_module *module,
                                    bool existing, const char *kind, const char *name);
/* Finds the module block NAME called from scope (NULL: the root), or NULL:
 * one look-up in an index. */
const struct cfg_call *config_find_call(const struct config *cfg, const struct cfg_module *scope,
                                        const char *name);
/* The instance of call that key picks (a number for count, a string for
 * for_each), or NULL: one look-up. */
const struct cfg_module *config_call_instance(const struct config *cfg, const struct cfg_call *call,
                                              const json_t *key);
/* Entries the module look-ups above and config_find_instance visited, and
 * the references compared making each resource's deps (tests count it). */
size_t config_lookup_work(const struct config *cfg);
/* Finds a root module's local by name, or NULL. */
struct cfg_local *config_find_local(const struct config *cfg, const char *name);
/* Finds a lazily read value: ns 'l' local, 'v' module input, 'o' module
 * output, of module scope (NULL: root). */
struct cfg_local *config_find_node(const struct config *cfg, const struct cfg_module *scope,
                                   char ns, const char *name);
/* The part of an address after its module path: for
 * module.team["cv"].key_vault.kv, key_vault.kv (the address itself when it
 * has none). */
const char *config_address_tail(const char *address);
/* Whether an address names a module (module.a, module.a["x"],
 * module.a.module.b), not a resource: moved blocks move every resource
 * under it. */
bool config_is_module_address(const char *address);
/* Finds an instance by its address string. */
struct cfg_instance *config_find_instance(const struct config *cfg, const char *address);

/* The source location of an attribute path within an instance's block:
 * "name", "encryption.key", "network_acls.default_action". Falls back to
 * the innermost block found, then to the block's type. Never fails. */
struct src_loc config_attr_loc(const struct cfg_instance *inst, const char *path);
/* The location of an attribute's name (for "unknown attribute" carets). */
struct src_loc config_attr_name_loc(const struct cfg_instance *inst, const char *path);

#endif
